//! The command line: every flag and subcommand, parsed by clap into requests of the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use sourcier::app::{EmbedderChoice, Setup};
use sourcier::models::{self, Paths};
use sourcier::retrieve::{Filters, Mode};

#[derive(Parser)]
#[command(
    name = "sourcier",
    version,
    about = "Local, offline retrieval over your articles, in French and English"
)]
pub struct Cli {
    /// Index directory.
    #[arg(long, global = true, env = "SOURCIER_INDEX", default_value = "index")]
    pub index: PathBuf,
    /// Keep the index on a PostgreSQL server with pgvector instead of in --index, e.g.
    /// postgres://user@host/db (add ?sslmode=require for TLS).
    #[arg(
        long,
        global = true,
        env = "SOURCIER_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub backend: Option<String>,
    /// Use a local sentence-transformers model folder instead of the default embedder.
    #[arg(long, global = true, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// `default`, or `hashing`: a deterministic embedder without a model, for tests and dry
    /// runs (it matches words, not meaning).
    #[arg(
        long,
        global = true,
        env = "SOURCIER_EMBEDDER",
        default_value = "default",
        hide = true
    )]
    pub embedder: String,
    /// Matryoshka dimension of the embeddings (768, 512, 256 or 128).
    #[arg(long, global = true)]
    pub dims: Option<usize>,
    /// Arithmetic of the embedding model: `int8` (default for a new index: less memory,
    /// faster queries, vectors within 0.997 cosine) or `f32`. An existing index is opened with
    /// the precision that built it.
    #[arg(long, global = true, env = "SOURCIER_PRECISION", value_name = "f32|int8")]
    pub precision: Option<String>,
    /// No progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Bold the fact inside an answer: `auto` (when stdout is a terminal), `always` or `never`.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// More logs on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// When to style the text output.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl Cli {
    /// Whether text output may carry terminal styles. `NO_COLOR` turns them off in auto mode.
    pub fn styled(&self) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout())
            }
        }
    }

    /// Where the index and models are, from the global flags. The default `index/` of a fresh
    /// clone is filled from the bundled `examples/articles` on first `ask`.
    pub fn setup(&self) -> anyhow::Result<Setup> {
        let embedder = match &self.model {
            Some(dir) => EmbedderChoice::Local(dir.clone()),
            None => self.embedder.parse()?,
        };
        let bundled = std::path::Path::new("examples/articles");
        let bootstrap =
            (self.index == std::path::Path::new("index") && bundled.is_dir()).then(|| bundled.to_path_buf());
        if let Some(b) = &self.backend
            && !b.trim().is_empty()
            && !sourcier::pg::is_url(b)
        {
            anyhow::bail!(
                "--backend takes a PostgreSQL URL (postgres://user@host/db); for an index directory use --index"
            );
        }
        // A URL given as a directory would otherwise become a folder named `postgres:`.
        if sourcier::pg::is_url(&self.index.to_string_lossy()) {
            anyhow::bail!(
                "--index takes an index directory; for a PostgreSQL server pass the URL with --backend (or SOURCIER_DATABASE_URL)"
            );
        }
        Ok(Setup {
            index: self.index.clone(),
            embedder,
            dims: self.dims,
            precision: self.precision.as_deref().map(str::parse).transpose()?,
            paths: Paths::from_env(),
            bootstrap,
            database: self.backend.clone().filter(|b| !b.trim().is_empty()),
        })
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Add files and folders of articles (.txt, .md, .html, .jsonl) to the index.
    Ingest {
        /// Files or folders, read recursively.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Drop articles whose files are gone or no longer contain them.
        #[arg(long)]
        prune: bool,
        /// Follow symbolic links that lead out of the given folders (by default they are
        /// skipped and listed).
        #[arg(long)]
        follow: bool,
        /// Skip the answer sentences: ingest embeds about half as much, search is the same,
        /// and each `ask` then embeds its passages' sentences itself (about a second).
        #[arg(long)]
        search_only: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search the index by meaning.
    Search {
        /// What to look for, in French or English.
        query: String,
        /// Number of results.
        #[arg(short, default_value_t = 10, value_parser = positive)]
        k: usize,
        /// Retrieval mode: dense, lexical or hybrid (dense fused with BM25 at weight 0.3, the
        /// best measured on PIAF, XQuAD and the sample queries).
        #[arg(long, default_value = "hybrid")]
        mode: Mode,
        /// Print results as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Answer a question from the indexed articles, citing every sentence.
    Ask {
        /// The question, in French or English.
        question: String,
        /// Retrieval mode: dense, lexical or hybrid (dense fused with BM25 at weight 0.3, the
        /// best measured on PIAF, XQuAD and the sample queries).
        #[arg(long, default_value = "hybrid")]
        mode: Mode,
        /// Passages retrieved.
        #[arg(short, default_value_t = 8, value_parser = positive)]
        k: usize,
        /// Print the answer, citations, passages and timings as JSON.
        #[arg(long)]
        json: bool,
        /// Write a fluent answer with a local language model (streamed), then check its citations.
        #[arg(long)]
        generate: bool,
        /// The GGUF model for --generate (qwen2, llama or gemma3); default: the bundled Qwen2.5 0.5B.
        #[arg(long, value_name = "PATH.gguf")]
        llm: Option<PathBuf>,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Measure retrieval (and answer) quality on a query set.
    Eval {
        /// A JSONL query file (run against --index), or a SQuAD JSON file such as PIAF or
        /// XQuAD (its contexts become a corpus of their own).
        file: PathBuf,
        /// Modes to compare, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "dense,lexical,hybrid")]
        modes: Vec<Mode>,
        /// Also score the extractive answers: answer hit rate, citation precision, abstention.
        #[arg(long)]
        answers: bool,
        /// Write the full report (per query and aggregated) to this JSON file.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Fail (exit code 1) when nDCG@10 of the first mode is below this.
        #[arg(long, value_name = "X")]
        min_ndcg: Option<f64>,
        /// Fail (exit code 1) when recall@K of the first mode is below X, e.g. 10:0.9.
        #[arg(long, value_name = "K:X")]
        min_recall: Option<sourcier::app::RecallGate>,
        /// SQuAD: keep only the first N questions (and the articles they come from).
        #[arg(long)]
        limit: Option<usize>,
        /// SQuAD: language of the questions (default: fr for files named piaf*, en otherwise).
        #[arg(long)]
        lang: Option<String>,
        /// SQuAD: build (or reuse) the corpus index here instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        corpus_index: Option<PathBuf>,
        /// Judge ranked chunks instead of articles: a chunk is relevant when it holds a gold
        /// answer (overlaps its span in SQuAD; contains an `answers` string in JSONL).
        #[arg(long)]
        chunk_level: bool,
        /// Score only the even- or odd-numbered questions (tune on one half, report the other),
        /// R/M: those numbered R modulo M, or R,S/M: those numbered R or S modulo M.
        #[arg(long, value_name = "even|odd|R/M")]
        split: Option<sourcier::eval::run::Split>,
        /// SQuAD: leave this share (0-1) of the contexts out of the corpus so that their
        /// questions are on topic but unanswerable, to measure abstention.
        #[arg(long, value_name = "SHARE")]
        drop_gold: Option<f64>,
        /// Write each candidate answer sentence's features and label to FILE (JSONL), for
        /// `examples/train_answer_scorer.rs`.
        #[arg(long, value_name = "FILE", hide = true)]
        dump_answer_features: Option<PathBuf>,
        /// Write each answerable question's answerability inputs to FILE (JSONL), with its
        /// gold paragraph and without it, for `examples/train_answerability.rs`.
        #[arg(long, value_name = "FILE", hide = true)]
        dump_answerability: Option<PathBuf>,
    },
    /// Serve the HTTP API and the web page (open the printed address in a browser).
    Serve(ServeArgs),
    /// Inspect or rebuild the index.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Manage the local models.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

#[derive(clap::Args)]
pub struct FilterArgs {
    /// Only articles in this language (ISO 639-1, e.g. fr, en).
    #[arg(long)]
    lang: Option<String>,
    /// Only articles dated on or after this date (2025, 2025-04, 2025-04-12).
    #[arg(long)]
    since: Option<String>,
    /// Only articles dated on or before this date.
    #[arg(long)]
    until: Option<String>,
    /// Only articles whose id or path matches this glob.
    #[arg(long, value_name = "GLOB")]
    source: Option<String>,
}

impl FilterArgs {
    pub fn to_filters(&self) -> sourcier::Result<Filters> {
        Filters::parse(
            self.lang.as_deref(),
            self.since.as_deref(),
            self.until.as_deref(),
            self.source.as_deref(),
        )
    }
}

#[derive(Subcommand)]
pub enum IndexCommand {
    /// Articles, chunks, languages, model, dims and size on disk.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the HNSW index from the stored embeddings (no re-embedding).
    Rebuild {
        #[arg(long)]
        json: bool,
    },
    /// Copy an index to another backend without re-embedding: an index directory to a
    /// PostgreSQL URL, or the other way round.
    Migrate {
        /// The index to copy: a directory or a postgres:// URL.
        #[arg(long, value_name = "DIR|URL")]
        from: String,
        /// Where to copy it: a directory or a postgres:// URL.
        #[arg(long, value_name = "DIR|URL")]
        to: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Download, assemble, verify and install a model.
    Fetch {
        /// Model name (see `sourcier model list`).
        #[arg(default_value = models::DEFAULT_EMBEDDER)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Show the known models and where each stands.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// A count of at least 1 (`-k 0` would ask for nothing and silently print nothing).
fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub addr: std::net::SocketAddr,
    /// Bearer token every API call must carry.
    #[arg(long, env = "SOURCIER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Allow API calls from this web origin (CORS), e.g. https://intranet.example.
    #[arg(long, value_name = "ORIGIN")]
    pub cors: Option<String>,
    /// Enable POST /api/ingest for folders below DIR (uploads are saved in DIR/uploads).
    #[arg(long, value_name = "DIR")]
    pub allow_ingest: Option<PathBuf>,
    /// Requests computed at once (default: one per core).
    #[arg(long, value_parser = positive)]
    pub workers: Option<usize>,
    /// Requests that may wait for a worker; beyond that the server answers 503.
    #[arg(long, default_value_t = 32)]
    pub queue: usize,
    /// The GGUF model for "generate": true (default: the bundled Qwen2.5 0.5B).
    #[arg(long, value_name = "PATH.gguf")]
    pub llm: Option<PathBuf>,
}

impl ServeArgs {
    /// The server's options; question text is logged only when `verbose`.
    pub fn options(self, verbose: bool) -> sourcier::server::ServeOptions {
        let mut o = sourcier::server::ServeOptions::new(self.addr);
        o.workers = self.workers.unwrap_or(o.workers);
        (o.token, o.cors, o.ingest_root, o.queue, o.llm) =
            (self.token, self.cors, self.allow_ingest, self.queue, self.llm);
        o.log_questions = verbose;
        o
    }
}
