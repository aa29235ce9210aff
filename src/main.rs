//! The `sourcier` command: parses arguments, sets up logging and progress bars, and calls the
//! library. Results go to stdout; logs, progress and notices go to stderr.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use sourcier::embed::{self, Embedder};
use sourcier::ingest::{self, IngestOptions};
use sourcier::library::{self, IndexManifest, Library};
use sourcier::models::{self, Paths};
use sourcier::progress::Progress;
use sourcier::retrieve;

#[derive(Parser)]
#[command(name = "sourcier", version, about = "Local, offline retrieval over your articles, in French and English")]
struct Cli {
    /// Index directory.
    #[arg(long, global = true, env = "SOURCIER_INDEX", default_value = "index")]
    index: PathBuf,
    /// Use a local sentence-transformers model folder instead of the default embedder.
    #[arg(long, global = true, value_name = "PATH")]
    model: Option<PathBuf>,
    /// Matryoshka dimension of the embeddings (768, 512, 256 or 128).
    #[arg(long, global = true)]
    dims: Option<usize>,
    /// No progress bars.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More logs on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Add files and folders of articles (.txt, .md, .html, .jsonl) to the index.
    Ingest {
        /// Files or folders, read recursively.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Drop articles whose files are gone or no longer contain them.
        #[arg(long)]
        prune: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search the index by meaning.
    Search {
        /// What to look for, in French or English.
        query: String,
        /// Number of results.
        #[arg(short, default_value_t = 10)]
        k: usize,
        /// Print results as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        filters: FilterArgs,
    },
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
struct FilterArgs {
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
    fn to_filters(&self) -> Result<retrieve::Filters> {
        let source = self
            .source
            .as_deref()
            .map(glob::Pattern::new)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--source is not a valid glob ({e}); use e.g. --source 'news/*.txt'"))?;
        for d in [&self.since, &self.until].into_iter().flatten() {
            let ok = d.len() >= 4 && d.chars().all(|c| c.is_ascii_digit() || c == '-');
            anyhow::ensure!(ok, "`{d}` is not a date: use YYYY, YYYY-MM or YYYY-MM-DD");
        }
        Ok(retrieve::Filters {
            lang: self.lang.as_ref().map(|l| l.to_lowercase()),
            since: self.since.clone(),
            until: self.until.clone(),
            source,
        })
    }
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Articles, chunks, languages, model, dims and size on disk.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the HNSW index from the stored embeddings (no re-embedding).
    Rebuild,
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Download, assemble, verify and install a model.
    Fetch {
        /// Model name (see `sourcier model list`).
        #[arg(default_value = models::DEFAULT_EMBEDDER)]
        name: String,
    },
    /// Show the known models and where each stands.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// Draws library progress with indicatif on stderr; silent when quiet or not a terminal.
struct Bars {
    bar: ProgressBar,
    enabled: bool,
}

impl Bars {
    fn new(quiet: bool) -> Bars {
        let enabled = !quiet && std::io::stderr().is_terminal();
        let bar = ProgressBar::hidden();
        if enabled {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Bars { bar, enabled }
    }
}

impl Progress for Bars {
    fn start(&self, what: &str, total: Option<u64>) {
        if !self.enabled {
            return;
        }
        self.bar.reset();
        match total {
            Some(n) => {
                self.bar.set_length(n);
                let style = if what.starts_with("assembling") || what.starts_with("verifying") {
                    "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}"
                } else {
                    "{msg} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}"
                };
                self.bar.set_style(ProgressStyle::with_template(style).expect("valid template").progress_chars("=> "));
            }
            None => {
                self.bar.set_style(ProgressStyle::with_template("{spinner} {msg} {pos} {per_sec}").expect("valid template"));
                self.bar.enable_steady_tick(Duration::from_millis(120));
            }
        }
        self.bar.set_message(what.to_string());
    }
    fn inc(&self, n: u64) {
        self.bar.inc(n);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
    fn note(&self, msg: &str) {
        self.bar.suspend(|| eprintln!("{msg}"));
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SOURCIER_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// A stored (absolute) source path, relative to the working directory when it lies below it.
fn display_path(p: &str) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| std::path::Path::new(p).strip_prefix(cwd).ok().map(|r| r.display().to_string()))
        .unwrap_or_else(|| p.to_string())
}

/// Loads the embedder: `--model PATH`, or the default model (fetched on first use).
fn load_embedder(cli: &Cli, paths: &Paths, dims: Option<usize>, bars: &Bars) -> Result<Box<dyn Embedder>> {
    let spec = embed::resolve(paths, cli.model.as_deref(), dims, bars)?;
    Ok(embed::load(&spec)?)
}

fn run(cli: Cli) -> Result<std::process::ExitCode> {
    let models_paths = Paths::from_env();
    let paths = &models_paths;
    let bars = Bars::new(cli.quiet);
    match cli.command {
        Command::Ingest { ref paths, prune, json } => {
            let existing = library::read_manifest(&cli.index)?;
            let dims = cli.dims.or(existing.as_ref().map(|m| m.dims));
            let embedder = load_embedder(&cli, &models_paths, dims, &bars)?;
            let manifest = IndexManifest {
                format_version: library::FORMAT_VERSION,
                embedder: embedder.name(),
                embedder_fingerprint: embedder.fingerprint(),
                dims: embedder.dims(),
                chunk_tokens: library::DEFAULT_CHUNK_TOKENS,
                overlap_sentences: 1,
            };
            let mut lib = Library::open_for_ingest(&cli.index, manifest)?;
            let report = ingest::ingest(&mut lib, embedder.as_ref(), paths, &IngestOptions { prune }, &bars)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} files, {} articles: {} added, {} updated, {} unchanged, {} pruned; {} chunks embedded in {:.1}s ({:.1} chunks/s)",
                    report.files,
                    report.articles,
                    report.added,
                    report.updated,
                    report.unchanged,
                    report.pruned,
                    report.chunks,
                    report.seconds,
                    report.chunks_per_second()
                );
                if report.skipped_files + report.warnings > 0 {
                    println!("{} skipped, {} warnings (details above on stderr)", report.skipped_files, report.warnings);
                }
            }
        }
        Command::Search { ref query, k, json, ref filters } => {
            let filters = filters.to_filters()?;
            if query.trim().is_empty() {
                anyhow::bail!("the query is empty: type what you are looking for, e.g. sourcier search \"Huawei IBM consultants\"");
            }
            let mut lib = Library::open(&cli.index)?;
            let dims = cli.dims.or(Some(lib.manifest.dims));
            let embedder = load_embedder(&cli, &models_paths, dims, &bars)?;
            let (hits, timings) = retrieve::search(&mut lib, embedder.as_ref(), query, k, &filters)?;
            if json {
                let out = serde_json::json!({ "query": query, "hits": hits, "timings": timings });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if hits.is_empty() {
                println!("no results{}", if filters.is_empty() { "" } else { " (try removing filters)" });
            } else {
                for h in &hits {
                    println!(
                        "{:>2}. {:.3}  {}{}\n    {}:{}-{}\n    {}",
                        h.rank,
                        h.score,
                        h.title.as_deref().unwrap_or(&h.article_id),
                        h.date.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
                        display_path(&h.path),
                        h.line_start,
                        h.line_end,
                        h.snippet
                    );
                }
            }
        }
        Command::Index { command } => match command {
            IndexCommand::Stats { json } => {
                let lib = Library::open(&cli.index)?;
                let stats = lib.store.stats()?;
                let size = lib.disk_size();
                if json {
                    let out = serde_json::json!({ "index": cli.index, "manifest": lib.manifest, "stats": stats, "bytes": size });
                    println!("{}", serde_json::to_string_pretty(&out)?);
                } else {
                    let langs: Vec<String> = stats
                        .languages
                        .iter()
                        .map(|(l, n)| format!("{} {n}", l.as_deref().unwrap_or("unknown")))
                        .collect();
                    println!("index      {}", cli.index.display());
                    println!("articles   {}", stats.articles);
                    println!("chunks     {}", stats.chunks);
                    println!("languages  {}", langs.join(", "));
                    println!("model      {} (fingerprint {})", lib.manifest.embedder, lib.manifest.embedder_fingerprint);
                    println!("dims       {}", lib.manifest.dims);
                    println!("chunking   {} tokens, {} sentence overlap", lib.manifest.chunk_tokens, lib.manifest.overlap_sentences);
                    println!("disk       {:.1} MB", size as f64 / 1e6);
                }
            }
            IndexCommand::Rebuild => {
                let mut lib = Library::open(&cli.index)?;
                let n = lib.rebuild_vectors(&bars)?;
                println!("rebuilt the HNSW index of {} from {n} stored vectors", cli.index.display());
            }
        },
        Command::Model { command } => match command {
            ModelCommand::Fetch { name } => {
                let m = models::manifest(&name)?;
                let dir = models::fetch(paths, &m, &bars)?;
                println!("{} installed in {}", m.name, dir.display());
            }
            ModelCommand::List { json } => {
                let list = models::list(paths);
                if json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else {
                    println!("{:<24} {:<10} {:>9}  {:<14} {}", "NAME", "KIND", "SIZE", "STATE", "PATH");
                    for m in list {
                        println!(
                            "{:<24} {:<10} {:>7.0}MB  {:<14} {}",
                            m.name,
                            m.kind,
                            m.size as f64 / 1e6,
                            m.state.split(':').next().unwrap_or(""),
                            m.path.display()
                        );
                    }
                }
            }
        },
    }
    Ok(std::process::ExitCode::SUCCESS)
}
