//! A loopback stand-in for an LLM server, whose step times are set by its caller: the test
//! double of `calibrate server` and `validate`, and a way to try them without a model.
//!
//! It serves the parts of llama-server's API that lcsim uses (`/health`, `/props`,
//! `/tokenize`, streamed `/v1/completions`) on 127.0.0.1, and runs continuous batching in real
//! time: FCFS admission into `slots`, each iteration prefilling new prompts whole and decoding
//! one token for every other running sequence, taking
//! `overhead + prefill·p + prefill_attention·p(p+1)/2 per new prompt + (decode_base + decode_per_batch·b + attention·context
//! if b ≥ 1)` milliseconds. Iterations end on a fixed schedule (each ends its duration after
//! the previous one's nominal end), so lateness from a busy machine does not accumulate; the
//! largest lateness is recorded ([`Standin::max_lateness_ms`]).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The stand-in's model and behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StandinConfig {
    pub slots: u32,
    /// Context of one slot (reported as `/props` `n_ctx`, as llama-server does).
    pub n_ctx_per_slot: u64,
    pub overhead_ms: f64,
    pub prefill_ms_per_token: f64,
    /// Per prompt token per token before it: a prompt of `p` adds `p(p+1)/2` of these.
    pub prefill_attention_ms_per_context_token: f64,
    pub decode_base_ms: f64,
    pub decode_ms_per_batch: f64,
    pub attention_ms_per_context_token: f64,
    pub behaviour: Behaviour,
}

/// How completions are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Streamed, as a real server.
    Serve,
    /// `/health` answers, every completion fails with HTTP 500.
    Fail500,
    /// Completions answer with one JSON body, not a stream.
    NotStreaming,
    /// The first `n` completions are served, later ones fail with HTTP 500.
    FailAfter(u32),
}

enum Msg {
    Token,
    Done { prompt_tokens: u32, output_tokens: u32, prompt_ms: f64 },
}

struct Job {
    prompt: u32,
    max_tokens: u32,
    generated: u32,
    /// The duration of the iteration that prefilled it.
    prompt_ms: f64,
    tx: Sender<Msg>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Job>,
}

struct Shared {
    cfg: StandinConfig,
    queue: Mutex<Queue>,
    wake: Condvar,
    stop: AtomicBool,
    /// Largest lateness of an iteration's end, in microseconds.
    late_us: AtomicU64,
    completions: AtomicU64,
}

/// A running stand-in; stopped when dropped.
pub struct Standin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Standin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Standin").field("addr", &self.addr).field("cfg", &self.shared.cfg).finish()
    }
}

impl Standin {
    pub fn start(cfg: StandinConfig) -> std::io::Result<Standin> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cfg,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            late_us: AtomicU64::new(0),
            completions: AtomicU64::new(0),
        });
        let s = Arc::clone(&shared);
        let scheduler = std::thread::spawn(move || schedule(&s));
        let s = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let _ = handle(stream, &s);
                });
            }
        });
        Ok(Standin { addr, shared, threads: vec![scheduler, acceptor] })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The largest delay of an iteration's end past its schedule so far, milliseconds.
    pub fn max_lateness_ms(&self) -> f64 {
        self.shared.late_us.load(Ordering::SeqCst) as f64 / 1000.0
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        let _ = TcpStream::connect(self.addr);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The iteration loop.
fn schedule(s: &Shared) {
    let cfg = s.cfg;
    let mut running: Vec<(Job, u64)> = Vec::new(); // (job, context tokens)
    let mut nominal_end: Option<Instant> = None;
    loop {
        let mut admitted = Vec::new();
        {
            let mut q = s.queue.lock().expect("no panics holding it");
            while running.is_empty() && q.waiting.is_empty() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                q = s.wake.wait_timeout(q, Duration::from_millis(50)).expect("no panics").0;
                nominal_end = None;
            }
            while running.len() + admitted.len() < cfg.slots as usize {
                let Some(job) = q.waiting.pop_front() else { break };
                admitted.push(job);
            }
        }
        let b = running.len();
        let context: u64 = running.iter().map(|(_, c)| *c).sum();
        let prefill_ms: f64 = admitted
            .iter()
            .map(|j| {
                let p = f64::from(j.prompt);
                cfg.prefill_ms_per_token * p
                    + cfg.prefill_attention_ms_per_context_token * p * (p + 1.0) / 2.0
            })
            .sum();
        let mut ms = cfg.overhead_ms + prefill_ms;
        if b >= 1 {
            ms += cfg.decode_base_ms
                + cfg.decode_ms_per_batch * b as f64
                + cfg.attention_ms_per_context_token * context as f64;
        }
        let start = nominal_end.map_or_else(Instant::now, |e| e.max(Instant::now()));
        let end = start + Duration::from_secs_f64(ms / 1000.0);
        if let Some(wait) = end.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let late = Instant::now().saturating_duration_since(end).as_micros() as u64;
        s.late_us.fetch_max(late, Ordering::SeqCst);
        nominal_end = Some(end);
        // Decoding sequences get a token; the newly prefilled get their first.
        let mut still = Vec::with_capacity(running.len() + admitted.len());
        for (mut job, ctx) in running.drain(..).chain(admitted.into_iter().map(|mut j| {
            j.prompt_ms = ms;
            let p = u64::from(j.prompt);
            (j, p)
        })) {
            job.generated += 1;
            let _ = job.tx.send(Msg::Token);
            if job.generated >= job.max_tokens {
                let _ = job.tx.send(Msg::Done {
                    prompt_tokens: job.prompt,
                    output_tokens: job.generated,
                    prompt_ms: job.prompt_ms,
                });
            } else {
                still.push((job, ctx + 1));
            }
        }
        running = still;
    }
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn handle(mut stream: TcpStream, s: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length.min(64 << 20)];
    reader.read_exact(&mut body)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let json = "application/json";
    let cfg = s.cfg;
    match path {
        "/health" => respond(&mut stream, "200 OK", json, r#"{"status":"ok"}"#),
        "/props" => {
            let body = serde_json::json!({
                "total_slots": cfg.slots,
                "build_info": "lcsim stand-in",
                "model_path": "stand-in",
                "default_generation_settings": { "n_ctx": cfg.n_ctx_per_slot },
            });
            respond(&mut stream, "200 OK", json, &body.to_string())
        }
        "/tokenize" => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let n = v["content"].as_str().map_or(0, |t| t.split_whitespace().count());
            let body = serde_json::json!({ "tokens": vec![1; n] });
            respond(&mut stream, "200 OK", json, &body.to_string())
        }
        "/v1/completions" => completion(&mut stream, s, &body),
        _ => respond(&mut stream, "404 Not Found", json, r#"{"error":"not found"}"#),
    }
}

fn completion(stream: &mut TcpStream, s: &Shared, body: &[u8]) -> std::io::Result<()> {
    let n = s.completions.fetch_add(1, Ordering::SeqCst);
    let fail = match s.cfg.behaviour {
        Behaviour::Fail500 => true,
        Behaviour::FailAfter(k) => n >= u64::from(k),
        _ => false,
    };
    if fail {
        return respond(
            stream,
            "500 Internal Server Error",
            "application/json",
            r#"{"error":"boom"}"#,
        );
    }
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let prompt = match &v["prompt"] {
        serde_json::Value::Array(ids) => ids.len() as u32,
        serde_json::Value::String(t) => t.split_whitespace().count() as u32,
        _ => 0,
    }
    .max(1);
    let max_tokens = v["max_tokens"].as_u64().unwrap_or(16).clamp(1, 1 << 20) as u32;
    if s.cfg.behaviour == Behaviour::NotStreaming {
        let body =
            serde_json::json!({ "choices": [{ "text": "tok ".repeat(max_tokens as usize) }] });
        return respond(stream, "200 OK", "application/json", &body.to_string());
    }
    let (tx, rx): (Sender<Msg>, Receiver<Msg>) = channel();
    {
        let mut q = s.queue.lock().expect("no panics holding it");
        q.waiting.push_back(Job { prompt, max_tokens, generated: 0, prompt_ms: 0.0, tx });
    }
    s.wake.notify_all();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    )?;
    stream.flush()?;
    for msg in rx {
        match msg {
            Msg::Token => {
                stream.write_all(b"data: {\"choices\":[{\"index\":0,\"text\":\"tok \"}]}\n\n")?;
                stream.flush()?;
            }
            Msg::Done { prompt_tokens, output_tokens, prompt_ms } => {
                let last = serde_json::json!({
                    "choices": [{ "index": 0, "text": "", "finish_reason": "length" }],
                    "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": output_tokens },
                    "timings": { "prompt_n": prompt_tokens, "prompt_ms": prompt_ms },
                });
                write!(stream, "data: {last}\n\ndata: [DONE]\n\n")?;
                stream.flush()?;
                break;
            }
        }
    }
    Ok(())
}
