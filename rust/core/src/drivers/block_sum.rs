//! The Gram terms of a block of rows, summed exactly and fast, with the same result as adding
//! every term to a [`SignedSum`] one by one.
//!
//! A term fl(fl(w·c_i)·c_j) is split, error-free, into parts on fixed binary grids
//! (h = (t + M) − M with M = 1.5·2^(G+52) rounds t to a multiple of 2^G; t − h is exact). The
//! grids are chosen from bounds on the block's terms (largest magnitude, lowest possible set
//! bit) so that each part's running sum over at most 2^12 rows stays below 2^53 grid units:
//! plain float additions are then exact, in any order, so the loops run in SIMD lanes. Each
//! level's block sum goes into the 256-bit sum once. When the bounds show every term is a
//! multiple of the last grid, what is left after the other levels is summed as it is (no split,
//! no check): small integers (ratings and flags, unweighted) take a plain sum of products, most
//! weighted or continuous data one split. Otherwise the part left after the last level is
//! checked to be zero; when it is not (terms spanning more than ~2^75, or bits below the 2^-128
//! grid), that pair falls back to per-term [`SignedSum::add`]. The result is therefore always
//! the exact per-term sum. The block is compiled for AVX-512 and AVX2 too, chosen at run time
//! (wider lanes change no bit: every lane's partial sum is exact).

use super::gram::Gram;
#[cfg(target_arch = "x86_64")]
use super::lanes::{Avx2, Avx512};
use super::lanes::{Lanes, Scalar};
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

/// The bounds of `values`, `U` vectors of lanes at a time.
#[inline(always)]
unsafe fn bounds<L: Lanes, const U: usize>(values: &[f64]) -> ColumnBounds {
    let step = L::N * U;
    let full = values.len() / step * step;
    let (mut max, mut min, mut fraction) = (
        [L::splat(0.0); U],
        [L::splat(f64::INFINITY); U],
        [L::splat(0.0); U],
    );
    let mut r = 0;
    while r < full {
        for u in 0..U {
            let a = L::load(values.get_unchecked(r + u * L::N..)).abs();
            max[u] = max[u].max(a);
            min[u] = min[u].min_nonzero(a);
            fraction[u] = fraction[u].add(a.fraction());
        }
        r += step;
    }
    let mut out = ColumnBounds {
        max: 0.0,
        min_nonzero: f64::INFINITY,
        integer: true,
    };
    let mut lanes = [0.0; 8];
    for u in 0..U {
        max[u].store(&mut lanes);
        out.max = lanes[..L::N].iter().fold(out.max, |a, &b| a.max(b));
        min[u].store(&mut lanes);
        out.min_nonzero = lanes[..L::N].iter().fold(out.min_nonzero, |a, &b| a.min(b));
        out.integer &= fraction[u].sum() == 0.0;
    }
    for &v in &values[full..] {
        let a = Scalar::splat(v).abs();
        out.max = out.max.max(v.abs());
        out.min_nonzero = Scalar::splat(out.min_nonzero).min_nonzero(a).sum();
        out.integer &= a.fraction().sum() == 0.0;
    }
    out
}

/// floor(log2(x)) for a positive normal float.
fn exponent(x: f64) -> i32 {
    ((x.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// How the products of one column pair are summed over a block: split at `at[..levels]`
/// (coarsest first; no levels: every term on its own, outside the range the bounds hold for).
/// Checked: what is left below the last grid must be zero (else per term). Unchecked: every
/// term is a multiple of the last grid, so the last level is what is left after the others,
/// summed as it is.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Grids {
    at: [i32; MAX_LEVELS],
    levels: usize,
    checked: bool,
}

#[cfg(test)]
impl Grids {
    fn len(&self) -> usize {
        self.levels
    }
}

/// The grids for the products of columns with bounds `a` and `b`, or None when every product
/// is zero.
fn grids(a: ColumnBounds, b: ColumnBounds) -> Option<Grids> {
    let top = a.max * b.max;
    if top == 0.0 {
        return None;
    }
    if !top.is_normal() {
        return Some(Grids {
            at: [0; MAX_LEVELS],
            levels: 0,
            checked: true,
        });
    }
    // Every term is below 2^high (a rounded product exceeds the exact one by under one ulp).
    let high = exponent(top) + 2;
    let first = high - LEVEL_STEP;
    // The lowest set bit any term can have: a rounded product of a and b is a multiple of the
    // product of their lowest bits; bounded from the smallest magnitude otherwise.
    let smallest = a.min_nonzero * b.min_nonzero;
    let integers = a.integer && b.integer;
    let bounded = smallest.is_normal() || integers;
    let mut lowest = if smallest.is_normal() {
        exponent(smallest) - 1 - 52
    } else {
        FINEST_GRID - 1
    };
    if integers {
        lowest = lowest.max(0);
    }
    let mut levels = 1;
    while levels < MAX_LEVELS && first - LEVEL_STEP * (levels as i32 - 1) > lowest {
        levels += 1;
    }
    // Never finer than the 256-bit sum's grid (it truncates there; terms with lower bits are
    // caught by the residual check and summed term by term).
    let last = (first - LEVEL_STEP * (levels as i32 - 1)).max(FINEST_GRID);
    let mut at = [0; MAX_LEVELS];
    for (l, g) in at.iter_mut().take(levels).enumerate() {
        *g = last + LEVEL_STEP * (levels - 1 - l) as i32;
    }
    // Every term a multiple of 2^lowest ≥ 2^last: the remainder after the levels above the
    // last is below 2^(last + 40) (every term below 2^(last + 41) with one level) and on the
    // 2^lowest grid, so its sum over 2^12 rows is below 2^53 units: exact as summed.
    let checked = !(bounded && lowest >= last);
    Some(Grids {
        at,
        levels,
        checked,
    })
}

/// Σ over rows of a[r]·b[r], split into the parts on each grid of `magic` (M = 1.5·2^(G+52)
/// per level): each level's sum, and what is left below the last: with `CHECK` the sum of its
/// magnitudes (zero when nothing is left), else its sum. `U` vectors of lanes per step, each
/// with its own accumulators, so the additions of one level do not wait on each other.
///
/// t = x + M lies in M's binade, where floats are 2^G apart, so its bit pattern is M's plus
/// the count of 2^G in h = t − M: a level sums those bit patterns as integers (wrapping, exact
/// in any order, off the float pipes) and removes the rows' M at the end.
#[inline(always)]
unsafe fn level_sums<L: Lanes, const U: usize, const S: usize, const CHECK: bool>(
    a: &[f64],
    b: &[f64],
    magic: [f64; S],
) -> ([f64; S], f64) {
    let n = a.len().min(b.len());
    let step = L::N * U;
    let full = n / step * step;
    let mut m = [L::splat(0.0); S];
    for level in 0..S {
        m[level] = L::splat(magic[level]);
    }
    let mut bits = [[L::splat(0.0); U]; S];
    let mut left = [L::splat(0.0); U];
    let mut r = 0;
    while r < full {
        for u in 0..U {
            let at = r + u * L::N;
            let mut x = L::load(a.get_unchecked(at..)).mul(L::load(b.get_unchecked(at..)));
            for level in 0..S {
                let t = x.add(m[level]);
                x = x.sub(t.sub(m[level]));
                bits[level][u] = bits[level][u].add_bits(t);
            }
            left[u] = left[u].add(if CHECK { x.abs() } else { x });
        }
        r += step;
    }
    // Σ h / 2^G = Σ bits(t) − rows · bits(M), below 2^53 in magnitude: exact as a float.
    let mut sums = [0.0; S];
    for level in 0..S {
        let mut units = 0u64;
        for lanes in &bits[level] {
            units = units.wrapping_add(lanes.sum_bits());
        }
        let units = units.wrapping_sub((full as u64).wrapping_mul(magic[level].to_bits()));
        let grid = magic[level] / 1.5 / 4_503_599_627_370_496.0; // M / (1.5 · 2^52) = 2^G
        sums[level] = units as i64 as f64 * grid;
    }
    let mut rest = 0.0;
    for lanes in left {
        rest += lanes.sum();
    }
    // Every partial sum of a level's parts is exact, so the rows left over add in any order.
    for r in full..n {
        let mut x = a[r] * b[r];
        for level in 0..S {
            let h = (x + magic[level]) - magic[level];
            x -= h;
            sums[level] += h;
        }
        rest += if CHECK { x.abs() } else { x };
    }
    (sums, rest)
}

/// The magic numbers of grids `g`: M = 1.5·2^(G+52).
#[inline(always)]
fn magic<const S: usize>(g: &[i32]) -> [f64; S] {
    let mut m = [0.0; S];
    for (out, &g) in m.iter_mut().zip(g) {
        *out = 1.5 * f64::from_bits(((g + 52 + 1023) as u64) << 52);
    }
    m
}

/// Adds Σ_r a[r]·b[r] (each product rounded once) to `sum`, exactly, on grids `g`.
#[inline(always)]
unsafe fn add_products<L: Lanes, const U: usize>(
    sum: &mut SignedSum,
    a: &[f64],
    b: &[f64],
    g: Grids,
) {
    let exact = match (g.levels, g.checked) {
        (1, false) => unchecked_levels::<L, U, 0>(sum, a, b, &g.at),
        (2, false) => unchecked_levels::<L, U, 1>(sum, a, b, &g.at),
        (3, false) => unchecked_levels::<L, U, 2>(sum, a, b, &g.at),
        (1, true) => checked_levels::<L, U, 1>(sum, a, b, &g.at),
        (2, true) => checked_levels::<L, U, 2>(sum, a, b, &g.at),
        (3, true) => checked_levels::<L, U, 3>(sum, a, b, &g.at),
        _ => false,
    };
    if !exact {
        for (&x, &y) in a.iter().zip(b) {
            sum.add(x * y, 1);
        }
    }
}

/// Unchecked levels: the sums of the `S` split levels and of what is left below them, added.
#[inline(always)]
unsafe fn unchecked_levels<L: Lanes, const U: usize, const S: usize>(
    sum: &mut SignedSum,
    a: &[f64],
    b: &[f64],
    grids: &[i32],
) -> bool {
    let (sums, rest) = level_sums::<L, U, S, false>(a, b, magic(grids));
    for s in sums {
        sum.add(s, 1);
    }
    sum.add(rest, 1);
    true
}

/// Checked levels: adds the level sums and returns true, or adds nothing and returns false
/// when something was left below the last grid.
#[inline(always)]
unsafe fn checked_levels<L: Lanes, const U: usize, const S: usize>(
    sum: &mut SignedSum,
    a: &[f64],
    b: &[f64],
    grids: &[i32],
) -> bool {
    let (sums, left) = level_sums::<L, U, S, true>(a, b, magic(grids));
    let exact = left == 0.0;
    if exact {
        for s in sums {
            sum.add(s, 1);
        }
    }
    exact
}

/// `out` = w·c, lane by lane.
#[inline(always)]
unsafe fn scale<L: Lanes>(w: &[f64], c: &[f64], out: &mut Vec<f64>) {
    let n = w.len().min(c.len());
    out.clear();
    out.resize(n, 0.0);
    let full = n / L::N * L::N;
    let mut r = 0;
    while r < full {
        let v = L::load(w.get_unchecked(r..)).mul(L::load(c.get_unchecked(r..)));
        v.store(out.get_unchecked_mut(r..));
        r += L::N;
    }
    for r in full..n {
        out[r] = w[r] * c[r];
    }
}

/// One block of at most 2^12 rows: `c` = [1, y, x1..xp], `scaled` the buffers for w·c_i.
#[inline(always)]
unsafe fn add_block<L: Lanes, const U: usize>(
    gram: &mut Gram,
    c: &[&[f64]],
    w: Option<&[f64]>,
    scaled: &mut [Vec<f64>],
) {
    let k = gram.k;
    // Plain loops, no closures: this is inlined into the callers compiled for wider lanes.
    let mut c_bounds = Vec::with_capacity(k);
    c_bounds.push(ColumnBounds {
        max: 1.0,
        min_nonzero: 1.0,
        integer: true,
    });
    for column in &c[1..] {
        c_bounds.push(bounds::<L, U>(column));
    }
    // Term (i, j) = s_i·c_j with s_i = w·c_i (c_i itself unweighted); the bounds of s_i follow
    // from those of w and c_i (rounding is monotone).
    let mut s_bounds = c_bounds.clone();
    if let Some(w) = w {
        let w_bounds = bounds::<L, U>(w);
        for i in 0..k {
            scale::<L>(w, c[i], &mut scaled[i]);
            s_bounds[i] = ColumnBounds {
                max: w_bounds.max * c_bounds[i].max,
                min_nonzero: w_bounds.min_nonzero * c_bounds[i].min_nonzero,
                integer: w_bounds.integer && c_bounds[i].integer,
            };
        }
    }
    let mut at = 0;
    for i in 0..k {
        let s: &[f64] = if w.is_some() { &scaled[i] } else { c[i] };
        for j in i..k {
            if let Some(g) = grids(s_bounds[i], c_bounds[j]) {
                add_products::<L, U>(&mut gram.sums[at], s, c[j], g);
            }
            at += 1;
        }
    }
}

/// The blocks of [`add_rows`], with lanes `L`, `U` vectors at a time.
#[inline(always)]
unsafe fn add_blocks<L: Lanes, const U: usize>(
    gram: &mut Gram,
    columns: &[&[f64]],
    weights: Option<&[f64]>,
) {
    let k = gram.k;
    debug_assert_eq!(columns.len() + 1, k);
    let n = columns.first().map_or(0, |c| c.len());
    let block = 1 << MAX_ROWS_LOG2;
    let ones = vec![1.0; block.min(n)];
    let mut scaled: Vec<Vec<f64>> = vec![Vec::with_capacity(block.min(n)); k];
    let mut c: Vec<&[f64]> = Vec::with_capacity(k);
    for start in (0..n).step_by(block) {
        let end = (start + block).min(n);
        c.clear();
        c.push(&ones[..end - start]);
        for column in columns {
            c.push(&column[start..end]);
        }
        let w = weights.map(|w| &w[start..end]);
        add_block::<L, U>(gram, &c, w, &mut scaled);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn add_blocks_avx512(gram: &mut Gram, columns: &[&[f64]], weights: Option<&[f64]>) {
    add_blocks::<Avx512, 2>(gram, columns, weights)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_blocks_avx2(gram: &mut Gram, columns: &[&[f64]], weights: Option<&[f64]>) {
    add_blocks::<Avx2, 4>(gram, columns, weights)
}

/// Adds rows to `gram`: `columns` are y, x1..xp of the rows (no missing values), `weights` their
/// weights (None: all 1). The same as [`super::gram::row_terms`] and [`Gram::add_terms`] row by
/// row, bit for bit, on any CPU (no FMA: every product rounds once, as specified).
pub fn add_rows(gram: &mut Gram, columns: &[&[f64]], weights: Option<&[f64]>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { add_blocks_avx512(gram, columns, weights) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { add_blocks_avx2(gram, columns, weights) };
        }
    }
    // SAFETY: plain floats need no instruction set.
    unsafe { add_blocks::<Scalar, 4>(gram, columns, weights) }
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

    /// Each instruction set this CPU has (and plain floats) gives the per-row sums bit for bit.
    #[test]
    fn every_lane_width_gives_the_same_bits() {
        type Kernel = unsafe fn(&mut Gram, &[&[f64]], Option<&[f64]>);
        let mut kernels: Vec<(&str, Kernel)> = vec![("scalar", add_blocks::<Scalar, 4>)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                kernels.push(("avx2", add_blocks_avx2));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                kernels.push(("avx512", add_blocks_avx512));
            }
        }
        let mut rng = Pcg64Mcg::seed_from_u64(12);
        let n = 9_001; // two full blocks and a remainder that is not a multiple of any width
        let ratings: Vec<f64> = (0..n).map(|_| rng.random_range(0..=10) as f64).collect();
        let continuous: Vec<f64> = (0..n).map(|_| rng.random_range(-20.0..20.0)).collect();
        let spread: Vec<f64> = (0..n)
            .map(|_| rng.random_range(-1.0..1.0) * 2f64.powi(rng.random_range(-90..25)))
            .collect();
        let mut sparse = ratings.clone();
        sparse.iter_mut().step_by(3).for_each(|v| *v = 0.0);
        let w: Vec<f64> = (0..n)
            .map(|_| rng.random_range(-1.0f64..1.0).exp())
            .collect();
        let columns = vec![ratings, continuous, spread, sparse];
        let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        for weights in [None, Some(&w[..])] {
            let want = per_row(&columns, weights);
            for (name, kernel) in &kernels {
                let mut got = Gram::new(columns.len() + 1);
                // SAFETY: each kernel was only listed when the CPU supports it.
                unsafe { kernel(&mut got, &refs, weights) };
                assert_eq!(got, want, "{name}, weighted: {}", weights.is_some());
            }
        }
    }

    #[test]
    fn exactness_is_proved_where_the_bounds_allow_it() {
        let bounds = |max: f64, min_nonzero: f64, integer: bool| ColumnBounds {
            max,
            min_nonzero,
            integer,
        };
        let ints = bounds(10.0, 1.0, true);
        let weighted = bounds(25.0, 0.2, false);
        // Small integers: one level, summed as they are; weighted floats: one split.
        assert!(!grids(ints, ints).unwrap().checked);
        let g = grids(weighted, ints).unwrap();
        assert_eq!((g.levels, g.checked), (2, false));
        // Terms spanning more than three levels, or with bits below the 2^-128 grid: checked.
        assert!(grids(bounds(1e20, 1e-20, false), ints).unwrap().checked);
        assert!(grids(bounds(1e-30, 1e-35, false), ints).unwrap().checked);
        assert!(grids(bounds(1.0, 1e-310, false), ints).unwrap().checked);
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
