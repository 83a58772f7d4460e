//! A token bucket: how a client limits itself to a rate, such as a phone on a
//! weak network reading 200 KiB/s (the demo's and `slow-client`'s default).
//!
//! The bucket fills with tokens (bytes) at `rate` per second, up to
//! `capacity`; reading `n` bytes spends `n`, and with none left the reader
//! waits. So over any `t` seconds a reader takes at most `capacity + rate × t`
//! bytes: the rate is the long-run average, the capacity the largest burst.
//!
//! Time is passed in (`now`) rather than read inside, so that the tests can
//! step a clock by hand instead of sleeping.

use std::time::{Duration, Instant};

/// A rate limiter for bytes, refilled continuously from the time elapsed.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// Tokens (bytes) added per second: the long-run rate.
    rate: u64,
    /// Most tokens held: the largest burst after idling.
    capacity: u64,
    /// Tokens available now, fractional so that slow refills are not rounded
    /// away between frequent calls.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    last_refill: Instant,
}

impl TokenBucket {
    /// An empty bucket: `rate` bytes per second, bursts of at most
    /// `capacity`. Empty, so that the rate holds from the first byte (a full
    /// start would let a short download beat the limit). Both are raised to
    /// at least 1, so that it always refills and a 1-byte read is possible.
    pub fn new(rate: u64, capacity: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: rate.max(1),
            capacity: capacity.max(1),
            tokens: 0.0,
            last_refill: now,
        }
    }

    /// Whole tokens available at `now`, never more than the capacity.
    pub fn available(&mut self, now: Instant) -> u64 {
        self.refill(now);
        self.tokens as u64
    }

    /// Spends `n` tokens for bytes just read, clamping at zero rather than going into debt.
    pub fn spend(&mut self, n: u64, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - n as f64).max(0.0);
    }

    /// How long from `now` until `n` tokens (at most the capacity) are available.
    pub fn time_until(&mut self, n: u64, now: Instant) -> Duration {
        self.refill(now);
        let missing = (n.min(self.capacity) as f64 - self.tokens).max(0.0);
        Duration::from_secs_f64(missing / self.rate as f64)
    }

    /// How long a reader that found no token at `now` should sleep: until
    /// half the capacity is back. Not until the bucket is full: a full
    /// bucket stops filling, and every sleep overshoots a little (the
    /// scheduler wakes it late), so a reader that waited for full would
    /// lose what accrued past it on every nap and fall short of its rate.
    pub fn nap(&mut self, now: Instant) -> Duration {
        self.time_until(self.capacity.div_ceil(2), now)
    }

    fn refill(&mut self, now: Instant) {
        // An older `now` than the last (a caller's, not Instant's) adds nothing.
        let elapsed = now.saturating_duration_since(self.last_refill);
        self.tokens =
            (self.tokens + elapsed.as_secs_f64() * self.rate as f64).min(self.capacity as f64);
        self.last_refill = self.last_refill.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_empty_and_never_holds_more_than_its_capacity() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1000, 100, start);
        assert_eq!(bucket.available(start), 0);
        assert_eq!(bucket.available(start + Duration::from_millis(50)), 50);
        // A long idle period refills only up to the capacity.
        assert_eq!(bucket.available(start + Duration::from_secs(60)), 100);
    }

    #[test]
    fn refills_at_the_rate() {
        let ms = Duration::from_millis;
        let start = Instant::now();
        let at = |millis| start + ms(millis);
        let mut bucket = TokenBucket::new(1000, 500, at(0));
        bucket.spend(500, at(0));
        assert_eq!(bucket.available(at(0)), 0, "overspending clamps at zero");
        assert_eq!(bucket.available(at(100)), 100);
        assert_eq!(bucket.available(at(250)), 250);
        assert_eq!(bucket.time_until(500, at(250)), ms(250));
        assert_eq!(bucket.time_until(10, at(250)), Duration::ZERO);
        // Asking for more than the capacity waits only for a full bucket.
        assert_eq!(bucket.time_until(10_000, at(250)), ms(250));
        // A caller's older `now` adds nothing, nor moves the clock back so
        // that the next call counts the same time twice.
        assert_eq!(bucket.available(at(100)), 250);
        assert_eq!(bucket.available(at(250)), 250);
    }

    /// A reader that naps whenever the bucket is empty, and wakes every
    /// nap 2 ms late, still reads at the rate over 10 s: within one
    /// capacity (the bucket starts empty) and a byte per read. Waiting for
    /// a full bucket instead would lose 2 ms of tokens on each 50 ms nap;
    /// waking for less than half of one would spin, a read of a few bytes
    /// per nap: each read takes half the capacity at least.
    #[test]
    fn a_reader_that_wakes_late_still_reads_at_the_rate() {
        let (rate, capacity) = (200_000u64, 10_000u64);
        let start = Instant::now();
        let end = start + Duration::from_secs(10);
        let mut bucket = TokenBucket::new(rate, capacity, start);
        let (mut now, mut total, mut reads) = (start, 0, 0);
        while now < end {
            match bucket.available(now) {
                0 => now += bucket.nap(now) + Duration::from_millis(2),
                n => {
                    bucket.spend(n, now);
                    (total, reads) = (total + n, reads + 1);
                }
            }
        }
        let elapsed = (now - start).as_secs_f64();
        let shortfall = rate as f64 * elapsed - total as f64;
        assert!(
            shortfall <= (capacity + reads) as f64,
            "{total} in {elapsed} s"
        );
        assert!(reads * capacity.div_ceil(2) <= total, "{reads} reads");
    }

    #[test]
    fn never_exceeds_the_rate_over_a_window() {
        // A greedy reader takes everything the bucket allows, every 7 ms, for
        // 10 s, after idling 3 s in the middle (so the bucket is full once).
        // Over every window [i, j] of its reads, what it took must never
        // exceed capacity + rate × (t_j − t_i), and from the start never
        // exceed rate × t.
        let (rate, capacity) = (200_000u64, 10_000u64);
        let start = Instant::now();
        let mut bucket = TokenBucket::new(rate, capacity, start);
        let mut reads: Vec<(Duration, u64)> = Vec::new();
        for step in (1..=700u64).chain(1130..=1430) {
            let now = start + Duration::from_millis(7 * step);
            let n = bucket.available(now);
            bucket.spend(n, now);
            reads.push((now - start, n));
        }
        for i in 0..reads.len() {
            let mut taken = 0;
            for j in i..reads.len() {
                taken += reads[j].1;
                // Read i's bytes accrued before t_i: the window starts a step earlier.
                let window = reads[j].0 - reads[i].0 + Duration::from_millis(7);
                let allowed = capacity as f64 + rate as f64 * window.as_secs_f64();
                assert!(taken as f64 <= allowed + 1.0, "{taken} in {window:?}");
            }
        }
        let mut total = 0;
        for &(at, n) in &reads {
            total += n;
            let allowed = rate as f64 * at.as_secs_f64() + 1.0;
            assert!(total as f64 <= allowed, "{total} by {at:?}");
        }
        // And it is not stingy either: it got the budget minus the idle gap
        // it could not bank beyond one capacity, to within a byte per read.
        let (end, _) = reads[reads.len() - 1];
        let idle = Duration::from_millis(7 * (1130 - 700));
        let budget = rate as f64 * (end - idle).as_secs_f64() + capacity as f64;
        let least = budget - reads.len() as f64;
        assert!(total as f64 > least, "{total} of {budget}");
    }

    #[test]
    fn tiny_values_still_work() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0, 0, start);
        // Raised to 1 byte per second and a 1-byte burst.
        assert_eq!(bucket.available(start + Duration::from_secs(5)), 1);
        bucket.spend(1_000, start + Duration::from_secs(5));
        assert_eq!(bucket.available(start + Duration::from_secs(5)), 0);
        assert_eq!(bucket.available(start + Duration::from_secs(6)), 1);
    }
}
