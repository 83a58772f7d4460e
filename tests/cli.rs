//! The command line, through the real binary: help, and for every bad flag
//! one line on stderr and exit code 2; a runtime failure is exit code 1.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime};

use backpressure::{ChildServer, ChildStderr};
use common::{after_stamp, run_binary, run_binary_with};

/// Runs the binary; a bad flag that started a server anyway must fail the
/// test within 10 s, not hang it.
fn run(args: &[&str]) -> Output {
    run_binary(args, Duration::from_secs(10))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_lists_every_flag_with_its_default() {
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(0));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("backpressure serve --help"), "{text}");
    }
    let output = run(&["serve", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for (flag, default) in [
        ("--addr", "127.0.0.1:8080"),
        ("--chunk-bytes", "48k"),
        ("--channel-depth", "1"),
        ("--max-rows", "100000000"),
        ("--header-timeout", "10s"),
        ("--send-timeout", "60s"),
        // The rest of docs/defenses.md's table of limits, as it states them.
        ("--notsent-lowat", "16k"),
        ("--min-rate", "4k"),
        ("--rate-grace", "5s"),
        ("--max-connections", "256"),
        ("--max-buffered-bytes", "512m"),
        ("--max-buffered-total", "1g"),
        ("--drain-timeout", "30s"),
    ] {
        // The flag's own line, not one whose help names it.
        let line = text
            .lines()
            .find(|line| line.split_whitespace().next() == Some(flag))
            .expect(flag);
        assert!(line.contains(&format!("[default: {default}]")), "{line}");
    }
    // Every flag that takes a value (`--flag VALUE`, the value in capitals)
    // names its default; `--quiet` and the like take none.
    let takes_a_value = |line: &&str| {
        let mut words = line.split_whitespace();
        let flag = words.next().is_some_and(|w| w.starts_with("--"));
        flag && words
            .next()
            .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_uppercase()))
    };
    let valued: Vec<&str> = text.lines().filter(takes_a_value).collect();
    assert!(valued.len() >= 13, "{text}");
    for line in valued {
        assert!(line.contains("[default: "), "{line}");
    }
    // git's `help CMD`: that command's help, as `CMD --help` prints it.
    let output = run(&["help", "serve"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(output.stdout, run(&["serve", "--help"]).stdout);
    let output = run(&["--version"]);
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("backpressure "));
}

/// `args` with `--addr 127.0.0.1:0` first, if they start a server and
/// name no address: a bad flag that a regression let through then serves on
/// a port of its own for the 10 s before the test fails, not on the
/// default 127.0.0.1:8080, which may be someone else's.
fn ephemeral_addr<'a>(args: &[&'a str]) -> Vec<&'a str> {
    match args {
        ["serve", rest @ ..] if !rest.iter().any(|a| a.starts_with("--addr")) => {
            [&["serve", "--addr", "127.0.0.1:0"][..], rest].concat()
        }
        _ => args.to_vec(),
    }
}

/// The demo writes beside cargo's own output wherever `cargo run` was
/// typed: cargo starts the binary in that folder, and hands it the
/// package's folder and, if set, `CARGO_TARGET_DIR` (an empty value is no
/// value). Run by hand, outside cargo, it is the current folder's.
#[test]
fn the_demos_folder_is_beside_cargos_output() {
    for (target, package, out) in [
        ("/t", "/p", "/t/demo"),
        ("", "/p", "/p/target/demo"),
        ("", "", "target/demo"),
    ] {
        let env = [
            ("CARGO_TARGET_DIR", target),
            ("CARGO_MANIFEST_DIR", package),
        ];
        let output = run_binary_with(&["demo", "--help"], &env, Duration::from_secs(10));
        let help = String::from_utf8_lossy(&output.stdout);
        let line = help.lines().find(|l| l.contains("--out DIR")).unwrap_or("");
        assert!(
            line.ends_with(&format!("[default: {out}]")),
            "{env:?}: {help}"
        );
    }
}

#[test]
fn bad_flags_exit_2_with_one_line_naming_them() {
    // Every way each serve flag can be wrong, and the checks across them.
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
            &["serve", "--chunk-bytes", "big"],
            "--chunk-bytes: expected a size",
        ),
        (
            &["serve", "--channel-depth", "-1"],
            "--channel-depth: expected a whole",
        ),
        (
            &["serve", "--channel-depth", "2000"],
            "--channel-depth must be from 0",
        ),
        (
            &["serve", "--channel-depth", "1024", "--chunk-bytes", "16m"],
            "(--channel-depth + 2) x --chunk-bytes must be at most 64m",
        ),
        (
            &["serve", "--max-rows", "1e6"],
            "--max-rows: expected a whole number",
        ),
        (
            &["serve", "--max-rows", "100000001"],
            "--max-rows can only lower",
        ),
        (
            &["serve", "--addr", "localhost:0"],
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
            &["serve", "--notsent-lowat", "1k"],
            "--notsent-lowat must be from 4k to 16m, or off",
        ),
        (
            &["serve", "--notsent-lowat", "of"],
            "--notsent-lowat: expected a size",
        ),
        (
            &["serve", "--drain-timeout", "soon"],
            "--drain-timeout: expected a duration",
        ),
        (
            &["serve", "--drain-timeout", "61m"],
            "--drain-timeout must be",
        ),
        (
            &["serve", "--send-timeout", "61m"],
            "--send-timeout must be from",
        ),
        (
            &["serve", "--min-rate", "0"],
            "--min-rate: expected bytes per second",
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
        (&["serve", "--help=yes"], "--help takes no value"),
        (&["--version", "junk"], "--version takes no arguments"),
        (&["help", "junk"], "no help for 'junk'"),
        (
            &["serve", "--verbose", "1"],
            "unknown flag '--verbose' for serve",
        ),
        (&["serve", "extra"], "unexpected argument 'extra' for serve"),
        (&["serve", "--nope"], "--nope"),
        (&["--addr", "127.0.0.1:0"], "flags follow a command"),
        (&["frobnicate"], "unknown command 'frobnicate'"),
        // What the user typed is echoed escaped: a newline in it must not
        // split the line, nor an escape reach the terminal.
        (&["serve", "--addr", "x\ny"], "got 'x\\ny'"),
        (&["serve", "--bo\ngus"], "unknown flag '--bo\\ngus'"),
        (&["bo\x1b[31mgus"], "unknown command 'bo\\u{1b}[31mgus'"),
    ] {
        let args = &ephemeral_addr(args);
        let output = run(args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err.lines().count(),
            1,
            "{args:?}: exactly one line: {err:?}"
        );
        assert!(err.contains(mentions), "{args:?}: {err}");
        let raw = err.trim_end_matches('\n').chars().any(char::is_control);
        assert!(!raw, "{args:?}: no raw control character: {err:?}");
        // The help that lists what was wrong: the command's own flags.
        let help = match args[0] {
            "serve" | "demo" | "slow-client" => format!("(see 'backpressure {} --help')", args[0]),
            _ => "(see 'backpressure --help')".to_string(),
        };
        assert!(err.trim_end().ends_with(&help), "{err}");
        // Not stamped: the answer to whoever typed the command, at once.
        assert!(err.starts_with("backpressure: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

/// A flag typed before any command (`backpressure --quick`, as if the demo,
/// the default command, took its flags bare) is refused, and the line that
/// refuses it points at the command that has the flag: a hint to run
/// `serve --quick` would only earn a second refusal.
#[test]
fn a_flag_before_the_command_points_at_the_command_that_has_it() {
    for (args, hint) in [
        (&["--quick"][..], "as in 'backpressure demo --quick'"),
        (&["--rows", "1000"], "as in 'backpressure demo --rows'"),
        (&["--rate=1k"], "as in 'backpressure slow-client --rate=1k'"),
        (
            &["--addr", "127.0.0.1:0"],
            "as in 'backpressure serve --addr'",
        ),
    ] {
        let output = run(args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
        assert!(err.contains(hint), "{args:?}: {err}");
    }
    // A flag no command has: no command to point at, so none is named.
    let output = run(&["--bogus"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown flag '--bogus'"), "{err}");
    assert!(!err.contains("as in"), "{err}");
}

/// Help that cannot be written (stdout a full disk) is a runtime failure:
/// exit 1, and one line on stderr saying why, not a silent exit.
#[test]
fn help_that_cannot_be_written_exits_1_saying_why() {
    let exe = env!("CARGO_BIN_EXE_backpressure");
    for args in [&["--help"][..], &["serve", "--help"], &["--version"]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
        let full = full.expect("open /dev/full");
        let output = std::process::Command::new(exe)
            .args(args)
            .stdout(full)
            .output()
            .expect("run the binary");
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
        assert!(
            err.starts_with("backpressure: cannot write to stdout: "),
            "{err}"
        );
    }
}

/// Help for a reader that has gone (`| head -0`) exits 1 and says nothing:
/// it asked for no more, so a broken pipe is no error to report.
#[test]
fn help_for_a_reader_that_has_gone_exits_1_saying_nothing() {
    let exe = env!("CARGO_BIN_EXE_backpressure");
    for args in [&["--help"][..], &["serve", "--help"], &["--version"]] {
        let (gone, ours) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
        drop(gone);
        let output = std::process::Command::new(exe)
            .args(args)
            .stdout(std::os::fd::OwnedFd::from(ours))
            .output()
            .expect("run the binary");
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&output), "", "{args:?}");
    }
}

#[test]
fn an_address_in_use_exits_1() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port to take");
    let addr = taken.local_addr().expect("its address").to_string();
    let before = SystemTime::now();
    let output = run(&["serve", "--addr", &addr]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    // The flags were good: this is the server's log, stamped as its every
    // line is, for the operator who reads when it failed to start.
    let said = after_stamp(err.trim_end(), before);
    assert!(said.starts_with("backpressure: cannot serve on "), "{err}");
    assert!(said.contains(&addr), "{err}");
}

/// What the demo, the tests and the benchmarks see when the child server
/// they start refuses a flag: one line naming how it exited, once (an exit
/// status names itself, "exit status: 2").
#[test]
fn a_child_server_with_a_bad_flag_is_one_line_naming_its_exit() {
    let exe = Path::new(env!("CARGO_BIN_EXE_backpressure"));
    let refused = ChildServer::start(exe, &["--no-such-flag"], ChildStderr::Hidden);
    let Err(e) = refused else {
        panic!("a server started with --no-such-flag");
    };
    let text = e.to_string();
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert_eq!(text.matches("exit status").count(), 1, "{text:?}");
    assert!(text.contains("exit status: 2"), "{text:?}");
}
