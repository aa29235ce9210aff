//! An index directory: the SQLite store, the HNSW index derived from it, and the manifest.
//!
//! The manifest (`manifest.json`) records the format version, the embedder fingerprint and
//! the chunker settings. It is written once, atomically, before the first article is stored,
//! and checked on every open: vectors from another model, or another chunking, must never be
//! mixed with these or compared against a query from another model.
//!
//! The HNSW graph may lag behind the store (an ingest killed before saving it). Opening
//! catches up from the stored embeddings, never by re-embedding.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::chunk::ChunkerConfig;
use crate::index::{self, Params, VectorIndex};
use crate::lexical::{self, LexicalIndex};
use crate::progress::Progress;
use crate::store::{STORE_FILE_NAME, Store};
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
    vectors: Option<VectorIndex>,
    lexical: Option<LexicalIndex>,
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
        return Err(Error::Index(format!(
            "the index at {} has format version {}, this sourcier reads version {FORMAT_VERSION}; delete it and ingest again, or use the sourcier that built it",
            dir.display(),
            m.format_version
        )));
    }
    Ok(Some(m))
}

impl Library {
    /// Opens the index in `dir` for writing, creating it with `manifest` when new.
    /// An existing index built differently is refused with what to do about it.
    pub fn open_for_ingest(dir: &Path, manifest: IndexManifest) -> Result<Library> {
        std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        match read_manifest(dir)? {
            Some(existing) => {
                check_compatible(dir, &existing, &manifest)?;
                Library::open_with(dir, existing)
            }
            None => {
                if dir.join(STORE_FILE_NAME).exists() {
                    return Err(Error::Index(format!(
                        "{} holds a store but no {MANIFEST_FILE}; it was not written by this sourcier or is damaged: delete it and ingest again",
                        dir.display()
                    )));
                }
                let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
                crate::fsx::write_atomic(&dir.join(MANIFEST_FILE), &bytes)?;
                Library::open_with(dir, manifest)
            }
        }
    }

    /// Opens an existing index for reading. `expected` is the manifest the current embedder
    /// would write; a different fingerprint is refused.
    pub fn open(dir: &Path) -> Result<Library> {
        let Some(m) = read_manifest(dir)? else {
            return Err(Error::Index(format!(
                "no index at {}; run `sourcier ingest PATH` first (or pass --index DIR / set SOURCIER_INDEX)",
                dir.display()
            )));
        };
        Library::open_with(dir, m)
    }

    fn open_with(dir: &Path, manifest: IndexManifest) -> Result<Library> {
        let store = Store::open(&dir.join(STORE_FILE_NAME))?;
        Ok(Library {
            dir: dir.to_path_buf(),
            store,
            manifest,
            vectors: None,
            lexical: None,
        })
    }

    /// Refuses to use this index with an embedder whose fingerprint differs.
    pub fn check_embedder(&self, name: &str, fingerprint: &str) -> Result<()> {
        if self.manifest.embedder_fingerprint != fingerprint {
            return Err(Error::Index(format!(
                "the index at {} was built with {} (fingerprint {}) but the current model is {name} (fingerprint {fingerprint}); \
                 use the same --model/--dims as when it was built, or ingest into a new --index directory",
                self.dir.display(),
                self.manifest.embedder,
                self.manifest.embedder_fingerprint
            )));
        }
        Ok(())
    }

    /// The HNSW index, loaded from disk and caught up with the store on first use.
    pub fn vectors(&mut self, progress: &dyn Progress) -> Result<&VectorIndex> {
        if self.vectors.is_none() {
            let mut v = match VectorIndex::load(&self.dir)? {
                Some(v) if v.dims() == self.manifest.dims => v,
                Some(_) | None => VectorIndex::new(self.manifest.dims, 0, Params::default()),
            };
            if self.store.max_chunk_id()? > v.max_chunk_id() {
                let n = self.store.chunk_count()?;
                progress.start("indexing vectors", Some(n));
                let added = v.add_from_store(&self.store, progress)?;
                progress.finish();
                tracing::info!("caught up {added} vectors from the store");
                if added > 0 {
                    v.save(&self.dir)?;
                }
            }
            self.vectors = Some(v);
        }
        Ok(self.vectors.as_ref().expect("just set"))
    }

    /// The HNSW index if [`Library::vectors`] loaded it already.
    pub fn loaded_vectors(&self) -> Option<&VectorIndex> {
        self.vectors.as_ref()
    }

    /// Rebuilds the HNSW index from the stored embeddings (no re-embedding) and saves it.
    pub fn rebuild_vectors(&mut self, progress: &dyn Progress) -> Result<usize> {
        let v = index::build_from_store(&self.store, self.manifest.dims, Params::default(), progress)?;
        v.save(&self.dir)?;
        let n = v.len();
        self.vectors = Some(v);
        Ok(n)
    }

    /// Adds new stored chunks to the HNSW index and saves it; rebuilds instead when more than
    /// a fifth of the graph points at deleted chunks.
    pub fn sync_vectors(&mut self, progress: &dyn Progress) -> Result<()> {
        self.vectors = None;
        let live = self.store.chunk_count()? as usize;
        // The pointer file has the graph's size: no need to load the graph to count.
        let stale = match VectorIndex::saved_info(&self.dir)? {
            Some(info) => info.count.saturating_sub(live.min(info.count)),
            None => 0,
        };
        if stale > 0 && stale * 5 > live.max(1) {
            self.rebuild_vectors(progress)?;
        } else {
            self.vectors(progress)?;
        }
        Ok(())
    }

    /// Folder of the BM25 index.
    pub fn lexical_dir(&self) -> PathBuf {
        self.dir.join("lexical")
    }

    /// The BM25 index, opened and caught up with the store on first use.
    pub fn lexical(&mut self, progress: &dyn Progress) -> Result<&LexicalIndex> {
        if self.lexical.is_none() {
            let mut lex = LexicalIndex::open_or_create(&self.lexical_dir())?;
            if self.store.max_chunk_id()? != lex.max_chunk_id()? {
                let added = lexical::sync_from_store(&mut lex, &self.store, progress)?;
                tracing::info!("caught up {added} chunks in the lexical index");
            }
            self.lexical = Some(lex);
        }
        Ok(self.lexical.as_ref().expect("just set"))
    }

    /// The BM25 index if [`Library::lexical`] opened it already.
    pub fn loaded_lexical(&self) -> Option<&LexicalIndex> {
        self.lexical.as_ref()
    }

    /// After an ingest: brings the BM25 index in line with the store. The sync re-indexes
    /// every article with new chunks whole and drops articles the store no longer has.
    pub fn sync_lexical(&mut self, progress: &dyn Progress) -> Result<()> {
        self.lexical(progress)?;
        let lex = self.lexical.as_mut().expect("opened above");
        lexical::sync_from_store(lex, &self.store, progress)?;
        Ok(())
    }

    /// Rebuilds the BM25 index from the stored chunk texts.
    pub fn rebuild_lexical(&mut self, progress: &dyn Progress) -> Result<()> {
        self.lexical = None;
        let lex = lexical::rebuild_from_store(&self.lexical_dir(), &self.store, progress)?;
        self.lexical = Some(lex);
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
        return Err(Error::Index(format!(
            "the index at {} was built with {} (fingerprint {}); the current model is {} (fingerprint {}). \
             Use the same --model/--dims, or ingest into a new --index directory",
            dir.display(),
            existing.embedder,
            existing.embedder_fingerprint,
            wanted.embedder,
            wanted.embedder_fingerprint
        )));
    }
    if (existing.chunk_tokens, existing.overlap_sentences) != (wanted.chunk_tokens, wanted.overlap_sentences) {
        return Err(Error::Index(format!(
            "the index at {} was chunked with {} tokens and {} sentence(s) of overlap; ingest with the same settings or into a new --index directory",
            dir.display(),
            existing.chunk_tokens,
            existing.overlap_sentences
        )));
    }
    Ok(())
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
        assert!(err.to_string().contains("new --index directory"), "{err}");
        let lib = Library::open(t.path()).unwrap();
        assert!(lib.check_embedder("toy", "bbb").is_err());
        assert!(lib.check_embedder("toy", "aaa").is_ok());
    }

    #[test]
    fn missing_index_says_to_ingest() {
        let t = tempfile::tempdir().unwrap();
        let err = Library::open(&t.path().join("nope")).err().unwrap();
        assert!(err.to_string().contains("sourcier ingest"), "{err}");
    }

    #[test]
    fn newer_format_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let mut m = manifest("aaa");
        m.format_version = 99;
        std::fs::write(t.path().join(MANIFEST_FILE), serde_json::to_vec(&m).unwrap()).unwrap();
        let err = Library::open(t.path()).err().unwrap();
        assert!(err.to_string().contains("format version 99"), "{err}");
    }
}
