//! Ingest: files → articles → chunks → embeddings → store → HNSW.
//!
//! It streams: a first pass reads every file to plan (new, changed, unchanged; how many chunks
//! to embed) and keeps no text; a second pass reads the planned files again and embeds them in
//! bounded groups. Memory follows the largest article in flight, not the corpus.
//!
//! Each article is written in its own store transaction once all its chunks are embedded, so a
//! kill at any moment loses at most the articles in flight; the next run skips every article
//! whose hash is already stored. A long article also commits its vectors group by group to a
//! staging area readers never see, and vectors are reused by chunk (title and text): a killed
//! run resumes where it stopped, and an edited article re-embeds only the chunks that changed.
//! Problems with single files are collected and reported, never fatal to the run.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::Result;
use crate::backend::{ChunkKey, IngestBackend, chunk_key};
use crate::chunk::{self, TokenCounter};
use crate::corpus::{self, Article, FileReport};
use crate::embed::{Document, Embedder};
use crate::progress::Progress;
use crate::store::{ArticleRow, ArticleText, NewChunk};

/// Options of one ingest run.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Drop stored articles whose file is gone, or which their file no longer contains.
    pub prune: bool,
    /// Follow symbolic links that lead out of the ingested folders.
    pub follow_links: bool,
    /// Skip the answerer's sentence vectors: about half the embedding work of an ingest,
    /// paid back by every answer, which otherwise embeds its passages' sentences itself
    /// (about a second on a laptop CPU). Search is the same either way.
    pub search_only: bool,
}

/// What an ingest run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    pub files: usize,
    pub articles: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub pruned: usize,
    pub chunks: usize,
    pub skipped_files: usize,
    pub warnings: usize,
    /// One line per problem, `path[:line]: message`.
    pub problems: Vec<String>,
    pub seconds: f64,
    pub embed_seconds: f64,
    /// Chunks stored with a vector an earlier run computed (an edited article's unchanged
    /// chunks, or an interrupted run's staged ones) instead of embedding them again.
    pub reused: usize,
    /// Sentences embedded ahead of questions for the answerer (see
    /// [`crate::answer::prepare_sentence_vectors`]), and the time that took.
    pub sentences: usize,
    pub sentence_seconds: f64,
}

impl IngestReport {
    /// Embedded chunks per second of embedding time, their answer sentences included: what
    /// a user waits for per chunk.
    pub fn chunks_per_second(&self) -> f64 {
        let t = self.embed_seconds + self.sentence_seconds;
        if t > 0.0 {
            self.chunks.saturating_sub(self.reused) as f64 / t
        } else {
            0.0
        }
    }
}

/// True when `stored` names an existing file other than `new` (the same file reached by
/// another path, through a link, is not another file).
fn other_file_exists(stored: &str, new: &Path) -> bool {
    let stored = Path::new(stored);
    match (std::fs::canonicalize(stored), std::fs::canonicalize(new)) {
        (Ok(a), Ok(b)) => a != b,
        (Ok(_), Err(_)) => true,
        (Err(_), _) => false,
    }
}

/// Lets the chunker count tokens with the embedder's own tokenizer.
struct EmbedderTokens<'a>(&'a dyn Embedder);

impl TokenCounter for EmbedderTokens<'_> {
    fn count(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
}

/// Chunks embedded per forward pass group: large enough for efficient matmuls, small enough
/// that a kill loses little work.
const EMBED_GROUP: usize = 32;

/// Articles with more chunks than this commit their vectors group by group while they are
/// embedded (a 50 MB file is hours of work with the real model), instead of only once whole.
const STAGE_ABOVE: usize = 4 * EMBED_GROUP;

/// Unchanged articles' texts are written in batches of this many, so a corpus of small files
/// neither holds every text nor pays one transaction per file.
const KEPT_BATCH: usize = 256;
/// Stored articles whose answer sentences are prepared together (one embedding batch).
const KEPT_GROUP: usize = 16;

/// Ingests files and folders into `lib`.
pub fn ingest(
    lib: &mut dyn IngestBackend,
    embedder: &dyn Embedder,
    inputs: &[PathBuf],
    opts: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestReport> {
    let t0 = Instant::now();
    crate::backend::check_embedder(lib.manifest(), &lib.location(), embedder)?;
    let mut report = IngestReport::default();
    // Absolute paths, so stored sources stay valid whatever directory later commands run from.
    let inputs: Vec<PathBuf> = inputs
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let found = corpus::discover_with(&inputs, opts.follow_links)?;
    let files = found.files;
    report.files = files.len();

    let note = |r: &FileReport, report: &mut IngestReport| {
        if r.problem.is_skip() {
            report.skipped_files += 1;
        } else {
            report.warnings += 1;
        }
        report.problems.push(r.to_string());
        progress.note(&format!("warning: {r}"));
    };

    for r in &found.skipped {
        note(r, &mut report);
    }
    // Articles from a folder that could not be listed are out of sight, not gone.
    let unlisted: Vec<&Path> = found
        .skipped
        .iter()
        .filter(|r| matches!(r.problem, corpus::Problem::UnreadableFolder(_)))
        .map(|r| r.path.as_path())
        .collect();

    // Pass 1 reads every file, tells new, changed and unchanged articles apart and counts
    // the chunks to embed (the progress bar's total). Texts are dropped once planned, so
    // memory does not grow with the corpus: pass 2 reads the planned files again.
    progress.start("reading", Some(files.len() as u64));
    let sources: HashMap<String, String> = lib.articles_by_source()?.into_iter().collect();
    let counter = EmbedderTokens(embedder);
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut read_sources: HashSet<String> = HashSet::new();
    let mut plan: Vec<(usize, HashMap<String, bool>)> = Vec::new();
    let mut total_chunks = 0usize;
    let mut kept = KeptBuffer::default();
    // Unchanged articles stored without their answer sentences, with their titles.
    let mut unprepared: Vec<(String, Option<String>)> = Vec::new();
    for (fi, (root, file)) in files.iter().enumerate() {
        let (articles, problems) = corpus::read_file(root, file);
        for p in &problems {
            note(p, &mut report);
        }
        // A file that could not be read says nothing about which articles it holds, so
        // `--prune` must not take its stored articles for dropped.
        if !problems
            .iter()
            .any(|p| matches!(p.problem, corpus::Problem::Unreadable(_)))
        {
            read_sources.insert(file.to_string_lossy().into_owned());
        }
        let mut fresh = Vec::with_capacity(articles.len());
        for a in articles {
            report.articles += 1;
            if !seen_ids.insert(a.id.clone()) {
                let r = FileReport {
                    path: a.source_path.clone(),
                    problem: corpus::Problem::DuplicateArticle { id: a.id.clone() },
                };
                note(&r, &mut report);
                continue;
            }
            fresh.push(a);
        }
        let ids: Vec<&str> = fresh.iter().map(|a| a.id.as_str()).collect();
        let stored = lib.article_hashes(&ids)?;
        let mut todo = HashMap::new();
        for a in fresh {
            let path = a.source_path.to_string_lossy();
            // Same id, other content, and another file that is still there: a different
            // article whose relative path collides (`a/x.txt` then `b/x.txt`), not a new
            // version. Keep the stored one. (Same content from a copy is the same article:
            // it just moves.)
            if let Some(old) = sources.get(&a.id)
                && stored.get(&a.id).is_some_and(|h| *h != a.hash)
                && *old != path
                && !read_sources.contains(old.as_str())
                && other_file_exists(old, &a.source_path)
            {
                let r = FileReport {
                    path: a.source_path.clone(),
                    problem: corpus::Problem::IdTaken {
                        id: a.id.clone(),
                        stored: old.clone(),
                    },
                };
                note(&r, &mut report);
                continue;
            }
            match stored.get(&a.id) {
                Some(h) if *h == a.hash => {
                    report.unchanged += 1;
                    if !opts.search_only
                        && !crate::answer::sentences_prepared(
                            embedder,
                            lib.sentence_cache(),
                            a.title.as_deref(),
                            a.block_texts(),
                        )
                    {
                        unprepared.push((a.id.clone(), a.title.clone()));
                    }
                    kept.push(&a);
                }
                existed => {
                    let n = chunk_article(lib, embedder, &counter, &a).len();
                    if n == 0 {
                        let r = FileReport {
                            path: a.source_path.clone(),
                            problem: corpus::Problem::NoBody { line: None },
                        };
                        note(&r, &mut report);
                        continue;
                    }
                    total_chunks += n;
                    todo.insert(a.id, existed.is_some());
                }
            }
        }
        if kept.is_full() {
            kept.flush(lib)?;
        }
        if !todo.is_empty() {
            plan.push((fi, todo));
        }
        progress.inc(1);
    }
    kept.flush(lib)?;
    progress.finish();

    // Pass 2 embeds in groups of chunks spanning articles, and stores each article once
    // complete; a long article stages its vectors batch by batch (see `embed_and_store`).
    progress.start("embedding chunks", Some(total_chunks as u64));
    let mut pending: Vec<Pending> = Vec::new();
    let mut pending_chunks = 0;
    for (fi, mut todo) in plan {
        let (root, file) = &files[fi];
        let (articles, problems) = corpus::read_file(root, file);
        // Problems were reported by pass 1; a file that became unreadable since is new news.
        for p in problems
            .iter()
            .filter(|p| matches!(p.problem, corpus::Problem::Unreadable(_)))
        {
            note(p, &mut report);
        }
        for a in articles {
            let Some(existed) = todo.remove(&a.id) else {
                continue;
            };
            let chunks = chunk_article(lib, embedder, &counter, &a);
            if chunks.is_empty() {
                continue;
            }
            pending_chunks += chunks.len();
            pending.push(Pending {
                article: a,
                existed,
                chunks,
            });
            if pending_chunks >= EMBED_GROUP {
                embed_and_store(lib, embedder, opts.search_only, &mut pending, progress, &mut report)?;
                pending_chunks = 0;
            }
        }
    }
    embed_and_store(lib, embedder, opts.search_only, &mut pending, progress, &mut report)?;
    progress.finish();
    if !unprepared.is_empty() {
        prepare_stored(lib, embedder, &unprepared, progress, &mut report)?;
    }

    if opts.prune {
        for (id, source) in lib.articles_by_source()? {
            if unlisted.iter().any(|dir| Path::new(&source).starts_with(dir)) {
                continue;
            }
            let gone = !Path::new(&source).exists();
            let dropped_from_file = read_sources.contains(&source) && !seen_ids.contains(&id);
            if (gone || dropped_from_file) && lib.delete_article(&id)? {
                report.pruned += 1;
            }
        }
    }

    lib.commit(progress)?;
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// A chunk's vector with its [`ChunkKey`].
type Keyed = (ChunkKey, Vec<f32>);

/// An article read, chunked and waiting for its vectors.
struct Pending {
    article: Article,
    existed: bool,
    chunks: Vec<chunk::Chunk>,
}

fn chunk_article(
    lib: &dyn IngestBackend,
    embedder: &dyn Embedder,
    counter: &EmbedderTokens<'_>,
    a: &Article,
) -> Vec<chunk::Chunk> {
    let overhead = embedder.document_overhead(a.title.as_deref());
    let cfg = lib.manifest().chunker(overhead);
    chunk::chunk_article(a, &cfg, counter)
}

/// Unchanged articles: their (maybe moved) source paths, and their texts for an index built
/// before texts were kept, which gains them without re-embedding anything.
#[derive(Default)]
struct KeptBuffer {
    moves: Vec<(String, String)>,
    texts: Vec<(String, ArticleText)>,
}

impl KeptBuffer {
    fn push(&mut self, a: &Article) {
        self.moves
            .push((a.id.clone(), a.source_path.to_string_lossy().into_owned()));
        self.texts.push((a.id.clone(), article_text(a)));
    }

    fn is_full(&self) -> bool {
        self.moves.len() >= KEPT_BATCH
    }

    fn flush(&mut self, lib: &mut dyn IngestBackend) -> Result<()> {
        let moves: Vec<(&str, &str)> = self.moves.iter().map(|(id, p)| (id.as_str(), p.as_str())).collect();
        lib.set_source_paths(&moves)?;
        let texts: Vec<(&str, &ArticleText)> = self.texts.iter().map(|(id, t)| (id.as_str(), t)).collect();
        lib.put_article_texts(&texts, false)?;
        self.moves.clear();
        self.texts.clear();
        Ok(())
    }
}

/// Embeds the chunks of `pending` that no earlier run paid for, in groups of
/// [`EMBED_GROUP`], and stores each article; empties `pending`. Vectors are reused from the
/// article's stored chunks (an edit re-embeds only what changed) and from what an interrupted
/// run staged; a long article stages each group it embeds.
fn embed_and_store(
    lib: &mut dyn IngestBackend,
    embedder: &dyn Embedder,
    search_only: bool,
    pending: &mut Vec<Pending>,
    progress: &dyn Progress,
    report: &mut IngestReport,
) -> Result<()> {
    let mut vectors: Vec<Vec<Option<Vec<f32>>>> = Vec::with_capacity(pending.len());
    let mut keys: Vec<Vec<ChunkKey>> = Vec::with_capacity(pending.len());
    let mut missing: Vec<(usize, usize)> = Vec::new();
    for (ai, p) in pending.iter().enumerate() {
        let title = p.article.title.as_deref();
        let k: Vec<ChunkKey> = p.chunks.iter().map(|c| chunk_key(title, &c.text)).collect();
        let reuse = if p.existed || p.chunks.len() > STAGE_ABOVE {
            lib.reusable_vectors(&p.article.id)?
        } else {
            HashMap::new()
        };
        let v: Vec<Option<Vec<f32>>> = k.iter().map(|k| reuse.get(k).cloned()).collect();
        let reused = v.iter().filter(|v| v.is_some()).count();
        report.reused += reused;
        progress.inc(reused as u64);
        missing.extend(
            v.iter()
                .enumerate()
                .filter(|(_, v)| v.is_none())
                .map(|(ci, _)| (ai, ci)),
        );
        vectors.push(v);
        keys.push(k);
    }
    for group in missing.chunks(EMBED_GROUP) {
        let docs: Vec<Document<'_>> = group
            .iter()
            .map(|&(ai, ci)| Document {
                title: pending[ai].article.title.as_deref(),
                text: &pending[ai].chunks[ci].text,
            })
            .collect();
        let t = Instant::now();
        let embedded = embedder.embed_documents(&docs)?;
        report.embed_seconds += t.elapsed().as_secs_f64();
        if embedded.len() != group.len() {
            return Err(crate::Error::BadEmbedding {
                chunk: pending[group[0].0].article.id.clone(),
                detail: format!("{} vectors for {} chunks", embedded.len(), group.len()),
            });
        }
        // A group follows chunk order, so it spans at most a few articles.
        let mut staged: Vec<(usize, Vec<Keyed>)> = Vec::new();
        for (&(ai, ci), v) in group.iter().zip(embedded) {
            if pending[ai].chunks.len() > STAGE_ABOVE {
                match staged.last_mut() {
                    Some((last, batch)) if *last == ai => batch.push((keys[ai][ci], v.clone())),
                    _ => staged.push((ai, vec![(keys[ai][ci], v.clone())])),
                }
            }
            vectors[ai][ci] = Some(v);
        }
        for (ai, batch) in &staged {
            let batch: Vec<(ChunkKey, &[f32])> = batch.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            lib.stage_vectors(&pending[*ai].article.id, &batch)?;
        }
        progress.inc(group.len() as u64);
    }
    // The answerer's sentence vectors, for every article of the group at once (larger
    // batches), before the articles are stored: a kill loses none of what is visible.
    if !search_only {
        let t = Instant::now();
        let passages: Vec<(Option<&str>, &str)> = pending
            .iter()
            .flat_map(|p| p.chunks.iter().map(|c| (p.article.title.as_deref(), c.text.as_str())))
            .collect();
        report.sentences += crate::answer::prepare_sentence_vectors(embedder, lib.sentence_cache(), &passages)?;
        report.sentence_seconds += t.elapsed().as_secs_f64();
    }
    for (p, v) in pending.drain(..).zip(vectors) {
        let new: Vec<NewChunk> = p
            .chunks
            .into_iter()
            .zip(v)
            .map(|(c, v)| NewChunk {
                ordinal: c.ordinal,
                text: c.text,
                start: c.start,
                end: c.end,
                line_start: c.line_start,
                line_end: c.line_end,
                embedding: v.unwrap_or_default(),
            })
            .collect();
        let a = &p.article;
        lib.replace_article(&article_row(a), &new)?;
        lib.put_article_texts(&[(a.id.as_str(), &article_text(a))], true)?;
        report.chunks += new.len();
        if p.existed {
            report.updated += 1;
        } else {
            report.added += 1;
        }
    }
    Ok(())
}

/// Prepares the answer sentences of unchanged articles stored without them, from their
/// stored chunks: no chunk is embedded again. An index built before ingest prepared them,
/// or with `--search-only`, gains them at its next ingest.
fn prepare_stored(
    lib: &mut dyn IngestBackend,
    embedder: &dyn Embedder,
    articles: &[(String, Option<String>)],
    progress: &dyn Progress,
    report: &mut IngestReport,
) -> Result<()> {
    tracing::info!(
        articles = articles.len(),
        "preparing the answer sentences of stored articles"
    );
    progress.start("preparing answer sentences", Some(articles.len() as u64));
    let t = Instant::now();
    for group in articles.chunks(KEPT_GROUP) {
        let mut texts: Vec<(Option<&str>, String)> = Vec::new();
        for (id, title) in group {
            for c in lib.stored_chunk_texts(id)? {
                texts.push((title.as_deref(), c));
            }
        }
        let passages: Vec<(Option<&str>, &str)> = texts.iter().map(|(t, c)| (*t, c.as_str())).collect();
        report.sentences += crate::answer::prepare_sentence_vectors(embedder, lib.sentence_cache(), &passages)?;
        progress.inc(group.len() as u64);
    }
    report.sentence_seconds += t.elapsed().as_secs_f64();
    progress.finish();
    Ok(())
}

fn article_text(a: &Article) -> ArticleText {
    ArticleText {
        line_base: a.line_base,
        text: a.text.clone(),
        blocks: a.blocks.iter().map(|r| (r.start, r.end)).collect(),
    }
}

fn article_row(a: &Article) -> ArticleRow {
    ArticleRow {
        id: a.id.clone(),
        source_path: a.source_path.to_string_lossy().into_owned(),
        title: a.title.clone(),
        date: a.date.clone(),
        lang: a.lang.clone(),
        url: a.url.clone(),
        hash: a.hash.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::backend::SearchBackend;
    use crate::embed::hashing::HashingEmbedder;
    use crate::library::{FORMAT_VERSION, IndexManifest, Library};
    use crate::progress::NoProgress;
    use crate::retrieve::Hit;

    /// The hashing embedder, counting what it embeds, and failing (as a kill would stop it)
    /// once `budget` documents are spent.
    struct Budgeted {
        inner: HashingEmbedder,
        budget: AtomicUsize,
        embedded: AtomicUsize,
    }

    impl Budgeted {
        fn new(budget: usize) -> Budgeted {
            Budgeted {
                inner: HashingEmbedder::new(32),
                budget: AtomicUsize::new(budget),
                embedded: AtomicUsize::new(0),
            }
        }
    }

    impl Embedder for Budgeted {
        fn embed_queries(&self, queries: &[&str]) -> Result<Vec<Vec<f32>>> {
            self.inner.embed_queries(queries)
        }
        fn embed_documents(&self, docs: &[Document<'_>]) -> Result<Vec<Vec<f32>>> {
            let left = self.budget.load(Ordering::SeqCst);
            if left < docs.len() {
                return Err(crate::Error::BadEmbedding {
                    chunk: "test".into(),
                    detail: "budget spent".into(),
                });
            }
            self.budget.store(left - docs.len(), Ordering::SeqCst);
            self.embedded.fetch_add(docs.len(), Ordering::SeqCst);
            self.inner.embed_documents(docs)
        }
        fn dims(&self) -> usize {
            self.inner.dims()
        }
        fn fingerprint(&self) -> String {
            self.inner.fingerprint()
        }
        fn name(&self) -> String {
            self.inner.name()
        }
        fn max_tokens(&self) -> usize {
            self.inner.max_tokens()
        }
        fn count_tokens(&self, text: &str) -> usize {
            self.inner.count_tokens(text)
        }
        fn document_overhead(&self, title: Option<&str>) -> usize {
            self.inner.document_overhead(title)
        }
    }

    fn library(dir: &Path, e: &dyn Embedder) -> Library {
        let manifest = IndexManifest {
            format_version: FORMAT_VERSION,
            embedder: e.name(),
            embedder_fingerprint: e.fingerprint(),
            dims: e.dims(),
            chunk_tokens: 64,
            overlap_sentences: 0,
        };
        Library::open_for_ingest(dir, manifest).unwrap()
    }

    /// Paragraphs of distinct sentences, so that no two chunks share a text.
    fn long_text(paragraphs: usize, tag: &str) -> String {
        (0..paragraphs)
            .map(|p| {
                (0..6)
                    .map(|s| format!("Le paragraphe {p} dit en phrase {s} que {tag} publie ses comptes. "))
                    .collect::<String>()
                    + "\n\n"
            })
            .collect()
    }

    /// A folder `docs` of two articles with distinct sentences, one with a Markdown title.
    fn two_articles() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let docs = t.path().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("a.txt"), long_text(12, "Huawei")).unwrap();
        std::fs::write(docs.join("b.md"), "# Titre\n\n".to_string() + &long_text(3, "IBM")).unwrap();
        (t, docs)
    }

    fn run(lib: &mut Library, e: &dyn Embedder, docs: &Path) -> Result<IngestReport> {
        ingest(lib, e, &[docs.to_path_buf()], &IngestOptions::default(), &NoProgress)
    }

    /// Issue 14: a long article commits its vectors group by group, so a run stopped half-way
    /// (here the embedder fails, as a kill would stop it) leaves them, and the next run embeds
    /// only the rest. Readers never see the half-done article.
    #[test]
    fn an_interrupted_long_article_resumes_from_its_staged_vectors() {
        let t = tempfile::tempdir().unwrap();
        let docs = t.path().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("long.txt"), long_text(400, "Huawei")).unwrap();
        let index = t.path().join("index");

        let first = Budgeted::new(5 * EMBED_GROUP + 7);
        let mut lib = library(&index, &first);
        assert!(run(&mut lib, &first, &docs).is_err());
        assert_eq!(
            SearchBackend::chunk_count(&lib).unwrap(),
            0,
            "half an article is visible"
        );
        drop(lib);

        let second = Budgeted::new(usize::MAX);
        let mut lib = library(&index, &second);
        let r = run(&mut lib, &second, &docs).unwrap();
        assert!(r.chunks > STAGE_ABOVE, "{} chunks: not a long article", r.chunks);
        assert_eq!(r.reused, 5 * EMBED_GROUP, "{r:?}");
        assert!(r.sentences > r.chunks, "{r:?}");
        assert_eq!(
            second.embedded.load(Ordering::SeqCst),
            r.chunks - r.reused + r.sentences
        );
        assert!(lib.reusable_vectors("long.txt").unwrap().len() == r.chunks);
        assert_eq!(r.added, 1);
    }

    /// Ingest embeds the answerer's candidate sentences ahead of questions: answering from
    /// the stored passages then embeds nothing (this embedder fails on any document).
    #[test]
    fn answers_read_the_sentence_vectors_ingest_stored() {
        let (t, docs) = two_articles();
        let e = Budgeted::new(usize::MAX);
        let mut lib = library(&t.path().join("index"), &e);
        let r = run(&mut lib, &e, &docs).unwrap();
        assert!(r.sentences >= 6 * 15, "{r:?}");
        let spent = Budgeted::new(0);
        let question = "Quand le paragraphe 2 dit-il que Huawei publie ses comptes ?";
        let qvec = spent.embed_queries(&[question]).unwrap().remove(0);
        for id in ["a.txt", "b.md"] {
            let (row, _) = SearchBackend::article(&lib, id).unwrap().unwrap();
            let hits: Vec<Hit> = SearchBackend::article_chunks(&lib, id)
                .unwrap()
                .into_iter()
                .map(|c| Hit {
                    rank: c.ordinal as usize + 1,
                    score: 0.9,
                    similarity: Some(0.9),
                    chunk_id: c.id,
                    article_id: c.article_id,
                    title: row.title.clone(),
                    date: None,
                    lang: row.lang.clone(),
                    path: row.source_path.clone(),
                    line_start: c.line_start,
                    line_end: c.line_end,
                    start: c.start,
                    end: c.end,
                    snippet: String::new(),
                    text: c.text,
                })
                .collect();
            let opts = crate::answer::AnswerOptions {
                passages: hits.len(),
                ..Default::default()
            };
            let cands = crate::answer::candidates(
                &spent,
                SearchBackend::sentence_cache(&lib),
                question,
                &qvec,
                &hits,
                &opts,
            )
            .unwrap_or_else(|err| panic!("{id}: an answer embedded a sentence: {err}"));
            assert!(cands.len() >= 15, "{id}: {} candidates", cands.len());
        }
        assert_eq!(spent.embedded.load(Ordering::SeqCst), 0);
    }

    /// An index built without the answer sentences (`--search-only`, or before ingest
    /// prepared them) gains them at its next ingest, from the stored chunks: no chunk is
    /// embedded again, and a third run finds nothing to do.
    #[test]
    fn stored_articles_gain_their_answer_sentences_without_re_embedding_chunks() {
        let (t, docs) = two_articles();
        let index = t.path().join("index");
        let e = Budgeted::new(usize::MAX);
        let mut lib = library(&index, &e);
        let opts = IngestOptions {
            search_only: true,
            ..Default::default()
        };
        let r = ingest(&mut lib, &e, std::slice::from_ref(&docs), &opts, &NoProgress).unwrap();
        assert_eq!((r.added, r.sentences), (2, 0), "{r:?}");
        let chunks = r.chunks;

        let second = Budgeted::new(usize::MAX);
        let r = run(&mut lib, &second, &docs).unwrap();
        assert_eq!((r.unchanged, r.chunks), (2, 0), "{r:?}");
        assert!(r.sentences >= 6 * 15, "{r:?}");
        assert_eq!(
            second.embedded.load(Ordering::SeqCst),
            r.sentences,
            "chunks were embedded again"
        );
        assert!(chunks > 0);

        let third = Budgeted::new(0);
        let r = run(&mut lib, &third, &docs).unwrap();
        assert_eq!((r.unchanged, r.sentences), (2, 0), "{r:?}");
    }

    /// An edited article re-embeds only the chunks whose text changed.
    #[test]
    fn an_edit_re_embeds_only_the_changed_chunks() {
        let t = tempfile::tempdir().unwrap();
        let docs = t.path().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        let text = long_text(30, "Huawei");
        std::fs::write(docs.join("a.txt"), &text).unwrap();
        let e = Budgeted::new(usize::MAX);
        let mut lib = library(&t.path().join("index"), &e);
        let r = run(&mut lib, &e, &docs).unwrap();
        assert_eq!(r.reused, 0);
        let chunks = r.chunks;
        assert!(chunks > 5, "{chunks} chunks");

        std::fs::write(
            docs.join("a.txt"),
            text.replacen("paragraphe 12 dit", "paragraphe 12 affirme", 1),
        )
        .unwrap();
        let before = e.embedded.load(Ordering::SeqCst);
        let r = run(&mut lib, &e, &docs).unwrap();
        assert_eq!((r.updated, r.chunks), (1, chunks), "{r:?}");
        // One chunk, and the one sentence of it that changed: the others' vectors are kept.
        assert_eq!(r.sentences, 1, "{r:?}");
        assert_eq!(e.embedded.load(Ordering::SeqCst) - before, 2, "{r:?}");
        assert_eq!(r.reused, chunks - 1);
        // What is stored is what a fresh ingest stores.
        let fresh = tempfile::tempdir().unwrap();
        let mut lib2 = library(fresh.path(), &e);
        run(&mut lib2, &e, &docs).unwrap();
        let a = SearchBackend::article_chunks(&lib, "a.txt").unwrap();
        let b = SearchBackend::article_chunks(&lib2, "a.txt").unwrap();
        assert_eq!(
            a.iter().map(|c| &c.text).collect::<Vec<_>>(),
            b.iter().map(|c| &c.text).collect::<Vec<_>>()
        );
        let va = SearchBackend::embeddings(&lib, &a.iter().map(|c| c.id).collect::<Vec<_>>()).unwrap();
        let vb = SearchBackend::embeddings(&lib2, &b.iter().map(|c| c.id).collect::<Vec<_>>()).unwrap();
        for (ca, cb) in a.iter().zip(&b) {
            assert_eq!(va[&ca.id], vb[&cb.id], "chunk {}", ca.ordinal);
        }
    }
}
