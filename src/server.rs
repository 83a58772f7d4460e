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

/// Default chunk size: 16 KiB. Large enough that the per-chunk costs (a
/// channel send, an allocation, a chunk header, a syscall) are noise next to
/// rendering the rows, small enough that (depth + 2) chunks per stalled
/// connection stay under 100 KiB. Servers pick similar sizes: hyper reads
/// bodies in up to 16 KiB pieces, Go's `io.Copy` uses 32 KiB.
pub const DEFAULT_CHUNK_BYTES: usize = 16 * 1024;
/// Largest accepted `--chunk-bytes`: 16 MiB. Beyond that a "chunk" is a
/// buffer of the whole body by another name.
pub const MAX_CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// Default depth of the `bounded` channel: 4 chunks. Enough for the producer
/// to stay ahead through small hiccups of the writer; more only adds memory,
/// since the socket's send buffer already absorbs the larger ones.
pub const DEFAULT_CHANNEL_DEPTH: usize = 4;
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
