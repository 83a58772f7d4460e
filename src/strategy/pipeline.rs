//! `pipeline`: render a buffer of rows, write it to the socket, repeat, on
//! the connection's own thread. **Correct, and the simplest.**
//!
//! Row 4 of the lesson's table: **memory flat, one buffer**. There is no
//! producer thread and no channel: the loop renders a buffer's worth of
//! rows, writes it, and only then renders more. When the client is slow the
//! `write` blocks, and because rendering and writing take turns on one
//! thread, the blocked write *is* the backpressure: no rows are rendered
//! while it waits. This is the std counterpart of Node's
//! `stream.pipeline()`.
//!
//! The loop is `io::copy` written out, for one reason: `io::copy`'s buffer
//! is std's private 8 KiB on the stack, a size nobody chose for this
//! server. Here the one buffer is `--chunk-bytes`, allocated once per
//! response and filled again for every chunk, so the bound is exactly one
//! chunk, and each buffer becomes one HTTP chunk on the wire.
//!
//! Use this shape unless the producer really must run on its own thread.
//!
//! What a copy must keep: a `write` that blocks. The loop is correct only
//! because `write_all` does not return until the wire has room for the bytes
//! (the socket below its high-water mark, or an HTTP/2 stream's hand-off, taken
//! as its window allows); onto a writer that takes everything at once (a `Vec`,
//! a framework's response body that buffers, a channel to another task) the
//! same loop renders the whole body ahead of the client, as `unbounded` does.
//! And the block lasts as long as the client stalls: here the wire bounds it in
//! time (`body_writer.rs` says how); on a bare socket, set a send timeout at
//! least, or a stalled client holds this thread for good.

use std::io::Write;

use super::chunk_buffers::{empty_buffer, no_memory};
use super::{ExportError, ExportResponse, Wire};
use crate::export::csv_rows::CsvRows;

pub fn send<W: Wire>(response: ExportResponse<'_, W>) -> Result<(), ExportError> {
    let (queued, chunk_bytes) = (response.queued, response.plan.chunk_bytes);
    let mut rows = CsvRows::new(response.plan.rows);
    // The response's whole userland queue, had before the head: a 503 if
    // the allocator refuses it.
    let mut buffer = empty_buffer(chunk_bytes).ok_or_else(no_memory)?;
    let mut body = response.start()?;
    loop {
        buffer.clear();
        rows.fill(&mut buffer, chunk_bytes);
        if buffer.is_empty() {
            return Ok(body.finish()?);
        }
        queued.produced(buffer.len());
        body.write_all(&buffer)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::Mode;
    use crate::http::response::{Framing, ResponseHead, Status};
    use crate::strategy::testing::BufferAddresses;
    use crate::strategy::{ExportPlan, Http1, QueuedBytes};
    use crate::test_support::within;

    /// The bound: one buffer of `--chunk-bytes`, refilled for every chunk,
    /// told by its address (one freed and made again at the same address
    /// would pass here; `tests/hot_loop_allocations.rs` shows none is).
    #[test]
    fn every_chunk_is_rendered_into_one_buffer_of_chunk_bytes() {
        within(|| {
            let rows = 10_000; // about 500 KB
            let mut expected = Vec::new();
            CsvRows::new(rows).fill(&mut expected, usize::MAX);
            for chunk_bytes in [1000, 8 * 1024, 100_000] {
                let plan = ExportPlan {
                    rows,
                    mode: Mode::Pipeline,
                    chunk_bytes,
                    channel_depth: 0,
                };
                let queued = QueuedBytes::new(Mode::Pipeline);
                let head = ResponseHead::new(Status::Ok, Framing::CloseDelimited);
                let mut out = BufferAddresses::default();
                let result = send(ExportResponse::new(Http1(&mut out), head, &plan, &queued));
                assert!(result.is_ok(), "{result:?}");
                assert!(out.body == expected, "chunk {chunk_bytes}");
                assert_eq!(out.largest, chunk_bytes);
                assert_eq!(out.buffers.len(), 1, "chunk {chunk_bytes}");
                assert_eq!(queued.unreleased(), 0);
            }
        });
    }
}
