//! The `sourcier` command: parses arguments, sets up logging and progress bars, calls one use
//! case of [`sourcier::app`] and renders its result. Results go to stdout; logs, progress and
//! notices go to stderr.

mod advice;
mod args;
mod bars;
mod render;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use args::{Cli, Command, IndexCommand, ModelCommand};
use bars::Bars;
use render::{print_json, safe};
use sourcier::app::{self, AskRequest, EvalRequest, IngestRequest, SearchRequest};
use sourcier::eval::run::{Level, table};

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so `sourcier search … | head -1` would panic in println!. Restore
    // the default action: a closed stdout ends the process quietly with status 141, like
    // other Unix filters.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    // A server logs one line per request by default.
    let serving = matches!(cli.command, Command::Serve(_));
    let level = ["warn", "info", "debug"][usize::from((cli.verbose + u8::from(serving)).min(2))];
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // One warning style on stderr: "WARN message", no timestamp or module path.
        .without_time()
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SOURCIER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .init();
    run(cli).unwrap_or_else(|e| {
        advice::report(&e);
        ExitCode::from(2)
    })
}

fn run(cli: Cli) -> Result<ExitCode> {
    let setup = cli.setup()?;
    let bars = Bars::new(cli.quiet);
    let styled = cli.styled();
    match cli.command {
        Command::Ingest {
            paths,
            prune,
            follow,
            search_only,
            json,
        } => {
            let req = IngestRequest {
                paths,
                prune,
                follow_links: follow,
                search_only,
            };
            let report = app::ingest(&setup, &req, &bars)?;
            if json {
                print_json(&report)?
            } else {
                print!("{}", render::ingest(&report))
            }
        }
        Command::Search {
            query,
            k,
            mode,
            json,
            filters,
        } => {
            let filters = filters.to_filters()?;
            let filtered = !filters.is_empty();
            let (r, session) = app::search_opened(
                &setup,
                &SearchRequest {
                    query,
                    k,
                    mode,
                    filters,
                },
                &bars,
            )?;
            if json {
                print_json(&r)?
            } else {
                print!("{}", render::search(&r, filtered))
            }
            // As for `ask`: the process is about to exit, freeing would only delay it.
            std::mem::forget(session);
        }
        Command::Ask {
            question,
            mode,
            k,
            json,
            generate,
            llm,
            filters,
        } => {
            let req = AskRequest {
                question,
                k,
                mode,
                filters: filters.to_filters()?,
            };
            if !generate {
                let session = app::Session::open(&setup, &bars)?;
                let r = session.ask(&req)?;
                if json {
                    print_json(&r)?
                } else {
                    print!("{}", render::ask(&r, styled))
                }
                // Freeing the tokenizer (1.3 million strings) and the maps costs tens of
                // milliseconds after the answer is out; the process is about to exit anyway.
                std::mem::forget(session);
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = std::io::stdout();
            let mut stream = |piece: &str| {
                if !json {
                    let _ = write!(out, "{}", safe(piece));
                    let _ = out.flush();
                }
            };
            let r = app::ask_generated(&setup, &req, llm.as_deref(), &mut stream, &bars)?;
            if json {
                print_json(&r)?;
            } else if r.abstained {
                println!("{}", r.generated);
            } else {
                print!("{}", render::generated_sources(&r));
                eprintln!(
                    "{} prompt tokens in {:.1}s, {} tokens at {:.1} tokens/s",
                    r.prompt_tokens,
                    r.timings.prompt_ms / 1e3,
                    r.generated_tokens,
                    r.timings.tokens_per_s
                );
            }
        }
        Command::Eval {
            file,
            modes,
            answers,
            json,
            min_ndcg,
            min_recall,
            limit,
            lang,
            corpus_index,
            chunk_level,
            split,
            drop_gold,
            dump_answer_features,
            dump_answerability,
        } => {
            let level = if chunk_level { Level::Chunk } else { Level::Article };
            let req = EvalRequest {
                file,
                modes,
                answers,
                min_ndcg,
                min_recall,
                limit,
                lang,
                corpus_index,
                level,
                split,
                drop_gold,
                dump_answer_features,
                dump_answerability,
            };
            let outcome = app::eval(&setup, &req, &bars)?;
            if let Some(c) = &outcome.corpus {
                eprintln!(
                    "corpus: {} contexts, {} questions; ingested {} chunks in {:.1}s ({:.1} chunks/s)",
                    c.contexts, c.questions, c.chunks, c.ingest_seconds, c.chunks_per_second
                );
            }
            let report = &outcome.report;
            print!("{}", table(report));
            println!(
                "{} queries, {:.1}s, model {}",
                report.queries, report.seconds, report.embedder
            );
            if let Some(path) = json {
                sourcier::fsx::write_atomic(&path, &serde_json::to_vec_pretty(report)?)?;
            }
            for g in &outcome.gate_failures {
                eprintln!("gate failed: {g}");
            }
            if !outcome.gate_failures.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Serve(args) => {
            let opts = args.options(cli.verbose > 0);
            let secret = opts.token.as_ref().map(|t| format!("#token={t}")).unwrap_or_default();
            sourcier::server::serve(&setup, opts, &bars, &mut |a| {
                sourcier::progress::Progress::finish(&bars);
                println!("sourcier is serving on http://{a}/{secret}");
            })?;
        }
        Command::Index {
            command: IndexCommand::Stats { json },
        } => {
            let s = app::index_stats(&setup)?;
            if json {
                print_json(&s)?
            } else {
                print!("{}", render::stats(&s))
            }
        }
        Command::Index {
            command: IndexCommand::Rebuild { json },
        } => {
            let r = app::index_rebuild(&setup, &bars)?;
            if json {
                print_json(&r)?
            } else {
                println!(
                    "rebuilt the HNSW and BM25 indexes of {} from {} stored chunks",
                    r.index, r.chunks
                )
            }
        }
        Command::Index {
            command: IndexCommand::Migrate { from, to, json },
        } => {
            let at = |loc: &str| {
                let mut s = setup.clone();
                if sourcier::pg::is_url(loc) {
                    s.database = Some(loc.to_string());
                } else {
                    s.database = None;
                    s.index = loc.into();
                }
                s
            };
            let r = app::index_migrate(&at(&from), &at(&to), &bars)?;
            if json {
                print_json(&r)?
            } else {
                println!(
                    "copied {} articles ({} chunks) from {} to {} in {:.1} s, without re-embedding",
                    r.articles, r.chunks, r.from, r.to, r.seconds
                )
            }
        }
        Command::Model {
            command: ModelCommand::Fetch { name, json },
        } => {
            let r = app::model_fetch(&setup, &name, &bars)?;
            if json {
                print_json(&r)?
            } else {
                println!("{} installed in {}", r.name, r.dir.display())
            }
        }
        Command::Model {
            command: ModelCommand::List { json },
        } => {
            let list = app::model_list(&setup);
            if json {
                print_json(&list)?
            } else {
                print!("{}", render::models(&list))
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
