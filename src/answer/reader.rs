//! The answer reader: EmbeddingGemma reading the question together with one candidate
//! sentence ([`Embedder::read_pairs`]), its last layers updated by low-rank adapters and
//! topped with a start and an end head, trained as a SQuAD 2.0 reader on PIAF. It points at
//! the answer's first and last token, or at the first token (BOS) for "no answer here", so
//! one pass gives both the fact to mark and whether the sentence answers at all, which the
//! similarity of question and sentence (aboutness) cannot give. A sentence's answer margin
//! is `best span (start + end) - (start + end at BOS)`, in log-odds.
//!
//! Frozen heads over the encoder's own states reached span F1 0.28 on the gold sentence
//! (`docs/benchmarks.md`); the adapters let the last layers learn to read the question
//! against the sentence. The description ships as `src/answer/reader.json` (format version,
//! the state space it was trained in, the first adapted layer, how it was trained and
//! selected) and the tensors as `src/answer/reader-adapter.safetensors` (f16, compiled in).
//! `examples/finetune_reader.py` rebuilds them (see its header for the split).
//!
//! [`Embedder::read_pairs`]: crate::embed::Embedder::read_pairs

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::embed::{Adapter, PairStates};

/// Version of the reader file format.
pub const READER_FORMAT: u32 = 2;

/// Longest answer span, in tokens. SQuAD answers are short (names, numbers, dates); a longer
/// span is a clause, and the cited sentence already holds it.
pub const MAX_SPAN_TOKENS: usize = 30;

/// A trained reader as described in `reader.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReaderFile {
    pub format: u32,
    /// [`Embedder::state_space`](crate::embed::Embedder::state_space) it was trained in.
    pub state_space: String,
    /// The first layer with adapters; every later layer has them too.
    pub first_layer: usize,
    /// Rank of the adapters.
    pub rank: usize,
    /// The sha256 of the tensors file, so a description never meets other weights.
    pub tensors_sha256: String,
    /// How it was trained and selected, for the record.
    pub trained_on: String,
    /// A few pairs as the fine-tuning script read them (f32), which this build must read alike.
    #[serde(default)]
    pub checks: Vec<ReaderCheck>,
}

/// One pair read by the fine-tuning script: the margin and the best span it found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReaderCheck {
    pub question: String,
    pub sentence: String,
    pub margin: f32,
    /// Byte range in the sentence of the best span, before [`tidy_span`].
    pub span: [usize; 2],
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

/// A loaded reader: adapters for the encoder and the two heads.
pub struct Reader {
    file: ReaderFile,
    adapter: Adapter,
    start: Vec<f32>,
    start_bias: f32,
    end: Vec<f32>,
    end_bias: f32,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

static SHIPPED: OnceLock<Option<Reader>> = OnceLock::new();

fn vector(t: &HashMap<String, Tensor>, name: &str) -> Result<Vec<f32>, String> {
    let v = t.get(name).ok_or_else(|| format!("reader tensors lack {name}"))?;
    v.to_dtype(DType::F32)
        .and_then(|v| v.flatten_all())
        .and_then(|v| v.to_vec1())
        .map_err(|e| format!("reader tensor {name}: {e}"))
}

impl Reader {
    /// Checks a reader's description against its tensors (`safetensors` bytes).
    pub fn from_parts(file: ReaderFile, tensors: &[u8]) -> Result<Reader, String> {
        use sha2::Digest;
        if file.format != READER_FORMAT {
            return Err(format!(
                "reader format {} (this build reads {READER_FORMAT})",
                file.format
            ));
        }
        let sha = hex::encode(sha2::Sha256::digest(tensors));
        if sha != file.tensors_sha256 {
            return Err(format!("reader tensors have sha256 {sha}, not {}", file.tensors_sha256));
        }
        let t = candle_core::safetensors::load_buffer(tensors, &Device::Cpu).map_err(|e| e.to_string())?;
        let start = vector(&t, "start.weight")?;
        let end = vector(&t, "end.weight")?;
        let start_bias = vector(&t, "start.bias")?.first().copied().unwrap_or(0.0);
        let end_bias = vector(&t, "end.bias")?.first().copied().unwrap_or(0.0);
        if start.len() != end.len() || start.is_empty() {
            return Err(format!("reader heads of {} and {} values", start.len(), end.len()));
        }
        let adapter_tensors: HashMap<String, Tensor> =
            t.into_iter().filter(|(k, _)| k.starts_with("layers.")).collect();
        if adapter_tensors
            .keys()
            .filter_map(|k| k.strip_prefix("layers.")?.split('.').next()?.parse::<usize>().ok())
            .any(|l| l < file.first_layer)
        {
            return Err(format!("reader adapters below layer {}", file.first_layer));
        }
        let adapter = Adapter {
            id: sha,
            first_layer: file.first_layer,
            tensors: adapter_tensors,
        };
        Ok(Reader {
            file,
            adapter,
            start,
            start_bias,
            end,
            end_bias,
        })
    }

    /// The reader compiled into this build, if there is one and it matches `state_space`.
    /// `reader.json` holds `null` when no reader ships: answers then use the scorer and the
    /// span picker alone.
    pub fn shipped_for(state_space: &str) -> Option<&'static Reader> {
        SHIPPED
            .get_or_init(|| {
                let f: Option<ReaderFile> = serde_json::from_str(include_str!("reader.json")).ok()?;
                match Reader::from_parts(f?, include_bytes!("reader-adapter.safetensors")) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!("the shipped answer reader is unusable: {e}");
                        None
                    }
                }
            })
            .as_ref()
            .filter(|r| r.file.state_space == state_space)
    }

    pub fn file(&self) -> &ReaderFile {
        &self.file
    }

    /// The updates the encoder reads pairs with.
    pub fn adapter(&self) -> &Adapter {
        &self.adapter
    }

    fn heads(&self, state: &[f32]) -> (f32, f32) {
        (
            dot(state, &self.start) + self.start_bias,
            dot(state, &self.end) + self.end_bias,
        )
    }

    /// Reads one sentence: its best span and answer margin. A sentence without tokens (or
    /// states of another width) has no span and the lowest margin.
    pub fn read(&self, sentence: &str, states: &PairStates) -> Reading {
        if states.hidden != self.start.len() || states.spans.is_empty() || states.first.len() != states.hidden {
            return Reading {
                span: None,
                margin: f32::MIN,
            };
        }
        let (start, end): (Vec<f32>, Vec<f32>) = (0..states.spans.len()).map(|t| self.heads(states.state(t))).unzip();
        let (a, b, best) = best_span(&start, &end, MAX_SPAN_TOKENS);
        let (s0, e0) = self.heads(&states.first);
        let bytes = states.spans[a].start..states.spans[b].end;
        Reading {
            span: tidy_span(sentence, bytes),
            margin: best - (s0 + e0),
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
            Reader::from_parts(f, include_bytes!("reader-adapter.safetensors"))
                .expect("reader.json matches its tensors");
            assert!(Reader::shipped_for(&space).is_some());
        }
        assert!(Reader::shipped_for("another-model/hidden768").is_none());
    }

    /// A two-wide reader: the start head reads the first component, the end head the second.
    fn toy(format: u32) -> (ReaderFile, Vec<u8>) {
        let t: HashMap<String, Tensor> = [
            ("start.weight", vec![1f32, 0.0]),
            ("end.weight", vec![0.0, 1.0]),
            ("start.bias", vec![0.0]),
            ("end.bias", vec![0.0]),
            ("layers.3.mlp.up_proj.lora_a", vec![0.0, 0.0]),
        ]
        .into_iter()
        .map(|(k, v)| {
            let n = v.len();
            (k.to_string(), Tensor::from_vec(v, n, &Device::Cpu).unwrap())
        })
        .collect();
        let path = std::env::temp_dir().join(format!("sourcier-toy-reader-{}.safetensors", std::process::id()));
        candle_core::safetensors::save(&t, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        use sha2::Digest;
        let file = ReaderFile {
            format,
            state_space: "m/hidden2".into(),
            first_layer: 3,
            rank: 1,
            tensors_sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            trained_on: String::new(),
            checks: Vec::new(),
        };
        (file, bytes)
    }

    #[test]
    fn a_reader_file_that_does_not_match_its_tensors_is_refused() {
        let (good, bytes) = toy(READER_FORMAT);
        assert!(Reader::from_parts(good.clone(), &bytes).is_ok());
        let mut f = good.clone();
        f.format += 1;
        assert!(Reader::from_parts(f, &bytes).is_err());
        let mut f = good.clone();
        f.tensors_sha256 = "0".repeat(64);
        assert!(Reader::from_parts(f, &bytes).is_err());
        // Adapters below the first adapted layer.
        let mut f = good;
        f.first_layer = 4;
        assert!(Reader::from_parts(f, &bytes).unwrap_err().contains("below layer 4"));
    }

    #[test]
    fn a_reading_points_at_the_strongest_span_or_says_none() {
        let (file, bytes) = toy(READER_FORMAT);
        let reader = Reader::from_parts(file, &bytes).unwrap();
        let sentence = "Il emploie 300 personnes.";
        let spans = vec![0..2, 2..10, 10..14, 14..24, 24..25];
        let states = PairStates {
            hidden: 2,
            first: vec![1.0, 1.0],
            question: vec![0.0, 0.0],
            spans,
            // Token 2 ("300") starts, token 3 ("personnes") ends.
            states: vec![0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 5.0, 0.0, 0.0],
        };
        let r = reader.read(sentence, &states);
        assert_eq!(r.span.clone().map(|s| &sentence[s]), Some("300 personnes"));
        assert!((r.margin - 8.0).abs() < 1e-5, "{r:?}");
        // A strong BOS says "no answer here".
        let none = PairStates {
            first: vec![9.0, 9.0],
            ..states.clone()
        };
        assert!(reader.read(sentence, &none).margin < 0.0);
        // States of another width: no span, the lowest margin.
        let other = PairStates { hidden: 3, ..states };
        assert_eq!(reader.read(sentence, &other).span, None);
        assert_eq!(reader.read(sentence, &other).margin, f32::MIN);
    }
}
