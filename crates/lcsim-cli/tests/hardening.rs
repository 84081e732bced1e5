//! The promises of docs/hardening.md, through the binary: `--out` replaces
//! only what lcsim wrote; an interrupt leaves the previous folder or none, and no temporaries;
//! flags out of range exit 2; a broken endpoint is counted, not fatal.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Background, lcsim_in, temp_dir};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A scenario of `hours` simulated hours at 50 requests/s on one M/M/4 deployment.
fn scenario(dir: &Path, hours: f64) -> PathBuf {
    let path = dir.join("s.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"s\"\n[simulation]\nseed = 3\nreplications = 2\nduration_hours = {hours}\n[traffic]\npattern = \"poisson\"\nrate_per_s = 50\n[[deployment]]\nname = \"edge\"\nkind = \"local\"\nservers = 4\nservice_ms = {{ dist = \"exponential\", mean = 40.0 }}\n"
        ),
    )
    .unwrap();
    path
}

/// Dot-entries (temporaries) in `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn out_replaces_only_what_lcsim_wrote() {
    let dir = temp_dir("out");
    scenario(&dir, 0.01);
    // A user's folder: refused, untouched.
    std::fs::create_dir(dir.join("mine")).unwrap();
    std::fs::write(dir.join("mine/thesis.txt"), "precious").unwrap();
    let o = lcsim_in(&dir, &["run", "s.toml", "--out", "mine"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not an lcsim run folder"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.join("mine/thesis.txt")).unwrap(), "precious");
    // A file: refused, untouched, nothing left beside it.
    std::fs::write(dir.join("notes.txt"), "notes").unwrap();
    let o = lcsim_in(&dir, &["run", "s.toml", "--out", "notes.txt"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a file"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "notes");
    // The current directory, by absolute path, and its parent: refused.
    for out in [dir.to_str().unwrap(), dir.parent().unwrap().to_str().unwrap()] {
        let o = lcsim_in(&dir, &["run", "s.toml", "--out", out]);
        assert_eq!(o.status.code(), Some(2), "{out}: {}", stderr(&o));
    }
    assert!(dir.join("s.toml").is_file() && dir.join("mine/thesis.txt").is_file());
    // An empty folder, then the run folder lcsim wrote there: replaced.
    std::fs::create_dir(dir.join("empty")).unwrap();
    for _ in 0..2 {
        let o = lcsim_in(&dir, &["run", "s.toml", "--out", "empty", "--no-plots"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(dir.join("empty/summary.json").is_file() && dir.join("empty/.lcsim-run").is_file());
    }
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    // `plot` writes only into a run folder.
    std::fs::write(dir.join("mine/summary.json"), "{}").unwrap();
    let o = lcsim_in(&dir, &["plot", "mine"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!dir.join("mine/plots").exists());
    // `calibrate --out` names a profile file: a folder or another file is refused up front.
    for out in ["mine", "notes.txt"] {
        let o = lcsim_in(&dir, &["calibrate", "local", "--shape", "tiny", "--quick", "--out", out]);
        assert_eq!(o.status.code(), Some(2), "{out}: {}", stderr(&o));
    }
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "notes");
    assert!(leftovers(&dir).is_empty() && leftovers(&dir.join("mine")).is_empty());
}

#[test]
fn stale_temporaries_of_a_killed_run_are_removed() {
    let dir = temp_dir("stale");
    scenario(&dir, 0.01);
    // As SIGKILL would leave them: a temporary of a process that no longer exists, and the
    // previous folder moved aside between the two renames.
    let dead = u32::MAX - 7;
    std::fs::create_dir(dir.join(format!(".run.lcsim-tmp-{dead}-x1"))).unwrap();
    std::fs::create_dir(dir.join(format!(".run.lcsim-old-{dead}"))).unwrap();
    std::fs::write(dir.join(format!(".run.lcsim-old-{dead}/.lcsim-run")), "").unwrap();
    std::fs::write(dir.join(format!(".run.lcsim-old-{dead}/summary.json")), "{}").unwrap();
    let o = lcsim_in(&dir, &["run", "s.toml", "--out", "run", "--no-plots"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    assert!(dir.join("run/summary.json").is_file());
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// Exit 130 from the handler, success (the run finished first), or killed by the signal itself
/// when it arrived before the handler was installed (nothing had been written then).
#[cfg(unix)]
fn ended_cleanly(status: std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.code() == Some(130) || status.success() || matches!(status.signal(), Some(2 | 15))
}

/// Interrupted at any point, a run leaves the previous complete folder or the new complete one,
/// never a half-written one, and no temporaries.
#[cfg(unix)]
#[test]
fn an_interrupt_leaves_the_previous_folder_or_the_new_one() {
    let dir = temp_dir("interrupt");
    scenario(&dir, 0.01);
    let o = lcsim_in(&dir, &["run", "s.toml", "--out", "run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let previous = std::fs::read_to_string(dir.join("run/summary.json")).unwrap();
    // Long enough to be interrupted while simulating: 2 × 200 h at 50/s = 72 M requests.
    std::fs::write(dir.join("s.toml"), std::fs::read_to_string(scenario(&dir, 200.0)).unwrap())
        .unwrap();
    let complete = |d: &Path| {
        d.join(".lcsim-run").is_file()
            && d.join("summary.json").is_file()
            && d.join("report.html").is_file()
            && d.join("plots/latency.png").is_file()
    };
    for (sig, after) in [("-INT", 300), ("-TERM", 300), ("-INT", 5)] {
        let started = Instant::now();
        let mut run = Background::spawn(&dir, &["run", "s.toml", "--out", "run"]);
        while started.elapsed() < Duration::from_millis(after) {
            std::thread::sleep(Duration::from_millis(5));
        }
        signal(run.0.id(), sig);
        let status = run.0.wait().unwrap();
        assert!(ended_cleanly(status), "{sig}: {status:?}");
        assert!(complete(&dir.join("run")));
        if !status.success() {
            assert_eq!(std::fs::read_to_string(dir.join("run/summary.json")).unwrap(), previous);
        }
        assert!(leftovers(&dir).is_empty(), "{sig}: {:?}", leftovers(&dir));
    }
    // While the results are being written: wait for the temporary folder, then interrupt.
    std::fs::write(dir.join("s.toml"), std::fs::read_to_string(scenario(&dir, 0.5)).unwrap())
        .unwrap();
    // Catching the short write window is a matter of scheduling: on a busy machine this
    // thread may sleep through it. So try until it has been caught (at least 5 tries, at most
    // 60); every try, caught or not, must leave a complete folder and no temporaries.
    let mut caught_writing = 0;
    for attempt in 0..60 {
        if attempt >= 5 && caught_writing > 0 {
            break;
        }
        let mut run = Background::spawn(&dir, &["run", "s.toml", "--out", "run"]);
        loop {
            if !leftovers(&dir).is_empty() {
                signal(run.0.id(), "-INT");
                caught_writing += 1;
                break;
            }
            if run.0.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let status = run.0.wait().unwrap();
        assert!(ended_cleanly(status), "{status:?}");
        assert!(complete(&dir.join("run")));
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    }
    assert!(caught_writing > 0, "never caught a run while it wrote its folder in 60 tries");
}

#[test]
fn flags_out_of_range_exit_2() {
    let dir = temp_dir("flags");
    scenario(&dir, 0.01);
    let cases: &[&[&str]] = &[
        &["run", "s.toml", "--threads", "100000"],
        &["run", "s.toml", "--replications", "1000000000"],
        &["run", "s.toml", "--out", &"x".repeat(300)],
        &[
            "calibrate",
            "local",
            "--shape",
            "custom",
            "--layers",
            "2",
            "--d-model",
            "4611686018427387904",
            "--heads",
            "2",
            "--ffn",
            "8",
            "--vocab",
            "16",
        ],
        &["calibrate", "local", "--shape", "tiny", "--quick", "--pin-core", "99999"],
        &["calibrate", "cloud", "--url", "http://127.0.0.1:9/", "--timeout-s", "1e300"],
        &["calibrate", "cloud", "--url", "http://127.0.0.1:9/", "--timeout-s", "1e19"],
    ];
    // Exit 2 is itself the proof that nothing ran: before, `--threads 100000` spent 49 s
    // creating threads and exited 1, and the calibrate flags panicked (101 or 134).
    for args in cases {
        let o = lcsim_in(&dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("error: "), "{args:?}: {}", stderr(&o));
    }
    assert!(leftovers(&dir).is_empty());
}

/// `check` applies the same validation as `run`.
#[test]
fn check_refuses_what_run_refuses() {
    let invalid = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    for name in ["panic-gamma-cv-huge", "garbage-lognormal-nan", "hang-cloud-rate-huge"] {
        let o = lcsim_in(&invalid, &["check", &format!("{name}.toml")]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
    }
}

/// An endpoint that streams one endless line: the line is cut at 1 MiB and the request counted
/// as failed, the process neither aborts nor grows without bound.
#[test]
fn an_endless_stream_line_is_a_counted_failure() {
    use std::io::Write;
    let port = common::loopback_server(3, |s, _| {
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: ",
        );
        let chunk = vec![b'a'; 64 * 1024];
        // 4 MiB without a newline, then stop.
        for _ in 0..64 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let dir = temp_dir("sse");
    let o = lcsim_in(
        &dir,
        &[
            "calibrate",
            "cloud",
            "--openai",
            "--url",
            &format!("http://127.0.0.1:{port}/v1"),
            "--samples",
            "2",
            "--timeout-s",
            "30",
            "--out",
            "p.toml",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no request succeeded"), "{}", stderr(&o));
    assert!(leftovers(&dir).is_empty() && !dir.join("p.toml").exists());
}

/// A profile whose fitted context term is negative (here absurdly so) never yields a negative
/// time: the term is used as 0. Before, a mean latency of −21 million ms came out.
#[test]
fn a_negative_context_term_never_gives_negative_times() {
    let invalid = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let dir = temp_dir("negative-profile");
    let text = std::fs::read_to_string(invalid.join("garbage-profile-nan.toml"))
        .unwrap()
        .replace("data/profile-nan.toml", "profile-negative.toml");
    std::fs::write(dir.join("s.toml"), text).unwrap();
    std::fs::copy(invalid.join("data/profile-negative.toml"), dir.join("profile-negative.toml"))
        .unwrap();
    let out = dir.join("run");
    let o = lcsim_in(&dir, &["run", "s.toml", "--out", "run", "--no-plots"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(!summary.contains("null"), "{summary}");
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    for m in ["latency_ms", "wait_ms"] {
        for k in ["mean", "p50", "p99"] {
            let x = v["deployments"]["edge"][m][k].as_f64().unwrap();
            assert!(x >= 0.0, "{m}.{k} = {x}");
        }
    }
}
