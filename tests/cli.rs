//! The real binary on temp directories, with the real model: ingest, search, incremental
//! updates, kills mid-ingest, model mismatches and bad input.

mod util;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{bundled_index, ok, run, sourcier};

fn search_json(index: &Path, query: &str, extra: &[&str]) -> Value {
    let k: &[&str] = if extra.contains(&"-k") { &[] } else { &["-k", "5"] };
    let out = ok(sourcier(index).args(["search", query, "--json"]).args(k).args(extra));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"))
}

fn top_article(v: &Value) -> String {
    v["hits"][0]["article_id"].as_str().unwrap_or("<none>").to_string()
}

fn ingest_json(index: &Path, args: &[&Path], extra: &[&str]) -> Value {
    let out = ok(sourcier(index)
        .arg("ingest")
        .args(args)
        .args(["--json", "--quiet"])
        .args(extra));
    serde_json::from_str(&out).unwrap()
}

#[test]
fn english_question_finds_the_french_article() {
    let t = tempfile::tempdir().unwrap();
    bundled_index(t.path());
    let idx = t.path().join("index");
    let v = search_json(&idx, "How many IBM consultants help Huawei?", &[]);
    assert_eq!(top_article(&v), "000_d959af5fb98b9205.txt", "{v:#}");
    let hit = &v["hits"][0];
    for field in [
        "rank",
        "score",
        "chunk_id",
        "title",
        "path",
        "line_start",
        "line_end",
        "start",
        "end",
        "snippet",
    ] {
        assert!(!hit[field].is_null(), "hit lacks {field}: {hit:#}");
    }
    assert!(hit["line_start"].as_u64().unwrap() <= hit["line_end"].as_u64().unwrap());
}

#[test]
fn french_and_english_questions_find_their_articles() {
    let t = tempfile::tempdir().unwrap();
    bundled_index(t.path());
    let idx = t.path().join("index");
    let cases = [
        (
            "Combien de partenaires ont participé à la conférence européenne de Huawei à Côme ?",
            "001_b6d142304a9bfd89.txt",
        ),
        ("Xiaomi rachète des brevets à Nokia", "004_d70e093277a21062.txt"),
        (
            "How many companies applied to trade with Huawei according to Wilbur Ross?",
            "003_addd67ec89a263f6.txt",
        ),
        (
            "Why is Huawei no longer betting on 5G and smartphones in Europe?",
            "002_4f97e5b5d50801a1.txt",
        ),
    ];
    for (q, want) in cases {
        let v = search_json(&idx, q, &[]);
        assert_eq!(top_article(&v), want, "query {q:?}: {v:#}");
    }
}

#[test]
fn human_output_shows_citation_fields() {
    let t = tempfile::tempdir().unwrap();
    bundled_index(t.path());
    let out = ok(sourcier(&t.path().join("index")).args(["search", "IBM consultants Huawei", "-k", "2"]));
    let first = out.lines().next().unwrap_or("");
    assert!(first.starts_with(" 1. "), "{out}");
    assert!(out.contains("Huawei se fait épauler par IBM pour le branding"), "{out}");
    assert!(out.contains("000_d959af5fb98b9205.txt:"), "{out}");
}

#[test]
fn filters_restrict_results() {
    let t = tempfile::tempdir().unwrap();
    bundled_index(t.path());
    let idx = t.path().join("index");
    let v = search_json(&idx, "Huawei", &["--lang", "en"]);
    assert_eq!(
        v["hits"].as_array().unwrap().len(),
        0,
        "all bundled articles are French: {v:#}"
    );
    let v = search_json(&idx, "Huawei", &["--source", "00[34]_*"]);
    for h in v["hits"].as_array().unwrap() {
        let id = h["article_id"].as_str().unwrap();
        assert!(id.starts_with("003_") || id.starts_with("004_"), "{id}");
    }
    let v = search_json(&idx, "Huawei", &["--since", "2025"]);
    let hits = v["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h["date"].as_str().unwrap_or("") >= "2025"), "{v:#}");
    let (success, _, stderr) = run(sourcier(&idx).args(["search", "x", "--since", "avril"]));
    assert!(!success && stderr.contains("YYYY"), "{stderr}");
}

#[test]
fn reingest_modify_and_prune() {
    let t = tempfile::tempdir().unwrap();
    bundled_index(t.path());
    let (idx, articles) = (t.path().join("index"), t.path().join("articles"));
    let r = ingest_json(&idx, &[&articles], &[]);
    assert_eq!(
        (r["unchanged"].as_u64(), r["added"].as_u64(), r["chunks"].as_u64()),
        (Some(5), Some(0), Some(0)),
        "{r:#}"
    );

    // Change one article: only it is re-embedded, and the old text is gone from results.
    let f = articles.join("003_addd67ec89a263f6.txt");
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replace("260 demandes", "315 demandes");
    std::fs::write(&f, text).unwrap();
    let r = ingest_json(&idx, &[&articles], &[]);
    assert_eq!(
        (r["updated"].as_u64(), r["unchanged"].as_u64()),
        (Some(1), Some(4)),
        "{r:#}"
    );
    let v = search_json(&idx, "Combien de demandes pour commercer avec Huawei ?", &["-k", "10"]);
    let texts: Vec<&str> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["text"].as_str())
        .collect();
    assert!(texts.iter().any(|t| t.contains("315 demandes")), "{v:#}");
    assert!(
        !texts.iter().any(|t| t.contains("260 demandes")),
        "stale chunk returned: {v:#}"
    );

    // Delete one: without --prune it stays, with --prune it goes.
    std::fs::remove_file(articles.join("004_d70e093277a21062.txt")).unwrap();
    let r = ingest_json(&idx, &[&articles], &[]);
    assert_eq!(r["pruned"].as_u64(), Some(0));
    let r = ingest_json(&idx, &[&articles], &["--prune"]);
    assert_eq!(r["pruned"].as_u64(), Some(1), "{r:#}");
    let v = search_json(&idx, "Xiaomi rachète des brevets à Nokia", &["-k", "10"]);
    assert!(
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["article_id"] != "004_d70e093277a21062.txt"),
        "{v:#}"
    );
    let stats: Value = serde_json::from_str(&ok(sourcier(&idx).args(["index", "stats", "--json"]))).unwrap();
    assert_eq!(stats["stats"]["articles"].as_u64(), Some(4));

    // Rebuilding the graph from the store gives the same answers.
    ok(sourcier(&idx).args(["index", "rebuild", "--quiet"]));
    let v = search_json(&idx, "How many IBM consultants help Huawei?", &[]);
    assert_eq!(top_article(&v), "000_d959af5fb98b9205.txt");
}

#[test]
fn sigkill_mid_ingest_keeps_the_index_usable_and_resumes() {
    let t = tempfile::tempdir().unwrap();
    bundled_index(t.path());
    let idx = t.path().join("index");
    // A bigger corpus: variants of the seeds, each a distinct article.
    let more = t.path().join("more");
    std::fs::create_dir_all(&more).unwrap();
    let seeds: Vec<_> = std::fs::read_dir(t.path().join("articles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let total = 40;
    for i in 0..total {
        let body = std::fs::read_to_string(&seeds[i % seeds.len()]).unwrap();
        std::fs::write(
            more.join(format!("variant_{i:03}.txt")),
            format!("Variante numéro {i}.\n\n{body}\n\nNote de version {i}."),
        )
        .unwrap();
    }
    let mut child = sourcier(&idx)
        .args(["ingest", "--quiet"])
        .arg(&more)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill as soon as some of the new articles are stored, well before the end.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let out = ok(sourcier(&idx).args(["index", "stats", "--json"]));
        let v: Value = serde_json::from_str(&out).unwrap();
        if v["stats"]["articles"].as_u64().unwrap_or(0) > 5 {
            break;
        }
        assert!(Instant::now() < deadline, "ingest made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "ingest finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();

    let stats: Value = serde_json::from_str(&ok(sourcier(&idx).args(["index", "stats", "--json"]))).unwrap();
    let stored = stats["stats"]["articles"].as_u64().unwrap() as usize;
    assert!(
        stored > 5 && stored < 5 + total,
        "killed too late to test anything: {stored}"
    );
    // The previous index still answers.
    let v = search_json(&idx, "How many IBM consultants help Huawei?", &[]);
    assert!(
        top_article(&v).contains("000_d959af5fb98b9205") || top_article(&v).starts_with("variant_"),
        "{v:#}"
    );
    // The next ingest completes without re-embedding what was stored.
    let r = ingest_json(&idx, &[&more], &[]);
    assert_eq!(r["unchanged"].as_u64(), Some((stored - 5) as u64), "{r:#}");
    assert_eq!(r["added"].as_u64(), Some((5 + total - stored) as u64), "{r:#}");
    let stats: Value = serde_json::from_str(&ok(sourcier(&idx).args(["index", "stats", "--json"]))).unwrap();
    assert_eq!(stats["stats"]["articles"].as_u64(), Some(5 + total as u64));
}

#[test]
fn a_different_model_is_refused() {
    let t = tempfile::tempdir().unwrap();
    bundled_index(t.path());
    let idx = t.path().join("index");
    let (success, _, stderr) = run(sourcier(&idx).args(["--dims", "256", "search", "Huawei"]));
    assert!(!success, "searching a 768-d index with a 256-d model must fail");
    assert!(stderr.contains("--model/--dims"), "{stderr}");
    let (success, _, stderr) = run(sourcier(&idx)
        .args(["--dims", "256", "ingest", "--quiet"])
        .arg(t.path().join("articles")));
    assert!(!success);
    assert!(stderr.contains("new --index directory"), "{stderr}");
    // The index is untouched.
    let v = search_json(&idx, "How many IBM consultants help Huawei?", &[]);
    assert_eq!(top_article(&v), "000_d959af5fb98b9205.txt");
}

/// int8 is the default for a new index, but an index built in f32 is opened in f32 without
/// being asked, and asking for int8 on it is refused, naming both precisions.
#[test]
fn an_index_is_opened_in_the_precision_that_built_it() {
    let t = tempfile::tempdir().unwrap();
    let article = t.path().join("articles");
    std::fs::create_dir_all(&article).unwrap();
    std::fs::copy(
        util::root().join("examples/articles/000_d959af5fb98b9205.txt"),
        article.join("000_d959af5fb98b9205.txt"),
    )
    .unwrap();
    let stats = |idx: &Path| -> Value {
        serde_json::from_str(&ok(sourcier(idx)
            .env_remove("SOURCIER_PRECISION")
            .args(["index", "stats", "--json"])))
        .unwrap()
    };
    let f32_idx = t.path().join("f32");
    ingest_json(&f32_idx, &[&article], &["--precision", "f32"]);
    let name = stats(&f32_idx)["manifest"]["embedder"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!name.is_empty() && !name.ends_with("/int8"), "{name}");
    // No flag and no SOURCIER_PRECISION: the index's precision, not the default.
    let out = ok(sourcier(&f32_idx).env_remove("SOURCIER_PRECISION").args([
        "search",
        "consultants IBM",
        "--json",
        "-k",
        "1",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(top_article(&v), "000_d959af5fb98b9205.txt", "{v:#}");
    let (success, _, stderr) = run(sourcier(&f32_idx).args(["--precision", "int8", "search", "consultants IBM"]));
    assert!(!success, "an f32 index searched in int8 must be refused");
    assert!(stderr.contains("f32") && stderr.contains("int8"), "{stderr}");
    // A new index without a flag is int8.
    let int8_idx = t.path().join("int8");
    ok(sourcier(&int8_idx)
        .env_remove("SOURCIER_PRECISION")
        .arg("ingest")
        .arg(&article)
        .args(["--json", "--quiet"]));
    let name = stats(&int8_idx)["manifest"]["embedder"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(name.ends_with("/int8"), "{name}");
}

#[test]
fn bad_input_is_reported_per_file_and_the_rest_goes_in() {
    let t = tempfile::tempdir().unwrap();
    let docs = t.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("good.md"),
        "# Un bon article\n\nLe marché des smartphones recule en Europe cette année.\n",
    )
    .unwrap();
    // Windows-1252: "Élysée" with É = 0xC9 and é = 0xE9.
    std::fs::write(
        docs.join("latin1.txt"),
        b"Visite \xe0 l'\xc9lys\xe9e\n\nLe pr\xe9sident a re\xe7u les patrons fran\xe7ais.\n",
    )
    .unwrap();
    std::fs::write(docs.join("binary.txt"), [0u8, 159, 146, 150, 0, 1, 2, 3, 0, 0]).unwrap();
    std::fs::write(docs.join("empty.txt"), "").unwrap();
    std::os::unix::fs::symlink(docs.join("missing-target.txt"), docs.join("dangling.txt")).unwrap();
    std::fs::write(
        docs.join("feed.jsonl"),
        "{\"title\": \"Premier\", \"text\": \"Les ventes de vélos électriques progressent.\", \"lang\": \"fr\"}\n{not json\n{\"title\": \"Sans texte\"}\n{\"title\": \"Third\", \"text\": \"Electric bikes sales are growing in Europe.\", \"date\": \"2024-06-01\"}\n",
    )
    .unwrap();
    let idx = t.path().join("index");
    let out = sourcier(&idx).args(["ingest", "--json"]).arg(&docs).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        r["added"].as_u64(),
        Some(4),
        "good.md, latin1.txt and two JSONL records: {r:#}\n{stderr}"
    );
    let problems = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    for (needle, what) in [
        ("latin1.txt", "decoded non-UTF-8"),
        ("binary.txt", "binary"),
        ("empty.txt", "empty"),
        ("dangling.txt", "unreadable"),
        ("feed.jsonl:2", "malformed line 2"),
        ("feed.jsonl:3", "record without text on line 3"),
    ] {
        assert!(problems.contains(needle), "no report for {what}:\n{problems}");
    }
    assert!(
        stderr.contains("feed.jsonl:2"),
        "problems are also shown on stderr: {stderr}"
    );
    let v = search_json(&idx, "Le président a reçu les patrons", &[]);
    assert_eq!(top_article(&v), "latin1.txt", "{v:#}");
    assert!(
        v["hits"][0]["text"].as_str().unwrap().contains("président"),
        "Windows-1252 decoded: {v:#}"
    );
}

#[test]
fn empty_query_and_missing_index_get_helpful_errors() {
    let t = tempfile::tempdir().unwrap();
    let idx = t.path().join("index");
    let (success, stdout, stderr) = run(sourcier(&idx).args(["search", "Huawei"]));
    assert!(!success && stdout.is_empty());
    assert!(stderr.contains("sourcier ingest"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (success, _, stderr) = run(sourcier(&idx).args(["search", "   "]));
    assert!(!success && stderr.contains("query is empty"), "{stderr}");
    let (success, _, stderr) = run(sourcier(&idx).args(["ingest"]).arg(t.path().join("nope")));
    assert!(!success && stderr.contains("nope"), "{stderr}");
}

#[test]
fn index_stats_reports_the_index() {
    let t = tempfile::tempdir().unwrap();
    bundled_index(t.path());
    let out = ok(sourcier(&t.path().join("index")).args(["index", "stats"]));
    for needle in [
        "articles   5",
        "fr 5",
        "embeddinggemma-300m@768",
        "dims       768",
        "disk",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

/// Issue 14 B1/B2: stored dates that are words or impossible never panic a date filter and
/// never pass it; bad bounds are refused; `--lang fr-FR` is normalised.
#[test]
fn free_text_dates_neither_panic_nor_pass_date_filters() {
    let t = tempfile::tempdir().unwrap();
    let corpus = t.path().join("c");
    std::fs::create_dir_all(&corpus).unwrap();
    let mut lines = String::new();
    for (id, date) in [
        ("ete", "été"),
        ("hier", "hier"),
        ("fevrier", "2025-02-31"),
        ("fete", "🎉🎉"),
        ("avril", "2025-04"),
        ("vieux", "2024-06-01"),
    ] {
        lines.push_str(&format!(
            "{{\"id\":\"{id}\",\"lang\":\"fr\",\"date\":\"{date}\",\"text\":\"Huawei a publié ses résultats ({id}). Le groupe chinois annonce une croissance de ses ventes.\"}}\n"
        ));
    }
    std::fs::write(corpus.join("a.jsonl"), lines).unwrap();
    let idx = t.path().join("index");
    ingest_json(&idx, &[&corpus], &[]);
    let ids = |v: &Value| -> Vec<String> {
        let mut ids: Vec<String> = v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                h["article_id"]
                    .as_str()
                    .unwrap()
                    .rsplit('#')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        ids.sort();
        ids
    };
    for mode in ["dense", "lexical", "hybrid"] {
        let v = search_json(&idx, "Huawei", &["-k", "10", "--since", "2025", "--mode", mode]);
        assert_eq!(ids(&v), ["avril"], "{mode}: {v:#}");
        let v = search_json(&idx, "Huawei", &["-k", "10", "--until", "2024-12", "--mode", mode]);
        assert_eq!(ids(&v), ["vieux"], "{mode}: {v:#}");
    }
    let v = search_json(&idx, "Huawei", &["-k", "10", "--since", "2025-01"]);
    assert_eq!(ids(&v), ["avril"], "{v:#}");
    let v = search_json(&idx, "Huawei", &["-k", "10", "--lang", "fr-FR"]);
    assert_eq!(ids(&v).len(), 6, "{v:#}");
    for bad in [
        ["--since", "2025-1"],
        ["--until", "2024-13"],
        ["--since", "99999"],
        ["--lang", "xx"],
    ] {
        let (success, _, stderr) = run(sourcier(&idx).args(["search", "Huawei"]).args(bad));
        assert!(!success, "{bad:?} accepted");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (success, _, stderr) =
        run(sourcier(&idx).args(["ask", "Huawei a-t-il publié ses résultats ?", "--since", "2025"]));
    assert!(success && !stderr.contains("panicked"), "{stderr}");
}

/// Every file of a directory tree with its size and sha256, to show a command wrote nothing.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, (u64, String)> {
    use sha2::Digest;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                // An SQLite reader of a WAL database creates the shared-memory index and an
                // empty log beside it: lock state, not data. A written log would not be empty.
                if name.ends_with("-shm") || (name.ends_with("-wal") && bytes.is_empty()) {
                    continue;
                }
                let hash = sourcier::models::hex(&sha2::Sha256::digest(&bytes));
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), (bytes.len() as u64, hash));
            }
        }
    }
    out
}

/// Issue 9: reads only read. `search` and `ask` in every mode, with filters, leave every file
/// of the index byte for byte as it was, even when the derived indexes lag the store.
#[test]
fn search_and_ask_write_nothing_into_the_index() {
    let t = tempfile::tempdir().unwrap();
    bundled_index(t.path());
    let idx = t.path().join("index");
    // An index whose HNSW and BM25 files are gone (as after a crash before they were saved):
    // readers catch up in memory, and still write nothing.
    let lagging = t.path().join("lagging");
    util::copy_dir(&idx, &lagging);
    for f in std::fs::read_dir(&lagging).unwrap() {
        let p = f.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name == "lexical" || (name.contains("hnsw") && p.is_dir()) {
            std::fs::remove_dir_all(&p).unwrap();
        } else if name.contains("hnsw") {
            std::fs::remove_file(&p).unwrap();
        }
    }
    for dir in [&idx, &lagging] {
        let before = snapshot(dir);
        for mode in ["dense", "lexical", "hybrid"] {
            let v = search_json(
                dir,
                "Combien de consultants IBM envoie-t-il chez Huawei ?",
                &["--mode", mode],
            );
            assert_eq!(
                top_article(&v),
                "000_d959af5fb98b9205.txt",
                "{mode} in {}: {v:#}",
                dir.display()
            );
            ok(sourcier(dir).args(["search", "Huawei", "--since", "2020", "--lang", "fr", "--mode", mode]));
        }
        ok(sourcier(dir).args(["ask", "Combien de consultants IBM envoie-t-il chez Huawei ?"]));
        assert_eq!(snapshot(dir), before, "a read changed {}", dir.display());
    }
}

/// Issue 14 B7: terminal escape sequences in article titles and text (raw or as HTML entities)
/// are printed escaped in the text output of `search` and `ask`, never raw.
#[test]
fn text_output_never_prints_terminal_control_characters() {
    let t = tempfile::tempdir().unwrap();
    let corpus = t.path().join("c");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(
        corpus.join("a.jsonl"),
        "{\"id\":\"esc\",\"lang\":\"fr\",\"title\":\"\\u001b]0;pwned\\u0007Huawei\",\"text\":\"Huawei a publié ses résultats.\\u001b[2J Le groupe\\r annonce\\b une croissance de ses ventes.\"}\n",
    )
    .unwrap();
    std::fs::write(
        corpus.join("b.html"),
        "<html><head><title>Huawei &#27;]8;;http://x&#x1b;\\\\lien</title></head><body><p>Huawei publie ses ventes &#27;[2J annuelles en hausse.</p></body></html>",
    )
    .unwrap();
    let idx = t.path().join("index");
    ingest_json(&idx, &[&corpus], &[]);
    for args in [
        vec!["search", "Huawei", "--mode", "lexical"],
        vec!["search", "Huawei"],
        vec!["ask", "Huawei a-t-il publié ses résultats ?"],
    ] {
        let (success, stdout, stderr) = run(sourcier(&idx).args(&args));
        assert!(success, "{args:?}: {stderr}");
        assert!(stdout.contains("Huawei"), "{args:?}: {stdout}");
        let bad: Vec<char> = stdout
            .chars()
            .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
            .collect();
        assert!(bad.is_empty(), "{args:?} printed {bad:?} raw: {stdout:?}");
    }
}
