//! Each command reads like the pipeline it runs: load scenario → simulate → write report.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lcsim_core::scenario::Model;
use lcsim_core::scenario::{HOURS_PER_MONTH, MS_PER_HOUR, Scenario};
use lcsim_engine::RunOutput;

use crate::cli::{Cli, Command};
use crate::load::load_scenario;
use crate::output::{print_summary, write_run_folder};

/// What can go wrong, by exit code.
#[derive(Debug)]
pub enum CliError {
    /// The user's input is invalid: exit code 2.
    Input(String),
    /// Anything else: exit code 1.
    Other(anyhow::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) => 2,
            CliError::Other(_) => 1,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Input(m) => f.write_str(m),
            CliError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Other(e)
    }
}

pub fn dispatch(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Run { scenario, out, seed, replications, threads, no_plots } => {
            run(&scenario, out, seed, replications, threads, !no_plots)
        }
        Command::Plot { run_dir } => plot(&run_dir),
        Command::Check { scenario } => check(&scenario),
        Command::Init => {
            say!("{}", init_scenario().trim_end());
            Ok(())
        }
        Command::Calibrate(c) => crate::calibrate::calibrate(c),
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
    seed: Option<u64>,
    replications: Option<u32>,
    threads: Option<u32>,
    plots: bool,
) -> Result<(), CliError> {
    let mut scenario = load_scenario(path)?;
    // Read after a successful load, so it exists; copied into the run folder as its input.
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Other(e.into()))?;
    if let Some(seed) = seed {
        scenario.simulation.seed = seed;
    }
    if let Some(n) = replications {
        scenario.simulation.replications = n;
    }
    for w in &scenario.warnings {
        eprintln!("warning: {w}");
    }
    let out_dir = out.unwrap_or_else(|| Path::new("output").join(&scenario.name));
    if out_dir.file_name().is_none() {
        return Err(CliError::Input(format!(
            "--out {} names no folder of its own; the run folder replaces it whole\nhint: e.g. --out output/my-run",
            out_dir.display()
        )));
    }
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        pool = pool.num_threads(n as usize);
    }
    let pool = pool.build().map_err(|e| CliError::Other(e.into()))?;

    let started = Instant::now();
    let mut output = pool.install(|| simulate_with_progress(&scenario));
    output.summary.wall_seconds = started.elapsed().as_secs_f64();

    write_run_folder(&out_dir, &output, &text, plots)?;
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
    let files = lcsim_report::render(dir).map_err(|e| match e {
        lcsim_report::ReportError::Input { .. } | lcsim_report::ReportError::Polars(_) => {
            CliError::Input(format!("{e}\nhint: the run folder may be from another lcsim version; run the scenario again"))
        }
        e => CliError::Other(e.into()),
    })?;
    say!("written: {} files in {} (plots/, report.md, report.html)", files.len(), dir.display());
    Ok(())
}

/// Expected number of requests of a run, for the progress bar's length.
fn expected_requests(scenario: &Scenario) -> u64 {
    let sim = &scenario.simulation;
    let months = sim.duration_ms / MS_PER_HOUR / HOURS_PER_MONTH;
    let g = (1.0 + scenario.traffic.growth_per_month).ln();
    let mean_growth = if g.abs() < 1e-12 { 1.0 } else { (g * months).exp_m1() / (g * months) };
    let per_rep =
        scenario.traffic.arrivals.mean_rate_per_s() * sim.duration_ms / 1000.0 * mean_growth;
    (per_rep * f64::from(sim.replications)) as u64
}

/// Runs the engine; after a second, shows a progress bar on stderr until it is done.
fn simulate_with_progress(scenario: &Scenario) -> RunOutput {
    let done_requests = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let started = Instant::now();
            let mut bar: Option<ProgressBar> = None;
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if bar.is_none() && started.elapsed() > Duration::from_secs(1) {
                    let b = ProgressBar::with_draw_target(
                        Some(expected_requests(scenario).max(1)),
                        ProgressDrawTarget::stderr(),
                    );
                    b.set_style(
                        ProgressStyle::with_template(
                            "{elapsed_precise} [{bar:40}] {percent:>3}% {human_pos} requests ({per_sec}, eta {eta})",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_position(done_requests.load(Ordering::Relaxed));
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        let output = lcsim_engine::run(scenario, &|n| {
            done_requests.fetch_add(n, Ordering::Relaxed);
        });
        finished.store(true, Ordering::Relaxed);
        output
    })
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
