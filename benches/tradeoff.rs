//! The high-water mark as a trade-off, measured: for each chunk size and
//! channel depth, what a fast client gets (throughput) against what a
//! stalled one costs (memory the server holds for it). Writes
//! `docs/tradeoff.csv` and `docs/tradeoff.svg`; `harness = false`.
//!
//! The grid: `bounded` at chunks of 8 KiB to 1 MiB × depths 0 to 4, and
//! `pipeline` at the same chunks (its one buffer); `unbounded` (server
//! defaults) and a raw socket copy of the pre-rendered body (in one write,
//! and in the server's largest writes, 64 KiB) are reference lines, since
//! none has a bound to plot. For each configuration, a fresh `serve` child
//! with `--chunk-bytes C --channel-depth D`:
//!
//! 1. **Memory per stalled client.** Warmed by a small export and idle;
//!    then N clients that ask for the 385 MB export and read nothing. Once
//!    the queue has settled: RSS growth ÷ N (`/proc/PID/status`), the
//!    kernel's send queue ÷ N (`tx_queue` of the server's sockets to those
//!    clients, `/proc/net/tcp`), and the userland queue ÷ N (`/metrics`).
//!    Held = RSS + kernel: everything one slow client makes the server keep.
//! 2. **Throughput of a fast client**, after the stalled ones left: the
//!    median of K downloads of the 1,000,000-row export (54 MB;
//!    `TRADEOFF_ROWS` sets the rows) over loopback. The downloads go in
//!    rounds, one from every configuration and reference per round (after
//!    an untimed round), so that a machine whose speed drifts moves them
//!    all alike: the ratios are of the same moments. With it, the cores
//!    the whole machine kept busy during each configuration's downloads
//!    (`/proc/stat`): whether the CPU was the limit. The table prints it;
//!    the CSV and the chart do not.
//!
//! The Pareto front is the configurations no other beats on both axes: the
//! most throughput for at most that memory. The server's defaults are
//! highlighted, and the targets for them printed.
//!
//! Why: every chunk size and depth buys speed for a fast client with memory
//! per slow one, and the defaults in `src/server/config.rs` are a point
//! chosen on this curve (`docs/benchmarks.md`, "How the defaults were
//! chosen"); one run measures all of it in the same moments.
//!
//! Read, one line per configuration: `MB/s` is the median download
//! (10^6 bytes of body per second), `min` and `max` the slowest and fastest
//! of the K, `cores` how many of the machine's cores were busy meanwhile;
//! then per stalled client, in KiB: `RSS/client`, `kern/client`,
//! `held/client` (the two summed: the chart's x) and `queued/client`. References
//! have no memory (`-`). Last, the targets at the defaults, each `holds`,
//! `MISSED`, `not judged` (memory at another N, or a debug build) or `not
//! measured`; the exit code is 1 only if something could not be measured,
//! since a missed target is a finding (`docs/benchmarks.md` records which
//! miss), and 2 for a knob or a word it cannot read.
//!
//! Knobs, for a short run:
//! - `cargo bench --bench tradeoff -- bounded` measures only the strategies
//!   named (`bounded`, `pipeline`); the references are always measured.
//!   Criterion's flags, handed to every benchmark by `cargo bench --`, are
//!   skipped (`common/args.rs`).
//! - `TRADEOFF_CHUNKS=16k,64k` and `TRADEOFF_DEPTHS=0,1` restrict the grid;
//!   `TRADEOFF_RUNS` is K (default 5), `TRADEOFF_CLIENTS` is N (default 64,
//!   where the memory targets are defined; at any other N they are shown,
//!   not judged).
//! - `TRADEOFF_QUICK=1`: chunks 16k, 64k and 256k, depths 0 and 1, K = 3,
//!   N = 8, plus the defaults: 10 to 30 s once built. `0` or empty is
//!   off; any other value is refused, not taken for on.
//! - `TRADEOFF_ROWS=7000000` times the 385 MB export instead of 54 MB: the
//!   start of a connection weighs less (see `docs/benchmarks.md`).
//! - `cargo test --benches`, which builds this unoptimised to see that it
//!   runs, measures the quick grid.
//! - The whole grid, run by `cargo bench` with at least the default K,
//!   the default N and no `BENCH_SERVE_ARGS`, writes to `docs/`; any
//!   other run to `tradeoff/` in cargo's target folder, so that it never
//!   replaces the committed figure. `TRADEOFF_OUT=DIR` writes the CSV and
//!   SVG to DIR instead; `BENCH_SERVE_ARGS` passes extra flags to every
//!   server (see `common`).

mod common;
mod tradeoff_chart;
mod tradeoff_grid;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use backpressure::{DEFAULT_CHUNK_BYTES, body_len};

use common::args::{strategies_from_command_line, usage_error};
use common::download::{CLIENT_BUFFER_BYTES, RawCopy, SERVER_WRITE_BYTES, download};
use common::figures::{
    MB, MEMORY_TARGET_CLIENTS, STALL_ROWS, Throughput, cores_busy, front, mb_per_s, open_at_stall,
};
use common::stall::{
    kernel_queue, queued, resident, stalled_clients, wait_for_stall, wait_until_idle,
};
use common::{ServerProcess, cpu_ticks, get_request, kib, own_flags, say, verdict};
use tradeoff_chart::{Chart, Family, Point, Reference};
use tradeoff_grid::{CHOOSABLE, Config, Settings, Strategy, settings, size_label};

/// Flags every server gets besides the grid's, unless `BENCH_SERVE_ARGS`
/// sets them: a minimum-rate grace long enough that no stalled client is
/// cut while it is being measured (a 64 KiB write is otherwise given up on
/// after 16 s).
const SERVE_FLAGS: [(&str, Option<&str>); 1] = [("--rate-grace", Some("5m"))];

// Targets at the defaults, from the issue that asked for this benchmark:
// fast-pass medians of the same run, and memory per stalled client.
/// Least `bounded` median as a fraction of `unbounded`'s.
const BOUNDED_OF_UNBOUNDED_TARGET: f64 = 0.9;
/// Least `pipeline` median as a fraction of `unbounded`'s.
const PIPELINE_OF_UNBOUNDED_TARGET: f64 = 0.8;
/// Least `bounded` median as a fraction of the raw copy's (in one write).
const BOUNDED_OF_RAW_TARGET: f64 = 0.75;
/// Most RSS growth per stalled `bounded` client.
const RSS_PER_CLIENT_TARGET_BYTES: f64 = 192.0 * 1024.0;
/// Most RSS growth and kernel send queue together per stalled `bounded`
/// client: everything one slow client makes the server hold.
const HELD_PER_CLIENT_TARGET_BYTES: f64 = 256.0 * 1024.0;

/// What one stalled client cost, averaged over the N.
#[derive(Clone, Copy, Debug)]
struct Memory {
    /// RSS growth per client.
    rss: f64,
    /// The kernel's send queue per client.
    kernel: f64,
    /// Body bytes queued in userland per client (`/metrics`).
    queued: f64,
}

impl Memory {
    /// Everything a slow client makes the server hold: RSS and kernel.
    fn held(&self) -> f64 {
        self.rss + self.kernel
    }
}

/// One row of the CSV.
struct Row {
    /// What was measured.
    config: Config,
    /// The fast client's downloads.
    throughput: Throughput,
    /// Cores the whole machine kept busy during those downloads, of
    /// `available_parallelism`: near all of them, and the CPU is the limit.
    cores_busy: f64,
    /// `None` for the references, which have no bound.
    memory: Option<Memory>,
    /// Whether no other row has more throughput for at most its memory;
    /// set once every row is in.
    on_front: bool,
}

/// How this benchmark names itself on stderr.
const NAME: &str = "tradeoff";

fn main() -> ExitCode {
    let filters = match strategies_from_command_line(NAME, &CHOOSABLE) {
        Ok(filters) => filters,
        Err(code) => return code,
    };
    // Every error here is a knob that cannot be read: a usage error.
    let settings = match settings(&filters) {
        Ok(settings) => settings,
        Err(e) => return usage_error(NAME, &e),
    };
    match run(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(settings: &Settings) -> Result<(), String> {
    say!(
        NAME,
        "tradeoff: {} configurations, median of {} downloads in interleaved rounds, {} stalled clients each{}; serve flags: {}; into {}",
        settings.grid.len(),
        settings.runs,
        settings.clients,
        if settings.quick { " (quick run)" } else { "" },
        match settings.serve_args.is_empty() {
            true => "defaults".to_string(),
            false => settings.serve_args.join(" "),
        },
        settings.out_dir.display()
    );
    let mut buffer = vec![0u8; CLIENT_BUFFER_BYTES];

    // Memory first: a fresh server per configuration, its stalled clients
    // measured and gone; the server is kept for the throughput rounds.
    let mut measured = Vec::new();
    for config in &settings.grid {
        let server = start_server(settings, config)?;
        let memory = stall(&server, config.strategy.name(), settings.clients)
            .map_err(|e| format!("{}: {e}", config.label()))?;
        say!(NAME, "  {:<22} memory measured", config.label());
        measured.push((*config, Target::Server(server), Some(memory)));
    }
    // The references: the bug, and the pre-rendered body copied to a socket
    // in one write and in the server's largest writes.
    let unbounded = Config {
        strategy: Strategy::Unbounded,
        chunk_bytes: DEFAULT_CHUNK_BYTES,
        depth: None,
    };
    let raw = Config {
        strategy: Strategy::Raw,
        chunk_bytes: 0,
        depth: None,
    };
    let raw_64k = Config {
        chunk_bytes: SERVER_WRITE_BYTES,
        ..raw
    };
    measured.push((
        unbounded,
        Target::Server(start_server(settings, &unbounded)?),
        None,
    ));
    let rows = settings.fast_rows;
    measured.push((raw, Target::Raw(RawCopy::new(rows, None)?), None));
    let raw_64k_copy = RawCopy::new(rows, Some(raw_64k.chunk_bytes))?;
    measured.push((raw_64k, Target::Raw(raw_64k_copy), None));

    // Throughput in rounds: one download from every configuration per
    // round, K rounds after an untimed one. A machine whose speed drifts
    // (a shared virtual machine's does, by 2× over minutes) then moves
    // every configuration alike, and the ratios between them hold.
    // The machine's CPU ticks are summed over each configuration's timed
    // downloads: how many of the cores were busy while it ran says whether
    // the CPU, not the strategy, was the limit.
    let mut rates = vec![Vec::with_capacity(settings.runs); measured.len()];
    let mut ticks = vec![(0, 0); measured.len()];
    for round in 0..=settings.runs {
        for (((config, target, _), rates), ticks) in measured.iter().zip(&mut rates).zip(&mut ticks)
        {
            let before = cpu_ticks()?;
            let rate = target
                .download(config, rows, &mut buffer)
                .map_err(|e| format!("{}: {e}", config.label()))?;
            let after = cpu_ticks()?;
            if round > 0 {
                rates.push(rate);
                *ticks = (ticks.0 + after.0 - before.0, ticks.1 + after.1 - before.1);
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;

    say!(
        NAME,
        "{:<20} {:>9} {:>9} {:>9} {:>6}  {:>11} {:>11} {:>11} {:>13}",
        "configuration",
        "MB/s",
        "min",
        "max",
        "cores",
        "RSS/client",
        "kern/client",
        "held/client",
        "queued/client"
    );
    let mut rows: Vec<Row> = measured
        .into_iter()
        .zip(rates)
        .zip(ticks)
        .map(|(((config, _, memory), rates), (busy, all))| Row {
            config,
            throughput: Throughput::of(rates),
            cores_busy: cores_busy(busy, all, cores),
            memory,
            on_front: false,
        })
        .collect();
    for row in &rows {
        say!(NAME, "{}", table_line(row));
    }
    mark_front(&mut rows);
    say!(NAME, "{}", targets(&rows, settings));
    write_outputs(settings, &rows)
}

/// What a fast download is timed against: a server, or the raw copy.
enum Target {
    Server(ServerProcess),
    Raw(RawCopy),
}

impl Target {
    /// One download of the fast export of `rows` rows: MB/s of body.
    fn download(&self, config: &Config, rows: u64, buffer: &mut [u8]) -> Result<f64, String> {
        let body = body_len(rows);
        let started = Instant::now();
        let received = match self {
            Target::Server(server) => {
                let mode = config.strategy.name();
                let request = get_request(&format!("/export.csv?rows={rows}&mode={mode}"));
                download(server.addr(), &request, buffer)?
            }
            Target::Raw(raw) => raw.once(buffer)?,
        };
        let secs = started.elapsed().as_secs_f64();
        if received < body {
            return Err(format!("{received} bytes, less than the {body}-byte body"));
        }
        Ok(mb_per_s(body, secs))
    }
}

fn start_server(settings: &Settings, config: &Config) -> Result<ServerProcess, String> {
    let mut args = own_flags(&SERVE_FLAGS, &settings.serve_args);
    args.extend(["--chunk-bytes".to_string(), config.chunk_bytes.to_string()]);
    if let Some(depth) = config.depth {
        args.extend(["--channel-depth".to_string(), depth.to_string()]);
    }
    args.extend(settings.serve_args.iter().cloned());
    ServerProcess::start(&args)
}

/// The RSS, kernel queue and userland queue each of `clients` stalled
/// clients cost `server`, from idle to a settled stall; back to idle after.
fn stall(server: &ServerProcess, mode: &str, clients: usize) -> Result<Memory, String> {
    let addr = server.addr();
    common::get_small(addr, &format!("/export.csv?rows=10&mode={mode}"))?;
    let idle = wait_until_idle(server, None)?;
    let target = format!("/export.csv?rows={STALL_ROWS}&mode={mode}");
    let streams = stalled_clients(addr, &target, clients)?;
    let (metrics, settled) = wait_for_stall(server, mode)?;
    if !settled {
        return Err("the stalled clients' queue never settled".to_string());
    }
    // Per client only means something if every client is still being
    // served (none refused or cut).
    let open = metrics.value("backpressure_connections_active")?;
    if open != open_at_stall(clients) {
        return Err(format!(
            "{open} connections open at the stall, expected {clients} and the probe"
        ));
    }
    let stalled = resident(server)?;
    let kernel = kernel_queue(addr, &streams)?;
    let queued = queued(&metrics, mode)?;
    drop(streams);
    // Every connection ended before the fast pass starts. (Not the idle
    // thread count: whether the probe's own connection thread is still
    // there when `/proc` is read is a race, and nothing here needs it.)
    wait_until_idle(server, None)?;
    let n = clients as f64;
    Ok(Memory {
        rss: (stalled.rss - idle.rss) / n,
        kernel: kernel / n,
        queued: queued / n,
    })
}

/// Marks the rows no other beats on both axes: walking from the least
/// memory held up, each row that is faster than every row before it.
fn mark_front(rows: &mut [Row]) {
    let points: Vec<(Option<f64>, f64)> = (rows.iter())
        .map(|row| (row.memory.map(|m| m.held()), row.throughput.median))
        .collect();
    for (row, on_front) in rows.iter_mut().zip(front(&points)) {
        row.on_front = on_front;
    }
}

/// Whether the targets hold at the defaults, in this run. Not judged
/// when `BENCH_SERVE_ARGS` changed the servers: a target at the defaults
/// is one on `serve` without flags.
fn targets(rows: &[Row], settings: &Settings) -> String {
    if !settings.serve_args.is_empty() {
        return format!(
            "targets: not judged, the servers ran with BENCH_SERVE_ARGS ({})",
            settings.serve_args.join(" ")
        );
    }
    let clients = settings.clients;
    let find = |wanted: fn(&Config) -> bool| rows.iter().find(|r| wanted(&r.config));
    let bounded = find(|c| c.strategy == Strategy::Bounded && c.is_default());
    let pipeline = find(|c| c.strategy == Strategy::Pipeline && c.is_default());
    let unbounded = find(|c| c.strategy == Strategy::Unbounded);
    let raw = find(|c| c.strategy == Strategy::Raw && c.chunk_bytes == 0);
    let raw_64k = find(|c| c.strategy == Strategy::Raw && c.chunk_bytes > 0);
    let mut text = format!("targets at the defaults ({clients} stalled clients):");
    let mut ratio = |name: &str, of: Option<&Row>, to: Option<&Row>, target: f64| {
        let line = match (of, to) {
            (Some(of), Some(to)) => {
                let ratio = of.throughput.median / to.throughput.median;
                format!("{ratio:.2} >= {target}: {}", verdict(ratio >= target))
            }
            _ => "not measured".to_string(),
        };
        let _ = write!(text, "\n  {name}: {line}");
    };
    ratio(
        "bounded / unbounded",
        bounded,
        unbounded,
        BOUNDED_OF_UNBOUNDED_TARGET,
    );
    ratio(
        "pipeline / unbounded",
        pipeline,
        unbounded,
        PIPELINE_OF_UNBOUNDED_TARGET,
    );
    ratio("bounded / raw copy", bounded, raw, BOUNDED_OF_RAW_TARGET);
    // Not a target: the same ceiling at the server's own largest write,
    // a ratio to read, with no verdict.
    if let (Some(of), Some(to)) = (bounded, raw_64k) {
        let ratio = of.throughput.median / to.throughput.median;
        let _ = write!(
            text,
            "\n  bounded / raw copy in 64 KiB writes: {ratio:.2} (not a target)"
        );
    }
    text += "\n  (whether the CPU each byte costs lets any strategy reach the raw copy's ratio here: cargo bench --bench cpu_per_byte)";
    let memory = bounded.and_then(|row| row.memory);
    for (name, value, target) in [
        (
            "bounded RSS per stalled client",
            memory.map(|m| m.rss),
            RSS_PER_CLIENT_TARGET_BYTES,
        ),
        (
            "bounded held per stalled client",
            memory.map(|m| m.held()),
            HELD_PER_CLIENT_TARGET_BYTES,
        ),
    ] {
        let line = match value {
            Some(v) if clients != MEMORY_TARGET_CLIENTS => format!(
                "{} (target {}): not judged: the target is defined at {MEMORY_TARGET_CLIENTS} stalled clients, this run had {clients}",
                kib(v),
                kib(target)
            ),
            Some(v) => format!("{} <= {}: {}", kib(v), kib(target), verdict(v <= target)),
            None => "not measured".to_string(),
        };
        let _ = write!(text, "\n  {name}: {line}");
    }
    text
}

fn table_line(row: &Row) -> String {
    let t = &row.throughput;
    let memory = row.memory.map_or_else(
        || format!("{:>11} {:>11} {:>11} {:>13}", "-", "-", "-", "-"),
        |m| {
            format!(
                "{:>11} {:>11} {:>11} {:>13}",
                kib(m.rss),
                kib(m.kernel),
                kib(m.held()),
                kib(m.queued)
            )
        },
    );
    format!(
        "{:<20} {:>9.0} {:>9.0} {:>9.0} {:>6.2}  {memory}",
        row.config.label(),
        t.median,
        t.min,
        t.max,
        row.cores_busy
    )
}

/// `tradeoff.csv` and `tradeoff.svg` in the output folder.
fn write_outputs(settings: &Settings, rows: &[Row]) -> Result<(), String> {
    let mut csv = String::from(
        "strategy,chunk_bytes,depth,throughput_mb_s,rss_per_client_bytes,\
         kernel_per_client_bytes,held_per_client_bytes,on_front,\
         queued_per_client_bytes,throughput_min_mb_s,throughput_max_mb_s,is_default\n",
    );
    for row in rows {
        let c = &row.config;
        // A raw copy's `chunk_bytes` is its write size, which tells its two
        // rows apart; the copy in one write has none, and leaves it empty.
        let chunk = match c.strategy {
            Strategy::Raw if c.chunk_bytes == 0 => String::new(),
            _ => c.chunk_bytes.to_string(),
        };
        let depth = c.depth.map(|d| d.to_string()).unwrap_or_default();
        let whole = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_default();
        let m = row.memory;
        let t = &row.throughput;
        let _ = writeln!(
            csv,
            "{},{chunk},{depth},{:.1},{},{},{},{},{},{:.1},{:.1},{}",
            c.strategy.name(),
            t.median,
            whole(m.map(|m| m.rss)),
            whole(m.map(|m| m.kernel)),
            whole(m.map(|m| m.held())),
            row.on_front,
            whole(m.map(|m| m.queued)),
            t.min,
            t.max,
            c.is_default(),
        );
    }
    let svg = tradeoff_chart::render(&chart(settings, rows));
    std::fs::create_dir_all(&settings.out_dir)
        .map_err(|e| format!("{}: {e}", settings.out_dir.display()))?;
    for (name, text) in [("tradeoff.csv", csv), ("tradeoff.svg", svg)] {
        let path = settings.out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        say!(NAME, "wrote {}", path.display());
    }
    Ok(())
}

/// The rows as the chart draws them.
fn chart(settings: &Settings, rows: &[Row]) -> Chart {
    let mut points = Vec::new();
    let mut references = Vec::new();
    for row in rows {
        let config = &row.config;
        let throughput = row.throughput.median;
        let Some(memory) = row.memory else {
            let label = match config.strategy {
                Strategy::Unbounded => "unbounded (the bug: holds the body)".to_string(),
                _ if config.chunk_bytes > 0 => "raw copy in the server's 64 KiB writes".to_string(),
                _ => "raw socket copy in one write (the ceiling)".to_string(),
            };
            references.push(Reference { label, throughput });
            continue;
        };
        let family = match config.depth {
            Some(depth) => Family::Bounded(depth),
            None => Family::Pipeline,
        };
        let short = match config.depth {
            Some(depth) => format!("{}×{depth}", size_label(config.chunk_bytes)),
            None => format!("p {}", size_label(config.chunk_bytes)),
        };
        let tooltip = format!(
            "{}: {throughput:.0} MB/s ({:.0}-{:.0}); per stalled client {} RSS + {} kernel = {} held, {} queued",
            config.label(),
            row.throughput.min,
            row.throughput.max,
            kib(memory.rss),
            kib(memory.kernel),
            kib(memory.held()),
            kib(memory.queued),
        );
        points.push(Point {
            short,
            family,
            held: memory.held(),
            throughput,
            on_front: row.on_front,
            is_default: config.is_default(),
            tooltip,
        });
    }
    let extra = if settings.serve_args.is_empty() {
        String::new()
    } else {
        format!("; serve {}", settings.serve_args.join(" "))
    };
    Chart {
        title: "Throughput of a fast client against memory per slow client".to_string(),
        subtitle: format!(
            "median of {} downloads of {:.0} MB over loopback; memory of {} stalled clients; {} cores{}{}",
            settings.runs,
            body_len(settings.fast_rows) as f64 / MB,
            settings.clients,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            extra,
            if settings.quick { "; QUICK RUN" } else { "" },
        ),
        points,
        references,
    }
}
