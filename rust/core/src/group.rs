//! Segment keys -> dense ids.
//!
//! Two levels. Within one chunk of rows, each key column gets *local* ids by the cheapest route its
//! type allows (dictionary indices as they are, booleans, small integer ranges by offset, anything
//! else by hashing), and several key columns are combined into one local id. Across chunks, the
//! few distinct local keys are converted to Arrow's row format, whose bytes identify a key tuple
//! canonically, and looked up in a [`KeyIndex`] that hands out global segment ids. Only the
//! distinct keys ever reach the row format, so the per-row work stays a single pass.

use std::hash::Hash;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, BooleanArray, Int64Array, UInt32Array};
use arrow_buffer::NullBuffer;
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType, SortOptions};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::{CoreError, Result, Role};

/// Integer keys whose range is at most this wide are grouped by offset instead of hashing.
const DENSE_INT_RANGE: i64 = 1 << 16;
/// Largest product of per-key cardinalities combined by mixed radix rather than hashing.
const DENSE_COMBINED: usize = 1 << 16;

/// Per-row local segment ids of one chunk.
pub enum LocalIds<'a> {
    /// No keys: every row is in segment 0.
    Single,
    /// Dictionary indices used in place (the common single-key case: no per-row copy).
    DictI32 {
        keys: &'a [i32],
        nulls: Option<&'a NullBuffer>,
        null_id: u32,
    },
    DictU32 {
        keys: &'a [u32],
        nulls: Option<&'a NullBuffer>,
        null_id: u32,
    },
    Owned(Vec<u32>),
}

/// How to recover the key value of a local id of one key column.
struct KeyValues {
    /// Candidate values, of the column's (or dictionary's) raw type.
    values: ArrayRef,
    /// `lookup[local id]` = index into `values`, or `None` for the null key.
    lookup: Vec<Option<u32>>,
}

struct KeyColumnIds<'a> {
    ids: LocalIds<'a>,
    cardinality: usize,
    values: KeyValues,
}

/// The local grouping of one chunk.
pub struct ChunkGroups<'a> {
    pub ids: LocalIds<'a>,
    pub n_local: usize,
    columns: Vec<KeyValues>,
    /// For several keys: `tuples[l * n_keys + j]` = local id of key column `j` in combined id `l`.
    tuples: Option<Vec<u32>>,
}

impl<'a> ChunkGroups<'a> {
    /// Groups the rows of one chunk by its key columns (all of the same length).
    pub fn new(keys: &'a [ArrayRef]) -> Result<Self> {
        if keys.is_empty() {
            return Ok(Self {
                ids: LocalIds::Single,
                n_local: 1,
                columns: Vec::new(),
                tuples: None,
            });
        }
        let mut per_key = keys
            .iter()
            .enumerate()
            .map(|(j, k)| key_column_ids(k, j))
            .collect::<Result<Vec<_>>>()?;
        if per_key.len() == 1 {
            let only = per_key.pop().expect("one key");
            return Ok(Self {
                ids: only.ids,
                n_local: only.cardinality,
                columns: vec![only.values],
                tuples: None,
            });
        }
        let len = keys[0].len();
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
        Ok(Self {
            ids: LocalIds::Owned(ids),
            n_local,
            columns: per_key.into_iter().map(|k| k.values).collect(),
            tuples: Some(tuples),
        })
    }

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

fn materialise(ids: &LocalIds<'_>, len: usize) -> Vec<u32> {
    fn dict<T: Copy>(
        keys: &[T],
        nulls: Option<&NullBuffer>,
        null_id: u32,
        f: fn(T) -> u32,
    ) -> Vec<u32> {
        keys.iter()
            .enumerate()
            .map(|(i, &k)| match nulls {
                Some(n) if n.is_null(i) => null_id,
                _ => f(k),
            })
            .collect()
    }
    match ids {
        LocalIds::Single => vec![0; len],
        LocalIds::DictI32 {
            keys,
            nulls,
            null_id,
        } => dict(keys, *nulls, *null_id, |k| k as u32),
        LocalIds::DictU32 {
            keys,
            nulls,
            null_id,
        } => dict(keys, *nulls, *null_id, |k| k),
        LocalIds::Owned(v) => v.clone(),
    }
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
        ids.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, block)| {
                let start = b * BLOCK;
                match &key.ids {
                    LocalIds::Single => fold_key(block, start, card, |_| 0),
                    LocalIds::DictI32 {
                        keys,
                        nulls,
                        null_id,
                    } => match nulls {
                        None => fold_key(block, start, card, |i| keys[i] as u32),
                        Some(n) => fold_key(block, start, card, |i| {
                            if n.is_null(i) {
                                *null_id
                            } else {
                                keys[i] as u32
                            }
                        }),
                    },
                    LocalIds::DictU32 {
                        keys,
                        nulls,
                        null_id,
                    } => match nulls {
                        None => fold_key(block, start, card, |i| keys[i]),
                        Some(n) => fold_key(block, start, card, |i| {
                            if n.is_null(i) {
                                *null_id
                            } else {
                                keys[i]
                            }
                        }),
                    },
                    LocalIds::Owned(v) => fold_key(block, start, card, |i| v[i]),
                }
            });
    }
    ids
}

/// ids[j] = ids[j] · card + key id of row start + j (one digit of the mixed radix).
#[inline(always)]
fn fold_key(block: &mut [u32], start: usize, card: u32, key: impl Fn(usize) -> u32) {
    for (j, id) in block.iter_mut().enumerate() {
        *id = *id * card + key(start + j);
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

fn key_column_ids(column: &ArrayRef, j: usize) -> Result<KeyColumnIds<'_>> {
    let role = Role::Key(j);
    match column.data_type() {
        DataType::Dictionary(key_type, _) => dictionary_ids(column, key_type, role),
        DataType::Boolean => {
            let b = column.as_boolean();
            let ids = (0..b.len())
                .map(|i| if b.is_null(i) { 2 } else { b.value(i) as u32 })
                .collect();
            Ok(KeyColumnIds {
                ids: LocalIds::Owned(ids),
                cardinality: 3,
                values: KeyValues {
                    values: Arc::new(BooleanArray::from(vec![false, true])),
                    lookup: vec![Some(0), Some(1), None],
                },
            })
        }
        DataType::Int8 => int_ids(column.as_primitive::<Int8Type>(), column),
        DataType::Int16 => int_ids(column.as_primitive::<Int16Type>(), column),
        DataType::Int32 => int_ids(column.as_primitive::<Int32Type>(), column),
        DataType::Int64 => int_ids(column.as_primitive::<Int64Type>(), column),
        DataType::UInt8 => int_ids(column.as_primitive::<UInt8Type>(), column),
        DataType::UInt16 => int_ids(column.as_primitive::<UInt16Type>(), column),
        DataType::UInt32 => int_ids(column.as_primitive::<UInt32Type>(), column),
        DataType::UInt64 => {
            let a = column.as_primitive::<UInt64Type>();
            Ok(hashed(column, |i| a.is_valid(i).then(|| a.value(i))))
        }
        DataType::Utf8 => {
            let a = column.as_string::<i32>();
            Ok(hashed(column, |i| a.is_valid(i).then(|| a.value(i))))
        }
        DataType::LargeUtf8 => {
            let a = column.as_string::<i64>();
            Ok(hashed(column, |i| a.is_valid(i).then(|| a.value(i))))
        }
        DataType::Utf8View => {
            let a = column.as_string_view();
            Ok(hashed(column, |i| a.is_valid(i).then(|| a.value(i))))
        }
        DataType::Binary => {
            let a = column.as_binary::<i32>();
            Ok(hashed(column, |i| a.is_valid(i).then(|| a.value(i))))
        }
        DataType::LargeBinary => {
            let a = column.as_binary::<i64>();
            Ok(hashed(column, |i| a.is_valid(i).then(|| a.value(i))))
        }
        DataType::Null => Ok(KeyColumnIds {
            ids: LocalIds::Owned(vec![0; column.len()]),
            cardinality: 1,
            values: KeyValues {
                values: column.slice(0, 0),
                lookup: vec![None],
            },
        }),
        other => {
            // Any other type the row format can encode (dates, timestamps, decimals, floats ...)
            // is grouped by its row bytes.
            // Only scalar types name a segment; nested ones (lists, structs, maps) do not.
            let scalar = other.is_primitive()
                || matches!(other, DataType::FixedSizeBinary(_) | DataType::BinaryView);
            let field = SortField::new(other.clone());
            if !scalar || !RowConverter::supports_fields(std::slice::from_ref(&field)) {
                return Err(unsupported(column, role, "cannot be used as a segment key"));
            }
            let converter = RowConverter::new(vec![field])?;
            let rows = converter.convert_columns(std::slice::from_ref(column))?;
            Ok(hashed(column, |i| {
                column.is_valid(i).then(|| rows.row(i).data())
            }))
        }
    }
}

fn unsupported(column: &ArrayRef, role: Role, why: &'static str) -> CoreError {
    CoreError::UnsupportedType {
        role,
        data_type: column.data_type().to_string(),
        why,
    }
}

fn dictionary_ids<'a>(
    column: &'a ArrayRef,
    key_type: &DataType,
    role: Role,
) -> Result<KeyColumnIds<'a>> {
    macro_rules! owned_keys {
        ($t:ty) => {{
            let d = column.as_dictionary::<$t>();
            let n_values = d.values().len();
            let ids = (0..d.len())
                .map(|i| {
                    if d.is_null(i) {
                        n_values as u32
                    } else {
                        d.keys().value(i) as u32
                    }
                })
                .collect();
            (LocalIds::Owned(ids), d.values().clone())
        }};
    }
    let (ids, values) = match key_type {
        DataType::Int32 => {
            let d = column.as_dictionary::<Int32Type>();
            let n_values = d.values().len() as u32;
            let ids = LocalIds::DictI32 {
                keys: d.keys().values(),
                nulls: d.keys().nulls(),
                null_id: n_values,
            };
            (ids, d.values().clone())
        }
        DataType::UInt32 => {
            let d = column.as_dictionary::<UInt32Type>();
            let n_values = d.values().len() as u32;
            let ids = LocalIds::DictU32 {
                keys: d.keys().values(),
                nulls: d.keys().nulls(),
                null_id: n_values,
            };
            (ids, d.values().clone())
        }
        DataType::Int8 => owned_keys!(Int8Type),
        DataType::Int16 => owned_keys!(Int16Type),
        DataType::Int64 => owned_keys!(Int64Type),
        DataType::UInt8 => owned_keys!(UInt8Type),
        DataType::UInt16 => owned_keys!(UInt16Type),
        DataType::UInt64 => owned_keys!(UInt64Type),
        _ => {
            return Err(unsupported(
                column,
                role,
                "dictionary keys must be integers",
            ))
        }
    };
    let n_values = values.len();
    let mut lookup: Vec<Option<u32>> = (0..n_values as u32).map(Some).collect();
    lookup.push(None);
    Ok(KeyColumnIds {
        ids,
        cardinality: n_values + 1,
        values: KeyValues { values, lookup },
    })
}

fn int_ids<'a, T>(
    a: &arrow_array::PrimitiveArray<T>,
    column: &'a ArrayRef,
) -> Result<KeyColumnIds<'a>>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64> + Hash + Eq,
{
    let (lo, hi) = (0..a.len())
        .filter(|&i| a.is_valid(i))
        .map(|i| a.value(i).into())
        .fold((i64::MAX, i64::MIN), |(lo, hi), v: i64| {
            (lo.min(v), hi.max(v))
        });
    // No present value gives lo > hi: an empty range with only the null id.
    let range = if lo > hi {
        Some(0)
    } else {
        hi.checked_sub(lo)
            .filter(|&r| r < DENSE_INT_RANGE)
            .map(|r| (r + 1) as usize)
    };
    if let Some(range) = range {
        let null_id = range as u32;
        let ids = (0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    null_id
                } else {
                    (a.value(i).into() - lo) as u32
                }
            })
            .collect();
        let values: Int64Array = (0..range as i64).map(|o| lo + o).collect();
        let mut lookup: Vec<Option<u32>> = (0..range as u32).map(Some).collect();
        lookup.push(None);
        return Ok(KeyColumnIds {
            ids: LocalIds::Owned(ids),
            cardinality: range + 1,
            values: KeyValues {
                values: Arc::new(values),
                lookup,
            },
        });
    }
    Ok(hashed(column, |i| a.is_valid(i).then(|| a.value(i))))
}

/// Groups by hashing each row's key; `None` is the null key. Values come from the column itself,
/// at the first row of each group.
fn hashed<'a, K: Hash + Eq>(
    column: &'a ArrayRef,
    key: impl Fn(usize) -> Option<K>,
) -> KeyColumnIds<'a> {
    let mut map: FxHashMap<K, u32> = FxHashMap::default();
    let mut lookup: Vec<Option<u32>> = Vec::new();
    let mut null_id: Option<u32> = None;
    let ids = (0..column.len())
        .map(|i| match key(i) {
            Some(k) => *map.entry(k).or_insert_with(|| {
                lookup.push(Some(i as u32));
                (lookup.len() - 1) as u32
            }),
            None => *null_id.get_or_insert_with(|| {
                lookup.push(None);
                (lookup.len() - 1) as u32
            }),
        })
        .collect();
    KeyColumnIds {
        ids: LocalIds::Owned(ids),
        cardinality: lookup.len(),
        values: KeyValues {
            values: column.clone(),
            lookup,
        },
    }
}

/// The type a key column is compared and reported in: dictionaries by their values, every
/// integer width as Int64, every string layout as Utf8, so that chunks and batches of different
/// physical layouts still name the same segment.
pub fn logical_key_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Dictionary(_, values) => logical_key_type(values),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => DataType::Int64,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    }
}

/// Global segment ids for key tuples, identified by their row-format bytes.
pub struct KeyIndex {
    types: Vec<DataType>,
    converter: RowConverter,
    ids: FxHashMap<Box<[u8]>, u32>,
    rows: Vec<Box<[u8]>>,
}

impl Clone for KeyIndex {
    fn clone(&self) -> Self {
        let mut copy = Self::new(self.types.clone()).expect("types were accepted before");
        for row in &self.rows {
            copy.intern_bytes(row);
        }
        copy
    }
}

impl KeyIndex {
    pub fn new(types: Vec<DataType>) -> Result<Self> {
        let fields = types
            .iter()
            .map(|t| {
                SortField::new_with_options(
                    t.clone(),
                    SortOptions {
                        descending: false,
                        nulls_first: false,
                    },
                )
            })
            .collect();
        Ok(Self {
            converter: RowConverter::new(fields)?,
            types,
            ids: FxHashMap::default(),
            rows: Vec::new(),
        })
    }

    pub fn types(&self) -> &[DataType] {
        &self.types
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Global ids of the key tuples given as columns (of any layout with the logical types).
    pub fn intern(&mut self, columns: &[ArrayRef]) -> Result<Vec<u32>> {
        let columns = columns
            .iter()
            .zip(&self.types)
            .map(|(c, t)| Ok(arrow_cast::cast(c, t)?))
            .collect::<Result<Vec<_>>>()?;
        let rows = self.converter.convert_columns(&columns)?;
        Ok(rows
            .iter()
            .map(|row| self.intern_bytes(row.data()))
            .collect())
    }

    pub fn intern_bytes(&mut self, bytes: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(bytes) {
            return id;
        }
        let id = self.rows.len() as u32;
        let owned: Box<[u8]> = bytes.into();
        self.ids.insert(owned.clone(), id);
        self.rows.push(owned);
        id
    }

    pub fn row_bytes(&self, id: u32) -> &[u8] {
        &self.rows[id as usize]
    }

    /// Ids in key order (ascending, nulls last).
    pub fn sorted_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.rows.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.rows[a as usize].cmp(&self.rows[b as usize]));
        order
    }

    /// Key columns (logical types) for the given ids, in that order.
    pub fn key_columns(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        let parser = self.converter.parser();
        let rows = ids.iter().map(|&id| parser.parse(&self.rows[id as usize]));
        Ok(self.converter.convert_rows(rows)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{DictionaryArray, Int32Array, StringArray};

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
