//! What the signal handlers in `sys.rs` know of the server, noted before
//! they may run and kept in atomics, since a handler may take no lock: the
//! first shutdown signal's time, how an exit's line begins and where it
//! goes, the port the server listens on and the highest descriptor a
//! connection has had.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::FileTypeExt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering};

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
    keep_highest(&HIGHEST_CONNECTION_FD, socket.as_raw_fd());
}

/// `highest` becomes `fd` if that is higher, and is never lowered:
/// descriptors are reused lowest first, so a new connection often has a
/// lower number than one still being written.
pub(super) fn keep_highest(highest: &AtomicI32, fd: i32) {
    highest.fetch_max(fd, Ordering::SeqCst);
}

/// How an exit's line reaches stderr
/// ([`exit_cutting_responses`](super::exit_cutting_responses)): one of the
/// `TO_` values below, [`note_stderr`]'s choice. stderr may be a pipe whose
/// reader has stalled, which the log rides out by dropping lines
/// (`measure/log.rs`); a handler that waited there for room would hold the
/// exit at once forever, the process neither serving nor gone. So the line
/// goes where it never waits, and is lost if there is no room.
pub(super) static EXIT_LINE_TO: AtomicU8 = AtomicU8::new(TO_DESCRIPTOR_2);
/// `write` to descriptor 2: a regular file, which never waits for a
/// reader and whose offset a new description would not share; or what
/// [`note_stderr`] could not look at, which then may wait.
pub(super) const TO_DESCRIPTOR_2: u8 = 0;
/// `send` with `MSG_DONTWAIT` to descriptor 2: a socket (journald's).
pub(super) const TO_SOCKET: u8 = 1;
/// `write` to stderr opened again at the exit, non-blocking, through
/// `/proc/self/fd/2`: a pipe or a terminal. A description of its own, so
/// the flag reaches no one sharing stderr's (the shell's terminal stays as
/// it was); opened only then, so that no descriptor is held for it (with
/// none free at the exit, the line is lost).
pub(super) const TO_REOPENED: u8 = 2;

/// Chooses how an exit's line will reach stderr without waiting for room
/// ([`EXIT_LINE_TO`]), from what stderr is.
pub fn note_stderr() -> io::Result<()> {
    let kind = File::from(io::stderr().as_fd().try_clone_to_owned()?)
        .metadata()?
        .file_type();
    let to = if kind.is_socket() {
        TO_SOCKET
    } else if kind.is_fifo() || kind.is_char_device() {
        TO_REOPENED
    } else {
        TO_DESCRIPTOR_2
    };
    EXIT_LINE_TO.store(to, Ordering::SeqCst);
    Ok(())
}
