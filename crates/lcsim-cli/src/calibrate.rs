//! `lcsim calibrate local|cloud` (and the shared helpers of `calibrate server`): measure → fit → write a profile → print a summary.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::profile_file::{check_profile_destination, command_line, redact, write_profile};
use crate::progress::bar;
use lcsim_calibrate::cloud::{self, HttpProbe, OpenAiProbe, Probe};
use lcsim_calibrate::local::{self, LocalError, LocalOptions, Step};
use lcsim_calibrate::model::ShapeSpec;
use lcsim_calibrate::provenance::measured_here;
use lcsim_core::profile::{CloudProfile, LatencyStats, LocalProfile, Profile, Target};

use crate::cli::Calibrate;
use crate::error::{CliError, check_threads};

pub fn calibrate(c: Calibrate) -> Result<(), CliError> {
    match c {
        Calibrate::Server { url, model, runs, decode_tokens, timeout_s, out } => {
            crate::calibrate_server::run(
                &url,
                model.as_deref(),
                runs,
                decode_tokens,
                timeout_s,
                out,
            )
        }
        Calibrate::Local {
            shape,
            batches,
            contexts,
            prompts,
            runs,
            quick,
            custom,
            weights,
            threads,
            pin_core,
            device: device_name,
            out,
        } => {
            let spec = match custom.layers {
                Some(layers) => ShapeSpec::from_dims(
                    &shape,
                    (
                        layers,
                        custom.d_model.unwrap_or_default(),
                        custom.heads.unwrap_or_default(),
                        custom.kv_heads.or(custom.heads).unwrap_or_default(),
                        custom.ffn.unwrap_or_default(),
                        custom.vocab.unwrap_or_default(),
                        !custom.gpt2_style,
                    ),
                ),
                None => ShapeSpec::named(&shape).ok_or_else(|| {
                    CliError::Input(format!(
                        "unknown shape `{shape}`\nhint: one of {}, or give --layers, --d-model, --heads, --ffn and --vocab",
                        ShapeSpec::NAMES.join(", ")
                    ))
                })?,
            };
            spec.validate().map_err(|e| CliError::Input(format!("invalid shape: {e}")))?;
            let mut opts = LocalOptions::new(quick, batches);
            if let Some(c) = contexts {
                opts.contexts = c;
            }
            if let Some(p) = prompts {
                opts.prompts = p;
            }
            if let Some(r) = runs {
                opts.runs = r as usize;
            }
            for (flag, values, max) in [
                ("--batches", &opts.batches, 4096),
                ("--prompts", &opts.prompts, 1 << 20),
                ("--contexts", &opts.contexts, 1 << 20),
            ] {
                if values.is_empty() || values.contains(&0) {
                    return Err(CliError::Input(format!(
                        "{flag} needs positive whole numbers, got {values:?}\nhint: e.g. {flag} 1,4,16"
                    )));
                }
                if let Some(v) = values.iter().find(|v| **v > max) {
                    return Err(CliError::Input(format!(
                        "{flag}: {v} is above the {max} supported"
                    )));
                }
            }
            opts.weights = weights;
            opts.threads = threads.map(|n| check_threads("--threads", n)).transpose()?;
            if let Some(first) = pin_core {
                let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
                let n = opts.threads.unwrap_or(cores);
                if first + n > cores {
                    return Err(CliError::Input(format!(
                        "--pin-core {first} with {n} thread(s) needs cores {first}..{}, but this machine has cores 0..{}\nhint: --pin-core 0, or fewer --threads",
                        first.saturating_add(n).saturating_sub(1),
                        cores - 1
                    )));
                }
            }
            if let Some(out) = &out {
                check_profile_destination(out)?;
            }
            let dev = local::open_device(&device_name).map_err(CliError::Input)?;
            // Refuse what cannot fit before allocating anything.
            if dev.is_cpu() {
                local::check_memory(&spec, &opts, local::dtype_for(&dev), local::available_memory_bytes())
                    .map_err(|e| CliError::Input(format!("{e}\nhint: a smaller shape, fewer/smaller batches or contexts, or a machine with more memory")))?;
            }
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!("calibration/{}-{device_name}.toml", spec.name))
            });
            let progress = bar(opts.total_runs() as u64, "calibrating");
            let mut provenance = measured_here(&command_line(), &device_name);
            provenance.notes = Some(
                "random weights unless shape.weights names a file: throughput depends on shapes, not values; rotary embeddings omitted (element-wise, < 1 % of FLOPs)".into(),
            );
            let profile = local::measure(&spec, &dev, &opts, provenance, &mut |step| match step {
                Some(Step::Prefill { prompt_tokens }) => {
                    progress.set_message(format!("prefill {prompt_tokens} tokens"))
                }
                Some(Step::Decode { batch, context }) => {
                    progress.set_message(format!("decode batch {batch}, context {context}"))
                }
                None => progress.inc(1),
            });
            progress.finish_and_clear();
            let profile = profile.map_err(|e| match e {
                LocalError::TooBig { .. }
                | LocalError::Shape(_)
                | LocalError::Weights(_)
                | LocalError::EmptyPlan(_) => CliError::Input(e.to_string()),
                other => CliError::Other(anyhow::anyhow!(other)),
            })?;
            print_local(&profile);
            let header = format!(
                "lcsim local calibration profile: {} on {device_name}, measured {}.\nUse it in a scenario: calibration = \"{}\" in a local [[deployment]].",
                spec.name,
                profile.provenance.date,
                out.display()
            );
            write_profile(&out, &Profile::Local(profile), &header)?;
            say!("written: {}", out.display());
            Ok(())
        }
        Calibrate::Cloud {
            url,
            samples,
            concurrency,
            timeout_s,
            openai,
            model,
            api_key_env,
            max_tokens,
            out,
        } => {
            if !(timeout_s > 0.0 && timeout_s <= 3600.0) {
                return Err(CliError::Input(format!(
                    "--timeout-s must be from 0 to 3600 seconds, got {}",
                    lcsim_core::check::num(timeout_s)
                )));
            }
            if let Some(out) = &out {
                check_profile_destination(out)?;
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(CliError::Input(format!(
                    "--url must be an http:// or https:// address, got `{url}`\nhint: e.g. --url https://my-endpoint/health"
                )));
            }
            let samples = samples as usize;
            let timeout = Duration::from_secs_f64(timeout_s);
            let api_key = if openai {
                match std::env::var(&api_key_env) {
                    Ok(k) if !k.is_empty() => Some(k),
                    _ => {
                        eprintln!(
                            "warning: ${api_key_env} is not set; sending requests without an API key"
                        );
                        None
                    }
                }
            } else {
                None
            };
            let make = {
                let (url, model, api_key) = (url.clone(), model.clone(), api_key.clone());
                move || -> Box<dyn Probe + Send> {
                    if openai {
                        Box::new(OpenAiProbe::new(
                            &url,
                            api_key.clone(),
                            &model,
                            max_tokens,
                            timeout,
                        ))
                    } else {
                        Box::new(HttpProbe::new(&url, timeout))
                    }
                }
            };
            let progress = Mutex::new(bar(samples as u64 + 1, "requests"));
            let m = cloud::measure(&make, samples, concurrency as usize, &|| {
                if let Ok(p) = progress.lock() {
                    p.inc(1);
                }
            });
            if let Ok(p) = progress.lock() {
                p.finish_and_clear();
            }
            let Some(rtt_ms) = m.rtt_ms else {
                return Err(CliError::Other(anyhow::anyhow!(
                    "no request succeeded ({} failed: {:?}); nothing to fit",
                    m.errors.total(),
                    m.errors
                )));
            };
            let profile = CloudProfile {
                provenance: measured_here(&redact(&command_line()), "network"),
                target: Target {
                    url: url.clone(),
                    samples: samples as u32,
                    concurrency,
                    timeout_s,
                    openai,
                    model: openai.then(|| model.clone()),
                },
                rtt_ms,
                ttft_ms: m.ttft_ms,
                output_tokens_per_s: m.output_tokens_per_s,
                errors: m.errors,
            };
            print_cloud(&profile);
            let host = url
                .split("://")
                .nth(1)
                .unwrap_or(&url)
                .split(['/', ':'])
                .next()
                .unwrap_or("endpoint")
                .to_string();
            let out = out.unwrap_or_else(|| PathBuf::from(format!("calibration/{host}.toml")));
            let header = format!(
                "lcsim cloud calibration profile: {url}, measured {}.\nUse it in a scenario: calibration = \"{}\" in a cloud [[deployment]] ([rtt_ms.fit] becomes network_rtt_ms).",
                profile.provenance.date,
                out.display()
            );
            write_profile(&out, &Profile::Cloud(profile), &header)?;
            say!("written: {}", out.display());
            Ok(())
        }
    }
}

fn print_local(p: &LocalProfile) {
    let s = &p.shape;
    say!(
        "{}: {} layers, d_model {}, {} heads ({} kv), ffn {}, vocab {}, {:.1} M parameters, {}",
        s.name,
        s.layers,
        s.d_model,
        s.heads,
        s.kv_heads,
        s.ffn,
        s.vocab,
        s.params as f64 / 1e6,
        s.dtype
    );
    if let Some(g) = p.matmul_gflops {
        say!("f32 matmul 1024³: {g:.1} GFLOP/s");
    }
    say!();
    say!("{:<10} {:>8} {:>8} {:>11} {:>11}", "prefill", "tokens", "", "median ms", "spread ms");
    let spread = |runs: &[f64]| {
        let lo = runs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = runs.iter().copied().fold(0.0, f64::max);
        format!("{lo:.2}–{hi:.2}")
    };
    for pt in &p.prefill {
        say!(
            "{:<10} {:>8} {:>8} {:>11.2} {:>11}",
            "",
            pt.prompt_tokens,
            "",
            pt.median_ms,
            spread(&pt.runs_ms)
        );
    }
    say!(
        "{:<10} {:>8} {:>8} {:>11} {:>11}",
        "decode",
        "batch",
        "context",
        "median ms",
        "spread ms"
    );
    for pt in &p.decode {
        say!(
            "{:<10} {:>8} {:>8} {:>11.2} {:>11}",
            "",
            pt.batch,
            pt.context,
            pt.median_ms,
            spread(&pt.runs_ms)
        );
    }
    let f = &p.fit;
    say!();
    say!(
        "decode step = {:.4} + {:.4}·batch + ({:.6} + {:.6}·batch)·context ms   R² {:.3}, max relative residual {:.1} %",
        f.decode_base_ms,
        f.decode_ms_per_batch,
        f.decode_ms_per_context,
        f.decode_ms_per_batch_context,
        f.decode_r2,
        100.0 * f.decode_max_rel_residual
    );
    say!(
        "prefill     = {:.4} + {:.5}·tokens ms   R² {:.3}, max relative residual {:.1} %",
        f.prefill_base_ms,
        f.prefill_ms_per_token,
        f.prefill_r2,
        100.0 * f.prefill_max_rel_residual
    );
}

fn print_stats(name: &str, s: &LatencyStats) {
    say!(
        "{name:<6} n {:>4}  mean {:>8.2}  p50 {:>8.2}  p95 {:>8.2}  p99 {:>8.2} ms  first {}  lognormal median {:.2}, p95 {:.2} (KS {:.3})",
        s.count,
        s.mean,
        s.p50,
        s.p95,
        s.p99,
        s.first_ms.map_or("-".into(), |f| format!("{f:.2} ms")),
        s.fit.median.unwrap_or(f64::NAN),
        s.fit.p95.unwrap_or(f64::NAN),
        s.ks_statistic
    );
}

fn print_cloud(p: &CloudProfile) {
    print_stats("rtt", &p.rtt_ms);
    if let Some(t) = &p.ttft_ms {
        print_stats("ttft", t);
    }
    if let Some(r) = p.output_tokens_per_s {
        say!("output {r:.1} tokens/s (median over streams)");
    }
    let e = &p.errors;
    say!(
        "errors: dns {}, connect {}, timeout {}, http {:?}, other {}",
        e.dns,
        e.connect,
        e.timeout,
        e.http_status,
        e.other
    );
}
