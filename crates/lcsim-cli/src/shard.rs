//! `lcsim run --shard I/N` and `lcsim merge`: a run split over the jobs of a cluster scheduler
//! and merged into exactly what one process would have written.
//!
//! Shard `I` of `N` simulates replications `[I·R/N, (I+1)·R/N)` and writes their mergeable
//! state (`partial.lcsim`: per-replication figures, histogram counts, monthly cost records),
//! not percentiles. `lcsim merge` checks that the partials are the `N` shards of one run
//! (same lcsim version, scenario text, seed and replications; each index once), merges them
//! in replication order and writes the normal run folder. Replication `i` draws only from
//! streams of `(seed, i)` and histograms merge by integer addition, so the merged
//! `summary.json` equals the unsharded run's byte for byte, except `wall_seconds`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lcsim_core::Scenario;
use lcsim_engine::Partial;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::CliError;
use crate::outdir::{Staging, check_replaceable};

/// The file a shard writes into its folder.
pub const PARTIAL_FILE: &str = "partial.lcsim";
/// Bumped when [`ShardFile`] or the engine's partial state changes shape.
pub(crate) const FORMAT: u32 = 2;

/// Which shard this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `I/N`, or `auto`: from `LCSIM_SHARD=I/N`, Slurm's `SLURM_ARRAY_TASK_ID` (minus
    /// `SLURM_ARRAY_TASK_MIN`) and `SLURM_ARRAY_TASK_COUNT`, or a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX` with `LCSIM_SHARDS=N`.
    pub fn parse(arg: &str) -> Result<Shard, CliError> {
        if arg == "auto" {
            return Self::from_env(&|k| std::env::var(k).ok());
        }
        Self::parse_pair(arg, "--shard")
    }

    fn parse_pair(arg: &str, what: &str) -> Result<Shard, CliError> {
        let bad = || {
            CliError::Input(format!(
                "{what} {arg}: expected I/N with 0 ≤ I < N (shard I of N, counted from 0), or `auto`"
            ))
        };
        let (i, n) = arg.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Shard, CliError> {
        if let Some(v) = var("LCSIM_SHARD") {
            return Self::parse_pair(&v, "LCSIM_SHARD");
        }
        let num = |k: &str| -> Result<Option<u32>, CliError> {
            var(k)
                .map(|v| {
                    v.trim()
                        .parse::<u32>()
                        .map_err(|_| CliError::Input(format!("{k}={v} is not a whole number")))
                })
                .transpose()
        };
        if let (Some(id), Some(count)) =
            (num("SLURM_ARRAY_TASK_ID")?, num("SLURM_ARRAY_TASK_COUNT")?)
        {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id.checked_sub(min).ok_or_else(|| {
                CliError::Input(format!(
                    "SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"
                ))
            })?;
            return Self::parse_pair(&format!("{index}/{count}"), "the Slurm array task");
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = num("LCSIM_SHARDS")?.ok_or_else(|| {
                CliError::Input("JOB_COMPLETION_INDEX is set but LCSIM_SHARDS is not\nhint: set LCSIM_SHARDS to the Job's completions (deploy/kubernetes/)".into())
            })?;
            return Self::parse_pair(&format!("{index}/{count}"), "the Kubernetes Job index");
        }
        Err(CliError::Input(
            "--shard auto: none of LCSIM_SHARD, SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with LCSIM_SHARDS is set\nhint: give the shard as --shard I/N".into(),
        ))
    }

    /// Replications `[I·R/N, (I+1)·R/N)`.
    pub fn range(&self, replications: u32) -> std::ops::Range<u64> {
        let (r, n, i) = (u64::from(replications), u64::from(self.count), u64::from(self.index));
        (i * r / n)..((i + 1) * r / n)
    }
}

/// What a shard writes: where it came from and its partial result.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ShardFile {
    pub(crate) format: u32,
    pub(crate) lcsim_version: String,
    pub(crate) scenario_name: String,
    /// SHA-256 of the scenario file's text, hex.
    pub(crate) scenario_sha256: String,
    pub(crate) scenario_text: String,
    /// Where the shard read the scenario (absolute): files it names resolve against its folder.
    pub(crate) scenario_path: PathBuf,
    pub(crate) seed: u64,
    pub(crate) replications: u32,
    pub(crate) index: u32,
    pub(crate) count: u32,
    pub(crate) wall_seconds: f64,
    pub(crate) payload: Payload,
}

/// What a shard computed.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Payload {
    /// `lcsim run --shard`: one range of replications.
    Run(Partial),
    /// `lcsim sweep` or `lcsim sensitivity --shard`: the command line that defines the points
    /// (the merge builds them again from it), and this shard's parts of them.
    Plan { args: Vec<String>, parts: Vec<PointPart> },
}

/// Replications `first..` of point `point`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PointPart {
    pub(crate) point: u32,
    pub(crate) first: u64,
    pub(crate) partial: Partial,
}

impl Payload {
    fn requests(&self) -> u64 {
        match self {
            Payload::Run(p) => p.generated,
            Payload::Plan { parts, .. } => parts.iter().map(|p| p.partial.generated).sum(),
        }
    }
}

/// What `shard.json` shows of a shard (the partial itself is binary).
#[derive(Debug, Serialize)]
struct ShardInfo<'a> {
    lcsim_version: &'a str,
    scenario: &'a str,
    scenario_sha256: &'a str,
    seed: u64,
    replications: u32,
    shard: String,
    work: String,
    requests_simulated: u64,
    wall_seconds: f64,
}

pub(crate) fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs shard `shard` of `scenario` and writes its folder.
pub fn run_shard(
    scenario: &Scenario,
    (path, text): (&Path, &str),
    shard: Shard,
    out: &Path,
    pool: &rayon::ThreadPool,
) -> Result<(), CliError> {
    let reps = scenario.simulation.replications;
    if shard.count > reps {
        return Err(CliError::Input(format!(
            "--shard {}/{}: more shards than the run's {reps} replications\nhint: use at most {reps} shards, or more replications",
            shard.index, shard.count
        )));
    }
    check_replaceable("--out", out)?;
    let range = shard.range(reps);
    let started = Instant::now();
    let partial = pool.install(|| lcsim_engine::run_replications(scenario, range.clone(), &|_| {}));
    let info = format!("replications {}..{} of {reps}", range.start, range.end);
    write_shard(scenario, (path, text), shard, out, Payload::Run(partial), started, &info)
}

/// Runs shard `shard` of the points of a sweep or sensitivity analysis and writes its folder:
/// whole points when there are at least as many points as shards, else replications
/// `[I·R/N, (I+1)·R/N)` of every point.
pub fn run_plan_shard(
    base: &crate::points::Base,
    scenarios: &[Scenario],
    shard: Shard,
    flags: &crate::cli::PlanFlags,
    pool: &rayon::ThreadPool,
) -> Result<(), CliError> {
    let n_points = scenarios.len() as u64;
    let (n, i) = (u64::from(shard.count), u64::from(shard.index));
    let jobs: Vec<(usize, std::ops::Range<u64>)> = if n_points >= n {
        ((i * n_points / n)..((i + 1) * n_points / n))
            .map(|p| (p as usize, 0..u64::from(scenarios[p as usize].simulation.replications)))
            .collect()
    } else {
        let least = scenarios.iter().map(|s| s.simulation.replications).min().unwrap_or(0);
        if shard.count > least {
            return Err(CliError::Input(format!(
                "--shard {}/{}: more shards than points ({n_points}) and than replications ({least})\nhint: use at most {} shards",
                shard.index,
                shard.count,
                n_points.max(u64::from(least))
            )));
        }
        (0..scenarios.len())
            .map(|p| (p, shard.range(scenarios[p].simulation.replications)))
            .collect()
    };
    let out = flags.out.clone().unwrap_or_else(|| {
        Path::new("output")
            .join(format!("{}-shard-{}-of-{}", base.scenario.name, shard.index, shard.count))
    });
    check_replaceable("--out", &out)?;
    let started = Instant::now();
    let parts = pool.install(|| {
        jobs.iter()
            .map(|(p, range)| PointPart {
                point: *p as u32,
                first: range.start,
                partial: lcsim_engine::run_replications(&scenarios[*p], range.clone(), &|_| {}),
            })
            .collect::<Vec<_>>()
    });
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let info = format!("{} part(s) of {n_points} points", parts.len());
    write_shard(
        &base.scenario,
        (&flags.scenario, &base.text),
        shard,
        &out,
        Payload::Plan { args, parts },
        started,
        &info,
    )
}

fn write_shard(
    scenario: &Scenario,
    (path, text): (&Path, &str),
    shard: Shard,
    out: &Path,
    payload: Payload,
    started: Instant,
    what: &str,
) -> Result<(), CliError> {
    let file = ShardFile {
        format: FORMAT,
        lcsim_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario_name: scenario.name.clone(),
        scenario_sha256: sha256_hex(text),
        scenario_text: text.to_string(),
        scenario_path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        seed: scenario.simulation.seed,
        replications: scenario.simulation.replications,
        index: shard.index,
        count: shard.count,
        wall_seconds: started.elapsed().as_secs_f64(),
        payload,
    };
    let bytes = postcard::to_stdvec(&file).map_err(|e| CliError::Other(e.into()))?;
    let info = ShardInfo {
        lcsim_version: &file.lcsim_version,
        scenario: &file.scenario_name,
        scenario_sha256: &file.scenario_sha256,
        seed: file.seed,
        replications: file.replications,
        shard: format!("{}/{}", shard.index, shard.count),
        work: what.to_string(),
        requests_simulated: file.payload.requests(),
        wall_seconds: file.wall_seconds,
    };
    let staging = Staging::new("--out", out)?;
    let tmp = staging.path();
    let write = || -> anyhow::Result<()> {
        std::fs::write(tmp.join(PARTIAL_FILE), &bytes)?;
        std::fs::write(tmp.join("shard.json"), serde_json::to_string_pretty(&info)? + "\n")?;
        std::fs::write(tmp.join("scenario.toml"), text)?;
        Ok(())
    };
    write()?;
    staging.commit()?;
    say!(
        "{} — shard {}/{}: {what}, {} requests in {:.2} s\nwritten: {} ({PARTIAL_FILE}, shard.json); merge all {} with `lcsim merge`",
        scenario.name,
        shard.index,
        shard.count,
        info.requests_simulated,
        info.wall_seconds,
        out.display(),
        shard.count
    );
    Ok(())
}

pub(crate) fn read_shard(dir: &Path) -> Result<ShardFile, CliError> {
    let path = dir.join(PARTIAL_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        CliError::Input(format!(
            "{}: cannot read {PARTIAL_FILE}: {e}\nhint: give folders written by `lcsim run --shard I/N`",
            dir.display()
        ))
    })?;
    let file: ShardFile = postcard::from_bytes(&bytes).map_err(|e| {
        CliError::Input(format!(
            "{}: not an lcsim shard (or from another lcsim version): {e}",
            path.display()
        ))
    })?;
    if file.format != FORMAT || file.lcsim_version != env!("CARGO_PKG_VERSION") {
        return Err(CliError::Input(format!(
            "{}: written by lcsim {} (shard format {}); this is lcsim {} (format {FORMAT})\nhint: run every shard and the merge with the same lcsim",
            path.display(),
            file.lcsim_version,
            file.format,
            env!("CARGO_PKG_VERSION")
        )));
    }
    if file.count == 0 || file.index >= file.count {
        return Err(CliError::Input(format!(
            "{}: shard {}/{} is not a shard of anything (damaged file?)",
            path.display(),
            file.index,
            file.count
        )));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_replication_once() {
        for (r, n) in [(7u32, 1u32), (7, 2), (7, 3), (7, 7), (1000, 7)] {
            let mut next = 0;
            for index in 0..n {
                let range = Shard { index, count: n }.range(r);
                assert_eq!(range.start, next);
                assert!(range.end > range.start);
                next = range.end;
            }
            assert_eq!(next, u64::from(r));
        }
    }

    #[test]
    fn the_index_comes_from_the_scheduler() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(a, _)| *a == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(
            Shard::from_env(&env(&[("LCSIM_SHARD", "2/5")])).unwrap(),
            Shard { index: 2, count: 5 }
        );
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(Shard::from_env(&slurm).unwrap(), Shard { index: 3, count: 4 });
        let k8s = env(&[("JOB_COMPLETION_INDEX", "0"), ("LCSIM_SHARDS", "3")]);
        assert_eq!(Shard::from_env(&k8s).unwrap(), Shard { index: 0, count: 3 });
        assert!(Shard::from_env(&env(&[("JOB_COMPLETION_INDEX", "0")])).is_err());
        assert!(Shard::from_env(&env(&[])).is_err());
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("1/0").is_err());
    }
}
