//! `backpressure demo`'s command line: what to measure, and for how long.
//!
//! Every flag has a default chosen so that `cargo run --release` with no
//! arguments shows the lesson's table in about a minute; `--quick` swaps in
//! smaller defaults for a first look in about ten seconds. A flag given
//! explicitly always wins over `--quick`, in any order.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{
    UsageError, flag_value, parse_duration, parse_number, parse_size, split_flag, switch,
};
use crate::csv_rows::MAX_ROWS;
use crate::strategy::Mode;

/// Rows of the slow client's export: 7 000 000 rows is 384 861 933 bytes,
/// the lesson's "400 MB export", far more than a slow client can read in
/// the demo's seconds, so each strategy shows where the rest waits.
pub const DEFAULT_ROWS: u64 = 7_000_000;

/// The slow client's rate: 200 KiB/s, the phone of the lesson.
pub const DEFAULT_CLIENT_RATE: u64 = 200 * 1024;

/// How long each slow client reads: long enough for the kernel buffers to
/// fill and for RSS to settle, short enough for four strategies to fit in a
/// minute.
pub const DEFAULT_SECONDS: Duration = Duration::from_secs(8);

/// `--seconds` under `--quick`.
pub const QUICK_SECONDS: Duration = Duration::from_millis(1500);

/// Rows of the fast pass's full download: 1 000 000 rows, about 54 MB.
pub const DEFAULT_FAST_ROWS: u64 = 1_000_000;

/// `--fast-rows` under `--quick`: about 11 MB.
pub const QUICK_FAST_ROWS: u64 = 200_000;

/// Most concurrent slow clients per strategy. Each costs the server one or
/// two threads and, in the buggy modes, up to a whole body of heap: 16
/// clients of the default export in `buffer` mode would ask for 6 GB, of
/// which the server's buffering caps (1 GiB in all by default) let two in.
pub const MAX_CLIENTS: usize = 16;

/// Longest `--seconds` accepted: ten minutes per strategy is already a long
/// demo, and it bounds the samples kept in memory (12 000 per strategy).
pub const MAX_SECONDS: Duration = Duration::from_secs(600);

/// Where the CSV and the chart go unless `--out` says otherwise.
pub const DEFAULT_OUT: &str = "target/demo";

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
    /// Folder for `samples.csv`, `chart.svg` and `report.md`.
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
            out: PathBuf::from(DEFAULT_OUT),
        }
    }
}

/// The flags `demo` takes with a value (`--quick` and `--help` take none).
const VALUE_FLAGS: [&str; 7] = [
    "--rows",
    "--client-rate",
    "--seconds",
    "--modes",
    "--clients",
    "--fast-rows",
    "--out",
];

impl DemoConfig {
    /// Parses the arguments after `demo`. `Ok(None)` means `--help`.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<DemoConfig>, UsageError> {
        let mut config = DemoConfig::default();
        let mut quick = false;
        let mut seconds = None;
        let mut fast_rows = None;
        while let Some(arg) = args.next() {
            let (flag, inline_value) = split_flag(arg);
            match flag.as_str() {
                "-h" | "--help" => return Ok(None),
                "--quick" => {
                    quick = switch(&flag, inline_value)?;
                    continue;
                }
                _ if VALUE_FLAGS.contains(&flag.as_str()) => {}
                _ => return Err(UsageError(format!("unknown flag '{flag}' for demo"))),
            }
            let value = flag_value(&flag, inline_value, &mut args)?;
            let bad = |what: &str| UsageError(format!("{flag}: {what}, got '{value}'"));
            match flag.as_str() {
                "--rows" => {
                    config.rows = parse_number(&value)
                        .filter(|rows| (1..=MAX_ROWS).contains(rows))
                        .ok_or_else(|| bad(&format!("expected 1 to {MAX_ROWS} rows")))?;
                }
                "--client-rate" => {
                    config.client_rate = parse_size(&value)
                        .filter(|&rate| rate > 0)
                        .ok_or_else(|| bad("expected bytes per second, such as 200k"))?;
                }
                "--seconds" => {
                    // Plain seconds, as the flag's name says, or any duration.
                    let duration = parse_number(&value)
                        .map(Duration::from_secs)
                        .or_else(|| parse_duration(&value))
                        .filter(|d| !d.is_zero() && *d <= MAX_SECONDS)
                        .ok_or_else(|| {
                            bad("expected 1 to 600 seconds, or a duration like 1500ms")
                        })?;
                    seconds = Some(duration);
                }
                "--modes" => config.modes = parse_modes(&value).map_err(|why| bad(&why))?,
                "--clients" => {
                    config.clients = parse_number(&value)
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|n| (1..=MAX_CLIENTS).contains(n))
                        .ok_or_else(|| bad(&format!("expected 1 to {MAX_CLIENTS} clients")))?;
                }
                "--fast-rows" => {
                    fast_rows = Some(
                        parse_number(&value)
                            .filter(|rows| *rows <= MAX_ROWS)
                            .ok_or_else(|| bad(&format!("expected 0 to {MAX_ROWS} rows")))?,
                    );
                }
                "--out" if value.is_empty() => return Err(bad("expected a folder")),
                "--out" => config.out = PathBuf::from(value),
                _ => unreachable!("VALUE_FLAGS lists exactly the flags matched above"),
            }
        }
        config.seconds = seconds.unwrap_or(if quick {
            QUICK_SECONDS
        } else {
            DEFAULT_SECONDS
        });
        config.fast_rows = fast_rows.unwrap_or(if quick {
            QUICK_FAST_ROWS
        } else {
            DEFAULT_FAST_ROWS
        });
        Ok(Some(config))
    }
}

/// `bounded,pipeline` → [Bounded, Pipeline]; no empty list, no repeats.
fn parse_modes(text: &str) -> Result<Vec<Mode>, String> {
    let mut modes = Vec::new();
    for name in text.split(',') {
        let mode = Mode::from_name(name.as_bytes())
            .ok_or_else(|| format!("expected a comma list of buffer, unbounded, bounded, pipeline ('{name}' is none of them)"))?;
        if modes.contains(&mode) {
            return Err(format!("'{name}' is listed twice"));
        }
        modes.push(mode);
    }
    Ok(modes)
}

/// `backpressure demo --help`.
pub fn help() -> String {
    format!(
        "Usage: backpressure demo [FLAGS]        (also what 'backpressure' with no command runs)\n\
         \n\
         Measures the four strategies: for each, starts a fresh server (this binary, 'serve'),\n\
         lets a slow client read an export at a phone's rate, samples the server's RSS, threads\n\
         and queued bytes and the kernel's socket queues every 50 ms, disconnects, and checks\n\
         the server let go. Then a fast client downloads a smaller export in full. Prints a\n\
         table and writes samples.csv, chart.svg and report.md into --out.\n\
         \n\
         Flags:\n\
         \x20   --rows N            rows of the slow client's export [default: {DEFAULT_ROWS}, ~385 MB]\n\
         \x20   --client-rate SIZE  slow client's bytes per second, k = KiB [default: {rate}k]\n\
         \x20   --seconds N         how long each slow client reads (or a duration: 1500ms) [default: {secs}]\n\
         \x20   --modes LIST        comma list of buffer,unbounded,bounded,pipeline [default: all four]\n\
         \x20   --clients N         concurrent slow clients per strategy, 1 to {MAX_CLIENTS} [default: 1]\n\
         \x20   --fast-rows N       rows of the fast pass's full download; 0 skips it [default: {DEFAULT_FAST_ROWS}]\n\
         \x20   --out DIR           output folder [default: {DEFAULT_OUT}]\n\
         \x20   --quick             a ~13 s first look: --seconds 1500ms --fast-rows {QUICK_FAST_ROWS}\n\
         \x20   -h, --help          print this help\n",
        rate = DEFAULT_CLIENT_RATE / 1024,
        secs = DEFAULT_SECONDS.as_secs(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<DemoConfig>, UsageError> {
        DemoConfig::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_every_flag() {
        assert_eq!(parse(&[]), Ok(Some(DemoConfig::default())));
        let config = parse(&[
            "--rows=1000",
            "--client-rate",
            "1m",
            "--seconds",
            "3",
            "--modes",
            "pipeline,buffer",
            "--clients=4",
            "--fast-rows",
            "0",
            "--out",
            "/tmp/x",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.rows, 1000);
        assert_eq!(config.client_rate, 1024 * 1024);
        assert_eq!(config.seconds, Duration::from_secs(3));
        assert_eq!(config.modes, vec![Mode::Pipeline, Mode::Buffer]);
        assert_eq!(config.clients, 4);
        assert_eq!(config.fast_rows, 0);
        assert_eq!(config.out, PathBuf::from("/tmp/x"));
        assert_eq!(parse(&["-h"]), Ok(None));
    }

    #[test]
    fn quick_changes_defaults_but_not_explicit_flags() {
        let quick = parse(&["--quick"]).unwrap().unwrap();
        assert_eq!(quick.seconds, QUICK_SECONDS);
        assert_eq!(quick.fast_rows, QUICK_FAST_ROWS);
        for args in [
            &["--seconds", "2", "--quick"][..],
            &["--quick", "--seconds=2"],
        ] {
            let config = parse(args).unwrap().unwrap();
            assert_eq!(config.seconds, Duration::from_secs(2));
            assert_eq!(config.fast_rows, QUICK_FAST_ROWS);
        }
        let config = parse(&["--seconds", "250ms"]).unwrap().unwrap();
        assert_eq!(config.seconds, Duration::from_millis(250));
    }

    #[test]
    fn bad_flags_name_themselves_in_one_line() {
        for (args, mentions) in [
            (&["--rows", "0"][..], "--rows"),
            (&["--rows", "100000001"], "--rows"),
            (&["--client-rate", "fast"], "--client-rate"),
            (&["--client-rate", "0"], "--client-rate"),
            (&["--seconds", "0"], "--seconds"),
            (&["--seconds", "601"], "--seconds"),
            (&["--modes", "bounded,nope"], "'nope'"),
            (&["--modes", ""], "--modes"),
            (&["--modes", "bounded,bounded"], "twice"),
            (&["--clients", "17"], "--clients"),
            (&["--out", ""], "--out"),
            (&["--out"], "--out needs a value"),
            (&["--quick=yes"], "--quick takes no value"),
            (&["--verbose"], "unknown flag '--verbose'"),
        ] {
            let error = parse(args).unwrap_err().to_string();
            assert!(error.contains(mentions), "{args:?}: {error}");
            assert!(!error.contains('\n'));
        }
    }
}
