//! One HTTP/2 stream's turn on a thread: it answers its request through
//! the same routes and strategies as HTTP/1.1, with the stream as the
//! `Wire`, and writes the stream's access-log line once the response is
//! done (its END_STREAM written) or cut (its RST_STREAM queued).

use std::io;
use std::net::SocketAddr;

use super::hand_off::StreamBody;
use super::streams::Conn;
use super::turn::Turn;
use crate::http::h2::frame::ErrorCode;
use crate::http::request::Version;
use crate::http::response::ResponseHead;
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
        job,
        asked,
        taken,
        ..
    } = turn;
    let head_only = asked.head_only;
    let answer = match &job {
        Ok(request) => {
            let (path, query) = (&request.path[..], request.query.as_deref());
            routes::answer(request.method, path, query, Version::Http2, shared, local)
        }
        Err((status, reason)) => Answer::error(None, *status, reason),
    };
    let out = StreamBody::new(conn, id, head_only, shared.config.min_data_rate());
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
    let outcome = routes::send(answer, head_only, out, &cancel, &cutting, shared, small);
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
