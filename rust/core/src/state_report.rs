//! A state's estimates, per segment and overall, as record batches: the whole of one estimate
//! call (checks, grouping, weighted-bootstrap cells, the overall row), so that the binding only
//! converts arguments and results.
//!
//! May use: `state`, `aggregator`, `report`, `composite`, `weighted_bootstrap`, `streams`,
//! `metric`, `error`.

use arrow_array::RecordBatch;

use crate::composite::{
    composite_batch, composite_cells, pool_composite_cells, segment_keys, CompositeInterval,
};
use crate::error::{CoreError, Result};
use crate::keyed_tallies::Grouped;
use crate::metric::MetricSpec;
use crate::report::{estimate_batch, estimate_batch_in_order, IntervalRequest};
use crate::state::AccumulatorState;
use crate::streams::OVERALL_STREAM;
use crate::weighted_bootstrap::{pool_weight_cells, weight_cells_by_segment};

/// Per-segment and overall estimates.
pub struct Estimates {
    /// One row per segment, in key order (the key columns first).
    pub segments: RecordBatch,
    /// One row: every segment together.
    pub overall: RecordBatch,
}

/// The segments of a state, in key order (an empty state has its one empty segment).
fn grouped(state: &AccumulatorState) -> Result<Grouped> {
    match state.aggregator() {
        Some(agg) => agg.finish(),
        None => state.empty_aggregator()?.finish(),
    }
}

/// From this many segments on, the overall row's tallies are summed beside the key order.
const CONCURRENT_TOTAL_SEGMENTS: usize = 1 << 14;

/// Estimates of `spec` over `state`. A weighted bootstrap needs `weight_cells`: an unweighted
/// state of the same rows with the weight column as one more (last) key.
pub fn estimate_state(
    spec: &MetricSpec,
    state: &AccumulatorState,
    weight_cells: Option<&AccumulatorState>,
    key_names: &[String],
    mut request: IntervalRequest,
) -> Result<Estimates> {
    if spec.scale != state.scale() {
        return Err(CoreError::InvalidArgument(format!(
            "metric scale {}..{} differs from the aggregation's {}..{}",
            spec.scale.low,
            spec.scale.high,
            state.scale().low,
            state.scale().high
        )));
    }
    // The tallies are read in key order through the index's order: no reordered copy.
    let empty;
    let agg = match state.aggregator() {
        Some(agg) => agg,
        None => {
            empty = state.empty_aggregator()?;
            &empty
        }
    };
    // The overall row's tallies: a pass over every segment's counts, bound by memory. With many
    // segments it runs while the keys are put in order; with few, both stay on the calling
    // thread (handing work to the pool from outside it costs a wake-up, up to milliseconds on a
    // loaded machine).
    let total = || (state.n_keys() > 0).then(|| agg.tallies().total());
    let (in_order, total) = if agg.tallies().segments() >= CONCURRENT_TOTAL_SEGMENTS {
        rayon::join(|| agg.key_order(), total)
    } else {
        (agg.key_order(), total())
    };
    let in_order = in_order?;
    let mut overall_cells = None;
    if let Some(cells_agg) = weight_cells.and_then(AccumulatorState::aggregator) {
        let cells = weight_cells_by_segment(spec, &cells_agg.finish()?, state.n_keys())?;
        if cells.len() != in_order.streams.len() {
            return Err(CoreError::InvalidArgument(
                "weight cells do not match the segments (different rows?)".into(),
            ));
        }
        overall_cells = Some(vec![pool_weight_cells(&cells)]);
        request.weight_cells = Some(cells);
    }
    let segments = estimate_batch_in_order(
        spec,
        agg.tallies(),
        in_order.order.as_deref(),
        &in_order.streams,
        &in_order.keys,
        key_names,
        &request,
    )?;
    // Unsegmented: the one segment is the overall estimate (same rows, same stream).
    let overall = match total {
        None => segments.clone(),
        Some(total) => {
            request.weight_cells = overall_cells;
            // Exact sums: the total does not depend on the segments' order.
            estimate_batch(spec, &total, &[OVERALL_STREAM], &[], &[], &request)?
        }
    };
    Ok(Estimates { segments, overall })
}

/// Composite index estimates from a state keyed by (segment keys…, answers…), in the layout of
/// [`estimate_state`].
pub fn estimate_composite(
    state: &AccumulatorState,
    n_keys: usize,
    question_weights: &[f64],
    key_names: &[String],
    interval: &CompositeInterval,
    confidence: f64,
) -> Result<Estimates> {
    let grouped = grouped(state)?;
    let per_segment = composite_cells(&grouped, n_keys, state.scale(), question_weights)?;
    let (keys, streams) = segment_keys(&grouped, n_keys)?;
    let segments = composite_batch(
        &per_segment,
        &streams,
        &keys,
        key_names,
        interval,
        confidence,
    )?;
    let overall = composite_batch(
        &[pool_composite_cells(&per_segment)],
        &[OVERALL_STREAM],
        &[],
        &[],
        interval,
        confidence,
    )?;
    Ok(Estimates { segments, overall })
}
