//! `backpressure serve`: its flags, and starting the server.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use super::EXIT_FAILURE;
use super::flags::{
    Flag, Spec, count, duration, format_duration, format_size, no_default, number, on, rate, size,
};
use crate::measure::log::{self, Logger};
use crate::server::envelope::{Envelope, malloc_arenas, memory_warning};
use crate::server::{Server, ServerConfig, descriptor_warning};
use crate::sys;

/// Every flag of `serve`; [`ServerConfig::validate`] checks the bounds.
pub const SERVE: Spec<ServerConfig> = Spec {
    command: "serve",
    usage: "backpressure serve [FLAGS]",
    about: "Serves GET and HEAD of /export.csv?rows=N&mode=buffer|unbounded|bounded|pipeline\n\
            (1000000 rows, fewer under a lower row cap, and bounded when not given),\n\
            /metrics, /healthz and /, over HTTP/1.x or HTTP/2 (h2c, prior knowledge).\n\
            The first line on stdout is 'listening on http://ADDR:PORT'.",
    flags: &[
        Flag {
            name: "--addr",
            value: "IP:PORT",
            help: "address to listen on; port 0 picks a free one",
            default: |c| c.addr.to_string(),
            set: |c, v| {
                let addr = v
                    .parse()
                    .map_err(|_| "expected IP:PORT, such as 127.0.0.1:8080")?;
                c.addr = addr;
                Ok(())
            },
        },
        Flag {
            name: "--chunk-bytes",
            value: "SIZE",
            help: "most bytes per chunk, and pipeline's buffer",
            default: |c| format_size(c.chunk_bytes as u64),
            set: |c, v| size(v).map(|n| c.chunk_bytes = usize::try_from(n).unwrap_or(usize::MAX)),
        },
        Flag {
            name: "--channel-depth",
            value: "N",
            help: "chunks the bounded channel holds; (this + 2) x chunk at most 64m",
            default: |c| c.channel_depth.to_string(),
            set: |c, v| count(v).map(|n| c.channel_depth = n),
        },
        Flag {
            name: "--max-rows",
            value: "N",
            help: "most rows one export may ask for",
            default: |c| c.max_rows.to_string(),
            set: |c, v| number(v).map(|n| c.max_rows = n),
        },
        Flag {
            name: "--header-timeout",
            value: "DUR",
            help: "time from accept to receive the request head",
            default: |c| format_duration(c.header_timeout),
            set: |c, v| duration(v).map(|d| c.header_timeout = d),
        },
        Flag {
            name: "--send-timeout",
            value: "DUR",
            help: "longest the client may acknowledge nothing while a write waits",
            default: |c| format_duration(c.send_timeout),
            set: |c, v| duration(v).map(|d| c.send_timeout = d),
        },
        Flag {
            name: "--notsent-lowat",
            value: "SIZE|off",
            help: "unsent bytes per socket at which a write blocks",
            default: |c| {
                c.notsent_lowat
                    .map_or("off".into(), |b| format_size(b.into()))
            },
            set: |c, v| {
                c.notsent_lowat = match v {
                    "off" => None,
                    _ => Some(size(v).map(|n| u32::try_from(n).unwrap_or(u32::MAX))?),
                };
                Ok(())
            },
        },
        Flag {
            name: "--min-rate",
            value: "SIZE",
            help: "bytes/s: a write of n bytes has max(--rate-grace, n / this)",
            default: |c| format_size(c.min_rate),
            set: |c, v| rate(v).map(|n| c.min_rate = n),
        },
        Flag {
            name: "--rate-grace",
            value: "DUR",
            help: "least time any write gets, however small",
            default: |c| format_duration(c.rate_grace),
            set: |c, v| duration(v).map(|d| c.rate_grace = d),
        },
        Flag {
            name: "--max-connections",
            value: "N",
            help: "connections served at once; more get 503",
            default: |c| c.max_connections.to_string(),
            set: |c, v| count(v).map(|n| c.max_connections = n),
        },
        Flag {
            name: "--max-buffered-bytes",
            value: "SIZE",
            help: "most bytes one response may queue in memory",
            default: |c| format_size(c.max_buffered_bytes),
            set: |c, v| size(v).map(|n| c.max_buffered_bytes = n),
        },
        Flag {
            name: "--max-buffered-total",
            value: "SIZE",
            help: "most bytes all responses may queue together",
            default: |c| format_size(c.max_buffered_total),
            set: |c, v| size(v).map(|n| c.max_buffered_total = n),
        },
        Flag {
            name: "--drain-timeout",
            value: "DUR",
            help: "on SIGTERM, SIGINT (Ctrl-C) or SIGHUP, time responses get to finish before they are cut",
            default: |c| format_duration(c.drain_timeout),
            set: |c, v| duration(v).map(|d| c.drain_timeout = d),
        },
        Flag {
            name: "--quiet",
            value: "",
            help: "no access log on stderr",
            default: no_default,
            set: |c, _| on(&mut c.quiet),
        },
        Flag {
            name: "--exit-on-stdin-eof",
            value: "",
            help: "exit when stdin closes: a pipe its parent holds open (the demo's child servers)",
            default: no_default,
            set: |c, _| on(&mut c.exit_on_stdin_eof),
        },
    ],
    positional: None,
    finish: |c| c.validate(),
    footer: "SIGTERM, SIGINT or SIGHUP stops accepting and drains: a hangup, never a reload (there\n\
             is no configuration to read again). A SIGHUP or SIGINT ignored when serve starts (as\n\
             nohup ignores SIGHUP, and a shell without job control a background job's SIGINT) stays so;\n\
             one blocked by the signal mask serve inherits is unblocked.\n\n\
             Exit codes: 0 once a signal's drain is done (or stdin closed, with --exit-on-stdin-eof),\n\
             1 if it cannot serve (e.g. address in use), 2 for a bad command line. A second signal,\n\
             200 ms or more after the first, exits at once with 128 + its number (130 for Ctrl-C);\n\
             sooner, it is the first sent twice (as `timeout` sends it, to the process and its group).\n\
             Any other signal that kills (SIGQUIT, SIGUSR1, SIGXCPU, an abort...) resets every\n\
             response still being written, then dies of it; SIGKILL cannot be caught.\n",
};

/// How often a non-blocking stdin is asked again whether it has ended:
/// how late `--exit-on-stdin-eof` may notice, in that case only.
const STDIN_POLL: Duration = Duration::from_millis(100);

/// How long the logger may take to write what is queued at exit: a stderr
/// that does not drain in this time will not drain at all.
const LOG_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Binds, announces the address on stdout, and serves until SIGINT,
/// SIGTERM or SIGHUP; then drains (see `server/shutdown.rs`) and exits 0.
///
/// Every line it writes on stderr is the server's log, stamped
/// (`measure/log.rs`), its failures to start included: the flags were
/// good, so stderr is likely a collector's, whose reader asks when the
/// server failed to bind as much as why. The flags' own errors, before
/// this, are a command line's usage errors, answered at once and
/// unstamped (`cli/mod.rs`).
pub fn run(config: ServerConfig) -> ExitCode {
    if let Err(e) = sys::note_stderr() {
        log::line(format!(
            "backpressure: warning: an exit at once may wait for stderr's reader: {e}"
        ));
    }
    if config.exit_on_stdin_eof
        && let Err(e) = exit_on_stdin_eof()
    {
        log::line(format!(
            "backpressure: cannot watch stdin for --exit-on-stdin-eof: {e}"
        ));
        return ExitCode::from(EXIT_FAILURE);
    }
    let (addr, max_connections) = (config.addr, config.max_connections);
    // What the caps let the server take, weighed once the server's own
    // threads are running and counted in use.
    let (envelope, max_buffered_total) = (
        Envelope::of(&config, malloc_arenas()),
        config.max_buffered_total,
    );
    let server = match Server::bind(config) {
        Ok(server) => server,
        Err(e) => {
            log::line(format!("backpressure: cannot serve on {addr}: {e}"));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    // From here on every line goes through the logger, which never blocks.
    let logger = match Logger::start() {
        Ok(logger) => logger,
        Err(e) => {
            log::line(format!("backpressure: cannot start the logger: {e}"));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    if let Err(e) = sys::on_shutdown_signals(log::write_stamp) {
        log::line(format!(
            "backpressure: warning: no graceful shutdown, a signal will cut every download: {e}"
        ));
    }
    if let Some(warning) = descriptor_warning(max_connections) {
        log::line(warning);
    }
    if let Some(warning) = memory_warning(&envelope, max_buffered_total) {
        log::line(warning);
    }
    let announced = server.local_addr().and_then(|bound| {
        // Scripts and tests read the port from the first line, so it is
        // flushed at once rather than left in stdout's buffer, in one write
        // with the second: a reader that closes the pipe after the first
        // line must not make the second one fail.
        let text = format!(
            "listening on http://{bound}\n\
             GET http://{bound}/ lists the endpoints with curl examples; Ctrl-C drains and stops\n"
        );
        let mut stdout = io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()
    });
    if let Err(e) = announced {
        let why = format!("backpressure: cannot announce the listening address: {e}");
        logger.stop(&why, LOG_FLUSH_TIMEOUT);
        return ExitCode::from(EXIT_FAILURE);
    }
    let summary = server.run(sys::shutdown_requested);
    logger.stop(&summary.to_string(), LOG_FLUSH_TIMEOUT);
    ExitCode::SUCCESS
}

/// Exits the process once stdin reaches end-of-file. The demo (and the
/// tests) start their servers with stdin piped from themselves; if the
/// parent dies (even by a signal, which runs no destructors) the kernel
/// closes the pipe, and this thread ends the orphaned server at once, as a
/// second signal does: every response still being written is reset, since
/// the exit's plain close would end an HTTP/1.0 body as if it were whole.
fn exit_on_stdin_eof() -> io::Result<()> {
    // Taken here, not in the thread: std allocates stdin's buffer (8 KiB)
    // on first use, which is then before the server says where it listens,
    // however late the thread first runs. An idle heap read after that
    // (the tests', the benchmarks') is whole.
    let stdin = io::stdin();
    std::thread::Builder::new()
        .name("stdin-eof".into())
        .spawn(move || {
            read_to_end_of_file(stdin.lock(), STDIN_POLL);
            sys::exit_cutting_responses(
                0,
                log::write_stamp,
                b"backpressure: stdin closed (--exit-on-stdin-eof): exiting at once; \
                every response still being written is cut with a reset\n",
            );
        })
        .map(drop)
}

/// Reads `input` until it ends, discarding what arrives; EOF or a read
/// error both mean the parent is gone. Not `WouldBlock`: a stdin the
/// parent set non-blocking (the flag belongs to the open pipe or socket,
/// which both hold) says only that nothing has come yet, so it is asked
/// again after `poll`, not taken for the parent's death.
fn read_to_end_of_file(mut input: impl Read, poll: Duration) {
    let mut discarded = [0; 512];
    loop {
        match input.read(&mut discarded) {
            Ok(0) => return,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(poll),
            Err(e) if e.kind() != io::ErrorKind::Interrupted => return,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags::parse_line;

    #[test]
    fn every_flag_in_both_spellings() {
        let config = parse_line(
            &SERVE,
            "--addr 127.0.0.1:0 --chunk-bytes=7 --channel-depth 0 --max-rows 1000 \
             --header-timeout 250ms --send-timeout=2s --min-rate 16k --rate-grace=500ms \
             --max-connections 8 --max-buffered-bytes 2m --max-buffered-total=1g \
             --notsent-lowat 64k --drain-timeout 2s --quiet --exit-on-stdin-eof",
        );
        let expected = ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            chunk_bytes: 7,
            channel_depth: 0,
            max_rows: 1000,
            header_timeout: Duration::from_millis(250),
            send_timeout: Duration::from_secs(2),
            notsent_lowat: Some(64 * 1024),
            min_rate: 16 * 1024,
            rate_grace: Duration::from_millis(500),
            max_connections: 8,
            max_buffered_bytes: 2 << 20,
            max_buffered_total: 1 << 30,
            drain_timeout: Duration::from_secs(2),
            quiet: true,
            exit_on_stdin_eof: true,
        };
        assert_eq!(config, Ok(Some(expected)));
        assert_eq!(parse_line(&SERVE, ""), Ok(Some(ServerConfig::default())));
        let off = parse_line(&SERVE, "--notsent-lowat=off").map(|c| c.map(|c| c.notsent_lowat));
        assert_eq!(off, Ok(Some(None)));
    }

    /// Every bound holds exactly, as a user types it: the value at it is
    /// served, the one just past it refused. A send or head timeout of
    /// zero is refused too (a socket's timeout cannot be zero), and so is
    /// a number too large for its field, never wrapped or saturated into
    /// range: 4 GiB and 4 KiB is no 4 KiB mark, and 2^64 bytes no cap.
    #[test]
    fn every_bound_holds_exactly_at_the_flags() {
        for accepted in [
            "--header-timeout 10m",
            "--header-timeout 1ms",
            "--send-timeout 60m",
            "--send-timeout 1ms",
            "--rate-grace 60m",
            "--drain-timeout 60m",
            "--max-connections 4096",
            "--max-connections 1",
            "--notsent-lowat 16m",
            "--notsent-lowat 4k",
            "--max-buffered-bytes 16g",
        ] {
            assert!(parse_line(&SERVE, accepted).is_ok(), "{accepted}");
        }
        for refused in [
            "--header-timeout 600001ms",
            "--header-timeout 0ms",
            "--send-timeout 3600001ms",
            "--send-timeout 0ms",
            "--rate-grace 3600001ms",
            "--drain-timeout 3600001ms",
            "--max-connections 4097",
            "--max-connections 0",
            "--notsent-lowat 16385k",
            "--notsent-lowat 4095",
            "--notsent-lowat 4194308k",
            "--max-buffered-bytes 17179869184g",
        ] {
            assert!(parse_line(&SERVE, refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn help_lists_every_flag_with_its_default() {
        assert_eq!(parse_line(&SERVE, "--addr 1.2.3.4:5 --help"), Ok(None));
        let help = crate::cli::flags::help(&SERVE);
        for flag in SERVE.flags.iter().filter(|f| !f.value.is_empty()) {
            let line = help.lines().find(|l| l.contains(flag.name)).unwrap();
            assert!(line.contains("[default: "), "{line}");
        }
        for default in [
            "[default: 48k]",
            "[default: 10s]",
            "[default: 127.0.0.1:8080]",
        ] {
            assert!(help.contains(default), "{default}: {help}");
        }
        // The window in which a second signal repeats the first, as the
        // handler applies it.
        let window = crate::sys::repeated_signal::SAME_REQUEST.as_millis();
        let second =
            format!("A second signal,\n{window} ms or more after the first, exits at once");
        assert!(help.contains(&second), "{second}: {help}");
        // The bound on depth and chunk together, as validate() states it.
        let most = crate::server::config::MAX_BOUNDED_HOLD_BYTES >> 20;
        let hold = format!("x chunk at most {most}m");
        assert!(help.contains(&hold), "{hold}: {help}");
    }

    /// A non-blocking stdin's "nothing yet" is waited out, as are signals'
    /// interruptions and data; only EOF or another error end the wait.
    #[test]
    fn only_end_of_file_or_a_real_error_ends_stdins_watch() {
        use io::ErrorKind::{BrokenPipe, Interrupted, WouldBlock};
        struct Scripted(Vec<io::Result<usize>>);
        impl Read for Scripted {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                self.0.remove(0)
            }
        }
        let blocking = || Err(WouldBlock.into());
        for (last, left) in [
            (Ok(0), 1),
            (Err(BrokenPipe.into()), 1),
            (Err(io::ErrorKind::InvalidInput.into()), 1),
        ] {
            let mut script = vec![blocking(), Err(Interrupted.into()), Ok(7), blocking()];
            script.extend([last, Ok(3)]);
            let mut input = Scripted(script);
            read_to_end_of_file(&mut input, Duration::ZERO);
            assert_eq!(input.0.len(), left, "read past the end, or stopped short");
        }
    }
}
