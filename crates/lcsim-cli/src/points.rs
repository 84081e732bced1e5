//! The scenario a planning command (sweep, sensitivity, capacity) varies: loaded and checked
//! once, then turned into one validated scenario per point with some keys set.

use std::path::{Path, PathBuf};

use lcsim_core::Scenario;
use lcsim_core::scenario::{parse_wire, scenario_from_wire};
use lcsim_core::sweep::Editable;
use lcsim_core::wire::ScenarioWire;
use lcsim_engine::RunOutput;

use crate::error::{CliError, check_threads};
use crate::load::{RelativeTo, load_scenario};

/// The flags every planning command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanFlags {
    /// Scenario TOML file. Relative paths inside it are resolved against its folder.
    pub scenario: PathBuf,
    /// Output folder [default: output/<scenario name>-<command>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Master seed, overriding [simulation] seed (every point uses it: common random numbers).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Replications per point, overriding [simulation] replications.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub replications: Option<u32>,
    /// Worker threads [default: one per core]. Results are identical for any value.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Skip the charts (plots/) and the report (report.md, report.html).
    #[arg(long)]
    pub no_plots: bool,
    /// Run only shard I of N and write its partial result to --out; `lcsim merge` combines
    /// the N folders (docs/cluster.md). With more points than shards a shard runs whole
    /// points, else replications [I·R/N, (I+1)·R/N) of every point. `auto` reads the
    /// scheduler's environment, as `lcsim run --shard auto` does.
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,
}

/// A loaded scenario, ready to be varied.
pub struct Base {
    pub origin: String,
    pub text: String,
    pub wire: ScenarioWire,
    pub editable: Editable,
    pub scenario: Scenario,
    files: RelativeTo,
}

impl Base {
    /// Loads `flags.scenario` (exit 2 with line and column if it is invalid) and applies
    /// `--seed` and `--replications`.
    pub fn load(flags: &PlanFlags) -> Result<Base, CliError> {
        let path = &flags.scenario;
        let scenario = load_scenario(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| CliError::Other(e.into()))?;
        let origin = path.display().to_string();
        let wire = parse_wire(&origin, &text).map_err(|e| CliError::Input(e.to_string()))?;
        let mut editable = Editable::new(&wire).map_err(|p| CliError::Input(p.message))?;
        if let Some(seed) = flags.seed {
            let seed = i64::try_from(seed).map_err(|_| {
                CliError::Input(format!("--seed must be at most {} here, got {seed}", i64::MAX))
            })?;
            editable.set("simulation.seed", seed as f64).map_err(CliError::Input)?;
        }
        if let Some(n) = flags.replications {
            editable.set("simulation.replications", f64::from(n)).map_err(CliError::Input)?;
        }
        let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let mut base = Base { origin, text, wire, editable, scenario, files: RelativeTo { dir } };
        if flags.seed.is_some() || flags.replications.is_some() {
            base.scenario = base.at(&[], "the scenario with --seed/--replications")?;
        }
        for w in &base.scenario.warnings {
            eprintln!("warning: {w}");
        }
        Ok(base)
    }

    /// The scenario with `values` set; `what` names the point in an error (exit 2).
    pub fn at(&self, values: &[(&str, f64)], what: &str) -> Result<Scenario, CliError> {
        let fail = |p: lcsim_core::error::Problem| {
            CliError::Input(format!(
                "{}: {what}: {}{}{}",
                self.origin,
                p.message,
                if p.key_path.is_empty() {
                    String::new()
                } else {
                    format!(" (key `{}`)", p.key_path)
                },
                p.hint.map(|h| format!("\nhint: {h}")).unwrap_or_default()
            ))
        };
        let wire = self.editable.with(values).map_err(fail)?;
        scenario_from_wire(&wire, &self.files).map_err(fail)
    }

    /// `--out`, or `output/<name>-<suffix>/`.
    pub fn out_dir(&self, flags: &PlanFlags, suffix: &str) -> PathBuf {
        flags
            .out
            .clone()
            .unwrap_or_else(|| Path::new("output").join(format!("{}-{suffix}", self.scenario.name)))
    }
}

/// A thread pool of `--threads` workers (default: one per core).
pub fn pool(threads: Option<u32>) -> Result<rayon::ThreadPool, CliError> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        pool = pool.num_threads(check_threads("--threads", n)?);
    }
    pool.build().map_err(|e| CliError::Other(e.into()))
}

/// Runs a scenario without a progress bar of its own.
pub fn run_quiet(s: &Scenario) -> RunOutput {
    lcsim_engine::run(s, &|_| {})
}

/// A point's values as `path = value, ...` for messages.
pub fn describe(paths: &[&str], values: &[f64]) -> String {
    paths
        .iter()
        .zip(values)
        .map(|(p, v)| format!("{p} = {}", lcsim_core::check::num(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}
