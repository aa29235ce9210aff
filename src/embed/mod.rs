//! Text embedding: the [`Embedder`] trait and its EmbeddingGemma implementation.
//!
//! Callers only see the trait: embed queries, embed documents (with their titles), dims, and a
//! fingerprint that changes whenever the vectors would (weights, prompts, dims). The embedder
//! owns its prompts, so no caller can embed a document with the query prompt by mistake, and
//! a BERT-family model can be added later behind the same trait.
//!
//! [`Precision`] picks f32 or int8 matrix products (see [`int8`]); int8 vectors differ
//! slightly, so the precision is part of the fingerprint and an index is searched with the
//! precision that built it.

mod fused;
pub mod gemma;
pub mod hashing;
pub mod int8;
pub mod int8_cache;

pub use hashing::HashingEmbedder;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use crate::models::{self, Prompts};
use crate::{Error, Result};

/// A document to embed: its text and, when known, its title (used by the document prompt).
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    pub title: Option<&'a str>,
    pub text: &'a str,
}

/// Turns texts into L2-normalised vectors.
pub trait Embedder: Send + Sync {
    /// Embeds search queries (the query prompt is applied here).
    fn embed_queries(&self, queries: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// Embeds documents (the document prompt, with the title when known, is applied here).
    fn embed_documents(&self, docs: &[Document<'_>]) -> Result<Vec<Vec<f32>>>;
    /// Output dimension.
    fn dims(&self) -> usize;
    /// Changes whenever the vectors would: weights, prompts, dims.
    fn fingerprint(&self) -> String;
    /// A short human name, such as `embeddinggemma-300m@768`.
    fn name(&self) -> String;
    /// Longest input, in tokens, special tokens and prompt included.
    fn max_tokens(&self) -> usize;
    /// Tokens of a text on its own (no prompt, no special tokens).
    fn count_tokens(&self, text: &str) -> usize;
    /// Tokens the document prompt and special tokens add for a given title.
    fn document_overhead(&self, title: Option<&str>) -> usize;
    /// Reads a question together with each passage (one forward pass per pair, batched) and
    /// returns the encoder's per-token states, for the answer reader, with the last layers
    /// updated by `adapter` when one is given. `None` when this embedder has no such states
    /// (the hashing embedder): callers fall back to rules.
    fn read_pairs(
        &self,
        _question: &str,
        _passages: &[&str],
        _adapter: Option<&Adapter>,
    ) -> Result<Option<Vec<PairStates>>> {
        Ok(None)
    }
    /// Names the space of [`Embedder::read_pairs`]' states (the model, whatever the
    /// precision or Matryoshka dims), so a reader head trained on one model is never applied
    /// to another's states.
    fn state_space(&self) -> Option<String> {
        None
    }
}

/// Low-rank updates of the encoder's last layers (the answer reader's), by matrix name as in
/// the weights file: `{name}.lora_a` `[rank, in]` and `{name}.lora_b` `[out, rank]` (scale
/// folded in) for `name` such as `layers.22.self_attn.q_proj`.
pub struct Adapter {
    /// Names this adapter among others, so that an embedder builds its layers once.
    pub id: String,
    /// The first layer updated; every layer after it is read with its updates.
    pub first_layer: usize,
    pub tensors: std::collections::HashMap<String, candle_core::Tensor>,
}

impl Adapter {
    /// The factors `(A, B)` of matrix `name`, when it has an update.
    pub fn factors(&self, name: &str) -> Option<(candle_core::Tensor, candle_core::Tensor)> {
        let a = self.tensors.get(&format!("{name}.lora_a"))?;
        let b = self.tensors.get(&format!("{name}.lora_b"))?;
        Some((a.clone(), b.clone()))
    }
}

/// A question read together with one passage: the last hidden state of every passage token
/// with its byte range in the passage, and the mean state of the question's tokens.
#[derive(Debug, Clone, Default)]
pub struct PairStates {
    /// Width of one state.
    pub hidden: usize,
    /// State of the sequence's first token (BOS), which a reader can train to stand for "no
    /// answer in this passage".
    pub first: Vec<f32>,
    /// Mean state of the question's tokens (`hidden` values).
    pub question: Vec<f32>,
    /// Byte range in the passage of each passage token, in order.
    pub spans: Vec<std::ops::Range<usize>>,
    /// `spans.len() * hidden` values, token-major.
    pub states: Vec<f32>,
}

impl PairStates {
    /// The state of passage token `i`.
    pub fn state(&self, i: usize) -> &[f32] {
        &self.states[i * self.hidden..(i + 1) * self.hidden]
    }
}

/// How the reader sees a question and a passage: EmbeddingGemma's question-answering task
/// prompt, then the passage as a document would be introduced.
const READER_QUESTION: &str = "task: question answering | query: ";
const READER_PASSAGE: &str = " | text: ";

/// Arithmetic of the embedder's large matrix products.
///
/// Int8 is the default for a new index: within the quality bar of issue 10 (every reference
/// vector at cosine ≥ 0.997, nDCG@10 within 0.001 on PIAF and XQuAD), with about 30 % less
/// peak memory, 2–3× faster single queries, and faster documents where the CPU has VNNI. An
/// existing index keeps the precision that built it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The reference: f32 weights and products.
    F32,
    /// Int8 weights (per output row) and activations (per token) in the transformer layers.
    #[default]
    Int8,
}

/// Ends the embedder name of an int8 embedder, so an index's manifest records its precision.
const INT8_NAME_SUFFIX: &str = "/int8";

impl Precision {
    /// `f32` or `int8`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
        }
    }

    /// `SOURCIER_PRECISION` (`f32` or `int8`), the default ([`Precision::Int8`]) when unset
    /// or empty.
    pub fn from_env() -> Result<Precision> {
        Ok(Precision::chosen_in_env()?.unwrap_or_default())
    }

    /// `SOURCIER_PRECISION` when it is set and not empty.
    pub fn chosen_in_env() -> Result<Option<Precision>> {
        match std::env::var("SOURCIER_PRECISION") {
            Ok(v) if !v.trim().is_empty() => v.parse().map(Some),
            _ => Ok(None),
        }
    }

    /// The precision an embedder name (as stored in an index manifest) was built with.
    pub fn of_embedder_name(name: &str) -> Precision {
        if name.ends_with(INT8_NAME_SUFFIX) {
            Precision::Int8
        } else {
            Precision::F32
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Precision> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" => Ok(Precision::F32),
            "int8" => Ok(Precision::Int8),
            other => Err(Error::InvalidOption {
                name: "precision",
                detail: format!("unknown precision {other:?}: use f32 or int8"),
            }),
        }
    }
}

/// What is needed to load an embedder from a folder.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub dir: PathBuf,
    pub name: String,
    pub prompts: Prompts,
    /// Matryoshka truncation; `None` keeps the model's full dimension.
    pub dims: Option<usize>,
    /// Arithmetic of the matrix products; the constructors take it from `SOURCIER_PRECISION`.
    pub precision: Precision,
}

impl ModelSpec {
    /// The spec of a known model installed at `dir`.
    pub fn from_manifest(m: &models::Manifest, dir: PathBuf, dims: Option<usize>) -> Result<ModelSpec> {
        if let Some(d) = dims
            && !m.matryoshka_dims.contains(&d)
        {
            return Err(Error::InvalidOption {
                name: "dims",
                detail: format!("{} supports dimensions {:?}, not {d}", m.name, m.matryoshka_dims),
            });
        }
        Ok(ModelSpec {
            dir,
            name: m.name.clone(),
            prompts: m.prompts.clone(),
            dims,
            precision: Precision::from_env()?,
        })
    }

    /// The spec of a local sentence-transformers folder given with `--model PATH`.
    pub fn from_local_folder(dir: &Path, dims: Option<usize>) -> Result<ModelSpec> {
        let cfg_path = dir.join("config.json");
        if !cfg_path.is_file() {
            return Err(Error::UnsupportedModel {
                path: dir.to_path_buf(),
                detail: "no config.json: pass the folder of a sentence-transformers model (with config.json, tokenizer.json, model.safetensors)".into(),
            });
        }
        let st_path = dir.join("config_sentence_transformers.json");
        let mut prompts = Prompts::default();
        if let Ok(text) = std::fs::read_to_string(&st_path) {
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Parse {
                path: st_path.clone(),
                detail: e.to_string(),
            })?;
            let p = |k: &str| v["prompts"][k].as_str().map(str::to_string);
            prompts.query = p("query").or_else(|| p("Retrieval-query")).unwrap_or_default();
            prompts.document_untitled = p("document").or_else(|| p("Retrieval-document")).unwrap_or_default();
            // EmbeddingGemma's card recommends putting the real title in place of `none`.
            prompts.document = prompts.document_untitled.replace("title: none |", "title: {title} |");
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "local".into());
        Ok(ModelSpec {
            dir: dir.to_path_buf(),
            name,
            prompts,
            dims,
            precision: Precision::from_env()?,
        })
    }
}

/// Loads the embedder for a folder, choosing the implementation from its `config.json`.
pub fn load(spec: &ModelSpec) -> Result<Box<dyn Embedder>> {
    let cfg_path = spec.dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(Error::io("reading", &cfg_path))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: cfg_path.clone(),
        detail: e.to_string(),
    })?;
    match v["model_type"].as_str() {
        Some("gemma3_text") => Ok(Box::new(GemmaEmbedder::load(spec)?)),
        other => Err(Error::UnsupportedModel {
            path: spec.dir.clone(),
            detail: format!(
                "model_type {other:?} is not supported yet; sourcier runs EmbeddingGemma (gemma3_text) folders"
            ),
        }),
    }
}

/// EmbeddingGemma-300M: tokenizer, candle model, prompts and Matryoshka dims.
pub struct GemmaEmbedder {
    tokenizer: Tokenizer,
    model: gemma::GemmaModel,
    prompts: Prompts,
    dims: usize,
    fingerprint: String,
    name: String,
    /// The model folder, named when its output is unusable.
    dir: PathBuf,
    /// Upper bound on tokens per forward pass: keeps activations small and matmuls large.
    batch_tokens: usize,
    precision: Precision,
    /// The last adapter read with and its layers, built on first use.
    adapted: std::sync::Mutex<Option<(String, std::sync::Arc<gemma::AdaptedLayers>)>>,
}

impl GemmaEmbedder {
    /// Loads the tokenizer and weights of `spec.dir`.
    pub fn load(spec: &ModelSpec) -> Result<GemmaEmbedder> {
        let tok_path = spec.dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(Error::UnsupportedModel {
                path: spec.dir.clone(),
                detail: "tokenizer.json is missing".into(),
            });
        }
        // Parsing the 262k-entry tokenizer.json is a large share of a cold start and needs
        // nothing from the weights: it runs on its own thread while they load.
        let (tokenizer, model) = std::thread::scope(|s| {
            let tokenizer = s.spawn(|| load_tokenizer(&tok_path));
            let t = std::time::Instant::now();
            let model = gemma::GemmaModel::load(&spec.dir, spec.precision);
            tracing::debug!(ms = ms(t), precision = %spec.precision, "loaded the model");
            let tokenizer = tokenizer.join().unwrap_or_else(|_| {
                Err(Error::Tokenizer(format!(
                    "{}: the loading thread panicked",
                    tok_path.display()
                )))
            });
            Ok::<_, Error>((tokenizer?, model?))
        })?;
        let full = model.dims();
        let dims = spec.dims.unwrap_or(full);
        if dims == 0 || dims > full {
            return Err(Error::InvalidOption {
                name: "dims",
                detail: format!("the model has {full} dimensions: keep between 1 and {full}"),
            });
        }
        let t = std::time::Instant::now();
        let fingerprint = fingerprint(&spec.dir, &spec.prompts, dims, spec.precision)?;
        tracing::debug!(ms = ms(t), "fingerprinted the weights");
        let suffix = match spec.precision {
            Precision::F32 => "",
            Precision::Int8 => INT8_NAME_SUFFIX,
        };
        Ok(GemmaEmbedder {
            tokenizer,
            model,
            prompts: spec.prompts.clone(),
            dims,
            fingerprint,
            name: format!("{}@{dims}{suffix}", spec.name),
            dir: spec.dir.clone(),
            batch_tokens: 4096,
            precision: spec.precision,
            adapted: std::sync::Mutex::new(None),
        })
    }

    /// The layers of `adapter`, built once per adapter (a few tens of milliseconds: the
    /// updated matrices are formed and quantised).
    fn adapted(&self, adapter: &Adapter) -> Result<std::sync::Arc<gemma::AdaptedLayers>> {
        let mut slot = self.adapted.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((id, layers)) = slot.as_ref()
            && *id == adapter.id
        {
            return Ok(layers.clone());
        }
        let t = std::time::Instant::now();
        let layers = std::sync::Arc::new(self.model.adapt(adapter.first_layer, &|name| adapter.factors(name))?);
        tracing::debug!(
            ms = ms(t),
            first = adapter.first_layer,
            "adapted the last layers for the reader"
        );
        *slot = Some((adapter.id.clone(), layers.clone()));
        Ok(layers)
    }

    /// Token ids of a text with special tokens (BOS/EOS), as the model sees them.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Embeds texts that already carry their prompt. Sorted by length and packed into batches
    /// of at most `batch_tokens` tokens; results come back in input order.
    pub fn embed_prompted(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encs = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let ids: Vec<&[u32]> = encs.iter().map(|e| e.get_ids()).collect();
        if let Some(too_long) = ids.iter().find(|s| s.len() > self.model.max_tokens()) {
            return Err(Error::InputTooLong {
                tokens: too_long.len(),
                max: self.model.max_tokens(),
            });
        }
        let t = std::time::Instant::now();
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out = vec![Vec::new(); ids.len()];
        let mut start = 0;
        while start < order.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < order.len() && (end == start || tokens + ids[order[end]].len() <= self.batch_tokens) {
                tokens += ids[order[end]].len();
                end += 1;
            }
            let batch: Vec<&[u32]> = order[start..end].iter().map(|&i| ids[i]).collect();
            let emb = self.model.forward(&batch)?;
            let rows = finite_rows(gemma::truncate_normalize(&emb, self.dims)?, &self.dir)?;
            for (row, &i) in rows.into_iter().zip(&order[start..end]) {
                out[i] = row;
            }
            start = end;
        }
        tracing::debug!(
            texts = ids.len(),
            tokens = ids.iter().map(|s| s.len()).sum::<usize>(),
            ms = ms(t),
            "embedded"
        );
        Ok(out)
    }

    /// Arithmetic of the matrix products.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Sets the token budget of one forward pass (for benchmarks).
    pub fn set_batch_tokens(&mut self, n: usize) {
        self.batch_tokens = n.max(1);
    }

    /// Runs the int8 products with `kernel` from now on, to compare kernels on the same
    /// weights in one process; vectors do not change (every kernel computes the same integer
    /// sums). Refused in f32 and for a kernel this CPU cannot run.
    pub fn set_int8_kernel(&mut self, kernel: int8::Kernel) -> Result<()> {
        self.model.set_int8_kernel(kernel)?;
        // Adapted layers were quantised for the previous kernel: built again on next use.
        *self.adapted.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    fn document_prompt(&self, title: Option<&str>) -> String {
        match title.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) if self.prompts.document.contains("{title}") => self.prompts.document.replace("{title}", t),
            _ if !self.prompts.document_untitled.is_empty() => self.prompts.document_untitled.clone(),
            _ => self.prompts.document.replace("{title}", "none"),
        }
    }
}

impl Embedder for GemmaEmbedder {
    fn embed_queries(&self, queries: &[&str]) -> Result<Vec<Vec<f32>>> {
        let texts: Vec<String> = queries.iter().map(|q| format!("{}{}", self.prompts.query, q)).collect();
        self.embed_prompted(&texts)
    }

    fn embed_documents(&self, docs: &[Document<'_>]) -> Result<Vec<Vec<f32>>> {
        let texts: Vec<String> = docs
            .iter()
            .map(|d| format!("{}{}", self.document_prompt(d.title), d.text))
            .collect();
        self.embed_prompted(&texts)
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn max_tokens(&self) -> usize {
        self.model.max_tokens()
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.len())
            .unwrap_or(text.len())
    }

    fn document_overhead(&self, title: Option<&str>) -> usize {
        self.tokenize(&self.document_prompt(title))
            .map(|t| t.len())
            .unwrap_or(64)
    }

    fn read_pairs(
        &self,
        question: &str,
        passages: &[&str],
        adapter: Option<&Adapter>,
    ) -> Result<Option<Vec<PairStates>>> {
        if passages.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let adapted = adapter.map(|a| self.adapted(a)).transpose()?;
        let q_start = READER_QUESTION.len();
        let q_end = q_start + question.len();
        let p_start = q_end + READER_PASSAGE.len();
        let texts: Vec<String> = passages
            .iter()
            .map(|p| format!("{READER_QUESTION}{question}{READER_PASSAGE}{p}"))
            .collect();
        let encs = self
            .tokenizer
            .encode_batch(texts, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let max = self.model.max_tokens();
        let hidden = self.model.hidden_size();
        let mut out = vec![PairStates::default(); passages.len()];
        // Pairs longer than the model takes are read over their first `max` tokens.
        let ids: Vec<&[u32]> = encs.iter().map(|e| &e.get_ids()[..e.len().min(max)]).collect();
        let mut start = 0;
        while start < ids.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < ids.len() && (end == start || tokens + ids[end].len() <= self.batch_tokens) {
                tokens += ids[end].len();
                end += 1;
            }
            let x = self.model.hidden_states_with(&ids[start..end], adapted.as_deref())?;
            let x: Vec<f32> = x.flatten_all()?.to_vec1()?;
            if !x.iter().all(|v| v.is_finite()) {
                return Err(damaged_output(&self.dir));
            }
            let mut row = 0;
            for i in start..end {
                let offsets = &encs[i].get_offsets()[..ids[i].len()];
                let mut q_sum = vec![0f32; hidden];
                let mut q_n = 0usize;
                let ps = &mut out[i];
                ps.hidden = hidden;
                ps.first = x[row * hidden..(row + 1) * hidden].to_vec();
                for (t, &(a, b)) in offsets.iter().enumerate() {
                    let state = &x[(row + t) * hidden..(row + t + 1) * hidden];
                    // A word's token carries the space before it, so a token belongs to the
                    // part its text overlaps.
                    if b <= a {
                        continue;
                    }
                    if a < q_end && b > q_start {
                        q_n += 1;
                        q_sum.iter_mut().zip(state).for_each(|(s, v)| *s += v);
                    } else if b > p_start {
                        ps.spans.push(a.max(p_start) - p_start..b - p_start);
                        ps.states.extend_from_slice(state);
                    }
                }
                let n = q_n.max(1) as f32;
                ps.question = q_sum.into_iter().map(|s| s / n).collect();
                row += ids[i].len();
            }
            start = end;
        }
        Ok(Some(out))
    }

    fn state_space(&self) -> Option<String> {
        let model = self.name.split('@').next().unwrap_or(&self.name);
        Some(format!("{model}/hidden{}", self.model.hidden_size()))
    }
}

/// The tokenizer of `path`, with no padding or truncation (long inputs are refused instead).
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    let t = std::time::Instant::now();
    let bytes = std::fs::read(path).map_err(Error::io("reading", path))?;
    let (mut tokenizer, typed) = match typed_bpe_tokenizer(&bytes) {
        Some(tk) => (tk, true),
        None => (
            Tokenizer::from_bytes(&bytes).map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?,
            false,
        ),
    };
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    tracing::debug!(ms = ms(t), typed, "loaded the tokenizer");
    Ok(tokenizer)
}

/// A `tokenizer.json` with a BPE model, read field by field into its types.
///
/// The library's reader (`Tokenizer::from_file`) takes the model through an untagged enum,
/// which first buffers all of it as a `serde_json::Value`: for EmbeddingGemma's 262,144-token
/// vocabulary and 514,906 merges that is a BTreeMap of strings, copied twice, and most of a
/// cold start (`docs/benchmarks.md`, issue 10). Reading `BPE` with its own deserializer skips
/// the detour and builds the same tokenizer, in the same order (parts, then added tokens).
/// `None` sends the file to the library's reader: another model type, anything unexpected,
/// or an added token that does not get the id the file gives it (the library only warns).
pub fn typed_bpe_tokenizer(bytes: &[u8]) -> Option<Tokenizer> {
    use tokenizers::models::bpe::BPE;
    use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper};
    #[derive(serde::Deserialize)]
    struct Added {
        id: u32,
        content: String,
        single_word: bool,
        lstrip: bool,
        rstrip: bool,
        normalized: bool,
        special: bool,
    }
    /// The BPE model's fields. The library's own `BPE` reader takes the merges through an
    /// untagged enum too (pairs or legacy `"a b"` strings), buffering 515k pairs as generic
    /// values first; the pair form is read here directly, and the legacy form goes to the
    /// library's reader.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Model {
        #[serde(rename = "type")]
        kind: String,
        dropout: Option<f32>,
        unk_token: Option<String>,
        continuing_subword_prefix: Option<String>,
        end_of_word_suffix: Option<String>,
        #[serde(default)]
        fuse_unk: bool,
        #[serde(default)]
        byte_fallback: bool,
        #[serde(default)]
        ignore_merges: bool,
        vocab: ahash::AHashMap<String, u32>,
        /// Read by [`Merges`] on another thread.
        #[serde(rename = "merges")]
        _merges: serde::de::IgnoredAny,
    }
    /// The merges alone: the other thread parses the same bytes, skipping everything else.
    #[derive(serde::Deserialize)]
    struct Merges {
        model: MergesOnly,
    }
    #[derive(serde::Deserialize)]
    struct MergesOnly {
        merges: Vec<(String, String)>,
    }
    #[derive(serde::Deserialize)]
    struct Parts {
        version: String,
        #[serde(default)]
        added_tokens: Vec<Added>,
        normalizer: Option<NormalizerWrapper>,
        pre_tokenizer: Option<PreTokenizerWrapper>,
        post_processor: Option<PostProcessorWrapper>,
        decoder: Option<DecoderWrapper>,
        model: Model,
    }
    // Vocabulary and merges are parsed on two threads: skipping JSON costs a tenth of
    // building strings from it, so each pass pays mostly for its own half (measured:
    // `docs/benchmarks.md`, issue 10).
    let t = std::time::Instant::now();
    let (parts, merges) = std::thread::scope(|s| {
        let merges = s.spawn(|| serde_json::from_slice::<Merges>(bytes).ok());
        let parts = serde_json::from_slice::<Parts>(bytes).ok();
        (parts, merges.join().ok().flatten())
    });
    let (parts, merges) = (parts?, merges?.model.merges);
    if parts.version != "1.0" || parts.model.kind != "BPE" {
        return None;
    }
    let m = parts.model;
    tracing::debug!(ms = ms(t), "parsed the tokenizer file");
    let t = std::time::Instant::now();
    let mut builder = BPE::builder()
        .vocab_and_merges(m.vocab, merges)
        .fuse_unk(m.fuse_unk)
        .byte_fallback(m.byte_fallback)
        .ignore_merges(m.ignore_merges);
    if let Some(p) = m.dropout {
        builder = builder.dropout(p);
    }
    if let Some(u) = m.unk_token {
        builder = builder.unk_token(u);
    }
    if let Some(p) = m.continuing_subword_prefix {
        builder = builder.continuing_subword_prefix(p);
    }
    if let Some(s) = m.end_of_word_suffix {
        builder = builder.end_of_word_suffix(s);
    }
    let mut tk = Tokenizer::new(builder.build().ok()?);
    tracing::debug!(ms = ms(t), "built the BPE model");
    let t = std::time::Instant::now();
    tk.with_normalizer(parts.normalizer).ok()?;
    tk.with_pre_tokenizer(parts.pre_tokenizer);
    tk.with_post_processor(parts.post_processor);
    tk.with_decoder(parts.decoder);
    let ids: Vec<(String, u32)> = parts.added_tokens.iter().map(|a| (a.content.clone(), a.id)).collect();
    tk.add_tokens(parts.added_tokens.into_iter().map(|a| AddedToken {
        content: a.content,
        single_word: a.single_word,
        lstrip: a.lstrip,
        rstrip: a.rstrip,
        normalized: a.normalized,
        special: a.special,
    }))
    .ok()?;
    tracing::debug!(ms = ms(t), added = ids.len(), "added the special tokens");
    ids.iter()
        .all(|(content, id)| tk.token_to_id(content) == Some(*id))
        .then_some(tk)
}

/// Milliseconds since `t`, for the load-time logs.
pub(crate) fn ms(t: std::time::Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e4).round() / 10.0
}

/// Refuses vectors with NaN or infinite values. Damaged weights of the right size pass the
/// fingerprint (it hashes the ends of the files), so the output is where they show; scores
/// of NaN would otherwise rank at random.
fn finite_rows(rows: Vec<Vec<f32>>, dir: &Path) -> Result<Vec<Vec<f32>>> {
    if rows.iter().flatten().all(|x| x.is_finite()) {
        return Ok(rows);
    }
    Err(damaged_output(dir))
}

fn damaged_output(dir: &Path) -> Error {
    Error::UnsupportedModel {
        path: dir.to_path_buf(),
        detail: "the model produced NaN or infinite values: its weight files are damaged and must be fetched again"
            .into(),
    }
}

/// Hashes a weights file's size and its first and last MiB: they hold the safetensors header
/// and the last tensors, so any other download differs there, for a 2 MiB read.
pub(crate) fn hash_weight_ends(h: &mut Sha256, w: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(w).map_err(Error::io("opening", w))?;
    let len = f.metadata().map_err(Error::io("reading", w))?.len();
    h.update(len.to_le_bytes());
    let mut buf = vec![0u8; (1 << 20).min(len as usize)];
    f.read_exact(&mut buf).map_err(Error::io("reading", w))?;
    h.update(&buf);
    f.seek(SeekFrom::End(-(buf.len() as i64)))
        .map_err(Error::io("reading", w))?;
    f.read_exact(&mut buf).map_err(Error::io("reading", w))?;
    h.update(&buf);
    Ok(())
}

/// Identifies the vectors a folder produces: weights (size and the first and last MiB, which
/// hold the safetensors header and the last tensors), config, prompts, dims and precision.
/// f32 hashes nothing for its precision, so indexes built before int8 existed stay valid.
fn fingerprint(dir: &Path, prompts: &Prompts, dims: usize, precision: Precision) -> Result<String> {
    let mut h = Sha256::new();
    for file in ["config.json", "2_Dense/model.safetensors", "3_Dense/model.safetensors"] {
        if let Ok(bytes) = std::fs::read(dir.join(file)) {
            h.update(file.as_bytes());
            h.update(&bytes);
        }
    }
    hash_weight_ends(&mut h, &dir.join("model.safetensors"))?;
    h.update(prompts.query.as_bytes());
    h.update([0]);
    h.update(prompts.document.as_bytes());
    h.update([0]);
    h.update(prompts.document_untitled.as_bytes());
    h.update(dims.to_le_bytes());
    if precision != Precision::F32 {
        h.update(b"precision:");
        h.update(precision.name().as_bytes());
    }
    Ok(models::hex(&h.finalize())[..16].to_string())
}

/// The spec of the embedder to use: a local folder given with `--model`, or the default
/// model, installed (fetched first if needed) through [`models::ensure`].
pub fn resolve(
    paths: &models::Paths,
    local: Option<&Path>,
    dims: Option<usize>,
    progress: &dyn crate::progress::Progress,
) -> Result<ModelSpec> {
    match local {
        Some(dir) => ModelSpec::from_local_folder(dir, dims),
        None => {
            let m = models::manifest(models::DEFAULT_EMBEDDER)?;
            let dir = models::ensure(paths, &m.name, progress)?;
            ModelSpec::from_manifest(&m, dir, dims)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_parses_and_names_round_trip() {
        assert_eq!("int8".parse::<Precision>().unwrap(), Precision::Int8);
        assert_eq!(" F32 ".parse::<Precision>().unwrap(), Precision::F32);
        assert!("fp16".parse::<Precision>().unwrap_err().to_string().contains("fp16"));
        assert_eq!(serde_json::to_string(&Precision::Int8).unwrap(), "\"int8\"");
        assert_eq!(serde_json::from_str::<Precision>("\"f32\"").unwrap(), Precision::F32);
        assert_eq!(
            Precision::of_embedder_name(&format!("embeddinggemma-300m@768{INT8_NAME_SUFFIX}")),
            Precision::Int8
        );
        assert_eq!(Precision::of_embedder_name("embeddinggemma-300m@768"), Precision::F32);
    }

    #[test]
    fn a_precision_mismatch_says_which_precision_built_the_index() {
        let err = |index: &str, now: &str| {
            Error::EmbedderMismatch {
                path: "/idx".into(),
                index_embedder: index.into(),
                index_fingerprint: "aaa".into(),
                embedder: now.into(),
                fingerprint: "bbb".into(),
            }
            .to_string()
        };
        let int8 = format!("embeddinggemma-300m@768{INT8_NAME_SUFFIX}");
        let m = err("embeddinggemma-300m@768", &int8);
        assert!(
            m.contains("built with f32 precision") && m.contains("runs in int8"),
            "{m}"
        );
        let m = err(&int8, "embeddinggemma-300m@768");
        assert!(
            m.contains("built with int8 precision") && m.contains("runs in f32"),
            "{m}"
        );
        assert!(!err("embeddinggemma-300m@768", "embeddinggemma-300m@256").contains("precision"));
    }

    #[test]
    fn non_finite_vectors_are_refused_with_the_model_folder() {
        let dir = Path::new("/models/gemma");
        assert!(finite_rows(vec![vec![0.6, 0.8]], dir).is_ok());
        for bad in [f32::NAN, f32::INFINITY] {
            match finite_rows(vec![vec![0.6, 0.8], vec![bad, 0.0]], dir) {
                Err(Error::UnsupportedModel { path, detail }) => {
                    assert_eq!(path, dir);
                    assert!(detail.contains("NaN"), "{detail}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
