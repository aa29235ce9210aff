//! Fitting helpers shared by the answerer's small learned models (the sentence scorer and
//! the answerability model): feature standardisation and the linear solve of a Newton step.
//! Both models have a few dozen weights, so exact dense steps are cheap and need no crate.

// Matrix arithmetic reads best with indices.
#![allow(clippy::needless_range_loop)]

/// Mean and standard deviation of each feature over `rows` (a constant feature gets scale 1).
pub(super) fn standardisation<'a, const N: usize>(
    rows: impl Iterator<Item = &'a [f32; N]> + Clone,
) -> ([f32; N], [f32; N]) {
    let n = rows.clone().count().max(1) as f64;
    let mut mean = [0f32; N];
    let mut scale = [1f32; N];
    for i in 0..N {
        let m = rows.clone().map(|r| r[i] as f64).sum::<f64>() / n;
        let v = rows.clone().map(|r| (r[i] as f64 - m).powi(2)).sum::<f64>() / n;
        mean[i] = m as f32;
        scale[i] = if v > 1e-12 { v.sqrt() as f32 } else { 1.0 };
    }
    (mean, scale)
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting (a small dense system);
/// a pivot near zero leaves its coordinate at 0.
pub(super) fn solve<const D: usize>(mut a: [[f64; D]; D], mut b: [f64; D]) -> [f64; D] {
    for col in 0..D {
        let piv = (col..D)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, piv);
        b.swap(col, piv);
        let d = a[col][col];
        if d.abs() < 1e-12 {
            continue;
        }
        for r in col + 1..D {
            let f = a[r][col] / d;
            for c in col..D {
                a[r][c] -= f * a[col][c];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = [0f64; D];
    for r in (0..D).rev() {
        let s: f64 = (r + 1..D).map(|c| a[r][c] * x[c]).sum();
        x[r] = if a[r][r].abs() < 1e-12 {
            0.0
        } else {
            (b[r] - s) / a[r][r]
        };
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_small_system_and_standardises() {
        let x = solve([[4.0, 1.0], [1.0, 3.0]], [1.0, 2.0]);
        assert!((x[0] - 1.0 / 11.0).abs() < 1e-12 && (x[1] - 7.0 / 11.0).abs() < 1e-12);
        let rows = [[1.0f32, 5.0], [3.0, 5.0]];
        let (mean, scale) = standardisation(rows.iter());
        assert_eq!((mean, scale), ([2.0, 5.0], [1.0, 1.0]));
    }
}
