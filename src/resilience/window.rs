//! The sliding sampling window of a circuit breaker: successes and failures of the last
//! `sampling` milliseconds, kept in ten buckets (Polly v8's rolling health metrics), so a
//! window costs a few dozen bytes however many calls it counts.

use std::collections::VecDeque;

/// How many buckets a window is cut into. A bucket leaves the window whole, so the window
/// covers between 90% and 100% of the sampling duration.
pub(crate) const BUCKETS: i64 = 10;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    start_ms: i64,
    successes: u64,
    failures: u64,
}

/// Counts of the window at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Health {
    pub successes: u64,
    pub failures: u64,
}

impl Health {
    /// Calls counted (successes + failures).
    pub fn throughput(&self) -> u64 {
        self.successes + self.failures
    }

    /// Failures / throughput; 0 for an empty window.
    pub fn failure_ratio(&self) -> f64 {
        match self.throughput() {
            0 => 0.0,
            n => self.failures as f64 / n as f64,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Window {
    sampling_ms: i64,
    bucket_ms: i64,
    buckets: VecDeque<Bucket>,
    total: Health,
}

impl Window {
    pub fn new(sampling_ms: u64) -> Window {
        let sampling_ms = i64::try_from(sampling_ms).unwrap_or(i64::MAX).max(1);
        Window {
            sampling_ms,
            bucket_ms: (sampling_ms / BUCKETS).max(1),
            buckets: VecDeque::with_capacity(BUCKETS as usize + 1),
            total: Health::default(),
        }
    }

    /// Drops buckets that have left the window at `now_ms`.
    fn expire(&mut self, now_ms: i64) {
        while let Some(front) = self.buckets.front() {
            if now_ms.saturating_sub(front.start_ms) < self.sampling_ms {
                break;
            }
            self.total.successes -= front.successes;
            self.total.failures -= front.failures;
            self.buckets.pop_front();
        }
    }

    fn current(&mut self, now_ms: i64) -> &mut Bucket {
        self.expire(now_ms);
        // A clock that went backwards keeps counting into the newest bucket.
        let fresh = self.buckets.back().map_or(true, |b| now_ms.saturating_sub(b.start_ms) >= self.bucket_ms);
        if fresh {
            self.buckets.push_back(Bucket { start_ms: now_ms, successes: 0, failures: 0 });
        }
        self.buckets.back_mut().expect("a bucket was just ensured")
    }

    pub fn record(&mut self, now_ms: i64, success: bool) {
        let bucket = self.current(now_ms);
        if success {
            bucket.successes += 1;
        } else {
            bucket.failures += 1;
        }
        if success {
            self.total.successes += 1;
        } else {
            self.total.failures += 1;
        }
    }

    pub fn health(&mut self, now_ms: i64) -> Health {
        self.expire(now_ms);
        self.total
    }

    pub fn clear(&mut self) {
        self.buckets.clear();
        self.total = Health::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_within_the_window_and_forgets_whole_buckets() {
        let mut w = Window::new(1_000);
        w.record(0, false);
        w.record(50, true);
        w.record(150, false);
        assert_eq!(w.health(999), Health { successes: 1, failures: 2 });
        // The first bucket (0..100) leaves at 1000; the second (150) at 1150.
        assert_eq!(w.health(1_000), Health { successes: 0, failures: 1 });
        assert_eq!(w.health(1_150), Health::default());
    }

    #[test]
    fn a_clock_going_backwards_counts_into_the_newest_bucket() {
        let mut w = Window::new(1_000);
        w.record(500, false);
        w.record(100, true);
        assert_eq!(w.health(100), Health { successes: 1, failures: 1 });
    }

    #[test]
    fn ratio_of_an_empty_window_is_zero() {
        assert_eq!(Health::default().failure_ratio(), 0.0);
        assert_eq!(Health { successes: 1, failures: 3 }.failure_ratio(), 0.75);
    }
}
