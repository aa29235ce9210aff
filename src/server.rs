//! `sourcier serve`: the HTTP API and the web page, on axum and tokio.
//!
//! It owns transport only. Every endpoint calls a use case of [`crate::app`] on one open
//! [`Session`] and serialises its typed result, so the API's JSON is the CLI's `--json`.
//! Embedding is CPU-bound, so requests run on blocking threads behind two semaphores: a few
//! workers (the cores) and a bounded waiting line; when the line is full the answer is 503
//! with `Retry-After`, never an unbounded buffer. An ingest job (only with an ingest root)
//! runs beside the readers, then a fresh session replaces the old one; queries in flight
//! finish on the one they started with.
//!
//! Safe by default: it binds to loopback, refuses any other address without a bearer token
//! (compared in constant time), limits bodies and queries, never takes a path from a request
//! to the filesystem (articles come from the index; ingest paths are resolved under the root
//! given at start and must stay inside it), sends CORS headers only for an origin it was
//! given, and logs one line per request without the question unless asked.

mod page;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Json, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};

use crate::app::{self, AskRequest, IngestRequest, SearchRequest, Session, Setup};
use crate::ingest::IngestReport;
use crate::progress::{NoProgress, Progress};
use crate::retrieve::{Filters, Mode};
use crate::{Error, Result};

/// Longest question or query accepted, in characters (the model reads far fewer tokens).
pub const MAX_QUERY_CHARS: usize = 2_000;
/// Largest JSON body of a query endpoint.
pub const MAX_BODY: usize = 64 * 1024;
/// Largest body of an ingest upload.
const MAX_UPLOAD: usize = 32 * 1024 * 1024;
/// Most results one request may ask for.
const MAX_K: usize = 100;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    /// Bearer token every API call must carry; required off loopback.
    pub token: Option<String>,
    /// The one origin allowed to call the API from another site.
    pub cors: Option<String>,
    /// Enables `POST /api/ingest` for folders below this root (uploads land in `uploads/`).
    pub ingest_root: Option<PathBuf>,
    /// Requests computed at once (default: the number of cores).
    pub workers: usize,
    /// Requests waiting for a worker before new ones get 503.
    pub queue: usize,
    /// Log question text (off by default: questions can be private).
    pub log_questions: bool,
    /// GGUF model for `"generate": true` (default: the bundled generator).
    pub llm: Option<PathBuf>,
}

impl ServeOptions {
    /// Loopback on `addr`, one worker per core, a waiting line of 32.
    pub fn new(addr: SocketAddr) -> ServeOptions {
        ServeOptions {
            addr,
            token: None,
            cors: None,
            ingest_root: None,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: 32,
            log_questions: false,
            llm: None,
        }
    }
}

/// Opens the index (bootstrapping it when the setup says so), binds, calls `on_ready` with the
/// bound address, and serves until Ctrl-C or SIGTERM.
pub fn serve(
    setup: &Setup,
    opts: ServeOptions,
    progress: &dyn Progress,
    on_ready: &mut dyn FnMut(SocketAddr),
) -> Result<()> {
    if !opts.addr.ip().is_loopback() && opts.token.as_deref().is_none_or(str::is_empty) {
        return Err(Error::NeedsToken {
            addr: opts.addr.to_string(),
        });
    }
    let ingest_root = match &opts.ingest_root {
        Some(root) => Some(root.canonicalize().map_err(Error::io("opening", root))?),
        None => None,
    };
    let session = Session::open(setup, progress)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Bind {
            addr: opts.addr.to_string(),
            source: e,
        })?;
    let state = Arc::new(AppState {
        session: RwLock::new(Arc::new(session)),
        slots: Arc::new(Semaphore::new(opts.workers.max(1) + opts.queue)),
        workers: Arc::new(Semaphore::new(opts.workers.max(1))),
        ingest_root,
        jobs: Mutex::new(Jobs::default()),
        next_job: AtomicU64::new(1),
        opts,
    });
    // The last reference to the session is dropped here, outside the runtime: a database
    // client closes its connections by blocking, which a runtime thread must not do.
    let keep = state.clone();
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(state.opts.addr)
            .await
            .map_err(|e| Error::Bind {
                addr: state.opts.addr.to_string(),
                source: e,
            })?;
        let addr = listener.local_addr().map_err(|e| Error::Bind {
            addr: state.opts.addr.to_string(),
            source: e,
        })?;
        on_ready(addr);
        axum::serve(listener, router(state))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| Error::Bind {
                addr: addr.to_string(),
                source: e,
            })
    });
    drop(runtime);
    drop(keep);
    served
}

/// The routes, with their limits and layers.
fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/api/search", post(search))
        .route("/api/ask", post(ask))
        .route("/api/articles/{*id}", get(article))
        .route("/api/stats", get(stats))
        .route(
            "/api/ingest",
            post(start_ingest)
                .get(last_ingest)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/api/ingest/{job}", get(ingest_job))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let mut app = Router::new()
        .merge(api)
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/app.css", get(page::style))
        .route("/healthz", get(|| async { Json(serde_json::json!({"status": "ok"})) }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such page") });
    if let Some(origin) = state.opts.cors.as_deref().and_then(|o| HeaderValue::from_str(o).ok()) {
        app = app.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origin)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT]),
        );
    }
    app.layer(middleware::from_fn(log_request)).with_state(state)
}

struct AppState {
    /// Replaced whole after an ingest; readers clone the `Arc` and keep theirs.
    session: RwLock<Arc<Session>>,
    /// Requests running or waiting.
    slots: Arc<Semaphore>,
    /// Requests running.
    workers: Arc<Semaphore>,
    ingest_root: Option<PathBuf>,
    jobs: Mutex<Jobs>,
    next_job: AtomicU64,
    opts: ServeOptions,
}

impl AppState {
    fn session(&self) -> Arc<Session> {
        self.session.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs CPU-bound work on a blocking thread once a worker is free, or refuses at once
    /// with 503 when the waiting line is full.
    async fn offload<T: Send + 'static>(
        &self,
        work: impl FnOnce(Arc<Session>) -> std::result::Result<T, ApiError> + Send + 'static,
    ) -> std::result::Result<T, ApiError> {
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| ApiError::busy())?;
        let worker = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::busy())?;
        let session = self.session();
        // The permits move into the task: a client that hangs up does not free a worker
        // whose computation is still running.
        tokio::task::spawn_blocking(move || {
            let _held = (slot, worker);
            work(session)
        })
        .await
        .map_err(|e| ApiError::internal(&format!("worker failed: {e}")))?
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An error as the API sends it: `{"error": {"code": …, "message": …}}` with a fitting status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    fn busy() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many requests are waiting; retry in a moment",
        )
    }
    fn internal(message: &str) -> ApiError {
        tracing::error!(error = message, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let (status, code) = match &e {
            Error::EmptyQuery => (StatusCode::BAD_REQUEST, "empty_query"),
            Error::QueryTooLong { .. } => (StatusCode::BAD_REQUEST, "query_too_long"),
            Error::BadInput { .. }
            | Error::NotFound { .. }
            | Error::InvalidOption { .. }
            | Error::EmptyInput { .. }
            | Error::Parse { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::UnsupportedFile { .. } => (StatusCode::BAD_REQUEST, "unsupported_file"),
            Error::IndexMissing { .. } => (StatusCode::SERVICE_UNAVAILABLE, "index_missing"),
            Error::EmptyIndex { .. } => (StatusCode::CONFLICT, "empty_index"),
            Error::ReadOnly { .. } => (StatusCode::CONFLICT, "read_only"),
            Error::Locked { .. } => (StatusCode::CONFLICT, "locked"),
            Error::Corrupt { .. } | Error::DerivedIndex { .. } | Error::NotAStore { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "corrupt_index")
            }
            Error::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "io"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        ApiError::new(status, code, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let status = r.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ => "bad_json",
        };
        ApiError::new(status, code, r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        let mut res = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}

type ApiResult<T> = std::result::Result<T, ApiError>;

// ---------------------------------------------------------------------------------------------
// Middleware

async fn require_token(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some(token) = st.opts.token.as_deref().filter(|t| !t.is_empty()) {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq::constant_time_eq(given.as_bytes(), token.as_bytes()) {
            let mut res = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required",
            )
            .into_response();
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return res;
        }
    }
    next.run(req).await
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let t = Instant::now();
    let res = next.run(req).await;
    tracing::info!(
        %method,
        path,
        status = res.status().as_u16(),
        ms = format!("{:.1}", t.elapsed().as_secs_f64() * 1e3),
        "request"
    );
    res
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

// ---------------------------------------------------------------------------------------------
// Query endpoints

/// Filters as the API takes them: the same text as the CLI's flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterBody {
    lang: Option<String>,
    since: Option<String>,
    until: Option<String>,
    source: Option<String>,
}

impl FilterBody {
    fn parse(&self) -> ApiResult<Filters> {
        let blank = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Ok(Filters::parse(
            blank(&self.lang).as_deref(),
            blank(&self.since).as_deref(),
            blank(&self.until).as_deref(),
            blank(&self.source).as_deref(),
        )?)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    query: String,
    k: Option<usize>,
    mode: Option<String>,
    #[serde(default)]
    filters: FilterBody,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AskBody {
    question: String,
    k: Option<usize>,
    mode: Option<String>,
    #[serde(default)]
    filters: FilterBody,
    /// Write the answer with the local language model instead of extracting sentences.
    #[serde(default)]
    generate: bool,
}

fn check_text(what: &str, text: &str) -> ApiResult<()> {
    if text.trim().is_empty() {
        return Err(ApiError::bad("empty_query", format!("the {what} is empty")));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::bad(
            "query_too_long",
            format!("the {what} is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    Ok(())
}

fn parse_k(k: Option<usize>, default: usize) -> ApiResult<usize> {
    match k.unwrap_or(default) {
        k @ 1..=MAX_K => Ok(k),
        k => Err(ApiError::bad(
            "bad_request",
            format!("k is {k}; it must be between 1 and {MAX_K}"),
        )),
    }
}

fn parse_mode(mode: Option<&str>) -> ApiResult<Mode> {
    Ok(mode.unwrap_or("hybrid").parse::<Mode>()?)
}

async fn search(
    State(st): State<Arc<AppState>>,
    body: std::result::Result<Json<SearchBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    check_text("query", &body.query)?;
    if st.opts.log_questions {
        tracing::info!(query = body.query, "search");
    }
    let req = SearchRequest {
        query: body.query,
        k: parse_k(body.k, 10)?,
        mode: parse_mode(body.mode.as_deref())?,
        filters: body.filters.parse()?,
    };
    let result = st.offload(move |s| Ok(s.search(&req)?)).await?;
    Ok(Json(result).into_response())
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

async fn ask(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: std::result::Result<Json<AskBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    check_text("question", &body.question)?;
    if st.opts.log_questions {
        tracing::info!(question = body.question, "ask");
    }
    let generate = body.generate;
    let req = AskRequest {
        question: body.question,
        k: parse_k(body.k, 8)?,
        mode: parse_mode(body.mode.as_deref())?,
        filters: body.filters.parse()?,
    };
    let llm = st.opts.llm.clone();
    if !wants_stream(&headers) {
        return st
            .offload(move |s| {
                Ok(if generate {
                    Json(s.ask_generated(&req, llm.as_deref(), &mut |_| {}, &NoProgress)?).into_response()
                } else {
                    Json(s.ask(&req)?).into_response()
                })
            })
            .await;
    }
    // Streamed: `passages` first, then `token` events when generating, then `answer`; an
    // `error` event when it fails after the stream has started.
    let (tx, rx) = mpsc::channel::<Event>(256);
    let st2 = st.clone();
    tokio::spawn(async move {
        let tx2 = tx.clone();
        let outcome = st2
            .offload(move |s| {
                let send = |e: Event| {
                    let _ = tx2.blocking_send(e);
                };
                let mut on_passages = |hits: &[crate::retrieve::Hit]| send(json_event("passages", &hits));
                if generate {
                    let mut on_piece = |piece: &str| send(json_event("token", &piece));
                    let r = s.ask_generated_with(&req, llm.as_deref(), &mut on_passages, &mut on_piece, &NoProgress)?;
                    send(json_event("answer", &r));
                } else {
                    let r = s.ask_with(&req, &mut on_passages)?;
                    send(json_event("answer", &r));
                }
                Ok(())
            })
            .await;
        if let Err(e) = outcome {
            let _ = tx
                .send(json_event(
                    "error",
                    &ErrorDetail {
                        code: e.code,
                        message: &e.message,
                    },
                ))
                .await;
        }
    });
    let stream = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, std::convert::Infallible>,
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

fn json_event(name: &str, value: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
}

async fn article(State(st): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> ApiResult<Response> {
    let lookup = id.clone();
    // An id only ever selects a row of the index: it never reaches the filesystem.
    let view = st.offload(move |s| Ok(s.article(&lookup)?)).await?;
    match view {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_article",
            format!("no article `{id}` in the index"),
        )),
    }
}

async fn stats(State(st): State<Arc<AppState>>) -> ApiResult<Response> {
    let stats = st.offload(move |s| Ok(app::index_stats(s.setup())?)).await?;
    Ok(Json(stats).into_response())
}

// ---------------------------------------------------------------------------------------------
// Ingest jobs

/// An uploaded article.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    /// A plain file name with a supported extension (`note.md`), no folders.
    name: String,
    content: String,
}

/// `{"path": "sub/folder"}` (below the ingest root) or `{"files": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestBody {
    path: Option<String>,
    #[serde(default)]
    files: Vec<Upload>,
    #[serde(default)]
    prune: bool,
}

/// Where an ingest job stands; `GET /api/ingest/{job}` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub id: u64,
    /// `running`, `done` or `failed`.
    pub state: &'static str,
    /// The current phase ("embedding chunks"), with units done and total when known.
    pub phase: String,
    pub done: u64,
    pub total: Option<u64>,
    pub notes: Vec<String>,
    pub report: Option<IngestReport>,
    pub error: Option<String>,
    pub seconds: f64,
}

#[derive(Default)]
struct Jobs {
    all: BTreeMap<u64, Arc<Job>>,
}

struct Job {
    started: Instant,
    status: Mutex<JobStatus>,
}

impl Job {
    fn update(&self, f: impl FnOnce(&mut JobStatus)) {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        s.seconds = self.started.elapsed().as_secs_f64();
    }
    fn is_running(&self) -> bool {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).state == "running"
    }
    fn snapshot(&self) -> JobStatus {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if s.state == "running" {
            s.seconds = self.started.elapsed().as_secs_f64();
        }
        s
    }
}

impl Progress for Job {
    fn start(&self, what: &str, total: Option<u64>) {
        self.update(|s| {
            s.phase = what.to_string();
            s.total = total;
            s.done = 0;
        });
    }
    fn inc(&self, n: u64) {
        self.update(|s| s.done += n);
    }
    fn note(&self, msg: &str) {
        self.update(|s| {
            if s.notes.len() < 100 {
                s.notes.push(msg.to_string());
            }
        });
    }
}

/// Resolves a request's folder below the root; anything that climbs out is refused.
fn resolve_below(root: &Path, rel: &str) -> ApiResult<PathBuf> {
    let rel_path = Path::new(rel);
    if rel_path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(ApiError::bad(
            "bad_path",
            "the path must be relative to the ingest root, without `..`",
        ));
    }
    let full = root.join(rel_path);
    let canonical = full
        .canonicalize()
        .map_err(|_| ApiError::bad("bad_path", format!("`{rel}` does not exist below the ingest root")))?;
    // A link inside the root may point out of it.
    if !canonical.starts_with(root) {
        return Err(ApiError::bad(
            "bad_path",
            format!("`{rel}` leads out of the ingest root"),
        ));
    }
    Ok(canonical)
}

/// Checks an upload's name: one plain file name with an extension sourcier reads.
fn upload_name(name: &str) -> ApiResult<&str> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| crate::corpus::EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
    if ok {
        Ok(name)
    } else {
        Err(ApiError::bad(
            "bad_upload",
            format!(
                "`{name}` is not a plain file name ending in one of: {}",
                crate::corpus::EXTENSIONS.join(", ")
            ),
        ))
    }
}

async fn start_ingest(
    State(st): State<Arc<AppState>>,
    body: std::result::Result<Json<IngestBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Some(root) = st.ingest_root.clone() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ingest_disabled",
            "this server was started without an ingest root",
        ));
    };
    let Json(body) = body?;
    let mut paths = Vec::new();
    if let Some(rel) = body.path.as_deref() {
        paths.push(resolve_below(&root, rel)?);
    }
    let mut uploads = Vec::new();
    for f in &body.files {
        uploads.push((upload_name(&f.name)?.to_string(), f.content.clone()));
    }
    if paths.is_empty() && uploads.is_empty() {
        return Err(ApiError::bad(
            "bad_request",
            "give a `path` below the ingest root or `files`",
        ));
    }
    let job = {
        let mut jobs = st.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if jobs.all.values().any(|j| j.is_running()) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "ingest_running",
                "an ingest is already running; poll it and try again when it is done",
            ));
        }
        let id = st.next_job.fetch_add(1, Ordering::Relaxed);
        let job = Arc::new(Job {
            started: Instant::now(),
            status: Mutex::new(JobStatus {
                id,
                state: "running",
                phase: "starting".into(),
                done: 0,
                total: None,
                notes: Vec::new(),
                report: None,
                error: None,
                seconds: 0.0,
            }),
        });
        jobs.all.insert(id, job.clone());
        // Keep the last few jobs only.
        while jobs.all.len() > 16 {
            let first = *jobs.all.keys().next().unwrap_or(&id);
            jobs.all.remove(&first);
        }
        job
    };
    let st2 = st.clone();
    let job2 = job.clone();
    let prune = body.prune;
    tokio::task::spawn_blocking(move || {
        let outcome = run_ingest(&st2, &job2, &root, paths, uploads, prune);
        job2.update(|s| match outcome {
            Ok(report) => {
                s.state = "done";
                s.report = Some(report);
            }
            Err(e) => {
                s.state = "failed";
                s.error = Some(e.to_string());
            }
        });
    });
    let status = job.snapshot();
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

fn run_ingest(
    st: &AppState,
    job: &Job,
    root: &Path,
    mut paths: Vec<PathBuf>,
    uploads: Vec<(String, String)>,
    prune: bool,
) -> Result<IngestReport> {
    if !uploads.is_empty() {
        let dir = root.join("uploads");
        std::fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
        for (name, content) in &uploads {
            let path = dir.join(name);
            crate::fsx::write_atomic(&path, content.as_bytes())?;
            paths.push(path);
        }
    }
    let session = st.session();
    let req = IngestRequest {
        paths,
        prune,
        follow_links: false,
        search_only: false,
    };
    let report = app::ingest_with(session.setup(), session.embedder(), &req, job)?;
    job.start("reopening the index", None);
    let fresh = session.reopen(&NoProgress)?;
    *st.session.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
    Ok(report)
}

async fn ingest_job(State(st): State<Arc<AppState>>, UrlPath(job): UrlPath<String>) -> ApiResult<Response> {
    let id: u64 = job
        .parse()
        .map_err(|_| ApiError::bad("bad_request", "a job id is a number"))?;
    let jobs = st.jobs.lock().unwrap_or_else(|p| p.into_inner());
    match jobs.all.get(&id) {
        Some(j) => Ok(Json(j.snapshot()).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_job",
            format!("no ingest job {id}"),
        )),
    }
}

async fn last_ingest(State(st): State<Arc<AppState>>) -> ApiResult<Response> {
    let jobs = st.jobs.lock().unwrap_or_else(|p| p.into_inner());
    match jobs.all.values().next_back() {
        Some(j) => Ok(Json(j.snapshot()).into_response()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_job", "no ingest has run")),
    }
}
