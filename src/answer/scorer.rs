//! The learned sentence scorer: a conditional logit over [`features`](super::features) that
//! ranks the candidate sentences of one question by how likely each holds the asked fact.
//!
//! Its weights ship as `src/answer/scorer.json` (compiled in), with a format version and the
//! feature names, so a file that no longer matches the code is refused by a test rather than
//! read wrongly. `cargo run --release --example train_answer_scorer` retrains it from a
//! feature dump of `sourcier eval --answers --dump-answer-features` on PIAF v1.0's
//! even-numbered questions and selects on the odd ones.

// Small dense linear algebra reads best with indices.
#![allow(clippy::needless_range_loop)]

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::features::{FEATURE_NAMES, FEATURES};
use super::fit::{solve, standardisation};

/// Version of the scorer file format.
pub const SCORER_FORMAT: u32 = 1;

/// A trained scorer as stored: standardisation, weights, and where they came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScorerFile {
    pub format: u32,
    pub features: Vec<String>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// How it was trained (data, split, regularisation), for the record.
    pub trained_on: String,
}

/// A logistic regression over standardised features.
#[derive(Debug, Clone)]
pub struct Scorer {
    mean: [f32; FEATURES],
    scale: [f32; FEATURES],
    weights: [f32; FEATURES],
    bias: f32,
}

fn array(v: &[f32], what: &str) -> Result<[f32; FEATURES], String> {
    v.try_into()
        .map_err(|_| format!("{what} has {} values, the code has {FEATURES} features", v.len()))
}

impl Scorer {
    /// Reads a scorer file, refusing one written for other features or another format.
    pub fn from_file(f: &ScorerFile) -> Result<Scorer, String> {
        if f.format != SCORER_FORMAT {
            return Err(format!("scorer format {} (this build reads {SCORER_FORMAT})", f.format));
        }
        if f.features != FEATURE_NAMES {
            return Err(format!("scorer features {:?} differ from the code's", f.features));
        }
        Ok(Scorer {
            mean: array(&f.mean, "mean")?,
            scale: array(&f.scale, "scale")?,
            weights: array(&f.weights, "weights")?,
            bias: f.bias,
        })
    }

    /// The scorer compiled into this build.
    pub fn bundled() -> &'static Scorer {
        static S: OnceLock<Scorer> = OnceLock::new();
        S.get_or_init(|| {
            let f: ScorerFile = serde_json::from_str(include_str!("scorer.json")).expect("scorer.json parses");
            Scorer::from_file(&f).expect("scorer.json matches the features; a test pins it")
        })
    }

    /// The ranking score of a sentence with features `x`: higher is likelier to hold the
    /// answer. Differences between the sentences of one question are log-odds of which one
    /// holds it.
    pub fn score(&self, x: &[f32; FEATURES]) -> f32 {
        let mut z = self.bias;
        for i in 0..FEATURES {
            z += self.weights[i] * (x[i] - self.mean[i]) / self.scale[i];
        }
        z
    }

    /// The stored form, recording `trained_on`.
    pub fn to_file(&self, trained_on: String) -> ScorerFile {
        ScorerFile {
            format: SCORER_FORMAT,
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            mean: self.mean.to_vec(),
            scale: self.scale.to_vec(),
            weights: self.weights.to_vec(),
            bias: self.bias,
            trained_on,
        }
    }

    /// Fits a conditional logit: within each question, a softmax over its candidate sentences
    /// whose target is spread over the sentences that hold the answer, with L2 penalty `l2`,
    /// by Newton's method (17 weights: the Hessian is tiny, and Newton converges in a few
    /// exact steps). `rows` are (question, features, holds the answer); questions without a
    /// sentence that holds the answer teach nothing about ranking and are skipped. A pointwise
    /// logistic regression was tried first and ranked worse than the hand-set score, since
    /// the level of similarity varies more between questions than within one.
    pub fn train(rows: &[(usize, [f32; FEATURES], bool)], l2: f64) -> Scorer {
        let (mean, scale) = standardisation(rows.iter().map(|r| &r.1));
        let mut groups: std::collections::BTreeMap<usize, Vec<([f64; FEATURES], bool)>> = Default::default();
        for (q, f, y) in rows {
            let mut x = [0f64; FEATURES];
            for i in 0..FEATURES {
                x[i] = ((f[i] - mean[i]) / scale[i]) as f64;
            }
            groups.entry(*q).or_default().push((x, *y));
        }
        groups.retain(|_, g| g.iter().any(|c| c.1));
        let mut w = [0f64; FEATURES];
        for _ in 0..30 {
            let mut g = [0f64; FEATURES];
            let mut h = [[0f64; FEATURES]; FEATURES];
            for cands in groups.values() {
                let s: Vec<f64> = cands
                    .iter()
                    .map(|(x, _)| (0..FEATURES).map(|i| w[i] * x[i]).sum())
                    .collect();
                let top = s.iter().copied().fold(f64::MIN, f64::max);
                let e: Vec<f64> = s.iter().map(|v| (v - top).exp()).collect();
                let z: f64 = e.iter().sum();
                let positives = cands.iter().filter(|c| c.1).count() as f64;
                let mut mean_x = [0f64; FEATURES];
                for ((x, y), e) in cands.iter().zip(&e) {
                    let p = e / z;
                    let t = if *y { 1.0 / positives } else { 0.0 };
                    for i in 0..FEATURES {
                        g[i] += (p - t) * x[i];
                        mean_x[i] += p * x[i];
                    }
                }
                // Hessian: covariance of x under the softmax.
                for ((x, _), e) in cands.iter().zip(&e) {
                    let p = e / z;
                    for i in 0..FEATURES {
                        for j in 0..FEATURES {
                            h[i][j] += p * (x[i] - mean_x[i]) * (x[j] - mean_x[j]);
                        }
                    }
                }
            }
            for i in 0..FEATURES {
                g[i] += l2 * w[i];
                h[i][i] += l2;
            }
            let step = solve(h, g);
            let mut change = 0.0f64;
            for i in 0..FEATURES {
                w[i] -= step[i];
                change = change.max(step[i].abs());
            }
            if change < 1e-7 {
                break;
            }
        }
        let mut weights = [0f32; FEATURES];
        for i in 0..FEATURES {
            weights[i] = w[i] as f32;
        }
        Scorer {
            mean,
            scale,
            weights,
            bias: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_scorer_matches_the_features() {
        let s = Scorer::bundled();
        assert!(s.score(&[0.0; FEATURES]).is_finite());
    }

    #[test]
    fn training_ranks_by_the_deciding_feature_and_round_trips() {
        // In every question, feature 0 marks the sentence that holds the answer; the others
        // are noise.
        let mut rows = Vec::new();
        let mut state = 7u64;
        for q in 0..100 {
            for c in 0..5 {
                let mut x = [0f32; FEATURES];
                for v in x.iter_mut() {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    *v = (state >> 40) as f32 / (1u64 << 24) as f32;
                }
                let y = c == q % 5;
                x[0] = if y { 0.8 } else { 0.3 } + x[1] * 0.2;
                rows.push((q, x, y));
            }
        }
        let s = Scorer::train(&rows, 1.0);
        for q in 0..100 {
            let best = rows
                .iter()
                .filter(|r| r.0 == q)
                .max_by(|a, b| s.score(&a.1).total_cmp(&s.score(&b.1)))
                .unwrap();
            assert!(best.2, "question {q}");
        }
        let back = Scorer::from_file(&s.to_file("test".into())).unwrap();
        assert_eq!(back.score(&rows[0].1), s.score(&rows[0].1));
        let mut f = s.to_file("test".into());
        f.features.pop();
        assert!(Scorer::from_file(&f).is_err(), "a stale feature list is refused");
    }
}
