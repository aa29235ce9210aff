//! Vector arithmetic shared by the embedder, the vector index, retrieval and the answerer:
//! the dot product (cosine similarity of unit vectors) and normalisation. It lives apart from
//! the HNSW module so that the embedder and the answerer do not reach into the index.

/// Dot product over the common length, in 16 independent lanes so it vectorises.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [0f32; 16];
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Copy of `v` scaled to unit length (unchanged when zero or not finite).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}
