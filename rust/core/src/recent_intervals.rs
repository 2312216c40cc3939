//! A small per-thread memo of recently computed score intervals.
//!
//! Tango's interval is a root search (about twenty evaluations of the statistic), while a
//! table of many small segments repeats the same counts again and again: at ten rows per
//! segment a few hundred (positives, negatives, n) triples cover nearly every segment. The
//! interval is a pure function of its inputs, so a slot that holds the same input bits holds
//! the same bounds, bit for bit: the memo changes the cost, never the result.

use std::cell::RefCell;

/// Slots per thread (a power of two): 16,384 × 48 bytes (768 KiB) stay within a core's L2 cache.
const SLOTS: usize = 16384;

#[derive(Clone, Copy)]
struct Slot {
    /// The bits of (b, c, n, z); all ones (a NaN pattern) marks an empty slot, and non-finite
    /// inputs are never stored, so it never matches.
    key: [u64; 4],
    bounds: (f64, f64),
}

const EMPTY: Slot = Slot {
    key: [u64::MAX; 4],
    bounds: (f64::NAN, f64::NAN),
};

thread_local! {
    static MEMO: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

/// `compute(b, c, n, z)`, or its bounds from the last time this thread computed them for the
/// same inputs (a direct-mapped slot: a colliding input replaces it).
pub fn memoized(
    b: f64,
    c: f64,
    n: f64,
    z: f64,
    compute: impl FnOnce(f64, f64, f64, f64) -> (f64, f64),
) -> (f64, f64) {
    if !(b.is_finite() && c.is_finite() && n.is_finite() && z.is_finite()) {
        return compute(b, c, n, z);
    }
    let key = [b.to_bits(), c.to_bits(), n.to_bits(), z.to_bits()];
    let slot = slot_of(&key);
    let hit = MEMO.with_borrow(|memo| memo.get(slot).filter(|s| s.key == key).map(|s| s.bounds));
    if let Some(bounds) = hit {
        return bounds;
    }
    let bounds = compute(b, c, n, z);
    MEMO.with_borrow_mut(|memo| {
        if memo.is_empty() {
            memo.resize(SLOTS, EMPTY);
        }
        memo[slot] = Slot { key, bounds };
    });
    bounds
}

/// The slot of `key`: a multiplicative hash of the inputs' bits (z is the same for a whole
/// table, so it is compared but not hashed).
fn slot_of(key: &[u64; 4]) -> usize {
    let h = key[0].wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ key[1].wrapping_mul(0xC2B2_AE3D_27D4_EB4F).rotate_left(21)
        ^ key[2].wrapping_mul(0x1656_67B1_9E37_79F9).rotate_left(42);
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_input_returns_the_first_bounds_without_computing() {
        let first = memoized(3.0, 4.0, 10.0, 1.96, |b, c, n, _| (b - c - n, b + c + n));
        assert_eq!(first, (-11.0, 17.0));
        let again = memoized(3.0, 4.0, 10.0, 1.96, |_, _, _, _| panic!("recomputed"));
        assert_eq!(again, first);
        // Another level is another input.
        let other = memoized(3.0, 4.0, 10.0, 2.58, |_, _, _, _| (0.0, 1.0));
        assert_eq!(other, (0.0, 1.0));
    }

    #[test]
    fn non_finite_inputs_are_computed_every_time() {
        for _ in 0..2 {
            let mut calls = 0;
            memoized(f64::NAN, 1.0, 2.0, 1.96, |_, _, _, _| {
                calls += 1;
                (0.0, 0.0)
            });
            assert_eq!(calls, 1);
        }
    }

    #[test]
    fn every_slot_index_is_in_range() {
        for b in 0..200 {
            for n in 0..50 {
                let key = [
                    f64::from(b).to_bits(),
                    7f64.to_bits(),
                    f64::from(n).to_bits(),
                    0,
                ];
                assert!(slot_of(&key) < SLOTS);
            }
        }
    }
}
