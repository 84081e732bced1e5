//! Serving models: how one deployment turns arrivals into waits, latencies and errors.
//!
//! * **FIFO servers** (`local` with `max_batch = 1`, `cloud` with `max_concurrency`): `c`
//!   identical servers and one first-come-first-served queue. Arrivals are handled in time
//!   order with the Kiefer–Wolfowitz recursion: a request starts at
//!   `max(arrival, earliest server-free time)` on that server. FIFO start times never decrease,
//!   so a finite waiting room is a deque of the start times of requests still waiting.
//! * **Batching servers** (`local` with `max_batch > 1`): the dynamic batcher of Triton/TF
//!   Serving. The next batch is the first `max_batch` waiting requests; it closes when full or
//!   when its oldest request has waited `batch_timeout_ms`, and starts when it is closed and a
//!   server is free, taking every waiting request up to `max_batch` at that moment.
//! * **Unlimited** (`cloud` without `max_concurrency`): M/G/∞, no waiting.
//! * **Autoscaled** (`cloud` with `[autoscale]`): instances of `concurrency` slots each. On
//!   each arrival the autoscaler first stops instances idle for `scale_down_after_idle` (never
//!   below `min_instances`), then starts as many as its target asks for (up to
//!   `max_instances`); a new instance serves after the scale-up delay and its cold start. The
//!   request takes the slot that can start it first, which may be on a starting instance.
//!
//! End-to-end latency = network round trip (cloud) + wait + service, measured from when the
//! client sent the request. A request is counted when it was sent after the warm-up; all
//! requests are simulated.
//!
//! **Errors.** A request fails when the deployment is down as it arrives (`unavailable`:
//! every device down, or the cloud endpoint in an outage or failover), when the waiting room
//! is full (`queue_full`), when it would start later than `timeout_ms` after it was sent (it is
//! abandoned before it takes a server) or finishes later than that (`timed_out`), or when a
//! rate limit turned it away more than `max_retries` times (`rate_limited`). Availability is
//! the share of requests served within the timeout.
//!
//! **Failures.** A device that is down starts no work; work in progress when it fails is
//! finished (the error is at most one service time per failure, against MTBFs of hours).
//! Queued requests wait for a device to come back, or time out.

mod autoscaler;
mod batcher;
pub mod continuous;
mod fifo;
mod limiter;
mod pool;
mod service;

use std::collections::VecDeque;

use lcsim_core::scenario::{Deployment, LocalService, Model};

use crate::arrivals::Request;
use crate::continuous::ContinuousServers;
use crate::continuous::ContinuousStation;
use crate::outages::{Intervals, contains};
use crate::random::{Sampler, SimRng};
use crate::recorder::ErrorKind;
use crate::recorder::Recorder;
use crate::station::autoscaler::Autoscaler;
use crate::station::autoscaler::pop_until;
use crate::station::batcher::Batcher;
use crate::station::fifo::Fifo;
use crate::station::limiter::Limiter;
use crate::station::limiter::Retry;
use crate::station::pool::ServerPool;
use crate::station::service::BatchService;
use crate::station::service::RequestService;
use crate::station::service::request_service;

#[derive(Debug)]
enum Station {
    Fifo(Fifo),
    Batcher(Batcher),
    Continuous(ContinuousStation),
    Unlimited(RequestService),
    Autoscaled(Autoscaler),
}

/// Failure intervals of one deployment in a window's clock.
#[derive(Debug, Clone, Default)]
pub struct WindowOutages {
    /// Local: each device's down intervals.
    pub devices: Vec<Intervals>,
    /// Local: each device's reduced-speed intervals (training) and that speed.
    pub slow: Vec<Intervals>,
    pub speed: f64,
    /// Local: each device's training intervals when training stops inference (`speed` 0;
    /// they are in `devices` too). A continuous server finishes its running sequences first.
    pub training: Vec<Intervals>,
    /// When the deployment refuses requests.
    pub down: Intervals,
}

/// One deployment being simulated in one replication.
#[derive(Debug)]
pub struct DeploymentSim {
    /// The deployment's index in the scenario.
    pub index: usize,
    station: Station,
    network_rtt: Option<Sampler>,
    down: Intervals,
    limiter: Option<Limiter>,
    rng: SimRng,
    pub recorder: Recorder,
}

impl DeploymentSim {
    /// A local or cloud deployment (not a hybrid: see [`crate::hybrid`]).
    pub fn new(
        index: usize,
        deployment: &Deployment,
        recorder: Recorder,
        rng: SimRng,
        outages: WindowOutages,
    ) -> Self {
        let track_waiting = recorder.sink.is_some();
        let WindowOutages { devices, slow, speed, training, down } = outages;
        let (station, network_rtt, limiter) = match &deployment.model {
            Model::Local(local) => {
                let capacity = local.queue_capacity.map(|c| c as usize);
                let station = match (&local.service, local.max_batch) {
                    (LocalService::Continuous(c), _) => Station::Continuous(ContinuousStation {
                        servers: ContinuousServers::new(c.clone(), local.servers, devices)
                            .training(slow, speed)
                            .draining(training),
                        slots: c.max_num_seqs as usize,
                        capacity,
                        preemptions_recorded: 0,
                    }),
                    (service, max_batch) => {
                        let outages = (!devices.is_empty() || !slow.is_empty())
                            .then_some((devices, slow, speed));
                        let pool = ServerPool::new(local.servers, outages);
                        match (service, max_batch) {
                            (LocalService::Dist(d), 1) => Station::Fifo(Fifo {
                                pool,
                                capacity,
                                waiting_starts: VecDeque::new(),
                                track_waiting,
                                service: RequestService::Dist(Sampler::new(d)),
                            }),
                            (service, max_batch) => Station::Batcher(Batcher {
                                pool,
                                capacity,
                                max_batch: max_batch as usize,
                                timeout_ms: local.batch_timeout_ms,
                                queue: VecDeque::new(),
                                service: match service {
                                    LocalService::Dist(d) => BatchService::Dist(Sampler::new(d)),
                                    LocalService::Tokens(tl) => BatchService::Tokens(*tl),
                                    LocalService::Continuous(_) => unreachable!("matched above"),
                                },
                            }),
                        }
                    }
                };
                (station, None, None)
            }
            Model::Cloud(cloud) => {
                let service = request_service(&cloud.provider);
                let station = match (&cloud.autoscale, cloud.max_concurrency) {
                    (Some(a), _) => Station::Autoscaled(Autoscaler::new(a.clone(), service)),
                    (None, Some(c)) => Station::Fifo(Fifo {
                        pool: ServerPool::new(c, None),
                        capacity: cloud.queue_capacity.map(|c| c as usize),
                        waiting_starts: VecDeque::new(),
                        track_waiting,
                        service,
                    }),
                    (None, None) => Station::Unlimited(service),
                };
                (
                    station,
                    cloud.network_rtt_ms.as_ref().map(Sampler::new),
                    cloud.rate_limit.map(Limiter::new),
                )
            }
            Model::Hybrid(_) => unreachable!("hybrids are built by crate::hybrid"),
        };
        DeploymentSim { index, station, network_rtt, down, limiter, rng, recorder }
    }

    /// Feeds a chunk of arrivals, in time order.
    pub fn process(&mut self, requests: &[Request]) {
        match &mut self.station {
            // The common case in one tight loop: FIFO servers, no rate limit, never down.
            Station::Fifo(fifo)
                if self.limiter.is_none()
                    && self.down.is_empty()
                    && self.network_rtt.is_none()
                    && fifo.is_plain() =>
            {
                fifo.serve_plain(requests, &mut self.rng, &mut self.recorder);
            }
            Station::Fifo(fifo) if self.limiter.is_none() && self.down.is_empty() => {
                let mask = self.recorder.mask;
                for req in requests {
                    fifo.serve(
                        *req,
                        req.t_ms,
                        &mut self.rng,
                        &mut self.recorder,
                        self.network_rtt.as_ref(),
                        mask,
                    );
                }
            }
            // Unlimited concurrency (M/G/∞) with neither a rate limit nor outages: each request
            // is served as it arrives, as `serve` does, without its per-request dispatch.
            Station::Unlimited(service) if self.limiter.is_none() && self.down.is_empty() => {
                let (rng, rec) = (&mut self.rng, &mut self.recorder);
                let mask = rec.mask;
                for req in requests {
                    unlimited(service, self.network_rtt.as_ref(), *req, req.t_ms, rng, rec, mask);
                }
            }
            // Continuous batching with neither a rate limit nor whole-deployment outages.
            Station::Continuous(c) if self.limiter.is_none() && self.down.is_empty() => {
                for req in requests {
                    c.advance(req.t_ms, &mut self.recorder);
                    c.accept(*req, req.t_ms, &mut self.recorder);
                }
            }
            _ => {
                for req in requests {
                    self.offer(*req);
                }
            }
        }
    }

    /// One arrival; arrivals must come in time order.
    #[inline]
    pub fn offer(&mut self, req: Request) {
        if self.limiter.is_some() {
            self.release_retries(req.t_ms);
            self.attempt(req, req.t_ms, 0);
        } else {
            self.serve(req, req.t_ms);
        }
    }

    /// Settles everything decided by time `t` (retries due, batches that start before `t`).
    pub fn advance(&mut self, t: f64) {
        self.release_retries(t);
        match &mut self.station {
            Station::Batcher(b) => b.dispatch_ready(t, &mut self.rng, &mut self.recorder),
            Station::Continuous(c) => c.advance(t, &mut self.recorder),
            _ => {}
        }
    }

    /// Requests waiting (not yet in service) at `t`.
    pub fn queue_len(&mut self, t: f64) -> usize {
        self.advance(t);
        match &mut self.station {
            Station::Fifo(f) => {
                while f.waiting_starts.front().is_some_and(|&s| s <= t) {
                    f.waiting_starts.pop_front();
                }
                f.waiting_starts.len()
            }
            Station::Batcher(b) => b.queue.len(),
            Station::Continuous(c) => c.servers.waiting(),
            Station::Unlimited(_) => 0,
            Station::Autoscaled(a) => {
                pop_until(&mut a.starts, t);
                a.starts.len()
            }
        }
    }

    /// Whether the deployment refuses requests at `t`.
    pub fn is_down(&self, t: f64) -> bool {
        contains(&self.down, t)
    }

    /// Serves what is still queued after the last arrival.
    pub fn finish(&mut self) {
        self.release_retries(f64::INFINITY);
        match &mut self.station {
            Station::Batcher(b) => {
                b.dispatch_ready(f64::INFINITY, &mut self.rng, &mut self.recorder)
            }
            Station::Autoscaled(a) => a.close(&mut self.recorder),
            Station::Continuous(c) => c.advance(f64::INFINITY, &mut self.recorder),
            _ => {}
        }
    }

    fn release_retries(&mut self, t: f64) {
        while let Some(l) = &mut self.limiter {
            if l.retries.peek().is_none_or(|r| r.at_ms > t) {
                return;
            }
            let r = l.retries.pop().expect("peeked");
            self.attempt(Request { t_ms: r.at_ms, ..r.req }, r.sent_ms, r.attempt);
        }
    }

    /// Sends `req` (first sent at `sent_ms`) through the rate limit.
    fn attempt(&mut self, req: Request, sent_ms: f64, attempt: u32) {
        let Some(l) = &mut self.limiter else { return self.serve(req, sent_ms) };
        if l.admit(req.t_ms, &req) {
            return self.serve(req, sent_ms);
        }
        if attempt < l.limit.max_retries {
            let at_ms = req.t_ms + l.backoff(attempt + 1, &mut self.rng);
            l.seq += 1;
            l.retries.push(Retry { at_ms, sent_ms, seq: l.seq, attempt: attempt + 1, req });
            if self.recorder.is_counted(sent_ms) {
                self.recorder.counts.retries += 1;
            }
        } else {
            self.recorder.fail(&req, sent_ms, ErrorKind::RateLimited, req.t_ms);
        }
    }

    /// Serves `req`, arriving now (`req.t_ms`) and first sent at `sent_ms` (earlier for a
    /// retry); latency counts from `sent_ms`.
    #[inline]
    fn serve(&mut self, req: Request, sent_ms: f64) {
        let rng = &mut self.rng;
        let rec = &mut self.recorder;
        let t = req.t_ms;
        match &mut self.station {
            Station::Batcher(b) => b.dispatch_ready(t, rng, rec),
            Station::Continuous(c) => c.advance(t, rec),
            _ => {}
        }
        if contains(&self.down, t) {
            rec.fail(&req, sent_ms, ErrorKind::Unavailable, t);
            return;
        }
        let mask = rec.mask;
        match &mut self.station {
            Station::Fifo(fifo) => {
                fifo.serve(req, sent_ms, rng, rec, self.network_rtt.as_ref(), mask);
            }
            Station::Unlimited(service) => {
                unlimited(service, self.network_rtt.as_ref(), req, sent_ms, rng, rec, mask);
            }
            Station::Batcher(b) => {
                if b.capacity.is_some_and(|cap| b.queue.len() >= cap) {
                    rec.fail(&req, sent_ms, ErrorKind::QueueFull, t);
                    return;
                }
                b.queue.push_back(req);
            }
            Station::Autoscaled(a) => {
                let rtt = self.network_rtt.as_ref();
                a.handle(req, sent_ms, rng, rec, rtt);
            }
            Station::Continuous(c) => c.accept(req, sent_ms, rec),
        }
    }
}

/// One request arriving now at an unlimited station (M/G/∞, sent at `sent_ms`): served at
/// once, with a network round trip on top.
#[inline(always)]
fn unlimited(
    service: &RequestService,
    network_rtt: Option<&Sampler>,
    req: Request,
    sent_ms: f64,
    rng: &mut SimRng,
    rec: &mut Recorder,
    mask: u64,
) {
    let t = req.t_ms;
    let s = service.sample(rng, &req);
    rec.busy(t, s.total_ms, 1);
    let rtt = network_rtt.map_or(0.0, |n| n.sample(rng));
    if rec.is_counted(sent_ms) {
        rec.batches += 1;
        rec.bill(s.total_ms);
    }
    rec.done(&req, sent_ms, s.timing(t - sent_ms, rtt), mask);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::stream;
    use lcsim_core::Dist;
    use rand::RngExt;

    fn requests(n: usize, mean_gap: f64, seed: u64) -> Vec<Request> {
        let mut rng = stream(seed, 0, 0);
        let mut t = 0.0;
        (0..n)
            .map(|_| {
                t += mean_gap * -(1.0 - rng.random::<f64>()).ln();
                Request::new(t, 0, 0)
            })
            .collect()
    }

    /// Every figure a recorder holds, floats as bit patterns: equal means identical.
    fn figures(r: &Recorder) -> impl PartialEq + std::fmt::Debug {
        let bits = |x: f64| x.to_bits();
        (
            (r.counts, r.waited, r.within_slo, r.batches, r.latency.clone(), r.wait.clone()),
            (r.prompt_tokens, r.output_tokens, [r.sum_wait_ms, r.sum_latency_ms].map(bits)),
            [r.busy_ms, r.in_service_ms, r.billed_ms, r.sum_ttft_ms, r.sum_tpot_ms].map(bits),
            (r.ttft.clone(), r.tpot.clone(), r.tpot_served),
        )
    }

    /// The plain FIFO loop (one server, a scan of a few, a heap of many; exponential or other
    /// service; whole or streamed answers) records exactly what the general one does with the
    /// same draws: including timeouts, the warm-up and an SLO, all of which it still handles.
    #[test]
    fn plain_fifo_loop_is_the_general_one_bit_for_bit() {
        let exponential = Dist::Exponential { mean: 9.0 };
        let lognormal = Dist::LogNormal { mu: 2.0, sigma: 0.8 };
        for (servers, dist, whole) in [
            (1, &exponential, true),
            (1, &exponential, false),
            (1, &lognormal, true),
            (2, &exponential, true),
            (3, &exponential, true),
            (4, &exponential, true),
            (8, &exponential, true),
            (4, &lognormal, false),
            (20, &exponential, true),
        ] {
            let reqs = requests(20_000, 10.0 / f64::from(servers), u64::from(servers));
            let slo =
                lcsim_core::reliability::Slo { latency_p95_ms: Some(30.0), ..Default::default() };
            let sim = || DeploymentSim {
                index: 0,
                station: Station::Fifo(Fifo {
                    pool: ServerPool::new(servers, None),
                    capacity: None,
                    waiting_starts: VecDeque::new(),
                    track_waiting: false,
                    service: RequestService::Dist(Sampler::new(dist)),
                }),
                network_rtt: None,
                down: Vec::new(),
                limiter: None,
                rng: stream(5, 0, 1),
                recorder: Recorder::new(1_000.0, 150_000.0)
                    .limits(Some(60.0), Some(slo))
                    .whole_answers(whole)
                    .bill_requests(100.0, 0.0),
            };
            let (mut plain, mut general) = (sim(), sim());
            for chunk in reqs.chunks(777) {
                plain.process(chunk);
                for req in chunk {
                    general.offer(*req);
                }
            }
            let Station::Fifo(f) = &plain.station else { unreachable!() };
            assert!(f.is_plain());
            assert_eq!(figures(&plain.recorder), figures(&general.recorder));
            let c = plain.recorder.counts;
            assert!(c.timed_out > 0 && c.served > 0 && c.arrived < reqs.len() as u64, "{c:?}");
            assert!(0 < plain.recorder.within_slo && plain.recorder.within_slo < c.served);
        }
    }

    /// An unlimited cloud endpoint (streamed answers, a network leg, a timeout and an SLO)
    /// records the same fed a chunk at a time as one request at a time.
    #[test]
    fn unlimited_chunks_are_requests_one_by_one() {
        let reqs: Vec<Request> = requests(20_000, 10.0, 3)
            .into_iter()
            .enumerate()
            .map(|(i, r)| Request { output_tokens: (i % 50) as u32, ..r })
            .collect();
        let slo = lcsim_core::reliability::Slo { ttft_p95_ms: Some(60.0), ..Default::default() };
        let sim = || DeploymentSim {
            index: 0,
            station: Station::Unlimited(RequestService::Streaming {
                ttft: Sampler::new(&Dist::LogNormal { mu: 3.5, sigma: 0.6 }),
                ms_per_output_token: 10.0,
            }),
            network_rtt: Some(Sampler::new(&Dist::Exponential { mean: 15.0 })),
            down: Vec::new(),
            limiter: None,
            rng: stream(5, 0, 1),
            recorder: Recorder::new(1_000.0, 150_000.0).limits(Some(500.0), Some(slo)),
        };
        let (mut chunked, mut single) = (sim(), sim());
        for chunk in reqs.chunks(777) {
            chunked.process(chunk);
            for req in chunk {
                single.offer(*req);
            }
        }
        assert_eq!(figures(&chunked.recorder), figures(&single.recorder));
        let (c, r) = (chunked.recorder.counts, &chunked.recorder);
        assert!(
            c.timed_out > 0 && r.tpot_served > 0 && 0 < r.within_slo && r.within_slo < c.served
        );
    }

    /// The batcher with batches of one and no timeout is the FIFO recursion: same draws, same
    /// waits, same drops.
    #[test]
    fn batches_of_one_equal_fifo() {
        for (servers, capacity) in [(1, None), (3, Some(2)), (20, Some(5))] {
            let reqs = requests(20_000, 10.0, servers as u64);
            let service = Dist::Exponential { mean: 9.0 * servers as f64 };
            let sim = |station| DeploymentSim {
                index: 0,
                station,
                network_rtt: None,
                down: Vec::new(),
                limiter: None,
                rng: stream(5, 0, 1),
                recorder: Recorder::new(0.0, f64::INFINITY),
            };
            let mut fifo = sim(Station::Fifo(Fifo {
                pool: ServerPool::new(servers, None),
                capacity,
                waiting_starts: VecDeque::new(),
                track_waiting: false,
                service: RequestService::Dist(Sampler::new(&service)),
            }));
            let mut batch = sim(Station::Batcher(Batcher {
                pool: ServerPool::new(servers, None),
                capacity,
                max_batch: 1,
                timeout_ms: 0.0,
                queue: VecDeque::new(),
                service: BatchService::Dist(Sampler::new(&service)),
            }));
            for chunk in reqs.chunks(777) {
                fifo.process(chunk);
                batch.process(chunk);
            }
            fifo.finish();
            batch.finish();
            let (a, b) = (&fifo.recorder, &batch.recorder);
            assert_eq!(
                (a.counts.served, a.counts.dropped, a.waited),
                (b.counts.served, b.counts.dropped, b.waited)
            );
            assert!((a.sum_wait_ms - b.sum_wait_ms).abs() <= 1e-9 * a.sum_wait_ms);
            assert_eq!(a.latency, b.latency);
            assert!(a.counts.dropped > 0 || capacity.is_none());
        }
    }
}
