//! Every lock and atomic the crate uses comes through here, so the primitives can be
//! swapped in one place (for example for a model checker).

pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};
pub(crate) use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
pub(crate) use std::sync::Arc;

/// Keeps a value on cache lines of its own (128 bytes: adjacent-line prefetchers fetch
/// 64-byte lines in pairs), so that a counter one thread bumps for every message does
/// not slow down the threads that read or write its neighbours.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
