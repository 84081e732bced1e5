//! First-come-first-served servers: the Kiefer–Wolfowitz recursion, one request at a time.

use std::collections::VecDeque;

use crate::arrivals::Request;
use crate::random::{Sampler, SimRng, exp1};
use crate::recorder::ErrorKind;
use crate::recorder::{Recorder, Timing};
use crate::station::pool::{ServerPool, earliest};
use crate::station::service::{RequestService, Service};

#[derive(Debug)]
pub(crate) struct Fifo {
    pub(crate) pool: ServerPool,
    pub(crate) capacity: Option<usize>,
    /// Start times of requests still waiting (kept with a waiting room or inside a hybrid).
    pub(crate) waiting_starts: VecDeque<f64>,
    pub(crate) track_waiting: bool,
    pub(crate) service: RequestService,
}

impl Fifo {
    /// One request arriving at `req.t_ms`, sent at `sent_ms` (the deployment is up).
    #[inline(always)]
    pub(crate) fn serve(
        &mut self,
        req: Request,
        sent_ms: f64,
        rng: &mut SimRng,
        rec: &mut Recorder,
        network_rtt: Option<&Sampler>,
        mask: u64,
    ) {
        let t = req.t_ms;
        let keep_waiting = self.capacity.is_some() || self.track_waiting;
        if keep_waiting {
            while self.waiting_starts.front().is_some_and(|&s| s <= t) {
                self.waiting_starts.pop_front();
            }
        }
        if let Some(cap) = self.capacity {
            // Only a request that must wait needs a place in the waiting room.
            if self.waiting_starts.len() >= cap && self.pool.next_start(t).1 > t {
                rec.fail(&req, sent_ms, ErrorKind::QueueFull, t);
                return;
            }
        }
        let (server, start) = self.pool.next_start(t);
        if start - sent_ms > rec.timeout_ms {
            // The client gives up before a server takes the request.
            rec.fail(&req, sent_ms, ErrorKind::TimedOut, sent_ms + rec.timeout_ms);
            return;
        }
        let s = self.service.sample(rng, &req).scaled(self.pool.slowdown(server, start));
        let service = s.total_ms;
        self.pool.occupy(server, start + service);
        if keep_waiting && start > t {
            self.waiting_starts.push_back(start);
        }
        rec.busy(start, service, 1);
        let rtt = network_rtt.map_or(0.0, |s| s.sample(rng));
        if rec.is_counted(sent_ms) {
            rec.batches += 1;
            rec.bill(service);
        }
        rec.done(&req, sent_ms, s.timing(start - sent_ms, rtt), mask);
    }
}

/// Free times of servers that are never down or slowed, for the plain loop: the server that
/// can start a job arriving at `t` first and when, and marking it busy.
trait FreeTimes {
    fn next_start(&self, t: f64) -> (usize, f64);
    fn occupy(&mut self, i: usize, until: f64);
}

/// A few servers, scanned (the first of equal free times wins, as in [`ServerPool`]): a slice,
/// or an array of 1, 2, 4 or 8 whose known length lets the compiler unroll the scan.
struct Scan<T>(T);

impl<T: AsRef<[f64]> + AsMut<[f64]>> FreeTimes for Scan<T> {
    #[inline(always)]
    fn next_start(&self, t: f64) -> (usize, f64) {
        let free = self.0.as_ref();
        let i = earliest(free);
        (i, if free[i] > t { free[i] } else { t })
    }

    #[inline(always)]
    fn occupy(&mut self, i: usize, until: f64) {
        self.0.as_mut()[i] = until;
    }
}

/// Any pool without outages ([`ServerPool::Many`]: a heap of free times).
struct Pooled<'a>(&'a mut ServerPool);

impl FreeTimes for Pooled<'_> {
    #[inline(always)]
    fn next_start(&self, t: f64) -> (usize, f64) {
        self.0.next_start(t)
    }

    #[inline(always)]
    fn occupy(&mut self, i: usize, until: f64) {
        self.0.occupy(i, until)
    }
}

impl Fifo {
    /// Whether [`Fifo::serve_plain`] applies: no waiting room, no waiting requests to keep,
    /// servers never down or slowed.
    pub(crate) fn is_plain(&self) -> bool {
        self.capacity.is_none()
            && !self.track_waiting
            && !matches!(self.pool, ServerPool::Failing { .. })
    }

    /// [`Fifo::serve`] for a chunk of requests that arrive as sent, with no network leg, when
    /// [`Fifo::is_plain`]: the pool and the service distribution are matched once per chunk,
    /// and the loop is compiled for each pair. Same draws, same figures.
    pub(crate) fn serve_plain(
        &mut self,
        requests: &[Request],
        rng: &mut SimRng,
        rec: &mut Recorder,
    ) {
        debug_assert!(self.is_plain());
        let service = &self.service;
        let exponential = match service {
            RequestService::Dist(Sampler::Exponential { mean }) if rec.is_whole() => Some(*mean),
            _ => None,
        };
        match (&mut self.pool, exponential) {
            (ServerPool::Few(free), Some(mean)) => {
                let draw = |rng: &mut SimRng, _: &Request| Service::whole(mean * exp1(rng));
                match free.len() {
                    1 => plain_loop::<true>(fixed::<1>(free), requests, rng, rec, draw),
                    2 => plain_loop::<true>(fixed::<2>(free), requests, rng, rec, draw),
                    4 => plain_loop::<true>(fixed::<4>(free), requests, rng, rec, draw),
                    8 => plain_loop::<true>(fixed::<8>(free), requests, rng, rec, draw),
                    _ => plain_loop::<true>(Scan(free.as_mut_slice()), requests, rng, rec, draw),
                }
            }
            (pool, Some(mean)) => {
                let pool = Pooled(pool);
                let draw = |rng: &mut SimRng, _: &Request| Service::whole(mean * exp1(rng));
                plain_loop::<true>(pool, requests, rng, rec, draw);
            }
            (pool, None) => {
                plain_loop::<false>(Pooled(pool), requests, rng, rec, |rng, req| {
                    service.sample(rng, req)
                });
            }
        }
    }
}

/// The free times of exactly `C` servers.
fn fixed<const C: usize>(free: &mut [f64]) -> Scan<&mut [f64; C]> {
    Scan(free.try_into().expect("C servers"))
}

/// The body of [`Fifo::serve`] with its waiting room, outages and network leg taken out.
/// `WHOLE`: the answers are never streamed and nothing reports outcomes, so the recorder takes
/// [`Recorder::done_whole`].
#[inline(always)]
fn plain_loop<const WHOLE: bool>(
    mut pool: impl FreeTimes,
    requests: &[Request],
    rng: &mut SimRng,
    rec: &mut Recorder,
    mut sample: impl FnMut(&mut SimRng, &Request) -> Service,
) {
    // A copy of the generator's state, so it stays in registers through the loop.
    let mut local = rng.clone();
    let mask = rec.mask;
    for req in requests {
        let t = req.t_ms;
        let (server, start) = pool.next_start(t);
        if start - t > rec.timeout_ms {
            rec.fail(req, t, ErrorKind::TimedOut, t + rec.timeout_ms);
            continue;
        }
        let s = sample(&mut local, req);
        let service = s.total_ms;
        pool.occupy(server, start + service);
        rec.busy(start, service, 1);
        if rec.is_counted(t) {
            rec.batches += 1;
            rec.bill(service);
        }
        if WHOLE {
            // With no network leg the client's latency is the wait plus the service (as
            // `Service::timing` gives with a round trip of 0: a wait is never −0).
            let wait_ms = start - t;
            rec.done_whole(req, Timing::whole(wait_ms, wait_ms + service));
        } else {
            rec.done(req, t, s.timing(start - t, 0.0), mask);
        }
    }
    *rng = local;
}
