//! Hostile input, generated: scenarios whose numbers are drawn from the extremes a careless or
//! adversarial user might type (0, negatives, 1e±300, NaN, infinities, u32::MAX) as well as
//! ordinary values, fed through validation (`lcsim check`) and, when valid, a short run.
//!
//! Asserted for every case: validation never panics; a valid scenario runs without panicking;
//! its work is bounded (simulated requests stay within a few standard deviations of the
//! scenario's own expected count, which validation keeps under the stated run-size bound); and
//! no NaN, infinite or negative time reaches the summary.
//!
//! `PROPTEST_CASES=N cargo test -p lcsim-engine --test fuzz --release` runs more cases; the figure
//! measured for the docs is in docs/hardening.md.

use lcsim_core::scenario::{NoFiles, parse_scenario};
use proptest::prelude::*;

/// The extremes a hostile scenario tries: zero, negatives, 1e±300, NaN, infinities, huge.
const EXTREME_FLOATS: &[&str] = &[
    "0.0", "-1.0", "1e-300", "1e300", "1e308", "-1e308", "nan", "inf", "-inf", "1e15", "1e-15",
    "4e9", "1e-9",
];
const EXTREME_COUNTS: &[&str] = &["0", "4294967295", "100000", "1000001"];

/// A TOML float: usually an ordinary value in `normal`, about one time in eight an extreme one,
/// so that most cases are valid with one or two hostile keys.
fn float(normal: std::ops::Range<f64>) -> impl Strategy<Value = String> {
    prop_oneof![
        7 => normal.prop_map(|v| format!("{v:?}")),
        1 => prop::sample::select(EXTREME_FLOATS).prop_map(str::to_string),
    ]
}

/// A TOML integer: usually in `normal`, sometimes zero or huge.
fn count(normal: std::ops::Range<u32>) -> impl Strategy<Value = String> {
    prop_oneof![
        7 => normal.prop_map(|v| v.to_string()),
        1 => prop::sample::select(EXTREME_COUNTS).prop_map(str::to_string),
    ]
}

fn dist(mean: std::ops::Range<f64>) -> impl Strategy<Value = String> {
    let (m1, m2, m3, m4) = (mean.clone(), mean.clone(), mean.clone(), mean);
    prop_oneof![
        float(m1).prop_map(|m| format!("{{ dist = \"exponential\", mean = {m} }}")),
        (float(m2), float(0.2..3.0))
            .prop_map(|(m, c)| format!("{{ dist = \"gamma\", mean = {m}, cv = {c} }}")),
        (float(m3), float(0.2..3.0))
            .prop_map(|(m, c)| format!("{{ dist = \"lognormal\", mean = {m}, cv = {c} }}")),
        float(m4).prop_map(|v| format!("{{ dist = \"fixed\", value = {v} }}")),
    ]
}

fn traffic() -> impl Strategy<Value = String> {
    prop_oneof![
        (float(0.1..20.0), float(0.0..0.2)).prop_map(|(r, g)| format!(
            "pattern = \"poisson\"\nrate_per_s = {r}\ngrowth_per_month = {g}\n"
        )),
        (float(0.1..20.0), float(0.3..3.0))
            .prop_map(|(r, c)| format!("pattern = \"bursty\"\nrate_per_s = {r}\ncv = {c}\n")),
        (float(0.1..5.0), float(5.0..20.0), float(1.0..100.0), float(1.0..100.0)).prop_map(
            |(a, b, c, d)| format!(
                "pattern = \"bursty\"\nrates_per_s = [{a}, {b}]\nmean_dwell_s = [{c}, {d}]\n"
            )
        ),
        (float(0.1..20.0), float(0.0..3.0), float(0.0..0.5)).prop_map(|(r, w, n)| format!(
            "pattern = \"diurnal\"\nrate_per_s = {r}\nlevel_noise_cv = {n}\nhourly_weights = [{w}, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]\n"
        )),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    text: String,
}

fn case() -> impl Strategy<Value = Case> {
    let simulation = prop_oneof![
        (count(1..4), float(0.01..2.0), float(0.0..0.005)).prop_map(|(r, d, w)| format!(
            "replications = {r}\nduration_hours = {d}\nwarmup_hours = {w}\n"
        )),
        (count(1..4), count(1..4), float(0.1..2.0)).prop_map(|(r, m, w)| format!(
            "replications = {r}\nhorizon_months = {m}\nwindow_hours = {w}\n"
        )),
    ];
    let local = (
        count(1..6),
        count(1..4),
        dist(10.0..500.0),
        float(1.0..1000.0),
        float(0.01..10.0),
        float(0.0..1e4),
    )
        .prop_map(|(servers, batch, service, mtbf, mttr, capex)| {
            format!(
                "[[deployment]]\nname = \"box\"\nkind = \"local\"\nservers = {servers}\nmax_batch = {batch}\nqueue_capacity = 20\nservice_ms = {service}\n[deployment.failures]\nmtbf_hours = {mtbf}\nmttr_hours = {mttr}\n[deployment.cost]\ncapex_usd = {capex}\npower_w = 300\nusd_per_kwh = 0.2\n"
            )
        });
    let cloud = (
        dist(1.0..100.0),
        dist(10.0..1000.0),
        count(1..20),
        float(0.0..0.01),
        count(0..5),
        float(1.0..50.0),
    )
        .prop_map(|(rtt, service, conc, price, retries, limit)| {
            format!(
                "[[deployment]]\nname = \"api\"\nkind = \"cloud\"\nnetwork_rtt_ms = {rtt}\nservice_ms = {service}\nmax_concurrency = {conc}\nqueue_capacity = 10\n[deployment.cost]\nusd_per_request = {price}\n[deployment.rate_limit]\nrequests_per_s = {limit}\nmax_retries = {retries}\n"
            )
        });
    (simulation, traffic(), local, cloud, any::<u64>()).prop_map(
        |(sim, traffic, local, cloud, seed)| Case {
            text: format!(
                "name = \"fuzz\"\n[simulation]\nseed = {seed}\n{sim}[traffic]\n{traffic}{local}{cloud}"
            ),
        },
    )
}

/// NaN and infinities serialize as `null`: no statistic (mean, percentile, share) may be null.
fn no_missing_statistic(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(map) => map.iter().all(|(k, x)| {
            let statistic =
                ["mean", "p5", "p50", "p90", "p95", "p99", "availability"].contains(&k.as_str());
            !(statistic && x.is_null()) && no_missing_statistic(x)
        }),
        serde_json::Value::Array(items) => items.iter().all(no_missing_statistic),
        _ => true,
    }
}

/// Cases whose expected request-visits are above this are only validated, not run, to keep the suite
/// short; validation bounds the rest (see lcsim_core::limits).
const RUN_AT_MOST_REQUESTS: f64 = 200_000.0;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn hostile_scenarios_never_panic_hang_or_produce_nan(c in case()) {
        let Ok(scenario) = parse_scenario("fuzz.toml", &c.text, &NoFiles) else {
            return Ok(());
        };
        let expected = scenario.expected_requests();
        let visits = scenario.expected_request_visits();
        prop_assert!(visits.is_finite() && visits <= lcsim_core::limits::MAX_REQUEST_VISITS);
        if visits > RUN_AT_MOST_REQUESTS {
            return Ok(());
        }
        if let Ok(path) = std::env::var("LCSIM_FUZZ_LOG") {
            std::fs::write(path, &c.text).unwrap();
        }
        let out = lcsim_engine::run(&scenario, &|_| {});
        // Work bounded by the expected count. Bursty, modulated and noisy traffic varies far
        // more than Poisson, so the bound is a factor, not a few standard deviations: a runaway
        // (an engine that loops, or a rate that overflowed) shows as orders of magnitude.
        let bound = 5.0 * expected * (1.0 + 10.0 * scenario.traffic.level_noise_cv) + 200.0;
        prop_assert!((out.summary.requests_simulated as f64) <= bound,
            "{} requests simulated, expected {expected}", out.summary.requests_simulated);
        let json = serde_json::to_string(&out.summary).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        prop_assert!(no_missing_statistic(&value), "a statistic is null (NaN) in {json}");
        for d in &out.summary.deployments {
            for m in [&d.latency_ms, &d.wait_ms] {
                for x in [m.mean, m.p50, m.p95, m.p99] {
                    prop_assert!(x.is_finite() && x >= 0.0, "{}: {x} in {json}", d.name);
                }
            }
        }
    }
}

/// Found by the test above: a rate of 1e-15/s puts the next arrival 1e15 hours away, and the
/// hour-by-hour time change (diurnal) or the state switches (MMPP) walked all the way there.
/// Both stop at the window's end now; each run simulates next to nothing.
#[test]
fn tiny_rates_end_at_the_window() {
    for traffic in [
        "pattern = \"diurnal\"\nrate_per_s = 1e-15\npeak_to_trough = 2\npeak_hour = 12\n",
        "pattern = \"bursty\"\nrates_per_s = [1e-15, 1e-15]\nmean_dwell_s = [1, 1]\n",
        "pattern = \"bursty\"\nrates_per_s = [1e-15, 1e-15]\nmean_dwell_s = [1, 1]\ngrowth_per_month = 0.1\n",
    ] {
        let text = format!(
            "name = \"tiny\"\n[simulation]\nseed = 1\nreplications = 2\nhorizon_months = 2\nwindow_hours = 24\n[traffic]\n{traffic}[[deployment]]\nname = \"d\"\nkind = \"local\"\nservers = 1\nservice_ms = {{ dist = \"fixed\", value = 10 }}\n"
        );
        let scenario = parse_scenario("tiny.toml", &text, &NoFiles).unwrap();
        let out = lcsim_engine::run(&scenario, &|_| {});
        assert_eq!(out.summary.requests_simulated, 0, "{traffic}");
    }
}
