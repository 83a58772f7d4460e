//! The server under measurement: this same binary, `serve`, as a child
//! process, so that its RSS and threads count nothing of the measuring side.
//! The demo, the integration tests and the benchmarks all start servers here.
//!
//! A child server must never be left behind. [`ChildServer`] kills and
//! waits for the child when dropped, which covers every early return and
//! panic; a parent killed by a signal runs no destructors, so the child also
//! gets `--exit-on-stdin-eof` and a pipe as stdin: when the parent dies, the
//! kernel closes the pipe, and the child reads end-of-file and exits.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::measure::exposition::{MAX_EXPOSITION_BYTES, Scrape};
use crate::measure::proc_status::ProcStatus;

/// How long the child may take to print `listening on http://ADDR`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Timeout for each step of a `/metrics` request: a server too busy to
/// answer yields a missing sample, not a stuck demo.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// Most bytes of a `/metrics` response's head: the server's is under 200.
const MAX_SCRAPE_HEAD_BYTES: usize = 1024;

/// How long a child that failed to announce itself may take to exit, so
/// that the error can name its exit status (a bad flag exits at once).
const EXIT_WAIT: Duration = Duration::from_secs(1);
/// How often the exit is looked for meanwhile.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// Most bytes of the announcing first line read from the child's stdout.
const MAX_ANNOUNCE_BYTES: u64 = 1024;

/// Most stderr lines collected: a chatty server cannot grow the list forever.
/// Each is a line of the child's log, about 150 bytes for the demo's short
/// requests, and never past about 8.5 KiB, where the access log cuts a
/// request (`measure/access_log.rs`): 15 MiB at the usual length.
const MAX_COLLECTED_LINES: usize = 100_000;

/// Where the child's stderr (its access log and errors) goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildStderr {
    /// Thrown away: the demo's progress line must not be torn apart.
    Discard,
    /// Shown, as the parent's own stderr.
    Inherit,
    /// Kept, line by line, for [`ChildServer::log_lines`].
    Collect,
}

/// A running `serve` child, killed and reaped on drop.
pub struct ChildServer {
    /// The process: killed and reaped on drop.
    child: Child,
    /// Held open for the child's `--exit-on-stdin-eof`: dropping it (or the
    /// parent dying) is the child's signal to exit.
    _stdin: Option<ChildStdin>,
    /// Where it listens, from its first stdout line.
    addr: SocketAddr,
    /// Its stderr lines, if they are collected.
    log: Option<Arc<Mutex<Vec<String>>>>,
}

impl ChildServer {
    /// Starts `exe serve --addr 127.0.0.1:0 --exit-on-stdin-eof ARGS…` and
    /// waits (at most `STARTUP_TIMEOUT`) for its address. A child that exits
    /// instead (a bad flag, say) is an error naming its exit status.
    pub fn start(exe: &Path, args: &[&str], stderr: ChildStderr) -> io::Result<ChildServer> {
        let mut child = Command::new(exe)
            .args(["serve", "--addr", "127.0.0.1:0", "--exit-on-stdin-eof"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(match stderr {
                ChildStderr::Discard => Stdio::null(),
                ChildStderr::Inherit => Stdio::inherit(),
                ChildStderr::Collect => Stdio::piped(),
            })
            .spawn()
            // Which program: one removed mid-run (`cargo clean`) is otherwise
            // a bare "No such file or directory".
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", exe.display())))?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        // From here on a failure must still kill the child: guard it first.
        let mut server = ChildServer {
            _stdin: child.stdin.take(),
            log: None,
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        server.log = stderr.map(collect_lines).transpose()?;
        let stdout = stdout.ok_or_else(|| io::Error::other("the child's stdout is not piped"))?;
        // read_line cannot time out: it runs in a thread, and we wait on a
        // channel, with room for the one message it carries (the first
        // line, at most MAX_ANNOUNCE_BYTES): its send never waits.
        let (line_tx, line_rx) = mpsc::sync_channel(1);
        // A thread that cannot start (RLIMIT_NPROC) is an error, not std's
        // panic: the demo says so in one line.
        thread::Builder::new().spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = (&mut reader)
                .take(MAX_ANNOUNCE_BYTES)
                .read_line(&mut line)
                .map(|_| line);
            let _ = line_tx.send(first);
            // Keep draining, so that a chatty server never blocks on a full pipe.
            let _ = io::copy(&mut reader, &mut io::sink());
        })?;
        let line = match line_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(line) => line?,
            Err(_) => {
                let why =
                    format!("the server did not announce its address within {STARTUP_TIMEOUT:?}");
                return Err(io::Error::new(io::ErrorKind::TimedOut, why));
            }
        };
        let announced = line.trim_end().strip_prefix("listening on http://");
        let Some(addr) = announced.and_then(|addr| addr.parse().ok()) else {
            // `ExitStatus` names itself ("exit status: 2", "signal: 9"), so
            // it is quoted as it is, once.
            let why = match server.exit_status_soon() {
                Some(status) if line.is_empty() => {
                    format!("the server exited ({status}) without announcing its address")
                }
                Some(status) => format!(
                    "the server exited ({status}) after a first line that is not \
                     'listening on http://ADDR': {line:?}"
                ),
                None => format!(
                    "the server's first line is not 'listening on http://ADDR': {line:?} \
                     (it is still running)"
                ),
            };
            return Err(io::Error::other(why));
        };
        server.addr = addr;
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's `/proc/PID/status`: RSS, peak RSS, threads.
    pub fn status(&self) -> io::Result<ProcStatus> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        Ok(ProcStatus::parse(&text))
    }

    /// `GET /metrics` on the child, parsed. Anything but a 200 is an error
    /// (a 503, say, from a child whose cap's rejecter could not read the
    /// scrape's head in time).
    pub fn scrape(&self) -> io::Result<Scrape> {
        let mut stream = TcpStream::connect_timeout(&self.addr, SCRAPE_TIMEOUT)?;
        stream.set_read_timeout(Some(SCRAPE_TIMEOUT))?;
        stream.set_write_timeout(Some(SCRAPE_TIMEOUT))?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: child\r\nConnection: close\r\n\r\n")?;
        let mut response = String::new();
        let limit = (MAX_EXPOSITION_BYTES + MAX_SCRAPE_HEAD_BYTES) as u64;
        stream.take(limit).read_to_string(&mut response)?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| io::Error::other("/metrics sent no complete head"))?;
        if !head.starts_with("HTTP/1.1 200 ") {
            let status = head.lines().next().unwrap_or_default();
            return Err(io::Error::other(format!("/metrics answered {status}")));
        }
        Scrape::parse(body).map_err(io::Error::other)
    }

    /// Every stderr line so far, if they are collected ([`ChildStderr::Collect`]):
    /// each starts with its stamp (`measure/log.rs`), so a reader matches a
    /// line by what it contains or how it ends, not how it starts.
    pub fn log_lines(&self) -> Vec<String> {
        let Some(lines) = &self.log else {
            return Vec::new();
        };
        lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The exit status, if the child exits within [`EXIT_WAIT`].
    fn exit_status_soon(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + EXIT_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(EXIT_POLL);
        }
        None
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // Errors mean the child is already gone, which is what we want.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `stderr` line by line into a shared list, on a thread of its own:
/// a pipe nobody reads would block the child's logging once full.
fn collect_lines(stderr: std::process::ChildStderr) -> io::Result<Arc<Mutex<Vec<String>>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    thread::Builder::new().spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let Ok(mut kept) = sink.lock() else { break };
            if kept.len() < MAX_COLLECTED_LINES {
                kept.push(line);
            }
        }
    })?;
    Ok(lines)
}
