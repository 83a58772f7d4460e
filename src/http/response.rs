//! Response heads: the status line and header fields, and the small
//! complete responses (pages, metrics, errors) that are not exports.
//!
//! Every head carries `Date`, which RFC 9110 §6.6.1 requires of an origin
//! server with a clock. This module has no clock, so the time is an argument
//! of [`ResponseHead::to_bytes`]: the caller reads it when the head is sent,
//! which for `buffer` can be seconds after the head was made.
//!
//! Every response closes its connection (`Connection: close`): one request per
//! connection keeps the server small, and it is what lets a close-delimited
//! (HTTP/1.0) body end at all. The price is a TCP handshake per request,
//! which is the first thing a production server (hyper, axum) buys back with
//! keep-alive.

use std::io::{self, Write};

use crate::export::calendar::{IMF_FIXDATE_LEN, UtcDateTime};

/// The status codes this server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    UriTooLong,
    RequestHeaderFieldsTooLarge,
    InternalServerError,
    NotImplemented,
    ServiceUnavailable,
    HttpVersionNotSupported,
}

impl Status {
    /// Every variant, in declaration order (so `ALL[s.index()] == s`).
    pub const ALL: [Status; 11] = [
        Status::Ok,
        Status::BadRequest,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::RequestTimeout,
        Status::UriTooLong,
        Status::RequestHeaderFieldsTooLarge,
        Status::InternalServerError,
        Status::NotImplemented,
        Status::ServiceUnavailable,
        Status::HttpVersionNotSupported,
    ];

    /// Position in [`Status::ALL`], for counters kept per status.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The status code.
    pub fn code(self) -> u16 {
        self.code_and_reason().0
    }

    /// The reason phrase of RFC 9110 §15.
    pub fn reason(self) -> &'static str {
        self.code_and_reason().1
    }

    fn code_and_reason(self) -> (u16, &'static str) {
        match self {
            Status::Ok => (200, "OK"),
            Status::BadRequest => (400, "Bad Request"),
            Status::NotFound => (404, "Not Found"),
            Status::MethodNotAllowed => (405, "Method Not Allowed"),
            Status::RequestTimeout => (408, "Request Timeout"),
            Status::UriTooLong => (414, "URI Too Long"),
            Status::RequestHeaderFieldsTooLarge => (431, "Request Header Fields Too Large"),
            Status::InternalServerError => (500, "Internal Server Error"),
            Status::NotImplemented => (501, "Not Implemented"),
            Status::ServiceUnavailable => (503, "Service Unavailable"),
            Status::HttpVersionNotSupported => (505, "HTTP Version Not Supported"),
        }
    }
}

/// How the client learns where the body ends (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// The length is known before the first byte: only possible when the
    /// whole body exists up front (the `buffer` strategy, small pages).
    ContentLength(u64),
    /// `Transfer-Encoding: chunked`: each piece carries its length and a
    /// zero-length piece ends the body, so a body cut short is detectable.
    /// HTTP/1.1 only.
    Chunked,
    /// The body ends when the server closes the connection. The only way to
    /// stream to an HTTP/1.0 client, which does not know chunked; its flaw is
    /// that a close mid-body looks like a complete body to the client.
    CloseDelimited,
    /// HTTP/2: DATA frames carry the body and the END_STREAM flag ends it,
    /// so a stream cut short (RST_STREAM) is never mistaken for a complete
    /// one. No header field; never written as an HTTP/1 head.
    Frames,
}

/// A status line and header fields, not yet sent.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    /// The status line's code and reason phrase.
    status: Status,
    /// Fields besides framing, `Date` and `Connection`, in sending order.
    fields: Vec<(&'static str, String)>,
    /// Adds the `Content-Length` or `Transfer-Encoding` field, and tells the
    /// body writer how to frame the body.
    framing: Framing,
}

impl ResponseHead {
    pub fn new(status: Status, framing: Framing) -> Self {
        ResponseHead {
            status,
            fields: Vec::new(),
            framing,
        }
    }

    /// Adds a header field. Values come from this program, never from a
    /// request, so they cannot smuggle a CRLF into the head.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.fields.push((name, value.into()));
        self
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The fields besides framing, `Date` and `Connection`, in sending
    /// order: what an HTTP/2 HEADERS frame carries after `:status`.
    pub fn fields(&self) -> &[(&'static str, String)] {
        &self.fields
    }

    /// The head as it goes on the wire, dated `unix_seconds` (now, read by
    /// the caller). We answer `HTTP/1.1` to 1.0 clients too, as RFC 9110
    /// §6.2 asks; the framing is what must suit them.
    pub fn to_bytes(&self, unix_seconds: u64) -> Vec<u8> {
        // Writing into a Vec cannot fail.
        let mut head = Vec::with_capacity(256);
        let (code, reason) = self.status.code_and_reason();
        let _ = write!(head, "HTTP/1.1 {code} {reason}\r\n");
        let mut date = [0; IMF_FIXDATE_LEN];
        UtcDateTime::from_unix_seconds(unix_seconds).write_imf_fixdate(&mut date);
        head.extend_from_slice(b"Date: ");
        head.extend_from_slice(&date);
        head.extend_from_slice(b"\r\n");
        for (name, value) in &self.fields {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        match self.framing {
            Framing::ContentLength(len) => {
                let _ = write!(head, "Content-Length: {len}\r\n");
            }
            Framing::Chunked => head.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            Framing::CloseDelimited | Framing::Frames => {}
        }
        head.extend_from_slice(b"Connection: close\r\n\r\n");
        head
    }
}

/// A whole small response, dated `unix_seconds`, in one write: `head`
/// (made by [`small_head`], with the body's `Content-Length`) and `body`.
/// Every error goes out this way, so that its body (one line saying what
/// was wrong) always reaches the client intact. `head_only` leaves the body
/// out, for HEAD: the head still says how long the body would have been
/// (RFC 9110 §9.3.2).
pub fn write_small(
    mut out: impl Write,
    head: ResponseHead,
    body: &[u8],
    head_only: bool,
    unix_seconds: u64,
) -> io::Result<()> {
    let mut bytes = head.to_bytes(unix_seconds);
    if !head_only {
        bytes.extend_from_slice(body);
    }
    out.write_all(&bytes)?;
    out.flush()
}

/// The head for a small body: its length, and a type.
pub fn small_head(status: Status, content_type: &'static str, body: &[u8]) -> ResponseHead {
    ResponseHead::new(status, Framing::ContentLength(body.len() as u64))
        .header("Content-Type", content_type)
}

/// `text/plain` in UTF-8, for pages, errors and health checks.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_all_is_in_index_order() {
        for (i, status) in Status::ALL.iter().enumerate() {
            assert_eq!(status.index(), i);
        }
    }

    /// Each status line as registered (RFC 9110 §15; 431 in RFC 6585 §5):
    /// a code a client acts on (a 503 it may retry, a 400 it may not) and
    /// its phrase.
    #[test]
    fn every_status_line_is_as_registered() {
        let registered = [
            "200 OK",
            "400 Bad Request",
            "404 Not Found",
            "405 Method Not Allowed",
            "408 Request Timeout",
            "414 URI Too Long",
            "431 Request Header Fields Too Large",
            "500 Internal Server Error",
            "501 Not Implemented",
            "503 Service Unavailable",
            "505 HTTP Version Not Supported",
        ];
        for (status, line) in Status::ALL.into_iter().zip(registered) {
            let head = ResponseHead::new(status, Framing::ContentLength(0)).to_bytes(0);
            let expected = format!("HTTP/1.1 {line}\r\n");
            assert!(head.starts_with(expected.as_bytes()), "{status:?}");
            assert_eq!(format!("{} {}", status.code(), status.reason()), line);
        }
    }

    /// RFC 9110 §5.6.7's example instant, in Unix seconds.
    const SUN_06_NOV_1994: u64 = 784_111_777;

    #[test]
    fn head_bytes_per_framing() {
        let head =
            ResponseHead::new(Status::Ok, Framing::Chunked).header("Content-Type", "text/csv");
        assert_eq!(
            head.to_bytes(SUN_06_NOV_1994),
            b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
              Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let head = ResponseHead::new(Status::NotFound, Framing::ContentLength(3));
        assert_eq!(
            head.to_bytes(0),
            b"HTTP/1.1 404 Not Found\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
              Content-Length: 3\r\nConnection: close\r\n\r\n"
        );
        let head = ResponseHead::new(Status::Ok, Framing::CloseDelimited);
        assert_eq!(
            head.to_bytes(SUN_06_NOV_1994),
            b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn small_responses_can_leave_out_the_body_for_head() {
        let mut out = Vec::new();
        let head = small_head(Status::Ok, TEXT_PLAIN, b"ok\n");
        write_small(&mut out, head, b"ok\n", true, SUN_06_NOV_1994).unwrap();
        assert!(out.ends_with(b"Content-Length: 3\r\nConnection: close\r\n\r\n"));
    }
}
