//! The producer's side of a two-thread export (`two_threads.rs` is the
//! writer's): a thread that renders rows into chunks and sends them down
//! the channel until the rows run out, the writer hangs up, or a cap
//! refuses a chunk.
//!
//! A producer owns its rows (a `CsvRows`), its end of the buffers
//! ([`Source`]: a fresh `Vec` per chunk, or the pool the writer hands
//! back), the channel's sending half (a [`ChunkSender`]) and its half of
//! the [`Handshake`] over the head. It shares one thing with the writer:
//! the response's [`QueuedBytes`], in which it counts every chunk.
//!
//! It counts a chunk before it sends it. While a `send` waits on a full
//! channel, the chunk it holds exists: it is the "+1 being filled" of
//! `bounded`'s (depth + 2) × chunk; counted after its `send`, it would be
//! memory the gauge does not show. Counting first also lets a cap refuse
//! the chunk before it is queued, and the first one before there is a head.
//!
//! It stops when its rows are done ([`Production::Complete`]), when a cap
//! refuses a chunk, and when the writer hangs up
//! ([`Production::WriterHungUp`]). The hang-up is no flag but an end
//! dropped: the writer returns and drops its receiver, so the next `send`
//! fails, and its way to hand buffers back, so a recycled pool runs dry;
//! before the head, the connection's thread drops its side of the
//! handshake, so the wait for the head ends. Whichever it meets first, the
//! producer returns, and the scope that started it joins it.

use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, Scope, ScopedJoinHandle};

use super::QueuedBytes;
use super::chunk_buffers::Source;
use crate::defense::buffer_caps::OverLimit;
use crate::export::csv_rows::CsvRows;

/// Stack for a producer thread. It holds a `CsvRows` (192 bytes) and
/// a few frames; the default 2 MiB would only reserve address space, but a
/// small stack states the intent and lets many connections coexist.
pub(crate) const PRODUCER_STACK_BYTES: usize = 64 * 1024;

/// The writer hung up: its receiver is gone.
pub(super) struct WriterGone;

/// The sending half of a chunk channel. What the two channel strategies
/// disagree on is what `send_chunk` does when the writer is behind. Both
/// bodies below are the same `self.send(chunk)`: whether it waits is
/// decided by the channel type, which `bounded.rs` or `unbounded.rs` makes.
pub(super) trait ChunkSender: Send {
    fn send_chunk(&self, chunk: Vec<u8>) -> Result<(), WriterGone>;
}

/// `mpsc::channel`: `send` always succeeds at once, by queueing on the heap.
impl ChunkSender for mpsc::Sender<Vec<u8>> {
    fn send_chunk(&self, chunk: Vec<u8>) -> Result<(), WriterGone> {
        self.send(chunk).map_err(|_| WriterGone)
    }
}

/// `mpsc::sync_channel`: `send` blocks while the channel is full.
impl ChunkSender for mpsc::SyncSender<Vec<u8>> {
    fn send_chunk(&self, chunk: Vec<u8>) -> Result<(), WriterGone> {
        self.send(chunk).map_err(|_| WriterGone)
    }
}

/// How the producer's loop ended.
pub(super) enum Production {
    /// Every row was rendered and handed over.
    Complete,
    /// The writer hung up first (a failed `send`, no buffer coming back,
    /// or no head coming); the rest was never rendered.
    WriterHungUp,
    /// The first chunk would have passed a buffering cap: nothing was
    /// queued, and the head, which waits for the first chunk, is not sent,
    /// so the client can be told why (only `unbounded` is capped).
    RefusedFirst(OverLimit),
    /// A later chunk would have passed a buffering cap, after the head:
    /// the response is abandoned (`bounded` cannot get here).
    OverLimit(OverLimit),
}

/// Starts the producer in `scope`; an error when the OS has no thread to
/// give (RLIMIT_NPROC, or no memory for its stack), which
/// [`stream`](super::two_threads::stream) answers with a 503. Unit tests
/// make it fail at will (`test_support::with_failing_spawns`).
pub(super) fn start_producer<'s>(
    scope: &'s Scope<'s, '_>,
    f: impl FnOnce() -> Production + Send + 's,
) -> io::Result<ScopedJoinHandle<'s, Production>> {
    #[cfg(test)]
    if crate::test_support::spawn_fails() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    thread::Builder::new()
        .name("producer".into())
        .stack_size(PRODUCER_STACK_BYTES)
        .spawn_scoped(scope, f)
}

/// How the producer and the connection's thread agree on the head. The
/// producer counts its first chunk before the head is sent, so that a cap
/// refusing it can still be answered with a status; then it renders
/// nothing more until the head is out, so that no later chunk can meet a
/// cap while there is no response yet to cut, only a connection.
pub(super) struct Handshake {
    /// Told once the first chunk is counted; hung up if it never will be.
    pub(super) tell_counted: SyncSender<()>,
    /// Told once the head is out; hung up if it never will be.
    pub(super) head_out: Receiver<()>,
}

/// The producer thread: renders chunks of up to `chunk_bytes` into buffers
/// from `source` and sends them until the rows run out or the writer hangs
/// up, its first chunk held for the [`Handshake`].
pub(super) fn produce(
    mut rows: CsvRows,
    chunk_bytes: usize,
    queued: &QueuedBytes,
    source: &Source,
    tx: impl ChunkSender,
    handshake: Handshake,
) -> Production {
    // `Some` until the first chunk is counted: until then a cap refuses
    // the response, and cuts nothing.
    let mut first_chunk = Some(handshake);
    loop {
        // Asked before taking a buffer: a body of fewer chunks than
        // depth + 2 has one buffer per chunk, all of them handed off by now,
        // and none comes back while its client stalls; waiting for one
        // only to find no rows would hold this thread for the whole stall.
        if rows.is_done() {
            return Production::Complete; // dropping `tx` tells the writer
        }
        let Some(mut chunk) = source.take() else {
            return Production::WriterHungUp;
        };
        chunk.clear(); // a recycled buffer still holds the bytes it sent
        rows.fill(&mut chunk, chunk_bytes);
        // Counted before `send`: while the producer waits in a blocked
        // `send`, this chunk exists and is the "+1 being filled" of the
        // bounded strategy's (depth + 2) × chunk. A capped queue may refuse
        // it; then the chunk is dropped here and never queued.
        if let Err(over) = queued.try_produce(chunk.len()) {
            return match first_chunk {
                Some(_) => Production::RefusedFirst(over),
                None => Production::OverLimit(over),
            };
        }
        // Before `send`, which at depth 0 waits for the writer, which
        // waits for the head.
        if let Some(handshake) = first_chunk.take() {
            let _ = handshake.tell_counted.send(());
            if handshake.head_out.recv().is_err() {
                return Production::WriterHungUp;
            }
        }
        if tx.send_chunk(chunk).is_err() {
            return Production::WriterHungUp;
        }
    }
}
