//! The Gram terms of a block of rows, summed exactly and fast, with the same result as adding
//! every term to a [`SignedSum`] one by one.
//!
//! A term fl(fl(w·c_i)·c_j) is split, error-free, into up to three parts on fixed binary grids
//! (h = (t + M) − M with M = 1.5·2^(G+52) rounds t to a multiple of 2^G; t − h is exact). The
//! grids are chosen from bounds on the block's terms so that each part's running sum over at
//! most 2^12 rows stays below 2^53 grid units: plain float additions are then exact, in any
//! order, so the loops run in SIMD lanes. Each level's block sum goes into the 256-bit sum once.
//! How many levels a column pair needs follows from the lowest bit its terms can have: one for
//! small integers (ratings and flags, unweighted), two for most weighted or continuous data.
//! Whatever the bound, the part left after the last level is checked to be zero; when it is not
//! (terms spanning more than ~2^75, or bits below the 2^-128 grid), that pair falls back to
//! per-term [`SignedSum::add`]. The result is therefore always the exact per-term sum.

use super::gram::Gram;
use super::signed_sum::SignedSum;

/// Rows summed per call of the level kernel: its exactness bound assumes at most 2^12.
const MAX_ROWS_LOG2: i32 = 12;
/// Bits between two levels' grids: a level's parts are below 2^(G+41) and their sum over 2^12
/// rows below 2^(G+53).
const LEVEL_STEP: i32 = 53 - MAX_ROWS_LOG2 - 1;
/// The finest grid [`SignedSum`] keeps (it truncates below).
const FINEST_GRID: i32 = -128;
const MAX_LEVELS: usize = 3;

/// What the level grids are chosen from: the largest magnitude, the smallest non-zero
/// magnitude, and whether every value is an integer.
#[derive(Clone, Copy, Debug)]
struct ColumnBounds {
    max: f64,
    min_nonzero: f64,
    integer: bool,
}

fn bounds(values: &[f64]) -> ColumnBounds {
    const LANES: usize = 8;
    // Adding and removing 2^52 rounds to an integer: a value below 2^52 that survives is one.
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    let (mut max, mut min, mut fraction) = ([0.0f64; LANES], [f64::INFINITY; LANES], [0.0; LANES]);
    let mut lane = |l: usize, v: f64| {
        let a = v.abs();
        max[l] = if a > max[l] { a } else { max[l] };
        let nz = if a == 0.0 { f64::INFINITY } else { a };
        min[l] = if nz < min[l] { nz } else { min[l] };
        let small = if a < TWO_52 { a } else { 0.5 };
        fraction[l] += ((small + TWO_52) - TWO_52 - small).abs();
    };
    let mut chunks = values.chunks_exact(LANES);
    for chunk in chunks.by_ref() {
        for (l, &v) in chunk.iter().enumerate() {
            lane(l, v);
        }
    }
    for &v in chunks.remainder() {
        lane(0, v);
    }
    ColumnBounds {
        max: max.iter().fold(0.0, |a, &b| a.max(b)),
        min_nonzero: min.iter().fold(f64::INFINITY, |a, &b| a.min(b)),
        integer: fraction.iter().all(|&f| f == 0.0),
    }
}

/// floor(log2(x)) for a positive normal float.
fn exponent(x: f64) -> i32 {
    ((x.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// The grids (finest last) for the products of columns with bounds `a` and `b`, or None when
/// every product is zero.
fn grids(a: ColumnBounds, b: ColumnBounds) -> Option<Vec<i32>> {
    let top = a.max * b.max;
    if top == 0.0 {
        return None;
    }
    if !top.is_normal() {
        return Some(Vec::new()); // outside the range the bounds below hold for: per term
    }
    // Every term is below 2^high (a rounded product exceeds the exact one by under one ulp).
    let high = exponent(top) + 2;
    let first = high - LEVEL_STEP;
    // The lowest set bit any term can have: a rounded product of a and b is a multiple of the
    // product of their lowest bits; bounded from the smallest magnitude otherwise.
    let smallest = a.min_nonzero * b.min_nonzero;
    let mut lowest = if smallest.is_normal() {
        exponent(smallest) - 1 - 52
    } else {
        FINEST_GRID - 1
    };
    if a.integer && b.integer {
        lowest = lowest.max(0);
    }
    let mut levels = 1;
    while levels < MAX_LEVELS && first - LEVEL_STEP * (levels as i32 - 1) > lowest {
        levels += 1;
    }
    // Never finer than the 256-bit sum's grid (it truncates there; terms with lower bits are
    // caught by the residual check and summed term by term).
    let last = (first - LEVEL_STEP * (levels as i32 - 1)).max(FINEST_GRID);
    Some(
        (0..levels)
            .map(|l| last + LEVEL_STEP * (levels - 1 - l) as i32)
            .collect(),
    )
}

/// Σ over rows of a[r]·b[r], split into the parts on each grid of `magic` (M = 1.5·2^(G+52)
/// per level); returns each level's sum and whether nothing was left below the last grid.
#[inline(always)]
fn level_sums<const L: usize>(a: &[f64], b: &[f64], magic: &[f64; L]) -> ([f64; L], bool) {
    const LANES: usize = 8;
    // Lane arrays kept in registers; each statement is one SIMD operation over the lanes.
    let mut acc = [[0.0f64; LANES]; L];
    let mut left = [0.0f64; LANES];
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (pa, pb) in ca.by_ref().zip(cb.by_ref()) {
        let mut x = [0.0f64; LANES];
        for l in 0..LANES {
            x[l] = pa[l] * pb[l];
        }
        for (level, sums) in acc.iter_mut().enumerate() {
            let m = magic[level];
            for l in 0..LANES {
                let h = (x[l] + m) - m;
                x[l] -= h;
                sums[l] += h;
            }
        }
        for l in 0..LANES {
            left[l] += x[l].abs();
        }
    }
    for (&pa, &pb) in ca.remainder().iter().zip(cb.remainder()) {
        let mut x = pa * pb;
        for (level, sums) in acc.iter_mut().enumerate() {
            let h = (x + magic[level]) - magic[level];
            x -= h;
            sums[0] += h;
        }
        left[0] += x.abs();
    }
    // Every partial sum of a level's parts is exact, so the lanes add in any order.
    let sums = acc.map(|lanes| lanes.iter().sum());
    (sums, left.iter().all(|&x| x == 0.0))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn level_sums_avx2<const L: usize>(
    a: &[f64],
    b: &[f64],
    magic: &[f64; L],
) -> ([f64; L], bool) {
    // The same arithmetic, compiled for wider lanes (no FMA: every product rounds as above).
    level_sums(a, b, magic)
}

fn dispatch<const L: usize>(a: &[f64], b: &[f64], magic: &[f64; L]) -> ([f64; L], bool) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { level_sums_avx2(a, b, magic) };
    }
    level_sums(a, b, magic)
}

/// The level sums of a·b on the grids `g`, or None when something was left below the last.
fn exact_levels<const L: usize>(a: &[f64], b: &[f64], g: [i32; L]) -> Option<Vec<f64>> {
    let magic = g.map(|g| 1.5 * 2f64.powi(g + 52));
    let (sums, exact) = dispatch(a, b, &magic);
    exact.then(|| sums.to_vec())
}

/// Adds Σ_r a[r]·b[r] (each product rounded once) to `sum`, exactly.
fn add_products(sum: &mut SignedSum, a: &[f64], b: &[f64], grids: &[i32]) {
    let levels = match *grids {
        [g1] => exact_levels(a, b, [g1]),
        [g1, g2] => exact_levels(a, b, [g1, g2]),
        [g1, g2, g3] => exact_levels(a, b, [g1, g2, g3]),
        _ => None,
    };
    match levels {
        Some(levels) => levels.into_iter().for_each(|s| sum.add(s, 1)),
        None => a.iter().zip(b).for_each(|(&x, &y)| sum.add(x * y, 1)),
    }
}

/// Adds rows to `gram`: `columns` are y, x1..xp of the rows (no missing values), `weights` their
/// weights (None: all 1). The same as [`super::gram::row_terms`] and [`Gram::add_terms`] row by
/// row, bit for bit.
pub fn add_rows(gram: &mut Gram, columns: &[&[f64]], weights: Option<&[f64]>) {
    let k = gram.k;
    debug_assert_eq!(columns.len() + 1, k);
    let n = columns.first().map_or(0, |c| c.len());
    let block = 1 << MAX_ROWS_LOG2;
    let ones = vec![1.0; block.min(n)];
    let mut scaled: Vec<Vec<f64>> = vec![Vec::with_capacity(block.min(n)); k];
    for start in (0..n).step_by(block) {
        let end = (start + block).min(n);
        let w = weights.map_or(&ones[..end - start], |w| &w[start..end]);
        // c = [1, y, x1..xp]; scaled[i] = w·c_i, so term (i, j) = scaled[i]·c_j.
        let c: Vec<&[f64]> = std::iter::once(&ones[..end - start])
            .chain(columns.iter().map(|col| &col[start..end]))
            .collect();
        for (i, s) in scaled.iter_mut().enumerate() {
            s.clear();
            s.extend(w.iter().zip(c[i]).map(|(w, v)| w * v));
        }
        let c_bounds: Vec<ColumnBounds> = c.iter().map(|v| bounds(v)).collect();
        let s_bounds: Vec<ColumnBounds> = scaled.iter().map(|v| bounds(v)).collect();
        let mut at = 0;
        for i in 0..k {
            for j in i..k {
                if let Some(g) = grids(s_bounds[i], c_bounds[j]) {
                    add_products(&mut gram.sums[at], &scaled[i], c[j], &g);
                }
                at += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::gram::{row_terms, triangle};
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64Mcg;

    fn per_row(columns: &[Vec<f64>], weights: Option<&[f64]>) -> Gram {
        let k = columns.len() + 1;
        let mut g = Gram::new(k);
        let mut terms = vec![0.0; triangle(k)];
        for r in 0..columns[0].len() {
            let c: Vec<f64> = std::iter::once(1.0)
                .chain(columns.iter().map(|x| x[r]))
                .collect();
            row_terms(weights.map_or(1.0, |w| w[r]), &c, &mut terms);
            g.add_terms(&terms, 1);
        }
        g
    }

    fn blocked(columns: &[Vec<f64>], weights: Option<&[f64]>) -> Gram {
        let mut g = Gram::new(columns.len() + 1);
        let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        add_rows(&mut g, &refs, weights);
        g
    }

    #[test]
    fn block_sums_equal_per_row_sums_bit_for_bit() {
        let mut rng = Pcg64Mcg::seed_from_u64(11);
        let n = 10_000; // more than one block, with a remainder
        let ratings = |rng: &mut Pcg64Mcg| -> Vec<f64> {
            (0..n).map(|_| rng.random_range(1..=5) as f64).collect()
        };
        let flags: Vec<f64> = (0..n).map(|_| rng.random_range(0..2) as f64).collect();
        let continuous: Vec<f64> = (0..n).map(|_| rng.random_range(-20.0..20.0)).collect();
        let spread: Vec<f64> = (0..n)
            .map(|_| rng.random_range(-1.0..1.0) * 2f64.powi(rng.random_range(-60..25)))
            .collect();
        let tiny: Vec<f64> = (0..n).map(|_| rng.random_range(-1e-30..1e-30)).collect();
        let lognormal: Vec<f64> = (0..n)
            .map(|_| rng.random_range(-1.5f64..1.5).exp())
            .collect();
        let integral_w: Vec<f64> = (0..n).map(|_| rng.random_range(1..4) as f64).collect();
        let cases: Vec<Vec<Vec<f64>>> = vec![
            vec![ratings(&mut rng), ratings(&mut rng), flags.clone()],
            vec![continuous.clone(), ratings(&mut rng), flags.clone()],
            vec![spread.clone(), continuous.clone()],
            vec![tiny.clone(), ratings(&mut rng)],
            vec![vec![0.0; n], ratings(&mut rng)],
        ];
        for (i, columns) in cases.iter().enumerate() {
            for w in [None, Some(&lognormal[..]), Some(&integral_w[..])] {
                assert_eq!(blocked(columns, w), per_row(columns, w), "case {i}");
            }
            // Short inputs (below one SIMD chunk) and empty ones.
            let short: Vec<Vec<f64>> = columns.iter().map(|c| c[..5].to_vec()).collect();
            assert_eq!(blocked(&short, None), per_row(&short, None));
            let empty: Vec<Vec<f64>> = columns.iter().map(|_| Vec::new()).collect();
            assert_eq!(blocked(&empty, None), Gram::new(columns.len() + 1));
        }
    }

    #[test]
    fn ratings_need_one_level_and_weighted_floats_two() {
        let ints = ColumnBounds {
            max: 5.0,
            min_nonzero: 1.0,
            integer: true,
        };
        assert_eq!(grids(ints, ints).unwrap().len(), 1);
        let weighted = ColumnBounds {
            max: 25.0,
            min_nonzero: 0.2,
            integer: false,
        };
        assert_eq!(grids(weighted, ints).unwrap().len(), 2);
        let zero = ColumnBounds {
            max: 0.0,
            min_nonzero: f64::INFINITY,
            integer: true,
        };
        assert!(grids(zero, ints).is_none());
    }
}
