//! Validated scenarios: what the engine simulates.
//!
//! [`parse_scenario`] reads TOML text into [`crate::wire`] structs, then validates them into the
//! types below. The engine only ever sees these types. Files a scenario refers to (a trace, an
//! empirical column) are read through a [`FileSource`] the caller provides, so this crate does
//! no IO of its own.
//!
//! Times inside the domain types are milliseconds unless a name says otherwise.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeTable;

use crate::check::{count_up_to, non_negative, only_keys, positive, require, share};
use crate::cost::{CapacityPolicy, CostModel};
use crate::dist::{ColumnSource, Dist, DistWire};
use crate::error::{Locator, Problem, ScenarioError, closest};
use crate::lifecycle::{CentralTraining, Federated, Updates};
use crate::limits;
use crate::profile::{Profile, parse_profile};
use crate::reliability::{Autoscale, Failures, Hybrid, Policy, RateLimit, RerankOrder, Slo};
use crate::trace::{Trace, csv_column, parse_trace};
use crate::wire::{
    DeploymentKind, DeploymentWire, LinearWire, Pattern, ScenarioWire, SchedulerKind, TraceEnd,
    TrafficWire,
};

pub use crate::units::{HOURS_PER_MONTH, MS_PER_HOUR};

/// Reads the files a scenario refers to, by the path written in the scenario.
pub trait FileSource {
    fn read_to_string(&self, path: &str) -> Result<String, String>;
}

/// For scenarios that refer to no file (tests, benchmarks, generated scenarios): every read
/// fails with a message naming the path.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFiles;

impl FileSource for NoFiles {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        Err(format!("this scenario cannot read files ({path})"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub simulation: Simulation,
    pub traffic: Traffic,
    pub deployments: Vec<Deployment>,
    pub slo: Option<Slo>,
    /// Things that are legal but probably not what the user meant.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    pub seed: u64,
    pub replications: u32,
    /// Simulated time per replication, warm-up included.
    pub duration_ms: f64,
    /// Requests arriving before this time are simulated but not counted.
    pub warmup_ms: f64,
    /// Present when the scenario asks for total cost of ownership over months.
    pub horizon: Option<Horizon>,
}

/// A run over `months` months of 730 hours. Each month, `window_ms` of traffic starting at a
/// midnight near the middle of the month (after `warmup_ms`) is simulated request by request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Horizon {
    pub months: u32,
    pub window_ms: f64,
}

impl Horizon {
    /// First hour of month `month`'s window (0-based month): the midnight closest to the middle
    /// of the month, so the whole diurnal cycle is in a 24-hour window.
    pub fn window_start_hour(month: u32) -> u64 {
        let middle = (f64::from(month) + 0.5) * HOURS_PER_MONTH;
        ((middle / 24.0).round() * 24.0) as u64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    pub arrivals: Arrivals,
    /// Relative arrival intensity per hour of day (mean 1), for `pattern = "diurnal"`.
    pub hourly_weights: Option<[f64; 24]>,
    /// Relative growth of the arrival rate per 730-hour month (0.05 = +5 % a month, compounded).
    pub growth_per_month: f64,
    /// Coefficient of variation of each month's traffic level (0 = no noise).
    pub level_noise_cv: f64,
    pub prompt_tokens: TokenSource,
    pub output_tokens: TokenSource,
}

/// Diurnal weight of hour `hour` (counted from a midnight) times the compounded growth at the
/// middle of that hour.
pub fn intensity_multiplier(weights: Option<&[f64; 24]>, growth_per_month: f64, hour: u64) -> f64 {
    let weight = weights.map_or(1.0, |w| w[(hour % 24) as usize]);
    weight * (1.0 + growth_per_month).powf((hour as f64 + 0.5) / HOURS_PER_MONTH)
}

impl Traffic {
    /// Arrival intensity multiplier of hour `hour` since the start: diurnal weight × growth
    /// at the middle of the hour (the engine's time change uses the same values).
    pub fn hour_multiplier(&self, hour: u64) -> f64 {
        intensity_multiplier(self.hourly_weights.as_ref(), self.growth_per_month, hour)
    }

    /// Expected requests in month `month` (0-based, 730 hours) at traffic level 1.
    pub fn expected_requests_in_month(&self, month: u32) -> f64 {
        let first = u64::from(month) * HOURS_PER_MONTH as u64;
        let hours: f64 =
            (first..first + HOURS_PER_MONTH as u64).map(|h| self.hour_multiplier(h)).sum();
        self.arrivals.mean_rate_per_s() * 3600.0 * hours
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    Poisson {
        rate_per_s: f64,
    },
    /// Renewal process with Gamma inter-arrival times of the given coefficient of variation.
    GammaRenewal {
        rate_per_s: f64,
        cv: f64,
    },
    /// Two-state Markov-modulated Poisson process.
    Mmpp {
        rates_per_s: [f64; 2],
        mean_dwell_s: [f64; 2],
    },
    Trace {
        trace: Trace,
        time_scale: f64,
        at_end: TraceEnd,
    },
}

impl Arrivals {
    /// Long-run mean arrival rate, before diurnal weights (mean 1) and growth.
    pub fn mean_rate_per_s(&self) -> f64 {
        match self {
            Arrivals::Poisson { rate_per_s } | Arrivals::GammaRenewal { rate_per_s, .. } => {
                *rate_per_s
            }
            Arrivals::Mmpp { rates_per_s, mean_dwell_s } => {
                let total = mean_dwell_s[0] + mean_dwell_s[1];
                (rates_per_s[0] * mean_dwell_s[0] + rates_per_s[1] * mean_dwell_s[1]) / total
            }
            Arrivals::Trace { trace, time_scale, .. } => {
                let gap_s = trace.mean_gap_ms() * time_scale / 1000.0;
                if gap_s > 0.0 { 1.0 / gap_s } else { 0.0 }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenSource {
    /// Not configured: requests carry 0 tokens.
    None,
    Dist(Dist),
    /// Taken from the trace row of each request.
    Trace,
}

impl TokenSource {
    pub fn mean(&self, trace: Option<&[u32]>) -> Option<f64> {
        match (self, trace) {
            (TokenSource::None, _) => None,
            (TokenSource::Dist(d), _) => Some(d.mean().round().max(1.0)),
            (TokenSource::Trace, Some(t)) => {
                Some(t.iter().map(|&x| x as f64).sum::<f64>() / t.len().max(1) as f64)
            }
            (TokenSource::Trace, None) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub name: String,
    pub model: Model,
    /// Monthly cost model; `None` costs nothing.
    pub cost: Option<CostModel>,
    /// Local only: buy devices as traffic grows.
    pub capacity_policy: Option<CapacityPolicy>,
    /// A request not served within this long counts as failed; `None` = the client waits.
    pub timeout_ms: Option<f64>,
    pub failures: Option<Failures>,
    /// Model releases and how they roll out.
    pub updates: Option<Updates>,
    /// Local only: on-device training rounds.
    pub federated: Option<Federated>,
    /// Local only: raw data uploaded and trained on in the cloud.
    pub central_training: Option<CentralTraining>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    Local(Local),
    Cloud(Cloud),
    Hybrid(Hybrid),
}

impl Model {
    pub fn kind(&self) -> &'static str {
        match self {
            Model::Local(_) => "local",
            Model::Cloud(_) => "cloud",
            Model::Hybrid(_) => "hybrid",
        }
    }
}

/// `servers` identical devices, each running batches of up to `max_batch` requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Local {
    pub servers: u32,
    pub max_batch: u32,
    /// A batch is dispatched when full or when its oldest request has waited this long.
    pub batch_timeout_ms: f64,
    /// Waiting room (excluding requests in service); `None` = unlimited.
    pub queue_capacity: Option<u32>,
    pub service: LocalService,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LocalService {
    /// Time to serve one batch, whatever its size.
    Dist(Dist),
    Tokens(TokenLatency),
    /// Continuous (iteration-level) batching; `max_batch` is 1 and unused.
    Continuous(Continuous),
}

/// Continuous batching as LLM servers run it (Orca, vLLM, llama.cpp slots).
///
/// Each server runs iterations back to back. At each iteration boundary, waiting requests are
/// admitted first come, first served while fewer than `max_num_seqs` run and the KV cache can
/// hold their prompt. An iteration prefills newly admitted prompts (in chunks of at most
/// `max_batched_tokens` less one token per decoding sequence, if set) and decodes one token for
/// every running sequence; it takes
/// `overhead_ms + prefill_ms_per_token · prefill tokens + [b ≥ 1] decode_ms(b) +
/// attention_ms_per_context_token · KV tokens read`, where `b` counts the sequences that decode
/// and the KV tokens read are their context lengths. A request's first token comes at the end of
/// the iteration that completes its prefill, each later one at the end of each later iteration;
/// it leaves with its last. When a decoding sequence cannot grow in the KV cache, the most
/// recently admitted sequence is preempted and later recomputed (prompt plus the tokens it had
/// generated). Invariant: the KV tokens in use never exceed `kv_cache_tokens`.
#[derive(Debug, Clone, PartialEq)]
pub struct Continuous {
    pub max_num_seqs: u32,
    pub kv_cache_tokens: u64,
    pub max_batched_tokens: Option<u64>,
    pub prefill_ms_per_token: f64,
    /// One decode step for `b` sequences: `base + per_batch · b`, unless the table below
    /// gives the step for that `b`.
    pub decode_ms: Linear,
    /// Measured decode steps for `b = 1, 2, …` (`decode_ms_by_batch`; a server profile's
    /// `fit.decode_ms_by_batch`): real kernels are not linear in the batch (llama.cpp on AVX2
    /// decodes 3 sequences slower than 4). Beyond the table, the last entry plus
    /// `per_batch` per extra sequence.
    pub decode_ms_by_batch: DecodeTable,
    pub attention_ms_per_context_token: f64,
    /// Prefill attention: each prefilled token costs this much more per token of context
    /// before it (a chunk of `c` tokens at offset `o` adds `c·o + c(c+1)/2` such pairs), so a
    /// whole prompt of `p` tokens adds `p(p+1)/2` of them. Real prefill time per token grows
    /// with the prompt (llama.cpp on a CPU: about 1 ms per token at 128 tokens, 1.5 at 1536).
    pub prefill_attention_ms_per_context_token: f64,
    /// Paid once more by an iteration that prefills anything: a new batch shape (llama.cpp
    /// rebuilds its compute graph; steady decode iterations reuse theirs).
    pub prefill_overhead_ms: f64,
    pub overhead_ms: f64,
}

/// Decode-step times by batch size, `b = 1..=len`, in milliseconds; empty by default. Shared
/// (`Arc`), so that cloning the step model costs no allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeTable {
    ms: Option<std::sync::Arc<[f64]>>,
}

impl DecodeTable {
    /// At most this many steps (one per batch size).
    pub const MAX: usize = 4096;
    pub const NONE: DecodeTable = DecodeTable { ms: None };

    /// A table of up to [`DecodeTable::MAX`] values (the rest are dropped).
    pub fn new(values: &[f64]) -> DecodeTable {
        let n = values.len().min(Self::MAX);
        DecodeTable { ms: (n > 0).then(|| values[..n].into()) }
    }

    #[inline]
    pub fn values(&self) -> &[f64] {
        self.ms.as_deref().unwrap_or(&[])
    }
}

impl Default for DecodeTable {
    fn default() -> Self {
        DecodeTable::NONE
    }
}

impl Continuous {
    /// The step model a server profile measured (`lcsim calibrate server`), with the given
    /// slots, KV capacity and token budget. A term a noisy fit made negative is used as 0.
    pub fn from_server(
        p: &crate::profile::ServerProfile,
        max_num_seqs: u32,
        kv_cache_tokens: u64,
        max_batched_tokens: Option<u64>,
    ) -> Continuous {
        let f = p.fit;
        Continuous {
            max_num_seqs,
            kv_cache_tokens,
            max_batched_tokens,
            prefill_ms_per_token: f.prefill_ms_per_token.max(0.0),
            decode_ms: Linear {
                base: f.decode_base_ms.max(0.0),
                per_batch: f.decode_ms_per_batch.max(0.0),
            },
            decode_ms_by_batch: DecodeTable::new(
                &p.decode_ms_by_batch.iter().map(|v| v.max(0.0)).collect::<Vec<_>>(),
            ),
            attention_ms_per_context_token: f.attention_ms_per_context_token.max(0.0),
            prefill_attention_ms_per_context_token: f
                .prefill_attention_ms_per_context_token
                .max(0.0),
            prefill_overhead_ms: f.prefill_overhead_ms.max(0.0),
            overhead_ms: f.overhead_ms.max(0.0),
        }
    }

    /// The batch-dependent part of a decode step of `b ≥ 1` sequences.
    #[inline]
    pub fn decode_batch_ms(&self, b: u32) -> f64 {
        let t = self.decode_ms_by_batch.values();
        match t.len() {
            0 => self.decode_ms.at(b),
            n if (b as usize) <= n => t[b.max(1) as usize - 1],
            n => t[n - 1] + self.decode_ms.per_batch * f64::from(b - n as u32),
        }
    }

    /// Time of one pure-decode iteration of `b` sequences whose contexts sum to `context`.
    #[inline]
    pub fn decode_step_ms(&self, b: u32, context: f64) -> f64 {
        self.overhead_ms + self.decode_batch_ms(b) + self.attention_ms_per_context_token * context
    }

    /// Mean time a request occupies one of a full server's `max_num_seqs` slots, plus the
    /// prefill it takes from the whole server: the service time of the offered-load check.
    pub fn mean_service_ms(&self, prompt: f64, output: f64) -> f64 {
        let b = self.max_num_seqs;
        let context = f64::from(b) * (prompt + output / 2.0);
        output * self.decode_step_ms(b, context)
            + f64::from(b) * (self.prefill_ms(prompt) + self.prefill_overhead_ms)
    }

    /// Prefill time of a whole prompt of `prompt` tokens, without the iteration overhead.
    pub fn prefill_ms(&self, prompt: f64) -> f64 {
        prompt * self.prefill_ms_per_token
            + self.prefill_attention_ms_per_context_token * prompt * (prompt + 1.0) / 2.0
    }
}

/// Static-batch latency from token counts: a batch of `b` requests with prompt tokens `pᵢ`
/// and largest output `O` takes
/// `overhead + prefill(b) · Σ pᵢ + Σ_{s<O} (decode(b) + ctx(b) · (p̄ + s))` milliseconds, where
/// `prefill(b)`, `decode(b)` and `ctx(b)` are linear in the batch size, `ctx(b)` is the decode
/// cost per token of context (`per_context + per_batch_context · b`, as calibration fits it)
/// and `p̄` the batch's mean prompt length. All requests of a batch finish together (no
/// continuous batching).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenLatency {
    pub prefill_ms_per_token: Linear,
    /// Time of one decode step of the whole batch (one token for each request).
    pub decode_ms_per_token: Linear,
    /// Added decode-step time per token of context (KV-cache length).
    pub decode_ms_per_context_token: Linear,
    pub overhead_ms: f64,
}

impl TokenLatency {
    pub fn batch_ms(&self, batch: u32, prompt_tokens_sum: u64, max_output_tokens: u32) -> f64 {
        let steps = f64::from(max_output_tokens);
        let mean_prompt = prompt_tokens_sum as f64 / f64::from(batch.max(1));
        // Σ_{s<O} (p̄ + s) = O·p̄ + O(O−1)/2
        let context_sum = steps * mean_prompt + steps * (steps - 1.0).max(0.0) / 2.0;
        self.overhead_ms
            + self.prefill_ms_per_token.at(batch) * prompt_tokens_sum as f64
            + self.decode_ms_per_token.at(batch) * steps
            + self.decode_ms_per_context_token.at(batch) * context_sum
    }
}

/// `base + per_batch · batch`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linear {
    pub base: f64,
    pub per_batch: f64,
}

impl Linear {
    #[inline]
    pub fn at(&self, batch: u32) -> f64 {
        self.base + self.per_batch * f64::from(batch)
    }
}

/// A cloud endpoint: network round trip plus provider time, optionally behind a concurrency cap.
#[derive(Debug, Clone, PartialEq)]
pub struct Cloud {
    pub network_rtt_ms: Option<Dist>,
    pub provider: Provider,
    /// `None` = unlimited concurrency (an M/G/∞ system: no queueing).
    pub max_concurrency: Option<u32>,
    pub queue_capacity: Option<u32>,
    /// Instances started and stopped by load (instead of `max_concurrency`).
    pub autoscale: Option<Autoscale>,
    pub rate_limit: Option<RateLimit>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Provider {
    Dist(Dist),
    /// Time to first token, then output tokens at a fixed rate.
    Streaming {
        ttft_ms: Dist,
        output_tokens_per_s: f64,
    },
}

impl Scenario {
    /// The trace's token columns, when the traffic replays a trace.
    pub fn trace(&self) -> Option<&Trace> {
        match &self.traffic.arrivals {
            Arrivals::Trace { trace, .. } => Some(trace),
            _ => None,
        }
    }

    /// Mean service time of one request (of a full batch, for batching servers), milliseconds.
    pub fn mean_service_ms(&self, deployment: &Deployment) -> f64 {
        let trace = self.trace();
        let prompt = self.traffic.prompt_tokens.mean(trace.map(|t| &*t.prompt_tokens));
        let output = self.traffic.output_tokens.mean(trace.map(|t| &*t.output_tokens));
        match &deployment.model {
            Model::Local(local) => match &local.service {
                LocalService::Dist(d) => d.mean(),
                LocalService::Tokens(tl) => {
                    let b = local.max_batch;
                    tl.batch_ms(
                        b,
                        (prompt.unwrap_or(0.0) * f64::from(b)) as u64,
                        output.unwrap_or(0.0) as u32,
                    )
                }
                LocalService::Continuous(c) => {
                    c.mean_service_ms(prompt.unwrap_or(0.0), output.unwrap_or(1.0).max(1.0))
                }
            },
            Model::Cloud(cloud) => match &cloud.provider {
                Provider::Dist(d) => d.mean(),
                Provider::Streaming { ttft_ms, output_tokens_per_s } => {
                    ttft_ms.mean() + output.unwrap_or(0.0) / output_tokens_per_s * 1000.0
                }
            },
            Model::Hybrid(_) => f64::NAN,
        }
    }

    /// Offered load per unit of capacity, `λ·E[S] / (servers · max_batch)`, at the mean rate
    /// and at the busiest hour; `None` for unlimited cloud concurrency. With batching this is a
    /// lower bound on the real load (batches are not always full).
    pub fn offered_load(&self, deployment: &Deployment) -> Option<(f64, f64)> {
        let capacity = match &deployment.model {
            Model::Local(l) => match &l.service {
                LocalService::Continuous(c) => f64::from(l.servers) * f64::from(c.max_num_seqs),
                _ => f64::from(l.servers) * f64::from(l.max_batch),
            },
            Model::Cloud(c) => match &c.autoscale {
                Some(a) => f64::from(a.max_instances?) * f64::from(a.concurrency),
                None => f64::from(c.max_concurrency?),
            },
            Model::Hybrid(_) => return None,
        };
        let rate_per_ms = self.traffic.arrivals.mean_rate_per_s() / 1000.0;
        let mean_load = rate_per_ms * self.mean_service_ms(deployment) / capacity;
        let peak_weight =
            self.traffic.hourly_weights.map_or(1.0, |w| w.iter().copied().fold(0.0, f64::max));
        let months = match self.simulation.horizon {
            Some(h) => f64::from(h.months),
            None => self.simulation.duration_ms / MS_PER_HOUR / HOURS_PER_MONTH,
        };
        let growth = (1.0 + self.traffic.growth_per_month).powf(months).max(1.0);
        Some((mean_load, mean_load * peak_weight * growth))
    }
}

impl Scenario {
    /// Hours of traffic one replication simulates, each weighted by its intensity multiplier
    /// (diurnal weight × growth): the expected requests of a replication are this × 3600 × the
    /// mean arrival rate. Warm-up included; for a horizon, every month's window.
    pub fn traffic_hours_per_replication(&self) -> f64 {
        let sim = &self.simulation;
        let hours = (sim.duration_ms / MS_PER_HOUR).ceil() as u64;
        match sim.horizon {
            None => {
                let sum: f64 = (0..hours).map(|h| self.traffic.hour_multiplier(h)).sum();
                sum * (sim.duration_ms / MS_PER_HOUR) / hours.max(1) as f64
            }
            Some(h) => (0..h.months)
                .map(|m| {
                    let start = Horizon::window_start_hour(m);
                    (start..start + hours).map(|h| self.traffic.hour_multiplier(h)).sum::<f64>()
                })
                .sum(),
        }
    }

    /// Expected request-visits of the whole run: each request counts once per deployment that
    /// serves it (hybrids route to their members), and, on a local deployment whose devices can
    /// be down (failures, releases, training), once more per 16 devices, which the engine scans
    /// for each request. This is what [`limits::MAX_REQUEST_VISITS`] bounds.
    pub fn expected_request_visits(&self) -> f64 {
        let per_deployment: f64 = self
            .deployments
            .iter()
            .map(|d| match &d.model {
                Model::Hybrid(_) => 0.0,
                Model::Local(l) => {
                    let scanned =
                        d.failures.is_some() || d.updates.is_some() || d.federated.is_some();
                    let devices = d.capacity_policy.map_or(l.servers, |p| p.max_servers);
                    if scanned { (f64::from(devices) / 16.0).max(1.0) } else { 1.0 }
                }
                Model::Cloud(_) => 1.0,
            })
            .sum();
        self.expected_requests() * per_deployment
    }

    /// Expected requests of the whole run, all replications together.
    pub fn expected_requests(&self) -> f64 {
        self.traffic.arrivals.mean_rate_per_s()
            * 3600.0
            * self.traffic_hours_per_replication()
            * f64::from(self.simulation.replications)
    }
}

impl ColumnSource for &dyn FileSource {
    fn column(&self, path: &str, column: &str) -> Result<Vec<f64>, String> {
        let text = self.read_to_string(path)?;
        csv_column(&text, column).map_err(|e| format!("{path}: {e}"))
    }
}

/// Parses and validates scenario text. `origin` names the file in error messages.
pub fn parse_scenario(
    origin: &str,
    text: &str,
    files: &dyn FileSource,
) -> Result<Scenario, Box<ScenarioError>> {
    let locator = Locator::new(origin, text);
    let doc =
        DeTable::parse(text).map_err(|e| Box::new(locator.error(syntax_problem(text, &e))))?;
    let wire = wire_from_doc(&doc).map_err(|p| Box::new(locator.error(p)))?;
    validate(&wire, files).map_err(|mut p| {
        if p.span.is_none() {
            p.span = locate(&doc, &p.key_path);
        }
        Box::new(locator.error(p))
    })
}

/// Validates a scenario given in wire form (a sweep point: [`crate::sweep::Editable::with`]).
pub fn scenario_from_wire(
    wire: &ScenarioWire,
    files: &dyn FileSource,
) -> Result<Scenario, Problem> {
    validate(wire, files)
}

/// Parses scenario text into its wire form only (for tools that rewrite scenarios).
pub fn parse_wire(origin: &str, text: &str) -> Result<ScenarioWire, Box<ScenarioError>> {
    let locator = Locator::new(origin, text);
    let doc =
        DeTable::parse(text).map_err(|e| Box::new(locator.error(syntax_problem(text, &e))))?;
    wire_from_doc(&doc).map_err(|p| Box::new(locator.error(p)))
}

/// A TOML syntax error, located. Errors without a span of their own (the parser's nesting
/// limit) point at the deepest nesting, where parsing stopped.
fn syntax_problem(text: &str, e: &toml::de::Error) -> Problem {
    let mut p = Problem::new("", format!("TOML syntax error: {}", e.message().trim()));
    p.span = e.span().or_else(|| {
        let (mut depth, mut deepest, mut at) = (0usize, 0usize, 0usize);
        for (i, c) in text.char_indices() {
            match c {
                '[' | '{' => {
                    depth += 1;
                    if depth > deepest {
                        (deepest, at) = (depth, i);
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                '\n' => depth = depth.min(deepest),
                _ => {}
            }
        }
        Some(at..at + 1)
    });
    p
}

fn wire_from_doc(doc: &Spanned<DeTable<'_>>) -> Result<ScenarioWire, Problem> {
    let de = toml::de::Deserializer::from(doc.clone());
    serde_path_to_error::deserialize::<_, ScenarioWire>(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = e.into_inner();
        let span = inner.span();
        let mut p = serde_problem(path, inner.message());
        p.span = span.or_else(|| locate(doc, &p.key_path));
        p
    })
}

/// Rewrites serde's messages into the key-path form of every other error.
fn serde_problem(path: String, message: &str) -> Problem {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let key = if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
        // serde_path_to_error already ends the path with the unknown key in some versions.
        let key = if path.ends_with(field) { path.clone() } else { key };
        let parent = key.rsplit_once('.').map_or("the top level", |(p, _)| p);
        let p = Problem::new(key.clone(), format!("unknown key `{field}` in {parent}"));
        return match closest(field, known.iter().copied()) {
            Some(k) => p.hint(format!("did you mean `{k}`?")),
            None => p.hint(format!("known keys here: {}", known.join(", "))),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let p = Problem::new(path.clone(), format!("unknown value \"{value}\""));
        return match closest(value, known.iter().copied()) {
            Some(k) => p.hint(format!("did you mean \"{k}\"?")),
            None => p.hint(format!("one of: {}", known.join(", "))),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        let key = if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
        return Problem::new(key, format!("missing required key `{field}`"))
            .hint("`lcsim init` prints a scenario with every key explained");
    }
    if message.contains("untagged enum LinearWire") {
        return Problem::new(
            path,
            "expected a number of milliseconds or { base = .., per_batch = .. }",
        );
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        return Problem::new(path, message.to_string());
    }
    Problem::new(path, message.to_string())
}

/// Byte span of the key at a dotted path such as `deployment[1].service_ms.mean`: the key
/// itself when it exists, else the closest enclosing key that does.
fn locate(doc: &Spanned<DeTable<'_>>, key_path: &str) -> Option<Range<usize>> {
    let mut best = None;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    for segment in key_path.split('.').filter(|s| !s.is_empty()) {
        let (name, indices) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        let Some((key, v)) = table.and_then(|t| t.iter().find(|(k, _)| k.get_ref() == name)) else {
            break;
        };
        best = Some(key.span());
        let mut value = v;
        for index in indices.split(['[', ']']).filter(|s| !s.is_empty()) {
            let Some(item) =
                index.parse::<usize>().ok().and_then(|i| value.get_ref().as_array()?.get(i))
            else {
                return best;
            };
            best = Some(item.span());
            value = item;
        }
        table = value.get_ref().as_table();
    }
    best
}

fn pair(key: &str, v: &[f64]) -> Result<[f64; 2], Problem> {
    match v {
        [a, b] => Ok([positive(&format!("{key}[0]"), *a)?, positive(&format!("{key}[1]"), *b)?]),
        _ => Err(Problem::new(key, format!("needs exactly 2 values (low, high), got {}", v.len()))),
    }
}

fn validate(wire: &ScenarioWire, files: &dyn FileSource) -> Result<Scenario, Problem> {
    if wire.name.trim().is_empty()
        || wire.name.contains(['/', '\\'])
        || wire.name.starts_with('.')
        || wire.name.chars().any(char::is_control)
        || wire.name.chars().count() > MAX_NAME_CHARS
    {
        return Err(Problem::new(
            "name",
            format!("the name must be 1 to {MAX_NAME_CHARS} characters, not start with `.`, and hold no `/`, `\\` or control characters"),
        )
        .hint("it names the output folder output/<name>/"));
    }
    let sim = &wire.simulation;
    let hours_bound = "a run covers at most 100 years (876,000 hours) of simulated time";
    let warmup_h = non_negative("simulation.warmup_hours", sim.warmup_hours.unwrap_or(0.0))?;
    crate::check::within(
        "simulation.warmup_hours",
        warmup_h,
        0.0,
        limits::MAX_DURATION_HOURS,
        hours_bound,
    )?;
    let horizon = match (sim.horizon_months, sim.window_hours) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(Problem::new(
                "simulation.window_hours",
                "`window_hours` needs `horizon_months`",
            ));
        }
        (Some(months), window) => {
            if !(1..=600).contains(&months) {
                return Err(Problem::new(
                    "simulation.horizon_months",
                    format!("must be a whole number of months from 1 to 600, got {months}"),
                ));
            }
            let window_h = positive("simulation.window_hours", window.unwrap_or(24.0))?;
            if window_h > HOURS_PER_MONTH {
                return Err(Problem::new(
                    "simulation.window_hours",
                    format!(
                        "a month has {HOURS_PER_MONTH} hours; got {}",
                        crate::check::num(window_h)
                    ),
                ));
            }
            Some(Horizon { months, window_ms: window_h * MS_PER_HOUR })
        }
    };
    let duration_h = match (sim.duration_hours, horizon) {
        (Some(_), Some(_)) => {
            return Err(Problem::new("simulation.duration_hours", "`duration_hours` is for stationary runs; a run with `horizon_months` simulates `window_hours` of each month")
                .hint("remove `duration_hours`"));
        }
        (None, None) => {
            return Err(Problem::new(
                "simulation.duration_hours",
                "missing required key `duration_hours` (or `horizon_months` for a cost horizon)",
            )
            .hint("`lcsim init` prints a scenario with every key explained"));
        }
        (Some(d), None) => {
            let d = positive("simulation.duration_hours", d)?;
            crate::check::within(
                "simulation.duration_hours",
                d,
                0.0,
                limits::MAX_DURATION_HOURS,
                hours_bound,
            )?;
            if warmup_h >= d {
                return Err(Problem::new(
                    "simulation.warmup_hours",
                    format!("warm-up ({warmup_h} h) must be shorter than the duration ({d} h)"),
                ));
            }
            d
        }
        (None, Some(h)) => warmup_h + h.window_ms / MS_PER_HOUR,
    };
    let simulation = Simulation {
        seed: sim.seed,
        replications: crate::check::count_up_to(
            "simulation.replications",
            sim.replications,
            limits::MAX_REPLICATIONS,
            "each replication keeps a row of results; split larger studies into several runs",
        )?,
        duration_ms: duration_h * MS_PER_HOUR,
        warmup_ms: warmup_h * MS_PER_HOUR,
        horizon,
    };
    let traffic = validate_traffic(&wire.traffic, files)?;
    if wire.deployments.is_empty() {
        return Err(Problem::new("deployment", "the scenario has no [[deployment]]"));
    }
    if wire.deployments.len() > 64 {
        return Err(Problem::new(
            format!("deployment[{}]", 64),
            format!(
                "a scenario holds at most 64 deployments, this one has {}",
                wire.deployments.len()
            ),
        )
        .hint("split the comparison into several scenarios"));
    }
    let mut deployments = Vec::new();
    let names: Vec<&str> = wire.deployments.iter().map(|d| d.name.as_str()).collect();
    for (i, d) in wire.deployments.iter().enumerate() {
        let key = format!("deployment[{i}]");
        if let Some(j) = wire.deployments[..i].iter().position(|o| o.name == d.name) {
            return Err(Problem::new(
                format!("{key}.name"),
                format!("deployment name '{}' is already used by deployment[{j}]", d.name),
            ));
        }
        deployments.push(validate_deployment(&key, d, &traffic, files, &names, &wire.deployments)?);
    }
    check_routing_cycles(&deployments)?;
    if simulation.horizon.is_none() {
        for (i, d) in deployments.iter().enumerate() {
            let month_keys =
                matches!(d.updates, Some(Updates::Cloud { model_change: Some(_), .. }));
            if month_keys {
                return Err(Problem::new(
                    format!("deployment[{i}].updates.model_change_month"),
                    "a model change from a given month needs `horizon_months` in [simulation]",
                ));
            }
        }
    }
    let slo = wire.slo.as_ref().map(|s| s.validate()).transpose()?;
    if wire.sweep.is_some() || wire.sensitivity.is_some() {
        let editable = crate::sweep::Editable::new(wire)?;
        if let Some(t) = &wire.sweep {
            crate::sweep::axes_of(t, &editable)?;
        }
        if let Some(t) = &wire.sensitivity {
            crate::sweep::swings_of(t, &editable)?;
        }
    }
    let mut scenario = Scenario {
        name: wire.name.clone(),
        simulation,
        traffic,
        deployments,
        slo,
        warnings: Vec::new(),
    };
    for (i, d) in scenario.deployments.iter().enumerate() {
        let unlimited_queue = match &d.model {
            Model::Local(l) => l.queue_capacity.is_none(),
            Model::Cloud(c) if c.autoscale.is_some() => d.timeout_ms.is_none(),
            Model::Cloud(c) => c.queue_capacity.is_none(),
            Model::Hybrid(_) => false,
        };
        let Some((mean_load, peak_load)) = scenario.offered_load(d) else { continue };
        if mean_load >= 1.0 && unlimited_queue {
            return Err(Problem::new(
                format!("deployment[{i}]"),
                format!(
                    "deployment '{}' is offered a load of {mean_load:.3} (arrival rate × mean service time / capacity ≥ 1): with an unlimited queue, waits grow without bound",
                    d.name
                ),
            )
            .hint("add servers or batch capacity, lower the traffic, or set `queue_capacity` so excess requests are dropped"));
        }
        if peak_load >= 1.0 && unlimited_queue {
            scenario.warnings.push(format!(
                "deployment '{}': offered load {mean_load:.3} on average but {peak_load:.3} at the busiest hour/month; queues build up at peak",
                d.name
            ));
        }
    }
    check_run_size(&scenario)?;
    Ok(scenario)
}

/// Why a device count is bounded (the hint of its error).
pub(crate) const DEVICES_WHY: &str =
    "each device keeps its own state and failure timeline; at most 100,000 per deployment";
/// The largest batch of a static batcher.
pub const MAX_BATCH: u32 = 100_000;

/// The longest scenario name, in characters: it names a folder, and file systems allow 255
/// bytes per name (up to 4 bytes a character, plus the temporary folder's prefix and suffix).
pub const MAX_NAME_CHARS: usize = 60;

/// Refuses a run that would simulate more requests, or hold more timeline intervals, than
/// [`limits`] allows, naming the key that drives the size. `parse_scenario` applies it; a caller
/// that changes the scenario afterwards (a `--replications` flag) applies it again.
pub fn check_run_size(s: &Scenario) -> Result<(), Problem> {
    let sim = &s.simulation;
    let t = &s.traffic;
    let multiplier_hours = s.traffic_hours_per_replication();
    let serving = s.deployments.iter().filter(|d| !matches!(d.model, Model::Hybrid(_))).count();
    let reps = f64::from(sim.replications);
    let visits = s.expected_request_visits();
    let (key, what) = match &t.arrivals {
        Arrivals::Trace { .. } => ("traffic.time_scale", "the trace's rate"),
        Arrivals::Mmpp { .. } => ("traffic.rates_per_s", "the arrival rate"),
        _ => ("traffic.rate_per_s", "the arrival rate"),
    };
    let key = if t.growth_per_month > 0.0 && sim.horizon.is_some() {
        "traffic.growth_per_month"
    } else {
        key
    };
    limits::request_visits(
        key,
        visits,
        &format!(
            "{what} × {} simulated hours × {} replication(s) × {serving} deployment(s){}",
            crate::check::num(multiplier_hours),
            sim.replications,
            if visits > s.expected_requests() * serving as f64 {
                ", each request scanning the devices that can be down in groups of 16"
            } else {
                ""
            }
        ),
    )?;
    if let Arrivals::Mmpp { mean_dwell_s, .. } = &t.arrivals {
        // State switches are events like arrivals.
        let switches = sim.duration_ms / (500.0 * (mean_dwell_s[0] + mean_dwell_s[1]))
            * reps
            * sim.horizon.map_or(1.0, |h| f64::from(h.months));
        limits::request_visits("traffic.mean_dwell_s", switches, "state switches of the MMPP")?;
    }
    // Failure, release and training timelines cover the whole run of one replication.
    let timeline_ms = match sim.horizon {
        None => sim.duration_ms,
        Some(h) => f64::from(h.months) * HOURS_PER_MONTH * MS_PER_HOUR,
    };
    for (i, d) in s.deployments.iter().enumerate() {
        let key = format!("deployment[{i}]");
        let devices = match (&d.model, &d.capacity_policy) {
            (Model::Local(_), Some(p)) => f64::from(p.max_servers),
            (Model::Local(l), None) => f64::from(l.servers),
            _ => 1.0,
        };
        match &d.failures {
            Some(Failures::Local { devices: f, power, .. }) => {
                if let Some(f) = f {
                    let mtbf_ms = match f.time_to_failure {
                        crate::reliability::Lifetime::Exponential { mean_ms } => mean_ms,
                        crate::reliability::Lifetime::Weibull { shape, scale_ms } => {
                            scale_ms * crate::theory::gamma(1.0 + 1.0 / shape)
                        }
                    };
                    let n = devices * timeline_ms / (mtbf_ms + f.mttr_ms);
                    limits::intervals(&format!("{key}.failures.mtbf_hours"), n, "device failures")?;
                }
                if let Some(o) = power {
                    let n = o.rate_per_ms * timeline_ms;
                    limits::intervals(
                        &format!("{key}.failures.power_outages_per_year"),
                        n,
                        "power outages",
                    )?;
                }
            }
            Some(Failures::Cloud { zones, zone, provider, .. }) => {
                for (name, o, k) in [("zone", zone, f64::from(*zones)), ("provider", provider, 1.0)]
                {
                    if let Some(o) = o {
                        limits::intervals(
                            &format!("{key}.failures.{name}_outages_per_year"),
                            k * o.rate_per_ms * timeline_ms,
                            &format!("{name} outages"),
                        )?;
                    }
                }
            }
            _ => {}
        }
        if let Some(u) = &d.updates {
            let releases = match u.cadence() {
                None => 0.0,
                Some(crate::lifecycle::Cadence::Every { interval_ms }) => timeline_ms / interval_ms,
                Some(crate::lifecycle::Cadence::Poisson { rate_per_ms }) => {
                    timeline_ms * rate_per_ms
                }
            };
            let cadence_key = match u.cadence() {
                Some(crate::lifecycle::Cadence::Poisson { .. }) => "releases_per_year",
                _ => "every_days",
            };
            limits::intervals(
                &format!("{key}.updates.{cadence_key}"),
                releases * devices,
                "model releases",
            )?;
        }
        if let Some(f) = &d.federated {
            limits::intervals(
                &format!("{key}.federated.round_every_hours"),
                timeline_ms / f.round_ms * devices,
                "federated training rounds",
            )?;
        }
        if let Some(c) = &d.central_training {
            limits::intervals(
                &format!("{key}.central_training.round_every_hours"),
                timeline_ms / c.round_ms,
                "central training rounds",
            )?;
        }
    }
    Ok(())
}

/// A hybrid may route to another hybrid, but never (through any chain) back to itself.
fn check_routing_cycles(deployments: &[Deployment]) -> Result<(), Problem> {
    for (start, d) in deployments.iter().enumerate() {
        let Model::Hybrid(_) = d.model else { continue };
        // Depth-first walk of everything `start` routes to, remembering the path.
        let mut stack: Vec<(usize, Vec<usize>)> = vec![(start, vec![start])];
        while let Some((k, path)) = stack.pop() {
            let Model::Hybrid(h) = &deployments[k].model else { continue };
            for (role, next) in [("local", h.local), ("cloud", h.cloud)] {
                if next == start {
                    let names: Vec<&str> = path
                        .iter()
                        .chain(std::iter::once(&start))
                        .map(|&i| deployments[i].name.as_str())
                        .collect();
                    return Err(Problem::new(
                        format!("deployment[{k}].{role}"),
                        format!("routing cycle: {}", names.join(" → ")),
                    )
                    .hint("a hybrid must end in local and cloud deployments"));
                }
                if !path.contains(&next) {
                    let mut p = path.clone();
                    p.push(next);
                    stack.push((next, p));
                }
            }
        }
    }
    Ok(())
}

fn validate_hybrid(
    key: &str,
    d: &DeploymentWire,
    names: &[&str],
    all: &[DeploymentWire],
) -> Result<Hybrid, Problem> {
    let what = "a hybrid deployment";
    let present = d.present_keys();
    only_keys(
        key,
        &present,
        &[
            "policy",
            "local",
            "cloud",
            "overflow_queue_above",
            "fallback_timeout_ms",
            "order",
            "data_must_stay_local",
            "timeout_ms",
        ],
        what,
    )?;
    let policy = d.policy.ok_or_else(|| {
        Problem::new(format!("{key}.policy"), "a hybrid deployment needs `policy`")
            .hint("policy = \"overflow\", \"fallback\" or \"rerank\"")
    })?;
    let member = |role: &str,
                  name: &Option<String>,
                  kind: DeploymentKind|
     -> Result<usize, Problem> {
        let name = name.as_ref().ok_or_else(|| {
            Problem::new(
                format!("{key}.{role}"),
                format!("a hybrid deployment needs `{role}`, the name of its {role} deployment"),
            )
        })?;
        let Some(i) = names.iter().position(|n| n == name) else {
            let p =
                Problem::new(format!("{key}.{role}"), format!("no deployment is named '{name}'"));
            return Err(match closest(name, names.iter().copied()) {
                Some(c) => p.hint(format!("did you mean '{c}'?")),
                None => p.hint(format!("deployments: {}", names.join(", "))),
            });
        };
        if all[i].kind != kind && all[i].kind != DeploymentKind::Hybrid {
            return Err(Problem::new(
                format!("{key}.{role}"),
                format!("'{name}' is a {:?} deployment; `{role}` must name a {role} (or hybrid) deployment", all[i].kind).to_lowercase(),
            ));
        }
        Ok(i)
    };
    let local = member("local", &d.local, DeploymentKind::Local)?;
    let cloud = member("cloud", &d.cloud, DeploymentKind::Cloud)?;
    let allowed: &[&str] = match policy {
        Policy::Overflow => &["overflow_queue_above"],
        Policy::Fallback => &["fallback_timeout_ms"],
        Policy::Rerank => &["order"],
    };
    for k in ["overflow_queue_above", "fallback_timeout_ms", "order"] {
        if present.contains(&k) && !allowed.contains(&k) {
            return Err(Problem::new(
                format!("{key}.{k}"),
                format!(
                    "`{k}` does not apply to policy = \"{}\"",
                    format!("{policy:?}").to_lowercase()
                ),
            ));
        }
    }
    let fallback_timeout_ms = match d.fallback_timeout_ms {
        None => f64::INFINITY,
        Some(t) => positive(&format!("{key}.fallback_timeout_ms"), t)?,
    };
    Ok(Hybrid {
        policy,
        local,
        cloud,
        overflow_queue_above: d.overflow_queue_above.unwrap_or(0),
        fallback_timeout_ms,
        order: d.order.unwrap_or(RerankOrder::CloudFirst),
        data_must_stay_local: share(
            &format!("{key}.data_must_stay_local"),
            d.data_must_stay_local.unwrap_or(0.0),
        )?,
    })
}

fn validate_traffic(t: &TrafficWire, files: &dyn FileSource) -> Result<Traffic, Problem> {
    let key = "traffic";
    let present = t.present_keys();
    let what = |p: &str| format!("pattern = \"{p}\"");
    let rate = |what: &str| -> Result<f64, Problem> {
        positive("traffic.rate_per_s", require(key, "rate_per_s", t.rate_per_s, what)?)
    };
    let mut hourly_weights = None;
    let arrivals = match t.pattern {
        Pattern::Poisson => {
            only_keys(key, &present, &["rate_per_s"], &what("poisson"))?;
            Arrivals::Poisson { rate_per_s: rate(&what("poisson"))? }
        }
        Pattern::Diurnal => {
            let w = what("diurnal");
            only_keys(
                key,
                &present,
                &["rate_per_s", "peak_to_trough", "peak_hour", "hourly_weights"],
                &w,
            )?;
            let weights: Vec<f64> = match (&t.hourly_weights, t.peak_to_trough) {
                (Some(list), None) => {
                    if t.peak_hour.is_some() {
                        return Err(Problem::new(
                            "traffic.peak_hour",
                            "`peak_hour` goes with `peak_to_trough`, not with `hourly_weights`",
                        ));
                    }
                    if list.len() != 24 {
                        return Err(Problem::new(
                            "traffic.hourly_weights",
                            format!("needs 24 weights (one per hour), got {}", list.len()),
                        ));
                    }
                    for (h, v) in list.iter().enumerate() {
                        non_negative(&format!("traffic.hourly_weights[{h}]"), *v)?;
                    }
                    list.clone()
                }
                (None, Some(ratio)) => {
                    let ratio = positive("traffic.peak_to_trough", ratio)?;
                    if ratio < 1.0 {
                        return Err(Problem::new(
                            "traffic.peak_to_trough",
                            format!(
                                "must be at least 1 (peak over trough), got {}",
                                crate::check::num(ratio)
                            ),
                        ));
                    }
                    let peak = require(key, "peak_hour", t.peak_hour, &w)?;
                    if !(0.0..24.0).contains(&peak) {
                        return Err(Problem::new(
                            "traffic.peak_hour",
                            format!("must be an hour in [0, 24), got {}", crate::check::num(peak)),
                        ));
                    }
                    // Cosine profile with max/min = ratio, evaluated at each hour's middle.
                    let a = (ratio - 1.0) / (ratio + 1.0);
                    (0..24)
                        .map(|h| {
                            1.0 + a * (std::f64::consts::TAU * (h as f64 + 0.5 - peak) / 24.0).cos()
                        })
                        .collect()
                }
                _ => {
                    return Err(Problem::new(key, "pattern = \"diurnal\" needs either `peak_to_trough` and `peak_hour`, or `hourly_weights`")
                        .hint("e.g. peak_to_trough = 4.0, peak_hour = 14"));
                }
            };
            let mean = weights.iter().sum::<f64>() / 24.0;
            if mean <= 0.0 {
                return Err(Problem::new(
                    "traffic.hourly_weights",
                    "at least one weight must be positive",
                ));
            }
            let mut normalized = [0.0; 24];
            for (n, w) in normalized.iter_mut().zip(&weights) {
                *n = w / mean;
            }
            hourly_weights = Some(normalized);
            Arrivals::Poisson { rate_per_s: rate(&w)? }
        }
        Pattern::Bursty => {
            let w = what("bursty");
            if t.rates_per_s.is_some() || t.mean_dwell_s.is_some() {
                only_keys(
                    key,
                    &present,
                    &["rates_per_s", "mean_dwell_s"],
                    &format!("{w} (MMPP form)"),
                )?;
                let rates = t.rates_per_s.as_deref().ok_or_else(|| {
                    Problem::new(
                        "traffic.rates_per_s",
                        "the MMPP form needs `rates_per_s` = [low, high]",
                    )
                })?;
                let dwell = t.mean_dwell_s.as_deref().ok_or_else(|| Problem::new("traffic.mean_dwell_s", "the MMPP form needs `mean_dwell_s` = [low, high] (mean seconds in each state)"))?;
                Arrivals::Mmpp {
                    rates_per_s: pair("traffic.rates_per_s", rates)?,
                    mean_dwell_s: pair("traffic.mean_dwell_s", dwell)?,
                }
            } else {
                only_keys(
                    key,
                    &present,
                    &["rate_per_s", "cv"],
                    &format!("{w} (Gamma renewal form)"),
                )?;
                let cv = crate::check::within(
                    "traffic.cv",
                    require(key, "cv", t.cv, &w)?,
                    crate::dist::GAMMA_CV_RANGE.0,
                    crate::dist::GAMMA_CV_RANGE.1,
                    "gaps are Gamma with shape 1/cv²; from 1e-6 to 1e12 it is sampled accurately",
                )?;
                Arrivals::GammaRenewal { rate_per_s: rate(&w)?, cv }
            }
        }
        Pattern::Trace => {
            let w = what("trace");
            only_keys(key, &present, &["trace_file", "time_scale", "at_end"], &w)?;
            let file = t.trace_file.as_deref().ok_or_else(|| {
                Problem::new("traffic.trace_file", "pattern = \"trace\" needs `trace_file`")
            })?;
            let text =
                files.read_to_string(file).map_err(|e| Problem::new("traffic.trace_file", e))?;
            let trace = parse_trace(&text)
                .map_err(|e| Problem::new("traffic.trace_file", format!("{file}: {e}")))?;
            if trace.len() < 2 || trace.span_ms() <= 0.0 {
                return Err(Problem::new(
                    "traffic.trace_file",
                    format!("{file}: a trace needs at least two requests at different times"),
                ));
            }
            let time_scale = positive("traffic.time_scale", t.time_scale.unwrap_or(1.0))?;
            Arrivals::Trace { trace, time_scale, at_end: t.at_end.unwrap_or(TraceEnd::Loop) }
        }
    };
    let growth_per_month = t.growth_per_month.unwrap_or(0.0);
    if !(growth_per_month.is_finite() && growth_per_month > -1.0 && growth_per_month <= 10.0) {
        return Err(Problem::new(
            "traffic.growth_per_month",
            format!(
                "must be a number above -1 and at most 10 (0.05 = +5 % a month), got {}",
                crate::check::num(growth_per_month)
            ),
        ));
    }
    let tokens = |name: &str, wire: &Option<DistWire>| -> Result<TokenSource, Problem> {
        match (wire, matches!(arrivals, Arrivals::Trace { .. })) {
            (Some(_), true) => Err(Problem::new(
                format!("traffic.{name}"),
                "token counts come from the trace when pattern = \"trace\"",
            )
            .hint("remove this key")),
            (None, true) => Ok(TokenSource::Trace),
            (None, false) => Ok(TokenSource::None),
            (Some(d), false) => {
                Ok(TokenSource::Dist(d.validate(&format!("traffic.{name}"), &files)?))
            }
        }
    };
    let level_noise_cv = t.level_noise_cv.unwrap_or(0.0);
    if !(level_noise_cv.is_finite() && (0.0..=10.0).contains(&level_noise_cv)) {
        return Err(Problem::new(
            "traffic.level_noise_cv",
            format!("must be from 0 to 10, got {}", crate::check::num(level_noise_cv)),
        )
        .hint("a cv of 10 already moves a month's traffic a hundredfold"));
    }
    Ok(Traffic {
        level_noise_cv,
        prompt_tokens: tokens("prompt_tokens", &t.prompt_tokens)?,
        output_tokens: tokens("output_tokens", &t.output_tokens)?,
        arrivals,
        hourly_weights,
        growth_per_month,
    })
}

fn load_profile(key: &str, path: &str, files: &dyn FileSource) -> Result<Profile, Problem> {
    let text =
        files.read_to_string(path).map_err(|e| Problem::new(format!("{key}.calibration"), e))?;
    parse_profile(&text).map_err(|e| {
        Problem::new(
            format!("{key}.calibration"),
            format!("{path} is not a valid calibration profile: {}", e.trim()),
        )
        .hint("profiles are written by `lcsim calibrate local`, `lcsim calibrate cloud` and `lcsim calibrate server`")
    })
}

/// The keys of a local deployment, whatever its scheduler.
const LOCAL_KEYS: [&str; 17] = [
    "calibration",
    "servers",
    "max_batch",
    "batch_timeout_ms",
    "scheduler",
    "queue_capacity",
    "service_ms",
    "prefill_ms_per_token",
    "decode_ms_per_token",
    "overhead_ms",
    "capacity_policy",
    "cost",
    "timeout_ms",
    "failures",
    "updates",
    "federated",
    "central_training",
];

/// The keys that apply only to `scheduler = "continuous"`.
const CONTINUOUS_KEYS: [&str; 7] = [
    "max_num_seqs",
    "kv_cache_tokens",
    "max_batched_tokens",
    "attention_ms_per_context_token",
    "decode_ms_by_batch",
    "prefill_attention_ms_per_context_token",
    "prefill_overhead_ms",
];

/// A problem inside the profile at `path`, reported at the deployment's `calibration` key.
fn in_profile(key: &str, path: &str, e: Problem) -> Problem {
    let mut q = Problem::new(
        format!("{key}.calibration"),
        format!("{path}: `{}` {}", e.key_path, e.message),
    );
    q.hint = e.hint;
    q
}

/// A local deployment's calibration profile, validated; the error names the profile's key.
fn load_local_profile(
    key: &str,
    path: &str,
    files: &dyn FileSource,
) -> Result<crate::profile::LocalProfile, Problem> {
    match load_profile(key, path, files)? {
        Profile::Local(p) => {
            p.validate().map_err(|e| in_profile(key, path, e))?;
            Ok(p)
        }
        Profile::Cloud(_) => Err(Problem::new(
            format!("{key}.calibration"),
            format!(
                "{path} is a cloud profile; a local deployment needs a local one (`lcsim calibrate local`)"
            ),
        )),
        Profile::Server(_) => Err(Problem::new(
            format!("{key}.calibration"),
            format!(
                "{path} is a server profile: it describes continuous batching, so it needs scheduler = \"continuous\""
            ),
        )),
    }
}

fn linear(key: &str, w: LinearWire) -> Result<Linear, Problem> {
    let l = match w {
        LinearWire::Constant(v) => Linear { base: v, per_batch: 0.0 },
        LinearWire::Linear(t) => Linear { base: t.base, per_batch: t.per_batch },
    };
    if let LinearWire::Linear(t) = w {
        let context_keys = t.per_context.is_some() || t.per_batch_context.is_some();
        if context_keys && !key.ends_with("decode_ms_per_token") {
            return Err(Problem::new(
                format!("{key}.per_context"),
                "`per_context` and `per_batch_context` apply to `decode_ms_per_token` only",
            ));
        }
    }
    non_negative(&format!("{key}.base"), l.base)?;
    non_negative(&format!("{key}.per_batch"), l.per_batch)?;
    Ok(l)
}

fn validate_deployment(
    key: &str,
    d: &DeploymentWire,
    traffic: &Traffic,
    files: &dyn FileSource,
    names: &[&str],
    all: &[DeploymentWire],
) -> Result<Deployment, Problem> {
    if d.name.trim().is_empty() {
        return Err(Problem::new(format!("{key}.name"), "the deployment name must not be empty"));
    }
    let timeout_ms = d.timeout_ms.map(|t| positive(&format!("{key}.timeout_ms"), t)).transpose()?;
    if d.kind == DeploymentKind::Hybrid {
        return Ok(Deployment {
            name: d.name.clone(),
            model: Model::Hybrid(validate_hybrid(key, d, names, all)?),
            cost: None,
            capacity_policy: None,
            timeout_ms,
            failures: None,
            updates: None,
            federated: None,
            central_training: None,
        });
    }
    let present = d.present_keys();
    let need_tokens = |what: &str, prompt: bool| -> Result<(), Problem> {
        let missing_output = traffic.output_tokens == TokenSource::None;
        let missing_prompt = prompt && traffic.prompt_tokens == TokenSource::None;
        if missing_output || missing_prompt {
            let which = if missing_prompt { "prompt_tokens" } else { "output_tokens" };
            return Err(Problem::new(format!("traffic.{which}"), format!("deployment '{}' uses {what}, which needs token counts, but [traffic] has no `{which}`", d.name))
                .hint(format!("add e.g. {which} = {{ dist = \"lognormal\", median = 200, p95 = 800 }} to [traffic]")));
        }
        Ok(())
    };
    let model = match d.kind {
        DeploymentKind::Local => {
            let what = "a local deployment";
            only_keys(
                key,
                &present,
                &LOCAL_KEYS.iter().chain(&CONTINUOUS_KEYS).copied().collect::<Vec<_>>(),
                what,
            )?;
            let servers = count_up_to(
                &format!("{key}.servers"),
                require(key, "servers", d.servers, what)?,
                limits::MAX_DEVICES,
                DEVICES_WHY,
            )?;
            if d.scheduler == Some(SchedulerKind::Continuous) {
                need_tokens("scheduler = \"continuous\"", true)?;
                let continuous = validate_continuous(key, d, traffic, files)?;
                return finish_deployment(
                    key,
                    d,
                    Model::Local(Local {
                        servers,
                        max_batch: 1,
                        batch_timeout_ms: 0.0,
                        queue_capacity: d.queue_capacity,
                        service: LocalService::Continuous(continuous),
                    }),
                    timeout_ms,
                    files,
                );
            }
            for k in CONTINUOUS_KEYS {
                if present.contains(&k) {
                    return Err(Problem::new(
                        format!("{key}.{k}"),
                        format!("`{k}` applies to scheduler = \"continuous\""),
                    )
                    .hint(
                        "add scheduler = \"continuous\" (what LLM servers run), or remove the key",
                    ));
                }
            }
            let max_batch = count_up_to(
                &format!("{key}.max_batch"),
                d.max_batch.unwrap_or(1),
                MAX_BATCH,
                "a batch's requests are held together in memory",
            )?;
            let batch_timeout_ms = non_negative(
                &format!("{key}.batch_timeout_ms"),
                d.batch_timeout_ms.unwrap_or(0.0),
            )?;
            if max_batch == 1 && d.batch_timeout_ms.is_some_and(|t| t > 0.0) {
                return Err(Problem::new(
                    format!("{key}.batch_timeout_ms"),
                    "a batch timeout needs max_batch > 1",
                )
                .hint("raise max_batch or remove batch_timeout_ms"));
            }
            if max_batch > 1 && d.queue_capacity == Some(0) {
                return Err(Problem::new(
                    format!("{key}.queue_capacity"),
                    "a batching deployment needs a waiting room of at least 1 (requests queue while their batch forms)",
                ));
            }
            let token_keys = [
                d.prefill_ms_per_token.is_some(),
                d.decode_ms_per_token.is_some(),
                d.overhead_ms.is_some(),
            ];
            let profile = d
                .calibration
                .as_ref()
                .map(|path| load_local_profile(key, path, files))
                .transpose()?;
            let service = match (&d.service_ms, token_keys.iter().any(|p| *p)) {
                (None, false) if profile.is_some() => {
                    let fit = profile.as_ref().map(|p| p.fit).expect("checked");
                    need_tokens("a calibration profile's token model", true)?;
                    LocalService::Tokens(TokenLatency {
                        prefill_ms_per_token: Linear { base: fit.prefill_ms_per_token.max(0.0), per_batch: 0.0 },
                        decode_ms_per_token: Linear { base: fit.decode_base_ms.max(0.0), per_batch: fit.decode_ms_per_batch.max(0.0) },
                        decode_ms_per_context_token: Linear { base: fit.decode_ms_per_context.max(0.0), per_batch: fit.decode_ms_per_batch_context.max(0.0) },
                        overhead_ms: fit.prefill_base_ms.max(0.0),
                    })
                }
                _ if profile.is_some() => {
                    return Err(Problem::new(format!("{key}.calibration"), "the calibration profile supplies the latency model: remove `service_ms` and the token-model keys, or `calibration`"));
                }
                (Some(s), false) => LocalService::Dist(s.validate(&format!("{key}.service_ms"), &files)?),
                (None, true) => {
                    let decode = require(key, "decode_ms_per_token", d.decode_ms_per_token, "the token latency model")?;
                    let prefill = d.prefill_ms_per_token.unwrap_or(LinearWire::Constant(0.0));
                    need_tokens("the token latency model", d.prefill_ms_per_token.is_some())?;
                    LocalService::Tokens(TokenLatency {
                        prefill_ms_per_token: linear(&format!("{key}.prefill_ms_per_token"), prefill)?,
                        decode_ms_per_token: linear(&format!("{key}.decode_ms_per_token"), decode)?,
                        decode_ms_per_context_token: match decode {
                            LinearWire::Linear(t) => Linear {
                                base: non_negative(&format!("{key}.decode_ms_per_token.per_context"), t.per_context.unwrap_or(0.0))?,
                                per_batch: non_negative(&format!("{key}.decode_ms_per_token.per_batch_context"), t.per_batch_context.unwrap_or(0.0))?,
                            },
                            LinearWire::Constant(_) => Linear { base: 0.0, per_batch: 0.0 },
                        },
                        overhead_ms: non_negative(&format!("{key}.overhead_ms"), d.overhead_ms.unwrap_or(0.0))?,
                    })
                }
                (Some(_), true) => return Err(Problem::new(format!("{key}.service_ms"), "give either `service_ms` or the token model (`prefill_ms_per_token`, `decode_ms_per_token`), not both")),
                (None, false) => return Err(Problem::new(format!("{key}.service_ms"), "a local deployment needs `service_ms`, or `decode_ms_per_token` (token latency model)")
                    .hint("e.g. service_ms = { dist = \"lognormal\", median = 800, p95 = 2000 }")),
            };
            Model::Local(Local {
                servers,
                max_batch,
                batch_timeout_ms,
                queue_capacity: d.queue_capacity,
                service,
            })
        }
        DeploymentKind::Cloud => {
            let what = "a cloud deployment";
            only_keys(
                key,
                &present,
                &[
                    "calibration",
                    "network_rtt_ms",
                    "service_ms",
                    "ttft_ms",
                    "output_tokens_per_s",
                    "max_concurrency",
                    "queue_capacity",
                    "cost",
                    "timeout_ms",
                    "autoscale",
                    "rate_limit",
                    "failures",
                    "updates",
                ],
                what,
            )?;
            let profile = match &d.calibration {
                None => None,
                Some(path) => match load_profile(key, path, files)? {
                    Profile::Cloud(p) => Some(p),
                    other @ (Profile::Local(_) | Profile::Server(_)) => {
                        return Err(Problem::new(
                            format!("{key}.calibration"),
                            format!(
                                "{path} is a {} profile; a cloud deployment needs a cloud one (`lcsim calibrate cloud`)",
                                if matches!(other, Profile::Local(_)) { "local" } else { "server" }
                            ),
                        ));
                    }
                },
            };
            if profile.is_some() && d.network_rtt_ms.is_some() {
                return Err(Problem::new(
                    format!("{key}.network_rtt_ms"),
                    "the calibration profile supplies `network_rtt_ms` (its [rtt_ms.fit]); remove one of them",
                ));
            }
            let measured_streaming = profile
                .as_ref()
                .and_then(|p| Some((p.ttft_ms.as_ref()?.fit.clone(), p.output_tokens_per_s?)));
            let provider = match (&d.service_ms, &d.ttft_ms) {
                (None, None) if measured_streaming.is_some() => {
                    let (ttft, rate) = measured_streaming.expect("checked");
                    need_tokens("output_tokens_per_s", false)?;
                    Provider::Streaming {
                        ttft_ms: ttft.validate(&format!("{key}.calibration"), &files)?,
                        output_tokens_per_s: positive(&format!("{key}.calibration"), rate)?,
                    }
                }
                (Some(s), None) => {
                    if d.output_tokens_per_s.is_some() {
                        return Err(Problem::new(
                            format!("{key}.output_tokens_per_s"),
                            "`output_tokens_per_s` goes with `ttft_ms`, not with `service_ms`",
                        ));
                    }
                    Provider::Dist(s.validate(&format!("{key}.service_ms"), &files)?)
                }
                (None, Some(ttft)) => {
                    let rate = positive(
                        &format!("{key}.output_tokens_per_s"),
                        require(
                            key,
                            "output_tokens_per_s",
                            d.output_tokens_per_s,
                            "a streaming cloud model (ttft_ms)",
                        )?,
                    )?;
                    need_tokens("output_tokens_per_s", false)?;
                    Provider::Streaming {
                        ttft_ms: ttft.validate(&format!("{key}.ttft_ms"), &files)?,
                        output_tokens_per_s: rate,
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(Problem::new(
                        format!("{key}.ttft_ms"),
                        "give either `service_ms` or `ttft_ms` with `output_tokens_per_s`, not both",
                    ));
                }
                (None, None) => {
                    return Err(Problem::new(
                        format!("{key}.service_ms"),
                        "a cloud deployment needs `service_ms`, or `ttft_ms` and `output_tokens_per_s`",
                    ));
                }
            };
            if let Some(c) = d.max_concurrency {
                count_up_to(
                    &format!("{key}.max_concurrency"),
                    c,
                    limits::MAX_SLOTS as u32,
                    "each concurrency slot keeps its own state (about 100 MB per million)",
                )?;
            }
            if d.queue_capacity.is_some() && d.max_concurrency.is_none() {
                return Err(Problem::new(
                    format!("{key}.queue_capacity"),
                    "`queue_capacity` needs `max_concurrency` (with unlimited concurrency nothing waits)",
                ));
            }
            let network_rtt_ms = match &profile {
                Some(p) => Some(p.rtt_ms.fit.validate(&format!("{key}.calibration"), &files)?),
                None => d
                    .network_rtt_ms
                    .as_ref()
                    .map(|w| w.validate(&format!("{key}.network_rtt_ms"), &files))
                    .transpose()?,
            };
            let autoscale = match &d.autoscale {
                None => None,
                Some(a) => {
                    for k in ["max_concurrency", "queue_capacity"] {
                        if present.contains(&k) {
                            return Err(Problem::new(format!("{key}.{k}"), format!("`{k}` does not apply to an autoscaled deployment"))
                                .hint("capacity comes from [autoscale]: max_instances × concurrency_per_instance; use `timeout_ms` to give up on waiting requests"));
                        }
                    }
                    Some(a.validate(&format!("{key}.autoscale"), &files)?)
                }
            };
            Model::Cloud(Cloud {
                network_rtt_ms,
                provider,
                max_concurrency: d.max_concurrency,
                queue_capacity: d.queue_capacity,
                autoscale,
                rate_limit: d
                    .rate_limit
                    .as_ref()
                    .map(|r| r.validate(&format!("{key}.rate_limit")))
                    .transpose()?,
            })
        }
        DeploymentKind::Hybrid => unreachable!("hybrids are validated above"),
    };
    finish_deployment(key, d, model, timeout_ms, files)
}

/// `scheduler = "continuous"`: the step model from the keys, or from a calibration profile
/// (`prefill_base_ms` → `overhead_ms`, `prefill_ms_per_token`, `decode_base_ms` and
/// `decode_ms_per_batch` → `decode_ms_per_token`, `decode_ms_per_batch_context` →
/// `attention_ms_per_context_token`; the batch-independent context term has no counterpart
/// and is left out).
fn validate_continuous(
    key: &str,
    d: &DeploymentWire,
    traffic: &Traffic,
    files: &dyn FileSource,
) -> Result<Continuous, Problem> {
    let what = "scheduler = \"continuous\"";
    for k in ["max_batch", "batch_timeout_ms", "service_ms"] {
        if d.present_keys().contains(&k) {
            return Err(Problem::new(
                format!("{key}.{k}"),
                format!("`{k}` does not apply to {what}"),
            )
            .hint("slots are `max_num_seqs`; iteration times come from the token model"));
        }
    }
    // A server profile (`lcsim calibrate server`) brings the slot count and KV capacity it
    // measured; the deployment's own keys win.
    let server = match &d.calibration {
        Some(path) => match load_profile(key, path, files)? {
            Profile::Server(p) => {
                p.validate().map_err(|e| in_profile(key, path, e))?;
                Some(p)
            }
            _ => None,
        },
        None => None,
    };
    let max_num_seqs = count_up_to(
        &format!("{key}.max_num_seqs"),
        require(
            key,
            "max_num_seqs",
            d.max_num_seqs.or(server.as_ref().map(|p| p.server.slots)),
            what,
        )?,
        4096,
        "sequences decoded together (llama.cpp --parallel, vLLM max_num_seqs); at most 4096",
    )?;
    let kv = require(
        key,
        "kv_cache_tokens",
        d.kv_cache_tokens.or(server.as_ref().and_then(|p| p.server.kv_cache_tokens)),
        what,
    )?;
    if kv == 0 || kv > 1 << 40 {
        return Err(Problem::new(
            format!("{key}.kv_cache_tokens"),
            format!("must be a whole number of tokens from 1 to 2^40, got {kv}"),
        ));
    }
    let trace = match &traffic.arrivals {
        Arrivals::Trace { trace, .. } => Some(trace),
        _ => None,
    };
    let mean_prompt = traffic.prompt_tokens.mean(trace.map(|t| &*t.prompt_tokens)).unwrap_or(0.0);
    if (kv as f64) < mean_prompt {
        return Err(Problem::new(
            format!("{key}.kv_cache_tokens"),
            format!("{kv} tokens cannot hold even a mean prompt ({mean_prompt:.0} tokens)"),
        )
        .hint("the KV cache holds every running sequence's prompt and output (llama.cpp -c, vLLM blocks × block size)"));
    }
    let max_batched_tokens = match d.max_batched_tokens {
        None => None,
        Some(m) if m > u64::from(max_num_seqs) && m <= 1 << 40 => Some(m),
        Some(m) => {
            return Err(Problem::new(
                format!("{key}.max_batched_tokens"),
                format!(
                    "must exceed max_num_seqs ({max_num_seqs}), so that prefill can progress while every slot decodes; got {m}"
                ),
            ));
        }
    };
    let token_keys = [
        "prefill_ms_per_token",
        "decode_ms_per_token",
        "overhead_ms",
        "attention_ms_per_context_token",
        "decode_ms_by_batch",
        "prefill_attention_ms_per_context_token",
        "prefill_overhead_ms",
    ];
    if let Some(p) = &server {
        if let Some(k) = token_keys.iter().find(|k| d.present_keys().contains(k)) {
            return Err(Problem::new(
                format!("{key}.{k}"),
                "the calibration profile supplies the step model: remove this key, or `calibration`",
            ));
        }
        return Ok(Continuous::from_server(p, max_num_seqs, kv, max_batched_tokens));
    }
    let profile_fit = d
        .calibration
        .as_ref()
        .map(|path| load_local_profile(key, path, files).map(|p| p.fit))
        .transpose()?;
    if let Some(fit) = profile_fit {
        if let Some(k) = token_keys.iter().find(|k| d.present_keys().contains(k)) {
            return Err(Problem::new(
                format!("{key}.{k}"),
                "the calibration profile supplies the step model: remove this key, or `calibration`",
            ));
        }
        return Ok(Continuous {
            max_num_seqs,
            kv_cache_tokens: kv,
            max_batched_tokens,
            prefill_ms_per_token: fit.prefill_ms_per_token.max(0.0),
            decode_ms: Linear {
                base: fit.decode_base_ms.max(0.0),
                per_batch: fit.decode_ms_per_batch.max(0.0),
            },
            decode_ms_by_batch: DecodeTable::NONE,
            attention_ms_per_context_token: fit.decode_ms_per_batch_context.max(0.0),
            prefill_attention_ms_per_context_token: 0.0,
            prefill_overhead_ms: 0.0,
            overhead_ms: fit.prefill_base_ms.max(0.0),
        });
    }
    let decode = require(key, "decode_ms_per_token", d.decode_ms_per_token, what)?;
    if let LinearWire::Linear(t) = decode
        && (t.per_context.is_some() || t.per_batch_context.is_some())
    {
        return Err(Problem::new(
            format!("{key}.decode_ms_per_token.per_context"),
            format!("with {what}, the context term is `attention_ms_per_context_token`"),
        ));
    }
    let prefill = match d.prefill_ms_per_token {
        None => 0.0,
        Some(LinearWire::Constant(v)) => non_negative(&format!("{key}.prefill_ms_per_token"), v)?,
        Some(LinearWire::Linear(_)) => {
            return Err(Problem::new(
                format!("{key}.prefill_ms_per_token"),
                format!("with {what}, prefill costs a number of milliseconds per token"),
            ));
        }
    };
    Ok(Continuous {
        max_num_seqs,
        kv_cache_tokens: kv,
        max_batched_tokens,
        prefill_ms_per_token: prefill,
        decode_ms: linear(&format!("{key}.decode_ms_per_token"), decode)?,
        decode_ms_by_batch: match &d.decode_ms_by_batch {
            None => DecodeTable::NONE,
            Some(v) => {
                let k = format!("{key}.decode_ms_by_batch");
                if v.is_empty() || v.len() > DecodeTable::MAX {
                    return Err(Problem::new(
                        k,
                        format!(
                            "needs from 1 to {} steps (for 1, 2, … sequences), got {}",
                            DecodeTable::MAX,
                            v.len()
                        ),
                    ));
                }
                for (i, x) in v.iter().enumerate() {
                    non_negative(&format!("{k}[{i}]"), *x)?;
                }
                DecodeTable::new(v)
            }
        },
        attention_ms_per_context_token: non_negative(
            &format!("{key}.attention_ms_per_context_token"),
            d.attention_ms_per_context_token.unwrap_or(0.0),
        )?,
        prefill_attention_ms_per_context_token: non_negative(
            &format!("{key}.prefill_attention_ms_per_context_token"),
            d.prefill_attention_ms_per_context_token.unwrap_or(0.0),
        )?,
        prefill_overhead_ms: non_negative(
            &format!("{key}.prefill_overhead_ms"),
            d.prefill_overhead_ms.unwrap_or(0.0),
        )?,
        overhead_ms: non_negative(&format!("{key}.overhead_ms"), d.overhead_ms.unwrap_or(0.0))?,
    })
}

/// The tables every local or cloud deployment may have (cost, capacity policy, failures,
/// updates, training), validated against its model.
fn finish_deployment(
    key: &str,
    d: &DeploymentWire,
    model: Model,
    timeout_ms: Option<f64>,
    files: &dyn FileSource,
) -> Result<Deployment, Problem> {
    let cost = match (&d.cost, &model) {
        (None, _) => None,
        (Some(c), Model::Local(_)) => {
            Some(CostModel::Local(c.validate_local(&format!("{key}.cost"))?))
        }
        (Some(c), Model::Cloud(cloud)) => Some(CostModel::Cloud(c.validate_cloud(
            &format!("{key}.cost"),
            cloud.max_concurrency,
            cloud.autoscale.is_some(),
        )?)),
        (Some(_), Model::Hybrid(_)) => unreachable!("hybrids are validated above"),
    };
    let capacity_policy = match (&d.capacity_policy, &model) {
        (None, _) => None,
        (Some(p), Model::Local(local)) => {
            Some(p.validate(&format!("{key}.capacity_policy"), local.servers)?)
        }
        (Some(_), _) => {
            return Err(Problem::new(
                format!("{key}.capacity_policy"),
                "a capacity policy buys devices; it applies to local deployments",
            ));
        }
    };
    let failures = match (&d.failures, &model) {
        (None, _) => None,
        (Some(f), Model::Local(_)) => Some(f.validate_local(&format!("{key}.failures"), &files)?),
        (Some(f), _) => Some(f.validate_cloud(&format!("{key}.failures"), &files)?),
    };
    let updates = match (&d.updates, &model) {
        (None, _) => None,
        (Some(u), Model::Local(_)) => Some(u.validate_local(&format!("{key}.updates"))?),
        (Some(u), _) => Some(u.validate_cloud(&format!("{key}.updates"))?),
    };
    if let (Some(Updates::Cloud { cadence: Some(_), .. }), Model::Cloud(c)) = (&updates, &model)
        && c.autoscale.is_none()
        && c.max_concurrency.is_none()
        && d.updates.as_ref().is_some_and(|u| u.switch_minutes.is_some())
    {
        return Err(Problem::new(
            format!("{key}.updates.switch_minutes"),
            "a per-token API has no instances to switch: releases are the provider's",
        )
        .hint(
            "use model_change_month, latency_factor and price_factor for a provider's model change",
        ));
    }
    let federated =
        d.federated.as_ref().map(|f| f.validate(&format!("{key}.federated"))).transpose()?;
    let central_training = d
        .central_training
        .as_ref()
        .map(|c| c.validate(&format!("{key}.central_training")))
        .transpose()?;
    Ok(Deployment {
        name: d.name.clone(),
        model,
        cost,
        capacity_policy,
        timeout_ms,
        failures,
        updates,
        federated,
        central_training,
    })
}
