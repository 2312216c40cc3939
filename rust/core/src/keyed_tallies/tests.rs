use super::*;
use crate::exact_sum::ExactSum;
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
    let mut agg = KeyedTallies::new(nps_scale(), None, false).unwrap();
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
    let mut agg = KeyedTallies::new(nps_scale(), Some(vec![DataType::Utf8]), true).unwrap();
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
    let mut agg = KeyedTallies::new(nps_scale(), None, true).unwrap();
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
    let mut untyped = KeyedTallies::new(nps_scale(), Some(vec![DataType::Null]), false).unwrap();
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
    let mut typed = KeyedTallies::new(nps_scale(), Some(vec![DataType::Utf8]), false).unwrap();
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
    let mut ints = KeyedTallies::new(nps_scale(), Some(vec![DataType::Int64]), false).unwrap();
    assert!(ints.merge(&typed).is_err());
}

#[test]
fn parallel_matches_serial() {
    let n = 300_000;
    let scores: ArrayRef = Arc::new(Int8Array::from_iter_values((0..n).map(|i| (i % 11) as i8)));
    let keys: DictionaryArray<Int32Type> = (0..n).map(|i| Some(["a", "b", "c"][i % 3])).collect();
    let keys: ArrayRef = Arc::new(keys);
    let mut agg = KeyedTallies::new(nps_scale(), Some(vec![DataType::Utf8]), false).unwrap();
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

/// A seeded generator for the large-input tests (SplitMix64).
struct Rows(u64);
impl Rows {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = crate::streams::splitmix64(self.0);
        self.0 % below
    }
    /// `n` codes below `card`, about one in `null_every` null, in runs now and then.
    fn codes(&mut self, n: usize, card: u64, null_every: u64) -> Vec<Option<u64>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let code = (self.next(null_every) != 0).then(|| self.next(card));
            let run = if self.next(8) == 0 { self.next(40) } else { 1 };
            for _ in 0..run.min((n - out.len()) as u64) {
                out.push(code);
            }
        }
        out
    }
}

/// One key column of the large-input tests, in the layout named by `kind`.
fn key_column(kind: &str, codes: &[Option<u64>]) -> ArrayRef {
    use arrow_array::{BooleanArray, LargeStringArray, StringViewArray};
    // Short strings (packed), 13–15 bytes (packed, not inline in a view) and long ones.
    let text = |c: u64| match c % 3 {
        0 => format!("k{c}"),
        1 => format!("segment_{c:05}"),
        _ => format!("a-much-longer-segment-name-{c}"),
    };
    let strings = || codes.iter().map(|c| c.map(text));
    match kind {
        "utf8" => Arc::new(StringArray::from_iter(strings())),
        "large_utf8" => Arc::new(LargeStringArray::from_iter(strings())),
        "string_view" => Arc::new(StringViewArray::from_iter(strings())),
        "dictionary" => {
            let owned: Vec<Option<String>> = strings().collect();
            let d: DictionaryArray<Int32Type> = owned.iter().map(|s| s.as_deref()).collect();
            Arc::new(d)
        }
        "int64_wide" => Arc::new(Int64Array::from_iter(
            codes
                .iter()
                .map(|c| c.map(|c| c as i64 * 1_000_000_007 - 5)),
        )),
        "int32_narrow" => Arc::new(arrow_array::Int32Array::from_iter(
            codes.iter().map(|c| c.map(|c| c as i32 - 3)),
        )),
        "bool" => Arc::new(BooleanArray::from_iter(
            codes.iter().map(|c| c.map(|c| c % 2 == 1)),
        )),
        other => panic!("unknown kind {other}"),
    }
}

/// The display text of every row of a key column, in its logical type (what `finish` reports).
fn key_texts(column: &ArrayRef) -> Vec<String> {
    let logical =
        arrow_cast::cast(column, &crate::group::logical_key_type(column.data_type())).unwrap();
    let options = arrow_cast::display::FormatOptions::new().with_null("∅");
    let f = arrow_cast::display::ArrayFormatter::try_new(logical.as_ref(), &options).unwrap();
    (0..logical.len()).map(|i| f.value(i).to_string()).collect()
}

/// Large inputs (several tasks, many morsels) against a plain per-row reference: counts per
/// (key tuple, score code), and exact weight sums, for every key route of the morsel path.
#[test]
fn large_inputs_match_a_per_row_reference() {
    use std::collections::HashMap;
    let n = 300_007;
    let shapes: &[&[(&str, u64)]] = &[
        &[("utf8", 60)],
        &[("large_utf8", 5_000)],
        &[("string_view", 200)],
        &[("int64_wide", 70_000)],
        &[("utf8", 60), ("utf8", 3)],
        &[("utf8", 60), ("int64_wide", 4), ("dictionary", 3)],
        &[("dictionary", 50), ("int32_narrow", 7)],
        &[("dictionary", 300), ("int32_narrow", 300)],
        &[
            ("string_view", 40),
            ("bool", 2),
            ("int32_narrow", 5),
            ("utf8", 3),
        ],
    ];
    for (s, shape) in shapes.iter().enumerate() {
        for weighted in [false, true] {
            let mut rng = Rows(s as u64 * 2 + weighted as u64);
            let keys: Vec<ArrayRef> = shape
                .iter()
                .map(|&(kind, card)| key_column(kind, &rng.codes(n, card, 50)))
                .collect();
            // Scores 0..=10, some missing, some invalid (12).
            let scores: Vec<Option<i8>> = (0..n)
                .map(|_| match rng.next(40) {
                    0 => None,
                    1 => Some(12),
                    _ => Some(rng.next(11) as i8),
                })
                .collect();
            let weights: Vec<f64> = (0..n)
                .map(|_| 0.5 + rng.next(1000) as f64 / 256.0)
                .collect();
            let texts: Vec<Vec<String>> = keys.iter().map(key_texts).collect();
            let mut expected: HashMap<Vec<String>, (Vec<u64>, Vec<ExactSum>)> = HashMap::new();
            for i in 0..n {
                let key: Vec<String> = texts.iter().map(|t| t[i].clone()).collect();
                let cell = expected
                    .entry(key)
                    .or_insert_with(|| (vec![0; 13], vec![ExactSum::ZERO; 11]));
                let code = match scores[i] {
                    None => 11,
                    Some(v) if v > 10 => 12,
                    Some(v) => v as usize,
                };
                cell.0[code] += 1;
                if code < 11 {
                    cell.1[code].add(weights[i]);
                }
            }
            let types = keys
                .iter()
                .map(|k| crate::group::logical_key_type(k.data_type()))
                .collect();
            let mut agg = KeyedTallies::new(nps_scale(), Some(types), weighted).unwrap();
            // Two chunks of different lengths for the keys: chunk boundaries mid-morsel.
            let split = 123_457;
            agg.update(
                &Columns {
                    score: vec![Arc::new(Int8Array::from(scores.clone()))],
                    keys: keys
                        .iter()
                        .map(|k| vec![k.slice(0, split), k.slice(split, n - split)])
                        .collect(),
                    weight: weighted.then(|| vec![Arc::new(Float64Array::from(weights)) as _]),
                },
                true,
                0,
            )
            .unwrap();
            let g = agg.finish().unwrap();
            let out_texts: Vec<Vec<String>> = g.keys.iter().map(key_texts).collect();
            assert_eq!(g.tallies.segments(), expected.len(), "shape {s}");
            for seg in 0..g.tallies.segments() {
                let key: Vec<String> = out_texts.iter().map(|t| t[seg].clone()).collect();
                let (counts, sums) = &expected[&key];
                let t = &g.tallies;
                assert_eq!(t.counts(seg), &counts[..11], "shape {s} {key:?}");
                assert_eq!((t.missing(seg), t.invalid(seg)), (counts[11], counts[12]));
                if weighted {
                    assert_eq!(t.exact_weight_sums(seg).unwrap().0, &sums[..], "{key:?}");
                }
            }
        }
    }
}

/// Integer keys over a range wider than 2^16 but narrow for the chunk's length (grouped by
/// offset, not hashed): the same tallies, in key order, as a per-row reference.
#[test]
fn wide_ranges_of_many_rows_match_a_per_row_reference() {
    use std::collections::BTreeMap;
    let n = 700_001;
    let span = 80_000u64;
    let mut rng = Rows(99);
    let codes = rng.codes(n, span, 60);
    let keys: ArrayRef = Arc::new(Int64Array::from_iter(
        codes
            .iter()
            .map(|c| c.map(|c| c as i64 - 40_000 + i64::from(i32::MAX))),
    ));
    let scores: Vec<i8> = (0..n).map(|_| rng.next(11) as i8).collect();
    let mut expected: BTreeMap<Option<i64>, [u64; 11]> = BTreeMap::new();
    let values = keys.as_primitive::<arrow_array::types::Int64Type>();
    for (i, &score) in scores.iter().enumerate() {
        let key = values.is_valid(i).then(|| values.value(i));
        expected.entry(key).or_insert([0; 11])[score as usize] += 1;
    }
    let mut agg = KeyedTallies::new(nps_scale(), Some(vec![DataType::Int64]), false).unwrap();
    agg.update(
        &Columns {
            score: vec![Arc::new(Int8Array::from(scores))],
            keys: vec![vec![keys]],
            weight: None,
        },
        false,
        0,
    )
    .unwrap();
    let g = agg.finish().unwrap();
    let out = g.keys[0].as_primitive::<arrow_array::types::Int64Type>();
    // Key order: ascending, the null key last (the reference's None sorts first).
    let mut reference: Vec<(Option<i64>, [u64; 11])> = expected.into_iter().collect();
    reference.rotate_left(1);
    assert_eq!(g.tallies.segments(), reference.len());
    for (s, (key, counts)) in reference.iter().enumerate() {
        assert_eq!(out.is_valid(s).then(|| out.value(s)), *key);
        assert_eq!(g.tallies.counts(s), &counts[..]);
    }
}

/// Many rows over many wide int64 keys: tallied in parallel tasks, the first task's tallies
/// moved into the aggregator. The same as one key at a time merged in, and rebuilt exactly from
/// the segments' counts.
#[test]
fn many_segments_in_tasks_equal_merged_and_rebuilt_tallies() {
    let rows = 300_000usize;
    let segments = 5_000i64;
    // A fixed scramble (no RNG dependency): keys spread wide so that they are hashed.
    let key_of = |i: usize| ((i as i64 * 7_919) % segments) * 1_000_003_000;
    let keys: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows).map(key_of)));
    let scores: ArrayRef = Arc::new(Int8Array::from_iter(
        (0..rows).map(|i| (i % 13 != 0).then_some(((i * 31) % 11) as i8)),
    ));
    let mut whole = KeyedTallies::new(nps_scale(), Some(vec![DataType::Int64]), false).unwrap();
    whole
        .update(
            &Columns {
                score: vec![scores.clone()],
                keys: vec![vec![keys.clone()]],
                weight: None,
            },
            false,
            0,
        )
        .unwrap();
    let mut pieces = KeyedTallies::new(nps_scale(), Some(vec![DataType::Int64]), false).unwrap();
    for start in (0..rows).step_by(7_000) {
        let len = 7_000.min(rows - start);
        pieces
            .update(
                &Columns {
                    score: vec![scores.slice(start, len)],
                    keys: vec![vec![keys.slice(start, len)]],
                    weight: None,
                },
                false,
                0,
            )
            .unwrap();
    }
    let (a, b) = (whole.finish().unwrap(), pieces.finish().unwrap());
    assert_eq!(a.tallies.segments(), segments as usize);
    assert_eq!(a.tallies, b.tallies);
    assert_eq!(a.keys[0].as_ref(), b.keys[0].as_ref());

    let t = &a.tallies;
    let n = t.segments();
    let distribution: Vec<u64> = (0..n).flat_map(|s| t.counts(s).to_vec()).collect();
    let missing: Vec<u64> = (0..n).map(|s| t.missing(s)).collect();
    let invalid: Vec<u64> = (0..n).map(|s| t.invalid(s)).collect();
    let rebuilt =
        KeyedTallies::from_segment_counts(nps_scale(), &a.keys, &distribution, &missing, &invalid)
            .unwrap();
    let c = rebuilt.finish().unwrap();
    assert_eq!(c.tallies, a.tallies);
    assert_eq!(c.streams, a.streams);
    // A key listed twice is refused.
    let twice: ArrayRef = Arc::new(Int64Array::from(vec![1, 1]));
    assert!(
        KeyedTallies::from_segment_counts(nps_scale(), &[twice], &[0; 22], &[1, 1], &[0, 0])
            .is_err()
    );
}

/// Windows cover every chunk once, in order; each but the last holds rows for every thread,
/// with its chunks' tasks a multiple of the threads or capped at four times as many; a chunk
/// that fills the threads alone is a window of its own. Narrow and wide windows alike.
#[test]
fn chunk_windows_fill_the_threads_evenly() {
    let threads = rayon::current_num_threads();
    let chunk = |rows: usize| -> Vec<ArrayRef> { vec![Arc::new(Int8Array::from(vec![0i8; rows]))] };
    let windows_of = |chunks: &[Vec<ArrayRef>], per_thread: usize| {
        let mut windows = Vec::new();
        let mut next = 0;
        while next < chunks.len() {
            let window = next_window(chunks, next, per_thread);
            next = window.end;
            windows.push(window);
        }
        windows
    };
    let sizes: Vec<usize> = [
        7_813, 62_500, 65_536, 100_000, 1_000_000, 0, 125_000, 300_000,
    ]
    .iter()
    .cycle()
    .take(40)
    .copied()
    .chain([1_000_000, 100_000].iter().cycle().take(30).copied())
    .collect();
    let chunks: Vec<Vec<ArrayRef>> = sizes.iter().map(|&n| chunk(n)).collect();
    for per_thread in [MIN_ROWS_PER_TASK, 4 * MIN_ROWS_PER_TASK] {
        let full = threads * per_thread;
        let windows = windows_of(&chunks, per_thread);
        let mut next = 0;
        for (w, window) in windows.iter().enumerate() {
            assert_eq!(window.start, next, "in order, no gap");
            assert!(window.end > window.start, "no empty window");
            next = window.end;
            let rows: usize = sizes[window.clone()].iter().sum();
            let tasks: usize = sizes[window.clone()]
                .iter()
                .map(|&n| tasks_for_rows(n))
                .sum();
            if w + 1 < windows.len() {
                assert!(rows >= full, "window {w}: {rows} rows");
                assert!(
                    tasks.is_multiple_of(threads) || tasks >= 4 * threads,
                    "window {w}: {tasks} tasks"
                );
                // Closed as soon as it could be: without its last chunk it was not yet full.
                let before = &sizes[window.start..window.end - 1];
                let (r, t): (usize, usize) = (
                    before.iter().sum(),
                    before.iter().map(|&n| tasks_for_rows(n)).sum(),
                );
                assert!(
                    !(r >= full && (t.is_multiple_of(threads) || t >= 4 * threads))
                        || before.is_empty(),
                    "window {w} closed late"
                );
            }
            assert!(
                tasks <= 4 * threads + threads,
                "window {w}: {tasks} tasks held at once"
            );
        }
        assert_eq!(next, chunks.len());
        if threads > 1 {
            let alone = windows_of(&[chunk(1_000_000), chunk(1_000_000)], per_thread);
            assert_eq!(alone, vec![0..1, 1..2]);
        }
    }
    // Chunks of 65,536 rows: two to a narrow window on two threads, eight to a wide one.
    let reader: Vec<Vec<ArrayRef>> = (0..16).map(|_| chunk(MIN_ROWS_PER_TASK)).collect();
    assert_eq!(
        windows_of(&reader, MIN_ROWS_PER_TASK).len(),
        16 / threads.min(16)
    );
    assert_eq!(
        windows_of(&reader, 4 * MIN_ROWS_PER_TASK).len(),
        16 / (4 * threads).min(16)
    );
}

/// Windows widen only once the segments seen are few for the rows tallied.
#[test]
fn windows_widen_only_with_few_segments() {
    assert_eq!(window_rows_per_thread(0, 0), MIN_ROWS_PER_TASK);
    assert_eq!(window_rows_per_thread(180, 131_072), 4 * MIN_ROWS_PER_TASK);
    assert_eq!(
        window_rows_per_thread(8_192, 131_072),
        4 * MIN_ROWS_PER_TASK
    );
    assert_eq!(window_rows_per_thread(8_193, 131_072), MIN_ROWS_PER_TASK);
    assert_eq!(window_rows_per_thread(73_000, 131_072), MIN_ROWS_PER_TASK);
}
