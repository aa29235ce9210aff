//! Incremental detokenisation for streaming: turns generated token ids into text pieces that
//! only ever contain complete characters, and whose concatenation is exactly the full decode.
//!
//! Every generator has a `tokenizers::Tokenizer` (both the byte-level and the SentencePiece
//! builds in [`super::tokenizer`] produce one), so the work is done by its `DecodeStream`,
//! which holds back a byte-level token that ends inside a UTF-8 character and handles
//! decoders that depend on neighbours (SentencePiece strips the first leading space). This
//! module adds the one thing `DecodeStream` lacks, the end: [`TextStream::finish`] decodes
//! all the ids once and emits whatever the stream still held back, so what was streamed
//! always adds up to the full decode, even when the answer is cut inside a character.

use tokenizers::{
    DecodeStream, DecoderWrapper, ModelWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper, Tokenizer,
};

use crate::Result;

/// Special tokens (end of turn, …) are not part of the answer text; as in
/// [`super::tokenizer::decode`], which gives the full decode.
const SKIP_SPECIAL_TOKENS: bool = true;

type Stream<'t> =
    DecodeStream<'t, ModelWrapper, NormalizerWrapper, PreTokenizerWrapper, PostProcessorWrapper, DecoderWrapper>;

/// Turns token ids into complete-character text pieces.
pub(crate) struct TextStream<'t> {
    tokenizer: &'t Tokenizer,
    stream: Stream<'t>,
    ids: Vec<u32>,
    /// Everything emitted so far, so `finish` knows what is left.
    emitted: String,
    /// `DecodeStream` refused a step (a decoder that rewrote earlier text); the rest waits
    /// for `finish`.
    stalled: bool,
}

impl std::fmt::Debug for TextStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextStream")
            .field("ids", &self.ids)
            .field("emitted", &self.emitted)
            .finish_non_exhaustive()
    }
}

impl<'t> TextStream<'t> {
    pub(crate) fn new(tokenizer: &'t Tokenizer) -> TextStream<'t> {
        TextStream {
            tokenizer,
            stream: tokenizer.decode_stream(SKIP_SPECIAL_TOKENS),
            ids: Vec::new(),
            emitted: String::new(),
            stalled: false,
        }
    }

    /// Adds a token; returns the text it completes, if any.
    pub(crate) fn push(&mut self, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        if self.stalled {
            return Ok(None);
        }
        match self.stream.step(id) {
            Ok(Some(piece)) => {
                self.emitted.push_str(&piece);
                Ok(Some(piece))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::debug!("streaming decode stalled ({e}); the rest comes at the end");
                self.stalled = true;
                Ok(None)
            }
        }
    }

    /// What is left once no token will follow (an incomplete character shows as U+FFFD, as
    /// in a full decode).
    pub(crate) fn finish(&mut self) -> Result<Option<String>> {
        let full = super::tokenizer::decode(self.tokenizer, &self.ids)?;
        let Some(rest) = full.strip_prefix(self.emitted.as_str()) else {
            // Only a decoder that rewrites earlier text gets here; what was shown stays shown.
            tracing::debug!("the streamed text is not a prefix of the full decode");
            return Ok(None);
        };
        let rest = rest.to_string();
        self.emitted.push_str(&rest);
        Ok((!rest.is_empty()).then_some(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tokenizer::{self, tests::gpt2_metadata, tests::spm_metadata};
    use super::*;

    const FRENCH: &str = "Élysée, « déjà » … 🎉";

    /// Streams `ids`; returns the pieces (the final flush last, if any).
    fn stream(tok: &Tokenizer, ids: &[u32]) -> Vec<String> {
        let mut s = TextStream::new(tok);
        let mut pieces: Vec<String> = ids.iter().filter_map(|&id| s.push(id).unwrap()).collect();
        pieces.extend(s.finish().unwrap());
        pieces
    }

    fn assert_streams_like_a_full_decode(tok: &Tokenizer, text: &str) {
        let ids = tokenizer::encode(tok, text).unwrap();
        let full = tokenizer::decode(tok, &ids).unwrap();
        assert_eq!(full, text);
        let pieces = stream(tok, &ids);
        assert_eq!(pieces.concat().as_bytes(), full.as_bytes(), "{pieces:?}");
        assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')), "{pieces:?}");
        assert!(pieces.len() > 1, "{pieces:?}");
    }

    #[test]
    fn byte_level_streams_multibyte_french_whole() {
        let tok = tokenizer::from_metadata(&gpt2_metadata("qwen2")).unwrap();
        // No merges for these characters: each is split over 2-4 byte tokens.
        let ids = tokenizer::encode(&tok, FRENCH).unwrap();
        assert!(ids.len() > FRENCH.chars().count());
        assert_streams_like_a_full_decode(&tok, FRENCH);
        let pieces = stream(&tok, &ids);
        assert!(
            pieces.contains(&"É".to_string()) && pieces.contains(&"🎉".to_string()),
            "{pieces:?}"
        );
    }

    #[test]
    fn sentencepiece_streams_multibyte_french_whole() {
        for space_prefix in [true, false] {
            let tok = tokenizer::from_metadata(&spm_metadata(space_prefix)).unwrap();
            // "é", "«", "🎉"… are <0xNN> byte-fallback pieces; the first space is stripped.
            assert_streams_like_a_full_decode(&tok, &format!("hello world {FRENCH}"));
            assert_streams_like_a_full_decode(&tok, FRENCH);
        }
    }

    #[test]
    fn a_truncated_character_is_flushed_as_in_a_full_decode() {
        let tok = tokenizer::from_metadata(&gpt2_metadata("qwen2")).unwrap();
        let mut ids = tokenizer::encode(&tok, "ok 🎉").unwrap();
        ids.pop();
        let pieces = stream(&tok, &ids);
        assert_eq!(pieces.concat(), tokenizer::decode(&tok, &ids).unwrap());
        assert_eq!(pieces.last().map(String::as_str), Some("\u{FFFD}"), "{pieces:?}");
    }

    #[test]
    fn special_tokens_stream_nothing() {
        let tok = tokenizer::from_metadata(&gpt2_metadata("qwen2")).unwrap();
        let ids = tokenizer::encode(&tok, "<|im_start|>hello world<|im_end|>").unwrap();
        assert_eq!(stream(&tok, &ids).concat(), "hello world");
    }
}
