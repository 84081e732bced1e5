//! Simulated requests per second of the engine (criterion reports them as "elem/s").
//!
//! `cargo bench -p lcsim-engine` — these scenarios, each at 1 and 2 rayon threads:
//! * `mmc4`: the M/M/4 check scenario (Poisson arrivals, exponential service, 4 FIFO servers);
//! * `mm1`: M/M/1 at 80 % load, 4 replications of 100 hours;
//! * `diurnal_batching`: `scenarios/diurnal-batching.toml` — diurnal Poisson traffic with
//!   sampled token counts through a batching local server and a capped cloud endpoint;
//! * `hybrid_overflow`: `scenarios/hybrid-overflow.toml` at 10 replications — a 24-month
//!   horizon with device failures, timeouts, an SLO and an overflow hybrid (three deployments,
//!   the hybrid's two members simulated again inside it);
//! * `continuous_chat` and `continuous_chat_long`: the quickstart's chat workload (diurnal
//!   Poisson, lognormal prompts and answers) on its RTX 4090 box with continuous batching
//!   (4 slots); the second doubles the mean answer and halves the rate, so utilization stays
//!   the same and any drop in requests/s is work that grows with answer length.
//! * `mmc4_reference` and `mm1_reference`: the yardsticks. A minimal hand-written M/M/c loop (a
//!   heap of server-free times, the engine's generator and exponential sampler, only a sum of
//!   waits recorded) over the same number of requests in the same 4 replications. The
//!   engine's time over its loop's is its overhead, printed as one ratio per scenario and
//!   thread count at the end of the run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lcsim_core::scenario::{NoFiles, Scenario, parse_scenario};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::Exp1;
use rayon::prelude::*;

/// M/M/c at 80 % load: Poisson arrivals, exponential service of mean 1 s, `SERVERS` FIFO
/// servers, 4 replications of `HOURS` hours.
const MMC: &str = r#"
name = "mmc"
[simulation]
seed = 7
replications = 4
duration_hours = HOURS
[traffic]
pattern = "poisson"
rate_per_s = RATE
[[deployment]]
name = "edge"
kind = "local"
servers = SERVERS
service_ms = { dist = "exponential", mean = 1000.0 }
"#;

/// `(servers, arrival rate per second, hours)` of the two M/M/c benchmarks and their loops.
const MMC4: (usize, f64, u32) = (4, 3.2, 25);
const MM1: (usize, f64, u32) = (1, 0.8, 100);

fn mmc((servers, rate_per_s, hours): (usize, f64, u32)) -> String {
    MMC.replace("SERVERS", &servers.to_string())
        .replace("RATE", &rate_per_s.to_string())
        .replace("HOURS", &hours.to_string())
}

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

/// M/M/c by hand: Poisson arrivals at `rate_per_ms`, exponential service of mean
/// `mean_service_ms`, `c` FIFO servers as a heap of free times (bit patterns of non-negative
/// floats order like the floats). Returns the sum of waits, so the loop cannot be optimized
/// away.
fn reference_mmc(c: usize, rate_per_ms: f64, mean_service_ms: f64, n: u64, seed: u64) -> f64 {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut free: BinaryHeap<Reverse<u64>> = (0..c).map(|_| Reverse(0f64.to_bits())).collect();
    let (mut t, mut sum_wait) = (0.0f64, 0.0f64);
    for _ in 0..n {
        let gap: f64 = rng.sample(Exp1);
        t += gap / rate_per_ms;
        let service: f64 = rng.sample(Exp1);
        let mut first = free.peek_mut().expect("c ≥ 1 servers");
        let start = f64::from_bits(first.0).max(t);
        sum_wait += start - t;
        *first = Reverse((start + service * mean_service_ms).to_bits());
    }
    sum_wait
}

/// The reference with `c` servers at `rate_per_ms` over `requests` split into `replications`
/// independent runs on the current rayon pool.
fn reference_runs(c: usize, rate_per_ms: f64, requests: u64, replications: u64) -> f64 {
    (0..replications)
        .into_par_iter()
        .map(|r| reference_mmc(c, rate_per_ms, 1000.0, requests / replications, r))
        .sum()
}

/// Seconds of the fastest of `runs` calls of `f`.
fn fastest(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn bench(c: &mut Criterion) {
    let chat = CONTINUOUS_CHAT.replace("RATE", "0.4").replace("OUTPUT", "340");
    let chat_long = CONTINUOUS_CHAT.replace("RATE", "0.2").replace("OUTPUT", "680");
    let (mmc4, mm1) = (mmc(MMC4), mmc(MM1));
    for (name, text) in [
        ("continuous_chat", chat.as_str()),
        ("continuous_chat_long", chat_long.as_str()),
        ("mmc4", mmc4.as_str()),
        ("mm1", mm1.as_str()),
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
    // The yardsticks and the ratios.
    for (name, params) in [("mmc4", MMC4), ("mm1", MM1)] {
        let (servers, rate_per_s, _) = params;
        let s = scenario(&mmc(params));
        let requests = lcsim_engine::run(&s, &|_| {}).summary.requests_simulated;
        let replications = u64::from(s.simulation.replications);
        let reference = || reference_runs(servers, rate_per_s / 1000.0, requests, replications);
        let mut group = c.benchmark_group(format!("{name}_reference"));
        group.throughput(Throughput::Elements(requests));
        group.sample_size(20);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            group.bench_function(format!("{threads}_thread"), |b| {
                b.iter(|| pool.install(reference))
            });
            let engine = fastest(5, || {
                pool.install(|| lcsim_engine::run(&s, &|_| {}));
            });
            let loop_s = fastest(5, || {
                std::hint::black_box(pool.install(reference));
            });
            eprintln!(
                "{name} at {threads} thread(s): engine {:.1} M req/s, hand-written loop {:.1} M req/s: the engine takes {:.2}× the loop's time",
                requests as f64 / engine / 1e6,
                requests as f64 / loop_s / 1e6,
                engine / loop_s
            );
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
