//! Runs a scenario: independent replications in parallel, reduced in index order.
//!
//! A **stationary** run simulates `duration_hours` of traffic per replication. A **horizon**
//! run (`horizon_months`) walks each replication through the months: each month it draws the
//! month's traffic level, simulates one window (`window_hours`, starting at the midnight nearest
//! the middle of the month, after a warm-up) request by request with the devices owned that
//! month, and prices the month from the expected volume × level and the window's simulated
//! utilization, token counts and billed time. See [`crate::horizon`] for the month step.

use std::collections::BTreeMap;

use lcsim_core::scenario::{MS_PER_HOUR, Model, Scenario};
use lcsim_core::summary::{
    AutoscalingSummary, DeploymentSummary, ErrorCounts, Moments, RunSummary, Share, SloSummary,
};
use rayon::prelude::*;

use crate::arrivals::Window;
use crate::ci::mean_ci95;
use crate::histogram::LogHistogram;
use crate::horizon::{HorizonOutput, horizon_replication, summarize_horizon};
use crate::outages::measure;
pub use crate::partial::{Partial, ReplicationStats, merge};
use crate::recorder::{Counts, Histograms};
use crate::window::{
    capacity, down_sets, draw_timelines, in_service_ms, initial_devices, replication_stats,
    simulate_window, window_outages,
};

#[derive(Debug, Clone)]
pub struct RunOutput {
    pub summary: RunSummary,
    /// `per_replication[i][k]`: replication `i`, deployment `k`.
    pub per_replication: Vec<Vec<ReplicationStats>>,
    /// Horizon runs only: the monthly table and each replication's months.
    pub horizon: Option<HorizonOutput>,
}

fn stationary_replication(
    scenario: &Scenario,
    index: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Partial {
    let sim = &scenario.simulation;
    let window = Window { start_hour: 0, level: 1.0, end_ms: sim.duration_ms };
    let timelines = draw_timelines(scenario, index, sim.duration_ms);
    let devices = initial_devices(scenario);
    let downs = down_sets(&scenario.deployments, &timelines, &devices);
    let outages = window_outages(&scenario.deployments, &timelines, &downs, 0.0);
    let w = simulate_window(
        scenario,
        &scenario.deployments,
        window,
        sim.warmup_ms,
        index,
        None,
        |_, r| r,
        &outages,
        progress,
    );
    let window_ms = sim.duration_ms - sim.warmup_ms;
    let stats = w
        .nodes
        .iter()
        .zip(&scenario.deployments)
        .zip(&downs)
        .map(|((n, d), down)| {
            let r = n.recorder();
            replication_stats(
                r,
                window_ms,
                r.busy_ms / (window_ms * capacity(d)),
                in_service_ms(n),
                measure(down, sim.warmup_ms, sim.duration_ms),
                scenario.slo,
            )
        })
        .collect();
    let histograms = w.nodes.iter().map(|n| Histograms::of(n.recorder())).collect();
    Partial {
        generated: w.generated,
        stats: vec![stats],
        histograms,
        months: Vec::new(),
        month_latency: Vec::new(),
        month_slo: None,
    }
}

/// Simulates every replication of `scenario` on the current rayon pool. `progress` is called
/// with the number of requests generated since its last call, from any thread.
///
/// The result depends only on the scenario (seed included), never on the number of threads:
/// replication `i` draws only from its own streams, statistics are merged in index order, and
/// histogram merging is integer addition.
pub fn run(scenario: &Scenario, progress: &(dyn Fn(u64) + Sync)) -> RunOutput {
    let all = 0..u64::from(scenario.simulation.replications);
    summarize(scenario, run_replications(scenario, all, progress))
}

/// Simulates replications `range` (a non-empty part of `0..replications`) on the current rayon
/// pool: one shard's work. Replication `i` is the same whichever range it is run in.
pub fn run_replications(
    scenario: &Scenario,
    range: std::ops::Range<u64>,
    progress: &(dyn Fn(u64) + Sync),
) -> Partial {
    let sim = &scenario.simulation;
    range
        .into_par_iter()
        .map(|i| match sim.horizon {
            None => stationary_replication(scenario, i, progress),
            Some(h) => horizon_replication(scenario, h, i, progress),
        })
        .reduce_with(merge)
        .expect("a non-empty range of replications")
}

/// The run's output from the merged partial of all its replications, in order.
pub fn summarize(scenario: &Scenario, partial: Partial) -> RunOutput {
    let sim = &scenario.simulation;
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
            let hist = &partial.histograms[k];
            let moments = |means: Vec<f64>, h: &LogHistogram| {
                let (mean, _, ci) = mean_ci95(&means);
                Moments {
                    mean,
                    mean_ci95: ci,
                    p50: h.quantile(0.5).unwrap_or(0.0),
                    p90: h.quantile(0.9).unwrap_or(0.0),
                    p95: h.quantile(0.95).unwrap_or(0.0),
                    p99: h.quantile(0.99).unwrap_or(0.0),
                }
            };
            let counts = reps.iter().fold(Counts::default(), |mut all, r| {
                all.add(&r.counts);
                all
            });
            let Counts { arrived, served, dropped, .. } = counts;
            let batches: u64 = reps.iter().map(|r| r.batches).sum();
            let unlimited = capacity(d).is_nan();
            let sum = |f: &dyn Fn(&ReplicationStats) -> u64| reps.iter().map(|r| f(r)).sum::<u64>();
            let within_slo = sum(&|r| r.within_slo);
            let (availability, _, availability_ci) =
                mean_ci95(&reps.iter().map(|r| r.availability).collect::<Vec<_>>());
            let slo = scenario.slo.map(|s| {
                let periods: Vec<bool> = match &partial.month_slo {
                    Some(m) => m.iter().flat_map(|rep| rep[k].iter().copied()).collect(),
                    None => reps.iter().filter_map(|r| r.slo_met).collect(),
                };
                SloSummary {
                    latency_p95_ms: s.latency_p95_ms,
                    ttft_p95_ms: s.ttft_p95_ms,
                    tpot_p95_ms: s.tpot_p95_ms,
                    availability: s.availability,
                    attainment: periods.iter().filter(|&&m| m).count() as f64
                        / periods.len().max(1) as f64,
                    within_latency_target: if arrived > 0 {
                        within_slo as f64 / arrived as f64
                    } else {
                        0.0
                    },
                }
            });
            let routes = matches!(d.model, Model::Hybrid(_)).then(|| {
                let mut by_mask: BTreeMap<u64, u64> = BTreeMap::new();
                for r in &reps {
                    for (m, c) in &r.routes {
                        *by_mask.entry(*m).or_default() += c;
                    }
                }
                by_mask
                    .into_iter()
                    .map(|(mask, c)| {
                        let names: Vec<&str> = (0..64)
                            .filter(|b| mask & (1 << b) != 0)
                            .map(|b| scenario.deployments[b].name.as_str())
                            .collect();
                        (names.join("+"), c as f64 / served.max(1) as f64)
                    })
                    .collect()
            });
            let autoscaled = matches!(&d.model, Model::Cloud(c) if c.autoscale.is_some());
            DeploymentSummary {
                name: d.name.clone(),
                kind: d.model.kind(),
                requests: arrived,
                served,
                dropped_fraction: if arrived > 0 { dropped as f64 / arrived as f64 } else { 0.0 },
                utilization: (!unlimited)
                    .then(|| reps.iter().map(|r| r.utilization).sum::<f64>() / n_reps),
                throughput_per_s: served as f64 / n_reps / measured_s,
                mean_concurrency: reps.iter().map(|r| r.mean_concurrency).sum::<f64>() / n_reps,
                mean_batch_size: if batches > 0 { served as f64 / batches as f64 } else { 0.0 },
                latency_ms: moments(reps.iter().map(|r| r.mean_latency_ms).collect(), &hist.latency),
                wait_ms: moments(reps.iter().map(|r| r.mean_wait_ms).collect(), hist.wait()),
                ttft_ms: moments(reps.iter().map(|r| r.mean_ttft_ms).collect(), hist.ttft()),
                tpot_ms: hist.tpot().map(|tpot| {
                    moments(
                        reps.iter().filter(|r| r.tpot_served > 0).map(|r| r.mean_tpot_ms).collect(),
                        tpot,
                    )
                }),
                cost_usd: None,
                availability: Share { mean: availability, mean_ci95: availability_ci },
                goodput_per_s: within_slo as f64 / n_reps / measured_s,
                errors: ErrorCounts {
                    queue_full: dropped,
                    unavailable: counts.unavailable,
                    timed_out: counts.timed_out,
                    rate_limited: counts.rate_limited,
                    too_large: counts.too_large,
                    retries: counts.retries,
                },
                preemptions: matches!(
                    &d.model,
                    Model::Local(l) if matches!(l.service, lcsim_core::scenario::LocalService::Continuous(_))
                )
                .then_some(counts.preemptions),
                downtime_minutes: reps.iter().map(|r| r.downtime_ms).sum::<f64>()
                    / n_reps
                    / 60_000.0,
                slo,
                routes,
                lifecycle: None,
                autoscaling: autoscaled.then(|| AutoscalingSummary {
                    mean_instances: reps.iter().map(|r| r.mean_instances).sum::<f64>() / n_reps,
                    cold_start_share: sum(&|r| r.cold_starts) as f64 / served.max(1) as f64,
                }),
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
                partial.month_slo.as_ref(),
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
