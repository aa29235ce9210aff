//! The int8 weights cache: a model's quantised layer matrices, written into the model folder
//! on its first int8 load and memory-mapped by every later one.
//!
//! Quantising the 96 layer matrices takes hundreds of milliseconds at every start (read 400 MB
//! of f32, find each row's scale, round, pack into panels); mapping the result takes a few.
//! The file holds exactly the arrays the kernels read (packed panels, row scales, row sums),
//! so a load copies nothing: the matrices point into the mapping.
//!
//! Never trusted blindly. The header names the format version and the identity of the source
//! weights (size and sha256 of the first and last MiB of `model.safetensors`, which hold its
//! header and last tensors, and of `config.json`), and a CRC-32 covers everything after it,
//! checked before any byte is used. A file that is damaged, from another format version, or
//! made from other weights is passed over with a warning, and the matrices are quantised from
//! the weights again and the file rewritten (temp file + rename, so readers never see a part).
//!
//! Layout, little-endian (a big-endian CPU never writes or reads the file): a 64-byte header
//! (magic, format version, CRC-32, source identity, matrix count, file length), then per
//! matrix `rows`, `cols` and the byte offset of its data (u64 each), then each matrix's packed
//! weights, scales (f32) and row sums (i32), every array starting on a 64-byte boundary so the
//! mapped slices are aligned for the kernels' loads.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::int8::{Buf, Kernel, QuantMatrix, packed_lens};
use crate::{Error, Result};

/// Name of the cache file in the model folder.
pub const CACHE_FILE: &str = "sourcier-int8.bin";
/// Version of the layout; also bumped whenever the quantisation itself changes.
pub const CACHE_FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 8] = b"SRCRINT8";
const HEADER: usize = 64;
const ENTRY: usize = 24;
const ALIGN: usize = 64;

/// What the cache was made from: the sha256 of the source weights' size, first and last MiB
/// and `config.json`. Cheap (2 MiB read) yet changes with any other download or model.
pub fn source_identity(dir: &Path) -> Result<[u8; 32]> {
    let mut h = Sha256::new();
    let cfg = dir.join("config.json");
    h.update(std::fs::read(&cfg).map_err(Error::io("reading", &cfg))?);
    super::hash_weight_ends(&mut h, &dir.join("model.safetensors"))?;
    Ok(h.finalize().into())
}

fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Byte offsets, from a matrix's data offset, of its scales and sums, and its data length.
fn matrix_layout(rows: usize, cols: usize) -> (usize, usize, usize) {
    let (np, ns) = packed_lens(rows, cols);
    let scales = align(np);
    let sums = scales + align(ns * 4);
    (scales, sums, sums + align(ns * 4))
}

/// Maps the cache of the model folder `dir` and returns its matrices, which must have the `shapes` expected
/// (`[rows, cols]` each, in order) and run with `kernel`. `Ok(None)` when there is no cache;
/// `Err` says why an existing one cannot be used.
pub fn load(
    dir: &Path,
    identity: &[u8; 32],
    shapes: &[(usize, usize)],
    kernel: Kernel,
) -> Result<Option<Vec<QuantMatrix>>> {
    let path = &dir.join(CACHE_FILE);
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("opening", path)(e)),
    };
    let corrupt = |detail: &str| Error::Corrupt {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };
    if cfg!(target_endian = "big") {
        return Err(corrupt("the int8 cache is little-endian and this CPU is not"));
    }
    // SAFETY: the file is only ever replaced by rename, never written in place, so the
    // mapped bytes do not change under us (an edit by hand is caught by the CRC below).
    let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(Error::io("mapping", path))?;
    let map = Arc::new(map);
    let u32_at = |o: usize| u32::from_le_bytes(map[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(map[o..o + 8].try_into().expect("8 bytes")) as usize;
    if map.len() < HEADER || &map[..8] != MAGIC {
        return Err(corrupt("not an int8 weights cache"));
    }
    let version = u32_at(8);
    if version != CACHE_FORMAT_VERSION {
        return Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            found: version,
            supported: CACHE_FORMAT_VERSION,
        });
    }
    if &map[16..48] != identity {
        return Err(corrupt("made from other weights"));
    }
    if u64_at(56) != map.len() {
        return Err(corrupt("truncated"));
    }
    if crc32fast::hash(&map[16..]) != u32_at(12) {
        return Err(corrupt("checksum mismatch"));
    }
    let count = u32_at(48) as usize;
    if count != shapes.len() || HEADER + count * ENTRY > map.len() {
        return Err(corrupt("holds other matrices than the model has"));
    }
    let mut out = Vec::with_capacity(count);
    for (i, &(rows, cols)) in shapes.iter().enumerate() {
        let e = HEADER + i * ENTRY;
        let off = u64_at(e + 16);
        if (u64_at(e), u64_at(e + 8)) != (rows, cols) {
            return Err(corrupt("holds other matrices than the model has"));
        }
        let (np, ns) = packed_lens(rows, cols);
        let (scales_at, sums_at, _) = matrix_layout(rows, cols);
        let bad = || corrupt("a matrix lies outside the file");
        let m = QuantMatrix::from_parts(
            rows,
            cols,
            Buf::mapped(&map, off, np).ok_or_else(bad)?,
            Buf::mapped(&map, off.checked_add(scales_at).ok_or_else(bad)?, ns).ok_or_else(bad)?,
            Buf::mapped(&map, off.checked_add(sums_at).ok_or_else(bad)?, ns).ok_or_else(bad)?,
            kernel,
        )?;
        out.push(m);
    }
    Ok(Some(out))
}

/// Writes `mats` as the cache of the model folder `dir`, atomically (temp file in the same
/// folder, fsync, rename).
pub fn store(dir: &Path, identity: &[u8; 32], mats: &[&QuantMatrix]) -> Result<()> {
    if cfg!(target_endian = "big") {
        return Ok(());
    }
    let path = &dir.join(CACHE_FILE);
    let out = tempfile::NamedTempFile::new_in(dir).map_err(Error::io("creating a temporary file in", dir))?;
    let mut offsets = Vec::with_capacity(mats.len());
    let mut at = align(HEADER + mats.len() * ENTRY);
    for m in mats {
        offsets.push(at);
        at += matrix_layout(m.rows(), m.cols()).2;
    }
    let total = at;
    let mut body = Vec::with_capacity(at);
    body.extend_from_slice(identity);
    body.extend_from_slice(&(mats.len() as u32).to_le_bytes());
    body.extend_from_slice(&[0u8; 4]);
    body.extend_from_slice(&(total as u64).to_le_bytes());
    for (m, &off) in mats.iter().zip(&offsets) {
        for v in [m.rows(), m.cols(), off] {
            body.extend_from_slice(&(v as u64).to_le_bytes());
        }
    }
    let mut hasher = crc32fast::Hasher::new();
    let write_err = |e: std::io::Error| Error::io("writing", path)(e);
    {
        let mut w = BufWriter::with_capacity(1 << 20, out.as_file());
        w.write_all(&[0u8; 16]).map_err(write_err)?;
        // Everything after the first 16 bytes goes through the CRC.
        let mut put = |bytes: &[u8], w: &mut BufWriter<&std::fs::File>| -> std::io::Result<()> {
            hasher.update(bytes);
            w.write_all(bytes)
        };
        put(&body, &mut w).map_err(write_err)?;
        let mut written = 16 + body.len();
        let zeros = [0u8; ALIGN];
        for (m, &off) in mats.iter().zip(&offsets) {
            let pad = off - written;
            put(&zeros[..pad], &mut w).map_err(write_err)?;
            let (packed, scales, sums) = m.parts();
            // SAFETY: i8 and u8 have the same size and every bit pattern is valid in both.
            let packed = unsafe { std::slice::from_raw_parts(packed.as_ptr().cast::<u8>(), packed.len()) };
            let (scales_at, sums_at, len) = matrix_layout(m.rows(), m.cols());
            put(packed, &mut w).map_err(write_err)?;
            put(&zeros[..scales_at - packed.len()], &mut w).map_err(write_err)?;
            let scale_bytes: Vec<u8> = scales.iter().flat_map(|v| v.to_le_bytes()).collect();
            put(&scale_bytes, &mut w).map_err(write_err)?;
            put(&zeros[..sums_at - scales_at - scale_bytes.len()], &mut w).map_err(write_err)?;
            let sum_bytes: Vec<u8> = sums.iter().flat_map(|v| v.to_le_bytes()).collect();
            put(&sum_bytes, &mut w).map_err(write_err)?;
            put(&zeros[..len - sums_at - sum_bytes.len()], &mut w).map_err(write_err)?;
            written = off + len;
        }
        w.flush().map_err(write_err)?;
        debug_assert_eq!(written, total);
    }
    let mut head = Vec::with_capacity(16);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&CACHE_FORMAT_VERSION.to_le_bytes());
    head.extend_from_slice(&hasher.finalize().to_le_bytes());
    let mut f = out.as_file();
    f.seek(SeekFrom::Start(0)).map_err(write_err)?;
    f.write_all(&head).map_err(write_err)?;
    f.sync_all().map_err(Error::io("syncing", path))?;
    out.persist(path).map_err(|e| Error::io("replacing", path)(e.error))?;
    crate::fsx::sync_dir(dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrices(kernel: Kernel) -> Vec<QuantMatrix> {
        // Odd shapes: padding of rows to panels and of columns to groups of four.
        [(5usize, 7usize), (33, 64), (16, 130)]
            .iter()
            .enumerate()
            .map(|(i, &(r, c))| {
                let w: Vec<f32> = (0..r * c).map(|j| ((j * 31 + i * 7) % 23) as f32 - 11.0).collect();
                QuantMatrix::quantize(&w, r, c, kernel).unwrap()
            })
            .collect()
    }

    fn shapes(m: &[QuantMatrix]) -> Vec<(usize, usize)> {
        m.iter().map(|m| (m.rows(), m.cols())).collect()
    }

    fn stored(dir: &Path) -> (Vec<QuantMatrix>, [u8; 32]) {
        let mats = matrices(Kernel::Portable);
        let id = [7u8; 32];
        store(dir, &id, &mats.iter().collect::<Vec<_>>()).unwrap();
        (mats, id)
    }

    #[test]
    fn a_stored_cache_maps_back_to_the_same_matrices() {
        let dir = tempfile::tempdir().unwrap();
        let (mats, id) = stored(dir.path());
        let back = load(dir.path(), &id, &shapes(&mats), Kernel::best()).unwrap().unwrap();
        for (a, b) in mats.iter().zip(&back) {
            assert_eq!(a.parts(), b.parts());
            assert_eq!(b.kernel(), Kernel::best());
            let x: Vec<f32> = (0..3 * a.cols()).map(|i| (i % 5) as f32 - 2.0).collect();
            assert_eq!(a.linear_t(&x, 3).unwrap(), b.linear_t(&x, 3).unwrap());
        }
        // The mapped arrays are aligned for the kernels' loads.
        let (p, s, _) = back[1].parts();
        assert!((p.as_ptr() as usize).is_multiple_of(ALIGN));
        assert!((s.as_ptr() as usize).is_multiple_of(ALIGN));
    }

    #[test]
    fn no_cache_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            load(dir.path(), &[0; 32], &[(1, 1)], Kernel::Portable)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn damaged_or_foreign_caches_are_refused_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let (mats, id) = stored(dir.path());
        let path = dir.path().join(CACHE_FILE);
        let good = std::fs::read(&path).unwrap();
        let shapes = shapes(&mats);
        let refused = |bytes: &[u8], id: &[u8; 32], shapes: &[(usize, usize)]| {
            std::fs::write(&path, bytes).unwrap();
            match load(dir.path(), id, shapes, Kernel::Portable) {
                Err(e) => {
                    assert!(e.to_string().contains(CACHE_FILE), "{e}");
                    e
                }
                Ok(_) => panic!("a bad cache was accepted"),
            }
        };
        // One flipped bit in the weights, the scales or the header.
        for at in [good.len() / 2, good.len() - 70, 70] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            let e = refused(&bad, &id, &shapes);
            assert!(e.to_string().contains("checksum"), "{e}");
        }
        assert!(
            refused(&good[..good.len() - 1], &id, &shapes)
                .to_string()
                .contains("truncated")
        );
        assert!(refused(&good, &[8; 32], &shapes).to_string().contains("other weights"));
        assert!(refused(&good, &id, &shapes[..2]).to_string().contains("other matrices"));
        let mut other = shapes.clone();
        other[0].1 += 1;
        assert!(refused(&good, &id, &other).to_string().contains("other matrices"));
        let mut newer = good.clone();
        newer[8..12].copy_from_slice(&(CACHE_FORMAT_VERSION + 1).to_le_bytes());
        assert!(matches!(
            refused(&newer, &id, &shapes),
            Error::UnsupportedFormat { found, .. } if found == CACHE_FORMAT_VERSION + 1
        ));
        assert!(refused(b"short", &id, &shapes).to_string().contains("not an int8"));
        // Rewritten, it is good again.
        std::fs::write(&path, &good).unwrap();
        assert!(load(dir.path(), &id, &shapes, Kernel::Portable).unwrap().is_some());
    }

    #[test]
    fn the_identity_follows_the_weights_and_config() {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, w) = (dir.path().join("config.json"), dir.path().join("model.safetensors"));
        std::fs::write(&cfg, b"{}").unwrap();
        std::fs::write(&w, vec![1u8; 3 << 20]).unwrap();
        let a = source_identity(dir.path()).unwrap();
        assert_eq!(a, source_identity(dir.path()).unwrap());
        let mut bytes = vec![1u8; 3 << 20];
        *bytes.last_mut().unwrap() = 2;
        std::fs::write(&w, &bytes).unwrap();
        let b = source_identity(dir.path()).unwrap();
        assert_ne!(a, b);
        std::fs::write(&cfg, b"{ }").unwrap();
        assert_ne!(b, source_identity(dir.path()).unwrap());
        std::fs::remove_file(&w).unwrap();
        let e = source_identity(dir.path()).unwrap_err().to_string();
        assert!(e.contains("model.safetensors"), "{e}");
    }
}
