//! Writes the (question, sentence) pairs the answer reader is fine-tuned on, from a SQuAD
//! file, one JSON object per line: `q` (the question's number, as `eval` counts them),
//! `question`, `sentence`, `golds`, and `answer`, the gold answer's byte range in the
//! sentence, or `null` for a sentence that does not hold it. `examples/finetune_reader.py`
//! reads them and makes the split (it never reads questions numbered 3 mod 4).
//!
//! ```sh
//! cargo run --release --example reader_pairs -- ../shared/eval/piaf/piaf-v1.0.json /tmp/pairs.jsonl --lang fr
//! ```
//!
//! Each question gives the sentence of its paragraph that holds the gold answer, and two
//! hard ones that do not: the sentence of the same paragraph that shares the most words with
//! the question (the on-topic near miss that outranks the answer), and the same among the
//! article's other paragraphs, as when the answer's paragraph is missing.
//! Sentences are split as `ingest` splits them.
//!
//! With `--mined DUMP.jsonl` (the rows of `sourcier eval --answers --split even
//! --dump-answer-features DUMP.jsonl`), each even-numbered question also gets up to
//! `--mined-per-question` (default 2) of the sentences the answerer itself read for it and
//! ranked highest without holding the answer: the negatives the reader meets at run time,
//! which word overlap alone does not find. Odd-numbered questions never get mined pairs, so
//! the pass is still chosen on the same pairs as before.
//!
//! With `--translated` (last on the line), the input is a file of
//! `examples/translate_questions.rs` (English questions about French paragraphs), and only
//! its translated questions give pairs: the same sentences as their French originals give
//! (the near misses are chosen by the French question's words, which the paragraph shares),
//! asked in English. Appended to the French pairs, they teach the reader to read French
//! sentences for English questions, as English users of French articles ask.

use std::collections::HashMap;
use std::io::{BufWriter, Write};

use sourcier::chunk::split_sentences;
use sourcier::eval::input::read_squad;

struct Pair {
    q: usize,
    question: String,
    sentence: String,
    golds: Vec<String>,
    /// Gold answer's byte range in the sentence; `None` for a sentence without the answer.
    answer: Option<std::ops::Range<usize>>,
    /// Mined from the answerer's own reads (`--mined`) rather than chosen by word overlap.
    mined: bool,
    /// An English translation of a French question (`--translated`).
    translated: bool,
}

/// English question → the French one it translates and that one's number, as `eval`
/// numbers the French file (in file order, skipping empty and impossible questions and
/// repeats). Numbered from the French text, so that two translations that happen to be equal
/// (two quarters translated apart, then merged) cannot shift the numbers of the rest.
fn translations(path: &str) -> HashMap<String, (String, usize)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let squad: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    let mut out = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for article in squad["data"].as_array().into_iter().flatten() {
        for para in article["paragraphs"].as_array().into_iter().flatten() {
            for qa in para["qas"].as_array().into_iter().flatten() {
                let Some(question) = qa["question"].as_str() else {
                    continue;
                };
                let original = qa["question_fr"].as_str().unwrap_or(question);
                if original.trim().is_empty() || qa["is_impossible"] == serde_json::Value::Bool(true) {
                    continue;
                }
                // By the raw text, as `eval` tells repeats apart.
                if !seen.insert(original) {
                    continue;
                }
                if let Some(fr) = qa["question_fr"].as_str() {
                    out.insert(question.trim().to_string(), (fr.trim().to_string(), seen.len() - 1));
                }
            }
        }
    }
    out
}

fn build_pairs(
    path: &str,
    lang: &str,
    below: usize,
    translated: Option<&HashMap<String, (String, usize)>>,
) -> Vec<Pair> {
    let set = read_squad(path, None, lang).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let docs: HashMap<&str, (&str, &str)> = set
        .docs
        .iter()
        .map(|d| (d.id.as_str(), (d.title.as_str(), d.text.as_str())))
        .collect();
    let mut by_title: HashMap<&str, Vec<&str>> = HashMap::new();
    for d in &set.docs {
        by_title.entry(d.title.as_str()).or_default().push(d.id.as_str());
    }
    let mut pairs = Vec::new();
    for (i, q) in set.queries.iter().enumerate().take(below) {
        let Some(&(title, text)) = docs.get(q.doc_id.as_str()) else {
            continue;
        };
        let Some((gold, off)) = q.answers.first() else { continue };
        // A translated question's near misses are its French original's, and so is its number.
        let (chooser, i) = match translated {
            Some(t) => match t.get(q.text.trim()) {
                Some((fr, n)) => (fr.as_str(), *n),
                None => continue,
            },
            None => (q.text.as_str(), i),
        };
        let golds: Vec<String> = q.answers.iter().map(|a| a.0.clone()).collect();
        let sents = split_sentences(text, 0..text.len());
        let Some(g) = sents.iter().position(|r| r.start <= *off && off + gold.len() <= r.end) else {
            continue;
        };
        let holds = |s: &str| golds.iter().any(|a| !a.trim().is_empty() && s.contains(a.trim()));
        let r = &sents[g];
        let mut push = |sentence: &str, answer: Option<std::ops::Range<usize>>| {
            pairs.push(Pair {
                q: i,
                question: q.text.clone(),
                sentence: sentence.to_string(),
                golds: golds.clone(),
                answer,
                mined: false,
                translated: translated.is_some(),
            })
        };
        push(&text[r.clone()], Some(off - r.start..off - r.start + gold.len()));
        // The sentence of the paragraph that shares the most words with the question (ties:
        // the nearest to the gold one): the near miss that repeats the question's words.
        let qw = words(chooser);
        let overlap = |s: &str| words(s).intersection(&qw).count();
        if let Some((_, r)) = sents
            .iter()
            .enumerate()
            .filter(|(n, r)| *n != g && !holds(&text[(*r).clone()]))
            .max_by_key(|(n, r)| (overlap(&text[(*r).clone()]), std::cmp::Reverse(n.abs_diff(g))))
        {
            push(&text[r.clone()], None);
        }
        // The same among the other paragraphs of the article: what retrieval offers when the
        // answer's paragraph is missing.
        let best_other = by_title[title]
            .iter()
            .filter(|d| **d != q.doc_id)
            .flat_map(|d| {
                let other = docs[d].1;
                split_sentences(other, 0..other.len())
                    .into_iter()
                    .map(move |r| &other[r])
            })
            .filter(|s| !holds(s))
            .max_by_key(|s| overlap(s));
        if let Some(s) = best_other {
            push(s, None);
        }
    }
    pairs
}

/// Lower-cased words of four letters or more: content words, near enough, in both languages.
/// Not the answerer's analysed question words: the shipped reader's pairs were chosen with
/// this, and changing it changes what retraining produces.
fn words(text: &str) -> std::collections::HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .collect()
}

/// The answerer's own read, non-answering sentences of each even-numbered question, best
/// scored first, at most `per_question` each, leaving out the ones `pairs` already holds.
fn mined_pairs(dump: &str, pairs: &[Pair], per_question: usize) -> Result<Vec<Pair>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(dump).map_err(|e| format!("{dump}: {e}"))?;
    let mut read: HashMap<usize, Vec<(f64, String)>> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let row: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("{dump}:{}: {e}", n + 1))?;
        let q = row["q"]
            .as_u64()
            .ok_or_else(|| format!("{dump}:{}: no question number", n + 1))? as usize;
        let Some(sentence) = row["text"].as_str() else {
            return Err(format!("{dump}:{}: no sentence text (dumped by an older sourcier?)", n + 1).into());
        };
        // Only what the reader read (it has a margin), and only what does not hold the answer.
        if !q.is_multiple_of(2) || row["m"].is_null() || row["label"].as_bool() != Some(false) {
            continue;
        }
        let score = row["score"].as_f64().unwrap_or(f64::NEG_INFINITY);
        read.entry(q).or_default().push((score, sentence.to_string()));
    }
    let mut by_q: HashMap<usize, &Pair> = HashMap::new();
    let mut known: std::collections::HashSet<(usize, &str)> = std::collections::HashSet::new();
    for p in pairs {
        by_q.entry(p.q).or_insert(p);
        known.insert((p.q, p.sentence.as_str()));
    }
    let mut qs: Vec<usize> = read.keys().copied().filter(|q| by_q.contains_key(q)).collect();
    qs.sort_unstable();
    let mut out = Vec::new();
    for q in qs {
        let mut cands = read.remove(&q).unwrap_or_default();
        cands.sort_by(|a, b| b.0.total_cmp(&a.0));
        let first = by_q[&q];
        let mut taken = 0;
        for (_, sentence) in cands {
            if taken == per_question {
                break;
            }
            if known.contains(&(q, sentence.as_str())) {
                continue;
            }
            taken += 1;
            out.push(Pair {
                q,
                question: first.question.clone(),
                sentence,
                golds: first.golds.clone(),
                answer: None,
                mined: true,
                translated: first.translated,
            });
        }
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a)
        .collect();
    let (Some(squad), Some(out)) = (positional.first(), positional.get(1)) else {
        eprintln!(
            "usage: reader_pairs SQUAD.json OUT.jsonl [--lang fr] [--below N] [--mined DUMP.jsonl [--mined-per-question K]] [--translated]"
        );
        std::process::exit(2);
    };
    let lang = opt("--lang").unwrap_or_else(|| "fr".into());
    let below: usize = opt("--below").map(|s| s.parse()).transpose()?.unwrap_or(usize::MAX);
    let translated = args.iter().any(|a| a == "--translated").then(|| translations(squad));
    if let Some(t) = &translated {
        eprintln!("{} translated questions in {squad}", t.len());
    }
    let mut pairs = build_pairs(squad, &lang, below, translated.as_ref());
    if let Some(dump) = opt("--mined") {
        let per_question: usize = opt("--mined-per-question").map(|s| s.parse()).transpose()?.unwrap_or(2);
        let mined = mined_pairs(&dump, &pairs, per_question)?;
        eprintln!("{} mined pairs from {dump}", mined.len());
        // After the word-overlap pairs, which keep their order.
        pairs.extend(mined);
    }
    let tmp = format!("{out}.tmp");
    let mut w = BufWriter::new(std::fs::File::create(&tmp).map_err(|e| format!("{tmp}: {e}"))?);
    for pair in &pairs {
        let mut line = serde_json::json!({
            "q": pair.q,
            "question": pair.question,
            "sentence": pair.sentence,
            "golds": pair.golds,
            "answer": pair.answer.as_ref().map(|r| [r.start, r.end]),
        });
        if pair.mined {
            line["mined"] = true.into();
        }
        if pair.translated {
            line["translated"] = true.into();
        }
        writeln!(w, "{line}")?;
    }
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, out.as_str()).map_err(|e| format!("{out}: {e}"))?;
    eprintln!(
        "wrote {} pairs ({} with the answer) from {squad} to {out}",
        pairs.len(),
        pairs.iter().filter(|p| p.answer.is_some()).count()
    );
    Ok(())
}
