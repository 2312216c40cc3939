//! States with Poisson-bootstrap replicates: merge order, thread independence, damage.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{ArrayRef, Float64Array, Int8Array, StringArray};

use super::format::tests::{assert_corrupt, nps, reseal, Rng};
use super::format::FLAG_WEIGHTED;
use super::*;
use crate::exact_sum::ExactSum;

fn replicate_state(seed: u64, stream: u64) -> AccumulatorState {
    let streams = ReplicateStreams::new(50, Some(seed), stream).unwrap();
    AccumulatorState::new(nps(), true, 1, Some(streams)).unwrap()
}

fn weighted_rows(n: usize, seed: u64) -> (ArrayRef, ArrayRef, ArrayRef) {
    let mut rng = Rng(seed);
    let scores: ArrayRef = Arc::new(Int8Array::from_iter_values(
        (0..n).map(|_| rng.below(11) as i8),
    ));
    let keys: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..n).map(|_| ["a", "b", "c"][rng.below(3)]),
    ));
    let weights: ArrayRef = Arc::new(Float64Array::from_iter_values(
        (0..n).map(|_| 0.25 + (rng.next() % 1000) as f64 / 37.0),
    ));
    (scores, keys, weights)
}

fn feed(state: &mut AccumulatorState, scores: &ArrayRef, keys: &ArrayRef, w: &ArrayRef) {
    let columns = Columns {
        score: vec![scores.clone()],
        keys: vec![vec![keys.clone()]],
        weight: Some(vec![w.clone()]),
    };
    state
        .update(&columns, vec![DataType::Utf8], false, 0)
        .unwrap();
}

#[test]
fn replicate_states_merge_in_any_order_and_round_trip() {
    let (scores, keys, w) = weighted_rows(9000, 3);
    let parts: Vec<AccumulatorState> = (0..4)
        .map(|p| {
            let mut s = replicate_state(7, p as u64);
            for b in 0..3 {
                let at = p * 2250 + b * 750;
                feed(
                    &mut s,
                    &scores.slice(at, 750),
                    &keys.slice(at, 750),
                    &w.slice(at, 750),
                );
            }
            s
        })
        .collect();
    let left = parts[0]
        .merge(&parts[1])
        .unwrap()
        .merge(&parts[2].merge(&parts[3]).unwrap())
        .unwrap();
    let right = parts[3]
        .merge(&parts[0])
        .unwrap()
        .merge(&parts[2])
        .unwrap()
        .merge(&parts[1])
        .unwrap();
    let bytes = encode(&left).unwrap();
    assert_eq!(bytes, encode(&right).unwrap());
    let back = decode(&bytes).unwrap();
    assert_eq!(encode(&back).unwrap(), bytes);
    assert_eq!(back.streams.as_ref().unwrap().drawn.len(), 4);
    // An empty state is the identity on both sides.
    let empty = replicate_state(7, 9);
    assert_eq!(encode(&left.merge(&empty).unwrap()).unwrap(), bytes);
    assert_eq!(encode(&empty.merge(&left).unwrap()).unwrap(), bytes);
    // Copies drew from the same stream: refused.
    assert!(parts[0].merge(&parts[0].clone()).is_err());
    // Replicate masses add up: Σ over replicates of Σ m·w ≈ B · Σw (E m = 1).
    let tallies = &left.aggregator.as_ref().unwrap().finish().unwrap().tallies;
    let total: f64 = (0..3)
        .map(|s| {
            let (wsum, _) = tallies.exact_weight_sums(s).unwrap();
            wsum.iter().map(ExactSum::to_f64).sum::<f64>()
        })
        .sum();
    let replicated: f64 = (0..3)
        .flat_map(|s| (0..50).map(move |r| (s, r)))
        .map(|(s, r)| tallies.replicate_mass(s, r).iter().sum::<f64>())
        .sum();
    let ratio = replicated / (50.0 * total);
    assert!((ratio - 1.0).abs() < 0.01, "{ratio}");
}

#[test]
fn replicate_draws_do_not_depend_on_threads_or_chunking_of_one_update() {
    let (scores, keys, w) = weighted_rows(20_000, 5);
    let one = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut s = replicate_state(1, 0);
            feed(&mut s, &scores, &keys, &w);
            encode(&s).unwrap()
        })
    };
    assert_eq!(one(1), one(3));
}

#[test]
fn damaged_replicate_sections_are_rejected() {
    let (scores, keys, w) = weighted_rows(200, 8);
    let mut s = replicate_state(2, 0);
    feed(&mut s, &scores, &keys, &w);
    let good = encode(&s).unwrap();
    decode(&good).unwrap();
    let edit = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        reseal(b)
    };
    // Streams block starts at 40: count (4), seed flag (1) + seed (8), stream (8), origin flag.
    assert_corrupt(&edit(40, 0), "zero replicates");
    assert_corrupt(&edit(43, 0xFF), "too many replicates");
    assert_corrupt(&edit(44, 2), "bad seed flag");
    assert_corrupt(&edit(61, 0), "origin flag cleared with a counter");
    let n = good.len();
    assert_corrupt(&edit(n - 5, 0xFF), "replicate sum too large");
    // Unweighted states cannot claim replicates.
    let mut b = good.clone();
    b[10] &= !(FLAG_WEIGHTED as u8);
    assert_corrupt(&reseal(b), "unweighted with replicates");
    assert!(AccumulatorState::new(
        nps(),
        false,
        0,
        Some(ReplicateStreams::new(5, None, 0).unwrap())
    )
    .is_err());
}

/// Replicate sums in a 128-bit window (weights spanning few binades) equal the exact multi-limb
/// path: two more rows with missing scores (they draw nothing) and the largest and smallest
/// weights widen the chunk's weight range past any window, and must change no replicate sum.
#[test]
fn replicate_window_and_exact_paths_agree() {
    let (scores, keys, w) = weighted_rows(10_000, 6);
    let mut narrow = replicate_state(4, 0);
    feed(&mut narrow, &scores, &keys, &w);
    let wide_scores: ArrayRef = Arc::new(Int8Array::from_iter(
        scores
            .as_primitive::<arrow_array::types::Int8Type>()
            .iter()
            .chain([None, None]),
    ));
    let wide_keys: ArrayRef = Arc::new(StringArray::from_iter(
        keys.as_string::<i32>().iter().chain([Some("a"), Some("b")]),
    ));
    let wide_w: ArrayRef = Arc::new(Float64Array::from_iter_values(
        w.as_primitive::<Float64Type>()
            .values()
            .iter()
            .copied()
            .chain([4.0e9, crate::exact_sum::MIN_WEIGHT]),
    ));
    let mut wide = replicate_state(4, 0);
    feed(&mut wide, &wide_scores, &wide_keys, &wide_w);
    let reps = |s: &AccumulatorState| {
        s.aggregator
            .as_ref()
            .unwrap()
            .finish()
            .unwrap()
            .tallies
            .raw_replicates()
            .to_vec()
    };
    assert_eq!(reps(&narrow), reps(&wide));
    assert!(reps(&narrow).iter().any(|x| !x.is_zero()));
}
