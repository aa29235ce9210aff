//! Int8 matrix products for the embedder: `x · wᵀ` with int8 weights and int8 activations.
//!
//! Weights are quantised once (then kept by [`super::int8_cache`]), per output row with a
//! symmetric scale (`w ≈ s_j q_j`, `q ∈ [-127, 127]`); activations per token (row of `x`) at each call. The integer dot
//! products are exact, so every kernel returns the same i32 sums and only the final
//! `sum · s_x · s_w` is floating point. Three kernels, chosen at run time:
//!
//! - `vnni`: AVX-512 VNNI `vpdpbusd` (u8 × i8). Activations are shifted to `x + 128` to make
//!   them unsigned; the `128 · Σ_k w_jk` this adds is subtracted with the row sums kept at load.
//! - `avx2`: `vpmaddubsw` + `vpmaddwd`. `maddubs` saturates its i16 pair sums, so it
//!   multiplies `|w|` by `x` carrying the sign of `w`: with both in [-127, 127] a pair is at
//!   most 2 · 127² = 32258 and never saturates.
//! - `portable`: plain Rust, for other CPUs and as the reference the others are tested against.
//!
//! `SOURCIER_INT8_KERNEL=vnni|avx2|portable` forces one; a kernel the CPU lacks is refused
//! with an error rather than replaced, so a benchmark never measures something else silently.
//!
//! Layout: the weights are packed in panels of 16 output rows, each group of 4 columns of
//! the 16 rows stored together (64 bytes). One 4-byte broadcast of `x` times one panel vector
//! then yields 16 output partial sums with no horizontal reduction, the usual VNNI layout;
//! AVX2 takes a panel as two 32-byte halves. Columns are zero-padded to a multiple of 4 and
//! rows to a multiple of 16, so the kernels have no tail.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::{Error, Result};

/// Columns per group: the 4 bytes one `vpdpbusd` lane sums.
const KG: usize = 4;
/// Output rows per panel: one AVX-512 register of i32 sums.
const PANEL: usize = 16;
/// Rows of `x` per register tile: each weight load is reused this many times.
const MR: usize = 4;
/// Panels per register tile: each broadcast of `x` is reused this many times.
const NP: usize = 4;
/// Longest row: keeps `Σ (x + 128) · w` (at most 255 · 127 per term) inside an i32.
const MAX_COLS: usize = 1 << 16;

/// An int8 dot-product kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Vnni,
    Avx2,
    Portable,
}

impl Kernel {
    /// Every kernel, fastest first.
    pub const ALL: [Kernel; 3] = [Kernel::Vnni, Kernel::Avx2, Kernel::Portable];

    /// The name used by `SOURCIER_INT8_KERNEL`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Vnni => "vnni",
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn supported(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest kernel this CPU runs.
    pub fn best() -> Kernel {
        Kernel::ALL
            .into_iter()
            .find(|k| k.supported())
            .unwrap_or(Kernel::Portable)
    }

    /// The kernel named by `SOURCIER_INT8_KERNEL`, else the fastest one.
    pub fn from_env() -> Result<Kernel> {
        match std::env::var("SOURCIER_INT8_KERNEL") {
            Ok(v) if !v.trim().is_empty() => Kernel::parse(v.trim()),
            _ => Ok(Kernel::best()),
        }
    }

    /// A kernel by name; refused when unknown or when this CPU cannot run it.
    pub fn parse(name: &str) -> Result<Kernel> {
        let k = Kernel::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::InvalidOption {
                name: "SOURCIER_INT8_KERNEL",
                detail: format!("unknown int8 kernel {name:?}: use vnni, avx2 or portable"),
            })?;
        if !k.supported() {
            return Err(Error::InvalidOption {
                name: "SOURCIER_INT8_KERNEL",
                detail: format!(
                    "this CPU cannot run the {name} int8 kernel (best available: {})",
                    Kernel::best().name()
                ),
            });
        }
        Ok(k)
    }
}

/// Types for which every bit pattern is a valid value, so they can be read straight from
/// a mapped file.
///
/// # Safety
/// Implementors must have no padding, no invalid bit patterns and no drop glue.
pub unsafe trait Plain: Copy + Send + Sync + 'static {}
// SAFETY: plain integers and floats: every bit pattern is a value.
unsafe impl Plain for i8 {}
// SAFETY: as above.
unsafe impl Plain for i32 {}
// SAFETY: as above.
unsafe impl Plain for f32 {}

/// The array of a [`QuantMatrix`]: its own memory, or a range of a memory-mapped file (the
/// int8 weights cache, so that a load maps the quantised weights instead of building them).
pub enum Buf<T: Plain> {
    Owned(Vec<T>),
    Mapped {
        map: std::sync::Arc<memmap2::Mmap>,
        offset: usize,
        len: usize,
    },
}

impl<T: Plain> Buf<T> {
    /// `len` values of `map` from byte `offset`; `None` when out of bounds or misaligned.
    pub fn mapped(map: &std::sync::Arc<memmap2::Mmap>, offset: usize, len: usize) -> Option<Buf<T>> {
        let end = len.checked_mul(size_of::<T>())?.checked_add(offset)?;
        let aligned = (map.as_ptr() as usize)
            .checked_add(offset)?
            .is_multiple_of(align_of::<T>());
        (end <= map.len() && aligned).then(|| Buf::Mapped {
            map: map.clone(),
            offset,
            len,
        })
    }
}

impl<T: Plain> std::ops::Deref for Buf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Buf::Owned(v) => v,
            // SAFETY: `Buf::mapped` checked bounds and alignment; any bit pattern is a `T`
            // (`Plain`); the map lives as long as `self`, and cache files are replaced by
            // rename, never written in place, so the bytes do not change under us.
            Buf::Mapped { map, offset, len } => unsafe {
                std::slice::from_raw_parts(map.as_ptr().add(*offset).cast::<T>(), *len)
            },
        }
    }
}

/// A weight matrix `[rows, cols]` in int8, one scale per row, packed in panels.
pub struct QuantMatrix {
    rows: usize,
    cols: usize,
    /// `cols` rounded up to a multiple of 4: the row length of quantised activations too.
    kp: usize,
    panels: usize,
    /// Panel `p` holds rows `16p..16p+16`: `packed[p·16·kp + 64g + 4c + t] = q[16p + c][4g + t]`.
    packed: Buf<i8>,
    /// Per row, padded with zeros to `16 · panels`.
    scales: Buf<f32>,
    /// `Σ_k q_jk` per row (padded): the VNNI kernel's correction for its `+128` shift.
    sums: Buf<i32>,
    kernel: Kernel,
}

/// Lengths of the packed weights and of the scales (and sums) of a `[rows, cols]` matrix.
pub fn packed_lens(rows: usize, cols: usize) -> (usize, usize) {
    let panels = rows.div_ceil(PANEL);
    (panels * PANEL * cols.div_ceil(KG) * KG, panels * PANEL)
}

impl QuantMatrix {
    /// Quantises row-major f32 weights `[rows, cols]`; products will use `kernel`.
    pub fn quantize(w: &[f32], rows: usize, cols: usize, kernel: Kernel) -> candle_core::Result<QuantMatrix> {
        if w.len() != rows * cols || rows == 0 || cols == 0 || cols > MAX_COLS {
            candle_core::bail!("int8: cannot quantise {} values as a {rows}x{cols} matrix", w.len());
        }
        let kp = cols.div_ceil(KG) * KG;
        let panels = rows.div_ceil(PANEL);
        let mut scales = vec![0f32; panels * PANEL];
        let mut sums = vec![0i32; panels * PANEL];
        let mut packed = vec![0i8; panels * PANEL * kp];
        packed
            .par_chunks_mut(PANEL * kp)
            .zip(scales.par_chunks_mut(PANEL).zip(sums.par_chunks_mut(PANEL)))
            .enumerate()
            .for_each(|(p, (panel, (scales, sums)))| {
                let mut q = vec![0i8; kp];
                for c in 0..PANEL.min(rows - p * PANEL) {
                    let j = p * PANEL + c;
                    scales[c] = quantize_row(&w[j * cols..(j + 1) * cols], &mut q);
                    sums[c] = q.iter().map(|&v| v as i32).sum();
                    for (g, four) in q.chunks_exact(KG).enumerate() {
                        panel[g * PANEL * KG + c * KG..][..KG].copy_from_slice(four);
                    }
                }
            });
        Ok(QuantMatrix {
            rows,
            cols,
            kp,
            panels,
            packed: Buf::Owned(packed),
            scales: Buf::Owned(scales),
            sums: Buf::Owned(sums),
            kernel,
        })
    }

    /// A matrix from arrays laid out as [`QuantMatrix::parts`] returns them (read back from
    /// the int8 weights cache); refused when their lengths do not fit `rows` and `cols`.
    pub fn from_parts(
        rows: usize,
        cols: usize,
        packed: Buf<i8>,
        scales: Buf<f32>,
        sums: Buf<i32>,
        kernel: Kernel,
    ) -> candle_core::Result<QuantMatrix> {
        let (np, ns) = packed_lens(rows, cols);
        if rows == 0 || cols == 0 || cols > MAX_COLS || packed.len() != np || scales.len() != ns || sums.len() != ns {
            candle_core::bail!("int8: arrays of the wrong length for a {rows}x{cols} matrix");
        }
        Ok(QuantMatrix {
            rows,
            cols,
            kp: cols.div_ceil(KG) * KG,
            panels: rows.div_ceil(PANEL),
            packed,
            scales,
            sums,
            kernel,
        })
    }

    /// The packed weights, scales and row sums, in the layout the kernels read.
    pub fn parts(&self) -> (&[i8], &[f32], &[i32]) {
        (&self.packed, &self.scales, &self.sums)
    }

    /// Runs later products with `kernel` (same layout and integer sums for every kernel).
    pub fn set_kernel(&mut self, kernel: Kernel) {
        self.kernel = kernel;
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Bytes held by the quantised weights.
    pub fn bytes(&self) -> usize {
        self.packed.len() + 8 * self.scales.len()
    }

    fn panel(&self, p: usize) -> &[i8] {
        &self.packed[p * PANEL * self.kp..(p + 1) * PANEL * self.kp]
    }

    /// `x · wᵀ` for row-major `x` `[n, cols]`: `[n, rows]` in f32.
    pub fn linear_t(&self, x: &[f32], n: usize) -> candle_core::Result<Vec<f32>> {
        let xq = QuantRows::new(x, n, self.cols, self.kp, self.kernel)?;
        Ok(self.run(&xq, self.kernel, |i, j, sums, out| {
            let sx = xq.scales[i];
            for ((d, &v), &sw) in out.iter_mut().zip(sums).zip(&self.scales[j..]) {
                d.write(v as f32 * (sx * sw));
            }
        }))
    }

    /// `x · wᵀ` for every row of `xq` into `out` (`[xq.n, rows]`, row-major), sweeping the
    /// weights block by block so that each block is reused from cache by all the rows. Runs
    /// on the calling thread: it is the body of one task of [`mlp`].
    fn sweep_into(&self, xq: &QuantRows, out: &mut [f32]) {
        let o = self.rows;
        for p0 in (0..self.panels).step_by(W_PANELS) {
            let p1 = (p0 + W_PANELS).min(self.panels);
            self.block(xq, self.kernel, 0..xq.n, p0..p1, &mut |i, j, sums| {
                let sx = xq.scales[i];
                let m = sums.len();
                let (d, sw) = (&mut out[i * o + j..][..m], &self.scales[j..j + m]);
                for c in 0..m {
                    d[c] = sums[c] as f32 * (sx * sw[c]);
                }
            });
        }
    }

    /// The exact integer products `q_x · q_wᵀ` computed by `kernel` (for tests and checks).
    pub fn products_i32(&self, x: &[f32], n: usize, kernel: Kernel) -> candle_core::Result<Vec<i32>> {
        let xq = QuantRows::new(x, n, self.cols, self.kp, kernel)?;
        Ok(self.run(&xq, kernel, |_, _, sums, out| {
            for (d, &v) in out.iter_mut().zip(sums) {
                d.write(v);
            }
        }))
    }

    /// Runs `kernel` over all tiles; `finish(i, j, sums, out)` turns the sums of row `i` of x
    /// with rows `j..j + sums.len()` of w into `out` (all of which it must write).
    fn run<O, F>(&self, xq: &QuantRows, kernel: Kernel, finish: F) -> Vec<O>
    where
        O: Copy + Send + Sync,
        F: Fn(usize, usize, &[i32], &mut [MaybeUninit<O>]) + Sync,
    {
        let (n, o) = (xq.n, self.rows);
        let mut out: Vec<O> = Vec::with_capacity(n * o);
        if n <= FEW_ROWS {
            // Tasks own blocks of weight panels, each read once from memory; their results
            // are then copied into place.
            let parts: Vec<Vec<MaybeUninit<O>>> = (0..self.panels.div_ceil(W_PANELS))
                .into_par_iter()
                .map(|b| {
                    let (p0, p1) = (b * W_PANELS, ((b + 1) * W_PANELS).min(self.panels));
                    let (j0, j1) = (p0 * PANEL, (p1 * PANEL).min(o));
                    let w = j1 - j0;
                    let mut part = vec![MaybeUninit::uninit(); n * w];
                    self.block(xq, kernel, 0..n, p0..p1, &mut |i, j, sums| {
                        finish(i, j, sums, &mut part[i * w + j - j0..][..sums.len()]);
                    });
                    part
                })
                .collect();
            let dst = &mut out.spare_capacity_mut()[..n * o];
            let mut j0 = 0;
            for part in &parts {
                let w = part.len() / n.max(1);
                for i in 0..n {
                    dst[i * o + j0..][..w].copy_from_slice(&part[i * w..][..w]);
                }
                j0 += w;
            }
        } else {
            // Tasks own blocks of x rows (contiguous output rows) and sweep the weights block
            // by block, so each block is reused from cache by all the rows of the task.
            out.spare_capacity_mut()[..n * o]
                .par_chunks_mut(X_BLOCK * o)
                .enumerate()
                .for_each(|(b, chunk)| {
                    let i0 = b * X_BLOCK;
                    let i1 = (i0 + X_BLOCK).min(n);
                    for p0 in (0..self.panels).step_by(W_PANELS) {
                        let p1 = (p0 + W_PANELS).min(self.panels);
                        self.block(xq, kernel, i0..i1, p0..p1, &mut |i, j, sums| {
                            finish(i, j, sums, &mut chunk[(i - i0) * o + j..][..sums.len()]);
                        });
                    }
                });
        }
        // SAFETY: every (row, column) of the n × o output was written exactly once above:
        // `block` hands each pair of the ranges to `store` once and `finish` writes all of it.
        unsafe { out.set_len(n * o) };
        out
    }

    /// All tiles of rows `xs` of x by panels `ps`; hands each row's sums to `store(i, j, sums)`,
    /// clipped to the real output rows.
    fn block<S: FnMut(usize, usize, &[i32])>(
        &self,
        xq: &QuantRows,
        kernel: Kernel,
        xs: std::ops::Range<usize>,
        ps: std::ops::Range<usize>,
        store: &mut S,
    ) {
        for i0 in xs.clone().step_by(MR) {
            let mi = (xs.end - i0).min(MR);
            // Missing rows of an edge tile repeat the last real one; their sums are dropped.
            let xr: [&[i8]; MR] = std::array::from_fn(|a| xq.row(i0 + a.min(mi - 1)));
            let mut p = ps.start;
            while p < ps.end {
                let np = if ps.end - p >= NP { NP } else { 1 };
                let mut t = [[[0i32; PANEL]; NP]; MR];
                if np == NP {
                    let w: [&[i8]; NP] = std::array::from_fn(|b| self.panel(p + b));
                    let s: [&[i32]; NP] = std::array::from_fn(|b| &self.sums[(p + b) * PANEL..][..PANEL]);
                    tile::<NP>(kernel, &xr, &w, &s, &mut t);
                } else {
                    let mut t1 = [[[0i32; PANEL]; 1]; MR];
                    tile::<1>(
                        kernel,
                        &xr,
                        &[self.panel(p)],
                        &[&self.sums[p * PANEL..][..PANEL]],
                        &mut t1,
                    );
                    for a in 0..MR {
                        t[a][0] = t1[a][0];
                    }
                }
                for (a, rows) in t.iter().enumerate().take(mi) {
                    for (b, sums) in rows.iter().enumerate().take(np) {
                        let j = (p + b) * PANEL;
                        let real = PANEL.min(self.rows.saturating_sub(j));
                        if real > 0 {
                            store(i0 + a, j, &sums[..real]);
                        }
                    }
                }
                p += np;
            }
        }
    }
}

/// Panels per weight block: 8 panels of 768 columns (96 KiB) stay in L2 while x streams past.
const W_PANELS: usize = 8;
/// Rows of x per parallel task in the many-rows case (48 KiB of int8 at 768 columns).
const X_BLOCK: usize = 64;
/// Up to this many rows of x, tasks split the weights instead (a query's few tokens).
const FEW_ROWS: usize = 64;

/// Symmetric int8 quantisation of one row into `q` (zero-padded); returns the scale.
fn quantize_row(row: &[f32], q: &mut [i8]) -> f32 {
    quantize_row_xor(row, q, 0)
}

/// [`quantize_row`], every byte (padding included) xor-ed with `flip`.
#[inline(always)]
fn quantize_row_xor(row: &[f32], q: &mut [i8], flip: i8) -> f32 {
    // The largest |v| as bits: for non-negative floats the bit patterns order as the values,
    // and infinities and NaNs have the largest (exponent all ones), so one integer max per
    // value finds both the scale and any bad value. 16 lanes so that it vectorises; a float
    // max with NaN checks took twice the instructions (`perf`, 2026-12-06).
    let mut lanes = [0u32; 16];
    let chunks = row.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..16 {
            lanes[l] = lanes[l].max(c[l].to_bits() & 0x7fff_ffff);
        }
    }
    for (l, &v) in rest.iter().enumerate() {
        lanes[l] = lanes[l].max(v.to_bits() & 0x7fff_ffff);
    }
    let top = lanes.iter().fold(0u32, |m, &v| m.max(v));
    let bad = top >= f32::INFINITY.to_bits();
    let amax = f32::from_bits(top);
    if bad || amax == 0.0 {
        q.fill(flip);
        // A NaN scale makes the result row NaN, as in f32, and the embedder's output check sees it.
        return if bad { f32::NAN } else { 0.0 };
    }
    q[row.len()..].fill(flip);
    let inv = 127.0 / amax;
    // Finite and clamped to ±127, so the unchecked conversion is exact; the saturating
    // `as i8` from f32 compiled to one scalar conversion per value (perf: most of this
    // function, itself 8 % of int8 document embedding).
    for (d, &v) in q.iter_mut().zip(row) {
        let r = (v * inv).round_ties_even().clamp(-127.0, 127.0);
        // SAFETY: `r` is finite and within [-127, 127].
        *d = (unsafe { r.to_int_unchecked::<i32>() } as i8) ^ flip;
    }
    amax / 127.0
}

/// [`quantize_row`] for an activation row read by `kernel`: the VNNI kernel reads `x + 128`
/// as u8, so its rows are stored shifted (top bit flipped). The kernel then broadcasts four
/// bytes straight from memory; flipping them in the loop took a scalar load, a xor and a
/// broadcast from a general register per four columns and row (`perf`, 2026-12-06).
fn quantize_row_for(row: &[f32], q: &mut [i8], kernel: Kernel) -> f32 {
    // Same condition as `tile`'s dispatch, which falls back to the portable kernel.
    let shifted = kernel == Kernel::Vnni && Kernel::Vnni.supported();
    quantize_row_xor(row, q, if shifted { i8::MIN } else { 0 })
}

/// Activations quantised per row, padded like the weights (shifted for the VNNI kernel:
/// [`quantize_row_for`]).
#[derive(Default)]
struct QuantRows {
    n: usize,
    stride: usize,
    data: Vec<i8>,
    scales: Vec<f32>,
}

impl QuantRows {
    fn new(x: &[f32], n: usize, cols: usize, stride: usize, kernel: Kernel) -> candle_core::Result<QuantRows> {
        if x.len() != n * cols {
            candle_core::bail!("int8: {} values are not {n} rows of {cols}", x.len());
        }
        let mut data = vec![0i8; n * stride];
        let mut scales = vec![0f32; n];
        data.par_chunks_mut(stride)
            .zip(x.par_chunks(cols))
            .zip(scales.par_iter_mut())
            .with_min_len(16)
            .for_each(|((q, row), s)| *s = quantize_row_for(row, q, kernel));
        Ok(QuantRows {
            n,
            stride,
            data,
            scales,
        })
    }

    /// Quantises `x` (`n` rows of `cols`) on the calling thread, reusing the buffers.
    fn refill(&mut self, x: &[f32], n: usize, cols: usize, stride: usize, kernel: Kernel) {
        debug_assert_eq!(x.len(), n * cols);
        self.n = n;
        self.stride = stride;
        // `quantize_row` writes every byte of its row, padding included.
        self.data.resize(n * stride, 0);
        self.scales.resize(n, 0.0);
        for ((q, row), s) in self.data.chunks_mut(stride).zip(x.chunks(cols)).zip(&mut self.scales) {
            *s = quantize_row_for(row, q, kernel);
        }
    }

    fn row(&self, i: usize) -> &[i8] {
        &self.data[i * self.stride..(i + 1) * self.stride]
    }
}

/// Buffers of one task working on a block of rows ([`mlp`], [`Block`]), reused from block
/// to block.
#[derive(Default)]
pub struct Scratch {
    xq: QuantRows,
    wide: Vec<f32>,
    act: Vec<f32>,
    aq: QuantRows,
}

/// Products on one block of rows, run on the calling thread: the body of a task that owns
/// [`BLOCK_ROWS`] rows of a larger input (the caller splits the rows and runs the blocks in
/// parallel). The arithmetic is that of [`QuantMatrix::linear_t`], so a fused chain of these
/// gives the unfused chain's values bit for bit.
pub struct Block;

impl Block {
    /// `x · wᵀ` for the `m` rows of `x` into `out` (`[m, w.rows()]`).
    pub fn linear_t(w: &QuantMatrix, x: &[f32], m: usize, out: &mut [f32], s: &mut Scratch) {
        debug_assert_eq!(out.len(), m * w.rows);
        s.xq.refill(x, m, w.cols, w.kp, w.kernel);
        w.sweep_into(&s.xq, out);
    }

    /// `down · act(gate_up · x)` for the `m` rows of `x` into `out` (`[m, down.rows()]`).
    pub fn mlp<A>(
        gate_up: &QuantMatrix,
        down: &QuantMatrix,
        act: &A,
        x: &[f32],
        m: usize,
        out: &mut [f32],
        s: &mut Scratch,
    ) where
        A: Fn(&[f32], &mut [f32]),
    {
        let (wide, inter) = (gate_up.rows, down.cols);
        s.xq.refill(x, m, gate_up.cols, gate_up.kp, gate_up.kernel);
        s.wide.resize(m * wide, 0.0);
        gate_up.sweep_into(&s.xq, &mut s.wide);
        s.act.resize(m * inter, 0.0);
        for (row, dst) in s.wide.chunks(wide).zip(s.act.chunks_mut(inter)) {
            act(row, dst);
        }
        s.aq.refill(&s.act, m, inter, down.kp, down.kernel);
        down.sweep_into(&s.aq, out);
    }
}

/// Rows per block of the fused paths: those of [`QuantMatrix::linear_t`]'s tasks.
pub const BLOCK_ROWS: usize = X_BLOCK;

/// Whether `n` rows take the fused per-block paths; fewer (a query's tokens) are bound by
/// reading the weights, and [`QuantMatrix::linear_t`] splits the weights across the cores.
pub fn fuses(n: usize) -> bool {
    n > FEW_ROWS
}

/// The feed-forward block `down · act(gate_up · x)` for `n` rows of `x`, with int8 weights.
///
/// `act(wide_row, out_row)` maps one row of `gate_up`'s output (`gate_up.rows()` wide) to one
/// row of `down`'s input (`down.cols()` wide). For many rows the three steps run per block of
/// rows in one task ([`Block::mlp`]), so the wide intermediate (2 × 1,152 floats a token)
/// stays in cache and is never written to memory: unfused, writing it, reading it back for the
/// activation and quantising the result cost about a sixth of int8 document embedding
/// (`perf`, 2026-12-06). The arithmetic is the unfused one, so the result is the same bit for
/// bit.
pub fn mlp<A>(x: &[f32], n: usize, gate_up: &QuantMatrix, down: &QuantMatrix, act: A) -> candle_core::Result<Vec<f32>>
where
    A: Fn(&[f32], &mut [f32]) + Sync,
{
    let (cols, wide, inter, o) = (gate_up.cols, gate_up.rows, down.cols, down.rows);
    if x.len() != n * cols || wide == 0 {
        candle_core::bail!("int8 mlp: {} values are not {n} rows of {cols}", x.len());
    }
    if !fuses(n) {
        let gu = gate_up.linear_t(x, n)?;
        let mut a = vec![0f32; n * inter];
        for (row, dst) in gu.chunks(wide).zip(a.chunks_mut(inter)) {
            act(row, dst);
        }
        return down.linear_t(&a, n);
    }
    let mut out = vec![0f32; n * o];
    out.par_chunks_mut(BLOCK_ROWS * o)
        .zip(x.par_chunks(BLOCK_ROWS * cols))
        .for_each_init(Scratch::default, |s, (chunk, x)| {
            Block::mlp(gate_up, down, &act, x, chunk.len() / o, chunk, s);
        });
    Ok(out)
}

/// One register tile: `MR` rows of x by `P` panels. Rows of x have length `kp` (a multiple
/// of 4) and panels `16 · kp`.
fn tile<const P: usize>(
    kernel: Kernel,
    x: &[&[i8]; MR],
    w: &[&[i8]; P],
    sums: &[&[i32]; P],
    out: &mut [[[i32; PANEL]; P]; MR],
) {
    debug_assert!(
        x.iter()
            .all(|r| r.len() % KG == 0 && w.iter().all(|p| p.len() == PANEL * r.len()))
    );
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU feature is checked right here; lengths are as the kernels require
        // (`QuantRows` rows and `QuantMatrix` panels share `kp`, sums are 16 long).
        Kernel::Vnni if Kernel::Vnni.supported() => unsafe { x86::tile_vnni(x, w, sums, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx2 if Kernel::Avx2.supported() => unsafe { x86::tile_avx2(x, w, out) },
        _ => tile_portable(x, w, out),
    }
}

#[inline(never)]
fn tile_portable<const P: usize>(x: &[&[i8]; MR], w: &[&[i8]; P], out: &mut [[[i32; PANEL]; P]; MR]) {
    for (xr, orow) in x.iter().zip(out.iter_mut()) {
        for (panel, acc) in w.iter().zip(orow.iter_mut()) {
            for (c, a) in acc.iter_mut().enumerate() {
                let mut sum = 0i32;
                for (g, four) in xr.chunks_exact(KG).enumerate() {
                    let wq = &panel[g * PANEL * KG + c * KG..][..KG];
                    sum += four.iter().zip(wq).map(|(&p, &q)| p as i32 * q as i32).sum::<i32>();
                }
                *a = sum;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{MR, PANEL};

    /// # Safety
    /// The CPU must have AVX-512F/BW and VNNI; rows of x hold `x + 128` as u8
    /// ([`super::quantize_row_for`]) and have one length `kp`, a multiple of 4; panels are
    /// `16 · kp` long; sums 16 long.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline(never)]
    pub unsafe fn tile_vnni<const P: usize>(
        x: &[&[i8]; MR],
        w: &[&[i8]; P],
        sums: &[&[i32]; P],
        out: &mut [[[i32; PANEL]; P]; MR],
    ) {
        let kp = x[0].len();
        let mut acc = [[_mm512_setzero_si512(); P]; MR];
        let mut g = 0;
        while g < kp {
            let mut wv = [_mm512_setzero_si512(); P];
            for b in 0..P {
                // SAFETY: g < kp so 16g + 64 <= 16 kp, the panel length.
                wv[b] = unsafe { _mm512_loadu_si512(w[b].as_ptr().add(g * PANEL) as *const _) };
            }
            for a in 0..MR {
                // SAFETY: g + 4 <= kp, the row length. The rows hold x + 128 as u8 already.
                let four = unsafe { (x[a].as_ptr().add(g) as *const i32).read_unaligned() };
                let xv = _mm512_set1_epi32(four);
                for b in 0..P {
                    acc[a][b] = _mm512_dpbusd_epi32(acc[a][b], xv, wv[b]);
                }
            }
            g += 4;
        }
        for b in 0..P {
            // SAFETY: sums[b] holds 16 i32.
            let corr = _mm512_slli_epi32(unsafe { _mm512_loadu_si512(sums[b].as_ptr() as *const _) }, 7);
            for a in 0..MR {
                // SAFETY: out[a][b] holds 16 i32.
                unsafe {
                    _mm512_storeu_si512(out[a][b].as_mut_ptr() as *mut _, _mm512_sub_epi32(acc[a][b], corr));
                }
            }
        }
    }

    /// # Safety
    /// The CPU must have AVX2; lengths as for [`tile_vnni`]; no value is -128.
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    pub unsafe fn tile_avx2<const P: usize>(x: &[&[i8]; MR], w: &[&[i8]; P], out: &mut [[[i32; PANEL]; P]; MR]) {
        let kp = x[0].len();
        let ones = _mm256_set1_epi16(1);
        // One panel (two registers of 8 rows) at a time: 8 accumulators, 16 registers in all.
        for b in 0..P {
            let mut acc = [[_mm256_setzero_si256(); 2]; MR];
            let mut g = 0;
            while g < kp {
                // SAFETY: g < kp so 16g + 64 <= 16 kp, the panel length.
                let (w0, w1) = unsafe {
                    let p = w[b].as_ptr().add(g * PANEL);
                    (
                        _mm256_loadu_si256(p as *const _),
                        _mm256_loadu_si256(p.add(32) as *const _),
                    )
                };
                let (a0, a1) = (_mm256_abs_epi8(w0), _mm256_abs_epi8(w1));
                for a in 0..MR {
                    // SAFETY: g + 4 <= kp, the row length.
                    let four = unsafe { (x[a].as_ptr().add(g) as *const i32).read_unaligned() };
                    let xv = _mm256_set1_epi32(four);
                    // |w| · (x · sign w) = w · x, pairs ≤ 2 · 127² so no i16 saturation.
                    let p0 = _mm256_maddubs_epi16(a0, _mm256_sign_epi8(xv, w0));
                    let p1 = _mm256_maddubs_epi16(a1, _mm256_sign_epi8(xv, w1));
                    acc[a][0] = _mm256_add_epi32(acc[a][0], _mm256_madd_epi16(p0, ones));
                    acc[a][1] = _mm256_add_epi32(acc[a][1], _mm256_madd_epi16(p1, ones));
                }
                g += 4;
            }
            for a in 0..MR {
                // SAFETY: out[a][b] holds 16 i32.
                unsafe {
                    let o = out[a][b].as_mut_ptr();
                    _mm256_storeu_si256(o as *mut _, acc[a][0]);
                    _mm256_storeu_si256(o.add(8) as *mut _, acc[a][1]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: reproducible inputs without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// Roughly normal, with an occasional large outlier like real activations.
        fn value(&mut self) -> f32 {
            let u: f32 = (0..4)
                .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
                .sum::<f32>()
                - 2.0;
            if self.next().is_multiple_of(97) { u * 20.0 } else { u }
        }
        fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.value()).collect()
        }
    }

    /// Plain row-by-row sums, quantising the same way but without the packed layout.
    fn reference_i32(w: &[f32], o: usize, x: &[f32], n: usize, k: usize) -> Vec<i32> {
        let q = |v: &[f32]| {
            let mut r = vec![0i8; k.div_ceil(KG) * KG];
            quantize_row(v, &mut r);
            r
        };
        let wq: Vec<Vec<i8>> = w.chunks(k).map(q).collect();
        let mut out = vec![0; n * o];
        for (i, xr) in x.chunks(k).map(q).enumerate() {
            for (j, wr) in wq.iter().enumerate() {
                out[i * o + j] = xr.iter().zip(wr).map(|(&a, &b)| a as i32 * b as i32).sum();
            }
        }
        out
    }

    #[test]
    fn all_kernels_give_the_same_integer_sums() {
        let mut rng = Rng(0x5eed_1234_abcd_0042);
        // Odd sizes: tails in every dimension (rows of x, rows of w, columns).
        for &(n, o, k) in &[
            (1, 1, 1),
            (3, 5, 67),
            (7, 131, 200),
            (33, 77, 129),
            (70, 130, 768),
            (129, 9, 1000),
        ] {
            let x = rng.vec(n * k);
            let w = rng.vec(o * k);
            let m = QuantMatrix::quantize(&w, o, k, Kernel::Portable).unwrap();
            let expected = reference_i32(&w, o, &x, n, k);
            assert!(expected.iter().any(|&v| v != 0));
            for kernel in Kernel::ALL.into_iter().filter(|k| k.supported()) {
                let got = m.products_i32(&x, n, kernel).unwrap();
                assert_eq!(got, expected, "{kernel:?} differs at n={n} o={o} k={k}");
            }
        }
    }

    #[test]
    fn fused_mlp_is_the_unfused_chain_bit_for_bit() {
        let mut rng = Rng(0x0dd5_eed5_2026_1206);
        // Odd widths (padded columns, a partial last panel) and row counts on both sides of
        // `FEW_ROWS`, with a partial last block of `X_BLOCK` rows.
        let (k, inter) = (70, 45);
        let (wg, wd) = (rng.vec(2 * inter * k), rng.vec(k * inter));
        let act = |row: &[f32], dst: &mut [f32]| {
            let (g, u) = row.split_at(inter);
            for ((d, &g), &u) in dst.iter_mut().zip(g).zip(u) {
                *d = g.max(0.0) * u;
            }
        };
        for n in [1, FEW_ROWS, FEW_ROWS + 1, 3 * X_BLOCK + 5] {
            let x = rng.vec(n * k);
            for kernel in Kernel::ALL.into_iter().filter(|k| k.supported()) {
                let gu = QuantMatrix::quantize(&wg, 2 * inter, k, kernel).unwrap();
                let down = QuantMatrix::quantize(&wd, k, inter, kernel).unwrap();
                let wide = gu.linear_t(&x, n).unwrap();
                let mut a = vec![0f32; n * inter];
                for (r, d) in wide.chunks(2 * inter).zip(a.chunks_mut(inter)) {
                    act(r, d);
                }
                let expected = down.linear_t(&a, n).unwrap();
                let got = mlp(&x, n, &gu, &down, act).unwrap();
                assert_eq!(got.len(), n * k);
                assert!(
                    got.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{kernel:?} differs at n={n}"
                );
            }
        }
        let gu = QuantMatrix::quantize(&wg, 2 * inter, k, Kernel::Portable).unwrap();
        let down = QuantMatrix::quantize(&wd, k, inter, Kernel::Portable).unwrap();
        assert!(mlp(&[0.0; 3], 1, &gu, &down, act).is_err());
    }

    #[test]
    fn extreme_values_do_not_saturate() {
        // Rows of ±127 only: the AVX2 pair sums reach 2·127² and VNNI's shifted terms 255·127.
        let (n, o, k) = (5, 6, 320);
        let sign = |r: usize, c: usize| match r % 3 {
            0 => 1.0,
            1 => -1.0,
            _ if c % 7 < 3 => 1.0,
            _ => -1.0,
        };
        let x: Vec<f32> = (0..n * k).map(|i| sign(i / k + 1, i % k)).collect();
        let w: Vec<f32> = (0..o * k).map(|i| sign(i / k, i % k)).collect();
        let m = QuantMatrix::quantize(&w, o, k, Kernel::Portable).unwrap();
        let expected = reference_i32(&w, o, &x, n, k);
        let full = (127 * 127 * k) as i32;
        assert!(expected.contains(&full) && expected.contains(&-full));
        for kernel in Kernel::ALL.into_iter().filter(|k| k.supported()) {
            assert_eq!(m.products_i32(&x, n, kernel).unwrap(), expected, "{kernel:?}");
        }
    }

    #[test]
    fn int8_linear_is_close_to_f32() {
        let mut rng = Rng(7);
        for &(n, o, k) in &[(2, 100, 300), (90, 70, 768)] {
            let x = rng.vec(n * k);
            let w = rng.vec(o * k);
            for kernel in Kernel::ALL.into_iter().filter(|k| k.supported()) {
                let m = QuantMatrix::quantize(&w, o, k, kernel).unwrap();
                let got = m.linear_t(&x, n).unwrap();
                let mut err = 0f64;
                let mut norm = 0f64;
                for i in 0..n {
                    for j in 0..o {
                        let exact: f64 = (0..k).map(|c| x[i * k + c] as f64 * w[j * k + c] as f64).sum();
                        err += (got[i * o + j] as f64 - exact).powi(2);
                        norm += exact * exact;
                    }
                }
                let rel = (err / norm).sqrt();
                // Outliers stretch the scales, so a few percent; a wrong kernel gives ~1.
                assert!(rel < 0.05, "{kernel:?} n={n}: relative error {rel}");
            }
        }
    }

    /// The row quantiser: round half to even, clamp to ±127, padding zeroed, whatever the
    /// buffer held before; a zero row has scale 0 and a row with NaN or ∞ a NaN scale.
    #[test]
    fn rows_quantise_as_the_reference_formula() {
        let mut rng = Rng(11);
        for len in [1usize, 15, 16, 17, 100, 768] {
            let mut row = rng.vec(len);
            // Exact ties after scaling: 0.5 steps of amax / 127.
            row[0] = 2.0;
            if len > 2 {
                row[1] = 2.0 * 10.5 / 127.0;
                row[2] = -2.0 * 3.5 / 127.0;
            }
            let mut q = vec![99i8; len + 5];
            let scale = quantize_row(&row, &mut q);
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert_eq!(scale, amax / 127.0);
            let inv = 127.0 / amax;
            for (i, &v) in row.iter().enumerate() {
                let want = (v * inv).round_ties_even().clamp(-127.0, 127.0) as i8;
                assert_eq!(q[i], want, "len {len}, value {i}: {v}");
            }
            assert!(q[len..].iter().all(|&p| p == 0), "padding of {len}");
        }
        let mut q = vec![5i8; 20];
        assert_eq!(quantize_row(&[0.0; 17], &mut q), 0.0);
        assert!(q.iter().all(|&v| v == 0));
        for bad in [f32::NAN, f32::INFINITY] {
            let mut row = vec![1.0f32; 17];
            row[9] = bad;
            let mut q = vec![5i8; 20];
            assert!(quantize_row(&row, &mut q).is_nan());
            assert!(q.iter().all(|&v| v == 0));
        }
    }

    #[test]
    fn zero_rows_and_bad_shapes() {
        let m = QuantMatrix::quantize(&[0.0; 6], 2, 3, Kernel::best()).unwrap();
        assert_eq!(m.linear_t(&[1.0, 2.0, 3.0], 1).unwrap(), vec![0.0, 0.0]);
        assert!(m.linear_t(&[1.0, 2.0], 1).is_err());
        assert!(QuantMatrix::quantize(&[1.0; 5], 2, 3, Kernel::Portable).is_err());
    }

    #[test]
    fn kernel_names_parse_and_unknown_ones_are_refused() {
        assert_eq!(Kernel::parse("portable").unwrap(), Kernel::Portable);
        assert_eq!(Kernel::parse(Kernel::best().name()).unwrap(), Kernel::best());
        let err = Kernel::parse("neon").unwrap_err().to_string();
        assert!(err.contains("SOURCIER_INT8_KERNEL") && err.contains("neon"), "{err}");
        for k in Kernel::ALL {
            assert_eq!(Kernel::parse(k.name()).is_ok(), k.supported());
        }
    }
}
