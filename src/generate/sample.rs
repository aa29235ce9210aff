//! Picking the next token from logits: candle's repeat penalty, then its `LogitsProcessor`
//! (greedy, or seeded temperature sampling, optionally restricted by top-k and/or top-p).
//!
//! This module owns the mapping from [`GenerateOptions`](super::GenerateOptions) to candle's
//! [`Sampling`] and the one guard candle lacks: NaN logits never win. Greedy is the default
//! and deterministic; sampling is reproducible from its seed (candle seeds a `StdRng`).

use std::borrow::Cow;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::utils::apply_repeat_penalty;

use crate::Result;

/// Chooses next tokens.
pub(crate) struct Sampler {
    processor: LogitsProcessor,
    repeat_penalty: f32,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // LogitsProcessor is not Debug.
        f.debug_struct("Sampler")
            .field("repeat_penalty", &self.repeat_penalty)
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// Greedy when `temperature` is 0 (or not finite); otherwise samples at `temperature`
    /// from the `top_k` likeliest tokens and/or the smallest set holding `top_p` of the mass.
    pub(crate) fn new(
        temperature: f64,
        top_k: Option<usize>,
        top_p: Option<f64>,
        repeat_penalty: f32,
        seed: u64,
    ) -> Sampler {
        Sampler {
            processor: LogitsProcessor::from_sampling(seed, sampling(temperature, top_k, top_p)),
            repeat_penalty,
        }
    }

    /// Penalises the `recent` tokens in `logits`, then picks one.
    pub(crate) fn sample(&mut self, logits: &[f32], recent: &[u32]) -> Result<u32> {
        // candle's argmax can return a NaN and its softmax spreads one everywhere: a broken
        // logit gets no chance instead.
        let logits: Cow<[f32]> = if logits.iter().any(|l| l.is_nan()) {
            logits
                .iter()
                .map(|&l| if l.is_nan() { f32::NEG_INFINITY } else { l })
                .collect()
        } else {
            Cow::Borrowed(logits)
        };
        let mut logits = Tensor::from_slice(&logits, logits.len(), &Device::Cpu)?;
        if self.repeat_penalty != 1.0 && !recent.is_empty() {
            logits = apply_repeat_penalty(&logits, self.repeat_penalty, recent)?;
        }
        Ok(self.processor.sample(&logits)?)
    }
}

/// candle's strategy for these options. A `top_k` of 0 keeps one token (candle would have
/// none to draw from); a `top_p` outside (0, 1) keeps them all.
fn sampling(temperature: f64, top_k: Option<usize>, top_p: Option<f64>) -> Sampling {
    if temperature <= 0.0 || !temperature.is_finite() {
        return Sampling::ArgMax;
    }
    let top_p = top_p.filter(|p| *p > 0.0 && *p < 1.0);
    match (top_k.map(|k| k.max(1)), top_p) {
        (None, None) => Sampling::All { temperature },
        (Some(k), None) => Sampling::TopK { k, temperature },
        (None, Some(p)) => Sampling::TopP { p, temperature },
        (Some(k), Some(p)) => Sampling::TopKThenTopP { k, p, temperature },
    }
}

/// Index of the largest logit; the first one on ties, NaN never wins. The reference the
/// model tests compare logits with.
#[cfg(test)]
pub(crate) fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        if v > best_v {
            best = i;
            best_v = v;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<u32> {
        (0..n).map(|_| s.sample(logits, &[]).unwrap()).collect()
    }

    #[test]
    fn greedy_picks_the_best_and_penalty_can_change_it() {
        let mut s = Sampler::new(0.0, None, None, 1.0, 0);
        assert_eq!(s.sample(&[0.1, 2.0, 1.9], &[]).unwrap(), 1);
        // Top-k and top-p do not change a greedy pick.
        let mut s = Sampler::new(0.0, Some(3), Some(0.1), 1.0, 0);
        assert_eq!(s.sample(&[0.1, 2.0, 1.9], &[]).unwrap(), 1);
        let mut s = Sampler::new(0.0, None, None, 1.1, 0);
        // 2.0 / 1.1 < 1.9: the recently used token loses; duplicates are penalised once.
        assert_eq!(s.sample(&[0.1, 2.0, 1.9], &[1, 1, 1]).unwrap(), 2);
        let pos = Tensor::new(&[0.1f32, 2.0, 1.9], &Device::Cpu).unwrap();
        let pos = apply_repeat_penalty(&pos, 1.1, &[1, 1, 1])
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!((pos[1] - 2.0 / 1.1).abs() < 1e-6, "{pos:?}");
        let neg = Tensor::new(&[-1.0f32, -2.0], &Device::Cpu).unwrap();
        let neg = apply_repeat_penalty(&neg, 2.0, &[0, 7]).unwrap();
        assert_eq!(neg.to_vec1::<f32>().unwrap(), [-2.0, -2.0]);
    }

    #[test]
    fn nan_never_wins() {
        assert_eq!(argmax(&[f32::NAN, 1.0, 0.5]), 1);
        let mut greedy = Sampler::new(0.0, None, None, 1.0, 0);
        assert_eq!(greedy.sample(&[f32::NAN, 1.0, 0.5], &[]).unwrap(), 1);
        let mut s = Sampler::new(1.0, None, None, 1.0, 3);
        assert!(draws(&mut s, &[f32::NAN, 0.0, 0.0], 200).iter().all(|&t| t != 0));
    }

    #[test]
    fn sampling_is_seeded_and_follows_the_distribution() {
        let draw = |seed| {
            draws(
                &mut Sampler::new(1.0, None, None, 1.0, seed),
                &[0.0, (3.0f32).ln()],
                2000,
            )
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        // Weights 1:3, so about three quarters of the draws are token 1.
        let ones = draw(7).iter().filter(|&&t| t == 1).count();
        assert!((1350..1650).contains(&ones), "{ones}");
    }

    #[test]
    fn top_k_and_top_p_restrict_the_support() {
        // Probabilities about 0.34, 0.31, 0.28, 0.05, 0.02.
        let logits = [2.0, 1.9, 1.8, 0.0, -1.0];
        let seen = |top_k, top_p| {
            let mut s = Sampler::new(1.0, top_k, top_p, 1.0, 11);
            let mut seen = draws(&mut s, &logits, 3000);
            seen.sort_unstable();
            seen.dedup();
            seen
        };
        assert_eq!(seen(None, None), [0, 1, 2, 3, 4]);
        assert_eq!(seen(Some(2), None), [0, 1]);
        // 0.34 < 0.5 <= 0.34 + 0.31: the nucleus is the two likeliest tokens.
        assert_eq!(seen(None, Some(0.5)), [0, 1]);
        assert_eq!(seen(Some(3), Some(0.5)), [0, 1]);
        assert_eq!(seen(Some(0), None), [0]);
        assert_eq!(seen(Some(4), Some(1.0)), [0, 1, 2, 3]);
    }
}
