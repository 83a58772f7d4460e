//! The four ways to send the export's body, one file each: the lesson.
//!
//! | mode        | file                            | memory under a slow client   |
//! |-------------|---------------------------------|------------------------------|
//! | `buffer`    | [`buffer`] (`buffer.rs`)        | O(body) per connection       |
//! | `unbounded` | [`unbounded`] (`unbounded.rs`)  | grows without bound: the bug |
//! | `bounded`   | [`bounded`] (`bounded.rs`)      | flat, ≤ (depth + 2) × chunk  |
//! | `pipeline`  | [`pipeline`] (`pipeline.rs`)    | flat, one chunk's buffer     |
//!
//! All four read the same bytes from
//! [`CsvRows`](crate::export::csv_rows::CsvRows) and write them through the
//! same [`BodyWriter`] (`body_writer.rs`, the chunk framing and the one
//! place "sent" is counted); they differ only in what sits between the two.
//! The two channel strategies share their producer thread (`producer.rs`)
//! and writer loop (`two_threads.rs`), and differ in where each chunk's
//! buffer comes from (`chunk_buffers.rs`). [`QueuedBytes`]
//! (`queued_bytes.rs`) is the number that tells them apart: bytes produced
//! and not yet written, a chunk counted until its last byte is.
//!
//! Each takes an [`ExportResponse`] whose head has not been sent, so each
//! shows *when* the head goes out relative to the work: `buffer` builds the
//! whole body first; `unbounded` and `bounded` once their producer has
//! counted its first chunk (the handshake they share in `two_threads.rs`,
//! so that a cap refusing `unbounded`'s first chunk is still answered with
//! a status); `pipeline` at once, being flat and never capped.
//!
//! Nothing here names a socket or a protocol: the response goes to a
//! [`Wire`], which sends a head, the body's bytes, and the body's end. The
//! server makes it a deadline-bound `TcpStream` speaking HTTP/1.1
//! ([`Http1`]) or one stream of an HTTP/2 connection; the tests a `Vec`.
//!
//! # Adding a strategy
//!
//! A variant of [`Mode`] and a file here. The compiler then stops at each
//! answer that depends on the mode: its name, its place in [`Mode::ALL`]
//! and whether it is flat (a mode that is not is charged to the buffering
//! caps), all in `export/mode.rs`; [`queued_before_head`] and [`send`]
//! here; its colour in the demo's chart (`demo/chart.rs`). [`framing`]
//! gives any mode but `buffer` chunked, close-delimited or DATA-framed
//! bodies without asking. A mode with a producer thread can reuse
//! `two_threads::stream` with its own queue: a
//! [`ChunkSender`](producer::ChunkSender) and any iterator of chunks.
//! `/metrics`, the demo and the 400 for an unknown mode follow
//! [`Mode::ALL`]. No compiler sees the rest:
//!
//! - `server/envelope.rs` counts (depth + 2) × chunk and one producer
//!   thread for each stream: a mode that may hold more is added there;
//! - the mode's line in `GET /` (`index_page` in `server/routes.rs`), the
//!   lists in `serve --help` (`cli/serve.rs`) and `demo --help`
//!   (`cli/demo.rs`), and `--channel-depth`'s help if the mode reads it;
//! - the tests' `MODES` in `tests/common/mod.rs` (a test fails until it
//!   matches [`Mode::ALL`]) and `DEPTH_MODES` beside it; a test of the
//!   mode's queue at a stall in `tests/memory.rs`, the only kind that fails
//!   for a queue that never waits; the lists of channel modes in this
//!   file's tests and of modes in `benches/`; for a flat mode, the list in
//!   `tests/hot_loop_allocations.rs`, or "allocates nothing per chunk"
//!   goes untested for it; the Defense note's causes (`demo/mod.rs`);
//! - the README's table and ARCHITECTURE.md's invariants, with figures
//!   from a demo run.

mod body_writer;
pub mod bounded;
pub mod buffer;
mod chunk_buffers;
pub mod pipeline;
mod producer;
mod queued_bytes;
mod two_threads;
pub mod unbounded;

use std::io::{self, Write};

pub use body_writer::BodyWriter;
pub use queued_bytes::QueuedBytes;
// For the memory envelope (`server/envelope.rs`).
pub(crate) use producer::PRODUCER_STACK_BYTES;

use crate::defense::buffer_caps::OverLimit;
use crate::export::{Mode, csv_rows};
use crate::http::request::Version;
use crate::http::response::{Framing, ResponseHead, Status};
use crate::measure::{clock, metrics::METRICS};

/// How a response in `mode` is framed for a client of this HTTP version.
/// Only `buffer` knows its length before sending; over HTTP/1.1 the
/// streaming modes use chunked framing, which HTTP/1.0 clients do not
/// understand, so those get a body that ends when the connection closes.
/// HTTP/2 needs neither: its frames carry the body and a flag ends it.
pub fn framing(mode: Mode, rows: u64, version: Version) -> Framing {
    match (mode, version) {
        (Mode::Buffer, _) => Framing::ContentLength(csv_rows::body_len(rows)),
        (_, Version::Http10) => Framing::CloseDelimited,
        (_, Version::Http11) => Framing::Chunked,
        (_, Version::Http2) => Framing::Frames,
    }
}

/// Bytes a capped strategy queues before it sends its head, which is when
/// a buffering cap can still refuse it with a status: a `buffer` body
/// whole, an `unbounded` one's first chunk (`two_threads.rs`'s handshake).
/// `None` for the two that are flat by construction and not capped.
pub fn queued_before_head(plan: &ExportPlan) -> Option<u64> {
    let body = csv_rows::body_len(plan.rows);
    match plan.mode {
        Mode::Buffer => Some(body),
        Mode::Unbounded => Some(body.min(plan.chunk_bytes as u64)),
        Mode::Bounded | Mode::Pipeline => None,
    }
}

/// Where a response goes: a head, then the body's bytes (`Write`), then
/// the body's end. The strategies see only this, so the same four run over
/// HTTP/1.1, where the head is text and the body ends in its framing, and
/// over HTTP/2, where the head is a HEADERS frame and the end a flag.
pub trait Wire: Write {
    /// Sends the response head. From here on the status is committed.
    fn send_head(&mut self, head: &ResponseHead) -> io::Result<()>;
    /// Says that the body is complete. Called once, after its last byte,
    /// and never for a body cut short: not being called is how a cut body
    /// stays visibly incomplete.
    fn end_body(&mut self) -> io::Result<()>;

    /// Fails, with the error its next write would fail with, once nobody
    /// will read the response: how work done before the first write
    /// (`buffer`'s render) learns to stop, since no write tells it. A wire
    /// that cannot tell without writing says yes, as HTTP/1.1's socket
    /// must: its client's FIN may be only a half-close.
    fn still_wanted(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A borrowed wire is a wire: the caller keeps it, to end it its own way.
impl<W: Wire + ?Sized> Wire for &mut W {
    fn send_head(&mut self, head: &ResponseHead) -> io::Result<()> {
        (**self).send_head(head)
    }

    fn end_body(&mut self) -> io::Result<()> {
        (**self).end_body()
    }

    fn still_wanted(&mut self) -> io::Result<()> {
        (**self).still_wanted()
    }
}

/// HTTP/1.x over any `Write`: the head as text, dated when it is sent; the
/// body's end is in its framing (the last chunk, the `Content-Length`, or
/// the close), so ending it only flushes.
pub struct Http1<W>(
    /// The bytes' way out: the server's `DeadlineWriter` around the socket
    /// (`defense/send_deadline.rs`), or a `Vec` in tests and benchmarks.
    pub W,
);

impl<W: Write> Write for Http1<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> Wire for Http1<W> {
    fn send_head(&mut self, head: &ResponseHead) -> io::Result<()> {
        self.0.write_all(&head.to_bytes(clock::now_unix_seconds()))
    }

    fn end_body(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// What one export request asks for, and the buffer sizes it may use.
#[derive(Clone, Copy, Debug)]
pub struct ExportPlan {
    /// Rows after the header line.
    pub rows: u64,
    /// Which strategy moves the body.
    pub mode: Mode,
    /// Most bytes in one chunk a producer hands to the writer, and in one
    /// HTTP chunk on the wire; `pipeline`'s one buffer is this size too.
    pub chunk_bytes: usize,
    /// Chunks the `bounded` channel holds before the producer blocks.
    pub channel_depth: usize,
}

/// An export response whose head has not been sent yet: everything a
/// strategy needs, and the only way for it to start sending.
pub struct ExportResponse<'a, W: Wire> {
    /// Where the head and body go: the client's socket, or an HTTP/2 stream.
    out: W,
    /// Sent by [`ExportResponse::start`]; its framing decides the body's.
    head: ResponseHead,
    /// What to send.
    plan: &'a ExportPlan,
    /// Where the strategy reports bytes it produced, and the body writer
    /// bytes it sent.
    queued: &'a QueuedBytes,
    /// Ends the connection from another thread: a producer whose queue was
    /// refused by a cap calls it, so that a writer blocked on a stalled
    /// client wakes at once instead of after the send timeout. `None` where
    /// there is no connection to end (unit tests, benchmarks).
    cancel: Option<&'a (dyn Fn() + Sync)>,
    /// Whether the server has cut every response still open (the
    /// shutdown's drain timeout passed): asked by
    /// [`ExportResponse::still_wanted`] besides the wire, which may not
    /// know it yet: HTTP/1.1's socket tells only its next write, an HTTP/2
    /// stream only once its connection's reader has met the cut. `None`
    /// where no shutdown comes.
    shutdown_cutting: Option<&'a (dyn Fn() -> bool + Sync)>,
}

impl<'a, W: Wire> ExportResponse<'a, W> {
    pub fn new(out: W, head: ResponseHead, plan: &'a ExportPlan, queued: &'a QueuedBytes) -> Self {
        ExportResponse {
            out,
            head,
            plan,
            queued,
            cancel: None,
            shutdown_cutting: None,
        }
    }

    /// Sets [`ExportResponse::cancel`].
    pub fn with_cancel(mut self, cancel: &'a (dyn Fn() + Sync)) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Sets what [`ExportResponse::still_wanted`] asks of the server.
    pub fn with_shutdown_cutting(mut self, cutting: &'a (dyn Fn() -> bool + Sync)) -> Self {
        self.shutdown_cutting = Some(cutting);
        self
    }

    /// Whether anyone will read this response, for a strategy that works
    /// long before its head (`buffer`'s render) and must ask between
    /// pieces of that work. If not, the error its head would have failed
    /// with: the shutdown cut it, or the wire's client left (an HTTP/2
    /// stream reset, or its connection ended). No status went out, so none
    /// is logged, as for a client gone before the head. The wire is asked
    /// first: what it knows was decided when it happened (a stream the
    /// client reset a moment before the cut stays the client's abort).
    pub fn still_wanted(&mut self) -> Result<(), ExportError> {
        self.out.still_wanted().map_err(ExportError::HeadNotSent)?;
        if self.shutdown_cutting.is_some_and(|cutting| cutting()) {
            let error = io::Error::new(io::ErrorKind::ConnectionAborted, "cut by the shutdown");
            return Err(ExportError::HeadNotSent(error));
        }
        Ok(())
    }

    /// How the body will be framed: `Content-Length` carries the exact size.
    pub fn framing(&self) -> Framing {
        self.head.framing()
    }

    /// Sends the head and returns the writer for the body. From here on the
    /// status is committed: a failure can only end the connection.
    pub fn start(mut self) -> Result<BodyWriter<'a, W>, ExportError> {
        self.out
            .send_head(&self.head)
            .map_err(ExportError::HeadNotSent)?;
        METRICS.responded(Some(self.plan.mode), self.head.status());
        let framing = self.head.framing();
        let body = BodyWriter::new(self.out, framing, self.plan.chunk_bytes, self.queued);
        Ok(body)
    }
}

/// Why an export did not complete.
#[derive(Debug)]
pub enum ExportError {
    /// Refused before the head was sent, so the client can still be told
    /// why with a proper status (the body could not be buffered, a thread
    /// could not be started).
    Refused(Status, String),
    /// Writing the head failed, or the response was found unwanted before
    /// it ([`ExportResponse::still_wanted`]): the client went (or the
    /// shutdown cut it) before it had a status, so no response was given
    /// (and none is counted).
    HeadNotSent(io::Error),
    /// Writing the body to the client failed: it closed or reset the connection, or
    /// read too slowly for the send timeout or the minimum data rate (the
    /// error then carries a [`TooSlow`](crate::defense::too_slow::TooSlow)).
    WriteFailed(io::Error),
    /// The response's queue would have passed a buffering cap after its
    /// head: it was abandoned and its connection (or stream) ended, the
    /// body left without its end. (Before the head, the cap is a
    /// [`Refused`](ExportError::Refused).)
    OverLimit(OverLimit),
    /// The producer died mid-body. The body is left without its end (no
    /// last chunk), so an HTTP/1.1 client can tell it is incomplete; an
    /// HTTP/1.0 one, whose body ends at the close, is told by the reset the
    /// connection then ends with (`End::RESETS`). It is the verdict even if
    /// the head failed too (`head_sent` false): the bug is what must be
    /// counted.
    ProducerFailed { head_sent: bool },
}

impl ExportError {
    /// A queue a cap refused before the head went out, as the answer the
    /// client gets: 503 while other responses hold the budget, since they
    /// give it back as they drain (the route adds `Retry-After`); 400 when
    /// the cap is one no retry can get under.
    pub fn refused(over: OverLimit) -> ExportError {
        let status = match over {
            OverLimit::BudgetInUse { .. } => Status::ServiceUnavailable,
            OverLimit::Response { .. } | OverLimit::Total { .. } => Status::BadRequest,
        };
        ExportError::Refused(status, over.to_string())
    }

    /// Whether the head went out before the response failed: whether there
    /// is a status to log and a cut response to count.
    pub fn head_sent(&self) -> bool {
        match self {
            ExportError::Refused(..) | ExportError::HeadNotSent(_) => false,
            ExportError::WriteFailed(_) | ExportError::OverLimit(_) => true,
            ExportError::ProducerFailed { head_sent } => *head_sent,
        }
    }
}

impl From<io::Error> for ExportError {
    /// Every I/O error an export meets is a write to the client.
    fn from(error: io::Error) -> Self {
        ExportError::WriteFailed(error)
    }
}

/// Sends the body with the plan's strategy.
pub fn send<W: Wire>(response: ExportResponse<'_, W>) -> Result<(), ExportError> {
    match response.plan.mode {
        Mode::Buffer => buffer::send(response),
        Mode::Unbounded => unbounded::send(response),
        Mode::Bounded => bounded::send(response),
        Mode::Pipeline => pipeline::send(response),
    }
}

/// Sends one whole export, a 200 head and its HTTP/1.1 body, with the
/// plan's strategy to `out`, outside any server: how the allocation test
/// and the benchmarks look at a strategy without a socket in the way.
/// Returns the body bytes written; an error says what went wrong.
pub fn send_to<W: Write>(out: W, plan: &ExportPlan) -> Result<u64, String> {
    let queued = QueuedBytes::new(plan.mode);
    let head = ResponseHead::new(Status::Ok, framing(plan.mode, plan.rows, Version::Http11));
    match send(ExportResponse::new(Http1(out), head, plan, &queued)) {
        Ok(()) => Ok(queued.sent_bytes()),
        Err(error) => Err(format!("{} export: {error:?}", plan.mode.as_str())),
    }
}

/// What the strategies' unit tests share.
#[cfg(test)]
mod testing {
    use std::io::{self, Write};

    /// A body's destination that remembers where in memory each write's
    /// bytes were: with an unchunked body a chunk is written straight from
    /// its buffer, so the addresses tell how many buffers a strategy used.
    /// The first write (the head) is kept apart.
    #[derive(Default)]
    pub struct BufferAddresses {
        /// The head's bytes, once written.
        pub head: Vec<u8>,
        /// Every body byte, in order.
        pub body: Vec<u8>,
        /// The distinct start addresses of the body's writes.
        pub buffers: Vec<usize>,
        /// The longest body write.
        pub largest: usize,
    }

    impl Write for BufferAddresses {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.head.is_empty() {
                self.head.extend_from_slice(buf);
                return Ok(buf.len());
            }
            let at = buf.as_ptr() as usize;
            if !self.buffers.contains(&at) {
                self.buffers.push(at);
            }
            self.largest = self.largest.max(buf.len());
            self.body.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::end::End;
    // A test that runs a strategy runs `within` a time bound, here and in
    // each strategy's file: a loop that never ends (rows never advanced, a
    // producer never told to stop) fails it, instead of stalling the suite.
    use crate::test_support::within;

    /// A plan of `rows` in `mode`, at a small chunk and depth 1: these tests
    /// are about how a response ends, not about sizes.
    fn plan(mode: Mode, rows: u64) -> ExportPlan {
        ExportPlan {
            rows,
            mode,
            chunk_bytes: 4096,
            channel_depth: 1,
        }
    }

    /// A client gone before the head: its write fails, and so does every
    /// write after it.
    struct Gone;

    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::ConnectionReset.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Every strategy tells a head that never left from a body cut short,
    /// so that no status is logged for a response that was never given;
    /// the channel strategies' producer is joined, not left behind.
    #[test]
    fn a_head_that_fails_is_not_a_response() {
        // Every producer must be told there will be no head, or it waits
        // for one forever.
        within(|| {
            for mode in Mode::ALL {
                let plan = plan(mode, 100_000);
                let queued = QueuedBytes::new(mode);
                let head = ResponseHead::new(Status::Ok, framing(mode, plan.rows, Version::Http11));
                let result = send(ExportResponse::new(Http1(Gone), head, &plan, &queued));
                assert!(
                    matches!(result, Err(ExportError::HeadNotSent(_))),
                    "{mode:?}: {result:?}"
                );
                assert_eq!(queued.sent_bytes(), 0, "{mode:?}");
            }
        });
    }

    /// A channel strategy's producer that dies before its first chunk is
    /// counted dies before the head too: nothing is written, and the error
    /// says no head went out, so that no status is logged and no cut
    /// response counted for a response never given. (`CsvRows` refuses
    /// more than `MAX_ROWS` rows with a panic, which only the producer
    /// thread meets: `body_len` sizes its pool without one.)
    #[test]
    fn a_producer_that_dies_before_its_first_chunk_sends_no_head() {
        within(|| {
            for mode in [Mode::Unbounded, Mode::Bounded] {
                let plan = plan(mode, csv_rows::MAX_ROWS + 1);
                let queued = QueuedBytes::new(mode);
                let head = ResponseHead::new(Status::Ok, Framing::Chunked);
                let mut wire = Vec::new();
                let result = send(ExportResponse::new(Http1(&mut wire), head, &plan, &queued));
                let Err(error @ ExportError::ProducerFailed { .. }) = result else {
                    panic!("{mode:?}: {result:?}");
                };
                assert!(!error.head_sent(), "{mode:?}: {error:?}");
                assert!(wire.is_empty(), "{mode:?}: {wire:?}");
                assert_eq!(queued.unreleased(), 0, "{mode:?}");
            }
        });
    }

    /// Ending an HTTP/1 body flushes its writer: behind a buffered one, the
    /// last chunk would otherwise wait in userland, and the client for it.
    #[test]
    fn an_http1_body_is_flushed_at_its_end() {
        within(|| {
            for mode in Mode::ALL {
                let plan = plan(mode, 10);
                let mut out = io::BufWriter::with_capacity(1 << 20, Vec::new());
                let sent = send_to(&mut out, &plan);
                assert_eq!(sent, Ok(csv_rows::body_len(plan.rows)), "{mode:?}");
                assert!(out.buffer().is_empty(), "{mode:?}: left unflushed");
                // The whole body, and the last chunk where there is one.
                let mut end = Vec::new();
                csv_rows::CsvRows::new(plan.rows).fill(&mut end, usize::MAX);
                if mode != Mode::Buffer {
                    end = [&end[..], b"\r\n0\r\n\r\n"].concat();
                }
                assert!(out.get_ref().ends_with(&end), "{mode:?}");
            }
        });
    }

    /// A wire whose client has left, its reset read as the client's.
    struct ResetByTheClient;

    impl Write for ResetByTheClient {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(End::ClientAbort.into_error())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Wire for ResetByTheClient {
        fn send_head(&mut self, _: &ResponseHead) -> io::Result<()> {
            Err(End::ClientAbort.into_error())
        }
        fn end_body(&mut self) -> io::Result<()> {
            Err(End::ClientAbort.into_error())
        }
        fn still_wanted(&mut self) -> io::Result<()> {
            Err(End::ClientAbort.into_error())
        }
    }

    /// A response its wire already knows is unwanted keeps the wire's
    /// reason once the shutdown's cut has begun too: the reason was
    /// decided when it happened (an HTTP/2 stream the client reset less
    /// than a render slice before the cut), and a bare "cut" would log the
    /// client's abort as the shutdown's.
    #[test]
    fn the_wires_reason_comes_before_the_cut() {
        let plan = plan(Mode::Buffer, 10);
        let queued = QueuedBytes::new(plan.mode);
        let head = ResponseHead::new(Status::Ok, framing(plan.mode, plan.rows, Version::Http11));
        let cutting = || true;
        let mut response = ExportResponse::new(ResetByTheClient, head, &plan, &queued)
            .with_shutdown_cutting(&cutting);
        let error = match response.still_wanted() {
            Err(ExportError::HeadNotSent(error)) => error,
            other => panic!("{other:?}"),
        };
        assert_eq!(End::of(&error), Some(End::ClientAbort), "{error}");
    }
}
