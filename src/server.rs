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
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::connection;
use crate::csv_rows::MAX_ROWS;

/// Where `serve` listens unless told otherwise: loopback only, because this
/// is a demonstration, not a service to expose.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));

/// Default chunk size: 32 KiB. Chosen with `benches/end_to_end.rs` and
/// `benches/memory_footprint.rs` (2-core EPYC shared with compiling agents,
/// so wall-clock figures swung by 2×; server CPU time was steadier). Every
/// chunk costs a channel hand-off that wakes a thread, an allocation, a
/// chunk header and a `write` call, so fewer, larger chunks cost less:
/// for ten 53 MB exports the server used 430-560 ms of CPU with 32 KiB
/// chunks, 550-680 ms with 16 KiB (`pipeline`, writing 8 KiB at a time on one
/// thread: 350-370 ms). The limit is memory: a stalled connection holds
/// (depth + 2) chunks, plus ~45 KiB of touched thread stacks and allocator
/// overhead, and the target is ≤ 128 KiB of RSS per stalled connection.
/// Measured RSS per stalled connection (64 clients): 16 KiB × depth 4 =
/// 140 KiB (missed), 16 KiB × 2 = 109 KiB, 24 KiB × 1 = 117 KiB,
/// 32 KiB × 0 = 110 KiB, 40 KiB × 0 = 127 KiB (too close). End to end,
/// `bounded` ran at 0.6 to 1.8 × `pipeline` across repeated runs of each of
/// these: the machine's noise was larger than any difference. For
/// comparison, hyper reads bodies in up to 16 KiB pieces and Go's `io.Copy`
/// uses 32 KiB.
pub const DEFAULT_CHUNK_BYTES: usize = 32 * 1024;
/// Largest accepted `--chunk-bytes`: 16 MiB. Beyond that a "chunk" is a
/// buffer of the whole body by another name.
pub const MAX_CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// Default depth of the `bounded` channel: 0, a rendezvous: each `send`
/// waits until the writer takes the chunk, so a stalled connection holds
/// 2 × 32 KiB = 64 KiB of body. The producer renders ~4 GiB/s, several
/// times what the socket drains, so the channel is full almost all the time
/// and a slot only holds memory: while the writer writes one chunk, the
/// producer renders the next one and waits with it, which is all the
/// overlap two threads can give, and the socket's send buffer absorbs the
/// writer's hiccups. Measured (see [`DEFAULT_CHUNK_BYTES`]), depth 1 at
/// 32 KiB used as much CPU as depth 0 (430-460 ms against 430-560 ms)
/// and cost 33 KiB more per stalled connection (143 KiB, over the target).
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
/// whole body: a client trickling a byte a minute still passes. A minimum
/// data rate is the stricter rule real servers add on top.)
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest accepted `--send-timeout`.
pub const MAX_SEND_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Stack of a connection thread. It holds the 16 KiB head buffer and
/// `io::copy`'s 8 KiB buffer; 256 KiB leaves room for unoptimised builds.
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
        Ok(())
    }
}

/// A bound listening socket, ready to [`run`](Server::run).
pub struct Server {
    /// The bound socket new connections are accepted from.
    listener: TcpListener,
    /// Shared read-only by every connection thread.
    config: Arc<ServerConfig>,
}

impl Server {
    /// Validates `config` and binds its address.
    pub fn bind(config: ServerConfig) -> io::Result<Server> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(config.addr)?;
        Ok(Server {
            listener,
            config: Arc::new(config),
        })
    }

    /// The address actually bound (the real port, if port 0 was asked for).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections forever, one thread each. A thread that cannot
    /// be started costs that one connection, never the server.
    pub fn run(self) -> ! {
        let mut next_id: u64 = 0;
        loop {
            next_id = next_id.wrapping_add(1);
            let stream = match self.listener.accept() {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    eprintln!("backpressure: accept failed: {e}");
                    thread::sleep(ACCEPT_ERROR_PAUSE);
                    continue;
                }
            };
            // The head deadline starts now, not at the first byte, so a
            // client that connects and sends nothing is timed out too.
            let accepted_at = Instant::now();
            let config = Arc::clone(&self.config);
            let spawned = thread::Builder::new()
                .name(format!("conn-{next_id}"))
                .stack_size(CONNECTION_STACK_BYTES)
                .spawn(move || connection::handle(stream, &config, accepted_at));
            if let Err(e) = spawned {
                // The closure, and the stream with it, is dropped: the client
                // sees the connection close.
                eprintln!("backpressure: cannot start a connection thread: {e}");
            }
        }
    }
}
