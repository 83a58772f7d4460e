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
//! And it holds the server to them: DATA past the room a window has left
//! is the server's error (RFC 9113 §6.9.1), and ends the run, so that
//! every run of this client checks the server's flow control too.
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
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS, once it gave one:
    /// the second request is held while stream 1, still open, leaves it no
    /// room (RFC 9113 §5.1.2). None: no limit said, as at the start.
    pub max_streams: Option<u32>,
    /// The second request was due, and held at the run's end: the
    /// server's stream limit left it no room. Not sent.
    pub second_held: bool,
    /// The time limit ended the run: a stream not complete was stopped on
    /// time, not cut, unless `failure` says otherwise (a GOAWAY with an
    /// error also ends the run early, and leaves this false).
    pub timed_out: bool,
}

impl H2Report {
    /// Whether the server's limit on streams open at once (§5.1.2) leaves
    /// room for stream 3, stream 1 counted while it is open.
    pub fn room_for_the_second(&self) -> bool {
        let open = u32::from(self.first.latency.is_none());
        self.max_streams.is_none_or(|most| open < most)
    }
}

/// A window this client gave: how much the server may still send on it,
/// and so what the client has read since it last gave bytes back.
struct Window {
    /// Stream 1 (or 3), or 0 for the connection.
    stream: u32,
    /// What the server may still send: the window announced, less the DATA
    /// read, plus what was given back; so `window - room` is what was read
    /// and not yet given back. Never below 0: the client only ever raises
    /// a window, so a server within it is within this.
    room: u32,
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
    /// The connection's, stream 1's and stream 3's room, as this client
    /// sees it.
    windows: [Window; 3],
    /// The server's header compression, learnt from every header block.
    decoder: Decoder,
    /// A header block begun and not yet whole.
    open_block: Option<OpenBlock>,
    /// Frames read since one last changed a stream's report (a head, body
    /// bytes, an end) that changed none. At most [`MAX_IDLE_FRAMES`]: one
    /// more ends the run.
    idle_frames: u32,
    /// Stream 3, once a GOAWAY said it will never be answered while
    /// stream 1, at or below its last stream, may still end whole (RFC
    /// 9113 §6.8): the run goes on until stream 1 ends, then fails for it.
    unanswered: Option<u32>,
    /// Whether the server's SETTINGS, which must be its first frame (RFC
    /// 9113 §3.4), has come.
    settings_came: bool,
    /// The server's windows for this client's sending, the connection's
    /// and streams 1 and 3's: this client sends no DATA, but a WINDOW_UPDATE
    /// that takes one past 2^31-1 is an error all the same (§6.9.1), the
    /// mark of a server that counts its windows wrong.
    send_windows: [i64; 3],
    /// The server's SETTINGS_INITIAL_WINDOW_SIZE, last said.
    initial_send_window: i64,
}

impl Conversation {
    /// A conversation whose streams get `window` bytes (clamped to what
    /// HTTP/2 allows), given back as they are read if `replenish`, but
    /// never stream 1's if `starve_first`.
    pub(super) fn new(window: u32, replenish: bool, starve_first: bool) -> Conversation {
        let window = window.clamp(frame::DEFAULT_WINDOW, frame::MAX_WINDOW as u32);
        Conversation {
            window,
            replenish,
            starve_first,
            windows: [0, 1, 3].map(|stream| Window {
                stream,
                room: window,
            }),
            decoder: Decoder::new(hpack::DEFAULT_TABLE_BYTES),
            open_block: None,
            idle_frames: 0,
            unanswered: None,
            settings_came: false,
            send_windows: [i64::from(frame::DEFAULT_WINDOW); 3],
            initial_send_window: i64::from(frame::DEFAULT_WINDOW),
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

    /// Why the run failed, if a GOAWAY left stream 3 unanswered: for a
    /// run that ends otherwise than at stream 1's end (the time limit, an
    /// error GOAWAY, a run that stops after the second), which would
    /// otherwise not say why stream 3 got nothing.
    pub(super) fn unanswered(&self) -> Option<String> {
        self.unanswered.map(unanswered_reason)
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
                // Every frame read is taken: a stream 1 that ended in them
                // settles a stream 3 the GOAWAY left unanswered.
                Ok(None) => {
                    return match self.unanswered {
                        Some(id) if report.first.latency.is_some() => Err(unanswered_reason(id)),
                        _ => Ok(()),
                    };
                }
                Ok(Some((header, payload))) => frame::parse(&header, payload),
                Err(e) => Err(e),
            };
            let parsed = parsed.map_err(|e| format!("a bad frame: {}", e.reason))?;
            if !self.settings_came && !matches!(parsed, Frame::Settings { ack: false, .. }) {
                return Err("the server's first frame was not its SETTINGS".into());
            }
            let before = (report.first.clone(), report.second.clone());
            let block = gather(&mut self.open_block, &parsed)
                .map_err(|why| format!("a bad frame: {why}"))?;
            let id = parsed_stream(&parsed);
            // A stream this client has not opened is idle (RFC 9113 §5.1),
            // and push is off: no server may answer on it.
            if !(id == 0 || id == 1 || (id == 3 && report.second.is_some())) {
                return Err(format!(
                    "a frame on stream {id}, which this client never opened"
                ));
            }
            let (stream, sent) = match id {
                1 => (Some(&mut report.first), first_sent),
                3 => (report.second.as_mut(), second_sent.unwrap_or(first_sent)),
                _ => (None, first_sent),
            };
            // A stream reset or ended is closed (RFC 9113 §5.1): no frame
            // after that, END_STREAM or DATA or a reset, changes its report.
            let stream = stream.filter(|s| s.reset.is_none() && s.latency.is_none());
            let mut broken = None;
            match parsed {
                Frame::Settings { ack: false, params } => {
                    self.settings_came = true;
                    for (id, value) in params.iter() {
                        match id {
                            setting::MAX_CONCURRENT_STREAMS => report.max_streams = Some(value),
                            // A server's own push is refused (§6.5.2).
                            setting::ENABLE_PUSH if value != 0 => {
                                return Err("a server's SETTINGS_ENABLE_PUSH of 1".into());
                            }
                            // Every stream's window moves by the change (§6.9.2).
                            setting::INITIAL_WINDOW_SIZE => {
                                let change = i64::from(value) - self.initial_send_window;
                                self.initial_send_window = i64::from(value);
                                for window in &mut self.send_windows[1..] {
                                    *window += change;
                                }
                            }
                            _ => {}
                        }
                    }
                    frame_write::settings_ack(replies);
                }
                Frame::WindowUpdate {
                    stream: id,
                    increment,
                } => {
                    let at = match id {
                        0 => 0,
                        1 => 1,
                        _ => 2,
                    };
                    self.send_windows[at] += i64::from(increment);
                    if self.send_windows[at] > frame::MAX_WINDOW {
                        return Err(format!(
                            "a WINDOW_UPDATE that takes stream {id}'s window past 2^31-1"
                        ));
                    }
                }
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
                    // Stream 1 may still end whole, in frames already sent
                    // behind the GOAWAY: taken before stream 3 is failed.
                    match cut {
                        Some((3, _)) if open(&report.first) => self.unanswered = Some(3),
                        Some((id, _)) => broken = Some(unanswered_reason(id)),
                        None => {}
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
                    // Past a window, the frame is no part of the body.
                    self.count_data(id, flow, replies)?;
                    let counted = stream.is_some();
                    if let Some(stream) = stream {
                        broken = stream.on_data(data.len(), end_stream, sent);
                    }
                    if counted && end_stream && id == 3 {
                        report.first_bytes_then = Some(report.first.body_bytes);
                    }
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
    /// read, unless told not to. `Err` if the bytes were more than a window
    /// had room for: the server broke flow control.
    fn count_data(&mut self, id: u32, flow: u32, replies: &mut Vec<u8>) -> Result<(), String> {
        let (window, replenish, starve_first) = (self.window, self.replenish, self.starve_first);
        let mine = |w: &Window| w.stream == 0 || w.stream == id;
        // The stream's window named before the connection's, if both are
        // short: it is the one the server had most plainly to watch.
        let mut short = self.windows.iter().filter(|w| mine(w)).rev();
        if let Some(short) = short.find(|w| w.room < flow) {
            let whose = match short.stream {
                0 => "the connection's".to_string(),
                stream => format!("stream {stream}'s"),
            };
            return Err(format!(
                "FLOW_CONTROL_ERROR: {flow} bytes of DATA on stream {id}, \
                 with {} left in {whose} window",
                short.room
            ));
        }
        for w in self.windows.iter_mut().filter(|w| mine(w)) {
            w.room -= flow;
            let unreturned = window - w.room;
            let starved = starve_first && w.stream == 1;
            if replenish && !starved && unreturned >= window / 2 {
                frame_write::window_update(replies, w.stream, unreturned);
                w.room = window;
            }
        }
        Ok(())
    }
}

/// The stream a frame belongs to; 0 for the connection's, and for the
/// frames this client does not look at by stream (PRIORITY may name any).
fn parsed_stream(frame: &Frame<'_>) -> u32 {
    match *frame {
        Frame::Headers { stream, .. }
        | Frame::Continuation { stream, .. }
        | Frame::Data { stream, .. }
        | Frame::RstStream { stream, .. }
        | Frame::WindowUpdate { stream, .. } => stream,
        _ => 0,
    }
}

/// Why stream `id` failed, a GOAWAY's last stream below it.
fn unanswered_reason(id: u32) -> String {
    format!("GOAWAY: the server will not answer stream {id}")
}

/// Appends a GET for `url` on `stream`, with no body. Its block starts
/// with the size update a server that lowered SETTINGS_HEADER_TABLE_SIZE
/// requires in the first block after (RFC 7541 §4.2; nghttpd `-c 0` ends
/// the connection without it).
pub(super) fn request(out: &mut Vec<u8>, stream: u32, url: &HttpUrl) {
    let mut block = Vec::new();
    hpack_encode::start_block(&mut block);
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

#[cfg(test)]
mod tests;
