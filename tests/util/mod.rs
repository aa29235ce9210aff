//! Helpers shared by the integration tests: the real model, fetched through sourcier's own
//! provisioning code (cached outside the work tree), and fixture loading.
#![allow(dead_code)]

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::OnceLock;

use sourcier::embed::{GemmaEmbedder, ModelSpec};
use sourcier::models::{self, Paths};
use sourcier::progress::NoProgress;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Model locations the tests use: the repository's `models/`, and the user cache.
pub fn paths() -> Paths {
    let mut p = Paths::from_env();
    if std::env::var_os("SOURCIER_MODELS").is_none() {
        p.models_dir = root().join("models");
    }
    p
}

/// Installs the default embedder if needed and returns its folder.
pub fn model_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        models::ensure(&paths(), models::DEFAULT_EMBEDDER, &NoProgress)
            .or_else(|_| models::fetch(&paths(), &models::manifest(models::DEFAULT_EMBEDDER)?, &NoProgress))
            .expect("fetching the default embedder")
    })
    .clone()
}

/// The default embedder at full dimension in f32, the reference precision, loaded once per
/// test binary (int8 has its own tests, against this one and the references).
pub fn embedder() -> &'static GemmaEmbedder {
    static E: OnceLock<GemmaEmbedder> = OnceLock::new();
    E.get_or_init(|| {
        let m = models::manifest(models::DEFAULT_EMBEDDER).unwrap();
        let mut spec = ModelSpec::from_manifest(&m, model_dir(), None).unwrap();
        spec.precision = sourcier::embed::Precision::F32;
        GemmaEmbedder::load(&spec).expect("loading the embedder")
    })
}

/// One item of the sentence-transformers reference file.
#[derive(serde::Deserialize, Clone)]
pub struct RefItem {
    pub id: String,
    pub kind: String,
    pub lang: String,
    pub text: String,
    pub prompt: String,
    pub input_ids: Vec<u32>,
    pub embedding: Vec<f32>,
}

/// The reference items of `tests/fixtures/embeddinggemma-300m.reference.json`.
pub fn reference() -> Vec<RefItem> {
    #[derive(serde::Deserialize)]
    struct File {
        items: Vec<RefItem>,
    }
    let p = root().join("tests/fixtures/embeddinggemma-300m.reference.json");
    let f: File = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f.items
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// The `sourcier` binary, with the repository's model folder and a scratch working directory.
pub fn sourcier(index: &std::path::Path) -> std::process::Command {
    model_dir(); // install once, through the library, before binaries race for it
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_sourcier"));
    c.env("SOURCIER_MODELS", root().join("models"))
        .env("SOURCIER_INDEX", index)
        .env_remove("SOURCIER_LOG")
        .current_dir(index.parent().unwrap_or(std::path::Path::new("/")));
    c
}

/// Runs a command, returning (success, stdout, stderr).
pub fn run(cmd: &mut std::process::Command) -> (bool, String, String) {
    let out = cmd.output().expect("running sourcier");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must succeed; returns stdout.
pub fn ok(cmd: &mut std::process::Command) -> String {
    let (success, stdout, stderr) = run(cmd);
    assert!(success, "command failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    stdout
}

/// Copies a directory tree.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// An index of the bundled articles, built once per test binary; tests get their own copy.
pub fn bundled_index(dest: &std::path::Path) {
    static TEMPLATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    let t = TEMPLATE.get_or_init(|| {
        let t = tempfile::tempdir().unwrap();
        let articles = t.path().join("articles");
        copy_dir(&root().join("examples/articles"), &articles);
        ok(sourcier(&t.path().join("index"))
            .arg("ingest")
            .arg(&articles)
            .arg("--quiet"));
        t
    });
    copy_dir(&t.path().join("articles"), &dest.join("articles"));
    copy_dir(&t.path().join("index"), &dest.join("index"));
}

/// The `sourcier` binary with the hashing embedder and an empty model folder, for the fast
/// tier: no model is fetched or loaded, and a test that reached for one would fail.
pub fn sourcier_fast(index: &std::path::Path) -> std::process::Command {
    static NO_MODELS: OnceLock<tempfile::TempDir> = OnceLock::new();
    let empty = NO_MODELS.get_or_init(|| tempfile::tempdir().unwrap());
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_sourcier"));
    c.env("SOURCIER_EMBEDDER", "hashing")
        .env("SOURCIER_MODELS", empty.path())
        .env("SOURCIER_CACHE", empty.path())
        .env("SOURCIER_PIP", "/nonexistent/pip")
        .env("SOURCIER_INDEX", index)
        .env_remove("SOURCIER_LOG")
        .current_dir(index.parent().unwrap_or(std::path::Path::new("/")));
    c
}

/// A copy of the bundled articles in `dest/articles`, ingested with the hashing embedder
/// into `dest/index`; returns the index path.
pub fn fast_index(dest: &std::path::Path) -> PathBuf {
    copy_dir(&root().join("examples/articles"), &dest.join("articles"));
    let idx = dest.join("index");
    ok(sourcier_fast(&idx)
        .arg("ingest")
        .arg(dest.join("articles"))
        .arg("--quiet"));
    idx
}

/// A running server, stopped with SIGTERM on drop.
pub struct Server {
    child: std::process::Child,
    pub url: String,
}

impl Server {
    /// Starts `sourcier serve …` and waits for the address it prints.
    pub fn spawn(mut cmd: std::process::Command) -> Server {
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("sourcier is serving on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .split('#')
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_string();
        Server { child, url }
    }

    /// Sends SIGTERM and returns whether the process exited cleanly.
    pub fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let t = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(20),
                "server did not stop on SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
