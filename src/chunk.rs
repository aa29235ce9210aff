//! Sentence-aware chunking of an article's body into pieces that fit the embedder's window.
//!
//! Sentences (see `chunk/sentences.rs`) are packed greedily across the article's blocks until
//! the next one would overflow `max_tokens`; each new chunk repeats the last sentence(s) of the
//! previous one so that a fact straddling two chunks is still retrievable. A sentence longer
//! than the budget is cut at word boundaries, a word longer than the budget at char boundaries.
//! Token counts come from a [`TokenCounter`] (the embedder's tokenizer), measured per sentence
//! and summed, and checked once on the final chunk text; the chunk shrinks if the sum lied.

mod sentences;

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::corpus::Article;

pub use sentences::split_sentences;

/// Counts tokens the way the embedder will see them, special tokens excluded.
pub trait TokenCounter {
    fn count(&self, text: &str) -> usize;
}

/// Counts whitespace-separated words; a stand-in for tests and tokenizer-free tools.
#[derive(Debug, Clone, Copy, Default)]
pub struct WhitespaceCounter;

impl TokenCounter for WhitespaceCounter {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

/// Chunk size and overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerConfig {
    /// Token budget for the chunk text alone (special tokens excluded).
    pub max_tokens: usize,
    /// Sentences repeated from the end of the previous chunk.
    pub overlap_sentences: usize,
}

impl Default for ChunkerConfig {
    fn default() -> Self {
        ChunkerConfig {
            max_tokens: 256,
            overlap_sentences: 1,
        }
    }
}

/// One piece of an article, ready to embed and to cite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// 0-based position in the article.
    pub ordinal: u32,
    /// Sentences as in the article; content from different blocks joined with `\n`.
    pub text: String,
    /// Byte span in `Article::text`, start of the first sentence to end of the last.
    pub start: usize,
    pub end: usize,
    /// 1-based source lines, inclusive.
    pub line_start: u32,
    pub line_end: u32,
}

/// A sentence, or a piece of an over-long one, with its token count.
#[derive(Debug, Clone)]
struct Unit {
    range: Range<usize>,
    block: usize,
    tokens: usize,
}

/// Splits an article's blocks into chunks of at most `cfg.max_tokens` tokens.
pub fn chunk_article(article: &Article, cfg: &ChunkerConfig, counter: &dyn TokenCounter) -> Vec<Chunk> {
    let text = article.text.as_str();
    let max = cfg.max_tokens;
    if max == 0 {
        tracing::warn!("chunking {} with a budget of 0 tokens produces no chunks", article.id);
        return Vec::new();
    }
    let mut units = Vec::new();
    for (b, r) in valid_blocks(text, &article.blocks).into_iter().enumerate() {
        for s in split_sentences(text, r) {
            let tokens = counter.count(&text[s.clone()]);
            if tokens <= max {
                units.push(Unit {
                    range: s,
                    block: b,
                    tokens,
                });
            } else {
                split_long_sentence(text, s, b, max, counter, &mut units);
            }
        }
    }

    let newlines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    let base = article.line_base.max(1);
    let last = if article.last_line >= base {
        article.last_line
    } else {
        u32::MAX
    };
    let line_of = |offset: usize| {
        let before = newlines.partition_point(|&p| p < offset);
        base.saturating_add(u32::try_from(before).unwrap_or(u32::MAX)).min(last)
    };

    pack(text, &units, cfg, counter)
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let (start, end) = (units[r.start].range.start, units[r.end - 1].range.end);
            Chunk {
                ordinal: u32::try_from(i).unwrap_or(u32::MAX),
                text: join(text, &units[r]),
                start,
                end,
                line_start: line_of(start),
                line_end: line_of(end.saturating_sub(1).max(start)),
            }
        })
        .collect()
}

/// Blocks usable as given: in bounds, on char boundaries, sorted, not overlapping.
fn valid_blocks(text: &str, blocks: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut sorted: Vec<Range<usize>> = blocks
        .iter()
        .filter(|r| r.start < r.end && text.get(r.start..r.end).is_some())
        .cloned()
        .collect();
    sorted.sort_by_key(|r| (r.start, r.end));
    let mut out: Vec<Range<usize>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start < last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Chunk text for consecutive units: original text within a block, `\n` between blocks.
fn join(text: &str, units: &[Unit]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < units.len() {
        let mut j = i;
        while j + 1 < units.len() && units[j + 1].block == units[i].block {
            j += 1;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&text[units[i].range.start..units[j].range.end]);
        i = j + 1;
    }
    out
}

/// Greedy packing with overlap; returns unit index ranges, one per chunk.
fn pack(text: &str, units: &[Unit], cfg: &ChunkerConfig, counter: &dyn TokenCounter) -> Vec<Range<usize>> {
    let max = cfg.max_tokens;
    let mut chunks: Vec<Range<usize>> = Vec::new();
    let mut next = 0;
    while next < units.len() {
        // Overlap only while it leaves room for the next new unit.
        let mut start = next;
        if let Some(prev) = chunks.last() {
            let room = max.saturating_sub(units[next].tokens);
            for k in (1..=cfg.overlap_sentences.min(prev.len())).rev() {
                if units[next - k..next].iter().map(|u| u.tokens).sum::<usize>() <= room {
                    start = next - k;
                    break;
                }
            }
        }
        let mut end = next + 1;
        let mut estimate: usize = units[start..end].iter().map(|u| u.tokens).sum();
        while end < units.len() && estimate + units[end].tokens <= max {
            estimate += units[end].tokens;
            end += 1;
        }
        // The sum of sentence counts is an estimate: check the real text once, shrink if needed.
        loop {
            if counter.count(&join(text, &units[start..end])) <= max {
                break;
            }
            if let Some(e) = largest_fit(text, &units[start..end], next - start + 1, max, counter) {
                end = start + e;
                break;
            }
            if start < next {
                start = next;
                continue;
            }
            // A lone unit was counted on its own and fits; nothing else can be trimmed.
            end = next + 1;
            break;
        }
        chunks.push(start..end);
        next = end;
    }
    chunks
}

/// Largest `e` in `min_len..units.len()` such that the first `e` units fit (counts grow with
/// text). The estimate is usually off by a unit at most, so dropping one is tried first, then a
/// binary search. `None` when even `min_len` units overflow.
fn largest_fit(text: &str, units: &[Unit], min_len: usize, max: usize, counter: &dyn TokenCounter) -> Option<usize> {
    let fits = |e: usize| counter.count(&join(text, &units[..e])) <= max;
    if min_len >= units.len() {
        return None;
    }
    let last = units.len() - 1;
    if fits(last) {
        return Some(last);
    }
    if min_len == last || !fits(min_len) {
        return None;
    }
    let (mut lo, mut hi) = (min_len, last - 1);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(lo)
}

/// Cuts an over-long sentence into units that fit: whole words where possible, char runs for
/// words longer than the budget.
fn split_long_sentence(
    text: &str,
    range: Range<usize>,
    block: usize,
    max: usize,
    counter: &dyn TokenCounter,
    out: &mut Vec<Unit>,
) {
    let mut atoms: Vec<Unit> = Vec::new();
    let s = &text[range.clone()];
    let mut word_start = None;
    for (i, c) in s.char_indices().chain(std::iter::once((s.len(), ' '))) {
        match (c.is_whitespace(), word_start) {
            (false, None) => word_start = Some(i),
            (true, Some(ws)) => {
                let w = range.start + ws..range.start + i;
                let tokens = counter.count(&text[w.clone()]);
                if tokens <= max {
                    atoms.push(Unit {
                        range: w,
                        block,
                        tokens,
                    });
                } else {
                    split_long_word(text, w, block, max, counter, &mut atoms);
                }
                word_start = None;
            }
            _ => {}
        }
    }
    // Greedy over words, verified like chunks.
    let mut i = 0;
    while i < atoms.len() {
        let mut end = i + 1;
        let mut estimate = atoms[i].tokens;
        while end < atoms.len() && estimate + atoms[end].tokens <= max {
            estimate += atoms[end].tokens;
            end += 1;
        }
        let piece = |e: usize| atoms[i].range.start..atoms[e - 1].range.end;
        let mut tokens = counter.count(&text[piece(end)]);
        if tokens > max {
            let words: Vec<Unit> = atoms[i..end].to_vec();
            end = i + largest_fit(text, &words, 1, max, counter).unwrap_or(1);
            tokens = counter.count(&text[piece(end)]);
        }
        out.push(Unit {
            range: piece(end),
            block,
            tokens,
        });
        i = end;
    }
}

/// Cuts one over-long word at char boundaries into runs that fit.
fn split_long_word(
    text: &str,
    range: Range<usize>,
    block: usize,
    max: usize,
    counter: &dyn TokenCounter,
    out: &mut Vec<Unit>,
) {
    let w = &text[range.clone()];
    // Char end offsets within the word.
    let ends: Vec<usize> = w.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    let mut from = 0; // index into `ends` of the first char of the current run
    let mut start = 0; // byte offset in `w`
    while from < ends.len() {
        let count = |k: usize| counter.count(&w[start..ends[k]]);
        if count(from) > max {
            tracing::warn!("a single character exceeds the {max}-token budget; left out of the chunks");
            start = ends[from];
            from += 1;
            continue;
        }
        let (mut lo, mut hi) = (from, ends.len() - 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if count(mid) <= max {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        out.push(Unit {
            range: range.start + start..range.start + ends[lo],
            block,
            tokens: count(lo),
        });
        start = ends[lo];
        from = lo + 1;
    }
}

#[cfg(test)]
mod tests;
