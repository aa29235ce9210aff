//! Builds a `tokenizers::Tokenizer` from the vocabulary a GGUF file carries in its metadata.
//!
//! GGUF generators ship without `tokenizer.json`, so the pipeline the Hugging Face file would
//! describe is rebuilt here from `tokenizer.ggml.*`: byte-level BPE (`gpt2`: Qwen, Llama 3) or
//! SentencePiece-style BPE with byte fallback (`llama`: Llama 2, Mistral, Gemma), whose merges
//! are derived from the piece scores the way `transformers` converts SentencePiece models.
//! The input is the plain metadata map, so the logic is testable on a tiny synthetic vocabulary.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Merges, Vocab};
use tokenizers::normalizers::prepend::Prepend;
use tokenizers::normalizers::replace::Replace;
use tokenizers::normalizers::unicode::NFC;
use tokenizers::normalizers::{NormalizerWrapper, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::{Error, Result};

/// Qwen2 pre-tokenizer regex (one digit per token), as in its `tokenizer.json`.
pub(crate) const QWEN2_REGEX: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3 pre-tokenizer regex: as Qwen2 but digits grouped by three.
pub(crate) const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
const TYPE_NORMAL: u32 = 1;
const TYPE_UNKNOWN: u32 = 2;
const TYPE_CONTROL: u32 = 3;
const TYPE_USER_DEFINED: u32 = 4;

/// SentencePiece's word-boundary marker.
const SPM_SPACE: &str = "\u{2581}";

/// Builds the tokenizer described by GGUF metadata. The error detail names the key at fault.
pub(crate) fn from_metadata(md: &HashMap<String, Value>) -> std::result::Result<Tokenizer, String> {
    let model = string(md, "tokenizer.ggml.model")?;
    let tokens = strings(md, "tokenizer.ggml.tokens")?;
    let types = match md.get("tokenizer.ggml.token_type") {
        Some(v) => u32s(v).ok_or("tokenizer.ggml.token_type is not an integer array")?,
        None => vec![TYPE_NORMAL; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(format!(
            "tokenizer.ggml.token_type has {} entries for {} tokens",
            types.len(),
            tokens.len()
        ));
    }
    let mut tokenizer = match model {
        "gpt2" => byte_level_bpe(md, &tokens)?,
        "llama" => sentencepiece_bpe(md, &tokens, &types)?,
        other => {
            return Err(format!(
                "tokenizer.ggml.model `{other}` is not supported (supported: gpt2, llama)"
            ));
        }
    };
    add_special_tokens(&mut tokenizer, &tokens, &types)?;
    Ok(tokenizer)
}

/// Byte-level BPE (GPT-2 family): merges come with the file, the pre-tokenizer regex depends on
/// `tokenizer.ggml.pre`.
fn byte_level_bpe(md: &HashMap<String, Value>, tokens: &[String]) -> std::result::Result<Tokenizer, String> {
    let merges: Merges = strings(md, "tokenizer.ggml.merges")?
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("tokenizer.ggml.merges: malformed entry `{m}`"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab(tokens), merges)
        .build()
        .map_err(|e| format!("building the BPE model: {e}"))?;
    let mut tokenizer = Tokenizer::new(bpe);

    let pre = md
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .map(String::as_str);
    let regex = match pre {
        Some("qwen2") | Some("deepseek-r1-qwen") => Some(QWEN2_REGEX),
        Some("llama-bpe") | Some("llama3") | Some("smaug-bpe") | Some("dbrx") => Some(LLAMA3_REGEX),
        Some("gpt2") | Some("default") | None => None,
        Some(other) => {
            tracing::warn!(
                "unknown GGUF pre-tokenizer `{other}`, using GPT-2's split; tokens may differ slightly from the original"
            );
            None
        }
    };
    match regex {
        Some(re) => {
            let split = Split::new(
                SplitPattern::Regex(re.to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| format!("pre-tokenizer regex: {e}"))?;
            tokenizer.with_pre_tokenizer(Some(PreSequence::new(vec![
                split.into(),
                ByteLevel::new(false, false, false).into(),
            ])));
        }
        None => {
            tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        }
    }
    if pre == Some("qwen2") {
        // Qwen's tokenizer.json normalises to NFC before splitting.
        tokenizer
            .with_normalizer(Some(NFC))
            .map_err(|e| format!("normalizer: {e}"))?;
    }
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    Ok(tokenizer)
}

/// SentencePiece BPE (Llama 2, Mistral, Gemma): spaces become `▁`, unknown bytes fall back to
/// `<0xNN>` pieces, and merges are ranked by the score of the piece they produce.
fn sentencepiece_bpe(
    md: &HashMap<String, Value>,
    tokens: &[String],
    types: &[u32],
) -> std::result::Result<Tokenizer, String> {
    let scores = match md.get("tokenizer.ggml.scores") {
        Some(v) => f32s(v).ok_or("tokenizer.ggml.scores is not a float array")?,
        None => return Err("tokenizer.ggml.scores is missing (needed by the `llama` tokenizer)".into()),
    };
    if scores.len() != tokens.len() {
        return Err(format!(
            "tokenizer.ggml.scores has {} entries for {} tokens",
            scores.len(),
            tokens.len()
        ));
    }
    let merges = spm_merges(tokens, types, &scores);
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab(tokens), merges)
        .byte_fallback(true)
        .fuse_unk(true);
    let unk = ["tokenizer.ggml.unknown_token_id", "tokenizer.ggml.unk_token_id"]
        .iter()
        .find_map(|k| md.get(*k).and_then(as_u32))
        .and_then(|id| tokens.get(id as usize));
    if let Some(unk) = unk {
        builder = builder.unk_token(unk.clone());
    }
    let bpe = builder.build().map_err(|e| format!("building the BPE model: {e}"))?;
    let mut tokenizer = Tokenizer::new(bpe);

    // llama.cpp defaults to a space prefix; Gemma's files turn it off.
    let space_prefix = md
        .get("tokenizer.ggml.add_space_prefix")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(true);
    let replace = |a: &str, b: &str| Replace::new(a, b).map_err(|e| format!("replace pattern: {e}"));
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if space_prefix {
        normalizers.push(Prepend::new(SPM_SPACE.to_string()).into());
    }
    normalizers.push(replace(" ", SPM_SPACE)?.into());
    tokenizer
        .with_normalizer(Some(NormalizerSequence::new(normalizers)))
        .map_err(|e| format!("normalizer: {e}"))?;
    let mut decoders: Vec<DecoderWrapper> = vec![
        replace(SPM_SPACE, " ")?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(tokenizer)
}

/// Merges of a SentencePiece vocabulary: every split of a normal piece into two normal pieces,
/// ranked by the merged piece's score (best first), then by ids, as `transformers` does.
pub(crate) fn spm_merges(tokens: &[String], types: &[u32], scores: &[f32]) -> Merges {
    let mut normal: HashMap<&str, u32> = HashMap::with_capacity(tokens.len());
    for (id, (t, &ty)) in tokens.iter().zip(types).enumerate() {
        if ty == TYPE_NORMAL {
            normal.entry(t.as_str()).or_insert(id as u32);
        }
    }
    let mut ranked: Vec<(f32, u32, u32, u32, &str, &str)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        if types[id] != TYPE_NORMAL || normal.get(piece.as_str()) != Some(&(id as u32)) {
            continue;
        }
        for (at, _) in piece.char_indices().skip(1) {
            let (l, r) = piece.split_at(at);
            if let (Some(&li), Some(&ri)) = (normal.get(l), normal.get(r)) {
                ranked.push((scores[id], id as u32, li, ri, l, r));
            }
        }
    }
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    ranked
        .into_iter()
        .map(|(_, _, _, _, l, r)| (l.to_string(), r.to_string()))
        .collect()
}

/// Control and unknown tokens become special (matched whole, skipped when decoding);
/// user-defined ones are matched whole but kept in decoded text.
fn add_special_tokens(tokenizer: &mut Tokenizer, tokens: &[String], types: &[u32]) -> std::result::Result<(), String> {
    let mut special = Vec::new();
    let mut user = Vec::new();
    for (t, &ty) in tokens.iter().zip(types) {
        match ty {
            TYPE_CONTROL | TYPE_UNKNOWN => special.push(AddedToken::from(t.clone(), true)),
            TYPE_USER_DEFINED => user.push(AddedToken::from(t.clone(), false).normalized(false)),
            _ => {}
        }
    }
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| format!("adding special tokens: {e}"))?;
    tokenizer
        .add_tokens(user)
        .map_err(|e| format!("adding user-defined tokens: {e}"))?;
    Ok(())
}

/// Token → id, keeping the first id of a duplicated string so ids stay those of the file.
fn vocab(tokens: &[String]) -> Vocab {
    let mut v = Vocab::default();
    v.reserve(tokens.len());
    for (id, t) in tokens.iter().enumerate() {
        v.entry(t.clone()).or_insert(id as u32);
    }
    v
}

fn string<'a>(md: &'a HashMap<String, Value>, key: &str) -> std::result::Result<&'a str, String> {
    md.get(key)
        .ok_or_else(|| format!("{key} is missing"))?
        .to_string()
        .map(String::as_str)
        .map_err(|_| format!("{key} is not a string"))
}

fn strings(md: &HashMap<String, Value>, key: &str) -> std::result::Result<Vec<String>, String> {
    let arr = md
        .get(key)
        .ok_or_else(|| format!("{key} is missing"))?
        .to_vec()
        .map_err(|_| format!("{key} is not an array"))?;
    arr.iter()
        .map(|v| v.to_string().cloned().map_err(|_| format!("{key} holds a non-string")))
        .collect()
}

/// Any GGUF integer as `u32` (files disagree on the integer width of ids and types).
pub(crate) fn as_u32(v: &Value) -> Option<u32> {
    match *v {
        Value::U8(x) => Some(x as u32),
        Value::I8(x) => u32::try_from(x).ok(),
        Value::U16(x) => Some(x as u32),
        Value::I16(x) => u32::try_from(x).ok(),
        Value::U32(x) => Some(x),
        Value::I32(x) => u32::try_from(x).ok(),
        Value::U64(x) => u32::try_from(x).ok(),
        Value::I64(x) => u32::try_from(x).ok(),
        _ => None,
    }
}

fn u32s(v: &Value) -> Option<Vec<u32>> {
    v.to_vec().ok()?.iter().map(as_u32).collect()
}

fn f32s(v: &Value) -> Option<Vec<f32>> {
    v.to_vec()
        .ok()?
        .iter()
        .map(|x| match *x {
            Value::F32(f) => Some(f),
            Value::F64(f) => Some(f as f32),
            _ => None,
        })
        .collect()
}

/// Wraps a metadata problem as the library error for the file at `path`.
pub(crate) fn error(path: &std::path::Path, detail: String) -> Error {
    Error::UnsupportedModel {
        path: path.to_path_buf(),
        detail: format!("cannot build its tokenizer: {detail}"),
    }
}

/// Encodes text with special tokens recognised but no BOS/EOS added (templates add them).
pub(crate) fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    let enc = tokenizer
        .encode_fast(text, false)
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    Ok(enc.get_ids().to_vec())
}

/// Decodes ids, dropping special tokens.
pub(crate) fn decode(tokenizer: &Tokenizer, ids: &[u32]) -> Result<String> {
    tokenizer.decode(ids, true).map_err(|e| Error::Tokenizer(e.to_string()))
}

/// Test tokenizers, shared with the streaming tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::String(x.to_string())
    }

    fn arr<T>(xs: &[T], f: impl Fn(&T) -> Value) -> Value {
        Value::Array(xs.iter().map(f).collect())
    }

    /// A byte-level vocabulary: the 256 byte symbols, a few merges, two specials.
    pub(crate) fn gpt2_metadata(pre: &str) -> HashMap<String, Value> {
        let mut tokens: Vec<String> = bytes_to_unicode();
        let merges = [
            "h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "1 2",
        ];
        for m in merges {
            tokens.push(m.replace(' ', ""));
        }
        tokens.push("<|im_start|>".into());
        tokens.push("<|im_end|>".into());
        tokens.push("<tool_call>".into());
        let mut types = vec![TYPE_NORMAL; tokens.len()];
        let n = types.len();
        types[n - 3] = TYPE_CONTROL;
        types[n - 2] = TYPE_CONTROL;
        types[n - 1] = TYPE_USER_DEFINED;
        let mut md = HashMap::new();
        md.insert("tokenizer.ggml.model".into(), s("gpt2"));
        md.insert("tokenizer.ggml.pre".into(), s(pre));
        md.insert("tokenizer.ggml.tokens".into(), arr(&tokens, |t| s(t)));
        md.insert(
            "tokenizer.ggml.token_type".into(),
            arr(&types, |&t| Value::I32(t as i32)),
        );
        md.insert("tokenizer.ggml.merges".into(), arr(&merges, |m| s(m)));
        md
    }

    /// GPT-2's printable stand-ins for the 256 bytes, in byte order.
    fn bytes_to_unicode() -> Vec<String> {
        let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let mut extra = 0;
        (0..256u32)
            .map(|b| {
                if printable(b) {
                    char::from_u32(b).unwrap().to_string()
                } else {
                    extra += 1;
                    char::from_u32(255 + extra).unwrap().to_string()
                }
            })
            .collect()
    }

    #[test]
    fn byte_level_bpe_merges_and_round_trips() {
        let tok = from_metadata(&gpt2_metadata("qwen2")).unwrap();
        let ids = encode(&tok, "hello world").unwrap();
        let pieces: Vec<_> = ids.iter().map(|&i| tok.id_to_token(i).unwrap()).collect();
        assert_eq!(pieces, ["hello", "Ġworld"]);
        for text in [
            "hello world",
            "Hello, world! Élysée 1.000",
            "tab\tand\nnewline  ",
            "数字 123",
        ] {
            let ids = encode(&tok, text).unwrap();
            assert_eq!(decode(&tok, &ids).unwrap(), text);
        }
    }

    #[test]
    fn qwen2_regex_splits_digits_one_by_one() {
        let tok = from_metadata(&gpt2_metadata("qwen2")).unwrap();
        let ids = encode(&tok, "123").unwrap();
        assert_eq!(ids.len(), 3);
        // Llama 3 keeps "123" as one pre-token, so the "1 2" merge applies.
        let tok = from_metadata(&gpt2_metadata("llama-bpe")).unwrap();
        let ids = encode(&tok, "123").unwrap();
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn control_tokens_are_single_and_skipped_when_decoding() {
        let md = gpt2_metadata("qwen2");
        let tok = from_metadata(&md).unwrap();
        let start = tok.token_to_id("<|im_start|>").unwrap();
        let end = tok.token_to_id("<|im_end|>").unwrap();
        let ids = encode(&tok, "<|im_start|>hello<|im_end|>").unwrap();
        assert_eq!(ids.first(), Some(&start));
        assert_eq!(ids.last(), Some(&end));
        assert_eq!(ids.len(), 3);
        assert_eq!(decode(&tok, &ids).unwrap(), "hello");
        // User-defined tokens are whole but stay visible.
        let ids = encode(&tok, "<tool_call>").unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(decode(&tok, &ids).unwrap(), "<tool_call>");
    }

    pub(crate) fn spm_metadata(space_prefix: bool) -> HashMap<String, Value> {
        // (piece, type, score): merges follow the scores of the merged pieces.
        let mut vocab: Vec<(String, u32, f32)> = vec![
            ("<unk>".into(), TYPE_UNKNOWN, 0.0),
            ("<s>".into(), TYPE_CONTROL, 0.0),
            ("</s>".into(), TYPE_CONTROL, 0.0),
        ];
        for b in 0..=255u8 {
            vocab.push((format!("<0x{b:02X}>"), 6, 0.0));
        }
        for (p, sc) in [
            ("▁", -1.0),
            ("h", -2.0),
            ("e", -3.0),
            ("l", -4.0),
            ("o", -5.0),
            ("w", -6.0),
            ("r", -7.0),
            ("d", -8.0),
            ("he", -10.0),
            ("ll", -11.0),
            ("hell", -12.0),
            ("hello", -13.0),
            ("▁hello", -14.0),
            ("▁w", -15.0),
            ("or", -16.0),
            ("▁wor", -17.0),
            ("▁world", -18.0),
            ("ld", -19.0),
        ] {
            vocab.push((p.into(), TYPE_NORMAL, sc));
        }
        let mut md = HashMap::new();
        md.insert("tokenizer.ggml.model".into(), s("llama"));
        md.insert("tokenizer.ggml.tokens".into(), arr(&vocab, |v| s(&v.0)));
        md.insert(
            "tokenizer.ggml.token_type".into(),
            arr(&vocab, |v| Value::I32(v.1 as i32)),
        );
        md.insert("tokenizer.ggml.scores".into(), arr(&vocab, |v| Value::F32(v.2)));
        md.insert("tokenizer.ggml.unknown_token_id".into(), Value::U32(0));
        md.insert("tokenizer.ggml.add_space_prefix".into(), Value::Bool(space_prefix));
        md
    }

    #[test]
    fn sentencepiece_merges_follow_scores() {
        let md = spm_metadata(true);
        let tokens = strings(&md, "tokenizer.ggml.tokens").unwrap();
        let types = u32s(&md["tokenizer.ggml.token_type"]).unwrap();
        let scores = f32s(&md["tokenizer.ggml.scores"]).unwrap();
        let merges = spm_merges(&tokens, &types, &scores);
        // "he" has the best merged score; "hello" can be made two ways (hell+o ranks by ids).
        assert_eq!(merges[0], ("h".into(), "e".into()));
        assert!(merges.contains(&("hell".into(), "o".into())));
        assert!(merges.contains(&("▁".into(), "hello".into())));
        // Byte and control pieces never take part.
        assert!(merges.iter().all(|(l, r)| !l.starts_with("<") && !r.starts_with("<")));
    }

    #[test]
    fn sentencepiece_round_trips_with_byte_fallback() {
        let tok = from_metadata(&spm_metadata(true)).unwrap();
        let ids = encode(&tok, "hello world").unwrap();
        let pieces: Vec<_> = ids.iter().map(|&i| tok.id_to_token(i).unwrap()).collect();
        assert_eq!(pieces, ["▁hello", "▁world"]);
        // "é" and "!" are not pieces: they go through <0xNN> bytes and come back whole.
        for text in ["hello world", "hello é!", "hello\nworld"] {
            let ids = encode(&tok, text).unwrap();
            assert_eq!(decode(&tok, &ids).unwrap(), text);
        }
        let s = tok.token_to_id("<s>").unwrap();
        let ids = encode(&tok, "<s>hello").unwrap();
        assert_eq!(ids[0], s);
        assert_eq!(decode(&tok, &ids).unwrap(), "hello");
    }

    #[test]
    fn sentencepiece_without_space_prefix() {
        let tok = from_metadata(&spm_metadata(false)).unwrap();
        let ids = encode(&tok, "hello world").unwrap();
        let pieces: Vec<_> = ids.iter().map(|&i| tok.id_to_token(i).unwrap()).collect();
        assert_eq!(pieces, ["hello", "▁world"]);
        assert_eq!(decode(&tok, &ids).unwrap(), "hello world");
    }

    #[test]
    fn unsupported_tokenizer_is_named() {
        let mut md = gpt2_metadata("qwen2");
        md.insert("tokenizer.ggml.model".into(), s("bert"));
        let err = from_metadata(&md).unwrap_err();
        assert!(err.contains("bert") && err.contains("gpt2"), "{err}");
    }
}
