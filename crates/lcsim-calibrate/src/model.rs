//! Decoder-only transformer forward passes built from candle-core tensor ops: token embedding,
//! multi-head (grouped-query) attention with a KV cache, MLP (GELU, or SwiGLU for Llama-style
//! shapes), LayerNorm or RMSNorm, and the output projection of the last position.
//!
//! Weights are random unless a safetensors file is given: throughput depends on the shapes,
//! not on the values. Rotary position embeddings are left out; they are element-wise and cost
//! well under 1 % of a step's FLOPs.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor};

/// `(layers, d_model, heads, kv_heads, ffn, vocab, llama_style)` of a transformer.
pub type Dims = (usize, usize, usize, usize, usize, usize, bool);

/// Dimensions of a transformer.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeSpec {
    pub name: String,
    pub layers: usize,
    pub d_model: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub vocab: usize,
    /// SwiGLU MLP and RMSNorm (Llama family); otherwise GELU MLP and LayerNorm (GPT-2).
    pub llama_style: bool,
}

impl ShapeSpec {
    /// The named shapes: `gpt2-small`, `tinyllama-1.1b`, `llama3-8b` (published configs of
    /// GPT-2 small, TinyLlama-1.1B and Meta-Llama-3-8B), and `tiny` for tests.
    pub fn named(name: &str) -> Option<ShapeSpec> {
        let dims = match name {
            "gpt2-small" => (12, 768, 12, 12, 3072, 50257, false),
            "tinyllama-1.1b" => (22, 2048, 32, 4, 5632, 32000, true),
            "llama3-8b" => (32, 4096, 32, 8, 14336, 128_256, true),
            "tiny" => (2, 256, 4, 2, 1024, 2048, true),
            _ => return None,
        };
        Some(ShapeSpec::from_dims(name, dims))
    }

    /// A shape named `name` with these dimensions (not yet validated).
    pub fn from_dims(name: &str, dims: Dims) -> ShapeSpec {
        let (layers, d_model, heads, kv_heads, ffn, vocab, llama_style) = dims;
        ShapeSpec {
            name: name.to_string(),
            layers,
            d_model,
            heads,
            kv_heads,
            ffn,
            vocab,
            llama_style,
        }
    }

    pub const NAMES: [&'static str; 4] = ["gpt2-small", "tinyllama-1.1b", "llama3-8b", "tiny"];

    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads
    }

    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim()
    }

    /// Parameters, with an untied output projection.
    pub fn params(&self) -> u64 {
        let (d, kv, f) = (self.d_model as u64, self.kv_dim() as u64, self.ffn as u64);
        let attention = 2 * d * d + 2 * d * kv;
        let mlp = if self.llama_style { 3 * d * f } else { 2 * d * f };
        let per_layer = attention + mlp + 2 * d;
        2 * self.vocab as u64 * d + self.layers as u64 * per_layer + d
    }

    /// Bytes needed to run batches of `batch` at `context` tokens: weights, KV cache, and the
    /// largest activations (the MLP hidden state, attention scores and logits).
    pub fn memory_bytes(&self, dtype: DType, batch: usize, context: usize) -> u64 {
        let b = dtype.size_in_bytes() as u64;
        let kv = 2 * self.layers as u64 * batch as u64 * context as u64 * self.kv_dim() as u64 * b;
        let act = batch as u64
            * context as u64
            * (3 * self.ffn as u64 + self.heads as u64 * context as u64 + self.d_model as u64 * 4)
            * b;
        self.params() * b + kv + act + batch as u64 * self.vocab as u64 * 4
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.layers == 0
            || self.d_model == 0
            || self.heads == 0
            || self.ffn == 0
            || self.vocab == 0
        {
            return Err("every dimension must be positive".into());
        }
        // Far above any real model, and small enough that no size computed from them overflows.
        let bounds = [
            ("layers", self.layers, 1024),
            ("d_model", self.d_model, 65_536),
            ("heads", self.heads, 1024),
            ("kv_heads", self.kv_heads, 1024),
            ("ffn", self.ffn, 262_144),
            ("vocab", self.vocab, 4_194_304),
        ];
        if let Some((name, v, max)) = bounds.iter().find(|(_, v, max)| v > max) {
            return Err(format!("--{} is {v}; at most {max} is supported", name.replace('_', "-")));
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(format!(
                "d_model {} is not a multiple of heads {}",
                self.d_model, self.heads
            ));
        }
        if self.kv_heads == 0 || !self.heads.is_multiple_of(self.kv_heads) {
            return Err(format!(
                "heads {} is not a multiple of kv_heads {}",
                self.heads, self.kv_heads
            ));
        }
        Ok(())
    }
}

struct Layer {
    norm1: Tensor,
    wq: Tensor,
    wk: Tensor,
    wv: Tensor,
    wo: Tensor,
    norm2: Tensor,
    /// SwiGLU: gate, up, down. GELU: up, down (gate unused).
    w_gate: Option<Tensor>,
    w_up: Tensor,
    w_down: Tensor,
}

/// A transformer ready to run on one device.
pub struct Transformer {
    pub spec: ShapeSpec,
    pub device: Device,
    pub dtype: DType,
    embedding: Tensor,
    layers: Vec<Layer>,
    final_norm: Tensor,
    lm_head: Tensor,
}

impl std::fmt::Debug for Transformer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transformer")
            .field("spec", &self.spec)
            .field("dtype", &self.dtype)
            .finish_non_exhaustive()
    }
}

/// Per-layer keys and values, `(batch, kv_heads, positions, head_dim)`.
#[derive(Debug, Clone)]
pub struct KvCache {
    pub layers: Vec<(Tensor, Tensor)>,
}

impl KvCache {
    pub fn positions(&self) -> usize {
        self.layers.first().map_or(0, |(k, _)| k.dims()[2])
    }
}

type Result<T> = candle_core::Result<T>;

impl Transformer {
    /// Random weights, normal with standard deviation 0.02 (GPT-2's initialization).
    pub fn random(spec: &ShapeSpec, device: &Device, dtype: DType) -> Result<Self> {
        let w = |rows: usize, cols: usize| -> Result<Tensor> {
            Tensor::randn(0f32, 0.02, (rows, cols), device)?.to_dtype(dtype)
        };
        let ones = |n: usize| Tensor::ones(n, dtype, device);
        let (d, kv, f) = (spec.d_model, spec.kv_dim(), spec.ffn);
        let layers = (0..spec.layers)
            .map(|_| {
                Ok(Layer {
                    norm1: ones(d)?,
                    wq: w(d, d)?,
                    wk: w(d, kv)?,
                    wv: w(d, kv)?,
                    wo: w(d, d)?,
                    norm2: ones(d)?,
                    w_gate: if spec.llama_style { Some(w(d, f)?) } else { None },
                    w_up: w(d, f)?,
                    w_down: w(f, d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Transformer {
            spec: spec.clone(),
            device: device.clone(),
            dtype,
            embedding: w(spec.vocab, d)?,
            layers,
            final_norm: ones(d)?,
            lm_head: w(d, spec.vocab)?,
        })
    }

    /// Weights from a safetensors file with Hugging Face Llama names
    /// (`model.embed_tokens.weight`, `model.layers.{i}.self_attn.q_proj.weight`, …,
    /// `model.norm.weight`, `lm_head.weight`). Linear weights are stored `(out, in)` and are
    /// transposed here. Every tensor's shape is checked against `spec`.
    pub fn from_safetensors(
        spec: &ShapeSpec,
        path: &Path,
        device: &Device,
        dtype: DType,
    ) -> std::result::Result<Self, String> {
        if !spec.llama_style {
            return Err("safetensors loading supports Llama-style shapes (SwiGLU, RMSNorm)".into());
        }
        let mut tensors: HashMap<String, Tensor> = candle_core::safetensors::load(path, device)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut take = |name: String,
                        shape: &[usize],
                        transpose: bool|
         -> std::result::Result<Tensor, String> {
            let t = tensors
                .remove(&name)
                .ok_or_else(|| format!("{}: no tensor `{name}`", path.display()))?;
            let t = if transpose {
                t.t().and_then(|t| t.contiguous()).map_err(|e| e.to_string())?
            } else {
                t
            };
            if t.dims() != shape {
                return Err(format!(
                    "{}: `{name}` has shape {:?}, the shape needs {shape:?}",
                    path.display(),
                    t.dims()
                ));
            }
            t.to_dtype(dtype).map_err(|e| e.to_string())
        };
        let (d, kv, f) = (spec.d_model, spec.kv_dim(), spec.ffn);
        let embedding = take("model.embed_tokens.weight".into(), &[spec.vocab, d], false)?;
        let mut layers = Vec::new();
        for i in 0..spec.layers {
            let p = format!("model.layers.{i}");
            layers.push(Layer {
                norm1: take(format!("{p}.input_layernorm.weight"), &[d], false)?,
                wq: take(format!("{p}.self_attn.q_proj.weight"), &[d, d], true)?,
                wk: take(format!("{p}.self_attn.k_proj.weight"), &[d, kv], true)?,
                wv: take(format!("{p}.self_attn.v_proj.weight"), &[d, kv], true)?,
                wo: take(format!("{p}.self_attn.o_proj.weight"), &[d, d], true)?,
                norm2: take(format!("{p}.post_attention_layernorm.weight"), &[d], false)?,
                w_gate: Some(take(format!("{p}.mlp.gate_proj.weight"), &[d, f], true)?),
                w_up: take(format!("{p}.mlp.up_proj.weight"), &[d, f], true)?,
                w_down: take(format!("{p}.mlp.down_proj.weight"), &[f, d], true)?,
            });
        }
        let final_norm = take("model.norm.weight".into(), &[d], false)?;
        let lm_head = take("lm_head.weight".into(), &[d, spec.vocab], true)?;
        Ok(Transformer {
            spec: spec.clone(),
            device: device.clone(),
            dtype,
            embedding,
            layers,
            final_norm,
            lm_head,
        })
    }

    fn norm(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        let eps = 1e-5;
        let x = if self.spec.llama_style {
            let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
            x.broadcast_div(&(ms + eps)?.sqrt()?)?
        } else {
            let mean = x.mean_keepdim(D::Minus1)?;
            let centered = x.broadcast_sub(&mean)?;
            let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
            centered.broadcast_div(&(var + eps)?.sqrt()?)?
        };
        x.broadcast_mul(weight)
    }

    fn softmax_last(x: &Tensor) -> Result<Tensor> {
        let max = x.max_keepdim(D::Minus1)?;
        let e = x.broadcast_sub(&max)?.exp()?;
        e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
    }

    /// An empty cache for `batch` sequences.
    pub fn empty_cache(&self, batch: usize) -> Result<KvCache> {
        let shape = (batch, self.spec.kv_heads, 0, self.spec.head_dim());
        let z = Tensor::zeros(shape, self.dtype, &self.device)?;
        Ok(KvCache { layers: (0..self.spec.layers).map(|_| (z.clone(), z.clone())).collect() })
    }

    /// A cache already holding `positions` random keys and values, as if that many tokens had
    /// been processed (for timing decode steps at a given context length).
    pub fn filled_cache(&self, batch: usize, positions: usize) -> Result<KvCache> {
        let shape = (batch, self.spec.kv_heads, positions, self.spec.head_dim());
        let layers = (0..self.spec.layers)
            .map(|_| {
                let k = Tensor::randn(0f32, 1.0, shape, &self.device)?.to_dtype(self.dtype)?;
                let v = Tensor::randn(0f32, 1.0, shape, &self.device)?.to_dtype(self.dtype)?;
                Ok((k, v))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache { layers })
    }

    /// Runs `tokens` (`(batch, new)`, u32) through the model, appending to `cache`; returns the
    /// logits of the last position, `(batch, vocab)`.
    pub fn forward(&self, tokens: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let (batch, new) = tokens.dims2()?;
        let (h, kvh, hd) = (self.spec.heads, self.spec.kv_heads, self.spec.head_dim());
        let past = cache.positions();
        let mut x = self.embedding.index_select(&tokens.flatten_all()?, 0)?.reshape((
            batch,
            new,
            self.spec.d_model,
        ))?;
        let mask = if new > 1 {
            // Position i of the new tokens sees the past and new positions ≤ i.
            let m: Vec<f32> = (0..new)
                .flat_map(|i| {
                    (0..past + new).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 })
                })
                .collect();
            Some(Tensor::from_vec(m, (new, past + new), &self.device)?.to_dtype(self.dtype)?)
        } else {
            None
        };
        for (layer, (k_cache, v_cache)) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let y = self.norm(&x, &layer.norm1)?;
            let q = y
                .broadcast_matmul(&layer.wq)?
                .reshape((batch, new, h, hd))?
                .transpose(1, 2)?
                .contiguous()?;
            let k =
                y.broadcast_matmul(&layer.wk)?.reshape((batch, new, kvh, hd))?.transpose(1, 2)?;
            let v =
                y.broadcast_matmul(&layer.wv)?.reshape((batch, new, kvh, hd))?.transpose(1, 2)?;
            *k_cache = Tensor::cat(&[&*k_cache, &k], 2)?.contiguous()?;
            *v_cache = Tensor::cat(&[&*v_cache, &v], 2)?.contiguous()?;
            let total = past + new;
            // Grouped-query attention: each key/value head serves heads/kv_heads query heads.
            let repeat = |t: &Tensor| -> Result<Tensor> {
                if h == kvh {
                    return Ok(t.clone());
                }
                t.unsqueeze(2)?
                    .expand((batch, kvh, h / kvh, total, hd))?
                    .reshape((batch, h, total, hd))
            };
            let (keys, values) = (repeat(k_cache)?, repeat(v_cache)?);
            let mut scores = (q.matmul(&keys.t()?.contiguous()?)? / (hd as f64).sqrt())?;
            if let Some(m) = &mask {
                scores = scores.broadcast_add(m)?;
            }
            let attention = Self::softmax_last(&scores)?.matmul(&values.contiguous()?)?;
            let attention = attention.transpose(1, 2)?.reshape((batch, new, self.spec.d_model))?;
            x = (x + attention.broadcast_matmul(&layer.wo)?)?;
            let y = self.norm(&x, &layer.norm2)?;
            let hidden = match &layer.w_gate {
                Some(gate) => {
                    (y.broadcast_matmul(gate)?.silu()? * y.broadcast_matmul(&layer.w_up)?)?
                }
                None => y.broadcast_matmul(&layer.w_up)?.gelu()?,
            };
            x = (x + hidden.broadcast_matmul(&layer.w_down)?)?;
        }
        let last = x.narrow(1, new - 1, 1)?.squeeze(1)?;
        self.norm(&last, &self.final_norm)?.matmul(&self.lm_head)
    }

    /// Token ids `(batch, len)` for timing (their values do not matter).
    pub fn dummy_tokens(&self, batch: usize, len: usize) -> Result<Tensor> {
        let ids: Vec<u32> = (0..batch * len).map(|i| (i * 7919 % self.spec.vocab) as u32).collect();
        Tensor::from_vec(ids, (batch, len), &self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_parameter_counts() {
        // Untied output projection: GPT-2 small 124.4 M + 38.6 M = 163 M (the H200 reference
        // profile lists 162.1 M without norms' biases); TinyLlama 1.10 B; Llama 3 8B 8.03 B.
        let p = |n| ShapeSpec::named(n).unwrap().params() as f64;
        assert!((p("gpt2-small") / 162.1e6 - 1.0).abs() < 0.01);
        assert!((p("tinyllama-1.1b") / 1.100e9 - 1.0).abs() < 0.01);
        assert!((p("llama3-8b") / 8.030e9 - 1.0).abs() < 0.001);
    }

    #[test]
    fn prefill_then_decode_grows_the_cache() {
        let spec = ShapeSpec::named("tiny").unwrap();
        let m = Transformer::random(&spec, &Device::Cpu, DType::F32).unwrap();
        let mut cache = m.empty_cache(2).unwrap();
        let logits = m.forward(&m.dummy_tokens(2, 5).unwrap(), &mut cache).unwrap();
        assert_eq!(logits.dims(), &[2, spec.vocab]);
        assert_eq!(cache.positions(), 5);
        m.forward(&m.dummy_tokens(2, 1).unwrap(), &mut cache).unwrap();
        assert_eq!(cache.positions(), 6);
        let v: Vec<f32> = logits.flatten_all().unwrap().to_vec1().unwrap();
        assert!(v.iter().all(|x| x.is_finite()));
    }

    /// Causal masking: the last position's logits of a prefill equal those of feeding the same
    /// tokens one at a time.
    #[test]
    fn prefill_matches_incremental_decoding() {
        let spec = ShapeSpec::named("tiny").unwrap();
        let m = Transformer::random(&spec, &Device::Cpu, DType::F32).unwrap();
        let tokens = m.dummy_tokens(1, 4).unwrap();
        let mut c1 = m.empty_cache(1).unwrap();
        let all = m.forward(&tokens, &mut c1).unwrap();
        let mut c2 = m.empty_cache(1).unwrap();
        let mut last = None;
        for i in 0..4 {
            last = Some(m.forward(&tokens.narrow(1, i, 1).unwrap(), &mut c2).unwrap());
        }
        let diff = (all - last.unwrap()).unwrap().abs().unwrap().max_keepdim(1).unwrap();
        let d: Vec<f32> = diff.flatten_all().unwrap().to_vec1().unwrap();
        assert!(d[0] < 1e-4, "{d:?}");
    }

    #[test]
    fn safetensors_round_trip() {
        let spec = ShapeSpec::named("tiny").unwrap();
        let dir = std::env::temp_dir().join(format!("lcsim-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tiny.safetensors");
        let dev = Device::Cpu;
        let mut map: HashMap<String, Tensor> = HashMap::new();
        let r = |shape: (usize, usize)| Tensor::randn(0f32, 0.02, shape, &dev).unwrap();
        let (d, kv, f) = (spec.d_model, spec.kv_dim(), spec.ffn);
        map.insert("model.embed_tokens.weight".into(), r((spec.vocab, d)));
        for i in 0..spec.layers {
            let p = format!("model.layers.{i}");
            map.insert(
                format!("{p}.input_layernorm.weight"),
                Tensor::ones(d, DType::F32, &dev).unwrap(),
            );
            map.insert(
                format!("{p}.post_attention_layernorm.weight"),
                Tensor::ones(d, DType::F32, &dev).unwrap(),
            );
            map.insert(format!("{p}.self_attn.q_proj.weight"), r((d, d)));
            map.insert(format!("{p}.self_attn.k_proj.weight"), r((kv, d)));
            map.insert(format!("{p}.self_attn.v_proj.weight"), r((kv, d)));
            map.insert(format!("{p}.self_attn.o_proj.weight"), r((d, d)));
            map.insert(format!("{p}.mlp.gate_proj.weight"), r((f, d)));
            map.insert(format!("{p}.mlp.up_proj.weight"), r((f, d)));
            map.insert(format!("{p}.mlp.down_proj.weight"), r((d, f)));
        }
        map.insert("model.norm.weight".into(), Tensor::ones(d, DType::F32, &dev).unwrap());
        map.insert("lm_head.weight".into(), r((spec.vocab, d)));
        candle_core::safetensors::save(&map, &path).unwrap();
        let m = Transformer::from_safetensors(&spec, &path, &dev, DType::F32).unwrap();
        let mut cache = m.empty_cache(1).unwrap();
        assert_eq!(
            m.forward(&m.dummy_tokens(1, 3).unwrap(), &mut cache).unwrap().dims(),
            &[1, spec.vocab]
        );
        map.remove("lm_head.weight");
        candle_core::safetensors::save(&map, &path).unwrap();
        let err = Transformer::from_safetensors(&spec, &path, &dev, DType::F32).unwrap_err();
        assert!(err.contains("lm_head.weight"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
