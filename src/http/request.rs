//! The request head, parsed as bytes (RFC 9112 §2.2, §3, §5).
//!
//! A request head is bytes, not text: HTTP predates UTF-8, field values may
//! carry any octet, and a parser that first converts to a `String` either
//! rejects valid input or, worse, guesses. So everything here works on
//! `&[u8]` and only ever compares against ASCII.
//!
//! The limits on a head are part of the wire format, so they are here:
//! [`MAX_HEAD_BYTES`] in all, [`MAX_REQUEST_LINE_BYTES`] for the request
//! line, [`MAX_HEADER_FIELDS`] fields.
//!
//! The parser is strict: what RFC 9112 says a server MUST or MAY reject, it
//! rejects with 400, because lenient parsing is where request smuggling
//! lives (two parsers disagreeing about where a request ends). It is lenient
//! in the one place the RFC asks it to be: empty lines before the request
//! line are skipped (§2.2), as clients that end a body with an extra CRLF
//! send them. The request target inside the request line, its forms and
//! its host, is taken apart by [`target`](super::target).
//!
//! Some of a head can be judged before all of it has arrived, and is: its
//! first bytes, where it ends, what a head too large is blamed on, in
//! [`partial_head`](super::partial_head); and, here, its request line as
//! soon as that line is whole ([`check_request_line`]), so that one that
//! is none (HTTP/0.9's `GET /`) gets its answer at once, as the whole head
//! would.

use super::response::Status;
use super::target::{ASTERISK_NOT_OPTIONS, is_uri_byte, is_valid_host, split_target};

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

/// The answer to a request line over [`MAX_REQUEST_LINE_BYTES`] that a
/// method this server knows begins ([`line_too_long`]).
pub(crate) const REQUEST_LINE_TOO_LONG: HeadError = HeadError {
    status: Status::UriTooLong,
    reason: "request line longer than 8 KiB",
};
/// The answer to a method this server does not know (RFC 9110 §9.1): 501,
/// however long the method or the line.
pub(crate) const UNKNOWN_METHOD: HeadError = HeadError {
    status: Status::NotImplemented,
    reason: "unknown method: this server implements GET and HEAD",
};
/// The answer to a head over [`MAX_HEAD_BYTES`].
pub(super) const HEAD_TOO_LARGE: HeadError = HeadError {
    status: Status::RequestHeaderFieldsTooLarge,
    reason: "request head larger than 16 KiB",
};
/// The answer to more than [`MAX_HEADER_FIELDS`] fields.
pub(crate) const TOO_MANY_FIELDS: HeadError = HeadError {
    status: Status::RequestHeaderFieldsTooLarge,
    reason: "more than 100 header fields",
};

/// A request method this server knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    /// Like GET, but the response must carry no body (RFC 9110 §9.3.2).
    Head,
    /// A method HTTP defines that this server does not allow (POST, PUT
    /// …): answered with 405 and an `Allow` field (RFC 9110 §15.5.6).
    NotAllowed,
    /// A well-formed token that names no method this server knows: answered
    /// with 501 (RFC 9110 §9.1), never looked at further. However long the
    /// method: one that makes the request line too long is not the URI's
    /// fault, so it is a 501 too, not a 414 (`line_too_long`).
    Unknown,
}

impl Method {
    /// The method a token names. Method names are case-sensitive (RFC 9110
    /// §9.1): `get` is unknown.
    pub fn of(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            known if OTHER_KNOWN_METHODS.contains(&known) => Method::NotAllowed,
            _ => Method::Unknown,
        }
    }
}

/// Methods RFC 9110 §9 and RFC 5789 (PATCH) define, besides GET and HEAD:
/// a server recognises them, so a request for one gets 405, not 501.
const OTHER_KNOWN_METHODS: [&[u8]; 7] = [
    b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH",
];

/// The HTTP versions a request may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
    /// Never parsed from a head: an HTTP/2 request arrives as frames
    /// (`http/h2/`), and only the preface looks like a head.
    Http2,
}

/// A parsed request head. It borrows the bytes it was parsed from.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// Decides between a response, a head-only response, a 405 and a 501.
    pub method: Method,
    /// The path of the target as sent, still percent-encoded (routes
    /// compare its normal form, `target::normal_path`); `*` for `OPTIONS *`,
    /// and `host:port` for CONNECT, whose answer is a 405 whatever it names.
    pub path: &'a [u8],
    /// What follows `?` in the target, if anything; still percent-encoded.
    pub query: Option<&'a [u8]>,
    /// Decides the framing: HTTP/1.0 clients do not understand chunked.
    pub version: Version,
    /// Header fields in arrival order, names as sent (compare them with
    /// `eq_ignore_ascii_case`), values with surrounding whitespace removed;
    /// at most `MAX_HEADER_FIELDS`, slices of the head, never copies.
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
    /// 400 for malformed input; 414, 431, 501 or 505 where HTTP has a more
    /// precise answer.
    pub status: Status,
    /// One line for the response body, saying what was wrong.
    pub reason: &'static str,
}

pub(super) const fn bad(reason: &'static str) -> HeadError {
    HeadError {
        status: Status::BadRequest,
        reason,
    }
}

/// How many bytes at the start of `bytes` are empty lines (CRLF), which a
/// server ignores before the request line (RFC 9112 §2.2: it SHOULD ignore
/// at least one). Only whole CRLFs: a final lone CR may be the first half
/// of one more, and is left for the next read to complete.
pub fn empty_lines(bytes: &[u8]) -> usize {
    let mut skipped = 0;
    while bytes[skipped..].starts_with(b"\r\n") {
        skipped += 2;
    }
    skipped
}

/// Parses a complete head: a request line, header fields, and the empty
/// line, every line ending in CRLF. Empty lines before the request line are
/// skipped, as the head's reader (`defense/head_deadline.rs`) skips them.
pub fn parse_head(head: &[u8]) -> Result<Request<'_>, HeadError> {
    let head = &head[empty_lines(head)..];
    let mut lines = Lines { rest: head };
    let request_line = lines.next().ok_or(bad("empty request"))??;
    let mut request = judge_request_line(request_line)?;
    loop {
        let line = lines
            .next()
            .ok_or(bad("request head does not end with an empty line"))??;
        if line.is_empty() {
            break;
        }
        if request.fields.len() == MAX_HEADER_FIELDS {
            return Err(TOO_MANY_FIELDS);
        }
        request.fields.push(parse_field_line(line)?);
    }
    // `read_head` never returns bytes past the blank line; this guards
    // callers of the public `parse_head` that pass more.
    if !lines.rest.is_empty() {
        return Err(bad("bytes after the end of the request head"));
    }
    check_framing(&request)?;
    Ok(request)
}

/// The request a request line asks, the line without its CRLF, with no
/// fields yet; or why the line is none.
fn judge_request_line(line: &[u8]) -> Result<Request<'_>, HeadError> {
    if line.len() > MAX_REQUEST_LINE_BYTES {
        return Err(line_too_long(line));
    }
    let (method_name, target, version) = parse_request_line(line)?;
    let (path, query) = split_target(method_name, target).map_err(bad)?;
    Ok(Request {
        method: Method::of(method_name),
        path,
        query,
        version,
        fields: Vec::new(),
    })
}

/// Why a request line over [`MAX_REQUEST_LINE_BYTES`] is refused, judged
/// from `start`, the line or as much of it as has come (never parsed: it
/// may be cut anywhere). A server SHOULD answer a method longer than any it
/// implements with 501 (RFC 9112 §3), and a method it does not know is a
/// 501 at any length here: so the line is the URI's fault (414) only when
/// a method this server knows begins it. A method still arriving, with no
/// space after it yet, is already past every method's length. Bytes no
/// method is made of are the URI's fault too, as before a method was
/// looked at.
pub(crate) fn line_too_long(start: &[u8]) -> HeadError {
    let method = start.split(|&b| b == b' ').next().unwrap_or(start);
    let token = !method.is_empty() && method.iter().all(|&b| is_tchar(b));
    if token && Method::of(method) == Method::Unknown {
        UNKNOWN_METHOD
    } else {
        REQUEST_LINE_TOO_LONG
    }
}

/// Checks a request's first line as soon as it is whole (its LF is in
/// `start`, which begins at the request line), before the rest of the head
/// has arrived: a line that is no request line gets the answer the whole
/// head would get, at once. `GET /` and a CRLF is the whole request of an
/// HTTP/0.9 client, which sends no more and waits: without this its answer
/// would be the head deadline's 408, for a head that never comes. `Ok`
/// while the line is not whole, unless a bare CR in it already makes it
/// none. HTTP/2's preface opens with a line that is none on purpose (`PRI *
/// HTTP/2.0`, a 505 here): a reader that takes the preface lets its line
/// through before asking.
pub fn check_request_line(start: &[u8]) -> Result<(), HeadError> {
    match (Lines { rest: start }).next() {
        Some(line) => judge_request_line(line?).map(|_| ()),
        None => Ok(()),
    }
}

/// The request line of `head`, without its CRLF, if it is one: its
/// method, target and version parse, however the rest of the head is
/// judged, or whether it ever ended (too large, or too slow). What the
/// access log prints of a refused head, as of one served: every byte one
/// a method, a URI or a version allows, none that could end the quoted
/// field or the line.
pub fn request_line_of(head: &[u8]) -> Option<&[u8]> {
    let line = (Lines {
        rest: &head[empty_lines(head)..],
    })
    .next()?
    .ok()?;
    judge_request_line(line).ok().map(|_| line)
}

/// The head's lines, each without its CRLF. A line feed without a carriage
/// return, or a carriage return without a line feed, is an error: RFC 9112
/// §2.2 lets a server reject a bare CR, and accepting a bare LF where a
/// proxy in front of us would not is how requests get smuggled.
struct Lines<'a> {
    /// What is left of the head after the lines handed out so far.
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<&'a [u8], HeadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let Some(lf) = self.rest.iter().position(|&b| b == b'\n') else {
            // A head its reader ended at a bare CR, which no line feed follows
            // (`partial_head::head_end`): a CR before the last byte is one.
            let before_last = self.rest.split_last().map_or(&[][..], |(_, before)| before);
            return before_last
                .contains(&b'\r')
                .then_some(Err(bad("bare CR in the request head")));
        };
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
/// between the parts (RFC 9112 §3). The method comes back as its name, for
/// the target forms that belong to one method.
fn parse_request_line(line: &[u8]) -> Result<(&[u8], &[u8], Version), HeadError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method_name), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("request line must be: METHOD SP TARGET SP HTTP/1.1"));
    };
    if method_name.is_empty() || !method_name.iter().all(|&b| is_tchar(b)) {
        return Err(bad("method is not a token"));
    }
    if target.is_empty() || !target.iter().all(|&b| is_uri_byte(b)) {
        return Err(bad(
            "request target is empty or has bytes a URI cannot contain",
        ));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        // A later 1.x is answered as 1.1, the highest minor version we
        // implement (RFC 9110 §2.5).
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            Version::Http11
        }
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
    // RFC 9112 §3.2.4: the asterisk-form is only for a server-wide OPTIONS;
    // `GET *` names no resource at all. Checked after the version, so that
    // the HTTP/2 preface (`PRI * HTTP/2.0`) is told about its version.
    if target == b"*" && method_name != b"OPTIONS" {
        return Err(bad(ASTERISK_NOT_OPTIONS));
    }
    Ok((method_name, target, version))
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
    let value = trim_ows(value);
    // Whitespace inside, VCHAR and obs-text; no control bytes (NUL, CR, …).
    let allowed = |b: &u8| matches!(b, b' ' | b'\t' | 0x21..=0x7e | 0x80..=0xff);
    if !value.iter().all(allowed) {
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
    if !request.field_values("host").all(is_valid_host) {
        return Err(bad("Host header field is not a valid host"));
    }
    if request.field_values("transfer-encoding").next().is_some() {
        return Err(bad("request bodies are not accepted (Transfer-Encoding)"));
    }
    // Anything that is no number (a sign, a list, nothing) is refused as
    // such, so that its reason does not send the client looking for a body
    // it never sent; zero, however many digits, is no body.
    for length in request.field_values("content-length") {
        if length.is_empty() || !length.iter().all(u8::is_ascii_digit) {
            return Err(bad("Content-Length is not one decimal number"));
        }
        if length.iter().any(|&digit| digit != b'0') {
            return Err(bad("request bodies are not accepted (Content-Length)"));
        }
    }
    Ok(())
}

/// `tchar` of RFC 9110 §5.6.2: the bytes a token (method, field name) may use.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A field value without the optional whitespace around it (RFC 9110
/// §5.5). OWS is SP and HTAB only; `trim_ascii` would also eat a form feed,
/// and two parsers disagreeing about a value is how a length gets smuggled.
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |last| last + 1);
    &value[start..end]
}

/// `1*DIGIT` as a number: no sign, no space, no exponent; `None` if empty,
/// if any byte is not a digit, or past `u64` (a `Content-Length`, a row
/// count).
pub(crate) fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests;
