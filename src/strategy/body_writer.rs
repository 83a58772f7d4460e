//! The body's last step into the socket: framing (the chunk encoder) and the
//! bookkeeping of what was sent.
//!
//! Every strategy ends in a [`BodyWriter`]. It frames each `write` for the
//! wire (RFC 9112 §7.1 for chunked) and reports every body byte the socket
//! accepted to the response's [`QueuedBytes`]. Because the accounting is
//! here, at the one place bytes leave userland, the four strategies cannot
//! disagree about what "sent" means.
//!
//! Its blocked `write` is the backpressure signal every strategy inherits.
//! Over HTTP/1.x, `W` is [`Http1`](super::Http1) around a
//! [`DeadlineWriter`](crate::defense::send_deadline::DeadlineWriter), so the
//! block is bounded in time too; over HTTP/2 it is the stream's hand-off to
//! the connection's writer, whose wait has the same deadline.

use std::io::{self, IoSlice, Write};

use super::Wire;
use super::queued_bytes::QueuedBytes;
use crate::http::chunked::{LAST_CHUNK, write_all_vectored, write_chunk};
use crate::http::response::Framing;

/// Writes one response body to `W` in the response's framing.
pub struct BodyWriter<'q, W: Wire> {
    /// The socket, or an HTTP/2 stream (a `Vec` in unit tests).
    out: W,
    /// Whether each write becomes a chunk (HTTP/1.1) or goes out as it is
    /// (`Content-Length` or close-delimited bodies).
    chunked: bool,
    /// Largest chunk to put on the wire, and the unit that leaves the
    /// queue; a longer write is split.
    max_chunk: usize,
    /// Told about every body byte that `out` accepted.
    queued: &'q QueuedBytes,
}

impl<'q, W: Wire> BodyWriter<'q, W> {
    /// `max_chunk` must be at least 1: the largest chunk on the wire (for
    /// chunked framing) and the most one `write` takes (for every framing).
    pub fn new(out: W, framing: Framing, max_chunk: usize, queued: &'q QueuedBytes) -> Self {
        assert!(max_chunk > 0, "a chunk holds at least one byte");
        BodyWriter {
            out,
            chunked: framing == Framing::Chunked,
            max_chunk,
            queued,
        }
    }

    /// Ends the body. For chunked framing this sends the last chunk, and
    /// over HTTP/2 the wire's end flag: until it arrives the client knows
    /// the body is incomplete, which is why it must only be called after
    /// every byte was produced and written.
    pub fn finish(mut self) -> io::Result<()> {
        if self.chunked {
            self.out.write_all(LAST_CHUNK)?;
        }
        self.out.end_body()
    }
}

impl<W: Wire> Write for BodyWriter<'_, W> {
    /// Takes the first `max_chunk` bytes of `buf` (all of it, if shorter)
    /// and returns only once every one of them is written, as one whole
    /// chunk when chunked: unlike most `Write`s, a short count here means
    /// the rest of `buf` was over `max_chunk`, never a partial write. An
    /// error may come after part of them left, which `sent` counts: the
    /// body is over then anyway.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // An empty chunk would be `0\r\n\r\n`: the end of the body. Writing
        // nothing must send nothing.
        if buf.is_empty() {
            return Ok(0);
        }
        // Sent is counted as each piece leaves, so a chunk cut halfway
        // counts the half that reached the socket; it leaves the queue
        // whole, once its last byte is out, in every framing: its buffer is
        // held until then, whichever protocol carries it.
        let data = &buf[..buf.len().min(self.max_chunk)];
        if self.chunked {
            write_chunk(&mut self.out, data, |n| self.queued.sent(n))?;
        } else {
            let mut parts = [IoSlice::new(data)];
            write_all_vectored(&mut self.out, &mut parts, |n| self.queued.sent(n))?;
        }
        self.queued.released(data.len());
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::Mode;
    use crate::http::chunked::ChunkedDecoder;
    use crate::http::chunked::testing::Trickle;
    use crate::strategy::Http1;

    fn encode(framing: Framing, max_chunk: usize, writes: &[&[u8]]) -> (Vec<u8>, u64) {
        let queued = QueuedBytes::new(Mode::Pipeline);
        let mut wire = Vec::new();
        let mut body = BodyWriter::new(Http1(&mut wire), framing, max_chunk, &queued);
        for w in writes {
            queued.produced(w.len());
            body.write_all(w).unwrap();
        }
        body.finish().unwrap();
        (wire, queued.unreleased())
    }

    #[test]
    fn chunked_body_on_the_wire() {
        let (wire, unreleased) = encode(Framing::Chunked, 16, &[b"hello", b"", b"world!"]);
        assert_eq!(wire, b"5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n");
        assert_eq!(unreleased, 0, "every byte written was released");
    }

    /// An empty `write` sends nothing: as a chunk it would be `0\r\n\r\n`,
    /// the end of the body. (`write_all` never passes one on, so
    /// `chunked_body_on_the_wire`'s empty write does not reach `write`.)
    #[test]
    fn an_empty_write_sends_nothing() {
        let queued = QueuedBytes::new(Mode::Pipeline);
        let mut wire = Vec::new();
        let mut body = BodyWriter::new(Http1(&mut wire), Framing::Chunked, 16, &queued);
        assert_eq!(body.write(b"").unwrap(), 0);
        queued.produced(5);
        body.write_all(b"hello").unwrap();
        assert_eq!(body.write(b"").unwrap(), 0);
        body.finish().unwrap();
        assert_eq!(wire, b"5\r\nhello\r\n0\r\n\r\n");
        assert_eq!((queued.sent_bytes(), queued.unreleased()), (5, 0));
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

    /// A body cut anywhere, even inside a chunk's data, counts as sent
    /// exactly the body bytes that reached the socket.
    #[test]
    fn a_cut_body_counts_exactly_what_left() {
        let body = b"0123456789abcdefghij";
        for framing in [Framing::Chunked, Framing::CloseDelimited] {
            for budget in 0..40 {
                let queued = QueuedBytes::new(Mode::Pipeline);
                // A socket that takes 5 bytes a write, `budget` in all.
                let mut cut = Trickle {
                    wire: Vec::new(),
                    limit: 5,
                    budget,
                };
                let mut writer = BodyWriter::new(Http1(&mut cut), framing, 8, &queued);
                queued.produced(body.len());
                let _ = writer.write_all(body);
                // What the wire holds, less the chunk framing: the body
                // bytes a client's decoder gets out of it.
                let mut left = cut.wire.len();
                if framing == Framing::Chunked {
                    left = 0;
                    let mut decoder = ChunkedDecoder::default();
                    decoder.feed(&cut.wire, |data| left += data.len()).unwrap();
                }
                assert_eq!(queued.sent_bytes(), left as u64, "{framing:?}, {budget}");
                // A chunk leaves the queue whole, once all of it is out: at
                // most the one being written is sent but still queued.
                let released = body.len() as u64 - queued.unreleased();
                assert!(released <= queued.sent_bytes(), "{framing:?}, {budget}");
                assert!(queued.sent_bytes() - released <= 8, "{framing:?}, {budget}");
                // In every framing, so that a stall over HTTP/1.0 or
                // HTTP/2 holds the strategy's bound exactly as over
                // chunked HTTP/1.1: only whole pieces of `max_chunk` leave.
                assert!(
                    released.is_multiple_of(8) || released == body.len() as u64,
                    "{framing:?}, {budget}: {released} released"
                );
            }
        }
    }

    #[test]
    fn unchunked_bodies_go_out_as_they_are() {
        for framing in [Framing::ContentLength(11), Framing::CloseDelimited] {
            let (wire, unreleased) = encode(framing, 4, &[b"hello ", b"world"]);
            assert_eq!(wire, b"hello world");
            assert_eq!(unreleased, 0);
        }
    }
}
