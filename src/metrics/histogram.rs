//! A fixed-bucket latency histogram: recording is one bucket increment and one sum
//! increment (relaxed atomics, no lock, no allocation); percentiles come from the buckets.
//!
//! Buckets are log-linear over nanoseconds, four per power of two (each bucket is at most
//! 25 % wide): bucket 0 holds everything below 1,024 ns (about 1 µs), the last one
//! everything from 2^36 ns (about 68.7 s) up. A percentile is reported as the upper bound
//! of the bucket it falls in, so it is never below the true value and at most 25 % above.

use crate::sync::{AtomicU64, Ordering};

/// Values below this (ns) share bucket 0.
const FIRST_POWER: u32 = 10;
/// Values from `2^LAST_POWER` ns up share the last bucket.
const LAST_POWER: u32 = 36;
const SUBS: u32 = 4;
/// Bucket 0, four per power of two from 2^10 to 2^36, and the overflow bucket.
pub(crate) const BUCKETS: usize = 1 + ((LAST_POWER - FIRST_POWER) * SUBS) as usize + 1;

/// The bucket of a latency of `ns` nanoseconds.
pub(crate) fn bucket_of(ns: u64) -> usize {
    if ns < 1 << FIRST_POWER {
        return 0;
    }
    let msb = 63 - ns.leading_zeros();
    if msb >= LAST_POWER {
        return BUCKETS - 1;
    }
    let sub = ((ns >> (msb - 2)) & 3) as u32;
    (1 + (msb - FIRST_POWER) * SUBS + sub) as usize
}

/// The smallest value (ns) that does not fall in bucket `i` any more; `u64::MAX` for the
/// overflow bucket.
pub(crate) fn upper_bound_ns(i: usize) -> u64 {
    if i == 0 {
        return 1 << FIRST_POWER;
    }
    if i >= BUCKETS - 1 {
        return u64::MAX;
    }
    let k = (i - 1) as u32;
    let msb = FIRST_POWER + k / SUBS;
    let sub = (k % SUBS) as u64;
    (5 + sub) << (msb - 2)
}

/// The smallest value (ns) of bucket `i`.
pub(crate) fn lower_bound_ns(i: usize) -> u64 {
    if i == 0 {
        0
    } else {
        upper_bound_ns(i - 1)
    }
}

/// Atomic bucket counts and the sum of all values, in one allocation on cache lines of
/// its own: a push worker writes its subscription's histogram for every message, and
/// publishers read the fields around the handle (queue lock, capacity, condvars) for
/// every message; sharing a line with them made each write a cross-core miss.
pub(crate) struct Histogram(Box<Counts>);

#[repr(align(128))]
struct Counts {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram(Box::new(Counts { buckets: std::array::from_fn(|_| AtomicU64::new(0)), sum_ns: AtomicU64::new(0) }))
    }
}

impl Histogram {
    /// Records one latency; a negative one (a clock that went back) counts as 0.
    #[inline]
    pub fn record_ns(&self, ns: i64) {
        let ns = ns.max(0) as u64;
        self.0.buckets[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        self.0.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// As [`Histogram::record_ns`], for a histogram that only the calling thread writes
    /// (a push subscription's worker): a plain load and store instead of two locked
    /// read-modify-writes. Readers still see whole values.
    #[inline]
    pub fn record_ns_single_writer(&self, ns: i64) {
        let ns = ns.max(0) as u64;
        let bucket = &self.0.buckets[bucket_of(ns)];
        bucket.store(bucket.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.0.sum_ns.store(self.0.sum_ns.load(Ordering::Relaxed).wrapping_add(ns), Ordering::Relaxed);
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self.0.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect(),
            sum_ns: self.0.sum_ns.load(Ordering::Relaxed),
        }
    }

    /// Adds these counts to `into`.
    pub fn add_to(&self, into: &mut HistogramSnapshot) {
        for (acc, b) in into.buckets.iter_mut().zip(self.0.buckets.iter()) {
            *acc += b.load(Ordering::Relaxed);
        }
        into.sum_ns += self.0.sum_ns.load(Ordering::Relaxed);
    }

    /// Adds `other`'s counts to this histogram (a retired subscription's, for the totals).
    pub fn absorb(&self, other: &Histogram) {
        for (mine, theirs) in self.0.buckets.iter().zip(other.0.buckets.iter()) {
            mine.fetch_add(theirs.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        self.0.sum_ns.fetch_add(other.0.sum_ns.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Sets every count to zero.
    pub fn reset(&self) {
        for b in self.0.buckets.iter() {
            b.store(0, Ordering::Relaxed);
        }
        self.0.sum_ns.store(0, Ordering::Relaxed);
    }
}

/// Plain counts of a histogram at one moment; subtract two to get an interval's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistogramSnapshot {
    pub buckets: Vec<u64>,
    pub sum_ns: u64,
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        HistogramSnapshot { buckets: vec![0; BUCKETS], sum_ns: 0 }
    }
}

impl HistogramSnapshot {
    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The counts recorded since `earlier` (saturating, so a reset in between gives the
    /// counts since the reset).
    pub fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self.buckets.iter().zip(&earlier.buckets).map(|(a, b)| a.saturating_sub(*b)).collect(),
            sum_ns: self.sum_ns.saturating_sub(earlier.sum_ns),
        }
    }

    /// The bucket holding the `q`-quantile (0 < q ≤ 1): the first bucket whose cumulative
    /// count reaches `ceil(q × count)`. `None` when empty.
    pub fn quantile_bucket(&self, q: f64) -> Option<usize> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(i);
            }
        }
        Some(BUCKETS - 1)
    }

    /// The `q`-quantile in milliseconds: the upper bound of its bucket (for the overflow
    /// bucket, its lower bound). 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        match self.quantile_bucket(q) {
            None => 0.0,
            Some(i) if i == BUCKETS - 1 => lower_bound_ns(i) as f64 / 1e6,
            Some(i) => upper_bound_ns(i) as f64 / 1e6,
        }
    }

    /// The mean in milliseconds; 0 when empty.
    pub fn mean_ms(&self) -> f64 {
        match self.count() {
            0 => 0.0,
            n => self.sum_ns as f64 / n as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_each_value_falls_inside_its_bucket() {
        for i in 0..BUCKETS - 1 {
            assert_eq!(upper_bound_ns(i), lower_bound_ns(i + 1));
            assert!(upper_bound_ns(i) > lower_bound_ns(i));
        }
        for &v in &[0u64, 1, 1023, 1024, 1279, 1280, 1_000_000, 3_000_000, 999_999_999, 1 << 36, u64::MAX] {
            let b = bucket_of(v);
            assert!(lower_bound_ns(b) <= v, "{v} in {b}");
            assert!(v < upper_bound_ns(b) || b == BUCKETS - 1, "{v} in {b}");
        }
    }

    #[test]
    fn buckets_are_at_most_a_quarter_wide() {
        for i in 1..BUCKETS - 1 {
            let (lo, hi) = (lower_bound_ns(i), upper_bound_ns(i));
            assert!((hi - lo) * 4 <= lo, "bucket {i}: {lo}..{hi}");
        }
    }

    #[test]
    fn quantiles_come_from_the_right_buckets() {
        let h = Histogram::default();
        for _ in 0..90 {
            h.record_ns(1_000_000); // 1 ms
        }
        for _ in 0..9 {
            h.record_ns(10_000_000); // 10 ms
        }
        h.record_ns(100_000_000); // 100 ms
        let s = h.snapshot();
        assert_eq!(s.count(), 100);
        assert_eq!(s.quantile_bucket(0.5), Some(bucket_of(1_000_000)));
        assert_eq!(s.quantile_bucket(0.95), Some(bucket_of(10_000_000)));
        assert_eq!(s.quantile_bucket(0.99), Some(bucket_of(10_000_000)));
        assert_eq!(s.quantile_bucket(1.0), Some(bucket_of(100_000_000)));
        let p50 = s.quantile_ms(0.5);
        assert!((1.0..=1.25).contains(&p50), "{p50}");
        assert!((s.mean_ms() - 2.8).abs() < 1e-9);
    }

    #[test]
    fn negative_latency_counts_as_zero_and_empty_quantiles_are_zero() {
        let h = Histogram::default();
        assert_eq!(h.snapshot().quantile_ms(0.99), 0.0);
        h.record_ns(-5);
        assert_eq!(h.snapshot().buckets[0], 1);
    }
}
