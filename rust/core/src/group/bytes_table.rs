//! An open-addressing table from byte strings of 16 bytes or more to ids, for the per-row
//! lookups of long string keys ("Region 04 - customer care", e-mail domains, product names).
//!
//! A general hash map spent most of its time outside the table: a hasher call per row, and a
//! `memcmp` call per hit (together about half of the work on 60 keys of 24–40 bytes). Here the
//! hash reads the string in 16-byte blocks (the last block overlapping the one before), a hit
//! compares the same blocks inline, and a slot keeps the full hash beside the id, so a
//! different key in the slot is almost always told apart before any byte is read.

use super::packed_table::max_load;

/// Slots of a new table (a power of two).
const INITIAL_SLOTS: usize = 64;

/// No key's index: the slot is empty.
const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Slot {
    hash: u64,
    id: u32,
    /// Index of the key in `BytesTable::keys` ([`EMPTY`] for an empty slot).
    key: u32,
}

const EMPTY_SLOT: Slot = Slot {
    hash: 0,
    id: 0,
    key: EMPTY,
};

#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn fold_multiply(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

#[inline(always)]
fn block(bytes: &[u8], at: usize) -> u128 {
    u128::from_le_bytes(bytes[at..at + 16].try_into().expect("16 bytes"))
}

/// Where the three 16-byte blocks read of every key start: the first, the middle and the last
/// (overlapping for keys under 48 bytes). Between them they cover a key of up to 48 bytes
/// whole, with no branch on its length: a loop over blocks mispredicted its exit on keys of
/// mixed lengths (24 to 40 bytes: one block or two), which cost more than the hashing.
#[inline(always)]
fn block_starts(n: usize) -> [usize; 3] {
    [0, n / 2 - 8, n - 16]
}

/// Where the further blocks of a key longer than 48 bytes start (which [`block_starts`] no
/// longer covers): every 16 bytes between the first block and the last.
#[inline(always)]
fn rest(n: usize) -> std::iter::StepBy<std::ops::Range<usize>> {
    let end = if n > 48 { n - 16 } else { 16 };
    (16..end).step_by(16)
}

/// The hash of a byte string of at least 16 bytes: each of the three blocks (and, past 48
/// bytes, every 16 bytes between) folded by a 64×64→128-bit multiply with its own constants; the
/// three multiplies are independent, so their latencies overlap.
#[inline(always)]
pub fn bytes_hash(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    debug_assert!(n >= 16);
    let [a, m, z] = block_starts(n);
    let mut h = fold_multiply(
        word(bytes, a) ^ 0x243f_6a88_85a3_08d3,
        word(bytes, a + 8) ^ 0x1319_8a2e_0370_7344,
    ) ^ fold_multiply(
        word(bytes, m) ^ 0xa409_3822_299f_31d0,
        word(bytes, m + 8) ^ 0x082e_fa98_ec4e_6c89,
    ) ^ fold_multiply(
        word(bytes, z) ^ 0x4528_21e6_38d0_1377 ^ n as u64,
        word(bytes, z + 8) ^ 0xbe54_66cf_34e9_0c6c,
    );
    for at in rest(n) {
        h = fold_multiply(
            word(bytes, at) ^ h,
            word(bytes, at + 8) ^ 0xc0ac_29b7_c97c_50dd,
        );
    }
    h
}

/// Whether two byte strings of at least 16 bytes are equal, compared 16 bytes at a time (no
/// library call, and no branch on the length below 48 bytes).
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let [first, middle, last] = block_starts(n);
    let same = |at: usize| block(a, at) == block(b, at);
    (same(first) & same(middle) & same(last)) && rest(n).all(same)
}

/// Byte string (16 bytes or more) -> id, open addressing with linear probing.
pub struct BytesTable<'a> {
    slots: Vec<Slot>,
    /// The keys, in order of insertion.
    keys: Vec<&'a [u8]>,
    /// 64 − log2(slots): the hash's top bits pick the first slot.
    shift: u32,
}

impl Default for BytesTable<'_> {
    fn default() -> Self {
        Self::with_slots(INITIAL_SLOTS)
    }
}

impl<'a> BytesTable<'a> {
    fn with_slots(slots: usize) -> Self {
        debug_assert!(slots.is_power_of_two() && slots >= 2);
        Self {
            slots: vec![EMPTY_SLOT; slots],
            keys: Vec::new(),
            shift: 64 - slots.trailing_zeros(),
        }
    }

    /// How many keys the table holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The id of `key` (at least 16 bytes); a new key gets `new_id()`.
    #[inline(always)]
    pub fn id_or_insert(&mut self, key: &'a [u8], new_id: impl FnOnce() -> u32) -> u32 {
        let hash = bytes_hash(key);
        let mask = self.slots.len() - 1;
        let mut slot = (hash >> self.shift) as usize & mask;
        loop {
            let found = self.slots[slot];
            if found.key == EMPTY {
                return self.insert_at(slot, hash, key, new_id());
            }
            if found.hash == hash && same_bytes(self.keys[found.key as usize], key) {
                return found.id;
            }
            slot = (slot + 1) & mask;
        }
    }

    #[cold]
    #[inline(never)]
    fn insert_at(&mut self, slot: usize, hash: u64, key: &'a [u8], id: u32) -> u32 {
        assert!(key.len() >= 16, "a short key in the table of long ones");
        self.slots[slot] = Slot {
            hash,
            id,
            key: self.keys.len() as u32,
        };
        self.keys.push(key);
        if self.keys.len() > max_load(self.slots.len()) {
            self.grow();
        }
        id
    }

    /// Twice the slots, every key placed again (by its stored hash).
    fn grow(&mut self) {
        let slots = 2 * self.slots.len();
        let (mask, shift) = (slots - 1, 64 - slots.trailing_zeros());
        let mut bigger = vec![EMPTY_SLOT; slots];
        for found in self.slots.iter().filter(|slot| slot.key != EMPTY) {
            let mut slot = (found.hash >> shift) as usize & mask;
            while bigger[slot].key != EMPTY {
                slot = (slot + 1) & mask;
            }
            bigger[slot] = *found;
        }
        self.slots = bigger;
        self.shift = shift;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_ids_through_growth() {
        // Keys of 16 to 70 bytes that differ in one byte anywhere, and in length only.
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for len in 16..70usize {
            for at in (0..len).step_by(5) {
                let mut key = vec![b'x'; len];
                key[at] = b'y';
                keys.push(key);
            }
            keys.push(vec![b'x'; len]);
        }
        let copies = keys.clone();
        let mut table = BytesTable::default();
        for (n, key) in keys.iter().enumerate() {
            assert_eq!(table.id_or_insert(key, || n as u32), n as u32);
        }
        assert_eq!(table.len(), keys.len());
        // Found by their bytes, not their address.
        for (n, copy) in copies.iter().enumerate() {
            assert_eq!(table.id_or_insert(copy, || panic!("known")), n as u32);
        }
    }

    #[test]
    fn equal_hashes_are_told_apart_by_the_bytes() {
        assert!(same_bytes(&[7; 40], &[7; 40]));
        assert!(!same_bytes(&[7; 40], &[7; 41]));
        let mut other = [7u8; 40];
        other[20] = 8;
        assert!(!same_bytes(&[7; 40], &other));
    }
}
