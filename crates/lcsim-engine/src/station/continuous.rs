//! Continuous (iteration-level) batching: the serving model of llama.cpp slots, vLLM, TGI and
//! Ollama. The model is stated on [`lcsim_core::scenario::Continuous`]. This module runs it.
//!
//! **Cost does not grow with answer length.** Between changes of batch membership, every
//! iteration decodes the same `b` sequences, and its time is linear in the iteration number:
//! the attention term grows by `b` context tokens each step. `k` such iterations therefore sum
//! in closed form, `k·(s₀ + a·C) + a·b·k(k−1)/2`. The server jumps to the next completion, to
//! the point where the KV cache fills, or to the last boundary before the next arrival,
//! whichever comes first. It steps one iteration at a time only where membership can change:
//! an admission, a prefill chunk, or a preemption.
//!
//! **Invariants:** each server's KV tokens in use never exceed `kv_cache_tokens`. The waiting
//! queue is first come, first served. A preempted sequence goes back to its front. Every
//! request that enters is completed exactly once.

use std::collections::VecDeque;

use lcsim_core::scenario::Continuous;

use crate::arrivals::Request;
use crate::outages::{Intervals, contains, difference, next_up};
use crate::recorder::{ErrorKind, Recorder, Timing};

/// What the servers report as they run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// A request finished.
    Done(Completed),
    /// A server ran iterations over `[start_ms, start_ms + duration_ms)` with `running`
    /// sequences admitted.
    Busy { start_ms: f64, duration_ms: f64, running: usize },
}

/// Where the servers' events go: a closure over [`Event`], or a type whose methods inline into
/// the scheduler's loop (the engine's recorder).
pub trait Sink {
    /// A server ran iterations over `[start_ms, start_ms + duration_ms)` with `running`
    /// sequences admitted.
    fn busy(&mut self, start_ms: f64, duration_ms: f64, running: usize);
    /// A request finished.
    fn done(&mut self, c: Completed);
}

impl<F: FnMut(Event)> Sink for F {
    #[inline]
    fn busy(&mut self, start_ms: f64, duration_ms: f64, running: usize) {
        self(Event::Busy { start_ms, duration_ms, running })
    }

    #[inline]
    fn done(&mut self, c: Completed) {
        self(Event::Done(c))
    }
}

/// A request that finished: when it was first admitted, its first token and its last token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Completed {
    pub req: Request,
    pub sent_ms: f64,
    pub admitted_ms: f64,
    pub first_token_ms: f64,
    pub end_ms: f64,
}

#[derive(Debug, Clone, Copy)]
struct Waiting {
    req: Request,
    sent_ms: f64,
    /// Tokens already generated (after a preemption); they are recomputed with the prompt.
    generated: u32,
    /// When first admitted and when its first token came; NaN until then (a preempted
    /// sequence keeps both).
    admitted_ms: f64,
    first_token_ms: f64,
}

#[derive(Debug, Clone, Copy)]
struct Seq {
    w: Waiting,
    /// Tokens still to prefill (prompt, plus recomputed output after a preemption).
    prefill_left: u64,
    /// KV tokens held: prefilled tokens plus generated ones.
    context: u64,
    /// Whether the current iteration gives it a token (it decodes, or completes its prefill).
    emits: bool,
}

impl Seq {
    #[inline]
    fn output(&self) -> u32 {
        self.w.req.output_tokens.max(1)
    }

    /// Decode iterations until it completes.
    #[inline]
    fn remaining(&self) -> u32 {
        self.output() - self.w.generated
    }
}

#[derive(Debug, Default)]
struct Server {
    /// The current iteration boundary (when idle: the end of its last iteration).
    t_ms: f64,
    /// When the device is out of service (failures, roll-outs, training): nothing is admitted
    /// then, and no iteration starts then unless the interval is one the device drains in.
    down: Intervals,
    /// `down` less the intervals in which the device drains (planned training): when the
    /// sequences it is running pause.
    busy_down: Intervals,
    /// When the device trains (federated learning) and serves at `speed` of its normal rate:
    /// an iteration that starts in such an interval takes `1 / speed` times as long.
    slow: Intervals,
    /// Running sequences in admission order (the last is preempted first).
    running: Vec<Seq>,
    /// KV tokens in use: the sum of the running sequences' `context`.
    kv_used: u64,
    /// Running sequences with prompt tokens still to prefill.
    prefilling: usize,
}

impl Server {
    /// When this server next decides a boundary: its own when it runs sequences, else when the
    /// head of the queue (arrived at `head`) can start; `None` when idle with nothing queued.
    #[inline(always)]
    fn next_boundary<const PLAIN: bool>(&self, head: Option<f64>) -> Option<f64> {
        if self.running.is_empty() {
            head.map(
                |h| if PLAIN { self.t_ms.max(h) } else { next_up(&self.down, self.t_ms.max(h)) },
            )
        } else if PLAIN {
            Some(self.t_ms)
        } else {
            Some(next_up(&self.busy_down, self.t_ms))
        }
    }
}

/// The continuous-batching servers of one deployment, with their shared FCFS queue.
#[derive(Debug)]
pub struct ContinuousServers {
    cfg: Continuous,
    servers: Vec<Server>,
    queue: VecDeque<Waiting>,
    pub preemptions: u64,
    /// Times the engine decided a boundary (a jump counts once): the work done.
    pub steps: u64,
    /// Scratch buffer reused by every step (no allocation per iteration).
    finished: Vec<Seq>,
    /// Inference speed of a training device, in (0, 1] (1: no training intervals).
    speed: f64,
    /// Whether the scheduler can take its plain path: no server is ever out of service or
    /// training, no token budget chunks prefill, and no attention term grows the decode step.
    /// The plain path is the general one with those branches removed at compile time, so both
    /// give the same results bit for bit where both apply.
    plain: bool,
}

impl ContinuousServers {
    /// `down[i]`: when server `i` is out of service (sorted, disjoint; missing = never). An
    /// iteration never starts in such an interval; one already running completes.
    pub fn new(cfg: Continuous, servers: u32, mut down: Vec<Intervals>) -> Self {
        down.resize(servers as usize, Vec::new());
        ContinuousServers {
            cfg,
            servers: down
                .into_iter()
                .map(|down| Server { busy_down: down.clone(), down, ..Server::default() })
                .collect(),
            queue: VecDeque::new(),
            preemptions: 0,
            steps: 0,
            finished: Vec::new(),
            speed: 1.0,
            plain: false,
        }
        .plain_when_possible()
    }

    /// Sets [`ContinuousServers::plain`] from the configuration and the servers' intervals.
    fn plain_when_possible(mut self) -> Self {
        self.plain = self.cfg.max_batched_tokens.is_none()
            && self.cfg.attention_ms_per_context_token == 0.0
            && self.speed == 1.0
            && self
                .servers
                .iter()
                .all(|s| s.down.is_empty() && s.busy_down.is_empty() && s.slow.is_empty());
        self
    }

    /// `drain[i]`: parts of server `i`'s out-of-service intervals in which it first finishes
    /// the sequences it is running (a planned training round starts when the device is idle),
    /// admitting nothing new.
    pub fn draining(mut self, drain: Vec<Intervals>) -> Self {
        for (server, drain) in self.servers.iter_mut().zip(drain) {
            server.busy_down = difference(&server.down, &drain);
        }
        self.plain_when_possible()
    }

    /// `slow[i]`: when server `i` trains and serves at `speed` ∈ (0, 1) of its normal rate
    /// (sorted, disjoint; missing = never). Every iteration that starts in such an interval
    /// takes `1 / speed` times as long; closed-form jumps stop at the intervals' edges.
    pub fn training(mut self, slow: Vec<Intervals>, speed: f64) -> Self {
        if speed > 0.0 && speed < 1.0 {
            for (server, slow) in self.servers.iter_mut().zip(slow) {
                server.slow = slow;
            }
            self.speed = speed;
        }
        self.plain_when_possible()
    }

    /// Whether a request can ever be served: its prompt and output fit in one server's cache.
    pub fn fits(&self, req: &Request) -> bool {
        u64::from(req.prompt_tokens) + u64::from(req.output_tokens.max(1))
            <= self.cfg.kv_cache_tokens
    }

    /// Whether the servers run the plain path (see [`ContinuousServers::plain`]).
    pub fn is_plain(&self) -> bool {
        self.plain
    }

    /// Requests waiting to be admitted.
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// Queues a request arriving at `req.t_ms`; call [`ContinuousServers::advance`] to that
    /// time first.
    pub fn enqueue(&mut self, req: Request, sent_ms: f64) {
        self.queue.push_back(Waiting {
            req,
            sent_ms,
            generated: 0,
            admitted_ms: f64::NAN,
            first_token_ms: f64::NAN,
        });
    }

    /// Runs every iteration that starts before `now`, in time order across servers, and hands
    /// each finished request to `done`.
    pub fn advance(&mut self, now: f64, sink: &mut impl Sink) {
        if self.plain {
            self.advance_with::<true>(now, sink)
        } else {
            self.advance_with::<false>(now, sink)
        }
    }

    /// [`ContinuousServers::advance`], on the plain path (`PLAIN`) or the general one.
    #[inline(always)]
    fn advance_with<const PLAIN: bool>(&mut self, now: f64, sink: &mut impl Sink) {
        loop {
            // The server whose next boundary comes first; idle servers start when the head of
            // the queue arrived.
            let head = self.queue.front().map(|w| w.req.t_ms);
            let best = if let [server] = &self.servers[..] {
                server.next_boundary::<PLAIN>(head).map(|at| (0, at))
            } else {
                let mut best: Option<(usize, f64)> = None;
                for (i, s) in self.servers.iter().enumerate() {
                    let Some(at) = s.next_boundary::<PLAIN>(head) else { continue };
                    if best.is_none_or(|(_, b)| at < b) {
                        best = Some((i, at));
                    }
                }
                best
            };
            let Some((i, at)) = best else { return };
            if at >= now {
                return;
            }
            self.servers[i].t_ms = at;
            // One emission site for each kind of event, so the sink inlines.
            let (start_ms, duration_ms, running) = self.step::<PLAIN>(i, now);
            sink.busy(start_ms, duration_ms, running);
            let end = self.servers[i].t_ms;
            for s in &self.finished {
                sink.done(s.completed(end));
            }
        }
    }

    /// One iteration, or a closed-form jump over identical ones, on server `i`. Returns the
    /// busy interval `(start, duration, sequences running)`; the sequences it finished are in
    /// `self.finished`, in admission order, and end at the server's new boundary.
    fn step<const PLAIN: bool>(&mut self, i: usize, now: f64) -> (f64, f64, usize) {
        let cfg = &self.cfg;
        self.steps += 1;
        let server = &mut self.servers[i];
        let b0 = server.t_ms;
        let slots = cfg.max_num_seqs as usize;
        // Admission, first come first served, while a slot is free and the prompt fits, unless
        // the device is out of service (draining).
        let closed = !PLAIN && contains(&server.down, b0);
        while !closed && server.running.len() < slots {
            let Some(head) = self.queue.front() else { break };
            let need = u64::from(head.req.prompt_tokens) + u64::from(head.generated);
            if server.kv_used + need > cfg.kv_cache_tokens {
                break;
            }
            let mut w = self.queue.pop_front().expect("peeked");
            if w.admitted_ms.is_nan() {
                w.admitted_ms = b0;
            }
            server.kv_used += need;
            server.prefilling += usize::from(need > 0);
            server.running.push(Seq { w, prefill_left: need, context: need, emits: false });
        }
        // Each iteration writes one KV token per decoding sequence and per prefill it completes;
        // while they do not fit, the most recently admitted sequence is preempted (recomputed
        // later from the front of the queue).
        let (decoding, budget) = loop {
            let decoding = (server.running.len() - server.prefilling) as u64;
            let budget = if PLAIN {
                u64::MAX
            } else {
                cfg.max_batched_tokens.map_or(u64::MAX, |m| m.saturating_sub(decoding))
            };
            // Without a budget, every prefilling sequence completes its prompt.
            let mut completing = if PLAIN { server.prefilling as u64 } else { 0 };
            if !PLAIN && server.prefilling > 0 {
                let mut left = budget;
                for s in server.running.iter().filter(|s| s.prefill_left > 0) {
                    let chunk = s.prefill_left.min(left);
                    left -= chunk;
                    completing += u64::from(chunk == s.prefill_left);
                }
            }
            if server.kv_used + decoding + completing > cfg.kv_cache_tokens
                && server.running.len() > 1
            {
                let s = server.running.pop().expect("more than one");
                server.kv_used -= s.context;
                server.prefilling -= usize::from(s.prefill_left > 0);
                self.queue.push_front(s.w);
                self.preemptions += 1;
                continue;
            }
            break (decoding, budget);
        };
        // A pure-decode stretch with nothing to admit jumps in closed form.
        if server.prefilling == 0
            && decoding > 0
            && (self.queue.is_empty() || server.running.len() >= slots || closed)
        {
            let limits = Limits { now, speed: self.speed, closed };
            if let Some(jump) = Self::jump_length::<PLAIN>(cfg, server, decoding, limits) {
                return Self::jump(server, jump, decoding, &mut self.finished);
            }
        }
        // One iteration: prefill chunks and one decode token for every decoding sequence.
        let mut left = budget;
        let mut prefill_tokens = 0u64;
        // Prefill attention pairs: a chunk of c tokens at offset o attends c·o + c(c+1)/2.
        let mut prefill_pairs = 0u64;
        let mut context_read = 0u64;
        let mut emitted = 0u64;
        for s in server.running.iter_mut() {
            if s.prefill_left == 0 {
                context_read += s.context;
                s.emits = true;
                emitted += 1;
            } else {
                let chunk = s.prefill_left.min(left);
                let offset = s.context - s.prefill_left;
                left -= chunk;
                prefill_tokens += chunk;
                prefill_pairs += chunk * offset + chunk * (chunk + 1) / 2;
                s.prefill_left -= chunk;
                if s.prefill_left == 0 && chunk > 0 {
                    server.prefilling -= 1;
                    s.emits = true;
                    emitted += 1;
                }
            }
        }
        let decode_ms = if decoding >= 1 {
            // (The plain path has no attention term: adding its 0 would change nothing.)
            let batch = cfg.decode_batch_ms(decoding as u32);
            if PLAIN { batch } else { batch + cfg.attention_ms_per_context_token * f(context_read) }
        } else {
            0.0
        };
        let duration = cfg.overhead_ms
            + if prefill_tokens > 0 { cfg.prefill_overhead_ms } else { 0.0 }
            + cfg.prefill_ms_per_token * f(prefill_tokens)
            + cfg.prefill_attention_ms_per_context_token * f(prefill_pairs)
            + decode_ms;
        let duration = if !PLAIN && contains(&server.slow, b0) {
            duration * (1.0 / self.speed)
        } else {
            duration
        };
        let end = b0 + duration;
        let busy = (b0, duration, server.running.len());
        server.t_ms = end;
        let finished = &mut self.finished;
        finished.clear();
        keep_running(
            &mut server.running,
            finished,
            |s| s.emits && s.w.generated + 1 >= s.output(),
            |s| {
                if std::mem::take(&mut s.emits) {
                    s.w.generated += 1;
                    s.context += 1;
                    if s.w.first_token_ms.is_nan() {
                        s.w.first_token_ms = end;
                    }
                }
            },
        );
        server.kv_used += emitted;
        for s in finished.iter() {
            server.kv_used -= s.context;
        }
        busy
    }

    /// Iterations of a pure-decode stretch of `decoding` sequences on `server`, from its
    /// boundary: up to the first completion, the point where the KV cache is full, and the
    /// last iteration that starts before `now` and before the device's next outage. `None`
    /// when not even one fits (the KV cache is full: one plain iteration preempts).
    #[inline]
    fn jump_length<const PLAIN: bool>(
        cfg: &Continuous,
        server: &Server,
        decoding: u64,
        Limits { now, speed, closed }: Limits,
    ) -> Option<Jump> {
        let b0 = server.t_ms;
        // Every running sequence decodes, so their contexts sum to the KV tokens in use.
        // (The plain path has no attention term: adding its 0 would change nothing.)
        let mut s0 = if PLAIN {
            cfg.overhead_ms + cfg.decode_batch_ms(decoding as u32)
        } else {
            cfg.decode_step_ms(decoding as u32, f(server.kv_used))
        };
        let mut a = if PLAIN { 0.0 } else { cfg.attention_ms_per_context_token * f(decoding) };
        // Training: the stretch runs at one speed up to the next edge of a training interval.
        let mut next_edge = f64::INFINITY;
        if !PLAIN && !server.slow.is_empty() {
            let i = server.slow.partition_point(|&(_, end)| end <= b0);
            if let Some(&(start, end)) = server.slow.get(i) {
                if start <= b0 {
                    s0 *= 1.0 / speed;
                    a *= 1.0 / speed;
                    next_edge = end;
                } else {
                    next_edge = start;
                }
            }
        }
        let mut to_complete = u32::MAX;
        for s in &server.running {
            to_complete = to_complete.min(s.remaining());
        }
        let to_complete = u64::from(to_complete);
        let room = cfg.kv_cache_tokens - server.kv_used;
        let k_max = if to_complete * decoding <= room { to_complete } else { room / decoding };
        if k_max == 0 {
            return None;
        }
        // Iterations that start before `now` (and before the device's next outage): iteration
        // j starts at b0 + span(j − 1), where span(k) = k·s0 + a·k(k−1)/2 is non-decreasing.
        // (On the plain path a = 0: k·s0 + 0 is k·s0.)
        let span = |k: u64| if PLAIN { f(k) * s0 } else { span_ms(k, s0, a) };
        let next_down = if PLAIN || server.busy_down.is_empty() {
            f64::INFINITY
        } else {
            server.busy_down[server.busy_down.partition_point(|&(start, _)| start <= b0)..]
                .first()
                .map_or(f64::INFINITY, |&(start, _)| start)
        };
        // Draining: admission resumes where the interval ends.
        let reopens = if closed { next_up(&server.down, b0) } else { f64::INFINITY };
        // (On the plain path the other limits are infinite: `now`, never NaN, is the minimum.)
        let limit = if PLAIN { now } else { now.min(next_down).min(next_edge).min(reopens) };
        if !limit.is_finite() || (s0 <= 0.0 && a <= 0.0) {
            return Some(Jump { k: k_max, duration_ms: span(k_max) });
        }
        let gap = limit - b0;
        if span(k_max - 1) < gap {
            return Some(Jump { k: k_max, duration_ms: span(k_max) });
        }
        // The largest m with span(m) < gap, plus 1 (fewer than k_max).
        let guess = if !PLAIN && a > 0.0 {
            // a/2·m² + (s0 − a/2)·m − gap = 0
            let (qa, qb) = (a / 2.0, s0 - a / 2.0);
            (-qb + (qb * qb + 4.0 * qa * gap).sqrt()) / (2.0 * qa)
        } else {
            gap / s0
        };
        // Truncation is the floor of a non-negative guess; NaN and negatives give 0.
        let mut m = if guess >= 0.0 { guess.min(1e18) as u64 } else { 0 };
        // The guess is off by at most a rounding step or two, so the search starts with one
        // plain check (as one loop, the compiler vectorized it, at a cost of some 70
        // instructions per call for a loop that almost never runs).
        if m > 0 && span(m) >= gap {
            m -= 1;
            while m > 0 && span(m) >= gap {
                m -= 1;
            }
        }
        // span(m + 1) is the stretch's duration: computed once.
        let mut duration_ms = span(m + 1);
        while duration_ms < gap {
            m += 1;
            duration_ms = span(m + 1);
        }
        // m + 1 < k_max: span is non-decreasing (s0, a ≥ 0) and span(k_max − 1) ≥ gap here.
        debug_assert!(m + 1 < k_max);
        Some(Jump { k: m + 1, duration_ms })
    }

    /// Runs `jump.k` decode iterations of every running sequence at once.
    #[inline(always)]
    fn jump(
        server: &mut Server,
        Jump { k, duration_ms: duration }: Jump,
        decoding: u64,
        finished: &mut Vec<Seq>,
    ) -> (f64, f64, usize) {
        let b0 = server.t_ms;
        let end = b0 + duration;
        server.kv_used += k * decoding;
        server.t_ms = end;
        let kk = k as u32;
        finished.clear();
        keep_running(
            &mut server.running,
            finished,
            |s| s.w.generated + kk >= s.output(),
            |s| {
                s.w.generated += kk;
                s.context += k;
            },
        );
        for s in finished.iter() {
            server.kv_used -= s.context;
        }
        (b0, duration, decoding as usize)
    }
}

/// Moves the running sequences that `finishes` says complete in this step to `finished`,
/// keeping both in admission order, and applies `update` to every sequence where it lands.
/// (A plain loop: with a handful of sequences, `Vec::retain_mut`'s general machinery cost more
/// than the work. A sequence is copied before it is updated, and only when it moves: copying
/// one just after writing a field of it would stall the load on store forwarding.)
#[inline(always)]
fn keep_running(
    running: &mut Vec<Seq>,
    finished: &mut Vec<Seq>,
    finishes: impl Fn(&Seq) -> bool,
    mut update: impl FnMut(&mut Seq),
) {
    let mut kept = 0;
    for j in 0..running.len() {
        if finishes(&running[j]) {
            finished.push(running[j]);
            update(finished.last_mut().expect("just pushed"));
        } else {
            if kept != j {
                running[kept] = running[j];
            }
            update(&mut running[kept]);
            kept += 1;
        }
    }
    running.truncate(kept);
}

/// A closed-form stretch of `k` identical decode iterations and their total duration.
#[derive(Debug, Clone, Copy)]
struct Jump {
    k: u64,
    duration_ms: f64,
}

/// What ends a closed-form jump besides completions and the KV cache: the next arrival
/// (`now`), and, when the server is draining (`closed`), the end of that interval.
#[derive(Debug, Clone, Copy)]
struct Limits {
    now: f64,
    speed: f64,
    closed: bool,
}

/// Duration of `k` decode iterations whose first takes `s0` and each later one `a` more:
/// `k·s0 + a·k(k−1)/2`.
#[inline(always)]
fn span_ms(k: u64, s0: f64, a: f64) -> f64 {
    let k = f(k);
    k * s0 + a * k * (k - 1.0) / 2.0
}

/// A token count as f64, exact below 2⁵³. (Through i64: x86-64 converts a signed integer in one
/// instruction, an unsigned one in several, and this runs several times per scheduler step.)
#[inline(always)]
fn f(n: u64) -> f64 {
    n as i64 as f64
}

impl Seq {
    fn completed(&self, end_ms: f64) -> Completed {
        Completed {
            req: self.w.req,
            sent_ms: self.w.sent_ms,
            admitted_ms: if self.w.admitted_ms.is_nan() { end_ms } else { self.w.admitted_ms },
            first_token_ms: if self.w.first_token_ms.is_nan() {
                end_ms
            } else {
                self.w.first_token_ms
            },
            end_ms,
        }
    }
}

/// The servers' events, recorded.
struct Recording<'a> {
    rec: &'a mut Recorder,
    mask: u64,
    slots: usize,
}

impl Sink for Recording<'_> {
    /// A continuous server is as busy as the share of its slots in use: it counts
    /// `running / slots` of each iteration as busy time (so utilization, its peak hour and a
    /// capacity policy see slot occupancy), and `running` requests in service.
    #[inline(always)]
    fn busy(&mut self, start_ms: f64, duration_ms: f64, running: usize) {
        // (Counts as f64 through i64: one instruction each, where usize takes several.)
        let (running, slots) = (running as i64 as f64, self.slots as i64 as f64);
        self.rec.busy(start_ms, duration_ms * running / slots, self.slots)
    }

    #[inline(always)]
    fn done(&mut self, c: Completed) {
        let tokens = c.req.output_tokens.max(1);
        let timing = Timing {
            wait_ms: c.admitted_ms - c.sent_ms,
            latency_ms: c.end_ms - c.sent_ms,
            ttft_ms: c.first_token_ms - c.sent_ms,
            tpot_ms: (tokens >= 2).then(|| (c.end_ms - c.first_token_ms) / f64::from(tokens - 1)),
        };
        self.rec.done(&c.req, c.sent_ms, timing, self.mask)
    }
}

/// Continuous-batching servers and their waiting room.
#[derive(Debug)]
pub(crate) struct ContinuousStation {
    pub(crate) servers: ContinuousServers,
    /// `max_num_seqs` of each server.
    pub(crate) slots: usize,
    pub(crate) capacity: Option<usize>,
    /// Preemptions already handed to the recorder.
    pub(crate) preemptions_recorded: u64,
}

impl ContinuousStation {
    /// Runs the servers to `now`, recording what finished and the busy time.
    pub(crate) fn advance(&mut self, now: f64, rec: &mut Recorder) {
        let mask = rec.mask;
        let mut sink = Recording { rec, mask, slots: self.slots };
        self.servers.advance(now, &mut sink);
        if self.servers.preemptions > self.preemptions_recorded {
            rec.counts.preemptions += self.servers.preemptions - self.preemptions_recorded;
            self.preemptions_recorded = self.servers.preemptions;
        }
    }

    /// Queues `req`, arriving now and first sent at `sent_ms`, unless it can never fit or the
    /// waiting room is full. Call [`ContinuousStation::advance`] to its time first.
    #[inline]
    pub(crate) fn accept(&mut self, req: Request, sent_ms: f64, rec: &mut Recorder) {
        if !self.servers.fits(&req) {
            rec.fail(&req, sent_ms, ErrorKind::TooLarge, req.t_ms);
        } else if self.capacity.is_some_and(|cap| self.servers.waiting() >= cap) {
            rec.fail(&req, sent_ms, ErrorKind::QueueFull, req.t_ms);
        } else {
            self.servers.enqueue(req, sent_ms);
        }
    }
}
