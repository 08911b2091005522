//! Giving up a publish that waits for room in a `Block` queue, or an API call that waits out
//! a retry delay.
//!
//! A caller that may have to stop a publish or a call (PowerShell's Ctrl+C) passes a flag for
//! the duration of the call (`mc_publish_cancellable`, `mc_api_invoke_cancellable`); the
//! calling thread keeps it here, so that only the rare waiting paths read it and no signature
//! between the boundary and the wait carries it. Setting the flag and then waking the waiting
//! publishers ([`Bus::wake_blocked_publishers`](super::Bus::wake_blocked_publishers)) makes the
//! publish stop waiting: the copy it waited to queue is dropped (and counted), as at its block
//! timeout. Setting it and waking the retry delays (`Resilience::wake_sleepers`) makes the
//! API call stop before its next attempt, with `Cancelled`.

use std::cell::Cell;
use std::ptr;

use crate::sync::{AtomicU32, Ordering};

thread_local! {
    static FLAG: Cell<*const AtomicU32> = const { Cell::new(ptr::null()) };
}

/// Runs `publish` (a publish or an API call) with `flag` (NULL: none) as this thread's cancel flag.
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

/// Whether the publish or API call running on this thread was cancelled.
pub(crate) fn cancelled() -> bool {
    let flag = FLAG.with(Cell::get);
    // SAFETY: set only by `with_flag`, whose caller keeps it valid while it runs.
    !flag.is_null() && unsafe { &*flag }.load(Ordering::Acquire) != 0
}
