//! The body's last step into the socket: framing (the chunk encoder) and the
//! bookkeeping of what was sent.
//!
//! Every strategy ends in a [`BodyWriter`]. It frames each `write` for the
//! wire (RFC 9112 §7.1 for chunked) and reports every body byte the socket
//! accepted to the response's [`QueuedBytes`]. Because the accounting is
//! here, at the one place bytes leave userland, the four strategies cannot
//! disagree about what "sent" means.
//!
//! A blocking socket write returns only once the kernel has taken at least
//! some bytes into its send buffer. When the client reads slowly its TCP
//! receive window closes, our send buffer stops draining, and `write` blocks:
//! that blocked call is the backpressure signal every strategy inherits.
//! It must be bounded in time as well: for an export, `W` is a
//! [`DeadlineWriter`](crate::send_deadline::DeadlineWriter), so a client
//! that stops reading, or reads a trickle, turns a blocked write into an
//! error instead of a thread held forever.

use std::io::{self, IoSlice, Write};

use crate::queued_bytes::QueuedBytes;
use crate::response::Framing;

/// Most bytes of a chunk-size line: 16 hex digits of a `u64` and CRLF.
const MAX_CHUNK_SIZE_LINE: usize = 18;
/// Ends a chunked body: the zero-size last chunk and an empty trailer section.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Writes one response body to `W` in the response's framing.
pub struct BodyWriter<'q, W: Write> {
    /// The socket (a `Vec` in unit tests).
    out: W,
    /// Whether each write becomes a chunk (HTTP/1.1) or goes out as it is
    /// (`Content-Length` or close-delimited bodies).
    chunked: bool,
    /// Largest chunk to put on the wire; a longer write is split.
    max_chunk: usize,
    /// Told about every body byte that `out` accepted.
    queued: &'q QueuedBytes,
}

impl<'q, W: Write> BodyWriter<'q, W> {
    /// `max_chunk` must be at least 1; it only matters for chunked framing.
    pub fn new(out: W, framing: Framing, max_chunk: usize, queued: &'q QueuedBytes) -> Self {
        assert!(max_chunk > 0, "a chunk holds at least one byte");
        BodyWriter {
            out,
            chunked: framing == Framing::Chunked,
            max_chunk,
            queued,
        }
    }

    /// Ends the body. For chunked framing this sends the last chunk: until
    /// it arrives the client knows the body is incomplete, which is why it
    /// must only be called after every byte was produced and written.
    pub fn finish(mut self) -> io::Result<()> {
        if self.chunked {
            self.out.write_all(LAST_CHUNK)?;
        }
        self.out.flush()
    }
}

impl<W: Write> Write for BodyWriter<'_, W> {
    /// Writes some of `buf` and reports how much, as `Write` promises.
    /// Chunked: one whole chunk of up to `max_chunk` bytes per call.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // An empty chunk would be `0\r\n\r\n`: the end of the body. Writing
        // nothing must send nothing.
        if buf.is_empty() {
            return Ok(0);
        }
        let written = if self.chunked {
            let data = &buf[..buf.len().min(self.max_chunk)];
            write_chunk(&mut self.out, data)?;
            data.len()
        } else {
            self.out.write(buf)?
        };
        self.queued.sent(written);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes `data` as one chunk: hex size, CRLF, the data, CRLF.
///
/// The three parts go out in one vectored write, not three: with Nagle's
/// algorithm a small size line followed by data can otherwise wait for an
/// ACK, and without it each part can become its own TCP segment.
fn write_chunk(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    let mut size_line = [0u8; MAX_CHUNK_SIZE_LINE];
    let size_line = chunk_size_line(data.len(), &mut size_line);
    let mut parts = [
        IoSlice::new(size_line),
        IoSlice::new(data),
        IoSlice::new(b"\r\n"),
    ];
    write_all_vectored(out, &mut parts)
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

/// `Write::write_all` for several buffers (std's is not yet stable).
fn write_all_vectored(out: &mut impl Write, mut parts: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut parts, 0); // skip empty parts up front
    while !parts.is_empty() {
        match out.write_vectored(parts) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut parts, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Mode;

    fn encode(framing: Framing, max_chunk: usize, writes: &[&[u8]]) -> (Vec<u8>, u64) {
        let queued = QueuedBytes::new(Mode::Pipeline);
        let mut wire = Vec::new();
        let mut body = BodyWriter::new(&mut wire, framing, max_chunk, &queued);
        for w in writes {
            queued.produced(w.len());
            body.write_all(w).unwrap();
        }
        body.finish().unwrap();
        (wire, queued.unsent())
    }

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
    fn chunked_body_on_the_wire() {
        let (wire, unsent) = encode(Framing::Chunked, 16, &[b"hello", b"", b"world!"]);
        assert_eq!(wire, b"5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n");
        assert_eq!(unsent, 0, "every byte written was reported as sent");
    }

    #[test]
    fn writes_longer_than_a_chunk_are_split() {
        let (wire, _) = encode(Framing::Chunked, 4, &[b"abcdefghij"]);
        assert_eq!(wire, b"4\r\nabcd\r\n4\r\nefgh\r\n2\r\nij\r\n0\r\n\r\n");
    }

    #[test]
    fn an_empty_body_is_just_the_last_chunk() {
        let (wire, _) = encode(Framing::Chunked, 16, &[]);
        assert_eq!(wire, LAST_CHUNK);
    }

    #[test]
    fn unchunked_bodies_go_out_as_they_are() {
        for framing in [Framing::ContentLength(11), Framing::CloseDelimited] {
            let (wire, unsent) = encode(framing, 4, &[b"hello ", b"world"]);
            assert_eq!(wire, b"hello world");
            assert_eq!(unsent, 0);
        }
    }

    /// A writer that takes at most `limit` bytes per call, like a socket
    /// whose send buffer is nearly full.
    struct Trickle {
        wire: Vec<u8>,
        limit: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.limit);
            self.wire.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_never_corrupt_a_chunk() {
        let mut out = Trickle {
            wire: Vec::new(),
            limit: 3,
        };
        write_chunk(&mut out, b"abcdefghijklmnopq").unwrap();
        assert_eq!(out.wire, b"11\r\nabcdefghijklmnopq\r\n");
    }
}
