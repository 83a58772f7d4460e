//! `h2.rs`'s tests, through scripted servers on loopback: what the
//! connection does at its limits (a reset behind unread bytes, a close, a
//! failed write, the time limit), and the helpers the client's other tests
//! script their servers with.

use super::*;
use crate::client::slow_client::IDLE_TIMEOUT;
use crate::http::h2::frame::{self, ErrorCode, Kind, PREFACE, flag, setting};
use crate::http::h2::frame_write::{self, raw_frame};
use crate::sys;
use std::net::TcpListener;

/// A server for one connection, on its own thread: `serve` gets the
/// accepted socket, and its result comes back through the handle.
pub(in crate::client) fn one_connection<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (HttpUrl, thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || serve(listener.accept().unwrap().0));
    let url = HttpUrl {
        host: "127.0.0.1".into(),
        port,
        target: "/x".into(),
    };
    (url, server)
}

/// A one-connection HTTP/2 server that reads the client's preface and
/// first frames, writes `frames`, then holds the connection open so the
/// client cannot mistake a close for the end: until the client closes
/// it, or for `hold` (a sleep of `hold` cost every test half a second).
fn scripted_server(frames: Vec<u8>, hold: Duration) -> (HttpUrl, thread::JoinHandle<()>) {
    one_connection(move |mut stream| {
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(&frames);
        let until = Instant::now() + hold;
        // What the client sends meanwhile is dropped: its close, or a
        // failure, ends the hold.
        let left = || until.checked_duration_since(Instant::now());
        while let Some(left) = left().filter(|l| !l.is_zero()) {
            let timeout = stream.set_read_timeout(Some(left));
            if timeout.is_err() || matches!(stream.read(&mut request), Ok(0) | Err(_)) {
                break;
            }
        }
    })
}

pub(in crate::client) fn options() -> H2Options {
    H2Options {
        rate: None,
        window: frame::DEFAULT_WINDOW,
        receive_buffer: None,
        replenish: true,
        starve_first: false,
        second: None,
        stop_after_second: false,
        idle_timeout: IDLE_TIMEOUT,
        bytes_read: Arc::default(),
    }
}

/// What the client reports of stream 1 when a server answers with
/// `frames` (after its own empty SETTINGS) and then holds the
/// connection open.
pub(in crate::client) fn report_of(frames: &[u8]) -> H2Report {
    let mut out = Vec::new();
    frame_write::settings(&mut out, &[]);
    out.extend_from_slice(frames);
    crate::test_support::within(move || {
        let (url, server) = scripted_server(out, Duration::from_millis(500));
        let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
        server.join().unwrap();
        report
    })
}

/// Stream 1's HEADERS: `:status` 200, static table entry 8.
pub(in crate::client) fn a_head() -> Vec<u8> {
    raw_frame(Kind::Headers as u8, flag::END_HEADERS, 1, &[0x80 | 8])
}

/// Stream 1's HEADERS and ten bytes of DATA, its end not yet sent.
pub(in crate::client) fn a_head_and_ten_bytes() -> Vec<u8> {
    let mut out = a_head();
    out.extend(raw_frame(Kind::Data as u8, 0, 1, b"0123456789"));
    out
}

/// A server that sends `frames` at once and then resets the connection,
/// once the client has acknowledged its SETTINGS, its one write after
/// its first read: a reset before that write would fail it, which is
/// another test's case. At most 5 s, however slowly the client's
/// thread is scheduled.
fn resetting_after_the_ack(frames: Vec<u8>) -> (HttpUrl, thread::JoinHandle<()>) {
    one_connection(move |mut stream| {
        let _ = stream.read(&mut [0u8; 4096]);
        stream.write_all(&frames).unwrap();
        settings_acknowledged(&mut stream);
        sys::reset_on_close(&stream).unwrap();
    })
}

/// Reads what the client sends until its acknowledgement of our
/// SETTINGS, 5 s at most: it writes that after its first read, so then
/// it has read what we wrote before it (a few hundred bytes, one
/// segment over loopback), however late its thread ran.
pub(in crate::client) fn settings_acknowledged(stream: &mut TcpStream) {
    let ack = [0, 0, 0, Kind::Settings as u8, flag::ACK, 0, 0, 0, 0];
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
    while !got.windows(ack.len()).any(|w| w == ack) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// The run, reading at 64 KiB/s for at most 5 s, against a server
/// that sends `frames` and resets the connection
/// ([`resetting_after_the_ack`]): slowly enough that what the client
/// owes the frames it reads (a WINDOW_UPDATE at half its window, a
/// PING's acknowledgement) is written after the reset, and fails.
fn read_at_64_kib_past_a_reset(frames: Vec<u8>) -> H2Report {
    let (url, server) = resetting_after_the_ack(frames);
    let options = H2Options {
        rate: Some(64 * 1024),
        ..options()
    };
    let report = run(&url, &options, Some(Duration::from_secs(5))).unwrap();
    server.join().unwrap();
    report
}

/// SETTINGS, stream 1's head, and 48 KiB of its body.
fn a_head_and_48_kib() -> Vec<u8> {
    let mut frames = Vec::new();
    frame_write::settings(&mut frames, &[]);
    frames.extend(a_head());
    for _ in 0..3 {
        frames.extend(raw_frame(Kind::Data as u8, 0, 1, &[b'x'; 16_384]));
    }
    frames
}

/// README's rule, no cut may look whole: a server that sends 48 KiB of
/// stream 1 at once and then resets the connection, to a client that
/// reads 8 KiB/s for 1 s. The reset sits behind unread bytes, so the
/// stop at the limit is a failure, not a clean stop.
#[test]
fn a_reset_behind_unread_bytes_is_a_failure_at_the_limit() {
    crate::test_support::within(|| {
        let (url, server) = resetting_after_the_ack(a_head_and_48_kib());
        let options = H2Options {
            rate: Some(8 * 1024),
            ..options()
        };
        let report = run(&url, &options, Some(Duration::from_secs(1))).unwrap();
        server.join().unwrap();
        assert!(report.first.body_bytes < 3 * 16_384, "{report:?}");
        let failure = report.failure.unwrap_or_default();
        assert!(failure.contains("reset"), "{failure}");
    });
}

/// Which failure a run names when its write fails and it reads on: the
/// 48 KiB, then a GOAWAY that will not answer stream 1, wait behind a
/// reset; the client's WINDOW_UPDATE, due at half its window, fails.
/// The frames read past it still count, and the GOAWAY, the server's
/// word, is what the run names; the read that fails after it would not
/// be.
#[test]
fn a_frame_read_past_a_failed_write_names_the_failure() {
    crate::test_support::within(|| {
        let mut frames = a_head_and_48_kib();
        frame_write::goaway(&mut frames, 0, ErrorCode::NoError, b"");
        let report = read_at_64_kib_past_a_reset(frames);
        assert_eq!(report.first.body_bytes, 3 * 16_384, "{report:?}");
        assert_eq!(report.goaway, Some(0), "{report:?}");
        let failure = report.failure.as_deref();
        let cut = "GOAWAY: the server will not answer stream 1";
        assert_eq!(failure, Some(cut), "{report:?}");
        assert!(!report.timed_out, "{report:?}");
    });
}

/// A server that closes the connection before the response ends cut
/// it: the run says so at once, and is not taken for one stopped by
/// the time limit.
#[test]
fn a_close_before_the_end_is_a_failure() {
    crate::test_support::within(|| {
        let mut frames = Vec::new();
        frame_write::settings(&mut frames, &[]);
        frames.extend(a_head_and_ten_bytes());
        let (url, server) = one_connection(move |mut stream| {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            stream.write_all(&frames).unwrap();
            // A FIN, then whatever the client still sends is read, so that
            // closing never turns into a reset.
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            while let Ok(1..) = stream.read(&mut request) {}
        });
        let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
        server.join().unwrap();
        let failure = report.failure.as_deref();
        assert_eq!(
            failure,
            Some("the server closed the connection"),
            "{report:?}"
        );
        assert!(!report.timed_out && !report.first.complete, "{report:?}");
        assert_eq!(report.first.body_bytes, 10, "{report:?}");
    });
}

/// A server that has closed the connection by the time limit, nothing
/// of it left unread, cut the response: the stop at the limit says so,
/// not that the run was merely stopped. The client reads at 1 byte/s,
/// so that it reaches the limit without having read the close.
#[test]
fn a_close_with_nothing_unread_is_a_failure_at_the_limit() {
    crate::test_support::within(|| {
        let (url, server) = one_connection(|mut stream| {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            while let Ok(1..) = stream.read(&mut request) {}
        });
        let options = H2Options {
            rate: Some(1),
            ..options()
        };
        let report = run(&url, &options, Some(Duration::from_millis(900))).unwrap();
        server.join().unwrap();
        assert_eq!(report.wire_bytes, 0, "{report:?}");
        assert!(report.timed_out, "{report:?}");
        let failure = report.failure.as_deref();
        let closed = "the server closed the connection";
        assert_eq!(failure, Some(closed), "{report:?}");
    });
}

/// A server that answers in HTTP/1.x is named as such, and the bytes
/// of its answer are bytes read: `wire_bytes` counts them all.
#[test]
fn an_http1_answer_counts_as_bytes_read() {
    crate::test_support::within(|| {
        let answer = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let (url, server) = scripted_server(answer.to_vec(), Duration::from_secs(1));
        let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
        server.join().unwrap();
        let failure = report.failure.as_deref();
        let http1 = "the server answered in HTTP/1.x, not HTTP/2";
        assert_eq!(failure, Some(http1), "{report:?}");
        assert_eq!(report.wire_bytes, answer.len() as u64, "{report:?}");
    });
}

/// Once a write has failed the client writes nothing more: the run
/// names that first failure, the server's reset, and not the broken
/// pipe a later write (the PINGs' acknowledgements, read past it)
/// would meet.
#[test]
fn after_a_failed_write_the_client_writes_no_more() {
    crate::test_support::within(|| {
        let mut frames = a_head_and_48_kib();
        for _ in 0..3 {
            frame_write::ping(&mut frames, *b"pingdata", false);
        }
        let report = read_at_64_kib_past_a_reset(frames);
        assert_eq!(report.first.body_bytes, 3 * 16_384, "{report:?}");
        let failure = report.failure.unwrap_or_default();
        assert!(failure.starts_with("write failed: "), "{failure}");
        assert!(failure.contains("reset"), "{failure}");
    });
}

/// A failed write once the response has ended lost nothing (an
/// acknowledgement to a server that reset): the whole body is no
/// failure. The PING, read behind the reset, is acknowledged before
/// the end is read.
#[test]
fn a_failed_write_after_which_the_response_ends_is_no_failure() {
    crate::test_support::within(|| {
        let mut frames = Vec::new();
        frame_write::settings(&mut frames, &[]);
        frames.extend(a_head());
        frames.extend(raw_frame(Kind::Data as u8, 0, 1, &[b'x'; 16_384]));
        frame_write::ping(&mut frames, *b"pingdata", false);
        frames.extend(raw_frame(Kind::Data as u8, 0, 1, &[b'x'; 8_192]));
        frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
        let report = read_at_64_kib_past_a_reset(frames);
        assert!(report.first.complete, "{report:?}");
        assert_eq!(report.failure, None, "{report:?}");
    });
}

/// A loopback connection, the peer's end and ours, whose send buffer is
/// full: the peer reads nothing, and our next write waits for room.
fn a_full_socket() -> (TcpStream, TcpStream) {
    let (peer, mut socket) = crate::test_support::loopback();
    socket.set_nonblocking(true).unwrap();
    let chunk = [0u8; 65_536];
    while socket.write(&chunk).is_ok() {}
    socket.set_nonblocking(false).unwrap();
    (peer, socket)
}

/// A write that waits for room until the deadline and times out
/// there is the time limit's stop, not a failure: the send buffer
/// full (the peer reads nothing), a write of one byte more waits out
/// what is left before the deadline.
#[test]
fn a_write_timed_out_at_the_deadline_is_the_limit() {
    crate::test_support::within(|| {
        let (_peer, mut socket) = a_full_socket();
        let deadline = Instant::now() + Duration::from_millis(200);
        let written = write_before(&mut socket, b"x", Some(deadline), IDLE_TIMEOUT);
        assert!(matches!(written, Err(Unwritten::Limit)), "{written:?}");
    });
}

/// Whether the client's bytes `got` hold its HEADERS on stream 3: the
/// second request.
pub(in crate::client) fn second_asked(got: &[u8]) -> bool {
    let mut frames = FrameBuffer::with(got);
    while let Ok(Some((header, _))) = frames.next_frame() {
        if header.kind == Kind::Headers as u8 && header.stream == 3 {
            return true;
        }
    }
    false
}

/// A server that allows one stream at a time, its
/// SETTINGS_MAX_CONCURRENT_STREAMS 1, gets no stream 3 while stream 1 is
/// open (RFC 9113 §5.1.2): due 200 ms in, it is not sent in the 800 ms
/// stream 1 stays open, and is sent, and answered, once stream 1 has ended.
#[test]
fn the_second_request_waits_for_room_under_the_servers_stream_limit() {
    crate::test_support::within(|| {
        let (url, server) = one_connection(|mut stream| {
            let mut got = vec![0; PREFACE.len()];
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream.read_exact(&mut got).unwrap();
            let mut frames = Vec::new();
            frame_write::settings(&mut frames, &[(setting::MAX_CONCURRENT_STREAMS, 1)]);
            frames.extend(a_head_and_ten_bytes());
            stream.write_all(&frames).unwrap();
            // What comes while stream 1 is open.
            let (mut early, mut chunk) = (Vec::new(), [0u8; 4096]);
            let open_until = Instant::now() + Duration::from_millis(800);
            stream
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            while Instant::now() < open_until {
                if let Ok(n @ 1..) = stream.read(&mut chunk) {
                    early.extend_from_slice(&chunk[..n]);
                }
            }
            let asked_early = second_asked(&early);
            let end = raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"");
            stream.write_all(&end).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut late = Vec::new();
            while !second_asked(&late) {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => late.extend_from_slice(&chunk[..n]),
                }
            }
            let ends = flag::END_HEADERS | flag::END_STREAM;
            let _ = stream.write_all(&raw_frame(Kind::Headers as u8, ends, 3, &[0x80 | 8]));
            while let Ok(1..) = stream.read(&mut chunk) {}
            asked_early
        });
        let options = H2Options {
            second: Some(("/y".into(), Duration::from_millis(200))),
            ..options()
        };
        let report = run(&url, &options, Some(Duration::from_secs(5))).unwrap();
        let asked_early = server.join().unwrap();
        assert!(!asked_early, "stream 3 opened past the limit: {report:?}");
        assert_eq!(report.max_streams, Some(1), "{report:?}");
        assert!(report.first.complete, "{report:?}");
        let second = report.second.as_ref();
        assert!(second.is_some_and(|s| s.complete), "{report:?}");
    });
}

/// A server whose limit leaves no room for stream 3 (0 streams) holds it
/// for good: the run does not wait without end, its idle clock running
/// again once stream 3 is due, and its report says stream 3 was held.
#[test]
fn a_second_request_the_limit_never_lets_go_ends_at_the_idle_timeout() {
    crate::test_support::within(|| {
        let mut frames = Vec::new();
        frame_write::settings(&mut frames, &[(setting::MAX_CONCURRENT_STREAMS, 0)]);
        frames.extend(a_head());
        frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
        let (url, server) = scripted_server(frames, Duration::from_secs(5));
        let options = H2Options {
            second: Some(("/y".into(), Duration::from_millis(200))),
            idle_timeout: Duration::from_millis(500),
            ..options()
        };
        let report = run(&url, &options, None).unwrap();
        server.join().unwrap();
        assert!(report.first.complete, "{report:?}");
        assert!(report.second.is_none() && report.second_held, "{report:?}");
        let failure = report.failure.as_deref();
        assert_eq!(failure, Some("nothing received for 500ms"), "{report:?}");
    });
}

/// A write to a server that takes nothing waits at most the idle timeout
/// for room, and says so: a reply to a server that floods and never reads
/// waited 10 s past a 1 s idle timeout, and the run then blamed 1 s of
/// silence. The peer here never reads; the socket's buffers fill, and the
/// write gives up a patience later.
#[test]
fn a_write_the_server_never_takes_waits_only_the_idle_timeout() {
    crate::test_support::within(|| {
        let (_peer, mut socket) = a_full_socket();
        let (patience, started) = (Duration::from_millis(200), Instant::now());
        let written = write_before(&mut socket, b"x", None, patience);
        // The message is made of `patience`: the wait itself is what
        // tells it from the 10 s of old, with room for a loaded machine.
        assert!(started.elapsed() < Duration::from_secs(5), "{written:?}");
        match written {
            Err(Unwritten::Failed(e)) => {
                assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
                assert_eq!(e.to_string(), "the server took no byte for 200ms");
            }
            other => panic!("{other:?}"),
        }
    });
}

/// Three rules of the connection a server must keep, each ending the run
/// with its own line (RFC 9113 §3.4, §6.5.2, §6.9.1): SETTINGS first, no
/// push enabled, no window past 2^31-1. Each was taken, and the body
/// behind it called complete.
#[test]
fn a_server_that_breaks_a_connection_rule_ends_the_run() {
    let whole = |frames: &mut Vec<u8>| {
        frames.extend(a_head());
        frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
    };
    let mut no_settings = Vec::new();
    whole(&mut no_settings);
    let mut push = Vec::new();
    frame_write::settings(&mut push, &[(frame::setting::ENABLE_PUSH, 1)]);
    whole(&mut push);
    let mut overflow = Vec::new();
    frame_write::settings(&mut overflow, &[]);
    frame_write::window_update(&mut overflow, 0, frame::MAX_WINDOW as u32);
    whole(&mut overflow);
    let mut stream_overflow = Vec::new();
    frame_write::settings(
        &mut stream_overflow,
        &[(frame::setting::INITIAL_WINDOW_SIZE, 1 << 30)],
    );
    frame_write::window_update(&mut stream_overflow, 1, 1 << 30);
    whole(&mut stream_overflow);
    for (frames, why) in [
        (no_settings, "the server's first frame was not its SETTINGS"),
        (push, "a server's SETTINGS_ENABLE_PUSH of 1"),
        (
            overflow,
            "a WINDOW_UPDATE that takes stream 0's window past 2^31-1",
        ),
        (
            stream_overflow,
            "a WINDOW_UPDATE that takes stream 1's window past 2^31-1",
        ),
    ] {
        let (url, server) = scripted_server(frames, Duration::from_secs(2));
        let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
        server.join().unwrap();
        assert_eq!(report.failure.as_deref(), Some(why), "{report:?}");
        assert!(!report.first.complete, "{why}: {report:?}");
    }
}
