//! Caps on what responses may hold in userland: one per response, and one
//! budget for the whole process.
//!
//! The lesson's own defense. `buffer` and `unbounded` hold as much as the
//! producer has run ahead of the client, and nothing in their design stops
//! them; these caps do, so the server survives the bug it demonstrates:
//!
//! - a **per-response cap** (`--max-buffered-bytes`): `buffer` knows its
//!   size up front and refuses a larger body before allocating any of it;
//!   `unbounded` is aborted once its queue would pass the cap;
//! - a **process-wide budget** (`--max-buffered-total`): the per-response
//!   cap alone does not help when fifty clients each ask for a body just
//!   under it. Every byte a capped response queues is taken from the budget
//!   first, and given back as its memory is freed: each chunk once written
//!   (`unbounded`), `buffer`'s whole body when the response ends.
//!
//! The budget is first come, first served: when it runs out, whichever
//! response asks next is refused or aborted, not the one holding the most.
//! A fairer policy (a share per response, or evicting the largest) is what
//! a real service would weigh; this one is simple to reason about, and what
//! it guarantees is the bound.
//!
//! The budget is a bound only if the process has the memory for it: under
//! a smaller limit (`ulimit -v`, a container's `memory.max`) the buffered
//! modes reach the limit first, and the process aborts or is killed, every
//! connection with it. So `serve` warns at start
//! ([`memory_warning`](crate::server::envelope::memory_warning)), weighing
//! the budget with everything else the caps let the server hold.
//!
//! The flat strategies (`bounded`, `pipeline`) are not charged: they hold
//! at most (depth + 2) × chunk, or one chunk, by construction, and
//! the connection cap bounds how many of them there are. Charging them
//! would let one greedy `unbounded` client starve every well-behaved one.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes that all capped responses together may queue.
#[derive(Debug)]
pub struct BufferBudget {
    /// The most `used` may reach.
    limit: u64,
    /// Bytes taken and not yet given back.
    used: AtomicU64,
}

impl BufferBudget {
    pub fn new(limit: u64) -> Self {
        BufferBudget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Takes `bytes` if they fit in what is left, all or nothing.
    pub fn try_take(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&after| after <= self.limit)
            })
            .is_ok()
    }

    /// Returns `bytes` taken earlier. Giving back more than was taken is a
    /// bookkeeping bug that would wrap the count and refuse every later
    /// request: debug builds (the tests' server) panic on it.
    pub fn give_back(&self, bytes: u64) {
        let before = self.used.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(before >= bytes, "gave back {bytes} of {before} bytes taken");
    }

    /// Bytes taken now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The configured limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

/// The caps one response is held to.
#[derive(Clone, Debug)]
pub struct BufferLimit {
    /// Most bytes this response may queue (`--max-buffered-bytes`).
    pub per_response: u64,
    /// Shared by every capped response (`--max-buffered-total`).
    pub budget: Arc<BufferBudget>,
}

/// A response wanted to queue more than a cap allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverLimit {
    /// More than `--max-buffered-bytes` for this one response.
    Response {
        /// The cap that was hit.
        cap: u64,
    },
    /// More than the whole of `--max-buffered-total`, when that is the
    /// smaller cap: no other response giving its share back makes room.
    Total {
        /// The whole budget.
        budget: u64,
    },
    /// Other responses hold what is left of `--max-buffered-total`: the one
    /// refusal a retry may get past, once they give their shares back.
    BudgetInUse {
        /// The budget that ran out.
        budget: u64,
    },
}

impl OverLimit {
    /// The cap a queue of `bytes` passes however long it waits, if any:
    /// more than one response may queue (`cap`), or more than all of them
    /// together (`budget`). `None` means it fits once the budget has room.
    pub fn never_fits(bytes: u64, cap: u64, budget: u64) -> Option<OverLimit> {
        if bytes > cap {
            Some(OverLimit::Response { cap })
        } else if bytes > budget {
            Some(OverLimit::Total { budget })
        } else {
            None
        }
    }
}

impl fmt::Display for OverLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverLimit::Response { cap } => write!(
                f,
                "the export would queue more than --max-buffered-bytes ({cap} bytes) \
                 in memory, however often it is asked for; use mode=bounded, \
                 mode=pipeline or fewer rows"
            ),
            OverLimit::Total { budget } => write!(
                f,
                "the export would queue more than --max-buffered-total ({budget} bytes), \
                 all the server may buffer, however often it is asked for; use mode=bounded, \
                 mode=pipeline or fewer rows"
            ),
            OverLimit::BudgetInUse { budget } => write!(
                f,
                "the server's buffer budget (--max-buffered-total, {budget} bytes) \
                 is used up by other responses; retry later, or use mode=bounded"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_gives_all_or_nothing_and_never_exceeds_its_limit() {
        let budget = BufferBudget::new(100);
        assert!(budget.try_take(60));
        assert!(!budget.try_take(41), "61 + 41 > 100");
        assert_eq!(budget.used(), 60, "a refused take takes nothing");
        assert!(budget.try_take(40));
        assert!(!budget.try_take(1));
        budget.give_back(100);
        assert!(!budget.try_take(u64::MAX), "no overflow past the limit");
        assert_eq!(budget.used(), 0);
    }

    /// A queue of exactly a cap fits it, as [`BufferBudget::try_take`]
    /// lets it: were it refused, a `buffer` export the size of
    /// `--max-buffered-bytes` would get a 400 saying it never fits.
    #[test]
    fn a_queue_the_size_of_a_cap_fits_and_one_byte_more_never_does() {
        let never_fits = OverLimit::never_fits;
        assert_eq!(never_fits(100, 100, 200), None);
        assert_eq!(
            never_fits(101, 100, 200),
            Some(OverLimit::Response { cap: 100 })
        );
        assert_eq!(never_fits(100, 200, 100), None);
        assert_eq!(
            never_fits(101, 200, 100),
            Some(OverLimit::Total { budget: 100 })
        );
    }

    #[test]
    fn concurrent_takers_never_overdraw() {
        let budget = BufferBudget::new(1000);
        let taken = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        if budget.try_take(7) {
                            taken.fetch_add(7, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(budget.used(), taken.load(Ordering::Relaxed));
        assert!(budget.used() <= 1000 && budget.used() > 1000 - 7);
    }
}
