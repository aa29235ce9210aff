//! An index directory: the SQLite store, the HNSW index derived from it, and the manifest.
//!
//! The manifest (`manifest.json`) records the format version, the embedder fingerprint and
//! the chunker settings. It is written once, atomically, before the first article is stored,
//! and checked on every open: vectors from another model, or another chunking, must never be
//! mixed with these or compared against a query from another model.
//!
//! The HNSW graph and the BM25 index are derived from the store and may lag behind it (an
//! ingest killed before saving them). An index opened for reading ([`Library::open`]) never
//! writes: it opens the store read-only and catches the derived indexes up in memory, on
//! first use, from the stored embeddings and texts (never by re-embedding). Writers
//! ([`Library::open_for_ingest`], [`Library::open_for_update`]) save the catch-up. Queries go
//! through `&self`, so one open library serves concurrent readers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::backend::{IngestBackend, Scored, SearchBackend, Selection};
use crate::chunk::ChunkerConfig;
use crate::flat::{self, FlatVectors};
use crate::index::{self, Params, VectorIndex};
use crate::lexical::{self, LexicalIndex};
use crate::progress::{NoProgress, Progress};
use crate::retrieve::Filters;
use crate::store::{ArticleRow, ArticleText, ChunkRow, NewChunk, STORE_FILE_NAME, Store};
use crate::{Error, Result};

/// Version of the index directory layout and manifest.
pub const FORMAT_VERSION: u32 = 1;
/// Name of the manifest file in an index directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Chunk size, prompt included: short enough for precise citations, long enough for context.
pub const DEFAULT_CHUNK_TOKENS: usize = 256;

/// What the vectors of an index were built with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexManifest {
    pub format_version: u32,
    pub embedder: String,
    pub embedder_fingerprint: String,
    pub dims: usize,
    /// Token budget of a chunk, document prompt and special tokens included.
    pub chunk_tokens: usize,
    pub overlap_sentences: usize,
}

impl IndexManifest {
    /// The chunker settings for an article whose prompt takes `overhead` tokens.
    pub fn chunker(&self, overhead: usize) -> ChunkerConfig {
        ChunkerConfig {
            max_tokens: self.chunk_tokens.saturating_sub(overhead).max(16),
            overlap_sentences: self.overlap_sentences,
        }
    }
}

/// An open index directory.
pub struct Library {
    pub dir: PathBuf,
    pub store: Store,
    pub manifest: IndexManifest,
    vectors: OnceLock<VectorIndex>,
    /// The flat vector file for exact dense search (`None`: use the graph), loaded once.
    flat: OnceLock<Option<FlatSet>>,
    lexical: OnceLock<LexicalIndex>,
    /// Ids of the chunks in the store, loaded once: the filter that hides deleted chunks
    /// still in the derived indexes, without one SQL query per candidate.
    live: OnceLock<HashSet<i64>>,
    writable: bool,
    /// The index's writer lock, held by writable opens for their lifetime: ingests, rebuilds
    /// and evals of one index take turns, while readers never wait.
    _writer: Option<std::fs::File>,
}

/// The flat vector file and the stored chunks newer than it.
struct FlatSet {
    file: FlatVectors,
    extra: Vec<(i64, Vec<f32>)>,
}

impl FlatSet {
    fn search(&self, q: &[f32], k: usize, filter: &(dyn Fn(i64) -> bool + Sync)) -> Vec<(i64, f32)> {
        let mut hits = self.file.search(q, k, filter);
        if !self.extra.is_empty() {
            let extra: Vec<(i64, Vec<f32>)> = self.extra.iter().filter(|(id, _)| filter(*id)).cloned().collect();
            hits.extend(index::exact_search(&extra, q, k));
            hits.sort_by(crate::index::by_score);
            hits.truncate(k);
        }
        hits
    }
}

/// Reads the manifest of an index directory, if it has one.
pub fn read_manifest(dir: &Path) -> Result<Option<IndexManifest>> {
    let p = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("reading", &p)(e)),
    };
    let m: IndexManifest = serde_json::from_slice(&bytes).map_err(|e| Error::Parse {
        path: p.clone(),
        detail: format!(
            "{e}; the index manifest is damaged: delete {} and ingest again",
            dir.display()
        ),
    })?;
    if m.format_version != FORMAT_VERSION {
        return Err(Error::UnsupportedFormat {
            path: p,
            found: m.format_version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(Some(m))
}

/// File whose OS lock serialises the writers of an index.
pub const WRITER_LOCK_FILE: &str = "writer.lock";

/// The store is gone but its derived indexes are not: a new store would give its chunks the
/// ids of the old ones, and the old vectors would answer for them. Those indexes describe a
/// store that no longer exists, so they are removed before a new store is made.
fn drop_orphan_derived_indexes(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(Error::io("reading", dir))?;
    let mut dropped = 0;
    for e in entries {
        let e = e.map_err(Error::io("reading", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if name == index::POINTER_FILE || name.starts_with("hnsw-") {
            std::fs::remove_file(&path).map_err(Error::io("removing", &path))?;
            dropped += 1;
        } else if name == lexical::LEXICAL_DIR {
            std::fs::remove_dir_all(&path).map_err(Error::io("removing", &path))?;
            dropped += 1;
        }
    }
    if dropped > 0 {
        tracing::warn!(
            "{} has no store: dropping the vector and lexical indexes left from the store that was there",
            dir.display()
        );
    }
    Ok(())
}

fn writer_lock(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join(WRITER_LOCK_FILE);
    crate::fsx::lock_exclusive(&path, &mut || {
        tracing::warn!(
            "waiting for another sourcier that is writing to {} (lock {})",
            dir.display(),
            path.display()
        )
    })
}

impl Library {
    /// Opens the index in `dir` for writing, creating it with `manifest` when new.
    /// An existing index built differently is refused with what to do about it.
    pub fn open_for_ingest(dir: &Path, manifest: IndexManifest) -> Result<Library> {
        // The index holds article text: a new one is private to the user (0700), which
        // covers the store, the vector files and the lexical segments alike.
        if !dir.exists() {
            crate::fsx::create_dir_private(dir)?;
        }
        let writer = writer_lock(dir)?;
        let lib = match read_manifest(dir)? {
            Some(existing) => {
                check_compatible(dir, &existing, &manifest)?;
                if !dir.join(STORE_FILE_NAME).exists() {
                    drop_orphan_derived_indexes(dir)?;
                }
                Library::open_with(dir, existing)
            }
            None => {
                if dir.join(STORE_FILE_NAME).exists() {
                    return Err(Error::Corrupt {
                        path: dir.join(MANIFEST_FILE),
                        detail: "missing beside an existing store".into(),
                    });
                }
                let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
                crate::fsx::write_atomic(&dir.join(MANIFEST_FILE), &bytes)?;
                Library::open_with(dir, manifest)
            }
        }?;
        Ok(Library {
            _writer: Some(writer),
            ..lib
        })
    }

    /// Opens an existing index for reading only: the store is opened read-only and nothing
    /// in the directory is created or changed, so a read-only index directory works.
    pub fn open(dir: &Path) -> Result<Library> {
        let m = Library::existing_manifest(dir)?;
        let store = Store::open_read_only(&dir.join(STORE_FILE_NAME))?;
        Ok(Library::with_store(dir, m, store, false))
    }

    /// Opens an existing index for maintenance (`index rebuild`, eval caches): like
    /// [`Library::open`], but writable.
    pub fn open_for_update(dir: &Path) -> Result<Library> {
        Library::existing_manifest(dir)?;
        let writer = writer_lock(dir)?;
        // Read again under the lock: a writer that held it may have changed it.
        let m = Library::existing_manifest(dir)?;
        Ok(Library {
            _writer: Some(writer),
            ..Library::open_with(dir, m)?
        })
    }

    fn existing_manifest(dir: &Path) -> Result<IndexManifest> {
        read_manifest(dir)?.ok_or_else(|| Error::IndexMissing {
            path: dir.to_path_buf(),
        })
    }

    fn open_with(dir: &Path, manifest: IndexManifest) -> Result<Library> {
        let store = Store::open(&dir.join(STORE_FILE_NAME))?;
        Ok(Library::with_store(dir, manifest, store, true))
    }

    fn with_store(dir: &Path, manifest: IndexManifest, store: Store, writable: bool) -> Library {
        Library {
            dir: dir.to_path_buf(),
            store,
            manifest,
            vectors: OnceLock::new(),
            flat: OnceLock::new(),
            lexical: OnceLock::new(),
            live: OnceLock::new(),
            writable,
            _writer: None,
        }
    }

    /// Whether this library may write to its directory.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    fn require_writable(&self, what: &str) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::ReadOnly {
                path: self.dir.clone(),
                what: what.to_string(),
            })
        }
    }

    /// Refuses to use this index with an embedder whose fingerprint differs.
    pub fn check_embedder(&self, name: &str, fingerprint: &str) -> Result<()> {
        crate::backend::check_fingerprint(&self.manifest, &self.dir.display().to_string(), name, fingerprint)
    }

    /// Ids of the chunks in the store, loaded on first use.
    pub fn live_chunk_ids(&self) -> Result<&HashSet<i64>> {
        if let Some(l) = self.live.get() {
            return Ok(l);
        }
        let ids = self.store.live_chunk_ids()?;
        Ok(self.live.get_or_init(|| ids))
    }

    /// The HNSW index, loaded on first use and caught up in memory with the store.
    pub fn vectors(&self) -> Result<&VectorIndex> {
        if let Some(v) = self.vectors.get() {
            return Ok(v);
        }
        let (v, _, _) = self.load_vectors(&NoProgress)?;
        // Two threads may both load; the loser's copy is dropped.
        Ok(self.vectors.get_or_init(|| v))
    }

    /// Loads the saved graph and adds the stored chunks it lacks. Returns it with the number
    /// of vectors added and whether the saved graph was unusable (then the whole graph is
    /// rebuilt and must be saved even if the store is empty). A graph of another store (its
    /// ids run past the store's) is rebuilt.
    fn load_vectors(&self, progress: &dyn Progress) -> Result<(VectorIndex, usize, bool)> {
        let store_max = self.store.max_chunk_id()?;
        // The graph is derived from the stored embeddings: a damaged one is rebuilt (in
        // memory for a reader, saved by the next ingest or rebuild).
        let then = if self.writable {
            "and saving it"
        } else {
            "in memory; the next ingest or rebuild saves it"
        };
        let mut replaced = false;
        let loaded = VectorIndex::load(&self.dir).unwrap_or_else(|e| {
            replaced = true;
            match e {
                // An older (or newer) sourcier's graph is not damaged, just not ours to read.
                Error::UnsupportedFormat { path, found, supported } => tracing::warn!(
                    "the vector index {} is in format {found}, this version uses format {supported}; rebuilding it from the stored embeddings {then}",
                    path.display()
                ),
                e => tracing::warn!("{e}; using a copy rebuilt from the stored embeddings instead"),
            }
            None
        });
        let mut v = match loaded {
            Some(v) if v.dims() == self.manifest.dims && v.max_chunk_id() <= store_max => v,
            Some(v) => {
                tracing::warn!(
                    graph_max = v.max_chunk_id(),
                    store_max,
                    "the vector index does not belong to this store; rebuilding it from the stored embeddings"
                );
                replaced = true;
                VectorIndex::new(self.manifest.dims, 0, Params::default())
            }
            None => VectorIndex::new(self.manifest.dims, 0, Params::default()),
        };
        let mut added = 0;
        if store_max > v.max_chunk_id() {
            let n = self.store.chunk_count()?;
            progress.start("indexing vectors", Some(n));
            added = v.add_from_store(&self.store, progress)?;
            progress.finish();
            tracing::info!("caught up {added} vectors from the store");
        }
        Ok((v, added, replaced))
    }

    /// Loads both derived indexes now, reporting a long catch-up through `progress`, so the
    /// first query pays nothing.
    pub fn warm(&self, progress: &dyn Progress) -> Result<()> {
        if self.flat()?.is_none() && self.vectors.get().is_none() {
            let (v, _, _) = self.load_vectors(progress)?;
            let _ = self.vectors.set(v);
        }
        if self.lexical.get().is_none() {
            let l = self.load_lexical(progress)?;
            let _ = self.lexical.set(l);
        }
        Ok(())
    }

    /// The HNSW index if [`Library::vectors`] loaded it already.
    pub fn loaded_vectors(&self) -> Option<&VectorIndex> {
        self.vectors.get()
    }

    /// Rebuilds the HNSW index from the stored embeddings (no re-embedding) and saves it.
    pub fn rebuild_vectors(&mut self, progress: &dyn Progress) -> Result<usize> {
        self.require_writable("rebuild the vector index")?;
        let v = index::build_from_store(&self.store, self.manifest.dims, Params::default(), progress)?;
        v.save(&self.dir)?;
        let n = v.len();
        self.vectors = OnceLock::from(v);
        self.live = OnceLock::new();
        // Rewritten even when it looks current: `index rebuild` is the repair command.
        flat::remove(&self.dir)?;
        self.write_flat(progress)?;
        self.keep_private();
        Ok(n)
    }

    /// Takes group and other access off the index's own files: tantivy's segments and the
    /// files made by libraries follow the umask, and they all hold article text. Only what
    /// the index made is touched, since an index may live in a folder that holds other files.
    /// A failure costs a warning: the data is written, only its modes are not as tight.
    fn keep_private(&self) {
        let result = std::fs::read_dir(&self.dir)
            .map_err(Error::io("reading", &self.dir))
            .and_then(|entries| {
                for e in entries {
                    let e = e.map_err(Error::io("reading", &self.dir))?;
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name == lexical::LEXICAL_DIR {
                        crate::fsx::make_tree_private(&e.path())?;
                    } else if name == MANIFEST_FILE
                        || name == WRITER_LOCK_FILE
                        || name == index::POINTER_FILE
                        || name.starts_with(STORE_FILE_NAME)
                        || name.starts_with("hnsw-")
                        || name == flat::FLAT_FILE
                    {
                        crate::fsx::make_private(&e.path())?;
                    }
                }
                Ok(())
            });
        if let Err(e) = result {
            tracing::warn!("{e}; the index files may be readable by other users");
        }
    }

    /// Adds new stored chunks to the HNSW index and saves it; rebuilds instead when more than
    /// a fifth of the graph points at deleted chunks.
    pub fn sync_vectors(&mut self, progress: &dyn Progress) -> Result<()> {
        self.require_writable("update the vector index")?;
        self.vectors = OnceLock::new();
        self.flat = OnceLock::new();
        self.live = OnceLock::new();
        let live = self.store.chunk_count()? as usize;
        // The pointer file has the graph's size: no need to load the graph to count. An
        // unreadable one (damaged, other format) is replaced by load_vectors below.
        let stale = match VectorIndex::saved_info(&self.dir).ok().flatten() {
            Some(info) => info.count.saturating_sub(live.min(info.count)),
            None => 0,
        };
        if stale > 0 && stale * 5 > live.max(1) {
            // Rewrites the flat vector file too.
            self.rebuild_vectors(progress)?;
        } else {
            let (v, added, replaced) = self.load_vectors(progress)?;
            if added > 0 || replaced {
                v.save(&self.dir)?;
            }
            self.vectors = OnceLock::from(v);
            self.write_flat(progress)?;
        }
        self.keep_private();
        Ok(())
    }

    /// Writes the flat vector file from the store when it is small enough for exact search,
    /// and removes a stale one otherwise. Skipped when it already covers the store exactly.
    fn write_flat(&mut self, progress: &dyn Progress) -> Result<()> {
        self.flat = OnceLock::new();
        let live = self.store.chunk_count()? as usize;
        if live > flat::FLAT_MAX {
            return flat::remove(&self.dir);
        }
        if let Ok(Some(f)) = FlatVectors::open(&self.dir)
            && f.len() == live
            && f.max_chunk_id() == self.store.max_chunk_id()?
            && f.dims() == self.manifest.dims
        {
            return Ok(());
        }
        progress.start("writing flat vectors", Some(live as u64));
        let store = &self.store;
        let mut n = 0u64;
        flat::write(&self.dir, self.manifest.dims, &mut |row| {
            store.for_each_embedding_after(0, |id, v| {
                row(id, v)?;
                n += 1;
                if n.is_multiple_of(4096) {
                    progress.inc(4096);
                }
                Ok(())
            })
        })?;
        progress.finish();
        Ok(())
    }

    /// The flat vector file with the store's chunks it lacks, or `None` when dense search
    /// must use the graph: no file (a large index, or one written before this build), a
    /// damaged one (a warning; reads never repair), or `SOURCIER_VECTOR_SEARCH=hnsw`.
    fn flat(&self) -> Result<Option<&FlatSet>> {
        if let Some(f) = self.flat.get() {
            return Ok(f.as_ref());
        }
        let loaded = self.load_flat()?;
        Ok(self.flat.get_or_init(|| loaded).as_ref())
    }

    fn load_flat(&self) -> Result<Option<FlatSet>> {
        if std::env::var("SOURCIER_VECTOR_SEARCH").is_ok_and(|v| v.trim() == "hnsw") {
            return Ok(None);
        }
        let file = match FlatVectors::open(&self.dir) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!("{e}; searching the vector graph instead (`sourcier index rebuild` rewrites the file)");
                return Ok(None);
            }
        };
        let store_max = self.store.max_chunk_id()?;
        if file.dims() != self.manifest.dims || file.max_chunk_id() > store_max {
            tracing::warn!(
                "the flat vector file in {} does not belong to this store; searching the vector graph instead",
                self.dir.display()
            );
            return Ok(None);
        }
        // An interrupted ingest stored chunks after the file was written: scan them too.
        let mut extra = Vec::new();
        self.store.for_each_embedding_after(file.max_chunk_id(), |id, v| {
            extra.push((id, v.to_vec()));
            Ok(())
        })?;
        Ok(Some(FlatSet { file, extra }))
    }

    /// Folder of the BM25 index.
    pub fn lexical_dir(&self) -> PathBuf {
        self.dir.join(lexical::LEXICAL_DIR)
    }

    /// The BM25 index, opened on first use. Read-only, an index that lags the store (an
    /// interrupted ingest) or is missing is rebuilt in memory from the stored texts, so
    /// results are complete without writing; the next ingest catches the one on disk up.
    pub fn lexical(&self) -> Result<&LexicalIndex> {
        if let Some(l) = self.lexical.get() {
            return Ok(l);
        }
        let lex = self.load_lexical(&NoProgress)?;
        Ok(self.lexical.get_or_init(|| lex))
    }

    fn load_lexical(&self, progress: &dyn Progress) -> Result<LexicalIndex> {
        if self.writable {
            // A damaged BM25 index is derived data: rebuild it on disk from the store.
            let opened = LexicalIndex::open_or_create(&self.lexical_dir()).and_then(|lex| {
                let max = lex.max_chunk_id()?;
                Ok((lex, max))
            });
            let (mut lex, max) = match opened {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::warn!(
                        "the lexical index of {} is damaged ({e}); rebuilding it from the stored chunks",
                        self.dir.display()
                    );
                    return lexical::rebuild_from_store(&self.lexical_dir(), &self.store, progress);
                }
            };
            if self.store.max_chunk_id()? != max {
                let added = lexical::sync_from_store(&mut lex, &self.store, progress)?;
                tracing::info!("caught up {added} chunks in the lexical index");
            }
            return Ok(lex);
        }
        let existing = LexicalIndex::open_existing(&self.lexical_dir()).and_then(|lex| match lex {
            Some(lex) => {
                let max = lex.max_chunk_id()?;
                Ok(Some((lex, max)))
            }
            None => Ok(None),
        });
        match existing {
            Ok(Some((lex, max))) => {
                let missing = self.live_chunk_ids()?.iter().filter(|&&id| id > max).count();
                if missing == 0 {
                    return Ok(lex);
                }
                tracing::warn!(
                    missing,
                    "the lexical index lacks {missing} stored chunks (an ingest was interrupted); searching an in-memory copy until the next ingest"
                );
            }
            Ok(None) => {}
            // Reads never write: search an in-memory copy; an ingest or a rebuild repairs the disk.
            Err(e) => tracing::warn!(
                "the lexical index of {} is damaged ({e}); searching a copy rebuilt in memory from the stored chunks until the index is rebuilt",
                self.dir.display()
            ),
        }
        let mut lex = LexicalIndex::in_memory(&self.lexical_dir())?;
        lexical::sync_from_store(&mut lex, &self.store, progress)?;
        Ok(lex)
    }

    /// The BM25 index if [`Library::lexical`] opened it already.
    pub fn loaded_lexical(&self) -> Option<&LexicalIndex> {
        self.lexical.get()
    }

    /// After an ingest: brings the BM25 index in line with the store. The sync re-indexes
    /// every article with new chunks whole and drops articles the store no longer has.
    pub fn sync_lexical(&mut self, progress: &dyn Progress) -> Result<()> {
        self.require_writable("update the lexical index")?;
        self.live = OnceLock::new();
        let mut lex = match self.lexical.take() {
            Some(l) => l,
            None => self.load_lexical(progress)?,
        };
        lexical::sync_from_store(&mut lex, &self.store, progress)?;
        // Merges finish before the modes are set, so no segment is written after that.
        lex.close_writer()?;
        self.lexical = OnceLock::from(lex);
        self.keep_private();
        Ok(())
    }

    /// Rebuilds the BM25 index from the stored chunk texts.
    pub fn rebuild_lexical(&mut self, progress: &dyn Progress) -> Result<()> {
        self.require_writable("rebuild the lexical index")?;
        self.lexical = OnceLock::new();
        let lex = lexical::rebuild_from_store(&self.lexical_dir(), &self.store, progress)?;
        self.lexical = OnceLock::from(lex);
        self.keep_private();
        Ok(())
    }

    /// Size on disk of the index directory, in bytes.
    pub fn disk_size(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| match e.metadata() {
                            Ok(m) if m.is_dir() => walk(&e.path()),
                            Ok(m) => m.len(),
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.dir)
    }
}

fn check_compatible(dir: &Path, existing: &IndexManifest, wanted: &IndexManifest) -> Result<()> {
    if existing.embedder_fingerprint != wanted.embedder_fingerprint {
        return Err(Error::EmbedderMismatch {
            path: dir.to_path_buf(),
            index_embedder: existing.embedder.clone(),
            index_fingerprint: existing.embedder_fingerprint.clone(),
            embedder: wanted.embedder.clone(),
            fingerprint: wanted.embedder_fingerprint.clone(),
        });
    }
    if (existing.chunk_tokens, existing.overlap_sentences) != (wanted.chunk_tokens, wanted.overlap_sentences) {
        return Err(Error::ChunkingMismatch {
            path: dir.to_path_buf(),
            chunk_tokens: existing.chunk_tokens,
            overlap: existing.overlap_sentences,
        });
    }
    Ok(())
}

impl SearchBackend for Library {
    fn manifest(&self) -> &IndexManifest {
        &self.manifest
    }
    fn location(&self) -> String {
        self.dir.display().to_string()
    }
    fn chunk_count(&self) -> Result<u64> {
        self.store.chunk_count()
    }
    /// Two SQL queries, whatever the corpus size.
    fn select(&self, filters: &Filters) -> Result<Selection> {
        if filters.is_empty() {
            return Ok(Selection::All);
        }
        let passing: HashSet<String> = self
            .store
            .articles()?
            .into_iter()
            .filter(|a| filters.accepts(a))
            .map(|a| a.id)
            .collect();
        if passing.is_empty() {
            return Ok(Selection::Chunks(HashSet::new()));
        }
        Ok(Selection::Chunks(
            self.store
                .chunk_articles()?
                .into_iter()
                .filter(|(_, article)| passing.contains(article))
                .map(|(id, _)| id)
                .collect(),
        ))
    }
    fn dense_top_k(&self, q: &[f32], k: usize, selection: &Selection) -> Result<Scored> {
        let resolved;
        let set = match selection {
            Selection::All => self.live_chunk_ids()?,
            Selection::Chunks(a) => a,
            Selection::Filters(f) => {
                resolved = self.select(f)?;
                return self.dense_top_k(q, k, &resolved);
            }
        };
        if let Some(flat) = self.flat()? {
            // f16 rows rank; the stored f32 vectors of the few best give the exact scores
            // and order, the same as the graph's (and PostgreSQL's) for the same chunks.
            let candidates = flat.search(q, k + k.max(16), &|id| set.contains(&id));
            let ids: Vec<i64> = candidates.iter().map(|c| c.0).collect();
            let exact = self.store.embeddings(&ids)?;
            let q = index::normalized(q);
            let mut hits: Vec<(i64, f32)> = candidates
                .into_iter()
                .map(|(id, s)| (id, exact.get(&id).map_or(s, |v| crate::vecmath::dot(&q, v))))
                .collect();
            hits.sort_by(crate::index::by_score);
            hits.truncate(k);
            return Ok(hits);
        }
        let vectors = self.vectors()?;
        Ok(vectors.search(q, k, vectors.params().ef_search, &|id| set.contains(&id)))
    }
    fn lexical_top_k(&self, query: &str, k: usize, selection: &Selection) -> Result<Scored> {
        let lex = self.lexical()?;
        let resolved;
        let set = match selection {
            Selection::All => self.live_chunk_ids()?,
            Selection::Chunks(a) => a,
            Selection::Filters(f) => {
                resolved = self.select(f)?;
                return self.lexical_top_k(query, k, &resolved);
            }
        };
        lex.search(query, k, &|id| set.contains(&id))
    }
    fn chunks_by_ids(&self, ids: &[i64]) -> Result<Vec<(ChunkRow, ArticleRow)>> {
        self.store.chunks_by_ids(ids)
    }
    fn embeddings(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<f32>>> {
        self.store.embeddings(ids)
    }
    fn article_chunks(&self, article_id: &str) -> Result<Vec<ChunkRow>> {
        self.store.article_chunks(article_id)
    }
    fn article_ids(&self) -> Result<Vec<String>> {
        self.store.article_ids()
    }
    fn article(&self, id: &str) -> Result<Option<(ArticleRow, Option<ArticleText>)>> {
        let Some(row) = self.store.article(id)? else {
            return Ok(None);
        };
        Ok(Some((row, self.store.article_text(id)?)))
    }
    fn stats(&self) -> Result<crate::store::StoreStats> {
        self.store.stats()
    }
    fn disk_size(&self) -> Result<u64> {
        Ok(Library::disk_size(self))
    }
    fn warm(&self, progress: &dyn Progress) -> Result<()> {
        Library::warm(self, progress)
    }
    fn sentence_cache(&self) -> &dyn crate::answer::SentenceCache {
        &self.store
    }
}

impl IngestBackend for Library {
    fn manifest(&self) -> &IndexManifest {
        &self.manifest
    }
    fn sentence_cache(&self) -> &dyn crate::answer::SentenceCache {
        &self.store
    }
    fn stored_chunk_texts(&self, article_id: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .article_chunks(article_id)?
            .into_iter()
            .map(|c| c.text)
            .collect())
    }
    fn location(&self) -> String {
        self.dir.display().to_string()
    }
    fn article_hashes(&self, ids: &[&str]) -> Result<HashMap<String, String>> {
        self.store.article_hashes(ids)
    }
    fn set_source_paths(&mut self, moves: &[(&str, &str)]) -> Result<()> {
        self.require_writable("record moved files")?;
        self.store.set_source_paths(moves)
    }
    fn replace_article(&mut self, article: &ArticleRow, chunks: &[NewChunk]) -> Result<Vec<i64>> {
        self.require_writable("store an article")?;
        self.store.replace_article(article, chunks)
    }
    fn put_article_texts(&mut self, texts: &[(&str, &ArticleText)], overwrite: bool) -> Result<()> {
        self.require_writable("store article texts")?;
        self.store.put_article_texts(texts, overwrite)
    }
    fn articles_by_source(&self) -> Result<Vec<(String, String)>> {
        self.store.articles_by_source()
    }
    fn delete_article(&mut self, id: &str) -> Result<bool> {
        self.require_writable("delete an article")?;
        self.store.delete_article(id)
    }
    fn commit(&mut self, progress: &dyn Progress) -> Result<()> {
        self.sync_vectors(progress)?;
        self.sync_lexical(progress)
    }
    fn reusable_vectors(&self, article_id: &str) -> Result<HashMap<crate::backend::ChunkKey, Vec<f32>>> {
        self.store.reusable_vectors(article_id)
    }
    fn stage_vectors(&mut self, article_id: &str, vectors: &[(crate::backend::ChunkKey, &[f32])]) -> Result<()> {
        self.require_writable("stage vectors")?;
        self.store.stage_vectors(article_id, vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(fp: &str) -> IndexManifest {
        IndexManifest {
            format_version: FORMAT_VERSION,
            embedder: "toy".into(),
            embedder_fingerprint: fp.into(),
            dims: 4,
            chunk_tokens: 256,
            overlap_sentences: 1,
        }
    }

    #[test]
    fn manifest_is_written_once_and_checked() {
        let t = tempfile::tempdir().unwrap();
        let lib = Library::open_for_ingest(t.path(), manifest("aaa")).unwrap();
        drop(lib);
        assert_eq!(read_manifest(t.path()).unwrap().unwrap().embedder_fingerprint, "aaa");
        let err = Library::open_for_ingest(t.path(), manifest("bbb")).err().unwrap();
        assert!(matches!(err, Error::EmbedderMismatch { .. }), "{err}");
        let lib = Library::open(t.path()).unwrap();
        assert!(!lib.is_writable());
        assert!(lib.check_embedder("toy", "bbb").is_err());
        assert!(lib.check_embedder("toy", "aaa").is_ok());
    }

    /// An index made in a folder that holds other files makes its own files private and
    /// leaves the others as they were.
    #[cfg(unix)]
    #[test]
    fn only_the_index_files_are_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let t = tempfile::tempdir().unwrap();
        let notes = t.path().join("notes.txt");
        std::fs::write(&notes, "mine").unwrap();
        std::fs::set_permissions(&notes, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::create_dir(t.path().join("sub")).unwrap();
        std::fs::set_permissions(t.path().join("sub"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut lib = Library::open_for_ingest(t.path(), manifest("aaa")).unwrap();
        lib.commit(&NoProgress).unwrap();
        drop(lib);
        assert_eq!((mode(&notes), mode(&t.path().join("sub"))), (0o644, 0o755));
        for name in [STORE_FILE_NAME, MANIFEST_FILE, WRITER_LOCK_FILE, lexical::LEXICAL_DIR] {
            assert_eq!(mode(&t.path().join(name)) & 0o077, 0, "{name}");
        }
    }

    #[test]
    fn an_open_library_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Library>();
    }

    #[test]
    fn a_missing_index_is_its_own_error() {
        let t = tempfile::tempdir().unwrap();
        let err = Library::open(&t.path().join("nope")).err().unwrap();
        assert!(matches!(err, Error::IndexMissing { .. }), "{err}");
    }

    #[test]
    fn newer_format_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let mut m = manifest("aaa");
        m.format_version = 99;
        std::fs::write(t.path().join(MANIFEST_FILE), serde_json::to_vec(&m).unwrap()).unwrap();
        let err = Library::open(t.path()).err().unwrap();
        assert!(
            matches!(
                err,
                Error::UnsupportedFormat {
                    found: 99,
                    supported: FORMAT_VERSION,
                    ..
                }
            ),
            "{err}"
        );
    }
}
