//! Policy: every profile shipped in calibration/ parses, carries its provenance, holds a fit
//! consistent with its own points, and drives a scenario that runs.

use std::path::{Path, PathBuf};

use lcsim_calibrate::local::fit_profile;
use lcsim_core::profile::{Profile, parse_profile};
use lcsim_core::scenario::{FileSource, parse_scenario};

struct Absolute;
impl FileSource for Absolute {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
    }
}

fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../calibration");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn shipped_profiles_are_complete_and_usable() {
    let files = shipped();
    assert!(files.len() >= 6, "{files:?}");
    let mut measured_here = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        let profile = parse_profile(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Profile::Local(p) = profile else { continue };
        let prov = &p.provenance;
        assert!(prov.date.len() >= 7, "{name}: date");
        match prov.method.as_str() {
            "measured" => {
                measured_here += 1;
                assert!(
                    prov.command.is_some()
                        && prov.host_cpu.is_some()
                        && prov.candle_version.is_some()
                        && prov.os.is_some(),
                    "{name}: provenance"
                );
            }
            "reference" => assert!(
                prov.source.as_deref().is_some_and(|s| s.len() > 20),
                "{name}: a reference profile cites its source"
            ),
            other => panic!("{name}: unknown method {other}"),
        }
        let f = p.fit;
        for v in [
            f.decode_base_ms,
            f.decode_ms_per_batch,
            f.decode_ms_per_context,
            f.decode_ms_per_batch_context,
            f.prefill_base_ms,
            f.prefill_ms_per_token,
        ] {
            assert!(v.is_finite(), "{name}: {f:?}");
        }
        assert!(f.decode_base_ms > 0.0, "{name}");
        // Where the points determine the model, the stored fit is lcsim's fit of those points.
        if p.decode.len() >= 4 && p.prefill.len() >= 2 {
            let refit = fit_profile(&p.prefill, &p.decode);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-9);
            assert!(
                close(refit.decode_base_ms, f.decode_base_ms)
                    && close(refit.decode_ms_per_batch_context, f.decode_ms_per_batch_context)
                    && close(refit.prefill_ms_per_token, f.prefill_ms_per_token)
                    && close(refit.decode_r2, f.decode_r2),
                "{name}: stored {f:?}, refit {refit:?}"
            );
        }
        // It drives a scenario.
        let scenario = format!(
            "name = \"p\"\n[simulation]\nseed = 1\nreplications = 2\nduration_hours = 0.2\n[traffic]\npattern = \"poisson\"\nrate_per_s = 0.01\nprompt_tokens = {{ dist = \"fixed\", value = 200 }}\noutput_tokens = {{ dist = \"fixed\", value = 50 }}\n[[deployment]]\nname = \"d\"\nkind = \"local\"\nservers = 2\nmax_batch = 4\ncalibration = \"{}\"\n",
            path.display()
        );
        let s = parse_scenario("p.toml", &scenario, &Absolute)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let service = s.mean_service_ms(&s.deployments[0]);
        assert!(service > 0.0 && service.is_finite(), "{name}: {service}");
        let out = lcsim_engine::run(&s, &|_| {});
        assert!(out.summary.deployments[0].served > 0, "{name}");
    }
    assert!(measured_here >= 1, "ship the profile measured on this project's machine");
}
