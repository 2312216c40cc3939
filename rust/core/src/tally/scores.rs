//! Per-dtype dispatch: a score column of any numeric Arrow type onto the kernel. Adding a score
//! type means a case here (and a [`ScoreValue`] implementation in `scale`).

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

use super::kernel::{tally_with, ScoreTally};
use super::{Tallies, WeightRange};
use crate::error::{CoreError, Result, Role};
use crate::group::ChunkGroups;
use crate::scale::Scale;

/// Tallies one aligned chunk. Returns the local tallies and the first invalid score.
pub(crate) fn tally_chunk(
    score: &ArrayRef,
    weights: Option<(&[f64], WeightRange)>,
    groups: &ChunkGroups<'_>,
    scale: Scale,
    replicates: Option<(usize, u64)>,
) -> Result<(Tallies, Option<(usize, String)>)> {
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
            tally_with(&groups.ids, groups.n_local, scores)
        }};
    }
    match score.data_type() {
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
        DataType::Float16 | DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => {
            // Rare layouts: widen once to f64 (exact for every value a rating scale can hold).
            let wide = arrow_cast::cast(score, &DataType::Float64)?;
            tally_chunk(&wide, weights, groups, scale, replicates)
        }
        DataType::Null => {
            let a = arrow_array::Int8Array::new_null(score.len());
            go!(&a)
        }
        other => Err(CoreError::UnsupportedType {
            role: Role::Score,
            data_type: other.to_string(),
            why: "scores must be integers or floats",
        }),
    }
}
