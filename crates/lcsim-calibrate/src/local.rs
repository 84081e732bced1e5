//! Local throughput: times prefill and decode steps of a transformer shape and fits the
//! engine's latency model to them.
//!
//! Each point is measured `warmup` times untimed, then `runs` times timed (wall clock around
//! a forward pass followed by a device synchronization), one point after the other; the
//! point's value is the median, and every run is kept in the profile. Prefill: batch 1 over prompt lengths. Decode: one step
//! over batch sizes × context lengths, with a KV cache pre-filled to that context. Fits:
//! `step = a + b·batch + c·context` and `prefill = d + e·tokens` by least squares.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device};
use lcsim_core::profile::{
    DecodePoint, LocalFit, LocalProfile, PrefillPoint, Provenance, ShapeInfo,
};

use crate::fit::{least_squares, median};
use crate::model::{ShapeSpec, Transformer};

#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub batches: Vec<usize>,
    pub contexts: Vec<usize>,
    pub prompts: Vec<usize>,
    pub warmup: usize,
    pub runs: usize,
    pub weights: Option<PathBuf>,
    /// CPU threads for the forward passes (`None`: candle's default, one per core). One thread
    /// leaves a core for everything else and gives steadier timings on a busy machine.
    pub threads: Option<usize>,
    /// Pin the measuring threads to CPU cores starting at this one. Cores of a virtual machine
    /// can differ in speed (seen here: 15–20 % between the two vCPUs), so a thread that moves
    /// between them adds that much noise; pinning removes it.
    pub pin_core: Option<usize>,
}

impl LocalOptions {
    /// The default plan, or the `--quick` one (a few points, 3 runs: well under a minute for
    /// gpt2-small on a laptop CPU).
    pub fn new(quick: bool, batches: Vec<usize>) -> Self {
        if quick {
            LocalOptions {
                batches,
                contexts: vec![64, 256],
                prompts: vec![16, 64, 128],
                warmup: 1,
                runs: 3,
                weights: None,
                threads: None,
                pin_core: None,
            }
        } else {
            LocalOptions {
                batches,
                contexts: vec![128, 512, 1024],
                prompts: vec![32, 128, 256, 512],
                warmup: 2,
                runs: 7,
                weights: None,
                threads: None,
                pin_core: None,
            }
        }
    }

    /// Timed forward passes this plan makes (for a progress bar).
    pub fn total_runs(&self) -> usize {
        (self.prompts.len() + self.batches.len() * self.contexts.len()) * (self.warmup + self.runs)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "shape {shape} needs about {need_gib:.1} GiB ({params} parameters as {dtype} plus KV cache and activations at batch {batch}, context {context}); {available_gib:.1} GiB of memory is available"
    )]
    TooBig {
        shape: String,
        need_gib: f64,
        available_gib: f64,
        params: u64,
        dtype: String,
        batch: usize,
        context: usize,
    },
    #[error("invalid shape: {0}")]
    Shape(String),
    #[error("weights: {0}")]
    Weights(String),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("the plan has no {0} to measure")]
    EmptyPlan(&'static str),
}

/// Memory the OS can give this process (Linux `MemAvailable`), if known.
pub fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The dtype measured on a device: f32 on CPU (candle's CPU half-precision kernels are slow),
/// bf16 on GPUs.
/// Opens a device by name (`cpu`, `cuda` or `metal`); the error says what to do instead.
pub fn open_device(name: &str) -> Result<Device, String> {
    let d = match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0),
        "metal" => Device::new_metal(0),
        other => return Err(format!("unknown device `{other}`\nhint: cpu, cuda or metal")),
    };
    d.map_err(|e| {
        format!(
            "cannot open the {name} device: {e}\nhint: build lcsim with `--features {name}` (needs the toolkit at build time), or use --device cpu"
        )
    })
}

pub fn dtype_for(device: &Device) -> DType {
    if device.is_cpu() { DType::F32 } else { DType::BF16 }
}

/// Refuses a plan whose model, cache and activations do not fit in memory.
pub fn check_memory(
    spec: &ShapeSpec,
    opts: &LocalOptions,
    dtype: DType,
    available: Option<u64>,
) -> Result<(), LocalError> {
    spec.validate().map_err(LocalError::Shape)?;
    let batch = opts.batches.iter().copied().max().unwrap_or(1);
    let context = opts
        .contexts
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(opts.prompts.iter().copied().max().unwrap_or(0))
        + 1;
    let need = spec.memory_bytes(dtype, batch, context);
    match available {
        Some(avail) if need > avail => Err(LocalError::TooBig {
            shape: spec.name.clone(),
            need_gib: need as f64 / (1u64 << 30) as f64,
            available_gib: avail as f64 / (1u64 << 30) as f64,
            params: spec.params(),
            dtype: format!("{dtype:?}").to_lowercase(),
            batch,
            context,
        }),
        _ => Ok(()),
    }
}

/// What the measurement is doing, for a progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Prefill { prompt_tokens: usize },
    Decode { batch: usize, context: usize },
}

fn time_ms(
    device: &Device,
    f: &mut dyn FnMut() -> candle_core::Result<()>,
) -> candle_core::Result<f64> {
    let start = Instant::now();
    f()?;
    device.synchronize()?;
    Ok(start.elapsed().as_secs_f64() * 1000.0)
}

/// f32 matrix-multiply throughput, GFLOP/s: median of 5 runs of a 1024×1024 by 1024×1024
/// product (2·1024³ flops each).
pub fn matmul_gflops(device: &Device) -> candle_core::Result<f64> {
    let n = 1024;
    let a = candle_core::Tensor::randn(0f32, 1.0, (n, n), device)?;
    let b = candle_core::Tensor::randn(0f32, 1.0, (n, n), device)?;
    a.matmul(&b)?;
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(time_ms(device, &mut || a.matmul(&b).map(|_| ()))?);
    }
    Ok(2.0 * (n as f64).powi(3) / (median(&runs) / 1000.0) / 1e9)
}

/// Measures `spec` on `device` and fits the latency model. `progress` is called before each
/// point and after each forward pass (`None`).
pub fn measure(
    spec: &ShapeSpec,
    device: &Device,
    opts: &LocalOptions,
    provenance: Provenance,
    progress: &mut (dyn FnMut(Option<&Step>) + Send),
) -> Result<LocalProfile, LocalError> {
    in_threads(opts.threads, opts.pin_core, || {
        if opts.prompts.is_empty() {
            return Err(LocalError::EmptyPlan("prompt lengths"));
        }
        if opts.batches.is_empty() || opts.contexts.is_empty() {
            return Err(LocalError::EmptyPlan("batch sizes or context lengths"));
        }
        let dtype = dtype_for(device);
        check_memory(
            spec,
            opts,
            dtype,
            if device.is_cpu() { available_memory_bytes() } else { None },
        )?;
        let model = match &opts.weights {
            None => Transformer::random(spec, device, dtype)?,
            Some(path) => Transformer::from_safetensors(spec, path, device, dtype)
                .map_err(LocalError::Weights)?,
        };
        // Each point's runs follow one another, as the decode steps of a real request do: caches
        // stay warm. (Round-robin over the points was tried: every run then starts cold, and the
        // profile over-predicted real requests by 15–50 %.)
        enum Point {
            Prefill {
                tokens: usize,
                input: candle_core::Tensor,
            },
            Decode {
                batch: usize,
                context: usize,
                base: crate::model::KvCache,
                input: candle_core::Tensor,
            },
        }
        let mut points = Vec::new();
        for &tokens in &opts.prompts {
            points.push(Point::Prefill { tokens, input: model.dummy_tokens(1, tokens)? });
        }
        for &batch in &opts.batches {
            for &context in &opts.contexts {
                points.push(Point::Decode {
                    batch,
                    context,
                    base: model.filled_cache(batch, context)?,
                    input: model.dummy_tokens(batch, 1)?,
                });
            }
        }
        let run_point = |point: &Point| -> candle_core::Result<f64> {
            match point {
                Point::Prefill { input, .. } => time_ms(device, &mut || {
                    let mut cache = model.empty_cache(1)?;
                    model.forward(input, &mut cache).map(|_| ())
                }),
                Point::Decode { base, input, .. } => time_ms(device, &mut || {
                    let mut cache = base.clone();
                    model.forward(input, &mut cache).map(|_| ())
                }),
            }
        };
        let mut runs: Vec<Vec<f64>> = Vec::with_capacity(points.len());
        for point in &points {
            progress(Some(&match point {
                Point::Prefill { tokens, .. } => Step::Prefill { prompt_tokens: *tokens },
                Point::Decode { batch, context, .. } => {
                    Step::Decode { batch: *batch, context: *context }
                }
            }));
            let mut times = Vec::with_capacity(opts.runs);
            for round in 0..opts.warmup + opts.runs {
                let t = run_point(point)?;
                if round >= opts.warmup {
                    times.push(t);
                }
                progress(None);
            }
            runs.push(times);
        }
        let mut prefill = Vec::new();
        let mut decode = Vec::new();
        for (point, runs_ms) in points.iter().zip(runs) {
            match point {
                Point::Prefill { tokens, .. } => prefill.push(PrefillPoint {
                    prompt_tokens: *tokens as u32,
                    median_ms: median(&runs_ms),
                    runs_ms,
                }),
                Point::Decode { batch, context, .. } => decode.push(DecodePoint {
                    batch: *batch as u32,
                    context: *context as u32,
                    median_ms: median(&runs_ms),
                    runs_ms,
                }),
            }
        }
        let fit = fit_profile(&prefill, &decode);
        Ok(LocalProfile {
            provenance,
            shape: ShapeInfo {
                name: spec.name.clone(),
                layers: spec.layers as u32,
                d_model: spec.d_model as u32,
                heads: spec.heads as u32,
                kv_heads: spec.kv_heads as u32,
                ffn: spec.ffn as u32,
                vocab: spec.vocab as u32,
                params: spec.params(),
                dtype: format!("{dtype:?}").to_lowercase(),
                weights: match &opts.weights {
                    None => "random (throughput depends on shapes, not values)".to_string(),
                    Some(p) => p.display().to_string(),
                },
            },
            fit,
            matmul_gflops: Some(matmul_gflops(device)?),
            prefill,
            decode,
        })
    })
}

/// Runs `f` on a rayon pool of `threads` threads (candle's CPU kernels use the current pool),
/// optionally pinned to cores `pin_core..pin_core + threads`.
pub fn in_threads<T: Send>(
    threads: Option<usize>,
    pin_core: Option<usize>,
    f: impl FnOnce() -> T + Send,
) -> T {
    if threads.is_none() && pin_core.is_none() {
        return f();
    }
    let n = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut builder = rayon::ThreadPoolBuilder::new().num_threads(n);
    if let Some(first) = pin_core {
        builder = builder.start_handler(move |i| {
            // Best effort: a core that does not exist leaves the thread unpinned.
            core_affinity::set_for_current(core_affinity::CoreId { id: first + i });
        });
    }
    match builder.build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

/// Fits `prefill = d + e·tokens` and `step = a + b·batch + (c + f·batch)·context` to the
/// medians.
pub fn fit_profile(prefill: &[PrefillPoint], decode: &[DecodePoint]) -> LocalFit {
    let rows: Vec<Vec<f64>> =
        prefill.iter().map(|p| vec![1.0, f64::from(p.prompt_tokens)]).collect();
    let y: Vec<f64> = prefill.iter().map(|p| p.median_ms).collect();
    let pf = least_squares(&rows, &y);
    let rows: Vec<Vec<f64>> = decode
        .iter()
        .map(|p| {
            let (b, c) = (f64::from(p.batch), f64::from(p.context));
            vec![1.0, b, c, b * c]
        })
        .collect();
    let y: Vec<f64> = decode.iter().map(|p| p.median_ms).collect();
    let df = least_squares(&rows, &y);
    LocalFit {
        decode_base_ms: df.coef[0],
        decode_ms_per_batch: df.coef[1],
        decode_ms_per_context: df.coef[2],
        decode_ms_per_batch_context: df.coef[3],
        decode_r2: df.r2,
        decode_max_rel_residual: df.max_rel_residual,
        prefill_base_ms: pf.coef[0],
        prefill_ms_per_token: pf.coef[1],
        prefill_r2: pf.r2,
        prefill_max_rel_residual: pf.max_rel_residual,
    }
}

/// Times a whole request on `model`: prefill of `prompt` tokens, then `output` decode steps
/// (batch 1). Median of `runs`, in ms. The direct measurement a profile is checked against.
pub fn time_request(
    model: &Transformer,
    prompt: usize,
    output: usize,
    runs: usize,
) -> candle_core::Result<f64> {
    let input = model.dummy_tokens(1, prompt)?;
    let next = model.dummy_tokens(1, 1)?;
    let mut request = || -> candle_core::Result<()> {
        let mut cache = model.empty_cache(1)?;
        model.forward(&input, &mut cache)?;
        for _ in 0..output {
            model.forward(&next, &mut cache)?;
        }
        Ok(())
    };
    request()?;
    let mut times = Vec::new();
    for _ in 0..runs {
        times.push(time_ms(&model.device, &mut request)?);
    }
    Ok(median(&times))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_big_shapes_are_refused_with_the_figure() {
        let spec = ShapeSpec::named("llama3-8b").unwrap();
        let opts = LocalOptions::new(true, vec![1, 8]);
        let err = check_memory(&spec, &opts, DType::F32, Some(24 << 30)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("llama3-8b") && msg.contains("GiB") && msg.contains("24.0 GiB"),
            "{msg}"
        );
        assert!(
            check_memory(
                &ShapeSpec::named("gpt2-small").unwrap(),
                &opts,
                DType::F32,
                Some(24 << 30)
            )
            .is_ok()
        );
    }
}
