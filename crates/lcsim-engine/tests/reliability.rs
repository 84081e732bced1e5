//! Scaling, rate limits, failures and hybrid routing against closed forms.
//!
//! As in `theory.rs`, every statistical check is `|simulated − exact| ≤ 4·SE (+ a documented
//! deterministic error)`, with SE the standard error across this run's own replications.
//! Failure timelines are checked twice: as time fractions straight from the timeline
//! generator, and as request availability through the whole engine (Poisson arrivals see
//! time averages, so the two agree).

mod common;
use common::{check, mean_se, per_rep, simulate};

use lcsim_core::Dist;
use lcsim_core::reliability::{Failures, Outage};
use lcsim_core::theory;
use lcsim_engine::histogram::RELATIVE_ERROR_BOUND;
use lcsim_engine::outages::{Component, draw, measure};
use lcsim_engine::random::stream;

/// One device, exponential (or Weibull) time to failure and exponential repair: the share of
/// requests served converges to MTBF / (MTBF + MTTR), and so does the time it is up.
#[test]
fn single_device_availability_is_mtbf_over_mtbf_plus_mttr() {
    for lifetime in ["", "time_to_failure = \"weibull\"\nweibull_shape = 2.5"] {
        let out = simulate(&format!(
            r#"
name = "device"
[simulation]
seed = 17
replications = 24
duration_hours = 3000
[traffic]
pattern = "poisson"
rate_per_s = 0.02
[[deployment]]
name = "box"
kind = "local"
servers = 1
service_ms = {{ dist = "fixed", value = 1 }}
[deployment.failures]
mtbf_hours = 20
mttr_hours = 5
{lifetime}
"#
        ));
        let exact = 20.0 / 25.0;
        let (a, se) = mean_se(&per_rep(&out, 0, |r| r.availability));
        check(&format!("request availability ({lifetime:?})"), a, se, exact, 0.0);
        let up = per_rep(&out, 0, |r| 1.0 - r.downtime_ms / (3000.0 * 3_600_000.0));
        let (u, se) = mean_se(&up);
        check(&format!("time up ({lifetime:?})"), u, se, exact, 0.0);
        assert_eq!(out.summary.deployments[0].errors.unavailable, {
            let s = &out.summary.deployments[0];
            s.requests - s.served
        });
    }
}

/// `n` independent zones, each down a share `p = r·D / (1 + r·D)` of the time: with no
/// failover delay the endpoint is down exactly when all are, a share `pⁿ`.
#[test]
fn all_zones_down_has_the_closed_form_probability() {
    let (mean_up_h, mean_down_h) = (10.0, 5.0);
    let p = theory::unavailability(mean_up_h, mean_down_h);
    for zones in [1u32, 2, 3] {
        let failures = Failures::Cloud {
            zones,
            zone: Some(Outage {
                rate_per_ms: 1.0 / (mean_up_h * 3_600_000.0),
                duration_ms: Dist::Exponential { mean: mean_down_h * 3_600_000.0 },
            }),
            failover_delay_ms: 0.0,
            provider: None,
        };
        let horizon = 20_000.0 * 3_600_000.0;
        let shares: Vec<f64> = (0..40)
            .map(|rep| {
                let t = draw(&failures, 0, horizon, |c: Component| stream(9, rep, c.stream()));
                measure(&t.endpoint, 0.0, horizon) / horizon
            })
            .collect();
        let (m, se) = mean_se(&shares);
        check(&format!("all {zones} zones down"), m, se, theory::all_down(zones, p), 0.0);
    }
    // Through the engine: request availability of a three-zone endpoint.
    let out = simulate(
        r#"
name = "zones"
[simulation]
seed = 4
replications = 20
duration_hours = 20000
[traffic]
pattern = "poisson"
rate_per_s = 0.005
[[deployment]]
name = "endpoint"
kind = "cloud"
service_ms = { dist = "fixed", value = 10 }
[deployment.failures]
zones = 3
zone_outages_per_year = 876
zone_outage_minutes = { dist = "exponential", mean = 300 }
"#,
    );
    let (a, se) = mean_se(&per_rep(&out, 0, |r| 1.0 - r.availability));
    check("three-zone endpoint unavailability", a, se, theory::all_down(3, p), 0.0);
}

/// Failover delays add unavailability: each failure of the serving zone while another is up
/// costs `failover_delay`, about `r · T` of them in a run of `T` (p small).
#[test]
fn failover_delay_adds_one_delay_per_serving_zone_failure() {
    let rate_per_h = 1.0 / 500.0;
    let failures = |delay_ms: f64| Failures::Cloud {
        zones: 3,
        zone: Some(Outage {
            rate_per_ms: rate_per_h / 3_600_000.0,
            duration_ms: Dist::Fixed(3_600_000.0),
        }),
        failover_delay_ms: delay_ms,
        provider: None,
    };
    let horizon = 50_000.0 * 3_600_000.0;
    let extra: Vec<f64> = (0..40)
        .map(|rep| {
            let with = draw(&failures(60_000.0), 0, horizon, |c| stream(2, rep, c.stream()));
            let without = draw(&failures(0.0), 0, horizon, |c| stream(2, rep, c.stream()));
            (measure(&with.endpoint, 0.0, horizon) - measure(&without.endpoint, 0.0, horizon))
                / 60_000.0
        })
        .collect();
    let (m, se) = mean_se(&extra);
    // Serving-zone failures: rate r per hour of its up time, the zone up a share 1/(1 + rD).
    let expected = 50_000.0 * rate_per_h / (1.0 + rate_per_h);
    check("failovers per run", m, se, expected, 0.0);
}

/// Zero cold start, zero scale-up delay, no maximum, one request per instance, instances
/// stopped as soon as idle: every request gets its own instance at once, so the instances
/// in use are an M/M/∞ system: mean λ·E[S], and no request waits.
#[test]
fn autoscaler_without_cold_start_is_m_m_infinity() {
    let out = simulate(
        r#"
name = "mminf"
[simulation]
seed = 12
replications = 20
duration_hours = 4
warmup_hours = 0.1
[traffic]
pattern = "poisson"
rate_per_s = 5.0
[[deployment]]
name = "endpoint"
kind = "cloud"
service_ms = { dist = "exponential", mean = 2000 }
[deployment.autoscale]
min_instances = 0
concurrency_per_instance = 1
target_utilization = 1.0
scale_down_after_idle_s = 0
"#,
    );
    let (m, se) = mean_se(&per_rep(&out, 0, |r| r.mean_instances));
    check("mean instances = λE[S]", m, se, 10.0, 0.0);
    let (l, se) = mean_se(&per_rep(&out, 0, |r| r.mean_latency_ms));
    check("mean latency = E[S]", l, se, 2000.0, 0.0);
    let d = &out.summary.deployments[0];
    assert_eq!(d.wait_ms.p95, 0.0);
    assert!(per_rep(&out, 0, |r| r.waited_fraction).iter().all(|&w| w == 0.0));
    assert_eq!(d.autoscaling.unwrap().cold_start_share, 0.0);
}

/// A cold start delays the first requests of a scaled-to-zero endpoint; min_instances keeps
/// capacity warm, and instances above max are never started.
#[test]
fn cold_starts_and_instance_bounds() {
    let text = |min: u32, max: u32| {
        format!(
            r#"
name = "cold"
[simulation]
seed = 3
replications = 4
duration_hours = 96
[traffic]
pattern = "poisson"
rate_per_s = 0.0005
[[deployment]]
name = "endpoint"
kind = "cloud"
service_ms = {{ dist = "fixed", value = 500 }}
[deployment.autoscale]
min_instances = {min}
max_instances = {max}
concurrency_per_instance = 2
scale_up_delay_s = 5
cold_start_s = {{ dist = "fixed", value = 15 }}
scale_down_after_idle_s = 60
"#
        )
    };
    let cold = simulate(&text(0, 3));
    let d = &cold.summary.deployments[0];
    // Scaled to zero, a request finds a warm instance only if it arrives after the previous
    // request's instance became ready (C = 5 + 15 s) and before it stopped (C + S + τ =
    // 80.5 s): P(warm) = e^{−λC} − e^{−λ(C+S+τ)} for Poisson gaps (the predecessor being warm
    // itself shortens the first bound, an effect of order λC·P(warm) ≈ 3e-4, far below the SE).
    let lambda = 0.0005;
    let warm = (-lambda * 20.0f64).exp() - (-lambda * 80.5f64).exp();
    let share = d.autoscaling.unwrap().cold_start_share;
    let n = d.served as f64;
    let se = (warm * (1.0 - warm) / n).sqrt();
    check("cold-start share", share, se, 1.0 - warm, 0.0);
    assert!((d.latency_ms.p50 - 20_500.0).abs() <= 20_500.0 * RELATIVE_ERROR_BOUND);
    assert!(d.autoscaling.unwrap().mean_instances < 0.2);
    let warm = simulate(&text(1, 1));
    let d = &warm.summary.deployments[0];
    assert_eq!(d.autoscaling.unwrap().cold_start_share, 0.0);
    assert!((d.autoscaling.unwrap().mean_instances - 1.0).abs() < 1e-9);
    assert!((d.latency_ms.p50 - 500.0).abs() <= 500.0 * RELATIVE_ERROR_BOUND);
}

/// A request bucket of size 1 refilled at rate r turns away what arrives before the next
/// token: exactly an M/D/1/1 loss system with service 1/r, blocking `a / (1 + a)` with
/// `a = λ/r` (Erlang B with one server, insensitive to the service distribution).
#[test]
fn rate_limit_without_retries_blocks_like_erlang_b() {
    let out = simulate(
        r#"
name = "limit"
[simulation]
seed = 8
replications = 20
duration_hours = 10
[traffic]
pattern = "poisson"
rate_per_s = 2.0
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "fixed", value = 100 }
[deployment.rate_limit]
requests_per_s = 1.0
burst = 1
max_retries = 0
"#,
    );
    let (b, se) = mean_se(&per_rep(&out, 0, |r| 1.0 - r.availability));
    check("rate-limited share", b, se, theory::erlang_b(1, 2.0), 0.0);
    // With retries and backoff, more get through, the rest give up after their retries.
    let retrying = simulate(
        r#"
name = "limit"
[simulation]
seed = 8
replications = 4
duration_hours = 10
[traffic]
pattern = "poisson"
rate_per_s = 0.5
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "fixed", value = 100 }
[deployment.rate_limit]
requests_per_s = 1.0
burst = 1
max_retries = 5
backoff_base_ms = 200
"#,
    );
    let d = &retrying.summary.deployments[0];
    assert!(d.errors.retries > 0);
    assert!(d.availability.mean > 1.0 - theory::erlang_b(1, 0.5));
    // Served throughput can never exceed the limit.
    assert!(d.throughput_per_s <= 1.0 + 1e-9);
}

const HYBRID: &str = r#"
name = "hybrid"
[simulation]
seed = 31
replications = 8
horizon_months = 6
window_hours = 6
warmup_hours = 0.2
[traffic]
pattern = "diurnal"
rate_per_s = 0.2
peak_to_trough = 3.0
peak_hour = 14
level_noise_cv = 0.1
prompt_tokens = { dist = "lognormal", mean = 160, cv = 1.0 }
output_tokens = { dist = "lognormal", mean = 340, cv = 1.0 }
[[deployment]]
name = "box"
kind = "local"
servers = 1
max_batch = 4
batch_timeout_ms = 50
prefill_ms_per_token = 0.14
decode_ms_per_token = { base = 7.0, per_batch = 0.66 }
overhead_ms = 5
[deployment.cost]
capex_usd = 3000
amortization_months = 36
idle_w = 50
load_w = 350
usd_per_kwh = 0.165
ops_usd_per_month = 300
[[deployment]]
name = "api"
kind = "cloud"
ttft_ms = { dist = "lognormal", median = 450, p95 = 1200 }
output_tokens_per_s = 100
[deployment.cost]
usd_per_mtok_in = 0.15
usd_per_mtok_out = 0.60
[[deployment]]
name = "hybrid"
kind = "hybrid"
"#;

/// An overflow hybrid whose threshold is never reached serves everything on its local member,
/// which replays the stand-alone deployment draw for draw: its costs are exactly the local
/// deployment's, month by month and replication by replication, and so are its latencies.
#[test]
fn overflow_that_never_triggers_costs_exactly_the_local_deployment() {
    let out = simulate(&format!(
        "{HYBRID}policy = \"overflow\"\nlocal = \"box\"\ncloud = \"api\"\noverflow_queue_above = 1000000\n"
    ));
    let s = &out.summary.deployments;
    let (local, hybrid) = (s[0].cost_usd.as_ref().unwrap(), s[2].cost_usd.as_ref().unwrap());
    assert_eq!(local, hybrid);
    assert_eq!(s[0].latency_ms.p95, s[2].latency_ms.p95);
    assert_eq!(s[0].served, s[2].served);
    let routes = s[2].routes.as_ref().unwrap();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes["box"], 1.0);
    let rows = &out.horizon.as_ref().unwrap().monthly;
    for (a, b) in rows
        .iter()
        .filter(|r| r.deployment == "box")
        .zip(rows.iter().filter(|r| r.deployment == "hybrid"))
    {
        assert_eq!(a.cost_mean_usd, b.cost_mean_usd);
        assert_eq!(a.energy_usd, b.energy_usd);
        assert_eq!(b.token_usd, 0.0);
        assert_eq!((b.local_share, b.cloud_share), (1.0, 0.0));
    }
    // With a threshold of 0 some requests do overflow, and they are billed by the API.
    let busy = simulate(&format!(
        "{HYBRID}policy = \"overflow\"\nlocal = \"box\"\ncloud = \"api\"\noverflow_queue_above = 0\n"
    ));
    let s = &busy.summary.deployments;
    let to_api = s[2].routes.as_ref().unwrap()["api"];
    assert!(to_api > 0.0 && to_api < 1.0, "{to_api}");
    let last = |d: &lcsim_core::summary::DeploymentSummary| {
        d.cost_usd.as_ref().unwrap().cumulative[5].mean
    };
    assert!(last(&s[2]) > last(&s[0]));
}

/// Fallback: requests that arrive while the cloud is down go to the device, so the hybrid
/// serves everything and the device's share is the cloud's unavailability `r·D / (1 + r·D)`.
#[test]
fn fallback_serves_on_the_device_during_cloud_outages() {
    let out = simulate(
        r#"
name = "fallback"
[simulation]
seed = 6
replications = 20
duration_hours = 40000
[traffic]
pattern = "poisson"
rate_per_s = 0.002
[[deployment]]
name = "device"
kind = "local"
servers = 1
service_ms = { dist = "fixed", value = 50 }
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "fixed", value = 200 }
[deployment.failures]
provider_outages_per_year = 87.6
provider_outage_minutes = { dist = "exponential", mean = 600 }
[[deployment]]
name = "fallback"
kind = "hybrid"
policy = "fallback"
cloud = "api"
local = "device"
"#,
    );
    let p = theory::unavailability(100.0, 10.0);
    let hybrid = &out.summary.deployments[2];
    assert_eq!(hybrid.served, hybrid.requests, "every request is served");
    let device_share = per_rep(&out, 2, |r| {
        r.routes.get(&0b001).copied().unwrap_or(0) as f64 / r.counts.served as f64
    });
    let (m, se) = mean_se(&device_share);
    check("share served on the device", m, se, p, 0.0);
    // Latency: the API's 200 ms, or the device's 50 ms right after an immediate failure.
    assert!((hybrid.latency_ms.p50 - 200.0).abs() <= 200.0 * RELATIVE_ERROR_BOUND);
    assert_eq!(hybrid.downtime_minutes, 0.0);
}

/// Rerank: both stages run one after the other, so with fixed stage times and no queueing
/// every request takes their sum, and the cost is both members' costs.
#[test]
fn rerank_adds_both_latencies_and_both_costs() {
    for order in ["cloud_first", "local_first"] {
        let out = simulate(&format!(
            r#"
name = "rerank"
[simulation]
seed = 2
replications = 4
horizon_months = 2
window_hours = 2
[traffic]
pattern = "poisson"
rate_per_s = 0.5
prompt_tokens = {{ dist = "fixed", value = 100 }}
output_tokens = {{ dist = "fixed", value = 10 }}
[[deployment]]
name = "reranker"
kind = "local"
servers = 64
service_ms = {{ dist = "fixed", value = 30 }}
[deployment.cost]
capex_usd = 1000
amortization_months = 12
power_w = 100
usd_per_kwh = 0.2
[[deployment]]
name = "api"
kind = "cloud"
service_ms = {{ dist = "fixed", value = 400 }}
[deployment.cost]
usd_per_mtok_in = 1.0
usd_per_mtok_out = 2.0
[[deployment]]
name = "two-stage"
kind = "hybrid"
policy = "rerank"
order = "{order}"
local = "reranker"
cloud = "api"
"#
        ));
        let s = &out.summary.deployments;
        for q in [s[2].latency_ms.p50, s[2].latency_ms.p99] {
            assert!((q - 430.0).abs() <= 430.0 * RELATIVE_ERROR_BOUND, "{order}: {q}");
        }
        let total = |d: &lcsim_core::summary::DeploymentSummary| {
            d.cost_usd.as_ref().unwrap().cumulative[1].mean
        };
        let sum = total(&s[0]) + total(&s[1]);
        assert!((total(&s[2]) - sum).abs() <= 1e-9 * sum, "{order}");
        assert_eq!(s[2].routes.as_ref().unwrap()["reranker+api"], 1.0);
    }
}

/// `data_must_stay_local = s`: a share s of requests (binomial) never reaches the cloud.
#[test]
fn pii_share_stays_local() {
    let out = simulate(
        r#"
name = "pii"
[simulation]
seed = 13
replications = 10
duration_hours = 20
[traffic]
pattern = "poisson"
rate_per_s = 0.5
[[deployment]]
name = "device"
kind = "local"
servers = 4
service_ms = { dist = "fixed", value = 50 }
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "fixed", value = 200 }
[[deployment]]
name = "private-first"
kind = "hybrid"
policy = "fallback"
cloud = "api"
local = "device"
data_must_stay_local = 0.3
"#,
    );
    let local_share = per_rep(&out, 2, |r| {
        r.routes.get(&0b001).copied().unwrap_or(0) as f64 / r.counts.served as f64
    });
    let (m, se) = mean_se(&local_share);
    check("share kept local", m, se, 0.3, 0.0);
}

/// Repairs are paid per device failure in the month they happen: over many replications
/// the mean monthly repair bill is `repair_usd × 730 h / (MTBF + MTTR)` per device.
#[test]
fn repair_costs_follow_the_failure_rate() {
    let out = simulate(
        r#"
name = "repairs"
[simulation]
seed = 19
replications = 200
horizon_months = 12
window_hours = 1
[traffic]
pattern = "poisson"
rate_per_s = 0.01
[[deployment]]
name = "fleet"
kind = "local"
servers = 4
service_ms = { dist = "fixed", value = 10 }
[deployment.failures]
mtbf_hours = 500
mttr_hours = 20
repair_usd = 100
[deployment.cost]
capex_usd = 1000
amortization_months = 12
power_w = 10
usd_per_kwh = 0.1
"#,
    );
    let months = &out.horizon.as_ref().unwrap().monthly;
    let mean_repair = months.iter().map(|r| r.repair_usd).sum::<f64>() / months.len() as f64;
    // Each replication-month's bill is 100 × Poisson-like count with mean 4·730/520.
    let expected: f64 = 100.0 * 4.0 * 730.0 / 520.0;
    let n: f64 = 200.0 * 12.0;
    let se = 100.0 * (expected / 100.0 / n).sqrt();
    check("mean monthly repair bill", mean_repair, se, expected, 0.0);
}

/// A queue-length target starts an instance only when requests wait: some requests wait, the
/// waits stay short, and the instance count follows the load (λ·E[S] = 10 busy on average).
#[test]
fn queue_target_scales_with_waiting_requests() {
    let out = simulate(
        r#"
name = "queue-target"
[simulation]
seed = 5
replications = 6
duration_hours = 2
warmup_hours = 0.1
[traffic]
pattern = "poisson"
rate_per_s = 5.0
[[deployment]]
name = "endpoint"
kind = "cloud"
service_ms = { dist = "exponential", mean = 2000 }
[deployment.autoscale]
concurrency_per_instance = 1
target_queue_per_instance = 1
scale_down_after_idle_s = 30
"#,
    );
    let d = &out.summary.deployments[0];
    assert_eq!(d.served, d.requests);
    // Little's law: requests in service average λ·E[S] = 10, whatever the scaling does…
    let (busy, se) = mean_se(&per_rep(&out, 0, |r| r.mean_concurrency));
    check("requests in service", busy, se, 10.0, 0.0);
    // …each needs an instance of one slot, so instances are at least that many…
    for r in &out.per_replication {
        assert!(r[0].mean_instances >= r[0].mean_concurrency, "{r:?}");
    }
    // …and an instance starts only once a request waits, so some do.
    assert!(per_rep(&out, 0, |r| r.waited_fraction).iter().all(|&w| w > 0.0));
}

/// A tokens-per-minute limit caps the tokens served per minute at the bucket's refill rate
/// (plus one bucket of burst over the run).
#[test]
fn token_limit_caps_token_throughput() {
    let out = simulate(
        r#"
name = "tpm"
[simulation]
seed = 1
replications = 3
duration_hours = 2
[traffic]
pattern = "poisson"
rate_per_s = 2.0
prompt_tokens = { dist = "fixed", value = 400 }
output_tokens = { dist = "fixed", value = 100 }
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "fixed", value = 300 }
[deployment.rate_limit]
tokens_per_min = 30000
max_retries = 2
backoff_base_ms = 500
"#,
    );
    let d = &out.summary.deployments[0];
    // 30,000 tokens a minute = 60 requests of 500 tokens a minute = 1 request/s.
    let cap = 1.0 + 60.0 / 7200.0;
    assert!(d.throughput_per_s <= cap + 1e-9, "{} > {cap}", d.throughput_per_s);
    // Every counted request is served or refused: nothing is lost between the limit and the
    // retries. (A lower bound on throughput would be a picked number: the bucket refills while
    // Poisson arrivals pause, by an amount with no closed form here.)
    let e = &d.errors;
    let failed = e.queue_full + e.unavailable + e.timed_out + e.rate_limited + e.too_large;
    assert_eq!(d.served + failed, d.requests, "{d:?}");
    assert!(d.errors.rate_limited > 0 && d.errors.retries > 0);
}

/// A hybrid may route to another hybrid: cloud first, falling back to an on-site box that
/// overflows to a backup API. During the main API's outages the inner hybrid serves, spilling
/// to the backup when the box is busy; every request is served and the routes name the leaves.
#[test]
fn nested_hybrids_route_through_both_levels() {
    let out = simulate(
        r#"
name = "nested"
[simulation]
seed = 3
replications = 20
duration_hours = 20000
[traffic]
pattern = "poisson"
rate_per_s = 0.01
[[deployment]]
name = "box-a"
kind = "local"
servers = 1
service_ms = { dist = "exponential", mean = 8000 }
[[deployment]]
name = "backup-api"
kind = "cloud"
service_ms = { dist = "fixed", value = 900 }
[[deployment]]
name = "boxes"
kind = "hybrid"
policy = "overflow"
local = "box-a"
cloud = "backup-api"
overflow_queue_above = 0
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "fixed", value = 300 }
[deployment.failures]
provider_outages_per_year = 87.6
provider_outage_minutes = { dist = "exponential", mean = 600 }
[[deployment]]
name = "api-then-boxes"
kind = "hybrid"
policy = "fallback"
cloud = "api"
local = "boxes"
"#,
    );
    let d = &out.summary.deployments[4];
    assert_eq!(d.served, d.requests);
    let routes = d.routes.as_ref().unwrap();
    assert!(routes["box-a"] > 0.0 && routes["backup-api"] > 0.0, "{routes:?}");
    let total: f64 = routes.values().sum();
    assert!((total - 1.0).abs() < 1e-9);
    // The fallback share is the main API's unavailability (10-hour outages every 100 h up).
    let fallback = per_rep(&out, 4, |r| {
        1.0 - r.routes.get(&(1 << 3)).copied().unwrap_or(0) as f64 / r.counts.served as f64
    });
    let (m, se) = mean_se(&fallback);
    check("nested fallback share", m, se, lcsim_core::theory::unavailability(100.0, 10.0), 0.0);
}
