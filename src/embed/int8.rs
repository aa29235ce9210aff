//! Int8 matrix products for the embedder: `x · wᵀ` with int8 weights and int8 activations.
//!
//! Weights are quantised once, at load, per output row with a symmetric scale (`w ≈ s_j q_j`,
//! `q ∈ [-127, 127]`); activations per token (row of `x`) at each call. The integer dot
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
//! Rows of both operands are zero-padded to a multiple of 64 bytes so the kernels have no tail.

use rayon::prelude::*;

use crate::{Error, Result};

/// Row length granularity: one AVX-512 register of int8.
const PAD: usize = 64;
/// Register tile: rows of `x` by rows of `w` computed together, so each load is reused 4 times.
const MR: usize = 4;
const NR: usize = 4;
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

/// A weight matrix `[rows, cols]` in int8, one scale per row.
pub struct QuantMatrix {
    rows: usize,
    cols: usize,
    /// Padded row length (a multiple of 64).
    stride: usize,
    data: Vec<i8>,
    scales: Vec<f32>,
    /// `Σ_k q_jk` per row: the VNNI kernel's correction for its `+128` activation shift.
    sums: Vec<i32>,
    kernel: Kernel,
}

impl QuantMatrix {
    /// Quantises row-major f32 weights `[rows, cols]`; products will use `kernel`.
    pub fn quantize(w: &[f32], rows: usize, cols: usize, kernel: Kernel) -> candle_core::Result<QuantMatrix> {
        if w.len() != rows * cols || cols == 0 || cols > MAX_COLS {
            candle_core::bail!("int8: cannot quantise {} values as a {rows}x{cols} matrix", w.len());
        }
        let stride = cols.div_ceil(PAD) * PAD;
        let mut data = vec![0i8; rows * stride];
        let mut scales = vec![0f32; rows];
        let mut sums = vec![0i32; rows];
        data.par_chunks_mut(stride)
            .zip(w.par_chunks(cols))
            .zip(scales.par_iter_mut().zip(sums.par_iter_mut()))
            .for_each(|((q, row), (s, sum))| {
                *s = quantize_row(row, q);
                *sum = q.iter().map(|&v| v as i32).sum();
            });
        Ok(QuantMatrix {
            rows,
            cols,
            stride,
            data,
            scales,
            sums,
            kernel,
        })
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
        self.data.len() + 8 * self.rows
    }

    /// `x · wᵀ` for row-major `x` `[n, cols]`: `[n, rows]` in f32.
    pub fn linear_t(&self, x: &[f32], n: usize) -> candle_core::Result<Vec<f32>> {
        let xq = QuantRows::new(x, n, self.cols, self.stride)?;
        Ok(self.product(&xq, |acc, i, j| acc as f32 * (xq.scales[i] * self.scales[j])))
    }

    /// The exact integer products `q_x · q_wᵀ` computed by `kernel` (for tests and checks).
    pub fn products_i32(&self, x: &[f32], n: usize, kernel: Kernel) -> candle_core::Result<Vec<i32>> {
        let xq = QuantRows::new(x, n, self.cols, self.stride)?;
        Ok(Product { m: self, kernel }.run(&xq, |acc, _, _| acc))
    }

    fn product<O, F>(&self, xq: &QuantRows, finish: F) -> Vec<O>
    where
        O: Copy + Default + Send + Sync,
        F: Fn(i32, usize, usize) -> O + Sync,
    {
        Product {
            m: self,
            kernel: self.kernel,
        }
        .run(xq, finish)
    }
}

/// Symmetric int8 quantisation of one row into `q` (zero-padded); returns the scale.
fn quantize_row(row: &[f32], q: &mut [i8]) -> f32 {
    if !row.iter().all(|v| v.is_finite()) {
        // NaN scale: the result row is NaN, as in f32, and the embedder's output check sees it.
        q.fill(0);
        return f32::NAN;
    }
    let amax = row.iter().fold(0f32, |m, &v| m.max(v.abs()));
    if amax == 0.0 {
        q.fill(0);
        return 0.0;
    }
    let inv = 127.0 / amax;
    for (d, &v) in q.iter_mut().zip(row) {
        *d = (v * inv).round().clamp(-127.0, 127.0) as i8;
    }
    q[row.len()..].fill(0);
    amax / 127.0
}

/// Activations quantised per row, padded like the weights.
struct QuantRows {
    n: usize,
    stride: usize,
    data: Vec<i8>,
    scales: Vec<f32>,
}

impl QuantRows {
    fn new(x: &[f32], n: usize, cols: usize, stride: usize) -> candle_core::Result<QuantRows> {
        if x.len() != n * cols {
            candle_core::bail!("int8: {} values are not {n} rows of {cols}", x.len());
        }
        let mut data = vec![0i8; n * stride];
        let mut scales = vec![0f32; n];
        data.par_chunks_mut(stride)
            .zip(x.par_chunks(cols))
            .zip(scales.par_iter_mut())
            .for_each(|((q, row), s)| *s = quantize_row(row, q));
        Ok(QuantRows {
            n,
            stride,
            data,
            scales,
        })
    }

    fn row(&self, i: usize) -> &[i8] {
        &self.data[i * self.stride..(i + 1) * self.stride]
    }
}

/// One product of quantised activations by a weight matrix, with a given kernel.
struct Product<'a> {
    m: &'a QuantMatrix,
    kernel: Kernel,
}

/// Weight rows per block: 128 rows of 768 bytes (96 KiB) stay in L2 while x streams past.
const W_BLOCK: usize = 128;
/// Rows of x per parallel task in the many-rows case (48 KiB of int8 at 768 columns).
const X_BLOCK: usize = 64;
/// Up to this many rows of x, tasks split the weights instead (a query's few tokens).
const FEW_ROWS: usize = 64;

impl Product<'_> {
    fn wrow(&self, j: usize) -> &[i8] {
        let s = self.m.stride;
        &self.m.data[j * s..(j + 1) * s]
    }

    /// Calls `finish(sum, i, j)` for every `(row of x, row of w)` pair; returns `[n, rows]`.
    fn run<O, F>(&self, xq: &QuantRows, finish: F) -> Vec<O>
    where
        O: Copy + Default + Send + Sync,
        F: Fn(i32, usize, usize) -> O + Sync,
    {
        let (n, o) = (xq.n, self.m.rows);
        let mut out = vec![O::default(); n * o];
        if n == 0 || o == 0 {
            return out;
        }
        if n <= FEW_ROWS {
            // Tasks own blocks of weight rows, each read once from memory; the output is
            // written transposed so each task owns contiguous memory, then put back.
            let mut out_t = vec![O::default(); o * n];
            out_t.par_chunks_mut(W_BLOCK * n).enumerate().for_each(|(b, chunk)| {
                let j0 = b * W_BLOCK;
                let j1 = (j0 + W_BLOCK).min(o);
                self.block(xq, 0..n, j0..j1, &finish, &mut |i, j, v| chunk[(j - j0) * n + i] = v);
            });
            for j in 0..o {
                for i in 0..n {
                    out[i * o + j] = out_t[j * n + i];
                }
            }
        } else {
            // Tasks own blocks of x rows (contiguous output rows) and sweep the weights block
            // by block, so each weight block is reused from cache by all the rows of the task.
            out.par_chunks_mut(X_BLOCK * o).enumerate().for_each(|(b, chunk)| {
                let i0 = b * X_BLOCK;
                let i1 = (i0 + X_BLOCK).min(n);
                for j0 in (0..o).step_by(W_BLOCK) {
                    let j1 = (j0 + W_BLOCK).min(o);
                    self.block(xq, i0..i1, j0..j1, &finish, &mut |i, j, v| chunk[(i - i0) * o + j] = v);
                }
            });
        }
        out
    }

    /// All tiles of `xs × js`, results handed to `store(i, j, finish(sum, i, j))`.
    fn block<O, F, S>(
        &self,
        xq: &QuantRows,
        xs: std::ops::Range<usize>,
        js: std::ops::Range<usize>,
        finish: &F,
        store: &mut S,
    ) where
        F: Fn(i32, usize, usize) -> O,
        S: FnMut(usize, usize, O),
    {
        for i0 in xs.clone().step_by(MR) {
            let mi = (xs.end - i0).min(MR);
            // Missing rows of an edge tile repeat the last real one; their sums are dropped.
            let xr: [&[i8]; MR] = std::array::from_fn(|a| xq.row(i0 + a.min(mi - 1)));
            for j0 in js.clone().step_by(NR) {
                let nj = (js.end - j0).min(NR);
                let wr: [&[i8]; NR] = std::array::from_fn(|b| self.wrow(j0 + b.min(nj - 1)));
                let ws: [i32; NR] = std::array::from_fn(|b| self.m.sums[j0 + b.min(nj - 1)]);
                let t = tile(self.kernel, &xr, &wr, &ws);
                for (a, row) in t.iter().enumerate().take(mi) {
                    for (b, &v) in row.iter().enumerate().take(nj) {
                        store(i0 + a, j0 + b, finish(v, i0 + a, j0 + b));
                    }
                }
            }
        }
    }
}

/// One register tile of exact dot products. All rows have the same length, a multiple of 64.
fn tile(kernel: Kernel, x: &[&[i8]; MR], w: &[&[i8]; NR], wsum: &[i32; NR]) -> [[i32; NR]; MR] {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Vnni`/`Avx2` kernel is only chosen after `Kernel::supported` (see `parse`
        // and `best`); rows are equal-length multiples of 64 bytes (`QuantRows`, `QuantMatrix`).
        Kernel::Vnni if Kernel::Vnni.supported() => unsafe { x86::tile_vnni(x, w, wsum) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx2 if Kernel::Avx2.supported() => unsafe { x86::tile_avx2(x, w) },
        _ => tile_portable(x, w),
    }
}

fn tile_portable(x: &[&[i8]; MR], w: &[&[i8]; NR]) -> [[i32; NR]; MR] {
    let mut out = [[0i32; NR]; MR];
    for (a, xr) in x.iter().enumerate() {
        for (b, wr) in w.iter().enumerate() {
            out[a][b] = xr.iter().zip(wr.iter()).map(|(&p, &q)| p as i32 * q as i32).sum();
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// # Safety
    /// The CPU must have AVX-512F/BW and VNNI; all rows must have one length, a multiple of 64.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn tile_vnni(x: &[&[i8]; MR], w: &[&[i8]; NR], wsum: &[i32; NR]) -> [[i32; NR]; MR] {
        let k = x[0].len();
        let shift = _mm512_set1_epi8(-128);
        let mut acc = [[_mm512_setzero_si512(); NR]; MR];
        let mut c = 0;
        while c < k {
            let mut wv = [_mm512_setzero_si512(); NR];
            for b in 0..NR {
                // SAFETY: c + 64 <= k and every row has length k.
                wv[b] = unsafe { _mm512_loadu_si512(w[b].as_ptr().add(c) as *const _) };
            }
            for a in 0..MR {
                // x + 128 as u8: flipping the top bit is the same as adding 128 to an i8.
                // SAFETY: as above.
                let xv = _mm512_xor_si512(unsafe { _mm512_loadu_si512(x[a].as_ptr().add(c) as *const _) }, shift);
                for b in 0..NR {
                    acc[a][b] = _mm512_dpbusd_epi32(acc[a][b], xv, wv[b]);
                }
            }
            c += 64;
        }
        let mut out = [[0i32; NR]; MR];
        for a in 0..MR {
            for b in 0..NR {
                // Wrapping: the shifted sum may exceed i32 transiently only in theory; the
                // difference is exact in two's complement either way.
                out[a][b] = _mm512_reduce_add_epi32(acc[a][b]).wrapping_sub(wsum[b].wrapping_mul(128));
            }
        }
        out
    }

    /// # Safety
    /// The CPU must have AVX2; all rows must have one length, a multiple of 32; no value is -128.
    #[target_feature(enable = "avx2")]
    pub unsafe fn tile_avx2(x: &[&[i8]; MR], w: &[&[i8]; NR]) -> [[i32; NR]; MR] {
        let k = x[0].len();
        let ones = _mm256_set1_epi16(1);
        let mut out = [[0i32; NR]; MR];
        // Two weight rows at a time: 8 accumulators, 16 registers in all.
        for b0 in (0..NR).step_by(2) {
            let mut acc = [[_mm256_setzero_si256(); 2]; MR];
            let mut c = 0;
            while c < k {
                // SAFETY: c + 32 <= k and every row has length k.
                let wv = unsafe {
                    [
                        _mm256_loadu_si256(w[b0].as_ptr().add(c) as *const _),
                        _mm256_loadu_si256(w[b0 + 1].as_ptr().add(c) as *const _),
                    ]
                };
                let wabs = [_mm256_abs_epi8(wv[0]), _mm256_abs_epi8(wv[1])];
                for a in 0..MR {
                    // SAFETY: as above.
                    let xv = unsafe { _mm256_loadu_si256(x[a].as_ptr().add(c) as *const _) };
                    for b in 0..2 {
                        // |w| · (x · sign w) = w · x, pairs ≤ 2 · 127² so no i16 saturation.
                        let p = _mm256_maddubs_epi16(wabs[b], _mm256_sign_epi8(xv, wv[b]));
                        acc[a][b] = _mm256_add_epi32(acc[a][b], _mm256_madd_epi16(p, ones));
                    }
                }
                c += 32;
            }
            for a in 0..MR {
                for b in 0..2 {
                    out[a][b0 + b] = hsum256(acc[a][b]);
                }
            }
        }
        out
    }

    #[target_feature(enable = "avx2")]
    fn hsum256(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        _mm_cvtsi128_si32(s)
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
            if self.next() % 97 == 0 { u * 20.0 } else { u }
        }
        fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.value()).collect()
        }
    }

    fn reference_i32(m: &QuantMatrix, x: &[f32], n: usize) -> Vec<i32> {
        let xq = QuantRows::new(x, n, m.cols, m.stride).unwrap();
        let mut out = vec![0; n * m.rows];
        for i in 0..n {
            for j in 0..m.rows {
                out[i * m.rows + j] = xq
                    .row(i)
                    .iter()
                    .zip(&m.data[j * m.stride..(j + 1) * m.stride])
                    .map(|(&a, &b)| a as i32 * b as i32)
                    .sum();
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
            let expected = reference_i32(&m, &x, n);
            assert!(expected.iter().any(|&v| v != 0));
            for kernel in Kernel::ALL.into_iter().filter(|k| k.supported()) {
                let got = m.products_i32(&x, n, kernel).unwrap();
                assert_eq!(got, expected, "{kernel:?} differs at n={n} o={o} k={k}");
            }
        }
    }

    #[test]
    fn extreme_values_do_not_saturate() {
        // All ±127 products: the AVX2 pair sums reach 2·127² and VNNI's shifted sums 255·127.
        let (n, o, k) = (5, 6, 320);
        let x: Vec<f32> = (0..n * k).map(|i| if i % 3 == 0 { -1.0 } else { 1.0 }).collect();
        let w: Vec<f32> = (0..o * k).map(|i| if i % 5 == 0 { 1.0 } else { -1.0 }).collect();
        let m = QuantMatrix::quantize(&w, o, k, Kernel::Portable).unwrap();
        let expected = reference_i32(&m, &x, n);
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
