//! Cooperative cancellation of long work (Ctrl-C in Python).
//!
//! The binding runs long work on a worker thread and watches for signals; on one it calls
//! [`request`], waits for the worker and discards its result. Kernels call [`requested`] between
//! units of work (a resample, a chunk of rows) and skip the rest once it is set, so the worker
//! returns quickly. The flag is process-wide because kernels run on shared rayon threads that
//! cannot tell whose work they do; [`Watch`] therefore lets every call that overlapped a
//! cancellation know it, and such a call must not return its (incomplete) result.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Cancellations requested and not yet finished: kernels stop while this is above zero.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// Every cancellation ever requested, so a call can tell whether one overlapped it.
static REQUESTED: AtomicU64 = AtomicU64::new(0);

/// True while some cancellation is in progress: stop and return anything (it is discarded).
#[inline]
pub fn requested() -> bool {
    ACTIVE.load(Ordering::Relaxed) > 0
}

/// `Err(Cancelled)` while a cancellation is in progress: for work that must not keep a partial
/// result (an accumulator's update).
pub fn checkpoint() -> crate::error::Result<()> {
    if requested() {
        Err(crate::error::CoreError::Cancelled)
    } else {
        Ok(())
    }
}

/// A call's view of cancellations: started before its work, consulted after it.
#[derive(Debug)]
pub struct Watch {
    seen: u64,
}

impl Watch {
    /// Starts watching (before the work begins).
    pub fn start() -> Self {
        Self {
            seen: REQUESTED.load(Ordering::SeqCst),
        }
    }

    /// True when a cancellation was requested since [`Watch::start`], or is still in progress:
    /// the work's result may be incomplete.
    pub fn interrupted(&self) -> bool {
        requested() || REQUESTED.load(Ordering::SeqCst) != self.seen
    }
}

/// Asks all running kernels to stop; returns a guard that ends the cancellation when dropped
/// (after the cancelled work has returned).
pub fn request() -> Cancellation {
    REQUESTED.fetch_add(1, Ordering::SeqCst);
    ACTIVE.fetch_add(1, Ordering::SeqCst);
    Cancellation(())
}

/// An active cancellation; dropping it lets kernels run normally again.
#[derive(Debug)]
pub struct Cancellation(());

impl Drop for Cancellation {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}
