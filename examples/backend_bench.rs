//! Side-by-side search latency of the two storage backends on the same corpus, the recall@10
//! of each backend's HNSW index against exact search, and nDCG@10 per mode (article level,
//! as `sourcier eval` scores SQuAD files) from one embedding of the questions.
//!
//! `cargo run --release --example backend_bench -- --index DIR --backend URL --squad FILE
//! [--lang fr] [--queries 300]`
//!
//! DIR and URL must hold the same corpus (copy one to the other with `sourcier index
//! migrate`). The questions of the SQuAD FILE are embedded once with the default model; the
//! timed part is what a backend does per query after that: the dense and lexical top k, and
//! fetching the hits' rows and vectors (hybrid is both legs plus fusion). Exact search reads
//! every stored vector of the embedded index.

use std::collections::HashSet;
use std::time::Instant;

use sourcier::app::{OpenIndex, Setup};
use sourcier::backend::{SearchBackend, Selection};
use sourcier::progress::NoProgress;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The article id of a SQuAD corpus chunk, as `sourcier eval` names contexts.
fn article_of(id: &str) -> String {
    id.rsplit_once('#').map_or(id, |(_, a)| a).to_string()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p / 100.0).round() as usize]
}

/// (article, ordinal) of chunk ids: chunk ids differ between backends, these do not.
fn keys(b: &dyn SearchBackend, ids: &[i64]) -> HashSet<(String, u32)> {
    b.chunks_by_ids(ids)
        .unwrap()
        .into_iter()
        .map(|(c, _)| (c.article_id, c.ordinal))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = arg(&args, "--index").expect("--index DIR");
    let url = arg(&args, "--backend").expect("--backend URL");
    let squad = arg(&args, "--squad").expect("--squad FILE");
    let lang = arg(&args, "--lang").unwrap_or_else(|| "fr".into());
    let n: usize = arg(&args, "--queries").map_or(300, |s| s.parse().unwrap());

    let embedded = Setup::new(&dir).open_index().unwrap();
    let pg = Setup {
        database: Some(url),
        ..Setup::new(&dir)
    }
    .open_index()
    .unwrap();
    let OpenIndex::Embedded(lib) = &embedded else {
        unreachable!()
    };
    let text = std::fs::read_to_string(&squad).unwrap();
    let set = sourcier::eval::input::parse_squad(&text, Some(n), &lang).unwrap();
    let questions: Vec<&str> = set.queries.iter().map(|q| q.text.as_str()).collect();
    let embedder = Setup::new(&dir)
        .load_embedder(Some(&lib.manifest), &NoProgress)
        .unwrap();
    let t = Instant::now();
    let vectors: Vec<Vec<f32>> = questions
        .chunks(32)
        .flat_map(|b| embedder.embed_queries(b).unwrap())
        .collect();
    eprintln!(
        "embedded {} questions in {:.1} s (not timed below)",
        questions.len(),
        t.elapsed().as_secs_f64()
    );
    let backends: [(&str, &dyn SearchBackend); 2] = [("embedded", embedded.backend()), ("postgres", pg.backend())];
    for (_, b) in backends {
        b.warm(&NoProgress).unwrap();
    }
    println!(
        "corpus: {} chunks; {} queries; CPU flags: {}",
        lib.store.chunk_count().unwrap(),
        questions.len(),
        cpu_flags()
    );
    let qrels: Vec<sourcier::eval::metrics::Qrels> =
        set.to_query_set().queries.into_iter().map(|q| q.relevant).collect();
    println!("| backend | mode | p50 ms | p95 ms | recall@10 vs exact | nDCG@10 |");
    println!("|---|---|---|---|---|---|");
    for (name, b) in backends {
        let mut recall = 0.0;
        for (q, v) in questions.iter().zip(&vectors) {
            let exact: Vec<i64> = sourcier::index::exact_search_in_store(&lib.store, v, 10)
                .unwrap()
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            let want = keys(embedded.backend(), &exact);
            let got: Vec<i64> = b
                .dense_top_k(v, 10, &Selection::All)
                .unwrap()
                .iter()
                .map(|s| s.0)
                .collect();
            recall += keys(b, &got).intersection(&want).count() as f64 / want.len().max(1) as f64;
            let _ = q;
        }
        recall /= questions.len() as f64;
        for mode in ["dense", "lexical", "hybrid"] {
            let mut lat = Vec::new();
            let mut ndcg = 0.0;
            for ((q, v), rel) in questions.iter().zip(&vectors).zip(&qrels) {
                let t = Instant::now();
                // Articles are ranked from the top 30 chunks, as eval does.
                let depth = if mode == "hybrid" { 50 } else { 30 };
                let dense = if mode != "lexical" {
                    b.dense_top_k(v, depth, &Selection::All).unwrap()
                } else {
                    Vec::new()
                };
                let lexical = if mode != "dense" {
                    b.lexical_top_k(q, depth, &Selection::All).unwrap()
                } else {
                    Vec::new()
                };
                let (wd, wl) = sourcier::retrieve::fusion_weights(q);
                let scored = sourcier::retrieve::rrf_weighted(&[(&dense, wd), (&lexical, wl)], 30);
                let ids: Vec<i64> = scored.iter().map(|s| s.0).collect();
                let rows = b.chunks_by_ids(&ids).unwrap();
                let _ = b.embeddings(&ids[..ids.len().min(10)]).unwrap();
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                let article: std::collections::HashMap<i64, String> =
                    rows.into_iter().map(|(c, a)| (c.id, article_of(&a.id))).collect();
                let mut ranked: Vec<String> = Vec::new();
                for id in &ids {
                    if let Some(a) = article.get(id)
                        && !ranked.contains(a)
                    {
                        ranked.push(a.clone());
                    }
                }
                ndcg += sourcier::eval::metrics::ndcg_at(&ranked, rel, 10).unwrap_or(0.0);
            }
            let r = if mode == "dense" {
                format!("{recall:.3}")
            } else {
                String::new()
            };
            println!(
                "| {name} | {mode} | {:.2} | {:.2} | {r} | {:.4} |",
                pct(&mut lat, 50.0),
                pct(&mut lat, 95.0),
                ndcg / questions.len() as f64
            );
        }
    }
}

fn cpu_flags() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: HashSet<&str> = info
        .lines()
        .find(|l| l.starts_with("flags"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"]
        .into_iter()
        .filter(|f| flags.contains(f))
        .collect::<Vec<_>>()
        .join(" ")
}
