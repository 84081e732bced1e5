//! Runs a scenario: independent replications in parallel, reduced in index order.
//!
//! A **stationary** run simulates `duration_hours` of traffic per replication. A **horizon**
//! run (`horizon_months`) walks each replication through the months: each month it draws the
//! month's traffic level, simulates one window (`window_hours`, starting at the midnight nearest
//! the middle of the month, after a warm-up) request by request with the devices owned that
//! month, and prices the month from the expected volume × level and the window's simulated
//! utilization, token counts and billed time. See [`crate::horizon`] for the month step.

use std::collections::BTreeMap;

use lcsim_core::reliability::{Policy, Slo};
use lcsim_core::scenario::{Deployment, MS_PER_HOUR, Model, Scenario};
use lcsim_core::summary::{
    AutoscalingSummary, DeploymentSummary, ErrorCounts, Moments, RunSummary, Share, SloSummary,
};
use rayon::prelude::*;

use crate::arrivals::{ArrivalStream, Request, Window};
use crate::ci::mean_ci95;
use crate::histogram::LogHistogram;
use crate::horizon::{HorizonOutput, MonthRecord, horizon_replication, summarize_horizon};
use crate::hybrid::{HybridSim, Node};
use crate::outages::{Intervals, Timeline, intersection, measure, union};
use crate::random::stream;
use crate::station::{DeploymentSim, Histograms, Recorder, WindowOutages};

/// Arrivals are generated and fed to every deployment in chunks of this many requests, so
/// memory does not grow with the length of a run.
const CHUNK: usize = 4096;

/// Per-replication figures of one deployment (the inputs of the confidence intervals).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplicationStats {
    pub arrived: u64,
    pub served: u64,
    pub dropped: u64,
    pub unavailable: u64,
    pub timed_out: u64,
    pub rate_limited: u64,
    pub too_large: u64,
    pub preemptions: u64,
    pub retries: u64,
    /// Share of arrived requests served within the timeout.
    pub availability: f64,
    /// Served within the SLO latency target (all served without one).
    pub within_slo: u64,
    /// Whether every `[slo]` target held (`None` without an `[slo]`).
    pub slo_met: Option<bool>,
    /// Time the deployment refused every request, inside the measured time.
    pub downtime_ms: f64,
    pub cold_starts: u64,
    /// Autoscaled: time-average instances.
    pub mean_instances: f64,
    /// Hybrids: served requests by route mask.
    pub routes: BTreeMap<u64, u64>,
    /// Share of served requests that waited at all.
    pub waited_fraction: f64,
    pub mean_latency_ms: f64,
    pub mean_wait_ms: f64,
    pub mean_ttft_ms: f64,
    /// Over the served requests with a time per output token (`tpot_served` of them).
    pub mean_tpot_ms: f64,
    pub tpot_served: u64,
    pub ttft_p95_ms: f64,
    pub tpot_p95_ms: f64,
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
    pub nodes: Vec<Node>,
    pub generated: u64,
    /// Counted arrivals (after the warm-up) and their token sums.
    pub counted: u64,
    pub prompt_tokens: f64,
    pub output_tokens: f64,
}

/// Draws the failure timeline of every deployment with `[deployment.failures]` over
/// `[0, horizon_ms)`, for as many devices as it can ever have.
pub(crate) fn draw_timelines(
    scenario: &Scenario,
    replication: u64,
    horizon_ms: f64,
) -> Vec<Option<Timeline>> {
    scenario
        .deployments
        .iter()
        .map(|d| {
            let releases = d.updates.as_ref().is_some_and(|u| u.cadence().is_some());
            if d.failures.is_none() && !releases && d.federated.is_none() {
                return None;
            }
            let (devices, fleet) = match &d.model {
                Model::Local(l) => (
                    d.capacity_policy.map_or(l.servers, |p| p.max_servers.max(l.servers)),
                    l.servers,
                ),
                _ => (0, 0),
            };
            let seed = scenario.simulation.seed;
            let rng = |c: crate::outages::Component| stream(seed, replication, c.stream());
            let mut t = match &d.failures {
                Some(f) => crate::outages::draw(f, devices, horizon_ms, rng),
                None => Timeline::default(),
            };
            crate::outages::maintenance(
                &mut t,
                d.updates.as_ref(),
                d.federated.as_ref(),
                (devices, fleet),
                horizon_ms,
                rng,
            );
            Some(t)
        })
        .collect()
}

/// Devices each deployment starts with (0 for cloud and hybrid deployments).
pub(crate) fn initial_devices(scenario: &Scenario) -> Vec<u32> {
    scenario
        .deployments
        .iter()
        .map(|d| match &d.model {
            Model::Local(l) => l.servers,
            _ => 0,
        })
        .collect()
}

/// When each deployment refuses every request, given each local deployment's device count:
/// a hybrid of two members is down when both are (overflow, fallback) or either is (rerank).
pub(crate) fn down_sets(
    deployments: &[Deployment],
    timelines: &[Option<Timeline>],
    devices: &[u32],
) -> Vec<Intervals> {
    fn down(k: usize, ds: &[Deployment], tl: &[Option<Timeline>], dev: &[u32]) -> Intervals {
        match &ds[k].model {
            Model::Hybrid(h) => {
                let (a, b) = (down(h.local, ds, tl, dev), down(h.cloud, ds, tl, dev));
                match h.policy {
                    Policy::Rerank => union(&a, &b),
                    _ => intersection(&a, &b),
                }
            }
            _ => tl[k].as_ref().map_or_else(Vec::new, |t| t.down(dev[k] as usize)),
        }
    }
    (0..deployments.len()).map(|k| down(k, deployments, timelines, devices)).collect()
}

/// The failure intervals of each deployment in a window that starts `offset_ms` into the
/// replication's timeline.
pub(crate) fn window_outages(
    deployments: &[Deployment],
    timelines: &[Option<Timeline>],
    downs: &[Intervals],
    offset_ms: f64,
) -> Vec<WindowOutages> {
    deployments
        .iter()
        .zip(timelines)
        .zip(downs)
        .map(|((d, t), down)| match (t, &d.model) {
            (Some(t), Model::Local(l)) => WindowOutages {
                devices: t
                    .devices
                    .iter()
                    .take(l.servers as usize)
                    .map(|iv| crate::outages::shifted(iv, offset_ms))
                    .collect(),
                slow: if t.training_speed > 0.0 {
                    t.training
                        .iter()
                        .take(l.servers as usize)
                        .map(|iv| crate::outages::shifted(iv, offset_ms))
                        .collect()
                } else {
                    Vec::new()
                },
                speed: t.training_speed,
                training: if t.training_speed == 0.0 {
                    t.training
                        .iter()
                        .take(l.servers as usize)
                        .map(|iv| crate::outages::shifted(iv, offset_ms))
                        .collect()
                } else {
                    Vec::new()
                },
                down: crate::outages::shifted(down, offset_ms),
            },
            (Some(_), _) => WindowOutages {
                down: crate::outages::shifted(down, offset_ms),
                ..WindowOutages::default()
            },
            (None, _) => WindowOutages::default(),
        })
        .collect()
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
    outages: &[WindowOutages],
    progress: &(dyn Fn(u64) + Sync),
) -> WindowResult {
    let seed = scenario.simulation.seed;
    let mut arrivals =
        ArrivalStream::new(&scenario.traffic, window, stream(seed, replication, stream_base));
    let build = |k: usize, member: bool| -> Node {
        fn node(
            k: usize,
            member: bool,
            make: &dyn Fn(usize, bool) -> (Recorder, crate::random::SimRng),
            deployments: &[Deployment],
            outages: &[WindowOutages],
        ) -> Node {
            let (recorder, rng) = make(k, member);
            match &deployments[k].model {
                Model::Hybrid(h) => Node::Hybrid(Box::new(HybridSim::new(
                    k,
                    h.clone(),
                    node(h.local, true, make, deployments, outages),
                    node(h.cloud, true, make, deployments, outages),
                    rng,
                    recorder,
                ))),
                _ => Node::Leaf(Box::new(DeploymentSim::new(
                    k,
                    &deployments[k],
                    recorder,
                    rng,
                    outages[k].clone(),
                ))),
            }
        }
        let make = |k: usize, member: bool| {
            let d = &deployments[k];
            let mut r = detail(d, Recorder::new(warmup_ms, window.end_ms))
                .limits(d.timeout_ms, scenario.slo)
                .whole_answers(!streams(d));
            if member {
                r = r.reporting(1 << k);
            }
            (r, stream(seed, replication, stream_base + 1 + k as u64))
        };
        node(k, member, &make, deployments, outages)
    };
    let mut nodes: Vec<Node> = (0..deployments.len()).map(|k| build(k, false)).collect();
    let mut buf: Vec<Request> = Vec::with_capacity(CHUNK);
    let (mut generated, mut counted) = (0u64, 0u64);
    let (mut prompt_tokens, mut output_tokens) = (0.0, 0.0);
    loop {
        buf.clear();
        let more = arrivals.fill(&mut buf, CHUNK);
        for d in &mut nodes {
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
    for n in &mut nodes {
        n.finish();
    }
    WindowResult { nodes, generated, counted, prompt_tokens, output_tokens }
}

/// Servers (or concurrency slots) of a deployment; NaN for unlimited or autoscaled
/// concurrency and for hybrids (their members have their own).
pub(crate) fn capacity(d: &Deployment) -> f64 {
    match &d.model {
        Model::Local(l) => f64::from(l.servers),
        Model::Cloud(c) if c.autoscale.is_some() => f64::NAN,
        Model::Cloud(c) => c.max_concurrency.map_or(f64::NAN, f64::from),
        Model::Hybrid(_) => f64::NAN,
    }
}

/// Request-time in service, summed over a node's single deployments.
pub(crate) fn in_service_ms(node: &Node) -> f64 {
    let mut leaves = Vec::new();
    node.leaves(&mut leaves);
    leaves.iter().map(|l| l.recorder.in_service_ms).sum()
}

/// Whether a deployment can stream an answer token by token (a token model or a streaming
/// provider); hybrids pass on whatever their members report.
fn streams(d: &Deployment) -> bool {
    match &d.model {
        Model::Local(l) => !matches!(l.service, lcsim_core::scenario::LocalService::Dist(_)),
        Model::Cloud(c) => matches!(c.provider, lcsim_core::scenario::Provider::Streaming { .. }),
        Model::Hybrid(_) => true,
    }
}

/// Whether the `[slo]` held for the requests in `r`.
pub(crate) fn slo_met(slo: Option<Slo>, r: &Recorder) -> Option<bool> {
    let slo = slo?;
    let p95 = r.latency.quantile(0.95).unwrap_or(0.0);
    Some(
        slo.latency_p95_ms.is_none_or(|t| p95 <= t)
            && slo
                .ttft_p95_ms
                .is_none_or(|t| r.ttft_histogram().quantile(0.95).unwrap_or(0.0) <= t)
            && slo.tpot_p95_ms.is_none_or(|t| r.tpot.quantile(0.95).unwrap_or(0.0) <= t)
            && slo.availability.is_none_or(|a| availability(r) >= a),
    )
}

pub(crate) fn availability(r: &Recorder) -> f64 {
    if r.arrived > 0 { r.served as f64 / r.arrived as f64 } else { 1.0 }
}

#[allow(clippy::too_many_arguments, reason = "the figures of one window, all named")]
pub(crate) fn replication_stats(
    r: &Recorder,
    window_ms: f64,
    utilization: f64,
    in_service_ms: f64,
    downtime_ms: f64,
    slo: Option<Slo>,
) -> ReplicationStats {
    let per = |sum: f64| if r.served > 0 { sum / r.served as f64 } else { 0.0 };
    ReplicationStats {
        arrived: r.arrived,
        served: r.served,
        dropped: r.dropped,
        unavailable: r.unavailable,
        timed_out: r.timed_out,
        rate_limited: r.rate_limited,
        too_large: r.too_large,
        preemptions: r.preemptions,
        retries: r.retries,
        availability: availability(r),
        within_slo: r.within_slo,
        slo_met: slo_met(slo, r),
        downtime_ms,
        cold_starts: r.cold_starts,
        mean_instances: r.instance_ms / window_ms,
        routes: r.routes.clone(),
        waited_fraction: per(r.waited as f64),
        mean_latency_ms: per(r.sum_latency_ms),
        mean_wait_ms: per(r.sum_wait_ms),
        mean_ttft_ms: per(r.ttft_sum_ms()),
        mean_tpot_ms: if r.tpot_served > 0 { r.sum_tpot_ms / r.tpot_served as f64 } else { 0.0 },
        tpot_served: r.tpot_served,
        ttft_p95_ms: r.ttft_histogram().quantile(0.95).unwrap_or(0.0),
        tpot_p95_ms: r.tpot.quantile(0.95).unwrap_or(0.0),
        latency_p50_ms: r.latency.quantile(0.5).unwrap_or(0.0),
        latency_p95_ms: r.latency.quantile(0.95).unwrap_or(0.0),
        latency_p99_ms: r.latency.quantile(0.99).unwrap_or(0.0),
        wait_p95_ms: r.wait.quantile(0.95).unwrap_or(0.0),
        utilization,
        mean_concurrency: in_service_ms / window_ms,
        batches: r.batches,
    }
}

/// The mergeable results of some replications: what a shard of a run writes.
///
/// Merging is exact and associative: counts add as integers, per-replication figures are
/// concatenated in replication order, so partials of consecutive replication ranges merged in
/// order give the same bytes as one run over all of them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Partial {
    pub generated: u64,
    pub stats: Vec<Vec<ReplicationStats>>,
    pub histograms: Vec<Histograms>,
    /// Horizon runs: `months[i][k][m]`.
    pub months: Vec<Vec<Vec<MonthRecord>>>,
    /// Horizon runs: latency histogram of deployment `k` in month `m`, `[k][m]`.
    pub month_latency: Vec<Vec<Histograms>>,
    /// Horizon runs with an `[slo]`: whether replication `i`'s month `m` met it, `[i][k][m]`.
    pub month_slo: Option<Vec<Vec<Vec<bool>>>>,
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
        0,
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

/// `a` then `b`: `b` must hold the replications that follow `a`'s.
pub fn merge(mut a: Partial, b: Partial) -> Partial {
    a.generated += b.generated;
    a.stats.extend(b.stats);
    a.months.extend(b.months);
    if let (Some(x), Some(y)) = (&mut a.month_slo, b.month_slo) {
        x.extend(y);
    }
    for (x, y) in a.histograms.iter_mut().zip(&b.histograms) {
        x.merge(y);
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
            let arrived: u64 = reps.iter().map(|r| r.arrived).sum();
            let served: u64 = reps.iter().map(|r| r.served).sum();
            let dropped: u64 = reps.iter().map(|r| r.dropped).sum();
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
                    unavailable: sum(&|r| r.unavailable),
                    timed_out: sum(&|r| r.timed_out),
                    rate_limited: sum(&|r| r.rate_limited),
                    too_large: sum(&|r| r.too_large),
                    retries: sum(&|r| r.retries),
                },
                preemptions: matches!(
                    &d.model,
                    Model::Local(l) if matches!(l.service, lcsim_core::scenario::LocalService::Continuous(_))
                )
                .then(|| sum(&|r| r.preemptions)),
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
