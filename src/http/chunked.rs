//! Chunked transfer coding (RFC 9112 §7.1): writing a body in chunks, and
//! reading one back as it streams, in constant memory.
//!
//! With `Transfer-Encoding: chunked` a body is a series of chunks, each a
//! size in hex, CRLF, that many bytes of data, CRLF; a chunk of size 0 ends
//! the body. That last chunk is what lets a client tell a complete body from
//! one cut off by a dropped connection: without it, the body was truncated.
//! So the server sends [`LAST_CHUNK`] only once every byte was produced and
//! written, and the client's decoder reports whether it arrived.
//!
//! The decoder is a state machine fed whatever slice the socket returned: a
//! client reading 385 MB cannot keep the body, so it hands each run of data
//! bytes to a callback and remembers only where it is in the framing. A
//! chunk boundary may fall anywhere in a read, even between CR and LF.
//!
//! The decoder is strict, because the only server it talks to sends none of
//! the optional parts: a chunk extension (`;name=value`) or a trailer field
//! is an error, as is any size line that is not hex digits ([`MAX_SIZE_DIGITS`]
//! of them significant at most) followed by CRLF. Decoding stops at the last chunk: what
//! follows is the caller's.

use std::fmt;
use std::io::{self, IoSlice, Write};

/// Most bytes of a chunk-size line: 16 hex digits of a `u64` and CRLF.
const MAX_CHUNK_SIZE_LINE: usize = 18;
/// Ends a chunked body: the zero-size last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Writes `data` as one chunk: hex size, CRLF, the data, CRLF.
///
/// The three parts go out in one vectored write, not three: with Nagle's
/// algorithm a small size line followed by data can otherwise wait for an
/// ACK, and without it each part can become its own TCP segment.
///
/// `on_data` is told how many of `data`'s bytes each write took, as it
/// takes them: a chunk cut by an error halfway still reports the part that
/// left, so what a response counts as sent is exact to the byte.
pub fn write_chunk(
    out: &mut impl Write,
    data: &[u8],
    mut on_data: impl FnMut(usize),
) -> io::Result<()> {
    let mut size_line = [0u8; MAX_CHUNK_SIZE_LINE];
    let size_line = chunk_size_line(data.len(), &mut size_line);
    let data_starts = size_line.len();
    let mut parts = [
        IoSlice::new(size_line),
        IoSlice::new(data),
        IoSlice::new(b"\r\n"),
    ];
    // Of the chunk's bytes written so far, those that were data.
    let data_in = |written: usize| written.saturating_sub(data_starts).min(data.len());
    let mut written = 0;
    write_all_vectored(out, &mut parts, |n| {
        on_data(data_in(written + n) - data_in(written));
        written += n;
    })
}

/// `len` in lowercase hex followed by CRLF, e.g. `4000\r\n` for 16 KiB.
fn chunk_size_line(len: usize, buf: &mut [u8; MAX_CHUNK_SIZE_LINE]) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = ((usize::BITS - len.leading_zeros()).div_ceil(4)).max(1) as usize;
    for (i, slot) in buf[..digits].iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - i);
        *slot = HEX[(len >> shift) & 0xf];
    }
    buf[digits..digits + 2].copy_from_slice(b"\r\n");
    &buf[..digits + 2]
}

/// `Write::write_all` for several buffers (std's is not yet stable),
/// telling `progress` the size of each write that succeeded: the one loop
/// that puts a body on the wire, chunked or not.
pub fn write_all_vectored(
    out: &mut impl Write,
    mut parts: &mut [IoSlice<'_>],
    mut progress: impl FnMut(usize),
) -> io::Result<()> {
    IoSlice::advance_slices(&mut parts, 0); // skip empty parts up front
    while !parts.is_empty() {
        match out.write_vectored(parts) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                progress(n);
                IoSlice::advance_slices(&mut parts, n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// Most significant hex digits in a chunk size: 16 digits fill a `u64`, so a
/// longer size could only overflow. Leading zeros are any number (RFC 9112
/// §7.1: `1*HEXDIG`) and change nothing; the one piece of framing held
/// across reads, the size being parsed, stays a `u64`.
pub const MAX_SIZE_DIGITS: usize = 16;

/// Why a chunked body is malformed, with the offset in the framed stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkedError {
    /// What was wrong.
    pub reason: &'static str,
    /// Offset, in bytes of the framed body, of the offending byte.
    pub at: u64,
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ChunkedError { reason, at } = self;
        write!(f, "bad chunked framing at byte {at}: {reason}")
    }
}

impl std::error::Error for ChunkedError {}

/// Where the decoder is in the framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a size line.
    Size { value: u64, digits: usize },
    /// Read the CR after a size; the LF must follow.
    SizeLf { value: u64 },
    /// Inside a chunk's data, with this many bytes left.
    Data { left: u64 },
    /// After a chunk's data: expecting CR.
    DataCr,
    /// After a chunk's data and CR: expecting LF.
    DataLf,
    /// After `0\r\n`: expecting the CR that ends the body (no trailers).
    LastCr,
    /// After `0\r\n\r`: expecting the final LF.
    LastLf,
    /// The last chunk has been read: `feed` takes no byte more.
    Done,
}

/// A streaming chunked decoder. Feed it the framed bytes in any pieces.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    /// Position in the framing, carried from one `feed` to the next.
    state: State,
    /// Framed bytes consumed so far, to report where an error is.
    offset: u64,
}

impl Default for ChunkedDecoder {
    /// A decoder at the start of a body.
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            offset: 0,
        }
    }
}

impl ChunkedDecoder {
    /// True once the last chunk and its CRLF have been read: the body is
    /// complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, passing each run of body bytes to `on_data`, up to
    /// the end of the body. What follows the last chunk is not this body's:
    /// a reader of a response on a closing connection discards it, as
    /// after a `Content-Length` body (RFC 9112 §6.3); called an error, it
    /// would make the verdict depend on whether it came in the same read
    /// as the last chunk. Returns an error at the first byte that breaks
    /// the framing.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<(), ChunkedError> {
        let mut pos = 0;
        while pos < input.len() && self.state != State::Done {
            if let State::Data { left } = self.state {
                // Hand over as much data as this piece holds in one call.
                let take = left.min((input.len() - pos) as u64) as usize;
                on_data(&input[pos..pos + take]);
                pos += take;
                self.offset += take as u64;
                self.state = match left - take as u64 {
                    0 => State::DataCr,
                    left => State::Data { left },
                };
                continue;
            }
            let byte = input[pos];
            self.state = self.step(byte)?;
            pos += 1;
            self.offset += 1;
        }
        Ok(())
    }

    /// The state after one framing byte.
    fn step(&self, byte: u8) -> Result<State, ChunkedError> {
        let fail = |reason| {
            Err(ChunkedError {
                reason,
                at: self.offset,
            })
        };
        match self.state {
            State::Size { value, digits } => match (byte as char).to_digit(16) {
                // Already MAX_SIZE_DIGITS significant digits: one more overflows.
                Some(_) if value >> (4 * (MAX_SIZE_DIGITS - 1)) != 0 => {
                    fail("chunk size has too many digits")
                }
                Some(digit) => Ok(State::Size {
                    value: value << 4 | u64::from(digit),
                    digits: digits + 1,
                }),
                None if digits == 0 => fail("chunk size line does not start with a hex digit"),
                None if byte == b'\r' => Ok(State::SizeLf { value }),
                None if byte == b';' => fail("chunk extensions are not accepted"),
                None => fail("chunk size is not followed by CRLF"),
            },
            State::SizeLf { value } => match (byte, value) {
                (b'\n', 0) => Ok(State::LastCr),
                (b'\n', left) => Ok(State::Data { left }),
                _ => fail("chunk size is not followed by CRLF"),
            },
            State::Data { .. } => unreachable!("data is consumed in bulk by feed"),
            State::DataCr if byte == b'\r' => Ok(State::DataLf),
            State::DataLf if byte == b'\n' => Ok(State::Size {
                value: 0,
                digits: 0,
            }),
            State::DataCr | State::DataLf => fail("chunk data is not followed by CRLF"),
            State::LastCr if byte == b'\r' => Ok(State::LastLf),
            State::LastCr => fail("trailer fields after the last chunk are not accepted"),
            State::LastLf if byte == b'\n' => Ok(State::Done),
            State::LastLf => fail("the last chunk is not followed by CRLF"),
            State::Done => unreachable!("feed stops at the end of the body"),
        }
    }
}

/// A test socket for the body's writers here and in `strategy/`.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::{self, Write};

    /// A writer that takes at most `limit` bytes per call, like a socket
    /// whose send buffer is nearly full, and fails once it has taken
    /// `budget`, like one whose peer has gone.
    pub struct Trickle {
        /// Every byte taken, in order: what a client would have read.
        pub wire: Vec<u8>,
        /// Most bytes one write takes.
        pub limit: usize,
        /// Bytes taken in all before every further write fails.
        pub budget: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.limit).min(self.budget - self.wire.len());
            if n == 0 && !buf.is_empty() {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.wire.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Trickle;
    use super::*;

    #[test]
    fn size_lines_are_minimal_lowercase_hex() {
        let mut buf = [0u8; MAX_CHUNK_SIZE_LINE];
        for (len, line) in [
            (0, "0\r\n"),
            (1, "1\r\n"),
            (15, "f\r\n"),
            (16, "10\r\n"),
            (16 * 1024, "4000\r\n"),
            (1 << 20, "100000\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            assert_eq!(chunk_size_line(len, &mut buf), line.as_bytes());
        }
    }

    #[test]
    fn partial_writes_never_corrupt_a_chunk() {
        let (wire, limit, budget) = (Vec::new(), 3, usize::MAX);
        let mut out = Trickle {
            wire,
            limit,
            budget,
        };
        let mut reported = 0;
        write_chunk(&mut out, b"abcdefghijklmnopq", |n| reported += n).unwrap();
        assert_eq!(out.wire, b"11\r\nabcdefghijklmnopq\r\n");
        assert_eq!(reported, 17);
    }

    /// However far a chunk got before its write failed, the data bytes
    /// reported are exactly those on the wire: not the size line's, not
    /// the CRLF's, and none that did not leave.
    #[test]
    fn a_cut_chunk_reports_exactly_the_data_that_left() {
        let data = b"abcdefghijklmnopq";
        for budget in 0..=b"11\r\n".len() + data.len() + 2 {
            let mut out = Trickle {
                wire: Vec::new(),
                limit: 3,
                budget,
            };
            let mut reported = 0;
            let result = write_chunk(&mut out, data, |n| reported += n);
            let data_on_wire = budget.saturating_sub(4).min(data.len());
            assert_eq!(reported, data_on_wire, "cut after {budget} bytes");
            assert_eq!(result.is_ok(), budget == 4 + data.len() + 2);
        }
    }

    /// A writer that takes nothing (`Ok(0)`) ends the write with
    /// `WriteZero`, as `write_all` does, instead of being asked forever.
    #[test]
    fn a_writer_that_takes_nothing_is_an_error_not_a_spin() {
        struct Full(u32);
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                self.0 += 1;
                assert_eq!(self.0, 1, "asked again after taking nothing");
                Ok(0)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut reported = 0;
        let error = write_chunk(&mut Full(0), b"abc", |n| reported += n).unwrap_err();
        assert_eq!((error.kind(), reported), (io::ErrorKind::WriteZero, 0));
    }

    /// A write interrupted by a signal (`EINTR`) took nothing and is tried
    /// again, as `write_all` does: the chunk goes out whole, each data byte
    /// reported once, not cut short as if the client had gone.
    #[test]
    fn an_interrupted_write_is_tried_again() {
        struct Interrupts {
            inner: Trickle,
            calls: u32,
        }
        impl Write for Interrupts {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.calls += 1;
                if self.calls % 2 == 1 {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                self.inner.write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let inner = Trickle {
            wire: Vec::new(),
            limit: 3,
            budget: usize::MAX,
        };
        let mut out = Interrupts { inner, calls: 0 };
        let mut reported = 0;
        write_chunk(&mut out, b"abcdefghijklmnopq", |n| reported += n).unwrap();
        assert_eq!(out.inner.wire, b"11\r\nabcdefghijklmnopq\r\n");
        assert_eq!(reported, 17);
    }

    /// Decodes `wire` fed in pieces of `piece` bytes.
    fn decode(wire: &[u8], piece: usize) -> Result<(Vec<u8>, bool), ChunkedError> {
        let mut decoder = ChunkedDecoder::default();
        let mut body = Vec::new();
        for part in wire.chunks(piece) {
            decoder.feed(part, |data| body.extend_from_slice(data))?;
        }
        Ok((body, decoder.is_done()))
    }

    #[test]
    fn decodes_in_any_split() {
        let wire = b"5\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";
        for piece in 1..=wire.len() {
            let (body, done) = decode(wire, piece).unwrap();
            assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz", "piece {piece}");
            assert!(done);
        }
    }

    #[test]
    fn a_body_without_its_last_chunk_is_not_done() {
        for wire in [
            &b"5\r\nhello\r\n"[..],
            b"5\r\nhel",
            b"",
            b"0\r\n",
            b"0\r\n\r",
        ] {
            let (_, done) = decode(wire, 3).unwrap();
            assert!(!done, "{:?}", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn bad_framing_is_an_error_at_the_right_byte() {
        for (wire, reason, at) in [
            (&b"x\r\n"[..], "does not start with a hex digit", 0),
            (b" 5\r\nhello\r\n", "does not start with a hex digit", 0),
            (b"5;ext=1\r\nhello\r\n", "extensions", 1),
            (b"5 \r\nhello\r\n", "not followed by CRLF", 1),
            (b"5\nhello\r\n", "not followed by CRLF", 1),
            (b"5\r\rhello\r\n", "not followed by CRLF", 2),
            (b"3\r\nhello\r\n", "data is not followed by CRLF", 6),
            (b"5\r\nhello\r\r", "data is not followed by CRLF", 9),
            (b"0\r\nX-Trailer: 1\r\n\r\n", "trailer", 3),
            (b"0\r\n\rx", "last chunk is not followed", 4),
            (b"11111111111111111\r\n", "too many digits", 16),
            (b"\r\n\r\n", "does not start with a hex digit", 0),
            (b"0\r\n\n", "trailer", 3),
        ] {
            let error = decode(wire, 2).expect_err(reason);
            assert!(error.reason.contains(reason), "{error}");
            assert_eq!(error.at, at, "{error}");
        }
    }

    /// What follows the last chunk is left, in whatever read it comes: no
    /// error, the same body, and the decoder done.
    #[test]
    fn decoding_stops_at_the_last_chunk() {
        let wire = b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1";
        for split in 0..=wire.len() {
            let mut decoder = ChunkedDecoder::default();
            let mut body = Vec::new();
            let (first, second) = wire.split_at(split);
            let fed = decoder.feed(first, |data| body.extend_from_slice(data));
            let fed = fed.and_then(|()| decoder.feed(second, |d| body.extend_from_slice(d)));
            assert_eq!((fed, body.as_slice()), (Ok(()), &b"abc"[..]), "{split}");
            assert!(decoder.is_done());
        }
    }

    #[test]
    fn the_largest_size_is_accepted_and_counted_down() {
        let mut decoder = ChunkedDecoder::default();
        let mut seen = 0;
        decoder
            .feed(b"FFFFFFFFFFFFFFFF\r\nabc", |data| seen += data.len())
            .unwrap();
        assert_eq!(seen, 3);
        assert!(!decoder.is_done());
    }

    /// Leading zeros are digits like any (RFC 9112 §7.1), however many:
    /// only the significant ones can overflow.
    #[test]
    fn a_size_with_leading_zeros_is_its_value() {
        let wire = b"00000000000000000000005\r\nhello\r\n0000\r\n\r\n";
        assert_eq!(decode(wire, 3).map(|(body, _)| body), Ok(b"hello".to_vec()));
    }
}
