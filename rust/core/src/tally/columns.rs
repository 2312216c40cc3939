//! The input of one update (scores, key columns, weights, each as Arrow chunks) and its
//! alignment into row ranges where every column is one contiguous array. Uses the crate's
//! errors only.

use arrow_array::ArrayRef;

use crate::error::{CoreError, Result, Role};

/// Splits columns of differently chunked arrays into aligned row ranges (zero-copy slices).
/// `columns[j]` are the chunks of column `j`; returns per range one array per column.
pub fn align(columns: &[(Role, Vec<ArrayRef>)]) -> Result<Vec<Vec<ArrayRef>>> {
    let total = |chunks: &[ArrayRef]| chunks.iter().map(|c| c.len() as u64).sum::<u64>();
    let expected = columns.first().map(|(_, c)| total(c)).unwrap_or(0);
    for (role, chunks) in columns {
        let actual = total(chunks);
        if actual != expected {
            return Err(CoreError::LengthMismatch {
                role: *role,
                expected,
                actual,
            });
        }
    }
    // Cut points: the union of every column's chunk boundaries.
    let mut cuts: Vec<u64> = columns
        .iter()
        .flat_map(|(_, chunks)| {
            chunks.iter().scan(0u64, |end, c| {
                *end += c.len() as u64;
                Some(*end)
            })
        })
        .collect();
    cuts.push(0);
    cuts.sort_unstable();
    cuts.dedup();
    let mut cursors = vec![(0usize, 0u64); columns.len()]; // (chunk index, chunk start row)
    let mut out = Vec::with_capacity(cuts.len());
    for win in cuts.windows(2) {
        let (start, end) = (win[0], win[1]);
        let mut row = Vec::with_capacity(columns.len());
        for ((_, chunks), cur) in columns.iter().zip(cursors.iter_mut()) {
            while cur.1 + chunks[cur.0].len() as u64 <= start {
                cur.1 += chunks[cur.0].len() as u64;
                cur.0 += 1;
            }
            let offset = (start - cur.1) as usize;
            row.push(chunks[cur.0].slice(offset, (end - start) as usize));
        }
        out.push(row);
    }
    Ok(out)
}

/// Input columns of one update: scores, key columns and optional weights, each as chunks.
pub struct Columns {
    /// The score column's chunks.
    pub score: Vec<ArrayRef>,
    /// Per segment key column, its chunks.
    pub keys: Vec<Vec<ArrayRef>>,
    /// The weight column's chunks, if weighted.
    pub weight: Option<Vec<ArrayRef>>,
}
