//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Polls `cond` until it holds or `timeout` passes; returns whether it held. Used only
/// where the library offers no event to wait on (for example a handler's side effect).
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Generous bound for waits that should finish almost at once.
pub const LONG: Duration = Duration::from_secs(30);
