//! What one deployment recorded in one window: counts, sums and histograms of the requests it
//! served or failed, busy time, billing, and (inside a hybrid) every outcome for routing.
//!
//! **Invariant:** a request is counted when it was sent after the warm-up; every counter adds
//! as an integer or a sum of window-clipped times, so windows and replications merge exactly.

use std::collections::BTreeMap;

use lcsim_core::cost::InstanceBilling;
use lcsim_core::reliability::Slo;
use lcsim_core::scenario::MS_PER_HOUR;

use crate::arrivals::Request;
use crate::histogram::LogHistogram;

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
    pub(crate) wait: Option<LogHistogram>,
    /// Absent where answers are never streamed: TTFT is then the latency.
    pub(crate) ttft: Option<LogHistogram>,
    /// Absent until a streamed answer of two tokens or more is served.
    pub(crate) tpot: Option<LogHistogram>,
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

/// What became of the requests a deployment counted (sent after the warm-up), and the work
/// that cost: integers, so they add exactly across windows and replications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
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
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.arrived += o.arrived;
        self.served += o.served;
        self.dropped += o.dropped;
        self.unavailable += o.unavailable;
        self.timed_out += o.timed_out;
        self.rate_limited += o.rate_limited;
        self.too_large += o.too_large;
        self.preemptions += o.preemptions;
        self.retries += o.retries;
    }

    /// Failed requests of every kind.
    pub fn errors(&self) -> u64 {
        self.dropped + self.unavailable + self.timed_out + self.rate_limited + self.too_large
    }
}

/// Statistics of one deployment in one replication.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub(crate) warmup_ms: f64,
    pub(crate) end_ms: f64,
    pub(crate) timeout_ms: f64,
    /// Served requests at most this slow count towards goodput (the SLO latency target).
    pub(crate) slo_latency_ms: f64,
    pub(crate) slo_ttft_ms: f64,
    pub(crate) slo_tpot_ms: f64,
    /// This deployment's bit in route masks.
    pub(crate) mask: u64,
    /// Inside a hybrid: every outcome, for the hybrid to route on.
    pub(crate) sink: Option<Vec<Outcome>>,
    pub latency: LogHistogram,
    pub wait: LogHistogram,
    /// Time to first token of served requests.
    pub ttft: LogHistogram,
    /// Time per output token of served requests with two tokens or more, streamed.
    pub tpot: LogHistogram,
    pub sum_ttft_ms: f64,
    /// The deployment's answers are never streamed: a request's first token is its whole
    /// answer, so TTFT is the latency and is not recorded a second time.
    pub(crate) whole_answers: bool,
    pub sum_tpot_ms: f64,
    /// Served requests with a time per output token.
    pub tpot_served: u64,
    pub counts: Counts,
    /// Served requests that waited for an instance's cold start.
    pub cold_starts: u64,
    /// Served within the SLO latency target.
    pub within_slo: u64,
    /// Served requests that waited at all (wait > 0).
    pub waited: u64,
    pub sum_latency_ms: f64,
    pub sum_wait_ms: f64,
    /// Tokens of the served requests (what a per-token provider bills).
    pub prompt_tokens: u64,
    pub output_tokens: u64,
    /// Server-time spent serving inside the measurement window (once per batch).
    pub busy_ms: f64,
    /// Request-time spent in service inside the measurement window (for mean concurrency).
    pub in_service_ms: f64,
    pub batches: u64,
    /// Server-time busy in each hour of the window after the warm-up (empty: not tracked).
    pub busy_by_hour_ms: Vec<f64>,
    /// Per-request billing `(increment, minimum)` in ms, for serverless instance costs.
    pub(crate) billing_ms: Option<(f64, f64)>,
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
            counts: Counts::default(),
            cold_starts: 0,
            within_slo: 0,
            waited: 0,
            sum_latency_ms: 0.0,
            sum_wait_ms: 0.0,
            prompt_tokens: 0,
            output_tokens: 0,
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
    pub(crate) fn bill(&mut self, service_ms: f64) {
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
        self.counts.add(&o.counts);
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

    #[inline]
    pub(crate) fn is_counted(&self, t_ms: f64) -> bool {
        t_ms >= self.warmup_ms
    }

    /// Adds the part of a service interval of `size` requests that falls inside the window, so
    /// utilization is an exact time average even when the queue carries over its edges.
    #[inline]
    pub(crate) fn busy(&mut self, start_ms: f64, service_ms: f64, size: usize) {
        let end_ms = start_ms + service_ms;
        // Almost every interval lies inside the window: clipping leaves it as it is (the
        // same bits as the general formula, which then takes `end_ms` and `start_ms`).
        let overlap = if start_ms >= self.warmup_ms && end_ms <= self.end_ms {
            end_ms - start_ms
        } else {
            at_least_zero(earlier(end_ms, self.end_ms) - later(start_ms, self.warmup_ms))
        };
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
        if self.is_counted(sent_ms) {
            let within_slo = latency_ms <= self.slo_latency_ms
                && ttft_ms <= self.slo_ttft_ms
                && tpot_ms.is_none_or(|t| t <= self.slo_tpot_ms);
            self.served(req, wait_ms, latency_ms, within_slo);
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

    /// Whether [`Recorder::done_whole`] may stand for [`Recorder::done`]: answers are never
    /// streamed and no outcome is reported.
    pub(crate) fn is_whole(&self) -> bool {
        self.whole_answers && self.sink.is_none()
    }

    /// [`Recorder::done`] for a request sent as it arrived, when [`Recorder::is_whole`]: its
    /// first token is its whole answer, it has no time per output token, and it took this
    /// deployment's own route. The same figures, with the branches that cannot apply taken out.
    #[inline(always)]
    pub(crate) fn done_whole(&mut self, req: &Request, timing: Timing) {
        debug_assert!(self.is_whole() && timing.tpot_ms.is_none());
        let Timing { wait_ms, latency_ms, .. } = timing;
        if latency_ms > self.timeout_ms {
            self.fail(req, req.t_ms, ErrorKind::TimedOut, req.t_ms + self.timeout_ms);
            return;
        }
        if self.is_counted(req.t_ms) {
            let within_slo = latency_ms <= self.slo_latency_ms && latency_ms <= self.slo_ttft_ms;
            self.served(req, wait_ms, latency_ms, within_slo);
        }
    }

    /// What every counted, served request adds: counts, sums, tokens, wait and latency.
    #[inline(always)]
    fn served(&mut self, req: &Request, wait_ms: f64, latency_ms: f64, within_slo: bool) {
        self.counts.arrived += 1;
        self.counts.served += 1;
        self.waited += u64::from(wait_ms > 0.0);
        self.within_slo += u64::from(within_slo);
        self.sum_wait_ms += wait_ms;
        self.sum_latency_ms += latency_ms;
        self.prompt_tokens += u64::from(req.prompt_tokens);
        self.output_tokens += u64::from(req.output_tokens);
        self.wait.record(wait_ms);
        self.latency.record(latency_ms);
    }

    #[cold]
    pub(crate) fn route(&mut self, mask: u64) {
        *self.routes.entry(mask).or_default() += 1;
    }

    #[inline(never)]
    pub(crate) fn report(&mut self, o: Outcome) {
        if let Some(sink) = &mut self.sink {
            sink.push(o);
        }
    }

    #[inline(never)]
    pub(crate) fn fail(&mut self, req: &Request, sent_ms: f64, kind: ErrorKind, at_ms: f64) {
        if self.is_counted(sent_ms) {
            self.counts.arrived += 1;
            match kind {
                ErrorKind::QueueFull => self.counts.dropped += 1,
                ErrorKind::Unavailable => self.counts.unavailable += 1,
                ErrorKind::TimedOut => self.counts.timed_out += 1,
                ErrorKind::RateLimited => self.counts.rate_limited += 1,
                ErrorKind::TooLarge => self.counts.too_large += 1,
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
    pub(crate) fn instance(&mut self, from: f64, to: f64) {
        let overlap = (to.min(self.end_ms) - from.max(self.warmup_ms)).max(0.0);
        if overlap > 0.0 {
            self.instance_ms += overlap;
            let (increment, min) = self.billing_ms.unwrap_or((0.0, 0.0));
            self.billed_ms += InstanceBilling::billed_seconds(increment, min, overlap);
        }
    }
}

// Plain comparisons where no operand can be NaN (times of day and durations): `f64::min` and
// `max` also handle NaN, at three times the instructions, and `busy` runs once per step.

/// The earlier of two times.
#[inline(always)]
fn earlier(a: f64, b: f64) -> f64 {
    if a < b { a } else { b }
}

/// The later of two times.
#[inline(always)]
fn later(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

/// A duration clipped below at zero.
#[inline(always)]
fn at_least_zero(x: f64) -> f64 {
    if x > 0.0 { x } else { 0.0 }
}
