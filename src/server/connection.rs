//! One connection, from accept to close: read the head, respond, close
//! gracefully, write the access-log line.
//!
//! Each connection gets its own thread (see [`crate::server`]), and this is
//! everything that thread does. A response here is done when its last byte
//! was accepted by the kernel, not when a handler returned a value: the
//! export strategies write the body themselves, on this thread, and only
//! return once it has drained into the socket or the client has gone.

use std::io::{ErrorKind, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{Shared, h2, routes};
use crate::defense::{
    self,
    head_deadline::{self, ReadHeadError},
};
use crate::http::h2::frame::PREFACE_HEAD;
use crate::http::partial_head;
use crate::http::request;
use crate::http::response::Status;
use crate::measure::access_log::{AccessRecord, End, Outcome, request_line};
use crate::measure::metrics::{Counted, METRICS};
use crate::sys;

/// How long a finished connection keeps reading what the client still
/// sends before closing. Closing a socket with unread input makes the kernel
/// send a reset, which can destroy a response the client has not read yet;
/// reading it first lets an error response (sent before the request was
/// fully read) arrive intact. Short, because it holds a thread.
pub const CLOSE_READ_TIMEOUT: Duration = Duration::from_millis(500);
/// Most bytes read and thrown away before closing anyway.
const MAX_CLOSE_READ_BYTES: usize = 64 * 1024;
/// How often a close that does not wait for the client to hang up (one
/// that will be a reset, or a plain one past the closing places) looks
/// whether the client has acknowledged everything written to it, until
/// [`CLOSE_READ_TIMEOUT`].
const ACK_CHECK: Duration = Duration::from_millis(2);
/// How often a connection whose client has sent nothing yet looks whether
/// a shutdown began, so that a shutdown waits at most this long for it.
/// Waking 10 times a second, only until the first byte or the header
/// timeout, is cheap; Go's server polls its idle connections the same way.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// Whether a client may still send once its answer is out, as
/// [`read_and_respond`] found it: past the closing places, a close waits
/// for the client to hang up only if it may. Read only after a whole
/// response, the one kind [`close`] ends gracefully.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    /// One whole HTTP/1.x request without a body, or nothing at all: it has
    /// nothing left to send.
    All,
    /// It may still be sending: the rest of a head too large or too slow,
    /// a body this server does not read, HTTP/2's frames.
    MaybeMore,
}

/// Serves connection `id` from `peer`; the head must arrive by
/// `accepted_at` plus the configured header timeout. `slot` is its place
/// under `--max-connections`, taken from it once the response is out and
/// the connection has left the shutdown's list, if fewer closes than slots
/// wait already; else it is kept through the close. The socket is closed
/// by its last owner, once this has returned.
pub(super) fn handle(
    stream: &TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    accepted_at: Instant,
    id: u64,
    slot: &mut Option<Counted>,
) {
    let config = &shared.config;
    // Chunks go out in one vectored write each; Nagle's algorithm would only
    // hold the last small write back until an ACK arrives.
    let _ = stream.set_nodelay(true);
    // The kernel's high-water mark: a write goes in only while fewer bytes
    // than the mark wait unsent, so a stalled client costs the kernel the
    // mark and one write, not megabytes. `bind` checked that the kernel
    // takes the option.
    if let Some(bytes) = config.notsent_lowat {
        let _ = sys::set_notsent_lowat(stream, bytes);
    }
    // Without a send timeout a client that stops reading would hold this
    // thread (and a producer's) forever, so a connection whose timeout
    // cannot be set is not served at all.
    let (request_line, mut outcome, asked) =
        if stream.set_write_timeout(Some(config.send_timeout)).is_err() {
            (None, Outcome::ended(End::ClientAbort), Asked::All)
        } else {
            read_and_respond(stream, shared, accepted_at, peer, id)
        };
    if close(stream, &mut outcome, shared, id) {
        // Serving is over; the close only waits for the client. Its slot
        // goes back now, or a client that connects again the moment it has
        // read its answer (`ab` does) would find it taken by its own last
        // connection. The closes that wait so are capped too, at as many as
        // the slots. Past that a close keeps its slot, and waits for the
        // client to hang up only if it may still send (nginx's rule): bytes
        // of it wait unread, an error was answered before the head or its
        // announced body was read, or it speaks HTTP/2, whose client sends
        // whenever it likes (a WINDOW_UPDATE as it reads the last DATA, a
        // PING; nginx too always waits after GOAWAY).
        let closing = METRICS.connection_closing(config.max_connections as u64);
        if closing.is_some() {
            drop(slot.take());
        }
        let wait_for_hang_up = closing.is_some() || asked == Asked::MaybeMore;
        if !close_gracefully(stream, wait_for_hang_up) {
            // The tail is lost, or will be at the client's next byte: a
            // reset now makes the cut certain, as the log will say.
            let _ = sys::reset_on_close(stream);
            cut_after_it_was_written(&mut outcome, End::CloseTimeout);
        }
    }
    if !config.quiet {
        AccessRecord {
            peer,
            request_line,
            duration: accepted_at.elapsed(),
            outcome,
        }
        .write();
    }
}

/// Prepares the close of connection `id` as its `outcome` says; true if it
/// is to be graceful ([`close_gracefully`]). The socket closes when its last
/// owner lets go. A whole response ends gracefully.
/// One the server cut (a timeout, a cap, the shutdown) ends in a reset,
/// counted: the client learns at once, over HTTP/1.0 too, where a FIN would
/// look like a complete body, and the kernel frees the send queue now
/// rather than drain megabytes to a client that reads none. Any other
/// export whose head went out (its `status` says so) and whose body did
/// not ends in a reset too, uncounted: most are a client that left, to
/// whom it makes no difference, but a write can also fail with the client
/// still there (the kernel out of buffers), and then only a reset keeps a
/// cut HTTP/1.0 body from passing for a whole one. The rest end with a
/// FIN, as nothing can pass for whole there: a client that closed its
/// side having asked nothing, a small answer whose write failed (no
/// status; its `Content-Length` shows it cut), an HTTP/2 connection (its
/// streams end in END_STREAM or a reset of their own).
fn close(stream: &TcpStream, outcome: &mut Outcome, shared: &Shared, id: u64) -> bool {
    if outcome.sent_whole_response() {
        // The response is out: off the shutdown's list before the close,
        // which bounds itself, since a cut now would reset the socket and
        // throw away what the kernel still holds of the response.
        if !shared.connections.leave(id) {
            return true;
        }
        cut_after_it_was_written(outcome, End::DrainTimeout);
    } else if End::RESETS.contains(&outcome.end) {
        if sys::reset_on_close(stream).is_ok() {
            METRICS.reset_sent(outcome.end);
        }
    } else if outcome.status.is_some() {
        let _ = sys::reset_on_close(stream);
    }
    false
}

/// Reads the head of connection `id`, parses it and responds; returns the
/// request line for the access log once it has parsed, what the response
/// came to, and whether the client has asked all it will.
fn read_and_respond(
    stream: &TcpStream,
    shared: &Shared,
    accepted_at: Instant,
    peer: SocketAddr,
    id: u64,
) -> (Option<String>, Outcome, Asked) {
    let config = &shared.config;
    let mut buf = Vec::new();
    let deadline = accepted_at + config.header_timeout;
    if shutdown_came_first(stream, deadline, shared) {
        // Nothing was asked, so nothing is left unanswered: complete, as
        // an HTTP/2 connection that goes away between streams.
        return (None, Outcome::ended(End::Complete), Asked::All);
    }
    let outcome = match head_deadline::read_head(stream, &mut buf, deadline) {
        // HTTP/2 with prior knowledge: its preface begins like a head.
        Ok((head, after)) if head == PREFACE_HEAD => {
            let line = (!config.quiet).then(|| request_line(head));
            // Its reader and writer name a failure the cut's as they meet
            // it: a client gone before the cut stays the client's abort,
            // however long the connection's streams take to finish after.
            let outcome = h2::serve(stream, after, shared, peer, id);
            return (line, outcome, Asked::MaybeMore);
        }
        Ok((head, _)) => match request::parse_head(head) {
            Ok(request) => {
                let line = (!config.quiet).then(|| request_line(head));
                let outcome = routes::respond(stream, &request, shared, id);
                return (line, cut_if_cut(outcome, shared, id), Asked::All);
            }
            // A HEAD request gets no body even when it is malformed.
            Err(e) => {
                routes::reply_error(stream, None, e.status, e.reason, head.starts_with(b"HEAD "))
            }
        },
        Err(ReadHeadError::TimedOut) => {
            let reason = "request head not received in time";
            // Even a HEAD that never finished gets no body.
            let head_only = partial_head::is_head(&buf) == Some(true);
            let outcome =
                routes::reply_error(stream, None, Status::RequestTimeout, reason, head_only);
            match outcome.end {
                End::Complete => Outcome {
                    end: End::HeaderTimeout,
                    ..outcome
                },
                _ => outcome,
            }
        }
        Err(
            ReadHeadError::TooLarge(e) | ReadHeadError::NotARequest(e) | ReadHeadError::CutShort(e),
        ) => {
            let head_only = partial_head::is_head(&buf) == Some(true);
            routes::reply_error(stream, None, e.status, e.reason, head_only)
        }
        Err(ReadHeadError::Closed | ReadHeadError::Failed) => {
            let outcome = cut_if_cut(Outcome::ended(End::ClientAbort), shared, id);
            return (None, outcome, Asked::All);
        }
    };
    (None, cut_if_cut(outcome, shared, id), Asked::MaybeMore)
}

/// An HTTP/1 `outcome` of connection `id` as the log names it: a client's
/// abort is the shutdown's cut once the cut has ended the connection, since
/// the cut fails a read or a write as a client's reset would. Asked as the
/// failure is met, not once the connection is over: a client that left
/// before the cut stays the client's abort, and so does one whose reset
/// the cut found waiting for a thread that had not touched its socket
/// since ([`Connections::cut_reached`](super::shutdown::Connections::cut_reached)).
/// An export's own abort count is named earlier, as it is counted
/// (`routes::run_export`'s `was_cut`); this names the line, and a small
/// answer's or a read's failure.
fn cut_if_cut(outcome: Outcome, shared: &Shared, id: u64) -> Outcome {
    match outcome.end {
        End::ClientAbort if shared.connections.cut_reached(id) => Outcome {
            end: End::DrainTimeout,
            ..outcome
        },
        _ => outcome,
    }
}

/// Waits for the client's first byte, taking nothing, and says whether a
/// shutdown began first. A byte, an end of file, an error or the deadline
/// all return false: [`head_deadline::read_head`] reads what came and tells
/// them apart. A request that arrives in the very instant the shutdown
/// begins may be closed unanswered, which its client can tell (no response,
/// never a wrong one) and retry.
fn shutdown_came_first(stream: &TcpStream, deadline: Instant, shared: &Shared) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left.min(IDLE_CHECK))).is_err() {
            return false;
        }
        match stream.peek(&mut [0; 1]) {
            Err(e) if defense::is_timeout(&e) && shared.connections.draining() => return true,
            Err(e) if defense::is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
}

/// A response wholly written whose tail a reset discarded, as `end`: the
/// shutdown's cut reached it before it could leave the cut list, or its
/// graceful close gave up on a client that kept sending. The reset (on
/// Linux, before any FIN) is what its client got last, which over HTTP/1.0
/// says the body was cut. So it is logged and counted as any response cut
/// so; an abort only for an export whose body went out (not a HEAD's head,
/// nor a refusal), as `routes.rs` counts them.
fn cut_after_it_was_written(outcome: &mut Outcome, end: End) {
    outcome.end = end;
    METRICS.reset_sent(outcome.end);
    if let (Some(mode), Some(Status::Ok)) = (outcome.mode, outcome.status)
        && outcome.body_bytes > 0
    {
        METRICS.aborted(mode, outcome.end);
    }
}

/// Ends a connection whose response is complete: send FIN (the client sees
/// the end of the response), then read and discard what the client still
/// sends, until it closes, [`CLOSE_READ_TIMEOUT`] passes or
/// [`MAX_CLOSE_READ_BYTES`] arrive. If the client is still sending after
/// that many, the close will be a reset, which would discard what the
/// kernel has not sent yet; so, within the same timeout, wait until the
/// client has acknowledged every byte. False if it has not by then and is
/// still sending: the close's reset discards the tail it has not
/// acknowledged, and the response was cut after all.
///
/// Unless `wait_for_hang_up`, a client with nothing unread is not waited
/// for to hang up: it asked its one request and is reading the answer.
/// Only a byte it sends after the close would turn the close into a reset,
/// which is why the wait is the rule (Apache always waits; nginx only when
/// it sees input); and a reset discards only what the client has not
/// acknowledged, so the close waits for that instead, within the same
/// timeout ([`nothing_sent_until_acknowledged`]); a byte that arrives
/// meanwhile makes it the whole close above. Its FIN is left to the
/// socket's last owner, who sends it after giving the slot back: a client
/// that connects again the moment it sees it finds the slot free.
fn close_gracefully(stream: &TcpStream, wait_for_hang_up: bool) -> bool {
    let deadline = Instant::now() + CLOSE_READ_TIMEOUT;
    if !wait_for_hang_up && nothing_sent_until_acknowledged(stream, deadline) {
        return true;
    }
    let _ = stream.shutdown(Shutdown::Write);
    // What is read here is thrown away: one read's worth, on the stack.
    let mut sink = [0u8; 4096];
    // Waiting already (a request pipelined before the response ended, or
    // sent while the close waited for its acknowledgement): read first,
    // all of it, since it is no sign that the client is still sending;
    // what arrives after it is.
    let sent_before = read_waiting(stream, &mut sink);
    let sending = |drained| drained > sent_before;
    let mut drained = sent_before;
    while drained < MAX_CLOSE_READ_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return !discards_a_tail(stream, sending(drained));
        }
        match (&*stream).read(&mut sink) {
            // The client has closed, or is gone: nothing more to wait for.
            Ok(0) => return true,
            Err(e) if !defense::is_timeout(&e) => return true,
            Err(_) => return !discards_a_tail(stream, sending(drained)),
            Ok(n) => drained += n,
        }
    }
    // The client is still sending (an HTTP/2 flood answered with GOAWAY,
    // say; one that sent this much before the close is taken to be at it
    // still), so the close will leave input unread and be a reset, and a reset
    // throws away what the kernel has not sent yet: the answer's last
    // frames. Wait, within the same deadline, until the client has
    // acknowledged every byte and the FIN, or reset the connection itself
    // (the queue then never empties).
    let unacknowledged = || sys::unacknowledged_bytes(stream).is_ok_and(|n| n > 0);
    let reset = || !matches!(stream.take_error(), Ok(None));
    while Instant::now() < deadline && unacknowledged() && !reset() {
        std::thread::sleep(ACK_CHECK);
    }
    reset() || !discards_a_tail(stream, true)
}

/// Waits until the client has acknowledged every byte written to `stream`
/// (at once, for a client that reads as fast as it is sent to), has
/// closed, or `deadline` passes, whichever is first; true unless a byte
/// from it waits unread by then. A client that has acknowledged everything
/// loses nothing to a reset its later byte causes, and one that has closed
/// sends none; one slower than `deadline` is closed on anyway, since a
/// close that waits for every slow reader would hold its slot as long as
/// the reader likes.
fn nothing_sent_until_acknowledged(stream: &TcpStream, deadline: Instant) -> bool {
    loop {
        // A socket that cannot say is not waited for.
        let unacknowledged = sys::unacknowledged_bytes(stream).is_ok_and(|n| n > 0);
        let left = deadline.saturating_duration_since(Instant::now());
        if !unacknowledged
            || left.is_zero()
            || stream.set_read_timeout(Some(left.min(ACK_CHECK))).is_err()
        {
            return !input_waiting(stream);
        }
        // Wakes at once for a byte or the client's FIN (which often carries
        // the last acknowledgement): the slot of a client that closes first
        // goes back then, not at the next look.
        match stream.peek(&mut [0; 1]) {
            Ok(0) => return true,
            Ok(_) => return false,
            Err(e) if defense::is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

/// Reads and throws away the bytes waiting unread on `stream`, up to
/// [`MAX_CLOSE_READ_BYTES`], without waiting for more; returns how many.
fn read_waiting(stream: &TcpStream, sink: &mut [u8]) -> usize {
    let mut read = 0;
    if stream.set_nonblocking(true).is_ok() {
        while read < MAX_CLOSE_READ_BYTES {
            match (&*stream).read(sink) {
                Ok(n @ 1..) => read += n,
                _ => break,
            }
        }
    }
    let _ = stream.set_nonblocking(false);
    read
}

/// Whether a byte waits unread on `stream`, taking none. False if the
/// socket cannot say at once.
fn input_waiting(stream: &TcpStream) -> bool {
    let waiting =
        stream.set_nonblocking(true).is_ok() && stream.peek(&mut [0; 1]).is_ok_and(|n| n > 0);
    let _ = stream.set_nonblocking(false);
    waiting
}

/// Whether closing `stream` now discards bytes the client has not
/// acknowledged, which the kernel still holds: if its input is not all
/// read, the close is a reset; if the client sent during the close
/// (`sending`), its next byte reaches a closed socket, and the kernel
/// aborts that with a reset too, so that no byte unread at this instant
/// says nothing.
fn discards_a_tail(stream: &TcpStream, sending: bool) -> bool {
    (sending || input_waiting(stream)) && sys::unacknowledged_bytes(stream).is_ok_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;
    use std::thread;

    use super::*;
    use crate::defense::buffer_caps::BufferBudget;
    use crate::server::{ServerConfig, shutdown::Connections};
    use std::sync::Arc;

    /// What [`serve`] relies on the kernel for, by `sys.rs`'s option:
    /// with the mark set (the kernel's low-water mark, our high-water mark:
    /// see `sys::set_notsent_lowat`), a peer that reads nothing makes the
    /// sender's writes stop near the mark, not at a send buffer of
    /// megabytes.
    #[test]
    fn the_low_water_mark_bounds_what_an_unread_socket_takes() {
        let (server, _client) = crate::test_support::loopback();
        sys::set_notsent_lowat(&server, 16 * 1024).unwrap();
        server.set_nonblocking(true).unwrap();
        let chunk = [0u8; 4096];
        let mut taken = 0u64;
        for _ in 0..10_000 {
            match (&server).write(&chunk) {
                Ok(n) => taken += n as u64,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        // What the client's kernel took (its window), plus the mark, plus
        // the one write that found room: far from a buffer of megabytes.
        let unacked = sys::unacknowledged_bytes(&server).unwrap();
        assert!(unacked <= taken, "{unacked} of {taken}");
        assert!(taken < 1024 * 1024, "the kernel took {taken} bytes");
    }

    /// A body cut by a failed write that was not the server's decision (here
    /// an HTTP/1.0 body, which only the close ends) still ends in a reset:
    /// with a FIN, a client still there would take half a body for all of it.
    #[test]
    fn a_body_not_sent_whole_ends_in_a_reset_whoever_cut_it() {
        let (server, mut client) = crate::test_support::loopback();
        (&server)
            .write_all(b"HTTP/1.0 200 OK\r\n\r\nhalf a bo")
            .unwrap();
        let shared = Shared {
            config: ServerConfig::default(),
            budget: Arc::new(BufferBudget::new(0)),
            connections: Connections::with_capacity(1),
        };
        let mut outcome = Outcome {
            status: Some(Status::Ok),
            body_bytes: 9,
            ..Outcome::ended(End::ClientAbort)
        };
        assert!(!close(&server, &mut outcome, &shared, 1));
        drop(server);
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let end = client.read_to_end(&mut Vec::new()).map_err(|e| e.kind());
        assert_eq!(end, Err(ErrorKind::ConnectionReset));
        assert_eq!(outcome.end, End::ClientAbort, "not the server's cut");
    }

    /// The response of 256 KiB, or as much as the server's kernel takes at
    /// once, to a client with a 4 KiB window: most of it waits unsent.
    fn a_response_mostly_unsent() -> (TcpStream, TcpStream, usize) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = sys::connect_with_receive_buffer(addr, 4096, Duration::from_secs(5)).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut written = 0;
        while written < 256 * 1024
            && let Ok(n) = (&server).write(&[7; 4096])
        {
            written += n;
        }
        server.set_nonblocking(false).unwrap();
        (server, client, written)
    }

    /// Waits until `size` bytes the client sent wait unread in `server`'s
    /// kernel, so that the close finds them there: a pause is no proof on
    /// a loaded machine.
    fn arrived(server: &TcpStream, size: usize) {
        let mut buf = vec![0; size];
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let started = Instant::now();
        while size > 0 && started.elapsed() < crate::test_support::HANG_LIMIT {
            match server.peek(&mut buf) {
                Ok(n) if n >= size => break,
                _ => thread::sleep(Duration::from_millis(1)),
            }
        }
        server.set_read_timeout(None).unwrap();
    }

    /// Every byte the client receives until the end or an error.
    fn received_by(client: &TcpStream) -> usize {
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (mut received, mut buf) = (0, vec![0; 1 << 16]);
        while let Ok(n @ 1..) = (&*client).read(&mut buf) {
            received += n;
        }
        received
    }

    /// A client still sending when its response is done makes the close a
    /// reset, and a reset throws away what the kernel has not sent yet. So
    /// the graceful close, once it stops draining, waits for the client to
    /// acknowledge every byte. Here the client's small window leaves most
    /// of the response unsent in the server's kernel, and the client reads
    /// only 100 ms later: it must still get all of it.
    #[test]
    fn a_close_with_input_unread_waits_until_the_response_is_acknowledged() {
        let (server, client, written) = a_response_mostly_unsent();
        let received = thread::scope(|scope| {
            // More than the close drains: the client is still sending.
            scope.spawn(|| {
                let _ = (&client).write_all(&vec![0; 4 * MAX_CLOSE_READ_BYTES]);
            });
            let reader = scope.spawn(|| {
                thread::sleep(Duration::from_millis(100));
                received_by(&client)
            });
            assert!(close_gracefully(&server, true), "every byte acknowledged");
            drop(server);
            reader.join().unwrap()
        });
        assert_eq!(received, written);
    }

    /// But a client that keeps sending and reads nothing within the close's
    /// 500 ms loses the tail to the close's reset: the close says so, so
    /// that the response is logged and counted as cut (`close-timeout`),
    /// not as complete.
    #[test]
    fn a_close_that_leaves_a_tail_unacknowledged_says_so() {
        let (server, client, written) = a_response_mostly_unsent();
        thread::scope(|scope| {
            // Sends until the close's reset ends it; never reads.
            scope.spawn(|| while (&client).write_all(&[0; 4096]).is_ok() {});
            assert!(!close_gracefully(&server, true), "{written} bytes written");
            drop(server);
        });
    }

    /// A client that sends a byte now and then, too few for the close to
    /// stop draining, is still sending: its next byte reaches a closed
    /// socket, which makes the kernel abort it and discard the tail as
    /// surely as unread input does. That no byte waits unread at the
    /// instant the close gives up says nothing, so the close says cut.
    #[test]
    fn a_client_that_sends_now_and_then_during_the_close_is_still_sending() {
        let (server, client, written) = a_response_mostly_unsent();
        thread::scope(|scope| {
            scope.spawn(|| {
                while (&client).write_all(b"x").is_ok() {
                    thread::sleep(Duration::from_millis(10));
                }
            });
            assert!(!close_gracefully(&server, true), "{written} bytes written");
            drop(server);
        });
    }

    /// But one that sent, before the close, as much as the close reads at
    /// most is taken to be at it still, though nothing more comes: its
    /// next byte would reset the tail, so a close that could not wait for
    /// the tail to be acknowledged (this client reads none of it) says cut,
    /// with no byte unread at that instant.
    #[test]
    fn a_client_that_sent_all_a_close_reads_is_taken_to_be_still_sending() {
        let (server, client, written) = a_response_mostly_unsent();
        (&client).write_all(&[0; MAX_CLOSE_READ_BYTES]).unwrap();
        arrived(&server, MAX_CLOSE_READ_BYTES);
        assert!(!close_gracefully(&server, true), "{written} bytes written");
    }

    /// But bytes that were waiting before the response ended (a second,
    /// pipelined request) are no sign of a client still sending: if it
    /// sends nothing more, the kernel delivers the tail after the close,
    /// to a client that reads it late. However many they are: a request
    /// with 12 KiB of fields is more than the close reads at a time.
    #[test]
    fn a_request_pipelined_before_the_close_is_not_a_client_still_sending() {
        let big = [
            b"GET / HTTP/1.1\r\nx: ".as_slice(),
            &[b'y'; 12 * 1024],
            b"\r\n\r\n",
        ]
        .concat();
        for pipelined in [b"GET / HTTP/1.1\r\n\r\n".as_slice(), &big] {
            let (server, client, written) = a_response_mostly_unsent();
            (&client).write_all(pipelined).unwrap();
            arrived(&server, pipelined.len());
            let whole = close_gracefully(&server, true);
            drop(server);
            let size = pipelined.len();
            assert_eq!(received_by(&client), written, "{size} bytes pipelined");
            assert!(whole, "{size} bytes pipelined: the close said cut");
        }
    }

    /// A close that found no closing place free does not wait for a client
    /// that has sent nothing unread to hang up: it closes once the client
    /// has acknowledged every byte, keeping its slot no longer, and the
    /// client gets every byte and the FIN. With a place, or with input
    /// waiting, the same close waits for the client to hang up, here until
    /// [`CLOSE_READ_TIMEOUT`], since this one never does.
    #[test]
    fn a_close_without_a_place_waits_only_for_a_client_that_sent_more() {
        for (hang_up, sent, waits) in [(false, 0, false), (true, 0, true), (false, 5, true)] {
            let (server, client, written) = a_response_mostly_unsent();
            (&client).write_all(&b"more!"[..sent]).unwrap();
            arrived(&server, sent);
            let case = format!("wait_for_hang_up {hang_up}, {sent} bytes sent");
            let waited = thread::scope(|scope| {
                let reader = scope.spawn(|| received_by(&client));
                let started = Instant::now();
                assert!(close_gracefully(&server, hang_up), "{case}");
                let waited = started.elapsed();
                drop(server);
                assert_eq!(reader.join().unwrap(), written, "{case}");
                waited
            });
            assert_eq!(waited >= CLOSE_READ_TIMEOUT, waits, "{case}: {waited:?}");
        }
    }

    /// But a client that has not acknowledged the response by then is not
    /// closed on while it is unacknowledged: a byte it sends after the close
    /// would reset the connection and throw away the tail the kernel still
    /// holds. Here the client reads nothing for 100 ms, then sends a second
    /// request, then reads: every byte, and a FIN.
    #[test]
    fn a_close_without_a_place_waits_for_the_acknowledgement() {
        let (server, client, written) = a_response_mostly_unsent();
        let received = thread::scope(|scope| {
            let reader = scope.spawn(|| {
                thread::sleep(Duration::from_millis(100));
                (&client).write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                thread::sleep(Duration::from_millis(50));
                received_by(&client)
            });
            assert!(close_gracefully(&server, false), "every byte acknowledged");
            drop(server);
            reader.join().unwrap()
        });
        assert_eq!(received, written);
    }
}
