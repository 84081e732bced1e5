//! `[traffic]`: how requests arrive (Poisson, diurnal, bursty, Markov-modulated, a replayed
//! trace) and their prompt and answer lengths.

use crate::check::{Keys, non_negative, only_keys, positive, require};
use crate::dist::{Dist, DistWire};
use crate::error::Problem;
use crate::files::FileSource;
use crate::trace::TraceEnd;
use crate::trace::{Trace, parse_trace};
use crate::units::HOURS_PER_MONTH;
use serde::{Deserialize, Serialize};

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

pub(crate) fn pair(key: &str, v: &[f64]) -> Result<[f64; 2], Problem> {
    match v {
        [a, b] => Ok([positive(&format!("{key}[0]"), *a)?, positive(&format!("{key}[1]"), *b)?]),
        _ => Err(Problem::new(key, format!("needs exactly 2 values (low, high), got {}", v.len()))),
    }
}

pub(crate) fn validate_traffic(
    t: &TrafficWire,
    files: &dyn FileSource,
) -> Result<Traffic, Problem> {
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

// The TOML form of the table (serde), validated above.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    Poisson,
    Diurnal,
    Bursty,
    Trace,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficWire {
    pub pattern: Pattern,
    pub rate_per_s: Option<f64>,
    // diurnal
    pub peak_to_trough: Option<f64>,
    pub peak_hour: Option<f64>,
    pub hourly_weights: Option<Vec<f64>>,
    // bursty: gamma renewal
    pub cv: Option<f64>,
    // bursty: two-state MMPP
    pub rates_per_s: Option<Vec<f64>>,
    pub mean_dwell_s: Option<Vec<f64>>,
    // trace
    pub trace_file: Option<String>,
    pub time_scale: Option<f64>,
    pub at_end: Option<TraceEnd>,
    // any pattern
    pub growth_per_month: Option<f64>,
    /// Coefficient of variation of each month's traffic level (lognormal, mean 1).
    pub level_noise_cv: Option<f64>,
    pub prompt_tokens: Option<DistWire>,
    pub output_tokens: Option<DistWire>,
}

impl TrafficWire {
    pub(crate) fn present_keys(&self) -> Keys {
        Keys::of(
            self,
            &["pattern", "growth_per_month", "level_noise_cv", "prompt_tokens", "output_tokens"],
        )
    }
}
