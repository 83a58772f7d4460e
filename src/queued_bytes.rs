//! Queued bytes: produced but not yet written to the socket. The number that
//! tells the four strategies apart.
//!
//! Heap and RSS are process-wide and blur every connection together. This
//! counter is per response and means one thing: how far the producer has
//! run ahead of the client. The producer reports bytes as it makes them
//! ([`QueuedBytes::produced`]); the body writer reports them as the socket
//! accepts them ([`QueuedBytes::sent`]). The difference is memory that exists
//! only because the client is slower than the producer:
//!
//! | strategy  | queued bytes under a stalled client        |
//! |-----------|--------------------------------------------|
//! | buffer    | the whole body, from the start             |
//! | unbounded | grows until the producer has made the body |
//! | bounded   | at most (depth + 2) × chunk                |
//! | pipeline  | at most `io::copy`'s one buffer            |
//!
//! Each response's tracker also feeds its mode's process-wide gauge and peak
//! in [`crate::metrics`], which is what `/metrics` shows and the tests assert.
//! Bytes still queued when the tracker is dropped were freed with the
//! response (a client went away mid-stream), so `Drop` takes them off the
//! gauge: after every response ends, its mode's gauge is back where it was.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::METRICS;
use crate::strategy::Mode;

/// One response's produced-but-unsent byte count.
///
/// Shared by reference between the producer and writer threads of one
/// response (they are scoped threads, so both end before it is dropped).
#[derive(Debug)]
pub struct QueuedBytes {
    /// Which process-wide gauge this response adds to.
    mode: Mode,
    /// This response's own share of that gauge, so `Drop` knows how much to
    /// take back.
    unsent: AtomicU64,
}

impl QueuedBytes {
    /// A tracker for one response in `mode`, starting at zero.
    pub fn new(mode: Mode) -> Self {
        QueuedBytes {
            mode,
            unsent: AtomicU64::new(0),
        }
    }

    /// The producer made `bytes` that now wait somewhere in userland.
    pub fn produced(&self, bytes: usize) {
        self.unsent.fetch_add(bytes as u64, Ordering::Relaxed);
        METRICS.queue_grew(self.mode, bytes as u64);
    }

    /// The socket accepted `bytes` of body: they are the kernel's now.
    pub fn sent(&self, bytes: usize) {
        self.unsent.fetch_sub(bytes as u64, Ordering::Relaxed);
        METRICS.queue_drained(self.mode, bytes as u64);
        METRICS.body_bytes_sent(self.mode, bytes as u64);
    }

    /// Bytes this response has produced and not yet sent.
    pub fn unsent(&self) -> u64 {
        self.unsent.load(Ordering::Relaxed)
    }
}

impl Drop for QueuedBytes {
    fn drop(&mut self) {
        // Whatever is left was dropped with the response's buffers.
        METRICS.queue_drained(self.mode, self.unsent());
    }
}
