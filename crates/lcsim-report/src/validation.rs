//! The report of `lcsim validate`: per load level, measured against simulated CDFs of TTFT,
//! TPOT and end-to-end latency (`plots/validation_<level>.png` and `.svg`), and
//! `report.md`/`report.html` with the error table and the verdict.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use lcsim_core::validation::{TARGET_P50, TARGET_P99, ValidationReport};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::ReportError;
use crate::charts::{Drawn, PALETTE, SIZE, axis_style, label_style, legend, title_style};
use crate::report::escape;

/// The metrics compared, with their titles.
pub const METRICS: [(&str, &str); 3] = [
    ("ttft_ms", "Time to first token"),
    ("tpot_ms", "Time per output token"),
    ("e2e_ms", "End to end"),
];

/// One level's per-request values: `measured[m]` and `simulated[m]` for each metric of
/// [`METRICS`], in milliseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelSamples {
    pub measured: [Vec<f64>; 3],
    pub simulated: [Vec<f64>; 3],
}

fn stem(utilization: f64) -> String {
    format!("validation_{:02.0}", utilization * 100.0)
}

fn cdf_points(values: &[f64]) -> Vec<(f64, f64)> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    v.iter().enumerate().flat_map(|(i, &x)| [(x, i as f64 / n), (x, (i + 1) as f64 / n)]).collect()
}

fn level_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    utilization: f64,
    samples: &LevelSamples,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(70);
    title.titled(
        &format!("Measured against simulated at {:.0} % load", utilization * 100.0),
        title_style(),
    )?;
    for (m, panel) in body.split_evenly((1, 3)).iter().enumerate() {
        let (measured, simulated) = (&samples.measured[m], &samples.simulated[m]);
        let max = measured.iter().chain(simulated).copied().fold(0.0, f64::max);
        let (unit, scale) = if max >= 10_000.0 { ("s", 1000.0) } else { ("ms", 1.0) };
        let mut chart = ChartBuilder::on(panel)
            .caption(METRICS[m].1, axis_style())
            .margin(16)
            .x_label_area_size(70)
            .y_label_area_size(100)
            .build_cartesian_2d(0.0..(max.max(1e-9) * 1.05 / scale), 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_labels(5)
            .x_desc(format!("{} ({unit})", METRICS[m].1))
            .y_desc("share of requests")
            .label_style(label_style())
            .axis_desc_style(axis_style())
            .draw()?;
        for (values, name, color) in
            [(measured, "measured", PALETTE[0]), (simulated, "simulated", PALETTE[1])]
        {
            let points: Vec<(f64, f64)> =
                cdf_points(values).into_iter().map(|(x, y)| (x / scale, y)).collect();
            chart.draw_series(LineSeries::new(points, color.stroke_width(3)))?.label(name).legend(
                move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], color.stroke_width(3)),
            );
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    }
    root.present()?;
    Ok(())
}

/// The error table as Markdown rows.
fn table(report: &ValidationReport) -> String {
    let mut s = String::from(
        "| load | requests | metric | p50 measured | p50 simulated | p50 error | p90 error | p99 measured | p99 simulated | p99 error | server vs itself p50 / p99 |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for l in &report.levels {
        for (m, title) in METRICS {
            let Some(c) = l.metrics.get(m) else { continue };
            let (p50, p90, p99) = (&c["p50"], &c["p90"], &c["p99"]);
            let noise = l.repeat.as_ref().and_then(|r| r.get(m)).map_or("–".to_string(), |r| {
                format!(
                    "{:+.1} % / {:+.1} %",
                    r["p50"].rel_error * 100.0,
                    r["p99"].rel_error * 100.0
                )
            });
            let _ = writeln!(
                s,
                "| {:.0} % | {}/{} | {title} | {:.1} ms | {:.1} ms | {:+.1} % | {:+.1} % | {:.1} ms | {:.1} ms | {:+.1} % | {noise} |",
                l.utilization * 100.0,
                l.completed,
                l.requests,
                p50.measured,
                p50.simulated,
                p50.rel_error * 100.0,
                p90.rel_error * 100.0,
                p99.measured,
                p99.simulated,
                p99.rel_error * 100.0,
            );
        }
    }
    s
}

fn markdown(report: &ValidationReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Simulated against measured: {}\n", report.url);
    let _ = writeln!(s, "**{}**\n", report.verdict);
    let _ = writeln!(
        s,
        "Measured {} with lcsim {}. The server has {} slots and a KV cache of {} tokens; the step model comes from `{}`. Token lengths of the Azure LLM conversation trace were scaled by {:.3} to fit the server's context. Target: |error| ≤ {:.0} % at p50 and ≤ {:.0} % at p99, for TTFT and E2E.\n",
        report.date,
        report.lcsim_version,
        report.slots,
        report.kv_cache_tokens,
        report.profile,
        report.token_scale,
        TARGET_P50 * 100.0,
        TARGET_P99 * 100.0
    );
    let c = &report.client;
    let _ = writeln!(
        s,
        "Client overhead: an HTTP round trip with no model work takes {:.2} ms (median); requests left {:.2} ms late at the median and {:.2} ms at p99 ({:.2} ms at most) against their Poisson schedule. The simulation replays the actual send times.\n",
        c.http_rtt_ms, c.send_lateness_p50_ms, c.send_lateness_p99_ms, c.send_lateness_max_ms
    );
    let _ = writeln!(
        s,
        "## Errors\n\n`error` = (simulated − measured) / measured. With `--repeat`, the last column is the same requests sent again at the same times, against the first pass: how much the server differs from itself.\n"
    );
    s.push_str(&table(report));
    let _ = writeln!(s, "\n## Levels\n");
    for l in &report.levels {
        let _ = writeln!(
            s,
            "- {:.0} % load: {:.3} requests/s, {} sent, {} completed, {} failed{}, {:.1} s; mean prompt {:.0} and output {:.0} tokens.",
            l.utilization * 100.0,
            l.rate_per_s,
            l.requests,
            l.completed,
            l.errors.total(),
            if l.capped { " (stopped at the time cap)" } else { "" },
            l.wall_s,
            l.mean_prompt_tokens,
            l.mean_output_tokens
        );
    }
    let _ = writeln!(s, "\n## Charts\n");
    for l in &report.levels {
        let name = stem(l.utilization);
        let _ = writeln!(s, "![{:.0} % load](plots/{name}.png)\n", l.utilization * 100.0);
    }
    s
}

fn html(report: &ValidationReport, dir: &Path) -> Result<String, ReportError> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lcsim validation</title>\n<style>body{{font-family:'DejaVu Sans',Verdana,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}th,td{{border:1px solid #bbb;padding:.35em .6em;text-align:left}}th{{background:#eef}}img{{max-width:100%;border:1px solid #ddd}}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>Simulated against measured: {}</h1>", escape(&report.url));
    let _ = writeln!(h, "<p><strong>{}</strong></p>", escape(&report.verdict));
    let _ = writeln!(
        h,
        "<table><tr><th>load</th><th>requests</th><th>metric</th><th>p50 measured</th><th>p50 simulated</th><th>p50 error</th><th>p90 error</th><th>p99 measured</th><th>p99 simulated</th><th>p99 error</th><th>server vs itself p50 / p99</th></tr>"
    );
    for line in table(report).lines().skip(2) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let _ = write!(h, "<tr>");
        for c in cells {
            let _ = write!(h, "<td>{}</td>", escape(c));
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</table>");
    for l in &report.levels {
        let path = dir.join("plots").join(format!("{}.png", stem(l.utilization)));
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        let _ = writeln!(
            h,
            "<h2>{:.0} % load</h2><img alt=\"CDFs at {:.0} % load\" src=\"data:image/png;base64,{encoded}\">",
            l.utilization * 100.0,
            l.utilization * 100.0
        );
    }
    let _ = writeln!(h, "</body></html>");
    Ok(h)
}

/// Writes the CDF charts (levels with samples), `report.md` and `report.html` into `dir`.
pub fn write(
    dir: &Path,
    report: &ValidationReport,
    samples: &[LevelSamples],
) -> Result<Vec<PathBuf>, ReportError> {
    let plots = crate::charts::plots_dir(dir)?;
    let mut out = Vec::new();
    for (l, s) in report.levels.iter().zip(samples) {
        if s.measured.iter().any(Vec::is_empty) || s.simulated.iter().any(Vec::is_empty) {
            continue;
        }
        let png = plots.join(format!("{}.png", stem(l.utilization)));
        let svg = plots.join(format!("{}.svg", stem(l.utilization)));
        let fail = |path: &Path, e: Box<dyn std::error::Error>| ReportError::Chart {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        level_chart(&BitMapBackend::new(&png, SIZE).into_drawing_area(), l.utilization, s)
            .map_err(|e| fail(&png, e))?;
        level_chart(&SVGBackend::new(&svg, SIZE).into_drawing_area(), l.utilization, s)
            .map_err(|e| fail(&svg, e))?;
        out.push(png);
        out.push(svg);
    }
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ReportError::Io { path, source }
    };
    let md = dir.join("report.md");
    std::fs::write(&md, markdown(report)).map_err(io(&md))?;
    let page = dir.join("report.html");
    std::fs::write(&page, html(report, dir)?).map_err(io(&page))?;
    out.push(md);
    out.push(page);
    Ok(out)
}
