//! Key columns grouped morsel by morsel inside the tally loop, by parallel tasks.
//!
//! Each task walks its own contiguous rows in morsels of [`MORSEL_ROWS`] and fills a small,
//! cache-resident buffer with the morsel's ids; the tally reads that buffer. Hashed columns
//! (strings, binaries, wide integers) get task-local ids from a task-local table, several key
//! columns a combined id (mixed radix when every column has chunk-wide ids and the product is
//! small, a task-local table of id tuples otherwise). No per-row vector for the whole input is
//! ever built, and tasks share nothing while they run: each returns its tallies with the
//! [`GroupKeys`] naming its ids, and the aggregator folds every task's keys into the global
//! index as it does for chunks, so the result is the same whatever the split.

use std::ops::Range;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, GenericByteArray, GenericByteViewArray, OffsetSizeTrait};
use arrow_buffer::NullBuffer;
use arrow_schema::DataType;

use super::bytes_table::BytesTable;
use super::fused::FusedIds;
use super::int_table::{int_hash, IntTable};
use super::key_columns::{key_column_ids, offset_ids, KeyColumnIds, KeyValues};
use super::packed_table::{PackedTable, NO_KEY};
use super::tuple_ids::TupleIds;
use super::{dense_product, mixed_radix_tuples, ChunkGroups, GroupKeys, RowIds, WithRowIds};
use crate::error::{CoreError, Result};

/// Rows per morsel: the ids of one morsel (64 KiB) stay in L1/L2 between fill and tally.
pub const MORSEL_ROWS: usize = 1 << 14;

/// Most key columns combined by a task-local table (their ids are packed into 128 bits).
const MAX_PACKED_KEYS: usize = 4;

/// Most key tuples in a task's first morsel for the task to keep one table of whole tuples
/// (`Combine::Fused`). Past it, a table per column and the dense table of id tuples are faster
/// (their tables stay small while the tuples multiply: 1,000 stores × 50 product codes ran
/// 0.71× as fast fused, 60 × 4 × 3 tuples 0.87×; 60 × 3 ran 1.12–1.16× faster fused).
const MAX_FUSED_TUPLES: usize = 256;

/// Rows whose keys are packed and hashed before any of them is looked up (see
/// `Table::lookup_batch`): a few hundred bytes of keys and hashes, kept in registers and L1.
const BATCH: usize = 32;

/// How the rows of one chunk are grouped: whole-chunk ids, or ids filled morsel by morsel.
pub enum ChunkPlan<'a> {
    /// Ids for the whole chunk, read in place or computed once (see [`ChunkGroups`]).
    Whole(ChunkGroups<'a>),
    /// Ids filled per morsel by each task (see [`MorselPlan::task`]).
    Morsels(MorselPlan<'a>),
}

impl<'a> ChunkPlan<'a> {
    /// The grouping of a chunk's key columns. `morsels`: whether the caller can tally by
    /// morsels (it cannot when it needs each row's id in a second pass).
    pub fn new(keys: &'a [ArrayRef], morsels: bool) -> Result<Self> {
        if !morsels || keys.is_empty() || keys.len() > MAX_PACKED_KEYS {
            return Ok(Self::Whole(ChunkGroups::new(keys)?));
        }
        let columns = keys
            .iter()
            .enumerate()
            .map(|(j, k)| column_coding(k, j))
            .collect::<Result<Vec<_>>>()?;
        let len = keys[0].len();
        if let [Coding::Fixed(_)] = columns.as_slice() {
            // One key with chunk-wide ids: the tally reads them in place already.
            let fixed = columns.into_iter().map(|c| match c {
                Coding::Fixed(ids) => ids,
                Coding::Hashed(_) => unreachable!("matched Fixed"),
            });
            return Ok(Self::Whole(ChunkGroups::from_columns(fixed.collect(), len)));
        }
        let cards: Option<Vec<usize>> = columns
            .iter()
            .map(|c| match c {
                Coding::Fixed(ids) => Some(ids.cardinality),
                Coding::Hashed(_) => None,
            })
            .collect();
        let hashed = columns
            .iter()
            .filter(|c| matches!(c, Coding::Hashed(_)))
            .count();
        // The chunk-wide ids of the other columns must fit one 32-bit mixed-radix part.
        let fixed_fit = columns
            .iter()
            .filter_map(|c| match c {
                Coding::Fixed(ids) => Some(ids.cardinality.max(1) as u64),
                Coding::Hashed(_) => None,
            })
            .try_fold(1u64, |acc, c| acc.checked_mul(c))
            .is_some_and(|p| p <= u64::from(u32::MAX));
        let combine = match cards.as_deref().and_then(dense_product) {
            Some(product) if columns.len() > 1 => Combine::Radix { product },
            _ if columns.len() == 1 => Combine::Single,
            _ if hashed > 0 && fixed_fit => Combine::Fused {
                width: hashed + usize::from(hashed < columns.len()),
            },
            _ => Combine::Table,
        };
        Ok(Self::Morsels(MorselPlan { columns, combine }))
    }
}

/// How the morsel ids of a chunk are computed; shared (read-only) by its tasks.
pub struct MorselPlan<'a> {
    columns: Vec<Coding<'a>>,
    combine: Combine,
}

#[derive(Clone, Copy)]
enum Combine {
    /// One (hashed) key column: its task-local ids.
    Single,
    /// Several key columns with chunk-wide ids and few tuples: mixed radix, no table.
    Radix { product: usize },
    /// One task-local table of whole key tuples (see `group::fused`): `width` parts, one per
    /// hashed column and one for all the others.
    Fused { width: usize },
    /// A task-local table of id tuples.
    Table,
}

/// One key column of a morsel plan.
enum Coding<'a> {
    /// Chunk-wide ids (dictionary indices, offsets, booleans, or computed once).
    Fixed(KeyColumnIds<'a>),
    /// Task-local ids from a task-local hash table.
    Hashed(Hashed<'a>),
}

/// A key column hashed per task.
#[derive(Clone, Copy)]
pub(super) enum Hashed<'a> {
    Utf8(&'a GenericByteArray<GenericStringType<i32>>, &'a ArrayRef),
    LargeUtf8(&'a GenericByteArray<GenericStringType<i64>>, &'a ArrayRef),
    Utf8View(&'a GenericByteViewArray<StringViewType>, &'a ArrayRef),
    Binary(&'a GenericByteArray<GenericBinaryType<i32>>, &'a ArrayRef),
    LargeBinary(&'a GenericByteArray<GenericBinaryType<i64>>, &'a ArrayRef),
    BinaryView(&'a GenericByteViewArray<BinaryViewType>, &'a ArrayRef),
    Int32(&'a [i32], Option<&'a NullBuffer>, &'a ArrayRef),
    Int64(&'a [i64], Option<&'a NullBuffer>, &'a ArrayRef),
}

impl<'a> Hashed<'a> {
    pub(super) fn column(&self) -> &'a ArrayRef {
        match *self {
            Hashed::Utf8(_, c)
            | Hashed::LargeUtf8(_, c)
            | Hashed::Utf8View(_, c)
            | Hashed::Binary(_, c)
            | Hashed::LargeBinary(_, c)
            | Hashed::BinaryView(_, c)
            | Hashed::Int32(_, _, c)
            | Hashed::Int64(_, _, c) => c,
        }
    }
}

/// How key column `j` is coded: hashed per task (strings, binaries, wide 32/64-bit integers and
/// dates), or chunk-wide ids (everything else, as [`ChunkGroups`] computes them).
fn column_coding(column: &ArrayRef, j: usize) -> Result<Coding<'_>> {
    let nulls = || column.nulls().filter(|n| n.null_count() > 0);
    let hashed = match column.data_type() {
        DataType::Utf8 => Hashed::Utf8(column.as_string::<i32>(), column),
        DataType::LargeUtf8 => Hashed::LargeUtf8(column.as_string::<i64>(), column),
        DataType::Utf8View => Hashed::Utf8View(column.as_string_view(), column),
        DataType::Binary => Hashed::Binary(column.as_binary::<i32>(), column),
        DataType::LargeBinary => Hashed::LargeBinary(column.as_binary::<i64>(), column),
        DataType::BinaryView => Hashed::BinaryView(column.as_binary_view(), column),
        DataType::Int32 | DataType::Int64 | DataType::Date32 | DataType::Date64 => {
            if let Some(ids) = offset_ids(column)? {
                return Ok(Coding::Fixed(ids));
            }
            match column.data_type() {
                DataType::Int32 => {
                    Hashed::Int32(column.as_primitive::<Int32Type>().values(), nulls(), column)
                }
                DataType::Date32 => Hashed::Int32(
                    column.as_primitive::<Date32Type>().values(),
                    nulls(),
                    column,
                ),
                DataType::Date64 => Hashed::Int64(
                    column.as_primitive::<Date64Type>().values(),
                    nulls(),
                    column,
                ),
                _ => Hashed::Int64(column.as_primitive::<Int64Type>().values(), nulls(), column),
            }
        }
        _ => return Ok(Coding::Fixed(key_column_ids(column, j)?)),
    };
    Ok(Coding::Hashed(hashed))
}

impl<'a> MorselPlan<'a> {
    /// The state of one task (its own tables; nothing shared with other tasks).
    pub fn task(&self) -> TaskIds<'_, 'a> {
        let n = self.columns.len();
        let fused = match self.combine {
            Combine::Fused { width } => Some(self.fused(width)),
            _ => None,
        };
        let is_fused = fused.is_some();
        TaskIds {
            plan: self,
            combine: self.combine,
            first_morsel: true,
            fused,
            tables: if is_fused {
                Vec::new()
            } else {
                self.column_tables()
            },
            codes: if matches!(self.combine, Combine::Table) {
                vec![Vec::new(); n]
            } else {
                Vec::new()
            },
            tuples: TupleIds::new(n),
            corrupt: false,
        }
    }

    /// A fresh table per hashed column (None for the others).
    fn column_tables(&self) -> Vec<Option<Table<'a>>> {
        self.columns
            .iter()
            .map(|c| match c {
                Coding::Hashed(h) => Some(Table::new(*h)),
                Coding::Fixed(_) => None,
            })
            .collect()
    }

    fn fused(&self, width: usize) -> AnyFused<'_, 'a> {
        let hashed = self
            .columns
            .iter()
            .enumerate()
            .filter_map(|(j, c)| match c {
                Coding::Hashed(h) => Some((j, *h)),
                Coding::Fixed(_) => None,
            });
        let fixed: Vec<_> = self
            .columns
            .iter()
            .enumerate()
            .filter_map(|(j, c)| match c {
                Coding::Fixed(ids) => Some((j, ids)),
                Coding::Hashed(_) => None,
            })
            .collect();
        match width {
            2 => AnyFused::Two(FusedIds::new(hashed, fixed)),
            3 => AnyFused::Three(FusedIds::new(hashed, fixed)),
            4 => AnyFused::Four(FusedIds::new(hashed, fixed)),
            _ => unreachable!("2 to {MAX_PACKED_KEYS} key columns"),
        }
    }
}

/// A task's table of whole key tuples, by tuple width.
enum AnyFused<'p, 'a> {
    Two(FusedIds<'p, 'a, 2>),
    Three(FusedIds<'p, 'a, 3>),
    Four(FusedIds<'p, 'a, 4>),
}

/// One task's grouping state: per hashed column its table, and the table of id tuples.
pub struct TaskIds<'p, 'a> {
    plan: &'p MorselPlan<'a>,
    /// How this task combines its columns: the plan's way, until a fused task finds too many
    /// tuples in its first morsel and falls back to `Combine::Table`.
    combine: Combine,
    first_morsel: bool,
    /// The table of whole key tuples (`Combine::Fused` only).
    fused: Option<AnyFused<'p, 'a>>,
    tables: Vec<Option<Table<'a>>>,
    /// Per key column, the morsel's column ids (several keys combined by a table only).
    codes: Vec<Vec<u32>>,
    /// The ids of the key tuples (several keys combined by a table only).
    tuples: TupleIds,
    /// A chunk-wide id at or past its column's cardinality was seen (corrupt dictionary).
    corrupt: bool,
}

impl<'a> TaskIds<'_, 'a> {
    /// Fills `out` (of `rows.len()`) with the local ids of `rows`.
    pub fn fill(&mut self, rows: Range<usize>, out: &mut [u32]) {
        let plan = self.plan;
        let first_morsel = std::mem::replace(&mut self.first_morsel, false);
        if first_morsel && matches!(self.combine, Combine::Fused { .. }) {
            self.fill_fused(rows.clone(), out);
            if self.n_local() <= MAX_FUSED_TUPLES {
                return;
            }
            // Too many tuples for one table: this first morsel again, a table per column
            // (nothing has read its ids yet, so the task starts over).
            self.fused = None;
            self.combine = Combine::Table;
            self.tables = plan.column_tables();
            self.codes = vec![Vec::new(); plan.columns.len()];
        }
        match self.combine {
            Combine::Single => {
                let table = self.tables[0].as_mut().expect("a single key is hashed");
                table.fill(rows, out);
            }
            Combine::Fused { .. } => self.fill_fused(rows, out),
            Combine::Radix { .. } => {
                out.fill(0);
                for column in &plan.columns {
                    let Coding::Fixed(ids) = column else {
                        unreachable!("radix ids combine chunk-wide ids only")
                    };
                    self.corrupt |= ids.ids.with(FoldDigit {
                        out,
                        start: rows.start,
                        card: ids.cardinality as u32,
                    });
                }
            }
            Combine::Table => {
                let n = rows.len();
                // Every column id of the morsel is below its column's range.
                let mut dims = [0usize; MAX_PACKED_KEYS];
                for (j, column) in plan.columns.iter().enumerate() {
                    let codes = &mut self.codes[j];
                    codes.resize(n, 0);
                    match (column, self.tables[j].as_mut()) {
                        (_, Some(table)) => {
                            table.fill(rows.clone(), codes);
                            dims[j] = table.len();
                        }
                        (Coding::Fixed(ids), None) => {
                            let card = ids.cardinality.max(1);
                            self.corrupt |= ids.ids.with(CopyIds {
                                out: codes,
                                start: rows.start,
                                card: card as u32,
                            });
                            dims[j] = card;
                        }
                        (Coding::Hashed(_), None) => unreachable!("hashed columns have tables"),
                    }
                }
                self.tuples
                    .combine(&self.codes, &dims[..plan.columns.len()], out);
            }
        }
    }

    fn fill_fused(&mut self, rows: Range<usize>, out: &mut [u32]) {
        match self.fused.as_mut().expect("a fused task") {
            AnyFused::Two(f) => f.fill(rows, out),
            AnyFused::Three(f) => f.fill(rows, out),
            AnyFused::Four(f) => f.fill(rows, out),
        }
    }

    /// How many local ids this task has handed out so far (every id filled is below it).
    pub fn n_local(&self) -> usize {
        match self.combine {
            Combine::Single => self.tables[0].as_ref().map_or(0, Table::len),
            Combine::Radix { product } => product,
            Combine::Fused { .. } => match self.fused.as_ref().expect("a fused plan") {
                AnyFused::Two(f) => f.len(),
                AnyFused::Three(f) => f.len(),
                AnyFused::Four(f) => f.len(),
            },
            Combine::Table => self.tuples.len(),
        }
    }

    /// The keys this task's ids stand for; an error when a dictionary index was out of range.
    pub fn into_keys(self) -> Result<GroupKeys> {
        if let Some(fused) = self.fused {
            let n_keys = self.plan.columns.len();
            let (corrupt, (columns, tuples)) = match fused {
                AnyFused::Two(f) => (f.corrupt, f.into_keys(n_keys)),
                AnyFused::Three(f) => (f.corrupt, f.into_keys(n_keys)),
                AnyFused::Four(f) => (f.corrupt, f.into_keys(n_keys)),
            };
            if corrupt {
                return Err(corrupt_dictionary());
            }
            return Ok(GroupKeys {
                columns,
                tuples: Some(tuples),
            });
        }
        if self.corrupt {
            return Err(corrupt_dictionary());
        }
        let columns = self
            .plan
            .columns
            .iter()
            .zip(self.tables)
            .map(|(c, table)| match (c, table) {
                (_, Some(table)) => KeyValues {
                    values: table.column.column().clone(),
                    lookup: table.lookup,
                },
                (Coding::Fixed(ids), None) => ids.values.clone(),
                (Coding::Hashed(_), None) => unreachable!("hashed columns have tables"),
            })
            .collect();
        let tuples = match self.combine {
            Combine::Single => None,
            Combine::Radix { product } => {
                let cards: Vec<usize> = self
                    .plan
                    .columns
                    .iter()
                    .map(|c| match c {
                        Coding::Fixed(ids) => ids.cardinality,
                        Coding::Hashed(_) => unreachable!("radix ids combine chunk-wide ids"),
                    })
                    .collect();
                Some(mixed_radix_tuples(&cards, product))
            }
            Combine::Table => Some(self.tuples.into_tuples()),
            Combine::Fused { .. } => unreachable!("fused keys returned above"),
        };
        Ok(GroupKeys { columns, tuples })
    }
}

fn corrupt_dictionary() -> CoreError {
    CoreError::InvalidArgument(
        "a segment key column has dictionary indices outside its dictionary (corrupt Arrow data)"
            .into(),
    )
}

/// out[j] = out[j] · card + id of row start + j; true when an id was out of range.
pub(super) struct FoldDigit<'o> {
    pub(super) out: &'o mut [u32],
    pub(super) start: usize,
    pub(super) card: u32,
}

impl WithRowIds for FoldDigit<'_> {
    type Output = bool;
    fn run<I: RowIds>(self, ids: &I) -> bool {
        let mut bad = false;
        for (j, id) in self.out.iter_mut().enumerate() {
            let digit = ids.id(self.start + j);
            bad |= digit >= self.card as usize;
            *id = id.wrapping_mul(self.card).wrapping_add(digit as u32);
        }
        bad
    }
}

/// out[j] = id of row start + j; true when an id was out of range (then written as card − 1,
/// so that it stays inside the tuple slots: the chunk is rejected anyway).
struct CopyIds<'o> {
    out: &'o mut [u32],
    start: usize,
    card: u32,
}

impl WithRowIds for CopyIds<'_> {
    type Output = bool;
    fn run<I: RowIds>(self, ids: &I) -> bool {
        let mut bad = false;
        for (j, id) in self.out.iter_mut().enumerate() {
            let v = ids.id(self.start + j);
            let out_of_range = v >= self.card as usize;
            bad |= out_of_range;
            *id = if out_of_range {
                self.card - 1
            } else {
                v as u32
            };
        }
        bad
    }
}

/// A task-local table of one hashed key column: value -> task-local id, and per id a row that
/// holds its value (None for the null key).
struct Table<'a> {
    column: Hashed<'a>,
    /// Byte strings shorter than 16 bytes, packed with their length into one u128 (no
    /// pointer, no memcmp).
    short: PackedTable,
    /// Longer byte strings.
    long: BytesTable<'a>,
    /// 32/64-bit integers.
    ints: IntTable,
    /// The last short or integer key (as u128) and its id: runs of one key skip the table.
    last: (u128, u32),
    /// Whether the last-key check pays for its branch (see [`Table::fill`]).
    runs: bool,
    /// No row has been filled yet.
    first_fill: bool,
    null_id: Option<u32>,
    lookup: Vec<Option<u32>>,
}

/// Rows of a task's first morsel that decide whether the rest of it checks for runs.
const PROBE_ROWS: usize = 256;

/// Whether at least three ids in four repeat the one before (runs worth checking for).
fn mostly_repeats(ids: &[u32]) -> bool {
    let repeats: usize = ids
        .windows(2)
        .map(|pair| usize::from(pair[0] == pair[1]))
        .sum();
    repeats * 4 >= ids.len().saturating_sub(1) * 3
}

/// The hash of a packed key: one folded 64×64→128-bit multiply of its two halves (each xored
/// with a constant), so every bit of both halves reaches the top bits, which pick a key's slot
/// in a [`PackedTable`]. (FxHash's multiply-add leaves the high bytes of the low half out of the
/// bucket bits: keys such as "agent_00001" … "agent_14999", which differ there, then collided in
/// clusters, 2.5× slower on 15,000 such keys. A second multiply round, as before, adds latency
/// to every row and nothing a linear-probing table needs.)
#[inline(always)]
pub(super) fn packed_hash(v: u128) -> u64 {
    // The constants' high bytes exceed 15, so the second factor is never zero for a packed byte
    // string (whose top byte is its length) nor for an integer (whose high half is zero); the
    // first is zero only for one 8-byte prefix, which is not valid UTF-8.
    fold_multiply(
        v as u64 ^ 0x243f_6a88_85a3_08d3,
        (v >> 64) as u64 ^ 0x1319_8a2e_0370_7344,
    )
}

#[inline(always)]
fn fold_multiply(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

/// The id of a key seen for the first time: the next one, with `row` recorded as a row that
/// holds its value.
#[inline(always)]
fn first_seen(lookup: &mut Vec<Option<u32>>, row: usize) -> u32 {
    lookup.push(Some(row as u32));
    (lookup.len() - 1) as u32
}

impl<'a> Table<'a> {
    fn new(column: Hashed<'a>) -> Self {
        Self {
            column,
            short: PackedTable::default(),
            long: BytesTable::default(),
            ints: IntTable::default(),
            last: (NO_KEY, 0),
            runs: true,
            first_fill: true,
            null_id: None,
            lookup: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.lookup.len()
    }

    /// The id of a short key. `RUNS`: a key equal to the last one skips the table.
    #[inline(always)]
    fn short_id<const RUNS: bool>(&mut self, key: u128, row: usize) -> u32 {
        self.short_id_hashed::<RUNS>(key, packed_hash(key), row)
    }

    /// [`Table::short_id`] of a key whose [`packed_hash`] is `hash`.
    #[inline(always)]
    fn short_id_hashed<const RUNS: bool>(&mut self, key: u128, hash: u64, row: usize) -> u32 {
        if RUNS && key == self.last.0 {
            return self.last.1;
        }
        let lookup = &mut self.lookup;
        let id = self
            .short
            .id_or_insert_hashed(key, hash, || first_seen(lookup, row));
        if RUNS {
            self.last = (key, id);
        }
        id
    }

    #[inline(always)]
    fn long_id(&mut self, key: &'a [u8], row: usize) -> u32 {
        let lookup = &mut self.lookup;
        self.long.id_or_insert(key, || first_seen(lookup, row))
    }

    fn null(&mut self) -> u32 {
        let lookup = &mut self.lookup;
        *self.null_id.get_or_insert_with(|| {
            lookup.push(None);
            (lookup.len() - 1) as u32
        })
    }

    /// Task-local ids of `rows` into `out`.
    ///
    /// The last-key check is used only while it pays: on sorted or clustered keys nearly every
    /// row repeats the one before and skips the table, but on shuffled keys of few values (a
    /// repeat one row in three for three values) its branch mispredicts about as often as it
    /// hits, and costs more than the lookup it saves. Each morsel decides for the next from the
    /// share of its rows whose id repeated the row before's (a pass over the morsel's ids,
    /// cheaper than counting in the lookup loop); a task's first morsel decides from its first
    /// [`PROBE_ROWS`] rows (a task of a small chunk may have only one morsel).
    fn fill(&mut self, rows: Range<usize>, out: &mut [u32]) {
        let mut done = 0;
        if self.first_fill {
            self.first_fill = false;
            done = out.len().min(PROBE_ROWS);
            self.fill_with::<true>(rows.start..rows.start + done, &mut out[..done]);
            self.runs = mostly_repeats(&out[..done]);
        }
        let (rows, rest) = (rows.start + done..rows.end, &mut out[done..]);
        // (A last key left from an earlier morsel still has its id: ids never change.)
        if self.runs {
            self.fill_with::<true>(rows, rest);
        } else {
            self.fill_with::<false>(rows, rest);
        }
        self.runs = mostly_repeats(out);
    }

    fn fill_with<const RUNS: bool>(&mut self, rows: Range<usize>, out: &mut [u32]) {
        match self.column {
            Hashed::Utf8(a, _) => {
                self.fill_offsets::<_, RUNS>(a.value_offsets(), a.values(), a.nulls(), rows, out)
            }
            Hashed::LargeUtf8(a, _) => {
                self.fill_offsets::<_, RUNS>(a.value_offsets(), a.values(), a.nulls(), rows, out)
            }
            Hashed::Binary(a, _) => {
                self.fill_offsets::<_, RUNS>(a.value_offsets(), a.values(), a.nulls(), rows, out)
            }
            Hashed::LargeBinary(a, _) => {
                self.fill_offsets::<_, RUNS>(a.value_offsets(), a.values(), a.nulls(), rows, out)
            }
            Hashed::Utf8View(a, _) => {
                self.fill_views::<RUNS>(a.views(), a.data_buffers(), a.nulls(), rows, out)
            }
            Hashed::BinaryView(a, _) => {
                self.fill_views::<RUNS>(a.views(), a.data_buffers(), a.nulls(), rows, out)
            }
            Hashed::Int32(v, nulls, _) => self.fill_ints::<_, RUNS>(v, nulls, rows, out),
            Hashed::Int64(v, nulls, _) => self.fill_ints::<_, RUNS>(v, nulls, rows, out),
        }
    }

    fn fill_ints<T: Copy + Into<i64>, const RUNS: bool>(
        &mut self,
        values: &[T],
        nulls: Option<&NullBuffer>,
        rows: Range<usize>,
        out: &mut [u32],
    ) {
        // An integer's 64 bits are its key. A batch's keys are hashed before any is looked up,
        // so that the multiplies overlap (see `lookup_batch`).
        let mut keys = [0u64; BATCH];
        let mut hashes = [0u64; BATCH];
        let mut first = rows.start;
        for out in out.chunks_mut(BATCH) {
            let n = out.len();
            let (keys, hashes) = (&mut keys[..n], &mut hashes[..n]);
            for ((k, h), &v) in keys.iter_mut().zip(hashes.iter_mut()).zip(&values[first..]) {
                *k = v.into() as u64;
                *h = int_hash(*k);
            }
            if RUNS || nulls.is_some() {
                for (j, o) in out.iter_mut().enumerate() {
                    let row = first + j;
                    *o = if nulls.is_some_and(|nulls| nulls.is_null(row)) {
                        self.null()
                    } else {
                        self.int_id::<RUNS>(keys[j], hashes[j], row)
                    };
                }
            } else {
                // Shuffled keys without nulls: a read-only probe loop, left only to insert.
                let mut j = 0;
                while j < n {
                    j += self
                        .ints
                        .find_known(&keys[j..], &hashes[j..], &mut out[j..]);
                    if j < n {
                        out[j] = self.int_id::<false>(keys[j], hashes[j], first + j);
                        j += 1;
                    }
                }
            }
            first += n;
        }
    }

    /// The id of an integer key whose [`int_hash`] is `hash`. `RUNS`: a key equal to the last
    /// one skips the table.
    #[inline(always)]
    fn int_id<const RUNS: bool>(&mut self, key: u64, hash: u64, row: usize) -> u32 {
        if RUNS && u128::from(key) == self.last.0 {
            return self.last.1;
        }
        let lookup = &mut self.lookup;
        let id = self
            .ints
            .id_or_insert_hashed(key, hash, || first_seen(lookup, row));
        if RUNS {
            self.last = (u128::from(key), id);
        }
        id
    }

    /// The ids of a batch of rows from `first` on: `keys[j]` is row `first + j`'s packed key,
    /// or [`NO_KEY`] for a row without one (`other` gives its id), and `hashes[j]` its
    /// [`packed_hash`]. The caller hashes every key of the batch before any is looked up, so
    /// that the hashes' latency overlaps and a mispredicted probe does not stall the next
    /// rows' hashing.
    #[inline(always)]
    fn lookup_batch<const RUNS: bool>(
        &mut self,
        keys: &[u128],
        hashes: &[u64],
        first: usize,
        out: &mut [u32],
        mut other: impl FnMut(&mut Self, usize) -> u32,
    ) {
        let mut row = |table: &mut Self, j: usize| {
            if keys[j] == NO_KEY {
                other(table, first + j)
            } else {
                table.short_id_hashed::<RUNS>(keys[j], hashes[j], first + j)
            }
        };
        if RUNS {
            for (j, o) in out.iter_mut().enumerate() {
                *o = row(self, j);
            }
            return;
        }
        // Shuffled keys: a read-only probe loop, left only for a new key, a null or a long one.
        let n = keys.len();
        let mut j = 0;
        while j < n {
            // (`find_known` would stop at a NO_KEY row too, but entering it for every long key
            // cost 10.8 → 12.4 ns per row on 60 long keys.)
            if keys[j] != NO_KEY {
                j += self
                    .short
                    .find_known(&keys[j..], &hashes[j..], &mut out[j..]);
            }
            if j < n {
                out[j] = row(self, j);
                j += 1;
            }
        }
    }

    fn fill_offsets<O: OffsetSizeTrait, const RUNS: bool>(
        &mut self,
        offsets: &[O],
        bytes: &'a [u8],
        nulls: Option<&NullBuffer>,
        rows: Range<usize>,
        out: &mut [u32],
    ) {
        // Short keys packed and hashed per batch (NO_KEY for a null or a long string), then
        // looked up. (Hashing in the packing loop, and probing known keys in a read-only loop,
        // took the 60-, 1,000- and 15,000-key cases from 4.6, 5.6 and 8.5 to 3.7, 4.7 and
        // 7.2 ns per row on one core; a fused pack-hash-probe loop without the batch was
        // slower, as were 4-byte id slots with keys stored by id, and two-slot probes.)
        let mut keys = [NO_KEY; BATCH];
        let mut hashes = [0u64; BATCH];
        let mut first = rows.start;
        for out in out.chunks_mut(BATCH) {
            let (keys, hashes) = (&mut keys[..out.len()], &mut hashes[..out.len()]);
            let bounds = &offsets[first..first + keys.len() + 1];
            if pack_short_batch(bounds, bytes, nulls, first, keys) {
                for (h, k) in hashes.iter_mut().zip(keys.iter()) {
                    *h = packed_hash(*k);
                }
            } else {
                Self::pack_batch(bounds, bytes, nulls, first, keys, hashes);
            }
            self.lookup_batch::<RUNS>(keys, hashes, first, out, |table, i| {
                if nulls.is_some_and(|n| n.is_null(i)) {
                    table.null()
                } else {
                    let (start, end) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
                    table.long_id(&bytes[start..end], i)
                }
            });
            first += out.len();
        }
    }

    /// A batch's keys row by row (`NO_KEY` for a null or a long string) and their hashes.
    #[inline(always)]
    fn pack_batch<O: OffsetSizeTrait>(
        bounds: &[O],
        bytes: &[u8],
        nulls: Option<&NullBuffer>,
        first: usize,
        keys: &mut [u128],
        hashes: &mut [u64],
    ) {
        for (j, ((k, h), pair)) in keys
            .iter_mut()
            .zip(hashes.iter_mut())
            .zip(bounds.windows(2))
            .enumerate()
        {
            let (start, end) = (pair[0].as_usize(), pair[1].as_usize());
            let len = end.wrapping_sub(start);
            *k = if len >= 16 || nulls.is_some_and(|n| n.is_null(first + j)) {
                NO_KEY
            } else {
                pack_at(bytes, start, len)
            };
            *h = packed_hash(*k);
        }
    }

    fn fill_views<const RUNS: bool>(
        &mut self,
        views: &[u128],
        buffers: &'a [arrow_buffer::Buffer],
        nulls: Option<&NullBuffer>,
        rows: Range<usize>,
        out: &mut [u32],
    ) {
        for (o, i) in out.iter_mut().zip(rows) {
            if nulls.is_some_and(|n| n.is_null(i)) {
                *o = self.null();
                continue;
            }
            let view = views[i];
            let len = view as u32 as usize;
            *o = if len <= 12 {
                // Inline: the bytes follow the length in the view itself.
                self.short_id::<RUNS>(pack(view >> 32, len), i)
            } else {
                let data: &'a [u8] = buffers[(view >> 64) as u32 as usize].as_slice();
                let offset = (view >> 96) as u32 as usize;
                if len >= 16 {
                    self.long_id(&data[offset..offset + len], i)
                } else {
                    self.short_id::<RUNS>(pack_at(data, offset, len), i)
                }
            };
        }
    }
}

/// `LOW_BYTES[n]`: the low `n` bytes set (read from a table: a variable 128-bit shift takes
/// several instructions per row).
const LOW_BYTES: [u128; 16] = {
    let mut masks = [0u128; 16];
    let mut n = 0;
    while n < 16 {
        masks[n] = (1u128 << (8 * n)) - 1;
        n += 1;
    }
    masks
};

/// `LENGTH_BYTE[n]`: `n` in the top byte (from a table too: or-ed in one vector instruction,
/// where a shift moves the high half through a general register and back).
const LENGTH_BYTE: [u128; 16] = {
    let mut bytes = [0u128; 16];
    let mut n = 0;
    while n < 16 {
        bytes[n] = (n as u128) << 120;
        n += 1;
    }
    bytes
};

/// The low `len` (< 16) bytes of `word` with `len` in the top byte: one key per byte string.
#[inline(always)]
pub(super) fn pack(word: u128, len: usize) -> u128 {
    debug_assert!(len < 16);
    (word & LOW_BYTES[len & 15]) | LENGTH_BYTE[len & 15]
}

/// The packed key of the `len` (< 16) bytes at `bytes[start..]`: one unaligned 16-byte load,
/// masked, unless the load would pass the buffer's end.
#[inline(always)]
pub(super) fn pack_at(bytes: &[u8], start: usize, len: usize) -> u128 {
    if start + 16 <= bytes.len() {
        pack(
            u128::from_le_bytes(bytes[start..start + 16].try_into().expect("16 bytes")),
            len,
        )
    } else {
        pack_slice(&bytes[start..start + len])
    }
}

fn pack_slice(bytes: &[u8]) -> u128 {
    let mut word = [0u8; 16];
    word[..bytes.len()].copy_from_slice(bytes);
    pack(u128::from_le_bytes(word), bytes.len())
}

/// The packed keys of a batch of rows `first..first + out.len()` of an offsets-based string
/// column (`bounds`: their `out.len() + 1` offsets), on the common path where every row of the
/// batch is valid and shorter than 16 bytes and every 16-byte load stays inside `bytes`:
/// `true` when that held. On `false`, `out` holds nothing of use and the caller packs the batch
/// row by row. Checking once per batch instead of per row drops the null test, the long-string
/// branch and the buffer-end test from the per-row loop (two string keys: 125 -> 90
/// instructions per row in the fused loop, counted by cachegrind).
#[inline(always)]
pub(super) fn pack_short_batch<O: OffsetSizeTrait>(
    bounds: &[O],
    bytes: &[u8],
    nulls: Option<&NullBuffer>,
    first: usize,
    out: &mut [u128],
) -> bool {
    let n = out.len();
    let last = bounds[n].as_usize();
    if last + 16 > bytes.len() || nulls.is_some_and(|b| !all_valid(b, first, n)) {
        return false;
    }
    let reach = &bytes[..last + 16];
    let mut lengths = 0;
    for (part, pair) in out.iter_mut().zip(bounds.windows(2)) {
        let (start, end) = (pair[0].as_usize(), pair[1].as_usize());
        let len = end.wrapping_sub(start);
        lengths |= len;
        // Arrow's offsets rise, so no start is past `last`; `min` makes it so for any offsets.
        let at = start.min(last);
        // SAFETY: at <= last and reach.len() == last + 16: the 16 bytes at `at` are in `reach`.
        let word = u128::from_le(unsafe { reach.as_ptr().add(at).cast::<u128>().read_unaligned() });
        // A length of 16 or more is caught below (its bits at 16 and above reach `lengths`);
        // its packed word here is discarded.
        *part = pack(word, len & 15);
    }
    lengths < 16
}

/// Whether rows `first..first + n` (n ≤ 32) are all valid: one 8-byte read of the bitmap.
#[inline(always)]
fn all_valid(nulls: &NullBuffer, first: usize, n: usize) -> bool {
    debug_assert!(n <= 32);
    let at = nulls.offset() + first;
    let bits = nulls.inner().values();
    let byte = at / 8;
    let word = match bits.get(byte..byte + 8) {
        Some(eight) => u64::from_le_bytes(eight.try_into().expect("8 bytes")),
        // The bitmap's last bytes: the rows one by one.
        None => return (first..first + n).all(|i| nulls.is_valid(i)),
    };
    let want = (1u64 << n) - 1;
    (word >> (at % 8)) & want == want
}

/// Row -> id through a morsel's buffer of ids (rows `start..start + ids.len()`).
pub struct MorselIds<'b> {
    /// The morsel's ids.
    pub ids: &'b [u32],
    /// The morsel's first row.
    pub start: usize,
}

impl RowIds for MorselIds<'_> {
    #[inline(always)]
    fn id(&self, i: usize) -> usize {
        self.ids[i - self.start] as usize
    }
    #[inline(always)]
    fn zip_rows<T: Copy>(&self, rows: Range<usize>, items: &[T], mut f: impl FnMut(usize, T)) {
        let ids = &self.ids[rows.start - self.start..rows.end - self.start];
        for (&id, &item) in ids.iter().zip(items) {
            f(id as usize, item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use std::collections::HashMap;
    use std::sync::Arc;

    /// Ids in order of first appearance of each row's key tuple, the plain way.
    fn reference<K: Eq + std::hash::Hash + Clone>(rows: &[K]) -> Vec<u32> {
        let mut seen: HashMap<K, u32> = HashMap::new();
        rows.iter()
            .map(|r| {
                let next = seen.len() as u32;
                *seen.entry(r.clone()).or_insert(next)
            })
            .collect()
    }

    /// One task's ids of all rows, morsel by morsel, and the values its keys name per id.
    fn task_ids(keys: &[ArrayRef]) -> (Vec<u32>, Vec<Vec<ArrayRef>>) {
        let ChunkPlan::Morsels(plan) = ChunkPlan::new(keys, true).unwrap() else {
            panic!("hashed keys are grouped by morsels")
        };
        let len = keys[0].len();
        let mut task = plan.task();
        let mut ids = vec![0u32; len];
        for start in (0..len).step_by(MORSEL_ROWS) {
            let end = (start + MORSEL_ROWS).min(len);
            task.fill(start..end, &mut ids[start..end]);
        }
        let n = task.n_local() as u32;
        let keys = task.into_keys().unwrap();
        let values = (0..n).map(|l| keys.key_values(&[l]).unwrap()).collect();
        (ids, values)
    }

    /// Rows in morsel-long stretches that alternate between shuffled keys of three values (the
    /// last-key check switches off) and long runs (it switches back on), with new keys, nulls
    /// and long strings appearing in later stretches.
    fn stretches(len: usize) -> Vec<Option<String>> {
        let mut state = 0x2545_f491_u64;
        let mut next = |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        (0..len)
            .map(|i| {
                let stretch = (i / MORSEL_ROWS) as u64;
                let v = if stretch.is_multiple_of(2) {
                    next(3) + stretch
                } else {
                    (i as u64 / 500) % 7
                };
                match (v, next(50)) {
                    (_, 0) => None,
                    (v, 1) => Some(format!("a long key of more than sixteen bytes {v}")),
                    (v, _) => Some(format!("k{v}")),
                }
            })
            .collect()
    }

    #[test]
    fn ids_are_first_appearance_whether_or_not_runs_are_checked() {
        let len = 5 * MORSEL_ROWS + 123;
        let strings = stretches(len);
        let column: ArrayRef = Arc::new(StringArray::from(strings.clone()));
        let wide: Vec<Option<i64>> = strings
            .iter()
            .map(|s| s.as_ref().map(|s| s.len() as i64 * 1_000_000_007))
            .collect();
        let wide_column: ArrayRef = Arc::new(Int64Array::from(wide.clone()));
        // One string key, one wide integer key, and both together (a table of id tuples).
        let (ids, values) = task_ids(std::slice::from_ref(&column));
        assert_eq!(ids, reference(&strings));
        let (ids, _) = task_ids(std::slice::from_ref(&wide_column));
        assert_eq!(ids, reference(&wide));
        for (l, v) in values.iter().enumerate() {
            let first = ids_first_row(&reference(&strings), l as u32);
            let s = v[0].as_string::<i32>();
            assert_eq!(s.is_null(0), strings[first].is_none());
            if let Some(expected) = &strings[first] {
                assert_eq!(s.value(0), expected);
            }
        }
        let pairs: Vec<(Option<String>, Option<i64>)> =
            strings.iter().cloned().zip(wide.iter().copied()).collect();
        let (ids, _) = task_ids(&[column, wide_column]);
        assert_eq!(ids, reference(&pairs));
    }

    /// The last-key check is switched off by a morsel of shuffled keys of three values and back
    /// on by one of long runs.
    #[test]
    fn the_last_key_check_follows_the_share_of_repeats() {
        let shuffled = stretches(MORSEL_ROWS);
        let runs: Vec<Option<String>> = (0..MORSEL_ROWS)
            .map(|i| Some(format!("k{}", i / 1000)))
            .collect();
        let column: ArrayRef = Arc::new(StringArray::from([shuffled, runs].concat()));
        let mut table = Table::new(Hashed::Utf8(column.as_string::<i32>(), &column));
        let mut out = vec![0u32; MORSEL_ROWS];
        assert!(table.runs);
        table.fill(0..MORSEL_ROWS, &mut out);
        assert!(!table.runs);
        table.fill(MORSEL_ROWS..2 * MORSEL_ROWS, &mut out);
        assert!(table.runs);
    }

    /// Column `j`'s value of row `r` as text (None for null), the same for a dictionary column
    /// and for its raw values.
    fn text(column: &ArrayRef, r: usize) -> Option<String> {
        (!column.is_null(r)).then(|| arrow_cast::display::array_value_to_string(column, r).unwrap())
    }

    /// Several key columns — hashed strings and wide integers, with and without a dictionary
    /// column — give first-appearance ids and each id the values of its first row, whether the
    /// task keeps one table of whole tuples (few tuples) or falls back to a table per column
    /// after its first morsel (many tuples).
    #[test]
    fn several_columns_give_first_appearance_ids_fused_or_not() {
        use arrow_array::{DictionaryArray, Int32Array};
        let len = 3 * MORSEL_ROWS + 77;
        let mut state = 0x5851_f42d_u64;
        let mut next = |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        for distinct in [5u64, 3_000] {
            let strings: Vec<Option<String>> = (0..len)
                .map(|_| match (next(distinct), next(40)) {
                    (_, 0) => None,
                    (v, 1) => Some(format!("a key longer than sixteen bytes {v}")),
                    (v, _) => Some(format!("s{v}")),
                })
                .collect();
            let ints: Vec<Option<i64>> = (0..len)
                .map(|_| (next(30) != 0).then(|| next(7) as i64 * 1_000_000_007))
                .collect();
            let codes: Vec<Option<i32>> = (0..len)
                .map(|_| (next(25) != 0).then(|| next(3) as i32))
                .collect();
            let s: ArrayRef = Arc::new(StringArray::from(strings.clone()));
            let i: ArrayRef = Arc::new(Int64Array::from(ints.clone()));
            let d: ArrayRef = Arc::new(
                DictionaryArray::try_new(
                    Int32Array::from(codes.clone()),
                    Arc::new(StringArray::from(vec!["app", "email", "phone"])),
                )
                .unwrap(),
            );
            for keys in [
                vec![s.clone(), i.clone()],
                vec![s.clone(), d.clone()],
                vec![d.clone(), s.clone(), i.clone()],
                vec![i.clone(), s.clone(), d.clone(), s.clone()],
            ] {
                let rows: Vec<Vec<Option<String>>> = (0..len)
                    .map(|r| keys.iter().map(|k| text(k, r)).collect())
                    .collect();
                let (ids, values) = task_ids(&keys);
                let expected = reference(&rows);
                assert_eq!(ids, expected, "{} keys, {distinct} strings", keys.len());
                for (l, v) in values.iter().enumerate() {
                    let first = ids_first_row(&expected, l as u32);
                    let got: Vec<Option<String>> = v.iter().map(|c| text(c, 0)).collect();
                    assert_eq!(got, rows[first]);
                }
            }
        }
    }

    /// A dictionary index outside its dictionary is reported, not grouped, when the dictionary
    /// column is combined with hashed columns in one table.
    #[test]
    fn a_corrupt_dictionary_beside_hashed_keys_is_an_error() {
        use arrow_array::{DictionaryArray, Int32Array};
        let len = 1000;
        let s: ArrayRef = Arc::new(StringArray::from(
            (0..len).map(|r| format!("k{}", r % 4)).collect::<Vec<_>>(),
        ));
        let values: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
        let indices = Int32Array::from((0..len).map(|r| (r % 5) as i32).collect::<Vec<_>>());
        // SAFETY (test only): indices 3 and 4 are out of range on purpose; grouping must reject them.
        let d: ArrayRef = Arc::new(unsafe { DictionaryArray::new_unchecked(indices, values) });
        let keys = [s, d];
        let ChunkPlan::Morsels(plan) = ChunkPlan::new(&keys, true).unwrap() else {
            panic!("a hashed key is grouped by morsels")
        };
        let mut task = plan.task();
        let mut ids = vec![0u32; len];
        task.fill(0..len, &mut ids);
        assert!(task.into_keys().is_err());
    }

    fn ids_first_row(ids: &[u32], id: u32) -> usize {
        ids.iter()
            .position(|&i| i == id)
            .expect("every id has a row")
    }

    /// The batch fast path packs exactly as row by row, and declines every batch it cannot
    /// pack: a null in the batch (bitmaps at every bit offset, and at the bitmap's end), a string
    /// of 16 bytes or more, a load that would pass the buffer's end.
    #[test]
    fn short_batches_pack_as_row_by_row_or_decline() {
        let values: Vec<Option<String>> = (0..300)
            .map(|i| match i % 97 {
                5 => None,
                40 => Some("a string of more than sixteen bytes".to_string()),
                _ => Some("x".repeat(i % 16)),
            })
            .collect();
        let whole = StringArray::from(values.clone());
        for cut in [0, 1, 3, 7, 8, 13] {
            let a = whole.slice(cut, whole.len() - cut);
            let (offsets, bytes, nulls) = (a.value_offsets(), a.values().as_slice(), a.nulls());
            for first in (0..a.len()).step_by(5) {
                let n = BATCH.min(a.len() - first);
                let bounds = &offsets[first..first + n + 1];
                let mut packed = [NO_KEY; BATCH];
                let took = pack_short_batch(bounds, bytes, nulls, first, &mut packed[..n]);
                let rows = first..first + n;
                let packable = rows.clone().all(|i| a.is_valid(i) && a.value(i).len() < 16)
                    && bounds[n] as usize + 16 <= bytes.len();
                assert_eq!(took, packable, "cut {cut}, rows {rows:?}");
                if took {
                    for (r, i) in rows.enumerate() {
                        let v = a.value(i).as_bytes();
                        assert_eq!(packed[r], pack_slice(v), "cut {cut}, row {i}");
                    }
                }
            }
        }
    }
}
