//! Several key columns looked up as one key: one hash and one probe per row.
//!
//! Each hashed key column (strings, binaries, wide integers) contributes one 128-bit *part* per
//! row — a short byte string packed with its length, an integer's 64 bits, a null marker, or a
//! task-local id for a long byte string — and the columns with chunk-wide ids (dictionaries,
//! small integer ranges, booleans) contribute one more part together, their mixed-radix
//! position. The row's parts form its key in one task-local table of key tuples. Per row this
//! costs one probe, where a table per column and then a table of id tuples cost one probe per
//! column plus a combining pass (two string keys of 60 × 3 values: 1.23× faster in an A/B at
//! 2M rows).
//!
//! Ids are handed out in order of first appearance within the task, as the other routes do.

use std::ops::Range;

use arrow_array::{Array, OffsetSizeTrait};
use arrow_buffer::NullBuffer;

use super::bytes_table::BytesTable;
use super::key_columns::{KeyColumnIds, KeyValues};
use super::morsel::{pack, pack_at, pack_short_batch, packed_hash, FoldDigit, Hashed};

/// Rows whose parts are packed and hashed before any of them is looked up.
const BATCH: usize = 32;

/// The part of a null key. Distinct from every packed byte string (whose top byte is its
/// length, below 16), every integer (whose top 64 bits are zero) and [`EMPTY_PART`].
const NULL_PART: u128 = 0xF0 << 120;
/// Long byte strings: this tag with the string's task-local id in the low 32 bits.
const LONG_PART: u128 = 0xF1 << 120;
/// No part equals this (the top byte of every other part is below 0xF2).
const EMPTY_PART: u128 = u128::MAX;

/// One hashed column, which contributes a part of its own.
struct PartColumn<'a> {
    column: Hashed<'a>,
    /// Long byte strings -> their task-local ids.
    long: BytesTable<'a>,
}

/// One task's ids of key tuples of `W` parts.
pub(super) struct FusedIds<'p, 'a, const W: usize> {
    /// The hashed columns, in key order, each with the index of its key column.
    parts: Vec<(usize, PartColumn<'a>)>,
    /// The columns with chunk-wide ids (key column index, ids), folded into the last part.
    fixed: Vec<(usize, &'p KeyColumnIds<'a>)>,
    table: TupleTable<W>,
    /// A chunk-wide id at or past its column's cardinality was seen (corrupt dictionary).
    pub(super) corrupt: bool,
}

impl<'p, 'a, const W: usize> FusedIds<'p, 'a, W> {
    /// `hashed`: the hashed columns with their key column indices; `fixed`: the others.
    /// `W` = hashed columns + (1 if any fixed column).
    pub(super) fn new(
        hashed: impl IntoIterator<Item = (usize, Hashed<'a>)>,
        fixed: Vec<(usize, &'p KeyColumnIds<'a>)>,
    ) -> Self {
        let parts: Vec<_> = hashed
            .into_iter()
            .map(|(j, column)| {
                (
                    j,
                    PartColumn {
                        column,
                        long: BytesTable::default(),
                    },
                )
            })
            .collect();
        debug_assert_eq!(parts.len() + usize::from(!fixed.is_empty()), W);
        Self {
            parts,
            fixed,
            table: TupleTable::default(),
            corrupt: false,
        }
    }

    /// How many tuples have ids.
    pub(super) fn len(&self) -> usize {
        self.table.rows.len()
    }

    /// Fills `out` with the tuple ids of `rows`.
    pub(super) fn fill(&mut self, rows: Range<usize>, out: &mut [u32]) {
        let has_fixed = !self.fixed.is_empty();
        if has_fixed {
            // The fixed columns' mixed-radix position first, in `out` (one pass per column).
            out.fill(0);
            for (_, ids) in &self.fixed {
                self.corrupt |= ids.ids.with(FoldDigit {
                    out,
                    start: rows.start,
                    card: ids.cardinality.max(1) as u32,
                });
            }
        }
        let mut parts = [[EMPTY_PART; BATCH]; W];
        let mut hashes = [0u64; BATCH];
        let mut first = rows.start;
        for out in out.chunks_mut(BATCH) {
            let n = out.len();
            for (p, (_, PartColumn { column, long })) in self.parts.iter_mut().enumerate() {
                pack_parts(*column, long, first, &mut parts[p][..n]);
            }
            if has_fixed {
                for (part, &radix) in parts[W - 1].iter_mut().zip(out.iter()) {
                    *part = u128::from(radix);
                }
            }
            for (r, h) in hashes[..n].iter_mut().enumerate() {
                *h = tuple_hash::<W>(&std::array::from_fn(|p| parts[p][r]));
            }
            // Known tuples in a read-only loop, left only to insert a new one.
            let mut r = 0;
            while r < n {
                r = self.table.find_known(&parts, &hashes[..n], r, out);
                if r < n {
                    let key: [u128; W] = std::array::from_fn(|p| parts[p][r]);
                    out[r] = self.table.id_or_insert(key, hashes[r], first + r);
                    r += 1;
                }
            }
            first += n;
        }
    }

    /// The values of each key column, and per tuple its per-column local ids.
    pub(super) fn into_keys(self, n_keys: usize) -> (Vec<KeyValues>, Vec<u32>) {
        let n = self.len();
        let mut values: Vec<Option<KeyValues>> = vec![None; n_keys];
        let mut tuples = vec![0u32; n * n_keys];
        for (p, (j, part)) in self.parts.iter().enumerate() {
            // Column j's local id of tuple l is l itself; its value is at the tuple's first row.
            let lookup = (0..n)
                .map(|l| (self.table.keys[l][p] != NULL_PART).then_some(self.table.rows[l]))
                .collect();
            values[*j] = Some(KeyValues {
                values: part.column.column().clone(),
                lookup,
            });
            for l in 0..n {
                tuples[l * n_keys + j] = l as u32;
            }
        }
        if !self.fixed.is_empty() {
            for l in 0..n {
                let mut rest = self.table.keys[l][W - 1] as u64;
                for (j, ids) in self.fixed.iter().rev() {
                    let card = ids.cardinality.max(1) as u64;
                    tuples[l * n_keys + j] = (rest % card) as u32;
                    rest /= card;
                }
            }
            for (j, ids) in &self.fixed {
                values[*j] = Some(ids.values.clone());
            }
        }
        let values = values
            .into_iter()
            .map(|v| v.expect("every key column is a part or fixed"))
            .collect();
        (values, tuples)
    }
}

/// The parts of rows `first..first + out.len()` of one hashed column.
#[inline(always)]
fn pack_parts<'a>(column: Hashed<'a>, long: &mut BytesTable<'a>, first: usize, out: &mut [u128]) {
    match column {
        Hashed::Utf8(a, _) => {
            pack_offsets(a.value_offsets(), a.values(), a.nulls(), long, first, out)
        }
        Hashed::LargeUtf8(a, _) => {
            pack_offsets(a.value_offsets(), a.values(), a.nulls(), long, first, out)
        }
        Hashed::Binary(a, _) => {
            pack_offsets(a.value_offsets(), a.values(), a.nulls(), long, first, out)
        }
        Hashed::LargeBinary(a, _) => {
            pack_offsets(a.value_offsets(), a.values(), a.nulls(), long, first, out)
        }
        Hashed::Utf8View(a, _) => {
            pack_views(a.views(), a.data_buffers(), a.nulls(), long, first, out)
        }
        Hashed::BinaryView(a, _) => {
            pack_views(a.views(), a.data_buffers(), a.nulls(), long, first, out)
        }
        Hashed::Int32(v, nulls, _) => pack_ints(v, nulls, first, out),
        Hashed::Int64(v, nulls, _) => pack_ints(v, nulls, first, out),
    }
}

/// The part of a long byte string: its task-local id, tagged.
fn long_part<'a>(long: &mut BytesTable<'a>, bytes: &'a [u8]) -> u128 {
    let next = long.len() as u32;
    LONG_PART | u128::from(long.id_or_insert(bytes, || next))
}

#[inline(always)]
fn pack_offsets<'a, O: OffsetSizeTrait>(
    offsets: &[O],
    bytes: &'a [u8],
    nulls: Option<&NullBuffer>,
    long: &mut BytesTable<'a>,
    first: usize,
    out: &mut [u128],
) {
    let bounds = &offsets[first..first + out.len() + 1];
    if pack_short_batch(bounds, bytes, nulls, first, out) {
        return;
    }
    for (r, (part, pair)) in out.iter_mut().zip(bounds.windows(2)).enumerate() {
        let (start, end) = (pair[0].as_usize(), pair[1].as_usize());
        let len = end.wrapping_sub(start);
        *part = if nulls.is_some_and(|n| n.is_null(first + r)) {
            NULL_PART
        } else if len >= 16 {
            long_part(long, &bytes[start..end])
        } else {
            pack_at(bytes, start, len)
        };
    }
}

#[inline(always)]
fn pack_views<'a>(
    views: &[u128],
    buffers: &'a [arrow_buffer::Buffer],
    nulls: Option<&NullBuffer>,
    long: &mut BytesTable<'a>,
    first: usize,
    out: &mut [u128],
) {
    for (r, part) in out.iter_mut().enumerate() {
        let i = first + r;
        let view = views[i];
        let len = view as u32 as usize;
        *part = if nulls.is_some_and(|n| n.is_null(i)) {
            NULL_PART
        } else if len <= 12 {
            // Inline: the bytes follow the length in the view itself.
            pack(view >> 32, len)
        } else {
            let data: &'a [u8] = buffers[(view >> 64) as u32 as usize].as_slice();
            let offset = (view >> 96) as u32 as usize;
            if len >= 16 {
                long_part(long, &data[offset..offset + len])
            } else {
                pack_at(data, offset, len)
            }
        };
    }
}

#[inline(always)]
fn pack_ints<T: Copy + Into<i64>>(
    values: &[T],
    nulls: Option<&NullBuffer>,
    first: usize,
    out: &mut [u128],
) {
    let values = &values[first..first + out.len()];
    match nulls {
        None => out
            .iter_mut()
            .zip(values)
            .for_each(|(p, &v)| *p = u128::from(v.into() as u64)),
        Some(nulls) => {
            for (r, (p, &v)) in out.iter_mut().zip(values).enumerate() {
                *p = if nulls.is_valid(first + r) {
                    u128::from(v.into() as u64)
                } else {
                    NULL_PART
                };
            }
        }
    }
}

/// The hash of a key tuple: each part's [`packed_hash`], rotated by its position so that equal
/// parts in different positions do not cancel, xored.
#[inline(always)]
fn tuple_hash<const W: usize>(key: &[u128; W]) -> u64 {
    key.iter().enumerate().fold(0u64, |h, (p, &part)| {
        h ^ packed_hash(part).rotate_left(23 * p as u32)
    })
}

/// Key tuple -> id: open addressing over 8-byte slots (the id and 32 bits of the hash), the
/// tuples themselves stored once by id, so the probed array stays small (an eighth full: 180
/// tuples in 16 KB) however wide the tuples are.
struct TupleTable<const W: usize> {
    /// `id << 32 | low 32 bits of the hash`, or [`EMPTY_SLOT`].
    slots: Vec<u64>,
    /// 64 − log2(slots): the hash's top bits pick the first slot.
    shift: u32,
    /// Per id, its tuple and the first row that has it.
    keys: Vec<[u128; W]>,
    rows: Vec<u32>,
}

const EMPTY_SLOT: u64 = u64::MAX;

impl<const W: usize> Default for TupleTable<W> {
    fn default() -> Self {
        Self::with_slots(256)
    }
}

impl<const W: usize> TupleTable<W> {
    fn with_slots(slots: usize) -> Self {
        Self {
            slots: vec![EMPTY_SLOT; slots],
            shift: 64 - slots.trailing_zeros(),
            keys: Vec::new(),
            rows: Vec::new(),
        }
    }

    #[inline(always)]
    fn id_or_insert(&mut self, key: [u128; W], hash: u64, row: usize) -> u32 {
        let mask = self.slots.len() - 1;
        let mut slot = (hash >> self.shift) as usize & mask;
        loop {
            let found = self.slots[slot];
            if found == EMPTY_SLOT {
                return self.insert_at(slot, key, hash, row);
            }
            if found as u32 == hash as u32 {
                let id = (found >> 32) as u32;
                if self.keys[id as usize] == key {
                    return id;
                }
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The ids of the tuples `parts[..][r]` for `r` from `from` on (with their hashes) into
    /// `out` while every tuple is known; returns the first `r` whose tuple is not (or
    /// `hashes.len()`). Only reads the table, so its fields stay in registers.
    #[inline(always)]
    fn find_known(
        &self,
        parts: &[[u128; BATCH]; W],
        hashes: &[u64],
        from: usize,
        out: &mut [u32],
    ) -> usize {
        let (slots, keys) = (&self.slots[..], &self.keys[..]);
        let mask = slots.len() - 1;
        let out = &mut out[..hashes.len()];
        // An index loop: `enumerate().skip(from)` and a sliced `enumerate` cost seven and four
        // instructions a row more (cachegrind).
        #[allow(clippy::needless_range_loop)]
        for r in from..hashes.len() {
            let hash = hashes[r];
            let mut slot = (hash >> self.shift) as usize & mask;
            loop {
                let found = slots[slot];
                if found == EMPTY_SLOT {
                    return r;
                }
                if found as u32 == hash as u32 {
                    let id = (found >> 32) as u32;
                    if (0..W).all(|p| keys[id as usize][p] == parts[p][r]) {
                        out[r] = id;
                        break;
                    }
                }
                slot = (slot + 1) & mask;
            }
        }
        hashes.len()
    }

    #[cold]
    #[inline(never)]
    fn insert_at(&mut self, slot: usize, key: [u128; W], hash: u64, row: usize) -> u32 {
        let id = self.keys.len() as u32;
        self.slots[slot] = u64::from(id) << 32 | u64::from(hash as u32);
        self.keys.push(key);
        self.rows.push(row as u32);
        // An eighth full while the slots fit in L1/L2 (few second probes), half full beyond.
        let limit = if self.slots.len() <= 1 << 16 {
            self.slots.len() / 8
        } else {
            self.slots.len() / 2
        };
        if self.keys.len() > limit {
            self.grow();
        }
        id
    }

    fn grow(&mut self) {
        let size = 2 * self.slots.len();
        self.slots = vec![EMPTY_SLOT; size];
        self.shift = 64 - size.trailing_zeros();
        let mask = size - 1;
        for (id, key) in self.keys.iter().enumerate() {
            let hash = tuple_hash(key);
            let mut slot = (hash >> self.shift) as usize & mask;
            while self.slots[slot] != EMPTY_SLOT {
                slot = (slot + 1) & mask;
            }
            self.slots[slot] = (id as u64) << 32 | u64::from(hash as u32);
        }
    }
}
