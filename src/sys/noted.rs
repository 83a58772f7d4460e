//! What the signal handlers in `sys.rs` know of the server, noted before
//! they may run and kept in atomics, since a handler may take no lock: the
//! first shutdown signal's time, how an exit's line begins, the port the
//! server listens on and the highest descriptor a connection has had.

use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

/// The monotonic clock's reading, in nanoseconds, at the first shutdown
/// signal (`u64::MAX` if it could not be read, which no later signal is
/// within [`SAME_REQUEST`](super::repeated_signal::SAME_REQUEST) of); 0 before one came. Only
/// the handler writes.
pub(super) static FIRST_SIGNAL_AT: AtomicU64 = AtomicU64::new(0);

/// Whether a shutdown signal has arrived since [`on_shutdown_signals`](super::on_shutdown_signals).
pub fn shutdown_requested() -> bool {
    FIRST_SIGNAL_AT.load(Ordering::SeqCst) != 0
}

/// Writes the start of an exit's line (the log's time stamp) into the
/// buffer given, and says how many bytes: the signal handler calls it, so
/// it must be async-signal-safe, with no allocation and no lock.
pub type LineStart = fn(&mut [u8]) -> usize;

/// The handlers' [`LineStart`] (a second signal's, an abort's), set before
/// they are installed.
pub(super) static SIGNAL_LINE_START: OnceLock<LineStart> = OnceLock::new();

/// The port the server listens on, and the highest descriptor any of its
/// connections has had: how a second signal's (or an abort's) handler
/// finds the connections, since it may not take the lock of their list.
pub(super) static LISTEN_PORT: AtomicU32 = AtomicU32::new(u32::MAX);
pub(super) static HIGHEST_CONNECTION_FD: AtomicI32 = AtomicI32::new(-1);

/// Notes the port the server listens on, for the second signal (and an
/// abort).
pub fn note_listener(port: u16) {
    LISTEN_PORT.store(u32::from(port), Ordering::SeqCst);
}

/// Notes a connection just accepted, for the second signal (and an abort).
pub fn note_connection(socket: &impl AsRawFd) {
    HIGHEST_CONNECTION_FD.fetch_max(socket.as_raw_fd(), Ordering::SeqCst);
}
