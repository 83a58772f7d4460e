//! What a hand-off costs when the thread handed to is asleep: a wake.
//!
//! `bounded`'s producer and writer meet at a channel of depth 1, and at
//! the default chunk one of them is usually asleep when the other gets
//! there (`docs/benchmarks.md`, "The hand-offs"): each chunk then costs a
//! wake, the kernel's futex, the scheduler and, on another core, an
//! interrupt to a core that may be halted. `unbounded`'s producer never
//! waits, so it never pays it. This bench times the wake alone: two threads
//! hand a token back and forth, each going to sleep (`thread::park`, no
//! spinning) until the other hands it back, so one iteration is two
//! hand-offs, each a context switch: on two cores mostly a sleep and a
//! wake across them; on one core the woken thread often preempts the
//! waker before it parks.
//!
//! Run: `cargo bench --bench wake` (the two threads may run on both cores,
//! as the server's do); `taskset -c 0 cargo bench --bench wake` puts them
//! on one core, where a wake is a switch and no interrupt. Read: criterion's
//! time per iteration, halved, is one hand-off. A busy machine's figure is
//! higher: a woken thread waits for a core. Criterion's `change` line
//! compares with the run before, whichever cores it had: after a run on
//! two cores, one on a single core reports a large "improvement".

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use criterion::{Criterion, criterion_group, criterion_main};

/// The token's value that tells the other thread to end.
const DONE: u64 = u64::MAX;

fn wake(c: &mut Criterion) {
    // Even: the bench thread's turn; odd: the other's. A parked thread
    // checks the turn when it wakes, since `park` may return spuriously.
    let turn = Arc::new(AtomicU64::new(0));
    let bench_thread = thread::current();
    let other = thread::spawn({
        let turn = Arc::clone(&turn);
        move || {
            loop {
                let t = turn.load(Ordering::Acquire);
                if t == DONE {
                    break;
                }
                if t.is_multiple_of(2) {
                    thread::park();
                    continue;
                }
                turn.store(t + 1, Ordering::Release);
                bench_thread.unpark();
            }
        }
    });
    c.bench_function("a token to a parked thread and back: two wakes", |b| {
        b.iter(|| {
            let t = turn.load(Ordering::Acquire);
            turn.store(t + 1, Ordering::Release);
            other.thread().unpark();
            while turn.load(Ordering::Acquire) == t + 1 {
                thread::park();
            }
            black_box(t)
        });
    });
    turn.store(DONE, Ordering::Release);
    other.thread().unpark();
    if other.join().is_err() {
        panic!("the other thread panicked");
    }
}

criterion_group!(benches, wake);
criterion_main!(benches);
