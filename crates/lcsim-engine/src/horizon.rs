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
use lcsim_core::scenario::{Deployment, Horizon, MS_PER_HOUR, Model, Scenario};
use lcsim_core::stats::quantile_sorted;
use lcsim_core::summary::{Band, BreakEven, CostSummary, DeploymentSummary, MonthBand, MonthlyRow};
use rand::RngExt;
use rand_distr::StandardNormal;

use crate::arrivals::Window;
use crate::histogram::LogHistogram;
use crate::random::stream;
use crate::run::{Partial, capacity, replication_stats, simulate_window};
use crate::station::Recorder;

/// Stream of a replication's traffic levels and price drifts (distinct from every window's).
const NOISE_STREAM: u64 = u64::MAX;

/// One deployment in one month of one replication.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonthRecord {
    /// Cash basis: capital counted in the month it is paid.
    pub cash: CostBreakdown,
    /// Running costs plus straight-line depreciation.
    pub amortized_usd: f64,
    pub requests: f64,
    pub prompt_tokens: f64,
    pub output_tokens: f64,
    pub servers: u32,
    /// Mean utilization in the month's window; NaN for unlimited concurrency.
    pub utilization: f64,
    pub peak_hour_utilization: f64,
}

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
            _ => r,
        },
        _ => r,
    }
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
    let mut noise = stream(sim.seed, index, NOISE_STREAM);
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
    let mut servers: Vec<u32> = scenario
        .deployments
        .iter()
        .map(|d| match &d.model {
            Model::Local(l) => l.servers,
            Model::Cloud(_) => 0,
        })
        .collect();
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
    let mut totals: Vec<Recorder> = (0..n).map(|_| Recorder::new(0.0, 0.0)).collect();
    let mut utilization_sum = vec![0.0; n];
    let mut records: Vec<Vec<MonthRecord>> = vec![Vec::with_capacity(months); n];
    let mut month_latency: Vec<Vec<LogHistogram>> = vec![Vec::with_capacity(months); n];
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
                d
            })
            .collect();
        let window = Window {
            start_hour: Horizon::window_start_hour(m as u32),
            level,
            end_ms: sim.warmup_ms + h.window_ms,
        };
        let w = simulate_window(
            scenario,
            &deployments,
            window,
            sim.warmup_ms,
            index,
            (m as u64 + 1) << 32,
            billing_of,
            progress,
        );
        generated += w.generated;
        let requests = scenario.traffic.expected_requests_in_month(m as u32) * level;
        let per_request = |x: f64| if w.counted > 0 { x / w.counted as f64 } else { 0.0 };
        let (prompt_per_request, output_per_request) =
            (per_request(w.prompt_tokens), per_request(w.output_tokens));
        for (k, (d, r)) in deployments.iter().zip(&w.recorders).enumerate() {
            let cap = capacity(d);
            let utilization = r.busy_ms / (h.window_ms * cap);
            let peak = r.busy_by_hour_ms.iter().copied().fold(0.0, f64::max) / (MS_PER_HOUR * cap);
            let served_share = if r.arrived > 0 { r.served as f64 / r.arrived as f64 } else { 1.0 };
            let (cash, amortized_usd) = match &d.cost {
                None => (CostBreakdown::default(), 0.0),
                Some(CostModel::Local(lc)) => {
                    let mut cash = lc.running(servers[k], utilization);
                    let (capital_cash, capital_amortized) = lc.capital(&purchases[k], m + 1);
                    let amortized = cash.running() + capital_amortized;
                    cash.capex_usd = capital_cash;
                    (cash, amortized)
                }
                Some(CostModel::Cloud(cc)) => {
                    let served = requests * served_share;
                    let volume = lcsim_core::cost::Volume {
                        requests: served,
                        prompt_tokens: served * prompt_per_request,
                        output_tokens: served * output_per_request,
                        billed_seconds_per_request: if r.served > 0 {
                            r.billed_ms / 1000.0 / r.served as f64
                        } else {
                            0.0
                        },
                    };
                    let cash = cc.month(&volume, m + 1, price_change[k]);
                    (cash, cash.total())
                }
            };
            records[k].push(MonthRecord {
                cash,
                amortized_usd,
                requests,
                prompt_tokens: requests * prompt_per_request,
                output_tokens: requests * output_per_request,
                servers: servers[k],
                utilization,
                peak_hour_utilization: peak,
            });
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
            month_latency[k].push(r.latency.clone());
            totals[k].absorb(r);
            utilization_sum[k] += utilization;
        }
    }
    let measured_ms = months as f64 * h.window_ms;
    let stats = totals
        .iter()
        .zip(&utilization_sum)
        .map(|(r, u)| replication_stats(r, measured_ms, u / months as f64))
        .collect();
    let histograms = totals.iter().map(|r| (r.latency.clone(), r.wait.clone())).collect();
    Partial { generated, stats: vec![stats], histograms, months: vec![records], month_latency }
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
    month_latency: &[Vec<LogHistogram>],
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
            let latency = &month_latency[k][m];
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
            });
            cost.monthly.push(b_month);
            cost.cumulative.push(b_cum);
            cost.cumulative_amortized.push(b_amortized);
        }
        if d.cost.is_some() {
            summary.cost_usd = Some(cost);
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
