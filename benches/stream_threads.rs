//! How many stream threads one HTTP/2 connection holds while its client
//! opens streams and cancels them at once (rapid reset, CVE-2023-44487),
//! measured on the release build. Prints a table; `harness = false`.
//!
//! The reader keeps a join handle per stream thread and takes on no new
//! stream while it holds [`MAX_STREAM_THREADS`] of them (`server/h2/`). A
//! thread counts until it is joined, not only until its stream leaves the
//! table: after that it still frees what it held, writes its log line and
//! leaves the kernel. Counting only the table lets threads pile up past
//! the limit, but only where those last steps are slow next to rendering:
//! a `buffer` export of megabytes rendered fast and then freed. The debug
//! build the tests run renders too slowly for that, so this regression
//! shows only here.
//!
//! For each strategy, [`RUNS`] connections in turn to one server: each
//! sends [`STREAMS`] × (HEADERS for a large export, RST_STREAM CANCEL), a
//! pair every [`PACE`], while a sampler lists `/proc/PID/task` every
//! [`SAMPLE_EVERY`] and counts the live threads named `h2-stream-*`. The
//! run ends once none is left.
//!
//! Run: `cargo bench --bench stream_threads` (about 20 s once built);
//! `cargo bench --bench stream_threads -- buffer` measures only the
//! strategies named (`-- pipeline` takes a few seconds);
//! `BENCH_SERVE_ARGS` passes flags to `serve` (see `common`).
//!
//! Read, one line per strategy: the most `h2-stream-*` threads seen live
//! at once on each of the [`RUNS`] connections, the most threads of the
//! whole process at once in the same runs, and the verdict: `held` if no
//! run passed [`MAX_STREAM_THREADS`], `MISSED` if one did, `NOT MEASURED`
//! if no run saw a stream thread at all. The exit code is 1 on `MISSED`,
//! `NOT MEASURED` or an error: the limit is an invariant of the server,
//! and this is the one check that can see it broken; 2 for a word or a
//! knob it cannot read.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use backpressure::MAX_STREAM_THREADS;

use common::args::{strategies_from_command_line, usage_error, wanted};
use common::{ServerProcess, connect, say, serve_args_from_env};
use h2::{
    CANCEL, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PREFACE, RST_STREAM, SETTINGS, frame,
    header_block,
};

/// The tests' raw HTTP/2 client, std-only: its frame writer and its
/// header block of plain literals.
#[path = "../tests/common/h2.rs"]
#[allow(dead_code)]
mod h2;

/// Every strategy: each stream's body comes from one of them.
const STRATEGIES: [&str; 4] = ["buffer", "unbounded", "bounded", "pipeline"];
/// Connections flooded per strategy, one after another: the pile-up
/// depends on timing, so one run can miss it.
const RUNS: usize = 4;
/// Streams each connection opens and cancels: below the 100 net
/// cancellations that end a connection (`MAX_NET_CANCELS`), so the flood
/// is never cut short and every stream is taken on or refused.
const STREAMS: u32 = 99;
/// Rows each stream asks for: 54 MB (54,027,933 bytes), so that a
/// `buffer` stream has megabytes to free after its stream has left the
/// table.
const ROWS: u64 = 1_000_000;
/// Between two (HEADERS, RST_STREAM) pairs: long enough for a `buffer`
/// stream to render part of its body before the next arrives.
const PACE: Duration = Duration::from_millis(10);
/// How often `/proc/PID/task` is listed.
const SAMPLE_EVERY: Duration = Duration::from_millis(2);
/// Longest wait, after the flood, for the last stream thread to leave.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// One flooded connection's highest counts.
#[derive(Clone, Copy, Default)]
struct Peak {
    /// Live `h2-stream-*` threads at once: what the limit bounds.
    stream_threads: usize,
    /// Live threads of the whole process at once: the stream threads,
    /// their producers, and the rest of the server.
    threads: usize,
}

/// How this benchmark names itself on stderr.
const NAME: &str = "stream_threads";

fn main() -> ExitCode {
    let filters = match strategies_from_command_line(NAME, &STRATEGIES) {
        Ok(filters) => filters,
        Err(code) => return code,
    };
    let mut args = match serve_args_from_env() {
        Ok(args) => args,
        Err(e) => return usage_error(NAME, &e),
    };
    args.push("--quiet".into());
    let server = match ServerProcess::start(&args) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            return ExitCode::FAILURE;
        }
    };
    say!(
        NAME,
        "stream_threads: {STREAMS} × (HEADERS, RST_STREAM CANCEL) every {PACE:?}, \
         rows={ROWS}, {RUNS} connections per strategy; limit {MAX_STREAM_THREADS}"
    );
    say!(
        NAME,
        "{:<9} {:>22} {:>22}  verdict",
        "strategy",
        "h2-stream threads",
        "process threads"
    );
    let mut failed = false;
    let mut most = 0;
    for strategy in STRATEGIES {
        if !wanted(&filters, strategy) {
            continue;
        }
        let mut peaks = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            match flood(&server, strategy) {
                Ok(peak) => peaks.push(peak),
                Err(e) => {
                    say!(NAME, "{strategy:<9}  error: {e}");
                    failed = true;
                    break;
                }
            }
        }
        if peaks.len() < RUNS {
            continue;
        }
        let list = |of: fn(&Peak) -> usize| {
            let counts: Vec<String> = peaks.iter().map(|p| of(p).to_string()).collect();
            counts.join(" ")
        };
        let highest = peaks.iter().map(|p| p.stream_threads).max().unwrap_or(0);
        most = most.max(highest);
        // No stream thread seen in any run means the flood or the sampler
        // failed, not that the limit held: a verdict on nothing.
        let (verdict, held) = match highest {
            0 => ("NOT MEASURED: no stream thread seen", false),
            n if n <= MAX_STREAM_THREADS => ("held", true),
            _ => ("MISSED", false),
        };
        failed |= !held;
        say!(
            NAME,
            "{strategy:<9} {:>22} {:>22}  {verdict}",
            list(|p| p.stream_threads),
            list(|p| p.threads)
        );
    }
    say!(
        NAME,
        "target: at most {MAX_STREAM_THREADS} live h2-stream threads on one connection; \
         highest seen {most}"
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One connection's flood, watched from outside: its peaks, once every
/// stream thread has left.
fn flood(server: &ServerProcess, strategy: &str) -> Result<Peak, String> {
    let socket = connect(server.addr())?;
    let drain = socket.try_clone().map_err(|e| format!("cloning: {e}"))?;
    let watching = AtomicBool::new(true);
    thread::scope(|scope| {
        let sampler = scope.spawn(|| sample(server.pid(), &watching));
        // The server's answers are read and thrown away, so that its
        // writer never waits on this client.
        scope.spawn(move || discard(drain));
        let sent = send_flood(&socket, server.addr(), strategy);
        let drained = sent.and_then(|()| wait_for_no_stream_threads(server.pid()));
        // Whatever happened, the sampler stops and the connection closes,
        // which ends the discarding thread.
        watching.store(false, Ordering::Relaxed);
        let mut goaway = Vec::new();
        frame(&mut goaway, GOAWAY, 0, 0, &[0; 8]);
        let _ = (&socket).write_all(&goaway);
        let _ = socket.shutdown(std::net::Shutdown::Both);
        let peak = sampler
            .join()
            .map_err(|_| "the sampler panicked".to_string())??;
        drained.map(|()| peak)
    })
}

/// The preface, an empty SETTINGS, then the pairs.
fn send_flood(socket: &TcpStream, addr: SocketAddr, strategy: &str) -> Result<(), String> {
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    let path = format!("/export.csv?rows={ROWS}&mode={strategy}");
    let authority = addr.to_string();
    let fields = [
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", authority.as_str()),
        (":path", path.as_str()),
    ];
    let block = header_block(&fields);
    for id in (1..).step_by(2).take(STREAMS as usize) {
        frame(&mut out, HEADERS, END_STREAM | END_HEADERS, id, &block);
        frame(&mut out, RST_STREAM, 0, id, &CANCEL.to_be_bytes());
        (&*socket)
            .write_all(&out)
            .map_err(|e| format!("stream {id}: {e}"))?;
        out.clear();
        thread::sleep(PACE);
    }
    Ok(())
}

/// Reads until the connection ends, keeping nothing.
fn discard(mut socket: TcpStream) {
    let mut buffer = [0; 16 * 1024];
    while matches!(socket.read(&mut buffer), Ok(n) if n > 0) {}
}

/// Waits until `/proc/PID/task` lists no live `h2-stream-*` thread.
fn wait_for_no_stream_threads(pid: u32) -> Result<(), String> {
    let start = Instant::now();
    while count(pid)?.stream_threads > 0 {
        if start.elapsed() > DRAIN_TIMEOUT {
            return Err(format!(
                "stream threads still alive after {DRAIN_TIMEOUT:?}"
            ));
        }
        thread::sleep(SAMPLE_EVERY);
    }
    Ok(())
}

/// The highest counts seen while `watching` holds. A listing that fails
/// ends it: a skipped one could be the peak.
fn sample(pid: u32, watching: &AtomicBool) -> Result<Peak, String> {
    let mut peak = Peak::default();
    while watching.load(Ordering::Relaxed) {
        let now = count(pid)?;
        peak.stream_threads = peak.stream_threads.max(now.stream_threads);
        peak.threads = peak.threads.max(now.threads);
        thread::sleep(SAMPLE_EVERY);
    }
    Ok(peak)
}

/// `PF_EXITING` in a task's flags (`include/linux/sched.h`): set as the
/// thread starts to leave the kernel, before a join on it can return.
const PF_EXITING: u64 = 0x4;

/// Live threads of process `pid` now: those `/proc/PID/task/TID/stat`
/// shows neither leaving (`PF_EXITING`) nor gone (state `Z` or `X`). A
/// joined thread has done all it will, but the kernel lists it a moment
/// longer, and counting it would blame the server for the kernel's pace;
/// a thread still freeing its body or writing its log line is counted.
fn count(pid: u32) -> Result<Peak, String> {
    let dir = format!("/proc/{pid}/task");
    let tasks = std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))?;
    let mut now = Peak::default();
    for task in tasks.flatten() {
        // `comm (name) state ...`; a name may hold spaces and parentheses,
        // so the state is the first word after the last `)`.
        // A task that left between the listing and this read is not live.
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // One that cannot be read as `stat` is an error, not a thread
        // skipped: skipping would count too few, and the verdict could only
        // say "held".
        let unreadable = || format!("{}: {stat:?}", task.path().join("stat").display());
        let (head, tail) = stat.rsplit_once(')').ok_or_else(unreadable)?;
        // After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags.
        let fields: Vec<&str> = tail.split_whitespace().take(7).collect();
        let flags = (fields.get(6).and_then(|f| f.parse::<u64>().ok())).ok_or_else(unreadable)?;
        let leaving = matches!(fields.first(), Some(&("Z" | "X")));
        if leaving || flags & PF_EXITING != 0 {
            continue;
        }
        now.threads += 1;
        let name = head.split_once('(').map_or("", |(_, name)| name);
        if name.starts_with("h2-stream") {
            now.stream_threads += 1;
        }
    }
    Ok(now)
}
