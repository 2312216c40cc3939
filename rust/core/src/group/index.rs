//! Global segment ids across chunks and batches: key tuples identified by their Arrow
//! row-format bytes, which are canonical and sort in key order. Uses the crate's errors only.

use arrow_array::ArrayRef;
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType, SortOptions};
use hashbrown::hash_table::{Entry, HashTable};
use rustc_hash::FxHasher;
use std::hash::Hasher;

use crate::error::Result;
use rayon::slice::ParallelSliceMut;

/// Keys from which [`KeyIndex::sorted_order`] sorts in parallel (and the key order's other
/// passes run side by side): below it, handing work to the pool costs more than it saves.
pub(crate) const PARALLEL_KEYS: usize = 4096;

/// Casts that fail instead of turning an unrepresentable value into a null.
const CHECKED: arrow_cast::CastOptions<'static> = arrow_cast::CastOptions {
    safe: false,
    format_options: arrow_cast::display::FormatOptions::new(),
};

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
///
/// Every key's bytes live back to back in one buffer and the hash table holds only ids, so a
/// key costs no allocation of its own, a copy is a few buffer copies (no re-insertion), and
/// sorting compares slices of that buffer.
pub struct KeyIndex {
    types: Vec<DataType>,
    converter: RowConverter,
    /// Every key's row bytes, in id order.
    bytes: Vec<u8>,
    /// `offsets[id]..offsets[id + 1]`: key `id`'s bytes (one more entry than keys).
    offsets: Vec<usize>,
    /// Ids, found by the hash of their bytes.
    ids: HashTable<u32>,
}

impl Clone for KeyIndex {
    fn clone(&self) -> Self {
        // The converter holds no keys: a fresh one of the same types is the same converter.
        let mut copy = Self::new(self.types.clone()).expect("types were accepted before");
        copy.bytes = self.bytes.clone();
        copy.offsets = self.offsets.clone();
        copy.ids = self.ids.clone();
        copy
    }
}

/// The hash a key's bytes are found by.
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

/// The first 16 bytes of `bytes` (zero-padded) as a big-endian integer. If a < b as integers,
/// a's bytes sort before b's: at the first differing byte either both are real bytes, or a's
/// is padding, which makes a a proper prefix of b. Equal integers need the whole bytes.
fn leading_bytes(bytes: &[u8]) -> u128 {
    let mut word = [0u8; 16];
    let n = bytes.len().min(16);
    word[..n].copy_from_slice(&bytes[..n]);
    u128::from_be_bytes(word)
}

impl KeyIndex {
    /// An empty index of key tuples of `types` (logical types, see [`logical_key_type`]).
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
            bytes: Vec::new(),
            offsets: vec![0],
            ids: HashTable::new(),
        })
    }

    /// The key columns' types.
    pub fn types(&self) -> &[DataType] {
        &self.types
    }

    /// How many key tuples (segments) there are.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether no key tuple has been seen.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Room for `more` keys of `bytes` bytes in all, reserved at once (one growth, one rehash).
    fn reserve(&mut self, more: usize, bytes: usize) {
        self.bytes.reserve(bytes);
        self.offsets.reserve(more);
        let (offsets, all) = (&self.offsets, &self.bytes);
        self.ids.reserve(more, |&id| {
            hash_bytes(&all[offsets[id as usize]..offsets[id as usize + 1]])
        });
    }

    /// Global ids of the key tuples given as columns (of any layout with the logical types).
    pub fn intern(&mut self, columns: &[ArrayRef]) -> Result<Vec<u32>> {
        let columns = columns
            .iter()
            .zip(&self.types)
            // Checked: a value the logical type cannot hold is an error, never a null key.
            .map(|(c, t)| Ok(arrow_cast::cast_with_options(c, t, &CHECKED)?))
            .collect::<Result<Vec<_>>>()?;
        let rows = self.converter.convert_columns(&columns)?;
        if self.is_empty() {
            // Every key is new: grow once. (Later batches mostly repeat keys: grow as needed.)
            let bytes = rows.iter().map(|r| r.data().len()).sum();
            self.reserve(rows.num_rows(), bytes);
        }
        Ok(rows
            .iter()
            .map(|row| self.intern_bytes(row.data()))
            .collect())
    }

    /// The global id of the key tuple with row-format bytes `bytes`, new ones numbered next.
    pub fn intern_bytes(&mut self, bytes: &[u8]) -> u32 {
        let hash = hash_bytes(bytes);
        let (offsets, all) = (&self.offsets, &self.bytes);
        let key = |id: u32| &all[offsets[id as usize]..offsets[id as usize + 1]];
        match self
            .ids
            .entry(hash, |&id| key(id) == bytes, |&id| hash_bytes(key(id)))
        {
            Entry::Occupied(found) => *found.get(),
            Entry::Vacant(slot) => {
                let id = (self.offsets.len() - 1) as u32;
                slot.insert(id);
                self.bytes.extend_from_slice(bytes);
                self.offsets.push(self.bytes.len());
                id
            }
        }
    }

    /// The row-format bytes of key tuple `id`.
    pub fn row_bytes(&self, id: u32) -> &[u8] {
        &self.bytes[self.offsets[id as usize]..self.offsets[id as usize + 1]]
    }

    /// Ids in key order (ascending, nulls last).
    pub fn sorted_order(&self) -> Vec<u32> {
        // Sorted by each key's first 16 bytes as one integer (which orders like the bytes), and
        // only keys sharing those by their whole bytes: no byte-by-byte compare for most pairs.
        let mut keyed: Vec<(u128, u32)> = (0..self.len() as u32)
            .map(|id| (leading_bytes(self.row_bytes(id)), id))
            .collect();
        let compare = |a: &(u128, u32), b: &(u128, u32)| {
            a.0.cmp(&b.0)
                .then_with(|| self.row_bytes(a.1).cmp(self.row_bytes(b.1)))
        };
        // Many segments: sorted on every core (the result is the same: ids are distinct).
        if keyed.len() >= PARALLEL_KEYS {
            keyed.par_sort_unstable_by(compare);
        } else {
            keyed.sort_unstable_by(compare);
        }
        keyed.into_iter().map(|(_, id)| id).collect()
    }

    /// Key columns (logical types) for the given ids, in that order.
    pub fn key_columns(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        let parser = self.converter.parser();
        let rows = ids.iter().map(|&id| parser.parse(self.row_bytes(id)));
        Ok(self.converter.convert_rows(rows)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::{Int64Array, StringArray};
    use std::sync::Arc;

    /// Strings that share prefixes, embed zero bytes, pass 16 bytes, and a null.
    fn tricky_strings() -> Vec<Option<String>> {
        let mut out: Vec<Option<String>> = [
            "",
            "a",
            "a\0",
            "a\0\0",
            "ab",
            "b",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnop\0",
            "abcdefghijklmnoa",
            "zz",
            "\u{e9}",
        ]
        .iter()
        .map(|s| Some(s.to_string()))
        .collect();
        out.push(None);
        out.extend((0..300).map(|i| Some(format!("{}-{i}", "x".repeat(i % 20)))));
        out
    }

    #[test]
    fn sorted_order_is_the_byte_order_of_the_keys() {
        let strings: ArrayRef = Arc::new(StringArray::from(tricky_strings()));
        let ints: ArrayRef = Arc::new(Int64Array::from_iter(
            (0..strings.len() as i64).map(|i| (i % 7 != 3).then_some((i % 5 - 2) * (i64::MAX / 3))),
        ));
        for columns in [vec![strings.clone()], vec![ints.clone(), strings.clone()]] {
            let types = columns.iter().map(|c| c.data_type().clone()).collect();
            let mut index = KeyIndex::new(types).unwrap();
            index.intern(&columns).unwrap();
            let mut expected: Vec<u32> = (0..index.len() as u32).collect();
            expected.sort_by(|&a, &b| index.row_bytes(a).cmp(index.row_bytes(b)));
            assert_eq!(index.sorted_order(), expected);
        }
        // In key order: "" < "a" < "a\0" < ... and the null last.
        let mut index = KeyIndex::new(vec![DataType::Utf8]).unwrap();
        index.intern(&[strings]).unwrap();
        let keys = index.key_columns(&index.sorted_order()).unwrap();
        let s = keys[0].as_string::<i32>();
        let values: Vec<Option<&str>> = s.iter().collect();
        let mut expected: Vec<Option<String>> = tricky_strings();
        expected.sort_by(|a, b| match (a, b) {
            (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
            (None, None) => std::cmp::Ordering::Equal,
            (None, _) => std::cmp::Ordering::Greater,
            (_, None) => std::cmp::Ordering::Less,
        });
        expected.dedup();
        assert_eq!(
            values,
            expected.iter().map(|s| s.as_deref()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_copy_finds_the_same_ids_and_grows_on_its_own() {
        let strings: ArrayRef = Arc::new(StringArray::from(tricky_strings()));
        let mut index = KeyIndex::new(vec![DataType::Utf8]).unwrap();
        let ids = index.intern(std::slice::from_ref(&strings)).unwrap();
        let mut copy = index.clone();
        assert_eq!(copy.intern(&[strings]).unwrap(), ids);
        assert_eq!(copy.len(), index.len());
        let more: ArrayRef = Arc::new(StringArray::from(vec!["new key", "a"]));
        let added = copy.intern(&[more]).unwrap();
        assert_eq!(added, vec![index.len() as u32, ids[1]]);
        assert_eq!((copy.len(), index.len()), (index.len() + 1, copy.len() - 1));
        for id in 0..index.len() as u32 {
            assert_eq!(copy.row_bytes(id), index.row_bytes(id));
            assert_eq!(index.intern_bytes(copy.row_bytes(id)), id);
        }
    }
}
