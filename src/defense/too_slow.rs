//! What counts as too slow a client, as values: the minimum data rate and
//! the time it allows a write, and which of the two rules a failed write
//! broke.
//!
//! The rules are enforced in two places, so they live apart from both:
//! `send_deadline.rs`'s `DeadlineWriter` holds every write to a client's
//! socket to them, and HTTP/2's hand-off (`server/h2/hand_off.rs`) holds
//! each stream's wait for its connection's writer to the minimum rate.
//! Either one's abort carries a [`TooSlow`] in its `io::Error`, so that
//! whoever ends the response can count it by reason (`End::SendTimeout`,
//! `End::MinRate`).
//!
//! The arithmetic is total: no rate, size or grace a caller passes can
//! overflow a `Duration` or an `Instant` and panic the thread of a
//! connection or a stream.

use std::error::Error;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

/// The minimum response data rate, with its grace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinDataRate {
    /// The slowest acceptable drain, in bytes per second (at least 1).
    pub bytes_per_second: u64,
    /// Time every write gets, however small: a brief stall of a good client
    /// (a phone switching cells) is not an attack.
    pub grace: Duration,
}

impl MinDataRate {
    /// How long a write of `bytes` may take: `max(grace, bytes / rate)`.
    pub fn allowance(&self, bytes: u64) -> Duration {
        let rate = self.bytes_per_second.max(1);
        // Whole seconds, then the remainder in nanoseconds: exact, and no
        // overflow for any u64.
        let nanos = u128::from(bytes % rate) * 1_000_000_000 / u128::from(rate);
        let at_rate = Duration::new(bytes / rate, nanos as u32);
        at_rate.max(self.grace)
    }

    /// When a write of `bytes` begun at `from` must be done: `from` plus
    /// its [allowance](Self::allowance). Total, as the allowance is: the
    /// flags keep both far below it, but past what an `Instant` holds the
    /// deadline is as late as one goes, never an overflow that panics the
    /// thread of a connection (or, over HTTP/2, of a stream).
    pub fn deadline(&self, from: Instant, bytes: u64) -> Instant {
        saturating_after(from, self.allowance(bytes))
    }
}

/// `from + wait`, or as late as an `Instant` goes if that is past it: a
/// limit that long (a `Duration` holds billions of years) is no limit.
pub(super) fn saturating_after(from: Instant, mut wait: Duration) -> Instant {
    loop {
        if let Some(at) = from.checked_add(wait) {
            return at;
        }
        wait /= 2;
    }
}

/// Which rule a failed write broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TooSlow {
    /// Nothing acknowledged by the client for the send timeout, whatever its
    /// kernel took: the client stopped reading.
    SendTimeout,
    /// Progress, but the write was not complete within `max(grace, n/rate)`.
    MinRate,
}

impl fmt::Display for TooSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TooSlow::SendTimeout => "the client acknowledged nothing for --send-timeout",
            TooSlow::MinRate => "the client read slower than --min-rate",
        })
    }
}

impl Error for TooSlow {}

impl TooSlow {
    /// The rule behind `error`, if [`TooSlow::into_error`] made it (a
    /// `DeadlineWriter`, or HTTP/2's hand-off). A plain
    /// timed-out write (the socket's own timeout, set by someone else)
    /// counts as the send timeout.
    pub fn of(error: &io::Error) -> Option<TooSlow> {
        if let Some(too_slow) = error.get_ref().and_then(|e| e.downcast_ref::<TooSlow>()) {
            return Some(*too_slow);
        }
        super::is_timeout(error).then_some(TooSlow::SendTimeout)
    }

    /// The error a write fails with when this rule ends it: what
    /// [`TooSlow::of`] finds again.
    pub fn into_error(self) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, self)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A minimum rate of `bytes_per_second` with `grace`: for these tests
    /// and `send_deadline.rs`'s, which hold writes to it.
    pub(in crate::defense) fn rule(bytes_per_second: u64, grace: Duration) -> MinDataRate {
        MinDataRate {
            bytes_per_second,
            grace,
        }
    }

    #[test]
    fn the_allowance_is_the_larger_of_grace_and_size_over_rate() {
        let kestrel = rule(240, Duration::from_secs(5));
        assert_eq!(kestrel.allowance(0), Duration::from_secs(5));
        assert_eq!(kestrel.allowance(1200), Duration::from_secs(5));
        assert_eq!(kestrel.allowance(2400), Duration::from_secs(10));
        // A 32 KiB chunk at 240 B/s: over two minutes.
        assert_eq!(
            kestrel.allowance(32 * 1024),
            Duration::from_nanos(136_533_333_333)
        );
        let no_grace = rule(1, Duration::ZERO);
        assert_eq!(no_grace.allowance(u64::MAX), Duration::from_secs(u64::MAX));
    }

    #[test]
    fn the_rule_survives_being_carried_in_an_io_error() {
        for rule in [TooSlow::MinRate, TooSlow::SendTimeout] {
            let error = rule.into_error();
            assert_eq!(error.kind(), io::ErrorKind::TimedOut);
            assert_eq!(TooSlow::of(&error), Some(rule));
        }
        let plain_timeout = io::Error::from(io::ErrorKind::WouldBlock);
        assert_eq!(TooSlow::of(&plain_timeout), Some(TooSlow::SendTimeout));
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(TooSlow::of(&reset), None);
    }
}
