//! Ingest: files → articles → chunks → embeddings → store → HNSW.
//!
//! Each article is written in its own store transaction once all its chunks are embedded, so a
//! kill at any moment loses at most the articles in flight; the next run skips every article
//! whose hash is already stored. Problems with single files are collected and reported, never
//! fatal to the run.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::Result;
use crate::backend::IngestBackend;
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
}

impl IngestReport {
    /// Embedded chunks per second of embedding time.
    pub fn chunks_per_second(&self) -> f64 {
        if self.embed_seconds > 0.0 {
            self.chunks as f64 / self.embed_seconds
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

    // Read everything first: cheap next to embedding, and it gives the progress bar a total.
    progress.start("reading", Some(files.len() as u64));
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut read_sources: HashSet<String> = HashSet::new();
    let mut read: Vec<Article> = Vec::new();
    for (root, file) in &files {
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
            read.push(a);
        }
        progress.inc(1);
    }
    progress.finish();

    // One batch lookup tells new, changed and unchanged articles apart.
    let ids: Vec<&str> = read.iter().map(|a| a.id.as_str()).collect();
    let stored = lib.article_hashes(&ids)?;
    let sources: HashMap<String, String> = lib.articles_by_source()?.into_iter().collect();
    let mut todo: Vec<(Article, bool)> = Vec::new();
    let mut moves: Vec<(String, String)> = Vec::new();
    let mut kept_texts: Vec<(String, ArticleText)> = Vec::new();
    for a in read {
        let path = a.source_path.to_string_lossy();
        // Same id, other content, and another file that is still there: a different article
        // whose relative path collides (`a/x.txt` then `b/x.txt`), not a new version. Keep
        // the stored one. (Same content from a copy is the same article: it just moves.)
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
                kept_texts.push((a.id.clone(), article_text(&a)));
                moves.push((a.id.clone(), a.source_path.to_string_lossy().into_owned()));
            }
            Some(_) => todo.push((a, true)),
            None => todo.push((a, false)),
        }
    }
    let moves: Vec<(&str, &str)> = moves.iter().map(|(id, p)| (id.as_str(), p.as_str())).collect();
    lib.set_source_paths(&moves)?;
    // An index built before texts were kept gains them without re-embedding anything.
    let kept: Vec<(&str, &ArticleText)> = kept_texts.iter().map(|(id, t)| (id.as_str(), t)).collect();
    lib.put_article_texts(&kept, false)?;
    drop(kept);
    drop(kept_texts);

    // Chunk what changed.
    let counter = EmbedderTokens(embedder);
    let mut pending: Vec<(Article, bool, Vec<chunk::Chunk>)> = Vec::with_capacity(todo.len());
    for (a, existed) in todo {
        let overhead = embedder.document_overhead(a.title.as_deref());
        let cfg = lib.manifest().chunker(overhead);
        let chunks = chunk::chunk_article(&a, &cfg, &counter);
        if chunks.is_empty() {
            let r = FileReport {
                path: a.source_path.clone(),
                problem: corpus::Problem::NoBody { line: None },
            };
            note(&r, &mut report);
            continue;
        }
        pending.push((a, existed, chunks));
    }

    // Embed in groups of chunks spanning articles; store each article once complete.
    let total: usize = pending.iter().map(|p| p.2.len()).sum();
    progress.start("embedding chunks", Some(total as u64));
    let mut embed_time = 0.0;
    let mut i = 0;
    while i < pending.len() {
        let mut j = i;
        let mut n = 0;
        while j < pending.len() && (j == i || n + pending[j].2.len() <= EMBED_GROUP) {
            n += pending[j].2.len();
            j += 1;
        }
        let docs: Vec<Document<'_>> = pending[i..j]
            .iter()
            .flat_map(|(a, _, chunks)| {
                chunks.iter().map(move |c| Document {
                    title: a.title.as_deref(),
                    text: &c.text,
                })
            })
            .collect();
        // One huge article (a 50 MB file) is one group: embed it in bounded slices, so memory
        // stays flat and progress moves while it runs.
        let mut vectors = Vec::with_capacity(docs.len());
        for slice in docs.chunks(EMBED_GROUP) {
            let te = Instant::now();
            vectors.extend(embedder.embed_documents(slice)?);
            embed_time += te.elapsed().as_secs_f64();
            progress.inc(slice.len() as u64);
        }
        let mut vectors = vectors.into_iter();
        for (a, existed, chunks) in &pending[i..j] {
            let new: Vec<NewChunk> = chunks
                .iter()
                .zip(vectors.by_ref())
                .map(|(c, v)| NewChunk {
                    ordinal: c.ordinal,
                    text: c.text.clone(),
                    start: c.start,
                    end: c.end,
                    line_start: c.line_start,
                    line_end: c.line_end,
                    embedding: v,
                })
                .collect();
            lib.replace_article(&article_row(a), &new)?;
            lib.put_article_texts(&[(a.id.as_str(), &article_text(a))], true)?;
            report.chunks += new.len();
            if *existed {
                report.updated += 1;
            } else {
                report.added += 1;
            }
        }
        i = j;
    }
    progress.finish();
    report.embed_seconds = embed_time;

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
