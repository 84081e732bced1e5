//! The size of a run, bounded before anything is simulated (the bounds are in
//! [`crate::limits`]).

use crate::deployment::Model;
use crate::error::Problem;
use crate::limits;
use crate::model::Scenario;
use crate::reliability::Failures;
use crate::traffic::Arrivals;
use crate::units::{HOURS_PER_MONTH, MS_PER_HOUR};

/// Refuses a run that would simulate more requests, or hold more timeline intervals, than
/// [`limits`] allows, naming the key that drives the size. `parse_scenario` applies it; a caller
/// that changes the scenario afterwards (a `--replications` flag) applies it again.
pub fn check_run_size(s: &Scenario) -> Result<(), Problem> {
    let sim = &s.simulation;
    let t = &s.traffic;
    let multiplier_hours = s.traffic_hours_per_replication();
    let serving = s.deployments.iter().filter(|d| !matches!(d.model, Model::Hybrid(_))).count();
    let reps = f64::from(sim.replications);
    let visits = s.expected_request_visits();
    let (key, what) = match &t.arrivals {
        Arrivals::Trace { .. } => ("traffic.time_scale", "the trace's rate"),
        Arrivals::Mmpp { .. } => ("traffic.rates_per_s", "the arrival rate"),
        _ => ("traffic.rate_per_s", "the arrival rate"),
    };
    let key = if t.growth_per_month > 0.0 && sim.horizon.is_some() {
        "traffic.growth_per_month"
    } else {
        key
    };
    limits::request_visits(
        key,
        visits,
        &format!(
            "{what} × {} simulated hours × {} replication(s) × {serving} deployment(s){}",
            crate::check::num(multiplier_hours),
            sim.replications,
            if visits > s.expected_requests() * serving as f64 {
                ", each request scanning the devices that can be down in groups of 16"
            } else {
                ""
            }
        ),
    )?;
    if let Arrivals::Mmpp { mean_dwell_s, .. } = &t.arrivals {
        // State switches are events like arrivals.
        let switches = sim.duration_ms / (500.0 * (mean_dwell_s[0] + mean_dwell_s[1]))
            * reps
            * sim.horizon.map_or(1.0, |h| f64::from(h.months));
        limits::request_visits("traffic.mean_dwell_s", switches, "state switches of the MMPP")?;
    }
    // Failure, release and training timelines cover the whole run of one replication.
    let timeline_ms = match sim.horizon {
        None => sim.duration_ms,
        Some(h) => f64::from(h.months) * HOURS_PER_MONTH * MS_PER_HOUR,
    };
    for (i, d) in s.deployments.iter().enumerate() {
        let key = format!("deployment[{i}]");
        let devices = match (&d.model, &d.capacity_policy) {
            (Model::Local(_), Some(p)) => f64::from(p.max_servers),
            (Model::Local(l), None) => f64::from(l.servers),
            _ => 1.0,
        };
        match &d.failures {
            Some(Failures::Local { devices: f, power, .. }) => {
                if let Some(f) = f {
                    let mtbf_ms = match f.time_to_failure {
                        crate::reliability::Lifetime::Exponential { mean_ms } => mean_ms,
                        crate::reliability::Lifetime::Weibull { shape, scale_ms } => {
                            scale_ms * crate::theory::gamma(1.0 + 1.0 / shape)
                        }
                    };
                    let n = devices * timeline_ms / (mtbf_ms + f.mttr_ms);
                    limits::intervals(&format!("{key}.failures.mtbf_hours"), n, "device failures")?;
                }
                if let Some(o) = power {
                    let n = o.rate_per_ms * timeline_ms;
                    limits::intervals(
                        &format!("{key}.failures.power_outages_per_year"),
                        n,
                        "power outages",
                    )?;
                }
            }
            Some(Failures::Cloud { zones, zone, provider, .. }) => {
                for (name, o, k) in [("zone", zone, f64::from(*zones)), ("provider", provider, 1.0)]
                {
                    if let Some(o) = o {
                        limits::intervals(
                            &format!("{key}.failures.{name}_outages_per_year"),
                            k * o.rate_per_ms * timeline_ms,
                            &format!("{name} outages"),
                        )?;
                    }
                }
            }
            _ => {}
        }
        if let Some(u) = &d.updates {
            let releases = match u.cadence() {
                None => 0.0,
                Some(crate::lifecycle::Cadence::Every { interval_ms }) => timeline_ms / interval_ms,
                Some(crate::lifecycle::Cadence::Poisson { rate_per_ms }) => {
                    timeline_ms * rate_per_ms
                }
            };
            let cadence_key = match u.cadence() {
                Some(crate::lifecycle::Cadence::Poisson { .. }) => "releases_per_year",
                _ => "every_days",
            };
            limits::intervals(
                &format!("{key}.updates.{cadence_key}"),
                releases * devices,
                "model releases",
            )?;
        }
        if let Some(f) = &d.federated {
            limits::intervals(
                &format!("{key}.federated.round_every_hours"),
                timeline_ms / f.round_ms * devices,
                "federated training rounds",
            )?;
        }
        if let Some(c) = &d.central_training {
            limits::intervals(
                &format!("{key}.central_training.round_every_hours"),
                timeline_ms / c.round_ms,
                "central training rounds",
            )?;
        }
    }
    Ok(())
}
