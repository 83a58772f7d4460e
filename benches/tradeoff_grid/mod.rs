//! The trade-off's grid and knobs: which configurations a run measures,
//! how they are named, and how the environment and the arguments narrow
//! them for a short run (`benches/tradeoff.rs` lists the knobs).

use std::path::{Path, PathBuf};

use backpressure::{DEFAULT_CHANNEL_DEPTH, DEFAULT_CHUNK_BYTES};

use crate::common::{env_count, serve_args_from_env, sets};

/// Sizes in the grid are KiB multiples, as `serve`'s flags write them.
pub const KIB: usize = 1024;
/// Chunk sizes of the full grid: 8 KiB to 1 MiB, doubling.
const CHUNKS: [usize; 8] = [
    8 * KIB,
    16 * KIB,
    32 * KIB,
    64 * KIB,
    128 * KIB,
    256 * KIB,
    512 * KIB,
    1024 * KIB,
];
/// Channel depths of the full grid.
const DEPTHS: [usize; 5] = [0, 1, 2, 3, 4];
/// Chunk sizes of the quick run (the defaults are added to any grid).
const QUICK_CHUNKS: [usize; 3] = [16 * KIB, 64 * KIB, 256 * KIB];
/// Channel depths of the quick run.
const QUICK_DEPTHS: [usize; 2] = [0, 1];
/// Downloads per configuration whose median is its throughput (K).
const DEFAULT_RUNS: usize = 5;
/// K in the quick run: a median of three still drops one outlier.
const QUICK_RUNS: usize = 3;
/// Stalled clients per configuration (N): the count the memory targets are
/// defined at, so that a default run judges them.
const DEFAULT_CLIENTS: usize = crate::common::figures::MEMORY_TARGET_CLIENTS;
/// N in the quick run: few enough to settle fast; its memory is shown, not
/// judged.
const QUICK_CLIENTS: usize = 8;
/// The fast client's export unless `TRADEOFF_ROWS` says otherwise: a
/// million rows, 54 MB, so that the whole grid runs in minutes.
const DEFAULT_FAST_ROWS: u64 = 1_000_000;

/// What moves the body, in this benchmark's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Producer thread, `sync_channel(depth)`, recycled buffers.
    Bounded,
    /// One buffer, rendered and written in turn on one thread.
    Pipeline,
    /// The bug: a reference line, since it holds the whole body.
    Unbounded,
    /// No server at all: the pre-rendered body written to a socket.
    Raw,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Bounded => "bounded",
            Strategy::Pipeline => "pipeline",
            Strategy::Unbounded => "unbounded",
            Strategy::Raw => "raw",
        }
    }
}

/// One point of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The `mode` the clients ask for.
    pub strategy: Strategy,
    /// `--chunk-bytes`: the chunk, and `pipeline`'s buffer; for the raw
    /// copy, its write size, 0 for the whole body in one write.
    pub chunk_bytes: usize,
    /// `--channel-depth`; only `bounded` has one.
    pub depth: Option<usize>,
}

impl Config {
    /// `bounded 32k×0`, `pipeline 64k`: how the table and chart name it.
    pub fn label(&self) -> String {
        let chunk = size_label(self.chunk_bytes);
        match (self.strategy, self.depth) {
            (Strategy::Raw, _) if self.chunk_bytes > 0 => format!("raw copy, {chunk} writes"),
            (Strategy::Raw, _) => "raw socket copy".to_string(),
            (strategy, Some(depth)) => format!("{} {chunk}×{depth}", strategy.name()),
            (strategy, None) => format!("{} {chunk}", strategy.name()),
        }
    }

    /// Whether this is what `serve` does with no flags.
    pub fn is_default(&self) -> bool {
        let chunk = self.chunk_bytes == DEFAULT_CHUNK_BYTES;
        match self.strategy {
            Strategy::Bounded => chunk && self.depth == Some(DEFAULT_CHANNEL_DEPTH),
            Strategy::Pipeline => chunk,
            Strategy::Unbounded | Strategy::Raw => false,
        }
    }
}

/// How the run was asked to go.
pub struct Settings {
    /// The grid's configurations, in the order they are measured.
    pub grid: Vec<Config>,
    /// K: downloads per configuration.
    pub runs: usize,
    /// N: stalled clients per configuration.
    pub clients: usize,
    /// Extra `serve` flags from `BENCH_SERVE_ARGS`.
    pub serve_args: Vec<String>,
    /// Where the CSV and SVG go.
    pub out_dir: PathBuf,
    /// Rows of the fast client's export: a million (54 MB) by default, short
    /// enough for the whole grid; `TRADEOFF_ROWS=7000000` times the 385 MB
    /// export, as a real slow-to-finish download would run.
    pub fast_rows: u64,
    /// Whether this was `TRADEOFF_QUICK`, said in the chart's subtitle.
    pub quick: bool,
}

/// `32k`, `1m`: a size as `serve`'s flags write it.
pub fn size_label(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}m", b >> 20),
        b if b >= KIB && b % KIB == 0 => format!("{}k", b / KIB),
        b => b.to_string(),
    }
}

/// `16k`, `1m`, `4096`: a size as `serve`'s flags take it.
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((at, 'k' | 'K')) => (&text[..at], KIB),
        Some((at, 'm' | 'M')) => (&text[..at], 1 << 20),
        _ => (text, 1),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is not a size such as 16k"))
}

/// A comma-separated list from `name`, or `None` if it is unset.
fn env_list<T>(
    name: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<Vec<T>>, String> {
    match std::env::var(name) {
        Ok(text) => text
            .split(',')
            .map(|piece| parse(piece).map_err(|e| format!("{name}: {e}")))
            .collect::<Result<Vec<T>, String>>()
            .map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => Err(format!("{name}: {e}")),
    }
}

/// Whether a whole grid's knobs measure it at least as well as the
/// defaults do, against the server as it ships: the default export's
/// `fast_rows`, at least the default K (`runs`), exactly the default N
/// (`clients`), and no `serve_args`. Only such a run replaces the
/// committed figure ([`settings`]).
pub fn measured_as_shipped(
    fast_rows: u64,
    runs: usize,
    clients: usize,
    serve_args: &[String],
) -> bool {
    fast_rows == DEFAULT_FAST_ROWS
        && runs >= DEFAULT_RUNS
        && clients == DEFAULT_CLIENTS
        && serve_args.is_empty()
}

/// What the command line may name: the strategies with a grid.
pub const CHOOSABLE: [&str; 2] = ["bounded", "pipeline"];

/// The grid and knobs, from the environment, for the strategies in
/// `filters` (all of [`CHOOSABLE`] if it is empty).
pub fn settings(filters: &[String]) -> Result<Settings, String> {
    // `cargo bench` runs an optimised build and passes `--bench`; `cargo
    // test --benches` (and `--all-targets`) runs this same program
    // unoptimised, without it, to see that it runs: the quick grid, as
    // criterion's benchmarks take one pass then, and its figures, far
    // below the real ones, never replace them. So does `cargo bench --
    // --test`, criterion's own test mode.
    let benchmarked = std::env::args().any(|arg| arg == "--bench")
        && !crate::common::args::test_mode(std::env::args())
        && !cfg!(debug_assertions);
    let quick = match std::env::var("TRADEOFF_QUICK") {
        Ok(text) => crate::common::args::switch("TRADEOFF_QUICK", Some(&text))?,
        Err(std::env::VarError::NotPresent) => false,
        Err(e) => return Err(format!("TRADEOFF_QUICK: {e}")),
    } || !benchmarked;
    let (chunks, depths, runs, clients) = if quick {
        (
            &QUICK_CHUNKS[..],
            &QUICK_DEPTHS[..],
            QUICK_RUNS,
            QUICK_CLIENTS,
        )
    } else {
        (&CHUNKS[..], &DEPTHS[..], DEFAULT_RUNS, DEFAULT_CLIENTS)
    };
    let chosen_chunks = env_list("TRADEOFF_CHUNKS", parse_size)?;
    let chunks = chosen_chunks.as_deref().unwrap_or(chunks).to_vec();
    let parse_depth = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| format!("{s:?} is not a depth"))
    };
    let chosen_depths = env_list("TRADEOFF_DEPTHS", parse_depth)?;
    let depths = chosen_depths.as_deref().unwrap_or(depths).to_vec();
    let wanted = |name: &str| crate::common::args::wanted(filters, name);

    let mut grid = Vec::new();
    let mut add = |config: Config| {
        if wanted(config.strategy.name()) && !grid.contains(&config) {
            grid.push(config);
        }
    };
    for &chunk_bytes in &chunks {
        for &depth in &depths {
            add(Config {
                strategy: Strategy::Bounded,
                chunk_bytes,
                depth: Some(depth),
            });
        }
    }
    for &chunk_bytes in &chunks {
        add(Config {
            strategy: Strategy::Pipeline,
            chunk_bytes,
            depth: None,
        });
    }
    // The defaults, in every grid: they are what the chart highlights.
    add(Config {
        strategy: Strategy::Bounded,
        chunk_bytes: DEFAULT_CHUNK_BYTES,
        depth: Some(DEFAULT_CHANNEL_DEPTH),
    });
    add(Config {
        strategy: Strategy::Pipeline,
        chunk_bytes: DEFAULT_CHUNK_BYTES,
        depth: None,
    });

    // Only the whole grid, benchmarked, replaces the committed figure,
    // measured at least as well as the defaults measure it (K at least the
    // default; N exactly it, since memory per client at another N is
    // another figure, and its targets are not judged), against the server
    // as it ships: a quick, partial, thinner or reconfigured run that
    // wrote to `docs/` would silently overwrite it.
    let fast_rows = env_count("TRADEOFF_ROWS", DEFAULT_FAST_ROWS)?;
    let runs = env_count("TRADEOFF_RUNS", runs as u64)? as usize;
    let clients = env_count("TRADEOFF_CLIENTS", clients as u64)? as usize;
    let serve_args = serve_args_from_env()?;
    // The grid sets these two itself, configuration by configuration.
    if let Some(flag) = ["--chunk-bytes", "--channel-depth"]
        .into_iter()
        .find(|flag| sets(&serve_args, flag))
    {
        return Err(format!(
            "BENCH_SERVE_ARGS sets {flag}, which the grid sets itself: \
             TRADEOFF_CHUNKS and TRADEOFF_DEPTHS choose the grid"
        ));
    }
    let full_grid = benchmarked
        && !quick
        && chosen_chunks.is_none()
        && chosen_depths.is_none()
        && filters.is_empty()
        && measured_as_shipped(fast_rows, runs, clients, &serve_args);
    let out_dir = match std::env::var_os("TRADEOFF_OUT") {
        Some(dir) => PathBuf::from(dir),
        None if full_grid => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs"),
        // In cargo's target folder, however it was chosen: the folder for
        // benchmarks' files that cargo names is in it.
        None => {
            let for_benchmarks = Path::new(env!("CARGO_TARGET_TMPDIR"));
            for_benchmarks
                .parent()
                .unwrap_or(for_benchmarks)
                .join("tradeoff")
        }
    };
    Ok(Settings {
        grid,
        fast_rows,
        runs,
        clients,
        serve_args,
        out_dir,
        quick,
    })
}
