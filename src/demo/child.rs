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
use std::thread::{self, JoinHandle};
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

/// Most bytes kept of a child's stderr that is not shown
/// ([`ChildStderr::Hidden`]): its last words, for the error of a child
/// that exits before announcing its address. `serve`'s own error is one
/// line of under 200 bytes, a panic's message and note a few hundred; older
/// bytes are dropped as newer come, so a chatty child costs no more (one
/// byte more is kept, to tell whether the first line kept is whole).
const MAX_STDERR_TAIL_BYTES: usize = 2048;

/// Most of the child's last stderr lines quoted in that error: a panic's
/// message is followed by a line of its own ("note: run with
/// `RUST_BACKTRACE=1`…") that says nothing of why.
const LAST_WORDS_LINES: usize = 3;

/// Where the child's stderr (its access log and errors) goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildStderr {
    /// Not shown: the demo's progress line must not be torn apart. Its
    /// last `MAX_STDERR_TAIL_BYTES` are kept, so that a child that exits
    /// before announcing its address is named with its last words.
    Hidden,
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
    /// Its stderr's last bytes, if it is not shown ([`ChildStderr::Hidden`]).
    tail: Option<Arc<Mutex<Vec<u8>>>>,
    /// The thread that reads its stderr, if it is piped: once it has
    /// finished, the child's last words are all in `log` or `tail`.
    stderr_reader: Option<JoinHandle<()>>,
}

impl ChildServer {
    /// Starts `exe serve --addr 127.0.0.1:0 --exit-on-stdin-eof ARGS…` and
    /// waits (at most `STARTUP_TIMEOUT`) for its address. A child that exits
    /// instead (a bad flag, say) is an error naming its exit status and, if
    /// its stderr is not inherited, quoting its last lines there.
    pub fn start(exe: &Path, args: &[&str], stderr: ChildStderr) -> io::Result<ChildServer> {
        Self::start_within(exe, args, stderr, STARTUP_TIMEOUT)
    }

    /// [`ChildServer::start`], waiting at most `startup` for the address:
    /// a test of the wait's end need not wait out the real one.
    fn start_within(
        exe: &Path,
        args: &[&str],
        stderr: ChildStderr,
        startup: Duration,
    ) -> io::Result<ChildServer> {
        let mut child = Command::new(exe)
            .args(["serve", "--addr", "127.0.0.1:0", "--exit-on-stdin-eof"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(match stderr {
                ChildStderr::Inherit => Stdio::inherit(),
                ChildStderr::Hidden | ChildStderr::Collect => Stdio::piped(),
            })
            .spawn()
            // Which program: one removed mid-run (`cargo clean`) is otherwise
            // a bare "No such file or directory".
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", exe.display())))?;
        let (stdout, stderr_pipe) = (child.stdout.take(), child.stderr.take());
        // From here on a failure must still kill the child: guard it first.
        let mut server = ChildServer {
            _stdin: child.stdin.take(),
            log: None,
            tail: None,
            stderr_reader: None,
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        if let Some(pipe) = stderr_pipe {
            let reader = if stderr == ChildStderr::Collect {
                collect_lines(pipe, Arc::clone(server.log.insert(Arc::default())))
            } else {
                keep_tail(pipe, Arc::clone(server.tail.insert(Arc::default())))
            };
            server.stderr_reader = Some(reader?);
        }
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
        let line = match line_rx.recv_timeout(startup) {
            Ok(line) => line?,
            Err(_) => {
                let why = format!("the server did not announce its address within {startup:?}");
                let why = server.with_last_words(why);
                return Err(io::Error::new(io::ErrorKind::TimedOut, why));
            }
        };
        let announced = line.trim_end().strip_prefix("listening on http://");
        let Some(addr) = announced.and_then(|addr| addr.parse().ok()) else {
            // `ExitStatus` names itself ("exit status: 2", "signal: 9"), so
            // it is quoted as it is, once.
            let status = server.exit_status_soon();
            if status.is_some() {
                // Gone: its stderr ends soon, with its last words in it.
                server.stderr_read_soon();
            }
            let why = match status {
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
            return Err(io::Error::other(server.with_last_words(why)));
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

    /// `why`, then the child's last stderr lines so far, if any are kept,
    /// quoted on the same line: the error stays one line.
    fn with_last_words(&self, why: String) -> String {
        let lines = match (&self.tail, &self.log) {
            (Some(tail), _) => tail.lock().map(|t| tail_lines(&t)).unwrap_or_default(),
            (None, Some(_)) => self.log_lines(),
            (None, None) => Vec::new(),
        };
        let last: Vec<&str> = (lines.iter().map(|l| l.trim()))
            .filter(|line| !line.is_empty())
            .collect();
        match &last[last.len().saturating_sub(LAST_WORDS_LINES)..] {
            [] => why,
            words => format!("{why}; its stderr ended {:?}", words.join(" / ")),
        }
    }

    /// Waits, at most [`EXIT_WAIT`], for the thread reading the stderr of a
    /// child that has exited to read it to its end.
    fn stderr_read_soon(&self) {
        let deadline = Instant::now() + EXIT_WAIT;
        while let Some(reader) = &self.stderr_reader
            && !reader.is_finished()
            && Instant::now() < deadline
        {
            thread::sleep(EXIT_POLL);
        }
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

/// Reads `stderr` line by line into `sink`, on a thread of its own: a
/// pipe nobody reads would block the child's logging once full.
fn collect_lines(
    stderr: std::process::ChildStderr,
    sink: Arc<Mutex<Vec<String>>>,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let Ok(mut kept) = sink.lock() else { break };
            if kept.len() < MAX_COLLECTED_LINES {
                kept.push(line);
            }
        }
    })
}

/// Reads `stderr` to its end on a thread of its own, keeping its last
/// [`MAX_STDERR_TAIL_BYTES`] in `sink`: the pipe is drained, as the
/// child's logging needs, and its last words are at hand.
fn keep_tail(
    mut stderr: impl Read + Send + 'static,
    sink: Arc<Mutex<Vec<u8>>>,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().spawn(move || {
        let mut chunk = [0; 1024];
        loop {
            let read = match stderr.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let Ok(mut kept) = sink.lock() else { break };
            kept.extend_from_slice(&chunk[..read]);
            // One byte more than the bound: the one before the tail's first
            // tells [`tail_lines`] whether that first line is whole.
            let over = kept.len().saturating_sub(MAX_STDERR_TAIL_BYTES + 1);
            kept.drain(..over);
        }
    })
}

/// The lines of a kept tail; a first line cut by the bound is left out,
/// unless it is all there is. A tail past the bound holds the byte before
/// it too ([`keep_tail`]): a line feed there, and the tail starts a line.
fn tail_lines(tail: &[u8]) -> Vec<String> {
    let whole = if tail.len() <= MAX_STDERR_TAIL_BYTES {
        tail
    } else {
        match tail.iter().position(|&byte| byte == b'\n') {
            Some(end) if end + 1 < tail.len() => &tail[end + 1..],
            _ => &tail[1..],
        }
    };
    let text = String::from_utf8_lossy(whole);
    text.lines().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tail cut by its bound starts mid-line: that first part of a line
    /// is not quoted as if it were a whole one, unless it is all there is;
    /// a tail cut just after a line feed starts with a whole line, kept.
    #[test]
    fn a_tail_cut_by_its_bound_quotes_only_whole_lines() {
        let stderr = |bytes: &[u8]| kept_lines(io::Cursor::new(bytes.to_vec()));
        let cut = [&[b'x'; 100][..], b"\nthe whole last line"].concat();
        let cut = [&vec![b'y'; MAX_STDERR_TAIL_BYTES - 20 - 1][..], &cut].concat();
        assert_eq!(stderr(&cut), ["the whole last line"]);
        let line = [&vec![b'y'; MAX_STDERR_TAIL_BYTES - 5][..], b"\nlast"].concat();
        let at_a_line = [&b"cut off\n"[..], &line].concat();
        let whole = String::from_utf8_lossy(&line[..MAX_STDERR_TAIL_BYTES - 5]);
        assert_eq!(stderr(&at_a_line), [whole.as_ref(), "last"]);
        let one = vec![b'x'; 3 * MAX_STDERR_TAIL_BYTES];
        assert_eq!(stderr(&one), ["x".repeat(MAX_STDERR_TAIL_BYTES)]);
        assert_eq!(stderr(b"first\nsecond"), ["first", "second"]);
    }

    /// The lines [`keep_tail`] keeps of `reader`, read to its end.
    fn kept_lines(reader: impl Read + Send + 'static) -> Vec<String> {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let reading = keep_tail(reader, Arc::clone(&sink)).expect("a thread");
        reading.join().expect("the reader ends");
        let kept = sink.lock().expect("not poisoned");
        tail_lines(&kept)
    }

    /// Nothing whole is lost at the edges: a stderr of exactly the bound
    /// was never cut, so its first line is quoted; one whose only line
    /// feed is its last byte, past the bound, is one cut line and all
    /// there is, so it is quoted too; and a read interrupted by a signal
    /// is tried again, not taken for the stderr's end.
    #[test]
    fn a_tail_loses_nothing_whole_at_its_edges() {
        let first = "the first line";
        let rest = vec![b'y'; MAX_STDERR_TAIL_BYTES - first.len() - 1];
        let at_the_bound = [first.as_bytes(), b"\n", &rest].concat();
        assert_eq!(at_the_bound.len(), MAX_STDERR_TAIL_BYTES);
        let rest = String::from_utf8_lossy(&rest);
        let lines = kept_lines(io::Cursor::new(at_the_bound));
        assert_eq!(lines, [first, rest.as_ref()]);
        let one_cut_line = [&vec![b'x'; 3 * MAX_STDERR_TAIL_BYTES][..], b"\n"].concat();
        let lines = kept_lines(io::Cursor::new(one_cut_line));
        assert_eq!(lines, ["x".repeat(MAX_STDERR_TAIL_BYTES - 1)]);
        /// A pipe whose first read a signal interrupts (`EINTR`).
        struct Signalled(bool, io::Cursor<Vec<u8>>);
        impl Read for Signalled {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if !std::mem::replace(&mut self.0, true) {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                self.1.read(buf)
            }
        }
        let words = io::Cursor::new(b"cannot start\n".to_vec());
        assert_eq!(kept_lines(Signalled(false, words)), ["cannot start"]);
    }

    /// A chatty child's stderr is read to its end, and only its newest
    /// [`MAX_STDERR_TAIL_BYTES`] are kept: its last line among them, and
    /// every line quoted from them whole. Here `sh` writes 300 lines,
    /// about 7.5 KiB, to a real pipe.
    #[test]
    fn a_chatty_stderr_keeps_only_its_last_bytes() {
        let script = "i=0; while [ $i -lt 300 ]; do echo \"line $i of a chatty child\" >&2; \
                      i=$((i + 1)); done";
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sh");
        let pipe = child.stderr.take().expect("stderr is piped");
        let kept = Arc::default();
        let reader = keep_tail(pipe, Arc::clone(&kept)).expect("start the reader");
        reader.join().expect("the reader ends with the pipe");
        let _ = child.wait();
        let kept = kept.lock().map(|k| k.clone()).unwrap_or_default();
        assert_eq!(kept.len(), MAX_STDERR_TAIL_BYTES + 1);
        let lines = tail_lines(&kept);
        let whole = |l: &String| l.starts_with("line ") && l.ends_with(" of a chatty child");
        assert!(lines.iter().all(whole), "{lines:?}");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("line 299 of a chatty child")
        );
    }

    /// A child that never announces its address is named, once the wait
    /// for it ends, with its last words too: a server stuck before it
    /// listens may have said why. The script writes its line, then sleeps
    /// as `exec sleep`, so that the kill at the error reaches the process
    /// holding its stderr. The wait is 1 s here, not the real 10 s: time
    /// for `sh` to start and say its line on a loaded machine.
    #[test]
    fn a_child_that_never_announces_is_named_with_its_last_words() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("bp-silent-child-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the folder");
        let exe = dir.join("never-announces");
        let script = "#!/bin/sh\necho 'waiting for a lock' >&2\nexec sleep 30\n";
        std::fs::write(&exe, script).expect("write the script");
        let executable = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(&exe, executable).expect("make it executable");
        let startup = Duration::from_secs(1);
        // A test thread that forks while the script was open for writing
        // holds it open a moment: the exec then fails, "text file busy".
        let mut tries = 0;
        let e = loop {
            match ChildServer::start_within(&exe, &[], ChildStderr::Hidden, startup) {
                Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                    tries += 1;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => break e,
                Ok(_) => panic!("the script announced an address"),
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        let said = "the server did not announce its address within 1s; \
                    its stderr ended \"waiting for a lock\"";
        assert_eq!(e.to_string(), said);
    }

    /// A child dropped before it announced itself is killed and reaped,
    /// not waited for: here one that would sleep 30 s is gone, no zombie
    /// left, long before that.
    #[test]
    fn a_child_dropped_is_killed_not_waited_for() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("bp-killed-child-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the folder");
        let exe = dir.join("never-announces");
        let pid_file = dir.join("pid");
        let script = format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 30\n",
            pid_file.display()
        );
        std::fs::write(&exe, script).expect("write the script");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let started = Instant::now();
        let mut tries = 0;
        // A script just written may be busy (ETXTBSY) while another test
        // thread forks with its descriptor still open: try again.
        let e = loop {
            // Time enough for the script to note its pid.
            let within = Duration::from_secs(1);
            match ChildServer::start_within(&exe, &[], ChildStderr::Hidden, within) {
                Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                    tries += 1;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => break e,
                Ok(_) => panic!("the script announced an address"),
            }
        };
        let took = started.elapsed();
        let pid = std::fs::read_to_string(&pid_file).expect("the script's pid");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        // Reaped: a child killed and not waited for stays a zombie, listed.
        let proc = std::path::Path::new("/proc").join(pid.trim());
        assert!(!proc.exists(), "{} still listed", proc.display());
        assert!(took < Duration::from_secs(10), "{took:?}");
    }
}
