//! Key driver analysis: which attributes move an outcome, and how sure that ranking is.
//!
//! One pass over Arrow columns accumulates, per segment, the exact weighted Gram matrix of
//! [1, y, x1..xp] ([`gram`], [`signed_sum`], summed fast by [`block_sum`]) and what its
//! Poisson-bootstrap replicates are drawn from: the histogram of distinct answer tuples
//! ([`tuples`]) or, past a cap, replicates drawn per row ([`state`]); everything after works on
//! those, never on rows: correlations, Johnson's relative weights and Shapley/LMG
//! ([`importance`], [`linalg`]), bootstrap intervals from the replicates ([`report`],
//! [`interval`]). States merge exactly and persist as bytes
//! ([`mod@format`]), so batches, threads and cluster partitions give the same result.

pub mod block_sum;
pub mod format;
pub mod gram;
pub mod importance;
pub mod interval;
pub mod lanes;
pub mod linalg;
pub mod report;
pub mod segments;
pub mod shapley_gradient;
pub mod signed_sum;
pub mod state;
#[cfg(test)]
mod tests;
pub mod tuples;
