//! Which thread waits for which other thread, kept so that a wait that would never end is
//! seen before it starts.
//!
//! Two kinds of wait go in: `unsubscribe` waiting for a push worker to finish its callback,
//! and a timed API call waiting for the worker thread that runs its stages. They meet when a
//! push callback invokes an API with a timeout and the handler, on that call's worker thread,
//! unsubscribes the callback's own subscription: each would wait for the other until the
//! call's timeout. Seeing the cycle, `unsubscribe` does not wait (see `Bus::unsubscribe`).

use std::collections::HashMap;
use std::io;
use std::thread::{JoinHandle, ThreadId};

use crate::sync::Mutex;

/// The wait-for graph: each waiting thread and the one thread it waits for.
#[derive(Default)]
pub(crate) struct Waits {
    waits: Mutex<HashMap<ThreadId, ThreadId>>,
}

impl Waits {
    /// Records that `waiter` is about to wait for the thread `worker`, unless that would never
    /// end: `worker` is `waiter` itself, or waits (directly or through others) for it.
    pub fn begin(&self, waiter: ThreadId, worker: ThreadId) -> bool {
        let mut waits = self.waits.lock();
        let mut next = Some(worker);
        while let Some(t) = next {
            if t == waiter {
                return false;
            }
            next = waits.get(&t).copied();
        }
        waits.insert(waiter, worker);
        true
    }

    /// Starts a thread with `spawn` and records that `waiter` is about to wait for it. Under the
    /// lock, so that the new thread cannot look for a cycle (unsubscribing the callback that
    /// `waiter` runs, say) before this wait is recorded. It closes none: the thread is new, so
    /// nobody waits for it yet.
    pub fn spawn_waited<T>(
        &self,
        waiter: ThreadId,
        spawn: impl FnOnce() -> io::Result<JoinHandle<T>>,
    ) -> io::Result<JoinHandle<T>> {
        let mut waits = self.waits.lock();
        let handle = spawn()?;
        waits.insert(waiter, handle.thread().id());
        Ok(handle)
    }

    /// `waiter` waits no more.
    pub fn end(&self, waiter: ThreadId) {
        self.waits.lock().remove(&waiter);
    }
}
