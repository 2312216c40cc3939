//! Segment keys -> dense ids.
//!
//! Two levels. Within one chunk of rows, each key column gets *local* ids by the cheapest route its
//! type allows (dictionary indices as they are, booleans, small integer ranges by offset, anything
//! else by hashing), and several key columns are combined into one local id. Across chunks, the
//! few distinct local keys are converted to Arrow's row format, whose bytes identify a key tuple
//! canonically, and looked up in a [`KeyIndex`] that hands out global segment ids. Only the
//! distinct keys ever reach the row format, so the per-row work stays a single pass.
//!
//! Submodules: `key_columns` (one key column -> local ids, by type), `index` ([`KeyIndex`] and
//! the logical key types). Adding a key type means a case in `key_columns::key_column_ids` (and,
//! to store it in an accumulator, in `state::format`). Uses only the crate's errors; the tallies
//! and the aggregator use this.

mod bytes_table;
mod fused;
mod index;
mod int_table;
mod key_columns;
mod morsel;
mod packed_table;
mod tuple_ids;
mod value_range;

pub(crate) use index::PARALLEL_KEYS;
pub use index::{logical_key_type, KeyIndex};
use key_columns::{key_column_ids, KeyColumnIds, KeyValues};
pub use morsel::{ChunkPlan, MorselIds, MorselPlan, TaskIds, MORSEL_ROWS};

use std::ops::Range;

use arrow_array::{ArrayRef, UInt32Array};
use arrow_buffer::{BooleanBuffer, NullBuffer};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::Result;

/// Largest product of per-key cardinalities combined by mixed radix rather than hashing.
const DENSE_COMBINED: usize = 1 << 16;

/// Per-row local segment ids of one chunk.
pub enum LocalIds<'a> {
    /// No keys: every row is in segment 0.
    Single,
    /// Dictionary indices used in place (the common single-key case: no per-row copy).
    DictI32 {
        /// The dictionary's indices.
        keys: &'a [i32],
        /// Null rows (None when there are none).
        nulls: Option<&'a NullBuffer>,
        /// The id of the null key: one past the dictionary's values.
        null_id: u32,
    },
    /// Dictionary indices of an unsigned dictionary, used in place.
    DictU32 {
        /// The dictionary's indices.
        keys: &'a [u32],
        /// Null rows (None when there are none).
        nulls: Option<&'a NullBuffer>,
        /// The id of the null key: one past the dictionary's values.
        null_id: u32,
    },
    /// 32-bit integer (or date) keys in a small range, grouped by offset in place: id = value −
    /// low (no per-row copy).
    OffsetI32 {
        /// The key column's values.
        values: &'a [i32],
        /// The smallest present value.
        low: i64,
        /// Null rows (None when there are none).
        nulls: Option<&'a NullBuffer>,
        /// The id of the null key: one past the range.
        null_id: u32,
    },
    /// 64-bit integer (or timestamp) keys in a small range, grouped by offset in place.
    OffsetI64 {
        /// The key column's values.
        values: &'a [i64],
        /// The smallest present value.
        low: i64,
        /// Null rows (None when there are none).
        nulls: Option<&'a NullBuffer>,
        /// The id of the null key: one past the range.
        null_id: u32,
    },
    /// Boolean keys read in place: false 0, true 1, null 2.
    Bool {
        /// The values' bits.
        bits: &'a BooleanBuffer,
        /// Null rows (None when there are none).
        nulls: Option<&'a NullBuffer>,
    },
    /// Ids computed for this chunk (hashed, narrow offset or combined keys).
    Owned(Vec<u32>),
}

/// Row -> local id, one implementation per [`LocalIds`] layout so that each per-row loop is
/// compiled for its layout (no match per row).
pub trait RowIds: Sync {
    /// The local id of row `i`. A corrupt (negative) dictionary index comes out huge, so callers
    /// bound it instead of indexing out of range.
    fn id(&self, i: usize) -> usize;

    /// Calls `f(id, item)` for each row of `rows`, `items[j]` being row `rows.start + j`'s item
    /// (`items` as long as `rows`). Slice layouts override it to walk their ids and the items
    /// together: no bounds check per row in the hot loops.
    #[inline(always)]
    fn zip_rows<T: Copy>(&self, rows: Range<usize>, items: &[T], mut f: impl FnMut(usize, T)) {
        debug_assert_eq!(rows.len(), items.len());
        for (i, &item) in rows.zip(items) {
            f(self.id(i), item);
        }
    }
}

/// Work to run over the rows' local ids; [`LocalIds::with`] picks the [`RowIds`] to run it on.
/// (A trait, not a closure, because the work is generic over the `RowIds` type.)
pub trait WithRowIds {
    /// What the work returns.
    type Output;
    /// Runs the work over `ids`.
    fn run<I: RowIds>(self, ids: &I) -> Self::Output;
}

impl LocalIds<'_> {
    /// Runs `work` over these ids: the one place that matches on the id layout.
    pub fn with<W: WithRowIds>(&self, work: W) -> W::Output {
        match self {
            LocalIds::Single => work.run(&SingleIds),
            LocalIds::DictI32 {
                keys, nulls: None, ..
            } => work.run(&SliceIds(keys)),
            LocalIds::DictI32 {
                keys,
                nulls: Some(nulls),
                null_id,
            } => work.run(&NullableIds {
                keys: SliceIds(keys),
                nulls,
                null_id: *null_id as usize,
            }),
            LocalIds::DictU32 {
                keys, nulls: None, ..
            } => work.run(&SliceIds(keys)),
            LocalIds::DictU32 {
                keys,
                nulls: Some(nulls),
                null_id,
            } => work.run(&NullableIds {
                keys: SliceIds(keys),
                nulls,
                null_id: *null_id as usize,
            }),
            LocalIds::OffsetI32 {
                values,
                low,
                nulls,
                null_id,
            } => offset(work, values, *low, *nulls, *null_id),
            LocalIds::OffsetI64 {
                values,
                low,
                nulls,
                null_id,
            } => offset(work, values, *low, *nulls, *null_id),
            LocalIds::Bool { bits, nulls: None } => work.run(&BoolIds(bits)),
            LocalIds::Bool {
                bits,
                nulls: Some(nulls),
            } => work.run(&NullableIds {
                keys: BoolIds(bits),
                nulls,
                null_id: 2,
            }),
            LocalIds::Owned(v) => work.run(&SliceIds(v.as_slice())),
        }
    }
}

/// Runs `work` over offset ids, with or without the null check.
fn offset<W: WithRowIds, T: Copy + Into<i64> + Sync>(
    work: W,
    values: &[T],
    low: i64,
    nulls: Option<&NullBuffer>,
    null_id: u32,
) -> W::Output {
    let keys = OffsetIds { values, low };
    match nulls {
        None => work.run(&keys),
        Some(nulls) => work.run(&NullableIds {
            keys,
            nulls,
            null_id: null_id as usize,
        }),
    }
}

/// id = value − low. A null slot's value is arbitrary: callers wrap these in [`NullableIds`]
/// when the column has nulls (and bound every id anyway).
struct OffsetIds<'a, T> {
    values: &'a [T],
    low: i64,
}
impl<T: Copy + Into<i64> + Sync> RowIds for OffsetIds<'_, T> {
    #[inline(always)]
    fn id(&self, i: usize) -> usize {
        let v: i64 = self.values[i].into();
        v.wrapping_sub(self.low) as u64 as usize
    }
    #[inline(always)]
    fn zip_rows<I: Copy>(&self, rows: Range<usize>, items: &[I], mut f: impl FnMut(usize, I)) {
        for (&v, &item) in self.values[rows].iter().zip(items) {
            let v: i64 = v.into();
            f(v.wrapping_sub(self.low) as u64 as usize, item);
        }
    }
}

struct BoolIds<'a>(&'a BooleanBuffer);
impl RowIds for BoolIds<'_> {
    #[inline(always)]
    fn id(&self, i: usize) -> usize {
        self.0.value(i) as usize
    }
}

struct SingleIds;
impl RowIds for SingleIds {
    #[inline(always)]
    fn id(&self, _: usize) -> usize {
        0
    }
}

struct SliceIds<'a, T>(&'a [T]);
impl RowIds for SliceIds<'_, i32> {
    #[inline(always)]
    fn id(&self, i: usize) -> usize {
        // A negative (corrupt) dictionary index becomes huge and fails the bounds check.
        self.0[i] as u32 as usize
    }
    #[inline(always)]
    fn zip_rows<T: Copy>(&self, rows: Range<usize>, items: &[T], mut f: impl FnMut(usize, T)) {
        for (&key, &item) in self.0[rows].iter().zip(items) {
            f(key as u32 as usize, item);
        }
    }
}
impl RowIds for SliceIds<'_, u32> {
    #[inline(always)]
    fn id(&self, i: usize) -> usize {
        self.0[i] as usize
    }
    #[inline(always)]
    fn zip_rows<T: Copy>(&self, rows: Range<usize>, items: &[T], mut f: impl FnMut(usize, T)) {
        for (&key, &item) in self.0[rows].iter().zip(items) {
            f(key as usize, item);
        }
    }
}

struct NullableIds<'a, K> {
    keys: K,
    nulls: &'a NullBuffer,
    null_id: usize,
}
impl<K: RowIds> RowIds for NullableIds<'_, K> {
    #[inline(always)]
    fn id(&self, i: usize) -> usize {
        // The key is read whether or not the row is null (a null slot holds some value), so
        // that the null id is picked by a select: a branch mispredicts on scattered nulls.
        let key = self.keys.id(i);
        if self.nulls.is_valid(i) {
            key
        } else {
            self.null_id
        }
    }
    #[inline(always)]
    fn zip_rows<T: Copy>(&self, rows: Range<usize>, items: &[T], mut f: impl FnMut(usize, T)) {
        // The validity bits walked beside the layout's own loop over its ids.
        let mut valid = arrow_buffer::bit_iterator::BitIterator::new(
            self.nulls.validity(),
            self.nulls.offset() + rows.start,
            rows.len(),
        );
        let null_id = self.null_id;
        self.keys.zip_rows(rows, items, |key, item| {
            let ok = valid.next().unwrap_or(false);
            f(if ok { key } else { null_id }, item);
        });
    }
}

/// How to name the local ids of a grouping: per key column how its ids map to values, and for
/// several keys which column ids each combined id stands for.
#[derive(Clone)]
pub struct GroupKeys {
    columns: Vec<KeyValues>,
    /// For several keys: `tuples[l * n_keys + j]` = local id of key column `j` in combined id `l`.
    tuples: Option<Vec<u32>>,
}

impl GroupKeys {
    /// The key values of the given local ids, one array per key column (raw types).
    pub fn key_values(&self, local: &[u32]) -> Result<Vec<ArrayRef>> {
        let n_keys = self.columns.len();
        self.columns
            .iter()
            .enumerate()
            .map(|(j, col)| {
                let index: UInt32Array = local
                    .iter()
                    .map(|&l| {
                        let key_local = match &self.tuples {
                            Some(t) => t[l as usize * n_keys + j],
                            None => l,
                        };
                        col.lookup[key_local as usize]
                    })
                    .collect();
                Ok(arrow_select::take::take(col.values.as_ref(), &index, None)?)
            })
            .collect()
    }
}

/// The local grouping of one chunk.
pub struct ChunkGroups<'a> {
    /// Each row's local id.
    pub ids: LocalIds<'a>,
    /// How many local ids there are (ids are below this).
    pub n_local: usize,
    /// The keys the local ids stand for.
    pub keys: GroupKeys,
}

impl<'a> ChunkGroups<'a> {
    /// Every row's local id as one vector (for passes that cannot take the ids in their loop).
    pub fn row_ids(&self, len: usize) -> Vec<u32> {
        materialise(&self.ids, len)
    }

    /// Groups the rows of one chunk by its key columns (all of the same length).
    pub fn new(keys: &'a [ArrayRef]) -> Result<Self> {
        let per_key = keys
            .iter()
            .enumerate()
            .map(|(j, k)| key_column_ids(k, j))
            .collect::<Result<Vec<_>>>()?;
        let len = keys.first().map_or(0, |k| k.len());
        Ok(Self::from_columns(per_key, len))
    }

    /// Groups `len` rows by the per-column ids already computed.
    fn from_columns(mut per_key: Vec<KeyColumnIds<'a>>, len: usize) -> Self {
        if per_key.is_empty() {
            return Self {
                ids: LocalIds::Single,
                n_local: 1,
                keys: GroupKeys {
                    columns: Vec::new(),
                    tuples: None,
                },
            };
        }
        if per_key.len() == 1 {
            let only = per_key.pop().expect("one key");
            return Self {
                ids: only.ids,
                n_local: only.cardinality,
                keys: GroupKeys {
                    columns: vec![only.values],
                    tuples: None,
                },
            };
        }
        let cards: Vec<usize> = per_key.iter().map(|k| k.cardinality).collect();
        let (ids, n_local, tuples) = match dense_product(&cards) {
            Some(p) => (
                mixed_radix_ids(&per_key, &cards, len),
                p,
                mixed_radix_tuples(&cards, p),
            ),
            None => {
                let owned: Vec<Vec<u32>> =
                    per_key.iter().map(|k| materialise(&k.ids, len)).collect();
                hashed_tuples(&owned, len)
            }
        };
        Self {
            ids: LocalIds::Owned(ids),
            n_local,
            keys: GroupKeys {
                columns: per_key.into_iter().map(|k| k.values).collect(),
                tuples: Some(tuples),
            },
        }
    }

    /// The key values of the given local ids, one array per key column (raw types).
    pub fn key_values(&self, local: &[u32]) -> Result<Vec<ArrayRef>> {
        self.keys.key_values(local)
    }
}

/// Every row's local id as one vector.
fn materialise(ids: &LocalIds<'_>, len: usize) -> Vec<u32> {
    struct Materialise(usize);
    impl WithRowIds for Materialise {
        type Output = Vec<u32>;
        fn run<I: RowIds>(self, ids: &I) -> Vec<u32> {
            (0..self.0).map(|i| ids.id(i) as u32).collect()
        }
    }
    ids.with(Materialise(len))
}

/// The number of key tuples when small enough to give every tuple a slot (mixed radix).
fn dense_product(cards: &[usize]) -> Option<usize> {
    cards
        .iter()
        .try_fold(1usize, |acc, &c| acc.checked_mul(c.max(1)))
        .filter(|&p| p <= DENSE_COMBINED)
}

/// Mixed-radix ids, one key column at a time over the whole chunk (sequential reads of each
/// key, no per-key copies), split across threads.
fn mixed_radix_ids(per_key: &[KeyColumnIds<'_>], cards: &[usize], len: usize) -> Vec<u32> {
    const BLOCK: usize = 1 << 16;
    let mut ids = vec![0u32; len];
    for (key, &card) in per_key.iter().zip(cards) {
        let card = card as u32;
        let fold = |(b, block): (usize, &mut [u32])| {
            key.ids.with(FoldKey {
                block,
                start: b * BLOCK,
                card,
            });
        };
        if len <= BLOCK {
            // One block: the pool would cost more than the work.
            ids.chunks_mut(BLOCK).enumerate().for_each(fold);
        } else {
            ids.par_chunks_mut(BLOCK).enumerate().for_each(fold);
        }
    }
    ids
}

/// ids[j] = ids[j] · card + key id of row start + j (one digit of the mixed radix).
struct FoldKey<'b> {
    block: &'b mut [u32],
    start: usize,
    card: u32,
}

impl WithRowIds for FoldKey<'_> {
    type Output = ();
    fn run<I: RowIds>(self, ids: &I) {
        for (j, id) in self.block.iter_mut().enumerate() {
            *id = *id * self.card + ids.id(self.start + j) as u32;
        }
    }
}

/// `tuples[id * n_keys + k]`: the key-`k` local id inside mixed-radix id `id`.
fn mixed_radix_tuples(cards: &[usize], product: usize) -> Vec<u32> {
    let n_keys = cards.len();
    let mut tuples = vec![0u32; product * n_keys];
    for id in 0..product {
        let mut rest = id;
        for k in (0..n_keys).rev() {
            tuples[id * n_keys + k] = (rest % cards[k]) as u32;
            rest /= cards[k];
        }
    }
    tuples
}

/// Hashes each row's tuple of per-key ids to one id per distinct tuple present.
fn hashed_tuples(per_key: &[Vec<u32>], len: usize) -> (Vec<u32>, usize, Vec<u32>) {
    let n_keys = per_key.len();
    let mut ids = Vec::with_capacity(len);
    let mut tuples = Vec::new();
    let mut map: FxHashMap<Vec<u32>, u32> = FxHashMap::default();
    let mut tuple = vec![0u32; n_keys];
    for i in 0..len {
        for (k, col) in per_key.iter().enumerate() {
            tuple[k] = col[i];
        }
        let next = map.len() as u32;
        let id = *map.entry(tuple.clone()).or_insert_with(|| {
            tuples.extend_from_slice(&tuple);
            next
        });
        ids.push(id);
    }
    (ids, map.len(), tuples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;
    use arrow_array::{Array, BooleanArray, DictionaryArray, Int32Array, StringArray};
    use arrow_schema::DataType;
    use std::sync::Arc;

    fn ids_of(g: &ChunkGroups<'_>, len: usize) -> Vec<u32> {
        materialise(&g.ids, len)
    }

    #[test]
    fn dictionary_and_strings_agree() {
        let dict: DictionaryArray<Int32Type> = vec![Some("b"), Some("a"), None, Some("b")]
            .into_iter()
            .collect();
        let dict: ArrayRef = Arc::new(dict);
        let strings: ArrayRef = Arc::new(StringArray::from(vec![
            Some("b"),
            Some("a"),
            None,
            Some("b"),
        ]));
        let mut index = KeyIndex::new(vec![DataType::Utf8]).unwrap();
        for col in [dict, strings] {
            let keys = [col];
            let g = ChunkGroups::new(&keys).unwrap();
            let local = ids_of(&g, 4);
            let values = g.key_values(&local).unwrap();
            let global = index.intern(&values).unwrap();
            assert_eq!(global[0], global[3]);
            assert_ne!(global[0], global[1]);
            assert_ne!(global[2], global[0]);
        }
        assert_eq!(index.len(), 3);
        let order = index.sorted_order();
        let cols = index.key_columns(&order).unwrap();
        let s = cols[0].as_string::<i32>();
        assert_eq!((s.value(0), s.value(1), s.is_null(2)), ("a", "b", true));
    }

    /// Row ids walked by `zip_rows` (validity bits beside the ids) equal those read one by one
    /// (`id`), for nullable offset, dictionary and boolean layouts sliced at odd offsets.
    #[test]
    fn nullable_ids_walked_or_read_agree() {
        struct Walk(Range<usize>);
        impl WithRowIds for Walk {
            type Output = (Vec<usize>, Vec<usize>);
            fn run<I: RowIds>(self, ids: &I) -> Self::Output {
                let items = vec![(); self.0.len()];
                let mut walked = Vec::new();
                ids.zip_rows(self.0.clone(), &items, |id, ()| walked.push(id));
                (walked, self.0.map(|i| ids.id(i)).collect())
            }
        }
        let n = 300;
        let valid = |i: usize| i % 7 != 2 && i % 11 != 5;
        let ints: ArrayRef = Arc::new(Int32Array::from_iter(
            (0..n).map(|i| valid(i).then_some(i as i32 % 13)),
        ));
        let dict: ArrayRef = Arc::new(
            (0..n)
                .map(|i| valid(i).then(|| ["a", "b", "c"][i % 3]))
                .collect::<DictionaryArray<Int32Type>>(),
        );
        let bools: ArrayRef = Arc::new(BooleanArray::from_iter(
            (0..n).map(|i| valid(i).then_some(i % 3 == 0)),
        ));
        for column in [ints, dict, bools] {
            for offset in [0, 3, 64, 129] {
                let sliced = column.slice(offset, n - offset);
                let keys = [sliced];
                let groups = ChunkGroups::new(&keys).unwrap();
                for rows in [0..n - offset, 5..n - offset - 9, 64..130] {
                    let (walked, read) = groups.ids.with(Walk(rows.clone()));
                    assert_eq!(walked, read, "offset {offset}, rows {rows:?}");
                    let nulls = rows.clone().filter(|&i| !valid(offset + i)).count();
                    let null_id = read[rows.clone().position(|i| !valid(offset + i)).unwrap()];
                    assert_eq!(read.iter().filter(|&&id| id == null_id).count(), nulls);
                }
            }
        }
    }

    #[test]
    fn several_keys_and_wide_ints() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(1),
            Some(1_000_000),
            None,
            Some(1),
        ]));
        let b: ArrayRef = Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(true),
            Some(false),
            Some(true),
        ]));
        let keys = [a, b];
        let g = ChunkGroups::new(&keys).unwrap();
        let local = ids_of(&g, 4);
        assert_eq!(local[0], local[3]);
        assert_ne!(local[0], local[1]);
        let vals = g.key_values(&local).unwrap();
        assert_eq!(vals[0].as_primitive::<Int32Type>().value(1), 1_000_000);
        assert!(vals[0].is_null(2));
        assert!(!vals[1].as_boolean().value(2));
    }
}
