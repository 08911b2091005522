//! Every lock and atomic the crate uses comes through here, so the primitives can be
//! swapped in one place (for example for a model checker).

pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};
pub(crate) use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
pub(crate) use std::sync::Arc;
