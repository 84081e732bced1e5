//! `lcsim validate`: open-loop load against a real server, the same requests replayed through
//! the continuous-batching model, and the comparison (validation.json, requests.csv, report).
//!
//! Exit codes: 2 for a wrong URL, flags or profile (nothing is sent); 1 when the server fails
//! mid-run, after what was measured has been written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use lcsim_calibrate::cloud::ProbeError;
use lcsim_calibrate::server::calibrate::{count, describe, prompt_ids};
use lcsim_calibrate::server::client::ServerClient;
use lcsim_calibrate::server::load::{Outcome, Planned, Stop, open_loop};
use lcsim_core::profile::{ErrorCounts, Profile, ServerProfile, parse_profile};
use lcsim_core::scenario::Continuous;
use lcsim_core::stats::{median, quantile_sorted};
use lcsim_core::validation::{ClientOverhead, Level, ValidationReport, compare, verdict};
use lcsim_engine::replay::{Recorded, replay};
use lcsim_report::validation::{LevelSamples, METRICS};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::calibrate_server::check_url_and_timeout;
use crate::cli::ValidateArgs;
use crate::error::CliError;
use crate::outdir::Staging;
use crate::progress::bar;

/// The bundled Azure LLM inference trace (conversation, 2023; CC-BY-4.0, see
/// scenarios/data/README.md): its token lengths shape the validation load.
const AZURE_CONV: &str = include_str!("../../../scenarios/data/azure-llm-2023-conv.csv");

fn check_flags(a: &ValidateArgs) -> Result<(), CliError> {
    check_url_and_timeout(&a.url, a.timeout_s)?;
    if a.levels.is_empty() || a.levels.len() > 20 {
        return Err(CliError::Input("--levels needs from 1 to 20 loads, e.g. 0.3,0.55,0.8".into()));
    }
    if let Some(l) = a.levels.iter().find(|l| !(l.is_finite() && **l > 0.0 && **l <= 2.0)) {
        return Err(CliError::Input(format!(
            "--levels: each load is a share of the calibrated capacity above 0 and at most 2, got {}\nhint: e.g. --levels 0.3,0.55,0.8",
            lcsim_core::check::num(*l)
        )));
    }
    if let Some(s) = a.token_scale
        && !(s.is_finite() && s > 0.0 && s <= 100.0)
    {
        return Err(CliError::Input(format!(
            "--token-scale must be above 0 and at most 100, got {}",
            lcsim_core::check::num(s)
        )));
    }
    if !(a.max_seconds.is_finite() && a.max_seconds > 0.0 && a.max_seconds <= 86_400.0) {
        return Err(CliError::Input(format!(
            "--max-seconds must be above 0 and at most 86400, got {}",
            lcsim_core::check::num(a.max_seconds)
        )));
    }
    Ok(())
}

fn read_profile(path: &Path) -> Result<ServerProfile, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Input(format!("--profile {}: cannot read it: {e}", path.display()))
    })?;
    let bad = |m: String| {
        CliError::Input(format!(
            "--profile {}: {m}\nhint: write one with `lcsim calibrate server --url URL --out {}`",
            path.display(),
            path.display()
        ))
    };
    match parse_profile(&text).map_err(bad)? {
        Profile::Server(p) => {
            p.validate().map_err(|e| bad(format!("`{}` {}", e.key_path, e.message)))?;
            Ok(p)
        }
        _ => Err(bad("is not a server profile (kind = \"server\")".into())),
    }
}

/// Token lengths `(prompt, output)` of the trace.
fn trace_lengths(trace: Option<&Path>) -> Result<Vec<(f64, f64)>, CliError> {
    let (text, name) = match trace {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| {
                CliError::Input(format!("--trace {}: cannot read it: {e}", p.display()))
            })?,
            p.display().to_string(),
        ),
        None => (AZURE_CONV.to_string(), "the bundled trace".into()),
    };
    let col = |c: &str| {
        lcsim_core::trace::csv_column(&text, c)
            .map_err(|e| CliError::Input(format!("--trace {name}: {e}")))
    };
    let lengths: Vec<(f64, f64)> = col("ContextTokens")?
        .into_iter()
        .zip(col("GeneratedTokens")?)
        .filter(|(p, o)| *p >= 1.0 && *o >= 1.0)
        .collect();
    if lengths.is_empty() {
        return Err(CliError::Input(format!("--trace {name}: no request with tokens")));
    }
    Ok(lengths)
}

/// A failure before any load: exit 2 when the URL is wrong (or does not stream); otherwise the
/// server is failing, and that is measured.
fn preflight_error(url: &str, e: &ProbeError) -> CliError {
    let hint = "hint: start the server first and check --url (e.g. http://127.0.0.1:8080)";
    match e {
        ProbeError::Dns | ProbeError::Connect => {
            CliError::Input(format!("cannot reach a server at {url} ({})\n{hint}", describe(e)))
        }
        ProbeError::Status(code) if *code < 500 => CliError::Input(format!(
            "{url}/v1/completions answered HTTP {code}: not an OpenAI-compatible completions endpoint\n{hint}"
        )),
        ProbeError::Other(m) if m.starts_with("not a streaming endpoint") => {
            CliError::Input(format!(
                "{url}/v1/completions did not stream (no server-sent events)\nhint: lcsim validate needs a streaming OpenAI-compatible server such as llama-server or vLLM"
            ))
        }
        other => CliError::Other(anyhow::anyhow!(
            "the server at {url} failed a request ({})",
            describe(other)
        )),
    }
}

/// One level's measured and simulated values, per request.
struct Measured {
    outcomes: Vec<Outcome>,
    simulated: Vec<Option<(f64, f64, f64)>>,
}

pub fn run(a: ValidateArgs) -> Result<(), CliError> {
    check_flags(&a)?;
    let profile = read_profile(&a.profile)?;
    let lengths = trace_lengths(a.trace.as_deref())?;
    let staging = Staging::new("--out", &a.out)?;
    let client =
        ServerClient::new(&a.url, a.model.as_deref(), Duration::from_secs_f64(a.timeout_s));

    // Nothing is sent under load until the URL is known to serve streamed completions.
    let mut pings = Vec::new();
    for _ in 0..11 {
        pings.push(client.ping_ms().map_err(|e| preflight_error(client.base(), &e))?);
    }
    let http_rtt_ms = median(&pings[1..]);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    // A wrong URL or a server that does not stream stops here (exit 2, nothing written). A
    // server that fails (5xx, timeouts) is measured as it is: the first level stops once most
    // of its requests fail, and what was sent is written (exit 1).
    if let Err(e) = client.stream(&prompt_ids(&mut rng, 16), 4, std::time::Instant::now())
        && let err @ CliError::Input(_) = preflight_error(client.base(), &e)
    {
        return Err(err);
    }

    // The model and the load it is compared under.
    let slots = profile.server.slots;
    let kv = profile.server.kv_cache_tokens.unwrap_or(2048 * u64::from(slots));
    let cfg = Continuous::from_server(&profile, slots, kv, None);
    let slot_ctx = (kv / u64::from(slots)) as f64;
    let mut totals: Vec<f64> = lengths.iter().map(|(p, o)| p + o).collect();
    totals.sort_by(f64::total_cmp);
    // Short requests by default: a quarter of a slot at the 99th percentile, so that a level of
    // a hundred requests takes a minute or two on a small CPU server.
    let token_scale = a
        .token_scale
        .unwrap_or_else(|| (0.25 * slot_ctx / quantile_sorted(&totals, 0.99)).min(1.0));
    let scaled: Vec<(u32, u32)> = lengths
        .iter()
        .map(|(p, o)| {
            let s = |x: f64| ((x * token_scale).round() as u32).max(1);
            let (p, o) = (s(*p), s(*o));
            // Every request fits one slot whatever the rounding.
            (
                p.min(slot_ctx as u32 - 1).max(1),
                o.min(slot_ctx as u32 - p.min(slot_ctx as u32 - 1)).max(1),
            )
        })
        .collect();
    let mean = |f: fn(&(u32, u32)) -> u32| {
        scaled.iter().map(|x| f64::from(f(x))).sum::<f64>() / scaled.len() as f64
    };
    let (mean_prompt, mean_output) = (mean(|x| x.0), mean(|x| x.1));
    let capacity_per_s =
        f64::from(slots) * 1000.0 / cfg.mean_service_ms(mean_prompt, mean_output).max(1e-9);
    say!(
        "{}: {slots} slots, KV {kv} tokens; trace lengths × {token_scale:.3} (mean prompt {mean_prompt:.0}, output {mean_output:.0} tokens); calibrated capacity {capacity_per_s:.3} requests/s",
        client.base()
    );

    let mut levels = Vec::new();
    let mut samples = Vec::new();
    let mut rows = String::from(
        "level,index,planned_ms,sent_ms,ok,error,prompt_tokens,output_tokens,measured_ttft_ms,measured_tpot_ms,measured_e2e_ms,simulated_ttft_ms,simulated_tpot_ms,simulated_e2e_ms\n",
    );
    let mut lateness = Vec::new();
    let mut failed_level = None;
    for (li, &u) in a.levels.iter().enumerate() {
        let rate = u * capacity_per_s;
        let mut level_rng =
            Xoshiro256PlusPlus::seed_from_u64(a.seed ^ (0x9E37_79B9 * (li as u64 + 1)));
        let mut t = 0.0;
        let plan: Vec<Planned> = (0..a.requests)
            .map(|_| {
                let gap = -(1.0 - level_rng.random::<f64>()).ln() / rate * 1000.0;
                let (p, o) = scaled[level_rng.random_range(0..scaled.len())];
                let planned =
                    Planned { send_ms: t, prompt: prompt_ids(&mut level_rng, p), max_tokens: o };
                t += gap;
                planned
            })
            .collect();
        let send = |what: &str| {
            let progress = bar(u64::from(a.requests), what);
            let start = std::time::Instant::now();
            let (outcomes, stop) = open_loop(
                &client,
                &plan,
                Duration::from_secs_f64(a.max_seconds),
                4 * slots as usize + 64,
                &|done| progress.set_position(done),
            );
            progress.finish_and_clear();
            (outcomes, stop, start.elapsed().as_secs_f64())
        };
        let (outcomes, stop, wall_s) = send(&format!("{:.0} % load", u * 100.0));
        let m = simulate(&profile, cfg.clone(), outcomes);
        let mut level = summarize(u, rate, &m, stop, wall_s);
        // The same requests at the same times once more: how much the server differs from
        // itself, the floor under any model's error.
        if a.repeat && stop != Stop::Failing {
            let (again, _, _) = send(&format!("{:.0} % load, repeat", u * 100.0));
            let r = level_samples(&simulate(&profile, cfg.clone(), again));
            let first = level_samples(&m);
            let mut repeat = BTreeMap::new();
            for (k, (name, _)) in METRICS.iter().enumerate() {
                if let Some(c) = compare(&first.measured[k], &r.measured[k]) {
                    repeat.insert(name.to_string(), c);
                }
            }
            level.repeat = Some(repeat);
        }
        for o in &m.outcomes {
            if let Ok(r) = &o.result {
                lateness.push(r.sent_ms - o.planned_ms);
            }
        }
        write_rows(&mut rows, u, &m);
        samples.push(level_samples(&m));
        say!(
            "{:>4.0} % load: {} of {} completed in {wall_s:.1} s{}",
            u * 100.0,
            level.completed,
            level.requests,
            match stop {
                Stop::Done => "",
                Stop::Capped => " (time cap reached)",
                Stop::Failing => " (stopped: most requests failed)",
            }
        );
        levels.push(level);
        if stop == Stop::Failing {
            failed_level = Some(u);
            break;
        }
    }

    lateness.sort_by(f64::total_cmp);
    let report = ValidationReport {
        lcsim_version: env!("CARGO_PKG_VERSION").to_string(),
        date: profile_date(),
        url: client.base().to_string(),
        profile: a.profile.display().to_string(),
        slots,
        kv_cache_tokens: kv,
        token_scale,
        client: ClientOverhead {
            http_rtt_ms,
            send_lateness_p50_ms: quantile_sorted(&lateness, 0.5).max(0.0),
            send_lateness_p99_ms: quantile_sorted(&lateness, 0.99).max(0.0),
            send_lateness_max_ms: lateness.last().copied().unwrap_or(0.0).max(0.0),
        },
        verdict: verdict(&levels),
        levels,
    };
    let dir = staging.path().to_path_buf();
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).map_err(|e| CliError::Other(e.into()))
    };
    write("requests.csv", rows.as_bytes())?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| CliError::Other(e.into()))?;
    write("validation.json", json.as_bytes())?;
    lcsim_report::validation::write(&dir, &report, &samples)
        .map_err(|e| CliError::Other(e.into()))?;
    staging.commit()?;
    print_table(&report);
    say!("{}", report.verdict);
    say!("written: {}", a.out.display());
    match failed_level {
        Some(u) => Err(CliError::Other(anyhow::anyhow!(
            "the server failed most requests at {:.0} % load; what was measured is in {}",
            u * 100.0,
            a.out.display()
        ))),
        None => Ok(()),
    }
}

fn profile_date() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    lcsim_calibrate::provenance::utc_date(now)
}

/// Replays the level's completed requests (send time + the profile's request overhead, the
/// token counts the server reported) through the model.
fn simulate(profile: &ServerProfile, cfg: Continuous, outcomes: Vec<Outcome>) -> Measured {
    let ok: Vec<(usize, Recorded)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let r = o.result.as_ref().ok()?;
            Some((
                i,
                Recorded {
                    arrival_ms: r.sent_ms + profile.fit.request_overhead_ms,
                    prompt_tokens: r.prompt_tokens,
                    output_tokens: r.output_tokens,
                },
            ))
        })
        .collect();
    let recorded: Vec<Recorded> = ok.iter().map(|(_, r)| *r).collect();
    let done = replay(cfg, &recorded);
    let mut simulated = vec![None; outcomes.len()];
    for ((i, _), c) in ok.iter().zip(done) {
        let (Some(c), Ok(r)) = (c, &outcomes[*i].result) else { continue };
        let n = f64::from(c.req.output_tokens.max(1));
        let tpot = if n > 1.0 { (c.end_ms - c.first_token_ms) / (n - 1.0) } else { f64::NAN };
        simulated[*i] = Some((c.first_token_ms - r.sent_ms, tpot, c.end_ms - r.sent_ms));
    }
    Measured { outcomes, simulated }
}

fn measured_values(o: &Outcome) -> Option<(f64, f64, f64)> {
    let r = o.result.as_ref().ok()?;
    Some((r.ttft_ms(), r.tpot_ms().unwrap_or(f64::NAN), r.e2e_ms()))
}

fn level_samples(m: &Measured) -> LevelSamples {
    let mut s = LevelSamples::default();
    for (o, sim) in m.outcomes.iter().zip(&m.simulated) {
        let (Some(meas), Some(sim)) = (measured_values(o), sim) else { continue };
        for (k, (x, y)) in
            [(meas.0, sim.0), (meas.1, sim.1), (meas.2, sim.2)].into_iter().enumerate()
        {
            if x.is_finite() && y.is_finite() {
                s.measured[k].push(x);
                s.simulated[k].push(y);
            }
        }
    }
    s
}

fn summarize(u: f64, rate: f64, m: &Measured, stop: Stop, wall_s: f64) -> Level {
    let mut errors = ErrorCounts::default();
    for o in &m.outcomes {
        if let Err(e) = &o.result {
            count(&mut errors, e);
        }
    }
    let ok: Vec<_> = m.outcomes.iter().filter_map(|o| o.result.as_ref().ok()).collect();
    let n = ok.len().max(1) as f64;
    let s = level_samples(m);
    let mut metrics = BTreeMap::new();
    for (k, (name, _)) in METRICS.iter().enumerate() {
        if let Some(c) = compare(&s.measured[k], &s.simulated[k]) {
            metrics.insert(name.to_string(), c);
        }
    }
    Level {
        utilization: u,
        rate_per_s: rate,
        requests: m.outcomes.len() as u32,
        completed: ok.len() as u32,
        errors,
        wall_s,
        capped: stop == Stop::Capped,
        mean_prompt_tokens: ok.iter().map(|r| f64::from(r.prompt_tokens)).sum::<f64>() / n,
        mean_output_tokens: ok.iter().map(|r| f64::from(r.output_tokens)).sum::<f64>() / n,
        metrics,
        repeat: None,
    }
}

fn write_rows(rows: &mut String, u: f64, m: &Measured) {
    let f =
        |x: Option<f64>| x.filter(|v| v.is_finite()).map_or(String::new(), |v| format!("{v:.3}"));
    for (o, sim) in m.outcomes.iter().zip(&m.simulated) {
        let meas = measured_values(o);
        let (ok, error, p, out) = match &o.result {
            Ok(r) => {
                (true, String::new(), r.prompt_tokens.to_string(), r.output_tokens.to_string())
            }
            Err(e) => (false, describe(e).replace([',', '\n'], ";"), String::new(), String::new()),
        };
        let _ = writeln!(
            rows,
            "{u},{},{:.3},{:.3},{ok},{error},{p},{out},{},{},{},{},{},{}",
            o.index,
            o.planned_ms,
            o.sent_ms,
            f(meas.map(|v| v.0)),
            f(meas.map(|v| v.1)),
            f(meas.map(|v| v.2)),
            f(sim.map(|v| v.0)),
            f(sim.map(|v| v.1)),
            f(sim.map(|v| v.2)),
        );
    }
}

fn print_table(r: &ValidationReport) {
    say!();
    say!(
        "{:>6} {:>9} {:<6} {:>12} {:>12} {:>9} {:>9} {:>12} {:>12} {:>9}",
        "load",
        "completed",
        "metric",
        "p50 meas",
        "p50 sim",
        "p50 err",
        "p90 err",
        "p99 meas",
        "p99 sim",
        "p99 err"
    );
    for l in &r.levels {
        for (name, short) in [("ttft_ms", "TTFT"), ("tpot_ms", "TPOT"), ("e2e_ms", "E2E")] {
            let Some(c) = l.metrics.get(name) else { continue };
            say!(
                "{:>5.0}% {:>9} {:<6} {:>9.1} ms {:>9.1} ms {:>+8.1}% {:>+8.1}% {:>9.1} ms {:>9.1} ms {:>+8.1}%",
                l.utilization * 100.0,
                format!("{}/{}", l.completed, l.requests),
                short,
                c["p50"].measured,
                c["p50"].simulated,
                c["p50"].rel_error * 100.0,
                c["p90"].rel_error * 100.0,
                c["p99"].measured,
                c["p99"].simulated,
                c["p99"].rel_error * 100.0
            );
        }
    }
}
