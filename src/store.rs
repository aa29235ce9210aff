//! The SQLite store: the source of truth for articles, chunks, metadata and embeddings.
//!
//! Everything the index knows lives in `<index dir>/store.sqlite3`; the HNSW graph
//! ([`crate::index`]) is derived from it and can always be rebuilt from
//! [`Store::for_each_embedding`]. The database runs in WAL mode with `synchronous=NORMAL`
//! and foreign keys on, and every article replacement is one transaction, so a crash or
//! SIGKILL leaves either the old or the new version of an article, never a mix.
//!
//! Chunk ids come from `AUTOINCREMENT` and are never reused: an HNSW entry for a deleted
//! chunk can only point at nothing, never at an unrelated newer chunk.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::backend::{ChunkKey, chunk_key};
use crate::{Error, Result};

/// Version of the database layout written by this build. Bump it on incompatible changes.
pub const STORE_FORMAT_VERSION: u32 = 1;

/// File name of the store inside the index directory.
pub const STORE_FILE_NAME: &str = "store.sqlite3";

/// Sentence vectors the extractive answerer computed, keyed by a hash of the embedder
/// fingerprint, title and sentence: a cache, safe to drop at any time.
const CACHE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sentence_vectors (
    key    TEXT PRIMARY KEY,
    vector BLOB NOT NULL
);
";

/// The cleaned text of each article, so that a citation can be shown in its article (the
/// web page's viewer). Added after format 1 like the cache: older builds ignore it, and an
/// article without a row is shown from its chunks.
const TEXT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS article_texts (
    article_id TEXT PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    line_base  INTEGER NOT NULL,
    text       TEXT NOT NULL,
    blocks     TEXT NOT NULL
);
";

/// Vectors of a long article being ingested, committed batch by batch before the article
/// itself (see `IngestBackend::stage_vectors`): a kill keeps the work done. Derived data like
/// the cache, so no version bump.
const STAGE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS staged_vectors (
    article_id TEXT NOT NULL,
    key        BLOB NOT NULL,
    vector     BLOB NOT NULL,
    PRIMARY KEY (article_id, key)
) WITHOUT ROWID;
";

/// An article's cleaned text, its body blocks (byte ranges of `text`) and the source line of
/// its first line: line numbers follow from the `\n`s before an offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleText {
    pub line_base: u32,
    pub text: String,
    pub blocks: Vec<(usize, usize)>,
}

/// Meta key holding [`STORE_FORMAT_VERSION`].
const FORMAT_KEY: &str = "format_version";

/// How long a writer waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE articles (
    id          TEXT PRIMARY KEY,
    source_path TEXT NOT NULL,
    title       TEXT,
    date        TEXT,
    lang        TEXT,
    url         TEXT,
    hash        TEXT NOT NULL
);
CREATE INDEX articles_by_source ON articles(source_path);
CREATE TABLE chunks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ordinal    INTEGER NOT NULL,
    text       TEXT NOT NULL,
    byte_start INTEGER NOT NULL,
    byte_end   INTEGER NOT NULL,
    line_start INTEGER NOT NULL,
    line_end   INTEGER NOT NULL,
    UNIQUE (article_id, ordinal)
);
-- Vectors live apart from the text so that chunk lookups never page in large blobs
-- and rebuilds scan one compact table.
CREATE TABLE embeddings (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    vector   BLOB NOT NULL
);
";

/// One article as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleRow {
    pub id: String,
    pub source_path: String,
    pub title: Option<String>,
    pub date: Option<String>,
    pub lang: Option<String>,
    pub url: Option<String>,
    /// Content hash, used to skip unchanged articles on re-ingest.
    pub hash: String,
}

/// One chunk as stored (without its embedding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRow {
    pub id: i64,
    pub article_id: String,
    pub ordinal: u32,
    pub text: String,
    /// Byte range of the chunk in the article text.
    pub start: usize,
    pub end: usize,
    /// 1-based line range of the chunk in the source file.
    pub line_start: u32,
    pub line_end: u32,
}

/// A chunk to insert, with its embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChunk {
    pub ordinal: u32,
    pub text: String,
    pub start: usize,
    pub end: usize,
    pub line_start: u32,
    pub line_end: u32,
    pub embedding: Vec<f32>,
}

/// Counts shown by `status`-like commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    pub articles: u64,
    pub chunks: u64,
    /// Article count per language, most frequent first; `None` is "language unknown".
    pub languages: Vec<(Option<String>, u64)>,
}

/// An open store. `Sync`: concurrent readers share one connection behind a mutex (each call
/// is short); a process that needs parallel SQL can open one store per thread, since WAL
/// allows concurrent readers.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    read_only: bool,
}

impl Store {
    /// Opens the store at `path`, creating the file and schema when missing.
    ///
    /// Refuses a database written by a newer ([`Error::UnsupportedFormat`]) or unknown
    /// ([`Error::Corrupt`]) format, and an SQLite file that is not a sourcier store
    /// ([`Error::NotAStore`]).
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(Error::io("creating", parent))?;
        }
        // The store holds article text: private from the start (SQLite gives its journal and
        // WAL the same mode), whatever the umask.
        crate::fsx::create_file_private(path)?;
        let db = db_err(path);
        let conn = Connection::open(path).map_err(db)?;
        let mut store = Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            read_only: false,
        };
        store.configure()?;
        store.ensure_schema()?;
        Ok(store)
    }

    /// Opens an existing store; [`Error::IndexMissing`] when there is none, so read-only
    /// commands do not leave an empty index behind.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.is_file() {
            return Err(Error::IndexMissing {
                path: path.parent().unwrap_or(path).to_path_buf(),
            });
        }
        Store::open(path)
    }

    /// Opens an existing store for reading only: nothing is created, migrated or written, so
    /// it works on a read-only index directory. A WAL database whose `-shm` file cannot be
    /// created (read-only mount, no writer around) is opened immutable.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        if !path.is_file() {
            return Err(Error::Io {
                action: "opening",
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such store"),
            });
        }
        let db = db_err(path);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let open = |uri: String| -> rusqlite::Result<Connection> {
            let conn = Connection::open_with_flags(uri, flags)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            // Opening is lazy: touch the schema so a locked or unreadable file fails here.
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
            Ok(conn)
        };
        let uri = |extra: &str| {
            let mut u = url_path(path);
            u.push_str(extra);
            u
        };
        let conn = match open(uri("")) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "read-only open failed; retrying immutable");
                open(uri("?immutable=1")).map_err(db)?
            }
        };
        let store = Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            read_only: true,
        };
        if !store.check_existing_schema()? {
            return Err(Error::NotAStore {
                path: path.to_path_buf(),
                detail: "it is empty".into(),
            });
        }
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this store was opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent: keep going.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn db(&self) -> impl FnOnce(rusqlite::Error) -> Error + use<> {
        db_err(&self.path)
    }

    fn configure(&mut self) -> Result<()> {
        let db = db_err(&self.path);
        self.conn().busy_timeout(BUSY_TIMEOUT).map_err(db.clone())?;
        // journal_mode answers with the mode actually in force.
        let mode: String = self
            .conn()
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(db.clone())?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %self.path.display(), mode, "SQLite refused WAL mode");
        }
        self.conn()
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(db)?;
        Ok(())
    }

    fn ensure_schema(&mut self) -> Result<()> {
        if !self.check_existing_schema()? {
            // IMMEDIATE takes the write lock first, so two processes creating the same
            // store cannot both run the CREATE statements.
            let db = db_err(&self.path);
            let mut conn = self.conn();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db.clone())?;
            let has_meta: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
                    [],
                    |r| r.get(0),
                )
                .map_err(db.clone())?;
            if !has_meta {
                tx.execute_batch(SCHEMA).map_err(db.clone())?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                    params![FORMAT_KEY, STORE_FORMAT_VERSION.to_string()],
                )
                .map_err(db.clone())?;
            }
            tx.commit().map_err(db)?;
            drop(conn);
            self.check_existing_schema()?;
        }
        // Derived data added after format 1: older builds ignore the table, so no version bump.
        // A read-only index simply goes without the cache.
        if let Err(e) = self.conn().execute_batch(CACHE_SCHEMA) {
            tracing::debug!(path = %self.path.display(), error = %e, "no sentence-vector cache");
        }
        if let Err(e) = self.conn().execute_batch(TEXT_SCHEMA) {
            tracing::debug!(path = %self.path.display(), error = %e, "no article texts");
        }
        if let Err(e) = self.conn().execute_batch(STAGE_SCHEMA) {
            tracing::debug!(path = %self.path.display(), error = %e, "no staged vectors");
        }
        Ok(())
    }

    /// `Ok(false)` when the database is empty and needs the schema; an error when it holds
    /// something this build cannot use.
    fn check_existing_schema(&self) -> Result<bool> {
        let tables: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                .map_err(self.db())?;
            stmt.query_map([], |r| r.get(0))
                .map_err(self.db())?
                .collect::<rusqlite::Result<_>>()
                .map_err(self.db())?
        };
        if !tables.iter().any(|t| t == "meta") {
            if tables.is_empty() {
                return Ok(false);
            }
            return Err(Error::NotAStore {
                path: self.path.clone(),
                detail: "it is an SQLite database of something else".into(),
            });
        }
        let version = self.get_meta(FORMAT_KEY)?;
        match version.as_deref().map(str::parse::<u32>) {
            Some(Ok(STORE_FORMAT_VERSION)) => Ok(true),
            Some(Ok(v)) if v > STORE_FORMAT_VERSION => Err(Error::UnsupportedFormat {
                path: self.path.clone(),
                found: v,
                supported: STORE_FORMAT_VERSION,
            }),
            _ => Err(Error::Corrupt {
                path: self.path.clone(),
                detail: format!(
                    "unknown store format ({})",
                    version.as_deref().unwrap_or("no format_version")
                ),
            }),
        }
    }

    /// Reads a metadata value.
    pub fn get_meta(&self, key: &str) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.db())
    }

    /// Writes a metadata value, replacing any previous one.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Content hash of a stored article, `None` when the article is not stored.
    pub fn article_hash(&self, id: &str) -> Result<Option<String>> {
        self.conn()
            .prepare_cached("SELECT hash FROM articles WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(self.db())
    }

    /// Content hashes of the stored articles among `ids`, in one statement.
    pub fn article_hashes(&self, ids: &[&str]) -> Result<HashMap<String, String>> {
        let wanted: HashSet<&str> = ids.iter().copied().collect();
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT id, hash FROM articles")
            .map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.db())?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, hash) = row.map_err(self.db())?;
            if wanted.contains(id.as_str()) {
                out.insert(id, hash);
            }
        }
        Ok(out)
    }

    /// Stores `article` with exactly `chunks`, replacing any previous version of it, in one
    /// transaction. Returns the ids given to the chunks, in the order of `chunks`.
    ///
    /// All embeddings of the call must have the same non-zero length and finite values.
    pub fn replace_article(&mut self, article: &ArticleRow, chunks: &[NewChunk]) -> Result<Vec<i64>> {
        validate_embeddings(&article.id, chunks)?;
        let db = db_err(&self.path);
        // IMMEDIATE: take the write lock up front instead of failing half-way on upgrade.
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db.clone())?;
        tx.execute("DELETE FROM chunks WHERE article_id = ?1", [&article.id])
            .map_err(db.clone())?;
        drop_staged(&tx, &article.id).map_err(db.clone())?;
        tx.execute(
            "INSERT INTO articles (id, source_path, title, date, lang, url, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET
                 source_path = excluded.source_path, title = excluded.title,
                 date = excluded.date, lang = excluded.lang, url = excluded.url,
                 hash = excluded.hash",
            params![
                article.id,
                article.source_path,
                article.title,
                article.date,
                article.lang,
                article.url,
                article.hash
            ],
        )
        .map_err(db.clone())?;
        let mut ids = Vec::with_capacity(chunks.len());
        {
            let mut insert_chunk = tx
                .prepare_cached(
                    "INSERT INTO chunks (article_id, ordinal, text, byte_start, byte_end, line_start, line_end)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(db.clone())?;
            let mut insert_vector = tx
                .prepare_cached("INSERT INTO embeddings (chunk_id, vector) VALUES (?1, ?2)")
                .map_err(db.clone())?;
            let mut blob = Vec::new();
            for c in chunks {
                insert_chunk
                    .execute(params![
                        article.id,
                        c.ordinal,
                        c.text,
                        to_i64(c.start),
                        to_i64(c.end),
                        c.line_start,
                        c.line_end
                    ])
                    .map_err(db.clone())?;
                let id = tx.last_insert_rowid();
                encode_vector(&c.embedding, &mut blob);
                insert_vector.execute(params![id, blob]).map_err(db.clone())?;
                ids.push(id);
            }
        }
        tx.commit().map_err(db)?;
        Ok(ids)
    }

    /// Records that unchanged articles now live at other paths (a moved or copied folder),
    /// so that citations and `--prune` follow the files without re-embedding them. One
    /// transaction.
    pub fn set_source_paths(&mut self, moves: &[(&str, &str)]) -> Result<()> {
        if moves.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.db())?;
        {
            let mut stmt = tx
                .prepare_cached("UPDATE articles SET source_path = ?2 WHERE id = ?1 AND source_path <> ?2")
                .map_err(self.db())?;
            for (id, path) in moves {
                stmt.execute(rusqlite::params![id, path]).map_err(self.db())?;
            }
        }
        tx.commit().map_err(self.db())
    }

    /// Deletes an article with its chunks and embeddings. Returns whether it existed.
    pub fn delete_article(&mut self, id: &str) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.db())?;
        // The cascade removes chunks and embeddings.
        let n = tx
            .execute("DELETE FROM articles WHERE id = ?1", [id])
            .map_err(self.db())?;
        drop_staged(&tx, id).map_err(self.db())?;
        tx.commit().map_err(self.db())?;
        Ok(n > 0)
    }

    /// See `IngestBackend::reusable_vectors`.
    pub fn reusable_vectors(&self, article_id: &str) -> Result<HashMap<ChunkKey, Vec<f32>>> {
        let conn = self.conn();
        let mut out = HashMap::new();
        let mut v = Vec::new();
        let mut stmt = conn
            .prepare(
                "SELECT a.title, c.text, e.vector FROM chunks c JOIN articles a ON a.id = c.article_id \
                 JOIN embeddings e ON e.chunk_id = c.id WHERE c.article_id = ?1",
            )
            .map_err(self.db())?;
        let mut rows = stmt.query([article_id]).map_err(self.db())?;
        while let Some(r) = rows.next().map_err(self.db())? {
            let title: Option<String> = r.get(0).map_err(self.db())?;
            let text: String = r.get(1).map_err(self.db())?;
            let blob: Vec<u8> = r.get(2).map_err(self.db())?;
            if decode_vector(&blob, &mut v) {
                out.insert(chunk_key(title.as_deref(), &text), v.clone());
            }
        }
        drop(rows);
        drop(stmt);
        // A read-only or older index has no staging table: nothing was staged in it.
        if let Ok(mut stmt) = conn.prepare("SELECT key, vector FROM staged_vectors WHERE article_id = ?1") {
            let mut rows = stmt.query([article_id]).map_err(self.db())?;
            while let Some(r) = rows.next().map_err(self.db())? {
                let key: Vec<u8> = r.get(0).map_err(self.db())?;
                let blob: Vec<u8> = r.get(1).map_err(self.db())?;
                if let (Ok(key), true) = (ChunkKey::try_from(key.as_slice()), decode_vector(&blob, &mut v)) {
                    out.insert(key, v.clone());
                }
            }
        }
        Ok(out)
    }

    /// See `IngestBackend::stage_vectors`: one transaction.
    pub fn stage_vectors(&mut self, article_id: &str, vectors: &[(ChunkKey, &[f32])]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.db())?;
        {
            let mut insert = tx
                .prepare_cached("INSERT OR REPLACE INTO staged_vectors (article_id, key, vector) VALUES (?1, ?2, ?3)")
                .map_err(self.db())?;
            let mut blob = Vec::new();
            for (key, v) in vectors {
                encode_vector(v, &mut blob);
                insert
                    .execute(params![article_id, key.as_slice(), blob])
                    .map_err(self.db())?;
            }
        }
        tx.commit().map_err(self.db())
    }

    /// Ids of all stored articles, sorted.
    pub fn article_ids(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id FROM articles ORDER BY id").map_err(self.db())?;
        stmt.query_map([], |r| r.get(0))
            .map_err(self.db())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.db())
    }

    /// `(article id, source path)` of every article, sorted by source path then id; `--prune`
    /// deletes the articles whose source file is gone.
    pub fn articles_by_source(&self) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, source_path FROM articles ORDER BY source_path, id")
            .map_err(self.db())?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.db())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.db())
    }

    /// One article by id.
    pub fn article(&self, id: &str) -> Result<Option<ArticleRow>> {
        self.conn()
            .prepare_cached("SELECT id, source_path, title, date, lang, url, hash FROM articles WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| article_from_row(r, 0)).optional())
            .map_err(self.db())
    }

    /// One chunk with its article, `None` when the chunk does not exist (any more).
    pub fn chunk(&self, id: i64) -> Result<Option<(ChunkRow, ArticleRow)>> {
        self.conn()
            .prepare_cached(CHUNK_JOIN_SQL)
            .and_then(|mut s| s.query_row([id], chunk_with_article).optional())
            .map_err(self.db())
    }

    /// Chunks with their articles, in the order of `ids`; ids that do not exist (deleted
    /// chunks) are skipped, so the result can be shorter than `ids`. One SQL query.
    pub fn chunks_by_ids(&self, ids: &[i64]) -> Result<Vec<(ChunkRow, ArticleRow)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(CHUNKS_JOIN_SQL).map_err(self.db())?;
        let found: HashMap<i64, (ChunkRow, ArticleRow)> = stmt
            .query_map([id_list(ids)], chunk_with_article)
            .map_err(self.db())?
            .map(|r| r.map(|row| (row.0.id, row)))
            .collect::<rusqlite::Result<_>>()
            .map_err(self.db())?;
        let mut found = found;
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// Every article, in id order. One SQL query: filters run over this list.
    pub fn articles(&self) -> Result<Vec<ArticleRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT id, source_path, title, date, lang, url, hash FROM articles ORDER BY id")
            .map_err(self.db())?;
        stmt.query_map([], |r| article_from_row(r, 0))
            .map_err(self.db())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.db())
    }

    /// `(chunk id, article id)` of every chunk. One SQL query.
    pub fn chunk_articles(&self) -> Result<Vec<(i64, String)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT id, article_id FROM chunks")
            .map_err(self.db())?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.db())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.db())
    }

    /// The embeddings of `ids` that exist. One SQL query.
    pub fn embeddings(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<f32>>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT chunk_id, vector FROM embeddings WHERE chunk_id IN (SELECT value FROM json_each(?1))",
            )
            .map_err(self.db())?;
        let rows: Vec<(i64, Vec<u8>)> = stmt
            .query_map([id_list(ids)], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.db())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.db())?;
        let mut out = HashMap::with_capacity(rows.len());
        for (id, blob) in rows {
            let mut v = Vec::new();
            if !decode_vector(&blob, &mut v) {
                return Err(Error::Corrupt {
                    path: self.path.clone(),
                    detail: format!("the embedding of chunk {id} is not a whole number of f32"),
                });
            }
            out.insert(id, v);
        }
        Ok(out)
    }

    /// Counts the SQL statements this store runs from now on: diagnostics, and the tests that
    /// pin a query to a constant number of statements.
    pub fn count_statements(&self) -> Result<Arc<AtomicUsize>> {
        let n = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&n);
        self.conn()
            .trace_v2(
                TraceEventCodes::SQLITE_TRACE_STMT,
                Some(move |e: TraceEvent<'_>| {
                    if let TraceEvent::Stmt(_, sql) = e
                        && !sql.starts_with("--")
                    {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }),
            )
            .map_err(self.db())?;
        Ok(n)
    }

    /// All chunks of one article, in ordinal order.
    pub fn article_chunks(&self, article_id: &str) -> Result<Vec<ChunkRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, article_id, ordinal, text, byte_start, byte_end, line_start, line_end
                 FROM chunks WHERE article_id = ?1 ORDER BY ordinal",
            )
            .map_err(self.db())?;
        stmt.query_map([article_id], |r| chunk_from_row(r, 0))
            .map_err(self.db())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.db())
    }

    /// Ids of all existing chunks: the filter that hides deleted chunks from the HNSW index.
    pub fn live_chunk_ids(&self) -> Result<HashSet<i64>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id FROM chunks").map_err(self.db())?;
        stmt.query_map([], |r| r.get(0))
            .map_err(self.db())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.db())
    }

    /// Whether a chunk exists, for callers that test a handful of ids.
    pub fn chunk_exists(&self, id: i64) -> Result<bool> {
        self.conn()
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM chunks WHERE id = ?1)")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)))
            .map_err(self.db())
    }

    /// Number of chunks stored.
    pub fn chunk_count(&self) -> Result<u64> {
        self.conn()
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get::<_, i64>(0))
            .map(to_u64)
            .map_err(self.db())
    }

    /// Streams every `(chunk id, embedding)` in increasing id order, for index rebuilds and
    /// exact search. The slice is only valid during the call. Stops at the first error of `f`.
    pub fn for_each_embedding(&self, f: impl FnMut(i64, &[f32]) -> Result<()>) -> Result<()> {
        self.for_each_embedding_after(0, f)
    }

    /// Like [`Store::for_each_embedding`], restricted to chunk ids greater than `after`:
    /// the chunks an index saved with `max_chunk_id == after` is missing.
    pub fn for_each_embedding_after(&self, after: i64, mut f: impl FnMut(i64, &[f32]) -> Result<()>) -> Result<()> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT chunk_id, vector FROM embeddings WHERE chunk_id > ?1 ORDER BY chunk_id")
            .map_err(self.db())?;
        let mut rows = stmt.query([after]).map_err(self.db())?;
        let mut buf = Vec::new();
        while let Some(row) = rows.next().map_err(self.db())? {
            let id: i64 = row.get(0).map_err(self.db())?;
            let blob = row.get_ref(1).map_err(self.db())?.as_blob().map_err(|e| Error::Db {
                path: self.path.clone(),
                source: e.into(),
            })?;
            if !decode_vector(blob, &mut buf) {
                return Err(Error::Corrupt {
                    path: self.path.clone(),
                    detail: format!(
                        "the embedding of chunk {id} has {} bytes, not a whole number of f32",
                        blob.len()
                    ),
                });
            }
            f(id, &buf)?;
        }
        Ok(())
    }

    /// The embedding of one chunk.
    pub fn embedding(&self, chunk_id: i64) -> Result<Option<Vec<f32>>> {
        let blob: Option<Vec<u8>> = self
            .conn()
            .prepare_cached("SELECT vector FROM embeddings WHERE chunk_id = ?1")
            .and_then(|mut s| s.query_row([chunk_id], |r| r.get(0)).optional())
            .map_err(self.db())?;
        let Some(blob) = blob else { return Ok(None) };
        let mut v = Vec::new();
        if !decode_vector(&blob, &mut v) {
            return Err(Error::Corrupt {
                path: self.path.clone(),
                detail: format!("the embedding of chunk {chunk_id} is unreadable"),
            });
        }
        Ok(Some(v))
    }

    /// Stores article texts in one transaction. `overwrite` replaces existing rows (changed
    /// articles); without it, only missing rows are added (unchanged articles of an index
    /// built before texts were kept).
    pub fn put_article_texts(&self, texts: &[(&str, &ArticleText)], overwrite: bool) -> Result<()> {
        if texts.is_empty() {
            return Ok(());
        }
        let conn = self.conn();
        let tx = conn.unchecked_transaction().map_err(self.db())?;
        {
            let sql = if overwrite {
                "INSERT OR REPLACE INTO article_texts (article_id, line_base, text, blocks) VALUES (?1, ?2, ?3, ?4)"
            } else {
                "INSERT OR IGNORE INTO article_texts (article_id, line_base, text, blocks) VALUES (?1, ?2, ?3, ?4)"
            };
            let mut stmt = tx.prepare_cached(sql).map_err(self.db())?;
            for (id, t) in texts {
                let blocks = serde_json::to_string(&t.blocks).unwrap_or_else(|_| "[]".into());
                stmt.execute(params![id, t.line_base, t.text, blocks])
                    .map_err(self.db())?;
            }
        }
        tx.commit().map_err(self.db())
    }

    /// The stored text of an article; `None` when it has none (or the index predates texts).
    pub fn article_text(&self, id: &str) -> Result<Option<ArticleText>> {
        let conn = self.conn();
        let has_table: bool = conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'article_texts')",
                [],
                |r| r.get(0),
            )
            .map_err(self.db())?;
        if !has_table {
            return Ok(None);
        }
        let row: Option<(u32, String, String)> = conn
            .prepare_cached("SELECT line_base, text, blocks FROM article_texts WHERE article_id = ?1")
            .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
            .map_err(self.db())?;
        Ok(row.and_then(|(line_base, text, blocks)| {
            let blocks: Vec<(usize, usize)> = serde_json::from_str(&blocks).ok()?;
            // A damaged row is shown from the chunks instead of slicing out of bounds.
            let valid = blocks
                .iter()
                .all(|&(a, b)| a <= b && text.is_char_boundary(a) && text.is_char_boundary(b) && b <= text.len());
            valid.then_some(ArticleText {
                line_base,
                text,
                blocks,
            })
        }))
    }

    /// A cached sentence vector (see [`CACHE_SCHEMA`]); `None` when absent or unreadable.
    pub fn cached_sentence_vector(&self, key: &str) -> Result<Option<Vec<f32>>> {
        let blob: Option<Vec<u8>> = self
            .conn()
            .prepare_cached("SELECT vector FROM sentence_vectors WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(self.db())?;
        let mut v = Vec::new();
        Ok(blob.filter(|b| decode_vector(b, &mut v)).map(|_| v))
    }

    /// Caches sentence vectors, in one transaction.
    pub fn cache_sentence_vectors(&self, items: &[(String, Vec<f32>)]) -> Result<()> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction().map_err(self.db())?;
        {
            let mut stmt = tx
                .prepare_cached("INSERT OR REPLACE INTO sentence_vectors (key, vector) VALUES (?1, ?2)")
                .map_err(self.db())?;
            let mut blob = Vec::new();
            for (key, v) in items {
                blob.clear();
                encode_vector(v, &mut blob);
                stmt.execute(params![key, blob]).map_err(self.db())?;
            }
        }
        tx.commit().map_err(self.db())
    }

    /// Largest chunk id ever handed out (0 when none). Ids are never reused, so an index that
    /// recorded this value is missing exactly the chunks with greater ids.
    pub fn max_chunk_id(&self) -> Result<i64> {
        let seq: Option<i64> = self
            .conn()
            .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.db())?;
        Ok(seq.unwrap_or(0))
    }

    /// Article, chunk and per-language counts.
    pub fn stats(&self) -> Result<StoreStats> {
        let articles = self
            .conn()
            .query_row("SELECT count(*) FROM articles", [], |r| r.get::<_, i64>(0))
            .map(to_u64)
            .map_err(self.db())?;
        let chunks = self.chunk_count()?;
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT lang, count(*) AS n FROM articles GROUP BY lang ORDER BY n DESC, lang")
            .map_err(self.db())?;
        let languages = stmt
            .query_map([], |r| Ok((r.get(0)?, to_u64(r.get(1)?))))
            .map_err(self.db())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.db())?;
        Ok(StoreStats {
            articles,
            chunks,
            languages,
        })
    }
}

/// A `file:` URI for `path`, percent-encoding what URIs reserve.
fn url_path(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::from("file:");
    for b in abs.as_os_str().as_encoded_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => out.push(*b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A JSON array of ids, the parameter of `json_each`: one statement for any number of ids.
fn id_list(ids: &[i64]) -> String {
    serde_json::to_string(ids).expect("ids serialise")
}

const CHUNKS_JOIN_SQL: &str = "
SELECT c.id, c.article_id, c.ordinal, c.text, c.byte_start, c.byte_end, c.line_start, c.line_end,
       a.id, a.source_path, a.title, a.date, a.lang, a.url, a.hash
FROM chunks c JOIN articles a ON a.id = c.article_id
WHERE c.id IN (SELECT value FROM json_each(?1))";

const CHUNK_JOIN_SQL: &str = "
SELECT c.id, c.article_id, c.ordinal, c.text, c.byte_start, c.byte_end, c.line_start, c.line_end,
       a.id, a.source_path, a.title, a.date, a.lang, a.url, a.hash
FROM chunks c JOIN articles a ON a.id = c.article_id
WHERE c.id = ?1";

fn db_err(path: &Path) -> impl FnOnce(rusqlite::Error) -> Error + Clone + use<> {
    let path = path.to_path_buf();
    move |source| Error::Db { path, source }
}

fn chunk_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ChunkRow> {
    Ok(ChunkRow {
        id: r.get(at)?,
        article_id: r.get(at + 1)?,
        ordinal: r.get(at + 2)?,
        text: r.get(at + 3)?,
        start: to_usize(r.get(at + 4)?),
        end: to_usize(r.get(at + 5)?),
        line_start: r.get(at + 6)?,
        line_end: r.get(at + 7)?,
    })
}

fn article_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ArticleRow> {
    Ok(ArticleRow {
        id: r.get(at)?,
        source_path: r.get(at + 1)?,
        title: r.get(at + 2)?,
        date: r.get(at + 3)?,
        lang: r.get(at + 4)?,
        url: r.get(at + 5)?,
        hash: r.get(at + 6)?,
    })
}

fn chunk_with_article(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ChunkRow, ArticleRow)> {
    Ok((chunk_from_row(r, 0)?, article_from_row(r, 8)?))
}

// SQLite integers are i64. Offsets and counts never approach the limits; conversions
// saturate rather than fail.
fn to_i64(x: usize) -> i64 {
    i64::try_from(x).unwrap_or(i64::MAX)
}

fn to_usize(x: i64) -> usize {
    usize::try_from(x).unwrap_or(0)
}

fn to_u64(x: i64) -> u64 {
    u64::try_from(x).unwrap_or(0)
}

fn validate_embeddings(article_id: &str, chunks: &[NewChunk]) -> Result<()> {
    let Some(first) = chunks.first() else {
        return Ok(());
    };
    let dims = first.embedding.len();
    for c in chunks {
        if c.embedding.is_empty() || c.embedding.len() != dims {
            return Err(Error::BadEmbedding {
                chunk: format!("article {article_id}, chunk {}", c.ordinal),
                detail: format!(
                    "{} dimensions, expected {dims} (non-zero, the same for every chunk)",
                    c.embedding.len()
                ),
            });
        }
        if c.embedding.iter().any(|x| !x.is_finite()) {
            return Err(Error::BadEmbedding {
                chunk: format!("article {article_id}, chunk {}", c.ordinal),
                detail: "a non-finite value".into(),
            });
        }
    }
    Ok(())
}

/// Drops the staged vectors of an article being stored or deleted; an index without the
/// staging table (made read-only, or by an older build) has none.
fn drop_staged(tx: &rusqlite::Transaction<'_>, article_id: &str) -> rusqlite::Result<()> {
    match tx.execute("DELETE FROM staged_vectors WHERE article_id = ?1", [article_id]) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.starts_with("no such table") => Ok(()),
        Err(e) => Err(e),
    }
}

/// f32 little-endian, so the file is portable across machines.
fn encode_vector(v: &[f32], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// Returns false when the blob is not a whole number of f32.
fn decode_vector(blob: &[u8], out: &mut Vec<f32>) -> bool {
    if !blob.len().is_multiple_of(4) {
        return false;
    }
    out.clear();
    out.extend(
        blob.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
    );
    true
}

/// The store keeps the answerer's sentence vectors (its own table), so eval and later
/// answers reuse them.
impl crate::answer::SentenceCache for Store {
    fn get(&self, key: &str) -> Option<Vec<f32>> {
        self.cached_sentence_vector(key).unwrap_or_else(|e| {
            tracing::debug!(error = %e, "sentence cache read failed");
            None
        })
    }
    fn put(&self, items: &[(String, Vec<f32>)]) {
        // Reads never write: a read-only store (every `ask`) only uses what eval cached.
        if self.is_read_only() {
            return;
        }
        if let Err(e) = self.cache_sentence_vectors(items) {
            tracing::debug!(error = %e, "sentence cache write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, hash: &str) -> ArticleRow {
        ArticleRow {
            id: id.to_string(),
            source_path: format!("corpus/{id}.txt"),
            title: Some(format!("Title {id}")),
            date: Some("2024-05-01".into()),
            lang: Some("fr".into()),
            url: None,
            hash: hash.to_string(),
        }
    }

    fn chunk(ordinal: u32, text: &str, dims: usize) -> NewChunk {
        NewChunk {
            ordinal,
            text: text.to_string(),
            start: ordinal as usize * 100,
            end: ordinal as usize * 100 + text.len(),
            line_start: ordinal * 3 + 1,
            line_end: ordinal * 3 + 2,
            embedding: (0..dims).map(|i| (i as f32 + ordinal as f32) * 0.25 - 1.0).collect(),
        }
    }

    fn open_tmp() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("idx").join(STORE_FILE_NAME)).unwrap();
        (dir, store)
    }

    #[test]
    fn round_trip() {
        let (_dir, mut store) = open_tmp();
        assert_eq!(store.get_meta(FORMAT_KEY).unwrap().as_deref(), Some("1"));
        store.set_meta("model", "e5").unwrap();
        store.set_meta("model", "e5-small").unwrap();
        assert_eq!(store.get_meta("model").unwrap().as_deref(), Some("e5-small"));
        assert_eq!(store.get_meta("missing").unwrap(), None);

        let a = article("a1", "h1");
        let chunks = vec![chunk(0, "Premier paragraphe.", 8), chunk(1, "Second.", 8)];
        let ids = store.replace_article(&a, &chunks).unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(store.article_hash("a1").unwrap().as_deref(), Some("h1"));
        assert_eq!(store.article_hash("nope").unwrap(), None);
        assert_eq!(store.article("a1").unwrap(), Some(a.clone()));

        let (c, art) = store.chunk(ids[1]).unwrap().unwrap();
        assert_eq!(art, a);
        assert_eq!(
            c,
            ChunkRow {
                id: ids[1],
                article_id: "a1".into(),
                ordinal: 1,
                text: "Second.".into(),
                start: 100,
                end: 107,
                line_start: 4,
                line_end: 5,
            }
        );
        assert_eq!(store.embedding(ids[0]).unwrap().unwrap(), chunks[0].embedding);

        let mut seen = Vec::new();
        store
            .for_each_embedding(|id, v| {
                seen.push((id, v.to_vec()));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            seen,
            vec![
                (ids[0], chunks[0].embedding.clone()),
                (ids[1], chunks[1].embedding.clone())
            ]
        );
        let mut after = Vec::new();
        store
            .for_each_embedding_after(ids[0], |id, _| {
                after.push(id);
                Ok(())
            })
            .unwrap();
        assert_eq!(after, vec![ids[1]]);

        // Reopen: data and format survive.
        let path = store.path().to_path_buf();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.article_ids().unwrap(), vec!["a1".to_string()]);
        assert_eq!(
            store.articles_by_source().unwrap(),
            vec![("a1".to_string(), "corpus/a1.txt".to_string())]
        );
        assert_eq!(store.max_chunk_id().unwrap(), ids[1]);
        let stats = store.stats().unwrap();
        assert_eq!(stats.articles, 1);
        assert_eq!(stats.chunks, 2);
        assert_eq!(stats.languages, vec![(Some("fr".to_string()), 1)]);
        assert_eq!(store.article_chunks("a1").unwrap().len(), 2);
    }

    #[test]
    fn replace_removes_old_chunks_and_never_reuses_ids() {
        let (_dir, mut store) = open_tmp();
        let old = store
            .replace_article(
                &article("a", "h1"),
                &[chunk(0, "x", 4), chunk(1, "y", 4), chunk(2, "z", 4)],
            )
            .unwrap();
        let other = store.replace_article(&article("b", "hb"), &[chunk(0, "b", 4)]).unwrap();
        let new = store
            .replace_article(&article("a", "h2"), &[chunk(0, "x2", 4), chunk(1, "y2", 4)])
            .unwrap();
        assert!(new.iter().all(|id| !old.contains(id) && !other.contains(id)));
        assert!(new.iter().all(|&id| id > other[0]));
        assert_eq!(store.article_hash("a").unwrap().as_deref(), Some("h2"));
        for id in &old {
            assert!(store.chunk(*id).unwrap().is_none());
            assert!(store.embedding(*id).unwrap().is_none());
            assert!(!store.chunk_exists(*id).unwrap());
        }
        let live = store.live_chunk_ids().unwrap();
        let expected: HashSet<i64> = new.iter().chain(&other).copied().collect();
        assert_eq!(live, expected);
        // Missing ids are skipped and order follows the request.
        let wanted = [new[1], old[0], other[0], new[0]];
        let got: Vec<i64> = store
            .chunks_by_ids(&wanted)
            .unwrap()
            .iter()
            .map(|(c, _)| c.id)
            .collect();
        assert_eq!(got, vec![new[1], other[0], new[0]]);
        let mut n = 0;
        store
            .for_each_embedding(|_, _| {
                n += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 3);

        // Deleting the newest chunks must not let ids go back.
        let max = store.max_chunk_id().unwrap();
        assert!(store.delete_article("a").unwrap());
        let again = store.replace_article(&article("c", "hc"), &[chunk(0, "c", 4)]).unwrap();
        assert!(again[0] > max);
    }

    #[test]
    fn open_existing_refuses_missing_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx").join(STORE_FILE_NAME);
        assert!(matches!(Store::open_existing(&path), Err(Error::IndexMissing { .. })));
        assert!(!path.exists());
        drop(Store::open(&path).unwrap());
        Store::open_existing(&path).unwrap();
    }

    #[test]
    fn delete_article_cascades() {
        let (_dir, mut store) = open_tmp();
        let ids = store.replace_article(&article("a", "h"), &[chunk(0, "x", 4)]).unwrap();
        store.replace_article(&article("b", "h"), &[chunk(0, "y", 4)]).unwrap();
        assert!(store.delete_article("a").unwrap());
        assert!(!store.delete_article("a").unwrap());
        assert!(store.chunk(ids[0]).unwrap().is_none());
        assert!(store.embedding(ids[0]).unwrap().is_none());
        assert_eq!(store.article_ids().unwrap(), vec!["b".to_string()]);
        let stats = store.stats().unwrap();
        assert_eq!((stats.articles, stats.chunks), (1, 1));
    }

    #[test]
    fn unknown_format_version_is_refused() {
        let (dir, store) = open_tmp();
        let path = store.path().to_path_buf();
        store.set_meta(FORMAT_KEY, "2").unwrap();
        drop(store);
        match Store::open(&path) {
            Err(Error::UnsupportedFormat { found: 2, .. }) => {}
            other => panic!("expected Error::UnsupportedFormat, got {other:?}"),
        }
        let store = Connection::open(&path).unwrap();
        store
            .execute("UPDATE meta SET value = 'banana' WHERE key = ?1", [FORMAT_KEY])
            .unwrap();
        drop(store);
        assert!(matches!(Store::open(&path), Err(Error::Corrupt { .. })));

        // A foreign SQLite file and a non-database file are refused, not overwritten.
        let foreign = dir.path().join("foreign.sqlite3");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        assert!(matches!(Store::open(&foreign), Err(Error::NotAStore { .. })));
        let junk = dir.path().join("junk.sqlite3");
        std::fs::write(&junk, vec![7u8; 4096]).unwrap();
        assert!(matches!(Store::open(&junk), Err(Error::Db { .. })));
    }

    #[test]
    fn failed_replacement_keeps_old_article() {
        let (_dir, mut store) = open_tmp();
        let a = article("a", "h1");
        let old = store
            .replace_article(&a, &[chunk(0, "old0", 4), chunk(1, "old1", 4)])
            .unwrap();
        // Duplicate ordinals violate UNIQUE on the second chunk insert: the old chunks are
        // already deleted and the article updated inside the transaction at that point.
        let bad = [chunk(0, "new0", 4), chunk(0, "dup", 4)];
        let err = store.replace_article(&article("a", "h2"), &bad).unwrap_err();
        assert!(matches!(err, Error::Db { .. }), "{err:?}");
        assert_eq!(store.article_hash("a").unwrap().as_deref(), Some("h1"));
        let texts: Vec<String> = store.article_chunks("a").unwrap().into_iter().map(|c| c.text).collect();
        assert_eq!(texts, vec!["old0".to_string(), "old1".to_string()]);
        assert!(store.embedding(old[0]).unwrap().is_some());
        // The store stays usable after the rollback.
        store.replace_article(&article("a", "h3"), &[chunk(0, "n", 4)]).unwrap();
        assert_eq!(store.article_hash("a").unwrap().as_deref(), Some("h3"));
    }

    #[test]
    fn bad_embeddings_are_rejected_before_writing() {
        let (_dir, mut store) = open_tmp();
        let mut c1 = chunk(1, "y", 3);
        assert!(matches!(
            store.replace_article(&article("a", "h"), &[chunk(0, "x", 4), c1.clone()]),
            Err(Error::BadEmbedding { .. })
        ));
        c1.embedding = vec![f32::NAN; 4];
        assert!(matches!(
            store.replace_article(&article("a", "h"), &[chunk(0, "x", 4), c1]),
            Err(Error::BadEmbedding { .. })
        ));
        assert_eq!(store.article_hash("a").unwrap(), None);
        // An article without chunks is legal (empty file).
        assert!(store.replace_article(&article("e", "h"), &[]).unwrap().is_empty());
    }

    #[test]
    fn uncommitted_transaction_is_invisible_after_kill() {
        // A writer that dies mid-transaction (simulated by leaking its connection with the
        // transaction open) must leave the committed article intact for readers.
        let (_dir, mut store) = open_tmp();
        store
            .replace_article(&article("a", "h1"), &[chunk(0, "old", 4)])
            .unwrap();
        let path = store.path().to_path_buf();
        {
            let mut other = Connection::open(&path).unwrap();
            other.execute_batch("PRAGMA foreign_keys = ON").unwrap();
            let tx = other.transaction().unwrap();
            tx.execute("DELETE FROM chunks WHERE article_id = 'a'", []).unwrap();
            tx.execute("UPDATE articles SET hash = 'h2' WHERE id = 'a'", [])
                .unwrap();
            // Never committed nor rolled back, like a killed process: leak both.
            std::mem::forget(tx);
            std::mem::forget(other);
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.article_hash("a").unwrap().as_deref(), Some("h1"));
        assert_eq!(store.article_chunks("a").unwrap().len(), 1);
    }
}
