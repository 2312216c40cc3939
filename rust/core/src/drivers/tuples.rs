//! Bootstrap replicates from the joint histogram of distinct answer tuples.
//!
//! Ratings and flags take few values, so a segment's rows are few distinct tuples
//! (y, x1..xp[, w]) with counts. The histogram merges exactly (counts add), so any partitioning
//! of the rows gives the same merged histogram. The Poisson bootstrap (each row counted
//! m ~ Poisson(1) times, Hanley & MacGibbon 2006) counts a tuple seen n_t times
//! Poisson(n_t) times, the sum of its rows' counts; drawing those from the merged histogram, in
//! tuple order, from a generator keyed by the seed, the segment and the replicate (never the
//! partition), gives the same replicates on one machine and on a cluster. Each replicate's Gram
//! matrix is the exact sum of the tuples' row terms times their counts. Beyond
//! [`MAX_TUPLES`] distinct tuples (continuous data) the state falls back to drawing per row
//! ([`super::state`]).

use rand::RngCore;
use rand_distr::{Distribution, Poisson};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::gram::{row_terms, triangle, Gram};
use super::signed_sum::SignedSum;
use crate::streams::{block_rng, key_stream, splitmix64, ReplicateStreams};
use crate::tally::poisson::poisson_one;

/// Distinct tuples a state keeps (over all its segments) before it draws replicates per row.
pub const MAX_TUPLES: usize = 1 << 17;
/// Stream id of the tuple draws ("tuples").
const TUPLE_STREAM: u64 = 0x0074_7570_6c65_7300;

/// Counts of distinct tuples: the bits of [y, x1..xp] (and w when weighted), zeros unsigned.
pub type Tuples = FxHashMap<Vec<u64>, u64>;

/// Writes the tuple of one row into `out`.
pub fn tuple_of(values: impl Iterator<Item = f64>, w: Option<f64>, out: &mut Vec<u64>) {
    out.clear();
    // 0.0 + 0.0 is +0.0: -0.0 and 0.0 are one value (their terms are the same zero).
    out.extend(values.chain(w).map(|v| (v + 0.0).to_bits()));
}

/// The key of a state's tuple draws: from the seed alone when seeded (not the stream, so every
/// partition of a cluster draws alike), else from the random origins the state has drawn.
pub fn bootstrap_key(streams: &ReplicateStreams) -> u64 {
    match streams.seed {
        Some(seed) => splitmix64(splitmix64(seed) ^ TUPLE_STREAM),
        None => streams
            .drawn
            .iter()
            .fold(TUPLE_STREAM, |h, &o| splitmix64(h ^ o)),
    }
}

/// One segment's tuple histogram readied for drawing replicates: the tuples in ascending order,
/// their row terms and count laws, and the segment's generator key. Replicate r's counts come
/// from the generator (key, segment, r) alone, so they are the same whichever thread draws
/// them and whether they are kept ([`Draws::counts`], for the studentized interval's standard
/// errors) or summed straight into a Gram matrix ([`Draws::gram`]).
pub struct Draws {
    k: usize,
    counts: Vec<u64>,
    terms: Vec<f64>,
    laws: Vec<Option<Poisson<f64>>>,
    stream: u64,
    /// Every term is an integer below 2^53 in magnitude ([`Draws::integer_sums`]).
    integral: bool,
}

impl Draws {
    /// The draws of the histogram `tuples` (Gram side `k`) under `key` for segment `segment`.
    pub fn new(tuples: &Tuples, k: usize, key: u64, segment: &[u8]) -> Self {
        let mut sorted: Vec<(&Vec<u64>, u64)> = tuples.iter().map(|(t, &n)| (t, n)).collect();
        sorted.sort_unstable();
        let e = triangle(k);
        let mut terms = vec![0.0; sorted.len() * e];
        let mut c = vec![1.0; k];
        for (i, (tuple, _)) in sorted.iter().enumerate() {
            for (slot, &bits) in c[1..].iter_mut().zip(tuple.iter()) {
                *slot = f64::from_bits(bits);
            }
            let w = tuple.get(k - 1).map_or(1.0, |&bits| f64::from_bits(bits));
            row_terms(w, &c, &mut terms[i * e..(i + 1) * e]);
        }
        let laws = sorted
            .iter()
            .map(|&(_, n)| (n > 1).then(|| Poisson::new(n as f64).expect("a positive count")))
            .collect();
        let integral = terms
            .iter()
            .all(|t| t.trunc() == *t && t.abs() < 9_007_199_254_740_992.0);
        Self {
            k,
            counts: sorted.iter().map(|&(_, n)| n).collect(),
            terms,
            laws,
            stream: splitmix64(key ^ key_stream(segment)),
            integral,
        }
    }

    /// The row terms (w·c_i·c_j, i ≤ j, as [`row_terms`]) of each tuple with its count n_t, in
    /// ascending tuple order.
    pub fn tuples(&self) -> impl Iterator<Item = (&[f64], u64)> {
        self.terms
            .chunks_exact(triangle(self.k))
            .zip(self.counts.iter().copied())
    }

    /// The counts m_t of replicate `r`, tuple by tuple in ascending order, drawn from the
    /// generator (key, segment, r).
    fn drawn(&self, r: usize) -> impl Iterator<Item = u64> + '_ {
        let mut rng = block_rng(self.stream, TUPLE_STREAM, r as u64);
        self.laws.iter().map(move |law| match law {
            None => poisson_one(rng.next_u32()),
            Some(law) => law.sample(&mut rng) as u64,
        })
    }

    /// The counts m_t of replicate `r`, tuple by tuple in ascending order, into `out`.
    pub fn counts(&self, r: usize, out: &mut Vec<u64>) {
        out.clear();
        out.extend(self.drawn(r));
    }

    /// Σ_t m_t·(row terms of t), exact, for counts m_t given in ascending tuple order.
    pub fn gram_of_counts(&self, counts: &[u64]) -> Gram {
        if self.integral {
            let mut sums = vec![0i128; triangle(self.k)];
            if self.integer_sums(counts, &mut sums) {
                let mut gram = Gram::new(self.k);
                for (s, &v) in gram.sums.iter_mut().zip(&sums) {
                    *s = SignedSum::from_integer(v);
                }
                return gram;
            }
            // An i128 sum overflowed (counts near 2^64, no survey's): the 256-bit sums, whose
            // range is the same, decide.
        }
        self.exact_sums(counts)
    }

    /// Σ_t m_t·t into `sums` as integers, when every term is an integer below 2^53 in
    /// magnitude (ratings, 0/1 flags, integer weights): the same exact value as the 256-bit
    /// sums at a fraction of the cost. False when a sum would overflow.
    fn integer_sums(&self, counts: &[u64], sums: &mut [i128]) -> bool {
        for ((terms, _), &m) in self.tuples().zip(counts) {
            if m == 0 {
                continue;
            }
            let m = i128::from(m);
            for (s, &t) in sums.iter_mut().zip(terms) {
                // |t| < 2^53 and m < 2^64: the product fits; the running sum is checked.
                match s.checked_add(t as i128 * m) {
                    Some(v) => *s = v,
                    None => return false,
                }
            }
        }
        true
    }

    /// The exact 256-bit sums, term by term.
    fn exact_sums(&self, counts: &[u64]) -> Gram {
        let mut gram = Gram::new(self.k);
        for ((terms, _), &m) in self.tuples().zip(counts) {
            if m > 0 {
                for (s, &t) in gram.sums.iter_mut().zip(terms) {
                    s.add_times(t, m);
                }
            }
        }
        gram
    }

    /// The Gram matrix of replicate `r`.
    pub fn gram(&self, r: usize) -> Gram {
        let counts: Vec<u64> = self.drawn(r).collect();
        self.gram_of_counts(&counts)
    }

    /// The Gram matrices of replicates 0..b, drawn in parallel.
    pub fn grams(&self, b: usize) -> Vec<Gram> {
        (0..b).into_par_iter().map(|r| self.gram(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicates_depend_on_the_histogram_not_its_order() {
        let mut a = Tuples::default();
        let mut b = Tuples::default();
        let mut t = Vec::new();
        for (i, (y, x)) in [(1.0, 2.0), (3.0, 1.0), (2.0, 2.0), (-0.0, 5.0)]
            .iter()
            .enumerate()
        {
            tuple_of([*y, *x].into_iter(), None, &mut t);
            a.insert(t.clone(), i as u64 + 1);
        }
        for (t, n) in a.iter().collect::<Vec<_>>().into_iter().rev() {
            b.insert(t.clone(), *n);
        }
        let replicates =
            |t: &Tuples, key: u64, segment: &[u8]| Draws::new(t, 3, key, segment).grams(20);
        let ra = replicates(&a, 7, b"seg");
        assert_eq!(ra, replicates(&b, 7, b"seg"));
        assert_ne!(ra, replicates(&a, 8, b"seg"));
        assert_ne!(ra, replicates(&a, 7, b"other"));
        // On average a replicate holds the rows once: mean Σw = Σ n_t = 10.
        let many = Draws::new(&a, 3, 1, b"").grams(4000);
        let mean = many.iter().map(|g| g.sums[0].to_f64()).sum::<f64>() / 4000.0;
        assert!((mean - 10.0).abs() < 0.2, "{mean}");
        // The counts drawn again give each replicate's Gram matrix back.
        let draws = Draws::new(&a, 3, 7, b"seg");
        let mut counts = Vec::new();
        for (r, gram) in ra.iter().enumerate() {
            draws.counts(r, &mut counts);
            let again = draws.gram_of_counts(&counts);
            assert_eq!(again.matrix(), gram.matrix());
        }
    }

    #[test]
    fn integer_terms_sum_to_the_same_bits_as_the_exact_sums() {
        // Ratings with negative codes and a weight of 3: every term an integer.
        let mut integral = Tuples::default();
        let mut fractional = Tuples::default();
        let mut t = Vec::new();
        for i in 0..400u64 {
            let (y, x) = ((i % 11) as f64 - 5.0, (i * 7 % 5) as f64);
            tuple_of([y, x].into_iter(), Some(3.0), &mut t);
            *integral.entry(t.clone()).or_insert(0) += 1 + i % 3;
            tuple_of([y, x + 0.25].into_iter(), None, &mut t);
            *fractional.entry(t.clone()).or_insert(0) += 1;
        }
        let draws = Draws::new(&integral, 3, 11, b"s");
        assert!(draws.integral);
        assert!(!Draws::new(&fractional, 3, 11, b"s").integral);
        let mut counts = Vec::new();
        for r in 0..20 {
            draws.counts(r, &mut counts);
            let fast = draws.gram_of_counts(&counts);
            assert_eq!(fast.sums, draws.exact_sums(&counts).sums, "replicate {r}");
        }
    }
}
