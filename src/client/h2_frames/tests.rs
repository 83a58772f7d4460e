//! What the conversation does beyond one stream's report, through a
//! scripted server (the helpers of `h2.rs`'s tests): what a GOAWAY cuts,
//! which stream a frame's bytes count for, which windows it gives back,
//! and that DATA past one ends the run.

use std::io::{Read, Write};

use super::super::h2::tests::{
    a_head, a_head_and_ten_bytes, one_connection, options, report_of, second_asked,
    settings_acknowledged,
};
use super::super::h2::{H2Options, run};
use super::*;
use crate::http::h2::frame::{self, ErrorCode, Frame, Kind, PREFACE, flag};
use crate::http::h2::frame_buffer::FrameBuffer;
use crate::http::h2::frame_write::{self, raw_frame};

/// A GOAWAY whose last stream is stream 1 still answers stream 1
/// (RFC 9113 §6.8): only a stream above it is cut.
#[test]
fn a_goaway_that_names_the_stream_lets_it_end() {
    let mut frames = a_head_and_ten_bytes();
    frame_write::goaway(&mut frames, 1, ErrorCode::NoError, b"");
    frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
    let report = report_of(&frames);
    assert_eq!(report.failure, None, "{report:?}");
    assert!(report.first.complete, "{report:?}");
    assert_eq!(report.first.body_bytes, 11, "{report:?}");
}

/// A GOAWAY with NO_ERROR only refuses new streams: the open one goes
/// on to its end, which comes in a later read (a GOAWAY's code is
/// looked at between reads); one with any error, PROTOCOL_ERROR (1)
/// as much as the others, ends the connection at once, the stream cut:
/// its end, sent later, is never read, nor the server's close after it.
#[test]
fn only_a_goaway_with_an_error_ends_the_connection() {
    for (code, whole) in [
        (ErrorCode::NoError, true),
        (ErrorCode::ProtocolError, false),
        (ErrorCode::InternalError, false),
    ] {
        let mut first = Vec::new();
        frame_write::settings(&mut first, &[]);
        first.extend(a_head_and_ten_bytes());
        frame_write::goaway(&mut first, 1, code, b"");
        let last = raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x");
        let (url, server) = one_connection(move |mut stream| {
            let _ = stream.read(&mut [0u8; 4096]);
            stream.write_all(&first).unwrap();
            // Read by then: the GOAWAY is looked at before `last` comes.
            settings_acknowledged(&mut stream);
            let _ = stream.write_all(&last);
            std::thread::sleep(Duration::from_millis(200));
        });
        let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
        server.join().unwrap();
        assert_eq!(report.first.complete, whole, "{report:?}");
        assert_eq!(report.goaway, Some(code as u32), "{report:?}");
        assert_eq!(report.failure, None, "{report:?}");
    }
}

/// The run with `options` against a server that answers `frames` once
/// it has the preface, and what the client sent after its preface.
fn what_the_client_sent(options: &H2Options, frames: Vec<u8>) -> (H2Report, Vec<u8>) {
    let (url, server) = answering(frames);
    let report = run(&url, options, Some(Duration::from_secs(3))).unwrap();
    (report, server.join().unwrap())
}

/// A server that answers `frames` once it has the client's preface, and
/// returns what the client sent after it.
fn answering(frames: Vec<u8>) -> (HttpUrl, std::thread::JoinHandle<Vec<u8>>) {
    one_connection(move |mut stream| {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut got = vec![0; PREFACE.len()];
        stream.read_exact(&mut got).unwrap();
        stream.write_all(&frames).unwrap();
        let _ = stream.read_to_end(&mut got);
        got.split_off(PREFACE.len())
    })
}

/// [`what_the_client_sent`], its WINDOW_UPDATEs.
fn given_back(options: &H2Options, frames: Vec<u8>) -> (H2Report, Vec<(u32, u32)>) {
    let (report, sent) = what_the_client_sent(options, frames);
    let mut updates = Vec::new();
    let mut sent = FrameBuffer::with(&sent);
    while let Some((header, payload)) = sent.next_frame().unwrap() {
        if let Ok(Frame::WindowUpdate { stream, increment }) = frame::parse(&header, payload) {
            updates.push((stream, increment));
        }
    }
    (report, updates)
}

/// [`options`] with a second request, on stream 3, sent at once: the run
/// stops once its response has ended.
fn with_a_second() -> H2Options {
    H2Options {
        second: Some(("/y".into(), Duration::ZERO)),
        stop_after_second: true,
        ..options()
    }
}

/// Stream 3's bytes are given back to stream 3 and the connection,
/// not to stream 1; and what the download had when stream 3 ended is
/// what stream 1 had then, its ten bytes.
#[test]
fn the_second_streams_bytes_are_its_own() {
    let mut frames = Vec::new();
    frame_write::settings(&mut frames, &[]);
    frames.extend(a_head_and_ten_bytes());
    frames.extend(raw_frame(
        Kind::Headers as u8,
        flag::END_HEADERS,
        3,
        &[0x80 | 8],
    ));
    for i in 1..=200 {
        let flags = if i == 200 { flag::END_STREAM } else { 0 };
        frames.extend(raw_frame(Kind::Data as u8, flags, 3, &[b'y'; 256]));
    }
    let options = with_a_second();
    let (report, updates) = given_back(&options, frames);
    let second = report.second.clone().unwrap_or_default();
    assert!(second.complete, "{report:?}");
    // Told to stop after the second: its end ends the run, not the limit.
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(second.body_bytes, 200 * 256, "{report:?}");
    assert_eq!(report.first_bytes_then, Some(10), "{report:?}");
    // The connection's counts stream 1's ten bytes as well.
    assert_eq!(updates, [(0, 32_778), (3, 32_768)]);
}

/// A window larger than the default is the connection's too: one
/// WINDOW_UPDATE raises the connection's 65,535 to it, no further.
#[test]
fn a_large_window_raises_the_connections_to_it() {
    let mut frames = Vec::new();
    frame_write::settings(&mut frames, &[]);
    frames.extend(a_head());
    frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
    let options = H2Options {
        window: 1 << 20,
        ..options()
    };
    let (report, updates) = given_back(&options, frames);
    assert!(report.first.complete, "{report:?}");
    assert_eq!(updates, [(0, (1 << 20) - frame::DEFAULT_WINDOW)]);
}

/// Flow control counts a DATA frame's whole payload, padding too
/// (RFC 9113 §6.9.1), so that is what the client gives back: 128
/// padded frames of 256 bytes reach half the window, and the
/// connection and the stream each get 32,768 bytes back.
#[test]
fn padding_is_given_back_to_the_window() {
    crate::test_support::within(|| {
        let mut frames = Vec::new();
        frame_write::settings(&mut frames, &[]);
        frames.extend(a_head());
        let mut padded = vec![155];
        padded.extend_from_slice(&[b'x'; 100]);
        padded.extend_from_slice(&[0; 155]);
        for i in 1..=200 {
            let flags = if i == 200 {
                flag::PADDED | flag::END_STREAM
            } else {
                flag::PADDED
            };
            frames.extend(raw_frame(Kind::Data as u8, flags, 1, &padded));
        }
        let (report, updates) = given_back(&options(), frames);
        assert!(report.first.complete, "{report:?}");
        assert_eq!(report.first.body_bytes, 200 * 100, "{report:?}");
        assert_eq!(updates, [(0, 32_768), (1, 32_768)]);
    });
}

/// [`MAX_IDLE_FRAMES`] frames that do nothing, and then a response, is
/// an answer: the rule ends a run at the frame past the limit that does
/// nothing too, not at one that ends a stream. One idle frame more, and
/// the run ends. (The server's SETTINGS, which `report_of` sends first,
/// is one of them.)
#[test]
fn the_idle_frames_limit_counts_only_frames_that_did_nothing() {
    for (idle, answered) in [(MAX_IDLE_FRAMES, true), (MAX_IDLE_FRAMES + 1, false)] {
        // Of an unknown type, which a client ignores (RFC 9113 §4.1).
        let unknown = raw_frame(0xfa, 0, 0, b"");
        let mut frames = unknown.repeat(idle as usize - 1);
        frames.extend(raw_frame(
            Kind::Headers as u8,
            flag::END_HEADERS | flag::END_STREAM,
            1,
            &[0x80 | 8],
        ));
        let report = report_of(&frames);
        assert_eq!(report.first.complete, answered, "{idle}: {report:?}");
        assert_eq!(report.failure.is_none(), answered, "{idle}: {report:?}");
    }
}

/// SETTINGS, then stream 1's head and a 32 KiB body in 128 frames.
fn a_body_in_128_frames_of_256_bytes() -> Vec<u8> {
    let mut frames = Vec::new();
    frame_write::settings(&mut frames, &[]);
    frames.extend(a_head());
    for i in 1..=128 {
        let flags = if i == 128 { flag::END_STREAM } else { 0 };
        frames.extend(raw_frame(Kind::Data as u8, flags, 1, &[b'x'; 256]));
    }
    frames
}

/// Half a window read is given back at once, not a frame later: with
/// a window of 65,536 bytes, 128 frames of 256 bytes are half of it.
#[test]
fn exactly_half_a_window_read_is_given_back() {
    let frames = a_body_in_128_frames_of_256_bytes();
    let options = H2Options {
        window: 1 << 16,
        ..options()
    };
    let (report, updates) = given_back(&options, frames);
    assert!(report.first.complete, "{report:?}");
    assert_eq!(updates, [(0, 1), (0, 32_768), (1, 32_768)]);
}

/// `starve_first` starves stream 1 alone: the connection's window is
/// still given back, so that another stream can go on (the demo's
/// point).
#[test]
fn starving_the_first_stream_still_gives_the_connection_back() {
    let frames = a_body_in_128_frames_of_256_bytes();
    let options = H2Options {
        starve_first: true,
        ..options()
    };
    let (report, updates) = given_back(&options, frames);
    assert!(report.first.complete, "{report:?}");
    assert_eq!(updates, [(0, 32_768)]);
}

/// A GOAWAY below a stream that has already ended cuts nothing: the
/// stream is closed (RFC 9113 §5.1), and its whole body stays whole.
#[test]
fn a_goaway_after_a_streams_end_does_not_cut_it() {
    let mut frames = a_head();
    frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
    frame_write::goaway(&mut frames, 0, ErrorCode::NoError, b"");
    let report = report_of(&frames);
    assert!(report.first.complete, "{report:?}");
    assert_eq!(report.failure, None, "{report:?}");
}

/// What the client writes: its SETTINGS turn push off (RFC 9113
/// §8.4); the server's SETTINGS is acknowledged, and its ACK of the
/// client's is not (§6.5); and a server's PING is answered with an
/// ACK carrying the same data (§6.7), not a PING of its own.
#[test]
fn the_client_turns_push_off_and_acknowledges_what_it_must() {
    let mut frames = Vec::new();
    frame_write::settings(&mut frames, &[]);
    frame_write::settings_ack(&mut frames);
    frame_write::ping(&mut frames, *b"pingdata", false);
    frames.extend(a_head());
    frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
    let (report, sent) = what_the_client_sent(&options(), frames);
    assert!(report.first.complete, "{report:?}");
    let (mut push, mut pings, mut acks) = (None, Vec::new(), 0);
    let mut sent = FrameBuffer::with(&sent);
    while let Some((header, payload)) = sent.next_frame().unwrap() {
        match frame::parse(&header, payload) {
            Ok(Frame::Settings { ack: false, .. }) => {
                for pair in payload.chunks(6) {
                    if u16::from_be_bytes([pair[0], pair[1]]) == frame::setting::ENABLE_PUSH {
                        push = Some(u32::from_be_bytes([pair[2], pair[3], pair[4], pair[5]]));
                    }
                }
            }
            Ok(Frame::Settings { ack: true, .. }) => acks += 1,
            Ok(Frame::Ping { ack, data }) => pings.push((ack, data)),
            _ => {}
        }
    }
    assert_eq!(push, Some(0));
    assert_eq!(pings, [(true, *b"pingdata")]);
    assert_eq!(acks, 1, "the server's SETTINGS, and nothing else");
}

/// `bytes` of DATA on `stream` in frames of at most 16,384 bytes, the
/// last ending the stream.
fn a_body(stream: u32, bytes: usize) -> Vec<u8> {
    let mut frames = Vec::new();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(16_384);
        left -= n;
        let flags = if left == 0 { flag::END_STREAM } else { 0 };
        frames.extend(raw_frame(Kind::Data as u8, flags, stream, &vec![b'x'; n]));
    }
    frames
}

/// The server is held to the window the client gave a stream (RFC
/// 9113 §6.9.1): with 65,535 bytes and none given back, a body of
/// exactly that is whole, and one of a byte more is the server's
/// error, named as the stream's (the connection's, as short, is not
/// the one to name).
#[test]
fn data_past_a_streams_window_ends_the_run() {
    let options = H2Options {
        replenish: false,
        ..options()
    };
    for (bytes, whole) in [(65_535, true), (65_536, false)] {
        let mut frames = Vec::new();
        frame_write::settings(&mut frames, &[]);
        frames.extend(a_head());
        frames.extend(a_body(1, bytes));
        let (report, _) = given_back(&options, frames);
        assert_eq!(report.first.complete, whole, "{bytes}: {report:?}");
        let failure = report.failure.as_deref();
        let past = "FLOW_CONTROL_ERROR: 16384 bytes of DATA on stream 1, \
                    with 16383 left in stream 1's window";
        assert_eq!(failure, (!whole).then_some(past), "{bytes}: {report:?}");
    }
}

/// The connection's window holds every stream's DATA together: 48,000
/// bytes of stream 1 and more than 17,535 of stream 3, each within its
/// own window, are past the connection's 65,535.
#[test]
fn data_past_the_connections_window_ends_the_run() {
    let options = H2Options {
        replenish: false,
        ..with_a_second()
    };
    for (bytes, whole) in [(17_535, true), (17_536, false)] {
        let mut frames = Vec::new();
        frame_write::settings(&mut frames, &[]);
        frames.extend(a_head());
        for _ in 0..3 {
            frames.extend(raw_frame(Kind::Data as u8, 0, 1, &[b'x'; 16_000]));
        }
        frames.extend(raw_frame(
            Kind::Headers as u8,
            flag::END_HEADERS,
            3,
            &[0x80 | 8],
        ));
        frames.extend(a_body(3, bytes));
        let (report, _) = given_back(&options, frames);
        let second = report.second.clone().unwrap_or_default();
        assert_eq!(second.complete, whole, "{bytes}: {report:?}");
        let failure = report.failure.as_deref();
        let past = "FLOW_CONTROL_ERROR: 1152 bytes of DATA on stream 3, \
                    with 1151 left in the connection's window";
        assert_eq!(failure, (!whole).then_some(past), "{bytes}: {report:?}");
    }
}

/// What is given back is room again: a body four windows long, to a
/// client that gives back half a window at a time, is whole.
#[test]
fn a_window_given_back_is_room_again() {
    let mut frames = Vec::new();
    frame_write::settings(&mut frames, &[]);
    frames.extend(a_head());
    frames.extend(a_body(1, 4 * 65_535));
    let (report, _) = given_back(&options(), frames);
    assert_eq!(report.failure, None, "{report:?}");
    assert!(report.first.complete, "{report:?}");
    assert_eq!(report.first.body_bytes, 4 * 65_535, "{report:?}");
}

/// A stream this client never opened is idle (RFC 9113 §5.1), and no
/// server may answer on it: HEADERS, DATA or RST_STREAM there end the run,
/// on stream 3 when no second request was sent, on stream 5, and on an
/// even stream, which only a push (off) could open. A PRIORITY, which may
/// name any stream, does not.
#[test]
fn a_frame_on_a_stream_never_opened_ends_the_run() {
    let ends = flag::END_HEADERS;
    for (frame, id) in [
        (raw_frame(Kind::Headers as u8, ends, 3, &[0x80 | 8]), 3),
        (raw_frame(Kind::Data as u8, 0, 5, b"x"), 5),
        (raw_frame(Kind::RstStream as u8, 0, 2, &[0, 0, 0, 8]), 2),
        (raw_frame(Kind::Priority as u8, 0, 5, &[0, 0, 0, 0, 16]), 0),
    ] {
        let mut frames = a_head_and_ten_bytes();
        frames.extend(frame);
        frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
        let report = report_of(&frames);
        let never = format!("a frame on stream {id}, which this client never opened");
        let failure = (id != 0).then_some(never);
        assert_eq!(report.failure, failure, "{report:?}");
        assert_eq!(report.first.complete, id == 0, "{report:?}");
    }
}

/// What the download had when stream 3 ended is taken at that end,
/// once: a frame on stream 3 after it, END_STREAM or not, is no end.
#[test]
fn a_frame_after_the_second_streams_end_moves_nothing() {
    let mut frames = Vec::new();
    frame_write::settings(&mut frames, &[]);
    frames.extend(a_head_and_ten_bytes());
    let ends = flag::END_HEADERS;
    frames.extend(raw_frame(Kind::Headers as u8, ends, 3, &[0x80 | 8]));
    frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 3, b"y"));
    frames.extend(raw_frame(Kind::Data as u8, 0, 1, b"12345"));
    frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 3, b"z"));
    let options = with_a_second();
    let (report, _) = given_back(&options, frames);
    let second = report.second.clone().unwrap_or_default();
    assert!(second.complete && second.body_bytes == 1, "{report:?}");
    assert_eq!(report.first_bytes_then, Some(10), "{report:?}");
}

/// The opening announces the window it was given, within HTTP/2's range
/// (RFC 9113 §6.5.2: `--window` refuses others, the library clamps), and
/// raises the connection's window only when it is larger than the
/// default. At the default, `--window`'s own, no WINDOW_UPDATE goes: one
/// of increment 0 is a PROTOCOL_ERROR (§6.9), and [`given_back`] would
/// never see it, since such a frame does not parse.
#[test]
fn the_opening_raises_the_connections_window_only_past_the_default() {
    let url = HttpUrl::parse("http://127.0.0.1:1/x").unwrap();
    let default = frame::DEFAULT_WINDOW;
    for (asked, announced, raised) in [
        (default, default, None),
        (1000, default, None),
        (1 << 20, 1 << 20, Some((1 << 20) - default)),
    ] {
        let opening = Conversation::new(asked, true, false).opening(&url);
        let mut frames = FrameBuffer::with(opening.strip_prefix(PREFACE).unwrap());
        let (mut window, mut increments) = (None, Vec::new());
        while let Some((header, payload)) = frames.next_frame().unwrap() {
            let word = |at: usize| u32::from_be_bytes(payload[at..at + 4].try_into().unwrap());
            if header.kind == Kind::WindowUpdate as u8 {
                increments.push(word(0));
            } else if header.kind == Kind::Settings as u8 {
                for at in (0..payload.len()).step_by(6) {
                    let id = u16::from_be_bytes([payload[at], payload[at + 1]]);
                    if id == setting::INITIAL_WINDOW_SIZE {
                        window = Some(word(at + 2));
                    }
                }
            }
        }
        assert_eq!(window, Some(announced), "asked for {asked}");
        assert_eq!(increments, Vec::from_iter(raised), "asked for {asked}");
    }
}

/// A server that sends `before` once it has the client's preface, and
/// `after` once the client's HEADERS on stream 3 has come; then holds the
/// connection until the client closes it (5 s at most).
fn answering_the_second(before: Vec<u8>, after: Vec<u8>) -> (HttpUrl, std::thread::JoinHandle<()>) {
    one_connection(move |mut stream| {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut got = vec![0; PREFACE.len()];
        stream.read_exact(&mut got).unwrap();
        stream.write_all(&before).unwrap();
        got.clear();
        let mut chunk = [0u8; 4096];
        while !second_asked(&got) {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
        stream.write_all(&after).unwrap();
        while let Ok(1..) = stream.read(&mut chunk) {}
    })
}

/// Stream 3's latency runs from its own request, not from the first:
/// sent 300 ms into the run and answered at once, it is at most what is
/// left of the run after those 300 ms, where counted from stream 1's
/// request it would be nearly all of it.
#[test]
fn the_second_streams_latency_counts_from_its_own_request() {
    crate::test_support::within(|| {
        let mut before = Vec::new();
        frame_write::settings(&mut before, &[]);
        before.extend(a_head_and_ten_bytes());
        let ends = flag::END_HEADERS | flag::END_STREAM;
        let after = raw_frame(Kind::Headers as u8, ends, 3, &[0x80 | 8]);
        let (url, server) = answering_the_second(before, after);
        let due = Duration::from_millis(300);
        let options = H2Options {
            second: Some(("/y".into(), due)),
            ..with_a_second()
        };
        let report = run(&url, &options, Some(Duration::from_secs(5))).unwrap();
        server.join().unwrap();
        let second = report.second.clone().unwrap_or_default();
        assert!(second.complete && report.failure.is_none(), "{report:?}");
        let latency = second.latency.unwrap_or_default();
        let left = report.elapsed.saturating_sub(due);
        assert!(latency <= left, "{latency:?}: {report:?}");
    });
}

/// A GOAWAY whose last stream is 1 cuts stream 3, still open (RFC 9113
/// §6.8): the run ends at once, saying the server will not answer it,
/// rather than wait for the time limit. Stream 1, at or below the last
/// stream, may still end whole, also in a frame sent right behind the
/// GOAWAY: it is taken first. Left open, in a run that stops after the
/// second, it does not hold the run: stream 3 will get nothing.
#[test]
fn a_goaway_below_the_second_stream_cuts_it() {
    let end = || raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x");
    let goaway = || {
        let mut frame = Vec::new();
        frame_write::goaway(&mut frame, 1, ErrorCode::NoError, b"");
        frame
    };
    // Stream 1's frames after the head, and whether they end it whole.
    for (after_the_head, whole) in [
        ([end(), goaway()].concat(), true),
        ([goaway(), end()].concat(), true),
        (
            [raw_frame(Kind::Data as u8, 0, 1, b"0123456789"), goaway()].concat(),
            false,
        ),
    ] {
        let mut frames = Vec::new();
        frame_write::settings(&mut frames, &[]);
        frames.extend(a_head());
        frames.extend(after_the_head);
        let (report, _) = what_the_client_sent(&with_a_second(), frames);
        if whole {
            assert!(report.first.complete, "{report:?}");
            assert_eq!(report.first.body_bytes, 1, "{report:?}");
        }
        let cut = "GOAWAY: the server will not answer stream 3";
        assert_eq!(report.failure.as_deref(), Some(cut), "{report:?}");
        assert!(!report.timed_out, "{report:?}");
    }
}

/// Each request is a GET with exactly these fields, in this order: the
/// four pseudo-fields (RFC 9113 §8.3.1), `:scheme` "http" as h2c is, and
/// the client's name, after a table size update; stream 3's asks for the
/// second target.
#[test]
fn each_request_has_exactly_its_fields() {
    let mut frames = Vec::new();
    frame_write::settings(&mut frames, &[]);
    frames.extend(a_head());
    frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
    let ends = flag::END_HEADERS | flag::END_STREAM;
    frames.extend(raw_frame(Kind::Headers as u8, ends, 3, &[0x80 | 8]));
    let (url, server) = answering(frames);
    let report = run(&url, &with_a_second(), Some(Duration::from_secs(3))).unwrap();
    let sent = server.join().unwrap();
    let second = report.second.as_ref();
    assert!(second.is_some_and(|s| s.complete), "{report:?}");
    let mut decoder = hpack::Decoder::new(hpack::DEFAULT_TABLE_BYTES);
    let mut heads = Vec::new();
    let mut sent = FrameBuffer::with(&sent);
    while let Some((header, payload)) = sent.next_frame().unwrap() {
        if let Ok(Frame::Headers { stream, block, .. }) = frame::parse(&header, payload) {
            // A size update to 0 first: the block a server that lowered
            // SETTINGS_HEADER_TABLE_SIZE needs (RFC 7541 §4.2).
            assert_eq!(block.first(), Some(&0x20), "stream {stream}");
            let list = decoder.decode(block, MAX_HEADER_BLOCK_BYTES).unwrap();
            let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
            let fields = list.fields.iter().map(|(n, v)| (text(n), text(v)));
            heads.push((stream, fields.collect::<Vec<_>>()));
        }
    }
    let authority = url.authority();
    let head = |path: &str| {
        [
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", authority.as_str()),
            (":path", path),
            ("user-agent", "backpressure-slow-client"),
        ]
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .to_vec()
    };
    assert_eq!(heads, [(1, head("/x")), (3, head("/y"))]);
}

/// A header block on a stream already closed is decoded all the same:
/// it may add to the HPACK dynamic table (RFC 7541 §2.3.2), which the
/// server's next blocks use. Here a late block on stream 1 adds a field,
/// and stream 3's head names it by its dynamic index, 62.
#[test]
fn a_block_on_a_closed_stream_still_keeps_the_table_in_step() {
    let mut frames = Vec::new();
    frame_write::settings(&mut frames, &[]);
    frames.extend(a_head());
    frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
    // A literal with incremental indexing, its name new (RFC 7541 §6.2.1).
    let mut late = vec![0x40, 6];
    late.extend_from_slice(b"x-late");
    late.extend_from_slice(&[1, b'1']);
    let ends = flag::END_HEADERS | flag::END_STREAM;
    frames.extend(raw_frame(Kind::Headers as u8, ends, 1, &late));
    frames.extend(raw_frame(
        Kind::Headers as u8,
        ends,
        3,
        &[0x80 | 8, 0x80 | 62],
    ));
    let (report, _) = what_the_client_sent(&with_a_second(), frames);
    assert_eq!(report.failure, None, "{report:?}");
    let second = report.second.as_ref();
    assert!(second.is_some_and(|s| s.complete), "{report:?}");
}

/// The report keeps the last GOAWAY's code (RFC 9113 §6.8: a server may
/// send several): NO_ERROR, then INTERNAL_ERROR, ends the run as an error
/// does, at once, the stream cut, not at the server's close later.
#[test]
fn a_later_goaway_with_an_error_replaces_one_without() {
    let mut frames = a_head_and_ten_bytes();
    frame_write::goaway(&mut frames, 1, ErrorCode::NoError, b"");
    frame_write::goaway(&mut frames, 1, ErrorCode::InternalError, b"");
    let report = report_of(&frames);
    assert_eq!(
        report.goaway,
        Some(ErrorCode::InternalError as u32),
        "{report:?}"
    );
    assert_eq!(report.failure, None, "{report:?}");
    assert!(!report.first.complete && !report.timed_out, "{report:?}");
}

/// This client turned push off (RFC 9113 §8.4): a PUSH_PROMISE is the
/// server's error, and ends the run, the download cut, whatever follows.
#[test]
fn a_push_promise_ends_the_run() {
    let mut frames = a_head_and_ten_bytes();
    let promise = [0, 0, 0, 2, 0x80 | 2];
    frames.extend(raw_frame(
        Kind::PushPromise as u8,
        flag::END_HEADERS,
        1,
        &promise,
    ));
    frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
    let report = report_of(&frames);
    let failure = report.failure.as_deref();
    let push = "a PUSH_PROMISE, though this client disabled push";
    assert_eq!(failure, Some(push), "{report:?}");
    assert!(!report.first.complete, "{report:?}");
}

/// The idle timeout does not count the wait between stream 1's end and
/// stream 3's time, 1.5 s with a 500 ms timeout: nothing was asked, and
/// the run goes on to ask.
#[test]
fn no_idle_timeout_while_nothing_is_asked() {
    crate::test_support::within(|| {
        let mut before = Vec::new();
        frame_write::settings(&mut before, &[]);
        before.extend(a_head());
        before.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
        let ends = flag::END_HEADERS | flag::END_STREAM;
        let after = raw_frame(Kind::Headers as u8, ends, 3, &[0x80 | 8]);
        let (url, server) = answering_the_second(before, after);
        let options = H2Options {
            second: Some(("/y".into(), Duration::from_millis(1500))),
            idle_timeout: Duration::from_millis(500),
            ..options()
        };
        let report = run(&url, &options, Some(Duration::from_secs(5))).unwrap();
        server.join().unwrap();
        assert_eq!(report.failure, None, "{report:?}");
        assert!(report.first.complete, "{report:?}");
        let second = report.second.as_ref();
        assert!(second.is_some_and(|s| s.complete), "{report:?}");
    });
}
