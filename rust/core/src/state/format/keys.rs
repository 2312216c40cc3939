//! Key types and key values on the wire, both directions: a tag (plus parameters) per key
//! column, then per segment a validity byte and the value. Adding a storable key type means a
//! tag in `tag`, and a case in each function here.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Decimal128Array, NullArray, PrimitiveArray,
    StringArray,
};
use arrow_schema::{DataType, TimeUnit};

use super::reader::Reader;
use super::{corrupt, tag, SUPPORTED_KEYS};
use crate::error::{CoreError, Result, Role};

fn unsupported_key(t: &DataType, j: usize) -> CoreError {
    CoreError::UnsupportedType {
        role: Role::Key(j),
        data_type: t.to_string(),
        why: SUPPORTED_KEYS,
    }
}

fn time_unit_code(unit: TimeUnit) -> u8 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

/// Writes the type descriptor of key column `j`.
pub(super) fn write_type(t: &DataType, j: usize, out: &mut Vec<u8>) -> Result<()> {
    match t {
        DataType::Null => out.push(tag::NULL),
        DataType::Boolean => out.push(tag::BOOLEAN),
        DataType::Int64 => out.push(tag::INT64),
        DataType::Float32 => out.push(tag::FLOAT32),
        DataType::Float64 => out.push(tag::FLOAT64),
        DataType::Utf8 => out.push(tag::UTF8),
        DataType::Binary => out.push(tag::BINARY),
        DataType::Date32 => out.push(tag::DATE32),
        DataType::Date64 => out.push(tag::DATE64),
        DataType::Timestamp(unit, tz) => {
            out.push(tag::TIMESTAMP);
            out.push(time_unit_code(*unit));
            match tz {
                None => out.push(0),
                Some(tz) => {
                    out.push(1);
                    write_bytes(tz.as_bytes(), out);
                }
            }
        }
        DataType::Decimal128(precision, scale) => {
            out.push(tag::DECIMAL128);
            out.push(*precision);
            out.push(*scale as u8);
        }
        other => return Err(unsupported_key(other, j)),
    }
    Ok(())
}

pub(super) fn write_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// One key column's values: per segment a validity byte, then the value when present.
pub(super) fn write_values(column: &ArrayRef, j: usize, out: &mut Vec<u8>) -> Result<()> {
    fn each(
        column: &dyn Array,
        out: &mut Vec<u8>,
        mut value: impl FnMut(usize, &mut Vec<u8>),
    ) -> Result<()> {
        // Logical nulls: a NullArray has no validity buffer but every value is null.
        let nulls = column.logical_nulls();
        for i in 0..column.len() {
            if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                out.push(0);
            } else {
                out.push(1);
                value(i, out);
            }
        }
        Ok(())
    }
    fn le<T: arrow_array::ArrowPrimitiveType>(
        column: &ArrayRef,
        out: &mut Vec<u8>,
        bytes: impl Fn(T::Native) -> Vec<u8>,
    ) -> Result<()> {
        let a = column.as_primitive::<T>();
        each(a, out, |i, out| out.extend_from_slice(&bytes(a.value(i))))
    }
    match column.data_type() {
        DataType::Null => each(column.as_ref(), out, |_, _| {}),
        DataType::Boolean => {
            let a = column.as_boolean();
            each(a, out, |i, out| out.push(a.value(i) as u8))
        }
        DataType::Int64 => le::<Int64Type>(column, out, |v| v.to_le_bytes().to_vec()),
        DataType::Float32 => le::<Float32Type>(column, out, |v| v.to_bits().to_le_bytes().to_vec()),
        DataType::Float64 => le::<Float64Type>(column, out, |v| v.to_bits().to_le_bytes().to_vec()),
        DataType::Date32 => le::<Date32Type>(column, out, |v| v.to_le_bytes().to_vec()),
        DataType::Date64 => le::<Date64Type>(column, out, |v| v.to_le_bytes().to_vec()),
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => {
                le::<TimestampSecondType>(column, out, |v| v.to_le_bytes().to_vec())
            }
            TimeUnit::Millisecond => {
                le::<TimestampMillisecondType>(column, out, |v| v.to_le_bytes().to_vec())
            }
            TimeUnit::Microsecond => {
                le::<TimestampMicrosecondType>(column, out, |v| v.to_le_bytes().to_vec())
            }
            TimeUnit::Nanosecond => {
                le::<TimestampNanosecondType>(column, out, |v| v.to_le_bytes().to_vec())
            }
        },
        DataType::Decimal128(_, _) => {
            le::<Decimal128Type>(column, out, |v| v.to_le_bytes().to_vec())
        }
        DataType::Utf8 => {
            let a = column.as_string::<i32>();
            each(a, out, |i, out| write_bytes(a.value(i).as_bytes(), out))
        }
        DataType::Binary => {
            let a = column.as_binary::<i32>();
            each(a, out, |i, out| write_bytes(a.value(i), out))
        }
        other => Err(unsupported_key(other, j)),
    }
}

/// Reads one key type descriptor.
pub(super) fn read_type(r: &mut Reader<'_>) -> Result<DataType> {
    let at = r.pos;
    Ok(match r.u8()? {
        tag::NULL => DataType::Null,
        tag::BOOLEAN => DataType::Boolean,
        tag::INT64 => DataType::Int64,
        tag::FLOAT32 => DataType::Float32,
        tag::FLOAT64 => DataType::Float64,
        tag::UTF8 => DataType::Utf8,
        tag::BINARY => DataType::Binary,
        tag::DATE32 => DataType::Date32,
        tag::DATE64 => DataType::Date64,
        tag::TIMESTAMP => {
            let unit = match r.u8()? {
                0 => TimeUnit::Second,
                1 => TimeUnit::Millisecond,
                2 => TimeUnit::Microsecond,
                3 => TimeUnit::Nanosecond,
                u => {
                    return Err(corrupt(format!(
                        "unknown time unit {u} at offset {}",
                        r.pos - 1
                    )))
                }
            };
            let tz = match r.u8()? {
                0 => None,
                1 => {
                    let tz = std::str::from_utf8(r.bytes()?)
                        .map_err(|_| corrupt("timestamp time zone is not UTF-8"))?;
                    Some(Arc::from(tz))
                }
                f => {
                    return Err(corrupt(format!(
                        "bad time zone flag {f} at offset {}",
                        r.pos - 1
                    )))
                }
            };
            DataType::Timestamp(unit, tz)
        }
        tag::DECIMAL128 => {
            let (precision, scale) = (r.u8()?, r.u8()? as i8);
            // The same bounds arrow applies to Decimal128.
            if !(1..=38).contains(&precision) || scale > precision as i8 {
                return Err(corrupt(format!(
                    "invalid decimal128({precision}, {scale}) key type at offset {at}"
                )));
            }
            DataType::Decimal128(precision, scale)
        }
        t => return Err(corrupt(format!("unknown key type tag {t} at offset {at}"))),
    })
}

/// Reads `n` values of key column `j` of type `t`.
pub(super) fn read_column(
    r: &mut Reader<'_>,
    t: &DataType,
    n: usize,
    j: usize,
) -> Result<ArrayRef> {
    /// Validity flags and fixed-width payloads of `n` values.
    fn fixed<const W: usize, V>(
        r: &mut Reader<'_>,
        n: usize,
        j: usize,
        convert: impl Fn([u8; W]) -> V,
    ) -> Result<Vec<Option<V>>> {
        (0..n)
            .map(|_| match r.u8()? {
                0 => Ok(None),
                1 => Ok(Some(convert(r.array::<W>()?))),
                v => Err(corrupt(format!(
                    "bad validity byte {v} in key column {j} at offset {}",
                    r.pos - 1
                ))),
            })
            .collect()
    }
    fn prim<T: arrow_array::ArrowPrimitiveType>(
        values: Vec<Option<T::Native>>,
    ) -> PrimitiveArray<T> {
        values.into_iter().collect()
    }
    let array: ArrayRef = match t {
        DataType::Null => {
            fixed::<0, ()>(r, n, j, |_| ())?
                .iter()
                .all(Option::is_none)
                .then_some(())
                .ok_or_else(|| corrupt(format!("key column {j} of type null holds a value")))?;
            Arc::new(NullArray::new(n))
        }
        DataType::Boolean => {
            let values = fixed::<1, u8>(r, n, j, |b| b[0])?;
            if values.iter().flatten().any(|&b| b > 1) {
                return Err(corrupt(format!(
                    "key column {j}: a boolean that is neither 0 nor 1"
                )));
            }
            Arc::new(
                values
                    .into_iter()
                    .map(|b| b.map(|b| b == 1))
                    .collect::<BooleanArray>(),
            )
        }
        DataType::Int64 => Arc::new(prim::<Int64Type>(fixed(r, n, j, i64::from_le_bytes)?)),
        DataType::Float32 => Arc::new(prim::<Float32Type>(fixed(r, n, j, |b| {
            f32::from_bits(u32::from_le_bytes(b))
        })?)),
        DataType::Float64 => Arc::new(prim::<Float64Type>(fixed(r, n, j, |b| {
            f64::from_bits(u64::from_le_bytes(b))
        })?)),
        DataType::Date32 => Arc::new(prim::<Date32Type>(fixed(r, n, j, i32::from_le_bytes)?)),
        DataType::Date64 => Arc::new(prim::<Date64Type>(fixed(r, n, j, i64::from_le_bytes)?)),
        DataType::Timestamp(unit, tz) => {
            let values = fixed(r, n, j, i64::from_le_bytes)?;
            match unit {
                TimeUnit::Second => {
                    Arc::new(prim::<TimestampSecondType>(values).with_timezone_opt(tz.clone()))
                }
                TimeUnit::Millisecond => {
                    Arc::new(prim::<TimestampMillisecondType>(values).with_timezone_opt(tz.clone()))
                }
                TimeUnit::Microsecond => {
                    Arc::new(prim::<TimestampMicrosecondType>(values).with_timezone_opt(tz.clone()))
                }
                TimeUnit::Nanosecond => {
                    Arc::new(prim::<TimestampNanosecondType>(values).with_timezone_opt(tz.clone()))
                }
            }
        }
        DataType::Decimal128(precision, scale) => {
            let values = fixed(r, n, j, i128::from_le_bytes)?;
            let a: Decimal128Array = prim::<Decimal128Type>(values)
                .with_precision_and_scale(*precision, *scale)
                .map_err(|e| corrupt(format!("key column {j}: {e}")))?;
            Arc::new(a)
        }
        DataType::Utf8 | DataType::Binary => {
            let mut values: Vec<Option<&[u8]>> = Vec::with_capacity(n);
            for _ in 0..n {
                values.push(match r.u8()? {
                    0 => None,
                    1 => Some(r.bytes()?),
                    v => {
                        return Err(corrupt(format!(
                            "bad validity byte {v} in key column {j} at offset {}",
                            r.pos - 1
                        )))
                    }
                });
            }
            if matches!(t, DataType::Binary) {
                Arc::new(BinaryArray::from(values))
            } else {
                let strings = values
                    .into_iter()
                    .map(|v| v.map(std::str::from_utf8).transpose())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|_| corrupt(format!("key column {j}: a string that is not UTF-8")))?;
                Arc::new(StringArray::from(strings))
            }
        }
        other => return Err(corrupt(format!("key type {other} has no decoder"))),
    };
    Ok(array)
}
