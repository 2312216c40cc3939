//! Which bootstrap interval the importances get, and BCa's acceleration without the rows.
//!
//! An importance is a nonlinear (quadratic and higher) function of the correlation matrix, so
//! its bootstrap distribution is biased and skewed relative to the estimate and the percentile
//! interval's coverage drifts from the nominal level. The bias-corrected percentile (BC; Efron
//! 1987, z0 = Φ⁻¹ of the share of replicates below the estimate) needs only the replicates. BCa
//! adds the acceleration a = Σ U_i³ / (6 (Σ U_i²)^{3/2}) from the empirical influence U_i of each
//! row (Efron 1987, eq. 6.7; Efron & Tibshirani 1993, eq. 22.29; DiCiccio & Efron 1996, §3).
//!
//! The influence of a row c = [1, y, x1..xp] with weight w on an importance θ(R) is, by the
//! chain rule through the correlations (IF(R_ab) = z_a·z_b − R_ab·(z_a² + z_b²)/2, z the row's
//! standardised values), w·Σ_{a<b} ∂θ/∂R_ab·IF(R_ab): a quadratic form w·c̃ᵀMc̃ in the row's
//! values, M built from the gradient of θ (central differences of the fit) and the segment's
//! means and standard deviations. So Σ U³ and Σ U² come from the tuple histogram exactly, one
//! form per distinct tuple. Without a histogram (replicates drawn per row) the same form applied
//! to a replicate's Gram matrix gives its linear part L* = Σ (m_i − 1)·U_i, whose third and
//! second cumulants under the Poisson bootstrap (m ~ Poisson(1): every cumulant 1) are Σ U³
//! and Σ U²; a is then their ratio over the replicates (a Monte Carlo estimate).
//!
//! The studentized (bootstrap-t) interval (Efron & Tibshirani 1993, ch. 12; Davison & Hinkley
//! 1997, §5.2) divides each replicate's deviation θ*_b − θ̂ by its own standard error se*_b and
//! reads the interval [θ̂ − t_(1−α/2)·se, θ̂ − t_(α/2)·se] off the quantiles of
//! t_b = (θ*_b − θ̂) / se*_b. Both standard errors are the nonparametric delta method's
//! (Davison & Hinkley 1997, §2.7: v_L = Σ l_j² / n²): with the influence U_t = w_t·c̃ᵀMc̃ of
//! tuple t as above (M from the data's correlations and gradient), se² = Σ_t n_t·U_t² / (Σw)²
//! over the histogram; for replicate b, M_b comes from the replicate's own Gram matrix
//! (its correlations, means, sds and gradient) and se*_b² = Σ_t m_t(b)·U_t(b)² / (Σ* w)² with
//! the replicate's counts m_t(b), drawn again from its generator. U is a quadratic form in the
//! row, so Σ_t m_t U_t² needs each row (or tuple) once per replicate: replicates drawn per row
//! keep only their Gram matrices, and the studentized interval is refused there.

use super::gram::{moments, Gram};
use super::importance::{coefficients, fit, Fit, Method};
use super::shapley_gradient::shapley_gradient;
use super::tuples::Tuples;
use crate::error::{CoreError, Result};

/// The interval read off the replicate importances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    /// Quantiles of the replicates (Efron & Tibshirani 1993, ch. 13).
    Percentile,
    /// Bias-corrected percentile: BCa with a = 0.
    Bc,
    /// Bias-corrected and accelerated (Efron 1987).
    Bca,
    /// Studentized (bootstrap-t) with delta-method standard errors (needs the tuple histogram).
    Studentized,
}

impl Interval {
    /// The names users pass as `bootstrap=`, in the order of the variants.
    pub const NAMES: [&'static str; 4] = ["percentile", "bc", "bca", "studentized"];

    /// The interval called `name`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "percentile" => Ok(Interval::Percentile),
            "bc" => Ok(Interval::Bc),
            "bca" => Ok(Interval::Bca),
            "studentized" => Ok(Interval::Studentized),
            other => Err(CoreError::InvalidArgument(format!(
                "bootstrap must be one of {:?}, got {other:?}",
                Self::NAMES
            ))),
        }
    }
}

/// A fit's outputs in report order: the p importances, then R².
pub fn outputs(f: &Fit) -> Vec<f64> {
    f.importance.iter().copied().chain([f.r2]).collect()
}

/// Step of the central differences in a correlation: the error is O(h²) from the curvature and
/// O(ε/h) from rounding, both near 1e-10 of the gradient.
const STEP: f64 = 1e-5;

/// One k × k form (row-major) per output (p importances, then R²): the influence of a row
/// c̃ = [1, y, x1..xp] of weight w on that output is w·c̃ᵀMc̃ (up to the factor 1/Σw, which
/// cancels in the acceleration). The gradient is exact for exact Shapley, central differences
/// otherwise. None when a (perturbed) correlation matrix cannot be fitted.
pub fn influence_forms(gram: &Gram, p: usize, method: Method) -> Option<Vec<Vec<f64>>> {
    let (k, d) = (gram.k, p + 1);
    let s = gram.matrix();
    let w = s[0];
    let corr = moments(gram).correlation;
    let mean: Vec<f64> = (0..d).map(|a| s[a + 1] / w).collect();
    let sd: Vec<f64> = (0..d)
        .map(|a| ((s[(a + 1) * k + a + 1] - s[a + 1] * s[a + 1] / w) / w).sqrt())
        .collect();
    let gradient = match method {
        Method::Shapley { exact_up_to, .. } if p <= exact_up_to => exact_gradient(&corr, p)?,
        _ => numeric_gradient(&corr, p, method)?,
    };
    Some(
        gradient
            .iter()
            .map(|g| form(g, &corr, &mean, &sd, k))
            .collect(),
    )
}

/// gradient[o][a·d + b]: ∂ output o / ∂R_ab for a < b (R_ab and R_ba moved together), by
/// central differences of the refit.
fn numeric_gradient(corr: &[f64], p: usize, method: Method) -> Option<Vec<Vec<f64>>> {
    let d = p + 1;
    let mut gradient = vec![vec![0.0; d * d]; p + 1];
    let mut moved = corr.to_vec();
    for a in 0..d {
        for b in a + 1..d {
            let mut at = |v: f64| {
                moved[a * d + b] = v;
                moved[b * d + a] = v;
                fit(&moved, p, method).ok().map(|f| outputs(&f))
            };
            let (up, down) = (at(corr[a * d + b] + STEP), at(corr[a * d + b] - STEP));
            moved[a * d + b] = corr[a * d + b];
            moved[b * d + a] = corr[a * d + b];
            let (up, down) = (up?, down?);
            for (o, g) in gradient.iter_mut().enumerate() {
                g[a * d + b] = (up[o] - down[o]) / (2.0 * STEP);
            }
        }
    }
    Some(gradient)
}

/// The gradient of exact Shapley in closed form ([`shapley_gradient`]), then R²'s:
/// ∂R²/∂r_a = 2β_a, ∂R²/∂R_ab = −2β_a·β_b.
fn exact_gradient(corr: &[f64], p: usize) -> Option<Vec<Vec<f64>>> {
    let d = p + 1;
    let beta = coefficients(corr, p)?;
    let mut gradient = shapley_gradient(corr, p)?;
    let mut r2 = vec![0.0; d * d];
    for a in 0..p {
        r2[a + 1] = 2.0 * beta[a];
        for b in a + 1..p {
            r2[(a + 1) * d + b + 1] = -2.0 * beta[a] * beta[b];
        }
    }
    gradient.push(r2);
    Some(gradient)
}

/// M of one output from its gradient: z ᵀHz with H_ab = g_ab / 2 off the diagonal and
/// H_aa = −½ Σ_{b≠a} g_ab·R_ab, rewritten in the raw values c̃ = [1, c] (z = (c − mean) / sd).
fn form(g: &[f64], corr: &[f64], mean: &[f64], sd: &[f64], k: usize) -> Vec<f64> {
    let d = k - 1;
    let pair = |a: usize, b: usize| if a < b { g[a * d + b] } else { g[b * d + a] };
    let mut scaled = vec![0.0; d * d];
    for a in 0..d {
        for b in 0..d {
            let h = if a == b {
                -0.5 * (0..d)
                    .filter(|&c| c != a)
                    .map(|c| pair(a, c) * corr[a * d + c])
                    .sum::<f64>()
            } else {
                0.5 * pair(a, b)
            };
            scaled[a * d + b] = h / (sd[a] * sd[b]);
        }
    }
    let mut m = vec![0.0; k * k];
    let mut centre = 0.0;
    for a in 0..d {
        let am: f64 = (0..d).map(|b| scaled[a * d + b] * mean[b]).sum();
        centre += mean[a] * am;
        m[a + 1] = -am;
        m[(a + 1) * k] = -am;
        for b in 0..d {
            m[(a + 1) * k + b + 1] = scaled[a * d + b];
        }
    }
    m[0] = centre;
    m
}

/// c̃ᵀMc̃ for the symmetric k × k form `m`.
fn quadratic(m: &[f64], c: &[f64]) -> f64 {
    let k = c.len();
    (0..k)
        .map(|i| c[i] * (0..k).map(|j| m[i * k + j] * c[j]).sum::<f64>())
        .sum()
}

/// a = Σ U³ / (6 (Σ U²)^{3/2}); None when the influence has no spread or is not finite.
fn acceleration(s3: f64, s2: f64) -> Option<f64> {
    let a = s3 / (6.0 * s2.powf(1.5));
    (s2 > 0.0 && a.is_finite()).then_some(a)
}

/// The acceleration of every output from the tuple histogram (exact; tuples in ascending
/// order, so the sums do not depend on how the histogram was built).
pub fn acceleration_from_tuples(forms: &[Vec<f64>], tuples: &Tuples, k: usize) -> Vec<Option<f64>> {
    let mut sorted: Vec<(&Vec<u64>, u64)> = tuples.iter().map(|(t, &n)| (t, n)).collect();
    sorted.sort_unstable();
    let mut sums = vec![(0.0, 0.0); forms.len()];
    let mut c = vec![1.0; k];
    for (tuple, n) in sorted {
        for (slot, &bits) in c[1..].iter_mut().zip(tuple.iter()) {
            *slot = f64::from_bits(bits);
        }
        let w = tuple.get(k - 1).map_or(1.0, |&bits| f64::from_bits(bits));
        for (m, (s2, s3)) in forms.iter().zip(sums.iter_mut()) {
            let u = w * quadratic(m, &c);
            *s2 += n as f64 * u * u;
            *s3 += n as f64 * u * u * u;
        }
    }
    sums.into_iter()
        .map(|(s2, s3)| acceleration(s3, s2))
        .collect()
}

/// The acceleration of every output from replicate Gram matrices drawn per row: the cumulant
/// ratio of the linear parts L* = ⟨M, G* − Ĝ⟩ (their mean is 0 under the Poisson bootstrap).
pub fn acceleration_from_replicates(
    forms: &[Vec<f64>],
    gram: &Gram,
    replicates: &[Gram],
) -> Vec<Option<f64>> {
    let base = gram.matrix();
    let mut sums = vec![(0.0, 0.0); forms.len()];
    for r in replicates {
        let diff: Vec<f64> = r.matrix().iter().zip(&base).map(|(x, y)| x - y).collect();
        for (m, (s2, s3)) in forms.iter().zip(sums.iter_mut()) {
            let l: f64 = m.iter().zip(&diff).map(|(a, b)| a * b).sum();
            *s2 += l * l;
            *s3 += l * l * l;
        }
    }
    sums.into_iter()
        .map(|(s2, s3)| acceleration(s3, s2))
        .collect()
}

/// The delta-method standard error of every output: √(Σ_t m_t·U_t²) / Σw, where U_t =
/// w_t·c̃ᵀMc̃ = ⟨M, terms_t⟩ is the influence of tuple t (row terms w·c_i·c_j, i ≤ j, as in
/// [`super::gram::row_terms`]) counted m_t times, `forms` from [`influence_forms`] of the Gram
/// matrix whose weight sum is `weight_sum` (the data's, or a replicate's with its counts).
pub fn delta_se<'a>(
    forms: &[Vec<f64>],
    k: usize,
    rows: impl Iterator<Item = (&'a [f64], u64)>,
    weight_sum: f64,
) -> Vec<f64> {
    // M in the order of the row terms, the off-diagonal entries twice (M is symmetric).
    let packed: Vec<Vec<f64>> = forms
        .iter()
        .map(|m| {
            (0..k)
                .flat_map(|i| (i..k).map(move |j| (i, j)))
                .map(|(i, j)| {
                    if i == j {
                        m[i * k + j]
                    } else {
                        2.0 * m[i * k + j]
                    }
                })
                .collect()
        })
        .collect();
    let mut sums = vec![0.0; forms.len()];
    for (terms, m) in rows {
        if m == 0 {
            continue;
        }
        for (f, s) in packed.iter().zip(sums.iter_mut()) {
            let u = dot(f, terms);
            *s += m as f64 * u * u;
        }
    }
    sums.into_iter().map(|s| s.sqrt() / weight_sum).collect()
}

/// Σ a_i·b_i with eight running sums (combined in a fixed order), so the loop is not one
/// chain of dependent adds: this dot product is the studentized interval's inner loop.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0.0; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    let pairs = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    (pairs[0] + pairs[2]) + (pairs[1] + pairs[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::gram::{row_terms, triangle};
    use crate::drivers::tuples::tuple_of;

    /// Rows of a skewed 3-driver model on small integer scales (so tuples repeat).
    fn rows(n: usize) -> Vec<[f64; 4]> {
        let mut state = 12345u64;
        let mut next = || {
            state = crate::streams::splitmix64(state);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let x1 = (next() * 5.0).floor();
                let x2 = (next() * next() * 5.0 + 0.3 * x1).floor();
                let x3 = (next() * 4.0).floor();
                let y = (0.8 * x1 + 0.5 * x2 + 0.2 * x3 + 3.0 * next() * next()).floor();
                [y, x1, x2, x3]
            })
            .collect()
    }

    fn gram_of(tuples: &Tuples, k: usize, leave_out: Option<&Vec<u64>>) -> Gram {
        let mut g = Gram::new(k);
        let mut terms = vec![0.0; triangle(k)];
        for (t, &n) in tuples {
            let mut c = vec![1.0];
            c.extend(t.iter().map(|&b| f64::from_bits(b)));
            row_terms(1.0, &c, &mut terms);
            g.add_terms(&terms, n - u64::from(leave_out == Some(t)));
        }
        g
    }

    #[test]
    fn influence_acceleration_matches_the_jackknife() {
        let (p, k) = (3, 5);
        let mut tuples = Tuples::default();
        let mut t = Vec::new();
        for r in rows(3000) {
            tuple_of(r.into_iter(), None, &mut t);
            *tuples.entry(t.clone()).or_insert(0) += 1;
        }
        let gram = gram_of(&tuples, k, None);
        for method in [
            Method::RelativeWeights,
            Method::Shapley {
                exact_up_to: 20,
                permutations: 2,
                seed: 0,
            },
        ] {
            let forms = influence_forms(&gram, p, method).unwrap();
            let ours = acceleration_from_tuples(&forms, &tuples, k);
            // The delete-one jackknife over the rows (Efron & Tibshirani 1993, eq. 14.15).
            let n: f64 = tuples.values().sum::<u64>() as f64;
            let theta: Vec<(f64, Vec<f64>)> = tuples
                .iter()
                .map(|(t, &c)| {
                    let g = gram_of(&tuples, k, Some(t));
                    let f = fit(&moments(&g).correlation, p, method).unwrap();
                    (c as f64, outputs(&f))
                })
                .collect();
            for o in 0..=p {
                let mean = theta.iter().map(|(c, v)| c * v[o]).sum::<f64>() / n;
                let (s2, s3) = theta.iter().fold((0.0, 0.0), |(s2, s3), (c, v)| {
                    let u = mean - v[o];
                    (s2 + c * u * u, s3 + c * u * u * u)
                });
                let jackknife = acceleration(s3, s2).unwrap();
                let a = ours[o].unwrap();
                // They differ by O(1/n) terms (measured: 0.3-5 %, a near 1e-3 or below).
                assert!(
                    (a - jackknife).abs() < 0.03 * jackknife.abs() + 5e-5,
                    "{method:?} output {o}: influence {a} vs jackknife {jackknife}"
                );
            }
        }
    }

    #[test]
    fn replicate_acceleration_estimates_the_exact_one() {
        let (p, k, b) = (3, 5, 4000);
        let mut tuples = Tuples::default();
        let mut t = Vec::new();
        for r in rows(2000) {
            tuple_of(r.into_iter(), None, &mut t);
            *tuples.entry(t.clone()).or_insert(0) += 1;
        }
        let gram = gram_of(&tuples, k, None);
        let forms = influence_forms(&gram, p, Method::RelativeWeights).unwrap();
        let exact = acceleration_from_tuples(&forms, &tuples, k);
        let replicates = crate::drivers::tuples::Draws::new(&tuples, k, 3, b"").grams(b);
        let estimate = acceleration_from_replicates(&forms, &gram, &replicates);
        for (e, x) in estimate.iter().zip(&exact) {
            // Sample skewness over B replicates has sd ≈ √(6 / B); a is a sixth of it.
            let sd = (6.0 / b as f64).sqrt() / 6.0;
            assert!((e.unwrap() - x.unwrap()).abs() < 4.0 * sd, "{e:?} vs {x:?}");
        }
    }

    /// The correlations of [y, x..] from a full k × k cross-product matrix (as [`moments`]).
    fn correlation_of(s: &[f64], k: usize) -> Vec<f64> {
        let d = k - 1;
        let cov = |a: usize, b: usize| s[(a + 1) * k + b + 1] - s[a + 1] * s[b + 1] / s[0];
        (0..d * d)
            .map(|i| {
                let (a, b) = (i / d, i % d);
                cov(a, b) / (cov(a, a) * cov(b, b)).sqrt()
            })
            .collect()
    }

    /// Weighted tuples [y, x1, x2, x3, w] (weights 0.5, 1 or 2.5, so tuples repeat).
    fn weighted_tuples(n: usize) -> Tuples {
        let mut tuples = Tuples::default();
        let mut t = Vec::new();
        for (i, r) in rows(n).into_iter().enumerate() {
            tuple_of(r.into_iter(), Some([0.5, 1.0, 2.5][i % 3]), &mut t);
            *tuples.entry(t.clone()).or_insert(0) += 1;
        }
        tuples
    }

    /// The delta-method se by brute force (the infinitesimal jackknife): each tuple's influence
    /// U_t / Σw = dθ/dε of the fit with ε more of that tuple's row, by central differences of
    /// the full refit, then √(Σ_t n_t (dθ/dε)²).
    fn brute_force_se(rows: &[(Vec<f64>, u64)], k: usize, p: usize, method: Method) -> Vec<f64> {
        let mut s = vec![0.0; k * k];
        let square = |terms: &[f64], times: f64, s: &mut [f64]| {
            let mut at = 0;
            for i in 0..k {
                for j in i..k {
                    s[i * k + j] += times * terms[at];
                    if i != j {
                        s[j * k + i] += times * terms[at];
                    }
                    at += 1;
                }
            }
        };
        for (terms, n) in rows {
            square(terms, *n as f64, &mut s);
        }
        let eps = 1e-3;
        let mut sums = vec![0.0; p + 1];
        for (terms, n) in rows.iter().filter(|(_, n)| *n > 0) {
            let at = |e: f64| {
                let mut moved = s.clone();
                square(terms, e, &mut moved);
                outputs(&fit(&correlation_of(&moved, k), p, method).unwrap())
            };
            let (up, down) = (at(eps), at(-eps));
            for (o, sum) in sums.iter_mut().enumerate() {
                let d = (up[o] - down[o]) / (2.0 * eps);
                *sum += *n as f64 * d * d;
            }
        }
        sums.into_iter().map(f64::sqrt).collect()
    }

    #[test]
    fn delta_se_matches_brute_force_influence_and_the_jackknife() {
        let (p, k) = (3, 5);
        let tuples = weighted_tuples(3000);
        let draws = crate::drivers::tuples::Draws::new(&tuples, k, 11, b"");
        let counts: Vec<u64> = draws.tuples().map(|(_, n)| n).collect();
        let gram = draws.gram_of_counts(&counts);
        for method in [
            Method::RelativeWeights,
            Method::Shapley {
                exact_up_to: 20,
                permutations: 2,
                seed: 0,
            },
        ] {
            let forms = influence_forms(&gram, p, method).unwrap();
            let se = delta_se(&forms, k, draws.tuples(), gram.sums[0].to_f64());
            let rows: Vec<(Vec<f64>, u64)> = draws.tuples().map(|(t, n)| (t.to_vec(), n)).collect();
            let brute = brute_force_se(&rows, k, p, method);
            // The delete-one jackknife over the rows (Efron & Tibshirani 1993, eq. 11.5).
            let full = outputs(&fit(&moments(&gram).correlation, p, method).unwrap());
            let n: f64 = rows.iter().map(|(_, n)| *n as f64).sum();
            let mut jack = vec![0.0; p + 1];
            let left_out: Vec<(f64, Vec<f64>)> = rows
                .iter()
                .map(|(terms, c)| {
                    let mut g = gram.clone();
                    for (s, &t) in g.sums.iter_mut().zip(terms) {
                        s.add_times(-t, 1);
                    }
                    let f = fit(&moments(&g).correlation, p, method).unwrap();
                    (*c as f64, outputs(&f))
                })
                .collect();
            for (o, j) in jack.iter_mut().enumerate() {
                let mean = left_out.iter().map(|(c, v)| c * v[o]).sum::<f64>() / n;
                let ss: f64 = left_out
                    .iter()
                    .map(|(c, v)| c * (v[o] - mean).powi(2))
                    .sum();
                *j = ((n - 1.0) / n * ss).sqrt();
            }
            for o in 0..=p {
                // Brute force differs by the central differences' O(ε²) and rounding (measured:
                // at most 2.2e-10 relative); the jackknife by O(1/n) terms (measured: 0.17-0.22 %).
                assert!(
                    (se[o] - brute[o]).abs() < 1e-7 * brute[o],
                    "{method:?} output {o}: {} vs brute force {}",
                    se[o],
                    brute[o]
                );
                assert!(
                    (se[o] - jack[o]).abs() < 0.01 * jack[o],
                    "{method:?} output {o}: {} vs jackknife {}",
                    se[o],
                    jack[o]
                );
                assert!(se[o] > 0.0 && se[o] < 0.1 && full[o].is_finite());
            }
            // A replicate's se uses its own Gram matrix (correlations, gradient) and counts.
            let mut counts = Vec::new();
            for r in 0..3 {
                draws.counts(r, &mut counts);
                let g = draws.gram(r);
                let forms = influence_forms(&g, p, method).unwrap();
                let rows_r: Vec<(Vec<f64>, u64)> = rows
                    .iter()
                    .zip(&counts)
                    .map(|((t, _), &m)| (t.clone(), m))
                    .collect();
                let se_r = delta_se(
                    &forms,
                    k,
                    rows_r.iter().map(|(t, m)| (t.as_slice(), *m)),
                    g.sums[0].to_f64(),
                );
                let brute_r = brute_force_se(&rows_r, k, p, method);
                for o in 0..=p {
                    assert!(
                        (se_r[o] - brute_r[o]).abs() < 1e-7 * brute_r[o],
                        "replicate {r} output {o}: {} vs {}",
                        se_r[o],
                        brute_r[o]
                    );
                    assert!(se_r[o] != se[o]);
                }
            }
        }
    }

    #[test]
    fn names_parse() {
        for (i, name) in Interval::NAMES.iter().enumerate() {
            let parsed = Interval::parse(name).unwrap();
            assert_eq!(
                parsed,
                [
                    Interval::Percentile,
                    Interval::Bc,
                    Interval::Bca,
                    Interval::Studentized
                ][i]
            );
        }
        assert!(Interval::parse("basic").is_err());
    }
}
