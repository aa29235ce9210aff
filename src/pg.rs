//! The PostgreSQL backend: the storage seam ([`SearchBackend`], [`IngestBackend`]) on a
//! database server with pgvector, for corpora and teams that outgrow one machine.
//!
//! What it owns and why:
//! - **The schema**, versioned in its `sourcier_meta` table ([`SCHEMA_VERSION`], the manifest
//!   with the embedder fingerprint). Opening applies missing migrations under an advisory lock
//!   (so two workers starting at once do not race), and refuses a newer schema.
//! - **Vectors** in `sourcier_embeddings.embedding vector(dims)` with an HNSW index
//!   (`vector_cosine_ops`); a Matryoshka index declares its own width. Filtered queries use
//!   pgvector's iterative index scans, so a filter never empties the top k.
//! - **Lexical search** on a `tsvector` per chunk built with the `french` or `english`
//!   configuration by the article's language (`simple` otherwise), over `unaccent`ed text,
//!   with a GIN index. The query is analysed with both configurations and OR-ed, as the
//!   tantivy leg does across languages. Ranking is `ts_rank` (not BM25: PostgreSQL has no IDF);
//!   `docs/benchmarks.md` measures what that costs.
//! - **Filters** (language, dates of mixed precision, source glob) as parameters of the same
//!   SQL statements that rank, never as a post-filter.
//! - **Concurrent ingest**: each article is replaced in one transaction that first upserts
//!   its row (taking its row lock), so workers on overlapping folders serialise per article and
//!   neither duplicate nor lose one. A killed worker leaves whole articles only.
//!
//! - **The answerer's sentence vectors** in `sourcier_sentence_vectors`, written at ingest
//!   and read by every answer, as the embedded store's table does.
//!
//! Every statement is a constant string with `$n` parameters; user text never becomes SQL.
//! Connections come from an r2d2 pool; TLS (rustls, the system's roots) is used when the URL
//! asks for it with `sslmode=require`.

use std::collections::HashMap;
use std::sync::Arc;

use pgvector::Vector;
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::postgres::{self, Client, Transaction};
use r2d2_postgres::r2d2;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::answer::SentenceCache;
use crate::backend::{IngestBackend, Scored, SearchBackend, Selection};
use crate::date::PartialDate;
use crate::library::IndexManifest;
use crate::progress::Progress;
use crate::retrieve::Filters;
use crate::store::{ArticleRow, ArticleText, ChunkRow, NewChunk, StoreStats};
use crate::{Error, Result};

/// Version of the tables sourcier creates. Bump it with a new entry in [`MIGRATIONS`].
pub const SCHEMA_VERSION: u32 = 3;

/// `ef_search` of the HNSW scans: as the embedded index (`index::Params`), so that both
/// backends search with the same effort.
pub const EF_SEARCH: usize = 128;

/// Advisory-lock key under which schemas are created and migrated ("sourcier" in ASCII).
const MIGRATION_LOCK: i64 = 0x736f_7572_6369_6572;

/// Connections per process: one per core is what the CPU-bound callers can use, plus one
/// for the ingest writer.
const POOL_SIZE: u32 = 4;

/// True when `location` names a PostgreSQL server rather than an index directory.
pub fn is_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// `url` with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    // postgres://user:secret@host/db → postgres://user:***@host/db
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.find('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    match userinfo.find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

/// The migrations, in order: entry `i` brings a schema from version `i` to `i + 1`. `{dims}`
/// is replaced by the manifest's dimension (a number, never user text), `{vt}` by the
/// vector type ([`VectorType`]).
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the initial schema.
    r#"
    CREATE TABLE sourcier_articles (
        id text PRIMARY KEY,
        source_path text NOT NULL,
        title text,
        date text,
        lang text,
        url text,
        hash text NOT NULL,
        -- Derived from `lang` and `date` at write time, so filters run in SQL.
        lang_norm text,
        d_year int,
        d_month int,
        d_day int
    );
    CREATE INDEX sourcier_articles_source ON sourcier_articles (source_path);
    CREATE TABLE sourcier_chunks (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        article_id text NOT NULL REFERENCES sourcier_articles (id) ON DELETE CASCADE,
        ordinal int NOT NULL,
        text text NOT NULL,
        start_byte bigint NOT NULL,
        end_byte bigint NOT NULL,
        line_start int NOT NULL,
        line_end int NOT NULL,
        tsv tsvector NOT NULL,
        UNIQUE (article_id, ordinal)
    );
    CREATE INDEX sourcier_chunks_tsv ON sourcier_chunks USING gin (tsv);
    CREATE TABLE sourcier_embeddings (
        chunk_id bigint PRIMARY KEY REFERENCES sourcier_chunks (id) ON DELETE CASCADE,
        embedding {vt}({dims}) NOT NULL
    );
    CREATE INDEX sourcier_embeddings_hnsw ON sourcier_embeddings
        USING hnsw (embedding {vt}_cosine_ops) WITH (m = 24, ef_construction = 200);
    CREATE TABLE sourcier_article_texts (
        article_id text PRIMARY KEY REFERENCES sourcier_articles (id) ON DELETE CASCADE,
        line_base int NOT NULL,
        text text NOT NULL,
        blocks bigint[] NOT NULL
    );
    "#,
    // 1 → 2: vectors of a long article staged batch by batch before the article is stored.
    r#"
    CREATE TABLE sourcier_staged_vectors (
        article_id text NOT NULL,
        key bytea NOT NULL,
        embedding real[] NOT NULL,
        PRIMARY KEY (article_id, key)
    );
    "#,
    // 2 → 3: the answerer's sentence vectors, computed at ingest (a cache: keys name the
    // embedder, title and sentence, so rows are never wrong, only perhaps unused).
    r#"
    CREATE TABLE sourcier_sentence_vectors (
        key text PRIMARY KEY,
        embedding real[] NOT NULL
    );
    "#,
];

/// How vectors are stored: `vector` (4-byte floats) by default, or `halfvec` (2-byte floats:
/// half the table and index, at a rounding cost `docs/benchmarks.md` measures). Chosen when
/// the index is created, from `SOURCIER_PG_VECTOR` (`vector` or `halfvec`), and kept in
/// `sourcier_meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorType {
    Vector,
    HalfVec,
}

impl VectorType {
    fn sql(self) -> &'static str {
        match self {
            VectorType::Vector => "vector",
            VectorType::HalfVec => "halfvec",
        }
    }

    fn parse(s: &str) -> Option<VectorType> {
        match s.trim() {
            "" | "vector" => Some(VectorType::Vector),
            "halfvec" => Some(VectorType::HalfVec),
            _ => None,
        }
    }
}

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;

/// Sets each pooled connection up for sourcier's queries.
#[derive(Debug)]
struct Session;

impl r2d2::CustomizeConnection<Client, postgres::Error> for Session {
    fn on_acquire(&self, conn: &mut Client) -> std::result::Result<(), postgres::Error> {
        // Iterative scans keep an HNSW scan going until enough rows pass the filters.
        conn.batch_execute(&format!(
            "SET hnsw.ef_search = {EF_SEARCH}; SET hnsw.iterative_scan = relaxed_order;"
        ))
    }
}

/// An index in a PostgreSQL database (tables `sourcier_*` in the connection's schema).
pub struct PgLibrary {
    pool: Pool,
    location: String,
    pub manifest: IndexManifest,
    vector_type: VectorType,
    /// Chunk count and mean tokens per chunk, for BM25: read once per open (a scan
    /// of every chunk), so a query never pays for it.
    lexical_stats: std::sync::OnceLock<(f64, f64)>,
    /// Opened for ingest: only then does the sentence cache write (reads never write).
    writable: bool,
}

impl std::fmt::Debug for PgLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLibrary").field("location", &self.location).finish()
    }
}

fn db_err(location: &str) -> impl Fn(postgres::Error) -> Error + '_ {
    move |e| Error::Database {
        location: location.to_string(),
        detail: describe(&e),
    }
}

/// The server's message when there is one (the `Display` of a server error is only "db error").
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => {
            let mut s = format!("{}: {}", d.severity(), d.message());
            if let Some(h) = d.hint() {
                s.push_str(&format!(" (hint: {h})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    }
}

fn pool_err(location: &str) -> impl Fn(r2d2::Error) -> Error + '_ {
    move |e| Error::DatabaseUnreachable {
        location: location.to_string(),
        detail: e.to_string(),
    }
}

/// A TLS connector that verifies servers against the system's root certificates.
fn tls() -> MakeRustlsConnect {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A malformed system certificate only narrows what can be verified.
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    MakeRustlsConnect::new(config)
}

/// Parses a libpq URL. Without an explicit `sslmode` TLS is off (libpq would "prefer" it,
/// which with a verifying client fails on the self-signed certificates of local servers);
/// `sslmode=require` turns it on, with certificate verification.
fn config(url: &str) -> Result<postgres::Config> {
    let mut cfg: postgres::Config = url.parse().map_err(|e: postgres::Error| Error::InvalidOption {
        name: "backend",
        detail: format!("`{}` is not a PostgreSQL URL: {e}", redact(url)),
    })?;
    if !url.contains("sslmode=") {
        cfg.ssl_mode(postgres::config::SslMode::Disable);
    }
    if cfg.get_application_name().is_none() {
        cfg.application_name("sourcier");
    }
    Ok(cfg)
}

fn connect(url: &str) -> Result<(Pool, String)> {
    let location = redact(url);
    let manager = PostgresConnectionManager::new(config(url)?, tls());
    let pool = r2d2::Pool::builder()
        .max_size(POOL_SIZE)
        .min_idle(Some(0))
        .connection_timeout(std::time::Duration::from_secs(10))
        .connection_customizer(Box::new(Session))
        .build(manager)
        .map_err(pool_err(&location))?;
    Ok((pool, location))
}

fn read_meta(
    client: &mut impl postgres::GenericClient,
    location: &str,
) -> Result<Option<(u32, IndexManifest, VectorType)>> {
    let exists: bool = client
        .query_one("SELECT to_regclass('sourcier_meta') IS NOT NULL", &[])
        .map_err(db_err(location))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let rows = client
        .query("SELECT key, value FROM sourcier_meta", &[])
        .map_err(db_err(location))?;
    let get = |k: &str| {
        rows.iter()
            .find(|r| r.get::<_, &str>(0) == k)
            .map(|r| r.get::<_, String>(1))
    };
    let version: u32 = get("schema_version")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Corrupt {
            path: location.into(),
            detail: "sourcier_meta has no schema_version".into(),
        })?;
    let manifest: IndexManifest = get("manifest")
        .and_then(|m| serde_json::from_str(&m).ok())
        .ok_or_else(|| Error::Corrupt {
            path: location.into(),
            detail: "sourcier_meta has no readable manifest".into(),
        })?;
    let vt = VectorType::parse(&get("vector_type").unwrap_or_default()).ok_or_else(|| Error::Corrupt {
        path: location.into(),
        detail: "sourcier_meta names an unknown vector_type".into(),
    })?;
    Ok(Some((version, manifest, vt)))
}

fn check_version(version: u32, location: &str) -> Result<()> {
    if version > SCHEMA_VERSION {
        return Err(Error::UnsupportedFormat {
            path: location.into(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Applies the migrations from `from` up to [`SCHEMA_VERSION`] in `tx`.
fn migrate(tx: &mut Transaction<'_>, from: u32, dims: usize, vt: VectorType, location: &str) -> Result<()> {
    for (v, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tracing::info!(location, from = v, to = v + 1, "migrating the PostgreSQL schema");
        tx.batch_execute(&sql.replace("{dims}", &dims.to_string()).replace("{vt}", vt.sql()))
            .map_err(db_err(location))?;
    }
    tx.execute(
        "UPDATE sourcier_meta SET value = $1 WHERE key = 'schema_version'",
        &[&SCHEMA_VERSION.to_string()],
    )
    .map_err(db_err(location))?;
    Ok(())
}

impl PgLibrary {
    /// BM25's corpus statistics: the chunk count and the mean number of tokens per chunk.
    fn lexical_stats(&self) -> Result<(f64, f64)> {
        if let Some(s) = self.lexical_stats.get() {
            return Ok(*s);
        }
        let row = self
            .client()?
            .query_one(
                "SELECT count(*)::float8, coalesce(avg((SELECT sum(coalesce(array_length(positions, 1), 1)) \
                 FROM unnest(tsv))), 1)::float8 FROM sourcier_chunks",
                &[],
            )
            .map_err(self.err())?;
        let s = (row.get::<_, f64>(0), row.get::<_, f64>(1).max(1.0));
        Ok(*self.lexical_stats.get_or_init(|| s))
    }

    /// Opens an existing index for reading. Refuses a newer schema; an older one must be
    /// migrated by a writer first ([`PgLibrary::open_for_ingest`]), since reads never write.
    pub fn open(url: &str) -> Result<PgLibrary> {
        let (pool, location) = connect(url)?;
        let mut client = pool.get().map_err(pool_err(&location))?;
        let Some((version, manifest, vector_type)) = read_meta(&mut *client, &location)? else {
            return Err(Error::IndexMissing { path: location.into() });
        };
        check_version(version, &location)?;
        if version < SCHEMA_VERSION {
            return Err(Error::UnsupportedFormat {
                path: location.into(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        drop(client);
        Ok(PgLibrary {
            pool,
            location,
            manifest,
            vector_type,
            lexical_stats: std::sync::OnceLock::new(),
            writable: false,
        })
    }

    /// The stored manifest, or `None` when the database holds no sourcier index.
    pub fn read_manifest(url: &str) -> Result<Option<IndexManifest>> {
        let (pool, location) = connect(url)?;
        let mut client = pool.get().map_err(pool_err(&location))?;
        Ok(read_meta(&mut *client, &location)?.map(|(_, m, _)| m))
    }

    /// Opens an index for writing, creating the extensions and tables with `manifest` when the
    /// database has none, and migrating an older schema. An existing index keeps its manifest,
    /// which must match `manifest`'s embedder and chunking.
    pub fn open_for_ingest(url: &str, manifest: IndexManifest) -> Result<PgLibrary> {
        let (pool, location) = connect(url)?;
        let mut client = pool.get().map_err(pool_err(&location))?;
        let mut tx = client.transaction().map_err(db_err(&location))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(db_err(&location))?;
        let (stored, vector_type) = match read_meta(&mut tx, &location)? {
            Some((version, stored, vt)) => {
                check_version(version, &location)?;
                if version < SCHEMA_VERSION {
                    migrate(&mut tx, version, stored.dims, vt, &location)?;
                }
                (stored, vt)
            }
            None => {
                for ext in ["vector", "unaccent"] {
                    // CREATE EXTENSION takes no parameters; the names are constants.
                    tx.batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {ext}"))
                        .map_err(|e| Error::DatabaseExtension {
                            location: location.clone(),
                            extension: ext,
                            detail: describe(&e),
                        })?;
                }
                tx.batch_execute("CREATE TABLE sourcier_meta (key text PRIMARY KEY, value text NOT NULL)")
                    .map_err(db_err(&location))?;
                let choice = std::env::var("SOURCIER_PG_VECTOR").unwrap_or_default();
                let vt = VectorType::parse(&choice).ok_or_else(|| Error::InvalidOption {
                    name: "SOURCIER_PG_VECTOR",
                    detail: format!("`{choice}` is not a vector type: use vector or halfvec"),
                })?;
                let json = serde_json::to_string(&manifest).expect("a manifest serialises");
                tx.execute(
                    "INSERT INTO sourcier_meta (key, value) VALUES ('schema_version', '0'), ('manifest', $1), \
                     ('vector_type', $2)",
                    &[&json, &vt.sql()],
                )
                .map_err(db_err(&location))?;
                migrate(&mut tx, 0, manifest.dims, vt, &location)?;
                (manifest.clone(), vt)
            }
        };
        tx.commit().map_err(db_err(&location))?;
        drop(client);
        crate::backend::check_fingerprint(&stored, &location, &manifest.embedder, &manifest.embedder_fingerprint)?;
        if stored.chunk_tokens != manifest.chunk_tokens || stored.overlap_sentences != manifest.overlap_sentences {
            return Err(Error::ChunkingMismatch {
                path: location.into(),
                chunk_tokens: stored.chunk_tokens,
                overlap: stored.overlap_sentences,
            });
        }
        Ok(PgLibrary {
            pool,
            location,
            manifest: stored,
            vector_type,
            lexical_stats: std::sync::OnceLock::new(),
            writable: true,
        })
    }

    fn client(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>> {
        self.pool.get().map_err(pool_err(&self.location))
    }

    fn err(&self) -> impl Fn(postgres::Error) -> Error + '_ {
        db_err(&self.location)
    }

    /// Counts for `index stats`.
    pub fn stats(&self) -> Result<StoreStats> {
        let mut c = self.client()?;
        let articles: i64 = c
            .query_one("SELECT count(*) FROM sourcier_articles", &[])
            .map_err(self.err())?
            .get(0);
        let chunks: i64 = c
            .query_one("SELECT count(*) FROM sourcier_chunks", &[])
            .map_err(self.err())?
            .get(0);
        let languages = c
            .query(
                "SELECT lang, count(*) FROM sourcier_articles GROUP BY lang ORDER BY count(*) DESC, lang",
                &[],
            )
            .map_err(self.err())?
            .iter()
            .map(|r| (r.get::<_, Option<String>>(0), r.get::<_, i64>(1) as u64))
            .collect();
        Ok(StoreStats {
            articles: articles as u64,
            chunks: chunks as u64,
            languages,
        })
    }

    /// Bytes the tables and their indexes take on the server.
    pub fn disk_size(&self) -> Result<u64> {
        let mut c = self.client()?;
        let n: i64 = c
            .query_one(
                "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
                 WHERE c.relname LIKE 'sourcier\\_%' AND c.relkind = 'r' AND pg_table_is_visible(c.oid)",
                &[],
            )
            .map_err(self.err())?
            .get(0);
        Ok(n as u64)
    }

    /// Rebuilds the HNSW and GIN indexes and recomputes every chunk's `tsvector` (after an
    /// analyser change), without re-embedding. Returns the number of chunks.
    pub fn rebuild(&self, progress: &dyn Progress) -> Result<usize> {
        let mut c = self.client()?;
        progress.start("rebuilding the PostgreSQL indexes", None);
        let mut tx = c.transaction().map_err(self.err())?;
        tx.batch_execute(&format!(
            "UPDATE sourcier_chunks c SET tsv = to_tsvector({CONFIG_OF_LANG}, unaccent(c.text)) \
             FROM sourcier_articles a WHERE a.id = c.article_id; \
             REINDEX INDEX sourcier_embeddings_hnsw; REINDEX INDEX sourcier_chunks_tsv; ANALYZE;"
        ))
        .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        progress.finish();
        Ok(self.chunk_count()? as usize)
    }

    /// Every chunk with its embedding, in id order, for copying an index elsewhere.
    pub fn all_chunks(&self) -> Result<Vec<(ChunkRow, Vec<f32>)>> {
        let mut c = self.client()?;
        let rows = c
            .query(
                &format!(
                    "SELECT {CHUNK_COLS}, e.embedding::vector FROM sourcier_chunks c \
                 JOIN sourcier_embeddings e ON e.chunk_id = c.id ORDER BY c.article_id, c.ordinal"
                ),
                &[],
            )
            .map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| (chunk_row(r), r.get::<_, Vector>(8).to_vec()))
            .collect())
    }
}

/// The text-search configuration of an article, from its normalised language: an SQL
/// expression over `a.lang_norm`.
const CONFIG_OF_LANG: &str =
    "(CASE a.lang_norm WHEN 'fr' THEN 'french' WHEN 'en' THEN 'english' ELSE 'simple' END)::regconfig";

const CHUNK_COLS: &str = "c.id, c.article_id, c.ordinal, c.text, c.start_byte, c.end_byte, c.line_start, c.line_end";

const ARTICLE_COLS: &str = "a.id, a.source_path, a.title, a.date, a.lang, a.url, a.hash";

fn chunk_row(r: &postgres::Row) -> ChunkRow {
    ChunkRow {
        id: r.get(0),
        article_id: r.get(1),
        ordinal: r.get::<_, i32>(2) as u32,
        text: r.get(3),
        start: r.get::<_, i64>(4) as usize,
        end: r.get::<_, i64>(5) as usize,
        line_start: r.get::<_, i32>(6) as u32,
        line_end: r.get::<_, i32>(7) as u32,
    }
}

fn article_row(r: &postgres::Row, at: usize) -> ArticleRow {
    ArticleRow {
        id: r.get(at),
        source_path: r.get(at + 1),
        title: r.get(at + 2),
        date: r.get(at + 3),
        lang: r.get(at + 4),
        url: r.get(at + 5),
        hash: r.get(at + 6),
    }
}

/// The filter of a ranking statement, over `a` (articles), with its parameters from `$2` on
/// (`$1` is the query). Always the same text: absent filters are NULL parameters.
const FILTER_SQL: &str = "($2::text IS NULL OR a.lang_norm = $2) \
    AND ($3::int IS NULL OR a.d_year > $3 OR (a.d_year = $3 AND (a.d_month IS NULL OR $4::int IS NULL \
        OR a.d_month > $4 OR (a.d_month = $4 AND (a.d_day IS NULL OR $5::int IS NULL OR a.d_day >= $5))))) \
    AND ($6::int IS NULL OR a.d_year < $6 OR (a.d_year = $6 AND (a.d_month IS NULL OR $7::int IS NULL \
        OR a.d_month < $7 OR (a.d_month = $7 AND (a.d_day IS NULL OR $8::int IS NULL OR a.d_day <= $8))))) \
    AND ($9::text IS NULL OR a.id ~ $9 OR a.source_path ~ $9)";

/// BM25 (k1 1.2, b 0.75, tantivy's IDF) computed in SQL, so that the lexical leg ranks as
/// the embedded index's tantivy does; `ts_rank` has no IDF, and ranked PIAF 0.10 nDCG@10
/// lower (`docs/benchmarks.md`). The query is analysed with the text-search configuration of
/// its language (`config`, a constant: `french`, `english`, or `both`), its lexemes OR-ed; the best
/// 2,000 matches by `ts_rank` (a GIN scan) are rescored from their term frequencies, document
/// frequencies come from the GIN index one term at a time, and a chunk's length is its token
/// count. Analysing with both configurations, or measuring length in distinct lexemes, each
/// cost 0.005-0.01 nDCG@10 on PIAF. `df` and `cand` are `MATERIALIZED`: inlined, the per-term
/// counts ran once per joined row (650 ms a query). `$1` is the query; `from` and `and` select
/// the candidates; `k`, `n` (chunk count) and `avgdl` name their parameters.
fn bm25_sql(config: &str, from: &str, and: &str, k: &str, n: &str, avgdl: &str) -> String {
    let lexemes = match config {
        "both" => "tsvector_to_array(to_tsvector('french', unaccent($1))) \
                   || tsvector_to_array(to_tsvector('english', unaccent($1)))"
            .to_string(),
        c => format!("tsvector_to_array(to_tsvector('{c}', unaccent($1)))"),
    };
    const QUOTE: &str = "'''' || replace(replace(term, '\\', '\\\\'), '''', '''''') || ''''";
    format!(
        "WITH terms AS (SELECT DISTINCT l AS term FROM \
             unnest({lexemes}) AS l), \
         q AS (SELECT to_tsquery('simple', NULLIF(string_agg({QUOTE}, ' | '), '')) AS q FROM terms), \
         df AS MATERIALIZED (SELECT term, (SELECT count(*) FROM sourcier_chunks d \
             WHERE d.tsv @@ to_tsquery('simple', {QUOTE}))::float8 AS n FROM terms), \
         cand AS MATERIALIZED (SELECT c.id, c.tsv FROM {from}, q WHERE q.q IS NOT NULL AND c.tsv @@ q.q {and} \
             ORDER BY ts_rank(c.tsv, q.q) DESC, c.id LIMIT 2000) \
         SELECT cand.id, sum(ln(1 + ({n}::float8 - df.n + 0.5) / (df.n + 0.5)) * u.tf * 2.2 \
             / (u.tf + 1.2 * (0.25 + 0.75 * dl.len / {avgdl}::float8)))::real AS r \
         FROM cand CROSS JOIN LATERAL (SELECT sum(coalesce(array_length(positions, 1), 1))::float8 AS len \
             FROM unnest(cand.tsv)) dl \
         CROSS JOIN LATERAL (SELECT lexeme, coalesce(array_length(positions, 1), 1)::float8 AS tf \
             FROM unnest(cand.tsv)) u JOIN df ON df.term = u.lexeme \
         GROUP BY cand.id ORDER BY r DESC, cand.id LIMIT {k}"
    )
}

/// The parameters `$2..$9` of [`FILTER_SQL`].
struct FilterParams {
    lang: Option<String>,
    since: [Option<i32>; 3],
    until: [Option<i32>; 3],
    source: Option<String>,
}

fn date_parts(d: Option<PartialDate>) -> [Option<i32>; 3] {
    match d {
        Some(d) => [
            Some(i32::from(d.year())),
            d.month().map(i32::from),
            d.day().map(i32::from),
        ],
        None => [None; 3],
    }
}

impl FilterParams {
    fn new(f: &Filters) -> FilterParams {
        FilterParams {
            lang: f.lang.clone(),
            since: date_parts(f.dates.since),
            until: date_parts(f.dates.until),
            source: f.source.as_ref().map(|g| glob_to_regex(g.as_str())),
        }
    }

    fn params(&self) -> [&(dyn postgres::types::ToSql + Sync); 8] {
        [
            &self.lang,
            &self.since[0],
            &self.since[1],
            &self.since[2],
            &self.until[0],
            &self.until[1],
            &self.until[2],
            &self.source,
        ]
    }
}

/// A glob (as `glob::Pattern` reads it: `*` and `**` match anything including `/`, `?` one
/// character, `[…]` and `[!…]` classes) as an anchored POSIX regular expression.
pub fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' => {
                let first = i;
                while i + 1 < chars.len() && chars[i + 1] == '*' {
                    i += 1;
                }
                // `**/` as a whole component is zero or more directories, as glob::Pattern
                // reads it: `**/x.txt` matches `x.txt` too, and a final `**/` matches anything.
                let component = i > first && (first == 0 || chars[first - 1] == '/');
                if component && chars.get(i + 1) == Some(&'/') {
                    out.push_str(if i + 2 == chars.len() { ".*" } else { "(.*/)?" });
                    i += 1;
                } else {
                    out.push_str(".*");
                }
            }
            '?' => out.push('.'),
            '[' => {
                // A class runs to the next `]` that is not its first member.
                let mut j = i + 1;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                } else {
                    out.push('[');
                    let mut k = i + 1;
                    if chars[k] == '!' {
                        out.push('^');
                        k += 1;
                    }
                    while k < j {
                        let m = chars[k];
                        if m == '\\' || m == '[' || m == '^' {
                            out.push('\\');
                        }
                        out.push(m);
                        k += 1;
                    }
                    out.push(']');
                    i = j;
                }
            }
            c if "\\.^$|()[]{}+*?".contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        i += 1;
    }
    out.push('$');
    out
}

/// The answerer's sentence vectors, filled at ingest and read by every answer. A failure
/// only costs time (the answerer embeds what it does not find), so it is logged, not raised.
impl SentenceCache for PgLibrary {
    fn get(&self, key: &str) -> Option<Vec<f32>> {
        let row = self.client().ok()?.query_opt(
            "SELECT embedding FROM sourcier_sentence_vectors WHERE key = $1",
            &[&key],
        );
        match row {
            Ok(r) => r.map(|r| r.get(0)),
            Err(e) => {
                tracing::debug!(error = %describe(&e), "sentence cache read failed");
                None
            }
        }
    }
    fn get_many(&self, keys: &[String]) -> Vec<Option<Vec<f32>>> {
        // One round trip for an answer's forty-odd sentences instead of one each.
        let rows = self.client().and_then(|mut c| {
            c.query(
                "SELECT key, embedding FROM sourcier_sentence_vectors WHERE key = ANY($1)",
                &[&keys],
            )
            .map_err(self.err())
        });
        match rows {
            Ok(rows) => {
                let mut found: std::collections::HashMap<String, Vec<f32>> =
                    rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
                keys.iter().map(|k| found.remove(k)).collect()
            }
            Err(e) => {
                tracing::debug!(error = %e, "sentence cache read failed");
                vec![None; keys.len()]
            }
        }
    }
    fn put(&self, items: &[(String, Vec<f32>)]) {
        if !self.writable || items.is_empty() {
            return;
        }
        let dims = items[0].1.len();
        if items.iter().any(|(_, v)| v.len() != dims) {
            return;
        }
        let keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
        let flat: Vec<f32> = items.iter().flat_map(|(_, v)| v.iter().copied()).collect();
        // One statement per batch; real[][] must be rectangular, so vectors travel flat.
        let r = self.client().and_then(|mut c| {
            c.execute(
                "INSERT INTO sourcier_sentence_vectors (key, embedding) \
                 SELECT k, ($2::real[])[((i - 1) * $3 + 1)::int:(i * $3)::int] \
                 FROM unnest($1::text[]) WITH ORDINALITY AS u(k, i) \
                 ON CONFLICT (key) DO UPDATE SET embedding = EXCLUDED.embedding",
                &[&keys, &flat, &(dims as i64)],
            )
            .map_err(self.err())
        });
        if let Err(e) = r {
            tracing::debug!(error = %e, "sentence cache write failed");
        }
    }
}

impl SearchBackend for PgLibrary {
    fn manifest(&self) -> &IndexManifest {
        &self.manifest
    }
    fn sentence_cache(&self) -> &dyn SentenceCache {
        self
    }
    fn location(&self) -> String {
        self.location.clone()
    }
    fn chunk_count(&self) -> Result<u64> {
        let n: i64 = self
            .client()?
            .query_one("SELECT count(*) FROM sourcier_chunks", &[])
            .map_err(self.err())?
            .get(0);
        Ok(n as u64)
    }
    /// Filters stay filters: they become parameters of the ranking statements.
    fn select(&self, filters: &Filters) -> Result<Selection> {
        Ok(if filters.is_empty() {
            Selection::All
        } else {
            Selection::Filters(filters.clone())
        })
    }
    fn dense_top_k(&self, q: &[f32], k: usize, selection: &Selection) -> Result<Scored> {
        let mut c = self.client()?;
        let v = Vector::from(q.to_vec());
        let k = k as i64;
        // The query vector is sent as `vector` and cast to the column's type.
        let vt = self.vector_type.sql();
        let rows = match selection {
            Selection::All => c.query(
                &format!(
                    "SELECT chunk_id, (1 - (embedding <=> $1::vector::{vt}))::real FROM sourcier_embeddings \
                     ORDER BY embedding <=> $1::vector::{vt} LIMIT $2"
                ),
                &[&v, &k],
            ),
            Selection::Filters(f) => {
                let fp = FilterParams::new(f);
                let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&v];
                params.extend(fp.params());
                params.push(&k);
                c.query(
                    &format!(
                        "SELECT e.chunk_id, (1 - (e.embedding <=> $1::vector::{vt}))::real FROM sourcier_embeddings e \
                         JOIN sourcier_chunks c ON c.id = e.chunk_id JOIN sourcier_articles a ON a.id = c.article_id \
                         WHERE {FILTER_SQL} ORDER BY e.embedding <=> $1::vector::{vt} LIMIT $10"
                    ),
                    &params,
                )
            }
            Selection::Chunks(ids) => {
                let ids: Vec<i64> = ids.iter().copied().collect();
                c.query(
                    &format!(
                        "SELECT chunk_id, (1 - (embedding <=> $1::vector::{vt}))::real FROM sourcier_embeddings \
                         WHERE chunk_id = ANY($3) ORDER BY embedding <=> $1::vector::{vt} LIMIT $2"
                    ),
                    &[&v, &k, &ids],
                )
            }
        }
        .map_err(self.err())?;
        let mut out: Scored = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        // relaxed_order scans may return near-ties slightly out of order.
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(out)
    }
    fn lexical_top_k(&self, query: &str, k: usize, selection: &Selection) -> Result<Scored> {
        let (n, avgdl) = self.lexical_stats()?;
        // A French question is analysed in French. A keyword query says little about its
        // language, and an English question is often asked about French articles: both
        // configurations (measured on the bundled articles: English questions' lexical nDCG@10
        // 0.699 with `english` alone, 0.866 with both; French ones 0.996 either way; and on
        // PIAF, French alone beats both by 0.009).
        let keyword = query.split_whitespace().count() <= crate::retrieve::KEYWORD_QUERY_WORDS;
        let config = if !keyword && crate::lang::question_lang(query) == "fr" {
            "french"
        } else {
            "both"
        };
        let mut c = self.client()?;
        let k = k as i64;
        let rows = match selection {
            Selection::All => c.query(
                &bm25_sql(config, "sourcier_chunks c", "", "$2", "$3", "$4"),
                &[&query, &k, &n, &avgdl],
            ),
            Selection::Filters(f) => {
                let fp = FilterParams::new(f);
                let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&query];
                params.extend(fp.params());
                params.push(&k);
                params.push(&n);
                params.push(&avgdl);
                c.query(
                    &bm25_sql(
                        config,
                        "sourcier_chunks c JOIN sourcier_articles a ON a.id = c.article_id",
                        &format!("AND {FILTER_SQL}"),
                        "$10",
                        "$11",
                        "$12",
                    ),
                    &params,
                )
            }
            Selection::Chunks(ids) => {
                let ids: Vec<i64> = ids.iter().copied().collect();
                c.query(
                    &bm25_sql(config, "sourcier_chunks c", "AND c.id = ANY($5)", "$2", "$3", "$4"),
                    &[&query, &k, &n, &avgdl, &ids],
                )
            }
        }
        .map_err(self.err())?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
    fn chunks_by_ids(&self, ids: &[i64]) -> Result<Vec<(ChunkRow, ArticleRow)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .client()?
            .query(
                &format!(
                    "SELECT {CHUNK_COLS}, {ARTICLE_COLS} FROM sourcier_chunks c \
                     JOIN sourcier_articles a ON a.id = c.article_id WHERE c.id = ANY($1)"
                ),
                &[&ids],
            )
            .map_err(self.err())?;
        Ok(rows.iter().map(|r| (chunk_row(r), article_row(r, 8))).collect())
    }
    fn embeddings(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<f32>>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = self
            .client()?
            .query(
                "SELECT chunk_id, embedding::vector FROM sourcier_embeddings WHERE chunk_id = ANY($1)",
                &[&ids],
            )
            .map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0), r.get::<_, Vector>(1).to_vec()))
            .collect())
    }
    fn article_chunks(&self, article_id: &str) -> Result<Vec<ChunkRow>> {
        let rows = self
            .client()?
            .query(
                &format!("SELECT {CHUNK_COLS} FROM sourcier_chunks c WHERE c.article_id = $1 ORDER BY c.ordinal"),
                &[&article_id],
            )
            .map_err(self.err())?;
        Ok(rows.iter().map(chunk_row).collect())
    }
    fn article_ids(&self) -> Result<Vec<String>> {
        let rows = self
            .client()?
            .query("SELECT id FROM sourcier_articles ORDER BY id", &[])
            .map_err(self.err())?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
    fn article(&self, id: &str) -> Result<Option<(ArticleRow, Option<ArticleText>)>> {
        let mut c = self.client()?;
        let Some(row) = c
            .query_opt(
                &format!(
                    "SELECT {ARTICLE_COLS}, t.line_base, t.text, t.blocks FROM sourcier_articles a \
                     LEFT JOIN sourcier_article_texts t ON t.article_id = a.id WHERE a.id = $1"
                ),
                &[&id],
            )
            .map_err(self.err())?
        else {
            return Ok(None);
        };
        let text = row.get::<_, Option<String>>(8).map(|text| {
            let flat: Vec<i64> = row.get(9);
            ArticleText {
                line_base: row.get::<_, i32>(7) as u32,
                text,
                blocks: flat.chunks_exact(2).map(|p| (p[0] as usize, p[1] as usize)).collect(),
            }
        });
        Ok(Some((article_row(&row, 0), text)))
    }
    fn stats(&self) -> Result<StoreStats> {
        PgLibrary::stats(self)
    }
    fn disk_size(&self) -> Result<u64> {
        PgLibrary::disk_size(self)
    }
}

/// The columns derived from an article for SQL filters: normalised language and date parts.
fn derived(a: &ArticleRow) -> (Option<String>, [Option<i32>; 3]) {
    (
        a.lang.as_deref().and_then(crate::lang::normalize),
        date_parts(a.date.as_deref().and_then(PartialDate::from_stored)),
    )
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl IngestBackend for PgLibrary {
    fn manifest(&self) -> &IndexManifest {
        &self.manifest
    }
    fn location(&self) -> String {
        self.location.clone()
    }
    fn article_hashes(&self, ids: &[&str]) -> Result<HashMap<String, String>> {
        let ids: Vec<&str> = ids.to_vec();
        let rows = self
            .client()?
            .query("SELECT id, hash FROM sourcier_articles WHERE id = ANY($1)", &[&ids])
            .map_err(self.err())?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
    fn set_source_paths(&mut self, moves: &[(&str, &str)]) -> Result<()> {
        if moves.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = moves.iter().map(|m| m.0).collect();
        let paths: Vec<&str> = moves.iter().map(|m| m.1).collect();
        self.client()?
            .execute(
                "UPDATE sourcier_articles a SET source_path = m.path \
                 FROM unnest($1::text[], $2::text[]) AS m(id, path) WHERE a.id = m.id",
                &[&ids, &paths],
            )
            .map_err(self.err())?;
        Ok(())
    }
    fn replace_article(&mut self, article: &ArticleRow, chunks: &[NewChunk]) -> Result<Vec<i64>> {
        let dims = self.manifest.dims;
        for (i, ch) in chunks.iter().enumerate() {
            if ch.embedding.len() != dims || ch.embedding.iter().any(|x| !x.is_finite()) {
                return Err(Error::BadEmbedding {
                    chunk: format!("{}#{i}", article.id),
                    detail: format!("{} values, expected {dims} finite ones", ch.embedding.len()),
                });
            }
        }
        let mut c = self.client()?;
        let mut tx = c.transaction().map_err(self.err())?;
        let (lang_norm, d) = derived(article);
        // The upsert takes the article's row lock: a concurrent writer of the same article
        // waits here until this transaction ends, so the two never interleave their chunks.
        tx.execute(
            "INSERT INTO sourcier_articles (id, source_path, title, date, lang, url, hash, lang_norm, d_year, d_month, d_day) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET source_path = EXCLUDED.source_path, title = EXCLUDED.title, \
             date = EXCLUDED.date, lang = EXCLUDED.lang, url = EXCLUDED.url, hash = EXCLUDED.hash, \
             lang_norm = EXCLUDED.lang_norm, d_year = EXCLUDED.d_year, d_month = EXCLUDED.d_month, d_day = EXCLUDED.d_day",
            &[
                &article.id,
                &article.source_path,
                &article.title,
                &article.date,
                &article.lang,
                &article.url,
                &article.hash,
                &lang_norm,
                &d[0],
                &d[1],
                &d[2],
            ],
        )
        .map_err(self.err())?;
        tx.execute("DELETE FROM sourcier_chunks WHERE article_id = $1", &[&article.id])
            .map_err(self.err())?;
        tx.execute(
            "DELETE FROM sourcier_staged_vectors WHERE article_id = $1",
            &[&article.id],
        )
        .map_err(self.err())?;
        if chunks.is_empty() {
            tx.commit().map_err(self.err())?;
            return Ok(Vec::new());
        }
        let ordinals: Vec<i32> = chunks.iter().map(|c| c.ordinal as i32).collect();
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        let starts: Vec<i64> = chunks.iter().map(|c| c.start as i64).collect();
        let ends: Vec<i64> = chunks.iter().map(|c| c.end as i64).collect();
        let ls: Vec<i32> = chunks.iter().map(|c| c.line_start as i32).collect();
        let le: Vec<i32> = chunks.iter().map(|c| c.line_end as i32).collect();
        // One multi-row insert per table (UNNEST of arrays), not one statement per chunk.
        let rows = tx
            .query(
                "INSERT INTO sourcier_chunks (article_id, ordinal, text, start_byte, end_byte, line_start, line_end, tsv) \
                 SELECT $1, o, t, s, e, ls, le, to_tsvector( \
                    (CASE $8::text WHEN 'fr' THEN 'french' WHEN 'en' THEN 'english' ELSE 'simple' END)::regconfig, unaccent(t)) \
                 FROM unnest($2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::int[], $7::int[]) AS u(o, t, s, e, ls, le) \
                 RETURNING id, ordinal",
                &[&article.id, &ordinals, &texts, &starts, &ends, &ls, &le, &lang_norm],
            )
            .map_err(self.err())?;
        let by_ordinal: HashMap<i32, i64> = rows.iter().map(|r| (r.get(1), r.get(0))).collect();
        let ids: Vec<i64> = ordinals.iter().map(|o| by_ordinal[o]).collect();
        let vectors: Vec<Vector> = chunks.iter().map(|c| Vector::from(c.embedding.clone())).collect();
        tx.execute(
            &format!(
                "INSERT INTO sourcier_embeddings (chunk_id, embedding) SELECT * FROM unnest($1::bigint[], $2::vector[]::{}[])",
                self.vector_type.sql()
            ),
            &[&ids, &vectors],
        )
        .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        Ok(ids)
    }
    fn put_article_texts(&mut self, texts: &[(&str, &ArticleText)], overwrite: bool) -> Result<()> {
        if texts.is_empty() {
            return Ok(());
        }
        let mut c = self.client()?;
        let mut tx = c.transaction().map_err(self.err())?;
        let sql = if overwrite {
            "INSERT INTO sourcier_article_texts (article_id, line_base, text, blocks) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM sourcier_articles WHERE id = $1) \
             ON CONFLICT (article_id) DO UPDATE SET line_base = EXCLUDED.line_base, text = EXCLUDED.text, blocks = EXCLUDED.blocks"
        } else {
            "INSERT INTO sourcier_article_texts (article_id, line_base, text, blocks) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM sourcier_articles WHERE id = $1) \
             ON CONFLICT (article_id) DO NOTHING"
        };
        let stmt = tx.prepare(sql).map_err(self.err())?;
        for (id, t) in texts {
            let blocks: Vec<i64> = t.blocks.iter().flat_map(|&(s, e)| [s as i64, e as i64]).collect();
            tx.execute(&stmt, &[id, &(to_i32(t.line_base as usize)), &t.text, &blocks])
                .map_err(self.err())?;
        }
        tx.commit().map_err(self.err())?;
        Ok(())
    }
    fn articles_by_source(&self) -> Result<Vec<(String, String)>> {
        let rows = self
            .client()?
            .query("SELECT id, source_path FROM sourcier_articles ORDER BY id", &[])
            .map_err(self.err())?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
    fn delete_article(&mut self, id: &str) -> Result<bool> {
        let mut c = self.client()?;
        let mut tx = c.transaction().map_err(self.err())?;
        let n = tx
            .execute("DELETE FROM sourcier_articles WHERE id = $1", &[&id])
            .map_err(self.err())?;
        tx.execute("DELETE FROM sourcier_staged_vectors WHERE article_id = $1", &[&id])
            .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        Ok(n > 0)
    }
    fn reusable_vectors(&self, article_id: &str) -> Result<HashMap<crate::backend::ChunkKey, Vec<f32>>> {
        let mut c = self.client()?;
        let mut out = HashMap::new();
        let rows = c
            .query(
                "SELECT a.title, c.text, e.embedding::vector FROM sourcier_chunks c \
                 JOIN sourcier_articles a ON a.id = c.article_id \
                 JOIN sourcier_embeddings e ON e.chunk_id = c.id WHERE c.article_id = $1",
                &[&article_id],
            )
            .map_err(self.err())?;
        for r in &rows {
            let title: Option<String> = r.get(0);
            let text: String = r.get(1);
            out.insert(
                crate::backend::chunk_key(title.as_deref(), &text),
                r.get::<_, Vector>(2).to_vec(),
            );
        }
        let rows = c
            .query(
                "SELECT key, embedding FROM sourcier_staged_vectors WHERE article_id = $1",
                &[&article_id],
            )
            .map_err(self.err())?;
        for r in &rows {
            let key: Vec<u8> = r.get(0);
            if let Ok(key) = crate::backend::ChunkKey::try_from(key.as_slice()) {
                out.insert(key, r.get::<_, Vec<f32>>(1));
            }
        }
        Ok(out)
    }
    fn stage_vectors(&mut self, article_id: &str, vectors: &[(crate::backend::ChunkKey, &[f32])]) -> Result<()> {
        let keys: Vec<&[u8]> = vectors.iter().map(|(k, _)| k.as_slice()).collect();
        // real[][] must be rectangular, so vectors travel as one flat array cut in SQL.
        let dims = vectors.first().map_or(0, |(_, v)| v.len());
        if vectors.iter().any(|(_, v)| v.len() != dims) {
            return Err(Error::BadEmbedding {
                chunk: article_id.to_string(),
                detail: "staged vectors of different lengths".into(),
            });
        }
        let flat: Vec<f32> = vectors.iter().flat_map(|(_, v)| v.iter().copied()).collect();
        self.client()?
            .execute(
                "INSERT INTO sourcier_staged_vectors (article_id, key, embedding) \
                 SELECT $1, k, ($3::real[])[((i - 1) * $4 + 1)::int:(i * $4)::int] \
                 FROM unnest($2::bytea[]) WITH ORDINALITY AS u(k, i) \
                 ON CONFLICT (article_id, key) DO UPDATE SET embedding = EXCLUDED.embedding",
                &[&article_id, &keys, &flat, &(dims as i64)],
            )
            .map_err(self.err())?;
        Ok(())
    }
    fn sentence_cache(&self) -> &dyn SentenceCache {
        self
    }
    fn stored_chunk_texts(&self, article_id: &str) -> Result<Vec<String>> {
        Ok(SearchBackend::article_chunks(self, article_id)?
            .into_iter()
            .map(|c| c.text)
            .collect())
    }
    /// Nothing to do: PostgreSQL maintains its indexes inside each transaction. Statistics
    /// are refreshed so the planner sees the new rows.
    fn commit(&mut self, _progress: &dyn Progress) -> Result<()> {
        self.client()?
            .batch_execute("ANALYZE sourcier_articles, sourcier_chunks, sourcier_embeddings")
            .map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn urls_are_told_and_redacted() {
        assert!(is_url("postgres://u@h/db"));
        assert!(is_url("postgresql://h/db"));
        assert!(!is_url("index"));
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db?x=1"), "postgres://h/db?x=1");
    }

    #[test]
    fn glob_regex_examples() {
        assert_eq!(glob_to_regex("news/*.txt"), "^news/.*\\.txt$");
        assert_eq!(glob_to_regex("a?[!bc]"), "^a.[^bc]$");
        assert_eq!(glob_to_regex("x[y"), "^x\\[y$");
        assert_eq!(glob_to_regex("**/a.txt"), "^(.*/)?a\\.txt$");
        assert_eq!(glob_to_regex("news/**/a"), "^news/(.*/)?a$");
        assert_eq!(glob_to_regex("a**/b"), "^a.*/b$");
    }

    proptest! {
        /// The regex agrees with glob::Pattern on paths over a small alphabet.
        #[test]
        fn glob_regex_agrees_with_glob(pat in "[ab/.*?\\[\\]!]{0,8}", path in "[ab/.]{0,8}") {
            if let Ok(g) = glob::Pattern::new(&pat) {
                let re = glob_to_regex(&pat);
                let ours = regex_lite_match(&re, &path);
                prop_assert_eq!(ours, g.matches(&path), "pattern {} regex {} path {}", pat, re, path);
            }
        }
    }

    /// A tiny backtracking matcher for the regex subset glob_to_regex emits (`^…$`, `.`, `.*`,
    /// escapes, classes), so the property test needs no regex engine.
    fn regex_lite_match(re: &str, s: &str) -> bool {
        #[derive(Debug)]
        enum Tok {
            Any,
            Star,
            /// `(.*/)?`: nothing, or anything that ends with `/`.
            Dirs,
            Lit(char),
            Class(bool, Vec<char>),
        }
        let inner: Vec<char> = re[1..re.len() - 1].chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < inner.len() {
            match inner[i] {
                '(' if inner[i..].starts_with(&['(', '.', '*', '/', ')', '?']) => {
                    toks.push(Tok::Dirs);
                    i += 5;
                }
                '.' if inner.get(i + 1) == Some(&'*') => {
                    toks.push(Tok::Star);
                    i += 1;
                }
                '.' => toks.push(Tok::Any),
                '\\' => {
                    i += 1;
                    toks.push(Tok::Lit(inner[i]));
                }
                '[' => {
                    i += 1;
                    let neg = inner[i] == '^';
                    if neg {
                        i += 1;
                    }
                    let mut set = Vec::new();
                    // A `]` first in a class is a member, as in POSIX and PostgreSQL.
                    if inner[i] == ']' {
                        set.push(']');
                        i += 1;
                    }
                    while inner[i] != ']' {
                        if inner[i] == '\\' {
                            i += 1;
                        }
                        set.push(inner[i]);
                        i += 1;
                    }
                    toks.push(Tok::Class(neg, set));
                }
                c => toks.push(Tok::Lit(c)),
            }
            i += 1;
        }
        fn class_has(set: &[char], c: char) -> bool {
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == '-' {
                    if set[i] <= c && c <= set[i + 2] {
                        return true;
                    }
                    i += 3;
                } else {
                    if set[i] == c {
                        return true;
                    }
                    i += 1;
                }
            }
            false
        }
        fn m(t: &[Tok], s: &[char]) -> bool {
            match t.first() {
                None => s.is_empty(),
                Some(Tok::Star) => (0..=s.len()).any(|k| m(&t[1..], &s[k..])),
                Some(Tok::Dirs) => (0..=s.len()).any(|k| (k == 0 || s[k - 1] == '/') && m(&t[1..], &s[k..])),
                Some(tok) => {
                    let Some(&c) = s.first() else { return false };
                    let ok = match tok {
                        Tok::Any => true,
                        Tok::Lit(l) => *l == c,
                        Tok::Class(neg, set) => class_has(set, c) != *neg,
                        Tok::Star | Tok::Dirs => unreachable!(),
                    };
                    ok && m(&t[1..], &s[1..])
                }
            }
        }
        let chars: Vec<char> = s.chars().collect();
        m(&toks, &chars)
    }
}
