//! How many stream threads one HTTP/2 connection holds while its client
//! opens streams and cancels them at once (rapid reset, CVE-2023-44487),
//! measured on the release build. Prints a table; `harness = false`.
//!
//! The reader keeps a join handle per stream thread and starts none while
//! it holds [`MAX_STREAM_THREADS`] of them (`server/h2/admission.rs`):
//! streams past them wait their turn. A cancelled stream's thread does
//! not leave at once: a channel mode's waits for its producer to finish
//! the chunk it is rendering, which at the largest chunk, 16 MiB
//! ([`CHUNK_BYTES`], passed to `serve` unless `BENCH_SERVE_ARGS` sets
//! one), takes milliseconds. A flood of streams cancelled as they open
//! therefore fills every slot, and a reader that did not count them would
//! start a thread per stream of the flood.
//! The debug build the tests run is too slow to tell the two apart, so
//! this shows only here.
//!
//! For each strategy, [`RUNS`] connections in turn to one server: each
//! sends [`STREAMS`] × (HEADERS for a large export, RST_STREAM CANCEL) in
//! one write, then a PING, while a sampler lists `/proc/PID/task` every
//! [`SAMPLE_EVERY`] and counts the live threads named `h2-stream-*`. The
//! run ends once the PING is answered (every stream of the flood taken on
//! or refused) and no stream thread is left.
//!
//! Run: `cargo bench --bench stream_threads` (about 20 s once built);
//! `cargo bench --bench stream_threads -- buffer` measures only the
//! strategies named (`-- pipeline` takes a few seconds);
//! `BENCH_SERVE_ARGS` passes flags to `serve` (see `common`).
//!
//! Read, one line per strategy: the most `h2-stream-*` threads seen live
//! at once on each of the [`RUNS`] connections, the most threads of the
//! whole process at once in the same runs, and the verdict: `held` if no
//! run passed [`MAX_STREAM_THREADS`] (saying whether one reached it, or
//! none started a stream thread), `MISSED` if one did, `NOT MEASURED` if
//! no listing saw a thread at all. The exit code is 1 on `MISSED`,
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
use common::{ServerProcess, connect, own_flags, say, serve_args_from_env};
use h2::{
    CANCEL, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PING, PREFACE, RST_STREAM, SETTINGS, frame,
    header_block,
};

/// The ACK flag of a PING frame.
const ACK: u8 = 0x1;

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
/// Streams each connection opens and cancels: below the 200 net
/// cancellations that end a connection (`MAX_NET_CANCELS`), so the flood
/// is never cut short and every stream is taken on or refused.
const STREAMS: u32 = 99;
/// Rows each stream asks for: 54 MB (54,027,933 bytes), more than one
/// chunk of [`CHUNK_BYTES`].
const ROWS: u64 = 1_000_000;
/// `serve --chunk-bytes`, its largest, unless `BENCH_SERVE_ARGS` sets one:
/// the longest a cancelled channel-mode stream's thread stays.
const CHUNK_BYTES: &str = "16m";
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
    let own = [("--chunk-bytes", Some(CHUNK_BYTES)), ("--quiet", None)];
    args.extend(own_flags(&own, &args));
    let server = match ServerProcess::start(&args) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            return ExitCode::FAILURE;
        }
    };
    say!(
        NAME,
        "stream_threads: {STREAMS} × (HEADERS, RST_STREAM CANCEL) in one write, \
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
        // No thread seen at all means the sampler failed: a verdict on
        // nothing. No stream thread among those seen is the server's
        // doing: a stream cancelled while it waits its turn never gets a
        // thread, and `buffer` and `pipeline` free a slot so fast that a
        // flood's streams can all be cancelled waiting (one run in about
        // thirty of `pipeline`). One below the limit in every run held it
        // without being pressed: true, and weaker, so said apart.
        let sampled = peaks.iter().any(|p| p.threads > 0);
        let (verdict, held) = match highest {
            0 if !sampled => ("NOT MEASURED: no thread seen", false),
            0 => (
                "held, no stream thread started: each stream was cancelled as it waited its turn",
                true,
            ),
            n if n < MAX_STREAM_THREADS => ("held, the limit never reached", true),
            n if n == MAX_STREAM_THREADS => ("held at the limit", true),
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
    let (watching, acked) = (AtomicBool::new(true), AtomicBool::new(false));
    thread::scope(|scope| {
        let sampler = scope.spawn(|| sample(server.pid(), &watching));
        // The server's answers are read and thrown away, so that its
        // writer never waits on this client; all but the PING's answer.
        scope.spawn(|| discard(drain, &acked));
        let sent = send_flood(&socket, server.addr(), strategy);
        let taken = sent.and_then(|()| wait_for_the_ping_ack(&acked));
        let drained = taken.and_then(|()| wait_for_no_stream_threads(server.pid()));
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

/// The preface, an empty SETTINGS, the pairs, then a PING, in one write.
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
    }
    frame(&mut out, PING, 0, 0, &[0; 8]);
    (&*socket)
        .write_all(&out)
        .map_err(|e| format!("the flood: {e}"))
}

/// Reads frames until the connection ends, keeping nothing but whether a
/// PING's acknowledgement came (`acked`).
fn discard(mut socket: TcpStream, acked: &AtomicBool) {
    let mut head = [0; 9];
    let mut payload = vec![0; 1 << 24];
    while socket.read_exact(&mut head).is_ok() {
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        if socket.read_exact(&mut payload[..length]).is_err() {
            return;
        }
        if head[3] == PING && head[4] & ACK != 0 {
            acked.store(true, Ordering::Relaxed);
        }
    }
}

/// Waits until the server has acknowledged the PING sent after the flood:
/// its reader takes frames in order, so by then it has taken on (or
/// refused) every stream of the flood, and a count of none left means the
/// flood is over, not that it has not begun.
fn wait_for_the_ping_ack(acked: &AtomicBool) -> Result<(), String> {
    let start = Instant::now();
    while !acked.load(Ordering::Relaxed) {
        if start.elapsed() > DRAIN_TIMEOUT {
            return Err(format!("no PING acknowledged within {DRAIN_TIMEOUT:?}"));
        }
        thread::sleep(SAMPLE_EVERY);
    }
    Ok(())
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

/// Live threads of process `pid` at one instant: those that two listings
/// of `/proc/PID/task` in a row both show live, neither leaving
/// (`PF_EXITING`) nor gone (state `Z` or `X`), by the same name. Stream
/// threads are counted by name, `h2-stream-ID`, once each: a producer is
/// called by its stream thread's name until it first runs and names
/// itself, which under load can take milliseconds, and it lives no longer
/// than its stream thread. A stream thread, likewise, is called by its
/// connection's thread's name, `conn-N`, until it first runs: every
/// `conn-N` past the first is one, but for the connection's writer, the
/// one other thread it starts, as long as fewer `h2-writer`s are listed
/// than connections (the flood begins as the connection does, and the
/// last connection's threads may still be leaving as the next starts).
/// Without them, a count taken while the stream threads start would miss
/// them, and could find none.
/// One listing is not an instant: it reads a file per
/// thread, and while it does some threads leave and others start, so a
/// flood of short-lived threads would be counted more than were ever live
/// at once. A thread that both listings show live was live throughout
/// from the first's reading of it to the second's (a thread is live from
/// its start until it begins to leave, once), so all of them were live
/// together when the second listing began. A joined thread has done all
/// it will, but the kernel lists it a moment longer, and counting it would
/// blame the server for the kernel's pace; a thread still freeing its body
/// or writing its log line is counted.
fn count(pid: u32) -> Result<Peak, String> {
    let first = live_threads(pid)?;
    let second = live_threads(pid)?;
    let mut now = Peak::default();
    let (mut streams, mut connections, mut not_yet_named) = (Vec::new(), Vec::new(), 0_usize);
    let mut writers = 0;
    for (tid, name) in &second {
        if first.iter().any(|(t, n)| t == tid && n == name) {
            now.threads += 1;
            if name.starts_with("h2-stream") && !streams.contains(&name) {
                streams.push(name);
            } else if name.starts_with("conn-") {
                match connections.contains(&name) {
                    true => not_yet_named += 1,
                    false => connections.push(name),
                }
            }
            writers += usize::from(name == "h2-writer");
        }
    }
    let unnamed_writers = connections.len().saturating_sub(writers);
    now.stream_threads = streams.len() + not_yet_named.saturating_sub(unnamed_writers);
    Ok(now)
}

/// Each live thread of process `pid` in one listing of `/proc/PID/task`:
/// its id and its name. A thread takes its name from its creator until it
/// sets its own, so a stream thread's producer is called `h2-stream-*` for
/// a moment.
fn live_threads(pid: u32) -> Result<Vec<(u64, String)>, String> {
    let dir = format!("/proc/{pid}/task");
    let tasks = std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))?;
    let mut live = Vec::new();
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
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
        let name = head.split_once('(').map_or("", |(_, name)| name);
        live.push((tid, name.to_string()));
    }
    Ok(live)
}
