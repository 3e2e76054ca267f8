//! Locking without a panic path.

use std::sync::{Mutex, MutexGuard};

/// Lock `mutex`. A mutex is only poisoned by a thread that panicked while
/// holding it; the data it guards (queues, counters, lists) stays usable,
/// so the value is taken back rather than panicking a second time.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
