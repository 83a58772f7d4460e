//! The lesson's table, asserted with exact counters from `/metrics`: what a
//! stalled client costs in each mode, and that a client going away gives
//! every byte and thread back.
//!
//! Each test stalls one client on a ~65 MB export (it sends the request,
//! reads 64 KiB to prove the response started, then reads nothing), waits
//! until the server has stopped moving, and checks the queue:
//!
//! | mode      | queued bytes at the stall                                 |
//! |-----------|-----------------------------------------------------------|
//! | buffer    | the whole body, minus what the kernel took                |
//! | unbounded | the whole body, minus what the kernel took                |
//! | bounded   | exactly (depth + 2) × chunk: every buffer it has, full     |
//! | pipeline  | exactly one chunk: its one buffer, full                   |
//!
//! Then it resets the connection and waits for threads, live heap (from the
//! counting allocator, within `HEAP_SLACK_BYTES`) and queued bytes to be
//! back at their idle values.
//! RSS is not asserted: the allocator may keep freed pages, so it is noisy.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{
    ChunkError, Idle, Metrics, Server, get, metrics, reference_csv_len, stalled_request,
    wait_until, wait_until_with, warmed_server,
};

/// About 65 MB of CSV: far more than loopback socket buffers hold, small
/// enough that a debug build renders it in about a second.
const ROWS: u64 = 1_200_000;
const DEFAULT_CHUNK: u64 = 48 * 1024;
const DEFAULT_DEPTH: u64 = 1;
/// What the heap may hold at a stall beyond the queue's own buffers: a
/// producer thread's bookkeeping and the channels' slots, but nothing
/// proportional to the body.
const HEAP_SLACK_BYTES: f64 = 16.0 * 1024.0;
/// How long a settled or idle state may take to arrive.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

fn series(name: &str, mode: &str) -> String {
    format!("{name}{{mode=\"{mode}\"}}")
}

/// A stalled export, once the server has stopped moving.
struct Stalled {
    /// The client's socket: the stall lasts as long as it is open.
    client: TcpStream,
    metrics: Metrics,
    /// Bytes of this export queued in userland.
    queued: f64,
    /// Bytes of this export the socket accepted (the warm-up's excluded).
    sent: f64,
}

/// Stalls a client on the big export and returns once the server has
/// stopped moving: queued and sent bytes unchanged over ten polls (half a
/// second) while the client reads nothing.
fn stall(addr: SocketAddr, mode: &str) -> Stalled {
    let sent_series = series("backpressure_body_bytes_sent_total", mode);
    let queued_series = series("backpressure_queued_bytes", mode);
    let sent_before = metrics(addr).value(&sent_series);

    let mut client = stalled_request(addr, &format!("/export.csv?rows={ROWS}&mode={mode}"));
    let mut first = vec![0u8; 64 * 1024];
    client.read_exact(&mut first).expect("the response starts");
    assert!(first.starts_with(b"HTTP/1.1 200 OK\r\n"));

    let mut last = None;
    let mut unchanged = 0;
    let metrics = wait_until("the stalled export to settle", SETTLE_TIMEOUT, || {
        let m = metrics(addr);
        let now = (m.value(&queued_series), m.value(&sent_series));
        unchanged = if last == Some(now) { unchanged + 1 } else { 0 };
        last = Some(now);
        (unchanged >= 10 && now.0 > 0.0).then_some(m)
    });
    let queued = metrics.value(&queued_series);
    let sent = metrics.value(&sent_series) - sent_before;
    Stalled {
        client,
        metrics,
        queued,
        sent,
    }
}

/// Drops the stalled client (with unread data, so the kernel sends a reset)
/// and checks that threads, live heap, open connections and the queue are
/// back at idle, and that the abort was counted.
fn disconnect_and_expect_idle(addr: SocketAddr, stalled: Stalled, mode: &str, idle: &Idle) {
    drop(stalled.client);
    let m = common::back_to_idle(addr, idle, &format!("the {mode} client left"));
    assert_eq!(m.aborts(mode, "client-abort"), 1.0);
}

fn peak(m: &Metrics, mode: &str) -> f64 {
    m.value(&series("backpressure_queued_peak_bytes", mode))
}

fn live_heap(m: &Metrics) -> f64 {
    m.value("backpressure_heap_bytes")
}

#[test]
fn buffer_queues_the_whole_body() {
    let (server, idle) = warmed_server(&[]);
    let body = reference_csv_len(ROWS) as f64;
    let stalled = stall(server.addr(), "buffer");
    assert_eq!(
        peak(&stalled.metrics, "buffer"),
        body,
        "the peak is the body, to the byte"
    );
    assert_eq!(
        stalled.queued + stalled.sent,
        body,
        "every byte is queued or sent"
    );
    assert!(
        stalled.sent < body,
        "the stalled client cannot have received it all"
    );
    // Exactly the body: no more is reserved than it takes.
    let heap_growth = live_heap(&stalled.metrics) - idle.heap_bytes;
    assert!(
        heap_growth >= body && heap_growth < body + HEAP_SLACK_BYTES,
        "the body is on the heap, and no more: grew {heap_growth} for a body of {body}"
    );
    disconnect_and_expect_idle(server.addr(), stalled, "buffer", &idle);
    // The heap's peak outlives the queue: what the stall cost is still
    // there once every byte of it is freed.
    let heap_peak = metrics(server.addr()).value("backpressure_heap_peak_bytes");
    assert!(heap_peak >= idle.heap_bytes + body, "peak {heap_peak}");
}

#[test]
fn unbounded_queues_most_of_the_body() {
    let (server, idle) = warmed_server(&[]);
    let body = reference_csv_len(ROWS) as f64;
    let stalled = stall(server.addr(), "unbounded");
    // The producer never waits, so it runs to the end of the export: then
    // every byte is either queued or taken by the socket, and only the
    // chunk being written can be both (its sent part is counted at once,
    // its buffer leaves the queue once all of it is out).
    let sent_before = stalled
        .metrics
        .value(&series("backpressure_body_bytes_sent_total", "unbounded"))
        - stalled.sent;
    let (queued, m) = wait_until(
        "the unbounded producer to run to the end ahead of a stalled client",
        SETTLE_TIMEOUT,
        || {
            let m = metrics(server.addr());
            let queued = m.value(&series("backpressure_queued_bytes", "unbounded"));
            let sent =
                m.value(&series("backpressure_body_bytes_sent_total", "unbounded")) - sent_before;
            let both = queued + sent - body;
            (0.0..DEFAULT_CHUNK as f64)
                .contains(&both)
                .then_some((queued, m))
        },
    );
    assert!(queued > 0.75 * body, "only {queued} of {body} bytes queued");
    assert_eq!(
        peak(&m, "unbounded"),
        queued,
        "the queue only grew while the client stalled"
    );
    let heap_growth = live_heap(&m) - idle.heap_bytes;
    assert!(
        heap_growth >= queued,
        "the queue is on the heap ({heap_growth} bytes)"
    );
    disconnect_and_expect_idle(server.addr(), stalled, "unbounded", &idle);
}

/// A server, warmed, whose channel modes use `chunk` and `depth`.
fn bounded_server(chunk: u64, depth: u64) -> (Server, Idle) {
    let (chunk, depth) = (chunk.to_string(), depth.to_string());
    warmed_server(&["--chunk-bytes", &chunk, "--channel-depth", &depth])
}

/// The bound is tight: at a stall the producer holds one full chunk in its
/// blocked `send`, the channel holds `depth`, and the writer one it has not
/// finished writing (a chunk leaves the queue only once fully written). Those
/// are the response's depth + 2 buffers, all full: the queue is exactly
/// the memory it has. A chunk of 128 KiB takes the writer two deadline
/// writes (`MAX_WRITE_BYTES` in `src/defense/send_deadline.rs`), and still
/// leaves the queue only once both are done.
#[test]
fn bounded_queues_depth_plus_two_chunks() {
    let body = reference_csv_len(ROWS) as f64;
    for (chunk, depth) in [(DEFAULT_CHUNK, DEFAULT_DEPTH), (4096, 3), (128 * 1024, 1)] {
        let (server, idle) = bounded_server(chunk, depth);
        let stalled = stall(server.addr(), "bounded");
        // The names the waits for the server at rest go by: were they to
        // change, `serves_a_connection` would see no thread, and every
        // such wait would end at once.
        let serving = common::connection_threads(server.pid()).unwrap();
        assert!(serving.iter().any(|name| name == "producer"), "{serving:?}");
        assert!(
            serving.iter().any(|name| name.starts_with("conn-")),
            "{serving:?}"
        );
        let bound = ((depth + 2) * chunk) as f64;
        assert_eq!(
            peak(&stalled.metrics, "bounded"),
            bound,
            "chunk={chunk} depth={depth}"
        );
        assert_eq!(stalled.queued, bound, "chunk={chunk} depth={depth}");
        assert!(
            stalled.queued + stalled.sent < body,
            "the producer stopped early"
        );
        // What the heap grew by: the depth + 2 buffers, and the slack.
        let heap_growth = live_heap(&stalled.metrics) - idle.heap_bytes;
        assert!(
            heap_growth >= bound && heap_growth < bound + HEAP_SLACK_BYTES,
            "heap grew by {heap_growth} bytes for a {bound}-byte queue"
        );
        disconnect_and_expect_idle(server.addr(), stalled, "bounded", &idle);
        // A peak is the most ever queued: a small export after the stall
        // queues less, and leaves it where it was.
        assert_eq!(
            get(server.addr(), "/export.csv?rows=10&mode=bounded").status,
            200
        );
        let m = metrics(server.addr());
        assert_eq!(peak(&m, "bounded"), bound, "chunk={chunk} depth={depth}");
    }
}

/// A `bounded` body of fewer chunks than depth + 2 gets a pool of as many
/// buffers as it has chunks: here one chunk of 1 MiB, far more than
/// loopback socket buffers take from a client that reads nothing, so the
/// writer never finishes it. The producer has rendered every row by then
/// and must be gone: it needs no further buffer to learn the rows are
/// done, and one would come back only when the stalled writer finished,
/// holding the thread for the whole stall.
#[test]
fn a_bounded_producer_that_rendered_every_row_does_not_wait_for_a_buffer() {
    let (chunk, depth) = (1024 * 1024u64, 1u64);
    let rows = 18_000;
    let body = reference_csv_len(rows) as f64;
    assert!(body < chunk as f64, "one chunk, one buffer");
    let (server, idle) = bounded_server(chunk, depth);
    let (queued, sent) = (
        series("backpressure_queued_bytes", "bounded"),
        series("backpressure_body_bytes_sent_total", "bounded"),
    );
    let sent_before = metrics(server.addr()).value(&sent);
    let client = stalled_request(
        server.addr(),
        &format!("/export.csv?rows={rows}&mode=bounded"),
    );
    // Every row rendered: what is queued and what left make the body (a
    // chunk half sent counts in both, hence at least).
    wait_until("every row to be rendered", SETTLE_TIMEOUT, || {
        let m = metrics(server.addr());
        (m.value(&queued) + m.value(&sent) - sent_before >= body).then_some(())
    });
    // The connection's thread waits on its stalled client; its producer,
    // with nothing left to do, has returned.
    wait_until_with("the producer to return", Duration::from_secs(5), || {
        let threads = metrics(server.addr()).value("process_threads");
        if threads == idle.threads + 1.0 {
            return Ok(());
        }
        Err(format!("{threads} threads, {} at idle", idle.threads))
    });
    drop(client);
    common::back_to_idle(server.addr(), &idle, "the stalled client left");
}

/// The pipeline has one buffer of `--chunk-bytes`; the loop blocks inside
/// writing it, so at a stall exactly that one buffer is queued. An odd
/// size, to show the bound is the flag's and not a size std chose.
#[test]
fn pipeline_queues_one_buffer() {
    let body = reference_csv_len(ROWS) as f64;
    for chunk in [DEFAULT_CHUNK, 100_000] {
        let (server, idle) = warmed_server(&["--chunk-bytes", &chunk.to_string()]);
        let stalled = stall(server.addr(), "pipeline");
        let bound = chunk as f64;
        assert_eq!(peak(&stalled.metrics, "pipeline"), bound, "chunk={chunk}");
        assert_eq!(stalled.queued, bound, "chunk={chunk}");
        assert!(
            stalled.queued + stalled.sent < body,
            "the reader stopped early"
        );
        // The one buffer, on the heap, and no chunk allocations.
        let heap_growth = live_heap(&stalled.metrics) - idle.heap_bytes;
        assert!(
            heap_growth >= bound && heap_growth < bound + HEAP_SLACK_BYTES,
            "heap grew by {heap_growth} bytes for a {bound}-byte buffer"
        );
        disconnect_and_expect_idle(server.addr(), stalled, "pipeline", &idle);
    }
}

/// A client that accepts nothing for `--send-timeout` is given up on: its
/// threads and queue are freed, the abort is counted, and what it did
/// receive is a chunked body without its last chunk, so it can tell the
/// export is incomplete.
#[test]
fn a_client_that_stops_reading_is_cut_at_the_send_timeout() {
    let (server, idle) = warmed_server(&["--send-timeout", "1s"]);
    let addr = server.addr();
    let started = Instant::now();
    let mut client = stalled_request(addr, &format!("/export.csv?rows={ROWS}&mode=bounded"));

    let m = wait_until(
        "the server to give up on the stalled client",
        SETTLE_TIMEOUT,
        || {
            let m = metrics(addr);
            let aborted = m.aborts("bounded", "send-timeout") == 1.0;
            (aborted && Idle::of(&m).back_at(&idle)).then_some(m)
        },
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "cut after only {waited:?}"
    );
    assert_eq!(
        m.value(&series("backpressure_queued_bytes", "bounded")),
        0.0
    );

    // What was in flight, then the end: well-formed chunks, cut short.
    let mut wire = Vec::new();
    let _ = client.read_to_end(&mut wire);
    let response = common::parse_response(&wire);
    match common::decode_chunked(&response.body) {
        Err(ChunkError::Truncated { .. } | ChunkError::NoFinalChunk { .. }) => {}
        other => panic!("expected a chunked body cut short, got {other:?}"),
    }
}

/// The send timeout bounds a write that makes no progress, not the whole
/// body: a client that pauses for less than the timeout between reads gets
/// everything, however long the download takes in total.
#[test]
fn a_slow_client_that_keeps_reading_is_never_cut() {
    // Each pause, and the stall below (five scrapes, which a loaded
    // two-core machine can stretch to most of a second), must stay well
    // inside it; the whole download, well past it.
    const SEND_TIMEOUT: Duration = Duration::from_secs(2);
    let depth = DEFAULT_DEPTH;
    let timeout = format!("{}s", SEND_TIMEOUT.as_secs());
    let server = Server::start(&["--send-timeout", &timeout]);
    let rows = 200_000; // about 11 MB: several times what socket buffers hold
    let target = format!("/export.csv?rows={rows}&mode=bounded");
    let mut client = stalled_request(server.addr(), &target);
    let started = Instant::now();

    // Read nothing at first, until the server blocks on us: a queue full
    // for five polls in a row means its writer is stuck in a write, with
    // the timeout armed.
    let bound = ((depth + 2) * DEFAULT_CHUNK) as f64;
    let mut full_polls = 0;
    wait_until("the server to block on us", SETTLE_TIMEOUT, || {
        let queued = metrics(server.addr()).value(&series("backpressure_queued_bytes", "bounded"));
        full_polls = if queued == bound { full_polls + 1 } else { 0 };
        (full_polls == 5).then_some(())
    });

    // Then 1 MB at a time with 300 ms pauses: never long without
    // progress, but about 3 s of pauses in all.
    let mut wire = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    'download: loop {
        assert!(
            started.elapsed() < SETTLE_TIMEOUT,
            "the slow download did not finish"
        );
        let burst_end = wire.len() + 1024 * 1024;
        while wire.len() < burst_end {
            match client.read(&mut buf).expect("the server keeps sending") {
                0 => break 'download,
                n => wire.extend_from_slice(&buf[..n]),
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let took = started.elapsed();
    assert!(
        took > SEND_TIMEOUT,
        "the download took {took:?}, not longer than the {SEND_TIMEOUT:?} timeout"
    );
    let response = common::parse_response(&wire);
    common::assert_same_bytes(
        &response.body_decoded(),
        &common::reference_csv(rows),
        "the slow download",
    );
    let m = metrics(server.addr());
    for reason in ["client-abort", "send-timeout", "min-rate"] {
        assert_eq!(m.aborts("bounded", reason), 0.0, "{reason}");
    }
}

/// An access-log line is bounded, whatever a client sends, so that the
/// logger's queue of 1,024 lines is too. The one request logged before its
/// fields were checked, an HTTP/2 request refused with 431, shows its
/// `:path` with every byte that is not visible ASCII escaped as `\xHH`,
/// four bytes for one: 16,000 control bytes in a `:path` would make a
/// 64 KiB line. The request field is cut (`MAX_LOGGED_REQUEST_BYTES`,
/// 8 KiB, `measure/access_log.rs`), visibly, and the fields
/// after it stay.
#[test]
fn a_client_cannot_make_an_access_log_line_longer_than_its_bound() {
    use common::h2::{CONTINUATION, END_HEADERS, END_STREAM, H2, HEADERS, header_block};
    const MAX_LINE_BYTES: usize = 9 * 1024;
    let server = Server::start_logged(&[]);
    let mut h2 = H2::connect(server.addr(), &[]);
    let path = format!("/{}", "\x01".repeat(16_000));
    let padding = "a".repeat(2_000);
    // Over the 16 KiB header list (the padding field is dropped): a 431.
    let block = header_block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", &path),
        ("x-padding", &padding),
    ]);
    let (first, rest) = block.split_at(16_000);
    h2.send_frame(HEADERS, END_STREAM, 1, first);
    h2.send_frame(CONTINUATION, END_HEADERS, 1, rest);
    let line = server.log_line("the 431's access-log line", |l| l.contains("GET /"));
    assert!(
        line.len() <= MAX_LINE_BYTES,
        "a log line of {} bytes, over {MAX_LINE_BYTES}",
        line.len()
    );
    let tail = &line[line.len().saturating_sub(120)..];
    assert!(tail.contains("\\x01[cut]\" 431 mode=- "), "{tail}");
    assert!(tail.ends_with(" end=complete"), "{tail}");
    assert!(line.contains("\"GET /\\x01\\x01"), "{}", &line[..120]);
}
