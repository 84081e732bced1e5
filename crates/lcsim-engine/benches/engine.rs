//! Simulated requests per second of the engine (criterion reports them as "elem/s").
//!
//! `cargo bench -p lcsim-engine` — two scenarios, each at 1 and 2 rayon threads:
//! * `mmc4`: the M/M/4 check scenario (Poisson arrivals, exponential service, 4 FIFO servers);
//! * `diurnal_batching`: `scenarios/diurnal-batching.toml` — diurnal Poisson traffic with
//!   sampled token counts through a batching local server and a capped cloud endpoint;
//! * `hybrid_overflow`: `scenarios/hybrid-overflow.toml` at 10 replications — a 24-month
//!   horizon with device failures, timeouts, an SLO and an overflow hybrid (three deployments,
//!   the hybrid's two members simulated again inside it);
//! * `continuous_chat` and `continuous_chat_long`: the quickstart's chat workload (diurnal
//!   Poisson, lognormal prompts and answers) on its RTX 4090 box with continuous batching
//!   (4 slots); the second doubles the mean answer and halves the rate, so utilization stays
//!   the same and any drop in requests/s is work that grows with answer length.

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

const CONTINUOUS_CHAT: &str = r#"
name = "continuous-chat"
[simulation]
seed = 1
replications = 8
duration_hours = 168
[traffic]
pattern = "diurnal"
rate_per_s = RATE
peak_to_trough = 3.0
peak_hour = 14
prompt_tokens = { dist = "lognormal", mean = 160, cv = 1.0 }
output_tokens = { dist = "lognormal", mean = OUTPUT, cv = 1.0 }
[[deployment]]
name = "rtx4090-box"
kind = "local"
servers = 1
scheduler = "continuous"
max_num_seqs = 4
kv_cache_tokens = 16384
queue_capacity = 200
prefill_ms_per_token = 0.14
decode_ms_per_token = { base = 7.0, per_batch = 0.66 }
"#;

const DIURNAL_BATCHING: &str = include_str!("../../../scenarios/diurnal-batching.toml");
const HYBRID_OVERFLOW: &str = include_str!("../../../scenarios/hybrid-overflow.toml");

fn scenario(text: &str) -> Scenario {
    parse_scenario("bench.toml", text, &NoFiles).unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let chat = CONTINUOUS_CHAT.replace("RATE", "0.4").replace("OUTPUT", "340");
    let chat_long = CONTINUOUS_CHAT.replace("RATE", "0.2").replace("OUTPUT", "680");
    for (name, text) in [
        ("continuous_chat", chat.as_str()),
        ("continuous_chat_long", chat_long.as_str()),
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
