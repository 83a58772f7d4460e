//! The frames this side writes (RFC 9113 §6), as bytes appended to a
//! caller's buffer: SETTINGS and its acknowledgement, PING, GOAWAY,
//! RST_STREAM, WINDOW_UPDATE, a header block as HEADERS and as many
//! CONTINUATION frames as it needs, and a DATA frame's header.
//!
//! Reading a frame is `frame.rs`'s: there every length and value a peer
//! sends is distrusted. Here the values are this side's own, so a writer
//! only lays them out, each within the sizes [`frame`](super::frame)
//! defines (a GOAWAY's debug data cut to one frame, a block cut into
//! frames of [`MAX_FRAME_BYTES`]).

use super::frame::{ErrorCode, HEADER_BYTES, Header, Kind, MAX_FRAME_BYTES, flag};

/// Appends a SETTINGS frame with these parameters.
pub fn settings(out: &mut Vec<u8>, params: &[(u16, u32)]) {
    Header::write(out, params.len() * 6, Kind::Settings, 0, 0);
    for (id, value) in params {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Appends the acknowledgement of the peer's SETTINGS.
pub fn settings_ack(out: &mut Vec<u8>) {
    Header::write(out, 0, Kind::Settings, flag::ACK, 0);
}

/// Appends a PING (`ack`: the echo of the peer's).
pub fn ping(out: &mut Vec<u8>, data: [u8; 8], ack: bool) {
    Header::write(out, 8, Kind::Ping, if ack { flag::ACK } else { 0 }, 0);
    out.extend_from_slice(&data);
}

/// Appends a GOAWAY: streams after `last_stream` were not processed.
pub fn goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode, debug: &[u8]) {
    let debug = &debug[..debug.len().min(MAX_FRAME_BYTES - 8)];
    Header::write(out, 8 + debug.len(), Kind::GoAway, 0, 0);
    out.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&(code as u32).to_be_bytes());
    out.extend_from_slice(debug);
}

/// Appends a RST_STREAM.
pub fn rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    Header::write(out, 4, Kind::RstStream, 0, stream);
    out.extend_from_slice(&(code as u32).to_be_bytes());
}

/// Appends a WINDOW_UPDATE (`increment` from 1 to 2^31 − 1).
pub fn window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    Header::write(out, 4, Kind::WindowUpdate, 0, stream);
    out.extend_from_slice(&(increment & 0x7fff_ffff).to_be_bytes());
}

/// Appends a header block as a HEADERS frame and as many CONTINUATION
/// frames as it needs beyond [`MAX_FRAME_BYTES`].
pub fn headers(out: &mut Vec<u8>, stream: u32, mut block: &[u8], end_stream: bool) {
    let mut kind = Kind::Headers;
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    loop {
        let (piece, rest) = block.split_at(block.len().min(MAX_FRAME_BYTES));
        let last = rest.is_empty();
        let end_headers = if last { flag::END_HEADERS } else { 0 };
        Header::write(out, piece.len(), kind, flags | end_headers, stream);
        out.extend_from_slice(piece);
        if last {
            return;
        }
        (kind, flags, block) = (Kind::Continuation, 0, rest);
    }
}

/// A DATA frame's header, for a payload written after it from wherever it is.
pub fn data_header(stream: u32, length: usize, end_stream: bool) -> [u8; HEADER_BYTES] {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    Header::bytes(length, Kind::Data as u8, flags, stream)
}

/// A frame of any type byte: for tests, which build frames this side never writes.
#[cfg(test)]
pub fn raw_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Header::bytes(payload.len(), kind, flags, stream).to_vec();
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h2::frame::{Frame, parse};

    use raw_frame as frame;

    /// A GOAWAY reads back as written, its debug data cut to fit one frame
    /// of [`MAX_FRAME_BYTES`] however long the reason handed to it; the
    /// reserved bit before its last stream id is sent unset (RFC 9113
    /// §6.8), which reading it back cannot tell, as a reader ignores it.
    #[test]
    fn a_long_goaway_reason_is_cut_to_one_frame() {
        let mut out = Vec::new();
        goaway(&mut out, 7, ErrorCode::EnhanceYourCalm, &[b'r'; 20_000]);
        let header = Header::parse(out[..HEADER_BYTES].try_into().unwrap());
        assert_eq!(header.length, MAX_FRAME_BYTES);
        assert_eq!(out.len(), HEADER_BYTES + MAX_FRAME_BYTES);
        assert_eq!(out[HEADER_BYTES..][..4], 7u32.to_be_bytes());
        let expected = Frame::GoAway {
            last_stream: 7,
            code: 0xb,
            debug: &[b'r'; MAX_FRAME_BYTES - 8],
        };
        assert_eq!(parse(&header, &out[HEADER_BYTES..]), Ok(expected));
    }

    #[test]
    fn a_long_header_block_continues() {
        let block = vec![7; MAX_FRAME_BYTES + 10];
        let (first, rest) = block.split_at(MAX_FRAME_BYTES);
        let (end_stream, end_headers) = (flag::END_STREAM, flag::END_HEADERS);
        let mut out = Vec::new();
        headers(&mut out, 5, &block, true);
        let continued = [
            frame(1, end_stream, 5, first),
            frame(9, end_headers, 5, rest),
        ];
        assert!(out == continued.concat());
        // An empty block, or one that fills a frame exactly, is one frame.
        for block in [&[][..], first] {
            out.clear();
            headers(&mut out, 5, block, true);
            let one = frame(1, end_stream | end_headers, 5, block);
            assert!(out == one, "{} bytes", block.len());
        }
    }
}
