//! Writing a run's folder (atomically) and printing its summary.

use std::path::Path;

use lcsim_core::summary::{Moments, RunSummary};
use lcsim_engine::RunOutput;
use lcsim_report::report::usd;

use crate::error::CliError;
use crate::outdir::Staging;

/// Writes the run folder through a [`Staging`] folder, so `staging`'s destination is never
/// half-written.
pub fn write_run_folder(
    staging: Staging,
    output: &RunOutput,
    scenario_text: &str,
    plots: bool,
) -> Result<(), CliError> {
    let tmp = staging.path();
    let write = || -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(&output.summary)?;
        std::fs::write(tmp.join("summary.json"), json + "\n")?;
        std::fs::write(tmp.join("scenario.toml"), scenario_text)?;
        if let Some(h) = &output.horizon {
            lcsim_report::write_monthly(tmp, &h.monthly)?;
        }
        if plots {
            // Drawn from the files just written, as `lcsim plot` would.
            lcsim_report::render(tmp)?;
        }
        Ok(())
    };
    write()?;
    staging.commit()
}

/// Milliseconds with 3 significant digits or more.
fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn mean_ci(m: &Moments) -> String {
    match m.mean_ci95 {
        Some([lo, hi]) => format!("{} [{}, {}]", ms(m.mean), ms(lo), ms(hi)),
        None => ms(m.mean),
    }
}

pub fn print_summary(s: &RunSummary, dir: &Path, plots: bool) {
    let length = match s.horizon_months {
        Some(m) => format!("{m} months ({} h simulated)", s.duration_hours),
        None => format!("{} h (warm-up {} h)", s.duration_hours, s.warmup_hours),
    };
    say!(
        "{} — {} replication(s) × {length}, seed {}: {} requests simulated in {:.2} s",
        s.scenario,
        s.replications,
        s.seed,
        s.requests_simulated,
        s.wall_seconds
    );
    say!();
    let header = [
        "deployment",
        "kind",
        "util",
        "available",
        "wait mean [95% CI] ms",
        "latency mean [95% CI] ms",
        "p50",
        "p95",
        "p99",
        "ttft p95",
        "tpot p95",
    ];
    let rows: Vec<[String; 11]> = s
        .deployments
        .iter()
        .map(|d| {
            [
                d.name.clone(),
                d.kind.to_string(),
                d.utilization.map_or_else(
                    || format!("{:.1} busy", d.mean_concurrency),
                    |u| format!("{u:.3}"),
                ),
                format!("{:.3}%", 100.0 * d.availability.mean),
                mean_ci(&d.wait_ms),
                mean_ci(&d.latency_ms),
                ms(d.latency_ms.p50),
                ms(d.latency_ms.p95),
                ms(d.latency_ms.p99),
                ms(d.ttft_ms.p95),
                d.tpot_ms.map_or_else(|| "-".to_string(), |t| ms(t.p95)),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        say!("{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
    print_reliability(s);
    if let Some(months) = s.horizon_months {
        print_costs(s, months);
    }
    say!();
    let mut files = String::from("summary.json, scenario.toml");
    if s.horizon_months.is_some() {
        files.push_str(", monthly.parquet, monthly.csv");
    }
    if plots {
        files.push_str(", plots/, report.md, report.html");
    }
    say!("written: {} ({files})", dir.display());
}

/// Errors, downtime, SLO attainment, hybrid routes and autoscaling, where there are any.
fn print_reliability(s: &RunSummary) {
    let mut lines = Vec::new();
    for d in &s.deployments {
        let mut parts = Vec::new();
        let e = &d.errors;
        let kinds = [
            ("queue full", e.queue_full),
            ("unavailable", e.unavailable),
            ("timed out", e.timed_out),
            ("rate-limited", e.rate_limited),
            ("too large for the KV cache", e.too_large),
        ];
        let errors: Vec<String> =
            kinds.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{n} {k}")).collect();
        if !errors.is_empty() {
            parts.push(format!("errors: {}", errors.join(", ")));
        }
        if let Some(p) = d.preemptions.filter(|p| *p > 0) {
            parts.push(format!("{p} preemptions for KV-cache room"));
        }
        if e.retries > 0 {
            parts.push(format!("{} retries after 429", e.retries));
        }
        if d.downtime_minutes > 0.0 {
            parts.push(format!("down {:.1} min per replication", d.downtime_minutes));
        }
        if let Some(slo) = &d.slo {
            parts.push(format!("SLO met in {:.1}% of periods", 100.0 * slo.attainment));
        }
        if let Some(routes) = &d.routes {
            let r: Vec<String> =
                routes.iter().map(|(k, v)| format!("{k} {:.1}%", 100.0 * v)).collect();
            parts.push(format!("served by {}", r.join(", ")));
        }
        if let Some(a) = &d.autoscaling {
            parts.push(format!(
                "{:.2} instances on average, {:.2}% of requests waited for a cold start",
                a.mean_instances,
                100.0 * a.cold_start_share
            ));
        }
        if !parts.is_empty() {
            lines.push(format!("  {:<16} {}", d.name, parts.join("; ")));
        }
    }
    if !lines.is_empty() {
        say!();
        say!("reliability and routing:");
        for l in lines {
            say!("{l}");
        }
    }
}

/// Cumulative cash cost at a few horizons, and break-even months.
fn print_costs(s: &RunSummary, months: u32) {
    let marks: Vec<u32> =
        [12, 24, 36].into_iter().filter(|&m| m < months).chain([months]).collect();
    say!();
    say!("cumulative cost, cash basis: mean [p5, p95] across replications");
    for d in &s.deployments {
        let Some(cost) = &d.cost_usd else { continue };
        let cells: Vec<String> = marks
            .iter()
            .map(|&m| {
                let b = cost.cumulative[m as usize - 1];
                format!("month {m}: {} [{}, {}]", usd(b.mean), usd(b.p5), usd(b.p95))
            })
            .collect();
        say!("  {:<16} {}", d.name, cells.join("   "));
    }
    for b in s.break_even.iter().flatten() {
        match b.month {
            Some(m) => say!(
                "break-even {} vs {}: month {:.1} (p5 {:.1}, p95 {:.1}); never within {months} months in {:.0}% of replications",
                b.local,
                b.cloud,
                m.p50,
                m.p5,
                m.p95,
                100.0 * b.never_fraction
            ),
            None => say!("break-even {} vs {}: never within {months} months", b.local, b.cloud),
        }
    }
}
