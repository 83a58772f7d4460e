//! `bounded`: a producer thread sends chunks into
//! `mpsc::sync_channel(depth)`; the connection's thread writes them to the
//! wire (the socket, or an HTTP/2 stream's hand-off). **Correct.**
//!
//! Row 3 of the lesson's table: **memory flat, at most (depth + 2) × chunk
//! bytes per connection**. `send` blocks while `depth` chunks are waiting,
//! so the producer can never be more than that far ahead of the writer:
//!
//! ```text
//!   1 chunk      being filled by the producer (or held by its blocked send)
//! + depth chunks waiting in the channel
//! + 1 chunk      being written by the writer
//! ```
//!
//! This is where the chain of flow-control windows reaches userland: the
//! client reads slowly → its TCP receive window shrinks → our kernel send
//! buffer stops draining → the writer's `write` blocks → the channel fills →
//! the producer's `send` blocks → no more rows are rendered. A blocked
//! `send` is not a problem to fix; it is the server working as intended.
//!
//! Those depth + 2 chunks are the only buffers the response ever has: made
//! before the first row, each handed back by the writer once written and
//! filled again by the producer. So the bound is not only a count the
//! channel keeps but the memory that exists, and a chunk costs no
//! allocation. The producer never waits for a buffer: with `depth` in the
//! channel and one in the writer's hands, one is always back.
//!
//! `depth` 0 is a rendezvous channel: each `send` waits until the writer
//! takes the chunk, bounding memory at 2 × chunk. How the default depth
//! and chunk size were chosen, and what a smaller pair costs in speed, is
//! in `docs/benchmarks.md` ("How the defaults were chosen").
//!
//! This file only picks the channel and the pool; the pattern lives in
//! `two_threads.rs` (the writer), `producer.rs` and `chunk_buffers.rs`.
//! Under a slow client the producer sleeps in `produce`'s `send_chunk`
//! (`producer.rs`), the writer in its socket write (`DeadlineWriter`,
//! `defense/send_deadline.rs`). A copy of the pattern must keep four
//! things, each said where it is done:
//!
//! - the writer owns the receiver and drops it on any error *before*
//!   joining the producer, or a producer blocked in `send` is never woken
//!   and the join hangs (`two_threads::write_chunks` takes `rx` by value);
//! - a chunk is counted before its `send`, or the one a blocked `send`
//!   holds is memory the gauge does not show (`producer::produce`);
//! - a recycled buffer is cleared before it is filled again
//!   (`producer::produce`);
//! - the writer's `write` blocks, and for a bounded time (`pipeline.rs`
//!   says why both matter).

use std::sync::mpsc::{self, Receiver, SyncSender};

use super::chunk_buffers::Buffers;
use super::two_threads;
use super::{ExportError, ExportResponse, Wire};

pub fn send<W: Wire>(response: ExportResponse<'_, W>) -> Result<(), ExportError> {
    let (tx, rx, buffers) = queue(response.plan.channel_depth);
    two_threads::stream(response, tx, rx, buffers)
}

/// At most `depth` chunks wait between producer and writer, and depth + 2
/// buffers are all there is to put them in. Each alone would hold the
/// bound, so each is tested alone: a mistake in one would not show while
/// the other holds.
fn queue(depth: usize) -> (SyncSender<Vec<u8>>, Receiver<Vec<u8>>, Buffers) {
    let (tx, rx) = mpsc::sync_channel(depth);
    (tx, rx, Buffers::Recycled(depth + 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::Mode;
    use crate::http::response::{Framing, ResponseHead, Status};
    use crate::strategy::{ExportPlan, Http1, QueuedBytes};
    use crate::test_support::within;
    use std::io::{self, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    /// A client that takes the head, then stalls: each body write waits
    /// until the client is `gone`, then fails as a reset connection does.
    struct StallsAfterHead<'a> {
        head_written: bool,
        gone: &'a AtomicBool,
    }

    impl Write for StallsAfterHead<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if !std::mem::replace(&mut self.head_written, true) {
                return Ok(buf.len());
            }
            while !self.gone.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            Err(io::ErrorKind::ConnectionReset.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The bytes `queued` holds once they have not moved for 200 ms.
    fn settled(queued: &QueuedBytes) -> u64 {
        let mut last = (queued.unreleased(), Instant::now());
        loop {
            thread::sleep(Duration::from_millis(10));
            let now = queued.unreleased();
            if now != last.0 || now == 0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() >= Duration::from_millis(200) {
                return now;
            }
        }
    }

    #[test]
    fn the_pool_has_depth_plus_two_buffers() {
        for depth in [0, 1, 3] {
            assert_eq!(queue(depth).2, Buffers::Recycled(depth + 2));
        }
    }

    /// The channel alone stops the producer: given a new buffer for each
    /// chunk, so that no pool runs out, a response whose client stalls
    /// after the head holds exactly depth + 2 chunks (one in the stalled
    /// write, `depth` in the channel, one in the producer's blocked
    /// `send`), and no more while it waits. Once the client is gone, the
    /// producer wakes and the response ends with the write's failure.
    #[test]
    fn the_channel_alone_stops_the_producer_at_depth_plus_two_chunks() {
        const CHUNK: usize = 1000;
        for depth in [0, 1, 3] {
            let (held, result) = within(move || {
                let plan = ExportPlan {
                    rows: 100_000,
                    mode: Mode::Bounded,
                    chunk_bytes: CHUNK,
                    channel_depth: depth,
                };
                let queued = QueuedBytes::new(Mode::Bounded);
                let gone = AtomicBool::new(false);
                let (tx, rx, _pool) = queue(depth);
                thread::scope(|scope| {
                    let writer = scope.spawn(|| {
                        let mut wire = StallsAfterHead {
                            head_written: false,
                            gone: &gone,
                        };
                        let head = ResponseHead::new(Status::Ok, Framing::CloseDelimited);
                        let response = ExportResponse::new(Http1(&mut wire), head, &plan, &queued);
                        two_threads::stream(response, tx, rx, Buffers::PerChunk)
                    });
                    let held = settled(&queued);
                    gone.store(true, Ordering::SeqCst);
                    let result = writer.join().map(|r| format!("{r:?}"));
                    (held, result)
                })
            });
            assert_eq!(held, ((depth + 2) * CHUNK) as u64, "depth {depth}");
            let result = result.unwrap_or_else(|_| panic!("depth {depth}: the writer panicked"));
            assert!(
                result.starts_with("Err(WriteFailed("),
                "depth {depth}: {result}"
            );
        }
    }
}
