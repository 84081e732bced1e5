//! Model updates and training: the decision guide's "updates" dimension and its third hybrid
//! pattern, federated learning.
//!
//! ```toml
//! [deployment.updates]            # local: manual roll-out, device by device
//! every_days = 30                 # or releases_per_year = 12 (Poisson)
//! rollout_minutes = 45            # each device out of service, one after another
//! staff_hours_per_device = 0.5
//! usd_per_staff_hour = 90
//! failure_probability = 0.05      # a failed update is rolled back…
//! rollback_minutes = 30           # …keeping the device out this much longer
//!
//! [deployment.updates]            # cloud with instances: CI/CD, no capacity loss
//! every_days = 14
//! strategy = "blue_green"         # or "rolling": one surge instance during the switch
//! switch_minutes = 20             # blue/green: every instance doubled this long
//! usd_per_release = 15            # CI minutes, tests
//!
//! [deployment.updates]            # per-token API: provider-side and free, but…
//! model_change_month = 13         # …from this month the model changes:
//! latency_factor = 0.8            # provider time × 0.8
//! price_factor = 0.5              # token prices × 0.5
//!
//! [deployment.federated]          # local fleet trains on-device
//! round_every_hours = 24
//! share_of_devices = 0.25         # of the fleet in each round (rotating)
//! train_hours = 2
//! inference_speed = 0             # 0: training devices serve nothing; 0.5: half speed
//! train_power_w = 20              # draw while training (instead of idle)
//! delta_mb = 40                   # model delta uploaded per device and round
//! uplink_mbps = 10                # upload time adds to the busy time
//! transfer_usd_per_gb = 0.09
//! coordinator_usd_per_hour = 0.8  # aggregation server…
//! coordinator_hours_per_round = 0.5
//!
//! [deployment.central_training]   # the alternative: raw data to the cloud
//! round_every_hours = 24
//! raw_mb_per_device = 500
//! transfer_usd_per_gb = 0.09
//! training_hours_per_round = 3
//! usd_per_training_hour = 4.0
//! ```
//!
//! Releases fall at `(k + ½) · interval` for a fixed cadence (mid-interval: a monthly release
//! lands mid-month, where the month's simulated window is) or at Poisson times; training
//! rounds at `(k + ½) · round_every_hours`. Both take devices out of service through the same
//! per-device intervals as failures, so capacity, latency and availability see them.

use serde::{Deserialize, Serialize};

use crate::check::{Keys, only_keys, optional_non_negative as non_negative, positive, share};
use crate::error::Problem;
use crate::units::{MS_PER_DAY, MS_PER_HOUR};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStrategy {
    BlueGreen,
    Rolling,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatesWire {
    pub every_days: Option<f64>,
    pub releases_per_year: Option<f64>,
    // local
    pub rollout_minutes: Option<f64>,
    pub staff_hours_per_device: Option<f64>,
    pub usd_per_staff_hour: Option<f64>,
    pub failure_probability: Option<f64>,
    pub rollback_minutes: Option<f64>,
    // cloud
    pub strategy: Option<RolloutStrategy>,
    pub switch_minutes: Option<f64>,
    pub usd_per_release: Option<f64>,
    pub model_change_month: Option<u32>,
    pub latency_factor: Option<f64>,
    pub price_factor: Option<f64>,
}

/// When releases happen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cadence {
    /// Every `interval_ms`, at `(k + ½) · interval_ms`.
    Every { interval_ms: f64 },
    /// A Poisson process with this rate.
    Poisson { rate_per_ms: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelChange {
    /// 1-based month from which the new model is in service.
    pub month: u32,
    pub latency_factor: f64,
    pub price_factor: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Updates {
    /// Manual roll-out over the devices, one after another.
    Local {
        cadence: Cadence,
        rollout_ms: f64,
        staff_hours_per_device: f64,
        usd_per_staff_hour: f64,
        failure_probability: f64,
        rollback_ms: f64,
    },
    /// CI/CD: no capacity lost; a per-release cost, plus the switch's extra instances.
    Cloud {
        cadence: Option<Cadence>,
        strategy: RolloutStrategy,
        switch_ms: f64,
        usd_per_release: f64,
        model_change: Option<ModelChange>,
    },
}

impl Updates {
    pub fn cadence(&self) -> Option<Cadence> {
        match self {
            Updates::Local { cadence, .. } => Some(*cadence),
            Updates::Cloud { cadence, .. } => *cadence,
        }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedWire {
    pub round_every_hours: f64,
    pub share_of_devices: f64,
    pub train_hours: f64,
    pub inference_speed: Option<f64>,
    pub train_power_w: Option<f64>,
    pub delta_mb: Option<f64>,
    pub uplink_mbps: Option<f64>,
    pub transfer_usd_per_gb: Option<f64>,
    pub coordinator_usd_per_hour: Option<f64>,
    pub coordinator_hours_per_round: Option<f64>,
}

/// On-device training rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Federated {
    pub round_ms: f64,
    pub share_of_devices: f64,
    /// Training plus uploading the delta: how long each chosen device is busy per round.
    pub busy_ms: f64,
    /// Inference speed of a training device, as a share of normal (0: serves nothing).
    pub inference_speed: f64,
    pub train_power_w: Option<f64>,
    pub delta_gb: f64,
    pub transfer_usd_per_gb: f64,
    pub coordinator_usd_per_round: f64,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentralTrainingWire {
    pub round_every_hours: f64,
    pub raw_mb_per_device: f64,
    pub transfer_usd_per_gb: Option<f64>,
    pub training_hours_per_round: f64,
    pub usd_per_training_hour: f64,
}

/// Raw data uploaded from every device and trained on in the cloud: cost only, no device time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CentralTraining {
    pub round_ms: f64,
    pub raw_gb_per_device: f64,
    pub transfer_usd_per_gb: f64,
    pub usd_per_round: f64,
}

impl UpdatesWire {
    fn present(&self) -> Keys {
        Keys::of(self, &[])
    }

    fn only(&self, key: &str, allowed: &[&str], what: &str) -> Result<(), Problem> {
        only_keys(key, &self.present(), allowed, what)
    }

    fn cadence(&self, key: &str) -> Result<Option<Cadence>, Problem> {
        match (self.every_days, self.releases_per_year) {
            (Some(_), Some(_)) => Err(Problem::new(
                format!("{key}.releases_per_year"),
                "give one cadence: `every_days` (fixed) or `releases_per_year` (Poisson)",
            )),
            (Some(d), None) => Ok(Some(Cadence::Every {
                interval_ms: positive(&format!("{key}.every_days"), d).map_err(|p| {
                    p.hint("a release cadence of 0 days would release continuously")
                })? * MS_PER_DAY,
            })),
            (None, Some(r)) => Ok(Some(Cadence::Poisson {
                rate_per_ms: positive(&format!("{key}.releases_per_year"), r)?
                    / (365.0 * MS_PER_DAY),
            })),
            (None, None) => Ok(None),
        }
    }

    pub fn validate_local(&self, key: &str) -> Result<Updates, Problem> {
        let what = "the updates of a local deployment";
        self.only(
            key,
            &[
                "every_days",
                "releases_per_year",
                "rollout_minutes",
                "staff_hours_per_device",
                "usd_per_staff_hour",
                "failure_probability",
                "rollback_minutes",
            ],
            what,
        )?;
        let cadence = self.cadence(key)?.ok_or_else(|| {
            Problem::new(
                format!("{key}.every_days"),
                "updates need a cadence: `every_days` or `releases_per_year`",
            )
        })?;
        if self.rollback_minutes.is_some() && self.failure_probability.is_none() {
            return Err(Problem::new(
                format!("{key}.rollback_minutes"),
                "`rollback_minutes` needs `failure_probability`",
            ));
        }
        Ok(Updates::Local {
            cadence,
            rollout_ms: non_negative(&format!("{key}.rollout_minutes"), self.rollout_minutes)?
                * 60_000.0,
            staff_hours_per_device: non_negative(
                &format!("{key}.staff_hours_per_device"),
                self.staff_hours_per_device,
            )?,
            usd_per_staff_hour: non_negative(
                &format!("{key}.usd_per_staff_hour"),
                self.usd_per_staff_hour,
            )?,
            failure_probability: share(
                &format!("{key}.failure_probability"),
                self.failure_probability.unwrap_or(0.0),
            )?,
            rollback_ms: non_negative(&format!("{key}.rollback_minutes"), self.rollback_minutes)?
                * 60_000.0,
        })
    }

    pub fn validate_cloud(&self, key: &str) -> Result<Updates, Problem> {
        let what = "the updates of a cloud deployment";
        self.only(
            key,
            &[
                "every_days",
                "releases_per_year",
                "strategy",
                "switch_minutes",
                "usd_per_release",
                "model_change_month",
                "latency_factor",
                "price_factor",
            ],
            what,
        )?;
        let cadence = self.cadence(key)?;
        let release_keys = ["strategy", "switch_minutes", "usd_per_release"];
        if cadence.is_none()
            && let Some(k) = release_keys.iter().find(|k| self.present().has(k))
        {
            return Err(Problem::new(
                format!("{key}.{k}"),
                format!("`{k}` needs a cadence: `every_days` or `releases_per_year`"),
            ));
        }
        let model_change = match self.model_change_month {
            None => {
                for k in ["latency_factor", "price_factor"] {
                    if self.present().has(k) {
                        return Err(Problem::new(
                            format!("{key}.{k}"),
                            format!("`{k}` needs `model_change_month`"),
                        ));
                    }
                }
                None
            }
            Some(0) => {
                return Err(Problem::new(
                    format!("{key}.model_change_month"),
                    "months count from 1",
                ));
            }
            Some(month) => Some(ModelChange {
                month,
                latency_factor: positive(
                    &format!("{key}.latency_factor"),
                    self.latency_factor.unwrap_or(1.0),
                )?,
                price_factor: positive(
                    &format!("{key}.price_factor"),
                    self.price_factor.unwrap_or(1.0),
                )?,
            }),
        };
        if cadence.is_none() && model_change.is_none() {
            return Err(Problem::new(
                key.to_string(),
                "[updates] needs a cadence (`every_days` or `releases_per_year`) or a `model_change_month`",
            ));
        }
        Ok(Updates::Cloud {
            cadence,
            strategy: self.strategy.unwrap_or(RolloutStrategy::BlueGreen),
            switch_ms: non_negative(&format!("{key}.switch_minutes"), self.switch_minutes)?
                * 60_000.0,
            usd_per_release: non_negative(&format!("{key}.usd_per_release"), self.usd_per_release)?,
            model_change,
        })
    }
}

impl FederatedWire {
    pub fn validate(&self, key: &str) -> Result<Federated, Problem> {
        let round_ms = positive(&format!("{key}.round_every_hours"), self.round_every_hours)
            .map_err(|p| p.hint("rounds repeat every this many hours"))?
            * MS_PER_HOUR;
        let share_of_devices = share(&format!("{key}.share_of_devices"), self.share_of_devices)?;
        let train_ms = positive(&format!("{key}.train_hours"), self.train_hours)? * MS_PER_HOUR;
        let delta_mb = non_negative(&format!("{key}.delta_mb"), self.delta_mb)?;
        let upload_ms = match self.uplink_mbps {
            None => 0.0,
            Some(m) => delta_mb * 8.0 / positive(&format!("{key}.uplink_mbps"), m)? * 1000.0,
        };
        if train_ms + upload_ms > round_ms {
            // Blame the larger part: training, or the upload of the model delta.
            let (k, hint) = if upload_ms > train_ms {
                ("delta_mb", "the upload of delta_mb at uplink_mbps is longer than the round")
            } else {
                ("train_hours", "training is longer than the round")
            };
            return Err(Problem::new(
                format!("{key}.{k}"),
                format!(
                    "training plus upload ({} h) is longer than a round ({} h)",
                    crate::check::num((train_ms + upload_ms) / MS_PER_HOUR),
                    crate::check::num(self.round_every_hours)
                ),
            )
            .hint(hint));
        }
        let speed = self.inference_speed.unwrap_or(0.0);
        if !(0.0..1.0).contains(&speed) {
            return Err(Problem::new(
                format!("{key}.inference_speed"),
                format!(
                    "must be in [0, 1): 0 = training devices serve nothing, 0.5 = half speed; got {}",
                    crate::check::num(speed)
                ),
            ));
        }
        Ok(Federated {
            round_ms,
            share_of_devices,
            busy_ms: train_ms + upload_ms,
            inference_speed: speed,
            train_power_w: self
                .train_power_w
                .map(|w| non_negative(&format!("{key}.train_power_w"), Some(w)))
                .transpose()?,
            delta_gb: delta_mb / 1000.0,
            transfer_usd_per_gb: non_negative(
                &format!("{key}.transfer_usd_per_gb"),
                self.transfer_usd_per_gb,
            )?,
            coordinator_usd_per_round: non_negative(
                &format!("{key}.coordinator_usd_per_hour"),
                self.coordinator_usd_per_hour,
            )? * non_negative(
                &format!("{key}.coordinator_hours_per_round"),
                self.coordinator_hours_per_round,
            )?,
        })
    }
}

impl CentralTrainingWire {
    pub fn validate(&self, key: &str) -> Result<CentralTraining, Problem> {
        Ok(CentralTraining {
            round_ms: positive(&format!("{key}.round_every_hours"), self.round_every_hours)?
                * MS_PER_HOUR,
            raw_gb_per_device: non_negative(
                &format!("{key}.raw_mb_per_device"),
                Some(self.raw_mb_per_device),
            )? / 1000.0,
            transfer_usd_per_gb: non_negative(
                &format!("{key}.transfer_usd_per_gb"),
                self.transfer_usd_per_gb,
            )?,
            usd_per_round: non_negative(
                &format!("{key}.training_hours_per_round"),
                Some(self.training_hours_per_round),
            )? * non_negative(
                &format!("{key}.usd_per_training_hour"),
                Some(self.usd_per_training_hour),
            )?,
        })
    }
}
