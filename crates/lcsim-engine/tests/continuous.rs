//! Continuous batching against closed forms and against a plain iteration-by-iteration
//! reference written here.

mod common;

use common::{check, per_rep, simulate};
use lcsim_core::scenario::{Continuous, DecodeTable, Linear};
use lcsim_engine::arrivals::Request;
use lcsim_engine::continuous::{Completed, ContinuousServers, Event};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

fn config(slots: u32, kv: u64) -> Continuous {
    Continuous {
        max_num_seqs: slots,
        kv_cache_tokens: kv,
        max_batched_tokens: None,
        prefill_ms_per_token: 0.0,
        decode_ms: Linear { base: 10.0, per_batch: 0.0 },
        decode_ms_by_batch: DecodeTable::NONE,
        attention_ms_per_context_token: 0.0,
        prefill_attention_ms_per_context_token: 0.0,
        prefill_overhead_ms: 0.0,
        overhead_ms: 0.0,
    }
}

/// Runs `requests` (in time order) through one server: every completion, in order of events.
fn serve(cfg: Continuous, servers: u32, requests: &[Request]) -> (Vec<Completed>, u64) {
    let mut s = ContinuousServers::new(cfg, servers, Vec::new());
    let mut done = Vec::new();
    let mut emit = |e: Event| {
        if let Event::Done(c) = e {
            done.push(c);
        }
    };
    for r in requests {
        s.advance(r.t_ms, &mut emit);
        assert!(s.fits(r));
        s.enqueue(*r, r.t_ms);
    }
    s.advance(f64::INFINITY, &mut emit);
    (done, s.preemptions)
}

/// One slot, fixed lengths, Poisson arrivals: an M/D/1 queue whose service time is the sum of
/// its iterations, `overhead + prefill·P` (the prefill iteration, which yields the first
/// token) plus `O − 1` decode iterations whose context grows by one token each. Mean wait
/// (Pollaczek–Khinchine), E2E = wait + service; checked through a scenario run.
#[test]
fn one_slot_is_md1() {
    let (p, o, overhead, prefill, decode, attention) = (200.0, 50.0, 2.0, 0.1, 8.0, 0.001);
    let first = overhead + prefill * p;
    // Decode iteration j (1-based) reads a context of p + j tokens.
    let decodes: f64 =
        (1..o as u32).map(|j| overhead + decode + attention * (p + f64::from(j))).sum();
    let service = first + decodes;
    let rate_per_s = 0.6 / (service / 1000.0);
    let text = format!(
        r#"
name = "md1"
[simulation]
seed = 11
replications = 12
duration_hours = 20
warmup_hours = 0.5
[traffic]
pattern = "poisson"
rate_per_s = {rate_per_s}
prompt_tokens = {{ dist = "fixed", value = {p} }}
output_tokens = {{ dist = "fixed", value = {o} }}
[[deployment]]
name = "box"
kind = "local"
servers = 1
scheduler = "continuous"
max_num_seqs = 1
kv_cache_tokens = 4096
prefill_ms_per_token = {prefill}
decode_ms_per_token = {decode}
attention_ms_per_context_token = {attention}
overhead_ms = {overhead}
"#
    );
    let out = simulate(&text);
    let lambda = rate_per_s / 1000.0;
    let wait = lcsim_core::theory::pk_mean_wait(lambda, service, service * service);
    let waits = per_rep(&out, 0, |r| r.mean_wait_ms);
    let (w, se) = common::mean_se(&waits);
    check("M/D/1 mean wait", w, se, wait, 0.0);
    let e2e = per_rep(&out, 0, |r| r.mean_latency_ms);
    let (l, se) = common::mean_se(&e2e);
    check("M/D/1 mean E2E", l, se, wait + service, 0.0);
    let ttft = per_rep(&out, 0, |r| r.mean_ttft_ms);
    let (f, se) = common::mean_se(&ttft);
    check("M/D/1 mean TTFT", f, se, wait + first, 0.0);
    assert_eq!(out.summary.deployments[0].preemptions, Some(0));
}

/// With a step time that does not depend on the batch, every request's time per output token
/// is that step exactly, whatever the load and lengths.
#[test]
fn constant_step_gives_constant_tpot() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let mut t = 0.0;
    let requests: Vec<Request> = (0..300)
        .map(|_| {
            t += -30.0 * (1.0 - rng.random::<f64>()).ln();
            Request::new(t, rng.random_range(1..400), rng.random_range(2..300))
        })
        .collect();
    let cfg = Continuous { overhead_ms: 0.0, ..config(4, 1 << 20) };
    let (done, _) = serve(cfg, 1, &requests);
    assert_eq!(done.len(), requests.len());
    for c in &done {
        let tpot = (c.end_ms - c.first_token_ms) / f64::from(c.req.output_tokens - 1);
        assert!((tpot - 10.0).abs() < 1e-9 * c.end_ms.max(1.0), "TPOT {tpot}");
    }
}

/// Saturation: N requests arrive at once; slots fill together and run in lock step. With
/// prefill free, each round of `B` requests takes its first-token iteration (free: nothing
/// decodes) and `O − 1` decode steps, so the last request ends at `(N/B)·(O − 1)·step`, a
/// throughput of `B / ((O − 1)·step)`.
#[test]
fn saturation_throughput() {
    let (slots, o, n) = (4u32, 30u32, 400usize);
    let requests: Vec<Request> = (0..n).map(|_| Request::new(0.0, 100, o)).collect();
    let (done, preempted) = serve(config(slots, 1 << 20), 1, &requests);
    assert_eq!(preempted, 0);
    let makespan = done.iter().map(|c| c.end_ms).fold(0.0, f64::max);
    let exact = (n as f64 / f64::from(slots)) * f64::from(o - 1) * 10.0;
    assert!((makespan - exact).abs() < 1e-9 * exact, "{makespan} vs {exact}");
}

/// A KV cache too small for every slot preempts, and throughput falls to what the cache
/// holds: with room for `k` whole sequences, at most `k` decode together.
#[test]
fn kv_pressure_preempts_and_caps_throughput() {
    let (slots, p, o, n) = (8u32, 100u32, 60u32, 200usize);
    let requests: Vec<Request> = (0..n).map(|i| Request::new(i as f64 * 0.001, p, o)).collect();
    let (ample, pre_ample) = serve(config(slots, 1 << 20), 1, &requests);
    let kv = 3 * u64::from(p + o);
    let (tight, pre_tight) = serve(config(slots, kv), 1, &requests);
    assert_eq!(pre_ample, 0);
    assert!(pre_tight > 0, "no preemption with a cache for 3 of 8 slots");
    assert_eq!(tight.len(), n);
    let end = |d: &[Completed]| d.iter().map(|c| c.end_ms).fold(0.0, f64::max);
    // At most kv / (p + 1) sequences can even start decoding together, each needing o − 1
    // steps of 10 ms: a lower bound on the tight makespan.
    let concurrent = (kv / u64::from(p + 1)) as f64;
    let lower = n as f64 / concurrent * f64::from(o - 1) * 10.0;
    assert!(end(&tight) >= lower * (1.0 - 1e-9), "{} < {lower}", end(&tight));
    assert!(end(&tight) > end(&ample));
}

/// A plain reference: one server, iteration by iteration, no jumps, the rules of
/// `lcsim_core::scenario::Continuous` written out again. It must agree with the engine on a
/// 200-request trace with chunked prefill, attention cost, batch-dependent steps and KV
/// pressure, to floating-point rounding.
#[test]
fn agrees_with_a_plain_reference() {
    agrees_with_reference_when_training(&[], 1.0);
}

/// The same trace without a token budget or attention terms: the scheduler's plain path (no
/// outage, training, chunking or attention branches) against the same reference.
#[test]
fn plain_path_agrees_with_the_reference() {
    let cfg = Continuous {
        max_batched_tokens: None,
        attention_ms_per_context_token: 0.0,
        ..reference_config()
    };
    assert!(ContinuousServers::new(cfg.clone(), 1, Vec::new()).is_plain());
    agrees_with_reference(cfg, &[], 1.0);
}

/// The plain path is the general one with branches removed at compile time: an outage after
/// the last request moves the same trace to the general path, and every event is bit for bit
/// the same, preemptions included.
#[test]
fn plain_path_is_the_general_path_bit_for_bit() {
    let requests = reference_trace();
    let cfg = Continuous {
        max_batched_tokens: None,
        attention_ms_per_context_token: 0.0,
        ..reference_config()
    };
    let run = |down: Vec<Vec<(f64, f64)>>| {
        let mut s = ContinuousServers::new(cfg.clone(), 2, down);
        let plain = s.is_plain();
        let mut events = Vec::new();
        let mut emit = |e: Event| events.push(e);
        for r in &requests {
            s.advance(r.t_ms, &mut emit);
            s.enqueue(*r, r.t_ms);
        }
        s.advance(f64::INFINITY, &mut emit);
        (plain, events, s.preemptions)
    };
    let (plain, events, preemptions) = run(Vec::new());
    let (general, general_events, general_preemptions) = run(vec![vec![(1e15, 2e15)]]);
    assert!(plain && !general);
    assert!(preemptions > 0, "the trace should exercise preemption");
    assert_eq!(events, general_events);
    assert_eq!(preemptions, general_preemptions);
}

/// The same trace on a device that trains (federated learning) part of the time at 40 % of its
/// speed: every iteration that starts in a training interval takes 1 / 0.4 as long, and
/// closed-form jumps stop at the intervals' edges.
#[test]
fn training_slows_iterations_as_the_reference_does() {
    agrees_with_reference_when_training(
        &[(500.0, 2300.0), (4000.0, 4000.5), (6100.0, 9000.0)],
        0.4,
    );
}

/// 200 Poisson arrivals, prompts of 1–599 and answers of 1–199 tokens.
fn reference_trace() -> Vec<Request> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(17);
    let mut t = 0.0;
    (0..200)
        .map(|_| {
            t += -40.0 * (1.0 - rng.random::<f64>()).ln();
            Request::new(t, rng.random_range(1..600), rng.random_range(1..200))
        })
        .collect()
}

/// Six slots and a KV cache that holds about a third of them at full length, a token budget
/// and every term of the step model.
fn reference_config() -> Continuous {
    Continuous {
        max_num_seqs: 6,
        kv_cache_tokens: 2500,
        max_batched_tokens: Some(256),
        prefill_ms_per_token: 0.05,
        decode_ms: Linear { base: 6.0, per_batch: 0.7 },
        decode_ms_by_batch: DecodeTable::NONE,
        attention_ms_per_context_token: 0.0004,
        prefill_attention_ms_per_context_token: 0.0002,
        prefill_overhead_ms: 0.8,
        overhead_ms: 1.5,
    }
}

fn agrees_with_reference_when_training(slow: &[(f64, f64)], speed: f64) {
    agrees_with_reference(reference_config(), slow, speed);
}

fn agrees_with_reference(cfg: Continuous, slow: &[(f64, f64)], speed: f64) {
    let requests = reference_trace();
    let mut s =
        ContinuousServers::new(cfg.clone(), 1, Vec::new()).training(vec![slow.to_vec()], speed);
    let mut engine = Vec::new();
    let mut emit = |e: Event| {
        if let Event::Done(c) = e {
            engine.push(c);
        }
    };
    for r in &requests {
        s.advance(r.t_ms, &mut emit);
        s.enqueue(*r, r.t_ms);
    }
    s.advance(f64::INFINITY, &mut emit);
    let pre = s.preemptions;
    let mut reference = reference(cfg.clone(), &requests, slow, speed);
    if !slow.is_empty() {
        let plain = self::reference(cfg, &requests, &[], 1.0);
        let changed = plain.iter().zip(&reference).filter(|(a, b)| a.end_ms != b.end_ms).count();
        assert!(changed > 50, "training should delay many requests, delayed {changed}");
    }
    assert_eq!(engine.len(), reference.len());
    engine.sort_by(|a, b| a.req.t_ms.total_cmp(&b.req.t_ms));
    reference.sort_by(|a, b| a.req.t_ms.total_cmp(&b.req.t_ms));
    for (e, r) in engine.iter().zip(&reference) {
        for (what, x, y) in [
            ("admitted", e.admitted_ms, r.admitted_ms),
            ("first token", e.first_token_ms, r.first_token_ms),
            ("end", e.end_ms, r.end_ms),
        ] {
            assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{what}: engine {x}, reference {y}");
        }
    }
    eprintln!("{} preemptions", pre);
    assert!(pre > 0, "the trace should exercise preemption");
}

fn reference(
    cfg: Continuous,
    requests: &[Request],
    slow: &[(f64, f64)],
    speed: f64,
) -> Vec<Completed> {
    #[derive(Clone, Copy)]
    struct S {
        req: Request,
        generated: u32,
        admitted: Option<f64>,
        first: Option<f64>,
        prefill_left: u64,
        context: u64,
    }
    let mut queue: std::collections::VecDeque<S> = std::collections::VecDeque::new();
    let mut running: Vec<S> = Vec::new();
    let mut done = Vec::new();
    let mut next = 0;
    let mut clock = 0.0f64;
    let mut kv = 0u64;
    loop {
        if running.is_empty() && queue.is_empty() {
            if next == requests.len() {
                return done;
            }
            clock = clock.max(requests[next].t_ms);
        }
        // Everything that arrived by this boundary joins the queue.
        while next < requests.len() && requests[next].t_ms <= clock {
            let req = requests[next];
            queue.push_back(S {
                req,
                generated: 0,
                admitted: None,
                first: None,
                prefill_left: 0,
                context: 0,
            });
            next += 1;
        }
        while running.len() < cfg.max_num_seqs as usize {
            let Some(h) = queue.front() else { break };
            let need = u64::from(h.req.prompt_tokens) + u64::from(h.generated);
            if kv + need > cfg.kv_cache_tokens {
                break;
            }
            let mut s = queue.pop_front().unwrap();
            s.admitted.get_or_insert(clock);
            s.prefill_left = need;
            s.context = need;
            kv += need;
            running.push(s);
        }
        // Preempt until this iteration's new KV tokens fit.
        let (decoding, budget) = loop {
            let decoding = running.iter().filter(|s| s.prefill_left == 0).count() as u64;
            let budget = cfg.max_batched_tokens.map_or(u64::MAX, |m| m - decoding);
            let mut left = budget;
            let mut completing = 0;
            for s in running.iter().filter(|s| s.prefill_left > 0) {
                let c = s.prefill_left.min(left);
                left -= c;
                if c == s.prefill_left {
                    completing += 1;
                }
            }
            if kv + decoding + completing > cfg.kv_cache_tokens && running.len() > 1 {
                let s = running.pop().unwrap();
                kv -= s.context;
                queue.push_front(s);
                continue;
            }
            break (decoding, budget);
        };
        let mut left = budget;
        let mut prefill = 0u64;
        let mut pairs = 0u64;
        let mut read = 0u64;
        let mut emits = vec![false; running.len()];
        for (j, s) in running.iter_mut().enumerate() {
            if s.prefill_left == 0 {
                read += s.context;
                emits[j] = true;
            } else {
                let c = s.prefill_left.min(left);
                left -= c;
                prefill += c;
                // Each of the chunk's tokens attends to every token before it.
                let before = s.context - s.prefill_left;
                pairs += (1..=c).map(|i| before + i).sum::<u64>();
                s.prefill_left -= c;
                emits[j] = s.prefill_left == 0 && c > 0;
            }
        }
        let mut step = cfg.overhead_ms
            + cfg.prefill_ms_per_token * prefill as f64
            + if prefill > 0 { cfg.prefill_overhead_ms } else { 0.0 }
            + cfg.prefill_attention_ms_per_context_token * pairs as f64;
        if decoding > 0 {
            step += cfg.decode_ms.base
                + cfg.decode_ms.per_batch * decoding as f64
                + cfg.attention_ms_per_context_token * read as f64;
        }
        if slow.iter().any(|&(from, to)| from <= clock && clock < to) {
            step /= speed;
        }
        clock += step;
        let mut keep = Vec::new();
        for (j, mut s) in running.drain(..).enumerate() {
            if emits[j] {
                s.generated += 1;
                s.context += 1;
                kv += 1;
                s.first.get_or_insert(clock);
            }
            if s.generated >= s.req.output_tokens.max(1) {
                kv -= s.context;
                done.push(Completed {
                    req: s.req,
                    sent_ms: s.req.t_ms,
                    admitted_ms: s.admitted.unwrap(),
                    first_token_ms: s.first.unwrap(),
                    end_ms: clock,
                });
            } else {
                keep.push(s);
            }
        }
        running = keep;
    }
}

/// The engine does not loop once per generated token: between membership changes it jumps.
/// One request of 100,000 output tokens costs a prefill step and one jump; doubling the answer
/// changes nothing in the work, only in the simulated time (checked against the closed form,
/// with the attention term making each step longer than the last).
#[test]
fn work_does_not_grow_with_answer_length() {
    for o in [100_000u32, 200_000] {
        let cfg = Continuous { attention_ms_per_context_token: 0.001, ..config(4, 1 << 30) };
        let mut s = ContinuousServers::new(cfg, 1, Vec::new());
        let mut end = 0.0;
        let r = Request::new(0.0, 10, o);
        s.enqueue(r, 0.0);
        s.advance(f64::INFINITY, &mut |e| {
            if let Event::Done(c) = e {
                end = c.end_ms;
            }
        });
        assert!(s.steps <= 2, "{} steps for {o} tokens", s.steps);
        // Decode step j reads 10 + j tokens: Σ_{j=1}^{o−1} (10 + 0.001·(10 + j)).
        let k = f64::from(o - 1);
        let exact = k * 10.0 + 0.001 * (10.0 * k + k * (k + 1.0) / 2.0);
        assert!((end - exact).abs() < 1e-9 * exact, "{end} vs {exact}");
    }
}

/// TTFT and TPOT of a streaming cloud endpoint are exact identities: network round trip +
/// provider TTFT, and 1 / output rate; a goodput target on TTFT counts exactly the requests
/// that meet it (DistServe's definition).
#[test]
fn cloud_streaming_ttft_and_tpot_are_exact() {
    for (target, share) in [(310.0, 0.0), (330.0, 1.0)] {
        let text = format!(
            r#"
name = "stream"
[simulation]
seed = 5
replications = 3
duration_hours = 0.5
[traffic]
pattern = "poisson"
rate_per_s = 2
prompt_tokens = {{ dist = "fixed", value = 100 }}
output_tokens = {{ dist = "fixed", value = 100 }}
[[deployment]]
name = "api"
kind = "cloud"
network_rtt_ms = {{ dist = "fixed", value = 20 }}
ttft_ms = {{ dist = "fixed", value = 300 }}
output_tokens_per_s = 50
[slo]
ttft_p95_ms = {target}
"#
        );
        let out = simulate(&text);
        let d = &out.summary.deployments[0];
        assert!((d.ttft_ms.mean - 320.0).abs() < 1e-9, "{}", d.ttft_ms.mean);
        assert!((d.ttft_ms.p50 / 320.0 - 1.0).abs() <= 1.0 / 256.0, "{}", d.ttft_ms.p50);
        let tpot = d.tpot_ms.expect("streamed");
        assert!((tpot.mean - 20.0).abs() < 1e-9, "{}", tpot.mean);
        assert!((d.latency_ms.mean - 2320.0).abs() < 1e-6, "{}", d.latency_ms.mean);
        let slo = d.slo.expect("an [slo]");
        assert_eq!(slo.within_latency_target, share);
    }
}

/// Through a scenario: with a constant step and free prefill, the summary's TPOT is the step
/// exactly. A prefill that costs time stalls the sequences decoding beside it (the effect
/// chunked prefill limits), so TPOT then exceeds the step.
#[test]
fn continuous_scenario_reports_tpot_and_ttft() {
    for prefill in [0.0, 0.1] {
        let text = format!(
            r#"
name = "cb"
[simulation]
seed = 9
replications = 4
duration_hours = 1
[traffic]
pattern = "poisson"
rate_per_s = 0.3
prompt_tokens = {{ dist = "lognormal", mean = 300, cv = 1.0 }}
output_tokens = {{ dist = "lognormal", mean = 200, cv = 1.0 }}
[[deployment]]
name = "box"
kind = "local"
servers = 1
scheduler = "continuous"
max_num_seqs = 4
kv_cache_tokens = 16384
prefill_ms_per_token = {prefill}
decode_ms_per_token = 12
"#
        );
        let out = simulate(&text);
        let d = &out.summary.deployments[0];
        let tpot = d.tpot_ms.expect("token model").mean;
        if prefill == 0.0 {
            assert!((tpot - 12.0).abs() < 1e-9, "{tpot}");
        } else {
            assert!(tpot > 12.0, "{tpot}");
        }
        assert!(d.ttft_ms.mean < d.latency_ms.mean);
        assert!(d.mean_concurrency > 0.0 && d.mean_concurrency <= 4.0);
        // A continuous server's utilization is the share of its slots in use: the mean
        // number running over its 4 slots (both from the same time integrals).
        let u = d.utilization.expect("local");
        assert!((u - d.mean_concurrency / 4.0).abs() < 1e-12, "{u} vs {}", d.mean_concurrency);
    }
}

/// A hybrid reports the TTFT of the path each request took. Fallback calls the cloud first; an
/// answer not complete within 1 s falls back to the local box, whose answer (not streamed)
/// comes 300 ms later: TTFT 1.3 s from when the request was sent, and no TPOT.
#[test]
fn hybrid_ttft_is_that_of_the_path_taken() {
    let text = r#"
name = "hy"
[simulation]
seed = 2
replications = 2
duration_hours = 0.5
[traffic]
pattern = "poisson"
rate_per_s = 0.2
prompt_tokens = { dist = "fixed", value = 100 }
output_tokens = { dist = "fixed", value = 50 }
[[deployment]]
name = "api"
kind = "cloud"
ttft_ms = { dist = "fixed", value = 2000 }
output_tokens_per_s = 100
[[deployment]]
name = "box"
kind = "local"
servers = 8
service_ms = { dist = "fixed", value = 300 }
[[deployment]]
name = "h"
kind = "hybrid"
policy = "fallback"
local = "box"
cloud = "api"
fallback_timeout_ms = 1000
"#;
    let out = simulate(text);
    let api = &out.summary.deployments[0];
    assert!((api.ttft_ms.mean - 2000.0).abs() < 1e-6, "{}", api.ttft_ms.mean);
    let h = &out.summary.deployments[2];
    assert!((h.ttft_ms.mean - 1300.0).abs() < 1e-6, "{}", h.ttft_ms.mean);
    assert!(h.tpot_ms.is_none());
}

/// A device out of service starts no iteration: a request arriving during an outage is admitted
/// when it ends, and a long answer pauses at the first boundary inside an outage and resumes
/// after it (the iteration already running completes).
/// One request on a device that trains over [250, 555) at half speed: decode steps of 10 ms
/// that start in it take 20 ms. 25 steps run from 0 to 250, 16 slow ones start at 250, 270,
/// …, 550 and end at 570, and the last 59 end at 570 + 590 = 1160.
#[test]
fn training_interval_halves_speed_exactly() {
    let cfg = config(2, 1 << 20);
    let mut s =
        ContinuousServers::new(cfg, 1, Vec::new()).training(vec![vec![(250.0, 555.0)]], 0.5);
    let mut end = 0.0;
    s.enqueue(Request::new(0.0, 10, 101), 0.0);
    s.advance(f64::INFINITY, &mut |e| {
        if let Event::Done(c) = e {
            end = c.end_ms;
        }
    });
    assert_eq!(end, 1160.0);
}

/// A planned training round (federated learning with `inference_speed = 0`) drains the
/// device: the answer it is generating finishes, and nothing new is admitted until the round
/// ends. Steps of 10 ms; training over [100, 1100). The first request (at 50) decodes its 100
/// steps through the round and ends at 1050; the second (at 300) waits for the round's end
/// and runs 1100–2100. A failure over the same interval pauses the first instead: 5 steps
/// before it, 95 after, ending at 2050; the second joins it at 1100, and its prefill
/// iteration now takes the first's decode step, so it ends at 2110.
#[test]
fn training_drains_instead_of_pausing() {
    for (drain, first_end, second) in
        [(true, 1050.0, (1100.0, 2100.0)), (false, 2050.0, (1100.0, 2110.0))]
    {
        let down = vec![vec![(100.0, 1100.0)]];
        let mut s = ContinuousServers::new(config(2, 1 << 20), 1, down.clone());
        if drain {
            s = s.draining(down);
        }
        let mut done = Vec::new();
        let mut emit = |e: Event| {
            if let Event::Done(c) = e {
                done.push(c);
            }
        };
        for r in [Request::new(50.0, 10, 101), Request::new(300.0, 10, 101)] {
            s.advance(r.t_ms, &mut emit);
            s.enqueue(r, r.t_ms);
        }
        s.advance(f64::INFINITY, &mut emit);
        assert_eq!(done.len(), 2);
        assert!((done[0].end_ms - first_end).abs() < 1e-9, "drain {drain}: {:?}", done[0]);
        assert_eq!(done[1].admitted_ms, second.0, "drain {drain}");
        assert!((done[1].end_ms - second.1).abs() < 1e-9, "drain {drain}: {:?}", done[1]);
    }
}

#[test]
fn outages_pause_iterations() {
    let cfg = config(2, 1 << 20);
    let mut s = ContinuousServers::new(cfg, 1, vec![vec![(100.0, 1100.0), (2000.0, 3000.0)]]);
    let mut done = Vec::new();
    let mut emit = |e: Event| {
        if let Event::Done(c) = e {
            done.push(c);
        }
    };
    let r = Request::new(150.0, 10, 101);
    s.advance(r.t_ms, &mut emit);
    s.enqueue(r, r.t_ms);
    s.advance(f64::INFINITY, &mut emit);
    let c = done[0];
    assert_eq!(c.admitted_ms, 1100.0);
    // The prefill iteration is free (nothing decodes, no overhead), then 100 decode steps of
    // 10 ms from 1100: 90 start before the outage at 2000; the boundary at 2000 falls in it, so
    // the last 10 run from 3000 to 3100.
    assert_eq!(c.first_token_ms, 1100.0);
    assert!((c.end_ms - 3100.0).abs() < 1e-9, "{}", c.end_ms);
}
