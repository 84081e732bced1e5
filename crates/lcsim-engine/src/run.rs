//! Runs a scenario: independent replications in parallel, reduced in index order.
//!
//! A **stationary** run simulates `duration_hours` of traffic per replication. A **horizon**
//! run (`horizon_months`) walks each replication through the months: each month it draws the
//! month's traffic level, simulates one window (`window_hours`, starting at the midnight nearest
//! the middle of the month, after a warm-up) request by request with the devices owned that
//! month, and prices the month from the expected volume × level and the window's simulated
//! utilization, token counts and billed time. See [`crate::horizon`] for the month step.

use lcsim_core::scenario::{Deployment, MS_PER_HOUR, Model, Scenario};
use lcsim_core::summary::{DeploymentSummary, Moments, RunSummary};
use rayon::prelude::*;

use crate::arrivals::{ArrivalStream, Request, Window};
use crate::ci::mean_ci95;
use crate::histogram::LogHistogram;
use crate::horizon::{HorizonOutput, MonthRecord, horizon_replication, summarize_horizon};
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
    /// Horizon runs only: the monthly table and each replication's months.
    pub horizon: Option<HorizonOutput>,
}

/// What one window of traffic did to each deployment.
pub(crate) struct WindowResult {
    pub recorders: Vec<Recorder>,
    pub generated: u64,
    /// Counted arrivals (after the warm-up) and their token sums.
    pub counted: u64,
    pub prompt_tokens: f64,
    pub output_tokens: f64,
}

/// Simulates one window of traffic through `deployments`. Arrivals draw from stream
/// `stream_base`, deployment `k` from `stream_base + 1 + k`, both of replication `replication`.
#[allow(clippy::too_many_arguments, reason = "one call site per run mode, all named")]
pub(crate) fn simulate_window(
    scenario: &Scenario,
    deployments: &[Deployment],
    window: Window,
    warmup_ms: f64,
    replication: u64,
    stream_base: u64,
    detail: impl Fn(&Deployment, Recorder) -> Recorder,
    progress: &(dyn Fn(u64) + Sync),
) -> WindowResult {
    let seed = scenario.simulation.seed;
    let mut arrivals =
        ArrivalStream::new(&scenario.traffic, window, stream(seed, replication, stream_base));
    let mut sims: Vec<DeploymentSim> = deployments
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let recorder = detail(d, Recorder::new(warmup_ms, window.end_ms));
            DeploymentSim::new(d, recorder, stream(seed, replication, stream_base + 1 + k as u64))
        })
        .collect();
    let mut buf: Vec<Request> = Vec::with_capacity(CHUNK);
    let (mut generated, mut counted) = (0u64, 0u64);
    let (mut prompt_tokens, mut output_tokens) = (0.0, 0.0);
    loop {
        buf.clear();
        let more = arrivals.fill(&mut buf, CHUNK);
        for d in &mut sims {
            d.process(&buf);
        }
        for r in buf.iter().filter(|r| r.t_ms >= warmup_ms) {
            counted += 1;
            prompt_tokens += f64::from(r.prompt_tokens);
            output_tokens += f64::from(r.output_tokens);
        }
        generated += buf.len() as u64;
        progress(buf.len() as u64);
        if !more {
            break;
        }
    }
    let recorders = sims
        .into_iter()
        .map(|mut d| {
            d.finish();
            d.recorder
        })
        .collect();
    WindowResult { recorders, generated, counted, prompt_tokens, output_tokens }
}

/// Servers (or concurrency slots) of a deployment; NaN for unlimited concurrency.
pub(crate) fn capacity(d: &Deployment) -> f64 {
    match &d.model {
        Model::Local(l) => f64::from(l.servers),
        Model::Cloud(c) => c.max_concurrency.map_or(f64::NAN, f64::from),
    }
}

pub(crate) fn replication_stats(
    r: &Recorder,
    window_ms: f64,
    utilization: f64,
) -> ReplicationStats {
    let per = |sum: f64| if r.served > 0 { sum / r.served as f64 } else { 0.0 };
    ReplicationStats {
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
        utilization,
        mean_concurrency: r.in_service_ms / window_ms,
        batches: r.batches,
    }
}

/// One replication's results, merged with others by [`merge`].
pub(crate) struct Partial {
    pub generated: u64,
    pub stats: Vec<Vec<ReplicationStats>>,
    pub histograms: Vec<(LogHistogram, LogHistogram)>,
    /// Horizon runs: `months[i][k][m]`.
    pub months: Vec<Vec<Vec<MonthRecord>>>,
    /// Horizon runs: latency histogram of deployment `k` in month `m`, `[k][m]`.
    pub month_latency: Vec<Vec<LogHistogram>>,
}

fn stationary_replication(
    scenario: &Scenario,
    index: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Partial {
    let sim = &scenario.simulation;
    let window = Window { start_hour: 0, level: 1.0, end_ms: sim.duration_ms };
    let w = simulate_window(
        scenario,
        &scenario.deployments,
        window,
        sim.warmup_ms,
        index,
        0,
        |_, r| r,
        progress,
    );
    let window_ms = sim.duration_ms - sim.warmup_ms;
    let stats = w
        .recorders
        .iter()
        .zip(&scenario.deployments)
        .map(|(r, d)| replication_stats(r, window_ms, r.busy_ms / (window_ms * capacity(d))))
        .collect();
    let histograms = w.recorders.iter().map(|r| (r.latency.clone(), r.wait.clone())).collect();
    Partial {
        generated: w.generated,
        stats: vec![stats],
        histograms,
        months: Vec::new(),
        month_latency: Vec::new(),
    }
}

fn merge(mut a: Partial, b: Partial) -> Partial {
    a.generated += b.generated;
    a.stats.extend(b.stats);
    a.months.extend(b.months);
    for ((la, wa), (lb, wb)) in a.histograms.iter_mut().zip(&b.histograms) {
        la.merge(lb);
        wa.merge(wb);
    }
    for (ha, hb) in a.month_latency.iter_mut().zip(&b.month_latency) {
        for (x, y) in ha.iter_mut().zip(hb) {
            x.merge(y);
        }
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
        .map(|i| match sim.horizon {
            None => stationary_replication(scenario, i, progress),
            Some(h) => horizon_replication(scenario, h, i, progress),
        })
        .reduce_with(merge)
        .expect("validated: at least one replication");
    let measured_s = match sim.horizon {
        None => (sim.duration_ms - sim.warmup_ms) / 1000.0,
        Some(h) => f64::from(h.months) * h.window_ms / 1000.0,
    };
    let n_reps = partial.stats.len() as f64;
    let mut deployments: Vec<DeploymentSummary> = scenario
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
                throughput_per_s: served as f64 / n_reps / measured_s,
                mean_concurrency: reps.iter().map(|r| r.mean_concurrency).sum::<f64>() / n_reps,
                mean_batch_size: if batches > 0 { served as f64 / batches as f64 } else { 0.0 },
                latency_ms: moments(reps.iter().map(|r| r.mean_latency_ms).collect(), latency_hist),
                wait_ms: moments(reps.iter().map(|r| r.mean_wait_ms).collect(), wait_hist),
                cost_usd: None,
            }
        })
        .collect();
    let (horizon, break_even) = match sim.horizon {
        None => (None, None),
        Some(_) => {
            let out = summarize_horizon(
                scenario,
                &partial.months,
                &partial.month_latency,
                &mut deployments,
            );
            let break_even = out.break_even.clone();
            (Some(out), Some(break_even))
        }
    };
    RunOutput {
        summary: RunSummary {
            scenario: scenario.name.clone(),
            lcsim_version: env!("CARGO_PKG_VERSION").to_string(),
            seed: sim.seed,
            replications: sim.replications,
            duration_hours: match sim.horizon {
                None => sim.duration_ms / MS_PER_HOUR,
                Some(h) => f64::from(h.months) * h.window_ms / MS_PER_HOUR,
            },
            warmup_hours: sim.warmup_ms / MS_PER_HOUR,
            requests_simulated: partial.generated,
            wall_seconds: 0.0,
            horizon_months: sim.horizon.map(|h| h.months),
            deployments,
            break_even,
            warnings: scenario.warnings.clone(),
        },
        per_replication: partial.stats,
        horizon,
    }
}
