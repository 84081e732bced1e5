//! Charts and report of real runs: every PNG decodes at slide size and is not blank, every SVG
//! parses and carries its text, and the report's numbers are summary.json's.

use std::path::{Path, PathBuf};

use lcsim_core::scenario::{NoFiles, parse_scenario};
use lcsim_report::report::{cost_at, duration, percent};
use lcsim_report::{charts, data::RunData};

const HORIZON: &str = r#"
name = "report-test"
description = "Box vs API vs overflow hybrid with PII, for the report test"
[simulation]
seed = 3
replications = 4
horizon_months = 14
window_hours = 4
warmup_hours = 0.2
[traffic]
pattern = "bursty"
rate_per_s = 0.3
cv = 1.41
prompt_tokens = { dist = "lognormal", mean = 160, cv = 1.0 }
output_tokens = { dist = "lognormal", mean = 340, cv = 1.0 }
[slo]
latency_p95_ms = 20000
availability = 0.99
[[deployment]]
name = "box"
kind = "local"
servers = 1
max_batch = 4
batch_timeout_ms = 50
timeout_ms = 60000
prefill_ms_per_token = 0.14
decode_ms_per_token = { base = 7.0, per_batch = 0.66 }
[deployment.failures]
mtbf_hours = 2000
mttr_hours = 48
repair_usd = 400
[deployment.cost]
capex_usd = 3000
amortization_months = 36
idle_w = 50
load_w = 350
usd_per_kwh = 0.165
ops_usd_per_month = 100
[[deployment]]
name = "api"
kind = "cloud"
ttft_ms = { dist = "lognormal", median = 450, p95 = 1200 }
output_tokens_per_s = 100
[deployment.cost]
usd_per_mtok_in = 2.5
usd_per_mtok_out = 10
[[deployment]]
name = "overflow"
kind = "hybrid"
policy = "overflow"
local = "box"
cloud = "api"
overflow_queue_above = 2
data_must_stay_local = 0.3
"#;

const STATIONARY: &str = r#"
name = "report-stationary"
[simulation]
seed = 1
replications = 3
duration_hours = 2
[traffic]
pattern = "poisson"
rate_per_s = 2.0
[[deployment]]
name = "edge"
kind = "local"
servers = 4
service_ms = { dist = "exponential", mean = 1000.0 }
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "lognormal", median = 600, p95 = 1500 }
[[deployment]]
name = "fallback"
kind = "hybrid"
policy = "fallback"
cloud = "api"
local = "edge"
fallback_timeout_ms = 1000
"#;

fn run_folder(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lcsim-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = parse_scenario("t.toml", text, &NoFiles).unwrap();
    let out = lcsim_engine::run(&scenario, &|_| {});
    let json = serde_json::to_string_pretty(&out.summary).unwrap();
    std::fs::write(dir.join("summary.json"), json).unwrap();
    std::fs::write(dir.join("scenario.toml"), text).unwrap();
    if let Some(h) = &out.horizon {
        lcsim_report::write_monthly(&dir, &h.monthly).unwrap();
    }
    dir
}

/// Decodes a PNG and checks it is a 1600×900 picture with real content: many non-white
/// pixels, several distinct colours (the palette), not one flat fill.
fn check_png(path: &Path) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    assert_eq!(img.dimensions(), charts::SIZE, "{}", path.display());
    let pixels = img.pixels().count();
    let ink = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(ink > pixels / 100, "{}: only {ink} non-white pixels", path.display());
    let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() >= 4, "{}: {} colours", path.display(), colours.len());
}

/// Parses an SVG and returns its text.
fn check_svg(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let doc =
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let words: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    assert!(words.len() > 5, "{}: {} text elements", path.display(), words.len());
    words.join(" ")
}

#[test]
fn charts_and_report_of_a_horizon_run() {
    let dir = run_folder("horizon", HORIZON);
    let files = lcsim_report::render(&dir).unwrap();
    let data = RunData::load(&dir).unwrap();
    let names: Vec<&str> = charts::available(&data).iter().map(|c| c.0).collect();
    assert_eq!(names, ["tco", "cost_breakdown", "latency", "availability", "routes"]);
    for name in &names {
        check_png(&dir.join(format!("plots/{name}.png")));
        let text = check_svg(&dir.join(format!("plots/{name}.svg")));
        assert!(text.contains("report-test") || *name == "cost_breakdown", "{name}: {text}");
    }
    assert_eq!(files.len(), 2 * names.len() + 2);
    // The report's numbers are summary.json's.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for (name, d) in summary["deployments"].as_object().unwrap() {
        let row = md.lines().find(|l| l.starts_with(&format!("| {name} |"))).unwrap();
        assert!(row.contains(&duration(d["latency_ms"]["p95"].as_f64().unwrap())), "{row}");
        assert!(row.contains(&percent(d["availability"]["mean"].as_f64().unwrap())), "{row}");
        let c12 = &d["cost_usd"]["cumulative"][11];
        let expect = format!(
            "{} [{}, {}]",
            lcsim_report::report::usd(c12["mean"].as_f64().unwrap()),
            lcsim_report::report::usd(c12["p5"].as_f64().unwrap()),
            lcsim_report::report::usd(c12["p95"].as_f64().unwrap())
        );
        assert!(row.contains(&expect), "{row} lacks {expect}");
        assert_eq!(cost_at(data.deployment(name).unwrap(), 12).unwrap(), expect);
        let slo = d["slo"]["attainment"].as_f64().unwrap();
        assert!(row.contains(&format!("{:.1} %", 100.0 * slo)), "{row}");
    }
    // The decision summary cites the guide's dimensions with numbers.
    assert!(md.contains("**Privacy:** 30 % of requests"), "{md}");
    assert!(md.contains("**Scale:** traffic is bursty (gaps with CV 1.41)"), "{md}");
    assert!(md.contains("**Cost:** over 14 months"), "{md}");
    assert!(md.contains("**Failover:**"), "{md}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches("data:image/png;base64,").count(), names.len());
    assert!(!html.contains("src=\"plots/"), "the HTML embeds its charts");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn charts_of_a_stationary_run_and_re_rendering() {
    let dir = run_folder("stationary", STATIONARY);
    lcsim_report::render(&dir).unwrap();
    let data = RunData::load(&dir).unwrap();
    let names: Vec<&str> = charts::available(&data).iter().map(|c| c.0).collect();
    assert_eq!(names, ["latency", "availability", "routes"]);
    for name in &names {
        check_png(&dir.join(format!("plots/{name}.png")));
        check_svg(&dir.join(format!("plots/{name}.svg")));
    }
    // Rendering again from the same files gives the same report.
    let first = std::fs::read_to_string(dir.join("report.md")).unwrap();
    lcsim_report::render(&dir).unwrap();
    assert_eq!(first, std::fs::read_to_string(dir.join("report.md")).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}
