//! Model updates and training against closed forms: with deterministic cadences and roll-out
//! times the device-hours and costs are exact, month by month.

mod common;
use common::{check, mean_se, per_rep, simulate};

use lcsim_core::summary::MonthlyRow;
use lcsim_engine::RunOutput;
use lcsim_engine::histogram::RELATIVE_ERROR_BOUND;
use lcsim_engine::outages::periodic_in;

fn rows<'a>(out: &'a RunOutput, name: &'a str) -> impl Iterator<Item = &'a MonthlyRow> + 'a {
    out.horizon.as_ref().unwrap().monthly.iter().filter(move |r| r.deployment == name)
}

const MONTH_MS: f64 = 730.0 * 3_600_000.0;

fn fleet(extra: &str) -> String {
    format!(
        r#"
name = "fleet"
[simulation]
seed = 4
replications = 3
horizon_months = 6
window_hours = 24
[traffic]
pattern = "poisson"
rate_per_s = 2.0
[[deployment]]
name = "fleet"
kind = "local"
servers = 8
service_ms = {{ dist = "exponential", mean = 2000 }}
[deployment.cost]
capex_usd = 500
amortization_months = 36
idle_w = 7
load_w = 25
usd_per_kwh = 0.2
{extra}
"#
    )
}

/// n devices, a release every 730 h (one per month, mid-month), each device out for the
/// roll-out time: exactly `n × rollout × releases` device-hours and
/// `n × staff_hours × rate × releases` dollars a month.
#[test]
fn monthly_releases_take_exact_device_hours_and_staff_cost() {
    for (per_month, every_days) in [(1.0, 730.0 / 24.0), (2.0, 730.0 / 48.0)] {
        let out = simulate(&fleet(&format!(
            "[deployment.updates]\nevery_days = {every_days}\nrollout_minutes = 45\nstaff_hours_per_device = 0.5\nusd_per_staff_hour = 90\n"
        )));
        for r in rows(&out, "fleet") {
            assert_eq!(r.releases, per_month, "month {}", r.month);
            assert!((r.update_device_hours - 8.0 * 0.75 * per_month).abs() < 1e-9, "{r:?}");
            assert!((r.updates_usd - 8.0 * 0.5 * 90.0 * per_month).abs() < 1e-9, "{r:?}");
        }
    }
}

/// A failed update is rolled back: the device is out for the roll-out plus the rollback.
#[test]
fn failed_updates_add_rollback_time() {
    let out = simulate(&fleet(
        "[deployment.updates]\nevery_days = 30.416666666666668\nrollout_minutes = 30\nfailure_probability = 1.0\nrollback_minutes = 30\n",
    ));
    for r in rows(&out, "fleet") {
        assert!((r.update_device_hours - 8.0 * 1.0).abs() < 1e-9, "{r:?}");
    }
}

/// Federated learning with a share s of d devices busy t hours every T hours takes exactly
/// `round(s·d) · t` device-hours per round, `s·t/T` of the fleet's time on average, and the
/// fleet that gives up that capacity queues more.
#[test]
fn federated_learning_takes_its_share_of_capacity() {
    let text = fleet(
        r#"[deployment.federated]
round_every_hours = 24
share_of_devices = 0.5
train_hours = 12
train_power_w = 25
delta_mb = 50
transfer_usd_per_gb = 0.1
coordinator_usd_per_hour = 2
coordinator_hours_per_round = 0.5
[[deployment]]
name = "no-fl"
kind = "local"
servers = 8
service_ms = { dist = "exponential", mean = 2000 }
"#,
    );
    let out = simulate(&text);
    let mut taken = 0.0;
    for (m, r) in rows(&out, "fleet").enumerate() {
        let from = m as f64 * MONTH_MS;
        let rounds = periodic_in(24.0 * 3_600_000.0, from, from + MONTH_MS) as f64;
        // Device-hours inside the month: rounds at 12:00 for 12 h, a round may straddle the
        // month's end.
        let busy: f64 = (0..2000)
            .map(|j| (j as f64 + 0.5) * 24.0)
            .map(|start| {
                ((start + 12.0).min((m + 1) as f64 * 730.0) - start.max(m as f64 * 730.0)).max(0.0)
            })
            .sum();
        assert!((r.training_device_hours - 4.0 * busy).abs() < 1e-6, "{r:?}");
        // Per round: 4 devices × (18 W extra for 12 h at $0.2/kWh + 0.05 GB × $0.1) + $1.
        let per_round = 4.0 * (0.018 * 12.0 * 0.2 + 0.05 * 0.1) + 1.0;
        assert!((r.training_usd - rounds * per_round).abs() < 1e-9, "{r:?}");
        taken += r.training_device_hours;
    }
    // s·t/T of the fleet's time, up to one round cut off at the horizon's end.
    let share = taken / (6.0 * 8.0 * 730.0);
    let one_round = 4.0 * 12.0 / (6.0 * 8.0 * 730.0);
    assert!((share - 0.5 * 12.0 / 24.0).abs() <= one_round, "{share}");
    let s = &out.summary.deployments;
    assert!(
        s[0].wait_ms.mean > 2.0 * s[1].wait_ms.mean,
        "training fleet waits {} vs {}",
        s[0].wait_ms.mean,
        s[1].wait_ms.mean
    );
}

/// Training at reduced speed: the devices keep serving, more slowly.
#[test]
fn training_at_half_speed_slows_service() {
    // 12 replications: the standard error is estimated from them, so not from 3.
    let out = simulate(
        &fleet(
            "[deployment.federated]\nround_every_hours = 24\nshare_of_devices = 1.0\ntrain_hours = 23.9\ninference_speed = 0.8\n",
        )
        .replace("replications = 3", "replications = 12"),
    );
    // Every device trains from 12:00 to 11:54 the next day, serving at 0.8 of its speed; the
    // windows run midnight to midnight, so a share f = 1 − 6/1440 of the requests start slow
    // (5 Erlangs on 8 devices: waits are short and barely move starts across the 6 minutes).
    // Mean service time = latency − wait = 2 s · (f / 0.8 + 1 − f).
    let f = 1.0 - 6.0 / 1440.0;
    let (service, se) = mean_se(&per_rep(&out, 0, |r| r.mean_latency_ms - r.mean_wait_ms));
    check("mean service while training", service, se, 2000.0 * (f / 0.8 + 1.0 - f), 0.0);
    assert_eq!(out.summary.deployments[0].availability.mean, 1.0);
}

/// Cloud releases cost CI money plus the switch-over's extra instances: blue/green doubles
/// every instance for the switch, rolling adds one.
#[test]
fn cloud_release_costs() {
    for (strategy, expected) in [("blue_green", 10.0 + 2.0 * 0.5 * 1.0), ("rolling", 10.0 + 0.5)] {
        let out = simulate(&format!(
            r#"
name = "cloud-updates"
[simulation]
seed = 1
replications = 2
horizon_months = 3
window_hours = 2
[traffic]
pattern = "poisson"
rate_per_s = 0.5
[[deployment]]
name = "endpoint"
kind = "cloud"
service_ms = {{ dist = "fixed", value = 100 }}
max_concurrency = 2
[deployment.cost]
usd_per_instance_hour = 1.0
[deployment.updates]
every_days = 30.416666666666668
strategy = "{strategy}"
switch_minutes = 30
usd_per_release = 10
"#
        ));
        for r in rows(&out, "endpoint") {
            assert!((r.updates_usd - expected).abs() < 1e-9, "{strategy}: {r:?}");
        }
    }
}

/// A provider's model change from month 3 halves its time and its token prices.
#[test]
fn model_change_shifts_latency_and_price() {
    let out = simulate(
        r#"
name = "model-change"
[simulation]
seed = 1
replications = 2
horizon_months = 4
window_hours = 2
[traffic]
pattern = "poisson"
rate_per_s = 0.5
prompt_tokens = { dist = "fixed", value = 100 }
output_tokens = { dist = "fixed", value = 50 }
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "fixed", value = 800 }
[deployment.cost]
usd_per_mtok_in = 1.0
usd_per_mtok_out = 4.0
[deployment.updates]
model_change_month = 3
latency_factor = 0.5
price_factor = 0.5
"#,
    );
    let r: Vec<&MonthlyRow> = rows(&out, "api").collect();
    let per_request = |r: &MonthlyRow| r.token_usd / r.requests;
    assert!((per_request(r[2]) / per_request(r[1]) - 0.5).abs() < 1e-9);
    assert!((per_request(r[3]) / per_request(r[0]) - 0.5).abs() < 1e-9);
    assert!((r[1].latency_p50_ms - 800.0).abs() <= 800.0 * RELATIVE_ERROR_BOUND);
    assert!((r[2].latency_p50_ms - 400.0).abs() <= 400.0 * RELATIVE_ERROR_BOUND);
}

/// Central training: every round uploads each device's raw data and pays the cloud training.
#[test]
fn central_training_costs() {
    let out = simulate(&fleet(
        "[deployment.central_training]\nround_every_hours = 24\nraw_mb_per_device = 500\ntransfer_usd_per_gb = 0.09\ntraining_hours_per_round = 3\nusd_per_training_hour = 4.0\n",
    ));
    for (m, r) in rows(&out, "fleet").enumerate() {
        let from = m as f64 * MONTH_MS;
        let rounds = periodic_in(24.0 * 3_600_000.0, from, from + MONTH_MS) as f64;
        let expected = rounds * (8.0 * 0.5 * 0.09 + 3.0 * 4.0);
        assert!((r.training_usd - expected).abs() < 1e-9, "{r:?}");
        assert_eq!(r.training_device_hours, 0.0);
    }
}
