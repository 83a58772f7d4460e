//! The HTTP surface, over real sockets: endpoints, every error status with
//! its one-line reason, the request-head deadline and size limits, and
//! error responses that arrive whole instead of as a connection reset.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use backpressure::{CLOSE_READ_TIMEOUT, FAMILIES};
use common::{Metrics, Server, get, metrics, request, wait_until};

/// `/metrics` once every earlier connection has closed, and how many
/// scrapes it took. A connection outlives its response by the graceful
/// close (the server drains until the client hangs up, 500 ms at most), so
/// right after a response its thread may still count.
fn metrics_when_idle(addr: std::net::SocketAddr) -> (Metrics, u32) {
    let mut polls = 0;
    let m = wait_until(
        "earlier connections to close",
        Duration::from_secs(10),
        || {
            polls += 1;
            let m = metrics(addr);
            (m.value("backpressure_connections_active") == 1.0).then_some(m)
        },
    );
    (m, polls)
}

/// Lines in an export's decoded body: the header plus one per row.
fn csv_lines(response: &common::RawResponse) -> usize {
    response
        .body_decoded()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Asserts a small error response: the status, plain text, and a body that
/// is exactly one line mentioning `mentions`.
fn assert_error(response: &common::RawResponse, status: u16, mentions: &str) {
    let text = response.body_text();
    assert_eq!(response.status, status, "{text}");
    assert_eq!(
        response.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.header("Connection"), Some("close"));
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "one line: {text:?}"
    );
    assert!(
        text.contains(mentions),
        "{text:?} should mention {mentions:?}"
    );
}

#[test]
fn index_health_and_metrics() {
    let server = Server::start(&[]);
    let index = get(server.addr(), "/");
    assert_eq!(index.status, 200);
    let page = index.body_text();
    for needle in [
        "/export.csv",
        "buffer",
        "unbounded",
        "bounded",
        "pipeline",
        "/metrics",
        "curl",
    ] {
        assert!(page.contains(needle), "the index page mentions {needle}");
    }
    assert!(
        page.contains(&server.addr().to_string()),
        "curl examples use the real address"
    );

    let health = get(server.addr(), "/healthz");
    assert_eq!((health.status, health.body_text().as_str()), (200, "ok\n"));

    let response = get(server.addr(), "/metrics");
    assert_eq!(
        response.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    // Every family of the crate's one table, with its HELP and TYPE, exactly.
    let text = response.body_text();
    for family in &FAMILIES {
        let help = format!("# HELP {} {}\n", family.name, family.help);
        let kind = format!("# TYPE {} {}\n", family.name, family.kind.as_str());
        assert!(
            text.contains(&help) && text.contains(&kind),
            "{}",
            family.name
        );
    }
    let (m, polls) = metrics_when_idle(server.addr());
    // /, /healthz, /metrics, and every /metrics poll before the one read
    // (a response is counted once it is written, after its body is made).
    let ok_responses = m.value("backpressure_responses_total{mode=\"none\",status=\"200\"}");
    assert_eq!(ok_responses, 3.0 + (polls - 1) as f64);

    // The process's memory, as the kernel counts it: the peak only grows,
    // so the scrape's lies between two reads of /proc around it; what is
    // resident now, above nothing and at most that peak.
    let peak_of =
        |status: backpressure::ProcStatus| status.peak_rss_bytes.expect("a VmHWM: line") as f64;
    let before = peak_of(server.status());
    let m = metrics(server.addr());
    let after = peak_of(server.status());
    let peak = m.value("process_resident_memory_peak_bytes");
    assert!(
        (before..=after).contains(&peak),
        "{before} <= {peak} <= {after}"
    );
    let resident = m.value("process_resident_memory_bytes");
    assert!(resident > 0.0 && resident <= peak, "{resident} of {peak}");
}

/// `backpressure_notsent_lowat_bytes` is the mark every connection gets:
/// the flag's bytes, and 0 when `--notsent-lowat off` (its HELP says so).
#[test]
fn the_low_water_mark_metric_is_the_flag_and_zero_when_off() {
    for (flag, bytes) in [("off", 0.0), ("64k", 65536.0)] {
        let server = Server::start(&["--notsent-lowat", flag]);
        let value = metrics(server.addr()).value("backpressure_notsent_lowat_bytes");
        assert_eq!(value, bytes, "--notsent-lowat {flag}");
    }
}

/// `process_open_fds` is the server's descriptors as `/proc/PID/fd` lists
/// them from outside, at rest before and after, and the scrape's own
/// socket: no more (the directory the count reads is left out), no less.
/// The tests' idle checks compare it with itself; this one pins it.
#[test]
fn open_fds_are_what_proc_lists_and_the_scrapes_socket() {
    let (server, _) = common::warmed_server(&[]);
    let pid = server.pid();
    let at_rest = || {
        common::wait_until_with("no connection thread", Duration::from_secs(10), || {
            match common::connection_threads(pid) {
                Ok(busy) if busy.is_empty() => Ok(()),
                Ok(busy) => Err(busy.join(",")),
                Err(e) => Err(e),
            }
        });
        let listed = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("the server's fds");
        listed.count() as f64
    };
    let before = at_rest();
    let m = metrics(server.addr());
    assert_eq!(at_rest(), before, "descriptors at rest");
    assert_eq!(m.value("process_open_fds"), before + 1.0);
}

/// The index page is documentation the server serves, so it must be true
/// of the server that serves it: every URL its examples give is answered
/// 200, also when `--max-rows` is below the rows an example asks for.
#[test]
fn every_url_the_index_page_gives_is_answered() {
    for args in [&[][..], &["--max-rows", "5000"]] {
        let server = Server::start(args);
        let addr = server.addr();
        let page = get(addr, "/").body_text();
        let base = format!("http://{addr}");
        let targets: Vec<&str> = page
            .match_indices(&base)
            .map(|(at, _)| {
                let rest = &page[at + base.len()..];
                let end = rest.find(['\'', ' ', '\n']).unwrap_or(rest.len());
                &rest[..end]
            })
            .collect();
        assert!(targets.len() >= 4, "{args:?}: {page}");
        for target in targets {
            // HEAD: the status and head of a GET, without its body.
            if common::head(addr, target).status != 200 {
                // A refusal is small: GET it for its one-line reason.
                let refused = get(addr, target);
                panic!("{args:?}: {target}: {}", refused.body_text());
            }
        }
    }
}

/// The index page states the bounds of the server it is served by:
/// `bounded` holds at most (depth + 2) chunks (`src/server/config.rs`),
/// `pipeline` one, with this server's flags, not the defaults; which
/// mode a query without `mode=` gets, apart from any bound; the rows one
/// without `rows=` gets, which `--max-rows` may lower; how many
/// connections it serves at once; and its table's columns stay aligned
/// whatever the depth's width.
#[test]
fn the_index_page_states_this_servers_bounds() {
    let server = Server::start(&[
        "--chunk-bytes",
        "1000",
        "--channel-depth",
        "10",
        "--max-rows",
        "3000",
        "--max-connections",
        "7",
    ]);
    let page = get(server.addr(), "/").body_text();
    let cap = "Connections served at once: 7 at most\n(--max-connections); the rest get 503";
    assert!(page.contains(cap), "{page}");
    assert!(page.contains("mode (default bounded):\n"), "{page}");
    let default_rows = page
        .split_once("rows 0..=3000 (default ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(rows, _)| rows.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no default rows: {page}"));
    let wire = get(server.addr(), "/export.csv").body;
    let export = common::decode_chunked(&wire).expect("the export, chunked");
    assert_eq!(export.len() as u64, common::reference_csv_len(default_rows));
    let bounded = "sync_channel(10) -> writer       flat: <= 12000 bytes\n";
    assert!(page.contains(bounded), "{page}");
    let pipeline = "render, write, repeat on one thread          flat: <= 1000 bytes, one buffer\n";
    assert!(page.contains(pipeline), "{page}");
    let memory_column: Vec<usize> = ["O(body)", "grows", "flat: <= 12000", "flat: <= 1000 "]
        .iter()
        .filter_map(|cell| page.lines().find_map(|line| line.find(cell)))
        .collect();
    assert_eq!(memory_column, [memory_column[0]; 4], "{page}");
}

#[test]
fn unknown_paths_and_methods() {
    let server = Server::start(&[]);
    assert_error(&get(server.addr(), "/export"), 404, "no such path");
    assert_error(&get(server.addr(), "/export.csv/"), 404, "no such path");
    assert_error(
        &get(server.addr(), "/export%2Ecsv%zz"),
        400,
        "bad percent-encoding in the path",
    );
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        let raw = format!("{method} /export.csv HTTP/1.1\r\nHost: x\r\n\r\n");
        let response = request(server.addr(), raw.as_bytes());
        assert_error(&response, 405, "GET or HEAD");
        assert_eq!(response.header("Allow"), Some("GET, HEAD"), "{method}");
    }
    let m = metrics(server.addr());
    assert_eq!(
        m.value("backpressure_responses_total{mode=\"none\",status=\"405\"}"),
        5.0
    );
}

#[test]
fn each_bad_parameter_is_a_400_naming_it() {
    let server = Server::start(&["--max-rows", "5000"]);
    for (query, mentions) in [
        (
            "rows=abc",
            "rows must be a whole number from 0 to 5000, got \"abc\"",
        ),
        ("rows=-5", "rows must be"),
        // The reason quotes the value as sent, not as decoded: `+` is a
        // space in form encoding, and `got " 1"` shows what nobody typed.
        (
            "rows=+1",
            "rows must be a whole number from 0 to 5000, got \"+1\"",
        ),
        ("rows=%41", "got \"%41\""),
        ("rows=1.5", "rows must be"),
        ("rows=1e3", "rows must be"),
        ("rows=", "rows must be"),
        (
            "rows",
            "rows must be a whole number from 0 to 5000, got \"\"",
        ),
        (
            "rows=1=2",
            "rows must be a whole number from 0 to 5000, got \"1=2\"",
        ),
        ("rows=5001", "from 0 to 5000"),
        ("rows=184467440737095516160", "rows must be"),
        (
            "mode=turbo",
            "unknown mode \"turbo\": expected buffer, unbounded, bounded or pipeline",
        ),
        ("mode=", "unknown mode \"\""),
        ("mode=BOUNDED", "unknown mode \"BOUNDED\""),
        ("rows=1&rows=2", "\"rows\" given more than once"),
        ("mode=buffer&mode=pipeline", "\"mode\" given more than once"),
        ("mode=buffer&mode=buffer", "\"mode\" given more than once"),
        (
            "rows=1&limit=5",
            "unknown parameter \"limit\": expected rows or mode",
        ),
        ("row=5", "unknown parameter \"row\""),
        ("r%6Fw=5", "unknown parameter \"r%6Fw\""),
        ("rows=%4", "bad percent-encoding in parameter \"rows\""),
        ("rows=%zz", "bad percent-encoding in parameter \"rows\""),
        ("mode=%+1", "bad percent-encoding in parameter \"mode\""),
        ("r%zws=1", "bad percent-encoding in a parameter name"),
        // Echoed as sent, an escaped line break cannot break the line (or
        // the head): it is still `%0D%0A`.
        ("mode=a%0D%0Ab", "unknown mode \"a%0D%0Ab\""),
        // A query is form-encoded: + is a space, and no mode has one.
        ("mode=bounded+x", "unknown mode \"bounded+x\""),
    ] {
        let response = get(server.addr(), &format!("/export.csv?{query}"));
        assert_error(&response, 400, mentions);
    }
    // A long value or name is quoted in part, wherever a reason quotes
    // one, so a reason stays a line to read: its first 64 bytes, then `...`.
    let long = "7".repeat(8000);
    for (query, reason) in [
        (
            format!("rows={long}"),
            "rows must be a whole number from 0 to 5000, got",
        ),
        (format!("mode={long}"), "unknown mode"),
        (format!("{long}=1"), "unknown parameter"),
        (format!("{long}=%zz"), "bad percent-encoding in parameter"),
    ] {
        let response = get(server.addr(), &format!("/export.csv?{query}"));
        let quoted = format!("{reason} \"{}...\"", &long[..64]);
        assert_error(&response, 400, &quoted);
        assert!(response.body.len() < 200, "{} bytes", response.body.len());
    }
    // The cap also lowers the default, instead of refusing a bare request;
    // the default mode is bounded, the correct one.
    let response = get(server.addr(), "/export.csv");
    assert_eq!(response.status, 200);
    assert_eq!(csv_lines(&response), 5001);
    assert_eq!(
        metrics(server.addr())
            .value("backpressure_responses_total{mode=\"bounded\",status=\"200\"}"),
        1.0
    );
    for (query, lines) in [
        ("rows=0&mode=unbounded", 1),
        ("mode=pipeline&rows=5000&", 5001),
        ("rows=%35&mode=b%6Funded", 6),
        ("%72ows=1%32", 13),
        ("&&rows=2", 3),
    ] {
        let response = get(server.addr(), &format!("/export.csv?{query}"));
        assert_eq!(
            (response.status, csv_lines(&response)),
            (200, lines),
            "{query}"
        );
    }
}

#[test]
fn malformed_heads_get_the_right_status() {
    let server = Server::start(&[]);
    for (raw, status, mentions) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], 400, "Host"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Host"),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "colon"),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            400,
            "folding",
        ),
        (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400, "bare CR"),
        (b"GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n", 400, "Host"),
        (
            b"GET http:///healthz HTTP/1.1\r\nHost: a\r\n\r\n",
            400,
            "host",
        ),
        (b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target"),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP/1.1"),
        (b"GET /\tx HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target"),
        (b"GET relative HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target"),
        // CONNECT's only target is host:port (RFC 9112 §3.2.3), as
        // HTTP/2's CONNECT has no :path (RFC 9113 §8.5).
        (
            b"CONNECT /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
            400,
            "host:port",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
            400,
            "bodies",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "bodies",
        ),
    ] {
        assert_error(&request(server.addr(), raw), status, mentions);
    }
    // A malformed HEAD request still gets no body (RFC 9110 §9.3.2).
    let response = request(server.addr(), b"HEAD /healthz HTTP/1.1\r\n\r\n");
    assert_eq!(response.status, 400);
    assert!(response.header("Content-Length").is_some());
    assert!(
        response.body.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    // Absolute-form targets are served like their path.
    let raw = b"GET http://example.com/healthz HTTP/1.1\r\nHost: example.com\r\n\r\n";
    assert_eq!(request(server.addr(), raw).body_text(), "ok\n");
}

/// Heads that are too large are refused once the limit is reached, and the
/// refusal reaches the client even though the server stopped reading: it
/// drains the rest before closing, so the kernel does not answer with a reset.
#[test]
fn oversized_heads_are_refused_without_a_reset() {
    let server = Server::start(&[]);
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(20_000));
    assert_error(
        &request_closed_gracefully(server.addr(), long_target.as_bytes()),
        414,
        "request line",
    );

    // 1000 fields of about 25 bytes: over 16 KiB in all.
    let too_large = head_with_fields(1000, |i| format!("X-Field-{i}: some value"));
    assert_error(
        &request_closed_gracefully(server.addr(), too_large.as_bytes()),
        431,
        "16 KiB",
    );
    // Host plus 100 small fields: 101, one over the count limit.
    let too_many = head_with_fields(100, |i| format!("X-{i}: v"));
    assert_error(
        &request_closed_gracefully(server.addr(), too_many.as_bytes()),
        431,
        "100 header fields",
    );
}

/// Sends `raw` and reads the answer to its end, which must come with a
/// graceful close. Had the server closed with the head's unread rest in its
/// buffer, the kernel would have sent a reset: Linux still hands over the
/// answer before it, but leaves the error on the socket.
fn request_closed_gracefully(addr: std::net::SocketAddr, raw: &[u8]) -> common::RawResponse {
    let mut stream = TcpStream::connect(addr).expect("connect");
    // A server that never closes fails the test instead of hanging it.
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    stream
        .write_all(raw)
        .expect("the server reads the whole head");
    let mut wire = Vec::new();
    stream.read_to_end(&mut wire).expect("read to the end");
    // A reset would come right behind the FIN that ended the answer, or,
    // armed on a close that waits for this side to hang up, when that wait
    // ends: this side stays open past it. A graceful close goes on reading
    // until this side closes, or the wait ends, and then closes with nothing
    // unread: no reset either way.
    std::thread::sleep(CLOSE_READ_TIMEOUT + Duration::from_millis(200));
    let error = stream.take_error().expect("SO_ERROR");
    assert!(error.is_none(), "the connection was reset: {error:?}");
    common::parse_response(&wire)
}

/// `GET /` with a Host field and `count` more fields made by `field`.
fn head_with_fields(count: usize, field: impl Fn(usize) -> String) -> String {
    let fields: String = (0..count).map(|i| field(i) + "\r\n").collect();
    format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n")
}

/// The deadline is `--header-timeout` after accept, not a multiple of it:
/// the server's own clock, the 408's access-log duration, has a silent
/// client's connection over between the timeout and twice it: the 408 at
/// the deadline, then the close's wait for the client to hang up
/// (`CLOSE_READ_TIMEOUT`, 500 ms, as this client reads to the end first).
/// The client's clock, in the test below, is bounded loosely: a busy
/// machine may be late to run the client; the server's thread wakes at
/// its deadline.
#[test]
fn the_head_deadline_is_the_header_timeout() {
    let server = Server::start_logged(&["--header-timeout", "2s"]);
    let mut client = TcpStream::connect(server.addr()).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reply = Vec::new();
    client
        .read_to_end(&mut reply)
        .expect("a 408, then the server closes");
    assert_error(&common::parse_response(&reply), 408, "in time");
    let peer = format!(" {} ", client.local_addr().expect("an address"));
    let line = server.log_line(&peer, |l| l.contains(&peer) && l.contains(" 408 "));
    let took: u64 = common::number_after(&line, " duration_ms=", " ");
    assert!((2000..4000).contains(&took), "{line}");
}

/// The whole head must arrive within the deadline, counted from accept: a
/// silent client, one that falls silent halfway through its head, and one
/// trickling a byte at a time are all cut off.
#[test]
fn the_head_deadline_counts_from_accept() {
    let server = Server::start(&["--header-timeout", "500ms"]);
    // Sends `sent` and nothing more: the 408 must come, and how long it
    // took from the connect is returned.
    let answered_408_after = |sent: &[u8]| {
        let started = Instant::now();
        let mut client = TcpStream::connect(server.addr()).expect("connect");
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        client.write_all(sent).expect("what there is of a head");
        let mut reply = Vec::new();
        client
            .read_to_end(&mut reply)
            .expect("a 408, then the server closes");
        let waited = started.elapsed();
        assert_error(&common::parse_response(&reply), 408, "in time");
        assert!(
            waited < Duration::from_secs(5),
            "closed only after {waited:?}"
        );
        waited
    };

    let waited = answered_408_after(b"");
    assert!(
        waited >= Duration::from_millis(450),
        "closed after only {waited:?}"
    );

    // Half a head, then nothing: the read already under way, which the
    // first byte woke, must still give up at the deadline, not wait for
    // bytes that never come.
    answered_408_after(b"GET /healthz HTTP/1.1\r\nHost: a\r\n");

    // One byte every 100 ms never completes a head. A per-read timeout would
    // restart with every byte and wait until the trickle ends (after 10 s);
    // the deadline from accept answers 408 while the client still trickles,
    // and the trickle stops when its writes fail.
    let started = Instant::now();
    let trickle = TcpStream::connect(server.addr()).expect("connect");
    let mut writer = trickle
        .try_clone()
        .expect("a second handle for the trickling thread");
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: {}\r\n",
        "y".repeat(60)
    );
    let trickler = std::thread::spawn(move || {
        for &byte in head.as_bytes() {
            if writer.write_all(&[byte]).is_err() {
                return; // the server has given up on us: that is the point
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut reader = &trickle;
    reader
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut reply = Vec::new();
    let _ = reader.read_to_end(&mut reply);
    let waited = started.elapsed();
    assert!(
        reply.starts_with(b"HTTP/1.1 408 "),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    // Against the trickle's 10 s, not a number of milliseconds that a busy
    // two-core machine can miss.
    assert!(
        waited < Duration::from_secs(5),
        "408 only after {waited:?}: the trickle reset the deadline"
    );
    trickler.join().expect("the trickling thread ends");

    drop(trickle);
    let (m, _) = metrics_when_idle(server.addr());
    assert_eq!(
        m.value("backpressure_responses_total{mode=\"none\",status=\"408\"}"),
        3.0
    );
}

/// A head with bare LF line ends is refused as soon as the first one
/// arrives, not after the head deadline (waiting for a CRLF CRLF that a
/// bare-LF client never sends).
#[test]
fn bare_lf_heads_are_refused_at_once() {
    let server = Server::start(&[]); // the default 10 s head deadline
    let started = Instant::now();
    let response = request(server.addr(), b"GET /healthz HTTP/1.1\nHost: a\n\n");
    assert_error(&response, 400, "bare LF");
    // Against the 10 s deadline, with room for a busy two-core machine.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
}

/// A client that closes its side before the empty line that ends its head
/// (`printf 'GET / HTTP/1.1\r\nHost: a\r\n' | nc -N`) can still read: it
/// gets a 400 saying the head was cut short, not a silent close; a HEAD so
/// cut gets the head of it. One that closes having sent nothing, or only
/// empty lines, made no request and gets nothing.
#[test]
fn a_head_cut_short_by_the_client_gets_a_400() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let send_then_close = |sent: &[u8]| {
        let mut client = TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.write_all(sent).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).unwrap();
        wire
    };
    for sent in [&b"GET /healthz HTTP/1.1\r\nHost: a\r\n"[..], b"\r\nGE"] {
        let response = common::parse_response(&send_then_close(sent));
        assert_error(&response, 400, "before the empty line");
    }
    let response = common::parse_response(&send_then_close(b"HEAD / HTTP/1.1\r\n"));
    assert_eq!(response.status, 400);
    assert!(response.body.is_empty(), "no body for HEAD");
    for sent in [&b""[..], b"\r\n\r\n"] {
        assert_eq!(send_then_close(sent), b"", "{sent:?}");
    }
}

/// A client that resets the moment it has sent its request is logged with
/// its address, the one accept gave: once reset, the socket itself can no
/// longer tell it.
#[test]
fn a_client_that_resets_at_once_is_logged_with_its_address() {
    let server = Server::start_logged(&[]);
    let mut client = TcpStream::connect(server.addr()).expect("connect");
    let address = client.local_addr().expect("the client's address");
    backpressure::reset_on_close(&client).expect("SO_LINGER 0");
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send the request");
    drop(client);
    let line = server.log_line("the reset client's line", |l| l.contains("/healthz"));
    assert!(
        line.contains(&format!(" {address} \"GET /healthz HTTP/1.1\"")),
        "{line}"
    );
}

/// `--quiet` turns the access log off, every line of it: a connection's
/// over HTTP/1.1, an HTTP/2 connection's and its stream's, and the
/// rejecter's at the cap, each written from code of its own. Seen once
/// the shutdown's summary is in: the log is written in order, and every
/// connection's line comes before it.
#[test]
fn quiet_turns_every_access_line_off() {
    let server = Server::start_logged(&["--quiet", "--max-connections", "1"]);
    let addr = server.addr();
    let mut h2 = common::h2::H2::connect_wide_open(addr);
    h2.get(1, "GET", "/healthz");
    let response = common::h2::read_responses(&mut h2, &[1], false).remove(0);
    assert_eq!(response.body, b"ok\n");
    drop(h2);
    // The one slot, once the HTTP/2 connection has given it back; then a
    // client turned away.
    let mut holder = wait_until("an export to be let in", Duration::from_secs(30), || {
        let mut client = common::stalled_request(addr, "/export.csv?rows=1200000");
        let mut status_line = [0u8; 12];
        client.read_exact(&mut status_line).ok()?;
        (&status_line == b"HTTP/1.1 200").then_some(client)
    });
    assert_eq!(get(addr, "/").status, 503);
    holder
        .read_exact(&mut [0; 1024])
        .expect("the export goes on");
    drop(holder);
    server.signal("TERM");
    server.log_line("the shutdown's summary", |l| l.contains("shut down in "));
    let lines = server.log_lines();
    let access: Vec<&String> = lines.iter().filter(|l| l.contains(" end=")).collect();
    assert!(access.is_empty(), "{access:#?}");
}
