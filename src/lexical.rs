//! The BM25 lexical index: the keyword leg of hybrid retrieval, beside the HNSW index.
//!
//! Embeddings miss exact names and figures ("Armonk", "862,1"); BM25 over the chunk text
//! finds them. Like the HNSW graph, this index is derived data in `<index dir>/lexical/`:
//! incremental, caught up from the [`Store`] by chunk id, and rebuilt from it when in doubt.
//!
//! * One tantivy document per chunk: `chunk_id` (i64, indexed, fast, stored), `article_id`
//!   (raw string, for deletions) and the text in exactly one of `text_fr`, `text_en`,
//!   `text_xx`, chosen by the article language; each field has its own analyzer
//!   (see the `analysis` submodule and [`analyze`]). Nothing else is stored: the store has
//!   the text.
//! * A query is analysed once per language present in the index and searched in that
//!   language's field; the per-field queries are OR-ed. A chunk lives in one field only, so
//!   its score is the BM25 of its own field; scores of different fields use their own
//!   statistics, close enough to rank together.
//! * User text never reaches tantivy's query parser: terms are built directly, so quotes,
//!   colons or `AND` in a question are just characters.
//! * `lexical/VERSION` records [`FORMAT_VERSION`] (schema and analysis); an index written
//!   with another version is refused with the command that rebuilds it.
//!
//! Tantivy commits are atomic: a process killed before [`LexicalIndex::commit`] leaves the
//! previous commit. Deleted chunks can linger until the next sync, so searches take the
//! same liveness filter as the HNSW search.

mod analysis;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use tantivy::collector::{Count, TopDocs};
use tantivy::directory::error::LockError;
use tantivy::directory::{Directory, DirectoryLock, INDEX_WRITER_LOCK, MmapDirectory};
use tantivy::query::{BooleanQuery, DisjunctionMaxQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

pub use analysis::Lang;
use analysis::{LexTokenizer, Pipeline};

use crate::progress::Progress;
use crate::store::Store;
use crate::{Error, Result};

/// Version of the schema and analysis. Bump it whenever either changes: terms on disk
/// must come from the analysis that analyses the queries.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the lexical index folder inside the index directory.
pub const LEXICAL_DIR: &str = "lexical";

/// File inside the lexical folder holding [`FORMAT_VERSION`].
const VERSION_FILE: &str = "VERSION";

/// Memory of the single indexing thread: small, the corpus is a few thousand chunks.
const WRITER_MEMORY: usize = 50_000_000;

/// Chunks handed to the writer between progress updates while rebuilding or syncing.
const PROGRESS_BATCH: usize = 256;

const BUILD_PREFIX: &str = ".lexical-build-";
const OLD_PREFIX: &str = ".lexical-old-";

fn field_name(lang: Lang) -> String {
    format!("text_{}", lang.code())
}

fn tokenizer_name(lang: Lang) -> String {
    format!("sourcier_{}", lang.code())
}

fn schema() -> Schema {
    let mut b = Schema::builder();
    b.add_i64_field("chunk_id", INDEXED | FAST | STORED);
    b.add_text_field("article_id", STRING);
    for lang in Lang::ALL {
        // Frequencies without positions: BM25 needs no more, and no phrase query is built.
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(&tokenizer_name(lang))
            .set_index_option(IndexRecordOption::WithFreqs);
        b.add_text_field(&field_name(lang), TextOptions::default().set_indexing_options(indexing));
    }
    b.build()
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    chunk_id: Field,
    article_id: Field,
    text: [Field; 3],
}

impl Fields {
    fn text(&self, lang: Lang) -> Field {
        self.text[lang_slot(lang)]
    }
}

fn lang_slot(lang: Lang) -> usize {
    match lang {
        Lang::Fr => 0,
        Lang::En => 1,
        Lang::Other => 2,
    }
}

/// The BM25 index in `dir` cannot be used: [`Error::DerivedIndex`], which callers repair by
/// rebuilding it from the store.
fn unusable(dir: &Path, detail: String) -> Error {
    Error::DerivedIndex {
        path: dir.to_path_buf(),
        detail: format!("the lexical index {detail}"),
    }
}

/// Maps a tantivy error to [`Error::Locked`] or [`Error::DerivedIndex`], saying what failed.
fn tv(action: &'static str, dir: &Path) -> impl FnOnce(TantivyError) -> Error + use<> {
    let dir = dir.to_path_buf();
    move |e| match e {
        TantivyError::LockFailure(LockError::LockBusy, _) => Error::Locked { path: dir },
        e => unusable(&dir, format!("failed while {action}: {e}")),
    }
}

/// The BM25 index over chunk texts.
pub struct LexicalIndex {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    /// Created on the first write: read-only users never take the writer lock.
    writer: Option<IndexWriter>,
    fields: Fields,
    /// Languages whose field holds terms, refreshed on every reload.
    languages: Vec<Lang>,
}

impl std::fmt::Debug for LexicalIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LexicalIndex")
            .field("dir", &self.dir)
            .field("languages", &self.languages)
            .field("writing", &self.writer.is_some())
            .finish()
    }
}

impl LexicalIndex {
    /// Opens the lexical index in `dir` (`<index dir>/lexical`), creating an empty one when
    /// the folder is missing or empty. An index of another [`FORMAT_VERSION`] or schema, or
    /// one tantivy cannot read, is refused with [`Error::DerivedIndex`].
    pub fn open_or_create(dir: &Path) -> Result<LexicalIndex> {
        std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        let version_path = dir.join(VERSION_FILE);
        let version = match std::fs::read_to_string(&version_path) {
            Ok(v) => Some(v),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("reading", &version_path)(e)),
        };
        let has_meta = dir.join("meta.json").exists();
        let index = match (version.as_deref().map(str::trim), has_meta) {
            (Some(v), true) if v == FORMAT_VERSION.to_string() => {
                let index = Index::open_in_dir(dir).map_err(tv("opening", dir))?;
                if index.schema() != schema() {
                    return Err(unusable(dir, "has an unexpected schema".into()));
                }
                index
            }
            (Some(v), true) => {
                return Err(unusable(
                    dir,
                    format!("has format {v}, this sourcier writes format {FORMAT_VERSION}"),
                ));
            }
            (None, true) => {
                return Err(unusable(dir, format!("has no {VERSION_FILE} file")));
            }
            // No index yet (or a creation killed before tantivy wrote meta.json): the version
            // file goes first, so an index on disk always has one.
            (_, false) => {
                crate::fsx::write_atomic(&version_path, format!("{FORMAT_VERSION}\n").as_bytes())?;
                Index::create_in_dir(dir, schema()).map_err(tv("creating", dir))?
            }
        };
        LexicalIndex::wrap(dir, index)
    }

    /// Opens the lexical index in `dir` for reading, without creating or writing anything.
    /// `None` when there is no index there yet.
    pub fn open_existing(dir: &Path) -> Result<Option<LexicalIndex>> {
        if !dir.join("meta.json").exists() {
            return Ok(None);
        }
        let version_path = dir.join(VERSION_FILE);
        let version = match std::fs::read_to_string(&version_path) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(unusable(dir, format!("has no {VERSION_FILE} file")));
            }
            Err(e) => return Err(Error::io("reading", &version_path)(e)),
        };
        if version.trim() != FORMAT_VERSION.to_string() {
            return Err(unusable(
                dir,
                format!(
                    "has format {}, this sourcier reads format {FORMAT_VERSION}",
                    version.trim()
                ),
            ));
        }
        let index = Index::open_in_dir(dir).map_err(tv("opening", dir))?;
        if index.schema() != schema() {
            return Err(unusable(dir, "has an unexpected schema".into()));
        }
        LexicalIndex::wrap(dir, index).map(Some)
    }

    /// An empty index in memory, for readers that must not write (see [`crate::library`]).
    /// `dir` only names it in messages.
    pub fn in_memory(dir: &Path) -> Result<LexicalIndex> {
        LexicalIndex::wrap(dir, Index::create_in_ram(schema()))
    }

    fn wrap(dir: &Path, index: Index) -> Result<LexicalIndex> {
        for lang in Lang::ALL {
            index
                .tokenizers()
                .register(&tokenizer_name(lang), LexTokenizer::new(lang));
        }
        let s = index.schema();
        let get = |name: &str| {
            s.get_field(name)
                .map_err(|_| unusable(dir, format!("has no field {name}")))
        };
        let fields = Fields {
            chunk_id: get("chunk_id")?,
            article_id: get("article_id")?,
            text: [
                get(&field_name(Lang::Fr))?,
                get(&field_name(Lang::En))?,
                get(&field_name(Lang::Other))?,
            ],
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tv("opening a reader on", dir))?;
        let mut lex = LexicalIndex {
            dir: dir.to_path_buf(),
            index,
            reader,
            writer: None,
            fields,
            languages: Vec::new(),
        };
        lex.refresh_languages()?;
        Ok(lex)
    }

    /// Folder of the index.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn writer(&mut self) -> Result<&mut IndexWriter> {
        if self.writer.is_none() {
            let w = self
                .index
                .writer_with_num_threads(1, WRITER_MEMORY)
                .map_err(tv("opening a writer on", &self.dir))?;
            self.writer = Some(w);
        }
        Ok(self.writer.as_mut().expect("just set"))
    }

    /// Queues chunks `(chunk id, article id, text, article language)` for the next commit.
    /// Each text is analysed in its language's field (`fr`, `en`, anything else neutral).
    pub fn add_chunks(&mut self, chunks: &[(i64, &str, &str, Option<&str>)]) -> Result<()> {
        let fields = self.fields;
        let dir = self.dir.clone();
        let writer = self.writer()?;
        for &(id, article, text, lang) in chunks {
            let mut doc = TantivyDocument::new();
            doc.add_i64(fields.chunk_id, id);
            doc.add_text(fields.article_id, article);
            doc.add_text(fields.text(Lang::from_tag(lang)), text);
            writer.add_document(doc).map_err(tv("adding a chunk to", &dir))?;
        }
        Ok(())
    }

    /// Queues the removal of every chunk of `article_id` indexed so far; chunks added after
    /// this call (the article's new version) are kept.
    pub fn delete_article(&mut self, article_id: &str) -> Result<()> {
        let term = Term::from_field_text(self.fields.article_id, article_id);
        self.writer()?.delete_term(term);
        Ok(())
    }

    /// Makes the queued changes durable and visible, atomically. Nothing to do without a
    /// writer. Changes not committed are lost when the index is dropped.
    pub fn commit(&mut self) -> Result<()> {
        let dir = self.dir.clone();
        if let Some(w) = self.writer.as_mut() {
            w.commit().map_err(tv("committing", &dir))?;
            self.reader.reload().map_err(tv("reloading", &dir))?;
            self.refresh_languages()?;
        }
        Ok(())
    }

    /// Releases the writer (and its lock) after committing, so another process can write.
    pub fn close_writer(&mut self) -> Result<()> {
        self.commit()?;
        if let Some(w) = self.writer.take() {
            w.wait_merging_threads().map_err(tv("finishing merges in", &self.dir))?;
        }
        Ok(())
    }

    fn refresh_languages(&mut self) -> Result<()> {
        let searcher = self.reader.searcher();
        let mut langs = Vec::new();
        for lang in Lang::ALL {
            let field = self.fields.text(lang);
            let mut present = false;
            for seg in searcher.segment_readers() {
                let inv = seg.inverted_index(field).map_err(tv("reading", &self.dir))?;
                if inv.terms().num_terms() > 0 {
                    present = true;
                    break;
                }
            }
            if present {
                langs.push(lang);
            }
        }
        self.languages = langs;
        Ok(())
    }

    /// Languages whose field holds documents (as of the last commit): a query is analysed
    /// for these only.
    pub fn languages(&self) -> &[Lang] {
        &self.languages
    }

    /// Number of live (not deleted) chunks, as of the last commit.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Highest chunk id ever committed (0 when none): store chunks with greater ids are
    /// missing. Chunk ids are never reused, so deleted documents may count.
    pub fn max_chunk_id(&self) -> Result<i64> {
        let searcher = self.reader.searcher();
        let mut max = 0;
        for seg in searcher.segment_readers() {
            if seg.max_doc() == 0 {
                continue;
            }
            let col = seg
                .fast_fields()
                .i64("chunk_id")
                .map_err(tv("reading chunk ids of", &self.dir))?;
            max = max.max(col.max_value());
        }
        Ok(max)
    }

    /// Article ids with at least one live chunk, as of the last commit.
    pub fn article_ids(&self) -> Result<BTreeSet<String>> {
        let searcher = self.reader.searcher();
        let mut candidates = BTreeSet::new();
        for seg in searcher.segment_readers() {
            let inv = seg
                .inverted_index(self.fields.article_id)
                .map_err(tv("reading", &self.dir))?;
            let mut stream = inv
                .terms()
                .stream()
                .map_err(|e| tv("reading", &self.dir)(TantivyError::from(e)))?;
            while stream.advance() {
                candidates.insert(String::from_utf8_lossy(stream.key()).into_owned());
            }
        }
        // Terms outlive their deleted documents until a merge: keep ids with a live chunk.
        let mut live = BTreeSet::new();
        for id in candidates {
            let q = TermQuery::new(
                Term::from_field_text(self.fields.article_id, &id),
                IndexRecordOption::Basic,
            );
            if searcher.search(&q, &Count).map_err(tv("searching", &self.dir))? > 0 {
                live.insert(id);
            }
        }
        Ok(live)
    }

    /// The query for `text`: per present language, one clause per query word, scored by its
    /// best variant; `None` when the text has no searchable term.
    fn build_query(&self, text: &str) -> Option<BooleanQuery> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for &lang in &self.languages {
            let field = self.fields.text(lang);
            let mut seen: HashSet<Vec<String>> = HashSet::new();
            for (mut variants, _) in Pipeline::new(lang).groups(text) {
                variants.sort();
                variants.dedup();
                if !seen.insert(variants.clone()) {
                    continue;
                }
                let mut terms: Vec<Box<dyn Query>> = variants
                    .iter()
                    .map(|v| {
                        Box::new(TermQuery::new(
                            Term::from_field_text(field, v),
                            IndexRecordOption::WithFreqs,
                        )) as Box<dyn Query>
                    })
                    .collect();
                let q = if terms.len() == 1 {
                    terms.pop().expect("one term")
                } else {
                    Box::new(DisjunctionMaxQuery::new(terms))
                };
                clauses.push((Occur::Should, q));
            }
        }
        (!clauses.is_empty()).then(|| BooleanQuery::new(clauses))
    }

    /// The `k` best chunks for free text `query` as `(chunk id, BM25 score)`, best first,
    /// ties by id. `filter` returns false for ids to exclude (deleted or filtered chunks);
    /// the search widens until `k` chunks pass it or no match is left.
    pub fn search(&self, query: &str, k: usize, filter: &dyn Fn(i64) -> bool) -> Result<Vec<(i64, f32)>> {
        let searcher = self.reader.searcher();
        let n = usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX);
        if k == 0 || n == 0 {
            return Ok(Vec::new());
        }
        let Some(q) = self.build_query(query) else {
            return Ok(Vec::new());
        };
        let err = |action| tv(action, &self.dir);
        // Small oversampling covers the usual handful of deleted chunks in one pass.
        let mut want = (k + k / 2 + 4).min(n);
        loop {
            let top = searcher
                .search(&q, &TopDocs::with_limit(want).order_by_score())
                .map_err(err("searching"))?;
            let mut columns: BTreeMap<u32, tantivy::columnar::Column<i64>> = BTreeMap::new();
            let mut seen = HashSet::with_capacity(top.len());
            let mut live = Vec::with_capacity(top.len());
            for &(score, addr) in &top {
                let col = match columns.entry(addr.segment_ord) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => e.insert(
                        searcher
                            .segment_reader(addr.segment_ord)
                            .fast_fields()
                            .i64("chunk_id")
                            .map_err(err("reading chunk ids of"))?,
                    ),
                };
                let Some(id) = col.first(addr.doc_id) else {
                    continue;
                };
                if seen.insert(id) && filter(id) {
                    live.push((id, score));
                }
            }
            if live.len() >= k || top.len() < want || want >= n {
                live.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                live.truncate(k);
                return Ok(live);
            }
            tracing::debug!(
                want,
                live = live.len(),
                "too many filtered lexical hits, widening the search"
            );
            want = want.saturating_mul(4).min(n);
        }
    }
}

/// The terms the analysis of `lang` (an article language tag; `None` or unknown is the
/// neutral analysis) produces for `text`, in text order, variants included. The same terms
/// the index holds for a chunk of that language.
pub fn analyze(lang: Option<&str>, text: &str) -> Vec<String> {
    Pipeline::new(Lang::from_tag(lang))
        .groups(text)
        .into_iter()
        .flat_map(|(variants, _)| variants)
        .collect()
}

/// `question` without its function words: French and English stop words (tantivy's Snowball
/// French and Lucene English lists) and the interrogatives and auxiliaries of a question, which
/// those lists lack. Answer sentences are full of "qui", "est", "où", "when" as relative
/// pronouns and verbs, so counting them as shared words rewards the sentence that repeats the
/// question's frame ("Qui est responsable de quoi ?" for "Qui est Ross Gan ?").
pub fn question_content(question: &str) -> String {
    use tantivy::tokenizer::{Language, LowerCaser, RawTokenizer, StopWordFilter, TextAnalyzer, TokenStream};
    // Hand-written: the interrogatives and auxiliaries neither list has (the Snowball list
    // lacks even "est", "a" and "été").
    const FRAME: &[&str] = &[
        "est",
        "a",
        "été",
        "combien",
        "comment",
        "pourquoi",
        "quand",
        "où",
        "quel",
        "quelle",
        "quels",
        "quelles",
        "lequel",
        "laquelle",
        "lesquels",
        "lesquelles",
        "quoi",
        "dont",
        "t",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "how",
        "why",
        "when",
        "where",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "were",
        "many",
        "much",
    ];
    let mut lists: Vec<TextAnalyzer> = [Language::French, Language::English]
        .into_iter()
        .filter_map(StopWordFilter::new)
        .map(|f| {
            TextAnalyzer::builder(RawTokenizer::default())
                .filter(LowerCaser)
                .filter(f)
                .build()
        })
        .collect();
    let is_function_word = |w: &str, lists: &mut Vec<TextAnalyzer>| {
        let w = w.trim_end_matches(['\'', '’']).to_lowercase();
        FRAME.contains(&w.as_str()) || lists.iter_mut().any(|a| !a.token_stream(&w).advance())
    };
    let mut kept = Vec::new();
    for w in question.split(|c: char| !(c.is_alphanumeric() || matches!(c, '\'' | '’' | '-' | '.' | ','))) {
        // An elided word ("c'est", "qu'a", "l'Europe") is judged by what follows the elision;
        // "aujourd'hui" and "CPME's" stay whole.
        let w = match w.split_once(['\'', '’']) {
            Some((elided, rest)) if is_function_word(elided, &mut lists) => rest,
            _ => w,
        };
        if !w.is_empty() && !is_function_word(w, &mut lists) {
            kept.push(w);
        }
    }
    kept.join(" ")
}

/// Builds a fresh lexical index of every stored chunk in a scratch folder beside `dir`,
/// then swaps it in place of `dir`; the old index stays usable until the swap. Drop any
/// open [`LexicalIndex`] on `dir` first.
///
/// The swap is two renames; a kill between them leaves no `dir`, which the next
/// [`LexicalIndex::open_or_create`] recreates empty and [`sync_from_store`] refills.
pub fn rebuild_from_store(dir: &Path, store: &Store, progress: &dyn Progress) -> Result<LexicalIndex> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    std::fs::create_dir_all(&parent).map_err(Error::io("creating", &parent))?;
    // Hold the old index's writer lock until the swap: a writer busy in there would keep
    // writing into a folder about to be deleted, and its work would be lost anyway.
    let _old_lock = if dir.exists() { Some(writer_lock(dir)?) } else { None };
    remove_leftovers(&parent);
    let scratch = tempfile::Builder::new()
        .prefix(BUILD_PREFIX)
        .tempdir_in(&parent)
        .map_err(Error::io("creating a scratch folder in", &parent))?;
    let added = {
        let mut lex = LexicalIndex::open_or_create(scratch.path())?;
        progress.start("indexing words", Some(store.chunk_count()?));
        let mut added = 0;
        for id in store.article_ids()? {
            added += add_article(&mut lex, store, &id, progress)?;
        }
        lex.close_writer()?;
        progress.finish();
        added
    };
    let built = scratch.keep();
    let old = parent.join(format!(
        "{OLD_PREFIX}{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &old).map_err(Error::io("moving the old lexical index to", &old))?;
    }
    if let Err(e) = std::fs::rename(&built, dir) {
        if had_old {
            let _ = std::fs::rename(&old, dir);
        }
        let _ = std::fs::remove_dir_all(&built);
        return Err(Error::io("moving the rebuilt lexical index to", dir)(e));
    }
    if let Ok(d) = std::fs::File::open(&parent) {
        let _ = d.sync_all();
    }
    if had_old && let Err(e) = std::fs::remove_dir_all(&old) {
        tracing::warn!(path = %old.display(), "could not remove the old lexical index: {e}");
    }
    tracing::info!(chunks = added, "rebuilt the lexical index");
    LexicalIndex::open_or_create(dir)
}

/// Takes the tantivy writer lock of the index folder `dir`, whatever its version.
fn writer_lock(dir: &Path) -> Result<DirectoryLock> {
    let d = MmapDirectory::open(dir).map_err(|e| tv("opening", dir)(e.into()))?;
    d.acquire_lock(&INDEX_WRITER_LOCK)
        .map_err(|e| tv("locking", dir)(TantivyError::LockFailure(e, None)))
}

/// Removes scratch and old folders left by a killed rebuild.
fn remove_leftovers(parent: &Path) {
    let Ok(rd) = std::fs::read_dir(parent) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if (name.starts_with(BUILD_PREFIX) || name.starts_with(OLD_PREFIX)) && e.file_type().is_ok_and(|t| t.is_dir()) {
            tracing::debug!(path = %e.path().display(), "removing a leftover lexical folder");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Queues every stored chunk of one article; returns how many.
fn add_article(lex: &mut LexicalIndex, store: &Store, article_id: &str, progress: &dyn Progress) -> Result<usize> {
    let Some(article) = store.article(article_id)? else {
        return Ok(0);
    };
    let chunks = store.article_chunks(article_id)?;
    for batch in chunks.chunks(PROGRESS_BATCH) {
        let rows: Vec<(i64, &str, &str, Option<&str>)> = batch
            .iter()
            .map(|c| (c.id, c.article_id.as_str(), c.text.as_str(), article.lang.as_deref()))
            .collect();
        lex.add_chunks(&rows)?;
        progress.inc(batch.len() as u64);
    }
    Ok(chunks.len())
}

/// Catches the lexical index up with the store and commits: articles with chunks newer
/// than [`LexicalIndex::max_chunk_id`] are re-indexed whole (old chunks deleted first), and
/// articles gone from the store are deleted. Returns the number of chunks indexed.
///
/// An index whose chunk ids run past the store's belongs to another store (the store was
/// recreated): it is emptied and refilled.
pub fn sync_from_store(lex: &mut LexicalIndex, store: &Store, progress: &dyn Progress) -> Result<usize> {
    let mut max = lex.max_chunk_id()?;
    if max > store.max_chunk_id()? {
        tracing::warn!(
            lexical = max,
            store = store.max_chunk_id()?,
            "the lexical index is ahead of the store; reindexing everything"
        );
        let dir = lex.dir.clone();
        lex.writer()?.delete_all_documents().map_err(tv("clearing", &dir))?;
        max = 0;
    }
    let mut new_ids: Vec<i64> = store.live_chunk_ids()?.into_iter().filter(|&id| id > max).collect();
    new_ids.sort_unstable();
    let mut changed_articles = BTreeSet::new();
    // Batches keep the SQL lookups bounded in memory on a full catch-up.
    for batch in new_ids.chunks(1024) {
        for (c, _) in store.chunks_by_ids(batch)? {
            changed_articles.insert(c.article_id);
        }
    }
    let stored: HashSet<String> = store.article_ids()?.into_iter().collect();
    let gone: Vec<String> = if max == 0 {
        Vec::new()
    } else {
        lex.article_ids()?
            .into_iter()
            .filter(|id| !stored.contains(id))
            .collect()
    };
    if changed_articles.is_empty() && gone.is_empty() && lex.writer.is_none() {
        return Ok(0);
    }
    for id in &gone {
        lex.delete_article(id)?;
    }
    progress.start("indexing words", Some(new_ids.len() as u64));
    let mut added = 0;
    for id in &changed_articles {
        // Re-index the whole article: a killed earlier sync may have committed part of it.
        lex.delete_article(id)?;
        added += add_article(lex, store, id, progress)?;
    }
    lex.commit()?;
    progress.finish();
    if added > 0 || !gone.is_empty() {
        tracing::info!(added, deleted_articles = gone.len(), "caught up the lexical index");
    }
    Ok(added)
}

#[cfg(test)]
mod tests;
