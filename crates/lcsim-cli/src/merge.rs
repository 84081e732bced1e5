//! `lcsim merge DIR...`: checks that the shards belong together (same scenario bytes, seed,
//! replications, version and command) and writes the folder one process would have written;
//! a sweep's or sensitivity analysis's points are rebuilt from the command line the shards ran.

use crate::error::CliError;
use crate::outdir::{Staging, check_replaceable};
use crate::output::{print_summary, write_run_folder};
use crate::shard::{Payload, PointPart, read_shard, sha256_hex};
use clap::Parser as _;
use lcsim_core::Scenario;
use lcsim_engine::Partial;
use std::path::{Path, PathBuf};

/// `lcsim merge DIR...`: the run folder of the shards' run.
pub fn merge(dirs: &[PathBuf], out: Option<PathBuf>, plots: bool) -> Result<(), CliError> {
    let mut shards = Vec::new();
    for d in dirs {
        shards.push((d, read_shard(d)?));
    }
    let (first_dir, first) = &shards[0];
    for (d, s) in &shards[1..] {
        let differs = |what: &str, a: String, b: String| {
            CliError::Input(format!(
                "{} and {} come from different runs: {what} {a} vs {b}\nhint: merge the shards of one run (same scenario file, --seed and --replications)",
                first_dir.display(),
                d.display()
            ))
        };
        if s.scenario_sha256 != first.scenario_sha256 {
            return Err(differs(
                "scenario (SHA-256)",
                first.scenario_sha256[..12].into(),
                s.scenario_sha256[..12].into(),
            ));
        }
        if s.seed != first.seed {
            return Err(differs("seed", first.seed.to_string(), s.seed.to_string()));
        }
        if s.replications != first.replications {
            return Err(differs(
                "replications",
                first.replications.to_string(),
                s.replications.to_string(),
            ));
        }
        if s.count != first.count {
            return Err(differs("shard count", first.count.to_string(), s.count.to_string()));
        }
    }
    let n = first.count;
    let mut by_index: Vec<Option<&PathBuf>> = vec![None; n as usize];
    for (d, s) in &shards {
        if let Some(other) = by_index[s.index as usize] {
            return Err(CliError::Input(format!(
                "shard {}/{n} is given twice: {} and {}",
                s.index,
                other.display(),
                d.display()
            )));
        }
        by_index[s.index as usize] = Some(d);
    }
    let missing: Vec<String> =
        (0..n).filter(|i| by_index[*i as usize].is_none()).map(|i| format!("{i}/{n}")).collect();
    if !missing.is_empty() {
        return Err(CliError::Input(format!(
            "shard(s) {} missing: a merge needs all {n}",
            missing.join(", ")
        )));
    }
    shards.sort_by_key(|(_, s)| s.index);
    let wall = shards.iter().map(|(_, s)| s.wall_seconds).fold(0.0, f64::max);
    let first = &shards[0].1;
    let (scenario_path, text, seed, replications) =
        (first.scenario_path.clone(), first.scenario_text.clone(), first.seed, first.replications);
    let payloads: Vec<Payload> = shards.into_iter().map(|(_, s)| s.payload).collect();
    if payloads.iter().all(|p| matches!(p, Payload::Run(_))) {
        // The scenario as every shard read it: its text, with the files it names resolved
        // against the folder the shards read it from.
        let origin = scenario_path.display().to_string();
        let dir = scenario_path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let mut scenario =
            lcsim_core::parse_scenario(&origin, &text, &crate::load::RelativeTo { dir })
                .map_err(|e| CliError::Input(format!("{e}\nhint: the merge reads the files the scenario names from where the shards read them")))?;
        scenario.simulation.seed = seed;
        scenario.simulation.replications = replications;
        let partial = payloads
            .into_iter()
            .filter_map(|p| match p {
                Payload::Run(p) => Some(p),
                Payload::Plan { .. } => None,
            })
            .reduce(lcsim_engine::merge)
            .expect("at least one shard");
        let mut output = lcsim_engine::summarize(&scenario, partial);
        output.summary.wall_seconds = wall;
        let out_dir = out.unwrap_or_else(|| Path::new("output").join(&scenario.name));
        check_replaceable("--out", &out_dir)?;
        write_run_folder(Staging::new("--out", &out_dir)?, &output, &text, plots)?;
        print_summary(&output.summary, &out_dir, plots);
        return Ok(());
    }
    merge_plan(payloads, (&scenario_path, &text), out, plots, wall)
}

/// A command line without its `--out` and `--shard` (which differ between shards).
fn defining(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args.iter().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        if a == "--out" || a == "--shard" {
            skip = true;
            continue;
        }
        if a.starts_with("--out=") || a.starts_with("--shard=") {
            continue;
        }
        out.push(a.clone());
    }
    out
}

/// Merges the shards of a sweep or sensitivity analysis: the points are built again from the
/// command line the shards ran, each point's parts merged in replication order.
fn merge_plan(
    payloads: Vec<Payload>,
    (scenario_path, text): (&Path, &str),
    out: Option<PathBuf>,
    plots: bool,
    wall: f64,
) -> Result<(), CliError> {
    let mut command: Option<Vec<String>> = None;
    let mut parts: Vec<PointPart> = Vec::new();
    for p in payloads {
        let Payload::Plan { args, parts: mine } = p else {
            return Err(CliError::Input(
                "the shards mix `lcsim run --shard` with a sweep or sensitivity shard".into(),
            ));
        };
        match &command {
            None => command = Some(args),
            Some(c) if defining(c) != defining(&args) => {
                return Err(CliError::Input(format!(
                    "the shards ran different commands: `{}` vs `{}`",
                    defining(c).join(" "),
                    defining(&args).join(" ")
                )));
            }
            Some(_) => {}
        }
        parts.extend(mine);
    }
    let command = command.expect("at least one shard");
    let current = std::fs::read_to_string(scenario_path).map_err(|e| {
        CliError::Input(format!(
            "{}: cannot read the scenario the shards ran: {e}\nhint: merge where the shards' scenario path is readable",
            scenario_path.display()
        ))
    })?;
    if sha256_hex(&current) != sha256_hex(text) {
        return Err(CliError::Input(format!(
            "{} has changed since the shards ran\nhint: run the shards again, or restore the file",
            scenario_path.display()
        )));
    }
    let cli = crate::cli::Cli::try_parse_from(&command)
        .map_err(|e| CliError::Input(format!("the shards' command line does not parse: {e}")))?;
    let fix = |flags: &mut crate::cli::PlanFlags| {
        flags.scenario = scenario_path.to_path_buf();
        flags.shard = None;
        flags.out.clone_from(&out);
        flags.no_plots = !plots;
    };
    let summarize_points = |scenarios: &[Scenario], mut parts: Vec<PointPart>| {
        parts.sort_by_key(|p| (p.point, p.first));
        let mut by_point: Vec<Option<Partial>> = (0..scenarios.len()).map(|_| None).collect();
        for p in parts {
            let slot = by_point.get_mut(p.point as usize).ok_or_else(|| {
                CliError::Input(format!(
                    "a shard holds point {}, which the command does not have",
                    p.point
                ))
            })?;
            *slot = Some(match slot.take() {
                None => p.partial,
                Some(a) => lcsim_engine::merge(a, p.partial),
            });
        }
        by_point
            .into_iter()
            .zip(scenarios)
            .enumerate()
            .map(|(i, (p, s))| {
                let p =
                    p.ok_or_else(|| CliError::Input(format!("no shard holds point {}", i + 1)))?;
                if p.stats.len() != s.simulation.replications as usize {
                    return Err(CliError::Input(format!(
                        "point {} has {} of its {} replications",
                        i + 1,
                        p.stats.len(),
                        s.simulation.replications
                    )));
                }
                Ok(lcsim_engine::summarize(s, p).summary)
            })
            .collect::<Result<Vec<_>, CliError>>()
    };
    match cli.command {
        crate::cli::Command::Sweep(mut a) => {
            fix(&mut a.flags);
            let plan = crate::sweep::plan(&a)?;
            let summaries = summarize_points(&plan.scenarios, parts)?;
            crate::sweep::finish(&a, plan, &summaries, wall)
        }
        crate::cli::Command::Sensitivity(mut a) => {
            fix(&mut a.flags);
            let plan = crate::sensitivity::plan(&a)?;
            let summaries = summarize_points(&plan.runs, parts)?;
            crate::sensitivity::finish(&a, plan, &summaries, wall)
        }
        _ => Err(CliError::Input(
            "the shards' command is neither a sweep nor a sensitivity analysis".into(),
        )),
    }
}
