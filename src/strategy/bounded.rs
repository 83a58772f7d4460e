//! `bounded`: a producer thread sends chunks into
//! `mpsc::sync_channel(depth)`; the connection's thread writes them to the
//! socket. **Correct.**
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
//! takes the chunk, bounding memory at 2 × chunk.

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
