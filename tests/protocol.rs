//! The protocol's small print, over real sockets against the real binary:
//! a `Date` on every response, empty lines before a request line, bytes
//! that cannot be HTTP answered at once, no body on any answer to HEAD,
//! and the same answer to the same request over HTTP/1.1 and HTTP/2.
//!
//! Each is a rule of RFC 9110, 9112 or 9113 that a strict client (or a stray
//! one: a TLS handshake on a plain port) meets, and that the hostile-heads
//! table cannot show because it is about timing or about every response.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{MODES, RawResponse, Server, get, head, parse_response, read_by_peer, request};

/// How far a response's `Date` may lag the test's clock: the request's own
/// round trip, on a loaded machine.
const DATE_SLACK_SECONDS: u64 = 5;

/// Today's date as `date -u` writes an IMF-fixdate's first 16 characters
/// (`Sun, 06 Nov 1994`): an implementation of the calendar that shares
/// nothing with the server's.
fn today_by_date() -> String {
    let out = Command::new("date")
        .args(["-u", "+%a, %d %b %Y"])
        .env("LC_ALL", "C")
        .output()
        .expect("the date command runs");
    String::from_utf8(out.stdout)
        .expect("date prints ASCII")
        .trim()
        .to_string()
}

/// Asserts that `response` carries a `Date` that is an IMF-fixdate of now:
/// today by `date -u`, and a time of day within [`DATE_SLACK_SECONDS`].
/// Returns that time of day, in seconds.
fn assert_dated_now(what: &str, response: &RawResponse, today: &[String]) -> u64 {
    let date = response
        .header("Date")
        .unwrap_or_else(|| panic!("{what}: no Date in {response:?}"));
    assert_now(what, date, today)
}

/// [`assert_dated_now`] for the value of a `Date` field, however it came.
fn assert_now(what: &str, date: &str, today: &[String]) -> u64 {
    // `Sun, 06 Nov 1994 08:49:37 GMT`
    assert!(
        date.len() == 29 && date.ends_with(" GMT") && today.iter().any(|d| date.starts_with(d)),
        "{what}: {date:?}, today is {today:?}"
    );
    let number = |at: usize| -> u64 {
        date[at..at + 2]
            .parse()
            .unwrap_or_else(|_| panic!("{what}: {date:?}"))
    };
    let time_of_day = number(17) * 3600 + number(20) * 60 + number(23);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 86_400;
    let lag = (now + 86_400 - time_of_day) % 86_400;
    assert!(lag <= DATE_SLACK_SECONDS, "{what}: {date:?} is {lag} s old");
    time_of_day
}

/// RFC 9110 §6.6.1: an origin server with a clock sends `Date` on every
/// response, whichever code path made it: pages, errors, HEAD, each
/// strategy's export, HTTP/1.0, the head deadline's 408; and HTTP/2's
/// heads, and the connection cap's 503 and own endpoints, which are dated
/// by code of their own.
#[test]
fn every_response_is_dated_now() {
    let server = Server::start(&["--header-timeout", "1s"]);
    let addr = server.addr();
    // Taken before and after: across midnight the server may say either.
    let mut today = vec![today_by_date()];
    let mut responses = vec![
        ("a page", get(addr, "/healthz")),
        ("a 404", get(addr, "/nowhere")),
        ("a 400", request(addr, b"GET / HTTP/1.1\r\n\r\n")),
        (
            "a 501",
            request(addr, b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ),
        ("a HEAD", head(addr, "/")),
        ("a 408", request(addr, b"")),
        (
            "an HTTP/1.0 export",
            request(addr, b"GET /export.csv?rows=3 HTTP/1.0\r\n\r\n"),
        ),
    ];
    for mode in MODES {
        let export = get(addr, &format!("/export.csv?rows=3&mode={mode}"));
        assert_eq!(export.status, 200);
        responses.push((mode, export));
    }
    today.push(today_by_date());
    assert_eq!(responses[5].1.status, 408);
    let times: Vec<u64> = (responses.iter())
        .map(|(what, response)| assert_dated_now(what, response, &today))
        .collect();
    // The 408 came a second after the first answer, and says so: the time
    // is read as each head is sent, not kept from an earlier one.
    let later = (times[5] + 86_400 - times[0]) % 86_400;
    assert!(
        later >= 1,
        "the 408 is dated {later} s after the first answer"
    );

    // The same over HTTP/2, one stream each.
    use common::h2::{H2, read_responses};
    let mut h2 = H2::connect_wide_open(addr);
    let mut asked = vec![
        ("GET", "/healthz".to_string()),
        ("GET", "/nowhere".to_string()),
        ("GET", "/export.csv?rows=x".to_string()),
        ("HEAD", "/".to_string()),
    ];
    for mode in MODES {
        asked.push(("GET", format!("/export.csv?rows=3&mode={mode}")));
    }
    let mut today = vec![today_by_date()];
    let streams: Vec<u32> = (0..asked.len() as u32).map(|i| 2 * i + 1).collect();
    for ((method, path), &id) in asked.iter().zip(&streams) {
        h2.get(id, method, path);
    }
    let responses = read_responses(&mut h2, &streams, false);
    today.push(today_by_date());
    for ((method, path), response) in asked.iter().zip(&responses) {
        let what = format!("HTTP/2 {method} {path}");
        let date = response.header("date");
        let date = date.unwrap_or_else(|| panic!("{what}: no date in {response:?}"));
        assert_now(&what, date, &today);
    }

    // The 503 of the connection cap's rejecter, past a slot held by an
    // export its client does not read.
    let capped = Server::start(&["--max-connections", "1"]);
    let export = "/export.csv?rows=1200000&mode=pipeline";
    let mut holder = common::stalled_request(capped.addr(), export);
    let mut status_line = [0u8; 12];
    holder
        .read_exact(&mut status_line)
        .expect("the holder's answer");
    assert_eq!(&status_line, b"HTTP/1.1 200");
    let mut today = vec![today_by_date()];
    let refused = get(capped.addr(), "/");
    // The server's own endpoints, which the rejecter answers in its place
    // (with the 503 if their head is later than it waits: then again).
    let own = common::wait_until("/healthz at the cap", Duration::from_secs(30), || {
        let own = get(capped.addr(), "/healthz");
        (own.status == 200).then_some(own)
    });
    today.push(today_by_date());
    assert_eq!(
        (refused.status, own.status),
        (503, 200),
        "{refused:?} {own:?}"
    );
    assert_dated_now("the cap's 503", &refused, &today);
    assert_dated_now("/healthz at the cap", &own, &today);
}

/// A TLS ClientHello sent to this plain-HTTP port (an `https://` URL) is
/// answered 400 at its first read, as nginx answers it, not after the head
/// deadline: its first byte, 0x16, cannot begin a method.
#[test]
fn a_tls_handshake_gets_its_400_at_once() {
    let server = Server::start(&[]); // the default 10 s head deadline
    // A record header, a ClientHello's header and version, then its body.
    let mut client_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec();
    client_hello.extend((0..501u32).map(|i| (i * 7 % 256) as u8));
    let started = Instant::now();
    let response = request(server.addr(), &client_hello);
    let took = started.elapsed();
    assert_eq!(response.status, 400);
    assert!(response.body_text().contains("TLS"), "{response:?}");
    // Against the 10 s deadline, not a number of milliseconds that a busy
    // two-core machine can miss; a 400, not the deadline's 408, already
    // says the server did not wait for a head.
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
}

/// A request line that has arrived whole and is no request line gets its
/// answer at once, not the head deadline's 408: `GET /` and a CRLF is the
/// whole request of an HTTP/0.9 client, which sends no more and waits. The
/// answer is the one the whole head would get, 505 for a version this
/// server does not speak; HTTP/2's preface line is let through
/// (`tests/http2.rs`, `a_preface_in_pieces_is_awaited_whole`).
#[test]
fn a_request_line_that_is_none_is_answered_at_once() {
    let server = Server::start(&[]); // the default 10 s head deadline
    let line_form = "request line must be: METHOD SP TARGET SP HTTP/1.1\n";
    for (line, status, reason) in [
        ("GET /healthz\r\n", 400, line_form),
        ("\r\nGET  /healthz HTTP/1.1\r\n", 400, line_form),
        (
            "GET /healthz HTTP/2.0\r\n",
            505,
            "only HTTP/1.0 and HTTP/1.1 are supported\n",
        ),
        (
            "GET healthz HTTP/1.1\r\nHost: a\r\n",
            400,
            "request target must be a path starting with /, or an http:// or https:// URL\n",
        ),
        // An absolute URL, of another scheme: the reason says which it must be.
        (
            "GET ftp://a/healthz HTTP/1.1\r\nHost: a\r\n",
            400,
            "request target must be a path starting with /, or an http:// or https:// URL\n",
        ),
    ] {
        let started = Instant::now();
        let response = request(server.addr(), line.as_bytes());
        let took = started.elapsed();
        assert_eq!(
            (response.status, response.body_text().as_str()),
            (status, reason),
            "{line:?}"
        );
        // Against the 10 s deadline, as for a TLS handshake above.
        assert!(
            took < Duration::from_secs(5),
            "{line:?} answered after {took:?}"
        );
    }
}

/// A carriage return followed by anything but a line feed is a bare CR
/// (RFC 9112 §2.2), refused as soon as the byte after it arrives: no line
/// feed still to come can make that head valid, so waiting for one would
/// answer a malformed head with the head deadline's 408, for a head that
/// did arrive. Here the client sends no line feed at all, and waits.
#[test]
fn a_bare_cr_is_answered_at_once() {
    let server = Server::start(&[]); // the default 10 s head deadline
    for head in [
        "GET /healthz HTTP/1.1\rHost: a\r\r",
        "GET /healthz HTTP/1.1\r\nHost: a\rb",
        "GET /a\rb",
    ] {
        let started = Instant::now();
        let response = request(server.addr(), head.as_bytes());
        let took = started.elapsed();
        assert_eq!(
            (response.status, response.body_text().as_str()),
            (400, "bare CR in the request head\n"),
            "{head:?}"
        );
        // Against the 10 s deadline, as for a TLS handshake above.
        assert!(
            took < Duration::from_secs(5),
            "{head:?} answered after {took:?}"
        );
    }
}

/// Empty lines before the request line are skipped (RFC 9112 §2.2), even
/// when a CRLF is split across two reads.
#[test]
fn an_empty_line_split_across_reads_is_still_skipped() {
    let server = Server::start(&[]);
    let mut client = TcpStream::connect(server.addr()).unwrap();
    client.set_nodelay(true).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    for piece in [
        &b"\r"[..],
        b"\n\r",
        b"\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        client.write_all(piece).unwrap();
        // The server reads each piece on its own.
        read_by_peer(&client);
    }
    let mut wire = Vec::new();
    client.read_to_end(&mut wire).unwrap();
    let response = parse_response(&wire);
    assert_eq!(
        (response.status, response.body_text()),
        (200, "ok\n".into())
    );
}

/// RFC 9110 §9.3.2: no answer to HEAD carries a body, whatever path made
/// it, including heads that never parsed, never finished or never fit: a
/// strict client (h11) takes a body there for the start of a broken next
/// response. Each still has the framing a GET would get: the same
/// `Content-Length` or `Transfer-Encoding`, read from the same request
/// sent with GET, which also gets the same status.
/// (The 503 at the connection cap is in `tests/connection_cap.rs`.)
#[test]
fn no_answer_to_head_has_a_body() {
    let server = Server::start(&["--header-timeout", "1s"]);
    let addr = server.addr();
    let long_target = format!("HEAD /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
    let big_field = format!(
        "HEAD / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(17_000)
    );
    for (what, raw, status) in [
        (
            "a page",
            &b"HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            200,
        ),
        (
            "an export",
            b"HEAD /export.csv?rows=5 HTTP/1.1\r\nHost: a\r\n\r\n",
            200,
        ),
        ("a 404", b"HEAD /nowhere HTTP/1.1\r\nHost: a\r\n\r\n", 404),
        (
            "a bad query",
            b"HEAD /export.csv?rows=x HTTP/1.1\r\nHost: a\r\n\r\n",
            400,
        ),
        ("no Host", b"HEAD / HTTP/1.1\r\n\r\n", 400),
        ("HEAD *", b"HEAD * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("after an empty line", b"\r\nHEAD / HTTP/1.1\r\n\r\n", 400),
        ("HTTP/2.0", b"HEAD / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("too slow", b"HEAD / HTTP/1.1\r\nHost: a\r\n", 408),
        ("a request line over 8 KiB", long_target.as_bytes(), 414),
        ("a head over 16 KiB", big_field.as_bytes(), 431),
    ] {
        let response = request(addr, raw);
        assert_eq!(response.status, status, "{what}");
        let body = String::from_utf8_lossy(&response.body);
        assert!(body.is_empty(), "{what}: {body:?}");
        let at = raw.windows(5).position(|w| w == b"HEAD ").expect("a HEAD");
        let as_get = [&raw[..at], b"GET ", &raw[at + 5..]].concat();
        let got = request(addr, &as_get);
        assert_eq!(got.status, status, "{what}, as GET");
        let framing = |r: &RawResponse| {
            let field = |name| r.header(name).map(str::to_string);
            (field("Content-Length"), field("Transfer-Encoding"))
        };
        let framed = framing(&got);
        assert_ne!(framed, (None, None), "{what}, as GET: no framing");
        assert_eq!(framing(&response), framed, "{what}");
    }
}

/// What one request got: a status and its `Allow`, or its HTTP/2 stream
/// reset with this code.
#[derive(Debug, PartialEq)]
enum Got {
    Status(u16, Option<String>),
    Reset(u32),
}

/// A row of [`http1_and_http2_answer_alike`]: a request, sent over each
/// protocol, and the status both must get; or, where HTTP/2 is right to
/// differ, what it must get instead.
struct Row {
    method: &'static str,
    target: String,
    /// Sent with a three-byte body: `Content-Length` over HTTP/1.1, DATA
    /// after a HEADERS without END_STREAM over HTTP/2.
    body: bool,
    status: u16,
    /// Host over HTTP/1.1, `:authority` over HTTP/2, if any; CONNECT's
    /// target is its own.
    authority: Option<&'static str>,
    /// More header fields, sent over both.
    fields: Vec<(&'static str, &'static str)>,
    /// HTTP/2's answer where it differs by design, and why, in a comment.
    http2: Option<Got>,
}

/// The same requests over HTTP/1.1 and over HTTP/2 (one connection, a
/// stream each) get the same status, every 405 the same `Allow`, and each
/// answer the same header fields (the date, what only HTTP/1.1 has,
/// `Connection` and `Transfer-Encoding`, and an error's length, aside):
/// the routes are shared, and what each protocol's parser refuses before them
/// must match. HTTP/2 differs only where RFC 9113 says so, each such row
/// saying why: a request it calls malformed (§8.1.1) has no status, its
/// stream is reset with PROTOCOL_ERROR, where HTTP/1.1's parser answers
/// 400, or serves it (an absolute URI, fields HTTP/2 forbids).
#[test]
fn http1_and_http2_answer_alike() {
    use common::h2::{H2, PROTOCOL_ERROR};
    let server = Server::start(&["--max-rows", "100"]);
    let addr = server.addr();
    let row = |method, target: &str, status| Row {
        method,
        target: target.to_string(),
        body: false,
        status,
        authority: Some("localhost"),
        fields: vec![],
        http2: None,
    };
    let malformed = |method, target: &str| Row {
        http2: Some(Got::Reset(PROTOCOL_ERROR)),
        ..row(method, target, 400)
    };
    let h2_malformed = |field| Row {
        fields: vec![field],
        http2: Some(Got::Reset(PROTOCOL_ERROR)),
        ..row("GET", "/healthz", 200)
    };
    let with_body = |method, target: &str| Row {
        body: true,
        ..row(method, target, 400)
    };
    let mut rows = vec![];
    for method in ["GET", "HEAD"] {
        for target in ["/", "/healthz", "/metrics", "/export.csv", "/healthz?"] {
            rows.push(row(method, target, 200));
        }
        for mode in MODES {
            rows.push(row(method, &format!("/export.csv?rows=3&mode={mode}"), 200));
        }
        for query in ["rows=abc", "rows=101", "mode=turbo", "rows=1&limit=5"] {
            rows.push(row(method, &format!("/export.csv?{query}"), 400));
        }
        rows.push(row(method, "/nowhere", 404));
    }
    rows.extend([
        // Percent-encoding: an unreserved character and its escape are
        // the same URI (RFC 3986 §2.3), in the query and in the path,
        // whatever the case of the hex; a reserved one's escape is not
        // its delimiter (§2.2): `%2F` is no `/`, `%3F` no `?`.
        row("GET", "/export.csv?rows=%35&mode=b%6Funded", 200),
        row("GET", "/export.csv?rows=%4", 400),
        row("GET", "/export.csv?r%zws=1", 400),
        row("GET", "/%68ealthz", 200),
        row("GET", "/%65xport%2ecsv?rows=1", 200),
        row("HEAD", "/%6D%65%74%72%69%63%73", 200),
        row("GET", "/%2Fhealthz", 404),
        row("GET", "/healthz%2F", 404),
        row("GET", "/healthz%3F", 404),
        row("GET", "/%2Fexport.csv", 404),
        // A `%` without two hex digits is no URI (RFC 3986 §2.1): 400, as
        // nginx and Go answer it, and as the query's is.
        row("GET", "/%zzealthz", 400),
        row("GET", "/healthz%4", 400),
        row("HEAD", "/export.csv%", 400),
        // Dot segments are removed (RFC 3986 §6.2.2.3, §5.2.4), escaped
        // or not, as nginx does and curl before sending; `..` stops at
        // the root. An empty segment is a segment: `//healthz` is not
        // `/healthz`, nor `/healthz/.` (`/healthz/`) `/healthz`.
        row("GET", "/../healthz", 200),
        row("GET", "/./healthz", 200),
        row("GET", "/nowhere/../healthz", 200),
        row("GET", "/%2E%2e/export.csv?rows=1", 200),
        row("HEAD", "/healthz/..", 200),
        row("GET", "//healthz", 404),
        row("GET", "/healthz/.", 404),
        row("GET", "/.healthz", 404),
        row("GET", "/nowhere/..healthz", 404),
        // A long query that fits every limit is read, and judged.
        row(
            "GET",
            &format!("/export.csv?rows=1&x={}", "a".repeat(4000)),
            400,
        ),
        // A URI longer than this server reads (8 KiB, the request line's
        // limit) is a 414 (RFC 9110 §15.5.15), whichever protocol carries it.
        row(
            "GET",
            &format!("/export.csv?rows=1&x={}", "a".repeat(9000)),
            414,
        ),
        // The limit is on the request line, not the target: at its last
        // byte the line is read, one byte past it is a 414, over HTTP/2
        // too, whose request is measured as HTTP/1.1 would send it; a
        // longer method leaves the target less room.
        row("GET", &line_target("GET", REQUEST_LINE_LIMIT), 200),
        row("GET", &line_target("GET", REQUEST_LINE_LIMIT + 1), 414),
        row("OPTIONS", &line_target("OPTIONS", REQUEST_LINE_LIMIT), 405),
        row(
            "OPTIONS",
            &line_target("OPTIONS", REQUEST_LINE_LIMIT + 1),
            414,
        ),
        // Past HTTP/2's limit on a header list (SETTINGS_MAX_HEADER_LIST_SIZE,
        // 16 KiB, announced to the client), its fields are dropped unread:
        // 431 (RFC 9113 §10.5.1). HTTP/1.1 measures its request line first.
        Row {
            http2: Some(Got::Status(431, None)),
            ..row("GET", &format!("/export.csv?x={}", "a".repeat(17_000)), 414)
        },
        // Methods HTTP defines are 405 with Allow; others 501, and method
        // names are case-sensitive (RFC 9110 §9.1).
        row("POST", "/export.csv", 405),
        row("PUT", "/", 405),
        row("DELETE", "/healthz", 405),
        row("PATCH", "/", 405),
        row("TRACE", "/", 405),
        row("OPTIONS", "/", 405),
        row("OPTIONS", "*", 405),
        row("CONNECT", "example.com:443", 405),
        // CONNECT's target is its `:authority`, held to the same 8 KiB.
        row("CONNECT", &format!("{}:443", "a".repeat(9000)), 414),
        row("BREW", "/", 501),
        row("get", "/", 501),
        // However long the line: a method longer than any this server
        // knows is the method's fault, not the URI's (RFC 9112 §3).
        row("BREW", &line_target("BREW", REQUEST_LINE_LIMIT + 1), 501),
        row("M".repeat(9000).leak(), "/", 501),
        // No request bodies: 400, whatever the method.
        with_body("GET", "/healthz"),
        with_body("POST", "/healthz"),
        // What HTTP/2 calls malformed: CONNECT without a port (RFC 9113
        // §8.5), `*` for a method but OPTIONS and a `:path` that is not a
        // path (§8.3.1), a byte a URI cannot hold (§8.1.1). HTTP/1.1's
        // absolute form, which a server must accept, has no HTTP/2
        // counterpart in `:path`: malformed there.
        malformed("CONNECT", "example.com"),
        malformed("GET", "*"),
        malformed("GET", "/a#b"),
        Row {
            status: 200,
            ..malformed("GET", "http://localhost/healthz")
        },
        // Host over HTTP/1.1 and `:authority` over HTTP/2 say the same:
        // a port alone is valid (RFC 9112 §3.2); a space or userinfo is
        // not: a 400 (RFC 9110 §7.2), over HTTP/2 malformed. An empty Host
        // is valid over HTTP/1.1, an empty `:authority` or host malformed
        // (RFC 9113 §8.3.1: present, they MUST NOT be empty).
        Row {
            authority: Some(""),
            http2: Some(Got::Reset(PROTOCOL_ERROR)),
            ..row("GET", "/healthz", 200)
        },
        Row {
            authority: None,
            fields: vec![("host", "")],
            http2: Some(Got::Reset(PROTOCOL_ERROR)),
            ..row("GET", "/healthz", 200)
        },
        Row {
            authority: Some(":80"),
            ..row("GET", "/healthz", 200)
        },
        Row {
            authority: Some("a b"),
            ..malformed("GET", "/healthz")
        },
        Row {
            authority: Some("u@a"),
            ..malformed("GET", "/healthz")
        },
        // A request names its host once (RFC 9110 §7.2): with none, or
        // two, it is a 400; over HTTP/2 a host field may stand for
        // `:authority`, and both may come if they agree (RFC 9113 §8.3.1).
        Row {
            authority: None,
            ..malformed("GET", "/healthz")
        },
        Row {
            authority: None,
            fields: vec![("host", "localhost")],
            ..row("GET", "/healthz", 200)
        },
        Row {
            authority: None,
            fields: vec![("host", "localhost"), ("host", "localhost")],
            ..malformed("GET", "/healthz")
        },
        Row {
            fields: vec![("host", "elsewhere")],
            ..malformed("GET", "/healthz")
        },
        Row {
            fields: vec![("host", "localhost")],
            http2: Some(Got::Status(200, None)),
            ..row("GET", "/healthz", 400)
        },
        // A field value may hold HTAB and bytes past ASCII, no other
        // control byte (RFC 9110 §5.5): over HTTP/2 one is malformed
        // (RFC 9113 §8.2.1). A length of 0 is no body.
        Row {
            fields: vec![("x", "a\tb\u{e9}")],
            ..row("GET", "/healthz", 200)
        },
        Row {
            fields: vec![("content-length", "0")],
            ..row("GET", "/healthz", 200)
        },
        Row {
            fields: vec![("x", "a\x01b")],
            ..malformed("GET", "/healthz")
        },
        Row {
            fields: vec![("x", "a\x7fb")],
            ..malformed("GET", "/healthz")
        },
        // More fields than the server takes (100, Apache's limit too):
        // 431 (RFC 6585 §5), whichever protocol carries them.
        Row {
            fields: vec![("x", "1"); 150],
            ..row("GET", "/healthz", 431)
        },
        // At the limit, Host (`:authority`) counts as a field.
        Row {
            fields: vec![("x", "1"); 99],
            ..row("GET", "/healthz", 200)
        },
        Row {
            fields: vec![("x", "1"); 100],
            ..row("GET", "/healthz", 431)
        },
        // What HTTP/1.1 takes in a field and HTTP/2 forbids (RFC 9113
        // §8.2): an uppercase name, a connection-specific field, te other
        // than trailers, whitespace around a value (HTTP/1.1 strips it).
        h2_malformed(("X-Upper", "1")),
        h2_malformed(("connection", "close")),
        h2_malformed(("te", "gzip")),
        h2_malformed(("x", " a")),
        Row {
            fields: vec![("te", "trailers")],
            ..row("GET", "/healthz", 200)
        },
    ]);
    let mut h2 = H2::connect_wide_open(addr);
    let mut differ = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let (http1, fields1) = over_http1(addr, row);
        let (http2, fields2) = over_http2(&mut h2, 2 * i as u32 + 1, row);
        let allow = (row.status == 405).then(|| "GET, HEAD".to_string());
        let expected = Got::Status(row.status, allow);
        let expected2 = row.http2.as_ref().unwrap_or(&expected);
        // Answered alike by design, alike to the last field; but an error's
        // reason may name what each protocol calls the fault (a request
        // line, a `:path`), so only a 200's length must match, and not a
        // scrape's, whose figures move between the two requests.
        let length = |fields: &Fields| -> Fields {
            let ok = row.status == 200 && !row.target.starts_with("/metrics");
            let kept = fields
                .iter()
                .filter(|(name, _)| ok || name != "content-length");
            kept.cloned().collect()
        };
        let same_fields = row.http2.is_some() || length(&fields1) == length(&fields2);
        if http1 != expected || http2 != *expected2 || !same_fields {
            let shown: String = row.target.chars().take(60).collect();
            differ.push(format!(
                "{} {shown} (host {:?}, {:?}): HTTP/1.1 {http1:?} {fields1:?}, HTTP/2 {http2:?} {fields2:?}",
                row.method,
                row.authority,
                &row.fields[..row.fields.len().min(2)]
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "answered otherwise:\n{}",
        differ.join("\n")
    );
}

/// The longest request line the server reads (8 KiB, as Apache's
/// `LimitRequestLine`), stated here apart from the server's constant.
const REQUEST_LINE_LIMIT: usize = 8 * 1024;

/// A target of `/healthz` whose request line, `method target HTTP/1.1`,
/// is `line_bytes` long.
fn line_target(method: &str, line_bytes: usize) -> String {
    let around = method.len() + " ".len() + " HTTP/1.1".len();
    let query = line_bytes - around - "/healthz?".len();
    format!("/healthz?{}", "a".repeat(query))
}

/// The header fields both protocols send, names in lower case, sorted:
/// not the date, nor what HTTP/2 has no use for (RFC 9113 §8.2.2).
type Fields = Vec<(String, String)>;

/// `row` over HTTP/1.1, on a connection of its own; and its [`Fields`].
fn over_http1(addr: std::net::SocketAddr, row: &Row) -> (Got, Fields) {
    let Row { method, target, .. } = row;
    let host = if *method == "CONNECT" {
        Some(&target[..])
    } else {
        row.authority
    };
    let mut raw = format!("{method} {target} HTTP/1.1\r\n");
    if let Some(host) = host {
        raw += &format!("Host: {host}\r\n");
    }
    for (name, value) in &row.fields {
        raw += &format!("{name}: {value}\r\n");
    }
    raw += if row.body {
        "Content-Length: 3\r\n\r\nabc"
    } else {
        "\r\n"
    };
    let response = request(addr, raw.as_bytes());
    let allow = response.header("Allow").map(str::to_string);
    let only_http1 = ["date", "connection", "transfer-encoding"];
    let fields = response.headers.iter();
    let fields = fields.map(|(name, value)| (name.to_ascii_lowercase(), value.clone()));
    let mut fields: Fields = fields
        .filter(|(name, _)| !only_http1.contains(&&name[..]))
        .collect();
    fields.sort();
    (Got::Status(response.status, allow), fields)
}

/// `row` over HTTP/2, on stream `id` of `h2`; and its [`Fields`].
fn over_http2(h2: &mut common::h2::H2, id: u32, row: &Row) -> (Got, Fields) {
    use common::h2::*;
    let Row { method, target, .. } = row;
    // CONNECT names its target in `:authority`, and its stream stays open
    // for the tunnel (RFC 9113 §8.5).
    let (block, ends) = if *method == "CONNECT" {
        let block = header_block(&[(":method", method), (":authority", target)]);
        (block, 0)
    } else {
        let ends = if row.body { 0 } else { END_STREAM };
        let mut fields = vec![(":method", &method[..]), (":scheme", "http")];
        fields.extend(row.authority.map(|host| (":authority", host)));
        fields.push((":path", target));
        fields.extend(&row.fields);
        (header_block(&fields), ends)
    };
    // A block over one frame goes on in CONTINUATION (RFC 9113 §6.10).
    let (mut kind, mut flags) = (HEADERS, ends);
    let mut pieces = block.chunks(16_384).peekable();
    while let Some(piece) = pieces.next() {
        let last = if pieces.peek().is_none() {
            END_HEADERS
        } else {
            0
        };
        h2.send_frame(kind, flags | last, id, piece);
        (kind, flags) = (CONTINUATION, 0);
    }
    if row.body {
        h2.send_frame(DATA, END_STREAM, id, b"abc");
    }
    let response = read_responses(h2, &[id], true).remove(0);
    let fields = response.fields.iter().cloned();
    let mut fields: Fields = fields
        .filter(|(name, _)| name != ":status" && name != "date")
        .collect();
    fields.sort();
    let got = match response.reset {
        Some(code) if response.fields.is_empty() => Got::Reset(code),
        _ => {
            let allow = response.header("allow").map(str::to_string);
            Got::Status(response.status(), allow)
        }
    };
    (got, fields)
}

/// A head refused for its fields or its body, after its request line
/// parsed, is logged with that line, as HTTP/2 logs the same request
/// refused alike: the line is as safe to print as a served one's (every
/// byte one a method, a URI or a version allows), and tells an operator
/// what was asked. So is a head refused before it ended, too large to
/// read whole (HTTP/2's header list past its 16 KiB). A line that is no
/// request line is still logged `-` (`tests/defenses.rs`).
#[test]
fn a_head_refused_after_its_line_is_logged_with_it() {
    let server = Server::start_logged(&[]);
    let addr = server.addr();
    let mut h2 = common::h2::H2::connect_wide_open(addr);
    let refused = |target: &str, status, body, fields| Row {
        method: "POST",
        target: target.to_string(),
        body,
        status,
        authority: Some("localhost"),
        fields,
        http2: None,
    };
    // Two fields of 9,000 bytes: a head, or a header list, over 16 KiB.
    let large: &'static str = "a".repeat(9_000).leak();
    let rows = [
        refused("/healthz?with-a-body", 400, true, vec![]),
        refused("/healthz?fields", 431, false, vec![("x", "1"); 100]),
        refused(
            "/healthz?too-large",
            431,
            false,
            vec![("x", large), ("y", large)],
        ),
    ];
    for (i, row) in rows.iter().enumerate() {
        let (http1, _) = over_http1(addr, row);
        let (http2, _) = over_http2(&mut h2, 2 * i as u32 + 1, row);
        assert_eq!((http1, http2), alike(row.status), "{}", row.target);
        for version in ["HTTP/1.1", "HTTP/2"] {
            let logged = format!("\"POST {} {version}\" {} ", row.target, row.status);
            server.log_line(&logged, |line| line.contains(&logged));
        }
    }
}

/// The line a refused head is logged with is its request line, checked
/// as the parser checks one, not the head's first bytes up to a CR: empty
/// lines before it (RFC 9112 §2.2), kept in a head too large to read
/// whole, are skipped, not logged as an empty request; and a head that
/// opens with HTTP/2's preface line (let through unjudged, for the
/// preface's sake) and is no preface is logged `-`: `PRI * HTTP/2.0` is
/// no request line this server reads.
#[test]
fn a_refused_heads_line_is_logged_only_as_a_request_line() {
    let server = Server::start_logged(&[]);
    let large = "a".repeat(9_000);
    let too_large = format!(
        "\r\nPOST /healthz?after-an-empty-line HTTP/1.1\r\nx: {large}\r\ny: {large}\r\n\r\n"
    );
    let like_a_preface = "PRI * HTTP/2.0\r\nHost: a\r\n\r\n".to_string();
    let line = "\"POST /healthz?after-an-empty-line HTTP/1.1\"";
    for (raw, status, logged) in [(too_large, 431, line), (like_a_preface, 505, "-")] {
        let mut client = TcpStream::connect(server.addr()).expect("connect");
        let address = client.local_addr().expect("the client's address");
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.write_all(raw.as_bytes()).expect("send the head");
        // Up to the close, or the reset of a head the server stopped reading.
        let (mut wire, mut buf) = (Vec::new(), [0; 4096]);
        while let Ok(read @ 1..) = client.read(&mut buf) {
            wire.extend_from_slice(&buf[..read]);
        }
        assert_eq!(parse_response(&wire).status, status, "{logged}");
        let line = server.log_line(logged, |l| l.contains(&format!(" {address} ")));
        let fields = format!(" {address} {logged} {status} ");
        assert!(line.contains(&fields), "{line}");
    }
}

/// What both protocols get for `status`, a refusal: no `Allow`.
fn alike(status: u16) -> (Got, Got) {
    (Got::Status(status, None), Got::Status(status, None))
}
