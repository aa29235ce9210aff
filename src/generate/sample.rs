//! Picking the next token from logits: repeat penalty, then greedy or temperature sampling.
//!
//! Kept on plain slices (not tensors) because the logits are copied out once per step anyway,
//! and so the choice is testable and deterministic: greedy by default, and seeded sampling
//! with a small built-in generator (no RNG crate needed).

/// Chooses next tokens; owns its scratch buffer so steps do not allocate.
#[derive(Debug)]
pub(crate) struct Sampler {
    temperature: f64,
    repeat_penalty: f32,
    rng: SplitMix64,
    weights: Vec<f64>,
}

impl Sampler {
    pub(crate) fn new(temperature: f64, repeat_penalty: f32, seed: u64) -> Sampler {
        Sampler {
            temperature,
            repeat_penalty,
            rng: SplitMix64(seed),
            weights: Vec::new(),
        }
    }

    /// Penalises the `recent` tokens in `logits`, then picks one.
    pub(crate) fn sample(&mut self, logits: &mut [f32], recent: &[u32]) -> u32 {
        if self.repeat_penalty != 1.0 {
            apply_repeat_penalty(logits, self.repeat_penalty, recent);
        }
        if self.temperature <= 0.0 || !self.temperature.is_finite() {
            return argmax(logits);
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        self.weights.clear();
        self.weights
            .extend(logits.iter().map(|&l| ((l - max) as f64 / self.temperature).exp()));
        let total: f64 = self.weights.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return argmax(logits);
        }
        let mut target = self.rng.next_f64() * total;
        for (i, &w) in self.weights.iter().enumerate() {
            if target < w {
                return i as u32;
            }
            target -= w;
        }
        // Rounding left a sliver of mass: the last token with weight takes it.
        self.weights.iter().rposition(|&w| w > 0.0).unwrap_or(0) as u32
    }
}

/// Divides positive logits (multiplies negative ones) of each distinct recent token, as in
/// the CTRL paper and llama.cpp, so the model is nudged away from repeating itself.
pub(crate) fn apply_repeat_penalty(logits: &mut [f32], penalty: f32, recent: &[u32]) {
    for (i, &id) in recent.iter().enumerate() {
        if recent[..i].contains(&id) {
            continue;
        }
        if let Some(l) = logits.get_mut(id as usize) {
            *l = if *l >= 0.0 { *l / penalty } else { *l * penalty };
        }
    }
}

/// Index of the largest logit; the first one on ties, NaN never wins.
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

/// SplitMix64: tiny, fast and good enough to draw tokens reproducibly from a seed.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_the_best_and_penalty_can_change_it() {
        let mut s = Sampler::new(0.0, 1.0, 0);
        assert_eq!(s.sample(&mut [0.1, 2.0, 1.9], &[]), 1);
        let mut s = Sampler::new(0.0, 1.1, 0);
        // 2.0 / 1.1 < 1.9: the recently used token loses; duplicates are penalised once.
        let mut logits = [0.1, 2.0, 1.9];
        assert_eq!(s.sample(&mut logits, &[1, 1, 1]), 2);
        assert!((logits[1] - 2.0 / 1.1).abs() < 1e-6);
        let mut neg = [-1.0f32, -2.0];
        apply_repeat_penalty(&mut neg, 2.0, &[0, 7]);
        assert_eq!(neg, [-2.0, -2.0]);
    }

    #[test]
    fn argmax_ignores_nan() {
        assert_eq!(argmax(&[f32::NAN, 1.0, 0.5]), 1);
    }

    #[test]
    fn sampling_is_seeded_and_follows_the_distribution() {
        let draw = |seed| {
            let mut s = Sampler::new(1.0, 1.0, seed);
            (0..2000)
                .map(|_| s.sample(&mut [0.0, (3.0f32).ln()], &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        // Weights 1:3, so about three quarters of the draws are token 1.
        let ones = draw(7).iter().filter(|&&t| t == 1).count();
        assert!((1350..1650).contains(&ones), "{ones}");
    }
}
