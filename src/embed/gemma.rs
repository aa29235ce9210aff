//! EmbeddingGemma-300M on candle: a Gemma 3 encoder with bidirectional attention.
//!
//! The forward pass follows sentence-transformers exactly (see `../shared/models/README.md`):
//! scaled embeddings, 24 layers mixing sliding-window (|i-j| < 257, rope base 1e4) and full
//! attention (rope base 1e6), RMSNorm with `(1 + weight)`, mean pooling over real tokens,
//! two bias-free Dense layers and L2 normalisation.
//!
//! Speed comes from doing less work rather than from other kernels: the sequences of a batch
//! are packed end to end into one `[tokens, hidden]` matrix, so no padding is ever computed;
//! projections are fused (q|k|v and gate|up) so each layer runs three large matmuls; and with
//! a single key/value head the attention of one sequence is two plain matmuls with no
//! transposes.
//!
//! In [`Precision::Int8`] the four matrices of every layer are quantised on the first load
//! (then mapped from the model folder's cache, [`super::int8_cache`]) and
//! multiplied by the int8 kernels of [`super::int8`]; attention, norms and the two final Dense
//! layers stay in f32. The 805 MB token-embedding table is never copied: rows are read from
//! the memory-mapped weights file, so only the pages of tokens actually seen become resident.

use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::Precision;
use super::fused;
use super::int8::{self, Block, Kernel, QuantMatrix, Scratch};
use super::int8_cache;
use crate::{Error, Result};

/// The fields of `config.json` this implementation needs.
#[derive(Debug, Clone, Deserialize)]
pub struct GemmaConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_local_base_freq: f64,
    pub sliding_window: usize,
    pub query_pre_attn_scalar: usize,
    pub max_position_embeddings: usize,
    pub layer_types: Vec<String>,
    #[serde(default)]
    pub hidden_activation: Option<String>,
    #[serde(default)]
    pub use_bidirectional_attention: Option<bool>,
    #[serde(default)]
    pub attn_logit_softcapping: Option<f64>,
}

struct Layer {
    input_norm: Tensor,
    post_attn_norm: Tensor,
    pre_ff_norm: Tensor,
    post_ff_norm: Tensor,
    q_norm: Tensor,
    k_norm: Tensor,
    /// q|k|v stacked: `[q_dim + 2 * kv_dim, hidden]`.
    qkv: Weight,
    o: Weight,
    /// gate|up stacked: `[2 * intermediate, hidden]`.
    gate_up: Weight,
    down: Weight,
    sliding: bool,
}

/// A weight matrix `[out, in]` of a linear layer, in f32 or quantised.
enum Weight {
    F32(Tensor),
    Int8(QuantMatrix),
}

impl Weight {
    /// `w` as is, or quantised with `kernel` when one is given.
    fn new(w: Tensor, kernel: Option<Kernel>) -> candle_core::Result<Weight> {
        let Some(kernel) = kernel else {
            return Ok(Weight::F32(w));
        };
        let (rows, cols) = w.dims2()?;
        let q = fused::with_f32(&w, "int8 quantisation", |v| {
            QuantMatrix::quantize(v, rows, cols, kernel)
        })??;
        Ok(Weight::Int8(q))
    }

    fn int8(&self) -> Option<&QuantMatrix> {
        match self {
            Weight::Int8(q) => Some(q),
            Weight::F32(_) => None,
        }
    }

    fn rows(&self) -> candle_core::Result<usize> {
        match self {
            Weight::F32(t) => t.dim(0),
            Weight::Int8(q) => Ok(q.rows()),
        }
    }
}

/// The token-embedding table, read in place from the memory-mapped weights file.
enum EmbedTable {
    /// f32 rows in the mapped file: a lookup copies only the rows of its tokens.
    Mapped {
        st: MmapedSafetensors,
        rows: usize,
        cols: usize,
    },
    /// Any other dtype, converted to f32 in memory.
    Loaded(Tensor),
}

const EMBED_NAME: &str = "embed_tokens.weight";

impl EmbedTable {
    fn open(weights: &Path, device: &Device) -> Result<EmbedTable> {
        // SAFETY: the file is memory-mapped read-only; sourcier never writes model files in place.
        let st = unsafe { MmapedSafetensors::new(weights)? };
        let (dtype, shape) = {
            let view = st.get(EMBED_NAME)?;
            (DType::try_from(view.dtype())?, view.shape().to_vec())
        };
        match (dtype, shape.as_slice()) {
            (DType::F32, &[rows, cols]) => Ok(EmbedTable::Mapped { st, rows, cols }),
            _ => Ok(EmbedTable::Loaded(st.load(EMBED_NAME, device)?.to_dtype(DType::F32)?)),
        }
    }

    /// Rows `ids` as a `[ids.len(), cols]` tensor.
    fn lookup(&self, ids: &[u32], device: &Device) -> candle_core::Result<Tensor> {
        match self {
            EmbedTable::Loaded(t) => t.index_select(&Tensor::new(ids, device)?, 0),
            EmbedTable::Mapped { st, rows, cols } => {
                let view = st.get(EMBED_NAME)?;
                let data = view.data();
                let row_bytes = cols * 4;
                if data.len() != rows * row_bytes {
                    candle_core::bail!("{EMBED_NAME} holds {} bytes, not {rows}x{cols} f32", data.len());
                }
                let mut out = Vec::with_capacity(ids.len() * cols);
                for &id in ids {
                    let id = id as usize;
                    if id >= *rows {
                        candle_core::bail!("token id {id} is outside the vocabulary of {rows}");
                    }
                    // Byte-wise: the tensor's offset in the file need not be 4-aligned.
                    let bytes = &data[id * row_bytes..(id + 1) * row_bytes];
                    out.extend(
                        bytes
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    );
                }
                Tensor::from_vec(out, (ids.len(), *cols), device)
            }
        }
    }

    fn dims(&self) -> candle_core::Result<(usize, usize)> {
        match self {
            EmbedTable::Loaded(t) => t.dims2(),
            EmbedTable::Mapped { rows, cols, .. } => Ok((*rows, *cols)),
        }
    }
}

/// The loaded model; immutable after loading, so it can be shared across threads.
pub struct GemmaModel {
    cfg: GemmaConfig,
    embed: EmbedTable,
    embed_scale: f64,
    layers: Vec<Layer>,
    final_norm: Tensor,
    dense1: Weight,
    dense2: Weight,
    /// Rope tables `[max_pos, head_dim/2]` for sliding (local) and full (global) layers.
    cos_local: Tensor,
    sin_local: Tensor,
    cos_global: Tensor,
    sin_global: Tensor,
    device: Device,
    /// The weights file, read again when the answer reader adapts the last layers.
    weights: PathBuf,
    /// The int8 kernel of the quantised products (`None` in f32).
    kernel: Option<Kernel>,
}

/// The last layers of the encoder with low-rank updates of their matrices, as the answer
/// reader was trained with (`examples/finetune_reader.py`). The layers below are shared
/// with the embedder, so reading costs no more memory than these few layers.
pub struct AdaptedLayers {
    first: usize,
    layers: Vec<Layer>,
}

/// Rows up to which `x · wᵀ` runs as matrix-vector products instead of a packed GEMM.
const SMALL_ROWS: usize = 32;

fn linear_t(x: &Tensor, w: &Weight) -> candle_core::Result<Tensor> {
    match w {
        Weight::F32(w) if x.dim(0)? <= SMALL_ROWS && x.rank() == 2 => small_linear_t(x, w),
        Weight::F32(w) => x.matmul(&w.t()?),
        Weight::Int8(q) => int8_linear_t(x, q),
    }
}

/// `x · wᵀ` with int8 weights; `x` is quantised per row on the way in.
fn int8_linear_t(x: &Tensor, w: &QuantMatrix) -> candle_core::Result<Tensor> {
    let (n, _) = x.dims2()?;
    let out = fused::with_f32(x, "int8 product", |xv| w.linear_t(xv, n))??;
    Tensor::from_vec(out, (n, w.rows()), x.device())
}

/// `gelu_tanh(gate) * up` for one row holding gate|up side by side.
#[inline(always)]
fn gelu_mul_row(row: &[f32], dst: &mut [f32]) {
    let (gate, up) = row.split_at(dst.len());
    for ((o, &g), &u) in dst.iter_mut().zip(gate).zip(up) {
        *o = gelu_tanh(g) * u;
    }
}

/// Everything of an int8 layer after attention, fused per block of rows: the output
/// projection, the residual step and its norms, the feed-forward block, the second residual
/// step and the next block's norm (`norms`: post-attention, pre-feed-forward, post-feed-forward,
/// next). Every step works on a row at a time, so one task takes its rows through all of them
/// while they are in cache, where the unfused layer wrote four `[tokens, 768]` tensors and
/// forked and joined both cores four times. Returns the residual stream and the next input,
/// the unfused values bit for bit.
fn int8_tail(
    x: &Tensor,
    attn: &Tensor,
    (o, gate_up, down): (&QuantMatrix, &QuantMatrix, &QuantMatrix),
    norms: [&Tensor; 4],
    inter: usize,
    eps: f32,
) -> candle_core::Result<(Tensor, Tensor)> {
    use rayon::prelude::*;
    let (n, h) = x.dims2()?;
    let aw = o.cols();
    if attn.dims2()? != (n, aw)
        || o.rows() != h
        || gate_up.cols() != h
        || gate_up.rows() != 2 * inter
        || down.cols() != inter
        || down.rows() != h
    {
        candle_core::bail!("int8 layer: shapes do not chain for {n} rows of {h}");
    }
    let [wpa, wpf, wpost, wnext] = norms.map(|t| t.to_vec1::<f32>());
    let (wpa, wpf, wpost, wnext) = (wpa?, wpf?, wpost?, wnext?);
    if [&wpa, &wpf, &wpost, &wnext].iter().any(|w| w.len() != h) {
        candle_core::bail!("int8 layer: norms of the wrong width for rows of {h}");
    }
    let b = int8::BLOCK_ROWS;
    let mut sum = vec![0f32; n * h];
    let mut normed = vec![0f32; n * h];
    fused::with_f32(x, "int8 layer", |xv| {
        fused::with_f32(attn, "int8 layer", |av| {
            sum.par_chunks_mut(b * h)
                .zip(normed.par_chunks_mut(b * h))
                .zip(xv.par_chunks(b * h).zip(av.par_chunks(b * aw)))
                .for_each_init(
                    || (Scratch::default(), Vec::new(), Vec::new(), Vec::new(), Vec::new()),
                    |(s, y, x1, h1, ff), ((so, no), (xb, ab))| {
                        let m = xb.len() / h;
                        for v in [&mut *y, &mut *x1, &mut *h1, &mut *ff] {
                            v.resize(m * h, 0.0);
                        }
                        Block::linear_t(o, ab, m, y, s);
                        fused::add_norm_rows(xb, y, &wpa, &wpf, eps, x1, h1);
                        Block::mlp(gate_up, down, &gelu_mul_row, h1, m, ff, s);
                        fused::add_norm_rows(x1, ff, &wpost, &wnext, eps, so, no);
                    },
                )
        })
    })??;
    let dev = x.device();
    Ok((
        Tensor::from_vec(sum, (n, h), dev)?,
        Tensor::from_vec(normed, (n, h), dev)?,
    ))
}

/// The feed-forward block with int8 weights, fused per block of rows ([`super::int8::mlp`]).
fn int8_mlp(h: &Tensor, gate_up: &QuantMatrix, down: &QuantMatrix, inter: usize) -> candle_core::Result<Tensor> {
    let (n, _) = h.dims2()?;
    if gate_up.rows() != 2 * inter || down.cols() != inter {
        candle_core::bail!(
            "int8 mlp: gate|up {} rows and down {} columns for width {inter}",
            gate_up.rows(),
            down.cols()
        );
    }
    let out = fused::with_f32(h, "int8 mlp", |hv| int8::mlp(hv, n, gate_up, down, gelu_mul_row))??;
    Tensor::from_vec(out, (n, down.rows()), h.device())
}

/// `x · wᵀ` for a few rows (a single query): every weight row is read once, straight from
/// memory. A packed GEMM would first copy all the weights into its own layout, which for a
/// 20-token query cost more than the arithmetic.
fn small_linear_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    use rayon::prelude::*;
    let (n, k) = x.dims2()?;
    let (o, k2) = w.dims2()?;
    if k != k2 {
        candle_core::bail!("small_linear_t: {n}x{k} by ({o}x{k2})ᵀ");
    }
    let x = x.contiguous()?;
    let w = w.contiguous()?;
    let (xs, xl) = x.storage_and_layout();
    let (ws, wl) = w.storage_and_layout();
    let (candle_core::Storage::Cpu(xc), candle_core::Storage::Cpu(wc)) = (&*xs, &*ws) else {
        candle_core::bail!("small_linear_t runs on the CPU only");
    };
    let xv = &xc.as_slice::<f32>()?[xl.start_offset()..xl.start_offset() + n * k];
    let wv = &wc.as_slice::<f32>()?[wl.start_offset()..wl.start_offset() + o * k];
    // Output transposed ([o, n]) so each parallel task owns contiguous memory.
    let mut out_t = vec![0f32; o * n];
    const ROWS_PER_TASK: usize = 64;
    out_t
        .par_chunks_mut(ROWS_PER_TASK * n)
        .zip(wv.par_chunks(ROWS_PER_TASK * k))
        .for_each(|(out, wrows)| {
            for (orow, wrow) in out.chunks_mut(n).zip(wrows.chunks(k)) {
                for (i, v) in orow.iter_mut().enumerate() {
                    *v = crate::vecmath::dot(&xv[i * k..(i + 1) * k], wrow);
                }
            }
        });
    drop((xs, ws));
    let mut out = vec![0f32; n * o];
    for j in 0..o {
        for i in 0..n {
            out[i * o + j] = out_t[j * n + i];
        }
    }
    Tensor::from_vec(out, (n, o), x.device())
}

fn rope_tables(base: f64, head_dim: usize, max_pos: usize, dev: &Device) -> Result<(Tensor, Tensor)> {
    // Same arithmetic as transformers: inverse frequencies in f32, positions times frequencies in f32.
    let inv: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / (base.powf(i as f64 / head_dim as f64) as f32))
        .collect();
    let half = inv.len();
    let mut cos = Vec::with_capacity(max_pos * half);
    let mut sin = Vec::with_capacity(max_pos * half);
    for p in 0..max_pos {
        for f in &inv {
            let a = p as f32 * f;
            cos.push(a.cos());
            sin.push(a.sin());
        }
    }
    Ok((
        Tensor::from_vec(cos, (max_pos, half), dev)?,
        Tensor::from_vec(sin, (max_pos, half), dev)?,
    ))
}

impl GemmaModel {
    /// Loads a sentence-transformers EmbeddingGemma folder; int8 quantises the layers' matrices.
    pub fn load(dir: &Path, precision: Precision) -> Result<GemmaModel> {
        let device = Device::Cpu;
        let cfg_path = dir.join("config.json");
        let cfg_text = std::fs::read_to_string(&cfg_path).map_err(Error::io("reading", &cfg_path))?;
        let cfg: GemmaConfig = serde_json::from_str(&cfg_text).map_err(|e| Error::Parse {
            path: cfg_path.clone(),
            detail: e.to_string(),
        })?;
        if cfg.use_bidirectional_attention == Some(false) || cfg.attn_logit_softcapping.is_some() {
            return Err(Error::UnsupportedModel {
                path: dir.to_path_buf(),
                detail:
                    "only bidirectional Gemma 3 encoders without attention soft-capping (EmbeddingGemma) are supported"
                        .into(),
            });
        }
        if cfg
            .hidden_activation
            .as_deref()
            .is_some_and(|a| a != "gelu_pytorch_tanh")
        {
            return Err(Error::UnsupportedModel {
                path: dir.to_path_buf(),
                detail: format!("activation {:?} is not supported", cfg.hidden_activation),
            });
        }
        let t = std::time::Instant::now();
        let kernel = match precision {
            Precision::F32 => None,
            Precision::Int8 => Some(Kernel::from_env()?),
        };
        let h = cfg.hidden_size;
        let q_dim = cfg.num_attention_heads * cfg.head_dim;
        let kv_dim = cfg.num_key_value_heads * cfg.head_dim;
        // In int8, the quantised matrices come from the cache next to the weights when it is
        // sound (an mmap), else they are quantised here and the cache is written for next time.
        let shapes = [
            (q_dim + 2 * kv_dim, h),
            (h, q_dim),
            (2 * cfg.intermediate_size, h),
            (h, cfg.intermediate_size),
        ];
        let (identity, mut cached) = match kernel {
            None => (None, None),
            Some(k) => {
                let identity = int8_cache::source_identity(dir)?;
                let all: Vec<_> = (0..cfg.num_hidden_layers).flat_map(|_| shapes).collect();
                let cached = match int8_cache::load(dir, &identity, &all, k) {
                    Ok(m) => m.map(Vec::into_iter),
                    Err(e) => {
                        tracing::warn!("{e}; quantising the weights again");
                        None
                    }
                };
                (Some(identity), cached)
            }
        };
        let from_cache = cached.is_some();
        let weights = dir.join("model.safetensors");
        // SAFETY: the file is memory-mapped read-only; sourcier never writes model files in place.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device)? };
        let plus_one = |t: Tensor| -> candle_core::Result<Tensor> { t + 1.0 };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let vb = vb.pp(format!("layers.{i}"));
            let a = vb.pp("self_attn");
            let m = vb.pp("mlp");
            let [qkv, o, gate_up, down] = match cached.as_mut() {
                // `int8_cache::load` returned one matrix per shape, four per layer.
                Some(it) => std::array::from_fn(|_| it.next().map(Weight::Int8)),
                None => [None, None, None, None],
            };
            let qkv = match qkv {
                Some(w) => w,
                None => Weight::new(
                    Tensor::cat(
                        &[
                            a.get((q_dim, h), "q_proj.weight")?,
                            a.get((kv_dim, h), "k_proj.weight")?,
                            a.get((kv_dim, h), "v_proj.weight")?,
                        ],
                        0,
                    )?,
                    kernel,
                )?,
            };
            let o = match o {
                Some(w) => w,
                None => Weight::new(a.get((h, q_dim), "o_proj.weight")?, kernel)?,
            };
            let gate_up = match gate_up {
                Some(w) => w,
                None => Weight::new(
                    Tensor::cat(
                        &[
                            m.get((cfg.intermediate_size, h), "gate_proj.weight")?,
                            m.get((cfg.intermediate_size, h), "up_proj.weight")?,
                        ],
                        0,
                    )?,
                    kernel,
                )?,
            };
            let down = match down {
                Some(w) => w,
                None => Weight::new(m.get((h, cfg.intermediate_size), "down_proj.weight")?, kernel)?,
            };
            let sliding = cfg.layer_types.get(i).map(String::as_str) != Some("full_attention");
            layers.push(Layer {
                input_norm: plus_one(vb.get(h, "input_layernorm.weight")?)?,
                post_attn_norm: plus_one(vb.get(h, "post_attention_layernorm.weight")?)?,
                pre_ff_norm: plus_one(vb.get(h, "pre_feedforward_layernorm.weight")?)?,
                post_ff_norm: plus_one(vb.get(h, "post_feedforward_layernorm.weight")?)?,
                q_norm: plus_one(a.get(cfg.head_dim, "q_norm.weight")?)?,
                k_norm: plus_one(a.get(cfg.head_dim, "k_norm.weight")?)?,
                qkv,
                o,
                gate_up,
                down,
                sliding,
            });
        }
        tracing::debug!(ms = super::ms(t), from_cache, "loaded the layers");
        if let Some(identity) = identity.filter(|_| !from_cache) {
            let t = std::time::Instant::now();
            let mats: Vec<&QuantMatrix> = layers
                .iter()
                .flat_map(|l| [&l.qkv, &l.o, &l.gate_up, &l.down])
                .filter_map(Weight::int8)
                .collect();
            // The model works without it: a folder that cannot be written only loads slower.
            match int8_cache::store(dir, &identity, &mats) {
                Ok(()) => tracing::debug!(ms = super::ms(t), "wrote the int8 weights cache"),
                Err(e) => tracing::warn!("could not write the int8 weights cache: {e}"),
            }
        }
        let t = std::time::Instant::now();
        let embed = EmbedTable::open(&weights, &device)?;
        if embed.dims()?.1 != h {
            return Err(Error::UnsupportedModel {
                path: weights.clone(),
                detail: format!("{EMBED_NAME} is {:?}, not [vocab, {h}]", embed.dims()?),
            });
        }
        let final_norm = plus_one(vb.get(h, "norm.weight")?)?;
        let dense = |sub: &str| -> Result<Tensor> {
            let p = dir.join(sub).join("model.safetensors");
            if !p.is_file() {
                return Err(Error::UnsupportedModel {
                    path: dir.to_path_buf(),
                    detail: format!("{sub}/model.safetensors is missing; EmbeddingGemma needs both Dense layers"),
                });
            }
            let t = candle_core::safetensors::load(&p, &device)?;
            t.get("linear.weight").cloned().ok_or_else(|| Error::UnsupportedModel {
                path: p.clone(),
                detail: "no linear.weight tensor".into(),
            })
        };
        // Two small products per text: f32 costs nothing measurable and keeps them exact.
        let dense1 = Weight::F32(dense("2_Dense")?);
        let dense2 = Weight::F32(dense("3_Dense")?);
        tracing::debug!(ms = super::ms(t), "opened the token table and the Dense layers");
        let t = std::time::Instant::now();
        let (cos_local, sin_local) = rope_tables(
            cfg.rope_local_base_freq,
            cfg.head_dim,
            cfg.max_position_embeddings,
            &device,
        )?;
        let (cos_global, sin_global) = rope_tables(cfg.rope_theta, cfg.head_dim, cfg.max_position_embeddings, &device)?;
        tracing::debug!(ms = super::ms(t), "computed the rope tables");
        Ok(GemmaModel {
            embed_scale: (h as f64).sqrt(),
            embed,
            layers,
            final_norm,
            dense1,
            dense2,
            cos_local,
            sin_local,
            cos_global,
            sin_global,
            device,
            cfg,
            weights,
            kernel,
        })
    }

    /// Layers `first..` with `W + B·A` for every matrix for which `delta(name)` gives the
    /// low-rank factors `(A [rank, in], B [out, rank])`, name as in the weights file
    /// (`layers.22.self_attn.q_proj`); a matrix without factors stays as it is. The updated
    /// matrices are quantised like the model's own.
    pub fn adapt(&self, first: usize, delta: &dyn Fn(&str) -> Option<(Tensor, Tensor)>) -> Result<AdaptedLayers> {
        let cfg = &self.cfg;
        if first >= cfg.num_hidden_layers {
            return Err(Error::UnsupportedModel {
                path: self.weights.clone(),
                detail: format!("no layer {first} to adapt ({} layers)", cfg.num_hidden_layers),
            });
        }
        let h = cfg.hidden_size;
        let q_dim = cfg.num_attention_heads * cfg.head_dim;
        let kv_dim = cfg.num_key_value_heads * cfg.head_dim;
        let inter = cfg.intermediate_size;
        // SAFETY: as in `load`: read-only map of a file sourcier never writes in place.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&self.weights], DType::F32, &self.device)? };
        let mut layers = Vec::new();
        for i in first..cfg.num_hidden_layers {
            let base = &self.layers[i];
            let get = |module: &str, shape: (usize, usize)| -> Result<Tensor> {
                let name = format!("layers.{i}.{module}");
                let w = vb.get(shape, &format!("{name}.weight"))?;
                Ok(match delta(&name) {
                    Some((a, b)) => {
                        let d = b.to_dtype(DType::F32)?.matmul(&a.to_dtype(DType::F32)?)?;
                        if d.dims2()? != shape {
                            return Err(Error::UnsupportedModel {
                                path: self.weights.clone(),
                                detail: format!("the update of {name} is {:?}, not {shape:?}", d.dims()),
                            });
                        }
                        (w + d)?
                    }
                    None => w,
                })
            };
            let qkv = Tensor::cat(
                &[
                    get("self_attn.q_proj", (q_dim, h))?,
                    get("self_attn.k_proj", (kv_dim, h))?,
                    get("self_attn.v_proj", (kv_dim, h))?,
                ],
                0,
            )?;
            let gate_up = Tensor::cat(&[get("mlp.gate_proj", (inter, h))?, get("mlp.up_proj", (inter, h))?], 0)?;
            layers.push(Layer {
                input_norm: base.input_norm.clone(),
                post_attn_norm: base.post_attn_norm.clone(),
                pre_ff_norm: base.pre_ff_norm.clone(),
                post_ff_norm: base.post_ff_norm.clone(),
                q_norm: base.q_norm.clone(),
                k_norm: base.k_norm.clone(),
                qkv: Weight::new(qkv, self.kernel)?,
                o: Weight::new(get("self_attn.o_proj", (h, q_dim))?, self.kernel)?,
                gate_up: Weight::new(gate_up, self.kernel)?,
                down: Weight::new(get("mlp.down_proj", (h, inter))?, self.kernel)?,
                sliding: base.sliding,
            });
        }
        Ok(AdaptedLayers { first, layers })
    }

    /// Longest sequence, in tokens, the model accepts.
    pub fn max_tokens(&self) -> usize {
        self.cfg.max_position_embeddings
    }

    /// Width of the hidden states.
    pub fn hidden_size(&self) -> usize {
        self.cfg.hidden_size
    }

    /// Output dimension before any Matryoshka truncation.
    pub fn dims(&self) -> usize {
        self.dense2.rows().unwrap_or(self.cfg.hidden_size)
    }

    /// Runs the int8 products with `kernel` from now on (the quantised weights are the same
    /// for every kernel). Refused in f32 and for a kernel this CPU cannot run.
    pub fn set_int8_kernel(&mut self, kernel: Kernel) -> Result<()> {
        let name = "int8 kernel";
        if !kernel.supported() {
            return Err(Error::InvalidOption {
                name,
                detail: format!("this CPU cannot run the {} int8 kernel", kernel.name()),
            });
        }
        let mut any = false;
        if self.kernel.is_some() {
            self.kernel = Some(kernel);
        }
        for l in &mut self.layers {
            for w in [&mut l.qkv, &mut l.o, &mut l.gate_up, &mut l.down] {
                if let Weight::Int8(q) = w {
                    q.set_kernel(kernel);
                    any = true;
                }
            }
        }
        if !any {
            return Err(Error::InvalidOption {
                name,
                detail: "the model runs in f32: it has no int8 products".into(),
            });
        }
        Ok(())
    }

    /// Embeds already-tokenised sequences packed end to end; returns `[n, dims]`, L2-normalised.
    pub fn forward(&self, seqs: &[&[u32]]) -> Result<Tensor> {
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let x = self.hidden_states(seqs)?;
        let mut pooled = Vec::with_capacity(lens.len());
        let mut off = 0;
        for &l in &lens {
            pooled.push(x.narrow(0, off, l)?.mean_keepdim(0)?);
            off += l;
        }
        let pooled = Tensor::cat(&pooled, 0)?;
        let out = linear_t(&linear_t(&pooled, &self.dense1)?, &self.dense2)?;
        Ok(out)
    }

    /// The encoder's last hidden states (after the final norm) of sequences packed end to
    /// end: `[total tokens, hidden]`. Mean-pooled they give the embedding; per token they feed
    /// the answer reader.
    pub fn hidden_states(&self, seqs: &[&[u32]]) -> Result<Tensor> {
        self.hidden_states_with(seqs, None)
    }

    /// [`hidden_states`](Self::hidden_states) with the last layers replaced by `adapted`.
    pub fn hidden_states_with(&self, seqs: &[&[u32]], adapted: Option<&AdaptedLayers>) -> Result<Tensor> {
        let cfg = &self.cfg;
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        if let Some(&l) = lens.iter().find(|&&l| l > self.max_tokens() || l == 0) {
            return Err(Error::InputTooLong {
                tokens: l,
                max: self.max_tokens(),
            });
        }
        let n_tok: usize = lens.iter().sum();
        let ids: Vec<u32> = seqs.iter().flat_map(|s| s.iter().copied()).collect();
        let pos: Vec<u32> = lens.iter().flat_map(|&l| 0..l as u32).collect();
        let pos = Tensor::from_vec(pos, n_tok, &self.device)?;
        let rope_local = (
            self.cos_local.index_select(&pos, 0)?,
            self.sin_local.index_select(&pos, 0)?,
        );
        let rope_global = (
            self.cos_global.index_select(&pos, 0)?,
            self.sin_global.index_select(&pos, 0)?,
        );
        // Sliding layers see keys closer than this (both ways); a shorter sequence sees all.
        let half_window = cfg.sliding_window / 2 + 1;

        let offsets: Vec<usize> = lens
            .iter()
            .scan(0, |o, &l| {
                let at = *o;
                *o += l;
                Some(at)
            })
            .collect();
        let eps = cfg.rms_norm_eps as f32;
        let (nh, nkv, hd) = (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim);
        let scale = 1.0 / (cfg.query_pre_attn_scalar as f64).sqrt();
        let x = (self.embed.lookup(&ids, &self.device)? * self.embed_scale)?;
        let heads = fused::Heads {
            query: nh,
            key_value: nkv,
            dim: hd,
        };
        let Some(first) = self.layers.first() else {
            return Ok(fused::rms_norm(&x, &self.final_norm, eps)?);
        };
        // `x` is the residual stream, `h` the normed input of the next block: each residual
        // step is fused with the norm after it (the last one with the final norm).
        let mut h = fused::rms_norm(&x, &first.input_norm, eps)?;
        let mut x = x;
        let layer_at = |li: usize| match adapted {
            Some(a) if li >= a.first => a.layers.get(li - a.first),
            _ => self.layers.get(li),
        };
        for li in 0..self.layers.len() {
            let layer = layer_at(li).expect("adapted layers end with the model's");
            let (cos, sin) = if layer.sliding { &rope_local } else { &rope_global };
            let split = fused::QkvSplit {
                heads,
                q_norm: &layer.q_norm,
                k_norm: &layer.k_norm,
                cos,
                sin,
                scale: scale as f32,
                eps,
            };
            let (q, k, v) = match layer.qkv.int8() {
                Some(w) if int8::fuses(n_tok) => fused::project_split_qkv(&h, w, &split)?,
                _ => fused::split_qkv(&linear_t(&h, &layer.qkv)?, &split)?,
            };
            // Sequences attend independently: one task each, so that a batch of short ones
            // keeps both cores busy instead of splitting each small product in two.
            let mut outs = {
                use rayon::prelude::*;
                lens.par_iter()
                    .enumerate()
                    .map(|(si, &l)| {
                        let off = offsets[si];
                        self.attend(
                            &q,
                            &k,
                            &v,
                            off,
                            l,
                            Some(half_window).filter(|&w| layer.sliding && l > w),
                        )
                    })
                    .collect::<candle_core::Result<Vec<Tensor>>>()?
            };
            let attn = if outs.len() == 1 {
                outs.pop().expect("one")
            } else {
                Tensor::cat(&outs, 0)?
            };
            let next = layer_at(li + 1).map_or(&self.final_norm, |l| &l.input_norm);
            (x, h) = match (layer.o.int8(), layer.gate_up.int8(), layer.down.int8()) {
                (Some(o), Some(gu), Some(down)) if int8::fuses(n_tok) => int8_tail(
                    &x,
                    &attn,
                    (o, gu, down),
                    [&layer.post_attn_norm, &layer.pre_ff_norm, &layer.post_ff_norm, next],
                    cfg.intermediate_size,
                    eps,
                )?,
                _ => {
                    let attn = linear_t(&attn, &layer.o)?;
                    let (x1, h1) =
                        fused::add_norm_then_norm(&x, &attn, &layer.post_attn_norm, &layer.pre_ff_norm, eps)?;
                    let ff = match (layer.gate_up.int8(), layer.down.int8()) {
                        (Some(gu), Some(down)) => int8_mlp(&h1, gu, down, cfg.intermediate_size)?,
                        _ => {
                            let gu = linear_t(&h1, &layer.gate_up)?;
                            linear_t(&gelu_mul(&gu, cfg.intermediate_size)?, &layer.down)?
                        }
                    };
                    fused::add_norm_then_norm(&x1, &ff, &layer.post_ff_norm, next, eps)?
                }
            };
        }
        Ok(h)
    }

    /// Attention of one sequence. With one key/value head, the query rows of all heads
    /// (token-major) multiply the same keys, so the output is already `[len, heads * head_dim]`.
    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        off: usize,
        len: usize,
        window: Option<usize>,
    ) -> candle_core::Result<Tensor> {
        let cfg = &self.cfg;
        let (nh, nkv, hd) = (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim);
        if nkv != 1 {
            return self.attend_grouped(q, k, v, off, len, window);
        }
        let q = q.narrow(0, off, len)?.reshape((len * nh, hd))?;
        let k = k.narrow(0, off, len)?;
        let v = v.narrow(0, off, len)?;
        let scores = q.matmul(&k.t()?)?; // rows: token-major, then head
        let probs = softmax_window(&scores, len, nh, window)?;
        probs.matmul(&v)?.reshape((len, nh * hd))
    }

    /// General grouped-query attention, for configurations with several key/value heads.
    fn attend_grouped(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        off: usize,
        len: usize,
        window: Option<usize>,
    ) -> candle_core::Result<Tensor> {
        let cfg = &self.cfg;
        let (nh, nkv, hd) = (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim);
        let group = nh / nkv;
        let q = q
            .narrow(0, off, len)?
            .reshape((len, nkv, group, hd))?
            .permute((1, 0, 2, 3))?
            .contiguous()?;
        let q = q.reshape((nkv, len * group, hd))?;
        let k = k
            .narrow(0, off, len)?
            .reshape((len, nkv, hd))?
            .transpose(0, 1)?
            .contiguous()?;
        let v = v
            .narrow(0, off, len)?
            .reshape((len, nkv, hd))?
            .transpose(0, 1)?
            .contiguous()?;
        let scores = q.matmul(&k.transpose(1, 2)?)?; // [nkv, len*group, len]
        let probs = softmax_window(&scores, len, group, window)?;
        let out = probs.matmul(&v)?; // [nkv, len*group, hd]
        out.reshape((nkv, len, group, hd))?
            .permute((1, 0, 2, 3))?
            .reshape((len, nh * hd))
    }
}

/// Softmax of each row of attention scores `[.., len]` whose rows run token-major in groups
/// of `per_token` (heads), repeating every `len · per_token` rows (key/value heads). With a
/// `window`, the query token `t` sees only keys `j` with `|t − j| < window`; the others get
/// probability 0, as an additive −∞ mask would give them. One pass per row with
/// [`exp_approx`]: candle's softmax called libm's `expf` per score (2.7 % of int8 document
/// embedding, `perf` 2026-12-06), and the mask was a `len²` tensor added first.
fn softmax_window(scores: &Tensor, len: usize, per_token: usize, window: Option<usize>) -> candle_core::Result<Tensor> {
    let shape = scores.shape().clone();
    if shape.dims().last() != Some(&len) || per_token == 0 {
        candle_core::bail!("softmax_window: scores {shape:?} for {len} keys");
    }
    let out = fused::with_f32(scores, "softmax", |src| {
        let mut out = vec![0f32; src.len()];
        for (r, (o, row)) in out.chunks_mut(len).zip(src.chunks(len)).enumerate() {
            let t = (r / per_token) % len;
            let (lo, hi) = match window {
                Some(w) => (t.saturating_sub(w - 1), (t + w).min(len)),
                None => (0, len),
            };
            let (o, row) = (&mut o[lo..hi], &row[lo..hi]);
            let max = lanes(row, f32::NEG_INFINITY, f32::max);
            for (o, &v) in o.iter_mut().zip(row) {
                *o = exp_approx(v - max);
            }
            let inv = 1.0 / lanes(o, 0.0, |a, b| a + b);
            for o in o.iter_mut() {
                *o *= inv;
            }
        }
        out
    })?;
    Tensor::from_vec(out, shape, scores.device())
}

/// Folds `x` with `f` in 16 independent lanes, then the lanes: a single running fold is a
/// chain of dependent steps that does not vectorise.
#[inline(always)]
fn lanes(x: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 16];
    let chunks = x.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..16 {
            acc[l] = f(acc[l], c[l]);
        }
    }
    for (l, &v) in rest.iter().enumerate() {
        acc[l] = f(acc[l], v);
    }
    acc.into_iter().fold(init, f)
}

/// `gelu_tanh(gate) * up` for a `[n, 2 * inter]` matrix holding gate|up side by side, in one
/// pass. candle's own path takes three passes over strided views and calls libm's `tanhf`
/// per element, which measured as a tenth of the whole forward pass.
fn gelu_mul(gu: &Tensor, inter: usize) -> candle_core::Result<Tensor> {
    use rayon::prelude::*;
    let (n, w) = gu.dims2()?;
    if w != 2 * inter {
        candle_core::bail!("gate|up has width {w}, expected {}", 2 * inter);
    }
    let out = fused::with_f32(gu, "gelu_mul", |src| {
        let mut out = vec![0f32; n * inter];
        out.par_chunks_mut(inter)
            .zip(src.par_chunks(w))
            .for_each(|(o, row)| gelu_mul_row(row, o));
        out
    })?;
    Tensor::from_vec(out, (n, inter), gu.device())
}

/// GELU, tanh approximation, as `x * sigmoid(2u)` with `u = sqrt(2/pi) (x + 0.044715 x^3)`:
/// the same function as `0.5 x (1 + tanh u)`, with one exponential.
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    const K: f32 = 0.797_884_6; // sqrt(2/pi)
    let u = K * (x + 0.044_715 * x * x * x);
    x / (1.0 + exp_approx(-2.0 * u))
}

/// `e^x` to about 2e-7 relative error, branch-free so that loops over it vectorise.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E).round();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    f32::from_bits(((n as i32 + 127) << 23) as u32) * p
}

/// L2-normalises rows after keeping the first `dims` columns (Matryoshka truncation).
pub fn truncate_normalize(x: &Tensor, dims: usize) -> candle_core::Result<Vec<Vec<f32>>> {
    let x = x.narrow(D::Minus1, 0, dims)?;
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norm)?.to_vec2::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fused_int8_layer_tail_is_the_unfused_chain_bit_for_bit() {
        let (h, inter, eps) = (48, 40, 1e-6);
        let mut seed = 7u64;
        let mut vals = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0
                })
                .collect()
        };
        let kernel = Kernel::best();
        let o = QuantMatrix::quantize(&vals(h * h), h, h, kernel).unwrap();
        let gu = QuantMatrix::quantize(&vals(2 * inter * h), 2 * inter, h, kernel).unwrap();
        let down = QuantMatrix::quantize(&vals(h * inter), h, inter, kernel).unwrap();
        let norm =
            |v: Vec<f32>| Tensor::from_vec(v.iter().map(|x| 1.0 + x).collect::<Vec<f32>>(), h, &Device::Cpu).unwrap();
        let norms = [norm(vals(h)), norm(vals(h)), norm(vals(h)), norm(vals(h))];
        // Row counts with one, several and a partial last block.
        for n in [int8::BLOCK_ROWS + 1, 3 * int8::BLOCK_ROWS + 7] {
            assert!(int8::fuses(n));
            let x = Tensor::from_vec(vals(n * h), (n, h), &Device::Cpu).unwrap();
            let attn = Tensor::from_vec(vals(n * h), (n, h), &Device::Cpu).unwrap();
            let (fx, fh) = int8_tail(
                &x,
                &attn,
                (&o, &gu, &down),
                [&norms[0], &norms[1], &norms[2], &norms[3]],
                inter,
                eps,
            )
            .unwrap();
            let y = int8_linear_t(&attn, &o).unwrap();
            let (x1, h1) = fused::add_norm_then_norm(&x, &y, &norms[0], &norms[1], eps).unwrap();
            let ff = int8_mlp(&h1, &gu, &down, inter).unwrap();
            let (ux, uh) = fused::add_norm_then_norm(&x1, &ff, &norms[2], &norms[3], eps).unwrap();
            for (a, b) in [(fx, ux), (fh, uh)] {
                let (a, b) = (
                    a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                );
                assert!(a.iter().any(|v| *v != 0.0));
                assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "n={n}");
            }
        }
        let bad = Tensor::zeros((int8::BLOCK_ROWS + 1, h + 1), DType::F32, &Device::Cpu).unwrap();
        assert!(
            int8_tail(
                &bad,
                &bad,
                (&o, &gu, &down),
                [&norms[0], &norms[1], &norms[2], &norms[3]],
                inter,
                eps
            )
            .is_err()
        );
    }

    #[test]
    fn windowed_softmax_matches_candles_with_a_mask() {
        let (len, heads, window) = (37, 3, 9);
        let vals: Vec<f32> = (0..len * heads * len)
            .map(|i| ((i * 7919) % 113) as f32 / 9.0 - 6.0)
            .collect();
        let scores = Tensor::from_vec(vals, (len * heads, len), &Device::Cpu).unwrap();
        let mask: Vec<f32> = (0..len)
            .flat_map(|t| (0..len).map(move |j| if t.abs_diff(j) < window { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        let mask = Tensor::from_vec(mask, (len, 1, len), &Device::Cpu).unwrap();
        for w in [None, Some(window)] {
            let masked = match w {
                Some(_) => scores
                    .reshape((len, heads, len))
                    .unwrap()
                    .broadcast_add(&mask)
                    .unwrap()
                    .reshape((len * heads, len))
                    .unwrap(),
                None => scores.clone(),
            };
            let expected = candle_nn::ops::softmax_last_dim(&masked)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            let got = softmax_window(&scores, len, heads, w)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for (r, (a, b)) in got.iter().zip(&expected).enumerate() {
                for (j, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!((x - y).abs() < 1e-6, "{w:?} row {r} key {j}: {x} vs {y}");
                }
                if w.is_some() {
                    // Key 0 is out of the window of every token from `window` on.
                    assert_eq!(a[0] == 0.0, r / heads >= window, "row {r}");
                }
            }
        }
        assert!(softmax_window(&scores, len + 1, heads, None).is_err());
    }

    #[test]
    fn exp_approx_is_accurate() {
        let mut x = -80.0f32;
        while x < 80.0 {
            let (a, b) = (exp_approx(x), x.exp());
            assert!(((a - b) / b).abs() < 5e-7, "exp({x}) = {a}, expected {b}");
            x += 0.0137;
        }
    }

    #[test]
    fn gelu_matches_the_tanh_formula() {
        let mut x = -12.0f32;
        while x < 12.0 {
            let reference = 0.5
                * x as f64
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x as f64 + 0.044715 * (x as f64).powi(3))).tanh());
            let got = gelu_tanh(x) as f64;
            assert!(
                (got - reference).abs() < 1e-6 * (1.0 + reference.abs()),
                "gelu({x}) = {got}, expected {reference}"
            );
            x += 0.001;
        }
    }

    #[test]
    fn small_linear_matches_matmul() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (5, 300), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (130, 300), &dev).unwrap();
        let a = small_linear_t(&x, &w).unwrap().to_vec2::<f32>().unwrap();
        let b = x.matmul(&w.t().unwrap()).unwrap().to_vec2::<f32>().unwrap();
        for (ra, rb) in a.iter().zip(&b) {
            for (va, vb) in ra.iter().zip(rb) {
                assert!((va - vb).abs() < 1e-3 * (1.0 + vb.abs()), "{va} vs {vb}");
            }
        }
    }

    #[test]
    fn gelu_mul_pairs_gate_with_up() {
        let gu = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, 4.0, 0.5, 0.0, 2.0, 2.0], (2, 4), &Device::Cpu).unwrap();
        let out = gelu_mul(&gu, 2).unwrap().to_vec2::<f32>().unwrap();
        assert!((out[0][0] - gelu_tanh(1.0) * 3.0).abs() < 1e-6);
        assert!((out[0][1] - gelu_tanh(-2.0) * 4.0).abs() < 1e-6);
        assert!((out[1][0] - gelu_tanh(0.5) * 2.0).abs() < 1e-6);
        assert_eq!(out[1][1], 0.0);
    }
}
