//! Serving models: how one deployment turns arrivals into waits and latencies.
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
//!
//! End-to-end latency = network round trip (cloud) + wait + service. A request is counted when
//! it arrives after the warm-up; all requests are simulated.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use lcsim_core::cost::InstanceBilling;
use lcsim_core::scenario::{Deployment, LocalService, MS_PER_HOUR, Model, Provider, TokenLatency};

use crate::arrivals::Request;
use crate::histogram::LogHistogram;
use crate::random::{Sampler, SimRng};

/// Free times of `c` servers; the earliest is found by a scan for small `c`, a heap otherwise.
#[derive(Debug)]
enum ServerPool {
    Few(Vec<f64>),
    /// Free times as bit patterns: for non-negative floats these order like the floats.
    Many(BinaryHeap<Reverse<u64>>),
}

impl ServerPool {
    fn new(servers: u32) -> Self {
        if servers <= 16 {
            ServerPool::Few(vec![0.0; servers as usize])
        } else {
            ServerPool::Many((0..servers).map(|_| Reverse(0f64.to_bits())).collect())
        }
    }

    #[inline]
    fn earliest(&self) -> f64 {
        match self {
            ServerPool::Few(free) => free.iter().copied().fold(f64::INFINITY, f64::min),
            ServerPool::Many(heap) => heap.peek().map_or(f64::INFINITY, |r| f64::from_bits(r.0)),
        }
    }

    /// Serves a job arriving at `t` for `service` on the earliest-free server: returns its
    /// start time, `max(t, earliest free time)`, and marks that server busy until it ends.
    #[inline]
    fn serve(&mut self, t: f64, service: impl FnOnce(f64) -> f64) -> f64 {
        match self {
            ServerPool::Few(free) => {
                let mut best = 0;
                for i in 1..free.len() {
                    if free[i] < free[best] {
                        best = i;
                    }
                }
                let start = free[best].max(t);
                free[best] = start + service(start);
                start
            }
            ServerPool::Many(heap) => {
                let mut top = heap.peek_mut().expect("at least one server");
                let start = f64::from_bits(top.0).max(t);
                *top = Reverse((start + service(start)).to_bits());
                start
            }
        }
    }
}

/// Statistics of one deployment in one replication.
#[derive(Debug, Clone)]
pub struct Recorder {
    warmup_ms: f64,
    end_ms: f64,
    pub latency: LogHistogram,
    pub wait: LogHistogram,
    pub arrived: u64,
    pub served: u64,
    pub dropped: u64,
    /// Served requests that waited at all (wait > 0).
    pub waited: u64,
    pub sum_latency_ms: f64,
    pub sum_wait_ms: f64,
    /// Server-time spent serving inside the measurement window (once per batch).
    pub busy_ms: f64,
    /// Request-time spent in service inside the measurement window (for mean concurrency).
    pub in_service_ms: f64,
    pub batches: u64,
    /// Server-time busy in each hour of the window after the warm-up (empty: not tracked).
    pub busy_by_hour_ms: Vec<f64>,
    /// Per-request billing `(increment, minimum)` in ms, for serverless instance costs.
    billing_ms: Option<(f64, f64)>,
    /// Billed instance time of the counted requests.
    pub billed_ms: f64,
}

impl Recorder {
    pub fn new(warmup_ms: f64, end_ms: f64) -> Self {
        Recorder {
            warmup_ms,
            end_ms,
            latency: LogHistogram::new(),
            wait: LogHistogram::new(),
            arrived: 0,
            served: 0,
            dropped: 0,
            waited: 0,
            sum_latency_ms: 0.0,
            sum_wait_ms: 0.0,
            busy_ms: 0.0,
            in_service_ms: 0.0,
            batches: 0,
            busy_by_hour_ms: Vec::new(),
            billing_ms: None,
            billed_ms: 0.0,
        }
    }

    /// Also records busy time hour by hour (for a month's peak utilization).
    pub fn track_hours(mut self) -> Self {
        let hours = ((self.end_ms - self.warmup_ms) / MS_PER_HOUR).ceil().max(1.0) as usize;
        self.busy_by_hour_ms = vec![0.0; hours];
        self
    }

    /// Also bills each counted request's service time, rounded up to `increment_ms`, at least
    /// `min_ms`.
    pub fn bill_requests(mut self, increment_ms: f64, min_ms: f64) -> Self {
        self.billing_ms = Some((increment_ms, min_ms));
        self
    }

    #[inline]
    fn bill(&mut self, service_ms: f64) {
        if let Some((increment, min)) = self.billing_ms {
            self.billed_ms += InstanceBilling::billed_seconds(increment, min, service_ms);
        }
    }

    /// Adds another window's figures (a later month of the same replication).
    pub fn absorb(&mut self, o: &Recorder) {
        self.latency.merge(&o.latency);
        self.wait.merge(&o.wait);
        self.arrived += o.arrived;
        self.served += o.served;
        self.dropped += o.dropped;
        self.waited += o.waited;
        self.sum_latency_ms += o.sum_latency_ms;
        self.sum_wait_ms += o.sum_wait_ms;
        self.busy_ms += o.busy_ms;
        self.in_service_ms += o.in_service_ms;
        self.batches += o.batches;
        self.billed_ms += o.billed_ms;
    }

    #[inline]
    fn counts(&self, t_ms: f64) -> bool {
        t_ms >= self.warmup_ms
    }

    /// Adds the part of a service interval of `size` requests that falls inside the window, so
    /// utilization is an exact time average even when the queue carries over its edges.
    #[inline]
    fn busy(&mut self, start_ms: f64, service_ms: f64, size: usize) {
        let overlap =
            ((start_ms + service_ms).min(self.end_ms) - start_ms.max(self.warmup_ms)).max(0.0);
        self.busy_ms += overlap;
        self.in_service_ms += overlap * size as f64;
        if overlap > 0.0 && !self.busy_by_hour_ms.is_empty() {
            let mut from = start_ms.max(self.warmup_ms) - self.warmup_ms;
            let to = (start_ms + service_ms).min(self.end_ms) - self.warmup_ms;
            while from < to {
                let hour = ((from / MS_PER_HOUR) as usize).min(self.busy_by_hour_ms.len() - 1);
                let hour_end = ((hour + 1) as f64 * MS_PER_HOUR).min(to).max(from);
                self.busy_by_hour_ms[hour] += hour_end - from;
                if hour_end <= from {
                    break;
                }
                from = hour_end;
            }
        }
    }

    #[inline]
    fn served(&mut self, wait_ms: f64, latency_ms: f64) {
        self.arrived += 1;
        self.served += 1;
        self.waited += u64::from(wait_ms > 0.0);
        self.sum_wait_ms += wait_ms;
        self.sum_latency_ms += latency_ms;
        self.wait.record(wait_ms);
        self.latency.record(latency_ms);
    }

    #[inline]
    fn dropped(&mut self) {
        self.arrived += 1;
        self.dropped += 1;
    }
}

#[derive(Debug)]
enum RequestService {
    Dist(Sampler),
    Streaming { ttft: Sampler, ms_per_output_token: f64 },
}

impl RequestService {
    #[inline]
    fn sample(&self, rng: &mut SimRng, req: &Request) -> f64 {
        match self {
            RequestService::Dist(s) => s.sample(rng),
            RequestService::Streaming { ttft, ms_per_output_token } => {
                ttft.sample(rng) + ms_per_output_token * f64::from(req.output_tokens)
            }
        }
    }
}

#[derive(Debug)]
enum BatchService {
    Dist(Sampler),
    Tokens(TokenLatency),
}

#[derive(Debug)]
struct Fifo {
    pool: ServerPool,
    capacity: Option<usize>,
    waiting_starts: VecDeque<f64>,
    service: RequestService,
}

#[derive(Debug)]
struct Batcher {
    pool: ServerPool,
    capacity: Option<usize>,
    max_batch: usize,
    timeout_ms: f64,
    queue: VecDeque<Request>,
    service: BatchService,
}

#[derive(Debug)]
enum Station {
    Fifo(Fifo),
    Batcher(Batcher),
    Unlimited(RequestService),
}

/// One deployment being simulated in one replication.
#[derive(Debug)]
pub struct DeploymentSim {
    station: Station,
    network_rtt: Option<Sampler>,
    rng: SimRng,
    pub recorder: Recorder,
}

fn request_service(provider: &Provider) -> RequestService {
    match provider {
        Provider::Dist(d) => RequestService::Dist(Sampler::new(d)),
        Provider::Streaming { ttft_ms, output_tokens_per_s } => RequestService::Streaming {
            ttft: Sampler::new(ttft_ms),
            ms_per_output_token: 1000.0 / output_tokens_per_s,
        },
    }
}

impl DeploymentSim {
    pub fn new(deployment: &Deployment, recorder: Recorder, rng: SimRng) -> Self {
        let (station, network_rtt) = match &deployment.model {
            Model::Local(local) => {
                let capacity = local.queue_capacity.map(|c| c as usize);
                let station = if local.max_batch == 1 {
                    let service = match &local.service {
                        LocalService::Dist(d) => RequestService::Dist(Sampler::new(d)),
                        LocalService::Tokens(tl) => {
                            return Self::batcher(
                                local.servers,
                                capacity,
                                1,
                                0.0,
                                BatchService::Tokens(*tl),
                                recorder,
                                rng,
                            );
                        }
                    };
                    Station::Fifo(Fifo {
                        pool: ServerPool::new(local.servers),
                        capacity,
                        waiting_starts: VecDeque::new(),
                        service,
                    })
                } else {
                    let service = match &local.service {
                        LocalService::Dist(d) => BatchService::Dist(Sampler::new(d)),
                        LocalService::Tokens(tl) => BatchService::Tokens(*tl),
                    };
                    return Self::batcher(
                        local.servers,
                        capacity,
                        local.max_batch as usize,
                        local.batch_timeout_ms,
                        service,
                        recorder,
                        rng,
                    );
                };
                (station, None)
            }
            Model::Cloud(cloud) => {
                let service = request_service(&cloud.provider);
                let station = match cloud.max_concurrency {
                    Some(c) => Station::Fifo(Fifo {
                        pool: ServerPool::new(c),
                        capacity: cloud.queue_capacity.map(|c| c as usize),
                        waiting_starts: VecDeque::new(),
                        service,
                    }),
                    None => Station::Unlimited(service),
                };
                (station, cloud.network_rtt_ms.as_ref().map(Sampler::new))
            }
        };
        DeploymentSim { station, network_rtt, rng, recorder }
    }

    fn batcher(
        servers: u32,
        capacity: Option<usize>,
        max_batch: usize,
        timeout_ms: f64,
        service: BatchService,
        recorder: Recorder,
        rng: SimRng,
    ) -> Self {
        DeploymentSim {
            station: Station::Batcher(Batcher {
                pool: ServerPool::new(servers),
                capacity,
                max_batch,
                timeout_ms,
                queue: VecDeque::new(),
                service,
            }),
            network_rtt: None,
            rng,
            recorder,
        }
    }

    /// Feeds a chunk of arrivals, in time order.
    pub fn process(&mut self, requests: &[Request]) {
        let rng = &mut self.rng;
        let rec = &mut self.recorder;
        match &mut self.station {
            Station::Fifo(fifo) => {
                for req in requests {
                    let t = req.t_ms;
                    if let Some(cap) = fifo.capacity {
                        while fifo.waiting_starts.front().is_some_and(|&s| s <= t) {
                            fifo.waiting_starts.pop_front();
                        }
                        // Only a request that must wait needs a place in the waiting room.
                        if fifo.waiting_starts.len() >= cap && fifo.pool.earliest() > t {
                            if rec.counts(t) {
                                rec.dropped();
                            }
                            continue;
                        }
                    }
                    let mut service = 0.0;
                    let start = fifo.pool.serve(t, |_| {
                        service = fifo.service.sample(rng, req);
                        service
                    });
                    if fifo.capacity.is_some() && start > t {
                        fifo.waiting_starts.push_back(start);
                    }
                    rec.busy(start, service, 1);
                    if rec.counts(t) {
                        let rtt = self.network_rtt.as_ref().map_or(0.0, |s| s.sample(rng));
                        let wait = start - t;
                        rec.batches += 1;
                        rec.served(wait, rtt + wait + service);
                        rec.bill(service);
                    }
                }
            }
            Station::Unlimited(service) => {
                for req in requests {
                    let s = service.sample(rng, req);
                    rec.busy(req.t_ms, s, 1);
                    if rec.counts(req.t_ms) {
                        let rtt = self.network_rtt.as_ref().map_or(0.0, |n| n.sample(rng));
                        rec.batches += 1;
                        rec.served(0.0, rtt + s);
                        rec.bill(s);
                    }
                }
            }
            Station::Batcher(b) => {
                for req in requests {
                    b.dispatch_ready(req.t_ms, rng, rec);
                    if b.capacity.is_some_and(|cap| b.queue.len() >= cap) {
                        if rec.counts(req.t_ms) {
                            rec.dropped();
                        }
                        continue;
                    }
                    b.queue.push_back(*req);
                }
            }
        }
    }

    /// Serves what is still queued after the last arrival.
    pub fn finish(&mut self) {
        if let Station::Batcher(b) = &mut self.station {
            b.dispatch_ready(f64::INFINITY, &mut self.rng, &mut self.recorder);
        }
    }
}

impl Batcher {
    /// Dispatches every batch whose start is decided by time `now` (the next arrival).
    fn dispatch_ready(&mut self, now: f64, rng: &mut SimRng, rec: &mut Recorder) {
        while let Some(first) = self.queue.front() {
            let free = self.pool.earliest();
            let full = self.queue.len() >= self.max_batch;
            let close = if full {
                self.queue[self.max_batch - 1].t_ms
            } else {
                first.t_ms + self.timeout_ms
            };
            let start = free.max(close);
            // Until it starts, a batch that is not full can still grow, and its requests
            // still take up waiting room.
            if start >= now {
                return;
            }
            let size = self.queue.len().min(self.max_batch);
            let service = match &self.service {
                BatchService::Dist(s) => s.sample(rng),
                BatchService::Tokens(tl) => {
                    let batch = self.queue.range(..size);
                    let (prompt_sum, max_output) = batch.fold((0u64, 0u32), |(p, o), r| {
                        (p + u64::from(r.prompt_tokens), o.max(r.output_tokens))
                    });
                    tl.batch_ms(size as u32, prompt_sum, max_output)
                }
            };
            self.pool.serve(start, |_| service);
            rec.busy(start, service, size);
            if rec.counts(start) {
                rec.batches += 1;
            }
            for req in self.queue.drain(..size) {
                if rec.counts(req.t_ms) {
                    let wait = start - req.t_ms;
                    rec.served(wait, wait + service);
                }
            }
        }
    }
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
                Request { t_ms: t, prompt_tokens: 0, output_tokens: 0 }
            })
            .collect()
    }

    /// The batcher with batches of one and no timeout is the FIFO recursion: same draws, same
    /// waits, same drops.
    #[test]
    fn batches_of_one_equal_fifo() {
        for (servers, capacity) in [(1, None), (3, Some(2)), (20, Some(5))] {
            let reqs = requests(20_000, 10.0, servers as u64);
            let service = Dist::Exponential { mean: 9.0 * servers as f64 };
            let mut fifo = DeploymentSim {
                station: Station::Fifo(Fifo {
                    pool: ServerPool::new(servers),
                    capacity,
                    waiting_starts: VecDeque::new(),
                    service: RequestService::Dist(Sampler::new(&service)),
                }),
                network_rtt: None,
                rng: stream(5, 0, 1),
                recorder: Recorder::new(0.0, f64::INFINITY),
            };
            let mut batch = DeploymentSim::batcher(
                servers,
                capacity,
                1,
                0.0,
                BatchService::Dist(Sampler::new(&service)),
                Recorder::new(0.0, f64::INFINITY),
                stream(5, 0, 1),
            );
            for chunk in reqs.chunks(777) {
                fifo.process(chunk);
                batch.process(chunk);
            }
            fifo.finish();
            batch.finish();
            let (a, b) = (&fifo.recorder, &batch.recorder);
            assert_eq!((a.served, a.dropped, a.waited), (b.served, b.dropped, b.waited));
            assert!((a.sum_wait_ms - b.sum_wait_ms).abs() <= 1e-9 * a.sum_wait_ms);
            assert_eq!(a.latency, b.latency);
            assert!(a.dropped > 0 || capacity.is_none());
        }
    }
}
