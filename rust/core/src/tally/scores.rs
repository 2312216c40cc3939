//! Per-dtype dispatch: a score column of any numeric Arrow type onto the kernel. Adding a score
//! type means a case here (and a [`ScoreValue`] implementation in `scale`).

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

use super::kernel::{tally_by_morsels, tally_with, ScoreTally};
use super::{Tallies, WeightRange};
use crate::error::{CoreError, Result, Role};
use crate::group::{ChunkPlan, GroupKeys};
use crate::scale::Scale;

/// Local tallies of one chunk, each with the keys of its local ids (None: the keys of the
/// plan's whole-chunk grouping).
pub(crate) type LocalTallies = Vec<(Tallies, Option<GroupKeys>)>;

/// Tallies one aligned chunk. Returns the local tallies and the first invalid score.
pub(crate) fn tally_chunk(
    score: &ArrayRef,
    weights: Option<(&[f64], WeightRange)>,
    plan: &ChunkPlan<'_>,
    scale: Scale,
    replicates: Option<(usize, u64)>,
) -> Result<(LocalTallies, Option<(usize, String)>)> {
    macro_rules! go {
        ($array:expr) => {{
            let a = $array;
            let rows = a.len();
            let scores = ScoreTally {
                values: a.values().as_ref(),
                nulls: a.nulls().filter(|n| n.null_count() > 0),
                weights: weights.map(|(w, _)| w),
                low: scale.low,
                points: scale.points(),
                replicates,
                windows: weights.and_then(|(_, range)| range.windows(rows)),
            };
            match plan {
                ChunkPlan::Whole(groups) => {
                    let (t, first) = tally_with(&groups.ids, groups.n_local, scores)?;
                    (vec![(t, None)], first)
                }
                ChunkPlan::Morsels(plan) => {
                    let (parts, first) = tally_by_morsels(plan, scores)?;
                    (
                        parts.into_iter().map(|(t, k)| (t, Some(k))).collect(),
                        first,
                    )
                }
            }
        }};
    }
    Ok(match score.data_type() {
        DataType::Int8 => go!(score.as_primitive::<Int8Type>()),
        DataType::Int16 => go!(score.as_primitive::<Int16Type>()),
        DataType::Int32 => go!(score.as_primitive::<Int32Type>()),
        DataType::Int64 => go!(score.as_primitive::<Int64Type>()),
        DataType::UInt8 => go!(score.as_primitive::<UInt8Type>()),
        DataType::UInt16 => go!(score.as_primitive::<UInt16Type>()),
        DataType::UInt32 => go!(score.as_primitive::<UInt32Type>()),
        DataType::UInt64 => go!(score.as_primitive::<UInt64Type>()),
        DataType::Float32 => go!(score.as_primitive::<Float32Type>()),
        DataType::Float64 => go!(score.as_primitive::<Float64Type>()),
        DataType::Float16 => {
            // A rare layout: widen once to f64 (exact for every half float).
            let wide = arrow_cast::cast(score, &DataType::Float64)?;
            return tally_chunk(&wide, weights, plan, scale, replicates);
        }
        DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => {
            let wide = decimal_as_f64(score)?;
            return tally_chunk(&wide, weights, plan, scale, replicates);
        }
        DataType::Null => {
            let a = arrow_array::Int8Array::new_null(score.len());
            go!(&a)
        }
        other => {
            return Err(CoreError::UnsupportedType {
                role: Role::Score,
                data_type: other.to_string(),
                why: "scores must be integers or floats",
            })
        }
    })
}

/// Decimal scores as f64, exactly where it matters: a value with a fractional part, however
/// tiny (9.0000000000000000001), becomes NaN, an invalid score, instead of rounding to a whole
/// number as a plain cast to f64 would. Whole values convert exactly (rating scales are small).
fn decimal_as_f64(score: &ArrayRef) -> Result<ArrayRef> {
    let decimal = match score.data_type() {
        DataType::Decimal256(p, s) => {
            // Checked: a value Decimal128 cannot hold is an error, not a null.
            let options = arrow_cast::CastOptions {
                safe: false,
                ..Default::default()
            };
            let narrow = DataType::Decimal128((*p).min(38), (*s).min(38));
            arrow_cast::cast_with_options(score, &narrow, &options)?
        }
        _ => score.clone(),
    };
    let DataType::Decimal128(_, scale) = *decimal.data_type() else {
        unreachable!("decimal_as_f64 takes decimal columns");
    };
    let wide = arrow_cast::cast(&decimal, &DataType::Float64)?;
    if scale <= 0 {
        return Ok(wide);
    }
    let unit = 10i128.checked_pow(scale as u32).unwrap_or(i128::MAX);
    let raw = decimal.as_primitive::<Decimal128Type>();
    let wide = wide.as_primitive::<Float64Type>();
    let exact: arrow_array::Float64Array = raw
        .iter()
        .zip(wide.iter())
        .map(|(r, f)| match (r, f) {
            (Some(r), Some(f)) if r % unit == 0 => Some(f),
            (Some(_), Some(_)) => Some(f64::NAN),
            _ => None,
        })
        .collect();
    Ok(std::sync::Arc::new(exact))
}
