//! Estimates of unions of a state's segments: the complement of a segment ("the rest"), a
//! rolling window of periods, or an empty period.
//!
//! Tallies are added exactly (counts and exact weight sums, replicate sums too), so a union's
//! figures equal those of one pass over its rows. Uses the state, tallies, streams and report
//! modules; nothing uses it but the binding.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};

use crate::error::{CoreError, Result};
use crate::metric::MetricSpec;
use crate::report::{estimate_batch, IntervalRequest};
use crate::state::State;
use crate::streams::key_stream;
use crate::tally::Tallies;

/// One row per group: the union of the listed segments of `state` (indices in result order:
/// keys ascending, nulls last), estimated like a segment. An empty list is a group without
/// responses. The key column `group` holds the group's position.
pub fn estimate_unions(
    state: &State,
    spec: &MetricSpec,
    groups: &[Vec<usize>],
    request: &IntervalRequest,
) -> Result<RecordBatch> {
    if spec.scale != state.scale() {
        return Err(CoreError::InvalidArgument(
            "the metric's scale differs from the aggregation's".into(),
        ));
    }
    let grouped = match state.aggregator() {
        Some(a) => a.finish()?,
        None => state.empty_aggregator()?.finish()?,
    };
    let tallies = &grouped.tallies;
    let segments = tallies.segments();
    let mut out = Tallies::new(tallies.points(), tallies.weighted(), groups.len())
        .with_replicates(tallies.replicates());
    for (g, members) in groups.iter().enumerate() {
        for &s in members {
            if s >= segments {
                return Err(CoreError::InvalidArgument(format!(
                    "group {g} names segment {s}, but there are {segments}"
                )));
            }
            out.add_segment(g, tallies, s);
        }
    }
    let ids: Vec<u32> = (0..groups.len() as u32).collect();
    // A group's random stream follows its position, as a segment's follows its key.
    let streams: Vec<u64> = ids.iter().map(|g| key_stream(&g.to_le_bytes())).collect();
    let keys: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from(ids))];
    estimate_batch(spec, &out, &streams, &keys, &["group".to_string()], request)
}
