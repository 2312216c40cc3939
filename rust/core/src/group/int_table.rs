//! An open-addressing table from 64-bit integer keys to ids, for the per-row lookups of a
//! hashed integer key column (int32/int64 values too spread for a direct index).
//!
//! A slot holds its key and id side by side (16 bytes), so a hit touches one cache line, where
//! the [`PackedTable`](super::packed_table::PackedTable) of 128-bit keys keeps keys and ids in
//! two arrays and touches two; the key is 8 bytes, not 16; and the hash is one folded multiply
//! of the key alone. The table is kept as sparse as the packed table (see
//! [`max_load`](super::packed_table::max_load)), so nearly every key sits in its first slot.

use super::packed_table::max_load;

/// The key an empty slot holds. A real key equal to it is kept outside the slots
/// (`IntTable::sentinel_id`); any constant works, this one is unlikely in survey data.
const EMPTY: u64 = 0x9e37_79b9_7f4a_7c15;

/// Slots of a new table (a power of two).
const INITIAL_SLOTS: usize = 64;

#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Slot {
    key: u64,
    id: u32,
}

const EMPTY_SLOT: Slot = Slot { key: EMPTY, id: 0 };

/// The hash of an integer key: one folded 64×64→128-bit multiply, so every bit of the key
/// reaches the top bits, which pick its slot.
#[inline(always)]
pub fn int_hash(key: u64) -> u64 {
    let m = u128::from(key ^ 0x243f_6a88_85a3_08d3) * 0x1319_8a2e_0370_7345u128;
    (m as u64) ^ ((m >> 64) as u64)
}

/// Integer key -> id, open addressing with linear probing.
pub struct IntTable {
    slots: Vec<Slot>,
    len: usize,
    /// 64 − log2(slots): the hash's top bits pick the first slot.
    shift: u32,
    /// The id of the key equal to [`EMPTY`], once seen.
    sentinel_id: Option<u32>,
}

impl Default for IntTable {
    fn default() -> Self {
        Self::with_slots(INITIAL_SLOTS)
    }
}

impl IntTable {
    fn with_slots(slots: usize) -> Self {
        debug_assert!(slots.is_power_of_two() && slots >= 2);
        Self {
            slots: vec![EMPTY_SLOT; slots],
            len: 0,
            shift: 64 - slots.trailing_zeros(),
            sentinel_id: None,
        }
    }

    /// How many keys the table holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len + usize::from(self.sentinel_id.is_some())
    }

    /// The id of `key`, whose [`int_hash`] is `hash`; a new key gets `new_id()`.
    #[inline(always)]
    pub fn id_or_insert_hashed(
        &mut self,
        key: u64,
        hash: u64,
        new_id: impl FnOnce() -> u32,
    ) -> u32 {
        debug_assert_eq!(hash, int_hash(key));
        if key == EMPTY {
            return *self.sentinel_id.get_or_insert_with(new_id);
        }
        let mask = self.slots.len() - 1;
        let mut slot = (hash >> self.shift) as usize & mask;
        loop {
            let found = self.slots[slot];
            if found.key == key {
                return found.id;
            }
            if found.key == EMPTY {
                return self.insert_at(slot, key, new_id());
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The ids of `keys` (with their [`int_hash`]es) into `out` while every key is known;
    /// returns the index of the first key that is not (or `keys.len()`), for the caller to
    /// insert and go on after. Only reads the table, so its fields stay in registers.
    #[inline(always)]
    pub fn find_known(&self, keys: &[u64], hashes: &[u64], out: &mut [u32]) -> usize {
        let slots = &self.slots[..];
        let mask = slots.len() - 1;
        let shift = self.shift;
        for (j, ((&key, &hash), o)) in keys.iter().zip(hashes).zip(out.iter_mut()).enumerate() {
            debug_assert_eq!(hash, int_hash(key));
            let mut slot = (hash >> shift) as usize & mask;
            loop {
                let found = slots[slot];
                // (The empty test first: the key equal to EMPTY is not in the slots.)
                if found.key == EMPTY {
                    return j;
                }
                if found.key == key {
                    *o = found.id;
                    break;
                }
                slot = (slot + 1) & mask;
            }
        }
        keys.len()
    }

    #[cold]
    #[inline(never)]
    fn insert_at(&mut self, slot: usize, key: u64, id: u32) -> u32 {
        self.slots[slot] = Slot { key, id };
        self.len += 1;
        if self.len > max_load(self.slots.len()) {
            self.grow();
        }
        id
    }

    /// Twice the slots, every key placed again.
    fn grow(&mut self) {
        let mut bigger = Self::with_slots(2 * self.slots.len());
        bigger.sentinel_id = self.sentinel_id;
        for slot in self.slots.iter().filter(|slot| slot.key != EMPTY) {
            bigger.id_or_insert_hashed(slot.key, int_hash(slot.key), || slot.id);
        }
        *self = bigger;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(table: &mut IntTable, key: u64, new_id: impl FnOnce() -> u32) -> u32 {
        table.id_or_insert_hashed(key, int_hash(key), new_id)
    }

    #[test]
    fn keys_keep_their_ids_through_growth() {
        let mut table = IntTable::default();
        // Small, negative, high-bit-only and the empty marker itself.
        let keys: Vec<u64> = (0..5_000u64)
            .map(|i| match i % 4 {
                0 => i,
                1 => (-(i as i64)) as u64,
                2 => i << 40,
                _ => i.wrapping_mul(0x0101_0101_0101_0101),
            })
            .chain([EMPTY, 1 << 63])
            .collect();
        // (Some of the patterns meet, e.g. 255 · 0x0101… = −1: keep each key's first place.)
        let mut seen = std::collections::HashSet::new();
        let keys: Vec<u64> = keys.into_iter().filter(|&k| seen.insert(k)).collect();
        for (n, &key) in keys.iter().enumerate() {
            assert_eq!(id_of(&mut table, key, || n as u32), n as u32, "key {key}");
        }
        assert_eq!(table.len(), keys.len());
        for (n, &key) in keys.iter().enumerate() {
            assert_eq!(
                id_of(&mut table, key, || panic!("{key} is known")),
                n as u32
            );
        }
    }
}
