//! Extractive answers: the few sentences of the retrieved passages that best answer the
//! question, each citing the passage it comes from, or an honest abstention.
//!
//! Nothing is generated, so every claim is a sentence of an article and every citation
//! points at a passage that was shown. Sentences are scored with the embedder (question vs
//! sentence, both sides with their retrieval prompts) plus lexical overlap of analysed terms,
//! which rewards exact names and numbers the question repeats.

pub mod answerability;
mod features;
mod fit;
pub mod reader;
pub mod scorer;
mod span;
pub mod span_picker;

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use serde::Serialize;

use crate::Result;
use crate::chunk::split_sentences;
use crate::embed::{Document, Embedder};
use crate::retrieve::Hit;
pub use features::{AnswerType, FEATURE_NAMES, FEATURES, expected_type, question_words, recase};
use features::{CandidateInput, evidence};
use reader::Reader;
use scorer::Scorer;

/// The fact the hand-written type rules mark in `sentence` for `question` (a number with its
/// unit, a date, a name, a place, a cause), or `None`. For trainers and tests of the picker.
pub fn fact_span_for_question(sentence: &str, question: &str) -> Option<Range<usize>> {
    span::fact_span(sentence, expected_type(question), &question_words(question))
}

/// Tunables of the extractive answerer.
#[derive(Debug, Clone, Copy)]
pub struct AnswerOptions {
    /// Passages whose sentences are considered.
    pub passages: usize,
    /// Most sentences in an answer.
    pub max_sentences: usize,
    /// Below this best-passage similarity, abstain. 0.23: above the off-topic questions of
    /// `examples/queries/seed.jsonl` (at most 0.21), and 1.0 % false abstentions on PIAF's
    /// even-numbered questions (0.30 gave 9.4 %).
    pub abstain_below: f32,
    /// Below `abstain_below`, still answer down to this when a passage holds every name of the
    /// question (see [`should_abstain`]).
    pub abstain_below_named: f32,
    /// Abstain when no sentence's score reaches this (`f32::MIN`: never).
    pub min_score: f32,
    /// A further sentence must score within this of the best one (log-odds).
    pub margin: f32,
    /// Best-scored candidate sentences read together with the question by the answer reader
    /// (when the embedder has one); with a reader weight, only these can be chosen.
    pub read: usize,
    /// When no sentence of the `read` reaches `read_more_below` (the reader's margin), the
    /// reader goes on to the `read_more` best-scored (in the languages the reader's thresholds
    /// were chosen in: French).
    pub read_more: usize,
    pub read_more_below: f32,
    /// Weight of the reader's answer margin in a read sentence's score.
    pub reader_weight: f32,
    /// Abstain when no read sentence's answer margin reaches this (log-odds; `f32::MIN`:
    /// never), unless one says the fact was not disclosed.
    pub min_answerability: f32,
    /// Mark the reader's span as the fact when the sentence's margin reaches this.
    pub min_span_margin: f32,
    /// Abstain (or answer with a "not disclosed" sentence) when the shipped answerability
    /// model finds the answer missing from the passages read.
    pub answerability: bool,
}

impl Default for AnswerOptions {
    fn default() -> Self {
        AnswerOptions {
            // Six, not four: on PIAF's questions numbered 1 mod 4 (reading three either
            // way) answer hit 758 → 765 of 953 and false abstentions 11 → 8; on a small
            // corpus the answering chunk often ranks fifth, behind chunks that repeat the
            // question's names (`docs/benchmarks.md`).
            passages: 6,
            max_sentences: 3,
            abstain_below: 0.23,
            // Below the name questions seen abstained on (0.19-0.22, on PIAF's questions 1 mod
            // 4 and on the bundled articles), so that a name shared by chance with a passage
            // far from the question does not put it on topic.
            abstain_below_named: 0.15,
            min_score: f32::MIN,
            // Chosen with the scorer on PIAF's odd-numbered questions
            // (`examples/train_answer_scorer.rs`).
            margin: 1.5,
            // The reader's settings were chosen on PIAF's questions numbered 1 mod 4
            // (`examples/tune_answer_reader.rs`): reading the best three is as good as four
            // for a quarter less time (first reader); with the eight-layer reader a weight of
            // 0.2 moves the first sentence from 0.637 to 0.692 at the best answer hit (0.788;
            // 0.3: 0.695 but 0.781), and the reader's span beats the picker's at every margin.
            read: 3,
            // Reading on to six when no margin of the first three reaches -5: 11 % of the
            // questions numbered 1 mod 4 do, and their simulated answer hit goes from 0.788
            // to 0.793 (`tune_answer_reader --read-more`). -3 (22 %, 0.797) moved the median
            // answer from 147-148 to 151-159 ms side by side, over the 150 ms budget; reading
            // six for all gives 0.804 at 247 ms.
            read_more: 6,
            read_more_below: -5.0,
            reader_weight: 0.2,
            // The highest threshold that adds at most 0.5 % false abstentions on the drop-gold
            // set's answerable questions numbered 1 mod 4 (reading three): abstention recall
            // there 5/77 → 9/77. The reader's margin separates answerable from unanswerable
            // pairs (AUC 0.88), but not at a false-abstention rate users accept. Chosen again
            // the same way once six passages were read (fewer false abstentions from the other
            // rules): -9, abstention recall 5/77 → 7/77, false abstentions 7 → 10 of 876;
            // -8 abstains on 15/77 but on 17 answerable questions.
            min_answerability: -9.0,
            min_span_margin: f32::MIN,
            answerability: true,
        }
    }
}

/// One sentence of an answer with the number of the source it cites.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerSentence {
    pub text: String,
    pub citation: usize,
    /// The scorer's ranking score (higher is likelier to hold the asked fact).
    pub score: f32,
    /// Byte span of the sentence in the article's text, when the article text is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<usize>,
    /// Source lines of the sentence itself (1-based, inclusive), not of its whole passage.
    pub line_start: u32,
    pub line_end: u32,
    /// The fact inside the sentence that answers the question's type, when one is found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fact: Option<Fact>,
    /// The answer reader's log-odds that this sentence holds the answer, when it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_margin: Option<f32>,
    /// Byte span of the sentence in its passage's text.
    #[serde(skip)]
    pub in_passage: Range<usize>,
}

/// The shortest span of an answer sentence that answers the question.
#[derive(Debug, Clone, Serialize)]
pub struct Fact {
    pub text: String,
    pub kind: AnswerType,
    /// Byte span of the fact in the sentence's `text`.
    pub sentence_start: usize,
    pub sentence_end: usize,
    /// Byte span of the fact in the article's text, when the article text is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<usize>,
}

/// A numbered source of an answer.
#[derive(Debug, Clone, Serialize)]
pub struct Citation {
    pub n: usize,
    pub chunk_id: i64,
    pub article_id: String,
    pub title: Option<String>,
    pub date: Option<String>,
    pub path: String,
    pub line_start: u32,
    pub line_end: u32,
    pub start: usize,
    pub end: usize,
}

/// An answer: cited sentences, or an abstention.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub question: String,
    /// Language of the question (`fr` or `en`), used for the abstention message.
    pub lang: String,
    pub abstained: bool,
    /// The rendered answer: sentences each followed by `[n]`, or the abstention message.
    pub text: String,
    pub sentences: Vec<AnswerSentence>,
    pub citations: Vec<Citation>,
    /// Best similarity between the question and a retrieved passage (the abstention signal).
    pub confidence: f32,
    /// The kind of fact the question asks for, from its question words.
    pub expected: AnswerType,
    /// Why it abstained, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abstention: Option<Abstention>,
    /// Log-odds that the passages read hold the answer: the answer reader's best margin when
    /// a reader ships, else the answerability model's, when it applies (the question and the
    /// passages share a language).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answerability: Option<f32>,
}

/// Why an answer abstained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Abstention {
    /// No passage is close enough to the question.
    NothingRelevant,
    /// Passages are on topic, but none carries the kind of fact asked for.
    FactMissing,
}

pub use crate::lang::question_lang;

/// The message of an abstention, in the question's language.
pub fn abstention_message(lang: &str) -> &'static str {
    if lang == "fr" {
        "Je n'ai pas trouvé de réponse à cette question dans les articles indexés."
    } else {
        "I could not find an answer to this question in the indexed articles."
    }
}

/// The message when the articles cover the topic but not the asked fact.
pub fn fact_missing_message(lang: &str) -> &'static str {
    if lang == "fr" {
        "Les articles indexés traitent du sujet, mais ne donnent pas cette information."
    } else {
        "The indexed articles cover the topic, but do not give this information."
    }
}

/// Best similarity between the question and a passage: the abstention signal.
pub fn confidence(passages: &[&Hit]) -> f32 {
    let best = passages.iter().filter_map(|h| h.similarity).fold(f32::MIN, f32::max);
    if best == f32::MIN { 0.0 } else { best }
}

/// Whether nothing retrieved is relevant enough to answer from, for every answerer.
///
/// A short question about a name ("Qui est Ross Gan ?") sits far from any passage in the
/// embedding space even when a passage names it, so a passage holding every name of the
/// question makes it on topic down to `abstain_below_named`.
pub fn should_abstain(question: &str, passages: &[&Hit], confidence: f32, opts: &AnswerOptions) -> bool {
    if passages.is_empty() {
        return true;
    }
    if confidence >= opts.abstain_below {
        return false;
    }
    let names = features::question_names(question);
    confidence < opts.abstain_below_named
        || names.is_empty()
        || !passages.iter().any(|h| features::holds_names(&h.text, &names))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    crate::vecmath::dot(a, b)
}

/// Where the answerer keeps sentence vectors between questions. Embedding the candidate
/// sentences is most of an answer's time, and passages come back across questions (and
/// across modes in `eval`). A cache failure only costs time, so it is never an error.
pub trait SentenceCache {
    fn get(&self, key: &str) -> Option<Vec<f32>>;
    fn put(&self, items: &[(String, Vec<f32>)]);
    /// Vectors of `keys`, in order. A backend across a network overrides it with one round
    /// trip for all.
    fn get_many(&self, keys: &[String]) -> Vec<Option<Vec<f32>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }
}

/// No caching.
pub struct NoCache;

impl SentenceCache for NoCache {
    fn get(&self, _: &str) -> Option<Vec<f32>> {
        None
    }
    fn put(&self, _: &[(String, Vec<f32>)]) {}
}

/// Cache key of a sentence's document vector: the embedder fingerprint, title and text.
fn sentence_key(fingerprint: &str, title: Option<&str>, text: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [fingerprint, "\0", title.unwrap_or(""), "\0", text] {
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// Document vectors of `docs`, from `cache` where present; the rest are embedded in one batch
/// and cached.
fn sentence_vectors(
    embedder: &dyn Embedder,
    cache: &dyn SentenceCache,
    docs: &[Document<'_>],
) -> Result<Vec<Vec<f32>>> {
    let fp = embedder.fingerprint();
    let keys: Vec<String> = docs.iter().map(|d| sentence_key(&fp, d.title, d.text)).collect();
    let mut out: Vec<Option<Vec<f32>>> = cache
        .get_many(&keys)
        .into_iter()
        .map(|v| v.filter(|v| v.len() == embedder.dims()))
        .collect();
    let missing: Vec<usize> = (0..docs.len()).filter(|&i| out[i].is_none()).collect();
    tracing::debug!(
        sentences = docs.len(),
        embedded = missing.len(),
        "candidate sentence vectors"
    );
    if !missing.is_empty() {
        let batch: Vec<Document<'_>> = missing.iter().map(|&i| docs[i]).collect();
        let vecs = embedder.embed_documents(&batch)?;
        let items: Vec<(String, Vec<f32>)> = missing
            .iter()
            .zip(&vecs)
            .map(|(&i, v)| (keys[i].clone(), v.clone()))
            .collect();
        cache.put(&items);
        for (&i, v) in missing.iter().zip(vecs) {
            out[i] = Some(v);
        }
    }
    Ok(out.into_iter().map(|v| v.expect("filled above")).collect())
}

/// The candidate sentences of a passage's text: byte ranges (untrimmed) and trimmed texts of
/// its sentences of four words or more, but not the picture credits news pages end with
/// ("Crédit photo : Hans Gogia" names a person, and would answer "who" questions). The
/// answerer and [`prepare_sentence_vectors`] share it, so the vectors ingest stores are the
/// ones answers look up.
fn candidate_sentences(text: &str) -> impl Iterator<Item = (Range<usize>, &str)> {
    split_sentences(text, 0..text.len())
        .into_iter()
        .map(move |r| (r.clone(), text[r].trim()))
        .filter(|(_, s)| s.split_whitespace().count() >= 4 && !is_picture_credit(s))
}

/// Whether a line credits a picture: "Crédit photo : …", "Photo : …", "Image credit: …", "©
/// …". Hand-written (French and English).
fn is_picture_credit(s: &str) -> bool {
    const MARKERS: &[&str] = &[
        "credit photo",
        "credits photo",
        "credit image",
        "photo credit",
        "image credit",
        "photo :",
        "photo:",
        "photos :",
        "illustration :",
        "image :",
        "image:",
        "\u{a9}",
        "(c) ",
    ];
    let head: String = features::fold(s).chars().take(24).collect();
    MARKERS.iter().any(|m| head.starts_with(m))
}

/// Embeds and caches, ahead of any question, the sentence vectors the answerer will need
/// for these `passages` (title and text of stored chunks), skipping those already cached.
/// Ingest calls it, so that an answer reads its candidates' vectors instead of embedding
/// them (most of a cold answer's time otherwise). Returns how many sentences it embedded.
pub fn prepare_sentence_vectors(
    embedder: &dyn Embedder,
    cache: &dyn SentenceCache,
    passages: &[(Option<&str>, &str)],
) -> Result<usize> {
    let fp = embedder.fingerprint();
    let mut seen = HashSet::new();
    let mut wanted: Vec<(String, Document<'_>)> = Vec::new();
    for &(title, text) in passages {
        for (_, s) in candidate_sentences(text) {
            let key = sentence_key(&fp, title, s);
            if seen.insert(key.clone()) {
                wanted.push((key, Document { title, text: s }));
            }
        }
    }
    let keys: Vec<String> = wanted.iter().map(|(k, _)| k.clone()).collect();
    let cached = cache.get_many(&keys);
    let missing: Vec<(String, Document<'_>)> = wanted
        .into_iter()
        .zip(cached)
        .filter(|(_, v)| v.as_ref().is_none_or(|v| v.len() != embedder.dims()))
        .map(|(w, _)| w)
        .collect();
    // Large batches keep both cores busy (sentences are short); bounded, so that a long
    // article never holds all its sentence vectors at once.
    for batch in missing.chunks(256) {
        let docs: Vec<Document<'_>> = batch.iter().map(|(_, d)| *d).collect();
        let vecs = embedder.embed_documents(&docs)?;
        if vecs.len() != docs.len() {
            return Err(crate::Error::BadEmbedding {
                chunk: docs[0].title.unwrap_or(docs[0].text).to_string(),
                detail: format!("{} vectors for {} sentences", vecs.len(), docs.len()),
            });
        }
        let items: Vec<(String, Vec<f32>)> = batch.iter().map(|(k, _)| k.clone()).zip(vecs).collect();
        cache.put(&items);
    }
    Ok(missing.len())
}

/// Whether an article's sentence vectors look prepared: the vector of the first candidate
/// sentence of its body `blocks` (under `title`) is cached. One lookup, so that ingest can
/// find, among unchanged articles, those stored before it prepared them (an index from an
/// earlier release, or built with `--search-only`). An article without candidates has
/// nothing to prepare.
pub fn sentences_prepared<'a>(
    embedder: &dyn Embedder,
    cache: &dyn SentenceCache,
    title: Option<&str>,
    blocks: impl Iterator<Item = &'a str>,
) -> bool {
    for block in blocks {
        if let Some((_, s)) = candidate_sentences(block).next() {
            return cache.get(&sentence_key(&embedder.fingerprint(), title, s)).is_some();
        }
    }
    true
}

/// Builds an extractive answer from retrieved passages. `qvec` is the question's embedding;
/// `hits` carry `similarity` to the question when known.
pub fn extractive(
    embedder: &dyn Embedder,
    question: &str,
    qvec: &[f32],
    hits: &[Hit],
    opts: &AnswerOptions,
) -> Result<Answer> {
    extractive_cached(embedder, &NoCache, question, qvec, hits, opts)
}

/// One candidate sentence with what its features need.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Candidate {
    /// Index of its passage among those read.
    pub passage: usize,
    pub text: String,
    /// Byte span in the passage's text.
    pub range: Range<usize>,
    pub features: [f32; features::FEATURES],
    /// The sentence scorer's score, plus the reader's weighted margin when it was read.
    pub score: f32,
    /// What the answer reader made of it, when it was read.
    #[serde(skip)]
    pub reading: Option<reader::Reading>,
}

/// Candidate sentences of the first `opts.passages` hits with their features and scores,
/// best first. Shared by the answerer and by eval's feature dump, so both see one thing.
pub fn candidates(
    embedder: &dyn Embedder,
    cache: &dyn SentenceCache,
    question: &str,
    qvec: &[f32],
    hits: &[Hit],
    opts: &AnswerOptions,
) -> Result<Vec<Candidate>> {
    let lang = question_lang(question);
    let passages: Vec<&Hit> = hits.iter().take(opts.passages).collect();
    // Candidate sentences, deduplicated (overlapping chunks repeat a sentence).
    let mut seen = HashSet::new();
    let mut cands: Vec<(usize, Range<usize>, bool)> = Vec::new();
    for (pi, h) in passages.iter().enumerate() {
        let mut first = true;
        for (r, s) in candidate_sentences(&h.text) {
            if !seen.insert(s.to_string()) {
                continue;
            }
            cands.push((pi, r, first));
            first = false;
        }
    }
    if cands.is_empty() {
        return Ok(Vec::new());
    }
    let texts: Vec<&str> = cands
        .iter()
        .map(|(pi, r, _)| passages[*pi].text[r.clone()].trim())
        .collect();
    let docs: Vec<Document<'_>> = cands
        .iter()
        .zip(&texts)
        .map(|((pi, _, _), s)| Document {
            title: passages[*pi].title.as_deref(),
            text: s,
        })
        .collect();
    let vecs = sentence_vectors(embedder, cache, &docs)?;
    let cos: Vec<f32> = vecs.iter().map(|v| cosine(qvec, v)).collect();
    let best_cosine = cos.iter().copied().fold(f32::MIN, f32::max);
    let residual = residual_cosines(qvec, &vecs, &cos);
    let q_terms: HashSet<String> = crate::lexical::analyze(Some(lang), &crate::lexical::question_content(question))
        .into_iter()
        .collect();
    let q_words = question_words(question);
    let expected = expected_type(question);
    let counted = features::counted_noun(question);
    let scorer = Scorer::bundled();
    // The question's words beyond the topic the titles name.
    let titles: HashSet<String> = passages
        .iter()
        .filter_map(|h| {
            h.title
                .as_deref()
                .map(|t| crate::lexical::analyze(h.lang.as_deref(), t))
        })
        .flatten()
        .collect();
    let q_specific: HashSet<String> = q_terms.difference(&titles).cloned().collect();
    let share = |of: &HashSet<String>, terms: &HashSet<String>| {
        if of.is_empty() {
            0.0
        } else {
            of.intersection(terms).count() as f32 / of.len() as f32
        }
    };
    // (overlap, specific overlap) of each candidate.
    let overlaps: Vec<(f32, f32)> = cands
        .iter()
        .zip(&texts)
        .map(|((pi, _, _), s)| {
            let terms: HashSet<String> = crate::lexical::analyze(passages[*pi].lang.as_deref(), s)
                .into_iter()
                .collect();
            let overlap = share(&q_terms, &terms);
            let specific = if q_specific.is_empty() {
                overlap
            } else {
                share(&q_specific, &terms)
            };
            (overlap, specific)
        })
        .collect();
    let mut out: Vec<Candidate> = cands
        .iter()
        .enumerate()
        .map(|(i, (pi, r, first))| {
            let h = passages[*pi];
            let s = texts[i];
            let (overlap, specific_overlap) = overlaps[i];
            let same_passage = |j: Option<usize>| j.filter(|&j| j < cands.len() && cands[j].0 == *pi);
            let neighbour = |j: Option<usize>| same_passage(j).map(|j| cos[j]);
            let input = CandidateInput {
                cosine: cos[i],
                best_cosine,
                lexical_overlap: overlap,
                passage_similarity: h.similarity.unwrap_or(0.0),
                passage_index: *pi,
                first_in_passage: *first,
                cosine_prev: neighbour(i.checked_sub(1)),
                cosine_next: neighbour(Some(i + 1)),
                words: s.split_whitespace().count(),
                lang_mismatch: h.lang.as_deref().is_some_and(|l| l != lang),
                specific_overlap,
                specific_overlap_prev: same_passage(i.checked_sub(1)).map(|j| overlaps[j].1),
                residual_cosine: residual[i],
                counted: counted
                    .as_deref()
                    .is_some_and(|n| features::counted_after_number(s, n, &q_words)),
            };
            let f = features::features(&input, &evidence(s, &q_words), expected);
            // The range without the whitespace `trim` removed.
            let lead = h.text[r.clone()].len() - h.text[r.clone()].trim_start().len();
            let start = r.start + lead;
            Candidate {
                passage: *pi,
                text: s.to_string(),
                range: start..start + s.len(),
                score: scorer.score(&f),
                features: f,
                reading: None,
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    read_best(embedder, question, &mut out, opts)?;
    Ok(out)
}

/// Cosines of the question with each sentence once the candidates' shared direction (the
/// unit mean of their vectors: the topic) is projected out of both. With `c` that direction,
/// `q·s - (q·c)(s·c)` over the norms of the residuals, so nothing is copied. With fewer than
/// three candidates there is no topic to take out, and the plain cosines stand.
fn residual_cosines(qvec: &[f32], vecs: &[Vec<f32>], cos: &[f32]) -> Vec<f32> {
    if vecs.len() < 3 {
        return cos.to_vec();
    }
    let mut mean = vec![0f32; qvec.len()];
    for v in vecs {
        for (m, x) in mean.iter_mut().zip(v) {
            *m += x;
        }
    }
    let c = crate::vecmath::normalized(&mean);
    let qc = cosine(qvec, &c);
    vecs.iter()
        .zip(cos)
        .map(|(v, &qs)| {
            let sc = cosine(v, &c);
            let norms = ((1.0 - qc * qc) * (1.0 - sc * sc)).max(1e-6).sqrt();
            ((qs - qc * sc) / norms).clamp(-1.0, 1.0)
        })
        .collect()
}

/// Reads the `opts.read` best candidates with the answer reader, when the embedder has one,
/// and up to `opts.read_more` when none of those reaches `opts.read_more_below`. With a
/// reader weight, their weighted answer margins join their scores and only they can be
/// chosen, best first; without one, the order is the scorer's and the reading only marks
/// facts.
fn read_best(embedder: &dyn Embedder, question: &str, cands: &mut Vec<Candidate>, opts: &AnswerOptions) -> Result<()> {
    let Some(reader) = embedder.state_space().and_then(|s| Reader::shipped_for(&s)) else {
        return Ok(());
    };
    let mut n = 0;
    // Where the reader's margin decides abstention, a question whose first reading falls below
    // the threshold is abstained on as before: reading on would only give the unanswerable
    // questions more chances of a spurious margin (on the drop-gold set's questions numbered
    // 1 mod 4 it abstained on 5 of 77 instead of 9).
    // Reading on is for the languages its threshold was chosen in, as for abstention: the
    // margins of English questions run lower, so nearly all of them would read on, and on the
    // bundled articles one more English sentence put a wrong name before "Xiaomi's CEO".
    let tuned = READER_ABSTAINS_IN.contains(&question_lang(question));
    let abstains_below = if tuned { opts.min_answerability } else { f32::MIN };
    let more = if tuned {
        opts.read_more.max(opts.read)
    } else {
        opts.read
    };
    // The best `read` first; the next ones only when none of those is likely to hold the answer,
    // so the time goes to the doubtful questions.
    for upto in [opts.read, more] {
        let upto = cands.len().min(upto);
        if upto <= n {
            break;
        }
        let texts: Vec<&str> = cands[n..upto].iter().map(|c| c.text.as_str()).collect();
        let Some(states) = embedder.read_pairs(question, &texts, Some(reader.adapter()))? else {
            if n == 0 {
                return Ok(());
            }
            break;
        };
        for (c, st) in cands[n..upto].iter_mut().zip(&states) {
            let r = reader.read(&c.text, st);
            // A margin far below zero says "no" as clearly as a moderate one.
            c.score += opts.reader_weight * r.margin.max(-MARGIN_FLOOR);
            c.reading = Some(r);
        }
        n = upto;
        let best = cands[..n]
            .iter()
            .filter_map(|c| c.reading.as_ref().map(|r| r.margin))
            .fold(f32::MIN, f32::max);
        if best >= opts.read_more_below || best < abstains_below {
            break;
        }
    }
    if opts.reader_weight > 0.0 {
        // The read sentences come first, by their new scores; the others stay behind them
        // in their order, never chosen beside them, but still there for the rules that look
        // at every candidate (no sentence carries the asked type; one says the fact was not
        // disclosed).
        let mut rest = cands.split_off(n);
        cands.sort_by(|a, b| b.score.total_cmp(&a.score));
        // "Qui est Ross Gan ?" is answered by the sentence that introduces him ("Ross Gan,
        // porte-parole du groupe chinois"), which the scorer ranks below his own words: it
        // comes first, level with the best, which stays beside it. It may be among the
        // sentences not read ("Huawei est un fabricant chinois…"): the scorer ranks a bare
        // description low.
        if features::asks_who_someone_is(question) {
            let names = features::question_names(question);
            let describes = |c: &Candidate| features::describes_name(&c.text, &names);
            let found = match cands.iter().position(describes) {
                Some(0) => None,
                Some(i) => Some(cands.remove(i)),
                None => rest.iter().position(describes).map(|i| rest.remove(i)),
            };
            if let Some(mut c) = found {
                c.score = cands.first().map_or(c.score, |b| b.score);
                cands.insert(0, c);
            }
        }
        let floor = cands.last().map_or(0.0, |c| c.score) - 100.0;
        for (i, c) in rest.iter_mut().enumerate() {
            c.score = floor - i as f32;
        }
        cands.append(&mut rest);
    }
    Ok(())
}

/// Question languages in which the reader's margin decides abstention: those of the questions
/// its threshold was chosen on (PIAF).
const READER_ABSTAINS_IN: &[&str] = &["fr"];

/// Reader margins are clamped at minus this before they weigh on a score.
const MARGIN_FLOOR: f32 = 20.0;

/// [`extractive`], keeping sentence vectors in `cache`.
pub fn extractive_cached(
    embedder: &dyn Embedder,
    cache: &dyn SentenceCache,
    question: &str,
    qvec: &[f32],
    hits: &[Hit],
    opts: &AnswerOptions,
) -> Result<Answer> {
    extractive_seen(embedder, cache, question, qvec, hits, opts, None)
}

/// [`extractive_cached`], also giving the scored candidates it chose from in `seen`, when
/// asked (left empty when it abstained before scoring any), so that an evaluation can study
/// them without reading the sentences a second time; answers that do not ask copy nothing.
pub fn extractive_seen(
    embedder: &dyn Embedder,
    cache: &dyn SentenceCache,
    question: &str,
    qvec: &[f32],
    hits: &[Hit],
    opts: &AnswerOptions,
    mut seen: Option<&mut Vec<Candidate>>,
) -> Result<Answer> {
    if let Some(s) = seen.as_deref_mut() {
        s.clear();
    }
    let passages: Vec<&Hit> = hits.iter().take(opts.passages).collect();
    // What reads the question reads its case; a new user types "c'est qui ross gan".
    // [`retrieve`](crate::retrieve::retrieve) recases from every hit to embed the question;
    // here the passages read are enough, and an answerer given hits from elsewhere recases too.
    let asked = question;
    let texts: Vec<&str> = passages.iter().map(|h| h.text.as_str()).collect();
    let cased = features::recase(question, &texts);
    let question = cased.as_str();
    let lang = question_lang(question).to_string();
    let expected = expected_type(question);
    let confidence = confidence(&passages);
    let abstain = |confidence: f32| Answer {
        question: asked.to_string(),
        text: abstention_message(&lang).to_string(),
        lang: lang.clone(),
        abstained: true,
        sentences: Vec::new(),
        citations: Vec::new(),
        confidence,
        expected,
        abstention: Some(Abstention::NothingRelevant),
        answerability: None,
    };
    if should_abstain(question, &passages, confidence, opts) {
        return Ok(abstain(confidence));
    }
    let scored = candidates(embedder, cache, question, qvec, hits, opts)?;
    if let Some(s) = seen {
        s.clone_from(&scored);
    }
    let Some(best) = scored.first().map(|c| c.score) else {
        return Ok(abstain(confidence));
    };
    if best < opts.min_score {
        return Ok(abstain(confidence));
    }
    // On topic, but no sentence carries the kind of fact asked for, or the reader finds the
    // answer in none of those it read: say so, or answer with the sentence that says the fact
    // was not disclosed, which is the honest answer.
    let mut scored = scored;
    let read_margin = scored
        .iter()
        .filter_map(|c| c.reading.as_ref().map(|r| r.margin))
        .reduce(f32::max);
    // The reader's margin decides in the languages its threshold was chosen in; elsewhere
    // (its margins on English questions run lower: 41 more false abstentions on XQuAD-en)
    // the answerability model does, when the question and passages share a language (its
    // features compare words).
    let reader_abstains = read_margin.is_some() && READER_ABSTAINS_IN.contains(&lang.as_str());
    let model = answerability::Model::shipped()
        .filter(|_| opts.answerability && !reader_abstains)
        .and_then(|m| {
            let read: Vec<answerability::Passage> =
                passages.iter().map(|h| answerability::Passage::from_hit(h)).collect();
            answerability::applies(&lang, &read).then(|| {
                // It was fitted on the scorer's scores and order: the reader's share is taken out.
                let scorer = Scorer::bundled();
                let mut plain = scored.clone();
                for c in &mut plain {
                    c.score = scorer.score(&c.features);
                }
                plain.sort_by(|a, b| b.score.total_cmp(&a.score));
                (
                    m.log_odds(&answerability::features(question, &lang, &read, &plain)),
                    m.threshold,
                )
            })
        });
    let answerability = match model {
        Some((z, _)) => Some(z),
        None => read_margin,
    };
    let unanswerable = match model {
        Some((z, threshold)) => z < threshold,
        None => reader_abstains && read_margin.is_some_and(|m| m < opts.min_answerability),
    };
    let asks_ceo = features::asks_for_chief_executive(question);
    // The sentences an answer would show.
    let top = scored.first().map_or(best, |c| c.score);
    let shown = || {
        scored
            .iter()
            .take(opts.max_sentences)
            .take_while(move |c| c.score >= top - opts.margin)
    };
    let type_missing = scored.iter().all(|c| c.features[features::TYPE_MISSING] > 0.5)
        // A sum of money asked, and none of the sentences an answer would show states one
        // (a count of consultants is a number, not a price; "le salaire de Willi Song" is not
        // his title).
        || (expected == AnswerType::Number
            && features::asks_for_money(question)
            && shown().all(|c| !features::carries_money(&c.text)))
        // An age asked, and no sentence shown states one ("260 demandes" is not an age).
        || (expected == AnswerType::Number
            && features::asks_for_age(question)
            && shown().all(|c| !features::carries_age(&c.text)))
        // A figure or a date asked about something another article read is about, and the
        // best sentence's article names none of the question's names: "Combien de salariés a
        // Nokia ?" is not answered with Huawei's headcount.
        || (matches!(expected, AnswerType::Number | AnswerType::Date)
            && scored
                .first()
                .is_some_and(|b| article_lacks_a_name(question, &passages, hits, b)))
        // A figure asked for one place, and the sentences shown give it for another (in the
        // question's language: "Italy" is "Italie" in a French article).
        || (expected == AnswerType::Number
            && scored
                .first()
                .is_some_and(|b| passages[b.passage].lang.as_deref().is_none_or(|l| l == lang))
            && features::figure_for_another_place(
                question,
                &shown().map(|c| c.text.as_str()).collect::<Vec<_>>(),
            ))
        // The head of a company asked, and no sentence shown names one as such, or only in an
        // article about another company: "Who is the CEO of Vivendi?" is not answered with its
        // Web 3.0 director, nor "Qui est le PDG de Nokia ?" with Huawei's.
        || (asks_ceo
            && shown().all(|c| {
                !features::names_chief_executive(&c.text) || article_lacks_a_name(question, &passages, hits, c)
            }))
        // The holder of a role asked ("Xiaomi's CEO"), and none of those sentences names a
        // person (only companies, "Oppo, Huawei et Vivo").
        || (expected == AnswerType::Person && features::asks_for_role_holder(question) && {
            let q_words = features::question_words(question);
            scored
                .iter()
                .take(opts.max_sentences)
                .all(|c| !features::names_person(&c.text, &q_words))
        });
    if type_missing || unanswerable {
        // Only a sentence of the article in focus (the first passage's, or the best
        // sentence's) speaks for this question: "the details were not disclosed" in another
        // article is about another deal ("how much did Xiaomi pay Nokia" was answered with
        // IBM's undisclosed fee).
        let in_focus = |c: &Candidate| {
            let article = &passages[c.passage].article_id;
            passages.first().is_some_and(|h| &h.article_id == article)
                || scored
                    .first()
                    .is_some_and(|b| &passages[b.passage].article_id == article)
        };
        // And only for a sum of money, or when it shares a word with the question: IBM's
        // undisclosed fee says nothing of its headcount.
        let money = features::asks_for_money(question);
        let speaks_to = |c: &Candidate| money || features::shares_content_word(question, &c.text);
        match scored
            .iter()
            .position(|c| features::says_undisclosed(&c.text) && in_focus(c) && speaks_to(c))
        {
            Some(i) => {
                let c = scored.remove(i);
                scored = vec![c];
            }
            None => {
                let mut a = abstain(confidence);
                a.text = fact_missing_message(&lang).to_string();
                a.abstention = Some(Abstention::FactMissing);
                a.answerability = answerability;
                return Ok(a);
            }
        }
    }
    // Past this point an unanswerable question is answered with the sentence that says the
    // fact was not disclosed: nothing in it is the fact, so nothing is marked.
    let undisclosed = type_missing || unanswerable;
    let best = scored.first().map_or(best, |c| c.score);
    let mut chosen: Vec<&Candidate> = scored
        .iter()
        .take(opts.max_sentences)
        .take_while(|c| c.score >= best - opts.margin)
        .collect();
    if expected == AnswerType::Cause && !undisclosed {
        cause_from_neighbour(&scored, &mut chosen, opts.max_sentences);
    }
    if !undisclosed && features::asks_for_a_name(question) {
        name_from_previous(question, &scored, &mut chosen, opts.max_sentences);
    }
    // "Who is Huawei's CEO?": the shown sentence that names the head as such goes first.
    if !undisclosed
        && asks_ceo
        && let Some(i) = chosen.iter().position(|c| features::names_chief_executive(&c.text))
        && i > 0
    {
        let c = chosen.remove(i);
        chosen.insert(0, c);
    }
    let cues = span_picker::QuestionCues::new(question);
    // Number sources in order of first use.
    let mut citations: Vec<Citation> = Vec::new();
    let mut sentences = Vec::new();
    for c in chosen {
        let h = passages[c.passage];
        let n = match citations.iter().find(|x| x.chunk_id == h.chunk_id) {
            Some(x) => x.n,
            None => {
                citations.push(Citation {
                    n: citations.len() + 1,
                    chunk_id: h.chunk_id,
                    article_id: h.article_id.clone(),
                    title: h.title.clone(),
                    date: h.date.clone(),
                    path: h.path.clone(),
                    line_start: h.line_start,
                    line_end: h.line_end,
                    start: h.start,
                    end: h.end,
                });
                citations.len()
            }
        };
        // Lines counted inside the passage text: exact unless blocks were joined before the
        // sentence, which [`locate`] corrects from the article text.
        let before = h.text[..c.range.start].matches('\n').count() as u32;
        let inside = c.text.matches('\n').count() as u32;
        let line_start = (h.line_start + before).min(h.line_end);
        let read_span = c
            .reading
            .as_ref()
            .filter(|r| r.margin >= opts.min_span_margin)
            .and_then(|r| r.span.clone());
        let picked = span_picker::mark_fact(&c.text, &cues);
        let fact = match (read_span, picked) {
            // For a number, name, date or place, the picker's shorter run inside the reader's
            // span: the reader, trained on PIAF's gold spans, tends to take the words around
            // the fact too ("Alain Assouline, le président de la commission …"). Not one name
            // of a list the reader marked whole ("Vito Acconci et Eva Hesse").
            (Some(r), Some(p))
                if matches!(
                    expected,
                    AnswerType::Number | AnswerType::Person | AnswerType::Date | AnswerType::Place
                ) && p.start >= r.start
                    && p.end <= r.end
                    && p.len() < r.len()
                    && !span::is_item_of_list(&c.text, &r, &p) =>
            {
                Some(p)
            }
            (Some(r), _) => Some(r),
            (None, p) => p,
        };
        let fact = fact.filter(|_| !undisclosed).map(|r| Fact {
            text: c.text[r.clone()].to_string(),
            kind: expected,
            sentence_start: r.start,
            sentence_end: r.end,
            start: None,
            end: None,
        });
        sentences.push(AnswerSentence {
            text: c.text.clone(),
            citation: n,
            score: c.score,
            start: None,
            end: None,
            line_start,
            line_end: (line_start + inside).min(h.line_end).max(line_start),
            fact,
            answer_margin: c.reading.as_ref().map(|r| r.margin),
            in_passage: c.range.clone(),
        });
    }
    let text = sentences
        .iter()
        .map(|s| format!("{} [{}]", s.text, s.citation))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Answer {
        question: asked.to_string(),
        lang,
        abstained: false,
        text,
        sentences,
        citations,
        confidence,
        expected,
        abstention: None,
        answerability,
    })
}

/// Whether the article of `best` names none of the question's names, while one of them is
/// what another article read is about: the sentence is then about another company, person or
/// place than the one asked about ("Combien de salariés a Nokia ?" answered with Huawei's
/// headcount). "Names": a word of its title or of its retrieved passages starts like the name
/// ("norvégien" names "Norvège"). "What another article is about": the name is written
/// capitalised at least twice in the passages read from one other article. Each narrowing
/// was needed on PIAF, whose articles share names and write them in other forms: a question
/// naming two things and an article naming one ("l'attaque du Japon contre les Etats-Unis")
/// is still answered.
fn article_lacks_a_name(question: &str, passages: &[&Hit], hits: &[Hit], best: &Candidate) -> bool {
    let Some(own) = passages.get(best.passage) else {
        return false;
    };
    let names = features::question_names(question);
    let own_names = |n: &String| {
        own.title.as_deref().is_some_and(|t| features::mentions_stem(t, n))
            || hits
                .iter()
                .filter(|h| h.article_id == own.article_id)
                .any(|h| features::mentions_stem(&h.text, n))
    };
    if names.is_empty() || names.iter().any(own_names) {
        return false;
    }
    names.iter().any(|n| {
        passages
            .iter()
            .filter(|h| h.article_id != own.article_id)
            .fold(HashMap::<&String, usize>::new(), |mut acc, h| {
                *acc.entry(&h.article_id).or_default() += features::capitalised_mentions(&h.text, n);
                acc
            })
            .into_values()
            .any(|k| k >= 2)
    })
}

/// A "why" answered by a sentence that states the fact but not its cause, when a neighbour
/// gives the cause: the next sentence goes on with it ("Huawei a été mis sur liste noire …"
/// then "Une décision qui fait suite à des insinuations … d'espionnage"), or the sentence
/// points back at it ("C'est dans cette optique qu'il annonce …"). The neighbour joins the
/// answer beside the first sentence (in place of the last one when the answer is full).
fn cause_from_neighbour<'a>(all: &'a [Candidate], chosen: &mut Vec<&'a Candidate>, max: usize) {
    let Some(first) = chosen.first().copied() else {
        return;
    };
    // The strict markers only: "pour" opens "Pour rappel" as often as a purpose.
    if features::has_cause_marker(&first.text, &[]) {
        return;
    }
    let first_low = first.text.to_lowercase().replace('’', "'");
    let first_low = first_low.trim_start_matches(['«', '"', '“', ' ', '\u{a0}']);
    let previous = || all.iter().find(|c| adjacent(c, first)).map(|c| (c, 0));
    let neighbour = if features::POINTS_BACK_TO_CAUSE.iter().any(|m| first_low.starts_with(m)) {
        previous()
    } else {
        all.iter()
            .find(|c| adjacent(first, c))
            .filter(|c| features::has_cause_marker(&c.text, features::CAUSE_FOLLOWS))
            .map(|c| (c, 1))
            // "Ses lobbyistes … ont été privés d'accès" says what followed; the sentence it
            // refers back to says why ("… entachée par des soupçons de corruption").
            .or_else(|| previous().filter(|_| features::refers_back(&first.text)))
    };
    if let Some((n, at)) = neighbour {
        join(chosen, n, at, max);
    }
}

/// Adjacent in a passage: at most a few bytes apart (a space, a line break, a no-break space).
fn adjacent(a: &Candidate, b: &Candidate) -> bool {
    a.passage == b.passage && a.range.end <= b.range.start && b.range.start - a.range.end <= 3
}

/// `n` joins the answer at `at`, in place of the last sentence when the answer is full.
fn join<'a>(chosen: &mut Vec<&'a Candidate>, n: &'a Candidate, at: usize, max: usize) {
    if chosen.iter().any(|c| std::ptr::eq(*c, n)) {
        return;
    }
    if chosen.len() >= max.max(2) {
        chosen.pop();
    }
    chosen.insert(at.min(chosen.len()), n);
}

/// A question asking for a name answered by a sentence that names nobody new, because it
/// opens by referring back to the name ("Le géant des médias français travaille avec
/// Huawei …" after "… Fabien Aufrechter, le directeur Web 3.0 de Vivendi …"): the previous
/// sentence of the passage, when it names something the question does not, joins the answer
/// before it.
fn name_from_previous<'a>(question: &str, all: &'a [Candidate], chosen: &mut Vec<&'a Candidate>, max: usize) {
    let Some(first) = chosen.first().copied() else {
        return;
    };
    let q: HashSet<String> = features::question_names(question).into_iter().collect();
    if !features::refers_back(&first.text) || features::names_something_new(&first.text, &q) {
        return;
    }
    if let Some(prev) = all
        .iter()
        .find(|c| adjacent(c, first))
        .filter(|c| features::names_something_new(&c.text, &q))
    {
        join(chosen, prev, 0, max);
    }
}

/// The stored text of an article, for placing answer sentences in it.
pub struct ArticleTextRef<'a> {
    pub text: &'a str,
    /// 1-based source line of the text's first line.
    pub line_base: u32,
}

/// Places each sentence of `answer` (and its fact) in its article's text: byte spans and
/// exact source lines. `text_of` gives an article's stored text by id, when there is one.
pub fn locate<'a>(answer: &mut Answer, text_of: &dyn Fn(&str) -> Option<ArticleTextRef<'a>>) {
    for s in &mut answer.sentences {
        let Some(c) = answer.citations.iter().find(|c| c.n == s.citation) else {
            continue;
        };
        let Some(article) = text_of(&c.article_id) else {
            continue;
        };
        // Passage text is the article's blocks joined by one newline each, so the sentence
        // starts at or after the same offset in the article.
        let from = c.start + s.in_passage.start;
        let Some(window) = article.text.get(from.min(c.end)..c.end.min(article.text.len())) else {
            continue;
        };
        let Some(at) = window.find(&s.text) else {
            continue;
        };
        let start = from + at;
        let end = start + s.text.len();
        s.start = Some(start);
        s.end = Some(end);
        s.line_start = article.line_base + article.text[..start].matches('\n').count() as u32;
        s.line_end = s.line_start + s.text.matches('\n').count() as u32;
        if let Some(f) = &mut s.fact {
            f.start = Some(start + f.sentence_start);
            f.end = Some(start + f.sentence_end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picture_credits_are_not_candidate_sentences() {
        let text = "Xiaomi rachète des brevets à Nokia pour conquérir l'Europe. Crédit photo : Hans Gogia\n\
                    Photo : Jean Dupont pour le journal.";
        let kept: Vec<&str> = candidate_sentences(text).map(|(_, s)| s).collect();
        assert_eq!(kept, ["Xiaomi rachète des brevets à Nokia pour conquérir l'Europe."]);
        assert!(is_picture_credit("\u{a9} AFP / Hans Lucas photographe"));
        assert!(!is_picture_credit("La photo a été prise en 2019 par un passant."));
    }

    #[test]
    fn question_language() {
        assert_eq!(
            question_lang("Combien de consultants IBM envoie-t-il chez Huawei ?"),
            "fr"
        );
        assert_eq!(question_lang("How many IBM consultants help Huawei?"), "en");
        assert_eq!(question_lang("Qui est Ross Gan ?"), "fr");
        assert_eq!(question_lang("Who founded Huawei?"), "en");
        assert_eq!(question_lang("Où est Armonk ?"), "fr");
    }

    #[test]
    fn abstention_speaks_the_question_language() {
        assert!(abstention_message("fr").starts_with("Je n'ai pas"));
        assert!(abstention_message("en").starts_with("I could not"));
    }

    /// Bag-of-letters vectors, counting how many documents it embeds.
    struct Letters(std::sync::atomic::AtomicUsize);

    impl Letters {
        fn vector(text: &str) -> Vec<f32> {
            let mut v = [0.0f32; 26];
            for c in text.to_lowercase().chars().filter(|c| c.is_ascii_lowercase()) {
                v[(c as u8 - b'a') as usize] += 1.0;
            }
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
            v.iter().map(|x| x / n).collect()
        }
    }

    impl Embedder for Letters {
        fn embed_queries(&self, q: &[&str]) -> Result<Vec<Vec<f32>>> {
            Ok(q.iter().map(|t| Letters::vector(t)).collect())
        }
        fn embed_documents(&self, d: &[Document<'_>]) -> Result<Vec<Vec<f32>>> {
            self.0.fetch_add(d.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(d.iter().map(|d| Letters::vector(d.text)).collect())
        }
        fn dims(&self) -> usize {
            26
        }
        fn fingerprint(&self) -> String {
            "letters".into()
        }
        fn name(&self) -> String {
            "letters".into()
        }
        fn max_tokens(&self) -> usize {
            512
        }
        fn count_tokens(&self, t: &str) -> usize {
            t.split_whitespace().count()
        }
        fn document_overhead(&self, _: Option<&str>) -> usize {
            0
        }
    }

    fn hit(id: i64, text: &str) -> Hit {
        Hit {
            rank: id as usize,
            score: 0.9,
            similarity: Some(0.9),
            chunk_id: id,
            article_id: format!("a{id}.txt"),
            title: Some("Titre".into()),
            date: None,
            lang: Some("fr".into()),
            path: format!("a{id}.txt"),
            line_start: 1,
            line_end: 3,
            start: 0,
            end: text.len(),
            text: text.into(),
            snippet: String::new(),
        }
    }

    #[test]
    fn a_why_takes_the_cause_from_the_neighbouring_sentence() {
        let passage = "Huawei a été mis sur liste noire en mai. Une décision qui fait suite à des accusations \
                       d'espionnage. C'est dans cette optique qu'il rachète des brevets. Le temps reste au beau fixe sur la ville.";
        let cands: Vec<Candidate> = candidate_sentences(passage)
            .enumerate()
            .map(|(i, (range, text))| Candidate {
                passage: 0,
                text: text.trim().to_string(),
                range,
                features: [0.0; features::FEATURES],
                score: -(i as f32),
                reading: None,
            })
            .collect();
        let texts = |chosen: &[&Candidate]| {
            chosen
                .iter()
                .map(|c| c.text.chars().take(12).collect::<String>())
                .collect::<Vec<_>>()
        };
        // The next sentence gives the cause of the first.
        let mut chosen = vec![&cands[0]];
        cause_from_neighbour(&cands, &mut chosen, 3);
        assert_eq!(texts(&chosen), ["Huawei a été", "Une décision"]);
        // "C'est dans cette optique" points back at the sentence before.
        let mut chosen = vec![&cands[2]];
        cause_from_neighbour(&cands, &mut chosen, 3);
        assert_eq!(texts(&chosen), ["Une décision", "C'est dans c"]);
        // A sentence that gives its own cause, or whose neighbour gives none, stays alone.
        let mut chosen = vec![&cands[1]];
        cause_from_neighbour(&cands, &mut chosen, 3);
        assert_eq!(chosen.len(), 1);
        let mut chosen = vec![&cands[3]];
        cause_from_neighbour(&cands, &mut chosen, 3);
        assert_eq!(chosen.len(), 1);
    }

    #[test]
    fn a_passage_naming_the_question_keeps_a_low_similarity_on_topic() {
        let opts = AnswerOptions::default();
        let mut h = hit(
            1,
            "Le contrat a été révélé par Ross Gan, porte-parole du groupe chinois.",
        );
        h.similarity = Some(0.19);
        let passages = [&h];
        let c = confidence(&passages);
        assert!(!should_abstain("Qui est Ross Gan ?", &passages, c, &opts));
        // Without the name, or with a name the passage lacks, the floor decides.
        assert!(should_abstain("qui est le porte-parole ?", &passages, c, &opts));
        assert!(should_abstain("Qui est Ross Perot ?", &passages, c, &opts));
        // Far below the floor, a shared name is a coincidence.
        h.similarity = Some(0.1);
        let passages = [&h];
        assert!(should_abstain(
            "Qui est Ross Gan ?",
            &passages,
            confidence(&passages),
            &opts
        ));
        assert!(should_abstain("Qui est Ross Gan ?", &[], 0.9, &opts));
    }

    #[test]
    fn cached_sentence_vectors_give_the_same_answer_without_embedding_again() {
        let e = Letters(Default::default());
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("s.sqlite3")).unwrap();
        let hits = [
            hit(
                1,
                "IBM envoie vingt-cinq consultants chez Huawei. Le contrat court sur deux ans.",
            ),
            hit(
                2,
                "Xiaomi rachète des brevets à Nokia. Le montant reste secret pour le moment.",
            ),
        ];
        let q = "Combien de consultants IBM envoie-t-il ?";
        let qv = Letters::vector(q);
        let opts = AnswerOptions::default();
        let plain = extractive(&e, q, &qv, &hits, &opts).unwrap();
        let n_plain = e.0.swap(0, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(n_plain, 4, "four candidate sentences");
        let first = extractive_cached(&e, &store, q, &qv, &hits, &opts).unwrap();
        assert_eq!(
            e.0.swap(0, std::sync::atomic::Ordering::SeqCst),
            4,
            "a cold cache embeds all"
        );
        let second = extractive_cached(&e, &store, q, &qv, &hits, &opts).unwrap();
        assert_eq!(
            e.0.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "a warm cache embeds none"
        );
        for a in [&first, &second] {
            assert_eq!(a.text, plain.text);
            let scores: Vec<f32> = a.sentences.iter().map(|s| s.score).collect();
            assert_eq!(scores, plain.sentences.iter().map(|s| s.score).collect::<Vec<_>>());
        }
        // Another embedder (fingerprint) does not read these vectors.
        assert_ne!(
            sentence_key("letters", Some("Titre"), "x"),
            sentence_key("other", Some("Titre"), "x")
        );
        assert_ne!(
            sentence_key("letters", Some("Titre"), "x"),
            sentence_key("letters", None, "x")
        );
    }
}

/// A sentence of a generated answer and whether its citations hold.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckedSentence {
    pub text: String,
    /// Passage numbers the sentence cites.
    pub citations: Vec<usize>,
    /// True when it cites at least one passage and every cited number was given.
    pub valid: bool,
}

/// Splits a generated answer into sentences and checks each `[n]` against the `passages`
/// numbered 1..=passages that were in the prompt.
pub fn check_citations(text: &str, passages: usize) -> Vec<CheckedSentence> {
    let mut out = Vec::new();
    for r in split_sentences(text, 0..text.len()) {
        let s = text[r].trim();
        if s.is_empty() {
            continue;
        }
        let mut cites = Vec::new();
        let mut valid = true;
        let mut rest = s;
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            let Some(close) = after.find(']') else { break };
            for part in after[..close].split(',') {
                match part.trim().parse::<usize>() {
                    Ok(n) if (1..=passages).contains(&n) => cites.push(n),
                    Ok(_) => valid = false,
                    Err(_) => {}
                }
            }
            rest = &after[close + 1..];
        }
        // A lone citation after the final period belongs to the sentence before it.
        if cites.is_empty()
            && valid
            && s.starts_with('[')
            && s.len() <= 8
            && let Some(prev) = out.last_mut()
        {
            let prev: &mut CheckedSentence = prev;
            let n: Vec<usize> = s
                .trim_matches(|c| c == '[' || c == ']' || c == '.')
                .split(',')
                .filter_map(|p| p.trim().parse().ok())
                .filter(|n| (1..=passages).contains(n))
                .collect();
            if !n.is_empty() {
                prev.citations.extend(n);
                prev.valid = true;
                prev.text.push(' ');
                prev.text.push_str(s);
                continue;
            }
        }
        out.push(CheckedSentence {
            text: s.to_string(),
            valid: valid && !cites.is_empty(),
            citations: cites,
        });
    }
    out
}

/// The instructions and the numbered passages given to a generator.
pub fn generation_prompt(question: &str, lang: &str, hits: &[&Hit]) -> (String, String) {
    let language = if lang == "fr" { "French" } else { "English" };
    let system = format!(
        "You answer questions using only the numbered passages provided. Answer in {language}, in at most three short sentences. \
         End every sentence with the number of the passage that supports it, like [1]. \
         If the passages do not contain the answer, say that you do not know."
    );
    let mut user = String::from("Passages:\n");
    for (i, h) in hits.iter().enumerate() {
        let title = h.title.as_deref().map(|t| format!("{t}: ")).unwrap_or_default();
        user.push_str(&format!(
            "[{}] {title}{}\n",
            i + 1,
            h.text.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    user.push_str(&format!("\nQuestion: {question}"));
    (system, user)
}

#[cfg(test)]
mod citation_tests {
    use super::*;

    #[test]
    fn citations_are_checked_per_sentence() {
        let c = check_citations(
            "IBM sends 25 consultants [1]. Huawei was founded in 1987 [3]. It is big.",
            2,
        );
        assert_eq!(c.len(), 3);
        assert!(c[0].valid && c[0].citations == vec![1]);
        assert!(!c[1].valid, "[3] was not given");
        assert!(!c[2].valid, "no citation");
        let c = check_citations("Il envoie 25 consultants [1, 2].", 2);
        assert_eq!(c[0].citations, vec![1, 2]);
        assert!(c[0].valid);
    }
}
