//! Helpers shared by the integration tests: the real model, fetched through sourcier's own
//! provisioning code (cached outside the work tree), and fixture loading.
#![allow(dead_code)]

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

/// The default embedder at full dimension, loaded once per test binary.
pub fn embedder() -> &'static GemmaEmbedder {
    static E: OnceLock<GemmaEmbedder> = OnceLock::new();
    E.get_or_init(|| {
        let m = models::manifest(models::DEFAULT_EMBEDDER).unwrap();
        GemmaEmbedder::load(&ModelSpec::from_manifest(&m, model_dir(), None).unwrap()).expect("loading the embedder")
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
