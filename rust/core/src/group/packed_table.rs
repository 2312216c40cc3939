//! A small open-addressing table from packed 128-bit keys to ids, for the per-row lookups of
//! hashed key columns (short strings packed with their length, 32/64-bit integers).
//!
//! Keys and ids sit in two flat arrays probed linearly from the key's hash, kept sparse (at most
//! a thirty-second full while small, a quarter, then half as they grow; see [`max_load`]), so
//! that nearly every key sits in its first slot: a hit is one hash, one 16-byte compare and one
//! load, with no control bytes or tag matching in between, and rarely a second, mispredicted
//! probe (at a quarter full ≈ 15 % of lookups took one: a branch miss every seventh row; at an
//! eighth ≈ 6 %, at a thirty-second ≈ 1.5 %).

use super::morsel::packed_hash;

/// No packed key equals this: a packed byte string has its length (< 16) in the top byte, an
/// integer has its top 64 bits zero.
pub const NO_KEY: u128 = u128::MAX;

/// Slots of a new table (a power of two).
const INITIAL_SLOTS: usize = 64;
/// The most keys a table of `slots` holds before it doubles: very sparse while it is small (up
/// to 128 keys in 4,096 slots: 80 KB, of which a lookup touches only the lines its few keys sit
/// in), half full once large.
pub(super) fn max_load(slots: usize) -> usize {
    match slots {
        0..=4096 => slots / 32,
        4097..=65_536 => slots / 4,
        _ => slots / 2,
    }
}

/// Packed key -> id, open addressing with linear probing.
pub struct PackedTable {
    keys: Vec<u128>,
    ids: Vec<u32>,
    len: usize,
    /// 64 − log2(slots): the hash's top bits pick the first slot.
    shift: u32,
}

impl Default for PackedTable {
    fn default() -> Self {
        Self::with_slots(INITIAL_SLOTS)
    }
}

impl PackedTable {
    fn with_slots(slots: usize) -> Self {
        debug_assert!(slots.is_power_of_two() && slots >= 2);
        Self {
            keys: vec![NO_KEY; slots],
            ids: vec![0; slots],
            len: 0,
            shift: 64 - slots.trailing_zeros(),
        }
    }

    /// How many keys the table holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// The id of `key` (never [`NO_KEY`]); a new key gets `new_id()`.
    #[inline(always)]
    pub fn id_or_insert(&mut self, key: u128, new_id: impl FnOnce() -> u32) -> u32 {
        self.id_or_insert_hashed(key, packed_hash(key), new_id)
    }

    /// [`PackedTable::id_or_insert`] of a key whose [`packed_hash`] is `hash` (computed ahead,
    /// for a batch of rows).
    #[inline(always)]
    pub fn id_or_insert_hashed(
        &mut self,
        key: u128,
        hash: u64,
        new_id: impl FnOnce() -> u32,
    ) -> u32 {
        debug_assert_ne!(key, NO_KEY);
        debug_assert_eq!(hash, packed_hash(key));
        let mask = self.keys.len() - 1;
        let mut slot = (hash >> self.shift) as usize & mask;
        loop {
            let found = self.keys[slot];
            if found == key {
                return self.ids[slot];
            }
            if found == NO_KEY {
                return self.insert_at(slot, key, new_id());
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The ids of `keys` (with their [`packed_hash`]es) into `out` while every key is known;
    /// returns the index of the first key that is not, or is [`NO_KEY`] (or `keys.len()`), for
    /// the caller to handle and go on after. Only reads the table, so its fields stay in
    /// registers.
    #[inline(always)]
    pub fn find_known(&self, keys: &[u128], hashes: &[u64], out: &mut [u32]) -> usize {
        let (stored, ids) = (&self.keys[..], &self.ids[..]);
        let mask = stored.len() - 1;
        let shift = self.shift;
        for (j, ((&key, &hash), o)) in keys.iter().zip(hashes).zip(out.iter_mut()).enumerate() {
            if key == NO_KEY {
                return j;
            }
            debug_assert_eq!(hash, packed_hash(key));
            let mut slot = (hash >> shift) as usize & mask;
            loop {
                let found = stored[slot];
                if found == key {
                    *o = ids[slot];
                    break;
                }
                if found == NO_KEY {
                    return j;
                }
                slot = (slot + 1) & mask;
            }
        }
        keys.len()
    }

    #[cold]
    #[inline(never)]
    fn insert_at(&mut self, slot: usize, key: u128, id: u32) -> u32 {
        self.keys[slot] = key;
        self.ids[slot] = id;
        self.len += 1;
        if self.len > max_load(self.keys.len()) {
            self.grow();
        }
        id
    }

    /// Twice the slots, every key placed again.
    fn grow(&mut self) {
        let mut bigger = Self::with_slots(2 * self.keys.len());
        for (&key, &id) in self.keys.iter().zip(&self.ids) {
            if key != NO_KEY {
                bigger.id_or_insert(key, || id);
            }
        }
        *self = bigger;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_ids_through_growth() {
        let mut table = PackedTable::default();
        // Integers, packed strings, and keys that differ only in their high bytes.
        let keys: Vec<u128> = (0..5_000u128)
            .map(|i| match i % 3 {
                0 => i,
                1 => (i << 100) | 7,
                _ => (i * 0x0101_0101_0101_0101) | (5u128 << 120),
            })
            .collect();
        for (n, &key) in keys.iter().enumerate() {
            assert_eq!(table.id_or_insert(key, || n as u32), n as u32);
        }
        assert_eq!(table.len(), keys.len());
        for (n, &key) in keys.iter().enumerate() {
            assert_eq!(
                table.id_or_insert(key, || panic!("{key} is known")),
                n as u32
            );
        }
    }
}
