//! The step model of continuous (iteration-level) batching, `scheduler = "continuous"`, and of
//! the static token-latency model's linear terms: what one iteration of an LLM server costs.

use crate::check::non_negative;
use crate::error::Problem;
use serde::{Deserialize, Serialize};

/// Continuous batching as LLM servers run it (Orca, vLLM, llama.cpp slots).
///
/// Each server runs iterations back to back. At each iteration boundary, waiting requests are
/// admitted first come, first served while fewer than `max_num_seqs` run and the KV cache can
/// hold their prompt. An iteration prefills newly admitted prompts (in chunks of at most
/// `max_batched_tokens` less one token per decoding sequence, if set) and decodes one token for
/// every running sequence; it takes
/// `overhead_ms + prefill_ms_per_token · prefill tokens + [b ≥ 1] decode_ms(b) +
/// attention_ms_per_context_token · KV tokens read`, where `b` counts the sequences that decode
/// and the KV tokens read are their context lengths. A request's first token comes at the end of
/// the iteration that completes its prefill, each later one at the end of each later iteration;
/// it leaves with its last. When a decoding sequence cannot grow in the KV cache, the most
/// recently admitted sequence is preempted and later recomputed (prompt plus the tokens it had
/// generated). Invariant: the KV tokens in use never exceed `kv_cache_tokens`.
#[derive(Debug, Clone, PartialEq)]
pub struct Continuous {
    pub max_num_seqs: u32,
    pub kv_cache_tokens: u64,
    pub max_batched_tokens: Option<u64>,
    pub prefill_ms_per_token: f64,
    /// One decode step for `b` sequences: `base + per_batch · b`, unless the table below
    /// gives the step for that `b`.
    pub decode_ms: Linear,
    /// Measured decode steps for `b = 1, 2, …` (`decode_ms_by_batch`; a server profile's
    /// `fit.decode_ms_by_batch`): real kernels are not linear in the batch (llama.cpp on AVX2
    /// decodes 3 sequences slower than 4). Beyond the table, the last entry plus
    /// `per_batch` per extra sequence.
    pub decode_ms_by_batch: DecodeTable,
    pub attention_ms_per_context_token: f64,
    /// Prefill attention: each prefilled token costs this much more per token of context
    /// before it (a chunk of `c` tokens at offset `o` adds `c·o + c(c+1)/2` such pairs), so a
    /// whole prompt of `p` tokens adds `p(p+1)/2` of them. Real prefill time per token grows
    /// with the prompt (llama.cpp on a CPU: about 1 ms per token at 128 tokens, 1.5 at 1536).
    pub prefill_attention_ms_per_context_token: f64,
    /// Paid once more by an iteration that prefills anything: a new batch shape (llama.cpp
    /// rebuilds its compute graph; steady decode iterations reuse theirs).
    pub prefill_overhead_ms: f64,
    pub overhead_ms: f64,
}

/// Decode-step times by batch size, `b = 1..=len`, in milliseconds; empty by default. Shared
/// (`Arc`), so that cloning the step model costs no allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeTable {
    ms: Option<std::sync::Arc<[f64]>>,
}

impl DecodeTable {
    /// At most this many steps (one per batch size).
    pub const MAX: usize = 4096;
    pub const NONE: DecodeTable = DecodeTable { ms: None };

    /// A table of up to [`DecodeTable::MAX`] values (the rest are dropped).
    pub fn new(values: &[f64]) -> DecodeTable {
        let n = values.len().min(Self::MAX);
        DecodeTable { ms: (n > 0).then(|| values[..n].into()) }
    }

    #[inline]
    pub fn values(&self) -> &[f64] {
        self.ms.as_deref().unwrap_or(&[])
    }
}

impl Default for DecodeTable {
    fn default() -> Self {
        DecodeTable::NONE
    }
}

impl Continuous {
    /// The step model a server profile measured (`lcsim calibrate server`), with the given
    /// slots, KV capacity and token budget. A term a noisy fit made negative is used as 0.
    pub fn from_server(
        p: &crate::profile::ServerProfile,
        max_num_seqs: u32,
        kv_cache_tokens: u64,
        max_batched_tokens: Option<u64>,
    ) -> Continuous {
        let f = p.fit;
        Continuous {
            max_num_seqs,
            kv_cache_tokens,
            max_batched_tokens,
            prefill_ms_per_token: f.prefill_ms_per_token.max(0.0),
            decode_ms: Linear {
                base: f.decode_base_ms.max(0.0),
                per_batch: f.decode_ms_per_batch.max(0.0),
            },
            decode_ms_by_batch: DecodeTable::new(
                &p.decode_ms_by_batch.iter().map(|v| v.max(0.0)).collect::<Vec<_>>(),
            ),
            attention_ms_per_context_token: f.attention_ms_per_context_token.max(0.0),
            prefill_attention_ms_per_context_token: f
                .prefill_attention_ms_per_context_token
                .max(0.0),
            prefill_overhead_ms: f.prefill_overhead_ms.max(0.0),
            overhead_ms: f.overhead_ms.max(0.0),
        }
    }

    /// The batch-dependent part of a decode step of `b ≥ 1` sequences.
    #[inline]
    pub fn decode_batch_ms(&self, b: u32) -> f64 {
        let t = self.decode_ms_by_batch.values();
        match t.len() {
            0 => self.decode_ms.at(b),
            n if (b as usize) <= n => t[b.max(1) as usize - 1],
            n => t[n - 1] + self.decode_ms.per_batch * f64::from(b - n as u32),
        }
    }

    /// Time of one pure-decode iteration of `b` sequences whose contexts sum to `context`.
    #[inline]
    pub fn decode_step_ms(&self, b: u32, context: f64) -> f64 {
        self.overhead_ms + self.decode_batch_ms(b) + self.attention_ms_per_context_token * context
    }

    /// Mean time a request occupies one of a full server's `max_num_seqs` slots, plus the
    /// prefill it takes from the whole server: the service time of the offered-load check.
    pub fn mean_service_ms(&self, prompt: f64, output: f64) -> f64 {
        let b = self.max_num_seqs;
        let context = f64::from(b) * (prompt + output / 2.0);
        output * self.decode_step_ms(b, context)
            + f64::from(b) * (self.prefill_ms(prompt) + self.prefill_overhead_ms)
    }

    /// Prefill time of a whole prompt of `prompt` tokens, without the iteration overhead.
    pub fn prefill_ms(&self, prompt: f64) -> f64 {
        prompt * self.prefill_ms_per_token
            + self.prefill_attention_ms_per_context_token * prompt * (prompt + 1.0) / 2.0
    }
}

/// `base + per_batch · batch`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linear {
    pub base: f64,
    pub per_batch: f64,
}

impl Linear {
    #[inline]
    pub fn at(&self, batch: u32) -> f64 {
        self.base + self.per_batch * f64::from(batch)
    }
}

/// The keys that apply only to `scheduler = "continuous"`.
pub(crate) const CONTINUOUS_KEYS: [&str; 7] = [
    "max_num_seqs",
    "kv_cache_tokens",
    "max_batched_tokens",
    "attention_ms_per_context_token",
    "decode_ms_by_batch",
    "prefill_attention_ms_per_context_token",
    "prefill_overhead_ms",
];

pub(crate) fn linear(key: &str, w: LinearWire) -> Result<Linear, Problem> {
    let l = match w {
        LinearWire::Constant(v) => Linear { base: v, per_batch: 0.0 },
        LinearWire::Linear(t) => Linear { base: t.base, per_batch: t.per_batch },
    };
    if let LinearWire::Linear(t) = w {
        let context_keys = t.per_context.is_some() || t.per_batch_context.is_some();
        if context_keys && !key.ends_with("decode_ms_per_token") {
            return Err(Problem::new(
                format!("{key}.per_context"),
                "`per_context` and `per_batch_context` apply to `decode_ms_per_token` only",
            ));
        }
    }
    non_negative(&format!("{key}.base"), l.base)?;
    non_negative(&format!("{key}.per_batch"), l.per_batch)?;
    Ok(l)
}

// The TOML form of the table (serde), validated above.

/// `base + per_batch · batch`, in milliseconds; a bare number means a constant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LinearWire {
    Constant(f64),
    Linear(LinearTable),
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearTable {
    pub base: f64,
    pub per_batch: f64,
    /// Decode only: added step time per token of context…
    pub per_context: Option<f64>,
    /// …plus this much per token of context and per request in the batch.
    pub per_batch_context: Option<f64>,
}
