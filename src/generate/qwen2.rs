//! Qwen2 forward pass, with dense matrix products for the prompt.
//!
//! This mirrors candle-transformers' `quantized_qwen2` (same weights, same maths) with one
//! change: when a forward pass covers many positions (the prompt), each weight matrix is
//! dequantized to f32 for that pass and multiplied with candle's dense GEMM, about 4x faster
//! on CPU than its quantized kernels, which shine only for one position at a time. Weights
//! stay quantized in memory; answer tokens use the quantized kernels as before. The prompt
//! pass dominates the latency of `ask`, whose prompts carry several passages.

use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{Embedding, RmsNorm};
use candle_transformers::utils::{build_causal_mask, repeat_kv};

/// From this many positions per pass on, matrices are dequantized and multiplied densely:
/// dequantizing costs about as much as a handful of quantized rows.
pub(crate) const DENSE_MIN_ROWS: usize = 16;

/// A weight matrix kept quantized, multiplied densely for long inputs.
struct Linear {
    weight: Arc<QTensor>,
    quantized: QMatMul,
}

impl Linear {
    fn new(weight: QTensor) -> Result<Linear> {
        let weight = Arc::new(weight);
        Ok(Linear {
            quantized: QMatMul::from_arc(weight.clone())?,
            weight,
        })
    }

    /// `dense`: dequantize and use dense GEMM (worth it for many rows).
    fn forward(&self, x: &Tensor, dense: bool) -> Result<Tensor> {
        if dense && matches!(self.quantized, QMatMul::QTensor(_)) {
            let w = self.weight.dequantize(x.device())?;
            x.broadcast_matmul(&w.t()?)
        } else {
            self.quantized.forward(x)
        }
    }
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_bias: Tensor,
    k_bias: Tensor,
    v_bias: Tensor,
    attn_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    ffn_norm: RmsNorm,
    cache: Option<(Tensor, Tensor)>,
}

/// A Qwen2 model read from GGUF tensors.
pub(crate) struct Qwen2 {
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Linear,
    cos: Tensor,
    sin: Tensor,
    dims: Dims,
    neg_inf: Tensor,
    /// Passes over at least this many positions use dense products.
    pub(crate) dense_min_rows: usize,
}

/// Attention shape.
#[derive(Debug, Clone, Copy)]
struct Dims {
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
}

impl Qwen2 {
    pub(crate) fn from_gguf<R: std::io::Read + std::io::Seek>(
        ct: &Content,
        reader: &mut R,
        device: &Device,
    ) -> Result<Qwen2> {
        let md = |key: &str| match ct.metadata.get(key) {
            Some(v) => Ok(v),
            None => candle_core::bail!("cannot find {key} in metadata"),
        };
        let n_head = md("qwen2.attention.head_count")?.to_u32()? as usize;
        let n_kv_head = md("qwen2.attention.head_count_kv")?.to_u32()? as usize;
        let hidden = md("qwen2.embedding_length")?.to_u32()? as usize;
        let context = md("qwen2.context_length")?.to_u32()? as usize;
        let n_layer = md("qwen2.block_count")?.to_u32()? as usize;
        let eps = md("qwen2.attention.layer_norm_rms_epsilon")?.to_f32()? as f64;
        let rope_base = md("qwen2.rope.freq_base").and_then(|v| v.to_f32()).unwrap_or(10_000.0);
        let head_dim = hidden / n_head;

        let mut tensor = |name: &str| ct.tensor(reader, name, device);
        let norm = |t: QTensor| -> Result<RmsNorm> { Ok(RmsNorm::new(t.dequantize(device)?, eps)) };
        let embed = Embedding::new(tensor("token_embd.weight")?.dequantize(device)?, hidden);
        let output = match tensor("output.weight") {
            Ok(w) => Linear::new(w)?,
            // Tied embeddings.
            Err(_) => Linear::new(tensor("token_embd.weight")?)?,
        };
        let final_norm = norm(tensor("output_norm.weight")?)?;
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let mut t = |s: &str| tensor(&format!("blk.{i}.{s}"));
            layers.push(Layer {
                q: Linear::new(t("attn_q.weight")?)?,
                k: Linear::new(t("attn_k.weight")?)?,
                v: Linear::new(t("attn_v.weight")?)?,
                o: Linear::new(t("attn_output.weight")?)?,
                q_bias: t("attn_q.bias")?.dequantize(device)?,
                k_bias: t("attn_k.bias")?.dequantize(device)?,
                v_bias: t("attn_v.bias")?.dequantize(device)?,
                attn_norm: norm(t("attn_norm.weight")?)?,
                gate: Linear::new(t("ffn_gate.weight")?)?,
                up: Linear::new(t("ffn_up.weight")?)?,
                down: Linear::new(t("ffn_down.weight")?)?,
                ffn_norm: norm(t("ffn_norm.weight")?)?,
                cache: None,
            });
        }

        // RoPE tables for every position of the context (non-interleaved, as Qwen2 uses).
        let inv: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / rope_base.powf(i as f32 / head_dim as f32))
            .collect();
        let inv = Tensor::new(inv.as_slice(), device)?.reshape((1, head_dim / 2))?;
        let pos = Tensor::arange(0, context as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((context, 1))?;
        let angles = pos.matmul(&inv)?;
        Ok(Qwen2 {
            embed,
            layers,
            norm: final_norm,
            output,
            cos: angles.cos()?,
            sin: angles.sin()?,
            dims: Dims {
                n_head,
                n_kv_head,
                head_dim,
            },
            neg_inf: Tensor::new(f32::NEG_INFINITY, device)?,
            dense_min_rows: DENSE_MIN_ROWS,
        })
    }

    pub(crate) fn clear_kv_cache(&mut self) {
        for l in &mut self.layers {
            l.cache = None;
        }
    }

    /// Logits of the last position, shape `(batch, vocab)`; `index_pos` is the position of the
    /// first input token (the number of tokens already in the cache).
    pub(crate) fn forward(&mut self, ids: &Tensor, index_pos: usize) -> Result<Tensor> {
        let (batch, seq) = ids.dims2()?;
        let dense = batch * seq >= self.dense_min_rows;
        let mask = if seq == 1 {
            None
        } else {
            Some(build_causal_mask(seq, index_pos, ids.device())?)
        };
        let cos = self.cos.narrow(0, index_pos, seq)?;
        let sin = self.sin.narrow(0, index_pos, seq)?;
        let mut x = self.embed.forward(ids)?;
        for layer in &mut self.layers {
            let h = layer.attn_norm.forward(&x)?;
            let h = attention(
                layer,
                &h,
                mask.as_ref(),
                &cos,
                &sin,
                self.dims,
                &self.neg_inf,
                index_pos,
                dense,
            )?;
            x = (h + &x)?;
            let h = layer.ffn_norm.forward(&x)?;
            let h = (candle_nn::ops::silu(&layer.gate.forward(&h, dense)?)? * layer.up.forward(&h, dense)?)?;
            x = (layer.down.forward(&h, dense)? + &x)?;
        }
        // Only the last position is needed: skip the norm and vocabulary product for the rest.
        let x = self.norm.forward(&x.i((.., seq - 1..seq, ..))?)?;
        self.output.forward(&x, false)?.squeeze(1)
    }
}

/// Grouped-query attention with RoPE and the KV cache, as in `quantized_qwen2`.
#[allow(clippy::too_many_arguments)]
fn attention(
    layer: &mut Layer,
    x: &Tensor,
    mask: Option<&Tensor>,
    cos: &Tensor,
    sin: &Tensor,
    dims: Dims,
    neg_inf: &Tensor,
    index_pos: usize,
    dense: bool,
) -> Result<Tensor> {
    let (b, seq, hidden) = x.dims3()?;
    let split = |t: Tensor, heads: usize| -> Result<Tensor> {
        t.reshape((b, seq, heads, dims.head_dim))?.transpose(1, 2)?.contiguous()
    };
    let q = split(layer.q.forward(x, dense)?.broadcast_add(&layer.q_bias)?, dims.n_head)?;
    let k = split(layer.k.forward(x, dense)?.broadcast_add(&layer.k_bias)?, dims.n_kv_head)?;
    let v = split(layer.v.forward(x, dense)?.broadcast_add(&layer.v_bias)?, dims.n_kv_head)?;
    let q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
    let k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
    let (k, v) = match &layer.cache {
        Some((kc, vc)) if index_pos > 0 => (Tensor::cat(&[kc, &k], 2)?, Tensor::cat(&[vc, &v], 2)?),
        _ => (k, v),
    };
    layer.cache = Some((k.clone(), v.clone()));
    let rep = dims.n_head / dims.n_kv_head;
    let k = repeat_kv(k, rep)?;
    let v = repeat_kv(v, rep)?;
    let att = (q.matmul(&k.t()?)? / (dims.head_dim as f64).sqrt())?;
    let att = match mask {
        Some(m) => {
            let m = m.broadcast_as(att.shape())?;
            m.where_cond(&neg_inf.broadcast_as(att.shape())?, &att)?
        }
        None => att,
    };
    let att = candle_nn::ops::softmax_last_dim(&att)?;
    let y = att.matmul(&v.contiguous()?)?;
    let y = y.transpose(1, 2)?.reshape((b, seq, hidden))?;
    layer.o.forward(&y, dense)
}
