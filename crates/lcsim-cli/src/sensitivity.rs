//! `lcsim sensitivity`: each input moved down and up, one at a time, with the same seed, and
//! the swing it causes in the cost difference between two options at the horizon's end.
//!
//! Keys: `--key`, else the scenario's `[sensitivity]` table, else every non-zero, non-integer
//! number under `traffic` (but `peak_hour`), and under each deployment's `cost` and `failures` tables (prices,
//! power, volumes, token lengths: what a planning meeting argues about), each moved by `--by`.

use std::fmt::Write as _;
use std::time::Instant;

use lcsim_core::scenario::{Model, Scenario};
use lcsim_core::sweep::{Swing, by_share, swings_of};
use lcsim_report::report::usd;
use lcsim_report::sweep_charts::TornadoBar;

use crate::cli::SensitivityArgs;
use crate::error::CliError;
use crate::outdir::{Staging, check_replaceable};
use crate::points::{Base, pool, run_quiet};
use crate::progress::with_progress;

/// Whether a default key belongs in the analysis.
fn default_key(path: &str) -> bool {
    // A clock hour is a position, not a magnitude: ±20 % of it means nothing.
    (path.starts_with("traffic.") && path != "traffic.peak_hour")
        || (path.starts_with("deployment.")
            && (path.contains(".cost.") || path.contains(".failures.")))
}

fn swings(base: &Base, args: &SensitivityArgs) -> Result<(Vec<Swing>, bool), CliError> {
    if !args.key.is_empty() {
        let mut out = Vec::new();
        for k in &args.key {
            let (path, range) = match k.split_once('=') {
                Some((p, r)) => (p.trim(), Some(r)),
                None => (k.trim(), None),
            };
            let value = base
                .editable
                .get(path)
                .map_err(|m| CliError::Input(format!("--key {k}: {m}")))?
                .ok_or_else(|| {
                    CliError::Input(format!("--key {k}: `{path}` is not set in the scenario\nhint: give its range, --key {path}=LOW,HIGH, after writing it into the scenario"))
                })?;
            out.push(match range {
                None => by_share(path, value, args.by),
                Some(r) => {
                    let v: Vec<f64> = r.split(',').filter_map(|x| x.trim().parse().ok()).collect();
                    match v[..] {
                        [low, high] if low.is_finite() && high.is_finite() => {
                            Swing { path: path.to_string(), base: value, low, high }
                        }
                        _ => {
                            return Err(CliError::Input(format!(
                                "--key {k}: the range must be LOW,HIGH (two numbers)"
                            )));
                        }
                    }
                }
            });
        }
        return Ok((out, true));
    }
    if let Some(t) = &base.wire.sensitivity {
        let s = swings_of(t, &base.editable).map_err(|p| {
            CliError::Input(format!("{}: {} (key `{}`)", base.origin, p.message, p.key_path))
        })?;
        return Ok((s, true));
    }
    let s = base
        .editable
        .numbers()
        .into_iter()
        .filter(|(p, v, integer)| default_key(p) && !integer && *v != 0.0)
        .map(|(p, v, _)| by_share(&p, v, args.by))
        .collect();
    Ok((s, false))
}

/// The compared pair, as deployment indices.
fn pair(s: &Scenario, compare: &[String]) -> Result<(usize, usize), CliError> {
    let index = |name: &str| {
        s.deployments.iter().position(|d| d.name == name).ok_or_else(|| {
            let names: Vec<&str> = s.deployments.iter().map(|d| d.name.as_str()).collect();
            CliError::Input(format!(
                "--compare: no deployment is named `{name}`\nhint: deployments: {}",
                names.join(", ")
            ))
        })
    };
    match compare {
        [a, b] => return Ok((index(a)?, index(b)?)),
        [] => {}
        _ => {
            return Err(CliError::Input(format!(
                "--compare takes two deployments, A,B; got {}",
                compare.join(",")
            )));
        }
    }
    let first = |local: bool| {
        s.deployments.iter().position(|d| {
            d.cost.is_some()
                && matches!(d.model, Model::Local(_)) == local
                && !matches!(d.model, Model::Hybrid(_))
        })
    };
    match (first(true), first(false)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(CliError::Input(
            "the scenario has no local and cloud deployment both with a [deployment.cost]\nhint: name the two options with --compare A,B".into(),
        )),
    }
}

/// The runs of a sensitivity analysis, checked and ready: the scenario, then each kept key
/// at its low and its high value.
pub(crate) struct SensitivityPlan {
    pub base: Base,
    pub runs: Vec<lcsim_core::Scenario>,
    kept: Vec<Swing>,
    skipped: Vec<String>,
    pair: (usize, usize),
    horizon: u32,
    pub out: std::path::PathBuf,
}

pub(crate) fn plan(args: &SensitivityArgs) -> Result<SensitivityPlan, CliError> {
    if !(args.by > 0.0 && args.by < 1.0) {
        return Err(CliError::Input(format!(
            "--by must be between 0 and 1 (exclusive), got {}",
            args.by
        )));
    }
    let base = Base::load(&args.flags)?;
    let Some(horizon) = base.scenario.simulation.horizon.map(|h| h.months) else {
        return Err(CliError::Input(format!(
            "{}: sensitivity measures the cost difference at the horizon's end, and the scenario has no horizon_months\nhint: add horizon_months to [simulation]",
            base.origin
        )));
    };
    let (a, b) = pair(&base.scenario, &args.compare)?;
    for k in [a, b] {
        if base.scenario.deployments[k].cost.is_none()
            && !matches!(base.scenario.deployments[k].model, Model::Hybrid(_))
        {
            return Err(CliError::Input(format!(
                "--compare: `{}` has no [deployment.cost]",
                base.scenario.deployments[k].name
            )));
        }
    }
    let (swings, explicit) = swings(&base, args)?;
    if swings.is_empty() {
        return Err(CliError::Input(
            "no keys to move\nhint: give --key PATH or a [sensitivity] table".into(),
        ));
    }
    let out = base.out_dir(&args.flags, "sensitivity");
    // Every moved scenario is checked first. A default key whose move is invalid (a share
    // pushed past 1) is left out and reported; a key the user named is an error.
    let mut runs = vec![base.scenario.clone()];
    let (mut kept, mut skipped) = (Vec::new(), Vec::new());
    for s in &swings {
        let at = |v: f64| {
            base.at(&[(s.path.as_str(), v)], &format!("{} = {}", s.path, lcsim_core::check::num(v)))
        };
        match (at(s.low), at(s.high)) {
            (Ok(lo), Ok(hi)) => {
                runs.push(lo);
                runs.push(hi);
                kept.push(s.clone());
            }
            (Err(e), _) | (_, Err(e)) => {
                if explicit {
                    return Err(e);
                }
                skipped.push(format!("{}: {}", s.path, e.to_string().lines().next().unwrap_or("")));
            }
        }
    }
    Ok(SensitivityPlan { base, runs, kept, skipped, pair: (a, b), horizon, out })
}

pub fn run(args: SensitivityArgs) -> Result<(), CliError> {
    let plan = plan(&args)?;
    let pool = pool(args.flags.threads)?;
    if let Some(shard) = args.flags.shard.as_deref() {
        let shard = crate::shard::Shard::parse(shard)?;
        return crate::shard::run_plan_shard(&plan.base, &plan.runs, shard, &args.flags, &pool);
    }
    check_replaceable("--out", &plan.out)?;
    let started = Instant::now();
    let summaries: Vec<lcsim_core::summary::RunSummary> = pool.install(|| {
        with_progress(plan.runs.len() as u64, "runs", |tick| {
            plan.runs
                .iter()
                .map(|s| {
                    let out = run_quiet(s).summary;
                    tick(1);
                    out
                })
                .collect()
        })
    });
    finish(&args, plan, &summaries, started.elapsed().as_secs_f64())
}

/// The tornado from the runs' summaries, and the sensitivity folder.
pub(crate) fn finish(
    args: &SensitivityArgs,
    plan: SensitivityPlan,
    summaries: &[lcsim_core::summary::RunSummary],
    wall: f64,
) -> Result<(), CliError> {
    let SensitivityPlan { base, kept, skipped, pair: (a, b), horizon, out, .. } = plan;
    check_replaceable("--out", &out)?;
    let (name_a, name_b) =
        (base.scenario.deployments[a].name.clone(), base.scenario.deployments[b].name.clone());
    let diff = |s: &lcsim_core::summary::RunSummary| -> f64 {
        let end = |k: usize| {
            s.deployments[k]
                .cost_usd
                .as_ref()
                .and_then(|c| c.cumulative.last())
                .map_or(f64::NAN, |m| m.mean)
        };
        end(a) - end(b)
    };
    let results: Vec<f64> = summaries.iter().map(diff).collect();
    let base_diff = results[0];
    if !base_diff.is_finite() {
        return Err(CliError::Input(format!(
            "--compare {name_a},{name_b}: one of them has no cost over the horizon (a hybrid's members need [deployment.cost])\nhint: compare two deployments with costs"
        )));
    }
    let mut bars: Vec<TornadoBar> = kept
        .iter()
        .enumerate()
        .map(|(i, s)| TornadoBar {
            path: s.path.clone(),
            low: s.low,
            high: s.high,
            result_low: results[1 + 2 * i],
            result_high: results[2 + 2 * i],
        })
        .collect();
    bars.sort_by(|x, y| y.swing().total_cmp(&x.swing()).then(x.path.cmp(&y.path)));
    let what = format!("cumulative cost to month {horizon}: {name_a} − {name_b} (USD, mean)");
    let staging = Staging::new("--out", &out)?;
    let tmp = staging.path();
    let write = || -> anyhow::Result<()> {
        let mut csv = csv::Writer::from_path(tmp.join("sensitivity.csv"))?;
        csv.write_record([
            "key",
            "base",
            "low",
            "high",
            "difference_at_low_usd",
            "difference_at_high_usd",
            "swing_usd",
            "base_difference_usd",
        ])?;
        for b in &bars {
            csv.write_record([
                b.path.clone(),
                bars_base(&kept, &b.path).to_string(),
                b.low.to_string(),
                b.high.to_string(),
                b.result_low.to_string(),
                b.result_high.to_string(),
                b.swing().to_string(),
                base_diff.to_string(),
            ])?;
        }
        csv.flush()?;
        std::fs::write(tmp.join("scenario.toml"), &base.text)?;
        if !args.flags.no_plots {
            let title = format!(
                "{}: what moves {name_a} − {name_b} at month {horizon}",
                base.scenario.name
            );
            lcsim_report::sweep_charts::render_tornado(tmp, (&title, &what, base_diff), &bars)?;
            let md = markdown(&base, (&name_a, &name_b, horizon), base_diff, &bars, &skipped, wall);
            lcsim_report::page::write(tmp, &format!("{} — sensitivity", base.scenario.name), &md)?;
        }
        Ok(())
    };
    write()?;
    staging.commit()?;
    say!("{} — {what}: {} at the scenario's values", base.scenario.name, usd(base_diff));
    for b in bars.iter().take(8) {
        say!(
            "  {:<50} {} … {}  (swing {})",
            b.path,
            usd(b.result_low),
            usd(b.result_high),
            usd(b.swing())
        );
    }
    for s in &skipped {
        say!("  not moved: {s}");
    }
    say!(
        "written: {} (sensitivity.csv{})",
        out.display(),
        if args.flags.no_plots { "" } else { ", plots/tornado.png, report.md, report.html" }
    );
    Ok(())
}

fn bars_base(kept: &[Swing], path: &str) -> f64 {
    kept.iter().find(|s| s.path == path).map_or(f64::NAN, |s| s.base)
}

fn markdown(
    base: &Base,
    (a, b, horizon): (&str, &str, u32),
    base_diff: f64,
    bars: &[TornadoBar],
    skipped: &[String],
    wall: f64,
) -> String {
    let s = &base.scenario;
    let mut md = String::new();
    let _ = writeln!(md, "# {} — sensitivity\n", s.name);
    let _ = writeln!(
        md,
        "The cumulative cash cost to month {horizon} of `{a}` minus `{b}`, mean of {} replication(s), seed {}: **{}** at the scenario's values ({}). Each key below was moved to its low and high value alone, with the same seed; {} runs in {wall:.1} s.\n",
        s.simulation.replications,
        s.simulation.seed,
        usd(base_diff),
        if base_diff > 0.0 { format!("`{b}` is cheaper") } else { format!("`{a}` is cheaper") },
        1 + 2 * bars.len()
    );
    let _ = writeln!(md, "## Answer\n");
    if let Some(top) = bars.first() {
        let flips: Vec<&TornadoBar> = bars
            .iter()
            .filter(|x| {
                (x.result_low > 0.0) != (base_diff > 0.0)
                    || (x.result_high > 0.0) != (base_diff > 0.0)
            })
            .collect();
        let [path, low, high, at_low, at_high, swing] = cells(top);
        let _ = writeln!(
            md,
            "- `{path}` matters most: from {low} to {high} it moves the difference from {at_low} to {at_high} (a swing of {swing})."
        );
        if flips.is_empty() {
            let _ = writeln!(md, "- No single key in its range changes which option is cheaper.");
        } else {
            let names: Vec<String> = flips.iter().map(|x| format!("`{}`", x.path)).collect();
            let _ = writeln!(
                md,
                "- Within its range, each of {} alone changes which option is cheaper.",
                names.join(", ")
            );
        }
    }
    let _ = writeln!(md, "\n![Tornado chart](plots/tornado.png)\n");
    let _ = writeln!(md, "## Keys\n");
    let _ = writeln!(md, "| key | low | high | difference at low | difference at high | swing |");
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for x in bars {
        let [path, low, high, at_low, at_high, swing] = cells(x);
        let _ = writeln!(md, "| `{path}` | {low} | {high} | {at_low} | {at_high} | {swing} |");
    }
    if !skipped.is_empty() {
        let _ = writeln!(md, "\nNot moved (the moved value is not valid):\n");
        for x in skipped {
            let _ = writeln!(md, "- {x}");
        }
    }
    md
}

/// A bar's key, its low and high values, the cost difference at each, and the swing, as text.
fn cells(x: &TornadoBar) -> [String; 6] {
    [
        x.path.clone(),
        lcsim_core::check::num(x.low),
        lcsim_core::check::num(x.high),
        usd(x.result_low),
        usd(x.result_high),
        usd(x.swing()),
    ]
}
