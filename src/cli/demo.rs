//! `backpressure demo`'s flags. A flag given explicitly always wins over
//! `--quick`, in any order.

use std::path::PathBuf;
use std::time::Duration;

use super::flags::{
    Flag, Spec, format_duration, no_default, parse_duration, parse_number, parse_size,
};
use crate::demo::config::{DemoConfig, MAX_CLIENTS, MAX_SECONDS, QUICK_FAST_ROWS, QUICK_SECONDS};
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
}

/// Every flag of `demo`.
pub const DEMO: Spec<DemoArgs> = Spec {
    command: "demo",
    usage: "backpressure demo [FLAGS]        (also what 'backpressure' with no command runs)",
    about: "Measures the four strategies: for each, starts a fresh server (this binary, 'serve'),\n\
            lets a slow client read an export at a phone's rate, samples the server's RSS, threads\n\
            and queued bytes and the kernel's socket queues every 50 ms, disconnects, and checks\n\
            the server let go. Then a fast client downloads a smaller export in full. Prints a\n\
            table and writes samples.csv, chart.svg and report.md into --out.",
    flags: &[
        Flag {
            name: "--rows",
            value: "N",
            help: "rows of the slow client's export",
            default: |a| {
                let rows = a.config.rows;
                format!("{rows}, ~{} MB", body_len(rows) / 1_000_000)
            },
            set: |a, v| {
                a.config.rows = parse_number(v)
                    .filter(|rows| (1..=MAX_ROWS).contains(rows))
                    .ok_or_else(|| format!("expected 1 to {MAX_ROWS} rows"))?;
                Ok(())
            },
        },
        Flag {
            name: "--client-rate",
            value: "SIZE",
            help: "slow client's bytes per second, k = KiB",
            default: |a| super::flags::format_size(a.config.client_rate),
            set: |a, v| {
                a.config.client_rate = parse_size(v)
                    .filter(|&rate| rate > 0)
                    .ok_or("expected bytes per second, such as 200k")?;
                Ok(())
            },
        },
        Flag {
            name: "--seconds",
            value: "N",
            help: "how long each slow client reads (or a duration: 1500ms)",
            default: |a| {
                let quick = format_duration(QUICK_SECONDS);
                format!("{}; {quick} with --quick", a.config.seconds.as_secs())
            },
            set: |a, v| {
                // Plain seconds, as the flag's name says, or any duration.
                a.config.seconds = parse_number(v)
                    .map(Duration::from_secs)
                    .or_else(|| parse_duration(v))
                    .filter(|d| !d.is_zero() && *d <= MAX_SECONDS)
                    .ok_or("expected 1 to 600 seconds, or a duration like 1500ms")?;
                a.seconds_given = true;
                Ok(())
            },
        },
        Flag {
            name: "--modes",
            value: "LIST",
            help: "comma list of buffer,unbounded,bounded,pipeline",
            default: |a| {
                let names: Vec<&str> = a.config.modes.iter().map(|m| m.as_str()).collect();
                names.join(",")
            },
            set: |a, v| {
                a.config.modes = parse_modes(v)?;
                Ok(())
            },
        },
        Flag {
            name: "--clients",
            value: "N",
            help: "concurrent slow clients per strategy, 1 to 16",
            default: |a| a.config.clients.to_string(),
            set: |a, v| {
                a.config.clients = parse_number(v)
                    .and_then(|n| usize::try_from(n).ok())
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
                a.config.fast_rows = parse_number(v)
                    .filter(|rows| *rows <= MAX_ROWS)
                    .ok_or_else(|| format!("expected 0 to {MAX_ROWS} rows"))?;
                a.fast_rows_given = true;
                Ok(())
            },
        },
        Flag {
            name: "--out",
            value: "DIR",
            help: "output folder",
            default: |a| a.config.out.display().to_string(),
            set: |a, v| {
                if v.is_empty() {
                    return Err("expected a folder".into());
                }
                a.config.out = PathBuf::from(v);
                Ok(())
            },
        },
        Flag {
            name: "--quick",
            value: "",
            help: "a first look in about 13 s: the quick --seconds and --fast-rows",
            default: no_default,
            set: |a, _| {
                a.quick = true;
                Ok(())
            },
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
        Ok(())
    },
    footer: "",
};

/// `bounded,pipeline` → [Bounded, Pipeline]; no empty list, no repeats.
fn parse_modes(text: &str) -> Result<Vec<Mode>, String> {
    let mut modes = Vec::new();
    for name in text.split(',') {
        let mode = Mode::from_name(name.as_bytes()).ok_or_else(|| {
            format!(
                "expected a comma list of buffer, unbounded, bounded, pipeline \
                 ('{name}' is none of them)"
            )
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
    use crate::cli::flags::{Parsed, parse};

    fn demo(args: &[&str]) -> Result<Option<DemoConfig>, String> {
        match parse(&DEMO, args.iter().map(|s| s.to_string())) {
            Ok(Parsed::Run(args)) => Ok(Some(args.config)),
            Ok(Parsed::Help(_)) => Ok(None),
            Err(e) => Err(e.0),
        }
    }

    #[test]
    fn defaults_and_every_flag() {
        assert_eq!(demo(&[]), Ok(Some(DemoConfig::default())));
        let config = demo(&[
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
        let expected = DemoConfig {
            rows: 1000,
            client_rate: 1024 * 1024,
            seconds: Duration::from_secs(3),
            modes: vec![Mode::Pipeline, Mode::Buffer],
            clients: 4,
            fast_rows: 0,
            out: PathBuf::from("/tmp/x"),
        };
        assert_eq!(config, expected);
        assert_eq!(demo(&["-h"]), Ok(None));
    }

    #[test]
    fn quick_changes_defaults_but_not_explicit_flags() {
        let quick = demo(&["--quick"]).unwrap().unwrap();
        assert_eq!(quick.seconds, QUICK_SECONDS);
        assert_eq!(quick.fast_rows, QUICK_FAST_ROWS);
        for args in [
            &["--seconds", "2", "--quick"][..],
            &["--quick", "--seconds=2"],
        ] {
            let config = demo(args).unwrap().unwrap();
            assert_eq!(config.seconds, Duration::from_secs(2));
            assert_eq!(config.fast_rows, QUICK_FAST_ROWS);
        }
        let config = demo(&["--seconds", "250ms"]).unwrap().unwrap();
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
            let error = demo(args).unwrap_err();
            assert!(error.contains(mentions), "{args:?}: {error}");
            assert!(!error.contains('\n'));
        }
    }
}
