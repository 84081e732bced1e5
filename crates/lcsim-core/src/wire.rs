//! The TOML layer of a scenario: serde structs that mirror the file key for key.
//!
//! Every struct rejects unknown keys. The structs are flat on purpose (one struct per TOML
//! table, every variant's keys optional): serde's tagged enums buffer their input and lose the
//! line/column of errors, and a flat struct lets validation say "`cv` does not apply to
//! pattern = \"poisson\"" instead of a generic mismatch. [`crate::scenario`] turns these into
//! validated domain types; nothing else reads them.

use serde::{Deserialize, Serialize};

use crate::cost::{CapacityPolicyWire, CostWire};
use crate::dist::DistWire;
use crate::lifecycle::{CentralTrainingWire, FederatedWire, UpdatesWire};
use crate::reliability::{
    AutoscaleWire, FailuresWire, Policy, RateLimitWire, RerankOrder, SloWire,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioWire {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub simulation: SimulationWire,
    pub traffic: TrafficWire,
    #[serde(rename = "deployment")]
    pub deployments: Vec<DeploymentWire>,
    /// Service-level objectives every deployment is measured against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloWire>,
    /// `lcsim sweep`'s grid: key path → list of values or range ([`crate::sweep::axis`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<toml::Table>,
    /// `lcsim sensitivity`'s keys: key path → `[low, high]` or a share ([`crate::sweep::swings_of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<toml::Table>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationWire {
    pub seed: u64,
    pub replications: u32,
    /// Simulated time per replication of a stationary run (not with `horizon_months`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_hours: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_hours: Option<f64>,
    /// Months of total cost of ownership to simulate (turns on the monthly cost model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_months: Option<u32>,
    /// Hours simulated request by request in each month (default 24: one whole day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_hours: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    Poisson,
    Diurnal,
    Bursty,
    Trace,
}

pub use crate::trace::TraceEnd;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficWire {
    pub pattern: Pattern,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<f64>,
    // diurnal
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_to_trough: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_hour: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_weights: Option<Vec<f64>>,
    // bursty: gamma renewal
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv: Option<f64>,
    // bursty: two-state MMPP
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rates_per_s: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_dwell_s: Option<Vec<f64>>,
    // trace
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_scale: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_end: Option<TraceEnd>,
    // any pattern
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth_per_month: Option<f64>,
    /// Coefficient of variation of each month's traffic level (lognormal, mean 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_noise_cv: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<DistWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<DistWire>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentKind {
    Local,
    Cloud,
    /// Routes between two named deployments.
    Hybrid,
}

/// How a local deployment batches requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerKind {
    /// A batch's requests start and finish together (an offline batch job).
    Static,
    /// Iteration-level batching, as llama.cpp, vLLM, TGI and Ollama serve.
    Continuous,
}

/// `base + per_batch · batch`, in milliseconds; a bare number means a constant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LinearWire {
    Constant(f64),
    Linear(LinearTable),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearTable {
    pub base: f64,
    pub per_batch: f64,
    /// Decode only: added step time per token of context…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_context: Option<f64>,
    /// …plus this much per token of context and per request in the batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_batch_context: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentWire {
    pub name: String,
    pub kind: DeploymentKind,
    /// A calibration profile (`calibration/x.toml`) supplying the latency model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<String>,
    // local
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servers: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<SchedulerKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_num_seqs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batched_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_ms_per_context_token: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_ms_by_batch: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_attention_ms_per_context_token: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_overhead_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_timeout_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_ms_per_token: Option<LinearWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_ms_per_token: Option<LinearWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhead_ms: Option<f64>,
    // both
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_capacity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ms: Option<DistWire>,
    // cloud
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_rtt_ms: Option<DistWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<DistWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_policy: Option<CapacityPolicyWire>,
    // reliability and scaling
    /// A request not served within this long counts as failed (the client gives up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoscaleWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<FailuresWire>,
    // model updates and training
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<UpdatesWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated: Option<FederatedWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub central_training: Option<CentralTrainingWire>,
    // hybrid
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow_queue_above: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_timeout_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<RerankOrder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_must_stay_local: Option<f64>,
}

impl DeploymentWire {
    /// The keys that are set, by TOML name (for "does not apply to kind" checks).
    pub(crate) fn present_keys(&self) -> Vec<&'static str> {
        [
            ("calibration", self.calibration.is_some()),
            ("servers", self.servers.is_some()),
            ("max_batch", self.max_batch.is_some()),
            ("scheduler", self.scheduler.is_some()),
            ("max_num_seqs", self.max_num_seqs.is_some()),
            ("kv_cache_tokens", self.kv_cache_tokens.is_some()),
            ("max_batched_tokens", self.max_batched_tokens.is_some()),
            ("attention_ms_per_context_token", self.attention_ms_per_context_token.is_some()),
            ("decode_ms_by_batch", self.decode_ms_by_batch.is_some()),
            (
                "prefill_attention_ms_per_context_token",
                self.prefill_attention_ms_per_context_token.is_some(),
            ),
            ("prefill_overhead_ms", self.prefill_overhead_ms.is_some()),
            ("batch_timeout_ms", self.batch_timeout_ms.is_some()),
            ("prefill_ms_per_token", self.prefill_ms_per_token.is_some()),
            ("decode_ms_per_token", self.decode_ms_per_token.is_some()),
            ("overhead_ms", self.overhead_ms.is_some()),
            ("queue_capacity", self.queue_capacity.is_some()),
            ("service_ms", self.service_ms.is_some()),
            ("network_rtt_ms", self.network_rtt_ms.is_some()),
            ("ttft_ms", self.ttft_ms.is_some()),
            ("output_tokens_per_s", self.output_tokens_per_s.is_some()),
            ("max_concurrency", self.max_concurrency.is_some()),
            ("capacity_policy", self.capacity_policy.is_some()),
            ("cost", self.cost.is_some()),
            ("timeout_ms", self.timeout_ms.is_some()),
            ("autoscale", self.autoscale.is_some()),
            ("rate_limit", self.rate_limit.is_some()),
            ("failures", self.failures.is_some()),
            ("updates", self.updates.is_some()),
            ("federated", self.federated.is_some()),
            ("central_training", self.central_training.is_some()),
            ("policy", self.policy.is_some()),
            ("local", self.local.is_some()),
            ("cloud", self.cloud.is_some()),
            ("overflow_queue_above", self.overflow_queue_above.is_some()),
            ("fallback_timeout_ms", self.fallback_timeout_ms.is_some()),
            ("order", self.order.is_some()),
            ("data_must_stay_local", self.data_must_stay_local.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.then_some(k))
        .collect()
    }
}

impl TrafficWire {
    pub(crate) fn present_keys(&self) -> Vec<&'static str> {
        [
            ("rate_per_s", self.rate_per_s.is_some()),
            ("peak_to_trough", self.peak_to_trough.is_some()),
            ("peak_hour", self.peak_hour.is_some()),
            ("hourly_weights", self.hourly_weights.is_some()),
            ("cv", self.cv.is_some()),
            ("rates_per_s", self.rates_per_s.is_some()),
            ("mean_dwell_s", self.mean_dwell_s.is_some()),
            ("trace_file", self.trace_file.is_some()),
            ("time_scale", self.time_scale.is_some()),
            ("at_end", self.at_end.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.then_some(k))
        .collect()
    }
}
