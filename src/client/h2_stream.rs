//! One response stream as the HTTP/2 client counts it: its report, and
//! what each of its frames does to that report.
//!
//! The connection loop (`h2.rs`) reads frames, and `h2_frames.rs` hands
//! each to the stream it names, if that stream is still open; here a
//! header block sets the status and the `content-length`, DATA adds to
//! the body, and END_STREAM or RST_STREAM ends the stream. The rule of the whole
//! project holds here: a body is complete only if END_STREAM came with as
//! many bytes as its `content-length` said; any other end is a cut, and
//! says why.

use std::time::{Duration, Instant};

use crate::http::request::decimal;

/// How one stream's response went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// `:status`, once the head arrived.
    pub status: Option<u16>,
    /// DATA payload bytes received.
    pub body_bytes: u64,
    /// END_STREAM arrived, with as many body bytes as any
    /// `content-length` said: the body is complete.
    pub complete: bool,
    /// RST_STREAM arrived instead, with this code.
    pub reset: Option<u32>,
    /// From sending the request to END_STREAM (or the reset).
    pub latency: Option<Duration>,
    /// The head's `content-length`: a body of any other length at
    /// END_STREAM is malformed (RFC 9113 §8.1.1), and not complete.
    pub content_length: Option<u64>,
}

impl StreamReport {
    /// A header block on this stream, `fields` decoded, `end_stream` if
    /// its HEADERS frame ended the stream; `sent` is when the request was.
    /// A head, or trailers; `Some(why)` if it breaks the response.
    pub(super) fn on_head(
        &mut self,
        fields: &[(Vec<u8>, Vec<u8>)],
        end_stream: bool,
        sent: Instant,
    ) -> Option<String> {
        let field = |name: &[u8]| {
            let (_, v) = fields.iter().find(|(n, _)| n == name)?;
            Some(std::str::from_utf8(v).unwrap_or_default())
        };
        // Trailers carry no `:status`: they keep the head's.
        if let Some(status) = field(b":status") {
            self.status = status.parse().ok();
        }
        // 1*DIGIT (RFC 9110 §8.6), as the HTTP/1.1 reader takes it.
        let length = fields.iter().find(|(n, _)| n == b"content-length");
        if let Some((_, v)) = length {
            match decimal(v) {
                Some(n) => self.content_length = Some(n),
                None => {
                    let v = String::from_utf8_lossy(v);
                    return Some(format!("bad content-length '{v}'"));
                }
            }
        }
        if end_stream { ended(self, sent) } else { None }
    }

    /// `bytes` of DATA (padding left out) on this stream, the last of
    /// them if `end_stream`; `Some(why)` if that end breaks the response.
    pub(super) fn on_data(
        &mut self,
        bytes: usize,
        end_stream: bool,
        sent: Instant,
    ) -> Option<String> {
        self.body_bytes += bytes as u64;
        if end_stream { ended(self, sent) } else { None }
    }

    /// RST_STREAM with `code`: the stream ends, not complete.
    pub(super) fn on_reset(&mut self, code: u32, sent: Instant) {
        self.reset = Some(code);
        self.latency = Some(sent.elapsed());
    }
}

/// Ends `stream` at END_STREAM: complete, unless its body is not as long
/// as its `content-length` said; then why.
fn ended(stream: &mut StreamReport, sent: Instant) -> Option<String> {
    stream.latency = Some(sent.elapsed());
    match stream.content_length {
        Some(length) if length != stream.body_bytes => Some(format!(
            "a body of {} bytes, not the {length} its content-length said",
            stream.body_bytes
        )),
        _ => {
            stream.complete = true;
            None
        }
    }
}

/// The accounting per stream that `h2_frames.rs`'s `Conversation` does,
/// through a scripted server (the helpers of `h2.rs`'s tests): what a
/// GOAWAY cuts, which stream a frame counts for, and which stream's window
/// it gives back.
#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::super::h2::tests::{
        a_head, a_head_and_ten_bytes, one_connection, options, report_of,
    };
    use super::super::h2::{H2Options, H2Report, run};
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
    /// it has the preface, and the WINDOW_UPDATEs the client sent it.
    fn given_back(options: &H2Options, frames: Vec<u8>) -> (H2Report, Vec<(u32, u32)>) {
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
        let mut updates = Vec::new();
        let mut sent = FrameBuffer::with(&sent[PREFACE.len()..]);
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
}
