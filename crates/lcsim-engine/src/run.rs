//! Runs a scenario: independent replications in parallel, reduced in index order.

use lcsim_core::scenario::{MS_PER_HOUR, Model, Scenario};
use lcsim_core::summary::{DeploymentSummary, Moments, RunSummary};
use rayon::prelude::*;

use crate::arrivals::{ArrivalStream, Request};
use crate::ci::mean_ci95;
use crate::histogram::LogHistogram;
use crate::random::stream;
use crate::station::{DeploymentSim, Recorder};

/// Arrivals are generated and fed to every deployment in chunks of this many requests, so
/// memory does not grow with the length of a run.
const CHUNK: usize = 4096;

/// Per-replication figures of one deployment (the inputs of the confidence intervals).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationStats {
    pub arrived: u64,
    pub served: u64,
    pub dropped: u64,
    /// Share of served requests that waited at all.
    pub waited_fraction: f64,
    pub mean_latency_ms: f64,
    pub mean_wait_ms: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    pub wait_p95_ms: f64,
    pub utilization: f64,
    pub mean_concurrency: f64,
    pub batches: u64,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub summary: RunSummary,
    /// `per_replication[i][k]`: replication `i`, deployment `k`.
    pub per_replication: Vec<Vec<ReplicationStats>>,
}

struct Partial {
    generated: u64,
    stats: Vec<Vec<ReplicationStats>>,
    histograms: Vec<(LogHistogram, LogHistogram)>,
}

fn replication(scenario: &Scenario, index: u64, progress: &(dyn Fn(u64) + Sync)) -> Partial {
    let sim = &scenario.simulation;
    let mut arrivals =
        ArrivalStream::new(&scenario.traffic, sim.duration_ms, stream(sim.seed, index, 0));
    let mut deployments: Vec<DeploymentSim> = scenario
        .deployments
        .iter()
        .enumerate()
        .map(|(k, d)| {
            DeploymentSim::new(
                d,
                sim.warmup_ms,
                sim.duration_ms,
                stream(sim.seed, index, 1 + k as u64),
            )
        })
        .collect();
    let mut buf: Vec<Request> = Vec::with_capacity(CHUNK);
    let mut generated = 0u64;
    loop {
        buf.clear();
        let more = arrivals.fill(&mut buf, CHUNK);
        for d in &mut deployments {
            d.process(&buf);
        }
        generated += buf.len() as u64;
        progress(buf.len() as u64);
        if !more {
            break;
        }
    }
    let window_ms = sim.duration_ms - sim.warmup_ms;
    let mut stats = Vec::with_capacity(deployments.len());
    let mut histograms = Vec::with_capacity(deployments.len());
    for (d, spec) in deployments.iter_mut().zip(&scenario.deployments) {
        d.finish();
        let r: &Recorder = &d.recorder;
        let capacity = match &spec.model {
            Model::Local(l) => f64::from(l.servers),
            Model::Cloud(c) => c.max_concurrency.map_or(f64::NAN, f64::from),
        };
        let per = |sum: f64| if r.served > 0 { sum / r.served as f64 } else { 0.0 };
        stats.push(ReplicationStats {
            arrived: r.arrived,
            served: r.served,
            dropped: r.dropped,
            waited_fraction: per(r.waited as f64),
            mean_latency_ms: per(r.sum_latency_ms),
            mean_wait_ms: per(r.sum_wait_ms),
            latency_p50_ms: r.latency.quantile(0.5).unwrap_or(0.0),
            latency_p95_ms: r.latency.quantile(0.95).unwrap_or(0.0),
            latency_p99_ms: r.latency.quantile(0.99).unwrap_or(0.0),
            wait_p95_ms: r.wait.quantile(0.95).unwrap_or(0.0),
            utilization: r.busy_ms / (window_ms * capacity),
            mean_concurrency: r.in_service_ms / window_ms,
            batches: r.batches,
        });
        histograms.push((r.latency.clone(), r.wait.clone()));
    }
    Partial { generated, stats: vec![stats], histograms }
}

fn merge(mut a: Partial, b: Partial) -> Partial {
    a.generated += b.generated;
    a.stats.extend(b.stats);
    for ((la, wa), (lb, wb)) in a.histograms.iter_mut().zip(&b.histograms) {
        la.merge(lb);
        wa.merge(wb);
    }
    a
}

/// Simulates every replication of `scenario` on the current rayon pool. `progress` is called
/// with the number of requests generated since its last call, from any thread.
///
/// The result depends only on the scenario (seed included), never on the number of threads:
/// replication `i` draws only from its own streams, statistics are merged in index order, and
/// histogram merging is integer addition.
pub fn run(scenario: &Scenario, progress: &(dyn Fn(u64) + Sync)) -> RunOutput {
    let sim = &scenario.simulation;
    let partial = (0..u64::from(sim.replications))
        .into_par_iter()
        .map(|i| replication(scenario, i, progress))
        .reduce_with(merge)
        .expect("validated: at least one replication");
    let window_s = (sim.duration_ms - sim.warmup_ms) / 1000.0;
    let n_reps = partial.stats.len() as f64;
    let deployments = scenario
        .deployments
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let reps: Vec<&ReplicationStats> = partial.stats.iter().map(|r| &r[k]).collect();
            let (latency_hist, wait_hist) = &partial.histograms[k];
            let moments = |means: Vec<f64>, h: &LogHistogram| {
                let (mean, _, ci) = mean_ci95(&means);
                Moments {
                    mean,
                    mean_ci95: ci,
                    p50: h.quantile(0.5).unwrap_or(0.0),
                    p95: h.quantile(0.95).unwrap_or(0.0),
                    p99: h.quantile(0.99).unwrap_or(0.0),
                }
            };
            let arrived: u64 = reps.iter().map(|r| r.arrived).sum();
            let served: u64 = reps.iter().map(|r| r.served).sum();
            let dropped: u64 = reps.iter().map(|r| r.dropped).sum();
            let batches: u64 = reps.iter().map(|r| r.batches).sum();
            let unlimited = matches!(&d.model, Model::Cloud(c) if c.max_concurrency.is_none());
            DeploymentSummary {
                name: d.name.clone(),
                kind: match d.model {
                    Model::Local(_) => "local",
                    Model::Cloud(_) => "cloud",
                },
                requests: arrived,
                served,
                dropped_fraction: if arrived > 0 { dropped as f64 / arrived as f64 } else { 0.0 },
                utilization: (!unlimited)
                    .then(|| reps.iter().map(|r| r.utilization).sum::<f64>() / n_reps),
                throughput_per_s: served as f64 / n_reps / window_s,
                mean_concurrency: reps.iter().map(|r| r.mean_concurrency).sum::<f64>() / n_reps,
                mean_batch_size: if batches > 0 { served as f64 / batches as f64 } else { 0.0 },
                latency_ms: moments(reps.iter().map(|r| r.mean_latency_ms).collect(), latency_hist),
                wait_ms: moments(reps.iter().map(|r| r.mean_wait_ms).collect(), wait_hist),
            }
        })
        .collect();
    RunOutput {
        summary: RunSummary {
            scenario: scenario.name.clone(),
            lcsim_version: env!("CARGO_PKG_VERSION").to_string(),
            seed: sim.seed,
            replications: sim.replications,
            duration_hours: sim.duration_ms / MS_PER_HOUR,
            warmup_hours: sim.warmup_ms / MS_PER_HOUR,
            requests_simulated: partial.generated,
            wall_seconds: 0.0,
            deployments,
            warnings: scenario.warnings.clone(),
        },
        per_replication: partial.stats,
    }
}
