//! Result types of a run, as written to `summary.json`. Times are milliseconds.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub scenario: String,
    pub lcsim_version: String,
    pub seed: u64,
    pub replications: u32,
    pub duration_hours: f64,
    pub warmup_hours: f64,
    /// Every request generated, warm-up included, summed over replications (each deployment
    /// sees the same requests).
    pub requests_simulated: u64,
    /// Wall-clock time of the simulation; the only field that differs between identical runs.
    pub wall_seconds: f64,
    #[serde(serialize_with = "in_order")]
    pub deployments: Vec<DeploymentSummary>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentSummary {
    #[serde(skip)]
    pub name: String,
    pub kind: &'static str,
    /// Requests that arrived after the warm-up, over all replications (served + dropped).
    pub requests: u64,
    pub served: u64,
    pub dropped_fraction: f64,
    /// Share of server capacity busy, averaged over replications; `null` for unlimited cloud
    /// concurrency (see `mean_concurrency`).
    pub utilization: Option<f64>,
    /// Served requests per second of measured time.
    pub throughput_per_s: f64,
    /// Time-average number of requests in service at the provider or devices.
    pub mean_concurrency: f64,
    /// Mean batch size of dispatched batches (1 without batching).
    pub mean_batch_size: f64,
    /// End-to-end latency of served requests: network + queue wait + service.
    pub latency_ms: Moments,
    /// Time a served request waited for a server (for batching: until its batch started).
    pub wait_ms: Moments,
}

/// Mean with its 95 % confidence interval across replications, and quantiles of all served
/// requests pooled (from the log-bucketed histogram; relative error ≤ 1/256).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Moments {
    pub mean: f64,
    pub mean_ci95: Option<[f64; 2]>,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

fn in_order<S: Serializer>(deployments: &[DeploymentSummary], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(deployments.len()))?;
    for d in deployments {
        map.serialize_entry(&d.name, d)?;
    }
    map.end()
}
