//! `backpressure slow-client`, through the real binary, against a real
//! `serve` child: exact byte counts and a clean end for each framing, a stop
//! on time, a cut body reported as cut, and the exit codes of each.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    NO_THREAD, Server, read_by_peer, reference_csv_len, run_binary, run_binary_with, wait_until,
};

/// Runs `slow-client` with `args`, killing it if it has not exited within
/// 20 s (every case here takes well under 2 s).
fn slow_client(args: &[&str]) -> Output {
    let all: Vec<&str> = std::iter::once("slow-client")
        .chain(args.iter().copied())
        .collect();
    run_binary(&all, Duration::from_secs(20))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn reads_every_byte_and_reports_a_clean_end_for_each_framing() {
    let server = Server::start(&[]);
    let rows = 20_000;
    let expected = reference_csv_len(rows);
    // The three framings: chunked, Content-Length, and a close-delimited
    // HTTP/1.0 body.
    for (mode, flags, end) in [
        (
            "bounded",
            &[][..],
            "body ended cleanly (last chunk received)",
        ),
        ("pipeline", &[], "body ended cleanly (last chunk received)"),
        ("buffer", &[], "body ended cleanly (Content-Length"),
        (
            "bounded",
            &["--http1.0"],
            "body ended cleanly (server closed a close-delimited body)",
        ),
    ] {
        let url = format!(
            "http://{}/export.csv?rows={rows}&mode={mode}",
            server.addr()
        );
        let args = [&[&url[..], "--rate", "64m"][..], flags].concat();
        let output = slow_client(&args);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(0), "{mode} {flags:?}: {text}");
        assert!(text.starts_with("status 200;"), "{text}");
        assert!(
            text.contains(&format!("received {expected} body bytes")),
            "{mode} {flags:?}: expected {expected}: {text}"
        );
        assert!(text.contains(end), "{mode} {flags:?}: {text}");
    }
    // HTTP/2, with the default window and with one larger than the
    // connection's initial 65,535 bytes, which the client must raise
    // itself or stall once that much has arrived.
    for window in ["65535", "1m"] {
        let url = format!("http://{}/export.csv?rows={rows}", server.addr());
        let output = slow_client(&[&url, "--rate", "64m", "--http2", "--window", window]);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(0), "--window {window}: {text}");
        let whole = format!("status 200, {expected} body bytes, complete");
        assert!(text.contains(&whole), "--window {window}: {text}");
    }
}

/// A refusal is a failure to whoever scripts the client, whatever the
/// protocol: the server's 400 arrives whole, and the exit code says 1.
#[test]
fn an_error_status_exits_1_over_either_protocol() {
    let server = Server::start(&[]);
    let url = format!("http://{}/export.csv?rows=x", server.addr());
    for flags in [&[][..], &["--http2"]] {
        let output = slow_client(&[&[&url[..]][..], flags].concat());
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(1), "{flags:?}: {text}");
        assert!(text.contains("status 400"), "{flags:?}: {text}");
    }
}

#[test]
fn a_time_limit_stops_it_with_exit_0_and_the_rate_holds() {
    let server = Server::start(&[]);
    let url = format!(
        "http://{}/export.csv?rows=1000000&mode=bounded",
        server.addr()
    );
    // A second for the time limit: on a loaded machine a debug server can
    // take a good part of half a second to send its first bytes.
    let output = slow_client(&[&url, "--rate=20k", "--for", "1s"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("stopped by the time limit"), "{text}");
    // 1 s at 20 KiB/s, plus 3 KiB of slack (the head, a read just before
    // the limit): never above 23 KiB on the wire (an upper bound, which no
    // slowness of the machine can break).
    let wire: u64 = text
        .split(" bytes on the wire")
        .next()
        .and_then(|before| before.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no wire byte count in {text}"));
    assert!(wire > 0, "{text}");
    assert!(wire <= 20 * 1024 + 1024 + 20 * 1024 / 10, "{wire}: {text}");
}

/// Progress on a stderr that is not a terminal (a log file, a pipe) is a
/// line per report: rewritten in place with `\r`, a 30 s download would be
/// one line of thirty reports run together, a smear under `2>&1 | tail`.
/// Over `--http2` too; over both, the figures count what the report's
/// last line does, bytes on the wire: they grow with every report, and
/// never pass the report's.
#[test]
fn progress_to_a_file_is_one_line_per_report() {
    let server = Server::start(&[]);
    let url = format!(
        "http://{}/export.csv?rows=1000000&mode=bounded",
        server.addr()
    );
    // The two runs read side by side, on connections of their own: one
    // after the other, the test took 5.2 s, not 2.6.
    let runs = std::thread::scope(|scope| {
        let runs: Vec<_> = [&[][..], &["--http2"]]
            .into_iter()
            .map(|flags| {
                let args = [&[&url[..], "--rate=20k", "--for", "2500ms"][..], flags].concat();
                (flags, scope.spawn(move || slow_client(&args)))
            })
            .collect();
        runs.into_iter()
            .map(|(flags, run)| (flags, run.join().expect("the slow client's thread")))
            .collect::<Vec<_>>()
    });
    for (flags, output) in runs {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{flags:?}: {stderr:?}");
        assert!(!stderr.contains('\r'), "{flags:?}: {stderr:?}");
        // A report a second for 2.5 s: at 1 s and at 2 s, each its own line
        // (a third if a busy machine stretches the run past 3 s), not one
        // every poll.
        let reports = stderr.lines().count();
        assert!((2..=3).contains(&reports), "{flags:?}: {stderr:?}");
        let (wire, _, _) = wire_seconds_rate(&stdout(&output));
        let mut last = 0.0;
        for line in stderr.lines() {
            let read = line
                .strip_suffix(" bytes read")
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
            let read = read.unwrap_or_else(|| panic!("{flags:?}: {stderr:?}"));
            // 20 KiB a second: a report that did not grow counted nothing.
            assert!(last < read && read <= wire, "{flags:?}: {stderr:?}");
            last = read;
        }
    }
}

/// An outcome that cannot be printed (stdout `/dev/full`) exits 1 and
/// says why in one line on stderr, over either protocol. Failed before the
/// fix: exit 1 and not a word, the download itself whole.
#[test]
fn an_outcome_it_cannot_print_exits_1_saying_why() {
    let server = Server::start(&[]);
    let url = format!("http://{}/export.csv?rows=10", server.addr());
    for flags in [&[][..], &["--http2"]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
        let full = full.expect("/dev/full");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_backpressure"))
            .args([&["slow-client", &url[..]][..], flags].concat())
            .stdout(full)
            .output()
            .expect("slow-client runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{flags:?}: {stderr}");
        let said = "backpressure slow-client: cannot print the outcome: No space left on device";
        assert!(
            stderr.lines().any(|l| l.starts_with(said)),
            "{flags:?}: {stderr:?}"
        );
    }
}

/// Over HTTP/2 too, a body stopped by `--for` is said to be stopped, as
/// over HTTP/1.1: "not complete" beside exit 0 reads as a cut that the
/// exit code forgot.
#[test]
fn an_http2_time_limit_is_reported_as_a_stop_not_a_cut() {
    let server = Server::start(&[]);
    let url = format!(
        "http://{}/export.csv?rows=1000000&mode=bounded",
        server.addr()
    );
    let output = slow_client(&[&url, "--http2", "--rate=20k", "--for", "1s"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let stream = text.lines().next().unwrap_or_default();
    assert!(stream.starts_with("stream 1 "), "{text}");
    assert!(
        stream.ends_with("body bytes, stopped by the time limit before the body ended"),
        "{text}"
    );
}

/// Waits for a scripted server's thread, at most 10 s: a client that never
/// connected leaves it blocked in `accept`, and that must fail the test,
/// saying how the client ended, not hang it.
fn join_scripted(server: thread::JoinHandle<()>, client: &Output) {
    let what = format!(
        "the scripted server to be done, after the client's {} with {:?} {:?}",
        client.status,
        stdout(client),
        String::from_utf8_lossy(&client.stderr)
    );
    wait_until(&what, Duration::from_secs(10), || {
        server.is_finished().then_some(())
    });
    server.join().expect("the scripted server does not panic");
}

/// A one-connection server that reads a request (at most 1 KiB) and
/// answers `response`, whatever it is, then hangs up.
fn lying_server(response: &'static [u8]) -> (SocketAddr, thread::JoinHandle<()>) {
    lying_server_in_parts(vec![response])
}

/// [`lying_server`], its answer sent in `parts`, each once the client has
/// read the one before: how a client is shown a read that splits it.
fn lying_server_in_parts(parts: Vec<&'static [u8]>) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("its address");
    let liar = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let _ = stream.set_nodelay(true);
        let mut head = [0u8; 1024];
        let _ = stream.read(&mut head);
        for part in parts {
            let _ = stream.write_all(part);
            read_by_peer(&stream);
        }
    });
    (addr, liar)
}

/// `--http2` at a server that speaks only HTTP/1.x: its answer to the
/// preface is a status line, which read as a frame header was "a bad
/// frame: frame larger than SETTINGS_MAX_FRAME_SIZE". The failure names
/// what happened.
/// However the reads split the status line: the client's first read is
/// as small as its rate allows, which on a busy machine can be 4 bytes,
/// "HTTP" without its "/".
#[test]
fn http2_to_a_server_that_answers_in_http_1_says_so() {
    let status = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    for split in [0, 2] {
        let (addr, server) = lying_server_in_parts(vec![&status[..split], &status[split..]]);
        let output = slow_client(&[&format!("http://{addr}/x"), "--http2"]);
        let text = stdout(&output);
        join_scripted(server, &output);
        assert_eq!(output.status.code(), Some(1), "split at {split}: {text}");
        assert!(
            text.contains("the server answered in HTTP/1.x, not HTTP/2"),
            "split at {split}: {text}"
        );
        assert!(!text.contains("bad frame"), "split at {split}: {text}");
    }
}

#[test]
fn a_cut_body_or_no_server_exits_1() {
    // A server that promises 100 bytes, sends 10 and hangs up.
    let (addr, liar) = lying_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    let output = slow_client(&[&format!("http://{addr}/x")]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("received 10 body bytes"), "{text}");
    assert!(text.contains("body was cut"), "{text}");
    // A read of a few milliseconds is said to take them, in a unit that
    // shows them, not "in 0.00 s".
    let took = text
        .split_once("on the wire) in ")
        .and_then(|(_, rest)| rest.split_once(':'))
        .map(|(took, _)| took);
    let number = took.and_then(|t| t.split(' ').next()?.parse::<f64>().ok());
    assert!(number.is_some_and(|n| n > 0.0), "{took:?} in {text}");
    join_scripted(liar, &output);

    // Nothing listening: the port of a listener just closed.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let output = slow_client(&[&format!("http://{closed}/")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

/// A server that goes silent mid-body, the connection held open, is given
/// up after `--idle-timeout`, over either protocol: the body is cut, exit
/// 1, and the line says the silence was why. The server holds for 2 s, so
/// a client that ignored its 500 ms would end on the close instead, with
/// another reason.
#[test]
fn a_server_silent_past_the_idle_timeout_cuts_the_body() {
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    let (addr, silent) = answering_and_holding(head.to_vec());
    let output = slow_client(&[&format!("http://{addr}/x"), "--idle-timeout", "500ms"]);
    let text = stdout(&output);
    join_scripted(silent, &output);
    assert!(text.contains("received 5 body bytes"), "{text}");
    assert!(
        text.contains("body was cut: nothing received for 500ms"),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(1), "{text}");

    let (addr, silent) = head_and_ten_bytes_then(Vec::new());
    let url = format!("http://{addr}/x");
    let output = slow_client(&[&url, "--http2", "--idle-timeout", "500ms"]);
    let text = stdout(&output);
    join_scripted(silent, &output);
    assert!(text.contains("10 body bytes, not complete"), "{text}");
    assert!(text.contains("nothing received for 500ms"), "{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// A URL's scheme is case-insensitive (RFC 3986 §3.1): `HTTP://` is the
/// `http://` the server takes in an absolute-form target, to be fetched,
/// not refused as if it were `https`; only `https` is told that it is not
/// supported.
#[test]
fn a_url_scheme_in_any_case_is_fetched() {
    let server = Server::start(&[]);
    for scheme in ["HTTP", "Http"] {
        let url = format!("{scheme}://{}/healthz", server.addr());
        let output = slow_client(&[&url]);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(0), "{url}: {text}");
        assert!(text.contains("status 200"), "{url}: {text}");
        assert!(text.contains("Content-Length 3 reached"), "{url}: {text}");
    }
    for (url, https) in [("ftp://127.0.0.1/", false), ("HTTPS://127.0.0.1/", true)] {
        let output = slow_client(&[url]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("not an http:// URL"), "{stderr}");
        assert_eq!(stderr.contains("https is not supported"), https, "{stderr}");
    }
}

/// A chunked body is whole once its last chunk is in, whatever the server
/// sends after it on a connection the client asked to close: the verdict
/// must not depend on whether those bytes share a read with the last
/// chunk (here they share one write).
#[test]
fn a_chunked_body_is_whole_at_its_last_chunk_whatever_follows() {
    let (addr, server) = lying_server(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nEXTRA",
    );
    let output = slow_client(&[&format!("http://{addr}/")]);
    let text = stdout(&output);
    join_scripted(server, &output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("received 5 body bytes"), "{text}");
    assert!(text.contains("last chunk received"), "{text}");
}

#[test]
fn bad_usage_exits_2_with_one_line() {
    // A listener of the test's own, never accepting: a bad flag that a
    // regression let through connects here, not to whatever serves port 80.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("its address"));
    let url = url.as_str();
    for (args, mentions) in [
        (&[][..], "needs a URL"),
        (&["https://127.0.0.1/"], "not an http:// URL"),
        (&[url, "--rate", "0"], "--rate"),
        (&[url, "--for", "5"], "--for"),
        (&[url, "--for", "0s"], "above 0"),
        // A deadline past Instant's range would panic: refused as usage.
        (&[url, "--for", "18446744073709551615s"], "at most a day"),
        (
            &[url, "--http2", "--then-after", "100000000m"],
            "at most a day",
        ),
        (
            &[url, "--http2", "--then-after", "1s"],
            "there is no --then",
        ),
        // SO_RCVBUF takes an int: 2g is bad usage, refused before any
        // connection, not "invalid input parameter" and exit 1 at connect.
        (&[url, "--receive-buffer", "2g"], "at most 2147483647 bytes"),
    ] {
        let output = slow_client(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
        assert!(stderr.contains(mentions), "{stderr}");
    }
}

/// No thread for the download (the OS has none to give): one line saying
/// so and exit 1, as for any other runtime failure, not std's "failed to
/// spawn thread" panic and exit 101.
#[test]
fn no_thread_to_read_with_exits_1_with_one_line() {
    let server = Server::start(&[]);
    let url = format!("http://{}/export.csv?rows=10", server.addr());
    let output = run_binary_with(
        &["slow-client", &url],
        &[NO_THREAD],
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains("cannot start"), "{stderr}");
}

/// An h2c server that answers with SETTINGS and then `frames`, and holds
/// the connection open for 2 s: the client must end on what it was sent,
/// not on a close.
fn h2_answering(frames: Vec<u8>) -> (SocketAddr, thread::JoinHandle<()>) {
    let mut out = Vec::new();
    common::h2::frame(&mut out, 0x4, 0, 0, &[]); // SETTINGS
    out.extend_from_slice(&frames);
    answering_and_holding(out)
}

/// A one-connection server that reads a request (at most 1 KiB), writes
/// `answer`, and holds the connection open for 2 s, or until the client
/// hangs up: a test is as long as its client, not the hold.
fn answering_and_holding(answer: Vec<u8>) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("its address");
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(&answer);
        // Whatever the client sends meanwhile (an h2 client's acks) is read
        // and dropped; its close, a reset or the end of the hold ends it.
        let until = Instant::now() + Duration::from_secs(2);
        for _ in 0..100_000 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
                break;
            }
            if matches!(stream.read(&mut request), Ok(0) | Err(_)) {
                break;
            }
        }
    });
    (addr, server)
}

/// The report's figures: bytes on the wire, the seconds printed, and the
/// achieved rate printed after them.
fn wire_seconds_rate(text: &str) -> (f64, f64, f64) {
    let (before, after) = text
        .split_once(" bytes on the wire")
        .unwrap_or_else(|| panic!("no wire bytes in {text}"));
    let number = |s: &str| {
        s.parse::<f64>()
            .unwrap_or_else(|_| panic!("{s:?} in {text}"))
    };
    let wire = number(before.rsplit([' ', '(']).next().unwrap_or_default());
    let (took, after) = after
        .split_once(" in ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .unwrap_or_else(|| panic!("no time in {text}"));
    let seconds = match took.split_once(' ') {
        Some((n, "s")) => number(n),
        Some((n, "ms")) => number(n) / 1000.0,
        _ => panic!("{took:?} in {text}"),
    };
    let rate = number(after.split(' ').next().unwrap_or_default());
    (wire, seconds, rate)
}

/// The achieved rate means one thing over either protocol, the thing
/// `--rate` limits: bytes read from the socket, head and framing
/// included, over the time printed. Answers whose framing dwarfs their
/// body tell the two apart: a 15,000-byte header field before 100 body
/// bytes, and 100 DATA frames of one byte each padded with 255. Body
/// bytes over the time would read about 100 bytes/s here, wire bytes
/// about 15,000 and 26,000.
#[test]
fn the_achieved_rate_counts_the_wire_over_either_protocol() {
    let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nX-Pad: ".to_vec();
    head.resize(head.len() + 15_000, b'a');
    head.extend_from_slice(b"\r\n\r\n");
    head.extend_from_slice(&[b'x'; 100]);
    let mut frames = Vec::new();
    common::h2::frame(&mut frames, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
    let mut padded = vec![255, b'x'];
    padded.resize(2 + 255, 0);
    for _ in 0..100 {
        common::h2::frame(&mut frames, 0x0, 0x8, 1, &padded); // DATA, PADDED
    }
    for (flags, (addr, server)) in [
        (&[][..], answering_and_holding(head)),
        (&["--http2"], h2_answering(frames)),
    ] {
        let url = format!("http://{addr}/x");
        let args = [&[&url[..], "--rate", "1m", "--for", "1s"][..], flags].concat();
        let output = slow_client(&args);
        let text = stdout(&output);
        join_scripted(server, &output);
        assert!(text.contains("100 body bytes"), "{flags:?}: {text}");
        let (wire, seconds, rate) = wire_seconds_rate(&text);
        assert!(wire > 15_000.0, "{flags:?}: {text}");
        // The time is printed to three figures: within 2 %.
        let expected = wire / seconds;
        assert!(
            (rate - expected).abs() <= expected / 50.0,
            "{flags:?}: {rate} bytes/s, not {wire} / {seconds} s: {text}"
        );
        assert!(text.contains("bytes/s on the wire"), "{flags:?}: {text}");
    }
}

/// An h2c server that answers stream 1 with a head (`:status` 200) and
/// 10 bytes of DATA, then `then` ([`h2_answering`]).
fn head_and_ten_bytes_then(then: Vec<u8>) -> (SocketAddr, thread::JoinHandle<()>) {
    let mut out = Vec::new();
    common::h2::frame(&mut out, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
    common::h2::frame(&mut out, 0x0, 0, 1, b"0123456789"); // DATA
    out.extend_from_slice(&then);
    h2_answering(out)
}

/// `slow-client --http2` against a server that answers with `frames`:
/// its exit code and stdout.
fn h2_client_of(frames: Vec<u8>) -> (Option<i32>, String) {
    let (addr, server) = h2_answering(frames);
    let output = slow_client(&[&format!("http://{addr}/x"), "--http2", "--rate", "1m"]);
    join_scripted(server, &output);
    (output.status.code(), stdout(&output))
}

#[test]
fn an_http2_head_in_continuation_frames_is_read_whole() {
    // A head of two fields split across HEADERS and CONTINUATION, the
    // second field cut in the middle of its value (RFC 9113 §4.3 lets a
    // block be cut anywhere). Decoding the HEADERS part alone failed with
    // "header block ends inside a field"; with the cut between the fields
    // it read the one field before the cut alone.
    let mut block = vec![0x88]; // :status 200
    block.extend_from_slice(&[0x0f, 0x10, 10]); // content-type, without indexing
    block.extend_from_slice(b"text/plain");
    for cut in [1, 6] {
        let mut frames = Vec::new();
        common::h2::frame(&mut frames, 0x1, 0, 1, &block[..cut]); // HEADERS
        common::h2::frame(&mut frames, 0x9, 0x4, 1, &block[cut..]); // CONTINUATION
        common::h2::frame(&mut frames, 0x0, 0x1, 1, b"hello"); // DATA, END_STREAM
        let (code, text) = h2_client_of(frames);
        assert!(
            text.contains("status 200, 5 body bytes, complete"),
            "{cut}: {text}"
        );
        assert_eq!(code, Some(0), "{cut}: {text}");
    }
    // A block interrupted by any other frame is a connection error
    // (§6.10): never a body.
    let mut frames = Vec::new();
    common::h2::frame(&mut frames, 0x1, 0, 1, &block[..13]);
    common::h2::frame(&mut frames, 0x0, 0x1, 1, b"hello");
    let (code, text) = h2_client_of(frames);
    assert!(text.contains("not complete"), "{text}");
    assert!(text.contains("CONTINUATION"), "{text}");
    assert_eq!(code, Some(1), "{text}");
}

/// Trailers the client cannot decode (index 0, which HPACK forbids) end
/// the run as a failure with the report of what came before: the 10 body
/// bytes read are not lost to a bare error line.
#[test]
fn an_http2_header_block_that_does_not_decode_keeps_the_report() {
    let mut trailers = Vec::new();
    common::h2::frame(&mut trailers, 0x1, 0x5, 1, &[0x80]); // HEADERS, END_STREAM
    let (addr, server) = head_and_ten_bytes_then(trailers);
    let output = slow_client(&[&format!("http://{addr}/x"), "--http2"]);
    let text = stdout(&output);
    join_scripted(server, &output);
    assert!(text.contains("10 body bytes, not complete"), "{text}");
    assert!(text.contains("a bad header block: index 0"), "{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
}

#[test]
fn an_http2_body_cut_by_goaway_exits_1_even_with_a_time_limit() {
    // A server that answers stream 1 with a head and 10 bytes, then ends
    // the connection with GOAWAY PROTOCOL_ERROR: the body is cut long
    // before --for runs out, so that is no clean stop. Held open: the
    // client must stop on the GOAWAY, not on a close.
    let mut goaway = Vec::new();
    let payload = [1u32.to_be_bytes(), 1u32.to_be_bytes()].concat();
    common::h2::frame(&mut goaway, 0x7, 0, 0, &payload); // GOAWAY PROTOCOL_ERROR
    let (addr, cutter) = head_and_ten_bytes_then(goaway);
    let output = slow_client(&[&format!("http://{addr}/x"), "--http2", "--for", "10s"]);
    let text = stdout(&output);
    join_scripted(cutter, &output);
    assert!(text.contains("10 body bytes, not complete"), "{text}");
    assert!(
        text.contains("GOAWAY from the server (PROTOCOL_ERROR)"),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
}

#[test]
fn an_http2_second_request_not_sent_in_time_is_reported_with_the_rate() {
    // A server that answers stream 1 with a head and 10 bytes, then holds
    // the connection open: --for (1 s) ends long before --then-after
    // (10 s). The report names the second request as not sent, and gives
    // the achieved rate the help promises.
    let (addr, server) = head_and_ten_bytes_then(Vec::new());
    let url = format!("http://{addr}/x");
    let args = ["--http2", "--then", "/healthz", "--then-after", "10s"];
    let output = slow_client(&[&[&url[..]][..], &args, &["--for", "1s"]].concat());
    let text = stdout(&output);
    join_scripted(server, &output);
    assert!(text.contains("stream 3 /healthz: not sent"), "{text}");
    assert!(text.contains("before --then-after 10s"), "{text}");
    assert!(text.contains("bytes/s on the wire (limit"), "{text}");
    // Stopped by --for, as asked: a clean stop.
    assert_eq!(output.status.code(), Some(0), "{text}");
}

#[test]
fn a_field_name_that_is_not_a_token_is_refused_not_skipped() {
    // `Content-Length : 100` (RFC 9112 §5.1 allows no space before the
    // colon): skipped as some other field, it would leave the body
    // close-delimited, and the 10 bytes sent before the close would pass
    // for a whole body.
    let (addr, liar) = lying_server(b"HTTP/1.1 200 OK\r\nContent-Length : 100\r\n\r\n0123456789");
    let output = slow_client(&[&format!("http://{addr}/x")]);
    let text = stdout(&output);
    join_scripted(liar, &output);
    assert!(!text.contains("ended cleanly"), "{text}");
    assert!(text.contains("bad header line"), "{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
}

#[test]
fn an_http2_body_unlike_its_content_length_is_not_complete() {
    // RFC 9113 §8.1.1: DATA that adds up to other than the content-length
    // is a malformed response. A body of 5 bytes under content-length 10
    // (cut) or 2 (padded out) ended with END_STREAM, and the client said
    // "complete" with exit 0.
    for length in [b"10", b"02"] {
        let mut head = vec![0x88, 0x0f, 0x0d, 2]; // :status 200, content-length
        head.extend_from_slice(length);
        let mut frames = Vec::new();
        common::h2::frame(&mut frames, 0x1, 0x4, 1, &head); // HEADERS
        common::h2::frame(&mut frames, 0x0, 0x1, 1, b"hello"); // DATA, END_STREAM
        let (code, text) = h2_client_of(frames);
        assert!(text.contains("5 body bytes, not complete"), "{text}");
        assert!(text.contains("content-length"), "{text}");
        assert_eq!(code, Some(1), "{text}");
    }
    // One that is no number matches no body, and says so.
    let mut frames = Vec::new();
    common::h2::frame(&mut frames, 0x1, 0x4, 1, &[0x88, 0x0f, 0x0d, 2, b'x', b'5']);
    common::h2::frame(&mut frames, 0x0, 0x1, 1, b"hello");
    let (code, text) = h2_client_of(frames);
    assert!(text.contains("bad content-length 'x5'"), "{text}");
    assert_eq!(code, Some(1), "{text}");
    // And one that matches is whole.
    let mut frames = Vec::new();
    common::h2::frame(&mut frames, 0x1, 0x4, 1, &[0x88, 0x0f, 0x0d, 1, b'5']);
    common::h2::frame(&mut frames, 0x0, 0x1, 1, b"hello");
    let (code, text) = h2_client_of(frames);
    assert!(text.contains("5 body bytes, complete"), "{text}");
    assert_eq!(code, Some(0), "{text}");
}

/// After a GOAWAY no stream is opened (RFC 9113 §6.8): one would never be
/// answered. The server answers stream 1's head, says GOAWAY naming stream
/// 1, and records what the client sends until it has been quiet 1.5 s;
/// the client, asked for a second request at 200 ms, must not send it.
#[test]
fn no_second_request_goes_after_a_goaway() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("its address");
    let (sent, received) = std::sync::mpsc::channel();
    let server = thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        socket.read_exact(&mut [0; 24]).expect("the preface");
        let mut out = Vec::new();
        common::h2::frame(&mut out, 0x4, 0, 0, &[]); // SETTINGS
        common::h2::frame(&mut out, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
        common::h2::frame(&mut out, 0x7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]); // GOAWAY, last 1
        socket.write_all(&out).expect("write");
        let frames = common::h2::H2::over(socket).frames_until_quiet(Duration::from_millis(1500));
        let _ = sent.send(frames);
    });
    let url = format!("http://{addr}/x");
    let args = [
        "--http2",
        "--then",
        "/y",
        "--then-after",
        "200ms",
        "--for",
        "1s",
    ];
    let output = slow_client(&[&[url.as_str()][..], &args].concat());
    join_scripted(server, &output);
    let frames = received.recv().expect("the frames the client sent");
    let opened: Vec<u32> = frames
        .iter()
        .filter(|f| f.kind == 0x1)
        .map(|f| f.stream)
        .collect();
    assert_eq!(opened, [1], "{}", common::h2::summary(&frames));
}

#[test]
fn an_http2_stream_past_the_goaway_is_cut_even_with_a_time_limit() {
    // GOAWAY NO_ERROR with last stream 0 (RFC 9113 §6.8): the server
    // will not process stream 1, so its body can never end. Held open
    // past --for (1 s), that is a cut, exit 1, not a clean stop, exit 0.
    let mut goaway = Vec::new();
    common::h2::frame(&mut goaway, 0x7, 0, 0, &[0; 8]); // GOAWAY, last 0, NO_ERROR
    let (addr, server) = head_and_ten_bytes_then(goaway);
    let output = slow_client(&[&format!("http://{addr}/x"), "--http2", "--for", "1s"]);
    let text = stdout(&output);
    join_scripted(server, &output);
    assert!(text.contains("10 body bytes, not complete"), "{text}");
    assert!(text.contains("will not answer stream 1"), "{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// A connection reset while the client still has DATA to read keeps the
/// report: the WINDOW_UPDATE it writes for what it read then fails, and
/// that failure is the run's last line (exit 1), not a bare error line that
/// loses the body bytes read.
#[test]
fn an_http2_reset_met_by_a_write_keeps_the_report() {
    let (addr, server) = three_data_frames_then_a_reset(&[]);
    // Slow enough that the reset has come when the first WINDOW_UPDATE is
    // due, half a window (32 KiB) in.
    let output = slow_client(&[&format!("http://{addr}/x"), "--http2", "--rate", "100k"]);
    let text = stdout(&output);
    join_scripted(server, &output);
    assert!(text.contains("stream 1 /x: status 200,"), "{text}");
    assert!(text.contains("not complete"), "{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// What the server sent before its reset is read, not dropped at the
/// failed write: `serve` cuts a stream below `--min-rate` with RST_STREAM
/// CANCEL, says GOAWAY when idle, and closes; a client still reading the
/// window's DATA its kernel holds meets the close when it next writes a
/// WINDOW_UPDATE. Ending there would say "not complete" and "write
/// failed: Broken pipe" of a stream the server had reset in words already
/// received. Here the same frames, then a reset.
#[test]
fn an_http2_reset_met_by_a_write_still_reads_the_frames_before_it() {
    let then = cancel_then_go_away();
    let (addr, server) = three_data_frames_then_a_reset(&then);
    let output = slow_client(&[&format!("http://{addr}/x"), "--http2", "--rate", "100k"]);
    let text = stdout(&output);
    join_scripted(server, &output);
    assert!(
        text.contains("48000 body bytes, reset by the server (CANCEL)"),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// The same when the write the reset fails is the `--then` request: the
/// frames before the reset are read, and say why. The server's SETTINGS
/// is acknowledged before it answers, so the client owes nothing more, and
/// its next write is the second request, at 300 ms, after the reset (as
/// soon as the acknowledgement came) and before half a window is read at
/// 100 kB/s. Stopping there would call stream 1 "not complete" though its
/// RST_STREAM is in the receive queue.
#[test]
fn an_http2_reset_met_by_the_second_request_still_reads_the_frames_before_it() {
    let then = cancel_then_go_away();
    let (addr, server) = acknowledged_then_resetting(three_data_frames_then(&then));
    let url = format!("http://{addr}/x");
    let args = [
        "--http2",
        "--rate",
        "100k",
        "--then",
        "/y",
        "--then-after",
        "300ms",
    ];
    let output = slow_client(&[&[url.as_str()][..], &args].concat());
    let text = stdout(&output);
    join_scripted(server, &output);
    assert!(
        text.contains("48000 body bytes, reset by the server (CANCEL)"),
        "{text}"
    );
    assert!(
        text.contains("stream 3 /y: not sent: its write failed"),
        "{text}"
    );
    assert!(text.contains("\nwrite failed: "), "{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// How `serve` cuts a stream below `--min-rate` and then goes away:
/// RST_STREAM CANCEL on stream 1, then GOAWAY naming it, NO_ERROR.
fn cancel_then_go_away() -> Vec<u8> {
    let mut then = Vec::new();
    common::h2::frame(&mut then, 0x3, 0, 1, &[0, 0, 0, 0x8]); // RST_STREAM CANCEL
    let goaway = [0, 0, 0, 1, 0, 0, 0, 0]; // last stream 1, NO_ERROR
    common::h2::frame(&mut then, 0x7, 0, 0, &goaway);
    then
}

/// A one-connection h2c server that answers stream 1 with a head and three
/// 16,000-byte DATA frames, then `then`, and closes with the request
/// unread, so that the close is a reset (RFC 1122 §4.2.2.13), after these
/// frames are in the client's receive queue.
fn three_data_frames_then_a_reset(then: &[u8]) -> (SocketAddr, thread::JoinHandle<()>) {
    let mut out = Vec::new();
    common::h2::frame(&mut out, 0x4, 0, 0, &[]); // SETTINGS
    out.extend_from_slice(&three_data_frames_then(then));
    answering_then_resetting(out)
}

/// Whether `wire`, an h2c client's first bytes, holds the preface and a
/// whole HEADERS frame.
fn has_a_whole_headers_frame(wire: &[u8]) -> bool {
    let mut frames = wire.get(common::h2::PREFACE.len()..).unwrap_or_default();
    while let Some(header) = frames.first_chunk::<9>() {
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        if frames.len() < 9 + length {
            return false;
        }
        if header[3] == common::h2::HEADERS {
            return true;
        }
        frames = &frames[9 + length..];
    }
    false
}

/// A head and three 16,000-byte DATA frames on stream 1, then `then`.
fn three_data_frames_then(then: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    common::h2::frame(&mut out, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
    for _ in 0..3 {
        common::h2::frame(&mut out, 0x0, 0, 1, &[b'x'; 16_000]); // DATA
    }
    out.extend_from_slice(then);
    out
}

/// A one-connection h2c server that writes `out` once the request (the
/// preface and a HEADERS frame, whatever came between) has come, and
/// closes with it unread: a reset, once `out` is in the client's receive
/// queue. The client's next write is then its first after the reset.
fn answering_then_resetting(out: Vec<u8>) -> (SocketAddr, thread::JoinHandle<()>) {
    resetting(out, false)
}

/// [`answering_then_resetting`], but the server's SETTINGS goes first, and
/// `out` once the client has acknowledged it: the client owes nothing when
/// the reset comes.
fn acknowledged_then_resetting(out: Vec<u8>) -> (SocketAddr, thread::JoinHandle<()>) {
    resetting(out, true)
}

/// The server of [`answering_then_resetting`], and, if `settings_first`,
/// of [`acknowledged_then_resetting`].
fn resetting(out: Vec<u8>, settings_first: bool) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("its address");
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        if settings_first {
            let mut settings = Vec::new();
            common::h2::frame(&mut settings, 0x4, 0, 0, &[]);
            let _ = stream.write_all(&settings);
        }
        let mut peeked = [0; 1024];
        wait_until("the request to come", Duration::from_secs(10), || {
            let n = stream.peek(&mut peeked).ok()?;
            let wire = &peeked[..n];
            let acked = !settings_first || has_a_settings_ack(wire);
            (has_a_whole_headers_frame(wire) && acked).then_some(())
        });
        let _ = stream.write_all(&out);
    });
    (addr, server)
}

/// Whether `wire`, an h2c client's first bytes, holds a SETTINGS ACK.
fn has_a_settings_ack(wire: &[u8]) -> bool {
    let mut frames = wire.get(common::h2::PREFACE.len()..).unwrap_or_default();
    while let Some(header) = frames.first_chunk::<9>() {
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        if header[3] == 0x4 && header[4] & 0x1 != 0 {
            return true;
        }
        frames = frames.get(9 + length..).unwrap_or_default();
    }
    false
}

/// A stream the server reset is no download, even when `--for` ran out
/// while the client waited for the second request's time: exit 1, and
/// the line says it was reset, and when.
#[test]
fn an_http2_stream_reset_before_the_time_limit_exits_1() {
    let mut frames = Vec::new();
    common::h2::frame(&mut frames, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
    common::h2::frame(&mut frames, 0x3, 0, 1, &2u32.to_be_bytes()); // RST_STREAM INTERNAL_ERROR
    let (addr, server) = h2_answering(frames);
    let url = format!("http://{addr}/x");
    let args = [&url[..], "--http2", "--rate", "1m", "--for", "500ms"];
    let output = slow_client(&[&args[..], &["--then", "/y", "--then-after", "5s"]].concat());
    join_scripted(server, &output);
    let text = stdout(&output);
    assert!(
        text.contains("reset by the server (INTERNAL_ERROR) in "),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// A connection the server reset behind bytes the client had not yet
/// read, found when --for ran out: the stream was cut, not stopped on
/// time, and its line says "not complete" beside the failure and exit 1.
#[test]
fn an_http2_reset_found_at_the_time_limit_is_no_stop() {
    let mut frames = Vec::new();
    common::h2::frame(&mut frames, 0x4, 0, 0, &[]); // SETTINGS
    common::h2::frame(&mut frames, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
    for _ in 0..3 {
        common::h2::frame(&mut frames, 0x0, 0, 1, &[b'x'; 16_384]); // DATA
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("its address");
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(&frames);
        // The reset once the client has acknowledged the SETTINGS, its one
        // write after its first read: sent sooner, it would fail that write.
        let ack = [0, 0, 0, 0x4, 0x1, 0, 0, 0, 0];
        let mut got = Vec::new();
        for _ in 0..1000 {
            if got.windows(ack.len()).any(|w| w == ack) {
                break;
            }
            match stream.read(&mut request) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&request[..n]),
            }
        }
        let _ = backpressure::reset_on_close(&stream);
    });
    let url = format!("http://{addr}/x");
    let output = slow_client(&[&url, "--http2", "--rate", "8k", "--for", "1s"]);
    join_scripted(server, &output);
    let text = stdout(&output);
    let stream = text.lines().next().unwrap_or_default();
    assert!(stream.ends_with(" body bytes, not complete"), "{text}");
    assert!(text.contains("reset"), "{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// A header block that decodes to more than the client keeps (64 KiB,
/// the 32-byte overhead of each field counted) is refused, not cut short.
/// The decoder drops the fields past the limit to keep its table in step;
/// here `content-length: 100` comes after a 4,000-byte field named 16
/// times, and a client that used what was left would take the 3 bytes that
/// end the stream for a whole body, "complete" with exit 0.
#[test]
fn an_http2_header_list_over_the_limit_is_refused_not_cut_short() {
    let mut block = vec![0x88, 0x40, 1, b'x', 0x7f, 0xa1, 0x1e]; // :status 200, x: 4000 bytes, indexed
    block.extend_from_slice(&[b'v'; 4000]);
    block.extend_from_slice(&[0x80 | 62; 16]); // x again, 16 times, from the table
    block.extend_from_slice(&[0x0f, 0x0d, 3, b'1', b'0', b'0']); // content-length: 100
    let mut frames = Vec::new();
    common::h2::frame(&mut frames, 0x1, 0x4, 1, &block); // HEADERS, END_HEADERS
    common::h2::frame(&mut frames, 0x0, 0x1, 1, b"abc"); // DATA, END_STREAM
    let (code, text) = h2_client_of(frames);
    assert!(!text.contains("complete in"), "{text}");
    assert!(text.contains("header list over 65536 bytes"), "{text}");
    assert_eq!(code, Some(1), "{text}");
}

/// A response is a head with a `:status` of three digits, then its body
/// (RFC 9113 §8.1, §8.3.2). Without one (DATA before any head, a head
/// with no `:status`, one of `abc`, or `+200`) a stream that ends is no
/// answer, exit 1, not "status none, complete" as if a 2xx.
#[test]
fn an_http2_response_without_a_status_is_no_answer() {
    for (head, why) in [
        (&[][..], "DATA before the head"),
        (&[0x40, 1, b'a', 1, b'b'][..], "a head without :status"),
        (&[0x48, 3, b'a', b'b', b'c'][..], "bad :status 'abc'"),
        (&[0x48, 4, b'+', b'2', b'0', b'0'][..], "bad :status '+200'"),
    ] {
        let mut frames = Vec::new();
        if !head.is_empty() {
            common::h2::frame(&mut frames, 0x1, 0x4, 1, head); // HEADERS, END_HEADERS
        }
        common::h2::frame(&mut frames, 0x0, 0x1, 1, b"abc"); // DATA, END_STREAM
        let (code, text) = h2_client_of(frames);
        assert!(!text.contains("complete in"), "{why}: {text}");
        assert!(text.contains(why), "{why}: {text}");
        assert_eq!(code, Some(1), "{why}: {text}");
    }
}

/// The client's SETTINGS disable push (ENABLE_PUSH 0), so a PUSH_PROMISE
/// is a connection error (RFC 9113 §6.6, §8.4). Skipped, its header block
/// would go undecoded, the client's HPACK table out of step with the
/// server's, and the response after it could pass for "complete".
#[test]
fn an_http2_push_promise_is_refused_push_being_off() {
    let mut frames = Vec::new();
    // PUSH_PROMISE, END_HEADERS: promised stream 2, GET http /.
    common::h2::frame(&mut frames, 0x5, 0x4, 1, &[0, 0, 0, 2, 0x82, 0x86, 0x84]);
    common::h2::frame(&mut frames, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
    common::h2::frame(&mut frames, 0x0, 0x1, 1, b"abc"); // DATA, END_STREAM
    let (code, text) = h2_client_of(frames);
    assert!(!text.contains("complete in"), "{text}");
    assert!(text.contains("PUSH_PROMISE"), "{text}");
    assert_eq!(code, Some(1), "{text}");
}

/// `--for` bounds the run's writes too. A server that floods SETTINGS
/// and never reads fills the client's send buffer with their ACKs; a
/// write waits no later than the limit (not its own 10 s timeout, again
/// after each bit of progress), and the run is a stop on time, exit 0.
#[test]
fn an_http2_write_that_blocks_ends_at_the_time_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("its address");
    let server = thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        let mut settings = Vec::new();
        common::h2::frame(&mut settings, 0x4, 0, 0, &[]); // SETTINGS, the first frame
        if socket.write_all(&settings).is_err() {
            return;
        }
        let mut flood = Vec::new();
        common::h2::frame(&mut flood, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
        for i in 0..8 * 1024 {
            // A byte of body now and then: frames that do nothing for the
            // response, many thousands in a row, would end the run first.
            if i % 1024 == 0 {
                common::h2::frame(&mut flood, 0x0, 0, 1, b"x"); // DATA
            }
            common::h2::frame(&mut flood, 0x4, 0, 0, &[]); // SETTINGS, 9 bytes
        }
        // Never a read: the client's ACKs pile up. Bounded in time and in
        // count, and by the client's close.
        let _ = socket.set_write_timeout(Some(Duration::from_secs(12)));
        if socket.write_all(&flood).is_err() {
            return;
        }
        let flood = flood.split_off(10); // the rest again and again, without the head
        let until = Instant::now() + Duration::from_secs(15);
        for _ in 0..100_000 {
            if Instant::now() >= until || socket.write_all(&flood).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let url = format!("http://{addr}/x");
    let output = slow_client(&[&url, "--http2", "--rate", "100m", "--for", "2s"]);
    let took = started.elapsed();
    let text = stdout(&output);
    join_scripted(server, &output);
    // The limit and 3 s of room for a loaded machine: a write's own
    // timeout would end it 10 s past the limit.
    assert!(took < Duration::from_secs(5), "{took:?}: {text}");
    assert!(text.contains("stopped by the time limit"), "{text}");
    assert_eq!(output.status.code(), Some(0), "{text}");
}

/// A body is framed by its head alone (RFC 9110 §6.5.1, §8.6; RFC 9113
/// §8.1). A content-length of 100 with 3 bytes sent is no "complete"
/// body, whether trailers say `content-length: 3`, a second head with a
/// `:status` does, or the head itself carries 3 beside the 100. An interim
/// (1xx) head comes before the final one and ends no stream.
#[test]
fn an_http2_body_is_framed_by_its_head_alone() {
    let head_of_100 = [0x88, 0x0f, 0x0d, 3, b'1', b'0', b'0']; // :status 200, content-length: 100
    let length_3 = [0x0f, 0x0d, 1, b'3']; // content-length: 3
    let with_status = [&[0x88][..], &length_3].concat();
    for (then, why) in [
        (&length_3[..], "not the 100 its content-length said"),
        (&with_status[..], "a pseudo-field in trailers"),
    ] {
        let mut frames = Vec::new();
        common::h2::frame(&mut frames, 0x1, 0x4, 1, &head_of_100); // HEADERS, END_HEADERS
        common::h2::frame(&mut frames, 0x0, 0, 1, b"abc"); // DATA
        common::h2::frame(&mut frames, 0x1, 0x5, 1, then); // HEADERS, END_STREAM
        let (code, text) = h2_client_of(frames);
        assert!(text.contains("3 body bytes, not complete"), "{why}: {text}");
        assert!(text.contains(why), "{why}: {text}");
        assert_eq!(code, Some(1), "{why}: {text}");
    }
    let mut frames = Vec::new();
    let both = [&head_of_100[..], &length_3].concat();
    common::h2::frame(&mut frames, 0x1, 0x4, 1, &both);
    common::h2::frame(&mut frames, 0x0, 0x1, 1, b"abc"); // DATA, END_STREAM
    let (code, text) = h2_client_of(frames);
    assert!(text.contains("conflicting content-length"), "{text}");
    assert_eq!(code, Some(1), "{text}");
    // 103 Early Hints, then the final head: whole.
    let early = [0x48, 3, b'1', b'0', b'3']; // :status 103
    let mut frames = Vec::new();
    common::h2::frame(&mut frames, 0x1, 0x4, 1, &early);
    common::h2::frame(&mut frames, 0x1, 0x4, 1, &[0x88]);
    common::h2::frame(&mut frames, 0x0, 0x1, 1, b"abc");
    let (code, text) = h2_client_of(frames);
    assert!(
        text.contains("status 200, 3 body bytes, complete"),
        "{text}"
    );
    assert_eq!(code, Some(0), "{text}");
    // One that ends the stream is no answer.
    let mut frames = Vec::new();
    common::h2::frame(&mut frames, 0x1, 0x5, 1, &early);
    let (code, text) = h2_client_of(frames);
    assert!(
        text.contains("an interim head (103) that ends the stream"),
        "{text}"
    );
    assert_eq!(code, Some(1), "{text}");
}

/// `--for` bounds connecting too. A server whose accept queue is full
/// drops the SYN, and `connect` would wait its own 10 s timeout however
/// short `--for` is; it gives up at the limit, over either protocol:
/// exit 1, as for no server.
#[test]
fn a_server_that_never_accepts_is_given_up_at_the_time_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("its address");
    // std listens with a backlog of 128: fill it, until a connect times out.
    let mut queued = Vec::new();
    for _ in 0..300 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(stream) => queued.push(stream),
            Err(_) => break,
        }
    }
    assert!(queued.len() < 300, "the accept queue never filled");
    let url = format!("http://{addr}/x");
    // Both protocols side by side, each its own client and its own limit:
    // one after the other, they waited out two.
    std::thread::scope(|scope| {
        for protocol in [&[][..], &["--http2"]] {
            let url = &url;
            scope.spawn(move || {
                let started = Instant::now();
                let output = slow_client(&[&[&url[..], "--for", "1s"][..], protocol].concat());
                let took = started.elapsed();
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(
                    took < Duration::from_secs(4),
                    "{protocol:?} {took:?}: {stderr}"
                );
                assert!(stderr.contains("timed out"), "{protocol:?}: {stderr}");
                assert_eq!(output.status.code(), Some(1), "{protocol:?}: {stderr}");
            });
        }
    });
    drop(listener);
}

/// A server that sends interim (1xx) heads and never the final one is
/// no answer: each head is bytes received, which keep the idle timeout
/// from coming, so without `--for` nothing else would end the run. A real
/// server sends one or two (100 Continue, 103 Early Hints); past a few
/// dozen the run ends, exit 1, over either protocol.
#[test]
fn interim_heads_without_end_are_no_answer() {
    let mut h2_interim = Vec::new();
    common::h2::frame(&mut h2_interim, 0x1, 0x4, 1, &[0x48, 3, b'1', b'0', b'3']); // :status 103
    let mut h2_settings = Vec::new();
    common::h2::frame(&mut h2_settings, 0x4, 0, 0, &[]);
    for (protocol, first, interim) in [
        (
            &[][..],
            Vec::new(),
            b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
        ),
        (&["--http2"][..], h2_settings, h2_interim),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("its address");
        let server = thread::spawn(move || {
            let (mut socket, _) = listener.accept().expect("accept");
            let _ = socket.read(&mut [0u8; 1024]);
            let _ = socket.write_all(&first);
            // Until the client hangs up, or 10 s.
            let _ = socket.set_write_timeout(Some(Duration::from_secs(1)));
            let until = Instant::now() + Duration::from_secs(10);
            for _ in 0..100_000 {
                let sent = socket.write_all(&interim);
                if Instant::now() >= until || sent.is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(1));
            }
        });
        let started = Instant::now();
        let url = format!("http://{addr}/x");
        let output = slow_client(&[&[&url[..], "--rate", "10m"][..], protocol].concat());
        let took = started.elapsed();
        let text = stdout(&output);
        join_scripted(server, &output);
        assert!(
            took < Duration::from_secs(5),
            "{protocol:?} {took:?}: {text}"
        );
        assert!(text.contains("interim"), "{protocol:?}: {text}");
        assert_eq!(output.status.code(), Some(1), "{protocol:?}: {text}");
    }
}

/// Frames that do nothing for a response, without end, are no answer:
/// PINGs, SETTINGS, unknown frames, empty DATA or CONTINUATION frames are
/// all bytes received, which keep the idle timeout from coming, so
/// without `--for` nothing else would end the run. Past many thousands in
/// a row, which no real server nears, the run ends, exit 1.
#[test]
fn an_http2_flood_of_frames_that_do_nothing_is_no_answer() {
    let mut head = Vec::new();
    common::h2::frame(&mut head, 0x4, 0, 0, &[]); // SETTINGS
    common::h2::frame(&mut head, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
    for (what, kind, flags, stream, payload) in [
        ("PING", 0x6, 0, 0, &b"12345678"[..]),
        ("an unknown frame", 0x42, 0, 0, b"x"),
        ("empty DATA", 0x0, 0, 1, b""),
    ] {
        let mut flood = Vec::new();
        for _ in 0..1000 {
            common::h2::frame(&mut flood, kind, flags, stream, payload);
        }
        let head = head.clone();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("its address");
        let server = thread::spawn(move || {
            let (mut socket, _) = listener.accept().expect("accept");
            let _ = socket.read(&mut [0u8; 1024]);
            let _ = socket.write_all(&head);
            // What the client sends back (PING acks) is read and dropped,
            // until its close (or 12 s), so that its writes never block.
            let mut acks = socket.try_clone().expect("a second handle");
            let _ = acks.set_read_timeout(Some(Duration::from_secs(12)));
            let drain = thread::spawn(move || while let Ok(1..) = acks.read(&mut [0u8; 4096]) {});
            let _ = socket.set_write_timeout(Some(Duration::from_secs(1)));
            let until = Instant::now() + Duration::from_secs(10);
            for _ in 0..100_000 {
                let sent = socket.write_all(&flood);
                if Instant::now() >= until || sent.is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(1));
            }
            let _ = socket.shutdown(std::net::Shutdown::Both);
            drain.join().expect("the drain does not panic");
        });
        let started = Instant::now();
        let output = slow_client(&[&format!("http://{addr}/x"), "--http2", "--rate", "10m"]);
        let took = started.elapsed();
        let text = stdout(&output);
        join_scripted(server, &output);
        assert!(took < Duration::from_secs(5), "{what} {took:?}: {text}");
        assert!(
            text.contains("did nothing for a response"),
            "{what}: {text}"
        );
        assert_eq!(output.status.code(), Some(1), "{what}: {text}");
    }
}

/// Two `Transfer-Encoding: chunked` fields are one list, `chunked,
/// chunked`: a body chunked twice (RFC 9112 §6.1), refused in two fields
/// as in one, never decoded once with the inner framing counted as body
/// bytes that "ended cleanly".
#[test]
fn a_body_chunked_twice_is_refused_in_two_fields_as_in_one() {
    let (addr, liar) = lying_server(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n\
          d\r\n3\r\nabc\r\n0\r\n\r\n\r\n0\r\n\r\n",
    );
    let output = slow_client(&[&format!("http://{addr}/x")]);
    let text = stdout(&output);
    join_scripted(liar, &output);
    assert!(text.contains("chunked twice"), "{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// No stream may be opened after a GOAWAY (RFC 9113 §6.8), with an error
/// or without: the second request asked for with `--then` can never go.
/// Once stream 1 is whole the run ends, the line says why the second was
/// not sent, and the exit code is 1, as for a run a close ended. Before
/// the fix, after PROTOCOL_ERROR it exited 0, the download being whole;
/// after NO_ERROR it waited for the second response until the server's
/// close, 2 s later (or the 30 s idle timeout).
#[test]
fn a_second_request_a_goaway_forbids_is_a_failure_not_a_wait() {
    for (code, name) in [(0u32, "NO_ERROR"), (1, "PROTOCOL_ERROR")] {
        let mut frames = Vec::new();
        common::h2::frame(&mut frames, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
        common::h2::frame(&mut frames, 0x0, 0x1, 1, b"abc"); // DATA, END_STREAM
        let goaway = [1u32.to_be_bytes(), code.to_be_bytes()].concat(); // last stream 1
        common::h2::frame(&mut frames, 0x7, 0, 0, &goaway);
        let (addr, server) = h2_answering(frames);
        let url = format!("http://{addr}/x");
        let args = [
            &url[..],
            "--http2",
            "--then",
            "/healthz",
            "--then-after",
            "200ms",
        ];
        let output = slow_client(&args);
        let text = stdout(&output);
        join_scripted(server, &output);
        assert!(text.contains("3 body bytes, complete"), "{name}: {text}");
        assert!(
            text.contains("stream 3 /healthz: not sent: the server's GOAWAY came first"),
            "{name}: {text}"
        );
        assert!(
            text.contains(&format!("GOAWAY from the server ({name})")),
            "{text}"
        );
        assert!(!text.contains("closed the connection"), "{name}: {text}");
        assert!(!text.contains("nothing received"), "{name}: {text}");
        assert_eq!(output.status.code(), Some(1), "{name}: {text}");
    }
}

/// A body whose END_STREAM came is whole, whatever becomes of the
/// connection after it: an acknowledgement the client could not write to
/// a server that reset the connection lost nothing (over HTTP/1.1, a reset
/// after the last byte exits 0 too). Exited 1 before the fix. `--rate 1m`
/// makes the client's first read wait 25 ms for its first tokens, so the
/// reset is in before its first acknowledgement is written.
#[test]
fn an_http2_body_whole_before_a_reset_exits_0() {
    let mut out = Vec::new();
    common::h2::frame(&mut out, 0x4, 0, 0, &[]); // SETTINGS
    common::h2::frame(&mut out, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
    common::h2::frame(&mut out, 0x0, 0x1, 1, b"abc"); // DATA, END_STREAM
    let (addr, server) = answering_then_resetting(out);
    let output = slow_client(&[&format!("http://{addr}/x"), "--http2", "--rate", "1m"]);
    let text = stdout(&output);
    join_scripted(server, &output);
    assert!(text.contains("3 body bytes, complete"), "{text}");
    assert_eq!(output.status.code(), Some(0), "{text}");
}

/// A server's bytes quoted in the outcome are escaped, each byte not
/// visible ASCII or a space as `\xHH` (a user's in a refused flag are too,
/// in Rust's `\u{1b}` form): no terminal escape reaches stdout, and a
/// newline in an HTTP/2 field value (HPACK carries any byte) adds no line.
#[test]
fn a_servers_bytes_quoted_in_the_outcome_are_escaped() {
    let (addr, liar) = lying_server(b"HTTP/1.1 200 OK\r\nContent-Length: 1\x1b[2J\r\n\r\nx");
    let output = slow_client(&[&format!("http://{addr}/x")]);
    let text = stdout(&output);
    join_scripted(liar, &output);
    assert!(text.contains(r"bad Content-Length '1\x1b[2J'"), "{text:?}");
    assert_eq!(output.status.code(), Some(1), "{text:?}");
    // :status 200, a field named "a\nb" (a literal without indexing, a
    // new name), END_STREAM | END_HEADERS
    let mut frames = Vec::new();
    let head = [0x88, 0x00, 3, b'a', b'\n', b'b', 1, b'1'];
    common::h2::frame(&mut frames, 0x1, 0x5, 1, &head);
    let (code, text) = h2_client_of(frames);
    assert!(
        text.contains(r"not a lowercase token: 'a\x0ab'"),
        "{text:?}"
    );
    assert_eq!(text.lines().count(), 3, "{text:?}");
    assert_eq!(code, Some(1), "{text:?}");
}

/// A GOAWAY that forbids the second request fails the run even when
/// `--for` ends it later: the request was due at 200 ms and could not
/// go, and whether the download happened to end before the limit must
/// not decide the exit code (without `--for` the same run exits 1).
#[test]
fn a_second_request_a_goaway_forbade_before_the_limit_exits_1() {
    let goaway = [0, 0, 0, 1, 0, 0, 0, 0]; // last stream 1, NO_ERROR
    let mut then = Vec::new();
    common::h2::frame(&mut then, 0x7, 0, 0, &goaway);
    let (addr, server) = head_and_ten_bytes_then(then);
    let url = format!("http://{addr}/x");
    let args = [
        "--http2",
        "--then",
        "/y",
        "--then-after",
        "200ms",
        "--for",
        "1s",
    ];
    let output = slow_client(&[&[url.as_str()][..], &args].concat());
    let text = stdout(&output);
    join_scripted(server, &output);
    assert!(
        text.contains("not sent: the server's GOAWAY came first"),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// A write that finds the connection reset does not end the read of what
/// the server sent before the reset, even once stream 1 is whole and the
/// second request can no longer go: the GOAWAY still in the receive
/// queue says why. Read a few bytes at a time (`--rate 200`), the frames
/// after the SETTINGS the client fails to acknowledge come in later reads.
#[test]
fn a_goaway_queued_behind_a_reset_is_read_when_the_second_cannot_go() {
    let mut out = Vec::new();
    common::h2::frame(&mut out, 0x4, 0, 0, &[]); // SETTINGS
    common::h2::frame(&mut out, 0x1, 0x4, 1, &[0x88]); // HEADERS :status 200
    common::h2::frame(&mut out, 0x0, 0x1, 1, b"abc"); // DATA, END_STREAM
    // GOAWAY, last stream 1, ENHANCE_YOUR_CALM
    common::h2::frame(&mut out, 0x7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0xb]);
    let (addr, server) = answering_then_resetting(out);
    let url = format!("http://{addr}/x");
    let args = [
        "--http2",
        "--rate",
        "200",
        "--then",
        "/y",
        "--then-after",
        "5s",
    ];
    let output = slow_client(&[&[url.as_str()][..], &args].concat());
    let text = stdout(&output);
    join_scripted(server, &output);
    assert!(text.contains("3 body bytes, complete"), "{text}");
    assert!(
        text.contains("GOAWAY from the server (ENHANCE_YOUR_CALM)"),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// The idle timeout counts the server's silence, not the client's own
/// naps for its rate: at the default rate the client sleeps about 25 ms
/// between bursts, and a 20 ms timeout must not cut a body that is all in
/// its receive queue, over either protocol.
#[test]
fn the_clients_own_naps_are_no_idle_time() {
    let mut answer = b"HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n".to_vec();
    answer.resize(answer.len() + 50_000, b'x');
    let (addr, server) = answering_and_holding(answer);
    let output = slow_client(&[&format!("http://{addr}/x"), "--idle-timeout", "20ms"]);
    let text = stdout(&output);
    join_scripted(server, &output);
    assert!(text.contains("body ended cleanly"), "{text}");
    assert_eq!(output.status.code(), Some(0), "{text}");

    let mut end = Vec::new();
    common::h2::frame(&mut end, 0x0, 0x1, 1, &[]); // DATA, END_STREAM
    let (addr, server) = h2_answering(three_data_frames_then(&end));
    let url = format!("http://{addr}/x");
    let output = slow_client(&[&url, "--http2", "--idle-timeout", "20ms"]);
    let text = stdout(&output);
    join_scripted(server, &output);
    assert!(text.contains("48000 body bytes, complete"), "{text}");
    assert_eq!(output.status.code(), Some(0), "{text}");
}
