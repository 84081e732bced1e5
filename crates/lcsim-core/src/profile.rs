//! Calibration profiles: measured (or published) performance of a device or an endpoint, as
//! TOML files in `calibration/`, with their provenance. `lcsim calibrate` writes them; a
//! scenario deployment refers to one with `calibration = "calibration/x.toml"`, and the engine
//! reads nothing else (it never calls the calibrator).
//!
//! A **local** profile holds the fitted latency model of a transformer shape on a device:
//! decode step `a + b·batch + (c + f·batch)·context` and prefill `d + e·prompt_tokens`, in
//! milliseconds, fitted by least squares to timed forward passes, with the fit's R² and largest
//! relative residual. (The `f·batch·context` term is attention over every sequence's KV cache;
//! without it a fit over several batch sizes misses the single-request case by 30 % or more.)
//! In a scenario it becomes the token model: `overhead_ms = d`, `prefill_ms_per_token = e`,
//! `decode_ms_per_token = { base = a, per_batch = b, per_context = c, per_batch_context = f }`.
//!
//! A **server** profile holds the continuous-batching step model of a running LLM server
//! (llama-server, vLLM, TGI, Ollama, SGLang), measured through its OpenAI-compatible streaming
//! API by `lcsim calibrate server`: the slot count and KV capacity, and the iteration time
//! `overhead + prefill·prompt tokens + decode(b) + attention·context`. In a scenario with
//! `scheduler = "continuous"` its fields map one to one onto the deployment's keys:
//! `fit.overhead_ms` → `overhead_ms`, `fit.prefill_ms_per_token` → `prefill_ms_per_token`,
//! `fit.decode_base_ms`/`fit.decode_ms_per_batch` → `decode_ms_per_token = { base, per_batch }`,
//! `fit.attention_ms_per_context_token` → `attention_ms_per_context_token`,
//! `fit.prefill_attention_ms_per_context_token` → `prefill_attention_ms_per_context_token`,
//! `fit.prefill_overhead_ms` → `prefill_overhead_ms`, `decode_ms_by_batch` → `decode_ms_by_batch`,
//! `server.slots` → `max_num_seqs` and `server.kv_cache_tokens` → `kv_cache_tokens` (both
//! unless the deployment sets them). `fit.request_overhead_ms` (HTTP, tokenization) lies
//! outside the server's iterations; `lcsim validate` adds it to every request.
//!
//! A **cloud** profile holds HTTP round-trip times: the empirical mean and percentiles and a
//! lognormal fit in the scenario's distribution grammar (`[rtt_ms.fit]`), which becomes the
//! deployment's `network_rtt_ms`; for OpenAI-compatible endpoints also time to first token and
//! output tokens per second.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check;
use crate::dist::DistWire;
use crate::error::Problem;
use crate::files::FileSource;

/// Where a profile's numbers come from.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// `measured` by `lcsim calibrate`, or `reference` (built from published figures).
    pub method: String,
    pub date: String,
    pub lcsim_version: Option<String>,
    pub command: Option<String>,
    pub host_cpu: Option<String>,
    pub host_cores: Option<u32>,
    pub device: Option<String>,
    pub os: Option<String>,
    pub candle_version: Option<String>,
    /// For reference profiles: the publication or file the figures come from.
    pub source: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[allow(clippy::large_enum_variant, reason = "read once per scenario; boxing would only add noise")]
pub enum Profile {
    Local(LocalProfile),
    Cloud(CloudProfile),
    Server(ServerProfile),
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalProfile {
    pub provenance: Provenance,
    pub shape: ShapeInfo,
    pub fit: LocalFit,
    /// f32 matrix-multiply throughput of the device (1024³), GFLOP/s.
    pub matmul_gflops: Option<f64>,
    #[serde(default)]
    pub prefill: Vec<PrefillPoint>,
    #[serde(default)]
    pub decode: Vec<DecodePoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeInfo {
    pub name: String,
    pub layers: u32,
    pub d_model: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub ffn: u32,
    pub vocab: u32,
    pub params: u64,
    pub dtype: String,
    /// `random` (throughput depends on shapes, not values) or the weights file used.
    pub weights: String,
}

/// Fitted latency model, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalFit {
    pub decode_base_ms: f64,
    pub decode_ms_per_batch: f64,
    pub decode_ms_per_context: f64,
    pub decode_ms_per_batch_context: f64,
    pub decode_r2: f64,
    pub decode_max_rel_residual: f64,
    pub prefill_base_ms: f64,
    pub prefill_ms_per_token: f64,
    pub prefill_r2: f64,
    pub prefill_max_rel_residual: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefillPoint {
    pub prompt_tokens: u32,
    pub median_ms: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs_ms: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodePoint {
    pub batch: u32,
    pub context: u32,
    pub median_ms: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs_ms: Vec<f64>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudProfile {
    pub provenance: Provenance,
    pub target: Target,
    pub rtt_ms: LatencyStats,
    pub ttft_ms: Option<LatencyStats>,
    pub output_tokens_per_s: Option<f64>,
    pub errors: ErrorCounts,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub url: String,
    pub samples: u32,
    pub concurrency: u32,
    pub timeout_s: f64,
    pub openai: bool,
    pub model: Option<String>,
}

/// A running LLM server's continuous-batching step model, measured over HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerProfile {
    pub provenance: Provenance,
    pub server: ServerInfo,
    pub fit: ServerFit,
    /// The batch-dependent part of a decode step for `b = 1, 2, …, slots` sequences, in
    /// milliseconds (each decode level's median gap less the overhead and attention terms).
    /// Real kernels are not linear in the batch; the scenario uses these steps, and
    /// `decode_base_ms + decode_ms_per_batch·b` only beyond them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decode_ms_by_batch: Vec<f64>,
    /// Prefill points: TTFT against prompt length, one request at a time.
    #[serde(default)]
    pub prefill: Vec<ServerPrefillPoint>,
    /// Decode points: inter-token gap against the number of running sequences.
    #[serde(default)]
    pub decode: Vec<ServerDecodePoint>,
    pub errors: ErrorCounts,
}

/// What the server says about itself (`/props` where it has one) and how it was reached.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerInfo {
    pub url: String,
    pub model: Option<String>,
    /// Sequences decoded together (llama.cpp `--parallel`, vLLM `max_num_seqs`).
    pub slots: u32,
    /// `reported` (from `/props`) or `saturation` (where throughput stopped growing).
    pub slots_from: String,
    /// KV-cache capacity in tokens, all slots together (llama.cpp `-c`), where reported.
    pub kv_cache_tokens: Option<u64>,
    /// The server's build or version string, where reported.
    pub build: Option<String>,
    /// Settings as the server reported them (`/props`), flattened to text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
    /// Round trip of a request that does no model work (`GET /health`), median, milliseconds:
    /// the client's and the HTTP stack's share of every measurement.
    pub http_rtt_ms: f64,
}

/// The fitted step model, milliseconds, with the fits' quality.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFit {
    pub overhead_ms: f64,
    pub prefill_ms_per_token: f64,
    pub decode_base_ms: f64,
    pub decode_ms_per_batch: f64,
    pub attention_ms_per_context_token: f64,
    /// Prefill attention: added prefill time per prompt token per token before it.
    #[serde(default)]
    pub prefill_attention_ms_per_context_token: f64,
    /// Paid once more by an iteration that prefills (a new batch shape).
    #[serde(default)]
    pub prefill_overhead_ms: f64,
    /// The mixed level: one sequence decoding while a prompt of `mixed_prompt_tokens` is
    /// prefilled; the longest gap of the decoding stream (median over runs) is that mixed
    /// iteration. What it saves against a prefill-only plus a decode-only iteration is the
    /// overhead the two share: `overhead_ms`.
    pub mixed_prompt_tokens: Option<u32>,
    pub mixed_iteration_ms: Option<f64>,
    /// Per request, outside the iterations: HTTP, parsing, tokenization.
    pub request_overhead_ms: f64,
    pub prefill_r2: f64,
    pub prefill_max_rel_residual: f64,
    pub decode_r2: f64,
    pub decode_max_rel_residual: f64,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerPrefillPoint {
    /// Prompt tokens as the server counted them (`usage.prompt_tokens`).
    pub prompt_tokens: u32,
    /// Median time to first token seen by the client.
    pub ttft_ms: f64,
    /// Median prefill time the server reported (`timings.prompt_ms`), where it reports one.
    pub server_prompt_ms: Option<f64>,
    pub runs: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerDecodePoint {
    /// Closed-loop concurrency: sequences decoding together.
    pub running: u32,
    /// Mean KV tokens all running sequences read per step.
    pub context_tokens: f64,
    /// Median inter-token gap.
    pub gap_ms: f64,
    /// Output tokens per second over the whole level.
    pub tokens_per_s: f64,
    pub runs: u32,
}

impl ServerProfile {
    /// Every term is finite and within ±1e15, and the server has at least one slot. A term a
    /// noisy fit made slightly negative is used as 0.
    pub fn validate(&self) -> Result<(), Problem> {
        let f = &self.fit;
        let terms = [
            ("fit.overhead_ms", f.overhead_ms),
            ("fit.prefill_ms_per_token", f.prefill_ms_per_token),
            ("fit.decode_base_ms", f.decode_base_ms),
            ("fit.decode_ms_per_batch", f.decode_ms_per_batch),
            ("fit.attention_ms_per_context_token", f.attention_ms_per_context_token),
            (
                "fit.prefill_attention_ms_per_context_token",
                f.prefill_attention_ms_per_context_token,
            ),
            ("fit.prefill_overhead_ms", f.prefill_overhead_ms),
            ("fit.request_overhead_ms", f.request_overhead_ms),
        ];
        for (key, v) in terms {
            check::non_negative(key, v.abs()).map_err(|_| {
                Problem::new(
                    key,
                    format!("must be a finite number within ±1e15, got {}", check::num(v)),
                )
                .hint("recalibrate with `lcsim calibrate server`, or correct the value")
            })?;
        }
        for (i, v) in self.decode_ms_by_batch.iter().enumerate() {
            check::non_negative("decode_ms_by_batch", v.abs()).map_err(|_| {
                Problem::new(
                    format!("decode_ms_by_batch[{i}]"),
                    format!("must be a finite number within ±1e15, got {}", check::num(*v)),
                )
            })?;
        }
        if self.server.slots == 0 || self.server.slots > 4096 {
            return Err(Problem::new(
                "server.slots",
                format!("must be from 1 to 4096, got {}", self.server.slots),
            ));
        }
        if let Some(kv) = self.server.kv_cache_tokens {
            // Each slot must hold at least one prompt token and one output token.
            let least = 2 * u64::from(self.server.slots);
            if kv < least || kv > 1 << 40 {
                return Err(Problem::new(
                    "server.kv_cache_tokens",
                    format!("must be from {least} (2 per slot) to 2^40 tokens, got {kv}"),
                )
                .hint("it is the server's whole KV cache (llama.cpp -c), all slots together"));
            }
        }
        Ok(())
    }
}

/// Empirical statistics of successful samples, and a lognormal fit.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyStats {
    pub count: u32,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    /// The first request, kept apart: it pays for DNS, TCP/TLS set-up or a cold start.
    pub first_ms: Option<f64>,
    /// Maximum-likelihood lognormal (`μ`, `σ` of the log), in the scenario grammar.
    pub fit: DistWire,
    pub fit_mu: f64,
    pub fit_sigma: f64,
    /// Kolmogorov–Smirnov distance between the samples and the fit.
    pub ks_statistic: f64,
    pub samples_ms: Vec<f64>,
}

/// Failed requests by kind; they are counted, not fatal.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorCounts {
    pub dns: u32,
    pub connect: u32,
    pub timeout: u32,
    /// By status code, e.g. `{ "500" = 3 }`.
    pub http_status: BTreeMap<String, u32>,
    pub other: u32,
}

impl ErrorCounts {
    pub fn total(&self) -> u32 {
        self.dns + self.connect + self.timeout + self.other + self.http_status.values().sum::<u32>()
    }
}

/// Parses a profile's text.
pub fn parse_profile(text: &str) -> Result<Profile, String> {
    // The message and its line only: toml's full error quotes the offending line, and the path
    // may point at any file (an error must not echo `/etc/passwd`).
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let message = e.message().trim().to_string();
        match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: {message}")
            }
            None => message,
        }
    })
}

impl LocalProfile {
    /// Every coefficient is a finite number within the scenario bound (|x| ≤ 1e15). A fit over
    /// noisy timings can make a term slightly negative (seen with `--quick` on a busy machine);
    /// scenarios use a negative term as 0, so no step time is ever negative.
    pub fn validate(&self) -> Result<(), Problem> {
        let f = &self.fit;
        let terms = [
            ("fit.decode_base_ms", f.decode_base_ms),
            ("fit.decode_ms_per_batch", f.decode_ms_per_batch),
            ("fit.decode_ms_per_context", f.decode_ms_per_context),
            ("fit.decode_ms_per_batch_context", f.decode_ms_per_batch_context),
            ("fit.prefill_base_ms", f.prefill_base_ms),
            ("fit.prefill_ms_per_token", f.prefill_ms_per_token),
        ];
        for (key, v) in terms {
            check::non_negative(key, v.abs()).map_err(|p| {
                Problem::new(
                    key,
                    format!("must be a finite number within ±1e15, got {}", check::num(v)),
                )
                .hint(p.hint.unwrap_or_else(|| {
                    "refit the device with `lcsim calibrate local`, or correct the value".into()
                }))
            })?;
        }
        Ok(())
    }
}

pub(crate) fn load_profile(
    key: &str,
    path: &str,
    files: &dyn FileSource,
) -> Result<Profile, Problem> {
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

/// A problem inside the profile at `path`, reported at the deployment's `calibration` key.
pub(crate) fn in_profile(key: &str, path: &str, e: Problem) -> Problem {
    let mut q = Problem::new(
        format!("{key}.calibration"),
        format!("{path}: `{}` {}", e.key_path, e.message),
    );
    q.hint = e.hint;
    q
}

/// A local deployment's calibration profile, validated; the error names the profile's key.
pub(crate) fn load_local_profile(
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
