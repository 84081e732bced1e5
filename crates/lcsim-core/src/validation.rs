//! Simulated against measured: the comparison `lcsim validate` publishes as `validation.json`.
//!
//! A level's requests were sent to a real server at recorded times with recorded token counts;
//! the same sequence was simulated. Each metric (TTFT, TPOT, E2E) is compared at p50, p90 and
//! p99, with `rel_error = (simulated − measured) / measured`. Quantiles are taken the same way
//! (linear interpolation between order statistics) on both sides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::profile::ErrorCounts;
use crate::stats::quantile_sorted;

/// The quantiles compared.
pub const QUANTILES: [(&str, f64); 3] = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)];

/// The accuracy target of the validation issue: |error| ≤ 5 % at p50 and ≤ 10 % at p99, for
/// TTFT and E2E.
pub const TARGET_P50: f64 = 0.05;
pub const TARGET_P99: f64 = 0.10;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Compared {
    pub measured: f64,
    pub simulated: f64,
    pub rel_error: f64,
}

/// One metric at each quantile of [`QUANTILES`], keyed `p50`, `p90`, `p99`.
pub type MetricComparison = BTreeMap<String, Compared>;

/// Compares two samples of one metric. `None` when either side is empty.
pub fn compare(measured: &[f64], simulated: &[f64]) -> Option<MetricComparison> {
    if measured.is_empty() || simulated.is_empty() {
        return None;
    }
    let sort = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v
    };
    let (m, s) = (sort(measured), sort(simulated));
    Some(
        QUANTILES
            .iter()
            .map(|&(name, q)| {
                let (measured, simulated) = (quantile_sorted(&m, q), quantile_sorted(&s, q));
                let rel_error = (simulated - measured) / measured;
                (name.to_string(), Compared { measured, simulated, rel_error })
            })
            .collect(),
    )
}

/// What the load generator itself costs, so that it cannot hide in the error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClientOverhead {
    /// `GET /health` round trip, median: the HTTP stack's share of every request.
    pub http_rtt_ms: f64,
    /// How late requests left against their Poisson schedule: median, p99 and largest.
    pub send_lateness_p50_ms: f64,
    pub send_lateness_p99_ms: f64,
    pub send_lateness_max_ms: f64,
}

/// One load level: what was sent, what came back, and the comparison.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Offered load as a share of the calibrated capacity.
    pub utilization: f64,
    pub rate_per_s: f64,
    /// Requests sent, and of those completed (the rest failed, counted by kind).
    pub requests: u32,
    pub completed: u32,
    pub errors: ErrorCounts,
    pub wall_s: f64,
    /// Whether the level stopped at its time cap before sending every request.
    pub capped: bool,
    pub mean_prompt_tokens: f64,
    pub mean_output_tokens: f64,
    /// `ttft_ms`, `tpot_ms`, `e2e_ms`.
    pub metrics: BTreeMap<String, MetricComparison>,
    /// With `--repeat`: the same requests sent again at the same times, compared with the
    /// first pass (`measured` = first pass, `simulated` = second pass): how much the real
    /// server differs from itself, the noise floor under any model's error.
    pub repeat: Option<BTreeMap<String, MetricComparison>>,
}

impl Level {
    /// The largest |error| of TTFT and E2E at one quantile.
    pub fn worst(&self, quantile: &str) -> f64 {
        ["ttft_ms", "e2e_ms"]
            .iter()
            .filter_map(|m| self.metrics.get(*m)?.get(quantile))
            .map(|c| c.rel_error.abs())
            .fold(0.0, f64::max)
    }

    /// The largest |difference| of TTFT and E2E between the two real passes at one quantile
    /// (`None` without `--repeat`).
    pub fn noise(&self, quantile: &str) -> Option<f64> {
        let r = self.repeat.as_ref()?;
        Some(
            ["ttft_ms", "e2e_ms"]
                .iter()
                .filter_map(|m| r.get(*m)?.get(quantile))
                .map(|c| c.rel_error.abs())
                .fold(0.0, f64::max),
        )
    }

    /// Whether TTFT and E2E meet the target at p50 and p99.
    pub fn meets_target(&self) -> bool {
        !self.metrics.is_empty()
            && self.worst("p50") <= TARGET_P50
            && self.worst("p99") <= TARGET_P99
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    pub lcsim_version: String,
    pub date: String,
    pub url: String,
    pub profile: String,
    /// The server's step model, as used by the simulation.
    pub slots: u32,
    pub kv_cache_tokens: u64,
    /// Trace token counts were multiplied by this to fit the server's context.
    pub token_scale: f64,
    pub client: ClientOverhead,
    pub levels: Vec<Level>,
    pub verdict: String,
}

/// The one-line verdict: whether every level meets the target, and the worst errors.
pub fn verdict(levels: &[Level]) -> String {
    let completed: Vec<&Level> = levels.iter().filter(|l| !l.metrics.is_empty()).collect();
    if completed.is_empty() {
        return "FAIL: no level completed a request, so nothing could be compared".into();
    }
    let worst50 = completed.iter().map(|l| l.worst("p50")).fold(0.0, f64::max);
    let worst99 = completed.iter().map(|l| l.worst("p99")).fold(0.0, f64::max);
    let all = completed.len() == levels.len() && completed.iter().all(|l| l.meets_target());
    let mut line = format!(
        "{}: worst |error| of TTFT and E2E over {} load level(s) is {:.1} % at p50 (target {:.0} %) and {:.1} % at p99 (target {:.0} %)",
        if all { "PASS" } else { "MISS" },
        levels.len(),
        worst50 * 100.0,
        TARGET_P50 * 100.0,
        worst99 * 100.0,
        TARGET_P99 * 100.0,
    );
    let noise50 = completed
        .iter()
        .filter_map(|l| l.noise("p50"))
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let noise99 = completed
        .iter()
        .filter_map(|l| l.noise("p99"))
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    if let (Some(n50), Some(n99)) = (noise50, noise99) {
        line.push_str(&format!(
            "; the server repeating the same requests differed from itself by up to {:.1} % at p50 and {:.1} % at p99",
            n50 * 100.0,
            n99 * 100.0
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_is_signed_and_per_quantile() {
        let measured: Vec<f64> = (1..=100).map(f64::from).collect();
        let simulated: Vec<f64> = measured.iter().map(|x| x * 1.1).collect();
        let c = compare(&measured, &simulated).unwrap();
        for q in ["p50", "p90", "p99"] {
            assert!((c[q].rel_error - 0.1).abs() < 1e-12, "{q}: {:?}", c[q]);
        }
        assert!(compare(&[], &simulated).is_none());
    }
}
