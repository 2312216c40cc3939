//! One key column of one chunk -> local ids, by the cheapest route its type allows: dictionary
//! indices as they are, booleans, small integer ranges by offset, anything else by hashing (its
//! value, or its row-format bytes). Uses the crate's errors only.

use std::hash::Hash;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{make_array, Array, ArrayRef, BooleanArray, Int64Array, PrimitiveArray};
use arrow_buffer::NullBuffer;
use arrow_row::{RowConverter, SortField};
use arrow_schema::DataType;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::value_range::{block_range, block_range_valid, RangeNative};
use super::LocalIds;
use crate::error::{CoreError, Result, Role};

/// Integer keys whose range is at most this wide are grouped by offset instead of hashing.
const DENSE_INT_RANGE: i64 = 1 << 16;
/// Rows per offset slot above which a wider range is grouped by offset too: a dense tally of
/// one slot per this many rows is no larger than the hashed tasks' tables and tallies would be,
/// and it costs no hashing per row (e.g. 100,000 segments of 10 rows each).
const ROWS_PER_DENSE_SLOT: i64 = 8;

/// How to recover the key value of a local id of one key column.
#[derive(Clone)]
pub(super) struct KeyValues {
    /// Candidate values, of the column's (or dictionary's) raw type.
    pub(super) values: ArrayRef,
    /// `lookup[local id]` = index into `values`, or `None` for the null key.
    pub(super) lookup: Vec<Option<u32>>,
}

/// The local ids of one key column, how many there are, and their values.
pub(super) struct KeyColumnIds<'a> {
    pub(super) ids: LocalIds<'a>,
    pub(super) cardinality: usize,
    pub(super) values: KeyValues,
}

/// Local ids of key column `j` of a chunk.
pub(super) fn key_column_ids(column: &ArrayRef, j: usize) -> Result<KeyColumnIds<'_>> {
    let role = Role::Key(j);
    match column.data_type() {
        DataType::Dictionary(key_type, _) => dictionary_ids(column, key_type, role),
        DataType::Boolean => {
            let b = column.as_boolean();
            Ok(KeyColumnIds {
                ids: LocalIds::Bool {
                    bits: b.values(),
                    nulls: b.nulls().filter(|n| n.null_count() > 0),
                },
                cardinality: 3,
                values: KeyValues {
                    values: Arc::new(BooleanArray::from(vec![false, true])),
                    lookup: vec![Some(0), Some(1), None],
                },
            })
        }
        DataType::Int8 => int_ids(column.as_primitive::<Int8Type>(), column),
        DataType::Int16 => int_ids(column.as_primitive::<Int16Type>(), column),
        DataType::Int32 | DataType::Int64 | DataType::Date32 | DataType::Date64 => {
            Ok(match offset_ids(column)? {
                Some(ids) => ids,
                None => hashed_wide_int(column),
            })
        }
        DataType::UInt8 => int_ids(column.as_primitive::<UInt8Type>(), column),
        DataType::UInt16 => int_ids(column.as_primitive::<UInt16Type>(), column),
        DataType::UInt32 => int_ids(column.as_primitive::<UInt32Type>(), column),
        DataType::UInt64 => {
            let a = column.as_primitive::<UInt64Type>();
            // Integer keys are compared and stored as Int64 (see `logical_key_type`).
            if a.iter().flatten().any(|v| v > i64::MAX as u64) {
                return Err(unsupported(
                    column,
                    role,
                    "uint64 key values of 2^63 or more do not fit the int64 integer keys are \
                     kept as; pass them as strings or decimals",
                ));
            }
            Ok(hashed(column, |i| a.is_valid(i).then(|| a.value(i))))
        }
        DataType::Float32 => {
            // One segment per number: every NaN payload is the same NaN, and -0.0 is 0.0.
            let a = column.as_primitive::<Float32Type>();
            let canonical: ArrayRef =
                Arc::new(a.unary::<_, Float32Type>(
                    |v| {
                        if v.is_nan() {
                            f32::NAN
                        } else {
                            v + 0.0
                        }
                    },
                ));
            let c = canonical.as_primitive::<Float32Type>();
            Ok(hashed(&canonical, |i| {
                c.is_valid(i).then(|| c.value(i).to_bits())
            }))
        }
        DataType::Float64 => {
            let a = column.as_primitive::<Float64Type>();
            let canonical: ArrayRef =
                Arc::new(a.unary::<_, Float64Type>(
                    |v| {
                        if v.is_nan() {
                            f64::NAN
                        } else {
                            v + 0.0
                        }
                    },
                ));
            let c = canonical.as_primitive::<Float64Type>();
            Ok(hashed(&canonical, |i| {
                c.is_valid(i).then(|| c.value(i).to_bits())
            }))
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

/// Builds the in-place offset ids of one native width: (values, low, nulls, null id).
type MakeOffsetIds<'a, N> = fn(&'a [N], i64, Option<&'a NullBuffer>, u32) -> LocalIds<'a>;

fn offset_i32<'a>(
    a: &'a [i32],
    low: i64,
    nulls: Option<&'a NullBuffer>,
    null_id: u32,
) -> LocalIds<'a> {
    LocalIds::OffsetI32 {
        values: a,
        low,
        nulls,
        null_id,
    }
}

fn offset_i64<'a>(
    a: &'a [i64],
    low: i64,
    nulls: Option<&'a NullBuffer>,
    null_id: u32,
) -> LocalIds<'a> {
    LocalIds::OffsetI64 {
        values: a,
        low,
        nulls,
        null_id,
    }
}

/// Smallest and largest present value (lo > hi when none is present): a branch-free fold
/// over the buffer in parallel blocks, in vector lanes (see `value_range`), nulls included.
fn value_range<T>(a: &PrimitiveArray<T>) -> (i64, i64)
where
    T: ArrowPrimitiveType,
    T::Native: RangeNative,
{
    const BLOCK: usize = 1 << 16;
    let fold = block_range::<T::Native>;
    if a.null_count() == 0 && a.len() <= BLOCK {
        return fold(a.values()); // one block: the pool would cost more than the work
    }
    if a.null_count() == 0 {
        return a.values().par_chunks(BLOCK).map(fold).reduce(
            || (i64::MAX, i64::MIN),
            |(a, b), (c, d)| (a.min(c), b.max(d)),
        );
    }
    let (values, nulls) = (a.values(), a.nulls().expect("null_count > 0"));
    let fold_valid = |start: usize| {
        let end = (start + BLOCK).min(values.len());
        block_range_valid(
            &values[start..end],
            &nulls.inner().slice(start, end - start),
        )
    };
    if a.len() <= BLOCK {
        return fold_valid(0);
    }
    (0..a.len())
        .into_par_iter()
        .step_by(BLOCK)
        .map(fold_valid)
        .reduce(
            || (i64::MAX, i64::MIN),
            |(a, b), (c, d)| (a.min(c), b.max(d)),
        )
}

/// The number of ids of a [lo, hi] range over `rows` rows when it is narrow enough for offset
/// ids (0 when no value is present).
fn dense_range(lo: i64, hi: i64, rows: usize) -> Option<usize> {
    if lo > hi {
        return Some(0);
    }
    let widest = DENSE_INT_RANGE.max(rows as i64 / ROWS_PER_DENSE_SLOT);
    hi.checked_sub(lo)
        .filter(|&r| r < widest)
        .map(|r| (r + 1) as usize)
}

/// Whether at least half the slots of a wide range `lo..lo + range` hold a value: a sparse one
/// is hashed instead, since its dense tally (up to hundreds of bytes per slot when weighted)
/// would be mostly empty. The scan stops as soon as half the slots are seen: keys that do fill
/// their range (one segment per ten rows: after about a tenth of the rows) are not read to the
/// end on the calling thread.
fn mostly_present<T>(a: &PrimitiveArray<T>, lo: i64, range: usize) -> bool
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    let mut slots = SlotsSeen::new(range);
    let slot = |v: T::Native| (v.into() - lo) as usize;
    const CHECK_EVERY: usize = 4096;
    if a.null_count() == 0 {
        for block in a.values().chunks(CHECK_EVERY) {
            block.iter().for_each(|&v| slots.mark(slot(v)));
            if slots.count * 2 >= range {
                return true;
            }
        }
        false
    } else {
        for (i, v) in a.iter().flatten().enumerate() {
            slots.mark(slot(v));
            if i % CHECK_EVERY == CHECK_EVERY - 1 && slots.count * 2 >= range {
                return true;
            }
        }
        slots.count * 2 >= range
    }
}

/// Which of `range` slots hold a value, one bit each, and how many do.
struct SlotsSeen {
    bits: Vec<u64>,
    count: usize,
}

impl SlotsSeen {
    fn new(range: usize) -> Self {
        Self {
            bits: vec![0; range.div_ceil(64)],
            count: 0,
        }
    }

    #[inline(always)]
    fn mark(&mut self, slot: usize) {
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        self.count += usize::from(self.bits[word] & bit == 0);
        self.bits[word] |= bit;
    }
}

/// In-place offset ids of a 32- or 64-bit integer or date column (Int32, Int64, Date32,
/// Date64) whose values span a narrow range; None when the range is wide (the caller hashes).
pub(super) fn offset_ids(column: &ArrayRef) -> Result<Option<KeyColumnIds<'_>>> {
    match column.data_type() {
        DataType::Int32 => in_place_int_ids::<Int32Type>(column, offset_i32),
        DataType::Int64 => in_place_int_ids::<Int64Type>(column, offset_i64),
        // Temporal keys are integers too: the same offset route (their values keep the type).
        DataType::Date32 => in_place_int_ids::<Date32Type>(column, offset_i32),
        DataType::Date64 => in_place_int_ids::<Date64Type>(column, offset_i64),
        _ => Ok(None),
    }
}

/// Whole-chunk hashed ids of a wide Int32, Int64, Date32 or Date64 column.
fn hashed_wide_int(column: &ArrayRef) -> KeyColumnIds<'_> {
    macro_rules! go {
        ($t:ty) => {{
            let a = column.as_primitive::<$t>();
            hashed(column, |i| a.is_valid(i).then(|| a.value(i)))
        }};
    }
    match column.data_type() {
        DataType::Int32 => go!(Int32Type),
        DataType::Date32 => go!(Date32Type),
        DataType::Date64 => go!(Date64Type),
        _ => go!(Int64Type),
    }
}

/// Offset ids read in place from a 32- or 64-bit integer or temporal column (no per-row
/// vector); None when the range is wide. Values are reported in the column's logical type:
/// Int64 for integers, the type itself for dates.
fn in_place_int_ids<'a, T>(
    column: &'a ArrayRef,
    make: MakeOffsetIds<'a, T::Native>,
) -> Result<Option<KeyColumnIds<'a>>>
where
    T: ArrowPrimitiveType,
    T::Native: RangeNative + Hash + Eq,
{
    let a = column.as_primitive::<T>();
    let (lo, hi) = value_range(a);
    let Some(range) = dense_range(lo, hi, a.len()) else {
        return Ok(None);
    };
    if range as i64 > DENSE_INT_RANGE && !mostly_present(a, lo, range) {
        return Ok(None);
    }
    let offsets = Int64Array::from_iter_values((0..range as i64).map(|o| lo + o));
    let values: ArrayRef = match column.data_type() {
        DataType::Int32 | DataType::Int64 => Arc::new(offsets),
        // Same values, the column's type: i64 -> the native width, then relabelled.
        other => {
            let width = if matches!(other, DataType::Date32) {
                DataType::Int32
            } else {
                DataType::Int64
            };
            let native = arrow_cast::cast(&offsets, &width)?;
            make_array(
                native
                    .to_data()
                    .into_builder()
                    .data_type(other.clone())
                    .build()?,
            )
        }
    };
    let mut lookup: Vec<Option<u32>> = (0..range as u32).map(Some).collect();
    lookup.push(None);
    Ok(Some(KeyColumnIds {
        ids: make(
            a.values(),
            lo,
            a.nulls().filter(|n| n.null_count() > 0),
            range as u32,
        ),
        cardinality: range + 1,
        values: KeyValues { values, lookup },
    }))
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
    column: &ArrayRef,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Null rows whose buffer holds extreme values do not widen the range, in one block and
    /// across parallel blocks, sliced or not; all-null gives an empty range.
    #[test]
    fn the_range_of_a_column_with_nulls_ignores_the_null_rows() {
        for len in [100usize, 300_001] {
            let values: Vec<i64> = (0..len as i64)
                .map(|i| {
                    if i % 10 == 3 {
                        i64::MIN + i
                    } else {
                        1_000 + i % 97
                    }
                })
                .collect();
            let valid: Vec<bool> = (0..len).map(|i| i % 10 != 3).collect();
            let a = Int64Array::new(values.into(), Some(NullBuffer::from(valid)));
            assert_eq!(value_range(&a), (1_000, 1_096));
            let sliced = a.slice(5, len - 5);
            assert_eq!(value_range(&sliced), (1_000, 1_096));
            let none = Int64Array::new(vec![7i64; len].into(), Some(NullBuffer::new_null(len)));
            let (lo, hi) = value_range(&none);
            assert!(lo > hi);
        }
    }

    /// The plain count: distinct values in range, at least half the slots.
    fn half_present_by_count(values: &[Option<i64>], range: usize) -> bool {
        let distinct: std::collections::HashSet<i64> = values.iter().flatten().copied().collect();
        distinct.len() * 2 >= range
    }

    #[test]
    fn the_early_stop_answers_as_the_whole_count() {
        let range = 100_000usize;
        let lo = 1_000_000_000i64;
        // Dense (every slot, ten rows each), exactly half, just under half, sparse (each with
        // the range's top value too); with and without nulls; the slots in a scrambled order.
        for present in [range - 1, range / 2 - 1, range / 2 - 2, 1_000] {
            for with_nulls in [false, true] {
                let values: Vec<Option<i64>> = (0..10 * present)
                    .map(|i| {
                        let slot = (i * 7_919) % present;
                        (!with_nulls || i % 13 != 0).then_some(lo + slot as i64)
                    })
                    .chain([Some(lo + range as i64 - 1)]) // the range's top
                    .collect();
                let a = Int64Array::from(values.clone());
                assert_eq!(
                    mostly_present(&a, lo, range),
                    half_present_by_count(&values, range),
                    "{present} present, nulls {with_nulls}"
                );
            }
        }
    }
}
