//! The definition section (format 3): an accumulator's metric, options, columns and treatment
//! of invalid scores as typed fields, read back with every field validated.
//!
//! ```text
//! metric      u8: 0 nps, 1 csat, 2 ces, 3 top_box, 4 bottom_box, 5 mean
//! options     nps: promoters (i64 low, i64 high), detractors (i64 low, i64 high)
//!             csat: satisfied (i64 low, i64 high), statistic u8 (0 share, 1 mean)
//!             ces: variant u8 (0 "2.0", 1 "effort"), statistic u8
//!             top_box, bottom_box: k i64;  mean: nothing
//! on_invalid  u8: 0 raise, 1 drop
//! table       u8: 1 when updates take a table whose columns are named here
//! score       name: u8 present, then (u32 length + UTF-8) when present
//! by          u8 present, then u32 count and that many names (u32 length + UTF-8)
//! weight      name
//! ```
//!
//! The scale is the state's (body offset 24); the replicate settings are the state's streams.

use super::corrupt;
use super::reader::Reader;
use crate::error::Result;
use crate::scale::Scale;
use crate::state::definition::{CesVariant, Definition, MetricOptions, OnInvalid, Statistic};

/// Writes `definition` (its scale and replicates are written with the state).
pub(super) fn write_definition(d: &Definition, out: &mut Vec<u8>) {
    let pair = |(a, b): (i64, i64), out: &mut Vec<u8>| {
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
    };
    let statistic = |s: Statistic| match s {
        Statistic::Share => 0u8,
        Statistic::Mean => 1,
    };
    match &d.metric {
        MetricOptions::Nps {
            promoters,
            detractors,
        } => {
            out.push(0);
            pair(*promoters, out);
            pair(*detractors, out);
        }
        MetricOptions::Csat {
            satisfied,
            statistic: s,
        } => {
            out.push(1);
            pair(*satisfied, out);
            out.push(statistic(*s));
        }
        MetricOptions::Ces {
            variant,
            statistic: s,
        } => {
            out.push(2);
            out.push(match variant {
                CesVariant::Agreement => 0,
                CesVariant::Effort => 1,
            });
            out.push(statistic(*s));
        }
        MetricOptions::TopBox { k } => {
            out.push(3);
            out.extend_from_slice(&k.to_le_bytes());
        }
        MetricOptions::BottomBox { k } => {
            out.push(4);
            out.extend_from_slice(&k.to_le_bytes());
        }
        MetricOptions::Mean => out.push(5),
    }
    out.push(match d.on_invalid {
        OnInvalid::Raise => 0,
        OnInvalid::Drop => 1,
    });
    out.push(d.table as u8);
    write_name(d.score.as_deref(), out);
    match &d.by {
        None => out.push(0),
        Some(names) => {
            out.push(1);
            out.extend_from_slice(&(names.len() as u32).to_le_bytes());
            for name in names {
                write_name(Some(name), out);
            }
        }
    }
    write_name(d.weight.as_deref(), out);
}

fn write_name(name: Option<&str>, out: &mut Vec<u8>) {
    match name {
        None => out.push(0),
        Some(name) => {
            out.push(1);
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
        }
    }
}

/// Reads a definition on `scale`, without replicates (the caller takes them from the state),
/// and checks it ([`Definition::check`]); any fault is `CorruptState`.
pub(super) fn read_definition(r: &mut Reader<'_>, scale: Scale) -> Result<Definition> {
    let at = r.pos;
    let pair = |r: &mut Reader<'_>| -> Result<(i64, i64)> { Ok((r.i64()?, r.i64()?)) };
    let statistic = |r: &mut Reader<'_>| -> Result<Statistic> {
        match r.u8()? {
            0 => Ok(Statistic::Share),
            1 => Ok(Statistic::Mean),
            s => Err(corrupt(format!(
                "accumulator definition has unknown statistic {s} at offset {}",
                r.pos - 1
            ))),
        }
    };
    let metric = match r.u8()? {
        0 => MetricOptions::Nps {
            promoters: pair(r)?,
            detractors: pair(r)?,
        },
        1 => MetricOptions::Csat {
            satisfied: pair(r)?,
            statistic: statistic(r)?,
        },
        2 => MetricOptions::Ces {
            variant: match r.u8()? {
                0 => CesVariant::Agreement,
                1 => CesVariant::Effort,
                v => {
                    return Err(corrupt(format!(
                        "accumulator definition has unknown ces variant {v} at offset {}",
                        r.pos - 1
                    )))
                }
            },
            statistic: statistic(r)?,
        },
        3 => MetricOptions::TopBox { k: r.i64()? },
        4 => MetricOptions::BottomBox { k: r.i64()? },
        5 => MetricOptions::Mean,
        m => {
            return Err(corrupt(format!(
                "accumulator definition has unknown metric {m} at offset {at}"
            )))
        }
    };
    let on_invalid = match r.u8()? {
        0 => OnInvalid::Raise,
        1 => OnInvalid::Drop,
        v => {
            return Err(corrupt(format!(
                "accumulator definition has unknown on_invalid {v} at offset {}",
                r.pos - 1
            )))
        }
    };
    let table = flag(r, "table")?;
    let score = read_name(r, "score")?;
    let by = if flag(r, "by")? {
        let n = r.u32()? as usize;
        // Each name takes at least five bytes: bounds the allocation by the input.
        if n.saturating_mul(5) > r.remaining() {
            return Err(corrupt(format!(
                "accumulator definition claims {n} key column names but has only {} byte(s) \
                 left",
                r.remaining()
            )));
        }
        Some(
            (0..n)
                .map(|_| read_name(r, "by")?.ok_or_else(|| corrupt("a by column without a name")))
                .collect::<Result<Vec<_>>>()?,
        )
    } else {
        None
    };
    let weight = read_name(r, "weight")?;
    let definition = Definition {
        metric,
        scale,
        on_invalid,
        table,
        score,
        by,
        weight,
        replicates: None,
    };
    definition
        .check()
        .map_err(|e| corrupt(format!("accumulator definition is invalid: {e}")))?;
    Ok(definition)
}

fn flag(r: &mut Reader<'_>, what: &str) -> Result<bool> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(corrupt(format!(
            "accumulator definition has a bad {what} flag {v} at offset {}",
            r.pos - 1
        ))),
    }
}

fn read_name(r: &mut Reader<'_>, what: &str) -> Result<Option<String>> {
    if !flag(r, what)? {
        return Ok(None);
    }
    let bytes = r.bytes()?;
    let name = std::str::from_utf8(bytes).map_err(|_| {
        corrupt(format!(
            "accumulator definition: a {what} name that is not UTF-8"
        ))
    })?;
    Ok(Some(name.to_string()))
}
