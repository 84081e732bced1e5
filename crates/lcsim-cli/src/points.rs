//! The scenario a planning command (sweep, sensitivity, capacity) varies: loaded and checked
//! once, then turned into one validated scenario per point with some keys set.

use std::path::{Path, PathBuf};

use lcsim_core::Scenario;
use lcsim_core::scenario::{parse_wire, scenario_from_wire};
use lcsim_core::sweep::Editable;
use lcsim_core::wire::ScenarioWire;
use lcsim_engine::RunOutput;

use crate::cli::PlanFlags;
use crate::error::{CliError, check_threads};
use crate::load::{RelativeTo, load_scenario};

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
