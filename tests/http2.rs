//! HTTP/2 on the same port, against the real binary, frame by frame: every
//! mode byte for byte, streams side by side, both flow-control windows held
//! to the byte, resets that give back what a stream held, and hostile
//! frames answered with the right code.

mod common;

use std::time::Duration;

use common::h2::*;
use common::*;

/// Windows as large as HTTP/2 allows, so that only TCP holds a body back.
const HUGE: u32 = (1 << 31) - 1;

/// A connection whose windows never close.
fn open_connection(addr: std::net::SocketAddr) -> H2 {
    let mut h2 = H2::connect(addr, &[(INITIAL_WINDOW_SIZE, HUGE)]);
    h2.window_update(0, HUGE - 65_535);
    h2
}

#[test]
fn every_mode_sends_the_export_byte_for_byte() {
    let (server, idle) = warmed_server(&[]);
    for (i, mode) in ["buffer", "unbounded", "bounded", "pipeline"]
        .iter()
        .enumerate()
    {
        let mut h2 = open_connection(server.addr());
        let rows = 20_000 + i as u64;
        h2.get(1, "GET", &format!("/export.csv?rows={rows}&mode={mode}"));
        let response = read_responses(&mut h2, &[1], false).remove(0);
        assert_eq!(response.status(), 200, "{mode}");
        assert!(response.ended, "{mode}: END_STREAM");
        assert!(
            response.body == reference_csv(rows),
            "{mode}: the body is the export"
        );
        let length = response.header("content-length");
        let expected = (*mode == "buffer").then(|| response.body.len().to_string());
        assert_eq!(length.map(str::to_string), expected, "{mode}");
        assert!(response.header("date").is_some());
        // HEAD: the same head, and END_STREAM on it.
        h2.get(3, "HEAD", &format!("/export.csv?rows={rows}&mode={mode}"));
        let head = read_responses(&mut h2, &[3], false).remove(0);
        assert_eq!((head.status(), head.body.len()), (200, 0), "{mode} HEAD");
    }
    back_to_idle(server.addr(), &idle, "four HTTP/2 exports");
}

#[test]
fn ten_streams_share_one_connection_in_turn() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = open_connection(server.addr());
    let streams: Vec<u32> = (0..10).map(|i| 2 * i + 1).collect();
    let modes = ["buffer", "unbounded", "bounded", "pipeline"];
    for (i, &id) in streams.iter().enumerate() {
        let rows = 5_000 + 1_000 * i as u64;
        h2.get(
            id,
            "GET",
            &format!("/export.csv?rows={rows}&mode={}", modes[i % 4]),
        );
    }
    let responses = read_responses(&mut h2, &streams, false);
    for (i, response) in responses.iter().enumerate() {
        assert_eq!(response.status(), 200);
        assert!(
            response.body == reference_csv(5_000 + 1_000 * i as u64),
            "stream {i}"
        );
    }
    back_to_idle(server.addr(), &idle, "ten streams");
}

/// DATA frames of one stream until the server goes quiet; the bytes.
fn data_of(frames: &[Frame], stream: u32) -> usize {
    frames
        .iter()
        .filter(|f| f.kind == DATA && f.stream == stream)
        .map(|f| f.payload.len())
        .sum()
}

/// The layers of windows, to the byte: a stream sends exactly its window;
/// a second stream gets its head but nothing while the connection's window
/// is spent; a connection WINDOW_UPDATE lets exactly that much through; a
/// stream whose window is spent holds its strategy's bound and no more;
/// and a reset gives everything back.
#[test]
fn a_spent_window_stops_its_stream_and_the_connection_window_stops_all() {
    // Chunks of one DATA frame's size, so that the bound is easy to state.
    let args = ["--chunk-bytes", "16k", "--channel-depth", "1"];
    let (server, idle) = warmed_server(&args);
    let mut h2 = H2::connect(server.addr(), &[]);
    h2.get(1, "GET", "/export.csv?rows=1000000&mode=bounded");
    let frames = h2.frames_until_quiet(Duration::from_millis(500));
    assert_eq!(data_of(&frames, 1), 65_535, "exactly the stream's window");
    // The producer is stopped by the window as by a full socket: one chunk
    // being written (its last byte waits for window), one in the channel,
    // one in the producer's hands.
    let queued = "backpressure_queued_bytes{mode=\"bounded\"}";
    wait_until("the bounded queue at its bound", IDLE_TIMEOUT, || {
        (metrics(server.addr()).value(queued) == 3.0 * 16_384.0).then_some(())
    });

    h2.get(3, "GET", "/export.csv?rows=100&mode=pipeline");
    let frames = h2.frames_until_quiet(Duration::from_millis(500));
    let head = frames.iter().find(|f| f.kind == HEADERS && f.stream == 3);
    assert!(head.is_some(), "the head needs no window");
    assert_eq!(data_of(&frames, 3), 0, "the connection window is spent");

    h2.window_update(0, 1_000);
    let frames = h2.frames_until_quiet(Duration::from_millis(500));
    assert_eq!(
        data_of(&frames, 3),
        1_000,
        "exactly the connection's new room"
    );
    assert_eq!(data_of(&frames, 1), 0, "stream 1's own window is spent");

    // Past 2^31 − 1 on a stream: that stream ends, the connection goes on.
    // (Stream 3 has window left and the connection none, so nothing is
    // sent in between to make room.)
    h2.window_update(3, HUGE);
    let rst = h2.next_frame(Duration::from_secs(5)).expect("a RST_STREAM");
    assert_eq!((rst.kind, rst.stream), (RST_STREAM, 3));
    assert_eq!(rst.error_code(), FLOW_CONTROL_ERROR);

    h2.send_frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes());
    // The queue is given back, and the producer and its writer are gone,
    // while the connection stays open and answers.
    wait_until("the reset stream's queue given back", IDLE_TIMEOUT, || {
        let m = metrics(server.addr());
        let threads = idle.threads + 2.0; // the connection's reader and writer
        (m.value(queued) == 0.0 && m.value("process_threads") == threads).then_some(())
    });
    h2.get(5, "GET", "/healthz");
    h2.window_update(0, 100);
    assert_eq!(read_responses(&mut h2, &[5], false)[0].body, b"ok\n");
    drop(h2);
    back_to_idle(server.addr(), &idle, "both streams reset");
}

/// SETTINGS_INITIAL_WINDOW_SIZE moves the window of a stream already open,
/// below zero if need be (RFC 9113 §6.9.2).
#[test]
fn a_smaller_initial_window_can_make_an_open_window_negative() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    h2.window_update(0, HUGE - 65_535);
    h2.get(1, "GET", "/export.csv?rows=1000000&mode=pipeline");
    let frames = h2.frames_until_quiet(Duration::from_millis(500));
    assert_eq!(data_of(&frames, 1), 65_535);
    // 65,535 → 1,000: the window is now 1,000 − 65,535 = −64,535.
    let mut settings = INITIAL_WINDOW_SIZE.to_be_bytes().to_vec();
    settings.extend_from_slice(&1_000u32.to_be_bytes());
    h2.send_frame(SETTINGS, 0, 0, &settings);
    h2.window_update(1, 64_535);
    let frames = h2.frames_until_quiet(Duration::from_millis(500));
    assert_eq!(data_of(&frames, 1), 0, "back to zero, not above");
    h2.window_update(1, 10);
    let frames = h2.frames_until_quiet(Duration::from_millis(500));
    assert_eq!(data_of(&frames, 1), 10);
    h2.send_frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes());
    h2.get(3, "GET", "/healthz");
    assert_eq!(read_responses(&mut h2, &[3], true)[0].body, b"ok\n");
    drop(h2);
    back_to_idle(server.addr(), &idle, "the stream's window overflowed");
}

/// Frames that break a connection rule, each on a fresh connection after
/// the SETTINGS exchange, and the GOAWAY code RFC 9113 gives each.
#[test]
fn hostile_frames_end_the_connection_with_the_right_code() {
    let (server, idle) = warmed_server(&[]);
    let get = request_block("GET", "/healthz");
    let raw = |kind, flags, stream, payload: &[u8]| {
        let mut out = Vec::new();
        frame(&mut out, kind, flags, stream, payload);
        out
    };
    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        ("DATA on stream 0", raw(DATA, 0, 0, b"x"), PROTOCOL_ERROR),
        (
            "HEADERS on an even stream",
            raw(HEADERS, 5, 2, &get),
            PROTOCOL_ERROR,
        ),
        (
            "PING of 7 bytes",
            raw(PING, 0, 0, &[0; 7]),
            FRAME_SIZE_ERROR,
        ),
        (
            "a frame over 16,384 bytes",
            raw(PING, 0, 0, &[0; 16_385]),
            FRAME_SIZE_ERROR,
        ),
        (
            "SETTINGS of 5 bytes",
            raw(SETTINGS, 0, 0, &[0; 5]),
            FRAME_SIZE_ERROR,
        ),
        (
            "ENABLE_PUSH 2",
            raw(SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 2]),
            PROTOCOL_ERROR,
        ),
        (
            "an initial window of 2^31",
            raw(SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0]),
            FLOW_CONTROL_ERROR,
        ),
        (
            "the connection window past 2^31 - 1",
            raw(WINDOW_UPDATE, 0, 0, &HUGE.to_be_bytes()),
            FLOW_CONTROL_ERROR,
        ),
        (
            "WINDOW_UPDATE of 0",
            raw(WINDOW_UPDATE, 0, 0, &[0; 4]),
            PROTOCOL_ERROR,
        ),
        (
            "CONTINUATION alone",
            raw(CONTINUATION, 4, 1, &get),
            PROTOCOL_ERROR,
        ),
        (
            "a header block interrupted",
            [raw(HEADERS, 1, 1, &get[..3]), raw(PING, 0, 0, &[0; 8])].concat(),
            PROTOCOL_ERROR,
        ),
        (
            "PUSH_PROMISE",
            raw(PUSH_PROMISE, 4, 1, &[0, 0, 0, 2]),
            PROTOCOL_ERROR,
        ),
        (
            "an HPACK index past the table",
            raw(HEADERS, 5, 1, &[0xff, 0x7f]),
            COMPRESSION_ERROR,
        ),
        (
            "RST_STREAM on an idle stream",
            raw(RST_STREAM, 0, 9, &[0; 4]),
            PROTOCOL_ERROR,
        ),
        (
            "WINDOW_UPDATE on an idle stream",
            raw(WINDOW_UPDATE, 0, 9, &[0, 0, 0, 1]),
            PROTOCOL_ERROR,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut h2 = H2::connect(server.addr(), &[]);
        h2.send(&bytes);
        assert_eq!(h2.goaway_code(), code, "{what}");
    }
    // A preface whose frames do not begin with SETTINGS.
    let mut h2 = H2::raw(server.addr());
    h2.send(PREFACE);
    h2.send_frame(PING, 0, 0, &[0; 8]);
    assert_eq!(h2.goaway_code(), PROTOCOL_ERROR, "no SETTINGS first");
    back_to_idle(server.addr(), &idle, "hostile frames");
}

/// Errors that end one stream: the connection answers the next request.
#[test]
fn a_stream_error_ends_only_its_stream() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let uppercase = header_block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/healthz"),
        ("User-Agent", "x"),
    ]);
    h2.send_frame(HEADERS, END_HEADERS | END_STREAM, 1, &uppercase);
    h2.send_frame(PRIORITY, 0, 3, &[0; 4]);
    let frames = h2.frames_until_quiet(Duration::from_millis(300));
    let resets: Vec<(u32, u32)> = frames
        .iter()
        .filter(|f| f.kind == RST_STREAM)
        .map(|f| (f.stream, f.error_code()))
        .collect();
    assert_eq!(resets, [(1, PROTOCOL_ERROR), (3, FRAME_SIZE_ERROR)]);
    h2.get(5, "GET", "/healthz");
    assert_eq!(read_responses(&mut h2, &[5], true)[0].status(), 200);
    // A request with a body is refused as over HTTP/1.1, and the body
    // need not be sent: RST_STREAM NO_ERROR after the answer.
    h2.send_frame(HEADERS, END_HEADERS, 7, &request_block("GET", "/healthz"));
    assert_eq!(read_responses(&mut h2, &[7], true)[0].status(), 400);
    let rst = h2.next_frame(Duration::from_secs(5)).expect("a RST_STREAM");
    assert_eq!(
        (rst.kind, rst.stream, rst.error_code()),
        (RST_STREAM, 7, NO_ERROR)
    );
    drop(h2);
    back_to_idle(server.addr(), &idle, "stream errors");
}

/// CVE-2024-27316: HEADERS without END_HEADERS, then CONTINUATION frames
/// without end. The server stops at its bound, long before 2 MB.
#[test]
fn a_continuation_flood_is_cut_short() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let block = request_block("GET", "/healthz");
    h2.send_frame(HEADERS, END_STREAM, 1, &block);
    let piece = vec![0u8; 16_384];
    let mut sent = 0;
    while sent < 2 << 20 {
        let mut out = Vec::new();
        frame(&mut out, CONTINUATION, 0, 1, &piece);
        if std::io::Write::write_all(&mut h2.socket, &out).is_err() {
            break; // the server has closed: that is the point
        }
        sent += piece.len();
    }
    assert_eq!(h2.goaway_code(), ENHANCE_YOUR_CALM);
    drop(h2);
    back_to_idle(server.addr(), &idle, "a CONTINUATION flood");
}

/// CVE-2023-44487: streams opened and cancelled in a loop. The server's
/// threads stay bounded, the connection ends with ENHANCE_YOUR_CALM, and
/// everything comes back.
#[test]
fn rapid_reset_is_survived() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let block = request_block("GET", "/export.csv?rows=1000000&mode=bounded");
    let mut out = Vec::new();
    for i in 0..2_000u32 {
        let id = 2 * i + 1;
        frame(&mut out, HEADERS, END_HEADERS | END_STREAM, id, &block);
        frame(&mut out, RST_STREAM, 0, id, &CANCEL.to_be_bytes());
    }
    // The server may close before reading it all.
    let _ = std::io::Write::write_all(&mut h2.socket, &out);
    assert_eq!(h2.goaway_code(), ENHANCE_YOUR_CALM);
    drop(h2);
    back_to_idle(server.addr(), &idle, "2,000 rapid resets");
    let mut h2 = H2::connect(server.addr(), &[]);
    h2.get(1, "GET", "/healthz");
    assert_eq!(read_responses(&mut h2, &[1], true)[0].status(), 200);
}

/// More streams than SETTINGS_MAX_CONCURRENT_STREAMS: the extra ones are
/// refused, the others answered.
#[test]
fn streams_past_the_limit_are_refused() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    // Seventeen exports that the default window stalls, so that all stay open.
    let streams: Vec<u32> = (0..17).map(|i| 2 * i + 1).collect();
    for &id in &streams {
        h2.get(id, "GET", "/export.csv?rows=1000000&mode=pipeline");
    }
    let frames = h2.frames_until_quiet(Duration::from_millis(500));
    let refused: Vec<u32> = frames
        .iter()
        .filter(|f| f.kind == RST_STREAM && f.error_code() == REFUSED_STREAM)
        .map(|f| f.stream)
        .collect();
    assert_eq!(refused, [33]);
    let heads = frames.iter().filter(|f| f.kind == HEADERS).count();
    assert_eq!(heads, 16);
    drop(h2);
    back_to_idle(server.addr(), &idle, "seventeen streams");
}
