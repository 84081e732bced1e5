//! Charts of a sweep and of a sensitivity analysis, PNG (1600×900) and SVG, in `plots/`:
//! the break-even map (two swept axes), cost against the first swept axis with p5–p95 bands,
//! p95 latency against the first swept axis with the SLO, and the tornado chart. Same fonts and palette as [`crate::charts`].

use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::ReportError;
use crate::charts::{PALETTE, SIZE, axis_style, label_style, legend, plots_dir, title_style, usd};
use crate::planning::{cheapest, crossings, marks, point_at, reference_row};
use crate::sweep::{SweepAxis, SweepTable};

type Drawn = Result<(), Box<dyn Error>>;

/// A swept value as a tick label: three significant digits.
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// The value at a fractional index of `values` (ticks of an index axis).
fn value_at(values: &[f64], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < values.len() {
        tick(values[i as usize])
    } else {
        String::new()
    }
}

/// The first axis' extent with a 3 % margin either side (in log space for a log axis), so end
/// points and their labels are not cut.
fn x_span(x: &SweepAxis) -> (f64, f64) {
    let (a, b) = (x.values[0], x.values[x.values.len() - 1]);
    let (lo, hi) = (a.min(b), a.max(b));
    if x.log && lo > 0.0 {
        (lo / (hi / lo).powf(0.03), hi * (hi / lo).powf(0.03))
    } else {
        (lo - 0.03 * (hi - lo), (hi + 0.03 * (hi - lo)).max(lo + 1e-12))
    }
}

/// "at usd_per_mtok_out = 0.6": where a curve holds the second axis, if there is one.
fn held_at(t: &SweepTable, j: usize) -> Option<String> {
    let y = t.axes.get(1)?;
    Some(format!("at {} = {}", y.path.rsplit('.').next().unwrap_or(&y.path), tick(y.values[j])))
}

/// Grid cells coloured by the cheapest option at the horizon's end, hatched where the
/// p5–p95 bands overlap, with the lines where the local option pays off within 12/24/36
/// months. Axes are drawn by index (equal cells), labelled with the swept values.
fn break_even_map<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &SweepTable) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (x, y) = (&t.axes[0], &t.axes[1]);
    let (nx, ny) = (x.values.len(), y.values.len());
    let h = t.horizon_months.unwrap_or(0);
    let (plot, side) = root.split_horizontally(SIZE.0 as i32 * 3 / 4);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            format!("{}: cheapest option at month {h} (hatched: p5–p95 bands overlap)", t.scenario),
            axis_style(),
        )
        .margin(20)
        .x_label_area_size(80)
        .y_label_area_size(130)
        .build_cartesian_2d(-0.5..nx as f64 - 0.5, -0.5..ny as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(nx.min(12))
        .y_labels(ny.min(12))
        .x_label_formatter(&|v| value_at(&x.values, *v))
        .y_label_formatter(&|v| value_at(&y.values, *v))
        .x_desc(x.path.as_str())
        .y_desc(y.path.as_str())
        .label_style(label_style())
        .axis_desc_style(label_style())
        .draw()?;
    let mut used = vec![false; t.deployments.len()];
    let mut missed = false;
    for i in 0..nx {
        for j in 0..ny {
            let Some((k, uncertain)) = cheapest(t, point_at(t, i, j)) else { continue };
            used[k] = true;
            let (x0, y0) = (i as f64 - 0.5, j as f64 - 0.5);
            let color = PALETTE[k % PALETTE.len()];
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, y0), (x0 + 1.0, y0 + 1.0)],
                color.mix(0.55).filled(),
            )))?;
            let misses = t
                .row(point_at(t, i, j), &t.deployments[k].0)
                .and_then(|r| r.slo_attainment)
                .is_some_and(|a| a < 0.5);
            if misses {
                missed = true;
                chart.draw_series([
                    PathElement::new(
                        vec![(x0 + 0.3, y0 + 0.3), (x0 + 0.7, y0 + 0.7)],
                        BLACK.stroke_width(3),
                    ),
                    PathElement::new(
                        vec![(x0 + 0.3, y0 + 0.7), (x0 + 0.7, y0 + 0.3)],
                        BLACK.stroke_width(3),
                    ),
                ])?;
            }
            if uncertain {
                let lines = (0..4).map(|s| {
                    let d = 0.25 * s as f64;
                    PathElement::new(vec![(x0 + d, y0), (x0 + 1.0, y0 + 1.0 - d)], BLACK.mix(0.6))
                });
                chart.draw_series(lines)?;
                let lines = (1..4).map(|s| {
                    let d = 0.25 * s as f64;
                    PathElement::new(vec![(x0, y0 + d), (x0 + 1.0 - d, y0 + 1.0)], BLACK.mix(0.6))
                });
                chart.draw_series(lines)?;
            }
        }
    }
    if let Some((local, cloud)) = t.pair() {
        for (n, m) in marks(h).into_iter().enumerate() {
            let points: Vec<(f64, f64)> = (0..ny)
                .filter_map(|j| {
                    let c = crossings(t, (&local, &cloud), m, j);
                    (c.len() == 1).then(|| (c[0].index, j as f64))
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            let style = BLACK.stroke_width(5 - n.min(3) as u32);
            chart.draw_series(DashedLineSeries::new(
                points.clone(),
                14 - 4 * n as u32,
                6,
                style,
            ))?;
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 6, BLACK.filled())))?;
            // The label sits just right of the line's topmost point, inside the plot.
            let top =
                points.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((0.0, 0.0));
            chart.draw_series(std::iter::once(Text::new(
                format!("{m} mo"),
                (top.0 + 0.12, top.1 + 0.1 + 0.16 * n as f64),
                ("sans-serif", 26).into_font().color(&BLACK),
            )))?;
        }
    }
    // The key, in its own panel: it never covers a cell.
    let mut y = 40;
    side.draw_text(&format!("Cheapest at month {h}:"), &label_style(), (20, y))?;
    y += 44;
    for (k, (name, kind)) in t.deployments.iter().enumerate() {
        if !used[k] {
            continue;
        }
        let color = PALETTE[k % PALETTE.len()];
        side.draw(&Rectangle::new([(20, y - 2), (50, y + 24)], color.mix(0.55).filled()))?;
        side.draw_text(&format!("{name} ({kind})"), &label_style(), (60, y))?;
        y += 40;
    }
    y += 24;
    if missed {
        for l in ["✕: the cheapest option misses", "the SLO in most months"] {
            side.draw_text(l, &label_style(), (20, y))?;
            y += 34;
        }
        y += 24;
    }
    if let Some((local, cloud)) = t.pair() {
        for l in [
            format!("Dashed: {local}"),
            format!("pays off against {cloud}"),
            "within the months marked".to_string(),
            "(mean cumulative cost)".to_string(),
        ] {
            side.draw_text(&l, &label_style(), (20, y))?;
            y += 34;
        }
    }
    root.present()?;
    Ok(())
}

/// Draws a chart against a swept axis `$x` spanning `$span`: the caption, a mesh with `$y_desc`
/// and ticks formatted by `$y_fmt`, the series `$body` draws on `$chart`, and the legend. The
/// x axis is logarithmic when the axis is and starts above 0.
macro_rules! axis_chart {
    ($root:expr, $caption:expr, $x:expr, $span:expr, $y_top:expr, $y_desc:expr, $y_fmt:expr,
     |$chart:ident| $body:block) => {{
        let (lo, hi): (f64, f64) = $span;
        let mut b = ChartBuilder::on($root);
        b.caption($caption, title_style()).margin(24).x_label_area_size(80).y_label_area_size(130);
        macro_rules! mesh_and_body {
                                        ($built:expr) => {{
                                            let mut $chart = $built;
                                            $chart
                                                .configure_mesh()
                                                .x_desc($x.path.as_str())
                                                .x_labels(10)
                                                .y_desc($y_desc.to_string())
                                                .x_label_formatter(&|v| tick(*v))
                                                .y_label_formatter(&|v| $y_fmt(*v))
                                                .label_style(label_style())
                                                .axis_desc_style(axis_style())
                                                .draw()?;
                                            $body
                                            legend(&mut $chart, SeriesLabelPosition::UpperLeft)?;
                                        }};
                                    }
        if $x.log && lo > 0.0 {
            mesh_and_body!(b.build_cartesian_2d((lo..hi).log_scale(), 0.0..$y_top)?);
        } else {
            mesh_and_body!(b.build_cartesian_2d(lo..hi, 0.0..$y_top)?);
        }
    }};
}

/// Cumulative cost at the horizon's end against the first swept axis: mean and p5–p95 band
/// per option (the second axis, if any, held at the reference row).
fn cost_curve<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &SweepTable) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let x = &t.axes[0];
    let j = reference_row(t);
    let h = t.horizon_months.unwrap_or(0);
    // Per option with costs: (x, mean, p5, p95) along the axis.
    type Curve = Vec<(f64, f64, f64, f64)>;
    let series: Vec<(usize, Curve)> = t
        .deployments
        .iter()
        .enumerate()
        .filter_map(|(k, (name, _))| {
            let pts: Vec<_> = (0..x.values.len())
                .filter_map(|i| {
                    let c = t.end_cost(point_at(t, i, j), name)?;
                    Some((x.values[i], c.mean, c.p5, c.p95))
                })
                .collect();
            (!pts.is_empty()).then_some((k, pts))
        })
        .collect();
    let top = series.iter().flat_map(|s| s.1.iter().map(|p| p.3)).fold(0.0, f64::max) * 1.08;
    let (lo, hi) = x_span(x);
    let caption = match held_at(t, j) {
        Some(at) => format!("{}: cost to month {h} (p5–p95) {at}", t.scenario),
        None => format!("{}: cumulative cost to month {h} (mean, p5–p95 band)", t.scenario),
    };
    let y_desc = format!("Cumulative cost to month {h} (USD)");
    axis_chart!(root, caption, x, (lo, hi), top.max(1.0), y_desc, usd, |chart| {
        for (k, pts) in &series {
            let color = PALETTE[k % PALETTE.len()];
            let band: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.0, p.3))
                .chain(pts.iter().rev().map(|p| (p.0, p.2)))
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.18))))?;
            let (name, kind) = &t.deployments[*k];
            let style = color.stroke_width(4);
            let mean: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
            let s = if *kind == "hybrid" {
                chart.draw_series(DashedLineSeries::new(mean.clone(), 16, 10, style))?
            } else {
                chart.draw_series(LineSeries::new(mean.clone(), style))?
            };
            s.label(format!("{name} ({kind})")).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(4))
            });
            chart.draw_series(mean.into_iter().map(|p| Circle::new(p, 5, color.filled())))?;
        }
    });
    root.present()?;
    Ok(())
}

/// p95 end-to-end latency against the first swept axis, one line per option (the second axis,
/// if any, held at the reference row), with the SLO's p95 target.
fn latency_curve<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &SweepTable) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let x = &t.axes[0];
    let j = reference_row(t);
    let series: Vec<(usize, Vec<(f64, f64)>)> = t
        .deployments
        .iter()
        .enumerate()
        .map(|(k, (name, _))| {
            let pts = (0..x.values.len())
                .filter_map(|i| {
                    let r = t.row(point_at(t, i, j), name)?;
                    Some((x.values[i], r.latency_p95_ms / 1000.0))
                })
                .collect();
            (k, pts)
        })
        .collect();
    let target = t.slo_latency_p95_ms.map(|v| v / 1000.0);
    let top = series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).chain(target).fold(0.0, f64::max)
        * 1.08;
    let (lo, hi) = x_span(x);
    let caption = match held_at(t, j) {
        Some(at) => format!("{}: p95 latency {at}", t.scenario),
        None => format!("{}: p95 end-to-end latency", t.scenario),
    };
    let y_desc = "p95 end-to-end latency (s)";
    axis_chart!(root, caption, x, (lo, hi), top.max(1e-3), y_desc, tick, |chart| {
        for (k, pts) in &series {
            let color = PALETTE[k % PALETTE.len()];
            let (name, kind) = &t.deployments[*k];
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(4)))?
                .label(format!("{name} ({kind})"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(4))
                });
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 5, color.filled())))?;
        }
        if let Some(v) = target {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(lo, v), (hi, v)],
                    12,
                    8,
                    BLACK.stroke_width(3),
                ))?
                .label(format!("SLO: p95 ≤ {} s", tick(v)))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(3))
                });
        }
    });
    root.present()?;
    Ok(())
}

/// One bar of a tornado chart: a key, its low and high values, and the result at each.
#[derive(Debug, Clone, PartialEq)]
pub struct TornadoBar {
    pub path: String,
    pub low: f64,
    pub high: f64,
    pub result_low: f64,
    pub result_high: f64,
}

impl TornadoBar {
    pub fn swing(&self) -> f64 {
        (self.result_high - self.result_low).abs()
    }
}

/// The tornado chart: for each key, the bar from the result at its low value to the result at
/// its high value, around the base result, the largest swing on top.
pub fn tornado<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (title, what, base): (&str, &str, f64),
    bars: &[TornadoBar],
) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let n = bars.len().max(1);
    let lo = bars.iter().flat_map(|b| [b.result_low, b.result_high]).fold(base, f64::min);
    let hi = bars.iter().flat_map(|b| [b.result_low, b.result_high]).fold(base, f64::max);
    let pad = ((hi - lo) * 0.35).max(1.0);
    let labels: Vec<String> = bars.iter().map(|b| b.path.clone()).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(title, title_style())
        .margin(24)
        .x_label_area_size(80)
        .y_label_area_size(520)
        .build_cartesian_2d(lo - pad..hi + pad, -0.5..n as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n.max(2))
        .y_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                // Bars are drawn largest on top: index 0 is the top row.
                labels.get(n - 1 - i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc(what)
        .x_label_formatter(&|v| usd(*v))
        .label_style(label_style())
        .axis_desc_style(axis_style())
        .draw()?;
    let anchor = |right: bool| {
        use plotters::style::text_anchor::{HPos, Pos, VPos};
        label_style().pos(Pos::new(if right { HPos::Left } else { HPos::Right }, VPos::Center))
    };
    for (r, b) in bars.iter().enumerate() {
        let yc = (n - 1 - r) as f64;
        if b.swing() <= 1e-9 * base.abs().max(1.0) {
            // No effect: one label, so the two do not print over each other.
            let text = format!("{} … {}: no change", tick(b.low), tick(b.high));
            chart.draw_series(std::iter::once(Text::new(
                text,
                (base + pad * 0.03, yc),
                anchor(true),
            )))?;
            continue;
        }
        let mut ends = [(b.result_low, b.low, PALETTE[0]), (b.result_high, b.high, PALETTE[1])];
        // Both ends on one side of the base (a key whose effect is not monotone): the longer
        // bar first, the shorter over it, and one label for both at the longer bar's end, so
        // the two labels do not print over each other.
        let one_side = (b.result_low >= base) == (b.result_high >= base);
        if one_side {
            ends.sort_by(|x, y| (y.0 - base).abs().total_cmp(&(x.0 - base).abs()));
        }
        for (k, (result, value, color)) in ends.into_iter().enumerate() {
            let (a, z) = (base.min(result), base.max(result));
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, yc - 0.32), (z.max(a + 1e-9), yc + 0.32)],
                color.filled(),
            )))?;
            let right = result >= base;
            let at = if right { z + pad * 0.03 } else { a - pad * 0.03 };
            let text = if one_side {
                if k > 0 {
                    continue;
                }
                // Low value first, as on the other rows.
                format!(
                    "{} → {}, {} → {}",
                    tick(b.low),
                    usd(b.result_low),
                    tick(b.high),
                    usd(b.result_high)
                )
            } else {
                format!("{} → {}", tick(value), usd(result))
            };
            chart.draw_series(std::iter::once(Text::new(text, (at, yc), anchor(right))))?;
        }
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(base, -0.5), (base, n as f64 - 0.5)],
        BLACK.stroke_width(3),
    )))?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(base, -10.0), (base, -10.0)],
            PALETTE[0].filled(),
        )))?
        .label("key at its low value")
        .legend(|(x, y)| Rectangle::new([(x, y - 8), (x + 20, y + 8)], PALETTE[0].filled()));
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(base, -10.0), (base, -10.0)],
            PALETTE[1].filled(),
        )))?
        .label("key at its high value")
        .legend(|(x, y)| Rectangle::new([(x, y - 8), (x + 20, y + 8)], PALETTE[1].filled()));
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    root.present()?;
    Ok(())
}

fn both(
    plots: &Path,
    name: &str,
    draw: &dyn Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> Drawn,
    draw_svg: &dyn Fn(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn,
    out: &mut Vec<PathBuf>,
) -> Result<(), ReportError> {
    let png = plots.join(format!("{name}.png"));
    let svg = plots.join(format!("{name}.svg"));
    let fail = |path: &Path, e: Box<dyn Error>| ReportError::Chart {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    draw(&BitMapBackend::new(&png, SIZE).into_drawing_area()).map_err(|e| fail(&png, e))?;
    draw_svg(&SVGBackend::new(&svg, SIZE).into_drawing_area()).map_err(|e| fail(&svg, e))?;
    out.push(png);
    out.push(svg);
    Ok(())
}

/// The charts a sweep has data for: `(file stem, title)`.
pub fn available(t: &SweepTable) -> Vec<(&'static str, &'static str)> {
    let has_cost = t.rows.iter().any(|r| r.cost[3].is_some());
    let mut out = Vec::new();
    if has_cost && t.axes.len() >= 2 && t.axes[..2].iter().all(|a| a.values.len() >= 2) {
        out.push(("break_even_map", "Break-even map"));
    }
    if has_cost && t.axes.first().is_some_and(|a| a.values.len() >= 2) {
        out.push(("cost_vs_axis", "Cost against the first swept key"));
    }
    if t.axes.first().is_some_and(|a| a.values.len() >= 2) {
        out.push(("latency_vs_axis", "p95 latency against the first swept key"));
    }
    out
}

/// Renders the sweep's charts into `dir/plots/`; returns the files written.
pub fn render_sweep(dir: &Path, t: &SweepTable) -> Result<Vec<PathBuf>, ReportError> {
    let plots = plots_dir(dir)?;
    let mut out = Vec::new();
    for (name, _) in available(t) {
        match name {
            "break_even_map" => {
                both(&plots, name, &|a| break_even_map(a, t), &|a| break_even_map(a, t), &mut out)?
            }
            "cost_vs_axis" => {
                both(&plots, name, &|a| cost_curve(a, t), &|a| cost_curve(a, t), &mut out)?
            }
            _ => both(&plots, name, &|a| latency_curve(a, t), &|a| latency_curve(a, t), &mut out)?,
        }
    }
    Ok(out)
}

/// Renders `plots/tornado.png` and `.svg`; returns the files written.
pub fn render_tornado(
    dir: &Path,
    labels: (&str, &str, f64),
    bars: &[TornadoBar],
) -> Result<Vec<PathBuf>, ReportError> {
    let plots = plots_dir(dir)?;
    let mut out = Vec::new();
    both(
        &plots,
        "tornado",
        &|a| tornado(a, labels, bars),
        &|a| tornado(a, labels, bars),
        &mut out,
    )?;
    Ok(out)
}
