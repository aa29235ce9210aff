//! Load-time conversion of weights candle multiplies slowly into Q8_0, which it multiplies fast.
//!
//! candle 0.11 has SIMD dot products for Q4_0, Q8_0 and the K-quants, but Q5_0, Q5_1 and Q4_1
//! go through scalar code. Files whose rows are not a multiple of 256 cannot use K-quants, so
//! llama.cpp's "Q4_K_M" falls back to Q5_0 for most of a small model (Qwen2.5-0.5B: 133 of its
//! tensors) and candle ends up ~2x slower than it could be. Q5_0 fits in Q8_0 exactly (same
//! 32-value blocks and scale, 5-bit integers widened to 8), at 55% more memory; Q5_1 and Q4_1
//! carry an offset Q8_0 lacks and are re-quantized, losing almost nothing.
//!
//! candle's model constructors read tensors from a `Content` and a reader, so the conversion
//! sits between them: [`Requantized`] rewrites the tensor table so converted tensors live past
//! the end of the file, and its reader produces their Q8_0 bytes, one tensor at a time, when
//! the constructor seeks there.

use std::io::{self, Read, Seek, SeekFrom};

use candle_core::quantized::gguf_file::{Content, TensorInfo};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rayon::prelude::*;

/// Types with scalar-only kernels in candle, worth converting.
fn is_slow(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::Q5_0 | GgmlDType::Q5_1 | GgmlDType::Q4_1)
}

/// A converted tensor: where it sits past the end of the file, and where it came from.
struct Converted {
    start: u64,
    len: u64,
    original: TensorInfo,
}

/// A reader over the GGUF file extended with converted tensors past its end.
pub(crate) struct Requantized<R> {
    inner: R,
    tensor_data_offset: u64,
    file_len: u64,
    virtual_len: u64,
    converted: Vec<Converted>,
    pos: u64,
    /// The Q8_0 bytes of the last converted tensor read (constructors read a tensor at once).
    cache: Option<(usize, Vec<u8>)>,
}

/// Rewrites `content` so slow-kernel matrices read as Q8_0 through the returned reader.
/// `token_embd.weight` is left alone when the file has a separate `output.weight`: it is then
/// only an embedding table, dequantized to f32 anyway. Returns how many tensors changed.
pub(crate) fn requantize<R: Read + Seek>(
    mut content: Content,
    mut inner: R,
) -> io::Result<(Content, Requantized<R>, usize)> {
    let file_len = inner.seek(SeekFrom::End(0))?;
    let tied_output = !content.tensor_infos.contains_key("output.weight");
    let mut names: Vec<String> = content
        .tensor_infos
        .iter()
        .filter(|(name, info)| {
            is_slow(info.ggml_dtype) && info.shape.rank() == 2 && (name.as_str() != "token_embd.weight" || tied_output)
        })
        .map(|(name, _)| name.clone())
        .collect();
    names.sort();
    let mut converted = Vec::with_capacity(names.len());
    let mut end = file_len;
    for name in &names {
        let info = content.tensor_infos.remove(name).expect("listed above");
        let elems = info.shape.elem_count() as u64;
        let len = elems / GgmlDType::Q8_0.block_size() as u64 * GgmlDType::Q8_0.type_size() as u64;
        content.tensor_infos.insert(
            name.clone(),
            TensorInfo {
                ggml_dtype: GgmlDType::Q8_0,
                shape: info.shape.clone(),
                offset: end - content.tensor_data_offset,
            },
        );
        converted.push(Converted {
            start: end,
            len,
            original: info,
        });
        end += len;
    }
    let n = converted.len();
    let reader = Requantized {
        inner,
        tensor_data_offset: content.tensor_data_offset,
        file_len,
        virtual_len: end,
        converted,
        pos: 0,
        cache: None,
    };
    Ok((content, reader, n))
}

impl<R: Read + Seek> Requantized<R> {
    /// The Q8_0 bytes of converted tensor `i`.
    fn convert(&mut self, i: usize) -> candle_core::Result<Vec<u8>> {
        let original = &self.converted[i].original;
        if original.ggml_dtype == GgmlDType::Q5_0 {
            let len = original.shape.elem_count() / 32 * Q5_0_BYTES;
            let mut raw = vec![0u8; len];
            self.inner
                .seek(SeekFrom::Start(self.tensor_data_offset + original.offset))?;
            self.inner.read_exact(&mut raw)?;
            return Ok(q5_0_to_q8_0(&raw));
        }
        let q = self.converted[i]
            .original
            .read(&mut self.inner, self.tensor_data_offset, &Device::Cpu)?;
        let dims = q.shape().dims().to_vec();
        let cols = *dims.last().unwrap_or(&1);
        let values = q.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
        drop(q);
        // Blocks never straddle rows, so row ranges quantize independently, in parallel.
        let rows_per_part = (1 << 16) / cols.max(1) + 1;
        let parts: Vec<Vec<u8>> = values
            .par_chunks(rows_per_part * cols)
            .map(|part| -> candle_core::Result<Vec<u8>> {
                let t = Tensor::from_slice(part, (part.len() / cols, cols), &Device::Cpu)?;
                Ok(QTensor::quantize(&t, GgmlDType::Q8_0)?.data()?.into_owned())
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(parts.concat())
    }
}

/// Bytes of a ggml Q5_0 block: f16 scale, 32 high bits, 16 bytes of low nibbles.
const Q5_0_BYTES: usize = 22;
/// Bytes of a ggml Q8_0 block: f16 scale, 32 signed bytes.
const Q8_0_BYTES: usize = 34;

/// Rewrites Q5_0 blocks as Q8_0 blocks of the same values: the scale is kept and each 5-bit
/// value (0..32, offset by 16) becomes a signed byte.
fn q5_0_to_q8_0(src: &[u8]) -> Vec<u8> {
    let blocks = src.len() / Q5_0_BYTES;
    let mut out = vec![0u8; blocks * Q8_0_BYTES];
    const PART: usize = 4096;
    out.par_chunks_mut(PART * Q8_0_BYTES)
        .zip(src.par_chunks(PART * Q5_0_BYTES))
        .for_each(|(out, src)| {
            for (o, s) in out.chunks_exact_mut(Q8_0_BYTES).zip(src.chunks_exact(Q5_0_BYTES)) {
                o[..2].copy_from_slice(&s[..2]);
                let qh = u32::from_le_bytes([s[2], s[3], s[4], s[5]]);
                let qs = &s[6..22];
                for j in 0..16 {
                    let hi0 = (((qh >> j) << 4) & 0x10) as u8;
                    let hi1 = ((qh >> (j + 12)) & 0x10) as u8;
                    o[2 + j] = (((qs[j] & 0x0F) | hi0) as i8 - 16) as u8;
                    o[2 + j + 16] = (((qs[j] >> 4) | hi1) as i8 - 16) as u8;
                }
            }
        });
    out
}

impl<R: Read + Seek> Read for Requantized<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.file_len {
            let n = buf.len().min((self.file_len - self.pos) as usize);
            self.inner.seek(SeekFrom::Start(self.pos))?;
            let n = self.inner.read(&mut buf[..n])?;
            self.pos += n as u64;
            return Ok(n);
        }
        let pos = self.pos;
        let Some(i) = self
            .converted
            .iter()
            .position(|c| pos >= c.start && pos < c.start + c.len)
        else {
            return Ok(0);
        };
        if self.cache.as_ref().map(|(j, _)| *j) != Some(i) {
            self.cache = None;
            let bytes = self.convert(i).map_err(io::Error::other)?;
            if bytes.len() as u64 != self.converted[i].len {
                return Err(io::Error::other("re-quantized tensor has an unexpected size"));
            }
            self.cache = Some((i, bytes));
        }
        let (_, bytes) = self.cache.as_ref().expect("filled above");
        let from = (pos - self.converted[i].start) as usize;
        let n = buf.len().min(bytes.len() - from);
        buf[..n].copy_from_slice(&bytes[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Requantized<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.virtual_len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use candle_core::quantized::gguf_file::{self, Value};
    use candle_core::{IndexOp, Module};

    use super::*;

    #[test]
    fn q5_0_converts_to_q8_0_exactly() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 0.05, (8, 64), &dev).unwrap();
        let q5 = QTensor::quantize(&w, GgmlDType::Q5_0).unwrap();
        let bytes = q5_0_to_q8_0(&q5.data().unwrap());
        let q8 =
            candle_core::quantized::ggml_file::qtensor_from_ggml(GgmlDType::Q8_0, &bytes, vec![8, 64], &dev).unwrap();
        let a = q5
            .dequantize(&dev)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let b = q8
            .dequantize(&dev)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn q4_1_tensors_are_requantized_closely() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 0.05, (16, 64), &dev).unwrap();
        let q41 = QTensor::quantize(&w, GgmlDType::Q4_1).unwrap();
        let mut file = Cursor::new(Vec::new());
        let md = Value::String("test".into());
        gguf_file::write(
            &mut file,
            &[("general.architecture", &md)],
            &[("blk.0.attn_q.weight", &q41)],
        )
        .unwrap();
        file.set_position(0);
        let content = Content::read(&mut file).unwrap();
        let (content, mut reader, n) = requantize(content, file).unwrap();
        assert_eq!(n, 1);
        let q8 = content.tensor(&mut reader, "blk.0.attn_q.weight", &dev).unwrap();
        assert_eq!(q8.dtype(), GgmlDType::Q8_0);
        let a = q41.dequantize(&dev).unwrap();
        let b = q8.dequantize(&dev).unwrap();
        let err = (&a - &b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let scale = a.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(err < 0.01 * scale, "{err} vs {scale}");
    }

    #[test]
    fn q5_0_tensors_read_back_as_close_q8_0() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 0.05, (48, 64), &dev).unwrap();
        let q5 = QTensor::quantize(&w, GgmlDType::Q5_0).unwrap();
        let q4k = QTensor::quantize(&Tensor::randn(0f32, 1.0, (2, 256), &dev).unwrap(), GgmlDType::Q4K).unwrap();
        let emb = QTensor::quantize(&w, GgmlDType::Q5_0).unwrap();
        let mut file = Cursor::new(Vec::new());
        let md = Value::String("test".into());
        gguf_file::write(
            &mut file,
            &[("general.architecture", &md)],
            &[
                ("blk.0.ffn_up.weight", &q5),
                ("blk.0.ffn_down.weight", &q4k),
                ("token_embd.weight", &emb),
                ("output.weight", &q4k),
            ],
        )
        .unwrap();
        file.set_position(0);
        let content = Content::read(&mut file).unwrap();
        let (content, mut reader, n) = requantize(content, file).unwrap();
        assert_eq!(n, 1, "only the Q5_0 matrix: the embedding table is untied");
        let up = content.tensor(&mut reader, "blk.0.ffn_up.weight", &dev).unwrap();
        assert_eq!(up.dtype(), GgmlDType::Q8_0);
        let down = content.tensor(&mut reader, "blk.0.ffn_down.weight", &dev).unwrap();
        assert_eq!(down.dtype(), GgmlDType::Q4K);
        assert_eq!(
            content.tensor(&mut reader, "token_embd.weight", &dev).unwrap().dtype(),
            GgmlDType::Q5_0
        );

        // The Q8_0 copy holds the same values, so it multiplies like the Q5_0 original.
        let x = Tensor::randn(0f32, 1.0, (3, 64), &dev).unwrap();
        let a = candle_core::quantized::QMatMul::from_qtensor(q5)
            .unwrap()
            .forward(&x)
            .unwrap();
        let b = candle_core::quantized::QMatMul::from_qtensor(up)
            .unwrap()
            .forward(&x)
            .unwrap();
        let err = (&a - &b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let scale = a.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(err < 1e-3 * scale, "{err} vs {scale}");
        assert_eq!(a.i(0).unwrap().dims(), [48]);
    }
}
