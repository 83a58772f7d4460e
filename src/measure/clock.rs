//! The wall clock, read in one place: now, as whole seconds since the Unix
//! epoch, for the `Date` field every response head carries and the stamp
//! every log line starts with.
//!
//! `http/` formats a head but has no clock (it is bytes only), so whoever
//! sends a head reads the time here, at the moment it is sent. Only whole
//! seconds: that is all an IMF-fixdate can say.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in seconds since 1970-01-01T00:00:00Z. A clock set before 1970 reads
/// as the epoch itself: a wrong `Date` is better than no response.
/// Async-signal-safe, as the log's stamp needs: `SystemTime::now` is one
/// `clock_gettime`, on POSIX's list.
pub fn now_unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
