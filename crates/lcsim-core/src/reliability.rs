//! Scaling, rate limits, failures, hybrid routing and service-level objectives: the TOML
//! tables and their validated forms.
//!
//! ```toml
//! [deployment.autoscale]          # cloud: instances started and stopped by load
//! min_instances = 0               # 0 = scale to zero
//! max_instances = 20              # absent = no limit
//! concurrency_per_instance = 4
//! target_utilization = 0.7        # or target_queue_per_instance = 2
//! scale_up_delay_s = 2
//! cold_start_s = { dist = "lognormal", median = 8, p95 = 25 }
//! scale_down_after_idle_s = 300
//!
//! [deployment.rate_limit]         # cloud: provider limits, 429 + retries with backoff
//! requests_per_s = 5              # and/or tokens_per_min = 90000
//! max_retries = 4
//! backoff_base_ms = 500
//! backoff_max_ms = 20000
//!
//! [deployment.failures]           # local
//! mtbf_hours = 8760
//! mttr_hours = 24
//! time_to_failure = "weibull"     # or "exponential" (default)
//! weibull_shape = 1.5
//! repair_usd = 400
//! power_outages_per_year = 4
//! power_outage_minutes = { dist = "lognormal", median = 20, p95 = 240 }
//! ups_runtime_minutes = 30
//!
//! [deployment.failures]           # cloud
//! zones = 3
//! zone_outages_per_year = 2
//! zone_outage_minutes = { dist = "exponential", mean = 90 }
//! failover_delay_s = 60
//! provider_outages_per_year = 1
//! provider_outage_minutes = { dist = "fixed", value = 120 }
//! ```
//!
//! Outage processes are alternating renewal processes: up for an exponential time (rate per
//! year of up time), then down for a drawn duration. Their long-run unavailability is
//! `r·D / (1 + r·D)` for rate `r` and mean duration `D` ([`crate::theory::unavailability`]).

use serde::{Deserialize, Serialize};

use crate::check::{Keys, non_negative, only_keys, positive};
use crate::dist::{ColumnSource, Dist, DistWire};
use crate::error::Problem;
use crate::units::MS_PER_HOUR;
pub use crate::units::MS_PER_YEAR;

/// Weibull shapes lcsim takes (see the `weibull_shape` error's hint).
pub const WEIBULL_SHAPE_RANGE: (f64, f64) = (0.01, 100.0);

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleWire {
    pub min_instances: Option<u32>,
    pub max_instances: Option<u32>,
    pub concurrency_per_instance: Option<u32>,
    pub target_utilization: Option<f64>,
    pub target_queue_per_instance: Option<f64>,
    pub scale_up_delay_s: Option<f64>,
    pub cold_start_s: Option<DistWire>,
    pub scale_down_after_idle_s: Option<f64>,
}

/// When the autoscaler starts instances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScaleTarget {
    /// Keep requests in flight (waiting or in service) at most this share of the slots:
    /// desired instances `⌈in_flight / (concurrency · target)⌉` (Knative's concurrency target).
    Utilization(f64),
    /// Keep waiting requests at most this many per instance: desired `⌈waiting / target⌉`.
    QueuePerInstance(f64),
}

/// Instances of a cloud endpoint, each with `concurrency` slots, started on demand.
#[derive(Debug, Clone, PartialEq)]
pub struct Autoscale {
    pub min_instances: u32,
    /// `None`: no limit.
    pub max_instances: Option<u32>,
    pub concurrency: u32,
    pub target: ScaleTarget,
    /// From the decision to start an instance until it is provisioned.
    pub scale_up_delay_ms: f64,
    /// From provisioned until it serves (image pull, model load), drawn per instance.
    pub cold_start_ms: Dist,
    /// An instance idle this long is stopped (never below `min_instances`).
    pub scale_down_after_idle_ms: f64,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitWire {
    pub requests_per_s: Option<f64>,
    pub burst: Option<f64>,
    pub tokens_per_min: Option<f64>,
    pub max_retries: Option<u32>,
    pub backoff_base_ms: Option<f64>,
    pub backoff_max_ms: Option<f64>,
}

/// Token buckets of a provider's limits. A request takes one request token and
/// `prompt + output` tokens; without them it gets HTTP 429 and retries after
/// `uniform(0, min(backoff_max, backoff_base · 2^(k−1)))` ("full jitter") for retry `k`,
/// giving up after `max_retries`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// `(refill per ms, bucket size)` of the request bucket.
    pub requests: Option<(f64, f64)>,
    /// `(refill per ms, bucket size)` of the token bucket (size: one minute's tokens).
    pub tokens: Option<(f64, f64)>,
    pub max_retries: u32,
    pub backoff_base_ms: f64,
    pub backoff_max_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LifetimeKind {
    Exponential,
    Weibull,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailuresWire {
    // local
    pub mtbf_hours: Option<f64>,
    pub mttr_hours: Option<f64>,
    pub time_to_failure: Option<LifetimeKind>,
    pub weibull_shape: Option<f64>,
    pub repair_usd: Option<f64>,
    pub power_outages_per_year: Option<f64>,
    pub power_outage_minutes: Option<DistWire>,
    pub ups_runtime_minutes: Option<f64>,
    // cloud
    pub zones: Option<u32>,
    pub zone_outages_per_year: Option<f64>,
    pub zone_outage_minutes: Option<DistWire>,
    pub failover_delay_s: Option<f64>,
    pub provider_outages_per_year: Option<f64>,
    pub provider_outage_minutes: Option<DistWire>,
}

/// Time to failure of one device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lifetime {
    Exponential {
        mean_ms: f64,
    },
    /// Shape `k`, scale `λ = MTBF / Γ(1 + 1/k)` so the mean is the MTBF.
    Weibull {
        shape: f64,
        scale_ms: f64,
    },
}

/// An outage process: up for an exponential time with `rate_per_ms`, then down for `duration_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    pub rate_per_ms: f64,
    pub duration_ms: Dist,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceFailures {
    pub time_to_failure: Lifetime,
    /// Repair times are exponential with this mean.
    pub mttr_ms: f64,
    /// Paid for each failure (repair or replacement).
    pub repair_usd: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Failures {
    Local {
        devices: Option<DeviceFailures>,
        power: Option<Outage>,
        /// Power outages shorter than this are bridged; longer ones take the site down from
        /// this long after they start until they end.
        ups_runtime_ms: f64,
    },
    Cloud {
        zones: u32,
        zone: Option<Outage>,
        /// When the serving zone fails and another is up, requests fail for this long.
        failover_delay_ms: f64,
        provider: Option<Outage>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Overflow,
    Fallback,
    Rerank,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RerankOrder {
    CloudFirst,
    LocalFirst,
}

/// A deployment that routes each request between two named deployments.
#[derive(Debug, Clone, PartialEq)]
pub struct Hybrid {
    pub policy: Policy,
    /// Index of the on-premises / on-device member.
    pub local: usize,
    /// Index of the cloud member.
    pub cloud: usize,
    /// Overflow: send to the cloud when more than this many requests wait locally.
    pub overflow_queue_above: u32,
    /// Fallback: give up on the cloud after this long and serve on the device.
    pub fallback_timeout_ms: f64,
    pub order: RerankOrder,
    /// Share of requests that must not leave the premises (PII): never routed to the cloud.
    pub data_must_stay_local: f64,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloWire {
    pub latency_p95_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub tpot_p95_ms: Option<f64>,
    pub availability: Option<f64>,
}

/// Service-level objectives, evaluated per replication (stationary runs) or per replication
/// and month (horizon runs).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Slo {
    pub latency_p95_ms: Option<f64>,
    /// Time to first token and time per output token (DistServe's goodput: a request counts
    /// when it meets every target given).
    pub ttft_p95_ms: Option<f64>,
    pub tpot_p95_ms: Option<f64>,
    pub availability: Option<f64>,
}

impl AutoscaleWire {
    pub fn validate(&self, key: &str, columns: &dyn ColumnSource) -> Result<Autoscale, Problem> {
        let min_instances = self.min_instances.unwrap_or(0);
        let max_instances = self.max_instances;
        if let Some(max) = max_instances {
            if max == 0 {
                return Err(Problem::new(format!("{key}.max_instances"), "must be at least 1"));
            }
            if max < min_instances {
                return Err(Problem::new(
                    format!("{key}.max_instances"),
                    format!("max_instances ({max}) is below min_instances ({min_instances})"),
                )
                .hint("raise max_instances or lower min_instances"));
            }
        }
        let concurrency = self.concurrency_per_instance.unwrap_or(1);
        if concurrency == 0 {
            return Err(Problem::new(
                format!("{key}.concurrency_per_instance"),
                "must be at least 1",
            ));
        }
        let slots =
            u64::from(max_instances.unwrap_or(min_instances.max(1))) * u64::from(concurrency);
        if slots > crate::limits::MAX_SLOTS || min_instances > crate::limits::MAX_DEVICES {
            let k = if max_instances.is_some() { "max_instances" } else { "min_instances" };
            return Err(Problem::new(
                format!("{key}.{k}"),
                format!("instances × concurrency_per_instance is {slots}; at most 1,000,000 slots (and 100,000 instances) are simulated"),
            )
            .hint("each instance and slot keeps its own state (about 100 MB per million)"));
        }
        let target = match (self.target_utilization, self.target_queue_per_instance) {
            (Some(_), Some(_)) => {
                return Err(Problem::new(
                    format!("{key}.target_queue_per_instance"),
                    "give one target: `target_utilization` or `target_queue_per_instance`",
                ));
            }
            (Some(u), None) => {
                let k = format!("{key}.target_utilization");
                if !(u > 0.0 && u <= 1.0) {
                    return Err(Problem::new(
                        k,
                        format!("must be in (0, 1], got {}", crate::check::num(u)),
                    ));
                }
                ScaleTarget::Utilization(u)
            }
            (None, Some(q)) => ScaleTarget::QueuePerInstance(positive(
                &format!("{key}.target_queue_per_instance"),
                q,
            )?),
            (None, None) => ScaleTarget::Utilization(0.7),
        };
        let cold_start_ms = match &self.cold_start_s {
            None => Dist::Fixed(0.0),
            Some(w) => scale(w.validate(&format!("{key}.cold_start_s"), columns)?, 1000.0),
        };
        Ok(Autoscale {
            min_instances,
            max_instances,
            concurrency,
            target,
            scale_up_delay_ms: non_negative(
                &format!("{key}.scale_up_delay_s"),
                self.scale_up_delay_s.unwrap_or(0.0),
            )? * 1000.0,
            cold_start_ms,
            scale_down_after_idle_ms: non_negative(
                &format!("{key}.scale_down_after_idle_s"),
                self.scale_down_after_idle_s.unwrap_or(300.0),
            )? * 1000.0,
        })
    }
}

/// `dist` in other units: every draw multiplied by `factor`.
pub fn scale(dist: Dist, factor: f64) -> Dist {
    match dist {
        Dist::Fixed(v) => Dist::Fixed(v * factor),
        Dist::Exponential { mean } => Dist::Exponential { mean: mean * factor },
        Dist::LogNormal { mu, sigma } => Dist::LogNormal { mu: mu + factor.ln(), sigma },
        Dist::Gamma { shape, scale } => Dist::Gamma { shape, scale: scale * factor },
        Dist::Empirical(v) => Dist::Empirical(v.iter().map(|x| x * factor).collect()),
    }
}

impl RateLimitWire {
    pub fn validate(&self, key: &str) -> Result<RateLimit, Problem> {
        if self.requests_per_s.is_none() && self.tokens_per_min.is_none() {
            return Err(Problem::new(
                key.to_string(),
                "a rate limit needs `requests_per_s` or `tokens_per_min` (or both)",
            ));
        }
        if self.burst.is_some() && self.requests_per_s.is_none() {
            return Err(Problem::new(format!("{key}.burst"), "`burst` needs `requests_per_s`"));
        }
        let requests = match self.requests_per_s {
            None => None,
            Some(r) => {
                let r = positive(&format!("{key}.requests_per_s"), r)?;
                let burst = self.burst.unwrap_or(r.max(1.0));
                if !(burst >= 1.0 && burst.is_finite()) {
                    return Err(Problem::new(
                        format!("{key}.burst"),
                        format!("must be at least 1 request, got {}", crate::check::num(burst)),
                    ));
                }
                Some((r / 1000.0, burst))
            }
        };
        let tokens = match self.tokens_per_min {
            None => None,
            Some(t) => {
                let t = positive(&format!("{key}.tokens_per_min"), t)?;
                Some((t / 60_000.0, t))
            }
        };
        let backoff_base_ms =
            positive(&format!("{key}.backoff_base_ms"), self.backoff_base_ms.unwrap_or(1000.0))?;
        let backoff_max_ms =
            positive(&format!("{key}.backoff_max_ms"), self.backoff_max_ms.unwrap_or(60_000.0))?;
        if backoff_max_ms < backoff_base_ms {
            return Err(Problem::new(
                format!("{key}.backoff_max_ms"),
                format!(
                    "backoff_max_ms ({backoff_max_ms}) is below backoff_base_ms ({backoff_base_ms})"
                ),
            ));
        }
        Ok(RateLimit {
            requests,
            tokens,
            max_retries: match self.max_retries.unwrap_or(3) {
                n if n <= crate::limits::MAX_RETRIES => n,
                n => {
                    return Err(Problem::new(
                        format!("{key}.max_retries"),
                        format!("must be at most {}, got {n}", crate::limits::MAX_RETRIES),
                    )
                    .hint("a client that retries more than a hundred times is not rate-limited, it is down"));
                }
            },
            backoff_base_ms,
            backoff_max_ms,
        })
    }
}

fn outage(
    key: &str,
    rate_name: &str,
    rate: Option<f64>,
    duration_name: &str,
    duration: Option<&DistWire>,
    columns: &dyn ColumnSource,
) -> Result<Option<Outage>, Problem> {
    match (rate, duration) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(Problem::new(
            format!("{key}.{duration_name}"),
            format!("`{rate_name}` needs `{duration_name}` (how long an outage lasts)"),
        )
        .hint(format!("e.g. {duration_name} = {{ dist = \"exponential\", mean = 60 }}"))),
        (None, Some(_)) => Err(Problem::new(
            format!("{key}.{rate_name}"),
            format!("`{duration_name}` needs `{rate_name}`"),
        )),
        (Some(r), Some(d)) => {
            let r = non_negative(&format!("{key}.{rate_name}"), r)?;
            let d = d.validate(&format!("{key}.{duration_name}"), columns)?;
            if d.mean() <= 0.0 {
                return Err(Problem::new(
                    format!("{key}.{duration_name}"),
                    "an outage must last a positive time on average",
                ));
            }
            Ok((r > 0.0)
                .then(|| Outage { rate_per_ms: r / MS_PER_YEAR, duration_ms: scale(d, 60_000.0) }))
        }
    }
}

impl FailuresWire {
    fn present(&self) -> Keys {
        Keys::of(self, &[])
    }

    pub fn validate_local(
        &self,
        key: &str,
        columns: &dyn ColumnSource,
    ) -> Result<Failures, Problem> {
        only_keys(
            key,
            &self.present(),
            &[
                "mtbf_hours",
                "mttr_hours",
                "time_to_failure",
                "weibull_shape",
                "repair_usd",
                "power_outages_per_year",
                "power_outage_minutes",
                "ups_runtime_minutes",
            ],
            "the failures of a local deployment",
        )?;
        let devices = match (self.mtbf_hours, self.mttr_hours) {
            (None, None) => {
                for k in ["time_to_failure", "weibull_shape", "repair_usd"] {
                    if self.present().has(k) {
                        return Err(Problem::new(
                            format!("{key}.{k}"),
                            format!("`{k}` needs `mtbf_hours` and `mttr_hours`"),
                        ));
                    }
                }
                None
            }
            (Some(_), None) => {
                return Err(Problem::new(
                    format!("{key}.mttr_hours"),
                    "`mtbf_hours` needs `mttr_hours` (mean time to repair)",
                ));
            }
            (None, Some(_)) => {
                return Err(Problem::new(
                    format!("{key}.mtbf_hours"),
                    "`mttr_hours` needs `mtbf_hours` (mean time between failures)",
                ));
            }
            (Some(mtbf), Some(mttr)) => {
                let mtbf_ms = positive(&format!("{key}.mtbf_hours"), mtbf)? * MS_PER_HOUR;
                let mttr_ms = positive(&format!("{key}.mttr_hours"), mttr).map_err(|p| {
                    p.hint(
                        "a repair takes time: give the mean hours from failure to service restored",
                    )
                })? * MS_PER_HOUR;
                let time_to_failure = match (
                    self.time_to_failure.unwrap_or(LifetimeKind::Exponential),
                    self.weibull_shape,
                ) {
                    (LifetimeKind::Exponential, None) => Lifetime::Exponential { mean_ms: mtbf_ms },
                    (LifetimeKind::Exponential, Some(_)) => {
                        return Err(Problem::new(
                            format!("{key}.weibull_shape"),
                            "`weibull_shape` needs time_to_failure = \"weibull\"",
                        ));
                    }
                    (LifetimeKind::Weibull, shape) => {
                        let shape = crate::check::within(
                            &format!("{key}.weibull_shape"),
                            shape.ok_or_else(|| {
                                Problem::new(
                                    format!("{key}.weibull_shape"),
                                    "time_to_failure = \"weibull\" needs `weibull_shape`",
                                )
                                .hint("shape > 1: wear-out, < 1: infant mortality, 1: exponential")
                            })?,
                            WEIBULL_SHAPE_RANGE.0,
                            WEIBULL_SHAPE_RANGE.1,
                            "the mean is scale·Γ(1 + 1/shape); below 0.01 Γ overflows f64, above 100 the lifetime is all but fixed",
                        )?;
                        Lifetime::Weibull {
                            shape,
                            scale_ms: mtbf_ms / crate::theory::gamma(1.0 + 1.0 / shape),
                        }
                    }
                };
                Some(DeviceFailures {
                    time_to_failure,
                    mttr_ms,
                    repair_usd: non_negative(
                        &format!("{key}.repair_usd"),
                        self.repair_usd.unwrap_or(0.0),
                    )?,
                })
            }
        };
        let power = outage(
            key,
            "power_outages_per_year",
            self.power_outages_per_year,
            "power_outage_minutes",
            self.power_outage_minutes.as_ref(),
            columns,
        )?;
        if self.ups_runtime_minutes.is_some() && self.power_outages_per_year.is_none() {
            return Err(Problem::new(
                format!("{key}.ups_runtime_minutes"),
                "`ups_runtime_minutes` bridges power outages: it needs `power_outages_per_year` and `power_outage_minutes`",
            ));
        }
        Ok(Failures::Local {
            devices,
            power,
            ups_runtime_ms: non_negative(
                &format!("{key}.ups_runtime_minutes"),
                self.ups_runtime_minutes.unwrap_or(0.0),
            )? * 60_000.0,
        })
    }

    pub fn validate_cloud(
        &self,
        key: &str,
        columns: &dyn ColumnSource,
    ) -> Result<Failures, Problem> {
        only_keys(
            key,
            &self.present(),
            &[
                "zones",
                "zone_outages_per_year",
                "zone_outage_minutes",
                "failover_delay_s",
                "provider_outages_per_year",
                "provider_outage_minutes",
            ],
            "the failures of a cloud deployment",
        )?;
        let zones = crate::check::count_up_to(
            &format!("{key}.zones"),
            self.zones.unwrap_or(1),
            crate::limits::MAX_ZONES,
            "each zone keeps its own outage timeline",
        )?;
        Ok(Failures::Cloud {
            zones,
            zone: outage(
                key,
                "zone_outages_per_year",
                self.zone_outages_per_year,
                "zone_outage_minutes",
                self.zone_outage_minutes.as_ref(),
                columns,
            )?,
            failover_delay_ms: non_negative(
                &format!("{key}.failover_delay_s"),
                self.failover_delay_s.unwrap_or(0.0),
            )? * 1000.0,
            provider: outage(
                key,
                "provider_outages_per_year",
                self.provider_outages_per_year,
                "provider_outage_minutes",
                self.provider_outage_minutes.as_ref(),
                columns,
            )?,
        })
    }
}

impl SloWire {
    pub fn validate(&self) -> Result<Slo, Problem> {
        if self.latency_p95_ms.is_none()
            && self.availability.is_none()
            && self.ttft_p95_ms.is_none()
            && self.tpot_p95_ms.is_none()
        {
            return Err(Problem::new(
                "slo",
                "[slo] needs at least one of `latency_p95_ms`, `ttft_p95_ms`, `tpot_p95_ms` and `availability`",
            ));
        }
        let availability = match self.availability {
            None => None,
            Some(a) if a > 0.0 && a <= 1.0 => Some(a),
            Some(a) => {
                return Err(Problem::new(
                    "slo.availability",
                    format!("must be a share in (0, 1], got {}", crate::check::num(a)),
                )
                .hint("e.g. availability = 0.999 for \"three nines\""));
            }
        };
        Ok(Slo {
            latency_p95_ms: self
                .latency_p95_ms
                .map(|v| positive("slo.latency_p95_ms", v))
                .transpose()?,
            ttft_p95_ms: self.ttft_p95_ms.map(|v| positive("slo.ttft_p95_ms", v)).transpose()?,
            tpot_p95_ms: self.tpot_p95_ms.map(|v| positive("slo.tpot_p95_ms", v)).transpose()?,
            availability,
        })
    }
}
