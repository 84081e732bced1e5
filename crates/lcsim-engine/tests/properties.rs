//! Invariants that must hold for any scenario, checked on random small scenarios.

use lcsim_core::scenario::{NoFiles, parse_scenario};
use lcsim_engine::run;
use proptest::prelude::*;

fn text(
    servers: u32,
    rate: f64,
    service: &str,
    batch: u32,
    capacity: Option<u32>,
    seed: u64,
) -> String {
    let capacity = capacity.map_or(String::new(), |c| format!("queue_capacity = {c}"));
    let timeout = if batch > 1 { "batch_timeout_ms = 15" } else { "" };
    format!(
        r#"
name = "prop"
[simulation]
seed = {seed}
replications = 2
duration_hours = 0.2
[traffic]
pattern = "bursty"
rate_per_s = {rate}
cv = 2.0
[[deployment]]
name = "d"
kind = "local"
servers = {servers}
max_batch = {batch}
{timeout}
{capacity}
service_ms = {service}
[[deployment]]
name = "api"
kind = "cloud"
network_rtt_ms = {{ dist = "lognormal", median = 20, p95 = 60 }}
service_ms = {service}
max_concurrency = {servers}
{capacity}
"#
    )
}

fn service() -> impl Strategy<Value = String> {
    prop_oneof![
        (10.0f64..500.0).prop_map(|m| format!("{{ dist = \"exponential\", mean = {m} }}")),
        (10.0f64..500.0, 0.1f64..3.0)
            .prop_map(|(m, cv)| format!("{{ dist = \"lognormal\", mean = {m}, cv = {cv} }}")),
        (10.0f64..500.0).prop_map(|v| format!("{{ dist = \"fixed\", value = {v} }}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn quantiles_ordered_and_fractions_valid(
        servers in 1u32..6, rate in 1.0f64..40.0, svc in service(), batch in 1u32..5,
        capacity in prop::option::of(1u32..20), seed in 0u64..1000,
    ) {
        let t = text(servers, rate, &svc, batch, capacity, seed);
        // Overloaded scenarios without a waiting-room limit are rejected up front: proptest
        // draws another case instead (a rejected case does not count as a pass).
        let parsed = parse_scenario("p.toml", &t, &NoFiles);
        prop_assume!(parsed.is_ok());
        let s = parsed.expect("assumed");
        let out = run(&s, &|_| {});
        for d in &out.summary.deployments {
            for m in [&d.latency_ms, &d.wait_ms] {
                prop_assert!(m.p50 <= m.p95 && m.p95 <= m.p99, "{m:?}");
            }
            prop_assert!(d.latency_ms.mean >= d.wait_ms.mean);
            prop_assert!((0.0..=1.0).contains(&d.dropped_fraction));
            prop_assert!(d.utilization.unwrap() <= 1.0 + 1e-9);
            prop_assert_eq!(d.served + (d.dropped_fraction * d.requests as f64).round() as u64, d.requests);
        }
    }

    /// With the same arrivals and service draws, adding a server never increases any wait
    /// (FCFS multi-server monotonicity, Wolff 1977), so the mean wait cannot rise.
    #[test]
    fn more_servers_never_wait_longer(servers in 1u32..5, rate in 1.0f64..20.0, svc in service(), seed in 0u64..1000) {
        let parse = |c| parse_scenario("p.toml", &text(c, rate, &svc, 1, None, seed), &NoFiles);
        let (few, more) = (parse(servers), parse(servers + 1));
        prop_assume!(few.is_ok() && more.is_ok());
        let (few, more) = (few.expect("assumed"), more.expect("assumed"));
        let (a, b) = (run(&few, &|_| {}), run(&more, &|_| {}));
        for (x, y) in a.per_replication.iter().zip(&b.per_replication) {
            prop_assert!(y[0].mean_wait_ms <= x[0].mean_wait_ms + 1e-9);
        }
    }
}
