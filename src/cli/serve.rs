//! `backpressure serve`: its flags, and starting the server.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use super::flags::{
    Flag, Spec, format_duration, format_size, no_default, parse_duration, parse_number, parse_size,
};
use super::{EXIT_FAILURE, say};
use crate::server::{Server, ServerConfig};

/// A value that fits in `usize`, from plain digits.
fn parse_usize(text: &str) -> Option<usize> {
    parse_number(text).and_then(|n| usize::try_from(n).ok())
}

/// Every flag of `serve`; [`ServerConfig::validate`] checks the bounds.
pub const SERVE: Spec<ServerConfig> = Spec {
    command: "serve",
    usage: "backpressure serve [FLAGS]",
    about: "Serves GET /export.csv?rows=N&mode=buffer|unbounded|bounded|pipeline, /metrics, /healthz and /.\n\
            The first line on stdout is 'listening on http://ADDR:PORT'.",
    flags: &[
        Flag {
            name: "--addr",
            value: "IP:PORT",
            help: "address to listen on; port 0 picks a free one",
            default: |c| c.addr.to_string(),
            set: |c, v| {
                c.addr = v
                    .parse::<SocketAddr>()
                    .map_err(|_| "expected IP:PORT, such as 127.0.0.1:8080")?;
                Ok(())
            },
        },
        Flag {
            name: "--chunk-bytes",
            value: "SIZE",
            help: "most bytes per chunk, 1 to 16m",
            default: |c| format_size(c.chunk_bytes as u64),
            set: |c, v| {
                c.chunk_bytes = parse_size(v)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or("expected a size in bytes, such as 16384 or 16k")?;
                Ok(())
            },
        },
        Flag {
            name: "--channel-depth",
            value: "N",
            help: "chunks the bounded channel holds, 0 to 1024",
            default: |c| c.channel_depth.to_string(),
            set: |c, v| {
                c.channel_depth = parse_usize(v).ok_or("expected a number of chunks")?;
                Ok(())
            },
        },
        Flag {
            name: "--max-rows",
            value: "N",
            help: "most rows one export may ask for",
            default: |c| c.max_rows.to_string(),
            set: |c, v| {
                c.max_rows = parse_number(v).ok_or("expected a number of rows")?;
                Ok(())
            },
        },
        Flag {
            name: "--header-timeout",
            value: "DUR",
            help: "time from accept to receive the request head",
            default: |c| format_duration(c.header_timeout),
            set: |c, v| {
                c.header_timeout =
                    parse_duration(v).ok_or("expected a duration, such as 500ms or 10s")?;
                Ok(())
            },
        },
        Flag {
            name: "--send-timeout",
            value: "DUR",
            help: "longest one write may wait for the client to read",
            default: |c| format_duration(c.send_timeout),
            set: |c, v| {
                c.send_timeout =
                    parse_duration(v).ok_or("expected a duration, such as 500ms or 60s")?;
                Ok(())
            },
        },
        Flag {
            name: "--min-rate",
            value: "SIZE",
            help: "slowest a response may drain, bytes/s, after the grace",
            default: |c| format_size(c.min_rate),
            set: |c, v| {
                c.min_rate =
                    parse_size(v).ok_or("expected bytes per second, such as 240 or 16k")?;
                Ok(())
            },
        },
        Flag {
            name: "--rate-grace",
            value: "DUR",
            help: "time any write gets before --min-rate applies",
            default: |c| format_duration(c.rate_grace),
            set: |c, v| {
                c.rate_grace = parse_duration(v).ok_or("expected a duration, such as 5s")?;
                Ok(())
            },
        },
        Flag {
            name: "--max-connections",
            value: "N",
            help: "connections served at once; more get 503",
            default: |c| c.max_connections.to_string(),
            set: |c, v| {
                c.max_connections = parse_usize(v).ok_or("expected a number of connections")?;
                Ok(())
            },
        },
        Flag {
            name: "--max-buffered-bytes",
            value: "SIZE",
            help: "most bytes one response may queue in memory",
            default: |c| format_size(c.max_buffered_bytes),
            set: |c, v| {
                c.max_buffered_bytes =
                    parse_size(v).ok_or("expected a size in bytes, such as 512m or 1g")?;
                Ok(())
            },
        },
        Flag {
            name: "--max-buffered-total",
            value: "SIZE",
            help: "most bytes all responses may queue together",
            default: |c| format_size(c.max_buffered_total),
            set: |c, v| {
                c.max_buffered_total =
                    parse_size(v).ok_or("expected a size in bytes, such as 512m or 1g")?;
                Ok(())
            },
        },
        Flag {
            name: "--quiet",
            value: "",
            help: "no access log on stderr",
            default: no_default,
            set: |c, _| {
                c.quiet = true;
                Ok(())
            },
        },
        Flag {
            name: "--exit-on-stdin-eof",
            value: "",
            help: "exit when stdin closes (the demo's child servers use it)",
            default: no_default,
            set: |c, _| {
                c.exit_on_stdin_eof = true;
                Ok(())
            },
        },
    ],
    positional: None,
    finish: |c| c.validate(),
    footer: "SIZE is bytes with an optional k, m or g suffix (KiB, MiB, GiB); DUR is a number with ms, s or m.\n",
};

/// Binds, announces the address on stdout, and serves until killed.
pub fn run(config: ServerConfig) -> ExitCode {
    if config.exit_on_stdin_eof
        && let Err(e) = exit_on_stdin_eof()
    {
        say(&format!(
            "backpressure: cannot watch stdin for --exit-on-stdin-eof: {e}"
        ));
        return ExitCode::from(EXIT_FAILURE);
    }
    let addr = config.addr;
    let server = match Server::bind(config) {
        Ok(server) => server,
        Err(e) => {
            say(&format!("backpressure: cannot listen on {addr}: {e}"));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let announced = server.local_addr().and_then(|bound| {
        // Scripts and tests read the port from this exact line, so it is
        // flushed at once rather than left in stdout's buffer.
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "listening on http://{bound}")?;
        writeln!(
            stdout,
            "GET http://{bound}/ lists the endpoints with curl examples; Ctrl-C stops"
        )?;
        stdout.flush()
    });
    if let Err(e) = announced {
        say(&format!(
            "backpressure: cannot announce the listening address: {e}"
        ));
        return ExitCode::from(EXIT_FAILURE);
    }
    server.run()
}

/// Exits the process once stdin reaches end-of-file. The demo (and the
/// tests) start their servers with stdin piped from themselves; if the
/// parent dies (even by a signal, which runs no destructors) the kernel
/// closes the pipe, and this thread ends the orphaned server.
fn exit_on_stdin_eof() -> io::Result<()> {
    std::thread::Builder::new()
        .name("stdin-eof".into())
        .spawn(|| {
            // Whatever arrives is discarded; EOF or a read error both mean
            // the parent is gone.
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            std::process::exit(0);
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags::{Parsed, parse};
    use std::time::Duration;

    fn serve(args: &[&str]) -> Result<ServerConfig, String> {
        match parse(&SERVE, args.iter().map(|a| a.to_string())) {
            Ok(Parsed::Run(config)) => Ok(config),
            Ok(Parsed::Help(_)) => Err("help".into()),
            Err(e) => Err(e.0),
        }
    }

    #[test]
    fn every_flag_in_both_spellings() {
        let config = serve(&[
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
            "--exit-on-stdin-eof",
        ])
        .unwrap();
        let expected = ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            chunk_bytes: 7,
            channel_depth: 0,
            max_rows: 1000,
            header_timeout: Duration::from_millis(250),
            send_timeout: Duration::from_secs(2),
            min_rate: 16 * 1024,
            rate_grace: Duration::from_millis(500),
            max_connections: 8,
            max_buffered_bytes: 2 << 20,
            max_buffered_total: 1 << 30,
            quiet: true,
            exit_on_stdin_eof: true,
        };
        assert_eq!(config, expected);
        assert_eq!(serve(&[]), Ok(ServerConfig::default()));
    }

    #[test]
    fn bad_values_and_bounds_name_the_flag() {
        for (args, mentions) in [
            (&["--chunk-bytes"][..], "--chunk-bytes needs a value"),
            (&["--chunk-bytes", "0"], "--chunk-bytes must be from 1"),
            (&["--chunk-bytes", "17m"], "--chunk-bytes must be from 1"),
            (&["--chunk-bytes", "lots"], "--chunk-bytes: expected a size"),
            (&["--channel-depth", "-1"], "--channel-depth"),
            (
                &["--channel-depth", "1025"],
                "--channel-depth must be from 0",
            ),
            (&["--max-rows", "100000001"], "--max-rows can only lower"),
            (&["--addr", "localhost"], "--addr: expected IP:PORT"),
            (
                &["--header-timeout", "10"],
                "--header-timeout: expected a duration",
            ),
            (&["--header-timeout", "0s"], "--header-timeout must be from"),
            (
                &["--header-timeout", "18446744073709551615s"],
                "--header-timeout must be",
            ),
            (
                &["--send-timeout", "2h"],
                "--send-timeout: expected a duration",
            ),
            (&["--send-timeout", "61m"], "--send-timeout must be from"),
            (&["--min-rate", "0"], "--min-rate must be at least 1"),
            (
                &["--min-rate", "fast"],
                "--min-rate: expected bytes per second",
            ),
            (&["--rate-grace", "2h"], "--rate-grace: expected a duration"),
            (&["--rate-grace", "61m"], "--rate-grace must be at most 60m"),
            (
                &["--max-connections", "0"],
                "--max-connections must be from 1",
            ),
            (
                &["--max-connections", "5000"],
                "--max-connections must be from 1",
            ),
            (
                &["--max-buffered-bytes", "1t"],
                "--max-buffered-bytes: expected a size",
            ),
            (
                &["--max-buffered-total", "-1"],
                "--max-buffered-total: expected a size",
            ),
            (&["--quiet=yes"], "--quiet takes no value"),
            (&["--verbose", "1"], "unknown flag '--verbose' for serve"),
            (&["extra"], "unknown flag 'extra' for serve"),
        ] {
            let error = serve(args).expect_err(&args.join(" "));
            assert!(error.contains(mentions), "{args:?}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn help_lists_every_flag_with_its_default() {
        assert_eq!(
            serve(&["--addr", "1.2.3.4:5", "--help"]),
            Err("help".into())
        );
        let help = crate::cli::flags::help(&SERVE);
        for flag in SERVE.flags.iter().filter(|f| !f.value.is_empty()) {
            let line = help.lines().find(|l| l.contains(flag.name)).unwrap();
            assert!(line.contains("[default: "), "{line}");
        }
        for default in [
            "[default: 32k]",
            "[default: 10s]",
            "[default: 127.0.0.1:8080]",
        ] {
            assert!(help.contains(default), "{default}: {help}");
        }
    }
}
