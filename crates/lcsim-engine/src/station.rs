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

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use lcsim_core::cost::InstanceBilling;
use lcsim_core::reliability::{Autoscale, RateLimit, ScaleTarget, Slo};
use lcsim_core::scenario::{Deployment, LocalService, MS_PER_HOUR, Model, Provider, TokenLatency};
use rand::RngExt;

use crate::arrivals::Request;
use crate::continuous::{ContinuousServers, Event};
use crate::histogram::LogHistogram;
use crate::outages::{Intervals, contains, next_up};
use crate::random::{Sampler, SimRng};

/// Free times of `c` servers; the earliest is found by a scan for small `c`, a heap otherwise.
/// Servers with failures keep their down intervals and are scanned.
#[derive(Debug)]
enum ServerPool {
    Few(Vec<f64>),
    /// Free times as bit patterns: for non-negative floats these order like the floats.
    Many(BinaryHeap<Reverse<u64>>),
    Failing {
        free: Vec<f64>,
        down: Vec<Intervals>,
        /// Intervals in which a device serves at `speed` of its normal rate (training).
        slow: Vec<Intervals>,
        speed: f64,
    },
}

impl ServerPool {
    fn new(servers: u32, outages: Option<(Vec<Intervals>, Vec<Intervals>, f64)>) -> Self {
        match outages {
            Some((mut down, mut slow, speed))
                if down.iter().chain(&slow).any(|d| !d.is_empty()) =>
            {
                down.resize(servers as usize, Vec::new());
                slow.resize(servers as usize, Vec::new());
                ServerPool::Failing { free: vec![0.0; servers as usize], down, slow, speed }
            }
            _ if servers <= 16 => ServerPool::Few(vec![0.0; servers as usize]),
            _ => ServerPool::Many((0..servers).map(|_| Reverse(0f64.to_bits())).collect()),
        }
    }

    /// The server that can start a job arriving at `t` first, and when.
    #[inline(always)]
    fn next_start(&self, t: f64) -> (usize, f64) {
        match self {
            ServerPool::Few(free) => {
                let mut best = 0;
                for i in 1..free.len() {
                    if free[i] < free[best] {
                        best = i;
                    }
                }
                (best, free[best].max(t))
            }
            ServerPool::Many(heap) => {
                (0, heap.peek().map_or(f64::INFINITY, |r| f64::from_bits(r.0)).max(t))
            }
            ServerPool::Failing { free, down, .. } => Self::next_start_failing(free, down, t),
        }
    }

    /// How much longer a job takes on server `i` starting at `start` (1 unless it is
    /// training at reduced speed).
    #[inline(always)]
    fn slowdown(&self, i: usize, start: f64) -> f64 {
        match self {
            ServerPool::Failing { slow, speed, .. } if contains(&slow[i], start) => 1.0 / speed,
            _ => 1.0,
        }
    }

    #[inline(never)]
    fn next_start_failing(free: &[f64], down: &[Intervals], t: f64) -> (usize, f64) {
        let mut best = (0, f64::INFINITY);
        for (i, (f, d)) in free.iter().zip(down).enumerate() {
            let s = next_up(d, f.max(t));
            if s < best.1 {
                best = (i, s);
            }
        }
        best
    }

    /// Marks server `i` (from the last [`ServerPool::next_start`]) busy until `until`.
    #[inline]
    fn occupy(&mut self, i: usize, until: f64) {
        match self {
            ServerPool::Few(free) | ServerPool::Failing { free, .. } => free[i] = until,
            ServerPool::Many(heap) => {
                *heap.peek_mut().expect("at least one server") = Reverse(until.to_bits());
            }
        }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    QueueFull,
    Unavailable,
    TimedOut,
    RateLimited,
    /// Prompt plus output can never fit in the KV cache (continuous batching).
    TooLarge,
}

/// When a served request's answer came, measured from when it was sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Until a server took it (for batching: until its batch or first iteration started).
    pub wait_ms: f64,
    /// Until its last token (end to end).
    pub latency_ms: f64,
    /// Until its first token; the whole latency for an answer that is not streamed.
    pub ttft_ms: f64,
    /// Mean gap between its later tokens; `None` for an answer of one token or not streamed.
    pub tpot_ms: Option<f64>,
}

impl Timing {
    /// An answer that arrives whole: its first token is its last.
    pub fn whole(wait_ms: f64, latency_ms: f64) -> Self {
        Timing { wait_ms, latency_ms, ttft_ms: latency_ms, tpot_ms: None }
    }
}

/// What became of a request, for the hybrid deployment that sent it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub req: Request,
    /// When the client has its answer (or its error).
    pub end_ms: f64,
    /// Served: when its first token came, and the mean gap between later ones.
    pub first_ms: f64,
    pub tpot_ms: Option<f64>,
    /// Served: a bit mask of the deployments (by index) that did the work.
    pub result: Result<u64, ErrorKind>,
}

/// The histograms of one deployment, merged across replications (integer counts: exact).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Histograms {
    pub latency: LogHistogram,
    /// Absent in a month's figures (only the whole run reports waits).
    wait: Option<LogHistogram>,
    /// Absent where answers are never streamed: TTFT is then the latency.
    ttft: Option<LogHistogram>,
    /// Absent until a streamed answer of two tokens or more is served.
    tpot: Option<LogHistogram>,
}

impl Histograms {
    /// A whole window's (or run's) histograms.
    pub fn of(r: &Recorder) -> Self {
        Histograms { wait: Some(r.wait.clone()), ..Histograms::month_of(r) }
    }

    /// The histograms a month's row needs: latency, TTFT and TPOT, each copied only if it
    /// holds something of its own.
    pub fn month_of(r: &Recorder) -> Self {
        Histograms {
            latency: r.latency.clone(),
            wait: None,
            ttft: (!r.whole_answers).then(|| r.ttft.clone()),
            tpot: (r.tpot.count() > 0).then(|| r.tpot.clone()),
        }
    }

    pub fn wait(&self) -> &LogHistogram {
        self.wait.as_ref().expect("a whole run's histograms hold waits")
    }

    pub fn ttft(&self) -> &LogHistogram {
        self.ttft.as_ref().unwrap_or(&self.latency)
    }

    pub fn tpot(&self) -> Option<&LogHistogram> {
        self.tpot.as_ref()
    }

    pub fn merge(&mut self, o: &Histograms) {
        fn add(a: &mut Option<LogHistogram>, b: &Option<LogHistogram>) {
            match (a.as_mut(), b) {
                (Some(x), Some(y)) => x.merge(y),
                (None, Some(y)) => *a = Some(y.clone()),
                (_, None) => {}
            }
        }
        self.latency.merge(&o.latency);
        add(&mut self.wait, &o.wait);
        add(&mut self.ttft, &o.ttft);
        add(&mut self.tpot, &o.tpot);
    }
}

/// Statistics of one deployment in one replication.
#[derive(Debug, Clone)]
pub struct Recorder {
    warmup_ms: f64,
    end_ms: f64,
    timeout_ms: f64,
    /// Served requests at most this slow count towards goodput (the SLO latency target).
    slo_latency_ms: f64,
    slo_ttft_ms: f64,
    slo_tpot_ms: f64,
    /// This deployment's bit in route masks.
    mask: u64,
    /// Inside a hybrid: every outcome, for the hybrid to route on.
    sink: Option<Vec<Outcome>>,
    pub latency: LogHistogram,
    pub wait: LogHistogram,
    /// Time to first token of served requests.
    pub ttft: LogHistogram,
    /// Time per output token of served requests with two tokens or more, streamed.
    pub tpot: LogHistogram,
    pub sum_ttft_ms: f64,
    /// The deployment's answers are never streamed: a request's first token is its whole
    /// answer, so TTFT is the latency and is not recorded a second time.
    whole_answers: bool,
    pub sum_tpot_ms: f64,
    /// Served requests with a time per output token.
    pub tpot_served: u64,
    pub arrived: u64,
    pub served: u64,
    /// Queue full.
    pub dropped: u64,
    pub unavailable: u64,
    pub timed_out: u64,
    pub rate_limited: u64,
    pub too_large: u64,
    /// Continuous batching: sequences preempted for KV-cache room.
    pub preemptions: u64,
    /// 429 responses that were retried.
    pub retries: u64,
    /// Served requests that waited for an instance's cold start.
    pub cold_starts: u64,
    /// Served within the SLO latency target.
    pub within_slo: u64,
    /// Served requests that waited at all (wait > 0).
    pub waited: u64,
    pub sum_latency_ms: f64,
    pub sum_wait_ms: f64,
    /// Tokens of the served requests (what a per-token provider bills).
    pub prompt_tokens: f64,
    pub output_tokens: f64,
    /// Server-time spent serving inside the measurement window (once per batch).
    pub busy_ms: f64,
    /// Request-time spent in service inside the measurement window (for mean concurrency).
    pub in_service_ms: f64,
    pub batches: u64,
    /// Server-time busy in each hour of the window after the warm-up (empty: not tracked).
    pub busy_by_hour_ms: Vec<f64>,
    /// Per-request billing `(increment, minimum)` in ms, for serverless instance costs.
    billing_ms: Option<(f64, f64)>,
    /// Billed instance time of the counted requests (serverless) or of the autoscaled
    /// instances inside the window.
    pub billed_ms: f64,
    /// Autoscaled: instance time inside the window (mean instances = this / window).
    pub instance_ms: f64,
    /// Hybrids: served requests by the set of deployments that served them.
    pub routes: BTreeMap<u64, u64>,
}

impl Recorder {
    pub fn new(warmup_ms: f64, end_ms: f64) -> Self {
        Recorder {
            warmup_ms,
            end_ms,
            timeout_ms: f64::INFINITY,
            slo_latency_ms: f64::INFINITY,
            slo_ttft_ms: f64::INFINITY,
            slo_tpot_ms: f64::INFINITY,
            mask: 0,
            sink: None,
            latency: LogHistogram::new(),
            wait: LogHistogram::new(),
            ttft: LogHistogram::new(),
            tpot: LogHistogram::new(),
            sum_ttft_ms: 0.0,
            whole_answers: false,
            sum_tpot_ms: 0.0,
            tpot_served: 0,
            arrived: 0,
            served: 0,
            dropped: 0,
            unavailable: 0,
            timed_out: 0,
            rate_limited: 0,
            too_large: 0,
            preemptions: 0,
            retries: 0,
            cold_starts: 0,
            within_slo: 0,
            waited: 0,
            sum_latency_ms: 0.0,
            sum_wait_ms: 0.0,
            prompt_tokens: 0.0,
            output_tokens: 0.0,
            busy_ms: 0.0,
            in_service_ms: 0.0,
            batches: 0,
            busy_by_hour_ms: Vec::new(),
            billing_ms: None,
            billed_ms: 0.0,
            instance_ms: 0.0,
            routes: BTreeMap::new(),
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

    /// Bills autoscaled instances' lifetimes with this `(increment, minimum)`.
    pub fn bill_instances(mut self, increment_ms: f64, min_ms: f64) -> Self {
        self.billing_ms = Some((increment_ms, min_ms));
        self
    }

    /// Requests not served within `timeout_ms` of being sent fail; served ones within
    /// `slo_latency_ms` count as goodput.
    pub fn limits(mut self, timeout_ms: Option<f64>, slo: Option<Slo>) -> Self {
        self.timeout_ms = timeout_ms.unwrap_or(f64::INFINITY);
        let slo = slo.unwrap_or_default();
        self.slo_latency_ms = slo.latency_p95_ms.unwrap_or(f64::INFINITY);
        self.slo_ttft_ms = slo.ttft_p95_ms.unwrap_or(f64::INFINITY);
        self.slo_tpot_ms = slo.tpot_p95_ms.unwrap_or(f64::INFINITY);
        self
    }

    /// Answers that are never streamed: TTFT is the latency (see [`Recorder::ttft_histogram`]).
    pub fn whole_answers(mut self, whole: bool) -> Self {
        self.whole_answers = whole;
        self
    }

    /// Time to first token of the served requests.
    pub fn ttft_histogram(&self) -> &LogHistogram {
        if self.whole_answers { &self.latency } else { &self.ttft }
    }

    /// Sum of the served requests' times to first token.
    pub fn ttft_sum_ms(&self) -> f64 {
        if self.whole_answers { self.sum_latency_ms } else { self.sum_ttft_ms }
    }

    /// Part of a hybrid: report every outcome, with route bit `mask`.
    pub fn reporting(mut self, mask: u64) -> Self {
        self.mask = mask;
        self.sink = Some(Vec::new());
        self
    }

    pub fn take_outcomes(&mut self, into: &mut Vec<Outcome>) {
        if let Some(sink) = &mut self.sink {
            into.append(sink);
        }
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
        self.ttft.merge(&o.ttft);
        self.tpot.merge(&o.tpot);
        self.sum_ttft_ms += o.sum_ttft_ms;
        self.sum_tpot_ms += o.sum_tpot_ms;
        self.tpot_served += o.tpot_served;
        self.arrived += o.arrived;
        self.served += o.served;
        self.dropped += o.dropped;
        self.unavailable += o.unavailable;
        self.timed_out += o.timed_out;
        self.rate_limited += o.rate_limited;
        self.too_large += o.too_large;
        self.preemptions += o.preemptions;
        self.retries += o.retries;
        self.cold_starts += o.cold_starts;
        self.within_slo += o.within_slo;
        self.waited += o.waited;
        self.sum_latency_ms += o.sum_latency_ms;
        self.sum_wait_ms += o.sum_wait_ms;
        self.prompt_tokens += o.prompt_tokens;
        self.output_tokens += o.output_tokens;
        self.busy_ms += o.busy_ms;
        self.in_service_ms += o.in_service_ms;
        self.batches += o.batches;
        self.billed_ms += o.billed_ms;
        self.instance_ms += o.instance_ms;
        for (k, v) in &o.routes {
            *self.routes.entry(*k).or_default() += v;
        }
    }

    /// Failed requests of every kind.
    pub fn errors(&self) -> u64 {
        self.dropped + self.unavailable + self.timed_out + self.rate_limited + self.too_large
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

    /// A request sent at `sent_ms` was answered with `timing`; served with route `mask`
    /// unless it took longer than the timeout.
    #[inline(always)]
    pub(crate) fn done(&mut self, req: &Request, sent_ms: f64, timing: Timing, mask: u64) {
        let Timing { wait_ms, latency_ms, ttft_ms, tpot_ms } = timing;
        if latency_ms > self.timeout_ms {
            self.fail(req, sent_ms, ErrorKind::TimedOut, sent_ms + self.timeout_ms);
            return;
        }
        if self.counts(sent_ms) {
            self.arrived += 1;
            self.served += 1;
            self.waited += u64::from(wait_ms > 0.0);
            self.within_slo += u64::from(
                latency_ms <= self.slo_latency_ms
                    && ttft_ms <= self.slo_ttft_ms
                    && tpot_ms.is_none_or(|t| t <= self.slo_tpot_ms),
            );
            self.sum_wait_ms += wait_ms;
            self.sum_latency_ms += latency_ms;
            self.prompt_tokens += f64::from(req.prompt_tokens);
            self.output_tokens += f64::from(req.output_tokens);
            self.wait.record(wait_ms);
            self.latency.record(latency_ms);
            if !self.whole_answers {
                self.ttft.record(ttft_ms);
                self.sum_ttft_ms += ttft_ms;
            }
            if let Some(t) = tpot_ms {
                self.tpot.record(t);
                self.sum_tpot_ms += t;
                self.tpot_served += 1;
            }
            if self.mask != mask {
                self.route(mask);
            }
        }
        if self.sink.is_some() {
            self.report(Outcome {
                req: *req,
                end_ms: sent_ms + latency_ms,
                first_ms: sent_ms + ttft_ms,
                tpot_ms,
                result: Ok(mask),
            });
        }
    }

    #[cold]
    fn route(&mut self, mask: u64) {
        *self.routes.entry(mask).or_default() += 1;
    }

    #[inline(never)]
    fn report(&mut self, o: Outcome) {
        if let Some(sink) = &mut self.sink {
            sink.push(o);
        }
    }

    #[inline(never)]
    pub(crate) fn fail(&mut self, req: &Request, sent_ms: f64, kind: ErrorKind, at_ms: f64) {
        if self.counts(sent_ms) {
            self.arrived += 1;
            match kind {
                ErrorKind::QueueFull => self.dropped += 1,
                ErrorKind::Unavailable => self.unavailable += 1,
                ErrorKind::TimedOut => self.timed_out += 1,
                ErrorKind::RateLimited => self.rate_limited += 1,
                ErrorKind::TooLarge => self.too_large += 1,
            }
        }
        if let Some(sink) = &mut self.sink {
            sink.push(Outcome {
                req: *req,
                end_ms: at_ms,
                first_ms: at_ms,
                tpot_ms: None,
                result: Err(kind),
            });
        }
    }

    /// An autoscaled instance ran over `[from, to)`: bills its part inside the window.
    fn instance(&mut self, from: f64, to: f64) {
        let overlap = (to.min(self.end_ms) - from.max(self.warmup_ms)).max(0.0);
        if overlap > 0.0 {
            self.instance_ms += overlap;
            let (increment, min) = self.billing_ms.unwrap_or((0.0, 0.0));
            self.billed_ms += InstanceBilling::billed_seconds(increment, min, overlap);
        }
    }
}

#[derive(Debug)]
enum RequestService {
    Dist(Sampler),
    Streaming { ttft: Sampler, ms_per_output_token: f64 },
}

/// A provider's service of one request: until its first token, and in all.
#[derive(Debug, Clone, Copy)]
struct Service {
    first_ms: f64,
    total_ms: f64,
    tpot_ms: Option<f64>,
}

impl Service {
    /// Slowed down by `factor` (a device training at reduced speed).
    fn scaled(self, factor: f64) -> Self {
        Service {
            first_ms: self.first_ms * factor,
            total_ms: self.total_ms * factor,
            tpot_ms: self.tpot_ms.map(|t| t * factor),
        }
    }

    /// The client's view: sent at `sent`, taken by a server after `wait`, network round trip
    /// `rtt` on top.
    fn timing(self, wait_ms: f64, rtt_ms: f64) -> Timing {
        Timing {
            wait_ms,
            latency_ms: rtt_ms + wait_ms + self.total_ms,
            ttft_ms: rtt_ms + wait_ms + self.first_ms,
            tpot_ms: self.tpot_ms,
        }
    }
}

impl RequestService {
    #[inline]
    fn sample(&self, rng: &mut SimRng, req: &Request) -> Service {
        match self {
            RequestService::Dist(s) => {
                let total_ms = s.sample(rng);
                Service { first_ms: total_ms, total_ms, tpot_ms: None }
            }
            RequestService::Streaming { ttft, ms_per_output_token } => {
                let first_ms = ttft.sample(rng);
                Service {
                    first_ms,
                    total_ms: first_ms + ms_per_output_token * f64::from(req.output_tokens),
                    tpot_ms: (req.output_tokens >= 2).then_some(*ms_per_output_token),
                }
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
    /// Start times of requests still waiting (kept with a waiting room or inside a hybrid).
    waiting_starts: VecDeque<f64>,
    track_waiting: bool,
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
struct Instance {
    launched: f64,
    ready: f64,
    /// Free time of each slot.
    slots: Vec<f64>,
    /// When its last job ends (its ready time before any).
    last_end: f64,
}

#[derive(Debug)]
struct Autoscaler {
    config: Autoscale,
    cold_start: Sampler,
    service: RequestService,
    instances: Vec<Instance>,
    /// End times of requests assigned and not yet finished, as bit patterns.
    ends: BinaryHeap<Reverse<u64>>,
    /// Start times of requests assigned and not yet started.
    starts: BinaryHeap<Reverse<u64>>,
}

/// Continuous-batching servers and their waiting room.
#[derive(Debug)]
struct ContinuousStation {
    servers: ContinuousServers,
    /// `max_num_seqs` of each server.
    slots: usize,
    capacity: Option<usize>,
    /// Preemptions already handed to the recorder.
    preemptions_recorded: u64,
}

impl ContinuousStation {
    /// Runs the servers to `now`, recording what finished and the busy time.
    fn advance(&mut self, now: f64, rec: &mut Recorder) {
        let mask = rec.mask;
        let slots = self.slots as f64;
        self.servers.advance(now, &mut |e| match e {
            Event::Done(c) => {
                let tokens = c.req.output_tokens.max(1);
                let timing = Timing {
                    wait_ms: c.admitted_ms - c.sent_ms,
                    latency_ms: c.end_ms - c.sent_ms,
                    ttft_ms: c.first_token_ms - c.sent_ms,
                    tpot_ms: (tokens >= 2)
                        .then(|| (c.end_ms - c.first_token_ms) / f64::from(tokens - 1)),
                };
                rec.done(&c.req, c.sent_ms, timing, mask)
            }
            // A continuous server is as busy as the share of its slots in use: it counts
            // `running / slots` of each iteration as busy time (so utilization, its peak hour
            // and a capacity policy see slot occupancy), and `running` requests in service.
            Event::Busy { start_ms, duration_ms, running } => {
                rec.busy(start_ms, duration_ms * running as f64 / slots, self.slots)
            }
        });
        if self.servers.preemptions > self.preemptions_recorded {
            rec.preemptions += self.servers.preemptions - self.preemptions_recorded;
            self.preemptions_recorded = self.servers.preemptions;
        }
    }

    /// Queues `req`, arriving now and first sent at `sent_ms`, unless it can never fit or the
    /// waiting room is full. Call [`ContinuousStation::advance`] to its time first.
    #[inline]
    fn accept(&mut self, req: Request, sent_ms: f64, rec: &mut Recorder) {
        if !self.servers.fits(&req) {
            rec.fail(&req, sent_ms, ErrorKind::TooLarge, req.t_ms);
        } else if self.capacity.is_some_and(|cap| self.servers.waiting() >= cap) {
            rec.fail(&req, sent_ms, ErrorKind::QueueFull, req.t_ms);
        } else {
            self.servers.enqueue(req, sent_ms);
        }
    }
}

#[derive(Debug)]
enum Station {
    Fifo(Fifo),
    Batcher(Batcher),
    Continuous(ContinuousStation),
    Unlimited(RequestService),
    Autoscaled(Autoscaler),
}

/// A request turned away by a rate limit, waiting to be sent again.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Retry {
    at_ms: f64,
    /// When the client first sent it.
    sent_ms: f64,
    seq: u64,
    attempt: u32,
    req: Request,
}

impl Eq for Retry {}

impl Ord for Retry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Earliest first in a max-heap.
        other.at_ms.total_cmp(&self.at_ms).then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Retry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug)]
struct Limiter {
    limit: RateLimit,
    request_bucket: f64,
    token_bucket: f64,
    last_ms: f64,
    retries: BinaryHeap<Retry>,
    seq: u64,
}

impl Limiter {
    fn new(limit: RateLimit) -> Self {
        Limiter {
            request_bucket: limit.requests.map_or(0.0, |r| r.1),
            token_bucket: limit.tokens.map_or(0.0, |t| t.1),
            limit,
            last_ms: 0.0,
            retries: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Refills both buckets to time `t` and takes what `req` needs, if they hold it.
    fn admit(&mut self, t: f64, req: &Request) -> bool {
        let dt = (t - self.last_ms).max(0.0);
        self.last_ms = self.last_ms.max(t);
        if let Some((rate, size)) = self.limit.requests {
            self.request_bucket = (self.request_bucket + rate * dt).min(size);
        }
        let tokens = f64::from(req.prompt_tokens) + f64::from(req.output_tokens);
        if let Some((rate, size)) = self.limit.tokens {
            self.token_bucket = (self.token_bucket + rate * dt).min(size);
        }
        let ok = self.limit.requests.is_none_or(|_| self.request_bucket >= 1.0)
            && self.limit.tokens.is_none_or(|_| self.token_bucket >= tokens);
        if ok {
            if self.limit.requests.is_some() {
                self.request_bucket -= 1.0;
            }
            if self.limit.tokens.is_some() {
                self.token_bucket -= tokens;
            }
        }
        ok
    }

    /// Backoff before retry `attempt` (1-based): full jitter.
    fn backoff(&self, attempt: u32, rng: &mut SimRng) -> f64 {
        let cap = (self.limit.backoff_base_ms * 2f64.powi(attempt as i32 - 1))
            .min(self.limit.backoff_max_ms);
        rng.random::<f64>() * cap
    }
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
                let (continuous_down, continuous_slow) = match &local.service {
                    LocalService::Continuous(_) => (devices.clone(), slow.clone()),
                    _ => (Vec::new(), Vec::new()),
                };
                let outages =
                    (!devices.is_empty() || !slow.is_empty()).then_some((devices, slow, speed));
                let pool = ServerPool::new(local.servers, outages);
                let station = match (&local.service, local.max_batch) {
                    (LocalService::Continuous(c), _) => Station::Continuous(ContinuousStation {
                        servers: ContinuousServers::new(
                            c.clone(),
                            local.servers,
                            continuous_down.clone(),
                        )
                        .training(continuous_slow.clone(), speed)
                        .draining(training.clone()),
                        slots: c.max_num_seqs as usize,
                        capacity,
                        preemptions_recorded: 0,
                    }),
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
            if self.recorder.counts(sent_ms) {
                self.recorder.retries += 1;
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
                let s = service.sample(rng, &req);
                rec.busy(t, s.total_ms, 1);
                let rtt = self.network_rtt.as_ref().map_or(0.0, |n| n.sample(rng));
                if rec.counts(sent_ms) {
                    rec.batches += 1;
                    rec.bill(s.total_ms);
                }
                rec.done(&req, sent_ms, s.timing(t - sent_ms, rtt), mask);
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

fn pop_until(heap: &mut BinaryHeap<Reverse<u64>>, t: f64) {
    while heap.peek().is_some_and(|r| f64::from_bits(r.0) <= t) {
        heap.pop();
    }
}

impl Autoscaler {
    fn new(config: Autoscale, service: RequestService) -> Self {
        let instances = (0..config.min_instances)
            .map(|_| Instance {
                launched: 0.0,
                ready: 0.0,
                slots: vec![0.0; config.concurrency as usize],
                last_end: 0.0,
            })
            .collect();
        Autoscaler {
            cold_start: Sampler::new(&config.cold_start_ms),
            config,
            service,
            instances,
            ends: BinaryHeap::new(),
            starts: BinaryHeap::new(),
        }
    }

    /// The slot that can start a request arriving at `t` first: `(instance, slot, start)`.
    fn best_slot(&self, t: f64) -> Option<(usize, usize, f64)> {
        let mut best: Option<(usize, usize, f64)> = None;
        for (i, inst) in self.instances.iter().enumerate() {
            for (j, &free) in inst.slots.iter().enumerate() {
                let s = free.max(t);
                if best.is_none_or(|b| s < b.2) {
                    best = Some((i, j, s));
                }
            }
        }
        best
    }

    /// Stops instances idle for the scale-down time by `t`, longest idle first, keeping
    /// `min_instances`.
    fn scale_down(&mut self, t: f64, rec: &mut Recorder) {
        let keep = self.config.min_instances as usize;
        if self.instances.len() <= keep {
            return;
        }
        let idle = self.config.scale_down_after_idle_ms;
        let mut expired: Vec<(f64, usize)> = self
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| (inst.last_end + idle, i))
            .filter(|&(at, _)| at <= t)
            .collect();
        if expired.is_empty() {
            return;
        }
        expired.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        expired.truncate(self.instances.len() - keep);
        let mut remove: Vec<usize> = expired.iter().map(|&(_, i)| i).collect();
        for &(at, i) in &expired {
            rec.instance(self.instances[i].launched, at);
        }
        remove.sort_unstable();
        for i in remove.into_iter().rev() {
            self.instances.swap_remove(i);
        }
    }

    fn handle(
        &mut self,
        req: Request,
        sent_ms: f64,
        rng: &mut SimRng,
        rec: &mut Recorder,
        rtt: Option<&Sampler>,
    ) {
        let t = req.t_ms;
        self.scale_down(t, rec);
        pop_until(&mut self.ends, t);
        pop_until(&mut self.starts, t);
        let mut best = self.best_slot(t);
        let must_wait = best.is_none_or(|b| b.2 > t);
        let conc = f64::from(self.config.concurrency);
        let desired = match self.config.target {
            ScaleTarget::Utilization(u) => ((self.ends.len() + 1) as f64 / (conc * u)).ceil(),
            ScaleTarget::QueuePerInstance(q) if must_wait => {
                ((self.starts.len() + 1) as f64 / q).ceil()
            }
            ScaleTarget::QueuePerInstance(_) => 0.0,
        } as usize;
        let desired = desired.min(self.config.max_instances.map_or(usize::MAX, |m| m as usize));
        if desired > self.instances.len() {
            for _ in self.instances.len()..desired {
                let ready = t + self.config.scale_up_delay_ms + self.cold_start.sample(rng);
                self.instances.push(Instance {
                    launched: t,
                    ready,
                    slots: vec![ready; self.config.concurrency as usize],
                    last_end: ready,
                });
            }
            best = self.best_slot(t);
        }
        let Some((i, j, start)) = best else {
            rec.fail(&req, sent_ms, ErrorKind::Unavailable, t);
            return;
        };
        if start - sent_ms > rec.timeout_ms {
            rec.fail(&req, sent_ms, ErrorKind::TimedOut, sent_ms + rec.timeout_ms);
            return;
        }
        let s = self.service.sample(rng, &req);
        let service = s.total_ms;
        let inst = &mut self.instances[i];
        inst.slots[j] = start + service;
        inst.last_end = inst.last_end.max(start + service);
        self.ends.push(Reverse((start + service).to_bits()));
        if start > t {
            self.starts.push(Reverse(start.to_bits()));
        }
        let cold = start == inst.ready && inst.ready > t;
        rec.busy(start, service, 1);
        let rtt = rtt.map_or(0.0, |s| s.sample(rng));
        if rec.counts(sent_ms) {
            rec.batches += 1;
            rec.cold_starts += u64::from(cold);
        }
        rec.done(&req, sent_ms, s.timing(start - sent_ms, rtt), rec.mask);
    }

    /// Bills the instances still running after the last arrival: each stops when its idle
    /// time runs out, except the `min_instances` that would stop last, which run on.
    fn close(&mut self, rec: &mut Recorder) {
        let idle = self.config.scale_down_after_idle_ms;
        let mut stops: Vec<(f64, f64)> =
            self.instances.iter().map(|i| (i.last_end + idle, i.launched)).collect();
        stops.sort_by(|a, b| a.0.total_cmp(&b.0));
        let stopping = stops.len().saturating_sub(self.config.min_instances as usize);
        for (k, &(stop, launched)) in stops.iter().enumerate() {
            rec.instance(launched, if k < stopping { stop } else { f64::INFINITY });
        }
        self.instances.clear();
    }
}

impl Fifo {
    /// One request arriving at `req.t_ms`, sent at `sent_ms` (the deployment is up).
    #[inline(always)]
    fn serve(
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
        if rec.counts(sent_ms) {
            rec.batches += 1;
            rec.bill(service);
        }
        rec.done(&req, sent_ms, s.timing(start - sent_ms, rtt), mask);
    }
}

impl Batcher {
    /// Dispatches every batch whose start is decided by time `now` (the next arrival).
    fn dispatch_ready(&mut self, now: f64, rng: &mut SimRng, rec: &mut Recorder) {
        while let Some(first) = self.queue.front() {
            let full = self.queue.len() >= self.max_batch;
            let close = if full {
                self.queue[self.max_batch - 1].t_ms
            } else {
                first.t_ms + self.timeout_ms
            };
            let (server, start) = self.pool.next_start(close);
            // Until it starts, a batch that is not full can still grow, and its requests
            // still take up waiting room.
            if start >= now {
                return;
            }
            let size = self.queue.len().min(self.max_batch);
            let slowdown = self.pool.slowdown(server, start);
            // (time to the batch's first token, its whole time, its tokens)
            let (first, service, steps) = match &self.service {
                BatchService::Dist(s) => {
                    let total = s.sample(rng) * slowdown;
                    (total, total, 1)
                }
                BatchService::Tokens(tl) => {
                    let batch = self.queue.range(..size);
                    let (prompt_sum, max_output) = batch.fold((0u64, 0u32), |(p, o), r| {
                        (p + u64::from(r.prompt_tokens), o.max(r.output_tokens))
                    });
                    let total = tl.batch_ms(size as u32, prompt_sum, max_output) * slowdown;
                    let prefill = tl.batch_ms(size as u32, prompt_sum, 0) * slowdown;
                    // Decode steps are taken as equal: the first token comes one mean step
                    // after the prefill.
                    let steps = max_output.max(1);
                    (prefill + (total - prefill) / f64::from(steps), total, steps)
                }
            };
            self.pool.occupy(server, start + service);
            rec.busy(start, service, size);
            if rec.counts(start) {
                rec.batches += 1;
            }
            let mask = rec.mask;
            let streamed = matches!(self.service, BatchService::Tokens(_)) && steps >= 2;
            let tpot = (service - first) / f64::from(steps.max(2) - 1);
            for req in self.queue.drain(..size) {
                let wait = start - req.t_ms;
                let timing = Timing {
                    wait_ms: wait,
                    latency_ms: wait + service,
                    ttft_ms: wait + first,
                    tpot_ms: (streamed && req.output_tokens >= 2).then_some(tpot),
                };
                rec.done(&req, req.t_ms, timing, mask);
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
                Request::new(t, 0, 0)
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
            assert_eq!((a.served, a.dropped, a.waited), (b.served, b.dropped, b.waited));
            assert!((a.sum_wait_ms - b.sum_wait_ms).abs() <= 1e-9 * a.sum_wait_ms);
            assert_eq!(a.latency, b.latency);
            assert!(a.dropped > 0 || capacity.is_none());
        }
    }
}
