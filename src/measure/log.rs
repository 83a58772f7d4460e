//! The log is a stream too, so it gets backpressure of its own: one logger
//! thread writes stderr, behind a bounded queue, and a full queue drops
//! lines (counted) instead of making anyone wait.
//!
//! stderr is a pipe to whatever collects the log, and that reader can be
//! slow, stalled or dead. Written synchronously, a log is the one place where
//! a client can make the server wait on someone else's reader: once the
//! pipe's 64 KiB fill, every thread that logs blocks, the accept loop too,
//! and the server answers nothing. `eprintln!` is worse: it panics when the
//! write fails. So every line goes through [`line()`], which never blocks and
//! never fails:
//!
//! - the queue holds at most [`LOG_QUEUE_LINES`] lines; when it is full the
//!   line is dropped and counted in `backpressure_log_lines_dropped_total
//!   {reason="queue-full"}`, the same choice the bounded strategy cannot
//!   make for an export (its bytes must all arrive) but a log can;
//! - the logger thread writes each line whole before the next, waiting
//!   out a non-blocking stderr's `EAGAIN` as a blocking write would, so
//!   lines never interleave; a failed write (stderr closed, its reader
//!   gone) is counted as `reason="write-failed"` and the thread goes on;
//! - one line waits for room: the last, handed to [`Logger::stop`] (the
//!   shutdown's summary, or why `serve` could not announce itself), which
//!   waits for the queue to be written anyway. A log backed up at the end
//!   would otherwise drop the line its operator reads first;
//! - panics are logged the same way ([`log_panics`]): the default panic
//!   hook writes stderr directly, and would block a panicking thread on a
//!   full pipe;
//! - every line starts with when it was logged, the access log's RFC 3339
//!   stamp (`2026-11-22T06:40:12Z backpressure: shutting down: …`), so that
//!   an operator can line up a warning, a request and the shutdown. The
//!   stamp is taken here, when the line is handed over, not when the
//!   logger gets to it; [`write_stamp`] writes it without allocating, so
//!   the lines of an exit from a signal handler (`sys.rs`) get it too.
//!
//! Before [`Logger::start`] (`serve` failing to start, unit tests) a line
//! is written directly, as no client can be waiting then. The command
//! line's usage errors and the demo's lines do not come here, and are not
//! stamped: they answer whoever typed the command, as it runs.

use std::io::{self, Write};
use std::panic;
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::clock::now_unix_seconds;
use super::metrics::{LogDrop, METRICS};
use crate::export::calendar::{RFC3339_LEN, UtcDateTime};

/// Most lines waiting for the logger thread: 1,024. An access-log line is
/// about 150 bytes (at most about 8.5 KiB, its request field cut at
/// `access_log::MAX_LOGGED_REQUEST_BYTES`), so the queue holds about
/// 150 KiB, 8.6 MiB at worst, and a second of logging at a thousand
/// requests a second. A real service sizes
/// it to ride out its collector's hiccups, and alerts on the drop counter.
pub const LOG_QUEUE_LINES: usize = 1024;

/// Stack of the logger thread: a loop around one line's write.
const LOGGER_STACK_BYTES: usize = 64 * 1024;

/// How often a non-blocking stderr with no room is tried again.
const STDERR_POLL: Duration = Duration::from_millis(10);

/// How often [`Logger::stop`] tries again to queue its last line, or its
/// stop, while the queue is full.
const STOP_RETRY: Duration = Duration::from_millis(10);

/// What the logger thread is handed.
enum Message {
    /// One line, with its newline.
    Line(String),
    /// Everything before this is written: end the thread.
    Stop,
}

/// The queue to the logger thread, once it runs.
static QUEUE: OnceLock<SyncSender<Message>> = OnceLock::new();

/// Bytes of the stamp every line starts with, and the space after it.
const STAMP_BYTES: usize = RFC3339_LEN + 1;

/// Writes the stamp of now, and a space, into the start of `out`, and says
/// how many bytes it wrote: [`STAMP_BYTES`], or none if `out` is shorter.
/// Async-signal-safe, for the exit lines a signal handler writes: the clock
/// is `clock_gettime`, the rest arithmetic on the caller's buffer, with no
/// allocation, no lock and no panic.
pub fn write_stamp(out: &mut [u8]) -> usize {
    stamp_at(now_unix_seconds(), out)
}

/// [`write_stamp`] at `unix_seconds`.
fn stamp_at(unix_seconds: u64, out: &mut [u8]) -> usize {
    let Some(start) = out.first_chunk_mut::<STAMP_BYTES>() else {
        return 0;
    };
    let mut stamp = [0; RFC3339_LEN];
    UtcDateTime::from_unix_seconds(unix_seconds).write_rfc3339(&mut stamp);
    start[..RFC3339_LEN].copy_from_slice(&stamp);
    start[RFC3339_LEN] = b' ';
    STAMP_BYTES
}

/// `text` as a line of the log: stamped with `unix_seconds`, and a newline.
fn stamped(unix_seconds: u64, text: &str) -> String {
    let mut stamp = [0; STAMP_BYTES];
    let len = stamp_at(unix_seconds, &mut stamp);
    let mut line = String::with_capacity(len + text.len() + 1);
    line.push_str(&String::from_utf8_lossy(&stamp[..len]));
    line.push_str(text);
    line.push('\n');
    line
}

/// Logs `text` as one line, stamped with now; never blocks, never fails.
/// With the logger running, a full queue drops the line and counts it.
pub fn line(text: impl AsRef<str>) {
    let text = stamped(now_unix_seconds(), text.as_ref());
    match QUEUE.get() {
        Some(queue) => match queue.try_send(Message::Line(text)) {
            Ok(()) => {}
            // Disconnected: the logger has stopped, at shutdown's very end;
            // counted as queue-full, since both are a line with nowhere to
            // wait, and a reason of its own would only ever count a few.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                METRICS.log_dropped(LogDrop::QueueFull);
            }
        },
        None => write_line(&text),
    }
}

/// Writes one line to stderr, whole, counting a failure.
fn write_line(text: &str) {
    if cfg!(test) {
        #[cfg(test)]
        if let Some(lines) = captured().as_mut() {
            // Past its stamp, which `tests` below checks.
            lines.push(
                text.get(STAMP_BYTES..)
                    .unwrap_or(text)
                    .trim_end()
                    .to_string(),
            );
        }
        // Unit tests log too; the test harness captures only `eprint!`.
        eprint!("{text}");
        return;
    }
    if write_waiting(io::stderr().lock(), text.as_bytes(), STDERR_POLL).is_err() {
        METRICS.log_dropped(LogDrop::WriteFailed);
    }
}

/// Writes all of `bytes` as a blocking `write_all` would, also when `out`
/// says `WouldBlock`: a stderr its parent made non-blocking (the flag is
/// the open pipe's, which both hold) says so when the pipe is full, a
/// reader behind, not gone. Failed, the line would be lost while the
/// queue had room, or cut short past the pipe's atomic size (`PIPE_BUF`),
/// the next line glued to its half; asked again after `poll`, it waits in
/// the logger thread, as on a blocking stderr.
fn write_waiting(mut out: impl Write, mut bytes: &[u8], poll: Duration) -> io::Result<()> {
    while !bytes.is_empty() {
        match out.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => bytes = bytes.get(written..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(poll),
            Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
            Err(_) => {}
        }
    }
    Ok(())
}

/// The running logger thread: stop it to flush what is queued.
#[derive(Debug)]
pub struct Logger {
    /// Joined once the thread has said it is done.
    thread: JoinHandle<()>,
    /// The thread's last act: says it wrote everything and is ending.
    done: Receiver<()>,
}

impl Logger {
    /// Starts the logger thread and sends every later [`line()`] (and every
    /// panic message) to it. Only the first call in a process installs one:
    /// a later one returns an error, and the thread it started ends at once.
    pub fn start() -> io::Result<Logger> {
        let (queue, lines) = mpsc::sync_channel(LOG_QUEUE_LINES);
        let (said_done, done) = mpsc::sync_channel(1);
        let thread = thread::Builder::new()
            .name("logger".into())
            .stack_size(LOGGER_STACK_BYTES)
            .spawn(move || {
                for message in lines {
                    match message {
                        Message::Line(text) => write_line(&text),
                        Message::Stop => break,
                    }
                }
                let _ = said_done.send(());
            })?;
        if QUEUE.set(queue).is_err() {
            return Err(io::Error::other("a logger is already running"));
        }
        log_panics();
        Ok(Logger { thread, done })
    }

    /// Logs `last`, writes what is queued and ends the thread, waiting at
    /// most `timeout` in all; true if it ended. Where [`line()`] drops a
    /// line that finds the queue full, this waits for room: `last` is the
    /// run's last word (its summary, or why it could not serve), the line
    /// its operator reads first, and a shutdown has nothing else left to do. A stderr that never drains can hold
    /// the thread in a write forever: then it is not waited for (the
    /// process is about to exit), the one thread a shutdown leaves running.
    pub fn stop(self, last: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        // Set by `start`, the one way to a `Logger`: never `None` here.
        let Some(queue) = QUEUE.get() else {
            return false;
        };
        let last = Message::Line(stamped(now_unix_seconds(), last));
        for message in [last, Message::Stop] {
            if !send_by(queue, message, deadline) {
                return false;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.done.recv_timeout(left) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => self.thread.join().is_ok(),
            Err(RecvTimeoutError::Timeout) => false,
        }
    }
}

/// Queues `message`, trying again every [`STOP_RETRY`] while the queue is
/// full, until `deadline`; false if it is full still. A queue the thread
/// has left takes nothing, and needs no waiting for either.
fn send_by(queue: &SyncSender<Message>, mut message: Message, deadline: Instant) -> bool {
    loop {
        match queue.try_send(message) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => return true,
            Err(TrySendError::Full(again)) if Instant::now() < deadline => {
                message = again;
                thread::sleep(STOP_RETRY);
            }
            Err(TrySendError::Full(_)) => return false,
        }
    }
}

/// Sends panic messages through [`line()`], one line each: which thread,
/// where, and what it said. (The default hook would also print a backtrace
/// under `RUST_BACKTRACE`; a line per panic is what an access log can
/// carry.)
pub fn log_panics() {
    panic::set_hook(Box::new(|info| {
        let thread = thread::current();
        let name = thread.name().unwrap_or("unnamed");
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(not a string)");
        let location = info
            .location()
            .map_or_else(|| "?".to_string(), ToString::to_string);
        // One line, whatever the message held.
        let message = message.replace(['\n', '\r'], " ");
        line(format!(
            "backpressure: thread '{name}' panicked at {location}: {message}"
        ));
    }));
}

/// The lines logged while a unit test [captures](capture) them.
#[cfg(test)]
fn captured() -> std::sync::MutexGuard<'static, Option<Vec<String>>> {
    static CAPTURED: std::sync::Mutex<Option<Vec<String>>> = std::sync::Mutex::new(None);
    CAPTURED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `f` and returns, with its value, every line logged meanwhile, by
/// any thread, without its stamp and newline: a unit test's look at the
/// log. One test captures at a time; another test's lines logged meanwhile
/// are among them, so a test picks out its own (by its client's address).
#[cfg(test)]
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    /// Ends the capture however `f` ends: a test that panics in it must
    /// not leave every later test's lines piling up. Dropped before `_one`.
    struct Stop;
    impl Drop for Stop {
        fn drop(&mut self) {
            captured().take();
        }
    }
    *captured() = Some(Vec::new());
    let _stop = Stop;
    let value = f();
    let lines = captured().take().unwrap_or_default();
    (value, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The access log's example instant.
    const AT: u64 = 1_795_329_612;

    #[test]
    fn a_line_starts_with_its_stamp_and_ends_with_a_newline() {
        assert_eq!(
            stamped(AT, "backpressure: shutting down"),
            "2026-11-22T06:40:12Z backpressure: shutting down\n"
        );
        assert_eq!(stamped(0, ""), "1970-01-01T00:00:00Z \n");
    }

    /// What a signal handler is given: the stamp in the start of its
    /// buffer, the rest untouched, and nothing written where it does not
    /// fit.
    #[test]
    fn the_stamp_is_written_into_the_buffer_given() {
        let mut out = [b'.'; 24];
        assert_eq!(stamp_at(AT, &mut out), STAMP_BYTES);
        assert_eq!(&out, b"2026-11-22T06:40:12Z ...");
        let mut short = [b'.'; STAMP_BYTES - 1];
        assert_eq!(stamp_at(AT, &mut short), 0);
        assert_eq!(short, [b'.'; STAMP_BYTES - 1]);
        let mut now = [0; STAMP_BYTES];
        assert_eq!(write_stamp(&mut now), STAMP_BYTES);
        assert!(now.starts_with(b"20") && now.ends_with(b"Z "), "{now:?}");
    }

    /// A stderr's "no room yet" and interruptions are waited out, each
    /// partial write continued where it stopped; another error fails.
    #[test]
    fn a_line_is_written_whole_through_would_block() {
        use io::ErrorKind::{BrokenPipe, Interrupted, WouldBlock};
        struct Scripted(Vec<io::Result<usize>>, Vec<u8>);
        impl Write for Scripted {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                let answer = self.0.remove(0);
                if let Ok(n) = answer {
                    self.1.extend_from_slice(&bytes[..n]);
                }
                answer
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let full = || Err(WouldBlock.into());
        let script = vec![
            full(),
            Ok(3),
            full(),
            Err(Interrupted.into()),
            Ok(4),
            Ok(5),
            Ok(1),
        ];
        let mut out = Scripted(script, Vec::new());
        assert!(write_waiting(&mut out, b"a whole line", Duration::ZERO).is_ok());
        assert_eq!((out.1.as_slice(), out.0.len()), (&b"a whole line"[..], 1));
        let mut out = Scripted(vec![full(), Ok(2), Err(BrokenPipe.into())], Vec::new());
        assert!(write_waiting(&mut out, b"cut", Duration::ZERO).is_err());
    }

    /// A write that takes nothing, and says no error, is a failure: waited
    /// on, it would spin the logger thread for ever.
    #[test]
    fn a_write_of_nothing_is_a_failure() {
        /// Takes nothing, once; a second call is an error of another kind.
        struct Zero(bool);
        impl Write for Zero {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                match std::mem::replace(&mut self.0, true) {
                    false => Ok(0),
                    true => Err(io::Error::other("written to again")),
                }
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let written = write_waiting(Zero(false), b"x", Duration::ZERO);
        assert_eq!(written.unwrap_err().kind(), io::ErrorKind::WriteZero);
    }

    /// A panic is one log line, whatever its message holds: a CR, too,
    /// would let the message pass for a line of its own.
    #[test]
    fn a_panic_is_logged_on_one_line() {
        let (_, lines) = capture(|| {
            let previous = panic::take_hook();
            log_panics();
            let _ = panic::catch_unwind(|| panic!("a test's own: one\rtwo\nthree"));
            panic::set_hook(previous);
        });
        // Another test's lines may be among them (`capture`).
        let ours: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("a test's own"))
            .collect();
        assert_eq!(ours.len(), 1, "{lines:?}");
        assert!(ours[0].ends_with("one two three"), "{lines:?}");
    }
}
