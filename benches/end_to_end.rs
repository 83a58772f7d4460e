//! End to end over loopback: the real server binary, a fast client, one
//! export of a million rows (~54 MB) per iteration, in each of the four
//! modes; and, as the ceiling, the same bytes pre-rendered in memory and
//! written to a socket by a plain listener thread.
//!
//! The client is as fast as a client gets (it reads into one reusable
//! buffer and keeps nothing), so every figure is what the server side
//! costs. The targets: `bounded` at least 90 % of `pipeline`, and at least
//! 40 % of the raw copy, in the same run.
//!
//! `BENCH_SERVE_ARGS` passes extra flags to `serve` (see `common`), which is
//! how chunk sizes and channel depths were compared.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use backpressure::{CsvRows, body_len};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use common::{ServerProcess, connect, get_request, serve_args_from_env};

/// A million rows: large enough that connection setup is noise, small
/// enough for ten samples in a few seconds.
const ROWS: u64 = 1_000_000;
/// The client's one read buffer, reused for every read and every iteration.
const CLIENT_BUFFER_BYTES: usize = 256 * 1024;

fn end_to_end(c: &mut Criterion) {
    let body_len = body_len(ROWS);
    let args = match serve_args_from_env() {
        Ok(args) => args,
        Err(e) => panic!("{e}"),
    };
    let server = match ServerProcess::start(&args) {
        Ok(server) => server,
        Err(e) => panic!("end_to_end: {e}"),
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
                Ok(received) => {
                    panic!("{mode}: {received} bytes, less than the {body_len}-byte body")
                }
                Err(e) => panic!("{mode}: {e}"),
            });
        });
    }

    // The ceiling: the same bytes, already in memory, copied to a socket.
    let mut body = Vec::new();
    CsvRows::new(ROWS).fill(&mut body, usize::MAX);
    let body = Arc::new(body);
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(listener) => Arc::new(listener),
        Err(e) => panic!("cannot listen for the raw copy: {e}"),
    };
    group.bench_function("raw loopback copy (ceiling)", |b| {
        b.iter(|| match raw_copy(&listener, &body, &mut buffer) {
            Ok(received) if received == body_len => received,
            Ok(received) => panic!("raw copy: {received} of {body_len} bytes"),
            Err(e) => panic!("raw copy: {e}"),
        });
    });
    group.finish();
}

/// Sends `request`, reads the response to the end, and returns its size
/// (head and framing included). A response that is not a 200 is an error.
fn download(addr: SocketAddr, request: &str, buffer: &mut [u8]) -> Result<u64, String> {
    let mut stream = connect(addr)?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending the request: {e}"))?;
    let received = read_to_end_counting(&mut stream, buffer)?;
    if !buffer.starts_with(b"HTTP/1.1 200 ") {
        let head = String::from_utf8_lossy(&buffer[..buffer.len().min(200)]);
        return Err(format!("not a 200: {head:?}"));
    }
    Ok(received)
}

/// One connection to a listener thread that writes `body` and closes.
fn raw_copy(
    listener: &Arc<TcpListener>,
    body: &Arc<Vec<u8>>,
    buffer: &mut [u8],
) -> Result<u64, String> {
    let addr = listener
        .local_addr()
        .map_err(|e| format!("listener address: {e}"))?;
    // Connect first: the connection waits in the backlog, so the thread's
    // accept returns at once and cannot hang.
    let mut stream = connect(addr)?;
    let (listener, body) = (Arc::clone(listener), Arc::clone(body));
    let writer = thread::spawn(move || {
        let (mut socket, _) = listener.accept()?;
        socket.write_all(&body)
    });
    let received = read_to_end_counting(&mut stream, buffer);
    // Closing our end first makes a writer still blocked (if we stopped
    // early) fail, so the join cannot hang.
    drop(stream);
    match writer.join() {
        Ok(Ok(())) => received,
        Ok(Err(e)) => Err(format!("writing the body: {e}")),
        Err(_) => Err("the writer thread panicked".to_string()),
    }
}

/// Reads until end of stream into `buffer`, returning how many bytes
/// arrived. The response's first bytes stay at the front of `buffer`, for
/// the caller to check the status line; later reads overwrite the rest.
fn read_to_end_counting(stream: &mut impl Read, buffer: &mut [u8]) -> Result<u64, String> {
    /// Enough for `HTTP/1.1 200 OK` and more; bounded by the buffer's size.
    const KEPT_AT_FRONT: usize = 64;
    let (mut total, mut kept) = (0u64, 0usize);
    loop {
        match stream.read(&mut buffer[kept..]) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                total += n as u64;
                kept = (kept + n).min(KEPT_AT_FRONT);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading after {total} bytes: {e}")),
        }
    }
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
