//! `backpressure slow-client URL`: its flags, and a download that prints
//! its progress and says how the body ended.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::flags::{
    Flag, Spec, duration, format_duration, format_size, no_default, on, rate, size,
};
use super::{EXIT_FAILURE, say};
use crate::client::h2::{self, H2Options};
use crate::client::h2_stream::StreamReport;
use crate::client::response::BodyEnd;
use crate::client::slow_client::{ClientOptions, HttpUrl, IDLE_TIMEOUT, READ_POLL, SlowClient};
use crate::demo::units;
use crate::http::h2::frame::ErrorCode;
use crate::http::target::is_uri_byte;

/// Default `--rate`: 200 KiB/s, the phone of the lesson.
pub const DEFAULT_RATE: u64 = 200 * 1024;

/// Default `--window`: HTTP/2's own initial window, 65,535 bytes.
pub const DEFAULT_WINDOW: u32 = 65_535;

/// Default `--then-after`: the download is well under way by then.
pub const DEFAULT_THEN_AFTER: Duration = Duration::from_secs(3);

/// Longest `--for` and `--then-after`: a day. A slow client is watched,
/// not left running for weeks; and a deadline is the start plus this,
/// which past `Instant`'s range would panic instead of refusing the flag.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Largest `--receive-buffer`: SO_RCVBUF takes a C `int`, and a larger
/// value would only fail when connecting.
pub const MAX_RECEIVE_BUFFER: u32 = i32::MAX as u32;

/// How often progress is reported on stderr while it reads.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// `slow-client`'s command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowClientArgs {
    /// What to download; `None` only until the URL is parsed.
    pub url: Option<HttpUrl>,
    /// Bytes per second.
    pub rate: u64,
    /// Stop after this long; `None` reads until the body ends.
    pub read_for: Option<Duration>,
    /// Give up, the body cut, after this long without a byte.
    pub idle_timeout: Duration,
    /// A receive buffer of about this many bytes; `None` leaves the kernel's.
    pub receive_buffer: Option<u32>,
    /// Ask in HTTP/1.0.
    pub http_1_0: bool,
    /// Ask over HTTP/2 (cleartext, prior knowledge).
    pub http2: bool,
    /// HTTP/2: every window's size.
    pub window: u32,
    /// HTTP/2: a second path to ask for on the same connection.
    pub then: Option<String>,
    /// HTTP/2: how long after connecting the second request goes.
    pub then_after: Duration,
    /// `--window` or `--then-after` was given: flags that mean nothing
    /// without `--http2`, so `finish` refuses them there rather than
    /// ignore them.
    http2_flag_given: bool,
    /// `--then-after` was given: it means nothing without `--then`.
    then_after_given: bool,
}

impl Default for SlowClientArgs {
    fn default() -> Self {
        SlowClientArgs {
            url: None,
            rate: DEFAULT_RATE,
            read_for: None,
            idle_timeout: IDLE_TIMEOUT,
            receive_buffer: None,
            http_1_0: false,
            http2: false,
            window: DEFAULT_WINDOW,
            then: None,
            then_after: DEFAULT_THEN_AFTER,
            http2_flag_given: false,
            then_after_given: false,
        }
    }
}

/// Every flag of `slow-client`.
pub const SLOW_CLIENT: Spec<SlowClientArgs> = Spec {
    command: "slow-client",
    usage: "backpressure slow-client URL [FLAGS]",
    about: "GETs an http://host:port/path URL and reads the body at a limited rate, like a phone\n\
            on a weak network, then prints the bytes received, the rate achieved on the wire and how\n\
            the body ended. Exit code 0 if the body ended cleanly or --for ran out, 1 if it was cut, the\n\
            request failed or the status was not 2xx, 2 for a bad command line. It is serve's client:\n\
            over HTTP/1.1 a chunk extension or trailer field (allowed; serve sends neither) counts as a cut.",
    flags: &[
        Flag {
            name: "--rate",
            value: "SIZE",
            help: "bytes per second on the wire (head and framing included), k = KiB, m = MiB",
            default: |a| format_size(a.rate),
            set: |a, v| rate(v).map(|n| a.rate = n),
        },
        Flag {
            name: "--for",
            value: "DUR",
            help: "stop reading (and disconnect) this long after starting to connect (at most a day)",
            default: |_| "until the end".to_string(),
            set: |a, v| bounded_duration(v).map(|d| a.read_for = Some(d)),
        },
        Flag {
            name: "--idle-timeout",
            value: "DUR",
            help: "give up after this long without a byte while one is owed (the request failed or the body cut; at most a day)",
            default: |a| format_duration(a.idle_timeout),
            set: |a, v| bounded_duration(v).map(|d| a.idle_timeout = d),
        },
        Flag {
            name: "--receive-buffer",
            value: "SIZE",
            help: "a small receive buffer, like a phone's (the kernel doubles it)",
            default: |_| "the kernel's".to_string(),
            set: |a, v| match u32::try_from(size(v)?) {
                Ok(n) if n <= MAX_RECEIVE_BUFFER => {
                    a.receive_buffer = Some(n);
                    Ok(())
                }
                _ => Err(format!(
                    "expected at most {MAX_RECEIVE_BUFFER} bytes (2g - 1)"
                )),
            },
        },
        Flag {
            name: "--http1.0",
            value: "",
            help: "ask in HTTP/1.0: a streamed body ends when the connection closes",
            default: no_default,
            set: |a, _| on(&mut a.http_1_0),
        },
        Flag {
            name: "--http2",
            value: "",
            help: "ask over HTTP/2 (cleartext, prior knowledge), reading the socket at --rate",
            default: no_default,
            set: |a, _| on(&mut a.http2),
        },
        Flag {
            name: "--window",
            value: "SIZE",
            help: "HTTP/2: every stream's window and the connection's (65535 to 2147483647)",
            default: |a| a.window.to_string(),
            set: |a, v| match size(v)? {
                n if (65_535..1 << 31).contains(&n) => {
                    a.window = n as u32;
                    on(&mut a.http2_flag_given)
                }
                _ => Err("expected a window from 65535 to 2147483647 bytes".into()),
            },
        },
        Flag {
            name: "--then",
            value: "PATH",
            help: "HTTP/2: a second request on the same connection, such as /healthz",
            default: |_| "none".to_string(),
            set: |a, v| match v.starts_with('/') && v.bytes().all(is_uri_byte) {
                true => {
                    a.then = Some(v.to_string());
                    Ok(())
                }
                false => Err("expected a path starting with /, percent-encoded".into()),
            },
        },
        Flag {
            name: "--then-after",
            value: "DUR",
            help: "HTTP/2: when --then's request goes, from connecting (at most a day)",
            default: |a| format_duration(a.then_after),
            set: |a, v| match duration(v)? {
                d if d > MAX_DURATION => Err("expected at most a day (1440m)".into()),
                d => {
                    a.then_after = d;
                    a.then_after_given = true;
                    on(&mut a.http2_flag_given)
                }
            },
        },
    ],
    positional: Some(|a, v| {
        if a.url.is_some() {
            return Err(format!("slow-client takes one URL, got a second: '{v}'"));
        }
        a.url = Some(HttpUrl::parse(v)?);
        Ok(())
    }),
    finish: |a| match a.url {
        Some(_) if a.http2 && a.http_1_0 => Err("--http2 and --http1.0 exclude each other".into()),
        Some(_) if !a.http2 && (a.then.is_some() || a.http2_flag_given) => {
            Err("--window, --then and --then-after are for --http2".into())
        }
        Some(_) if a.then_after_given && a.then.is_none() => {
            Err("--then-after says when --then's request goes, and there is no --then".into())
        }
        Some(_) => Ok(()),
        None => {
            Err("slow-client needs a URL, such as http://127.0.0.1:8080/export.csv".to_string())
        }
    },
    footer: "Examples:\n\
             \x20 backpressure slow-client 'http://127.0.0.1:8080/export.csv?rows=7000000&mode=unbounded' --for 10s\n\
             \x20 backpressure slow-client 'http://127.0.0.1:8080/export.csv?rows=7000000' --http2 --window 16m --then /healthz --for 10s\n",
};

/// A duration above 0 and at most [`MAX_DURATION`]: `--for`'s and
/// `--idle-timeout`'s.
fn bounded_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err("expected a duration above 0".into()),
        d if d > MAX_DURATION => Err("expected at most a day (1440m)".into()),
        d => Ok(d),
    }
}

/// The exit code for a response: 0 for a complete body or a stop on time,
/// 1 for a cut body, a failure, or an error status. A script that checks an
/// export with this client must not take a 400 or a 503 for success.
fn exit_code(status: Option<u16>, end: &BodyEnd) -> u8 {
    if !is_success(status) {
        return EXIT_FAILURE;
    }
    match end {
        BodyEnd::Complete(_) | BodyEnd::Stopped => 0,
        BodyEnd::Cut(_) | BodyEnd::Failed(_) => EXIT_FAILURE,
    }
}

/// A 2xx, or no status yet (a run stopped on time before the head came).
fn is_success(status: Option<u16>) -> bool {
    status.is_none_or(|code| (200..300).contains(&code))
}

/// Downloads, prints progress on stderr and the outcome on stdout.
pub fn run(args: &SlowClientArgs) -> ExitCode {
    let Some(url) = &args.url else {
        // `finish` refuses a command line without one.
        return ExitCode::from(EXIT_FAILURE);
    };
    if args.http2 {
        return run_http2(url, args);
    }
    let options = ClientOptions {
        rate: Some(args.rate),
        receive_buffer: args.receive_buffer,
        http_1_0: args.http_1_0,
        connect_within: args.read_for,
        idle_timeout: args.idle_timeout,
    };
    let client = match SlowClient::connect(url, &options) {
        Ok(client) => client,
        Err(e) => {
            say(&format!(
                "backpressure slow-client: cannot connect to {}: {e}",
                url.authority()
            ));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let bytes_read = client.bytes_read();
    let read_for = args.read_for;
    let Some(report) = with_progress(&bytes_read, move || client.run(read_for)) else {
        return ExitCode::from(EXIT_FAILURE);
    };
    let status = report
        .status
        .map_or_else(|| "none".to_string(), |s| s.to_string());
    let printed = writeln!(
        io::stdout(),
        "status {status}; received {} body bytes ({} bytes on the wire) {}\n{}",
        report.body_bytes,
        report.wire_bytes,
        achieved(report.wire_bytes, report.elapsed, args.rate),
        report.end
    );
    match printed {
        Ok(()) => ExitCode::from(exit_code(report.status, &report.end)),
        Err(e) => cannot_print(&e),
    }
}

/// The outcome could not go to stdout (`/dev/full`, a reader gone): exit 1
/// says something failed, and this line on stderr says what, as the demo's
/// report does; without it the download could look like the failure.
fn cannot_print(e: &io::Error) -> ExitCode {
    say(&format!(
        "backpressure slow-client: cannot print the outcome: {e}"
    ));
    ExitCode::from(EXIT_FAILURE)
}

/// Runs `read` on a thread of its own and, until it returns, prints on
/// stderr every [`PROGRESS_INTERVAL`] the bytes read from the socket so far
/// (`bytes_read`): head and framing included, as the report's rate counts
/// them, over either protocol. `None`, said in one line, if no thread
/// could be started or the thread panicked.
fn with_progress<T: Send + 'static>(
    bytes_read: &AtomicU64,
    read: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    // The OS may have no thread to give (RLIMIT_NPROC): a runtime failure
    // like any other, not std's panic.
    let reading = match thread::Builder::new().spawn(read) {
        Ok(reading) => reading,
        Err(e) => {
            say(&format!(
                "backpressure slow-client: cannot start the reading thread: {e}"
            ));
            return None;
        }
    };
    let started = Instant::now();
    let mut next_report = started + PROGRESS_INTERVAL;
    // Progress is decoration: a closed stderr must not stop the download.
    // A terminal's line is rewritten in place; a file or a pipe gets a line
    // per report, or its reader sees every report run together.
    let mut stderr = io::stderr();
    let terminal = stderr.is_terminal();
    while !reading.is_finished() {
        thread::sleep(READ_POLL);
        if Instant::now() >= next_report {
            next_report += PROGRESS_INTERVAL;
            let report = format!(
                "{:5.1} s  {} bytes read",
                started.elapsed().as_secs_f64(),
                bytes_read.load(Ordering::Relaxed)
            );
            let _ = match terminal {
                true => write!(stderr, "\r{report}"),
                false => writeln!(stderr, "{report}"),
            };
        }
    }
    if terminal && next_report > started + PROGRESS_INTERVAL {
        let _ = writeln!(stderr);
    }
    let joined = reading.join();
    if joined.is_err() {
        say("backpressure slow-client: the reading thread panicked");
    }
    joined.ok()
}

/// `--http2`: the download and the second request on one connection;
/// prints how each went. Exit code 0 if each ended with a 2xx or `--for`
/// ran out.
fn run_http2(url: &HttpUrl, args: &SlowClientArgs) -> ExitCode {
    let options = H2Options {
        rate: Some(args.rate),
        window: args.window,
        receive_buffer: args.receive_buffer,
        replenish: true,
        starve_first: false,
        second: args.then.clone().map(|path| (path, args.then_after)),
        stop_after_second: false,
        idle_timeout: args.idle_timeout,
        bytes_read: Arc::default(),
    };
    let bytes_read = Arc::clone(&options.bytes_read);
    let (url_here, read_for) = (url.clone(), args.read_for);
    let reading = with_progress(&bytes_read, move || h2::run(&url_here, &options, read_for));
    let report = match reading {
        None => return ExitCode::from(EXIT_FAILURE),
        Some(Ok(report)) => report,
        Some(Err(e)) => {
            say(&format!(
                "backpressure slow-client: HTTP/2 to {}: {e}",
                url.authority()
            ));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let describe = |what: &str, target: &str, s: &StreamReport| {
        let status = s
            .status
            .map_or_else(|| "none".to_string(), |s| s.to_string());
        let end = match (s.complete, s.reset) {
            (true, _) => "complete".to_string(),
            (_, Some(code)) => format!("reset by the server ({})", ErrorCode::describe(code)),
            // --for ran out with the connection sound: a stop, in the
            // words HTTP/1.x uses, as the exit code 0 says.
            _ if report.timed_out && report.failure.is_none() => BodyEnd::Stopped.to_string(),
            _ => "not complete".to_string(),
        };
        let latency = took(s.latency);
        format!(
            "{what} {target}: status {status}, {} body bytes, {end}{latency}",
            s.body_bytes
        )
    };
    let mut out = describe("stream 1", &url.target, &report.first);
    match (&report.second, &args.then) {
        (Some(second), Some(path)) => out += &format!("\n{}", describe("stream 3", path, second)),
        // Silence would let a reader think it was sent and lost.
        (None, Some(path)) if report.second_write_failed => {
            out += &format!("\nstream 3 {path}: not sent: its write failed");
        }
        // No stream may be opened after a GOAWAY (RFC 9113 §6.8).
        (None, Some(path)) if report.goaway.is_some() => {
            out += &format!("\nstream 3 {path}: not sent: the server's GOAWAY came first");
        }
        // Held by the server's SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113
        // §5.1.2), which leaves room for stream 1 alone, or for none.
        (None, Some(path)) if report.second_held => {
            let why = match report.max_streams {
                Some(0) => "the server allows no new stream",
                _ => "the server allows one stream at a time, and stream 1 had not ended",
            };
            out += &format!("\nstream 3 {path}: not sent: {why}");
        }
        (None, Some(path)) => {
            // "Before its time" only if it was: a run can also end (a
            // close, a reset, the limit checked first) just after
            // --then-after.
            let when = if report.elapsed < args.then_after {
                "before"
            } else {
                "by the time of"
            };
            out += &format!(
                "\nstream 3 {path}: not sent: the run ended at {}, {when} --then-after {}",
                units::duration(report.elapsed),
                format_duration(args.then_after)
            );
        }
        _ => {}
    }
    out += &format!(
        "\nreceived {} bytes on the wire (frames included) {}",
        report.wire_bytes,
        achieved(report.wire_bytes, report.elapsed, args.rate),
    );
    if let Some(code) = report.goaway {
        out += &format!("\nGOAWAY from the server ({})", ErrorCode::describe(code));
    }
    if let Some(failure) = &report.failure {
        out += &format!("\n{failure}");
    }
    // Stopped by --for is a clean end; cut short before it (a GOAWAY with
    // an error) is not, even when --for was given.
    let whole = |s: &StreamReport| {
        is_success(s.status) && (s.complete || report.timed_out && s.reset.is_none())
    };
    // A second request asked for and never sent is a failure too, unless
    // --for ended the run before it could go: before --then-after, and
    // not after a GOAWAY that forbade it (a failed write is a failure
    // anyway).
    let stopped_first =
        report.timed_out && (report.goaway.is_none() || report.elapsed < args.then_after);
    let second_missing = args.then.is_some() && report.second.is_none() && !stopped_first;
    let ok = whole(&report.first) && report.second.as_ref().is_none_or(whole) && !second_missing;
    match writeln!(io::stdout(), "{out}") {
        Ok(()) if ok && report.failure.is_none() => ExitCode::SUCCESS,
        Ok(()) => ExitCode::from(EXIT_FAILURE),
        Err(e) => cannot_print(&e),
    }
}

/// The rate a run achieved, as both protocols' reports end it: `in 2.5 s:
/// 204328 bytes/s on the wire (limit 204800 bytes/s)`. Bytes on the wire,
/// head and framing included, since that is what `--rate` limits: a body
/// rate would sit below the limit by the framing's share, HTTP/2's more
/// than HTTP/1.1's, and the two reports would not compare.
fn achieved(wire_bytes: u64, elapsed: Duration, limit: u64) -> String {
    format!(
        "in {}: {:.0} bytes/s on the wire (limit {limit} bytes/s)",
        units::duration(elapsed),
        wire_bytes as f64 / elapsed.as_secs_f64().max(1e-9),
    )
}

/// How long a stream's response took, as its line ends: ` in 0.4 ms`;
/// nothing if it never ended.
fn took(latency: Option<Duration>) -> String {
    latency.map_or_else(String::new, |l| format!(" in {}", units::duration(l)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags::parse_line;
    use crate::client::response::BodyFraming;

    #[test]
    fn exit_codes() {
        let complete = BodyEnd::Complete(BodyFraming::Chunked);
        assert_eq!(exit_code(Some(200), &complete), 0);
        assert_eq!(exit_code(Some(200), &BodyEnd::Stopped), 0);
        assert_eq!(exit_code(None, &BodyEnd::Stopped), 0);
        assert_eq!(exit_code(Some(200), &BodyEnd::Cut("x".into())), 1);
        assert_eq!(exit_code(None, &BodyEnd::Failed("x".into())), 1);
        assert_eq!(exit_code(Some(400), &complete), 1);
        assert_eq!(exit_code(Some(503), &BodyEnd::Stopped), 1);
        // Only 2xx is success, the edges of its range included: a redirect
        // is no download.
        assert_eq!(exit_code(Some(299), &complete), 0);
        assert_eq!(exit_code(Some(300), &complete), 1);
        assert_eq!(exit_code(Some(199), &complete), 1);
    }

    /// The achieved rate is the wire's bytes over the time, to the byte;
    /// the limit is the one asked for, and differs from it here, so that
    /// a line that printed one in place of the other fails.
    #[test]
    fn the_achieved_rate_is_bytes_over_time() {
        let said = achieved(307_200, Duration::from_millis(1500), 409_600);
        let rate = "in 1.5 s: 204800 bytes/s on the wire (limit 409600 bytes/s)";
        assert_eq!(said, rate);
    }

    #[test]
    fn command_line() {
        let args = |line| parse_line(&SLOW_CLIENT, line);
        let parsed = args("http://h:1/p --rate=1k --for 2s").unwrap().unwrap();
        let largest = args("http://h/ --receive-buffer 2147483647")
            .unwrap()
            .unwrap();
        assert_eq!(largest.receive_buffer, Some(MAX_RECEIVE_BUFFER));
        assert_eq!(parsed.rate, 1024);
        assert_eq!(parsed.read_for, Some(Duration::from_secs(2)));
        assert_eq!(parsed.url.unwrap().target, "/p");
        assert_eq!(args("http://h/").unwrap().unwrap().rate, DEFAULT_RATE);
        let patient = args("http://h/ --idle-timeout 1500ms").unwrap().unwrap();
        assert_eq!(patient.idle_timeout, Duration::from_millis(1500));
        assert_eq!(
            args("http://h/").unwrap().unwrap().idle_timeout,
            IDLE_TIMEOUT
        );
        assert_eq!(args("--help"), Ok(None));
        let h2 = args("http://h/ --http2 --window 16m --then /healthz --then-after 1s");
        let h2 = h2.unwrap().unwrap();
        assert_eq!(
            (h2.window, h2.then.as_deref()),
            (16 << 20, Some("/healthz"))
        );
        assert_eq!(h2.then_after, Duration::from_secs(1));
        for (bad, why) in [
            ("", "needs a URL"),
            ("https://h/", "not an http://"),
            ("http://h/ http://i/", "one URL"),
            ("http://h/ --rate 0", "--rate"),
            ("http://h/ --rate fast", "--rate"),
            ("http://h/ --for 10", "--for"),
            ("http://h/ --for", "--for needs a value"),
            ("http://h/ --idle-timeout 0s", "above 0"),
            ("http://h/ --idle-timeout 1441m", "at most a day"),
            ("http://h/ --speed 1", "unknown flag '--speed'"),
            ("http://h/ --window 1m", "for --http2"),
            ("http://h/ --http2 --window 1000", "--window"),
            ("http://h/ --http2 --then healthz", "--then"),
            ("http://h/ --http2 --then /é", "--then"),
            ("http://h/ --http2 --http1.0", "exclude"),
            ("http://h/ --receive-buffer 2g", "at most 2147483647 bytes"),
            ("http://h/ --receive-buffer 5g", "at most 2147483647 bytes"),
        ] {
            let error = args(bad).unwrap_err();
            assert!(error.contains(why), "{bad:?}: {error}");
        }
    }

    /// The defaults are the ones `--help` shows, to the unit: a changed one
    /// would change every run that leaves the flag out without a word.
    #[test]
    fn the_defaults_are_the_documented_ones() {
        let args = parse_line(&SLOW_CLIENT, "http://h/").unwrap().unwrap();
        assert_eq!(args.rate, 200 * 1024);
        assert_eq!(args.window, 65_535);
        assert_eq!(args.then_after, Duration::from_secs(3));
        let help = crate::cli::flags::help(&SLOW_CLIENT);
        for default in ["[default: 200k]", "[default: 65535]", "[default: 3s]"] {
            assert!(help.contains(default), "{default}: {help}");
        }
    }

    /// Every bound holds exactly, as `--help` and the errors state it: the
    /// value at the edge is taken, the one just past it refused. A window of
    /// 2^31 stored as a `u32` would not fit SETTINGS' 31 bits, and "at most
    /// a day" takes the day itself, not a millisecond more.
    #[test]
    fn every_bound_holds_exactly_at_the_flags() {
        let args = |flags: &str| parse_line(&SLOW_CLIENT, &format!("http://h/ --http2 {flags}"));
        let day = Duration::from_secs(24 * 60 * 60);
        let least = args("--window 65535").unwrap().unwrap();
        assert_eq!(least.window, 65_535);
        let most = args("--window 2147483647").unwrap().unwrap();
        assert_eq!(most.window, 2_147_483_647);
        let longest = args("--for 1440m --idle-timeout 1440m --then / --then-after 1440m");
        let longest = longest.unwrap().unwrap();
        assert_eq!(
            (longest.read_for, longest.idle_timeout, longest.then_after),
            (Some(day), day, day)
        );
        let window = "--window: expected a window from 65535 to 2147483647 bytes";
        let day = "expected at most a day (1440m), got '86400001ms'";
        for (refused, line) in [
            ("--window 65534", format!("{window}, got '65534'")),
            ("--window 2147483648", format!("{window}, got '2147483648'")),
            ("--for 86400001ms", format!("--for: {day}")),
            (
                "--idle-timeout 86400001ms",
                format!("--idle-timeout: {day}"),
            ),
            (
                "--then / --then-after 86400001ms",
                format!("--then-after: {day}"),
            ),
        ] {
            assert_eq!(args(refused), Err(line), "{refused}");
        }
    }

    /// A response in under a millisecond (a small one beside a stalled
    /// download, on loopback) is said to take what it took, not "0.000 s".
    #[test]
    fn a_stream_answered_in_under_a_millisecond_took_that() {
        assert_eq!(took(Some(Duration::from_micros(400))), " in 0.4 ms");
        assert_eq!(took(Some(Duration::from_millis(1250))), " in 1.25 s");
        assert_eq!(took(None), "");
    }
}
