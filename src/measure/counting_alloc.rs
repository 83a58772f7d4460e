//! A global allocator that counts live heap bytes: memory you can measure
//! exactly.
//!
//! RSS (resident set size) is what the kernel charges the process, but it is
//! a noisy witness: the allocator keeps freed pages for reuse, so RSS can
//! stay high after the bytes are gone, and it moves with thread stacks and
//! page faults unrelated to the lesson. Live heap is exact: every byte
//! handed out by `alloc` and not yet given back by `dealloc` (a free is
//! counted just before it happens, so the count may be a block low for a
//! moment, never high: see `dealloc`). It is what the tests assert on, and
//! it is the reason the server can prove that a disconnected `unbounded`
//! client's queue was really freed.
//!
//! The binary opts in with
//!
//! ```
//! use backpressure::{CountingAllocator, allocations};
//!
//! #[global_allocator]
//! static ALLOCATOR: CountingAllocator = CountingAllocator;
//!
//! fn main() {
//!     let before = allocations();
//!     let block = vec![0u8; 1 << 20];
//!     assert_eq!(allocations(), before + 1);
//!     drop(block);
//! }
//! ```
//!
//! Library users who do not install it read zeros.
//!
//! Counted is the size each caller asked for (`Layout::size`), not what the
//! system allocator rounded it up to, so the numbers are the program's own
//! demand on the heap, independent of the allocator's bookkeeping.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes currently allocated and not yet freed.
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
/// The largest `LIVE_BYTES` has ever been.
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);
/// Calls to `alloc`, `alloc_zeroed` and `realloc` that succeeded: a loop that
/// leaves this unchanged provably allocated nothing, even if it freed what it
/// took (which live bytes alone cannot show).
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// Forwards every call to [`System`] and keeps the live and peak heap
/// bytes and the allocation count up to date.
pub struct CountingAllocator;

fn grew(bytes: usize) {
    // Relaxed is enough: the counters order nothing else, and each update is
    // a single atomic read-modify-write, so no increment is ever lost.
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    let live = LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE_BYTES.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's own arguments,
// so `System` upholds the `GlobalAlloc` contract (valid, aligned,
// non-overlapping blocks) for us. The added bookkeeping only touches
// atomics: it never allocates (which would recurse into this allocator),
// never panics, and never reads or writes the blocks themselves.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller guarantees `layout` has a non-zero size, as
        // `System.alloc` requires.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Counted before it is freed: counted after, another thread could
        // be given the same memory in between and the peak would count the
        // block twice. This way the count may be a block low for a moment,
        // never high.
        shrank(layout.size());
        // SAFETY: the caller guarantees `ptr` came from this allocator (and
        // so from `System`) with this same `layout`.
        unsafe { System.dealloc(ptr, layout) };
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A shrink is counted before it happens, as a free is (`dealloc`),
        // and taken back if it fails: the count may be low for a moment,
        // never high.
        let shrinks = layout.size().saturating_sub(new_size);
        shrank(shrinks);
        // SAFETY: the caller guarantees `ptr` came from this allocator with
        // `layout`, and that `new_size` is valid for `layout.align()`.
        let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
        // On failure the old block is untouched and still live.
        if new_ptr.is_null() {
            LIVE_BYTES.fetch_add(shrinks, Ordering::Relaxed);
        } else if new_size >= layout.size() {
            grew(new_size - layout.size());
        } else {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        new_ptr
    }
}

/// Heap bytes allocated and not yet freed, process-wide.
pub fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// The most heap bytes that were ever live at once since the process started.
pub fn peak_bytes() -> usize {
    PEAK_BYTES.load(Ordering::Relaxed)
}

/// Successful allocation calls (including reallocations) since the process
/// started.
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every call's bookkeeping, exact to the byte, a refused `alloc`'s or
    /// `realloc`'s too (nothing counted: the old block is untouched). The
    /// unit tests do not install this allocator (only the binary and
    /// `hot_loop_allocations` do), so here the counters move only when
    /// this test calls it, and it is the one test that does.
    #[test]
    fn each_call_keeps_live_peak_and_count_exact() {
        let layout = |size| Layout::from_size_align(size, 8).expect("a valid layout");
        let (live, calls) = (live_bytes(), allocations());
        let counted = || (live_bytes() - live, allocations() - calls);
        // SAFETY: a non-zero size; the block is freed below with this layout.
        let first = unsafe { CountingAllocator.alloc(layout(4096)) };
        // SAFETY: as above.
        let second = unsafe { CountingAllocator.alloc_zeroed(layout(4096)) };
        assert!(!first.is_null() && !second.is_null());
        assert_eq!(counted(), (8192, 2));
        // Both blocks live at once: the peak is their sum, not the largest.
        assert!(peak_bytes() >= live + 8192, "peak {}", peak_bytes());
        // SAFETY: `first` came from this allocator with `layout(4096)`.
        let first = unsafe { CountingAllocator.realloc(first, layout(4096), 1024) };
        assert!(!first.is_null());
        assert_eq!(counted(), (4096 + 1024, 3), "a shrink is a call, and frees");
        // SAFETY: `first` is now a block of `layout(1024)`.
        let first = unsafe { CountingAllocator.realloc(first, layout(1024), 2048) };
        assert!(!first.is_null());
        assert_eq!(counted(), (4096 + 2048, 4), "a growth is a call, and takes");
        // A growth the system refuses leaves the block as it was: no call
        // counted, no byte taken (nor given back).
        // SAFETY: `first` is a block of `layout(2048)`; the size, rounded to
        // 8, is below `isize::MAX`.
        let refused = unsafe { CountingAllocator.realloc(first, layout(2048), 1 << 62) };
        assert!(refused.is_null());
        assert_eq!(counted(), (4096 + 2048, 4), "a refused growth is no call");
        // SAFETY: a non-zero size, below `isize::MAX`; a block given is freed.
        let none = unsafe { CountingAllocator.alloc(layout(1 << 62)) };
        assert!(none.is_null(), "the system gave 4 EiB");
        assert_eq!(
            counted(),
            (4096 + 2048, 4),
            "a refused allocation is no call"
        );
        // SAFETY: each block with the layout it has now.
        unsafe {
            CountingAllocator.dealloc(first, layout(2048));
            CountingAllocator.dealloc(second, layout(4096));
        }
        assert_eq!(counted(), (0, 4), "a free is no allocation");
    }
}
