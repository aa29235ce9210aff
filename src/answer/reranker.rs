//! The re-ranker of the sentences the answer reader read: which of them comes first.
//!
//! The scorer's score plus a fifth of the reader's margin is a straight line through two
//! signals that do not add up: a high margin means little on a sentence that lacks the asked
//! type, a middling one much on the only sentence naming someone new. Shallow gradient-boosted
//! trees over the scorer's [`features`](super::features) and the reader's margins learn such
//! interactions. They only choose which read sentence comes first; it takes the best score,
//! and the other scores, which the abstention rules and the choice of further sentences read,
//! stay as they were.
//!
//! The trees ship as `src/answer/reranker.json` (compiled in; `null` ships none) with a format
//! version, the feature names and a few rows with the raw scores the trainer computed, which
//! a test reads back. `examples/train_reranker.py` retrains them from the feature dumps of
//! `sourcier eval --answers --dump-answer-features` on PIAF v1.0's even-numbered questions
//! and reports on those numbered 1 mod 4.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::features::{FEATURE_NAMES, FEATURES};

/// Version of the re-ranker file format.
pub const RERANKER_FORMAT: u32 = 1;

/// What the re-ranker reads beyond the scorer's features, in order: the sentence's margin,
/// its distance to the best margin read, its score's distance to the best score, its rank by
/// margin (0 first) and how many sentences were read.
pub const EXTRA_NAMES: [&str; 5] = ["margin", "margin_gap", "score_gap", "margin_rank", "read"];

/// Number of features of a row.
pub const ROW: usize = FEATURES + EXTRA_NAMES.len();

/// One node of a tree: a split sends a row left when its feature is at most the threshold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Node {
    Leaf {
        leaf: f64,
    },
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
        missing_left: bool,
    },
}

/// A row and the raw score the trainer gave it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub x: Vec<f64>,
    pub raw: f64,
}

/// The trees as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RerankerFile {
    pub format: u32,
    pub features: Vec<String>,
    /// The raw score before any tree.
    pub base: f64,
    pub trees: Vec<Vec<Node>>,
    /// How they were trained and selected, for the record.
    pub trained_on: String,
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// Gradient-boosted trees whose summed leaves are the log-odds that a read sentence holds the
/// answer.
#[derive(Debug, Clone)]
pub struct Reranker {
    file: RerankerFile,
}

impl Reranker {
    /// Reads a re-ranker file, refusing one written for other features, another format, or
    /// with a tree that points outside itself or back up (which could loop).
    pub fn from_file(f: RerankerFile) -> Result<Reranker, String> {
        if f.format != RERANKER_FORMAT {
            return Err(format!(
                "re-ranker format {} (this build reads {RERANKER_FORMAT})",
                f.format
            ));
        }
        let names: Vec<&str> = FEATURE_NAMES.iter().chain(EXTRA_NAMES.iter()).copied().collect();
        if f.features != names {
            return Err(format!("re-ranker features {:?} differ from the code's", f.features));
        }
        for (t, nodes) in f.trees.iter().enumerate() {
            for (i, n) in nodes.iter().enumerate() {
                if let Node::Split {
                    feature, left, right, ..
                } = n
                    && (*feature >= ROW || *left <= i || *right <= i || *left >= nodes.len() || *right >= nodes.len())
                {
                    return Err(format!("re-ranker tree {t}, node {i}: feature or child out of bounds"));
                }
            }
            if nodes.is_empty() {
                return Err(format!("re-ranker tree {t} is empty"));
            }
        }
        Ok(Reranker { file: f })
    }

    /// The re-ranker compiled into this build, if one ships.
    pub fn shipped() -> Option<&'static Reranker> {
        static R: OnceLock<Option<Reranker>> = OnceLock::new();
        R.get_or_init(|| {
            let f: Option<RerankerFile> =
                serde_json::from_str(include_str!("reranker.json")).expect("reranker.json parses");
            f.map(|f| Reranker::from_file(f).expect("reranker.json matches the features; a test pins it"))
        })
        .as_ref()
    }

    /// The log-odds that the sentence of row `x` holds the answer.
    pub fn raw(&self, x: &[f64]) -> f64 {
        let mut total = self.file.base;
        for nodes in &self.file.trees {
            let mut i = 0;
            // Children come after their parent (checked on loading), so this ends.
            loop {
                match &nodes[i] {
                    Node::Leaf { leaf } => {
                        total += leaf;
                        break;
                    }
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                        missing_left,
                    } => {
                        let v = x.get(*feature).copied().unwrap_or(f64::NAN);
                        let go_left = if v.is_nan() { *missing_left } else { v <= *threshold };
                        i = if go_left { *left } else { *right };
                    }
                }
            }
        }
        total
    }

    /// The stored form.
    pub fn file(&self) -> &RerankerFile {
        &self.file
    }
}

/// The rows of one question's read sentences, each given as (scorer features, reader margin,
/// score after reading), as `examples/train_reranker.py` builds them from a dump.
pub fn rows(read: &[(&[f32; FEATURES], f32, f32)]) -> Vec<Vec<f64>> {
    let best_m = read.iter().map(|r| r.1).fold(f32::MIN, f32::max);
    let best_s = read.iter().map(|r| r.2).fold(f32::MIN, f32::max);
    read.iter()
        .map(|(f, m, s)| {
            // Ties share the first rank, as Python's `list.index` gives them.
            let rank = read.iter().filter(|o| o.1 > *m).count();
            let mut x: Vec<f64> = f.iter().map(|&v| v as f64).collect();
            x.extend([
                *m as f64,
                (*m - best_m) as f64,
                (*s - best_s) as f64,
                rank as f64,
                read.len() as f64,
            ]);
            x
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_reranker_reads_as_it_was_trained() {
        let f: Option<RerankerFile> =
            serde_json::from_str(include_str!("reranker.json")).expect("reranker.json parses");
        let Some(f) = f else { return };
        assert!(!f.checks.is_empty(), "reranker.json carries no checks");
        let r = Reranker::from_file(f.clone()).expect("reranker.json loads");
        for c in &f.checks {
            assert_eq!(c.x.len(), ROW);
            let got = r.raw(&c.x);
            assert!((got - c.raw).abs() < 1e-6, "raw {got}, the trainer's {}", c.raw);
        }
        assert!(Reranker::shipped().is_some());
    }

    fn stump(feature: usize, threshold: f64) -> RerankerFile {
        RerankerFile {
            format: RERANKER_FORMAT,
            features: FEATURE_NAMES
                .iter()
                .chain(EXTRA_NAMES.iter())
                .map(|s| s.to_string())
                .collect(),
            base: 0.5,
            trees: vec![vec![
                Node::Split {
                    feature,
                    threshold,
                    left: 1,
                    right: 2,
                    missing_left: true,
                },
                Node::Leaf { leaf: -1.0 },
                Node::Leaf { leaf: 2.0 },
            ]],
            trained_on: String::new(),
            checks: vec![],
        }
    }

    #[test]
    fn a_tree_sends_rows_by_its_threshold() {
        let r = Reranker::from_file(stump(FEATURES, 0.0)).unwrap();
        let mut x = vec![0.0; ROW];
        assert_eq!(r.raw(&x), -0.5);
        x[FEATURES] = 0.1;
        assert_eq!(r.raw(&x), 2.5);
        x[FEATURES] = f64::NAN;
        assert_eq!(r.raw(&x), -0.5);
    }

    #[test]
    fn a_file_for_other_features_or_with_a_loop_is_refused() {
        let mut f = stump(0, 0.0);
        f.features.pop();
        assert!(Reranker::from_file(f).is_err());
        let mut f = stump(0, 0.0);
        f.trees[0][0] = Node::Split {
            feature: 0,
            threshold: 0.0,
            left: 0,
            right: 2,
            missing_left: false,
        };
        assert!(Reranker::from_file(f).is_err());
        let mut f = stump(ROW, 0.0);
        f.format = RERANKER_FORMAT;
        assert!(Reranker::from_file(f).is_err());
        let mut f = stump(0, 0.0);
        f.format = RERANKER_FORMAT + 1;
        assert!(Reranker::from_file(f).is_err());
    }

    #[test]
    fn rows_measure_each_sentence_against_the_best_read() {
        let a = [0.0f32; FEATURES];
        let b = [1.0f32; FEATURES];
        let x = rows(&[(&a, -2.0, 3.0), (&b, 1.0, 2.0)]);
        assert_eq!(x[0][FEATURES..], [-2.0, -3.0, 0.0, 1.0, 2.0]);
        assert_eq!(x[1][FEATURES..], [1.0, 0.0, -1.0, 0.0, 2.0]);
        assert_eq!(x[1][0], 1.0);
    }
}
