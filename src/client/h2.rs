//! The phone over HTTP/2: one connection, a big download read at a limited
//! rate, and, a while later, a small request on the same connection, to
//! measure what the download's queue costs it.
//!
//! This file is the connection: it connects, reads at the rate it was
//! given, within the time limit and the idle timeout, sends the second
//! request when it is due and the server's limit on open streams has room,
//! and writes what it owes, waiting for room no later than the time limit;
//! a failed write is read on past, so that the frames the server sent
//! before it still say why. What the client writes and what each frame it
//! reads means, windows and header blocks and which stream a frame is for,
//! is [`super::h2_frames`]'s.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

pub use super::h2_frames::H2Report;
use super::h2_frames::{Conversation, request};
use super::h2_stream::StreamReport;
use super::slow_client::{
    AtTheLimit, CONNECT_TIMEOUT, HttpUrl, READ_POLL, at_the_limit, connect, rate_limit,
};
use crate::http::h2::frame_buffer::FrameBuffer;

/// How a server's answer begins if it speaks HTTP/1.x only: its status
/// line's version, where an h2c server's SETTINGS frame would be.
const HTTP1_ANSWER: &[u8] = b"HTTP/";

/// How the client reads, and what it asks.
#[derive(Clone, Debug)]
pub struct H2Options {
    /// Socket bytes per second; `None` reads as fast as they come.
    pub rate: Option<u64>,
    /// Every stream's window and the connection's: from 65,535 to 2^31 − 1.
    pub window: u32,
    /// A receive buffer of about this many bytes, set before connecting.
    pub receive_buffer: Option<u32>,
    /// Give read bytes back with WINDOW_UPDATE. Off, a stream stops for
    /// good once its window is spent.
    pub replenish: bool,
    /// Never give stream 1's window back, but the connection's and the
    /// others' as `replenish` says: stream 1 stops at its window while the
    /// connection goes on.
    pub starve_first: bool,
    /// A second request on the same connection, and when to send it.
    pub second: Option<(String, Duration)>,
    /// Stop once the second response has ended, however far the first got:
    /// when the second's latency is all that is measured.
    pub stop_after_second: bool,
    /// Give up after this long without a byte (by default
    /// [`IDLE_TIMEOUT`](super::slow_client::IDLE_TIMEOUT)), but for the
    /// wait between stream 1's end and the second request's time.
    pub idle_timeout: Duration,
    /// Bytes read from the socket so far, frames and all, updated after
    /// every read: shared, so that another thread can watch a run in
    /// progress (`slow-client`'s progress lines), as `SlowClient`'s counter.
    pub bytes_read: Arc<AtomicU64>,
}

/// Runs the client until both responses end, `limit` passes, or the
/// connection ends; never more than `options.idle_timeout` without a byte
/// while the server owes one.
pub fn run(url: &HttpUrl, options: &H2Options, limit: Option<Duration>) -> io::Result<H2Report> {
    let started = Instant::now();
    // The limit bounds the whole run: connecting, and each write's wait
    // for room, since a server that does not read must not hold it past.
    let deadline = limit.map(|limit| started + limit);
    let mut socket = connect(url, options.receive_buffer, deadline)?;
    socket.set_nodelay(true)?;
    socket.set_read_timeout(Some(READ_POLL))?;
    socket.set_write_timeout(Some(CONNECT_TIMEOUT))?;

    let mut conversation =
        Conversation::new(options.window, options.replenish, options.starve_first);
    // Each request's clock starts before its write: stamped after, a
    // thread preempted between the two would have its latency shortened
    // by the preemption, the response perhaps already in. Stamped before,
    // it is longer by the write's own microseconds at most.
    let first_sent = Instant::now();
    socket.write_all(&conversation.opening(url))?;

    let mut report = H2Report::default();
    let mut second_sent = None;
    let mut frames = FrameBuffer::default();
    let mut bucket = options.rate.map(|rate| rate_limit(rate, Instant::now()));
    let mut last_byte = Instant::now();
    // The first write that failed: the connection is gone, and only its
    // receive queue is left to read.
    let mut write_failure = None;
    loop {
        // Done when every response asked for has ended; or, told to stop
        // after the second, once it has (the download need not finish). A
        // second request a GOAWAY forbids is not waited for: the report
        // says it was not sent. One a failed write kept back ends the run
        // when the reads reach the end of the receive queue, which after a
        // reset comes at once: the frames in it say why.
        // A stream 3 a GOAWAY left unanswered is as done as it will be.
        let second_done = report.second.as_ref().is_some_and(|s| s.latency.is_some())
            || conversation.unanswered().is_some();
        let second_never = second_sent.is_none() && report.goaway.is_some();
        let done = (report.first.latency.is_some() || options.stop_after_second)
            && (options.second.is_none() || second_done || second_never);
        // A GOAWAY with an error ends the connection; NO_ERROR only means no
        // new streams, and the open ones go on.
        let failed = report.goaway.is_some_and(|code| code != 0);
        if done || failed {
            break;
        }
        if limit.is_some_and(|l| started.elapsed() >= l) {
            report.timed_out = true;
            report.failure = match at_the_limit(&socket) {
                AtTheLimit::Open => None,
                AtTheLimit::Closed => Some("the server closed the connection".into()),
                AtTheLimit::Failed(why) => Some(why),
            };
            break;
        }
        // Not after a GOAWAY: a stream opened then is never answered
        // (RFC 9113 §6.8); nor on a connection a write found gone; nor past
        // the server's limit on streams open at once (§5.1.2), stream 1
        // counted while it is open: then it is held, as long as the limit
        // leaves it no room.
        let due = options
            .second
            .as_ref()
            .is_some_and(|(_, after)| started.elapsed() >= *after)
            && second_sent.is_none()
            && report.goaway.is_none()
            && write_failure.is_none();
        let room = report.room_for_the_second();
        report.second_held = due && !room;
        if let Some((target, _)) = &options.second
            && due
            && room
        {
            let mut out = Vec::new();
            let url = HttpUrl {
                target: target.clone(),
                ..url.clone()
            };
            request(&mut out, 3, &url);
            let sent = Instant::now();
            // Failed, it is read on past, as a reply's write is (below);
            // cut by the limit, the loop's check ends the run.
            match write_before(&mut socket, &out, deadline, options.idle_timeout) {
                Ok(()) => {}
                Err(Unwritten::Limit) => continue,
                Err(Unwritten::Failed(e)) => {
                    write_failure = Some(format!("write failed: {e}"));
                    report.second_write_failed = true;
                    continue;
                }
            }
            second_sent = Some(sent);
            report.second = Some(StreamReport::default());
        }
        // Between stream 1's end and the second request's time nothing is
        // asked, and the server has nothing to say: its silence counts
        // again once the second is due, sent, held or failed.
        let asking_later = second_sent.is_none()
            && options
                .second
                .as_ref()
                .is_some_and(|(_, after)| started.elapsed() < *after);
        if report.first.latency.is_some() && asking_later {
            last_byte = Instant::now();
        }
        if last_byte.elapsed() >= options.idle_timeout {
            report.failure = Some(format!("nothing received for {:?}", options.idle_timeout));
            break;
        }
        let spare = frames.spare();
        let want = match &mut bucket {
            None => spare.len(),
            Some(bucket) => {
                let now = Instant::now();
                let allowed = bucket.available(now).min(spare.len() as u64) as usize;
                if allowed == 0 {
                    thread::sleep(bucket.nap(now).min(READ_POLL));
                    // The client's own wait is no silence of the server's:
                    // the idle clock starts again after each nap (the first
                    // may come before any byte: the bucket starts empty).
                    last_byte = Instant::now();
                    continue;
                }
                allowed
            }
        };
        let n = match socket.read(&mut spare[..want]) {
            Ok(0) => {
                report.failure = Some("the server closed the connection".into());
                break;
            }
            Ok(n) => {
                options.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                n
            }
            Err(e) if timed_out(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                report.failure = Some(format!("read failed: {e}"));
                break;
            }
        };
        frames.filled(n);
        // A server without h2c answers the preface with a status line,
        // which read as a frame header would be "a frame too large". Its
        // first bytes are looked at whichever reads bring them (a read
        // limited by the rate may bring one): until there are enough to
        // tell, no frame can have been taken from the buffer, which holds
        // them from the first.
        let undecided = report.wire_bytes < HTTP1_ANSWER.len() as u64;
        if undecided && frames.strip(HTTP1_ANSWER) == Some(true) {
            report.failure = Some("the server answered in HTTP/1.x, not HTTP/2".into());
            report.wire_bytes += n as u64;
            break;
        }
        last_byte = Instant::now();
        if let Some(bucket) = &mut bucket {
            bucket.spend(n as u64, last_byte);
        }
        report.wire_bytes += n as u64;
        let mut replies = Vec::new();
        let taken = conversation.take_frames(
            &mut frames,
            &mut report,
            first_sent,
            second_sent,
            &mut replies,
        );
        if let Err(why) = taken {
            report.failure = Some(why);
            return Ok(finish(report, started));
        }
        // A reset met here is not the end of what came: the frames the
        // server sent before it (a RST_STREAM, a GOAWAY) may sit in this
        // kernel's receive queue, still readable, and say why. So the run
        // writes no more but reads on, to the end of that queue, and the
        // write's failure is its last line.
        if !replies.is_empty() && write_failure.is_none() {
            match write_before(&mut socket, &replies, deadline, options.idle_timeout) {
                Ok(()) | Err(Unwritten::Limit) => {}
                Err(Unwritten::Failed(e)) => write_failure = Some(format!("write failed: {e}")),
            }
        }
    }
    // A write that failed once every response asked for had ended (an
    // acknowledgement to a server that has closed) lost nothing.
    let every_response_ended = report.first.latency.is_some()
        && (options.second.is_none()
            || report.second.as_ref().is_some_and(|s| s.latency.is_some()));
    if write_failure.is_some() && !every_response_ended {
        report.failure = write_failure;
    }
    if report.failure.is_none() {
        report.failure = conversation.unanswered();
    }
    Ok(finish(report, started))
}

/// Why [`write_before`] did not write all it was given.
#[derive(Debug)]
enum Unwritten {
    /// The deadline came first: the run's time limit, not a failure.
    Limit,
    /// The write failed, or waited the idle timeout for room.
    Failed(io::Error),
}

/// Writes all of `bytes`, each wait for room in the send buffer at most
/// `patience` (the idle timeout: a server that takes nothing is as silent
/// as one that sends nothing) and none past `deadline`. A server that
/// floods SETTINGS or PINGs and never reads fills that buffer with the
/// acks; `write_all` would wait out its timeout, once per write that makes
/// progress.
fn write_before(
    socket: &mut TcpStream,
    mut bytes: &[u8],
    deadline: Option<Instant>,
    patience: Duration,
) -> Result<(), Unwritten> {
    while !bytes.is_empty() {
        let now = Instant::now();
        // Whether this wait runs to the deadline, not to the timeout.
        let (wait, to_the_deadline) = match deadline {
            Some(deadline) if now >= deadline => return Err(Unwritten::Limit),
            Some(deadline) if deadline - now <= patience => (deadline - now, true),
            _ => (patience, false),
        };
        socket
            .set_write_timeout(Some(wait))
            .map_err(Unwritten::Failed)?;
        match socket.write(bytes) {
            Ok(0) => return Err(Unwritten::Failed(io::ErrorKind::WriteZero.into())),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Timed out waiting for what was left before the deadline: the
            // loop's top makes it the limit's stop, not a failure. The
            // kernel counts the wait in clock ticks from its last one, so
            // it may end a tick early; then the next wait is what is left.
            Err(e) if timed_out(&e) && to_the_deadline => {}
            Err(e) if timed_out(&e) => {
                let why = format!("the server took no byte for {patience:?}");
                return Err(Unwritten::Failed(io::Error::new(
                    io::ErrorKind::TimedOut,
                    why,
                )));
            }
            Err(e) => return Err(Unwritten::Failed(e)),
        }
    }
    Ok(())
}

/// A socket's read or write timeout ran out: `WouldBlock` on Unix,
/// `TimedOut` on Windows (as `defense::is_timeout` says for the server;
/// the client, below `defense/`, has its own).
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn finish(mut report: H2Report, started: Instant) -> H2Report {
    report.elapsed = started.elapsed();
    // Held only if it still is: the last read may have brought stream 1's
    // end, or more room, after the loop last looked.
    report.second_held &= !report.room_for_the_second();
    report
}

#[cfg(test)]
pub(in crate::client) mod tests;
