//! `unbounded`: a producer thread sends chunks into `mpsc::channel()`; the
//! connection's thread writes them to the wire (the socket, or an HTTP/2
//! stream's hand-off). **This is the bug, kept on purpose.**
//!
//! Row 2 of the lesson's table: **memory grows without bound**. The channel
//! has no capacity, so `send` never waits: the producer renders rows as fast
//! as the CPU allows, while the writer can only go as fast as the client
//! reads. Every byte of the difference waits in the channel, on the heap. At
//! 200 KB/s the demo's 385 MB export (7,000,000 rows) is 32 minutes of
//! reading, and within seconds nearly all of it is queued; uncapped, a few
//! such clients and the kernel's OOM killer ends the process, taking every
//! other request with it. This server caps what it may queue
//! (`--max-buffered-bytes`, `--max-buffered-total`: [`QueuedBytes`](super::queued_bytes::QueuedBytes)'s
//! limit), so here the bug shows as responses refused or cut at the caps
//! (`end=buffer-cap`, `end=buffer-budget`), not as a dead process.
//!
//! The code looks fine, which is the point. It is [`super::bounded`] with one
//! word changed: `channel()` instead of `sync_channel(depth)`; and because
//! a queue with no end cannot live in a fixed set of buffers, each chunk
//! gets a new one (`PerChunk`) instead of a recycled one. Nothing here is
//! wrong for a fast client; the flaw only shows under a slow one.
//!
//! Cancellation still works: if the client goes away, the writer drops the
//! receiver, which frees every queued chunk at once, and the producer stops
//! at its next `send`. The memory was never leaked, only held hostage.

use std::sync::mpsc;

use super::chunk_buffers::Buffers;
use super::two_threads;
use super::{ExportError, ExportResponse, Wire};

pub fn send<W: Wire>(response: ExportResponse<'_, W>) -> Result<(), ExportError> {
    // No capacity: the queue between producer and writer can grow to the
    // whole body, and so can the buffers allocated for it.
    let (tx, rx) = mpsc::channel();
    two_threads::stream(response, tx, rx, Buffers::PerChunk)
}
