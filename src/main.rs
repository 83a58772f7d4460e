//! The `backpressure` binary: the command line, with every heap allocation
//! counted.

use std::process::ExitCode;

use backpressure::CountingAllocator;

/// Every heap allocation of the process goes through this, so that
/// `backpressure_heap_bytes` is exact.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn main() -> ExitCode {
    backpressure::run(std::env::args_os().skip(1))
}
