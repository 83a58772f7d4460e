//! When a shutdown signal repeats the first: one request sent twice by a
//! tool, or an operator's second, who will not wait for the drain. Told
//! apart by the time between them alone. The sender's process id
//! (`siginfo`'s `si_pid`) would not do: a terminal's Ctrl-C comes from the
//! kernel each time, with none, and two presses however far apart would
//! look like one tool's repeat.
//! Plain arithmetic, which the signal handler in `sys.rs` calls (the clock's
//! reading in nanoseconds too): no allocation, no lock, no panic.

use std::time::Duration;

/// How soon after the first shutdown signal a later one is the same
/// request sent twice, not an operator's second. GNU `timeout`, and
/// anything that signals a process and then its process group, sends its
/// signal twice, microseconds apart, and the handler may run between the
/// two; the gap grows only if the sender is preempted between its sends
/// (docs/defenses.md has the gaps measured). A person's deliberate second
/// signal comes after seeing that the first one is draining: a visual
/// reaction time at the least, a quarter of a second, and seconds in
/// practice. A reflexive double Ctrl-C inside it counts once; a third
/// exits.
pub const SAME_REQUEST: Duration = Duration::from_millis(200);

/// Whether a signal at `now` (`None`: unknown, a second) repeats the first
/// request, at `first`: less than [`SAME_REQUEST`] apart either way, since
/// two threads may each run the handler at once, and the one that reads
/// the clock first may note its time last.
pub fn same_request(first: u64, now: Option<u64>) -> bool {
    now.is_some_and(|now| u128::from(now.abs_diff(first)) < SAME_REQUEST.as_nanos())
}

/// A `struct timespec`'s seconds and nanoseconds in nanoseconds,
/// saturating: a monotonic clock's reading, never negative, reaches
/// `u64::MAX` after 584 years.
pub fn nanos(seconds: i64, nanos: i64) -> u64 {
    let seconds = u64::try_from(seconds).unwrap_or(0);
    let nanos = u64::try_from(nanos).unwrap_or(0);
    seconds.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_signal_within_the_window_is_the_same_request() {
        let first = 5_000 * MS;
        assert!(same_request(first, Some(first)));
        assert!(same_request(first, Some(first + 199 * MS)));
        // Read before the first was noted, in another thread.
        assert!(same_request(first, Some(first - 3 * MS)));
    }

    #[test]
    fn a_signal_past_the_window_or_of_unknown_time_is_a_second() {
        let first = 5_000 * MS;
        assert!(!same_request(first, Some(first + 200 * MS)));
        assert!(!same_request(first, Some(first + 2_000 * MS)));
        assert!(!same_request(first, None));
        // The first's time unknown.
        assert!(!same_request(u64::MAX, Some(first)));
    }

    /// A clock reading is its seconds and nanoseconds in nanoseconds, and
    /// never wraps: a wrong scale would shrink or stretch the window (a
    /// second counted as a millisecond puts a repeat sent across a second's
    /// boundary 800 ms away, an operator's second), and a negative field,
    /// which no monotonic clock gives, counts as 0.
    #[test]
    fn a_clock_reading_is_its_nanoseconds() {
        assert_eq!(nanos(3, 250 * MS as i64), 3_250 * MS);
        assert_eq!(nanos(0, 7), 7);
        assert_eq!(nanos(-1, -1), 0);
        assert_eq!(nanos(i64::MAX, 999_999_999), u64::MAX);
    }
}
