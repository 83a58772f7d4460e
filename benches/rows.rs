//! The producer's hot loop: how fast rows are rendered, and what chunked
//! framing adds on top. Why: rendering is the one cost every strategy pays
//! per byte, so it caps what any of them can deliver (the "≥ 3 GB/s"
//! target in `docs/benchmarks.md`), and these figures are the producer's
//! alone, with no socket, thread or scheduler in them.
//!
//! The `rows` group also copies the same bytes, already rendered, into the
//! same chunks (the server's default size): no producer can fill chunks
//! faster than a memory copy, so that figure is the ceiling for rendering
//! on this machine.
//!
//! The `framing` group frames the rendered body into memory, chunked and
//! unframed (`Content-Length` / HTTP/1.0): what the framing itself costs.
//!
//! The `strategies` group runs whole exports through the channel and
//! pipeline strategies into `io::sink()`: what threads, hand-offs and
//! framing cost with no socket in the way, at a few chunk sizes and depths.
//!
//! Run: `cargo bench --bench rows`; one group with a criterion filter, e.g.
//! `cargo bench --bench rows -- rows/`; a short look with `-- --quick`.
//! Read: criterion prints each benchmark's time per iteration and its
//! `thrpt`, the body's bytes per second in GiB/s (binary: 1 GiB/s is
//! 1.074 GB/s); compare rendering with its `ceiling:` line of the same run,
//! since this machine's speed drifts between runs (`docs/benchmarks.md`).

use std::hint::black_box;
use std::io::Write;

use backpressure::{
    BodyWriter, CsvRows, DEFAULT_CHUNK_BYTES, ExportPlan, Framing, Http1, Mode, QueuedBytes,
    body_len, send_to,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Rows per iteration: 5.3 MB, over a hundred default chunks, yet rendered
/// in a few milliseconds, so that criterion takes many samples.
const ROWS: u64 = 100_000;
/// The server's default chunk, so the figures are the producer's as it runs.
const CHUNK: usize = DEFAULT_CHUNK_BYTES;
/// Bytes before the body in the `framing` group's wire, in both framings;
/// see `chunked_encoding` for why there are any. Anything from 64 to a page
/// less 64, less the chunked wire's drift (8 bytes a chunk), would do.
const WIRE_OFFSET_BYTES: usize = 512;

fn row_generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("rows");
    group.throughput(Throughput::Bytes(body_len(ROWS)));
    group.bench_function("render 100k rows into default chunks", |b| {
        let mut chunk = Vec::with_capacity(CHUNK);
        b.iter(|| {
            let mut rows = CsvRows::new(ROWS);
            loop {
                chunk.clear();
                rows.fill(&mut chunk, CHUNK);
                if chunk.is_empty() {
                    break;
                }
                black_box(&chunk);
            }
        });
    });
    let mut body = Vec::new();
    CsvRows::new(ROWS).fill(&mut body, usize::MAX);
    group.bench_function("ceiling: copy the rendered body into default chunks", |b| {
        let mut chunk = Vec::with_capacity(CHUNK);
        b.iter(|| {
            for piece in black_box(&body).chunks(CHUNK) {
                chunk.clear();
                chunk.extend_from_slice(piece);
                black_box(&chunk);
            }
        });
    });
    group.finish();
}

fn chunked_encoding(c: &mut Criterion) {
    let mut body = Vec::new();
    CsvRows::new(ROWS).fill(&mut body, usize::MAX);
    let mut group = c.benchmark_group("framing");
    group.throughput(Throughput::Bytes(body.len() as u64));
    for (name, framing) in [
        ("chunked", Framing::Chunked),
        ("raw", Framing::CloseDelimited),
    ] {
        group.bench_function(name, |b| {
            // The body and the wire are both large allocations, so each
            // starts at the same offset in its page: written from the
            // wire's start, every raw byte would land a whole number of
            // pages from where it was read. glibc copies pieces this size
            // with `rep movsb`, which on the AMD EPYC of
            // `docs/benchmarks.md` runs ten times slower at such a distance
            // (under 64 bytes, modulo a page); each chunk's size line and
            // CRLF move the chunked copy 8 bytes further off, so only the
            // raw one was hit. Both wires start the body at the same offset,
            // far from that, so that the two differ only in framing.
            let mut wire =
                Vec::with_capacity(WIRE_OFFSET_BYTES + body.len() + body.len() / 100 + 64);
            wire.resize(WIRE_OFFSET_BYTES, 0);
            let queued = QueuedBytes::new(Mode::Pipeline);
            b.iter(|| {
                wire.truncate(WIRE_OFFSET_BYTES);
                queued.produced(body.len());
                let mut writer = BodyWriter::new(Http1(&mut wire), framing, CHUNK, &queued);
                // A Vec takes every write: no error can come from outside.
                writer.write_all(&body).expect("framing into a Vec");
                writer.finish().expect("finishing into a Vec");
                black_box(&wire);
            });
        });
    }
    group.finish();
}

fn strategies(c: &mut Criterion) {
    let mut group = c.benchmark_group("strategies");
    group.throughput(Throughput::Bytes(body_len(ROWS)));
    for (mode, chunk_bytes, channel_depth) in [
        (Mode::Bounded, CHUNK, 0),
        (Mode::Bounded, CHUNK, 1),
        (Mode::Bounded, 4 * CHUNK, 1),
        (Mode::Pipeline, CHUNK, 0),
        (Mode::Unbounded, CHUNK, 0),
    ] {
        let plan = ExportPlan {
            rows: ROWS,
            mode,
            chunk_bytes,
            channel_depth,
        };
        let name = format!(
            "{} {} KiB x {channel_depth} into a sink",
            mode.as_str(),
            chunk_bytes / 1024
        );
        group.bench_function(name, |b| {
            b.iter(|| match send_to(std::io::sink(), &plan) {
                Ok(sent) => black_box(sent),
                Err(e) => panic!("{e}"),
            });
        });
    }
    group.finish();
}

criterion_group!(benches, row_generation, chunked_encoding, strategies);
criterion_main!(benches);
