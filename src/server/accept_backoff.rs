//! When `accept` fails: out of file descriptors (`EMFILE`), or out of
//! kernel memory, the failure lasts until some connection closes, and an
//! accept loop that simply retries spins at full speed, one log line per
//! spin.
//!
//! [`AcceptBackoff`] makes the loop pause instead, longer after each failure
//! in a row (from [`FIRST_PAUSE`] up to [`LONGEST_PAUSE`]), and log once per
//! burst: one line when it starts, one when accepting works again. Nothing
//! else is needed to recover: the pending connections wait in the listen
//! backlog, and the first accept after a descriptor frees takes one.
//! (Servers that must answer even then keep a spare descriptor to close,
//! accept and refuse with; with a connection cap below the descriptor limit
//! the cap usually answers first, which is why `serve` warns at start when
//! `ulimit -n` cannot hold twice `--max-connections` (the connections served
//! and as many whose close waits for the client). Not always: each connection
//! turned away keeps its descriptor while its 503 lingers, up to a second,
//! so a flood past the cap can use up a limit the cap fits in, and then it
//! meets these pauses: its clients wait in the listen backlog, and are
//! answered as the lingering sockets close.)

use std::io;
use std::time::{Duration, Instant};

use crate::measure::log;
use crate::measure::proc_status;

/// First pause after a failed accept: short, as most bursts are.
pub const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// Longest pause: a descriptor that frees is taken within this. A shutdown
/// asked for meanwhile does not wait for it: the accept loop sleeps the
/// pause in steps of its `ACCEPT_WAKE` (100 ms) and checks for a stop
/// after each (`server/mod.rs`, `sleep_unless`).
pub const LONGEST_PAUSE: Duration = Duration::from_millis(500);

/// The accept loop's memory of the current burst of failures.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    /// Failures in a row so far, 0 while accepting works.
    failures: u64,
    /// When the burst began, for the recovery line.
    since: Option<Instant>,
}

impl AcceptBackoff {
    /// Records a failed accept and returns how long to pause. Logs only the
    /// burst's first failure.
    pub fn failed(&mut self, error: &io::Error) -> Duration {
        if self.failures == 0 {
            self.since = Some(Instant::now());
            log::line(format!(
                "backpressure: accept failed: {error}; pausing up to {} ms between tries until it works",
                LONGEST_PAUSE.as_millis()
            ));
        }
        self.failures += 1;
        let doublings = u32::try_from(self.failures - 1).unwrap_or(u32::MAX).min(16);
        FIRST_PAUSE
            .saturating_mul(1 << doublings)
            .min(LONGEST_PAUSE)
    }

    /// Records an accept that worked; ends a burst with one line.
    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            let took = self.since.map_or(Duration::ZERO, |since| since.elapsed());
            log::line(format!(
                "backpressure: accepting again after {} failed accepts in {} ms",
                self.failures,
                took.as_millis()
            ));
            self.failures = 0;
            self.since = None;
        }
    }
}

/// Descriptors to keep free besides two per connection slot (one served,
/// one whose close waits for its client): the listener, stdio and the
/// turned-away connections that linger a moment for their 503. A few dozen
/// cover ordinary load; a flood is not covered:
/// it can hold [`MAX_LINGERING`](crate::defense::connection_cap::MAX_LINGERING)
/// lingering and as many again queued for the lingering thread, 2,048, and
/// meets the pauses above instead.
pub const SPARE_DESCRIPTORS: u64 = 64;

/// A warning, if the open-file limit cannot hold twice `max_connections`
/// connections (one descriptor each) besides the descriptors open now and
/// [`SPARE_DESCRIPTORS`]: a connection whose response is out gives its slot
/// back while its close waits for the client, and as many such closes as
/// slots keep their socket meanwhile (`connection.rs`). Past the limit the
/// cap never fires: accept fails with `EMFILE` instead of answering 503,
/// and new clients wait. A limit with no descriptor free, which `/proc`
/// cannot even be opened to count, is warned of too: every accept fails.
pub fn descriptor_warning(max_connections: usize) -> Option<String> {
    let Some((limit, open)) = proc_status::open_files() else {
        // A file every system has, opened only to see whether a descriptor
        // is free, and closed at once (dropped); a `/proc` that is missing
        // (no descriptor spent on it) is no warning.
        let none_free =
            std::fs::File::open("/dev/null").is_err_and(|e| e.raw_os_error() == Some(EMFILE));
        return none_free.then(|| {
            "backpressure: warning: ulimit -n leaves no descriptor free: every accept \
             fails (EMFILE) and clients wait; raise ulimit -n"
                .to_string()
        });
    };
    limit_warning(limit, open, max_connections)
}

/// [`descriptor_warning`]'s rule, given the soft `limit` on descriptors and
/// those `open` now.
fn limit_warning(limit: u64, open: u64, max_connections: usize) -> Option<String> {
    let needed = open
        .saturating_add((max_connections as u64).saturating_mul(2))
        .saturating_add(SPARE_DESCRIPTORS);
    (limit < needed).then(|| {
        format!(
            "backpressure: warning: ulimit -n is {limit} with {open} descriptors in use, \
             but --max-connections {max_connections} needs about {needed}: past about {} \
             connections accept fails (EMFILE) and new clients wait; raise ulimit -n or \
             lower --max-connections",
            limit.saturating_sub(open)
        )
    })
}

/// `errno` when the process has no descriptor free (`<errno.h>`).
const EMFILE: i32 = 24;

/// The errors Linux's `accept` passes on from the new connection itself,
/// which accept(2) says to retry at once, as `EAGAIN` (`<errno.h>`):
/// `EPERM` (a firewall rule), `ENONET`, `EPROTO`, `ENOPROTOOPT`,
/// `EOPNOTSUPP`, `ENETDOWN`, `ENETUNREACH`, `EHOSTDOWN`, `EHOSTUNREACH`.
/// The next connection in the backlog may be fine.
const PER_CONNECTION_ERRNOS: [i32; 9] = [1, 64, 71, 92, 95, 100, 101, 112, 113];

/// Whether a failed accept is the kind that lasts (descriptors or memory
/// exhausted), rather than one connection's problem (reset before it was
/// accepted, a network error of its own) or a signal, which need no pause.
pub fn is_exhaustion(error: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS and ENOMEM have no `ErrorKind` of their own
    // that std guarantees, so the test goes the other way: what is known to
    // be about one client is not exhaustion, and anything else is paused
    // on, since an error the list does not know is better logged and paused
    // on than retried at full speed.
    let its_own = error
        .raw_os_error()
        .is_some_and(|errno| PER_CONNECTION_ERRNOS.contains(&errno));
    !its_own
        && error.kind() != io::ErrorKind::ConnectionAborted
        && error.kind() != io::ErrorKind::Interrupted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_longest_and_reset_on_success() {
        let mut backoff = AcceptBackoff::default();
        let emfile = io::Error::from_raw_os_error(24);
        let pauses: Vec<u128> = (0..8)
            .map(|_| backoff.failed(&emfile).as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 500, 500]);
        backoff.succeeded();
        assert_eq!(backoff.failed(&emfile), FIRST_PAUSE);
    }

    /// A burst of failures, however long, is two lines: its first failure,
    /// and the accept that works again, with how many failed; an accept
    /// that works outside a burst says nothing.
    #[test]
    fn a_burst_is_logged_once_at_each_end() {
        let exhausted = io::Error::other("a burst of this test's own");
        let ((), lines) = log::capture(|| {
            let mut backoff = AcceptBackoff::default();
            for _ in 0..3 {
                backoff.failed(&exhausted);
            }
            backoff.succeeded();
            backoff.succeeded();
        });
        let failed = "backpressure: accept failed: a burst of this test's own; pausing";
        let failed = lines.iter().filter(|l| l.starts_with(failed)).count();
        assert_eq!(failed, 1, "{lines:#?}");
        let again = "backpressure: accepting again after 3 failed accepts in ";
        let again = lines.iter().filter(|l| l.starts_with(again)).count();
        assert_eq!(again, 1, "{lines:#?}");
    }

    /// Twice the cap, the descriptors open and the spare ones must fit
    /// the limit: 1,024 with 10 open holds a cap of 475 (10 + 950 + 64),
    /// not 476.
    #[test]
    fn warns_only_when_the_cap_cannot_be_reached() {
        assert_eq!(limit_warning(1024, 10, 475), None);
        let warning = limit_warning(1024, 10, 476).expect("a warning at 476");
        assert!(
            warning.contains("ulimit -n is 1024 with 10 descriptors in use")
                && warning.contains("--max-connections 476 needs about 1026"),
            "{warning}"
        );
        // A cap too big to count does not wrap to a small need.
        assert!(limit_warning(u64::MAX - 1, 10, usize::MAX).is_some());
    }

    /// And the rule is read with this process's own limit and descriptors.
    #[test]
    fn the_warning_reads_this_process() {
        let (limit, open) = proc_status::open_files().expect("/proc/self/limits and fd");
        if let Ok(over) = usize::try_from(limit.saturating_add(1)) {
            let warning = descriptor_warning(over).expect("a cap past the limit");
            assert!(
                warning.contains(&format!("ulimit -n is {limit}")),
                "{warning} ({open} open)"
            );
        }
    }

    #[test]
    fn only_lasting_failures_pause() {
        assert!(is_exhaustion(&io::Error::from_raw_os_error(24)));
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert!(!is_exhaustion(&aborted));
        // A signal that lands during accept (SIGTERM's, say) is no
        // exhaustion: no pause, and no "accept failed" line in the log.
        let interrupted = io::Error::from(io::ErrorKind::Interrupted);
        assert!(!is_exhaustion(&interrupted));
    }

    /// The new connection's own network errors, which accept(2) says to
    /// retry at once, neither pause the loop nor log "accept failed"; an
    /// error the server does not know (EBADF here) still pauses, since
    /// retrying it at once could spin.
    #[test]
    fn a_connections_own_network_error_does_not_pause() {
        for errno in [1, 64, 71, 92, 95, 100, 101, 112, 113] {
            let error = io::Error::from_raw_os_error(errno);
            assert!(!is_exhaustion(&error), "errno {errno} ({error}) paused on");
        }
        for errno in [EMFILE, 23, 105, 12, 9] {
            let error = io::Error::from_raw_os_error(errno);
            assert!(
                is_exhaustion(&error),
                "errno {errno} ({error}) not paused on"
            );
        }
    }
}
