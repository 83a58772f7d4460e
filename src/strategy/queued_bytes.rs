//! Queued bytes: produced but not yet written to the socket in full. The
//! number that tells the four strategies apart.
//!
//! Unlike heap and RSS, which blur every connection together, this counter
//! is per response and means one thing: how far the producer has run ahead
//! of the client. The producer reports bytes as it makes them
//! ([`QueuedBytes::produced`]); the body writer reports each write the
//! socket accepts ([`QueuedBytes::sent`], exact to the byte, for the log)
//! and each buffer it is done with ([`QueuedBytes::released`], for the
//! queue). The two differ inside one chunk: a chunk the socket has taken
//! half of still holds its whole buffer, so it stays queued whole until its
//! last byte is out. In the streaming modes that keeps the queue equal to
//! the memory their full buffers hold, never more than all their buffers
//! hold (`bounded`'s and `pipeline`'s exist, full or empty, from the first
//! row; `buffer` frees its body only when the response ends, so its queue
//! drains before its memory does), and a stall's queue exactly the
//! strategy's bound.
//!
//! Each tracker also feeds its mode's process-wide gauge and peak in
//! [`crate::measure::metrics`], which `/metrics` shows and the tests assert.
//! Bytes still queued when the tracker is dropped were freed with the
//! response (a client went away mid-stream), so `Drop` takes them off the
//! gauge: after every response ends, its mode's gauge is back where it was.
//!
//! A tracker can also be held to a [`BufferLimit`]: then the producer asks
//! before it queues ([`QueuedBytes::try_produce`]), and a refusal is final,
//! so the writer can stop at once instead of draining a doomed queue.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::defense::buffer_caps::{BufferLimit, OverLimit};
use crate::export::Mode;
use crate::measure::metrics::METRICS;

/// One response's queue: bytes produced and not yet released.
///
/// Shared by reference between the producer and writer threads of one
/// response (they are scoped threads, so both end before it is dropped).
#[derive(Debug)]
pub struct QueuedBytes {
    /// Which process-wide gauge this response adds to.
    mode: Mode,
    /// This response's own share of that gauge, so `Drop` knows how much to
    /// take back: bytes produced and not yet released (a chunk partly sent
    /// counts whole until its last byte is out).
    unreleased: AtomicU64,
    /// Body bytes the socket accepted, for the access log: a cut response
    /// counts what left, to the byte.
    sent: AtomicU64,
    /// The caps this response's queue is held to; `None` for the flat
    /// strategies, which are bounded by construction.
    limit: Option<BufferLimit>,
    /// Whether the memory is freed only with the response (`buffer`). The
    /// budget charges memory *held*, which is not always what is queued: a
    /// written chunk is freed at once, but `buffer`'s body stays allocated
    /// until the response ends, however much of it the kernel has taken. So
    /// its charge is given back on drop rather than as bytes are sent.
    held_until_drop: bool,
    /// Set once a [`try_produce`](QueuedBytes::try_produce) was refused: the
    /// response is over, and its writer should stop sending: a channel's
    /// receiver still yields every chunk queued before the producer hung
    /// up, and draining hundreds of MB to a slow client would defeat the
    /// cap. Only a hint to stop early, so `Relaxed` is enough: a writer that
    /// has not seen it yet is stopped by the connection the producer
    /// cancels (its next write fails), or, with none to cancel, ends at the
    /// hang-up once the queue is written; the verdict comes from the
    /// producer, not from here.
    refused: AtomicBool,
    /// Bytes of the shared budget this response holds: taken as they are
    /// queued, given back as their memory is freed (each buffer as it is
    /// released, or `buffer`'s whole body on drop). Its own count, because
    /// neither `unreleased` nor `sent` is the charge: a chunk cut halfway
    /// is both half sent and wholly unreleased.
    charged: AtomicU64,
}

impl QueuedBytes {
    /// An uncapped tracker for one response in `mode`, starting at zero.
    pub fn new(mode: Mode) -> Self {
        QueuedBytes {
            mode,
            unreleased: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            limit: None,
            held_until_drop: false,
            refused: AtomicBool::new(false),
            charged: AtomicU64::new(0),
        }
    }

    /// A tracker whose queue may not pass `limit`. For `buffer` the budget
    /// stays charged until the response ends: otherwise a client that read
    /// most of a body and stalled would hold all of it while being charged
    /// for the rest.
    pub fn capped(mode: Mode, limit: BufferLimit) -> Self {
        let mut queued = QueuedBytes::new(mode);
        queued.limit = Some(limit);
        queued.held_until_drop = mode == Mode::Buffer;
        queued
    }

    /// The producer made `bytes` that now wait somewhere in userland. Called
    /// directly by a producer that cannot overrun (`pipeline`'s); one that
    /// may, capped or not (the channel modes', `buffer`'s), asks
    /// [`try_produce`](QueuedBytes::try_produce), which calls this for
    /// what it lets through.
    pub fn produced(&self, bytes: usize) {
        self.unreleased.fetch_add(bytes as u64, Ordering::Relaxed);
        METRICS.queue_grew(self.mode, bytes as u64);
    }

    /// Queues `bytes` if the caps allow it, before they are queued: a
    /// channel mode's producer asks once the chunk is rendered, so a chunk
    /// refused was made all the same, and one chunk may sit in the
    /// producer's hands uncounted while it renders (`buffer` asks before
    /// it allocates). Only the producer adds to a queue, so the check and the
    /// add cannot be raced past the per-response cap; the shared budget is
    /// taken atomically. After a refusal the response is over:
    /// [`refused`](QueuedBytes::refused) turns true for its writer.
    pub fn try_produce(&self, bytes: usize) -> Result<(), OverLimit> {
        if let Some(limit) = &self.limit {
            let (cap, budget) = (limit.per_response, limit.budget.limit());
            let after = self.unreleased().saturating_add(bytes as u64);
            let refusal = OverLimit::never_fits(after, cap, budget).or_else(|| {
                let taken = limit.budget.try_take(bytes as u64);
                (!taken).then_some(OverLimit::BudgetInUse { budget })
            });
            if let Some(refusal) = refusal {
                self.refused.store(true, Ordering::Relaxed);
                return Err(refusal);
            }
            self.charged.fetch_add(bytes as u64, Ordering::Relaxed);
        }
        self.produced(bytes);
        Ok(())
    }

    /// Whether a [`try_produce`](QueuedBytes::try_produce) was refused.
    pub fn refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }

    /// The socket accepted `bytes` of body: they are the kernel's now.
    pub fn sent(&self, bytes: usize) {
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
        METRICS.body_bytes_sent(self.mode, bytes as u64);
    }

    /// The writer is done with `bytes` of body, all sent: the buffer that
    /// held them is free, and they leave the queue.
    pub fn released(&self, bytes: usize) {
        self.unreleased.fetch_sub(bytes as u64, Ordering::Relaxed);
        if let Some(limit) = &self.limit
            && !self.held_until_drop
        {
            self.charged.fetch_sub(bytes as u64, Ordering::Relaxed);
            limit.budget.give_back(bytes as u64);
        }
        METRICS.queue_drained(self.mode, bytes as u64);
    }

    /// Body bytes of this response the socket accepted so far.
    pub fn sent_bytes(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes this response has produced and not yet released: its queue.
    /// A chunk the socket has taken part of still counts whole, so this and
    /// [`sent_bytes`](QueuedBytes::sent_bytes) may overlap by that part.
    pub fn unreleased(&self) -> u64 {
        self.unreleased.load(Ordering::Relaxed)
    }
}

impl Drop for QueuedBytes {
    fn drop(&mut self) {
        // Whatever is left was dropped with the response's buffers.
        let left = self.unreleased();
        if let Some(limit) = &self.limit {
            limit.budget.give_back(self.charged.load(Ordering::Relaxed));
        }
        METRICS.queue_drained(self.mode, left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defense::buffer_caps::BufferBudget;
    use std::sync::Arc;

    /// Caps of `per_response` bytes per response and `total` in all; the
    /// budget too, to read what is charged against it.
    fn caps(per_response: u64, total: u64) -> (BufferLimit, Arc<BufferBudget>) {
        let budget = Arc::new(BufferBudget::new(total));
        let limit = BufferLimit {
            per_response,
            budget: Arc::clone(&budget),
        };
        (limit, budget)
    }

    #[test]
    fn a_capped_queue_refuses_past_either_cap_and_gives_everything_back() {
        let (limit, budget) = caps(100, 250);
        let first = QueuedBytes::capped(Mode::Unbounded, limit.clone());
        assert_eq!(first.try_produce(60), Ok(()));
        assert_eq!(first.try_produce(40), Ok(()));
        assert!(!first.refused());
        assert_eq!(
            first.try_produce(1),
            Err(OverLimit::Response { cap: 100 }),
            "101 bytes in one response"
        );
        assert!(first.refused());
        first.sent(30);
        first.released(30);
        assert_eq!(budget.used(), 70, "sent bytes leave the budget");

        let second = QueuedBytes::capped(Mode::Buffer, limit.clone());
        assert_eq!(second.try_produce(100), Ok(()));
        second.sent(100);
        second.released(100);
        assert_eq!(
            budget.used(),
            170,
            "a buffered body is charged until it is freed, sent or not"
        );
        let third = QueuedBytes::capped(Mode::Buffer, limit);
        assert_eq!(
            third.try_produce(81),
            Err(OverLimit::BudgetInUse { budget: 250 }),
            "70 + 100 + 81 > 250"
        );
        assert_eq!(third.unreleased(), 0, "a refused produce queues nothing");

        drop((first, second, third));
        assert_eq!(budget.used(), 0, "dropping a response returns its share");
    }

    /// A queue larger than the whole budget can never fit, however much
    /// of the budget is free: refused as final, like the per-response cap,
    /// not as "used up by others".
    #[test]
    fn a_queue_larger_than_the_whole_budget_is_refused_as_final() {
        let (limit, budget) = caps(100, 50);
        let queued = QueuedBytes::capped(Mode::Buffer, limit);
        assert_eq!(
            queued.try_produce(60),
            Err(OverLimit::Total { budget: 50 }),
            "60 bytes under the 100-byte cap, over the 50-byte budget"
        );
        assert_eq!((queued.unreleased(), budget.used()), (0, 0));
    }

    /// A response cut inside a chunk: part of it sent, none of it
    /// released. Its whole charge comes back once, whatever the mode: the
    /// sent half must not be given back a second time.
    #[test]
    fn a_response_cut_inside_a_chunk_gives_back_exactly_its_charge() {
        for mode in [Mode::Buffer, Mode::Unbounded] {
            let (limit, budget) = caps(1_000, 1_000);
            let queued = QueuedBytes::capped(mode, limit);
            for _ in 0..3 {
                assert_eq!(queued.try_produce(100), Ok(()));
            }
            queued.sent(100);
            queued.released(100);
            queued.sent(40); // the second chunk, cut after 40 bytes
            drop(queued);
            assert_eq!(budget.used(), 0, "{mode:?}");
        }
    }

    /// What a capped queue refuses, an uncapped one (the flat strategies')
    /// queues, and keeps counting: it is bounded by its strategy instead.
    #[test]
    fn an_uncapped_queue_takes_what_a_capped_one_refuses() {
        let (limit, _) = caps(100, 100);
        let capped = QueuedBytes::capped(Mode::Bounded, limit);
        assert!(capped.try_produce(101).is_err());
        let uncapped = QueuedBytes::new(Mode::Bounded);
        for round in 1..=3 {
            assert_eq!(uncapped.try_produce(101), Ok(()));
            assert_eq!(uncapped.unreleased(), round * 101);
        }
        assert!(!uncapped.refused());
        uncapped.sent(303);
        uncapped.released(303);
        assert_eq!((uncapped.unreleased(), uncapped.sent_bytes()), (0, 303));
    }
}
