//! Money: cost models of local and cloud deployments, month by month.
//!
//! A month is 730 hours (8,760 h / 12), the convention of the AWS, Azure and GCP price lists
//! ("730 hours in a month", e.g. the AWS Pricing Calculator's assumption).
//!
//! **Local** (`[deployment.cost]` of a `local` deployment), per month and device:
//! energy `P · 730 h / 1000 · PUE · usd_per_kwh`, where `P` is `power_w`, or
//! `idle_w + (load_w − idle_w) · u` with `u` the month's simulated utilization; colocation
//! `usd_per_kw_month · P_provisioned / 1000` (`P_provisioned` = `load_w` or `power_w`); plus
//! `ops_usd_per_month` for the deployment. Capital: `capex_usd` per device, paid when the device
//! arrives (cash view), or spread by straight-line depreciation
//! `(capex_usd − residual_value_usd) / amortization_months` over the months after purchase
//! (amortized view). A UPS (`ups_usd`) is capital bought in month 1 and depreciated the same way
//! without residual value.
//!
//! **Cloud** (`[deployment.cost]` of a `cloud` deployment), per month:
//! tokens `(in · ((1 − s_c)·p_in + s_c·p_cached) + out · p_out) / 10⁶ · (1 − s_b · d_b)` with
//! cached-input share `s_c`, batch share `s_b` and batch discount `d_b`; `usd_per_request` per
//! request; instances — always-on `instances · 730 h · usd_per_instance_hour`, or, without
//! `instances`, per-request billing of each request's service time rounded up to
//! `billing_increment_s` with a minimum of `min_billed_s` (serverless), or, with
//! `[deployment.autoscale]`, each instance's lifetime billed the same way; egress
//! `bytes_per_request · requests / 10⁹ · egress_usd_per_gb`; `ops_usd_per_month`. Every unit
//! price is multiplied by `(1 + price_change_per_year)^{(month − 1)/12}`.
//!
//! **Repairs** (`repair_usd` in `[deployment.failures]`) are paid per device failure, in the
//! month it happens ([`CostBreakdown::repair_usd`]).

use serde::{Deserialize, Serialize};

use crate::check::{Keys, only_keys, optional_non_negative, optional_share};
use crate::error::Problem;
use crate::units::HOURS_PER_MONTH;

/// The TOML form of `[deployment.cost]`: every key of both kinds, each optional.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostWire {
    // local
    pub capex_usd: Option<f64>,
    pub residual_value_usd: Option<f64>,
    pub amortization_months: Option<i64>,
    pub power_w: Option<f64>,
    pub idle_w: Option<f64>,
    pub load_w: Option<f64>,
    pub pue: Option<f64>,
    pub usd_per_kwh: Option<f64>,
    pub usd_per_kw_month: Option<f64>,
    pub ups_usd: Option<f64>,
    // both
    pub ops_usd_per_month: Option<f64>,
    // cloud
    pub usd_per_mtok_in: Option<f64>,
    pub usd_per_mtok_out: Option<f64>,
    pub usd_per_mtok_cached_in: Option<f64>,
    pub cached_input_share: Option<f64>,
    pub batch_share: Option<f64>,
    pub batch_discount: Option<f64>,
    pub usd_per_request: Option<f64>,
    pub usd_per_instance_hour: Option<f64>,
    pub instances: Option<u32>,
    pub billing_increment_s: Option<f64>,
    pub min_billed_s: Option<f64>,
    pub egress_usd_per_gb: Option<f64>,
    pub bytes_per_request: Option<f64>,
    pub price_change_per_year: Option<f64>,
    pub price_change_sd_per_year: Option<f64>,
}

/// `[deployment.capacity_policy]`: buy another device when a month's busiest hour is too busy.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityPolicyWire {
    pub add_when_peak_utilization_above: f64,
    pub lead_time_months: Option<u32>,
    pub max_servers: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Power {
    Constant {
        watts: f64,
    },
    /// `idle_w + (load_w − idle_w) · utilization`.
    Linear {
        idle_w: f64,
        load_w: f64,
    },
}

impl Power {
    pub fn watts(&self, utilization: f64) -> f64 {
        match *self {
            Power::Constant { watts } => watts,
            Power::Linear { idle_w, load_w } => {
                idle_w + (load_w - idle_w) * utilization.clamp(0.0, 1.0)
            }
        }
    }

    /// The power a colocation contract provisions per device.
    pub fn provisioned_watts(&self) -> f64 {
        match *self {
            Power::Constant { watts } => watts,
            Power::Linear { load_w, .. } => load_w,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalCost {
    pub capex_usd: f64,
    pub residual_value_usd: f64,
    pub amortization_months: u32,
    pub power: Power,
    pub pue: f64,
    pub usd_per_kwh: f64,
    pub usd_per_kw_month: f64,
    pub ops_usd_per_month: f64,
    pub ups_usd: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InstanceBilling {
    AlwaysOn {
        instances: u32,
        usd_per_hour: f64,
    },
    /// Each request's service time is billed, rounded up to the increment, with a minimum.
    PerRequest {
        usd_per_hour: f64,
        increment_s: f64,
        min_billed_s: f64,
    },
    /// Autoscaled instances: each instance's lifetime (start to stop, cold start included) is
    /// billed, rounded up to the increment, with a minimum.
    Autoscaled {
        usd_per_hour: f64,
        increment_s: f64,
        min_billed_s: f64,
    },
}

impl InstanceBilling {
    /// Billed seconds of one request that kept an instance busy for `service_s`.
    pub fn billed_seconds(increment_s: f64, min_billed_s: f64, service_s: f64) -> f64 {
        let rounded = if increment_s > 0.0 {
            (service_s / increment_s).ceil() * increment_s
        } else {
            service_s
        };
        rounded.max(min_billed_s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CloudCost {
    pub usd_per_mtok_in: f64,
    pub usd_per_mtok_out: f64,
    pub usd_per_mtok_cached_in: f64,
    pub cached_input_share: f64,
    pub batch_share: f64,
    pub batch_discount: f64,
    pub usd_per_request: f64,
    pub instances: Option<InstanceBilling>,
    pub egress_usd_per_gb: f64,
    pub bytes_per_request: f64,
    pub price_change_per_year: f64,
    pub price_change_sd_per_year: f64,
    pub ops_usd_per_month: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CostModel {
    Local(LocalCost),
    Cloud(CloudCost),
}

/// `[deployment.capacity_policy]`, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapacityPolicy {
    pub add_when_peak_utilization_above: f64,
    pub lead_time_months: u32,
    pub max_servers: u32,
}

/// One month's cost of one deployment, by component, in USD.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct CostBreakdown {
    pub capex_usd: f64,
    pub energy_usd: f64,
    pub colocation_usd: f64,
    pub ops_usd: f64,
    pub token_usd: f64,
    pub request_usd: f64,
    pub instance_usd: f64,
    pub egress_usd: f64,
    /// Repairs and replacement devices after failures.
    pub repair_usd: f64,
    /// Model releases: staff time of manual roll-outs, CI runs, extra instances while switching.
    pub updates_usd: f64,
    /// Training: federated rounds (energy, uploads, coordinator) or central training (raw
    /// data transfer, cloud training hours).
    pub training_usd: f64,
}

impl CostBreakdown {
    pub fn total(&self) -> f64 {
        self.capex_usd + self.running()
    }

    /// Everything but capital.
    pub fn running(&self) -> f64 {
        self.energy_usd
            + self.colocation_usd
            + self.ops_usd
            + self.token_usd
            + self.request_usd
            + self.instance_usd
            + self.egress_usd
            + self.repair_usd
            + self.updates_usd
            + self.training_usd
    }

    pub fn add(&mut self, o: &CostBreakdown) {
        self.capex_usd += o.capex_usd;
        self.energy_usd += o.energy_usd;
        self.colocation_usd += o.colocation_usd;
        self.ops_usd += o.ops_usd;
        self.token_usd += o.token_usd;
        self.request_usd += o.request_usd;
        self.instance_usd += o.instance_usd;
        self.egress_usd += o.egress_usd;
        self.repair_usd += o.repair_usd;
        self.updates_usd += o.updates_usd;
        self.training_usd += o.training_usd;
    }

    pub fn scaled(&self, f: f64) -> CostBreakdown {
        CostBreakdown {
            capex_usd: self.capex_usd * f,
            energy_usd: self.energy_usd * f,
            colocation_usd: self.colocation_usd * f,
            ops_usd: self.ops_usd * f,
            token_usd: self.token_usd * f,
            request_usd: self.request_usd * f,
            instance_usd: self.instance_usd * f,
            egress_usd: self.egress_usd * f,
            repair_usd: self.repair_usd * f,
            updates_usd: self.updates_usd * f,
            training_usd: self.training_usd * f,
        }
    }
}

impl LocalCost {
    /// Running cost of a month with `devices` devices at mean `utilization`; capital is added
    /// by the caller from the purchase history ([`LocalCost::capital`]).
    pub fn running(&self, devices: u32, utilization: f64) -> CostBreakdown {
        let n = f64::from(devices);
        let kwh = n * self.power.watts(utilization) * HOURS_PER_MONTH / 1000.0 * self.pue;
        CostBreakdown {
            energy_usd: kwh * self.usd_per_kwh,
            colocation_usd: n * self.power.provisioned_watts() / 1000.0 * self.usd_per_kw_month,
            ops_usd: self.ops_usd_per_month,
            ..CostBreakdown::default()
        }
    }

    /// Capital of month `month` (1-based) given `purchases[m-1]` devices arriving in month `m`:
    /// `(cash, amortized)`. The UPS is bought in month 1.
    pub fn capital(&self, purchases: &[u32], month: usize) -> (f64, f64) {
        let n = self.amortization_months as usize;
        let device_cash = f64::from(purchases[month - 1]) * self.capex_usd;
        let ups_cash = if month == 1 { self.ups_usd } else { 0.0 };
        let per_device = (self.capex_usd - self.residual_value_usd) / n as f64;
        let active: u32 = purchases[month.saturating_sub(n)..month].iter().sum();
        let ups_amortized = if month <= n { self.ups_usd / n as f64 } else { 0.0 };
        (device_cash + ups_cash, f64::from(active) * per_device + ups_amortized)
    }
}

/// A month's volume of one cloud deployment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Volume {
    pub requests: f64,
    pub prompt_tokens: f64,
    pub output_tokens: f64,
    /// Billed instance-seconds per request under per-request billing.
    pub billed_seconds_per_request: f64,
    /// Billed instance-hours of the month under autoscaling.
    pub instance_hours: f64,
}

impl CloudCost {
    /// Cost of month `month` (1-based) at `volume`, with this replication's yearly price change.
    pub fn month(
        &self,
        volume: &Volume,
        month: usize,
        price_change_per_year: f64,
    ) -> CostBreakdown {
        let f = (1.0 + price_change_per_year).powf((month as f64 - 1.0) / 12.0);
        let input_price = (1.0 - self.cached_input_share) * self.usd_per_mtok_in
            + self.cached_input_share * self.usd_per_mtok_cached_in;
        let token_usd = (volume.prompt_tokens * input_price
            + volume.output_tokens * self.usd_per_mtok_out)
            / 1e6
            * (1.0 - self.batch_share * self.batch_discount);
        let instance_usd = match self.instances {
            None => 0.0,
            Some(InstanceBilling::AlwaysOn { instances, usd_per_hour }) => {
                f64::from(instances) * HOURS_PER_MONTH * usd_per_hour
            }
            Some(InstanceBilling::PerRequest { usd_per_hour, .. }) => {
                volume.requests * volume.billed_seconds_per_request / 3600.0 * usd_per_hour
            }
            Some(InstanceBilling::Autoscaled { usd_per_hour, .. }) => {
                volume.instance_hours * usd_per_hour
            }
        };
        CostBreakdown {
            token_usd: token_usd * f,
            request_usd: volume.requests * self.usd_per_request * f,
            instance_usd: instance_usd * f,
            egress_usd: volume.requests * self.bytes_per_request / 1e9 * self.egress_usd_per_gb * f,
            ops_usd: self.ops_usd_per_month,
            ..CostBreakdown::default()
        }
    }
}

/// First time, in months as a real number (7.4 = 40 % into month 8), at which the local
/// deployment's cumulative cash cost is at most the cloud's. Capital is paid at the start of
/// its month; running costs accrue linearly within the month. `None`: never within the horizon.
pub fn break_even_month(local: &[CostBreakdown], cloud: &[CostBreakdown]) -> Option<f64> {
    let mut gap = 0.0; // local − cloud cumulative, at the start of the month
    for (m, (l, c)) in local.iter().zip(cloud).enumerate() {
        gap += l.capex_usd - c.capex_usd;
        if gap <= 0.0 {
            return Some(m as f64);
        }
        let slope = l.running() - c.running();
        if gap + slope <= 0.0 {
            return Some(m as f64 + gap / -slope);
        }
        gap += slope;
    }
    None
}

impl CostWire {
    fn present(&self) -> Keys {
        Keys::of(self, &["ops_usd_per_month"])
    }

    /// `billing_increment_s` and `min_billed_s`, each 0 when absent.
    fn billing_increments(&self, key: &str) -> Result<(f64, f64), Problem> {
        Ok((
            optional_non_negative(&format!("{key}.billing_increment_s"), self.billing_increment_s)?,
            optional_non_negative(&format!("{key}.min_billed_s"), self.min_billed_s)?,
        ))
    }

    fn only(&self, key: &str, allowed: &[&str], what: &str) -> Result<(), Problem> {
        let allowed: Vec<&str> = allowed.iter().copied().chain(["ops_usd_per_month"]).collect();
        only_keys(key, &self.present(), &allowed, what)
    }

    pub fn validate_local(&self, key: &str) -> Result<LocalCost, Problem> {
        let what = "the cost of a local deployment";
        self.only(
            key,
            &[
                "capex_usd",
                "residual_value_usd",
                "amortization_months",
                "power_w",
                "idle_w",
                "load_w",
                "pue",
                "usd_per_kwh",
                "usd_per_kw_month",
                "ups_usd",
            ],
            what,
        )?;
        let capex_usd = optional_non_negative(&format!("{key}.capex_usd"), self.capex_usd)?;
        let residual_value_usd =
            optional_non_negative(&format!("{key}.residual_value_usd"), self.residual_value_usd)?;
        if residual_value_usd > capex_usd {
            return Err(Problem::new(
                format!("{key}.residual_value_usd"),
                format!(
                    "the residual value ({residual_value_usd}) exceeds the purchase price ({capex_usd})"
                ),
            ));
        }
        let amortization_months = match self.amortization_months {
            None => 36,
            Some(m) if (1..=600).contains(&m) => m as u32,
            Some(m) => {
                return Err(Problem::new(format!("{key}.amortization_months"), format!("must be a whole number of months from 1 to 600, got {m}"))
                    .hint("straight-line depreciation spreads (capex − residual) over this many months; 36 is common for GPUs"));
            }
        };
        let power = match (self.power_w, self.idle_w, self.load_w) {
            (Some(w), None, None) => Power::Constant {
                watts: optional_non_negative(&format!("{key}.power_w"), Some(w))?,
            },
            (None, Some(i), Some(l)) => {
                let idle_w = optional_non_negative(&format!("{key}.idle_w"), Some(i))?;
                let load_w = optional_non_negative(&format!("{key}.load_w"), Some(l))?;
                if load_w < idle_w {
                    return Err(Problem::new(
                        format!("{key}.load_w"),
                        format!("load power ({load_w} W) is below idle power ({idle_w} W)"),
                    ));
                }
                Power::Linear { idle_w, load_w }
            }
            (None, None, None) => Power::Constant { watts: 0.0 },
            _ => {
                return Err(Problem::new(
                    format!("{key}.power_w"),
                    "give either `power_w`, or both `idle_w` and `load_w`",
                ));
            }
        };
        let pue = self.pue.unwrap_or(1.0);
        if !(pue.is_finite() && pue >= 1.0) {
            return Err(Problem::new(
                format!("{key}.pue"),
                format!("power usage effectiveness is at least 1, got {}", crate::check::num(pue)),
            ));
        }
        Ok(LocalCost {
            capex_usd,
            residual_value_usd,
            amortization_months,
            power,
            pue,
            usd_per_kwh: optional_non_negative(&format!("{key}.usd_per_kwh"), self.usd_per_kwh)?,
            usd_per_kw_month: optional_non_negative(
                &format!("{key}.usd_per_kw_month"),
                self.usd_per_kw_month,
            )?,
            ops_usd_per_month: optional_non_negative(
                &format!("{key}.ops_usd_per_month"),
                self.ops_usd_per_month,
            )?,
            ups_usd: optional_non_negative(&format!("{key}.ups_usd"), self.ups_usd)?,
        })
    }

    pub fn validate_cloud(
        &self,
        key: &str,
        max_concurrency: Option<u32>,
        autoscaled: bool,
    ) -> Result<CloudCost, Problem> {
        let what = "the cost of a cloud deployment";
        self.only(
            key,
            &[
                "usd_per_mtok_in",
                "usd_per_mtok_out",
                "usd_per_mtok_cached_in",
                "cached_input_share",
                "batch_share",
                "batch_discount",
                "usd_per_request",
                "usd_per_instance_hour",
                "instances",
                "billing_increment_s",
                "min_billed_s",
                "egress_usd_per_gb",
                "bytes_per_request",
                "price_change_per_year",
                "price_change_sd_per_year",
            ],
            what,
        )?;
        let usd_per_mtok_in =
            optional_non_negative(&format!("{key}.usd_per_mtok_in"), self.usd_per_mtok_in)?;
        let instances = match self.usd_per_instance_hour {
            None => {
                for k in ["instances", "billing_increment_s", "min_billed_s"] {
                    if self.present().has(k) {
                        return Err(Problem::new(
                            format!("{key}.{k}"),
                            format!("`{k}` needs `usd_per_instance_hour`"),
                        ));
                    }
                }
                None
            }
            Some(p) if autoscaled => {
                if self.instances.is_some() {
                    return Err(Problem::new(
                        format!("{key}.instances"),
                        "an autoscaled deployment's instance count comes from [autoscale]",
                    )
                    .hint("remove `instances`"));
                }
                let usd_per_hour =
                    optional_non_negative(&format!("{key}.usd_per_instance_hour"), Some(p))?;
                let (increment_s, min_billed_s) = self.billing_increments(key)?;
                Some(InstanceBilling::Autoscaled { usd_per_hour, increment_s, min_billed_s })
            }
            Some(p) => {
                let usd_per_hour =
                    optional_non_negative(&format!("{key}.usd_per_instance_hour"), Some(p))?;
                match self.instances.or(max_concurrency) {
                    Some(n)
                        if self.billing_increment_s.is_none() && self.min_billed_s.is_none() =>
                    {
                        if n == 0 {
                            return Err(Problem::new(
                                format!("{key}.instances"),
                                "must be at least 1",
                            ));
                        }
                        Some(InstanceBilling::AlwaysOn { instances: n, usd_per_hour })
                    }
                    Some(_) => {
                        return Err(Problem::new(format!("{key}.billing_increment_s"), "always-on instances are billed for every hour; billing increments apply to per-request (serverless) billing")
                            .hint("remove `instances` (and `max_concurrency`) for serverless billing, or remove the billing keys"));
                    }
                    None => {
                        let (increment_s, min_billed_s) = self.billing_increments(key)?;
                        Some(InstanceBilling::PerRequest {
                            usd_per_hour,
                            increment_s,
                            min_billed_s,
                        })
                    }
                }
            }
        };
        let price_change_per_year = self.price_change_per_year.unwrap_or(0.0);
        if !(price_change_per_year.is_finite() && price_change_per_year > -1.0) {
            return Err(Problem::new(
                format!("{key}.price_change_per_year"),
                format!(
                    "must be above -1 (-0.2 = prices fall 20 % a year), got {}",
                    crate::check::num(price_change_per_year)
                ),
            ));
        }
        Ok(CloudCost {
            usd_per_mtok_in,
            usd_per_mtok_out: optional_non_negative(
                &format!("{key}.usd_per_mtok_out"),
                self.usd_per_mtok_out,
            )?,
            usd_per_mtok_cached_in: match self.usd_per_mtok_cached_in {
                None => usd_per_mtok_in,
                v => optional_non_negative(&format!("{key}.usd_per_mtok_cached_in"), v)?,
            },
            cached_input_share: optional_share(
                &format!("{key}.cached_input_share"),
                self.cached_input_share,
            )?,
            batch_share: optional_share(&format!("{key}.batch_share"), self.batch_share)?,
            batch_discount: optional_share(&format!("{key}.batch_discount"), self.batch_discount)?,
            usd_per_request: optional_non_negative(
                &format!("{key}.usd_per_request"),
                self.usd_per_request,
            )?,
            instances,
            egress_usd_per_gb: optional_non_negative(
                &format!("{key}.egress_usd_per_gb"),
                self.egress_usd_per_gb,
            )?,
            bytes_per_request: optional_non_negative(
                &format!("{key}.bytes_per_request"),
                self.bytes_per_request,
            )?,
            price_change_per_year,
            price_change_sd_per_year: optional_non_negative(
                &format!("{key}.price_change_sd_per_year"),
                self.price_change_sd_per_year,
            )?,
            ops_usd_per_month: optional_non_negative(
                &format!("{key}.ops_usd_per_month"),
                self.ops_usd_per_month,
            )?,
        })
    }
}

impl CapacityPolicyWire {
    pub fn validate(&self, key: &str, servers: u32) -> Result<CapacityPolicy, Problem> {
        let t = self.add_when_peak_utilization_above;
        if !(t > 0.0 && t <= 1.0) {
            return Err(Problem::new(
                format!("{key}.add_when_peak_utilization_above"),
                format!("must be a utilization in (0, 1], got {}", crate::check::num(t)),
            ));
        }
        crate::check::count_up_to(
            &format!("{key}.max_servers"),
            self.max_servers,
            crate::limits::MAX_DEVICES,
            "each device keeps its own state and failure timeline; at most 100,000 per deployment",
        )?;
        if self.max_servers < servers {
            return Err(Problem::new(
                format!("{key}.max_servers"),
                format!(
                    "max_servers ({}) is below the starting servers ({servers})",
                    self.max_servers
                ),
            ));
        }
        Ok(CapacityPolicy {
            add_when_peak_utilization_above: t,
            lead_time_months: self.lead_time_months.unwrap_or(0),
            max_servers: self.max_servers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(x: f64) -> CostBreakdown {
        CostBreakdown { ops_usd: x, ..CostBreakdown::default() }
    }

    #[test]
    fn break_even_interpolates_within_the_month() {
        let mut local = vec![running(100.0); 12];
        local[0].capex_usd = 1000.0;
        let cloud = vec![running(300.0); 12];
        // gap 1000 shrinks by 200 a month: crosses at exactly 5.0 months.
        assert_eq!(break_even_month(&local, &cloud), Some(5.0));
        let cloud = vec![running(350.0); 12];
        assert!((break_even_month(&local, &cloud).unwrap() - 4.0).abs() < 1e-12);
        let cloud = vec![running(120.0); 12];
        assert_eq!(break_even_month(&local, &cloud), None);
        let free = vec![running(100.0); 12];
        assert_eq!(break_even_month(&free, &cloud), Some(0.0));
    }

    #[test]
    fn straight_line_capital() {
        let c = LocalCost {
            capex_usd: 3000.0,
            residual_value_usd: 600.0,
            amortization_months: 24,
            power: Power::Constant { watts: 0.0 },
            pue: 1.0,
            usd_per_kwh: 0.0,
            usd_per_kw_month: 0.0,
            ops_usd_per_month: 0.0,
            ups_usd: 240.0,
        };
        let purchases =
            [2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(c.capital(&purchases, 1), (6240.0, 2.0 * 100.0 + 10.0));
        assert_eq!(c.capital(&purchases, 4), (3000.0, 3.0 * 100.0 + 10.0));
        assert_eq!(c.capital(&purchases, 25), (0.0, 100.0));
        assert_eq!(c.capital(&purchases, 27), (0.0, 100.0));
        // Total depreciation = capex − residual for every device.
        let total: f64 = (1..=27).map(|m| c.capital(&purchases, m).1).sum();
        assert!((total - (3.0 * 2400.0 + 240.0)).abs() < 1e-9);
    }

    #[test]
    fn power_follows_utilization() {
        let p = Power::Linear { idle_w: 50.0, load_w: 350.0 };
        assert_eq!(p.watts(0.0), 50.0);
        assert_eq!(p.watts(0.5), 200.0);
        assert_eq!(p.watts(1.0), 350.0);
        assert_eq!(p.watts(1.7), 350.0);
        assert_eq!(p.provisioned_watts(), 350.0);
        assert_eq!(Power::Constant { watts: 90.0 }.watts(0.3), 90.0);
    }

    #[test]
    fn billing_rounds_up_with_minimum() {
        assert_eq!(InstanceBilling::billed_seconds(1.0, 60.0, 2.3), 60.0);
        assert_eq!(InstanceBilling::billed_seconds(1.0, 60.0, 61.2), 62.0);
        assert_eq!(InstanceBilling::billed_seconds(60.0, 0.0, 61.0), 120.0);
    }
}
