//! The machinery `unbounded` and `bounded` share, from the writer's side:
//! the connection's own thread starts a producer thread (`producer.rs`),
//! sends the head once the producer has counted its first chunk, drains
//! the channel into the socket, and says what the response came to from
//! how the two ended.
//!
//! ```text
//! producer thread ── chunk ──▶ [ channel ] ── chunk ──▶ writer (connection thread) ──▶ socket
//!        ▲                                                       │
//!        └──────────── the empty buffer (bounded only) ◀─────────┘
//! ```
//!
//! Why two threads at all? In a real service the producer is a database
//! cursor or a report engine that should not care about sockets; a channel
//! decouples the two. The lesson is that the channel's capacity decides who
//! absorbs the speed difference. The two strategies pass different channel
//! ends into [`stream`], and say where each chunk's buffer comes from
//! ([`Buffers`], in `chunk_buffers.rs`: a recycled pool for `bounded`, a
//! fresh one per chunk for `unbounded`); that is the whole difference
//! between them. Backpressure bounds that producer's memory, not what it
//! holds: blocked in `send`, a database cursor keeps its connection and
//! snapshot for as long as the client stalls, which is one more reason
//! the writer's wait is bounded in time (`DeadlineWriter`, in
//! `defense/send_deadline.rs`).
//!
//! The head waits until the first chunk is counted, and the producer
//! renders nothing more until the head is out ([`Handshake`]). A cap that
//! refuses the first chunk is then still answered with a status, as
//! `buffer`'s is: a 503 with `Retry-After` while other responses hold the
//! budget, a 400 for a chunk larger than a cap. A cap met later can only
//! cut the response, and there is always a response to cut. In a service
//! the same wait does more: a query that fails before its first row is
//! answered with an error status, not a 200 cut short.
//!
//! The producer is stopped by hang-up: when the client goes away the
//! writer's `write` fails, the writer returns and drops the receiver, the
//! producer's next `send` fails, and it returns too (`producer.rs` lists
//! every end it may find dropped). The one flag goes the other way: a
//! producer refused by a cap marks its [`QueuedBytes`], and the writer
//! stops at the next chunk instead of draining the rest. The producer is a
//! scoped thread, so it is always joined before the response is finished.

use std::io::{self, Write};
use std::sync::mpsc::{self, SyncSender};
use std::thread;

use super::BodyWriter;
use super::QueuedBytes;
use super::chunk_buffers::{Buffers, make_buffers, no_memory};
use super::producer::{ChunkSender, Handshake, Production, produce, start_producer};
use super::{ExportError, ExportResponse, Wire};
use crate::export::csv_rows::CsvRows;
use crate::http::response::Status;
use crate::measure::log;

/// Runs the export through a producer thread and the channel `tx` → `rx`,
/// each chunk rendered into a buffer from `buffers`. `rx` is any iterator
/// of chunks, as `tx` is any [`ChunkSender`]: an `mpsc::Receiver`, or the
/// receiving end of a queue of another kind, which must end once `tx` is
/// dropped and its chunks are taken, and whose drop must make the next
/// `send_chunk` fail (the hang-up that stops the producer).
pub(super) fn stream<W: Wire>(
    response: ExportResponse<'_, W>,
    tx: impl ChunkSender,
    rx: impl IntoIterator<Item = Vec<u8>>,
    buffers: Buffers,
) -> Result<(), ExportError> {
    let (queued, cancel) = (response.queued, response.cancel);
    let (rows, chunk_bytes) = (response.plan.rows, response.plan.chunk_bytes);
    let (source, give_back) = make_buffers(buffers, rows, chunk_bytes).ok_or_else(no_memory)?;
    // Room for one message each: neither side ever waits to send.
    let (tell_counted, counted) = mpsc::sync_channel(1);
    let (tell_head_out, head_out) = mpsc::sync_channel(1);
    let handshake = Handshake {
        tell_counted,
        head_out,
    };
    thread::scope(|scope| {
        let producer = start_producer(scope, move || {
            let rows = CsvRows::new(rows);
            let production = produce(rows, chunk_bytes, queued, &source, tx, handshake);
            if let (Production::OverLimit(_), Some(cancel)) = (&production, cancel) {
                // The writer may be blocked for up to the send timeout
                // on a stalled client, holding the whole capped queue;
                // ending the connection wakes it now.
                cancel();
            }
            production
        })
        .map_err(no_producer_thread)?;

        // The head waits for the first chunk to be counted: a cap that
        // refuses it (other responses hold the whole budget) is answered
        // with a status, as `buffer`'s is, not with a cut connection. The
        // producer drops `tell_counted` without a word only if it ended
        // before counting a chunk: a cap refused it, or it panicked.
        if counted.recv().is_err() {
            return ended_before_its_first_chunk(producer.join(), response);
        }
        let body = match response.start() {
            Ok(body) => body,
            Err(e) => {
                // The producer waits for the head: hanging up tells it
                // there will be none, and it returns. (Waiting, it cannot
                // panic; were it to, the panic would be the verdict.)
                drop(tell_head_out);
                return Err(match producer.join() {
                    Err(_) => ExportError::ProducerFailed { head_sent: false },
                    Ok(_) => e,
                });
            }
        };
        // Fails only if the producer is gone, which it can be only by a
        // panic: its join below makes that the verdict.
        let _ = tell_head_out.send(());
        let written = write_chunks(body, rx, give_back, queued);
        // The receiver is gone by now, so a producer blocked in `send` wakes
        // with an error and returns: this join cannot hang.
        verdict(written, producer.join())
    })
}

/// The answer when the producer thread cannot start: nothing is sent yet,
/// so the client can be told, with a 503; the access log shows only the
/// status, so the reason gets a line of its own.
fn no_producer_thread(error: io::Error) -> ExportError {
    let reason = format!("cannot start a producer thread: {error}");
    log::line(format!("backpressure: {reason}"));
    ExportError::Refused(Status::ServiceUnavailable, reason)
}

/// The response of a producer that ended, `produced`, without counting a
/// first chunk: the head has not gone out, so a refusal is still a status.
fn ended_before_its_first_chunk<W: Wire>(
    produced: thread::Result<Production>,
    response: ExportResponse<'_, W>,
) -> Result<(), ExportError> {
    match produced {
        Ok(Production::RefusedFirst(over)) => Err(ExportError::refused(over)),
        // An empty body; not reached, since the CSV header is in every one.
        Ok(Production::Complete) => Ok(response.start()?.finish()?),
        // A panic: `WriterHungUp` needs the writer or the head gone, and
        // `OverLimit` a chunk after the first; neither can come before the
        // first chunk is counted.
        _ => Err(ExportError::ProducerFailed { head_sent: false }),
    }
}

/// What a response whose head went out came to, from how the writer
/// (`written`) and the producer (`produced`) each ended. Only a body both
/// ended well is finished: a body without its last chunk tells an HTTP/1.1
/// client it is incomplete.
fn verdict<W: Wire>(
    written: io::Result<BodyWriter<'_, W>>,
    produced: thread::Result<Production>,
) -> Result<(), ExportError> {
    match (written, produced) {
        // First, because the cancelled connection also fails the writer.
        (_, Ok(Production::OverLimit(limit))) => Err(ExportError::OverLimit(limit)),
        // The producer panicked: a bug, to be counted as one even if the
        // client left at the same moment. Sending the last chunk now would
        // make a truncated export look complete.
        (_, Err(_)) => Err(ExportError::ProducerFailed { head_sent: true }),
        (Err(e), _) => Err(ExportError::WriteFailed(e)),
        (Ok(body), Ok(Production::Complete)) => Ok(body.finish()?),
        // Not reached: the producer stops only once the writer has gone,
        // and the writer ends well only after the producer has; a first
        // chunk refused never gets here. Should it happen, the body is
        // left without its last chunk.
        (Ok(_), Ok(Production::WriterHungUp | Production::RefusedFirst(_))) => {
            Err(ExportError::ProducerFailed { head_sent: true })
        }
    }
}

/// The writer: drains chunks into the body until the producer hangs up,
/// or stops at once if the producer's queue was refused by a cap (draining
/// hundreds of MB to a slow client first would defeat the cap). Each
/// written buffer goes back through `give_back`, if there is one, before the
/// next chunk is taken: taking one frees the producer's blocked `send`, and its
/// next buffer must already be back, or it waits for this one (`Source::take`
/// counts on it). Takes `rx` by value so that returning, for any reason, drops
/// it, and every chunk still queued with it: the hang-up.
fn write_chunks<'q, W: Wire>(
    mut body: BodyWriter<'q, W>,
    rx: impl IntoIterator<Item = Vec<u8>>,
    give_back: Option<SyncSender<Vec<u8>>>,
    queued: &QueuedBytes,
) -> io::Result<BodyWriter<'q, W>> {
    for chunk in rx {
        if queued.refused() {
            break;
        }
        body.write_all(&chunk)?;
        if let Some(give_back) = &give_back {
            // Never full (it has room for every buffer); if the producer
            // is gone, the buffer is freed here instead.
            let _ = give_back.try_send(chunk);
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defense::buffer_caps::{BufferBudget, BufferLimit, OverLimit};
    use crate::export::Mode;
    use crate::http::chunked::LAST_CHUNK;
    use crate::http::response::{Framing, ResponseHead};
    use crate::strategy::producer::WriterGone;
    use crate::strategy::testing::BufferAddresses;
    use crate::strategy::{ExportPlan, Http1};
    use crate::test_support::within;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A `bounded` export of `rows` in chunks of `chunk_bytes`.
    fn bounded_plan(rows: u64, chunk_bytes: usize, channel_depth: usize) -> ExportPlan {
        ExportPlan {
            rows,
            mode: Mode::Bounded,
            chunk_bytes,
            channel_depth,
        }
    }

    /// Runs `rows` through `bounded`'s machinery, unchunked so that each
    /// write comes straight from a chunk's buffer.
    fn recycled(rows: u64, chunk_bytes: usize, depth: usize) -> BufferAddresses {
        // A recycled buffer not emptied before it is refilled never comes
        // back empty: the producer would never end.
        within(move || {
            let plan = bounded_plan(rows, chunk_bytes, depth);
            let queued = QueuedBytes::new(Mode::Bounded);
            let head = ResponseHead::new(Status::Ok, Framing::CloseDelimited);
            let mut out = BufferAddresses::default();
            let (tx, rx) = mpsc::sync_channel(depth);
            let response = ExportResponse::new(Http1(&mut out), head, &plan, &queued);
            let result = stream(response, tx, rx, Buffers::Recycled(depth + 2));
            assert!(result.is_ok(), "{result:?}");
            assert_eq!(queued.unreleased(), 0);
            out
        })
    }

    /// The bound is physical: however many chunks a body has, they are
    /// all written from depth + 2 buffers, told apart by their addresses.
    /// A buffer freed and made again at the same address would pass here;
    /// `tests/hot_loop_allocations.rs` shows no chunk allocates.
    #[test]
    fn every_chunk_is_rendered_into_one_of_depth_plus_two_buffers() {
        let rows = 10_000; // about 500 KB: 500 chunks of 1000 bytes
        let mut expected = Vec::new();
        CsvRows::new(rows).fill(&mut expected, usize::MAX);
        for depth in [0, 1, 3] {
            let out = recycled(rows, 1000, depth);
            assert!(
                out.body == expected,
                "depth {depth}: the body is the export"
            );
            assert_eq!(out.largest, 1000, "depth {depth}");
            assert_eq!(out.buffers.len(), depth + 2, "depth {depth}");
        }
        // A body of one chunk needs one buffer, whatever the depth.
        let out = recycled(1, 1000, 3);
        assert_eq!(out.buffers.len(), 1);
    }

    /// A sender whose producer dies (panics) when handed chunk number
    /// `dies_on` (from 0), as a real producer might on a failing database
    /// cursor.
    struct DiesOnChunk {
        inner: mpsc::SyncSender<Vec<u8>>,
        sent: AtomicUsize,
        dies_on: usize,
    }

    impl DiesOnChunk {
        fn new(inner: mpsc::SyncSender<Vec<u8>>, dies_on: usize) -> Self {
            DiesOnChunk {
                inner,
                sent: AtomicUsize::new(0),
                dies_on,
            }
        }
    }

    impl ChunkSender for DiesOnChunk {
        fn send_chunk(&self, chunk: Vec<u8>) -> Result<(), WriterGone> {
            if self.sent.fetch_add(1, Ordering::Relaxed) == self.dies_on {
                panic!("the producer failed (a deliberate test panic)");
            }
            self.inner.send_chunk(chunk)
        }
    }

    /// A client that takes the head and is gone before the first chunk.
    #[derive(Default)]
    struct LeavesAfterHead {
        head_written: bool,
    }

    impl Write for LeavesAfterHead {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if std::mem::replace(&mut self.head_written, true) {
                return Err(io::ErrorKind::ConnectionReset.into());
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A client whose first write, the head's, takes 200 ms, and which
    /// notes whether the connection was cancelled by the time it is done.
    struct SlowHead<'a> {
        cancelled: &'a Mutex<bool>,
        cancelled_during_head: Option<bool>,
        /// Body writes wait until the producer's queue has been refused
        /// (10 s at most): the first chunk stays charged while the producer
        /// renders the second. Written at once, it could be given back
        /// first when the producer is slow to run, and every later chunk
        /// would fit.
        queued: &'a QueuedBytes,
    }

    impl Write for SlowHead<'_> {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self.cancelled_during_head.is_none() {
                thread::sleep(Duration::from_millis(200));
                self.cancelled_during_head = Some(*self.cancelled.lock().unwrap());
                return Ok(bytes.len());
            }
            let waiting = std::time::Instant::now();
            while !self.queued.refused() && waiting.elapsed() < Duration::from_secs(10) {
                thread::sleep(Duration::from_millis(1));
            }
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An `unbounded` export of 1000 rows in 100-byte chunks, under a
    /// budget of 1000 bytes of which other responses hold `held`.
    fn under_budget(held: u64) -> (ExportPlan, QueuedBytes) {
        let plan = ExportPlan {
            rows: 1000,
            mode: Mode::Unbounded,
            chunk_bytes: 100,
            channel_depth: 0,
        };
        let budget = Arc::new(BufferBudget::new(1000));
        assert!(budget.try_take(held), "held by other responses");
        let limit = BufferLimit {
            per_response: 1 << 20,
            budget,
        };
        (plan, QueuedBytes::capped(Mode::Unbounded, limit))
    }

    /// A producer the OS gives no thread (RLIMIT_NPROC, no memory for its
    /// stack) is an answer, not a panic: a 503, which the route sends with
    /// `Retry-After`, its reason said on one log line too, and nothing
    /// written or queued, in both channel modes.
    #[test]
    fn a_producer_no_thread_can_start_for_is_a_503_before_the_head() {
        for (mode, buffers) in [
            (Mode::Bounded, Buffers::Recycled(3)),
            (Mode::Unbounded, Buffers::PerChunk),
        ] {
            let (result, wire, unreleased, log) = within(move || {
                let plan = ExportPlan {
                    mode,
                    ..bounded_plan(1000, 100, 1)
                };
                let queued = QueuedBytes::new(mode);
                let head = ResponseHead::new(Status::Ok, Framing::Chunked);
                let mut wire = Vec::new();
                let response = ExportResponse::new(Http1(&mut wire), head, &plan, &queued);
                let (tx, rx) = mpsc::sync_channel(1);
                let refused = || stream(response, tx, rx, buffers);
                let (result, log) =
                    log::capture(|| crate::test_support::with_failing_spawns(refused));
                (result, wire, queued.unreleased(), log)
            });
            let Err(ExportError::Refused(Status::ServiceUnavailable, reason)) = result else {
                panic!("{mode:?}: {result:?}");
            };
            let why = "cannot start a producer thread: operation would block";
            assert_eq!(reason, why, "{mode:?}");
            assert!(
                wire.is_empty() && unreleased == 0,
                "{mode:?}: {wire:?}, {unreleased}"
            );
            let said = format!("backpressure: {why}");
            assert_eq!(log.iter().filter(|l| **l == said).count(), 1, "{log:#?}");
        }
    }

    /// Other responses hold the whole budget: the first chunk is refused
    /// before the head, which waits for it, so the client gets a 503 it
    /// may retry, not a cut connection. Nothing is written and nothing
    /// cancelled.
    #[test]
    fn a_first_chunk_over_the_budget_is_a_503() {
        within(|| {
            let (plan, queued) = under_budget(1000);
            let cancelled = Mutex::new(false);
            let cancel = || *cancelled.lock().unwrap() = true;
            let head = ResponseHead::new(Status::Ok, Framing::Chunked);
            let mut wire = Vec::new();
            let response =
                ExportResponse::new(Http1(&mut wire), head, &plan, &queued).with_cancel(&cancel);
            let (tx, rx) = mpsc::channel();
            let result = stream(response, tx, rx, Buffers::PerChunk);
            let Err(ExportError::Refused(Status::ServiceUnavailable, reason)) = result else {
                panic!("{result:?}");
            };
            assert!(reason.contains("--max-buffered-total"), "{reason}");
            assert!(wire.is_empty(), "{wire:?}");
            assert!(!*cancelled.lock().unwrap());
            assert_eq!(queued.unreleased(), 0);
        });
    }

    /// The first chunk fits, the second would not, and the head is slow to
    /// go out: the producer waits for it before rendering the second, so
    /// the cap is met after the head, and cuts a response rather than a
    /// connection that never got one.
    #[test]
    fn no_chunk_after_the_first_is_rendered_before_the_head_is_out() {
        within(|| {
            let (plan, queued) = under_budget(900);
            let cancelled = Mutex::new(false);
            let cancel = || *cancelled.lock().unwrap() = true;
            let head = ResponseHead::new(Status::Ok, Framing::Chunked);
            let mut wire = SlowHead {
                cancelled: &cancelled,
                cancelled_during_head: None,
                queued: &queued,
            };
            let response =
                ExportResponse::new(Http1(&mut wire), head, &plan, &queued).with_cancel(&cancel);
            let (tx, rx) = mpsc::channel();
            let result = stream(response, tx, rx, Buffers::PerChunk);
            assert_eq!(wire.cancelled_during_head, Some(false));
            assert!(
                matches!(
                    result,
                    Err(ExportError::OverLimit(OverLimit::BudgetInUse {
                        budget: 1000
                    }))
                ),
                "{result:?}"
            );
            assert!(*cancelled.lock().unwrap(), "cut once the head was out");
        });
    }

    /// A client whose body writes wait until the producer's queue has been
    /// refused by its cap: by then every chunk the cap let in is queued.
    struct WaitsForTheRefusal<'q> {
        queued: &'q QueuedBytes,
        head: Vec<u8>,
        body: Vec<u8>,
    }

    impl Write for WaitsForTheRefusal<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.head.is_empty() {
                self.head.extend_from_slice(buf);
                return Ok(buf.len());
            }
            let waiting = std::time::Instant::now();
            while !self.queued.refused() && waiting.elapsed() < Duration::from_secs(10) {
                thread::sleep(Duration::from_millis(1));
            }
            self.body.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A cap met after the head ends the response at the writer's next
    /// chunk, even with no connection to cancel: the writer writes at most
    /// the first chunk (none if it saw the refusal first) and drains none of
    /// the nine queued behind it, which would only hand a doomed body to a
    /// slow client.
    #[test]
    fn a_refused_queue_stops_the_writer_at_its_next_chunk() {
        within(|| {
            // 10 chunks of 100 bytes fit the budget of 1000; an 11th would
            // make the queue larger than the whole budget.
            let (plan, queued) = under_budget(0);
            let head = ResponseHead::new(Status::Ok, Framing::CloseDelimited);
            let mut wire = WaitsForTheRefusal {
                queued: &queued,
                head: Vec::new(),
                body: Vec::new(),
            };
            let response = ExportResponse::new(Http1(&mut wire), head, &plan, &queued);
            let (tx, rx) = mpsc::channel();
            let result = stream(response, tx, rx, Buffers::PerChunk);
            assert!(
                matches!(
                    result,
                    Err(ExportError::OverLimit(OverLimit::Total { budget: 1000 }))
                ),
                "{result:?}"
            );
            let mut first_chunk = Vec::new();
            CsvRows::new(plan.rows).fill(&mut first_chunk, 100);
            assert!(
                wire.body.is_empty() || wire.body == first_chunk,
                "{} body bytes written, not at most the first chunk's 100",
                wire.body.len()
            );
            assert_eq!(queued.sent_bytes(), wire.body.len() as u64);
        });
    }

    /// A chunked body the cap cut is never given its last chunk, even with
    /// no connection to cancel: in the server the cut's cancel fails the
    /// write first, and this holds the verdict's own rule, so that a
    /// client can never take the cut body for the whole export.
    #[test]
    fn a_body_the_cap_cut_never_gets_its_last_chunk() {
        within(|| {
            let (plan, queued) = under_budget(0);
            let head = ResponseHead::new(Status::Ok, Framing::Chunked);
            let mut wire = WaitsForTheRefusal {
                queued: &queued,
                head: Vec::new(),
                body: Vec::new(),
            };
            let response = ExportResponse::new(Http1(&mut wire), head, &plan, &queued);
            let (tx, rx) = mpsc::channel();
            let result = stream(response, tx, rx, Buffers::PerChunk);
            assert!(
                matches!(result, Err(ExportError::OverLimit(_))),
                "{result:?}"
            );
            let body = String::from_utf8_lossy(&wire.body);
            assert!(!wire.body.ends_with(LAST_CHUNK), "{body:?}");
        });
    }

    /// The client fails the first chunk's write while the producer dies on
    /// the second chunk: both happen whatever the order, and the verdict is
    /// the panic, so that it is counted as the bug it is.
    #[test]
    fn a_dying_producer_is_the_verdict_even_when_the_client_left_too() {
        within(|| {
            let plan = bounded_plan(1000, 100, 1);
            let queued = QueuedBytes::new(Mode::Bounded);
            let head = ResponseHead::new(Status::Ok, Framing::CloseDelimited);
            let (tx, rx) = mpsc::sync_channel(plan.channel_depth);
            let wire = Http1(LeavesAfterHead::default());
            let response = ExportResponse::new(wire, head, &plan, &queued);
            let result = stream(response, DiesOnChunk::new(tx, 1), rx, Buffers::Recycled(3));
            assert!(
                matches!(result, Err(ExportError::ProducerFailed { .. })),
                "{result:?}"
            );
        });
    }

    #[test]
    fn a_dying_producer_leaves_the_body_unterminated() {
        within(|| {
            let plan = bounded_plan(1000, 100, 1);
            let queued = QueuedBytes::new(Mode::Bounded);
            let head = ResponseHead::new(Status::Ok, Framing::Chunked);
            let head_len = head.to_bytes(0).len();
            let mut wire = Vec::new();
            let (tx, rx) = mpsc::sync_channel(plan.channel_depth);
            let sender = DiesOnChunk::new(tx, 3);

            let response = ExportResponse::new(Http1(&mut wire), head, &plan, &queued);
            let result = stream(response, sender, rx, Buffers::Recycled(3));

            // After its head: the 200 went out, and is counted and logged
            // as an export cut by its producer.
            assert!(
                matches!(result, Err(ExportError::ProducerFailed { head_sent: true })),
                "{result:?}"
            );
            // Exactly the three chunks that were handed over, and no last chunk:
            // the client sees a chunked body without its end, not a short CSV.
            let mut csv = Vec::new();
            CsvRows::new(plan.rows).fill(&mut csv, 300);
            let mut expected = Vec::new();
            for piece in csv.chunks(100) {
                expected.extend_from_slice(b"64\r\n"); // 100 in hex
                expected.extend_from_slice(piece);
                expected.extend_from_slice(b"\r\n");
            }
            assert!(
                wire[head_len..] == expected,
                "{:?}",
                String::from_utf8_lossy(&wire[head_len..])
            );
            // The fourth chunk was counted, then died with the producer; the
            // response's tracker gives it back to the gauge when it is dropped.
            assert_eq!(queued.unreleased(), 100);
        });
    }
}
