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
    /// Months of the cost horizon; absent for a stationary run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub horizon_months: Option<u32>,
    #[serde(serialize_with = "in_order")]
    pub deployments: Vec<DeploymentSummary>,
    /// Cash-basis break-even month of every (local, cloud) pair with cost models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_even: Option<Vec<BreakEven>>,
    pub warnings: Vec<String>,
}

/// Costs of one deployment over the horizon, in USD; each list has one entry per month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostSummary {
    /// Cash cost of each month (capital counted when paid).
    pub monthly: Vec<MonthBand>,
    /// Cumulative cash cost at the end of each month.
    pub cumulative: Vec<MonthBand>,
    /// Cumulative cost with capital spread by straight-line depreciation.
    pub cumulative_amortized: Vec<MonthBand>,
}

/// Mean and quantiles across replications (p5/p50/p95 by linear interpolation between order
/// statistics).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MonthBand {
    /// 1-based month.
    pub month: u32,
    pub mean: f64,
    pub p5: f64,
    pub p50: f64,
    pub p95: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    pub mean: f64,
    pub p5: f64,
    pub p50: f64,
    pub p95: f64,
}

/// When the local deployment's cumulative cash cost falls to the cloud's, in months as a real
/// number (7.4 = 40 % into month 8), over the replications that break even; `null` if none do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakEven {
    pub local: String,
    pub cloud: String,
    pub month: Option<Band>,
    /// Share of replications that never break even within the horizon.
    pub never_fraction: f64,
}

/// One row of `monthly.parquet` / `monthly.csv`: a deployment in a month. Cost components are
/// cash-basis means across replications; `cost_*` are the monthly cash cost's mean and
/// quantiles, `cumulative_*` the cumulative cash cost at the end of the month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthlyRow {
    pub deployment: String,
    pub kind: &'static str,
    pub month: u32,
    pub requests: f64,
    pub prompt_tokens: f64,
    pub output_tokens: f64,
    pub servers: f64,
    pub capex_usd: f64,
    pub energy_usd: f64,
    pub colocation_usd: f64,
    pub ops_usd: f64,
    pub token_usd: f64,
    pub request_usd: f64,
    pub instance_usd: f64,
    pub egress_usd: f64,
    pub cost_mean_usd: f64,
    pub cost_p5_usd: f64,
    pub cost_p50_usd: f64,
    pub cost_p95_usd: f64,
    pub cumulative_mean_usd: f64,
    pub cumulative_p5_usd: f64,
    pub cumulative_p50_usd: f64,
    pub cumulative_p95_usd: f64,
    pub cumulative_amortized_mean_usd: f64,
    /// Mean utilization of the month's window (`null` for unlimited cloud concurrency).
    pub utilization: Option<f64>,
    /// Utilization of the window's busiest hour.
    pub peak_hour_utilization: Option<f64>,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    /// Time to first token, p95 of the month's served requests.
    pub ttft_p95_ms: f64,
    /// Time per output token, p95 (`null` when no answer was streamed).
    pub tpot_p95_ms: Option<f64>,
    /// Repairs and replacements after device failures (included in the cost columns).
    pub repair_usd: f64,
    /// Model releases (staff, CI, switch-over instances) and training (federated or central).
    pub updates_usd: f64,
    pub training_usd: f64,
    /// Releases in the month, and device-hours out of service for roll-outs and for
    /// training (busy training time, whatever the inference speed while training).
    pub releases: f64,
    pub update_device_hours: f64,
    pub training_device_hours: f64,
    /// Share of the window's requests served within the timeout (mean across replications).
    pub availability: f64,
    /// Minutes in the month the deployment refused every request (exact, from the
    /// replication's failure timeline; mean across replications).
    pub downtime_minutes: f64,
    /// Failed requests in the month: the window's error share × the month's requests.
    pub errors: f64,
    /// Share of replications in which the month met every `[slo]` target.
    pub slo_attainment: Option<f64>,
    /// Share of served requests that used a local / cloud deployment (a rerank uses both).
    pub local_share: f64,
    pub cloud_share: f64,
    /// Autoscaled: time-average instances in the window.
    pub instances: Option<f64>,
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
    /// Time to first token: the whole latency for an answer that is not streamed (a
    /// `service_ms` model); local token models: queue + prefill; cloud streaming: network +
    /// queue + provider `ttft_ms`; hybrids: of the path taken.
    pub ttft_ms: Moments,
    /// Time per output token (mean gap between a request's later tokens), over the streamed
    /// answers of two tokens or more; absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpot_ms: Option<Moments>,
    /// Present for runs with a horizon and a `[deployment.cost]` (hybrids: their members').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<CostSummary>,
    /// Share of requests served within the timeout, with its 95 % CI across replications.
    pub availability: Share,
    /// Requests served within the timeout (and the SLO latency target, if any) per second.
    pub goodput_per_s: f64,
    /// Failed requests by cause, over all replications (counted like `requests`).
    pub errors: ErrorCounts,
    /// Mean minutes per replication during which the deployment refused every request
    /// (all devices down, endpoint outage or failover), over the measured time; for a horizon
    /// run, over the whole horizon.
    pub downtime_minutes: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloSummary>,
    /// Hybrids: share of served requests by the deployments that served them
    /// (`"a+b"`: both stages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<std::collections::BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSummary>,
    /// Continuous batching: sequences preempted for KV-cache room, over all replications
    /// (counted like `requests`). `mean_concurrency` is then the mean number running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preemptions: Option<u64>,
    /// Horizon runs of deployments with `[updates]`, `[federated]` or `[central_training]`:
    /// monthly means across replications and months.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<LifecycleSummary>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LifecycleSummary {
    pub releases_per_month: f64,
    pub updates_usd_per_month: f64,
    /// Device-hours out of service for roll-outs (and rollbacks) per month.
    pub update_device_hours_per_month: f64,
    pub training_usd_per_month: f64,
    /// Device-hours busy training per month.
    pub training_device_hours_per_month: f64,
}

/// A share with its 95 % confidence interval across replications.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Share {
    pub mean: f64,
    pub mean_ci95: Option<[f64; 2]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ErrorCounts {
    /// Turned away by a full waiting room.
    pub queue_full: u64,
    /// Arrived while the deployment was down.
    pub unavailable: u64,
    /// Not served within `timeout_ms`.
    pub timed_out: u64,
    /// Gave up after `max_retries` 429 responses.
    pub rate_limited: u64,
    /// Continuous batching: prompt plus output can never fit in the KV cache.
    pub too_large: u64,
    /// 429 responses that were retried (not errors by themselves).
    pub retries: u64,
}

/// How often the `[slo]` held: per replication (stationary run) or per replication and month.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SloSummary {
    pub latency_p95_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_p95_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpot_p95_ms: Option<f64>,
    pub availability: Option<f64>,
    /// Share of periods in which every target held.
    pub attainment: f64,
    /// Share of all requests served within the latency, TTFT and TPOT targets given (and the
    /// timeout): goodput as DistServe defines it, as a share.
    pub within_latency_target: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AutoscalingSummary {
    /// Time-average number of instances (starting, busy or idle).
    pub mean_instances: f64,
    /// Share of served requests that waited for an instance's cold start.
    pub cold_start_share: f64,
}

/// Mean with its 95 % confidence interval across replications, and quantiles of all served
/// requests pooled (from the log-bucketed histogram; relative error ≤ 1/256).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Moments {
    pub mean: f64,
    pub mean_ci95: Option<[f64; 2]>,
    pub p50: f64,
    pub p90: f64,
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
