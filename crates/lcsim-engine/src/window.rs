//! One window of one replication: the deployments' failure timelines and outages in it, the
//! window's arrivals fed to every deployment in chunks, and the per-replication figures that
//! come out. Both the stationary run ([`crate::run`]) and the month walk ([`crate::horizon`])
//! simulate their windows here.

use lcsim_core::reliability::{Policy, Slo};
use lcsim_core::scenario::{Deployment, Model, Scenario};

use crate::arrivals::{ArrivalStream, Request, Window};
use crate::hybrid::{HybridSim, Node};
use crate::outages::{Intervals, Timeline, intersection, union};
use crate::partial::ReplicationStats;
use crate::random::{StreamId, stream};
use crate::recorder::Recorder;
use crate::station::{DeploymentSim, WindowOutages};

/// Arrivals are generated and fed to every deployment in chunks of this many requests, so
/// memory does not grow with the length of a run.
const CHUNK: usize = 4096;

/// Everything a run produced.
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
            (Some(t), Model::Local(l)) => {
                // Each device's intervals, moved into the window's clock.
                let per_device = |all: &[Intervals]| -> Vec<Intervals> {
                    all.iter()
                        .take(l.servers as usize)
                        .map(|iv| crate::outages::shifted(iv, offset_ms))
                        .collect()
                };
                // Training either slows a device (speed > 0) or takes it out (speed 0).
                let (slow, training) = if t.training_speed > 0.0 {
                    (per_device(&t.training), Vec::new())
                } else {
                    (Vec::new(), per_device(&t.training))
                };
                WindowOutages {
                    devices: per_device(&t.devices),
                    slow,
                    speed: t.training_speed,
                    training,
                    down: crate::outages::shifted(down, offset_ms),
                }
            }
            (Some(_), _) => WindowOutages {
                down: crate::outages::shifted(down, offset_ms),
                ..WindowOutages::default()
            },
            (None, _) => WindowOutages::default(),
        })
        .collect()
}

/// Simulates one window of traffic through `deployments`: the stationary run's (`month`
/// `None`) or month `month`'s, drawing from that window's streams ([`StreamId`]) of replication
/// `replication`.
#[allow(clippy::too_many_arguments, reason = "one call site per run mode, all named")]
pub(crate) fn simulate_window(
    scenario: &Scenario,
    deployments: &[Deployment],
    window: Window,
    warmup_ms: f64,
    replication: u64,
    month: Option<u32>,
    detail: impl Fn(&Deployment, Recorder) -> Recorder,
    outages: &[WindowOutages],
    progress: &(dyn Fn(u64) + Sync),
) -> WindowResult {
    let seed = scenario.simulation.seed;
    let mut arrivals = ArrivalStream::new(
        &scenario.traffic,
        window,
        stream(seed, replication, StreamId::Arrivals(month).id()),
    );
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
            (r, stream(seed, replication, StreamId::Deployment(month, k).id()))
        };
        node(k, member, &make, deployments, outages)
    };
    let mut nodes: Vec<Node> = (0..deployments.len()).map(|k| build(k, false)).collect();
    let mut buf: Vec<Request> = Vec::with_capacity(CHUNK);
    let (mut generated, mut counted) = (0u64, 0u64);
    let (mut prompt_tokens, mut output_tokens) = (0u64, 0u64);
    loop {
        buf.clear();
        let more = arrivals.fill(&mut buf, CHUNK);
        for d in &mut nodes {
            d.process(&buf);
        }
        // Arrivals come in time order: the counted ones (sent after the warm-up) are a suffix.
        debug_assert!(buf.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        let after_warmup = &buf[buf.partition_point(|r| r.t_ms < warmup_ms)..];
        counted += after_warmup.len() as u64;
        for r in after_warmup {
            prompt_tokens += u64::from(r.prompt_tokens);
            output_tokens += u64::from(r.output_tokens);
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
    // Exact: integer sums (below 2⁵³) convert without rounding, as the float sums they replace.
    let (prompt_tokens, output_tokens) = (prompt_tokens as f64, output_tokens as f64);
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
    if r.counts.arrived > 0 { r.counts.served as f64 / r.counts.arrived as f64 } else { 1.0 }
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
    let per = |sum: f64| if r.counts.served > 0 { sum / r.counts.served as f64 } else { 0.0 };
    ReplicationStats {
        counts: r.counts,
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
