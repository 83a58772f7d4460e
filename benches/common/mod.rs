//! What the benchmarks that measure the real binary share: a `serve` child
//! process that is killed when dropped, a plain HTTP GET, and a scrape of
//! `/metrics` whose missing series are errors; the knobs read from the
//! environment, the machine's CPU ticks, and KiB and MiB as the tables
//! print them; a fast client and the raw copy it is held to
//! (`download.rs`); stalled clients, and the server watched while they
//! stall (`stall.rs`); the command line of the benchmarks that are
//! programs of their own (`args.rs`); and the arithmetic that turns
//! measurements into the published figures (`figures.rs`).
//!
//! A benchmark that measures an error page instead of an export would print
//! a fine-looking, meaningless figure, so every failure here is an `Err`
//! that the benchmark turns into a loud stop, never a default value.
#![allow(dead_code)] // each benchmark uses its own part of this module

pub mod args;
pub mod download;
pub mod figures;
pub mod stall;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use backpressure::{ChildServer, ChildStderr, ProcStatus, Scrape};

/// Longest a benchmark client waits for the server to accept or to send
/// anything: a stuck server fails the benchmark instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes of a small response read: a benchmark must not buffer
/// without a bound either.
const SMALL_RESPONSE_MAX_BYTES: u64 = 1024 * 1024;

/// Extra `serve` flags for every server a benchmark starts, from this
/// environment variable, split on spaces: how the chunk sizes and channel
/// depths in `src/server/config.rs` were compared, e.g.
/// `BENCH_SERVE_ARGS="--chunk-bytes 8k --channel-depth 2" cargo bench --bench
/// memory_footprint`. A flag a benchmark sets itself is left to the user
/// where it is a setting ([`own_flags`]); `tradeoff`, whose grid is the
/// chunk size and depth, refuses those two.
pub const SERVE_ARGS_ENV: &str = "BENCH_SERVE_ARGS";

/// Whether the `serve` flags `args` set `flag`, as `--flag value` or
/// `--flag=value`.
pub fn sets(args: &[String], flag: &str) -> bool {
    args.iter()
        .any(|arg| arg == flag || arg.strip_prefix(flag).is_some_and(|v| v.starts_with('=')))
}

/// A benchmark's own `serve` flags (`own`, each a flag and its value, or a
/// switch and `None`), less those the user's (`user`, from
/// [`SERVE_ARGS_ENV`]) set: the user's choice wins, and `serve` refuses a
/// flag given twice.
pub fn own_flags(own: &[(&str, Option<&str>)], user: &[String]) -> Vec<String> {
    own.iter()
        .filter(|(flag, _)| !sets(user, flag))
        .flat_map(|(flag, value)| std::iter::once(flag.to_string()).chain(value.map(String::from)))
        .collect()
}

/// The binary every server a benchmark starts runs, instead of this
/// build's, from this environment variable: how an older build is measured
/// against this one, e.g. `BENCH_SERVER_EXE=/tmp/old/backpressure`.
pub const SERVER_EXE_ENV: &str = "BENCH_SERVER_EXE";

/// A target's verdict on a figure that meets it or not: `holds` or
/// `MISSED`, but `not judged` in a debug build. `cargo test --benches`
/// runs the benchmarks unoptimised, to see that they run, and an
/// unoptimised server's figures say nothing of the targets.
pub fn verdict(meets: bool) -> &'static str {
    if cfg!(debug_assertions) {
        "not judged: a debug build"
    } else {
        holds(meets)
    }
}

/// A target's verdict in any build: `holds` or `MISSED`.
pub fn holds(meets: bool) -> &'static str {
    if meets { "holds" } else { "MISSED" }
}

/// Ends benchmark `name` with `message` on one line of stderr and exit code
/// `code`: what a criterion benchmark, whose `main` is criterion's and
/// cannot return an exit code, does instead of a panic's message and
/// backtrace. No destructor runs, and none is needed: a server child exits
/// when its stdin closes with this process (`ChildServer`).
pub fn stop(name: &str, code: u8, message: &str) -> ! {
    eprintln!("{name}: {message}");
    std::process::exit(code.into())
}

/// Writes `line` and a newline to stdout for benchmark `name`, or stops it
/// with exit code 1 if stdout has gone. `println!` would panic when the
/// reader leaves early (`cargo bench --bench tradeoff | head -3`); a report
/// that cannot be printed is a runtime failure like any other, as it is
/// for the binary's demo.
pub fn print_line(name: &str, line: std::fmt::Arguments) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        stop(name, 1, &format!("cannot print the report: {e}"));
    }
}

/// `println!` for a benchmark's report: `say!(NAME, "{x} MB/s")`. See
/// [`print_line`] for why.
#[allow(unused_macros)] // as `dead_code` above: the criterion benchmarks print nothing
macro_rules! say {
    ($name:expr, $($arg:tt)*) => {
        $crate::common::print_line($name, format_args!($($arg)*))
    };
}
#[allow(unused_imports)]
pub(crate) use say;

/// The flags in [`SERVE_ARGS_ENV`], or none if it is unset.
pub fn serve_args_from_env() -> Result<Vec<String>, String> {
    match std::env::var(SERVE_ARGS_ENV) {
        Ok(text) => Ok(text.split_whitespace().map(str::to_string).collect()),
        Err(std::env::VarError::NotPresent) => Ok(Vec::new()),
        Err(e) => Err(format!("{SERVE_ARGS_ENV}: {e}")),
    }
}

/// The positive whole number in environment variable `name`, or `default`
/// if it is unset: the knobs that make a run shorter or longer. Anything
/// else is an error, not the default: a mistyped knob must not measure
/// something other than what was asked for and look fine.
pub fn env_count(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(text) => positive_count(name, &text),
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(e) => Err(format!("{name}: {e}")),
    }
}

/// [`env_count`]'s reading of `text`, the value of `name`: a whole number
/// above zero, or an error.
pub fn positive_count(name: &str, text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{name}={text:?}: not a positive whole number")),
    }
}

/// Bytes as whole KiB (2^10 bytes), as the tables print memory per client.
pub fn kib(bytes: f64) -> String {
    format!("{:.0} KiB", bytes / 1024.0)
}

/// Bytes as MiB (2^20 bytes) to a tenth, as the tables print a process's.
pub fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// The whole machine's CPU time so far, in clock ticks, from the first
/// line of `/proc/stat`: `(busy, all)`. Busy counts softirq time too: over
/// loopback much of TCP's work runs there, and no process is charged for
/// it. Ticks are 10 ms, so a figure means something only summed over many
/// downloads.
pub fn cpu_ticks() -> Result<(u64, u64), String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    stat_ticks(&stat)
}

/// [`cpu_ticks`] from the text of `/proc/stat`: `(busy, all)`.
pub fn stat_ticks(stat: &str) -> Result<(u64, u64), String> {
    let line = (stat.lines().next())
        .filter(|line| line.starts_with("cpu "))
        .ok_or("/proc/stat: no cpu line first")?;
    let ticks = (line.split_whitespace().skip(1).take(8))
        .map(|t| {
            t.parse::<u64>()
                .map_err(|e| format!("/proc/stat: {t}: {e}"))
        })
        .collect::<Result<Vec<u64>, String>>()?;
    // user nice system idle iowait irq softirq steal
    let [user, nice, system, idle, iowait, irq, softirq, steal] = ticks[..] else {
        return Err(format!("/proc/stat: {line}"));
    };
    let busy = user + nice + system + irq + softirq;
    Ok((busy, busy + idle + iowait + steal))
}

/// A `backpressure serve` child process (the crate's [`ChildServer`]:
/// killed on drop, gone with its parent), its stderr hidden (only its
/// last lines kept, for an error): over thousands of requests an access
/// log would bury the results.
pub struct ServerProcess {
    child: ChildServer,
}

impl ServerProcess {
    /// Starts the real binary with `extra_args` and waits for its address.
    pub fn start(extra_args: &[String]) -> Result<ServerProcess, String> {
        let args: Vec<&str> = extra_args.iter().map(String::as_str).collect();
        let exe = std::env::var_os(SERVER_EXE_ENV)
            .map_or_else(|| env!("CARGO_BIN_EXE_backpressure").into(), PathBuf::from);
        ChildServer::start(&exe, &args, ChildStderr::Hidden)
            .map(|child| ServerProcess { child })
            .map_err(|e| start_error(&args, &e.to_string()))
    }

    pub fn addr(&self) -> SocketAddr {
        self.child.addr()
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Its `/proc/PID/status`, parsed.
    pub fn status(&self) -> Result<ProcStatus, String> {
        (self.child.status()).map_err(|e| format!("/proc/{}/status: {e}", self.pid()))
    }

    /// `/metrics`, parsed.
    pub fn metrics(&self) -> Result<Metrics, String> {
        self.child
            .scrape()
            .map(|scrape| Metrics { scrape })
            .map_err(|e| format!("/metrics: {e}"))
    }
}

/// Why a server did not start, in one line that names its flags: its
/// stderr, which would say which flag it refused, is thrown away, and a
/// mistyped [`SERVE_ARGS_ENV`] is the usual cause.
fn start_error(args: &[&str], why: &str) -> String {
    let set = match std::env::var(SERVE_ARGS_ENV) {
        Ok(text) if !text.trim().is_empty() => format!(" ({SERVE_ARGS_ENV}={text:?})"),
        _ => String::new(),
    };
    format!("cannot start `serve {}`{set}: {why}", args.join(" "))
}

/// A connection with both directions bounded by [`IO_TIMEOUT`].
pub fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("cannot set socket timeouts: {e}"))?;
    Ok(stream)
}

/// A `GET target` request, ready to write.
pub fn get_request(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n")
}

/// Sends `GET target` and returns the whole small response (head and
/// body, as text) once the server closes the connection.
pub fn get_small(addr: SocketAddr, target: &str) -> Result<String, String> {
    let mut stream = connect(addr)?;
    stream
        .write_all(get_request(target).as_bytes())
        .map_err(|e| format!("GET {target}: {e}"))?;
    let mut response = String::new();
    stream
        .take(SMALL_RESPONSE_MAX_BYTES)
        .read_to_string(&mut response)
        .map_err(|e| format!("GET {target}: {e}"))?;
    if !response.starts_with("HTTP/1.1 200 ") {
        let status = response.lines().next().unwrap_or("nothing");
        return Err(format!("GET {target}: {status}"));
    }
    Ok(response)
}

/// One scrape of `/metrics`, whose lookups are errors rather than defaults.
pub struct Metrics {
    /// The crate's own reading of the exposition.
    scrape: Scrape,
}

impl Metrics {
    /// The value of `series`, written exactly as the server writes it, e.g.
    /// `backpressure_queued_bytes{mode="bounded"}`.
    pub fn value(&self, series: &str) -> Result<f64, String> {
        self.scrape
            .get(series)
            .ok_or_else(|| format!("no metric {series} in /metrics"))
    }
}
