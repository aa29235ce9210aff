//! The flat vector file: every stored embedding as an f16 row in one memory-mapped file, for
//! exact search that opens at once.
//!
//! `hnsw_rs` rebuilds its graph point by point on load (4 s for 100k vectors,
//! `docs/benchmarks.md`), which every cold `search` paid. Below [`FLAT_MAX`] vectors an exact
//! scan of this file is both faster to open (an mmap and a checksum) and exact, so dense search
//! uses it and never loads the graph; above, the HNSW graph is used. Like the graph, the file is
//! derived from the store: written at the end of an ingest or a rebuild (temp file + rename),
//! and a damaged one is passed over with a warning.
//!
//! Layout, little-endian: a 40-byte header (magic, format version, dims, count, highest chunk
//! id, CRC-32 of everything after the header, padding), then `count` rows of a chunk id (i64)
//! and `dims` f16 values. f16 halves the bytes a scan reads; its rounding (about 1e-3 of
//! each value) moves cosine scores by about 1e-4, far below the gaps between neighbours that
//! matter (recall against f32 exact search is tested).

use std::io::{BufWriter, Write};
use std::path::Path;

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use crate::{Error, Result};

/// Name of the flat vector file in the index directory.
pub const FLAT_FILE: &str = "vectors.f16";

/// Version of the flat file layout.
pub const FLAT_FORMAT_VERSION: u32 = 1;

/// Indexes of up to this many vectors are searched exactly over the flat file. An exact scan
/// of 200k 768-d f16 rows stays within tens of milliseconds on two cores (`examples/hnsw_bench`
/// measures it), against seconds to load the graph.
pub const FLAT_MAX: usize = 200_000;

const MAGIC: &[u8; 8] = b"SRCRFLAT";
const HEADER: usize = 40;
/// Rows per parallel task of a scan.
const ROWS_PER_TASK: usize = 2048;

/// A flat vector file, memory-mapped.
pub struct FlatVectors {
    map: memmap2::Mmap,
    dims: usize,
    count: usize,
    max_chunk_id: i64,
}

impl std::fmt::Debug for FlatVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlatVectors")
            .field("dims", &self.dims)
            .field("count", &self.count)
            .field("max_chunk_id", &self.max_chunk_id)
            .finish()
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Receives one row (chunk id, vector) at a time.
pub type RowSink<'a> = dyn FnMut(i64, &[f32]) -> Result<()> + 'a;

/// Writes the flat file of `dims`-dimensional `rows` (chunk id, vector) into `dir`, replacing
/// the previous one atomically. `rows` may be streamed from the store: nothing but one row is
/// held in memory.
pub fn write(dir: &Path, dims: usize, rows: &mut dyn FnMut(&mut RowSink<'_>) -> Result<()>) -> Result<usize> {
    use std::io::{Seek, SeekFrom};
    let path = dir.join(FLAT_FILE);
    let out = tempfile::NamedTempFile::new_in(dir).map_err(Error::io("creating a temporary file in", dir))?;
    let mut count = 0usize;
    let mut max_id = 0i64;
    let mut hasher = crc32fast::Hasher::new();
    {
        let mut w = BufWriter::new(out.as_file());
        w.write_all(&[0u8; HEADER]).map_err(Error::io("writing", &path))?;
        let mut half_row = vec![f16::ZERO; dims];
        let mut bytes = Vec::with_capacity(8 + dims * 2);
        rows(&mut |id, v| {
            if v.len() != dims {
                return Err(Error::BadEmbedding {
                    chunk: id.to_string(),
                    detail: format!("{} dimensions, the index has {dims}", v.len()),
                });
            }
            half_row.convert_from_f32_slice(v);
            bytes.clear();
            bytes.extend_from_slice(&id.to_le_bytes());
            bytes.extend(half_row.iter().flat_map(|h| h.to_le_bytes()));
            hasher.update(&bytes);
            w.write_all(&bytes).map_err(Error::io("writing", &path))?;
            count += 1;
            max_id = max_id.max(id);
            Ok(())
        })?;
        w.flush().map_err(Error::io("writing", &path))?;
    }
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FLAT_FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&(dims as u32).to_le_bytes());
    header.extend_from_slice(&(count as u64).to_le_bytes());
    header.extend_from_slice(&max_id.to_le_bytes());
    header.extend_from_slice(&hasher.finalize().to_le_bytes());
    header.resize(HEADER, 0);
    let mut f = out.as_file();
    f.seek(SeekFrom::Start(0)).map_err(Error::io("writing", &path))?;
    f.write_all(&header).map_err(Error::io("writing", &path))?;
    f.sync_all().map_err(Error::io("syncing", &path))?;
    out.persist(&path).map_err(|e| Error::io("replacing", &path)(e.error))?;
    Ok(count)
}

/// Removes the flat file (an index grown past [`FLAT_MAX`] searches its graph instead).
pub fn remove(dir: &Path) -> Result<()> {
    match std::fs::remove_file(dir.join(FLAT_FILE)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing", dir.join(FLAT_FILE))(e)),
    }
}

impl FlatVectors {
    /// Maps and checks the flat file of `dir`; `None` when there is none. Every byte is
    /// checked against the header's CRC-32 before a search can read it.
    pub fn open(dir: &Path) -> Result<Option<FlatVectors>> {
        let path = dir.join(FLAT_FILE);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("opening", &path)(e)),
        };
        // SAFETY: the file is only ever replaced by rename, never written in place, so the
        // mapped bytes do not change under us (a user editing it is caught by the CRC).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(Error::io("mapping", &path))?;
        if map.len() < HEADER || &map[..8] != MAGIC {
            return Err(corrupt(&path, "not a sourcier flat vector file"));
        }
        let u32_at = |o: usize| u32::from_le_bytes(map[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(map[o..o + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != FLAT_FORMAT_VERSION {
            return Err(Error::UnsupportedFormat {
                path,
                found: version,
                supported: FLAT_FORMAT_VERSION,
            });
        }
        let dims = u32_at(12) as usize;
        let count = usize::try_from(u64_at(16)).unwrap_or(usize::MAX);
        let max_chunk_id = u64_at(24) as i64;
        let crc = u32_at(32);
        let want = count.checked_mul(8 + 2 * dims).and_then(|n| n.checked_add(HEADER));
        if want != Some(map.len()) {
            return Err(corrupt(
                &path,
                format!(
                    "{} bytes, expected {} for {count} vectors of {dims} dimensions",
                    map.len(),
                    want.unwrap_or(0)
                ),
            ));
        }
        if crc32fast::hash(&map[HEADER..]) != crc {
            return Err(corrupt(&path, "checksum mismatch"));
        }
        Ok(Some(FlatVectors {
            map,
            dims,
            count,
            max_chunk_id,
        }))
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Highest chunk id in the file: the store's chunks above it are not in it.
    pub fn max_chunk_id(&self) -> i64 {
        self.max_chunk_id
    }

    /// Row `i`: its chunk id and its f16 values as bytes.
    fn row(&self, i: usize) -> (i64, &[u8]) {
        let o = HEADER + (8 + 2 * self.dims) * i;
        let id = i64::from_le_bytes(self.map[o..o + 8].try_into().expect("8 bytes"));
        (id, &self.map[o + 8..o + 8 + 2 * self.dims])
    }

    /// The `k` rows most similar to `q` (cosine: stored rows are unit vectors) among those `filter`
    /// keeps, best first; ties by id.
    pub fn search(&self, q: &[f32], k: usize, filter: &(dyn Fn(i64) -> bool + Sync)) -> Vec<(i64, f32)> {
        if k == 0 || q.len() != self.dims || q.iter().any(|x| !x.is_finite()) {
            return Vec::new();
        }
        let q = crate::index::normalized(q);
        let q = q.as_slice();
        let tasks = self.count.div_ceil(ROWS_PER_TASK);
        let mut best: Vec<(i64, f32)> = (0..tasks)
            .into_par_iter()
            .map(|t| {
                let mut top = TopK::new(k);
                let mut row = vec![0f32; self.dims];
                let mut halves = vec![f16::ZERO; self.dims];
                for i in t * ROWS_PER_TASK..((t + 1) * ROWS_PER_TASK).min(self.count) {
                    let (id, bytes) = self.row(i);
                    if !filter(id) {
                        continue;
                    }
                    for (h, b) in halves.iter_mut().zip(bytes.chunks_exact(2)) {
                        *h = f16::from_le_bytes([b[0], b[1]]);
                    }
                    halves.convert_to_f32_slice(&mut row);
                    top.push(id, crate::vecmath::dot(q, &row));
                }
                top.into_vec()
            })
            .reduce(Vec::new, |mut a, b| {
                a.extend(b);
                a
            });
        best.sort_by(crate::index::by_score);
        best.truncate(k);
        best
    }
}

/// The `k` best (id, score) pairs seen so far.
struct TopK {
    k: usize,
    items: Vec<(i64, f32)>,
    /// Lowest score kept once `items` is full.
    floor: f32,
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK {
            k,
            items: Vec::with_capacity(2 * k),
            floor: f32::NEG_INFINITY,
        }
    }

    fn push(&mut self, id: i64, score: f32) {
        if self.items.len() >= self.k && score < self.floor {
            return;
        }
        self.items.push((id, score));
        // Amortised: prune back to k only when twice as many have piled up.
        if self.items.len() >= 2 * self.k {
            self.prune();
        }
    }

    fn prune(&mut self) {
        self.items.sort_by(crate::index::by_score);
        self.items.truncate(self.k);
        if self.items.len() == self.k {
            self.floor = self.items[self.k - 1].1;
        }
    }

    fn into_vec(mut self) -> Vec<(i64, f32)> {
        self.prune();
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::exact_search;

    /// Seeded unit vectors around a few centres, like sentence embeddings.
    fn clustered(n: usize, dims: usize, seed: u64) -> Vec<(i64, Vec<f32>)> {
        let mut s = seed;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
        };
        let centres: Vec<Vec<f32>> = (0..16).map(|_| (0..dims).map(|_| next()).collect()).collect();
        (0..n)
            .map(|i| {
                let c = &centres[i % centres.len()];
                let v: Vec<f32> = c.iter().map(|x| x + 0.6 * next()).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                (i as i64 * 3 + 1, v.iter().map(|x| x / norm).collect())
            })
            .collect()
    }

    fn write_rows(dir: &Path, dims: usize, data: &[(i64, Vec<f32>)]) -> usize {
        write(dir, dims, &mut |f| {
            for (id, v) in data {
                f(*id, v)?;
            }
            Ok(())
        })
        .unwrap()
    }

    /// The f16 scan finds the f32 exact top 10 (recall ≥ 0.99), with scores within 1e-3.
    #[test]
    fn flat_search_matches_f32_exact_search() {
        let t = tempfile::tempdir().unwrap();
        let dims = 96;
        let data = clustered(5000, dims, 7);
        assert_eq!(write_rows(t.path(), dims, &data), 5000);
        let flat = FlatVectors::open(t.path()).unwrap().unwrap();
        assert_eq!(
            (flat.len(), flat.dims(), flat.max_chunk_id()),
            (5000, dims, 4999 * 3 + 1)
        );
        let queries = clustered(100, dims, 99);
        let (mut found, mut total) = (0, 0);
        for (_, q) in &queries {
            let exact = exact_search(&data, q, 10);
            let got = flat.search(q, 10, &|_| true);
            assert_eq!(got.len(), 10);
            for (a, b) in got.iter().zip(&exact) {
                assert!((a.1 - b.1).abs() < 1e-3, "{a:?} vs {b:?}");
            }
            total += 10;
            found += got.iter().filter(|g| exact.iter().any(|e| e.0 == g.0)).count();
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.99, "recall@10 {recall}");
    }

    #[test]
    fn the_filter_is_applied_and_k_is_kept() {
        let t = tempfile::tempdir().unwrap();
        let data = clustered(3000, 16, 3);
        write_rows(t.path(), 16, &data);
        let flat = FlatVectors::open(t.path()).unwrap().unwrap();
        let q = &data[10].1;
        let got = flat.search(q, 25, &|id| id % 2 == 0);
        assert_eq!(got.len(), 25);
        assert!(got.iter().all(|(id, _)| id % 2 == 0));
        assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(flat.search(q, 0, &|_| true).is_empty());
        assert!(flat.search(&[f32::NAN; 16], 5, &|_| true).is_empty());
        assert!(flat.search(&[1.0; 3], 5, &|_| true).is_empty());
        assert_eq!(flat.search(q, 5000, &|_| true).len(), 3000);
    }

    #[test]
    fn damage_is_reported_not_searched() {
        let t = tempfile::tempdir().unwrap();
        assert!(FlatVectors::open(t.path()).unwrap().is_none());
        let data = clustered(200, 8, 5);
        write_rows(t.path(), 8, &data);
        let path = t.path().join(FLAT_FILE);
        let good = std::fs::read(&path).unwrap();
        let mut bad = good.clone();
        bad[HEADER + 100] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(FlatVectors::open(t.path()), Err(Error::Corrupt { .. })));
        std::fs::write(&path, &good[..good.len() - 2]).unwrap();
        assert!(matches!(FlatVectors::open(t.path()), Err(Error::Corrupt { .. })));
        let mut other = good.clone();
        other[8] = 9;
        std::fs::write(&path, &other).unwrap();
        assert!(matches!(
            FlatVectors::open(t.path()),
            Err(Error::UnsupportedFormat { found: 9, .. })
        ));
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(FlatVectors::open(t.path()), Err(Error::Corrupt { .. })));
        // An empty index writes a valid empty file.
        write_rows(t.path(), 8, &[]);
        let empty = FlatVectors::open(t.path()).unwrap().unwrap();
        assert!(empty.is_empty() && empty.search(&data[0].1, 3, &|_| true).is_empty());
        remove(t.path()).unwrap();
        remove(t.path()).unwrap();
        assert!(FlatVectors::open(t.path()).unwrap().is_none());
    }
}
