//! HTTP/2's limits against the real binary: floods that must be cut short
//! (CONTINUATION, rapid reset, resets the client provokes, frames it never
//! reads the answers to), streams past the limit, and the clocks: a window
//! that stays shut, a window opened a byte at a time (and what its
//! one-byte frames cost), a minimum rate the streams of a connection
//! share, an idle connection.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use common::h2::*;
use common::*;

/// The most threads a connection may have during a flood: its reader and
/// writer, and two per stream thread (a channel mode's producer), 32 of
/// them (`MAX_STREAM_THREADS`, each counted until it is joined); and a few
/// more, joined and still leaving the kernel.
const MOST_THREADS_PER_CONNECTION: f64 = 2.0 + 2.0 * 32.0 + 8.0;

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
        if h2.socket.write_all(&out).is_err() {
            break; // the server has closed: that is the point
        }
        sent += piece.len();
    }
    assert_eq!(h2.goaway_code(), ENHANCE_YOUR_CALM);
    drop(h2);
    back_to_idle(server.addr(), &idle, "a CONTINUATION flood");
}

/// Each of the two bounds on a header block holds on its own: 16
/// CONTINUATION frames are answered, a 17th empty one is a flood; and a
/// block of exactly 32 KiB is answered, one a byte over refused though it
/// took three frames.
#[test]
fn a_header_block_is_bounded_in_frames_and_in_bytes() {
    let (server, idle) = warmed_server(&[]);
    let block = request_block("GET", "/healthz");
    let mut h2 = H2::connect(server.addr(), &[]);
    h2.send_frame(HEADERS, END_STREAM, 1, &block);
    for _ in 0..15 {
        h2.send_frame(CONTINUATION, 0, 1, &[]);
    }
    h2.send_frame(CONTINUATION, END_HEADERS, 1, &[]);
    assert_eq!(read_responses(&mut h2, &[1], true)[0].status(), 200);
    h2.send_frame(HEADERS, END_STREAM, 3, &block);
    for _ in 0..17 {
        h2.send_frame(CONTINUATION, 0, 3, &[]);
    }
    assert_eq!(
        h2.goaway_code(),
        ENHANCE_YOUR_CALM,
        "17 CONTINUATION frames"
    );

    // Exactly 32 KiB is within the bound: a block filled up with a field
    // any strict decoder takes, its value sized to make the block whole
    // while the decoded list stays under the 16 KiB the server allows
    // (SETTINGS_MAX_HEADER_LIST_SIZE), is answered.
    let mut h2 = H2::connect(server.addr(), &[]);
    let mut full = block.clone();
    let (padding, decoded) = padding_field(32 * 1024 - block.len());
    full.extend_from_slice(&padding);
    assert_eq!(full.len(), 32 * 1024);
    assert!(decoded < 16 * 1024 - 200, "{decoded} bytes decoded");
    h2.send_frame(HEADERS, END_STREAM, 1, &full[..16_384]);
    h2.send_frame(CONTINUATION, END_HEADERS, 1, &full[16_384..]);
    assert_eq!(read_responses(&mut h2, &[1], true)[0].status(), 200);
    drop(h2);

    let mut h2 = H2::connect(server.addr(), &[]);
    h2.send_frame(HEADERS, END_STREAM, 1, &vec![0; 16_384]);
    h2.send_frame(CONTINUATION, 0, 1, &vec![0; 16_384]);
    h2.send_frame(CONTINUATION, END_HEADERS, 1, &[0]);
    assert_eq!(
        h2.goaway_code(),
        ENHANCE_YOUR_CALM,
        "32 KiB + 1 in 3 frames"
    );
    drop(h2);
    back_to_idle(server.addr(), &idle, "header blocks at their bounds");
}

/// A header field of exactly `bytes` bytes that decodes to far fewer: a
/// literal without indexing, `x-pad`, whose value is Huffman-coded (RFC
/// 7541 §5.2) from `\` (a 19-bit code, so 2.4 encoded bytes per byte
/// decoded) and `a` (5 bits) to fill the last bits, padded with ones.
/// Returns it and the size of the decoded field (RFC 7541 §4.1).
fn padding_field(bytes: usize) -> (Vec<u8>, usize) {
    const NAME: &[u8] = b"x-pad";
    // The value's length: a 7-bit prefix with the H bit, then as many
    // 7-bit groups as it needs; a length this size takes three.
    let length = |n: usize| {
        let mut out = vec![0x80 | 0x7f];
        let mut rest = n - 0x7f;
        while rest >= 0x80 {
            out.push((rest % 0x80) as u8 | 0x80);
            rest /= 0x80;
        }
        out.push(rest as u8);
        out
    };
    let value_bytes = bytes - 2 - NAME.len() - 4;
    let mut field = vec![0x00, NAME.len() as u8];
    field.extend_from_slice(NAME);
    field.extend_from_slice(&length(value_bytes));
    assert_eq!(field.len(), bytes - value_bytes, "a 4-byte length");
    let bits = 8 * value_bytes;
    let (backslashes, rest) = (bits / 19, bits % 19);
    let codes = (0..backslashes)
        .map(|_| (0x7fff0u32, 19))
        .chain((0..rest / 5).map(|_| (0x3, 5)));
    let (mut acc, mut held) = (0u64, 0);
    for (code, len) in codes {
        acc = acc << len | u64::from(code);
        held += len;
        while held >= 8 {
            held -= 8;
            field.push((acc >> held) as u8);
        }
    }
    // Fewer than 8 bits are left: they are padded with EOS's first bits.
    if held > 0 {
        field.push((acc << (8 - held)) as u8 | (0xff >> held));
    }
    assert_eq!(field.len(), bytes);
    let decoded = NAME.len() + backslashes + rest / 5 + 32;
    (field, decoded)
}

/// CVE-2023-44487: streams opened and cancelled in a loop. The server's
/// threads stay bounded, the connection ends with ENHANCE_YOUR_CALM, and
/// everything comes back.
#[test]
fn rapid_reset_is_survived() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let flood = streams_and(1, RST_STREAM, &CANCEL.to_be_bytes());
    let (goaway, most_threads) = flood_until_goaway(&mut h2, &server, &idle, flood);
    assert_eq!(goaway.error_code(), ENHANCE_YOUR_CALM, "{goaway:?}");
    assert!(
        most_threads <= MOST_THREADS_PER_CONNECTION,
        "{most_threads} threads during the flood"
    );
    drop(h2);
    back_to_idle(server.addr(), &idle, "2,000 rapid resets");
    let mut h2 = H2::connect(server.addr(), &[]);
    h2.get(1, "GET", "/healthz");
    assert_eq!(read_responses(&mut h2, &[1], true)[0].status(), 200);
}

/// More streams than SETTINGS_MAX_CONCURRENT_STREAMS: the 101st is
/// refused. The limit held is the one the server's SETTINGS announced
/// (100), beside its header list's 16 KiB and no push. Of the 100, 16 are
/// answered at once and the rest wait their turn, in the order they came:
/// here 16 downloads that their stream windows stall, and 84 requests for
/// `/healthz` that get nothing while every download is stalled, then, once
/// the client cancels one, one at a time, each after the one before it
/// has ended. One the client cancels as it waits is never answered. A
/// long grace keeps the minimum rate from cutting a stalled download,
/// which would give a second stream its turn.
#[test]
fn streams_wait_their_turn_and_past_the_limit_are_refused() {
    const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    const ENABLE_PUSH: u16 = 0x2;
    const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    let (server, idle) = warmed_server(&["--rate-grace", "60s"]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let mut announced = h2.server_settings.clone();
    announced.sort_unstable();
    let expected = [
        (ENABLE_PUSH, 0),
        (MAX_CONCURRENT_STREAMS, 100),
        (MAX_HEADER_LIST_SIZE, 16_384),
    ];
    assert_eq!(announced, expected);
    let downloads = sixteen_stalled_downloads(&mut h2);
    let waiting: Vec<u32> = (16..100).map(|i| 2 * i + 1).collect();
    for &id in waiting.iter().chain(&[201]) {
        h2.get(id, "GET", "/healthz");
    }
    // The downloads' HEADERS and the 101st stream's refusal; then, while
    // every download is stalled, nothing for the streams waiting.
    let answered = |f: &[Frame]| {
        f.iter()
            .filter(|f| f.kind == HEADERS || f.kind == RST_STREAM)
            .count()
            >= 17
    };
    let frames = h2.frames_until(answered, Duration::from_millis(500));
    assert_eq!(resets(&frames), [(201, REFUSED_STREAM)]);
    let heads: Vec<u32> = frames
        .iter()
        .filter(|f| f.kind == HEADERS)
        .map(|f| f.stream)
        .collect();
    assert_eq!(heads.len(), 16, "{heads:?}");
    assert!(heads.iter().all(|id| downloads.contains(id)), "{heads:?}");
    // Stream 33 cancelled as it waits; then a download: one stream at a
    // time is answered, in order, 33 never.
    h2.send_frame(RST_STREAM, 0, 33, &CANCEL.to_be_bytes());
    h2.send_frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes());
    let ends = |f: &Frame| f.kind == DATA && f.flags & END_STREAM != 0;
    let all_ended = |f: &[Frame]| f.iter().filter(|f| ends(f)).count() >= waiting.len() - 1;
    let frames = h2.frames_until(all_ended, Duration::from_millis(200));
    let mut turns = Vec::new();
    for frame in frames.iter().filter(|f| waiting.contains(&f.stream)) {
        match frame.kind {
            HEADERS => turns.push((frame.stream, "starts")),
            DATA if ends(frame) => turns.push((frame.stream, "ends")),
            _ => {}
        }
    }
    let in_order: Vec<(u32, &str)> = waiting[1..]
        .iter()
        .flat_map(|&id| [(id, "starts"), (id, "ends")])
        .collect();
    assert_eq!(turns, in_order, "{}", summary(&frames));
    drop(h2);
    back_to_idle(server.addr(), &idle, "a hundred and one streams");
}

/// Opens the connection's window wide and asks for 16 downloads, on
/// streams 1 to 31, that their stream windows of 65,535 bytes stall: the
/// 16 streams answered at once, for as long as the client likes. Returns
/// their ids.
fn sixteen_stalled_downloads(h2: &mut H2) -> Vec<u32> {
    h2.window_update(0, HUGE - 65_535);
    let downloads: Vec<u32> = (0..16).map(|i| 2 * i + 1).collect();
    for &id in &downloads {
        h2.get(id, "GET", "/export.csv?rows=1000000&mode=pipeline");
    }
    downloads
}

/// Streams waiting their turn are taken on: when the client goes away
/// (GOAWAY) they are still answered, as RFC 9113 §6.8 asks of the streams
/// a GOAWAY names, and then the connection closes; their access-log lines
/// count the wait, as their client waited. A connection error instead
/// ends them unanswered: its GOAWAY names the last stream whose turn
/// came, so that the client may retry those after it.
#[test]
fn streams_waiting_are_answered_after_a_goaway_and_dropped_by_an_error() {
    let (server, idle) = warm(Server::start_logged(&["--rate-grace", "60s"]));
    let mut h2 = H2::connect(server.addr(), &[]);
    let downloads = sixteen_stalled_downloads(&mut h2);
    for id in [33, 35] {
        h2.get(id, "GET", "/healthz");
    }
    h2.send_frame(GOAWAY, 0, 0, &[0; 8]);
    let goaway = h2.goaway();
    assert_eq!((goaway.error_code(), goaway.last_stream()), (NO_ERROR, 35));
    thread::sleep(Duration::from_millis(300));
    for &id in &downloads {
        h2.send_frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes());
    }
    let responses = read_responses(&mut h2, &[33, 35], true);
    for (id, response) in [33, 35].into_iter().zip(responses) {
        let answer = (response.status(), &response.body[..]);
        assert_eq!(answer, (200, &b"ok\n"[..]), "stream {id}");
    }
    assert_eq!(h2.read_to_the_end(), None, "closed with a FIN");
    let client = format!(
        "{} \"GET /healthz HTTP/2\" ",
        h2.socket.local_addr().unwrap()
    );
    let lines = wait_until_with("both lines", Duration::from_secs(10), || {
        let mut lines = server.log_lines();
        lines.retain(|l| l.contains(&client));
        if lines.len() == 2 {
            Ok(lines)
        } else {
            Err(format!("{lines:#?}"))
        }
    });
    for line in lines {
        let waited: u64 = number_after(&line, " duration_ms=", " ");
        assert!(waited >= 300, "{line}");
    }
    let mut h2 = H2::connect(server.addr(), &[]);
    sixteen_stalled_downloads(&mut h2);
    for id in [33, 35] {
        h2.get(id, "GET", "/healthz");
    }
    h2.send_frame(PING, 0, 0, b"short");
    // Every frame to the connection's end: none answers stream 33 or 35.
    let gone = |f: &[Frame]| f.iter().any(|f| f.kind == GOAWAY);
    let frames = h2.frames_until(gone, Duration::from_millis(300));
    let goaway = frames.iter().find(|f| f.kind == GOAWAY).expect("a GOAWAY");
    let ended = (goaway.error_code(), goaway.last_stream());
    assert_eq!(ended, (FRAME_SIZE_ERROR, 31));
    let waiting = |f: &&Frame| f.stream == 33 || f.stream == 35;
    let answered: Vec<_> = frames.iter().filter(waiting).collect();
    assert!(answered.is_empty(), "{answered:?}");
    drop(h2);
    back_to_idle(
        server.addr(),
        &idle,
        "streams waiting as the connection goes away",
    );
}

/// A first flight of 100 requests, as `h2load -m 100` sends it before it
/// has read the server's SETTINGS (nghttp2 assumes the 100 RFC 9113
/// §6.5.2 recommends), is answered whole, byte for byte: none refused.
/// Here the writer is blocked by a download the client has not read yet
/// when the flight comes, so 84 streams are still waiting their turn once
/// it reads.
#[test]
fn a_first_flight_of_100_requests_is_answered_whole() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = behind_a_blocked_writer(&server);
    let streams: Vec<u32> = (1..100).map(|i| 2 * i + 1).collect();
    let mut rest = Vec::new();
    for &id in &streams {
        let request = request_block("GET", "/export.csv?rows=10");
        frame(&mut rest, HEADERS, END_HEADERS | END_STREAM, id, &request);
    }
    h2.send(&rest);
    thread::sleep(Duration::from_millis(100));
    // The client reads now: its SETTINGS acknowledged, the download
    // cancelled, what it had of it thrown away by `read_responses`.
    h2.send_frame(SETTINGS, ACK, 0, &[]);
    h2.send_frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes());
    let responses = read_responses(&mut h2, &streams, false);
    let reference = reference_csv(10);
    for (&id, response) in streams.iter().zip(&responses) {
        assert_eq!(response.reset, None, "stream {id}");
        assert_eq!(response.status(), 200, "stream {id}");
        assert_same_bytes(&response.body, &reference, &format!("stream {id}"));
    }
    goes_on_after_the_flight(h2, &server, &idle);
}

/// A first flight of 100 requests with bodies, as `h2load -m 100 -d FILE`
/// sends it: every HEADERS, then every body. Windows of 0 hold the 16
/// answered at once until every body is in, so 84 bodies come to streams
/// waiting their turn: counted against the windows and the connection's
/// given back, as on any stream. Each request is answered 400 (this server
/// takes no request bodies), and the connection goes on.
#[test]
fn bodies_of_a_first_flight_come_to_streams_waiting() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::raw(server.addr());
    let streams: Vec<u32> = (0..100).map(|i| 2 * i + 1).collect();
    let mut flight = PREFACE.to_vec();
    let closed = settings_payload(&[(INITIAL_WINDOW_SIZE, 0)]);
    frame(&mut flight, SETTINGS, 0, 0, &closed);
    for &id in &streams {
        let request = request_block("POST", "/export.csv?rows=10");
        frame(&mut flight, HEADERS, END_HEADERS, id, &request);
    }
    // 60,000 bytes in all: within the connection's window of 65,535.
    for &id in &streams {
        frame(&mut flight, DATA, END_STREAM, id, &[b'x'; 600]);
    }
    h2.send(&flight);
    let settings = h2.next_of(SETTINGS);
    assert_eq!(settings.flags, 0, "the server's SETTINGS come first");
    h2.send_frame(SETTINGS, ACK, 0, &[]);
    let open = settings_payload(&[(INITIAL_WINDOW_SIZE, 65_535)]);
    h2.send_frame(SETTINGS, 0, 0, &open);
    let responses = read_responses(&mut h2, &streams, true);
    for (&id, response) in streams.iter().zip(&responses) {
        assert_eq!(response.status(), 400, "stream {id}");
        assert!(response.ended, "stream {id}: {response:?}");
    }
    goes_on_after_the_flight(h2, &server, &idle);
}

/// 100 requests with bodies, as `h2load -m 100 -d FILE` sends them, each
/// answered before its body comes: 400, as this server takes no request
/// bodies, then RST_STREAM NO_ERROR, which tells the client to stop
/// sending (RFC 9113 §8.1). The bodies, sent before the client read those
/// resets, are ignored (§5.1): the server remembers as many resets as a
/// client may have streams open.
#[test]
fn late_bodies_of_100_requests_answered_without_them_are_ignored() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let streams: Vec<u32> = (0..100).map(|i| 2 * i + 1).collect();
    // Each announces its one-byte body, as h2load's content-length does.
    for &id in &streams {
        let request = body_request_block("POST", "/export.csv?rows=10");
        h2.send_frame(HEADERS, END_HEADERS, id, &request);
    }
    let responses = read_responses(&mut h2, &streams, true);
    for (&id, response) in streams.iter().zip(&responses) {
        assert_eq!(response.status(), 400, "stream {id}");
        assert!(response.ended, "stream {id}: {response:?}");
    }
    let mut bodies = Vec::new();
    for &id in &streams {
        frame(&mut bodies, DATA, END_STREAM, id, b"x");
    }
    h2.send(&bodies);
    goes_on_after_the_flight(h2, &server, &idle);
}

/// The streams waiting for a thread are bounded in bytes too: each holds
/// its target and its access-log line, here about 8,000 bytes (a 4,000-
/// byte query), so behind 16 stalled downloads 8 fit in 64 KiB and the
/// 9th is refused. Once the downloads end, the 8 are answered, and their
/// bytes given back: behind 16 more, 8 such streams wait again.
#[test]
fn streams_waiting_are_bounded_in_bytes() {
    let (server, idle) = warmed_server(&["--rate-grace", "60s"]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let downloads = sixteen_stalled_downloads(&mut h2);
    let long = format!("/healthz?{}", "q".repeat(4_000));
    let waiting: Vec<u32> = (16..25).map(|i| 2 * i + 1).collect();
    for &id in &waiting {
        h2.get(id, "GET", &long);
    }
    let frames = h2.frames_until(at_least_resets(1), Duration::from_millis(500));
    assert_eq!(resets(&frames), [(49, REFUSED_STREAM)]);
    for &id in &downloads {
        h2.send_frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes());
    }
    let responses = read_responses(&mut h2, &waiting[..8], false);
    for (&id, response) in waiting.iter().zip(&responses) {
        assert_eq!(
            (response.status(), &response.body[..]),
            (200, &b"ok\n"[..]),
            "stream {id}"
        );
    }
    // Their bytes given back: behind 16 more stalled downloads, 8 such
    // streams wait again, none refused.
    let again: Vec<u32> = (0..16).map(|i| 51 + 2 * i).collect();
    for &id in &again {
        h2.get(id, "GET", "/export.csv?rows=1000000&mode=pipeline");
    }
    let waiting_again: Vec<u32> = (0..8).map(|i| 83 + 2 * i).collect();
    for &id in &waiting_again {
        h2.get(id, "GET", &long);
    }
    h2.send_frame(PING, 0, 0, b"all read");
    let frames = h2.frames_until(|f| f.iter().any(|f| f.kind == PING), Duration::ZERO);
    assert_eq!(resets(&frames), [], "{}", summary(&frames));
    for &id in &again {
        h2.send_frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes());
    }
    let responses = read_responses(&mut h2, &waiting_again, false);
    assert!(responses.iter().all(|r| r.status() == 200), "{responses:?}");
    drop(h2);
    back_to_idle(server.addr(), &idle, "streams waiting with long targets");
}

/// The bytes waiting are bounded inclusively: behind 16 stalled
/// downloads, eight streams of exactly an eighth of the 64 KiB each (a
/// 4,091-byte target, counted once as path and query, once in the log
/// line "GET … HTTP/2": 2 × 4,082 + 28 = 8,192 bytes) all wait, none
/// refused. One the client cancels makes room at once: a ninth like them,
/// sent in the same write as the cancel, waits too. All are answered once
/// the downloads are cancelled.
#[test]
fn streams_waiting_may_hold_exactly_their_bound_in_bytes() {
    let (server, idle) = warmed_server(&["--rate-grace", "60s"]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let downloads = sixteen_stalled_downloads(&mut h2);
    let eighth = format!("/healthz?{}", "q".repeat(4_082));
    for id in (33..=47).step_by(2) {
        h2.get(id, "GET", &eighth);
    }
    h2.send_frame(PING, 0, 0, b"all read");
    let frames = h2.frames_until(|f| f.iter().any(|f| f.kind == PING), Duration::ZERO);
    assert_eq!(resets(&frames), [], "{}", summary(&frames));
    let mut out = Vec::new();
    frame(&mut out, RST_STREAM, 0, 47, &CANCEL.to_be_bytes());
    let block = request_block("GET", &eighth);
    frame(&mut out, HEADERS, END_HEADERS | END_STREAM, 49, &block);
    frame(&mut out, PING, 0, 0, b"replaced");
    h2.send(&out);
    let frames = h2.frames_until(|f| f.iter().any(|f| f.kind == PING), Duration::ZERO);
    assert_eq!(resets(&frames), [], "{}", summary(&frames));
    for &id in &downloads {
        h2.send_frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes());
    }
    let waiting = [33, 35, 37, 39, 41, 43, 45, 49];
    let responses = read_responses(&mut h2, &waiting, false);
    assert!(responses.iter().all(|r| r.status() == 200), "{responses:?}");
    drop(h2);
    back_to_idle(server.addr(), &idle, "streams waiting at their bound");
}

/// A stream the client cancels as it waits for its turn leaves the table
/// with its turn: once the streams answered are cancelled too, nothing is
/// open, and the connection, idle, is sent away at `--header-timeout`
/// (GOAWAY NO_ERROR naming the last stream taken on), as any with no
/// stream. Left in the table, it would keep the connection busy forever.
#[test]
fn a_stream_cancelled_as_it_waits_leaves_its_connection_idle() {
    let args = ["--rate-grace", "60s", "--header-timeout", "1s"];
    let (server, idle) = warmed_server(&args);
    let mut h2 = H2::connect(server.addr(), &[]);
    let downloads = sixteen_stalled_downloads(&mut h2);
    h2.get(33, "GET", "/healthz");
    h2.send_frame(RST_STREAM, 0, 33, &CANCEL.to_be_bytes());
    for &id in &downloads {
        h2.send_frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes());
    }
    let goaway = h2.next_of(GOAWAY);
    assert_eq!((goaway.error_code(), goaway.last_stream()), (NO_ERROR, 33));
    drop(h2);
    back_to_idle(server.addr(), &idle, "a stream cancelled as it waited");
}

/// Asserts that the connection of a first flight of 100 streams goes on:
/// a request on stream 201 is answered; and that the server is back at
/// `idle` once it closes.
fn goes_on_after_the_flight(mut h2: H2, server: &Server, idle: &Idle) {
    h2.get(201, "GET", "/healthz");
    let after = &read_responses(&mut h2, &[201], true)[0];
    assert_eq!((after.status(), &after.body[..]), (200, &b"ok\n"[..]));
    drop(h2);
    back_to_idle(server.addr(), idle, "a first flight of 100 requests");
}

/// A client that reads, if a moment late, is not flooding: 100 PINGs in
/// its first flight, sent behind a download it has not read, and read
/// 1.5 s late, are each acknowledged, in order: at 64 answers owed the
/// reader waits for the writer (`State::room_for_answers`) instead of
/// calling them a flood. The reader's wait has no
/// clock of its own: only the writer's deadline for its stalled write,
/// here a long grace, could end it.
#[test]
fn pings_owed_to_a_client_that_reads_late_are_not_a_flood() {
    let (server, idle) = warmed_server(&["--rate-grace", "30s"]);
    let mut h2 = behind_a_blocked_writer(&server);
    let mut pings = Vec::new();
    for i in 0..100u64 {
        frame(&mut pings, PING, 0, 0, &i.to_be_bytes());
    }
    h2.send(&pings);
    // Held, the reader waits for the writer to take an answer: one that
    // looked again and again instead would burn a CPU for as long as its
    // client reads nothing. Held 1.5 s, it uses next to none: CPU time, not
    // a time taken, so a loaded machine cannot make a waiting reader fail.
    let before = reader_cpu_ticks(&server);
    thread::sleep(Duration::from_millis(1500));
    let used = reader_cpu_ticks(&server) - before;
    assert!(used < 5, "the reader, held, used {used} ticks of CPU");
    h2.send_frame(SETTINGS, ACK, 0, &[]);
    h2.send_frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes());
    let all_acked = |f: &[Frame]| f.iter().filter(|f| f.kind == PING).count() >= 100;
    let frames = h2.frames_until(all_acked, Duration::from_millis(200));
    let pings: Vec<&Frame> = frames.iter().filter(|f| f.kind == PING).collect();
    assert!(pings.iter().all(|f| f.flags == 0x1), "{}", summary(&frames));
    let acked: Vec<&[u8]> = pings.iter().map(|f| &f.payload[..]).collect();
    let sent: Vec<[u8; 8]> = (0..100u64).map(u64::to_be_bytes).collect();
    assert_eq!(acked, sent.iter().map(|p| &p[..]).collect::<Vec<_>>());
    assert!(
        frames.iter().all(|f| f.kind != GOAWAY),
        "{}",
        summary(&frames)
    );
    drop(h2);
    back_to_idle(server.addr(), &idle, "a first flight of 100 PINGs");
}

/// Clock ticks of CPU, user and system, used by the server's one
/// connection thread (its HTTP/2 reader): `/proc/PID/task/TID/stat`.
fn reader_cpu_ticks(server: &Server) -> u64 {
    wait_until("one connection thread", IDLE_TIMEOUT, || {
        let found = threads_named(server.pid(), "conn-").ok()?;
        let [(_, task)] = found.as_slice() else {
            return None;
        };
        let stat = std::fs::read_to_string(task.join("stat")).ok()?;
        // After the name, in parentheses: from the state on, utime and
        // stime are the 12th and 13th.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
        Some(ticks(11)? + ticks(12)?)
    })
}

/// A connection whose client has sent the start of a first flight and
/// read nothing: its windows wide open, and a download of stream 1 that
/// has filled both kernels' buffers, so that the writer is blocked in a
/// write until the client reads.
fn behind_a_blocked_writer(server: &Server) -> H2 {
    let mut h2 = H2::raw(server.addr());
    let mut flight = PREFACE.to_vec();
    let settings = settings_payload(&[(INITIAL_WINDOW_SIZE, HUGE)]);
    frame(&mut flight, SETTINGS, 0, 0, &settings);
    let window = (HUGE - 65_535).to_be_bytes();
    frame(&mut flight, WINDOW_UPDATE, 0, 0, &window);
    let download = request_block("GET", "/export.csv?rows=7000000&mode=pipeline");
    frame(&mut flight, HEADERS, END_HEADERS | END_STREAM, 1, &download);
    h2.send(&flight);
    until_the_writer_is_blocked(server, &h2);
    h2
}

/// A stream is closed for the client once it reads its END_STREAM (RFC
/// 9113 §5.1), and it may open another in its place at once: a hundred
/// streams kept open, each replaced the moment it ends, are never refused,
/// whether the END_STREAM came on DATA or, for a HEAD, on HEADERS: a
/// stream stops counting against the limit once the writer has taken the
/// frame with its END_STREAM, not once that write returns.
#[test]
fn a_stream_that_ended_makes_room_at_once() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect_wide_open(server.addr());
    const TOTAL: u32 = 600;
    let path = |id: u32| {
        format!(
            "/export.csv?rows=1&mode={}",
            MODES[id as usize / 2 % MODES.len()]
        )
    };
    let method = |id: u32| if id % 10 == 9 { "HEAD" } else { "GET" };
    let mut next = 1;
    while next < 2 * 100 {
        h2.get(next, method(next), &path(next));
        next += 2;
    }
    let (mut ended, mut refused) = (0, Vec::new());
    while ended + refused.len() < TOTAL as usize {
        let frame = h2.next_frame(Duration::from_secs(10));
        let frame = frame.expect("every stream ends or is reset");
        let done = match frame.kind {
            DATA | HEADERS => frame.flags & END_STREAM != 0,
            RST_STREAM => {
                refused.push((frame.stream, frame.error_code()));
                true
            }
            _ => false,
        };
        ended += usize::from(done && frame.kind != RST_STREAM);
        if done && next < 2 * TOTAL {
            h2.get(next, method(next), &path(next));
            next += 2;
        }
    }
    assert_eq!(refused, [], "(stream, code) reset of {TOTAL}");
    drop(h2);
    back_to_idle(server.addr(), &idle, "600 streams, a hundred at a time");
}

/// MadeYouReset (CVE-2025-8671): the client does not reset its streams, it
/// makes the server reset them, with a WINDOW_UPDATE of 0 on each. Those
/// count as cancellations too.
#[test]
fn resets_the_client_provokes_count_as_cancellations() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let flood = streams_and(1, WINDOW_UPDATE, &[0; 4]);
    let (goaway, most_threads) = flood_until_goaway(&mut h2, &server, &idle, flood);
    assert_eq!(goaway.error_code(), ENHANCE_YOUR_CALM, "{goaway:?}");
    assert!(
        most_threads <= MOST_THREADS_PER_CONNECTION,
        "{most_threads} threads during the flood"
    );
    drop(h2);
    back_to_idle(server.addr(), &idle, "2,000 provoked resets");
}

/// The GOAWAY that ends a flood arrives although the client is still
/// sending, and reads only 200 ms after its flood, through a small window.
/// Closing with input unread is a reset, which throws away what the kernel
/// has not sent yet: the server waits for its last frames to be
/// acknowledged first (`server/graceful_close.rs` tests that wait to the
/// byte; whether these frames are held back long enough to be lost without
/// it depends on the kernel's timing).
#[test]
fn the_goaway_that_ends_a_flood_is_not_lost_to_the_reset() {
    let (server, idle) = warmed_server(&[]);
    let timeout = Duration::from_secs(5);
    let socket = backpressure::connect_with_receive_buffer(server.addr(), 4096, timeout).unwrap();
    let mut h2 = H2::over(socket).start(&[]);
    // The flood goes from its own thread: the server stops reading it once
    // it has decided, so the write blocks until the server closes.
    let mut flooder = h2.socket.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let _ = flooder.write_all(&streams_and(1, WINDOW_UPDATE, &[0; 4]));
    });
    thread::sleep(Duration::from_millis(200));
    // Up to 10 s for each frame until the GOAWAY, then until the reset.
    let ended = |f: &[Frame]| f.iter().any(|f| f.kind == GOAWAY);
    let frames = h2.frames_until(ended, Duration::from_millis(100));
    let goaway = frames.iter().find(|f| f.kind == GOAWAY);
    let kinds: Vec<u8> = frames.iter().map(|f| f.kind).collect();
    let count = frames.len();
    assert!(goaway.is_some(), "no GOAWAY in {count} frames: {kinds:?}");
    assert_eq!(goaway.map(Frame::error_code), Some(ENHANCE_YOUR_CALM));
    drop(h2);
    flood.join().unwrap();
    back_to_idle(server.addr(), &idle, "a flood still being sent");
}

/// Each stream served earns a cancellation back: a client that lets as
/// many streams finish as it cancels is never cut, however many it
/// cancels in all. Here three rounds of 150 cancelled in a row, then 150
/// served, 50 at a time: 450 cancelled, more than twice the limit of 200,
/// and never more than 150 of them not yet earned back.
#[test]
fn a_client_that_cancels_now_and_then_is_never_cut() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let mut next = 1;
    let mut id = || {
        next += 2;
        next - 2
    };
    for round in 0..3 {
        for _ in 0..150 {
            let cancelled = id();
            h2.get(cancelled, "GET", "/export.csv?rows=1000000&mode=bounded");
            h2.send_frame(RST_STREAM, 0, cancelled, &CANCEL.to_be_bytes());
        }
        for _ in 0..3 {
            let served: Vec<u32> = (0..50).map(|_| id()).collect();
            served.iter().for_each(|&id| h2.get(id, "GET", "/healthz"));
            for response in read_responses(&mut h2, &served, true) {
                assert_eq!(response.body, b"ok\n", "round {round}: {response:?}");
            }
        }
    }
    drop(h2);
    back_to_idle(server.addr(), &idle, "cancellations earned back");
}

/// The bound is exact: 200 streams cancelled in a row, none finished, are
/// tolerated (a PING is still answered); the 201st ends the connection.
#[test]
fn the_two_hundred_and_first_net_cancellation_ends_the_connection() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let cancel = |h2: &mut H2, id: u32| {
        h2.get(id, "GET", "/export.csv?rows=1000000&mode=bounded");
        h2.send_frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes());
    };
    for i in 0..200 {
        cancel(&mut h2, 2 * i + 1);
    }
    h2.send_frame(PING, 0, 0, b"still on");
    let pong = h2.next_of(PING);
    assert_eq!((pong.flags, &pong.payload[..]), (0x1, &b"still on"[..]));
    cancel(&mut h2, 401);
    assert_eq!(h2.goaway_code(), ENHANCE_YOUR_CALM);
    drop(h2);
    back_to_idle(server.addr(), &idle, "201 cancellations");
}

/// RST_STREAM stops a `buffer` stream at once, mid-render: the render is
/// that stream's producer, and no write tells it the client has gone. A
/// witness export starts rendering first, half the size; the one cancelled
/// after it gives its thread and its budget back while the witness still
/// renders (no HEADERS of the witness yet), which it could not do by
/// rendering to its end. Rendered to the end, it held a stream-thread slot
/// and 220 MB of the budget for seconds in a debug build.
#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "timed by a debug build's render: the 109 MB witness renders in 50 ms in release"
)]
fn a_cancelled_buffer_stream_stops_rendering_at_once() {
    const BUDGET: &str = "backpressure_buffer_budget_used_bytes";
    const QUEUED: &str = "backpressure_queued_bytes{mode=\"buffer\"}";
    let (server, idle) = warm(Server::start_logged(&[]));
    let addr = server.addr();
    let (witness_rows, cancelled_rows) = (2_000_000, 4_000_000);
    let witness = reference_csv_len(witness_rows) as f64;
    let both = witness + reference_csv_len(cancelled_rows) as f64;
    let charged = |bytes: f64| move || (metrics(addr).value(BUDGET) == bytes).then_some(());
    let mut h2 = H2::connect(addr, &[]);
    let export = |rows| format!("/export.csv?rows={rows}&mode=buffer");
    h2.get(1, "GET", &export(witness_rows));
    wait_until("the witness to start", IDLE_TIMEOUT, charged(witness));
    h2.get(3, "GET", &export(cancelled_rows));
    wait_until("the second export to start", IDLE_TIMEOUT, charged(both));
    h2.send_frame(RST_STREAM, 0, 3, &CANCEL.to_be_bytes());
    // Left: the connection's reader and writer, and the witness's thread.
    let threads = idle.threads + 3.0;
    let m = wait_until("the cancelled stream to end", IDLE_TIMEOUT, || {
        let m = metrics(addr);
        let gone = m.value(BUDGET) == witness && m.value("process_threads") == threads;
        gone.then_some(m)
    });
    let frames = h2.frames_until_quiet(Duration::from_millis(1));
    assert!(
        !frames.iter().any(|f| f.kind == HEADERS),
        "the witness was answered before the cancelled render stopped: {}",
        summary(&frames)
    );
    // Nothing of the witness sent, nothing of the cancelled one held.
    assert_eq!(m.value(QUEUED), witness, "only the witness is queued");
    let line = server.log_line("the cancelled stream's line", |l| {
        l.contains("rows=4000000")
    });
    assert!(line.contains(" - mode=buffer body_bytes=0 "), "{line}");
    assert!(line.ends_with(" end=client-abort"), "{line}");
    drop(h2);
    back_to_idle(addr, &idle, "a cancelled buffer render");
}

/// `unbounded` over HTTP/2, its stream's window shut: the producer stops
/// at `--max-buffered-bytes`, and its refusal resets the stream at once
/// (RST_STREAM INTERNAL_ERROR), counted as the buffer cap's abort, as it
/// wakes a blocked writer over HTTP/1.1. Left waiting for a window that
/// never opens, the stream's thread would hold the whole capped queue
/// until the send timeout, a minute here, and reset it with CANCEL; the
/// raw client waits 10 s for a frame.
#[test]
fn an_unbounded_stream_is_reset_at_once_at_the_per_response_cap() {
    let caps = [
        "--max-buffered-bytes",
        "2m",
        "--send-timeout",
        "60s",
        "--rate-grace",
        "60s",
    ];
    let (server, idle) = warmed_server(&caps);
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, 0)]);
    h2.get(1, "GET", "/export.csv?rows=1200000&mode=unbounded");
    let rst = h2.next_of(RST_STREAM);
    assert_eq!((rst.stream, rst.error_code()), (1, INTERNAL_ERROR));
    drop(h2);
    let m = back_to_idle(server.addr(), &idle, "an unbounded stream at its cap");
    assert_eq!(m.aborts("unbounded", "buffer-cap"), 1.0);
}

/// A client that never reads the answers it asks for: with its receive
/// window full (a download it does not read), each stream error it makes
/// queues a RST_STREAM the writer cannot send. At 64 the reader reads no
/// further, and the rest of the flood waits in the client's own socket,
/// instead of the queue growing with every frame; the connection is one
/// stalled write, cut by the writer's deadline as any slow reader's.
#[test]
fn answers_the_client_never_reads_are_bounded() {
    const FLOOD: u32 = 2_000;
    // A long grace: nothing is cut for being slow while the flood is sent.
    let (server, idle) = warmed_server(&["--rate-grace", "60s"]);
    let mut h2 = H2::connect_wide_open(server.addr());
    h2.get(1, "GET", "/export.csv?rows=7000000&mode=pipeline");
    // Until the writer is blocked: the server's socket holds bytes the
    // client's closed window will not take (its kernel queue), and the body
    // stopped moving. Only then can answers pile up unsent. At least the
    // server's TCP_NOTSENT_LOWAT (16 KiB) unsent, and the same bytes 200 ms
    // later: a writer that is only starved of CPU on a busy machine also
    // stops moving, and may have just filled its socket, but over loopback
    // with an open window the kernel delivers that queue without it.
    until_the_writer_is_blocked(&server, &h2);
    // A request with an uppercase field name is malformed (RFC 9113
    // §8.2.1): a stream error, so a RST_STREAM each, on a new stream each
    // (more errors on a stream already reset are ignored). More of them
    // than the two kernels' buffers could take as answers, in case the
    // writer had a moment of room left.
    let uppercase = header_block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/healthz"),
        ("User-Agent", "x"),
    ]);
    let mut flood = Vec::new();
    for i in 0..FLOOD {
        frame(
            &mut flood,
            HEADERS,
            END_HEADERS | END_STREAM,
            3 + 2 * i,
            &uppercase,
        );
    }
    // From a thread of its own: once the server stops reading, the write
    // waits for as long as the client does not read, which is the point.
    let mut flooder = h2.socket.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let _ = flooder.write_all(&flood);
    });
    // Nothing is read: reading would make room for the answers, and the
    // flood would be answered after all. The answers queued (counted as
    // they are) stop at 64 and stay there.
    let queued = |server: &Server| {
        let series = "backpressure_http2_rst_streams_sent_total{code=\"PROTOCOL_ERROR\"}";
        metrics(server.addr()).value(series)
    };
    wait_until("64 answers queued", IDLE_TIMEOUT, || {
        Some(queued(&server)).filter(|&n| n >= 64.0)
    });
    let at_64 = queued(&server);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(queued(&server), at_64, "answers queued while none was read");
    // 64 queued, and any the writer got out before it was blocked for good:
    // never the whole flood.
    assert!(
        (64.0..80.0).contains(&at_64),
        "{at_64} answers queued of {FLOOD}"
    );
    drop(h2);
    flood.join().unwrap();
    back_to_idle(server.addr(), &idle, "a flood of unread answers");
}

/// Waits until the writer of `h2`'s connection, sending a pipeline export,
/// is blocked (see `answers_the_client_never_reads_are_bounded`).
fn until_the_writer_is_blocked(server: &Server, h2: &H2) {
    let client = h2.socket.local_addr().unwrap();
    let sent = "backpressure_body_bytes_sent_total{mode=\"pipeline\"}";
    let (mut last_sent, mut last_queue) = (0.0, 0);
    wait_until_with("the writer to be blocked", IDLE_TIMEOUT, || {
        thread::sleep(Duration::from_millis(200));
        let now = metrics(server.addr()).value(sent);
        let table = backpressure::read_tcp_table().map_err(|e| e.to_string())?;
        // Both ends, not the client's alone: `/proc/net/tcp` also lists
        // sockets in TIME_WAIT, and a server that closed a connection in
        // the last minute (an earlier test's, each `/metrics` scrape) left
        // one whose remote end is a port the kernel may have given this
        // client since. Found first, its empty queue reads as a writer
        // never blocked, for the whole wait.
        let server_socket = table
            .iter()
            .find(|s| s.local == server.addr() && s.remote == client);
        let queue = server_socket.map_or(0, |s| s.tx_queue);
        let blocked = queue >= 16 * 1024 && queue == last_queue && now > 0.0 && now == last_sent;
        (last_sent, last_queue) = (now, queue);
        blocked
            .then_some(())
            .ok_or(format!("{now} bytes sent, {server_socket:?}"))
    });
}

/// A stream whose window never opens is reset once its hand-off has
/// waited for the send timeout; the connection goes on.
#[test]
fn a_stream_without_window_is_reset_at_the_send_timeout() {
    let (timeout, what) = (Duration::from_secs(1), "a stream without window");
    stalled_until_the_send_timeout(timeout, &[], what, |h2| {
        // Stream 1 spent the connection's window too: some back, for "ok\n".
        h2.window_update(0, 100);
        h2.get(3, "GET", "/healthz");
        let response = &read_responses(h2, &[3], true)[0];
        assert_eq!((response.status(), &response.body[..]), (200, &b"ok\n"[..]));
    });
}

/// The same stall with the stream's own window wide open: the connection's
/// window, shared by every stream, is the one that is shut. A client that
/// opens stream windows and never the connection's reads nothing too, and
/// is cut at the send timeout as well, not left to the minimum rate's 5 s
/// grace, as a stall clock that looked at the stream's window alone would
/// leave it. At a 2 s send timeout, whose look (200 ms) is twice `LATE`
/// (`hand_off.rs`): a writer that, a stall waiting for its second look,
/// slept a whole look instead of LATE would take its own wake for one
/// LATE (the process stopped), start every stall again, and never cut.
#[test]
fn a_stream_stalled_on_the_connection_window_is_reset_at_the_send_timeout() {
    let settings = [(INITIAL_WINDOW_SIZE, HUGE)];
    let (timeout, what) = (Duration::from_secs(2), "a stream without connection window");
    stalled_until_the_send_timeout(timeout, &settings, what, |_| {});
}

/// The RST_STREAMs with CANCEL the server has sent.
const CANCELS_SENT: &str = "backpressure_http2_rst_streams_sent_total{code=\"CANCEL\"}";

/// Asks for an export on a connection opened with `settings` whose client
/// then gives no window back, and checks that stream 1 is reset at the
/// send timeout (`timeout`, whole seconds) and counted so; `then` uses the
/// connection after.
fn stalled_until_the_send_timeout(
    timeout: Duration,
    settings: &[(u16, u32)],
    what: &str,
    then: impl FnOnce(&mut H2),
) {
    let flag = format!("{}s", timeout.as_secs());
    let (server, idle) = warmed_server(&["--send-timeout", &flag]);
    let mut h2 = H2::connect(server.addr(), settings);
    // Timed from before the request: the server's stall clock starts
    // after it, so the reset can never come sooner than the timeout.
    let started = Instant::now();
    h2.get(1, "GET", "/export.csv?rows=1000000&mode=bounded");
    let rst = h2.next_of(RST_STREAM);
    let took = started.elapsed();
    assert_eq!((rst.stream, rst.error_code()), (1, CANCEL), "{what}");
    // Not before the timeout (a server that reset at once would pass an
    // upper bound alone), and within a tenth of it and `LATE` (100 ms,
    // `hand_off.rs`) more, as the writer looks ten times per timeout and
    // cuts at a second look LATE after the first past it: 1.2 s at 1 s;
    // 900 ms more leaves a loaded machine room, and is short of twice the
    // timeout and of the minimum rate's 5 s grace.
    assert!(took >= timeout, "{what}: reset after {took:?}");
    assert!(
        took < timeout + Duration::from_millis(900),
        "{what}: reset after {took:?}"
    );
    // Counted as it was queued, before it was written.
    let cancels = metrics(server.addr()).value(CANCELS_SENT);
    assert_eq!(cancels, 1.0, "{what}: its RST_STREAM counted");
    then(&mut h2);
    drop(h2);
    let m = back_to_idle(server.addr(), &idle, what);
    let reason = "backpressure_aborts_total{mode=\"bounded\",reason=\"send-timeout\"}";
    assert_eq!(m.value(reason), 1.0, "{what}: cut by the stall rule");
}

/// ... but a stream waiting its turn is not stalled: eight downloads with
/// windows of their own share a connection window the client opens 16 KiB
/// at a time every 150 ms, so each gets a frame about every 1.2 s, longer
/// than the 1 s send timeout, while the connection never stops; for 2.5 s,
/// two turns each, the first one behind the 65,535 bytes spent at once.
/// None is cut: a frame another stream got is one this stream could have
/// had (a writer that did not count it so cuts them within that span). Nor
/// merely left alone, which no reset would tell: each is sent DATA in its
/// turn, the window opened is spent to the byte, and the connection
/// answers a PING at the end.
#[test]
fn streams_waiting_their_turn_for_the_connection_window_are_not_stalled() {
    let (server, idle) = warmed_server(&["--send-timeout", "1s", "--min-rate", "1k"]);
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, HUGE)]);
    let streams: Vec<u32> = (0..8).map(|i| 2 * i + 1).collect();
    for &id in &streams {
        h2.get(id, "GET", "/export.csv?rows=1000000&mode=bounded");
    }
    let (started, mut opened) = (Instant::now(), Instant::now());
    let (mut frames, mut granted) = (Vec::new(), 65_535);
    while started.elapsed() < Duration::from_millis(2500) {
        if opened.elapsed() >= Duration::from_millis(150) {
            h2.window_update(0, 16_384);
            granted += 16_384;
            opened = Instant::now();
        }
        frames.extend(h2.next_frame(Duration::from_millis(10)));
    }
    // Asked while the last window opened is still being spent: answered
    // long before the send timeout could stall a stream, once the client
    // opens no more.
    h2.send_frame(PING, 0, 0, b"still on");
    let (data_before, pong) = (data_of(&frames), |f: &Frame| f.kind == PING);
    let rest = |f: &[Frame]| data_before + data_of(f) >= granted && f.iter().any(pong);
    frames.extend(h2.frames_until(rest, Duration::ZERO));
    let what = summary(&frames);
    assert_eq!(
        resets(&frames),
        [],
        "streams cut while the connection went on: {what}"
    );
    assert_eq!(
        data_of(&frames),
        granted,
        "the window opened, spent: {what}"
    );
    for id in &streams {
        let sent = frames.iter().filter(|f| f.kind == DATA && f.stream == *id);
        assert!(sent.count() > 0, "stream {id} was sent nothing: {what}");
    }
    let pongs: Vec<&Frame> = frames.iter().filter(|f| pong(f)).collect();
    assert_eq!(pongs.len(), 1, "{what}");
    assert_eq!(
        (pongs[0].flags, &pongs[0].payload[..]),
        (0x1, &b"still on"[..])
    );
    assert!(!frames.iter().any(|f| f.kind == GOAWAY), "{what}");
    drop(h2);
    back_to_idle(server.addr(), &idle, "eight streams taking turns");
}

/// The bytes of every DATA frame among `frames`.
fn data_of(frames: &[Frame]) -> usize {
    let data = frames.iter().filter(|f| f.kind == DATA);
    data.map(|f| f.payload.len()).sum()
}

/// A window opened a byte at a time is a trickle: each hand-off must be
/// written within max(grace, 16 KiB ÷ --min-rate), as any HTTP/1.1 write:
/// here max(1 s, 2 s), the rate's term the larger, for a window opened
/// about 20 bytes a second (a byte each look, a look every 50 ms). At 4k,
/// 4 s, the test took twice as long to prove the same.
#[test]
fn a_window_opened_a_byte_at_a_time_is_cut_at_the_minimum_rate() {
    let args = ["--min-rate", "8k", "--rate-grace", "1s"];
    let (server, idle) = warmed_server(&args);
    let mut h2 = H2::connect(server.addr(), &[]);
    h2.get(1, "GET", "/export.csv?rows=1000000&mode=bounded");
    let rst = wait_until("stream 1's reset", IDLE_TIMEOUT, || {
        h2.window_update(0, 1);
        h2.window_update(1, 1);
        let frame = h2.next_frame(Duration::from_millis(200))?;
        (frame.kind == RST_STREAM).then_some(frame)
    });
    assert_eq!((rst.stream, rst.error_code()), (1, CANCEL));
    drop(h2);
    let m = back_to_idle(server.addr(), &idle, "the trickle");
    assert_eq!(
        m.value("backpressure_aborts_total{mode=\"bounded\",reason=\"min-rate\"}"),
        1.0
    );
}

/// The data dribble (CVE-2019-9511): a client that opens one stream's
/// window a byte at a time, each byte once the last has come, keeps the
/// minimum rate and is never cut, so what each of its one-byte frames
/// costs the server is the attack. A frame that neither completes its
/// stream's hand-off nor ends a stream changes nothing any stream thread
/// waits for: it must wake none of them, the dribbled stream's own
/// included (docs/http2.md, "The data dribble", has what each wake cost).
/// Counted exactly, in each stream thread's voluntary context switches
/// (one per wait it goes back to): a stream whose window stays shut, and
/// the dribbled one, across 300 one-byte frames.
#[test]
fn a_one_byte_frame_wakes_no_stream_thread() {
    // Time enough that no stream is cut while the test dribbles.
    let (server, idle) = warmed_server(&["--rate-grace", "30s"]);
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, 0)]);
    for stream in [1, 3] {
        h2.get(stream, "GET", "/export.csv?rows=1000000&mode=pipeline");
    }
    let before = voluntary_switches_settled(&server, STREAM, 2);
    let frames = 300;
    for n in 0..frames {
        h2.window_update(1, 1);
        let frame = h2.next_of(DATA);
        assert_eq!((frame.stream, frame.payload.len()), (1, 1), "frame {n}");
    }
    let woken = voluntary_switches(&server, STREAM, 2) - before;
    assert!(
        woken < frames / 10,
        "{woken} stream-thread waits for {frames} one-byte frames"
    );
    for stream in [1, 3] {
        h2.send_frame(RST_STREAM, 0, stream, &CANCEL.to_be_bytes());
    }
    drop(h2);
    back_to_idle(server.addr(), &idle, "the dribble");
}

/// Waits, `limit` at most, until the server has `count` threads whose
/// names begin with `prefix`, failing the test that waits for `what` if it
/// never has.
fn threads_come_to(server: &Server, prefix: &str, count: usize, limit: Duration, what: &str) {
    wait_until(what, limit, || {
        let threads = threads_named(server.pid(), prefix).ok()?;
        (threads.len() == count).then_some(())
    });
}

/// A stream thread waiting for window is woken by its stream's reset
/// (`State::cancel`, `State::reset`) and leaves at once, not at its
/// hand-off's deadline, 30 s on at this grace: a thread slot and a
/// producer held that long for a stream already closed. Stream 1 reset by
/// its client, stream 3 by the 1 s send timeout: each one's thread gone
/// within 10 s of its RST_STREAM, a third of the deadline it would wait
/// for, however loaded the machine.
#[test]
fn a_reset_stream_waiting_for_window_lets_its_thread_go_at_once() {
    let args = ["--send-timeout", "1s", "--rate-grace", "30s"];
    let (server, idle) = warmed_server(&args);
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, 0)]);
    let gone = |thread: &str, what: &str| {
        threads_come_to(&server, thread, 0, Duration::from_secs(10), what);
    };
    h2.get(1, "GET", "/export.csv?rows=1000000&mode=pipeline");
    // Its thread waits for window (`hand_off.rs`), no longer starting.
    voluntary_switches_settled(&server, "h2-stream-1", 1);
    h2.send_frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes());
    gone("h2-stream-1", "stream 1's thread, reset by its client");
    h2.get(3, "GET", "/export.csv?rows=1000000&mode=pipeline");
    let rst = h2.next_of(RST_STREAM);
    assert_eq!((rst.stream, rst.error_code()), (3, CANCEL));
    gone(
        "h2-stream-3",
        "stream 3's thread, reset at the send timeout",
    );
    drop(h2);
    back_to_idle(server.addr(), &idle, "two streams reset waiting for window");
}

/// A RST_STREAM naming a stream already closed cancels nothing and is
/// ignored (RFC 9113 §5.1), and a client may send as many as it likes:
/// none may wake a stream thread, or a flood of them would wake every
/// waiting stream per frame. Counted as in
/// `a_one_byte_frame_wakes_no_stream_thread`: 15 streams waiting for
/// window, 300 resets of a stream answered before.
#[test]
fn a_reset_of_a_closed_stream_wakes_no_stream_thread() {
    let (server, idle) = warmed_server(&["--rate-grace", "30s"]);
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, 0)]);
    // Answered whole without window: a HEAD's HEADERS end it.
    h2.get(1, "HEAD", "/healthz");
    let end = h2.next_of(HEADERS);
    assert_eq!((end.stream, end.flags & END_STREAM), (1, END_STREAM));
    let waiting: Vec<u32> = (1..=15).map(|n| 1 + 2 * n).collect();
    for &stream in &waiting {
        h2.get(stream, "GET", "/export.csv?rows=1000000&mode=pipeline");
    }
    // Stream 1's thread gone, the 15 waiting.
    let before = voluntary_switches_settled(&server, STREAM, waiting.len());
    let resets = 300;
    let mut flood = Vec::new();
    for _ in 0..resets {
        frame(&mut flood, RST_STREAM, 0, 1, &CANCEL.to_be_bytes());
    }
    frame(&mut flood, PING, 0, 0, b"after it");
    h2.send(&flood);
    // The PING's ACK: every reset before it has been read.
    let ack = h2.next_of(PING);
    assert_eq!(ack.payload, b"after it");
    let woken = voluntary_switches(&server, STREAM, waiting.len()) - before;
    assert!(
        woken < resets / 10,
        "{woken} stream-thread waits for {resets} resets of a closed stream"
    );
    for &stream in &waiting {
        h2.send_frame(RST_STREAM, 0, stream, &CANCEL.to_be_bytes());
    }
    drop(h2);
    back_to_idle(server.addr(), &idle, "the resets of a closed stream");
}

/// A stream the client reset stays in the table while its thread waits
/// for the writer's write of its frame (`hand_off.rs`): more resets of it
/// cancel nothing, and must wake no stream thread, as those of a stream
/// answered and gone must not. The writer is blocked in stream 1's frame
/// (its client reads nothing), 5 streams wait for theirs to be written;
/// stream 1 is reset, then reset 300 times more, one at a time, and a new
/// stream's thread says every reset before it has been read. Counted as in
/// `a_one_byte_frame_wakes_no_stream_thread`.
#[test]
fn a_reset_of_a_stream_still_leaving_wakes_no_stream_thread() {
    let (server, idle) = warmed_server(&["--rate-grace", "60s"]);
    let mut h2 = H2::connect_wide_open(server.addr());
    h2.get(1, "GET", "/export.csv?rows=7000000&mode=pipeline");
    until_the_writer_is_blocked(&server, &h2);
    // Named h2-stream-3…, apart from stream 1's thread and the witness's.
    let waiting = [31, 33, 35, 37, 39];
    for &stream in &waiting {
        h2.get(stream, "GET", "/export.csv?rows=1000000&mode=pipeline");
    }
    h2.send_frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes());
    let before = voluntary_switches_settled(&server, "h2-stream-3", waiting.len());
    let leaving = threads_named(server.pid(), "h2-stream-1").unwrap();
    assert_eq!(leaving.len(), 1, "stream 1's thread waits for the writer");
    // Each sent alone, so that a wake-up it caused is not lost in the next.
    let resets = 300;
    for _ in 0..resets {
        h2.send_frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes());
        thread::sleep(Duration::from_millis(1));
    }
    h2.get(41, "GET", "/healthz");
    threads_come_to(
        &server,
        "h2-stream-41",
        1,
        IDLE_TIMEOUT,
        "the witness's thread",
    );
    let woken = voluntary_switches(&server, "h2-stream-3", waiting.len()) - before;
    assert!(
        woken < resets / 10,
        "{woken} stream-thread waits for {resets} resets of a reset stream"
    );
    drop(h2);
    back_to_idle(server.addr(), &idle, "the resets of a reset stream");
}

/// A stream's end changes nothing another stream's thread waits for: it
/// frees a place among those answered, which only a stream waiting its
/// turn could take. Eight `/healthz` streams end beside 8 `buffer`
/// exports without window, whose first 16 KiB hand-offs have 16 s: four
/// given a window, complete (their HEADERS, their DATA with END_STREAM),
/// four without, cut at the minimum rate's grace (their HEADERS,
/// RST_STREAM CANCEL), all their threads gone. The 8 threads must not
/// wake, counted as in `a_one_byte_frame_wakes_no_stream_thread`: with one
/// condition variable for all, each end would wake every waiting stream
/// thread, for each frame written and for its leaving the table.
#[test]
fn a_stream_that_ends_wakes_no_other_stream_thread() {
    let args = ["--min-rate", "1k", "--rate-grace", "200ms"];
    let (server, idle) = warmed_server(&args);
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, 0)]);
    // Named h2-stream-1…, apart from the eight that end (h2-stream-2…):
    // sixteen open, as many as are answered at once.
    let waiting = [1, 11, 13, 15, 17, 19, 101, 103];
    for &stream in &waiting {
        h2.get(stream, "GET", "/export.csv?rows=2000&mode=buffer");
    }
    let before = voluntary_switches_settled(&server, "h2-stream-1", waiting.len());
    let ending: Vec<u32> = (0..8).map(|n| 201 + 2 * n).collect();
    for &stream in &ending {
        h2.get(stream, "GET", "/healthz");
        if stream % 4 == 1 {
            h2.window_update(stream, 100);
        }
    }
    let mut ended = Vec::new();
    while ended.len() < ending.len() {
        let frame = h2.next_frame(IDLE_TIMEOUT).expect("each stream's end");
        let how = match frame.kind {
            DATA if frame.flags & END_STREAM != 0 => 1,
            RST_STREAM => frame.error_code(),
            _ => continue,
        };
        ended.push((frame.stream, how));
    }
    ended.sort_unstable();
    let expected = ending
        .iter()
        .map(|&s| (s, if s % 4 == 1 { 1 } else { CANCEL }));
    assert_eq!(
        ended,
        expected.collect::<Vec<_>>(),
        "(stream, END_STREAM or reset)"
    );
    threads_come_to(
        &server,
        "h2-stream-2",
        0,
        IDLE_TIMEOUT,
        "their threads gone",
    );
    let woken = voluntary_switches(&server, "h2-stream-1", waiting.len()) - before;
    assert_eq!(woken, 0, "stream-thread waits for eight streams' ends");
    for &stream in &waiting {
        h2.send_frame(RST_STREAM, 0, stream, &CANCEL.to_be_bytes());
    }
    drop(h2);
    back_to_idle(
        server.addr(),
        &idle,
        "eight streams ended beside eight waiting",
    );
}

/// A WINDOW_UPDATE that grows a window already open cannot give the
/// writer a frame it did not have: a writer with a frame to send is not
/// waiting. It must not wake the writer, since a client may send such
/// updates without end, each a system call if it woke the writer.
/// Counted as the stream threads' waits are: the writer of a connection
/// with no stream, across 300 updates of its open window, each sent alone.
#[test]
fn a_window_update_to_an_open_window_wakes_no_writer() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let before = voluntary_switches_settled(&server, WRITER, 1);
    let updates = 300;
    for _ in 0..updates {
        h2.window_update(0, 1);
        thread::sleep(Duration::from_millis(1));
    }
    // The PING's ACK: every update before it has been read. Writing it
    // takes the writer one wait, perhaps two.
    h2.send_frame(PING, 0, 0, b"after it");
    let ack = h2.next_of(PING);
    assert_eq!(ack.payload, b"after it");
    let woken = voluntary_switches(&server, WRITER, 1) - before;
    assert!(
        woken < updates / 10,
        "{woken} writer waits for {updates} updates of an open window"
    );
    drop(h2);
    back_to_idle(server.addr(), &idle, "the window updates");
}

/// The names of a connection's stream threads and of its writer.
const STREAM: &str = "h2-stream-";
const WRITER: &str = "h2-writer";

/// The waits the server's `count` threads named `prefix…` went back to so
/// far: each one's voluntary context switches, summed. (Not
/// `thread_waits_in`, of tests/common, which names the system call one
/// thread waits in now.)
fn voluntary_switches(server: &Server, prefix: &str, count: usize) -> u64 {
    let threads = threads_named(server.pid(), prefix).unwrap();
    assert_eq!(threads.len(), count, "{threads:?}");
    let status = |(_, task): &(String, std::path::PathBuf)| {
        std::fs::read_to_string(task.join("status")).unwrap_or_default()
    };
    let waits = |s: String| number_after::<u64>(&s, "voluntary_ctxt_switches:\t", "\n");
    threads.iter().map(status).map(waits).sum()
}

/// [`voluntary_switches`] once `count` such threads are there and wait: the
/// count has not moved for 100 ms.
fn voluntary_switches_settled(server: &Server, prefix: &str, count: usize) -> u64 {
    let mut last = None;
    wait_until("the threads waiting", IDLE_TIMEOUT, || {
        thread::sleep(Duration::from_millis(100));
        let threads = threads_named(server.pid(), prefix).ok()?;
        if threads.len() != count {
            return None;
        }
        let now = voluntary_switches(server, prefix, count);
        (last.replace(now) == Some(now)).then_some(now)
    })
}

/// A connection whose client stops reading is cut by its writer at the
/// minimum rate, with a TCP reset, and that reset is counted once: the
/// writer and the connection's thread both know why it ended.
#[test]
fn a_connection_too_slow_is_reset_and_counted_once() {
    let (server, idle) = warmed_server(&["--min-rate", "1m", "--rate-grace", "1s"]);
    let mut h2 = H2::connect_wide_open(server.addr());
    h2.get(1, "GET", "/export.csv?rows=7000000&mode=bounded");
    let reset = "backpressure_resets_total{reason=\"min-rate\"}";
    wait_until("the connection's reset", IDLE_TIMEOUT, || {
        metrics(server.addr()).get(reset).filter(|&n| n > 0.0)
    });
    // The client, reading at last, gets what its kernel holds, then the
    // reset: a FIN would look like a connection that ended as it should.
    let ended = h2.read_to_the_end();
    let a_reset = Some(std::io::ErrorKind::ConnectionReset);
    assert_eq!(ended, a_reset, "how the client saw the connection end");
    drop(h2);
    let m = back_to_idle(server.addr(), &idle, "a connection too slow");
    assert_eq!(m.value(reset), 1.0);
}

/// ... and so is the reset of a connection that had already ended with a
/// protocol error, whose GOAWAY sat behind a body the client never read:
/// the cut, not the error, is then how the connection ended.
#[test]
fn a_goaway_stuck_behind_an_unread_body_ends_in_a_counted_reset() {
    let (server, idle) = warmed_server(&["--min-rate", "1m", "--rate-grace", "1s"]);
    let timeout = Duration::from_secs(5);
    let socket = backpressure::connect_with_receive_buffer(server.addr(), 4096, timeout).unwrap();
    let mut h2 = H2::over(socket).start_wide_open();
    h2.get(1, "GET", "/export.csv?rows=7000000&mode=bounded");
    // Until the body stops moving: the writer is blocked in a write.
    let sent = "backpressure_body_bytes_sent_total{mode=\"bounded\"}";
    let mut last = 0.0;
    wait_until("the writer to be blocked", IDLE_TIMEOUT, || {
        thread::sleep(Duration::from_millis(200));
        let now = metrics(server.addr()).value(sent);
        let blocked = now > 0.0 && now == last;
        last = now;
        blocked.then_some(())
    });
    // CONTINUATION without HEADERS: a connection error, answered with a
    // GOAWAY the writer cannot write while the client reads nothing.
    h2.send_frame(CONTINUATION, END_HEADERS, 1, &[]);
    let m = back_to_idle(server.addr(), &idle, "a GOAWAY stuck behind a body");
    assert_eq!(
        m.value("backpressure_resets_total{reason=\"min-rate\"}"),
        1.0
    );
    // The client, reading at last, gets what its kernel holds, then the reset.
    let ended = h2.read_to_the_end();
    let a_reset = Some(std::io::ErrorKind::ConnectionReset);
    assert_eq!(ended, a_reset, "how the client saw the connection end");
}

/// The minimum rate holds per connection: eight downloads share a
/// connection that drains at four times the rate, so each gets half the
/// rate and each 16 KiB hand-off waits for seven others, 1.75 s, longer
/// than the 1 s it would have alone. None is cut for waiting its turn.
/// The grace is also how long the client may stall (a busy machine's
/// scheduler) before a hand-off that just began is rightly cut.
#[test]
fn streams_sharing_a_connection_that_keeps_the_rate_are_not_cut() {
    let (server, idle) = warmed_server(&["--min-rate", "16k", "--rate-grace", "1s"]);
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, HUGE)]);
    let streams: Vec<u32> = (0..8).map(|i| 2 * i + 1).collect();
    // 30,615 bytes, 2 hand-offs each, the second waiting its turn behind
    // seven others; about 3 s in all at this pace.
    let rows = 600;
    for &id in &streams {
        h2.get(id, "GET", &format!("/export.csv?rows={rows}&mode=bounded"));
    }
    let limit = Duration::from_secs(30);
    let responses = read_at_paced_window(&mut h2, &streams, 4 * 16 * 1024, limit);
    for ((response, at), id) in responses.iter().zip(&streams) {
        assert_eq!(response.reset, None, "stream {id}, reset after {at:?}");
        assert!(
            response.ended,
            "stream {id}: no END_STREAM within {limit:?}"
        );
        assert_same_bytes(
            &response.body,
            &reference_csv(rows),
            &format!("stream {id}"),
        );
    }
    drop(h2);
    back_to_idle(server.addr(), &idle, "eight streams sharing the rate");
}

/// ... and waiting one's turn earns only the time the connection spent
/// sending the others: on a connection that drains at an eighth of the
/// rate, eight streams are cut about when one alone would be (at the 1 s
/// grace), not eight times later.
#[test]
fn streams_sharing_a_connection_slower_than_the_rate_are_cut() {
    let (server, idle) = warmed_server(&["--min-rate", "64k", "--rate-grace", "1s"]);
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, HUGE)]);
    let streams: Vec<u32> = (0..8).map(|i| 2 * i + 1).collect();
    for &id in &streams {
        h2.get(id, "GET", "/export.csv?rows=1000000&mode=bounded");
    }
    let limit = Duration::from_secs(30);
    let responses = read_at_paced_window(&mut h2, &streams, 8 * 1024, limit);
    for ((response, at), id) in responses.iter().zip(&streams) {
        assert_eq!(response.reset, Some(CANCEL), "stream {id}, after {at:?}");
        // At the most, a stream waits through the whole first window
        // (65,535 bytes) and then the pace: (16 KiB + 64 KiB) at the rate
        // less the pace, 1.43 s. Eight graces would be 8 s.
        let cut_at = at.unwrap_or(limit);
        assert!(
            cut_at < Duration::from_millis(4800),
            "stream {id}, cut after {cut_at:?}"
        );
    }
    drop(h2);
    let m = back_to_idle(server.addr(), &idle, "eight streams too slow");
    let cut = m.value("backpressure_aborts_total{mode=\"bounded\",reason=\"min-rate\"}");
    assert_eq!(cut, 8.0);
}

/// ... and a stream earns only what it could have had of each frame it
/// waited for. Seven streams whose window the client reopens by a byte for
/// each byte that arrives, beside an eighth it reads at four times the
/// rate, are cut as a trickle alone would be, at the 1 s grace. The fast
/// stream's hand-off takes a sixteenth of its allowance (the grace); the
/// rest is how long the client may stall. The rate is not lowered with
/// the grace, as in the test above: each trickle earns a byte of every
/// frame the other six are sent, and at a low rate those bytes alone would
/// keep it above the rate, never cut. For the same reason each trickle is
/// held to `TRICKLE_RATE`: reopened a round trip apiece, an optimised
/// build's client took 10,000 bytes a second and more on each, and the
/// others' bytes kept one above the rate, uncut (1 run in 8).
#[test]
fn a_trickled_stream_earns_no_time_from_a_fast_one() {
    /// Bytes a second a trickle is sent at the most, on any machine: each
    /// then earns at most 36,000 a second from the other six, under the
    /// rate, and its 16 KiB hand-off takes 2.7 s, so the grace decides. A
    /// trickle credited whole frames of the fast stream as it waited (its
    /// window a byte) would earn 256 KiB a second, and never be cut.
    const TRICKLE_RATE: f64 = 6_000.0;
    let (server, idle) = warmed_server(&["--min-rate", "64k", "--rate-grace", "1s"]);
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, 1)]);
    h2.window_update(0, HUGE - 65_535);
    let trickled: Vec<u32> = (1..8).map(|i| 2 * i + 1).collect();
    for id in std::iter::once(1).chain(trickled.iter().copied()) {
        h2.get(id, "GET", "/export.csv?rows=1000000&mode=bounded");
    }
    let (started, rate) = (Instant::now(), 4 * 64 * 1024);
    let mut granted = 1;
    let mut cut = BTreeMap::new();
    // Each trickle's window reopened so far (the first byte its SETTINGS),
    // and the trickles whose byte came and whose window waits its turn.
    let mut reopened: BTreeMap<u32, f64> = trickled.iter().map(|&id| (id, 1.0)).collect();
    let mut owed = BTreeSet::new();
    while cut.len() < trickled.len() && started.elapsed() < Duration::from_secs(10) {
        let due = (rate as f64 * started.elapsed().as_secs_f64()) as u32;
        if due >= granted + 16_384 {
            h2.window_update(1, due - granted);
            granted = due;
        }
        let allowed = TRICKLE_RATE * started.elapsed().as_secs_f64();
        owed.retain(|id| match reopened.get_mut(id) {
            Some(sent) if *sent < allowed => {
                h2.window_update(*id, 1);
                *sent += 1.0;
                false
            }
            _ => true,
        });
        let Some(frame) = h2.next_frame(Duration::from_millis(1)) else {
            continue;
        };
        match frame.kind {
            DATA if frame.stream != 1 && !frame.payload.is_empty() => {
                owed.insert(frame.stream);
            }
            RST_STREAM => {
                cut.entry(frame.stream)
                    .or_insert((frame.error_code(), started.elapsed()));
            }
            _ => {}
        }
    }
    for id in &trickled {
        let (code, at) = cut.get(id).copied().unwrap_or((0, started.elapsed()));
        assert_eq!(code, CANCEL, "stream {id}, after {at:?}");
        // About 1 s here; eight graces would be 8 s.
        assert!(
            at < Duration::from_millis(4800),
            "stream {id} cut after {at:?}"
        );
    }
    assert!(!cut.contains_key(&1), "the fast stream was cut");
    drop(h2);
    back_to_idle(server.addr(), &idle, "seven trickles beside a fast stream");
}

/// The minimum rate judges the client, not this process: two streams of a
/// connection whose window the client opens at 1 MiB/s, sixteen times the
/// rate, while the server is stopped (SIGSTOP; a frozen container or a
/// debugger alike) for longer than a hand-off's allowance. The client
/// meanwhile took every byte sent and opened more window, unread: the
/// time was not its own, and both downloads go on to their end: neither
/// is cut as the server wakes (RST_STREAM CANCEL, `end=min-rate`), the
/// window the client sent still unread.
#[test]
fn a_pause_of_the_server_is_not_its_streams_slowness() {
    // A hand-off's allowance, 16 KiB and the other stream's turn at
    // 64 KiB/s, is the 1 s grace; the pause, 1.5 s: past the allowance by
    // five times `LATE` (`hand_off.rs`), so that a hand-off that counted it
    // would be cut as the server wakes.
    let (server, idle) = warmed_server(&["--min-rate", "64k", "--rate-grace", "1s"]);
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, HUGE)]);
    let streams = [1, 3];
    // 1.1 MB each: about a second before the pause and a second after it.
    let rows = 20_000;
    for id in streams {
        h2.get(id, "GET", &format!("/export.csv?rows={rows}&mode=bounded"));
    }
    let limit = Duration::from_secs(30);
    let reader = thread::spawn(move || read_at_paced_window(&mut h2, &streams, 1 << 20, limit));
    thread::sleep(Duration::from_millis(800));
    server.signal("STOP");
    thread::sleep(Duration::from_millis(1500));
    server.signal("CONT");
    let responses = reader.join().expect("the reading thread");
    for ((response, at), id) in responses.iter().zip(streams) {
        assert_eq!(response.reset, None, "stream {id}, reset after {at:?}");
        assert!(
            response.ended,
            "stream {id}: no END_STREAM within {limit:?}"
        );
        let what = format!("stream {id}");
        assert_same_bytes(&response.body, &reference_csv(rows), &what);
    }
    let m = back_to_idle(server.addr(), &idle, "the paused streams");
    assert_eq!(m.aborts("bounded", "min-rate"), 0.0);
}

/// A pause that ends just after a hand-off's deadline is no more the
/// client's than a longer one: the stream's thread, woken a moment late
/// (less than `LATE`, `hand_off.rs`), must not take the window the client
/// sent in time, still unread as the server wakes, for none. A window of
/// one byte dates the hand-off (its first DATA frame); the client opens
/// the rest 0.5 s into the 1 s allowance, while the server is stopped,
/// which it stays until 50 ms past the deadline.
#[test]
fn a_pause_that_ends_just_past_a_deadline_is_not_the_streams_slowness() {
    let (server, idle) = warmed_server(&["--min-rate", "64k", "--rate-grace", "1s"]);
    let rows = 20_000;
    let (mut h2, first, handed_off) = one_byte_of_stream_1(&server, rows);
    let at = |ms| sleep_until(handed_off, ms);
    at(300);
    server.signal("STOP");
    at(500);
    h2.window_update(1, HUGE - 1);
    at(1050);
    server.signal("CONT");
    stream_1_arrives_whole(&mut h2, &first, rows);
    drop(h2);
    let m = back_to_idle(server.addr(), &idle, "a pause just past a deadline");
    assert_eq!(m.aborts("bounded", "min-rate"), 0.0);
}

/// Stream 1 of a `bounded` export of `rows`, asked on a connection whose
/// streams get a one-byte window and the connection all it may have: its
/// first DATA frame, that one byte, and when it came. The stream then has
/// bytes and no window, which the pause tests below stop the server on.
fn one_byte_of_stream_1(server: &Server, rows: u64) -> (H2, Frame, Instant) {
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, 1)]);
    h2.window_update(0, HUGE - 65_535);
    h2.get(1, "GET", &format!("/export.csv?rows={rows}&mode=bounded"));
    let first = h2.next_of(DATA);
    let came = Instant::now();
    assert_eq!((first.stream, first.payload.len()), (1, 1));
    (h2, first, came)
}

/// Sleeps until `ms` after `from`: a test's schedule, kept to its marks
/// however long the steps between them took.
fn sleep_until(from: Instant, ms: u64) {
    let then = from + Duration::from_millis(ms);
    thread::sleep(then.saturating_duration_since(Instant::now()));
}

/// Stream 1 read to its end once the server woke: never reset, and its
/// bytes, its `first` DATA frame's included, the export's of `rows`.
fn stream_1_arrives_whole(h2: &mut H2, first: &Frame, rows: u64) {
    let response = read_responses(h2, &[1], false).remove(0);
    assert_eq!(response.reset, None, "stream 1 cut as the server woke");
    let mut body = first.payload.clone();
    body.extend_from_slice(&response.body);
    assert_same_bytes(&body, &reference_csv(rows), "stream 1");
}

/// Nor is a pause longer than `--send-timeout` a stall of the client's: a
/// stream that looked windowless as the server stopped, its client opening
/// the window while the server was stopped, must not be cut as the writer
/// wakes, before the reader has read that window. A window of one byte
/// leaves the stream with bytes and none; the pause, 1.25 s against a
/// 1 s send timeout (and a 10 s grace, which no look comes near): the
/// stall the writer saw before it, and the pause, add up to the timeout
/// and over five times `LATE` more, so a writer that counted the pause
/// would cut as it wakes.
#[test]
fn a_pause_longer_than_the_send_timeout_is_not_a_stall() {
    let args = ["--send-timeout", "1s", "--rate-grace", "10s"];
    let (server, idle) = warmed_server(&args);
    let rows = 20_000;
    let (mut h2, first, _) = one_byte_of_stream_1(&server, rows);
    // The writer's stall look (a tenth of the send timeout, 100 ms) has
    // seen the stream without window, more than once.
    thread::sleep(Duration::from_millis(300));
    server.signal("STOP");
    thread::sleep(Duration::from_millis(200));
    h2.window_update(1, HUGE - 1);
    thread::sleep(Duration::from_millis(1050));
    server.signal("CONT");
    stream_1_arrives_whole(&mut h2, &first, rows);
    drop(h2);
    let m = back_to_idle(server.addr(), &idle, "a pause past the send timeout");
    assert_eq!(m.aborts("bounded", "send-timeout"), 0.0);
}

/// Nor is a pause that ends just after a stall reached `--send-timeout`:
/// the writer, woken a moment late (less than `LATE`, `hand_off.rs`),
/// must not cut the stream before the reader has read the window the
/// client sent during the pause. A window of one byte leaves the stream
/// with bytes and none; at a 100 ms send timeout the writer looks every
/// 10 ms, and the stall reaches the timeout 100 to 120 ms after that
/// first byte came, while the server is stopped (50 ms to 125 ms). Six
/// times over: as the server wakes, its reader may read before the writer
/// looks, which no cut would show. A try whose stop came after 90 ms (a
/// loaded machine) may have come after the stall reached the timeout,
/// when a cut is right: it proves nothing, and is made again.
#[test]
fn a_pause_that_ends_just_past_the_send_timeout_is_not_a_stall() {
    let args = ["--send-timeout", "100ms", "--rate-grace", "10s"];
    let (server, idle) = warmed_server(&args);
    let (mut proved, mut late) = (0, 0);
    while proved < 6 {
        assert!(late < 6, "{late} tries stopped the server too late");
        // About 55 KB: all of it fits the kernels' buffers, so that no
        // write waits on this test's reading.
        let rows = 1000;
        let (mut h2, first, came) = one_byte_of_stream_1(&server, rows);
        let at = |ms| sleep_until(came, ms);
        at(50);
        server.signal("STOP");
        let in_time = came.elapsed() < Duration::from_millis(90);
        h2.window_update(1, HUGE - 1);
        at(125);
        server.signal("CONT");
        if !in_time {
            late += 1;
            continue;
        }
        stream_1_arrives_whole(&mut h2, &first, rows);
        proved += 1;
    }
    let m = back_to_idle(server.addr(), &idle, "pauses just past the send timeout");
    assert!(m.aborts("bounded", "send-timeout") <= f64::from(late));
}

/// Nor does a stall count the time the server was stopped: a stream
/// without window for 150 ms before a 600 ms pause, whose client opens
/// it 200 ms after the server wakes, was stalled 350 ms of its own, not
/// the 950 ms past the 500 ms send timeout that would cut it LATE after
/// the wake (`hand_off.rs`), 100 ms before the window came. The writer,
/// woken LATE, starts every stall again.
#[test]
fn a_stall_does_not_count_the_time_the_server_was_stopped() {
    let args = ["--send-timeout", "500ms", "--rate-grace", "10s"];
    let (server, idle) = warmed_server(&args);
    let rows = 1000;
    let (mut h2, first, came) = one_byte_of_stream_1(&server, rows);
    let at = |ms| sleep_until(came, ms);
    at(150);
    server.signal("STOP");
    at(750);
    server.signal("CONT");
    at(950);
    h2.window_update(1, HUGE - 1);
    stream_1_arrives_whole(&mut h2, &first, rows);
    drop(h2);
    let m = back_to_idle(server.addr(), &idle, "a stall across a pause");
    assert_eq!(m.aborts("bounded", "send-timeout"), 0.0);
}

/// A pause is no part of a stall even when the client is truly stalled: a
/// stream left without window before, during and after the server was
/// stopped is cut, but a whole send timeout after the server resumes, not
/// as its writer wakes. Woken `LATE` (100 ms, `hand_off.rs`), the writer
/// starts every stall again; the two looks `LATE` apart alone, which the
/// tests above hold, would cut this stream 100 ms after the wake. The
/// pause, 1.25 s against a 1 s send timeout (and a 10 s grace, which no
/// look comes near); the cut is asked to come 750 ms after the wake at
/// the earliest, three quarters of the allowance as at any timeout: over
/// seven times the 100 ms the looks alone would give, and 250 ms short of
/// the whole timeout for the test's `kill` to return after the signal.
/// A loaded machine only makes the cut later.
#[test]
fn a_stall_is_timed_again_from_the_end_of_a_pause() {
    let args = ["--send-timeout", "1s", "--rate-grace", "10s"];
    cut_a_whole_allowance_after_a_pause(&args, "send-timeout");
}

/// The same for a stream thread's hand-off: its allowance (the 1 s grace,
/// at a rate that makes 16 KiB take a quarter of a second, under a 60 s
/// send timeout) starts again when it looks `LATE`, so a stream left
/// without window is cut by the minimum rate 1 s after the server resumes,
/// not at its first two looks.
#[test]
fn a_hand_offs_allowance_is_timed_again_from_the_end_of_a_pause() {
    let args = [
        "--send-timeout",
        "60s",
        "--min-rate",
        "64k",
        "--rate-grace",
        "1s",
    ];
    cut_a_whole_allowance_after_a_pause(&args, "min-rate");
}

/// Stream 1 of a bounded export, its window one byte and never opened, is
/// seen without window, the server stopped for 1.25 s (past its 1 s
/// allowance) and resumed: the reset must come no sooner than 750 ms
/// after, counted as `reason`.
fn cut_a_whole_allowance_after_a_pause(args: &[&str], reason: &str) {
    let (server, idle) = warmed_server(args);
    let (mut h2, _, _) = one_byte_of_stream_1(&server, 20_000);
    // Both clocks have begun on the stream without window (the writer
    // looks every 100 ms).
    thread::sleep(Duration::from_millis(300));
    server.signal("STOP");
    thread::sleep(Duration::from_millis(1250));
    server.signal("CONT");
    let resumed = Instant::now();
    let rst = h2.next_of(RST_STREAM);
    let after = resumed.elapsed();
    assert_eq!((rst.stream, rst.error_code()), (1, CANCEL), "{reason}");
    assert!(
        after >= Duration::from_millis(750),
        "{reason}: cut {after:?} after the server resumed, the pause counted"
    );
    drop(h2);
    let m = back_to_idle(server.addr(), &idle, "a stall cut after a pause");
    assert_eq!(m.aborts("bounded", reason), 1.0);
}

/// The connection, its stream done, is given GOAWAY NO_ERROR after
/// --header-timeout without a new request: not before it, and well before
/// twice it. The reader looks every 100 ms, so its clock may start that
/// much before the stream ends; the rest of the room, over a second, is a
/// loaded machine's.
#[test]
fn an_idle_connection_is_sent_away() {
    // Long enough that a stall between the handshake and the request
    // (the connection is idle then too, and rightly sent away) takes over
    // two seconds.
    const TIMEOUT: Duration = Duration::from_secs(2);
    let (server, idle) = warmed_server(&["--header-timeout", "2s"]);
    let mut h2 = H2::connect(server.addr(), &[]);
    // Never sooner than the timeout after the request: the server's idle
    // clock starts once the stream is taken on, after it was sent.
    let asked = Instant::now();
    h2.get(1, "GET", "/healthz");
    assert_eq!(read_responses(&mut h2, &[1], true)[0].status(), 200);
    // Never as late as twice it after the answer came: a stall before the
    // answer (the request's own, or the test's) is no part of the idle time.
    let answered = Instant::now();
    let goaway = h2.goaway();
    let (since_asked, since_answered) = (asked.elapsed(), answered.elapsed());
    assert_eq!(goaway.error_code(), NO_ERROR);
    assert_eq!(goaway.last_stream(), 1);
    assert!(
        since_asked >= TIMEOUT,
        "sent away {since_asked:?} after the request"
    );
    assert!(
        since_answered < TIMEOUT * 7 / 4,
        "sent away {since_answered:?} after the answer"
    );
    drop(h2);
    back_to_idle(server.addr(), &idle, "an idle connection");
}

/// An HTTP/2 connection's first request is due `--header-timeout` after
/// accept, as an HTTP/1.1 head is: the time its preface took counts. A
/// client that sends the preface just before the deadline is sent away at
/// it, not given the timeout again from then (twice it in all).
#[test]
fn the_first_request_is_due_a_header_timeout_after_accept() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let (server, idle) = warm(Server::start_logged(&["--header-timeout", "2s"]));
    let mut h2 = H2::raw(server.addr());
    let connected = Instant::now();
    std::thread::sleep(TIMEOUT * 4 / 5);
    h2.send(PREFACE);
    h2.send_frame(SETTINGS, 0, 0, &[]);
    let goaway = h2.goaway();
    let after = connected.elapsed();
    assert_eq!(goaway.error_code(), NO_ERROR);
    // At the deadline, give or take the reader's 100 ms look; twice it
    // would be 3.6 s.
    assert!(
        (TIMEOUT..TIMEOUT * 3 / 2).contains(&after),
        "sent away {after:?} after accept"
    );
    let client = format!("{} \"PRI * HTTP/2.0\" ", h2.socket.local_addr().unwrap());
    let line = server.log_line(&client, |l| l.contains(&client));
    assert!(line.ends_with(" end=header-timeout"), "{line}");
    drop(h2);
    back_to_idle(server.addr(), &idle, "a preface sent late");
}

/// A connection that asks nothing within `--header-timeout` is sent away
/// (GOAWAY NO_ERROR) and logged `end=header-timeout`, as an HTTP/1.1 one
/// that sends no head is: one whose client preface stops at its 24 bytes,
/// without the SETTINGS frame that completes it (RFC 9113 §3.4), and one
/// whose preface is whole but that opens no stream. One that asked, then
/// went idle, ended well: `end=complete`.
#[test]
fn a_connection_that_asks_nothing_in_time_is_a_header_timeout() {
    let (server, idle) = warm(Server::start_logged(&["--header-timeout", "1s"]));
    let mut bare = H2::raw(server.addr());
    bare.send(PREFACE);
    let greeted = H2::connect(server.addr(), &[]);
    let mut asked = H2::connect(server.addr(), &[]);
    asked.get(1, "HEAD", "/healthz");
    let cases = [
        (bare, "header-timeout"),
        (greeted, "header-timeout"),
        (asked, "complete"),
    ];
    for (mut h2, end) in cases {
        let client = format!("{} \"PRI * HTTP/2.0\" ", h2.socket.local_addr().unwrap());
        assert_eq!(h2.goaway_code(), NO_ERROR, "{client}");
        let line = server.log_line(&client, |l| l.contains(&client));
        assert!(line.ends_with(&format!(" end={end}")), "{line}");
    }
    back_to_idle(server.addr(), &idle, "connections that asked nothing");
}

/// A reader held back by answers the client leaves unread still keeps its
/// clock: a client that opens no stream, sends 10,000 PINGs through a
/// small receive buffer and reads none of the acknowledgements is sent
/// away at `--header-timeout` (1 s), as one that sends nothing is, while
/// it still reads nothing: its GOAWAY is decided then (the counter moves
/// as it is queued), not once the writer's deadlines have cut the stalled
/// write (10 s, the send timeout here) or the client has read its way
/// through every acknowledgement. Read afterwards, the GOAWAY comes after
/// the acknowledgements of the PINGs taken before it, far fewer than
/// 10,000, and nothing after it.
#[test]
fn a_reader_held_by_unread_answers_still_keeps_its_clock() {
    let args = [
        "--header-timeout",
        "1s",
        "--send-timeout",
        "10s",
        "--rate-grace",
        "30s",
    ];
    let (server, idle) = warm(Server::start_logged(&args));
    let goaways = "backpressure_http2_goaways_sent_total{code=\"NO_ERROR\"}";
    let before = metrics(server.addr()).value(goaways);
    let timeout = Duration::from_secs(5);
    let socket = backpressure::connect_with_receive_buffer(server.addr(), 4096, timeout).unwrap();
    let mut h2 = H2::over(socket).start(&[]);
    let client = format!("{} \"PRI * HTTP/2.0\" ", h2.socket.local_addr().unwrap());
    let mut pings = Vec::new();
    for i in 0..10_000u64 {
        frame(&mut pings, PING, 0, 0, &i.to_be_bytes());
    }
    // From a thread of its own: the server stops reading the flood once
    // the answers owed reach the limit, and the write may block until it
    // closes.
    let mut flooder = h2.socket.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let _ = flooder.write_all(&pings);
    });
    wait_until(
        "the idle GOAWAY, nothing read",
        Duration::from_secs(8),
        || (metrics(server.addr()).value(goaways) == before + 1.0).then_some(()),
    );
    let mut acks = 0;
    let goaway = loop {
        match h2.next_frame(Duration::from_secs(10)) {
            Some(f) if f.kind == PING => acks += 1,
            Some(f) if f.kind == GOAWAY => break f,
            Some(_) => {}
            None => panic!("no GOAWAY after {acks} acknowledgements"),
        }
    };
    assert_eq!((goaway.error_code(), goaway.last_stream()), (NO_ERROR, 0));
    assert!(acks < 10_000, "{acks}: every PING was taken first");
    let after = h2.next_frame(Duration::from_secs(10));
    assert!(after.is_none(), "a frame after the GOAWAY: {after:?}");
    let line = server.log_line(&client, |l| l.contains(&client));
    assert!(line.ends_with(" end=header-timeout"), "{line}");
    drop(h2);
    flood.join().unwrap();
    back_to_idle(server.addr(), &idle, "a PING flood left unread");
}

/// The shutdown sends away a connection that has asked nothing yet, well
/// within its `--header-timeout`: GOAWAY NO_ERROR, and `end=complete`.
/// It was not late; the server was leaving.
#[test]
fn a_connection_the_shutdown_sends_away_before_it_asks_is_no_header_timeout() {
    let server = Server::start_logged(&["--header-timeout", "30s"]);
    let mut h2 = H2::connect(server.addr(), &[]);
    // The reader has taken the preface and SETTINGS: the PING's answer.
    h2.send_frame(PING, 0, 0, b"greeted!");
    assert_eq!(h2.next_of(PING).payload, b"greeted!");
    server.signal("TERM");
    assert_eq!(h2.goaway_code(), NO_ERROR);
    let client = format!("{} \"PRI * HTTP/2.0\" ", h2.socket.local_addr().unwrap());
    let line = server.log_line(&client, |l| l.contains(&client));
    assert!(line.ends_with(" end=complete"), "{line}");
}

/// A connection that went away, its streams written, waits for the client
/// to acknowledge their last bytes (`http2.rs`'s
/// `a_client_goaway_lets_a_download_read_at_its_pace_finish`), but no
/// longer than `--send-timeout`, however much the kernel still holds: a
/// client that sends GOAWAY and reads nothing more is let go as one that
/// acknowledges nothing while a write waits, not after that many bytes at
/// the minimum rate (a minute here), nor at once: the tail is waited for
/// the send timeout (2 s, under the 5 s grace), then the close's 500 ms.
#[test]
fn a_client_gone_away_that_reads_nothing_is_let_go_after_the_send_timeout() {
    // Without the mark the kernel takes what the client's does not: the
    // stream is written, its last 100 KB or more unacknowledged.
    let flags = ["--notsent-lowat", "off", "--send-timeout", "2s"];
    let (server, idle) = warmed_server(&flags);
    let window = 1 << 24;
    let mut h2 = H2::connect(server.addr(), &[(INITIAL_WINDOW_SIZE, window)]);
    h2.window_update(0, window);
    let started = Instant::now();
    h2.get(1, "GET", "/export.csv?rows=5000&mode=bounded");
    h2.send_frame(GOAWAY, 0, 0, &[0; 8]);
    back_to_idle(
        server.addr(),
        &idle,
        "a client gone away that reads nothing",
    );
    let took = started.elapsed();
    // Not before the send timeout: the tail was waited for.
    assert!(took >= Duration::from_secs(2), "let go after {took:?}");
    // The send timeout, the writer's looks (a tenth of it each), the
    // close's 500 ms, and over a second of room for a loaded machine;
    // twice the timeout, and the close, would be 4.5 s.
    assert!(took < Duration::from_secs(4), "let go after {took:?}");
    drop(h2);
}

/// `--header-timeout` bounds a connection with no stream, counted from its
/// last one, even one taken on and answered between two of the reader's
/// looks at the table (which the 2,000 frames sent behind the request
/// make likely): each of twelve connections asks 0.7 s in and must not be
/// sent away until 1 s after that, not 0.3 s after its request, as a
/// clock left running from the stream before would have it.
#[test]
fn a_stream_answered_between_two_looks_restarts_the_idle_clock() {
    let (server, idle) = warmed_server(&["--header-timeout", "1s"]);
    // Two rounds of twelve: a round catches a server whose clock such a
    // stream does not restart about three times in four, so two catch it
    // nearly always.
    for _ in 0..2 {
        let early: Vec<Duration> = thread::scope(|scope| {
            let connections: Vec<_> = (0..12)
                .map(|_| scope.spawn(|| request_between_looks(server.addr())))
                .collect();
            let after = connections.into_iter().map(|c| c.join().unwrap());
            after.filter(|&t| t < Duration::from_millis(900)).collect()
        });
        assert!(
            early.is_empty(),
            "sent away soon after a request: {early:?}"
        );
    }
    back_to_idle(server.addr(), &idle, "requests between looks");
}

/// The streams the server reset are remembered, but only the last
/// `RECENT_RESETS` (128) of them: a connection that lives long holds a
/// bounded list, not one entry per stream it ever reset. A HEADERS on a
/// stream reset recently is a late frame, ignored; on one reset long ago
/// it is a stream id that did not grow, a protocol error.
#[test]
fn only_the_last_128_resets_are_remembered() {
    let (server, idle) = warmed_server(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let block = request_block("GET", "/healthz");
    // 134 requests that announce a body: each is answered 400, and its
    // stream, which the client left open, reset with NO_ERROR.
    let streams: Vec<u32> = (0..134).map(|i| 2 * i + 1).collect();
    let announcing = body_request_block("GET", "/healthz");
    for &id in &streams {
        h2.send_frame(HEADERS, END_HEADERS, id, &announcing);
        let response = &read_responses(&mut h2, &[id], true)[0];
        assert_eq!(response.status(), 400, "stream {id}");
        let rst = h2.next_of(RST_STREAM);
        assert_eq!((rst.stream, rst.error_code()), (id, NO_ERROR));
    }
    // The 128th from the last (stream 13) is remembered: its late HEADERS
    // is ignored, and the connection goes on.
    h2.send_frame(HEADERS, END_HEADERS | END_STREAM, 13, &block);
    h2.get(269, "GET", "/healthz");
    let response = &read_responses(&mut h2, &[269], true)[0];
    assert_eq!(response.status(), 200);
    // The 129th from the last (stream 11) is forgotten.
    h2.send_frame(HEADERS, END_HEADERS | END_STREAM, 11, &block);
    let goaway = h2.next_frame(Duration::from_secs(5));
    let code = goaway
        .as_ref()
        .filter(|f| f.kind == GOAWAY)
        .map(Frame::error_code);
    assert_eq!(code, Some(PROTOCOL_ERROR), "{goaway:?}");
    drop(h2);
    back_to_idle(server.addr(), &idle, "134 resets");
}

/// Connects, asks for /healthz 0.7 s in with 2,000 frames behind it that
/// keep the reader busy, and returns how long after the request the
/// server's GOAWAY came.
fn request_between_looks(addr: std::net::SocketAddr) -> Duration {
    let mut h2 = H2::connect(addr, &[]);
    thread::sleep(Duration::from_millis(700));
    let mut out = Vec::new();
    let block = request_block("GET", "/healthz");
    frame(&mut out, HEADERS, END_HEADERS | END_STREAM, 1, &block);
    for _ in 0..2_000 {
        frame(&mut out, WINDOW_UPDATE, 0, 0, &1u32.to_be_bytes());
    }
    // Stamped before the send: the server's clock cannot start before it,
    // and a test thread preempted after the write cannot shorten the time.
    let asked = Instant::now();
    h2.send(&out);
    assert_eq!(read_responses(&mut h2, &[1], false)[0].status(), 200);
    assert_eq!(h2.goaway().error_code(), NO_ERROR);
    asked.elapsed()
}

/// Sends `flood` from a thread of its own (the server may stop reading it
/// once it has decided, and close) while reading frames until the GOAWAY,
/// and samples the server's threads all the while, from `/proc`, so that
/// looking takes no connection. Returns the GOAWAY and the most threads
/// seen above idle. Panics if no GOAWAY comes within 30 s: a connection
/// that ends without one reads as no frame, at once, until then.
fn flood_until_goaway(h2: &mut H2, server: &Server, idle: &Idle, flood: Vec<u8>) -> (Frame, f64) {
    let mut flooder = h2.socket.try_clone().unwrap();
    let flooding = thread::spawn(move || {
        let _ = flooder.write_all(&flood);
    });
    let deadline = Instant::now() + IDLE_TIMEOUT;
    let mut most_threads: f64 = 0.0;
    let goaway = loop {
        most_threads = most_threads.max(server.threads() as f64 - idle.threads);
        match h2.next_frame(Duration::from_millis(5)) {
            Some(frame) if frame.kind == GOAWAY => break frame,
            _ if Instant::now() > deadline => panic!("no GOAWAY within {IDLE_TIMEOUT:?}"),
            _ => {}
        }
    };
    // The write ends here whether or not the server has closed.
    let _ = h2.socket.shutdown(std::net::Shutdown::Both);
    flooding.join().unwrap();
    (goaway, most_threads)
}

/// 2,000 requests for a long export, on streams `first`, `first + 2` and
/// on, each followed at once by a frame of `kind` with `payload` on its
/// stream.
fn streams_and(first: u32, kind: u8, payload: &[u8]) -> Vec<u8> {
    let block = request_block("GET", "/export.csv?rows=1000000&mode=bounded");
    let mut out = Vec::new();
    for i in 0..2_000u32 {
        let id = first + 2 * i;
        frame(&mut out, HEADERS, END_HEADERS | END_STREAM, id, &block);
        frame(&mut out, kind, 0, id, payload);
    }
    out
}
