//! `calibrate server` against a loopback stand-in whose step times the test sets: the fit
//! recovers them within bounds derived from the timing error this run actually had.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lcsim_calibrate::provenance::measured_here;
use lcsim_calibrate::server::calibrate::{Plan, calibrate};
use lcsim_calibrate::server::client::ServerClient;
use lcsim_calibrate::server::standin::{Behaviour, Standin, StandinConfig};

const TRUTH: StandinConfig = StandinConfig {
    slots: 4,
    n_ctx_per_slot: 2048,
    overhead_ms: 2.0,
    prefill_ms_per_token: 0.04,
    prefill_attention_ms_per_context_token: 0.00002,
    decode_base_ms: 10.0,
    decode_ms_per_batch: 5.0,
    attention_ms_per_context_token: 0.01,
    behaviour: Behaviour::Serve,
};

/// Measures this process's scheduling delay while it lives: a thread that sleeps 1 ms at a
/// time and records the largest overshoot.
struct JitterProbe {
    stop: Arc<AtomicBool>,
    max_us: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl JitterProbe {
    fn start() -> Self {
        let (stop, max_us) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (s, m) = (Arc::clone(&stop), Arc::clone(&max_us));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let t = Instant::now();
                std::thread::sleep(Duration::from_millis(1));
                let over = t.elapsed().saturating_sub(Duration::from_millis(1));
                m.fetch_max(over.as_micros() as u64, Ordering::Relaxed);
            }
        });
        JitterProbe { stop, max_us, thread: Some(thread) }
    }

    fn finish(mut self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.max_us.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

/// Rows of the pseudo-inverse `(XᵀX)⁻¹Xᵀ` of a design matrix with 2 or 3 columns: a
/// coefficient's error is `Σᵢ pinv[j][i]·eᵢ`, so `|error| ≤ E·Σᵢ|pinv[j][i]|` when every
/// observation is off by at most `E`.
fn pinv(x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let k = x[0].len();
    let mut a = vec![vec![0.0; k]; k];
    for r in x {
        for i in 0..k {
            for j in 0..k {
                a[i][j] += r[i] * r[j];
            }
        }
    }
    // Gauss–Jordan inverse of the small symmetric matrix.
    let mut inv: Vec<Vec<f64>> =
        (0..k).map(|i| (0..k).map(|j| f64::from(i == j)).collect()).collect();
    for c in 0..k {
        let p = (c..k).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).unwrap();
        a.swap(c, p);
        inv.swap(c, p);
        let d = a[c][c];
        for j in 0..k {
            a[c][j] /= d;
            inv[c][j] /= d;
        }
        for i in 0..k {
            if i != c {
                let f = a[i][c];
                for j in 0..k {
                    a[i][j] -= f * a[c][j];
                    inv[i][j] -= f * inv[c][j];
                }
            }
        }
    }
    (0..k).map(|j| x.iter().map(|r| (0..k).map(|m| inv[j][m] * r[m]).sum()).collect()).collect()
}

fn bound(pinv_row: &[f64], e: f64) -> f64 {
    e * pinv_row.iter().map(|v| v.abs()).sum::<f64>()
}

#[test]
fn calibration_recovers_the_standin_step_model() {
    let probe = JitterProbe::start();
    let server = Standin::start(TRUTH).unwrap();
    let client = ServerClient::new(&server.url(), None, Duration::from_secs(30));
    let mut ping_max = 0.0f64;
    for _ in 0..20 {
        ping_max = ping_max.max(client.ping_ms().unwrap());
    }
    let plan = Plan { runs: 3, decode_tokens: 16, max_concurrency: 8, seed: 3 };
    let p = calibrate(&client, plan, measured_here("test", "server"), &|_, _, _| {}).unwrap();
    for _ in 0..20 {
        ping_max = ping_max.max(client.ping_ms().unwrap());
    }
    let jitter = probe.finish();
    // Every timing the client saw is off from the model by at most: the stand-in's own
    // lateness, an HTTP round trip (request in, chunk out), and a scheduling delay.
    let e = server.max_lateness_ms() + ping_max + jitter;
    eprintln!(
        "timing error bound E = {e:.3} ms (lateness {:.3}, ping {ping_max:.3}, jitter {jitter:.3})",
        server.max_lateness_ms()
    );
    eprintln!("{:#?}\n{:#?}", p.fit, p.prefill);

    assert_eq!(p.server.slots, 4);
    assert_eq!(p.server.slots_from, "reported");
    assert_eq!(p.server.kv_cache_tokens, Some(4 * 2048));
    assert_eq!(p.errors.total(), 0, "{:?}", p.errors);

    // Prefill: the server reports its own prefill time exactly (overhead + e·p + q·p(p+1)/2),
    // so the fit to it is exact up to the profile's rounding of 1e-6 ...
    let x: Vec<Vec<f64>> = p
        .prefill
        .iter()
        .map(|q| {
            let n = f64::from(q.prompt_tokens);
            vec![1.0, n, n * (n + 1.0) / 2.0]
        })
        .collect();
    let rounding = 2e-6;
    for (name, got, want) in [
        ("overhead_ms", p.fit.overhead_ms + p.fit.prefill_overhead_ms, TRUTH.overhead_ms),
        ("prefill_ms_per_token", p.fit.prefill_ms_per_token, TRUTH.prefill_ms_per_token),
        (
            "prefill_attention_ms_per_context_token",
            p.fit.prefill_attention_ms_per_context_token,
            TRUTH.prefill_attention_ms_per_context_token,
        ),
    ] {
        // The server's figures are f64 arithmetic on the truth: error ~1e-12 per point.
        let b = bound(
            &pinv(&x)[match name {
                "overhead_ms" => 0,
                "prefill_ms_per_token" => 1,
                _ => 2,
            }],
            1e-9,
        ) + 2.0 * rounding;
        assert!((got - want).abs() <= b, "{name}: {got} vs {want} ± {b}");
    }
    // ... and the rest of TTFT is the request's: between 0 and the timing error.
    assert!(
        p.fit.request_overhead_ms >= 0.0 && p.fit.request_overhead_ms <= e,
        "request overhead {} outside [0, {e}]",
        p.fit.request_overhead_ms
    );

    // Decode: gap = overhead + base + per_batch·b + attention·context. The recorded context is
    // the middle of each answer; the stand-in's is off by at most one token per sequence.
    let e_dec = e + TRUTH.attention_ms_per_context_token * f64::from(TRUTH.slots);
    let ones: Vec<_> = p.decode.iter().filter(|d| d.running == 1).collect();
    assert_eq!(ones.len(), 2, "a short and a long single-sequence level");
    let span = (ones[1].context_tokens - ones[0].context_tokens).abs();
    let attention_bound = 2.0 * e_dec / span + 2e-6;
    assert!(
        (p.fit.attention_ms_per_context_token - TRUTH.attention_ms_per_context_token).abs()
            <= attention_bound,
        "attention {} ± {attention_bound}",
        p.fit.attention_ms_per_context_token
    );
    // The overhead is what a prefill and a decode share in one iteration: prefill-only (exact)
    // + a decode gap − the mixed gap, two gaps off by at most e_dec each, and the decoding
    // stream's context at the mixed iteration differs from the short level's by at most its
    // 96 tokens. It is capped by the prefill iteration's fixed part (the truth here).
    let mixed_bound =
        2.0 * e_dec + 96.0 * attention_bound.max(TRUTH.attention_ms_per_context_token);
    assert!(p.fit.mixed_iteration_ms.is_some(), "the mixed level ran");
    assert!(
        p.fit.overhead_ms <= TRUTH.overhead_ms + 2e-6
            && p.fit.overhead_ms >= TRUTH.overhead_ms - mixed_bound,
        "overhead {} vs {} (−{mixed_bound})",
        p.fit.overhead_ms,
        TRUTH.overhead_ms
    );
    // Each table entry is a gap less the overhead and the estimated attention.
    assert_eq!(p.decode_ms_by_batch.len(), 4);
    let mut e_table = 0.0f64;
    for (i, got) in p.decode_ms_by_batch.iter().enumerate() {
        let b = i as u32 + 1;
        let d = p.decode.iter().find(|d| d.running == b && d.context_tokens < span).unwrap();
        let bound = e_dec + d.context_tokens * attention_bound + 2e-6;
        e_table = e_table.max(bound);
        // The iteration's batch-dependent part plus the overhead: what the gap holds.
        let (got, want) = (
            got + p.fit.overhead_ms,
            TRUTH.overhead_ms + TRUTH.decode_base_ms + TRUTH.decode_ms_per_batch * f64::from(b),
        );
        assert!((got - want).abs() <= bound, "decode({b}) {got} vs {want} ± {bound}");
    }
    let x: Vec<Vec<f64>> = (1..=4).map(|b| vec![1.0, f64::from(b)]).collect();
    let pi = pinv(&x);
    for (name, got, want, row) in [
        (
            "decode_base_ms + overhead_ms",
            p.fit.decode_base_ms + p.fit.overhead_ms,
            TRUTH.decode_base_ms + TRUTH.overhead_ms,
            0,
        ),
        ("decode_ms_per_batch", p.fit.decode_ms_per_batch, TRUTH.decode_ms_per_batch, 1),
    ] {
        let b = bound(&pi[row], e_table) + 2e-6;
        assert!((got - want).abs() <= b, "{name}: {got} vs {want} ± {b}");
    }
}

#[test]
fn unreachable_and_non_streaming_servers_are_told_apart() {
    use lcsim_calibrate::server::calibrate::CalibrateError;
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = ServerClient::new(&format!("http://127.0.0.1:{port}"), None, Duration::from_secs(5));
    let plan = Plan { runs: 1, ..Plan::default() };
    let err = calibrate(&dead, plan, measured_here("t", "s"), &|_, _, _| {}).unwrap_err();
    assert!(matches!(err, CalibrateError::Unreachable { .. }), "{err}");

    let flat =
        Standin::start(StandinConfig { behaviour: Behaviour::NotStreaming, ..TRUTH }).unwrap();
    let client = ServerClient::new(&flat.url(), None, Duration::from_secs(5));
    let err = calibrate(&client, plan, measured_here("t", "s"), &|_, _, _| {}).unwrap_err();
    assert!(err.to_string().contains("not a streaming endpoint"), "{err}");

    let failing = Standin::start(StandinConfig { behaviour: Behaviour::Fail500, ..TRUTH }).unwrap();
    let client = ServerClient::new(&failing.url(), None, Duration::from_secs(5));
    let err = calibrate(&client, plan, measured_here("t", "s"), &|_, _, _| {}).unwrap_err();
    assert!(err.to_string().contains("HTTP status 500"), "{err}");
}
