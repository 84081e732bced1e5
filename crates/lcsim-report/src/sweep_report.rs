//! `report.md` and `report.html` of a sweep: what was swept, the answer in a lead's words, a
//! table of the costs at every point, and the charts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use lcsim_core::check::num;

use crate::ReportError;
use crate::planning::{cheapest, lead_sentences, point_at};
use crate::report::{duration, usd};
use crate::sweep::SweepTable;
use crate::sweep_charts;

/// Facts about the run that the table does not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRun {
    pub seed: u64,
    pub replications: u32,
    pub wall_seconds: f64,
}

/// The report's Markdown.
pub fn markdown(t: &SweepTable, run: &SweepRun) -> String {
    let mut md = String::new();
    let n = t.points();
    let _ = writeln!(md, "# {} — sweep\n", t.scenario);
    let _ = writeln!(
        md,
        "{n} points × {} replication(s), seed {}, common random numbers (every point sees the same arrival streams, so differences between points are paired); {:.1} s.\n",
        run.replications, run.seed, run.wall_seconds
    );
    for a in &t.axes {
        let values: Vec<String> = a.values.iter().map(|v| num(*v)).collect();
        let _ = writeln!(
            md,
            "- `{}`: {}{}{}",
            a.path,
            values.join(", "),
            if a.log { " (log-spaced)" } else { "" },
            a.base.map_or(String::new(), |b| format!("; the scenario has {}", num(b)))
        );
    }
    let _ = writeln!(md, "\n## Answer\n");
    let lead = lead_sentences(t);
    for s in &lead {
        let _ = writeln!(md, "- {s}");
    }
    if let Some(h) = t.horizon_months {
        let mut wins = vec![0usize; t.deployments.len()];
        let mut uncertain = 0;
        for p in 0..n {
            if let Some((k, u)) = cheapest(t, p) {
                wins[k] += 1;
                uncertain += usize::from(u);
            }
        }
        let parts: Vec<String> = t
            .deployments
            .iter()
            .zip(&wins)
            .filter(|(_, w)| **w > 0)
            .map(|((name, _), w)| format!("`{name}` at {w} of {n} points"))
            .collect();
        if !parts.is_empty() {
            let _ = writeln!(
                md,
                "- Cheapest by mean cumulative cost at month {h}: {}; at {uncertain} point(s) the cheapest option's p95 reaches another's p5, so the order there is uncertain.",
                parts.join(", ")
            );
        }
    } else {
        let _ = writeln!(
            md,
            "- The scenario has no `horizon_months`, so the sweep compares latency and availability only."
        );
    }
    let _ = writeln!(md, "\n## Points\n");
    let mut header: Vec<String> = t.axes.iter().map(|a| format!("`{}`", a.path)).collect();
    for (name, _) in &t.deployments {
        if t.horizon_months.is_some() {
            header.push(format!(
                "{name}: cost to month {} (mean [p5, p95])",
                t.horizon_months.unwrap_or(0)
            ));
        }
        header.push(format!("{name}: p95 latency"));
    }
    let _ = writeln!(md, "| {} |", header.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
    let ny = t.axes.get(1).map_or(1, |a| a.values.len());
    let nx = t.axes.first().map_or(1, |a| a.values.len());
    for i in 0..nx {
        for j in 0..ny {
            let p = point_at(t, i, j);
            let Some(first) = t.rows.iter().find(|r| r.point == p) else { continue };
            let mut cells: Vec<String> = first.values.iter().map(|v| num(*v)).collect();
            for (name, _) in &t.deployments {
                let row = t.row(p, name);
                if t.horizon_months.is_some() {
                    cells.push(row.and_then(|r| r.cost[3]).map_or("—".into(), |c| {
                        format!("{} [{}, {}]", usd(c.mean), usd(c.p5), usd(c.p95))
                    }));
                }
                cells.push(row.map_or("—".into(), |r| duration(r.latency_p95_ms)));
            }
            let _ = writeln!(md, "| {} |", cells.join(" | "));
        }
    }
    let charts = sweep_charts::available(t);
    if !charts.is_empty() {
        let _ = writeln!(md, "\n## Charts\n");
        for (name, title) in charts {
            let _ = writeln!(md, "### {title}\n\n![{title}](plots/{name}.png)\n");
        }
    }
    let _ = writeln!(
        md,
        "Every row, with break-even months and TTFT/TPOT: `sweep.csv` / `sweep.parquet`."
    );
    md
}

/// Renders the charts and writes the report; returns the files written.
pub fn write(dir: &Path, t: &SweepTable, run: &SweepRun) -> Result<Vec<PathBuf>, ReportError> {
    let mut files = sweep_charts::render_sweep(dir, t)?;
    files.extend(crate::page::write(dir, &format!("{} — sweep", t.scenario), &markdown(t, run))?);
    Ok(files)
}
