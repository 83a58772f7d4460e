//! A response head over HTTP/2, for the client: a header block gathered
//! from HEADERS and its CONTINUATION frames, whole before it is decoded.

use crate::http::h2::frame::Frame;

/// The largest header block the client gathers from HEADERS and its
/// CONTINUATION frames: a response head is a few hundred bytes, and a
/// server that sends more is refused, as real clients cap it (curl at
/// 300 KiB) rather than buffer whatever comes. The decoded list is held
/// to as many bytes.
pub const MAX_HEADER_BLOCK_BYTES: usize = 64 * 1024;

/// A header block begun by HEADERS without END_HEADERS: its CONTINUATION
/// frames, and nothing else, must follow (RFC 9113 §6.10).
pub struct OpenBlock {
    /// The stream of the HEADERS frame.
    pub stream: u32,
    /// The HEADERS frame's END_STREAM, which takes effect with the block.
    pub end_stream: bool,
    /// The block so far, at most [`MAX_HEADER_BLOCK_BYTES`].
    pub bytes: Vec<u8>,
}

/// Gathers a header block from HEADERS and its CONTINUATION frames:
/// `Some` once it is whole, `None` while it is not (it waits in `open`) or
/// for a frame that is no part of one. Any other frame between HEADERS and
/// END_HEADERS, a CONTINUATION without HEADERS, or a block over
/// [`MAX_HEADER_BLOCK_BYTES`] is a connection error.
pub fn gather(
    open: &mut Option<OpenBlock>,
    frame: &Frame<'_>,
) -> Result<Option<OpenBlock>, String> {
    let (block, end_headers) = match (*frame, open.take()) {
        (
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                block,
            },
            None,
        ) => {
            let bytes = block.to_vec();
            (
                OpenBlock {
                    stream,
                    end_stream,
                    bytes,
                },
                end_headers,
            )
        }
        (
            Frame::Continuation {
                stream,
                end_headers,
                block,
            },
            Some(mut open),
        ) if stream == open.stream => {
            open.bytes.extend_from_slice(block);
            (open, end_headers)
        }
        (Frame::Continuation { .. }, _) | (_, Some(_)) => {
            return Err("a header block not followed by its CONTINUATION frames".into());
        }
        _ => return Ok(None),
    };
    if block.bytes.len() > MAX_HEADER_BLOCK_BYTES {
        return Err(format!(
            "a header block over {MAX_HEADER_BLOCK_BYTES} bytes"
        ));
    }
    if end_headers {
        return Ok(Some(block));
    }
    *open = Some(block);
    Ok(None)
}
