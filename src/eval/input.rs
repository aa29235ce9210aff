//! Query sets for evaluations: sourcier's JSONL query format, and SQuAD-format QA files (PIAF,
//! XQuAD) turned into retrieval benchmarks.
//!
//! Query files are written by hand, so a bad line must not sink the whole set: each malformed
//! line is reported with its 1-based number and skipped, and the caller decides whether to go
//! on. SQuAD files are published data sets: they either parse or fail as a whole, and the
//! benchmark built from them follows the MTEB convention (one document per distinct context,
//! queries deduplicated by text) so figures stay comparable with MTEB's XQuADRetrieval.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// One evaluation query. Serialises as one line of the JSONL format, so a set can be written
/// back and read again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    pub id: String,
    #[serde(rename = "query")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Article id → gain (1 for binary judgements). Empty for an unanswerable question.
    pub relevant: BTreeMap<String, u32>,
    /// Acceptable answers, compared with `metrics::answer_hit`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
    /// Where the answers sit in the relevant articles, when the source says (SQuAD); used by
    /// chunk-level evaluation. JSONL queries leave it empty and are judged by answer strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answer_spans: Vec<AnswerSpan>,
}

/// A gold answer's byte range in one article's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerSpan {
    pub article: String,
    pub start: usize,
    pub end: usize,
}

impl Query {
    /// Whether some article is relevant (gain > 0); otherwise the question is unanswerable.
    pub fn is_answerable(&self) -> bool {
        self.relevant.values().any(|&g| g > 0)
    }
}

/// A line of a query file that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineProblem {
    /// 1-based line number.
    pub line: usize,
    pub detail: String,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.detail)
    }
}

/// The queries of a file, in file order, and the lines that were skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerySet {
    pub queries: Vec<Query>,
    pub problems: Vec<LineProblem>,
}

/// Parses the JSONL query format, one object per line:
/// `{"id": "q1", "query": "…", "lang": "fr", "relevant": ["a1", …], "answers": ["…"]}`.
///
/// - `lang` and `answers` are optional (`null` counts as absent); `lang` is lowercased.
/// - `relevant` is required: a list of article ids (gain 1 each) or an object
///   `{"article id": gain}` with non-negative integer gains; `[]` or `{}` marks an
///   unanswerable question.
/// - `id` is a non-empty string (an integer is accepted and turned into its decimal text);
///   ids, article ids and the query are trimmed.
/// - Blank lines and lines starting with `//` or `#` are ignored. Malformed lines (bad JSON,
///   missing or empty `query`, wrong types, an `id` already used) are skipped and reported.
///   Unknown keys are ignored, so notes can ride along.
pub fn parse_jsonl(text: &str) -> QuerySet {
    let mut set = QuerySet::default();
    let mut first_line_of_id: HashMap<String, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim_start_matches('\u{feff}').trim();
        if trimmed.is_empty() || trimmed.starts_with("//") || trimmed.starts_with('#') {
            continue;
        }
        let parsed = serde_json::from_str::<Value>(trimmed)
            .map_err(|e| format!("invalid JSON: {e}"))
            .and_then(|v| query_from_value(&v));
        match parsed {
            Ok(query) => {
                if let Some(first) = first_line_of_id.get(&query.id) {
                    set.problems.push(LineProblem {
                        line,
                        detail: format!("duplicate id \"{}\" (first used on line {first})", query.id),
                    });
                } else {
                    first_line_of_id.insert(query.id.clone(), line);
                    set.queries.push(query);
                }
            }
            Err(detail) => set.problems.push(LineProblem { line, detail }),
        }
    }
    set
}

/// Reads and parses a JSONL query file (see [`parse_jsonl`]). Fails only when the file cannot
/// be read or is not UTF-8; bad lines are in the returned set's `problems`.
pub fn read_jsonl(path: impl AsRef<Path>) -> Result<QuerySet> {
    let path = path.as_ref();
    let text = read_utf8(path)?;
    Ok(parse_jsonl(&text))
}

fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(Error::io("reading", path))?;
    String::from_utf8(bytes).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        detail: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn query_from_value(v: &Value) -> std::result::Result<Query, String> {
    let Value::Object(obj) = v else {
        return Err(format!("expected a JSON object, found {}", kind(v)));
    };

    let id = match obj.get("id") {
        None | Some(Value::Null) => return Err("missing \"id\"".into()),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        Some(other) => return Err(format!("\"id\" must be a string, found {}", kind(other))),
    };
    if id.is_empty() {
        return Err("\"id\" is empty".into());
    }

    let text = match obj.get("query") {
        None | Some(Value::Null) => return Err(format!("query \"{id}\": missing \"query\"")),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(other) => {
            return Err(format!(
                "query \"{id}\": \"query\" must be a string, found {}",
                kind(other)
            ));
        }
    };
    if text.is_empty() {
        return Err(format!("query \"{id}\": \"query\" is empty"));
    }

    let lang = match obj.get("lang") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_lowercase()).filter(|s| !s.is_empty()),
        Some(other) => {
            return Err(format!(
                "query \"{id}\": \"lang\" must be a string, found {}",
                kind(other)
            ));
        }
    };

    let relevant = match obj.get("relevant") {
        None => {
            return Err(format!(
                "query \"{id}\": missing \"relevant\" (use [] for an unanswerable question)"
            ));
        }
        Some(v) => relevant_from_value(v).map_err(|e| format!("query \"{id}\": {e}"))?,
    };

    let answers = match obj.get("answers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| match a {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "query \"{id}\": \"answers\" must hold strings, found {}",
                    kind(other)
                )),
            })
            .collect::<std::result::Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "query \"{id}\": \"answers\" must be an array of strings, found {}",
                kind(other)
            ));
        }
    };

    Ok(Query {
        id,
        text,
        lang,
        relevant,
        answers,
        answer_spans: Vec::new(),
    })
}

fn relevant_from_value(v: &Value) -> std::result::Result<BTreeMap<String, u32>, String> {
    let mut out = BTreeMap::new();
    match v {
        Value::Array(items) => {
            for item in items {
                let Value::String(s) = item else {
                    return Err(format!(
                        "\"relevant\" must hold article ids as strings, found {}",
                        kind(item)
                    ));
                };
                let id = s.trim();
                if id.is_empty() {
                    return Err("\"relevant\" holds an empty article id".into());
                }
                out.insert(id.to_string(), 1);
            }
        }
        Value::Object(map) => graded_from_map(map, &mut out)?,
        other => {
            return Err(format!(
                "\"relevant\" must be an array of article ids or an object {{\"id\": gain}}, found {}",
                kind(other)
            ));
        }
    }
    Ok(out)
}

fn graded_from_map(map: &Map<String, Value>, out: &mut BTreeMap<String, u32>) -> std::result::Result<(), String> {
    for (id, g) in map {
        let id = id.trim();
        if id.is_empty() {
            return Err("\"relevant\" holds an empty article id".into());
        }
        let gain = g
            .as_u64()
            .and_then(|g| u32::try_from(g).ok())
            .ok_or_else(|| format!("the gain of \"{id}\" in \"relevant\" must be a non-negative integer, found {g}"))?;
        out.insert(id.to_string(), gain);
    }
    Ok(())
}

/// One distinct paragraph (SQuAD `context`) of a SQuAD file: a document of the benchmark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SquadDoc {
    /// `c{n}`: n numbers the distinct contexts of the whole file from 0 in order of first
    /// appearance, so ids do not depend on `limit`.
    pub id: String,
    /// Title of the SQuAD article where the context first appears.
    pub title: String,
    pub text: String,
}

/// One question of a SQuAD file, with the document that answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SquadQuery {
    /// The SQuAD question id (made unique with a `~n` suffix if the file repeats it).
    pub id: String,
    pub text: String,
    /// Language given by the caller (e.g. "fr" for PIAF, "en" for XQuAD).
    pub lang: String,
    /// The [`SquadDoc`] the question was asked on: its only relevant document (gain 1).
    pub doc_id: String,
    /// Answer texts with their BYTE offset into the document text: SQuAD's `answer_start`
    /// counts characters and is converted; `text[offset..]` starts with the answer unless
    /// `problems` says the answer does not occur in the context. Exact repeats are dropped.
    pub answers: Vec<(String, usize)>,
}

/// Counts over a whole SQuAD file, whatever the `limit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SquadStats {
    /// SQuAD `data` entries.
    pub articles: usize,
    /// `paragraphs` entries.
    pub paragraphs: usize,
    /// Distinct contexts (the full document set).
    pub contexts: usize,
    /// `qas` entries.
    pub questions: usize,
    /// Questions after deduplication by text (the full query set).
    pub unique_questions: usize,
    /// Questions dropped because an earlier one had the same text.
    pub duplicate_questions: usize,
    /// Questions dropped because they are marked `is_impossible` or are empty.
    pub skipped_questions: usize,
    /// Non-empty answers of the kept queries.
    pub answers: usize,
    /// Answers of the kept queries whose offset was wrong and was moved to the nearest place
    /// where the answer text does occur.
    pub fixed_offsets: usize,
    /// Answers of the kept queries that do not occur in their context at all (kept as given).
    pub unmatched_answers: usize,
}

/// A retrieval benchmark built from a SQuAD file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SquadSet {
    pub docs: Vec<SquadDoc>,
    pub queries: Vec<SquadQuery>,
    /// Data issues met while building the kept queries (repeated questions with a different
    /// context, renamed ids, empty answers), one sentence each.
    pub problems: Vec<String>,
    /// Answers whose `answer_start` does not point at their text (wrong, out of range or
    /// negative), one sentence each; counted in `stats.fixed_offsets` and
    /// `stats.unmatched_answers`. A big file can hold thousands, so they are kept apart from
    /// `problems` and shown as one summary ([`SquadSet::bad_answer_summary`]).
    pub bad_answers: Vec<String>,
    pub stats: SquadStats,
}

impl SquadSet {
    /// One sentence on the answers whose `answer_start` was wrong: how many, what became of
    /// them, and the first example. `None` when every offset was right.
    pub fn bad_answer_summary(&self) -> Option<String> {
        let first = self.bad_answers.first()?;
        let s = &self.stats;
        Some(format!(
            "{} of {} answers are not at their answer_start ({} moved to where their text occurs, {} not in their context and judged by their text only); first: {first}",
            s.fixed_offsets + s.unmatched_answers,
            s.answers,
            s.fixed_offsets,
            s.unmatched_answers
        ))
    }

    /// The queries in the generic form: each relevant to its document with gain 1, answers
    /// as distinct texts in order, and the byte spans of those found at their offset.
    pub fn to_query_set(&self) -> QuerySet {
        let texts: HashMap<&str, &str> = self.docs.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
        let queries = self
            .queries
            .iter()
            .map(|q| {
                let mut seen = HashSet::new();
                Query {
                    id: q.id.clone(),
                    text: q.text.clone(),
                    lang: Some(q.lang.clone()),
                    relevant: BTreeMap::from([(q.doc_id.clone(), 1)]),
                    answers: q
                        .answers
                        .iter()
                        .filter(|(a, _)| seen.insert(a.as_str()))
                        .map(|(a, _)| a.clone())
                        .collect(),
                    // Answers that do not occur at their offset (kept as given, counted in
                    // `unmatched_answers`) have no trustworthy span.
                    answer_spans: q
                        .answers
                        .iter()
                        .filter(|(a, off)| {
                            texts.get(q.doc_id.as_str()).and_then(|t| t.get(*off..off + a.len())) == Some(a.as_str())
                        })
                        .map(|(a, off)| AnswerSpan {
                            article: q.doc_id.clone(),
                            start: *off,
                            end: off + a.len(),
                        })
                        .collect(),
                }
            })
            .collect();
        QuerySet {
            queries,
            problems: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct RawSquad {
    data: Vec<RawArticle>,
}

#[derive(Deserialize)]
struct RawArticle {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    paragraphs: Vec<RawParagraph>,
}

#[derive(Deserialize)]
struct RawParagraph {
    context: String,
    #[serde(default)]
    qas: Vec<RawQa>,
}

#[derive(Deserialize)]
struct RawQa {
    #[serde(default)]
    id: Option<Value>,
    question: String,
    #[serde(default)]
    answers: Vec<RawAnswer>,
    #[serde(default)]
    is_impossible: Option<bool>,
}

#[derive(Deserialize)]
struct RawAnswer {
    text: String,
    answer_start: i64,
}

/// Builds a retrieval benchmark from SQuAD JSON (`{"data": [{"title", "paragraphs":
/// [{"context", "qas": [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]}`),
/// following MTEB's XQuADRetrieval:
/// - one document per distinct context string, numbered in order of first appearance;
/// - one query per distinct question text (exact string, first occurrence wins), relevant to
///   the context it was asked on. Where MTEB marks a question repeated over several contexts
///   relevant to all of them, only the first context is kept here and the case is reported;
/// - questions marked `is_impossible` (SQuAD 2.0) are skipped: their context does not answer.
///
/// `limit` keeps the first N deduplicated questions, and then only the documents of the SQuAD
/// articles those questions come from: every paragraph of such an article is kept, so the
/// retriever still has to choose among the neighbouring paragraphs. `lang` is stored on each
/// query. Fails with a description when the text is not SQuAD JSON.
pub fn parse_squad(text: &str, limit: Option<usize>, lang: &str) -> std::result::Result<SquadSet, String> {
    let raw: RawSquad =
        serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| format!("not SQuAD JSON: {e}"))?;
    let limit = limit.unwrap_or(usize::MAX);
    let mut stats = SquadStats {
        articles: raw.data.len(),
        ..SquadStats::default()
    };

    // Intern every context of the file first, so doc ids do not depend on `limit`.
    let mut doc_of_context: HashMap<&str, usize> = HashMap::new();
    let mut all_docs: Vec<(&str, &str)> = Vec::new(); // (title, context)
    let mut article_docs: Vec<BTreeSet<usize>> = Vec::with_capacity(raw.data.len());
    for article in &raw.data {
        let title = article.title.as_deref().unwrap_or("");
        let mut docs = BTreeSet::new();
        for p in &article.paragraphs {
            stats.paragraphs += 1;
            let next = all_docs.len();
            let d = *doc_of_context.entry(p.context.as_str()).or_insert(next);
            if d == next {
                all_docs.push((title, p.context.as_str()));
            }
            docs.insert(d);
        }
        article_docs.push(docs);
    }
    stats.contexts = all_docs.len();

    let mut problems = Vec::new();
    let mut bad_answers = Vec::new();
    let mut queries = Vec::new();
    let mut kept_articles = BTreeSet::new();
    // question text → (query id, doc index, kept?)
    let mut seen: HashMap<&str, (String, usize, bool)> = HashMap::new();
    let mut used_ids: HashSet<String> = HashSet::new();
    for (ai, article) in raw.data.iter().enumerate() {
        for p in &article.paragraphs {
            let doc = doc_of_context[p.context.as_str()];
            for qa in &p.qas {
                stats.questions += 1;
                let raw_id = match &qa.id {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => format!("q{}", stats.questions),
                };
                if qa.is_impossible == Some(true) || qa.question.trim().is_empty() {
                    stats.skipped_questions += 1;
                    continue;
                }
                if let Some((first_id, first_doc, first_kept)) = seen.get(qa.question.as_str()) {
                    stats.duplicate_questions += 1;
                    if *first_kept && *first_doc != doc {
                        problems.push(format!(
                            "question {raw_id} repeats the text of question {first_id} on another context; only the first context (c{first_doc}) counts as relevant"
                        ));
                    }
                    continue;
                }
                stats.unique_questions += 1;
                let keep = queries.len() < limit;
                seen.insert(qa.question.as_str(), (raw_id.clone(), doc, keep));
                if !keep {
                    continue;
                }
                kept_articles.insert(ai);

                let mut id = raw_id.clone();
                let mut n = 2;
                while used_ids.contains(&id) {
                    id = format!("{raw_id}~{n}");
                    n += 1;
                }
                if id != raw_id {
                    problems.push(format!("question id {raw_id} is used more than once; renamed {id}"));
                }
                used_ids.insert(id.clone());

                let mut answers: Vec<(String, usize)> = Vec::new();
                for a in &qa.answers {
                    if a.text.is_empty() {
                        problems.push(format!("question {id}: an answer is empty; dropped"));
                        continue;
                    }
                    stats.answers += 1;
                    let offset = locate_answer(&p.context, &a.text, a.answer_start, &id, &mut stats, &mut bad_answers);
                    if !answers.iter().any(|(t, o)| *t == a.text && *o == offset) {
                        answers.push((a.text.clone(), offset));
                    }
                }
                queries.push(SquadQuery {
                    id,
                    text: qa.question.trim().to_string(),
                    lang: lang.to_string(),
                    doc_id: format!("c{doc}"),
                    answers,
                });
            }
        }
    }

    let keep_doc: BTreeSet<usize> = if limit == usize::MAX {
        (0..all_docs.len()).collect()
    } else {
        kept_articles
            .iter()
            .flat_map(|&ai| article_docs[ai].iter().copied())
            .collect()
    };
    let docs = keep_doc
        .into_iter()
        .map(|d| SquadDoc {
            id: format!("c{d}"),
            title: all_docs[d].0.to_string(),
            text: all_docs[d].1.to_string(),
        })
        .collect();

    Ok(SquadSet {
        docs,
        queries,
        problems,
        bad_answers,
        stats,
    })
}

/// Byte offset of an answer in its context. SQuAD's `answer_start` counts characters; when the
/// text is not found there, the nearest occurrence is used, and failing that the converted
/// offset is kept. Either case is counted and reported.
fn locate_answer(
    context: &str,
    answer: &str,
    char_start: i64,
    qid: &str,
    stats: &mut SquadStats,
    problems: &mut Vec<String>,
) -> usize {
    let byte_start = usize::try_from(char_start).ok().and_then(|c| {
        context
            .char_indices()
            .map(|(b, _)| b)
            .chain(std::iter::once(context.len()))
            .nth(c)
    });
    if let Some(b) = byte_start
        && context[b..].starts_with(answer)
    {
        return b;
    }
    let expected = byte_start.unwrap_or(context.len());
    let nearest = context
        .match_indices(answer)
        .map(|(b, _)| b)
        .min_by_key(|&b| b.abs_diff(expected));
    match nearest {
        Some(b) => {
            stats.fixed_offsets += 1;
            problems.push(format!(
                "question {qid}: answer {answer:?} is not at character {char_start} of its context; using character {} where it occurs",
                context[..b].chars().count()
            ));
            b
        }
        None => {
            stats.unmatched_answers += 1;
            problems.push(format!(
                "question {qid}: answer {answer:?} does not occur in its context; kept at character {char_start}"
            ));
            expected
        }
    }
}

/// Reads a SQuAD file and builds the benchmark (see [`parse_squad`]).
pub fn read_squad(path: impl AsRef<Path>, limit: Option<usize>, lang: &str) -> Result<SquadSet> {
    let path = path.as_ref();
    let text = read_utf8(path)?;
    parse_squad(&text, limit, lang).map_err(|detail| Error::Parse {
        path: path.to_path_buf(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_valid_lines() {
        let text = r#"
# a comment
// another comment
{"id": "q1", "query": "Qui a écrit Candide ?", "lang": "FR", "relevant": ["a1", "a2", "a1"], "answers": ["Voltaire"]}

{"id": 7, "query": " Who wrote Candide? ", "relevant": {"a1": 2, "a3": 1, "a4": 0}, "note": "ignored"}
{"id": "q3", "query": "Unanswerable?", "lang": null, "relevant": [], "answers": null}
"#;
        let set = parse_jsonl(text);
        assert_eq!(set.problems, vec![]);
        assert_eq!(set.queries.len(), 3);
        let q1 = &set.queries[0];
        assert_eq!(q1.id, "q1");
        assert_eq!(q1.lang.as_deref(), Some("fr"));
        assert_eq!(q1.relevant, BTreeMap::from([("a1".into(), 1), ("a2".into(), 1)]));
        assert_eq!(q1.answers, ["Voltaire"]);
        assert!(q1.is_answerable());
        let q7 = &set.queries[1];
        assert_eq!(
            (q7.id.as_str(), q7.text.as_str(), q7.lang.as_deref()),
            ("7", "Who wrote Candide?", None)
        );
        assert_eq!(
            q7.relevant,
            BTreeMap::from([("a1".into(), 2), ("a3".into(), 1), ("a4".into(), 0)])
        );
        let q3 = &set.queries[2];
        assert!(q3.relevant.is_empty() && !q3.is_answerable() && q3.answers.is_empty());
        // Only gain-0 judgements: unanswerable too.
        let zero = parse_jsonl(r#"{"id": "z", "query": "q", "relevant": {"a": 0}}"#);
        assert!(!zero.queries[0].is_answerable());
    }

    #[test]
    fn reports_malformed_lines_with_numbers() {
        let text = [
            r#"{"id": "ok1", "query": "fine", "relevant": ["a"]}"#,  // 1
            r#"{"id": "bad", "query": "fine", "relevant": ["a"]"#,   // 2: truncated JSON
            r#"{"id": "q3", "relevant": ["a"]}"#,                    // 3: no query
            r#"{"id": "q4", "query": "   ", "relevant": ["a"]}"#,    // 4: empty query
            r#"{"id": "ok1", "query": "again", "relevant": []}"#,    // 5: duplicate id
            r#"{"id": "q6", "query": "x", "relevant": "a"}"#,        // 6: relevant is a string
            r#"{"id": "q7", "query": "x", "relevant": [1]}"#,        // 7: non-string id
            r#"{"id": "q8", "query": "x", "relevant": {"a": -1}}"#,  // 8: negative gain
            r#"{"id": "q9", "query": "x", "relevant": {"a": 1.5}}"#, // 9: fractional gain
            r#"{"id": "q10", "query": "x", "relevant": [], "answers": "y"}"#, // 10
            r#"{"id": "q11", "query": "x", "relevant": [], "answers": [3]}"#, // 11
            r#"{"id": "q12", "query": 12, "relevant": []}"#,         // 12
            r#"{"id": "q13", "query": "x", "lang": 1, "relevant": []}"#, // 13
            r#"{"id": "q14", "query": "x"}"#,                        // 14: no relevant
            r#"{"query": "x", "relevant": []}"#,                     // 15: no id
            r#"{"id": "", "query": "x", "relevant": []}"#,           // 16: empty id
            r#"{"id": true, "query": "x", "relevant": []}"#,         // 17
            r#"["not", "an", "object"]"#,                            // 18
            r#"{"id": "q19", "query": "x", "relevant": [""]}"#,      // 19
            r#"{"id": "q20", "query": "x", "relevant": {"a": 4294967296}}"#, // 20: gain > u32
            r#"{"id": "ok2", "query": "fine", "relevant": {}}"#,     // 21
        ]
        .join("\n");
        let set = parse_jsonl(&text);
        let ids: Vec<&str> = set.queries.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["ok1", "ok2"]);
        let lines: Vec<usize> = set.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, (2..=20).collect::<Vec<_>>());
        let shown: Vec<String> = set.problems.iter().map(|p| p.to_string()).collect();
        assert!(shown[0].starts_with("line 2: invalid JSON"), "{}", shown[0]);
        assert_eq!(shown[1], "line 3: query \"q3\": missing \"query\"");
        assert_eq!(shown[2], "line 4: query \"q4\": \"query\" is empty");
        assert_eq!(shown[3], "line 5: duplicate id \"ok1\" (first used on line 1)");
        assert!(shown[12].contains("missing \"relevant\""), "{}", shown[12]);
        assert_eq!(shown[13], "line 15: missing \"id\"");
        assert_eq!(shown[16], "line 18: expected a JSON object, found an array");
    }

    #[test]
    fn duplicate_ids_keep_the_first_and_crlf_lines_count() {
        let text = "{\"id\":\"a\",\"query\":\"one\",\"relevant\":[]}\r\n\r\n{\"id\":\" a \",\"query\":\"two\",\"relevant\":[]}\r\n";
        let set = parse_jsonl(text);
        assert_eq!(set.queries.len(), 1);
        assert_eq!(set.queries[0].text, "one");
        assert_eq!(set.problems[0].line, 3);
    }

    #[test]
    fn queries_round_trip_through_jsonl() {
        let set = parse_jsonl(
            "\u{feff}{\"id\":\"a\",\"query\":\"un\",\"lang\":\"fr\",\"relevant\":{\"x\":2,\"y\":0},\"answers\":[\"r\"]}\n{\"id\":\"b\",\"query\":\"two\",\"relevant\":[]}",
        );
        assert_eq!(set.problems, vec![]);
        let lines: Vec<String> = set.queries.iter().map(|q| serde_json::to_string(q).unwrap()).collect();
        let again = parse_jsonl(&lines.join("\n"));
        assert_eq!(again, set);
    }

    #[test]
    fn read_jsonl_names_the_missing_path() {
        let err = read_jsonl("/nonexistent/dir/queries.jsonl").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir/queries.jsonl"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::test_support::fuzz_cases(256)))]

        #[test]
        fn parse_jsonl_never_panics(s in any::<String>()) {
            let set = parse_jsonl(&s);
            let lines = s.lines().count();
            prop_assert!(set.problems.iter().all(|p| p.line >= 1 && p.line <= lines));
        }

        #[test]
        fn parse_jsonl_never_panics_on_near_json(s in r#"[{}\[\]":, a-z0-9#/\n-]{0,80}"#) {
            let _ = parse_jsonl(&s);
        }

        #[test]
        fn parse_squad_never_panics(s in any::<String>(), start in -5i64..40, text in "[a-zé]{0,4}") {
            let _ = parse_squad(&s, None, "fr");
            let doc = serde_json::json!({"data": [{"title": "t", "paragraphs": [{"context": s, "qas": [
                {"id": "1", "question": "q?", "answers": [{"text": text, "answer_start": start}]}
            ]}]}]});
            let set = parse_squad(&doc.to_string(), Some(1), "fr").unwrap();
            for q in &set.queries {
                for (a, b) in &q.answers {
                    prop_assert!(*b <= s.len() && s.is_char_boundary(*b));
                    if set.stats.unmatched_answers == 0 {
                        prop_assert!(s[*b..].starts_with(a.as_str()));
                    }
                }
            }
        }
    }

    /// A SQuAD-like document from generated parts: contexts with multi-byte text, answers
    /// taken from the context or made up, `answer_start` right, shifted, negative, past the
    /// end or huge, repeated questions, impossible ones, ids of any JSON type.
    fn squad_doc() -> impl Strategy<Value = Value> {
        let answer = (
            any::<prop::sample::Index>(),
            0usize..6,
            -3i64..4,
            prop_oneof![
                6 => Just(None),
                1 => Just(Some(-7i64)),
                1 => Just(Some(10_000)),
                1 => Just(Some(i64::MAX)),
                1 => Just(Some(i64::MIN)),
            ],
            "[a-zé]{0,3}",
            any::<bool>(),
        );
        let qa = (
            "[a-c?é ]{0,4}",
            prop_oneof![
                Just(Value::Null),
                Just(Value::from(1)),
                Just(Value::from("q")),
                Just(Value::from(1.5)),
                Just(Value::from(vec![1]))
            ],
            prop::collection::vec(answer, 0..4),
            prop::option::of(any::<bool>()),
        );
        let paragraph = ("[a-zé😀 .]{0,30}", prop::collection::vec(qa, 0..4));
        prop::collection::vec(prop::collection::vec(paragraph, 0..3), 0..3).prop_map(|articles| {
            let data: Vec<Value> = articles
                .into_iter()
                .map(|paragraphs| {
                    let paragraphs: Vec<Value> = paragraphs
                        .into_iter()
                        .map(|(context, qas)| {
                            let chars: Vec<char> = context.chars().collect();
                            let qas: Vec<Value> = qas
                                .into_iter()
                                .map(|(question, id, answers, impossible)| {
                                    let answers: Vec<Value> = answers
                                        .into_iter()
                                        .map(|(at, len, shift, odd_start, made_up, from_context)| {
                                            let start = at.index(chars.len() + 1);
                                            let end = (start + len).min(chars.len());
                                            let text: String = if from_context {
                                                chars[start..end].iter().collect()
                                            } else {
                                                made_up
                                            };
                                            let answer_start = odd_start.unwrap_or(start as i64 + shift);
                                            serde_json::json!({"text": text, "answer_start": answer_start})
                                        })
                                        .collect();
                                    let mut qa = serde_json::json!({"question": question, "answers": answers});
                                    if !id.is_null() {
                                        qa["id"] = id;
                                    }
                                    if let Some(i) = impossible {
                                        qa["is_impossible"] = Value::from(i);
                                    }
                                    qa
                                })
                                .collect();
                            serde_json::json!({"context": context, "qas": qas})
                        })
                        .collect();
                    serde_json::json!({"title": "t", "paragraphs": paragraphs})
                })
                .collect();
            serde_json::json!({"data": data})
        })
    }

    /// Answers of the kept questions whose `answer_start` does not point at their text,
    /// counted independently of `parse_squad`.
    fn misplaced_answers(doc: &Value) -> usize {
        let mut seen = HashSet::new();
        let mut bad = 0;
        for article in doc["data"].as_array().unwrap() {
            for p in article["paragraphs"].as_array().unwrap() {
                let context = p["context"].as_str().unwrap();
                for qa in p["qas"].as_array().unwrap() {
                    let question = qa["question"].as_str().unwrap();
                    if qa["is_impossible"] == Value::Bool(true) || question.trim().is_empty() || !seen.insert(question)
                    {
                        continue;
                    }
                    for a in qa["answers"].as_array().unwrap() {
                        let text = a["text"].as_str().unwrap();
                        let start = a["answer_start"].as_i64().unwrap();
                        let at = usize::try_from(start).ok().filter(|&c| c <= context.chars().count());
                        let rest: Option<String> = at.map(|c| context.chars().skip(c).collect());
                        if !text.is_empty() && !rest.is_some_and(|r| r.starts_with(text)) {
                            bad += 1;
                        }
                    }
                }
            }
        }
        bad
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::test_support::fuzz_cases(256)))]

        /// Structured SQuAD files: never a panic, every answer offset on a char boundary
        /// inside its context, every misplaced `answer_start` counted and listed (none
        /// silently), and only answers found at their offset give spans.
        #[test]
        fn structured_squad_never_panics_and_counts_every_bad_offset(doc in squad_doc(), limit in prop::option::of(0usize..5)) {
            let set = parse_squad(&doc.to_string(), limit, "fr").unwrap();
            if limit.is_none() {
                let bad = misplaced_answers(&doc);
                prop_assert_eq!(set.stats.fixed_offsets + set.stats.unmatched_answers, bad);
                prop_assert_eq!(set.bad_answers.len(), bad);
                prop_assert_eq!(set.bad_answer_summary().is_some(), bad > 0);
            }
            let texts: HashMap<&str, &str> = set.docs.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
            for q in &set.queries {
                let ctx = texts[q.doc_id.as_str()];
                for (_, b) in &q.answers {
                    prop_assert!(*b <= ctx.len() && ctx.is_char_boundary(*b));
                }
            }
            for q in set.to_query_set().queries {
                for span in &q.answer_spans {
                    let ctx = texts[span.article.as_str()];
                    prop_assert!(ctx.get(span.start..span.end).is_some_and(|t| q.answers.iter().any(|a| a == t)));
                }
            }
        }

        /// Files of arbitrary bytes: both readers return a value or an [`Error::Parse`] that
        /// names the file, never a panic.
        #[test]
        fn reading_arbitrary_files_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let t = tempfile::tempdir().unwrap();
            let path = t.path().join("q.json");
            std::fs::write(&path, &bytes).unwrap();
            match read_jsonl(&path) {
                Ok(set) => prop_assert!(std::str::from_utf8(&bytes).is_ok() && set.problems.iter().all(|p| p.line >= 1)),
                Err(Error::Parse { path: p, .. }) => prop_assert_eq!(p, path.clone()),
                Err(e) => prop_assert!(false, "unexpected error {}", e),
            }
            match read_squad(&path, None, "en") {
                Ok(_) => {}
                Err(Error::Parse { path: p, .. }) => prop_assert_eq!(p, path.clone()),
                Err(e) => prop_assert!(false, "unexpected error {}", e),
            }
        }

        /// Query lines whose fields hold values of every JSON type: each line that is not
        /// blank or a comment becomes a query or a numbered problem.
        #[test]
        fn query_lines_of_any_field_types(lines in prop::collection::vec(prop::collection::vec((
            prop::sample::select(vec!["id", "query", "lang", "relevant", "answers", "note"]),
            prop_oneof![
                Just(Value::Null), any::<bool>().prop_map(Value::from), any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
                "[a-zé ]{0,5}".prop_map(Value::from),
                prop::collection::vec("[a-z]{0,3}", 0..3).prop_map(Value::from),
                prop::collection::btree_map("[a-z]{1,3}", -2i64..3, 0..3).prop_map(|m| serde_json::json!(m)),
            ],
        ), 0..6), 0..8)) {
            let text: Vec<String> = lines
                .iter()
                .map(|fields| Value::Object(fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()).to_string())
                .collect();
            let set = parse_jsonl(&text.join("\n"));
            prop_assert_eq!(set.queries.len() + set.problems.len(), lines.len());
            for q in &set.queries {
                prop_assert!(!q.id.is_empty() && !q.text.trim().is_empty());
            }
        }
    }

    #[test]
    fn bad_answer_starts_are_counted_and_summarised() {
        // Answers: right; one character late; past the end; negative; huge and absent from
        // the context; a byte offset where a character offset was due ("é" is two bytes).
        let doc = serde_json::json!({"data": [{"title": "t", "paragraphs": [{
        "context": "Été : le vélo gagne Lyon.",
        "qas": [
            {"id": "ok", "question": "Quoi ?", "answers": [{"text": "vélo", "answer_start": 9}]},
            {"id": "late", "question": "Où ?", "answers": [{"text": "Lyon", "answer_start": 21}]},
            {"id": "past", "question": "Quand ?", "answers": [{"text": "Été", "answer_start": 1000}]},
            {"id": "neg", "question": "Qui ?", "answers": [{"text": "gagne", "answer_start": -4}]},
            {"id": "huge", "question": "Combien ?", "answers": [{"text": "Paris", "answer_start": i64::MAX}]},
            {"id": "bytes", "question": "Comment ?", "answers": [{"text": "le", "answer_start": 8}]},
        ]}]}]});
        let set = parse_squad(&doc.to_string(), None, "fr").unwrap();
        assert_eq!(set.stats.answers, 6);
        assert_eq!((set.stats.fixed_offsets, set.stats.unmatched_answers), (4, 1));
        assert_eq!(set.bad_answers.len(), 5, "{:?}", set.bad_answers);
        assert!(set.problems.is_empty(), "{:?}", set.problems);
        let summary = set.bad_answer_summary().unwrap();
        assert!(
            summary.starts_with("5 of 6 answers are not at their answer_start (4 moved"),
            "{summary}"
        );
        assert!(summary.contains("1 not in their context"), "{summary}");
        assert!(
            summary.ends_with(&format!("first: {}", set.bad_answers[0])),
            "{summary}"
        );
        assert!(set.bad_answers[0].contains("question late"), "{summary}");
        // Moved answers give spans at their text; the absent one gives none.
        let ctx = set.docs[0].text.as_str();
        for q in set.to_query_set().queries {
            let spans: Vec<&str> = q.answer_spans.iter().map(|s| &ctx[s.start..s.end]).collect();
            let expected: Vec<&str> = if q.id == "huge" {
                vec![]
            } else {
                vec![q.answers[0].as_str()]
            };
            assert_eq!(spans, expected, "{}", q.id);
        }
        // A clean file has no summary.
        let clean = parse_squad(
            SMALL_SQUAD
                .replace(
                    r#"{"text": "absent", "answer_start": 1}"#,
                    r#"{"text": "Third", "answer_start": 0}"#,
                )
                .as_str(),
            None,
            "fr",
        )
        .unwrap();
        assert!(clean.bad_answer_summary().is_none(), "{:?}", clean.bad_answers);
    }

    const SMALL_SQUAD: &str = r#"{"version": "x", "data": [
      {"title": "Été", "paragraphs": [
        {"context": "L'été à Paris, 100 000 visiteurs.", "qas": [
          {"id": "a", "question": "Combien de visiteurs ?", "answers": [
            {"text": "100 000", "answer_start": 15}, {"text": "100 000", "answer_start": 15}]},
          {"id": "b", "question": "Où ?", "answers": [{"text": "Paris", "answer_start": 8}]}
        ]},
        {"context": "Second paragraph.", "qas": []}
      ]},
      {"title": "Other", "paragraphs": [
        {"context": "L'été à Paris, 100 000 visiteurs.", "qas": [
          {"id": "c", "question": "Quelle saison ?", "answers": [{"text": "été", "answer_start": 2}]}
        ]},
        {"context": "Third.", "qas": [
          {"id": "d", "question": "Combien de visiteurs ?", "answers": [{"text": "Third", "answer_start": 0}]},
          {"id": "e", "question": "Impossible ?", "answers": [], "is_impossible": true},
          {"id": 5, "question": "Missing?", "answers": [{"text": "absent", "answer_start": 1}]}
        ]}
      ]},
      {"title": "Last", "paragraphs": [{"context": "Last.", "qas": [
          {"id": "a", "question": "Last?", "answers": [{"text": "Last", "answer_start": 0}]}]}]}
    ]}"#;

    #[test]
    fn squad_dedups_contexts_and_questions() {
        let set = parse_squad(SMALL_SQUAD, None, "fr").unwrap();
        let docs: Vec<(&str, &str)> = set.docs.iter().map(|d| (d.id.as_str(), d.title.as_str())).collect();
        // The shared context keeps the title of its first article.
        assert_eq!(docs, [("c0", "Été"), ("c1", "Été"), ("c2", "Other"), ("c3", "Last")]);
        let qs: Vec<(&str, &str)> = set.queries.iter().map(|q| (q.id.as_str(), q.doc_id.as_str())).collect();
        // "d" repeats the text of "a" on another context: dropped. "e" is impossible.
        assert_eq!(qs, [("a", "c0"), ("b", "c0"), ("c", "c0"), ("5", "c2"), ("a~2", "c3")]);
        assert!(set.queries.iter().all(|q| q.lang == "fr"));
        // "100 000" starts at character 15 = byte 18 (é, é, à take two bytes); the repeat is dropped.
        let ctx = &set.docs[0].text;
        assert_eq!(set.queries[0].answers, [("100 000".to_string(), 18)]);
        assert!(ctx[18..].starts_with("100 000"));
        assert_eq!(set.queries[1].answers, [("Paris".to_string(), 11)]);
        assert_eq!(set.queries[2].answers, [("été".to_string(), 2)]);
        // "absent" does not occur: kept, flagged.
        assert_eq!(set.queries[3].answers.len(), 1);
        assert_eq!(
            set.stats,
            SquadStats {
                articles: 3,
                paragraphs: 5,
                contexts: 4,
                questions: 7,
                unique_questions: 5,
                duplicate_questions: 1,
                skipped_questions: 1,
                answers: 6,
                fixed_offsets: 0,
                unmatched_answers: 1,
            }
        );
        assert_eq!(set.problems.len(), 2, "{:?}", set.problems);
        assert!(set.problems[0].contains("question d repeats the text of question a"));
        assert_eq!(set.bad_answers.len(), 1, "{:?}", set.bad_answers);
        assert!(
            set.bad_answers[0].contains("\"absent\" does not occur"),
            "{:?}",
            set.bad_answers
        );

        let qset = set.to_query_set();
        assert_eq!(qset.queries[0].relevant, BTreeMap::from([("c0".to_string(), 1)]));
        assert_eq!(qset.queries[0].answers, ["100 000"]);
        assert_eq!(qset.queries[0].lang.as_deref(), Some("fr"));
        // Spans carry the byte offsets into the context, for chunk-level evaluation.
        let doc = set.docs.iter().find(|d| d.id == "c0").unwrap();
        for span in &qset.queries[0].answer_spans {
            assert_eq!(span.article, "c0");
            assert_eq!(&doc.text[span.start..span.end], "100 000");
        }
        assert!(!qset.queries[0].answer_spans.is_empty());
    }

    #[test]
    fn squad_fixes_shifted_offsets() {
        // The answer is at character 4, the file says 5 (PIAF has such off-by-one starts).
        let text = r#"{"data": [{"title": "t", "paragraphs": [{"context": "Ça, sa voiture; sa voiture",
            "qas": [{"id": "x", "question": "Quoi ?", "answers": [{"text": "sa voiture", "answer_start": 5}]}]}]}]}"#;
        let set = parse_squad(text, None, "fr").unwrap();
        // "Ç" is 2 bytes, so character 4 is byte 5; the other occurrence (byte 17) is farther.
        assert_eq!(set.queries[0].answers, [("sa voiture".to_string(), 5)]);
        assert_eq!(set.stats.fixed_offsets, 1);
        assert!(
            set.bad_answers[0].contains("not at character 5"),
            "{:?}",
            set.bad_answers
        );
        assert!(
            set.bad_answers[0].contains("using character 4"),
            "{:?}",
            set.bad_answers
        );
        assert!(set.problems.is_empty(), "{:?}", set.problems);
    }

    #[test]
    fn squad_limit_keeps_whole_articles() {
        let set = parse_squad(SMALL_SQUAD, Some(2), "en").unwrap();
        assert_eq!(set.queries.len(), 2);
        // Both kept questions come from article 0: its two paragraphs only.
        let ids: Vec<&str> = set.docs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["c0", "c1"]);
        let set = parse_squad(SMALL_SQUAD, Some(4), "en").unwrap();
        let ids: Vec<&str> = set.docs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["c0", "c1", "c2"]);
        // Whole-file stats do not depend on the limit; problems only concern kept queries.
        assert_eq!(set.stats.unique_questions, 5);
        let set = parse_squad(SMALL_SQUAD, Some(0), "en").unwrap();
        assert!(set.queries.is_empty() && set.docs.is_empty() && set.problems.is_empty());
    }

    #[test]
    fn squad_rejects_other_json() {
        assert!(parse_squad("{}", None, "en").unwrap_err().starts_with("not SQuAD JSON"));
        assert!(parse_squad("[1, 2]", None, "en").is_err());
        assert!(parse_squad(r#"{"data": [{"paragraphs": [{"qas": []}]}]}"#, None, "en").is_err());
        let err = read_squad("/nonexistent/squad.json", None, "en").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/squad.json"), "{err}");
    }

    /// A file of the shared dev sets: under `SOURCIER_SHARED`, else `../shared` beside the
    /// checkout, else `/work/shared`. Missing, the test fails and says where it looked: a
    /// dev-set test that passed without its data would prove nothing. The tests that read
    /// it are `#[ignore]`d so a checkout without the data stays green; `.ci/run` runs them.
    fn shared(rel: &str) -> String {
        let roots: Vec<std::path::PathBuf> = std::env::var_os("SOURCIER_SHARED")
            .map(std::path::PathBuf::from)
            .into_iter()
            .chain([
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
                "/work/shared".into(),
            ])
            .collect();
        let found = roots.iter().map(|r| r.join(rel)).find(|p| p.is_file());
        let p =
            found.unwrap_or_else(|| panic!("{rel} is in none of {roots:?}: set SOURCIER_SHARED to the shared folder"));
        p.to_string_lossy().into_owned()
    }

    /// Every kept answer either sits at its offset or was reported as missing.
    fn check_offsets(set: &SquadSet) {
        let text_of: HashMap<&str, &str> = set.docs.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
        let mut misplaced = 0;
        for q in &set.queries {
            let ctx = text_of[q.doc_id.as_str()];
            for (a, b) in &q.answers {
                if !ctx.get(*b..).is_some_and(|rest| rest.starts_with(a.as_str())) {
                    misplaced += 1;
                }
            }
        }
        assert_eq!(misplaced, set.stats.unmatched_answers);
    }

    #[test]
    #[ignore = "reads the PIAF dev set from the shared folder; .ci/run runs it"]
    fn piaf_file() {
        let piaf = shared("eval/piaf/piaf-v1.0.json");
        let piaf = piaf.as_str();
        let set = read_squad(piaf, None, "fr").unwrap();
        let s = set.stats;
        assert_eq!((s.articles, s.paragraphs, s.contexts), (191, 761, 761));
        assert_eq!(
            (s.questions, s.unique_questions, s.duplicate_questions),
            (3835, 3812, 23)
        );
        assert_eq!((set.docs.len(), set.queries.len()), (761, 3812));
        assert_eq!(s.unmatched_answers, 0);
        // The file has 2 answers one character off, both on one question asked twice on the
        // same paragraph: only the kept copy is fixed.
        assert_eq!(s.fixed_offsets, 1, "{:?}", set.bad_answers);
        assert_eq!(set.bad_answers.len(), 1, "{:?}", set.bad_answers);
        // 3 questions repeated on another paragraph.
        assert_eq!(set.problems.len(), 3, "{:?}", set.problems);
        check_offsets(&set);

        let small = read_squad(piaf, Some(10), "fr").unwrap();
        assert_eq!(small.queries.len(), 10);
        let doc_ids: HashSet<&str> = small.docs.iter().map(|d| d.id.as_str()).collect();
        assert!(small.queries.iter().all(|q| doc_ids.contains(q.doc_id.as_str())));
        assert!(small.docs.len() < set.docs.len());
    }

    #[test]
    #[ignore = "reads the XQuAD dev set from the shared folder; .ci/run runs it"]
    fn xquad_en_file() {
        let xquad = shared("eval/xquad_en/xquad.en.json");
        let xquad = xquad.as_str();
        let set = read_squad(xquad, None, "en").unwrap();
        let s = set.stats;
        assert_eq!((s.articles, s.paragraphs, s.contexts), (48, 240, 240));
        assert_eq!(
            (s.questions, s.unique_questions, s.duplicate_questions),
            (1190, 1187, 3)
        );
        assert_eq!((set.docs.len(), set.queries.len()), (240, 1187));
        assert_eq!((s.fixed_offsets, s.unmatched_answers), (0, 0));
        assert!(
            set.problems.is_empty() && set.bad_answers.is_empty(),
            "{:?}",
            set.problems
        );
        check_offsets(&set);
        assert!(set.queries.iter().all(|q| q.lang == "en" && q.answers.len() == 1));

        let small = read_squad(xquad, Some(10), "en").unwrap();
        assert_eq!(small.queries.len(), 10);
        let doc_ids: HashSet<&str> = small.docs.iter().map(|d| d.id.as_str()).collect();
        assert!(small.queries.iter().all(|q| doc_ids.contains(q.doc_id.as_str())));
    }
}
