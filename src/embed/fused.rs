//! Fused per-row steps of the Gemma layer: the RMS norms with their residual additions, and
//! the split of the attention projection into normed, rotated queries and keys.
//!
//! Hand-written because they were measured to be slow through candle's generic ops: its
//! `rms_norm` sums squares in one scalar chain and divides every element, allocates a zeroed
//! output per call, and `rope_thd` runs a whole single sequence on one thread. A layer made
//! eight such passes (three copies out of the projection, four norms, two rotations, a scale
//! and two additions); here it makes three, each row in one go while it sits in cache, with
//! outputs written once instead of zeroed first. The arithmetic is the same up to rounding:
//! tests pin every function against the candle ops it replaces.

use std::mem::MaybeUninit;

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use super::int8::{self, Block, QuantMatrix, Scratch};

/// Rows per parallel task: small enough to share a short query between both cores, large
/// enough that scheduling stays a small cost.
const ROWS_PER_TASK: usize = 8;

/// Runs `f` on the contiguous f32 data of `t`; `what` names the caller when `t` is not on
/// the CPU. Shared by every hand-written step of the model (here and in `gemma`).
pub(super) fn with_f32<R>(t: &Tensor, what: &str, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("{what} runs on the CPU only");
    };
    let n = layout.shape().elem_count();
    let s = &cpu.as_slice::<f32>()?[layout.start_offset()..layout.start_offset() + n];
    Ok(f(s))
}

/// A vector of `n` values, every one written by `fill` (handed the uninitialised buffer).
fn filled(n: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(n);
    fill(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: every caller writes all `n` values (each maps whole rows of its input onto
    // whole rows of this buffer).
    unsafe { v.set_len(n) };
    v
}

/// Sum of squares with independent partial sums, so that it vectorises (a single running
/// sum is a chain of dependent additions).
#[inline(always)]
fn sum_squares(x: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v * v;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().map(|v| v * v).sum::<f32>()
}

/// `1 / sqrt(mean(x²) + eps)`.
#[inline(always)]
fn inv_rms(x: &[f32], eps: f32) -> f32 {
    1.0 / (sum_squares(x) / x.len() as f32 + eps).sqrt()
}

/// RMS norm of each row of `x` (`[rows, width]`), times `w` (which holds Gemma's `1 + weight`).
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f32) -> candle_core::Result<Tensor> {
    let (rows, width) = x.dims2()?;
    let w = w.to_vec1::<f32>()?;
    if w.len() != width {
        candle_core::bail!("rms norm of width {width} with {} weights", w.len());
    }
    let out = with_f32(x, "rms_norm", |x| {
        filled(rows * width, |out| {
            out.par_chunks_mut(width * ROWS_PER_TASK)
                .zip(x.par_chunks(width * ROWS_PER_TASK))
                .for_each(|(o, x)| {
                    for (o, x) in o.chunks_mut(width).zip(x.chunks(width)) {
                        let inv = inv_rms(x, eps);
                        for ((o, &v), &w) in o.iter_mut().zip(x).zip(&w) {
                            o.write(v * inv * w);
                        }
                    }
                })
        })
    })?;
    Tensor::from_vec(out, (rows, width), x.device())
}

/// One row of [`add_norm_then_norm`]: `sum = x + rms_norm(y) · w_post`, then
/// `normed = rms_norm(sum) · w_next`.
#[inline(always)]
fn add_norm_row(x: &[f32], y: &[f32], wp: &[f32], wn: &[f32], eps: f32, sum: &mut [f32], normed: &mut [f32]) {
    let inv = inv_rms(y, eps);
    for (((r, &x), &y), &w) in sum.iter_mut().zip(x).zip(y).zip(wp) {
        *r = x + y * inv * w;
    }
    let inv = inv_rms(sum, eps);
    for ((o, &r), &w) in normed.iter_mut().zip(sum.iter()).zip(wn) {
        *o = r * inv * w;
    }
}

/// The residual step of a Gemma layer and the norm that follows it, in one pass per row:
/// `sum = x + rms_norm(y) · w_post`, then `normed = rms_norm(sum) · w_next`. Returns
/// `(sum, normed)`: the new residual stream and the next block's input.
pub fn add_norm_then_norm(
    x: &Tensor,
    y: &Tensor,
    w_post: &Tensor,
    w_next: &Tensor,
    eps: f32,
) -> candle_core::Result<(Tensor, Tensor)> {
    let (rows, width) = x.dims2()?;
    if y.dims2()? != (rows, width) {
        candle_core::bail!("residual of shape {:?} added to {:?}", y.shape(), x.shape());
    }
    let (wp, wn) = (w_post.to_vec1::<f32>()?, w_next.to_vec1::<f32>()?);
    if wp.len() != width || wn.len() != width {
        candle_core::bail!("norms of width {} and {} on rows of {width}", wp.len(), wn.len());
    }
    let n = rows * width;
    let (mut sum, mut normed) = (vec![0f32; n], vec![0f32; n]);
    with_f32(x, "add_norm_then_norm", |x| {
        with_f32(y, "add_norm_then_norm", |y| {
            let block = width * ROWS_PER_TASK;
            sum.par_chunks_mut(block)
                .zip(normed.par_chunks_mut(block))
                .zip(x.par_chunks(block).zip(y.par_chunks(block)))
                .for_each(|((s, o), (x, y))| add_norm_rows(x, y, &wp, &wn, eps, s, o));
        })
    })??;
    let dev: &Device = x.device();
    Ok((
        Tensor::from_vec(sum, (rows, width), dev)?,
        Tensor::from_vec(normed, (rows, width), dev)?,
    ))
}

/// [`add_norm_row`] over whole rows of `x` and `y` (rows as wide as the norms). Shared with
/// the fused int8 layer, which must compute the same values.
#[inline(always)]
pub(super) fn add_norm_rows(
    x: &[f32],
    y: &[f32],
    wp: &[f32],
    wn: &[f32],
    eps: f32,
    sum: &mut [f32],
    normed: &mut [f32],
) {
    let w = wp.len();
    for (((x, y), s), o) in x
        .chunks(w)
        .zip(y.chunks(w))
        .zip(sum.chunks_mut(w))
        .zip(normed.chunks_mut(w))
    {
        add_norm_row(x, y, wp, wn, eps, s, o);
    }
}

/// Shape of the attention heads.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub query: usize,
    pub key_value: usize,
    pub dim: usize,
}

/// The checked shapes of a `split_qkv` and its two head norms.
struct QkvShapes {
    q_dim: usize,
    kv_dim: usize,
    half: usize,
    qn: Vec<f32>,
    kn: Vec<f32>,
}

/// One output row of a `split_qkv`, written once.
type OutRow<'a> = &'a mut [MaybeUninit<f32>];

/// What turns a projection row into attention inputs ([`split_qkv`], [`project_split_qkv`]):
/// the heads' shape, each head's RMS-norm weights (`q_norm`, `k_norm`), the tokens' rotation
/// angles (`cos`/`sin`, `[tokens, dim / 2]`), the queries' `scale` and the norms' `eps`.
#[derive(Debug, Clone, Copy)]
pub struct QkvSplit<'a> {
    pub heads: Heads,
    pub q_norm: &'a Tensor,
    pub k_norm: &'a Tensor,
    pub cos: &'a Tensor,
    pub sin: &'a Tensor,
    pub scale: f32,
    pub eps: f32,
}

fn qkv_shapes(rows: usize, width: usize, split: &QkvSplit<'_>) -> candle_core::Result<QkvShapes> {
    let QkvSplit {
        heads,
        q_norm,
        k_norm,
        cos,
        sin,
        ..
    } = *split;
    let Heads {
        query: nh,
        key_value: nkv,
        dim: hd,
    } = heads;
    let (q_dim, kv_dim) = (nh * hd, nkv * hd);
    if width != q_dim + 2 * kv_dim || hd % 2 != 0 {
        candle_core::bail!("projection of width {width} for {nh} + 2 × {nkv} heads of {hd}");
    }
    let half = hd / 2;
    if cos.dims2()? != (rows, half) || sin.dims2()? != (rows, half) {
        candle_core::bail!("rotation tables of shape {:?} for {rows} tokens of {hd}", cos.shape());
    }
    let (qn, kn) = (q_norm.to_vec1::<f32>()?, k_norm.to_vec1::<f32>()?);
    if qn.len() != hd || kn.len() != hd {
        candle_core::bail!("head norms of width {} and {} for heads of {hd}", qn.len(), kn.len());
    }
    Ok(QkvShapes {
        q_dim,
        kv_dim,
        half,
        qn,
        kn,
    })
}

/// One token's row of [`split_qkv`]: `row` is its projection, `c`/`s` its rotation angles.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn split_qkv_row(
    row: &[f32],
    (c, s): (&[f32], &[f32]),
    (qn, kn): (&[f32], &[f32]),
    heads: Heads,
    scale: f32,
    eps: f32,
    tmp: &mut [f32],
    (qo, ko, vo): (OutRow<'_>, OutRow<'_>, OutRow<'_>),
) {
    let hd = heads.dim;
    let half = hd / 2;
    // One head: norm, then rotate the two halves by the token's angles.
    let head = |x: &[f32], w: &[f32], scale: f32, tmp: &mut [f32], o: &mut [MaybeUninit<f32>]| {
        let inv = inv_rms(x, eps);
        for ((t, &v), &w) in tmp.iter_mut().zip(x).zip(w) {
            *t = v * inv * w;
        }
        let (a, b) = tmp.split_at(half);
        let (oa, ob) = o.split_at_mut(half);
        for i in 0..half {
            oa[i].write((a[i] * c[i] - b[i] * s[i]) * scale);
            ob[i].write((a[i] * s[i] + b[i] * c[i]) * scale);
        }
    };
    let (q, rest) = row.split_at(qo.len());
    let (k, v) = rest.split_at(ko.len());
    for (x, o) in q.chunks(hd).zip(qo.chunks_mut(hd)) {
        head(x, qn, scale, tmp, o);
    }
    for (x, o) in k.chunks(hd).zip(ko.chunks_mut(hd)) {
        head(x, kn, 1.0, tmp, o);
    }
    for (o, &x) in vo.iter_mut().zip(v) {
        o.write(x);
    }
}

/// Splits the attention projection `qkv` (`[tokens, (query + 2 · key_value) · dim]`) into
/// queries and keys, each head RMS-normed (`split.q_norm`, `split.k_norm`) and rotated by its
/// token's row of `split.cos`/`split.sin` (half-split rotation as `rope_thd`), queries also
/// times `split.scale`; and values, copied. Returns `[tokens, heads · dim]` tensors.
pub fn split_qkv(qkv: &Tensor, split: &QkvSplit<'_>) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let (rows, width) = qkv.dims2()?;
    split_rows(rows, width, ROWS_PER_TASK, split, qkv, None)
}

/// [`split_qkv`] of `h · wᵀ` with int8 weights `w`, projected per block of rows in the same
/// task that splits them, so the `[tokens, 1280]` projection never goes to memory: the same
/// values as the projection followed by [`split_qkv`], bit for bit.
pub fn project_split_qkv(
    h: &Tensor,
    w: &QuantMatrix,
    split: &QkvSplit<'_>,
) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let (rows, hw) = h.dims2()?;
    if w.cols() != hw {
        candle_core::bail!("projection of {} columns for rows of {hw}", w.cols());
    }
    split_rows(rows, w.rows(), int8::BLOCK_ROWS, split, h, Some(w))
}

/// The body of [`split_qkv`] and [`project_split_qkv`]: tasks of `per_task` rows of `src`,
/// which are the `width`-wide projection rows themselves, or with `project` are multiplied
/// by it first; then split row by row.
fn split_rows(
    rows: usize,
    width: usize,
    per_task: usize,
    split: &QkvSplit<'_>,
    src: &Tensor,
    project: Option<&QuantMatrix>,
) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let QkvShapes {
        q_dim,
        kv_dim,
        half,
        qn,
        kn,
    } = qkv_shapes(rows, width, split)?;
    let QkvSplit {
        heads,
        cos,
        sin,
        scale,
        eps,
        ..
    } = *split;
    let src_width = src.dims2()?.1;
    let hd = heads.dim;
    let mut k_out: Vec<f32> = Vec::with_capacity(rows * kv_dim);
    let mut v_out: Vec<f32> = Vec::with_capacity(rows * kv_dim);
    let q_out = with_f32(src, "split_qkv", |src| {
        with_f32(cos, "split_qkv", |cos| {
            with_f32(sin, "split_qkv", |sin| {
                filled(rows * q_dim, |q_out| {
                    let t = per_task;
                    q_out
                        .par_chunks_mut(q_dim * t)
                        .zip(k_out.spare_capacity_mut()[..rows * kv_dim].par_chunks_mut(kv_dim * t))
                        .zip(v_out.spare_capacity_mut()[..rows * kv_dim].par_chunks_mut(kv_dim * t))
                        .zip(src.par_chunks(src_width * t))
                        .enumerate()
                        .for_each_init(
                            || (vec![0f32; hd], Vec::new(), Scratch::default()),
                            |(tmp, proj, scratch), (task, (((qo, ko), vo), src))| {
                                let rows: &[f32] = match project {
                                    Some(w) => {
                                        let m = src.len() / src_width;
                                        proj.resize(m * width, 0.0);
                                        Block::linear_t(w, src, m, proj, scratch);
                                        proj
                                    }
                                    None => src,
                                };
                                for (r, row) in rows.chunks(width).enumerate() {
                                    let tok = task * t + r;
                                    split_qkv_row(
                                        row,
                                        (&cos[tok * half..][..half], &sin[tok * half..][..half]),
                                        (&qn, &kn),
                                        heads,
                                        scale,
                                        eps,
                                        tmp,
                                        (
                                            &mut qo[r * q_dim..][..q_dim],
                                            &mut ko[r * kv_dim..][..kv_dim],
                                            &mut vo[r * kv_dim..][..kv_dim],
                                        ),
                                    );
                                }
                            },
                        )
                })
            })
        })
    })???;
    // SAFETY: every token's keys and values were written above.
    unsafe {
        k_out.set_len(rows * kv_dim);
        v_out.set_len(rows * kv_dim);
    }
    let dev = src.device();
    Ok((
        Tensor::from_vec(q_out, (rows, q_dim), dev)?,
        Tensor::from_vec(k_out, (rows, kv_dim), dev)?,
        Tensor::from_vec(v_out, (rows, kv_dim), dev)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(shape: (usize, usize), seed: u64) -> Tensor {
        let mut s = seed;
        let v: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    /// The split the tests use: their norms, rotation and scale, and the model's epsilon.
    fn test_split<'a>(
        heads: Heads,
        norms: (&'a Tensor, &'a Tensor),
        rope: (&'a Tensor, &'a Tensor),
        scale: f32,
    ) -> QkvSplit<'a> {
        QkvSplit {
            heads,
            q_norm: norms.0,
            k_norm: norms.1,
            cos: rope.0,
            sin: rope.1,
            scale,
            eps: 1e-6,
        }
    }

    #[test]
    fn rms_norm_matches_candle() {
        // 37 rows: several tasks and a short last one; width 768 and an odd one.
        for width in [768, 13] {
            let x = rand((37, width), 1);
            let w = (rand((1, width), 2).squeeze(0).unwrap() + 1.0).unwrap();
            let ours = rms_norm(&x, &w, 1e-6).unwrap();
            let theirs = candle_nn::ops::rms_norm(&x, &w, 1e-6).unwrap();
            assert!(max_diff(&ours, &theirs) < 1e-5, "width {width}");
        }
    }

    #[test]
    fn add_norm_then_norm_matches_candle() {
        for rows in [1, 9, 40] {
            let x = rand((rows, 768), 3);
            let y = rand((rows, 768), 4);
            let wp = (rand((1, 768), 5).squeeze(0).unwrap() + 1.0).unwrap();
            let wn = (rand((1, 768), 6).squeeze(0).unwrap() + 1.0).unwrap();
            let (sum, normed) = add_norm_then_norm(&x, &y, &wp, &wn, 1e-6).unwrap();
            let want_sum = (&x + candle_nn::ops::rms_norm(&y, &wp, 1e-6).unwrap()).unwrap();
            let want_normed = candle_nn::ops::rms_norm(&want_sum, &wn, 1e-6).unwrap();
            assert!(max_diff(&sum, &want_sum) < 1e-5, "{rows} rows");
            assert!(max_diff(&normed, &want_normed) < 1e-5, "{rows} rows");
        }
    }

    #[test]
    fn projecting_and_splitting_per_block_is_the_two_steps_bit_for_bit() {
        let (nh, nkv, hd, width) = (3, 1, 16, 40);
        let heads = Heads {
            query: nh,
            key_value: nkv,
            dim: hd,
        };
        let out = (nh + 2 * nkv) * hd;
        let w = rand((out, width), 21).flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let qn = (rand((1, hd), 22).squeeze(0).unwrap() + 1.0).unwrap();
        let kn = (rand((1, hd), 23).squeeze(0).unwrap() + 1.0).unwrap();
        for kernel in int8::Kernel::ALL.into_iter().filter(|k| k.supported()) {
            let w = QuantMatrix::quantize(&w, out, width, kernel).unwrap();
            // One block, several, and a partial last one.
            for rows in [1, int8::BLOCK_ROWS, 3 * int8::BLOCK_ROWS + 5] {
                let h = rand((rows, width), 24);
                let (cos, sin) = (rand((rows, hd / 2), 25), rand((rows, hd / 2), 26));
                let hv = h.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let qkv = Tensor::from_vec(w.linear_t(&hv, rows).unwrap(), (rows, out), &Device::Cpu).unwrap();
                let split = test_split(heads, (&qn, &kn), (&cos, &sin), 0.25);
                let two = split_qkv(&qkv, &split).unwrap();
                let one = project_split_qkv(&h, &w, &split).unwrap();
                for (a, b) in [(&one.0, &two.0), (&one.1, &two.1), (&one.2, &two.2)] {
                    let (a, b) = (
                        a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                        b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    );
                    assert!(a.iter().any(|v| *v != 0.0));
                    assert!(
                        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{kernel:?}, {rows} rows"
                    );
                }
            }
        }
        let h = rand((5, width + 1), 27);
        let w = QuantMatrix::quantize(&w, out, width, int8::Kernel::Portable).unwrap();
        let (cos, sin) = (rand((5, hd / 2), 25), rand((5, hd / 2), 26));
        let split = test_split(heads, (&qn, &kn), (&cos, &sin), 0.25);
        assert!(project_split_qkv(&h, &w, &split).is_err());
    }

    #[test]
    fn split_qkv_matches_candle_norm_rope_and_scale() {
        let (nh, nkv, hd) = (3, 1, 16);
        for rows in [1, 11] {
            let qkv = rand((rows, (nh + 2 * nkv) * hd), 7);
            let qn = (rand((1, hd), 8).squeeze(0).unwrap() + 1.0).unwrap();
            let kn = (rand((1, hd), 9).squeeze(0).unwrap() + 1.0).unwrap();
            let cos = rand((rows, hd / 2), 10);
            let sin = rand((rows, hd / 2), 11);
            let scale = 0.0625;
            let heads = Heads {
                query: nh,
                key_value: nkv,
                dim: hd,
            };
            let split = test_split(heads, (&qn, &kn), (&cos, &sin), scale);
            let (q, k, v) = split_qkv(&qkv, &split).unwrap();
            // The candle path this replaces (gemma.rs before the fusion).
            let wq = qkv
                .narrow(1, 0, nh * hd)
                .unwrap()
                .contiguous()
                .unwrap()
                .reshape((rows * nh, hd))
                .unwrap();
            let wk = qkv
                .narrow(1, nh * hd, hd)
                .unwrap()
                .contiguous()
                .unwrap()
                .reshape((rows * nkv, hd))
                .unwrap();
            let wv = qkv.narrow(1, (nh + 1) * hd, hd).unwrap().contiguous().unwrap();
            let wq = candle_nn::ops::rms_norm(&wq, &qn, 1e-6)
                .unwrap()
                .reshape((1, rows, nh, hd))
                .unwrap();
            let wk = candle_nn::ops::rms_norm(&wk, &kn, 1e-6)
                .unwrap()
                .reshape((1, rows, nkv, hd))
                .unwrap();
            let wq = (candle_nn::rotary_emb::rope_thd(&wq, &cos, &sin).unwrap() * scale as f64).unwrap();
            let wk = candle_nn::rotary_emb::rope_thd(&wk, &cos, &sin).unwrap();
            assert!(
                max_diff(&q, &wq.reshape((rows, nh * hd)).unwrap()) < 1e-5,
                "{rows} rows: q"
            );
            assert!(max_diff(&k, &wk.reshape((rows, hd)).unwrap()) < 1e-5, "{rows} rows: k");
            assert_eq!(max_diff(&v, &wv), 0.0, "{rows} rows: v");
        }
    }

    #[test]
    fn mismatched_shapes_are_errors_not_panics() {
        let x = rand((4, 8), 1);
        assert!(
            rms_norm(
                &x,
                &Tensor::ones(7, candle_core::DType::F32, &Device::Cpu).unwrap(),
                1e-6
            )
            .is_err()
        );
        let w = Tensor::ones(8, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(add_norm_then_norm(&x, &rand((3, 8), 2), &w, &w, 1e-6).is_err());
        let heads = Heads {
            query: 3,
            key_value: 1,
            dim: 4,
        };
        let t = rand((4, 2), 3);
        let split = test_split(heads, (&w, &w), (&t, &t), 1.0);
        assert!(split_qkv(&x, &split).is_err());
    }
}
