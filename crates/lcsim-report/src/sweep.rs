//! The table of a sweep: one row per grid point × deployment, built from each point's
//! [`RunSummary`], and written as `sweep.parquet` and `sweep.csv` (same columns).
//!
//! Columns, in order: `point` (0-based, the last axis varying fastest), one column per swept
//! key (named by its path), `deployment`, `kind`; the cumulative cash cost at months 12, 24 and
//! 36 and at the horizon's end (`cost_m12_mean_usd`, `_p5_`, `_p95_`; null past the horizon or
//! without a cost model); for every other deployment `d`, the break-even month of the local
//! option against the cloud one (`break_even_vs_<d>_p5_month`, `_p50_`, `_p95_` and
//! `_never_share`, null where the pair is not local × cloud); the end-to-end (E2E) latency
//! p50/p95 (`latency_*`),
//! TTFT p95 and TPOT p95 in ms; availability; SLO attainment; utilization; requests.
//!
//! The break-even map's lines go to `break_even.csv` ([`crate::planning::write_break_even`]).

use std::fs::File;
use std::path::Path;

use lcsim_core::summary::{MonthBand, RunSummary};
use polars::prelude::*;

use crate::ReportError;

/// The months at which cumulative cost is tabulated; the horizon's end is added as `end`.
pub const COST_MONTHS: [u32; 3] = [12, 24, 36];

/// A swept key, for the table and the charts.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepAxis {
    pub path: String,
    pub values: Vec<f64>,
    /// Drawn on a log scale (a `scale = "log"` range).
    pub log: bool,
    /// The scenario's own value of the key, if it has one.
    pub base: Option<f64>,
}

/// Mean and p5–p95 of a cumulative cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostBand {
    pub mean: f64,
    pub p5: f64,
    pub p95: f64,
}

/// Break-even of a local option against a cloud one at one point.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakEvenCell {
    pub other: String,
    /// p5, p50, p95 of the month, over the replications that break even.
    pub month: Option<[f64; 3]>,
    pub never_share: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    pub point: usize,
    pub values: Vec<f64>,
    pub deployment: String,
    pub kind: &'static str,
    /// At [`COST_MONTHS`], then at the horizon's end.
    pub cost: [Option<CostBand>; 4],
    pub break_even: Vec<BreakEvenCell>,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub ttft_p95_ms: f64,
    pub tpot_p95_ms: Option<f64>,
    pub availability: f64,
    pub slo_attainment: Option<f64>,
    pub utilization: Option<f64>,
    pub requests: f64,
}

/// A whole sweep: its axes and rows, and the deployments in scenario order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SweepTable {
    pub scenario: String,
    pub axes: Vec<SweepAxis>,
    pub horizon_months: Option<u32>,
    /// The `[slo]`'s p95 latency target, for the latency chart.
    pub slo_latency_p95_ms: Option<f64>,
    /// `(name, kind)`, in scenario order.
    pub deployments: Vec<(String, &'static str)>,
    pub rows: Vec<SweepRow>,
}

fn band_at(bands: &[MonthBand], month: u32) -> Option<CostBand> {
    let b = bands.iter().find(|b| b.month == month)?;
    Some(CostBand { mean: b.mean, p5: b.p5, p95: b.p95 })
}

impl SweepTable {
    /// Adds the rows of grid point `point`, whose swept keys had `values`.
    pub fn push_point(&mut self, point: usize, values: &[f64], s: &RunSummary) {
        if self.deployments.is_empty() {
            self.scenario.clone_from(&s.scenario);
            self.horizon_months = s.horizon_months;
            self.deployments = s.deployments.iter().map(|d| (d.name.clone(), d.kind)).collect();
        }
        let horizon = s.horizon_months.unwrap_or(0);
        for d in &s.deployments {
            let cumulative = d.cost_usd.as_ref().map(|c| c.cumulative.as_slice()).unwrap_or(&[]);
            let at = |m: u32| if m <= horizon { band_at(cumulative, m) } else { None };
            let break_even = self
                .deployments
                .iter()
                .filter(|(other, _)| *other != d.name)
                .map(|(other, _)| {
                    let pair = s.break_even.iter().flatten().find(|b| {
                        (b.local == d.name && b.cloud == *other)
                            || (b.cloud == d.name && b.local == *other)
                    });
                    BreakEvenCell {
                        other: other.clone(),
                        month: pair.and_then(|b| b.month).map(|m| [m.p5, m.p50, m.p95]),
                        never_share: pair.map_or(f64::NAN, |b| b.never_fraction),
                    }
                })
                .collect();
            self.rows.push(SweepRow {
                point,
                values: values.to_vec(),
                deployment: d.name.clone(),
                kind: d.kind,
                cost: [at(12), at(24), at(36), at(horizon)],
                break_even,
                latency_p50_ms: d.latency_ms.p50,
                latency_p95_ms: d.latency_ms.p95,
                ttft_p95_ms: d.ttft_ms.p95,
                tpot_p95_ms: d.tpot_ms.map(|t| t.p95),
                availability: d.availability.mean,
                slo_attainment: d.slo.map(|x| x.attainment),
                utilization: d.utilization,
                requests: d.requests as f64,
            });
        }
    }

    /// The row of `deployment` at `point`.
    pub fn row(&self, point: usize, deployment: &str) -> Option<&SweepRow> {
        self.rows.iter().find(|r| r.point == point && r.deployment == deployment)
    }

    /// Number of grid points.
    pub fn points(&self) -> usize {
        self.rows.iter().map(|r| r.point + 1).max().unwrap_or(0)
    }

    /// Mean cumulative cost at the horizon's end of every deployment with a cost model.
    pub fn end_cost(&self, point: usize, deployment: &str) -> Option<CostBand> {
        self.row(point, deployment)?.cost[3]
    }

    /// The first (local, cloud) pair, in scenario order, both with a cost model: the pair
    /// the break-even map and the report's sentence are about.
    pub fn pair(&self) -> Option<(String, String)> {
        let costed = |kind: &str| {
            self.deployments.iter().find(|(n, k)| {
                *k == kind && self.rows.iter().any(|r| &r.deployment == n && r.cost[3].is_some())
            })
        };
        Some((costed("local")?.0.clone(), costed("cloud")?.0.clone()))
    }

    /// The sweep as a polars DataFrame (the columns of the module documentation).
    pub fn frame(&self) -> Result<DataFrame, ReportError> {
        let n = self.rows.len();
        let mut columns = vec![Column::new(
            "point".into(),
            self.rows.iter().map(|r| r.point as u32).collect::<Vec<u32>>(),
        )];
        for (i, a) in self.axes.iter().enumerate() {
            columns.push(Column::new(
                a.path.as_str().into(),
                self.rows.iter().map(|r| r.values[i]).collect::<Vec<f64>>(),
            ));
        }
        columns.push(Column::new(
            "deployment".into(),
            self.rows.iter().map(|r| r.deployment.as_str()).collect::<Vec<_>>(),
        ));
        columns
            .push(Column::new("kind".into(), self.rows.iter().map(|r| r.kind).collect::<Vec<_>>()));
        let opt = |name: String, f: &dyn Fn(&SweepRow) -> Option<f64>| {
            Column::new(name.into(), self.rows.iter().map(f).collect::<Vec<Option<f64>>>())
        };
        for (j, label) in ["m12", "m24", "m36", "end"].iter().enumerate() {
            columns.push(opt(format!("cost_{label}_mean_usd"), &|r| r.cost[j].map(|c| c.mean)));
            columns.push(opt(format!("cost_{label}_p5_usd"), &|r| r.cost[j].map(|c| c.p5)));
            columns.push(opt(format!("cost_{label}_p95_usd"), &|r| r.cost[j].map(|c| c.p95)));
        }
        for (other, _) in &self.deployments {
            let cell = |r: &SweepRow| r.break_even.iter().find(|b| &b.other == other).cloned();
            for (q, label) in ["p5", "p50", "p95"].iter().enumerate() {
                columns.push(opt(format!("break_even_vs_{other}_{label}_month"), &|r| {
                    cell(r)?.month.map(|m| m[q])
                }));
            }
            columns.push(opt(format!("break_even_vs_{other}_never_share"), &|r| {
                cell(r).map(|c| c.never_share).filter(|v| v.is_finite())
            }));
        }
        let plain: [(&str, Getter); 8] = [
            ("latency_p50_ms", |r| Some(r.latency_p50_ms)),
            ("latency_p95_ms", |r| Some(r.latency_p95_ms)),
            ("ttft_p95_ms", |r| Some(r.ttft_p95_ms)),
            ("tpot_p95_ms", |r| r.tpot_p95_ms),
            ("availability", |r| Some(r.availability)),
            ("slo_attainment", |r| r.slo_attainment),
            ("utilization", |r| r.utilization),
            ("requests", |r| Some(r.requests)),
        ];
        for (name, f) in plain {
            columns.push(opt(name.to_string(), &f));
        }
        Ok(DataFrame::new(n, columns)?)
    }
}

/// A numeric column of [`SweepRow`].
type Getter = fn(&SweepRow) -> Option<f64>;

pub(crate) fn create(path: &Path) -> Result<File, ReportError> {
    File::create(path)
        .map_err(|source| ReportError::Io { path: path.display().to_string(), source })
}

/// Writes `sweep.parquet` and `sweep.csv` into `dir` (`break_even.csv`:
/// [`crate::planning::write_break_even`]).
pub fn write_table(dir: &Path, table: &SweepTable) -> Result<(), ReportError> {
    let mut df = table.frame()?;
    ParquetWriter::new(create(&dir.join("sweep.parquet"))?).finish(&mut df)?;
    CsvWriter::new(create(&dir.join("sweep.csv"))?).include_header(true).finish(&mut df)?;
    Ok(())
}
