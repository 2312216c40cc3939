//! Segment keys of the rows, for driver statistics kept per segment.
//!
//! Rows are grouped by the project's grouping ([`crate::group::ChunkGroups`]), and each distinct
//! key tuple is encoded as bytes that both identify the segment across batches and merges and
//! persist it in the state: per key value a type tag and an order-preserving encoding (integers
//! and floats big-endian with the sign flipped, strings escaped and terminated, nulls last), so
//! segments sorted by their bytes are sorted by key. The grouping module is only used here.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, NullArray};
use arrow_schema::DataType;

use crate::error::{CoreError, Result, Role};
use crate::group::{logical_key_type, ChunkGroups};

const NULL: u8 = 0xff;
const BOOLEAN: u8 = 1;
const INT64: u8 = 2;
const FLOAT64: u8 = 3;
const UTF8: u8 = 4;

/// Per-row local segment ids and the encoded key of each local id.
pub struct RowSegments {
    /// The local segment id of each row.
    pub local: Vec<u32>,
    /// The encoded key of each local id, indexed by id.
    pub keys: Vec<Vec<u8>>,
}

/// Groups `len` rows by the key columns (none: one segment with the empty key). Key errors name
/// `Role::Key(key_offset + i)`.
pub fn row_segments(keys: &[ArrayRef], len: usize, key_offset: usize) -> Result<RowSegments> {
    let rename = |e: CoreError| match e {
        CoreError::UnsupportedType {
            role: Role::Key(i),
            data_type,
            why,
        } => CoreError::UnsupportedType {
            role: Role::Key(i + key_offset),
            data_type,
            why,
        },
        other => other,
    };
    let groups = ChunkGroups::new(keys).map_err(rename)?;
    let local: Vec<u32> = groups.row_ids(len);
    let ids: Vec<u32> = (0..groups.n_local as u32).collect();
    let values = if keys.is_empty() {
        Vec::new()
    } else {
        groups.key_values(&ids)?
    };
    let mut encoded = vec![Vec::new(); groups.n_local];
    for (j, column) in values.iter().enumerate() {
        let column = logical(column, key_offset + j)?;
        for (l, out) in encoded.iter_mut().enumerate() {
            encode_value(&column, l, out);
        }
    }
    Ok(RowSegments {
        local,
        keys: encoded,
    })
}

/// The key column in one of the encodable types.
fn logical(column: &ArrayRef, role: usize) -> Result<ArrayRef> {
    let target = match logical_key_type(column.data_type()) {
        DataType::Float16 | DataType::Float32 => DataType::Float64,
        t @ (DataType::Null
        | DataType::Boolean
        | DataType::Int64
        | DataType::Float64
        | DataType::Utf8) => t,
        other => {
            return Err(CoreError::UnsupportedType {
                role: Role::Key(role),
                data_type: other.to_string(),
                why: "driver analysis groups by string, integer, boolean or float columns",
            })
        }
    };
    Ok(arrow_cast::cast(column, &target)?)
}

fn encode_value(column: &ArrayRef, i: usize, out: &mut Vec<u8>) {
    if column.is_null(i) {
        out.push(NULL);
        return;
    }
    match column.data_type() {
        DataType::Boolean => {
            out.push(BOOLEAN);
            out.push(column.as_boolean().value(i) as u8);
        }
        DataType::Int64 => {
            out.push(INT64);
            let v = column.as_primitive::<Int64Type>().value(i);
            out.extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
        }
        DataType::Float64 => {
            out.push(FLOAT64);
            let v = column.as_primitive::<Float64Type>().value(i);
            let v = if v == 0.0 { 0.0 } else { v }; // -0.0 and 0.0 are one key
            let bits = v.to_bits();
            let ordered = if bits >> 63 == 1 {
                !bits
            } else {
                bits | (1 << 63)
            };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        DataType::Utf8 => {
            out.push(UTF8);
            for &b in column.as_string::<i32>().value(i).as_bytes() {
                out.push(b);
                if b == 0 {
                    out.push(0xff);
                }
            }
            out.extend_from_slice(&[0, 0]);
        }
        _ => unreachable!("cast to an encodable type before"),
    }
}

/// One decoded key value.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Null,
    Boolean(bool),
    Int64(i64),
    Float64(f64),
    Utf8(String),
}

fn decode_key(bytes: &[u8], n_keys: usize) -> Option<Vec<Value>> {
    let mut out = Vec::with_capacity(n_keys);
    let mut at = 0;
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    for _ in 0..n_keys {
        let tag = *bytes.get(at)?;
        at += 1;
        out.push(match tag {
            NULL => Value::Null,
            BOOLEAN => {
                at += 1;
                match bytes.get(at - 1)? {
                    0 => Value::Boolean(false),
                    1 => Value::Boolean(true),
                    _ => return None,
                }
            }
            INT64 => {
                at += 8;
                Value::Int64((word(at - 8)? ^ (1 << 63)) as i64)
            }
            FLOAT64 => {
                at += 8;
                let o = word(at - 8)?;
                let bits = if o >> 63 == 1 { o & !(1 << 63) } else { !o };
                Value::Float64(f64::from_bits(bits))
            }
            UTF8 => {
                let mut s = Vec::new();
                loop {
                    let b = *bytes.get(at)?;
                    at += 1;
                    if b != 0 {
                        s.push(b);
                        continue;
                    }
                    match *bytes.get(at)? {
                        0 => break,
                        0xff => s.push(0),
                        _ => return None,
                    }
                    at += 1;
                }
                at += 1;
                Value::Utf8(String::from_utf8(s).ok()?)
            }
            _ => return None,
        });
    }
    (at == bytes.len()).then_some(out)
}

/// Whether `bytes` is a valid encoded key of `n_keys` values.
pub fn is_valid_key(bytes: &[u8], n_keys: usize) -> bool {
    decode_key(bytes, n_keys).is_some()
}

/// The key columns of the given encoded keys (one array per key column). A column whose values
/// have different types across segments (e.g. integers in one batch, strings in another) is
/// refused.
pub fn key_columns(keys: &[&[u8]], n_keys: usize) -> Result<Vec<ArrayRef>> {
    let decoded: Vec<Vec<Value>> = keys
        .iter()
        .map(|k| {
            decode_key(k, n_keys)
                .ok_or_else(|| CoreError::CorruptState("a segment key is malformed".into()))
        })
        .collect::<Result<_>>()?;
    (0..n_keys)
        .map(|j| {
            let column: Vec<&Value> = decoded.iter().map(|v| &v[j]).collect();
            build_column(&column, j)
        })
        .collect()
}

fn build_column(values: &[&Value], j: usize) -> Result<ArrayRef> {
    let kind = values.iter().find(|v| !matches!(v, Value::Null));
    let mixed = || {
        CoreError::InvalidArgument(format!(
            "by[{j}] has values of different types in different batches"
        ))
    };
    Ok(match kind {
        None => Arc::new(NullArray::new(values.len())),
        Some(Value::Boolean(_)) => {
            let mut b = BooleanBuilder::new();
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Boolean(x) => b.append_value(*x),
                    _ => return Err(mixed()),
                }
            }
            Arc::new(b.finish())
        }
        Some(Value::Int64(_)) => {
            let mut b = Int64Builder::new();
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Int64(x) => b.append_value(*x),
                    _ => return Err(mixed()),
                }
            }
            Arc::new(b.finish())
        }
        Some(Value::Float64(_)) => {
            let mut b = Float64Builder::new();
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Float64(x) => b.append_value(*x),
                    _ => return Err(mixed()),
                }
            }
            Arc::new(b.finish())
        }
        Some(Value::Utf8(_)) => {
            let mut b = StringBuilder::new();
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Utf8(x) => b.append_value(x),
                    _ => return Err(mixed()),
                }
            }
            Arc::new(b.finish())
        }
        Some(Value::Null) => unreachable!(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int32Array, StringArray};

    #[test]
    fn keys_round_trip_and_sort_like_their_values() {
        let region: ArrayRef = Arc::new(StringArray::from(vec![
            Some("b"),
            Some("a\0z"),
            None,
            Some("b"),
            Some(""),
        ]));
        let wave: ArrayRef = Arc::new(Int32Array::from(vec![2, -5, 2, 2, 7]));
        let segs = row_segments(&[region, wave], 5, 0).unwrap();
        assert_eq!(segs.local[0], segs.local[3]);
        let mut used: Vec<&[u8]> = segs
            .local
            .iter()
            .map(|&l| segs.keys[l as usize].as_slice())
            .collect();
        used.sort();
        used.dedup();
        assert_eq!(used.len(), 4);
        let cols = key_columns(&used, 2).unwrap();
        let names = cols[0].as_string::<i32>();
        assert_eq!(names.value(0), "");
        assert_eq!(names.value(1), "a\0z");
        assert_eq!(names.value(2), "b");
        assert!(names.is_null(3), "nulls sort last");
        let waves = cols[1].as_primitive::<Int64Type>();
        assert_eq!(waves.value(1), -5);
        // No keys: one segment, the empty key.
        let one = row_segments(&[], 3, 0).unwrap();
        assert_eq!(one.local, vec![0, 0, 0]);
        assert_eq!(one.keys, vec![Vec::<u8>::new()]);
        assert!(!is_valid_key(&[9, 9], 1));
    }
}
