//! # backpressure
//!
//! A streamed HTTP response is done when its bytes drain, not when the
//! handler returns. A small, blocking, std-only HTTP/1.1 and HTTP/2 server
//! that streams a CSV export four ways and measures, exactly, what each way
//! costs in memory when the client reads slower than the server writes: the chain
//! of flow-control windows from the client back to our producer either
//! reaches all the way back, or the difference lands on the heap.
//!
//! ## Reading order
//!
//! The folders are the table of contents, and each opens with a `//!` that
//! explains its concept (`cargo doc --document-private-items` renders them).
//! Imports run one way, downwards in this list:
//!
//! | folder      | what it holds                                                   |
//! |-------------|-----------------------------------------------------------------|
//! | `cli/`      | the command line: `demo`, `serve`, `slow-client`; exit codes     |
//! | `demo/`     | the lesson's table measured: child servers, samples, report, chart |
//! | `client/`   | the phone: a rate-limited client that says how its body ended   |
//! | `server/`   | the accept loop, one connection's life, the routes, the config, HTTP/2 |
//! | `strategy/` | **the lesson**: the four strategies, their writer, queued bytes  |
//! | `defense/`  | head deadline, send deadline and minimum rate, caps             |
//! | `measure/`  | counting allocator, metrics, `/proc` readers, access log        |
//! | `http/`     | the wire format as bytes: HTTP/1.1 heads and chunks, HTTP/2 frames and HPACK |
//! | `export/`   | the CSV rows and their calendar; the names of the four modes    |
//! | `sys.rs`    | the socket options and signals std has no API for: the one FFI (`sys.rs`; C's structs in `sys/ffi.rs`) |
//!
//! ## The facade
//!
//! The binary, the integration tests and the benchmarks use only what is
//! re-exported here; everything else is private to the crate.

mod cli;
mod client;
mod defense;
mod demo;
mod export;
mod http;
mod measure;
mod server;
mod strategy;
mod sys;

// sys.rs's socket options, signals and `ioctl` are numbered as Linux's
// generic headers number them; these architectures number some otherwise,
// and the server would set the wrong options without a word. Its signal
// handlers' C structs are laid out for 64-bit x86 and Arm, which the
// 32-bit ABIs on those (x32, ILP32) are not.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "mips32r6",
        target_arch = "mips64r6",
        target_arch = "sparc",
        target_arch = "sparc64",
        all(
            target_pointer_width = "32",
            any(target_arch = "x86_64", target_arch = "aarch64")
        )
    )
))]
compile_error!("sys.rs's constants and C structs are not this Linux target's");

/// The whole command line; `main` is this and the allocator.
pub use cli::run;
/// The server's largest single write to a socket, whatever the chunk size:
/// the benchmarks' raw copy writes in pieces of it, as the server does.
pub use defense::send_deadline::MAX_WRITE_BYTES;
/// How long a socket turned away at the connection cap is kept at most,
/// for the tests that time its close.
pub use defense::turned_away::LINGER_TIME;
/// XML entities for text in an SVG: the demo's charts and the trade-off
/// benchmark's.
pub use demo::chart::escape as escape_xml;
/// A `serve` child process, killed on drop, for the tests and benchmarks.
pub use demo::child::{ChildServer, ChildStderr};
/// The export's bytes, its length, and the names of the four strategies.
pub use export::Mode;
pub use export::csv_rows::{CsvRows, body_len};
/// The request-head parser, for the tests that throw random heads at it.
pub use http::request::{HeadError, Method, Request, Version, parse_head};
/// How a response body is framed.
pub use http::response::Framing;
/// How a connection ended: the `reason` of `backpressure_aborts_total`.
pub use measure::access_log::End;
/// The counting allocator: live heap bytes and allocation calls, exactly.
pub use measure::counting_alloc::{CountingAllocator, allocations};
/// `/metrics` read back, and the table of every family it exposes.
pub use measure::exposition::Scrape;
/// Most lines the log queue holds, for the test that fills it.
pub use measure::log::LOG_QUEUE_LINES;
pub use measure::metrics::{FAMILIES, Family, Kind};
/// RSS and threads of a process, from `/proc/PID/status`; the kernel's
/// socket queues, from `/proc/net/tcp`.
pub use measure::proc_net::{TcpSocket, read_tcp_table};
pub use measure::proc_status::ProcStatus;
/// How long a finished connection's close waits for its client to hang
/// up, for the test of what it holds meanwhile.
pub use server::CLOSE_READ_TIMEOUT;
/// Most stream threads one HTTP/2 connection holds, for the benchmark that
/// counts them during a reset flood.
pub use server::MAX_STREAM_THREADS;
/// The server's default chunk size and channel depth, and the most body
/// bytes `buffer` and `unbounded` may hold together, by default.
pub use server::config::{DEFAULT_CHANNEL_DEPTH, DEFAULT_CHUNK_BYTES, DEFAULT_MAX_BUFFERED_TOTAL};
/// Which of the server's threads serve a connection, by name, for the
/// tests and benchmarks that wait for the server at rest from outside.
pub use server::serves_a_connection;
/// The body's framing and accounting over HTTP/1 ([`Http1`]), and one export sent by a strategy
/// without a socket, for the producer benchmarks and the allocation test.
pub use strategy::{BodyWriter, ExportPlan, Http1, QueuedBytes, send_to};
/// A client socket whose receive window is small from the handshake on:
/// a client that can take little until it reads, for the tests.
pub use sys::connect_with_receive_buffer;

/// Makes a socket's close a reset (SO_LINGER 0): a client that vanishes
/// without a goodbye, for the tests.
pub use sys::reset_on_close;

/// What the unit tests of several layers share. It imports nothing of the
/// crate but `measure/proc_net.rs`'s reader of `/proc/net/tcp`, for
/// `read_by_peer` and `peer_closed`: the rest any layer's tests may use,
/// those two the tests of `measure/` and the layers above it.
#[cfg(test)]
mod test_support {
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::mpsc::{self, RecvTimeoutError};
    use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
    use std::thread;
    use std::time::Duration;

    /// How long [`within`] lets a test run: each of its tests takes well
    /// under a second, and a loaded machine many times that.
    pub const HANG_LIMIT: Duration = Duration::from_secs(30);

    /// Runs `test` on a thread of its own, named as the test, and fails if
    /// it has not returned within [`HANG_LIMIT`]. For the tests of blocking
    /// machinery, whose bugs are hangs (a handshake never answered, a loop
    /// that never ends): the test fails with a reason instead of stalling
    /// the suite, and CI with it. A thread still stuck is left to the
    /// process's exit.
    pub fn within<T: Send + 'static>(test: impl FnOnce() -> T + Send + 'static) -> T {
        let (done, finished) = mpsc::channel();
        let name = thread::current().name().unwrap_or("test").to_string();
        let runner = thread::Builder::new()
            .name(name)
            .spawn(move || {
                let value = test();
                let _ = done.send(());
                value
            })
            .expect("a thread for the test");
        if let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(HANG_LIMIT) {
            panic!("still running after {HANG_LIMIT:?}: a hang");
        }
        // Returned, or panicked (the channel hung up): its panic, as is.
        runner
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Waits until `done`, 10 s at most, failing the test that waits for
    /// `what` if it never is.
    pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let started = std::time::Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(10), "never: {what}");
            thread::sleep(Duration::from_millis(1));
        }
    }

    thread_local! {
        /// How many more server threads, started on this thread, start
        /// before the rest fail, as they do when the OS has none to give
        /// (RLIMIT_NPROC is a per-user limit no test can set reliably, and
        /// root ignores it); `None`: all start.
        static SPAWNS_LEFT: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
    }

    /// Whether a server thread started now, on this thread, is to fail to
    /// start (the `start` functions of `server/mod.rs` and
    /// `server/h2/connection.rs` ask).
    pub fn spawn_fails() -> bool {
        match SPAWNS_LEFT.get() {
            None => false,
            Some(0) => true,
            Some(left) => {
                SPAWNS_LEFT.set(Some(left - 1));
                false
            }
        }
    }

    /// Runs `f` with every server thread it starts, on this thread, failing
    /// to start.
    pub fn with_failing_spawns<T>(f: impl FnOnce() -> T) -> T {
        with_spawns_failing_after(0, f)
    }

    /// Runs `f` with the server threads it starts, on this thread, failing
    /// to start once `started` have: an HTTP/2 connection's writer starts,
    /// its stream threads do not.
    pub fn with_spawns_failing_after<T>(started: u32, f: impl FnOnce() -> T) -> T {
        SPAWNS_LEFT.set(Some(started));
        let value = f();
        SPAWNS_LEFT.set(None);
        value
    }

    /// Held by every test that turns a connection away, for as long as it
    /// runs: the rejection and REFUSED_STREAM GOAWAY counters are
    /// process-wide, and a test that asserts how far they moved must see
    /// its own moves alone, not a test on another thread's.
    pub fn counting_rejections() -> MutexGuard<'static, ()> {
        static COUNTING: Mutex<()> = Mutex::new(());
        // A test that failed holding it left no state to guard.
        COUNTING.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Held by every test that makes a server thread panic, for as long as
    /// it runs: `backpressure_panics_total` is process-wide, as is the
    /// count of the GOAWAY INTERNAL_ERROR a panicking HTTP/2 connection
    /// sends, and a test that asserts how far they moved must see its own
    /// panics alone.
    pub fn counting_panics() -> MutexGuard<'static, ()> {
        static COUNTING: Mutex<()> = Mutex::new(());
        // A test that failed holding it left no state to guard.
        COUNTING.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An HTTP/2 connection's thread that a test makes panic.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum PanicIn {
        /// A stream's thread, once its body is made and before it answers
        /// (`stream::answer`).
        H2Stream,
        /// The writer, as it is about to write a DATA frame (`writer::run`).
        H2Writer,
    }

    /// The thread to panic, and the server (its bound address) whose
    /// connections it serves: other tests' servers, on other ports, never
    /// match.
    fn chosen() -> MutexGuard<'static, Option<(PanicIn, SocketAddr)>> {
        static CHOSEN: Mutex<Option<(PanicIn, SocketAddr)>> = Mutex::new(None);
        CHOSEN.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `thread`, serving a connection to the server at `server`, is
    /// to panic (`server/h2/stream.rs` asks as it answers,
    /// `server/h2/writer.rs` as it starts). Those threads are started by the connection's, not the
    /// test's, so a thread-local flag would not reach them: the choice is
    /// global, and names the server.
    pub fn panics_here(thread: PanicIn, server: Option<SocketAddr>) -> bool {
        server.is_some_and(|server| *chosen() == Some((thread, server)))
    }

    /// While held, `thread` panics on every connection to one server;
    /// it holds [`counting_panics`] too. Dropped, nothing panics.
    pub struct Panicking {
        /// Held until the choice is cleared, in `drop`.
        _counting: MutexGuard<'static, ()>,
    }

    impl Drop for Panicking {
        fn drop(&mut self) {
            *chosen() = None;
        }
    }

    /// Makes `thread` panic on the connections to the server bound at
    /// `server`, until the guard is dropped.
    pub fn panic_in(thread: PanicIn, server: SocketAddr) -> Panicking {
        let counting = counting_panics();
        *chosen() = Some((thread, server));
        Panicking {
            _counting: counting,
        }
    }

    /// A rejecter held as it takes a socket ([`hold_rejecter`]).
    struct Hold {
        /// Its lingering thread.
        rejecter: thread::ThreadId,
        /// Whether that thread has come to the hold and waits there.
        waiting: bool,
    }

    /// The rejecter held, if any: one at a time, which the tests that hold
    /// one keep to by holding [`counting_rejections`] first.
    static HELD: Mutex<Option<Hold>> = Mutex::new(None);
    /// Wakes a held rejecter once [`let_go`] has let it go, and a test
    /// once the rejecter it holds waits.
    static CHANGED: Condvar = Condvar::new();

    thread_local! {
        /// The lingering thread of the rejecter last started on this thread.
        static REJECTER: std::cell::Cell<Option<thread::ThreadId>> =
            const { std::cell::Cell::new(None) };
    }

    /// Notes the lingering thread of a rejecter started on this thread
    /// (`Rejecter::holding` tells, as a server is bound).
    pub fn rejecter_started(lingering: thread::ThreadId) {
        REJECTER.set(Some(lingering));
    }

    /// Holds the rejecter last started on this thread (by binding a
    /// server) as soon as it takes a socket from its queue, until its
    /// `stop` is about to join it or the guard is dropped: it takes no
    /// other, and answers none, until then. A rejecter as slow as can be,
    /// every time, not only when a race goes that way: a server that
    /// returns without joining it returns before a single answer is
    /// written, and its queue fills behind the socket it took.
    pub fn hold_rejecter() -> HeldRejecter {
        let rejecter = REJECTER.get().expect("a rejecter started on this thread");
        let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        // A second hold would let the first go early, and that test's wait
        // for its rejecter to hold return at once.
        assert!(
            held.is_none(),
            "one rejecter held at a time: take counting_rejections() first"
        );
        let hold = Hold {
            rejecter,
            waiting: false,
        };
        *held = Some(hold);
        HeldRejecter(rejecter)
    }

    /// Lets the held rejecter go when dropped, whatever became of the test.
    pub struct HeldRejecter(thread::ThreadId);

    impl HeldRejecter {
        /// Waits until the held rejecter has taken a socket and come to
        /// its hold; panics after [`HANG_LIMIT`].
        pub fn wait_until_holding(&self) {
            let held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
            let not_yet = |held: &mut Option<Hold>| {
                held.as_ref()
                    .is_some_and(|h| h.rejecter == self.0 && !h.waiting)
            };
            let (held, waited) = CHANGED
                .wait_timeout_while(held, HANG_LIMIT, not_yet)
                .unwrap_or_else(PoisonError::into_inner);
            drop(held);
            assert!(!waited.timed_out(), "the rejecter never came to its hold");
        }
    }

    impl Drop for HeldRejecter {
        fn drop(&mut self) {
            let_go(self.0);
        }
    }

    /// Lets the rejecter whose lingering thread is `rejecter` go, if it is
    /// held (`Rejecter::stop` calls it, before it joins that thread).
    pub fn let_go(rejecter: thread::ThreadId) {
        let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        if held.as_ref().is_some_and(|h| h.rejecter == rejecter) {
            *held = None;
            CHANGED.notify_all();
        }
    }

    /// Waits, [`HANG_LIMIT`] at most, while this lingering thread is held
    /// (`connection_cap.rs` asks as it takes a socket).
    pub fn wait_if_held() {
        let this = thread::current().id();
        let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(hold) = held.as_mut().filter(|h| h.rejecter == this) else {
            return;
        };
        hold.waiting = true;
        CHANGED.notify_all();
        let still = |held: &mut Option<Hold>| held.as_ref().is_some_and(|h| h.rejecter == this);
        let _ = CHANGED.wait_timeout_while(held, HANG_LIMIT, still);
    }

    /// Waits until the other end of `socket` has read every byte sent on
    /// it (this end's kernel holds none unacknowledged, the other's none
    /// unread), or `given_up` says it reads no more; panics if neither
    /// within [`HANG_LIMIT`]. For bytes sent in pieces that the other end
    /// must read one at a time: a pause between them is no proof, as a
    /// loaded machine can run them together.
    pub fn read_by_peer(socket: &TcpStream, given_up: impl Fn() -> bool) {
        let (Ok(here), Ok(there)) = (socket.local_addr(), socket.peer_addr()) else {
            return; // closed: nothing more will be read
        };
        let started = std::time::Instant::now();
        while !given_up() {
            assert!(
                started.elapsed() < HANG_LIMIT,
                "the peer left bytes unread for {HANG_LIMIT:?}"
            );
            let table = crate::measure::proc_net::read_tcp_table().expect("/proc/net/tcp");
            let queue = |local, remote, of: fn(&crate::TcpSocket) -> u64| {
                let found = table
                    .iter()
                    .find(|s| s.local == local && s.remote == remote);
                found.map_or(0, of)
            };
            let unacknowledged = queue(here, there, |s| s.tx_queue);
            let unread = queue(there, here, |s| s.rx_queue);
            if unacknowledged == 0 && unread == 0 {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until the other end of `socket` has closed it, panicking if it
    /// has not within [`HANG_LIMIT`]: its socket is out of the kernel's
    /// table (closed with a reset) or no longer established (`01` in
    /// `/proc/net/tcp`; its FIN may still wait behind bytes this end has
    /// not read). For a client that must read nothing until then.
    pub fn peer_closed(socket: &TcpStream) {
        const ESTABLISHED: u8 = 0x01;
        let (Ok(here), Ok(there)) = (socket.local_addr(), socket.peer_addr()) else {
            return; // closed already
        };
        let started = std::time::Instant::now();
        while started.elapsed() < HANG_LIMIT {
            let table = crate::measure::proc_net::read_tcp_table().expect("/proc/net/tcp");
            let peer = table.iter().find(|s| s.local == there && s.remote == here);
            if peer.is_none_or(|s| s.state != ESTABLISHED) {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
        panic!("the peer still connected after {HANG_LIMIT:?}");
    }

    /// A connected pair of sockets over loopback, (server, client): for the
    /// tests of every layer that writes to a socket.
    pub fn loopback() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }
}
