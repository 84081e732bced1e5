//! One streamed completion against an OpenAI-compatible server, timed per token event.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::time::{Duration, Instant};

use crate::cloud::{ProbeError, agent, classify, next_sse_data};

/// A streamed completion as the client saw it. Times are milliseconds since the run's clock
/// started (the `Instant` passed to [`ServerClient::stream`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    pub sent_ms: f64,
    /// When each chunk that carried text arrived (the first is the first token).
    pub token_times_ms: Vec<f64>,
    /// When the stream ended.
    pub end_ms: f64,
    /// As the server counted them.
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    /// The server's own prefill time (`timings.prompt_ms`), where it reports one.
    pub server_prompt_ms: Option<f64>,
}

impl StreamRecord {
    pub fn first_token_ms(&self) -> f64 {
        self.token_times_ms[0]
    }

    pub fn last_token_ms(&self) -> f64 {
        *self.token_times_ms.last().expect("a record has at least one token")
    }

    pub fn ttft_ms(&self) -> f64 {
        self.first_token_ms() - self.sent_ms
    }

    pub fn e2e_ms(&self) -> f64 {
        self.last_token_ms() - self.sent_ms
    }

    /// Mean gap between the later tokens; `None` for a one-token answer.
    pub fn tpot_ms(&self) -> Option<f64> {
        (self.output_tokens > 1).then(|| {
            (self.last_token_ms() - self.first_token_ms()) / f64::from(self.output_tokens - 1)
        })
    }
}

/// What `/props` reports, where the server has it (llama-server does).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Props {
    pub slots: Option<u32>,
    /// Total KV capacity (llama.cpp `-c`).
    pub n_ctx: Option<u64>,
    pub model: Option<String>,
    pub build: Option<String>,
    pub settings: BTreeMap<String, String>,
}

/// An OpenAI-compatible server at `base` (for example `http://127.0.0.1:8080`; a trailing
/// `/v1` is accepted).
#[derive(Debug, Clone)]
pub struct ServerClient {
    agent: ureq::Agent,
    base: String,
    model: String,
}

impl ServerClient {
    pub fn new(url: &str, model: Option<&str>, timeout: Duration) -> Self {
        let base = url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base).to_string();
        ServerClient { agent: agent(timeout), base, model: model.unwrap_or("default").to_string() }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /health` (or `/v1/models` where there is none): one round trip that does no model
    /// work, in milliseconds.
    pub fn ping_ms(&self) -> Result<f64, ProbeError> {
        let start = Instant::now();
        let mut response =
            self.agent.get(format!("{}/health", self.base)).call().map_err(classify)?;
        let mut status = response.status().as_u16();
        response.body_mut().read_to_vec().map_err(classify)?;
        if status == 404 {
            let mut r =
                self.agent.get(format!("{}/v1/models", self.base)).call().map_err(classify)?;
            status = r.status().as_u16();
            r.body_mut().read_to_vec().map_err(classify)?;
        }
        if status >= 400 {
            return Err(ProbeError::Status(status));
        }
        Ok(start.elapsed().as_secs_f64() * 1000.0)
    }

    /// `GET /props`; `None` when the server has no such endpoint.
    pub fn props(&self) -> Option<Props> {
        let mut response = self.agent.get(format!("{}/props", self.base)).call().ok()?;
        if response.status().as_u16() >= 400 {
            return None;
        }
        let v: serde_json::Value =
            serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()?;
        let gen_ = &v["default_generation_settings"];
        let mut settings = BTreeMap::new();
        for key in ["total_slots", "build_info", "model_path", "chat_template_caps"] {
            if let Some(x) = v.get(key).filter(|x| !x.is_object()) {
                settings.insert(key.to_string(), flat(x));
            }
        }
        if let Some(obj) = gen_.as_object() {
            for (k, x) in obj {
                if !x.is_object() && !x.is_array() {
                    settings.insert(format!("default_generation_settings.{k}"), flat(x));
                }
            }
        }
        let slots = v["total_slots"].as_u64().map(|n| n.min(u64::from(u32::MAX)) as u32);
        // llama-server reports the context of one slot; the KV cache holds all of them.
        let n_ctx = gen_["n_ctx"].as_u64().map(|per_slot| per_slot * u64::from(slots.unwrap_or(1)));
        Some(Props {
            slots,
            n_ctx,
            model: v["model_path"].as_str().map(str::to_string),
            build: v["build_info"].as_str().map(str::to_string),
            settings,
        })
    }

    /// A streamed completion of `prompt` (token ids) generating exactly `max_tokens` tokens
    /// (`ignore_eos`), with the server's prompt cache off. Times are taken against `clock`.
    pub fn stream(
        &self,
        prompt: &[u32],
        max_tokens: u32,
        clock: Instant,
    ) -> Result<StreamRecord, ProbeError> {
        let body = serde_json::json!({
            "model": self.model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "stream": true,
            "stream_options": { "include_usage": true },
            "ignore_eos": true,
            "cache_prompt": false,
            "temperature": 0.0,
        })
        .to_string();
        let ms = || clock.elapsed().as_secs_f64() * 1000.0;
        let sent_ms = ms();
        let response = self
            .agent
            .post(format!("{}/v1/completions", self.base))
            .header("Content-Type", "application/json")
            .send(body)
            .map_err(classify)?;
        let status = response.status().as_u16();
        if status >= 400 {
            return Err(ProbeError::Status(status));
        }
        let mut reader = BufReader::new(response.into_body().into_reader());
        let mut token_times_ms = Vec::new();
        let (mut usage, mut server_prompt_ms, mut text) = (None, None, String::new());
        let (mut buf, mut events) = (Vec::new(), 0u32);
        while let Some(data) = next_sse_data(&mut reader, &mut buf)? {
            let t = ms();
            events += 1;
            if data == "[DONE]" {
                break;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&data) else { continue };
            let choice = &v["choices"][0];
            let piece = choice["text"].as_str().or_else(|| choice["delta"]["content"].as_str());
            if let Some(p) = piece.filter(|p| !p.is_empty()) {
                token_times_ms.push(t);
                text.push_str(p);
            }
            if let (Some(p), Some(c)) =
                (v["usage"]["prompt_tokens"].as_u64(), v["usage"]["completion_tokens"].as_u64())
            {
                usage = Some((p as u32, c as u32));
            }
            if let Some(p) = v["timings"]["prompt_ms"].as_f64() {
                server_prompt_ms = Some(p);
            }
        }
        let end_ms = ms();
        if events == 0 {
            return Err(ProbeError::Other(
                "not a streaming endpoint: the response held no server-sent events".into(),
            ));
        }
        if token_times_ms.is_empty() {
            return Err(ProbeError::Other("the stream held no tokens".into()));
        }
        let (prompt_tokens, output_tokens) = match usage {
            Some(u) => u,
            None => (prompt.len() as u32, self.count_tokens(&text)?),
        };
        Ok(StreamRecord {
            sent_ms,
            token_times_ms,
            end_ms,
            prompt_tokens,
            output_tokens: output_tokens.max(1),
            server_prompt_ms,
        })
    }

    /// Tokens in `text` as the server counts them (`POST /tokenize`).
    pub fn count_tokens(&self, text: &str) -> Result<u32, ProbeError> {
        let body = serde_json::json!({ "content": text, "add_special": false }).to_string();
        let mut response = self
            .agent
            .post(format!("{}/tokenize", self.base))
            .header("Content-Type", "application/json")
            .send(body)
            .map_err(classify)?;
        if response.status().as_u16() >= 400 {
            return Err(ProbeError::Other(
                "the server reports no usage and has no /tokenize: tokens cannot be counted".into(),
            ));
        }
        let text = response.body_mut().read_to_string().map_err(classify)?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            ProbeError::Other("/tokenize answered with something other than JSON".into())
        })?;
        v["tokens"]
            .as_array()
            .map(|t| t.len() as u32)
            .ok_or_else(|| ProbeError::Other("/tokenize answered without a `tokens` array".into()))
    }
}

fn flat(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
