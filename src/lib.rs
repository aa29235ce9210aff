//! sourcier: a local, offline retrieval assistant.
//!
//! Articles are read ([`corpus`]), split into sentence-aware chunks ([`chunk`]), embedded with a
//! local multilingual model run by candle ([`embed`], weights provisioned by [`models`]), stored
//! in SQLite ([`store`]) and indexed with HNSW ([`index`]). [`retrieve`] answers queries.
//! Nothing here touches the terminal: the binary in `src/main.rs` owns arguments, logging
//! and progress drawing, and talks to the library through [`progress::Progress`].

pub mod answer;
pub mod app;
pub mod backend;
pub mod chunk;
pub mod corpus;
pub mod date;
pub mod embed;
pub mod error;
pub mod eval;
pub mod fsx;
pub mod generate;
pub mod index;
pub mod ingest;
pub mod lang;
pub mod lexical;
pub mod library;
pub mod models;
pub mod progress;
pub mod retrieve;
pub mod store;

pub use error::{Error, Result};
