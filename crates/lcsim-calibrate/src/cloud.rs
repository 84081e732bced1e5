//! Cloud round trips: times HTTP requests to an endpoint and fits their distribution.
//!
//! A [`Probe`] makes one request and returns its timings or the kind of failure; failures are
//! counted by kind (DNS, connect, timeout, HTTP status, other), never fatal. The first request
//! is kept apart (`first_ms`): it pays for DNS, the TCP/TLS handshake or a cold start.
//! [`HttpProbe`] times a plain GET; [`OpenAiProbe`] sends a streamed chat completion to an
//! OpenAI-compatible endpoint and also times the first token and the output rate.

use std::io::{BufRead, BufReader, Read};

/// The longest server-sent-events line a stream may send (1 MiB).
pub const MAX_LINE_BYTES: usize = 1 << 20;
use std::time::{Duration, Instant};

use lcsim_core::dist::{DistKind, DistWire};
use lcsim_core::profile::{ErrorCounts, LatencyStats};

use crate::fit::{fit_lognormal, quantile_sorted};

/// One successful request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub total_ms: f64,
    /// Streaming only: time to the first content chunk.
    pub ttft_ms: Option<f64>,
    /// Streaming only: content chunks received (≈ tokens) and the time between the first and
    /// the last.
    pub output_tokens: Option<u32>,
    pub stream_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    Dns,
    Connect,
    Timeout,
    Status(u16),
    Other(String),
}

/// The payload of the next server-sent-events `data:` line (other lines are skipped), or
/// `None` at the end of the stream. A line is read whole up to [`MAX_LINE_BYTES`]: a stream
/// that never ends its line must not grow memory without bound.
pub(crate) fn next_sse_data(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> Result<Option<String>, ProbeError> {
    loop {
        buf.clear();
        let n = reader
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', buf)
            .map_err(|e| classify(ureq::Error::Io(e)))?;
        if n == 0 {
            return Ok(None);
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(ProbeError::Other(format!(
                "a stream line longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        let line = String::from_utf8_lossy(buf);
        if let Some(data) = line.trim_end().strip_prefix("data:") {
            return Ok(Some(data.trim().to_string()));
        }
    }
}

/// Makes one timed request.
pub trait Probe {
    fn request(&mut self) -> Result<Sample, ProbeError>;
}

pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

pub(crate) fn classify(e: ureq::Error) -> ProbeError {
    use std::io::ErrorKind;
    match e {
        ureq::Error::HostNotFound => ProbeError::Dns,
        ureq::Error::ConnectionFailed => ProbeError::Connect,
        ureq::Error::Timeout(_) => ProbeError::Timeout,
        ureq::Error::StatusCode(code) => ProbeError::Status(code),
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted => ProbeError::Connect,
            ErrorKind::TimedOut | ErrorKind::WouldBlock => ProbeError::Timeout,
            _ if io.to_string().contains("failed to lookup address") => ProbeError::Dns,
            _ => ProbeError::Other(io.to_string()),
        },
        other => ProbeError::Other(other.to_string()),
    }
}

/// Times `GET url` including reading the whole body.
#[derive(Debug)]
pub struct HttpProbe {
    agent: ureq::Agent,
    url: String,
}

impl HttpProbe {
    pub fn new(url: &str, timeout: Duration) -> Self {
        HttpProbe { agent: agent(timeout), url: url.to_string() }
    }
}

impl Probe for HttpProbe {
    fn request(&mut self) -> Result<Sample, ProbeError> {
        let start = Instant::now();
        let mut response = self.agent.get(&self.url).call().map_err(classify)?;
        let status = response.status().as_u16();
        response.body_mut().read_to_vec().map_err(classify)?;
        if status >= 400 {
            return Err(ProbeError::Status(status));
        }
        Ok(Sample {
            total_ms: start.elapsed().as_secs_f64() * 1000.0,
            ttft_ms: None,
            output_tokens: None,
            stream_ms: None,
        })
    }
}

/// A streamed chat completion (`POST {base}/chat/completions`, `stream: true`), read as
/// server-sent events. The API key is held in memory only.
pub struct OpenAiProbe {
    agent: ureq::Agent,
    url: String,
    api_key: Option<String>,
    model: String,
    max_tokens: u32,
}

impl std::fmt::Debug for OpenAiProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProbe")
            .field("url", &self.url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl OpenAiProbe {
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        model: &str,
        max_tokens: u32,
        timeout: Duration,
    ) -> Self {
        let base = base_url.trim_end_matches('/');
        let url = if base.ends_with("/chat/completions") {
            base.to_string()
        } else {
            format!("{base}/chat/completions")
        };
        OpenAiProbe { agent: agent(timeout), url, api_key, model: model.to_string(), max_tokens }
    }
}

impl Probe for OpenAiProbe {
    fn request(&mut self) -> Result<Sample, ProbeError> {
        let body = serde_json::json!({
            "model": self.model,
            "stream": true,
            "max_tokens": self.max_tokens,
            "messages": [{ "role": "user", "content": "Count from 1 to 100, separated by spaces." }],
        })
        .to_string();
        let start = Instant::now();
        let mut request = self.agent.post(&self.url).header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let response = request.send(body).map_err(classify)?;
        let status = response.status().as_u16();
        if status >= 400 {
            return Err(ProbeError::Status(status));
        }
        let mut reader = BufReader::new(response.into_body().into_reader());
        let (mut first, mut last, mut chunks) = (None, None, 0u32);
        let mut buf = Vec::new();
        while let Some(data) = next_sse_data(&mut reader, &mut buf)? {
            if data == "[DONE]" {
                break;
            }
            let has_content = serde_json::from_str::<serde_json::Value>(&data)
                .ok()
                .and_then(|v| v["choices"][0]["delta"]["content"].as_str().map(|s| !s.is_empty()))
                .unwrap_or(false);
            if has_content {
                let t = start.elapsed().as_secs_f64() * 1000.0;
                first.get_or_insert(t);
                last = Some(t);
                chunks += 1;
            }
        }
        let total_ms = start.elapsed().as_secs_f64() * 1000.0;
        let first = first.ok_or_else(|| ProbeError::Other("the stream held no content".into()))?;
        Ok(Sample {
            total_ms,
            ttft_ms: Some(first),
            output_tokens: Some(chunks),
            stream_ms: last.map(|l| l - first),
        })
    }
}

/// Statistics of successful samples, with the first kept apart.
pub fn latency_stats(samples: &[f64], first_ms: Option<f64>) -> Option<LatencyStats> {
    let fit = fit_lognormal(samples)?;
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let round = |x: f64| (x * 1e4).round() / 1e4;
    Some(LatencyStats {
        count: samples.len() as u32,
        mean: samples.iter().sum::<f64>() / samples.len() as f64,
        p50: quantile_sorted(&sorted, 0.5),
        p95: quantile_sorted(&sorted, 0.95),
        p99: quantile_sorted(&sorted, 0.99),
        first_ms,
        fit: DistWire {
            median: Some(round(fit.median())),
            p95: Some(round(fit.p95())),
            ..DistWire::of(DistKind::Lognormal)
        },
        fit_mu: fit.mu,
        fit_sigma: fit.sigma,
        ks_statistic: fit.ks,
        samples_ms: samples.iter().map(|x| round(*x)).collect(),
    })
}

/// Everything measured against one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudMeasurement {
    pub rtt_ms: Option<LatencyStats>,
    pub ttft_ms: Option<LatencyStats>,
    pub output_tokens_per_s: Option<f64>,
    pub errors: ErrorCounts,
}

/// Makes `samples + 1` requests (the first kept apart), spread over `concurrency` threads each
/// with its own probe from `make_probe`. `progress` is called after each request.
pub fn measure(
    make_probe: &(dyn Fn() -> Box<dyn Probe + Send> + Sync),
    samples: usize,
    concurrency: usize,
    progress: &(dyn Fn() + Sync),
) -> CloudMeasurement {
    let mut first_probe = make_probe();
    let first = first_probe.request();
    progress();
    let per_thread: Vec<usize> = (0..concurrency.max(1))
        .map(|t| samples / concurrency.max(1) + usize::from(t < samples % concurrency.max(1)))
        .collect();
    // Thread 0 goes on with the first probe (its connection is warm); the others get new ones.
    let mut probes: Vec<Box<dyn Probe + Send>> = vec![first_probe];
    probes.extend((1..per_thread.len()).map(|_| make_probe()));
    let results: Vec<Result<Sample, ProbeError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = probes
            .into_iter()
            .zip(per_thread)
            .map(|(mut probe, n)| {
                scope.spawn(move || {
                    (0..n)
                        .map(|_| {
                            let r = probe.request();
                            progress();
                            r
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("probes do not panic")).collect()
    });
    summarize(first, results)
}

/// Turns request outcomes into statistics and error counts.
pub fn summarize(
    first: Result<Sample, ProbeError>,
    rest: Vec<Result<Sample, ProbeError>>,
) -> CloudMeasurement {
    let mut errors = ErrorCounts::default();
    let mut count = |e: &ProbeError| match e {
        ProbeError::Dns => errors.dns += 1,
        ProbeError::Connect => errors.connect += 1,
        ProbeError::Timeout => errors.timeout += 1,
        ProbeError::Status(code) => *errors.http_status.entry(code.to_string()).or_insert(0) += 1,
        ProbeError::Other(_) => errors.other += 1,
    };
    let first_sample = match &first {
        Ok(s) => Some(*s),
        Err(e) => {
            count(e);
            None
        }
    };
    let ok: Vec<Sample> = rest
        .iter()
        .filter_map(|r| match r {
            Ok(s) => Some(*s),
            Err(e) => {
                count(e);
                None
            }
        })
        .collect();
    let totals: Vec<f64> = ok.iter().map(|s| s.total_ms).collect();
    let ttfts: Vec<f64> = ok.iter().filter_map(|s| s.ttft_ms).collect();
    let rates: Vec<f64> = ok
        .iter()
        .filter_map(|s| match (s.output_tokens, s.stream_ms) {
            (Some(n), Some(ms)) if n > 1 && ms > 0.0 => Some(f64::from(n - 1) / (ms / 1000.0)),
            _ => None,
        })
        .collect();
    CloudMeasurement {
        rtt_ms: latency_stats(&totals, first_sample.map(|s| s.total_ms)),
        ttft_ms: latency_stats(&ttfts, first_sample.and_then(|s| s.ttft_ms)),
        output_tokens_per_s: (!rates.is_empty()).then(|| crate::fit::median(&rates)),
        errors,
    }
}
