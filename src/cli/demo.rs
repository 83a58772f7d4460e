//! `backpressure demo`'s flags. A flag given explicitly always wins over
//! `--quick`, in any order.

use std::path::PathBuf;
use std::time::Duration;

use super::flags::{
    Flag, Spec, count, duration, format_duration, format_size, no_default, number, on, rate,
};
use crate::demo::config::{
    DemoConfig, MAX_CLIENTS, MAX_SECONDS, MIN_SECONDS, QUICK_FAST_ROWS, QUICK_HTTP2_THEN_AFTER,
    QUICK_HTTP2_WAIT, QUICK_SECONDS,
};
use crate::export::Mode;
use crate::export::csv_rows::{MAX_ROWS, body_len};

/// The demo's configuration while its command line is read: `--quick`
/// changes only the defaults of what was not given.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DemoArgs {
    /// What will run.
    pub config: DemoConfig,
    /// `--quick` was given.
    quick: bool,
    /// `--seconds` was given, so `--quick` leaves it alone.
    seconds_given: bool,
    /// `--fast-rows` was given, likewise.
    fast_rows_given: bool,
    /// `--http2-wait` was given, likewise.
    http2_wait_given: bool,
}

/// Every flag of `demo`.
pub const DEMO: Spec<DemoArgs> = Spec {
    command: "demo",
    usage: "backpressure demo [FLAGS]        (also what 'backpressure' with no command runs)",
    about: "Measures the four strategies: for each, starts a fresh server (this binary, 'serve'),\n\
            lets a slow client read an export at a phone's rate, samples the server's RSS, threads\n\
            and queued bytes and the kernel's socket queues every 50 ms, disconnects, and checks\n\
            the server let go; then 'bounded' once more with --notsent-lowat off, to show the\n\
            kernel's own send buffer. Then a fast client downloads a smaller export in full, five\n\
            times. Prints a table. Last, HTTP/2: how long a small response waits behind a slow\n\
            download on the same connection, with small and large windows. Writes samples.csv,\n\
            chart.svg, http2-chart.svg and report.md into --out once it ends (each under a\n\
            temporary name, then renamed, report.md last: none is half-written), replacing an\n\
            earlier run's; a demo killed midway leaves an earlier run's files as they were.\n\
            A part that fails ends the report, which keeps every part before it, and exits 1;\n\
            a bad command line exits 2.",
    flags: &[
        Flag {
            name: "--rows",
            value: "N",
            help: "rows of the slow client's export",
            default: |a| {
                let rows = a.config.rows;
                format!("{rows}, ~{:.0} MB", body_len(rows) as f64 / 1e6)
            },
            set: |a, v| rows(v, 1).map(|n| a.config.rows = n),
        },
        Flag {
            name: "--client-rate",
            value: "SIZE",
            help: "slow client's bytes per second, k = KiB",
            default: |a| format_size(a.config.client_rate),
            set: |a, v| rate(v).map(|n| a.config.client_rate = n),
        },
        Flag {
            name: "--seconds",
            value: "N",
            help: "how long each slow client reads (or a duration, 200ms or more: 1500ms)",
            default: |a| {
                let quick = format_duration(QUICK_SECONDS);
                format!("{}; {quick} with --quick", a.config.seconds.as_secs())
            },
            set: |a, v| {
                // Plain seconds, as the flag's name says, or any duration.
                a.config.seconds = number(v)
                    .map(Duration::from_secs)
                    .or_else(|_| duration(v))
                    .ok()
                    .filter(|d| (MIN_SECONDS..=MAX_SECONDS).contains(d))
                    .ok_or_else(|| {
                        let (least, most) = (format_duration(MIN_SECONDS), MAX_SECONDS.as_secs());
                        format!(
                            "expected 1 to {most} seconds, or a duration from {least}, like 1500ms"
                        )
                    })?;
                on(&mut a.seconds_given)
            },
        },
        Flag {
            name: "--modes",
            value: "LIST",
            help: "comma list of buffer,unbounded,bounded,pipeline",
            default: |a| {
                let names: Vec<_> = a.config.modes.iter().map(|m| m.as_str()).collect();
                names.join(",")
            },
            set: |a, v| parse_modes(v).map(|modes| a.config.modes = modes),
        },
        Flag {
            name: "--clients",
            value: "N",
            help: "concurrent slow clients per strategy",
            default: |a| format!("{}; at most {MAX_CLIENTS}", a.config.clients),
            set: |a, v| {
                a.config.clients = count(v)
                    .ok()
                    .filter(|n| (1..=MAX_CLIENTS).contains(n))
                    .ok_or_else(|| format!("expected 1 to {MAX_CLIENTS} clients"))?;
                Ok(())
            },
        },
        Flag {
            name: "--fast-rows",
            value: "N",
            help: "rows of the fast pass's full download; 0 skips it",
            default: |a| format!("{}; {QUICK_FAST_ROWS} with --quick", a.config.fast_rows),
            set: |a, v| {
                a.config.fast_rows = rows(v, 0)?;
                on(&mut a.fast_rows_given)
            },
        },
        Flag {
            name: "--http2-wait",
            value: "DUR",
            help: "longest the HTTP/2 part waits for its small response; 0s skips the part",
            default: |a| {
                let wait = format_duration(a.config.http2_wait);
                format!("{wait}; {} with --quick", format_duration(QUICK_HTTP2_WAIT))
            },
            set: |a, v| {
                a.config.http2_wait = Some(duration(v)?)
                    .filter(|d| *d <= MAX_SECONDS)
                    .ok_or_else(|| format!("expected at most {} s", MAX_SECONDS.as_secs()))?;
                on(&mut a.http2_wait_given)
            },
        },
        Flag {
            name: "--out",
            value: "DIR",
            help: "output folder",
            default: |a| a.config.out.display().to_string(),
            set: |a, v| {
                a.config.out = Some(v)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .ok_or("expected a folder")?;
                Ok(())
            },
        },
        Flag {
            name: "--quick",
            value: "",
            help: "a first look in about 25 s: the quick --seconds, --fast-rows and --http2-wait",
            default: no_default,
            set: |a, _| on(&mut a.quick),
        },
    ],
    positional: None,
    finish: |a| {
        if a.quick && !a.seconds_given {
            a.config.seconds = QUICK_SECONDS;
        }
        if a.quick && !a.fast_rows_given {
            a.config.fast_rows = QUICK_FAST_ROWS;
        }
        if a.quick && !a.http2_wait_given {
            a.config.http2_wait = QUICK_HTTP2_WAIT;
        }
        if a.quick {
            a.config.http2_then_after = QUICK_HTTP2_THEN_AFTER;
        }
        Ok(())
    },
    footer: "",
};

/// A row count from `least` to the export's cap.
fn rows(text: &str, least: u64) -> Result<u64, String> {
    number(text)
        .ok()
        .filter(|rows| (least..=MAX_ROWS).contains(rows))
        .ok_or_else(|| format!("expected {least} to {MAX_ROWS} rows"))
}

/// `bounded,pipeline` → [Bounded, Pipeline]; no empty list, no repeats.
fn parse_modes(text: &str) -> Result<Vec<Mode>, String> {
    let mut modes = Vec::new();
    for name in text.split(',') {
        let mode = Mode::from_name(name.as_bytes()).ok_or_else(|| {
            let names = Mode::ALL.map(Mode::as_str).join(", ");
            let list = format!("expected a comma list of {names}");
            // The flag's error names the whole value; a list's bad part
            // needs naming too.
            if name == text {
                list
            } else {
                format!("{list} ('{name}' is none of them)")
            }
        })?;
        if modes.contains(&mode) {
            return Err(format!("'{name}' is listed twice"));
        }
        modes.push(mode);
    }
    Ok(modes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags::parse_line;

    /// The configuration `args` make, `None` for `--help`.
    fn demo(args: &str) -> Result<Option<DemoConfig>, String> {
        parse_line(&DEMO, args).map(|parsed| parsed.map(|args| args.config))
    }

    #[test]
    fn defaults_and_every_flag() {
        assert_eq!(demo(""), Ok(Some(DemoConfig::default())));
        let config = demo(
            "--rows=1000 --client-rate 1m --seconds 3 --modes pipeline,buffer \
             --clients=4 --fast-rows 0 --http2-wait 5s --out /tmp/x",
        );
        let expected = DemoConfig {
            rows: 1000,
            client_rate: 1024 * 1024,
            seconds: Duration::from_secs(3),
            modes: vec![Mode::Pipeline, Mode::Buffer],
            clients: 4,
            fast_rows: 0,
            http2_wait: Duration::from_secs(5),
            out: PathBuf::from("/tmp/x"),
            ..DemoConfig::default()
        };
        assert_eq!(config, Ok(Some(expected)));
        assert_eq!(demo("-h"), Ok(None));
    }

    #[test]
    fn quick_changes_defaults_but_not_explicit_flags() {
        let quick = demo("--quick").unwrap().unwrap();
        assert_eq!(quick.seconds, QUICK_SECONDS);
        assert_eq!(quick.fast_rows, QUICK_FAST_ROWS);
        assert_eq!(quick.http2_wait, QUICK_HTTP2_WAIT);
        assert_eq!(quick.http2_then_after, QUICK_HTTP2_THEN_AFTER);
        assert_ne!(
            DemoConfig::default().http2_then_after,
            QUICK_HTTP2_THEN_AFTER,
            "a quick run sends its second request sooner"
        );
        assert_eq!(
            demo("--quick --http2-wait 0s").unwrap().unwrap().http2_wait,
            Duration::ZERO
        );
        for args in ["--seconds 2 --quick", "--quick --seconds=2"] {
            let config = demo(args).unwrap().unwrap();
            assert_eq!(config.seconds, Duration::from_secs(2));
            assert_eq!(config.fast_rows, QUICK_FAST_ROWS);
        }
        for args in ["--fast-rows 0 --quick", "--quick --fast-rows=0"] {
            assert_eq!(demo(args).unwrap().unwrap().fast_rows, 0, "{args}");
        }
        let config = demo("--seconds 250ms").unwrap().unwrap();
        assert_eq!(config.seconds, Duration::from_millis(250));
    }

    /// Each bound's own edge is within it: the most that `--help` and the
    /// errors promise ("1 to 16 clients", "1 to 600 seconds") is accepted,
    /// and the least too, where the bound has one.
    #[test]
    fn every_bound_takes_its_own_edges() {
        let config = demo(&format!(
            "--clients {MAX_CLIENTS} --seconds {} --rows {MAX_ROWS} --http2-wait {}s",
            MAX_SECONDS.as_secs(),
            MAX_SECONDS.as_secs()
        ));
        let config = config.unwrap().unwrap();
        assert_eq!((config.clients, config.rows), (MAX_CLIENTS, MAX_ROWS));
        assert_eq!(
            (config.seconds, config.http2_wait),
            (MAX_SECONDS, MAX_SECONDS)
        );
        let config = demo("--clients 1 --seconds 1 --rows 1").unwrap().unwrap();
        assert_eq!((config.clients, config.rows), (1, 1));
        assert_eq!(config.seconds, Duration::from_secs(1));
        let config = demo("--seconds 200ms").unwrap().unwrap();
        assert_eq!(config.seconds, MIN_SECONDS);
    }

    /// Just past each bound is refused, in any unit: the HTTP/2 part waits
    /// at most what `--seconds` may read, 600 s, not a millisecond more.
    #[test]
    fn just_past_each_bound_is_refused() {
        for (args, line) in [
            (
                "--http2-wait 601s",
                "--http2-wait: expected at most 600 s, got '601s'",
            ),
            (
                "--http2-wait 600001ms",
                "--http2-wait: expected at most 600 s, got '600001ms'",
            ),
            (
                "--seconds 600001ms",
                "--seconds: expected 1 to 600 seconds, or a duration from 200ms, like 1500ms, \
                 got '600001ms'",
            ),
            (
                "--seconds 199ms",
                "--seconds: expected 1 to 600 seconds, or a duration from 200ms, like 1500ms, \
                 got '199ms'",
            ),
        ] {
            assert_eq!(demo(args), Err(line.to_string()), "{args}");
        }
    }

    /// A bad mode is named once: by the flag's error when it is the whole
    /// value, in the list's own words when it is one part of several.
    #[test]
    fn a_bad_mode_is_named_once() {
        let alone = demo("--modes foo").unwrap_err();
        assert_eq!(alone.matches("foo").count(), 1, "{alone}");
        let listed = demo("--modes bounded,foo").unwrap_err();
        assert!(listed.contains("('foo' is none of them)"), "{listed}");
        assert!(
            demo("--modes bounded,bounded")
                .unwrap_err()
                .contains("listed twice")
        );
    }
}
