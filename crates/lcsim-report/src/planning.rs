//! What a sweep means for a decision: which option is cheapest at each grid point, where the
//! local option starts to pay off against the cloud one, and the sentence a lead would say.
//!
//! "Pays off within M months" means the local option's mean cumulative cash cost at month M is
//! at most the cloud option's. Along a swept axis the crossing is interpolated linearly between
//! the two grid points where the cost difference changes sign: exact when costs are linear in
//! the swept key (volume, per-token or per-request prices, capital).

use std::path::Path;

use polars::prelude::*;

use crate::ReportError;
use crate::report::usd;
use crate::sweep::{CostBand, SweepTable, create};

/// The months a crossing is reported for: 12, 24, 36 within the horizon, and the horizon.
pub fn marks(horizon: u32) -> Vec<u32> {
    let mut m: Vec<u32> = [12, 24, 36].into_iter().filter(|&m| m <= horizon).collect();
    if !m.contains(&horizon) {
        m.push(horizon);
    }
    m
}

/// The cumulative cost band of `deployment` at `month` (12, 24, 36 or the horizon's end).
pub fn cost_at(t: &SweepTable, point: usize, deployment: &str, month: u32) -> Option<CostBand> {
    let row = t.row(point, deployment)?;
    match month {
        12 => row.cost[0],
        24 => row.cost[1],
        36 => row.cost[2],
        m if Some(m) == t.horizon_months => row.cost[3],
        _ => None,
    }
}

/// The grid point at x index `i` and y index `j` (the second axis; 0 without one).
pub fn point_at(t: &SweepTable, i: usize, j: usize) -> usize {
    let ny = t.axes.get(1).map_or(1, |a| a.values.len());
    i * ny + j
}

/// The y index the report's sentence and the cost chart use: the scenario's own value of the
/// second axis (or the nearest swept value), else the middle one.
pub fn reference_row(t: &SweepTable) -> usize {
    let Some(y) = t.axes.get(1) else { return 0 };
    match y.base {
        Some(b) => (0..y.values.len())
            .min_by(|&a, &c| (y.values[a] - b).abs().total_cmp(&(y.values[c] - b).abs()))
            .unwrap_or(0),
        None => y.values.len() / 2,
    }
}

/// Where along the first axis the local option starts (or stops) paying off within `month`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossing {
    /// Fractional x index (for drawing) and the interpolated value of the swept key.
    pub index: f64,
    pub value: f64,
    /// `true`: local pays off above `value`; `false`: below it.
    pub above: bool,
}

/// The crossings along the first axis in y row `j`, for the (local, cloud) pair at `month`.
pub fn crossings(
    t: &SweepTable,
    (local, cloud): (&str, &str),
    month: u32,
    j: usize,
) -> Vec<Crossing> {
    let Some(x) = t.axes.first() else { return Vec::new() };
    let diff = |i: usize| -> Option<f64> {
        let p = point_at(t, i, j);
        Some(cost_at(t, p, local, month)?.mean - cost_at(t, p, cloud, month)?.mean)
    };
    let mut out = Vec::new();
    for i in 0..x.values.len().saturating_sub(1) {
        let (Some(a), Some(b)) = (diff(i), diff(i + 1)) else { continue };
        if (a > 0.0) == (b > 0.0) {
            continue;
        }
        let f = a / (a - b);
        out.push(Crossing {
            index: i as f64 + f,
            value: x.values[i] + f * (x.values[i + 1] - x.values[i]),
            above: b <= 0.0,
        });
    }
    out
}

/// The option with the lowest mean cumulative cost at the horizon's end at `point`, and
/// whether the answer is uncertain: its p95 reaches above another option's p5.
pub fn cheapest(t: &SweepTable, point: usize) -> Option<(usize, bool)> {
    let costs: Vec<(usize, CostBand)> = t
        .deployments
        .iter()
        .enumerate()
        .filter_map(|(k, (name, _))| Some((k, t.end_cost(point, name)?)))
        .collect();
    let (k, best) = costs.iter().min_by(|a, b| a.1.mean.total_cmp(&b.1.mean))?;
    let uncertain = costs.iter().any(|(o, c)| o != k && best.p95 >= c.p5);
    Some((*k, uncertain))
}

/// How a value of the swept key reads in a sentence.
pub fn value_text(path: &str, v: f64) -> String {
    let n = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if path.ends_with("rate_per_s") {
        format!("{n} requests/s")
    } else if path.contains("usd_per_mtok") {
        format!("${n} per million tokens")
    } else if path.ends_with("_usd") || path.contains(".usd_per") {
        if v.abs() >= 100.0 { usd(v) } else { format!("${n}") }
    } else {
        format!("{path} = {n}")
    }
}

/// The sentences a lead would say about the sweep: where local pays off, at the reference row.
pub fn lead_sentences(t: &SweepTable) -> Vec<String> {
    let (Some(h), Some((local, cloud)), Some(x)) = (t.horizon_months, t.pair(), t.axes.first())
    else {
        return Vec::new();
    };
    let j = reference_row(t);
    let at = match t.axes.get(1) {
        Some(y) => format!(
            " with {} = {}{}",
            y.path,
            lcsim_core::check::num(y.values[j]),
            if y.base.is_some_and(|b| b == y.values[j]) { " (the scenario's value)" } else { "" }
        ),
        None => " with the scenario's other inputs".to_string(),
    };
    let mut out = Vec::new();
    for m in marks(h) {
        let c = crossings(t, (&local, &cloud), m, j);
        let first = point_at(t, 0, j);
        let last = point_at(t, x.values.len() - 1, j);
        let pays = |p: usize| -> Option<bool> {
            Some(cost_at(t, p, &local, m)?.mean <= cost_at(t, p, &cloud, m)?.mean)
        };
        let sentence = match c.as_slice() {
            [c] => format!(
                "`{local}` pays off against `{cloud}` within {m} months {} {} ({}){at}.",
                if c.above { "above" } else { "below" },
                value_text(&x.path, c.value),
                x.path
            ),
            [] => match (pays(first), pays(last)) {
                (Some(true), Some(true)) => format!(
                    "`{local}` pays off against `{cloud}` within {m} months everywhere in the swept range of {} ({} to {}){at}.",
                    x.path,
                    lcsim_core::check::num(x.values[0]),
                    lcsim_core::check::num(x.values[x.values.len() - 1])
                ),
                (Some(false), Some(false)) => format!(
                    "`{local}` does not pay off against `{cloud}` within {m} months anywhere in the swept range of {} ({} to {}){at}.",
                    x.path,
                    lcsim_core::check::num(x.values[0]),
                    lcsim_core::check::num(x.values[x.values.len() - 1])
                ),
                _ => continue,
            },
            many => format!(
                "`{local}` against `{cloud}` within {m} months changes sign {} times along {}: at {}{at}.",
                many.len(),
                x.path,
                many.iter().map(|c| value_text(&x.path, c.value)).collect::<Vec<_>>().join(", ")
            ),
        };
        out.push(sentence);
    }
    out
}

/// Writes `break_even.csv` into `dir` where the sweep has a horizon and a (local, cloud) pair
/// with costs: for each value of the second axis and each month mark, the value of the first
/// axis above (or below) which the local option pays off.
pub fn write_break_even(dir: &Path, table: &SweepTable) -> Result<(), ReportError> {
    if let Some(mut lines) = break_even_lines(table)? {
        CsvWriter::new(create(&dir.join("break_even.csv"))?)
            .include_header(true)
            .finish(&mut lines)?;
    }
    Ok(())
}

/// The break-even map's lines: for each value of the second axis (if any) and each month
/// mark, where along the first axis the local option starts (or stops) paying off.
fn break_even_lines(t: &SweepTable) -> Result<Option<DataFrame>, ReportError> {
    let (Some(h), Some((local, cloud)), Some(x)) = (t.horizon_months, t.pair(), t.axes.first())
    else {
        return Ok(None);
    };
    let ny = t.axes.get(1).map_or(1, |a| a.values.len());
    let (mut ys, mut months, mut values, mut side) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for j in 0..ny {
        for m in marks(h) {
            for c in crossings(t, (&local, &cloud), m, j) {
                ys.push(t.axes.get(1).map(|a| a.values[j]));
                months.push(m);
                values.push(c.value);
                side.push(if c.above { "above" } else { "below" });
            }
        }
    }
    let mut columns = Vec::new();
    if let Some(y) = t.axes.get(1) {
        columns.push(Column::new(y.path.as_str().into(), ys));
    }
    columns.push(Column::new("months".into(), months));
    columns.push(Column::new(x.path.as_str().into(), values));
    columns.push(Column::new("local_pays_off".into(), side));
    columns.push(Column::new("local".into(), vec![local.as_str(); columns[0].len()]));
    columns.push(Column::new("cloud".into(), vec![cloud.as_str(); columns[0].len()]));
    Ok(Some(DataFrame::new(columns[0].len(), columns)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::{SweepAxis, SweepRow};

    fn table(diffs: &[f64]) -> SweepTable {
        let values: Vec<f64> = (0..diffs.len()).map(|i| i as f64).collect();
        let mut rows = Vec::new();
        for (i, d) in diffs.iter().enumerate() {
            for (name, kind, cost) in [("box", "local", 100.0 + d), ("api", "cloud", 100.0)] {
                let band = Some(CostBand { mean: cost, p5: cost - 1.0, p95: cost + 1.0 });
                rows.push(SweepRow {
                    point: i,
                    values: vec![values[i]],
                    deployment: name.into(),
                    kind,
                    cost: [band, None, None, band],
                    break_even: Vec::new(),
                    latency_p50_ms: 1.0,
                    latency_p95_ms: 1.0,
                    ttft_p95_ms: 1.0,
                    tpot_p95_ms: None,
                    availability: 1.0,
                    slo_attainment: None,
                    utilization: None,
                    requests: 1.0,
                });
            }
        }
        SweepTable {
            scenario: "t".into(),
            axes: vec![SweepAxis {
                path: "traffic.rate_per_s".into(),
                values,
                log: false,
                base: None,
            }],
            horizon_months: Some(12),
            slo_latency_p95_ms: None,
            deployments: vec![("box".into(), "local"), ("api".into(), "cloud")],
            rows,
        }
    }

    #[test]
    fn the_crossing_is_interpolated_between_the_points_that_bracket_it() {
        let t = table(&[30.0, 10.0, -10.0, -30.0]);
        let c = crossings(&t, ("box", "api"), 12, 0);
        assert_eq!(c.len(), 1);
        assert!((c[0].value - 1.5).abs() < 1e-12 && c[0].above);
        let s = lead_sentences(&t);
        assert!(s[0].contains("above 1.50 requests/s"), "{s:?}");
    }

    #[test]
    fn cheapest_marks_overlapping_bands_uncertain() {
        let t = table(&[30.0, 1.0, -30.0]);
        assert_eq!(cheapest(&t, 0), Some((1, false)));
        assert_eq!(cheapest(&t, 1), Some((1, true)));
        assert_eq!(cheapest(&t, 2), Some((0, false)));
    }
}
