//! `lcsim sweep`: every point of a grid over scenario keys, run with the same seed (common
//! random numbers), into `sweep.parquet`, `sweep.csv`, charts and a report.

use std::time::Instant;

use lcsim_core::sweep::{Axis, MAX_POINTS, Scale, axes_of, parse_vary, point_count, points};
use lcsim_report::sweep::{SweepAxis, SweepTable};
use lcsim_report::sweep_report::SweepRun;

use crate::cli::SweepArgs;
use crate::error::CliError;
use crate::outdir::{Staging, check_replaceable};
use crate::points::{Base, describe, pool, run_quiet};
use crate::progress::with_progress;

/// The grid: `--vary` if given, else the scenario's `[sweep]` table.
fn grid(base: &Base, vary: &[String]) -> Result<Vec<Axis>, CliError> {
    let axes = if vary.is_empty() {
        let table = base.wire.sweep.as_ref().ok_or_else(|| {
            CliError::Input(format!(
                "{}: nothing to sweep: the scenario has no [sweep] table and no --vary was given\nhint: add --vary traffic.rate_per_s=0.1..10:25:log, or a [sweep] table (docs/planning.md)",
                base.origin
            ))
        })?;
        axes_of(table, &base.editable).map_err(|p| {
            CliError::Input(format!("{}: {} (key `{}`)", base.origin, p.message, p.key_path))
        })?
    } else {
        let mut axes = Vec::new();
        for v in vary {
            let a = parse_vary(v).map_err(CliError::Input)?;
            base.editable.get(&a.path).map_err(|m| CliError::Input(format!("--vary {v}: {m}")))?;
            if axes.iter().any(|b: &Axis| b.path == a.path) {
                return Err(CliError::Input(format!("--vary: `{}` is given twice", a.path)));
            }
            axes.push(a);
        }
        axes
    };
    if point_count(&axes) > MAX_POINTS {
        return Err(CliError::Input(format!(
            "the grid has {} points; at most {MAX_POINTS} are run\nhint: use fewer values per axis",
            point_count(&axes)
        )));
    }
    Ok(axes)
}

/// The points of a sweep, checked and ready to run.
pub(crate) struct SweepPlan {
    pub base: Base,
    axes: Vec<Axis>,
    grid: Vec<Vec<f64>>,
    pub scenarios: Vec<lcsim_core::Scenario>,
    pub out: std::path::PathBuf,
}

/// Loads the scenario and builds every point (a bad value exits 2 before anything runs).
pub(crate) fn plan(args: &SweepArgs) -> Result<SweepPlan, CliError> {
    let base = Base::load(&args.flags)?;
    let axes = grid(&base, &args.vary)?;
    let out = base.out_dir(&args.flags, "sweep");
    let grid = points(&axes);
    let paths: Vec<&str> = axes.iter().map(|a| a.path.as_str()).collect();
    let n = grid.len();
    let scenarios = grid
        .iter()
        .enumerate()
        .map(|(i, values)| {
            let set: Vec<(&str, f64)> = paths.iter().copied().zip(values.iter().copied()).collect();
            base.at(&set, &format!("sweep point {} of {n} ({})", i + 1, describe(&paths, values)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SweepPlan { base, axes, grid, scenarios, out })
}

pub fn run(args: SweepArgs) -> Result<(), CliError> {
    let plan = plan(&args)?;
    let pool = pool(args.flags.threads)?;
    if let Some(shard) = args.flags.shard.as_deref() {
        let shard = crate::shard::Shard::parse(shard)?;
        return crate::shard::run_plan_shard(
            &plan.base,
            &plan.scenarios,
            shard,
            &args.flags,
            &pool,
        );
    }
    check_replaceable("--out", &plan.out)?;
    let started = Instant::now();
    let n = plan.scenarios.len();
    let summaries = pool.install(|| {
        with_progress(n as u64, "points", |tick| {
            plan.scenarios
                .iter()
                .map(|s| {
                    let out = run_quiet(s);
                    tick(1);
                    out.summary
                })
                .collect::<Vec<_>>()
        })
    });
    finish(&args, plan, &summaries, started.elapsed().as_secs_f64())
}

/// Tabulates the points' summaries and writes the sweep folder.
pub(crate) fn finish(
    args: &SweepArgs,
    plan: SweepPlan,
    summaries: &[lcsim_core::summary::RunSummary],
    wall_seconds: f64,
) -> Result<(), CliError> {
    let SweepPlan { base, axes, grid, out, .. } = plan;
    check_replaceable("--out", &out)?;
    let n = grid.len();
    let mut table = SweepTable {
        axes: axes
            .iter()
            .map(|a| SweepAxis {
                path: a.path.clone(),
                values: a.values.clone(),
                log: a.scale == Scale::Log,
                base: base.editable.get(&a.path).ok().flatten(),
            })
            .collect(),
        slo_latency_p95_ms: base.scenario.slo.and_then(|s| s.latency_p95_ms),
        ..SweepTable::default()
    };
    for (i, (values, s)) in grid.iter().zip(summaries).enumerate() {
        table.push_point(i, values, s);
    }
    let run = SweepRun {
        seed: base.scenario.simulation.seed,
        replications: base.scenario.simulation.replications,
        wall_seconds,
    };
    let staging = Staging::new("--out", &out)?;
    let tmp = staging.path();
    let write = || -> anyhow::Result<()> {
        lcsim_report::sweep::write_table(tmp, &table)?;
        lcsim_report::planning::write_break_even(tmp, &table)?;
        std::fs::write(tmp.join("scenario.toml"), &base.text)?;
        if !args.flags.no_plots {
            lcsim_report::sweep_report::write(tmp, &table, &run)?;
        }
        Ok(())
    };
    write()?;
    staging.commit()?;
    say!(
        "{} — {n} point(s) × {} replication(s), seed {}, in {:.1} s",
        table.scenario,
        run.replications,
        run.seed,
        run.wall_seconds
    );
    for s in lcsim_report::planning::lead_sentences(&table) {
        say!("  {}", s.replace('`', ""));
    }
    say!(
        "written: {} (sweep.parquet, sweep.csv{})",
        out.display(),
        if args.flags.no_plots { "" } else { ", plots/, report.md, report.html" }
    );
    Ok(())
}
