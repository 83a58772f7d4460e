//! A response head over HTTP/2, for the client: a header block gathered
//! from HEADERS and its CONTINUATION frames, whole before it is decoded.

use crate::http::h2::frame::Frame;

/// The largest header block the client gathers from HEADERS and its
/// CONTINUATION frames: a response head is a few hundred bytes, and a
/// server that sends more is refused, as real clients cap it (curl at
/// 300 KiB) rather than buffer whatever comes. The decoded list is held
/// to as many bytes: one that decodes to more is refused too, since the
/// fields the decoder drops past it could be the ones that frame the body.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(stream: u32, end_headers: bool, block: &[u8]) -> Frame<'_> {
        Frame::Headers {
            stream,
            end_stream: true,
            end_headers,
            block,
        }
    }

    fn continuation(stream: u32, end_headers: bool, block: &[u8]) -> Frame<'_> {
        Frame::Continuation {
            stream,
            end_headers,
            block,
        }
    }

    /// The limit is a size a block may have: one of exactly
    /// [`MAX_HEADER_BLOCK_BYTES`] is gathered whole, one byte more is
    /// refused, however it is split.
    #[test]
    fn a_block_of_exactly_the_limit_is_gathered_one_byte_more_is_not() {
        let bytes = vec![0x88; MAX_HEADER_BLOCK_BYTES + 1];
        let (most, over) = (&bytes[..MAX_HEADER_BLOCK_BYTES], &bytes[..]);
        assert!(gather(&mut None, &headers(1, true, over)).is_err());
        let whole = gather(&mut None, &headers(1, true, most)).unwrap();
        assert_eq!(whole.map(|b| b.bytes.len()), Some(MAX_HEADER_BLOCK_BYTES));
        for at in [0, 1, 40_000, MAX_HEADER_BLOCK_BYTES] {
            let mut open = None;
            let (first, rest) = most.split_at(at);
            let started = gather(&mut open, &headers(1, false, first));
            assert!(matches!(started, Ok(None)), "split at {at}");
            let block = gather(&mut open, &continuation(1, true, rest)).unwrap();
            let block = block.expect("END_HEADERS ends the block");
            assert_eq!((block.stream, block.end_stream), (1, true));
            assert_eq!(block.bytes.len(), MAX_HEADER_BLOCK_BYTES, "split at {at}");
            let mut open = None;
            let (first, rest) = over.split_at(at);
            assert!(matches!(
                gather(&mut open, &headers(1, false, first)),
                Ok(None)
            ));
            let ended = gather(&mut open, &continuation(1, true, rest));
            assert!(ended.is_err(), "one byte more, split at {at}");
        }
    }

    /// A header block is one stream's, and nothing may come between its
    /// frames (RFC 9113 §6.10): a CONTINUATION for another stream would
    /// splice that stream's bytes into this one's head.
    #[test]
    fn a_continuation_of_another_stream_is_refused() {
        let mut open = None;
        assert!(matches!(
            gather(&mut open, &headers(1, false, b"\x88")),
            Ok(None)
        ));
        let error = gather(&mut open, &continuation(3, true, b"\x82")).err();
        assert_eq!(
            error.as_deref(),
            Some("a header block not followed by its CONTINUATION frames")
        );
        let mut open = None;
        let _ = gather(&mut open, &headers(1, false, b"\x88"));
        let ping = Frame::Ping {
            ack: false,
            data: [0; 8],
        };
        assert!(gather(&mut open, &ping).is_err(), "nothing between");
    }
}
