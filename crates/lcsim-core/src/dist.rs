//! Probability distributions, in one grammar for every random quantity of a scenario.
//!
//! ```toml
//! { dist = "fixed", value = 40.0 }
//! { dist = "exponential", mean = 1000.0 }
//! { dist = "lognormal", mean = 40.0, cv = 0.5 }      # or { median = 35.0, p95 = 80.0 }
//! { dist = "gamma", mean = 200.0, cv = 1.2 }
//! { dist = "empirical", file = "data.csv", column = "GeneratedTokens" }   # or values = [..]
//! ```
//!
//! Lognormal parameters: from mean and coefficient of variation, `σ² = ln(1 + cv²)` and
//! `μ = ln(mean) − σ²/2`; from median and 95th percentile, `μ = ln(median)` and
//! `σ = (ln p95 − ln median) / z₀.₉₅` with `z₀.₉₅ = 1.644854`. Gamma: shape `k = 1/cv²`,
//! scale `θ = mean·cv²`. Empirical: draws uniformly from the listed values (a bootstrap).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::check::{self, MAX_MAGNITUDE, num};
use crate::error::Problem;

/// Standard normal 95th percentile.
pub const Z95: f64 = 1.644_853_626_951_472_2;

/// The TOML form of a distribution, before validation.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistWire {
    pub dist: DistKind,
    pub value: Option<f64>,
    pub mean: Option<f64>,
    pub cv: Option<f64>,
    pub median: Option<f64>,
    pub p95: Option<f64>,
    pub file: Option<String>,
    pub column: Option<String>,
    pub values: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DistKind {
    Fixed,
    Exponential,
    Lognormal,
    Gamma,
    Empirical,
}

/// A validated distribution of a non-negative quantity.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    Fixed(f64),
    Exponential { mean: f64 },
    LogNormal { mu: f64, sigma: f64 },
    Gamma { shape: f64, scale: f64 },
    Empirical(Arc<[f64]>),
}

impl Dist {
    pub fn mean(&self) -> f64 {
        match self {
            Dist::Fixed(v) => *v,
            Dist::Exponential { mean } => *mean,
            Dist::LogNormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            Dist::Gamma { shape, scale } => shape * scale,
            Dist::Empirical(values) => values.iter().sum::<f64>() / values.len() as f64,
        }
    }

    /// E[X²], as the Pollaczek–Khinchine formula needs it.
    pub fn second_moment(&self) -> f64 {
        match self {
            Dist::Fixed(v) => v * v,
            Dist::Exponential { mean } => 2.0 * mean * mean,
            Dist::LogNormal { mu, sigma } => (2.0 * mu + 2.0 * sigma * sigma).exp(),
            Dist::Gamma { shape, scale } => shape * (shape + 1.0) * scale * scale,
            Dist::Empirical(values) => {
                values.iter().map(|v| v * v).sum::<f64>() / values.len() as f64
            }
        }
    }
}

/// Things a distribution may need from outside the scenario text (an empirical file column).
pub trait ColumnSource {
    /// The numeric values of `column` in the CSV file at `path`.
    fn column(&self, path: &str, column: &str) -> Result<Vec<f64>, String>;
}

/// The coefficients of variation a gamma takes: its shape `1/cv²` then lies in [1e-6, 1e12],
/// where rand_distr's sampler is defined and accurate.
pub const GAMMA_CV_RANGE: (f64, f64) = (1e-6, 1e3);
/// The widest lognormal: cv 1000 is σ = 3.72, so `mean · e^(σ·z)` stays finite for any bounded
/// mean and any normal draw a run can produce, and the mean `e^(μ+σ²/2)` is finite.
pub const LOGNORMAL_MAX_CV: f64 = 1e3;

fn lognormal_too_wide(key: &str, cv: f64) -> Problem {
    Problem::new(key, format!("this lognormal has a cv of {}; at most 1000 is allowed", num(cv)))
        .hint("cv 1000 (p95/median about 450) is far wider than any measured latency or length")
}

fn positive(key: &str, name: &str, v: Option<f64>) -> Result<f64, Problem> {
    match v {
        None => Err(Problem::new(format!("{key}.{name}"), format!("missing `{name}`"))),
        Some(x) => check::positive(&format!("{key}.{name}"), x),
    }
}

impl DistWire {
    /// A distribution of `kind` with no parameters set yet.
    pub fn of(kind: DistKind) -> Self {
        DistWire {
            dist: kind,
            value: None,
            mean: None,
            cv: None,
            median: None,
            p95: None,
            file: None,
            column: None,
            values: None,
        }
    }

    /// Validates the wire form; `key` is the key path of this distribution, for messages.
    pub fn validate(&self, key: &str, columns: &dyn ColumnSource) -> Result<Dist, Problem> {
        let allowed: &[&str] = match self.dist {
            DistKind::Fixed => &["value"],
            DistKind::Exponential => &["mean"],
            DistKind::Lognormal => &["mean", "cv", "median", "p95"],
            DistKind::Gamma => &["mean", "cv"],
            DistKind::Empirical => &["file", "column", "values"],
        };
        let present = [
            ("value", self.value.is_some()),
            ("mean", self.mean.is_some()),
            ("cv", self.cv.is_some()),
            ("median", self.median.is_some()),
            ("p95", self.p95.is_some()),
            ("file", self.file.is_some()),
            ("column", self.column.is_some()),
            ("values", self.values.is_some()),
        ];
        if let Some((name, _)) = present.iter().find(|(n, p)| *p && !allowed.contains(n)) {
            return Err(Problem::new(
                format!("{key}.{name}"),
                format!("`{name}` does not apply to dist = \"{}\"", self.kind_name()),
            )
            .hint(format!("this distribution takes: {}", allowed.join(", "))));
        }
        match self.dist {
            DistKind::Fixed => {
                let v = self.value.ok_or_else(|| Problem::new(key, "missing `value`"))?;
                Ok(Dist::Fixed(check::non_negative(&format!("{key}.value"), v)?))
            }
            DistKind::Exponential => {
                Ok(Dist::Exponential { mean: positive(key, "mean", self.mean)? })
            }
            DistKind::Gamma => {
                let mean = positive(key, "mean", self.mean)?;
                let cv = check::within(
                    &format!("{key}.cv"),
                    self.cv.ok_or_else(|| Problem::new(format!("{key}.cv"), "missing `cv`"))?,
                    GAMMA_CV_RANGE.0,
                    GAMMA_CV_RANGE.1,
                    "a gamma's shape is 1/cv²; from 1e-6 to 1e12 it is sampled accurately",
                )?;
                Ok(Dist::Gamma { shape: 1.0 / (cv * cv), scale: mean * cv * cv })
            }
            DistKind::Lognormal => match (self.mean, self.cv, self.median, self.p95) {
                (Some(_), Some(_), None, None) => {
                    let mean = positive(key, "mean", self.mean)?;
                    let cv = positive(key, "cv", self.cv)?;
                    if cv > LOGNORMAL_MAX_CV {
                        return Err(lognormal_too_wide(&format!("{key}.cv"), cv));
                    }
                    let var = (1.0 + cv * cv).ln();
                    Ok(Dist::LogNormal { mu: mean.ln() - var / 2.0, sigma: var.sqrt() })
                }
                (None, None, Some(_), Some(_)) => {
                    let median = positive(key, "median", self.median)?;
                    let p95 = positive(key, "p95", self.p95)?;
                    if p95 <= median {
                        return Err(Problem::new(
                            format!("{key}.p95"),
                            format!("`p95` ({p95}) must be greater than `median` ({median})"),
                        ));
                    }
                    let sigma = (p95 / median).ln() / Z95;
                    let cv = (sigma * sigma).exp_m1().sqrt();
                    if cv > LOGNORMAL_MAX_CV {
                        return Err(lognormal_too_wide(&format!("{key}.p95"), cv));
                    }
                    Ok(Dist::LogNormal { mu: median.ln(), sigma })
                }
                _ => Err(Problem::new(
                    key,
                    "a lognormal needs either `mean` and `cv`, or `median` and `p95`",
                )
                .hint("e.g. { dist = \"lognormal\", median = 40.0, p95 = 90.0 }")),
            },
            DistKind::Empirical => {
                let values = match (&self.values, &self.file, &self.column) {
                    (Some(v), None, None) => v.clone(),
                    (None, Some(file), Some(column)) => columns
                        .column(file, column)
                        .map_err(|e| Problem::new(format!("{key}.file"), e))?,
                    _ => {
                        return Err(Problem::new(
                            key,
                            "an empirical distribution needs `values`, or `file` and `column`",
                        ));
                    }
                };
                if values.is_empty() {
                    return Err(Problem::new(key, "the empirical distribution has no values"));
                }
                if let Some(bad) =
                    values.iter().find(|v| !(v.is_finite() && (0.0..=MAX_MAGNITUDE).contains(*v)))
                {
                    return Err(Problem::new(
                        key,
                        format!(
                            "empirical values must be numbers from 0 to 1e15, found {}",
                            num(*bad)
                        ),
                    ));
                }
                Ok(Dist::Empirical(values.into()))
            }
        }
    }

    fn kind_name(&self) -> &'static str {
        match self.dist {
            DistKind::Fixed => "fixed",
            DistKind::Exponential => "exponential",
            DistKind::Lognormal => "lognormal",
            DistKind::Gamma => "gamma",
            DistKind::Empirical => "empirical",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoFiles;
    impl ColumnSource for NoFiles {
        fn column(&self, path: &str, _: &str) -> Result<Vec<f64>, String> {
            Err(format!("no file {path}"))
        }
    }

    #[test]
    fn lognormal_mean_cv_round_trips_its_moments() {
        let w = DistWire { mean: Some(40.0), cv: Some(0.5), ..DistWire::of(DistKind::Lognormal) };
        let d = w.validate("x", &NoFiles).unwrap();
        assert!((d.mean() - 40.0).abs() < 1e-12);
        let var = d.second_moment() - d.mean().powi(2);
        assert!((var.sqrt() / d.mean() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn lognormal_median_p95() {
        let w =
            DistWire { median: Some(40.0), p95: Some(90.0), ..DistWire::of(DistKind::Lognormal) };
        let Dist::LogNormal { mu, sigma } = w.validate("x", &NoFiles).unwrap() else { panic!() };
        assert!((mu.exp() - 40.0).abs() < 1e-9);
        assert!(((mu + Z95 * sigma).exp() - 90.0).abs() < 1e-9);
    }

    #[test]
    fn gamma_moments() {
        let w = DistWire { mean: Some(200.0), cv: Some(1.5), ..DistWire::of(DistKind::Gamma) };
        let d = w.validate("x", &NoFiles).unwrap();
        assert!((d.mean() - 200.0).abs() < 1e-9);
        let var = d.second_moment() - d.mean().powi(2);
        assert!((var - (1.5f64 * 200.0).powi(2)).abs() < 1e-6);
    }

    #[test]
    fn rejects_keys_of_other_kinds_and_bad_values() {
        let w = DistWire { mean: Some(1.0), cv: Some(1.0), ..DistWire::of(DistKind::Exponential) };
        let e = w.validate("svc", &NoFiles).unwrap_err();
        assert_eq!(e.key_path, "svc.cv");
        let w = DistWire { mean: Some(-1.0), ..DistWire::of(DistKind::Exponential) };
        assert_eq!(w.validate("svc", &NoFiles).unwrap_err().key_path, "svc.mean");
        let w = DistWire {
            file: Some("a.csv".into()),
            column: Some("c".into()),
            ..DistWire::of(DistKind::Empirical)
        };
        assert!(w.validate("svc", &NoFiles).unwrap_err().message.contains("no file"));
    }
}
