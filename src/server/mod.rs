//! The server: a blocking accept loop that gives each connection a thread
//! of its own.
//!
//! | file             | what                                                        |
//! |------------------|-------------------------------------------------------------|
//! | `mod.rs`         | [`Server`]: bind, the accept loop, a panic kept to its thread |
//! | [`config`]       | [`ServerConfig`]: every default and every bound              |
//! | [`envelope`]     | the most memory the caps let it hold; the warning when a limit has less room |
//! | `connection.rs`  | one connection from accept to close, and its access-log line |
//! | `graceful_close.rs` | a close that lets the last bytes land before a reset   |
//! | `routes.rs`      | what each path answers; the export wired to its strategy     |
//! | `accept_backoff.rs` | a failing `accept` (out of descriptors) pauses, logs once, recovers |
//! | [`shutdown`]     | SIGTERM, SIGINT or SIGHUP: stop accepting, drain, cut what is left, join |
//! | `h2/`            | HTTP/2 on the same port: streams, two windows, one writer     |
//!
//! Thread-per-connection is the simplest server that can block: a slow
//! client blocks only its own thread, and a blocked `write` is exactly the
//! backpressure the lesson is about. It costs a thread (two, while a channel
//! strategy streams) per open HTTP/1 connection, however idle, and more per
//! HTTP/2 connection (a writer, and a thread per stream answered, 16 at a
//! time: see `h2/`), which is why every wait has a deadline and why
//! production servers use an async runtime.

mod accept_backoff;
pub mod config;
mod connection;
pub mod envelope;
mod graceful_close;
mod h2;
mod routes;
pub mod shutdown;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use accept_backoff::descriptor_warning;
pub use config::ServerConfig;
pub use graceful_close::CLOSE_READ_TIMEOUT;
pub use h2::MAX_STREAM_THREADS;
pub use shutdown::ShutdownSummary;

use accept_backoff::{AcceptBackoff, is_exhaustion};
use shutdown::Connections;

use crate::defense::buffer_caps::BufferBudget;
use crate::defense::cap_answer::{OwnEndpoints, Refusal};
use crate::defense::connection_cap::Rejecter;
use crate::measure::access_log::{AccessRecord, End, Outcome};
use crate::measure::log;
use crate::measure::metrics::METRICS;
use crate::sys;

/// Stack of a connection thread. It holds the frames of one request (the
/// body's buffers are on the heap, and so is the head, see
/// [`read_head`](crate::defense::head_deadline::read_head)); 256 KiB
/// leaves room for unoptimised builds. (The default 2 MiB only reserves
/// address space, but a stated size keeps the per-connection cost
/// explicit.)
const CONNECTION_STACK_BYTES: usize = 256 * 1024;

/// How often a blocked `accept` wakes to look for a shutdown request: the
/// most a shutdown waits to begin. New connections are accepted at once
/// whatever this is.
const ACCEPT_WAKE: Duration = Duration::from_millis(100);

/// Connections the kernel holds, handshake done, until the accept loop
/// takes them: 1,024, as many as the rejecter lets linger
/// ([`MAX_LINGERING`](crate::defense::connection_cap::MAX_LINGERING)).
/// Past std's 128 the kernel drops a burst's new SYNs, and each such
/// client waits a second for its retry. The kernel caps it at
/// `net.core.somaxconn`; nginx listens with 511, Go with `somaxconn`.
const LISTEN_BACKLOG: u32 = 1024;

/// What every connection thread shares, read-only or atomic.
#[derive(Debug)]
struct Shared {
    /// Every limit and default; checked by [`ServerConfig::validate`].
    config: ServerConfig,
    /// The `--max-buffered-total` budget every capped response draws on;
    /// a response's producer thread holds it too.
    budget: Arc<BufferBudget>,
    /// The sockets being served, for the shutdown's drain and cut.
    connections: Connections,
}

/// A bound listening socket, ready to [`run`](Server::run).
pub struct Server {
    /// The bound socket new connections are accepted from; closed when a
    /// shutdown begins, so that new connections are refused.
    listener: TcpListener,
    /// Shared by every connection thread.
    shared: Arc<Shared>,
    /// Answers connections past the cap with 503, off the accept loop.
    rejecter: Rejecter,
}

impl Server {
    /// Validates `config`, binds its address and starts the thread that
    /// answers turned-away connections with 503.
    pub fn bind(config: ServerConfig) -> io::Result<Server> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(config.addr)?;
        if let Some(bytes) = config.notsent_lowat {
            // Each connection sets it again (`connection.rs`); setting it
            // here checks, once, that the kernel takes it, so a kernel that
            // refuses is told at start rather than ignored on every
            // connection.
            sys::set_notsent_lowat(&listener, bytes).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("--notsent-lowat: the kernel refused it: {e}"),
                )
            })?;
        }
        sys::set_accept_timeout(&listener, ACCEPT_WAKE)?;
        sys::set_listen_backlog(&listener, LISTEN_BACKLOG)?;
        sys::note_listener(listener.local_addr()?.port());
        let quiet = config.quiet;
        let shared = Arc::new(Shared {
            budget: Arc::new(BufferBudget::new(config.max_buffered_total)),
            connections: Connections::with_capacity(config.max_connections),
            config,
        });
        let for_rejecter = Arc::clone(&shared);
        let own: Arc<OwnEndpoints> =
            Arc::new(move |request| routes::own_endpoint(request, &for_rejecter));
        Ok(Server {
            listener,
            rejecter: Rejecter::start(quiet, own)?,
            shared,
        })
    }

    /// The address actually bound (the real port, if port 0 was asked for).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections, one thread each, up to `--max-connections`;
    /// past that, and whenever a thread cannot be started, the client gets
    /// a 503 from the [`Rejecter`] (or, for `/metrics` and `/healthz`, their
    /// answer). Nothing a client does can block this loop or end it. Once
    /// `stop` returns true (it is asked between connections and at least
    /// every [`ACCEPT_WAKE`]), shuts down as [`shutdown`] describes and
    /// returns what that came to.
    pub fn run(self, stop: impl Fn() -> bool) -> ShutdownSummary {
        let Server {
            listener,
            shared,
            rejecter,
        } = self;
        // Every connection thread not yet joined, in room taken once for
        // as many as may be served and as many closing: serving allocates
        // nothing here.
        let most = shared.config.max_connections + shared.config.max_closing();
        let mut threads: Vec<JoinHandle<()>> = Vec::with_capacity(most);
        let mut backoff = AcceptBackoff::default();
        let mut next_id: u64 = 0;
        while !stop() {
            join_finished(&mut threads);
            let (stream, peer) = match listener.accept() {
                Ok(accepted) => {
                    backoff.succeeded();
                    accepted
                }
                // The wake-up: time to look at `stop`.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if is_exhaustion(&e) => {
                    sleep_unless(backoff.failed(&e), &stop);
                    continue;
                }
                // A connection its client reset before it was taken, one's own
                // network error (accept(2): retry at once), or a signal.
                Err(_) => continue,
            };
            // The head deadline starts now, not at the first byte, so a
            // client that connects and sends nothing is timed out too.
            let accepted_at = Instant::now();
            sys::note_connection(&stream);
            // Only this loop opens connections, so the count cannot grow
            // between this check and the guard below.
            if METRICS.connections_active() >= shared.config.max_connections as u64 {
                rejecter.reject(stream, peer, Refusal::AtCap);
                continue;
            }
            next_id = next_id.wrapping_add(1);
            make_room(&mut threads);
            match serve(stream, peer, accepted_at, next_id, &shared) {
                Ok(thread) => threads.push(thread),
                Err(Some(stream)) => rejecter.reject(stream, peer, Refusal::NoThread),
                Err(None) => {}
            }
        }
        shut_down(listener, &shared, threads, rejecter)
    }
}

/// The shutdown, once the accept loop has stopped: closes the listener,
/// lets open connections drain for `--drain-timeout` and cuts the rest,
/// joins every connection thread and then the rejecter.
fn shut_down(
    listener: TcpListener,
    shared: &Shared,
    threads: Vec<JoinHandle<()>>,
    rejecter: Rejecter,
) -> ShutdownSummary {
    let began = Instant::now();
    // New connections are refused from here on.
    drop(listener);
    let open = shared.connections.open();
    log::line(format!(
        "backpressure: shutting down: no new connections; {open} open, draining for up to {} ms \
         (a second signal, {} ms or more after the first, exits at once)",
        shared.config.drain_timeout.as_millis(),
        crate::sys::repeated_signal::SAME_REQUEST.as_millis()
    ));
    let cut = shared
        .connections
        .drain(began + shared.config.drain_timeout);
    for thread in threads {
        // A thread that panicked was counted and logged already.
        let _ = thread.join();
    }
    rejecter.stop();
    ShutdownSummary {
        ended: open.saturating_sub(cut),
        cut,
        took: began.elapsed(),
        drain_timeout: shared.config.drain_timeout,
    }
}

/// Starts the thread that serves `stream`; gives the stream back if no
/// thread can be started, so that the client can still be answered 503.
fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    accepted_at: Instant,
    id: u64,
    shared: &Arc<Shared>,
) -> Result<JoinHandle<()>, Option<TcpStream>> {
    // Counted here rather than in the thread, so the accept loop's next
    // check already sees it; the guard travels into the thread.
    let open = METRICS.connection_opened();
    // One socket, two owners: the thread, and the list a shutdown cuts
    // from. It closes when both have let go, after the thread has left.
    let stream = Arc::new(stream);
    shared.connections.enter(id, Arc::clone(&stream));
    let (socket, shared_here) = (Arc::clone(&stream), Arc::clone(shared));
    let spawned = start(format!("conn-{id}"), move || {
        let shared = shared_here;
        // Given back early by a close that waits for its client, else
        // only once the connection has left the list below: the list has
        // room for one entry per slot, no more.
        let mut slot = Some(open);
        let work = || connection::handle(&socket, peer, &shared, accepted_at, id, &mut slot);
        if !run_isolated(&socket, work) && !shared.config.quiet {
            // The connection's own line was never written.
            AccessRecord {
                peer,
                request_line: None,
                duration: accepted_at.elapsed(),
                outcome: Outcome::ended(End::Panic),
            }
            .write();
        }
        // Most connections have left already, as their close began.
        shared.connections.leave(id);
        // The slot goes back before this handle on the socket is dropped,
        // and the list has let go of its own: a close that did not wait for
        // its client to hang up (`close_gracefully` in `graceful_close.rs`)
        // leaves its FIN to the socket's last drop, so a client that
        // connects again the moment it sees that FIN finds the slot free.
        drop(slot);
        drop(socket);
    });
    spawned.map_err(|e| {
        log::line(format!(
            "backpressure: cannot start a connection thread: {e}"
        ));
        // The closure, and its handle on the socket, went with the error.
        shared.connections.leave(id);
        // Both other handles are gone now, so this is the only one.
        Arc::try_unwrap(stream).ok()
    })
}

/// Whether a thread of this server's, by the name it was given, serves a
/// connection: a connection's own (`conn-ID`, here; an HTTP/2
/// connection's reader too), an HTTP/2 writer's or stream's (`h2-...`,
/// `h2/connection.rs`), a producer's (`strategy/producer.rs`). What is
/// left when none is alive is the server at rest, which the tests and
/// benchmarks that look from outside (`/proc/PID/task/*/comm`) wait for.
pub fn serves_a_connection(thread_name: &str) -> bool {
    thread_name.starts_with("conn-") || thread_name.starts_with("h2-") || thread_name == "producer"
}

/// Starts a connection thread running `f`; an error when the OS has no
/// thread to give (RLIMIT_NPROC, or no memory for its stack). Unit tests
/// make it fail at will (`test_support::with_failing_spawns`).
fn start(name: String, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    #[cfg(test)]
    if crate::test_support::spawn_fails() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    thread::Builder::new()
        .name(name)
        .stack_size(CONNECTION_STACK_BYTES)
        .spawn(f)
}

/// Joins the connection threads that have finished, so that their stacks
/// are freed now and the list stays as long as the connections served.
fn join_finished(threads: &mut Vec<JoinHandle<()>>) {
    let mut i = 0;
    while i < threads.len() {
        if threads[i].is_finished() {
            let _ = threads.swap_remove(i).join();
        } else {
            i += 1;
        }
    }
}

/// Makes room in `threads` for one more without growing it. Full means a
/// thread has given its connection slot back (the cap let this connection
/// in) and its closing place too, and is only exiting: it is joined within
/// moments.
fn make_room(threads: &mut Vec<JoinHandle<()>>) {
    while threads.len() == threads.capacity() {
        join_finished(threads);
        if threads.len() == threads.capacity() {
            thread::yield_now();
        }
    }
}

/// Sleeps for `pause`, in steps of at most [`ACCEPT_WAKE`], unless `stop`
/// turns true first.
fn sleep_unless(pause: Duration, stop: &impl Fn() -> bool) {
    let until = Instant::now() + pause;
    while !stop() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        thread::sleep(left.min(ACCEPT_WAKE));
    }
}

/// Runs one connection's work on `socket` so that a panic in it ends only
/// that connection: caught at the thread boundary, counted in
/// `backpressure_panics_total`, and logged (the panic hook has already
/// printed the message and location). Returns whether `work` completed.
///
/// The panic may have cut a response mid-body, so the socket is closed
/// with a reset, as every cut response is: a FIN would end an HTTP/1.0
/// body as if it were whole. Unwinding drops the connection's buffers on
/// the way out, and nothing it shares with other threads is left
/// half-updated: the metrics are atomics, and the guards (open connections,
/// queued bytes) give back their counts in `Drop`, which runs during
/// unwinding too.
pub fn run_isolated(socket: &TcpStream, work: impl FnOnce()) -> bool {
    match panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(()) => true,
        Err(_) => {
            METRICS.panicked();
            let _ = sys::reset_on_close(socket);
            log::line("backpressure: a connection thread panicked; its connection was reset");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::http::h2::frame::PREFACE;
    use crate::measure::exposition::Scrape;
    use crate::measure::metrics::{Metrics, Readings};

    /// What the accept loop relies on to look for a shutdown: `sys.rs`'s
    /// accept timeout wakes a blocked `accept`.
    #[test]
    fn an_accept_timeout_wakes_the_accept() {
        crate::test_support::within(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            sys::set_accept_timeout(&listener, Duration::from_millis(50)).unwrap();
            let started = Instant::now();
            let error = listener.accept().unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
            assert!(started.elapsed() < Duration::from_secs(5));
        });
    }

    /// Connects to `addr`, sends `request` and reads until the server
    /// closes (at most 10 s); returns what it read, and the client's
    /// address, which the server's log names.
    fn ask(addr: SocketAddr, request: &[u8]) -> io::Result<(Vec<u8>, SocketAddr)> {
        let mut client = TcpStream::connect(addr)?;
        client.set_read_timeout(Some(Duration::from_secs(10)))?;
        client.write_all(request)?;
        let mut got = Vec::new();
        client.read_to_end(&mut got)?;
        Ok((got, client.local_addr()?))
    }

    /// A connection below the cap that no thread can be started for is
    /// turned away by the rejecter, and its answer names that cause, not
    /// the connection limit: the 503's reason, and the length its head
    /// gives, over HTTP/1.1; the GOAWAY's debug data over HTTP/2; byte for
    /// byte, through the real accept loop. The log says it too: a line for
    /// each thread that could not start, and each connection's access-log
    /// line, the 503's `body_bytes` that same length.
    #[test]
    fn a_connection_no_thread_can_start_for_is_told_why() {
        crate::test_support::within(|| {
            let _counting = crate::test_support::counting_rejections();
            let config = ServerConfig {
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                quiet: false,
                ..ServerConfig::default()
            };
            let server = Server::bind(config).unwrap();
            let addr = server.local_addr().unwrap();
            let done = Arc::new(AtomicBool::new(false));
            let asked = Arc::clone(&done);
            let clients = thread::spawn(move || {
                let http1 = ask(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
                let http2 = ask(addr, PREFACE);
                asked.store(true, Ordering::SeqCst);
                (http1.unwrap(), http2.unwrap())
            });
            let ((), log) = log::capture(|| {
                let run = || server.run(|| done.load(Ordering::SeqCst));
                crate::test_support::with_failing_spawns(run);
            });
            let ((http1, http1_peer), (http2, http2_peer)) = clients.join().unwrap();

            let reason = b"server cannot start a thread for this connection; retry in 1 s";
            let text = String::from_utf8_lossy(&http1);
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 503 "), "{text}");
            assert!(head.contains("\r\nRetry-After: 1\r\n"), "{text}");
            // Its own length: the cap's reason is shorter, and a client that
            // trusts the head would lose the end of this one.
            let length = format!("\r\nContent-Length: {}\r\n", reason.len() + 1);
            assert!(head.contains(&length), "{text}");
            assert_eq!(body.as_bytes(), [&reason[..], b"\n"].concat(), "{text}");
            // An empty SETTINGS, then GOAWAY: last stream 0, REFUSED_STREAM.
            let mut expected = vec![0, 0, 0, 4, 0, 0, 0, 0, 0];
            expected.extend_from_slice(&[0, 0, 8 + reason.len() as u8, 7, 0, 0, 0, 0, 0]);
            expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
            expected.extend_from_slice(reason);
            assert_eq!(http2, expected, "{:?}", String::from_utf8_lossy(&http2));

            let cannot = "backpressure: cannot start a connection thread: operation would block";
            let cannot: Vec<&String> = log.iter().filter(|l| l.starts_with(cannot)).collect();
            assert_eq!(cannot.len(), 2, "{log:#?}");
            for (peer, fields) in [
                (
                    http1_peer,
                    format!(
                        " \"GET / HTTP/1.1\" 503 mode=- body_bytes={} ",
                        reason.len() + 1
                    ),
                ),
                (http2_peer, " - - mode=- body_bytes=0 ".to_string()),
            ] {
                let peer = format!("{peer} ");
                let lines: Vec<&String> = log.iter().filter(|l| l.starts_with(&peer)).collect();
                assert_eq!(lines.len(), 1, "{peer}: {log:#?}");
                assert!(lines[0].contains(&fields), "{}", lines[0]);
                assert!(lines[0].ends_with(" end=rejected"), "{}", lines[0]);
            }
        });
    }

    /// The shutdown joins the rejecter last: once `run` returns, every
    /// connection it turned away has been answered and closed, none is
    /// left for the exit to close silent. No thread can start, so every
    /// connection is turned away (a cap of one would share the
    /// process-wide count of connections with every other test, and turn
    /// away the connection meant to hold it); clients that send nothing.
    /// Right after the stop, every one has the whole 503 and its end; none
    /// is still waiting. The rejecter is held from the first socket it
    /// takes until its `stop` lets it go (`test_support::hold_rejecter`),
    /// so none is answered before: a `run` that dropped it unjoined would
    /// return with none of them written, and fail this every time, not
    /// only when the rejecter happens to be slower than the test. So a few
    /// clients are enough: more than one, for a stop that answered only
    /// some.
    #[test]
    fn once_run_returns_every_turned_away_connection_is_answered() {
        const SILENT_CLIENTS: usize = 30;
        let _counting = crate::test_support::counting_rejections();
        let config = ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            quiet: true,
            ..ServerConfig::default()
        };
        let server = Server::bind(config).unwrap();
        let _held = crate::test_support::hold_rejecter();
        let addr = server.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let (waker, answers) = crate::test_support::within(move || {
            let run = move || server.run(|| stopping.load(Ordering::SeqCst));
            // Its line for each thread that cannot start, kept off stderr.
            let failing = || crate::test_support::with_failing_spawns(run);
            let serving = thread::spawn(|| log::capture(failing));
            let clients: Vec<TcpStream> = (0..SILENT_CLIENTS)
                .map(|_| TcpStream::connect(addr).unwrap())
                .collect();
            // Every one accepted, and so handed on: none waits in the
            // listener's queue.
            let queued = || {
                let table = crate::measure::proc_net::read_tcp_table().unwrap();
                let listener = table.iter().find(|s| s.local == addr && s.state == 0x0A);
                listener.expect("the listener").rx_queue
            };
            for _ in 0..10_000 {
                if queued() == 0 {
                    break;
                }
                thread::sleep(Duration::from_millis(1));
            }
            stop.store(true, Ordering::SeqCst);
            // One more wakes the accept loop to see the stop at once.
            let waker = TcpStream::connect(addr).unwrap();
            serving.join().unwrap();
            // At once, the last turned away first: whatever the stop owed
            // them has been sent.
            let answer = |client: &TcpStream| {
                client.set_nonblocking(true).unwrap();
                let mut got = Vec::new();
                (&*client).read_to_end(&mut got).map(|_| got)
            };
            let waker = answer(&waker);
            (waker, clients.iter().rev().map(answer).collect::<Vec<_>>())
        });
        let reason = b"server cannot start a thread for this connection; retry in 1 s\n";
        let answered = |got: &[u8]| got.starts_with(b"HTTP/1.1 503 ") && got.ends_with(reason);
        // The waker may come after the loop's own wake saw the stop, and
        // never be accepted: then the closed listener resets it.
        match waker {
            Ok(got) if answered(&got) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            other => panic!("the waker: {other:?}"),
        }
        for answer in answers {
            match answer {
                Ok(got) if answered(&got) => {}
                other => panic!("{other:?}"),
            }
        }
    }

    /// `backpressure_panics_total` now: exact while `counting_panics` is
    /// held.
    fn panics() -> u64 {
        let text = METRICS.render(&Readings::default());
        let scrape = Scrape::parse(&text).unwrap();
        scrape.count("backpressure_panics_total").unwrap()
    }

    /// The process-wide counter moves by exactly one: the panics of other
    /// tests wait for `counting_panics`. The panic comes in the middle of
    /// an HTTP/1.0 body, which only its connection's close ends: the client
    /// must see a reset, never a clean end. The connection's slot, held
    /// inside the work as `connection::handle` may hold it, goes back as
    /// the panic unwinds; it is counted in metrics of the test's own, as
    /// the process-wide gauge moves with every other test's connections.
    /// (Over HTTP/2, where a panic may come in any of a connection's
    /// threads, `h2/mod.rs` tests it whole.)
    #[test]
    fn a_panic_is_caught_counted_and_cleaned_up() {
        crate::test_support::within(|| {
            let _counting = crate::test_support::counting_panics();
            let own: &'static Metrics = Box::leak(Box::new(Metrics::new()));
            let panics_before = panics();
            let (socket, mut client) = crate::test_support::loopback();
            let finished = thread::spawn(move || {
                run_isolated(&socket, || {
                    let _open = own.connection_opened();
                    let _ = io::Write::write_all(&mut &socket, b"HTTP/1.0 200 OK\r\n\r\nhalf a bo");
                    panic!("a deliberate test panic")
                })
            })
            .join()
            .expect("the panic must not escape the thread");
            assert!(!finished);
            assert_eq!(panics(), panics_before + 1);
            assert_eq!(own.connections_active(), 0, "the slot went back");
            let mut received = Vec::new();
            let end = io::Read::read_to_end(&mut client, &mut received);
            assert_eq!(
                end.map_err(|e| e.kind()),
                Err(io::ErrorKind::ConnectionReset),
                "after {:?}",
                String::from_utf8_lossy(&received)
            );
            assert!(run_isolated(&client, || {}));
            assert_eq!(panics(), panics_before + 1, "a clean run counts nothing");
        });
    }

    /// A download the shutdown's cut ends is counted as the cut's in
    /// `backpressure_aborts_total`, not only logged so: the count is taken
    /// inside the export (`routes::run_export`), before the connection's
    /// thread names its log line (`connection.rs`, `drain_timeout_if_cut`),
    /// so the export must ask itself whether the cut reached its connection.
    #[test]
    fn a_download_the_cut_ends_is_counted_the_cuts_abort() {
        let aborts = || {
            let text = METRICS.render(&Readings::default());
            let scrape = Scrape::parse(&text).unwrap();
            let series = "backpressure_aborts_total{mode=\"pipeline\",reason=\"drain-timeout\"}";
            scrape.count(series).unwrap_or(0)
        };
        let config = ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            quiet: true,
            drain_timeout: Duration::ZERO,
            ..ServerConfig::default()
        };
        let server = Server::bind(config).unwrap();
        let addr = server.local_addr().unwrap();
        let before = aborts();
        let stop = AtomicBool::new(false);
        let summary = crate::test_support::within(move || {
            std::thread::scope(|scope| {
                let serving = scope.spawn(|| server.run(|| stop.load(Ordering::SeqCst)));
                let timeout = Duration::from_secs(5);
                let mut client = sys::connect_with_receive_buffer(addr, 4096, timeout).unwrap();
                let request =
                    "GET /export.csv?rows=1000000&mode=pipeline HTTP/1.1\r\nHost: t\r\n\r\n";
                client.write_all(request.as_bytes()).unwrap();
                // The head has come: the body is under way, and stays so,
                // as the client reads no more of its 54 MB.
                let mut head = [0; 16];
                client.read_exact(&mut head).unwrap();
                assert_eq!(&head[..12], b"HTTP/1.1 200");
                stop.store(true, Ordering::SeqCst);
                let summary = serving.join().unwrap();
                drop(client);
                summary
            })
        });
        assert_eq!(summary.cut, 1, "{summary:?}");
        assert_eq!(aborts(), before + 1);
    }
}
