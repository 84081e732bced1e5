//! Total cost of ownership over months: one replication walks the horizon month by month.
//!
//! Each month of each replication:
//! 1. devices ordered earlier under a capacity policy arrive (their capital is paid now);
//! 2. the month's traffic level `L` is drawn: lognormal with mean 1 and CV `level_noise_cv`
//!    (1 without noise);
//! 3. one window of `window_hours` (after the warm-up), starting at the midnight nearest the
//!    middle of the month, is simulated request by request at intensity `L ×` diurnal weight ×
//!    growth, with the devices owned this month. It yields the month's utilization, busiest-hour
//!    utilization, latency, mean tokens per request, and billed instance time per request;
//! 4. the month's volume is the *expected* number of requests in its 730 hours times `L`
//!    (exact, not sampled), with the window's mean token counts per request;
//! 5. costs follow [`lcsim_core::cost`]; a capacity policy orders a device if the busiest hour
//!    was busier than its threshold (it arrives after the lead time).
//!
//! **Sampling error.** Volumes are exact given `L`; what is sampled per month is the window:
//! utilization (hence energy with `idle_w`/`load_w`), tokens per request and billed seconds per
//! request are estimates from `window_hours` of traffic. Their relative standard error is about
//! `cv_x / √n` for `n` requests in the window (`cv_x` the CV of the per-request quantity, e.g. 1
//! for lognormal token counts with CV 1): for 24 h at 0.1 req/s (8,640 requests) that is about
//! 1.1 % per month, and the error averages out across months and replications
//! (36 × 1,000 windows → < 0.01 % on the mean cumulative cost). Monthly latency quantiles
//! pool the windows of all replications.

use lcsim_core::cost::{CostBreakdown, CostModel, InstanceBilling, break_even_month};
use lcsim_core::lifecycle::{RolloutStrategy, Updates};
use lcsim_core::reliability::{Failures, scale};
use lcsim_core::scenario::{
    Deployment, HOURS_PER_MONTH, Horizon, MS_PER_HOUR, Model, Provider, Scenario,
};
use lcsim_core::stats::quantile_sorted;
use lcsim_core::summary::{Band, BreakEven, CostSummary, DeploymentSummary, MonthBand, MonthlyRow};
use rand::RngExt;
use rand_distr::StandardNormal;

use crate::arrivals::Window;
use crate::outages::{Timeline, measure, periodic_in};
pub use crate::partial::MonthRecord;
use crate::partial::Partial;
use crate::random::{StreamId, stream};
use crate::recorder::Histograms;
use crate::recorder::Recorder;
use crate::station::DeploymentSim;
use crate::window::{
    availability, capacity, down_sets, draw_timelines, in_service_ms, initial_devices,
    replication_stats, simulate_window, slo_met, window_outages,
};

/// The monthly table and the break-even distributions of a horizon run.
#[derive(Debug, Clone)]
pub struct HorizonOutput {
    pub monthly: Vec<MonthlyRow>,
    pub break_even: Vec<BreakEven>,
}

fn billing_of(d: &Deployment, r: Recorder) -> Recorder {
    let r = r.track_hours();
    match d.cost {
        Some(CostModel::Cloud(c)) => match c.instances {
            Some(InstanceBilling::PerRequest { increment_s, min_billed_s, .. }) => {
                r.bill_requests(increment_s * 1000.0, min_billed_s * 1000.0)
            }
            Some(InstanceBilling::Autoscaled { increment_s, min_billed_s, .. }) => {
                r.bill_instances(increment_s * 1000.0, min_billed_s * 1000.0)
            }
            _ => r,
        },
        _ => r,
    }
}

/// What one single deployment (stand-alone or inside a hybrid) costs in a month.
struct MonthContext<'a> {
    scenario: &'a Scenario,
    month: usize,
    window_ms: f64,
    /// Expected requests of the month at this replication's level.
    requests: f64,
    /// Counted arrivals of the window at the top-level deployment.
    arrived: u64,
    servers: &'a [u32],
    purchases: &'a [Vec<u32>],
    price_change: &'a [f64],
    timelines: &'a [Option<Timeline>],
}

impl MonthContext<'_> {
    /// `(cash, amortized)` cost of single deployment `leaf` serving its share of the month.
    fn cost(&self, leaf: &DeploymentSim) -> (CostBreakdown, f64) {
        let k = leaf.index;
        let d = &self.scenario.deployments[k];
        let r = &leaf.recorder;
        let (mut cash, mut amortized) = match &d.cost {
            None => (CostBreakdown::default(), 0.0),
            Some(CostModel::Local(lc)) => {
                let utilization = r.busy_ms / (self.window_ms * f64::from(self.servers[k]));
                let mut cash = lc.running(self.servers[k], utilization);
                let (capital_cash, capital_amortized) =
                    lc.capital(&self.purchases[k], self.month + 1);
                let amortized = cash.running() + capital_amortized;
                cash.capex_usd = capital_cash;
                (cash, amortized)
            }
            Some(CostModel::Cloud(cc)) => {
                // The leaf's share of the top-level deployment's arrivals.
                let share = |x: f64| if self.arrived > 0 { x / self.arrived as f64 } else { 0.0 };
                let served = self.requests * share(r.counts.served as f64);
                let volume = lcsim_core::cost::Volume {
                    requests: served,
                    prompt_tokens: self.requests * share(r.prompt_tokens as f64),
                    output_tokens: self.requests * share(r.output_tokens as f64),
                    billed_seconds_per_request: if r.counts.served > 0 {
                        r.billed_ms / 1000.0 / r.counts.served as f64
                    } else {
                        0.0
                    },
                    instance_hours: r.billed_ms / MS_PER_HOUR * HOURS_PER_MONTH * MS_PER_HOUR
                        / self.window_ms,
                };
                let mut cash = cc.month(&volume, self.month + 1, self.price_change[k]);
                if let Some(Updates::Cloud { model_change: Some(c), .. }) = &d.updates
                    && self.month + 1 >= c.month as usize
                {
                    cash.token_usd *= c.price_factor;
                    cash.request_usd *= c.price_factor;
                }
                (cash, cash.total())
            }
        };
        let (from, to) = month_range(self.month);
        let devices = f64::from(self.servers[k]);
        let releases = self.timelines[k]
            .as_ref()
            .map_or(0, |t| t.releases.iter().filter(|&&r| r >= from && r < to).count())
            as f64;
        cash.updates_usd = match &d.updates {
            Some(Updates::Local { staff_hours_per_device, usd_per_staff_hour, .. }) => {
                releases * devices * staff_hours_per_device * usd_per_staff_hour
            }
            Some(Updates::Cloud { strategy, switch_ms, usd_per_release, .. }) => {
                // Blue/green doubles every instance during the switch; rolling adds one.
                let (instances, usd_per_hour) = match &d.cost {
                    Some(CostModel::Cloud(cc)) => match (cc.instances, &d.model) {
                        (Some(InstanceBilling::AlwaysOn { instances, usd_per_hour }), _) => {
                            (f64::from(instances), usd_per_hour)
                        }
                        (Some(InstanceBilling::Autoscaled { usd_per_hour, .. }), _) => {
                            (r.instance_ms / self.window_ms, usd_per_hour)
                        }
                        _ => (0.0, 0.0),
                    },
                    _ => (0.0, 0.0),
                };
                let surge = match strategy {
                    RolloutStrategy::BlueGreen => instances,
                    RolloutStrategy::Rolling => instances.min(1.0),
                };
                releases * (usd_per_release + surge * switch_ms / MS_PER_HOUR * usd_per_hour)
            }
            None => 0.0,
        };
        cash.training_usd = self.training_cost(d, k, from, to);
        amortized += cash.updates_usd + cash.training_usd;
        if let (Some(Failures::Local { devices: Some(f), .. }), Some(t)) =
            (&d.failures, &self.timelines[k])
        {
            let from = self.month as f64 * HOURS_PER_MONTH * MS_PER_HOUR;
            let n =
                t.failures_in(self.servers[k] as usize, from, from + HOURS_PER_MONTH * MS_PER_HOUR);
            cash.repair_usd = n as f64 * f.repair_usd;
            amortized += cash.repair_usd;
        }
        (cash, amortized)
    }

    /// Federated rounds (extra energy while training, delta uploads, coordinator) or central
    /// training (raw data transfer, cloud training) in `[from, to)`.
    fn training_cost(&self, d: &Deployment, k: usize, from: f64, to: f64) -> f64 {
        let fleet = f64::from(self.servers[k]);
        let mut usd = 0.0;
        if let Some(f) = &d.federated {
            let rounds = periodic_in(f.round_ms, from, to) as f64;
            let initial = match &d.model {
                Model::Local(l) => f64::from(l.servers),
                _ => 0.0,
            };
            let trainers = (f.share_of_devices * initial).round();
            let energy = match (&d.cost, f.train_power_w) {
                (Some(CostModel::Local(lc)), Some(w)) => {
                    let base = lc.power.watts(0.0);
                    (w - base).max(0.0) / 1000.0 * f.busy_ms / MS_PER_HOUR * lc.pue * lc.usd_per_kwh
                }
                _ => 0.0,
            };
            usd += rounds
                * (trainers * (energy + f.delta_gb * f.transfer_usd_per_gb)
                    + f.coordinator_usd_per_round);
        }
        if let Some(c) = &d.central_training {
            let rounds = periodic_in(c.round_ms, from, to) as f64;
            usd += rounds * (fleet * c.raw_gb_per_device * c.transfer_usd_per_gb + c.usd_per_round);
        }
        usd
    }
}

/// `[start, end)` of month `m` (0-based), in ms.
fn month_range(m: usize) -> (f64, f64) {
    let from = m as f64 * HOURS_PER_MONTH * MS_PER_HOUR;
    (from, from + HOURS_PER_MONTH * MS_PER_HOUR)
}

pub(crate) fn horizon_replication(
    scenario: &Scenario,
    h: Horizon,
    index: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Partial {
    let sim = &scenario.simulation;
    let months = h.months as usize;
    let n = scenario.deployments.len();
    let mut noise = stream(sim.seed, index, StreamId::Noise.id());
    // One draw per cloud deployment with price uncertainty, in deployment order.
    let price_change: Vec<f64> = scenario
        .deployments
        .iter()
        .map(|d| match d.cost {
            Some(CostModel::Cloud(c)) if c.price_change_sd_per_year > 0.0 => {
                let z: f64 = noise.sample(StandardNormal);
                (c.price_change_per_year + c.price_change_sd_per_year * z).max(-0.99)
            }
            Some(CostModel::Cloud(c)) => c.price_change_per_year,
            _ => 0.0,
        })
        .collect();
    let mut servers = initial_devices(scenario);
    let mut purchases: Vec<Vec<u32>> = servers
        .iter()
        .map(|&s| {
            let mut p = vec![0; months];
            p[0] = s;
            p
        })
        .collect();
    let mut pending: Vec<(usize, usize)> = Vec::new(); // (arrival month, deployment)
    let cv = scenario.traffic.level_noise_cv;
    let sigma = (1.0 + cv * cv).ln().sqrt();
    let horizon_ms = months as f64 * HOURS_PER_MONTH * MS_PER_HOUR;
    let timelines = draw_timelines(scenario, index, horizon_ms);
    let mut downtime_total = vec![0.0; n];
    let mut in_service_total = vec![0.0; n];
    let mut month_slo: Vec<Vec<bool>> = vec![Vec::new(); n];
    let mut totals: Vec<Recorder> = (0..n).map(|_| Recorder::new(0.0, 0.0)).collect();
    let mut utilization_sum = vec![0.0; n];
    let mut records: Vec<Vec<MonthRecord>> = vec![Vec::with_capacity(months); n];
    let mut month_latency: Vec<Vec<Histograms>> = vec![Vec::with_capacity(months); n];
    let mut generated = 0;
    for m in 0..months {
        pending.retain(|&(due, k)| {
            if due == m {
                servers[k] += 1;
                purchases[k][m] += 1;
            }
            due != m
        });
        let level = if cv > 0.0 {
            let z: f64 = noise.sample(StandardNormal);
            (sigma * z - sigma * sigma / 2.0).exp()
        } else {
            1.0
        };
        let deployments: Vec<Deployment> = scenario
            .deployments
            .iter()
            .zip(&servers)
            .map(|(d, &s)| {
                let mut d = d.clone();
                if let Model::Local(l) = &mut d.model {
                    l.servers = s;
                }
                // A provider's model change: its time scaled from the given month on.
                if let (Some(Updates::Cloud { model_change: Some(c), .. }), Model::Cloud(cloud)) =
                    (&d.updates, &mut d.model)
                    && m + 1 >= c.month as usize
                {
                    cloud.provider = match &cloud.provider {
                        Provider::Dist(x) => Provider::Dist(scale(x.clone(), c.latency_factor)),
                        Provider::Streaming { ttft_ms, output_tokens_per_s } => {
                            Provider::Streaming {
                                ttft_ms: scale(ttft_ms.clone(), c.latency_factor),
                                output_tokens_per_s: output_tokens_per_s / c.latency_factor,
                            }
                        }
                    };
                }
                d
            })
            .collect();
        let window = Window {
            start_hour: Horizon::window_start_hour(m as u32),
            level,
            end_ms: sim.warmup_ms + h.window_ms,
        };
        let downs = down_sets(&deployments, &timelines, &servers);
        let offset = window.start_hour as f64 * MS_PER_HOUR - sim.warmup_ms;
        let outages = window_outages(&deployments, &timelines, &downs, offset);
        let w = simulate_window(
            scenario,
            &deployments,
            window,
            sim.warmup_ms,
            index,
            Some(m as u32),
            billing_of,
            &outages,
            progress,
        );
        generated += w.generated;
        let requests = scenario.traffic.expected_requests_in_month(m as u32) * level;
        let per_request = |x: f64| if w.counted > 0 { x / w.counted as f64 } else { 0.0 };
        let (prompt_per_request, output_per_request) =
            (per_request(w.prompt_tokens), per_request(w.output_tokens));
        let month_start = m as f64 * HOURS_PER_MONTH * MS_PER_HOUR;
        for (k, (d, node)) in deployments.iter().zip(&w.nodes).enumerate() {
            let r = node.recorder();
            let cap = capacity(d);
            let utilization = r.busy_ms / (h.window_ms * cap);
            let peak = r.busy_by_hour_ms.iter().copied().fold(0.0, f64::max) / (MS_PER_HOUR * cap);
            let context = MonthContext {
                scenario,
                month: m,
                window_ms: h.window_ms,
                requests,
                arrived: r.counts.arrived,
                servers: &servers,
                purchases: &purchases,
                price_change: &price_change,
                timelines: &timelines,
            };
            let mut leaves = Vec::new();
            node.leaves(&mut leaves);
            let (mut cash, mut amortized_usd) = (CostBreakdown::default(), 0.0);
            for leaf in &leaves {
                let (c, a) = context.cost(leaf);
                cash.add(&c);
                amortized_usd += a;
            }
            let (local_share, cloud_share) = route_shares(scenario, d, r);
            let month_end = month_start + HOURS_PER_MONTH * MS_PER_HOUR;
            let device_hours = |lists: Option<&Vec<crate::outages::Intervals>>| {
                lists.map_or(0.0, |l| {
                    l.iter()
                        .take(servers[k] as usize)
                        .map(|iv| measure(iv, month_start, month_end))
                        .sum::<f64>()
                        / MS_PER_HOUR
                })
            };
            let downtime_ms =
                measure(&downs[k], month_start, month_start + HOURS_PER_MONTH * MS_PER_HOUR);
            let arrived = r.counts.arrived.max(1) as f64;
            records[k].push(MonthRecord {
                cash,
                amortized_usd,
                requests,
                prompt_tokens: requests * prompt_per_request,
                output_tokens: requests * output_per_request,
                servers: servers[k],
                utilization,
                peak_hour_utilization: peak,
                availability: availability(r),
                downtime_ms,
                errors: requests * r.counts.errors() as f64 / arrived,
                local_share,
                cloud_share,
                instances: if matches!(&d.model, Model::Cloud(c) if c.autoscale.is_some()) {
                    r.instance_ms / h.window_ms
                } else {
                    f64::NAN
                },
                releases: timelines[k].as_ref().map_or(0.0, |t| {
                    t.releases.iter().filter(|&&x| x >= month_start && x < month_end).count() as f64
                }),
                update_device_hours: device_hours(timelines[k].as_ref().map(|t| &t.updates)),
                training_device_hours: device_hours(timelines[k].as_ref().map(|t| &t.training)),
            });
            if let Some(met) = slo_met(scenario.slo, r) {
                month_slo[k].push(met);
            }
            downtime_total[k] += downtime_ms;
            in_service_total[k] += in_service_ms(node);
            if let Some(p) = d.capacity_policy {
                let ordered = pending.iter().filter(|&&(_, j)| j == k).count() as u32;
                let due = m + 1 + p.lead_time_months as usize;
                if peak > p.add_when_peak_utilization_above
                    && servers[k] + ordered < p.max_servers
                    && due < months
                {
                    pending.push((due, k));
                }
            }
            month_latency[k].push(Histograms::month_of(r));
            totals[k].absorb(r);
            utilization_sum[k] += utilization;
        }
    }
    let measured_ms = months as f64 * h.window_ms;
    let stats = (0..n)
        .map(|k| {
            let mut s = replication_stats(
                &totals[k],
                measured_ms,
                utilization_sum[k] / months as f64,
                in_service_total[k],
                downtime_total[k],
                None,
            );
            // Judged month by month (see `month_slo`).
            s.slo_met = None;
            s
        })
        .collect();
    let histograms = totals.iter().map(Histograms::of).collect();
    Partial {
        generated,
        stats: vec![stats],
        histograms,
        months: vec![records],
        month_latency,
        month_slo: scenario.slo.map(|_| vec![month_slo]),
    }
}

/// Shares of served requests that used a local and a cloud deployment.
fn route_shares(scenario: &Scenario, d: &Deployment, r: &Recorder) -> (f64, f64) {
    match &d.model {
        Model::Local(_) => (1.0, 0.0),
        Model::Cloud(_) => (0.0, 1.0),
        Model::Hybrid(_) => {
            let served = r.counts.served.max(1) as f64;
            let share = |kind: &str| {
                r.routes
                    .iter()
                    .filter(|(mask, _)| {
                        scenario
                            .deployments
                            .iter()
                            .enumerate()
                            .any(|(b, dep)| *mask & (1 << b) != 0 && dep.model.kind() == kind)
                    })
                    .map(|(_, c)| *c as f64)
                    .sum::<f64>()
                    / served
            };
            (share("local"), share("cloud"))
        }
    }
}

/// A deployment with a cost model, or a hybrid with a member that has one.
fn has_cost(scenario: &Scenario, d: &Deployment) -> bool {
    match &d.model {
        Model::Hybrid(h) => {
            has_cost(scenario, &scenario.deployments[h.local])
                || has_cost(scenario, &scenario.deployments[h.cloud])
        }
        _ => d.cost.is_some(),
    }
}

fn band(values: &[f64]) -> Band {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Band {
        mean,
        p5: quantile_sorted(&sorted, 0.05),
        p50: quantile_sorted(&sorted, 0.5),
        p95: quantile_sorted(&sorted, 0.95),
    }
}

fn month_band(month: usize, values: &[f64]) -> MonthBand {
    let b = band(values);
    MonthBand { month: month as u32 + 1, mean: b.mean, p5: b.p5, p50: b.p50, p95: b.p95 }
}

pub(crate) fn summarize_horizon(
    scenario: &Scenario,
    months: &[Vec<Vec<MonthRecord>>],
    month_latency: &[Vec<Histograms>],
    month_slo: Option<&Vec<Vec<Vec<bool>>>>,
    deployments: &mut [DeploymentSummary],
) -> HorizonOutput {
    let n_months = months[0][0].len();
    let reps = months.len() as f64;
    let mut monthly = Vec::new();
    for (k, (d, summary)) in scenario.deployments.iter().zip(deployments.iter_mut()).enumerate() {
        let mut cumulative = vec![0.0; months.len()];
        let mut cumulative_amortized = vec![0.0; months.len()];
        let mut cost = CostSummary {
            monthly: Vec::new(),
            cumulative: Vec::new(),
            cumulative_amortized: Vec::new(),
        };
        for m in 0..n_months {
            let month_cost: Vec<f64> = months.iter().map(|r| r[k][m].cash.total()).collect();
            for (i, r) in months.iter().enumerate() {
                cumulative[i] += r[k][m].cash.total();
                cumulative_amortized[i] += r[k][m].amortized_usd;
            }
            let (b_month, b_cum) = (month_band(m, &month_cost), month_band(m, &cumulative));
            let b_amortized = month_band(m, &cumulative_amortized);
            let mean = |f: &dyn Fn(&MonthRecord) -> f64| {
                months.iter().map(|r| f(&r[k][m])).sum::<f64>() / reps
            };
            let mut components = CostBreakdown::default();
            for r in months {
                components.add(&r[k][m].cash);
            }
            let components = components.scaled(1.0 / reps);
            let unlimited = capacity(d).is_nan();
            let hist = &month_latency[k][m];
            let latency = &hist.latency;
            monthly.push(MonthlyRow {
                deployment: d.name.clone(),
                kind: summary.kind,
                month: m as u32 + 1,
                requests: mean(&|r| r.requests),
                prompt_tokens: mean(&|r| r.prompt_tokens),
                output_tokens: mean(&|r| r.output_tokens),
                servers: mean(&|r| f64::from(r.servers)),
                capex_usd: components.capex_usd,
                energy_usd: components.energy_usd,
                colocation_usd: components.colocation_usd,
                ops_usd: components.ops_usd,
                token_usd: components.token_usd,
                request_usd: components.request_usd,
                instance_usd: components.instance_usd,
                egress_usd: components.egress_usd,
                cost_mean_usd: b_month.mean,
                cost_p5_usd: b_month.p5,
                cost_p50_usd: b_month.p50,
                cost_p95_usd: b_month.p95,
                cumulative_mean_usd: b_cum.mean,
                cumulative_p5_usd: b_cum.p5,
                cumulative_p50_usd: b_cum.p50,
                cumulative_p95_usd: b_cum.p95,
                cumulative_amortized_mean_usd: b_amortized.mean,
                utilization: (!unlimited).then(|| mean(&|r| r.utilization)),
                peak_hour_utilization: (!unlimited).then(|| mean(&|r| r.peak_hour_utilization)),
                latency_p50_ms: latency.quantile(0.5).unwrap_or(0.0),
                latency_p95_ms: latency.quantile(0.95).unwrap_or(0.0),
                latency_p99_ms: latency.quantile(0.99).unwrap_or(0.0),
                ttft_p95_ms: hist.ttft().quantile(0.95).unwrap_or(0.0),
                tpot_p95_ms: hist.tpot().and_then(|h| h.quantile(0.95)),
                repair_usd: components.repair_usd,
                availability: mean(&|r| r.availability),
                downtime_minutes: mean(&|r| r.downtime_ms) / 60_000.0,
                errors: mean(&|r| r.errors),
                slo_attainment: month_slo
                    .map(|s| s.iter().filter(|rep| rep[k][m]).count() as f64 / s.len() as f64),
                local_share: mean(&|r| r.local_share),
                cloud_share: mean(&|r| r.cloud_share),
                instances: (!months[0][k][m].instances.is_nan()).then(|| mean(&|r| r.instances)),
                updates_usd: components.updates_usd,
                training_usd: components.training_usd,
                releases: mean(&|r| r.releases),
                update_device_hours: mean(&|r| r.update_device_hours),
                training_device_hours: mean(&|r| r.training_device_hours),
            });
            cost.monthly.push(b_month);
            cost.cumulative.push(b_cum);
            cost.cumulative_amortized.push(b_amortized);
        }
        if has_cost(scenario, d) {
            summary.cost_usd = Some(cost);
        }
        if d.updates.is_some() || d.federated.is_some() || d.central_training.is_some() {
            let per_month = |f: &dyn Fn(&MonthRecord) -> f64| {
                months.iter().flat_map(|r| r[k].iter().map(f)).sum::<f64>()
                    / (reps * n_months as f64)
            };
            summary.lifecycle = Some(lcsim_core::summary::LifecycleSummary {
                releases_per_month: per_month(&|r| r.releases),
                updates_usd_per_month: per_month(&|r| r.cash.updates_usd),
                update_device_hours_per_month: per_month(&|r| r.update_device_hours),
                training_usd_per_month: per_month(&|r| r.cash.training_usd),
                training_device_hours_per_month: per_month(&|r| r.training_device_hours),
            });
        }
    }
    let mut break_even = Vec::new();
    for (kl, local) in scenario.deployments.iter().enumerate() {
        for (kc, cloud) in scenario.deployments.iter().enumerate() {
            let is_pair = matches!(local.cost, Some(CostModel::Local(_)))
                && matches!(cloud.cost, Some(CostModel::Cloud(_)));
            if !is_pair {
                continue;
            }
            let months_of = |r: &Vec<Vec<MonthRecord>>, k: usize| -> Vec<CostBreakdown> {
                r[k].iter().map(|m| m.cash).collect()
            };
            let crossings: Vec<Option<f64>> = months
                .iter()
                .map(|r| break_even_month(&months_of(r, kl), &months_of(r, kc)))
                .collect();
            let reached: Vec<f64> = crossings.iter().flatten().copied().collect();
            break_even.push(BreakEven {
                local: local.name.clone(),
                cloud: cloud.name.clone(),
                month: (!reached.is_empty()).then(|| band(&reached)),
                never_fraction: (crossings.len() - reached.len()) as f64 / crossings.len() as f64,
            });
        }
    }
    HorizonOutput { monthly, break_even }
}
