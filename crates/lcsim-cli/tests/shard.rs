//! `lcsim run --shard I/N` as separate processes, then `lcsim merge`: the merged run folder
//! equals the unsharded run's (summary.json except `wall_seconds`, and the monthly table)
//! for N = 1, 2, 3 and 7, and broken sets of shards are refused with exit 2.

mod common;

use std::path::{Path, PathBuf};

use common::{lcsim_in, temp_dir};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios").join(name)
}

fn ok(dir: &Path, args: &[&str]) {
    let out = lcsim_in(dir, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// summary.json without its `wall_seconds` line.
fn summary(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("summary.json"))
        .unwrap()
        .lines()
        .filter(|l| !l.contains("\"wall_seconds\""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn shards_merge_exactly(file: &str, horizon: bool) {
    let dir = temp_dir(&format!("shard-{file}"));
    let s = scenario(file);
    let s = s.to_str().unwrap();
    ok(&dir, &["run", s, "--replications", "7", "--out", "full", "--no-plots"]);
    for n in [1u32, 2, 3, 7] {
        let mut folders = Vec::new();
        for i in 0..n {
            let folder = format!("n{n}-s{i}");
            let shard = format!("{i}/{n}");
            ok(&dir, &["run", s, "--replications", "7", "--shard", &shard, "--out", &folder]);
            folders.push(folder);
        }
        // Given in any order: the merge puts them in replication order.
        folders.reverse();
        let merged = format!("merged-{n}");
        let mut args = vec!["merge", "--out", merged.as_str(), "--no-plots"];
        args.extend(folders.iter().map(String::as_str));
        ok(&dir, &args);
        assert_eq!(summary(&dir.join(&merged)), summary(&dir.join("full")), "{file}, N = {n}");
        if horizon {
            let a = std::fs::read(dir.join(&merged).join("monthly.csv")).unwrap();
            assert_eq!(a, std::fs::read(dir.join("full/monthly.csv")).unwrap(), "N = {n}");
        }
    }
    // What a shard holds (and writes) is its own replications' figures plus fixed-size
    // histograms, not the whole run's: one replication in 7 holds less than all 7.
    let size = |f: &str| std::fs::metadata(dir.join(f).join("partial.lcsim")).unwrap().len();
    assert!(size("n7-s0") < size("n1-s0"), "{} vs {}", size("n7-s0"), size("n1-s0"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stationary_run_merges_exactly() {
    // Zone outages, failover, a capped endpoint: every kind of per-replication state.
    shards_merge_exactly("multi-zone-cloud.toml", false);
}

#[test]
fn a_horizon_run_merges_exactly() {
    // 24 months, device failures, an SLO and an overflow hybrid.
    shards_merge_exactly("hybrid-overflow.toml", true);
}

#[test]
fn broken_sets_of_shards_are_refused() {
    let dir = temp_dir("shard-refusals");
    let s = scenario("mmc-check.toml");
    let s = s.to_str().unwrap();
    for i in 0..3 {
        ok(
            &dir,
            &[
                "run",
                s,
                "--replications",
                "3",
                "--shard",
                &format!("{i}/3"),
                "--out",
                &format!("s{i}"),
            ],
        );
    }
    ok(&dir, &["run", s, "--replications", "3", "--seed", "99", "--shard", "2/3", "--out", "seed"]);
    let other = scenario("bursty-batching.toml");
    ok(
        &dir,
        &[
            "run",
            other.to_str().unwrap(),
            "--replications",
            "3",
            "--shard",
            "2/3",
            "--out",
            "other",
        ],
    );
    ok(&dir, &["run", s, "--replications", "4", "--shard", "2/3", "--out", "reps"]);
    let cases: [(&[&str], &str); 6] = [
        (&["s0", "s1"], "2/3 missing"),
        (&["s0", "s1", "s1", "s2"], "given twice"),
        (&["s0", "s1", "seed"], "seed"),
        (&["s0", "s1", "other"], "different runs: scenario"),
        (&["s0", "s1", "reps"], "replications"),
        (&["s0", "s1", "nowhere"], "cannot read partial.lcsim"),
    ];
    for (folders, needle) in cases {
        let mut args = vec!["merge", "--out", "m"];
        args.extend_from_slice(folders);
        let out = lcsim_in(&dir, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{folders:?}: {err}");
        assert!(err.contains(needle), "{folders:?}: {err}");
        assert!(!dir.join("m").exists());
    }
    for bad in ["3/3", "1/0", "a/b", "4/4"] {
        let out = lcsim_in(&dir, &["run", s, "--replications", "3", "--shard", bad, "--out", "x"]);
        assert_eq!(out.status.code(), Some(2), "--shard {bad}");
    }
    let out = lcsim_in(&dir, &["run", s, "--shard", "auto", "--out", "x"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

const PRICED: &str = r#"
name = "priced"
[simulation]
seed = 5
replications = 7
horizon_months = 12
window_hours = 2
[traffic]
pattern = "poisson"
rate_per_s = 0.05
[[deployment]]
name = "box"
kind = "local"
servers = 1
service_ms = { dist = "exponential", mean = 2000 }
[deployment.cost]
capex_usd = 3000
idle_w = 50
load_w = 300
usd_per_kwh = 0.15
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "lognormal", median = 800, p95 = 2500 }
[deployment.cost]
usd_per_request = 0.002
"#;

/// A sweep of 4 points in 1, 2 and 3 shards (whole points) and in 7 (replications of every
/// point), and a sensitivity analysis in 3: the merged tables equal the unsharded ones.
#[test]
fn sweeps_and_sensitivity_merge_exactly() {
    let dir = temp_dir("shard-sweep");
    std::fs::write(dir.join("priced.toml"), PRICED).unwrap();
    let vary = "traffic.rate_per_s=0.01,0.03,0.05,0.1";
    ok(&dir, &["sweep", "priced.toml", "--vary", vary, "--out", "full", "--no-plots"]);
    for n in [1u32, 2, 3, 7] {
        let mut args =
            vec!["merge".to_string(), "--out".into(), format!("m{n}"), "--no-plots".into()];
        for i in 0..n {
            let out = format!("n{n}-{i}");
            ok(
                &dir,
                &[
                    "sweep",
                    "priced.toml",
                    "--vary",
                    vary,
                    "--shard",
                    &format!("{i}/{n}"),
                    "--out",
                    &out,
                ],
            );
            args.push(out);
        }
        ok(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
        for file in ["sweep.csv", "break_even.csv"] {
            let merged = std::fs::read(dir.join(format!("m{n}")).join(file)).unwrap();
            assert_eq!(
                merged,
                std::fs::read(dir.join("full").join(file)).unwrap(),
                "{file}, N = {n}"
            );
        }
    }
    ok(&dir, &["sensitivity", "priced.toml", "--out", "sens", "--no-plots"]);
    for i in 0..3 {
        ok(
            &dir,
            &[
                "sensitivity",
                "priced.toml",
                "--shard",
                &format!("{i}/3"),
                "--out",
                &format!("s{i}"),
            ],
        );
    }
    ok(&dir, &["merge", "s2", "s0", "s1", "--out", "sens-m", "--no-plots"]);
    let merged = std::fs::read(dir.join("sens-m/sensitivity.csv")).unwrap();
    assert_eq!(merged, std::fs::read(dir.join("sens/sensitivity.csv")).unwrap());
    // Shards of different sweeps do not merge.
    ok(
        &dir,
        &[
            "sweep",
            "priced.toml",
            "--vary",
            "traffic.rate_per_s=0.01,0.02",
            "--shard",
            "1/2",
            "--out",
            "other",
        ],
    );
    let out = lcsim_in(&dir, &["merge", "n2-0", "other", "--out", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different commands"));
    let out = lcsim_in(&dir, &["capacity", "priced.toml", "--deployment", "box", "--shard", "0/2"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
