//! One task's ids of key tuples (several key columns), morsel by morsel.
//!
//! While the product of the columns' id ranges seen so far is small, a tuple's id is read from
//! a dense slot array indexed by the tuple's mixed-radix position (one multiply-add per column
//! and one load per row, no hashing); the array is laid out again when a column's range grows.
//! Past [`DENSE_COMBINED`] slots, tuples go through a hash table of packed id tuples instead.
//! Either way ids are handed out in order of first appearance, so the route does not change them.

use super::packed_table::{PackedTable, NO_KEY};
use super::DENSE_COMBINED;

/// A slot with no tuple yet.
const EMPTY: u32 = u32::MAX;

/// Task-local ids of key tuples; `tuple_ids[l * n_keys + j]` is column `j`'s id in tuple `l`.
pub struct TupleIds {
    n_keys: usize,
    tuple_ids: Vec<u32>,
    route: Route,
}

enum Route {
    /// Slots over the ranges `dims` (one per column, first column most significant).
    Dense { dims: Vec<usize>, slots: Vec<u32> },
    /// Packed tuples (32 bits per column; never [`NO_KEY`]: an id is below u32::MAX) in a hash
    /// table, with the last tuple cached.
    Hashed {
        table: PackedTable,
        last: (u128, u32),
    },
}

impl TupleIds {
    /// No tuples yet, for `n_keys` (2..=4) columns.
    pub fn new(n_keys: usize) -> Self {
        Self {
            n_keys,
            tuple_ids: Vec::new(),
            route: Route::Dense {
                dims: vec![0; n_keys],
                slots: Vec::new(),
            },
        }
    }

    /// How many tuples have ids.
    pub fn len(&self) -> usize {
        self.tuple_ids.len() / self.n_keys
    }

    /// The column ids of every tuple (see [`TupleIds`]).
    pub fn into_tuples(self) -> Vec<u32> {
        self.tuple_ids
    }

    /// The tuple ids of one morsel: `codes[j][i]` is column `j`'s id of row `i`, every id of
    /// column `j` below `dims[j]`.
    pub fn combine(&mut self, codes: &[Vec<u32>], dims: &[usize], out: &mut [u32]) {
        if let Route::Dense { dims: laid, .. } = &self.route {
            if laid.as_slice() != dims {
                self.lay_out(dims);
            }
        }
        match &mut self.route {
            Route::Dense { dims, slots } => {
                // Mixed-radix positions first (a vectorizable pass per column), then the slots.
                out.copy_from_slice(&codes[0]);
                for (column, &dim) in codes.iter().zip(dims.iter()).skip(1) {
                    for (o, &c) in out.iter_mut().zip(column) {
                        *o = *o * dim as u32 + c;
                    }
                }
                for (i, o) in out.iter_mut().enumerate() {
                    let slot = &mut slots[*o as usize];
                    if *slot == EMPTY {
                        *slot = (self.tuple_ids.len() / self.n_keys) as u32;
                        self.tuple_ids.extend(codes.iter().map(|c| c[i]));
                    }
                    *o = *slot;
                }
            }
            Route::Hashed { table, last } => {
                for (i, o) in out.iter_mut().enumerate() {
                    let mut key = 0u128;
                    for (j, column) in codes.iter().enumerate() {
                        key |= u128::from(column[i]) << (32 * j);
                    }
                    if key != last.0 {
                        let next = (self.tuple_ids.len() / self.n_keys) as u32;
                        let tuple_ids = &mut self.tuple_ids;
                        let found = table.id_or_insert(key, || {
                            tuple_ids.extend(codes.iter().map(|c| c[i]));
                            next
                        });
                        *last = (key, found);
                    }
                    *o = last.1;
                }
            }
        }
    }

    /// Lays the dense slots out for `dims`, or moves to the hash table when they would be too
    /// many; the tuples seen so far keep their ids.
    fn lay_out(&mut self, dims: &[usize]) {
        let n_keys = self.n_keys;
        let product = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d.max(1)))
            .filter(|&p| p <= DENSE_COMBINED);
        let tuples = self.tuple_ids.chunks_exact(n_keys).enumerate();
        self.route = match product {
            Some(product) => {
                let mut slots = vec![EMPTY; product];
                for (l, tuple) in tuples {
                    let position = tuple
                        .iter()
                        .zip(dims)
                        .fold(0usize, |acc, (&c, &d)| acc * d + c as usize);
                    slots[position] = l as u32;
                }
                Route::Dense {
                    dims: dims.to_vec(),
                    slots,
                }
            }
            None => {
                let mut table = PackedTable::default();
                for (l, tuple) in tuples {
                    table.id_or_insert(pack(tuple), || l as u32);
                }
                Route::Hashed {
                    table,
                    last: (NO_KEY, 0),
                }
            }
        };
    }
}

/// A tuple of up to four 32-bit ids as one key (column `j` in bits `32j..32j + 32`).
fn pack(tuple: &[u32]) -> u128 {
    tuple
        .iter()
        .enumerate()
        .fold(0u128, |key, (j, &c)| key | u128::from(c) << (32 * j))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Ids in order of first appearance, the plain way.
    fn reference(rows: &[Vec<u32>]) -> Vec<u32> {
        let mut seen: HashMap<&[u32], u32> = HashMap::new();
        rows.iter()
            .map(|r| {
                let next = seen.len() as u32;
                *seen.entry(r.as_slice()).or_insert(next)
            })
            .collect()
    }

    /// Morsels whose column ranges grow from morsel to morsel, first inside the dense slots,
    /// then past them (the hash table), give the same ids and tuples as the reference.
    #[test]
    fn ids_survive_layouts_and_the_move_to_hashing() {
        for n_keys in 2..=4 {
            let mut state = 0x9e37_79b9_u64;
            let mut next = |bound: u32| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                ((state >> 33) % u64::from(bound)) as u32
            };
            let mut tuples = TupleIds::new(n_keys);
            let mut rows: Vec<Vec<u32>> = Vec::new();
            let mut ids = Vec::new();
            let mut dims = vec![1usize; n_keys];
            for morsel in 0..12 {
                // Column ranges grow: 2, 4, 8, … per morsel (2^12 > the dense limit for two keys).
                dims.iter_mut().for_each(|d| *d = 2usize << morsel);
                let len = 1 + next(3_000) as usize;
                let codes: Vec<Vec<u32>> = (0..n_keys)
                    .map(|j| (0..len).map(|_| next(dims[j] as u32)).collect())
                    .collect();
                let mut out = vec![0u32; len];
                tuples.combine(&codes, &dims, &mut out);
                ids.extend_from_slice(&out);
                rows.extend((0..len).map(|i| codes.iter().map(|c| c[i]).collect::<Vec<_>>()));
            }
            assert!(matches!(tuples.route, Route::Hashed { .. }));
            assert_eq!(ids, reference(&rows));
            let expected: Vec<u32> = {
                let mut seen = std::collections::HashSet::new();
                rows.iter()
                    .filter(|r| seen.insert(r.to_vec()))
                    .flatten()
                    .copied()
                    .collect()
            };
            assert_eq!(tuples.len() * n_keys, expected.len());
            assert_eq!(tuples.into_tuples(), expected);
        }
    }
}
