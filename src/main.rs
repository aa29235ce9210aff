//! The `sourcier` command: parses arguments, sets up logging and progress bars, and calls the
//! library. Results go to stdout; logs, progress and notices go to stderr.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use sourcier::models::{self, Paths};
use sourcier::progress::Progress;

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
    /// Manage the local models.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
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

fn run(cli: Cli) -> Result<std::process::ExitCode> {
    let paths = Paths::from_env();
    let bars = Bars::new(cli.quiet);
    match cli.command {
        Command::Model { command } => match command {
            ModelCommand::Fetch { name } => {
                let m = models::manifest(&name)?;
                eprintln!("{} ({}): {}", m.name, m.licence, m.licence_notice);
                let dir = models::fetch(&paths, &m, &bars)?;
                println!("{} installed in {}", m.name, dir.display());
            }
            ModelCommand::List { json } => {
                let list = models::list(&paths);
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
