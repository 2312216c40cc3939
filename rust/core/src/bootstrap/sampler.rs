//! Resampling machinery: one RNG per block of resamples, and the exact multinomial draw.

use rand::Rng;
use rand_distr::{Binomial, Distribution};
use rand_pcg::Pcg64;
use rayon::prelude::*;

use super::Degenerate;
use crate::cancel;
use crate::streams::block_rng;

/// Resamples per RNG block. Part of the reproducibility contract: changing it changes every
/// bootstrap result for a given seed.
pub const BLOCK_SIZE: usize = 256;

/// Largest total count accepted. Up to 2^53 every count is exact as the f64 the statistic
/// receives, and the binomial sampler works far from its integer limits.
pub const MAX_TOTAL: u64 = 1 << 53;

/// Exact sampler of Multinomial(n, counts / n), which is the law of the category counts of n
/// rows drawn with replacement from the observed rows.
///
/// Draws it as a chain of conditional binomials: X_j ~ Bin(n − X_1 − … − X_{j−1},
/// c_j / (c_j + … + c_k)), the last non-empty category taking the remainder. O(k) per draw
/// whatever n is.
///
/// Stream version 3 (see `docs/performance.md`, *Bootstrap*): each binomial is drawn by
/// inversion from tables built once per group ([`BinomialTable`]), not by BTPE. The first
/// step's n is fixed: one table. A later step's n = m varies from draw to draw; the tables cover
/// the range [m₀, m₀ + D] that the earlier steps' draws fall in with probability at least
/// 1 − 2·10⁻¹⁰ each ([`LIKELY_TAIL`]), and Bin(m, p) = Bin(m₀ + e·S, p) + Bin(d, p) for
/// m − m₀ = e·S + d, 0 ≤ d < S (a sum of independent binomials with one p is the binomial of
/// the summed n): one table per base m₀ + e·S and one per d, two draws. The stride S, a power
/// of two near (D·table size)^⅓, balances the two kinds of table. A step whose tables would be
/// too large (n beyond ≈ 10⁸ in a group) and any draw outside the covered range use BTPE
/// (`rand_distr::Binomial`), which is exact too. Version 2 wrote m − m₀ in base-32 digits, one
/// table draw per digit (three draws for a later step instead of two).
#[derive(Clone, Debug)]
pub struct Multinomial {
    total: u64,
    /// For every non-empty category but the last: how to draw it.
    steps: Vec<Step>,
    /// The last non-empty category (None when n = 0): it takes the draws that are left.
    last: Option<usize>,
}

/// Largest stride between base tables: 2^8 (the low tables draw Bin(d, p), d < 256).
const MAX_STRIDE_SHIFT: u32 = 8;
/// At most this many base tables per step; wider ranges of m use BTPE.
const MAX_BASES: u64 = 64;
/// A step's tables cover the values of m that the earlier steps give with probability at least
/// 1 − 2·this (each table's lower and upper tail beyond its `likely` range); the other draws
/// (about one in 10⁹) use BTPE.
const LIKELY_TAIL: f64 = 1e-10;
/// Largest inversion table (entries); wider binomials use BTPE.
const MAX_TABLE: usize = 1 << 16;
/// Values whose probability is below this fraction of the mode's are left out of a table
/// (their total mass is below 10⁻²⁰, far below the 2⁻⁵³ resolution of the uniform draw).
const TAIL_CUTOFF: f64 = 2.6e-23; // ≈ 2^-75

#[derive(Clone, Debug)]
struct Step {
    category: usize,
    /// Conditional probability of this category given the ones before, in (0, 1).
    p: f64,
    /// Tables, when the step can use them.
    tables: Option<StepTables>,
}

#[derive(Clone, Debug)]
struct StepTables {
    /// Smallest n this step's tables cover.
    m0: u64,
    /// Largest m − m₀ they cover.
    width: u64,
    /// log2 of the stride S between base tables.
    shift: u32,
    /// bases[e] draws Bin(m₀ + e·S, p).
    bases: Vec<BinomialTable>,
    /// low[d − 1] draws Bin(d, p), d = 1 .. min(S, width + 1).
    low: Vec<BinomialTable>,
}

/// Inversion table of Bin(n, p) for a fixed (n, p): the CDF over the values whose probability
/// is at least [`TAIL_CUTOFF`] times the mode's, computed by the ratio recurrence from the
/// mode and normalised over that window, plus a guide table (Chen & Asau 1974) so that a draw
/// is one uniform, one multiply and, on average, about two comparisons.
#[derive(Clone, Debug)]
pub struct BinomialTable {
    /// The smallest value in the table.
    low: u64,
    /// cdf[i] = P(X ≤ low + i); the last entry is exactly 1.
    cdf: Vec<f64>,
    /// guide[g] = smallest i with cdf[i] > g / guide.len().
    guide: Vec<u32>,
}

impl BinomialTable {
    /// None when the table would exceed [`MAX_TABLE`] entries. `p` must be in [0, 1].
    pub fn new(n: u64, p: f64) -> Option<Self> {
        if n == 0 || p <= 0.0 {
            return Some(Self::point(0));
        }
        if p >= 1.0 {
            return Some(Self::point(n));
        }
        let nf = n as f64;
        let mode = (((nf + 1.0) * p).floor() as u64).min(n);
        let odds = p / (1.0 - p);
        // Weights relative to the mode: w(x + 1) = w(x)·(n − x)/(x + 1)·odds.
        let mut below = Vec::new();
        let (mut w, mut x) = (1.0f64, mode);
        while x > 0 {
            w *= x as f64 / ((n - x + 1) as f64 * odds);
            if w < TAIL_CUTOFF {
                break;
            }
            below.push(w);
            x -= 1;
            if below.len() > MAX_TABLE {
                return None;
            }
        }
        let low = mode - below.len() as u64;
        let mut weights: Vec<f64> = below.into_iter().rev().collect();
        weights.push(1.0);
        let (mut w, mut x) = (1.0f64, mode);
        while x < n {
            w *= (n - x) as f64 / (x + 1) as f64 * odds;
            if w < TAIL_CUTOFF {
                break;
            }
            weights.push(w);
            x += 1;
            if weights.len() > MAX_TABLE {
                return None;
            }
        }
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = weights
            .iter()
            .map(|&w| {
                acc += w;
                acc / total
            })
            .collect();
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Some(Self::from_cdf(low, cdf))
    }

    fn point(value: u64) -> Self {
        Self::from_cdf(value, vec![1.0])
    }

    fn from_cdf(low: u64, cdf: Vec<f64>) -> Self {
        let g_len = cdf.len();
        let mut guide = Vec::with_capacity(g_len);
        let mut i = 0usize;
        for g in 0..g_len {
            let level = g as f64 / g_len as f64;
            while cdf[i] <= level {
                i += 1;
            }
            guide.push(i as u32);
        }
        BinomialTable { low, cdf, guide }
    }

    /// Largest value the table can return.
    #[cfg(test)]
    fn high(&self) -> u64 {
        self.low + self.cdf.len() as u64 - 1
    }

    /// The values drawn with probability at least 1 − 2·[`LIKELY_TAIL`]: (a, b) with
    /// P(X < a) ≤ LIKELY_TAIL and P(X > b) ≤ LIKELY_TAIL.
    fn likely(&self) -> (u64, u64) {
        let a = self.cdf.partition_point(|&c| c <= LIKELY_TAIL);
        let b = self.cdf.partition_point(|&c| c < 1.0 - LIKELY_TAIL);
        let last = self.cdf.len() - 1;
        (self.low + a.min(last) as u64, self.low + b.min(last) as u64)
    }

    /// One draw: the smallest x with P(X ≤ x) > u, u uniform on [0, 1) with 53 bits.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let mut i = self.guide[(u * self.guide.len() as f64) as usize] as usize;
        // cdf's last entry is 1 > u, so the scan stops inside the table.
        while self.cdf[i] <= u {
            i += 1;
        }
        self.low + i as u64
    }
}

impl StepTables {
    /// Tables for Bin(m, p) with m in [m_low, m_high]; None when they would be too large.
    fn new(m_low: u64, m_high: u64, p: f64) -> Option<Self> {
        let first = BinomialTable::new(m_low, p)?;
        let width = m_high - m_low;
        // S ≈ (width · table size)^⅓ minimises the entries: width/S base tables of about the
        // table size each, against ≈ S²/2 for the low tables Bin(1..S, p).
        let size = first.cdf.len() as f64;
        let mut shift =
            ((width as f64 * size).cbrt().log2().round().max(0.0) as u32).min(MAX_STRIDE_SHIFT);
        while (width >> shift) >= MAX_BASES {
            if shift == MAX_STRIDE_SHIFT {
                return None;
            }
            shift += 1;
        }
        let mut bases = Vec::with_capacity((width >> shift) as usize + 1);
        bases.push(first);
        for e in 1..=(width >> shift) {
            bases.push(BinomialTable::new(m_low + (e << shift), p)?);
        }
        let low = (1..(1u64 << shift).min(width + 1))
            .map(|d| BinomialTable::new(d, p))
            .collect::<Option<Vec<_>>>()?;
        Some(StepTables {
            m0: m_low,
            width,
            shift,
            bases,
            low,
        })
    }

    /// The values a draw returns with probability at least 1 − 4·[`LIKELY_TAIL`] for any m
    /// the tables cover (from the smallest base's lower tail to the largest's upper tail plus
    /// the largest low table's).
    fn likely(&self) -> (u64, u64) {
        let below = self.bases[0].likely().0;
        let above = self.bases[self.bases.len() - 1].likely().1
            + self.low.last().map_or(0, |t| t.likely().1);
        (below, above)
    }

    /// Bin(m, p) as one base draw plus one low draw; None when m is outside the tables.
    #[inline]
    fn sample<R: Rng + ?Sized>(&self, m: u64, rng: &mut R) -> Option<u64> {
        let rest = m.checked_sub(self.m0)?;
        if rest > self.width {
            return None;
        }
        let d = (rest & ((1u64 << self.shift) - 1)) as usize;
        let x = self.bases[(rest >> self.shift) as usize].sample(rng);
        Some(if d > 0 {
            x + self.low[d - 1].sample(rng)
        } else {
            x
        })
    }
}

impl Step {
    #[inline]
    fn sample<R: Rng + ?Sized>(&self, left: u64, rng: &mut R) -> u64 {
        if let Some(x) = self.tables.as_ref().and_then(|t| t.sample(left, rng)) {
            return x.min(left);
        }
        // p is in (0, 1) by construction, so `new` cannot fail; if it ever did, giving the
        // category everything left keeps the draw a valid count vector instead of panicking.
        match Binomial::new(left, self.p) {
            Ok(bin) => bin.sample(rng).min(left),
            Err(_) => left,
        }
    }
}

impl Multinomial {
    /// Err(TooLarge) for n > [`MAX_TOTAL`] (including sums beyond u64). n = 0 is accepted: its
    /// only draw is the empty histogram.
    pub fn new(counts: &[u64]) -> Result<Self, Degenerate> {
        let total: u128 = counts.iter().map(|&c| u128::from(c)).sum();
        if total > u128::from(MAX_TOTAL) {
            return Err(Degenerate::TooLarge);
        }
        let total = total as u64;
        let nonzero: Vec<usize> = (0..counts.len()).filter(|&j| counts[j] > 0).collect();
        let (last, rest) = match nonzero.split_last() {
            Some((&last, rest)) => (Some(last), rest),
            None => (None, &[][..]),
        };
        let mut remaining = total;
        // The range of n the next step likely sees, as far as the tables bound it.
        let (mut left_low, mut left_high) = (total, total);
        let mut steps = Vec::with_capacity(rest.len());
        for &j in rest {
            // Both operands are exact in f64 (≤ 2^53), so p is the correctly rounded ratio.
            let p = counts[j] as f64 / remaining as f64;
            remaining -= counts[j];
            let tables = StepTables::new(left_low, left_high, p);
            match &tables {
                // The next step's tables cover the n its draws likely see (the rest: BTPE).
                Some(t) => {
                    let (x_low, x_high) = t.likely();
                    left_low = left_low.saturating_sub(x_high);
                    left_high = left_high.saturating_sub(x_low).max(left_low);
                }
                // Without tables this step's value is unbounded: so is the next step's n.
                None => left_low = 0,
            }
            steps.push(Step {
                category: j,
                p,
                tables,
            });
        }
        Ok(Multinomial { total, steps, last })
    }

    /// Why the bootstrap is degenerate: Empty for n = 0, otherwise why every draw equals the
    /// observed counts, if it does.
    pub fn degenerate(&self) -> Option<Degenerate> {
        if self.total == 0 {
            Some(Degenerate::Empty)
        } else if self.total == 1 {
            Some(Degenerate::SingleResponse)
        } else if self.steps.is_empty() {
            Some(Degenerate::SingleCategory)
        } else {
            None
        }
    }

    /// Writes one draw into `out` (length ≥ the number of categories) as f64 counts.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        out.fill(0.0);
        let mut left = self.total;
        for step in &self.steps {
            if left == 0 {
                return;
            }
            let x = step.sample(left, rng);
            out[step.category] = x as f64;
            left -= x;
        }
        if let Some(j) = self.last {
            out[j] = left as f64;
        }
    }
}

/// Fills `n_resamples` values, block b (resamples b·BLOCK_SIZE ..) from `block_rng(seed, stream,
/// b)`, blocks in parallel. `one` computes a resampled statistic from the block RNG and a
/// scratch buffer of `scratch_len` values.
pub fn generate<F>(
    n_resamples: usize,
    seed: u64,
    stream: u64,
    scratch_len: usize,
    one: F,
) -> Vec<f64>
where
    F: Fn(&mut Pcg64, &mut [f64]) -> f64 + Sync,
{
    fill_blocks(n_resamples, seed, stream, scratch_len, f64::NAN, one)
}

/// [`generate`] for any value type: a cancelled call fills the rest with `cancelled`.
pub fn fill_blocks<T, F>(
    n_resamples: usize,
    seed: u64,
    stream: u64,
    scratch_len: usize,
    cancelled: T,
    one: F,
) -> Vec<T>
where
    T: Copy + Send + Sync,
    F: Fn(&mut Pcg64, &mut [f64]) -> T + Sync,
{
    let mut out = vec![cancelled; n_resamples];
    out.par_chunks_mut(BLOCK_SIZE).enumerate().for_each_init(
        || vec![0.0; scratch_len],
        |scratch, (block, chunk)| {
            let mut rng = block_rng(seed, stream, block as u64);
            for value in chunk {
                // A cancelled call discards its result: skip the remaining resamples.
                if cancel::requested() {
                    return;
                }
                *value = one(&mut rng, scratch);
            }
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::function::gamma::ln_gamma;

    /// The exact Bin(n, p) pmf through the log-gamma function (independent of the tables'
    /// ratio recurrence).
    fn pmf(n: u64, p: f64, x: u64) -> f64 {
        let (nf, xf) = (n as f64, x as f64);
        (ln_gamma(nf + 1.0) - ln_gamma(xf + 1.0) - ln_gamma(nf - xf + 1.0)
            + xf * p.ln()
            + (nf - xf) * (1.0 - p).ln())
        .exp()
    }

    /// Pearson chi-square of `draws` against Bin(n, p), cells with an expected count below 5
    /// pooled into the two tails. Returns (statistic, degrees of freedom).
    fn chi_square(draws: &[u64], n: u64, p: f64) -> (f64, usize) {
        let r = draws.len() as f64;
        let mut observed = vec![0u64; n as usize + 1];
        for &x in draws {
            observed[x as usize] += 1;
        }
        let expected: Vec<f64> = (0..=n).map(|x| r * pmf(n, p, x)).collect();
        // Cells [lo, hi] with expected ≥ 5 stay; the rest pool into the two tails.
        let lo = expected.iter().position(|&e| e >= 5.0).unwrap();
        let hi = expected.iter().rposition(|&e| e >= 5.0).unwrap();
        let mut cells: Vec<(f64, f64)> = Vec::new();
        let pool = |range: std::ops::Range<usize>| {
            range.fold((0.0, 0.0), |(o, e), x| {
                (o + observed[x] as f64, e + expected[x])
            })
        };
        cells.push(pool(0..lo));
        cells.extend((lo..=hi).map(|x| (observed[x] as f64, expected[x])));
        cells.push(pool(hi + 1..n as usize + 1));
        let cells: Vec<_> = cells.into_iter().filter(|&(_, e)| e > 0.0).collect();
        let stat = cells.iter().map(|(o, e)| (o - e) * (o - e) / e).sum();
        (stat, cells.len() - 1)
    }

    /// Far in the upper tail of chi-square(df): mean df, sd sqrt(2·df); 6 sd is p < 10⁻⁶
    /// for any df used here (the seeds are fixed, so the test is deterministic).
    fn assert_fits(stat: f64, df: usize, what: &str) {
        let limit = df as f64 + 6.0 * (2.0 * df as f64).sqrt();
        assert!(
            stat < limit,
            "{what}: chi-square {stat:.1} on {df} df (limit {limit:.1})"
        );
    }

    #[test]
    fn table_draws_follow_the_exact_binomial() {
        for (i, (n, p)) in [
            (10_000u64, 0.33),
            (50, 0.1),
            (1_000, 0.97),
            (7, 0.5),
            (3, 0.01),
        ]
        .into_iter()
        .enumerate()
        {
            let table = BinomialTable::new(n, p).unwrap();
            assert_eq!(*table.cdf.last().unwrap(), 1.0);
            let mut rng = block_rng(41, i as u64, 0);
            let draws: Vec<u64> = (0..200_000).map(|_| table.sample(&mut rng)).collect();
            assert!(draws.iter().all(|&x| x <= n));
            let (stat, df) = chi_square(&draws, n, p);
            assert_fits(stat, df, &format!("Bin({n}, {p})"));
        }
    }

    #[test]
    fn table_window_holds_all_but_a_negligible_mass() {
        for (n, p) in [(10_000u64, 0.33), (1_000_000, 0.5), (200, 0.02)] {
            let t = BinomialTable::new(n, p).unwrap();
            let inside: f64 = (t.low..=t.high()).map(|x| pmf(n, p, x)).sum();
            assert!(
                (1.0 - inside).abs() < 1e-6,
                "Bin({n}, {p}): window mass {inside}"
            );
        }
        assert!(
            BinomialTable::new(1 << 40, 0.5).is_none(),
            "too wide for a table"
        );
    }

    /// Every category of a multinomial draw is marginally Bin(n, p_j): the later steps (a base
    /// table plus a remainder table for the varying n) must reproduce it.
    #[test]
    fn multinomial_marginals_follow_the_exact_binomial() {
        for counts in [vec![3_700u64, 3_000, 3_300], vec![5, 0, 20, 75, 100, 1]] {
            let m = Multinomial::new(&counts).unwrap();
            assert!(
                m.steps.iter().all(|s| s.tables.is_some()),
                "these sizes use the tables"
            );
            let n: u64 = counts.iter().sum();
            let mut rng = block_rng(43, counts.len() as u64, 0);
            let mut out = vec![0.0; counts.len()];
            let mut by_category = vec![Vec::new(); counts.len()];
            for _ in 0..100_000 {
                m.draw(&mut rng, &mut out);
                assert_eq!(out.iter().sum::<f64>(), n as f64);
                for (j, &x) in out.iter().enumerate() {
                    by_category[j].push(x as u64);
                }
            }
            for (j, draws) in by_category.iter().enumerate() {
                let p = counts[j] as f64 / n as f64;
                if p == 0.0 {
                    assert!(draws.iter().all(|&x| x == 0));
                    continue;
                }
                let (stat, df) = chi_square(draws, n, p);
                assert_fits(stat, df, &format!("category {j} of {counts:?}"));
            }
        }
    }

    /// A later step's tables (base + low draw) give the exact Bin(m, p) for every m they
    /// cover, at both ends and across strides, and refuse the others.
    #[test]
    fn step_tables_draw_the_exact_binomial_for_every_covered_m() {
        let p = 0.47;
        let t = StepTables::new(5_000, 5_700, p).unwrap();
        assert!(
            t.shift > 0 && t.bases.len() > 1,
            "a stride and several bases"
        );
        let stride = 1u64 << t.shift;
        let mut rng = block_rng(44, 1, 0);
        for m in [
            5_000u64,
            5_001,
            4_999 + stride,
            5_000 + stride,
            5_350,
            5_699,
            5_700,
        ] {
            let draws: Vec<u64> = (0..100_000)
                .map(|_| t.sample(m, &mut rng).unwrap())
                .collect();
            assert!(draws.iter().all(|&x| x <= m));
            let (stat, df) = chi_square(&draws, m, p);
            assert_fits(stat, df, &format!("Bin({m}, {p}) from the step tables"));
        }
        assert!(t.sample(4_999, &mut rng).is_none());
        assert!(t.sample(5_701, &mut rng).is_none());
    }

    /// Draws whose n falls outside a step's tables (narrowed here so that about a third do)
    /// go to BTPE: the mixture of the two paths is still the exact multinomial.
    #[test]
    fn draws_outside_the_tables_stay_exact() {
        let counts = [3_700u64, 3_000, 3_300];
        let mut m = Multinomial::new(&counts).unwrap();
        let second = &mut m.steps[1];
        // m = n − X₀ has mean 6,300 and sd ≈ 48: cover only 6,280 ..= 6,330.
        second.tables = StepTables::new(6_280, 6_330, second.p);
        let mut rng = block_rng(45, 2, 0);
        let mut out = [0.0; 3];
        let n: u64 = counts.iter().sum();
        let mut by_category = vec![Vec::new(); 3];
        for _ in 0..100_000 {
            m.draw(&mut rng, &mut out);
            assert_eq!(out.iter().sum::<f64>(), n as f64);
            for (j, &x) in out.iter().enumerate() {
                by_category[j].push(x as u64);
            }
        }
        for (j, draws) in by_category.iter().enumerate() {
            let p = counts[j] as f64 / n as f64;
            let (stat, df) = chi_square(draws, n, p);
            assert_fits(stat, df, &format!("category {j} with narrowed tables"));
        }
    }

    #[test]
    fn huge_groups_fall_back_to_btpe_and_keep_n() {
        let counts = [1u64 << 45, 3 << 44, 12_345];
        let m = Multinomial::new(&counts).unwrap();
        assert!(m.steps[0].tables.is_none());
        let mut rng = block_rng(5, 5, 5);
        let mut out = [0.0; 3];
        let n: u64 = counts.iter().sum();
        for _ in 0..1000 {
            m.draw(&mut rng, &mut out);
            assert_eq!(out.iter().map(|&x| x as u64).sum::<u64>(), n);
        }
    }
}

/// A/B timing of the table sampler against BTPE (stream version 1) on an NPS-like group:
/// `cargo test --release -p cxmetrics-core table_sampler_speed -- --ignored --nocapture`.
#[cfg(test)]
mod speed {
    use super::*;
    use std::time::Instant;

    #[test]
    #[ignore]
    fn table_sampler_speed() {
        let counts = [3_700u64, 3_000, 3_300];
        let tables = Multinomial::new(&counts).unwrap();
        let mut btpe = tables.clone();
        for step in &mut btpe.steps {
            step.tables = None;
        }
        let mut out = [0.0; 3];
        for (name, m) in [("tables", &tables), ("btpe", &btpe), ("tables", &tables)] {
            let mut rng = block_rng(1, 2, 3);
            let started = Instant::now();
            let mut check = 0.0;
            for _ in 0..1_000_000 {
                m.draw(&mut rng, &mut out);
                check += out[0];
            }
            let per = started.elapsed().as_secs_f64() * 1e9 / 1e6;
            println!("{name}: {per:.1} ns per multinomial draw (checksum {check})");
        }
        let started = Instant::now();
        let mut built = 0;
        for _ in 0..100 {
            built += Multinomial::new(&counts).unwrap().steps.len();
        }
        let per = started.elapsed().as_secs_f64() * 1e6 / 100.0;
        println!("building the tables: {per:.1} µs per group ({built})");
    }
}
