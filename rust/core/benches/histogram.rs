//! The histogram kernel on its own: `KeyedTallies::update` + `finish` over 10M rows, with no Python
//! in the way: no segments, 50 dictionary segments, 50 string (utf8) segments, two dictionary
//! keys (50 × 4), 50 dictionary segments with f64 weights, and the hashed key shapes of
//! `benches/segment_data.py` (60 names as utf8 and utf8_view, 60 wide int64 values, two utf8
//! keys, utf8 × int64 × dictionary). Select cases by name: `-- utf8_60`. Compare with `benches/`
//! (pytest-benchmark), which times the full Python call.
//!
//! Run (bounded, on a shared machine):
//!
//! ```text
//! cargo bench -p cxmetrics-core --bench histogram -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Set `CXMETRICS_BENCH_ROWS` to change the row count (default 10,000,000).

use std::hint::black_box;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, Int8Array, StringArray,
    StringViewArray,
};
use arrow_schema::DataType;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cxmetrics_core::keyed_tallies::KeyedTallies;
use cxmetrics_core::scale::Scale;
use cxmetrics_core::tally::Columns;

const SEGMENTS: usize = 50;
const CHANNELS: [&str; 4] = ["app", "email", "phone", "web"];
const SEED: u64 = 0x5eed_c0de;

/// SplitMix64: a tiny, deterministic generator, enough for benchmark data.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (multiply-shift; the bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
}

fn rows() -> usize {
    std::env::var("CXMETRICS_BENCH_ROWS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(10_000_000)
}

fn segment_names() -> Vec<String> {
    (0..SEGMENTS).map(|i| format!("segment_{i:02}")).collect()
}

struct Data {
    scores: ArrayRef,
    dict_keys: ArrayRef,
    string_keys: ArrayRef,
    channel_keys: ArrayRef,
    weights: ArrayRef,
    /// The key shapes of `benches/segment_data.py`: 60 names `segment_00000`… (13 bytes) as
    /// utf8 and utf8_view, 60 int64 values spread over 0..10¹², 3 utf8 channels, 4 int64 waves.
    names60: ArrayRef,
    names60_view: ArrayRef,
    wide_ints: ArrayRef,
    channel_strings: ArrayRef,
    waves: ArrayRef,
}

fn data(n: usize) -> Data {
    let mut rng = SplitMix(SEED);
    let scores = Int8Array::from_iter_values((0..n).map(|_| rng.below(11) as i8));
    let codes = Int32Array::from_iter_values((0..n).map(|_| rng.below(SEGMENTS as u64) as i32));
    let names = segment_names();
    let values = Arc::new(StringArray::from_iter_values(&names));
    let dict =
        DictionaryArray::<Int32Type>::try_new(codes.clone(), values).expect("codes are in range");
    let strings =
        StringArray::from_iter_values(codes.values().iter().map(|&c| names[c as usize].as_str()));
    let channel_codes =
        Int32Array::from_iter_values((0..n).map(|_| rng.below(CHANNELS.len() as u64) as i32));
    let channels = DictionaryArray::<Int32Type>::try_new(
        channel_codes,
        Arc::new(StringArray::from_iter_values(CHANNELS)),
    )
    .expect("codes are in range");
    // Weights in [0.5, 2.0).
    let weights = Float64Array::from_iter_values(
        (0..n).map(|_| 0.5 + 1.5 * (rng.below(1 << 30) as f64) / (1u64 << 30) as f64),
    );
    let names60: Vec<String> = (0..60).map(|i| format!("segment_{i:05}")).collect();
    let names60 =
        StringArray::from_iter_values((0..n).map(|_| names60[rng.below(60) as usize].as_str()));
    let names60_view = StringViewArray::from_iter_values(names60.iter().flatten());
    let spread: Vec<i64> = (0..60)
        .map(|_| rng.below(1_000_000_000_000) as i64)
        .collect();
    let wide_ints = Int64Array::from_iter_values((0..n).map(|_| spread[rng.below(60) as usize]));
    let channel_strings =
        StringArray::from_iter_values((0..n).map(|_| CHANNELS[rng.below(3) as usize]));
    let waves = Int64Array::from_iter_values((0..n).map(|_| 2021 + rng.below(4) as i64));
    Data {
        names60: Arc::new(names60),
        names60_view: Arc::new(names60_view),
        wide_ints: Arc::new(wide_ints),
        channel_strings: Arc::new(channel_strings),
        waves: Arc::new(waves),
        scores: Arc::new(scores),
        dict_keys: Arc::new(dict),
        string_keys: Arc::new(strings),
        channel_keys: Arc::new(channels),
        weights: Arc::new(weights),
    }
}

/// One full aggregation, as `cx.nps(..., by=...)` runs it below the binding.
fn aggregate(columns: &Columns, key_types: Option<Vec<DataType>>) -> usize {
    let scale = Scale::new(0, 10).expect("valid scale");
    let weighted = columns.weight.is_some();
    let mut agg = KeyedTallies::new(scale, key_types, weighted).expect("aggregator");
    agg.update(columns, false, 0).expect("valid input");
    agg.finish().expect("finish").tallies.segments()
}

struct Case {
    name: &'static str,
    columns: Columns,
    key_types: Option<Vec<DataType>>,
    /// Bytes the kernel must read per row: 1 score byte, 4 per dictionary index, 8 per weight;
    /// for strings the 4-byte offset only (the string bytes themselves come on top).
    bytes_per_row: usize,
    segments: usize,
}

fn cases(d: &Data) -> Vec<Case> {
    let cols = |keys: Vec<ArrayRef>, weight: Option<ArrayRef>| Columns {
        score: vec![d.scores.clone()],
        keys: keys.into_iter().map(|k| vec![k]).collect(),
        weight: weight.map(|w| vec![w]),
    };
    let utf8 = || Some(vec![DataType::Utf8]);
    vec![
        Case {
            name: "unsegmented",
            columns: cols(vec![], None),
            key_types: None,
            bytes_per_row: 1,
            segments: 1,
        },
        Case {
            name: "dict50",
            columns: cols(vec![d.dict_keys.clone()], None),
            key_types: utf8(),
            bytes_per_row: 5,
            segments: SEGMENTS,
        },
        Case {
            name: "utf8_50",
            columns: cols(vec![d.string_keys.clone()], None),
            key_types: utf8(),
            bytes_per_row: 5,
            segments: SEGMENTS,
        },
        Case {
            name: "dict50_x_dict4",
            columns: cols(vec![d.dict_keys.clone(), d.channel_keys.clone()], None),
            key_types: Some(vec![DataType::Utf8, DataType::Utf8]),
            bytes_per_row: 9,
            segments: SEGMENTS * CHANNELS.len(),
        },
        Case {
            name: "utf8_60",
            columns: cols(vec![d.names60.clone()], None),
            key_types: utf8(),
            bytes_per_row: 5,
            segments: 60,
        },
        Case {
            name: "string_view_60",
            columns: cols(vec![d.names60_view.clone()], None),
            key_types: Some(vec![DataType::Utf8View]),
            bytes_per_row: 17,
            segments: 60,
        },
        Case {
            name: "int64_wide_60",
            columns: cols(vec![d.wide_ints.clone()], None),
            key_types: Some(vec![DataType::Int64]),
            bytes_per_row: 9,
            segments: 60,
        },
        Case {
            name: "two_str",
            columns: cols(vec![d.names60.clone(), d.channel_strings.clone()], None),
            key_types: Some(vec![DataType::Utf8, DataType::Utf8]),
            bytes_per_row: 9,
            segments: 180,
        },
        Case {
            name: "three_mix",
            columns: cols(
                vec![d.names60.clone(), d.waves.clone(), d.channel_keys.clone()],
                None,
            ),
            key_types: Some(vec![DataType::Utf8, DataType::Int64, DataType::Utf8]),
            bytes_per_row: 17,
            segments: 60 * 4 * 4,
        },
        Case {
            name: "dict50_weighted",
            columns: cols(vec![d.dict_keys.clone()], Some(d.weights.clone())),
            key_types: utf8(),
            bytes_per_row: 13,
            segments: SEGMENTS,
        },
    ]
}

fn histogram(c: &mut Criterion) {
    let n = rows();
    let d = data(n);
    let mut group = c.benchmark_group("histogram");
    group.sample_size(20);
    for case in cases(&d) {
        assert_eq!(
            aggregate(&case.columns, case.key_types.clone()),
            case.segments
        );
        group.throughput(Throughput::Bytes((n * case.bytes_per_row) as u64));
        group.bench_with_input(BenchmarkId::new(case.name, n), &case, |b, case| {
            b.iter(|| black_box(aggregate(&case.columns, case.key_types.clone())))
        });
    }
    group.finish();
}

criterion_group!(benches, histogram);
criterion_main!(benches);
