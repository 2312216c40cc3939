//! Estimates of unions of a state's segments: the complement of a segment ("the rest"), a
//! rolling window of periods, or an empty period.
//!
//! Tallies are added exactly (counts and exact weight sums, replicate sums too), so a union's
//! figures equal those of one pass over its rows. A complement is a total minus a part, also
//! exact (integer counts, and exact sums subtracted as the 256-bit integers they are), so "every
//! segment but one" costs one subtraction, not an addition over all the others. Uses the state, tallies, streams and report
//! modules; nothing uses it but the binding.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};

use crate::error::{CoreError, Result};
use crate::exact_sum::ExactSum;
use crate::metric::MetricSpec;
use crate::report::{estimate_batch, IntervalRequest};
use crate::state::AccumulatorState;
use crate::streams::key_stream;
use crate::tally::Tallies;

/// One row per group: the union of the listed segments of `state` (indices in result order:
/// keys ascending, nulls last), estimated like a segment. An empty list is a group without
/// responses. The key column `group` holds the group's position.
pub fn estimate_unions(
    state: &AccumulatorState,
    spec: &MetricSpec,
    groups: &[Vec<usize>],
    request: &IntervalRequest,
) -> Result<RecordBatch> {
    let grouped = grouped_tallies(state, spec)?;
    let tallies = &grouped.tallies;
    let segments = tallies.segments();
    let mut out = Tallies::new(tallies.points(), tallies.weighted(), groups.len())
        .with_replicates(tallies.replicates());
    for (g, members) in groups.iter().enumerate() {
        for &s in members {
            check_segment(s, segments, "group", g)?;
            out.add_segment(g, tallies, s);
        }
    }
    estimate_groups(spec, &out, request)
}

/// One row per part: the union of `universes[u]` minus the union of `part` (each `(u, part)`,
/// `part` a subset of universe `u`, segment indices as in [`estimate_unions`]), estimated like a
/// segment. Each universe is added once, then each part subtracted exactly: linear in the
/// segments named, however many parts share a universe.
pub fn estimate_complements(
    state: &AccumulatorState,
    spec: &MetricSpec,
    universes: &[Vec<usize>],
    parts: &[(usize, Vec<usize>)],
    request: &IntervalRequest,
) -> Result<RecordBatch> {
    let grouped = grouped_tallies(state, spec)?;
    let tallies = &grouped.tallies;
    let segments = tallies.segments();
    let mut totals = Tallies::new(tallies.points(), tallies.weighted(), universes.len())
        .with_replicates(tallies.replicates());
    let mut sorted: Vec<Vec<usize>> = Vec::with_capacity(universes.len());
    for (u, members) in universes.iter().enumerate() {
        let mut members = members.clone();
        members.sort_unstable();
        if let Some(w) = members.windows(2).find(|w| w[0] == w[1]) {
            return Err(CoreError::InvalidArgument(format!(
                "universe {u} names segment {} twice",
                w[0]
            )));
        }
        for &s in &members {
            check_segment(s, segments, "universe", u)?;
            totals.add_segment(u, tallies, s);
        }
        sorted.push(members);
    }
    let (k, reps) = (tallies.points(), tallies.replicates());
    let mut counts = Vec::with_capacity(parts.len() * (k + 2));
    let (mut wsum, mut w2sum, mut rep) = (Vec::new(), Vec::new(), Vec::new());
    for (g, (u, part)) in parts.iter().enumerate() {
        let members = sorted.get(*u).ok_or_else(|| {
            CoreError::InvalidArgument(format!(
                "part {g} names universe {u}, but there are {}",
                universes.len()
            ))
        })?;
        let mut part = part.clone();
        part.sort_unstable();
        part.dedup();
        let stride = k + 2;
        let mut own = totals.raw_counts()[u * stride..(u + 1) * stride].to_vec();
        let (tw, tw2) = totals.raw_weight_sums();
        let cells = if tallies.weighted() {
            u * k..(u + 1) * k
        } else {
            0..0
        };
        let mut own_w = tw[cells.clone()].to_vec();
        let mut own_w2 = tw2[cells].to_vec();
        let block = k * reps;
        let mut own_rep = totals.raw_replicates()[u * block..(u + 1) * block].to_vec();
        for &s in &part {
            check_segment(s, segments, "part", g)?;
            if members.binary_search(&s).is_err() {
                return Err(CoreError::InvalidArgument(format!(
                    "part {g} names segment {s}, which is not in universe {u}"
                )));
            }
            let theirs = &tallies.raw_counts()[s * stride..(s + 1) * stride];
            // A subset's counts never exceed the universe's: the subtraction cannot wrap.
            own.iter_mut().zip(theirs).for_each(|(a, b)| *a -= b);
            if let Some((w, w2)) = tallies.exact_weight_sums(s) {
                subtract_all(&mut own_w, w);
                subtract_all(&mut own_w2, w2);
                subtract_all(
                    &mut own_rep,
                    &tallies.raw_replicates()[s * block..(s + 1) * block],
                );
            }
        }
        counts.extend(own);
        wsum.extend(own_w);
        w2sum.extend(own_w2);
        rep.extend(own_rep);
    }
    let out = Tallies::from_parts(k, tallies.weighted(), counts, wsum, w2sum, reps, rep)?;
    estimate_groups(spec, &out, request)
}

fn grouped_tallies(
    state: &AccumulatorState,
    spec: &MetricSpec,
) -> Result<crate::keyed_tallies::Grouped> {
    if spec.scale != state.scale() {
        return Err(CoreError::InvalidArgument(
            "the metric's scale differs from the aggregation's".into(),
        ));
    }
    match state.aggregator() {
        Some(a) => a.finish(),
        None => state.empty_aggregator()?.finish(),
    }
}

fn check_segment(s: usize, segments: usize, what: &str, g: usize) -> Result<()> {
    if s >= segments {
        return Err(CoreError::InvalidArgument(format!(
            "{what} {g} names segment {s}, but there are {segments}"
        )));
    }
    Ok(())
}

/// `a[i] −= b[i]` for exact sums, `b[i]` a part of `a[i]`, so the result is exact and ≥ 0.
fn subtract_all(a: &mut [ExactSum], b: &[ExactSum]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = subtract(x, y);
    }
}

/// `a − b` on the 256-bit integers of two exact sums (`b` ≤ `a`).
fn subtract(a: &ExactSum, b: &ExactSum) -> ExactSum {
    let (a, b) = (a.limbs(), b.limbs());
    let mut out = [0u64; 4];
    let mut borrow = false;
    for j in 0..4 {
        let (d, b1) = a[j].overflowing_sub(b[j]);
        let (d, b2) = d.overflowing_sub(borrow as u64);
        out[j] = d;
        borrow = b1 | b2;
    }
    debug_assert!(!borrow, "a part exceeds its universe");
    ExactSum::from_limbs(out)
}

/// Estimates tallies whose segments are groups, keyed by position.
fn estimate_groups(
    spec: &MetricSpec,
    out: &Tallies,
    request: &IntervalRequest,
) -> Result<RecordBatch> {
    let ids: Vec<u32> = (0..out.segments() as u32).collect();
    // A group's random stream follows its position, as a segment's follows its key.
    let streams: Vec<u64> = ids.iter().map(|g| key_stream(&g.to_le_bytes())).collect();
    let keys: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from(ids))];
    estimate_batch(spec, out, &streams, &keys, &["group".to_string()], request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtraction_borrows_across_limbs() {
        let a = ExactSum::from_limbs([0, 1, 0, 1]);
        let b = ExactSum::from_limbs([1, 0, 0, 0]);
        assert_eq!(subtract(&a, &b).limbs(), [u64::MAX, 0, 0, 1]);
        let mut c = subtract(&a, &b);
        assert!(c.merge(&b));
        assert_eq!(c, a);
        assert!(subtract(&a, &a).is_zero());
    }
}
