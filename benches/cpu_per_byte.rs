//! Where the CPU goes, per gigabyte delivered: for each strategy, a fast
//! client downloads the 7-million-row export (385 MB) over loopback while
//! this bench reads the CPU time of each of the server's threads
//! (`/proc/PID/task/TID/schedstat`, in nanoseconds), of its own reading
//! thread (`/proc/thread-self/schedstat`), and the whole machine's busy
//! ticks (`/proc/stat`), which also count what no thread of the two was
//! charged with: softirq work in `ksoftirqd`, anything else running.
//! `harness = false`.
//!
//! The trade-off bench says how fast each configuration is; this one says
//! what each byte costs and who pays for it: the producer rendering rows,
//! the connection's thread moving them into the socket (and, for
//! `pipeline`, rendering them too) and the client reading them; the
//! threads' sum against the machine's busy time shows whether anything
//! ran outside them. The machine's cores divided by its total per byte is
//! the most that strategy could deliver here with every core busy: the
//! arithmetic behind the verdict on "`bounded` ≥ 0.75 × the raw copy" in
//! `docs/benchmarks.md`.
//!
//! A connection's threads end with its response, and their counters with
//! them, so the server's threads are read every [`SAMPLE_BYTES`] of the
//! download, and each figure is per byte received up to the last reading.
//! A thread that ended before it (`unbounded`'s producer, done long before
//! its client) counts up to the last reading it was seen in: a lower bound
//! by at most what it spent in one sampling interval.
//!
//! Run: `cargo bench --bench cpu_per_byte` (a few seconds once built).
//! Knobs: `CPU_RUNS` downloads per strategy (default 5, in rounds, so that
//! a drifting machine moves every strategy alike), `CPU_ROWS` the export's
//! rows (default 7,000,000; at least about 311,000, the rows in one
//! [`SAMPLE_BYTES`], or nothing would be sampled: fewer are refused),
//! `BENCH_SERVE_ARGS` extra server flags, and
//! `cargo bench --bench cpu_per_byte -- bounded` measures only the
//! strategies named (the raw copy always). Criterion's flags, handed to
//! every benchmark by `cargo bench --`, are skipped (`common/args.rs`).
//! A short look: `CPU_RUNS=1 CPU_ROWS=1000000`. Under `CPU_ROWS=1000000`,
//! with any number of runs, the machine column, in 10 ms ticks, is too
//! coarse to read: it can come out below its own threads' sum, and so can
//! the closing line's total for `bounded`. The exit code is 1 if
//! something could not be measured, 2 for a knob or a word it cannot read.
//!
//! Read, one line per strategy: `MB/s` received (10^6 bytes); then CPU
//! milliseconds per GB (10^9 bytes) received: `conn` (the connection's
//! thread: the writer, and for `pipeline` the renderer too), `producer`
//! (the channel modes' rendering thread), `client` (this bench's reading
//! thread), `threads` (the server's threads and the client summed) and
//! `machine` (every busy core, softirq included); `-` where there is no
//! such thread (`pipeline` has no producer; the raw copy's writer is this
//! process's, not measured) or where it ended before the first reading (a
//! short export's producer, near the least `CPU_ROWS`); `ceiling` is the GB/s
//! the machine's cores could carry at that cost. The last lines weigh the
//! raw-copy target in CPU: the budget per GB it leaves, against rendering
//! plus the raw copy's own cost, and say whether that is within reach.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use backpressure::body_len;

use common::args::{strategies_from_command_line, usage_error, wanted};
use common::download::{CLIENT_BUFFER_BYTES, RawCopy, download_watched};
use common::figures::{MB, allowed_per_gb, per_gb};
use common::{ServerProcess, cpu_ticks, env_count, get_request, say, serve_args_from_env};

/// Bytes between two readings of the server's threads: often enough that
/// the unread tail of a download is small against the whole, rarely enough
/// that reading `/proc` costs nothing measurable.
const SAMPLE_BYTES: u64 = 16 * 1024 * 1024;
/// `/proc/stat`'s unit (`USER_HZ`), 100 on every Linux std supports.
const TICKS_PER_SECOND: f64 = 100.0;
/// The target this bench explains: `bounded` against the raw copy.
const BOUNDED_OF_RAW_TARGET: f64 = 0.75;
/// The strategies measured; `buffer` holds whole bodies and is not a
/// contender for speed.
const STRATEGIES: [&str; 3] = ["unbounded", "bounded", "pipeline"];
/// The reference: the pre-rendered body copied to a socket in one write.
const RAW: &str = "raw copy";

/// CPU seconds spent while a number of bytes arrived.
#[derive(Clone, Debug, Default)]
struct Spent {
    /// Bytes received by the client over the span measured.
    bytes: u64,
    /// Wall-clock seconds of that span.
    seconds: f64,
    /// CPU seconds of the server's threads, by role: the thread name
    /// without its number (`conn-7` is `conn`).
    server: HashMap<String, f64>,
    /// CPU seconds of the reading thread.
    client: f64,
    /// Busy seconds of the whole machine, softirq included.
    machine: f64,
}

impl Spent {
    fn add(&mut self, other: &Spent) {
        self.bytes += other.bytes;
        self.seconds += other.seconds;
        for (role, seconds) in &other.server {
            *self.server.entry(role.clone()).or_default() += seconds;
        }
        self.client += other.client;
        self.machine += other.machine;
    }

    /// CPU seconds of the server's threads in `role`, if it had any.
    fn role(&self, role: &str) -> Option<f64> {
        self.server.get(role).copied()
    }

    /// Bytes per second received.
    fn rate(&self) -> f64 {
        self.bytes as f64 / self.seconds
    }

    /// Milliseconds of CPU per gigabyte received: `seconds / bytes × 10^12`.
    fn per_gb(&self, seconds: f64) -> f64 {
        per_gb(seconds, self.bytes)
    }
}

/// How this benchmark names itself on stderr.
const NAME: &str = "cpu_per_byte";

fn main() -> ExitCode {
    let filters = match strategies_from_command_line(NAME, &STRATEGIES) {
        Ok(filters) => filters,
        Err(code) => return code,
    };
    let knobs = match knobs() {
        Ok(knobs) => knobs,
        Err(e) => return usage_error(NAME, &e),
    };
    match run(&filters, &knobs) {
        Ok(report) => {
            say!(NAME, "{}", report.trim_end_matches('\n'));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the environment asks of a run.
struct Knobs {
    /// `CPU_RUNS`: downloads per strategy.
    runs: u64,
    /// `CPU_ROWS`: the export's rows.
    rows: u64,
    /// `BENCH_SERVE_ARGS`: extra server flags.
    serve_args: Vec<String>,
}

/// The knobs, each read or refused before any server starts: an error here
/// is a usage error.
fn knobs() -> Result<Knobs, String> {
    let runs = env_count("CPU_RUNS", 5)?;
    let rows = env_count("CPU_ROWS", 7_000_000)?;
    // A download shorter than one sample is never read mid-way, and would
    // fail only after the server started.
    if body_len(rows) < SAMPLE_BYTES {
        return Err(format!(
            "CPU_ROWS={rows}: a {}-byte export, less than one sample of {SAMPLE_BYTES} bytes",
            body_len(rows)
        ));
    }
    let serve_args = serve_args_from_env()?;
    Ok(Knobs {
        runs,
        rows,
        serve_args,
    })
}

/// Measures the strategies in `filters` (all if it is empty) and the raw
/// copy.
fn run(filters: &[String], knobs: &Knobs) -> Result<String, String> {
    let (runs, rows) = (knobs.runs, knobs.rows);
    let server = ServerProcess::start(&knobs.serve_args)?;
    let raw = RawCopy::new(rows, None)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut buffer = vec![0u8; CLIENT_BUFFER_BYTES];
    say!(
        NAME,
        "cpu_per_byte: {runs} downloads of {:.0} MB per strategy, in rounds, {cores} cores",
        raw.len() as f64 / MB
    );

    // One entry per strategy, then the raw copy.
    let chosen = STRATEGIES
        .iter()
        .copied()
        .filter(|name| wanted(filters, name));
    let mut spent: Vec<(&str, Spent)> = (chosen.chain([RAW]))
        .map(|name| (name, Spent::default()))
        .collect();
    for _ in 0..runs {
        for (name, total) in &mut spent {
            let one = if *name == RAW {
                raw_download(&raw, &mut buffer)?
            } else {
                let target = format!("/export.csv?rows={rows}&mode={name}");
                sampled_download(&server, &target, &mut buffer)?
            };
            total.add(&one);
        }
    }

    let mut report = format!(
        "{:<10} {:>6} {:>7} {:>9} {:>7} {:>8} {:>8}   {:>8}\n",
        "strategy", "MB/s", "conn", "producer", "client", "threads", "machine", "ceiling"
    );
    report += "                  (CPU ms per GB received)                        (GB/s)\n";
    for (name, spent) in &spent {
        let column = |seconds: Option<f64>| match seconds {
            Some(seconds) => format!("{:.0}", spent.per_gb(seconds)),
            None => "-".to_string(),
        };
        // The raw copy's writer is a thread of this process, not measured.
        let threads = (*name != RAW).then(|| spent.server.values().sum::<f64>() + spent.client);
        let _ = writeln!(
            report,
            "{name:<10} {:>6.0} {:>7} {:>9} {:>7} {:>8} {:>8.0}   {:>8.2}",
            spent.rate() / MB,
            column(spent.role("conn")),
            column(spent.role("producer")),
            column(Some(spent.client)),
            column(threads),
            spent.per_gb(spent.machine),
            cores / spent.machine * spent.bytes as f64 / 1e9,
        );
    }

    // The target in CPU: at the rate it asks for, with every core busy,
    // how much each byte may cost; against the least it can cost, which is
    // rendering it (the producer's share) plus moving it as cheaply as
    // anything here moves bytes (the raw copy's whole machine).
    let find = |wanted: &str| {
        spent
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, s)| s)
    };
    let (Some(raw), Some(bounded)) = (find(RAW), find("bounded")) else {
        report += "bounded was not measured: no verdict on its target.\n";
        return Ok(report);
    };
    // The verdict rests on the producer's share: a thread renamed in the
    // server would make it 0 ms and the target look within reach.
    let role = |name: &str| {
        (bounded.role(name).map(|seconds| bounded.per_gb(seconds)))
            .ok_or_else(|| format!("bounded: no server thread named {name:?} was read"))
    };
    let (producer, writer) = (role("producer")?, role("conn")?);
    let wanted = BOUNDED_OF_RAW_TARGET * raw.rate();
    let allowed = allowed_per_gb(cores, wanted);
    let least = producer + raw.per_gb(raw.machine);
    let _ = writeln!(
        report,
        "{BOUNDED_OF_RAW_TARGET} x the raw copy is {:.0} MB/s: {cores} busy cores give each GB at most {allowed:.0} ms of CPU at that rate.\n\
         bounded spends {:.0} (producer {producer:.0}, writer {writer:.0}, client {:.0}); rendering plus the raw copy's own cost is {least:.0}: {}.",
        wanted / MB,
        bounded.per_gb(bounded.machine),
        bounded.per_gb(bounded.client),
        if least > allowed {
            "out of reach on this machine for anything that renders rows"
        } else {
            "within reach, if hand-offs cost nothing"
        },
    );
    Ok(report)
}

/// The counters at one moment: what a span's [`Spent`] is the difference of.
struct Reading {
    /// The server's threads by id: role and CPU seconds; empty for the raw
    /// copy, whose writer is a thread of this process.
    server: HashMap<String, (String, f64)>,
    /// The reading thread's CPU seconds.
    client: f64,
    /// The machine's busy ticks.
    machine: u64,
    at: Instant,
}

impl Reading {
    /// Now; the server's threads too if `server` is its process id.
    fn now(server: Option<u32>) -> Result<Reading, String> {
        Ok(Reading {
            server: server.map_or_else(|| Ok(HashMap::new()), threads)?,
            client: own_cpu()?,
            machine: cpu_ticks()?.0,
            at: Instant::now(),
        })
    }

    /// What was spent from `earlier` to this reading, while `bytes` arrived.
    /// Threads born in between count from zero; a thread that ended before
    /// this reading counts only if the caller put its last sight of it in
    /// (see [`sampled_download`]).
    fn since(self, earlier: &Reading, bytes: u64) -> Spent {
        let mut server = HashMap::new();
        for (tid, (role, seconds)) in self.server {
            let start = earlier.server.get(&tid).map_or(0.0, |(_, s)| *s);
            *server.entry(role).or_default() += seconds - start;
        }
        Spent {
            bytes,
            seconds: (self.at - earlier.at).as_secs_f64(),
            server,
            client: self.client - earlier.client,
            machine: (self.machine - earlier.machine) as f64 / TICKS_PER_SECOND,
        }
    }
}

/// One download of `target`, the server's threads read every
/// [`SAMPLE_BYTES`]; the span ends at the last reading.
fn sampled_download(
    server: &ServerProcess,
    target: &str,
    buffer: &mut [u8],
) -> Result<Spent, String> {
    let pid = Some(server.pid());
    let before = Reading::now(pid)?;
    let mut last = None;
    // Every server thread as last seen: one that ends before the final
    // reading is missing from it, and its CPU with it.
    let mut seen = HashMap::new();
    let mut next_sample = SAMPLE_BYTES;
    let sample = |received: u64| {
        if received >= next_sample {
            let reading = Reading::now(pid)?;
            seen.extend(reading.server.clone());
            last = Some((reading, received));
            next_sample = received + SAMPLE_BYTES;
        }
        Ok(())
    };
    let received = download_watched(server.addr(), &get_request(target), buffer, sample)
        .map_err(|e| format!("{target}: {e}"))?;
    let Some((mut last, bytes)) = last else {
        return Err(format!("{target}: {received} bytes, too few to sample"));
    };
    last.server = seen;
    Ok(last.since(&before, bytes))
}

/// One raw copy: the client's and the machine's CPU, over the whole copy.
fn raw_download(raw: &RawCopy, buffer: &mut [u8]) -> Result<Spent, String> {
    let before = Reading::now(None)?;
    let bytes = raw.once(buffer)?;
    Ok(Reading::now(None)?.since(&before, bytes))
}

/// Every thread of process `pid`: its role (name without a trailing
/// `-NUMBER`) and its CPU seconds so far. A thread that ends while it is
/// read is skipped: it is gone from the next reading too.
fn threads(pid: u32) -> Result<HashMap<String, (String, f64)>, String> {
    let dir = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))?;
    let mut threads = HashMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let (Ok(name), Ok(schedstat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("schedstat")),
        ) else {
            continue;
        };
        let name = name.trim_end();
        let role = match name.rsplit_once('-') {
            Some((role, n)) if n.bytes().all(|b| b.is_ascii_digit()) => role,
            _ => name,
        };
        let tid = entry.file_name().to_string_lossy().into_owned();
        threads.insert(tid, (role.to_string(), cpu_seconds(&schedstat)?));
    }
    Ok(threads)
}

/// The calling thread's CPU seconds so far.
fn own_cpu() -> Result<f64, String> {
    let path = "/proc/thread-self/schedstat";
    cpu_seconds(&std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?)
}

/// The first field of a `schedstat` file: nanoseconds on a CPU.
fn cpu_seconds(schedstat: &str) -> Result<f64, String> {
    let field = schedstat.split_whitespace().next().unwrap_or_default();
    let nanoseconds: u64 = (field.parse()).map_err(|e| format!("schedstat {field:?}: {e}"))?;
    Ok(nanoseconds as f64 / 1e9)
}
