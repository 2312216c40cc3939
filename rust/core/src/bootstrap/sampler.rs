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
/// Stream version 4 (see `docs/performance.md`, *Bootstrap*): each binomial is drawn from an
/// alias table built once per group ([`BinomialTable`]: one 64-bit word, one column, no
/// branch), not by BTPE. The first step's n is fixed: one table. A later step's n = m varies
/// from draw to draw; the tables cover the range [m₀, m₀ + D] that the earlier steps' draws
/// fall in with probability at least 1 − 2·10⁻¹⁰ each ([`LIKELY_TAIL`]), and writing
/// m − m₀ = e·S₁ + f·S₂ + d (0 ≤ f·S₂ < S₁, 0 ≤ d < S₂), Bin(m, p) = Bin(m₀ + e·S₁, p) +
/// Bin(f·S₂, p) + Bin(d, p) (a sum of independent binomials with one p is the binomial of the
/// summed n): one table per base, per middle digit and per low digit, up to three draws. The
/// strides, powers of two, minimise the tables' columns. A block of resamples is drawn step
/// by step ([`Multinomial::draw_block`]). A step whose tables would be too large (n beyond
/// ≈ 10⁸ in a group) and any draw outside the covered range use BTPE
/// (`rand_distr::Binomial`), which is exact too. Version 3 drew by inversion with a guide
/// table, two levels (base and low), one resample at a time.
#[derive(Clone, Debug)]
pub struct Multinomial {
    total: u64,
    /// For every non-empty category but the last: how to draw it.
    steps: Vec<Step>,
    /// The last non-empty category (None when n = 0): it takes the draws that are left.
    last: Option<usize>,
}

/// Largest stride between base tables: 2^8.
const MAX_STRIDE_SHIFT: u32 = 8;
/// The fixed cost of a table (allocations, setup) in columns, for choosing the strides.
const PER_TABLE_COLUMNS: u64 = 32;
/// At most this many base tables per step; wider ranges of m use BTPE.
const MAX_BASES: u64 = 64;
/// A step's tables cover the values of m that the earlier steps give with probability at least
/// 1 − 2·this (each table's lower and upper tail beyond its `likely` range); the other draws
/// (about one in 10⁹) use BTPE.
const LIKELY_TAIL: f64 = 1e-10;
/// Largest inversion table (entries); wider binomials use BTPE.
const MAX_TABLE: usize = 1 << 16;
/// Half-width of a table's window in standard deviations: where the binomial's weight falls to
/// [`TAIL_CUTOFF`] of the mode's, sqrt(2·ln(1/TAIL_CUTOFF)) in the normal approximation.
const WINDOW_SD: f64 = 10.2;
/// Values in a table of Bin(n, p), estimated from the window of ±[`WINDOW_SD`] sd.
fn estimated_window(n: u64, p: f64) -> f64 {
    2.0 * WINDOW_SD * (n as f64 * p * (1.0 - p)).sqrt() + 1.0
}

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
    /// log2 of the stride S₁ between base tables.
    base_shift: u32,
    /// log2 of the stride S₂ between middle tables (S₂ ≤ S₁; equal when there are none).
    mid_shift: u32,
    /// bases[e] draws Bin(m₀ + e·S₁, p).
    bases: Vec<BinomialTable>,
    /// mids[f − 1] draws Bin(f·S₂, p), f = 1 .. S₁/S₂ − 1 (those ≤ width).
    mids: Vec<BinomialTable>,
    /// lows[d − 1] draws Bin(d, p), d = 1 .. S₂ − 1 (those ≤ width).
    lows: Vec<BinomialTable>,
}

/// Alias table (Walker 1977; Vose 1991) of Bin(n, p) for a fixed (n, p), over the values
/// whose probability is at least [`TAIL_CUTOFF`] times the mode's (weights by the ratio
/// recurrence from the mode, normalised over that window).
///
/// The window is padded to 2^b columns, b ≥ [`MIN_COLUMN_BITS`]. A draw is one 64-bit word r:
/// its top b bits pick a column, its low 47 bits are compared with the column's threshold,
/// which keeps the column's own value or gives its alias. A column holds 2⁴⁷ units, so every
/// value's probability is an integer multiple of 2^−(47 + b) ≤ 2⁻⁵³ (the resolution of an
/// inversion by one f64 uniform), set from the normalised weights with integer arithmetic so
/// that the masses sum exactly to one. Unlike inversion, a draw has no data-dependent loop:
/// no branch to mispredict, and consecutive resamples overlap in the processor.
#[derive(Clone, Debug)]
pub struct BinomialTable {
    /// The smallest value in the table.
    low: u64,
    /// 64 − b: r >> shift is the column.
    shift: u32,
    /// One u64 per column: the threshold (≤ 2⁴⁷, 48 bits) above the alias (16 bits, an offset
    /// from `low`). Eight bytes instead of sixteen keep a group's tables in the faster caches.
    columns: Vec<u64>,
    /// P(X < likely.0) ≤ LIKELY_TAIL and P(X > likely.1) ≤ LIKELY_TAIL.
    likely: (u64, u64),
}

/// log2 of the units in one column.
const UNIT_BITS: u32 = 47;
/// At least 2⁶ columns: 47 + 6 bits of resolution for every value.
const MIN_COLUMN_BITS: u32 = 6;
/// The alias's bits in a packed column (tables have at most 2¹⁶ entries).
const ALIAS_BITS: u32 = 16;

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
        // Weights relative to the mode: w(x + 1) = w(x)·(n − x)/(x + 1)·odds. Reserved from the
        // estimated window, with a tenth to spare for skewed tails: one allocation.
        let reserve = (estimated_window(n, p) * 1.1) as usize + 8;
        let mut weights = Vec::with_capacity(reserve.min(MAX_TABLE + 2));
        let (mut w, mut x) = (1.0f64, mode);
        while x > 0 {
            w *= x as f64 / ((n - x + 1) as f64 * odds);
            if w < TAIL_CUTOFF {
                break;
            }
            weights.push(w);
            x -= 1;
            if weights.len() > MAX_TABLE {
                return None;
            }
        }
        let low = mode - weights.len() as u64;
        // The values below the mode were pushed downwards from it.
        weights.reverse();
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
        Some(Self::from_weights(low, &weights, (mode - low) as usize))
    }

    fn point(value: u64) -> Self {
        Self::from_weights(value, &[1.0], 0)
    }

    /// The table of the values low, low + 1, … with probabilities proportional to `weights`
    /// (at most 2¹⁶ of them); `mode` indexes the largest weight, which absorbs the rounding.
    fn from_weights(low: u64, weights: &[f64], mode: usize) -> Self {
        debug_assert!(weights.len() <= 1 << ALIAS_BITS);
        let total: f64 = weights.iter().sum();
        let bits = weights
            .len()
            .next_power_of_two()
            .trailing_zeros()
            .max(MIN_COLUMN_BITS);
        let unit = 1u64 << UNIT_BITS;
        // Masses in units of 2^−(47 + b): floor(w/total · 2^(47 + b)), the remainder to the
        // mode, so that they sum to exactly 2^(47 + b) = columns · unit.
        let target = 1u64 << (UNIT_BITS + bits);
        let scale = target as f64 / total;
        let mut mass: Vec<u64> = Vec::with_capacity(1 << bits);
        // Through i64 (one instruction; a direct u64 conversion is a branchy sequence on
        // x86-64): every mass is below 2⁶³, as target ≤ 2⁶³ only for tables of over 2¹⁵ values.
        mass.extend(weights.iter().map(|&w| (w * scale) as i64 as u64));
        mass.resize(1 << bits, 0);
        // Within a few units per value of target ≤ 2⁶³: no overflow.
        let sum: u64 = mass.iter().sum();
        mass[mode] = if sum <= target {
            mass[mode] + (target - sum)
        } else {
            mass[mode] - (sum - target)
        };
        let likely = Self::likely_range(low, &mass, target);
        let pack = |threshold: u64, alias: usize| threshold << ALIAS_BITS | alias as u64;
        let mut columns = vec![pack(unit, 0); mass.len()];
        // Each short column (mass below a unit), in index order, is filled up from the current
        // tall one; a tall column that falls below a unit is filled at once from the next tall
        // one. The masses left always sum to (columns left)·unit exactly, so a short column
        // always finds a tall one, and the tall columns left at the end hold exactly one unit
        // each (their threshold stays `unit`). Two passes over `mass`, no work lists.
        let mut talls = mass.iter().enumerate().filter(|&(_, &m)| m >= unit);
        if let Some((mut tall, &first)) = talls.next() {
            let mut tall_mass = first;
            let shorts = mass.iter().enumerate().filter(|&(_, &m)| m < unit);
            'fill: for (short, &short_mass) in shorts {
                columns[short] = pack(short_mass, tall);
                tall_mass -= unit - short_mass;
                while tall_mass < unit {
                    let Some((next, &next_mass)) = talls.next() else {
                        break 'fill;
                    };
                    columns[tall] = pack(tall_mass, next);
                    tall_mass = next_mass - (unit - tall_mass);
                    tall = next;
                }
            }
        }
        BinomialTable {
            low,
            shift: 64 - bits,
            columns,
            likely,
        }
    }

    /// (a, b) with P(X < a) ≤ LIKELY_TAIL and P(X > b) ≤ LIKELY_TAIL, from the masses.
    fn likely_range(low: u64, mass: &[u64], total: u64) -> (u64, u64) {
        let tail = (LIKELY_TAIL * total as f64) as u64;
        let last = mass.iter().rposition(|&m| m > 0).unwrap_or(0);
        let mut below = 0u64;
        let mut a = 0;
        while a < last && below + mass[a] <= tail {
            below += mass[a];
            a += 1;
        }
        let mut above = 0u64;
        let mut b = last;
        while b > a && above + mass[b] <= tail {
            above += mass[b];
            b -= 1;
        }
        (low + a as u64, low + b as u64)
    }

    /// What a draw returns, exactly: the probability of each offset from `low`, as a mass out
    /// of the returned total.
    #[cfg(test)]
    fn masses(&self) -> (Vec<u64>, u64) {
        let unit = 1u64 << UNIT_BITS;
        let mut mass = vec![0u64; self.columns.len()];
        for (i, &c) in self.columns.iter().enumerate() {
            let (threshold, alias) = (c >> ALIAS_BITS, c & ((1 << ALIAS_BITS) - 1));
            mass[i] += threshold;
            mass[alias as usize] += unit - threshold;
        }
        (mass, unit * self.columns.len() as u64)
    }

    /// Largest value the table can return.
    #[cfg(test)]
    fn high(&self) -> u64 {
        let (masses, _) = self.masses();
        self.low + masses.iter().rposition(|&m| m > 0).unwrap_or(0) as u64
    }

    /// The values drawn with probability at least 1 − 2·[`LIKELY_TAIL`].
    fn likely(&self) -> (u64, u64) {
        self.likely
    }

    /// One draw: one 64-bit word, one column, one comparison (no loop, no branch).
    #[inline(always)]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let r = rng.next_u64();
        let index = r >> self.shift;
        let column = self.columns[index as usize];
        let alias = column & ((1 << ALIAS_BITS) - 1);
        // All ones to keep the column's own value, zero to take the alias: the sign of
        // (r's low 47 bits) − threshold, both below 2⁴⁸. Not written as a comparison, which
        // the compiler may turn into a branch, mispredicted on a good share of draws.
        let below = r & ((1 << UNIT_BITS) - 1);
        let keep = (below.wrapping_sub(column >> ALIAS_BITS) as i64 >> 63) as u64;
        self.low + (alias ^ ((alias ^ index) & keep))
    }
}

impl StepTables {
    /// Tables for Bin(m, p) with m in [m_low, m_high]; None when they would be too large.
    fn new(m_low: u64, m_high: u64, p: f64) -> Option<Self> {
        let width = m_high - m_low;
        let (base_shift, mid_shift) = Self::strides(m_low, width, p)?;
        let bases = (0..=(width >> base_shift))
            .map(|e| BinomialTable::new(m_low + (e << base_shift), p))
            .collect::<Option<Vec<_>>>()?;
        let mids = (1..(1u64 << (base_shift - mid_shift)).min((width >> mid_shift) + 1))
            .map(|f| BinomialTable::new(f << mid_shift, p))
            .collect::<Option<Vec<_>>>()?;
        let lows = (1..(1u64 << mid_shift).min(width + 1))
            .map(|d| BinomialTable::new(d, p))
            .collect::<Option<Vec<_>>>()?;
        Some(StepTables {
            m0: m_low,
            width,
            base_shift,
            mid_shift,
            bases,
            mids,
            lows,
        })
    }

    /// The strides (log2 S₁, log2 S₂) whose tables have the fewest columns in all, estimated
    /// from each binomial's standard deviation ([`estimated_window`], padded to a
    /// power of two of at least 2⁶ columns), plus a fixed cost per table. The middle level
    /// costs one more draw per resample but, for a group of 10⁴, cuts the columns from ≈ 14,000
    /// to ≈ 6,000: building them is as costly as drawing 10⁴ resamples. None when every
    /// choice needs more than [`MAX_BASES`] base tables.
    fn strides(m_low: u64, width: u64, p: f64) -> Option<(u32, u32)> {
        let columns = |m: u64| -> u64 {
            (estimated_window(m, p).min(MAX_TABLE as f64) as u64)
                .next_power_of_two()
                .max(1 << MIN_COLUMN_BITS)
                + PER_TABLE_COLUMNS
        };
        // Middle and low tables draw Bin(j, p) for j < 2^MAX_STRIDE_SHIFT: their estimates once.
        let small: Vec<u64> = (0..1u64 << MAX_STRIDE_SHIFT).map(columns).collect();
        let mut best: Option<(u64, (u32, u32))> = None;
        for base_shift in 0..=MAX_STRIDE_SHIFT {
            if (width >> base_shift) >= MAX_BASES {
                continue;
            }
            let bases = ((width >> base_shift) + 1) * columns(m_low + width / 2);
            for mid_shift in (0..=base_shift).rev() {
                let mids: u64 = (1..(1u64 << (base_shift - mid_shift))
                    .min((width >> mid_shift) + 1))
                    .map(|f| small[(f << mid_shift) as usize])
                    .sum();
                let lows: u64 = (1..(1u64 << mid_shift).min(width + 1))
                    .map(|d| small[d as usize])
                    .sum();
                let cost = bases + mids + lows;
                if best.is_none_or(|(least, _)| cost < least) {
                    best = Some((cost, (base_shift, mid_shift)));
                }
            }
        }
        best.map(|(_, strides)| strides)
    }

    /// The values a draw returns with probability at least 1 − 6·[`LIKELY_TAIL`] for any m
    /// the tables cover (from the smallest base's lower tail to the largest base's upper tail
    /// plus the largest middle and low tables').
    fn likely(&self) -> (u64, u64) {
        let below = self.bases[0].likely().0;
        let above = self.bases[self.bases.len() - 1].likely().1
            + self.mids.last().map_or(0, |t| t.likely().1)
            + self.lows.last().map_or(0, |t| t.likely().1);
        (below, above)
    }

    /// Bin(m, p) as one base draw plus a middle and a low draw when m − m₀ has those digits;
    /// None when m is outside the tables.
    #[inline(always)]
    fn sample<R: Rng + ?Sized>(&self, m: u64, rng: &mut R) -> Option<u64> {
        let rest = m.checked_sub(self.m0)?;
        if rest > self.width {
            return None;
        }
        let within = rest & ((1u64 << self.base_shift) - 1);
        let f = (within >> self.mid_shift) as usize;
        let d = (within & ((1u64 << self.mid_shift) - 1)) as usize;
        let mut x = self.bases[(rest >> self.base_shift) as usize].sample(rng);
        if f > 0 {
            x += self.mids[f - 1].sample(rng);
        }
        if d > 0 {
            x += self.lows[d - 1].sample(rng);
        }
        Some(x)
    }
}

impl Step {
    /// Inlined into the caller's loop, so that the RNG state stays in registers across
    /// resamples; the rare BTPE path is kept out of line.
    #[inline(always)]
    fn sample<R: Rng + Clone>(&self, left: u64, rng: &mut R) -> u64 {
        if let Some(x) = self.tables.as_ref().and_then(|t| t.sample(left, rng)) {
            return x.min(left);
        }
        // The out-of-line call gets a copy of the state, not `rng` itself: a pointer to the
        // caller's RNG passed to a function that is not inlined pins the state in memory, a
        // store and a reload on every draw of the hot loop.
        let mut state = rng.clone();
        let x = self.sample_btpe(left, &mut state);
        *rng = state;
        x
    }

    #[cold]
    #[inline(never)]
    fn sample_btpe<R: Rng + ?Sized>(&self, left: u64, rng: &mut R) -> u64 {
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

    /// Writes one draw into `out` (length ≥ the number of categories) as f64 counts: a block
    /// of one resample (for tests of the law; bootstrap calls draw whole blocks).
    #[cfg(test)]
    pub fn draw<R: Rng + Clone>(&self, rng: &mut R, out: &mut [f64]) {
        out.fill(0.0);
        self.block_steps(rng, 1, |_, category, x| out[category] = x as f64);
    }

    /// Draws a block of [`BLOCK_SIZE`] resamples as f64 counts, resample i's category j at
    /// [i·k + j] (k ≥ the number of categories).
    ///
    /// Step by step across the block: every resample's first binomial, then every resample's
    /// second. This order of the RNG's words is part of the stream (version 4): a resample's
    /// later binomial depends on its earlier ones, and drawing one resample at a time made
    /// each resample one long chain of dependent table loads; across the block the draws of
    /// one step are independent and overlap. A block is always drawn whole (a call that needs
    /// fewer resamples keeps a prefix), so that resample i does not depend on how many are
    /// asked for.
    pub fn draw_block<R: Rng + Clone>(&self, rng: &mut R, k: usize) -> Vec<f64> {
        let mut counts = vec![0.0; BLOCK_SIZE * k];
        self.block_steps(rng, BLOCK_SIZE, |i, category, x| {
            counts[i * k + category] = x as f64;
        });
        counts
    }

    /// The first `keys.len()` ≤ [`BLOCK_SIZE`] resamples of [`Multinomial::draw_block`] with
    /// the same RNG, each seen through a lattice key Σ_j weights[j]·x_j, without writing the
    /// counts out.
    pub fn draw_block_keys<R: Rng + Clone>(&self, rng: &mut R, weights: &[i64], keys: &mut [i64]) {
        let mut block = [0i64; BLOCK_SIZE];
        self.block_steps(rng, BLOCK_SIZE, |i, category, x| {
            block[i] += x as i64 * weights[category];
        });
        keys.copy_from_slice(&block[..keys.len()]);
    }

    /// Draws `len` ≤ [`BLOCK_SIZE`] resamples step by step, passing each category count to
    /// `put(resample, category, count)`; a resample with nothing left skips its later steps
    /// (and their RNG words), and the last category takes what is left.
    #[inline(always)]
    fn block_steps<R: Rng + Clone>(
        &self,
        rng: &mut R,
        len: usize,
        mut put: impl FnMut(usize, usize, u64),
    ) {
        debug_assert!(len <= BLOCK_SIZE);
        let mut left = [self.total; BLOCK_SIZE];
        let left = &mut left[..len];
        for step in &self.steps {
            for (i, rest) in left.iter_mut().enumerate() {
                if *rest > 0 {
                    let x = step.sample(*rest, rng);
                    put(i, step.category, x);
                    *rest -= x;
                }
            }
        }
        if let Some(j) = self.last {
            for (i, &rest) in left.iter().enumerate() {
                put(i, j, rest);
            }
        }
    }
}

/// Fills `n_resamples` values a block at a time: `block` fills the values of block b
/// (resamples b·BLOCK_SIZE ..) from `block_rng(seed, stream, b)`, blocks in parallel. A
/// cancelled call leaves the blocks not yet started at `cancelled`.
pub fn fill_block_chunks<T, F>(
    n_resamples: usize,
    seed: u64,
    stream: u64,
    cancelled: T,
    block: F,
) -> Vec<T>
where
    T: Copy + Send + Sync,
    F: Fn(&mut Pcg64, &mut [T]) + Sync,
{
    let mut out = vec![cancelled; n_resamples];
    out.par_chunks_mut(BLOCK_SIZE)
        .enumerate()
        .for_each(|(b, chunk)| {
            // A cancelled call discards its result: skip the remaining blocks.
            if !cancel::requested() {
                block(&mut block_rng(seed, stream, b as u64), chunk);
            }
        });
    out
}

/// [`fill_block_chunks`] one resample at a time: `one` computes a resampled statistic from the
/// block RNG and a scratch buffer of `scratch_len` values. A cancelled call leaves NaN.
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
    fill_block_chunks(n_resamples, seed, stream, f64::NAN, |rng, values| {
        let mut scratch = vec![0.0; scratch_len];
        for value in values {
            // A cancelled call discards its result: skip the remaining resamples.
            if cancel::requested() {
                return;
            }
            *value = one(rng, &mut scratch);
        }
    })
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

    /// The alias table's masses sum to exactly its total, and each is the Bin(n, p) pmf within
    /// 10⁻⁹ relative (the reference's own error: ln Γ(10⁴) ≈ 8·10⁴ carries ≈ 10⁻¹¹ absolute
    /// into the exponent) plus one unit of the table's resolution (2^−(47 + b) ≤ 2⁻⁵³: a value
    /// rounds down to whole units).
    fn assert_exact_masses(table: &BinomialTable, n: u64, p: f64) {
        let (masses, total) = table.masses();
        assert_eq!(masses.iter().sum::<u64>(), total, "Bin({n}, {p})");
        for (offset, &m) in masses.iter().enumerate() {
            let x = table.low + offset as u64;
            let drawn = m as f64 / total as f64;
            let exact = if x <= n { pmf(n, p, x) } else { 0.0 };
            assert!(
                (drawn - exact).abs() <= 1e-9 * exact + 1.0 / total as f64,
                "Bin({n}, {p}) at {x}: {drawn:e} drawn against {exact:e}"
            );
        }
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
            assert_exact_masses(&table, n, p);
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

    /// A later step's tables (base + middle + low draw) give the exact Bin(m, p) for every m
    /// they cover, at both ends and across both strides, and refuse the others.
    #[test]
    fn step_tables_draw_the_exact_binomial_for_every_covered_m() {
        let p = 0.47;
        let t = StepTables::new(5_000, 5_700, p).unwrap();
        assert!(
            t.base_shift > t.mid_shift && t.mid_shift > 0 && t.bases.len() > 1,
            "three levels and several bases"
        );
        let (stride, mid) = (1u64 << t.base_shift, 1u64 << t.mid_shift);
        let mut rng = block_rng(44, 1, 0);
        for m in [
            5_000u64,
            5_001,
            4_999 + mid,
            5_000 + mid,
            5_001 + 3 * mid,
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

/// A/B timing of the table sampler against BTPE (stream version 1) on an NPS-like group, in
/// blocks of [`BLOCK_SIZE`] resamples:
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
        for (name, m) in [("tables", &tables), ("btpe", &btpe), ("tables", &tables)] {
            let mut rng = block_rng(1, 2, 3);
            let started = Instant::now();
            let mut check = 0.0;
            for _ in 0..1_000_000 / BLOCK_SIZE {
                check += m.draw_block(&mut rng, 3)[0];
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
