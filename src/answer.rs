//! Extractive answers: the few sentences of the retrieved passages that best answer the
//! question, each citing the passage it comes from, or an honest abstention.
//!
//! Nothing is generated, so every claim is a sentence of an article and every citation
//! points at a passage that was shown. Sentences are scored with the embedder (question vs
//! sentence, both sides with their retrieval prompts) plus lexical overlap of analysed terms,
//! which rewards exact names and numbers the question repeats.

use std::collections::HashSet;

use serde::Serialize;

use crate::Result;
use crate::chunk::split_sentences;
use crate::embed::{Document, Embedder};
use crate::retrieve::Hit;

/// Tunables of the extractive answerer.
#[derive(Debug, Clone, Copy)]
pub struct AnswerOptions {
    /// Passages whose sentences are considered.
    pub passages: usize,
    /// Most sentences in an answer.
    pub max_sentences: usize,
    /// Below this best-passage similarity, abstain. Calibrated on `examples/queries/seed.jsonl`.
    pub abstain_below: f32,
    /// Weight of lexical overlap next to cosine similarity.
    pub lexical_weight: f32,
    /// A further sentence must score within this margin of the best one.
    pub margin: f32,
}

impl Default for AnswerOptions {
    fn default() -> Self {
        AnswerOptions {
            passages: 4,
            max_sentences: 3,
            abstain_below: 0.30,
            lexical_weight: 0.3,
            margin: 0.06,
        }
    }
}

/// One sentence of an answer with the number of the source it cites.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerSentence {
    pub text: String,
    pub citation: usize,
    pub score: f32,
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
}

/// Guesses whether a question is French or English. Questions are short, where statistical
/// detectors are unreliable, so common function words decide first.
pub fn question_lang(q: &str) -> &'static str {
    const FR: &[&str] = &[
        "le", "la", "les", "des", "du", "de", "un", "une", "est", "quel", "quelle", "quels", "quelles", "qui", "que",
        "quoi", "combien", "comment", "pourquoi", "où", "quand", "et", "en", "au", "aux", "sur", "pour", "avec",
        "dans", "il", "elle", "ils", "a-t-il", "est-ce", "selon", "depuis",
    ];
    const EN: &[&str] = &[
        "the",
        "a",
        "an",
        "is",
        "are",
        "was",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "many",
        "much",
        "why",
        "where",
        "when",
        "and",
        "in",
        "on",
        "for",
        "with",
        "of",
        "to",
        "does",
        "do",
        "did",
        "has",
        "have",
        "according",
    ];
    let words: Vec<String> = q
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect();
    let fr = words
        .iter()
        .filter(|w| FR.contains(&w.as_str()) || w.contains("qu'") || w.starts_with("l'") || w.starts_with("d'"))
        .count();
    let en = words.iter().filter(|w| EN.contains(&w.as_str())).count();
    if fr > en {
        "fr"
    } else if en > fr {
        "en"
    } else if q.chars().any(|c| "éèêàçùûôîœ".contains(c)) {
        "fr"
    } else {
        "en"
    }
}

/// The message of an abstention, in the question's language.
pub fn abstention_message(lang: &str) -> &'static str {
    if lang == "fr" {
        "Je n'ai pas trouvé de réponse à cette question dans les articles indexés."
    } else {
        "I could not find an answer to this question in the indexed articles."
    }
}

/// Best similarity between the question and a passage: the abstention signal.
pub fn confidence(passages: &[&Hit]) -> f32 {
    let best = passages.iter().filter_map(|h| h.similarity).fold(f32::MIN, f32::max);
    if best == f32::MIN { 0.0 } else { best }
}

/// Whether nothing retrieved is relevant enough to answer from, for every answerer.
pub fn should_abstain(passages: &[&Hit], confidence: f32, opts: &AnswerOptions) -> bool {
    passages.is_empty() || confidence < opts.abstain_below
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    crate::index::dot(a, b)
}

/// Where the answerer keeps sentence vectors between questions. Embedding the candidate
/// sentences is most of an answer's time, and passages come back across questions (and
/// across modes in `eval`). A cache failure only costs time, so it is never an error.
pub trait SentenceCache {
    fn get(&self, key: &str) -> Option<Vec<f32>>;
    fn put(&self, items: &[(String, Vec<f32>)]);
}

/// No caching.
pub struct NoCache;

impl SentenceCache for NoCache {
    fn get(&self, _: &str) -> Option<Vec<f32>> {
        None
    }
    fn put(&self, _: &[(String, Vec<f32>)]) {}
}

impl SentenceCache for crate::store::Store {
    fn get(&self, key: &str) -> Option<Vec<f32>> {
        self.cached_sentence_vector(key).unwrap_or_else(|e| {
            tracing::debug!(error = %e, "sentence cache read failed");
            None
        })
    }
    fn put(&self, items: &[(String, Vec<f32>)]) {
        // Reads never write: a read-only store (every `ask`) only uses what eval cached.
        if self.is_read_only() {
            return;
        }
        if let Err(e) = self.cache_sentence_vectors(items) {
            tracing::debug!(error = %e, "sentence cache write failed");
        }
    }
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
    let mut out: Vec<Option<Vec<f32>>> = keys
        .iter()
        .map(|k| cache.get(k).filter(|v| v.len() == embedder.dims()))
        .collect();
    let missing: Vec<usize> = (0..docs.len()).filter(|&i| out[i].is_none()).collect();
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

/// [`extractive`], keeping sentence vectors in `cache`.
pub fn extractive_cached(
    embedder: &dyn Embedder,
    cache: &dyn SentenceCache,
    question: &str,
    qvec: &[f32],
    hits: &[Hit],
    opts: &AnswerOptions,
) -> Result<Answer> {
    let lang = question_lang(question).to_string();
    let passages: Vec<&Hit> = hits.iter().take(opts.passages).collect();
    let confidence = confidence(&passages);
    let abstain = |confidence: f32| Answer {
        question: question.to_string(),
        text: abstention_message(&lang).to_string(),
        lang: lang.clone(),
        abstained: true,
        sentences: Vec::new(),
        citations: Vec::new(),
        confidence,
    };
    if should_abstain(&passages, confidence, opts) {
        return Ok(abstain(confidence));
    }

    // Candidate sentences, deduplicated (overlapping chunks repeat a sentence).
    let mut seen = HashSet::new();
    let mut cands: Vec<(usize, String)> = Vec::new();
    for (pi, h) in passages.iter().enumerate() {
        for r in split_sentences(&h.text, 0..h.text.len()) {
            let s = h.text[r].trim();
            if s.split_whitespace().count() < 4 || !seen.insert(s.to_string()) {
                continue;
            }
            cands.push((pi, s.to_string()));
        }
    }
    if cands.is_empty() {
        return Ok(abstain(confidence));
    }
    let docs: Vec<Document<'_>> = cands
        .iter()
        .map(|(pi, s)| Document {
            title: passages[*pi].title.as_deref(),
            text: s,
        })
        .collect();
    let vecs = sentence_vectors(embedder, cache, &docs)?;
    let q_terms: HashSet<String> = crate::lexical::analyze(Some(&lang), question).into_iter().collect();
    let mut scored: Vec<(f32, usize)> = cands
        .iter()
        .zip(&vecs)
        .enumerate()
        .map(|(i, ((pi, s), v))| {
            let overlap = if q_terms.is_empty() {
                0.0
            } else {
                let lang = passages[*pi].lang.as_deref();
                let terms: HashSet<String> = crate::lexical::analyze(lang, s).into_iter().collect();
                q_terms.intersection(&terms).count() as f32 / q_terms.len() as f32
            };
            (cosine(qvec, v) + opts.lexical_weight * overlap, i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));

    let best = scored[0].0;
    let mut chosen: Vec<(f32, usize)> = Vec::new();
    for &(score, i) in &scored {
        if chosen.len() == opts.max_sentences || score < best - opts.margin {
            break;
        }
        chosen.push((score, i));
    }
    // Number sources in order of first use.
    let mut citations: Vec<Citation> = Vec::new();
    let mut sentences = Vec::new();
    for &(score, i) in &chosen {
        let (pi, text) = &cands[i];
        let h = passages[*pi];
        let n = match citations.iter().find(|c| c.chunk_id == h.chunk_id) {
            Some(c) => c.n,
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
        sentences.push(AnswerSentence {
            text: text.clone(),
            citation: n,
            score,
        });
    }
    let text = sentences
        .iter()
        .map(|s| format!("{} [{}]", s.text, s.citation))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Answer {
        question: question.to_string(),
        lang,
        abstained: false,
        text,
        sentences,
        citations,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
