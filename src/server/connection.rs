//! One connection, from accept to close: read the head, respond, close
//! gracefully (how, in `graceful_close.rs`), write the access-log line.
//!
//! Each connection gets its own thread (see [`crate::server`]), and this is
//! everything that thread does. A response here is done when its last byte
//! was accepted by the kernel, not when a handler returned a value: the
//! export strategies write the body themselves, on this thread, and only
//! return once it has drained into the socket or the client has gone.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::graceful_close::close_gracefully;
use super::{Shared, h2, routes};
use crate::defense::{
    self,
    head_deadline::{self, ReadHeadError},
};
use crate::http::h2::frame::PREFACE_HEAD;
use crate::http::partial_head;
use crate::http::request;
use crate::http::response::Status;
use crate::measure::access_log::{AccessRecord, End, Outcome, refused_request_line, request_line};
use crate::measure::metrics::{Counted, METRICS};
use crate::sys;

/// How often a connection whose client has sent nothing yet looks whether
/// a shutdown began, so that a shutdown waits at most this long for it.
/// Waking 10 times a second, only until the first byte or the header
/// timeout, is cheap; Go's server polls its idle connections the same way.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// Whether a client may still send once its answer is out, as
/// [`read_and_respond`] found it: past the closing places, a close waits
/// for the client to hang up only if it may. Read only after a whole
/// response, the one kind [`prepare_close`] makes graceful.
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
    // takes the option. Linux passes the listener's mark on to the sockets
    // it accepts; setting it again keeps the bound from resting on that.
    if let Some(bytes) = config.notsent_lowat {
        let _ = sys::set_notsent_lowat(stream, bytes);
    }
    // Answers other than an export's body (small ones, errors) are written
    // straight to the socket: without a send timeout a client that stops
    // reading would hold this thread forever (an export's writes set their
    // own, `DeadlineWriter`). A socket that takes no timeout is broken, so
    // it is not served at all, and the client taken to have gone.
    let (request_line, mut outcome, asked) =
        if stream.set_write_timeout(Some(config.send_timeout)).is_err() {
            (None, Outcome::ended(End::ClientAbort), Asked::All)
        } else {
            read_and_respond(stream, shared, accepted_at, peer, id)
        };
    if prepare_close(stream, &mut outcome, shared, id) {
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
        let closing = METRICS.connection_closing(config.max_closing() as u64);
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
/// owner lets go.
///
/// - A whole response ends gracefully, unless the shutdown's cut reached it
///   before it left the cut's list: the cut's reset ends it then.
/// - One the server cut (a timeout, a cap, the shutdown) ends in a reset,
///   counted: the client learns at once, over HTTP/1.0 too, where a FIN
///   would look like a complete body, and the kernel frees the send queue
///   now rather than drain megabytes to a client that reads none.
/// - Any other export whose head went out (its `status` says so) and whose
///   body did not ends in a reset too, uncounted: most are a client that
///   left, to whom it makes no difference, but a write can also fail with
///   the client still there (the kernel out of buffers), and then only a
///   reset keeps a cut HTTP/1.0 body from passing for a whole one.
/// - The rest end with a FIN, as nothing can pass for whole there: a client
///   that closed its side having asked nothing, a small answer whose write
///   failed (no status; its `Content-Length` shows it cut), an HTTP/2
///   connection (its streams end in END_STREAM or a reset of their own).
fn prepare_close(stream: &TcpStream, outcome: &mut Outcome, shared: &Shared, id: u64) -> bool {
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
/// request line for the access log once it has parsed (the head around it
/// may still be refused), what the response came to, and whether the
/// client has asked all it will.
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
    // A head refused after its request line parsed is logged with that
    // line, as HTTP/2 logs a request it refuses so.
    let refused_line = |head: &[u8]| {
        if config.quiet {
            None
        } else {
            refused_request_line(head)
        }
    };
    let (head, after) = match head_deadline::read_head(stream, &mut buf, deadline) {
        Ok(read) => read,
        Err(error) => {
            let Some(answer) = error.answer() else {
                let outcome = drain_timeout_if_cut(Outcome::ended(End::ClientAbort), shared, id);
                return (None, outcome, Asked::All);
            };
            // A HEAD gets no body, even one that never finished.
            let head_only = partial_head::is_head(&buf) == Some(true);
            let mut outcome =
                routes::reply_error(stream, None, answer.status, answer.reason, head_only);
            if matches!(error, ReadHeadError::TimedOut) && outcome.end == End::Complete {
                outcome.end = End::HeaderTimeout;
            }
            let outcome = drain_timeout_if_cut(outcome, shared, id);
            // A head never whole (too large, too late, cut short, or not a
            // request at all), though its request line may be. Its client
            // may still be sending, but one that cut it short: waiting for
            // that one to hang up costs nothing, its FIN is in.
            return (refused_line(&buf), outcome, Asked::MaybeMore);
        }
    };
    let line = || (!config.quiet).then(|| request_line(head));
    // HTTP/2 with prior knowledge: its preface begins like a head.
    if head == PREFACE_HEAD {
        // Its reader and writer name a failure the cut's as they meet it: a
        // client gone before the cut stays the client's abort, however long
        // the connection's streams take to finish after.
        let outcome = h2::serve(stream, after, shared, peer, id, accepted_at);
        return (line(), outcome, Asked::MaybeMore);
    }
    match request::parse_head(head) {
        Ok(request) => {
            let outcome = routes::respond(stream, &request, shared, id);
            let outcome = drain_timeout_if_cut(outcome, shared, id);
            (line(), outcome, Asked::All)
        }
        // A HEAD request gets no body even when it is malformed.
        Err(e) => {
            let head_only = head.starts_with(b"HEAD ");
            let outcome = routes::reply_error(stream, None, e.status, e.reason, head_only);
            let outcome = drain_timeout_if_cut(outcome, shared, id);
            (refused_line(head), outcome, Asked::MaybeMore)
        }
    }
}

/// An HTTP/1 `outcome` of connection `id` as the log names it: a client's
/// abort is the shutdown's cut (`end=drain-timeout`) once the cut has ended
/// the connection, since the cut fails a read or a write as a client's
/// reset would. Asked as the failure is met, not once the connection is
/// over: a client that left before the cut stays the client's abort, and
/// so does one whose reset the cut found waiting for a thread that had not
/// touched its socket since
/// ([`Connections::cut_reached`](super::shutdown::Connections::cut_reached)).
/// An export's own abort count is named earlier, as it is counted
/// (`routes::run_export`'s `cut_by_shutdown`); this names the line, and a
/// small answer's or a read's failure.
fn drain_timeout_if_cut(outcome: Outcome, shared: &Shared, id: u64) -> Outcome {
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

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

    /// Each connection sets the mark itself, not only through the
    /// listener's, which Linux passes on: the socket here comes from a
    /// listener that has none. Without a mark (`--notsent-lowat off`) the
    /// socket keeps none, which shows the one read back is the server's.
    #[test]
    fn every_connection_is_given_the_mark() {
        for mark in [Some(8 * 1024), None] {
            let (server, mut client) = crate::test_support::loopback();
            assert_eq!(sys::notsent_lowat(&server).unwrap(), 0);
            client
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap();
            // Nothing more comes: the server closes without waiting.
            client.shutdown(std::net::Shutdown::Write).unwrap();
            let shared = Shared {
                config: ServerConfig {
                    notsent_lowat: mark,
                    quiet: true,
                    ..ServerConfig::default()
                },
                budget: Arc::new(BufferBudget::new(0)),
                connections: Connections::with_capacity(1),
            };
            let peer = client.local_addr().unwrap();
            handle(&server, peer, &shared, Instant::now(), 1, &mut None);
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).unwrap();
            assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
            assert_eq!(sys::notsent_lowat(&server).unwrap(), mark.unwrap_or(0));
        }
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
        assert!(!prepare_close(&server, &mut outcome, &shared, 1));
        drop(server);
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let end = client.read_to_end(&mut Vec::new()).map_err(|e| e.kind());
        assert_eq!(end, Err(ErrorKind::ConnectionReset));
        assert_eq!(outcome.end, End::ClientAbort, "not the server's cut");
    }
}
