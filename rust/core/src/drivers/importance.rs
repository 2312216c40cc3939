//! Importance of each driver from the correlation matrix of [y, x1..xp]: Johnson's relative
//! weights (Johnson 2000, Multivariate Behavioral Research 35(1)) and Shapley/LMG (Lindeman,
//! Merenda & Gold 1980; Grömping 2006, J. Stat. Softw. 17(1)). Both decompose the full model's R²:
//! the importances sum to it. The sign of a driver's effect is the sign of its coefficient in the
//! full model (standardised; same sign as the raw coefficient).

use rand::Rng;
use rayon::prelude::*;

use super::linalg::{backward_solve, cholesky, forward_solve, symmetric_eigen};
use crate::streams::block_rng;

/// Exact Shapley up to this many drivers (2^20 subsets); a sampled estimate above.
pub const EXACT_SHAPLEY_MAX: usize = 20;
/// Stream id of the permutation draws of sampled Shapley ("shapley").
const PERMUTATION_STREAM: u64 = 0x0073_6861_706c_6579;

/// How R² is decomposed among the drivers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Johnson's relative weights.
    RelativeWeights,
    /// Exact when p ≤ `exact_up_to`, else `permutations` random orders drawn from `seed`.
    Shapley {
        /// Largest p computed exactly (over all subsets).
        exact_up_to: usize,
        /// Random driver orders averaged above `exact_up_to` (at least 2 are used).
        permutations: usize,
        /// Seed of the permutation draws.
        seed: u64,
    },
}

/// One model's decomposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    /// R² of the full model.
    pub r2: f64,
    /// Each driver's share of R²; the shares sum to `r2`.
    pub importance: Vec<f64>,
    /// Standardised coefficients of the full model.
    pub coefficient: Vec<f64>,
    /// Monte Carlo standard error of each importance (sampled Shapley only).
    pub mc_error: Option<Vec<f64>>,
}

/// Why a model has no decomposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Singular {
    /// The drivers' correlation matrix is (numerically) singular: a driver is a linear
    /// combination of others.
    Collinear,
}

/// The drivers' correlations R_xx (p × p) and their correlations with y, r_xy, from the
/// correlation matrix `corr` of [y, x1..xp] ((p+1)², row-major).
pub(super) fn split_correlations(corr: &[f64], p: usize) -> (Vec<f64>, Vec<f64>) {
    let d = p + 1;
    let rxx: Vec<f64> = (1..d)
        .flat_map(|i| (1..d).map(move |j| (i, j)))
        .map(|(i, j)| corr[i * d + j])
        .collect();
    let rxy: Vec<f64> = (1..d).map(|i| corr[i * d]).collect();
    (rxx, rxy)
}

/// R² and the standardised coefficients β = R_xx⁻¹ r_xy of the model with every driver.
fn full_model(rxx: &[f64], rxy: &[f64], p: usize) -> Result<(f64, Vec<f64>), Singular> {
    let l = cholesky(rxx, p).ok_or(Singular::Collinear)?;
    let z = forward_solve(&l, p, rxy);
    let r2: f64 = z.iter().map(|v| v * v).sum();
    Ok((r2, backward_solve(&l, p, &z)))
}

/// The standardised coefficients of the model with every driver, from the correlation matrix
/// `corr` of [y, x1..xp] (what [`fit`] reports, without the decomposition).
pub(super) fn coefficients(corr: &[f64], p: usize) -> Option<Vec<f64>> {
    let (rxx, rxy) = split_correlations(corr, p);
    full_model(&rxx, &rxy, p).ok().map(|(_, beta)| beta)
}

/// The decomposition of R² for the correlation matrix `corr` of [y, x1..xp] ((p+1)², row-major).
pub fn fit(corr: &[f64], p: usize, method: Method) -> Result<Fit, Singular> {
    let (rxx, rxy) = split_correlations(corr, p);
    let (r2, coefficient) = full_model(&rxx, &rxy, p)?;
    let (importance, mc_error) = match method {
        Method::RelativeWeights => (relative_weights(&rxx, &rxy, p)?, None),
        Method::Shapley {
            exact_up_to,
            permutations,
            seed,
        } => {
            if p <= exact_up_to {
                (shapley_exact(&rxx, &rxy, p)?, None)
            } else {
                let (est, err) = shapley_sampled(&rxx, &rxy, p, permutations, seed)?;
                (est, Some(err))
            }
        }
    };
    Ok(Fit {
        r2,
        importance,
        coefficient,
        mc_error,
    })
}

/// Johnson's relative weights: with Rxx = VΛVᵀ, Λ* = VΛ^½Vᵀ (the correlations of the drivers
/// with their closest orthogonal counterparts Z), β = Λ*⁻¹ r_xy (y on Z), and
/// weight_j = Σ_k (Λ*_jk)² β_k².
fn relative_weights(rxx: &[f64], rxy: &[f64], p: usize) -> Result<Vec<f64>, Singular> {
    let (values, v) = symmetric_eigen(rxx, p);
    let top = values.last().copied().unwrap_or(0.0);
    if values[0].is_nan() || values[0] <= 1e-12 * top {
        return Err(Singular::Collinear);
    }
    let half = |j: usize, k: usize, power: f64| -> f64 {
        (0..p)
            .map(|i| v[j * p + i] * values[i].powf(power) * v[k * p + i])
            .sum()
    };
    let lambda_star: Vec<f64> = (0..p * p).map(|a| half(a / p, a % p, 0.5)).collect();
    let beta: Vec<f64> = (0..p)
        .map(|k| (0..p).map(|j| half(k, j, -0.5) * rxy[j]).sum())
        .collect();
    Ok((0..p)
        .map(|j| {
            (0..p)
                .map(|k| lambda_star[j * p + k].powi(2) * beta[k].powi(2))
                .sum()
        })
        .collect())
}

/// An incremental Cholesky factor of the drivers' correlations over a growing subset, with
/// z = L⁻¹ r_xy: each driver added costs one forward solve (O(s²)) instead of a fresh O(s³)
/// factorisation, and R² of the subset is Σ z².
pub(super) struct Factor<'a> {
    rxx: &'a [f64],
    rxy: &'a [f64],
    p: usize,
    /// Drivers in the order they were added.
    members: Vec<usize>,
    /// Row t holds the t-th added driver's row of L (length p, first t + 1 entries used).
    rows: Vec<f64>,
    z: Vec<f64>,
    r2: Vec<f64>,
}

impl<'a> Factor<'a> {
    pub(super) fn new(rxx: &'a [f64], rxy: &'a [f64], p: usize) -> Self {
        Self {
            rxx,
            rxy,
            p,
            members: Vec::with_capacity(p),
            rows: Vec::with_capacity(p * p),
            z: Vec::with_capacity(p),
            r2: vec![0.0],
        }
    }

    /// Adds driver `j`; returns the R² of the grown subset, or None (and adds nothing) when `j`
    /// is (numerically) a linear combination of the members.
    pub(super) fn push(&mut self, j: usize) -> Option<f64> {
        let (p, s) = (self.p, self.members.len());
        // The new row is written in place (no allocation per subset) and cut off again when
        // the driver is collinear.
        self.rows.resize((s + 1) * p, 0.0);
        let (done, row) = self.rows.split_at_mut(s * p);
        for (c, &i) in self.members.iter().enumerate() {
            let l_c = &done[c * p..c * p + c];
            let dot: f64 = l_c.iter().zip(&row[..c]).map(|(a, b)| a * b).sum();
            row[c] = (self.rxx[j * p + i] - dot) / done[c * p + c];
        }
        let d = self.rxx[j * p + j] - row[..s].iter().map(|v| v * v).sum::<f64>();
        if collinear(d, self.rxx[j * p + j]) {
            self.rows.truncate(s * p);
            return None;
        }
        row[s] = d.sqrt();
        let dot: f64 = row[..s].iter().zip(&self.z).map(|(a, b)| a * b).sum();
        let z = (self.rxy[j] - dot) / row[s];
        let r2 = self.r2[s] + z * z;
        self.members.push(j);
        self.z.push(z);
        self.r2.push(r2);
        Some(r2)
    }

    /// Removes the driver added last.
    pub(super) fn pop(&mut self) {
        if self.members.pop().is_some() {
            self.rows.truncate(self.members.len() * self.p);
            self.z.pop();
            self.r2.pop();
        }
    }

    /// The drivers in the order they were added.
    pub(super) fn members(&self) -> &[usize] {
        &self.members
    }

    /// The standardised coefficients β = R_SS⁻¹ r_S of the members (in the order they were
    /// added), into `beta`: one backward solve Lᵀβ = z.
    pub(super) fn coefficients(&self, beta: &mut Vec<f64>) {
        let (p, s) = (self.p, self.members.len());
        beta.clear();
        beta.resize(s, 0.0);
        for t in (0..s).rev() {
            let later: f64 = (t + 1..s).map(|u| self.rows[u * p + t] * beta[u]).sum();
            beta[t] = (self.z[t] - later) / self.rows[t * p + t];
        }
    }
}

/// Subtrees at least this large (in subsets) are split across threads.
const PARALLEL_SUBTREE: usize = 1 << 10;

/// One node of the subset tree, for the drivers 0..c that may still join it: the drivers'
/// correlations and their correlations with y, each with the node's members partialled out
/// (Schur complements: what the sweep operator leaves), in rows of stride p.
struct Partial {
    xx: Vec<f64>,
    xy: Vec<f64>,
}

impl Partial {
    fn new(p: usize) -> Self {
        Self {
            xx: vec![0.0; p * p],
            xy: vec![0.0; p],
        }
    }
}

/// Whether driver j's partial variance `d` leaves it (numerically) a linear combination of
/// the members (relative to its own variance `own`, as in the Cholesky factor's test).
fn collinear(d: f64, own: f64) -> bool {
    d.is_nan() || d <= 1e-12 * own.abs()
}

/// Fills `out` with the R² of the subsets S ∪ T for every non-empty T ⊆ {0..c−1}, where S (the
/// members, all ≥ c) has R² `r2` and `path[0]` holds its partial correlations of 0..c:
/// `out[m − 1]` is the R² of mask base(S) + m, m in 1..2^c. Driver j joins with the increment
/// xy_j² / xx_jj and its own subtree (the drivers below j) gets the partials with j swept out:
/// O(j²) per subset, where re-solving costs O(|S|²). NaN marks a collinear subset.
fn fill_subtree(path: &mut [Partial], own: &[f64], p: usize, c: usize, r2: f64, out: &mut [f64]) {
    debug_assert_eq!(out.len(), (1 << c) - 1);
    // The subsets whose lowest new driver is j take the 2^j masks base + 2^j .. base + 2^(j+1).
    let (node, below) = path.split_first_mut().expect("one partial per level");
    let node = &*node;
    let run = |below: &mut [Partial], j: usize, piece: &mut [f64]| {
        let d = node.xx[j * p + j];
        if collinear(d, own[j]) {
            piece.fill(f64::NAN);
            return;
        }
        let (g, inv) = (node.xy[j], 1.0 / d);
        let grown = r2 + g * g * inv;
        piece[0] = grown;
        if j == 0 {
            return;
        }
        // Sweep j out of the partials of 0..j (symmetric: the lower triangle, mirrored).
        let next = &mut below[0];
        for a in 0..j {
            let f = node.xx[a * p + j] * inv;
            for b in 0..=a {
                let v = node.xx[a * p + b] - f * node.xx[j * p + b];
                next.xx[a * p + b] = v;
                next.xx[b * p + a] = v;
            }
            next.xy[a] = node.xy[a] - f * g;
        }
        fill_subtree(below, own, p, j, grown, &mut piece[1..]);
    };
    let mut pieces = Vec::with_capacity(c);
    let mut rest = out;
    for j in 0..c {
        let (piece, tail) = rest.split_at_mut(1 << j);
        pieces.push((j, piece));
        rest = tail;
    }
    if (1usize << c) < PARALLEL_SUBTREE {
        for (j, piece) in pieces {
            run(below, j, piece);
        }
        return;
    }
    rayon::scope(|scope| {
        for (j, piece) in pieces {
            scope.spawn(move |_| {
                let mut own_path: Vec<Partial> = (0..j).map(|_| Partial::new(p)).collect();
                run(&mut own_path, j, piece);
            });
        }
    });
}

/// R² of every subset of the p drivers, indexed by mask (bit j = driver j); None when a subset's
/// drivers are collinear.
fn all_subset_r2(rxx: &[f64], rxy: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut r2 = vec![0.0; 1 << p];
    let mut path: Vec<Partial> = (0..=p).map(|_| Partial::new(p)).collect();
    path[0].xx.copy_from_slice(&rxx[..p * p]);
    path[0].xy.copy_from_slice(&rxy[..p]);
    let own: Vec<f64> = (0..p).map(|j| rxx[j * p + j]).collect();
    fill_subtree(&mut path, &own, p, p, 0.0, &mut r2[1..]);
    r2.iter().all(|v| !v.is_nan()).then_some(r2)
}

/// The weight of a subset of size s in driver j's Shapley sum, 1 / (p · C(p − 1, s)), for
/// s in 0..p.
pub(super) fn shapley_weights(p: usize) -> Vec<f64> {
    let mut binomial = vec![1.0f64; p];
    for s in 1..p {
        binomial[s] = binomial[s - 1] * (p - s) as f64 / s as f64;
    }
    binomial.iter().map(|c| 1.0 / (p as f64 * c)).collect()
}

/// Exact Shapley/LMG: importance_j = Σ_{S ∌ j} |S|!(p−|S|−1)!/p! · [R²(S ∪ {j}) − R²(S)], from the
/// R² of all 2^p subsets (computed in parallel from the correlations, no refit over rows).
fn shapley_exact(rxx: &[f64], rxy: &[f64], p: usize) -> Result<Vec<f64>, Singular> {
    let r2 = all_subset_r2(rxx, rxy, p).ok_or(Singular::Collinear)?;
    let weight = shapley_weights(p);
    Ok((0..p)
        .into_par_iter()
        .map(|j| {
            // The masks without bit j: runs of 2^j below each multiple of 2^(j+1).
            let bit = 1usize << j;
            let mut total = 0.0;
            for high in (0..1usize << p).step_by(bit << 1) {
                for m in high..high + bit {
                    total += weight[m.count_ones() as usize] * (r2[m | bit] - r2[m]);
                }
            }
            total
        })
        .collect())
}

/// Sampled Shapley: the mean over `permutations` random driver orders of each driver's R²
/// increment when it enters, with the Monte Carlo standard error sd/√M. Each order's increments
/// sum to the full R², so the estimates do too. Permutation i draws from its own generator
/// (seed, stream, i): the result does not depend on the thread count.
fn shapley_sampled(
    rxx: &[f64],
    rxy: &[f64],
    p: usize,
    permutations: usize,
    seed: u64,
) -> Result<(Vec<f64>, Vec<f64>), Singular> {
    let permutations = permutations.max(2);
    let increments: Vec<Option<Vec<f64>>> = (0..permutations)
        .into_par_iter()
        .map(|i| {
            let mut rng = block_rng(seed, PERMUTATION_STREAM, i as u64);
            let mut order: Vec<usize> = (0..p).collect();
            for a in (1..p).rev() {
                let b = rng.random_range(0..=a);
                order.swap(a, b);
            }
            permutation_increments(rxx, rxy, p, &order)
        })
        .collect();
    let increments: Vec<Vec<f64>> = increments
        .into_iter()
        .collect::<Option<_>>()
        .ok_or(Singular::Collinear)?;
    let m = increments.len() as f64;
    let mean: Vec<f64> = (0..p)
        .map(|j| increments.iter().map(|v| v[j]).sum::<f64>() / m)
        .collect();
    let error = (0..p)
        .map(|j| {
            let var = increments
                .iter()
                .map(|v| (v[j] - mean[j]).powi(2))
                .sum::<f64>()
                / (m - 1.0);
            (var / m).sqrt()
        })
        .collect();
    Ok((mean, error))
}

/// R² increments of the drivers entering in `order` (each driver's increment when it enters).
fn permutation_increments(rxx: &[f64], rxy: &[f64], p: usize, order: &[usize]) -> Option<Vec<f64>> {
    let mut factor = Factor::new(rxx, rxy, p);
    let mut out = vec![0.0; p];
    let mut before = 0.0;
    for &j in order {
        let r2 = factor.push(j)?;
        out[j] = r2 - before;
        before = r2;
    }
    Some(out)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use rand::Rng;

    /// Correlations ((p+1)², row-major) of [y, x] from `n` random rows with a shared factor.
    pub(in crate::drivers) fn random_corr(p: usize, n: usize, rng: &mut impl Rng) -> Vec<f64> {
        let d = p + 1;
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| {
                let common: f64 = rng.random_range(-1.0..1.0);
                (0..d)
                    .map(|_| common + rng.random_range(-1.0..1.0))
                    .collect()
            })
            .collect();
        let mean: Vec<f64> = (0..d)
            .map(|i| rows.iter().map(|r| r[i]).sum::<f64>() / n as f64)
            .collect();
        let cov = |i: usize, j: usize| -> f64 {
            rows.iter()
                .map(|r| (r[i] - mean[i]) * (r[j] - mean[j]))
                .sum()
        };
        (0..d * d)
            .map(|a| cov(a / d, a % d) / (cov(a / d, a / d) * cov(a % d, a % d)).sqrt())
            .collect()
    }

    fn corr3() -> Vec<f64> {
        // y, x1, x2, x3 with modest correlations.
        vec![
            1.0, 0.5, 0.4, 0.3, //
            0.5, 1.0, 0.3, 0.2, //
            0.4, 0.3, 1.0, 0.1, //
            0.3, 0.2, 0.1, 1.0,
        ]
    }

    #[test]
    fn importances_sum_to_r2() {
        let shapley = Method::Shapley {
            exact_up_to: 20,
            permutations: 4000,
            seed: 1,
        };
        for method in [Method::RelativeWeights, shapley] {
            let f = fit(&corr3(), 3, method).unwrap();
            let total: f64 = f.importance.iter().sum();
            assert!((total - f.r2).abs() < 1e-14, "{method:?}");
            assert!(f.importance.iter().all(|&v| v > 0.0));
        }
        // Sampled Shapley agrees with the exact one within a few Monte Carlo errors.
        let exact = fit(&corr3(), 3, shapley).unwrap();
        let sampled = fit(
            &corr3(),
            3,
            Method::Shapley {
                exact_up_to: 0,
                permutations: 4000,
                seed: 1,
            },
        )
        .unwrap();
        let err = sampled.mc_error.clone().unwrap();
        for ((e, s), err) in exact.importance.iter().zip(&sampled.importance).zip(&err) {
            assert!((e - s).abs() < 5.0 * err + 1e-12);
        }
        assert!((sampled.importance.iter().sum::<f64>() - exact.r2).abs() < 1e-12);
    }

    #[test]
    fn subset_r2_by_extension_equals_a_fresh_solve_per_subset() {
        use crate::drivers::linalg::{cholesky, forward_solve};
        use rand::SeedableRng;
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        for p in [1, 2, 5, 11] {
            let corr = random_corr(p, 200, &mut rng);
            let (rxx, rxy) = split_correlations(&corr, p);
            let all = all_subset_r2(&rxx, &rxy, p).unwrap();
            for (mask, &extended) in all.iter().enumerate().skip(1) {
                let idx: Vec<usize> = (0..p).filter(|&j| mask >> j & 1 == 1).collect();
                let s = idx.len();
                let sub: Vec<f64> = idx
                    .iter()
                    .flat_map(|&i| idx.iter().map(move |&j| (i, j)))
                    .map(|(i, j)| rxx[i * p + j])
                    .collect();
                let r: Vec<f64> = idx.iter().map(|&i| rxy[i]).collect();
                let l = cholesky(&sub, s).unwrap();
                let fresh: f64 = forward_solve(&l, s, &r).iter().map(|v| v * v).sum();
                assert!((extended - fresh).abs() < 1e-13, "p={p} mask={mask}");
            }
        }
        // A collinear pair makes every subset holding both singular.
        let rxx = [1.0, 1.0, 0.2, 1.0, 1.0, 0.2, 0.2, 0.2, 1.0];
        assert!(all_subset_r2(&rxx, &[0.3, 0.3, 0.1], 3).is_none());
    }

    #[test]
    fn uncorrelated_drivers_get_their_squared_correlations() {
        let corr = vec![1.0, 0.6, -0.3, 0.6, 1.0, 0.0, -0.3, 0.0, 1.0];
        for method in [
            Method::RelativeWeights,
            Method::Shapley {
                exact_up_to: 20,
                permutations: 10,
                seed: 0,
            },
        ] {
            let f = fit(&corr, 2, method).unwrap();
            assert!((f.importance[0] - 0.36).abs() < 1e-15);
            assert!((f.importance[1] - 0.09).abs() < 1e-15);
            assert!(f.coefficient[1] < 0.0);
        }
        let collinear = vec![1.0, 0.5, 0.5, 0.5, 1.0, 1.0, 0.5, 1.0, 1.0];
        assert_eq!(
            fit(&collinear, 2, Method::RelativeWeights),
            Err(Singular::Collinear)
        );
    }
}
