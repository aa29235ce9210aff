//! Library progress drawn with indicatif on stderr, with rate and ETA.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sourcier::progress::Progress;

/// Draws progress on stderr; silent when quiet or when stderr is not a terminal. Notes are
/// always printed.
pub struct Bars {
    bar: ProgressBar,
    enabled: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
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
