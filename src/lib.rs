//! sourcier: a local, offline retrieval assistant.
//!
//! What calls what, top down:
//! - [`app`]: the use cases (ingest, search, ask, ask_generated, eval, index and model
//!   maintenance) with serialisable requests and results. The binary, a server or a script
//!   call these and nothing below. [`server`] (feature `server`) puts them behind an HTTP
//!   API and a web page.
//! - [`ingest`] (files → chunks → vectors → store), [`retrieve`] (dense, lexical, hybrid top-k
//!   with filters), [`answer`] (extractive answers, abstention, citation checks), [`generate`]
//!   (a local GGUF language model), [`eval`] (query sets, SQuAD files, metrics).
//! - [`answer`] scores candidate sentences with a small learned model over answer-type cues
//!   (`answer/features.rs`, `answer/scorer.rs`) and marks the fact (`answer/span.rs`).
//! - [`backend`]: the storage seam those use ([`backend::SearchBackend`],
//!   [`backend::IngestBackend`]); [`library`] is its embedded implementation: [`store`]
//!   (SQLite, the source of truth), [`index`] (HNSW, derived) and [`lexical`] (tantivy BM25,
//!   derived) in one directory.
//! - [`corpus`] reads articles (text, Markdown, HTML, JSONL) and [`chunk`] splits them;
//!   [`embed`] turns text into vectors (EmbeddingGemma, or the hashing embedder of the fast
//!   tests), with weights provisioned by [`models`].
//! - Small types shared by all: [`date`] (partial dates), [`lang`] (one language
//!   normaliser, question language), [`vecmath`] (dot product), [`error`], [`fsx`] (atomic
//!   writes, locks), [`progress`] (the reporting trait).
//!
//! Nothing here touches the terminal: the binary in `src/bin/sourcier` owns arguments,
//! logging and progress drawing, behind the `cli` feature, and talks to the library through
//! [`progress::Progress`].

pub mod answer;
pub mod app;
pub mod backend;
pub mod chunk;
pub mod corpus;
pub mod date;
pub mod embed;
pub mod error;
pub mod eval;
pub mod flat;
pub mod fsx;
pub mod generate;
pub mod index;
pub mod ingest;
pub mod lang;
pub mod lexical;
pub mod library;
pub mod models;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod progress;
pub mod retrieve;
#[cfg(feature = "server")]
pub mod server;
pub mod store;
pub mod vecmath;

pub use error::{Error, Result};

#[cfg(test)]
mod test_support;
