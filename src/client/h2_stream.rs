//! One response stream as the HTTP/2 client counts it: its report, and
//! what each of its frames does to that report.
//!
//! The connection loop (`h2.rs`) reads frames and hands each to the
//! stream it names, if that stream is still open; here a header block
//! sets the status and the `content-length`, DATA adds to the body, and
//! END_STREAM or RST_STREAM ends the stream. The rule of the whole
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
