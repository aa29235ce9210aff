//! Benchmarks the HNSW vector index against exact search on random unit vectors.
//!
//! `cargo run --release --example hnsw_bench -- [--data random|clustered] [--n 100000]
//! [--dims 768] [--m 24] [--efc 200] [--ef 64,128,256,512] [--queries 1000]
//! [--exact-queries 100] [--save-dir DIR] [--flat only]`
//!
//! `--flat only` measures the flat vector file (write, open, exact f16 scan) and skips the
//! graph, whose build takes minutes at 100k.
//!
//! Prints build, save and open (load) times, warm search latency p50/p95 for HNSW at each
//! `ef` and for exact search, and recall@10 against exact search.
//!
//! `random` draws i.i.d. unit vectors: the worst case for any graph index, since all
//! pairwise similarities concentrate around 0 and the "nearest" neighbours are barely
//! nearer than the rest. `clustered` draws points from a Gaussian mixture in a 48-d latent
//! space projected to `dims` plus isotropic noise, closer to sentence embeddings (low
//! intrinsic dimension, topical clusters); its queries come from the same distribution.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use hnsw_rs::prelude::{DistCosine, DistDot, Distance};
use sourcier::flat::{self, FlatVectors};
use sourcier::index::{Params, VectorIndex, dot, exact_search, normalized};
use sourcier::store::{ArticleRow, NewChunk, Store};

/// xorshift64*, so the benchmark needs no extra crate.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn gauss(&mut self) -> f32 {
        let mut s = 0.0;
        for _ in 0..4 {
            s += (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        }
        s - 2.0
    }
    fn unit_vector(&mut self, dims: usize) -> Vec<f32> {
        normalized(&(0..dims).map(|_| self.gauss()).collect::<Vec<_>>())
    }
}

/// Draws one unit vector.
type Sampler = Box<dyn FnMut(&mut Rng) -> Vec<f32>>;

struct Args {
    clustered: bool,
    save_dir: Option<std::path::PathBuf>,
    n: usize,
    dims: usize,
    m: usize,
    efc: usize,
    efs: Vec<usize>,
    queries: usize,
    exact_queries: usize,
    /// Only the flat vector file (exact f16 scan), no graph: the graph takes minutes to build.
    flat_only: bool,
    /// An index (made by `sourcier ingest`) to grow with the generated vectors, as articles
    /// of 100 chunks, and whose flat vector file is then rewritten: a large index for timing
    /// a cold `sourcier search --mode dense` with the real model.
    grow_index: Option<std::path::PathBuf>,
}

fn parse_args() -> Args {
    let mut a = Args {
        clustered: false,
        save_dir: None,
        n: 100_000,
        dims: 768,
        m: Params::default().m,
        efc: Params::default().ef_construction,
        efs: vec![32, 64, 128, 256, 512],
        queries: 1000,
        exact_queries: 100,
        flat_only: false,
        grow_index: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        let num = || value.parse::<usize>().expect("numeric argument");
        match pair[0].as_str() {
            "--n" => a.n = num(),
            "--dims" => a.dims = num(),
            "--m" => a.m = num(),
            "--efc" => a.efc = num(),
            "--ef" => a.efs = value.split(',').map(|s| s.parse().expect("ef list")).collect(),
            "--queries" => a.queries = num(),
            "--exact-queries" => a.exact_queries = num(),
            "--data" => a.clustered = value == "clustered",
            "--save-dir" => a.save_dir = Some(value.into()),
            "--flat" => a.flat_only = value == "only",
            "--grow-index" => a.grow_index = Some(value.into()),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let args = parse_args();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    println!(
        "{} {} unit vectors, {} dims; m={} ef_construction={}; {} threads",
        args.n,
        if args.clustered { "clustered" } else { "random" },
        args.dims,
        args.m,
        args.efc,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    distance_microbench(&mut rng, args.dims);

    let mut draw: Sampler = if args.clustered {
        Box::new(mixture(&mut rng, args.dims))
    } else {
        let dims = args.dims;
        Box::new(move |rng: &mut Rng| rng.unit_vector(dims))
    };
    let data: Vec<(i64, Vec<f32>)> = (0..args.n).map(|i| (i as i64 + 1, draw(&mut rng))).collect();
    let fresh_queries: Vec<Vec<f32>> = (0..args.queries).map(|_| draw(&mut rng)).collect();
    // Stored vector + 30% noise: cosine ~0.96 with its source, a query that has a true match.
    let near_queries: Vec<Vec<f32>> = (0..args.queries)
        .map(|_| {
            let src = &data[(rng.next_u64() % args.n as u64) as usize].1;
            let noise = rng.unit_vector(args.dims);
            normalized(&src.iter().zip(&noise).map(|(a, b)| a + 0.3 * b).collect::<Vec<_>>())
        })
        .collect();

    if let Some(dir) = &args.grow_index {
        grow_index(dir, &data);
        return;
    }
    flat_bench(
        &args,
        &data,
        &[
            ("fresh queries", &fresh_queries),
            ("near-duplicate queries", &near_queries),
        ],
    );
    if args.flat_only {
        return;
    }

    let params = Params {
        m: args.m,
        ef_construction: args.efc,
        ef_search: args.efs[0],
    };
    let t = Instant::now();
    let mut index = VectorIndex::new(args.dims, args.n, params);
    for batch in data.chunks(8192) {
        index.insert_batch(batch).expect("insert");
    }
    let build = t.elapsed();
    println!(
        "build: {:.1} s ({:.0} vectors/s)",
        build.as_secs_f64(),
        args.n as f64 / build.as_secs_f64()
    );

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = args.save_dir.as_deref().unwrap_or(tmp.path());
    let t = Instant::now();
    index.save(dir).expect("save");
    println!("save: {:.2} s", t.elapsed().as_secs_f64());
    let size: u64 = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum();
    println!("on disk: {:.1} MB", size as f64 / 1e6);
    drop(index);
    let t = Instant::now();
    let mut bytes = 0;
    for e in std::fs::read_dir(dir).expect("read_dir") {
        bytes += std::fs::read(e.expect("entry").path()).map_or(0, |b| b.len());
    }
    println!(
        "  (reading the files alone: {:.3} s for {bytes} bytes)",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let index = VectorIndex::load(dir).expect("load").expect("saved index");
    println!("open (load, warm page cache): {:.3} s", t.elapsed().as_secs_f64());

    store_exact(&data, &fresh_queries[0]);

    for (name, queries) in [
        ("fresh queries", &fresh_queries),
        ("near-duplicate queries", &near_queries),
    ] {
        println!("\n== {name} ==");
        let nq = args.exact_queries.min(queries.len());
        let mut exact_times = Vec::with_capacity(nq);
        let mut truth = Vec::with_capacity(nq);
        for q in &queries[..nq] {
            let t = Instant::now();
            let r = exact_search(&data, q, 10);
            exact_times.push(t.elapsed());
            truth.push(r.into_iter().map(|(id, _)| id).collect::<HashSet<i64>>());
        }
        exact_times.sort();
        println!(
            "exact ({nq} queries): p50 {:.2} ms  p95 {:.2} ms",
            ms(percentile(&exact_times, 0.5)),
            ms(percentile(&exact_times, 0.95))
        );
        for &ef in &args.efs {
            // Warm-up pass, then timed pass.
            for q in queries.iter().take(50) {
                std::hint::black_box(index.search(q, 10, ef, &|_| true));
            }
            let mut times = Vec::with_capacity(queries.len());
            let mut hits = 0;
            for (i, q) in queries.iter().enumerate() {
                let t = Instant::now();
                let r = index.search(q, 10, ef, &|_| true);
                times.push(t.elapsed());
                if let Some(truth) = truth.get(i) {
                    hits += r.iter().filter(|(id, _)| truth.contains(id)).count();
                }
            }
            times.sort();
            println!(
                "hnsw ef={ef:<4} ({} queries): p50 {:.3} ms  p95 {:.3} ms  recall@10 {:.4}",
                queries.len(),
                ms(percentile(&times, 0.5)),
                ms(percentile(&times, 0.95)),
                hits as f64 / (nq * 10) as f64
            );
        }
    }
}

/// Stores `data` as articles of 100 chunks each.
fn insert_as_articles(store: &mut Store, data: &[(i64, Vec<f32>)]) {
    for (a, batch) in data.chunks(100).enumerate() {
        let article = ArticleRow {
            id: format!("synthetic/{a}"),
            source_path: format!("/nonexistent/synthetic/{a}.txt"),
            title: Some(format!("Synthetic {a}")),
            date: None,
            lang: Some("fr".into()),
            url: None,
            hash: String::new(),
        };
        let chunks: Vec<NewChunk> = batch
            .iter()
            .enumerate()
            .map(|(i, (_, v))| NewChunk {
                ordinal: i as u32,
                text: format!("Texte synthétique {a}.{i}."),
                start: 0,
                end: 0,
                line_start: 1,
                line_end: 1,
                embedding: v.clone(),
            })
            .collect();
        store.replace_article(&article, &chunks).expect("insert");
    }
}

/// Adds `data` to the store of the index in `dir` and rewrites its flat vector file.
fn grow_index(dir: &std::path::Path, data: &[(i64, Vec<f32>)]) {
    let mut store = Store::open(&dir.join("store.sqlite3")).expect("store");
    let t = Instant::now();
    insert_as_articles(&mut store, data);
    let dims = data.first().map_or(0, |d| d.1.len());
    let n = flat::write(dir, dims, &mut |row| {
        store.for_each_embedding_after(0, |id, v| row(id, v))
    })
    .expect("flat");
    drop(store);
    // The BM25 index catches up as an ingest would leave it (the graph is left behind: at
    // 100k it takes minutes to build, and dense search reads the flat file instead).
    let manifest = sourcier::library::read_manifest(dir)
        .expect("manifest")
        .expect("an index");
    let mut lib = sourcier::library::Library::open_for_ingest(dir, manifest).expect("open");
    lib.sync_lexical(&sourcier::progress::NoProgress).expect("lexical");
    println!(
        "grew {}: {} vectors in the store and its flat file ({:.1} s)",
        dir.display(),
        n,
        t.elapsed().as_secs_f64()
    );
}

/// The flat vector file (`sourcier::flat`): write, open (mmap + CRC), and exact f16 scans,
/// with recall@10 against exact f32 search.
fn flat_bench(args: &Args, data: &[(i64, Vec<f32>)], sets: &[(&str, &Vec<Vec<f32>>)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = Instant::now();
    flat::write(dir.path(), args.dims, &mut |row| {
        for (id, v) in data {
            row(*id, v)?;
        }
        Ok(())
    })
    .expect("write flat");
    let size = std::fs::metadata(dir.path().join(flat::FLAT_FILE))
        .expect("flat file")
        .len();
    println!(
        "\nflat file: written in {:.2} s, {:.1} MB",
        t.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    let t = Instant::now();
    let f = FlatVectors::open(dir.path()).expect("open").expect("flat file");
    println!(
        "flat open (mmap + CRC-32, warm page cache): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    for (name, queries) in sets {
        let nq = args.exact_queries.min(queries.len());
        let mut hits = 0;
        let mut times = Vec::with_capacity(queries.len());
        for (i, q) in queries.iter().enumerate() {
            let t = Instant::now();
            let r = f.search(q, 10, &|_| true);
            times.push(t.elapsed());
            if i < nq {
                let truth: HashSet<i64> = exact_search(data, q, 10).into_iter().map(|(id, _)| id).collect();
                hits += r.iter().filter(|(id, _)| truth.contains(id)).count();
            }
        }
        times.sort();
        println!(
            "flat exact f16, {name} ({} queries): p50 {:.2} ms  p95 {:.2} ms  recall@10 vs f32 {:.4}",
            queries.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            hits as f64 / (nq * 10) as f64
        );
    }
}

/// The no-HNSW path: one exact query streamed from the SQLite store, as a one-shot command
/// would run it without any index file.
fn store_exact(data: &[(i64, Vec<f32>)], q: &[f32]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("store.sqlite3")).expect("store");
    let t = Instant::now();
    insert_as_articles(&mut store, data);
    println!(
        "\nstore: wrote {} embeddings in {:.1} s",
        data.len(),
        t.elapsed().as_secs_f64()
    );
    for _ in 0..2 {
        let t = Instant::now();
        let mut best: Vec<(i64, f32)> = Vec::new();
        store
            .for_each_embedding(|id, v| {
                best.push((id, dot(q, v)));
                if best.len() >= 4096 {
                    best.sort_by(|a, b| b.1.total_cmp(&a.1));
                    best.truncate(10);
                }
                Ok(())
            })
            .expect("scan");
        println!(
            "exact search streamed from the store (no index): {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
}

/// A sampler for the clustered data set: 1,000 centres in a 48-d latent space, points
/// spread around them, projected to `dims` by a fixed random matrix, plus 10% noise.
fn mixture(rng: &mut Rng, dims: usize) -> impl FnMut(&mut Rng) -> Vec<f32> + use<> {
    const LATENT: usize = 48;
    let centres: Vec<Vec<f32>> = (0..1000).map(|_| (0..LATENT).map(|_| rng.gauss()).collect()).collect();
    let proj: Vec<Vec<f32>> = (0..dims).map(|_| (0..LATENT).map(|_| rng.gauss()).collect()).collect();
    move |rng: &mut Rng| {
        let c = &centres[(rng.next_u64() % centres.len() as u64) as usize];
        let z: Vec<f32> = c.iter().map(|x| x + 0.6 * rng.gauss()).collect();
        let signal = normalized(&proj.iter().map(|row| dot(row, &z)).collect::<Vec<_>>());
        let noise = rng.unit_vector(dims);
        normalized(&signal.iter().zip(&noise).map(|(s, n)| s + 0.1 * n).collect::<Vec<_>>())
    }
}

/// Time per distance evaluation for hnsw_rs's `DistDot` and `DistCosine` and sourcier's dot
/// (used by `UnitCosine`), and how often `DistDot` panics on a vector against itself.
fn distance_microbench(rng: &mut Rng, dims: usize) {
    let vs: Vec<Vec<f32>> = (0..256).map(|_| rng.unit_vector(dims)).collect();
    let rounds = 4000;
    let time = |f: &dyn Fn(&[f32], &[f32]) -> f32| {
        let t = Instant::now();
        let mut s = 0.0;
        for r in 0..rounds {
            let a = &vs[r % 256];
            for b in &vs {
                s += f(a, b);
            }
        }
        std::hint::black_box(s);
        t.elapsed().as_secs_f64() * 1e9 / (rounds * vs.len()) as f64
    };
    println!(
        "distance eval ({dims} dims): DistDot {:.1} ns, DistCosine {:.1} ns, sourcier dot {:.1} ns",
        // Distinct pairs only for DistDot: equal pairs may panic (counted below).
        time(&|a, b| if std::ptr::eq(a, b) { 0.0 } else { DistDot.eval(a, b) }),
        time(&|a, b| DistCosine.eval(a, b)),
        time(&|a, b| 1.0 - dot(a, b)),
    );
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let panics = (0..1000)
        .filter(|_| {
            let v = rng.unit_vector(dims);
            std::panic::catch_unwind(|| DistDot.eval(&v, &v)).is_err()
        })
        .count();
    std::panic::set_hook(hook);
    println!("DistDot.eval(v, v) panicked for {panics} of 1000 random unit vectors");
}
