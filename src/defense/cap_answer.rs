//! What a connection turned away is answered (past the cap, or below it
//! with no thread to serve it, each told its own reason), decided from the
//! first bytes of its request: the 503 (its head alone for HEAD), the
//! server's preface and a GOAWAY for HTTP/2, or the answer of one of the
//! server's own endpoints (`/metrics`, `/healthz`) in the 503's place.
//!
//! Nothing here touches a socket: [`Asked::of`] reads bytes that have been
//! peeked at, and [`Answer::response`] makes bytes to write. When to look,
//! how long to wait for a head and how long to linger after the answer is
//! the lingering thread's business (`connection_cap.rs`); each socket's
//! [`Lingering`](super::turned_away::Lingering) writes these bytes, counts
//! them and logs them.

use std::fmt;
use std::sync::Arc;

use crate::http::h2::frame::{ErrorCode, PREFACE_HEAD};
use crate::http::h2::frame_write;
use crate::http::partial_head;
use crate::http::request::{self, Request};
use crate::http::response::{self, Status, TEXT_PLAIN};
use crate::measure::access_log::request_line;

/// When a turned-away client should try again, in `Retry-After` and in the
/// 503's one-line reason: a second, in which a connection usually frees.
const RETRY_AFTER_SECONDS: u32 = 1;

/// Bytes peeked at: enough for the first line of HTTP/2's preface, for
/// `HEAD ` after a few empty lines, and for the whole head of a scrape
/// (Prometheus sends about 300 bytes, curl under 100), on the lingering
/// thread's stack. A longer head is answered from its first bytes alone.
pub(super) const PEEK_BYTES: usize = 1024;

/// The server's own endpoints, answered even at the cap: a request whose
/// head parsed whole gets the response this returns, written in place of
/// the 503; `None` leaves it the 503. It runs on the lingering thread, so
/// it must be quick and must not block: `/metrics` and `/healthz` are.
pub type OwnEndpoints = dyn Fn(&Request<'_>) -> Option<OwnResponse> + Send + Sync;

/// A whole response to one of the server's own endpoints.
#[derive(Debug, PartialEq, Eq)]
pub struct OwnResponse {
    /// Its status, for the metrics and the access log.
    pub status: Status,
    /// The head and the body (none for HEAD), as they go on the wire, in one
    /// write that must not block. A fresh socket takes a scrape's few KiB
    /// at once, with no `--notsent-lowat` mark: `/metrics`' 12 KiB even
    /// into a client's 4 KiB window. One its send buffer cannot take whole
    /// gets part of it and a reset (`Content-Length` tells the cut too),
    /// and is a rejection (`turned_away.rs`).
    pub bytes: Vec<u8>,
    /// How many of `bytes` are body, for the access log.
    pub body_bytes: u64,
}

/// Why a connection is turned away: what its 503's reason (or GOAWAY's
/// debug data) tells the client, and whoever reads it for the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-connections` are open already.
    AtCap,
    /// Below the cap, but the OS had no thread to serve it (RLIMIT_NPROC,
    /// or no memory for its stack): blaming the cap would send an operator
    /// to the wrong knob.
    NoThread,
}

/// The 503 and its log line, written by whoever answers: the lingering
/// thread, or the accept loop when the queue is full.
#[derive(Clone)]
pub(super) struct Answer {
    /// The 503's body at the cap, made once: a one-line reason. Its head
    /// is made per response, since each carries its own `Date`.
    at_cap: String,
    /// The same, for a connection no thread could be started for.
    no_thread: String,
    /// No access-log line per rejection (`serve --quiet`).
    pub(super) quiet: bool,
    /// What is answered in place of the 503 (`/metrics`, `/healthz`).
    pub(super) own: Arc<OwnEndpoints>,
}

/// Every field but `own`, a function, which has nothing to show.
impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Answer {
            at_cap,
            no_thread,
            quiet,
            own: _,
        } = self;
        f.debug_struct("Answer")
            .field("at_cap", at_cap)
            .field("no_thread", no_thread)
            .field("quiet", quiet)
            .finish_non_exhaustive()
    }
}

impl Answer {
    /// The answers of a server that logs each one unless `quiet`, and
    /// answers its own endpoints with `own`.
    pub(super) fn new(quiet: bool, own: Arc<OwnEndpoints>) -> Answer {
        let seconds = RETRY_AFTER_SECONDS;
        Answer {
            at_cap: format!("server at its connection limit; retry in {seconds} s\n"),
            no_thread: format!(
                "server cannot start a thread for this connection; retry in {seconds} s\n"
            ),
            quiet,
            own,
        }
    }

    /// The one-line reason a connection turned away for `why` is told.
    pub(super) fn reason(&self, why: Refusal) -> &str {
        match why {
            Refusal::AtCap => &self.at_cap,
            Refusal::NoThread => &self.no_thread,
        }
    }

    /// The whole 503 for a connection turned away for `why`, dated
    /// `unix_seconds`: status, `Retry-After` so clients and balancers know
    /// when to try again, and the one-line reason unless HEAD asked. The
    /// head says the reason's length either way. Over HTTP/2, the server's
    /// preface (an empty SETTINGS) and a GOAWAY with the reason as its
    /// debug data.
    pub(super) fn response(&self, unix_seconds: u64, asked: &Asked, why: Refusal) -> Vec<u8> {
        let reason = self.reason(why).as_bytes();
        if *asked == Asked::Http2 {
            let mut frames = Vec::new();
            frame_write::settings(&mut frames, &[]);
            let debug = reason.trim_ascii_end();
            frame_write::goaway(&mut frames, 0, ErrorCode::RefusedStream, debug);
            return frames;
        }
        let head = response::small_head(Status::ServiceUnavailable, TEXT_PLAIN, reason)
            .header("Retry-After", RETRY_AFTER_SECONDS.to_string());
        let mut response = head.to_bytes(unix_seconds);
        if *asked == Asked::Get {
            response.extend_from_slice(reason);
        }
        response
    }
}

/// What a client past the cap asked for, as far as its whole head, or
/// failing that its first bytes, tell.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Asked {
    /// Anything over HTTP/1 but HEAD: the whole 503.
    Get,
    /// HEAD: the 503's head alone.
    Head,
    /// HTTP/2 with prior knowledge: SETTINGS and GOAWAY in place of a 503.
    Http2,
    /// One of the server's own endpoints, and its request line for the log.
    Own(OwnResponse, String),
}

impl Asked {
    /// What `start`, a request's first bytes, asks for; `None` while they
    /// do not tell yet. A head not yet whole is waited for until `waited`
    /// (it may be a scrape); then the first bytes decide, a GET if even
    /// they do not tell.
    pub(super) fn of(start: &[u8], own: &OwnEndpoints, waited: bool) -> Option<Asked> {
        // From the request line, as `head_deadline::read_head` looks: two
        // empty lines before it are not the blank line that ends a head,
        // and HTTP/2's preface after them is served as HTTP/2 below the cap.
        let line = &start[request::empty_lines(start)..];
        if line.starts_with(PREFACE_HEAD) {
            return Some(Asked::Http2);
        }
        match partial_head::head_end(line, 0, line.len()) {
            Some(end) => {
                let head = &line[..end];
                if let Ok(request) = request::parse_head(head)
                    && let Some(response) = own(&request)
                {
                    return Some(Asked::Own(response, request_line(head)));
                }
            }
            None if !waited && start.len() < PEEK_BYTES => return None,
            None => {}
        }
        match partial_head::is_head(start) {
            Some(true) => Some(Asked::Head),
            Some(false) => Some(Asked::Get),
            None => waited.then_some(Asked::Get),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_own_endpoints() -> Arc<OwnEndpoints> {
        Arc::new(|_| None)
    }

    #[test]
    fn the_response_is_well_framed_with_or_without_its_body() {
        let answer = Answer::new(true, no_own_endpoints());
        let reason = answer.reason(Refusal::AtCap);
        let response = answer.response(784_111_777, &Asked::Get, Refusal::AtCap);
        let text = std::str::from_utf8(&response).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, "server at its connection limit; retry in 1 s\n");
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
        assert!(head.contains("\r\nRetry-After: 1"));
        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", reason.len())));
        let head_only = answer.response(784_111_777, &Asked::Head, Refusal::AtCap);
        assert_eq!(head_only, &response[..head.len() + 4]);
    }

    /// A whole head decides at once: an own endpoint gets its answer, the
    /// rest by their method. A head still arriving is waited for; once the
    /// wait is over, its first bytes tell HEAD from the rest, and HTTP/2's
    /// preface from HTTP/1, if there are enough of them.
    #[test]
    fn what_was_asked_is_known_from_the_head_or_its_first_bytes() {
        let own = |request: &Request<'_>| {
            let ours = request.path == b"/healthz";
            ours.then(|| OwnResponse {
                status: Status::Ok,
                bytes: b"HTTP/1.1 200 OK\r\n\r\nok\n".to_vec(),
                body_bytes: 3,
            })
        };
        let of = |start: &[u8], waited| Asked::of(start, &own, waited);
        let scrape = b"\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
        let line = "GET /healthz HTTP/1.1".to_string();
        let answered = Some(Asked::Own(
            own(&request::parse_head(scrape).unwrap()).unwrap(),
            line,
        ));
        assert_eq!(of(scrape, false), answered);
        // Empty lines before the request line are skipped, as a connection
        // thread skips them: two of them are not the head's blank line.
        let after_empty_lines = b"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(of(after_empty_lines, false), of(scrape, false));
        assert_eq!(
            of(b"HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n", false),
            Some(Asked::Head)
        );
        // Not a request this server would answer: the 503, as to a GET.
        assert_eq!(
            of(b"GET /healthz HTTP/1.1\r\n\r\n", false),
            Some(Asked::Get)
        );
        // A bare LF ends a head at once, first byte or not: the 503.
        assert_eq!(of(b"\nGET / HTTP/1.1\r\n\r\n", false), Some(Asked::Get));
        assert_eq!(of(b"PRI * HTTP/2.0\r\n\r\n", false), Some(Asked::Http2));
        assert_eq!(of(b"\r\nPRI * HTTP/2.0\r\n\r\n", false), Some(Asked::Http2));
        for (start, then) in [
            (&b"PRI * HTTP/2"[..], Asked::Get),
            (b"PRI /x HTTP/1.1", Asked::Get),
            (b"\r\nHEAD / HTTP/1.1", Asked::Head),
            (b"HEA", Asked::Get),
            (b"GET /healthz HTTP/1.1\r\nHost: a\r\n", Asked::Get),
        ] {
            assert_eq!(of(start, false), None, "{start:?}");
            assert_eq!(of(start, true), Some(then), "{start:?}");
        }
        // A head longer than is peeked at cannot be read whole: its first
        // bytes decide at once.
        let long = [&b"HEAD /healthz?"[..], &[b'x'; PEEK_BYTES]].concat();
        assert_eq!(of(&long[..PEEK_BYTES], false), Some(Asked::Head));
    }

    /// Over HTTP/2: an empty SETTINGS (the server's preface), then GOAWAY
    /// naming stream 0 with REFUSED_STREAM and the reason.
    #[test]
    fn an_http2_client_is_sent_away_in_frames() {
        let answer = Answer::new(true, no_own_endpoints());
        let frames = answer.response(784_111_777, &Asked::Http2, Refusal::AtCap);
        let reason = b"server at its connection limit; retry in 1 s";
        let mut expected = vec![0, 0, 0, 4, 0, 0, 0, 0, 0];
        expected.extend_from_slice(&[0, 0, 8 + reason.len() as u8, 7, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
        expected.extend_from_slice(reason);
        assert_eq!(frames, expected);
    }
}
