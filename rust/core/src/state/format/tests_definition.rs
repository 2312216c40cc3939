//! The definition section of format 3: round trips of every metric, validation of every field,
//! consistency with the state, and the merge rule.

use super::tests::{assert_corrupt, nps, reseal, small_state};
use super::*;
use crate::error::CoreError;
use crate::scale::Scale;
use crate::state::definition::{CesVariant, Definition, MetricOptions, OnInvalid, Statistic};
use crate::state::AccumulatorState;
use crate::streams::ReplicateStreams;

/// The definition of `small_state()`: NPS by two keys, weighted, invalid scores dropped.
fn small_definition() -> Definition {
    Definition {
        metric: MetricOptions::Nps {
            promoters: (9, 10),
            detractors: (0, 6),
        },
        scale: nps(),
        on_invalid: OnInvalid::Drop,
        table: true,
        score: Some("s".into()),
        by: Some(vec!["k".into(), "j".into()]),
        weight: Some("w".into()),
        replicates: None,
    }
}

fn column_mode(metric: MetricOptions, scale: Scale) -> Definition {
    Definition {
        metric,
        scale,
        on_invalid: OnInvalid::Raise,
        table: false,
        score: None,
        by: None,
        weight: None,
        replicates: None,
    }
}

#[test]
fn every_metric_round_trips() {
    let five = Scale::new(1, 5).unwrap();
    let ten = Scale::new(1, 10).unwrap();
    for (metric, scale) in [
        (
            MetricOptions::Nps {
                promoters: (9, 10),
                detractors: (0, 6),
            },
            nps(),
        ),
        (
            MetricOptions::Csat {
                satisfied: (4, 5),
                statistic: Statistic::Mean,
            },
            five,
        ),
        (
            MetricOptions::Ces {
                variant: CesVariant::Agreement,
                statistic: Statistic::Share,
            },
            Scale::new(1, 7).unwrap(),
        ),
        (
            MetricOptions::Ces {
                variant: CesVariant::Effort,
                statistic: Statistic::Mean,
            },
            five,
        ),
        (MetricOptions::TopBox { k: 2 }, ten),
        (MetricOptions::BottomBox { k: 10 }, ten),
        (MetricOptions::Mean, five),
    ] {
        let d = column_mode(metric, scale);
        let bytes = encode_accumulator(&d, None).unwrap();
        let (back, state) = decode_accumulator(&bytes).unwrap();
        assert_eq!(back.as_ref(), Some(&d));
        assert!(state.is_none());
        assert_eq!(encode_accumulator(&d, None).unwrap(), bytes);
    }
    let state = small_state();
    let d = small_definition();
    let bytes = encode_accumulator(&d, Some(&state)).unwrap();
    let (back, read) = decode_accumulator(&bytes).unwrap();
    assert_eq!(back, Some(d));
    assert_eq!(encode(&read.unwrap()).unwrap(), encode(&state).unwrap());
    // The plain decoder reads the state and leaves the definition out; bare states have none.
    assert_eq!(
        encode(&decode(&bytes).unwrap()).unwrap(),
        encode(&state).unwrap()
    );
    let (none, _) = decode_accumulator(&encode(&state).unwrap()).unwrap();
    assert!(none.is_none());
}

#[test]
fn replicate_settings_come_from_the_state() {
    let streams = ReplicateStreams::new(3, Some(5), 2).unwrap();
    let state = AccumulatorState::new(nps(), true, 0, Some(streams)).unwrap();
    let mut d = small_definition();
    d.by = None;
    d.replicates = Some((3, Some(5)));
    let bytes = encode_accumulator(&d, Some(&state)).unwrap();
    assert_eq!(decode_accumulator(&bytes).unwrap().0, Some(d.clone()));
    d.replicates = Some((3, None));
    assert!(encode_accumulator(&d, Some(&state)).is_err());
}

/// A change to a definition.
type Edit = Box<dyn Fn(&mut Definition)>;

#[test]
fn invalid_or_inconsistent_definitions_are_refused_at_encode() {
    let state = small_state();
    let edits: Vec<Edit> = vec![
        Box::new(|d| d.by = Some(vec!["k".into()])),
        Box::new(|d| d.weight = None),
        Box::new(|d| d.score = None),
        Box::new(|d| d.scale = Scale::new(1, 5).unwrap()),
        Box::new(|d| {
            d.metric = MetricOptions::Nps {
                promoters: (9, 11),
                detractors: (0, 6),
            }
        }),
        Box::new(|d| {
            d.metric = MetricOptions::Nps {
                promoters: (5, 10),
                detractors: (0, 6),
            }
        }),
        Box::new(|d| d.metric = MetricOptions::TopBox { k: 0 }),
        Box::new(|d| d.metric = MetricOptions::BottomBox { k: 12 }),
        Box::new(|d| {
            d.metric = MetricOptions::Ces {
                variant: CesVariant::Effort,
                statistic: Statistic::Share,
            }
        }),
        Box::new(|d| d.replicates = Some((2, None))),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut d = small_definition();
        edit(&mut d);
        assert!(
            matches!(
                encode_accumulator(&d, Some(&state)),
                Err(CoreError::InvalidArgument(_))
            ),
            "edit {i}"
        );
    }
    let mut d = small_definition();
    d.table = true;
    d.score = None;
    assert!(encode_accumulator(&d, None).is_err());
}

/// Every field of the definition section, set to a value out of its range and resealed (as a
/// forger would), is rejected as corrupt.
#[test]
fn crafted_definitions_are_rejected() {
    let good = encode_accumulator(&small_definition(), Some(&small_state())).unwrap();
    decode_accumulator(&good).unwrap();
    let at = HEADER_LEN; // the definition follows the scale
    let edit = |pos: usize, bytes: &[u8]| {
        let mut b = good.clone();
        b[pos..pos + bytes.len()].copy_from_slice(bytes);
        reseal(b)
    };
    let corrupt = |b: &[u8], what: &str| {
        let m = assert_corrupt(b, what);
        assert!(m.contains("definition"), "{what}: {m}");
    };
    corrupt(&edit(at, &[9]), "unknown metric");
    corrupt(
        &edit(at + 1, &11i64.to_le_bytes()),
        "promoters off the scale",
    );
    corrupt(&edit(at + 17, &9i64.to_le_bytes()), "overlapping buckets");
    corrupt(&edit(at + 33, &[2]), "on_invalid");
    corrupt(&edit(at + 34, &[2]), "table flag");
    corrupt(&edit(at + 35, &[0]), "score removed");
    assert_corrupt(&edit(at + 36, &9u32.to_le_bytes()), "score length");
    corrupt(&edit(at + 40, &[0xFF]), "score not UTF-8");
    assert_corrupt(&edit(at + 42, &0xFFFF_FFFFu32.to_le_bytes()), "by count");
    assert_corrupt(
        &edit(at + 42, &1u32.to_le_bytes()),
        "one by name for two keys",
    );
    // Another metric on the same bytes: a valid CSAT on 0..10 would need its statistic byte.
    assert_corrupt(&edit(at, &[1]), "nps options read as csat");
    // Dropping the flag leaves definition bytes where the tallies should be.
    let mut b = good.clone();
    b[10] &= !(FLAG_DEFINITION as u8);
    assert_corrupt(&reseal(b), "definition flag cleared");
    // Format 2 has no definitions.
    let mut b = good.clone();
    b[8..10].copy_from_slice(&2u16.to_le_bytes());
    assert_corrupt(&reseal(b), "definition in format 2");
}

#[test]
fn column_mode_without_data_holds_no_tallies() {
    let d = column_mode(MetricOptions::Mean, nps());
    let state = AccumulatorState::new(nps(), false, 0, None).unwrap();
    assert!(encode_accumulator(&d, Some(&state)).is_err());
    let bytes = encode_accumulator(&d, None).unwrap();
    // A weighted (or keyed) placeholder under a definition that names no columns.
    let mut b = bytes.clone();
    b[10] |= FLAG_WEIGHTED as u8;
    let m = assert_corrupt(&reseal(b), "weighted placeholder");
    assert!(m.contains("names no columns"), "{m}");
    let mut b = bytes.clone();
    b[12] = 1;
    assert_corrupt(&reseal(b), "keyed placeholder");
}

#[test]
fn merge_rule_names_every_difference() {
    let a = small_definition();
    assert!(a.check_mergeable(&a.clone(), true).is_ok());
    let mut b = a.clone();
    b.score = Some("t".into());
    b.by = Some(vec!["k".into()]);
    // Columns only matter when both hold data.
    assert!(a.check_mergeable(&b, false).is_ok());
    match a.check_mergeable(&b, true) {
        Err(CoreError::Incompatible(m)) => {
            assert!(m.contains("different definitions"), "{m}");
            assert!(m.contains("score: 's' vs 't'"), "{m}");
            assert!(m.contains("by: ['k', 'j'] vs ['k']"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    let mut c = a.clone();
    c.metric = MetricOptions::Nps {
        promoters: (8, 10),
        detractors: (0, 6),
    };
    c.replicates = Some((5, None));
    let m = a.check_mergeable(&c, true).unwrap_err().to_string();
    assert!(
        m.contains("options: {'scale': [0, 10], 'promoters': [9, 10]"),
        "{m}"
    );
    assert!(
        m.contains("bootstrap: None vs {'replicates': 5, 'seed': None}"),
        "{m}"
    );
}
