//! Measures hybrid fusion weights on an existing index: each query is embedded once, both
//! retrievers' top 50 are kept, and every lexical weight is scored from those two lists, so a
//! sweep costs one `eval` pass instead of one per weight.
//!
//! `cargo run --release --example fusion_sweep -- INDEX_DIR QUERIES [--lang fr] [--weights 0,0.25,0.5,1]`
//!
//! QUERIES is a JSONL query file (run against an index of its articles), or the SQuAD file
//! whose corpus `sourcier eval FILE --corpus-index DIR` built in `DIR` (then INDEX_DIR is
//! `DIR/index`). Queries are split by position into even and odd halves: pick a weight on one
//! half and read its figure on the other, so the choice is not scored on the data that made it.
//! Prints nDCG@10 and R@1 at article level for dense alone, lexical alone, each weight, and
//! the fusion `--mode hybrid` ships (`retrieve::fusion_weights`).

use std::path::PathBuf;

use sourcier::embed::{self, Embedder};
use sourcier::eval::input;
use sourcier::eval::metrics::{Qrels, RetrievalScores};
use sourcier::library::Library;
use sourcier::models::{self, Paths};
use sourcier::progress::NoProgress;
use sourcier::retrieve::{self, rrf_weighted};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let positional: Vec<&String> = {
        let mut v = Vec::new();
        let mut skip = false;
        for a in &args {
            if skip {
                skip = false;
            } else if a.starts_with("--") {
                skip = true;
            } else {
                v.push(a);
            }
        }
        v
    };
    let [index_dir, queries_path] = positional[..] else {
        return Err("usage: fusion_sweep INDEX_DIR QUERIES [--lang fr] [--weights 0,0.25,0.5,1]".into());
    };
    let weights: Vec<f32> = flag("--weights")
        .unwrap_or_else(|| "0.2,0.3,0.5,1".into())
        .split(',')
        .map(|w| w.trim().parse())
        .collect::<Result<_, _>>()?;
    let text = std::fs::read_to_string(queries_path)?;
    let (queries, prefix) = if text.contains("\"paragraphs\"") {
        let lang = flag("--lang").unwrap_or_else(|| {
            if queries_path.to_lowercase().contains("piaf") {
                "fr".into()
            } else {
                "en".into()
            }
        });
        let set = input::parse_squad(&text, None, &lang)?;
        (set.to_query_set().queries, "corpus.jsonl#".to_string())
    } else {
        (input::parse_jsonl(&text).queries, String::new())
    };
    let queries: Vec<_> = queries.into_iter().filter(|q| q.is_answerable()).collect();

    let lib = Library::open(&PathBuf::from(index_dir))?;
    let paths = Paths::from_env();
    let dir = models::ensure(&paths, models::DEFAULT_EMBEDDER, &NoProgress)?;
    let manifest = models::manifest(models::DEFAULT_EMBEDDER)?;
    let embedder = embed::GemmaEmbedder::load(&embed::ModelSpec::from_manifest(
        &manifest,
        dir,
        Some(lib.manifest.dims),
    )?)?;

    // Settings: dense alone, lexical alone, then each lexical weight with dense at 1.
    let mut names = vec!["dense".to_string(), "lexical".to_string()];
    names.extend(weights.iter().map(|w| format!("hybrid w={w}")));
    names.push("hybrid shipped".into());
    // [setting][half] -> (sum nDCG, sum R@1, n)
    let mut sums = vec![[(0.0f64, 0.0f64, 0usize); 2]; names.len()];
    let t = std::time::Instant::now();
    for (i, q) in queries.iter().enumerate() {
        let legs = retrieve::legs(&lib, &embedder as &dyn Embedder, &q.text, 50)?;
        let mut lists = vec![legs.dense.clone(), legs.lexical.clone()];
        for &w in &weights {
            lists.push(rrf_weighted(&[(&legs.dense, 1.0), (&legs.lexical, w)], 50));
        }
        // What `--mode hybrid` does: the weights depend on the query (keyword queries swap them).
        let (wd, wl) = retrieve::fusion_weights(&q.text);
        lists.push(rrf_weighted(&[(&legs.dense, wd), (&legs.lexical, wl)], 50));
        for (s, list) in lists.iter().enumerate() {
            let ranked = articles(&lib, list, &prefix)?;
            let scores = RetrievalScores::compute(&ranked, &q.relevant as &Qrels).expect("answerable");
            let cell = &mut sums[s][i % 2];
            cell.0 += scores.ndcg_at_10;
            cell.1 += scores.recall_at_1;
            cell.2 += 1;
        }
        if (i + 1) % 200 == 0 {
            eprintln!("{}/{} queries, {:.0}s", i + 1, queries.len(), t.elapsed().as_secs_f64());
        }
    }
    println!(
        "{} answerable queries from {queries_path}, index {index_dir}",
        queries.len()
    );
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>8}",
        "setting", "nDCG even", "nDCG odd", "nDCG all", "R@1 all"
    );
    for (name, halves) in names.iter().zip(&sums) {
        let mean = |h: &(f64, f64, usize), f: fn(&(f64, f64, usize)) -> f64| f(h) / h.2.max(1) as f64;
        let all = (
            halves[0].0 + halves[1].0,
            halves[0].1 + halves[1].1,
            halves[0].2 + halves[1].2,
        );
        println!(
            "{:<16} {:>10.4} {:>10.4} {:>10.4} {:>8.4}",
            name,
            mean(&halves[0], |h| h.0),
            mean(&halves[1], |h| h.0),
            mean(&all, |h| h.0),
            mean(&all, |h| h.1)
        );
    }
    Ok(())
}

/// Distinct article ids of a chunk ranking, best first, without `prefix`.
fn articles(lib: &Library, list: &[(i64, f32)], prefix: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let ids: Vec<i64> = list.iter().map(|x| x.0).collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (chunk, _) in lib.store.chunks_by_ids(&ids)? {
        let id = chunk
            .article_id
            .strip_prefix(prefix)
            .unwrap_or(&chunk.article_id)
            .to_string();
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    Ok(out)
}
