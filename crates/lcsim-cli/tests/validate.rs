//! `lcsim calibrate server` and `lcsim validate` end to end against the loopback stand-in
//! server: the plumbing, the files, and the exit codes of the failure cases.

mod common;

use std::path::Path;

use common::{lcsim_in, temp_dir};
use lcsim_calibrate::server::standin::{Behaviour, Standin, StandinConfig};

/// Fast steps, so that a level of 40 requests takes a second or two.
const FAST: StandinConfig = StandinConfig {
    slots: 4,
    n_ctx_per_slot: 1024,
    overhead_ms: 1.0,
    prefill_ms_per_token: 0.01,
    prefill_attention_ms_per_context_token: 0.00001,
    decode_base_ms: 2.0,
    decode_ms_per_batch: 0.5,
    attention_ms_per_context_token: 0.0005,
    behaviour: Behaviour::Serve,
};

/// A short trace: prompts of 40–200 tokens, answers of 4–24.
fn small_trace(dir: &Path) -> String {
    let mut t = String::from("TIMESTAMP,ContextTokens,GeneratedTokens\n");
    for i in 0..50u32 {
        t.push_str(&format!(
            "2023-11-16 18:15:{:02}.000,{},{}\n",
            i,
            40 + (i * 37) % 160,
            4 + (i * 7) % 20
        ));
    }
    std::fs::write(dir.join("trace.csv"), t).unwrap();
    "trace.csv".into()
}

fn calibrate(dir: &Path, url: &str) {
    let out = lcsim_in(
        dir,
        &[
            "calibrate",
            "server",
            "--url",
            url,
            "--runs",
            "2",
            "--decode-tokens",
            "8",
            "--out",
            "server.toml",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn calibrate_then_validate_writes_the_comparison() {
    let dir = temp_dir("validate-ok");
    let server = Standin::start(FAST).unwrap();
    let url = server.url();
    calibrate(&dir, &url);
    let profile = std::fs::read_to_string(dir.join("server.toml")).unwrap();
    assert!(profile.contains("kind = \"server\""), "{profile}");
    let trace = small_trace(&dir);
    let out = lcsim_in(
        &dir,
        &[
            "validate",
            "--url",
            &url,
            "--profile",
            "server.toml",
            "--out",
            "v",
            "--levels",
            "0.3,0.6",
            "--repeat",
            "--requests",
            "40",
            "--trace",
            &trace,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("v/validation.json")).unwrap())
            .unwrap();
    let levels = v["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    for (l, u) in levels.iter().zip([0.3, 0.6]) {
        assert_eq!(l["utilization"], u);
        assert_eq!(l["requests"], 40);
        assert_eq!(l["completed"], 40);
        for m in ["ttft_ms", "tpot_ms", "e2e_ms"] {
            for q in ["p50", "p90", "p99"] {
                let c = &l["metrics"][m][q];
                let (meas, sim, err) = (
                    c["measured"].as_f64().unwrap(),
                    c["simulated"].as_f64().unwrap(),
                    c["rel_error"].as_f64().unwrap(),
                );
                assert!(meas > 0.0 && sim > 0.0, "{m} {q}: {c}");
                assert!((err - (sim - meas) / meas).abs() < 1e-12, "{m} {q}: {c}");
            }
        }
    }
    assert!(v["verdict"].as_str().unwrap().contains("worst |error|"));
    // --repeat: the second pass against the first, for every metric and quantile.
    for l in levels {
        for m in ["ttft_ms", "tpot_ms", "e2e_ms"] {
            assert!(l["repeat"][m]["p99"]["rel_error"].is_f64(), "{l}");
        }
    }
    assert!(v["verdict"].as_str().unwrap().contains("differed from itself"));
    assert!(v["client"]["http_rtt_ms"].as_f64().unwrap() > 0.0);
    // Every request is a row, with its measured and simulated times.
    let csv = std::fs::read_to_string(dir.join("v/requests.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 80);
    assert!(csv.lines().skip(1).all(|l| l.split(',').count() == 14 && l.contains(",true,")));
    for f in ["report.md", "report.html", "plots/validation_30.png", "plots/validation_60.svg"] {
        assert!(dir.join("v").join(f).is_file(), "{f}");
    }
    assert!(stdout.contains("TTFT") && stdout.contains("E2E"), "{stdout}");
}

#[test]
fn wrong_urls_and_flags_exit_2_and_write_nothing() {
    let dir = temp_dir("validate-bad");
    let server = Standin::start(FAST).unwrap();
    calibrate(&dir, &server.url());
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let flat =
        Standin::start(StandinConfig { behaviour: Behaviour::NotStreaming, ..FAST }).unwrap();
    let (good, flat) = (server.url(), flat.url());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--url", &dead], "cannot reach a server"),
        (vec!["--url", &flat], "did not stream"),
        (vec!["--url", "localhost:8080"], "--url must be an http"),
        (vec!["--url", &good, "--levels", "0"], "--levels"),
        (vec!["--url", &good, "--max-seconds=-1"], "--max-seconds"),
    ];
    for (args, message) in cases {
        let mut all = vec!["validate", "--profile", "server.toml", "--out", "v"];
        all.extend(args.iter().copied());
        let out = lcsim_in(&dir, &all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {stderr}");
        assert!(stderr.contains(message), "{all:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!dir.join("v").exists(), "{all:?} wrote an output folder");
    }
    // A profile of another kind.
    std::fs::write(dir.join("cloud.toml"), "kind = \"cloud\"\n").unwrap();
    let out = lcsim_in(&dir, &["validate", "--url", &server.url(), "--profile", "cloud.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = lcsim_in(&dir, &["calibrate", "server", "--url", &dead, "--out", "x.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.join("x.toml").exists());
}

/// `validate` at one level (30 %) of 60 requests from the small trace, into `out`.
fn validate_one_level(dir: &Path, url: &str, out: &str, trace: &str) -> std::process::Output {
    lcsim_in(
        dir,
        &[
            "validate",
            "--url",
            url,
            "--profile",
            "server.toml",
            "--out",
            out,
            "--levels",
            "0.3",
            "--requests",
            "60",
            "--trace",
            trace,
        ],
    )
}

#[test]
fn a_server_failing_mid_run_exits_1_and_keeps_what_was_measured() {
    let dir = temp_dir("validate-500");
    let good = Standin::start(FAST).unwrap();
    calibrate(&dir, &good.url());
    // Serves the preflight request and 9 more, then answers 500.
    let failing =
        Standin::start(StandinConfig { behaviour: Behaviour::FailAfter(10), ..FAST }).unwrap();
    let trace = small_trace(&dir);
    let out = validate_one_level(&dir, &failing.url(), "v", &trace);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("failed most requests"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let csv = std::fs::read_to_string(dir.join("v/requests.csv")).unwrap();
    let ok = csv.lines().filter(|l| l.contains(",true,")).count();
    let failed = csv.lines().filter(|l| l.contains(",false,HTTP status 500,")).count();
    assert_eq!(ok, 9, "{csv}");
    assert!(failed >= 5, "{csv}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("v/validation.json")).unwrap())
            .unwrap();
    assert_eq!(v["levels"][0]["completed"], 9);
    assert_eq!(v["levels"][0]["errors"]["http_status"]["500"], failed);

    // A server that answers 500 from the start: exit 1, and the failed requests are on disk.
    let broken = Standin::start(StandinConfig { behaviour: Behaviour::Fail500, ..FAST }).unwrap();
    let out = validate_one_level(&dir, &broken.url(), "w", &trace);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let csv = std::fs::read_to_string(dir.join("w/requests.csv")).unwrap();
    let failed = csv.lines().filter(|l| l.contains(",false,HTTP status 500,")).count();
    assert!((5..60).contains(&failed), "{csv}");
    assert!(dir.join("w/validation.json").is_file());
}

/// A profile whose KV cache cannot hold a token per slot is refused with the key, not a panic.
#[test]
fn a_profile_with_a_kv_cache_too_small_exits_2() {
    let dir = temp_dir("validate-kv");
    let server = Standin::start(FAST).unwrap();
    calibrate(&dir, &server.url());
    let text = std::fs::read_to_string(dir.join("server.toml")).unwrap();
    let text = text.replace("kv_cache_tokens = 4096", "kv_cache_tokens = 3");
    assert!(text.contains("kv_cache_tokens = 3"), "{text}");
    std::fs::write(dir.join("server.toml"), text).unwrap();
    let out = lcsim_in(&dir, &["validate", "--url", &server.url(), "--profile", "server.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("server.kv_cache_tokens") && !stderr.contains("panicked"), "{stderr}");
}
