//! Cutting a byte stream into HTTP/2 frames in a buffer of fixed size,
//! two of the largest frames, whatever a peer sends.
//!
//! A frame's header says how long it is, so a reader waits for exactly
//! that much; the length is checked against what this side allows before
//! a byte of it is awaited, so a peer cannot make the buffer grow.

use std::ops::Range;

use super::frame::{ErrorCode, FrameError, HEADER_BYTES, Header, MAX_FRAME_BYTES};

/// A byte stream cut into frames, in [`FrameBuffer::BYTES`] whatever comes.
#[derive(Debug)]
pub struct FrameBuffer {
    /// [`FrameBuffer::BYTES`], allocated once: it never grows.
    buf: Box<[u8]>,
    /// The bytes read and not yet consumed: `buf[range]`.
    range: Range<usize>,
}

impl Default for FrameBuffer {
    fn default() -> Self {
        FrameBuffer::with(&[])
    }
}

impl FrameBuffer {
    /// Two of the largest frames: room to read one whole frame and the
    /// start of the next in a single system call.
    pub const BYTES: usize = 2 * (HEADER_BYTES + MAX_FRAME_BYTES);

    /// Starts with bytes already read (what followed the preface).
    pub fn with(bytes: &[u8]) -> FrameBuffer {
        let mut buf = vec![0; Self::BYTES].into_boxed_slice();
        let n = bytes.len().min(Self::BYTES);
        buf[..n].copy_from_slice(&bytes[..n]);
        FrameBuffer { buf, range: 0..n }
    }

    /// Where the next read goes: never empty while a frame is incomplete,
    /// since the unconsumed bytes are moved to the front first.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.range.start > 0 {
            self.buf.copy_within(self.range.clone(), 0);
            self.range = 0..self.range.len();
        }
        &mut self.buf[self.range.end..]
    }

    /// Records that a read put `n` bytes into [`FrameBuffer::spare`].
    pub fn filled(&mut self, n: usize) {
        self.range.end = (self.range.end + n).min(self.buf.len());
    }

    /// Consumes `expected` if the bytes start with it: `Some(false)` if
    /// they do not, `None` until enough have been read to tell.
    pub fn strip(&mut self, expected: &[u8]) -> Option<bool> {
        let bytes = &self.buf[self.range.clone()];
        let n = expected.len().min(bytes.len());
        if bytes[..n] != expected[..n] {
            return Some(false);
        }
        if n < expected.len() {
            return None;
        }
        self.range.start += n;
        Some(true)
    }

    /// Whether every byte read has been consumed.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// The type of the next frame, once its header has begun to arrive.
    pub fn next_kind(&self) -> Option<u8> {
        self.buf[self.range.clone()].get(3).copied()
    }

    /// The next whole frame, or `None` until more bytes are read. A frame
    /// longer than [`MAX_FRAME_BYTES`] is a FRAME_SIZE_ERROR: this side
    /// never allowed one.
    pub fn next_frame(&mut self) -> Result<Option<(Header, &[u8])>, FrameError> {
        let bytes = &self.buf[self.range.clone()];
        let Some(head) = bytes.first_chunk::<HEADER_BYTES>() else {
            return Ok(None);
        };
        let header = Header::parse(head);
        if header.length > MAX_FRAME_BYTES {
            let reason = "frame larger than SETTINGS_MAX_FRAME_SIZE";
            return Err(FrameError::connection(ErrorCode::FrameSizeError, reason));
        }
        let end = HEADER_BYTES + header.length;
        if bytes.len() < end {
            return Ok(None);
        }
        let start = self.range.start;
        self.range.start += end;
        Ok(Some((header, &self.buf[start + HEADER_BYTES..start + end])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h2::Rng;
    use crate::http::h2::frame::{ErrorCode as Code, parse, setting};
    use crate::http::h2::frame_write::{self, raw_frame};

    #[test]
    fn the_buffer_waits_for_whole_frames_and_refuses_big_ones() {
        let mut frames = FrameBuffer::default();
        let ping = raw_frame(6, 0, 0, b"12345678");
        for &byte in &ping {
            assert_eq!(frames.next_frame(), Ok(None));
            frames.spare()[0] = byte;
            frames.filled(1);
        }
        let (header, payload) = frames.next_frame().unwrap().unwrap();
        assert_eq!((header.kind, payload), (6, &b"12345678"[..]));
        // 16,384 bytes, the largest this side allows, are awaited; one
        // more is refused.
        let mut largest = FrameBuffer::with(&[0, 0x40, 0x00, 0, 0, 0, 0, 0, 1]);
        assert_eq!(largest.next_frame(), Ok(None));
        let mut too_big = FrameBuffer::with(&[0, 0x40, 0x01, 0, 0, 0, 0, 0, 1]);
        let refused = too_big.next_frame().unwrap_err();
        assert_eq!(refused.code, ErrorCode::FrameSizeError);
    }

    /// Random bytes, frames of every type with random flags and payloads,
    /// frames with random headers, and mutated good frames, through the
    /// buffer and the parser: each is a frame, an error or a wait for more,
    /// never a panic; no payload is longer than its header says or than
    /// this side allows, and no stream error names stream 0.
    #[test]
    fn random_frames_never_panic() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut good = Vec::new();
        frame_write::settings(&mut good, &[(setting::INITIAL_WINDOW_SIZE, 1000)]);
        frame_write::headers(&mut good, 1, b"\x82\x86\x84", true);
        frame_write::window_update(&mut good, 1, 5);
        frame_write::goaway(&mut good, 1, Code::NoError, b"bye");
        for round in 0..20_000 {
            let len = rng.below(64);
            let mut bytes = match round % 4 {
                0 => rng.bytes(len),
                // Types 0 to 11: the ten known, and two that are not.
                1 => {
                    let (kind, flags, stream) = (rng.below(12), rng.below(256), rng.below(3));
                    raw_frame(kind as u8, flags as u8, stream as u32, &rng.bytes(len))
                }
                // A true length, and random type, flags and stream id (the
                // reserved bit included).
                2 => {
                    let mut frame = (len as u32).to_be_bytes()[1..].to_vec();
                    frame.extend(rng.bytes(6 + len));
                    frame
                }
                _ => good.clone(),
            };
            for _ in 0..rng.below(4) {
                let at = rng.below(bytes.len().max(1));
                if let Some(byte) = bytes.get_mut(at) {
                    *byte ^= 1 << rng.below(8);
                }
            }
            let mut frames = FrameBuffer::with(&bytes);
            while let Ok(Some((header, payload))) = frames.next_frame() {
                assert!(payload.len() == header.length && payload.len() <= MAX_FRAME_BYTES);
                if let Err(error) = parse(&header, payload) {
                    assert_ne!(error.stream, Some(0), "{header:?}");
                }
            }
        }
    }
}
