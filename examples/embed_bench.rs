//! Embedding benchmark: the 200 `piaf_*` paragraphs of the reference fixture as documents,
//! then single-query latency over the fixture's questions. Mirrors `../shared/bench/st_peer.py`
//! so the two can be run alternately on the same machine.
//!
//!     cargo run --release --example embed_bench -- [--reps 3] [--query-reps 1] [--batch-tokens 4096] [--precision f32|int8] [--json]
//!
//! With `--precision int8`, `SOURCIER_INT8_KERNEL=vnni|avx2|portable` picks the kernel. The
//! report ends with the process's peak resident memory (`VmHWM`).

use std::path::PathBuf;
use std::time::Instant;

use sourcier::embed::int8::Kernel;
use sourcier::embed::{GemmaEmbedder, ModelSpec, Precision};
use sourcier::models::{self, Paths};
use sourcier::progress::NoProgress;

#[derive(serde::Deserialize)]
struct Fixture {
    prompts: Prompts,
    items: Vec<Item>,
}
#[derive(serde::Deserialize)]
struct Prompts {
    query: String,
    document: String,
}
#[derive(serde::Deserialize)]
struct Item {
    id: String,
    kind: String,
    text: String,
    input_ids: Vec<u32>,
}

/// Multiply-adds of one sequence of `len` tokens through EmbeddingGemma, times two.
fn flops(len: usize) -> f64 {
    let (h, q, kv, inter, layers) = (768.0, 768.0, 256.0, 1152.0, 24.0);
    let l = len as f64;
    let linear = 2.0 * l * (h * (q + 2.0 * kv) + q * h + h * 2.0 * inter + inter * h);
    let attention = 2.0 * 2.0 * l * l * q;
    layers * (linear + attention) + 2.0 * (h * 3072.0 * 2.0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let reps: usize = opt("--reps").map(|s| s.parse()).transpose()?.unwrap_or(3);
    // More passes over the single queries, for a profile of the query path alone (with
    // `--reps 0`, documents are not timed).
    let query_reps: usize = opt("--query-reps").map(|s| s.parse()).transpose()?.unwrap_or(1);
    let json = args.iter().any(|a| a == "--json");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture = opt("--fixture")
        .map(PathBuf::from)
        .unwrap_or(root.join("tests/fixtures/embeddinggemma-300m.reference.json"));
    let fx: Fixture = serde_json::from_slice(&std::fs::read(&fixture)?)?;

    let mut paths = Paths::from_env();
    if std::env::var_os("SOURCIER_MODELS").is_none() {
        paths.models_dir = root.join("models");
    }
    let dir = models::ensure(&paths, models::DEFAULT_EMBEDDER, &NoProgress)?;
    let m = models::manifest(models::DEFAULT_EMBEDDER)?;
    let t = Instant::now();
    let mut spec = ModelSpec::from_manifest(&m, dir, None)?;
    if let Some(p) = opt("--precision") {
        spec.precision = p.parse()?;
    }
    let mut e = GemmaEmbedder::load(&spec)?;
    let load_s = t.elapsed().as_secs_f64();
    if let Some(bt) = opt("--batch-tokens") {
        e.set_batch_tokens(bt.parse()?);
    }

    let docs: Vec<&Item> = fx.items.iter().filter(|i| i.id.starts_with("piaf_")).collect();
    let texts: Vec<String> = docs
        .iter()
        .map(|d| format!("{}{}", fx.prompts.document, d.text))
        .collect();
    let tokens: usize = docs.iter().map(|d| d.input_ids.len()).sum();
    let total_flops: f64 = docs.iter().map(|d| flops(d.input_ids.len())).sum();
    e.embed_prompted(&texts[..4])?; // warm-up
    let mut walls = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        e.embed_prompted(&texts)?;
        walls.push(t.elapsed().as_secs_f64());
    }
    walls.sort_by(f64::total_cmp);
    let wall = walls.get(walls.len() / 2).copied().unwrap_or(f64::NAN);

    let queries: Vec<String> = fx
        .items
        .iter()
        .filter(|i| i.kind == "query")
        .map(|q| format!("{}{}", fx.prompts.query, q.text))
        .collect();
    for q in queries.iter().take(3) {
        e.embed_prompted(std::slice::from_ref(q))?;
    }
    let mut lat = Vec::new();
    for _ in 0..query_reps.max(1) {
        for q in &queries {
            let t = Instant::now();
            e.embed_prompted(std::slice::from_ref(q))?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    lat.sort_by(f64::total_cmp);
    let p50 = lat[lat.len() / 2];
    let p95 = lat[(lat.len() as f64 * 0.95) as usize - 1];
    let engine = match e.precision() {
        Precision::F32 => "sourcier (candle f32, packed batches)".to_string(),
        Precision::Int8 => format!("sourcier (int8, {} kernel, packed batches)", Kernel::from_env()?.name()),
    };
    // Peak resident memory, from Linux's /proc (absent elsewhere).
    let peak_rss_mb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| (kb / 1024.0).round());
    let res = serde_json::json!({
        "engine": engine,
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "documents": docs.len(), "tokens": tokens, "seconds_median": (wall * 1000.0).round() / 1000.0,
        "tokens_per_s": (tokens as f64 / wall * 10.0).round() / 10.0,
        "texts_per_s": (docs.len() as f64 / wall * 100.0).round() / 100.0,
        "gflops_per_s": (total_flops / wall / 1e9 * 10.0).round() / 10.0,
        "query_ms_p50": (p50 * 10.0).round() / 10.0, "query_ms_p95": (p95 * 10.0).round() / 10.0,
        "model_load_s": (load_s * 1000.0).round() / 1000.0,
        "peak_rss_mb": peak_rss_mb,
    });
    if json {
        println!("{res}");
    } else {
        for (k, v) in res.as_object().expect("object") {
            println!("{k}: {v}");
        }
    }
    Ok(())
}
