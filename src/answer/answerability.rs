//! Whether the passages read hold the answer at all: a question-level logistic regression over
//! what the best sentences and passages share with the question, so that an on-topic question
//! whose fact is missing gets "not in the articles" instead of an on-topic sentence.
//!
//! The sentence scorer ranks the sentences of one question against each other; its scores do
//! not say whether any of them answers, since the article is there either way. What changes
//! when the answering paragraph is missing is what the question names that nothing read
//! repeats: the question was written from that paragraph, so its specific words (beyond the
//! topic, which the titles carry) are missing from what is left. The features measure that
//! coverage, together with the similarity and score levels.
//!
//! Weights ship as `src/answer/answerability.json` (compiled in; `null` ships no model) with a
//! format version, the feature names and the abstention threshold.
//! `cargo run --release --example train_answerability` refits them from a dump of
//! `sourcier eval --answers --dump-answerability` (each question with its gold paragraph, and
//! again without it) on PIAF v1.0, fitting on some questions and choosing on others.
//!
//! The features compare words, so the model is only applied when the question and the passages
//! read share a language; a cross-lingual question keeps the other abstention rules.

// Small dense linear algebra reads best with indices.
#![allow(clippy::needless_range_loop)]

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::Candidate;
use super::features::{self, fold, tokens};
use super::fit::{solve, standardisation};

/// Version of the answerability file format.
pub const ANSWERABILITY_FORMAT: u32 = 1;

/// Number of features.
pub const N: usize = 24;

/// Names of the features, in order; stored with the weights so that a mismatch is refused.
pub const NAMES: [&str; N] = [
    "confidence",
    "passage_similarity_gap",
    "best_score",
    "score_gap",
    "best_cosine",
    "best_overlap",
    "top_overlap",
    "passage_coverage",
    "union_coverage",
    "specific_passage_coverage",
    "specific_union_coverage",
    "specific_top_coverage",
    "names_coverage",
    "top_type_present",
    "typed",
    "top3_type_present",
    "log_question_terms",
    "missing_specific",
    "specific_sentence_coverage",
    "missing_specific_chars",
    "names_top_coverage",
    "same_title_share",
    "best_residual_cosine",
    "top_residual_cosine",
];

/// A passage read, as the features need it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Passage {
    pub text: String,
    pub title: Option<String>,
    pub lang: Option<String>,
    /// Cosine similarity to the question.
    pub similarity: f32,
}

impl Passage {
    pub fn from_hit(h: &crate::retrieve::Hit) -> Passage {
        Passage {
            text: h.text.clone(),
            title: h.title.clone(),
            lang: h.lang.clone(),
            similarity: h.similarity.unwrap_or(0.0),
        }
    }
}

/// Whether the model applies: the question and the first passage share a language.
pub fn applies(question_lang: &str, passages: &[Passage]) -> bool {
    passages
        .first()
        .is_some_and(|p| p.lang.as_deref().is_none_or(|l| l == question_lang))
}

fn terms(lang: Option<&str>, text: &str) -> HashSet<String> {
    crate::lexical::analyze(lang, text).into_iter().collect()
}

fn share(of: &HashSet<String>, within: &HashSet<String>) -> f32 {
    if of.is_empty() {
        1.0
    } else {
        of.intersection(within).count() as f32 / of.len() as f32
    }
}

/// The features of a question with the `passages` read and its scored candidate sentences
/// (best first).
pub fn features(question: &str, lang: &str, passages: &[Passage], cands: &[Candidate]) -> [f32; N] {
    let q = terms(Some(lang), question);
    let per_passage: Vec<HashSet<String>> = passages.iter().map(|p| terms(p.lang.as_deref(), &p.text)).collect();
    let union: HashSet<String> = per_passage.iter().flatten().cloned().collect();
    // Topic words: what the titles say. The rest of the question is what its answer's
    // paragraph had to say.
    let titles: HashSet<String> = passages
        .iter()
        .filter_map(|p| p.title.as_deref().map(|t| terms(p.lang.as_deref(), t)))
        .flatten()
        .collect();
    let specific: HashSet<String> = q.difference(&titles).cloned().collect();
    let top = cands.first();
    let best_passage = |of: &HashSet<String>| per_passage.iter().map(|p| share(of, p)).fold(0.0, f32::max);
    // Names and numbers of the question (capitalised words after the first, digits), folded,
    // against the folded words of all passages.
    let q_tokens = tokens(question);
    let names: HashSet<String> = q_tokens
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            let first = t.text.chars().next().unwrap_or(' ');
            (*i > 0 && first.is_uppercase() && t.text.chars().count() >= 2) || first.is_ascii_digit()
        })
        .map(|(_, t)| fold(t.text))
        .collect();
    let passage_words: HashSet<String> = passages
        .iter()
        .flat_map(|p| tokens(&p.text).into_iter().map(|t| fold(t.text)).collect::<Vec<_>>())
        .collect();
    let sims: Vec<f32> = passages.iter().map(|p| p.similarity).collect();
    let chars = |of: &HashSet<String>| of.iter().map(|t| t.chars().count()).sum::<usize>() as f32;
    let sentence_terms: Vec<HashSet<String>> = cands
        .iter()
        .map(|c| terms(passages.get(c.passage).and_then(|p| p.lang.as_deref()), &c.text))
        .collect();
    let top_words: HashSet<String> = top.map_or_else(HashSet::new, |c| {
        tokens(&c.text).into_iter().map(|t| fold(t.text)).collect()
    });
    let names_in = |words: &HashSet<String>| {
        if names.is_empty() {
            1.0
        } else {
            names.iter().filter(|n| words.contains(*n)).count() as f32 / names.len() as f32
        }
    };
    let confidence = sims.iter().copied().fold(0.0, f32::max);
    let score = |i: usize| cands.get(i).map(|c| c.score);
    let typed = cands.first().is_some_and(|c| c.features[features::TYPE_OTHER] < 0.5);
    let present = |c: &Candidate| c.features[features::TYPE_PRESENT];
    let top3: Vec<&Candidate> = cands.iter().take(3).collect();
    [
        confidence,
        match sims.as_slice() {
            [a, b, ..] => a - b,
            _ => 0.0,
        },
        score(0).unwrap_or(0.0),
        match (score(0), score(1)) {
            (Some(a), Some(b)) => a - b,
            _ => 0.0,
        },
        cands.iter().map(|c| c.features[features::COSINE]).fold(0.0, f32::max),
        cands.iter().map(|c| c.features[features::OVERLAP]).fold(0.0, f32::max),
        top.map_or(0.0, |c| c.features[features::OVERLAP]),
        best_passage(&q),
        share(&q, &union),
        best_passage(&specific),
        share(&specific, &union),
        sentence_terms.first().map_or(0.0, |t| share(&specific, t)),
        names_in(&passage_words),
        top.map_or(0.0, present),
        f32::from(u8::from(typed)),
        if top3.is_empty() {
            0.0
        } else {
            top3.iter().map(|c| present(c)).sum::<f32>() / top3.len() as f32
        },
        (1.0 + q.len() as f32).ln(),
        (1.0 + specific.difference(&union).count() as f32).ln(),
        sentence_terms.iter().map(|t| share(&specific, t)).fold(0.0, f32::max),
        if specific.is_empty() {
            0.0
        } else {
            chars(&specific.difference(&union).cloned().collect()) / chars(&specific)
        },
        names_in(&top_words),
        match passages.first() {
            Some(p0) => passages.iter().filter(|p| p.title == p0.title).count() as f32 / passages.len() as f32,
            None => 0.0,
        },
        cands
            .iter()
            .map(|c| c.features[features::RESIDUAL_COSINE])
            .fold(-1.0, f32::max),
        top.map_or(-1.0, |c| c.features[features::RESIDUAL_COSINE]),
    ]
}

/// A trained model as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelFile {
    pub format: u32,
    pub features: Vec<String>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// Abstain when the log-odds that the answer is there fall below this.
    pub threshold: f32,
    /// How it was trained and selected, for the record.
    pub trained_on: String,
}

/// A logistic regression over standardised features: log-odds that the passages hold the
/// answer.
#[derive(Debug, Clone)]
pub struct Model {
    mean: [f32; N],
    scale: [f32; N],
    weights: [f32; N],
    bias: f32,
    pub threshold: f32,
}

fn array(v: &[f32], what: &str) -> Result<[f32; N], String> {
    v.try_into()
        .map_err(|_| format!("{what} has {} values, the code has {N} features", v.len()))
}

static SHIPPED: OnceLock<Option<Model>> = OnceLock::new();

impl Model {
    /// Reads a model file, refusing one written for other features or another format.
    pub fn from_file(f: &ModelFile) -> Result<Model, String> {
        if f.format != ANSWERABILITY_FORMAT {
            return Err(format!(
                "answerability format {} (this build reads {ANSWERABILITY_FORMAT})",
                f.format
            ));
        }
        if f.features != NAMES {
            return Err(format!(
                "answerability features {:?} differ from the code's",
                f.features
            ));
        }
        Ok(Model {
            mean: array(&f.mean, "mean")?,
            scale: array(&f.scale, "scale")?,
            weights: array(&f.weights, "weights")?,
            bias: f.bias,
            threshold: f.threshold,
        })
    }

    /// The model compiled into this build, if one ships.
    pub fn shipped() -> Option<&'static Model> {
        SHIPPED
            .get_or_init(|| {
                let f: Option<ModelFile> =
                    serde_json::from_str(include_str!("answerability.json")).expect("answerability.json parses");
                f.map(|f| Model::from_file(&f).expect("answerability.json matches the features; a test pins it"))
            })
            .as_ref()
    }

    /// Log-odds that the passages hold the answer.
    pub fn log_odds(&self, x: &[f32; N]) -> f32 {
        let mut z = self.bias;
        for i in 0..N {
            z += self.weights[i] * (x[i] - self.mean[i]) / self.scale[i];
        }
        z
    }

    /// The stored form.
    pub fn to_file(&self, trained_on: String) -> ModelFile {
        ModelFile {
            format: ANSWERABILITY_FORMAT,
            features: NAMES.iter().map(|s| s.to_string()).collect(),
            mean: self.mean.to_vec(),
            scale: self.scale.to_vec(),
            weights: self.weights.to_vec(),
            bias: self.bias,
            threshold: self.threshold,
            trained_on,
        }
    }

    /// Fits a logistic regression of `answerable` on `rows` with L2 penalty `l2` (not on the
    /// bias), by Newton's method: 18 weights, so the Hessian is tiny and a few exact steps
    /// converge. The threshold is left at 0; the trainer chooses it.
    pub fn train(rows: &[([f32; N], bool)], l2: f64) -> Model {
        let (mean, scale) = standardisation(rows.iter().map(|r| &r.0));
        // The last coordinate is the bias.
        const D: usize = N + 1;
        let xs: Vec<([f64; D], f64)> = rows
            .iter()
            .map(|(f, y)| {
                let mut x = [1f64; D];
                for i in 0..N {
                    x[i] = ((f[i] - mean[i]) / scale[i]) as f64;
                }
                (x, f64::from(u8::from(*y)))
            })
            .collect();
        let mut w = [0f64; D];
        for _ in 0..25 {
            let mut g = [0f64; D];
            let mut h = [[0f64; D]; D];
            for (x, y) in &xs {
                let z: f64 = (0..D).map(|i| w[i] * x[i]).sum();
                let p = 1.0 / (1.0 + (-z).exp());
                for i in 0..D {
                    g[i] += (p - y) * x[i];
                    for j in 0..D {
                        h[i][j] += p * (1.0 - p) * x[i] * x[j];
                    }
                }
            }
            for i in 0..N {
                g[i] += l2 * w[i];
                h[i][i] += l2;
            }
            h[N][N] += 1e-9;
            let step = solve(h, g);
            let mut moved = 0f64;
            for i in 0..D {
                w[i] -= step[i];
                moved = moved.max(step[i].abs());
            }
            if moved < 1e-7 {
                break;
            }
        }
        Model {
            mean,
            scale,
            weights: std::array::from_fn(|i| w[i] as f32),
            bias: w[N] as f32,
            threshold: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_matches_the_features() {
        let f: Option<ModelFile> = serde_json::from_str(include_str!("answerability.json")).expect("parses");
        if let Some(f) = f {
            Model::from_file(&f).expect("answerability.json matches this build");
        }
    }

    fn passage(text: &str, similarity: f32) -> Passage {
        Passage {
            text: text.into(),
            title: Some("Château de Versailles".into()),
            lang: Some("fr".into()),
            similarity,
        }
    }

    fn candidate(passage: usize, text: &str, cosine: f32, overlap: f32, score: f32) -> Candidate {
        let mut features = [0.0; features::FEATURES];
        features[features::COSINE] = cosine;
        features[features::OVERLAP] = overlap;
        features[features::TYPE_PRESENT] = 1.0;
        Candidate {
            passage,
            text: text.into(),
            range: 0..text.len(),
            features,
            score,
            reading: None,
        }
    }

    /// The same question read twice: once with the sentence that answers it, once with only
    /// the article's other paragraphs. The shipped model must find the first likelier to hold
    /// the answer, and abstain on the second.
    #[test]
    fn the_shipped_model_tells_a_missing_answer_from_a_present_one() {
        let Some(m) = Model::shipped() else {
            panic!("no answerability model ships: src/answer/answerability.json is null");
        };
        let q = "En quelle année l'Opéra royal du château de Versailles a-t-il été inauguré ?";
        let with = [
            passage(
                "L'Opéra royal, construit par Ange-Jacques Gabriel, fut inauguré en 1770 pour le mariage du dauphin. Il peut accueillir 700 spectateurs.",
                0.62,
            ),
            passage(
                "Le château compte 2 300 pièces. Les jardins ont été dessinés par André Le Nôtre.",
                0.45,
            ),
        ];
        let with_cands = [
            candidate(
                0,
                "L'Opéra royal, construit par Ange-Jacques Gabriel, fut inauguré en 1770 pour le mariage du dauphin.",
                0.70,
                0.6,
                6.0,
            ),
            candidate(1, "Le château compte 2 300 pièces.", 0.40, 0.2, 3.0),
        ];
        let without = [
            passage(
                "Le château compte 2 300 pièces. Les jardins ont été dessinés par André Le Nôtre.",
                0.45,
            ),
            passage("Louis XIV s'installe au château en 1682 avec la cour.", 0.44),
        ];
        let without_cands = [
            candidate(
                1,
                "Louis XIV s'installe au château en 1682 avec la cour.",
                0.45,
                0.2,
                4.0,
            ),
            candidate(0, "Le château compte 2 300 pièces.", 0.40, 0.2, 3.5),
        ];
        let yes = m.log_odds(&features(q, "fr", &with, &with_cands));
        let no = m.log_odds(&features(q, "fr", &without, &without_cands));
        assert!(yes > no + 1.0, "answer there {yes}, missing {no}");
        assert!(
            yes >= m.threshold,
            "abstains with the answer there: {yes} < {}",
            m.threshold
        );
        assert!(no < m.threshold, "answers without the answer: {no} >= {}", m.threshold);
    }

    #[test]
    fn the_model_applies_only_when_the_languages_match() {
        let p = [passage("Le château compte 2 300 pièces.", 0.5)];
        assert!(applies("fr", &p));
        assert!(!applies("en", &p));
        assert!(!applies("fr", &[]));
    }

    #[test]
    fn a_file_for_other_features_is_refused() {
        let m = Model::train(&[([0.0; N], true), ([1.0; N], false)], 1.0);
        let mut f = m.to_file("test".into());
        f.features[0] = "something else".into();
        assert!(Model::from_file(&f).is_err());
        let mut f = m.to_file("test".into());
        f.format += 1;
        assert!(Model::from_file(&f).is_err());
    }

    #[test]
    fn training_separates_a_separable_feature() {
        let rows: Vec<([f32; N], bool)> = (0..200)
            .map(|i| {
                let mut x = [0.5f32; N];
                x[8] = (i % 10) as f32 / 10.0;
                (x, i % 10 >= 5)
            })
            .collect();
        let m = Model::train(&rows, 1.0);
        let mut lo = [0.5f32; N];
        lo[8] = 0.1;
        let mut hi = [0.5f32; N];
        hi[8] = 0.9;
        assert!(m.log_odds(&lo) < -1.0 && m.log_odds(&hi) > 1.0);
    }
}
