//! Simulated requests per second of the engine (criterion reports them as "elem/s").
//!
//! `cargo bench -p lcsim-engine` — two scenarios, each at 1 and 2 rayon threads:
//! * `mmc4`: the M/M/4 check scenario (Poisson arrivals, exponential service, 4 FIFO servers);
//! * `diurnal_batching`: `scenarios/diurnal-batching.toml` — diurnal Poisson traffic with
//!   sampled token counts through a batching local server and a capped cloud endpoint;
//! * `hybrid_overflow`: `scenarios/hybrid-overflow.toml` at 10 replications — a 24-month
//!   horizon with device failures, timeouts, an SLO and an overflow hybrid (three deployments,
//!   the hybrid's two members simulated again inside it).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lcsim_core::scenario::{NoFiles, Scenario, parse_scenario};

const MMC4: &str = r#"
name = "mmc4"
[simulation]
seed = 7
replications = 4
duration_hours = 25
[traffic]
pattern = "poisson"
rate_per_s = 3.2
[[deployment]]
name = "edge"
kind = "local"
servers = 4
service_ms = { dist = "exponential", mean = 1000.0 }
"#;

const DIURNAL_BATCHING: &str = include_str!("../../../scenarios/diurnal-batching.toml");
const HYBRID_OVERFLOW: &str = include_str!("../../../scenarios/hybrid-overflow.toml");

fn scenario(text: &str) -> Scenario {
    parse_scenario("bench.toml", text, &NoFiles).unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    for (name, text) in [
        ("mmc4", MMC4),
        ("diurnal_batching", DIURNAL_BATCHING),
        ("hybrid_overflow", HYBRID_OVERFLOW),
    ] {
        let mut s = scenario(text);
        s.simulation.replications = s.simulation.replications.min(10);
        let requests = lcsim_engine::run(&s, &|_| {}).summary.requests_simulated;
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(requests));
        group.sample_size(20);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            group.bench_function(format!("{threads}_thread"), |b| {
                b.iter(|| pool.install(|| lcsim_engine::run(&s, &|_| {})))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
