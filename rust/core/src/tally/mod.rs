//! One pass over the rows: (segment, scale value) -> counts and weight sums.
//!
//! Per segment the [`Tallies`] hold `k` counts (one per scale point), then the missing count,
//! then the invalid count; weighted tallies add Σw and Σw² per scale point, and optionally
//! Poisson-bootstrap replicate sums. That is the sufficient statistic of every metric, so
//! everything after this module works on a few numbers per segment.
//!
//! - `columns`: input columns of an update and their alignment into chunks of equal rows;
//! - `weights`: the weight checks (range, nulls) and the range scan that picks exact windows;
//! - `scores`: per-dtype dispatch of a score column onto the kernel (adding a score type);
//! - `kernel`: the per-row loops over (local id, score code, weight);
//! - `poisson`: the Poisson(1) counts of the bootstrap replicates.
//!
//! May use: `group` (local ids), `scale`, `exact_sum`, `streams`, `error`. Used by the
//! aggregator; never uses anything downstream (estimates, intervals, state).

mod columns;
mod kernel;
pub mod poisson;
mod scores;
mod weights;

pub use columns::{align, Columns};
pub(crate) use kernel::{tasks_for_rows, MIN_ROWS_PER_TASK};
pub(crate) use scores::tally_chunk;
pub(crate) use weights::{check_weights, WeightRange};

use crate::error::{CoreError, Result};
use crate::exact_sum::ExactSum;

/// Per-segment tallies, segment-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Tallies {
    points: usize,
    weighted: bool,
    counts: Vec<u64>,
    wsum: Vec<ExactSum>,
    w2sum: Vec<ExactSum>,
    /// Poisson-bootstrap replicates (weighted only; 0 = none): Σ m·w per segment, scale point
    /// and replicate, in that order (see `poisson`).
    replicates: usize,
    rep: Vec<ExactSum>,
}

impl Tallies {
    /// Empty tallies of `segments` segments over a scale of `points` points.
    pub fn new(points: usize, weighted: bool, segments: usize) -> Self {
        let cells = if weighted { segments * points } else { 0 };
        Self {
            points,
            weighted,
            counts: vec![0; segments * (points + 2)],
            wsum: vec![ExactSum::ZERO; cells],
            w2sum: vec![ExactSum::ZERO; cells],
            replicates: 0,
            rep: Vec::new(),
        }
    }

    /// The same tallies keeping `replicates` Poisson-bootstrap replicates (weighted only).
    pub fn with_replicates(mut self, replicates: usize) -> Self {
        self.replicates = if self.weighted { replicates } else { 0 };
        self.rep = vec![ExactSum::ZERO; self.segments() * self.replicates * self.points];
        self
    }

    /// Empty tallies of `segments` segments laid out like these.
    pub(crate) fn empty_like(&self, segments: usize) -> Self {
        Tallies::new(self.points, self.weighted, segments).with_replicates(self.replicates)
    }

    /// Rebuilds tallies from their raw parts (used by the state decoder).
    pub fn from_parts(
        points: usize,
        weighted: bool,
        counts: Vec<u64>,
        wsum: Vec<ExactSum>,
        w2sum: Vec<ExactSum>,
        replicates: usize,
        rep: Vec<ExactSum>,
    ) -> Result<Self> {
        let segments = counts.len() / (points + 2);
        let cells = if weighted { segments * points } else { 0 };
        if counts.len() != segments * (points + 2)
            || wsum.len() != cells
            || w2sum.len() != cells
            || rep.len() != cells * replicates
            || (replicates > 0 && !weighted)
        {
            return Err(CoreError::CorruptState("tally sizes do not match".into()));
        }
        Ok(Self {
            points,
            weighted,
            counts,
            wsum,
            w2sum,
            replicates,
            rep,
        })
    }

    /// Unweighted tallies from per-cell counts kept in u32 (a parallel task's table), widened.
    pub(crate) fn from_narrow_counts(points: usize, counts: Vec<u32>) -> Self {
        let mut out = Tallies::new(points, false, 0);
        out.counts = counts.into_iter().map(u64::from).collect();
        out
    }

    /// Points on the scale (k).
    pub fn points(&self) -> usize {
        self.points
    }
    /// Whether weight sums are kept.
    pub fn weighted(&self) -> bool {
        self.weighted
    }
    /// Number of segments.
    pub fn segments(&self) -> usize {
        self.counts.len() / (self.points + 2)
    }
    fn stride(&self) -> usize {
        self.points + 2
    }
    /// Counts per scale point of segment `s`.
    pub fn counts(&self, s: usize) -> &[u64] {
        &self.counts[s * self.stride()..s * self.stride() + self.points]
    }
    /// Rows of segment `s` without a score.
    pub fn missing(&self, s: usize) -> u64 {
        self.counts[s * self.stride() + self.points]
    }
    /// Rows of segment `s` with a score off the scale (dropped on request).
    pub fn invalid(&self, s: usize) -> u64 {
        self.counts[s * self.stride() + self.points + 1]
    }
    /// Every count, segment-major: k counts, missing, invalid per segment.
    pub fn raw_counts(&self) -> &[u64] {
        &self.counts
    }
    /// The exact Σw and Σw² per scale point of segment `s` (None when unweighted).
    pub fn exact_weight_sums(&self, s: usize) -> Option<(&[ExactSum], &[ExactSum])> {
        let cells = s * self.points..(s + 1) * self.points;
        self.weighted
            .then(|| (&self.wsum[cells.clone()], &self.w2sum[cells]))
    }
    /// Every Σw and every Σw², segment-major (empty when unweighted).
    pub fn raw_weight_sums(&self) -> (&[ExactSum], &[ExactSum]) {
        (&self.wsum, &self.w2sum)
    }
    /// Poisson-bootstrap replicates kept (0 = none).
    pub fn replicates(&self) -> usize {
        self.replicates
    }
    /// Σ m·w per scale point of replicate `r` of segment `s`, each rounded once.
    pub fn replicate_mass(&self, s: usize, r: usize) -> Vec<f64> {
        (0..self.points)
            .map(|c| self.rep[(s * self.points + c) * self.replicates + r].to_f64())
            .collect()
    }
    /// Every replicate sum, by (segment, scale point, replicate).
    pub fn raw_replicates(&self) -> &[ExactSum] {
        &self.rep
    }

    /// Adds empty segments up to `segments` in all.
    pub(crate) fn grow(&mut self, segments: usize) {
        if segments > self.segments() {
            self.counts.resize(segments * self.stride(), 0);
            if self.weighted {
                self.wsum.resize(segments * self.points, ExactSum::ZERO);
                self.w2sum.resize(segments * self.points, ExactSum::ZERO);
                self.rep
                    .resize(segments * self.replicates * self.points, ExactSum::ZERO);
            }
        }
    }

    /// Keeps the first `segments` segments (the others must be empty) and releases the
    /// capacity beyond them.
    pub(crate) fn truncate_segments(&mut self, segments: usize) {
        debug_assert!((segments..self.segments()).all(|s| self.segment_is_empty(s)));
        self.counts.truncate(segments * self.stride());
        self.counts.shrink_to_fit();
        if self.weighted {
            self.wsum.truncate(segments * self.points);
            self.wsum.shrink_to_fit();
            self.w2sum.truncate(segments * self.points);
            self.w2sum.shrink_to_fit();
            self.rep.truncate(segments * self.replicates * self.points);
            self.rep.shrink_to_fit();
        }
    }

    /// Adds segment `src` of `other` into segment `dst` of `self`.
    pub fn add_segment(&mut self, dst: usize, other: &Tallies, src: usize) {
        let st = self.stride();
        for (a, b) in self.counts[dst * st..(dst + 1) * st]
            .iter_mut()
            .zip(&other.counts[src * st..(src + 1) * st])
        {
            *a += b;
        }
        if self.weighted {
            let k = self.points;
            for c in 0..k {
                self.wsum[dst * k + c].merge(&other.wsum[src * k + c]);
                self.w2sum[dst * k + c].merge(&other.w2sum[src * k + c]);
            }
            let per = self.replicates * k;
            for (a, b) in self.rep[dst * per..(dst + 1) * per]
                .iter_mut()
                .zip(&other.rep[src * per..(src + 1) * per])
            {
                a.merge(b);
            }
        }
    }

    /// Adds every segment of `other` (laid out alike) into the same segment here.
    fn add_all(&mut self, other: &Tallies) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        for (a, b) in self.wsum.iter_mut().zip(&other.wsum) {
            a.merge(b);
        }
        for (a, b) in self.w2sum.iter_mut().zip(&other.w2sum) {
            a.merge(b);
        }
        for (a, b) in self.rep.iter_mut().zip(&other.rep) {
            a.merge(b);
        }
    }

    /// The same tallies with segments reordered: `order[i]` is the old index of new segment `i`.
    pub fn permuted(&self, order: &[u32]) -> Tallies {
        let mut out = self.empty_like(order.len());
        for (new, &old) in order.iter().enumerate() {
            out.add_segment(new, self, old as usize);
        }
        out
    }

    /// Every count of every segment summed (valid, missing and invalid rows), exactly.
    pub fn rows_total(&self) -> u128 {
        self.counts.iter().map(|&c| u128::from(c)).sum()
    }

    /// All segments added together.
    pub fn total(&self) -> Tallies {
        let mut out = self.empty_like(1);
        if self.weighted {
            for s in 0..self.segments() {
                out.add_segment(0, self, s);
            }
            return out;
        }
        // Counts only: one pass down the columns (a call per segment cost 1 ms at 100k).
        for segment in self.counts.chunks_exact(self.stride()) {
            for (a, b) in out.counts.iter_mut().zip(segment) {
                *a += b;
            }
        }
        out
    }

    /// Whether segment `s` has no row at all (not even a missing or invalid one).
    pub(crate) fn segment_is_empty(&self, s: usize) -> bool {
        let st = self.stride();
        self.counts[s * st..(s + 1) * st].iter().all(|&c| c == 0)
    }
}
