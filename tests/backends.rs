//! One behavioural suite, run against every storage backend: the embedded index (SQLite +
//! HNSW + tantivy in a directory) and PostgreSQL with pgvector.
//!
//! PostgreSQL tests need a real server: `SOURCIER_TEST_PG` holds its URL
//! (`../shared/scripts/postgres-dev.sh start` prints it; `.ci/run` starts it). Each test gets
//! its own schema, so tests run in parallel. With `SOURCIER_TEST_PG` unset they run on the
//! embedded backend only and say so; with it set and the server unreachable they fail.
//!
//! Everything runs through the real binary with the hashing embedder (no model), as the fast
//! tier does.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use util::{copy_dir, ok, root, run, sourcier_fast};

/// One backend under test, with its own scratch directory.
struct Env {
    dir: tempfile::TempDir,
    /// `Some` for PostgreSQL: the URL selecting this test's schema.
    url: Option<String>,
    /// The schema to drop afterwards.
    schema: Option<String>,
    name: &'static str,
}

impl Env {
    fn index(&self) -> PathBuf {
        self.dir.path().join("index")
    }

    /// The binary, pointed at this backend.
    fn cmd(&self) -> Command {
        let mut c = sourcier_fast(&self.index());
        match &self.url {
            Some(url) => c.env("SOURCIER_DATABASE_URL", url),
            None => c.env_remove("SOURCIER_DATABASE_URL"),
        };
        c
    }

    /// `--from`/`--to` form of this backend's index.
    fn location(&self) -> String {
        match &self.url {
            Some(url) => url.clone(),
            None => self.index().display().to_string(),
        }
    }

    fn articles(&self) -> PathBuf {
        let a = self.dir.path().join("articles");
        if !a.exists() {
            copy_dir(&root().join("examples/articles"), &a);
        }
        a
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = ok(self.cmd().args(args).arg("--json"));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{}: bad JSON ({e}): {out}", self.name))
    }

    fn ingest(&self, path: &Path, extra: &[&str]) -> Value {
        let out = ok(self.cmd().arg("ingest").arg(path).args(extra).arg("--json"));
        serde_json::from_str(&out).unwrap()
    }

    fn search(&self, query: &str, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["search", query];
        args.extend_from_slice(extra);
        ids(&self.json(&args))
    }

    /// Rows of an SQL query on this test's schema (PostgreSQL only).
    fn sql(&self, query: &str) -> Vec<postgres::Row> {
        let mut c = postgres::Client::connect(self.url.as_ref().unwrap(), postgres::NoTls).unwrap();
        c.query(query, &[]).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let (Some(schema), Ok(base)) = (&self.schema, std::env::var("SOURCIER_TEST_PG"))
            && let Ok(mut c) = postgres::Client::connect(&base, postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

fn ids(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits: {v:#}"))
        .iter()
        .map(|h| h["article_id"].as_str().unwrap().to_string())
        .collect()
}

/// A fresh schema on the test server, and a URL whose connections use it (then `public`,
/// where the extensions live).
fn pg_env(test: &str) -> Option<Env> {
    let base = match std::env::var("SOURCIER_TEST_PG") {
        Ok(b) if !b.trim().is_empty() => b,
        _ => {
            eprintln!("{test}: SOURCIER_TEST_PG is unset, so only the embedded backend is tested");
            return None;
        }
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "t_{}_{}_{}",
        test.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let mut c = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("SOURCIER_TEST_PG is set but {base} is unreachable: {e}"));
    // Extensions are database-wide; create them once in public so every schema sees them.
    static EXT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    {
        let _g = EXT.lock().unwrap();
        c.batch_execute(
            "CREATE EXTENSION IF NOT EXISTS vector SCHEMA public; \
             CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public",
        )
        .unwrap();
    }
    c.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}%2Cpublic");
    Some(Env {
        dir: tempfile::tempdir().unwrap(),
        url: Some(url),
        schema: Some(schema),
        name: "postgres",
    })
}

/// The backends to run a test on: embedded always, PostgreSQL when configured.
fn backends(test: &str) -> Vec<Env> {
    let mut v = vec![Env {
        dir: tempfile::tempdir().unwrap(),
        url: None,
        schema: None,
        name: "embedded",
    }];
    v.extend(pg_env(test));
    v
}

fn write_jsonl(path: &Path, records: &[Value]) {
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn ingest_search_ask_and_stats() {
    for b in backends("ingest_search_ask_and_stats") {
        let r = b.ingest(&b.articles(), &[]);
        assert_eq!(r["added"], 5, "{}: {r:#}", b.name);
        for mode in ["dense", "lexical", "hybrid"] {
            let hits = b.search("Xiaomi rachète des brevets à Nokia", &["--mode", mode, "-k", "3"]);
            assert_eq!(hits[0], "004_d70e093277a21062.txt", "{} {mode}: {hits:?}", b.name);
        }
        let a = b.json(&[
            "ask",
            "Combien de demandes Wilbur Ross a-t-il reçues pour commercer avec Huawei ?",
        ]);
        assert_eq!(a["answer"]["abstained"], false, "{}: {a:#}", b.name);
        let cited = a["answer"]["citations"].as_array().unwrap();
        assert!(
            cited.iter().any(|c| c["article_id"] == "003_addd67ec89a263f6.txt"),
            "{}: {a:#}",
            b.name
        );
        // Ingest embedded the answerer's sentences ahead of questions, in either backend.
        let sentences: i64 = match &b.url {
            Some(_) => b.sql("SELECT count(*) FROM sourcier_sentence_vectors")[0].get(0),
            None => rusqlite::Connection::open(b.index().join("store.sqlite3"))
                .unwrap()
                .query_row("SELECT count(*) FROM sentence_vectors", [], |r| r.get(0))
                .unwrap(),
        };
        assert!(sentences >= 50, "{}: {sentences} sentence vectors stored", b.name);
        if let Some(url) = &b.url {
            // An answer reads its sentences in one round trip: in order, a missing key as none.
            use sourcier::answer::SentenceCache;
            let lib = sourcier::pg::PgLibrary::open(url).unwrap();
            let mut keys: Vec<String> = b
                .sql("SELECT key FROM sourcier_sentence_vectors ORDER BY key DESC LIMIT 3")
                .iter()
                .map(|r| r.get(0))
                .collect();
            keys.insert(1, "no such sentence".into());
            let got = lib.get_many(&keys);
            assert_eq!(got.len(), 4);
            assert!(got[1].is_none());
            for (k, v) in keys.iter().zip(&got).filter(|(_, v)| v.is_some()) {
                assert_eq!(v, &lib.get(k), "{k}");
                assert_eq!(v.as_ref().unwrap().len(), 256);
            }
        }
        let nothing = b.json(&["ask", "zzyzx qwvbk plmoq?"]);
        assert_eq!(nothing["answer"]["abstained"], true, "{}: {nothing:#}", b.name);
        let s = b.json(&["index", "stats"]);
        assert_eq!(
            (s["stats"]["articles"].as_u64(), s["stats"]["chunks"].as_u64()),
            (Some(5), Some(11)),
            "{}: {s:#}",
            b.name
        );
        assert_eq!(s["manifest"]["embedder"], "hashing@256");
        assert!(s["bytes"].as_u64().unwrap() > 0);
        let r = b.json(&["index", "rebuild"]);
        assert_eq!(r["chunks"], 11, "{}: {r:#}", b.name);
        assert_eq!(
            b.search("Xiaomi brevets Nokia", &["-k", "1"]),
            ["004_d70e093277a21062.txt"],
            "{}",
            b.name
        );
    }
}

#[test]
fn reingest_modify_and_prune() {
    for b in backends("reingest_modify_and_prune") {
        let articles = b.articles();
        b.ingest(&articles, &[]);
        let again = b.ingest(&articles, &[]);
        assert_eq!(
            (again["unchanged"].as_u64(), again["chunks"].as_u64()),
            (Some(5), Some(0)),
            "{}: {again:#}",
            b.name
        );
        let f = articles.join("003_addd67ec89a263f6.txt");
        let text = std::fs::read_to_string(&f).unwrap();
        std::fs::write(
            &f,
            text.replace(
                "Wilbur Ross a annoncé",
                "Wilbur Ross, ami des ornithorynques, a annoncé",
            ),
        )
        .unwrap();
        std::fs::remove_file(articles.join("004_d70e093277a21062.txt")).unwrap();
        let r = b.ingest(&articles, &["--prune"]);
        assert_eq!(
            (r["updated"].as_u64(), r["pruned"].as_u64()),
            (Some(1), Some(1)),
            "{}: {r:#}",
            b.name
        );
        // Only the edited chunk is embedded again.
        assert_eq!(
            r["chunks"].as_u64().unwrap() - r["reused"].as_u64().unwrap(),
            1,
            "{}: {r:#}",
            b.name
        );
        assert_eq!(
            b.search("ornithorynques", &["--mode", "lexical"])[0],
            "003_addd67ec89a263f6.txt",
            "{}",
            b.name
        );
        let hits = b.search("Xiaomi Nokia brevets", &["-k", "20"]);
        assert!(
            !hits.contains(&"004_d70e093277a21062.txt".to_string()),
            "{}: {hits:?}",
            b.name
        );
        let s = b.json(&["index", "stats"]);
        assert_eq!(s["stats"]["articles"], 4, "{}: {s:#}", b.name);
    }
}

#[test]
fn filters_run_on_dates_languages_and_sources() {
    for b in backends("filters") {
        let file = b.dir.path().join("mixed.jsonl");
        let rec = |id: &str, date: &str, lang: &str| {
            serde_json::json!({"id": id, "title": format!("Article {id}"), "date": date, "lang": lang,
                "text": format!("Le marché des panneaux solaires progresse. Article {id} parle des panneaux solaires.")})
        };
        write_jsonl(
            &file,
            &[
                rec("ete", "été", "fr"),
                rec("hier", "hier", "fr"),
                rec("impossible", "2025-02-31", "fr"),
                rec("avril", "2025-04-12", "fr-FR"),
                rec("old", "2024-06-01", "français"),
                rec("en", "2025-05", "en"),
            ],
        );
        b.ingest(&file, &[]);
        let q = "panneaux solaires";
        for mode in ["dense", "lexical", "hybrid"] {
            let m = ["--mode", mode];
            let mut since = b.search(q, &[&m[..], &["--since", "2025"]].concat());
            since.sort();
            assert_eq!(since, ["mixed.jsonl#avril", "mixed.jsonl#en"], "{} {mode}", b.name);
            assert_eq!(
                b.search(q, &[&m[..], &["--until", "2024-12"]].concat()),
                ["mixed.jsonl#old"],
                "{} {mode}",
                b.name
            );
            assert_eq!(
                b.search(q, &[&m[..], &["--since", "2025-04", "--until", "2025-04"]].concat()),
                ["mixed.jsonl#avril"],
                "{} {mode}",
                b.name
            );
            let mut fr = b.search(q, &[&m[..], &["--lang", "FR", "-k", "20"]].concat());
            fr.sort();
            assert_eq!(fr.len(), 5, "{} {mode}: {fr:?}", b.name);
            assert_eq!(
                b.search(q, &[&m[..], &["--lang", "en"]].concat()),
                ["mixed.jsonl#en"],
                "{} {mode}",
                b.name
            );
            assert_eq!(
                b.search(q, &[&m[..], &["--source", "*#hier"]].concat()),
                ["mixed.jsonl#hier"],
                "{} {mode}",
                b.name
            );
            assert!(
                b.search(q, &[&m[..], &["--since", "2026"]].concat()).is_empty(),
                "{} {mode}",
                b.name
            );
        }
    }
}

/// A filter that keeps one article among many must still find it: the filter runs inside
/// the ranking, not on its top k.
#[test]
fn a_selective_filter_does_not_lose_hits() {
    for b in backends("selective_filter") {
        let file = b.dir.path().join("many.jsonl");
        let mut recs: Vec<Value> = (0..300)
            .map(|i| {
                serde_json::json!({"id": format!("fr{i}"), "lang": "fr", "date": "2024-01-01",
                    "text": format!("Les panneaux solaires du toit numéro {i} produisent de l'électricité.")})
            })
            .collect();
        recs.push(serde_json::json!({"id": "rare", "lang": "en", "date": "2025-03-03",
            "text": "Solar panels on a roof make electricity, panneaux solaires."}));
        write_jsonl(&file, &recs);
        b.ingest(&file, &[]);
        for mode in ["dense", "lexical", "hybrid"] {
            assert_eq!(
                b.search(
                    "panneaux solaires électricité",
                    &["--mode", mode, "--lang", "en", "-k", "3"]
                ),
                ["many.jsonl#rare"],
                "{} {mode}",
                b.name
            );
            assert_eq!(
                b.search(
                    "panneaux solaires électricité",
                    &["--mode", mode, "--since", "2025", "-k", "3"]
                ),
                ["many.jsonl#rare"],
                "{} {mode}",
                b.name
            );
        }
    }
}

#[test]
fn eval_scores_a_query_file() {
    for b in backends("eval") {
        b.ingest(&b.articles(), &[]);
        let q = b.dir.path().join("q.jsonl");
        write_jsonl(
            &q,
            &[
                serde_json::json!({"id": "x", "query": "Xiaomi rachète des brevets à Nokia", "relevant": ["004_d70e093277a21062.txt"]}),
                serde_json::json!({"id": "h", "query": "Wilbur Ross demandes Huawei", "relevant": ["003_addd67ec89a263f6.txt"]}),
            ],
        );
        let report = b.dir.path().join("report.json");
        ok(b.cmd().arg("eval").arg(&q).args(["--answers", "--json"]).arg(&report));
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        let modes = r["modes"].as_array().unwrap();
        assert_eq!(modes.len(), 3, "{}: {r:#}", b.name);
        for m in modes {
            let ndcg = m["retrieval"]["overall"]["mean"]["ndcg@10"]
                .as_f64()
                .unwrap_or_else(|| panic!("{}: {m:#}", b.name));
            assert!(ndcg > 0.9, "{} {}: nDCG {ndcg}", b.name, m["mode"]);
        }
    }
}

#[test]
fn another_embedder_or_dimension_is_refused() {
    for b in backends("dims") {
        b.ingest(&b.articles(), &[]);
        let (success, stdout, stderr) = run(b.cmd().args(["search", "brevets", "--dims", "128"]));
        assert!(!success && stdout.is_empty(), "{}", b.name);
        assert!(
            stderr.contains("hashing@256") && !stderr.contains("panicked"),
            "{}: {stderr}",
            b.name
        );
        let (success, _, stderr) = run(b.cmd().arg("ingest").arg(b.articles()).args(["--dims", "128"]));
        assert!(!success && !stderr.contains("panicked"), "{}: {stderr}", b.name);
        // Nothing was lost.
        let s = b.json(&["index", "stats"]);
        assert_eq!(s["stats"]["articles"], 5, "{}: {s:#}", b.name);
    }
}

#[test]
fn bad_input_is_reported_not_stored() {
    for b in backends("bad_input") {
        let docs = b.dir.path().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(
            docs.join("ok.txt"),
            "Les tournesols de Provence fleurissent en juillet.",
        )
        .unwrap();
        std::fs::write(docs.join("bad.jsonl"), "{\"id\": 3, \"text\": 5}\nnot json\n").unwrap();
        std::fs::write(docs.join("empty.md"), "").unwrap();
        let (success, stdout, stderr) = run(b.cmd().arg("ingest").arg(&docs).arg("--json"));
        assert!(success, "{}: {stderr}", b.name);
        assert!(!stderr.contains("panicked"), "{}: {stderr}", b.name);
        let r: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(r["added"], 1, "{}: {r:#}", b.name);
        for bad in [
            &["search", ""][..],
            &["search", "x", "-k", "0"],
            &["search", "x", "--since", "2025-13"],
        ] {
            let (success, stdout, stderr) = run(b.cmd().args(bad));
            assert!(
                !success && stdout.is_empty() && !stderr.contains("panicked"),
                "{} {bad:?}: {stderr}",
                b.name
            );
        }
        assert_eq!(b.search("tournesols", &[]), ["ok.txt"], "{}", b.name);
    }
}

/// `kill -9` in the middle of an ingest leaves an index that answers, holds whole articles
/// only, and a second run completes it.
#[test]
fn a_killed_ingest_leaves_a_usable_index_and_resumes() {
    for b in backends("kill9") {
        b.ingest(&b.articles(), &[]);
        let big = b.dir.path().join("big");
        std::fs::create_dir_all(&big).unwrap();
        // Large enough that even a release build with the hashing embedder is still at it
        // when the first articles are in (about 3 s here).
        for i in 0..2000 {
            let text: String = (0..40)
                .map(|j| format!("Phrase {j} de l'article {i} sur les marchés de l'énergie solaire. "))
                .collect();
            std::fs::write(big.join(format!("a{i:03}.txt")), text).unwrap();
        }
        let mut child = b.cmd().arg("ingest").arg(&big).arg("--quiet").spawn().unwrap();
        // Kill it once some articles are in, before it finishes: both backends are polled for
        // what is stored (readers never wait for the writer), not timed.
        let t = std::time::Instant::now();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(20));
            if child.try_wait().unwrap().is_some() {
                panic!(
                    "{}: the ingest finished before it could be killed; make the corpus larger",
                    b.name
                );
            }
            let n = match &b.url {
                Some(_) => b.sql("SELECT count(*) FROM sourcier_articles")[0].get::<_, i64>(0) as u64,
                None => b.json(&["index", "stats"])["stats"]["articles"].as_u64().unwrap_or(0),
            };
            if n > 25 {
                break;
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(60),
                "{}: no progress",
                b.name
            );
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Readable, and the previous articles still answer.
        assert_eq!(
            b.search("Xiaomi brevets Nokia", &["-k", "1"]),
            ["004_d70e093277a21062.txt"],
            "{}",
            b.name
        );
        if b.url.is_some() {
            let orphans: i64 = b.sql(
                "SELECT count(*) FROM sourcier_chunks c LEFT JOIN sourcier_embeddings e ON e.chunk_id = c.id \
                 WHERE e.chunk_id IS NULL",
            )[0]
            .get(0);
            assert_eq!(orphans, 0, "chunks without embeddings after kill -9");
            let empty: i64 = b.sql(
                "SELECT count(*) FROM sourcier_articles a WHERE NOT EXISTS \
                 (SELECT 1 FROM sourcier_chunks c WHERE c.article_id = a.id)",
            )[0]
            .get(0);
            assert_eq!(empty, 0, "articles without chunks after kill -9");
        }
        let r = b.ingest(&big, &[]);
        let s = b.json(&["index", "stats"]);
        assert_eq!(s["stats"]["articles"], 2005, "{}: {r:#} {s:#}", b.name);
        let r = b.ingest(&big, &[]);
        assert_eq!(r["unchanged"], 2000, "{}: {r:#}", b.name);
    }
}

/// Issue 14: one long article (a 50 MB file is hours with the real model) commits its vectors
/// group by group. `kill -9` once some are committed: readers see the index as it was, and the
/// next run embeds only what is missing.
#[test]
fn a_killed_long_article_resumes_from_its_staged_vectors() {
    for b in backends("kill9_long") {
        b.ingest(&b.articles(), &[]);
        let big = b.dir.path().join("long");
        std::fs::create_dir_all(&big).unwrap();
        let text: String = (0..6000)
            .map(|p| {
                (0..5)
                    .map(|s| format!("Le paragraphe {p} dit en phrase {s} que le marché de l'énergie solaire croît. "))
                    .collect::<String>()
                    + "\n\n"
            })
            .collect();
        std::fs::write(big.join("long.txt"), text).unwrap();
        let mut child = b.cmd().arg("ingest").arg(&big).arg("--quiet").spawn().unwrap();
        let staged = |b: &Env| -> i64 {
            match &b.url {
                Some(_) => b.sql("SELECT count(*) FROM sourcier_staged_vectors")[0].get(0),
                None => {
                    let db = rusqlite::Connection::open_with_flags(
                        b.index().join("store.sqlite3"),
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .unwrap();
                    db.query_row("SELECT count(*) FROM staged_vectors", [], |r| r.get(0))
                        .unwrap_or(0)
                }
            }
        };
        let t = std::time::Instant::now();
        let seen = loop {
            std::thread::sleep(std::time::Duration::from_millis(20));
            if child.try_wait().unwrap().is_some() {
                panic!(
                    "{}: the ingest finished before it could be killed; make the article longer",
                    b.name
                );
            }
            let n = staged(&b);
            if n >= 64 {
                break n;
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(120),
                "{}: nothing staged",
                b.name
            );
        };
        child.kill().unwrap();
        child.wait().unwrap();
        let s = b.json(&["index", "stats"]);
        assert_eq!(
            s["stats"]["articles"], 5,
            "{}: half an article is visible: {s:#}",
            b.name
        );
        let r = b.ingest(&big, &[]);
        assert_eq!(r["added"], 1, "{}: {r:#}", b.name);
        let reused = r["reused"].as_i64().unwrap();
        assert!(
            reused >= seen,
            "{}: {seen} staged before the kill, {reused} reused: {r:#}",
            b.name
        );
        assert!(reused < r["chunks"].as_i64().unwrap(), "{}: {r:#}", b.name);
        assert_eq!(staged(&b), 0, "{}: staged vectors left behind", b.name);
        assert_eq!(
            b.search("paragraphe 4321 phrase", &["--mode", "lexical", "-k", "1"]),
            ["long.txt"],
            "{}",
            b.name
        );
    }
}

/// Two ingest processes on overlapping folders of one database at once: no article is
/// duplicated or lost, every chunk has its embedding.
#[test]
fn concurrent_ingests_on_one_database_neither_duplicate_nor_lose() {
    let Some(b) = pg_env("concurrent") else {
        return;
    };
    let one = b.dir.path().join("one");
    let two = b.dir.path().join("two");
    for d in [&one, &two] {
        std::fs::create_dir_all(d).unwrap();
    }
    // Articles 0..150 in `one`, 100..250 in `two`: 50 shared, with identical ids and text.
    for i in 0..250 {
        let text: String = (0..12)
            .map(|j| format!("Phrase {j} de l'article {i} sur la pêche en Bretagne. "))
            .collect();
        if i < 150 {
            std::fs::write(one.join(format!("a{i:03}.txt")), &text).unwrap();
        }
        if i >= 100 {
            std::fs::write(two.join(format!("a{i:03}.txt")), &text).unwrap();
        }
    }
    let spawn = |d: &Path| b.cmd().arg("ingest").arg(d).arg("--quiet").spawn().unwrap();
    let (mut p1, mut p2) = (spawn(&one), spawn(&two));
    assert!(p1.wait().unwrap().success() && p2.wait().unwrap().success());
    let articles: i64 = b.sql("SELECT count(*) FROM sourcier_articles")[0].get(0);
    // Ids are paths below the ingested folder: the 50 shared files are the same 50 articles.
    assert_eq!(articles, 250);
    let dup: i64 = b.sql(
        "SELECT count(*) FROM (SELECT article_id, ordinal FROM sourcier_chunks GROUP BY 1, 2 HAVING count(*) > 1) d",
    )[0]
    .get(0);
    assert_eq!(dup, 0, "duplicated chunks");
    let orphans: i64 = b.sql(
        "SELECT count(*) FROM sourcier_chunks c LEFT JOIN sourcier_embeddings e ON e.chunk_id = c.id WHERE e.chunk_id IS NULL",
    )[0]
    .get(0);
    assert_eq!(orphans, 0, "chunks without embeddings");
    let per_article: Vec<i64> = b
        .sql("SELECT count(*) FROM sourcier_chunks GROUP BY article_id")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(per_article.iter().all(|&n| n == per_article[0]), "{per_article:?}");
}

/// The same corpus in both backends ranks the same way; migrate copies without re-embedding,
/// both ways.
#[test]
fn backends_agree_and_migrate_both_ways() {
    let Some(pg) = pg_env("agree") else {
        return;
    };
    let emb = Env {
        dir: tempfile::tempdir().unwrap(),
        url: None,
        schema: None,
        name: "embedded",
    };
    emb.ingest(&emb.articles(), &[]);
    let r = emb.json(&["index", "migrate", "--from", &emb.location(), "--to", &pg.location()]);
    assert_eq!(
        (r["articles"].as_u64(), r["chunks"].as_u64()),
        (Some(5), Some(11)),
        "{r:#}"
    );
    let queries = [
        "Xiaomi rachète des brevets à Nokia",
        "Combien de demandes pour commercer avec Huawei ?",
        "Huawei Cloud en Europe",
        "smartphones chinois",
    ];
    for q in queries {
        let a = emb.json(&["search", q, "--mode", "dense", "-k", "5"]);
        let b = pg.json(&["search", q, "--mode", "dense", "-k", "5"]);
        let scores = |v: &Value| -> Vec<String> {
            v["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| format!("{:.4}", h["score"].as_f64().unwrap()))
                .collect()
        };
        // Chunk ids differ between stores; the articles and scores must not.
        assert_eq!(ids(&a), ids(&b), "dense ranking of {q:?}");
        assert_eq!(scores(&a), scores(&b), "dense scores of {q:?}");
        let ah = emb.search(q, &["--mode", "hybrid", "-k", "1"]);
        let bh = pg.search(q, &["--mode", "hybrid", "-k", "1"]);
        assert_eq!(ah, bh, "hybrid top hit of {q:?}");
    }
    // And back, into a fresh directory.
    let back = tempfile::tempdir().unwrap();
    let dest = back.path().join("index");
    let r = emb.json(&[
        "index",
        "migrate",
        "--from",
        &pg.location(),
        "--to",
        dest.to_str().unwrap(),
    ]);
    assert_eq!(r["chunks"], 11, "{r:#}");
    let again = emb.json(&["index", "migrate", "--from", &emb.location(), "--to", &pg.location()]);
    assert_eq!(again["articles"], 0, "a second copy skips what is there: {again:#}");
    let v: Value = serde_json::from_str(&ok(sourcier_fast(&dest).args(["search", queries[0], "--json"]))).unwrap();
    assert_eq!(ids(&v)[0], "004_d70e093277a21062.txt");
    // Articles open with their text in the page's reader from either backend.
    let t = pg.json(&["index", "stats"]);
    assert_eq!(t["stats"]["articles"], 5);
}

#[test]
fn a_newer_schema_is_refused_and_an_unreachable_server_is_named() {
    let Some(b) = pg_env("schema") else {
        return;
    };
    b.ingest(&b.articles(), &[]);
    b.sql("UPDATE sourcier_meta SET value = '99' WHERE key = 'schema_version'");
    let (success, _, stderr) = run(b.cmd().args(["search", "brevets"]));
    assert!(
        !success && stderr.contains("99") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let (success, _, stderr) = run(b.cmd().arg("ingest").arg(b.articles()));
    assert!(!success && stderr.contains("99"), "{stderr}");

    let mut c = sourcier_fast(&b.index());
    c.env("SOURCIER_DATABASE_URL", "postgres://nobody:secret@127.0.0.1:1/none");
    let (success, stdout, stderr) = run(c.args(["search", "brevets"]));
    assert!(!success && stdout.is_empty(), "{stderr}");
    assert!(stderr.contains("cannot reach the database"), "{stderr}");
    assert!(!stderr.contains("secret") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn serve_answers_from_postgres() {
    let Some(b) = pg_env("serve") else {
        return;
    };
    b.ingest(&b.articles(), &[]);
    let mut cmd = b.cmd();
    cmd.args(["serve", "--addr", "127.0.0.1:0"]);
    let server = util::Server::spawn(cmd);
    let v: Value = ureq::post(&format!("{}/api/search", server.url))
        .send_json(serde_json::json!({"query": "Xiaomi rachète des brevets à Nokia", "k": 3}))
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(ids(&v)[0], "004_d70e093277a21062.txt", "{v:#}");
    let stats: Value = ureq::get(&format!("{}/api/stats", server.url))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(stats["stats"]["articles"], 5, "{stats:#}");
    let art: Value = ureq::get(&format!("{}/api/articles/004_d70e093277a21062.txt", server.url))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert!(!art["blocks"].as_array().unwrap().is_empty(), "{art:#}");
    assert!(server.stop());
}

/// `SOURCIER_PG_VECTOR=halfvec` stores 2-byte floats: the column and its HNSW index are
/// `halfvec`, rankings match the embedded index, scores within half-precision rounding, and
/// the choice is kept (a later writer without the variable keeps halfvec). An unknown type is
/// refused before anything is created.
#[test]
fn halfvec_storage_ranks_like_the_embedded_index() {
    let Some(pg) = pg_env("halfvec") else {
        return;
    };
    let emb = Env {
        dir: tempfile::tempdir().unwrap(),
        url: None,
        schema: None,
        name: "embedded",
    };
    let bad = run(pg
        .cmd()
        .env("SOURCIER_PG_VECTOR", "float8")
        .arg("ingest")
        .arg(pg.articles()));
    assert!(!bad.0 && bad.2.contains("SOURCIER_PG_VECTOR"), "{}", bad.2);
    emb.ingest(&emb.articles(), &[]);
    let r = ok(pg.cmd().env("SOURCIER_PG_VECTOR", "halfvec").args([
        "index",
        "migrate",
        "--from",
        &emb.location(),
        "--to",
        &pg.location(),
        "--json",
    ]));
    assert!(r.contains("\"chunks\": 11") || r.contains("\"chunks\":11"), "{r}");
    let t: String = pg.sql(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = 'sourcier_embeddings'::regclass AND attname = 'embedding'",
    )[0]
    .get(0);
    assert!(t.starts_with("halfvec("), "{t}");
    for q in [
        "Xiaomi rachète des brevets à Nokia",
        "Huawei Cloud en Europe",
        "smartphones chinois",
    ] {
        let a = emb.json(&["search", q, "--mode", "dense", "-k", "5"]);
        let b = pg.json(&["search", q, "--mode", "dense", "-k", "5"]);
        assert_eq!(ids(&a)[0], ids(&b)[0], "dense top hit of {q:?}");
        for (x, y) in a["hits"].as_array().unwrap().iter().zip(b["hits"].as_array().unwrap()) {
            let (x, y) = (x["score"].as_f64().unwrap(), y["score"].as_f64().unwrap());
            assert!((x - y).abs() < 2e-3, "{q:?}: {x} vs {y}");
        }
    }
    // A later ingest without the variable keeps the stored type.
    let more = pg.dir.path().join("more");
    std::fs::create_dir_all(&more).unwrap();
    std::fs::write(more.join("x.txt"), "Les tournesols de Provence fleurissent en juillet.").unwrap();
    pg.ingest(&more, &[]);
    let n: i64 = pg.sql("SELECT count(*) FROM sourcier_embeddings")[0].get(0);
    assert_eq!(n, 12);
}
