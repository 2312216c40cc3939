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
    /// Ids `0..hashed`, found by the hash of their bytes. Keys interned in key order into an
    /// empty index are hashed only when a later lookup needs them (see [`KeyIndex::intern`]).
    ids: HashTable<u32>,
    hashed: usize,
    /// Whether ids are numbered in key order (then [`KeyIndex::sorted_order`] sorts nothing).
    in_key_order: bool,
}

impl Clone for KeyIndex {
    fn clone(&self) -> Self {
        // The converter holds no keys: a fresh one of the same types is the same converter.
        let mut copy = Self::new(self.types.clone()).expect("types were accepted before");
        copy.bytes = self.bytes.clone();
        copy.offsets = self.offsets.clone();
        copy.ids = self.ids.clone();
        copy.hashed = self.hashed;
        copy.in_key_order = self.in_key_order;
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
            hashed: 0,
            in_key_order: true,
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
            if (1..rows.num_rows()).all(|i| rows.row(i - 1) < rows.row(i)) {
                // Distinct keys in key order (an integer or date key read as offsets from its
                // minimum, sorted dictionary values): their ids are their positions, nothing
                // to look up, and with many segments hashing them all cost as much as the
                // tally itself. They are hashed if a later batch or merge looks keys up.
                self.bytes.reserve(bytes);
                self.offsets.reserve(rows.num_rows());
                rows.iter().for_each(|row| self.append(row.data()));
                return Ok((0..rows.num_rows() as u32).collect());
            }
            self.reserve(rows.num_rows(), bytes);
        }
        Ok(rows
            .iter()
            .map(|row| self.intern_bytes(row.data()))
            .collect())
    }

    /// Stores the bytes of the next key (the caller hashes it, or leaves it to `hash_pending`).
    fn append(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.offsets.push(self.bytes.len());
    }

    /// Hashes the ids that [`KeyIndex::intern`] appended without hashing.
    fn hash_pending(&mut self) {
        if self.hashed == self.len() {
            return;
        }
        let (offsets, all) = (&self.offsets, &self.bytes);
        let key = |id: usize| &all[offsets[id]..offsets[id + 1]];
        self.ids
            .reserve(self.len() - self.hashed, |&id| hash_bytes(key(id as usize)));
        for id in self.hashed..self.len() {
            // Distinct keys (checked when they were appended): no equality probe needed.
            self.ids
                .insert_unique(hash_bytes(key(id)), id as u32, |&id| {
                    hash_bytes(key(id as usize))
                });
        }
        self.hashed = self.len();
    }

    /// The global id of the key tuple with row-format bytes `bytes`, new ones numbered next.
    pub fn intern_bytes(&mut self, bytes: &[u8]) -> u32 {
        self.hash_pending();
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
                // Still in key order if the new key sorts after the last one.
                self.in_key_order &= id == 0 || key(id - 1) < bytes;
                self.append(bytes);
                self.hashed = self.len();
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
        if self.in_key_order {
            return (0..self.len() as u32).collect();
        }
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

    /// Keys in key order into an empty index are appended unhashed: later lookups (in the
    /// index, in a copy) still find them, repeats and out-of-order keys take the hashed path,
    /// and the key order stays right as keys arrive in and out of order.
    #[test]
    fn keys_appended_in_key_order_are_found_later() {
        let ints = |v: &[Option<i64>]| -> ArrayRef { Arc::new(Int64Array::from(v.to_vec())) };
        let mut index = KeyIndex::new(vec![DataType::Int64]).unwrap();
        let first: Vec<Option<i64>> = (0..500).map(|i| Some(i * 3 - 700)).chain([None]).collect();
        let ids = index.intern(&[ints(&first)]).unwrap();
        assert_eq!(ids, (0..first.len() as u32).collect::<Vec<_>>());
        assert_eq!(index.sorted_order(), ids);
        let mut copy = index.clone();
        for probe in [&mut index, &mut copy] {
            let again = probe
                .intern(&[ints(&[Some(-700), None, Some(797), Some(6), Some(-2)])])
                .unwrap();
            assert_eq!(again, vec![0, 500, 499, 501, 502]);
            let mut expected: Vec<u32> = (0..probe.len() as u32).collect();
            expected.sort_by(|&a, &b| probe.row_bytes(a).cmp(probe.row_bytes(b)));
            assert_eq!(probe.sorted_order(), expected);
            assert_ne!(expected, (0..probe.len() as u32).collect::<Vec<_>>());
        }
        // Repeated keys are not "in key order": found, not appended twice.
        let mut index = KeyIndex::new(vec![DataType::Int64]).unwrap();
        let ids = index.intern(&[ints(&[Some(1), Some(1), Some(2)])]).unwrap();
        assert_eq!((ids, index.len()), (vec![0, 0, 1], 2));
        // A key appended after the last one keeps the order; an earlier one ends it.
        assert_eq!(index.intern(&[ints(&[Some(9)])]).unwrap(), vec![2]);
        assert_eq!(index.sorted_order(), vec![0, 1, 2]);
        assert_eq!(index.intern(&[ints(&[Some(0)])]).unwrap(), vec![3]);
        assert_eq!(index.sorted_order(), vec![3, 0, 1, 2]);
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
