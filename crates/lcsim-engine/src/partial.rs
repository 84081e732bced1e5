//! The mergeable results of replications: per-replication figures, each month's record, and
//! [`Partial`], what a run or a shard of it produces before it is summarized.
//!
//! **Invariant:** merging is exact and associative (integer counts add, per-replication
//! figures are concatenated in replication order), so no result depends on how replications
//! were grouped into threads or shards.

use std::collections::BTreeMap;

use lcsim_core::cost::CostBreakdown;

use crate::recorder::{Counts, Histograms};

/// Per-replication figures of one deployment (the inputs of the confidence intervals).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplicationStats {
    /// First, so the shard encoding (postcard: fields in order) keeps its shape.
    pub counts: Counts,
    /// Share of arrived requests served within the timeout.
    pub availability: f64,
    /// Served within the SLO latency target (all served without one).
    pub within_slo: u64,
    /// Whether every `[slo]` target held (`None` without an `[slo]`).
    pub slo_met: Option<bool>,
    /// Time the deployment refused every request, inside the measured time.
    pub downtime_ms: f64,
    pub cold_starts: u64,
    /// Autoscaled: time-average instances.
    pub mean_instances: f64,
    /// Hybrids: served requests by route mask.
    pub routes: BTreeMap<u64, u64>,
    /// Share of served requests that waited at all.
    pub waited_fraction: f64,
    pub mean_latency_ms: f64,
    pub mean_wait_ms: f64,
    pub mean_ttft_ms: f64,
    /// Over the served requests with a time per output token (`tpot_served` of them).
    pub mean_tpot_ms: f64,
    pub tpot_served: u64,
    pub ttft_p95_ms: f64,
    pub tpot_p95_ms: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    pub wait_p95_ms: f64,
    pub utilization: f64,
    pub mean_concurrency: f64,
    pub batches: u64,
}

/// One deployment in one month of one replication.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonthRecord {
    /// Cash basis: capital counted in the month it is paid.
    pub cash: CostBreakdown,
    /// Running costs plus straight-line depreciation.
    pub amortized_usd: f64,
    pub requests: f64,
    pub prompt_tokens: f64,
    pub output_tokens: f64,
    pub servers: u32,
    /// Mean utilization in the month's window; NaN for unlimited concurrency.
    pub utilization: f64,
    pub peak_hour_utilization: f64,
    pub availability: f64,
    pub downtime_ms: f64,
    /// Failed requests in the month (window error share × month requests).
    pub errors: f64,
    /// Served requests that used a local / a cloud deployment, as shares of served.
    pub local_share: f64,
    pub cloud_share: f64,
    /// Autoscaled: mean instances in the window; NaN otherwise.
    pub instances: f64,
    pub releases: f64,
    /// Device-hours out of service for roll-outs, and busy training.
    pub update_device_hours: f64,
    pub training_device_hours: f64,
}

/// The mergeable results of some replications: what a shard of a run writes.
///
/// Merging is exact and associative: counts add as integers, per-replication figures are
/// concatenated in replication order, so partials of consecutive replication ranges merged in
/// order give the same bytes as one run over all of them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Partial {
    pub generated: u64,
    pub stats: Vec<Vec<ReplicationStats>>,
    pub histograms: Vec<Histograms>,
    /// Horizon runs: `months[i][k][m]`.
    pub months: Vec<Vec<Vec<MonthRecord>>>,
    /// Horizon runs: latency histogram of deployment `k` in month `m`, `[k][m]`.
    pub month_latency: Vec<Vec<Histograms>>,
    /// Horizon runs with an `[slo]`: whether replication `i`'s month `m` met it, `[i][k][m]`.
    pub month_slo: Option<Vec<Vec<Vec<bool>>>>,
}

/// `a` then `b`: `b` must hold the replications that follow `a`'s.
pub fn merge(mut a: Partial, b: Partial) -> Partial {
    a.generated += b.generated;
    a.stats.extend(b.stats);
    a.months.extend(b.months);
    if let (Some(x), Some(y)) = (&mut a.month_slo, b.month_slo) {
        x.extend(y);
    }
    for (x, y) in a.histograms.iter_mut().zip(&b.histograms) {
        x.merge(y);
    }
    for (ha, hb) in a.month_latency.iter_mut().zip(&b.month_latency) {
        for (x, y) in ha.iter_mut().zip(hb) {
            x.merge(y);
        }
    }
    a
}
