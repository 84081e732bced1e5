//! Open-loop load: requests leave at planned times whatever the server is doing, each on its
//! own thread, so a slow answer never delays the next send.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cloud::ProbeError;
use crate::server::client::{ServerClient, StreamRecord};

/// One request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// When to send it, milliseconds after the level starts.
    pub send_ms: f64,
    pub prompt: Vec<u32>,
    pub max_tokens: u32,
}

/// What happened to one planned request.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub index: usize,
    /// When it was planned and when it actually left (milliseconds after the level started).
    pub planned_ms: f64,
    pub sent_ms: f64,
    pub result: Result<StreamRecord, ProbeError>,
}

/// Why a level stopped sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Every planned request was sent.
    Done,
    /// The time cap came first.
    Capped,
    /// Most requests were failing (at least 5, and more than half of those finished).
    Failing,
}

/// Sends `plan` (sorted by `send_ms`) open loop. Sending stops at `cap` after the start, or
/// when most requests fail; every
/// request already sent is waited for (each is bounded by the client's timeout), and at most
/// `max_in_flight` are outstanding (a request that would exceed it waits for one to finish,
/// and its lateness shows in `sent_ms − planned_ms`). `progress(done)` is called as requests
/// finish. Returns the outcomes of the requests sent, in plan order, and why sending stopped.
pub fn open_loop(
    client: &ServerClient,
    plan: &[Planned],
    cap: Duration,
    max_in_flight: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> (Vec<Outcome>, Stop) {
    let clock = Instant::now();
    let outcomes = Mutex::new(Vec::with_capacity(plan.len()));
    let in_flight = (Mutex::new(0usize), std::sync::Condvar::new());
    let failing = AtomicBool::new(false);
    let mut stop = Stop::Done;
    std::thread::scope(|s| {
        for (index, p) in plan.iter().enumerate() {
            let due = Duration::from_secs_f64(p.send_ms.max(0.0) / 1000.0);
            if due > cap {
                stop = Stop::Capped;
                break;
            }
            if failing.load(Ordering::Relaxed) {
                stop = Stop::Failing;
                break;
            }
            if let Some(wait) = due.checked_sub(clock.elapsed()) {
                std::thread::sleep(wait);
            }
            {
                let mut n = in_flight.0.lock().expect("no thread panics holding it");
                while *n >= max_in_flight.max(1) {
                    n = in_flight.1.wait(n).expect("no thread panics holding it");
                }
                *n += 1;
            }
            let (outcomes, in_flight, failing) = (&outcomes, &in_flight, &failing);
            s.spawn(move || {
                let result = client.stream(&p.prompt, p.max_tokens, clock);
                let sent_ms = match &result {
                    Ok(r) => r.sent_ms,
                    Err(_) => p.send_ms.max(0.0),
                };
                let outcome = Outcome { index, planned_ms: p.send_ms, sent_ms, result };
                let done = {
                    let mut all = outcomes.lock().expect("no thread panics holding it");
                    all.push(outcome);
                    let failed = all.iter().filter(|o| o.result.is_err()).count();
                    if failed >= 5 && 2 * failed > all.len() {
                        failing.store(true, Ordering::Relaxed);
                    }
                    all.len()
                };
                *in_flight.0.lock().expect("no thread panics holding it") -= 1;
                in_flight.1.notify_one();
                progress(done as u64);
            });
        }
    });
    let mut outcomes = outcomes.into_inner().expect("every sender has finished");
    outcomes.sort_by_key(|o| o.index);
    (outcomes, stop)
}
