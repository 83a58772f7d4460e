//! The command line, parsed by hand:
//! `backpressure [demo|serve|slow-client] [--flag value]…`.
//!
//! Conventions a user can rely on: `--flag value` and `--flag=value` both
//! work; `-h`/`--help` as the command, or among `serve`'s flags, prints help
//! and exits 0; a bad flag or value
//! prints one line on stderr naming it and exits 2 ([`EXIT_USAGE`]), the
//! code shells and `getopt`-style tools use for "you called me wrong".
//!
//! Value syntax: sizes are bytes with an optional `k` or `m` suffix (KiB,
//! MiB), durations a number with `ms`, `s` or `m`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use crate::csv_rows::MAX_ROWS;
use crate::demo::config::{self as demo_config, DemoConfig};
use crate::server::{
    DEFAULT_ADDR, DEFAULT_CHANNEL_DEPTH, DEFAULT_CHUNK_BYTES, DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_BUFFERED_TOTAL, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MIN_RATE, DEFAULT_RATE_GRACE, DEFAULT_SEND_TIMEOUT, ServerConfig,
};
use crate::slow_client::{self, SlowClientArgs};

/// Exit code for a runtime failure, such as an address already in use.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a bad command line.
pub const EXIT_USAGE: u8 = 2;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the export server.
    Serve(ServerConfig),
    /// Measure the four strategies (the default command).
    Demo(DemoConfig),
    /// Download a URL at a limited rate.
    SlowClient(SlowClientArgs),
    /// Print this text to stdout and exit 0.
    Help(String),
    /// Print the version and exit 0.
    Version,
}

/// A command line that cannot be run; its text is one line for stderr.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (see 'backpressure --help')", self.0)
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    let args = args
        .into_iter()
        .map(|arg| {
            arg.into_string()
                .map_err(|arg| UsageError(format!("argument {arg:?} is not valid UTF-8")))
        })
        .collect::<Result<Vec<String>, _>>()?;
    let mut args = args.into_iter();
    match args.next().as_deref() {
        // No command: the demo with defaults (the main job of this binary).
        None => Ok(Command::Demo(DemoConfig::default())),
        Some("serve") => parse_serve(args),
        Some("demo") => Ok(DemoConfig::parse(args)?
            .map_or_else(|| Command::Help(demo_config::help()), Command::Demo)),
        Some("slow-client") => Ok(SlowClientArgs::parse(args)?
            .map_or_else(|| Command::Help(slow_client::help()), Command::SlowClient)),
        Some("-h" | "--help" | "help") => Ok(Command::Help(main_help())),
        Some("-V" | "--version") => Ok(Command::Version),
        Some(flag) if flag.starts_with('-') => Err(UsageError(format!(
            "unknown flag '{flag}': flags follow a command, as in 'backpressure serve {flag}'"
        ))),
        Some(other) => Err(UsageError(format!("unknown command '{other}'"))),
    }
}

/// The flags `serve` takes, each followed by a value.
const SERVE_FLAGS: [&str; 11] = [
    "--addr",
    "--chunk-bytes",
    "--channel-depth",
    "--max-rows",
    "--header-timeout",
    "--send-timeout",
    "--max-connections",
    "--min-rate",
    "--rate-grace",
    "--max-buffered-bytes",
    "--max-buffered-total",
];

fn parse_serve(mut args: impl Iterator<Item = String>) -> Result<Command, UsageError> {
    let mut config = ServerConfig::default();
    while let Some(arg) = args.next() {
        let (flag, inline_value) = split_flag(arg);
        if matches!(flag.as_str(), "-h" | "--help") {
            return Ok(Command::Help(serve_help()));
        }
        if flag == "--quiet" {
            config.quiet = switch(&flag, inline_value)?;
            continue;
        }
        if flag == "--exit-on-stdin-eof" {
            config.exit_on_stdin_eof = switch(&flag, inline_value)?;
            continue;
        }
        if !SERVE_FLAGS.contains(&flag.as_str()) {
            return Err(UsageError(format!("unknown flag '{flag}' for serve")));
        }
        let value = flag_value(&flag, inline_value, &mut args)?;
        let bad = |what: &str| UsageError(format!("{flag}: {what}, got '{value}'"));
        match flag.as_str() {
            "--addr" => {
                config.addr = value
                    .parse::<SocketAddr>()
                    .map_err(|_| bad("expected IP:PORT, such as 127.0.0.1:8080"))?;
            }
            "--chunk-bytes" => {
                config.chunk_bytes = parse_size(&value)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| bad("expected a size in bytes, such as 16384 or 16k"))?;
            }
            "--channel-depth" => {
                config.channel_depth = parse_number(&value)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| bad("expected a number of chunks"))?;
            }
            "--max-rows" => {
                config.max_rows =
                    parse_number(&value).ok_or_else(|| bad("expected a number of rows"))?;
            }
            "--header-timeout" => {
                config.header_timeout = parse_duration(&value)
                    .ok_or_else(|| bad("expected a duration, such as 500ms or 10s"))?;
            }
            "--send-timeout" => {
                config.send_timeout = parse_duration(&value)
                    .ok_or_else(|| bad("expected a duration, such as 500ms or 60s"))?;
            }
            "--max-connections" => {
                config.max_connections = parse_number(&value)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| bad("expected a number of connections"))?;
            }
            "--min-rate" => {
                config.min_rate = parse_size(&value)
                    .ok_or_else(|| bad("expected bytes per second, such as 240 or 16k"))?;
            }
            "--rate-grace" => {
                config.rate_grace =
                    parse_duration(&value).ok_or_else(|| bad("expected a duration, such as 5s"))?;
            }
            "--max-buffered-bytes" => {
                config.max_buffered_bytes = parse_size(&value)
                    .ok_or_else(|| bad("expected a size in bytes, such as 512m or 1g"))?;
            }
            "--max-buffered-total" => {
                config.max_buffered_total = parse_size(&value)
                    .ok_or_else(|| bad("expected a size in bytes, such as 512m or 1g"))?;
            }
            _ => unreachable!("SERVE_FLAGS lists exactly the flags matched above"),
        }
    }
    config.validate().map_err(UsageError)?;
    Ok(Command::Serve(config))
}

/// Splits `--flag=value` into the flag and its value; any other argument
/// (`--flag`, `-h`, a URL) comes back whole, without one.
pub fn split_flag(arg: String) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => {
            (flag.to_string(), Some(value.to_string()))
        }
        _ => (arg, None),
    }
}

/// The value of `flag`: the one given inline (`--flag=value`), or else the
/// next argument (`--flag value`).
pub fn flag_value(
    flag: &str,
    inline_value: Option<String>,
    args: &mut impl Iterator<Item = String>,
) -> Result<String, UsageError> {
    match inline_value {
        Some(value) => Ok(value),
        None => args
            .next()
            .ok_or_else(|| UsageError(format!("{flag} needs a value"))),
    }
}

/// A flag that takes no value (`--quiet`): true, or an error if one was
/// given inline.
pub fn switch(flag: &str, inline_value: Option<String>) -> Result<bool, UsageError> {
    match inline_value {
        None => Ok(true),
        Some(_) => Err(UsageError(format!("{flag} takes no value"))),
    }
}

/// Plain decimal digits (no sign, no separators).
pub fn parse_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Bytes, with an optional `k` (KiB), `m` (MiB) or `g` (GiB) suffix:
/// `4096`, `16k`, `1m`, `1g`.
pub fn parse_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 1024),
        b'm' | b'M' => (&text[..text.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&text[..text.len() - 1], 1024 * 1024 * 1024),
        _ => (text, 1),
    };
    parse_number(digits)?.checked_mul(unit)
}

/// A number with a unit: `500ms`, `5s`, `2m`. A bare number is refused,
/// because nobody can guess whether it meant seconds or milliseconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return parse_number(ms).map(Duration::from_millis);
    }
    if let Some(s) = text.strip_suffix('s') {
        return parse_number(s).map(Duration::from_secs);
    }
    let minutes = parse_number(text.strip_suffix('m')?)?;
    Some(Duration::from_secs(minutes.checked_mul(60)?))
}

fn main_help() -> String {
    format!(
        "backpressure {version}: a streamed HTTP response is done when its bytes drain,\n\
         not when the handler returns. A CSV export server that measures why.\n\
         \n\
         Usage:\n\
         \x20   backpressure [demo [FLAGS]]           measure the four strategies (the default command)\n\
         \x20   backpressure serve [FLAGS]            run the export server\n\
         \x20   backpressure slow-client URL [FLAGS]  download at a phone's rate\n\
         \x20   backpressure serve --help             the server's flags and their defaults\n\
         \x20                                         (likewise demo --help, slow-client --help)\n\
         \x20   backpressure --version\n\
         \n\
         Exit codes: 0 success, {EXIT_FAILURE} runtime failure (e.g. address in use), {EXIT_USAGE} bad command line.\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

fn serve_help() -> String {
    format!(
        "Usage: backpressure serve [FLAGS]\n\
         \n\
         Serves GET /export.csv?rows=N&mode=buffer|unbounded|bounded|pipeline, /metrics, /healthz and /.\n\
         The first line on stdout is 'listening on http://ADDR:PORT'.\n\
         \n\
         Flags:\n\
         \x20   --addr IP:PORT             address to listen on; port 0 picks a free one [default: {DEFAULT_ADDR}]\n\
         \x20   --chunk-bytes SIZE         most bytes per chunk, 1 to 16m [default: {chunk}]\n\
         \x20   --channel-depth N          chunks the bounded channel holds, 0 to 1024 [default: {DEFAULT_CHANNEL_DEPTH}]\n\
         \x20   --max-rows N               most rows one export may ask for [default: {MAX_ROWS}]\n\
         \x20   --header-timeout DUR       time from accept to receive the request head [default: {header}s]\n\
         \x20   --send-timeout DUR         longest one write may wait for the client to read [default: {send}s]\n\
         \x20   --min-rate SIZE            slowest a response may drain, bytes/s, after the grace [default: {DEFAULT_MIN_RATE}]\n\
         \x20   --rate-grace DUR           time any write gets before --min-rate applies [default: {grace}s]\n\
         \x20   --max-connections N        connections served at once; more get 503 [default: {DEFAULT_MAX_CONNECTIONS}]\n\
         \x20   --max-buffered-bytes SIZE  most bytes one response may queue in memory [default: {per_response}]\n\
         \x20   --max-buffered-total SIZE  most bytes all responses may queue together [default: {total}]\n\
         \x20   --quiet                    no access log on stderr\n\
         \x20   --exit-on-stdin-eof        exit when stdin closes (the demo's child servers use it)\n\
         \x20   -h, --help                 print this help\n\
         \n\
         SIZE is bytes with an optional k, m or g suffix (KiB, MiB, GiB); DUR is a number with ms, s or m.\n",
        chunk = format_size(DEFAULT_CHUNK_BYTES as u64),
        header = DEFAULT_HEADER_TIMEOUT.as_secs(),
        send = DEFAULT_SEND_TIMEOUT.as_secs(),
        grace = DEFAULT_RATE_GRACE.as_secs(),
        per_response = format_size(DEFAULT_MAX_BUFFERED_BYTES),
        total = format_size(DEFAULT_MAX_BUFFERED_TOTAL),
    )
}

/// `16384` → `16k`: sizes in help text as a user would type them.
fn format_size(bytes: u64) -> String {
    match bytes {
        b if b > 0 && b % (1024 * 1024 * 1024) == 0 => format!("{}g", b >> 30),
        b if b > 0 && b % (1024 * 1024) == 0 => format!("{}m", b / (1024 * 1024)),
        b if b > 0 && b % 1024 == 0 => format!("{}k", b / 1024),
        b => b.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn no_arguments_run_the_demo_with_defaults() {
        assert_eq!(parse_args(&[]), Ok(Command::Demo(DemoConfig::default())));
        assert!(matches!(
            parse_args(&["demo", "--quick"]),
            Ok(Command::Demo(_))
        ));
        assert!(matches!(
            parse_args(&["demo", "--help"]),
            Ok(Command::Help(_))
        ));
        assert!(matches!(
            parse_args(&["slow-client", "http://127.0.0.1:1/"]),
            Ok(Command::SlowClient(_))
        ));
        assert!(matches!(
            parse_args(&["slow-client", "-h"]),
            Ok(Command::Help(_))
        ));
        let Ok(Command::Serve(config)) = parse_args(&["serve", "--exit-on-stdin-eof"]) else {
            panic!("--exit-on-stdin-eof was refused");
        };
        assert!(config.exit_on_stdin_eof);
        assert!(parse_args(&["serve", "--exit-on-stdin-eof=1"]).is_err());
    }

    #[test]
    fn serve_flags_in_both_spellings() {
        let Ok(Command::Serve(config)) = parse_args(&[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--chunk-bytes=7",
            "--channel-depth",
            "0",
            "--max-rows",
            "1000",
            "--header-timeout",
            "250ms",
            "--send-timeout=2s",
            "--min-rate",
            "16k",
            "--rate-grace=500ms",
            "--max-connections",
            "8",
            "--max-buffered-bytes",
            "2m",
            "--max-buffered-total=1g",
            "--quiet",
        ]) else {
            panic!("valid flags were refused");
        };
        assert_eq!(
            (config.min_rate, config.rate_grace, config.max_connections),
            (16 * 1024, Duration::from_millis(500), 8)
        );
        assert_eq!(
            (
                config.max_buffered_bytes,
                config.max_buffered_total,
                config.quiet
            ),
            (2 << 20, 1 << 30, true)
        );
        assert_eq!(config.addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.chunk_bytes, 7);
        assert_eq!(config.channel_depth, 0);
        assert_eq!(config.max_rows, 1000);
        assert_eq!(config.header_timeout, Duration::from_millis(250));
        assert_eq!(config.send_timeout, Duration::from_secs(2));
    }

    #[test]
    fn bad_command_lines_name_the_problem() {
        for (args, mentions) in [
            (
                &["serve", "--chunk-bytes"][..],
                "--chunk-bytes needs a value",
            ),
            (
                &["serve", "--chunk-bytes", "0"],
                "--chunk-bytes must be from 1",
            ),
            (
                &["serve", "--chunk-bytes", "17m"],
                "--chunk-bytes must be from 1",
            ),
            (
                &["serve", "--chunk-bytes", "lots"],
                "--chunk-bytes: expected a size",
            ),
            (&["serve", "--channel-depth", "-1"], "--channel-depth"),
            (
                &["serve", "--max-rows", "100000001"],
                "--max-rows can only lower",
            ),
            (
                &["serve", "--addr", "localhost"],
                "--addr: expected IP:PORT",
            ),
            (
                &["serve", "--header-timeout", "10"],
                "--header-timeout: expected a duration",
            ),
            (
                &["serve", "--header-timeout", "0s"],
                "--header-timeout must be from",
            ),
            (
                &["serve", "--header-timeout", "18446744073709551615s"],
                "--header-timeout must be",
            ),
            (
                &["serve", "--send-timeout", "2h"],
                "--send-timeout: expected a duration",
            ),
            (
                &["serve", "--send-timeout", "61m"],
                "--send-timeout must be from",
            ),
            (
                &["serve", "--min-rate", "0"],
                "--min-rate must be at least 1",
            ),
            (
                &["serve", "--min-rate", "fast"],
                "--min-rate: expected bytes per second",
            ),
            (
                &["serve", "--rate-grace", "2h"],
                "--rate-grace: expected a duration",
            ),
            (
                &["serve", "--rate-grace", "61m"],
                "--rate-grace must be at most 60m",
            ),
            (
                &["serve", "--max-connections", "0"],
                "--max-connections must be from 1",
            ),
            (
                &["serve", "--max-connections", "5000"],
                "--max-connections must be from 1",
            ),
            (
                &["serve", "--max-buffered-bytes", "1t"],
                "--max-buffered-bytes: expected a size",
            ),
            (
                &["serve", "--max-buffered-total", "-1"],
                "--max-buffered-total: expected a size",
            ),
            (&["serve", "--quiet=yes"], "--quiet takes no value"),
            (&["serve", "--verbose", "1"], "unknown flag '--verbose'"),
            (&["serve", "extra"], "unknown flag 'extra'"),
            (&["--addr", "127.0.0.1:0"], "flags follow a command"),
            (&["demo-typo"], "unknown command 'demo-typo'"),
        ] {
            let error = parse_args(args).expect_err(&args.join(" ")).to_string();
            assert!(error.contains(mentions), "{args:?}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn help_lists_every_flag_with_its_default() {
        let Ok(Command::Help(help)) = parse_args(&["serve", "--addr", "1.2.3.4:5", "--help"])
        else {
            panic!("--help after other flags still prints help");
        };
        for flag in [
            "--addr",
            "--chunk-bytes",
            "--channel-depth",
            "--max-rows",
            "--header-timeout",
            "--send-timeout",
            "--min-rate",
            "--rate-grace",
            "--max-connections",
            "--max-buffered-bytes",
            "--max-buffered-total",
        ] {
            let line = help.lines().find(|l| l.contains(flag)).unwrap();
            assert!(line.contains("[default: "), "{line}");
        }
        assert!(help.contains("[default: 32k]"));
        assert!(matches!(parse_args(&["--help"]), Ok(Command::Help(_))));
    }

    #[test]
    fn value_syntax() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("16k"), Some(16 * 1024));
        assert_eq!(parse_size("1m"), Some(1024 * 1024));
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("1t"), None);
        assert_eq!(parse_size("99999999999999999999m"), None);
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(format_size(16 * 1024), "16k");
        assert_eq!(format_size(1000), "1000");
    }
}
