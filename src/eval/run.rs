//! Runs a query set against an index in one or more retrieval modes and aggregates the
//! metrics, latencies and (optionally) answer quality into one report.
//!
//! Retrieval is scored at article level by default: the ranked chunks are mapped to their
//! articles, and an article counts at its first (best) chunk, as BEIR scores documents.
//! At chunk level the ranked chunks are scored themselves: a chunk is relevant when it
//! overlaps a gold answer span (SQuAD), or, for JSONL queries that carry answer strings, when
//! it belongs to a relevant article and contains one of them. That tells whether the passage
//! `ask` would read holds the answer, which article level cannot.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use serde::Serialize;

use super::input::Query;
use super::metrics::{self, AbstentionCounts, RetrievalScores, Summary, SummaryReport};
use crate::Result;
use crate::answer::{self, AnswerOptions};
use crate::backend::SearchBackend;
use crate::embed::Embedder;
use crate::progress::Progress;
use crate::retrieve::{self, Filters, Mode};
use crate::store::ChunkRow;

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
    /// What a ranked item is: an article or a chunk.
    pub level: Level,
    /// Score only the questions of one half (by position in the file), for honest tuning.
    pub split: Option<Split>,
    /// Write every candidate answer sentence's features and label here (JSONL), to train the
    /// answer scorer (`examples/train_answer_scorer.rs`); with, for those the reader read, its
    /// margin (`m`), its span's text and F1, and the final score that ranked them (`score`).
    pub dump_answer_features: Option<std::path::PathBuf>,
    /// Write each answerable question's answerability inputs here (JSONL): the passages read
    /// and the scored candidates, once as retrieved and once with its relevant articles taken
    /// out of the hits (on-topic but unanswerable), for `examples/train_answerability.rs`.
    /// Answers of such a run do not use the shipped answerability model, so the dump shows
    /// the other rules alone.
    pub dump_answerability: Option<std::path::PathBuf>,
}

/// Part of a query file, by position: tune on one part, report another. Besides the two
/// halves, `R/M` keeps the questions numbered R modulo M (`3/8`: an eighth), for costly runs,
/// and `R,S/M` those numbered R or S modulo M (`1,3/8`: a tuning eighth and a reporting
/// eighth in one run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Split {
    Even,
    Odd,
    /// Bit R of `rests` keeps the questions numbered R modulo `modulus` (at most 64).
    Modulo {
        rests: u64,
        modulus: usize,
    },
}

impl Split {
    pub fn keeps(self, index: usize) -> bool {
        match self {
            Split::Even => index.is_multiple_of(2),
            Split::Odd => !index.is_multiple_of(2),
            Split::Modulo { rests, modulus } => rests >> (index % modulus) & 1 == 1,
        }
    }
}

impl From<Split> for String {
    fn from(s: Split) -> String {
        match s {
            Split::Even => "even".into(),
            Split::Odd => "odd".into(),
            Split::Modulo { rests, modulus } => {
                let r: Vec<String> = (0..modulus)
                    .filter(|r| rests >> r & 1 == 1)
                    .map(|r| r.to_string())
                    .collect();
                format!("{}/{modulus}", r.join(","))
            }
        }
    }
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Split, String> {
        let bad = || format!("`{s}` is not a split: use even, odd, R/M (the questions numbered R modulo M) or R,S/M");
        match s {
            "even" => Ok(Split::Even),
            "odd" => Ok(Split::Odd),
            _ => {
                let (r, m) = s.split_once('/').ok_or_else(bad)?;
                let modulus: usize = m.trim().parse().map_err(|_| bad())?;
                if modulus == 0 || modulus > 64 {
                    return Err(bad());
                }
                let mut rests = 0u64;
                for r in r.split(',') {
                    let r: usize = r.trim().parse().map_err(|_| bad())?;
                    if r >= modulus {
                        return Err(bad());
                    }
                    rests |= 1 << r;
                }
                Ok(Split::Modulo { rests, modulus })
            }
        }
    }
}

/// The unit that retrieval is judged on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Article,
    Chunk,
}

/// How the chunk-level judgements were obtained, over the answerable queries.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChunkJudgements {
    /// Judged from answer byte spans (SQuAD).
    pub from_spans: usize,
    /// Judged from answer strings found in the relevant articles' chunks (JSONL).
    pub from_strings: usize,
    /// Answerable, but no indexed chunk holds the answer (it sits in text that ingest dropped,
    /// or the answer string does not occur verbatim). Scored as misses, not left out.
    pub unreachable: usize,
    /// Answerable, but without answer strings or spans: cannot be judged at chunk level and
    /// is left out of the means.
    pub unjudged: usize,
    /// Mean number of chunks that hold one article's answer (overlapping chunks share it).
    pub mean_relevant_chunks: Option<f64>,
}

/// One query in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    pub id: String,
    /// Position of the question in the query file (what `--split` goes by).
    pub index: usize,
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
    /// Whether it appears in the answer's first sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_sentence_hit: Option<bool>,
    /// Whether a relevant article was among the passages the answerer read.
    pub gold_read: bool,
    /// The scorer's score of the first answer sentence (none when it abstained), to study
    /// abstention thresholds from a report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_score: Option<f32>,
    /// The answer reader's best margin over the sentences it read, to study its abstention
    /// threshold from a report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answerability: Option<f32>,
    /// The fact marked in the first sentence, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fact: Option<String>,
    /// SQuAD F1 and exact match of the fact (or of the first sentence when no fact is marked)
    /// against the gold answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_f1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_exact: Option<bool>,
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
    /// Hit rate among the answerable questions whose relevant article was among the passages
    /// read: the reader's accuracy apart from retrieval's misses.
    pub reader_accuracy: Option<f64>,
    pub reader_count: usize,
    pub reader_total: usize,
    /// Hit rate of the first answer sentence alone.
    pub first_sentence_hit_rate: Option<f64>,
    /// Mean SQuAD F1 and exact match of the marked fact (the first sentence when none is
    /// marked) over answerable questions with gold strings; abstentions score 0.
    pub span_f1: Option<f64>,
    pub span_exact: Option<f64>,
    /// Questions with a fact marked, of those answered.
    pub facts_marked: usize,
    /// Hit rate and count per question language.
    pub per_lang: BTreeMap<String, LangAnswers>,
}

/// Answer hits of one language.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LangAnswers {
    pub hit_count: usize,
    pub hit_total: usize,
    pub hit_rate: Option<f64>,
    pub false_abstentions: usize,
}

/// A whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub embedder: String,
    pub embedder_fingerprint: String,
    pub index: String,
    pub queries: usize,
    pub depth: usize,
    pub level: Level,
    /// Weight of the lexical list in hybrid fusion (dense counts 1).
    pub lexical_weight: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_judgements: Option<ChunkJudgements>,
    pub modes: Vec<ModeReport>,
    pub per_query: Vec<QueryResult>,
    pub seconds: f64,
}

/// Evaluates `queries` against `lib` in every requested mode.
pub fn run(
    lib: &dyn SearchBackend,
    embedder: &dyn Embedder,
    queries: &[Query],
    opts: &EvalOptions,
    progress: &dyn Progress,
) -> Result<EvalReport> {
    let t0 = Instant::now();
    crate::backend::check_embedder(lib.manifest(), &lib.location(), embedder)?;
    // Load both derived indexes before timing anything.
    lib.warm(progress)?;
    let (judgements, chunk_judgements) = match opts.level {
        Level::Article => (Vec::new(), None),
        Level::Chunk => {
            let (q, j) = chunk_qrels(queries, &opts.id_prefix, |id| lib.article_chunks(id))?;
            (q, Some(j))
        }
    };
    // Articles are ranked from more chunks than are scored, so that ten distinct articles are
    // usually there to score even when several chunks share one.
    let fetch = match opts.level {
        Level::Article => opts.depth * 3,
        Level::Chunk => opts.depth,
    };
    let mut per_query = Vec::new();
    let mut modes = Vec::new();
    let mut dump = match &opts.dump_answer_features {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(crate::Error::io("creating", p))?,
        )),
        None => None,
    };
    let mut dump_ab = match &opts.dump_answerability {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(crate::Error::io("creating", p))?,
        )),
        None => None,
    };
    progress.start("evaluating", Some((queries.len() * opts.modes.len()) as u64));
    for &mode in &opts.modes {
        let mut summary = Summary::new();
        let mut lat = Vec::new();
        let mut answer_lat = Vec::new();
        let (mut hits, mut hit_total) = (0usize, 0usize);
        let mut cit = Vec::new();
        let mut abst = AbstentionCounts::default();
        let (mut reader, mut reader_total, mut first_hits, mut facts) = (0usize, 0usize, 0usize, 0usize);
        let (mut f1_sum, mut em_sum) = (0f64, 0f64);
        let mut per_lang: BTreeMap<String, LangAnswers> = BTreeMap::new();
        for (i, q) in queries.iter().enumerate() {
            if opts.split.is_some_and(|s| !s.keeps(i)) {
                continue;
            }
            let t = Instant::now();
            let r = retrieve::retrieve(lib, embedder, &q.text, fetch, &Filters::default(), mode)?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            let (ranked, qrels) = match opts.level {
                Level::Article => (
                    dedup(r.hits.iter().map(|h| strip(&h.article_id, &opts.id_prefix))),
                    &q.relevant,
                ),
                Level::Chunk => {
                    let j = &judgements[i];
                    (
                        j.rank(
                            r.hits
                                .iter()
                                .map(|h| chunk_key(&strip(&h.article_id, &opts.id_prefix), h.chunk_id)),
                        ),
                        &j.qrels,
                    )
                }
            };
            let ranked: Vec<String> = ranked.into_iter().take(opts.depth).collect();
            let scores = summary.add_ranking(q.lang.as_deref(), &ranked, qrels);
            let answer = if opts.answers {
                let ta = Instant::now();
                let aopts = AnswerOptions {
                    answerability: opts.dump_answerability.is_none(),
                    ..AnswerOptions::default()
                };
                let mut seen = Vec::new();
                let a = answer::extractive_seen(
                    embedder,
                    lib.sentence_cache(),
                    &q.text,
                    &r.query_vector,
                    &r.hits,
                    &aopts,
                    Some(&mut seen),
                )?;
                answer_lat.push(ta.elapsed().as_secs_f64() * 1e3);
                let gold_read = r
                    .hits
                    .iter()
                    .take(aopts.passages)
                    .any(|h| q.relevant.contains_key(&strip(&h.article_id, &opts.id_prefix)));
                if let Some(w) = dump_ab.as_mut()
                    && mode == opts.modes[0]
                    && q.is_answerable()
                    && !q.answers.is_empty()
                {
                    let path = opts.dump_answerability.clone().unwrap_or_default();
                    let without: Vec<retrieve::Hit> = r
                        .hits
                        .iter()
                        .filter(|h| !q.relevant.contains_key(&strip(&h.article_id, &opts.id_prefix)))
                        .cloned()
                        .collect();
                    let mut seen_without = Vec::new();
                    let a_without = answer::extractive_seen(
                        embedder,
                        lib.sentence_cache(),
                        &q.text,
                        &r.query_vector,
                        &without,
                        &aopts,
                        Some(&mut seen_without),
                    )?;
                    for (variant, hits, a, seen) in [
                        ("kept", &r.hits, &a, &seen),
                        ("removed", &without, &a_without, &seen_without),
                    ] {
                        let cands = match seen.is_empty() {
                            false => seen.clone(),
                            true => answer::candidates(
                                embedder,
                                lib.sentence_cache(),
                                &q.text,
                                &r.query_vector,
                                hits,
                                &aopts,
                            )?,
                        };
                        let passages: Vec<answer::answerability::Passage> = hits
                            .iter()
                            .take(aopts.passages)
                            .map(answer::answerability::Passage::from_hit)
                            .collect();
                        let row = serde_json::json!({
                            "q": i,
                            "variant": variant,
                            "question": q.text,
                            "lang": answer::question_lang(&q.text),
                            "hit": metrics::answer_hit(&a.text, &q.answers),
                            "abstained": a.abstained,
                            "passages": passages,
                            "cands": cands,
                        });
                        writeln!(w, "{row}").map_err(crate::Error::io("writing", &path))?;
                    }
                }
                if let Some(w) = dump.as_mut()
                    && mode == opts.modes[0]
                    && q.is_answerable()
                    && !q.answers.is_empty()
                {
                    // The answerer's own candidates, unless it abstained before scoring any.
                    let cands = match seen.is_empty() {
                        false => seen,
                        true => answer::candidates(
                            embedder,
                            lib.sentence_cache(),
                            &q.text,
                            &r.query_vector,
                            &r.hits,
                            &aopts,
                        )?,
                    };
                    let cues = answer::span_picker::QuestionCues::new(&q.text);
                    for c in cands {
                        // What the span picker would mark instead: the whole sentence when nothing.
                        let picked = answer::span_picker::mark_fact(&c.text, &cues)
                            .and_then(|r| c.text.get(r))
                            .unwrap_or(&c.text);
                        let row = serde_json::json!({
                            "q": i,
                            "lang": q.lang,
                            "gold_read": gold_read,
                            "label": metrics::answer_hit(&c.text, &q.answers),
                            "f": c.features,
                            "m": c.reading.as_ref().map(|r| r.margin),
                            "sf1": c.reading.as_ref().map(|r| {
                                let span = r.span.clone().and_then(|s| c.text.get(s)).unwrap_or("");
                                metrics::squad_f1_em(span, &q.answers).0
                            }),
                            "pf1": metrics::squad_f1_em(picked, &q.answers).0,
                            "span": c.reading.as_ref().and_then(|r| r.span.clone()).and_then(|s| c.text.get(s)),
                            "score": c.score,
                            "text": c.text,
                        });
                        writeln!(w, "{row}").map_err(crate::Error::io("writing", dump_path(opts)))?;
                    }
                }
                let cited: Vec<String> = dedup(a.citations.iter().map(|c| strip(&c.article_id, &opts.id_prefix)));
                let answerable = q.is_answerable();
                abst.record(answerable, a.abstained);
                let hit = (answerable && !q.answers.is_empty()).then(|| metrics::answer_hit(&a.text, &q.answers));
                let first = a.sentences.first();
                let first_sentence_hit = hit.map(|_| first.is_some_and(|s| metrics::answer_hit(&s.text, &q.answers)));
                let fact = first.and_then(|s| s.fact.as_ref()).map(|f| f.text.clone());
                facts += usize::from(fact.is_some());
                let (span_f1, span_exact) = match hit {
                    Some(_) => {
                        let guess = fact.as_deref().or(first.map(|s| s.text.as_str())).unwrap_or("");
                        let (f1, em) = metrics::squad_f1_em(guess, &q.answers);
                        f1_sum += f1;
                        em_sum += f64::from(u8::from(em));
                        (Some(f1), Some(em))
                    }
                    None => (None, None),
                };
                if let Some(h) = hit {
                    hit_total += 1;
                    hits += usize::from(h);
                    first_hits += usize::from(first_sentence_hit == Some(true));
                    if gold_read {
                        reader_total += 1;
                        reader += usize::from(h);
                    }
                    let l = per_lang
                        .entry(q.lang.clone().unwrap_or_else(|| "?".into()))
                        .or_default();
                    l.hit_total += 1;
                    l.hit_count += usize::from(h);
                    l.false_abstentions += usize::from(a.abstained);
                }
                let cp = if answerable {
                    metrics::citation_precision(&cited, &q.relevant)
                } else {
                    None
                };
                cit.extend(cp);
                Some(AnswerResult {
                    text: a.text,
                    abstained: a.abstained,
                    confidence: a.confidence,
                    hit,
                    first_sentence_hit,
                    gold_read,
                    best_score: first.map(|s| s.score),
                    answerability: a.answerability,
                    fact,
                    span_f1,
                    span_exact,
                    citation_precision: cp,
                    cited,
                })
            } else {
                None
            };
            per_query.push(QueryResult {
                id: q.id.clone(),
                index: i,
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
            reader_accuracy: (reader_total > 0).then(|| reader as f64 / reader_total as f64),
            reader_count: reader,
            reader_total,
            first_sentence_hit_rate: (hit_total > 0).then(|| first_hits as f64 / hit_total as f64),
            span_f1: (hit_total > 0).then(|| f1_sum / hit_total as f64),
            span_exact: (hit_total > 0).then(|| em_sum / hit_total as f64),
            facts_marked: facts,
            per_lang: per_lang
                .into_iter()
                .map(|(k, mut v)| {
                    v.hit_rate = (v.hit_total > 0).then(|| v.hit_count as f64 / v.hit_total as f64);
                    (k, v)
                })
                .collect(),
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
    if let Some(mut w) = dump {
        w.flush().map_err(crate::Error::io("writing", dump_path(opts)))?;
    }
    if let (Some(mut w), Some(p)) = (dump_ab, &opts.dump_answerability) {
        w.flush().map_err(crate::Error::io("writing", p))?;
    }
    Ok(EvalReport {
        embedder: embedder.name(),
        embedder_fingerprint: embedder.fingerprint(),
        index: lib.location(),
        queries: (0..queries.len())
            .filter(|&i| opts.split.is_none_or(|s| s.keeps(i)))
            .count(),
        depth: opts.depth,
        level: opts.level,
        lexical_weight: retrieve::LEXICAL_WEIGHT,
        chunk_judgements,
        modes,
        per_query,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn dump_path(opts: &EvalOptions) -> std::path::PathBuf {
    opts.dump_answer_features.clone().unwrap_or_default()
}

/// How a chunk is named in chunk-level rankings.
fn chunk_key(article: &str, chunk_id: i64) -> String {
    format!("{article}#chunk{chunk_id}")
}

/// The judgement of one query at chunk level.
///
/// Sentence overlap puts an answer in one or two chunks, so the unit judged is "the answer in
/// article A", reached by any chunk that holds it (ranked at its first such chunk). Scoring
/// each chunk as its own relevant document would cap recall@1 at 0.5 whenever the answer sits
/// in the overlap, which measures the chunker, not retrieval.
#[derive(Debug, Clone, Default)]
struct ChunkJudgement {
    /// Answer unit (`{article}#answer`) → gain.
    qrels: metrics::Qrels,
    /// Chunk key → the answer unit it reaches.
    answer_chunks: std::collections::HashMap<String, String>,
}

impl ChunkJudgement {
    /// A chunk ranking as scored: chunks that hold an answer become their unit.
    fn rank(&self, chunk_keys: impl Iterator<Item = String>) -> Vec<String> {
        dedup(chunk_keys.map(|k| self.answer_chunks.get(&k).cloned().unwrap_or(k)))
    }
}

/// Chunk-level judgements for every query, in query order. Each relevant article whose chunks
/// hold an answer gives one unit with the article's gain. An answerable query whose answer no
/// chunk holds gets a unit that nothing reaches, so that it scores zero instead of vanishing
/// from the mean.
fn chunk_qrels(
    queries: &[Query],
    prefix: &str,
    mut chunks_of: impl FnMut(&str) -> Result<Vec<ChunkRow>>,
) -> Result<(Vec<ChunkJudgement>, ChunkJudgements)> {
    let mut cache: std::collections::HashMap<String, Vec<ChunkRow>> = Default::default();
    let mut j = ChunkJudgements::default();
    let mut out = Vec::with_capacity(queries.len());
    let (mut units, mut unit_chunks) = (0usize, 0usize);
    for q in queries {
        let mut judgement = ChunkJudgement::default();
        if !q.is_answerable() {
            out.push(judgement);
            continue;
        }
        if q.answer_spans.is_empty() && q.answers.is_empty() {
            j.unjudged += 1;
            out.push(judgement);
            continue;
        }
        for (article, &gain) in q.relevant.iter().filter(|&(_, &g)| g > 0) {
            let full = format!("{prefix}{article}");
            if !cache.contains_key(&full) {
                cache.insert(full.clone(), chunks_of(&full)?);
            }
            let unit = format!("{article}#answer");
            for c in &cache[&full] {
                let holds = if q.answer_spans.is_empty() {
                    metrics::answer_hit(&c.text, &q.answers)
                } else {
                    q.answer_spans
                        .iter()
                        .any(|s| &s.article == article && overlaps(c, s.start, s.end))
                };
                if holds {
                    judgement.answer_chunks.insert(chunk_key(article, c.id), unit.clone());
                    judgement.qrels.insert(unit.clone(), gain);
                }
            }
        }
        if q.answer_spans.is_empty() {
            j.from_strings += 1;
        } else {
            j.from_spans += 1;
        }
        if judgement.qrels.is_empty() {
            j.unreachable += 1;
            judgement.qrels.insert(format!("{}#unindexed-answer", q.id), 1);
        } else {
            units += judgement.qrels.len();
            unit_chunks += judgement.answer_chunks.len();
        }
        out.push(judgement);
    }
    j.mean_relevant_chunks = (units > 0).then(|| unit_chunks as f64 / units as f64);
    Ok((out, j))
}

/// Whether a chunk's byte range meets `[start, end)`; an empty span counts at its position.
fn overlaps(c: &ChunkRow, start: usize, end: usize) -> bool {
    c.start < end.max(start + 1) && start < c.end
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
                if lang == "all" {
                    format!("{:.0}", m.latency_p50_ms.unwrap_or(0.0))
                } else {
                    String::new()
                },
                if lang == "all" {
                    format!("{:.0}", m.latency_p95_ms.unwrap_or(0.0))
                } else {
                    String::new()
                },
            ));
        }
    }
    if let Some(j) = &report.chunk_judgements {
        out.push_str(&format!(
            "chunk level: {} queries judged by answer span, {} by answer string; {} whose answer no \
             chunk holds (scored 0), {} without answers (left out); {} relevant chunks per query\n",
            j.from_spans,
            j.from_strings,
            j.unreachable,
            j.unjudged,
            j.mean_relevant_chunks
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "-".into()),
        ));
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
                    format!(
                        "{}/{}",
                        a.abstention.abstained_on_unanswerable, a.abstention.unanswerable
                    ),
                    format!("{}/{}", a.abstention.abstained_on_answerable, a.abstention.answerable),
                    format!("{:.0}ms", a.answer_p50_ms.unwrap_or(0.0)),
                ));
            }
        }
        out.push_str(&format!(
            "\n{:<8} {:>16} {:>11} {:>8} {:>8} {:>7}  per language\n",
            "mode", "reader acc.", "1st sent.", "span F1", "span EM", "facts"
        ));
        for m in &report.modes {
            if let Some(a) = &m.answers {
                let langs: Vec<String> = a
                    .per_lang
                    .iter()
                    .map(|(l, v)| format!("{l} {}/{} {}", v.hit_count, v.hit_total, f(v.hit_rate)))
                    .collect();
                out.push_str(&format!(
                    "{:<8} {:>16} {:>11} {:>8} {:>8} {:>7}  {}\n",
                    m.mode.as_str(),
                    format!("{}/{} {}", a.reader_count, a.reader_total, f(a.reader_accuracy)),
                    f(a.first_sentence_hit_rate),
                    f(a.span_f1),
                    f(a.span_exact),
                    a.facts_marked,
                    langs.join(", ")
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::input::AnswerSpan;

    fn chunk(id: i64, article: &str, start: usize, end: usize, text: &str) -> ChunkRow {
        ChunkRow {
            id,
            article_id: article.into(),
            ordinal: id as u32,
            text: text.into(),
            start,
            end,
            line_start: 1,
            line_end: 1,
        }
    }

    fn query(id: &str, relevant: &[&str], answers: &[&str], spans: &[(&str, usize, usize)]) -> Query {
        Query {
            id: id.into(),
            text: "q".into(),
            lang: None,
            relevant: relevant.iter().map(|a| (a.to_string(), 1)).collect(),
            answers: answers.iter().map(|a| a.to_string()).collect(),
            answer_spans: spans
                .iter()
                .map(|&(a, start, end)| AnswerSpan {
                    article: a.into(),
                    start,
                    end,
                })
                .collect(),
        }
    }

    /// Article `p#c0`: chunks [0,50) and [40,90) overlap on one sentence; [90,120) is the end.
    fn chunks(id: &str) -> Result<Vec<ChunkRow>> {
        Ok(match id {
            "p#c0" => vec![
                chunk(1, id, 0, 50, "Le siège est à Armonk. IBM envoie 25 consultants."),
                chunk(2, id, 40, 90, "IBM envoie 25 consultants. Huawei paie."),
                chunk(3, id, 90, 120, "Fin de l'article."),
            ],
            "p#c1" => vec![chunk(4, id, 0, 30, "Rien à voir, 1983.")],
            _ => vec![],
        })
    }

    fn answer_chunks(j: &ChunkJudgement) -> Vec<String> {
        let mut v: Vec<String> = j.answer_chunks.keys().cloned().collect();
        v.sort();
        v
    }

    #[test]
    fn splits_parse_and_partition_the_questions() {
        let parts: Vec<Split> = ["even", "odd"].iter().map(|s| s.parse().unwrap()).collect();
        let eighths: Vec<Split> = (0..8).map(|r| format!("{r}/8").parse().unwrap()).collect();
        for i in 0..100 {
            assert_eq!(parts.iter().filter(|p| p.keeps(i)).count(), 1);
            assert_eq!(eighths.iter().filter(|p| p.keeps(i)).count(), 1);
        }
        assert!("3/8".parse::<Split>().unwrap().keeps(11));
        let two: Split = "1, 3/8".parse().unwrap();
        assert_eq!((0..16).filter(|&i| two.keeps(i)).collect::<Vec<_>>(), [1, 3, 9, 11]);
        assert_eq!(String::from(two), "1,3/8");
        assert_eq!(serde_json::to_value(Split::Odd).unwrap(), "odd");
        for bad in ["8/8", "1/0", "x/8", "3", "half", "1,8/8", "/8", "1/65"] {
            assert!(bad.parse::<Split>().is_err(), "{bad}");
        }
    }

    #[test]
    fn spans_judge_every_overlapping_chunk_and_only_those() {
        let qs = [
            query("inside-overlap", &["c0"], &["25"], &[("c0", 42, 44)]),
            query("first-only", &["c0"], &["Armonk"], &[("c0", 15, 21)]),
            query("straddles", &["c0"], &["x"], &[("c0", 85, 95)]),
            query("at-boundary", &["c0"], &["x"], &[("c0", 90, 92)]),
        ];
        let (js, j) = chunk_qrels(&qs, "p#", chunks).unwrap();
        assert_eq!(answer_chunks(&js[0]), ["c0#chunk1", "c0#chunk2"]);
        assert_eq!(answer_chunks(&js[1]), ["c0#chunk1"]);
        assert_eq!(answer_chunks(&js[2]), ["c0#chunk2", "c0#chunk3"]);
        // End is exclusive: chunk 2 ends at 90, so a span starting at 90 is chunk 3's alone.
        assert_eq!(answer_chunks(&js[3]), ["c0#chunk3"]);
        for q in &js {
            assert_eq!(q.qrels, metrics::Qrels::from([("c0#answer".to_string(), 1)]));
        }
        assert_eq!(j.from_spans, 4);
        assert_eq!(j.unreachable, 0);
        assert_eq!(j.mean_relevant_chunks, Some(6.0 / 4.0));
    }

    #[test]
    fn an_answer_in_two_chunks_counts_once_at_the_first() {
        let (js, _) = chunk_qrels(&[query("q", &["c0"], &["25"], &[("c0", 42, 44)])], "p#", chunks).unwrap();
        let keys = ["c0#chunk3", "c0#chunk2", "c0#chunk1"].map(String::from);
        let ranked = js[0].rank(keys.into_iter());
        assert_eq!(ranked, ["c0#chunk3", "c0#answer"]);
        let s = metrics::RetrievalScores::compute(&ranked, &js[0].qrels).unwrap();
        // Found at rank 2, once: recall@1 0, recall@3 1, MRR 0.5.
        assert_eq!((s.recall_at_1, s.recall_at_3, s.mrr_at_10), (0.0, 1.0, 0.5));
    }

    #[test]
    fn strings_judge_chunks_of_relevant_articles_only() {
        let qs = [
            // "1983" occurs in c1, which is not relevant: it must not count.
            query("s", &["c0"], &["25 consultants", "1983"], &[]),
            query("whole-words", &["c1"], &["198"], &[]),
            query("unanswerable", &[], &["25"], &[]),
            query("no-answers", &["c0"], &[], &[]),
        ];
        let (js, j) = chunk_qrels(&qs, "p#", chunks).unwrap();
        assert_eq!(answer_chunks(&js[0]), ["c0#chunk1", "c0#chunk2"]);
        // "198" is not a word of "1983": nothing holds it, so the query scores zero, counted.
        assert!(js[1].answer_chunks.is_empty());
        assert_eq!(
            js[1].qrels.keys().cloned().collect::<Vec<_>>(),
            ["whole-words#unindexed-answer"]
        );
        assert!(js[2].qrels.is_empty() && js[3].qrels.is_empty());
        assert_eq!(j.from_strings, 2);
        assert_eq!(j.unreachable, 1);
        assert_eq!(j.unjudged, 1);
        assert_eq!(j.mean_relevant_chunks, Some(2.0));
        // The unreachable query scores 0 on every metric instead of leaving the mean.
        let ranked = js[1].rank(["c1#chunk4".to_string()].into_iter());
        let s = metrics::RetrievalScores::compute(&ranked, &js[1].qrels).unwrap();
        assert_eq!(s.ndcg_at_10, 0.0);
    }

    #[test]
    fn empty_span_counts_at_its_position() {
        let c = chunk(1, "a", 10, 20, "");
        assert!(overlaps(&c, 10, 10));
        assert!(!overlaps(&c, 20, 20));
        assert!(!overlaps(&c, 0, 10));
        assert!(overlaps(&c, 19, 30));
    }
}
