//! What the demo measures, and for how long: its configuration and every
//! default (the flags that set them are in `cli/demo.rs`).
//!
//! Every default is chosen so that `cargo run --release` with no arguments
//! shows the lesson's tables in about 80 s, the HTTP/2 part included;
//! `--quick` swaps in smaller ones for a first look.

use std::path::PathBuf;
use std::time::Duration;

use crate::export::Mode;

/// Rows of the slow export: 384 861 933 bytes, the lesson's "400 MB": far
/// more than a slow client reads in time, so each shows where the rest waits.
pub const DEFAULT_ROWS: u64 = 7_000_000;

/// The slow client's rate: 200 KiB/s, the phone of the lesson.
pub const DEFAULT_CLIENT_RATE: u64 = 200 * 1024;

/// How long each slow client reads: enough for the kernel buffers to fill
/// and RSS to settle, and four strategies still fit in a minute.
pub const DEFAULT_SECONDS: Duration = Duration::from_secs(8);

/// `--seconds` under `--quick`.
pub const QUICK_SECONDS: Duration = Duration::from_millis(1500);

/// Rows of the fast pass's full download: 1 000 000 rows, about 54 MB.
pub const DEFAULT_FAST_ROWS: u64 = 1_000_000;

/// `--fast-rows` under `--quick`: about 11 MB.
pub const QUICK_FAST_ROWS: u64 = 200_000;

/// Most concurrent slow clients per strategy. Each costs the server a thread
/// or two and, in the buggy modes, up to a body of heap: 16 in `buffer` mode
/// would ask for 6 GB, of which the buffering caps (1 GiB) let two in.
pub const MAX_CLIENTS: usize = 16;

/// Shortest `--seconds` accepted: four samples apart (the sampler's 50 ms
/// each). A reading with no sample leaves a column with no figure, which
/// a table would print as "0 B" and a sentence reason from as a queue the
/// kernel never filled.
pub const MIN_SECONDS: Duration = Duration::from_millis(200);

/// Longest `--seconds` accepted: ten minutes per strategy is already a long
/// demo, and it bounds the samples kept in memory (12 000 per strategy).
pub const MAX_SECONDS: Duration = Duration::from_secs(600);

/// How long the HTTP/2 part waits for its small response behind the
/// download: with the kernel's own send buffer it takes about as long as
/// the client needs to read 4 MiB, 20 s at 200 KiB/s.
pub const DEFAULT_HTTP2_WAIT: Duration = Duration::from_secs(30);

/// `--http2-wait` under `--quick`: enough for the cases that are quick.
pub const QUICK_HTTP2_WAIT: Duration = Duration::from_secs(3);

/// When the HTTP/2 part's small request goes, after its download began.
pub const HTTP2_THEN_AFTER: Duration = Duration::from_secs(3);

/// [`HTTP2_THEN_AFTER`] under `--quick`.
pub const QUICK_HTTP2_THEN_AFTER: Duration = Duration::from_secs(1);

/// Where the CSV and the chart go unless `--out` says otherwise: `demo`
/// in cargo's output folder, as criterion puts `criterion` there.
/// `cargo run` starts the binary in whatever folder it was typed in, and
/// tells it the package's (`CARGO_MANIFEST_DIR`): so `$CARGO_TARGET_DIR/demo`
/// if that is set (relative, to the folder typed in, as for cargo), else
/// the package's `target/demo`, never a `target` made in `src/`. A target
/// folder set by `--target-dir` or cargo's config is not told to the
/// binary, and not followed. Run by hand, `target/demo` in the current folder.
pub fn default_out() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|value| !value.is_empty());
    match (var("CARGO_TARGET_DIR"), var("CARGO_MANIFEST_DIR")) {
        (Some(target), _) => PathBuf::from(target).join("demo"),
        (None, Some(package)) => PathBuf::from(package).join("target").join("demo"),
        (None, None) => PathBuf::from("target").join("demo"),
    }
}

/// Everything `demo` can be told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoConfig {
    /// Rows of the export each slow client requests.
    pub rows: u64,
    /// Bytes per second each slow client reads.
    pub client_rate: u64,
    /// How long each slow client reads before it disconnects.
    pub seconds: Duration,
    /// The strategies to measure, in the order given.
    pub modes: Vec<Mode>,
    /// Concurrent slow clients per strategy.
    pub clients: usize,
    /// Rows of the fast pass's full download; 0 skips the fast pass.
    pub fast_rows: u64,
    /// How long the HTTP/2 part waits for its small response; zero skips
    /// the part.
    pub http2_wait: Duration,
    /// When the HTTP/2 part's small request goes.
    pub http2_then_after: Duration,
    /// Folder for `samples.csv`, `chart.svg`, `http2-chart.svg` and
    /// `report.md`.
    pub out: PathBuf,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            rows: DEFAULT_ROWS,
            client_rate: DEFAULT_CLIENT_RATE,
            seconds: DEFAULT_SECONDS,
            modes: Mode::ALL.to_vec(),
            clients: 1,
            fast_rows: DEFAULT_FAST_ROWS,
            http2_wait: DEFAULT_HTTP2_WAIT,
            http2_then_after: HTTP2_THEN_AFTER,
            out: default_out(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's demo figures were measured at these defaults: its
    /// "200 KiB/s for 8 s" is theirs, and the HTTP/2 wait is longer than
    /// the kernel's 4 MiB take at the client's rate, as its doc asks.
    #[test]
    fn the_defaults_are_what_the_readme_measured() {
        let readme = include_str!("../../README.md");
        let said = format!(
            "{} KiB/s for {} s",
            DEFAULT_CLIENT_RATE / 1024,
            DEFAULT_SECONDS.as_secs()
        );
        assert!(readme.contains(&said), "{said:?} not in README.md");
        let kernel_case = (4 << 20) as f64 / DEFAULT_CLIENT_RATE as f64;
        assert!(DEFAULT_HTTP2_WAIT.as_secs_f64() > kernel_case);
    }
}
