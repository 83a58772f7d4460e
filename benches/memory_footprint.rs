//! What stalled clients cost the server in resident memory, per strategy,
//! and what it keeps after they leave. Prints a table; `harness = false`.
//!
//! For each strategy and 1, 16 and 64 clients: a fresh server, warmed by
//! one small export and left to go idle; then N clients that send a GET for
//! a large export and read nothing. Once the server's queued bytes stop
//! changing, the RSS, threads, queue and live heap are recorded; then the
//! clients close (with unread data, so the kernel resets the connections)
//! and, once the server's threads are back to idle, the RSS and live heap
//! it kept.
//!
//! RSS comes from `/proc/PID/status`, queued bytes and live heap from
//! `/metrics`, and the kernel's send queues of the server's sockets from
//! `/proc/net/tcp`: kernel memory, in neither of the others, that a stalled
//! connection pins unless the server bounds it (`--notsent-lowat`).
//!
//! Why: the lesson's claim is that a stalled client costs `bounded` and
//! `pipeline` a fixed amount, and `buffer` and `unbounded` the body; this
//! is that claim in bytes, per client, with the targets for `bounded`.
//!
//! Run: `cargo bench --bench memory_footprint` (under a minute once
//! built); `cargo bench --bench memory_footprint -- bounded pipeline`
//! measures only the strategies named, `-- bounded` alone takes a few
//! seconds. `BENCH_SERVE_ARGS` passes extra flags to `serve` (see
//! `common`); criterion's flags, which `cargo bench -- FLAGS` hands every
//! benchmark, are skipped (`common/args.rs`).
//!
//! Read, one line per strategy and client count: `rows` each client asked
//! for; `idle RSS` and `stalled RSS` of the process, and `growth` between
//! them (MiB, 2^20 bytes); per client, `RSS/client` (growth ÷ clients),
//! `kern/client` (the kernel's send queue ÷ clients) and `sum/client`
//! (both: everything one stalled client makes the server hold), in KiB;
//! `queued` (body bytes produced and not sent, all clients) and `live heap`
//! at the stall; `RSS after` and `heap after` (live heap against idle, in
//! bytes) once the clients left; then the status each client got, the
//! aborts counted, and the threads while stalled. `NOT SETTLED` marks a
//! stall whose queue was still moving. Last, the `bounded` targets at 64
//! clients: `holds` or `MISSED`, or `not judged` if that stall did not
//! settle or the server was not serving every client, and the two size
//! targets `not judged` in a debug build. The exit code is 1
//! if a line could not be measured, 2 for a word or a knob it cannot read;
//! a missed target is printed, not an exit code.

mod common;

use std::fmt::Write as _;
use std::io::Read;
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use backpressure::End;

use common::args::{strategies_from_command_line, usage_error, wanted};
use common::figures::{MEMORY_TARGET_CLIENTS, rows_for};
use common::stall::{
    kernel_queue, queued, resident, stalled_clients, wait_for_stall, wait_until_idle,
};
use common::{ServerProcess, holds, kib, mib, say, serve_args_from_env, verdict};

/// Every strategy, in the order the table prints them.
const STRATEGIES: [&str; 4] = ["buffer", "unbounded", "bounded", "pipeline"];
/// Stalled clients at once, one fresh server each: per-client figures are
/// read at the largest, where the server's fixed costs weigh least.
const CLIENT_COUNTS: [usize; 3] = [1, 16, MEMORY_TARGET_CLIENTS];
/// How long a client waits for the first bytes of its answer when the
/// table reports which status each client got.
const STATUS_READ_TIMEOUT: Duration = Duration::from_millis(500);

/// Target: RSS per stalled `bounded` connection, 64 clients, defaults.
const PER_CONNECTION_TARGET_BYTES: f64 = 192.0 * 1024.0;
/// Target: RSS and the kernel's send queue together, per stalled `bounded`
/// connection: everything one slow client makes the server hold.
const HELD_PER_CONNECTION_TARGET_BYTES: f64 = 256.0 * 1024.0;
/// Target: RSS after the clients leave, beyond the RSS at the stall: they
/// leave, and nothing grows. The live heap goes back to idle exactly (the
/// next target), but glibc keeps the pages: the freed chunk buffers in its
/// arenas, and the exited threads' stacks, their touched pages resident, in
/// its cache of stacks for the next threads (`docs/benchmarks.md` reads the
/// mappings). So RSS stays near the stall's and may not go down; this is
/// its noise between two readings. A service that wants the pages back
/// bounds its arenas (`MALLOC_ARENA_MAX`) or uses another allocator.
const RSS_KEPT_BEYOND_STALL_BYTES: f64 = 512.0 * 1024.0;
/// Target: live heap after the clients leave, within this of idle. The
/// probe moves it by a few bytes (the thread answering `/metrics` is named
/// `conn-N`, and N gains digits); a leaked chunk would be kilobytes.
const HEAP_KEPT_SLACK_BYTES: f64 = 512.0;

/// One line of the table.
struct Measurement {
    /// The `mode` every client asked for.
    strategy: &'static str,
    /// How many clients stalled at once.
    clients: usize,
    /// Rows each client asked for.
    rows: u64,
    /// RSS before any client came: the baseline for growth and for what
    /// is kept.
    idle_rss: f64,
    /// Live heap at the same moment: the baseline the heap must return to.
    idle_heap: f64,
    /// RSS once the stall settled: what the OOM killer would see.
    stalled_rss: f64,
    /// Threads while stalled: one per connection, two in channel modes.
    stalled_threads: u64,
    /// Live heap while stalled: the queue plus its bookkeeping.
    stalled_heap: f64,
    /// Body bytes produced and not yet written, over all clients.
    queued: f64,
    /// The server's sockets' `tx_queue` at the stall, over all clients:
    /// written, not yet acknowledged, kernel memory outside RSS.
    kernel_queue: f64,
    /// False if the queue was still changing when `common::stall`'s
    /// `SETTLE_TIMEOUT` ran out.
    settled: bool,
    /// Clients the server was still serving at the stall (open connections
    /// less the probe's): fewer than `clients` if it refused or cut some.
    served: f64,
    /// RSS once every connection's threads are gone: what was kept.
    rss_after: f64,
    /// Live heap at that moment: proof that nothing leaked.
    heap_after: f64,
    /// The status line each client got, counted: `200 x64`, or a mix if the
    /// server refused or cut some of them.
    answers: String,
    /// `backpressure_aborts_total` for the strategy, every reason, at the end:
    /// the disconnects, and any export the buffering caps cut short.
    aborts: f64,
}

/// How this benchmark names itself on stderr.
const NAME: &str = "memory_footprint";

fn main() -> ExitCode {
    let filters = match strategies_from_command_line(NAME, &STRATEGIES) {
        Ok(filters) => filters,
        Err(code) => return code,
    };
    let args = match serve_args_from_env() {
        Ok(args) => args,
        Err(e) => return usage_error(NAME, &e),
    };
    say!(
        NAME,
        "memory_footprint: stalled clients per strategy (serve flags: {})",
        if args.is_empty() {
            "defaults".to_string()
        } else {
            args.join(" ")
        }
    );
    say!(
        NAME,
        "{:<9} {:>7} {:>9} {:>9} {:>11} {:>9} {:>10} {:>10} {:>10} {:>11} {:>11} {:>9} {:>12}  answers, aborts",
        "strategy",
        "clients",
        "rows",
        "idle RSS",
        "stalled RSS",
        "growth",
        "RSS/client",
        "kern/client",
        "sum/client",
        "queued",
        "live heap",
        "RSS after",
        "heap after"
    );
    let mut failed = false;
    let mut measurements = Vec::new();
    for strategy in STRATEGIES {
        if !wanted(&filters, strategy) {
            continue;
        }
        for clients in CLIENT_COUNTS {
            match measure(&args, strategy, clients) {
                Ok(m) => {
                    say!(NAME, "{}", table_line(&m));
                    measurements.push(m);
                }
                Err(e) => {
                    say!(NAME, "{strategy:<9} {clients:>7}  error: {e}");
                    failed = true;
                }
            }
        }
    }
    say!(NAME, "{}", targets(&measurements));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn measure(args: &[String], strategy: &'static str, clients: usize) -> Result<Measurement, String> {
    let server = ServerProcess::start(args)?;
    let addr = server.addr();
    let rows = rows_for(strategy, clients);

    common::get_small(addr, &format!("/export.csv?rows=10&mode={strategy}"))?;
    let idle = wait_until_idle(&server, None)?;

    let target = format!("/export.csv?rows={rows}&mode={strategy}");
    let mut streams = stalled_clients(addr, &target, clients)?;
    let (stalled_metrics, settled) = wait_for_stall(&server, strategy)?;
    let stalled = resident(&server)?;
    let kernel_queue = kernel_queue(addr, &streams)?;
    let answers = count_answers(&mut streams);

    drop(streams);
    let after = wait_until_idle(&server, Some(idle.threads))?;
    Ok(Measurement {
        strategy,
        clients,
        rows,
        idle_rss: idle.rss,
        idle_heap: idle.heap,
        stalled_rss: stalled.rss,
        stalled_threads: stalled.threads,
        stalled_heap: stalled_metrics.value("backpressure_heap_bytes")?,
        queued: queued(&stalled_metrics, strategy)?,
        kernel_queue,
        settled,
        served: stalled_metrics.value("backpressure_connections_active")? - 1.0,
        rss_after: after.rss,
        heap_after: after.heap,
        answers,
        aborts: End::ABORTS
            .iter()
            .map(|end| {
                after.metrics.value(&format!(
                    "backpressure_aborts_total{{mode=\"{strategy}\",reason=\"{}\"}}",
                    end.as_str()
                ))
            })
            .sum::<Result<f64, String>>()?,
    })
}

/// Reads the first bytes each client got and counts the status lines, e.g.
/// `200 x63, 503 x1`. Done after the measurements: twelve bytes per client
/// change nothing the table shows.
fn count_answers(streams: &mut [TcpStream]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for stream in streams.iter_mut() {
        let mut status = [0u8; 12]; // "HTTP/1.1 200"
        let answer = match stream
            .set_read_timeout(Some(STATUS_READ_TIMEOUT))
            .and_then(|()| stream.read_exact(&mut status))
        {
            Ok(()) => String::from_utf8_lossy(&status[9..]).into_owned(),
            Err(_) => "none".to_string(),
        };
        match counts.iter_mut().find(|(a, _)| *a == answer) {
            Some((_, n)) => *n += 1,
            None => counts.push((answer, 1)),
        }
    }
    let mut text = String::new();
    for (answer, n) in counts {
        let separator = if text.is_empty() { "" } else { ", " };
        let _ = write!(text, "{separator}{answer} x{n}");
    }
    text
}

fn table_line(m: &Measurement) -> String {
    let growth = m.stalled_rss - m.idle_rss;
    let heap_after = m.heap_after - m.idle_heap;
    let per_client = |bytes: f64| kib(bytes / m.clients as f64);
    format!(
        "{:<9} {:>7} {:>9} {:>9} {:>11} {:>9} {:>10} {:>10} {:>10} {:>11} {:>11} {:>9} {:>12}  {}, {} aborted{}  ({} threads stalled)",
        m.strategy,
        m.clients,
        m.rows,
        mib(m.idle_rss),
        mib(m.stalled_rss),
        mib(growth),
        per_client(growth),
        per_client(m.kernel_queue),
        per_client(growth + m.kernel_queue),
        mib(m.queued),
        mib(m.stalled_heap),
        mib(m.rss_after),
        format!("idle{heap_after:+.0} B"),
        m.answers,
        m.aborts,
        if m.settled { "" } else { ", NOT SETTLED" },
        m.stalled_threads,
    )
}

/// Whether the `bounded` targets hold, from its 64-client line; not judged
/// from a stall that never settled, or at which not every client was being
/// served: its figures per client would be of fewer clients than it says.
fn targets(measurements: &[Measurement]) -> String {
    let Some(m) = measurements
        .iter()
        .find(|m| m.strategy == "bounded" && m.clients == MEMORY_TARGET_CLIENTS)
    else {
        return format!("targets: no bounded/{MEMORY_TARGET_CLIENTS} measurement");
    };
    if !m.settled || m.served != m.clients as f64 {
        return format!(
            "targets (bounded, {MEMORY_TARGET_CLIENTS} stalled clients): not judged: {} of {} clients served at the stall{}",
            m.served,
            m.clients,
            if m.settled {
                ""
            } else {
                ", which never settled"
            }
        );
    }
    let growth = m.stalled_rss - m.idle_rss;
    let per_connection = growth / m.clients as f64;
    let kernel = m.kernel_queue / m.clients as f64;
    let kept = m.rss_after - m.idle_rss;
    let heap_kept = m.heap_after - m.idle_heap;
    // Whether the server let go is a fact of any build, judged in a debug
    // build too ([`holds`]); how much it held is the optimised build's
    // ([`verdict`]).
    format!(
        "targets (bounded, {MEMORY_TARGET_CLIENTS} stalled clients):\n  \
         RSS per stalled connection {} <= {}: {}\n  \
         kernel send queue per stalled connection: {}\n  \
         both, per stalled connection {} <= {}: {}\n  \
         RSS after disconnect idle + {} <= idle + the stall's {} + {}: {}\n  \
         live heap after disconnect idle {heap_kept:+.0} B (within {HEAP_KEPT_SLACK_BYTES} B): {}",
        kib(per_connection),
        kib(PER_CONNECTION_TARGET_BYTES),
        verdict(per_connection <= PER_CONNECTION_TARGET_BYTES),
        kib(kernel),
        kib(per_connection + kernel),
        kib(HELD_PER_CONNECTION_TARGET_BYTES),
        verdict(per_connection + kernel <= HELD_PER_CONNECTION_TARGET_BYTES),
        mib(kept),
        mib(growth),
        mib(RSS_KEPT_BEYOND_STALL_BYTES),
        holds(kept <= growth + RSS_KEPT_BEYOND_STALL_BYTES),
        holds(heap_kept.abs() <= HEAP_KEPT_SLACK_BYTES),
    )
}
