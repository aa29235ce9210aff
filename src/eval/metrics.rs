//! Retrieval and answer metrics for evaluations, with the BEIR / pytrec_eval definitions.
//!
//! Retrieval figures must be comparable with published BEIR and MTEB numbers, so each metric
//! follows trec_eval's definition (stated on the function) and [`rank_by_scores`] reproduces
//! trec_eval's tie-breaking for callers that hold scores rather than a ranking. [`Summary`]
//! averages per-query figures per language. Answer metrics (normalised answer match, citation
//! precision, abstention) and latency percentiles live here too, so every figure of an
//! evaluation report has exactly one definition.
//!
//! Conventions shared by the retrieval metrics:
//! - `ranked` is taken as given, best first: ties were already broken by the retriever.
//! - A document id repeated in `ranked` counts at its first occurrence only; later copies are
//!   dropped before the cut-off, as if the run were trec_eval's one-score-per-document map.
//! - A document is relevant when its gain in the [`Qrels`] is above 0 (trec_eval's rule).
//! - A query without any relevant document yields `None`: it is left out of retrieval means,
//!   as pytrec_eval and BEIR do, and counted as excluded by [`Summary`].

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize, Serializer};

/// Graded relevance judgements of one query: document id → gain (binary judgements use 1;
/// 0 means judged non-relevant).
pub type Qrels = BTreeMap<String, u32>;

/// Language key used by [`Summary`] for queries whose language is unknown (BCP 47 "undetermined").
pub const UNKNOWN_LANG: &str = "und";

/// The first `k` distinct ids of `ranked`, in order.
fn top_k<S: AsRef<str>>(ranked: &[S], k: usize) -> Vec<&str> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(k.min(ranked.len()));
    for id in ranked {
        if out.len() >= k {
            break;
        }
        let id = id.as_ref();
        if seen.insert(id) {
            out.push(id);
        }
    }
    out
}

fn gain(qrels: &Qrels, id: &str) -> u32 {
    qrels.get(id).copied().unwrap_or(0)
}

/// Number of relevant (gain > 0) documents, or `None` when there are none.
fn relevant_count(qrels: &Qrels) -> Option<usize> {
    let n = qrels.values().filter(|&&g| g > 0).count();
    (n > 0).then_some(n)
}

fn hits_in_top_k<S: AsRef<str>>(ranked: &[S], qrels: &Qrels, k: usize) -> usize {
    top_k(ranked, k).into_iter().filter(|id| gain(qrels, id) > 0).count()
}

/// Recall@k: relevant documents among the first `k` distinct results, divided by the number
/// of relevant documents (trec_eval `recall_k`). `None` when the query has no relevant document.
pub fn recall_at<S: AsRef<str>>(ranked: &[S], qrels: &Qrels, k: usize) -> Option<f64> {
    let n = relevant_count(qrels)?;
    Some(hits_in_top_k(ranked, qrels, k) as f64 / n as f64)
}

/// Precision@k: relevant documents among the first `k` distinct results, divided by `k` even
/// when fewer than `k` were retrieved (trec_eval `P_k`). `k = 0` gives 0.
/// `None` when the query has no relevant document.
pub fn precision_at<S: AsRef<str>>(ranked: &[S], qrels: &Qrels, k: usize) -> Option<f64> {
    relevant_count(qrels)?;
    if k == 0 {
        return Some(0.0);
    }
    Some(hits_in_top_k(ranked, qrels, k) as f64 / k as f64)
}

/// Hit@k (success@k): 1 when any of the first `k` distinct results is relevant, else 0.
/// `None` when the query has no relevant document.
pub fn hit_at<S: AsRef<str>>(ranked: &[S], qrels: &Qrels, k: usize) -> Option<f64> {
    relevant_count(qrels)?;
    Some(if hits_in_top_k(ranked, qrels, k) > 0 { 1.0 } else { 0.0 })
}

/// MRR@k: 1 / rank of the first relevant result within the first `k` distinct results, 0 when
/// none (BEIR's `MRR@k`, trec_eval `recip_rank` cut at k). `None` without relevant documents.
pub fn mrr_at<S: AsRef<str>>(ranked: &[S], qrels: &Qrels, k: usize) -> Option<f64> {
    relevant_count(qrels)?;
    let first = top_k(ranked, k).into_iter().position(|id| gain(qrels, id) > 0);
    Some(first.map_or(0.0, |i| 1.0 / (i + 1) as f64))
}

/// nDCG@k as trec_eval `ndcg_cut_k` (used by pytrec_eval and BEIR): linear gain,
/// DCG = Σ_{rank=1..k} gain / log2(rank + 1); the ideal DCG sorts all judged gains in
/// decreasing order and cuts at `k`. `None` without relevant documents; `k = 0` gives 0.
pub fn ndcg_at<S: AsRef<str>>(ranked: &[S], qrels: &Qrels, k: usize) -> Option<f64> {
    relevant_count(qrels)?;
    let discount = |i: usize| ((i + 2) as f64).log2(); // i is 0-based: rank = i + 1
    let dcg: f64 = top_k(ranked, k)
        .into_iter()
        .enumerate()
        .map(|(i, id)| gain(qrels, id) as f64 / discount(i))
        .sum();
    let mut ideal: Vec<u32> = qrels.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &g)| g as f64 / discount(i))
        .sum();
    Some(if idcg > 0.0 { dcg / idcg } else { 0.0 })
}

/// Orders scored documents the way trec_eval (hence pytrec_eval) does before computing any
/// metric: score descending, then document id descending (byte order, like `strcmp`).
/// Feeding the result to the functions above gives pytrec_eval's figures exactly, ties included.
/// NaN scores sort last; an id given twice keeps its best-ranked occurrence.
pub fn rank_by_scores(scored: &[(String, f64)]) -> Vec<String> {
    let mut order: Vec<&(String, f64)> = scored.iter().collect();
    order.sort_by(|(id_a, a), (id_b, b)| {
        let by_score = match (a.is_nan(), b.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => b.partial_cmp(a).unwrap_or(Ordering::Equal),
        };
        by_score.then_with(|| id_b.cmp(id_a))
    });
    let mut seen = HashSet::new();
    order
        .into_iter()
        .filter(|(id, _)| seen.insert(id.as_str()))
        .map(|(id, _)| id.clone())
        .collect()
}

/// The per-query retrieval figures averaged by [`Summary`]. Serialised with the usual names
/// (`recall@1`, …, `ndcg@10`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrievalScores {
    #[serde(rename = "recall@1")]
    pub recall_at_1: f64,
    #[serde(rename = "recall@3")]
    pub recall_at_3: f64,
    #[serde(rename = "recall@5")]
    pub recall_at_5: f64,
    #[serde(rename = "recall@10")]
    pub recall_at_10: f64,
    #[serde(rename = "mrr@10")]
    pub mrr_at_10: f64,
    #[serde(rename = "ndcg@10")]
    pub ndcg_at_10: f64,
}

impl RetrievalScores {
    /// All figures for one query; `None` when it has no relevant document.
    pub fn compute<S: AsRef<str>>(ranked: &[S], qrels: &Qrels) -> Option<Self> {
        Some(Self {
            recall_at_1: recall_at(ranked, qrels, 1)?,
            recall_at_3: recall_at(ranked, qrels, 3)?,
            recall_at_5: recall_at(ranked, qrels, 5)?,
            recall_at_10: recall_at(ranked, qrels, 10)?,
            mrr_at_10: mrr_at(ranked, qrels, 10)?,
            ndcg_at_10: ndcg_at(ranked, qrels, 10)?,
        })
    }

    fn add(&mut self, o: &Self) {
        self.recall_at_1 += o.recall_at_1;
        self.recall_at_3 += o.recall_at_3;
        self.recall_at_5 += o.recall_at_5;
        self.recall_at_10 += o.recall_at_10;
        self.mrr_at_10 += o.mrr_at_10;
        self.ndcg_at_10 += o.ndcg_at_10;
    }

    fn divided_by(&self, n: f64) -> Self {
        Self {
            recall_at_1: self.recall_at_1 / n,
            recall_at_3: self.recall_at_3 / n,
            recall_at_5: self.recall_at_5 / n,
            recall_at_10: self.recall_at_10 / n,
            mrr_at_10: self.mrr_at_10 / n,
            ndcg_at_10: self.ndcg_at_10 / n,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    included: usize,
    excluded: usize,
    sums: RetrievalScores,
}

impl Tally {
    fn add(&mut self, scores: Option<&RetrievalScores>) {
        match scores {
            Some(s) => {
                self.included += 1;
                self.sums.add(s);
            }
            None => self.excluded += 1,
        }
    }

    fn report(&self) -> GroupReport {
        GroupReport {
            included: self.included,
            excluded: self.excluded,
            mean: (self.included > 0).then(|| self.sums.divided_by(self.included as f64)),
        }
    }
}

/// Accumulates per-query [`RetrievalScores`] and reports their means overall and per language.
/// Serialises as its [`SummaryReport`].
#[derive(Debug, Clone, Default)]
pub struct Summary {
    overall: Tally,
    by_lang: BTreeMap<String, Tally>,
}

/// Means of one group of queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupReport {
    /// Queries with at least one relevant document, averaged into `mean`.
    pub included: usize,
    /// Queries without relevant documents (unanswerable), left out of `mean`.
    pub excluded: usize,
    /// Mean figures over the included queries; `None` when there are none.
    pub mean: Option<RetrievalScores>,
}

/// What a [`Summary`] reports: overall and per-language means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryReport {
    pub overall: GroupReport,
    /// Keyed by lowercased language code; [`UNKNOWN_LANG`] when the query had none.
    pub by_lang: BTreeMap<String, GroupReport>,
}

impl Summary {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one query: `scores` is `None` when it had no relevant document.
    pub fn add(&mut self, lang: Option<&str>, scores: Option<&RetrievalScores>) {
        // Normalised so "FR" and "fr " land in one group.
        let lang = lang
            .map(|l| l.trim().to_lowercase())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| UNKNOWN_LANG.to_string());
        self.overall.add(scores);
        self.by_lang.entry(lang).or_default().add(scores);
    }

    /// Computes one query's figures, records them and returns them (for per-query logs).
    pub fn add_ranking<S: AsRef<str>>(
        &mut self,
        lang: Option<&str>,
        ranked: &[S],
        qrels: &Qrels,
    ) -> Option<RetrievalScores> {
        let scores = RetrievalScores::compute(ranked, qrels);
        self.add(lang, scores.as_ref());
        scores
    }

    pub fn report(&self) -> SummaryReport {
        SummaryReport {
            overall: self.overall.report(),
            by_lang: self
                .by_lang
                .iter()
                .map(|(lang, t)| (lang.clone(), t.report()))
                .collect(),
        }
    }
}

impl Serialize for Summary {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        self.report().serialize(serializer)
    }
}

/// Folds one lowercase character to ASCII when it is a Latin letter with a diacritic or a
/// ligature; combining marks (decomposed accents) vanish; anything else is kept.
fn fold_char(c: char, out: &mut Vec<char>) {
    let s: &str = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        '\u{0300}'..='\u{036f}' => "",
        _ => {
            out.push(c);
            return;
        }
    };
    out.extend(s.chars());
}

/// Characters that may group thousands between digits: "1.000", "1,000", "1 000" with a
/// space, NBSP, narrow NBSP or thin space, and the Swiss "1'000" / "1’000".
fn is_digit_group_separator(c: char) -> bool {
    matches!(c, '.' | ',' | ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}' | '\'' | '’')
}

/// Normalises a short answer for lenient comparison: lowercase; Latin diacritics and ligatures
/// folded to ASCII (é→e, œ→oe, ç→c, decomposed accents too); thousands separators between
/// digits removed ("1.000", "1 000", "1 000" with NBSP and "1000" all give "1000"); every other
/// character that is not a letter or digit (punctuation, quotes ’ « » “ ”, symbols) becomes a
/// space; whitespace collapsed and trimmed.
///
/// A separator only counts as a thousands separator inside a well-formed group: 1–3 leading
/// digits, then separator + exactly 3 digits, repeated. So "2019 300" stays two numbers and
/// the decimal "3,5" becomes "3 5", like "3.5".
pub fn normalize_answer(s: &str) -> String {
    let mut folded = Vec::with_capacity(s.len());
    for c in s.chars() {
        for lc in c.to_lowercase() {
            fold_char(lc, &mut folded);
        }
    }

    let is_digit = |i: usize| folded.get(i).is_some_and(|c| c.is_ascii_digit());
    let mut out = String::with_capacity(folded.len());
    let mut i = 0;
    while i < folded.len() {
        let c = folded[i];
        if c.is_ascii_digit() {
            let start = i;
            while is_digit(i) {
                i += 1;
            }
            out.extend(&folded[start..i]);
            if i - start <= 3 {
                // Absorb "SEP ddd" groups while the next group has exactly three digits.
                while i < folded.len()
                    && is_digit_group_separator(folded[i])
                    && (1..=3).all(|d| is_digit(i + d))
                    && !is_digit(i + 4)
                {
                    out.extend(&folded[i + 1..i + 4]);
                    i += 4;
                }
            }
            continue;
        }
        if c.is_alphanumeric() {
            out.push(c);
        } else {
            out.push(' ');
        }
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the answer contains any gold answer, both normalised with [`normalize_answer`].
/// The match is on whole words: the gold must start and end on word boundaries of the answer,
/// so gold "3" is not found in "1983" nor "paris" in "parisien". Gold answers that normalise
/// to nothing are ignored.
pub fn answer_hit<S: AsRef<str>>(answer_text: &str, gold_answers: &[S]) -> bool {
    let haystack = format!(" {} ", normalize_answer(answer_text));
    gold_answers.iter().any(|g| {
        let g = normalize_answer(g.as_ref());
        !g.is_empty() && haystack.contains(&format!(" {g} "))
    })
}

/// SQuAD's answer tokens: [`normalize_answer`]'s words without articles, French ones
/// included (le, la, les, l', un, une, des, du, de la are dropped as the official script drops
/// a, an, the).
fn squad_tokens(s: &str) -> Vec<String> {
    const ARTICLES: &[&str] = &["a", "an", "the", "le", "la", "les", "l", "un", "une", "des", "du"];
    normalize_answer(s)
        .split_whitespace()
        .filter(|w| !ARTICLES.contains(w))
        .map(str::to_string)
        .collect()
}

/// The best SQuAD token F1 and exact match of `guess` against any gold answer.
pub fn squad_f1_em<S: AsRef<str>>(guess: &str, gold_answers: &[S]) -> (f64, bool) {
    let g = squad_tokens(guess);
    let mut best = (0.0f64, false);
    for gold in gold_answers {
        let t = squad_tokens(gold.as_ref());
        if t.is_empty() {
            continue;
        }
        let em = t == g;
        let mut pool: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for w in &t {
            *pool.entry(w.as_str()).or_default() += 1;
        }
        let mut common = 0usize;
        for w in &g {
            if let Some(n) = pool.get_mut(w.as_str())
                && *n > 0
            {
                *n -= 1;
                common += 1;
            }
        }
        let f1 = if common == 0 {
            0.0
        } else {
            let p = common as f64 / g.len() as f64;
            let r = common as f64 / t.len() as f64;
            2.0 * p * r / (p + r)
        };
        if f1 > best.0 || (em && !best.1) {
            best = (f1.max(best.0), em || best.1);
        }
    }
    best
}

/// Fraction of the distinct cited article ids that are relevant (gain > 0). `None` when
/// nothing was cited, since precision is undefined there (abstentions are counted apart).
pub fn citation_precision<S: AsRef<str>>(cited_article_ids: &[S], relevant: &Qrels) -> Option<f64> {
    let cited: BTreeSet<&str> = cited_article_ids.iter().map(|s| s.as_ref()).collect();
    if cited.is_empty() {
        return None;
    }
    let good = cited.iter().filter(|id| gain(relevant, id) > 0).count();
    Some(good as f64 / cited.len() as f64)
}

/// Counts of the abstain/answer decisions against whether a question is answerable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbstentionCounts {
    pub unanswerable: usize,
    pub abstained_on_unanswerable: usize,
    pub answerable: usize,
    pub abstained_on_answerable: usize,
}

impl AbstentionCounts {
    /// Records one question.
    pub fn record(&mut self, answerable: bool, abstained: bool) {
        if answerable {
            self.answerable += 1;
            self.abstained_on_answerable += usize::from(abstained);
        } else {
            self.unanswerable += 1;
            self.abstained_on_unanswerable += usize::from(abstained);
        }
    }

    /// Share of right decisions: abstaining on unanswerable questions and answering answerable
    /// ones. `None` when nothing was recorded.
    pub fn accuracy(&self) -> Option<f64> {
        let total = self.unanswerable + self.answerable;
        let answered_on_answerable = self.answerable.saturating_sub(self.abstained_on_answerable);
        ratio(self.abstained_on_unanswerable + answered_on_answerable, total)
    }

    /// Share of unanswerable questions on which the system abstained. `None` without any.
    pub fn correct_abstention_rate(&self) -> Option<f64> {
        ratio(self.abstained_on_unanswerable, self.unanswerable)
    }

    /// Share of answerable questions on which the system wrongly abstained. `None` without any.
    pub fn false_abstention_rate(&self) -> Option<f64> {
        ratio(self.abstained_on_answerable, self.answerable)
    }
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Nearest-rank percentile: the smallest value such that at least `p` % of the values are
/// less than or equal to it, i.e. the value of rank ⌈p/100 · n⌉ (at least 1) in sorted order.
/// It is always one of the observed values (no interpolation). Input need not be sorted; NaN
/// values are ignored. `None` when no value remains or `p` is outside [0, 100].
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if !(0.0..=100.0).contains(&p) {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    // p * n first, then / 100: exact for integral p, so p95 of 20 values is rank 19, not 20.
    let rank = (p * n as f64 / 100.0).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn qrels(pairs: &[(&str, u32)]) -> Qrels {
        pairs.iter().map(|(id, g)| (id.to_string(), *g)).collect()
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-5)
    }

    // ranked [d3, d1, d2], relevant {d1, d2}: the first relevant result is at rank 2.
    const RANKED: [&str; 3] = ["d3", "d1", "d2"];

    #[test]
    fn recall_precision_hit_on_small_example() {
        let q = qrels(&[("d1", 1), ("d2", 1)]);
        assert_eq!(recall_at(&RANKED, &q, 1), Some(0.0)); // 0 / 2
        assert_eq!(recall_at(&RANKED, &q, 2), Some(0.5)); // 1 / 2
        assert_eq!(recall_at(&RANKED, &q, 3), Some(1.0)); // 2 / 2
        assert_eq!(precision_at(&RANKED, &q, 2), Some(0.5)); // 1 / 2
        assert_eq!(precision_at(&RANKED, &q, 5), Some(0.4)); // 2 / 5: trec_eval divides by k
        assert_eq!(precision_at(&RANKED, &q, 0), Some(0.0));
        assert_eq!(hit_at(&RANKED, &q, 1), Some(0.0));
        assert_eq!(hit_at(&RANKED, &q, 2), Some(1.0));
    }

    #[test]
    fn mrr_on_small_example() {
        let q = qrels(&[("d1", 1), ("d2", 1)]);
        assert_eq!(mrr_at(&RANKED, &q, 1), Some(0.0)); // d3 only: no relevant
        assert_eq!(mrr_at(&RANKED, &q, 3), Some(0.5)); // first relevant at rank 2
        assert_eq!(mrr_at(&RANKED, &q, 10), Some(0.5));
    }

    #[test]
    fn ndcg_cross_checked_by_hand() {
        let q = qrels(&[("d1", 1), ("d2", 1)]);
        // DCG@3 = 0/log2(2) + 1/log2(3) + 1/log2(4) = 0.63093 + 0.5 = 1.13093
        // IDCG@3 = 1/log2(2) + 1/log2(3) = 1 + 0.63093 = 1.63093
        // nDCG@3 = 1.13093 / 1.63093 = 0.69343
        assert!(close(ndcg_at(&RANKED, &q, 3), 0.69343));
        // nDCG@2 = (1/log2(3)) / (1 + 1/log2(3)) = 0.63093 / 1.63093 = 0.38685
        assert!(close(ndcg_at(&RANKED, &q, 2), 0.38685));
        assert_eq!(ndcg_at(&RANKED, &q, 1), Some(0.0));
        assert_eq!(ndcg_at(&RANKED, &q, 0), Some(0.0));
        // Perfect ranking gives 1.
        assert!(close(ndcg_at(&["d1", "d2", "d3"], &q, 10), 1.0));
    }

    #[test]
    fn graded_gains() {
        // b is judged non-relevant (gain 0); d is relevant but not retrieved.
        let q = qrels(&[("a", 1), ("b", 0), ("c", 3), ("d", 2)]);
        let ranked = ["a", "b", "c"];
        // DCG@3 = 1/log2(2) + 0/log2(3) + 3/log2(4) = 1 + 0 + 1.5 = 2.5
        // IDCG@3 from gains [3, 2, 1] = 3/1 + 2/log2(3) + 1/log2(4) = 3 + 1.26186 + 0.5 = 4.76186
        // nDCG@3 = 2.5 / 4.76186 = 0.52500
        assert!(close(ndcg_at(&ranked, &q, 3), 0.52500));
        // Relevant = {a, c, d} (gain > 0): recall@3 = 2/3.
        assert!(close(recall_at(&ranked, &q, 3), 2.0 / 3.0));
        assert_eq!(mrr_at(&ranked, &q, 10), Some(1.0));
        // Ranking only b, the gain-0 document: nothing relevant found.
        assert_eq!(mrr_at(&["b"], &q, 10), Some(0.0));
        assert_eq!(hit_at(&["b"], &q, 10), Some(0.0));
    }

    #[test]
    fn duplicates_count_once() {
        let q = qrels(&[("r1", 1), ("r2", 1)]);
        // Deduplicated: [x, r1, r2].
        let ranked = ["x", "x", "r1", "x", "r2"];
        assert_eq!(recall_at(&ranked, &q, 2), Some(0.5)); // top-2 distinct = x, r1
        assert_eq!(mrr_at(&ranked, &q, 10), Some(0.5)); // r1 at distinct rank 2
        assert!(close(precision_at(&ranked, &q, 3), 2.0 / 3.0));
        // Same ranking as [d3, d1, d2] above: 0.69343.
        assert!(close(ndcg_at(&ranked, &q, 3), 0.69343));
        // A relevant id repeated does not gain twice: [r1, r1] → DCG = 1, IDCG = 1.63093.
        assert!(close(ndcg_at(&["r1", "r1"], &q, 10), 1.0 / 1.63093));
        assert_eq!(recall_at(&["r1", "r1"], &q, 10), Some(0.5));
    }

    #[test]
    fn k_larger_than_the_list() {
        let q = qrels(&[("r1", 1), ("r2", 1)]);
        let ranked = ["r1"];
        assert_eq!(recall_at(&ranked, &q, 10), Some(0.5));
        assert_eq!(precision_at(&ranked, &q, 10), Some(0.1)); // 1 / 10
        // DCG = 1; IDCG@10 = 1 + 1/log2(3) = 1.63093; nDCG = 0.61315
        assert!(close(ndcg_at(&ranked, &q, 10), 0.61315));
        let empty: [&str; 0] = [];
        assert_eq!(recall_at(&empty, &q, 10), Some(0.0));
        assert_eq!(ndcg_at(&empty, &q, 10), Some(0.0));
    }

    #[test]
    fn no_relevant_documents_gives_none() {
        for q in [Qrels::new(), qrels(&[("a", 0)])] {
            assert_eq!(recall_at(&["a"], &q, 10), None);
            assert_eq!(precision_at(&["a"], &q, 10), None);
            assert_eq!(hit_at(&["a"], &q, 10), None);
            assert_eq!(mrr_at(&["a"], &q, 10), None);
            assert_eq!(ndcg_at(&["a"], &q, 10), None);
            assert_eq!(RetrievalScores::compute(&["a"], &q), None);
        }
    }

    #[test]
    fn ties_broken_like_trec_eval() {
        let scored: Vec<(String, f64)> = [("a", 0.5), ("b", 0.9), ("c", 0.5), ("d", 0.1)]
            .iter()
            .map(|(id, s)| (id.to_string(), *s))
            .collect();
        // Score descending; a and c tie at 0.5 → id descending puts c first.
        assert_eq!(rank_by_scores(&scored), ["b", "c", "a", "d"]);
        // So a relevant "a" sits at rank 3: MRR = 1/3, not 1/2.
        let q = qrels(&[("a", 1)]);
        assert!(close(mrr_at(&rank_by_scores(&scored), &q, 10), 1.0 / 3.0));
        // NaN sorts last; repeated ids keep their best occurrence.
        let messy: Vec<(String, f64)> = [("n", f64::NAN), ("x", 0.2), ("y", 0.3), ("x", 0.9)]
            .iter()
            .map(|(id, s)| (id.to_string(), *s))
            .collect();
        assert_eq!(rank_by_scores(&messy), ["x", "y", "n"]);
        // Byte order, as strcmp: "b10" > "b1" > "B2".
        let ids: Vec<(String, f64)> = ["B2", "b1", "b10"].iter().map(|s| (s.to_string(), 1.0)).collect();
        assert_eq!(rank_by_scores(&ids), ["b10", "b1", "B2"]);
    }

    #[test]
    fn summary_means_per_language() {
        let mut s = Summary::new();
        // fr, perfect: every figure is 1.
        let perfect = s.add_ranking(Some("fr"), &["r"], &qrels(&[("r", 1)])).unwrap();
        assert_eq!(perfect.ndcg_at_10, 1.0);
        // fr, unanswerable: excluded.
        assert_eq!(s.add_ranking(Some("FR"), &["x"], &Qrels::new()), None);
        // en, relevant at rank 2: recall@1 0, recall@3 1, mrr 0.5, ndcg 1/log2(3) = 0.63093.
        s.add_ranking(Some("en"), &["x", "r"], &qrels(&[("r", 1)]));
        // No language: counted under "und".
        s.add(None, None);

        let r = s.report();
        assert_eq!((r.overall.included, r.overall.excluded), (2, 2));
        let m = r.overall.mean.unwrap();
        assert_eq!(m.recall_at_1, 0.5); // (1 + 0) / 2
        assert_eq!(m.recall_at_3, 1.0); // (1 + 1) / 2
        assert_eq!(m.mrr_at_10, 0.75); // (1 + 0.5) / 2
        assert!((m.ndcg_at_10 - 0.81546).abs() < 1e-5); // (1 + 0.63093) / 2
        assert_eq!((r.by_lang["fr"].included, r.by_lang["fr"].excluded), (1, 1));
        assert_eq!(r.by_lang["fr"].mean, Some(perfect));
        assert!((r.by_lang["en"].mean.unwrap().ndcg_at_10 - 0.63093).abs() < 1e-5);
        assert_eq!(
            (r.by_lang[UNKNOWN_LANG].included, r.by_lang[UNKNOWN_LANG].mean),
            (0, None)
        );

        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["overall"]["mean"]["mrr@10"], 0.75);
        assert_eq!(json["by_lang"]["en"]["mean"]["recall@3"], 1.0);
        let back: SummaryReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
        assert_eq!(Summary::new().report().overall.mean, None);
    }

    #[test]
    fn normalize_accents_quotes_punctuation() {
        assert_eq!(
            normalize_answer("À l’École NORMALE supérieure !"),
            "a l ecole normale superieure"
        );
        assert_eq!(
            normalize_answer("« Œuvre » de Ça, “Ÿ” — æther"),
            "oeuvre de ca y aether"
        );
        assert_eq!(
            normalize_answer("ÂÄÁÃÅ ÇÈÉÊË ÍÌÎÏ Ñ ÓÒÔÖÕØ ÚÙÛÜ Ý ÿ"),
            "aaaaa ceeee iiii n oooooo uuuu y y"
        );
        // Decomposed accents (e + U+0301) fold the same as precomposed ones.
        assert_eq!(normalize_answer("e\u{301}te\u{301}"), "ete");
        assert_eq!(normalize_answer("  Jean-Paul\tSartre\n"), "jean paul sartre");
        assert_eq!(normalize_answer("l'homme"), normalize_answer("l’homme"));
        assert_eq!(normalize_answer("...!?"), "");
        assert_eq!(normalize_answer("50 %"), "50");
    }

    #[test]
    fn normalize_number_separators() {
        for s in [
            "1000",
            "1.000",
            "1,000",
            "1 000",
            "1\u{a0}000",
            "1\u{202f}000",
            "1'000",
            "1’000",
        ] {
            assert_eq!(normalize_answer(s), "1000", "{s:?}");
        }
        assert_eq!(normalize_answer("100\u{a0}000 personnes"), "100000 personnes");
        assert_eq!(normalize_answer("1 000 000 €"), "1000000");
        assert_eq!(normalize_answer("1.000.000,50"), "1000000 50");
        // Not thousands groups: a 4-digit year before a number, decimals.
        assert_eq!(normalize_answer("en 2019 300 personnes"), "en 2019 300 personnes");
        assert_eq!(normalize_answer("3,5"), "3 5");
        assert_eq!(normalize_answer("3.5"), "3 5");
        assert_eq!(normalize_answer("3.14159"), "3 14159");
        assert_eq!(normalize_answer("1 0000"), "1 0000");
    }

    #[test]
    fn answer_hit_matches_normalised_words() {
        assert!(answer_hit(
            "Environ 100 000 personnes y travaillent.",
            &["100\u{a0}000"]
        ));
        assert!(answer_hit("Le palais de L’Élysée.", &["l'elysee"]));
        assert!(answer_hit("It was in 1983.", &["nope", "1983"]));
        assert!(!answer_hit("It was in 1983.", &["3"]));
        assert!(!answer_hit("un parisien", &["Paris"]));
        assert!(!answer_hit("anything", &["", "  ", "?"]));
        let none: [&str; 0] = [];
        assert!(!answer_hit("anything", &none));
    }

    #[test]
    fn squad_f1_drops_french_and_english_articles() {
        let (f1, em) = squad_f1_em("la tour Eiffel", &["Tour Eiffel"]);
        assert!(em && (f1 - 1.0).abs() < 1e-9);
        let (f1, em) = squad_f1_em("25 consultants IBM", &["25 consultants"]);
        assert!(!em && (f1 - 0.8).abs() < 1e-9, "{f1}");
        assert_eq!(squad_f1_em("rien", &["25"]), (0.0, false));
        assert!(!squad_f1_em("l'année 1987", &["", "1987"]).1);
    }

    #[test]
    fn citation_precision_counts_distinct_citations() {
        let q = qrels(&[("a", 1), ("c", 0)]);
        // Distinct cited {a, b, c}; only a is relevant (c has gain 0): 1/3.
        assert!(close(citation_precision(&["a", "b", "a", "c"], &q), 1.0 / 3.0));
        assert_eq!(citation_precision(&["a", "a"], &q), Some(1.0));
        let none: [&str; 0] = [];
        assert_eq!(citation_precision(&none, &q), None);
    }

    #[test]
    fn abstention_accounting() {
        let mut a = AbstentionCounts::default();
        assert_eq!(a.accuracy(), None);
        a.record(false, true); // right abstention
        a.record(false, false); // answered an unanswerable question
        a.record(true, false); // answered
        a.record(true, false); // answered
        a.record(true, true); // false abstention
        assert_eq!(
            a,
            AbstentionCounts {
                unanswerable: 2,
                abstained_on_unanswerable: 1,
                answerable: 3,
                abstained_on_answerable: 1
            }
        );
        assert_eq!(a.accuracy(), Some(0.6)); // (1 + 2) / 5
        assert_eq!(a.correct_abstention_rate(), Some(0.5)); // 1 / 2
        assert!(close(a.false_abstention_rate(), 1.0 / 3.0)); // 1 / 3
    }

    #[test]
    fn nearest_rank_percentiles() {
        // Sorted: [15, 20, 35, 40, 50], n = 5.
        let v = [35.0, 20.0, 50.0, 15.0, 40.0];
        assert_eq!(percentile(&v, 5.0), Some(15.0)); // ⌈0.25⌉ = 1
        assert_eq!(percentile(&v, 30.0), Some(20.0)); // ⌈1.5⌉ = 2
        assert_eq!(percentile(&v, 40.0), Some(20.0)); // ⌈2.0⌉ = 2
        assert_eq!(percentile(&v, 50.0), Some(35.0)); // ⌈2.5⌉ = 3
        assert_eq!(percentile(&v, 95.0), Some(50.0)); // ⌈4.75⌉ = 5
        assert_eq!(percentile(&v, 100.0), Some(50.0));
        assert_eq!(percentile(&v, 0.0), Some(15.0)); // rank clamped to 1
        // 1..=20: p95 → ⌈19.0⌉ = 19; p50 → ⌈10.0⌉ = 10.
        let w: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&w, 95.0), Some(19.0));
        assert_eq!(percentile(&w, 50.0), Some(10.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[f64::NAN], 50.0), None);
        assert_eq!(percentile(&[f64::NAN, 2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&v, 101.0), None);
        assert_eq!(percentile(&v, f64::NAN), None);
    }

    proptest! {
        #[test]
        fn metrics_stay_in_unit_interval(
            ranked in prop::collection::vec("[a-e]", 0..12),
            gains in prop::collection::btree_map("[a-g]", 0u32..4, 0..6),
            k in 0usize..12,
        ) {
            let has_relevant = gains.values().any(|&g| g > 0);
            for m in [
                recall_at(&ranked, &gains, k),
                precision_at(&ranked, &gains, k),
                hit_at(&ranked, &gains, k),
                mrr_at(&ranked, &gains, k),
                ndcg_at(&ranked, &gains, k),
            ] {
                prop_assert_eq!(m.is_some(), has_relevant);
                if let Some(v) = m {
                    prop_assert!((0.0..=1.0 + 1e-12).contains(&v), "{}", v);
                }
            }
        }

        #[test]
        fn normalize_answer_output_is_clean(s in any::<String>()) {
            let n = normalize_answer(&s);
            prop_assert!(!n.starts_with(' ') && !n.ends_with(' ') && !n.contains("  "));
            prop_assert!(!n.chars().any(|c| c.is_ascii_uppercase() || c.is_ascii_punctuation()));
            let _ = answer_hit(&s, &[s.as_str()]);
        }
    }
}
