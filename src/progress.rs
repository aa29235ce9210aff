//! Progress reporting as a trait, so the library never draws on a terminal.
//!
//! The binary implements [`Progress`] with indicatif; tests and quiet runs use [`NoProgress`].

/// Receives progress of a long operation. Implementations must be cheap: `inc` is called per item.
pub trait Progress: Send + Sync {
    /// A new phase starts, with its total number of units when known.
    fn start(&self, _what: &str, _total: Option<u64>) {}
    /// `n` more units are done.
    fn inc(&self, _n: u64) {}
    /// The current phase is over.
    fn finish(&self) {}
    /// A message the user should see (a warning about one input, say), not a log line.
    fn note(&self, _msg: &str) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
