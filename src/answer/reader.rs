//! The answer reader: a small learned head over the embedder's per-token states of the
//! question read together with one candidate sentence ([`Embedder::read_pairs`]). It points
//! at the answer's first and last token, or at "no answer here", so one pass gives both the
//! fact to mark and a measure of whether the sentence answers at all, which the similarity of
//! question and sentence (aboutness) cannot give.
//!
//! The head is three linear maps over each token's features (its state, its state times the
//! question's mean state, and whether its word is one of the question's): start, end, and a
//! "none" score over the sentence's mean features. As in SQuAD 2.0 readers, a sentence's
//! answer margin is `best span (start + end) - 2 × none`, in log-odds.
//!
//! Its weights ship as `src/answer/reader.json` (compiled in) with a format version and the
//! state space they were trained on, so they are never applied to another model's states.
//! `cargo run --release --example train_answer_reader` rebuilds them from PIAF v1.0's
//! even-numbered questions and selects on odd-numbered ones.
//!
//! [`Embedder::read_pairs`]: crate::embed::Embedder::read_pairs

use std::collections::HashSet;
use std::ops::Range;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::features::{fold, question_words};
use crate::embed::PairStates;

/// Version of the reader file format.
pub const READER_FORMAT: u32 = 1;

/// Longest answer span, in tokens. SQuAD answers are short (names, numbers, dates); a longer
/// span is a clause, and the cited sentence already holds it.
pub const MAX_SPAN_TOKENS: usize = 30;

/// Features of one token besides its state and state × question.
pub const EXTRA_FEATURES: usize = 1;

/// Feature width for states of width `hidden`.
pub fn feature_dims(hidden: usize) -> usize {
    2 * hidden + EXTRA_FEATURES
}

/// A trained reader as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReaderFile {
    pub format: u32,
    /// [`Embedder::state_space`](crate::embed::Embedder::state_space) of the training states.
    pub state_space: String,
    pub hidden: usize,
    /// Standardisation of the raw token features.
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub start: Vec<f32>,
    pub end: Vec<f32>,
    pub none: Vec<f32>,
    pub none_bias: f32,
    /// How it was trained and selected, for the record.
    pub trained_on: String,
}

/// What the reader makes of one sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Byte range in the sentence of the best answer span, widened to whole words and
    /// trimmed of spaces and edge punctuation.
    pub span: Option<Range<usize>>,
    /// Log-odds that the sentence holds the answer, against "no answer here".
    pub margin: f32,
}

/// A loaded reader.
#[derive(Debug, Clone)]
pub struct Reader {
    file: ReaderFile,
}

static SHIPPED: OnceLock<Option<Reader>> = OnceLock::new();

impl Reader {
    /// Checks a reader file's format and sizes.
    pub fn from_file(f: ReaderFile) -> Result<Reader, String> {
        if f.format != READER_FORMAT {
            return Err(format!("reader format {} (this build reads {READER_FORMAT})", f.format));
        }
        let d = feature_dims(f.hidden);
        for (name, v) in [
            ("mean", &f.mean),
            ("scale", &f.scale),
            ("start", &f.start),
            ("end", &f.end),
            ("none", &f.none),
        ] {
            if v.len() != d {
                return Err(format!("reader {name} has {} values, expected {d}", v.len()));
            }
        }
        if f.scale.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err("reader scale must be positive".into());
        }
        Ok(Reader { file: f })
    }

    /// The reader compiled into this build, if there is one and it matches `state_space`.
    /// `reader.json` holds `null` until a reader is trained: answers then use the scorer and
    /// the rules of [`span`](super::span) alone.
    pub fn shipped_for(state_space: &str) -> Option<&'static Reader> {
        SHIPPED
            .get_or_init(|| {
                let f: Option<ReaderFile> = serde_json::from_str(include_str!("reader.json")).ok()?;
                Reader::from_file(f?).ok()
            })
            .as_ref()
            .filter(|r| r.file.state_space == state_space)
    }

    pub fn file(&self) -> &ReaderFile {
        &self.file
    }

    /// Per-token start, end and the sentence's none score.
    pub fn logits(&self, question: &HashSet<String>, sentence: &str, states: &PairStates) -> (Vec<f32>, Vec<f32>, f32) {
        let f = &self.file;
        let d = feature_dims(f.hidden);
        let raw = token_features(question, sentence, states);
        let n = states.spans.len();
        let mut start = Vec::with_capacity(n);
        let mut end = Vec::with_capacity(n);
        let mut mean = vec![0f32; d];
        let mut z = vec![0f32; d];
        for t in 0..n {
            for (k, zk) in z.iter_mut().enumerate() {
                *zk = (raw[t * d + k] - f.mean[k]) / f.scale[k];
            }
            start.push(dot(&z, &f.start));
            end.push(dot(&z, &f.end));
            mean.iter_mut().zip(&z).for_each(|(m, v)| *m += v);
        }
        let inv = 1.0 / n.max(1) as f32;
        mean.iter_mut().for_each(|m| *m *= inv);
        let none = dot(&mean, &f.none) + f.none_bias;
        (start, end, none)
    }

    /// Reads one sentence: its best span and answer margin. A sentence without tokens (or
    /// states from another model) has no span and the lowest margin.
    pub fn read(&self, question: &str, sentence: &str, states: &PairStates) -> Reading {
        if states.hidden != self.file.hidden || states.spans.is_empty() {
            return Reading {
                span: None,
                margin: f32::MIN,
            };
        }
        let q = question_words(question);
        let (start, end, none) = self.logits(&q, sentence, states);
        let (a, b, best) = best_span(&start, &end, MAX_SPAN_TOKENS);
        let margin = best - 2.0 * none;
        let bytes = states.spans[a].start..states.spans[b].end;
        Reading {
            span: tidy_span(sentence, bytes),
            margin,
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The highest `start[a] + end[b]` with `a <= b < a + max_len`.
pub fn best_span(start: &[f32], end: &[f32], max_len: usize) -> (usize, usize, f32) {
    let mut best = (0, 0, f32::MIN);
    for (a, &sa) in start.iter().enumerate() {
        for (b, &eb) in end.iter().enumerate().take(a + max_len).skip(a) {
            if sa + eb > best.2 {
                best = (a, b, sa + eb);
            }
        }
    }
    best
}

/// Raw features of every token of `states`, token-major (`feature_dims(hidden)` each): the
/// state, the state times the question's mean state, and whether the token's word is one of
/// the question's (answers rarely repeat the question).
pub fn token_features(question: &HashSet<String>, sentence: &str, states: &PairStates) -> Vec<f32> {
    let h = states.hidden;
    let d = feature_dims(h);
    let mut out = Vec::with_capacity(states.spans.len() * d);
    for (t, span) in states.spans.iter().enumerate() {
        let s = states.state(t);
        out.extend_from_slice(s);
        out.extend(s.iter().zip(&states.question).map(|(a, b)| a * b));
        let word = word_around(sentence, span.clone());
        let w = sentence.get(word).map(fold).unwrap_or_default();
        out.push(f32::from(u8::from(!w.is_empty() && question.contains(&w))));
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '\''
}

/// The whole word(s) around a byte range: widened left and right over word characters.
fn word_around(s: &str, r: Range<usize>) -> Range<usize> {
    let (mut a, mut b) = (r.start.min(s.len()), r.end.min(s.len()));
    while !s.is_char_boundary(a) {
        a -= 1;
    }
    while !s.is_char_boundary(b) {
        b += 1;
    }
    // Tokens carry their leading space: skip it.
    while a < b && s[a..].starts_with(char::is_whitespace) {
        a += s[a..].chars().next().map_or(1, char::len_utf8);
    }
    while a > 0 && s[..a].chars().next_back().is_some_and(|c| c.is_alphanumeric()) {
        a -= s[..a].chars().next_back().map_or(1, char::len_utf8);
    }
    while b < s.len() && s[b..].chars().next().is_some_and(|c| c.is_alphanumeric()) {
        b += s[b..].chars().next().map_or(1, char::len_utf8);
    }
    a..b.max(a)
}

/// A span as a reader should show it: whole words, without surrounding spaces or the
/// punctuation that ends a clause; `None` when nothing is left.
pub fn tidy_span(s: &str, r: Range<usize>) -> Option<Range<usize>> {
    let w = word_around(s, r);
    let text = s.get(w.clone())?;
    let lead = text.len()
        - text
            .trim_start_matches(|c: char| c.is_whitespace() || ",;:.!?«»\"(".contains(c))
            .len();
    let kept = &text[lead..];
    let mut trimmed = kept.trim_end_matches(|c: char| c.is_whitespace() || ",;:.!?«»\"".contains(c));
    // A closing parenthesis stays only when the span opened it.
    while trimmed.ends_with(')') && !trimmed.contains('(') {
        trimmed =
            trimmed[..trimmed.len() - 1].trim_end_matches(|c: char| c.is_whitespace() || ",;:.!?«»\"".contains(c));
    }
    let start = w.start + lead;
    let end = start + trimmed.len();
    (end > start && trimmed.chars().any(is_word_char)).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_span_respects_order_and_length() {
        let start = [0.0, 5.0, 0.0, 0.0];
        let end = [9.0, 0.0, 0.0, 4.0];
        // end 0 is before start 1: the best valid pair is (1, 3).
        assert_eq!(best_span(&start, &end, 30), (0, 0, 9.0));
        assert_eq!(best_span(&start[1..], &end[1..], 30), (0, 2, 9.0));
        assert_eq!(best_span(&start[1..], &end[1..], 2), (0, 0, 5.0));
    }

    #[test]
    fn spans_widen_to_words_and_drop_edge_punctuation() {
        let s = "Le groupe emploie 13.000 salariés, dit-il.";
        // A token inside "13.000" widens to the number; a trailing comma is dropped.
        let a = s.find("3.0").unwrap();
        let r = tidy_span(s, a..a + 3).unwrap();
        assert_eq!(&s[r], "13.000");
        let a = s.find(" salariés,").unwrap();
        let r = tidy_span(s, a..a + " salariés,".len()).unwrap();
        assert_eq!(&s[r], "salariés");
        // Punctuation alone is no span.
        let s2 = "Il a dit : oui.";
        let a = s2.find(" :").unwrap();
        assert_eq!(tidy_span(s2, a..a + 2), None);
        // The final full stop belongs to no word: the word before it is what is left.
        let r = tidy_span(s, s.len() - 1..s.len()).unwrap();
        assert_eq!(&s[r], "il");
        let s = "Il est né à Paris (France).";
        let a = s.find("Paris").unwrap();
        let r = tidy_span(s, a..s.len()).unwrap();
        assert_eq!(&s[r], "Paris (France)");
    }

    #[test]
    fn the_shipped_reader_if_any_matches_this_build() {
        let f: Option<ReaderFile> = serde_json::from_str(include_str!("reader.json")).expect("reader.json parses");
        if let Some(f) = f {
            let space = f.state_space.clone();
            Reader::from_file(f).expect("reader.json matches this build");
            assert!(Reader::shipped_for(&space).is_some());
        }
        assert!(Reader::shipped_for("another-model/hidden768").is_none());
    }

    #[test]
    fn a_reader_file_of_the_wrong_shape_is_refused() {
        let d = feature_dims(4);
        let good = ReaderFile {
            format: READER_FORMAT,
            state_space: "m/hidden4".into(),
            hidden: 4,
            mean: vec![0.0; d],
            scale: vec![1.0; d],
            start: vec![0.0; d],
            end: vec![0.0; d],
            none: vec![0.0; d],
            none_bias: 0.0,
            trained_on: String::new(),
        };
        assert!(Reader::from_file(good.clone()).is_ok());
        let mut f = good.clone();
        f.format += 1;
        assert!(Reader::from_file(f).is_err());
        let mut f = good.clone();
        f.start.pop();
        assert!(Reader::from_file(f).is_err());
        let mut f = good;
        f.scale[0] = 0.0;
        assert!(Reader::from_file(f).is_err());
    }

    #[test]
    fn a_reading_points_at_the_strongest_span_or_says_none() {
        // Two-wide states; the start head reads the first component, the end head the second.
        let d = feature_dims(2);
        let mut start = vec![0.0; d];
        let mut end = vec![0.0; d];
        start[0] = 1.0;
        end[1] = 1.0;
        let reader = Reader::from_file(ReaderFile {
            format: READER_FORMAT,
            state_space: "m/hidden2".into(),
            hidden: 2,
            mean: vec![0.0; d],
            scale: vec![1.0; d],
            start,
            end,
            none: vec![0.0; d],
            none_bias: 0.0,
            trained_on: String::new(),
        })
        .unwrap();
        let sentence = "Il emploie 300 personnes.";
        let spans = vec![0..2, 2..10, 10..14, 14..24, 24..25];
        let states = PairStates {
            hidden: 2,
            question: vec![0.0, 0.0],
            spans,
            // Token 2 ("300") starts, token 3 ("personnes") ends.
            states: vec![0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 5.0, 0.0, 0.0],
        };
        let r = reader.read("Combien ?", sentence, &states);
        assert_eq!(r.span.clone().map(|s| &sentence[s]), Some("300 personnes"));
        assert!(r.margin > 9.0, "{r:?}");
        // States of another width: no span, the lowest margin.
        let other = PairStates { hidden: 3, ..states };
        assert_eq!(reader.read("Combien ?", sentence, &other).span, None);
    }
}
