//! The producer's hot loop allocates nothing per row, and framing a chunk
//! allocates nothing either: proved with the counting allocator's count of
//! allocation calls, not assumed.
//!
//! It runs without the test harness (`harness = false` in Cargo.toml): the
//! allocation count is process-wide, so the check needs a process in which
//! no other thread (libtest's included) can allocate while it measures.
//! `main` runs the check and panics, failing `cargo test`, if it does not hold.

use std::io::Write;

use backpressure::{
    BodyWriter, CountingAllocator, CsvRows, Framing, Mode, QueuedBytes, allocations, body_len,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const ROWS: u64 = 100_000;
const CHUNK: usize = 16 * 1024;

fn main() {
    rendering_and_framing_rows_allocate_nothing();
    println!("test rendering_and_framing_rows_allocate_nothing ... ok");
}

fn rendering_and_framing_rows_allocate_nothing() {
    // Buffers are made up front, as the strategies make them per chunk.
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut wire = Vec::with_capacity(2 * body_len(ROWS) as usize);
    let queued = QueuedBytes::new(Mode::Bounded);
    let mut rows = CsvRows::new(ROWS);
    let mut body = BodyWriter::new(&mut wire, Framing::Chunked, CHUNK, &queued);

    let before = allocations();
    let mut rendered = 0;
    loop {
        chunk.clear();
        rows.fill(&mut chunk, CHUNK);
        if chunk.is_empty() {
            break;
        }
        rendered += chunk.len();
        queued.produced(chunk.len());
        body.write_all(&chunk).expect("writing into a Vec");
    }
    body.finish().expect("writing into a Vec");
    let allocations = allocations() - before;

    assert_eq!(
        rendered as u64,
        body_len(ROWS),
        "the whole export was rendered"
    );
    assert!(wire.ends_with(b"0\r\n\r\n"));
    assert_eq!(
        allocations, 0,
        "{ROWS} rows rendered and framed with {allocations} allocations"
    );
}
