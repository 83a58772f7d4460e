//! An HTTP/2 request from its decoded header list (RFC 9113 §8.3): the
//! pseudo-header fields first (`:method`, `:scheme`, `:path`,
//! `:authority`), then ordinary fields with lowercase names, none of the
//! HTTP/1 connection-specific ones, and a `content-length` that matches
//! the DATA that follows. CONNECT is the exception (§8.5): `:method` and
//! `:authority` alone, a `host:port`.
//!
//! A list that breaks these rules is a *malformed* request, which RFC 9113
//! §8.1.1 answers with a stream error of type PROTOCOL_ERROR: the stream
//! ends, the connection goes on.

use crate::http::request::{
    MAX_HEADER_FIELDS, MAX_REQUEST_LINE_BYTES, Method, TOO_MANY_FIELDS, decimal, is_tchar,
};
use crate::http::response::Status;
use crate::http::target::{
    ASTERISK_NOT_OPTIONS, is_uri_byte, is_valid_host, split_query, split_target,
};

/// What a request asks for, copied out of its header list for the
/// stream's thread.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// `:method`.
    pub method: Method,
    /// `:path` up to `?`, still percent-encoded; CONNECT's `:authority`.
    pub path: Vec<u8>,
    /// What follows `?` in `:path`, if anything.
    pub query: Option<Vec<u8>>,
    /// `content-length`, if sent: what the DATA that follows must add up
    /// to, which only the connection can count.
    pub content_length: Option<u64>,
    /// The HEADERS left the stream open and said nothing of a body (no
    /// content-length, no `expect: 100-continue`; not CONNECT, whose open
    /// stream is its tunnel's): only what comes next can say, a byte of
    /// DATA (400, [`BODY_REFUSED`]) or the stream's end without one
    /// (answered as if the HEADERS had ended it). Clients do send bodiless
    /// requests so: python's h2 ends such a stream with an empty DATA frame
    /// when `end_stream()` follows `send_headers()`.
    pub open_ended: bool,
    /// The status earned before the routes see it, as HTTP/1.1's head
    /// reader and parser would give it: 414 for a target too long for a
    /// request line, then 431 for more fields than it takes, then 400 for
    /// a body its content-length or `expect: 100-continue` announces, which
    /// is read and thrown away.
    pub refused: Option<(Status, &'static str)>,
}

/// The answer to a request with a body, as over HTTP/1.1: this server takes
/// none. Its reason names what showed the body: DATA on a stream its
/// HEADERS left open-ended, or else what the HEADERS announced it by.
pub const BODY_REFUSED: (Status, &str) =
    (Status::BadRequest, "request bodies are not accepted (DATA)");
const LENGTH_REFUSED: (Status, &str) = (
    Status::BadRequest,
    "request bodies are not accepted (content-length)",
);
const CONTINUE_REFUSED: (Status, &str) = (
    Status::BadRequest,
    "request bodies are not accepted (expect: 100-continue)",
);

/// Fields that describe an HTTP/1 connection, meaningless on an HTTP/2
/// stream (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];

/// The answer to a request whose line, as HTTP/1.1 would send it
/// ([`http1_line_bytes`]), is over [`MAX_REQUEST_LINE_BYTES`], its method
/// one this server knows: the longest URI read is the same over either
/// protocol (RFC 9110 §15.5.15), to the byte, so that no request is a 414
/// over one and served over the other.
const LINE_TOO_LONG: (Status, &str) = (
    Status::UriTooLong,
    "request line, as HTTP/1.1 would send it, longer than 8 KiB",
);

/// How long the request line of `method` on `target` (`:path`, CONNECT's
/// `:authority`) would be over HTTP/1.1, `method SP target SP HTTP/1.1`
/// without its CRLF: what HTTP/1.1's limit measures. HTTP/2 has no request
/// line; measuring the target alone would serve here a target HTTP/1.1
/// answers with 414: one longer than its limit allows by up to the method
/// and version's length (13 bytes for GET).
fn http1_line_bytes(method: &[u8], target: &[u8]) -> usize {
    method.len() + b" ".len() + target.len() + b" HTTP/1.1".len()
}

/// Checks a regular field (not a pseudo-header one) of a request or of
/// its trailers (`frame_rules.rs`): RFC 9113 §8.2.1's rules, and none of
/// the connection-specific fields of §8.2.2. The error is one line saying
/// what is wrong.
pub fn check_field(name: &[u8], value: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b) && !b.is_ascii_uppercase()) {
        return Err("a field name that is not a lowercase token");
    }
    // NUL, CR and LF are what RFC 9113 §8.2.1 names; every control byte but
    // HTAB is invalid (RFC 9110 §5.5), and HTTP/1.1's parser refuses them
    // all.
    if value.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
        return Err("a field value with a control byte (NUL, CR, LF ...)");
    }
    // HTTP/1 strips it as OWS; HTTP/2 forbids it (RFC 9113 §8.2.1).
    let mut ends = value.first().into_iter().chain(value.last());
    if ends.any(|b| matches!(b, b' ' | b'\t')) {
        return Err("a field value that starts or ends with whitespace");
    }
    if CONNECTION_SPECIFIC.contains(&name) {
        return Err("a connection-specific field");
    }
    if name == b"te" && value != b"trailers" {
        return Err("te other than trailers");
    }
    Ok(())
}

/// Checks a decoded header list and finds the request in it; `ends_stream`:
/// END_STREAM was on its HEADERS, so no DATA follows. The error is one
/// line saying what made it malformed.
pub fn parse(fields: &[(Vec<u8>, Vec<u8>)], ends_stream: bool) -> Result<Request, &'static str> {
    let [mut method, mut scheme, mut path, mut authority] = [None; 4];
    let (mut regular, mut content_length, mut expects_continue) = (0, None, false);
    let is_100_continue = |m: &[u8]| m.trim_ascii().eq_ignore_ascii_case(b"100-continue");
    for (name, value) in fields {
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular > 0 {
                return Err("a pseudo-header field after a regular one");
            }
            let slot = match pseudo {
                b"method" => &mut method,
                b"scheme" => &mut scheme,
                b"path" => &mut path,
                b"authority" => &mut authority,
                _ => return Err("an unknown or response pseudo-header field"),
            };
            if slot.replace(value.as_slice()).is_some() {
                return Err("a pseudo-header field twice");
            }
            continue;
        }
        regular += 1;
        check_field(name, value)?;
        // Only a client with a body to send asks for a 100 before it (RFC
        // 9110 §10.1.1); `expect` is a comma-separated list (§5.6.1).
        expects_continue |= name == b"expect" && value.split(|&b| b == b',').any(is_100_continue);
        // It must equal the DATA that follows (§8.1.1): none, if the
        // HEADERS ended the stream. Two that differ cannot both.
        if name == b"content-length" {
            let length = decimal(value).filter(|&n| !ends_stream || n == 0);
            if length.is_none() || content_length.is_some_and(|known| Some(known) != length) {
                return Err("a content-length that does not match the body");
            }
            content_length = length;
        }
    }
    // A request names its host once, as HTTP/1.1's Host (RFC 9110 §7.2):
    // in :authority, or a host field, which may stand in for it, or both
    // if they agree; and, unlike HTTP/1.1's Host, not empty (RFC 9113
    // §8.3.1).
    let mut hosts = fields.iter().filter(|(name, _)| name == b"host");
    let host = hosts.next().map(|(_, value)| &value[..]);
    if hosts.next().is_some() || authority.zip(host).is_some_and(|(a, h)| a != h) {
        return Err("more than one host, in :authority or host");
    }
    match authority.or(host) {
        None => Err("no host, in :authority or host"),
        Some(b"") => Err(":authority or host is empty"),
        Some(named) if !is_valid_host(named) => Err(":authority or host is not a valid host"),
        Some(_) => Ok(()),
    }?;
    // As many fields as HTTP/1.1 takes, counted as it counts them: Host
    // among them, which `:authority` stands for when no host field came.
    let counted = regular + usize::from(host.is_none());
    let too_many = (counted > MAX_HEADER_FIELDS).then_some(TOO_MANY_FIELDS);
    let too_many = too_many.map(|error| (error.status, error.reason));
    // CONNECT names only its tunnel's host and port, and its stream stays
    // open for the tunnel's bytes, not a body: a 405 answers it, as over
    // HTTP/1.1, and then the client is told to send nothing more.
    let (method, target, body, open_ended) = if method == Some(b"CONNECT") {
        let (Some(authority), None, None) = (authority, scheme, path) else {
            return Err("CONNECT with :scheme or :path, or without :authority");
        };
        let (authority, _) = split_target(b"CONNECT", authority)?;
        (b"CONNECT".as_slice(), authority, None, false)
    } else {
        let (Some(method), Some(scheme), Some(path)) = (method, scheme, path) else {
            return Err(":method, :scheme or :path missing");
        };
        // Never looked at further, but a field like any other: no NUL, CR or
        // LF (§8.2.1), and one valid value (§8.3.1), a URI's scheme (RFC 3986
        // §3.1).
        let scheme_byte = |b: &u8| b.is_ascii_alphanumeric() || b"+-.".contains(b);
        if !scheme.first().is_some_and(u8::is_ascii_alphabetic) || !scheme.iter().all(scheme_byte) {
            return Err(":scheme is not a scheme");
        }
        if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
            return Err(":method is not a token");
        }
        // Origin form, or the asterisk form of a server-wide OPTIONS (RFC
        // 9113 §8.3.1), which is answered 405 whatever it names.
        if path == b"*" && method != b"OPTIONS" {
            return Err(ASTERISK_NOT_OPTIONS);
        }
        let origin = path.starts_with(b"/") || path == b"*";
        if !origin || !path.iter().all(|&b| is_uri_byte(b)) {
            return Err(":path is not a path starting with /");
        }
        // A body is refused at once when the HEADERS announce one: by a
        // content-length above 0, or, on a stream left open without a
        // content-length, by `expect: 100-continue`, whose client would
        // wait for a 100 that never comes. A content-length of 0 says none
        // follows, as HTTP/1.1's `Content-Length: 0` does (an empty DATA
        // frame may still end the stream; the connection holds it to that
        // 0). A stream left open with neither is open-ended: only what
        // comes next can say.
        let open_without_length = !ends_stream && content_length.is_none();
        let announced = if content_length.is_some_and(|length| length > 0) {
            Some(LENGTH_REFUSED)
        } else {
            (open_without_length && expects_continue).then_some(CONTINUE_REFUSED)
        };
        let open_ended = open_without_length && announced.is_none();
        (method, path, announced, open_ended)
    };
    // A method this server does not know is a 501 however long, as over
    // HTTP/1.1 (`request::line_too_long`): the routes answer it.
    let line_bytes = http1_line_bytes(method, target);
    let method = Method::of(method);
    let known = method != Method::Unknown;
    let too_long = (known && line_bytes > MAX_REQUEST_LINE_BYTES).then_some(LINE_TOO_LONG);
    // A CONNECT's host:port, a valid host, has no `?`: no query.
    let (path, query) = split_query(target);
    Ok(Request {
        method,
        path: path.to_vec(),
        query: query.map(<[u8]>::to_vec),
        content_length,
        open_ended,
        refused: too_long.or(too_many).or(body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fields<'a> = Vec<(&'a str, &'a str)>;

    const GOOD: [(&str, &str); 5] = [
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", "/export.csv?rows=3&mode=bounded"),
        ("user-agent", "curl/7.88.1"),
    ];

    /// [`GOOD`] with field `i` replaced.
    fn with<'a>(i: usize, field: (&'a str, &'a str)) -> Fields<'a> {
        let mut fields = GOOD.to_vec();
        fields[i] = field;
        fields
    }

    fn parsed(fields: &[(&str, &str)], ends_stream: bool) -> Result<Request, &'static str> {
        let bytes = |s: &str| s.as_bytes().to_vec();
        let list: Vec<_> = fields.iter().map(|(n, v)| (bytes(n), bytes(v))).collect();
        parse(&list, ends_stream)
    }

    #[test]
    fn a_good_request() {
        let request = parsed(&GOOD, true).unwrap();
        assert_eq!(request.method, Method::Get);
        assert_eq!(request.path, b"/export.csv");
        assert_eq!(request.query.as_deref(), Some(&b"rows=3&mode=bounded"[..]));
    }

    /// Each rule, broken by a list that breaks only that rule (so that no
    /// other check can refuse it first), refuses with the line that names
    /// it: here, a part of that line no other line has. Each of the three
    /// pseudo-fields a request needs is missed alone, and an empty name or
    /// `:method` is no token (a token has at least one byte).
    #[test]
    fn each_rule_refuses_with_its_own_reason() {
        let without = |i: usize| [&GOOD[..i], &GOOD[i + 1..]].concat();
        let twice = |i: usize| [&GOOD[..4], &[GOOD[i]], &GOOD[4..]].concat();
        let host_only = |hosts: &[(&'static str, &'static str)]| [&without(2)[..], hosts].concat();
        let refused = |fields: &[(&str, &str)], ends_stream, part: &str| {
            let reason = parsed(fields, ends_stream).expect_err(part);
            assert!(reason.contains(part), "{fields:?}: {reason}");
        };
        let cases: Vec<(Fields, &str)> = vec![
            (without(0), ":method, :scheme or :path missing"),
            (without(1), ":method, :scheme or :path missing"),
            (without(3), ":method, :scheme or :path missing"),
            (twice(3), "twice"),
            (twice(2), "twice"),
            (with(1, (":authority", "x")), "twice"),
            (with(3, (":status", "200")), "unknown or response"),
            (with(4, ("User-Agent", "x")), "lowercase token"),
            (with(4, ("", "x")), "lowercase token"),
            (with(4, ("connection", "close")), "connection-specific"),
            (with(4, ("keep-alive", "5")), "connection-specific"),
            (with(4, ("proxy-connection", "x")), "connection-specific"),
            (
                with(4, ("transfer-encoding", "chunked")),
                "connection-specific",
            ),
            (with(4, ("upgrade", "h2c")), "connection-specific"),
            (with(4, ("te", "gzip")), "te other than trailers"),
            (with(4, ("x", "a\r\nb")), "control byte"),
            (with(4, ("x", "a\0b")), "control byte"),
            (with(4, ("x", "a\x01b")), "control byte"),
            (with(4, ("x", "a\x7fb")), "control byte"),
            (with(4, ("x", " a")), "starts or ends with whitespace"),
            (with(4, ("x", "a\t")), "starts or ends with whitespace"),
            (with(2, (":authority", "a b")), "not a valid host"),
            (with(2, (":authority", "u@a")), "not a valid host"),
            (host_only(&[("host", "a/b")]), "not a valid host"),
            (without(2), "no host"),
            (with(2, (":authority", "")), "is empty"),
            (host_only(&[("host", "")]), "is empty"),
            (host_only(&[("host", "a"); 2]), "more than one host"),
            (with(4, ("host", "elsewhere")), "more than one host"),
            (with(3, (":path", "export.csv")), ":path is not"),
            (with(3, (":path", "/a b")), ":path is not"),
            (with(3, (":path", "*")), "* is for OPTIONS only"),
            (with(0, (":method", "G E")), ":method is not a token"),
            (with(0, (":method", "")), ":method is not a token"),
            (with(1, (":scheme", "ht\r\ntp")), ":scheme is not a scheme"),
            (with(1, (":scheme", "ht\0tp")), ":scheme is not a scheme"),
            (with(1, (":scheme", "")), ":scheme is not a scheme"),
            (with(1, (":scheme", "1http")), ":scheme is not a scheme"),
            ([&GOOD[..], &[(":path", "/")]].concat(), "after a regular"),
            // No DATA follows END_STREAM; and no length is a number.
            (with(4, ("content-length", "5")), "content-length"),
            (with(4, ("content-length", "")), "content-length"),
        ];
        for (fields, part) in cases {
            refused(&fields, true, part);
        }
        // What HTTP/1.1 takes as Host is taken here, but empty: a port
        // alone; and a host field for :authority, or beside it saying the
        // same.
        for host in [
            with(2, (":authority", ":80")),
            host_only(&[("host", "[::1]:80")]),
            with(4, ("host", "localhost")),
        ] {
            assert!(parsed(&host, true).is_ok(), "{host:?}");
        }
        // TE is the one connection-specific field taken, as "trailers"
        // (RFC 9113 §8.2.2): gRPC clients send it on every request.
        assert!(parsed(&with(4, ("te", "trailers")), true).is_ok());
        // A length of 0 with no DATA is true; one with DATA to come is
        // checked against nothing here, but must still be a number.
        assert!(parsed(&with(4, ("content-length", "00")), true).is_ok());
        let body = parsed(&with(4, ("content-length", "5")), false);
        assert_eq!(body.map(|r| r.content_length), Ok(Some(5)));
        let twice = [
            &GOOD[..],
            &[("content-length", "5"), ("content-length", "6")],
        ]
        .concat();
        refused(&twice, false, "content-length");
        // The same length twice is one length (RFC 9110 §8.6), as two
        // `Content-Length: 0` are to HTTP/1.1's parser.
        let same = |value| [&GOOD[..], &[("content-length", value); 2]].concat();
        let lengths =
            |value, ends_stream| parsed(&same(value), ends_stream).map(|r| r.content_length);
        assert_eq!(lengths("0", true), Ok(Some(0)));
        assert_eq!(lengths("5", false), Ok(Some(5)));
        refused(&with(4, ("content-length", "5x")), false, "content-length");
        // OPTIONS * is well formed, answered 405 like any OPTIONS; the same
        // `*` is malformed for any other method, those answered 405 included.
        let asterisk = |method| [&with(0, (":method", method))[..3], &[(":path", "*")]].concat();
        let options = parsed(&asterisk("OPTIONS"), true).unwrap();
        assert_eq!((options.method, options.query), (Method::NotAllowed, None));
        refused(&asterisk("POST"), true, "* is for OPTIONS only");
        // A body a content-length announces earns a 400 at once. Its reason
        // is HTTP/1.1's, naming what announced the body.
        let verdict = |fields: &[(&str, &str)], ends_stream| {
            parsed(fields, ends_stream).map(|r| (r.content_length, r.refused, r.open_ended))
        };
        let (by_length, by_continue) = (
            Some((
                Status::BadRequest,
                "request bodies are not accepted (content-length)",
            )),
            Some((
                Status::BadRequest,
                "request bodies are not accepted (expect: 100-continue)",
            )),
        );
        let announced = with(4, ("content-length", "5"));
        assert_eq!(verdict(&announced, false), Ok((Some(5), by_length, false)));
        // One of 0 says none follows, END_STREAM or not; without one, an
        // open stream is open-ended: what comes next says.
        let none = with(4, ("content-length", "0"));
        assert_eq!(verdict(&none, false), Ok((Some(0), None, false)));
        assert_eq!(verdict(&GOOD, false), Ok((None, None, true)));
        assert_eq!(verdict(&GOOD, true), Ok((None, None, false)));
        // `expect: 100-continue` on an open stream announces a body, held
        // back for a 100 that will not come: refused at once. With
        // END_STREAM, or a content-length of 0, nothing follows to refuse.
        let expecting = |value| [&GOOD[..], &[("expect", value)]].concat();
        for value in [
            "100-continue",
            "100-Continue",
            "100-continue, x",
            "x ,100-continue",
        ] {
            assert_eq!(
                verdict(&expecting(value), false),
                Ok((None, by_continue, false))
            );
            assert_eq!(verdict(&expecting(value), true), Ok((None, None, false)));
        }
        let zero = [&none[..], &[("expect", "100-continue")]].concat();
        assert_eq!(verdict(&zero, false), Ok((Some(0), None, false)));
        // Any other expectation says nothing of a body.
        assert_eq!(verdict(&expecting("x"), false), Ok((None, None, true)));
        // CONNECT's stream stays open for its tunnel, which is no body to
        // wait for: its 405 comes from the routes at once.
        let connect =
            |rest: &[(&'static str, &'static str)]| [&[(":method", "CONNECT")], rest].concat();
        let tunnel = parsed(&connect(&[(":authority", "example.com:443")]), false).unwrap();
        assert_eq!((tunnel.method, tunnel.refused), (Method::NotAllowed, None));
        assert!(!tunnel.open_ended);
        assert_eq!(tunnel.path, b"example.com:443");
        for rest in [
            vec![(":authority", "a:1"), (":path", "/")],
            vec![(":scheme", "http"), (":authority", "a:1")],
            vec![("host", "a:1")],
        ] {
            refused(&connect(&rest), false, "CONNECT with :scheme or :path");
        }
        refused(&connect(&[(":authority", "a")]), false, "host:port");
    }

    /// A `:path`, or a CONNECT's `:authority`, whose request line as
    /// HTTP/1.1 would send it is over that line's limit earns 414, before
    /// a body's 400, as HTTP/1.1's head reader answers before its parser;
    /// the method counts, as it does in that line; and the reason names
    /// the limit.
    #[test]
    fn a_path_longer_than_a_request_line_is_a_414() {
        // `GET ` and ` HTTP/1.1` around the path.
        let path = |line: usize| format!("/export.csv?x={}", "a".repeat(line - 13 - 14));
        let refusal = |fields: &[(&str, &str)], ends_stream| {
            let request = parsed(fields, ends_stream).unwrap();
            request.refused.map(|(status, _)| status)
        };
        let longest = path(MAX_REQUEST_LINE_BYTES);
        let longer = path(MAX_REQUEST_LINE_BYTES + 1);
        assert_eq!(refusal(&with(3, (":path", &longest)), true), None);
        assert_eq!(
            refusal(&with(3, (":path", &longer)), true),
            Some(Status::UriTooLong)
        );
        assert_eq!(
            refusal(&with(3, (":path", &longer)), false),
            Some(Status::UriTooLong)
        );
        // OPTIONS is four bytes longer than GET: its path, four shorter.
        let options = |path: &str| {
            let mut fields = with(3, (":path", path));
            fields[0] = (":method", "OPTIONS");
            refusal(&fields, true)
        };
        assert_eq!(options(&path(MAX_REQUEST_LINE_BYTES - 4)), None);
        let over = Some(Status::UriTooLong);
        assert_eq!(options(&path(MAX_REQUEST_LINE_BYTES - 3)), over);
        // A CONNECT's target is its :authority, held to the same limit:
        // `CONNECT ` and ` HTTP/1.1` around it.
        let tunnel = |line: usize| {
            let authority = format!("{}:443", "a".repeat(line - 17 - 4));
            let fields = [(":method", "CONNECT"), (":authority", &authority[..])];
            parsed(&fields, false).unwrap().refused
        };
        assert_eq!(tunnel(MAX_REQUEST_LINE_BYTES), None);
        assert_eq!(tunnel(MAX_REQUEST_LINE_BYTES + 1), Some(LINE_TOO_LONG));
        // A method this server does not know is left to the routes' 501,
        // however long it makes the line: its own length, or its path's.
        let unknown = |method: &str, path: &str| {
            let mut fields = with(3, (":path", path));
            fields[0] = (":method", method);
            let request = parsed(&fields, true).unwrap();
            (request.method, request.refused)
        };
        let long_method = "M".repeat(MAX_REQUEST_LINE_BYTES);
        assert_eq!(unknown(&long_method, "/"), (Method::Unknown, None));
        let brew = path(MAX_REQUEST_LINE_BYTES + 1);
        assert_eq!(unknown("BREW", &brew), (Method::Unknown, None));
        let kib = format!("{} KiB", MAX_REQUEST_LINE_BYTES / 1024);
        assert!(LINE_TOO_LONG.1.contains(&kib), "{}", LINE_TOO_LONG.1);
    }

    /// More fields than HTTP/1.1 takes earn 431, before a body's 400, as
    /// HTTP/1.1's parser refuses them before it looks for a body; a
    /// CONNECT's too.
    #[test]
    fn more_fields_than_http1_takes_are_a_431() {
        // `n` fields more, the first announcing a body, which earns 400
        // unless refused first.
        let with_fields = |fields: &[(&'static str, &'static str)], n| {
            let mut more = vec![("x", "1"); n];
            more[0] = ("content-length", "1");
            [fields, &more].concat()
        };
        let refused = |fields: &[(&str, &str)]| parsed(fields, false).unwrap().refused;
        let status = |fields: &[(&str, &str)]| refused(fields).map(|(status, _)| status);
        // GOOD's user-agent, and :authority counted as the Host it stands
        // for, are two of the 100.
        let most = MAX_HEADER_FIELDS - 2;
        assert_eq!(status(&with_fields(&GOOD, most)), Some(Status::BadRequest));
        let too_many = Some((TOO_MANY_FIELDS.status, TOO_MANY_FIELDS.reason));
        assert_eq!(refused(&with_fields(&GOOD, most + 1)), too_many);
        // A host field is the Host itself: :authority adds none beside it.
        let with_host = [&GOOD[..], &[("host", "localhost")]].concat();
        let bad_request = Some(Status::BadRequest);
        assert_eq!(status(&with_fields(&with_host, most)), bad_request);
        assert_eq!(refused(&with_fields(&with_host, most + 1)), too_many);
        let connect = [(":method", "CONNECT"), (":authority", "a:1")];
        assert_eq!(refused(&with_fields(&connect, most + 1)), None);
        assert_eq!(refused(&with_fields(&connect, most + 2)), too_many);
        // Both too long and too many: the 414, as HTTP/1.1's parser, which
        // reads the request line before the fields, answers.
        let long = format!("/{}", "a".repeat(MAX_REQUEST_LINE_BYTES));
        let mut both: Vec<(&str, &str)> = with_fields(&GOOD, most + 1);
        both[3] = (":path", &long);
        assert_eq!(status(&both), Some(Status::UriTooLong));
    }
}
