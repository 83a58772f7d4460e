//! The server: its configuration, and a blocking accept loop that gives each
//! connection a thread of its own.
//!
//! Thread-per-connection is the simplest server that can block: a slow
//! client blocks only its own thread, and a blocked `write` is exactly the
//! backpressure the lesson is about. What it costs is a thread (two, while
//! a channel strategy streams) for every open connection, however idle; a
//! blocking server runs out of threads long before it runs out of memory,
//! which is why the request head has a deadline and why an async runtime
//! (tokio, under hyper and axum) is what production servers use instead.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::access_log::{AccessRecord, End};
use crate::buffer_budget::BufferBudget;
use crate::connection;
use crate::csv_rows::MAX_ROWS;
use crate::metrics::METRICS;
use crate::rejecter::Rejecter;

/// Where `serve` listens unless told otherwise: loopback only, because this
/// is a demonstration, not a service to expose.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));

/// Default chunk size: 32 KiB. Chosen with `benches/end_to_end.rs` and
/// `benches/memory_footprint.rs` (2-core EPYC shared with compiling agents,
/// so wall-clock figures swung by 2×; server CPU time was steadier). Every
/// chunk costs a channel hand-off that wakes a thread, an allocation, a
/// chunk header and a `write` call, so fewer, larger chunks cost less:
/// for ten 54 MB exports the server used 430-560 ms of CPU with 32 KiB
/// chunks, 550-680 ms with 16 KiB (`pipeline`, writing 8 KiB at a time on one
/// thread: 350-370 ms). The limit is memory: a stalled connection holds
/// (depth + 2) chunks, plus about 40 KiB of touched thread stacks and allocator
/// overhead, and the target is ≤ 128 KiB of RSS per stalled connection.
/// Measured RSS per stalled connection (64 clients): 16 KiB × depth 4 =
/// 140 KiB (missed), 16 KiB × 2 = 109 KiB, 24 KiB × 1 = 117 KiB,
/// 32 KiB × 0 = 110 KiB, 40 KiB × 0 = 127 KiB (too close). Reading the
/// request head into a buffer that grows from 1 KiB, rather than a 16 KiB
/// one on the stack, later saved 10 KiB more: 32 KiB × 0 is now 101 to
/// 104 KiB (two runs). End to end, `bounded` ran at 0.6 to 1.8 × `pipeline`
/// across repeated runs of each of these on a busy machine: the noise was
/// larger than any difference (see [`DEFAULT_CHANNEL_DEPTH`] for what a
/// quiet machine showed). For
/// comparison, hyper reads bodies in up to 16 KiB pieces and Go's `io.Copy`
/// uses 32 KiB.
pub const DEFAULT_CHUNK_BYTES: usize = 32 * 1024;
/// Largest accepted `--chunk-bytes`: 16 MiB. Beyond that a "chunk" is a
/// buffer of the whole body by another name.
pub const MAX_CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// Default depth of the `bounded` channel: 0, a rendezvous: each `send`
/// waits until the writer takes the chunk, so a stalled connection holds
/// 2 × 32 KiB = 64 KiB of body, and 101 to 104 KiB of RSS in all (64
/// stalled clients, `cargo bench --bench memory_footprint -- bounded`).
///
/// Depth 1 lets the producer run one chunk ahead, and on a quiet 2-core
/// machine that made a fast download 1.5× faster: `end_to_end/bounded`
/// took 40-49 ms for 54 MB at depth 1 against 60-79 ms at depth 0, three
/// runs each, alternating. (Producer, writer and client share two cores, and
/// at a rendezvous every hand-off waits for the other thread to be
/// scheduled.) But it holds (1 + 2) × 32 KiB per stalled connection,
/// 133 KiB of RSS, over the 128 KiB this project holds itself to. Memory
/// under slow clients is the lesson, so the default is 0; a server whose
/// clients are mostly fast would pass `--channel-depth 1`.
pub const DEFAULT_CHANNEL_DEPTH: usize = 0;
/// Largest accepted `--channel-depth`.
pub const MAX_CHANNEL_DEPTH: usize = 1024;

/// Default time a client has to send a whole request head, counted from
/// accept: 10 s. Stricter than Kestrel's 30 s `RequestHeadersTimeout` and
/// Apache's 20-40 s `RequestReadTimeout header=`, because every waiting
/// connection holds a thread here.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest accepted `--header-timeout`: a head that takes minutes to send is
/// an attack, not a client.
pub const MAX_HEADER_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Default longest time one socket write may make no progress before the
/// client is given up on: 60 s, nginx's `send_timeout`. Backpressure must be
/// bounded in time as well as in space: without this, a client that stops
/// reading but keeps its connection open holds the connection's threads
/// and buffers forever. A slow client is never cut by it, only one that
/// accepts nothing at all for this long. (It bounds each write call, not the
/// whole write: a client trickling a byte a minute would pass it. The
/// minimum data rate, [`DEFAULT_MIN_RATE`], is the stricter rule on top.)
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest accepted `--send-timeout`.
pub const MAX_SEND_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Default most connections served at once: 256. A blocking server runs out
/// of threads long before it runs out of memory, so the number of
/// connections is capped like any other resource; past the cap a client gets
/// a fast `503` with `Retry-After: 1` instead of a thread. (nginx's
/// `worker_connections` defaults to 512 per worker, Apache's `MaxRequestWorkers`
/// to 256 for its threaded MPMs; an async server can afford far more.)
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Largest accepted `--max-connections`: each connection may hold two
/// threads, and a few thousand threads is where a thread-per-connection
/// server stops being sensible.
pub const MAX_MAX_CONNECTIONS: usize = 4096;

/// Default minimum response data rate: 240 bytes/s, Kestrel's
/// `MinResponseDataRate`. A write of `n` bytes must complete within
/// `max(grace, n / rate)`, however many partial writes it takes, or the
/// connection is aborted. It catches what the send timeout cannot: a client
/// that reads a few bytes now and then, so no single write ever stalls for
/// the whole timeout, yet holds its connection for hours (a slow-read
/// attack). A 200 KB/s phone is three orders of magnitude above it.
pub const DEFAULT_MIN_RATE: u64 = 240;
/// Default grace for the minimum data rate: 5 s, Kestrel's. A small write
/// gets at least this long, so a brief stall of a good client is forgiven.
pub const DEFAULT_RATE_GRACE: Duration = Duration::from_secs(5);
/// Longest accepted `--rate-grace`.
pub const MAX_RATE_GRACE: Duration = Duration::from_secs(60 * 60);

/// Default most bytes one response may hold in userland queues: 512 MiB,
/// room for the 400 MB export, so the lesson's bug can still be watched.
/// A real service would set this near its largest legitimate response, or
/// far lower and stream. `buffer` refuses a larger body before building it
/// (its size is known up front); `unbounded` is aborted once its queue
/// passes it. The flat strategies are bounded by construction and never
/// come near it.
pub const DEFAULT_MAX_BUFFERED_BYTES: u64 = 512 * 1024 * 1024;
/// Default most bytes all responses together may hold in userland queues:
/// 1 GiB. The per-response cap alone does not save the process when many
/// clients ask for big buffered bodies at once; this budget does, and it is
/// the number to size against the memory limit of the container.
pub const DEFAULT_MAX_BUFFERED_TOTAL: u64 = 1024 * 1024 * 1024;

/// Stack of a connection thread. It holds `io::copy`'s 8 KiB buffer and the
/// frames of one request (the head is on the heap, see
/// [`crate::request::read_head`]); 256 KiB leaves room for unoptimised builds.
/// (The default 2 MiB only reserves address space, but a stated size keeps
/// the per-connection cost explicit.)
const CONNECTION_STACK_BYTES: usize = 256 * 1024;

/// Pause after a failed `accept` (for example out of file descriptors), so
/// that the loop does not spin on an error that persists for a while.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Everything `serve` can be told on its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Most bytes per chunk between producer, channel and socket.
    pub chunk_bytes: usize,
    /// Chunks the `bounded` channel holds before the producer blocks.
    pub channel_depth: usize,
    /// Most rows one export may ask for (at most [`MAX_ROWS`]).
    pub max_rows: u64,
    /// Time from accept by which the whole request head must have arrived.
    pub header_timeout: Duration,
    /// Longest a single socket write may wait for the client to read.
    pub send_timeout: Duration,
    /// Connections served at once; more are answered 503 by the accept loop.
    pub max_connections: usize,
    /// Slowest a response may drain, in bytes per second, after the grace.
    pub min_rate: u64,
    /// Time every write gets, however small, before the minimum rate applies.
    pub rate_grace: Duration,
    /// Most bytes one response may queue in userland.
    pub max_buffered_bytes: u64,
    /// Most bytes all responses together may queue in userland.
    pub max_buffered_total: u64,
    /// No access log on stderr.
    pub quiet: bool,
    /// Exit when stdin reaches end-of-file: set by the demo, whose server
    /// child must not outlive it (see `src/demo/child.rs`). Read by `main`.
    pub exit_on_stdin_eof: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: DEFAULT_ADDR,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            channel_depth: DEFAULT_CHANNEL_DEPTH,
            max_rows: MAX_ROWS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            min_rate: DEFAULT_MIN_RATE,
            rate_grace: DEFAULT_RATE_GRACE,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            max_buffered_total: DEFAULT_MAX_BUFFERED_TOTAL,
            quiet: false,
            exit_on_stdin_eof: false,
        }
    }
}

impl ServerConfig {
    /// Checks every value against its documented bound; the error names the
    /// command-line flag, so it can be shown to a user as it is.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_CHUNK_BYTES).contains(&self.chunk_bytes) {
            return Err(format!("--chunk-bytes must be from 1 to {MAX_CHUNK_BYTES}"));
        }
        if self.channel_depth > MAX_CHANNEL_DEPTH {
            return Err(format!(
                "--channel-depth must be from 0 to {MAX_CHANNEL_DEPTH}"
            ));
        }
        if self.max_rows > MAX_ROWS {
            return Err(format!("--max-rows can only lower the cap of {MAX_ROWS}"));
        }
        if self.header_timeout.is_zero() || self.header_timeout > MAX_HEADER_TIMEOUT {
            return Err("--header-timeout must be from 1ms to 10m".to_string());
        }
        if self.send_timeout.is_zero() || self.send_timeout > MAX_SEND_TIMEOUT {
            return Err("--send-timeout must be from 1ms to 60m".to_string());
        }
        if !(1..=MAX_MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(format!(
                "--max-connections must be from 1 to {MAX_MAX_CONNECTIONS}"
            ));
        }
        if self.min_rate == 0 {
            return Err("--min-rate must be at least 1 byte per second".to_string());
        }
        if self.rate_grace > MAX_RATE_GRACE {
            return Err("--rate-grace must be at most 60m".to_string());
        }
        Ok(())
    }
}

/// A bound listening socket, ready to [`run`](Server::run).
pub struct Server {
    /// The bound socket new connections are accepted from.
    listener: TcpListener,
    /// Shared read-only by every connection thread.
    config: Arc<ServerConfig>,
    /// The `--max-buffered-total` budget every capped response draws on.
    budget: Arc<BufferBudget>,
    /// Answers connections past the cap with 503, off the accept loop.
    rejecter: Rejecter,
}

impl Server {
    /// Validates `config`, binds its address and starts the thread that
    /// lets turned-away connections linger.
    pub fn bind(config: ServerConfig) -> io::Result<Server> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(config.addr)?;
        Ok(Server {
            listener,
            budget: Arc::new(BufferBudget::new(config.max_buffered_total)),
            rejecter: Rejecter::start(config.quiet)?,
            config: Arc::new(config),
        })
    }

    /// The address actually bound (the real port, if port 0 was asked for).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections forever, one thread each, up to
    /// `--max-connections`; past that, and whenever a thread cannot be
    /// started, the client gets a 503 from the [`Rejecter`]. Nothing a
    /// client does can block this loop or end it.
    pub fn run(self) -> ! {
        let mut next_id: u64 = 0;
        loop {
            next_id = next_id.wrapping_add(1);
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("backpressure: accept failed: {e}");
                    thread::sleep(ACCEPT_ERROR_PAUSE);
                    continue;
                }
            };
            // The head deadline starts now, not at the first byte, so a
            // client that connects and sends nothing is timed out too.
            let accepted_at = Instant::now();
            // Only this loop opens connections, so the count cannot grow
            // between this check and the guard below.
            if METRICS.connections_active() >= self.config.max_connections as u64 {
                self.rejecter.reject(stream, peer);
                continue;
            }
            // Counted here rather than in the thread, so the next check
            // already sees it; the guard travels into the thread.
            let open = METRICS.connection_opened();
            // A second handle on the socket, so that a thread that cannot be
            // started still lets us answer 503 (the closure that owns the
            // stream is dropped with the error).
            let spare = stream.try_clone();
            let (config, budget) = (Arc::clone(&self.config), Arc::clone(&self.budget));
            let spawned = thread::Builder::new()
                .name(format!("conn-{next_id}"))
                .stack_size(CONNECTION_STACK_BYTES)
                .spawn(move || {
                    let _open = open;
                    let work = || connection::handle(stream, &config, &budget, accepted_at);
                    if !run_isolated(work) && !config.quiet {
                        // The connection's own line was never written.
                        AccessRecord::ended(Some(peer), accepted_at, End::Panic).write();
                    }
                });
            if let Err(e) = spawned {
                eprintln!("backpressure: cannot start a connection thread: {e}");
                if let Ok(spare) = spare {
                    self.rejecter.reject(spare, peer);
                }
            }
        }
    }
}

/// Runs one connection's work so that a panic in it ends only that
/// connection: caught at the thread boundary, counted in
/// `backpressure_panics_total`, and logged (the panic hook has already
/// printed the message and location). Returns whether `work` completed.
///
/// Unwinding drops the connection's socket and buffers on the way out, and
/// nothing it shares with other threads is left half-updated: the metrics
/// are atomics, and the guards (open connections, queued bytes) give back
/// their counts in `Drop`, which runs during unwinding too.
pub fn run_isolated(work: impl FnOnce()) -> bool {
    match panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(()) => true,
        Err(_) => {
            METRICS.panicked();
            eprintln!("backpressure: a connection thread panicked; its connection was closed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_counted_and_cleaned_up() {
        let before = METRICS.connections_active();
        let panics = || {
            METRICS
                .render(&BufferBudget::new(0))
                .lines()
                .find_map(|l| l.strip_prefix("backpressure_panics_total "))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap()
        };
        let panics_before = panics();
        let finished = thread::spawn(move || {
            let _open = METRICS.connection_opened();
            run_isolated(|| panic!("a deliberate test panic"))
        })
        .join()
        .expect("the panic must not escape the thread");
        assert!(!finished);
        assert!(panics() > panics_before);
        assert_eq!(
            METRICS.connections_active(),
            before,
            "the guard was dropped"
        );
        assert!(run_isolated(|| {}));
    }
}
