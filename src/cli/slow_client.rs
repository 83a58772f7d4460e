//! `backpressure slow-client URL`: its flags, and a download that prints
//! its progress and says how the body ended.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::flags::{Flag, Spec, duration, format_size, no_default, on, rate, size};
use super::{EXIT_FAILURE, say};
use crate::client::response::BodyEnd;
use crate::client::slow_client::{ClientOptions, HttpUrl, READ_POLL, SlowClient};

/// Default `--rate`: 200 KiB/s, the phone of the lesson.
pub const DEFAULT_RATE: u64 = 200 * 1024;

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
    /// A receive buffer of about this many bytes; `None` leaves the kernel's.
    pub receive_buffer: Option<u32>,
    /// Ask in HTTP/1.0.
    pub http_1_0: bool,
}

impl Default for SlowClientArgs {
    fn default() -> Self {
        SlowClientArgs {
            url: None,
            rate: DEFAULT_RATE,
            read_for: None,
            receive_buffer: None,
            http_1_0: false,
        }
    }
}

/// Every flag of `slow-client`.
pub const SLOW_CLIENT: Spec<SlowClientArgs> = Spec {
    command: "slow-client",
    usage: "backpressure slow-client URL [FLAGS]",
    about: "GETs an http://host:port/path URL and reads the body at a limited rate, like a phone\n\
            on a weak network, then prints the bytes received, the achieved rate and how the body\n\
            ended. Exit code 0 if the body ended cleanly or --for ran out, 1 if it was cut or the\n\
            request failed, 2 for a bad command line.",
    flags: &[
        Flag {
            name: "--rate",
            value: "SIZE",
            help: "bytes per second, k = KiB, m = MiB",
            default: |a| format_size(a.rate),
            set: |a, v| rate(v).map(|n| a.rate = n),
        },
        Flag {
            name: "--for",
            value: "DUR",
            help: "stop reading (and disconnect) after this long",
            default: |_| "until the end".to_string(),
            set: |a, v| match duration(v)? {
                d if d.is_zero() => Err("expected a duration above 0".into()),
                d => {
                    a.read_for = Some(d);
                    Ok(())
                }
            },
        },
        Flag {
            name: "--receive-buffer",
            value: "SIZE",
            help: "a small receive buffer, like a phone's (the kernel doubles it)",
            default: |_| "the kernel's".to_string(),
            set: |a, v| {
                size(v).map(|n| a.receive_buffer = Some(u32::try_from(n).unwrap_or(u32::MAX)))
            },
        },
        Flag {
            name: "--http1.0",
            value: "",
            help: "ask in HTTP/1.0: the body ends when the connection closes",
            default: no_default,
            set: |a, _| on(&mut a.http_1_0),
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
        Some(_) => Ok(()),
        None => {
            Err("slow-client needs a URL, such as http://127.0.0.1:8080/export.csv".to_string())
        }
    },
    footer: "Example: backpressure slow-client 'http://127.0.0.1:8080/export.csv?rows=7000000&mode=unbounded' --for 10s\n",
};

/// The exit code for how the body ended: 0 for a complete body or a stop
/// on time, 1 for a cut body or a failure.
fn exit_code(end: &BodyEnd) -> u8 {
    match end {
        BodyEnd::Complete(_) | BodyEnd::Stopped => 0,
        BodyEnd::Cut(_) | BodyEnd::Failed(_) => EXIT_FAILURE,
    }
}

/// Downloads, prints progress on stderr and the outcome on stdout.
pub fn run(args: &SlowClientArgs) -> ExitCode {
    let Some(url) = &args.url else {
        // `finish` refuses a command line without one.
        return ExitCode::from(EXIT_FAILURE);
    };
    let options = ClientOptions {
        rate: Some(args.rate),
        receive_buffer: args.receive_buffer,
        http_1_0: args.http_1_0,
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
    let reading = thread::spawn(move || client.run(read_for));
    let started = Instant::now();
    let mut next_report = started + PROGRESS_INTERVAL;
    // Progress is decoration: a closed stderr must not stop the download.
    let mut stderr = io::stderr();
    while !reading.is_finished() {
        thread::sleep(READ_POLL);
        if Instant::now() >= next_report {
            next_report += PROGRESS_INTERVAL;
            let _ = write!(
                stderr,
                "\r{:5.1} s  {} bytes read",
                started.elapsed().as_secs_f64(),
                bytes_read.load(Ordering::Relaxed)
            );
        }
    }
    if next_report > started + PROGRESS_INTERVAL {
        let _ = writeln!(stderr);
    }
    let Ok(report) = reading.join() else {
        say("backpressure slow-client: the reading thread panicked");
        return ExitCode::from(EXIT_FAILURE);
    };
    let status = report
        .status
        .map_or_else(|| "none".to_string(), |s| s.to_string());
    let printed = writeln!(
        io::stdout(),
        "status {status}; received {} body bytes ({} bytes on the wire) in {:.2} s: \
         {:.0} bytes/s (limit {} bytes/s)\n{}",
        report.body_bytes,
        report.wire_bytes,
        report.elapsed.as_secs_f64(),
        report.body_rate(),
        args.rate,
        report.end
    );
    match printed {
        Ok(()) => ExitCode::from(exit_code(&report.end)),
        Err(_) => ExitCode::from(EXIT_FAILURE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags::parse_line;
    use crate::client::response::BodyFraming;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&BodyEnd::Complete(BodyFraming::Chunked)), 0);
        assert_eq!(exit_code(&BodyEnd::Stopped), 0);
        assert_eq!(exit_code(&BodyEnd::Cut("x".into())), 1);
        assert_eq!(exit_code(&BodyEnd::Failed("x".into())), 1);
    }

    #[test]
    fn command_line() {
        let args = |line| parse_line(&SLOW_CLIENT, line);
        let parsed = args("http://h:1/p --rate=1k --for 2s").unwrap().unwrap();
        assert_eq!(parsed.rate, 1024);
        assert_eq!(parsed.read_for, Some(Duration::from_secs(2)));
        assert_eq!(parsed.url.unwrap().target, "/p");
        assert_eq!(args("http://h/").unwrap().unwrap().rate, DEFAULT_RATE);
        assert_eq!(args("--help"), Ok(None));
        for (bad, why) in [
            ("", "needs a URL"),
            ("https://h/", "not an http://"),
            ("http://h/ http://i/", "one URL"),
            ("http://h/ --rate 0", "--rate"),
            ("http://h/ --rate fast", "--rate"),
            ("http://h/ --for 10", "--for"),
            ("http://h/ --for", "--for needs a value"),
            ("http://h/ --speed 1", "unknown flag '--speed'"),
        ] {
            let error = args(bad).unwrap_err();
            assert!(error.contains(why), "{bad:?}: {error}");
        }
    }
}
