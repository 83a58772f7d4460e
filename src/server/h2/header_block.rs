//! A header block as it arrives (RFC 9113 §4.3, §6.10): a HEADERS frame,
//! then CONTINUATION frames on the same stream until one carries
//! END_HEADERS, and no other frame in between.
//!
//! HPACK decodes a block only whole, so its bytes are kept until the last
//! piece has come: the memory a CONTINUATION flood (CERT VU#421644) would
//! fill. So a block is bounded twice: in bytes, and in frames, since empty
//! CONTINUATIONs add no bytes. What a whole block becomes (a request, or
//! trailers) is `frame_rules.rs`'s.

use super::{MAX_CONTINUATION_FRAMES, MAX_HEADER_BLOCK_BYTES};
use crate::http::h2::frame::ErrorCode::{EnhanceYourCalm, ProtocolError};
use crate::http::h2::frame::{Frame, FrameError};

/// A header block not followed by its CONTINUATION (RFC 9113 §6.10).
pub const INTERRUPTED_BLOCK: &str = "a header block was interrupted";

/// The header block being received.
pub struct Block {
    /// Its stream.
    pub stream: u32,
    /// END_STREAM was on its HEADERS: the request has no body.
    pub end_stream: bool,
    /// The encoded block so far, at most [`MAX_HEADER_BLOCK_BYTES`].
    pub bytes: Vec<u8>,
    /// CONTINUATION frames so far, at most [`MAX_CONTINUATION_FRAMES`].
    continuations: usize,
}

impl Block {
    /// The block a HEADERS frame on `stream` starts, `first` its piece.
    pub fn new(stream: u32, end_stream: bool, first: &[u8]) -> Block {
        Block {
            stream,
            end_stream,
            bytes: first.to_vec(),
            continuations: 0,
        }
    }

    /// Adds the frame that came next, which must be this block's
    /// CONTINUATION, within [`MAX_HEADER_BLOCK_BYTES`] and
    /// [`MAX_CONTINUATION_FRAMES`]. Says whether it ended the block
    /// (END_HEADERS); any error ends the connection.
    pub fn continued(&mut self, frame: Frame<'_>) -> Result<bool, FrameError> {
        let fail = |code, reason| Err(FrameError::connection(code, reason));
        let Frame::Continuation {
            stream,
            end_headers,
            block: piece,
        } = frame
        else {
            return fail(ProtocolError, INTERRUPTED_BLOCK);
        };
        if stream != self.stream {
            return fail(ProtocolError, "CONTINUATION on another stream");
        }
        self.continuations += 1;
        if self.bytes.len() + piece.len() > MAX_HEADER_BLOCK_BYTES
            || self.continuations > MAX_CONTINUATION_FRAMES
        {
            let reason = "header block too large: too many CONTINUATION bytes or frames";
            return fail(EnhanceYourCalm, reason);
        }
        self.bytes.extend_from_slice(piece);
        Ok(end_headers)
    }
}
