//! The threads that run timed API calls. A call past its timeout returns to its caller
//! while its handler goes on running on such a thread; freeing the hub must wait for those
//! handlers, because a C handler may still use the hub it was given.

use crate::sync::{Condvar, Mutex};

#[derive(Default)]
pub(crate) struct TimedCalls {
    running: Mutex<usize>,
    ended: Condvar,
}

impl TimedCalls {
    /// Counts a thread about to start; pair with [`TimedCalls::end`] (or an [`Ending`]).
    pub fn begin(&self) {
        *self.running.lock() += 1;
    }

    pub fn end(&self) {
        let mut running = self.running.lock();
        *running -= 1;
        if *running == 0 {
            self.ended.notify_all();
        }
    }

    /// Ends the count when dropped, so a handler that panics still ends it.
    pub fn ending(&self) -> Ending<'_> {
        Ending(self)
    }

    /// Waits until every timed-call thread has ended.
    pub fn wait_all(&self) {
        let mut running = self.running.lock();
        while *running > 0 {
            self.ended.wait(&mut running);
        }
    }
}

pub(crate) struct Ending<'a>(&'a TimedCalls);

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}
