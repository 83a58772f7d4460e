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
//! `depth` 0 is a rendezvous channel: each `send` waits until the writer
//! takes the chunk, bounding memory at 2 × chunk.

use std::io::Write;
use std::sync::mpsc;

use super::{ExportError, ExportResponse, two_threads};

pub fn send<W: Write>(response: ExportResponse<'_, W>) -> Result<(), ExportError> {
    // At most `channel_depth` chunks wait between producer and writer.
    let (tx, rx) = mpsc::sync_channel(response.plan.channel_depth);
    two_threads::stream(response, tx, rx)
}
