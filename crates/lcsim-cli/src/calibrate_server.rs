//! `lcsim calibrate server`: measure a running LLM server's step model → write a profile.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use lcsim_calibrate::provenance::measured_here;
use lcsim_calibrate::server::calibrate::{CalibrateError, Plan, calibrate};
use lcsim_calibrate::server::client::ServerClient;
use lcsim_core::profile::{Profile, ServerProfile};

use crate::error::CliError;
use crate::profile_file::{check_profile_destination, command_line, redact, write_profile};
use crate::progress::bar;

/// `--url` must be an http(s) address with a host; `--timeout-s` a sane number of seconds.
pub fn check_url_and_timeout(url: &str, timeout_s: f64) -> Result<(), CliError> {
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.split("://").nth(1).is_none_or(|rest| rest.is_empty() || rest.starts_with('/'))
    {
        return Err(CliError::Input(format!(
            "--url must be an http:// or https:// address of a server, got `{url}`\nhint: e.g. --url http://127.0.0.1:8080"
        )));
    }
    if !(timeout_s > 0.0 && timeout_s <= 3600.0) {
        return Err(CliError::Input(format!(
            "--timeout-s must be from 0 to 3600 seconds, got {}",
            lcsim_core::check::num(timeout_s)
        )));
    }
    Ok(())
}

/// `host-port` of a URL, for default file names.
pub fn host_port(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("server");
    authority.replace([':', '.'], "-")
}

pub fn run(
    url: &str,
    model: Option<&str>,
    runs: u32,
    decode_tokens: u32,
    timeout_s: f64,
    out: Option<PathBuf>,
) -> Result<(), CliError> {
    check_url_and_timeout(url, timeout_s)?;
    let out =
        out.unwrap_or_else(|| PathBuf::from(format!("calibration/server-{}.toml", host_port(url))));
    check_profile_destination(&out)?;
    let client = ServerClient::new(url, model, Duration::from_secs_f64(timeout_s));
    let mut provenance = measured_here(&redact(&command_line()), "server");
    provenance.candle_version = None;
    let current: Mutex<Option<(String, indicatif::ProgressBar)>> = Mutex::new(None);
    let progress = |what: &str, done: u64, of: u64| {
        let Ok(mut cur) = current.lock() else { return };
        if cur.as_ref().is_none_or(|(w, _)| w != what) {
            if let Some((_, b)) = cur.take() {
                b.finish_and_clear();
            }
            *cur = Some((what.to_string(), bar(of, what)));
        }
        if let Some((_, b)) = cur.as_ref() {
            b.set_length(of);
            b.set_position(done);
        }
    };
    let plan = Plan { runs, decode_tokens, ..Plan::default() };
    let result = calibrate(&client, plan, provenance, &progress);
    if let Ok(mut cur) = current.lock()
        && let Some((_, b)) = cur.take()
    {
        b.finish_and_clear();
    }
    let profile = result.map_err(|e| match e {
        CalibrateError::Unreachable { .. } => CliError::Input(format!(
            "{e}\nhint: start the server first, and check --url (e.g. http://127.0.0.1:8080)"
        )),
        CalibrateError::Failed(m) => CliError::Other(anyhow::anyhow!(m)),
    })?;
    print_server(&profile);
    let header = format!(
        "lcsim server calibration profile: {}, measured {}.\nUse it in a scenario: scheduler = \"continuous\" and calibration = \"{}\" in a local [[deployment]].",
        profile.server.url,
        profile.provenance.date,
        out.display()
    );
    write_profile(&out, &Profile::Server(profile), &header)?;
    say!("written: {}", out.display());
    Ok(())
}

fn print_server(p: &ServerProfile) {
    let s = &p.server;
    say!(
        "{}: {} slots ({}), KV cache {} tokens, HTTP round trip {:.2} ms",
        s.url,
        s.slots,
        s.slots_from,
        s.kv_cache_tokens.map_or("not reported".into(), |k| k.to_string()),
        s.http_rtt_ms
    );
    say!();
    say!("{:<8} {:>8} {:>10} {:>14}", "prefill", "tokens", "TTFT ms", "server ms");
    for pt in &p.prefill {
        say!(
            "{:<8} {:>8} {:>10.2} {:>14}",
            "",
            pt.prompt_tokens,
            pt.ttft_ms,
            pt.server_prompt_ms.map_or("-".into(), |m| format!("{m:.2}"))
        );
    }
    say!("{:<8} {:>8} {:>10} {:>14} {:>10}", "decode", "running", "context", "gap ms", "tok/s");
    for pt in &p.decode {
        say!(
            "{:<8} {:>8} {:>10.0} {:>14.3} {:>10.1}",
            "",
            pt.running,
            pt.context_tokens,
            pt.gap_ms,
            pt.tokens_per_s
        );
    }
    let f = &p.fit;
    say!();
    say!(
        "iteration = {:.3} ms [+ {:.3} ms if it prefills] + {:.5} ms·prefill tokens + {:.3e} ms·prefill pairs + decode(b) + {:.3e} ms·context tokens",
        f.overhead_ms,
        f.prefill_overhead_ms,
        f.prefill_ms_per_token,
        f.prefill_attention_ms_per_context_token,
        f.attention_ms_per_context_token
    );
    let steps: Vec<String> = p.decode_ms_by_batch.iter().map(|v| format!("{v:.3}")).collect();
    say!(
        "decode(b) for b = 1..{} = [{}] ms; line {:.3} + {:.3}·b (R² {:.3}: how linear the batch curve is)",
        steps.len(),
        steps.join(", "),
        f.decode_base_ms,
        f.decode_ms_per_batch,
        f.decode_r2
    );
    say!(
        "request overhead {:.3} ms;  prefill fit R² {:.3} (max residual {:.1} %)",
        f.request_overhead_ms,
        f.prefill_r2,
        100.0 * f.prefill_max_rel_residual
    );
    if p.errors.total() > 0 {
        say!("failed requests: {:?}", p.errors);
    }
}
