//! The server: a blocking accept loop that gives each connection a thread
//! of its own.
//!
//! | file             | what                                                        |
//! |------------------|-------------------------------------------------------------|
//! | `mod.rs`         | [`Server`]: bind, the accept loop, a panic kept to its thread |
//! | [`config`]       | [`ServerConfig`]: every default and every bound              |
//! | `connection.rs`  | one connection from accept to close, and its access-log line |
//! | `routes.rs`      | what each path answers; the export wired to its strategy     |
//!
//! Thread-per-connection is the simplest server that can block: a slow
//! client blocks only its own thread, and a blocked `write` is exactly the
//! backpressure the lesson is about. It costs a thread (two, while a channel
//! strategy streams) per open connection, however idle, which is why every
//! wait has a deadline and why production servers use an async runtime.

pub mod config;
mod connection;
mod routes;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use config::ServerConfig;

use crate::defense::buffer_caps::BufferBudget;
use crate::defense::connection_cap::Rejecter;
use crate::measure::access_log::{AccessRecord, End, Outcome};
use crate::measure::metrics::METRICS;
use crate::sys;

/// Stack of a connection thread. It holds the frames of one request (the
/// body's buffers are on the heap, and so is the head, see
/// [`read_head`](crate::defense::head_deadline::read_head)); 256 KiB leaves room for unoptimised builds.
/// (The default 2 MiB only reserves address space, but a stated size keeps
/// the per-connection cost explicit.)
const CONNECTION_STACK_BYTES: usize = 256 * 1024;

/// Pause after a failed `accept` (for example out of file descriptors), so
/// that the loop does not spin on an error that persists for a while.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

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
        if let Some(bytes) = config.notsent_lowat {
            // Every connection gets the option; a kernel that refuses it is
            // told here, once, rather than ignored on every connection.
            sys::set_notsent_lowat(&listener, bytes).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("--notsent-lowat: the kernel refused it: {e}"),
                )
            })?;
        }
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
                        AccessRecord {
                            peer: Some(peer),
                            request_line: None,
                            duration: accepted_at.elapsed(),
                            outcome: Outcome::ended(End::Panic),
                        }
                        .write();
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
    use crate::measure::exposition::Scrape;
    use crate::measure::metrics::Readings;

    fn panics() -> u64 {
        let text = METRICS.render(&Readings::default());
        let scrape = Scrape::parse(&text).unwrap();
        scrape.count("backpressure_panics_total").unwrap()
    }

    /// The only test of this crate that panics inside `run_isolated`, so
    /// the process-wide counter moves by exactly one.
    #[test]
    fn a_panic_is_caught_counted_and_cleaned_up() {
        let before = METRICS.connections_active();
        let panics_before = panics();
        let finished = thread::spawn(move || {
            let _open = METRICS.connection_opened();
            run_isolated(|| panic!("a deliberate test panic"))
        })
        .join()
        .expect("the panic must not escape the thread");
        assert!(!finished);
        assert_eq!(panics(), panics_before + 1);
        let after = METRICS.connections_active();
        assert_eq!(after, before, "the guard was dropped");
        assert!(run_isolated(|| {}));
        assert_eq!(panics(), panics_before + 1, "a clean run counts nothing");
    }
}
