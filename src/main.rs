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
use sourcier::{answer, retrieve};

#[derive(Parser)]
#[command(
    name = "sourcier",
    version,
    about = "Local, offline retrieval over your articles, in French and English"
)]
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
        /// Retrieval mode: dense, lexical or hybrid (dense fused with BM25 at weight 0.3, the
        /// best measured on PIAF, XQuAD and the sample queries).
        #[arg(long, default_value = "hybrid")]
        mode: retrieve::Mode,
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
        mode: retrieve::Mode,
        /// Passages retrieved.
        #[arg(short, default_value_t = 8)]
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
        modes: Vec<retrieve::Mode>,
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
        min_recall: Option<String>,
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
        Ok(retrieve::Filters::parse(
            self.lang.as_deref(),
            self.since.as_deref(),
            self.until.as_deref(),
            self.source.as_deref(),
        )?)
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
                self.bar.set_style(
                    ProgressStyle::with_template(style)
                        .expect("valid template")
                        .progress_chars("=> "),
                );
            }
            None => {
                self.bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} {pos} {per_sec}").expect("valid template"),
                );
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
    // Rust ignores SIGPIPE, so `sourcier search … | head -1` would panic in println!. Restore
    // the default action: a closed stdout ends the process quietly with status 141, like
    // other Unix filters.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SOURCIER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if let Some(hint) = e.downcast_ref::<sourcier::Error>().and_then(advice) {
                eprintln!("{hint}");
            }
            std::process::ExitCode::from(2)
        }
    }
}

/// What to do next, for the library errors whose remedy is a command or a flag.
fn advice(e: &sourcier::Error) -> Option<String> {
    use sourcier::Error as E;
    Some(match e {
        E::IndexMissing { .. } => {
            "run `sourcier ingest PATH` first (or pass --index DIR / set SOURCIER_INDEX)".to_string()
        }
        E::EmbedderMismatch { .. } => {
            "use the same --model/--dims as when it was built, or ingest into a new --index directory".to_string()
        }
        E::ChunkingMismatch { .. } => "ingest with the same settings, or into a new --index directory".to_string(),
        E::UnsupportedFormat { .. } => {
            "use the sourcier that built it, or delete the index directory and ingest again".to_string()
        }
        E::Corrupt { .. } => {
            "run `sourcier index rebuild`; if that fails, delete the index directory and ingest again".to_string()
        }
        E::ReadOnly { .. } => "make the index directory writable, or pass another --index".to_string(),
        _ => return None,
    })
}

/// Text from articles made safe for a terminal: control characters (ESC, CR, BS, …) would
/// let an article set the window title, clear the screen or hide text, so they are printed
/// escaped (`\u{1b}`). Newlines and tabs stay. `--json` escapes them on its own.
fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// A stored (absolute) source path, relative to the working directory when it lies below it.
fn display_path(p: &str) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            std::path::Path::new(p)
                .strip_prefix(cwd)
                .ok()
                .map(|r| r.display().to_string())
        })
        .unwrap_or_else(|| p.to_string())
}

/// Opens the index; on first use of the default `index/` with no index yet, ingests the
/// bundled `examples/articles` so that `ask` works on a fresh clone.
fn open_or_bootstrap(cli: &Cli, paths: &Paths, bars: &Bars) -> Result<Library> {
    let bundled = std::path::Path::new("examples/articles");
    if library::read_manifest(&cli.index)?.is_none() && cli.index == std::path::Path::new("index") && bundled.is_dir() {
        bars.note(&format!(
            "no index yet: ingesting the bundled articles of {} into {}",
            bundled.display(),
            cli.index.display()
        ));
        let embedder = load_embedder(cli, paths, cli.dims, bars)?;
        let mut lib = Library::open_for_ingest(&cli.index, new_manifest(embedder.as_ref()))?;
        ingest::ingest(
            &mut lib,
            embedder.as_ref(),
            &[bundled.to_path_buf()],
            &IngestOptions::default(),
            bars,
        )?;
        return Ok(lib);
    }
    Ok(Library::open(&cli.index)?)
}

/// Like [`open_or_bootstrap`], writable: `eval` keeps its sentence-vector cache in the index.
fn open_or_bootstrap_writable(cli: &Cli, paths: &Paths, bars: &Bars) -> Result<Library> {
    let lib = open_or_bootstrap(cli, paths, bars)?;
    if lib.is_writable() {
        return Ok(lib);
    }
    drop(lib);
    Ok(Library::open_for_update(&cli.index)?)
}

/// The manifest a new index gets with this embedder.
fn new_manifest(embedder: &dyn Embedder) -> IndexManifest {
    IndexManifest {
        format_version: library::FORMAT_VERSION,
        embedder: embedder.name(),
        embedder_fingerprint: embedder.fingerprint(),
        dims: embedder.dims(),
        chunk_tokens: library::DEFAULT_CHUNK_TOKENS,
        overlap_sentences: 1,
    }
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
            let mut lib = Library::open_for_ingest(&cli.index, new_manifest(embedder.as_ref()))?;
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
                    println!(
                        "{} skipped, {} warnings (details above on stderr)",
                        report.skipped_files, report.warnings
                    );
                }
            }
        }
        Command::Ask {
            ref question,
            mode,
            k,
            json,
            generate,
            ref llm,
            ref filters,
        } => {
            let filters = filters.to_filters()?;
            if question.trim().is_empty() {
                anyhow::bail!(
                    "the question is empty: ask something, e.g. sourcier ask \"Combien de consultants IBM envoie-t-il chez Huawei ?\""
                );
            }
            let lib = open_or_bootstrap(&cli, &models_paths, &bars)?;
            let dims = cli.dims.or(Some(lib.manifest.dims));
            let embedder = load_embedder(&cli, &models_paths, dims, &bars)?;
            let t = std::time::Instant::now();
            let r = retrieve::retrieve(&lib, embedder.as_ref(), question, k, &filters, mode)?;
            let ta = std::time::Instant::now();
            let opts = answer::AnswerOptions::default();
            if generate {
                let passages: Vec<&retrieve::Hit> = r.hits.iter().take(opts.passages).collect();
                let lang = answer::question_lang(question);
                if answer::should_abstain(&passages, answer::confidence(&passages), &opts) {
                    println!("{}", answer::abstention_message(lang));
                    return Ok(std::process::ExitCode::SUCCESS);
                }
                let gguf = match llm {
                    Some(p) => p.clone(),
                    None => models::ensure(&models_paths, models::DEFAULT_GENERATOR, &bars)?.join("model.gguf"),
                };
                let mut generator = sourcier::generate::Generator::load(&gguf)?;
                let (system, user) = answer::generation_prompt(question, lang, &passages);
                let mut out = std::io::stdout();
                let g = generator.chat(
                    &system,
                    &user,
                    &sourcier::generate::GenerateOptions::default(),
                    &mut |piece| {
                        use std::io::Write;
                        if !json {
                            let _ = write!(out, "{}", safe(piece));
                            let _ = out.flush();
                        }
                    },
                )?;
                let checks = answer::check_citations(&g.text, passages.len());
                let cited: std::collections::BTreeSet<usize> =
                    checks.iter().flat_map(|c| c.citations.iter().copied()).collect();
                if json {
                    let out = serde_json::json!({
                        "question": question, "mode": mode, "generated": g.text, "sentences": checks,
                        "passages": passages, "prompt_tokens": g.prompt_tokens, "generated_tokens": g.generated_tokens,
                        "timings": { "search_ms": r.timings.total_ms, "prompt_ms": g.prompt_ms, "generate_ms": g.generate_ms, "tokens_per_s": g.tokens_per_second() },
                    });
                    println!("{}", serde_json::to_string_pretty(&out)?);
                } else {
                    println!("\n");
                    for n in &cited {
                        let h = passages[n - 1];
                        println!(
                            "[{n}] {}{} — {}:{}-{}",
                            safe(h.title.as_deref().unwrap_or(&h.article_id)),
                            h.date.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
                            safe(&display_path(&h.path)),
                            h.line_start,
                            h.line_end
                        );
                    }
                    for c in checks.iter().filter(|c| !c.valid) {
                        println!("warning: no valid citation for: {}", safe(&c.text));
                    }
                    eprintln!(
                        "{} prompt tokens in {:.1}s, {} tokens at {:.1} tokens/s",
                        g.prompt_tokens,
                        g.prompt_ms / 1e3,
                        g.generated_tokens,
                        g.tokens_per_second()
                    );
                }
                return Ok(std::process::ExitCode::SUCCESS);
            }
            let answer =
                answer::extractive_cached(embedder.as_ref(), &lib.store, question, &r.query_vector, &r.hits, &opts)?;
            let answer_ms = ta.elapsed().as_secs_f64() * 1e3;
            if json {
                let out = serde_json::json!({
                    "question": question,
                    "mode": mode,
                    "answer": answer,
                    "passages": r.hits,
                    "timings": { "embed_ms": r.timings.embed_ms, "search_ms": r.timings.search_ms, "answer_ms": answer_ms, "total_ms": t.elapsed().as_secs_f64() * 1e3 },
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("{}", safe(&answer.text));
                if !answer.citations.is_empty() {
                    println!();
                    for c in &answer.citations {
                        println!(
                            "[{}] {}{} — {}:{}-{}",
                            c.n,
                            safe(c.title.as_deref().unwrap_or(&c.article_id)),
                            c.date.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
                            safe(&display_path(&c.path)),
                            c.line_start,
                            c.line_end
                        );
                    }
                }
            }
        }
        Command::Eval {
            ref file,
            ref modes,
            answers,
            ref json,
            min_ndcg,
            ref min_recall,
            limit,
            ref lang,
            ref corpus_index,
            chunk_level,
        } => {
            use sourcier::eval::{input, run as eval_run};
            let recall_gate = min_recall
                .as_deref()
                .map(|s| -> Result<(usize, f64)> {
                    let (k, x) = s
                        .split_once(':')
                        .ok_or_else(|| anyhow::anyhow!("--min-recall takes K:X, e.g. 10:0.9"))?;
                    let k: usize = k.parse()?;
                    anyhow::ensure!([1, 3, 5, 10].contains(&k), "--min-recall K must be 1, 3, 5 or 10");
                    Ok((k, x.parse()?))
                })
                .transpose()?;
            anyhow::ensure!(
                !modes.is_empty(),
                "--modes needs at least one of dense, lexical, hybrid"
            );
            let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let is_squad =
                text.trim_start().starts_with('{') && text.contains("\"data\"") && text.contains("\"paragraphs\"");
            let _tmp;
            let (lib, queries, prefix, embedder) = if is_squad {
                let lang = lang.clone().unwrap_or_else(|| {
                    if file.to_string_lossy().to_lowercase().contains("piaf") {
                        "fr".into()
                    } else {
                        "en".into()
                    }
                });
                let set =
                    input::parse_squad(&text, limit, &lang).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                let dir = match corpus_index {
                    Some(d) => d.clone(),
                    None => {
                        _tmp = tempfile::tempdir()?;
                        _tmp.path().to_path_buf()
                    }
                };
                let corpus = dir.join("corpus");
                std::fs::create_dir_all(&corpus)?;
                let corpus_file = corpus.join("corpus.jsonl");
                let mut lines = String::new();
                for d in &set.docs {
                    lines.push_str(&serde_json::to_string(
                        &serde_json::json!({ "id": d.id, "title": d.title, "text": d.text, "lang": lang }),
                    )?);
                    lines.push('\n');
                }
                std::fs::write(&corpus_file, lines)?;
                let embedder = load_embedder(&cli, &models_paths, cli.dims, &bars)?;
                let index_dir = dir.join("index");
                let mut lib = Library::open_for_ingest(&index_dir, new_manifest(embedder.as_ref()))?;
                let t = std::time::Instant::now();
                let report = ingest::ingest(
                    &mut lib,
                    embedder.as_ref(),
                    &[corpus_file],
                    &IngestOptions { prune: true },
                    &bars,
                )?;
                eprintln!(
                    "corpus: {} contexts, {} questions; ingested {} chunks in {:.1}s ({:.1} chunks/s)",
                    set.docs.len(),
                    set.queries.len(),
                    report.chunks,
                    t.elapsed().as_secs_f64(),
                    report.chunks_per_second()
                );
                (lib, set.to_query_set().queries, "corpus.jsonl#".to_string(), embedder)
            } else {
                let set = input::parse_jsonl(&text);
                for p in &set.problems {
                    bars.note(&format!("warning: {}:{p}", file.display()));
                }
                let lib = open_or_bootstrap_writable(&cli, &models_paths, &bars)?;
                let known: std::collections::HashSet<String> = lib.store.article_ids()?.into_iter().collect();
                for q in &set.queries {
                    for id in q.relevant.keys().filter(|id| !known.contains(*id)) {
                        bars.note(&format!(
                            "warning: query {} names article `{id}`, which is not in the index",
                            q.id
                        ));
                    }
                }
                let dims = cli.dims.or(Some(lib.manifest.dims));
                let embedder = load_embedder(&cli, &models_paths, dims, &bars)?;
                (lib, set.queries, String::new(), embedder)
            };
            anyhow::ensure!(!queries.is_empty(), "{} holds no usable query", file.display());
            let level = if chunk_level {
                eval_run::Level::Chunk
            } else {
                eval_run::Level::Article
            };
            let opts = eval_run::EvalOptions {
                modes: modes.clone(),
                depth: 10,
                answers,
                id_prefix: prefix,
                level,
            };
            let report = eval_run::run(&lib, embedder.as_ref(), &queries, &opts, &bars)?;
            print!("{}", eval_run::table(&report));
            println!(
                "{} queries, {:.1}s, model {}",
                report.queries, report.seconds, report.embedder
            );
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)
                    .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            }
            let first = report.modes[0].retrieval.overall.mean;
            let mut failed = false;
            if let Some(x) = min_ndcg {
                let got = first.map(|m| m.ndcg_at_10).unwrap_or(0.0);
                if got < x {
                    eprintln!(
                        "gate failed: nDCG@10 of {} is {got:.3} < {x}",
                        report.modes[0].mode.as_str()
                    );
                    failed = true;
                }
            }
            if let Some((k, x)) = recall_gate {
                let got = first
                    .map(|m| match k {
                        1 => m.recall_at_1,
                        3 => m.recall_at_3,
                        5 => m.recall_at_5,
                        _ => m.recall_at_10,
                    })
                    .unwrap_or(0.0);
                if got < x {
                    eprintln!(
                        "gate failed: recall@{k} of {} is {got:.3} < {x}",
                        report.modes[0].mode.as_str()
                    );
                    failed = true;
                }
            }
            if failed {
                return Ok(std::process::ExitCode::from(1));
            }
        }
        Command::Search {
            ref query,
            k,
            mode,
            json,
            ref filters,
        } => {
            let filters = filters.to_filters()?;
            if query.trim().is_empty() {
                anyhow::bail!(
                    "the query is empty: type what you are looking for, e.g. sourcier search \"Huawei IBM consultants\""
                );
            }
            let lib = Library::open(&cli.index)?;
            let dims = cli.dims.or(Some(lib.manifest.dims));
            let embedder = load_embedder(&cli, &models_paths, dims, &bars)?;
            let r = retrieve::retrieve(&lib, embedder.as_ref(), query, k, &filters, mode)?;
            let (hits, timings) = (r.hits, r.timings);
            if json {
                let out = serde_json::json!({ "query": query, "mode": mode, "hits": hits, "timings": timings });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if hits.is_empty() {
                println!(
                    "no results{}",
                    if filters.is_empty() {
                        ""
                    } else {
                        " (try removing filters)"
                    }
                );
            } else {
                for h in &hits {
                    println!(
                        "{:>2}. {:.3}  {}{}\n    {}:{}-{}\n    {}",
                        h.rank,
                        // Cosine similarity reads the same in every mode; RRF scores do not.
                        h.similarity.unwrap_or(h.score),
                        safe(h.title.as_deref().unwrap_or(&h.article_id)),
                        h.date.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
                        safe(&display_path(&h.path)),
                        h.line_start,
                        h.line_end,
                        safe(&h.snippet)
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
                    println!(
                        "model      {} (fingerprint {})",
                        lib.manifest.embedder, lib.manifest.embedder_fingerprint
                    );
                    println!("dims       {}", lib.manifest.dims);
                    println!(
                        "chunking   {} tokens, {} sentence overlap",
                        lib.manifest.chunk_tokens, lib.manifest.overlap_sentences
                    );
                    println!("disk       {:.1} MB", size as f64 / 1e6);
                }
            }
            IndexCommand::Rebuild => {
                let mut lib = Library::open_for_update(&cli.index)?;
                let n = lib.rebuild_vectors(&bars)?;
                lib.rebuild_lexical(&bars)?;
                println!(
                    "rebuilt the HNSW and BM25 indexes of {} from {n} stored chunks",
                    cli.index.display()
                );
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
                    println!(
                        "{:<24} {:<10} {:>9}  {:<14} {}",
                        "NAME", "KIND", "SIZE", "STATE", "PATH"
                    );
                    for m in list {
                        println!(
                            "{:<24} {:<10} {:>7.0}MB  {:<14} {}",
                            m.name,
                            m.kind,
                            m.size as f64 / 1e6,
                            m.state.as_str(),
                            m.path.display()
                        );
                    }
                }
            }
        },
    }
    Ok(std::process::ExitCode::SUCCESS)
}
