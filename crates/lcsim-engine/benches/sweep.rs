//! Wall time of a planning sweep: `cargo bench -p lcsim-engine --bench sweep`.
//!
//! 25 points of `scenarios/support-chatbot-pii.toml` (36 months, 2 deployments) at 200
//! replications each, `traffic.rate_per_s` from 0.02 to 0.08 (the scenario's 0.04 in the
//! middle, so the sweep simulates about 25 × the scenario's requests). Each point is built the
//! way `lcsim sweep` builds it (the key set in the wire form, then validated) and run with the
//! scenario's seed on all cores. One pass takes minutes, so this is a plain timed run, not
//! criterion: it prints the wall time, the simulated requests per second and the machine's
//! load average before and after. `LCSIM_BENCH_REPLICATIONS` overrides the 200.

use std::time::Instant;

use lcsim_core::scenario::{NoFiles, parse_wire, scenario_from_wire};
use lcsim_core::sweep::{Editable, parse_vary};

const SCENARIO: &str = include_str!("../../../scenarios/support-chatbot-pii.toml");

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_else(|_| "n/a".into()).trim().to_string()
}

fn main() {
    // `cargo bench` passes --bench; a filter that names another benchmark skips this one.
    if std::env::args().skip(1).any(|a| !a.starts_with("--") && !"sweep".contains(&a)) {
        return;
    }
    let reps: f64 = std::env::var("LCSIM_BENCH_REPLICATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200.0);
    let wire = parse_wire("support-chatbot-pii.toml", SCENARIO).expect("bundled scenario");
    let editable = Editable::new(&wire).expect("editable");
    let axis = parse_vary("traffic.rate_per_s=0.02..0.08:25").expect("axis");
    println!("load average before: {}", load());
    let started = Instant::now();
    let mut requests = 0u64;
    for v in &axis.values {
        let w = editable
            .with(&[("traffic.rate_per_s", *v), ("simulation.replications", reps)])
            .expect("point");
        let s = scenario_from_wire(&w, &NoFiles).expect("valid point");
        requests += lcsim_engine::run(&s, &|_| {}).summary.requests_simulated;
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "sweep support-chatbot-pii: 25 points x {reps} replications x 36 months: {wall:.1} s, {requests} requests, {:.2} M requests/s, {} threads",
        requests as f64 / wall / 1e6,
        rayon::current_num_threads()
    );
    println!("load average after: {}", load());
}
