//! A deterministic hashing embedder for the fast test tier.
//!
//! It owns nothing but arithmetic: every lower-cased word (accents folded) and every character
//! trigram of it is hashed into one of `dims` buckets with a sign, and the sum is L2-normalised.
//! Texts that share words are therefore close, which is enough for ingest → search → ask → eval
//! to be tested end to end in debug builds, in seconds, without the 1.2 GB model. It is not a
//! retrieval model and is never chosen by default.

use crate::Result;
use crate::embed::{Document, Embedder};

/// Longest input the fake accepts, in its own tokens (words).
const MAX_TOKENS: usize = 2048;

/// Bag-of-words-and-trigrams vectors, reproducible across runs and machines.
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    dims: usize,
}

impl HashingEmbedder {
    /// A hashing embedder of `dims` dimensions (at least 8).
    pub fn new(dims: usize) -> HashingEmbedder {
        HashingEmbedder { dims: dims.max(8) }
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dims];
        for word in words(text) {
            self.add(&mut v, word.as_bytes(), 1.0);
            let chars: Vec<char> = format!("^{word}$").chars().collect();
            for tri in chars.windows(3) {
                let s: String = tri.iter().collect();
                self.add(&mut v, s.as_bytes(), 0.25);
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            // An empty text still gets a unit vector, as a real model would give it.
            v[0] = 1.0;
        }
        v
    }

    fn add(&self, v: &mut [f32], feature: &[u8], weight: f32) {
        let h = fnv1a(feature);
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[(h % self.dims as u64) as usize] += sign * weight;
    }
}

/// FNV-1a, written out because the buckets must never change with a crate's version.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Lower-cased alphanumeric words with the common Latin accents folded.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().chars().map(fold).collect())
}

fn fold(c: char) -> char {
    match c {
        'à' | 'â' | 'ä' | 'á' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'î' | 'ï' | 'í' => 'i',
        'ô' | 'ö' | 'ó' => 'o',
        'ù' | 'û' | 'ü' | 'ú' => 'u',
        'ç' => 'c',
        'ÿ' => 'y',
        other => other,
    }
}

impl Embedder for HashingEmbedder {
    fn embed_queries(&self, queries: &[&str]) -> Result<Vec<Vec<f32>>> {
        queries
            .iter()
            .map(|q| {
                // The same window contract as a real model, so callers' handling is tested.
                let tokens = self.count_tokens(q);
                if tokens > MAX_TOKENS {
                    return Err(crate::Error::InputTooLong {
                        tokens,
                        max: MAX_TOKENS,
                    });
                }
                Ok(self.embed(q))
            })
            .collect()
    }

    fn embed_documents(&self, docs: &[Document<'_>]) -> Result<Vec<Vec<f32>>> {
        Ok(docs
            .iter()
            .map(|d| match d.title {
                Some(t) => self.embed(&format!("{t} {}", d.text)),
                None => self.embed(d.text),
            })
            .collect())
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn fingerprint(&self) -> String {
        format!("hashing-v1-{}", self.dims)
    }

    fn name(&self) -> String {
        format!("hashing@{}", self.dims)
    }

    fn max_tokens(&self) -> usize {
        MAX_TOKENS
    }

    fn count_tokens(&self, text: &str) -> usize {
        words(text).count()
    }

    fn document_overhead(&self, title: Option<&str>) -> usize {
        title.map(|t| words(t).count()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_length_and_reproducible() {
        let e = HashingEmbedder::new(64);
        let a = e.embed_queries(&["Huawei et IBM", ""]).unwrap();
        for v in &a {
            let n: f32 = v.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-5, "norm² {n}");
        }
        assert_eq!(a[0], e.embed_queries(&["Huawei et IBM"]).unwrap()[0]);
    }

    #[test]
    fn shared_words_are_closer_than_unrelated_text() {
        let e = HashingEmbedder::new(256);
        let q = &e.embed_queries(&["consultants IBM chez Huawei"]).unwrap()[0];
        let docs = e
            .embed_documents(&[
                Document {
                    title: None,
                    text: "IBM envoie des consultants chez Huawei.",
                },
                Document {
                    title: None,
                    text: "La météo de demain sera pluvieuse.",
                },
            ])
            .unwrap();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!(dot(q, &docs[0]) > dot(q, &docs[1]) + 0.2);
    }

    #[test]
    fn accents_fold_and_fingerprints_follow_dims() {
        let e = HashingEmbedder::new(32);
        assert_eq!(e.embed_queries(&["été"]).unwrap(), e.embed_queries(&["ETE"]).unwrap());
        assert_ne!(e.fingerprint(), HashingEmbedder::new(64).fingerprint());
    }
}
