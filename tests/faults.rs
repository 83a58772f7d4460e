//! Faults from outside the protocol, each against the real binary: a log
//! whose reader is dead or never reads, a process out of file descriptors
//! (and warned at start when its cap could run it out), and a shutdown by
//! signal that must let downloads drain (and cut, with a reset, what does
//! not drain in time; one signal sent twice at once is one request), and
//! the close of a response written whole: a
//! client that closed its side gets all of it, one still sending through
//! the close loses its tail to the close's reset.
//!
//! These tests start their servers themselves rather than through
//! `common::Server`, because each needs what that harness exists to hide:
//! its own stderr pipe, a descriptor limit set by the shell, a signal, and
//! the exit status.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::h2::{
    CANCEL, DATA, END_HEADERS, END_STREAM, Frame, H2, HEADERS, INITIAL_WINDOW_SIZE, PING,
    RST_STREAM, frame, request_block,
};
use common::{
    CLOSE_WAIT, KillOnDrop, Metrics, after_stamp, assert_same_bytes, decode_chunked, get, metrics,
    number_after, read_by_peer, reference_csv, reference_csv_len, stalled_request, stalled_toward,
    tcp_socket, thread_names, thread_waits_in, wait_until, wait_until_with,
};

/// What becomes of the server's stderr.
enum Log {
    /// The reading end is closed at once: every write fails with EPIPE.
    Dead,
    /// Held open and never read: the pipe fills after 64 KiB.
    Unread,
    /// A Unix socket, as journald's stderr is, held open and never read.
    UnreadSocket,
    /// A Unix socket whose server end is non-blocking (`O_NONBLOCK`, as a
    /// parent may leave its own stderr), held unread until the test reads
    /// it through [`Child::_unread`].
    NonBlockingSocket,
    /// Read line by line into a channel.
    Read,
    /// Written to this regular file, which `ulimit -f` bounds; a pipe has
    /// no size to limit.
    File(std::fs::File),
}

/// How soon after the first shutdown signal the server takes a later one
/// for the same request sent twice, not an operator's second:
/// `src/sys/repeated_signal.rs`'s `SAME_REQUEST`, as `serve --help` says.
const SAME_REQUEST: Duration = Duration::from_millis(200);

/// How long a shutdown may show no progress, neither a log line nor CPU
/// time spent, before the wait for its summary calls it a hang.
const HANG: Duration = Duration::from_secs(10);

/// The longest wait for a shutdown's summary, progress or not: a server
/// spinning in place spends CPU time too.
const SHUTDOWN_CAP: Duration = Duration::from_secs(60);

/// A `serve` child started by this file.
struct Child {
    /// The process, killed on drop if it has not exited.
    process: KillOnDrop,
    /// Where it listens.
    addr: SocketAddr,
    /// Held so that `--exit-on-stdin-eof` ends the child if the test dies;
    /// taken to close it ([`Child::close_stdin`]).
    stdin: Option<ChildStdin>,
    /// Held and never read, for [`Log::Unread`] and [`Log::UnreadSocket`].
    _unread: Option<OwnedFd>,
    /// The log's lines, for [`Log::Read`].
    lines: Option<mpsc::Receiver<String>>,
    /// Read before the process started: no line it logs is stamped earlier.
    started: SystemTime,
}

impl Child {
    /// `serve --addr 127.0.0.1:0 --exit-on-stdin-eof ARGS`, through `sh` so
    /// that a limit can be set first, if `ulimit` says so (`"-n 64"`).
    fn start(log: Log, ulimit: Option<&str>, args: &[&str]) -> Child {
        Child::start_with(log, ulimit, &[], args)
    }

    /// [`Child::start`], with `env` added to the server's environment.
    fn start_with(log: Log, ulimit: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Child {
        let limit = ulimit.map_or(String::new(), |l| format!("ulimit {l} && "));
        Child::start_after(log, &limit, env, args)
    }

    /// [`Child::start_with`], `sh` running `prelude` (ended by `&&` or `;`)
    /// before it execs the server: a limit, or a `trap` whose ignored
    /// signals the server inherits, as `nohup`'s child does.
    ///
    /// Every signal is put back to its default action first (`env
    /// --default-signal`, GNU coreutils 8.31), so that the server starts
    /// as these tests assume whoever ran them: a shell script's `cargo test &`
    /// hands its children SIGINT and SIGQUIT ignored, `nohup` SIGHUP, and
    /// the server rightly keeps what it finds ignored, so a SIGQUIT sent
    /// here would do nothing.
    fn start_after(log: Log, prelude: &str, env: &[(&str, &str)], args: &[&str]) -> Child {
        let script =
            format!("{prelude}exec \"$0\" serve --addr 127.0.0.1:0 --exit-on-stdin-eof \"$@\"");
        let started = SystemTime::now();
        let (mut unread, mut lines) = (None, None);
        let process = Command::new("env")
            .args(["--default-signal", "sh", "-c", &script])
            .arg(env!("CARGO_BIN_EXE_backpressure"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(match &log {
                Log::File(file) => Stdio::from(file.try_clone().expect("the log file")),
                Log::UnreadSocket | Log::NonBlockingSocket => {
                    let (theirs, ours) = UnixStream::pair().expect("a socket pair");
                    if matches!(log, Log::NonBlockingSocket) {
                        theirs.set_nonblocking(true).expect("O_NONBLOCK");
                    }
                    unread = Some(OwnedFd::from(ours));
                    Stdio::from(OwnedFd::from(theirs))
                }
                _ => Stdio::piped(),
            })
            .spawn()
            .expect("env starts");
        let mut process = KillOnDrop(process);
        let stdin = process.0.stdin.take().expect("stdin is piped");
        let stderr = process.0.stderr.take();
        match log {
            Log::Dead | Log::File(_) | Log::UnreadSocket | Log::NonBlockingSocket => drop(stderr),
            Log::Unread => unread = stderr.map(OwnedFd::from),
            Log::Read => {
                let stderr = stderr.expect("stderr is piped");
                let (send, receive) = mpsc::channel();
                thread::spawn(move || {
                    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                        let _ = send.send(line);
                    }
                });
                lines = Some(receive);
            }
        }
        let stdout = process.0.stdout.take().expect("stdout is piped");
        // read_line cannot time out, and a server that never announces
        // itself must fail the test, not hang it: read on a thread.
        let (send, receive) = mpsc::channel();
        thread::spawn(move || {
            let mut first = String::new();
            let read = BufReader::new(stdout).read_line(&mut first);
            let _ = send.send(read.map(|_| first));
        });
        let first = match receive.recv_timeout(Duration::from_secs(10)) {
            Ok(read) => read.expect("the server announces its address"),
            Err(_) => panic!("the server did not announce its address within 10 s"),
        };
        let addr = first
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                // Nothing at all: `env` refused its flag, perhaps.
                let needs = "(the server starts through env --default-signal: GNU coreutils 8.31)";
                panic!("unexpected first line {first:?} {needs}")
            });
        Child {
            process,
            addr,
            stdin: Some(stdin),
            _unread: unread,
            lines,
            started,
        }
    }

    /// Sends SIGTERM, as a service manager would.
    fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends SIGTERM again, as an operator's second signal: once the first
    /// is logged, and [`SAME_REQUEST`] after that. The handler noted the
    /// first's time before the accept loop saw it and logged the line, so
    /// the window has surely passed when the second arrives, however slow
    /// the machine: no sleep that merely usually suffices.
    fn terminate_again(&self) {
        self.log_until(Duration::from_secs(5), |l| l.contains("shutting down"));
        thread::sleep(SAME_REQUEST);
        self.terminate();
    }

    /// Sends the signal `name` (`TERM`, `HUP`, ...).
    fn signal(&self, name: &str) {
        let pid = self.process.0.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} {pid}");
    }

    /// Waits, at most 5 s, until the server has taken the SIGTERM sent to
    /// it: no longer pending for the process (`ShdPnd` in
    /// `/proc/PID/status`, SIGTERM's bit clear), so a thread has begun its
    /// handler. A signal sent from here on is a second delivery, never
    /// merged with the first, which a pending signal would be.
    fn wait_until_sigterm_taken(&self) {
        let path = format!("/proc/{}/status", self.process.0.id());
        let sigterm_bit = 1u64 << (15 - 1);
        let pending = || {
            let status = std::fs::read_to_string(&path).expect("the server's status");
            let mask = status
                .lines()
                .find_map(|l| l.strip_prefix("ShdPnd:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                .expect("a ShdPnd line");
            mask & sigterm_bit != 0
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while pending() {
            assert!(Instant::now() < deadline, "SIGTERM still pending after 5 s");
            thread::yield_now();
        }
    }

    /// Closes the child's stdin, as the death of the demo that started it
    /// would.
    fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    fn exit_within(&mut self, timeout: Duration) -> ExitStatus {
        self.process.exit_within("the server to exit", timeout)
    }

    /// Waits for the exit a signal asked for: a last line whose summary
    /// counts the connections (as ": 1 connection ended before the drain
    /// timeout, 0 cut"), then status 0
    /// at once: the logger, told to stop, stops when its queue is written
    /// (the server gives it 2 s at most; 1.5 s here is a loaded machine's
    /// slack, and still tells a logger that waited out its 2 s). Returns
    /// the log up to that line.
    fn exits_zero_having(&mut self, counts: &str) -> Vec<String> {
        let log = self.shutdown_log();
        let summary = log.last().expect("a summary line");
        assert!(summary.contains(counts), "{summary}");
        let status = self.exit_within(Duration::from_millis(1500));
        assert_eq!(status.code(), Some(0));
        log
    }

    /// Every log line up to the shutdown's summary, which comes once every
    /// thread is joined: after a cancelled render's chunk is made, up to
    /// 16 MiB, which takes a debug build on a loaded machine many seconds
    /// (seventeen took over ten). So the wait goes on while the server
    /// shows progress, a line or CPU time spent; [`HANG`] without either,
    /// or [`SHUTDOWN_CAP`] in all, is a hang.
    fn shutdown_log(&self) -> Vec<String> {
        let lines = self.lines.as_ref().expect("the log is read");
        let begun = Instant::now();
        let mut seen = Vec::new();
        let mut cpu = self.cpu_ticks();
        let mut moved = Instant::now();
        while moved.elapsed() < HANG && begun.elapsed() < SHUTDOWN_CAP {
            match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let summary = line.contains("shut down");
                    seen.push(line);
                    if summary {
                        return seen;
                    }
                    moved = Instant::now();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let now = self.cpu_ticks();
            if now > cpu {
                (cpu, moved) = (now, Instant::now());
            }
        }
        panic!(
            "no summary after {:?}, {:?} of it without a line or CPU time spent; the log said:\n{}",
            begun.elapsed(),
            moved.elapsed(),
            seen.join("\n")
        );
    }

    /// CPU time the server has used, user and system, in clock ticks:
    /// fields 14 and 15 of `/proc/PID/stat`, after the name in parentheses.
    /// 0 once the process is gone.
    fn cpu_ticks(&self) -> u64 {
        let path = format!("/proc/{}/stat", self.process.0.id());
        let Ok(stat) = std::fs::read_to_string(path) else {
            return 0;
        };
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // After the name: state is field 3, so utime (14) is index 11.
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        ticks(11).unwrap_or(0) + ticks(12).unwrap_or(0)
    }

    fn still_running(&mut self) -> bool {
        self.process.0.try_wait().expect("waitpid").is_none()
    }

    /// Every log line so far, waiting at most `timeout` for the last one to
    /// satisfy `done`.
    fn log_until(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> Vec<String> {
        let lines = self.lines.as_ref().expect("the log is read");
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let finished = done(&line);
            seen.push(line);
            if finished {
                return seen;
            }
        }
        panic!(
            "the log never said what was expected; it said:\n{}",
            seen.join("\n")
        );
    }
}

/// `GET target`, timed: the status, and how long the whole response took.
fn timed_status(addr: SocketAddr, target: &str) -> (u16, Duration) {
    let started = Instant::now();
    let status = get(addr, target).status;
    (status, started.elapsed())
}

/// How soon a request to a server whose log is full is answered.
const IN_TIME: Duration = Duration::from_secs(2);

/// How many requests of a test may be asked again: a stall is rare, a
/// server that held every other request is not.
const ASKED_AGAIN: u32 = 5;

/// `GET target`, answered `status` within [`IN_TIME`]; one answered later
/// is asked once more, and that one must be, at most [`ASKED_AGAIN`] times
/// in all (`asked_again` counts them). A log that held requests up would
/// hold each one after it: nothing reads the pipe, so once full it stays
/// full. A loaded machine's stall does not last.
fn answered_in_time(
    addr: SocketAddr,
    target: &str,
    status: u16,
    what: &str,
    asked_again: &mut u32,
) {
    let (got, took) = timed_status(addr, target);
    assert_eq!(got, status, "{what}");
    if took < IN_TIME {
        return;
    }
    *asked_again += 1;
    assert!(
        *asked_again <= ASKED_AGAIN,
        "{what} took {took:?}, the {asked_again}th slow answer"
    );
    let (again, then) = timed_status(addr, target);
    assert_eq!(again, status, "{what}, asked again");
    assert!(
        then < IN_TIME,
        "{what} took {took:?}, and {then:?} asked again"
    );
}

/// With stderr's reader gone and 64 descriptors, a client that opens more
/// connections than the process can hold causes EMFILE: the server pauses
/// its accepts, writes its log lines into a dead pipe (counted, never a
/// panic), and answers every request once the connections close.
#[test]
fn a_dead_log_and_no_descriptors_do_not_stop_the_server() {
    let mut server = Child::start(Log::Dead, Some("-n 64"), &[]);
    let addr = server.addr;
    let idle: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(addr).expect("the backlog takes the connection"))
        .collect();
    // The first accepts take the descriptors, every one from 0 to 63; the
    // rest wait in the backlog while accept fails with EMFILE. (A descriptor
    // above 63, inherited from the test harness, does not count.)
    let fds = format!("/proc/{}/fd", server.process.0.id());
    wait_until_with("every descriptor in use", Duration::from_secs(10), || {
        let entries = std::fs::read_dir(&fds).map_err(|e| e.to_string())?;
        let names = entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok());
        let below = names.filter(|&fd| fd < 64).count();
        (below == 64)
            .then_some(())
            .ok_or(format!("{below} of 0..64 open"))
    });
    thread::sleep(Duration::from_millis(300)); // accept failing, for a while
    let exited = server.process.0.try_wait().expect("waitpid");
    assert!(
        exited.is_none(),
        "EMFILE and a dead log took the server down: {exited:?}"
    );
    drop(idle);
    let failed = "backpressure_log_lines_dropped_total{reason=\"write-failed\"}";
    // The backlog's connections are accepted and closed as descriptors come
    // free, each with a line of its own: wait until they are all done, and
    // the count moves only by the polling scrapes' own lines.
    let mut last: Option<f64> = None;
    let before = wait_until(
        "the burst's lines to be dropped",
        Duration::from_secs(10),
        || {
            let m = metrics(addr);
            let now = m.value(failed);
            let only_this = m.value("backpressure_connections_active") == 1.0;
            let settled = only_this && last == Some(now - 1.0);
            last = Some(now);
            settled.then_some(now)
        },
    );
    for i in 0..50 {
        let (status, took) = timed_status(addr, "/healthz");
        assert_eq!(status, 200, "request {i} after the burst");
        assert!(took < Duration::from_secs(2), "request {i} took {took:?}");
    }
    // Exactly the lines since then met the dead pipe: the last scrape's
    // own, the 50 requests', and those of the scrapes polling here before
    // this one (a scrape's own line comes after it renders).
    let mut polls = 0.0;
    wait_until_with("every line dropped", Duration::from_secs(10), || {
        polls += 1.0;
        let more = metrics(addr).value(failed) - before;
        let expected = 50.0 + polls;
        (more == expected)
            .then_some(())
            .ok_or(format!("{more} of {expected}"))
    });
    assert!(server.still_running());
}

/// A log file at the file-size limit (`ulimit -f`, systemd's `LimitFSIZE`)
/// costs lines, counted as dropped, never the process: a write past the limit
/// raises SIGXFSZ, whose default action kills the process, and with it
/// every response in flight.
#[test]
fn a_log_file_at_its_size_limit_costs_lines_not_the_process() {
    let path = std::env::temp_dir().join(format!("bp-fsize-{}.log", std::process::id()));
    let file = std::fs::File::create(&path).expect("a log file");
    // One block (512 bytes to `sh`): a few lines fill it.
    let mut server = Child::start(Log::File(file), Some("-f 1"), &[]);
    for i in 0..20 {
        assert_eq!(get(server.addr, "/healthz").status, 200, "request {i}");
    }
    let failed = "backpressure_log_lines_dropped_total{reason=\"write-failed\"}";
    wait_until("a dropped line", Duration::from_secs(10), || {
        (metrics(server.addr).value(failed) > 0.0).then_some(())
    });
    assert!(server.still_running());
    let _ = std::fs::remove_file(&path);
}

/// While accept fails for want of descriptors, the accept loop pauses
/// between tries, longer after each (from 10 ms, doubling up to 500 ms),
/// and says so once at each end of the burst: the line that ends it counts
/// the failed accepts, a handful for the time they took, where a loop that
/// tried again at once would count them by the thousand.
#[test]
fn failed_accepts_pause_and_are_counted_once_they_work_again() {
    let server = Child::start(Log::Read, Some("-n 64"), &["--quiet"]);
    let idle: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(server.addr).expect("the backlog takes the connection"))
        .collect();
    let failed = "backpressure: accept failed: ";
    server.log_until(Duration::from_secs(10), |l| l.contains(failed));
    // Descriptors come free as the served connections meet their clients'
    // close, and the backlog's are accepted again.
    drop(idle);
    let again = "backpressure: accepting again after ";
    let log = server.log_until(Duration::from_secs(10), |l| l.contains(again));
    let line = log.last().expect("the line that ends the burst");
    let failures: u64 = number_after(line, again, " failed accepts");
    let took: u64 = number_after(line, " failed accepts in ", " ms");
    // Each failure pauses: at most seven pauses shorter than the longest
    // (10 to 320 ms, and the first 500), then one per 500 ms, and a last
    // failure before the accept that works.
    assert!(failures <= 8 + took / 500, "{line}");
    let bursts = log.iter().filter(|l| l.contains(failed));
    assert_eq!(bursts.count(), 0, "a second line for one burst: {log:#?}");
}

/// A finished connection whose close waits keeps its socket, and as many
/// such closes as slots may wait: twice the cap's descriptors at once. So
/// the start's warning counts two per slot. A limit of 200 holds 100
/// connections and the spare descriptors, but not 100 more closing: past
/// it `accept` fails (`EMFILE`) and clients wait where the cap would
/// answer 503, so `serve` must say so at start. What it says it needs is
/// what docs/defenses.md counts: twice the cap, what is already open, and
/// 64 spare for turned-away sockets lingering over their 503.
#[test]
fn the_descriptor_warning_counts_the_closes_that_wait() {
    let mut server = Child::start(Log::Read, Some("-n 200"), &["--max-connections", "100"]);
    // The warning is logged before the address is announced; the summary
    // at SIGTERM is the log's last line, so the log up to it has it all.
    server.terminate();
    let log = server.exits_zero_having("0 connections ended before the drain timeout, 0 cut");
    let warned = |line: &&String| {
        line.contains("warning: ulimit -n is 200") && line.contains("--max-connections 100")
    };
    let warning = log
        .iter()
        .find(warned)
        .unwrap_or_else(|| panic!("{log:#?}"));
    let open: u64 = number_after(warning, " with ", " descriptors in use");
    let needed: u64 = number_after(warning, " needs about ", ":");
    assert_eq!(needed, 2 * 100 + open + 64, "{warning}");
}

/// Under a limit the listener itself fills (descriptors 0 to 3: stdin,
/// stdout, stderr and it), `/proc` cannot even be opened to count: that is
/// no reason to say nothing, since every accept will fail. `serve` warns
/// of it at start, as of any limit too low for its cap.
#[test]
fn a_limit_with_no_descriptor_free_is_warned_of() {
    let mut server = Child::start(Log::Read, Some("-n 4"), &[]);
    server.terminate();
    let log = server.exits_zero_having("0 connections ended before the drain timeout, 0 cut");
    let warned = |line: &&String| line.contains("warning: ulimit -n leaves no descriptor free");
    assert!(log.iter().any(|line| warned(&line)), "{log:#?}");
}

/// Every line the server writes while serving starts with when it was
/// written, in the access log's form, so that an operator can line up a
/// warning, a request and the shutdown: here the start's warning, an
/// access line, and the shutdown's two lines, the last written as the
/// process ends.
#[test]
fn every_line_the_server_logs_is_stamped() {
    // A small budget, so that no container's memory limit adds a warning.
    let args = ["--max-connections", "100", "--max-buffered-total", "16m"];
    let mut server = Child::start(Log::Read, Some("-n 200"), &args);
    assert_eq!(get(server.addr, "/healthz").status, 200);
    server.terminate();
    let log = server.exits_zero_having(" ended before the drain timeout, 0 cut");
    let said: Vec<&str> = log.iter().map(|l| after_stamp(l, server.started)).collect();
    let starts = |start: &str| said.iter().filter(|l| l.starts_with(start)).count();
    assert_eq!(
        starts("backpressure: warning: ulimit -n is 200"),
        1,
        "{log:#?}"
    );
    assert_eq!(starts("127.0.0.1:"), 1, "the access line: {log:#?}");
    assert_eq!(starts("backpressure: shutting down: "), 1, "{log:#?}");
    assert_eq!(starts("backpressure: shut down in "), 1, "{log:#?}");
    assert_eq!(said.len(), 4, "{log:#?}");
}

/// The start's memory warnings under a `ulimit -v` of 1 GiB, where `args`
/// set the caps and `MALLOC_ARENA_MAX` is `arenas`: "1", so that what is
/// in use at the warning does not depend on which of the server's first
/// threads has reserved a 64 MiB malloc arena of its own by then.
fn memory_warnings(arenas: &str, args: &[&str]) -> Vec<String> {
    memory_warnings_in(&[("MALLOC_ARENA_MAX", arenas)], args)
}

/// [`memory_warnings`] with the environment `env`.
fn memory_warnings_in(env: &[(&str, &str)], args: &[&str]) -> Vec<String> {
    let mut server = Child::start_with(Log::Read, Some("-v 1048576"), env, args);
    // Logged before the address is announced; the summary at SIGTERM is
    // the log's last line, so the log up to it has it all.
    server.terminate();
    let log = server.exits_zero_having("0 connections ended before the drain timeout, 0 cut");
    let warned = |line: &String| line.contains("warning:") && line.contains("bytes more of");
    log.into_iter().filter(warned).collect()
}

/// The buffer budget is a bound only if the process has the memory for
/// it: under a `ulimit -v` with less room than `--max-buffered-total`, a
/// few big `buffer` exports would make an allocation fail and abort the
/// server, so `serve` says so at start, and that no connection fits
/// beside it. A budget that fits, with few enough connections, is not
/// warned of.
#[test]
fn a_budget_the_memory_limit_cannot_hold_is_warned_of() {
    let warnings = memory_warnings("1", &["--max-buffered-total", "1g"]);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let warning = &warnings[0];
    // The limit named is the one short by the most: this ulimit, or a
    // container's smaller one where the test runs in such a container.
    let named = [
        "ulimit -v is 1073741824 bytes",
        "the memory.max of cgroup /",
    ];
    assert!(named.iter().any(|n| warning.contains(n)), "{warning}");
    assert!(
        warning.contains("--max-buffered-total 1073741824;")
            && warning.contains("not one connection fits beside --max-buffered-total"),
        "{warning}"
    );
    let fits = ["--max-buffered-total", "64m", "--max-connections", "8"];
    assert_eq!(memory_warnings("1", &fits), Vec::<String>::new());
}

/// The caps bound more than the budget: each connection may hold an HTTP/2
/// connection's threads (34 of them with 256 KiB stacks, 32 producers
/// with 64 KiB) and its streams' flat buffers, about 16 MiB of address
/// space, so 256 of them need 4 GiB however small the budget, and
/// malloc's arenas 64 MiB each beyond the first. Under 1 GiB the warning
/// says so in one line, with figures that add up and the number of
/// connections that fit; one fewer than that is not warned of.
#[test]
fn caps_whose_envelope_the_memory_limit_cannot_hold_are_warned_of() {
    let warnings = memory_warnings("1", &["--max-buffered-total", "64m"]);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let warning = &warnings[0];
    assert!(
        warning.contains("ulimit -v is 1073741824 bytes")
            && warning.contains(" of address space: "),
        "{warning}"
    );
    let room: u64 = number_after(warning, " in use, ", " left");
    let need: u64 = number_after(warning, " may take ", " bytes more");
    let per_connection: u64 = number_after(warning, " of address space: ", " for each of");
    let budget: u64 = 64 << 20;
    assert_eq!(need, 256 * per_connection + budget, "{warning}");
    // At least the stacks of its 32 stream threads, the most it may have.
    let stacks = backpressure::MAX_STREAM_THREADS as u64 * (256 << 10);
    assert!(per_connection > stacks, "{warning}");
    let fit: u64 = number_after(warning, "lower --max-connections to ", " or less");
    assert_eq!(fit, (room - budget) / per_connection, "{warning}");
    assert!((2..256).contains(&fit), "{warning}");
    // One fewer, so that a few pages more in use at this start cannot tip it.
    let fewer = (fit - 1).to_string();
    let args = ["--max-buffered-total", "64m", "--max-connections", &fewer];
    assert_eq!(memory_warnings("1", &args), Vec::<String>::new());
    // Each malloc arena past the first reserves 64 MiB of address space.
    let warnings = memory_warnings("3", &["--max-buffered-total", "64m"]);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let with_arenas: u64 = number_after(&warnings[0], " may take ", " bytes more");
    assert_eq!(with_arenas, need + 2 * (64 << 20), "{}", warnings[0]);
    assert!(warnings[0].contains(", 134217728 for 2 malloc arenas and"));
    // glibc's tunable wins over its older alias, and the envelope reads
    // the two as glibc does.
    let tunable = [
        ("MALLOC_ARENA_MAX", "1"),
        ("GLIBC_TUNABLES", "glibc.malloc.arena_max=3"),
    ];
    let warnings = memory_warnings_in(&tunable, &["--max-buffered-total", "64m"]);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains(", 134217728 for 2 malloc arenas and"),
        "{}",
        warnings[0]
    );
}

/// The flat modes' buffers are few and small, but each is `--chunk-bytes`
/// in one piece, made for the request: under a `ulimit -v` with less room
/// than that, the OS refuses the memory, and an allocation that cannot
/// fail would abort the server, every connection with it. Each flat mode
/// answers a 503 instead, before its head, with `Retry-After` and a
/// one-line reason, logged too, and the server goes on serving; so does
/// `buffer`, whose body, far under the caps, the OS cannot hold now (a 503
/// that says to retry, not a 400 that says no retry helps). The
/// limit is the server's own address space at rest, measured first, and
/// 8 MiB: room for a connection's thread and small allocations, not for a
/// 16 MiB chunk. Both servers have one malloc arena: a thread's own arena
/// reserves 64 MiB that VmSize counts at once, and a chunk carved from it
/// later would cost no more address space, the refusal left to chance.
#[test]
fn an_export_the_memory_limit_cannot_hold_is_a_503_not_an_abort() {
    let args = ["--chunk-bytes", "16m", "--channel-depth", "0"];
    let one_arena = [("MALLOC_ARENA_MAX", "1")];
    // `VmSize:    137796 kB`: what `ulimit -v` counts, in its unit.
    let vm_size_kib = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let unlimited = Child::start_with(Log::Read, None, &one_arena, &args);
    let at_rest = vm_size_kib(unlimited.process.0.id());
    drop(unlimited);
    let limit = format!("-v {}", at_rest + 8 * 1024);
    let mut server = Child::start_with(Log::Read, Some(&limit), &one_arena, &args);
    let ask = |target: &str| {
        let mut client = TcpStream::connect(server.addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        client.write_all(request.as_bytes()).unwrap();
        let mut wire = Vec::new();
        let _ = client.read_to_end(&mut wire);
        String::from_utf8_lossy(&wire).into_owned()
    };
    let reason = "not enough memory for this export's buffers now; retry later\n";
    for mode in ["pipeline", "bounded"] {
        let wire = ask(&format!("/export.csv?rows=1000&mode={mode}"));
        assert!(wire.starts_with("HTTP/1.1 503 "), "{mode}: {wire:?}");
        assert!(wire.contains("\r\nRetry-After: 1\r\n"), "{mode}: {wire:?}");
        assert!(
            wire.ends_with(&format!("\r\n\r\n{reason}")),
            "{mode}: {wire:?}"
        );
    }
    // 54 MB: under the caps, over the 8 MiB of room.
    let wire = ask("/export.csv?rows=1000000&mode=buffer");
    assert!(wire.starts_with("HTTP/1.1 503 "), "{wire:?}");
    assert!(wire.contains("\r\nRetry-After: 1\r\n"), "{wire:?}");
    let in_memory = "cannot buffer a 54027933-byte export in memory; use mode=bounded\n";
    assert!(wire.ends_with(in_memory), "{wire:?}");
    assert!(
        ask("/healthz").starts_with("HTTP/1.1 200 "),
        "still serving"
    );
    server.terminate();
    let log = server.exits_zero_having("0 cut");
    let said = format!("backpressure: {}", reason.trim_end());
    let refusals = log
        .iter()
        .filter(|l| after_stamp(l, server.started) == said);
    let refusals = refusals.count();
    assert_eq!(refusals, 2, "{log:#?}");
}

/// With stderr never read, the pipe fills after a few hundred lines; a
/// server that logged synchronously would hang there. Every request is
/// answered in time, at the cap too, and the log drops what it cannot
/// write. Nor does the full pipe hold up the exit: the logger, stuck in a
/// write, is the one thread a shutdown does not wait for past 2 s.
#[test]
fn an_unread_log_never_stalls_the_server() {
    let mut server = Child::start(Log::Unread, None, &["--max-connections", "8"]);
    let addr = server.addr;
    let mut asked_again = 0;
    for i in 0..1_500 {
        let what = format!("request {i}");
        answered_in_time(addr, "/healthz", 200, &what, &mut asked_again);
    }
    // Fill the cap with downloads that read nothing but their status line.
    // A connection of the loop above may still hold a slot for a moment,
    // and a download refused meanwhile (503) is simply asked again.
    let target = "/export.csv?rows=7000000&mode=bounded";
    let mut stalled: Vec<TcpStream> = Vec::new();
    while stalled.len() < 8 {
        let served = wait_until("a download to be served", Duration::from_secs(10), || {
            let mut download = stalled_request(addr, target);
            let mut first = [0u8; 12];
            download
                .read_exact(&mut first)
                .expect("the download's head");
            (&first == b"HTTP/1.1 200").then_some(download)
        });
        stalled.push(served);
    }
    for i in 0..100 {
        let what = format!("request {i} over the cap");
        answered_in_time(addr, "/", 503, &what, &mut asked_again);
    }
    drop(stalled);
    let m: Metrics = wait_until("the cap to free", Duration::from_secs(10), || {
        let m = common::try_metrics(addr)?;
        (m.value("backpressure_connections_active") == 1.0).then_some(m)
    });
    let dropped = m.value(LINES_DROPPED_QUEUE_FULL);
    assert!(dropped > 0.0, "1,600 lines cannot all fit a full pipe");
    // Nothing to drain: the exit waits only for the logger, 2 s at most,
    // and a loaded machine gets as long again.
    let signalled = Instant::now();
    server.terminate();
    let status = server.exit_within(Duration::from_secs(10));
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(
        took < Duration::from_secs(4),
        "exited {took:?} after the signal, its log unread"
    );
}

/// A stderr its parent made non-blocking answers a write with `EAGAIN`
/// when it is full: its reader is behind, not gone. The logger waits for
/// room, as on a blocking stderr, and the queue holds what comes
/// meanwhile: here 100 lines of 7 KB each (700 KB, more than the socket
/// holds) logged while the reader stalls all arrive, each whole and once,
/// and none is counted as failed. Failed before the fix: the lines past
/// the socket's room were dropped as `write-failed`, with the queue empty.
#[test]
fn a_non_blocking_log_loses_no_line_while_its_reader_stalls() {
    let mut server = Child::start(Log::NonBlockingSocket, None, &[]);
    let long = "a".repeat(7000);
    for i in 0..100 {
        assert_eq!(get(server.addr, &format!("/{i:03}{long}")).status, 404);
    }
    let reader = UnixStream::from(server._unread.take().expect("the log's reader"));
    let (send, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let mut logged = Vec::new();
    while logged.len() < 100 {
        let Ok(line) = lines.recv_timeout(Duration::from_secs(10)) else {
            panic!("{} of 100 lines arrived", logged.len());
        };
        if line.contains(&long) {
            logged.push(line);
        }
    }
    // In the order the connections' threads logged, not always the
    // requests' own.
    let mut numbers: Vec<usize> = logged
        .iter()
        .map(|line| {
            let number = number_after(line, "\"GET /", "a");
            let whole = format!("\"GET /{number:03}{long} HTTP/1.1\" 404 ");
            assert!(line.contains(&whole), "{line:.200}");
            assert!(line.ends_with("end=complete"), "{line:.200}");
            number
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..100).collect::<Vec<_>>());
    let failed = "backpressure_log_lines_dropped_total{reason=\"write-failed\"}";
    assert_eq!(metrics(server.addr).value(failed), 0.0);
}

/// A log whose reader falls behind loses nothing a shutdown owes it. Its
/// queue full when the server stops, the stop waits for room (for `serve`'s
/// `LOG_FLUSH_TIMEOUT` at most) rather than giving up: the queued lines are
/// written, more than the queue holds arriving in all with the pipe's,
/// then the summary, which `line()` would have dropped as it does any line
/// that finds the queue full. The reader here catches up only once the
/// stop waits: the rejecter joined, so the drain is over, and the main
/// thread, which ran the accept loop, seen twice in one system call:
/// asleep between tries.
#[test]
fn a_log_read_late_gets_its_queued_lines_and_the_summary_last() {
    let mut server = Child::start(Log::Unread, None, &[]);
    let addr = server.addr;
    let full = (0..10_000).any(|i| {
        get(addr, "/healthz");
        i % 100 == 99 && metrics(addr).value(LINES_DROPPED_QUEUE_FULL) > 0.0
    });
    assert!(full, "the log never filled");
    let pid = server.process.0.id();
    server.terminate();
    wait_until_with("the stop to wait for room", Duration::from_secs(10), || {
        let exited = server.process.0.try_wait().expect("waitpid");
        assert!(exited.is_none(), "exited with the log unread: {exited:?}");
        let names = thread_names(pid)?;
        if names.iter().any(|name| name == "rejecter") {
            return Err(format!("still serving: {names:?}"));
        }
        the_same_twice("the main thread to wait", || {
            thread_waits_in(pid, "backpressure")
        });
        Ok(())
    });
    let reader = std::fs::File::from(server._unread.take().expect("the log's reader"));
    // Read to the end on a thread: a server that never exits must fail the
    // test, not hang it.
    let (send, read) = mpsc::channel();
    thread::spawn(move || {
        let lines = BufReader::new(reader).lines().map_while(Result::ok);
        let _ = send.send(lines.collect::<Vec<String>>());
    });
    assert_eq!(server.exit_within(Duration::from_secs(10)).code(), Some(0));
    let log = read
        .recv_timeout(Duration::from_secs(10))
        .expect("the log's end, once the server has exited");
    let summary = log.last().expect("a log");
    assert!(summary.contains("backpressure: shut down"), "{summary}");
    let requests = log.iter().filter(|l| l.contains("\"GET /healthz ")).count();
    assert!(
        requests > backpressure::LOG_QUEUE_LINES,
        "{requests} request lines: the queue's {} and the pipe's",
        backpressure::LOG_QUEUE_LINES
    );
}

/// How an exit at once is asked for.
#[derive(Debug, Clone, Copy)]
enum ExitAtOnce {
    /// SIGTERM, then again past [`SAME_REQUEST`]: 128 + 15.
    SecondSignal,
    /// SIGABRT: death by it.
    Abort,
    /// `--exit-on-stdin-eof`'s stdin closed: 0.
    StdinClosed,
}

/// An exit at once does not wait for a log nobody reads. Its line is the
/// last thing it writes before it goes; written as the log's are, to a
/// pipe or socket whose reader has stalled, it would wait for room
/// forever, the process neither serving (the first signal stopped that)
/// nor gone, and a download it had cut would hang, not end in a reset.
/// The line is lost instead. Each exit in turn, on a stderr that is a
/// pipe, and the second signal on a socket, as journald gives a service.
#[test]
fn an_exit_at_once_never_waits_for_an_unread_log() {
    let cases = [
        (Log::Unread, ExitAtOnce::SecondSignal),
        (Log::Unread, ExitAtOnce::Abort),
        (Log::Unread, ExitAtOnce::StdinClosed),
        (Log::UnreadSocket, ExitAtOnce::SecondSignal),
    ];
    thread::scope(|scope| {
        for (log, exit) in cases {
            scope.spawn(move || exits_at_once_on_an_unread_log(log, exit));
        }
    });
}

fn exits_at_once_on_an_unread_log(log: Log, exit: ExitAtOnce) {
    // No core file left behind by the abort, where core dumps are on.
    let mut server = Child::start(log, Some("-c 0"), &[]);
    let addr = server.addr;
    // The logger waits in a write once stderr is full, and only then does
    // its queue fill and drop a line.
    let full = (0..10_000).any(|i| {
        get(addr, "/healthz");
        i % 100 == 99 && metrics(addr).value(LINES_DROPPED_QUEUE_FULL) > 0.0
    });
    assert!(full, "{exit:?}: the log never filled");
    let client = download(addr, "HTTP/1.0", 7_000_000, 200_000);
    let expected = match exit {
        ExitAtOnce::SecondSignal => {
            server.terminate();
            // The handler noted the first's time as it began.
            server.wait_until_sigterm_taken();
            thread::sleep(SAME_REQUEST);
            server.terminate();
            Some(128 + 15)
        }
        ExitAtOnce::Abort => {
            server.signal("ABRT");
            None
        }
        ExitAtOnce::StdinClosed => {
            server.close_stdin();
            Some(0)
        }
    };
    let status = server.exit_within(Duration::from_secs(10));
    assert_eq!(status.code(), expected, "{exit:?}: {status:?}");
    if expected.is_none() {
        assert_eq!(status.signal(), Some(6), "{exit:?}: {status:?}");
    }
    ends_in_a_reset(client);
}

/// The series that counts lines dropped for a full log queue.
const LINES_DROPPED_QUEUE_FULL: &str =
    "backpressure_log_lines_dropped_total{reason=\"queue-full\"}";

/// Reads an HTTP/1.1 response at about `bytes_per_second`, to its end,
/// saying on `flowing` when its first bytes have come.
fn read_at(
    mut stream: TcpStream,
    bytes_per_second: u64,
    flowing: mpsc::Sender<()>,
) -> std::io::Result<Vec<u8>> {
    let mut flowing = Some(flowing);
    let started = Instant::now();
    let mut wire = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let due = Duration::from_secs_f64(wire.len() as f64 / bytes_per_second as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            thread::sleep(wait);
        }
        match stream.read(&mut buf)? {
            0 => return Ok(wire),
            n => wire.extend_from_slice(&buf[..n]),
        }
        if let Some(flowing) = flowing.take() {
            let _ = flowing.send(());
        }
    }
}

/// Starts a download of `rows` rows read at `bytes_per_second`, and returns
/// once its first bytes have come: the server has taken the connection and
/// is in the middle of the body.
fn download(
    addr: SocketAddr,
    version: &str,
    rows: u64,
    bytes_per_second: u64,
) -> thread::JoinHandle<std::io::Result<Vec<u8>>> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    // A server that stops sending without closing fails the download
    // instead of hanging the thread the test joins.
    let silence = Some(Duration::from_secs(30));
    stream.set_read_timeout(silence).expect("a read timeout");
    let request = format!("GET /export.csv?rows={rows} {version}\r\nHost: t\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let (flowing, first_bytes) = mpsc::channel();
    let client = thread::spawn(move || read_at(stream, bytes_per_second, flowing));
    let started = first_bytes.recv_timeout(Duration::from_secs(10));
    assert!(started.is_ok(), "no byte of the download within 10 s");
    client
}

/// A closed terminal's SIGHUP and a Ctrl-C's SIGINT, whose default action
/// kills the process on the spot (every response in flight ended by the
/// exit's FIN, which makes a cut HTTP/1.0 body look whole), ask for the
/// same graceful shutdown as SIGTERM: the shutdown's lines, and exit 0.
/// (Both at their default at start, however the tests were run:
/// [`Child::start_after`]; one ignored at start is
/// `a_hangup_or_interrupt_ignored_at_start_stays_ignored`.)
#[test]
fn sighup_and_sigint_shut_down_as_sigterm_does() {
    for signal in ["HUP", "INT"] {
        let mut server = Child::start(Log::Read, None, &[]);
        let healthz = get(server.addr, "/healthz");
        assert_eq!(healthz.status, 200);
        server.signal(signal);
        server.log_until(Duration::from_secs(5), |l| l.contains("shutting down"));
        server.exits_zero_having(": 0 connections ended before the drain timeout, 0 cut");
    }
}

/// `nohup` starts a server with SIGHUP ignored, and a shell without job
/// control starts a background command with SIGINT ignored: each asks that
/// a closed terminal's hangup, or a Ctrl-C meant for the foreground, not
/// stop it. Both stay ignored (the kernel discards them: `SigIgn` in
/// `/proc`), so the server goes on serving; SIGTERM, a service manager's
/// stop, is taken all the same, even ignored at start (as here: a stop
/// that did nothing would wait out the manager's kill timeout, then
/// SIGKILL every download), and as the first signal: had the SIGHUP or
/// SIGINT been taken, a SIGTERM 200 ms later would be an operator's
/// second, and exit 143 at once.
#[test]
fn a_hangup_or_interrupt_ignored_at_start_stays_ignored() {
    let mut server = Child::start_after(Log::Read, "trap '' HUP INT TERM USR1 ABRT; ", &[], &[]);
    server.ignores_hup_and_int_and_takes_term();
    // So for any other signal a parent ignored, but an abort, which std
    // raises for an allocation that fails whatever was ignored.
    let (usr1, abrt) = (1u64 << 9, 1u64 << 5);
    let (ignored, caught, status) = signal_masks(server.process.0.id());
    assert_eq!(
        (ignored & (usr1 | abrt), caught & (usr1 | abrt)),
        (usr1, abrt),
        "{status}"
    );
    server.signal("HUP");
    server.signal("INT");
    thread::sleep(SAME_REQUEST);
    assert_eq!(get(server.addr, "/healthz").status, 200);
    server.terminate();
    server.log_until(Duration::from_secs(5), |l| l.contains("shutting down"));
    server.exits_zero_having(": 0 connections ended before the drain timeout, 0 cut");
}

/// The same with no descriptor free at start (`ulimit -n 4`: stdin,
/// stdout, stderr and the listener): what was ignored is asked of the
/// kernel, not read from a file in `/proc` there is no descriptor to open,
/// or no `/proc` to open it in. The server warns of the limit, and goes on.
#[test]
fn a_hangup_ignored_at_start_stays_ignored_with_no_descriptor_free() {
    let server = Child::start_after(Log::Read, "trap '' HUP INT; ulimit -n 4 && ", &[], &[]);
    server.log_until(Duration::from_secs(5), |l| l.contains("no descriptor free"));
    server.ignores_hup_and_int_and_takes_term();
}

/// A handler put in place before `main` (a preloaded profiler's SIGPROF,
/// ticking many times a second) is not the default action, and that one
/// kills: the server leaves it, rather than die at the first tick. The
/// library here, built with the test's own `rustc`, catches SIGPROF with a
/// handler that does nothing, from a constructor, as such a profiler does.
#[test]
fn a_handler_found_at_start_is_left_in_place() {
    let library = preloadable("profiler_tick", PROFILER_TICK);
    let mut server = start_preloading(&library);
    for _ in 0..3 {
        server.signal("PROF");
        assert_eq!(get(server.addr, "/healthz").status, 200);
    }
    server.terminate();
    server.log_until(Duration::from_secs(5), |l| l.contains("shutting down"));
    server.exits_zero_having(": 0 connections ended before the drain timeout, 0 cut");
}

/// Builds `source`, a `no_std` library whose constructor runs in the main
/// thread before `main`, with the test's own `rustc`, and returns its path,
/// for `LD_PRELOAD`: how a test sets up a process as its parent or a
/// preloaded library would, where std's `Command` starts every child with
/// its mask cleared (and `exec` resets every handler). `LD_PRELOAD` splits
/// its list at spaces and colons, so the library goes into the target's
/// folder for tests unless its path has one (a clone in `My Projects`),
/// then into the system's; either way it is named for this process, its
/// source removed once built, and itself once loaded ([`start_preloading`]).
fn preloadable(name: &str, source: &str) -> String {
    let system = std::env::temp_dir().to_string_lossy().into_owned();
    let folder = [env!("CARGO_TARGET_TMPDIR").to_string(), system]
        .into_iter()
        .find(|folder| !folder.contains([' ', ':']))
        .expect("a temporary folder LD_PRELOAD can name");
    let library = format!("{folder}/backpressure-{name}-{}.so", std::process::id());
    let path = format!("{library}.rs");
    std::fs::write(&path, source).expect("the library's source");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let built = Command::new(rustc)
        .args([
            "--edition=2024",
            "--crate-type=cdylib",
            "--crate-name",
            name,
        ])
        .args(["-Cpanic=abort", "-o", &library, &path])
        .status();
    assert!(built.is_ok_and(|s| s.success()), "rustc {path}");
    let _ = std::fs::remove_file(&path);
    library
}

/// [`Child::start`] with `library` ([`preloadable`]) preloaded, and shown
/// to be: the loader skips a library it cannot open with a warning alone,
/// and a test would then check a server started clean, and might pass.
/// `/proc`'s maps name a file by its path with every link resolved.
fn start_preloading(library: &str) -> Child {
    let resolved = std::fs::canonicalize(library).expect("the library's path");
    let server = Child::start_with(Log::Read, None, &[("LD_PRELOAD", library)], &[]);
    let maps = format!("/proc/{}/maps", server.process.0.id());
    let maps = std::fs::read_to_string(maps).expect("the server's maps");
    let loaded = maps.contains(&*resolved.to_string_lossy());
    let _ = std::fs::remove_file(library);
    assert!(loaded, "{library} is not loaded");
    server
}

/// A parent's signal mask survives exec: one that blocks SIGTERM, SIGINT
/// and SIGHUP (a supervisor that blocked them around its `fork`, and did
/// not unblock them in the child) would leave every shutdown signal
/// pending forever, and only a SIGKILL, draining nothing, would end the
/// server. `serve` unblocks the three; the library here blocks them
/// before `main`, as the inherited mask would. Failed before the fix: no
/// shutdown began within 5 s of the SIGTERM.
#[test]
fn a_shutdown_signal_blocked_at_start_is_unblocked() {
    let library = preloadable("blocked_mask", BLOCKED_MASK);
    let mut server = start_preloading(&library);
    let (_, _, status) = signal_masks(server.process.0.id());
    assert!(status.contains("SigBlk:\t0000000000000000"), "{status}");
    server.terminate();
    server.log_until(Duration::from_secs(5), |l| l.contains("shutting down"));
    server.exits_zero_having(": 0 connections ended before the drain timeout, 0 cut");
}

/// A library whose constructor blocks SIGHUP, SIGINT and SIGTERM (bits 0,
/// 1 and 14) in the main thread: a 1024-bit `sigset_t`, `SIG_BLOCK` 0.
const BLOCKED_MASK: &str = r#"
#![no_std]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
unsafe extern "C" { fn pthread_sigmask(how: i32, set: *const [u64; 16], old: *mut [u64; 16]) -> i32; }
extern "C" fn block() {
    let mut set = [0u64; 16];
    set[0] = 1 | 1 << 1 | 1 << 14;
    unsafe { pthread_sigmask(0, &set, core::ptr::null_mut()) };
}
#[used]
#[unsafe(link_section = ".init_array")]
static BLOCK: extern "C" fn() = block;
"#;

/// A library whose constructor gives SIGPROF (27) a handler that does nothing.
const PROFILER_TICK: &str = r#"
#![no_std]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
unsafe extern "C" { fn signal(signal: i32, handler: extern "C" fn(i32)) -> usize; }
extern "C" fn tick(_: i32) {}
extern "C" fn install() { unsafe { signal(27, tick) }; }
#[used]
#[unsafe(link_section = ".init_array")]
static INSTALL: extern "C" fn() = install;
"#;

/// Every signal whose default action kills is caught, and no other: the
/// shutdown's three, SIGXFSZ, std's SIGSEGV and SIGBUS, and the rest
/// (each listed here by number, apart from `src/sys/exit_line.rs`'s list):
/// not SIGKILL, SIGSTOP, SIGTRAP (a debugger's), SIGPIPE (which std
/// ignores), nor one whose default is to stop, continue or be discarded.
#[test]
fn every_signal_that_kills_is_caught() {
    let server = Child::start(Log::Read, None, &[]);
    let (_, caught, status) = signal_masks(server.process.0.id());
    // The real-time ones, from 32 on, are the C library's to take or not.
    let caught = caught & 0x7fff_ffff;
    let shutdown_std_and_xfsz = [1, 2, 15, 25, 7, 11];
    let fatal = [3, 4, 6, 8, 10, 12, 14, 16, 24, 26, 27, 29, 30, 31];
    let expected = (shutdown_std_and_xfsz.iter().chain(&fatal)).fold(0u64, |m, n| m | 1 << (n - 1));
    assert_eq!(
        caught, expected,
        "caught {caught:x}, not {expected:x}: {status}"
    );
}

impl Child {
    /// Asserts that the server keeps SIGHUP and SIGINT ignored and has a
    /// handler for SIGTERM.
    fn ignores_hup_and_int_and_takes_term(&self) {
        // Bit n - 1 for signal n: SIGHUP is 1, SIGINT 2, SIGTERM 15.
        let (hup, int, term) = (1u64, 1u64 << 1, 1u64 << 14);
        let (ignored, caught, status) = signal_masks(self.process.0.id());
        assert_eq!(ignored & (hup | int), hup | int, "{status}");
        assert_eq!(caught & (hup | int | term), term, "{status}");
    }
}

/// The signals process `pid` ignores and the ones it has a handler for
/// (`SigIgn` and `SigCgt` in its `/proc` status: bit n - 1 for signal n),
/// with that status, to show.
fn signal_masks(pid: u32) -> (u64, u64, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("a status");
    let mask = |name: &str| {
        (status.lines())
            .find_map(|l| l.strip_prefix(name))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .expect("a signal mask line")
    };
    (mask("SigIgn:"), mask("SigCgt:"), status)
}

/// SIGTERM in the middle of a 13.5 MB download at 8 MiB/s: the listener
/// closes at once, the download completes byte for byte, and the process
/// exits 0 with one line saying so. 1.6 s of reading is ample: the signal
/// lands as the first bytes arrive, when the server's queue and the two
/// kernels' buffers hold a small part of the body, so the drain renders
/// most of it. (A bigger body would take longer and prove no more.)
#[test]
fn sigterm_lets_a_download_drain_and_exits_zero() {
    let server = Child::start(Log::Read, None, &[]);
    let rows = 250_000;
    let client = download(server.addr, "HTTP/1.1", rows, 8 << 20);
    server.terminate();
    let began = server.log_until(Duration::from_secs(5), |l| l.contains("shutting down"));
    let began = began.last().expect("the line that ended the wait");
    assert!(
        began.contains("; 1 open, draining for up to 30000 ms"),
        "{began}"
    );
    let refused = TcpStream::connect(server.addr).map_err(|e| e.kind());
    assert_eq!(refused.err(), Some(ErrorKind::ConnectionRefused));
    arrives_drained(server, client, rows);
}

/// One shutdown request sent twice within a moment is one request: GNU
/// `timeout` sends SIGTERM to its child and then to the child's process
/// group, microseconds apart, and so does anything that signals a process
/// and its group. A handler that runs between the two must not take the
/// second for an operator's second signal (exit 143 at once, every
/// download cut). Here the second is sent as soon as the first is taken,
/// so the handler has begun in between: that race's losing case, every
/// time.
#[test]
fn one_sigterm_sent_twice_at_once_is_one_request() {
    let server = Child::start(Log::Read, None, &[]);
    let rows = 250_000;
    let client = download(server.addr, "HTTP/1.1", rows, 8 << 20);
    server.terminate();
    server.wait_until_sigterm_taken();
    server.terminate();
    server.log_until(Duration::from_secs(5), |l| l.contains("shutting down"));
    arrives_drained(server, client, rows);
}

/// The download of `rows` that a shutdown let drain arrives whole, and the
/// server exits 0, its summary counting it ended, its line `end=complete`.
fn arrives_drained(
    mut server: Child,
    client: thread::JoinHandle<std::io::Result<Vec<u8>>>,
    rows: u64,
) {
    let wire = client
        .join()
        .expect("the client thread")
        .expect("the download");
    let body_at = wire
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    assert!(wire.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let body = decode_chunked(&wire[body_at..]).expect("a complete chunked body");
    assert_same_bytes(&body, &reference_csv(rows), "the drained download");
    let log = server.exits_zero_having(": 1 connection ended before the drain timeout, 0 cut");
    assert!(log.iter().any(|l| l.ends_with(" end=complete")), "{log:?}");
}

/// A client that connected and sent nothing does not hold up a shutdown
/// until its head deadline (a minute here): it is closed at once, with no
/// response, while a request already begun on another connection is
/// answered in full.
#[test]
fn sigterm_closes_a_connection_that_never_asked() {
    let mut server = Child::start(Log::Read, None, &["--header-timeout", "60s"]);
    let mut silent = TcpStream::connect(server.addr).expect("connect");
    // A head begun but not finished: a request, which the drain waits for.
    let mut begun = TcpStream::connect(server.addr).expect("connect");
    begun.write_all(b"GET /healthz HTTP/1.1\r\n").expect("send");
    // Both connections served (each has its thread) before the signal.
    let healthz = get(server.addr, "/healthz");
    assert_eq!(healthz.status, 200);
    server.terminate();
    server.log_until(Duration::from_secs(5), |l| l.contains("shutting down"));
    // At once: the connection looks up every 100 ms (`IDLE_CHECK`); 10 s
    // leaves room for a loaded machine, not for waiting out the minute.
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let mut reply = Vec::new();
    let since_the_line = Instant::now();
    let read = silent.read_to_end(&mut reply);
    assert!(
        read.is_ok(),
        "not closed within 10 s of the signal: {read:?}"
    );
    // Within ten of its looks of the shutdown's line: a connection that
    // looked once a second would not be.
    let took = since_the_line.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "closed {took:?} after the shutdown's line"
    );
    assert!(reply.is_empty(), "{:?}", String::from_utf8_lossy(&reply));
    assert!(server.still_running(), "it waits for the request begun");
    begun.write_all(b"Host: t\r\n\r\n").expect("send the rest");
    let mut answer = Vec::new();
    begun.read_to_end(&mut answer).expect("the answer");
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
    // The silent connection, closed unanswered, counts with the answered
    // one as ended, not "drained", since it had nothing to drain; what
    // each came to is its log line's `end=`.
    server.exits_zero_having(": 2 connections ended before the drain timeout, 0 cut");
}

/// A download that would take half an hour does not hold up a shutdown
/// past `--drain-timeout`, nor is it cut before: it is cut with a reset,
/// which even an HTTP/1.0 client (whose body ends at the close) can tell
/// from a complete body.
#[test]
fn the_drain_timeout_cuts_a_long_download_and_exits() {
    let mut server = Child::start(Log::Read, None, &["--drain-timeout", "1s"]);
    // 385 MB at 200 KB/s: about half an hour.
    let client = download(server.addr, "HTTP/1.0", 7_000_000, 200_000);
    server.terminate();
    let status = server.exit_within(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    ends_in_a_reset(client);
    let log = server.log_until(Duration::from_secs(2), |l| l.contains("shut down"));
    let summary = log.last().expect("a summary line");
    assert!(
        summary.contains(": 0 connections ended before the drain timeout, 1 cut"),
        "{summary}"
    );
    // The server's own count, from the signal to the exit (`shut down in
    // 1.0 s: …`): the whole 1 s of draining, and not much more, however
    // slowly this test's thread saw the exit: short of twice it, as a
    // drain that waited the timeout over would take.
    let took: f64 = number_after(summary, "shut down in ", " s");
    assert!(
        (1.0..2.0).contains(&took),
        "not cut at the 1 s drain timeout: {summary}"
    );
    assert!(
        log.iter().any(|l| l.ends_with(" end=drain-timeout")),
        "{log:?}"
    );
}

/// A slow download ([`download`]) that the server's exit cut: its client's
/// read fails with a reset, never a clean close, which would pass an
/// HTTP/1.0 body for a whole one.
fn ends_in_a_reset(client: thread::JoinHandle<std::io::Result<Vec<u8>>>) {
    let error = match client.join().expect("the client thread") {
        Ok(wire) => panic!("a clean close after {} bytes, not a reset", wire.len()),
        Err(error) => error,
    };
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
}

/// `--exit-on-stdin-eof` ends the server at once when its stdin closes
/// (the demo that started it is gone), but a download in flight must not
/// end in the FIN of the process's exit: an HTTP/1.0 body ends at the
/// close, and would look whole. It ends in a reset, as at a second signal,
/// and one line says why the server went.
#[test]
fn stdin_closing_cuts_a_download_with_a_reset() {
    let mut server = Child::start(Log::Read, None, &[]);
    // 385 MB at 200 KB/s: about half an hour.
    let client = download(server.addr, "HTTP/1.0", 7_000_000, 200_000);
    server.close_stdin();
    let status = server.exit_within(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    ends_in_a_reset(client);
    let log = server.log_until(Duration::from_secs(2), |l| l.contains("stdin closed"));
    let last = after_stamp(log.last().expect("a line"), server.started);
    assert!(last.starts_with("backpressure: stdin closed"), "{last}");
    assert!(last.ends_with("cut with a reset"), "{last}");
}

/// An abort (SIGABRT: std's end for an allocation that fails, as under a
/// `ulimit -v` the caps do not fit, or a watchdog's `kill -ABRT`) ends the
/// process on the spot, and the exit closes every socket: a download in
/// flight must not end in that close's FIN, which would pass an HTTP/1.0
/// body for a whole one. It ends in a reset, as at a second signal; one
/// line says so, and the process still dies of the abort. So for every
/// other signal whose default action kills: Ctrl-\'s SIGQUIT, an
/// operator's `kill -USR1` (nginx's "reopen the logs"), a soft CPU
/// limit's SIGXCPU (`ulimit -S -t`), here with an abort. (At a
/// hard limit, as a bare `ulimit -t` sets both, the kernel sends SIGKILL.)
#[test]
fn an_abort_or_a_signal_that_kills_cuts_a_download_with_a_reset() {
    let cases = [
        ("ABRT", 6, "backpressure: aborting: "),
        ("QUIT", 3, "backpressure: SIGQUIT: dying of it; "),
        ("USR1", 10, "backpressure: SIGUSR1: dying of it; "),
        ("XCPU", 24, "backpressure: SIGXCPU: dying of it; "),
    ];
    thread::scope(|scope| {
        for (name, number, said) in cases {
            scope.spawn(move || {
                // No core file left behind where core dumps are on.
                let mut server = Child::start(Log::Read, Some("-c 0"), &[]);
                // 385 MB at 200 KB/s: about half an hour.
                let client = download(server.addr, "HTTP/1.0", 7_000_000, 200_000);
                server.signal(name);
                let status = server.exit_within(Duration::from_secs(10));
                assert_eq!(status.signal(), Some(number), "{name}: {status:?}");
                ends_in_a_reset(client);
                let log = server.log_until(Duration::from_secs(2), |l| l.contains("with a reset"));
                let last = after_stamp(log.last().expect("a line"), server.started);
                let cut = "every response still being written is cut with a reset";
                assert_eq!(last, format!("{said}{cut}"), "{name}");
            });
        }
    });
}

/// A client that closed its own side once it asked (as `nc -N` does) is
/// still being written to, and its socket is no less a response in flight
/// for being half closed: cut by the exit at stdin's close, its HTTP/1.0
/// download ends in a reset too, never in the exit's FIN.
#[test]
fn stdin_closing_cuts_a_half_closed_clients_download_with_a_reset() {
    let mut server = Child::start(Log::Read, None, &[]);
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let request = "GET /export.csv?rows=7000000 HTTP/1.0\r\nHost: t\r\n\r\n";
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    stream.shutdown(Shutdown::Write).expect("half-close");
    let (flowing, first_bytes) = mpsc::channel();
    let client = thread::spawn(move || read_at(stream, 200_000, flowing));
    let started = first_bytes.recv_timeout(Duration::from_secs(10));
    assert!(started.is_ok(), "no byte of the download within 10 s");
    server.close_stdin();
    let status = server.exit_within(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    ends_in_a_reset(client);
}

/// The drain timeout cuts an HTTP/2 download too, and the log says so on
/// both of its lines: the stream's (`GET ... HTTP/2`), whose write failed
/// because the shutdown cut the socket, and the connection's (`PRI * ...`),
/// whose read did. Neither is the client going away.
#[test]
fn the_drain_timeout_is_the_reason_logged_for_a_cut_http2_download() {
    let mut server = Child::start(Log::Read, None, &["--drain-timeout", "300ms"]);
    let mut h2 = H2::connect(server.addr, &[]);
    // Stalled by the stream's window of 64 KiB, far inside the send timeout.
    h2.get(1, "GET", "/export.csv?rows=1000000&mode=bounded");
    let head = h2.next_of(HEADERS);
    assert_eq!(head.stream, 1);
    server.terminate();
    let log = server.exits_zero_having(": 0 connections ended before the drain timeout, 1 cut");
    for line in [
        "\"GET /export.csv?rows=1000000&mode=bounded HTTP/2\"",
        "\"PRI * HTTP/2.0\"",
    ] {
        let logged: Vec<&String> = log.iter().filter(|l| l.contains(line)).collect();
        assert_eq!(logged.len(), 1, "{line}: {log:#?}");
        assert!(logged[0].ends_with(" end=drain-timeout"), "{log:#?}");
    }
}

/// The one line of `log` that contains `what`; fails, showing the log,
/// unless there is exactly one.
fn the_line<'l>(log: &'l [String], what: &str) -> &'l str {
    let lines: Vec<&String> = log.iter().filter(|l| l.contains(what)).collect();
    assert_eq!(lines.len(), 1, "{what}: {log:#?}");
    lines[0]
}

/// A small answer over HTTP/2 is cut as an export is: `/healthz`, its
/// three bytes held up by a stream window of zero, is logged
/// `end=drain-timeout`, the reason its stream was ended with, which its
/// failed write carries (`routes::small_sent`): not the client's abort.
#[test]
fn the_drain_timeout_is_the_reason_logged_for_a_cut_small_http2_answer() {
    let mut server = Child::start(Log::Read, None, &["--drain-timeout", "0ms"]);
    let mut h2 = H2::connect(server.addr, &[(INITIAL_WINDOW_SIZE, 0)]);
    h2.get(1, "GET", "/healthz");
    assert_eq!(h2.next_of(HEADERS).stream, 1);
    server.terminate();
    let log = server.exits_zero_having(": 0 connections ended before the drain timeout, 1 cut");
    let line = the_line(&log, "/healthz");
    assert!(line.contains("\" 200 mode=- body_bytes=0 "), "{line}");
    assert!(line.ends_with(" end=drain-timeout"), "{line}");
}

/// A connection sent away by the shutdown whose client has not acknowledged
/// the tail waits for it (`tail_due`, up to `--send-timeout`), so it is
/// still there at the drain timeout: the cut resets it, throwing the tail
/// away, and its line says `end=drain-timeout`, as the summary counts it,
/// though its one stream was written whole before the signal. Closed as
/// soon as its streams were written, it would end before the cut.
#[test]
fn the_drain_timeout_is_the_reason_logged_for_a_cut_unacknowledged_tail() {
    // Without the mark the kernel takes the whole body at once.
    let args = ["--drain-timeout", "300ms", "--notsent-lowat", "off"];
    let mut server = Child::start(Log::Read, None, &args);
    let window = 1 << 24;
    let mut h2 = H2::connect(server.addr, &[(INITIAL_WINDOW_SIZE, window)]);
    h2.window_update(0, window);
    // Read no further: its last 100 KB or more stay unacknowledged.
    h2.get(1, "GET", "/export.csv?rows=5000&mode=bounded");
    let written = server.log_until(Duration::from_secs(10), |l| l.contains("rows=5000"));
    let stream = the_line(&written, "rows=5000");
    assert!(stream.ends_with(" end=complete"), "{stream}");
    server.terminate();
    let log = server.exits_zero_having(": 0 connections ended before the drain timeout, 1 cut");
    let connection = the_line(&log, "\"PRI * ");
    assert!(connection.ends_with(" end=drain-timeout"), "{connection}");
    drop(h2);
}

/// A server for [`take_every_thread_slot`]: the cut comes as the signal
/// is seen; nothing but the cut may end the stalled streams; and the
/// largest chunk (16 MiB) keeps a cancelled channel-mode stream's thread
/// the longest (a cancelled `buffer` render stops within a slice).
const SLOTS_TAKEN_ARGS: [&str; 6] = [
    "--drain-timeout",
    "0ms",
    "--rate-grace",
    "10m",
    "--chunk-bytes",
    "16777216",
];

/// Takes all 32 of the connection's thread slots, then asks for a 33rd
/// stream (`rows=200001`), which must wait for its turn: seventeen
/// cancelled `unbounded` exports, whose producers still render their
/// first 16 MiB chunk (a second or more in a debug build, long after the
/// cut), and fifteen `pipeline` ones of 110 KB, stalled by the stream
/// window of 64 KiB. Returns once the stalled streams' heads have come:
/// every slot is taken, the 33rd stream waits.
fn take_every_thread_slot(h2: &mut H2) {
    let mut out = Vec::new();
    let mut id = 1;
    let rendering = request_block("GET", "/export.csv?rows=400000&mode=unbounded");
    for _ in 0..17 {
        frame(&mut out, HEADERS, END_HEADERS | END_STREAM, id, &rendering);
        frame(&mut out, RST_STREAM, 0, id, &CANCEL.to_be_bytes());
        id += 2;
    }
    let stalled = request_block("GET", "/export.csv?rows=2000&mode=pipeline");
    for _ in 0..15 {
        frame(&mut out, HEADERS, END_HEADERS | END_STREAM, id, &stalled);
        id += 2;
    }
    let waiting = request_block("GET", "/export.csv?rows=200001&mode=buffer");
    frame(&mut out, HEADERS, END_HEADERS | END_STREAM, id, &waiting);
    h2.send(&out);
    let heads = |f: &[Frame]| f.iter().filter(|f| f.kind == HEADERS).count() >= 15;
    h2.frames_until(heads, Duration::ZERO);
}

/// A stream waiting for a thread at the cut never gets its turn: begun
/// after the cut, its handler would hold up the exit. Seventeen cancelled
/// `unbounded` exports, whose producers still render their first 16 MiB
/// chunk (the head, which would fail, waits for it), and fifteen stalled
/// ones fill the 32 thread slots; the 33rd stream waits through the cut,
/// and neither a cancelled render's thread, done after the cut, nor the
/// reader may give it its turn.
///
/// The slots stay taken only while the cancelled renders run: a render
/// that ended before the signal (its line comes before the shutdown's
/// first) gave the 33rd stream its slot before the cut, rightly, and the
/// try tells nothing of the cut. On a loaded machine that happens; such a
/// try is taken again.
#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "timed by a debug build's render: a 16 MiB chunk takes milliseconds in release"
)]
fn a_stream_waiting_for_a_thread_at_the_cut_is_never_taken_on() {
    let log = slots_held_through_the_cut(slots_taken_at_the_cut, " end=drain-timeout");
    assert!(
        !log.iter().any(|l| l.contains("rows=200001")),
        "the 33rd stream was taken on after the cut: {log:#?}"
    );
}

/// The log of the first of five tries of `try_once` that tells of the cut
/// (`None`: a cancelled render ended before the signal), in which the
/// fifteen stalled streams and their connection all ended as `end` says.
fn slots_held_through_the_cut(try_once: fn() -> Option<Vec<String>>, end: &str) -> Vec<String> {
    for _ in 0..5 {
        let Some(log) = try_once() else {
            continue;
        };
        let lines =
            |what: &str| -> Vec<&String> { log.iter().filter(|l| l.contains(what)).collect() };
        let (stalled, connection) = (lines("mode=pipeline"), lines("\"PRI * "));
        assert_eq!((stalled.len(), connection.len()), (15, 1), "{log:#?}");
        for line in stalled.into_iter().chain(connection) {
            assert!(line.ends_with(end), "{line}");
        }
        return log;
    }
    panic!("in 5 tries, a render always ended before the signal: the machine is too slow");
}

/// One try of the test above: every slot taken, then SIGTERM. The log up
/// to the shutdown's summary, the server exited 0; `None` if a cancelled
/// render ended before the signal.
fn slots_taken_at_the_cut() -> Option<Vec<String>> {
    let mut server = Child::start(Log::Read, None, &SLOTS_TAKEN_ARGS);
    let mut h2 = H2::connect(server.addr, &[]);
    take_every_thread_slot(&mut h2);
    server.terminate();
    let log = server.shutdown_log();
    if rendered_before_the_signal(&log) {
        return None;
    }
    let counts = ": 0 connections ended before the drain timeout, 1 cut";
    assert!(log.last().is_some_and(|l| l.contains(counts)), "{log:#?}");
    let status = server.exit_within(Duration::from_millis(1500));
    assert_eq!(status.code(), Some(0));
    Some(log)
}

/// Whether a cancelled `unbounded` render ended, and gave its slot back,
/// before the shutdown began: its line comes before the shutdown's first.
fn rendered_before_the_signal(log: &[String]) -> bool {
    let shutdown = log.iter().position(|l| l.contains("shutting down"));
    let before = &log[..shutdown.unwrap_or(log.len())];
    before.iter().any(|l| l.contains("mode=unbounded"))
}

/// The streams [`six_streams_rendering`] opens.
const SIX_STREAMS: [u32; 6] = [1, 3, 5, 7, 9, 11];

/// A server that cuts at once (`--drain-timeout 0ms`), and an HTTP/2
/// connection to it whose six streams each wait for their producer's first
/// chunk (16 MiB, long in a debug build) before their head; each reset by
/// the client if `reset`. Returns once a PING sent after them is answered:
/// the reader has taken every frame before it.
fn six_streams_rendering(reset: bool) -> (Child, H2) {
    let args = ["--drain-timeout", "0ms", "--chunk-bytes", "16777216"];
    let server = Child::start(Log::Read, None, &args);
    let mut h2 = H2::connect(server.addr, &[]);
    let mut out = Vec::new();
    let rendering = request_block("GET", "/export.csv?rows=400000&mode=unbounded");
    for id in SIX_STREAMS {
        frame(&mut out, HEADERS, END_HEADERS | END_STREAM, id, &rendering);
        if reset {
            frame(&mut out, RST_STREAM, 0, id, &CANCEL.to_be_bytes());
        }
    }
    frame(&mut out, PING, 0, 0, b"all-read");
    h2.send(&out);
    assert_eq!(h2.next_of(PING).payload, b"all-read");
    (server, h2)
}

/// A stream the client reset before the shutdown's cut is the client's
/// abort, even when its thread only learns of the reset after the cut:
/// here each thread waits for its producer's first chunk (16 MiB, long
/// in a debug build) before it sends the head, whose write fails. The
/// PING's answer says the reader had taken every RST_STREAM before the
/// signal was sent; the cut connection says a thread was still busy
/// then. Named by the cut, which their threads meet first, those
/// streams' lines would say `end=drain-timeout`.
#[test]
fn a_stream_the_client_reset_before_the_cut_is_logged_its_abort() {
    let (mut server, _h2) = six_streams_rendering(true);
    server.terminate();
    let log = server.exits_zero_having(": 0 connections ended before the drain timeout, 1 cut");
    let cancelled: Vec<&String> = log.iter().filter(|l| l.contains("rows=400000")).collect();
    assert_eq!(cancelled.len(), SIX_STREAMS.len(), "{log:#?}");
    for line in cancelled {
        assert!(line.contains(" - mode=unbounded body_bytes=0 "), "{line}");
        assert!(line.ends_with(" end=client-abort"), "{line}");
    }
}

/// The same for a whole connection: one whose client closed it before the
/// cut, while its streams' threads still waited for their first chunk, is
/// the client's abort on every line, the connection's (`PRI * ...`) and
/// each stream's, though the connection is over only after the cut; and
/// the summary counts it as ended, not cut, as it counts one whose client
/// reset it. Its thread says so as it meets the close
/// (`Connections::lost_to_cut`): asked only once its streams were joined,
/// after the cut, it would log them all `end=drain-timeout`, and the cut,
/// finding its socket still open (a FIN), would count it.
#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "timed by a debug build's render: a 16 MiB chunk takes milliseconds in release"
)]
fn a_connection_the_client_closed_before_the_cut_is_logged_its_abort() {
    let (mut server, h2) = six_streams_rendering(false);
    // The thread whose end is waited for below is there, by that name:
    // were it named otherwise, the wait would end at once.
    let pid = server.process.0.id();
    let names = thread_names(pid).expect("the server's threads");
    assert!(names.iter().any(|n| n == "h2-writer"), "{names:?}");
    drop(h2);
    // The writer leaves only once the connection has ended, which the
    // reader does only after it met the close and said so: its thread
    // gone, the connection is the client's. The six chunks take a few
    // hundred milliseconds to render in a debug build, so the streams'
    // threads, and the connection, are still there.
    wait_until_with(
        "the reader to meet the close",
        Duration::from_secs(10),
        || {
            let names = thread_names(pid)?;
            let writing = names.iter().any(|n| n == "h2-writer");
            (!writing).then_some(()).ok_or(names.join(","))
        },
    );
    server.terminate();
    let log = server.exits_zero_having(": 1 connection ended before the drain timeout, 0 cut");
    let lines: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("rows=400000") || l.contains("\"PRI * "))
        .collect();
    assert_eq!(lines.len(), SIX_STREAMS.len() + 1, "{log:#?}");
    for line in lines {
        assert!(line.ends_with(" end=client-abort"), "{line}");
    }
}

/// A `buffer` render in flight at the drain timeout is cut there, not
/// rendered to its end first: no write happens during a render to meet the
/// cut, so the render asks between slices whether the shutdown has cut its
/// response. The same export rendered whole first says how long its render
/// takes here; cut, over HTTP/1.1 and over HTTP/2, it ends without a status
/// or a body byte, logged `end=drain-timeout`, and the process exits in a
/// fraction of that time. Rendered to the end, a debug build's exit came
/// seconds late. Each client reads what it got: not a byte over HTTP/1.1,
/// no HEADERS nor DATA over HTTP/2, and each connection ends in a reset,
/// as every cut does, never a FIN a client could take for a clean end.
#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "timed by a debug build's render: 219 MB renders in a tenth of a second in release"
)]
fn the_drain_timeout_cuts_a_buffer_render_in_flight() {
    let mut server = Child::start(Log::Read, None, &["--drain-timeout", "0ms"]);
    let rows = 4_000_000; // 219 MB
    let target = format!("/export.csv?rows={rows}&mode=buffer");
    let rendering = first_byte_after(server.addr, &target);
    let mut client = TcpStream::connect(server.addr).expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
    client
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut h2 = H2::connect(server.addr, &[]);
    h2.get(1, "GET", &target);
    // Both bodies charged: both renders have begun.
    let bodies = 2.0 * reference_csv_len(rows) as f64;
    wait_until("the renders to begin", Duration::from_secs(10), || {
        let used = metrics(server.addr).value("backpressure_buffer_budget_used_bytes");
        (used == bodies).then_some(())
    });
    server.terminate();
    let log = server.exits_zero_having(": 0 connections ended before the drain timeout, 2 cut");
    // The export rendered whole, then the two cut.
    let exports: Vec<&String> = log.iter().filter(|l| l.contains(&target)).collect();
    assert_eq!(exports.len(), 3, "{log:#?}");
    let connection = the_line(&log, "\"PRI * ");
    for cut in exports[1..].iter().map(|l| l.as_str()).chain([connection]) {
        assert!(cut.ends_with(" end=drain-timeout"), "{cut}");
    }
    for cut in &exports[1..] {
        assert!(cut.contains(" - mode=buffer body_bytes=0 "), "{cut}");
    }
    let summary = log.last().expect("a summary line");
    let took = Duration::from_secs_f64(number_after(summary, "shut down in ", " s"));
    assert!(
        took < rendering / 2,
        "the renders went on after the cut: {summary}; a whole render takes {rendering:?}"
    );
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let mut wire = Vec::new();
    let end = client.read_to_end(&mut wire).map_err(|e| e.kind());
    assert_eq!(wire, b"", "HTTP/1.1 was sent bytes");
    assert_eq!(end, Err(ErrorKind::ConnectionReset), "HTTP/1.1's end");
    let (frames, end) = frames_to_the_end(&mut h2);
    let answered = |f: &&Frame| f.stream == 1 && matches!(f.kind, HEADERS | DATA);
    let answer: Vec<&Frame> = frames.iter().filter(answered).collect();
    assert!(
        answer.is_empty(),
        "HTTP/2's stream 1 was answered: {answer:?}"
    );
    assert_eq!(end, Some(ErrorKind::ConnectionReset), "HTTP/2's end");
}

/// Every frame `h2` is sent from here until its connection ends, and how
/// it ended: `None` for a FIN, else the error's kind (a reset is
/// `ConnectionReset`; nothing for 10 s, `WouldBlock`). Frames read before a
/// reset are kept, as the kernel hands them over before the error.
fn frames_to_the_end(h2: &mut H2) -> (Vec<Frame>, Option<ErrorKind>) {
    let mut frames = Vec::new();
    // A connection the server has ended holds a few frames at most.
    for _ in 0..1000 {
        let read = h2.read_some(1 << 16, Duration::from_secs(10));
        frames.extend(std::iter::from_fn(|| h2.pop_frame()));
        match read {
            Ok(0) => return (frames, None),
            Ok(_) => {}
            Err(e) => return (frames, Some(e.kind())),
        }
    }
    panic!("still open after {} frames", frames.len());
}

/// An HTTP/1.1 client that reset its connection before the cut is logged
/// its abort, even when its thread only meets the reset after the cut: a
/// `buffer` render touches no socket, and asks between slices whether the
/// shutdown has cut its response. The cut looks first whether each
/// connection is still there: one its client reset had ended before the
/// drain timeout, and is not counted cut. Without that look, its line
/// would say `end=drain-timeout`, and the summary `0 connections ended …,
/// 1 cut`.
#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "timed by a debug build's render: 219 MB renders in a tenth of a second in release"
)]
fn a_connection_the_client_reset_before_the_cut_is_logged_its_abort() {
    let mut server = Child::start(Log::Read, None, &["--drain-timeout", "0ms"]);
    let rows = 4_000_000; // 219 MB: seconds of render in a debug build
    let target = format!("/export.csv?rows={rows}&mode=buffer");
    let mut client = TcpStream::connect(server.addr).expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
    client
        .write_all(request.as_bytes())
        .expect("send the request");
    // The body charged: the render has begun, the request read.
    let body = reference_csv_len(rows) as f64;
    wait_until("the render to begin", Duration::from_secs(10), || {
        let used = metrics(server.addr).value("backpressure_buffer_budget_used_bytes");
        (used == body).then_some(())
    });
    backpressure::reset_on_close(&client).expect("SO_LINGER 0");
    drop(client);
    server.terminate();
    let log = server.exits_zero_having(": 1 connection ended before the drain timeout, 0 cut");
    let line = the_line(&log, &target);
    assert!(line.contains(" - mode=buffer body_bytes=0 "), "{line}");
    assert!(line.ends_with(" end=client-abort"), "{line}");
}

/// A client that resets its download during the drain, long before the
/// drain timeout, left by itself: its line says `end=client-abort`, and the
/// summary counts it ended, not cut. Only the cut, not the drain before
/// it, makes a failed write the shutdown's (`Connections::cut_reached`).
#[test]
fn a_client_that_resets_during_the_drain_is_logged_its_abort() {
    let mut server = Child::start(Log::Read, None, &["--drain-timeout", "60s"]);
    let target = "/export.csv?rows=1000000&mode=bounded";
    let mut client = TcpStream::connect(server.addr).expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
    client
        .write_all(request.as_bytes())
        .expect("send the request");
    // The head has come: the download is under way, and then read no more.
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let read = client.read(&mut [0; 64]).expect("the head");
    assert!(read > 0);
    server.terminate();
    server.log_until(Duration::from_secs(5), |l| l.contains("shutting down"));
    backpressure::reset_on_close(&client).expect("SO_LINGER 0");
    drop(client);
    let log = server.exits_zero_having(": 1 connection ended before the drain timeout, 0 cut");
    let line = the_line(&log, target);
    assert!(line.contains(" 200 mode=bounded "), "{line}");
    assert!(line.ends_with(" end=client-abort"), "{line}");
}

/// An HTTP/1.1 head still being read at the drain timeout is the cut's,
/// as a response being written is: the cut fails the read as a client's
/// reset would, but the cut came first, so the line says
/// `end=drain-timeout` and the close is a reset. Named so only if the
/// failed read is put to the cut (`connection.rs`, `drain_timeout_if_cut`);
/// left the client's abort, it would end in a FIN.
#[test]
fn a_head_still_being_read_at_the_cut_is_logged_as_cut() {
    let mut server = Child::start(Log::Read, None, &["--drain-timeout", "0ms"]);
    let mut client = TcpStream::connect(server.addr).expect("connect");
    client
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .expect("half a head");
    // The server's thread has taken it and reads on.
    read_by_peer(&client);
    server.terminate();
    let log = server.exits_zero_having(": 0 connections ended before the drain timeout, 1 cut");
    let peer = format!("{} ", client.local_addr().expect("an address"));
    let line = the_line(&log, &peer);
    assert!(line.ends_with(" end=drain-timeout"), "{line}");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a read timeout");
    let end = client.read(&mut [0; 64]).map_err(|e| e.kind());
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
}

/// A small answer over HTTP/1.1 held up at the drain timeout is cut as an
/// export is: `/metrics` (12 KiB), to a client whose receive buffer is 4 KiB
/// and that reads nothing, waits in its write at the `--notsent-lowat`
/// mark; the cut fails that write as a client's reset would, and the line
/// says `end=drain-timeout`, not the client's abort. A small answer's
/// failed write names no cut of its own (`routes::small_sent`): the
/// connection's thread does (`connection.rs`, `drain_timeout_if_cut`).
#[test]
fn the_drain_timeout_is_the_reason_logged_for_a_cut_small_http1_answer() {
    let args = ["--drain-timeout", "0ms", "--notsent-lowat", "4k"];
    let mut server = Child::start(Log::Read, None, &args);
    let timeout = Duration::from_secs(5);
    let mut client =
        backpressure::connect_with_receive_buffer(server.addr, 4096, timeout).expect("connect");
    client
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send the request");
    // Its write is under way, and stays so: the client reads nothing.
    stalled_toward(&client);
    server.terminate();
    let log = server.exits_zero_having(": 0 connections ended before the drain timeout, 1 cut");
    let line = the_line(&log, "/metrics");
    assert!(line.contains("\" - mode=- body_bytes=0 "), "{line}");
    assert!(line.ends_with(" end=drain-timeout"), "{line}");
}

/// A connection whose client closed its side before the cut is not the
/// cut's to count, but it is cut all the same: its writer may still be
/// blocked in a write its client does not read (here an HTTP/2 export to a
/// client that sent its FIN and reads nothing), and would hold the exit
/// until the send timeout, a minute here.
#[test]
fn a_connection_its_client_left_first_is_cut_all_the_same() {
    let args = [
        "--drain-timeout",
        "0ms",
        "--send-timeout",
        "60s",
        "--rate-grace",
        "10m",
    ];
    let mut server = Child::start(Log::Read, None, &args);
    let socket = TcpStream::connect(server.addr).expect("connect");
    let kept = socket.try_clone().expect("a second handle");
    let client = kept.local_addr().expect("an address");
    let mut h2 = H2::over(socket).start_wide_open();
    h2.get(1, "GET", "/export.csv?rows=1000000&mode=bounded");
    assert_eq!(h2.next_of(HEADERS).stream, 1);
    // Both kernels' buffers fill: the writer, which always has DATA to
    // send in a window wide open, blocks in its write. Seen from here,
    // the server's socket holds the `--notsent-lowat` mark (16 KiB) or
    // more unsent and nothing moves between two looks: the client's
    // receive queue is full.
    let mut last = None;
    wait_until_with("the writer to block", Duration::from_secs(20), || {
        let ours = tcp_socket(client, server.addr)?.ok_or("no client socket")?;
        let theirs = tcp_socket(server.addr, client)?.ok_or("no server socket")?;
        let now = (ours.rx_queue, theirs.tx_queue);
        let still = last.replace(now) == Some(now);
        (still && now.0 > 0 && now.1 >= 16 * 1024)
            .then_some(())
            .ok_or(format!("{now:?} (received unread, unacknowledged)"))
    });
    // Its reader, with nothing to read, waits in its socket's read: the
    // call the kernel names twice running.
    let pid = server.process.0.id();
    let reading = the_same_twice("the reader to wait in its read", || {
        thread_waits_in(pid, "conn-")
    });
    kept.shutdown(Shutdown::Write).expect("FIN");
    // The reader meets the close, says the connection is the client's,
    // and then waits for the blocked write to return: no longer in its
    // read. The server shows that nowhere else: no line, no metric, no
    // thread ends.
    wait_until_with(
        "the reader to meet the close",
        Duration::from_secs(10),
        || {
            let now = the_same_twice("the reader to settle", || thread_waits_in(pid, "conn-"));
            (now != reading)
                .then_some(())
                .ok_or(format!("still in call {now}"))
        },
    );
    let theirs = tcp_socket(server.addr, client).expect("/proc/net/tcp");
    assert_eq!(theirs.map(|s| s.state), Some(CLOSE_WAIT), "the FIN came");
    let asked = Instant::now();
    server.terminate();
    let log = server.exits_zero_having(": 1 connection ended before the drain timeout, 0 cut");
    assert!(asked.elapsed() < Duration::from_secs(10), "{log:#?}");
    let line = the_line(&log, "\"PRI * ");
    assert!(line.ends_with(" end=client-abort"), "{line}");
}

/// Waits until `probe` gives the same value on two looks running, and
/// returns it: a thread seen in one call twice waits there, not passing.
fn the_same_twice(what: &str, mut probe: impl FnMut() -> Result<u64, String>) -> u64 {
    let mut last = None;
    wait_until_with(what, Duration::from_secs(10), || {
        let now = probe()?;
        match last.replace(now) {
            Some(before) if before == now => Ok(now),
            _ => Err(format!("call {now}")),
        }
    })
}

/// A connection whose client reset it before the cut, while a stream
/// waited for a thread and every slot was taken, is the client's abort,
/// on the connection's line and its stalled streams', and not counted cut,
/// though its cancelled renders' threads end only after the cut. Only a
/// connection the cut reached is `end=drain-timeout`
/// (`a_stream_waiting_for_a_thread_at_the_cut_is_never_taken_on`).
///
/// The slots stay taken only while the cancelled renders run, and seeing
/// the reset arrive reads `/proc/net/tcp`, every socket of the machine's.
/// A render that ended before the signal freed a slot before the cut, and
/// the try tells nothing of it. On a loaded machine that happens; such a
/// try is taken again.
#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "timed by a debug build's render: a 16 MiB chunk takes milliseconds in release"
)]
fn a_connection_reset_while_its_streams_wait_for_threads_is_the_clients() {
    let log = slots_held_through_the_cut(reset_while_streams_wait, " end=client-abort");
    let summary = log.last().expect("a summary line");
    let counts = ": 1 connection ended before the drain timeout, 0 cut";
    assert!(summary.contains(counts), "{log:#?}");
}

/// One try of the test above: every slot taken, the connection reset,
/// SIGTERM once the reset is in. The log up to the shutdown's summary, with
/// the server exited 0; `None` if a cancelled render ended before the
/// signal, and with it the slots' hold (its line comes before the
/// shutdown's first).
fn reset_while_streams_wait() -> Option<Vec<String>> {
    let mut server = Child::start(Log::Read, None, &SLOTS_TAKEN_ARGS);
    let socket = TcpStream::connect(server.addr).expect("connect");
    let kept = socket.try_clone().expect("a second handle");
    let mut h2 = H2::over(socket).start(&[]);
    take_every_thread_slot(&mut h2);
    let client = kept.local_addr().expect("an address");
    backpressure::reset_on_close(&kept).expect("SO_LINGER 0");
    drop((h2, kept));
    // The reset has reached the server's kernel once its socket is out of
    // the kernel's table: closed, without a peer, as the cut will find it.
    wait_until_with(
        "the reset to arrive",
        Duration::from_secs(10),
        || match tcp_socket(server.addr, client)? {
            None => Ok(()),
            Some(theirs) => Err(format!("state {:02X}", theirs.state)),
        },
    );
    server.terminate();
    let log = server.shutdown_log();
    let status = server.exit_within(Duration::from_millis(1500));
    assert_eq!(status.code(), Some(0));
    (!rendered_before_the_signal(&log)).then_some(log)
}

/// How long the server takes to start answering `target`: for a `buffer`
/// export, its render. The body is then read and thrown away.
fn first_byte_after(addr: SocketAddr, target: &str) -> Duration {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("a read timeout");
    let started = Instant::now();
    let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let first = stream.read(&mut [0; 1]);
    let took = started.elapsed();
    assert!(matches!(first, Ok(1)), "no answer to {target}: {first:?}");
    std::io::copy(&mut stream, &mut std::io::sink()).expect("read the rest");
    took
}

/// A response wholly written when the drain timeout passes is not the
/// shutdown's to cut: its connection left the shutdown's list as its close
/// began. Cut, its reset would throw away what the server's kernel still
/// held of it, and the client, reading late, would get part of the body
/// and a reset while the log said `complete`.
#[test]
fn the_drain_timeout_spares_a_response_already_written() {
    let mut server = Child::start(Log::Read, None, &["--drain-timeout", "300ms"]);
    let (mut client, body) = written_and_unread(&server);
    // The cut comes 300 ms after the signal, inside the close's 500 ms.
    server.terminate();
    let status = server.exit_within(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    arrives_whole(&mut client, &body);
    let log = server.log_until(Duration::from_secs(2), |l| l.contains("shut down"));
    assert!(
        log.iter()
            .any(|l| l.contains("rows=200") && l.ends_with(" end=complete")),
        "{log:?}"
    );
}

/// A client that has sent its request and closed its side (as `nc -N`
/// does) is done sending, not gone: the close ends gracefully, and the
/// tail still in the server's kernel reaches it, however late it reads.
#[test]
fn a_client_that_closed_its_side_still_gets_the_whole_response() {
    let server = Child::start(Log::Read, None, &[]);
    let (mut client, body) = written_and_unread(&server);
    client.shutdown(Shutdown::Write).expect("half-close");
    let log = server.log_until(Duration::from_secs(5), |l| l.contains("rows=200"));
    let line = log.last().expect("the export's line");
    assert!(line.ends_with(" end=complete"), "{log:#?}");
    arrives_whole(&mut client, &body);
}

/// A response written whole is cut after all if its client keeps sending
/// through the close and reads nothing: the close ends in a reset, which
/// discards the tail the server's kernel still holds. The log and the
/// metrics say so (`close-timeout`), never `complete`.
///
/// The flood begins with the request, not once the test has seen the body
/// written: the close that follows the body reads for `CLOSE_READ_TIMEOUT`
/// (500 ms, `src/server/graceful_close.rs`) only, and a client silent that
/// long has not kept sending through it (`end=complete` is then right).
/// Seeing the body written polls `/metrics`, which on a busy machine can
/// take longer than that. Sent early, the flood waits in both kernels,
/// which deliver it through the close however late this process next
/// runs.
#[test]
fn a_client_that_keeps_sending_through_the_close_is_logged_as_cut() {
    let server = Child::start(Log::Read, None, &[]);
    let (_, flood) = written_and_unread_then(&server, |client| {
        let client = client.try_clone().expect("a second handle");
        thread::spawn(move || {
            let _ = client.set_write_timeout(Some(Duration::from_secs(5)));
            while (&client).write_all(&[b'x'; 4096]).is_ok() {}
        })
    });
    let log = server.log_until(Duration::from_secs(5), |l| l.contains("rows=200"));
    flood.join().expect("the flood ends at the reset");
    let line = log.last().expect("the export's line");
    assert!(line.ends_with(" end=close-timeout"), "{log:#?}");
    let m = metrics(server.addr);
    let resets = "backpressure_resets_total{reason=\"close-timeout\"}";
    assert_eq!(m.value(resets), 1.0);
    assert_eq!(m.aborts("buffer", "close-timeout"), 1.0);
}

/// A 10 KB response written whole, and most of it still in the server's
/// kernel: the client's window is a few KiB (the rest waits under
/// `--notsent-lowat`, so the write completes) and it reads nothing.
fn written_and_unread(server: &Child) -> (TcpStream, Vec<u8>) {
    let ((client, body), ()) = written_and_unread_then(server, |_| ());
    (client, body)
}

/// [`written_and_unread`], calling `then` on the client's socket as soon
/// as the request is sent; with what it returns.
fn written_and_unread_then<T>(
    server: &Child,
    then: impl FnOnce(&TcpStream) -> T,
) -> ((TcpStream, Vec<u8>), T) {
    let rows = 200;
    let body = reference_csv(rows);
    let timeout = Duration::from_secs(5);
    let mut client =
        backpressure::connect_with_receive_buffer(server.addr, 4096, timeout).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let request = format!("GET /export.csv?rows={rows}&mode=buffer HTTP/1.1\r\nHost: t\r\n\r\n");
    client.write_all(request.as_bytes()).expect("send");
    let then = then(&client);
    let sent = "backpressure_body_bytes_sent_total{mode=\"buffer\"}";
    wait_until("the whole body written", Duration::from_secs(10), || {
        (metrics(server.addr).value(sent) == body.len() as f64).then_some(())
    });
    ((client, body), then)
}

/// Reads the response to its end, which must be a clean one after `body`.
fn arrives_whole(client: &mut TcpStream, body: &[u8]) {
    let mut wire = Vec::new();
    let read = client.read_to_end(&mut wire);
    assert!(read.is_ok(), "{read:?} after {} bytes", wire.len());
    let response = common::parse_response(&wire);
    assert_eq!(response.status, 200);
    assert_same_bytes(&response.body, body, "the written response");
}

/// Nor does a second signal cut a response already written: the exit
/// resets only the connections still being written, and this one's close
/// had begun, its tail in the kernel, which delivers it after the exit.
#[test]
fn a_second_signal_spares_a_response_already_written() {
    let mut server = Child::start(Log::Read, None, &[]);
    let (mut client, body) = written_and_unread(&server);
    server.terminate();
    server.terminate_again();
    let status = server.exit_within(Duration::from_secs(10));
    assert_eq!(status.code(), Some(128 + 15));
    says_why_it_exits_at_once(&server);
    arrives_whole(&mut client, &body);
}

/// The most rows the server serves (`MAX_ROWS`): about 5.6 GB of CSV,
/// seconds to render in any build, so a download of them is still going
/// when a test cuts it.
const MOST_ROWS: u64 = 100_000_000;

/// The drain timeout's cut of an HTTP/1.0 body read by a *fast* client.
/// Its writer spends its time rendering, not blocked in `write`, so at the
/// moment of the cut the server's kernel has usually sent everything: a
/// `shutdown(Both)` then puts a FIN on the wire at once, ahead of the reset
/// that follows when the thread closes, and the client's read sees a clean
/// end of file. A close-delimited body must never end that way when cut.
/// Of [`MOST_ROWS`], the 200 ms drain always cuts the body.
#[test]
fn a_cut_http10_body_read_fast_never_ends_in_a_clean_close() {
    for mode in ["pipeline", "bounded"] {
        let mut server = Child::start(Log::Read, None, &["--drain-timeout", "200ms"]);
        let client = download_mode(server.addr, "HTTP/1.0", MOST_ROWS, mode);
        server.terminate();
        server.exits_zero_having(": 0 connections ended before the drain timeout, 1 cut");
        fast_download_ends_in_a_reset(client, mode);
    }
}

/// Like [`ends_in_a_reset`], for a fast download ([`download_mode`]) of
/// [`MOST_ROWS`].
fn fast_download_ends_in_a_reset(client: thread::JoinHandle<std::io::Result<u64>>, what: &str) {
    match client.join().expect("the client thread") {
        Ok(got) => {
            panic!("{what}: a clean close after {got} bytes of {MOST_ROWS} rows, not a reset")
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{what}: {e}"),
    }
}

/// A second signal exits at once, with 128 + 15; the exit closes every
/// socket, and a close-delimited body it cuts must end in a reset, not in
/// the FIN of a plain close, which the client would take for its end.
/// The client reads as fast as it can, so that the kernel often holds
/// nothing unsent, when a FIN would go out at once; a download of
/// [`MOST_ROWS`] is always still going when the exit cuts it.
#[test]
fn a_second_signal_resets_what_it_cuts() {
    let mut server = Child::start(Log::Read, None, &[]);
    let client = download_mode(server.addr, "HTTP/1.0", MOST_ROWS, "pipeline");
    server.terminate();
    // The first signal is seen within the accept loop's 100 ms wake; the
    // download goes on, draining.
    server.terminate_again();
    let status = server.exit_within(Duration::from_secs(10));
    assert_eq!(status.code(), Some(128 + 15));
    says_why_it_exits_at_once(&server);
    fast_download_ends_in_a_reset(client, "pipeline");
}

/// An exit at once is not a silent one: the operator who sent a second
/// signal is told what it did, on stderr, as the handler's last act.
fn says_why_it_exits_at_once(server: &Child) {
    let log = server.log_until(Duration::from_secs(5), |l| l.contains("second signal"));
    let last = log.last().expect("the handler's line");
    // Stamped as every line is, though written from the signal handler.
    assert_eq!(
        after_stamp(last, server.started),
        "backpressure: second signal: exiting at once; \
         every response still being written is cut with a reset"
    );
}

/// Like [`download`], read as fast as the client can, in `mode`.
fn download_mode(
    addr: SocketAddr,
    version: &str,
    rows: u64,
    mode: &str,
) -> thread::JoinHandle<std::io::Result<u64>> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let request = format!("GET /export.csv?rows={rows}&mode={mode} {version}\r\nHost: t\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let (flowing, first_bytes) = mpsc::channel();
    let client = thread::spawn(move || {
        let mut flowing = Some(flowing);
        let mut count = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match stream.read(&mut buf)? {
                0 => return Ok(count),
                n => count += n as u64,
            }
            if let Some(flowing) = flowing.take() {
                let _ = flowing.send(());
            }
        }
    });
    assert!(
        first_bytes.recv_timeout(Duration::from_secs(10)).is_ok(),
        "no byte of the download within 10 s"
    );
    client
}
