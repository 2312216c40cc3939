//! The byte format: round trips, canonical bytes, golden layouts of old versions, and every
//! kind of damage rejected with `CorruptState`. Helpers are shared with `state::tests`.

use std::sync::Arc;

use arrow_array::types::{TimestampMicrosecondType, TimestampNanosecondType};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Decimal128Array, NullArray, PrimitiveArray,
    StringArray,
};

use super::keys::write_bytes;
use super::*;
use crate::error::{CoreError, Role};
use crate::exact_sum::ExactSum;
use crate::keyed_tallies::KeyedTallies;
use crate::scale::Scale;
use crate::state::AccumulatorState;
use crate::tally::Columns;
use arrow_array::{
    Date32Array, Date64Array, Float32Array, Float64Array, Int64Array, Int8Array, Time32SecondArray,
};

pub(crate) fn nps() -> Scale {
    Scale::new(0, 10).unwrap()
}

/// A tiny deterministic generator (xorshift64*), so the tests need no RNG crate.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub(crate) fn state_of(agg: KeyedTallies) -> AccumulatorState {
    AccumulatorState {
        scale: agg.scale(),
        weighted: agg.weighted(),
        n_keys: agg.n_keys(),
        aggregator: Some(agg),
        streams: None,
    }
}

pub(crate) fn build(
    scale: Scale,
    scores: ArrayRef,
    keys: Vec<ArrayRef>,
    weights: Option<ArrayRef>,
) -> KeyedTallies {
    let types = keys
        .iter()
        .map(|k| crate::group::logical_key_type(k.data_type()))
        .collect();
    let mut agg = KeyedTallies::new(scale, Some(types), weights.is_some()).unwrap();
    agg.update(
        &Columns {
            score: vec![scores],
            keys: keys.into_iter().map(|k| vec![k]).collect(),
            weight: weights.map(|w| vec![w]),
        },
        true,
        0,
    )
    .unwrap();
    agg
}

/// A small weighted state with two keys, nulls, missing and invalid scores.
pub(crate) fn small_state() -> AccumulatorState {
    let scores: ArrayRef = Arc::new(Int8Array::from(vec![
        Some(10),
        Some(3),
        None,
        Some(9),
        Some(12),
        Some(0),
    ]));
    let region: ArrayRef = Arc::new(StringArray::from(vec![
        Some("eu"),
        Some("us"),
        None,
        Some("eu"),
        Some("us"),
        Some("eu"),
    ]));
    let wave: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2, 2, 1, 1]));
    let w: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 0.5, 2.0, 1.25, 1.0, 3.0]));
    state_of(build(nps(), scores, vec![region, wave], Some(w)))
}

pub(crate) fn assert_corrupt(bytes: &[u8], what: &str) -> String {
    match decode(bytes) {
        Err(CoreError::CorruptState(m)) => m,
        Err(e) => panic!("{what}: wrong error {e}"),
        Ok(_) => panic!("{what}: accepted"),
    }
}

/// Fixes up the length field and checksum after an edit, as a forger would.
pub(crate) fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = bytes.len();
    bytes[16..24].copy_from_slice(&(n as u64).to_le_bytes());
    let crc = crc32(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

pub(crate) fn same_state(a: &AccumulatorState, b: &AccumulatorState) {
    assert_eq!(a.scale, b.scale);
    assert_eq!(a.weighted, b.weighted);
    assert_eq!(a.n_keys, b.n_keys);
    assert_eq!(a.aggregator.is_some(), b.aggregator.is_some());
    if let (Some(x), Some(y)) = (&a.aggregator, &b.aggregator) {
        let (gx, gy) = (x.finish().unwrap(), y.finish().unwrap());
        assert_eq!(gx.tallies, gy.tallies);
        assert_eq!(gx.keys.len(), gy.keys.len());
        for (kx, ky) in gx.keys.iter().zip(&gy.keys) {
            assert_eq!(kx.to_data(), ky.to_data());
        }
    }
}

#[test]
fn crc_matches_zlib() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn empty_states_round_trip() {
    for n_keys in [0, 1, 3] {
        for weighted in [false, true] {
            let state = AccumulatorState {
                scale: Scale::new(-3, 3).unwrap(),
                weighted,
                n_keys,
                aggregator: None,
                streams: None,
            };
            let bytes = encode(&state).unwrap();
            assert_eq!(bytes.len(), HEADER_LEN + CHECKSUM_LEN);
            let back = decode(&bytes).unwrap();
            same_state(&state, &back);
            assert_eq!(encode(&back).unwrap(), bytes);
        }
    }
}

#[test]
fn unsegmented_and_zero_segment_states_round_trip() {
    let scores: ArrayRef = Arc::new(Int8Array::from(vec![Some(1), None, Some(5)]));
    let state = state_of(build(Scale::new(1, 5).unwrap(), scores, vec![], None));
    let bytes = encode(&state).unwrap();
    same_state(&state, &decode(&bytes).unwrap());
    // Keys fixed by an update with no rows: tallies present, zero segments.
    let none: ArrayRef = Arc::new(Int8Array::from(Vec::<i8>::new()));
    let keys: ArrayRef = Arc::new(StringArray::from(Vec::<&str>::new()));
    let state = state_of(build(nps(), none, vec![keys], None));
    let bytes = encode(&state).unwrap();
    let back = decode(&bytes).unwrap();
    assert_eq!(back.aggregator.as_ref().unwrap().tallies().segments(), 0);
    assert_eq!(encode(&back).unwrap(), bytes);
}

/// Every supported key type, alone and together, with nulls.
#[test]
fn every_key_type_round_trips() {
    let n = 6;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(NullArray::new(n)),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            None,
            Some(false),
            Some(true),
            None,
            Some(false),
        ])),
        Arc::new(Int64Array::from(vec![
            Some(i64::MIN),
            Some(-1),
            None,
            Some(i64::MAX),
            Some(-1),
            Some(0),
        ])),
        Arc::new(Float32Array::from(vec![
            Some(1.5f32),
            Some(-0.0),
            Some(0.0),
            None,
            Some(f32::NAN),
            Some(f32::NEG_INFINITY),
        ])),
        Arc::new(Float64Array::from(vec![
            Some(1.5),
            Some(-0.0),
            Some(0.0),
            None,
            Some(f64::NAN),
            Some(f64::INFINITY),
        ])),
        Arc::new(StringArray::from(vec![
            Some("b"),
            Some(""),
            None,
            Some("ünïcode ✓"),
            Some("a"),
            Some("b"),
        ])),
        Arc::new(BinaryArray::from(vec![
            Some(&b"\x00\xff"[..]),
            Some(&b""[..]),
            None,
            Some(&b"\x00"[..]),
            Some(&b"\x00\xff"[..]),
            Some(&b"z"[..]),
        ])),
        Arc::new(Date32Array::from(vec![
            Some(0),
            Some(-719_162),
            Some(19_000),
            None,
            Some(0),
            Some(1),
        ])),
        Arc::new(Date64Array::from(vec![
            Some(0),
            Some(86_400_000),
            None,
            Some(-86_400_000),
            Some(0),
            Some(1),
        ])),
        Arc::new(
            PrimitiveArray::<TimestampMicrosecondType>::from(vec![
                Some(1_700_000_000_000_000),
                None,
                Some(0),
                Some(-1),
                Some(1),
                Some(0),
            ])
            .with_timezone("Europe/Paris"),
        ),
        Arc::new(PrimitiveArray::<TimestampNanosecondType>::from(vec![
            Some(5),
            None,
            Some(5),
            Some(-5),
            Some(1),
            Some(0),
        ])),
        Arc::new(
            Decimal128Array::from(vec![
                Some(12_345),
                Some(-1),
                None,
                Some(99_999_999),
                Some(0),
                Some(12_345),
            ])
            .with_precision_and_scale(10, 2)
            .unwrap(),
        ),
    ];
    let scores: ArrayRef = Arc::new(Int8Array::from(vec![0, 1, 2, 3, 4, 5]));
    let weights: ArrayRef = Arc::new(Float64Array::from(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]));
    for (j, col) in columns.iter().enumerate() {
        for w in [None, Some(weights.clone())] {
            let state = state_of(build(nps(), scores.clone(), vec![col.clone()], w));
            let bytes = encode(&state).unwrap();
            let back = decode(&bytes).unwrap_or_else(|e| panic!("column {j}: {e}"));
            same_state(&state, &back);
            assert_eq!(encode(&back).unwrap(), bytes, "column {j}");
            // The decoded state merges with a freshly built one (same logical key types).
            let mut merged = back.aggregator.clone().unwrap();
            merged.merge(state.aggregator.as_ref().unwrap()).unwrap();
        }
    }
    let state = state_of(build(nps(), scores, columns, Some(weights)));
    let bytes = encode(&state).unwrap();
    let back = decode(&bytes).unwrap();
    same_state(&state, &back);
    assert_eq!(encode(&back).unwrap(), bytes);
}

#[test]
fn unsupported_key_type_fails_at_encode() {
    let scores: ArrayRef = Arc::new(Int8Array::from(vec![1, 2]));
    let keys: ArrayRef = Arc::new(Time32SecondArray::from(vec![1, 2]));
    let state = state_of(build(nps(), scores, vec![keys], None));
    match encode(&state) {
        Err(CoreError::UnsupportedType {
            role: Role::Key(0),
            data_type,
            ..
        }) => assert!(data_type.contains("Time32")),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("encoded an unsupported key type"),
    }
}

/// Random batches folded in random orders and merge trees give identical bytes.
#[test]
fn bytes_are_canonical_across_merge_orders() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let words = ["a", "b", "c", "d", "e"];
    for weighted in [false, true] {
        let n = 2000;
        let scores: ArrayRef = Arc::new(Int8Array::from_iter_values(
            (0..n).map(|_| rng.below(14) as i8 - 1),
        ));
        let keys: ArrayRef = Arc::new(StringArray::from_iter(
            (0..n).map(|_| (rng.below(6) < 5).then(|| words[rng.below(5)])),
        ));
        let keys2: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (0..n).map(|_| rng.below(3) as i64),
        ));
        // Dyadic weights: every partial sum is exact, so bytes must match exactly.
        let weights: ArrayRef = Arc::new(Float64Array::from_iter_values(
            (0..n).map(|_| rng.below(64) as f64 / 8.0),
        ));
        let w = weighted.then_some(weights.clone());
        let whole = encode(&state_of(build(
            nps(),
            scores.clone(),
            vec![keys.clone(), keys2.clone()],
            w.clone(),
        )))
        .unwrap();
        for _ in 0..20 {
            // Random cut points, batches folded into random accumulators, merged in random order.
            let mut cuts: Vec<usize> = (0..rng.below(12)).map(|_| rng.below(n)).collect();
            cuts.extend([0, n]);
            cuts.sort_unstable();
            let mut parts: Vec<KeyedTallies> = cuts
                .windows(2)
                .map(|c| {
                    let (s, len) = (c[0], c[1] - c[0]);
                    build(
                        nps(),
                        scores.slice(s, len),
                        vec![keys.slice(s, len), keys2.slice(s, len)],
                        w.as_ref().map(|w| w.slice(s, len)),
                    )
                })
                .collect();
            while parts.len() > 1 {
                let a = parts.swap_remove(rng.below(parts.len()));
                let i = rng.below(parts.len());
                let mut b = parts.swap_remove(i);
                b.merge(&a).unwrap();
                // Round trip some intermediate states through bytes.
                if rng.below(2) == 0 {
                    b = decode(&encode(&state_of(b)).unwrap())
                        .unwrap()
                        .aggregator
                        .unwrap();
                }
                parts.push(b);
            }
            let merged = encode(&state_of(parts.pop().unwrap())).unwrap();
            assert_eq!(merged, whole, "weighted={weighted}");
        }
    }
}

#[test]
fn every_single_byte_corruption_is_rejected() {
    let bytes = encode(&small_state()).unwrap();
    assert!(bytes.len() < 4000, "keep the exhaustive loop small");
    decode(&bytes).unwrap();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x02, 0x10, 0x80, 0xFF, 0x5A] {
            let mut bad = bytes.clone();
            bad[i] ^= flip;
            assert_corrupt(&bad, &format!("byte {i} ^ {flip:#x}"));
        }
    }
}

#[test]
fn every_truncation_and_extension_is_rejected() {
    let bytes = encode(&small_state()).unwrap();
    for len in 0..bytes.len() {
        let m = assert_corrupt(&bytes[..len], &format!("truncated to {len}"));
        if len >= 8 || MAGIC.starts_with(&bytes[..len]) {
            assert!(m.contains("truncated"), "{len}: {m}");
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_corrupt(&longer, "one extra byte");
}

#[test]
fn foreign_and_future_inputs_are_named() {
    for foreign in [
        &b""[..],
        b"hello world, this is not a state at all......",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        b"PK\x03\x04",
    ] {
        let m = assert_corrupt(foreign, "foreign");
        assert!(m.contains("magic") || m.contains("truncated"), "{m}");
    }
    let mut future = encode(&small_state()).unwrap();
    let next = FORMAT_VERSION + 1;
    future[8..10].copy_from_slice(&next.to_le_bytes());
    let m = assert_corrupt(&reseal(future.clone()), "future");
    assert!(
        m.contains(&format!("version {next}")) && m.contains("upgrade"),
        "{m}"
    );
    // Unresealed, the same edit is plain damage.
    let m = assert_corrupt(&future, "damaged version");
    assert!(m.contains("checksum"), "{m}");
    future[8..10].copy_from_slice(&0u16.to_le_bytes());
    assert_corrupt(&reseal(future), "version 0");
}

/// Bodies that pass the checksum but are structurally wrong (crafted, or written by a bug).
#[test]
fn crafted_bodies_are_rejected() {
    let good = encode(&small_state()).unwrap();
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        reseal(b)
    };
    // Offsets of the small state: header 40, key types at 40 (utf8) and 41 (int64), n_segments
    // at 42, then key values.
    assert_eq!(good[40], tag::UTF8);
    assert_eq!(good[41], tag::INT64);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown flag", edit(&|b| b[10] |= 0x80)),
        ("no-tallies flag with a body", edit(&|b| b[10] &= !2)),
        (
            "bad scale",
            edit(&|b| b[24..32].copy_from_slice(&20i64.to_le_bytes())),
        ),
        (
            "huge scale",
            edit(&|b| b[32..40].copy_from_slice(&i64::MAX.to_le_bytes())),
        ),
        (
            "n_keys huge",
            edit(&|b| b[12..16].copy_from_slice(&u32::MAX.to_le_bytes())),
        ),
        ("n_keys off by one", edit(&|b| b[12] = 3)),
        ("unknown tag", edit(&|b| b[40] = 200)),
        (
            "n_segments huge",
            edit(&|b| b[42..50].copy_from_slice(&u64::MAX.to_le_bytes())),
        ),
        (
            "n_segments large",
            edit(&|b| b[42..50].copy_from_slice(&(1u64 << 40).to_le_bytes())),
        ),
        ("bad validity", edit(&|b| b[50] = 7)),
        (
            "string length huge",
            edit(&|b| b[51..55].copy_from_slice(&u32::MAX.to_le_bytes())),
        ),
        ("not utf8", edit(&|b| b[55] = 0xFF)),
        ("cut body", edit(&|b| b.truncate(b.len() - 12))),
        ("extra body", edit(&|b| b.extend_from_slice(&[0; 8]))),
        (
            "weight sum larger than its count allows",
            edit(&|b| {
                let n = b.len();
                b[n - 12..n - 4].copy_from_slice(&u64::MAX.to_le_bytes())
            }),
        ),
        (
            "weight sum without responses",
            edit(&|b| {
                let n = b.len();
                b[n - 36] = 1
            }),
        ),
    ];
    for (what, bytes) in cases {
        assert_corrupt(&bytes, what);
    }
    // Two segments with equal keys: rewrite the second segment's key to the first one's.
    let s = small_state();
    let g = s.aggregator.as_ref().unwrap().finish().unwrap();
    assert!(g.tallies.segments() >= 3);
    let dup = {
        let regions = vec![Some("eu"), Some("eu"), None];
        let waves = vec![1i64, 1, 2];
        let mut b = good[..50].to_vec();
        b[42..50].copy_from_slice(&3u64.to_le_bytes());
        for r in &regions {
            match r {
                Some(v) => {
                    b.push(1);
                    write_bytes(v.as_bytes(), &mut b);
                }
                None => b.push(0),
            }
        }
        for w in &waves {
            b.push(1);
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend(std::iter::repeat_n(0u8, 3 * 13 * 8 + 2 * 3 * 11 * 32 + 4));
        reseal(b)
    };
    let m = assert_corrupt(&dup, "duplicate segment");
    assert!(m.contains("twice"), "{m}");
}

/// Random edits with a fixed-up checksum: the decoder must return, never panic, and whatever it
/// accepts must encode again.
#[test]
fn resealed_random_edits_never_panic() {
    let good = encode(&small_state()).unwrap();
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let mut b = good.clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(4) {
                0 => {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                }
                1 if b.len() > 28 => {
                    let i = 24 + rng.below(b.len() - 28);
                    b.remove(i);
                }
                2 => {
                    let i = 24 + rng.below(b.len() - 27);
                    b.insert(i, rng.next() as u8);
                }
                _ => {
                    let i = 24 + rng.below(b.len() - 27);
                    let j = 24 + rng.below(b.len() - 27);
                    b.swap(i, j);
                }
            }
        }
        if b.len() < 28 {
            continue;
        }
        b[..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        let b = reseal(b);
        match decode(&b) {
            Ok(state) => {
                let again = encode(&state).unwrap();
                decode(&again).unwrap();
            }
            Err(CoreError::CorruptState(_)) => {}
            Err(e) => panic!("wrong error kind {e}"),
        }
    }
}

/// Version 1 wrote each weight sum as one f64; such states still read, with the same tallies.
#[test]
fn version_one_states_still_read() {
    let state = small_state();
    let v2 = encode(&state).unwrap();
    let agg = state.aggregator.as_ref().unwrap();
    let cells = agg.finish().unwrap().tallies.segments() * 11 * 2;
    let body_end = v2.len() - CHECKSUM_LEN;
    let sums_start = body_end - cells * EXACT_LEN;
    let mut v1 = v2[..sums_start].to_vec();
    for cell in v2[sums_start..body_end].chunks(EXACT_LEN) {
        let limbs: Vec<u64> = cell
            .chunks(8)
            .map(|l| u64::from_le_bytes(l.try_into().unwrap()))
            .collect();
        let exact = ExactSum::from_limbs(limbs.try_into().unwrap());
        v1.extend_from_slice(&exact.to_f64().to_bits().to_le_bytes());
    }
    v1[8..10].copy_from_slice(&1u16.to_le_bytes());
    let length = (v1.len() + CHECKSUM_LEN) as u64;
    v1[16..24].copy_from_slice(&length.to_le_bytes());
    let v1 = reseal_appending(v1);
    let read = decode(&v1).unwrap();
    assert_eq!(encode(&read).unwrap(), v2);
    // Version 1 floats that are negative or NaN are still damage.
    for bad in [-1.0f64, f64::NAN] {
        let mut b = v1[..v1.len() - CHECKSUM_LEN].to_vec();
        let n = b.len();
        b[n - 8..].copy_from_slice(&bad.to_bits().to_le_bytes());
        assert_corrupt(&reseal_appending(b), "bad v1 weight sum");
    }
}

fn reseal_appending(mut body: Vec<u8>) -> Vec<u8> {
    let checksum = crc32(&body);
    body.extend_from_slice(&checksum.to_le_bytes());
    body
}
