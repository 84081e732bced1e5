//! The validated scenario: what the engine simulates, and what can be known of it before any
//! simulation (mean service times, offered load, expected requests).

use crate::deployment::Deployment;
use crate::deployment::LocalService;
use crate::deployment::Model;
use crate::deployment::Provider;
use crate::reliability::Slo;
use crate::simulation::Horizon;
use crate::simulation::Simulation;
use crate::trace::Trace;
use crate::traffic::Arrivals;
use crate::traffic::Traffic;
use crate::units::{HOURS_PER_MONTH, MS_PER_HOUR};

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub simulation: Simulation,
    pub traffic: Traffic,
    pub deployments: Vec<Deployment>,
    pub slo: Option<Slo>,
    /// Things that are legal but probably not what the user meant.
    pub warnings: Vec<String>,
}

impl Scenario {
    /// The trace's token columns, when the traffic replays a trace.
    pub fn trace(&self) -> Option<&Trace> {
        match &self.traffic.arrivals {
            Arrivals::Trace { trace, .. } => Some(trace),
            _ => None,
        }
    }

    /// Mean service time of one request (of a full batch, for batching servers), milliseconds.
    pub fn mean_service_ms(&self, deployment: &Deployment) -> f64 {
        let trace = self.trace();
        let prompt = self.traffic.prompt_tokens.mean(trace.map(|t| &*t.prompt_tokens));
        let output = self.traffic.output_tokens.mean(trace.map(|t| &*t.output_tokens));
        match &deployment.model {
            Model::Local(local) => match &local.service {
                LocalService::Dist(d) => d.mean(),
                LocalService::Tokens(tl) => {
                    let b = local.max_batch;
                    tl.batch_ms(
                        b,
                        (prompt.unwrap_or(0.0) * f64::from(b)) as u64,
                        output.unwrap_or(0.0) as u32,
                    )
                }
                LocalService::Continuous(c) => {
                    c.mean_service_ms(prompt.unwrap_or(0.0), output.unwrap_or(1.0).max(1.0))
                }
            },
            Model::Cloud(cloud) => match &cloud.provider {
                Provider::Dist(d) => d.mean(),
                Provider::Streaming { ttft_ms, output_tokens_per_s } => {
                    ttft_ms.mean() + output.unwrap_or(0.0) / output_tokens_per_s * 1000.0
                }
            },
            Model::Hybrid(_) => f64::NAN,
        }
    }

    /// Offered load per unit of capacity, `λ·E[S] / (servers · max_batch)`, at the mean rate
    /// and at the busiest hour; `None` for unlimited cloud concurrency. With batching this is a
    /// lower bound on the real load (batches are not always full).
    pub fn offered_load(&self, deployment: &Deployment) -> Option<(f64, f64)> {
        let capacity = match &deployment.model {
            Model::Local(l) => match &l.service {
                LocalService::Continuous(c) => f64::from(l.servers) * f64::from(c.max_num_seqs),
                _ => f64::from(l.servers) * f64::from(l.max_batch),
            },
            Model::Cloud(c) => match &c.autoscale {
                Some(a) => f64::from(a.max_instances?) * f64::from(a.concurrency),
                None => f64::from(c.max_concurrency?),
            },
            Model::Hybrid(_) => return None,
        };
        let rate_per_ms = self.traffic.arrivals.mean_rate_per_s() / 1000.0;
        let mean_load = rate_per_ms * self.mean_service_ms(deployment) / capacity;
        let peak_weight =
            self.traffic.hourly_weights.map_or(1.0, |w| w.iter().copied().fold(0.0, f64::max));
        let months = match self.simulation.horizon {
            Some(h) => f64::from(h.months),
            None => self.simulation.duration_ms / MS_PER_HOUR / HOURS_PER_MONTH,
        };
        let growth = (1.0 + self.traffic.growth_per_month).powf(months).max(1.0);
        Some((mean_load, mean_load * peak_weight * growth))
    }
}

impl Scenario {
    /// Hours of traffic one replication simulates, each weighted by its intensity multiplier
    /// (diurnal weight × growth): the expected requests of a replication are this × 3600 × the
    /// mean arrival rate. Warm-up included; for a horizon, every month's window.
    pub fn traffic_hours_per_replication(&self) -> f64 {
        let sim = &self.simulation;
        let hours = (sim.duration_ms / MS_PER_HOUR).ceil() as u64;
        match sim.horizon {
            None => {
                let sum: f64 = (0..hours).map(|h| self.traffic.hour_multiplier(h)).sum();
                sum * (sim.duration_ms / MS_PER_HOUR) / hours.max(1) as f64
            }
            Some(h) => (0..h.months)
                .map(|m| {
                    let start = Horizon::window_start_hour(m);
                    (start..start + hours).map(|h| self.traffic.hour_multiplier(h)).sum::<f64>()
                })
                .sum(),
        }
    }

    /// Expected request-visits of the whole run: each request counts once per deployment that
    /// serves it (hybrids route to their members), and, on a local deployment whose devices can
    /// be down (failures, releases, training), once more per 16 devices, which the engine scans
    /// for each request. This is what [`limits::MAX_REQUEST_VISITS`] bounds.
    pub fn expected_request_visits(&self) -> f64 {
        let per_deployment: f64 = self
            .deployments
            .iter()
            .map(|d| match &d.model {
                Model::Hybrid(_) => 0.0,
                Model::Local(l) => {
                    let scanned =
                        d.failures.is_some() || d.updates.is_some() || d.federated.is_some();
                    let devices = d.capacity_policy.map_or(l.servers, |p| p.max_servers);
                    if scanned { (f64::from(devices) / 16.0).max(1.0) } else { 1.0 }
                }
                Model::Cloud(_) => 1.0,
            })
            .sum();
        self.expected_requests() * per_deployment
    }

    /// Expected requests of the whole run, all replications together.
    pub fn expected_requests(&self) -> f64 {
        self.traffic.arrivals.mean_rate_per_s()
            * 3600.0
            * self.traffic_hours_per_replication()
            * f64::from(self.simulation.replications)
    }
}
