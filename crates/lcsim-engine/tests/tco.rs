//! Total cost of ownership against the formulas of `lcsim_core::cost`, written out by hand.

mod common;
use common::scenario;

use lcsim_core::summary::MonthBand;
use lcsim_engine::run;

const BASE: &str = r#"
name = "tco"
[simulation]
seed = 5
replications = 6
horizon_months = 36
window_hours = 2
[traffic]
pattern = "poisson"
rate_per_s = 2.0
prompt_tokens = { dist = "fixed", value = 160 }
output_tokens = { dist = "fixed", value = 340 }
[[deployment]]
name = "box"
kind = "local"
servers = 2
service_ms = { dist = "exponential", mean = 500 }
[deployment.cost]
capex_usd = 3000
residual_value_usd = 600
amortization_months = 24
power_w = 350
pue = 1.2
usd_per_kwh = 0.165
usd_per_kw_month = 185
ops_usd_per_month = 50
ups_usd = 200
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "lognormal", median = 900, p95 = 2500 }
[deployment.cost]
usd_per_mtok_in = 0.15
usd_per_mtok_out = 0.60
usd_per_request = 0.0001
egress_usd_per_gb = 0.09
bytes_per_request = 20000
ops_usd_per_month = 20
"#;

/// The closed forms, written out independently of the engine.
struct Expected {
    local_running: f64,
    cloud_monthly: f64,
    capital: f64,
}

impl Expected {
    fn new() -> Self {
        let requests = 2.0 * 3600.0 * 730.0; // λ · 730 h
        let cloud_monthly = requests * (160.0 * 0.15 + 340.0 * 0.60) / 1e6
            + requests * 0.0001
            + requests * 20_000.0 / 1e9 * 0.09
            + 20.0;
        let energy = 2.0 * 350.0 * 730.0 / 1000.0 * 1.2 * 0.165;
        let colocation = 2.0 * 0.350 * 185.0;
        Expected {
            local_running: energy + colocation + 50.0,
            cloud_monthly,
            capital: 2.0 * 3000.0 + 200.0,
        }
    }

    fn local_cash(&self, month: f64) -> f64 {
        self.capital + month * self.local_running
    }

    fn local_amortized(&self, month: u32) -> f64 {
        let depreciation_per_month = 2.0 * (3000.0 - 600.0) / 24.0 + 200.0 / 24.0;
        f64::from(month) * self.local_running + f64::from(month.min(24)) * depreciation_per_month
    }
}

#[track_caller]
fn close(what: &str, got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-9 * want.abs(), "{what}: got {got}, want {want}");
}

fn at(list: &[MonthBand], month: u32) -> MonthBand {
    list[month as usize - 1]
}

#[test]
fn cumulative_costs_and_break_even_match_closed_forms() {
    let out = run(&scenario(BASE), &|_| {});
    let e = Expected::new();
    let s = &out.summary;
    let local = s.deployments[0].cost_usd.as_ref().unwrap();
    let cloud = s.deployments[1].cost_usd.as_ref().unwrap();
    for month in [12, 24, 36] {
        let m = f64::from(month);
        close(
            &format!("local cash at {month}"),
            at(&local.cumulative, month).mean,
            e.local_cash(m),
        );
        close(
            &format!("local amortized at {month}"),
            at(&local.cumulative_amortized, month).mean,
            e.local_amortized(month),
        );
        close(&format!("cloud at {month}"), at(&cloud.cumulative, month).mean, m * e.cloud_monthly);
        close(
            &format!("cloud amortized at {month}"),
            at(&cloud.cumulative_amortized, month).mean,
            m * e.cloud_monthly,
        );
        // Without noise every replication costs the same.
        let b = at(&local.cumulative, month);
        assert_eq!((b.p5, b.p50, b.p95), (b.mean, b.mean, b.mean));
    }
    close("month 1 cash", at(&local.monthly, 1).mean, e.capital + e.local_running);
    close("month 2 cash", at(&local.monthly, 2).mean, e.local_running);
    let be = &s.break_even.as_ref().unwrap()[0];
    assert_eq!((be.local.as_str(), be.cloud.as_str(), be.never_fraction), ("box", "api", 0.0));
    let want = e.capital / (e.cloud_monthly - e.local_running);
    close("break-even month", be.month.unwrap().mean, want);
    assert!(want > 3.0 && want < 6.0, "the test scenario should break even mid-horizon: {want}");

    let table = &out.horizon.as_ref().unwrap().monthly;
    assert_eq!(table.len(), 2 * 36);
    let row = &table[35];
    assert_eq!((row.deployment.as_str(), row.month), ("box", 36));
    close("table cumulative", row.cumulative_mean_usd, e.local_cash(36.0));
    close("table requests", row.requests, 2.0 * 3600.0 * 730.0);
    close("table tokens", table[36].prompt_tokens, 160.0 * 2.0 * 3600.0 * 730.0);
    // Utilization λE[S]/c = 0.5 within the replications' own standard error: each
    // replication's month-36 window is an independent estimate.
    let partial = lcsim_engine::run_replications(&scenario(BASE), 0..6, &|_| {});
    let per_rep: Vec<f64> = partial.months.iter().map(|r| r[0][35].utilization).collect();
    let (mean, se) = common::mean_se(&per_rep);
    close("table utilization", row.utilization.unwrap(), mean);
    common::check("utilization", mean, se, 0.5, 0.0);
}

#[test]
fn noise_bands_cover_the_closed_form_mean() {
    let text = BASE
        .replace("replications = 6", "replications = 200")
        .replace("window_hours = 2", "window_hours = 0.25")
        .replace("rate_per_s = 2.0", "rate_per_s = 2.0\nlevel_noise_cv = 0.3")
        .replace(
            "ops_usd_per_month = 20",
            "ops_usd_per_month = 20\nprice_change_sd_per_year = 0.1",
        );
    let out = run(&scenario(&text), &|_| {});
    let e = Expected::new();
    let cloud = out.summary.deployments[1].cost_usd.as_ref().unwrap();
    for month in [12, 24, 36] {
        let b = at(&cloud.cumulative, month);
        let want = f64::from(month) * e.cloud_monthly;
        assert!(b.p5 < want && want < b.p95, "month {month}: {want} outside [{}, {}]", b.p5, b.p95);
        assert!(b.p5 < b.p50 && b.p50 < b.p95);
    }
    let be = &out.summary.break_even.as_ref().unwrap()[0];
    let m = be.month.unwrap();
    assert!(m.p5 < m.p50 && m.p50 < m.p95);
}

#[test]
fn capacity_policy_buys_devices_as_traffic_grows() {
    let text = BASE
        .replace("rate_per_s = 2.0", "rate_per_s = 2.0\ngrowth_per_month = 0.04")
        .replace(
            "[deployment.cost]\ncapex_usd",
            "[deployment.capacity_policy]\nadd_when_peak_utilization_above = 0.7\nlead_time_months = 2\nmax_servers = 12\n[deployment.cost]\ncapex_usd",
        );
    let out = run(&scenario(&text), &|_| {});
    let table = &out.horizon.as_ref().unwrap().monthly;
    let local: Vec<_> = table.iter().filter(|r| r.deployment == "box").collect();
    assert_eq!(local[0].servers, 2.0);
    assert!(local[35].servers > 4.0, "servers at month 36: {}", local[35].servers);
    assert!(local.windows(2).all(|w| w[1].servers >= w[0].servers));
    // Every device added shows up as capital in the month it arrives.
    for w in local.windows(2) {
        let added = w[1].servers - w[0].servers;
        assert!((w[1].capex_usd - added * 3000.0).abs() < 1e-6, "{added} {}", w[1].capex_usd);
    }
    // Peak utilization stays near the threshold instead of growing without bound.
    assert!(local[35].peak_hour_utilization.unwrap() < 0.95);
}

#[test]
fn horizon_runs_are_thread_count_independent() {
    let text = BASE.replace("rate_per_s = 2.0", "rate_per_s = 2.0\nlevel_noise_cv = 0.2");
    let s = scenario(&text);
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let a = pool(1).install(|| run(&s, &|_| {}));
    let b = pool(2).install(|| run(&s, &|_| {}));
    assert_eq!(a.summary, b.summary);
    assert_eq!(a.horizon.unwrap().monthly, b.horizon.unwrap().monthly);
}

mod monotone {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// More traffic never costs less in the cloud (its cost follows the exact expected
        /// volume), and the local side, whose energy follows the simulated utilization, costs
        /// at least its fixed part.
        #[test]
        fn cost_is_non_decreasing_in_request_rate(rate in 0.2f64..2.0, extra in 0.05f64..1.0, seed in 0u64..100) {
            let text = |r: f64| BASE
                .replace("rate_per_s = 2.0", &format!("rate_per_s = {r}"))
                .replace("seed = 5", &format!("seed = {seed}"))
                .replace("replications = 6", "replications = 2")
                .replace("horizon_months = 36", "horizon_months = 3")
                .replace("power_w = 350", "idle_w = 50\nload_w = 350");
            let low = run(&scenario(&text(rate)), &|_| {});
            let high = run(&scenario(&text(rate + extra)), &|_| {});
            let cumulative = |out: &lcsim_engine::RunOutput, k: usize| {
                at(&out.summary.deployments[k].cost_usd.as_ref().unwrap().cumulative, 3).mean
            };
            prop_assert!(cumulative(&high, 1) > cumulative(&low, 1));
            let e = Expected::new();
            let idle_energy = 2.0 * 50.0 * 730.0 / 1000.0 * 1.2 * 0.165;
            let floor = e.capital + 3.0 * (e.local_running - (2.0 * 350.0 * 730.0 / 1000.0 * 1.2 * 0.165) + idle_energy);
            prop_assert!(cumulative(&low, 0) > floor - 1e-9 * floor);
        }

        /// More traffic never makes the local box cheaper on average: its energy follows the
        /// busy share of its window, which grows with the rate. Replications are paired
        /// (common random numbers), so the test is on the mean of the per-replication
        /// differences, within 4 standard errors of them (a window's busy time is not monotone
        /// path by path with two servers).
        #[test]
        fn local_cost_is_non_decreasing_in_request_rate(rate in 0.2f64..1.6, extra in 0.2f64..1.0, seed in 0u64..100) {
            let text = |r: f64| BASE
                .replace("rate_per_s = 2.0", &format!("rate_per_s = {r}"))
                .replace("seed = 5", &format!("seed = {seed}"))
                .replace("replications = 6", "replications = 8")
                .replace("horizon_months = 36", "horizon_months = 3")
                .replace("power_w = 350", "idle_w = 50\nload_w = 350");
            let local = |r: f64| -> Vec<f64> {
                let partial = lcsim_engine::run_replications(&scenario(&text(r)), 0..8, &|_| {});
                partial.months.iter().map(|rep| rep[0].iter().map(|m| m.cash.total()).sum()).collect()
            };
            let (low, high) = (local(rate), local(rate + extra));
            let diffs: Vec<f64> = high.iter().zip(&low).map(|(h, l)| h - l).collect();
            let (mean, se) = common::mean_se(&diffs);
            prop_assert!(mean >= -4.0 * se, "local cost fell by {} (SE {se}) from {rate} to {}/s", -mean, rate + extra);
        }
    }
}
