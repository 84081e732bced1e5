//! Arrival streams: a base point process in *operational time*, mapped to real time by the
//! traffic's intensity profile.
//!
//! Every pattern is a base process of the configured mean rate — Poisson, a Gamma renewal
//! process, a two-state Markov-modulated Poisson process (MMPP), or a replayed trace — and an
//! optional time change `t = Λ⁻¹(u)` with `Λ(t) = ∫₀ᵗ m(s) ds`. The multiplier `m` is constant
//! within each hour: the diurnal weight of the hour of day (mean 1) times the growth factor
//! `(1 + g)^{(h + ½)/730}` at the middle of hour `h`. For a Poisson base this is exactly the
//! non-homogeneous Poisson process of rate `λ·m(t)` (Çinlar's time-change theorem); for the
//! other bases it stretches and compresses their gaps the same way.

use std::sync::Arc;

use lcsim_core::Dist;
use lcsim_core::scenario::{Arrivals, MS_PER_HOUR, TokenSource, Traffic, intensity_multiplier};
use lcsim_core::trace::Trace;
use lcsim_core::trace::TraceEnd;
use rand::RngExt;
use rand_distr::{Distribution, Exp1, Gamma};

use crate::random::{Sampler, SimRng, exp1, token_count};
use crate::token_table::{self, TokenTable};

/// One request: arrival time (ms since the start of the replication) and token counts
/// (0 when the scenario configures none). 24 bytes: the engine moves billions of these.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// When it reaches the station (a retry: when it is sent again).
    pub t_ms: f64,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    /// Set by a hybrid deployment: which of its requests this is (low 31 bits) and whether it
    /// must not leave the premises (top bit).
    pub tag: u32,
}

impl Request {
    const PRIVATE: u32 = 1 << 31;

    pub fn new(t_ms: f64, prompt_tokens: u32, output_tokens: u32) -> Self {
        Request { t_ms, prompt_tokens, output_tokens, tag: 0 }
    }

    /// Carries personal data: hybrids never route it to the cloud.
    pub fn private(&self) -> bool {
        self.tag & Self::PRIVATE != 0
    }

    /// The hybrid job number set by [`Request::tagged`].
    pub fn job(&self) -> u32 {
        self.tag & !Self::PRIVATE
    }

    pub fn tagged(self, t_ms: f64, job: u32, private: bool) -> Self {
        Request { t_ms, tag: job | if private { Self::PRIVATE } else { 0 }, ..self }
    }
}

#[derive(Debug)]
enum Base {
    Poisson { mean_gap_ms: f64 },
    Gamma(Gamma<f64>),
    Mmpp { mean_gap_ms: [f64; 2], mean_dwell_ms: [f64; 2], state: usize, switch_at: f64 },
    Trace { trace: Trace, scale: f64, at_end: TraceEnd, index: usize, offset_ms: f64 },
}

/// Maps operational time to real time, hour by hour.
#[derive(Debug)]
struct Clock {
    weights: Option<[f64; 24]>,
    growth_per_month: f64,
    level: f64,
    first_hour: u64,
    hour: u64,
    u_at_hour_start: f64,
    multiplier: f64,
}

impl Clock {
    fn multiplier(&self, hour: u64) -> f64 {
        self.level * intensity_multiplier(self.weights.as_ref(), self.growth_per_month, hour)
    }

    /// Real time of operational time `u`, from the first hour; `u` must not decrease. Past
    /// `end_ms` the answer is infinite: the walk stops there, however far `u` lies (a rate of
    /// 1e-15 per second puts the first arrival 1e15 hours away).
    #[inline]
    fn real_time(&mut self, u: f64, end_ms: f64) -> f64 {
        while u >= self.u_at_hour_start + self.multiplier * MS_PER_HOUR {
            if (self.hour - self.first_hour) as f64 * MS_PER_HOUR >= end_ms {
                return f64::INFINITY;
            }
            self.u_at_hour_start += self.multiplier * MS_PER_HOUR;
            self.hour += 1;
            self.multiplier = self.multiplier(self.hour);
        }
        (self.hour - self.first_hour) as f64 * MS_PER_HOUR
            + (u - self.u_at_hour_start) / self.multiplier
    }
}

/// Which stretch of traffic a stream produces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Hour (since the start of the horizon) at which the stream starts; arrival times are
    /// relative to it.
    pub start_hour: u64,
    /// Multiplier of the arrival intensity (a month's traffic level noise); 1 = none.
    pub level: f64,
    /// Arrivals at or after this time (ms from the start) are not generated.
    pub end_ms: f64,
}

#[derive(Debug)]
enum Tokens {
    None,
    Sampled(Sampler),
    /// A lognormal's rounded counts, drawn from their table.
    Table(Arc<TokenTable>),
    Trace,
}

impl Tokens {
    fn new(source: &TokenSource) -> Self {
        match source {
            TokenSource::None => Tokens::None,
            // (A cv below about 1e-8 rounds sigma to 0: every count is then exp(mu), sampled.)
            TokenSource::Dist(Dist::LogNormal { mu, sigma }) if *sigma > 0.0 => {
                Tokens::Table(token_table::lognormal(*mu, *sigma))
            }
            TokenSource::Dist(d) => Tokens::Sampled(Sampler::new(d)),
            TokenSource::Trace => Tokens::Trace,
        }
    }
}

#[derive(Debug)]
pub struct ArrivalStream {
    base: Base,
    clock: Option<Clock>,
    prompt: Tokens,
    output: Tokens,
    rng: SimRng,
    /// Operational time of the last arrival.
    u_ms: f64,
    end_ms: f64,
    /// Operational time at `end_ms`: a modulated process stops switching states past it (with
    /// a tiny rate, the next arrival may lie 1e15 switches away).
    u_end_ms: f64,
    done: bool,
}

impl ArrivalStream {
    pub fn new(traffic: &Traffic, window: Window, rng: SimRng) -> Self {
        let end_ms = window.end_ms;
        let base = match &traffic.arrivals {
            Arrivals::Poisson { rate_per_s } => Base::Poisson { mean_gap_ms: 1000.0 / rate_per_s },
            Arrivals::GammaRenewal { rate_per_s, cv } => {
                let shape = 1.0 / (cv * cv);
                let scale = 1000.0 / rate_per_s / shape;
                Base::Gamma(Gamma::new(shape, scale).expect("validated: positive rate and cv"))
            }
            Arrivals::Mmpp { rates_per_s, mean_dwell_s } => Base::Mmpp {
                mean_gap_ms: [1000.0 / rates_per_s[0], 1000.0 / rates_per_s[1]],
                mean_dwell_ms: [mean_dwell_s[0] * 1000.0, mean_dwell_s[1] * 1000.0],
                state: 0,
                switch_at: f64::NAN,
            },
            Arrivals::Trace { trace, time_scale, at_end } => Base::Trace {
                trace: trace.clone(),
                scale: *time_scale,
                at_end: *at_end,
                index: 0,
                offset_ms: 0.0,
            },
        };
        let modulated = traffic.hourly_weights.is_some()
            || traffic.growth_per_month != 0.0
            || window.start_hour != 0
            || window.level != 1.0;
        let clock = modulated.then(|| {
            let mut clock = Clock {
                weights: traffic.hourly_weights,
                growth_per_month: traffic.growth_per_month,
                level: window.level,
                first_hour: window.start_hour,
                hour: window.start_hour,
                u_at_hour_start: 0.0,
                multiplier: 0.0,
            };
            clock.multiplier = clock.multiplier(window.start_hour);
            clock
        });
        let u_end_ms = match &clock {
            None => end_ms,
            Some(c) if matches!(base, Base::Mmpp { .. }) => {
                let hours = (end_ms / MS_PER_HOUR).ceil() as u64;
                (c.first_hour..c.first_hour + hours).map(|h| c.multiplier(h) * MS_PER_HOUR).sum()
            }
            Some(_) => f64::INFINITY,
        };
        let mut stream = ArrivalStream {
            base,
            clock,
            prompt: Tokens::new(&traffic.prompt_tokens),
            output: Tokens::new(&traffic.output_tokens),
            rng,
            u_ms: 0.0,
            end_ms,
            u_end_ms,
            done: false,
        };
        if let Base::Mmpp { mean_dwell_ms, state, switch_at, .. } = &mut stream.base {
            // Start in the stationary state distribution: P(state k) ∝ mean dwell time in k.
            let p_high = mean_dwell_ms[1] / (mean_dwell_ms[0] + mean_dwell_ms[1]);
            *state = usize::from(stream.rng.random::<f64>() < p_high);
            let e: f64 = stream.rng.sample(Exp1);
            *switch_at = e * mean_dwell_ms[*state];
        }
        stream
    }

    /// Next arrival in operational time, with its trace row if any; `None` when a trace stops.
    #[inline]
    fn next_base(&mut self) -> Option<(f64, Option<usize>)> {
        let rng = &mut self.rng;
        match &mut self.base {
            Base::Poisson { mean_gap_ms } => Some((self.u_ms + *mean_gap_ms * exp1(rng), None)),
            Base::Gamma(g) => Some((self.u_ms + g.sample(rng), None)),
            Base::Mmpp { mean_gap_ms, mean_dwell_ms, state, switch_at } => {
                // Competing exponentials; memorylessness lets us redraw after a switch.
                let mut u = self.u_ms;
                loop {
                    if u > self.u_end_ms {
                        // Past the end: any time from here on ends the stream.
                        return Some((u, None));
                    }
                    let e: f64 = rng.sample(Exp1);
                    let candidate = u + mean_gap_ms[*state] * e;
                    if candidate < *switch_at {
                        return Some((candidate, None));
                    }
                    u = *switch_at;
                    *state = 1 - *state;
                    let e: f64 = rng.sample(Exp1);
                    *switch_at = u + mean_dwell_ms[*state] * e;
                }
            }
            Base::Trace { trace, scale, at_end, index, offset_ms } => {
                if *index == trace.len() {
                    match at_end {
                        TraceEnd::Stop => return None,
                        TraceEnd::Loop => {
                            *offset_ms += (trace.span_ms() + trace.mean_gap_ms()) * *scale;
                            *index = 0;
                        }
                    }
                }
                let row = *index;
                *index += 1;
                Some((*offset_ms + trace.arrival_ms[row] * *scale, Some(row)))
            }
        }
    }

    /// The prompt's (`output` false) or the answer's token count of the request at trace row
    /// `row` (`None` unless replaying a trace).
    #[inline(always)]
    fn tokens(&mut self, output: bool, row: Option<usize>) -> u32 {
        match if output { &self.output } else { &self.prompt } {
            Tokens::Table(t) => t.sample(&mut self.rng),
            Tokens::None => 0,
            Tokens::Sampled(s) => token_count(s.sample(&mut self.rng)),
            Tokens::Trace => match (&self.base, row) {
                (Base::Trace { trace, .. }, Some(r)) if output => trace.output_tokens[r],
                (Base::Trace { trace, .. }, Some(r)) => trace.prompt_tokens[r],
                _ => 0,
            },
        }
    }

    /// Appends up to `max` arrivals before the end time to `buf`. Returns false once the
    /// stream is exhausted.
    pub fn fill(&mut self, buf: &mut Vec<Request>, max: usize) -> bool {
        // Stationary Poisson arrivals: a loop with nothing else to decide per request.
        if let (Base::Poisson { mean_gap_ms }, None) = (&self.base, &self.clock) {
            let gap_ms = *mean_gap_ms;
            match (&self.prompt, &self.output) {
                (Tokens::None, Tokens::None) => {
                    return self.fill_poisson(buf, max, gap_ms, |_| (0, 0));
                }
                (Tokens::Table(p), Tokens::Table(o)) => {
                    let (p, o) = (p.clone(), o.clone());
                    return self
                        .fill_poisson(buf, max, gap_ms, |rng| (p.sample(rng), o.sample(rng)));
                }
                _ => {}
            }
        }
        let has_tokens =
            !matches!(self.prompt, Tokens::None) || !matches!(self.output, Tokens::None);
        // Both counts from tables (lognormal prompts and answers): matched once per chunk.
        let tables = match (&self.prompt, &self.output) {
            (Tokens::Table(p), Tokens::Table(o)) => Some((p.clone(), o.clone())),
            _ => None,
        };
        while !self.done && buf.len() < max {
            let Some((u, row)) = self.next_base() else {
                self.done = true;
                break;
            };
            self.u_ms = u;
            let t_ms = match &mut self.clock {
                Some(clock) => clock.real_time(u, self.end_ms),
                None => u,
            };
            if t_ms >= self.end_ms {
                self.done = true;
                break;
            }
            let (prompt_tokens, output_tokens) = match &tables {
                Some((p, o)) => (p.sample(&mut self.rng), o.sample(&mut self.rng)),
                None if has_tokens => (self.tokens(false, row), self.tokens(true, row)),
                None => (0, 0),
            };
            buf.push(Request::new(t_ms, prompt_tokens, output_tokens));
        }
        !self.done
    }

    /// [`ArrivalStream::fill`] for stationary Poisson arrivals, mean gap `gap_ms`, with token
    /// counts from `tokens`: the same draws in the same order as the general loop.
    #[inline(always)]
    fn fill_poisson(
        &mut self,
        buf: &mut Vec<Request>,
        max: usize,
        gap_ms: f64,
        mut tokens: impl FnMut(&mut SimRng) -> (u32, u32),
    ) -> bool {
        let (mut u_ms, end_ms, mut done) = (self.u_ms, self.end_ms, self.done);
        // A copy of the generator's state, so it stays in registers through the loop.
        let mut rng = self.rng.clone();
        while !done && buf.len() < max {
            // Room for up to 64 Ki requests at a time, written in place and cut back after.
            let first = buf.len();
            buf.resize(first + (max - first).min(1 << 16), Request::new(0.0, 0, 0));
            let mut written = 0;
            for slot in &mut buf[first..] {
                u_ms += gap_ms * exp1(&mut rng);
                if u_ms >= end_ms {
                    done = true;
                    break;
                }
                let (prompt_tokens, output_tokens) = tokens(&mut rng);
                *slot = Request::new(u_ms, prompt_tokens, output_tokens);
                written += 1;
            }
            buf.truncate(first + written);
        }
        (self.u_ms, self.done, self.rng) = (u_ms, done, rng);
        !done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::stream;
    use lcsim_core::Dist;
    use lcsim_core::scenario::HOURS_PER_MONTH;

    fn traffic(arrivals: Arrivals) -> Traffic {
        Traffic {
            arrivals,
            hourly_weights: None,
            growth_per_month: 0.0,
            level_noise_cv: 0.0,
            prompt_tokens: TokenSource::None,
            output_tokens: TokenSource::None,
        }
    }

    fn all(traffic: &Traffic, end_ms: f64, seed: u64) -> Vec<Request> {
        let window = Window { start_hour: 0, level: 1.0, end_ms };
        let mut s = ArrivalStream::new(traffic, window, stream(seed, 0, 0));
        let mut out = Vec::new();
        while s.fill(&mut out, usize::MAX) {}
        out
    }

    /// Count in a window of a Poisson-like stream: mean λT, checked within 4 standard errors
    /// (the count of a Poisson process has variance λT).
    fn assert_count(n: usize, expected: f64, variance: f64) {
        let se = variance.sqrt();
        assert!((n as f64 - expected).abs() <= 4.0 * se, "count {n}, expected {expected} ± {se}");
    }

    #[test]
    fn poisson_rate_and_order() {
        let t = traffic(Arrivals::Poisson { rate_per_s: 50.0 });
        let reqs = all(&t, 3_600_000.0, 1);
        assert!(reqs.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        assert_count(reqs.len(), 180_000.0, 180_000.0);
    }

    #[test]
    fn diurnal_hours_follow_weights() {
        let mut t = traffic(Arrivals::Poisson { rate_per_s: 10.0 });
        let mut w = [0.5; 24];
        w[14] = 12.5; // mean (23·0.5 + 12.5)/24 = 1
        t.hourly_weights = Some(w);
        let reqs = all(&t, 10.0 * 24.0 * MS_PER_HOUR, 2);
        let in_hour =
            |h: u64| reqs.iter().filter(|r| (r.t_ms / MS_PER_HOUR) as u64 % 24 == h).count();
        assert_count(in_hour(14), 10.0 * 3600.0 * 12.5 * 10.0, 10.0 * 3600.0 * 12.5 * 10.0);
        assert_count(in_hour(3), 10.0 * 3600.0 * 0.5 * 10.0, 10.0 * 3600.0 * 0.5 * 10.0);
    }

    /// A lognormal whose sigma is 0 (a `cv` below about 1e-8 rounds it there) gives every
    /// request `round(exp(mu))` tokens; with `exp(mu)` at a rounding boundary the table's
    /// standardized bounds would be 0/0, so such a lognormal is sampled directly.
    #[test]
    fn degenerate_lognormal_tokens_are_exp_mu() {
        let mut t = traffic(Arrivals::Poisson { rate_per_s: 50.0 });
        let mu = 2.5f64.ln();
        t.prompt_tokens = TokenSource::Dist(Dist::LogNormal { mu, sigma: 0.0 });
        t.output_tokens = TokenSource::Dist(Dist::LogNormal { mu: 1.0, sigma: 0.5 });
        let reqs = all(&t, 60_000.0, 4);
        assert!(reqs.len() > 1000);
        assert!(reqs.iter().all(|r| r.prompt_tokens == token_count(mu.exp())));
        assert!(reqs.iter().any(|r| r.output_tokens != reqs[0].output_tokens));
    }

    #[test]
    fn growth_compounds_per_month() {
        let mut t = traffic(Arrivals::Poisson { rate_per_s: 1.0 });
        t.growth_per_month = 1.0; // doubling each month
        let reqs = all(&t, 2.0 * HOURS_PER_MONTH * MS_PER_HOUR, 3);
        let month = |m: f64| {
            reqs.iter().filter(|r| (r.t_ms / MS_PER_HOUR / HOURS_PER_MONTH).floor() == m).count()
        };
        // ∫ 2^(h/730) over a month = 730/ln2 · (2^(m+1) − 2^m) hours of unit rate (hourly steps
        // at mid-hour differ from this by < 1e-6 relative).
        let base = 3600.0 * HOURS_PER_MONTH / std::f64::consts::LN_2;
        assert_count(month(0.0), base, base);
        assert_count(month(1.0), 2.0 * base, 2.0 * base);
    }

    #[test]
    fn window_starts_at_its_hour_and_level() {
        let mut t = traffic(Arrivals::Poisson { rate_per_s: 10.0 });
        let mut w = [0.0; 24];
        w[5] = 24.0;
        t.hourly_weights = Some(w);
        let window = Window { start_hour: 24 * 7 + 5, level: 2.0, end_ms: 2.0 * MS_PER_HOUR };
        let mut s = ArrivalStream::new(&t, window, stream(8, 0, 0));
        let mut reqs = Vec::new();
        while s.fill(&mut reqs, usize::MAX) {}
        // Only the window's first hour (hour 5 of a day) has traffic, at 10 · 24 · 2 per second.
        assert!(reqs.iter().all(|r| r.t_ms < MS_PER_HOUR));
        assert_count(reqs.len(), 480.0 * 3600.0, 480.0 * 3600.0);
    }

    #[test]
    fn gamma_renewal_rate() {
        let t = traffic(Arrivals::GammaRenewal { rate_per_s: 20.0, cv: 3.0 });
        let reqs = all(&t, 3_600_000.0, 4);
        // A renewal count over T has variance ≈ λT·cv² (Cox, Renewal Theory, §4.5).
        assert_count(reqs.len(), 72_000.0, 72_000.0 * 9.0);
    }

    #[test]
    fn mmpp_mean_rate() {
        let t = traffic(Arrivals::Mmpp { rates_per_s: [2.0, 50.0], mean_dwell_s: [60.0, 20.0] });
        let reqs = all(&t, 100.0 * MS_PER_HOUR, 5);
        let (rates, dwell): ([f64; 2], [f64; 2]) = ([2.0, 50.0], [60.0, 20.0]);
        let mean_rate = (rates[0] * dwell[0] + rates[1] * dwell[1]) / (dwell[0] + dwell[1]);
        // Asymptotic count variance of a 2-state MMPP with switching rates r₀ = 1/dwell₀,
        // r₁ = 1/dwell₁: Var N(t)/t → λ̄ + 2(λ₀ − λ₁)² r₀ r₁ / (r₀ + r₁)³
        // (Fischer & Meier-Hellstern, "The MMPP cookbook", 1993, §4).
        let (r0, r1) = (1.0 / dwell[0], 1.0 / dwell[1]);
        let per_s = mean_rate + 2.0 * (rates[0] - rates[1]).powi(2) * r0 * r1 / (r0 + r1).powi(3);
        let t_s = 100.0 * 3600.0;
        assert_count(reqs.len(), mean_rate * t_s, per_s * t_s);
    }

    #[test]
    fn trace_replays_loops_and_scales() {
        let trace = lcsim_core::trace::parse_trace(
            "TIMESTAMP,ContextTokens,GeneratedTokens\n0,10,1\n1,20,2\n3,30,3",
        )
        .unwrap();
        let mut t = traffic(Arrivals::Trace {
            trace: trace.clone(),
            time_scale: 0.5,
            at_end: TraceEnd::Loop,
        });
        t.prompt_tokens = TokenSource::Trace;
        t.output_tokens = TokenSource::Trace;
        let reqs = all(&t, 4000.0, 6);
        let times: Vec<f64> = reqs.iter().map(|r| r.t_ms).collect();
        // span 3 s + mean gap 1.5 s = 4.5 s per loop, halved.
        assert_eq!(times, vec![0.0, 500.0, 1500.0, 2250.0, 2750.0, 3750.0]);
        assert_eq!(reqs[3].prompt_tokens, 10);
        assert_eq!(reqs[5].output_tokens, 3);
        t.arrivals = Arrivals::Trace { trace, time_scale: 1.0, at_end: TraceEnd::Stop };
        assert_eq!(all(&t, 1e9, 6).len(), 3);
    }

    #[test]
    fn sampled_tokens_are_at_least_one() {
        let mut t = traffic(Arrivals::Poisson { rate_per_s: 100.0 });
        t.prompt_tokens = TokenSource::Dist(Dist::Exponential { mean: 0.3 });
        let reqs = all(&t, 10_000.0, 7);
        assert!(reqs.iter().all(|r| r.prompt_tokens >= 1 && r.output_tokens == 0));
    }
}
