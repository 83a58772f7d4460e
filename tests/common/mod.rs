//! Shared support for the integration tests: a handle on a running server,
//! reading `/metrics`, and waiting for the server to reach a state; and, in
//! files of their own, what judges the server's output: a raw HTTP client
//! (`client.rs`), a strict chunked decoder (`chunked.rs`), an independent
//! reference CSV (`reference.rs`) and a raw HTTP/2 client (`h2.rs`, used
//! as `common::h2`; `benches/stream_threads.rs` compiles it in too, by
//! `#[path]`); and a seeded generator for the randomized tests (`rng.rs`).
//!
//! What judges the output is written apart from `src/` on purpose: a test
//! that checks the server against code sharing its algorithms would only
//! prove the code agrees with itself. The harness is shared with the crate
//! (the child process, reading `/metrics` back): it carries the test, and is
//! tested in `src/`.
#![allow(dead_code, unused_imports)] // each test uses its own part of this module

mod chunked;
mod client;
pub mod h2;
mod reference;
mod rng;

pub use chunked::*;
pub use client::*;
pub use reference::*;
pub use rng::Rng;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use backpressure::{ChildServer, ChildStderr, Scrape};

// ---------------------------------------------------------------------------
/// Every mode, by the name a request gives it: the one list the tests
/// iterate. Written here, not read from the crate, so that a mode the
/// server loses fails a test; `tests/export_bytes.rs`'s
/// `the_tests_list_every_mode_the_server_has` holds it to `Mode::ALL`, so
/// that a mode the server gains fails one too.
pub const MODES: [&str; 4] = ["buffer", "unbounded", "bounded", "pipeline"];

/// The modes `--channel-depth` changes: the byte-for-byte test runs these
/// at every depth, the rest at one.
pub const DEPTH_MODES: [&str; 1] = ["bounded"];

// Server process
// ---------------------------------------------------------------------------

/// A `backpressure serve` child on an ephemeral port: the library's
/// [`ChildServer`] (killed on drop, and gone when its parent is), with the
/// test-side habit of failing loudly.
pub struct Server {
    child: ChildServer,
}

impl Server {
    /// Starts the server with `--quiet` plus `extra_args`. The access log is
    /// off, so that load tests do not flood the terminal; the server's other
    /// stderr lines (a panic, say) still show.
    pub fn start(extra_args: &[&str]) -> Server {
        let mut args = vec!["--quiet"];
        args.extend_from_slice(extra_args);
        Server::spawn(&args, ChildStderr::Inherit)
    }

    /// Like [`Server::start`], with the access log on and every stderr line
    /// collected for [`Server::log_lines`].
    pub fn start_logged(extra_args: &[&str]) -> Server {
        Server::spawn(extra_args, ChildStderr::Collect)
    }

    fn spawn(args: &[&str], stderr: ChildStderr) -> Server {
        let exe = Path::new(env!("CARGO_BIN_EXE_backpressure"));
        match ChildServer::start(exe, args, stderr) {
            Ok(child) => Server { child },
            Err(e) => panic!("the server did not start with {args:?}: {e}"),
        }
    }

    /// The address the server actually bound, for clients to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.child.addr()
    }

    /// The child's process id, for tests that inspect the process from outside.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Sends the server the signal `name` (`TERM`, `STOP`, `CONT`, ...),
    /// as an operator would, with kill(1).
    pub fn signal(&self, name: &str) {
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} {pid}");
    }

    /// The server's stderr lines so far, each stamped ([`after_stamp`]
    /// reads the stamp); empty unless started with [`Server::start_logged`].
    pub fn log_lines(&self) -> Vec<String> {
        self.child.log_lines()
    }

    /// The first log line `matching`, waited for: the logger thread writes
    /// each line on its own time, after the connection it tells of is gone.
    pub fn log_line(&self, what: &str, matching: impl Fn(&str) -> bool) -> String {
        wait_until_with(what, Duration::from_secs(10), || {
            let lines = self.log_lines();
            match lines.iter().find(|l| matching(l)) {
                Some(line) => Ok(line.clone()),
                None => Err(format!("{lines:#?}")),
            }
        })
    }

    /// Threads of the server process, read from `/proc` rather than from
    /// `/metrics`, so that looking does not itself take a connection.
    pub fn threads(&self) -> u64 {
        self.status()
            .threads
            .expect("the server's /proc status has a Threads: line")
    }

    /// The server process's `/proc/PID/status`, read from outside: what
    /// its `process_*` series must agree with.
    pub fn status(&self) -> backpressure::ProcStatus {
        match self.child.status() {
            Ok(status) => status,
            Err(e) => panic!("the server's /proc status: {e}"),
        }
    }
}

/// A child process that is killed and reaped when the handle goes, even when
/// a failing test unwinds past it: no test leaves a process behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Errors mean the child has exited already.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl KillOnDrop {
    /// Waits, at most `timeout`, for the child to exit on its own.
    pub fn exit_within(&mut self, what: &str, timeout: Duration) -> std::process::ExitStatus {
        wait_until(what, timeout, || {
            self.0.try_wait().expect("waiting for the child")
        })
    }
}

/// Runs the binary with `args` and returns what it printed and its exit
/// status, killing it if it has not exited by `deadline`: a command that
/// should have failed fast must fail the test, not hang it.
pub fn run_binary(args: &[&str], deadline: Duration) -> Output {
    run_binary_with(args, &[], deadline)
}

/// For [`run_binary_with`]: a stack no address space can hold, so that
/// every thread the child starts without a stack size of its own fails to
/// start, as when the OS has no thread to give. (RLIMIT_NPROC would do it
/// for every thread, but it is per user, so no test can set it reliably.)
pub const NO_THREAD: (&str, &str) = ("RUST_MIN_STACK", "200000000000000");

/// [`run_binary`] with `env` added to the child's environment.
pub fn run_binary_with(args: &[&str], env: &[(&str, &str)], deadline: Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_backpressure"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut child = KillOnDrop(child);
    // Drain both pipes in threads, so a chatty child never blocks on a full
    // pipe while the test waits for it to exit.
    let mut stdout = child.0.stdout.take().expect("stdout is piped");
    let mut stderr = child.0.stderr.take().expect("stderr is piped");
    let out = thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut text).map(|_| text)
    });
    let err = thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut text).map(|_| text)
    });
    let status = child.exit_within(&format!("backpressure {args:?} to exit"), deadline);
    Output {
        status,
        stdout: out.join().expect("stdout thread").expect("stdout"),
        stderr: err.join().expect("stderr thread").expect("stderr"),
    }
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/// One scrape of `/metrics`, read with the crate's own [`Scrape`], whose
/// lookups fail the test with the whole scrape shown.
#[derive(Debug, Clone)]
pub struct Metrics {
    text: String,
    scrape: Scrape,
}

impl Metrics {
    /// Parses exposition text; a malformed line fails the test.
    pub fn parse(text: &str) -> Metrics {
        match Scrape::parse(text) {
            Ok(scrape) => Metrics {
                text: text.to_string(),
                scrape,
            },
            Err(e) => panic!("/metrics does not parse: {e}:\n{text}"),
        }
    }

    /// The value of a series such as `backpressure_queued_bytes{mode="bounded"}`,
    /// if present. Labels must be written in the server's order.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.scrape.get(series)
    }

    /// Like `get`, but a missing series fails the test and shows the whole scrape.
    pub fn value(&self, series: &str) -> f64 {
        self.get(series)
            .unwrap_or_else(|| panic!("metric {series} not found in:\n{}", self.text))
    }

    /// Exports in `mode` cut short for `reason`, as
    /// `backpressure_aborts_total` counts them.
    pub fn aborts(&self, mode: &str, reason: &str) -> f64 {
        self.value(&format!(
            "backpressure_aborts_total{{mode=\"{mode}\",reason=\"{reason}\"}}"
        ))
    }

    /// The scrape as received, for assertions on HELP/TYPE lines.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Scrapes `/metrics`; `None` if the server turned the scrape away. At the
/// connection cap the rejecter answers a scrape whose head it can read at
/// once; one that it cannot gets the 503.
pub fn try_metrics(addr: SocketAddr) -> Option<Metrics> {
    let response = get(addr, "/metrics");
    (response.status == 200).then(|| Metrics::parse(&response.body_text()))
}

/// Scrapes `/metrics` and parses it, failing the test if the scrape is not 200.
pub fn metrics(addr: SocketAddr) -> Metrics {
    let response = get(addr, "/metrics");
    assert_eq!(response.status, 200, "GET /metrics failed: {response:?}");
    Metrics::parse(&response.body_text())
}

// ---------------------------------------------------------------------------
// Idle state
// ---------------------------------------------------------------------------

/// How long a server may take to settle back to idle.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How far live heap may differ from its idle value and still count as
/// idle. The probe itself moves it by a few bytes: the thread answering
/// `/metrics` is named `conn-N`, and N gains digits as the test polls. A
/// leaked chunk would be kilobytes, a leaked queue megabytes.
pub const HEAP_SLACK_BYTES: f64 = 64.0;

/// The process-level numbers that must come back after a client leaves.
#[derive(Debug)]
pub struct Idle {
    pub threads: f64,
    pub heap_bytes: f64,
    pub connections: f64,
    /// Descriptors: a socket never closed is a leak no thread count shows.
    pub open_fds: f64,
}

impl PartialEq for Idle {
    fn eq(&self, other: &Idle) -> bool {
        self.threads == other.threads
            && self.connections == other.connections
            && self.open_fds == other.open_fds
            && (self.heap_bytes - other.heap_bytes).abs() <= HEAP_SLACK_BYTES
    }
}

impl Idle {
    /// Whether `self` is back at `idle`: the same threads, connections and
    /// descriptors, and no more live heap (within [`HEAP_SLACK_BYTES`]).
    /// Less is no leak: the idle scrape may have counted the handle of a connection
    /// thread that had just exited, which the accept loop joins (and
    /// frees, about 100 bytes) within its next 100 ms wake.
    pub fn back_at(&self, idle: &Idle) -> bool {
        self.threads == idle.threads
            && self.connections == idle.connections
            && self.open_fds == idle.open_fds
            && self.heap_bytes <= idle.heap_bytes + HEAP_SLACK_BYTES
    }

    pub fn of(m: &Metrics) -> Idle {
        Idle {
            threads: m.value("process_threads"),
            heap_bytes: m.value("backpressure_heap_bytes"),
            connections: m.value("backpressure_connections_active"),
            open_fds: m.value("process_open_fds"),
        }
    }
}

/// A server that has served one small export in every mode, so that
/// anything std allocates once on first use (and keeps) is already live when
/// the idle baseline is read.
pub fn warmed_server(args: &[&str]) -> (Server, Idle) {
    warm(Server::start(args))
}

/// [`warmed_server`] for a server started some other way (with its log on,
/// say).
pub fn warm(server: Server) -> (Server, Idle) {
    for mode in MODES {
        // With a small --max-connections, the previous warm-up connection
        // may still be closing: a 503 then, and another try.
        wait_until("a warm-up export", IDLE_TIMEOUT, || {
            let target = format!("/export.csv?rows=10&mode={mode}");
            match get(server.addr(), &target).status {
                200 => Some(()),
                503 => None,
                other => panic!("warm-up export answered {other}"),
            }
        });
    }
    // The baseline is read once every connection's thread has ended, the
    // warm-up's and the last scrape's: a close waits for its client to
    // hang up, and on a loaded machine one scrape's close can outlast the
    // next scrape, and the one after, which would both count its thread.
    // Then the scrape counts its own thread alone. And once the server's
    // own threads have each reached their wait (`at_rest`), and the
    // descriptors have settled, each seen twice alike: a socket the
    // rejecter still lingers on (a scrape it turned away at a small cap)
    // is in no thread's count, only in the descriptors'.
    let pid = server.pid();
    let mut last = None;
    let idle = wait_until_with("the warm-up connections to close", IDLE_TIMEOUT, || {
        let busy = connection_threads(pid)?;
        if !busy.is_empty() {
            return Err(busy.join(","));
        }
        let waits = at_rest(pid)?;
        // At a small connection cap the scrape may be turned away while
        // the warm-up connections close; that is one more poll.
        let now = Idle::of(&try_metrics(server.addr()).ok_or("/metrics turned away")?);
        let seen = (waits, now.open_fds);
        if last.replace(seen.clone()).as_ref() != Some(&seen) {
            return Err(format!(
                "threads in {:?} and {} descriptors, once",
                seen.0, seen.1
            ));
        }
        (now.connections == 1.0)
            .then_some(now)
            .ok_or_else(|| "a connection counted".to_string())
    });
    (server, idle)
}

/// Polls `/metrics` until the server is back at `idle` with nothing queued
/// in any mode, and returns that scrape; fails the test after
/// [`IDLE_TIMEOUT`], showing what was last seen.
pub fn back_to_idle(addr: SocketAddr, idle: &Idle, after: &str) -> Metrics {
    let what = format!("the server to be back at idle {idle:?} after {after}");
    wait_until_with(&what, IDLE_TIMEOUT, || {
        let m = try_metrics(addr).ok_or("/metrics turned away")?;
        let now = Idle::of(&m);
        let queued: f64 = MODES
            .iter()
            .map(|mode| m.value(&format!("backpressure_queued_bytes{{mode=\"{mode}\"}}")))
            .sum();
        // The budget must be whole again too: a charge never given back
        // would refuse every later buffered export.
        let budget_used = m.value("backpressure_buffer_budget_used_bytes");
        if now.back_at(idle) && queued == 0.0 && budget_used == 0.0 {
            return Ok(m);
        }
        Err(format!(
            "{now:?}, {queued} bytes queued, {budget_used} of the budget used"
        ))
    })
}

// ---------------------------------------------------------------------------
// Log lines
// ---------------------------------------------------------------------------

/// What `line` says after the time stamp it must start with, and a space:
/// RFC 3339 in UTC, whole seconds (`2026-11-22T06:40:12Z backpressure:
/// …`), of a second between `before` (read by the test before anything
/// could log the line) and now. Panics, quoting the line, otherwise. The
/// stamps are written here by the reference's calendar ([`CalendarTime`]),
/// apart from `src/export/calendar.rs`.
pub fn after_stamp(line: &str, before: SystemTime) -> &str {
    after_stamp_between(line, before, SystemTime::now())
}

/// [`after_stamp`], stamped between `before` and `after`; each second
/// between them is tried, so a test gives a span of seconds, not years.
pub fn after_stamp_between(line: &str, before: SystemTime, after: SystemTime) -> &str {
    let seconds = |t: SystemTime| t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    let (earliest, latest) = (seconds(before), seconds(after));
    let mut at = CalendarTime {
        year: 1970,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
    };
    at.advance(earliest);
    for _ in earliest..=latest {
        if let Some(rest) = line.strip_prefix(&format!("{at} ")) {
            return rest;
        }
        at.advance(1);
    }
    panic!(
        "{line:?} does not start with the stamp of a second in \
         {earliest}..={latest} s since the epoch, and a space"
    );
}

// ---------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------

/// The number in `text` after `marker`, up to the next `end`: the figures
/// the server and the slow client print, as in `number_after(line,
/// " duration_ms=", " ")`. Panics, quoting `text`, if there is none.
pub fn number_after<T: std::str::FromStr>(text: &str, marker: &str, end: &str) -> T {
    text.split(marker)
        .nth(1)
        .and_then(|rest| rest.split(end).next()?.parse().ok())
        .unwrap_or_else(|| panic!("no number after {marker:?} in {text:?}"))
}

/// Polls `probe` every 50 ms until it returns `Some`, for states the server
/// reaches asynchronously (a writer blocking, a connection being counted).
/// Panics naming `what` if `timeout` passes first.
pub fn wait_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    wait_until_with(what, timeout, || probe().ok_or(""))
}

/// [`wait_until`] for a probe that says what it saw instead of `None`: the
/// last of those is in the failure's message.
pub fn wait_until_with<T, E: std::fmt::Display>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {seen}")
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

// ---------------------------------------------------------------------------
// What the kernel shows of the server: events a test waits for, not a time
// ---------------------------------------------------------------------------

/// The threads of process `pid` that serve a connection, by the names the
/// server gives them ([`backpressure::serves_a_connection`]).
pub fn connection_threads(pid: u32) -> Result<Vec<String>, String> {
    let names = thread_names(pid)?;
    let serving = |name: &String| backpressure::serves_a_connection(name);
    Ok(names.into_iter().filter(serving).collect())
}

/// `/proc/net/tcp`'s state of a socket whose peer closed its side (a FIN
/// came) and that is still open here.
pub const CLOSE_WAIT: u8 = 0x08;

/// The kernel's line for the socket at `local` connected to `remote`, or
/// `None` once it is out of the kernel's table: a socket whose peer reset
/// it is closed and has no peer (`getpeername` fails), though its
/// descriptor may still be open.
///
/// The line is found by its two addresses as the kernel spells them, and
/// only that line is parsed: the table lists every socket of the machine,
/// and on a busy host parsing them all in a debug build takes long enough
/// for what a test set up to wait for it to change by itself.
pub fn tcp_socket(
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<Option<backpressure::TcpSocket>, String> {
    let text =
        std::fs::read_to_string("/proc/net/tcp").map_err(|e| format!("/proc/net/tcp: {e}"))?;
    let (Some(local_hex), Some(remote_hex)) = (proc_net_hex(local), proc_net_hex(remote)) else {
        return Err(format!("not IPv4: {local} {remote}"));
    };
    let needle = format!(" {local_hex} {remote_hex} ");
    let Some(line) = text.lines().find(|l| l.contains(&needle)) else {
        return Ok(None);
    };
    // `sl local remote st tx_queue:rx_queue ...`, in hex.
    let fields: Vec<&str> = line.split_whitespace().collect();
    let hex = |f: Option<&str>| f.and_then(|f| u64::from_str_radix(f, 16).ok());
    let queues = fields.get(4).and_then(|q| q.split_once(':'));
    let state = fields.get(3).and_then(|f| u8::from_str_radix(f, 16).ok());
    let (tx_queue, rx_queue) = (hex(queues.map(|q| q.0)), hex(queues.map(|q| q.1)));
    match (state, tx_queue, rx_queue) {
        (Some(state), Some(tx_queue), Some(rx_queue)) => Ok(Some(backpressure::TcpSocket {
            local,
            remote,
            state,
            tx_queue,
            rx_queue,
        })),
        _ => Err(format!("a malformed line: {line}")),
    }
}

/// An IPv4 address as `/proc/net/tcp` prints it: the address's four bytes
/// read as one number in the machine's byte order, then the port.
fn proc_net_hex(addr: SocketAddr) -> Option<String> {
    match addr {
        SocketAddr::V4(v4) => {
            let ip = u32::from_ne_bytes(v4.ip().octets());
            Some(format!("{ip:08X}:{:04X}", v4.port()))
        }
        SocketAddr::V6(_) => None,
    }
}

/// The names of process `pid`'s threads (`/proc/PID/task/*/comm`): the
/// server names its own (`h2-writer`, `h2-stream-1`, `producer`), so a
/// thread's end is an event a test can wait for without a connection of
/// its own.
pub fn thread_names(pid: u32) -> Result<Vec<String>, String> {
    let threads = threads_named(pid, "")?;
    Ok(threads.into_iter().map(|(name, _)| name).collect())
}

/// The threads of process `pid` whose names start with `prefix`, each as
/// its name and its directory (`/proc/PID/task/TID`), where the kernel
/// says what it waits in.
pub fn threads_named(pid: u32, prefix: &str) -> Result<Vec<(String, PathBuf)>, String> {
    let tasks = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&tasks).map_err(|e| format!("{tasks}: {e}"))?;
    let mut threads = Vec::new();
    for entry in entries {
        let task = entry.map_err(|e| e.to_string())?.path();
        // A thread that ended since the listing has no comm left: gone.
        if let Ok(name) = std::fs::read_to_string(task.join("comm"))
            && name.starts_with(prefix)
        {
            threads.push((name.trim_end().to_string(), task));
        }
    }
    Ok(threads)
}

/// The system call each thread of process `pid` that serves no
/// connection waits in (the accept loop, the rejecter, the logger, the
/// stdin watcher of `--exit-on-stdin-eof`), by thread id; `Err` if one is
/// running or has yet to run. Each of those threads makes what it keeps
/// on its way to its first wait, whenever the scheduler first runs it
/// (its place in a channel's list of waiters; stdin's 8 KiB buffer is
/// taken before the watcher starts): an idle baseline read before that, as on
/// a loaded machine it can be, is short of bytes the server holds for
/// good, and the test's end is taken for a leak. A thread that has
/// waited was run up to its wait; seen at the same call twice, it is not
/// passing through one on its way.
pub fn at_rest(pid: u32) -> Result<Vec<(String, u64)>, String> {
    let mut waits = Vec::new();
    for (name, task) in threads_named(pid, "")? {
        if backpressure::serves_a_connection(&name) {
            continue;
        }
        let tid = task.file_name().unwrap_or_default().to_string_lossy();
        waits.push((tid.into_owned(), system_call(&task, &name)?));
    }
    waits.sort();
    Ok(waits)
}

/// What the kernel says the one thread of process `pid` whose name starts
/// with `name` waits in: the number of its system call
/// (`/proc/PID/task/TID/syscall`), or `Err` if it is running, or there is
/// not exactly one such thread. For a change in a thread that leaves no
/// other trace (a reader that met its client's close, then waits on a
/// lock instead of its socket): compared with the number seen before,
/// never with a number written here, since each architecture numbers its
/// calls its own way.
pub fn thread_waits_in(pid: u32, name: &str) -> Result<u64, String> {
    let found = threads_named(pid, name)?;
    let [(_, task)] = found.as_slice() else {
        return Err(format!("{} threads named {name}*", found.len()));
    };
    system_call(task, &format!("{name}*"))
}

/// The number of the system call thread `task` (`/proc/PID/task/TID`), of
/// the given `name`, waits in; `Err` if it is running, or is blocked
/// outside one (`-1`), or the kernel will not say (a file this process may
/// not read says why, not that the thread is running).
fn system_call(task: &std::path::Path, name: &str) -> Result<u64, String> {
    let path = task.join("syscall");
    let call = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let first = call.split_whitespace().next().unwrap_or("");
    first.parse().map_err(|_| format!("{name} is {first:?}"))
}

/// Waits until the other end of `socket` has read every byte sent on it:
/// this end's kernel holds none unacknowledged, the other end's none
/// unread (or the other end is closed, and reads no more; or it reset the
/// connection, which leaves this end without a peer). For bytes sent in
/// pieces that the other end must read one at a time: a pause between
/// them is no such proof, as a loaded machine can run them together.
pub fn read_by_peer(socket: &std::net::TcpStream) {
    let here = socket.local_addr().expect("a local address");
    let Ok(there) = socket.peer_addr() else {
        return; // reset: nothing more will be read
    };
    wait_until_with("the peer to read what was sent", IDLE_TIMEOUT, || {
        let Some(ours) = tcp_socket(here, there)? else {
            // Out of the table once a reset came; absent for another
            // cause (not IPv4?), it is this helper's fault: say so.
            return match socket.peer_addr() {
                Err(_) => Ok(()),
                Ok(_) => Err("this socket is not in the table".to_string()),
            };
        };
        let unread = tcp_socket(there, here)?.map_or(0, |theirs| theirs.rx_queue);
        (ours.tx_queue == 0 && unread == 0)
            .then_some(())
            .ok_or(format!("{} unacknowledged, {unread} unread", ours.tx_queue))
    });
}

/// Waits until what `client` was sent stops moving, with bytes in its
/// receive queue: it reads none, and the server's writer can write no
/// more. Returns (what the client holds unread, what the server's kernel
/// holds unacknowledged), the same on two looks running; or (0, 0) at
/// once if the server reset the connection: nothing moves any more, and
/// the test says what it makes of that.
pub fn stalled_toward(client: &std::net::TcpStream) -> (u64, u64) {
    let here = client.local_addr().expect("a local address");
    let there = client.peer_addr().expect("a peer address");
    let mut last = None;
    wait_until_with("the bytes toward the client to stop", IDLE_TIMEOUT, || {
        let Some(ours) = tcp_socket(here, there)? else {
            return Ok((0, 0));
        };
        let unacknowledged = tcp_socket(there, here)?.map_or(0, |theirs| theirs.tx_queue);
        let now = (ours.rx_queue, unacknowledged);
        let still = last.replace(now) == Some(now);
        (still && now.0 > 0)
            .then_some(now)
            .ok_or(format!("{now:?} (unread, unacknowledged)"))
    })
}
