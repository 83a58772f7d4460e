//! The HTTP/2 client's side of the conversation: the frames it writes (its
//! preface, its windows, its GETs) and what it makes of each frame it
//! reads: which stream the frame is for, what it does to the run's
//! [`H2Report`], and what the client owes back.
//!
//! The client chooses its windows: SETTINGS_INITIAL_WINDOW_SIZE for each
//! stream, and a WINDOW_UPDATE that raises the connection's to the same
//! size. As it reads a stream's DATA it gives the bytes back (a
//! WINDOW_UPDATE once half a window is read), as real clients do, unless
//! told not to. A small window keeps little in flight ahead of the small
//! response; curl 7's 32 MiB lets the server fill every buffer on the way.
//!
//! A header block may come in a HEADERS frame and any number of
//! CONTINUATION frames: the client gathers it whole, up to
//! [`MAX_HEADER_BLOCK_BYTES`], before decoding it ([`super::h2_head`]).
//! What a stream's frames do to its report, and when its body counts as
//! complete, is [`super::h2_stream`]'s. Nothing here touches the socket:
//! the connection (`h2.rs`) reads the bytes, at its rate and within its
//! limits, and writes what this file makes. The report is defined here,
//! below the connection, since most of it is what the frames say.

use std::time::{Duration, Instant};

use super::h2_head::{MAX_HEADER_BLOCK_BYTES, OpenBlock, gather};
use super::h2_stream::StreamReport;
use super::slow_client::HttpUrl;
use crate::http::h2::frame::{self, Frame, PREFACE, setting};
use crate::http::h2::frame_buffer::FrameBuffer;
use crate::http::h2::frame_write;
use crate::http::h2::hpack::{self, Decoder};
use crate::http::h2::hpack_encode;

/// The most frames in a row that do nothing for a response (PINGs,
/// SETTINGS, WINDOW_UPDATEs, unknown types, empty DATA, a header block's
/// frames before its last, any frame for a stream already ended): each is
/// bytes received, which the idle timeout counts, so a server that sent
/// them without end would keep the client reading and never answer. A real
/// server sends a handful between two that matter.
pub const MAX_IDLE_FRAMES: u32 = 10_000;

/// What one run did: what the server's frames said, filled in here, and
/// how the connection went (bytes, time, why it stopped), by `h2.rs`.
#[derive(Clone, Debug, Default)]
pub struct H2Report {
    /// The download, on stream 1.
    pub first: StreamReport,
    /// The second request, on stream 3, if one was sent.
    pub second: Option<StreamReport>,
    /// Stream 1's body bytes when the second response ended: what the
    /// client had read of the download while the small one waited.
    pub first_bytes_then: Option<u64>,
    /// The server's GOAWAY code, if one came.
    pub goaway: Option<u32>,
    /// Bytes read from the socket, frames and all.
    pub wire_bytes: u64,
    /// From connecting to the end.
    pub elapsed: Duration,
    /// Why reading stopped early, if it did: the socket failed or went
    /// quiet, or the server broke a rule; or, at the time limit, the server
    /// had already reset or closed the connection. A failed write is named
    /// over what the socket does later (a read that fails, a close, the
    /// limit): it came first, and the run read on past it. A frame read
    /// past it that ends the run (one that does not parse, a bad header
    /// block, a stream cut) is named instead: the server's own word.
    pub failure: Option<String>,
    /// The second request was due and its write failed: never sent, the
    /// connection gone (`failure` says how).
    pub second_write_failed: bool,
    /// The time limit ended the run: a stream not complete was stopped on
    /// time, not cut, unless `failure` says otherwise (a GOAWAY with an
    /// error also ends the run early, and leaves this false).
    pub timed_out: bool,
}

/// Windows for the streams this client opens, and what it has read of them
/// since it last gave bytes back.
struct Window {
    /// Stream 1 (or 3), or 0 for the connection.
    stream: u32,
    /// Read and not yet given back.
    unreturned: u32,
}

/// What the client has heard of the server so far, and what it owes back:
/// the state a frame needs to be understood, from one to the next.
pub(super) struct Conversation {
    /// The window of every stream, as the client's SETTINGS announced it,
    /// and the connection's, raised to the same size.
    window: u32,
    /// Gives read bytes back to the windows (`H2Options::replenish`).
    replenish: bool,
    /// Gives nothing back to stream 1 (`H2Options::starve_first`).
    starve_first: bool,
    /// The connection's, stream 1's and stream 3's bytes not yet given back.
    windows: [Window; 3],
    /// The server's header compression, learnt from every header block.
    decoder: Decoder,
    /// A header block begun and not yet whole.
    open_block: Option<OpenBlock>,
    /// Frames read since one last changed a stream's report (a head, body
    /// bytes, an end) that changed none. At most [`MAX_IDLE_FRAMES`]: one
    /// more ends the run.
    idle_frames: u32,
}

impl Conversation {
    /// A conversation whose streams get `window` bytes (clamped to what
    /// HTTP/2 allows), given back as they are read if `replenish`, but
    /// never stream 1's if `starve_first`.
    pub(super) fn new(window: u32, replenish: bool, starve_first: bool) -> Conversation {
        Conversation {
            window: window.clamp(frame::DEFAULT_WINDOW, frame::MAX_WINDOW as u32),
            replenish,
            starve_first,
            windows: [0, 1, 3].map(|stream| Window {
                stream,
                unreturned: 0,
            }),
            decoder: Decoder::new(hpack::DEFAULT_TABLE_BYTES),
            open_block: None,
            idle_frames: 0,
        }
    }

    /// The client's first bytes: the preface, its SETTINGS with the
    /// windows, the connection's window raised to match, and the GET for
    /// `url` on stream 1.
    pub(super) fn opening(&self, url: &HttpUrl) -> Vec<u8> {
        let window = self.window;
        let mut out = PREFACE.to_vec();
        frame_write::settings(
            &mut out,
            &[
                (setting::INITIAL_WINDOW_SIZE, window),
                (setting::ENABLE_PUSH, 0),
            ],
        );
        if window > frame::DEFAULT_WINDOW {
            frame_write::window_update(&mut out, 0, window - frame::DEFAULT_WINDOW);
        }
        request(&mut out, 1, url);
        out
    }

    /// Takes every whole frame from `frames` into `report`, stream 1's
    /// request sent at `first_sent`, stream 3's at `second_sent`, and
    /// appends the replies owed (SETTINGS and PING acknowledged, windows
    /// given back) to `replies`. `Err(why)` once a frame breaks the run:
    /// one that does not parse, a bad header block, or a stream cut.
    pub(super) fn take_frames(
        &mut self,
        frames: &mut FrameBuffer,
        report: &mut H2Report,
        first_sent: Instant,
        second_sent: Option<Instant>,
        replies: &mut Vec<u8>,
    ) -> Result<(), String> {
        loop {
            let parsed = match frames.next_frame() {
                Ok(None) => return Ok(()),
                Ok(Some((header, payload))) => frame::parse(&header, payload),
                Err(e) => Err(e),
            };
            let parsed = parsed.map_err(|e| format!("a bad frame: {}", e.reason))?;
            let before = (report.first.clone(), report.second.clone());
            let block = gather(&mut self.open_block, &parsed)
                .map_err(|why| format!("a bad frame: {why}"))?;
            let (stream, sent) = match parsed_stream(&parsed) {
                1 => (Some(&mut report.first), first_sent),
                3 => (report.second.as_mut(), second_sent.unwrap_or(first_sent)),
                _ => (None, first_sent),
            };
            // A stream reset or ended is closed (RFC 9113 §5.1): no frame
            // after that, END_STREAM or DATA or a reset, changes its report.
            let stream = stream.filter(|s| s.reset.is_none() && s.latency.is_none());
            let mut broken = None;
            match parsed {
                Frame::Settings { ack: false, .. } => frame_write::settings_ack(replies),
                Frame::Ping { ack: false, data } => frame_write::ping(replies, data, true),
                Frame::GoAway {
                    code, last_stream, ..
                } => {
                    report.goaway = Some(code);
                    // A stream above `last_stream` will never be answered
                    // (RFC 9113 §6.8): its body is cut, not still coming.
                    let open = |s: &StreamReport| s.latency.is_none();
                    let cut = [(1, Some(&report.first)), (3, report.second.as_ref())]
                        .into_iter()
                        .find(|&(id, s)| id > last_stream && s.is_some_and(open));
                    if let Some((id, _)) = cut {
                        broken = Some(format!("GOAWAY: the server will not answer stream {id}"));
                    }
                }
                // A block not yet whole does nothing yet.
                Frame::Headers { .. } | Frame::Continuation { .. } => {
                    if let Some(block) = block {
                        broken = self.decode_head(&block, stream, sent)?;
                    }
                }
                Frame::Data {
                    stream: id,
                    data,
                    flow,
                    end_stream,
                } => {
                    let counted = stream.is_some();
                    if let Some(stream) = stream {
                        broken = stream.on_data(data.len(), end_stream, sent);
                    }
                    if counted && end_stream && id == 3 {
                        report.first_bytes_then = Some(report.first.body_bytes);
                    }
                    self.give_back(id, flow, replies);
                }
                // This client's SETTINGS disabled push (RFC 9113 §8.4):
                // skipped, its header block would leave the HPACK tables
                // out of step.
                Frame::PushPromise => {
                    broken = Some("a PUSH_PROMISE, though this client disabled push".into());
                }
                Frame::RstStream { code, .. } => {
                    if let Some(stream) = stream {
                        stream.on_reset(code, sent);
                    }
                }
                _ => {}
            }
            if let Some(why) = broken {
                return Err(why);
            }
            // Judged once the frame is taken in: the one past the limit
            // is no answer only if it too did nothing.
            if (&report.first, &report.second) != (&before.0, &before.1) {
                self.idle_frames = 0;
            } else if self.idle_frames == MAX_IDLE_FRAMES {
                let most = MAX_IDLE_FRAMES;
                return Err(format!(
                    "{most} frames in a row that did nothing for a response"
                ));
            } else {
                self.idle_frames += 1;
            }
        }
    }

    /// Decodes a whole header block and hands it to its `stream`, if that
    /// is open: `Err` if the block breaks the connection, `Ok(Some(why))`
    /// if it breaks the response.
    fn decode_head(
        &mut self,
        block: &OpenBlock,
        stream: Option<&mut StreamReport>,
        sent: Instant,
    ) -> Result<Option<String>, String> {
        let list = self
            .decoder
            .decode(&block.bytes, MAX_HEADER_BLOCK_BYTES)
            .map_err(|e| format!("a bad header block: {}", e.reason()))?;
        // The decoder drops the fields past the limit to keep its table in
        // step; a head without them could have lost its `content-length`,
        // and a short body pass.
        if list.too_large {
            let over = MAX_HEADER_BLOCK_BYTES;
            return Err(format!("a header list over {over} bytes once decoded"));
        }
        Ok(stream.and_then(|stream| stream.on_head(&list.fields, block.end_stream, sent)))
    }

    /// Counts `flow` bytes of DATA read on stream `id` against its window
    /// and the connection's, and gives a window back once half of it is
    /// read; unless told not to.
    fn give_back(&mut self, id: u32, flow: u32, replies: &mut Vec<u8>) {
        let (window, starve_first) = (self.window, self.starve_first);
        let starved = |w: &Window| starve_first && w.stream == 1;
        if self.replenish {
            let mine = |w: &&mut Window| (w.stream == 0 || w.stream == id) && !starved(w);
            for w in self.windows.iter_mut().filter(mine) {
                w.unreturned += flow;
                if w.unreturned >= window / 2 {
                    frame_write::window_update(replies, w.stream, w.unreturned);
                    w.unreturned = 0;
                }
            }
        }
    }
}

/// The stream a frame belongs to; 0 for the connection's.
fn parsed_stream(frame: &Frame<'_>) -> u32 {
    match *frame {
        Frame::Headers { stream, .. }
        | Frame::Continuation { stream, .. }
        | Frame::Data { stream, .. }
        | Frame::RstStream { stream, .. } => stream,
        _ => 0,
    }
}

/// Appends a GET for `url` on `stream`, with no body.
pub(super) fn request(out: &mut Vec<u8>, stream: u32, url: &HttpUrl) {
    let mut block = Vec::new();
    for (name, value) in [
        (&b":method"[..], &b"GET"[..]),
        (b":scheme", b"http"),
        (b":authority", url.authority().as_bytes()),
        (b":path", url.target.as_bytes()),
        (b"user-agent", b"backpressure-slow-client"),
    ] {
        hpack_encode::encode_field(&mut block, name, value);
    }
    frame_write::headers(out, stream, &block, true);
}

/// What the conversation does beyond one stream's report, through a
/// scripted server (the helpers of `h2.rs`'s tests): what a GOAWAY cuts,
/// which stream a frame's bytes count for, and which windows it gives
/// back.
#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::super::h2::tests::{
        a_head, a_head_and_ten_bytes, one_connection, options, report_of,
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
    /// looked at between reads); one with an error ends the connection,
    /// the stream cut.
    #[test]
    fn only_a_goaway_with_an_error_ends_the_connection() {
        for (code, whole) in [
            (ErrorCode::NoError, true),
            (ErrorCode::ProtocolError, false),
        ] {
            let mut first = Vec::new();
            frame_write::settings(&mut first, &[]);
            first.extend(a_head_and_ten_bytes());
            frame_write::goaway(&mut first, 1, code, b"");
            // The end only where the connection goes on.
            let last = match whole {
                true => raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"),
                false => Vec::new(),
            };
            let (url, server) = one_connection(move |mut stream| {
                let _ = stream.read(&mut [0u8; 4096]);
                stream.write_all(&first).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                let _ = stream.write_all(&last);
                std::thread::sleep(Duration::from_millis(200));
            });
            let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
            server.join().unwrap();
            assert_eq!(report.first.complete, whole, "{report:?}");
            assert_eq!(report.goaway, Some(code as u32), "{report:?}");
        }
    }

    /// The run with `options` against a server that answers `frames` once
    /// it has the preface, and what the client sent after its preface.
    fn what_the_client_sent(options: &H2Options, frames: Vec<u8>) -> (H2Report, Vec<u8>) {
        let (url, server) = one_connection(move |mut stream| {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut got = vec![0; PREFACE.len()];
            stream.read_exact(&mut got).unwrap();
            stream.write_all(&frames).unwrap();
            let _ = stream.read_to_end(&mut got);
            got
        });
        let report = run(&url, options, Some(Duration::from_secs(3))).unwrap();
        let sent = server.join().unwrap();
        (report, sent[PREFACE.len()..].to_vec())
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
        let options = H2Options {
            second: Some(("/y".into(), Duration::ZERO)),
            stop_after_second: true,
            ..options()
        };
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
        let options = H2Options {
            second: Some(("/y".into(), Duration::ZERO)),
            stop_after_second: true,
            ..options()
        };
        let (report, _) = given_back(&options, frames);
        let second = report.second.clone().unwrap_or_default();
        assert!(second.complete && second.body_bytes == 1, "{report:?}");
        assert_eq!(report.first_bytes_then, Some(10), "{report:?}");
    }
}
