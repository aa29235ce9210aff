//! Runs a query set against an index in one or more retrieval modes and aggregates the
//! metrics, latencies and (optionally) answer quality into one report.
//!
//! Retrieval is scored at article level: the ranked chunks are mapped to their articles, and
//! an article counts at its first (best) chunk, as BEIR scores documents.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::input::Query;
use super::metrics::{self, AbstentionCounts, RetrievalScores, Summary, SummaryReport};
use crate::answer::{self, AnswerOptions};
use crate::embed::Embedder;
use crate::library::Library;
use crate::progress::Progress;
use crate::retrieve::{self, Filters, Mode};
use crate::Result;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub modes: Vec<Mode>,
    /// Chunks retrieved per query; articles are ranked from them.
    pub depth: usize,
    /// Also run the extractive answerer and score answers, citations and abstentions.
    pub answers: bool,
    /// Prefix to strip from article ids before comparing with qrels (SQuAD corpora).
    pub id_prefix: String,
}

/// One query in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    pub id: String,
    pub lang: Option<String>,
    pub mode: Mode,
    pub ranked: Vec<String>,
    pub scores: Option<RetrievalScores>,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<AnswerResult>,
}

/// How an answer fared.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerResult {
    pub text: String,
    pub abstained: bool,
    pub confidence: f32,
    /// Whether a gold answer string appears in the answer; `None` without gold answers.
    pub hit: Option<bool>,
    pub citation_precision: Option<f64>,
    pub cited: Vec<String>,
}

/// Aggregates of one mode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    pub mode: Mode,
    pub retrieval: SummaryReport,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answers: Option<AnswerReport>,
}

/// Answer-quality aggregates of one mode.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerReport {
    /// Answerable questions with gold strings whose answer contains one.
    pub hit_rate: Option<f64>,
    pub hit_count: usize,
    pub hit_total: usize,
    pub citation_precision: Option<f64>,
    pub abstention: AbstentionCounts,
    pub abstention_accuracy: Option<f64>,
    pub false_abstention_rate: Option<f64>,
    pub answer_p50_ms: Option<f64>,
}

/// A whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub embedder: String,
    pub embedder_fingerprint: String,
    pub index: String,
    pub queries: usize,
    pub depth: usize,
    pub modes: Vec<ModeReport>,
    pub per_query: Vec<QueryResult>,
    pub seconds: f64,
}

/// Evaluates `queries` against `lib` in every requested mode.
pub fn run(
    lib: &mut Library,
    embedder: &dyn Embedder,
    queries: &[Query],
    opts: &EvalOptions,
    progress: &dyn Progress,
) -> Result<EvalReport> {
    let t0 = Instant::now();
    // Load both derived indexes before timing anything.
    lib.vectors(progress)?;
    lib.lexical(progress)?;
    let mut per_query = Vec::new();
    let mut modes = Vec::new();
    progress.start("evaluating", Some((queries.len() * opts.modes.len()) as u64));
    for &mode in &opts.modes {
        let mut summary = Summary::new();
        let mut lat = Vec::new();
        let mut answer_lat = Vec::new();
        let (mut hits, mut hit_total) = (0usize, 0usize);
        let mut cit = Vec::new();
        let mut abst = AbstentionCounts::default();
        for q in queries {
            let t = Instant::now();
            let r = retrieve::retrieve(lib, embedder, &q.text, opts.depth, &Filters::default(), mode)?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            let ranked: Vec<String> = dedup(r.hits.iter().map(|h| strip(&h.article_id, &opts.id_prefix)));
            let scores = summary.add_ranking(q.lang.as_deref(), &ranked, &q.relevant);
            let answer = if opts.answers {
                let ta = Instant::now();
                let a = answer::extractive(embedder, &q.text, &r.query_vector, &r.hits, &AnswerOptions::default())?;
                answer_lat.push(ta.elapsed().as_secs_f64() * 1e3);
                let cited: Vec<String> = dedup(a.citations.iter().map(|c| strip(&c.article_id, &opts.id_prefix)));
                let answerable = q.is_answerable();
                abst.record(answerable, a.abstained);
                let hit = (answerable && !q.answers.is_empty()).then(|| metrics::answer_hit(&a.text, &q.answers));
                if let Some(h) = hit {
                    hit_total += 1;
                    hits += usize::from(h);
                }
                let cp = if answerable { metrics::citation_precision(&cited, &q.relevant) } else { None };
                cit.extend(cp);
                Some(AnswerResult {
                    text: a.text,
                    abstained: a.abstained,
                    confidence: a.confidence,
                    hit,
                    citation_precision: cp,
                    cited,
                })
            } else {
                None
            };
            per_query.push(QueryResult {
                id: q.id.clone(),
                lang: q.lang.clone(),
                mode,
                ranked: ranked.into_iter().take(10).collect(),
                scores,
                latency_ms: *lat.last().expect("pushed above"),
                answer,
            });
            progress.inc(1);
        }
        let answers = opts.answers.then(|| AnswerReport {
            hit_rate: (hit_total > 0).then(|| hits as f64 / hit_total as f64),
            hit_count: hits,
            hit_total,
            citation_precision: (!cit.is_empty()).then(|| cit.iter().sum::<f64>() / cit.len() as f64),
            abstention_accuracy: abst.accuracy(),
            false_abstention_rate: abst.false_abstention_rate(),
            abstention: abst,
            answer_p50_ms: metrics::percentile(&answer_lat, 50.0),
        });
        modes.push(ModeReport {
            mode,
            retrieval: summary.report(),
            latency_p50_ms: metrics::percentile(&lat, 50.0),
            latency_p95_ms: metrics::percentile(&lat, 95.0),
            answers,
        });
    }
    progress.finish();
    Ok(EvalReport {
        embedder: embedder.name(),
        embedder_fingerprint: embedder.fingerprint(),
        index: lib.dir.display().to_string(),
        queries: queries.len(),
        depth: opts.depth,
        modes,
        per_query,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn strip(id: &str, prefix: &str) -> String {
    id.strip_prefix(prefix).unwrap_or(id).to_string()
}

fn dedup(ids: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    ids.filter(|i| seen.insert(i.clone())).collect()
}

/// Renders the side-by-side table of a report.
pub fn table(report: &EvalReport) -> String {
    let mut out = String::new();
    let f = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
    out.push_str(&format!(
        "{:<8} {:<5} {:>5} {:>6} {:>6} {:>6} {:>6} {:>7} {:>8} {:>7} {:>7}\n",
        "mode", "lang", "n", "R@1", "R@3", "R@5", "R@10", "MRR@10", "nDCG@10", "p50ms", "p95ms"
    ));
    for m in &report.modes {
        let mut groups: Vec<(String, &metrics::GroupReport)> = vec![("all".into(), &m.retrieval.overall)];
        let by: BTreeMap<_, _> = m.retrieval.by_lang.iter().collect();
        if by.len() > 1 {
            groups.extend(by.into_iter().map(|(l, g)| (l.clone(), g)));
        }
        for (lang, g) in groups {
            let s = g.mean.as_ref();
            out.push_str(&format!(
                "{:<8} {:<5} {:>5} {:>6} {:>6} {:>6} {:>6} {:>7} {:>8} {:>7} {:>7}\n",
                m.mode.as_str(),
                lang,
                g.included,
                f(s.map(|s| s.recall_at_1)),
                f(s.map(|s| s.recall_at_3)),
                f(s.map(|s| s.recall_at_5)),
                f(s.map(|s| s.recall_at_10)),
                f(s.map(|s| s.mrr_at_10)),
                f(s.map(|s| s.ndcg_at_10)),
                if lang == "all" { format!("{:.0}", m.latency_p50_ms.unwrap_or(0.0)) } else { String::new() },
                if lang == "all" { format!("{:.0}", m.latency_p95_ms.unwrap_or(0.0)) } else { String::new() },
            ));
        }
    }
    if report.modes.iter().any(|m| m.answers.is_some()) {
        out.push_str(&format!(
            "\n{:<8} {:>12} {:>10} {:>11} {:>12} {:>10} {:>9}\n",
            "mode", "answer hit", "cit.prec", "abst.acc", "abstained", "false abst", "ans p50"
        ));
        for m in &report.modes {
            if let Some(a) = &m.answers {
                out.push_str(&format!(
                    "{:<8} {:>12} {:>10} {:>11} {:>12} {:>10} {:>9}\n",
                    m.mode.as_str(),
                    format!("{}/{} {}", a.hit_count, a.hit_total, f(a.hit_rate)),
                    f(a.citation_precision),
                    f(a.abstention_accuracy),
                    format!("{}/{}", a.abstention.abstained_on_unanswerable, a.abstention.unanswerable),
                    format!("{}/{}", a.abstention.abstained_on_answerable, a.abstention.answerable),
                    format!("{:.0}ms", a.answer_p50_ms.unwrap_or(0.0)),
                ));
            }
        }
    }
    out
}
