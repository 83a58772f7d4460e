//! The producer's hot loop allocates nothing per row, and framing a chunk
//! allocates nothing either; a `bounded` or `pipeline` export, threads and
//! channels included, allocates nothing per chunk: proved with the counting
//! allocator's count of allocation calls, not assumed.
//!
//! It runs without the test harness (`harness = false` in Cargo.toml): the
//! allocation count is process-wide, so the check needs a process in which
//! no other thread (libtest's included) can allocate while it measures.
//! `main` runs the checks and panics, failing `cargo test`, if one does not
//! hold. It takes the arguments of libtest's that select tests, so that
//! `cargo test NAME`, `cargo test -- --list` and cargo-nextest's calls mean
//! here what they mean everywhere else.

use std::io::Write;

use backpressure::{
    BodyWriter, CountingAllocator, CsvRows, ExportPlan, Framing, Http1, Mode, QueuedBytes,
    allocations, body_len, send_to,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const ROWS: u64 = 100_000;
const CHUNK: usize = 16 * 1024;
/// A whole export of 65 chunks of [`CHUNK`] (1.05 MB), and one ten times longer.
const FEW_ROWS: u64 = 20_000;
const MANY_ROWS: u64 = 10 * FEW_ROWS;
/// Runs of each export; the fewest allocations count.
const RUNS: usize = 3;
/// Allocations a channel export may make, or not, depending on which thread
/// had to wait: the first time a thread waits on a channel, std sets up its
/// waiting state, once: the producer thread's context (the connection
/// thread's is made once per thread, and this test's is made before it
/// measures), and the first entry in each direction's list of waiters.
/// Whether a short export ever waits is up to the scheduler; a long one
/// always does. Nothing here grows with the body.
const FIRST_WAIT_ALLOCATIONS: usize = 3;

/// The checks, by name, run in turn on this one thread.
const TESTS: [(&str, fn()); 3] = [
    (
        "rendering_and_framing_rows_allocate_nothing",
        rendering_and_framing_rows_allocate_nothing,
    ),
    (
        "a_bounded_or_pipeline_export_allocates_nothing_per_chunk",
        a_bounded_or_pipeline_export_allocates_nothing_per_chunk,
    ),
    (
        "an_unbounded_export_allocates_per_chunk",
        an_unbounded_export_allocates_per_chunk,
    ),
];

/// libtest's flags that take a value (`--flag VALUE` or `--flag=VALUE`),
/// which is not a filter. libtest's alone: criterion's, which the
/// benchmarks skip (`benches/common/args.rs`), never reach a test.
const FLAGS_WITH_A_VALUE: [&str; 6] = [
    "--format",
    "--test-threads",
    "--color",
    "--logfile",
    "--shuffle-seed",
    "-Z",
];

/// Runs the tests the arguments select, as libtest would: words filter by
/// name (a part of it, or all of it with `--exact`), and `--skip WORD`
/// drops those it matches; `--list` names the tests instead (`NAME: test`,
/// as cargo-nextest reads it); `--ignored` selects none, none being
/// ignored. The other flags, which ask for output or threads, change
/// nothing in one thread.
fn main() {
    let (mut filters, mut skipped, mut flags) = (Vec::new(), Vec::new(), Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, value) = match arg.split_once('=') {
            Some((flag, value)) if arg.starts_with('-') => (flag.to_string(), Some(value.into())),
            _ => (arg, None),
        };
        if !flag.starts_with('-') {
            filters.push(flag);
        } else if flag == "--skip" {
            skipped.extend(value.or_else(|| args.next()));
        } else if FLAGS_WITH_A_VALUE.contains(&flag.as_str()) {
            let _value = value.or_else(|| args.next());
        } else {
            flags.push(flag);
        }
    }
    let flag = |name: &str| flags.iter().any(|flag| flag == name);
    let (exact, list, ignored) = (flag("--exact"), flag("--list"), flag("--ignored"));
    let matches = |name: &str, word: &String| {
        if exact {
            name == word
        } else {
            name.contains(word.as_str())
        }
    };
    let selected = TESTS.into_iter().filter(|(name, _)| {
        !ignored
            && (filters.is_empty() || filters.iter().any(|word| matches(name, word)))
            && !skipped.iter().any(|word| matches(name, word))
    });
    for (name, test) in selected {
        if list {
            println!("{name}: test");
        } else {
            test();
            println!("test {name} ... ok");
        }
    }
}

fn rendering_and_framing_rows_allocate_nothing() {
    // Buffers are made up front, as the strategies make theirs.
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut wire = Vec::with_capacity(2 * body_len(ROWS) as usize);
    let queued = QueuedBytes::new(Mode::Bounded);
    let mut rows = CsvRows::new(ROWS);
    let mut body = BodyWriter::new(Http1(&mut wire), Framing::Chunked, CHUNK, &queued);

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

/// The fewest allocations of [`RUNS`] whole exports of `rows`, head and
/// chunked body, into a sink.
fn allocations_of(mode: Mode, rows: u64, depth: usize) -> usize {
    let plan = ExportPlan {
        rows,
        mode,
        chunk_bytes: CHUNK,
        channel_depth: depth,
    };
    (0..RUNS)
        .map(|_| {
            let before = allocations();
            let sent = send_to(std::io::sink(), &plan).expect("an export into a sink");
            let allocations = allocations() - before;
            assert_eq!(sent, body_len(rows), "{mode:?}: the whole body was sent");
            allocations
        })
        .min()
        .unwrap_or(usize::MAX)
}

/// With recycled buffers a `bounded` export allocates what it sets up (a
/// thread; four channels: the chunks, the buffers back, and the head's
/// two-way hand-shake; its depth + 2 buffers; the head), and as much for
/// ten times the chunks: nothing per chunk, give or take the
/// [`FIRST_WAIT_ALLOCATIONS`]. `pipeline` sets up one buffer and its head,
/// exactly.
fn a_bounded_or_pipeline_export_allocates_nothing_per_chunk() {
    // Once, so that this thread's first wait on a channel is behind us.
    allocations_of(Mode::Bounded, FEW_ROWS, 0);
    for (mode, depth) in [
        (Mode::Bounded, 0),
        (Mode::Bounded, 1),
        (Mode::Bounded, 4),
        (Mode::Pipeline, 0),
    ] {
        let few = allocations_of(mode, FEW_ROWS, depth);
        let many = allocations_of(mode, MANY_ROWS, depth);
        println!(
            "  {mode:?} depth {depth}: {few} allocations for {FEW_ROWS} rows, {many} for {MANY_ROWS}"
        );
        let slack = if mode == Mode::Pipeline {
            0
        } else {
            FIRST_WAIT_ALLOCATIONS
        };
        assert!(
            many.abs_diff(few) <= slack,
            "{mode:?} depth {depth}: ten times the chunks, {} more allocations",
            many as i64 - few as i64
        );
        // Its one buffer, made at its size (a smaller one grown to it is a
        // second allocation), and its head: no more, however long.
        if mode == Mode::Pipeline {
            assert_eq!((few, many), (2, 2), "pipeline: one buffer and the head");
        }
    }
}

/// The contrast that shows the count can see a per-chunk allocation:
/// `unbounded` makes a new buffer for every chunk.
fn an_unbounded_export_allocates_per_chunk() {
    let chunks = |rows| body_len(rows).div_ceil(CHUNK as u64) as usize;
    let extra_chunks = chunks(MANY_ROWS) - chunks(FEW_ROWS);
    let few = allocations_of(Mode::Unbounded, FEW_ROWS, 0);
    let many = allocations_of(Mode::Unbounded, MANY_ROWS, 0);
    println!("  Unbounded: {few} allocations for {FEW_ROWS} rows, {many} for {MANY_ROWS}");
    assert!(
        many >= few + extra_chunks,
        "{extra_chunks} more chunks but only {} more allocations",
        many - few
    );
}
