//! Incremental detokenisation for streaming: turns a growing list of token ids into text pieces
//! that only ever contain complete characters.
//!
//! A byte-level token can end in the middle of a UTF-8 character, and some decoders change a
//! token's text depending on its neighbours (SentencePiece strips the leading space of the
//! first token). So instead of decoding tokens one by one, a short window of recent tokens is
//! decoded with and without the newest ones and the new suffix is emitted once it no longer
//! ends in U+FFFD (the mark of an incomplete character).

use crate::Result;

/// Turns token ids into complete-character text pieces.
#[derive(Debug, Default)]
pub(crate) struct TextStream {
    ids: Vec<u32>,
    /// Start of the decoding window: text before it is settled.
    prefix: usize,
    /// End of what has been emitted.
    read: usize,
}

impl TextStream {
    pub(crate) fn new() -> TextStream {
        TextStream::default()
    }

    /// Adds a token; returns the text it completes, if any.
    pub(crate) fn push(&mut self, id: u32, decode: &dyn Fn(&[u32]) -> Result<String>) -> Result<Option<String>> {
        self.ids.push(id);
        let before = decode(&self.ids[self.prefix..self.read])?;
        let now = decode(&self.ids[self.prefix..])?;
        if now.len() <= before.len() || now.ends_with('\u{FFFD}') {
            return Ok(None);
        }
        // The window's text only grows at its end; a decoder that rewrote earlier text
        // (not seen in practice) waits for the final flush rather than emitting garbage.
        let Some(piece) = now.strip_prefix(before.as_str()) else {
            return Ok(None);
        };
        let piece = piece.to_string();
        self.prefix = self.read;
        self.read = self.ids.len();
        Ok(Some(piece))
    }

    /// What is left once no token will follow (an incomplete character shows as U+FFFD).
    pub(crate) fn finish(&mut self, decode: &dyn Fn(&[u32]) -> Result<String>) -> Result<Option<String>> {
        if self.read == self.ids.len() {
            return Ok(None);
        }
        let before = decode(&self.ids[self.prefix..self.read])?;
        let now = decode(&self.ids[self.prefix..])?;
        self.prefix = self.read;
        self.read = self.ids.len();
        let piece = match now.strip_prefix(before.as_str()) {
            Some(p) => p.to_string(),
            None => now,
        };
        Ok((!piece.is_empty()).then_some(piece))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each id is one byte; decoding is lossy UTF-8, as a byte-level decoder's.
    fn bytes(ids: &[u32]) -> Result<String> {
        let b: Vec<u8> = ids.iter().map(|&i| i as u8).collect();
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    fn run(text: &[u8]) -> (Vec<String>, String) {
        let mut s = TextStream::new();
        let mut pieces = Vec::new();
        for &b in text {
            if let Some(p) = s.push(b as u32, &bytes).unwrap() {
                pieces.push(p);
            }
        }
        if let Some(p) = s.finish(&bytes).unwrap() {
            pieces.push(p);
        }
        let joined = pieces.concat();
        (pieces, joined)
    }

    #[test]
    fn multibyte_characters_are_never_split() {
        let text = "Élysée — 数字 🎉 ok";
        let (pieces, joined) = run(text.as_bytes());
        assert_eq!(joined, text);
        assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')));
        assert!(pieces.contains(&"É".to_string()) && pieces.contains(&"🎉".to_string()));
    }

    #[test]
    fn a_truncated_character_is_flushed_as_replacement() {
        let mut text = b"ok ".to_vec();
        text.extend_from_slice(&"é".as_bytes()[..1]);
        let (_, joined) = run(&text);
        assert_eq!(joined, "ok \u{FFFD}");
    }

    #[test]
    fn context_dependent_decoders_stay_consistent() {
        // A SentencePiece-like decoder: ids are words, each with a leading space, and the first
        // space of the decoded text is stripped.
        let words = ["hello", "big", "world"];
        let decode = |ids: &[u32]| -> Result<String> {
            let s: String = ids.iter().map(|&i| format!(" {}", words[i as usize])).collect();
            Ok(s.strip_prefix(' ').unwrap_or(&s).to_string())
        };
        let mut s = TextStream::new();
        let mut out = String::new();
        for id in [0, 1, 2] {
            out.push_str(&s.push(id, &decode).unwrap().unwrap_or_default());
        }
        assert_eq!(out, "hello big world");
        assert_eq!(s.finish(&decode).unwrap(), None);
    }
}
