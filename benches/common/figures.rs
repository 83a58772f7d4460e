//! The arithmetic that turns what the benchmarks measure into the figures
//! and verdicts `docs/benchmarks.md` publishes, apart from any measuring:
//! `memory_footprint`'s rows per client within the buffering budget,
//! `tradeoff`'s medians, rates, busy cores and Pareto front, and
//! `cpu_per_byte`'s CPU per gigabyte. Pure functions, so that
//! `tests/bench_figures.rs` checks each without a server.

use backpressure::{DEFAULT_MAX_BUFFERED_TOTAL, body_len};

/// Rows each stalled client asks for in `memory_footprint` and `tradeoff`:
/// the 385 MB export, far more than loopback socket buffers hold, so that
/// every connection really stalls.
pub const STALL_ROWS: u64 = 7_000_000;

/// The stalled clients the memory targets are defined at, and judged at:
/// `memory_footprint`'s largest count, `tradeoff`'s default N. Per client,
/// a server's fixed costs weigh more the fewer clients share them
/// (`docs/benchmarks.md` measures how much), so a run at another count is
/// shown, not judged.
pub const MEMORY_TARGET_CLIENTS: usize = 64;

/// Most body bytes all clients of `buffer` or `unbounded` may make the
/// server hold at once: those modes hold what they are asked for. With 16
/// and 64 clients each asks for a smaller export, so that N × body stays
/// under this; the table shows the rows asked for. Seven eighths of the
/// server's default `--max-buffered-total`, an eighth to spare: past it,
/// the server would refuse `buffer`'s clients with 503 and cut
/// `unbounded`'s, whose connections then hold nothing to measure.
pub const BUFFERING_BUDGET_BYTES: u64 = DEFAULT_MAX_BUFFERED_TOTAL / 8 * 7;

/// Rows per client in `memory_footprint`: [`STALL_ROWS`], or less for the
/// modes that hold the whole body, so that all `clients` together stay
/// within [`BUFFERING_BUDGET_BYTES`].
pub fn rows_for(strategy: &str, clients: usize) -> u64 {
    if strategy != "buffer" && strategy != "unbounded" {
        return STALL_ROWS;
    }
    let bytes_per_row = body_len(STALL_ROWS) / STALL_ROWS + 1;
    STALL_ROWS.min(BUFFERING_BUDGET_BYTES / clients as u64 / bytes_per_row)
}

/// Megabytes, as throughput is quoted (MB/s, not MiB/s).
pub const MB: f64 = 1e6;

/// MB/s of `bytes` delivered in `seconds`.
pub fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / MB / seconds
}

/// Throughput of one configuration over its K downloads, MB/s.
#[derive(Clone, Debug)]
pub struct Throughput {
    /// What the chart plots: one slow download cannot move it.
    pub median: f64,
    /// The slowest and fastest download, to show the spread.
    pub min: f64,
    pub max: f64,
}

impl Throughput {
    pub fn of(mut rates: Vec<f64>) -> Throughput {
        rates.sort_by(f64::total_cmp);
        let n = rates.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => rates[n / 2],
            _ => (rates[n / 2 - 1] + rates[n / 2]) / 2.0,
        };
        Throughput {
            median,
            min: rates.first().copied().unwrap_or(f64::NAN),
            max: rates.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// How many of the machine's `cores` were busy, from its CPU ticks over
/// the same span: `busy` of `all` (`cpu_ticks`, summed).
pub fn cores_busy(busy: u64, all: u64, cores: f64) -> f64 {
    busy as f64 / all.max(1) as f64 * cores
}

/// The connections a server has open while `clients` stall on it and
/// none was refused or cut: theirs, and the probe's that scrapes
/// `/metrics`.
pub fn open_at_stall(clients: usize) -> f64 {
    (clients + 1) as f64
}

/// Which of `points` (memory held, or `None` for a reference, which has
/// no bound and is on no front; and throughput) no other beats on both
/// axes: walking from the least memory held up, each that is faster than
/// every one before it.
pub fn front(points: &[(Option<f64>, f64)]) -> Vec<bool> {
    let mut on_front = vec![false; points.len()];
    let mut order: Vec<(f64, usize)> = (points.iter().enumerate())
        .filter_map(|(i, &(held, _))| Some((held?, i)))
        .collect();
    order.sort_by(|&(held_a, a), &(held_b, b)| {
        held_a
            .total_cmp(&held_b)
            .then(points[b].1.total_cmp(&points[a].1))
    });
    let mut best = f64::NEG_INFINITY;
    for (_, i) in order {
        if points[i].1 > best {
            best = points[i].1;
            on_front[i] = true;
        }
    }
    on_front
}

/// Milliseconds of CPU per gigabyte (10^9 bytes) received, as
/// `cpu_per_byte` prints them: `seconds / bytes × 10^12`.
pub fn per_gb(seconds: f64, bytes: u64) -> f64 {
    seconds / bytes.max(1) as f64 * 1e12
}

/// The most milliseconds of CPU each gigabyte may cost for `cores` busy
/// cores to deliver `rate` bytes per second: `cpu_per_byte`'s budget.
pub fn allowed_per_gb(cores: f64, rate: f64) -> f64 {
    cores / rate * 1e12
}
