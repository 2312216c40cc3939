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
/// `weights` are the chunk's weights with the range [`super::check_weights`] found in exactly
/// these weights, which passed it: the kernel's exact sums convert each weight unchecked
/// inside that range's windows.
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int32Array, Int8Array};

    /// Scores with nulls and off-scale values, sliced so the validity bits start mid-byte,
    /// tallied whole and by a key: every count equals a plain count over the rows.
    #[test]
    fn null_scores_of_a_sliced_array_count_as_missing() {
        let scale = Scale::new(0, 10).unwrap();
        let all: Vec<Option<i8>> = (0..700)
            .map(|i: i32| match i % 7 {
                0 => None,
                3 if i % 3 == 0 => Some(11 + (i % 5) as i8),
                _ => Some(((i * 5 + i / 7) % 11) as i8),
            })
            .collect();
        let (start, len) = (5, 611);
        let score: ArrayRef = std::sync::Arc::new(Int8Array::from(all.clone()).slice(start, len));
        let rows = &all[start..start + len];
        let key_of = |r: usize| (r * 7 / 3) % 4;
        let keys: Vec<ArrayRef> = vec![std::sync::Arc::new(
            Int32Array::from((0..700).map(|i| key_of(i) as i32 + 100).collect::<Vec<_>>())
                .slice(start, len),
        )];
        for keys in [&keys[..0], &keys[..]] {
            let plan = ChunkPlan::new(keys, true).unwrap();
            let (parts, first_bad) = tally_chunk(&score, None, &plan, scale, None).unwrap();
            assert!(first_bad.is_some());
            let ChunkPlan::Whole(groups) = &plan else {
                panic!("one small-range key or none: whole-chunk ids")
            };
            let (tallies, _) = &parts[0];
            // A small-range key's local id is its offset from the smallest value (100); a
            // sink segment for corrupt ids may follow, and must stay empty.
            let segments = if keys.is_empty() { 1 } else { 4 };
            assert!(groups.n_local >= segments);
            for s in segments..tallies.segments() {
                assert_eq!(
                    tallies.missing(s) + tallies.counts(s).iter().sum::<u64>(),
                    0
                );
            }
            for s in 0..segments {
                let mine = |r: &usize| keys.is_empty() || key_of(start + *r) == s;
                let in_s: Vec<Option<i8>> = (0..len).filter(mine).map(|r| rows[r]).collect();
                let missing = in_s.iter().filter(|v| v.is_none()).count() as u64;
                let invalid = in_s
                    .iter()
                    .filter(|v| matches!(v, Some(x) if *x > 10))
                    .count();
                assert_eq!(tallies.missing(s), missing, "segment {s}");
                assert_eq!(tallies.invalid(s), invalid as u64, "segment {s}");
                for code in 0..11 {
                    let n = in_s.iter().filter(|v| **v == Some(code as i8)).count() as u64;
                    assert_eq!(tallies.counts(s)[code], n, "segment {s}, code {code}");
                }
            }
        }
    }

    /// Many segments (30,001, a count table beyond L2) on two threads and on one: the counts
    /// equal a plain count whichever way the rows are split, with null and off-scale scores on
    /// a slice whose validity bits start mid-byte.
    #[test]
    fn many_segments_count_alike_on_one_and_two_threads() {
        let scale = Scale::new(0, 10).unwrap();
        let (total, start, len, segments) = (300_007usize, 3usize, 300_000usize, 30_001usize);
        let all: Vec<Option<i8>> = (0..total)
            .map(|i| match (i * 7919) % 13 {
                0 => None,
                1 => Some(12),
                c => Some(((i / 3 + c) % 11) as i8),
            })
            .collect();
        let key_of = |i: usize| (i * 104_729) % segments;
        let score: ArrayRef = std::sync::Arc::new(Int8Array::from(all.clone()).slice(start, len));
        let keys: Vec<ArrayRef> = vec![std::sync::Arc::new(
            Int32Array::from((0..total).map(|i| key_of(i) as i32 - 7).collect::<Vec<_>>())
                .slice(start, len),
        )];
        let tally_on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let plan = ChunkPlan::new(&keys, true).unwrap();
                assert!(matches!(plan, ChunkPlan::Whole(_)), "a small-range key");
                tally_chunk(&score, None, &plan, scale, None)
                    .unwrap()
                    .0
                    .remove(0)
                    .0
            })
        };
        let (two, one) = (tally_on(2), tally_on(1));
        assert_eq!(two, one);
        let mut plain = vec![[0u64; 13]; segments];
        for i in start..start + len {
            let code = match all[i] {
                None => 11,
                Some(v) if v > 10 => 12,
                Some(v) => v as usize,
            };
            plain[key_of(i)][code] += 1;
        }
        for (s, cells) in plain.iter().enumerate() {
            assert_eq!(two.counts(s), &cells[..11], "segment {s}");
            assert_eq!(two.missing(s), cells[11], "segment {s}");
            assert_eq!(two.invalid(s), cells[12], "segment {s}");
        }
        for s in segments..two.segments() {
            assert!(two.segment_is_empty(s), "sink segment {s}");
        }
    }
}
