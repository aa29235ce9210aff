//! The HNSW vector index: derived data, rebuilt from the [`Store`] whenever in doubt.
//!
//! It maps chunk ids to L2-normalised embeddings and answers cosine nearest-neighbour
//! queries through `hnsw_rs`. On disk it lives beside the store in the index directory:
//!
//! * `hnsw-<generation>.hnsw.graph` / `.hnsw.data`: one `hnsw_rs` dump per generation;
//! * `hnsw.json`: the pointer naming the current generation, with sizes and checksums.
//!
//! Saving dumps into a scratch directory, renames the files in under a new generation name
//! and only then swaps the pointer (temp file + rename), so a kill at any moment leaves the
//! previous generation loadable. Loading verifies sizes and checksums before handing the
//! files to `hnsw_rs`, whose loader panics or exits on malformed input.
//!
//! Deleted chunks stay in the graph until the next rebuild: searches take a liveness filter
//! and oversample so they still return `k` live results.
//!
//! Costs are measured by `examples/hnsw_bench.rs` and reported, with the machine and the
//! command, in `docs/benchmarks.md`; this file quotes no figures that could go stale.
//!
//! When the beam comes back with fewer than `k` live results after asking for the whole
//! graph, search falls back to an exact scan, so a large `k` never loses reachable chunks.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use hnsw_rs::prelude::{AnnT, Distance, Hnsw, HnswIo};
use serde::{Deserialize, Serialize};

use crate::progress::Progress;
use crate::store::Store;
use crate::{Error, Result};

/// Name of the pointer file in the index directory.
pub const POINTER_FILE: &str = "hnsw.json";

/// Version of the pointer file layout. 1: a home-made 64-bit checksum; 2: CRC-32 (crc32fast).
/// A pointer of another version is [`Error::UnsupportedFormat`]: the index is derived data,
/// so readers rebuild it in memory and the next write saves it in this version.
pub const INDEX_FORMAT_VERSION: u32 = 2;

/// `hnsw_rs` caps the number of layers at 16.
const MAX_LAYERS: usize = 16;

const GENERATION_PREFIX: &str = "hnsw-";
const SCRATCH_PREFIX: &str = ".hnsw-tmp";
const POINTER_TMP_PREFIX: &str = ".hnsw.json";
const GRAPH_SUFFIX: &str = ".hnsw.graph";
const DATA_SUFFIX: &str = ".hnsw.data";

/// Vectors inserted per `parallel_insert` call when building from the store.
const BUILD_BATCH: usize = 8192;

/// Graph parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Links per node and layer (layer 0 keeps twice as many). 16-32.
    pub m: usize,
    /// Candidate list size while inserting: higher builds a better graph, slower.
    pub ef_construction: usize,
    /// Default candidate list size while searching: higher is more exact, slower.
    pub ef_search: usize,
}

impl Default for Params {
    /// Measured with `examples/hnsw_bench.rs` (768-d): on 100k clustered vectors recall@10
    /// is 1.0 from `ef_search` 32 (~1 ms at 64). On i.i.d. random vectors, the worst case,
    /// 5k×256-d needs `ef_search` 256 for 0.99 and 100k×768-d stays below 0.85 even at 1024.
    fn default() -> Self {
        Params {
            m: 24,
            ef_construction: 200,
            ef_search: 128,
        }
    }
}

/// Cosine distance `1 - a·b` for L2-normalised vectors.
///
/// Replaces `hnsw_rs`'s `DistDot`, which folds sequentially (no SIMD) and asserts
/// `1 - a·b >= 0`: a vector compared with itself can round to `a·b = 1.0000001` and panic.
/// Here the dot product runs in 16 lanes (auto-vectorised) and the result is clamped to
/// `[0, 2]`, which also turns NaN into 0 instead of tripping `hnsw_rs`'s own asserts.
/// The type name is written into dumps and checked on load: do not rename it.
#[derive(Debug, Default, Clone, Copy)]
struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        let d = 1.0 - dot(va, vb);
        // clamp passes NaN through; hnsw_rs asserts on it.
        if d.is_nan() { 0.0 } else { d.clamp(0.0, 2.0) }
    }
}

pub use crate::vecmath::{dot, normalized};

/// Best first; ties by id so results are deterministic.
pub(crate) fn by_score(a: &(i64, f32), b: &(i64, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Brute-force top-`k` by dot product (cosine similarity for normalised vectors), best
/// first. Vectors whose length differs from the query's are skipped. The reference for
/// recall measurements and the fallback for small indexes.
pub fn exact_search(vectors: &[(i64, Vec<f32>)], q: &[f32], k: usize) -> Vec<(i64, f32)> {
    if k == 0 || q.iter().any(|x| !x.is_finite()) {
        return Vec::new();
    }
    let q = normalized(q);
    let mut scored: Vec<(i64, f32)> = vectors
        .iter()
        .filter(|(_, v)| v.len() == q.len())
        .map(|(id, v)| (*id, dot(&q, v)))
        .collect();
    if scored.len() > k {
        scored.select_nth_unstable_by(k - 1, by_score);
        scored.truncate(k);
    }
    scored.sort_by(by_score);
    scored
}

/// The pointer file: which generation is current, and what it must look like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pointer {
    format: u32,
    generation: u64,
    /// `None` for an empty index (hnsw_rs cannot dump one): no files.
    basename: Option<String>,
    dims: usize,
    count: usize,
    max_chunk_id: i64,
    params: Params,
    graph_bytes: u64,
    data_bytes: u64,
    graph_checksum: String,
    data_checksum: String,
}

/// Summary of a saved index, read from its pointer file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedInfo {
    pub generation: u64,
    pub dims: usize,
    /// Vectors in the graph, deleted chunks included.
    pub count: usize,
    pub max_chunk_id: i64,
    pub params: Params,
}

/// An HNSW index over chunk embeddings.
pub struct VectorIndex {
    /// `'static` because a loaded graph nominally borrows its leaked `HnswIo` (see `load`).
    hnsw: Hnsw<'static, f32, UnitCosine>,
    dims: usize,
    params: Params,
    max_chunk_id: i64,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("dims", &self.dims)
            .field("len", &self.len())
            .field("params", &self.params)
            .field("max_chunk_id", &self.max_chunk_id)
            .finish()
    }
}

impl VectorIndex {
    /// An empty index for `dims`-dimensional vectors; `capacity_hint` pre-sizes tables.
    pub fn new(dims: usize, capacity_hint: usize, params: Params) -> Self {
        let params = Params {
            m: params.m.clamp(2, 255),
            ef_construction: params.ef_construction.max(1),
            ef_search: params.ef_search.max(1),
        };
        let hnsw = Hnsw::new(
            params.m,
            capacity_hint.max(1),
            MAX_LAYERS,
            params.ef_construction,
            UnitCosine,
        );
        VectorIndex {
            hnsw,
            dims,
            params,
            max_chunk_id: 0,
        }
    }

    /// Dimension of the vectors.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Parameters the graph was built with (and the default `ef_search`).
    pub fn params(&self) -> Params {
        self.params
    }

    /// Number of vectors in the graph, deleted chunks included.
    pub fn len(&self) -> usize {
        self.hnsw.get_nb_point()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Largest chunk id inserted (0 when empty). Chunk ids are never reused, so the store's
    /// chunks above it are the ones this index lacks.
    pub fn max_chunk_id(&self) -> i64 {
        self.max_chunk_id
    }

    fn check_vector(&self, id: i64, v: &[f32]) -> Result<usize> {
        let bad = |detail: String| Error::BadEmbedding {
            chunk: format!("chunk {id}"),
            detail,
        };
        let data_id = usize::try_from(id).map_err(|_| bad("the chunk id is negative and cannot be indexed".into()))?;
        if v.len() != self.dims {
            return Err(bad(format!(
                "{} dimensions, but the index holds {}-dimensional vectors",
                v.len(),
                self.dims
            )));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(bad("a non-finite value".into()));
        }
        Ok(data_id)
    }

    /// Adds one vector (normalised on the way in). Inserting an id twice leaves two graph
    /// nodes; searches report the id once.
    pub fn insert(&mut self, id: i64, v: &[f32]) -> Result<()> {
        let data_id = self.check_vector(id, v)?;
        self.hnsw.insert((&normalized(v), data_id));
        self.max_chunk_id = self.max_chunk_id.max(id);
        Ok(())
    }

    /// Adds many vectors with `hnsw_rs`'s parallel insertion (rayon). Nothing is inserted
    /// when any vector is invalid.
    pub fn insert_batch(&mut self, items: &[(i64, Vec<f32>)]) -> Result<()> {
        let mut prepared = Vec::with_capacity(items.len());
        for (id, v) in items {
            prepared.push((normalized(v), self.check_vector(*id, v)?));
        }
        let refs: Vec<(&Vec<f32>, usize)> = prepared.iter().map(|(v, id)| (v, *id)).collect();
        self.hnsw.parallel_insert(&refs);
        if let Some(max) = items.iter().map(|(id, _)| *id).max() {
            self.max_chunk_id = self.max_chunk_id.max(max);
        }
        Ok(())
    }

    /// The `k` nearest live chunks to `q` as `(chunk id, cosine similarity)`, best first.
    ///
    /// `filter` returns false for ids to exclude (deleted chunks). The graph is asked for
    /// more than `k` neighbours, and asked again with a wider net while fewer than `k` live
    /// ones come back. `ef` is the search width (raised to the number of neighbours asked);
    /// pass `params().ef_search` by default. A query of the wrong dimension or with
    /// non-finite values yields no results.
    pub fn search(&self, q: &[f32], k: usize, ef: usize, filter: &dyn Fn(i64) -> bool) -> Vec<(i64, f32)> {
        let n = self.len();
        if k == 0 || n == 0 {
            return Vec::new();
        }
        if q.len() != self.dims || q.iter().any(|x| !x.is_finite()) {
            tracing::warn!(
                query_dims = q.len(),
                index_dims = self.dims,
                "query vector does not match the index; no results"
            );
            return Vec::new();
        }
        let q = normalized(q);
        // Small oversampling covers the usual handful of deleted chunks in one pass.
        let mut want = (k + k / 2 + 4).min(n);
        loop {
            let ef_now = ef.max(want);
            let found = self.hnsw.search(&q, want, ef_now);
            let mut seen = std::collections::HashSet::with_capacity(found.len());
            let mut live: Vec<(i64, f32)> = found
                .iter()
                .filter_map(|nb| {
                    let id = i64::try_from(nb.d_id).ok()?;
                    (seen.insert(id) && filter(id)).then_some((id, 1.0 - nb.distance))
                })
                .collect();
            if live.len() >= k {
                live.sort_by(by_score);
                live.truncate(k);
                return live;
            }
            if want >= n {
                // The beam asked for the whole graph and still came back short (it reaches
                // only what its links lead to). k is then of the order of n, so an exact
                // scan costs about what the search did, and returns every live match.
                tracing::debug!(
                    k,
                    got = live.len(),
                    indexed = n,
                    "HNSW came back short; scanning exactly"
                );
                return self.search_exact(&q, k, filter);
            }
            tracing::debug!(want, live = live.len(), "too many filtered hits, widening the search");
            want = want.saturating_mul(4).min(n);
        }
    }

    /// Brute-force top-`k` over the vectors held by the graph, with the same contract as
    /// [`VectorIndex::search`] but exact. Faster than HNSW for small indexes (see the
    /// module benchmarks) and needs no second copy of the vectors.
    pub fn search_exact(&self, q: &[f32], k: usize, filter: &dyn Fn(i64) -> bool) -> Vec<(i64, f32)> {
        if k == 0 || self.is_empty() || q.len() != self.dims || q.iter().any(|x| !x.is_finite()) {
            return Vec::new();
        }
        let q = normalized(q);
        let points = self.hnsw.get_point_indexation();
        let mut seen = std::collections::HashSet::new();
        let mut scored = Vec::with_capacity(self.len());
        for layer in 0..MAX_LAYERS {
            // The layer iterator indexes without bounds checks: skip absent layers.
            if points.get_layer_nb_point(layer) == 0 {
                continue;
            }
            for p in points.get_layer_iterator(layer) {
                let Ok(id) = i64::try_from(p.get_origin_id()) else {
                    continue;
                };
                if filter(id) && seen.insert(id) {
                    scored.push((id, dot(&q, p.get_v())));
                }
            }
        }
        if scored.len() > k {
            scored.select_nth_unstable_by(k - 1, by_score);
            scored.truncate(k);
        }
        scored.sort_by(by_score);
        scored
    }

    /// Saves the index into `dir` atomically: new generation files first, then the pointer
    /// swap, then removal of older generations. A kill at any point leaves either the
    /// previous or the new index loadable.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        let generation = match read_pointer(dir) {
            Ok(Some(p)) => p.generation + 1,
            // An unreadable pointer is replaced; its files are garbage either way.
            _ => 1,
        }
        .max(highest_generation_on_disk(dir) + 1);
        let mut pointer = Pointer {
            format: INDEX_FORMAT_VERSION,
            generation,
            basename: None,
            dims: self.dims,
            count: self.len(),
            max_chunk_id: self.max_chunk_id,
            params: self.params,
            graph_bytes: 0,
            data_bytes: 0,
            graph_checksum: String::new(),
            data_checksum: String::new(),
        };
        if !self.is_empty() {
            let basename = format!("{GENERATION_PREFIX}{generation:08}");
            self.dump_generation(dir, &basename, &mut pointer)?;
            pointer.basename = Some(basename);
        }
        write_pointer(dir, &pointer)?;
        remove_stale_files(dir, pointer.basename.as_deref());
        tracing::info!(dir = %dir.display(), generation, count = pointer.count, "vector index saved");
        Ok(())
    }

    /// Dumps into a scratch directory, syncs, then renames the files into `dir`.
    fn dump_generation(&self, dir: &Path, basename: &str, pointer: &mut Pointer) -> Result<()> {
        let scratch = tempfile::Builder::new()
            .prefix(SCRATCH_PREFIX)
            .tempdir_in(dir)
            .map_err(Error::io("creating a temporary directory in", dir))?;
        // hnsw_rs panics (after printing) when it cannot create its files; the scratch dir
        // was just created by us, so that only happens on a full disk or similar.
        let dumped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.hnsw.file_dump(scratch.path(), basename)
        }));
        let used = match dumped {
            Ok(Ok(name)) => name,
            Ok(Err(e)) => {
                return Err(Error::WriteFailed {
                    path: scratch.path().to_path_buf(),
                    detail: format!("the vector index: {e}"),
                });
            }
            Err(_) => {
                return Err(Error::WriteFailed {
                    path: scratch.path().to_path_buf(),
                    detail: "hnsw_rs could not dump the vector index".into(),
                });
            }
        };
        for (suffix, bytes, sum) in [
            (GRAPH_SUFFIX, &mut pointer.graph_bytes, &mut pointer.graph_checksum),
            (DATA_SUFFIX, &mut pointer.data_bytes, &mut pointer.data_checksum),
        ] {
            let from = scratch.path().join(format!("{used}{suffix}"));
            let to = dir.join(format!("{basename}{suffix}"));
            let (len, hash) = checksum_file(&from)?;
            File::open(&from)
                .and_then(|f| f.sync_all())
                .map_err(Error::io("syncing", &from))?;
            // hnsw_rs creates its files with the umask; they hold the article vectors.
            crate::fsx::make_private(&from)?;
            std::fs::rename(&from, &to).map_err(Error::io("renaming into place", &to))?;
            *bytes = len;
            *sum = checksum_hex(hash);
        }
        Ok(())
    }

    /// What the pointer file says about the saved index, without loading the graph (which
    /// takes ~1-2 s per 100k vectors): for status reports and rebuild decisions.
    pub fn saved_info(dir: &Path) -> Result<Option<SavedInfo>> {
        Ok(read_pointer(dir)?.map(|p| SavedInfo {
            generation: p.generation,
            dims: p.dims,
            count: p.count,
            max_chunk_id: p.max_chunk_id,
            params: p.params,
        }))
    }

    /// Loads the index saved in `dir`; `Ok(None)` when none was saved yet. Never rebuilds:
    /// an unusable index is an [`Error::Corrupt`] naming its pointer file, one written in
    /// another format version an [`Error::UnsupportedFormat`].
    ///
    /// `hnsw_rs`'s `HnswIo::load_hnsw` returns a graph borrowing the `HnswIo`. Without mmap
    /// the graph owns all its data and the borrow is nominal, so the small `HnswIo` (paths
    /// and a counter, about 100 bytes) is leaked to obtain a `'static` graph: no unsafe
    /// code, no reinsertion. mmap is not used: it would tie the graph to files that the next
    /// save deletes, and the data file of 100k 768-d vectors loads in well under a second.
    pub fn load(dir: &Path) -> Result<Option<VectorIndex>> {
        // A concurrent save may swap the pointer and delete the files we were about to
        // open; re-read the pointer and retry when that happens.
        let mut attempts = 0;
        loop {
            let Some(pointer) = read_pointer(dir)? else {
                return Ok(None);
            };
            match load_generation(dir, &pointer) {
                Ok(index) => return Ok(Some(index)),
                Err(e) => {
                    attempts += 1;
                    let moved = read_pointer(dir).ok().flatten().is_some_and(|p| p != pointer);
                    if !moved || attempts >= 3 {
                        return Err(e);
                    }
                    tracing::debug!("index pointer changed while loading, retrying");
                }
            }
        }
    }
}

fn unusable(dir: &Path, why: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        path: dir.join(POINTER_FILE),
        detail: format!("the vector index cannot be read ({why}); it is derived from the stored embeddings"),
    }
}

fn load_generation(dir: &Path, pointer: &Pointer) -> Result<VectorIndex> {
    if pointer.dims == 0 {
        return Err(unusable(dir, "zero dimensions"));
    }
    let Some(basename) = &pointer.basename else {
        if pointer.count != 0 {
            return Err(unusable(dir, "no files for a non-empty index"));
        }
        let mut index = VectorIndex::new(pointer.dims, 1, pointer.params);
        index.max_chunk_id = pointer.max_chunk_id;
        return Ok(index);
    };
    if !valid_basename(basename) {
        return Err(unusable(dir, format!("bad file name {basename:?}")));
    }
    for (suffix, bytes, sum) in [
        (GRAPH_SUFFIX, pointer.graph_bytes, &pointer.graph_checksum),
        (DATA_SUFFIX, pointer.data_bytes, &pointer.data_checksum),
    ] {
        let path = dir.join(format!("{basename}{suffix}"));
        let meta = std::fs::metadata(&path).map_err(|e| unusable(dir, format!("{}: {e}", path.display())))?;
        if meta.len() != bytes {
            return Err(unusable(
                dir,
                format!("{} has {} bytes, expected {bytes}", path.display(), meta.len()),
            ));
        }
        let (_, hash) = checksum_file(&path)?;
        if checksum_hex(hash) != *sum {
            return Err(unusable(dir, format!("{} fails its checksum", path.display())));
        }
    }
    // Checksums make malformed input unlikely; the guard keeps a surprise panic in
    // hnsw_rs's loader from taking the process down.
    let loaded = std::panic::catch_unwind(|| {
        let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, basename)));
        io.load_hnsw::<f32, UnitCosine>()
    });
    let hnsw = match loaded {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return Err(unusable(dir, e)),
        Err(_) => return Err(unusable(dir, "hnsw_rs could not parse the files")),
    };
    if hnsw.get_nb_point() != pointer.count {
        return Err(unusable(
            dir,
            format!("{} vectors loaded, expected {}", hnsw.get_nb_point(), pointer.count),
        ));
    }
    let dims = hnsw.get_point_indexation().get_data_dimension();
    if dims != pointer.dims {
        return Err(unusable(
            dir,
            format!("{dims} dimensions loaded, expected {}", pointer.dims),
        ));
    }
    Ok(VectorIndex {
        hnsw,
        dims,
        params: pointer.params,
        max_chunk_id: pointer.max_chunk_id,
    })
}

/// Only names we generate: no path separators can sneak in from a hand-edited pointer.
fn valid_basename(name: &str) -> bool {
    name.strip_prefix(GENERATION_PREFIX)
        .is_some_and(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
}

fn read_pointer(dir: &Path) -> Result<Option<Pointer>> {
    let path = dir.join(POINTER_FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("reading", &path)(e)),
    };
    // The version first: another version's pointer may not even have our fields.
    #[derive(Deserialize)]
    struct Version {
        format: u32,
    }
    let bad_json = |e: serde_json::Error| unusable(dir, format!("{}: {e}", path.display()));
    let found = serde_json::from_slice::<Version>(&text).map_err(bad_json)?.format;
    if found != INDEX_FORMAT_VERSION {
        return Err(Error::UnsupportedFormat {
            path: path.clone(),
            found,
            supported: INDEX_FORMAT_VERSION,
        });
    }
    serde_json::from_slice(&text).map(Some).map_err(bad_json)
}

fn write_pointer(dir: &Path, pointer: &Pointer) -> Result<()> {
    let path = dir.join(POINTER_FILE);
    let mut tmp = tempfile::Builder::new()
        .prefix(POINTER_TMP_PREFIX)
        .tempfile_in(dir)
        .map_err(Error::io("creating a temporary file in", dir))?;
    // Serialising a plain struct cannot fail.
    let json = serde_json::to_vec_pretty(pointer).unwrap_or_default();
    tmp.write_all(&json)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(Error::io("writing", tmp.path().to_path_buf()))?;
    tmp.persist(&path).map_err(|e| Error::io("replacing", &path)(e.error))?;
    // Make the rename itself durable; not supported everywhere, and not needed for
    // crash-consistency against kills, hence only logged.
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(error = %e, "could not sync the index directory");
    }
    Ok(())
}

/// Highest generation number used by any file in `dir`, so a new save never reuses the
/// name of a half-written leftover.
fn highest_generation_on_disk(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name
                .strip_suffix(GRAPH_SUFFIX)
                .or_else(|| name.strip_suffix(DATA_SUFFIX))?;
            stem.strip_prefix(GENERATION_PREFIX)?.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0)
}

/// Removes generation files other than `keep`, and scratch directories and pointer temp
/// files left by killed saves. Failures only cost disk space, so they are logged.
fn remove_stale_files(dir: &Path, keep: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let path = entry.path();
        let result = if name.starts_with(SCRATCH_PREFIX) && path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if (name.starts_with(POINTER_TMP_PREFIX) && path.is_file())
            || name
                .strip_suffix(GRAPH_SUFFIX)
                .or_else(|| name.strip_suffix(DATA_SUFFIX))
                .is_some_and(|stem| valid_basename(stem) && Some(stem) != keep)
        {
            std::fs::remove_file(&path)
        } else {
            continue;
        };
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "could not remove a stale index file");
        }
    }
}

/// Length and CRC-32 of a file, streamed. Not cryptographic: it guards `hnsw_rs`'s loader
/// against truncated or corrupted files, which it would otherwise panic or exit on.
fn checksum_file(path: &Path) -> Result<(u64, u32)> {
    let mut file = File::open(path).map_err(Error::io("reading", path))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut hasher = crc32fast::Hasher::new();
    let mut total = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok((total, hasher.finalize())),
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading", path)(e)),
        }
    }
}

/// The checksum as the pointer file writes it.
fn checksum_hex(sum: u32) -> String {
    format!("{sum:08x}")
}

/// Exact top-`k` streamed straight from the store's embeddings, without any index in
/// memory: one pass over the `embeddings` table (~0.25 s for 100k × 768-d, warm cache),
/// against 1.5-2 s just to load the HNSW graph. The right path for one-shot queries on
/// small and medium stores. Deleted chunks are naturally absent.
pub fn exact_search_in_store(store: &Store, q: &[f32], k: usize) -> Result<Vec<(i64, f32)>> {
    if k == 0 || q.iter().any(|x| !x.is_finite()) {
        return Ok(Vec::new());
    }
    let q = normalized(q);
    // Keep at most 2k candidates plus a buffer, pruned to the best k when full.
    let cap = (2 * k).max(1024);
    let mut best: Vec<(i64, f32)> = Vec::with_capacity(cap + 1);
    store.for_each_embedding(|id, v| {
        if v.len() == q.len() {
            best.push((id, dot(&q, v)));
            if best.len() > cap {
                best.select_nth_unstable_by(k - 1, by_score);
                best.truncate(k);
            }
        }
        Ok(())
    })?;
    if best.len() > k {
        best.select_nth_unstable_by(k - 1, by_score);
        best.truncate(k);
    }
    best.sort_by(by_score);
    Ok(best)
}

/// Builds an index of every embedding in the store.
pub fn build_from_store(store: &Store, dims: usize, params: Params, progress: &dyn Progress) -> Result<VectorIndex> {
    let total = store.chunk_count()?;
    let mut index = VectorIndex::new(dims, usize::try_from(total).unwrap_or(0), params);
    progress.start("indexing vectors", Some(total));
    index.add_from_store(store, progress)?;
    progress.finish();
    Ok(index)
}

impl VectorIndex {
    /// Inserts the store's chunks newer than [`VectorIndex::max_chunk_id`], in parallel
    /// batches; returns how many were added. Reports `inc` per vector to `progress`.
    pub fn add_from_store(&mut self, store: &Store, progress: &dyn Progress) -> Result<usize> {
        let mut batch: Vec<(i64, Vec<f32>)> = Vec::with_capacity(BUILD_BATCH);
        let mut added = 0;
        store.for_each_embedding_after(self.max_chunk_id, |id, v| {
            if v.len() != self.dims {
                return Err(Error::Corrupt {
                    path: store.path().to_path_buf(),
                    detail: format!(
                        "chunk {id} has {} dimensions but the index expects {}: the store mixes embedding models",
                        v.len(),
                        self.dims
                    ),
                });
            }
            batch.push((id, v.to_vec()));
            if batch.len() == BUILD_BATCH {
                self.insert_batch(&batch)?;
                added += batch.len();
                progress.inc(batch.len() as u64);
                batch.clear();
            }
            Ok(())
        })?;
        if !batch.is_empty() {
            self.insert_batch(&batch)?;
            added += batch.len();
            progress.inc(batch.len() as u64);
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// xorshift64*: deterministic test vectors without a rand dependency.
    pub(crate) struct Rng(u64);
    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            Rng(seed.max(1))
        }
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        /// Roughly normal via the sum of uniforms, enough for isotropic directions.
        fn gauss(&mut self) -> f32 {
            let mut s = 0.0;
            for _ in 0..4 {
                s += (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
            }
            s - 2.0
        }
        pub(crate) fn unit_vector(&mut self, dims: usize) -> Vec<f32> {
            normalized(&(0..dims).map(|_| self.gauss()).collect::<Vec<_>>())
        }
    }

    fn dataset(n: usize, dims: usize, seed: u64) -> Vec<(i64, Vec<f32>)> {
        let mut rng = Rng::new(seed);
        (0..n).map(|i| (i as i64 + 1, rng.unit_vector(dims))).collect()
    }

    fn build(data: &[(i64, Vec<f32>)], dims: usize, params: Params) -> VectorIndex {
        let mut index = VectorIndex::new(dims, data.len(), params);
        index.insert_batch(data).unwrap();
        index
    }

    fn recall_at(index: &VectorIndex, data: &[(i64, Vec<f32>)], queries: &[Vec<f32>], k: usize, ef: usize) -> f64 {
        let mut hits = 0;
        for q in queries {
            let truth: HashSet<i64> = exact_search(data, q, k).into_iter().map(|(id, _)| id).collect();
            hits += index
                .search(q, k, ef, &|_| true)
                .iter()
                .filter(|(id, _)| truth.contains(id))
                .count();
        }
        hits as f64 / (queries.len() * k) as f64
    }

    #[test]
    fn recall_at_10_against_exact_search() {
        let dims = 256;
        let data = dataset(5000, dims, 7);
        let index = build(&data, dims, Params::default());
        assert_eq!(index.len(), 5000);
        let mut rng = Rng::new(99);
        let queries: Vec<Vec<f32>> = (0..200).map(|_| rng.unit_vector(dims)).collect();
        // I.i.d. random vectors are the worst case for HNSW (similarities all concentrate
        // near 0): this needs ef 256 (measured 0.98 at 128, 0.999 at 256).
        let recall = recall_at(&index, &data, &queries, 10, 256);
        assert!(recall >= 0.99, "recall@10 = {recall}");
        // A stored vector finds itself first with similarity ~1.
        let (id, v) = &data[123];
        let top = index.search(v, 1, 64, &|_| true);
        assert_eq!(top[0].0, *id);
        assert!((top[0].1 - 1.0).abs() < 1e-4);
    }

    #[test]
    fn exact_search_orders_and_truncates() {
        let data = vec![
            (1, vec![1.0, 0.0]),
            (2, vec![0.0, 1.0]),
            (3, normalized(&[1.0, 1.0])),
            (4, vec![1.0, 0.0, 0.0]), // wrong dimension: skipped
        ];
        let got = exact_search(&data, &[2.0, 0.1], 2);
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 3]);
        assert!(got[0].1 > got[1].1);
        assert!(exact_search(&data, &[1.0, 0.0], 0).is_empty());
        assert!(exact_search(&data, &[f32::NAN, 0.0], 3).is_empty());
        assert_eq!(exact_search(&data, &[1.0, 0.0], 10).len(), 3);
    }

    #[test]
    fn save_load_round_trip_gives_identical_results() {
        let dims = 64;
        let data = dataset(1500, dims, 3);
        let index = build(&data, dims, Params::default());
        let dir = tempfile::tempdir().unwrap();
        assert!(VectorIndex::load(dir.path()).unwrap().is_none());
        index.save(dir.path()).unwrap();
        let loaded = VectorIndex::load(dir.path()).unwrap().unwrap();
        assert_eq!(loaded.len(), index.len());
        assert_eq!(loaded.dims(), dims);
        assert_eq!(loaded.params(), index.params());
        assert_eq!(loaded.max_chunk_id(), 1500);
        let info = VectorIndex::saved_info(dir.path()).unwrap().unwrap();
        assert_eq!(
            (info.generation, info.dims, info.count, info.max_chunk_id),
            (1, dims, 1500, 1500)
        );
        let mut rng = Rng::new(5);
        for _ in 0..50 {
            let q = rng.unit_vector(dims);
            assert_eq!(
                index.search(&q, 10, 64, &|_| true),
                loaded.search(&q, 10, 64, &|_| true)
            );
        }
        // Saving again (from the loaded copy) replaces the generation and cleans up.
        let mut loaded = loaded;
        loaded.insert(5000, &rng.unit_vector(dims)).unwrap();
        loaded.save(dir.path()).unwrap();
        let again = VectorIndex::load(dir.path()).unwrap().unwrap();
        assert_eq!(again.len(), 1501);
        assert_eq!(again.max_chunk_id(), 5000);
        let files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files.contains(&"hnsw-00000002.hnsw.graph".to_string()), "{files:?}");
    }

    #[test]
    fn search_exact_matches_exact_search() {
        let dims = 48;
        let data = dataset(800, dims, 31);
        let index = build(&data, dims, Params::default());
        let mut rng = Rng::new(32);
        for _ in 0..10 {
            let q = rng.unit_vector(dims);
            let ids = |r: Vec<(i64, f32)>| r.into_iter().map(|x| x.0).collect::<Vec<_>>();
            assert_eq!(
                ids(index.search_exact(&q, 10, &|_| true)),
                ids(exact_search(&data, &q, 10))
            );
            let odd: Vec<(i64, Vec<f32>)> = data.iter().filter(|(id, _)| id % 2 == 1).cloned().collect();
            assert_eq!(
                ids(index.search_exact(&q, 7, &|id| id % 2 == 1)),
                ids(exact_search(&odd, &q, 7))
            );
        }
        assert!(
            VectorIndex::new(4, 0, Params::default())
                .search_exact(&[1.0; 4], 3, &|_| true)
                .is_empty()
        );
    }

    #[test]
    fn empty_index_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let index = VectorIndex::new(32, 0, Params::default());
        assert!(index.search(&[0.5; 32], 5, 10, &|_| true).is_empty());
        index.save(dir.path()).unwrap();
        let loaded = VectorIndex::load(dir.path()).unwrap().unwrap();
        assert!(loaded.is_empty());
        assert_eq!(loaded.dims(), 32);
    }

    #[test]
    fn filter_excludes_ids_and_still_returns_k() {
        let dims = 32;
        let data = dataset(2000, dims, 11);
        let index = build(&data, dims, Params::default());
        let mut rng = Rng::new(12);
        for _ in 0..20 {
            let q = rng.unit_vector(dims);
            // Delete the true top 30, then every other id: far more than the oversampling.
            let top: HashSet<i64> = exact_search(&data, &q, 30).into_iter().map(|r| r.0).collect();
            let live = |id: i64| !top.contains(&id) && id % 2 == 0;
            let got = index.search(&q, 10, 64, &live);
            assert_eq!(got.len(), 10);
            assert!(got.iter().all(|(id, _)| live(*id)));
            let live_data: Vec<(i64, Vec<f32>)> = data.iter().filter(|(id, _)| live(*id)).cloned().collect();
            let truth: HashSet<i64> = exact_search(&live_data, &q, 10).into_iter().map(|r| r.0).collect();
            let hits = got.iter().filter(|(id, _)| truth.contains(id)).count();
            assert!(hits >= 9, "only {hits}/10 of the live top 10");
        }
        // Everything filtered: empty, not a hang.
        assert!(index.search(&rng.unit_vector(dims), 10, 64, &|_| false).is_empty());
    }

    #[test]
    fn bad_input_is_rejected_not_panicking() {
        let mut index = VectorIndex::new(8, 10, Params::default());
        assert!(matches!(index.insert(-1, &[0.1; 8]), Err(Error::BadEmbedding { .. })));
        assert!(matches!(index.insert(1, &[0.1; 7]), Err(Error::BadEmbedding { .. })));
        assert!(matches!(
            index.insert(1, &[f32::NAN; 8]),
            Err(Error::BadEmbedding { .. })
        ));
        assert!(matches!(
            index.insert_batch(&[(1, vec![0.1; 8]), (2, vec![0.1; 9])]),
            Err(Error::BadEmbedding { .. })
        ));
        assert!(index.is_empty());
        index.insert(1, &[0.0; 8]).unwrap(); // zero vector: allowed, similarity 0
        index.insert(2, &[1.0; 8]).unwrap();
        index.insert(2, &[1.0; 8]).unwrap(); // duplicate id: reported once
        let got = index.search(&[1.0; 8], 5, 10, &|_| true);
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 1]);
        assert!(index.search(&[1.0; 3], 5, 10, &|_| true).is_empty());
        assert!(index.search(&[f32::INFINITY; 8], 5, 10, &|_| true).is_empty());
    }

    #[test]
    fn interrupted_save_leaves_previous_index_loadable() {
        let dims = 16;
        let data = dataset(300, dims, 21);
        let index = build(&data, dims, Params::default());
        let dir = tempfile::tempdir().unwrap();
        index.save(dir.path()).unwrap();
        let q = Rng::new(4).unit_vector(dims);
        let expected = index.search(&q, 5, 32, &|_| true);

        // A save killed after writing the next generation, before the pointer swap.
        std::fs::write(dir.path().join("hnsw-00000002.hnsw.graph"), b"garbage").unwrap();
        std::fs::write(dir.path().join("hnsw-00000002.hnsw.data"), vec![0xAB; 999]).unwrap();
        std::fs::create_dir(dir.path().join(".hnsw-tmpXYZ")).unwrap();
        std::fs::write(dir.path().join(".hnsw-tmpXYZ/partial.hnsw.data"), b"x").unwrap();
        let loaded = VectorIndex::load(dir.path()).unwrap().unwrap();
        assert_eq!(loaded.search(&q, 5, 32, &|_| true), expected);

        // The next save skips the leftover's generation and removes it.
        loaded.save(dir.path()).unwrap();
        assert!(dir.path().join("hnsw-00000003.hnsw.graph").exists());
        assert!(!dir.path().join("hnsw-00000002.hnsw.graph").exists());
        assert!(!dir.path().join(".hnsw-tmpXYZ").exists());
        let reloaded = VectorIndex::load(dir.path()).unwrap().unwrap();
        assert_eq!(reloaded.search(&q, 5, 32, &|_| true), expected);
    }

    #[test]
    fn corrupt_files_are_reported_not_loaded() {
        let dims = 16;
        let index = build(&dataset(200, dims, 8), dims, Params::default());
        let dir = tempfile::tempdir().unwrap();
        index.save(dir.path()).unwrap();
        let data_file = dir.path().join("hnsw-00000001.hnsw.data");
        let mut bytes = std::fs::read(&data_file).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xFF; // same size, flipped bits
        std::fs::write(&data_file, &bytes).unwrap();
        match VectorIndex::load(dir.path()) {
            Err(Error::Corrupt { path, detail }) => {
                assert!(detail.contains("checksum"), "{detail}");
                assert_eq!(path, dir.path().join(POINTER_FILE));
            }
            other => panic!("expected Error::Corrupt, got {other:?}"),
        }
        bytes.truncate(mid);
        std::fs::write(&data_file, &bytes).unwrap();
        assert!(matches!(VectorIndex::load(dir.path()), Err(Error::Corrupt { .. })));
        std::fs::write(dir.path().join(POINTER_FILE), b"{not json").unwrap();
        assert!(matches!(VectorIndex::load(dir.path()), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn a_pointer_of_another_format_is_unsupported_not_corrupt() {
        let dims = 16;
        let index = build(&dataset(100, dims, 9), dims, Params::default());
        let dir = tempfile::tempdir().unwrap();
        index.save(dir.path()).unwrap();
        let pointer = dir.path().join(POINTER_FILE);
        let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&pointer).unwrap()).unwrap();
        assert_eq!(json["format"], 2);
        // Format 1 wrote 16-hex-digit checksums of another hash.
        json["format"] = 1.into();
        json["graph_checksum"] = "0123456789abcdef".into();
        std::fs::write(&pointer, json.to_string()).unwrap();
        for result in [
            VectorIndex::load(dir.path()).map(|_| ()),
            VectorIndex::saved_info(dir.path()).map(|_| ()),
        ] {
            match result {
                Err(Error::UnsupportedFormat {
                    path,
                    found: 1,
                    supported: 2,
                }) => assert_eq!(path, pointer),
                other => panic!("expected Error::UnsupportedFormat, got {other:?}"),
            }
        }
        // A save replaces it in the current format, under a fresh generation name.
        index.save(dir.path()).unwrap();
        let loaded = VectorIndex::load(dir.path()).unwrap().unwrap();
        assert_eq!(loaded.len(), 100);
        assert!(dir.path().join("hnsw-00000002.hnsw.graph").exists());
        assert!(!dir.path().join("hnsw-00000001.hnsw.graph").exists());
    }

    #[test]
    fn checksums_are_crc32_of_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Longer than the read buffer, so the streaming path is exercised.
        let bytes: Vec<u8> = (0..(3 << 20) + 7).map(|i: u32| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            checksum_file(&path).unwrap(),
            (bytes.len() as u64, crc32fast::hash(&bytes))
        );
        std::fs::write(&path, b"123456789").unwrap();
        // The standard CRC-32 check value.
        assert_eq!(checksum_hex(checksum_file(&path).unwrap().1), "cbf43926");
        assert!(matches!(checksum_file(&dir.path().join("nope")), Err(Error::Io { .. })));
    }

    #[test]
    fn build_and_update_from_store() {
        use crate::store::{ArticleRow, NewChunk};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("store.sqlite3")).unwrap();
        let mut rng = Rng::new(77);
        let mut add = |store: &mut Store, name: &str, n: u32| {
            let article = ArticleRow {
                id: name.into(),
                source_path: format!("{name}.txt"),
                title: None,
                date: None,
                lang: None,
                url: None,
                hash: "h".into(),
            };
            let chunks: Vec<NewChunk> = (0..n)
                .map(|i| NewChunk {
                    ordinal: i,
                    text: format!("{name} {i}"),
                    start: 0,
                    end: 1,
                    line_start: 1,
                    line_end: 1,
                    embedding: rng.unit_vector(24),
                })
                .collect();
            store.replace_article(&article, &chunks).unwrap()
        };
        add(&mut store, "a", 5);
        add(&mut store, "b", 3);
        let mut index = build_from_store(&store, 24, Params::default(), &crate::progress::NoProgress).unwrap();
        assert_eq!(index.len(), 8);
        assert_eq!(index.max_chunk_id(), store.max_chunk_id().unwrap());
        let new_ids = add(&mut store, "a", 2); // replaces a: 5 stale nodes remain in the graph
        assert_eq!(index.add_from_store(&store, &crate::progress::NoProgress).unwrap(), 2);
        assert_eq!(index.len(), 10);
        let live = store.live_chunk_ids().unwrap();
        let v = store.embedding(new_ids[0]).unwrap().unwrap();
        let got = index.search(&v, 5, 32, &|id| live.contains(&id));
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].0, new_ids[0]);
        assert!(got.iter().all(|(id, _)| live.contains(id)));
        // Streaming exact search over the store agrees with exact search over the live set.
        let mut live_data = Vec::new();
        store
            .for_each_embedding(|id, v| {
                live_data.push((id, v.to_vec()));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            exact_search_in_store(&store, &v, 4).unwrap(),
            exact_search(&live_data, &v, 4)
        );
        assert_eq!(exact_search_in_store(&store, &v, 50).unwrap().len(), 5);
        assert_eq!(
            got.iter().map(|r| r.0).collect::<Vec<_>>(),
            exact_search(&live_data, &v, 5).iter().map(|r| r.0).collect::<Vec<_>>()
        );
        let mut wrong = VectorIndex::new(12, 1, Params::default());
        assert!(matches!(
            wrong.add_from_store(&store, &crate::progress::NoProgress),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn exact_search_in_store_prunes_correctly() {
        use crate::store::{ArticleRow, NewChunk};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("store.sqlite3")).unwrap();
        let mut rng = Rng::new(41);
        let article = ArticleRow {
            id: "big".into(),
            source_path: "big.txt".into(),
            title: None,
            date: None,
            lang: None,
            url: None,
            hash: "h".into(),
        };
        let chunks: Vec<NewChunk> = (0..3000)
            .map(|i| NewChunk {
                ordinal: i,
                text: String::new(),
                start: 0,
                end: 0,
                line_start: 1,
                line_end: 1,
                embedding: rng.unit_vector(8),
            })
            .collect();
        let ids = store.replace_article(&article, &chunks).unwrap();
        let data: Vec<(i64, Vec<f32>)> = ids
            .iter()
            .zip(&chunks)
            .map(|(id, c)| (*id, c.embedding.clone()))
            .collect();
        for _ in 0..5 {
            let q = rng.unit_vector(8);
            assert_eq!(
                exact_search_in_store(&store, &q, 10).unwrap(),
                exact_search(&data, &q, 10)
            );
        }
        assert!(exact_search_in_store(&store, &[0.1; 8], 0).unwrap().is_empty());
    }

    #[test]
    fn index_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<VectorIndex>();
    }
}
