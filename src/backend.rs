//! The storage seam: what retrieval, answering, eval and ingest need from an index, as two
//! traits. The embedded index ([`crate::library::Library`]: SQLite + hnsw_rs + tantivy in one
//! directory) is the first implementation; a database server (PostgreSQL with pgvector) is
//! meant to be the second, so the traits:
//! - take and return batches (ids in, rows out), never one call per hit or per chunk;
//! - run top-k inside the backend (vectors need not live in this process);
//! - express a filter as a [`Selection`] computed once per query, which both legs of a hybrid
//!   search share: a chunk-id set for the embedded index, the filters themselves for a
//!   database that runs them inside its ranking statements.

use std::collections::{HashMap, HashSet};

use crate::answer::{NoCache, SentenceCache};
use crate::embed::Embedder;
use crate::library::IndexManifest;
use crate::retrieve::Filters;
use crate::store::{ArticleRow, ArticleText, ChunkRow, NewChunk, StoreStats};
use crate::{Error, Result};

/// Scored chunk ids, best first.
pub type Scored = Vec<(i64, f32)>;

/// Which chunks a query may return, as a backend prepared it from the user's filters.
#[derive(Debug, Clone)]
pub enum Selection {
    /// No filter.
    All,
    /// These chunks only (the embedded index resolves filters to ids once per query).
    Chunks(HashSet<i64>),
    /// The filters, for a backend that applies them inside its ranking queries.
    Filters(Filters),
}

impl Selection {
    /// True when nothing can pass, so a search can return at once.
    pub fn is_empty(&self) -> bool {
        matches!(self, Selection::Chunks(s) if s.is_empty())
    }
}

/// Reads: everything a query needs. Implementations serve concurrent readers through `&self`
/// and never write.
pub trait SearchBackend: Send + Sync {
    /// What the stored vectors were built with; checked once against the embedder.
    fn manifest(&self) -> &IndexManifest;
    /// Where the index lives, for messages.
    fn location(&self) -> String;
    /// Stored chunks.
    fn chunk_count(&self) -> Result<u64>;
    /// The chunks whose article passes `filters`, in the form this backend ranks with.
    fn select(&self, filters: &Filters) -> Result<Selection>;
    /// The `k` chunks nearest to the unit vector `q` among `selection`, with cosine similarity.
    fn dense_top_k(&self, q: &[f32], k: usize, selection: &Selection) -> Result<Scored>;
    /// The `k` best lexical matches for `query` among `selection`.
    fn lexical_top_k(&self, query: &str, k: usize, selection: &Selection) -> Result<Scored>;
    /// Chunks with their articles, for the ids that exist (order not kept).
    fn chunks_by_ids(&self, ids: &[i64]) -> Result<Vec<(ChunkRow, ArticleRow)>>;
    /// Stored document vectors of the ids that exist.
    fn embeddings(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<f32>>>;
    /// All chunks of one article, in order (eval's chunk-level judgements).
    fn article_chunks(&self, article_id: &str) -> Result<Vec<ChunkRow>>;
    /// Ids of every stored article.
    fn article_ids(&self) -> Result<Vec<String>>;
    /// One article, with its cleaned text when stored.
    fn article(&self, id: &str) -> Result<Option<(ArticleRow, Option<ArticleText>)>>;
    /// Article, chunk and language counts.
    fn stats(&self) -> Result<StoreStats>;
    /// Bytes the index takes where it is stored.
    fn disk_size(&self) -> Result<u64>;
    /// Loads whatever the first query would otherwise wait for.
    fn warm(&self, _progress: &dyn crate::progress::Progress) -> Result<()> {
        Ok(())
    }
    /// Where the answerer may find sentence vectors computed before.
    fn sentence_cache(&self) -> &dyn SentenceCache {
        &NoCache
    }
}

/// Writes: what ingest needs. Each `replace_article` and `delete_article` is atomic on its
/// own; [`IngestBackend::commit`] brings the derived indexes up to date, and a crash before it
/// leaves an index whose readers catch up on open.
pub trait IngestBackend {
    /// What the stored vectors were built with.
    fn manifest(&self) -> &IndexManifest;
    /// Where the index lives, for messages.
    fn location(&self) -> String;
    /// Content hashes of the stored articles among `ids`.
    fn article_hashes(&self, ids: &[&str]) -> Result<HashMap<String, String>>;
    /// Records that unchanged articles now come from these paths (a moved file).
    fn set_source_paths(&mut self, moves: &[(&str, &str)]) -> Result<()>;
    /// Stores an article with its embedded chunks, replacing any previous version, in one
    /// transaction.
    fn replace_article(&mut self, article: &ArticleRow, chunks: &[NewChunk]) -> Result<Vec<i64>>;
    /// Keeps articles' cleaned texts for display; `overwrite` false only fills missing ones.
    fn put_article_texts(&mut self, texts: &[(&str, &ArticleText)], overwrite: bool) -> Result<()>;
    /// Every stored article id with its source path.
    fn articles_by_source(&self) -> Result<Vec<(String, String)>>;
    /// Deletes an article and its chunks; false when it was not stored.
    fn delete_article(&mut self, id: &str) -> Result<bool>;
    /// Brings the derived indexes (vectors, BM25) up to date with the stored chunks.
    fn commit(&mut self, progress: &dyn crate::progress::Progress) -> Result<()>;
    /// Vectors already paid for, for the chunks of `article_id`, keyed by [`chunk_key`]:
    /// those an interrupted ingest staged for it, and those of its stored chunks (an edited
    /// article re-embeds only the chunks whose title or text changed).
    fn reusable_vectors(&self, article_id: &str) -> Result<HashMap<ChunkKey, Vec<f32>>>;
    /// Commits the vectors of part of a long article before the article itself is stored, so
    /// that a kill loses at most one batch of embedding work. Readers never see them; the
    /// article's `replace_article` or `delete_article` drops them.
    fn stage_vectors(&mut self, article_id: &str, vectors: &[(ChunkKey, &[f32])]) -> Result<()>;
    /// The texts of an article's stored chunks, in order (to prepare the answerer's
    /// sentences of an article stored without them).
    fn stored_chunk_texts(&self, article_id: &str) -> Result<Vec<String>>;
    /// Where ingest keeps the answerer's sentence vectors, computed ahead of questions;
    /// none by default.
    fn sentence_cache(&self) -> &dyn SentenceCache {
        &NoCache
    }
}

/// Identifies what a chunk's vector was computed from: the article title and the chunk text
/// (the index pins the embedder, so the model need not be part of it).
pub type ChunkKey = [u8; 32];

/// The [`ChunkKey`] of a chunk of text under `title`.
pub fn chunk_key(title: Option<&str>, text: &str) -> ChunkKey {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    // The tag tells "no title" from an empty one; the length keeps title and text apart.
    match title {
        Some(t) => {
            h.update([1u8]);
            h.update((t.len() as u64).to_le_bytes());
            h.update(t.as_bytes());
        }
        None => h.update([0u8]),
    }
    h.update(text.as_bytes());
    h.finalize().into()
}

/// Refuses an embedder whose fingerprint differs from the one that built the index at
/// `location`. Callers bind once (at open, or at the start of an ingest or eval), not per query.
pub fn check_embedder(manifest: &IndexManifest, location: &str, embedder: &dyn Embedder) -> Result<()> {
    check_fingerprint(manifest, location, &embedder.name(), &embedder.fingerprint())
}

/// [`check_embedder`] on an embedder's name and fingerprint.
pub fn check_fingerprint(manifest: &IndexManifest, location: &str, name: &str, fingerprint: &str) -> Result<()> {
    if manifest.embedder_fingerprint != fingerprint {
        return Err(Error::EmbedderMismatch {
            path: location.into(),
            index_embedder: manifest.embedder.clone(),
            index_fingerprint: manifest.embedder_fingerprint.clone(),
            embedder: name.to_string(),
            fingerprint: fingerprint.to_string(),
        });
    }
    Ok(())
}
