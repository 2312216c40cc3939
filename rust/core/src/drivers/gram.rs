//! The sufficient statistic of a linear model: the weighted cross-product (Gram) matrix of
//! [1, y, x1..xp], summed exactly (see [`super::signed_sum`]), and the correlations read off it.

use super::signed_sum::SignedSum;

/// Upper triangle of the k × k cross-product matrix of c = [1, y, x1..xp] (k = p + 2):
/// Σ w·c_i·c_j, each row's term rounded once as fl(fl(w·c_i)·c_j), the sum exact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gram {
    /// Side of the matrix: p + 2.
    pub k: usize,
    /// The upper-triangle entries, row by row ((i, j) for i ≤ j).
    pub sums: Vec<SignedSum>,
}

/// Number of upper-triangle entries of a k × k matrix.
pub fn triangle(k: usize) -> usize {
    k * (k + 1) / 2
}

/// The per-row terms fl(fl(w·c_i)·c_j) for i ≤ j, in the order of [`Gram::sums`].
#[inline]
pub fn row_terms(w: f64, c: &[f64], out: &mut [f64]) {
    let mut at = 0;
    for i in 0..c.len() {
        let wc = w * c[i];
        for &cj in &c[i..] {
            out[at] = wc * cj;
            at += 1;
        }
    }
}

impl Gram {
    /// The zero matrix of side `k`.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            sums: vec![SignedSum::ZERO; triangle(k)],
        }
    }

    /// Adds `m` times one row's terms (from [`row_terms`]).
    #[inline]
    pub fn add_terms(&mut self, terms: &[f64], m: u64) {
        for (s, &t) in self.sums.iter_mut().zip(terms) {
            s.add(t, m);
        }
    }

    /// Adds another Gram matrix of the same side, exactly.
    pub fn merge(&mut self, other: &Gram) {
        for (s, o) in self.sums.iter_mut().zip(&other.sums) {
            s.merge(o);
        }
    }

    /// The full symmetric matrix (row-major k × k), each entry rounded once.
    pub fn matrix(&self) -> Vec<f64> {
        let k = self.k;
        let mut m = vec![0.0; k * k];
        let mut at = 0;
        for i in 0..k {
            for j in i..k {
                let v = self.sums[at].to_f64();
                m[i * k + j] = v;
                m[j * k + i] = v;
                at += 1;
            }
        }
        m
    }
}

/// Weighted moments of [y, x1..xp] from a Gram matrix.
#[derive(Clone, Debug)]
pub struct Moments {
    /// Σw over the rows (the (0, 0) entry).
    pub weight_sum: f64,
    /// Correlation matrix of [y, x1..xp], row-major (p + 1)².
    pub correlation: Vec<f64>,
    /// Index into [y, x1..xp] of the first column without variance, if any.
    pub constant: Option<usize>,
}

/// The weighted correlations of [y, x1..xp] (population moments: the weights' scale cancels).
pub fn moments(gram: &Gram) -> Moments {
    let k = gram.k;
    let s = gram.matrix();
    let w = s[0];
    let d = k - 1;
    let mut cov = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            let (a, b) = (i + 1, j + 1);
            // Σw·(ci − mean_i)(cj − mean_j) = S_ij − S_0i·S_0j / S_00.
            cov[i * d + j] = s[a * k + b] - s[a] * s[b] / w;
        }
    }
    // A column whose centred sum of squares is at the rounding level of its raw sum has none.
    let constant = (0..d).find(|&i| {
        w.is_nan()
            || w <= 0.0
            || cov[i * d + i].is_nan()
            || cov[i * d + i] <= 1e-12 * s[(i + 1) * k + i + 1].abs().max(f64::MIN_POSITIVE)
    });
    let sd: Vec<f64> = (0..d).map(|i| cov[i * d + i].max(0.0).sqrt()).collect();
    let mut correlation = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            correlation[i * d + j] = if i == j {
                1.0
            } else {
                cov[i * d + j] / (sd[i] * sd[j])
            };
        }
    }
    Moments {
        weight_sum: w,
        correlation,
        constant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlations_of_a_small_sample() {
        // y = x exactly: correlation 1; a second driver uncorrelated with both by construction.
        let rows = [
            [1.0, 1.0, 1.0],
            [2.0, 2.0, -1.0],
            [3.0, 3.0, -1.0],
            [4.0, 4.0, 1.0],
        ];
        let mut g = Gram::new(4);
        let mut terms = vec![0.0; triangle(4)];
        for r in rows {
            row_terms(1.0, &[1.0, r[0], r[1], r[2]], &mut terms);
            g.add_terms(&terms, 1);
        }
        let m = moments(&g);
        assert_eq!(m.weight_sum, 4.0);
        assert!((m.correlation[1] - 1.0).abs() < 1e-15);
        assert!(m.correlation[2].abs() < 1e-15);
        assert_eq!(m.constant, None);
        // Weight 2 on a row is the row twice.
        let mut twice = Gram::new(4);
        let mut weighted = Gram::new(4);
        for (i, r) in rows.iter().enumerate() {
            let c = [1.0, r[0], r[1], r[2]];
            row_terms(1.0, &c, &mut terms);
            twice.add_terms(&terms, if i == 0 { 2 } else { 1 });
            row_terms(if i == 0 { 2.0 } else { 1.0 }, &c, &mut terms);
            weighted.add_terms(&terms, 1);
        }
        assert_eq!(twice, weighted);
        // A constant driver is reported.
        let mut c = Gram::new(3);
        for y in [1.0, 2.0, 3.0] {
            row_terms(0.5, &[1.0, y, 7.0], &mut terms);
            c.add_terms(&terms[..triangle(3)], 1);
        }
        assert_eq!(moments(&c).constant, Some(1));
    }
}
