//! `lcsim capacity`: the fewest servers (local) or instances (cloud) that meet the `[slo]` at
//! the scenario's traffic, and the largest arrival rate the scenario's own count holds.
//!
//! **Meets the SLO** means, over all replications' requests pooled: p95 latency, TTFT and
//! TPOT within their targets and mean availability at least its target (the targets given).
//!
//! **Fewest servers:** doubling from 1 until the SLO holds, then bisection, every count run
//! with the scenario's seed (common random numbers: the counts see the same requests).
//!
//! **Largest rate:** the arrival rate is scaled by a factor (`rate_per_s`, or a trace's
//! `time_scale`). Each replication `r` is a run of its own with seed
//! `splitmix64(seed + r) >> 11`, and the factor is bisected per replication until the bracket is
//! within 0.2 %; the answer is the mean of the replications' largest rates with Student's t
//! 95 % interval (the method of independent replications).

use std::fmt::Write as _;

use lcsim_core::reliability::Slo;
use lcsim_core::scenario::{Arrivals, Model, Scenario};
use lcsim_core::summary::{DeploymentSummary, RunSummary};
use rayon::prelude::*;
use serde::Serialize;

use crate::cli::CapacityArgs;
use crate::error::CliError;
use crate::outdir::{Staging, check_replaceable};
use crate::points::{Base, pool, run_quiet};
use crate::progress::with_progress;

/// Whether deployment summary `d` meets `slo`.
pub fn meets(slo: &Slo, d: &DeploymentSummary) -> bool {
    slo.latency_p95_ms.is_none_or(|t| d.latency_ms.p95 <= t)
        && slo.ttft_p95_ms.is_none_or(|t| d.ttft_ms.p95 <= t)
        && slo.tpot_p95_ms.is_none_or(|t| d.tpot_ms.is_none_or(|m| m.p95 <= t))
        && slo.availability.is_none_or(|a| d.availability.mean >= a)
}

/// One server count tried.
#[derive(Debug, Clone, Serialize)]
struct Tried {
    servers: u32,
    latency_p95_ms: f64,
    /// Mean and 95 % CI of the replications' own p95 latency (their spread).
    latency_p95_ms_per_replication: Interval,
    ttft_p95_ms: f64,
    availability: f64,
    slo_attainment: Option<f64>,
    meets_slo: bool,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Interval {
    mean: f64,
    ci95: Option<[f64; 2]>,
}

fn interval(values: &[f64]) -> Interval {
    let (mean, _, ci95) = lcsim_engine::ci::mean_ci95(values);
    Interval { mean, ci95 }
}

#[derive(Debug, Serialize)]
struct SloOut {
    latency_p95_ms: Option<f64>,
    ttft_p95_ms: Option<f64>,
    tpot_p95_ms: Option<f64>,
    availability: Option<f64>,
}

#[derive(Debug, Serialize)]
struct MaxRate {
    mean: f64,
    ci95: Option<[f64; 2]>,
    /// Each replication's largest rate (requests/s).
    per_replication: Vec<f64>,
    /// The servers or instances these rates are for (the scenario's own count).
    servers: Option<u32>,
}

#[derive(Debug, Serialize)]
struct CapacityOut {
    deployment: String,
    /// Fewest servers or instances meeting the SLO at the scenario's traffic; null when the
    /// deployment has unlimited concurrency, or when none up to --max-servers does.
    servers: Option<u32>,
    /// The key varied for `servers`.
    servers_key: Option<String>,
    max_rate_per_s: MaxRate,
    slo: SloOut,
    /// The scenario's mean arrival rate, requests/s.
    traffic_rate_per_s: f64,
    replications: u32,
    seed: u64,
    search: Vec<Tried>,
}

/// The key holding the deployment's server count, and its value.
fn servers_key(s: &Scenario, k: usize) -> Option<(String, u32)> {
    let d = &s.deployments[k];
    match &d.model {
        Model::Local(l) => Some((format!("deployment.{}.servers", d.name), l.servers)),
        Model::Cloud(c) => match (&c.autoscale, c.max_concurrency) {
            (Some(a), _) => a
                .max_instances
                .map(|m| (format!("deployment.{}.autoscale.max_instances", d.name), m)),
            (None, Some(m)) => Some((format!("deployment.{}.max_concurrency", d.name), m)),
            (None, None) => None,
        },
        Model::Hybrid(_) => None,
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub fn run(args: CapacityArgs) -> Result<(), CliError> {
    if args.flags.shard.is_some() {
        return Err(CliError::Input(
            "lcsim capacity is not sharded: each step of its search depends on the last\nhint: run it without --shard; shard `lcsim sweep` over the server count instead".into(),
        ));
    }
    let base = Base::load(&args.flags)?;
    let s = &base.scenario;
    let slo = s.slo.ok_or_else(|| {
        CliError::Input(format!(
            "{}: capacity is measured against the [slo], and the scenario has none\nhint: add [slo] with latency_p95_ms (and availability, ttft_p95_ms, tpot_p95_ms)",
            base.origin
        ))
    })?;
    let names: Vec<&str> = s.deployments.iter().map(|d| d.name.as_str()).collect();
    let k = names.iter().position(|n| *n == args.deployment).ok_or_else(|| {
        CliError::Input(format!(
            "--deployment: no deployment is named `{}`\nhint: deployments: {}",
            args.deployment,
            names.join(", ")
        ))
    })?;
    if let Model::Hybrid(h) = &s.deployments[k].model {
        return Err(CliError::Input(format!(
            "--deployment {}: a hybrid has no servers of its own\nhint: size its members, `{}` or `{}`",
            args.deployment, names[h.local], names[h.cloud]
        )));
    }
    let out = base.out_dir(&args.flags, "capacity");
    check_replaceable("--out", &out)?;
    let (rate_key, rate_base) = rate_key(&base)?;
    let pool = pool(args.flags.threads)?;
    let reps = s.simulation.replications;
    let estimate = u64::from(reps) * 24 + 24;
    let (search, servers, per_rep) = pool.install(|| {
        with_progress(estimate, "runs", |tick| -> Result<_, CliError> {
            let (search, servers) = fewest_servers(&base, k, &slo, args.max_servers, tick)?;
            let per_rep = (0..reps)
                .into_par_iter()
                .map(|r| largest_factor(&base, k, &slo, (&rate_key, rate_base), r, tick))
                .collect::<Result<Vec<f64>, CliError>>()?;
            Ok((search, servers, per_rep))
        })
    })?;
    let traffic = s.traffic.arrivals.mean_rate_per_s();
    let rates: Vec<f64> = per_rep.iter().map(|f| f * traffic).collect();
    let (mean, _, ci95) = lcsim_engine::ci::mean_ci95(&rates);
    let result = CapacityOut {
        deployment: args.deployment.clone(),
        servers,
        servers_key: servers_key(s, k).map(|x| x.0),
        max_rate_per_s: MaxRate {
            mean,
            ci95,
            per_replication: rates.clone(),
            servers: servers_key(s, k).map(|x| x.1),
        },
        slo: SloOut {
            latency_p95_ms: slo.latency_p95_ms,
            ttft_p95_ms: slo.ttft_p95_ms,
            tpot_p95_ms: slo.tpot_p95_ms,
            availability: slo.availability,
        },
        traffic_rate_per_s: traffic,
        replications: reps,
        seed: s.simulation.seed,
        search,
    };
    let md = markdown(&base, &result);
    let staging = Staging::new("--out", &out)?;
    let tmp = staging.path();
    let write = || -> anyhow::Result<()> {
        std::fs::write(tmp.join("capacity.json"), serde_json::to_string_pretty(&result)? + "\n")?;
        std::fs::write(tmp.join("scenario.toml"), &base.text)?;
        lcsim_report::page::write(tmp, &format!("{} — capacity", s.name), &md)?;
        Ok(())
    };
    write()?;
    staging.commit()?;
    for line in answer(&result) {
        say!("{line}");
    }
    say!("written: {} (capacity.json, report.md, report.html)", out.display());
    Ok(())
}

/// The key that scales the arrival rate, and its value in the scenario.
fn rate_key(base: &Base) -> Result<(String, f64), CliError> {
    if matches!(base.scenario.traffic.arrivals, Arrivals::Trace { .. }) {
        let v = base.editable.get("traffic.time_scale").ok().flatten().unwrap_or(1.0);
        return Ok(("traffic.time_scale".into(), v));
    }
    match base.editable.get("traffic.rate_per_s") {
        Ok(Some(v)) => Ok(("traffic.rate_per_s".into(), v)),
        _ => Err(CliError::Input(format!(
            "{}: the largest rate is searched by scaling traffic.rate_per_s (or a trace's time_scale), and this traffic has neither\nhint: a two-state bursty pattern (rates_per_s) is not scaled; write it with rate_per_s and cv",
            base.origin
        ))),
    }
}

fn deployment_of(s: &RunSummary, k: usize) -> &DeploymentSummary {
    &s.deployments[k]
}

/// Doubling, then bisection, on the server count, with the scenario's seed.
fn fewest_servers(
    base: &Base,
    k: usize,
    slo: &Slo,
    max: u32,
    tick: &(dyn Fn(u64) + Sync),
) -> Result<(Vec<Tried>, Option<u32>), CliError> {
    let Some((key, own)) = servers_key(&base.scenario, k) else {
        return Ok((Vec::new(), None));
    };
    let mut tried: Vec<Tried> = Vec::new();
    let mut try_count = |c: u32| -> Result<bool, CliError> {
        if let Some(t) = tried.iter().find(|t| t.servers == c) {
            return Ok(t.meets_slo);
        }
        let s = match base.at(&[(key.as_str(), f64::from(c))], &format!("{key} = {c}")) {
            Ok(s) => s,
            // Fewer servers than the scenario's own that it refuses are overloaded (offered
            // load ≥ 1 with an unlimited queue): they do not meet the SLO.
            Err(_) if c < own => {
                tried.push(Tried {
                    servers: c,
                    latency_p95_ms: f64::INFINITY,
                    latency_p95_ms_per_replication: Interval { mean: f64::INFINITY, ci95: None },
                    ttft_p95_ms: f64::INFINITY,
                    availability: 0.0,
                    slo_attainment: None,
                    meets_slo: false,
                });
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let out = run_quiet(&s);
        tick(1);
        let d = deployment_of(&out.summary, k);
        let per: Vec<f64> = out.per_replication.iter().map(|r| r[k].latency_p95_ms).collect();
        let ok = meets(slo, d);
        tried.push(Tried {
            servers: c,
            latency_p95_ms: d.latency_ms.p95,
            latency_p95_ms_per_replication: interval(&per),
            ttft_p95_ms: d.ttft_ms.p95,
            availability: d.availability.mean,
            slo_attainment: d.slo.map(|x| x.attainment),
            meets_slo: ok,
        });
        Ok(ok)
    };
    let (mut lo, mut hi) = (0u32, 1u32);
    loop {
        if try_count(hi)? {
            break;
        }
        lo = hi;
        if hi >= max {
            tried.sort_by_key(|t| t.servers);
            return Ok((tried, None));
        }
        hi = (hi * 2).min(max);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if try_count(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    tried.sort_by_key(|t| t.servers);
    Ok((tried, Some(hi)))
}

/// Replication `r`'s largest traffic factor that still meets the SLO.
fn largest_factor(
    base: &Base,
    k: usize,
    slo: &Slo,
    (key, value): (&str, f64),
    r: u32,
    tick: &(dyn Fn(u64) + Sync),
) -> Result<f64, CliError> {
    // 53 bits: the seed travels through the scenario as an exactly representable number.
    let seed = splitmix64(base.scenario.simulation.seed.wrapping_add(u64::from(r))) >> 11;
    let holds = |f: f64| -> Result<bool, CliError> {
        // A trace replays faster with a smaller time_scale.
        let v = if key == "traffic.time_scale" { value / f } else { value * f };
        let s = base.at(
            &[("simulation.seed", seed as f64), ("simulation.replications", 1.0), (key, v)],
            &format!("{key} = {}", lcsim_core::check::num(v)),
        );
        let s = match s {
            Ok(s) => s,
            // Past what a run may simulate: the rate is not held (the bracket stops here).
            Err(_) if f > 1.0 => return Ok(false),
            Err(e) => return Err(e),
        };
        let out = run_quiet(&s);
        tick(1);
        Ok(meets(slo, deployment_of(&out.summary, k)))
    };
    let (mut lo, mut hi);
    if holds(1.0)? {
        (lo, hi) = (1.0, 2.0);
        while holds(hi)? {
            lo = hi;
            hi *= 2.0;
            if hi > 65_536.0 {
                return Ok(lo);
            }
        }
    } else {
        (lo, hi) = (0.5, 1.0);
        while !holds(lo)? {
            hi = lo;
            lo /= 2.0;
            if lo < 1.0 / 65_536.0 {
                return Ok(0.0);
            }
        }
    }
    while (hi - lo) / hi > 0.002 {
        let mid = 0.5 * (lo + hi);
        if holds(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

fn rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn answer(c: &CapacityOut) -> Vec<String> {
    let mut out = Vec::new();
    let noun = match c.servers_key.as_deref().and_then(|k| k.rsplit('.').next()) {
        Some("max_instances") => ("instance", "instances"),
        Some("max_concurrency") => ("concurrency slot", "concurrency slots"),
        _ => ("server", "servers"),
    };
    let unit = |n: u32| if n == 1 { noun.0 } else { noun.1 };
    match (c.servers, &c.servers_key) {
        (Some(n), _) => out.push(format!(
            "{}: {n} {} meet the SLO at the scenario's {} requests/s (fewest tried that do; {} count(s) run).",
            c.deployment,
            unit(n),
            rate(c.traffic_rate_per_s),
            c.search.len()
        )),
        (None, Some(_)) => out.push(format!(
            "{}: no count up to --max-servers meets the SLO at {} requests/s.",
            c.deployment,
            rate(c.traffic_rate_per_s)
        )),
        (None, None) => out.push(format!(
            "{}: unlimited concurrency, so no server count to size; the rate below is what the endpoint holds.",
            c.deployment
        )),
    }
    let m = &c.max_rate_per_s;
    out.push(format!(
        "With its {} {}, it holds the SLO up to {} requests/s{} over {} replication(s).",
        m.servers.map_or("unlimited".into(), |s| s.to_string()),
        m.servers.map_or("concurrency", unit),
        rate(m.mean),
        m.ci95.map_or(String::new(), |[a, b]| format!(" (95 % CI {}–{})", rate(a), rate(b))),
        c.replications
    ));
    out
}

fn markdown(base: &Base, c: &CapacityOut) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {} — capacity of `{}`\n", base.scenario.name, c.deployment);
    let t = &c.slo;
    let targets: Vec<String> = [
        t.latency_p95_ms.map(|v| format!("p95 latency ≤ {v} ms")),
        t.ttft_p95_ms.map(|v| format!("p95 TTFT ≤ {v} ms")),
        t.tpot_p95_ms.map(|v| format!("p95 TPOT ≤ {v} ms")),
        t.availability.map(|v| format!("availability ≥ {:.3} %", 100.0 * v)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let _ = writeln!(
        md,
        "SLO: {}. Seed {}, {} replication(s).\n",
        targets.join(", "),
        c.seed,
        c.replications
    );
    let _ = writeln!(md, "## Answer\n");
    for line in answer(c) {
        let _ = writeln!(md, "- {line}");
    }
    if !c.search.is_empty() {
        let _ = writeln!(md, "\n## Counts tried (same seed)\n");
        let _ = writeln!(
            md,
            "| servers | p95 latency (ms) | replications' p95 (mean [95 % CI]) | availability | meets the SLO |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|");
        for x in &c.search {
            let p = &x.latency_p95_ms_per_replication;
            let _ = writeln!(
                md,
                "| {} | {:.0} | {:.0}{} | {:.4} | {} |",
                x.servers,
                x.latency_p95_ms,
                p.mean,
                p.ci95.map_or(String::new(), |[a, b]| format!(" [{a:.0}, {b:.0}]")),
                x.availability,
                if x.meets_slo { "yes" } else { "no" }
            );
        }
    }
    let _ = writeln!(
        md,
        "\nEach replication's largest rate (requests/s): {}.",
        c.max_rate_per_s.per_replication.iter().map(|r| rate(*r)).collect::<Vec<_>>().join(", ")
    );
    md
}
