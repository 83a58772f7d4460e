//! The producer's hot loop: how fast rows are rendered, and what chunked
//! framing adds on top.
//!
//! The `rows` group also copies the same bytes, already rendered, into the
//! same chunks (the server's default size): no producer can fill chunks faster than a memory copy,
//! so that figure is the ceiling for rendering on this machine.

use std::hint::black_box;
use std::io::Write;

use backpressure::{
    BodyWriter, CsvRows, DEFAULT_CHUNK_BYTES, Framing, Mode, QueuedBytes, body_len,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ROWS: u64 = 100_000;
/// The server's default chunk, so the figures are the producer's as it runs.
const CHUNK: usize = DEFAULT_CHUNK_BYTES;

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
            let mut wire = Vec::with_capacity(body.len() + body.len() / 100 + 64);
            let queued = QueuedBytes::new(Mode::Pipeline);
            b.iter(|| {
                wire.clear();
                queued.produced(body.len());
                let mut writer = BodyWriter::new(&mut wire, framing, CHUNK, &queued);
                writer.write_all(&body).unwrap();
                writer.finish().unwrap();
                black_box(&wire);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, row_generation, chunked_encoding);
criterion_main!(benches);
