//! Planning commands against closed forms: the break-even map's lines against the break-even
//! volume, `lcsim capacity` against Erlang C, and a sweep of the base values against the
//! base run.

mod common;

use std::path::Path;

use common::{lcsim_in, temp_dir};
use serde_json::Value;

fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header.iter().cloned().zip(rec.iter().map(String::from)).collect()
        })
        .collect()
}

fn num(row: &std::collections::HashMap<String, String>, key: &str) -> f64 {
    row[key].parse().unwrap_or_else(|_| panic!("{key} = {:?}", row[key]))
}

/// A box bought for `capex` that draws constant power, against an API billed per request:
/// costs are exactly linear in volume (no utilization enters), so the volume at which the
/// box has paid for itself by month M is `(capex + energy·M) / (price per request)`, and the
/// rate is that over M months of 730 h.
const BREAK_EVEN: &str = r#"
name = "be"
[simulation]
seed = 3
replications = 2
horizon_months = 36
window_hours = 1
[traffic]
pattern = "poisson"
rate_per_s = 0.03
[[deployment]]
name = "box"
kind = "local"
servers = 1
service_ms = { dist = "fixed", value = 1 }
[deployment.cost]
capex_usd = 3000
power_w = 100
pue = 1.0
usd_per_kwh = 0.15
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "fixed", value = 10 }
[deployment.cost]
usd_per_request = 0.002
"#;

#[test]
fn the_break_even_map_follows_the_closed_form_break_even_volume() {
    let dir = temp_dir("break-even-map");
    std::fs::write(dir.join("be.toml"), BREAK_EVEN).unwrap();
    let out = lcsim_in(
        &dir,
        &[
            "sweep",
            "be.toml",
            "--vary",
            "traffic.rate_per_s=0.01..0.06:11",
            "--vary",
            "deployment.api.cost.usd_per_request=0.001,0.002,0.004",
            "--out",
            "sw",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The premise: with constant power and per-request prices the costs have no spread, so
    // the run's standard error is zero and the lines must match to rounding.
    for row in csv_rows(&dir.join("sw/sweep.csv")) {
        assert_eq!(num(&row, "cost_end_p5_usd"), num(&row, "cost_end_p95_usd"), "{row:?}");
    }
    let lines = csv_rows(&dir.join("sw/break_even.csv"));
    let (capex, energy_per_month) = (3000.0, 0.1 * 730.0 * 0.15);
    let mut expected = 0;
    for price in [0.001, 0.002, 0.004] {
        for months in [12u32, 24, 36] {
            let m = f64::from(months);
            let rate = (capex + energy_per_month * m) / (price * 3600.0 * 730.0 * m);
            let found: Vec<_> = lines
                .iter()
                .filter(|r| {
                    num(r, "deployment.api.cost.usd_per_request") == price
                        && r["months"] == months.to_string()
                })
                .collect();
            if !(0.01..=0.06).contains(&rate) {
                assert!(found.is_empty(), "{price} {months}: no crossing in the grid");
                continue;
            }
            expected += 1;
            assert_eq!(found.len(), 1, "{price} {months}: {lines:?}");
            let got = num(found[0], "traffic.rate_per_s");
            assert!((got - rate).abs() <= 1e-9 * rate, "{price} {months}: {got} vs {rate}");
            assert_eq!(found[0]["local_pays_off"], "above");
        }
    }
    assert_eq!(lines.len(), expected);
    let report = std::fs::read_to_string(dir.join("sw/report.md")).unwrap();
    assert!(
        report.contains("`box` pays off against `api` within 24 months above 0.026 requests/s"),
        "{report}"
    );
    for chart in ["break_even_map", "cost_vs_axis", "latency_vs_axis"] {
        for ext in ["png", "svg"] {
            assert!(dir.join(format!("sw/plots/{chart}.{ext}")).is_file(), "{chart}.{ext}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// P(T > t) of the time in system of M/M/c (Erlang C wait plus an exponential service).
fn sojourn_tail(lambda: f64, mu: f64, c: u32, t: f64) -> f64 {
    let a = lambda / mu;
    // Erlang B by its recurrence, then C.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let rho = a / f64::from(c);
    let erlang_c = b / (1.0 - rho + rho * b);
    let gap = f64::from(c) * mu - lambda - mu;
    let service = (-mu * t).exp();
    if gap.abs() < 1e-12 {
        service * (1.0 + erlang_c * mu * t)
    } else {
        service + erlang_c * mu / gap * (service - (-(f64::from(c) * mu - lambda) * t).exp())
    }
}

/// The p95 of the time in system, by bisection on the tail.
fn sojourn_p95(lambda: f64, mu: f64, c: u32) -> f64 {
    let (mut lo, mut hi) = (0.0, 1e4);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if sojourn_tail(lambda, mu, c, mid) > 0.05 { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

#[test]
fn capacity_matches_erlang_c() {
    // λ = 8/s, service exponential with mean 1 s.
    let (lambda, mu) = (8.0, 1.0);
    let q: Vec<f64> =
        (0..=12).map(|c| if c <= 8 { f64::INFINITY } else { sojourn_p95(lambda, mu, c) }).collect();
    // The target sits between what 9 and 10 servers give: 10 is the fewest that meet it.
    let target_s = (q[9] * q[10]).sqrt();
    let fewest = (9..=12).find(|&c| sojourn_tail(lambda, mu, c, target_s) <= 0.05).unwrap();
    assert_eq!(fewest, 10);
    let scenario = format!(
        r#"
name = "mmc"
[simulation]
seed = 11
replications = 8
duration_hours = 4
warmup_hours = 0.5
[traffic]
pattern = "poisson"
rate_per_s = {lambda}
[[deployment]]
name = "box"
kind = "local"
servers = 10
service_ms = {{ dist = "exponential", mean = 1000 }}
[slo]
latency_p95_ms = {}
"#,
        target_s * 1000.0
    );
    let dir = temp_dir("capacity-erlang");
    std::fs::write(dir.join("mmc.toml"), scenario).unwrap();
    let out = lcsim_in(&dir, &["capacity", "mmc.toml", "--deployment", "box", "--out", "cap"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cap/capacity.json")).unwrap())
            .unwrap();
    // The premise: the run resolves 9 from 10 servers. The replications' p95 spread (their
    // 95 % CI) must be narrower than the gap between the closed-form p95 and the target,
    // and the simulated p95 must agree with the closed form within it.
    for tried in c["search"].as_array().unwrap() {
        let servers = tried["servers"].as_u64().unwrap() as usize;
        if !(9..=10).contains(&servers) {
            continue;
        }
        let per = &tried["latency_p95_ms_per_replication"];
        let ci = per["ci95"].as_array().unwrap();
        let half = (ci[1].as_f64().unwrap() - ci[0].as_f64().unwrap()) / 2.0;
        let exact_ms = q[servers] * 1000.0;
        assert!(
            (exact_ms - target_s * 1000.0).abs() > 2.0 * half,
            "{servers} servers: the target is within the run's noise ({half} ms)"
        );
        let pooled = tried["latency_p95_ms"].as_f64().unwrap();
        assert!((pooled - exact_ms).abs() < 2.0 * half, "{servers}: {pooled} vs {exact_ms}");
    }
    assert_eq!(c["servers"].as_u64(), Some(fewest as u64), "{c}");
    // The largest rate 10 servers hold: the closed form's λ with p95 = target, inside the
    // replications' 95 % interval widened by the bisection's 0.2 % resolution.
    let (mut lo, mut hi) = (8.0, 9.99);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if sojourn_tail(mid, mu, 10, target_s) <= 0.05 { lo = mid } else { hi = mid }
    }
    let exact_rate = 0.5 * (lo + hi);
    let rate = &c["max_rate_per_s"];
    let ci = rate["ci95"].as_array().unwrap();
    let (a, b) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    let slack = 0.002 * exact_rate;
    assert!(a - slack <= exact_rate && exact_rate <= b + slack, "{exact_rate} not in [{a}, {b}]");
    assert_eq!(c["deployment"], "box");
    assert!(c["slo"]["latency_p95_ms"].is_number());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sweep_of_the_base_values_reproduces_the_base_run() {
    let dir = temp_dir("sweep-base");
    let text = BREAK_EVEN.replace(
        "service_ms = { dist = \"fixed\", value = 1 }",
        "service_ms = { dist = \"exponential\", mean = 20000 }",
    );
    std::fs::write(dir.join("be.toml"), text).unwrap();
    let run = lcsim_in(&dir, &["run", "be.toml", "--out", "run", "--no-plots"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let sweep = lcsim_in(
        &dir,
        &[
            "sweep",
            "be.toml",
            "--vary",
            "traffic.rate_per_s=0.03,0.03",
            "--out",
            "sw",
            "--no-plots",
        ],
    );
    assert!(sweep.status.success(), "{}", String::from_utf8_lossy(&sweep.stderr));
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/summary.json")).unwrap())
            .unwrap();
    let rows = csv_rows(&dir.join("sw/sweep.csv"));
    assert_eq!(rows.len(), 4);
    for row in rows {
        let d = &s["deployments"][&row["deployment"]];
        let f = |v: &Value| v.as_f64().unwrap();
        assert_eq!(num(&row, "latency_p50_ms"), f(&d["latency_ms"]["p50"]));
        assert_eq!(num(&row, "latency_p95_ms"), f(&d["latency_ms"]["p95"]));
        assert_eq!(num(&row, "ttft_p95_ms"), f(&d["ttft_ms"]["p95"]));
        assert_eq!(num(&row, "availability"), f(&d["availability"]["mean"]));
        assert_eq!(num(&row, "requests"), f(&d["requests"]));
        let end = d["cost_usd"]["cumulative"].as_array().unwrap().last().unwrap();
        assert_eq!(num(&row, "cost_end_mean_usd"), f(&end["mean"]));
        assert_eq!(num(&row, "cost_end_p5_usd"), f(&end["p5"]));
        assert_eq!(num(&row, "cost_end_p95_usd"), f(&end["p95"]));
        let m12 = &d["cost_usd"]["cumulative"][11];
        assert_eq!(num(&row, "cost_m12_mean_usd"), f(&m12["mean"]));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_sweeps_exit_2_naming_the_path_or_the_point_and_write_nothing() {
    let dir = temp_dir("sweep-bad");
    std::fs::write(dir.join("be.toml"), BREAK_EVEN).unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--vary", "traffic.rate_per_sec=1,2"], "traffic.rate_per_sec"),
        (&["--vary", "deployment.nope.servers=1,2"], "no deployment is named `nope`"),
        (
            &["--vary", "deployment.box.servers=1,0"],
            "sweep point 2 of 2 (deployment.box.servers = 0)",
        ),
        (&[], "no [sweep] table"),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["sweep", "be.toml", "--out", "sw"];
        args.extend_from_slice(flags);
        let out = lcsim_in(&dir, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(needle), "{flags:?}: {err}");
        assert!(!dir.join("sw").exists());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sweep_table_in_the_scenario_is_checked_and_run() {
    let dir = temp_dir("sweep-table");
    let text = format!(
        "{BREAK_EVEN}\n[sweep]\n\"traffic.rate_per_s\" = {{ from = 0.01, to = 0.04, points = 4, scale = \"log\" }}\n"
    );
    std::fs::write(dir.join("be.toml"), &text).unwrap();
    let run = lcsim_in(&dir, &["run", "be.toml", "--out", "run", "--no-plots"]);
    assert!(run.status.success(), "a [sweep] table does not stop `lcsim run`");
    let out = lcsim_in(&dir, &["sweep", "be.toml", "--out", "sw", "--no-plots"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(csv_rows(&dir.join("sw/sweep.csv")).len(), 8);
    std::fs::write(
        dir.join("bad.toml"),
        text.replace("traffic.rate_per_s\" =", "traffic.rate\" ="),
    )
    .unwrap();
    let out = lcsim_in(&dir, &["check", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("traffic.rate"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sensitivity_swings_match_the_linear_cost_model() {
    let dir = temp_dir("sensitivity");
    std::fs::write(dir.join("be.toml"), BREAK_EVEN).unwrap();
    let out = lcsim_in(&dir, &["sensitivity", "be.toml", "--out", "sens"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // At month 36: box = capex + energy·36, api = price · rate · 3600 · 730 · 36, both exact.
    let (capex, energy) = (3000.0, 0.1 * 730.0 * 0.15 * 36.0);
    let api = 0.002 * 0.03 * 3600.0 * 730.0 * 36.0;
    let base = capex + energy - api;
    let expect = |key: &str| -> Option<(f64, f64)> {
        Some(match key {
            "deployment.box.cost.capex_usd" => (base - 0.2 * capex, base + 0.2 * capex),
            "deployment.box.cost.power_w" | "deployment.box.cost.usd_per_kwh" => {
                (base - 0.2 * energy, base + 0.2 * energy)
            }
            "traffic.rate_per_s" | "deployment.api.cost.usd_per_request" => {
                (base + 0.2 * api, base - 0.2 * api)
            }
            _ => return None,
        })
    };
    let rows = csv_rows(&dir.join("sens/sensitivity.csv"));
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str()).collect();
    for k in [
        "deployment.box.cost.capex_usd",
        "traffic.rate_per_s",
        "deployment.api.cost.usd_per_request",
    ] {
        assert!(keys.contains(&k), "{k} is moved by default: {keys:?}");
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    for r in &rows {
        assert!(close(num(r, "base_difference_usd"), base), "{r:?}");
        if let Some((low, high)) = expect(&r["key"]) {
            assert!(close(num(r, "difference_at_low_usd"), low), "{r:?}: {low}");
            assert!(close(num(r, "difference_at_high_usd"), high), "{r:?}: {high}");
        }
    }
    // Sorted by swing: capex (±600) before energy (±65.7).
    let swing: Vec<f64> = rows.iter().map(|r| num(r, "swing_usd")).collect();
    assert!(swing.windows(2).all(|w| w[0] >= w[1]), "{swing:?}");
    // PUE 1.0 moved down is invalid: left out and said so.
    let report = std::fs::read_to_string(dir.join("sens/report.md")).unwrap();
    assert!(report.contains("Not moved") && report.contains("pue"), "{report}");
    assert!(dir.join("sens/plots/tornado.png").is_file());
    // The pair can be named, in either order; one name alone is an error, not the default.
    let out = lcsim_in(
        &dir,
        &[
            "sensitivity",
            "be.toml",
            "--compare",
            "api,box",
            "--key",
            "deployment.box.cost.capex_usd",
            "--out",
            "swap",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let swapped = csv_rows(&dir.join("swap/sensitivity.csv"));
    assert!(close(num(&swapped[0], "base_difference_usd"), -base));
    let out = lcsim_in(&dir, &["sensitivity", "be.toml", "--compare", "api", "--out", "one"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("two deployments"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn capacity_refuses_what_it_cannot_size() {
    let dir = temp_dir("capacity-bad");
    std::fs::write(dir.join("be.toml"), BREAK_EVEN).unwrap();
    let out = lcsim_in(&dir, &["capacity", "be.toml", "--deployment", "box", "--out", "c"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[slo]"));
    std::fs::write(dir.join("slo.toml"), format!("{BREAK_EVEN}\n[slo]\nlatency_p95_ms = 100\n"))
        .unwrap();
    let out = lcsim_in(&dir, &["capacity", "slo.toml", "--deployment", "nope", "--out", "c"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("box, api"));
    assert!(!dir.join("c").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The first command a new user runs is a planning run: costs over 36 months, every chart,
/// the monthly table and a report that leads with the recommendation.
#[test]
fn the_quickstart_is_a_planning_run() {
    let dir = temp_dir("quickstart-planning");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scenario = root.join("scenarios/quickstart.toml");
    let out =
        lcsim_in(&dir, &["run", scenario.to_str().unwrap(), "--replications", "2", "--out", "qs"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plots: Vec<String> = std::fs::read_dir(dir.join("qs/plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for ext in [".png", ".svg"] {
        assert!(plots.iter().filter(|p| p.ends_with(ext)).count() >= 4, "{plots:?}");
    }
    assert!(plots.iter().any(|p| p == "tco.png"), "{plots:?}");
    assert!(dir.join("qs/monthly.parquet").is_file());
    assert!(dir.join("qs/report.html").is_file());
    let report = std::fs::read_to_string(dir.join("qs/report.md")).unwrap();
    let summary = report.split("## Decision summary").nth(1).unwrap();
    let first = summary.lines().find(|l| l.starts_with("- ")).unwrap();
    assert!(first.starts_with("- **Recommendation:**") && first.contains('$'), "{first}");
    assert!(report.contains("cost to month 36"), "{report}");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("qs/summary.json")).unwrap())
            .unwrap();
    assert_eq!(v["horizon_months"], 36);
    assert_eq!(v["deployments"].as_object().unwrap().len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}
