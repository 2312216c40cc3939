//! Tests of the pass, merging and the byte format: the state depends only on the rows and the
//! seed, never on how rows are split into batches, threads or merges.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::format::{decode, encode};
use super::importance::Method;
use super::interval::Interval;
use super::report::{report_batch, Request};
use super::state::{Columns, DriversState};
use crate::error::{CoreError, Role};
use crate::streams::ReplicateStreams as Streams;

struct Data {
    y: Vec<Option<f64>>,
    x: Vec<Vec<Option<f64>>>,
    w: Vec<f64>,
    region: Vec<&'static str>,
}

fn data(n: usize, p: usize, seed: u64) -> Data {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let x: Vec<Vec<Option<f64>>> = (0..p)
        .map(|_| {
            (0..n)
                .map(|_| Some(rng.random_range(1..=5) as f64))
                .collect()
        })
        .collect();
    let y = (0..n)
        .map(|i| {
            let s: f64 = (0..p).map(|j| (j + 1) as f64 * x[j][i].unwrap()).sum();
            if i % 17 == 3 {
                None
            } else {
                Some(s + rng.random_range(-3.0..3.0))
            }
        })
        .collect();
    let w = (0..n).map(|_| rng.random_range(0.2..3.0)).collect();
    let region = (0..n).map(|i| ["north", "south", "east"][i % 3]).collect();
    Data { y, x, w, region }
}

fn update(state: &mut DriversState, d: &Data, rows: std::ops::Range<usize>) {
    let slice =
        |v: &[Option<f64>]| -> ArrayRef { Arc::new(Float64Array::from(v[rows.clone()].to_vec())) };
    let outcome = slice(&d.y);
    let drivers: Vec<ArrayRef> = d.x.iter().map(|c| slice(c)).collect();
    let weight: ArrayRef = Arc::new(Float64Array::from(d.w[rows.clone()].to_vec()));
    let keys: Vec<ArrayRef> = vec![Arc::new(StringArray::from(d.region[rows.clone()].to_vec()))];
    let columns = Columns {
        outcome: &outcome,
        drivers: &drivers,
        weight: Some(&weight),
        keys: &keys,
    };
    state.update(&columns, rows.start as u64).unwrap();
}

fn fresh(p: usize, stream: u64) -> DriversState {
    DriversState::new(p, 1, true, Some(Streams::new(20, Some(7), stream).unwrap())).unwrap()
}

#[test]
fn gram_sums_do_not_depend_on_batches_or_merge_order() {
    let d = data(20_000, 3, 1);
    let (mut one, mut other) = (fresh(3, 0), fresh(3, 0));
    update(&mut one, &d, 0..20_000);
    update(&mut other, &d, 0..20_000);
    assert_eq!(one, other, "same seed, same rows: same state");
    // Split into batches on other streams: Gram matrices equal, replicates differ.
    let mut parts: Vec<DriversState> = Vec::new();
    for (i, r) in [0..5000, 5000..12_345, 12_345..20_000]
        .into_iter()
        .enumerate()
    {
        let mut s = fresh(3, 10 + i as u64);
        update(&mut s, &d, r);
        parts.push(s);
    }
    let ab_c = parts[0].merge(&parts[1]).unwrap().merge(&parts[2]).unwrap();
    let c_ba = parts[2].merge(&parts[1].merge(&parts[0]).unwrap()).unwrap();
    assert_eq!(ab_c, c_ba, "merge order is irrelevant, replicates included");
    assert_eq!(encode(&ab_c), encode(&c_ba));
    for (key, seg) in &one.segments {
        let merged = &ab_c.segments[key];
        assert_eq!(seg.gram, merged.gram);
        assert_eq!((seg.n, seg.dropped), (merged.n, merged.dropped));
    }
    assert_eq!(
        one.segments.values().map(|s| s.dropped).sum::<u64>(),
        20_000 / 17 + 1
    );
    // Copies drew from one stream: their replicates cannot be merged.
    assert!(one.merge(&other).is_err());
}

#[test]
fn bytes_round_trip_and_corruption_is_detected() {
    let d = data(3000, 2, 2);
    let mut s = fresh(2, 0);
    update(&mut s, &d, 0..3000);
    let bytes = encode(&s);
    assert_eq!(decode(&bytes).unwrap(), s);
    for at in [0, 7, 20, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        assert!(
            matches!(decode(&bad), Err(CoreError::CorruptState(_))),
            "{at}"
        );
    }
    assert!(matches!(
        decode(&bytes[..bytes.len() - 9]),
        Err(CoreError::CorruptState(_))
    ));
    assert!(matches!(decode(b""), Err(CoreError::CorruptState(_))));
}

#[test]
fn reports_are_reproducible_and_name_bad_values() {
    let d = data(4000, 3, 3);
    let report_with = |s: &DriversState, interval: Interval| {
        let request = Request {
            method: Method::RelativeWeights,
            confidence: 0.9,
            interval,
            min_n: 10,
        };
        let names = vec!["a".to_string(), "b".into(), "c".into()];
        report_batch(s, &request, &names, &["region".to_string()]).unwrap()
    };
    let (mut a, mut b) = (fresh(3, 0), fresh(3, 0));
    update(&mut a, &d, 0..4000);
    update(&mut b, &d, 0..4000);
    let mut lows = Vec::new();
    for interval in [Interval::Percentile, Interval::Bc, Interval::Bca] {
        let (ra, rb) = (report_with(&a, interval), report_with(&b, interval));
        assert_eq!(ra, rb, "{interval:?}");
        assert_eq!(ra.num_rows(), 9, "3 segments × 3 drivers");
        lows.push(ra.column_by_name("ci_low").unwrap().clone());
    }
    // The three intervals differ (the bias correction and the acceleration move the bounds).
    assert_ne!(&lows[0], &lows[1]);
    assert_ne!(&lows[1], &lows[2]);
    // An infinite driver value is refused, naming the driver, the count and the row.
    let mut s = fresh(3, 1);
    let y: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0]));
    let x: ArrayRef = Arc::new(Float64Array::from(vec![1.0, f64::INFINITY, 1e9]));
    let w: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 1.0, 1.0]));
    let k: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 1]));
    let drivers = vec![x.clone(), x.clone(), y.clone()];
    let keys = vec![k];
    let columns = Columns {
        outcome: &y,
        drivers: &drivers,
        weight: Some(&w),
        keys: &keys,
    };
    match s.update(&columns, 100) {
        Err(CoreError::InvalidValue {
            role,
            count,
            first_row,
            first_value,
            ..
        }) => {
            assert_eq!(role, Role::Key(0));
            assert_eq!((count, first_row), (2, 101));
            assert_eq!(first_value, "inf");
        }
        other => panic!("{other:?}"),
    }
    assert!(s.segments.is_empty());
}

#[test]
fn tuple_bootstrap_is_partition_free_and_falls_back_past_the_cap() {
    use super::state::Resampling;
    use super::tuples::MAX_TUPLES;
    let report = |s: &DriversState| {
        let request = Request {
            method: Method::Shapley {
                exact_up_to: 20,
                permutations: 10,
                seed: 0,
            },
            confidence: 0.9,
            interval: Interval::Bca,
            min_n: 10,
        };
        let names: Vec<String> = ["a", "b"][..s.p].iter().map(|n| n.to_string()).collect();
        report_batch(s, &request, &names, &["region".to_string()]).unwrap()
    };
    let d = data(6000, 2, 5);
    let mut one = fresh(2, 0);
    update(&mut one, &d, 0..6000);
    assert_eq!(one.resampling, Resampling::Tuples);
    let mut parts: Vec<DriversState> = Vec::new();
    for (i, r) in [0..1000, 1000..4321, 4321..6000].into_iter().enumerate() {
        let mut s = fresh(2, 30 + i as u64);
        update(&mut s, &d, r);
        parts.push(s);
    }
    let merged = parts[2].merge(&parts[0]).unwrap().merge(&parts[1]).unwrap();
    assert_eq!(report(&one), report(&merged), "intervals included");
    assert_eq!(decode(&encode(&merged)).unwrap(), merged);
    // Past the cap (continuous values: every row a tuple) replicates are drawn per row.
    let n = MAX_TUPLES + MAX_TUPLES / 8; // a 17th of the rows miss a value
    let d = data(n, 1, 6);
    let mut big = fresh(1, 0);
    update(&mut big, &d, 0..100_000);
    assert_eq!(big.resampling, Resampling::Tuples);
    update(&mut big, &d, 100_000..n);
    assert_eq!(big.resampling, Resampling::Rows);
    assert!(big
        .segments
        .values()
        .all(|s| s.tuples.is_empty() && s.replicates.len() == 20));
    assert_eq!(decode(&encode(&big)).unwrap(), big);
    // Merging with a state still on tuples switches it to rows too.
    let mut small = fresh(1, 1);
    update(&mut small, &data(500, 1, 7), 0..500);
    let mixed = big.merge(&small).unwrap();
    assert_eq!(mixed.resampling, Resampling::Rows);
    let table = report(&mixed);
    assert_eq!(table.num_rows(), 3);
}
