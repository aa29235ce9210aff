//! The use cases: ingest, search, ask (extractive or generated), eval, index and model
//! maintenance. It owns the flows that tie the modules together, so that the CLI, the HTTP
//! server and tests call one function per use case and get back one serialisable result.
//!
//! Each use case takes a [`Setup`] (where the index and models are, which embedder) and a
//! plain request struct, and returns a `#[derive(Serialize)]` type: that type, serialised,
//! is the `--json` output of the matching command, and its fields are the stable schema.
//! A [`Session`] opens an index and its embedder once and then serves queries through
//! `&self`, which is what a long-running server needs. Nothing here draws on a terminal:
//! progress and notes go through [`Progress`], generated text through a callback.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::answer::{self, Answer, AnswerOptions, CheckedSentence};
use crate::backend::{IngestBackend, SearchBackend};
use crate::embed::{self, Embedder, HashingEmbedder};
use crate::eval::input;
use crate::eval::run::{self as eval_run, EvalReport, Level};
use crate::ingest::{self, IngestOptions, IngestReport};
use crate::library::{self, IndexManifest, Library};
use crate::models::{self, ModelInfo, Paths};
use crate::progress::Progress;
use crate::retrieve::{self, Filters, Hit, Mode, Timings};
use crate::store::StoreStats;
use crate::{Error, Result};

/// Dimension of the hashing embedder when neither the index nor the caller names one.
pub const HASHING_DIMS: usize = 256;

/// Which embedder turns text into vectors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EmbedderChoice {
    /// The default model (EmbeddingGemma-300M), fetched on first use.
    #[default]
    Default,
    /// A local sentence-transformers folder.
    Local(PathBuf),
    /// The deterministic hashing embedder: no model, no meaning, for tests and dry runs.
    Hashing,
}

impl FromStr for EmbedderChoice {
    type Err = Error;
    /// `default`, `hashing`, or the path of a local model folder.
    fn from_str(s: &str) -> Result<EmbedderChoice> {
        Ok(match s.trim() {
            "" | "default" => EmbedderChoice::Default,
            "hashing" => EmbedderChoice::Hashing,
            path => EmbedderChoice::Local(PathBuf::from(path)),
        })
    }
}

/// Where the use cases find their index and models, and which embedder they use.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The index directory.
    pub index: PathBuf,
    pub embedder: EmbedderChoice,
    /// Matryoshka dimension asked for; `None` keeps the index's (or the model's full) one.
    pub dims: Option<usize>,
    /// Arithmetic of the model's matrix products; `None` reads `SOURCIER_PRECISION` (f32 by
    /// default). The hashing embedder ignores it.
    pub precision: Option<embed::Precision>,
    /// Model folders and caches.
    pub paths: Paths,
    /// Articles to ingest when `ask` finds no index yet, so a fresh clone answers at once.
    pub bootstrap: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://…`): the index lives on that server instead of in
    /// `index`.
    pub database: Option<String>,
}

impl Setup {
    /// An index directory with the default embedder and model locations from the environment.
    pub fn new(index: impl Into<PathBuf>) -> Setup {
        Setup {
            index: index.into(),
            embedder: EmbedderChoice::Default,
            dims: None,
            precision: None,
            paths: Paths::from_env(),
            bootstrap: None,
            database: None,
        }
    }

    /// Where the index is, for messages: the directory, or the database URL without its
    /// password.
    pub fn location(&self) -> String {
        match &self.database {
            Some(url) => redact_url(url),
            None => self.index.display().to_string(),
        }
    }

    /// The manifest of the index, `None` when there is none yet.
    pub fn read_manifest(&self) -> Result<Option<IndexManifest>> {
        match &self.database {
            None => library::read_manifest(&self.index),
            Some(url) => open_pg_manifest(url),
        }
    }

    /// Opens the index for reading.
    pub fn open_index(&self) -> Result<OpenIndex> {
        match &self.database {
            None => Ok(OpenIndex::Embedded(Library::open(&self.index)?)),
            Some(url) => open_pg(url),
        }
    }

    /// Opens the index for writing, creating it with `manifest` when there is none.
    pub fn open_for_ingest(&self, manifest: IndexManifest) -> Result<Box<dyn IngestBackend>> {
        match &self.database {
            None => Ok(Box::new(Library::open_for_ingest(&self.index, manifest)?)),
            Some(url) => open_pg_ingest(url, manifest),
        }
    }

    /// Loads the chosen embedder for an index: at the asked dimension and precision, else
    /// those that built `existing`, else the model's defaults (full dimension, int8).
    pub fn load_embedder(
        &self,
        existing: Option<&IndexManifest>,
        progress: &dyn Progress,
    ) -> Result<Box<dyn Embedder>> {
        let dims = self.dims.or(existing.map(|m| m.dims));
        match &self.embedder {
            EmbedderChoice::Hashing => Ok(Box::new(HashingEmbedder::new(dims.unwrap_or(HASHING_DIMS)))),
            EmbedderChoice::Local(dir) => embed::load(&self.spec(Some(dir), dims, existing, progress)?),
            EmbedderChoice::Default => embed::load(&self.spec(None, dims, existing, progress)?),
        }
    }

    /// The spec of a model embedder, with the precision asked for (flag or
    /// `SOURCIER_PRECISION`), else the one `existing` was built with, else the default.
    fn spec(
        &self,
        local: Option<&Path>,
        dims: Option<usize>,
        existing: Option<&IndexManifest>,
        progress: &dyn Progress,
    ) -> Result<embed::ModelSpec> {
        let mut spec = embed::resolve(&self.paths, local, dims, progress)?;
        let chosen = match self.precision {
            Some(p) => Some(p),
            None => embed::Precision::chosen_in_env()?,
        };
        // An index built in one precision is refused in the other, so an unasked precision
        // follows the index rather than the default.
        if let Some(p) = chosen.or(existing.map(|m| embed::Precision::of_embedder_name(&m.embedder))) {
            spec.precision = p;
        }
        Ok(spec)
    }
}

/// An open index: the embedded one, or one on a PostgreSQL server.
// One per session, never moved in a loop: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum OpenIndex {
    Embedded(Library),
    #[cfg(feature = "postgres")]
    Postgres(crate::pg::PgLibrary),
}

impl OpenIndex {
    /// The index as the storage seam.
    pub fn backend(&self) -> &dyn SearchBackend {
        match self {
            OpenIndex::Embedded(l) => l,
            #[cfg(feature = "postgres")]
            OpenIndex::Postgres(p) => p,
        }
    }

    /// The embedded index, when that is what is open.
    pub fn embedded(&self) -> Option<&Library> {
        match self {
            OpenIndex::Embedded(l) => Some(l),
            #[cfg(feature = "postgres")]
            OpenIndex::Postgres(_) => None,
        }
    }
}

#[cfg(feature = "postgres")]
fn redact_url(url: &str) -> String {
    crate::pg::redact(url)
}
#[cfg(feature = "postgres")]
fn open_pg(url: &str) -> Result<OpenIndex> {
    Ok(OpenIndex::Postgres(crate::pg::PgLibrary::open(url)?))
}
#[cfg(feature = "postgres")]
fn open_pg_manifest(url: &str) -> Result<Option<IndexManifest>> {
    crate::pg::PgLibrary::read_manifest(url)
}
#[cfg(feature = "postgres")]
fn open_pg_ingest(url: &str, manifest: IndexManifest) -> Result<Box<dyn IngestBackend>> {
    Ok(Box::new(crate::pg::PgLibrary::open_for_ingest(url, manifest)?))
}

#[cfg(not(feature = "postgres"))]
fn no_pg() -> Error {
    Error::InvalidOption {
        name: "backend",
        detail: "this build of sourcier has no PostgreSQL support (feature `postgres`)".into(),
    }
}
#[cfg(not(feature = "postgres"))]
fn redact_url(_url: &str) -> String {
    "(a PostgreSQL URL)".into()
}
#[cfg(not(feature = "postgres"))]
fn open_pg(_url: &str) -> Result<OpenIndex> {
    Err(no_pg())
}
#[cfg(not(feature = "postgres"))]
fn open_pg_manifest(_url: &str) -> Result<Option<IndexManifest>> {
    Err(no_pg())
}
#[cfg(not(feature = "postgres"))]
fn open_pg_ingest(_url: &str, _manifest: IndexManifest) -> Result<Box<dyn IngestBackend>> {
    Err(no_pg())
}

/// The manifest a new index gets with this embedder.
pub fn new_manifest(embedder: &dyn Embedder) -> IndexManifest {
    IndexManifest {
        format_version: library::FORMAT_VERSION,
        embedder: embedder.name(),
        embedder_fingerprint: embedder.fingerprint(),
        dims: embedder.dims(),
        chunk_tokens: library::DEFAULT_CHUNK_TOKENS,
        overlap_sentences: 1,
    }
}

// ---------------------------------------------------------------------------------------------
// Ingest

/// What to ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestRequest {
    /// Files or folders, read recursively.
    pub paths: Vec<PathBuf>,
    /// Drop articles whose files are gone or no longer contain them.
    pub prune: bool,
    /// Follow symbolic links that lead out of the given folders.
    pub follow_links: bool,
    /// Skip the answerer's sentence vectors ([`IngestOptions::search_only`]).
    pub search_only: bool,
}

/// Adds articles to the index at `setup.index`, creating it when needed.
pub fn ingest(setup: &Setup, req: &IngestRequest, progress: &dyn Progress) -> Result<IngestReport> {
    if req.paths.is_empty() {
        return Err(Error::InvalidOption {
            name: "paths",
            detail: "nothing to ingest: name at least one file or folder".into(),
        });
    }
    // Refuse a path that does not exist before the index is created, so a typo never leaves
    // an empty index behind.
    for p in &req.paths {
        if std::fs::symlink_metadata(p).is_err() {
            return Err(Error::NotFound { path: p.clone() });
        }
        if p.is_file() && crate::corpus::Format::from_path(p).is_none() {
            return Err(crate::corpus::unsupported_file(p));
        }
    }
    let existing = setup.read_manifest()?;
    let embedder = setup.load_embedder(existing.as_ref(), progress)?;
    ingest_with(setup, embedder.as_ref(), req, progress)
}

/// [`ingest`] with an embedder already loaded (a server ingests with its session's embedder
/// instead of loading a second copy of the model).
pub fn ingest_with(
    setup: &Setup,
    embedder: &dyn Embedder,
    req: &IngestRequest,
    progress: &dyn Progress,
) -> Result<IngestReport> {
    let mut lib = setup.open_for_ingest(new_manifest(embedder))?;
    ingest::ingest(
        lib.as_mut(),
        embedder,
        &req.paths,
        &IngestOptions {
            prune: req.prune,
            follow_links: req.follow_links,
            search_only: req.search_only,
        },
        progress,
    )
}

// ---------------------------------------------------------------------------------------------
// Search and ask

/// A search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    /// Number of results.
    pub k: usize,
    pub mode: Mode,
    pub filters: Filters,
}

/// The result of a search: `sourcier search --json`.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub query: String,
    pub mode: Mode,
    pub hits: Vec<Hit>,
    pub timings: Timings,
}

/// A question.
#[derive(Debug, Clone)]
pub struct AskRequest {
    pub question: String,
    /// Passages retrieved.
    pub k: usize,
    pub mode: Mode,
    pub filters: Filters,
}

/// Time spent answering, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AskTimings {
    pub embed_ms: f64,
    pub search_ms: f64,
    pub answer_ms: f64,
    pub total_ms: f64,
}

/// An extractive answer: `sourcier ask --json`.
#[derive(Debug, Clone, Serialize)]
pub struct AskResult {
    pub question: String,
    pub mode: Mode,
    pub answer: Answer,
    /// The retrieved passages, in rank order; citations number the first ones from 1.
    pub passages: Vec<Hit>,
    pub timings: AskTimings,
}

/// Time spent writing a generated answer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerateTimings {
    pub search_ms: f64,
    pub prompt_ms: f64,
    pub generate_ms: f64,
    pub tokens_per_s: f64,
}

/// A generated answer with its citations checked: `sourcier ask --generate --json`.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratedResult {
    pub question: String,
    pub mode: Mode,
    /// True when the passages were too weak to answer from; `generated` is then the
    /// "not in the articles" message and no model ran.
    pub abstained: bool,
    pub generated: String,
    /// Each sentence of `generated`, with the passages it cites and whether they hold.
    pub sentences: Vec<CheckedSentence>,
    /// The passages that were in the prompt, numbered from 1.
    pub passages: Vec<Hit>,
    /// Passage numbers cited by at least one sentence, ascending.
    pub cited: Vec<usize>,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub timings: GenerateTimings,
}

impl GeneratedResult {
    /// Sentences that cite nothing, or a passage that was not in the prompt.
    pub fn unsupported(&self) -> impl Iterator<Item = &CheckedSentence> {
        self.sentences.iter().filter(|c| !c.valid)
    }
}

/// An open index with its embedder, serving queries through `&self`.
pub struct Session {
    lib: OpenIndex,
    embedder: Arc<dyn Embedder>,
    setup: Setup,
}

/// With `setup.bootstrap` set and no index yet, ingests those articles.
fn bootstrap(setup: &Setup, progress: &dyn Progress) -> Result<()> {
    if let Some(bundled) = &setup.bootstrap
        && setup.database.is_none()
        && library::read_manifest(&setup.index)?.is_none()
        && bundled.is_dir()
    {
        progress.note(&format!(
            "no index yet: ingesting the bundled articles of {} into {}",
            bundled.display(),
            setup.index.display()
        ));
        let req = IngestRequest {
            paths: vec![bundled.clone()],
            ..IngestRequest::default()
        };
        ingest(setup, &req, progress)?;
    }
    Ok(())
}

impl Session {
    /// Opens the index read-only and loads the embedder that built it. With
    /// `setup.bootstrap` set and no index yet, ingests those articles first.
    pub fn open(setup: &Setup, progress: &dyn Progress) -> Result<Session> {
        bootstrap(setup, progress)?;
        let t = Instant::now();
        let lib = setup.open_index()?;
        tracing::debug!(ms = crate::embed::ms(t), "opened the index");
        let t = Instant::now();
        let embedder: Arc<dyn Embedder> = setup.load_embedder(Some(lib.backend().manifest()), progress)?.into();
        tracing::debug!(ms = crate::embed::ms(t), "loaded the embedder");
        Session::with_embedder(setup, embedder, lib, progress)
    }

    /// Opens the index again with the same embedder, to see what an ingest added since.
    pub fn reopen(&self, progress: &dyn Progress) -> Result<Session> {
        let lib = self.setup.open_index()?;
        Session::with_embedder(&self.setup, self.embedder.clone(), lib, progress)
    }

    /// The embedder bound to the index, shared (a server ingests with it).
    pub fn shared_embedder(&self) -> Arc<dyn Embedder> {
        self.embedder.clone()
    }

    /// Where the index and models are.
    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    fn with_embedder(
        setup: &Setup,
        embedder: Arc<dyn Embedder>,
        lib: OpenIndex,
        progress: &dyn Progress,
    ) -> Result<Session> {
        let b = lib.backend();
        // Bind once: every query of this session uses an embedder that matches the index.
        crate::backend::check_embedder(b.manifest(), &b.location(), embedder.as_ref())?;
        // Catch the derived indexes up now, so no query pays for it or reports it.
        let t = Instant::now();
        b.warm(progress)?;
        tracing::debug!(ms = crate::embed::ms(t), "warmed the index");
        Ok(Session {
            lib,
            embedder,
            setup: setup.clone(),
        })
    }

    /// The open index.
    pub fn index(&self) -> &OpenIndex {
        &self.lib
    }

    /// The open index as the storage seam.
    pub fn backend(&self) -> &dyn SearchBackend {
        self.lib.backend()
    }

    /// The embedder bound to the index.
    pub fn embedder(&self) -> &dyn Embedder {
        self.embedder.as_ref()
    }

    fn retrieve(&self, query: &str, k: usize, filters: &Filters, mode: Mode) -> Result<retrieve::Retrieval> {
        retrieve::retrieve(self.lib.backend(), self.embedder.as_ref(), query, k, filters, mode)
    }

    /// Ranks chunks for a query.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResult> {
        check_query(&req.query)?;
        let r = self.retrieve(&req.query, req.k, &req.filters, req.mode)?;
        Ok(SearchResult {
            query: req.query.clone(),
            mode: req.mode,
            hits: r.hits,
            timings: r.timings,
        })
    }

    /// Answers from the retrieved passages with cited sentences, or abstains.
    pub fn ask(&self, req: &AskRequest) -> Result<AskResult> {
        self.ask_with(req, &mut |_| {})
    }

    /// [`Session::ask`], handing the passages to `on_passages` as soon as they are ranked
    /// (a streaming client shows them while the answer is chosen).
    pub fn ask_with(&self, req: &AskRequest, on_passages: &mut dyn FnMut(&[Hit])) -> Result<AskResult> {
        check_query(&req.question)?;
        let t = Instant::now();
        let r = self.retrieve(&req.question, req.k, &req.filters, req.mode)?;
        on_passages(&r.hits);
        let ta = Instant::now();
        let mut answer = answer::extractive_cached(
            self.embedder.as_ref(),
            self.lib.backend().sentence_cache(),
            &req.question,
            &r.query_vector,
            &r.hits,
            &AnswerOptions::default(),
        )?;
        // One lookup per cited article (at most three) for exact sentence spans and lines.
        let mut texts = HashMap::new();
        for c in &answer.citations {
            if let Some((_, Some(t))) = self.lib.backend().article(&c.article_id)? {
                texts.insert(c.article_id.clone(), t);
            }
        }
        answer::locate(&mut answer, &|id| {
            texts.get(id).map(|t| answer::ArticleTextRef {
                text: &t.text,
                line_base: t.line_base,
            })
        });
        Ok(AskResult {
            question: req.question.clone(),
            mode: req.mode,
            answer,
            passages: r.hits,
            timings: AskTimings {
                embed_ms: r.timings.embed_ms,
                search_ms: r.timings.search_ms,
                answer_ms: ta.elapsed().as_secs_f64() * 1e3,
                total_ms: t.elapsed().as_secs_f64() * 1e3,
            },
        })
    }

    /// Writes an answer with a local language model (`llm`, or the bundled default),
    /// streaming its pieces to `on_piece`, then checks every citation. Abstains without
    /// loading the model when the passages are too weak.
    pub fn ask_generated(
        &self,
        req: &AskRequest,
        llm: Option<&Path>,
        on_piece: &mut dyn FnMut(&str),
        progress: &dyn Progress,
    ) -> Result<GeneratedResult> {
        self.ask_generated_with(req, llm, &mut |_| {}, on_piece, progress)
    }

    /// [`Session::ask_generated`], handing the passages of the prompt to `on_passages`
    /// before the model starts writing.
    pub fn ask_generated_with(
        &self,
        req: &AskRequest,
        llm: Option<&Path>,
        on_passages: &mut dyn FnMut(&[Hit]),
        on_piece: &mut dyn FnMut(&str),
        progress: &dyn Progress,
    ) -> Result<GeneratedResult> {
        check_query(&req.question)?;
        let r = self.retrieve(&req.question, req.k, &req.filters, req.mode)?;
        let opts = AnswerOptions::default();
        let passages: Vec<&Hit> = r.hits.iter().take(opts.passages).collect();
        on_passages(&r.hits[..passages.len()]);
        let lang = answer::question_lang(&req.question);
        let mut out = GeneratedResult {
            question: req.question.clone(),
            mode: req.mode,
            abstained: false,
            generated: String::new(),
            sentences: Vec::new(),
            passages: passages.iter().map(|h| (*h).clone()).collect(),
            cited: Vec::new(),
            prompt_tokens: 0,
            generated_tokens: 0,
            timings: GenerateTimings {
                search_ms: r.timings.total_ms,
                ..GenerateTimings::default()
            },
        };
        if answer::should_abstain(&req.question, &passages, answer::confidence(&passages), &opts) {
            out.abstained = true;
            out.generated = answer::abstention_message(lang).to_string();
            return Ok(out);
        }
        let gguf = match llm {
            Some(p) => p.to_path_buf(),
            None => models::ensure(&self.setup.paths, models::DEFAULT_GENERATOR, progress)?.join("model.gguf"),
        };
        let mut generator = crate::generate::Generator::load(&gguf)?;
        let (system, user) = answer::generation_prompt(&req.question, lang, &passages);
        let g = generator.chat(&system, &user, &crate::generate::GenerateOptions::default(), on_piece)?;
        out.sentences = answer::check_citations(&g.text, passages.len());
        out.cited = out
            .sentences
            .iter()
            .flat_map(|c| c.citations.iter().copied())
            .collect::<BTreeSet<usize>>()
            .into_iter()
            .collect();
        out.prompt_tokens = g.prompt_tokens;
        out.generated_tokens = g.generated_tokens;
        out.timings.prompt_ms = g.prompt_ms;
        out.timings.generate_ms = g.generate_ms;
        out.timings.tokens_per_s = g.tokens_per_second();
        out.generated = g.text;
        Ok(out)
    }
}

/// An article as a viewer shows it: its body paragraphs with their source lines, so that a
/// citation's byte span (`start`, `end` of a [`Hit`] or citation) can be found and marked.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleView {
    pub id: String,
    pub title: Option<String>,
    pub date: Option<String>,
    pub lang: Option<String>,
    pub url: Option<String>,
    /// The source file.
    pub path: String,
    /// True when the blocks are the article's cleaned paragraphs; false for an index built
    /// before texts were kept, where they are its chunks (which overlap by a sentence).
    pub exact: bool,
    pub blocks: Vec<ViewBlock>,
}

/// A paragraph of an [`ArticleView`].
#[derive(Debug, Clone, Serialize)]
pub struct ViewBlock {
    /// Byte span in the article text: the coordinates of citations.
    pub start: usize,
    pub end: usize,
    /// 1-based source lines, inclusive; lines inside `text` are separated by `\n`.
    pub line_start: u32,
    pub line_end: u32,
    pub text: String,
}

impl Session {
    /// One indexed article for display; `None` when the index does not hold `id`.
    pub fn article(&self, id: &str) -> Result<Option<ArticleView>> {
        let Some((row, text)) = self.lib.backend().article(id)? else {
            return Ok(None);
        };
        // A JSONL record sits on one line of its file, whatever `\n`s its text holds.
        let one_line =
            crate::corpus::Format::from_path(Path::new(&row.source_path)) == Some(crate::corpus::Format::Jsonl);
        let (exact, blocks) = match text {
            Some(t) => {
                // The text's `\n`s follow the source lines except in a minified page, whose
                // paragraphs get breaks its file does not have: the chunks' lines (clamped at
                // ingest to the article's last source line) bound what can be shown.
                let last = self
                    .lib
                    .backend()
                    .article_chunks(id)?
                    .iter()
                    .map(|c| c.line_end)
                    .max()
                    .unwrap_or(u32::MAX);
                let mut blocks = Vec::with_capacity(t.blocks.len());
                let mut line = t.line_base;
                let mut at = 0;
                for &(start, end) in &t.blocks {
                    line += t.text[at..start].matches('\n').count() as u32;
                    let body = &t.text[start..end];
                    let line_end = line + body.matches('\n').count() as u32;
                    let (shown_start, shown_end) = if one_line {
                        (t.line_base, t.line_base)
                    } else {
                        (line.min(last), line_end.min(last))
                    };
                    blocks.push(ViewBlock {
                        start,
                        end,
                        line_start: shown_start,
                        line_end: shown_end,
                        text: body.to_string(),
                    });
                    line = line_end;
                    at = end;
                }
                (true, blocks)
            }
            None => {
                let chunks = self.lib.backend().article_chunks(id)?;
                let blocks = chunks
                    .into_iter()
                    .map(|c| ViewBlock {
                        start: c.start,
                        end: c.end,
                        line_start: c.line_start,
                        line_end: c.line_end,
                        text: c.text,
                    })
                    .collect();
                (false, blocks)
            }
        };
        Ok(Some(ArticleView {
            id: row.id,
            title: row.title,
            date: row.date,
            lang: row.lang,
            url: row.url,
            path: row.source_path,
            exact,
            blocks,
        }))
    }
}

/// Opens a session and runs one search.
pub fn search(setup: &Setup, req: &SearchRequest, progress: &dyn Progress) -> Result<SearchResult> {
    search_opened(setup, req, progress).map(|(r, _)| r)
}

/// [`search`], also giving back the session it opened: a process about to exit may skip
/// freeing it (the tokenizer's million strings take tens of milliseconds).
pub fn search_opened(setup: &Setup, req: &SearchRequest, progress: &dyn Progress) -> Result<(SearchResult, Session)> {
    check_query(&req.query)?;
    let session = Session::open(
        &Setup {
            bootstrap: None,
            ..setup.clone()
        },
        progress,
    )?;
    Ok((session.search(req)?, session))
}

/// Opens a session (bootstrapping a fresh index when the setup says so) and answers.
pub fn ask(setup: &Setup, req: &AskRequest, progress: &dyn Progress) -> Result<AskResult> {
    check_query(&req.question)?;
    Session::open(setup, progress)?.ask(req)
}

/// Opens a session and writes a generated, citation-checked answer.
pub fn ask_generated(
    setup: &Setup,
    req: &AskRequest,
    llm: Option<&Path>,
    on_piece: &mut dyn FnMut(&str),
    progress: &dyn Progress,
) -> Result<GeneratedResult> {
    check_query(&req.question)?;
    Session::open(setup, progress)?.ask_generated(req, llm, on_piece, progress)
}

/// Refuses an empty query before anything is loaded.
fn check_query(q: &str) -> Result<()> {
    if q.trim().is_empty() {
        return Err(Error::EmptyQuery);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Eval

/// A pass mark on recall@k of the first mode, written `K:X` (`10:0.9`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RecallGate {
    pub k: usize,
    pub at_least: f64,
}

impl FromStr for RecallGate {
    type Err = Error;
    fn from_str(s: &str) -> Result<RecallGate> {
        let bad = || Error::InvalidOption {
            name: "recall gate",
            detail: format!("`{s}` is not K:X with K one of 1, 3, 5, 10 and X a number, e.g. 10:0.9"),
        };
        let (k, x) = s.split_once(':').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let at_least: f64 = x.trim().parse().map_err(|_| bad())?;
        if ![1, 3, 5, 10].contains(&k) || !at_least.is_finite() {
            return Err(bad());
        }
        Ok(RecallGate { k, at_least })
    }
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    /// A JSONL query file (run against `setup.index`) or a SQuAD JSON file (its contexts
    /// become a corpus of their own).
    pub file: PathBuf,
    pub modes: Vec<Mode>,
    /// Also score the extractive answers.
    pub answers: bool,
    pub min_ndcg: Option<f64>,
    pub min_recall: Option<RecallGate>,
    /// SQuAD: keep only the first N questions.
    pub limit: Option<usize>,
    /// SQuAD: language of the questions; default `fr` for files named `piaf*`, else `en`.
    pub lang: Option<String>,
    /// SQuAD: build (or reuse) the corpus index here instead of a temporary directory.
    pub corpus_index: Option<PathBuf>,
    /// Judge ranked chunks instead of articles.
    pub level: Level,
    /// Score only the even- or odd-numbered questions.
    pub split: Option<eval_run::Split>,
    /// SQuAD: leave this share of the contexts out of the corpus, so their questions become
    /// on-topic but unanswerable (the other paragraphs of the same article stay): a SQuAD
    /// 2.0-style set for measuring abstention. The choice is a fixed hash of each context.
    pub drop_gold: Option<f64>,
    /// Write every candidate answer sentence's features and label here (JSONL).
    pub dump_answer_features: Option<PathBuf>,
    /// Write each answerable question's answerability inputs here (JSONL), with its gold
    /// paragraph and again without it, for `examples/train_answerability.rs`.
    pub dump_answerability: Option<PathBuf>,
}

/// The corpus built from a SQuAD file.
#[derive(Debug, Clone, Serialize)]
pub struct SquadCorpus {
    pub contexts: usize,
    pub questions: usize,
    /// Answers of those questions, and how many had an `answer_start` that did not point at
    /// their text: moved to where the text occurs, or not in the context at all.
    pub answers: usize,
    pub fixed_offsets: usize,
    pub unmatched_answers: usize,
    pub chunks: usize,
    pub ingest_seconds: f64,
    pub chunks_per_second: f64,
}

/// An evaluation and its gates: `sourcier eval --json FILE` writes `report`.
#[derive(Debug, Clone, Serialize)]
pub struct EvalOutcome {
    pub report: EvalReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corpus: Option<SquadCorpus>,
    /// Lines skipped and references to unknown articles, one sentence each.
    pub warnings: Vec<String>,
    /// Gates that failed, one sentence each; empty when all passed.
    pub gate_failures: Vec<String>,
}

/// At most this share of a query file's lines may be unusable; beyond it the file is
/// refused, since a score over the few lines left would mislead.
const MAX_BAD_LINE_SHARE: f64 = 0.5;

/// Runs a query file against the index, or a SQuAD file against its own corpus.
pub fn eval(setup: &Setup, req: &EvalRequest, progress: &dyn Progress) -> Result<EvalOutcome> {
    if req.modes.is_empty() {
        return Err(Error::InvalidOption {
            name: "modes",
            detail: "no retrieval mode to evaluate: name dense, lexical or hybrid".into(),
        });
    }
    if let Some(share) = req.drop_gold
        && !(0.0..=1.0).contains(&share)
    {
        return Err(Error::InvalidOption {
            name: "drop-gold",
            detail: format!("{share} is not a share between 0 and 1"),
        });
    }
    let text = std::fs::read_to_string(&req.file).map_err(Error::io("reading", &req.file))?;
    let mut warnings = Vec::new();
    let mut warn = |msg: String| {
        progress.note(&format!("warning: {msg}"));
        warnings.push(msg);
    };
    let _tmp;
    let mut corpus = None;
    let (lib, queries, prefix, embedder) = if is_squad(&text) {
        let lang = match &req.lang {
            Some(l) => crate::lang::normalize(l).ok_or_else(|| Error::InvalidOption {
                name: "language",
                detail: format!("`{l}` is not a language sourcier knows; use fr or en"),
            })?,
            None if req.file.to_string_lossy().to_lowercase().contains("piaf") => "fr".into(),
            None => "en".into(),
        };
        let set = input::parse_squad(&text, req.limit, &lang).map_err(|detail| Error::Parse {
            path: req.file.clone(),
            detail,
        })?;
        for p in &set.problems {
            warn(format!("{}: {p}", req.file.display()));
        }
        // One line however many: PIAF-sized files can hold thousands of shifted offsets.
        if let Some(summary) = set.bad_answer_summary() {
            warn(format!("{}: {summary}", req.file.display()));
        }
        let dir = match &req.corpus_index {
            Some(d) => d.clone(),
            None => {
                _tmp = tempfile::tempdir()
                    .map_err(Error::io("creating a temporary directory in", std::env::temp_dir()))?;
                _tmp.path().to_path_buf()
            }
        };
        let corpus_dir = dir.join("corpus");
        crate::fsx::create_dir_private(&corpus_dir)?;
        let corpus_file = corpus_dir.join("corpus.jsonl");
        let dropped: HashSet<&str> = match req.drop_gold {
            Some(share) => set
                .docs
                .iter()
                .filter(|d| drop_context(&d.text, share))
                .map(|d| d.id.as_str())
                .collect(),
            None => HashSet::new(),
        };
        let mut lines = String::new();
        for d in set.docs.iter().filter(|d| !dropped.contains(d.id.as_str())) {
            let rec = serde_json::json!({ "id": d.id, "title": d.title, "text": d.text, "lang": lang });
            lines.push_str(&rec.to_string());
            lines.push('\n');
        }
        crate::fsx::write_atomic(&corpus_file, lines.as_bytes())?;
        // A corpus index kept from an earlier run is updated with the embedder that built it.
        let existing = match &setup.database {
            Some(url) => open_pg_manifest(url)?,
            None => library::read_manifest(&dir.join("index"))?,
        };
        let embedder = setup.load_embedder(existing.as_ref(), progress)?;
        // With a database, the corpus goes there (its own schema or database is the caller's
        // to choose); else into an embedded index beside the corpus file.
        let mut writer = match &setup.database {
            Some(url) => open_pg_ingest(url, new_manifest(embedder.as_ref()))?,
            None => Box::new(Library::open_for_ingest(
                &dir.join("index"),
                new_manifest(embedder.as_ref()),
            )?),
        };
        let report = ingest::ingest(
            writer.as_mut(),
            embedder.as_ref(),
            &[corpus_file],
            &IngestOptions {
                prune: true,
                // Answers would embed the same sentences; retrieval-only runs skip them.
                search_only: !req.answers,
                ..IngestOptions::default()
            },
            progress,
        )?;
        corpus = Some(SquadCorpus {
            contexts: set.docs.len(),
            questions: set.queries.len(),
            answers: set.stats.answers,
            fixed_offsets: set.stats.fixed_offsets,
            unmatched_answers: set.stats.unmatched_answers,
            chunks: report.chunks,
            ingest_seconds: report.seconds,
            chunks_per_second: report.chunks_per_second(),
        });
        drop(writer);
        let lib = match &setup.database {
            Some(url) => open_pg(url)?,
            // The writable open keeps the sentence cache filling across modes.
            None => OpenIndex::Embedded(Library::open_for_update(&dir.join("index"))?),
        };
        let mut queries = set.to_query_set().queries;
        for q in &mut queries {
            if !q.relevant.is_empty() && q.relevant.keys().all(|id| dropped.contains(id.as_str())) {
                q.relevant.clear();
                q.answers.clear();
                q.answer_spans.clear();
            }
        }
        (lib, queries, "corpus.jsonl#".to_string(), embedder)
    } else {
        let set = input::parse_jsonl(&text);
        for p in &set.problems {
            warn(format!("{}:{p}", req.file.display()));
        }
        let used = set.queries.len() + set.problems.len();
        if !set.problems.is_empty() && set.problems.len() as f64 > used as f64 * MAX_BAD_LINE_SHARE {
            let first = &set.problems[0];
            return Err(Error::BadInput {
                path: req.file.clone(),
                line: first.line,
                detail: format!(
                    "{} of {used} query lines are unusable ({}); fix the file before scoring it",
                    set.problems.len(),
                    first.detail
                ),
            });
        }
        // Eval keeps its sentence-vector cache in the index, so it opens it writable.
        bootstrap(setup, progress)?;
        let lib = match &setup.database {
            Some(url) => open_pg(url)?,
            None => OpenIndex::Embedded(Library::open_for_update(&setup.index)?),
        };
        let known: HashSet<String> = lib.backend().article_ids()?.into_iter().collect();
        for q in &set.queries {
            for id in q.relevant.keys().filter(|id| !known.contains(*id)) {
                warn(format!(
                    "query {} names article `{id}`, which is not in the index",
                    q.id
                ));
            }
        }
        let embedder = setup.load_embedder(Some(lib.backend().manifest()), progress)?;
        (lib, set.queries, String::new(), embedder)
    };
    if queries.is_empty() {
        return Err(Error::EmptyInput {
            path: req.file.clone(),
            what: "query",
        });
    }
    let opts = eval_run::EvalOptions {
        modes: req.modes.clone(),
        depth: 10,
        answers: req.answers,
        id_prefix: prefix,
        level: req.level,
        split: req.split,
        dump_answer_features: req.dump_answer_features.clone(),
        dump_answerability: req.dump_answerability.clone(),
    };
    let report = eval_run::run(lib.backend(), embedder.as_ref(), &queries, &opts, progress)?;
    let gate_failures = gates(&report, req);
    Ok(EvalOutcome {
        report,
        corpus,
        warnings,
        gate_failures,
    })
}

/// Whether a context is left out by `drop_gold`: a fixed hash of its text, so the same
/// contexts go on every machine and run.
fn drop_context(text: &str, share: f64) -> bool {
    let h = crc32fast::hash(text.as_bytes());
    (h % 10_000) as f64 / 10_000.0 < share
}

/// A SQuAD file is one JSON object with a `data` array of articles holding `paragraphs`.
fn is_squad(text: &str) -> bool {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if !t.starts_with('{') {
        return false;
    }
    match serde_json::from_str::<serde_json::Value>(t) {
        Ok(v) => v["data"]
            .as_array()
            .is_some_and(|d| d.iter().any(|a| a.get("paragraphs").is_some())),
        // A first line that is a whole JSON object makes a query file (JSONL); a document
        // whose first line is not is a pretty-printed or broken SQuAD file, which the SQuAD
        // parser reports with its position.
        Err(_) => {
            let first = t.lines().next().unwrap_or_default();
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(first).is_err()
        }
    }
}

/// The gates of `req` that the first mode of `report` fails.
fn gates(report: &EvalReport, req: &EvalRequest) -> Vec<String> {
    let mut failed = Vec::new();
    let Some(first) = report.modes.first() else {
        return failed;
    };
    let mean = first.retrieval.overall.mean;
    if let Some(x) = req.min_ndcg {
        let got = mean.map(|m| m.ndcg_at_10).unwrap_or(0.0);
        if got < x {
            failed.push(format!("nDCG@10 of {} is {got:.3} < {x}", first.mode.as_str()));
        }
    }
    if let Some(g) = req.min_recall {
        let got = mean
            .map(|m| match g.k {
                1 => m.recall_at_1,
                3 => m.recall_at_3,
                5 => m.recall_at_5,
                _ => m.recall_at_10,
            })
            .unwrap_or(0.0);
        if got < g.at_least {
            failed.push(format!(
                "recall@{} of {} is {got:.3} < {}",
                g.k,
                first.mode.as_str(),
                g.at_least
            ));
        }
    }
    failed
}

// ---------------------------------------------------------------------------------------------
// Index and model maintenance

/// `sourcier index stats --json`.
#[derive(Debug, Clone, Serialize)]
pub struct IndexStats {
    /// The index directory, or the database URL without its password.
    pub index: String,
    pub manifest: IndexManifest,
    pub stats: StoreStats,
    /// Size on disk of the index directory.
    pub bytes: u64,
}

/// What is in the index.
pub fn index_stats(setup: &Setup) -> Result<IndexStats> {
    let lib = setup.open_index()?;
    let b = lib.backend();
    Ok(IndexStats {
        index: setup.location(),
        stats: b.stats()?,
        bytes: b.disk_size()?,
        manifest: b.manifest().clone(),
    })
}

/// `sourcier index rebuild`.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub index: String,
    /// Stored chunks the HNSW and BM25 indexes were rebuilt from.
    pub chunks: usize,
}

/// Rebuilds the derived indexes (HNSW, BM25) from the stored chunks, without re-embedding.
pub fn index_rebuild(setup: &Setup, progress: &dyn Progress) -> Result<RebuildReport> {
    let chunks = match setup.open_index()? {
        OpenIndex::Embedded(_) => {
            let mut lib = Library::open_for_update(&setup.index)?;
            let chunks = lib.rebuild_vectors(progress)?;
            lib.rebuild_lexical(progress)?;
            chunks
        }
        #[cfg(feature = "postgres")]
        OpenIndex::Postgres(p) => p.rebuild(progress)?,
    };
    Ok(RebuildReport {
        index: setup.location(),
        chunks,
    })
}

/// `sourcier index migrate --json`.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub from: String,
    pub to: String,
    pub articles: usize,
    pub chunks: usize,
    pub seconds: f64,
}

/// Copies every article, chunk, embedding and article text of the index at `from` into the
/// one at `to` (created with `from`'s manifest when missing), without re-embedding: the
/// embedded index to PostgreSQL or the other way round. Articles already in `to` with the
/// same content hash are skipped, so an interrupted copy resumes.
pub fn index_migrate(from: &Setup, to: &Setup, progress: &dyn Progress) -> Result<MigrateReport> {
    let t0 = Instant::now();
    if from.location() == to.location() {
        return Err(Error::InvalidOption {
            name: "migrate",
            detail: format!(
                "the source and the destination are the same index ({})",
                from.location()
            ),
        });
    }
    let source = from.open_index()?;
    let src = source.backend();
    let mut dest = to.open_for_ingest(src.manifest().clone())?;
    let ids = src.article_ids()?;
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let present = dest.article_hashes(&id_refs)?;
    progress.start("copying articles", Some(ids.len() as u64));
    let (mut articles, mut chunks) = (0, 0);
    for id in &ids {
        let Some((row, text)) = src.article(id)? else {
            progress.inc(1);
            continue;
        };
        if present.get(id) == Some(&row.hash) {
            progress.inc(1);
            continue;
        }
        let rows = src.article_chunks(id)?;
        let chunk_ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
        let mut vectors = src.embeddings(&chunk_ids)?;
        let mut new = Vec::with_capacity(rows.len());
        for c in rows {
            let embedding = vectors.remove(&c.id).ok_or_else(|| Error::Corrupt {
                path: from.location().into(),
                detail: format!("chunk {} of {id} has no stored embedding", c.id),
            })?;
            new.push(crate::store::NewChunk {
                ordinal: c.ordinal,
                text: c.text,
                start: c.start,
                end: c.end,
                line_start: c.line_start,
                line_end: c.line_end,
                embedding,
            });
        }
        dest.replace_article(&row, &new)?;
        if let Some(t) = &text {
            dest.put_article_texts(&[(id.as_str(), t)], true)?;
        }
        articles += 1;
        chunks += new.len();
        progress.inc(1);
    }
    progress.finish();
    dest.commit(progress)?;
    Ok(MigrateReport {
        from: from.location(),
        to: to.location(),
        articles,
        chunks,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The known models and where each stands.
pub fn model_list(setup: &Setup) -> Vec<ModelInfo> {
    models::list(&setup.paths)
}

/// `sourcier model fetch`.
#[derive(Debug, Clone, Serialize)]
pub struct FetchReport {
    pub name: String,
    pub dir: PathBuf,
}

/// Downloads, assembles, verifies and installs a model.
pub fn model_fetch(setup: &Setup, name: &str, progress: &dyn Progress) -> Result<FetchReport> {
    let m = models::manifest(name)?;
    let dir = models::fetch(&setup.paths, &m, progress)?;
    Ok(FetchReport { name: m.name, dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_gates_parse_and_refuse() {
        assert_eq!(
            "10:0.9".parse::<RecallGate>().unwrap(),
            RecallGate { k: 10, at_least: 0.9 }
        );
        for bad in ["10", "7:0.5", "10:x", ":0.5", "10:NaN", ""] {
            assert!(bad.parse::<RecallGate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn squad_is_told_from_jsonl() {
        assert!(is_squad(
            r#"{"version": "1", "data": [{"title": "t", "paragraphs": []}]}"#
        ));
        assert!(!is_squad(
            "{\"id\": \"q1\", \"query\": \"data paragraphs\", \"relevant\": []}\n{\"id\": \"q2\"}"
        ));
        assert!(!is_squad(
            "{\"id\": \"q1\", \"query\": \"\\\"data\\\" \\\"paragraphs\\\"\", \"relevant\": []}"
        ));
        assert!(is_squad("{\"data\": [ broken"));
        assert!(is_squad("{\n  \"data\": [ broken"));
        assert!(!is_squad(
            "{\"id\": \"ok\", \"query\": \"q\", \"relevant\": []}\nnot json\n"
        ));
        assert!(!is_squad(""));
    }

    #[test]
    fn embedder_choice_parses() {
        assert_eq!("hashing".parse::<EmbedderChoice>().unwrap(), EmbedderChoice::Hashing);
        assert_eq!("".parse::<EmbedderChoice>().unwrap(), EmbedderChoice::Default);
        assert_eq!(
            "models/x".parse::<EmbedderChoice>().unwrap(),
            EmbedderChoice::Local("models/x".into())
        );
    }
}
