//! The protocol's small print, over real sockets against the real binary:
//! a `Date` on every response, empty lines before a request line, bytes
//! that cannot be HTTP answered at once, and no body on any answer to HEAD.
//!
//! Each is a rule of RFC 9110 or 9112 that a strict client (or a stray
//! one: a TLS handshake on a plain port) meets, and that the hostile-heads
//! table cannot show because it is about timing or about every response.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{RawResponse, Server, get, head, parse_response, request};

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
/// strategy's export, HTTP/1.0, the head deadline's 408.
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
    for mode in ["buffer", "unbounded", "bounded", "pipeline"] {
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
        // Long enough for the server to read each piece on its own.
        thread::sleep(Duration::from_millis(100));
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
/// response. Each still has the framing a GET would get.
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
        let framed = ["Content-Length", "Transfer-Encoding"];
        assert!(
            framed.iter().any(|f| response.header(f).is_some()),
            "{what}"
        );
        let body = String::from_utf8_lossy(&response.body);
        assert!(body.is_empty(), "{what}: {body:?}");
    }
}
