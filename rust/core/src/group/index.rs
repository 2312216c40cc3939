//! Global segment ids across chunks and batches: key tuples identified by their Arrow
//! row-format bytes, which are canonical and sort in key order. Uses the crate's errors only.

use arrow_array::ArrayRef;
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType, SortOptions};
use rustc_hash::FxHashMap;

use crate::error::Result;

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
            ids: FxHashMap::default(),
            rows: Vec::new(),
        })
    }

    /// The key columns' types.
    pub fn types(&self) -> &[DataType] {
        &self.types
    }

    /// How many key tuples (segments) there are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no key tuple has been seen.
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

    /// The global id of the key tuple with row-format bytes `bytes`, new ones numbered next.
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

    /// The row-format bytes of key tuple `id`.
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
