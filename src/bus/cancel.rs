//! Giving up a publish that waits for room in a `Block` queue.
//!
//! A caller that may have to stop a publish (PowerShell's Ctrl+C) passes a flag for the
//! duration of the call (`mc_publish_cancellable`); the publishing thread keeps it here, so
//! that only the rare waiting path reads it and no signature between the boundary and the
//! queue carries it. Setting the flag and then waking the waiting publishers
//! ([`Bus::wake_blocked_publishers`](super::Bus::wake_blocked_publishers)) makes the publish
//! stop waiting: the copy it waited to queue is dropped (and counted), as at its block timeout.

use std::cell::Cell;
use std::ptr;

use crate::sync::{AtomicU32, Ordering};

thread_local! {
    static FLAG: Cell<*const AtomicU32> = const { Cell::new(ptr::null()) };
}

/// Runs `publish` with `flag` (NULL: none) as this thread's cancel flag.
///
/// # Safety
/// `flag` must be NULL, or valid and 4-byte aligned until this returns.
pub(crate) unsafe fn with_flag<T>(flag: *const AtomicU32, publish: impl FnOnce() -> T) -> T {
    struct Restore(*const AtomicU32);
    impl Drop for Restore {
        fn drop(&mut self) {
            FLAG.with(|f| f.set(self.0));
        }
    }
    let _restore = Restore(FLAG.with(|f| f.replace(flag)));
    publish()
}

/// Whether the publish running on this thread can be cancelled (was given a flag).
pub(crate) fn has_flag() -> bool {
    !FLAG.with(Cell::get).is_null()
}

/// Whether the publish running on this thread was cancelled.
pub(crate) fn cancelled() -> bool {
    let flag = FLAG.with(Cell::get);
    // SAFETY: set only by `with_flag`, whose caller keeps it valid while it runs.
    !flag.is_null() && unsafe { &*flag }.load(Ordering::Acquire) != 0
}
