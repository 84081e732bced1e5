//! Helpers shared by the engine's integration tests (each test file uses a subset).
#![allow(dead_code, reason = "each test binary uses a different subset of the helpers")]

use lcsim_core::scenario::{NoFiles, Scenario, parse_scenario};
use lcsim_engine::{ReplicationStats, RunOutput, run};

pub fn scenario(text: &str) -> Scenario {
    parse_scenario("test.toml", text, &NoFiles).unwrap_or_else(|e| panic!("{e}"))
}

pub fn simulate(text: &str) -> RunOutput {
    run(&scenario(text), &|_| {})
}

/// Mean and standard error of the mean of independent values.
pub fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// A per-replication figure of deployment `k`.
pub fn per_rep(out: &RunOutput, k: usize, f: impl Fn(&ReplicationStats) -> f64) -> Vec<f64> {
    out.per_replication.iter().map(|r| f(&r[k])).collect()
}

/// Mean and standard error of a per-replication figure of deployment `k`.
pub fn replication_mean_se(
    reps: &[Vec<ReplicationStats>],
    k: usize,
    f: impl Fn(&ReplicationStats) -> f64,
) -> (f64, f64) {
    mean_se(&reps.iter().map(|r| f(&r[k])).collect::<Vec<_>>())
}

/// `|simulated − exact| ≤ 4·SE + deterministic`, and the tolerance must be tight enough to
/// mean something (below 10 % of the exact value).
#[track_caller]
pub fn check(what: &str, simulated: f64, se: f64, exact: f64, deterministic: f64) {
    let tolerance = 4.0 * se + deterministic;
    eprintln!(
        "{what}: simulated {simulated:.6}, exact {exact:.6}, |diff| {:.6} ≤ {tolerance:.6} (SE {se:.6})",
        (simulated - exact).abs()
    );
    assert!(
        (simulated - exact).abs() <= tolerance,
        "{what}: simulated {simulated}, exact {exact}, tolerance {tolerance} (4·SE {se} + {deterministic})"
    );
    // A check whose tolerance is as large as the value itself could not fail.
    assert!(
        tolerance < 0.1 * exact.abs().max(1e-9) || exact == 0.0,
        "{what}: tolerance {tolerance} too loose to mean anything"
    );
}
