//! The request head: read from the socket within a deadline and a size
//! limit, then parsed as bytes (RFC 9112 §2.2, §3, §5).
//!
//! A request head is bytes, not text: HTTP predates UTF-8, field values may
//! carry any octet, and a parser that first converts to a `String` either
//! rejects valid input or, worse, guesses. So everything here works on
//! `&[u8]` and only ever compares against ASCII.
//!
//! Two defenses are part of reading, not a later hardening pass, because a
//! client controls both how much it sends and how slowly:
//! - the whole head must arrive within a deadline counted from accept
//!   ([`read_head`]), so a client that trickles bytes (Slowloris) or sends
//!   nothing cannot hold a thread forever;
//! - the head must fit in [`MAX_HEAD_BYTES`], and it is read into one
//!   fixed buffer of that size, so no client can make it grow.
//!
//! The parser is strict: what RFC 9112 says a server MUST or MAY reject, it
//! rejects with 400, because lenient parsing is where request smuggling
//! lives (two parsers disagreeing about where a request ends).

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Instant;

use crate::response::Status;

/// Largest request head accepted: 16 KiB, Node's default
/// (`--max-http-header-size`). Apache and nginx allow about 8 KiB per line.
/// Exceeding it is answered with 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Longest request line accepted: 8 KiB, like Apache's `LimitRequestLine`
/// and nginx's `large_client_header_buffers`. Exceeding it is 414.
pub const MAX_REQUEST_LINE_BYTES: usize = 8 * 1024;

/// Most header fields accepted: Apache's `LimitRequestFields` is 100 too.
/// Exceeding it is 431.
pub const MAX_HEADER_FIELDS: usize = 100;

/// A request method this server knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// Any other well-formed method: answered with 405.
    Other,
}

/// The HTTP versions a request may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A parsed request head. It borrows the bytes it was parsed from.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: Method,
    /// The path of the target, still percent-encoded (routes are plain
    /// ASCII, compared byte for byte).
    pub path: &'a [u8],
    /// What follows `?` in the target, if anything; still percent-encoded.
    pub query: Option<&'a [u8]>,
    pub version: Version,
    /// Header fields in arrival order, names as sent (compare them with
    /// `eq_ignore_ascii_case`), values with surrounding whitespace removed.
    pub fields: Vec<(&'a [u8], &'a [u8])>,
}

impl Request<'_> {
    /// The values of every field named `name`, case-insensitively.
    pub fn field_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| *v)
    }
}

/// Why a head was rejected: the status to answer with and a one-line reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadError {
    pub status: Status,
    pub reason: &'static str,
}

const fn bad(reason: &'static str) -> HeadError {
    HeadError {
        status: Status::BadRequest,
        reason,
    }
}

/// Why reading a head stopped before a complete one arrived.
#[derive(Debug)]
pub enum ReadHeadError {
    /// The client closed the connection first; there is no one to answer.
    Closed,
    /// The deadline passed: answer 408.
    TimedOut,
    /// No end of head within [`MAX_HEAD_BYTES`]: answer 414 or 431.
    TooLarge(HeadError),
    /// The socket failed; there is no one to answer.
    Io(io::Error),
}

/// Reads until the blank line that ends a request head, and returns the head
/// (with its final CRLF CRLF).
///
/// The deadline covers the whole head: before every `read` the socket's
/// timeout is set to the time that is left, so a client sending one byte a
/// second gains nothing (a plain per-read timeout would restart with each
/// byte). Bytes after the head, if the client sent any, are ignored: this
/// server reads no request bodies and closes after one response.
pub fn read_head<'b>(
    stream: &TcpStream,
    buf: &'b mut [u8; MAX_HEAD_BYTES],
    deadline: Instant,
) -> Result<&'b [u8], ReadHeadError> {
    let mut filled = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadHeadError::TimedOut);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(ReadHeadError::Io)?;
        let n = match (&*stream).read(&mut buf[filled..]) {
            Ok(0) => return Err(ReadHeadError::Closed),
            Ok(n) => n,
            // A timed-out read reports WouldBlock on Unix, TimedOut on Windows.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ReadHeadError::TimedOut);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadHeadError::Io(e)),
        };
        // The terminator may straddle two reads: look back 3 bytes.
        let search_from = filled.saturating_sub(3);
        filled += n;
        if let Some(at) = find(&buf[search_from..filled], b"\r\n\r\n") {
            return Ok(&buf[..search_from + at + 4]);
        }
        if filled == buf.len() {
            return Err(ReadHeadError::TooLarge(oversized_head_error(buf)));
        }
    }
}

/// A head that did not fit: 414 if the request line alone was too long, so
/// the client knows it is the URL and not its headers.
fn oversized_head_error(head: &[u8]) -> HeadError {
    let request_line_len = find(head, b"\r\n").unwrap_or(head.len());
    if request_line_len > MAX_REQUEST_LINE_BYTES {
        HeadError {
            status: Status::UriTooLong,
            reason: "request line longer than 8 KiB",
        }
    } else {
        HeadError {
            status: Status::RequestHeaderFieldsTooLarge,
            reason: "request head larger than 16 KiB",
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Parses a complete head: a request line, header fields, and the empty
/// line, every line ending in CRLF.
pub fn parse(head: &[u8]) -> Result<Request<'_>, HeadError> {
    let mut lines = Lines { rest: head };
    let request_line = lines.next().ok_or(bad("empty request"))??;
    if request_line.len() > MAX_REQUEST_LINE_BYTES {
        return Err(HeadError {
            status: Status::UriTooLong,
            reason: "request line longer than 8 KiB",
        });
    }
    let (method, target, version) = parse_request_line(request_line)?;
    let (path, query) = split_target(target)?;

    let mut fields = Vec::new();
    loop {
        let line = lines
            .next()
            .ok_or(bad("request head does not end with an empty line"))??;
        if line.is_empty() {
            break;
        }
        if fields.len() == MAX_HEADER_FIELDS {
            return Err(HeadError {
                status: Status::RequestHeaderFieldsTooLarge,
                reason: "more than 100 header fields",
            });
        }
        fields.push(parse_field_line(line)?);
    }
    if !lines.rest.is_empty() {
        return Err(bad("bytes after the end of the request head"));
    }

    let request = Request {
        method,
        path,
        query,
        version,
        fields,
    };
    check_framing(&request)?;
    Ok(request)
}

/// The head's lines, each without its CRLF. A line feed without a carriage
/// return, or a carriage return without a line feed, is an error: RFC 9112
/// §2.2 lets a server reject a bare CR, and accepting a bare LF where a
/// proxy in front of us would not is how requests get smuggled.
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<&'a [u8], HeadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let lf = self.rest.iter().position(|&b| b == b'\n')?;
        let (line, rest) = (&self.rest[..lf], &self.rest[lf + 1..]);
        self.rest = rest;
        let Some(line) = line.strip_suffix(b"\r") else {
            return Some(Err(bad("line ends in a bare LF, not CRLF")));
        };
        if line.contains(&b'\r') {
            return Some(Err(bad("bare CR in the request head")));
        }
        Some(Ok(line))
    }
}

/// `method SP request-target SP HTTP-version`, with exactly one space
/// between the parts (RFC 9112 §3).
fn parse_request_line(line: &[u8]) -> Result<(Method, &[u8], Version), HeadError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("request line must be: METHOD SP TARGET SP HTTP/1.1"));
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(bad("method is not a token"));
    }
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => Method::Other,
    };
    if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(bad(
            "request target is empty or has bytes outside visible ASCII",
        ));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(HeadError {
                status: Status::HttpVersionNotSupported,
                reason: "only HTTP/1.0 and HTTP/1.1 are supported",
            });
        }
        _ => return Err(bad("malformed HTTP version")),
    };
    Ok((method, target, version))
}

/// Splits a request target into path and query (RFC 9112 §3.2). Besides the
/// usual origin-form (`/path?query`), a server must accept absolute-form
/// (`http://host/path?query`), which clients send to proxies; its authority
/// is ignored, as `Connection: close` leaves no room for confusion.
fn split_target(target: &[u8]) -> Result<(&[u8], Option<&[u8]>), HeadError> {
    let origin_form = if target.starts_with(b"/") {
        target
    } else if let Some(after_scheme) = strip_prefix_ignore_case(target, b"http://")
        .or_else(|| strip_prefix_ignore_case(target, b"https://"))
    {
        match after_scheme.iter().position(|&b| b == b'/' || b == b'?') {
            Some(start) if after_scheme[start] == b'/' => &after_scheme[start..],
            // `http://host` or `http://host?q`: the path is empty, meaning `/`.
            _ => b"/",
        }
    } else {
        return Err(bad(
            "request target must be a path starting with / or an absolute URL",
        ));
    };
    Ok(match origin_form.iter().position(|&b| b == b'?') {
        Some(q) => (&origin_form[..q], Some(&origin_form[q + 1..])),
        None => (origin_form, None),
    })
}

fn strip_prefix_ignore_case<'a>(bytes: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = bytes.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &bytes[prefix.len()..])
}

/// `field-name ":" OWS field-value OWS` (RFC 9112 §5).
fn parse_field_line(line: &[u8]) -> Result<(&[u8], &[u8]), HeadError> {
    if line.starts_with(b" ") || line.starts_with(b"\t") {
        // RFC 9112 §5.2: obs-fold; a server must reject it or unfold it.
        return Err(bad("obsolete line folding in a header field"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(bad("header field without a colon"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.last().is_some_and(|&b| b == b' ' || b == b'\t') {
        // RFC 9112 §5.1: a server MUST reject whitespace before the colon.
        return Err(bad("whitespace between a header field name and its colon"));
    }
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(bad("header field name is not a token"));
    }
    let value = value.trim_ascii_start().trim_ascii_end();
    // VCHAR, obs-text, and whitespace inside; no control bytes (NUL, CR, …).
    if !value
        .iter()
        .all(|&b| b == b' ' || b == b'\t' || b >= 0x21 && b != 0x7f)
    {
        return Err(bad("control character in a header field value"));
    }
    Ok((name, value))
}

/// Rules about the request as a whole: a Host for HTTP/1.1 (RFC 9112 §3.2),
/// and no body, since this server reads none and a body it did not read
/// would be taken for the next request by anyone keeping the connection.
fn check_framing(request: &Request<'_>) -> Result<(), HeadError> {
    let hosts = request.field_values("host").count();
    if request.version == Version::Http11 && hosts == 0 {
        return Err(bad("HTTP/1.1 request without a Host header field"));
    }
    if hosts > 1 {
        return Err(bad("more than one Host header field"));
    }
    if request.field_values("transfer-encoding").next().is_some() {
        return Err(bad("request bodies are not accepted (Transfer-Encoding)"));
    }
    if request.field_values("content-length").any(|v| v != b"0") {
        return Err(bad("request bodies are not accepted (Content-Length)"));
    }
    Ok(())
}

/// `tchar` of RFC 9110 §5.6.2: the bytes a token (method, field name) may use.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(head: &[u8]) -> Result<(), (u16, &'static str)> {
        parse(head)
            .map(|_| ())
            .map_err(|e| (e.status.code(), e.reason))
    }

    #[test]
    fn parses_a_typical_request() {
        let head = b"GET /export.csv?rows=5&mode=bounded HTTP/1.1\r\nHost: localhost:8080\r\n\
                     User-Agent: curl/8.5.0\r\nAccept:   */*  \r\n\r\n";
        let request = parse(head).unwrap();
        assert_eq!(request.method, Method::Get);
        assert_eq!(request.path, b"/export.csv");
        assert_eq!(request.query, Some(&b"rows=5&mode=bounded"[..]));
        assert_eq!(request.version, Version::Http11);
        assert_eq!(request.fields.len(), 3);
        assert_eq!(request.field_values("ACCEPT").collect::<Vec<_>>(), [b"*/*"]);
    }

    #[test]
    fn http_1_0_needs_no_host_and_other_methods_parse() {
        let request = parse(b"HEAD / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(
            (request.method, request.version),
            (Method::Head, Version::Http10)
        );
        assert_eq!(request.query, None);
        let request = parse(b"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(request.method, Method::Other);
    }

    #[test]
    fn absolute_form_targets_become_paths() {
        for (target, path, query) in [
            (
                "http://example.com/export.csv?rows=1",
                "/export.csv",
                Some("rows=1"),
            ),
            ("HTTPS://example.com", "/", None),
            ("http://example.com?rows=1", "/", None),
        ] {
            let head = format!("GET {target} HTTP/1.1\r\nHost: example.com\r\n\r\n");
            let request = parse(head.as_bytes()).unwrap();
            assert_eq!(request.path, path.as_bytes(), "{target}");
            assert_eq!(request.query, query.map(str::as_bytes), "{target}");
        }
    }

    #[test]
    fn rejects_malformed_heads_with_the_right_status() {
        let cases: &[(&[u8], u16)] = &[
            (b"\r\n\r\n", 400),
            (b"GET /\r\n\r\n", 400),
            (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
            (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            (b"GET / HTTP/0.9\r\n\r\n", 505),
            (b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
                400,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nextra", 400),
        ];
        for (head, status) in cases {
            let got = status_of(head).expect_err(&String::from_utf8_lossy(head));
            assert_eq!(
                got.0,
                *status,
                "{:?}: {}",
                String::from_utf8_lossy(head),
                got.1
            );
        }
    }

    #[test]
    fn content_length_zero_is_not_a_body() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").is_ok());
    }

    #[test]
    fn enforces_the_field_count_and_request_line_limits() {
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 1..MAX_HEADER_FIELDS {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        assert!(parse(&head).is_ok(), "exactly the limit is fine");
        head.truncate(head.len() - 2);
        head.extend_from_slice(b"X-last: v\r\n\r\n");
        assert_eq!(status_of(&head).unwrap_err().0, 431);

        let long = format!(
            "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
            "a".repeat(MAX_REQUEST_LINE_BYTES)
        );
        assert_eq!(status_of(long.as_bytes()).unwrap_err().0, 414);
    }

    #[test]
    fn oversized_heads_blame_the_right_part() {
        let mut long_line = vec![b'a'; MAX_HEAD_BYTES];
        long_line[..5].copy_from_slice(b"GET /");
        assert_eq!(oversized_head_error(&long_line).status, Status::UriTooLong);
        let mut many_fields = b"GET / HTTP/1.1\r\n".to_vec();
        many_fields.resize(MAX_HEAD_BYTES, b'x');
        assert_eq!(
            oversized_head_error(&many_fields).status,
            Status::RequestHeaderFieldsTooLarge
        );
    }
}
