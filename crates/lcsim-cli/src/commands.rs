//! Each command reads like the pipeline it runs: load scenario → simulate → write report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lcsim_core::scenario::Model;
use lcsim_core::scenario::{MS_PER_HOUR, Scenario};
use lcsim_engine::RunOutput;

use crate::cli::{Cli, Command};
use crate::error::{CliError, check_threads};
use crate::load::load_scenario;
use crate::outdir::{MARKER, Staging, check_replaceable};
use crate::output::{print_summary, write_run_folder};
use crate::progress::with_progress;

pub fn dispatch(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Run { scenario, out, seed, replications, threads, no_plots, shard } => {
            let shard = shard.as_deref().map(crate::shard::Shard::parse).transpose()?;
            run(&scenario, out, (seed, replications, threads), !no_plots, shard)
        }
        Command::Merge { shards, out, no_plots } => crate::merge::merge(&shards, out, !no_plots),
        Command::Plot { run_dir } => plot(&run_dir),
        Command::Check { scenario } => check(&scenario),
        Command::Init => {
            say!("{}", init_scenario().trim_end());
            Ok(())
        }
        Command::Calibrate(c) => crate::calibrate::calibrate(c),
        Command::Validate(args) => crate::validate::run(args),
        Command::Sweep(args) => crate::sweep::run(args),
        Command::Sensitivity(args) => crate::sensitivity::run(args),
        Command::Capacity(args) => crate::capacity::run(args),
    }
}

/// The commented scenario `lcsim init` prints: the bundled quickstart, renamed.
pub fn init_scenario() -> String {
    include_str!("../../../scenarios/quickstart.toml").replacen(
        "name = \"quickstart\"",
        "name = \"my-scenario\"",
        1,
    )
}

fn run(
    path: &Path,
    out: Option<PathBuf>,
    (seed, replications, threads): (Option<u64>, Option<u32>, Option<u32>),
    plots: bool,
    shard: Option<crate::shard::Shard>,
) -> Result<(), CliError> {
    let mut scenario = load_scenario(path)?;
    // Read after a successful load, so it exists; copied into the run folder as its input.
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Other(e.into()))?;
    if let Some(seed) = seed {
        scenario.simulation.seed = seed;
    }
    if let Some(n) = replications {
        scenario.simulation.replications = n;
        let bound = lcsim_core::limits::MAX_REPLICATIONS;
        if !(1..=bound).contains(&n) {
            return Err(CliError::Input(format!(
                "--replications must be from 1 to {bound}, got {n}"
            )));
        }
        lcsim_core::scenario::check_run_size(&scenario).map_err(|p| {
            CliError::Input(format!(
                "--replications {n}: {}{}",
                p.message,
                p.hint.map(|h| format!("\nhint: {h}")).unwrap_or_default()
            ))
        })?;
    }
    for w in &scenario.warnings {
        eprintln!("warning: {w}");
    }
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        pool = pool.num_threads(check_threads("--threads", n)?);
    }
    let pool = pool.build().map_err(|e| CliError::Other(e.into()))?;
    if let Some(s) = shard {
        let dir = out.unwrap_or_else(|| {
            Path::new("output").join(format!("{}-shard-{}-of-{}", scenario.name, s.index, s.count))
        });
        return crate::shard::run_shard(&scenario, (path, &text), s, &dir, &pool);
    }
    let out_dir = out.unwrap_or_else(|| Path::new("output").join(&scenario.name));
    // Refused before any work starts; checked again when the results are swapped in.
    check_replaceable("--out", &out_dir)?;

    let started = Instant::now();
    let mut output = pool.install(|| simulate_with_progress(&scenario));
    output.summary.wall_seconds = started.elapsed().as_secs_f64();

    write_run_folder(Staging::new("--out", &out_dir)?, &output, &text, plots)?;
    print_summary(&output.summary, &out_dir, plots);
    Ok(())
}

/// `lcsim plot RUN_DIR`: charts and report from the files of a finished run.
fn plot(dir: &Path) -> Result<(), CliError> {
    if !dir.join("summary.json").is_file() {
        return Err(CliError::Input(format!(
            "{} holds no summary.json\nhint: give a folder written by `lcsim run` (default output/<scenario name>/)",
            dir.display()
        )));
    }
    if !dir.join(MARKER).is_file() {
        return Err(CliError::Input(format!(
            "{} is not an lcsim run folder (it has no `{MARKER}` file), so lcsim will not write into it\nhint: run the scenario again with `lcsim run`",
            dir.display()
        )));
    }
    let files = lcsim_report::render(dir).map_err(|e| match e {
        lcsim_report::ReportError::Input { .. } | lcsim_report::ReportError::Polars(_) => {
            CliError::Input(format!("{e}\nhint: the run folder may be from another lcsim version; run the scenario again"))
        }
        e => CliError::Other(e.into()),
    })?;
    say!("written: {} files in {} (plots/, report.md, report.html)", files.len(), dir.display());
    Ok(())
}

/// Runs the engine with a progress bar whose length is the run's expected requests, all months
/// and replications together.
fn simulate_with_progress(scenario: &Scenario) -> RunOutput {
    let expected = (scenario.expected_requests() as u64).max(1);
    with_progress(expected, "requests", |tick| lcsim_engine::run(scenario, tick))
}

fn check(path: &Path) -> Result<(), CliError> {
    let scenario = load_scenario(path)?;
    let sim = &scenario.simulation;
    let length = match sim.horizon {
        Some(h) => format!(
            "{} months, {} h simulated per month (after a {} h warm-up)",
            h.months,
            h.window_ms / MS_PER_HOUR,
            sim.warmup_ms / MS_PER_HOUR
        ),
        None => format!(
            "{} h (warm-up {} h)",
            sim.duration_ms / MS_PER_HOUR,
            sim.warmup_ms / MS_PER_HOUR
        ),
    };
    say!(
        "ok: {} — {} replication(s) × {length}, seed {}, mean arrival rate {:.4}/s",
        scenario.name,
        sim.replications,
        sim.seed,
        scenario.traffic.arrivals.mean_rate_per_s()
    );
    for d in &scenario.deployments {
        if let Model::Hybrid(h) = &d.model {
            let name = |k: usize| scenario.deployments[k].name.as_str();
            say!(
                "  {}: hybrid, policy {}, local '{}', cloud '{}'{}",
                d.name,
                format!("{:?}", h.policy).to_lowercase(),
                name(h.local),
                name(h.cloud),
                if h.data_must_stay_local > 0.0 {
                    format!(", {:.0}% of requests stay local", 100.0 * h.data_must_stay_local)
                } else {
                    String::new()
                }
            );
            continue;
        }
        let load = match scenario.offered_load(d) {
            Some((mean, peak)) => format!("offered load {mean:.3} (peak {peak:.3})"),
            None => "unlimited concurrency".to_string(),
        };
        say!("  {}: mean service {:.1} ms, {load}", d.name, scenario.mean_service_ms(d));
    }
    for w in &scenario.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}
