//! `[[deployment]]`: a local pool of servers (FIFO, static batching or continuous batching), a
//! cloud endpoint, or a hybrid of others, with its cost, capacity, failure and lifecycle tables.

use crate::check::{Keys, count_up_to, non_negative, only_keys, positive, require, share};
use crate::continuous::DecodeTable;
use crate::continuous::LinearWire;
use crate::continuous::{CONTINUOUS_KEYS, Continuous, Linear, linear};
use crate::cost::CapacityPolicyWire;
use crate::cost::CostWire;
use crate::cost::{CapacityPolicy, CostModel};
use crate::dist::Dist;
use crate::dist::DistWire;
use crate::error::{Problem, closest};
use crate::files::FileSource;
use crate::lifecycle::CentralTrainingWire;
use crate::lifecycle::FederatedWire;
use crate::lifecycle::UpdatesWire;
use crate::lifecycle::{CentralTraining, Federated, Updates};
use crate::limits;
use crate::profile::in_profile;
use crate::profile::{Profile, load_local_profile, load_profile};
use crate::reliability::AutoscaleWire;
use crate::reliability::FailuresWire;
use crate::reliability::RateLimitWire;
use crate::reliability::{Autoscale, Failures, Hybrid, Policy, RateLimit, RerankOrder};
use crate::traffic::Arrivals;
use crate::traffic::{TokenSource, Traffic};
use serde::{Deserialize, Serialize};

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

/// Why a device count is bounded (the hint of its error).
pub(crate) const DEVICES_WHY: &str =
    "each device keeps its own state and failure timeline; at most 100,000 per deployment";
/// The largest batch of a static batcher.
pub const MAX_BATCH: u32 = 100_000;

/// The keys of a local deployment, whatever its scheduler.
pub(crate) const LOCAL_KEYS: [&str; 17] = [
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

pub(crate) fn validate_deployment(
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
                if present.has(k) {
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
                        if present.has(k) {
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

/// The tables every local or cloud deployment may have (cost, capacity policy, failures,
/// updates, training), validated against its model.
pub(crate) fn finish_deployment(
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

/// `scheduler = "continuous"`: the step model from the keys, or from a calibration profile
/// (`prefill_base_ms` → `overhead_ms`, `prefill_ms_per_token`, `decode_base_ms` and
/// `decode_ms_per_batch` → `decode_ms_per_token`, `decode_ms_per_batch_context` →
/// `attention_ms_per_context_token`; the batch-independent context term has no counterpart
/// and is left out).
pub(crate) fn validate_continuous(
    key: &str,
    d: &DeploymentWire,
    traffic: &Traffic,
    files: &dyn FileSource,
) -> Result<Continuous, Problem> {
    let what = "scheduler = \"continuous\"";
    for k in ["max_batch", "batch_timeout_ms", "service_ms"] {
        if d.present_keys().has(k) {
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
        if let Some(k) = token_keys.iter().find(|k| d.present_keys().has(k)) {
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
        if let Some(k) = token_keys.iter().find(|k| d.present_keys().has(k)) {
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

// Hybrids: routing between other deployments; every member exists and no route leads back
// to itself.

/// A hybrid may route to another hybrid, but never (through any chain) back to itself.
pub(crate) fn check_routing_cycles(deployments: &[Deployment]) -> Result<(), Problem> {
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

pub(crate) fn validate_hybrid(
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
        if present.has(k) && !allowed.contains(&k) {
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

// The TOML form of the table (serde), validated above.

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

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentWire {
    pub name: String,
    pub kind: DeploymentKind,
    /// A calibration profile (`calibration/x.toml`) supplying the latency model.
    pub calibration: Option<String>,
    // local
    pub servers: Option<u32>,
    pub max_batch: Option<u32>,
    pub scheduler: Option<SchedulerKind>,
    pub max_num_seqs: Option<u32>,
    pub kv_cache_tokens: Option<u64>,
    pub max_batched_tokens: Option<u64>,
    pub attention_ms_per_context_token: Option<f64>,
    pub decode_ms_by_batch: Option<Vec<f64>>,
    pub prefill_attention_ms_per_context_token: Option<f64>,
    pub prefill_overhead_ms: Option<f64>,
    pub batch_timeout_ms: Option<f64>,
    pub prefill_ms_per_token: Option<LinearWire>,
    pub decode_ms_per_token: Option<LinearWire>,
    pub overhead_ms: Option<f64>,
    // both
    pub queue_capacity: Option<u32>,
    pub service_ms: Option<DistWire>,
    // cloud
    pub network_rtt_ms: Option<DistWire>,
    pub ttft_ms: Option<DistWire>,
    pub output_tokens_per_s: Option<f64>,
    pub max_concurrency: Option<u32>,
    pub cost: Option<CostWire>,
    pub capacity_policy: Option<CapacityPolicyWire>,
    // reliability and scaling
    /// A request not served within this long counts as failed (the client gives up).
    pub timeout_ms: Option<f64>,
    pub autoscale: Option<AutoscaleWire>,
    pub rate_limit: Option<RateLimitWire>,
    pub failures: Option<FailuresWire>,
    // model updates and training
    pub updates: Option<UpdatesWire>,
    pub federated: Option<FederatedWire>,
    pub central_training: Option<CentralTrainingWire>,
    // hybrid
    pub policy: Option<Policy>,
    pub local: Option<String>,
    pub cloud: Option<String>,
    pub overflow_queue_above: Option<u32>,
    pub fallback_timeout_ms: Option<f64>,
    pub order: Option<RerankOrder>,
    pub data_must_stay_local: Option<f64>,
}

impl DeploymentWire {
    /// The keys that are set, by TOML name (for "does not apply to kind" checks).
    pub(crate) fn present_keys(&self) -> Keys {
        Keys::of(self, &["name", "kind"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys come from the wire struct, in field order, without the absent ones and without
    /// those every deployment takes, so only keys the scenario gives are ever reported.
    #[test]
    fn present_keys_are_the_ones_a_table_sets() {
        let text = "name = \"box\"\nkind = \"local\"\nservers = 2\nqueue_capacity = 8\n\
                    [cost]\ncapex_usd = 1000\n";
        let wire: DeploymentWire = toml::from_str(text).expect("valid");
        let keys = wire.present_keys();
        for k in ["servers", "queue_capacity", "cost"] {
            assert!(keys.has(k), "{k}");
        }
        for k in ["name", "kind", "max_batch", "capex_usd"] {
            assert!(!keys.has(k), "{k}");
        }
        // The first key not allowed, in field order, is the one reported.
        let err = only_keys("deployment[0]", &keys, &["cost"], "a test").unwrap_err();
        assert_eq!(err.key_path, "deployment[0].servers");
        let err = only_keys("deployment[0]", &keys, &["servers", "cost"], "a test").unwrap_err();
        assert_eq!(err.key_path, "deployment[0].queue_capacity");
        assert!(
            only_keys("deployment[0]", &keys, &["servers", "queue_capacity", "cost"], "x").is_ok()
        );
    }
}
