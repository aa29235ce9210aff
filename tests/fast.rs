//! The fast tier: the real binary and the library's use cases with the deterministic hashing
//! embedder, so ingest → search → ask → eval, the filters and the error paths run in seconds,
//! in debug builds, with no model. The hashing embedder matches words, not meaning, so these
//! tests pin behaviour and plumbing; retrieval quality is the real-model tier's job
//! (`tests/cli.rs`, `tests/ask.rs`).

mod util;

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;
use sourcier::app::{self, AskRequest, EmbedderChoice, EvalRequest, IngestRequest, SearchRequest, Session, Setup};
use sourcier::progress::NoProgress;
use sourcier::retrieve::{Filters, Mode};
use util::{copy_dir, fast_index, ok, root, run, sourcier_fast};

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"))
}

fn search(idx: &Path, query: &str, extra: &[&str]) -> Value {
    json(&ok(sourcier_fast(idx).args(["search", query, "--json"]).args(extra)))
}

fn ids(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["article_id"].as_str().unwrap().to_string())
        .collect()
}

/// An eval of `file` in lexical mode with nothing else asked: tests set what they exercise.
fn eval_request(file: std::path::PathBuf) -> EvalRequest {
    EvalRequest {
        file,
        modes: vec![Mode::Lexical],
        answers: false,
        min_ndcg: None,
        min_recall: None,
        limit: None,
        lang: None,
        corpus_index: None,
        level: Default::default(),
        split: None,
        drop_gold: None,
        dump_answer_features: None,
        dump_answerability: None,
    }
}

fn setup(index: &Path) -> Setup {
    let mut paths = sourcier::models::Paths::from_env();
    paths.models_dir = index.join("no-models");
    Setup {
        embedder: EmbedderChoice::Hashing,
        paths,
        ..Setup::new(index)
    }
}

/// `dir/docs` holding one ordinary article, `ok.txt`.
fn docs_with_one_article(dir: &Path) -> std::path::PathBuf {
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("ok.txt"),
        "Les tournesols de Provence fleurissent en juillet.",
    )
    .unwrap();
    docs
}

fn write_jsonl(path: &Path, records: &[Value]) {
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn ingest_search_ask_and_stats_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    for mode in ["dense", "lexical", "hybrid"] {
        let v = search(&idx, "Xiaomi rachète des brevets à Nokia", &["--mode", mode, "-k", "3"]);
        assert_eq!(ids(&v)[0], "004_d70e093277a21062.txt", "{mode}: {v:#}");
        assert_eq!(v["mode"], mode);
        let hit = &v["hits"][0];
        for field in [
            "rank",
            "score",
            "chunk_id",
            "path",
            "line_start",
            "line_end",
            "start",
            "end",
            "text",
            "snippet",
        ] {
            assert!(!hit[field].is_null(), "hit lacks {field}: {hit:#}");
        }
        assert!(v["hits"].as_array().unwrap().len() <= 3);
    }
    let text = ok(sourcier_fast(&idx).args(["search", "Wilbur Ross demandes Huawei", "-k", "2"]));
    assert!(text.starts_with(" 1. "), "{text}");
    assert!(text.contains("articles/003_addd67ec89a263f6.txt:"), "{text}");

    let a = json(&ok(sourcier_fast(&idx).args([
        "ask",
        "Combien de demandes Wilbur Ross a-t-il reçues pour commercer avec Huawei ?",
        "--json",
    ])));
    assert_eq!(a["answer"]["abstained"], false, "{a:#}");
    let citations = a["answer"]["citations"].as_array().unwrap();
    assert!(!citations.is_empty(), "{a:#}");
    assert!(
        citations.iter().any(|c| c["article_id"] == "003_addd67ec89a263f6.txt"),
        "{a:#}"
    );
    for key in ["embed_ms", "search_ms", "answer_ms", "total_ms"] {
        assert!(a["timings"][key].is_number(), "{a:#}");
    }
    let stats = json(&ok(sourcier_fast(&idx).args(["index", "stats", "--json"])));
    assert_eq!(stats["stats"]["articles"], 5);
    assert_eq!(stats["manifest"]["embedder"], "hashing@256");
    assert!(stats["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn ask_abstains_when_nothing_matches() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    let a = json(&ok(sourcier_fast(&idx).args(["ask", "zzyzx qwvbk plmoq?", "--json"])));
    assert_eq!(a["answer"]["abstained"], true, "{a:#}");
    assert!(a["answer"]["citations"].as_array().unwrap().is_empty());
    // --generate abstains too, before any language model is loaded (there is none here).
    let g = json(&ok(sourcier_fast(&idx).args([
        "ask",
        "zzyzx qwvbk plmoq?",
        "--generate",
        "--json",
    ])));
    assert_eq!(g["abstained"], true, "{g:#}");
    assert!(g["generated"].as_str().unwrap().contains("articles"), "{g:#}");
}

#[test]
fn reingest_is_incremental_and_prune_drops_gone_files() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    let articles = t.path().join("articles");
    let again = json(&ok(sourcier_fast(&idx).arg("ingest").arg(&articles).arg("--json")));
    assert_eq!(
        (again["unchanged"].as_u64(), again["chunks"].as_u64()),
        (Some(5), Some(0)),
        "{again:#}"
    );
    let f = articles.join("003_addd67ec89a263f6.txt");
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.contains("Wilbur Ross a annoncé"));
    std::fs::write(
        &f,
        text.replace(
            "Wilbur Ross a annoncé",
            "Wilbur Ross, ami des ornithorynques, a annoncé",
        ),
    )
    .unwrap();
    std::fs::remove_file(articles.join("004_d70e093277a21062.txt")).unwrap();
    let r = json(&ok(sourcier_fast(&idx)
        .arg("ingest")
        .arg(&articles)
        .args(["--prune", "--json"])));
    assert_eq!(
        (r["updated"].as_u64(), r["pruned"].as_u64()),
        (Some(1), Some(1)),
        "{r:#}"
    );
    let v = search(&idx, "ornithorynques", &["--mode", "lexical"]);
    assert_eq!(ids(&v)[0], "003_addd67ec89a263f6.txt", "{v:#}");
    let v = search(&idx, "Xiaomi Nokia brevets", &[]);
    assert!(!ids(&v).contains(&"004_d70e093277a21062.txt".to_string()), "{v:#}");
}

#[test]
fn filters_on_dates_languages_and_sources() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("mixed.jsonl");
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
    let idx = t.path().join("index");
    ok(sourcier_fast(&idx).arg("ingest").arg(&file).arg("--quiet"));
    let q = "panneaux solaires";
    let mut since: Vec<String> = ids(&search(&idx, q, &["--since", "2025"]));
    since.sort();
    assert_eq!(since, ["mixed.jsonl#avril", "mixed.jsonl#en"]);
    assert_eq!(ids(&search(&idx, q, &["--until", "2024-12"])), ["mixed.jsonl#old"]);
    let mut fr = ids(&search(&idx, q, &["--lang", "FR", "-k", "20"]));
    fr.sort();
    assert_eq!(fr.len(), 5, "{fr:?}");
    assert_eq!(ids(&search(&idx, q, &["--lang", "en"])), ["mixed.jsonl#en"]);
    assert_eq!(ids(&search(&idx, q, &["--source", "*#hier"])), ["mixed.jsonl#hier"]);
    let none = ok(sourcier_fast(&idx).args(["search", q, "--since", "2026"]));
    assert!(none.contains("no results (try removing filters)"), "{none}");
    for bad in [["--since", "2025-13"], ["--lang", "xx"], ["--source", "[ab"]] {
        let (success, stdout, stderr) = run(sourcier_fast(&idx).args(["search", q]).args(bad));
        assert!(!success && stdout.is_empty(), "{bad:?}");
        assert!(
            !stderr.contains("panicked") && stderr.contains(bad[1]),
            "{bad:?}: {stderr}"
        );
    }
}

#[test]
fn eval_scores_a_query_file_and_enforces_gates() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    let queries = t.path().join("q.jsonl");
    write_jsonl(
        &queries,
        &[
            serde_json::json!({"id": "x1", "query": "Xiaomi brevets Nokia", "relevant": ["004_d70e093277a21062.txt"]}),
            serde_json::json!({"id": "w1", "query": "Wilbur Ross 260 demandes", "relevant": ["003_addd67ec89a263f6.txt"], "answers": ["260"]}),
            serde_json::json!({"id": "u1", "query": "zzyzx qwvbk", "relevant": []}),
        ],
    );
    let report = t.path().join("report.json");
    let out = ok(sourcier_fast(&idx)
        .arg("eval")
        .arg(&queries)
        .args(["--answers", "--json"])
        .arg(&report));
    assert!(out.contains("3 queries"), "{out}");
    let r = json(&std::fs::read_to_string(&report).unwrap());
    assert_eq!(r["queries"], 3);
    assert_eq!(r["modes"].as_array().unwrap().len(), 3);
    assert_eq!(r["embedder"], "hashing@256");
    let lexical = &r["modes"][1];
    assert_eq!(lexical["mode"], "lexical");
    assert!(
        lexical["retrieval"]["overall"]["mean"]["recall@10"].as_f64().unwrap() > 0.99,
        "{lexical:#}"
    );

    let (success, _, stderr) =
        run(sourcier_fast(&idx)
            .arg("eval")
            .arg(&queries)
            .args(["--modes", "lexical", "--min-ndcg", "1.01"]));
    assert!(
        !success && stderr.contains("gate failed: nDCG@10 of lexical"),
        "{stderr}"
    );
    let passed =
        run(sourcier_fast(&idx)
            .arg("eval")
            .arg(&queries)
            .args(["--modes", "lexical", "--min-recall", "10:0.5"]));
    assert!(passed.0, "{}", passed.2);
    let (success, _, stderr) = run(sourcier_fast(&idx)
        .arg("eval")
        .arg(&queries)
        .args(["--min-recall", "7:0.5"]));
    assert!(!success && stderr.contains("7:0.5"), "{stderr}");
}

#[test]
fn a_mostly_broken_query_file_is_refused_with_its_line() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    let queries = t.path().join("q.jsonl");
    std::fs::write(
        &queries,
        "{\"id\": \"ok\", \"query\": \"Xiaomi\", \"relevant\": [\"004_d70e093277a21062.txt\"]}\nnot json\n{\"id\": 3}\n",
    )
    .unwrap();
    let (success, stdout, stderr) = run(sourcier_fast(&idx).arg("eval").arg(&queries));
    assert!(!success && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("q.jsonl:2") && stderr.contains("2 of 3"), "{stderr}");
}

#[test]
fn eval_builds_a_corpus_from_a_squad_file() {
    let t = tempfile::tempdir().unwrap();
    let squad = serde_json::json!({"version": "1.1", "data": [
        {"title": "Solaire", "paragraphs": [{"context": "Les panneaux solaires couvrent les toits de Lyon depuis 2021.",
            "qas": [{"id": "s1", "question": "Depuis quand les panneaux solaires couvrent-ils Lyon ?",
                     "answers": [{"text": "2021", "answer_start": 56}]}]}]},
        {"title": "Vélo", "paragraphs": [{"context": "Le vélo électrique gagne Bordeaux, où 40 000 trajets sont comptés chaque jour.",
            "qas": [{"id": "v1", "question": "Combien de trajets en vélo électrique à Bordeaux ?",
                     "answers": [{"text": "40 000", "answer_start": 38}]}]}]}
    ]});
    let file = t.path().join("piaf-mini.json");
    std::fs::write(&file, squad.to_string()).unwrap();
    let report = t.path().join("r.json");
    let out = ok(sourcier_fast(&t.path().join("unused-index"))
        .arg("eval")
        .arg(&file)
        .args(["--modes", "lexical", "--chunk-level", "--json"])
        .arg(&report));
    assert!(out.contains("2 queries"), "{out}");
    let r = json(&std::fs::read_to_string(&report).unwrap());
    assert_eq!(r["level"], "chunk");
    assert!(
        r["modes"][0]["retrieval"]["overall"]["mean"]["recall@1"]
            .as_f64()
            .unwrap()
            > 0.99,
        "{r:#}"
    );
    assert!(
        !t.path().join("unused-index").exists(),
        "a SQuAD eval must not touch --index"
    );
}

#[test]
fn error_paths_say_what_happened_and_what_to_do() {
    let t = tempfile::tempdir().unwrap();
    let idx = t.path().join("index");
    let fails = |cmd: &mut std::process::Command, needles: &[&str]| {
        let (success, stdout, stderr) = run(cmd);
        assert!(!success, "succeeded: {stdout}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        for n in needles {
            assert!(stderr.contains(n), "missing {n:?} in {stderr}");
        }
    };
    fails(
        sourcier_fast(&idx).args(["search", "Huawei"]),
        &["no index at", "sourcier ingest"],
    );
    fails(sourcier_fast(&idx).args(["ask", "Huawei ?"]), &["no index at"]);
    // A path that does not exist is refused before anything is created.
    fails(
        sourcier_fast(&idx).arg("ingest").arg(t.path().join("nope")),
        &["nope", "does not exist", "give existing files"],
    );
    assert!(!idx.exists(), "a failed ingest left {}", idx.display());
    // So is a file named on purpose that sourcier cannot read.
    let pdf = t.path().join("notes.pdf");
    std::fs::write(&pdf, "%PDF-1.7").unwrap();
    fails(
        sourcier_fast(&idx).arg("ingest").arg(&pdf),
        &["notes.pdf", "unsupported file type", ".md"],
    );
    assert!(!idx.exists(), "a refused ingest left {}", idx.display());
    // An index with no article says so, and the CLI (not the library) says how to fill it.
    let empty = t.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    ok(sourcier_fast(&idx).arg("ingest").arg(&empty).arg("--quiet"));
    fails(
        sourcier_fast(&idx).args(["search", "Huawei"]),
        &["holds no articles", "run `sourcier ingest PATH`"],
    );
    std::fs::remove_dir_all(&idx).unwrap();

    let idx = fast_index(t.path());
    fails(sourcier_fast(&idx).args(["search", "  "]), &["query is empty", "e.g."]);
    fails(sourcier_fast(&idx).args(["search", "Huawei", "-k", "0"]), &["-k"]);
    let long = "Huawei ".repeat(3000);
    fails(sourcier_fast(&idx).args(["search", &long]), &["shorten the query"]);
    // A new index holds article text: its folder is private to the user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&idx).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "index folder mode {mode:o}");
    }
    fails(
        sourcier_fast(&idx).args(["search", "Huawei", "--mode", "fuzzy"]),
        &["fuzzy"],
    );
    // Another dimension is another embedder: the index says which one built it.
    fails(
        sourcier_fast(&idx).args(["search", "Huawei", "--dims", "128"]),
        &["hashing@256", "hashing@128", "--dims"],
    );
    // A manifest from a future sourcier is reported with both versions.
    let manifest = idx.join("manifest.json");
    let original = std::fs::read_to_string(&manifest).unwrap();
    let mut m: Value = json(&original);
    m["format_version"] = 999.into();
    std::fs::write(&manifest, m.to_string()).unwrap();
    fails(
        sourcier_fast(&idx).args(["search", "Huawei"]),
        &["999", "format version"],
    );
    std::fs::write(&manifest, "{ not json").unwrap();
    fails(sourcier_fast(&idx).args(["search", "Huawei"]), &["manifest.json"]);
    std::fs::write(&manifest, original).unwrap();
    ok(sourcier_fast(&idx).args(["search", "Huawei"]));
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    let mut child = sourcier_fast(&idx)
        .args(["search", "Huawei", "-k", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    // Ended by SIGPIPE, as `head` expects of a Unix tool (the shell's 141), or done in time.
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.success() || out.status.signal() == Some(13),
            "{:?}: {stderr}",
            out.status
        );
    }
}

#[test]
fn reads_write_nothing() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    let snapshot = || {
        let mut files: Vec<(String, Vec<u8>)> = walk(&idx)
            .into_iter()
            // SQLite's shared-memory file, and an empty WAL, are opening artefacts, not writes.
            .filter(|p| !p.ends_with("-shm") && (!p.ends_with("-wal") || std::fs::metadata(p).unwrap().len() > 0))
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = snapshot();
    ok(sourcier_fast(&idx).args(["search", "Huawei IBM"]));
    ok(sourcier_fast(&idx).args(["ask", "Combien de consultants IBM envoie chez Huawei ?"]));
    ok(sourcier_fast(&idx).args(["index", "stats"]));
    assert!(before == snapshot(), "a read changed the index");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

/// Issue 9: a query runs a constant number of SQL statements, whatever k and the index size.
#[test]
fn statements_per_query_do_not_grow_with_hits_or_index() {
    let t = tempfile::tempdir().unwrap();
    let small = t.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let big = t.path().join("big.jsonl");
    let recs: Vec<Value> = (0..60)
        .map(|i| serde_json::json!({"id": format!("a{i}"), "text": format!("Les panneaux solaires de la ville numéro {i} produisent de l'énergie. Un second paragraphe parle du vent {i}.")}))
        .collect();
    write_jsonl(&big, &recs);
    write_jsonl(&small.join("s.jsonl"), &recs[..3]);
    let mut counts = Vec::new();
    for (name, input) in [("i-small", small.clone()), ("i-big", big.clone())] {
        let s = setup(&t.path().join(name));
        app::ingest(
            &s,
            &IngestRequest {
                paths: vec![input],
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
        let session = Session::open(&s, &NoProgress).unwrap();
        for k in [1, 10, 50] {
            for mode in Mode::ALL {
                let n = session
                    .index()
                    .embedded()
                    .expect("an embedded index")
                    .store
                    .count_statements()
                    .unwrap();
                let req = SearchRequest {
                    query: "panneaux solaires énergie".into(),
                    k,
                    mode,
                    filters: Filters::default(),
                };
                let r = session.search(&req).unwrap();
                assert!(!r.hits.is_empty());
                counts.push((
                    name,
                    k,
                    mode,
                    r.hits.len(),
                    n.load(std::sync::atomic::Ordering::Relaxed),
                ));
            }
        }
    }
    // The first query of a session also loads the live chunk ids; every later one runs the
    // same few statements, whatever k, the mode and the index size.
    // (Dense search over the flat vector file adds one: the exact f32 rescoring of its best.)
    for mode in ["Dense", "Lexical", "Hybrid"] {
        let steady: std::collections::BTreeSet<usize> = counts
            .iter()
            .enumerate()
            .filter(|(i, c)| i % 9 != 0 && format!("{:?}", c.2) == mode)
            .map(|(_, c)| c.4)
            .collect();
        assert_eq!(steady.len(), 1, "{mode}: statements per query: {counts:?}");
        assert!(*steady.first().unwrap() <= 4, "statements per query: {counts:?}");
    }
    assert!(counts.iter().all(|c| c.4 <= 6), "statements per query: {counts:?}");
    assert!(
        counts.iter().any(|c| c.3 >= 50),
        "the big index should fill k=50: {counts:?}"
    );
}

/// One open session serves concurrent readers through `&self`.
#[test]
fn a_session_serves_concurrent_readers() {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/articles"), &t.path().join("articles"));
    let s = setup(&t.path().join("index"));
    app::ingest(
        &s,
        &IngestRequest {
            paths: vec![t.path().join("articles")],
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    let session = Session::open(&s, &NoProgress).unwrap();
    let ask = |q: &str| {
        session
            .ask(&AskRequest {
                question: q.into(),
                k: 8,
                mode: Mode::Hybrid,
                filters: Filters::default(),
            })
            .unwrap()
    };
    let alone = ask("Xiaomi brevets Nokia").passages[0].article_id.clone();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4).map(|_| scope.spawn(|| ask("Xiaomi brevets Nokia"))).collect();
        for h in handles {
            assert_eq!(h.join().unwrap().passages[0].article_id, alone);
        }
    });
}

/// The library entry point for eval: gates come back as data, not as an exit code.
#[test]
fn eval_use_case_returns_gate_failures() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    let queries = t.path().join("q.jsonl");
    write_jsonl(
        &queries,
        &[serde_json::json!({"id": "x1", "query": "Xiaomi Nokia", "relevant": ["004_d70e093277a21062.txt"]})],
    );
    let req = EvalRequest {
        min_ndcg: Some(1.5),
        min_recall: Some("1:0.5".parse().unwrap()),
        ..eval_request(queries)
    };
    let out = app::eval(&setup(&idx), &req, &NoProgress).unwrap();
    assert_eq!(out.report.queries, 1);
    assert_eq!(out.gate_failures.len(), 1, "{:?}", out.gate_failures);
    assert!(out.gate_failures[0].contains("nDCG@10"));
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}

/// Issue 14: a SQuAD file whose `answer_start`s miss their text (shifted, past the end,
/// negative, absent from the context) is scored without a panic, and the eval says so in one
/// warning (the count and the first example) and in its corpus counts, never silently.
#[test]
fn a_squad_file_with_bad_answer_starts_is_reported_once() {
    let t = tempfile::tempdir().unwrap();
    let context = "Le vélo électrique gagne Bordeaux, où 40 000 trajets sont comptés chaque jour.";
    let qa = |id: &str, q: &str, text: &str, start: i64| serde_json::json!({"id": id, "question": q, "answers": [{"text": text, "answer_start": start}]});
    let squad = serde_json::json!({"version": "1.1", "data": [{"title": "Vélo", "paragraphs": [{"context": context, "qas": [
        qa("ok", "Quelle ville gagne le vélo ?", "Bordeaux", 25),
        qa("late", "Combien de trajets ?", "40 000", 39),
        qa("past", "Quel vélo ?", "électrique", 5000),
        qa("neg", "Quand les trajets sont-ils comptés ?", "chaque jour", -1),
        qa("absent", "Quel fleuve ?", "la Garonne", 3),
    ]}]}]});
    let file = t.path().join("squad-bad.json");
    std::fs::write(&file, squad.to_string()).unwrap();
    let req = EvalRequest {
        lang: Some("fr".into()),
        level: sourcier::eval::run::Level::Chunk,
        ..eval_request(file.clone())
    };
    let out = app::eval(&setup(&t.path().join("unused-index")), &req, &NoProgress).unwrap();
    assert_eq!(out.report.queries, 5);
    let corpus = out.corpus.as_ref().unwrap();
    assert_eq!(
        (corpus.answers, corpus.fixed_offsets, corpus.unmatched_answers),
        (5, 3, 1)
    );
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    let w = &out.warnings[0];
    assert!(w.contains("squad-bad.json") && w.contains("4 of 5 answers"), "{w}");
    assert!(w.contains("first: question late"), "{w}");
}

/// The answer-feature dump gives each candidate's question number, label, score and text:
/// `examples/reader_pairs.rs --mined` builds the reader's mined negatives from those fields.
#[test]
fn the_answer_feature_dump_carries_what_mining_reads() {
    let t = tempfile::tempdir().unwrap();
    let context = "Le vélo électrique gagne Bordeaux. On y compte 40 000 trajets chaque jour. La ville investit.";
    let squad = serde_json::json!({"version": "1.1", "data": [{"title": "Vélo", "paragraphs": [{"context": context, "qas": [
        {"id": "a", "question": "Combien de trajets compte-t-on chaque jour à Bordeaux ?", "answers": [{"text": "40 000", "answer_start": 47}]},
    ]}]}]});
    let file = t.path().join("squad.json");
    std::fs::write(&file, squad.to_string()).unwrap();
    let dump = t.path().join("dump.jsonl");
    let req = EvalRequest {
        modes: vec![Mode::Hybrid],
        answers: true,
        lang: Some("fr".into()),
        dump_answer_features: Some(dump.clone()),
        ..eval_request(file)
    };
    app::eval(&setup(&t.path().join("unused-index")), &req, &NoProgress).unwrap();
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&dump)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rows.is_empty(), "no candidate dumped");
    for r in &rows {
        assert_eq!(r["q"], 0, "{r}");
        let text = r["text"].as_str().unwrap_or_else(|| panic!("no text: {r}"));
        assert!(context.contains(text), "{text:?} is not a sentence of the context");
        assert!(r["score"].is_number() && r["label"].is_boolean(), "{r}");
        assert_eq!(r["label"].as_bool(), Some(text.contains("40 000")), "{r}");
    }
}

/// Issue 14 B6: the vector and BM25 indexes are derived from the store, so damage to either
/// costs a warning, not the search; the read path still writes nothing, and `index rebuild`
/// (or the next ingest) repairs the disk.
#[test]
fn damaged_derived_indexes_are_rebuilt_from_the_store() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    let q = "Wilbur Ross demandes Huawei";
    let want = |mode: &str| ids(&search(&idx, q, &["--mode", mode]));
    let (dense, lexical, hybrid) = (want("dense"), want("lexical"), want("hybrid"));
    let damage = |pred: &dyn Fn(&str) -> bool| {
        for p in walk(&idx).into_iter().filter(|p| pred(p)) {
            std::fs::write(&p, b"\xff\xfe not an index file").unwrap();
        }
    };
    damage(&|p: &str| p.contains("/lexical/"));
    // The flat vector file too, so that dense search falls back to the (damaged) graph.
    damage(&|p: &str| p.contains("hnsw-") || p.ends_with("vectors.f16"));
    let damaged = walk(&idx)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect::<Vec<_>>();
    for (mode, expected) in [("dense", &dense), ("lexical", &lexical), ("hybrid", &hybrid)] {
        let (success, stdout, stderr) = run(sourcier_fast(&idx).args(["search", q, "--json", "--mode", mode]));
        assert!(success, "{mode}: {stderr}");
        assert_eq!(&ids(&json(&stdout)), expected, "{mode}");
        let which = if mode == "lexical" {
            "lexical index"
        } else {
            "vector index"
        };
        assert!(
            stderr.contains(which) && !stderr.contains("panicked"),
            "{mode}: {stderr}"
        );
    }
    let after: Vec<(String, Vec<u8>)> = walk(&idx)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    let changed: Vec<&String> = after
        .iter()
        .filter(|(p, b)| !p.ends_with("-shm") && !p.ends_with("-wal") && damaged.iter().all(|(q, c)| q != p || c != b))
        .map(|(p, _)| p)
        .collect();
    assert!(changed.is_empty(), "a read repaired files: {changed:?}");
    // A damaged pointer file is the same story.
    std::fs::write(idx.join("hnsw.json"), "garbage").unwrap();
    assert_eq!(ids(&search(&idx, q, &["--mode", "dense"])), dense);

    ok(sourcier_fast(&idx).args(["index", "rebuild"]));
    for mode in ["dense", "lexical"] {
        let (success, stdout, stderr) = run(sourcier_fast(&idx).args(["search", q, "--json", "--mode", mode]));
        assert!(success && stderr.is_empty(), "{mode} after rebuild: {stderr}");
        assert_eq!(
            ids(&json(&stdout)),
            if mode == "dense" {
                dense.clone()
            } else {
                lexical.clone()
            }
        );
    }
}

/// Vector index format 1 (home-made checksum) is not damage: a read warns that the file is
/// in an older format and will be rebuilt, searches a copy rebuilt in memory and writes
/// nothing; the next ingest, like `index rebuild`, saves it in the current format.
#[test]
fn a_format_1_vector_index_is_rebuilt_and_upgraded() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    let q = "Wilbur Ross demandes Huawei";
    let dense = ids(&search(&idx, q, &["--mode", "dense"]));
    let pointer = idx.join("hnsw.json");
    let downgrade = || {
        let mut p = json(&std::fs::read_to_string(&pointer).unwrap());
        assert_eq!(p["format"], 2, "{p}");
        p["format"] = 1.into();
        p["graph_checksum"] = "0123456789abcdef".into();
        p["data_checksum"] = "fedcba9876543210".into();
        std::fs::write(&pointer, p.to_string()).unwrap();
    };
    let format = || json(&std::fs::read_to_string(&pointer).unwrap())["format"].clone();
    for repair in [&["ingest", "articles", "--quiet"][..], &["index", "rebuild"][..]] {
        // Without the flat vector file, dense search reads the graph.
        std::fs::remove_file(idx.join("vectors.f16")).unwrap();
        downgrade();
        let old = std::fs::read(&pointer).unwrap();
        let (success, stdout, stderr) = run(sourcier_fast(&idx).args(["search", q, "--json", "--mode", "dense"]));
        assert!(success, "{stderr}");
        assert_eq!(ids(&json(&stdout)), dense);
        for needle in ["hnsw.json", "format 1", "format 2", "rebuilding"] {
            assert!(stderr.contains(needle), "missing {needle:?} in {stderr}");
        }
        assert!(!stderr.contains("corrupt") && !stderr.contains("panicked"), "{stderr}");
        assert_eq!(std::fs::read(&pointer).unwrap(), old, "a read rewrote the pointer");

        let (success, _, stderr) = run(sourcier_fast(&idx).args(repair));
        assert!(success, "{repair:?}: {stderr}");
        assert_eq!(format(), 2, "{repair:?} left the old format");
        let (success, stdout, stderr) = run(sourcier_fast(&idx).args(["search", q, "--json", "--mode", "dense"]));
        assert!(success && stderr.is_empty(), "{repair:?}: {stderr}");
        assert_eq!(ids(&json(&stdout)), dense, "{repair:?}");
    }
}

/// Two processes ingesting into one index take turns on its writer lock, while a third
/// searches throughout: every command succeeds and the index ends with both corpora.
#[test]
fn concurrent_ingests_take_turns_and_readers_keep_reading() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    let corpus = |name: &str, word: &str| {
        let p = t.path().join(format!("{name}.jsonl"));
        let recs: Vec<Value> = (0..150)
            .map(|i| serde_json::json!({"id": format!("{i}"), "text": format!("Le {word} numéro {i} est décrit ici. Un second paragraphe sur le {word} {i}.")}))
            .collect();
        write_jsonl(&p, &recs);
        p
    };
    let (a, b) = (corpus("a", "tournesol"), corpus("b", "lavande"));
    let spawn = |p: &Path| {
        sourcier_fast(&idx)
            .arg("ingest")
            .arg(p)
            .arg("--quiet")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (ca, cb) = (spawn(&a), spawn(&b));
    let mut searches = 0;
    loop {
        let (success, _, stderr) = run(sourcier_fast(&idx).args(["search", "Huawei", "-k", "3"]));
        assert!(success, "a search during the ingests failed: {stderr}");
        searches += 1;
        if searches >= 3 {
            break;
        }
    }
    for c in [ca, cb] {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let stats = json(&ok(sourcier_fast(&idx).args(["index", "stats", "--json"])));
    assert_eq!(stats["stats"]["articles"], 5 + 300, "{stats:#}");
    assert_eq!(
        ids(&search(&idx, "tournesol 7", &["--mode", "lexical", "-k", "1"])),
        ["a.jsonl#7"]
    );
    assert_eq!(
        ids(&search(&idx, "lavande 9", &["--mode", "lexical", "-k", "1"])),
        ["b.jsonl#9"]
    );
    let dense = search(&idx, "lavande 9", &["--mode", "dense", "-k", "300"]);
    assert_eq!(
        dense["hits"].as_array().unwrap().len(),
        300,
        "every chunk reachable by HNSW"
    );
}

/// Issue 14 B3: two folders ingested one after the other, each with `x.txt`, are two
/// articles. The second is refused with the reason instead of silently replacing the first.
#[test]
fn a_colliding_id_from_another_folder_does_not_replace_the_stored_article() {
    let t = tempfile::tempdir().unwrap();
    for (dir, text) in [
        ("a", "Les tournesols de Provence fleurissent en juillet."),
        ("b", "La lavande du plateau de Valensole est récoltée en été."),
    ] {
        std::fs::create_dir_all(t.path().join(dir)).unwrap();
        std::fs::write(t.path().join(dir).join("x.txt"), text).unwrap();
    }
    let idx = t.path().join("index");
    ok(sourcier_fast(&idx).arg("ingest").arg(t.path().join("a")).arg("--quiet"));
    let (success, stdout, stderr) = run(sourcier_fast(&idx).arg("ingest").arg(t.path().join("b")).arg("--json"));
    assert!(success, "{stderr}");
    let r = json(&stdout);
    assert_eq!(
        (r["added"].as_u64(), r["updated"].as_u64()),
        (Some(0), Some(0)),
        "{r:#}"
    );
    assert!(
        stderr.contains("already taken by") && stderr.contains("a/x.txt"),
        "{stderr}"
    );
    assert!(r["problems"][0].as_str().unwrap().contains("b/x.txt"), "{r:#}");
    let v = search(&idx, "tournesols Provence", &["--mode", "lexical"]);
    assert_eq!(ids(&v), ["x.txt"], "the first article is still there: {v:#}");
    // Moving the first folder away makes the next ingest of b an update, as before.
    std::fs::remove_dir_all(t.path().join("a")).unwrap();
    let r = json(&ok(sourcier_fast(&idx)
        .arg("ingest")
        .arg(t.path().join("b"))
        .arg("--json")));
    assert_eq!(r["updated"].as_u64(), Some(1), "{r:#}");
}

/// Issue 14 (large files): one huge article is embedded in bounded slices, so progress moves
/// while it runs and no single embedding call holds the whole file.
#[test]
fn a_huge_article_is_embedded_in_bounded_slices() {
    #[derive(Default)]
    struct Steps(std::sync::Mutex<(String, Vec<u64>)>);
    impl sourcier::progress::Progress for Steps {
        fn start(&self, what: &str, _: Option<u64>) {
            self.0.lock().unwrap().0 = what.to_string();
        }
        fn inc(&self, n: u64) {
            let mut s = self.0.lock().unwrap();
            if s.0 == "embedding chunks" {
                s.1.push(n);
            }
        }
    }
    let t = tempfile::tempdir().unwrap();
    let big = t.path().join("big.txt");
    let para = "Le tournesol suit le soleil du matin au soir dans les champs de Provence. ".repeat(6);
    let text: String = (0..800).map(|i| format!("{para} Paragraphe {i}.\n\n")).collect();
    std::fs::write(&big, text).unwrap();
    let steps = Steps::default();
    let r = app::ingest(
        &setup(&t.path().join("index")),
        &IngestRequest {
            paths: vec![big],
            ..Default::default()
        },
        &steps,
    )
    .unwrap();
    assert_eq!(r.articles, 1);
    assert!(r.chunks > 200, "{} chunks", r.chunks);
    let incs = steps.0.into_inner().unwrap().1;
    assert!(incs.iter().all(|&n| n <= 32), "{incs:?}");
    assert_eq!(incs.iter().sum::<u64>() as usize, r.chunks, "{incs:?}");
    assert!(incs.len() >= r.chunks / 32, "{incs:?}");
}

/// Issue 14: a link out of the ingested folder (to `/etc/passwd`, say) is not followed unless
/// asked, and the report says so.
#[cfg(unix)]
#[test]
fn links_out_of_the_folder_are_skipped_and_listed_unless_asked() {
    let t = tempfile::tempdir().unwrap();
    let docs = docs_with_one_article(t.path());
    std::fs::write(t.path().join("secret.txt"), "Mot de passe du coffre : ornithorynque.").unwrap();
    std::os::unix::fs::symlink(t.path().join("secret.txt"), docs.join("link.txt")).unwrap();
    let idx = t.path().join("index");
    let r = json(&ok(sourcier_fast(&idx)
        .arg("ingest")
        .arg(&docs)
        .args(["--json", "--quiet"])));
    assert_eq!(
        (r["added"].as_u64(), r["skipped_files"].as_u64()),
        (Some(1), Some(1)),
        "{r:#}"
    );
    assert!(r["problems"][0].as_str().unwrap().contains("secret.txt"), "{r:#}");
    assert!(ids(&search(&idx, "ornithorynque", &["--mode", "lexical"])).is_empty());
    let r = json(&ok(sourcier_fast(&idx)
        .arg("ingest")
        .arg(&docs)
        .args(["--follow", "--json"])));
    assert_eq!(r["added"].as_u64(), Some(1), "{r:#}");
    assert_eq!(
        ids(&search(&idx, "ornithorynque", &["--mode", "lexical"])),
        ["link.txt"]
    );
}

/// Issue 14 B4: a file name that is not UTF-8 is skipped with the reason, so `--prune` does not
/// delete and re-add it on every run.
#[cfg(unix)]
#[test]
fn a_non_utf8_file_name_is_skipped_not_churned() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let docs = docs_with_one_article(t.path());
    let bad = docs.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(&bad, "La lavande du plateau de Valensole est récoltée en été.").unwrap();
    let idx = t.path().join("index");
    for _ in 0..2 {
        let r = json(&ok(sourcier_fast(&idx)
            .arg("ingest")
            .arg(&docs)
            .args(["--prune", "--json", "--quiet"])));
        assert_eq!(
            (r["pruned"].as_u64(), r["skipped_files"].as_u64()),
            (Some(0), Some(1)),
            "{r:#}"
        );
        assert!(r["problems"][0].as_str().unwrap().contains("not valid UTF-8"), "{r:#}");
    }
}

/// Issue 14 B5: with the store deleted but the vector files kept, a new ingest must not let
/// the old vectors answer for the new chunks (which reuse their ids).
#[test]
fn a_deleted_store_takes_its_derived_indexes_with_it() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    std::fs::remove_file(idx.join("store.sqlite3")).unwrap();
    for side in ["store.sqlite3-wal", "store.sqlite3-shm"] {
        let _ = std::fs::remove_file(idx.join(side));
    }
    let other = t.path().join("other.jsonl");
    // More chunks than the old store had, so the new ids run past the old graph's.
    let recs: Vec<Value> = (0..40)
        .map(|i| serde_json::json!({"id": format!("{i}"), "text": format!("La lavande numéro {i} fleurit sur le plateau de Valensole.")}))
        .collect();
    write_jsonl(&other, &recs);
    ok(sourcier_fast(&idx).arg("ingest").arg(&other).arg("--quiet"));
    let dense = search(&idx, "lavande numéro 3 Valensole", &["--mode", "dense", "-k", "40"]);
    assert_eq!(ids(&dense)[0], "other.jsonl#3", "{dense:#}");
    assert_eq!(ids(&dense).len(), 40);
    for h in dense["hits"].as_array().unwrap() {
        let sim = h["similarity"].as_f64().unwrap();
        assert!((sim - h["score"].as_f64().unwrap()).abs() < 1e-4, "stale vector: {h:#}");
    }
}

/// True when the tests run as root, whom permission bits do not stop.
#[cfg(unix)]
fn as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// `inner` (its program, arguments, environment and folder) run through `outer`, a command
/// that ends in `--` or takes the program as its next argument.
#[cfg(unix)]
fn through(mut outer: std::process::Command, inner: &std::process::Command) -> std::process::Command {
    outer
        .arg(inner.get_program())
        .args(inner.get_args())
        .envs(inner.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    if let Some(dir) = inner.get_current_dir() {
        outer.current_dir(dir);
    }
    outer
}

/// `c` as it is, or run as `nobody` through setpriv when the tests run as root, so that the
/// kernel really applies permission bits.
#[cfg(unix)]
fn unprivileged(c: std::process::Command) -> std::process::Command {
    if !as_root() {
        return c;
    }
    let mut outer = std::process::Command::new("setpriv");
    outer.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    through(outer, &c)
}

/// Issue 9: reads work on an index nobody may write to. Directories become r-x and files
/// r--; as root (who ignores modes) the commands run as `nobody` through setpriv, so the
/// kernel really refuses every write. Search, ask and stats still answer, the same as before;
/// ingest fails with the path, without a panic.
#[cfg(unix)]
#[test]
fn reads_work_on_a_read_only_index() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    let q = "Wilbur Ross demandes Huawei";
    let before = ids(&search(&idx, q, &[]));
    let set_modes = |dir_mode: u32, file_mode: u32| {
        let mut paths = walk(&idx);
        paths.sort();
        for p in &paths {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(file_mode)).unwrap();
        }
        let mut dirs: Vec<std::path::PathBuf> = paths
            .iter()
            .filter_map(|p| Path::new(p).parent().map(Path::to_path_buf))
            .collect();
        dirs.push(idx.clone());
        dirs.sort();
        dirs.dedup();
        for d in dirs.iter().rev() {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(dir_mode)).unwrap();
        }
    };
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    set_modes(0o555, 0o444);
    let reader = |args: &[&str]| {
        let mut c = sourcier_fast(&idx);
        c.args(args);
        run(&mut unprivileged(c))
    };
    let (success, stdout, stderr) = reader(&["search", q, "--json"]);
    let (ask_ok, ask_out, ask_err) = reader(&["ask", "Combien de demandes pour commercer avec Huawei ?", "--json"]);
    let (stats_ok, _, stats_err) = reader(&["index", "stats"]);
    let (ingest_ok, _, ingest_err) = reader(&["ingest", "articles"]);
    set_modes(0o755, 0o644);
    assert!(success, "search on a read-only index: {stderr}");
    assert_eq!(ids(&json(&stdout)), before);
    assert!(ask_ok, "ask on a read-only index: {ask_err}");
    assert!(json(&ask_out)["passages"].as_array().is_some_and(|p| !p.is_empty()));
    assert!(stats_ok, "stats on a read-only index: {stats_err}");
    assert!(!ingest_ok && !ingest_err.contains("panicked"), "{ingest_err}");
    assert!(ingest_err.contains(&idx.display().to_string()), "{ingest_err}");
    assert_eq!(
        ingest_err.matches("os error 13").count(),
        1,
        "the cause is said once: {ingest_err}"
    );
}

/// The answer JSON places each sentence and its fact in the article: byte spans that slice the
/// file to the same text, and the sentence's own source lines rather than its passage's. The
/// text output bolds the fact only when asked to.
#[test]
fn answer_json_gives_sentence_lines_and_the_fact_span() {
    let t = tempfile::tempdir().unwrap();
    let docs = t.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let article = "La coopérative de Valensole\n\n\
        Les tournesols de Provence fleurissent en juillet sur le plateau.\n\
        Le miel de lavande se vend sur les marchés de la région.\n\n\
        La coopérative agricole de Valensole emploie 42 saisonniers pour la récolte de lavande.\n\
        Les touristes visitent les champs au début de l'été.\n";
    std::fs::write(docs.join("valensole.txt"), article).unwrap();
    let idx = t.path().join("index");
    ok(sourcier_fast(&idx).arg("ingest").arg(&docs));
    let q = "Combien de saisonniers la coopérative agricole de Valensole emploie-t-elle pour la récolte de lavande ?";
    let a = json(&ok(sourcier_fast(&idx).args(["ask", q, "--json"])));
    let ans = &a["answer"];
    assert_eq!(ans["abstained"], false, "{a:#}");
    assert_eq!(ans["expected"], "number");
    let s = &ans["sentences"][0];
    assert_eq!(
        s["text"], "La coopérative agricole de Valensole emploie 42 saisonniers pour la récolte de lavande.",
        "{a:#}"
    );
    assert_eq!(
        (s["line_start"].as_u64(), s["line_end"].as_u64()),
        (Some(6), Some(6)),
        "{s:#}"
    );
    let span = |v: &Value| v["start"].as_u64().unwrap() as usize..v["end"].as_u64().unwrap() as usize;
    assert_eq!(&article[span(s)], s["text"].as_str().unwrap());
    let fact = &s["fact"];
    assert_eq!(fact["text"], "42 saisonniers", "{s:#}");
    assert_eq!(fact["kind"], "number");
    assert_eq!(&article[span(fact)], "42 saisonniers");
    let (fs, fe) = (
        fact["sentence_start"].as_u64().unwrap() as usize,
        fact["sentence_end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&s["text"].as_str().unwrap()[fs..fe], "42 saisonniers");

    let plain = ok(sourcier_fast(&idx).args(["ask", q, "--color", "never"]));
    assert!(
        plain.contains("emploie 42 saisonniers pour") && !plain.contains('\u{1b}'),
        "{plain}"
    );
    assert!(
        plain.contains("valensole.txt:6-6"),
        "the source names the sentence's lines: {plain}"
    );
    let bold = ok(sourcier_fast(&idx).args(["ask", q, "--color", "always"]));
    assert!(bold.contains("\u{1b}[1m42 saisonniers\u{1b}[0m"), "{bold}");
}

/// Issue 14: a folder that cannot be listed and a file that cannot be read are skipped and
/// listed in the ingest report, and `--prune` keeps their stored articles: out of sight is not
/// gone. As root (whom modes do not stop) the ingests run as `nobody` through setpriv.
#[cfg(unix)]
#[test]
fn unreadable_folders_and_files_are_listed_and_kept_by_prune() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let docs = docs_with_one_article(t.path());
    let locked = docs.join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::write(
        locked.join("b.txt"),
        "Les cigales chantent dans les pins de la garrigue.",
    )
    .unwrap();
    let closed = docs.join("c.txt");
    std::fs::write(&closed, "Le mistral souffle fort dans la vallée du Rhône.").unwrap();
    if as_root() {
        for e in walkdir::WalkDir::new(t.path()) {
            std::os::unix::fs::chown(e.unwrap().path(), Some(65534), Some(65534)).unwrap();
        }
    }
    let idx = t.path().join("index");
    let ingest = || {
        let mut c = sourcier_fast(&idx);
        c.arg("ingest").arg(&docs).args(["--prune", "--json", "--quiet"]);
        json(&ok(&mut unprivileged(c)))
    };
    assert_eq!(ingest()["added"].as_u64(), Some(3));
    let set_mode = |p: &Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    set_mode(&locked, 0o000);
    set_mode(&closed, 0o000);
    let r = ingest();
    set_mode(&locked, 0o755);
    set_mode(&closed, 0o644);
    assert_eq!(
        (
            r["skipped_files"].as_u64(),
            r["pruned"].as_u64(),
            r["unchanged"].as_u64()
        ),
        (Some(2), Some(0), Some(1)),
        "{r:#}"
    );
    let problems: Vec<&str> = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let folder = format!(
        "{}: folder could not be read",
        std::fs::canonicalize(&locked).unwrap().display()
    );
    assert!(problems.iter().any(|p| p.starts_with(&folder)), "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("c.txt: could not be read")),
        "{problems:?}"
    );
    for word in ["cigales", "mistral"] {
        assert_eq!(ids(&search(&idx, word, &["--mode", "lexical"])).len(), 1, "{word}");
    }
}

/// Issue 14: every file and folder of an index is private to its user (the store, the vector
/// files and the lexical segments all hold article text), whatever the umask, after a first
/// ingest and after an update that writes new segments and a new vector generation.
#[cfg(unix)]
#[test]
fn index_files_are_private_to_their_user() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let docs = docs_with_one_article(t.path());
    let idx = t.path().join("index");
    let ingest = || {
        let mut c = sourcier_fast(&idx);
        c.arg("ingest").arg(&docs).arg("--quiet");
        let mut sh = std::process::Command::new("sh");
        sh.args(["-c", "umask 022 && exec \"$0\" \"$@\""]);
        ok(&mut through(sh, &c));
    };
    let open = || -> Vec<String> {
        walkdir::WalkDir::new(&idx)
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| !e.path_is_symlink() && e.metadata().unwrap().permissions().mode() & 0o077 != 0)
            .map(|e| {
                format!(
                    "{} {:o}",
                    e.path().display(),
                    e.metadata().unwrap().permissions().mode()
                )
            })
            .collect()
    };
    ingest();
    assert!(walkdir::WalkDir::new(&idx).into_iter().count() > 5);
    assert_eq!(open(), Vec::<String>::new());
    std::fs::write(docs.join("new.txt"), "La lavande de Valensole est récoltée en juillet.").unwrap();
    ingest();
    assert_eq!(open(), Vec::<String>::new());
}

/// Issue 14 (found by the fuzz corpus): a JSONL record whose text holds paragraphs (`\n`s
/// inside its one line) is cited on its own line, in search hits and in the article view,
/// never on lines the file does not have.
#[test]
fn a_multi_paragraph_jsonl_record_is_cited_on_its_own_line() {
    let t = tempfile::tempdir().unwrap();
    let docs = t.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let para = |word: &str| format!("Le {word} pousse dans les jardins du Midi depuis des siècles. ").repeat(30);
    write_jsonl(
        &docs.join("records.jsonl"),
        &[
            serde_json::json!({"id": "a", "title": "Court", "text": "Une seule ligne sur le thym."}),
            serde_json::json!({"id": "b", "title": "Long", "text": format!("{}\n\n{}\n\n{}", para("romarin"), para("basilic"), para("laurier"))}),
        ],
    );
    let s = setup(&t.path().join("index"));
    app::ingest(
        &s,
        &IngestRequest {
            paths: vec![docs],
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    let hits = search(
        &t.path().join("index"),
        "laurier jardins",
        &["--mode", "lexical", "-k", "20"],
    );
    let lines: Vec<(u64, u64)> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["article_id"] == "records.jsonl#b")
        .map(|h| (h["line_start"].as_u64().unwrap(), h["line_end"].as_u64().unwrap()))
        .collect();
    assert!(lines.len() > 1, "{hits:#}");
    assert!(lines.iter().all(|&l| l == (2, 2)), "{lines:?}");
    let session = Session::open(&s, &NoProgress).unwrap();
    let view = session.article("records.jsonl#b").unwrap().unwrap();
    assert_eq!(view.blocks.len(), 3, "{view:#?}");
    assert!(
        view.blocks.iter().all(|b| (b.line_start, b.line_end) == (2, 2)),
        "{view:#?}"
    );
}

/// Issue 14: a minified page (all on one line) is cited and shown on that line, in search hits
/// and in the article view, never on lines the file does not have.
#[test]
fn a_minified_page_is_shown_on_its_one_line() {
    let t = tempfile::tempdir().unwrap();
    let docs = t.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let paras: String = (0..40)
        .map(|i| format!("<p>Paragraphe {i} : la lavande du plateau {i} fleurit en juillet, puis on la distille.</p>"))
        .collect();
    std::fs::write(
        docs.join("m.html"),
        format!(
            "<html><head><title>Lavande</title></head><body><article><h1>Lavande</h1>{paras}</article></body></html>"
        ),
    )
    .unwrap();
    let s = setup(&t.path().join("index"));
    app::ingest(
        &s,
        &IngestRequest {
            paths: vec![docs],
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    let hits = search(&t.path().join("index"), "lavande plateau 33", &["--mode", "lexical"]);
    let h = &hits["hits"][0];
    assert_eq!(
        (h["line_start"].as_u64(), h["line_end"].as_u64()),
        (Some(1), Some(1)),
        "{hits:#}"
    );
    let session = Session::open(&s, &NoProgress).unwrap();
    let view = session.article("m.html").unwrap().unwrap();
    assert!(view.blocks.len() >= 40, "{view:#?}");
    assert!(
        view.blocks.iter().all(|b| (b.line_start, b.line_end) == (1, 1)),
        "{:?}",
        view.blocks
            .iter()
            .map(|b| (b.line_start, b.line_end))
            .collect::<Vec<_>>()
    );
}

/// Issue 10: dense search over the flat vector file (exact) returns what the HNSW graph
/// returns, scores included, with and without filters; the file is written by ingest.
#[test]
fn the_flat_vector_file_and_the_graph_agree() {
    let t = tempfile::tempdir().unwrap();
    let idx = fast_index(t.path());
    assert!(idx.join("vectors.f16").is_file());
    let hits = |env: Option<&str>, q: &str, extra: &[&str]| {
        let mut c = sourcier_fast(&idx);
        if let Some(v) = env {
            c.env("SOURCIER_VECTOR_SEARCH", v);
        }
        let v = json(&ok(c.args(["search", q, "--json", "--mode", "dense"]).args(extra)));
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["chunk_id"].clone(), format!("{:.5}", h["score"].as_f64().unwrap())))
            .collect::<Vec<_>>()
    };
    for q in [
        "Wilbur Ross demandes Huawei",
        "brevets Xiaomi Nokia",
        "IBM consultants prix",
    ] {
        for extra in [&["-k", "20"][..], &["-k", "3", "--lang", "fr"][..]] {
            let flat = hits(None, q, extra);
            assert!(!flat.is_empty(), "{q}");
            assert_eq!(flat, hits(Some("hnsw"), q, extra), "{q} {extra:?}");
        }
    }
}

/// A database URL passed as `--index` is refused with the flag to use, instead of becoming
/// a folder named `postgres:` in the working directory.
#[test]
fn a_database_url_given_as_an_index_directory_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let idx = t.path().join("index");
    for url in ["postgres://me@127.0.0.1:1/news", "postgresql://me@127.0.0.1:1/news"] {
        let (success, _, err) = run(sourcier_fast(&idx)
            .current_dir(t.path())
            .args(["--index", url, "ingest", "."]));
        assert!(!success, "{url}: accepted");
        assert!(err.contains("--backend"), "{url}: {err}");
        let entries: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
        assert!(entries.is_empty(), "{url}: created {entries:?}");
    }
}
