//! Malformed and hostile request heads: a table of them against the real
//! server, each with the status RFC 9112 calls for, and the parser's own
//! cases in-process, down to the fields it returns.
//!
//! The table is the contract a client or a proxy in front of us can rely
//! on; `tests/random_heads.rs` looks for what it did not think of.

mod common;

use backpressure::{Method, Version, parse_head};
use common::{back_to_idle, request, warmed_server};

/// `(what it is, the raw head, the status it must get)`.
fn corpus() -> Vec<(&'static str, Vec<u8>, u16)> {
    let ok = |s: &str| s.as_bytes().to_vec();
    let mut heads = vec![
        // --- the request line ---
        (
            "no Host in HTTP/1.1",
            ok("GET /healthz HTTP/1.1\r\n\r\n"),
            400,
        ),
        ("no version", ok("GET /healthz\r\nHost: a\r\n\r\n"), 400),
        (
            "two spaces",
            ok("GET  /healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "trailing space",
            ok("GET /healthz HTTP/1.1 \r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "tabs for spaces",
            ok("GET\t/healthz\tHTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "space in target",
            ok("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "quote in target",
            ok("GET /\"x HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "fragment in target",
            ok("GET /healthz#top HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "relative target",
            ok("GET healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        // Empty lines before the request line are skipped (RFC 9112 §2.2);
        // what follows them must still be a request line.
        (
            "a leading CRLF",
            ok("\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            200,
        ),
        (
            "two leading CRLFs",
            ok("\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            200,
        ),
        (
            "a leading bare LF",
            ok("\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        ("no request line", ok("\r\nHost: a\r\n\r\n"), 400),
        (
            "lowercase version",
            ok("GET /healthz http/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "version garbage",
            ok("GET /healthz HTTP/1.1x\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "HTTP/2.0",
            ok("GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n"),
            505,
        ),
        (
            "HTTP/0.9",
            ok("GET /healthz HTTP/0.9\r\nHost: a\r\n\r\n"),
            505,
        ),
        (
            "HTTP/1.9 is served as 1.1",
            ok("GET /healthz HTTP/1.9\r\nHost: a\r\n\r\n"),
            200,
        ),
        (
            "HTTP/1.0 needs no Host",
            ok("GET /healthz HTTP/1.0\r\n\r\n"),
            200,
        ),
        // --- methods ---
        ("POST", ok("POST /healthz HTTP/1.1\r\nHost: a\r\n\r\n"), 405),
        (
            "DELETE",
            ok("DELETE /healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            405,
        ),
        (
            "OPTIONS *",
            ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
            405,
        ),
        ("GET *", ok("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400),
        (
            "unknown method",
            ok("BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n"),
            501,
        ),
        (
            "lowercase get",
            ok("get /healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            501,
        ),
        (
            "method not a token",
            ok("GE(T /healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        // --- line endings and whitespace ---
        ("bare LF", ok("GET /healthz HTTP/1.1\nHost: a\n\n"), 400),
        (
            "bare CR in a value",
            ok("GET /healthz HTTP/1.1\r\nHost: a\rb\r\n\r\n"),
            400,
        ),
        (
            "obs-fold",
            ok("GET /healthz HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n"),
            400,
        ),
        (
            "space before colon",
            ok("GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n"),
            400,
        ),
        (
            "tab before colon",
            ok("GET /healthz HTTP/1.1\r\nHost\t: a\r\n\r\n"),
            400,
        ),
        (
            "field without colon",
            ok("GET /healthz HTTP/1.1\r\nHost a\r\n\r\n"),
            400,
        ),
        (
            "empty field name",
            ok("GET /healthz HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n"),
            400,
        ),
        (
            "field name not a token",
            ok("GET /healthz HTTP/1.1\r\nHost: a\r\nX(y: 1\r\n\r\n"),
            400,
        ),
        (
            "NUL in a value",
            ok("GET /healthz HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"),
            400,
        ),
        (
            "DEL in a value",
            ok("GET /healthz HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n"),
            400,
        ),
        // --- Host ---
        (
            "two Hosts",
            ok("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            400,
        ),
        (
            "Host with a space",
            ok("GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n"),
            400,
        ),
        (
            "Host with userinfo",
            ok("GET /healthz HTTP/1.1\r\nHost: u@a\r\n\r\n"),
            400,
        ),
        (
            "Host with a bad port",
            ok("GET /healthz HTTP/1.1\r\nHost: a:8x\r\n\r\n"),
            400,
        ),
        (
            "IPv6 Host",
            ok("GET /healthz HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"),
            200,
        ),
        // --- request bodies, and smuggling ---
        (
            "Content-Length on GET",
            ok("GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
            400,
        ),
        (
            "Transfer-Encoding on GET",
            ok("GET /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400,
        ),
        (
            // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is
            // faulty framing, and the server must not read past it.
            "Transfer-Encoding in HTTP/1.0",
            ok("GET /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400,
        ),
        (
            "TE and CL together",
            ok(
                "GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
            400,
        ),
        (
            "Content-Length: 0 is no body",
            ok("GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
            200,
        ),
        (
            "negative Content-Length",
            ok("GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
            400,
        ),
        // --- targets ---
        (
            "absolute form",
            ok("GET http://example.com/healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            200,
        ),
        (
            "absolute form, no host",
            ok("GET http:///healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "absolute form, other scheme",
            ok("GET ftp://a/healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "dot segments",
            ok("GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n"),
            404,
        ),
        (
            "no such path",
            ok("GET /admin HTTP/1.1\r\nHost: a\r\n\r\n"),
            404,
        ),
        // --- the export's query ---
        (
            "bad percent-encoding",
            ok("GET /export.csv?rows=%zz HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "truncated percent-encoding",
            ok("GET /export.csv?rows=1%2 HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "rows not a number",
            ok("GET /export.csv?rows=ten HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "rows negative",
            ok("GET /export.csv?rows=-1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "rows over the cap",
            ok("GET /export.csv?rows=100000001 HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "rows overflowing u64",
            ok("GET /export.csv?rows=99999999999999999999999 HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "rows twice",
            ok("GET /export.csv?rows=1&rows=2 HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "unknown mode",
            ok("GET /export.csv?mode=fast HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "unknown parameter",
            ok("GET /export.csv?limit=5 HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
        ),
        (
            "a valid export, percent-encoded",
            ok("GET /export.csv?rows=%31&mode=bo%75nded HTTP/1.1\r\nHost: a\r\n\r\n"),
            200,
        ),
    ];
    // Not HTTP at all: a TLS ClientHello's first bytes (an https:// URL
    // sent to this port), and binary. Refused at their first read.
    heads.push((
        "TLS ClientHello",
        b"\x16\x03\x01\x00\xf8\x01\x00\x00\xf4\x03\x03\x5a\x2b".to_vec(),
        400,
    ));
    heads.push(("binary", b"\x00\x01\x02\x03\xff\xfe".to_vec(), 400));
    // Bytes no URI may hold, and a field value of obs-text, which is fine.
    heads.push((
        "control byte in target",
        b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
        400,
    ));
    heads.push((
        "non-ASCII target",
        b"GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
        400,
    ));
    heads.push((
        "obs-text value",
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n".to_vec(),
        200,
    ));
    // --- sizes ---
    let long_method = format!("{} /healthz HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(1000));
    heads.push(("a 1000-byte method", long_method.into_bytes(), 501));
    // Longer than a request line may be, yet the method's fault, not the
    // URI's: still 501 (RFC 9112 §3).
    let longer_method = format!(
        "{} /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
        "M".repeat(9 * 1024)
    );
    heads.push(("a 9 KiB method", longer_method.into_bytes(), 501));
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9 * 1024));
    heads.push(("request line over 8 KiB", long_line.into_bytes(), 414));
    let big_field = format!(
        "GET /healthz HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(17 * 1024)
    );
    heads.push(("head over 16 KiB", big_field.into_bytes(), 431));
    // Just under the limit is fine: the head buffer grows to hold it.
    let near_limit = format!(
        "GET /healthz HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(16 * 1024 - 64)
    );
    heads.push(("head just under 16 KiB", near_limit.into_bytes(), 200));
    // Exactly at the limit, and one byte over: the edges of the buffer
    // that grows from 1 KiB up to the limit.
    let frame = "GET /healthz HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
    for (what, len, status) in [
        ("head of exactly 16 KiB", 16 * 1024, 200),
        ("head of 16 KiB + 1", 16 * 1024 + 1, 431),
    ] {
        let head = format!(
            "GET /healthz HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "v".repeat(len - frame)
        );
        assert_eq!(head.len(), len);
        heads.push((what, head.into_bytes(), status));
    }
    // A request line of exactly 8 KiB is within its limit, so a head too
    // large because of its fields is the fields' fault: 431, not 414 (the
    // CR that ends the line is not part of it).
    let line = format!("GET /{} HTTP/1.1", "a".repeat(8 * 1024 - 14));
    assert_eq!(line.len(), 8 * 1024);
    for (what, field, status) in [
        ("request line of exactly 8 KiB", "", 404),
        ("request line of 8 KiB, head over 16 KiB", "v", 431),
    ] {
        let head = format!("{line}\r\nHost: a\r\nX: {}\r\n\r\n", field.repeat(9 * 1024));
        heads.push((what, head.into_bytes(), status));
    }
    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: a\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    heads.push(("101 header fields", format!("{many}\r\n").into_bytes(), 431));
    heads
}

#[test]
fn every_hostile_head_gets_its_status_and_the_server_stays_clean() {
    let (server, idle) = warmed_server(&[]);
    let addr = server.addr();
    let corpus = corpus();
    assert_eq!(corpus.len(), 77, "the corpus docs/defenses.md counts");
    let mut wrong = Vec::new();
    for (what, head, expected) in &corpus {
        let response = request(addr, head);
        if response.status != *expected {
            wrong.push(format!(
                "{what}: expected {expected}, got {} ({:?})",
                response.status,
                String::from_utf8_lossy(&response.body)
            ));
            continue;
        }
        if *expected >= 400 {
            // Small plain text, one line, saying what was wrong.
            let text = response.body_text();
            assert!(
                text.ends_with('\n') && text.lines().count() == 1 && text.len() < 200,
                "{what}: {text:?}"
            );
            assert_eq!(
                response.header("Content-Type"),
                Some("text/plain; charset=utf-8"),
                "{what}"
            );
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(common::get(addr, "/healthz").status, 200);
    back_to_idle(addr, &idle, "the corpus");
}

// ---------------------------------------------------------------------------
// The parser's own table, in-process
// ---------------------------------------------------------------------------

fn status_of(head: &[u8]) -> Result<(), (u16, &'static str)> {
    parse_head(head)
        .map(|_| ())
        .map_err(|e| (e.status.code(), e.reason))
}

#[test]
fn parses_a_typical_request() {
    let head = b"GET /export.csv?rows=5&mode=bounded HTTP/1.1\r\nHost: localhost:8080\r\n\
                 User-Agent: curl/8.5.0\r\nAccept:   */*  \r\n\r\n";
    let request = parse_head(head).unwrap();
    assert_eq!(request.method, Method::Get);
    assert_eq!(request.path, b"/export.csv");
    assert_eq!(request.query, Some(&b"rows=5&mode=bounded"[..]));
    assert_eq!(request.version, Version::Http11);
    assert_eq!(request.fields.len(), 3);
    assert_eq!(request.field_values("ACCEPT").collect::<Vec<_>>(), [b"*/*"]);
}

#[test]
fn http_1_0_needs_no_host_and_other_methods_parse() {
    let request = parse_head(b"HEAD / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(
        (request.method, request.version),
        (Method::Head, Version::Http10)
    );
    assert_eq!(request.query, None);
    let request = parse_head(b"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(request.method, Method::NotAllowed);
    for unknown in ["get", "head", "BREW", "PROPFIND", "GETTHEEXPORTNOWPLEASE"] {
        let head = format!("{unknown} / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(parse_head(head.as_bytes()).unwrap().method, Method::Unknown);
    }
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
        // An empty path is `/`, and the query is still the query (RFC
        // 9112 §3.2.2, RFC 3986 §6.2.3): the same request as `/?rows=1`.
        ("http://example.com?rows=1", "/", Some("rows=1")),
        ("http://example.com?", "/", Some("")),
    ] {
        let head = format!("GET {target} HTTP/1.1\r\nHost: example.com\r\n\r\n");
        let request = parse_head(head.as_bytes()).unwrap();
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
        (b"GET # HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /{x} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET http:///export.csv HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET http://user@host/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a:8f\r\n\r\n", 400),
        (b"connect example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: \x0c0\r\n\r\n",
            400,
        ),
        (b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        // HTTP/2's preface is a head the server looks at before parsing:
        // on the wire it begins HTTP/2 (`tests/http2.rs`). To the HTTP/1
        // parser it is token-shaped, so its version is what is refused.
        (b"PRI * HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/0.9\r\n\r\n", 505),
        (b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        // RFC 9112 §3.2: "any request message" with two Hosts or an
        // invalid one, HTTP/1.0 as much as 1.1.
        (b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n", 400),
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
        // An empty length is no number (`1*DIGIT`), not a length of 0.
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
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
fn valid_but_unusual_heads_are_accepted() {
    for head in [
        &b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 00\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
        // The colons of an IPv6 address are inside its brackets, and none
        // of them starts a port: what curl sends for `http://[::1]/`.
        b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n",
        b"GET http://[::1]/ HTTP/1.1\r\nHost: [::1]\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Tab:\tv\t\r\nX-Utf8: \xc3\xa9\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a%20b?x=%7B HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a:\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [vAf.x]\r\n\r\n",
    ] {
        assert!(
            parse_head(head).is_ok(),
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
    let request = parse_head(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(
        request.version,
        Version::Http11,
        "a later 1.x is served as 1.1"
    );
    // Optional whitespace is a tab as much as a space (RFC 9110 §5.6.3):
    // around a Host or a Content-Length, it is no part of the value.
    let tabbed = b"GET / HTTP/1.1\r\nHost:\ta \t\r\nContent-Length: \t0\t\r\n\r\n";
    let request = parse_head(tabbed).unwrap();
    let values: Vec<&[u8]> = request.fields.iter().map(|(_, value)| *value).collect();
    assert_eq!(values, [&b"a"[..], b"0"]);
}

/// Whitespace between a field name and its colon is refused for what it
/// is (RFC 9112 §5.1), a tab as a space: not as a name that is no token.
#[test]
fn whitespace_before_a_colon_is_named_whichever_it_is() {
    for head in [
        &b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
    ] {
        let error = parse_head(head).unwrap_err();
        assert_eq!(
            error.reason,
            "whitespace between a header field name and its colon",
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn enforces_the_field_count_and_request_line_limits() {
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..100 {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    assert!(parse_head(&head).is_ok(), "exactly the limit is fine");
    head.truncate(head.len() - 2);
    head.extend_from_slice(b"X-last: v\r\n\r\n");
    assert_eq!(status_of(&head).unwrap_err().0, 431);

    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(8 * 1024));
    assert_eq!(status_of(long.as_bytes()).unwrap_err().0, 414);
}

/// An `http` URI whose host is empty is invalid, and RFC 9110 §4.2.1 says
/// a recipient MUST reject it: a port does not make up for the missing
/// host. (`http:///x`, with nothing at all, is in the corpus.)
#[test]
fn an_absolute_target_with_a_port_and_no_host_is_refused() {
    let server = common::Server::start(&[]);
    for target in ["http://:80/healthz", "http://:/healthz", "HTTPS://:443"] {
        let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        let response = request(server.addr(), head.as_bytes());
        assert_eq!(response.status, 400, "{target}");
        assert_eq!(
            response.body_text(),
            "absolute request target without a valid host\n",
            "{target}"
        );
    }
}

/// CONNECT names a host and port, the authority-form that only it uses
/// (RFC 9112 §3.2.3). This server knows the method and does not allow it,
/// so a well-formed CONNECT gets the 405 and `Allow` every such method
/// gets, not a 400 saying its target should have been a path. One without
/// a port is malformed (RFC 9110 §9.3.6), and so is the authority-form
/// for any other method.
#[test]
fn connect_with_its_authority_form_is_not_allowed() {
    let server = common::Server::start(&[]);
    for (head, status) in [
        (
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            405,
        ),
        (
            "CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
            405,
        ),
        (
            "CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
            400,
        ),
        (
            "CONNECT example.com: HTTP/1.1\r\nHost: example.com\r\n\r\n",
            400,
        ),
        ("CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (
            "GET example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
            400,
        ),
    ] {
        let response = request(server.addr(), head.as_bytes());
        assert_eq!(response.status, status, "{head:?}");
        if status == 405 {
            assert_eq!(response.header("Allow"), Some("GET, HEAD"), "{head:?}");
        } else if head.starts_with("CONNECT") {
            let reason = "CONNECT's target must be host:port\n";
            assert_eq!(response.body_text(), reason, "{head:?}");
        }
    }
}

/// A Host field with an invalid value is a 400 (RFC 9112 §3.2: a server
/// MUST), and valid is RFC 3986's `host`: a percent sign begins two hex
/// digits, and brackets hold an IPv6 address or an IPvFuture, nothing
/// else. An absolute-form target's authority is held to the same grammar.
#[test]
fn a_host_is_judged_by_the_uri_grammar() {
    let server = common::Server::start(&[]);
    let host_head = |host: &str| format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let reason = "Host header field is not a valid host\n";
    for host in [
        "a%zz",
        "a%4",
        "%",
        "[]",
        "[:]",
        "[1.2.3.4]",
        "[::1::2]",
        "[12345::]",
        "[v1.]",
        // IPvFuture is "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ).
        "[v.x]",
        "[vg.x]",
        "[v1:x]",
    ] {
        let response = request(server.addr(), host_head(host).as_bytes());
        assert_eq!(response.status, 400, "{host}");
        assert_eq!(response.body_text(), reason, "{host}");
    }
    for target in [
        "http://a%zz/healthz",
        "http://[]/healthz",
        "http://[1.2.3.4]/",
    ] {
        let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        let response = request(server.addr(), head.as_bytes());
        assert_eq!(response.status, 400, "{target}");
        let reason = "absolute request target without a valid host\n";
        assert_eq!(response.body_text(), reason, "{target}");
    }
    for host in [
        "a%41b",
        "%7E",
        "[::ffff:1.2.3.4]",
        "[2001:db8::1]:8080",
        "[v1.fe80::a+b]",
        "[V7.x]:80",
        "0.0.0.0",
        // Every sub-delim, which a reg-name may hold unescaped.
        "a!$&'()*+,;=b",
    ] {
        let response = request(server.addr(), host_head(host).as_bytes());
        assert_eq!(response.status, 200, "{host}");
    }
}
