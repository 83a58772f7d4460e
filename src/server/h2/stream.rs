//! One HTTP/2 stream's turn on a thread: it answers its request through
//! the same routes and strategies as HTTP/1.1, with the stream as the
//! `Wire`, and writes the stream's access-log line once the response is
//! done (its END_STREAM written) or cut (its RST_STREAM queued).
//!
//! A request whose HEADERS left the stream open without a content-length
//! is *open-ended*: whether it has a body, which this server refuses, is
//! known only from what comes next. Before answering, its thread waits for
//! that: a first byte of body (400) or the stream's end (answered as any
//! request), at most `--header-timeout` from the HEADERS (then 408), as
//! long as an HTTP/1.1 head gets to arrive. The wait holds what an answer
//! holds, the thread and one of the connection's 16 answering places, no
//! more.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::hand_off::StreamBody;
use super::streams::Conn;
use super::turn::Turn;
use crate::http::h2::frame::ErrorCode;
use crate::http::h2::request::BODY_REFUSED;
use crate::http::request::Version;
use crate::http::response::{ResponseHead, Status};
use crate::measure::access_log::{AccessRecord, End};
use crate::measure::metrics::METRICS;
use crate::server::Shared;
use crate::server::routes::{self, Answer};
use crate::strategy::Wire;

/// A stream's turn on its thread: answers its request, or the error
/// status it already earned, and writes the stream's access-log line.
pub fn answer(
    conn: &Conn,
    turn: Turn,
    shared: &Shared,
    (peer, local): (SocketAddr, Option<SocketAddr>),
) {
    let Turn {
        id,
        mut job,
        asked,
        taken,
        ..
    } = turn;
    let head_only = asked.head_only;
    // Made before the wait: a stream gone while its request waits leaves
    // the table as `out` drops.
    let out = StreamBody::new(conn, id, head_only, shared.config.min_data_rate());
    let rest = match &job {
        Ok(request) if request.open_ended => {
            wait_for_body_or_end(conn, id, taken + shared.config.header_timeout)
        }
        // Nothing to wait for: the HEADERS ended the stream or said whether
        // a body follows, or the request was refused already.
        _ => Rest::Empty,
    };
    match rest {
        Rest::Empty => {}
        Rest::Body => job = Err(BODY_REFUSED),
        Rest::Late => job = Err(NOT_ENDED),
        Rest::TrailersTooLarge => job = Err(TRAILERS_TOO_LARGE),
        // Reset before the request was whole: no answer and no log line, as
        // for a stream reset while it waited for a thread.
        Rest::Gone => return,
    }
    let answer = match &job {
        Ok(request) => {
            let (path, query) = (&request.path[..], request.query.as_deref());
            routes::answer(request.method, path, query, Version::Http2, shared, local)
        }
        Err((status, reason)) => Answer::error(None, *status, reason),
    };
    // A panic while answering, for the test that it ends the connection
    // (`h2/mod.rs`); `out` resets the stream as it unwinds.
    #[cfg(test)]
    if crate::test_support::panics_here(crate::test_support::PanicIn::H2Stream, local) {
        panic!("a deliberate test panic in an HTTP/2 stream thread");
    }
    // A producer refused by a buffering cap resets the stream. The label
    // only fails the stream's writes: the strategy's error says which cap,
    // and that is what the log and metrics count.
    let cancel = || {
        conn.lock()
            .reset(id, ErrorCode::InternalError, End::BufferCap);
    };
    // Anything but an export: sent whole (its head only for HEAD), counted.
    // Its HEADERS go out on their own, before the body: one whose body is
    // then cut is logged with its status, as an export's is.
    let small = |out: &mut StreamBody<'_>, mode, head: ResponseHead, body: &[u8]| {
        let status = head.status();
        let mut head_sent = false;
        let sent = out.send_head(&head).and_then(|()| {
            head_sent = true;
            if head_only {
                return Ok(0);
            }
            io::Write::write_all(out, body)?;
            out.end_body()?;
            Ok(body.len() as u64)
        });
        let mut outcome = routes::small_sent(mode, status, sent);
        // Its head went out and its body did not: logged with its status
        // and counted, as an export cut after its head is, so that the
        // log's lines and `backpressure_responses_total` add up.
        if head_sent && outcome.status.is_none() {
            METRICS.responded(mode, status);
            outcome.status = Some(status);
        }
        outcome
    };
    // A stream's reset by its client is carried by its write's error;
    // only a bare one, its connection gone, can be the cut's.
    let cutting = || shared.connections.cutting();
    let mut outcome = routes::send(answer, head_only, out, &cancel, &cutting, shared, small);
    // Logged `end=header-timeout`, as HTTP/1.1 logs a head that came too
    // late; a 408 whose sending was cut keeps the cut's end.
    if rest == Rest::Late && outcome.end == End::Complete {
        outcome.end = End::HeaderTimeout;
    }
    if !shared.config.quiet {
        AccessRecord {
            peer,
            request_line: Some(asked.line),
            duration: taken.elapsed(),
            outcome,
        }
        .write();
    }
}

/// The answer to an open-ended request that neither sent a byte of body
/// nor ended within `--header-timeout` of its HEADERS.
const NOT_ENDED: (Status, &str) = (
    Status::RequestTimeout,
    "request not ended (END_STREAM) in time",
);

/// The answer to an open-ended request ended by trailers over the header
/// list limit (`MAX_HEADER_LIST_BYTES`), whose fields past it were dropped
/// unchecked: as for HEADERS over it (RFC 9113 §10.5.1).
const TRAILERS_TOO_LARGE: (Status, &str) = (
    Status::RequestHeaderFieldsTooLarge,
    "request trailer fields too large",
);

/// What an open-ended request turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rest {
    /// The client ended the stream with no byte of body (an empty DATA
    /// frame, or trailers): a request like any other.
    Empty,
    /// A byte of body came: refused at once, as a body is, without waiting
    /// for the rest.
    Body,
    /// Neither by `due`: 408.
    Late,
    /// Ended by trailers over the header list limit: 431.
    TrailersTooLarge,
    /// Reset, by either side, or its connection ended, first.
    Gone,
}

/// Waits until open-ended stream `id` says what it is, or `due` passes.
/// Woken by the reader at the first byte of body and at the client's end
/// (`frame_rules.rs`), and by a reset or the connection's end: each wakes
/// the stream's thread, so it needs no look in between.
pub(super) fn wait_for_body_or_end(conn: &Conn, id: u32, due: Instant) -> Rest {
    let mut state = conn.lock();
    loop {
        let Some(stream) = state.streams.get(&id).filter(|s| s.reset.is_none()) else {
            return Rest::Gone;
        };
        // A body that came with the end is still a body.
        if stream.body_seen {
            return Rest::Body;
        }
        if !stream.remote_open {
            return if stream.trailers_too_large {
                Rest::TrailersTooLarge
            } else {
                Rest::Empty
            };
        }
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Rest::Late;
        }
        let wake = Arc::clone(&stream.wake);
        state = conn.wait_for(&wake, state, left);
    }
}
