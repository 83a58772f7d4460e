//! End to end over loopback: the real server binary, a fast client, one
//! export of a million rows (~54 MB) per iteration, in each of the four
//! modes; and, as the ceiling, the same bytes pre-rendered in memory and
//! written to a socket by a plain listener thread, in one write and in the
//! server's largest writes (64 KiB).
//!
//! Why: a strategy that bounds memory must not cost a fast client its
//! speed. The client is as fast as a client gets (it reads into one
//! reusable buffer and keeps nothing), so every figure is what the server
//! side costs. The targets, at the defaults, in the same run: `bounded` at
//! least 90 % of `unbounded` and 75 % of the raw copy, `pipeline` at least
//! 80 % of `unbounded` (`benches/tradeoff.rs` prints whether they hold,
//! measured in interleaved rounds; the groups here run one after another,
//! so a drifting machine moves them apart).
//!
//! Run: `cargo bench --bench end_to_end` (1 s of warm-up and ten samples
//! in about 5 s per line, under a minute once built); one line with a
//! criterion filter, e.g. `-- end_to_end/bounded` (8 s).
//! `BENCH_SERVE_ARGS` passes extra flags to `serve` (see `common`), which is
//! how chunk sizes and channel depths were compared; `benches/tradeoff.rs`
//! compares them all at once, against memory. Read: criterion's `thrpt` is
//! body bytes per second, in MiB/s or GiB/s (binary units); the ratios
//! in `docs/benchmarks.md` are between lines of the same run. A server
//! that does not start (a flag in `BENCH_SERVE_ARGS` it refuses) or a
//! download that fails stops the run with one line on stderr and exit
//! code 1, and a `BENCH_SERVE_ARGS` that cannot be read with 2, as the
//! benchmarks that are programs of their own do.

mod common;

use std::time::Duration;

use backpressure::body_len;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use common::args::USAGE_ERROR;
use common::download::{CLIENT_BUFFER_BYTES, RawCopy, SERVER_WRITE_BYTES, download};
use common::{ServerProcess, get_request, serve_args_from_env, stop};

/// How this benchmark signs the one line it stops with.
const NAME: &str = "end_to_end";
/// The exit code when something could not be measured, as the benchmarks
/// that are programs of their own exit.
const FAILED: u8 = 1;

/// A million rows: large enough that connection setup is noise, small
/// enough for ten samples in a few seconds.
const ROWS: u64 = 1_000_000;

fn end_to_end(c: &mut Criterion) {
    let body_len = body_len(ROWS);
    let args = match serve_args_from_env() {
        Ok(args) => args,
        Err(e) => stop(NAME, USAGE_ERROR, &e),
    };
    let server = match ServerProcess::start(&args) {
        Ok(server) => server,
        Err(e) => stop(NAME, FAILED, &e),
    };
    let mut buffer = vec![0u8; CLIENT_BUFFER_BYTES];

    let mut group = c.benchmark_group("end_to_end");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes(body_len));
    for mode in ["buffer", "unbounded", "bounded", "pipeline"] {
        let request = get_request(&format!("/export.csv?rows={ROWS}&mode={mode}"));
        group.bench_function(mode, |b| {
            b.iter(|| match download(server.addr(), &request, &mut buffer) {
                Ok(received) if received >= body_len => received,
                Ok(received) => stop(
                    NAME,
                    FAILED,
                    &format!("{mode}: {received} bytes, less than the {body_len}-byte body"),
                ),
                Err(e) => stop(NAME, FAILED, &format!("{mode}: {e}")),
            });
        });
    }

    // The ceilings: the same bytes, already in memory, copied to a socket
    // in one write, and in writes of the server's largest size.
    for (name, write_bytes) in [
        ("raw loopback copy (ceiling)", None),
        ("raw loopback copy, 64 KiB writes", Some(SERVER_WRITE_BYTES)),
    ] {
        let raw = match RawCopy::new(ROWS, write_bytes) {
            Ok(raw) => raw,
            Err(e) => stop(NAME, FAILED, &e),
        };
        group.bench_function(name, |b| {
            b.iter(|| match raw.once(&mut buffer) {
                Ok(received) if received == body_len => received,
                Ok(received) => stop(
                    NAME,
                    FAILED,
                    &format!("raw copy: {received} of {body_len} bytes"),
                ),
                Err(e) => stop(NAME, FAILED, &format!("raw copy: {e}")),
            });
        });
    }
    group.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
