//! `lcsim calibrate server`: the continuous-batching step model of a running server.
//!
//! 1. **Client share.** `GET /health` round trips, median: what HTTP costs with no model work.
//! 2. **Slots** from `/props`, or, where the server has none, the concurrency at which output
//!    throughput stops growing (less than 5 % more when concurrency doubles).
//! 3. **Prefill.** One request at a time, prompts of several lengths, `max_tokens = 2`. The
//!    prefill iteration takes `overhead + e·p + q·p(p+1)/2` for a prompt of `p` tokens (`q`:
//!    prefill attention), fitted to the server's own prefill time (`timings.prompt_ms`) where
//!    it reports one, else to TTFT. The rest of TTFT (median of TTFT − server prefill) is the
//!    request's overhead outside the iterations: HTTP, parsing, the first chunk.
//! 4. **Decode.** Closed loop at concurrency 1, 2, …, slots, fixed `max_tokens` with
//!    `ignore_eos`, all sequences started together so that they decode in lockstep; plus one
//!    level with a long prompt. The median inter-token gap of each level is one iteration of
//!    `b` sequences: `overhead + decode(b) + attention·context`. The two single-sequence
//!    levels give `attention`; each level then gives `decode(b)` (`decode_ms_by_batch`, since
//!    real kernels are not linear in `b`), and the line through them gives `decode_base` and
//!    `decode_per_batch` (its R² says how linear the batch curve is).

use std::time::Instant;

use lcsim_core::profile::{
    ErrorCounts, Provenance, ServerDecodePoint, ServerFit, ServerInfo, ServerPrefillPoint,
    ServerProfile,
};
use lcsim_core::stats::median;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::cloud::ProbeError;
use crate::fit::least_squares;
use crate::server::client::{ServerClient, StreamRecord};

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Requests per prefill length and per decode level.
    pub runs: u32,
    /// Output tokens of each decode request.
    pub decode_tokens: u32,
    /// Largest concurrency tried when the server does not report its slots.
    pub max_concurrency: u32,
    pub seed: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Plan { runs: 3, decode_tokens: 64, max_concurrency: 32, seed: 1 }
    }
}

/// Why a calibration could not finish.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error("the server at {url} cannot be reached ({detail})")]
    Unreachable { url: String, detail: String },
    #[error("{0}")]
    Failed(String),
}

/// Prompt token ids: ordinary vocabulary entries (ids 1000–9999 exist in every tokenizer of
/// 10k tokens or more), random so that no two prompts share a cached prefix.
pub fn prompt_ids(rng: &mut Xoshiro256PlusPlus, len: u32) -> Vec<u32> {
    (0..len).map(|_| rng.random_range(1000..10_000)).collect()
}

/// Progress: `(what, done, of)`.
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

pub fn calibrate(
    client: &ServerClient,
    plan: Plan,
    provenance: Provenance,
    progress: Progress<'_>,
) -> Result<ServerProfile, CalibrateError> {
    let mut errors = ErrorCounts::default();
    let unreachable = |e: ProbeError| CalibrateError::Unreachable {
        url: client.base().to_string(),
        detail: describe(&e),
    };
    // 1. The client's share.
    let mut pings = Vec::new();
    for _ in 0..21 {
        pings.push(client.ping_ms().map_err(unreachable)?);
    }
    let http_rtt_ms = median(&pings[1..]);
    let props = client.props().unwrap_or_default();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(plan.seed);
    let clock = Instant::now();
    // One request first, kept apart: it warms the server and shows that streaming works.
    client.stream(&prompt_ids(&mut rng, 16), 4, clock).map_err(|e| match e {
        ProbeError::Connect | ProbeError::Dns => unreachable(e),
        other => CalibrateError::Failed(format!(
            "a first streamed completion failed: {} (is {} an OpenAI-compatible streaming server?)",
            describe(&other),
            client.base()
        )),
    })?;

    // Context a request may use: one slot's share of the KV cache.
    let (slots, slots_from) = match props.slots {
        Some(s) if s > 0 => (s, "reported"),
        _ => (saturation(client, plan, &mut rng, &mut errors, progress)?, "saturation"),
    };
    let slot_ctx = props.n_ctx.map_or(2048, |c| c / u64::from(slots)) as u32;

    // 3. Prefill.
    let lengths: Vec<u32> =
        [16u32, 64, 128, 256, 512, 1024, 1536].into_iter().filter(|&l| l + 8 <= slot_ctx).collect();
    let total = (lengths.len() as u32 * plan.runs) as u64;
    let mut prefill = Vec::new();
    for (i, &len) in lengths.iter().enumerate() {
        let mut runs = Vec::new();
        for r in 0..plan.runs {
            match client.stream(&prompt_ids(&mut rng, len), 2, clock) {
                Ok(rec) => runs.push(rec),
                Err(e) => count(&mut errors, &e),
            }
            progress("prefill", (i as u32 * plan.runs + r + 1) as u64, total);
        }
        if runs.is_empty() {
            continue;
        }
        let ttft = median(&runs.iter().map(StreamRecord::ttft_ms).collect::<Vec<_>>());
        let server: Vec<f64> = runs.iter().filter_map(|r| r.server_prompt_ms).collect();
        prefill.push(ServerPrefillPoint {
            prompt_tokens: runs[0].prompt_tokens,
            ttft_ms: ttft,
            server_prompt_ms: (!server.is_empty()).then(|| median(&server)),
            runs: runs.len() as u32,
        });
    }
    if prefill.len() < 2 {
        return Err(CalibrateError::Failed(format!(
            "too few prefill measurements succeeded ({} of {} lengths); failures: {}",
            prefill.len(),
            lengths.len(),
            summary(&errors)
        )));
    }
    // Prefill time = intercept + e·p + q·p(p+1)/2 (prefill attention), fitted to the server's
    // own prefill times where it reports them (they hold no HTTP), else to TTFT.
    let server_times = prefill.iter().all(|p| p.server_prompt_ms.is_some());
    let y: Vec<f64> = prefill
        .iter()
        .map(|p| if server_times { p.server_prompt_ms.unwrap_or(0.0) } else { p.ttft_ms })
        .collect();
    let prefill_fit =
        fit_prefill(&prefill.iter().map(|p| f64::from(p.prompt_tokens)).collect::<Vec<_>>(), &y);
    // The fixed part of a prefill iteration, and what the client waits beyond the server's
    // prefill (HTTP, parsing, the first chunk).
    let (prefill_intercept, request_overhead_ms) = if server_times {
        let outside: Vec<f64> =
            prefill.iter().map(|p| p.ttft_ms - p.server_prompt_ms.unwrap_or(0.0)).collect();
        (prefill_fit.coef[0].max(0.0), median(&outside).max(0.0))
    } else {
        (0.0, prefill_fit.coef[0].max(0.0))
    };

    // 4. Decode: levels of b = 1..slots with a short prompt, and b = 1 with a long one.
    let short = 32u32.min(slot_ctx / 4);
    let long = (slot_ctx.saturating_sub(plan.decode_tokens + 8)).min(1024).max(short);
    let mut levels: Vec<(u32, u32)> = (1..=slots).map(|b| (b, short)).collect();
    if long > short * 4 {
        levels.push((1, long));
    }
    let mut decode = Vec::new();
    for (i, &(b, prompt)) in levels.iter().enumerate() {
        let point = decode_level(client, plan, b, prompt, &mut rng, &mut errors, clock);
        progress("decode", i as u64 + 1, levels.len() as u64);
        decode.extend(point);
    }
    if decode.len() < 2 {
        return Err(CalibrateError::Failed(format!(
            "too few decode levels succeeded; failures: {}",
            summary(&errors)
        )));
    }
    // Attention from the two single-sequence levels (short and long prompt); the table is each
    // short level's gap less the overhead and attention; base and per-batch are its line.
    let short_levels: Vec<&ServerDecodePoint> = decode
        .iter()
        .filter(|d| (d.context_tokens / f64::from(d.running)) < f64::from(long))
        .collect();
    let one = short_levels.iter().find(|d| d.running == 1);
    let long_one = decode.iter().find(|d| d.running == 1 && d.context_tokens >= f64::from(long));
    let attention = match (one, long_one) {
        (Some(s), Some(l)) if l.context_tokens > s.context_tokens => {
            ((l.gap_ms - s.gap_ms) / (l.context_tokens - s.context_tokens)).max(0.0)
        }
        _ => 0.0,
    };
    // Each short level's gap less attention: one decode iteration of b sequences.
    let raw: Vec<(u32, f64)> =
        short_levels.iter().map(|d| (d.running, d.gap_ms - attention * d.context_tokens)).collect();
    if raw.is_empty() {
        return Err(CalibrateError::Failed(format!(
            "no decode level with a short prompt succeeded; failures: {}",
            summary(&errors)
        )));
    }
    let rows: Vec<Vec<f64>> = raw.iter().map(|(b, _)| vec![1.0, f64::from(*b)]).collect();
    let line = least_squares(&rows, &raw.iter().map(|(_, y)| *y).collect::<Vec<_>>());
    // The per-iteration overhead is what a prefill and a decode share when they run in one
    // iteration: prefill-only + decode-only − mixed. Without a mixed level, the decode line at
    // b = 0. Never more than the cheapest iteration seen (a prefill-only one, or a decode
    // level). What a prefill iteration costs beyond it is `prefill_overhead_ms`.
    let cheapest = raw.iter().map(|(_, y)| *y).fold(f64::INFINITY, f64::min);
    // A short prompt, so that the shared part is not lost in the noise of a long prefill; its
    // prefill-only iteration is the measured point of the same length.
    let shortest = &prefill[0];
    let mixed_prompt = shortest.prompt_tokens;
    let prefill_alone = shortest.server_prompt_ms.unwrap_or(shortest.ttft_ms - request_overhead_ms);
    let one_gap = short_levels.iter().find(|d| d.running == 1).map(|d| d.gap_ms);
    let ttft_short = prefill.first().map_or(0.0, |p| p.ttft_ms);
    let mixed = one_gap.and_then(|gap| {
        let lead = ttft_short + 10.0 * gap;
        mixed_iteration(client, plan, short, mixed_prompt, lead, &mut rng, &mut errors, clock)
    });
    progress("mixed", 1, 1);
    let shared = match (mixed, one_gap) {
        (Some(m), Some(gap)) => prefill_alone + gap - m,
        _ => line.coef[0],
    };
    let overhead_ms = shared.min(prefill_intercept).min(cheapest).max(0.0);
    let prefill_overhead_ms = (prefill_intercept - overhead_ms).max(0.0);
    // Every b from 1 to the largest measured, in order (a level that failed is interpolated
    // by the line).
    let b_max = raw.iter().map(|(b, _)| *b).max().unwrap_or(1);
    let decode_ms_by_batch: Vec<f64> = (1..=b_max)
        .map(|b| {
            raw.iter()
                .find(|(x, _)| *x == b)
                .map_or_else(|| line.coef[0] + line.coef[1] * f64::from(b), |(_, y)| *y)
                - overhead_ms
        })
        .map(|v| round(v.max(0.0)))
        .collect();

    Ok(ServerProfile {
        provenance,
        server: ServerInfo {
            url: client.base().to_string(),
            model: props.model,
            slots,
            slots_from: slots_from.into(),
            kv_cache_tokens: props.n_ctx,
            build: props.build,
            settings: props.settings,
            http_rtt_ms: round(http_rtt_ms),
        },
        fit: ServerFit {
            overhead_ms: round(overhead_ms),
            prefill_ms_per_token: round(prefill_fit.coef[1]),
            prefill_attention_ms_per_context_token: round(prefill_fit.coef[2]),
            prefill_overhead_ms: round(prefill_overhead_ms),
            mixed_prompt_tokens: mixed.map(|_| mixed_prompt),
            mixed_iteration_ms: mixed.map(round),
            decode_base_ms: round(line.coef[0] - overhead_ms),
            decode_ms_per_batch: round(line.coef[1]),
            attention_ms_per_context_token: round(attention),
            request_overhead_ms: round(request_overhead_ms),
            prefill_r2: round(prefill_fit.r2),
            prefill_max_rel_residual: round(prefill_fit.max_rel_residual),
            decode_r2: round(line.r2),
            decode_max_rel_residual: round(line.max_rel_residual),
        },
        decode_ms_by_batch,
        prefill,
        decode,
        errors,
    })
}

/// Fits `y = c₀ + c₁·p + c₂·p(p+1)/2` by least squares on *relative* residuals (each point
/// weighted by 1/y), so that a 16-token prompt counts as much as a 1536-token one: typical
/// requests are short, and plain least squares lets the long, slow points set the curve.
/// Slopes are kept non-negative: a negative quadratic term (noise on a nearly linear curve)
/// is dropped and the line refitted. R² and the largest relative residual are of `y` itself.
fn fit_prefill(p: &[f64], y: &[f64]) -> crate::fit::LinearFit {
    // Columns in thousands of tokens and millions of pairs, so that the normal equations are
    // well scaled; the coefficients are scaled back.
    let (k1, k2) = (1e-3, 1e-6);
    let fit = |quadratic: bool| {
        let rows: Vec<Vec<f64>> = p
            .iter()
            .zip(y)
            .map(|(&p, &y)| {
                let w = 1.0 / y.max(1e-9);
                let pairs = if quadratic { p * (p + 1.0) / 2.0 * k2 } else { 0.0 };
                vec![w, p * k1 * w, pairs * w]
            })
            .collect();
        let mut f = least_squares(&rows, &vec![1.0; y.len()]);
        f.coef[1] *= k1;
        f.coef[2] *= k2;
        f
    };
    let mut f = fit(true);
    if f.coef[2] < 0.0 && p.len() >= 3 {
        f = fit(false);
    }
    let predict = |p: f64| f.coef[0] + f.coef[1] * p + f.coef[2] * p * (p + 1.0) / 2.0;
    let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
    let ss_tot: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let ss_res: f64 = p.iter().zip(y).map(|(&p, v)| (v - predict(p)).powi(2)).sum();
    f.r2 = if ss_tot > 0.0 { 1.0 - ss_res / ss_tot } else { 1.0 };
    f.max_rel_residual =
        p.iter().zip(y).map(|(&p, v)| ((v - predict(p)) / v).abs()).fold(0.0, f64::max);
    f
}

/// `b` closed-loop clients, each making `plan.runs` requests of `prompt` tokens and
/// `plan.decode_tokens` outputs; every round starts all `b` together. The gap is the median of
/// every inter-token gap seen in the level.
fn decode_level(
    client: &ServerClient,
    plan: Plan,
    b: u32,
    prompt: u32,
    rng: &mut Xoshiro256PlusPlus,
    errors: &mut ErrorCounts,
    clock: Instant,
) -> Option<ServerDecodePoint> {
    let mut gaps = Vec::new();
    let mut records = Vec::new();
    let start = clock.elapsed().as_secs_f64() * 1000.0;
    for _ in 0..plan.runs {
        let prompts: Vec<Vec<u32>> = (0..b).map(|_| prompt_ids(rng, prompt)).collect();
        let outcomes: Vec<Result<StreamRecord, ProbeError>> = std::thread::scope(|s| {
            let handles: Vec<_> = prompts
                .iter()
                .map(|p| s.spawn(move || client.stream(p, plan.decode_tokens, clock)))
                .collect();
            handles.into_iter().map(|h| h.join().expect("a request does not panic")).collect()
        });
        for o in outcomes {
            match o {
                Ok(r) => {
                    gaps.extend(r.token_times_ms.windows(2).map(|w| w[1] - w[0]));
                    records.push(r);
                }
                Err(e) => count(errors, &e),
            }
        }
    }
    let wall_ms = clock.elapsed().as_secs_f64() * 1000.0 - start;
    if gaps.is_empty() {
        return None;
    }
    let tokens: u32 = records.iter().map(|r| r.output_tokens).sum();
    let mean_prompt =
        records.iter().map(|r| f64::from(r.prompt_tokens)).sum::<f64>() / records.len() as f64;
    Some(ServerDecodePoint {
        running: b,
        // Each sequence reads its prompt and, on average, half its output.
        context_tokens: round(f64::from(b) * (mean_prompt + f64::from(plan.decode_tokens) / 2.0)),
        gap_ms: round(median(&gaps)),
        tokens_per_s: round(f64::from(tokens) / (wall_ms / 1000.0)),
        runs: records.len() as u32,
    })
}

/// The mixed level: a stream decodes alone for `lead_ms`, then a prompt of `prompt_new`
/// tokens arrives and is prefilled in an iteration with that decode. The stream's longest gap
/// is the mixed iteration; the median over `plan.runs` is returned.
#[allow(clippy::too_many_arguments, reason = "one call site; the measurement's knobs")]
fn mixed_iteration(
    client: &ServerClient,
    plan: Plan,
    prompt_short: u32,
    prompt_new: u32,
    lead_ms: f64,
    rng: &mut Xoshiro256PlusPlus,
    errors: &mut ErrorCounts,
    clock: Instant,
) -> Option<f64> {
    let lead = std::time::Duration::from_secs_f64(lead_ms.max(0.0) / 1000.0);
    let mut gaps = Vec::new();
    for _ in 0..plan.runs {
        let (a_prompt, b_prompt) = (prompt_ids(rng, prompt_short), prompt_ids(rng, prompt_new));
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| client.stream(&a_prompt, 96, clock));
            std::thread::sleep(lead);
            let b = s.spawn(|| client.stream(&b_prompt, 2, clock));
            (a.join().expect("no panic"), b.join().expect("no panic"))
        });
        match (a, b) {
            (Ok(a), Ok(b)) => {
                // Only a run whose prompt arrived while the stream was still decoding counts.
                if b.first_token_ms() < a.last_token_ms() {
                    let longest =
                        a.token_times_ms.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
                    gaps.push(longest);
                }
            }
            (a, b) => {
                for e in [a.err(), b.err()].into_iter().flatten() {
                    count(errors, &e);
                }
            }
        }
    }
    (!gaps.is_empty()).then(|| median(&gaps))
}

/// Slots from where throughput saturates: concurrency doubles until output tokens per second
/// grow by less than 5 %.
fn saturation(
    client: &ServerClient,
    plan: Plan,
    rng: &mut Xoshiro256PlusPlus,
    errors: &mut ErrorCounts,
    progress: Progress<'_>,
) -> Result<u32, CalibrateError> {
    let clock = Instant::now();
    let (mut best, mut best_rate, mut c) = (1u32, 0.0f64, 1u32);
    while c <= plan.max_concurrency {
        let Some(p) = decode_level(client, plan, c, 32, rng, errors, clock) else { break };
        progress("slots", u64::from(c), u64::from(plan.max_concurrency));
        if p.tokens_per_s < best_rate * 1.05 {
            break;
        }
        (best, best_rate) = (c, p.tokens_per_s);
        c *= 2;
    }
    if best_rate == 0.0 {
        return Err(CalibrateError::Failed(format!(
            "no decode level succeeded while searching for the slot count; failures: {}",
            summary(errors)
        )));
    }
    Ok(best)
}

pub fn count(errors: &mut ErrorCounts, e: &ProbeError) {
    match e {
        ProbeError::Dns => errors.dns += 1,
        ProbeError::Connect => errors.connect += 1,
        ProbeError::Timeout => errors.timeout += 1,
        ProbeError::Status(code) => *errors.http_status.entry(code.to_string()).or_insert(0) += 1,
        ProbeError::Other(_) => errors.other += 1,
    }
}

pub fn describe(e: &ProbeError) -> String {
    match e {
        ProbeError::Dns => "the host name does not resolve".into(),
        ProbeError::Connect => "connection refused".into(),
        ProbeError::Timeout => "timed out".into(),
        ProbeError::Status(code) => format!("HTTP status {code}"),
        ProbeError::Other(s) => s.clone(),
    }
}

fn summary(errors: &ErrorCounts) -> String {
    if errors.total() == 0 {
        return "none".into();
    }
    let mut parts = Vec::new();
    for (name, n) in [
        ("dns", errors.dns),
        ("connect", errors.connect),
        ("timeout", errors.timeout),
        ("other", errors.other),
    ] {
        if n > 0 {
            parts.push(format!("{name} {n}"));
        }
    }
    for (code, n) in &errors.http_status {
        parts.push(format!("HTTP {code} ×{n}"));
    }
    parts.join(", ")
}

fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefill_fit_recovers_a_quadratic() {
        let p = [16.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 1536.0];
        let y: Vec<f64> =
            p.iter().map(|&p| 2.0 + 0.04 * p + 0.00002 * p * (p + 1.0) / 2.0).collect();
        let f = super::fit_prefill(&p, &y);
        assert!((f.coef[0] - 2.0).abs() < 1e-9, "{f:?}");
        assert!((f.coef[1] - 0.04).abs() < 1e-12, "{f:?}");
        assert!((f.coef[2] - 0.00002).abs() < 1e-15, "{f:?}");
    }
}
