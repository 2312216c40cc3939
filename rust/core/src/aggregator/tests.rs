use super::*;
use arrow_array::types::Int32Type;
use arrow_array::{DictionaryArray, Float64Array, Int64Array, Int8Array, StringArray};
use std::sync::Arc;

fn nps_scale() -> Scale {
    Scale::new(0, 10).unwrap()
}

#[test]
fn unsegmented_counts_missing_and_invalid() {
    let scores: ArrayRef = Arc::new(Int8Array::from(vec![
        Some(10),
        None,
        Some(0),
        Some(11),
        Some(10),
    ]));
    let mut agg = Aggregator::new(nps_scale(), None, false).unwrap();
    let cols = Columns {
        score: vec![scores],
        keys: vec![],
        weight: None,
    };
    let err = agg.update(&cols, false, 0).unwrap_err();
    match err {
        CoreError::InvalidScore {
            count,
            first_row,
            first_value,
            ..
        } => assert_eq!((count, first_row, first_value.as_str()), (1, 3, "11")),
        e => panic!("unexpected {e}"),
    }
    assert_eq!(
        agg.tallies().counts(0).iter().sum::<u64>(),
        0,
        "failed update leaves state"
    );
    agg.update(&cols, true, 0).unwrap();
    let t = agg.tallies();
    assert_eq!(t.counts(0)[10], 2);
    assert_eq!(t.counts(0)[0], 1);
    assert_eq!((t.missing(0), t.invalid(0)), (1, 1));
}

#[test]
fn segmented_chunked_and_weighted() {
    let keys1: DictionaryArray<Int32Type> = vec![Some("x"), Some("y"), None].into_iter().collect();
    let keys2: ArrayRef = Arc::new(StringArray::from(vec![Some("y"), Some("x")]));
    let scores: ArrayRef = Arc::new(Float64Array::from(vec![9.0, 3.0, 10.0, 7.0, 9.0]));
    let weights: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5]));
    // Keys in two differently typed chunks; scores in one; weights in one.
    let mut agg = Aggregator::new(nps_scale(), Some(vec![DataType::Utf8]), true).unwrap();
    agg.update(
        &Columns {
            score: vec![scores.slice(0, 2), scores.slice(2, 3)],
            keys: vec![vec![Arc::new(keys1), keys2]],
            weight: Some(vec![weights]),
        },
        false,
        0,
    )
    .unwrap();
    let g = agg.finish().unwrap();
    let k = g.keys[0].as_string::<i32>();
    assert_eq!((k.value(0), k.value(1), k.is_null(2)), ("x", "y", true));
    assert_eq!(g.tallies.counts(0)[9], 2); // x: 9.0 (w1) and 9.0 (w5)
    let (wsum, w2sum) = g.tallies.exact_weight_sums(0).unwrap();
    assert_eq!(wsum[9].to_f64(), 6.0);
    assert_eq!(w2sum[9].to_f64(), 26.0);
    assert_eq!(g.tallies.counts(1)[3] + g.tallies.counts(1)[7], 2);
    assert_eq!(g.tallies.counts(2)[10], 1);
}

#[test]
fn bad_weights_and_lengths() {
    let scores: ArrayRef = Arc::new(Int8Array::from(vec![1, 2, 3]));
    let weights: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), Some(-1.0), None]));
    let mut agg = Aggregator::new(nps_scale(), None, true).unwrap();
    let err = agg
        .update(
            &Columns {
                score: vec![scores.clone()],
                keys: vec![],
                weight: Some(vec![weights]),
            },
            false,
            10,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::InvalidWeight {
                count: 2,
                first_row: 11,
                ..
            }
        ),
        "{err}"
    );
    let short: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
    let err = agg
        .update(
            &Columns {
                score: vec![scores],
                keys: vec![],
                weight: Some(vec![short]),
            },
            false,
            0,
        )
        .unwrap_err();
    assert!(matches!(err, CoreError::LengthMismatch { .. }));
}

#[test]
fn null_typed_keys_merge_into_typed_ones() {
    let scores: ArrayRef = Arc::new(Int8Array::from(vec![10, 0]));
    let nulls: ArrayRef = Arc::new(arrow_array::NullArray::new(2));
    let strings: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
    let mut untyped = Aggregator::new(nps_scale(), Some(vec![DataType::Null]), false).unwrap();
    untyped
        .update(
            &Columns {
                score: vec![scores.clone()],
                keys: vec![vec![nulls]],
                weight: None,
            },
            false,
            0,
        )
        .unwrap();
    let mut typed = Aggregator::new(nps_scale(), Some(vec![DataType::Utf8]), false).unwrap();
    typed
        .update(
            &Columns {
                score: vec![scores],
                keys: vec![vec![strings]],
                weight: None,
            },
            false,
            0,
        )
        .unwrap();
    untyped.merge(&typed).unwrap();
    let g = untyped.finish().unwrap();
    assert_eq!(g.keys[0].data_type(), &DataType::Utf8);
    // "a" (one promoter) and null (two nulls from the untyped side + one detractor).
    assert_eq!(g.tallies.segments(), 2);
    assert_eq!(g.tallies.counts(1).iter().sum::<u64>(), 3);
    let mut ints = Aggregator::new(nps_scale(), Some(vec![DataType::Int64]), false).unwrap();
    assert!(ints.merge(&typed).is_err());
}

#[test]
fn parallel_matches_serial() {
    let n = 300_000;
    let scores: ArrayRef = Arc::new(Int8Array::from_iter_values((0..n).map(|i| (i % 11) as i8)));
    let keys: DictionaryArray<Int32Type> = (0..n).map(|i| Some(["a", "b", "c"][i % 3])).collect();
    let keys: ArrayRef = Arc::new(keys);
    let mut agg = Aggregator::new(nps_scale(), Some(vec![DataType::Utf8]), false).unwrap();
    agg.update(
        &Columns {
            score: vec![scores],
            keys: vec![vec![keys]],
            weight: None,
        },
        false,
        0,
    )
    .unwrap();
    let g = agg.finish().unwrap();
    let total: u64 = (0..3)
        .map(|s| g.tallies.counts(s).iter().sum::<u64>())
        .sum();
    assert_eq!(total, n as u64);
    // Row i has score i % 11 and key i % 3: segment a holds rows 0, 3, 6, ...
    let expected_a_zero = (0..n).filter(|i| i % 3 == 0 && i % 11 == 0).count() as u64;
    assert_eq!(g.tallies.counts(0)[0], expected_a_zero);
}
