//! The histogram kernel on its own: `Aggregator::update` + `finish` over 10M rows, with no Python
//! in the way. Compare with `benches/` (pytest-benchmark), which times the full Python call.
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
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, Int8Array, StringArray};
use arrow_schema::DataType;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cxmetrics_core::histogram::{Aggregator, Columns};
use cxmetrics_core::scale::Scale;

const SEGMENTS: usize = 50;
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
    Data {
        scores: Arc::new(scores),
        dict_keys: Arc::new(dict),
        string_keys: Arc::new(strings),
    }
}

/// One full aggregation, as `cx.nps(..., by=...)` runs it below the binding.
fn aggregate(columns: &Columns, key_types: Option<Vec<DataType>>) -> usize {
    let scale = Scale::new(0, 10).expect("valid scale");
    let mut agg = Aggregator::new(scale, key_types, false).expect("aggregator");
    agg.update(columns, false, 0).expect("valid input");
    agg.finish().expect("finish").tallies.segments()
}

fn histogram(c: &mut Criterion) {
    let n = rows();
    let d = data(n);
    let mut group = c.benchmark_group("histogram");
    group.sample_size(20);

    let cases: [(&str, Vec<Vec<ArrayRef>>, Option<Vec<DataType>>, usize); 3] = [
        ("unsegmented", vec![], None, 1),
        (
            "dict50",
            vec![vec![d.dict_keys.clone()]],
            Some(vec![DataType::Utf8]),
            4,
        ),
        (
            "utf8_50",
            vec![vec![d.string_keys.clone()]],
            Some(vec![DataType::Utf8]),
            4,
        ),
    ];
    for (name, keys, key_types, key_bytes) in cases {
        let columns = Columns {
            score: vec![d.scores.clone()],
            keys,
            weight: None,
        };
        let expected = if key_types.is_some() { SEGMENTS } else { 1 };
        assert_eq!(aggregate(&columns, key_types.clone()), expected);
        // Bytes the kernel must read per row: one score byte plus the key (4-byte dictionary
        // index; for strings the 4-byte offset, the string bytes themselves are extra).
        group.throughput(Throughput::Bytes((n * (1 + key_bytes)) as u64));
        group.bench_with_input(BenchmarkId::new(name, n), &columns, |b, cols| {
            b.iter(|| black_box(aggregate(cols, key_types.clone())))
        });
    }
    group.finish();
}

criterion_group!(benches, histogram);
criterion_main!(benches);
