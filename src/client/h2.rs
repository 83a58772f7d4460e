//! The phone over HTTP/2: one connection, a big download read at a limited
//! rate, and, a while later, a small request on the same connection, to
//! measure what the download's queue costs it.
//!
//! This file is the connection: it connects, reads at the rate it was
//! given, within the time limit and the idle timeout, sends the second
//! request when it is due, and writes what it owes, waiting for room no
//! later than the time limit; a failed write is read on past, so that the
//! frames the server sent before it still say why. What the client writes
//! and what each frame it reads means, windows and header blocks and which
//! stream a frame is for, is [`super::h2_frames`]'s.

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
    /// [`IDLE_TIMEOUT`](super::slow_client::IDLE_TIMEOUT)).
    pub idle_timeout: Duration,
    /// Bytes read from the socket so far, frames and all, updated after
    /// every read: shared, so that another thread can watch a run in
    /// progress (`slow-client`'s progress lines), as `SlowClient`'s counter.
    pub bytes_read: Arc<AtomicU64>,
}

/// Runs the client until both responses end, `limit` passes, or the
/// connection ends; never more than `options.idle_timeout` without a byte.
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
        let second_done = report.second.as_ref().is_some_and(|s| s.latency.is_some());
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
        // (RFC 9113 §6.8); nor on a connection a write found gone.
        if let Some((target, after)) = &options.second
            && second_sent.is_none()
            && report.goaway.is_none()
            && write_failure.is_none()
            && started.elapsed() >= *after
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
            match write_before(&mut socket, &out, deadline) {
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
            match write_before(&mut socket, &replies, deadline) {
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
    Ok(finish(report, started))
}

/// Why [`write_before`] did not write all it was given.
#[derive(Debug)]
enum Unwritten {
    /// The deadline came first: the run's time limit, not a failure.
    Limit,
    /// The write failed, or waited [`CONNECT_TIMEOUT`] for room.
    Failed(io::Error),
}

/// Writes all of `bytes`, each wait for room in the send buffer at most
/// [`CONNECT_TIMEOUT`] and none past `deadline`. A server that floods
/// SETTINGS or PINGs and never reads fills that buffer with the acks;
/// `write_all` would wait out its timeout, 10 s past `--for`, once per
/// write that makes progress.
fn write_before(
    socket: &mut TcpStream,
    mut bytes: &[u8],
    deadline: Option<Instant>,
) -> Result<(), Unwritten> {
    while !bytes.is_empty() {
        let now = Instant::now();
        // Whether this wait runs to the deadline, not to the timeout.
        let (wait, to_the_deadline) = match deadline {
            Some(deadline) if now >= deadline => return Err(Unwritten::Limit),
            Some(deadline) if deadline - now <= CONNECT_TIMEOUT => (deadline - now, true),
            _ => (CONNECT_TIMEOUT, false),
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
    report
}

#[cfg(test)]
pub(in crate::client) mod tests {
    use super::*;
    use crate::client::slow_client::IDLE_TIMEOUT;
    use crate::http::h2::frame::{self, ErrorCode, Kind, flag};
    use crate::http::h2::frame_write::{self, raw_frame};
    use crate::sys;
    use std::net::TcpListener;

    /// A server for one connection, on its own thread: `serve` gets the
    /// accepted socket, and its result comes back through the handle.
    pub(in crate::client) fn one_connection<T: Send + 'static>(
        serve: impl FnOnce(TcpStream) -> T + Send + 'static,
    ) -> (HttpUrl, thread::JoinHandle<T>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || serve(listener.accept().unwrap().0));
        let url = HttpUrl {
            host: "127.0.0.1".into(),
            port,
            target: "/x".into(),
        };
        (url, server)
    }

    /// A one-connection HTTP/2 server that reads the client's preface and
    /// first frames, writes `frames`, then holds the connection open so the
    /// client cannot mistake a close for the end: until the client closes
    /// it, or for `hold` (a sleep of `hold` cost every test half a second).
    fn scripted_server(frames: Vec<u8>, hold: Duration) -> (HttpUrl, thread::JoinHandle<()>) {
        one_connection(move |mut stream| {
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(&frames);
            let until = Instant::now() + hold;
            // What the client sends meanwhile is dropped: its close, or a
            // failure, ends the hold.
            let left = || until.checked_duration_since(Instant::now());
            while let Some(left) = left().filter(|l| !l.is_zero()) {
                let timeout = stream.set_read_timeout(Some(left));
                if timeout.is_err() || matches!(stream.read(&mut request), Ok(0) | Err(_)) {
                    break;
                }
            }
        })
    }

    pub(in crate::client) fn options() -> H2Options {
        H2Options {
            rate: None,
            window: frame::DEFAULT_WINDOW,
            receive_buffer: None,
            replenish: true,
            starve_first: false,
            second: None,
            stop_after_second: false,
            idle_timeout: IDLE_TIMEOUT,
            bytes_read: Arc::default(),
        }
    }

    /// What the client reports of stream 1 when a server answers with
    /// `frames` (after its own empty SETTINGS) and then holds the
    /// connection open.
    pub(in crate::client) fn report_of(frames: &[u8]) -> H2Report {
        let mut out = Vec::new();
        frame_write::settings(&mut out, &[]);
        out.extend_from_slice(frames);
        crate::test_support::within(move || {
            let (url, server) = scripted_server(out, Duration::from_millis(500));
            let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
            server.join().unwrap();
            report
        })
    }

    /// Stream 1's HEADERS: `:status` 200, static table entry 8.
    pub(in crate::client) fn a_head() -> Vec<u8> {
        raw_frame(Kind::Headers as u8, flag::END_HEADERS, 1, &[0x80 | 8])
    }

    /// Stream 1's HEADERS and ten bytes of DATA, its end not yet sent.
    pub(in crate::client) fn a_head_and_ten_bytes() -> Vec<u8> {
        let mut out = a_head();
        out.extend(raw_frame(Kind::Data as u8, 0, 1, b"0123456789"));
        out
    }

    /// A server that sends `frames` at once and then resets the connection,
    /// once the client has acknowledged its SETTINGS, its one write after
    /// its first read: a reset before that write would fail it, which is
    /// another test's case. At most 5 s, however slowly the client's
    /// thread is scheduled.
    fn resetting_after_the_ack(frames: Vec<u8>) -> (HttpUrl, thread::JoinHandle<()>) {
        one_connection(move |mut stream| {
            let _ = stream.read(&mut [0u8; 4096]);
            stream.write_all(&frames).unwrap();
            settings_acknowledged(&mut stream);
            sys::reset_on_close(&stream).unwrap();
        })
    }

    /// Reads what the client sends until its acknowledgement of our
    /// SETTINGS, 5 s at most: it writes that after its first read, so then
    /// it has read what we wrote before it (a few hundred bytes, one
    /// segment over loopback), however late its thread ran.
    pub(in crate::client) fn settings_acknowledged(stream: &mut TcpStream) {
        let ack = [0, 0, 0, Kind::Settings as u8, flag::ACK, 0, 0, 0, 0];
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
        while !got.windows(ack.len()).any(|w| w == ack) {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// The run, reading at 64 KiB/s for at most 5 s, against a server
    /// that sends `frames` and resets the connection
    /// ([`resetting_after_the_ack`]): slowly enough that what the client
    /// owes the frames it reads (a WINDOW_UPDATE at half its window, a
    /// PING's acknowledgement) is written after the reset, and fails.
    fn read_at_64_kib_past_a_reset(frames: Vec<u8>) -> H2Report {
        let (url, server) = resetting_after_the_ack(frames);
        let options = H2Options {
            rate: Some(64 * 1024),
            ..options()
        };
        let report = run(&url, &options, Some(Duration::from_secs(5))).unwrap();
        server.join().unwrap();
        report
    }

    /// SETTINGS, stream 1's head, and 48 KiB of its body.
    fn a_head_and_48_kib() -> Vec<u8> {
        let mut frames = Vec::new();
        frame_write::settings(&mut frames, &[]);
        frames.extend(a_head());
        for _ in 0..3 {
            frames.extend(raw_frame(Kind::Data as u8, 0, 1, &[b'x'; 16_384]));
        }
        frames
    }

    /// README's rule, no cut may look whole: a server that sends 48 KiB of
    /// stream 1 at once and then resets the connection, to a client that
    /// reads 8 KiB/s for 1 s. The reset sits behind unread bytes, so the
    /// stop at the limit is a failure, not a clean stop.
    #[test]
    fn a_reset_behind_unread_bytes_is_a_failure_at_the_limit() {
        crate::test_support::within(|| {
            let (url, server) = resetting_after_the_ack(a_head_and_48_kib());
            let options = H2Options {
                rate: Some(8 * 1024),
                ..options()
            };
            let report = run(&url, &options, Some(Duration::from_secs(1))).unwrap();
            server.join().unwrap();
            assert!(report.first.body_bytes < 3 * 16_384, "{report:?}");
            let failure = report.failure.unwrap_or_default();
            assert!(failure.contains("reset"), "{failure}");
        });
    }

    /// Which failure a run names when its write fails and it reads on: the
    /// 48 KiB, then a GOAWAY that will not answer stream 1, wait behind a
    /// reset; the client's WINDOW_UPDATE, due at half its window, fails.
    /// The frames read past it still count, and the GOAWAY, the server's
    /// word, is what the run names; the read that fails after it would not
    /// be.
    #[test]
    fn a_frame_read_past_a_failed_write_names_the_failure() {
        crate::test_support::within(|| {
            let mut frames = a_head_and_48_kib();
            frame_write::goaway(&mut frames, 0, ErrorCode::NoError, b"");
            let report = read_at_64_kib_past_a_reset(frames);
            assert_eq!(report.first.body_bytes, 3 * 16_384, "{report:?}");
            assert_eq!(report.goaway, Some(0), "{report:?}");
            let failure = report.failure.as_deref();
            let cut = "GOAWAY: the server will not answer stream 1";
            assert_eq!(failure, Some(cut), "{report:?}");
            assert!(!report.timed_out, "{report:?}");
        });
    }

    /// A server that closes the connection before the response ends cut
    /// it: the run says so at once, and is not taken for one stopped by
    /// the time limit.
    #[test]
    fn a_close_before_the_end_is_a_failure() {
        crate::test_support::within(|| {
            let mut frames = Vec::new();
            frame_write::settings(&mut frames, &[]);
            frames.extend(a_head_and_ten_bytes());
            let (url, server) = one_connection(move |mut stream| {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                stream.write_all(&frames).unwrap();
                // A FIN, then whatever the client still sends is read, so that
                // closing never turns into a reset.
                stream.shutdown(std::net::Shutdown::Write).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                while let Ok(1..) = stream.read(&mut request) {}
            });
            let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
            server.join().unwrap();
            let failure = report.failure.as_deref();
            assert_eq!(
                failure,
                Some("the server closed the connection"),
                "{report:?}"
            );
            assert!(!report.timed_out && !report.first.complete, "{report:?}");
            assert_eq!(report.first.body_bytes, 10, "{report:?}");
        });
    }

    /// A server that has closed the connection by the time limit, nothing
    /// of it left unread, cut the response: the stop at the limit says so,
    /// not that the run was merely stopped. The client reads at 1 byte/s,
    /// so that it reaches the limit without having read the close.
    #[test]
    fn a_close_with_nothing_unread_is_a_failure_at_the_limit() {
        crate::test_support::within(|| {
            let (url, server) = one_connection(|mut stream| {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                stream.shutdown(std::net::Shutdown::Write).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                while let Ok(1..) = stream.read(&mut request) {}
            });
            let options = H2Options {
                rate: Some(1),
                ..options()
            };
            let report = run(&url, &options, Some(Duration::from_millis(900))).unwrap();
            server.join().unwrap();
            assert_eq!(report.wire_bytes, 0, "{report:?}");
            assert!(report.timed_out, "{report:?}");
            let failure = report.failure.as_deref();
            let closed = "the server closed the connection";
            assert_eq!(failure, Some(closed), "{report:?}");
        });
    }

    /// A server that answers in HTTP/1.x is named as such, and the bytes
    /// of its answer are bytes read: `wire_bytes` counts them all.
    #[test]
    fn an_http1_answer_counts_as_bytes_read() {
        crate::test_support::within(|| {
            let answer = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
            let (url, server) = scripted_server(answer.to_vec(), Duration::from_secs(1));
            let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
            server.join().unwrap();
            let failure = report.failure.as_deref();
            let http1 = "the server answered in HTTP/1.x, not HTTP/2";
            assert_eq!(failure, Some(http1), "{report:?}");
            assert_eq!(report.wire_bytes, answer.len() as u64, "{report:?}");
        });
    }

    /// Once a write has failed the client writes nothing more: the run
    /// names that first failure, the server's reset, and not the broken
    /// pipe a later write (the PINGs' acknowledgements, read past it)
    /// would meet.
    #[test]
    fn after_a_failed_write_the_client_writes_no_more() {
        crate::test_support::within(|| {
            let mut frames = a_head_and_48_kib();
            for _ in 0..3 {
                frame_write::ping(&mut frames, *b"pingdata", false);
            }
            let report = read_at_64_kib_past_a_reset(frames);
            assert_eq!(report.first.body_bytes, 3 * 16_384, "{report:?}");
            let failure = report.failure.unwrap_or_default();
            assert!(failure.starts_with("write failed: "), "{failure}");
            assert!(failure.contains("reset"), "{failure}");
        });
    }

    /// A failed write once the response has ended lost nothing (an
    /// acknowledgement to a server that reset): the whole body is no
    /// failure. The PING, read behind the reset, is acknowledged before
    /// the end is read.
    #[test]
    fn a_failed_write_after_which_the_response_ends_is_no_failure() {
        crate::test_support::within(|| {
            let mut frames = Vec::new();
            frame_write::settings(&mut frames, &[]);
            frames.extend(a_head());
            frames.extend(raw_frame(Kind::Data as u8, 0, 1, &[b'x'; 16_384]));
            frame_write::ping(&mut frames, *b"pingdata", false);
            frames.extend(raw_frame(Kind::Data as u8, 0, 1, &[b'x'; 8_192]));
            frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
            let report = read_at_64_kib_past_a_reset(frames);
            assert!(report.first.complete, "{report:?}");
            assert_eq!(report.failure, None, "{report:?}");
        });
    }

    /// A write that waits for room until the deadline and times out
    /// there is the time limit's stop, not a failure: the send buffer
    /// full (the peer reads nothing), a write of one byte more waits out
    /// what is left before the deadline.
    #[test]
    fn a_write_timed_out_at_the_deadline_is_the_limit() {
        crate::test_support::within(|| {
            let (_peer, mut socket) = crate::test_support::loopback();
            socket.set_nonblocking(true).unwrap();
            let chunk = [0u8; 65_536];
            while socket.write(&chunk).is_ok() {}
            socket.set_nonblocking(false).unwrap();
            let deadline = Instant::now() + Duration::from_millis(200);
            let written = write_before(&mut socket, b"x", Some(deadline));
            assert!(matches!(written, Err(Unwritten::Limit)), "{written:?}");
        });
    }
}
