//! Local text generation with quantized GGUF models run by candle: the [`Generator`].
//!
//! `ask` answers from retrieved passages with a small instruct model. This module owns
//! everything between a GGUF file and streamed answer text: picking the candle model from
//! `general.architecture`, rebuilding the tokenizer from the file's metadata (GGUF ships no
//! `tokenizer.json`), the chat template, the prompt pass and the token-by-token loop with the
//! KV cache. Nothing is printed: text pieces go to a callback as they are produced.
//!
//! Speed on CPU comes from two load-time choices: weights candle only has scalar kernels for
//! are re-quantized to Q8_0 ([`requant`]), and Qwen2, the default generator, runs on a port of
//! candle's model whose prompt pass uses dense matrix products ([`qwen2`]).

mod qwen2;
mod requant;
mod sample;
mod stream;
mod template;
mod tokenizer;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Storage, Tensor};
use candle_transformers::models::{quantized_gemma3, quantized_llama, quantized_qwen3};
use tokenizers::Tokenizer;

pub use template::ChatTemplate;

use sample::Sampler;
use stream::TextStream;

use crate::{Error, Result};

/// Values of `general.architecture` that [`Generator::load`] accepts.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["qwen2", "qwen3", "llama", "gemma3"];

/// How many recent generated tokens the repeat penalty looks at.
const REPEAT_LAST_N: usize = 64;

/// Used when the file does not state its context length.
const FALLBACK_CONTEXT: usize = 4096;

/// How to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Most tokens to generate (the answer may end earlier, at the end-of-turn token).
    pub max_tokens: usize,
    /// 0 picks the likeliest token each step: deterministic. Above 0, samples.
    pub temperature: f64,
    /// When sampling, draw only from the `top_k` likeliest tokens.
    pub top_k: Option<usize>,
    /// When sampling, draw only from the smallest set of tokens holding `top_p` of the
    /// probability (nucleus sampling); applied after `top_k`.
    pub top_p: Option<f64>,
    /// Penalty on tokens among the last 64 generated ones; 1.0 turns it off.
    pub repeat_penalty: f32,
    /// Seed of the sampler, used when `temperature > 0`.
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            temperature: 0.0,
            top_k: None,
            top_p: None,
            repeat_penalty: 1.1,
            seed: 299_792_458,
        }
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model ended its turn.
    Eos,
    /// `max_tokens` was reached (or the model's context was full).
    MaxTokens,
}

/// The result of one [`Generator::chat`] call.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The answer: exactly the concatenation of the streamed pieces.
    pub text: String,
    /// Tokens of the rendered prompt (template included).
    pub prompt_tokens: usize,
    /// Tokens generated, the end-of-turn token excluded.
    pub generated_tokens: usize,
    /// Prompt tokenisation and processing, up to the choice of the first answer token.
    pub prompt_ms: f64,
    /// Everything after: one forward pass per further token.
    pub generate_ms: f64,
    pub stopped: StopReason,
}

impl Generation {
    /// Prompt tokens processed per second.
    pub fn prompt_tokens_per_second(&self) -> f64 {
        per_second(self.prompt_tokens, self.prompt_ms)
    }

    /// Generated tokens per second, counting the forward passes timed by `generate_ms`: the first
    /// answer token comes from the prompt pass, and a final EOS costs a pass too.
    pub fn tokens_per_second(&self) -> f64 {
        let passes = match self.stopped {
            StopReason::Eos => self.generated_tokens,
            StopReason::MaxTokens => self.generated_tokens.saturating_sub(1),
        };
        per_second(passes, self.generate_ms)
    }
}

fn per_second(n: usize, ms: f64) -> f64 {
    if ms > 0.0 { n as f64 * 1000.0 / ms } else { 0.0 }
}

/// The candle models sourcier can run, behind one forward/reset interface.
enum Weights {
    /// Our own port, with dense prompt passes (see [`qwen2`]).
    Qwen2(qwen2::Qwen2),
    Qwen3(quantized_qwen3::ModelWeights),
    Llama(quantized_llama::ModelWeights),
    Gemma3(quantized_gemma3::ModelWeights),
}

impl Weights {
    /// Logits of the last position, shape `(1, vocab)`.
    fn forward(&mut self, input: &Tensor, index_pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Weights::Qwen2(m) => m.forward(input, index_pos),
            Weights::Qwen3(m) => m.forward(input, index_pos),
            Weights::Llama(m) => m.forward(input, index_pos),
            Weights::Gemma3(m) => m.forward(input, index_pos),
        }
    }

    /// Drops the KV cache. Gemma 3 has no such method but restarts its cache whenever
    /// `index_pos == 0`, which every prompt pass uses.
    fn clear(&mut self) {
        match self {
            Weights::Qwen2(m) => m.clear_kv_cache(),
            Weights::Qwen3(m) => m.clear_kv_cache(),
            Weights::Llama(m) => m.clear_kv_cache(),
            Weights::Gemma3(_) => {}
        }
    }

    /// Longest prompt slice per forward pass. Splitting bounds the attention matrices of long
    /// prompts; Gemma 3's mask is wrong for a slice that follows cached tokens, so it gets
    /// the whole prompt at once.
    fn prefill_chunk(&self) -> usize {
        match self {
            Weights::Gemma3(_) => usize::MAX,
            _ => 1024,
        }
    }
}

/// A loaded generator: weights, tokenizer, chat template and end-of-turn tokens.
pub struct Generator {
    weights: Weights,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    bos: Option<u32>,
    eos: Vec<u32>,
    architecture: String,
    context_length: usize,
    device: Device,
    path: PathBuf,
    /// Logits of the current step, reused across steps.
    logits: Vec<f32>,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("path", &self.path)
            .field("architecture", &self.architecture)
            .field("template", &self.template)
            .field("context_length", &self.context_length)
            .finish_non_exhaustive()
    }
}

impl Generator {
    /// Loads a GGUF model; the architecture comes from `general.architecture`.
    pub fn load(gguf: &Path) -> Result<Generator> {
        let unsupported = |detail: String| Error::UnsupportedModel {
            path: gguf.to_path_buf(),
            detail,
        };
        let file = File::open(gguf).map_err(Error::io("opening", gguf))?;
        let mut reader = BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| unsupported(format!("not a readable GGUF file ({e})")))?;
        let md = &content.metadata;
        let architecture = md
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .ok_or_else(|| unsupported("general.architecture is missing from its metadata".into()))?;
        if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(unsupported(format!(
                "architecture `{architecture}` is not supported; sourcier runs GGUF models of these architectures: {}",
                SUPPORTED_ARCHITECTURES.join(", ")
            )));
        }

        let started = Instant::now();
        let tokenizer = tokenizer::from_metadata(md).map_err(|d| tokenizer::error(gguf, d))?;
        let has_token = |t: &str| tokenizer.token_to_id(t).is_some();
        let jinja = md.get("tokenizer.chat_template").and_then(|v| v.to_string().ok());
        let template = ChatTemplate::detect(&architecture, jinja.map(String::as_str), &has_token);
        let id = |key: &str| md.get(key).and_then(tokenizer::as_u32);
        let bos = id("tokenizer.ggml.bos_token_id");
        let mut eos: Vec<u32> = [
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.eom_token_id",
        ]
        .iter()
        .filter_map(|k| id(k))
        .collect();
        eos.extend(template.stop_tokens().iter().filter_map(|t| tokenizer.token_to_id(t)));
        eos.sort_unstable();
        eos.dedup();
        if eos.is_empty() {
            return Err(unsupported(
                "no end-of-turn token: neither tokenizer.ggml.eos_token_id nor a known stop token".into(),
            ));
        }
        if template.needs_bos() && bos.is_none() {
            return Err(unsupported(format!(
                "its {template:?} chat format needs a BOS token but tokenizer.ggml.bos_token_id is missing"
            )));
        }
        let context_length = md
            .get(&format!("{architecture}.context_length"))
            .and_then(tokenizer::as_u32)
            .map(|n| n as usize)
            .unwrap_or(FALLBACK_CONTEXT);
        let tokenizer_ms = started.elapsed().as_secs_f64() * 1e3;

        let (content, mut reader, requantized) =
            requant::requantize(content, reader).map_err(Error::io("reading", gguf))?;
        let device = Device::Cpu;
        let weights = match architecture.as_str() {
            "qwen2" => qwen2::Qwen2::from_gguf(&content, &mut reader, &device).map(Weights::Qwen2),
            "qwen3" => quantized_qwen3::ModelWeights::from_gguf(content, &mut reader, &device).map(Weights::Qwen3),
            "llama" => quantized_llama::ModelWeights::from_gguf(content, &mut reader, &device).map(Weights::Llama),
            "gemma3" => quantized_gemma3::ModelWeights::from_gguf(content, &mut reader, &device).map(Weights::Gemma3),
            _ => unreachable!("checked against SUPPORTED_ARCHITECTURES"),
        }
        .map_err(|e| unsupported(format!("cannot load its {architecture} weights: {e}")))?;
        tracing::debug!(
            "loaded {} ({architecture}, {template:?}, context {context_length}, {requantized} tensors re-quantized to Q8_0) in {:.0} ms, tokenizer {tokenizer_ms:.0} ms",
            gguf.display(),
            started.elapsed().as_secs_f64() * 1e3
        );
        Ok(Generator {
            weights,
            tokenizer,
            template,
            bos,
            eos,
            architecture,
            context_length,
            device,
            path: gguf.to_path_buf(),
            logits: Vec::new(),
        })
    }

    /// `general.architecture` of the loaded file, such as `qwen2`.
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// The chat format prompts are rendered with.
    pub fn template(&self) -> ChatTemplate {
        self.template
    }

    /// Longest prompt plus answer, in tokens.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// The model's tokenizer (to measure passages against the context, say).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Tokens of the prompt `chat` would build for these messages, template included.
    pub fn prompt_tokens(&self, system: &str, user: &str) -> Result<usize> {
        Ok(self.encode_prompt(system, user)?.len())
    }

    /// Answers `user` under `system` instructions, calling `on_token` with each new piece of
    /// text (complete characters only) as it is generated.
    pub fn chat(
        &mut self,
        system: &str,
        user: &str,
        opts: &GenerateOptions,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let started = Instant::now();
        let prompt = self.encode_prompt(system, user)?;
        if prompt.len() >= self.context_length {
            return Err(Error::InputTooLong {
                tokens: prompt.len(),
                max: self.context_length,
            });
        }
        let max_tokens = opts.max_tokens.min(self.context_length - prompt.len());
        let mut generation = Generation {
            text: String::new(),
            prompt_tokens: prompt.len(),
            generated_tokens: 0,
            prompt_ms: 0.0,
            generate_ms: 0.0,
            stopped: StopReason::MaxTokens,
        };
        if max_tokens == 0 {
            generation.prompt_ms = ms_since(started);
            return Ok(generation);
        }

        // A previous call, or one that failed half-way, must not leak into this prompt.
        self.weights.clear();
        let mut sampler = Sampler::new(opts.temperature, opts.top_k, opts.top_p, opts.repeat_penalty, opts.seed);
        let mut pos = 0;
        for chunk in prompt.chunks(self.weights.prefill_chunk()) {
            let input = Tensor::new(chunk, &self.device)?.unsqueeze(0)?;
            let logits = self.weights.forward(&input, pos)?;
            pos += chunk.len();
            if pos == prompt.len() {
                copy_logits(&logits, &mut self.logits)?;
            }
        }
        let mut generated: Vec<u32> = Vec::with_capacity(max_tokens);
        let mut next = sampler.sample(&self.logits, &[])?;
        generation.prompt_ms = ms_since(started);

        let decode_started = Instant::now();
        let mut stream = TextStream::new(&self.tokenizer);
        let mut emit = |piece: Option<String>, text: &mut String| {
            if let Some(p) = piece {
                on_token(&p);
                text.push_str(&p);
            }
        };
        loop {
            if self.eos.contains(&next) {
                generation.stopped = StopReason::Eos;
                break;
            }
            generated.push(next);
            emit(stream.push(next)?, &mut generation.text);
            if generated.len() >= max_tokens {
                break;
            }
            let input = Tensor::new(&[next], &self.device)?.unsqueeze(0)?;
            let logits = self.weights.forward(&input, pos)?;
            pos += 1;
            copy_logits(&logits, &mut self.logits)?;
            let recent = &generated[generated.len().saturating_sub(REPEAT_LAST_N)..];
            next = sampler.sample(&self.logits, recent)?;
        }
        emit(stream.finish()?, &mut generation.text);
        generation.generated_tokens = generated.len();
        generation.generate_ms = ms_since(decode_started);
        // Free the cache's memory between questions.
        self.weights.clear();
        tracing::debug!(
            "generated {} tokens after a {}-token prompt: prompt {:.0} ms ({:.1} tok/s), generation {:.1} tok/s",
            generation.generated_tokens,
            generation.prompt_tokens,
            generation.prompt_ms,
            generation.prompt_tokens_per_second(),
            generation.tokens_per_second()
        );
        Ok(generation)
    }

    fn encode_prompt(&self, system: &str, user: &str) -> Result<Vec<u32>> {
        let text = self.template.render(system, user);
        let mut ids = Vec::new();
        if self.template.needs_bos() {
            ids.extend(self.bos);
        }
        ids.extend(tokenizer::encode(&self.tokenizer, &text)?);
        Ok(ids)
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Copies a `(1, vocab)` logits tensor into `out` without allocating a new vector each step.
fn copy_logits(logits: &Tensor, out: &mut Vec<f32>) -> Result<()> {
    let logits = if logits.dtype() == DType::F32 {
        logits.clone()
    } else {
        logits.to_dtype(DType::F32)?
    };
    let logits = logits.flatten_all()?;
    out.clear();
    {
        let (storage, layout) = logits.storage_and_layout();
        if let (Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets()) {
            out.extend_from_slice(&cpu.as_slice::<f32>()?[start..end]);
            return Ok(());
        }
    }
    out.extend(logits.to_vec1::<f32>()?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::quantized::gguf_file::Value;

    use super::*;
    use crate::models::{self, Paths};
    use crate::progress::NoProgress;

    /// Reads only the metadata of a GGUF file (no weights).
    fn read_metadata(path: &Path) -> HashMap<String, Value> {
        let mut f = BufReader::new(File::open(path).unwrap());
        gguf_file::Content::read(&mut f).unwrap().metadata
    }

    /// The default generator, fetched through the project's provisioning if missing.
    fn qwen_gguf() -> PathBuf {
        let paths = Paths {
            models_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"),
            ..Paths::from_env()
        };
        models::ensure(&paths, "qwen2.5-0.5b-instruct", &NoProgress)
            .expect("fetching qwen2.5-0.5b-instruct")
            .join("model.gguf")
    }

    #[test]
    fn a_generator_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<Generator>();
    }

    #[test]
    fn defaults_are_greedy() {
        let o = GenerateOptions::default();
        assert_eq!((o.max_tokens, o.temperature, o.repeat_penalty), (256, 0.0, 1.1));
        assert_eq!((o.top_k, o.top_p), (None, None));
    }

    #[test]
    fn not_a_gguf_is_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gguf");
        std::fs::write(&p, b"definitely not gguf").unwrap();
        let err = Generator::load(&p).unwrap_err();
        assert!(matches!(err, Error::UnsupportedModel { .. }), "{err}");
        let err = Generator::load(&dir.path().join("missing.gguf")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }

    #[test]
    fn unknown_architecture_lists_the_supported_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("phi.gguf");
        let mut md = HashMap::new();
        md.insert("general.architecture".to_string(), Value::String("phi2".into()));
        let md: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut f = File::create(&p).unwrap();
        gguf_file::write(&mut f, &md, &[]).unwrap();
        drop(f);
        let err = Generator::load(&p).unwrap_err().to_string();
        assert!(
            err.contains("phi2") && err.contains("qwen2, qwen3, llama, gemma3"),
            "{err}"
        );
    }

    #[test]
    fn qwen_tokenizer_round_trips_on_real_metadata() {
        let md = read_metadata(&qwen_gguf());
        let tok = tokenizer::from_metadata(&md).unwrap();
        // Ids as Qwen2's own tokenizer.json gives them.
        assert_eq!(tokenizer::encode(&tok, "Hello, world!").unwrap(), [9707, 11, 1879, 0]);
        for text in [
            "Hello, world! Élysée 1.000",
            "  indented\n\n\tcode() {}\r\n",
            "IBM envoie 25 consultants chez Huawei. 数字 🎉",
            "l'équipe d'Orléans n'a pas vu \"ça\"",
        ] {
            let ids = tokenizer::encode(&tok, text).unwrap();
            assert_eq!(tokenizer::decode(&tok, &ids).unwrap(), text);
        }
        assert_eq!(tokenizer::encode(&tok, "<|im_start|>").unwrap(), [151644]);
        let ids = tokenizer::encode(&tok, &ChatTemplate::ChatMl.render("S", "U")).unwrap();
        assert_eq!(ids.iter().filter(|&&i| i == 151644).count(), 3);
        assert_eq!(ids.iter().filter(|&&i| i == 151645).count(), 2);
        // Digits are split one by one, as Qwen's regex says.
        assert_eq!(tokenizer::encode(&tok, "1987").unwrap().len(), 4);
    }

    #[test]
    fn qwen_tokenizer_agrees_with_candles_gguf_tokenizer() {
        use candle_core::quantized::tokenizer::TokenizerFromGguf;
        let mut f = BufReader::new(File::open(qwen_gguf()).unwrap());
        let content = gguf_file::Content::read(&mut f).unwrap();
        let ours = tokenizer::from_metadata(&content.metadata).unwrap();
        let theirs = Tokenizer::from_gguf(&content).unwrap();
        let text = "Sourcier répond: « IBM envoie 25 consultants chez Huawei [1]. » It's 3.14 — isn't it?\n\n  def f(x):\n\treturn x";
        assert_eq!(
            tokenizer::encode(&ours, text).unwrap(),
            theirs.encode(text, false).unwrap().get_ids()
        );
    }

    #[test]
    fn qwen2_port_matches_candles_quantized_qwen2() {
        use candle_transformers::models::quantized_qwen2;
        let path = qwen_gguf();
        let open = || {
            let mut r = BufReader::new(File::open(&path).unwrap());
            let c = gguf_file::Content::read(&mut r).unwrap();
            requant::requantize(c, r).unwrap()
        };
        let (c, mut r, _) = open();
        let tok = tokenizer::from_metadata(&c.metadata).unwrap();
        let mut ours = qwen2::Qwen2::from_gguf(&c, &mut r, &Device::Cpu).unwrap();
        let (c, mut r, _) = open();
        let mut theirs = quantized_qwen2::ModelWeights::from_gguf(c, &mut r, &Device::Cpu).unwrap();

        let prompt = ChatTemplate::ChatMl.render(
            "Answer from the passages.",
            "[1] IBM envoie 25 consultants chez Huawei.\n[2] Huawei a été fondé en 1987.\nHow many consultants?",
        );
        let ids = tokenizer::encode(&tok, &prompt).unwrap();
        assert!(
            ids.len() >= 2 * qwen2::DENSE_MIN_ROWS,
            "the prompt pass must take the dense path"
        );
        // Same argmax, and logits within `tolerance` of the largest one.
        let compare = |a: &Tensor, b: &Tensor, tolerance: f32| {
            let (mut a_v, mut b_v) = (Vec::new(), Vec::new());
            copy_logits(a, &mut a_v).unwrap();
            copy_logits(b, &mut b_v).unwrap();
            let scale = b_v.iter().fold(0f32, |m, x| m.max(x.abs()));
            let diff = a_v.iter().zip(&b_v).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert_eq!(sample::argmax(&a_v), sample::argmax(&b_v));
            assert!(
                diff < tolerance * scale,
                "max difference {diff} for logits up to {scale}"
            );
            sample::argmax(&a_v)
        };
        let input = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let reference = theirs.forward(&input, 0).unwrap();
        // With quantized products everywhere the port computes what candle does...
        ours.dense_min_rows = usize::MAX;
        compare(&ours.forward(&input, 0).unwrap(), &reference, 1e-4);
        // ...and dense prompt products (no 8-bit rounding of activations) stay close.
        ours.dense_min_rows = qwen2::DENSE_MIN_ROWS;
        let mut next = compare(&ours.forward(&input, 0).unwrap(), &reference, 0.05);
        for step in 0..4 {
            let input = Tensor::new(&[next], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let pos = ids.len() + step;
            next = compare(
                &ours.forward(&input, pos).unwrap(),
                &theirs.forward(&input, pos).unwrap(),
                0.05,
            );
        }
    }

    #[test]
    fn qwen_answers_from_the_passages_and_streams_its_text() {
        let mut g = Generator::load(&qwen_gguf()).unwrap();
        assert_eq!(g.architecture(), "qwen2");
        assert_eq!(g.template(), ChatTemplate::ChatMl);
        let system = "You answer questions using only the numbered passages given. Cite passages by number, like [1].";
        let user = "Passages:\n[1] IBM envoie 25 consultants chez Huawei.\n[2] Huawei a été fondé en 1987.\n\nQuestion: How many consultants does IBM send to Huawei? Answer in one sentence and cite the passage number like [1].";
        let opts = GenerateOptions {
            max_tokens: 40,
            ..GenerateOptions::default()
        };
        let mut pieces = Vec::new();
        let answer = g
            .chat(system, user, &opts, &mut |p| pieces.push(p.to_string()))
            .unwrap();
        assert!(answer.text.contains("25"), "{answer:?}");
        assert_eq!(pieces.concat(), answer.text);
        assert!(answer.generated_tokens > 0 && answer.generated_tokens <= 40);
        assert_eq!(answer.prompt_tokens, g.prompt_tokens(system, user).unwrap());
        // Greedy decoding from a cleared cache: a second call gives the same answer.
        let again = g.chat(system, user, &opts, &mut |_| {}).unwrap();
        assert_eq!(again.text, answer.text);
        // Sampling is reproducible from its seed.
        let sampled = GenerateOptions {
            temperature: 0.8,
            top_k: Some(40),
            top_p: Some(0.95),
            seed: 5,
            ..opts.clone()
        };
        let a = g.chat(system, user, &sampled, &mut |_| {}).unwrap();
        let b = g.chat(system, user, &sampled, &mut |_| {}).unwrap();
        assert!(!a.text.is_empty());
        assert_eq!(a.text, b.text);
    }
}
