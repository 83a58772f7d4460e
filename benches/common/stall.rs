//! Stalled clients, and the server watched from outside while they stall:
//! its RSS and threads from `/proc/PID/status`, its queue from `/metrics`,
//! and the kernel's send queues of its sockets from `/proc/net/tcp`.
//!
//! A stalled client sends a GET for a large export and reads nothing, so
//! the server's writer blocks and whatever the strategy holds stays held.
//! The server has settled when its queued bytes stop changing.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use backpressure::read_tcp_table;

use super::{Metrics, ServerProcess, connect, get_request};

/// How often the server is looked at while waiting for it to settle.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The stall has settled when queued bytes are unchanged over this many
/// polls in a row (half a second).
pub const STABLE_POLLS: u32 = 10;
/// Longest wait for any state (idle, settled stall, back to idle).
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);

/// `clients` connections that each sent `GET target` and will read nothing
/// for as long as they are kept.
pub fn stalled_clients(
    addr: SocketAddr,
    target: &str,
    clients: usize,
) -> Result<Vec<TcpStream>, String> {
    let request = get_request(target);
    let mut streams = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut stream = connect(addr)?;
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("sending a stalled request: {e}"))?;
        streams.push(stream);
    }
    Ok(streams)
}

/// The `tx_queue` of the server's end of every client's connection, summed:
/// the kernel's send queues, from `/proc/net/tcp`. A read of it is no
/// snapshot: a line may be missed, or shown twice, while other sockets
/// come and go. So each connection counts once, and a read that misses
/// one is read again: an undercount would pass a bound it should not.
pub fn kernel_queue(server: SocketAddr, clients: &[TcpStream]) -> Result<f64, String> {
    /// Reads before giving up on finding every connection.
    const READS: usize = 5;
    let ends: Vec<SocketAddr> = clients.iter().filter_map(|c| c.local_addr().ok()).collect();
    let mut found = 0;
    for _ in 0..READS {
        let table = read_tcp_table().map_err(|e| format!("/proc/net/tcp: {e}"))?;
        let mut queues = std::collections::HashMap::new();
        for socket in table
            .iter()
            .filter(|s| s.local == server && ends.contains(&s.remote))
        {
            queues.insert(socket.remote, socket.tx_queue as f64);
        }
        found = queues.len();
        if found == clients.len() {
            return Ok(queues.values().sum());
        }
    }
    Err(format!(
        "{found} of {} connections found in /proc/net/tcp, {READS} reads \
         (a connection the server cut, as its buffer caps cut `unbounded`, is gone from it)",
        clients.len()
    ))
}

/// RSS and threads of the server process, from outside it.
pub struct Resident {
    /// `VmRSS`.
    pub rss: f64,
    /// `Threads`: tells when every connection's threads have ended.
    pub threads: u64,
}

/// The server's RSS and threads now; either missing is an error.
pub fn resident(server: &ServerProcess) -> Result<Resident, String> {
    let status = server.status()?;
    match (status.rss_bytes, status.threads) {
        (Some(rss), Some(threads)) => Ok(Resident {
            rss: rss as f64,
            threads,
        }),
        _ => Err(format!(
            "/proc/{}/status has no VmRSS or Threads",
            server.pid()
        )),
    }
}

/// The server at rest.
pub struct Idle {
    /// `VmRSS` at rest.
    pub rss: f64,
    /// Live heap at rest, from `/metrics`.
    pub heap: f64,
    /// Threads at rest: none of them serves a connection.
    pub threads: u64,
    /// The scrape that found it idle.
    pub metrics: Metrics,
}

/// Waits until only the probe's connection is open and no thread serves a
/// connection any more, the probe's own included: a connection leaves the
/// gauge a moment before its thread exits, and a probe's thread, closing
/// while its client hangs up, can outlive the scrape by more than a poll on
/// a loaded machine. The scrape is taken with no other connection's thread
/// alive, and the threads counted once its own is gone, so that the live
/// heap and the count are the server's alone, the same at every rest;
/// `threads`, if given, is what the count must then be. A thread gone from
/// `/proc` is still heap (its handle) until the accept loop joins it, at
/// that loop's next turn, which a loaded machine can put after the scrape:
/// one reading at rest can be a few KB above the next, past
/// `memory_footprint`'s 512 B heap target, so the rest counts only once
/// two readings agree.
pub fn wait_until_idle(server: &ServerProcess, threads: Option<u64>) -> Result<Idle, String> {
    let started = Instant::now();
    // Looked at without a scrape, which would start a thread of its own.
    let no_thread_serving = || -> Result<Vec<String>, String> {
        let mut serving = serving_threads(server)?;
        while !serving.is_empty() && started.elapsed() < SETTLE_TIMEOUT {
            thread::sleep(POLL_INTERVAL);
            serving = serving_threads(server)?;
        }
        Ok(serving)
    };
    let mut heap_at_rest = None;
    loop {
        let before = no_thread_serving()?;
        let metrics = server.metrics()?;
        let connections = metrics.value("backpressure_connections_active")?;
        let heap = metrics.value("backpressure_heap_bytes")?;
        let after = no_thread_serving()?;
        let resident = resident(server)?;
        let at_rest = at_rest(connections, &before, &after, threads, resident.threads);
        let previous = heap_at_rest;
        let steady = previous == Some(heap);
        heap_at_rest = at_rest.then_some(heap);
        if at_rest && steady {
            return Ok(Idle {
                rss: resident.rss,
                heap,
                threads: resident.threads,
                metrics,
            });
        }
        if started.elapsed() > SETTLE_TIMEOUT {
            return Err(format!(
                "not idle after {SETTLE_TIMEOUT:?}: {connections} connections, {} threads \
                 (at rest: {threads:?}), serving: {before:?} {after:?}, live heap {heap} B \
                 (the reading before, if at rest: {previous:?})",
                resident.threads
            ));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Whether one look at the server found it at rest ([`wait_until_idle`]):
/// `connections` open, the probe's alone; no thread serving a connection
/// (`serving_before` the scrape and `serving_after` it); and `threads`
/// counted, if `expected` says what they must be.
pub fn at_rest(
    connections: f64,
    serving_before: &[String],
    serving_after: &[String],
    expected: Option<u64>,
    threads: u64,
) -> bool {
    connections == 1.0
        && serving_before.is_empty()
        && serving_after.is_empty()
        && expected.is_none_or(|t| t == threads)
}

/// The server's threads that serve a connection, by the names it gives
/// them ([`backpressure::serves_a_connection`]).
fn serving_threads(server: &ServerProcess) -> Result<Vec<String>, String> {
    let tasks = format!("/proc/{}/task", server.pid());
    let entries = std::fs::read_dir(&tasks).map_err(|e| format!("{tasks}: {e}"))?;
    let mut serving = Vec::new();
    for entry in entries.flatten() {
        // A thread that ended since the listing has no name left to read.
        let Ok(name) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        let name = name.trim_end();
        if backpressure::serves_a_connection(name) {
            serving.push(name.to_string());
        }
    }
    Ok(serving)
}

/// `backpressure_queued_bytes` of `strategy`: bytes produced, not yet sent.
pub fn queued(metrics: &Metrics, strategy: &str) -> Result<f64, String> {
    metrics.value(&format!("backpressure_queued_bytes{{mode=\"{strategy}\"}}"))
}

/// Waits until the strategy's queued bytes have not changed for
/// [`STABLE_POLLS`] polls, and are either above zero or every connection
/// has already ended (a server that refused them all). Returns the last
/// scrape, and whether it settled before [`SETTLE_TIMEOUT`].
pub fn wait_for_stall(server: &ServerProcess, strategy: &str) -> Result<(Metrics, bool), String> {
    let started = Instant::now();
    let mut settling = Settling::default();
    loop {
        let metrics = server.metrics()?;
        let now = queued(&metrics, strategy)?;
        let all_ended = metrics.value("backpressure_connections_active")? == 1.0;
        if settling.poll(now, all_ended) {
            return Ok((metrics, true));
        }
        if started.elapsed() > SETTLE_TIMEOUT {
            return Ok((metrics, false));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// A stall's queued bytes, poll by poll ([`wait_for_stall`]).
#[derive(Default)]
pub struct Settling {
    /// The queued bytes at the last poll.
    last: Option<f64>,
    /// Polls in a row that found them unchanged.
    stable: u32,
}

impl Settling {
    /// Takes one poll's queued bytes, `now`, and whether every connection
    /// had ended by then; returns whether the stall has settled: unchanged
    /// for [`STABLE_POLLS`] polls in a row, and above zero or with every
    /// connection already ended.
    pub fn poll(&mut self, now: f64, all_ended: bool) -> bool {
        self.stable = if self.last == Some(now) {
            self.stable + 1
        } else {
            0
        };
        self.last = Some(now);
        self.stable >= STABLE_POLLS && (now > 0.0 || all_ended)
    }
}
