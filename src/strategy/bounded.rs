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

use std::sync::mpsc;

use super::chunk_buffers::Buffers;
use super::two_threads;
use super::{ExportError, ExportResponse, Wire};

pub fn send<W: Wire>(response: ExportResponse<'_, W>) -> Result<(), ExportError> {
    let depth = response.plan.channel_depth;
    // At most `depth` chunks wait between producer and writer, and
    // depth + 2 buffers are all there is to put them in.
    let (tx, rx) = mpsc::sync_channel(depth);
    two_threads::stream(response, tx, rx, Buffers::Recycled(depth + 2))
}
