//! The cloud calibrator against loopback servers started by the test, with known delays.
//! Nothing here touches the network beyond 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use lcsim_calibrate::cloud::{HttpProbe, OpenAiProbe, Probe, measure};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// Reads one HTTP request (headers and body); returns its header text.
fn read_request(stream: &mut TcpStream) -> String {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    head
}

/// Serves `requests` requests, one connection each, answering with `respond(index, head)`.
fn serve(requests: usize, respond: impl Fn(usize, &str, &mut TcpStream) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().take(requests).enumerate() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            let head = read_request(&mut stream);
            respond(i, &head, &mut stream);
        }
    });
    port
}

fn reply(stream: &mut TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

fn probe(port: u16, timeout_ms: u64) -> impl Fn() -> Box<dyn Probe + Send> + Sync {
    move || {
        Box::new(HttpProbe::new(
            &format!("http://127.0.0.1:{port}/ping"),
            Duration::from_millis(timeout_ms),
        ))
    }
}

/// Lognormal delays with median 40 ms (σ = 0.25) from a fixed seed. The server reports what it
/// really slept, so the check does not depend on an idle machine: every round trip holds its
/// sleep plus a non-negative overhead `o`, hence, exactly,
/// `G(slept) ≤ fitted median ≤ G(slept) · exp(mean(o) / min(slept))`, where `G` is the geometric
/// mean (the lognormal fit's median is the geometric mean of the samples) and `mean(o)` is the
/// measured mean round trip minus the mean slept time. Scheduler delay on a busy machine widens
/// the upper bound by exactly what it added; a wrong fit (an arithmetic mean, a wrong sample set)
/// falls outside.
#[test]
fn fitted_median_matches_a_known_delay() {
    use std::sync::{Arc, Mutex};
    let n = 100;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(40);
    let delays: Vec<f64> = (0..=n)
        .map(|_| {
            // Box–Muller
            let (u1, u2): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (40f64.ln() + 0.25 * z).exp()
        })
        .collect();
    let slept = Arc::new(Mutex::new(vec![0.0; n + 1]));
    let record = slept.clone();
    let port = serve(n + 1, move |i, _, s| {
        let started = std::time::Instant::now();
        std::thread::sleep(Duration::from_secs_f64(delays[i] / 1000.0));
        record.lock().unwrap()[i] = started.elapsed().as_secs_f64() * 1000.0;
        reply(s, "200 OK", "pong");
    });
    let m = measure(&probe(port, 2000), n, 1, &|| {});
    let rtt = m.rtt_ms.expect("successful samples");
    assert_eq!(rtt.count as usize, n);
    assert!(rtt.first_ms.is_some());
    assert_eq!(m.errors.total(), 0);
    // The first request is kept apart, so the samples are those of requests 1..=n.
    let slept = slept.lock().unwrap()[1..].to_vec();
    let geomean = (slept.iter().map(|d| d.ln()).sum::<f64>() / n as f64).exp();
    let mean_slept = slept.iter().sum::<f64>() / n as f64;
    let min_slept = slept.iter().copied().fold(f64::INFINITY, f64::min);
    let mean_overhead = rtt.mean - mean_slept;
    let median = rtt.fit.median.unwrap();
    let upper = geomean * (mean_overhead / min_slept).exp();
    eprintln!(
        "fitted median {median} ms; slept geometric mean {geomean} ms; mean overhead {mean_overhead} ms; upper bound {upper} ms"
    );
    assert!(mean_overhead >= 0.0, "round trips shorter than the server's sleeps");
    assert!(
        geomean <= median * (1.0 + 1e-9) && median <= upper * (1.0 + 1e-9),
        "fitted median {median} ms"
    );
    assert!(rtt.p50 <= rtt.p95 && rtt.p95 <= rtt.p99);
}

#[test]
fn errors_are_counted_by_kind() {
    // A port nobody listens on: every request is refused.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let m = measure(&probe(dead, 500), 4, 1, &|| {});
    assert_eq!(m.errors.connect, 5, "{:?}", m.errors);
    assert!(m.rtt_ms.is_none());

    // Every other request answers 500.
    let port = serve(9, |i, _, s| {
        if i % 2 == 1 {
            reply(s, "500 Internal Server Error", "no")
        } else {
            reply(s, "200 OK", "ok")
        }
    });
    let m = measure(&probe(port, 1000), 8, 1, &|| {});
    assert_eq!(m.errors.http_status.get("500"), Some(&4), "{:?}", m.errors);
    assert_eq!(m.rtt_ms.unwrap().count, 4);

    // Slower than the timeout.
    let port = serve(3, |_, _, s| {
        std::thread::sleep(Duration::from_millis(400));
        reply(s, "200 OK", "late");
    });
    let m = measure(&probe(port, 100), 2, 1, &|| {});
    assert_eq!(m.errors.timeout, 3, "{:?}", m.errors);
}

#[test]
fn concurrent_probes_share_the_samples() {
    let port = serve(13, |_, _, s| {
        std::thread::sleep(Duration::from_millis(5));
        reply(s, "200 OK", "ok");
    });
    let m = measure(&probe(port, 1000), 12, 3, &|| {});
    assert_eq!(m.rtt_ms.unwrap().count, 12);
}

/// A streamed completion: first content after ≈ 60 ms, then 30 chunks 10 ms apart.
#[test]
fn openai_stream_gives_ttft_and_token_rate() {
    let port = serve(6, |_, head, s| {
        if !head.contains("Bearer test-key") {
            reply(s, "401 Unauthorized", "{}");
            return;
        }
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        );
        let _ = s.flush();
        std::thread::sleep(Duration::from_millis(60));
        for i in 0..30 {
            let _ = write!(s, "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{i} \"}}}}]}}\n\n");
            let _ = s.flush();
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = write!(s, "data: [DONE]\n\n");
    });
    let url = format!("http://127.0.0.1:{port}/v1");
    let make = move || -> Box<dyn Probe + Send> {
        Box::new(OpenAiProbe::new(&url, Some("test-key".into()), "m", 64, Duration::from_secs(5)))
    };
    let m = measure(&make, 5, 1, &|| {});
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    // Lower bounds that hold however busy the machine is: the server sleeps at least 60 ms
    // before the first chunk, and the whole answer takes at least 60 + 29 × 10 ms.
    let ttft = m.ttft_ms.unwrap();
    assert!(ttft.p50 >= 60.0, "ttft {}", ttft.p50);
    let total = m.rtt_ms.unwrap();
    assert!(total.p50 >= 350.0, "whole answer {} ms", total.p50);
    let rate = m.output_tokens_per_s.unwrap();
    assert!(rate.is_finite() && rate > 0.0, "rate {rate}");
}
