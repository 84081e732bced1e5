//! Charts for a planning meeting, drawn with plotters into `plots/` as PNG (1600×900, for
//! slides) and SVG: cumulative TCO with p5–p95 bands and break-even, the monthly cost by
//! component, latency percentiles against the SLO, availability and SLO attainment by month,
//! and the routes hybrids took.
//!
//! Text is set in DejaVu Sans, compiled into the binary (`fonts/`, with its licence), so
//! charts render the same on a machine with no fonts installed. Colours are the Okabe–Ito
//! palette, distinguishable with the common forms of colour blindness.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::ReportError;
use crate::data::{COMPONENTS, RunData};

pub const SIZE: (u32, u32) = (1600, 900);

/// Okabe & Ito (2008), "Color Universal Design", grey added, then two of Paul Tol's
/// colour-blind-safe "muted" colours for the 10th and 11th series.
pub const PALETTE: [RGBColor; 11] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(240, 228, 66),  // yellow
    RGBColor(120, 120, 120), // grey
    RGBColor(0, 0, 0),       // black
    RGBColor(136, 34, 85),   // wine (Tol)
    RGBColor(68, 170, 153),  // teal (Tol)
];

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font, checked by the tests that render every chart.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

pub(crate) type Drawn = Result<(), Box<dyn Error>>;

pub(crate) fn title_style() -> TextStyle<'static> {
    (FONT, 40).into_font().into()
}

pub(crate) fn label_style() -> TextStyle<'static> {
    (FONT, 24).into_font().into()
}

pub(crate) fn axis_style() -> TextStyle<'static> {
    (FONT, 28).into_font().into()
}

/// Dollars for an axis label: "$1.8k", "$7k", "$1.2M".
pub(crate) fn usd(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 1e6 {
        format!("${:.1}M", a / 1e6)
    } else if a >= 1e4 {
        format!("${:.0}k", a / 1e3)
    } else if a >= 1e3 {
        format!("${:.1}k", a / 1e3)
    } else {
        format!("${a:.0}")
    };
    if v < 0.0 { format!("-{s}") } else { s }
}

/// A legend key: a filled square of `color`.
fn swatch(color: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 8), (x + 20, y + 8)], color.filled())
}

/// The series legend, boxed, at `at`.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    at: SeriesLabelPosition,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(label_style())
        .draw()?;
    Ok(())
}

/// The category name at an integer axis position (one bar group per name), blank between.
fn name_at(names: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() < 1e-6 && i >= 0.0 {
        names.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// Decimals that keep about ten tick labels over `range` distinct (a step of range / 10).
fn label_digits(range: f64) -> usize {
    let step = (range / 10.0).max(1e-9);
    (-step.log10().floor()).clamp(0.0, 6.0) as usize + 1
}

fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) { 1.0 } else { v * 1.08 }
}

/// Cumulative cash cost per deployment, mean line and p5–p95 band, with break-even months.
fn tco<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let months = data.horizon_months.unwrap_or(1) as f64;
    let with_cost: Vec<_> = data.deployments.iter().filter(|d| !d.cumulative.is_empty()).collect();
    let max = with_cost.iter().flat_map(|d| d.cumulative.iter().map(|c| c.3)).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: cumulative cost of ownership (cash basis, p5–p95 band)", data.scenario),
            title_style(),
        )
        .margin(24)
        .x_label_area_size(70)
        .y_label_area_size(120)
        .build_cartesian_2d(0.0..months, 0.0..nice_max(max))?;
    chart
        .configure_mesh()
        .x_desc("Month")
        .y_desc("Cumulative cost (USD)")
        .label_style(label_style())
        .axis_desc_style(axis_style())
        .y_label_formatter(&|v| usd(*v))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    for (i, d) in with_cost.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let start = std::iter::once((0.0, 0.0));
        let upper = start.clone().chain(d.cumulative.iter().map(|c| (f64::from(c.0), c.3)));
        let lower: Vec<(f64, f64)> =
            start.chain(d.cumulative.iter().map(|c| (f64::from(c.0), c.2))).collect();
        let band: Vec<(f64, f64)> = upper.chain(lower.into_iter().rev()).collect();
        chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.18))))?;
        let mean: Vec<(f64, f64)> = std::iter::once((0.0, 0.0))
            .chain(d.cumulative.iter().map(|c| (f64::from(c.0), c.1)))
            .collect();
        // Hybrids dashed: they often run on top of their local member's line.
        let style = color.stroke_width(4);
        let series = if d.kind == "hybrid" {
            chart.draw_series(DashedLineSeries::new(mean, 16, 10, style))?
        } else {
            chart.draw_series(LineSeries::new(mean, style))?
        };
        series.label(format!("{} ({})", d.name, d.kind)).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(4))
        });
    }
    // Break-even months: dashed verticals, named in the legend (a label on the plot would sit
    // on the lines).
    for b in &data.break_even {
        let Some((p50, p5, p95)) = b.month else { continue };
        let top = nice_max(max);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(p50, 0.0), (p50, top)],
                10,
                8,
                BLACK.stroke_width(2),
            ))?
            .label(format!(
                "break-even {} vs {}: month {p50:.1} (p5 {p5:.1}, p95 {p95:.1})",
                b.local, b.cloud
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}

/// Stacked monthly cost by component, one panel per deployment with a cost model.
fn cost_breakdown<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let names: Vec<&str> = data
        .deployments
        .iter()
        .filter(|d| !d.cumulative.is_empty())
        .map(|d| d.name.as_str())
        .collect();
    let (head, body) = root.split_vertically(120);
    head.draw_text(
        &format!(
            "{}: monthly cost by component (cash basis, mean of replications; one scale)",
            data.scenario
        ),
        &title_style(),
        (24, 14),
    )?;
    // One legend for every panel, above them, so it covers no bar.
    let used: Vec<usize> = (0..COMPONENTS.len())
        .filter(|&c| names.iter().any(|n| data.months_of(n).any(|m| m.components[c] != 0.0)))
        .collect();
    let mut x = 24;
    for &c in &used {
        let color = PALETTE[c % PALETTE.len()];
        head.draw(&Rectangle::new([(x, 76), (x + 22, 98)], color.filled()))?;
        let label = COMPONENTS[c].1;
        head.draw_text(label, &label_style(), (x + 30, 74))?;
        x += 30 + 14 * label.chars().count() as i32 + 30;
    }
    let cols = if names.len() <= 2 { names.len().max(1) } else { names.len().div_ceil(2) };
    let rows = names.len().div_ceil(cols).max(1);
    let panels = body.split_evenly((rows, cols));
    let months = data.horizon_months.unwrap_or(1);
    // The same y scale in every panel: side by side, bars compare by height.
    let max = names
        .iter()
        .flat_map(|n| data.months_of(n).map(|m| m.components.iter().sum::<f64>()))
        .fold(0.0, f64::max);
    for (panel, name) in panels.iter().zip(&names) {
        let rows: Vec<_> = data.months_of(name).collect();
        let mut chart = ChartBuilder::on(panel)
            .caption(*name, axis_style())
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(100)
            .build_cartesian_2d(0.5..f64::from(months) + 0.5, 0.0..nice_max(max))?;
        chart
            .configure_mesh()
            .x_desc("Month")
            .y_desc("USD per month")
            .label_style(label_style())
            .axis_desc_style(label_style())
            .y_label_formatter(&|v| usd(*v))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        for &c in &used {
            if rows.iter().all(|m| m.components[c] == 0.0) {
                continue;
            }
            let color = PALETTE[c % PALETTE.len()];
            let bars = rows.iter().map(|m| {
                let below: f64 = m.components[..c].iter().sum();
                let x = f64::from(m.month);
                Rectangle::new(
                    [(x - 0.4, below), (x + 0.4, below + m.components[c])],
                    color.filled(),
                )
            });
            chart.draw_series(bars)?;
        }
    }
    root.present()?;
    Ok(())
}

/// Three panels of p50 / p95 / p99 per deployment, each with its SLO's p95 target: end-to-end
/// latency, time to first token, and time per output token (deployments whose answers are not
/// streamed have no TPOT bars).
fn latency<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(70);
    title.titled(&format!("{}: latency of served requests", data.scenario), title_style())?;
    let panels = body.split_evenly((1, 3));
    let e2e: Vec<Option<[f64; 3]>> = data
        .deployments
        .iter()
        .map(|d| Some([d.latency_p50_ms, d.latency_p95_ms, d.latency_p99_ms]))
        .collect();
    let ttft: Vec<Option<[f64; 3]>> =
        data.deployments.iter().map(|d| Some(d.ttft_quantiles_ms)).collect();
    let tpot: Vec<Option<[f64; 3]>> =
        data.deployments.iter().map(|d| d.tpot_quantiles_ms).collect();
    quantile_panel(&panels[0], data, "End to end", &e2e, data.slo_latency_p95_ms)?;
    quantile_panel(&panels[1], data, "Time to first token", &ttft, data.slo_ttft_p95_ms)?;
    quantile_panel(&panels[2], data, "Time per output token", &tpot, data.slo_tpot_p95_ms)?;
    root.present()?;
    Ok(())
}

/// One panel: p50 / p95 / p99 bars per deployment (none where `values` is `None`), and a
/// dashed p95 target.
fn quantile_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &RunData,
    caption: &str,
    values: &[Option<[f64; 3]>],
    target: Option<f64>,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let n = data.deployments.len();
    let max = values.iter().flatten().map(|v| v[2]).chain(target).fold(0.0, f64::max);
    let seconds = max >= 10_000.0;
    let (unit, scale) = if seconds { ("s", 1000.0) } else { ("ms", 1.0) };
    let names: Vec<String> = data.deployments.iter().map(|d| d.name.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, axis_style())
        .margin(16)
        .x_label_area_size(70)
        .y_label_area_size(130)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..nice_max(max.max(1e-9) / scale))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.max(2))
        .x_label_formatter(&|v| name_at(&names, *v))
        .y_desc(format!("{caption} ({unit})"))
        .label_style(label_style())
        .axis_desc_style(axis_style())
        .draw()?;
    for (q, label) in ["p50", "p95", "p99"].iter().enumerate() {
        let color = PALETTE[q];
        let offset = (q as f64 - 1.0) * 0.26;
        let bars = values.iter().enumerate().filter_map(|(i, v)| {
            let v = (*v)?;
            let x = i as f64 + offset;
            Some(Rectangle::new([(x - 0.12, 0.0), (x + 0.12, v[q] / scale)], color.filled()))
        });
        chart.draw_series(bars)?.label(*label).legend(swatch(color));
    }
    if let Some(target) = target {
        let y = target / scale;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(-0.5, y), (n as f64 - 0.5, y)],
                12,
                8,
                PALETTE[5].stroke_width(3),
            ))?
            .label(format!(
                "SLO: p95 ≤ {} {unit}",
                if y >= 10.0 { format!("{y:.0}") } else { format!("{y:.2}") }
            ))
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 30, y)], PALETTE[5].stroke_width(3))
            });
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

/// Availability (share of requests served within the timeout) and SLO attainment: by month
/// for a horizon run, per deployment with its 95 % CI for a stationary run.
fn availability<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let target = data.slo_availability.map(|a| 100.0 * a);
    if data.horizon_months.is_none() {
        let n = data.deployments.len();
        let low = data
            .deployments
            .iter()
            .map(|d| 100.0 * d.availability_ci95.map_or(d.availability, |c| c[0]))
            .chain(target)
            .fold(100.0, f64::min);
        // At least 0.1 percentage points of range, so the axis' labels stay distinct.
        let floor = (low - (100.0 - low).max(0.1) * 0.5).max(0.0);
        let digits = label_digits(100.0 - floor);
        let names: Vec<String> = data.deployments.iter().map(|d| d.name.clone()).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "{}: availability (share served within the timeout, 95 % CI)",
                    data.scenario
                ),
                title_style(),
            )
            .margin(24)
            .x_label_area_size(70)
            .y_label_area_size(120)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, floor..100.0)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.max(2))
            .x_label_formatter(&|v| name_at(&names, *v))
            .y_desc("Availability (%)")
            .y_label_formatter(&|v| format!("{v:.digits$}"))
            .label_style(label_style())
            .axis_desc_style(axis_style())
            .draw()?;
        chart.draw_series(data.deployments.iter().enumerate().map(|(i, d)| {
            let x = i as f64;
            Rectangle::new(
                [(x - 0.3, floor), (x + 0.3, 100.0 * d.availability)],
                PALETTE[i % PALETTE.len()].filled(),
            )
        }))?;
        chart.draw_series(data.deployments.iter().enumerate().filter_map(|(i, d)| {
            let [lo, hi] = d.availability_ci95?;
            Some(ErrorBar::new_vertical(
                i as f64,
                100.0 * lo,
                100.0 * d.availability,
                (100.0 * hi).min(100.0),
                BLACK.stroke_width(2),
                20,
            ))
        }))?;
        if let Some(t) = target {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(-0.5, t), (n as f64 - 0.5, t)],
                    12,
                    8,
                    PALETTE[5].stroke_width(3),
                ))?
                .label(format!("SLO: availability ≥ {t}%"))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 30, y)], PALETTE[5].stroke_width(3))
                });
            legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        root.present()?;
        return Ok(());
    }
    let months = f64::from(data.horizon_months.unwrap_or(1));
    let has_slo = data.months.iter().any(|m| m.slo_attainment.is_some());
    let (top, bottom) = if has_slo {
        root.split_vertically(root.dim_in_pixel().1 as i32 * 11 / 20)
    } else {
        (root.clone(), root.clone())
    };
    let low = data
        .months
        .iter()
        .map(|m| 100.0 * m.availability)
        .filter(|a| a.is_finite())
        .chain(target)
        .fold(100.0, f64::min);
    let floor = (low - (100.0 - low).max(0.1) * 0.3).max(0.0);
    let digits = label_digits(100.0 - floor);
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("{}: availability by month (share served within the timeout)", data.scenario),
            title_style(),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(120)
        .build_cartesian_2d(0.5..months + 0.5, floor..100.0)?;
    chart
        .configure_mesh()
        .x_desc("Month")
        .y_desc("Availability (%)")
        .y_label_formatter(&|v| format!("{v:.digits$}"))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style(label_style())
        .axis_desc_style(label_style())
        .draw()?;
    // Equal values draw on top of each other: earlier series are wider with larger markers,
    // so every one stays visible where they coincide (at 100 %, say).
    let n = data.deployments.len() as u32;
    let width = |i: usize| 3 + 3 * (n - 1 - i as u32);
    for (i, d) in data.deployments.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let w = width(i);
        let points: Vec<(f64, f64)> =
            data.months_of(&d.name).map(|m| (f64::from(m.month), 100.0 * m.availability)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(w)))?
            .label(d.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 30, y)], color.stroke_width(w))
            });
        chart.draw_series(
            points.into_iter().map(|p| Circle::new(p, 3 + 2 * w as i32 / 3, color.filled())),
        )?;
    }
    if let Some(t) = target {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.5, t), (months + 0.5, t)],
                12,
                8,
                BLACK.stroke_width(2),
            ))?
            .label(format!("SLO ≥ {t}%"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], BLACK.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
    if has_slo {
        let mut chart = ChartBuilder::on(&bottom)
            .caption("SLO attainment: share of replications meeting every target", axis_style())
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(120)
            .build_cartesian_2d(0.5..months + 0.5, 0.0..105.0)?;
        chart
            .configure_mesh()
            .x_desc("Month")
            .y_desc("Attainment (%)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style(label_style())
            .axis_desc_style(label_style())
            .draw()?;
        for (i, d) in data.deployments.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let points: Vec<(f64, f64)> = data
                .months_of(&d.name)
                .filter_map(|m| Some((f64::from(m.month), 100.0 * m.slo_attainment?)))
                .collect();
            chart.draw_series(LineSeries::new(points, color.stroke_width(width(i))))?;
        }
    }
    root.present()?;
    Ok(())
}

/// Share of served requests by route, one bar per hybrid deployment.
fn routes<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let hybrids: Vec<_> = data.deployments.iter().filter(|d| !d.routes.is_empty()).collect();
    let mut labels: Vec<String> = Vec::new();
    for h in &hybrids {
        for (r, _) in &h.routes {
            if !labels.contains(r) {
                labels.push(r.clone());
            }
        }
    }
    let n = hybrids.len();
    let names: Vec<String> = hybrids.iter().map(|d| d.name.clone()).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: where hybrid deployments served requests", data.scenario),
            title_style(),
        )
        .margin(24)
        .x_label_area_size(70)
        .y_label_area_size(110)
        // Room on the right of each bar for its numbers.
        .build_cartesian_2d(-0.5..n as f64, 0.0..100.0)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.max(2) + 1)
        .x_label_formatter(&|v| name_at(&names, *v))
        .y_desc("Share of served requests (%)")
        .label_style(label_style())
        .axis_desc_style(axis_style())
        .draw()?;
    for (r, label) in labels.iter().enumerate() {
        let color = PALETTE[r % PALETTE.len()];
        let bars = hybrids.iter().enumerate().map(|(i, h)| {
            let share = |name: &str| h.routes.iter().find(|(k, _)| k == name).map_or(0.0, |x| x.1);
            let below: f64 = labels[..r].iter().map(|l| share(l)).sum();
            let x = i as f64;
            Rectangle::new(
                [(x - 0.25, 100.0 * below), (x + 0.25, 100.0 * (below + share(label)))],
                color.filled(),
            )
        });
        chart.draw_series(bars)?.label(label.clone()).legend(swatch(color));
    }
    // The shares as numbers beside each bar (a 0.5 % slice is invisible as a colour).
    for (i, h) in hybrids.iter().enumerate() {
        for (r, (route, share)) in h.routes.iter().enumerate() {
            chart.draw_series(std::iter::once(Text::new(
                format!("{route}: {:.1} %", 100.0 * share),
                (i as f64 + 0.28, 95.0 - 6.0 * r as f64),
                label_style(),
            )))?;
        }
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    root.present()?;
    Ok(())
}

/// Draws one chart as `plots/<name>.png` and `plots/<name>.svg`.
macro_rules! both {
    ($plots:expr, $name:expr, $draw:ident, $data:expr, $out:expr) => {{
        let png = $plots.join(format!("{}.png", $name));
        let svg = $plots.join(format!("{}.svg", $name));
        let fail = |path: &Path, e: Box<dyn Error>| ReportError::Chart {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        $draw(&BitMapBackend::new(&png, SIZE).into_drawing_area(), $data)
            .map_err(|e| fail(&png, e))?;
        $draw(&SVGBackend::new(&svg, SIZE).into_drawing_area(), $data)
            .map_err(|e| fail(&svg, e))?;
        $out.push(png);
        $out.push(svg);
    }};
}

/// A chart the run has data for: `(file stem, title for the report)`.
pub fn available(data: &RunData) -> Vec<(&'static str, &'static str)> {
    let mut charts = Vec::new();
    if data.deployments.iter().any(|d| !d.cumulative.is_empty()) {
        charts.push(("tco", "Cumulative cost of ownership"));
        charts.push(("cost_breakdown", "Monthly cost by component"));
    }
    charts.push(("latency", "Latency percentiles"));
    charts.push(("availability", "Availability and SLO attainment"));
    if data.deployments.iter().any(|d| !d.routes.is_empty()) {
        charts.push(("routes", "Routes of hybrid deployments"));
    }
    charts
}

/// `dir/plots/`, created if missing, with the font registered. `dir` itself must exist: it is
/// never created again, so a run folder that an interrupt has just removed stays removed
/// (the signal handler deletes the temporary folder while this thread may still be writing).
pub(crate) fn plots_dir(dir: &Path) -> Result<PathBuf, ReportError> {
    register_font();
    let plots = dir.join("plots");
    match std::fs::create_dir(&plots) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(ReportError::Io { path: plots.display().to_string(), source: e })
        }
        _ => Ok(plots),
    }
}

/// Renders every chart the run has data for into `dir/plots/`; returns the files written.
pub fn render(dir: &Path, data: &RunData) -> Result<Vec<PathBuf>, ReportError> {
    let plots = plots_dir(dir)?;
    let mut out = Vec::new();
    for (name, _) in available(data) {
        match name {
            "tco" => both!(plots, name, tco, data, out),
            "cost_breakdown" => both!(plots, name, cost_breakdown, data, out),
            "latency" => both!(plots, name, latency, data, out),
            "availability" => both!(plots, name, availability, data, out),
            _ => both!(plots, name, routes, data, out),
        }
    }
    Ok(out)
}
