//! Where each chunk's buffer comes from, the one thing besides the channel
//! that `unbounded` and `bounded` do differently ([`Buffers`]).
//!
//! `bounded` recycles its buffers: (depth + 2) of them are made before the
//! first row, the writer hands each one back once it is written, and the
//! producer fills it again. No chunk costs an allocation, and the bound is
//! physical: beyond those buffers there is nowhere to queue a byte.
//! `unbounded` cannot recycle: a fixed set of buffers would bound its queue
//! (a producer waiting for an empty buffer is backpressure too), so it
//! allocates one per chunk, and the heap grows with whatever it queues.
//!
//! The producer (`producer.rs`) takes each empty buffer from its end, a
//! [`Source`]; the writer (`two_threads.rs`) hands each written buffer back
//! through the sender [`make_buffers`] returns beside it, or frees it if
//! there is none.

use std::sync::mpsc::{self, Receiver, SyncSender};

use super::ExportError;
use crate::export::csv_rows;
use crate::http::response::Status;
use crate::measure::log;

/// Why an export whose buffers the allocator refused is answered 503.
const NO_MEMORY: &str = "not enough memory for this export's buffers now; retry later";

/// An empty buffer with room for `bytes`, or `None` if the allocator
/// refuses them: under an address-space limit (`ulimit -v`) the OS does,
/// and `Vec::with_capacity` would abort the process, every connection with
/// it. The flat modes take their few buffers, each `--chunk-bytes` in one
/// piece, this way before their head, and answer [`no_memory`] if refused.
pub(super) fn empty_buffer(bytes: usize) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(bytes).ok()?;
    Some(buffer)
}

/// The answer to an export whose buffers could not be had: a 503, which
/// the route sends with `Retry-After` (memory comes back as other
/// responses end), said on a log line too, as the access log shows only
/// the status.
pub(super) fn no_memory() -> ExportError {
    log::line(format!("backpressure: {NO_MEMORY}"));
    ExportError::Refused(Status::ServiceUnavailable, NO_MEMORY.to_string())
}

/// Where the producer gets the empty buffer each chunk is rendered into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Buffers {
    /// A new `Vec` for every chunk, freed once it is written: the memory
    /// follows the queue, however long it grows.
    PerChunk,
    /// At most this many buffers for the whole response, made before the
    /// first row and handed back by the writer after each write. Fewer if
    /// the body has fewer chunks: a small export needs no more.
    Recycled(usize),
}

/// The producer's end of [`Buffers`]: the same two choices under the same
/// names, now holding what each buffer is taken from. Two types, because
/// a strategy names its choice as a plain value, and `two_threads::stream`
/// makes it real for both ([`make_buffers`], answered with a 503 if the
/// allocator refuses the pool), giving this end to the producer and the
/// way back to the writer.
pub(super) enum Source {
    /// Allocates a buffer of this capacity for every chunk.
    PerChunk(usize),
    /// The buffers the writer gave back; at first, every buffer there is.
    Recycled(Receiver<Vec<u8>>),
}

impl Source {
    /// An empty buffer for the next chunk, or `None` once the writer is gone.
    pub(super) fn take(&self) -> Option<Vec<u8>> {
        match self {
            // Not `empty_buffer`: `unbounded` allocates per chunk as the
            // naive code it stands for does, and past what the process
            // may have it aborts, the failure the lesson shows. Its caps
            // (`--max-buffered-*`) are what bound it; `serve` warns when
            // the memory limit is below them (`server/envelope.rs`).
            Source::PerChunk(chunk_bytes) => Some(Vec::with_capacity(*chunk_bytes)),
            // Never waits: of (depth + 2) buffers the channel holds at most
            // depth and the writer one, so one is always back; a smaller
            // pool has one buffer per chunk, and `produce` takes none once
            // the rows are done. A pool smaller than both would wait here,
            // and rightly: that is backpressure too.
            Source::Recycled(returned) => returned.recv().ok(),
        }
    }
}

/// Makes the buffers of `buffers`: the producer's source, and the writer's
/// way to hand a written buffer back (`None`: it frees it instead); `None`
/// if the allocator refuses a recycled pool ([`empty_buffer`]).
pub(super) fn make_buffers(
    buffers: Buffers,
    rows: u64,
    chunk_bytes: usize,
) -> Option<(Source, Option<SyncSender<Vec<u8>>>)> {
    let Buffers::Recycled(most) = buffers else {
        return Some((Source::PerChunk(chunk_bytes), None));
    };
    let chunks = csv_rows::body_len(rows).div_ceil(chunk_bytes as u64);
    let count = most
        .min(usize::try_from(chunks).unwrap_or(usize::MAX))
        .max(1);
    // Room for every buffer there is, so that handing one back never
    // blocks; and a fixed ring, so that it allocates nothing per chunk
    // (`mpsc::channel` allocates a block of slots every 31 messages).
    let (give_back, returned) = mpsc::sync_channel(count);
    for _ in 0..count {
        // The send cannot fail: the channel has room for `count`, and both
        // ends are here. A buffer refused drops those made before it.
        let _ = give_back.try_send(empty_buffer(chunk_bytes)?);
    }
    Some((Source::Recycled(returned), Some(give_back)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool is made before the first row, so its size is the memory a
    /// response holds whatever its body: never more buffers than the body
    /// has chunks, however deep the channel. (`two_threads.rs`'s
    /// `every_chunk_is_rendered_…` counts the buffers written from, which a
    /// pool too large for a small body never shows.)
    #[test]
    fn a_body_of_few_chunks_gets_a_pool_of_as_many_buffers() {
        let pooled = |most, rows, chunk_bytes| {
            let made = make_buffers(Buffers::Recycled(most), rows, chunk_bytes);
            let (source, _give_back) = made.unwrap();
            let Source::Recycled(returned) = source else {
                panic!("a recycled pool");
            };
            returned.try_iter().count()
        };
        let one_chunk = csv_rows::body_len(1) as usize;
        assert_eq!(pooled(5, 1, one_chunk), 1, "one chunk, one buffer");
        assert_eq!(pooled(5, 1, one_chunk.div_ceil(3)), 3, "three chunks");
        assert_eq!(pooled(5, 10_000, 1000), 5, "many chunks: the whole pool");
        // No rows: the CSV header alone, in two chunks, is two buffers.
        let header = csv_rows::body_len(0) as usize;
        assert_eq!(
            pooled(5, 0, header.div_ceil(2)),
            2,
            "the header is a body too"
        );
    }

    /// `unbounded`'s buffer for a chunk is allocated at the chunk's size
    /// at once: grown from empty as rows are rendered, it would be
    /// reallocated again and again per chunk, and could end up larger than
    /// the chunk, which the queue gauge (bytes, not capacity) never shows.
    #[test]
    fn a_chunk_of_its_own_is_allocated_at_the_chunks_size() {
        let buffer = Source::PerChunk(48 * 1024).take().expect("a buffer");
        assert!(buffer.is_empty());
        assert_eq!(buffer.capacity(), 48 * 1024);
    }
}
