//! The demo, through the real binary: a quick run on a small export with two
//! strategies, checked by its table (the verdict computed from what it
//! measured) and by the files it writes; and the child server's exit when
//! the process that started it goes away.

mod common;

use std::io::{BufRead, BufReader, ErrorKind};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

use common::{KillOnDrop, NO_THREAD, run_binary, run_binary_with};

/// The most a quick demo of two strategies may take before the test kills
/// it: about 16 s in a release build, more in a debug one, with room for a
/// loaded machine.
const DEMO_DEADLINE: Duration = Duration::from_secs(90);

/// The quick demo's `--seconds 500ms`, in ms: how long the slow clients
/// read: ten ticks, and time for `unbounded` to queue far past the 1 MiB
/// its verdict turns on.
const SECONDS_MS: u64 = 500;

/// The demo's sampling after the slow clients disconnect, in ms
/// (`AFTER_DISCONNECT` in `src/demo/run.rs`).
const AFTER_DISCONNECT_MS: u64 = 1000;

/// The demo's time between samples, in ms (`SAMPLE_INTERVAL`).
const TICK_MS: u64 = 50;

/// The cells of the first table row for `strategy` in the slow-client table.
fn row<'a>(table: &'a str, strategy: &str) -> Vec<&'a str> {
    let line = table
        .lines()
        .find(|line| line.starts_with(&format!("| {strategy} ")))
        .unwrap_or_else(|| panic!("no row for {strategy} in:\n{table}"));
    line.trim_matches('|').split('|').map(str::trim).collect()
}

// Named to sort first: libtest starts a binary's tests in name order, two at
// a time on two cores, and this one, the longest by far, would add most of
// its time to the binary's if it started after the others.
#[test]
fn a_demo_in_quick_mode_measures_two_strategies_and_writes_its_files() {
    let out = fresh_out("demo-quick");
    let out_arg = path_arg(&out);
    let output = run_binary(
        &[
            "demo",
            "--quick",
            "--modes",
            "bounded,unbounded",
            "--rows",
            "300000",
            "--seconds",
            "500ms",
            "--fast-rows",
            "20000",
            // The second HTTP/2 case waits this out on purpose (its small
            // response is behind megabytes of kernel buffer): --quick's
            // 3 s proved nothing 1.5 s does not.
            "--http2-wait",
            "1500ms",
            "--out",
            out_arg,
        ],
        DEMO_DEADLINE,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");

    // The slow table: one row per strategy, in the order asked for, eleven
    // columns, the verdict last.
    let (slow, rest) = stdout
        .split_once("## Fast client")
        .expect("a fast-client section");
    let (fast, http2) = rest
        .split_once("## HTTP/2: one connection, two windows")
        .expect("an HTTP/2 section");
    let header = row(slow, "strategy");
    assert_eq!(header.len(), 11, "{header:?}");
    assert_eq!(header[10], "verdict");
    let bounded = row(slow, "bounded");
    let unbounded = row(slow, "unbounded");
    assert!(slow.find("| bounded ") < slow.find("| unbounded "));
    assert_eq!(bounded[10], "flat", "{bounded:?}");
    assert_ne!(unbounded[10], "flat", "{unbounded:?}");
    assert!(slow.contains("Verdict rule"), "{slow}");
    // Once its client had gone, bounded's producer stopped: it was blocked
    // in `send`, and the hang-up woke it.
    assert_eq!(header[9], "producer stopped", "{header:?}");
    assert_eq!(bounded[9], "yes", "{bounded:?}");
    // The table and the sentence under it give one figure for what the
    // client read, in body bytes: the sentence gave body bytes at the
    // client's stop, the table wire bytes sampled before it (189.9 KiB
    // against 190.2 KiB for the same read).
    assert_eq!(header[7], "body read", "{header:?}");
    for (strategy, cells) in [("bounded", &bounded), ("unbounded", &unbounded)] {
        let said = slow
            .split_once("it read ")
            .and_then(|(_, rest)| rest.split_once(&format!(" from `{strategy}`")))
            .and_then(|(before, _)| before.rsplit("; ").next()?.split_once(" in "))
            .map(|(read, _)| read);
        assert_eq!(said, Some(cells[7]), "{strategy}: {slow}");
    }
    // The summary on stderr gives the table's figure for the peak queue.
    let summary = stderr
        .lines()
        .find_map(|line| line.strip_prefix("bounded ")?.split_once(" peak queued "))
        .and_then(|(_, rest)| rest.split_once(':'))
        .map(|(queued, _)| queued);
    assert_eq!(summary, Some(bounded[4]), "{stderr}");
    // Both bodies were downloaded in full by the fast client.
    for strategy in ["bounded", "unbounded"] {
        let cells = row(fast, strategy);
        assert!(cells[5].contains("ended cleanly"), "{cells:?}");
    }

    // HTTP/2: the three cases in order, and a starved stream that got
    // exactly its window, 65,535 bytes, while the connection went on.
    let cases: Vec<&str> = http2.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(cases.len(), 4, "a header and three cases: {http2}");
    assert!(cases[1].starts_with("| 65,535-byte window | 65,535 | 16.0 KiB |"));
    assert!(cases[2].starts_with("| 16 MiB window, kernel's buffer | 16,777,216 | off |"));
    assert!(cases[3].starts_with("| 16 MiB window, high-water mark | 16,777,216 | 16.0 KiB |"));
    assert!(
        http2.contains("received 65,535 bytes of it, exactly its window"),
        "{http2}"
    );
    let chart = std::fs::read_to_string(out.join("http2-chart.svg")).expect("http2-chart.svg");
    assert_eq!(
        chart.matches("fill=\"#4477aa\"").count(),
        3,
        "a bar per case"
    );

    // The CSV: the header, then samples of both strategies and both passes.
    let csv = std::fs::read_to_string(out.join("samples.csv")).expect("samples.csv");
    let mut lines = csv.lines();
    let header = lines.next().expect("a header row");
    assert_eq!(
        header,
        "strategy,pass,phase,t_ms,rss_bytes,threads,queued_bytes,server_tx_queue_bytes,\
         client_rx_queue_bytes,client_read_bytes,tcp_mem_pages"
    );
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    assert!(rows.iter().all(|cells| cells.len() == 11), "{csv}");
    // The verdict agrees with the samples: the most bounded ever queued is
    // under the 1 MiB flat bound, unbounded went past it.
    let max_queued = |strategy: &str| {
        rows.iter()
            .filter(|cells| cells[0] == strategy && cells[1] == "slow")
            .filter_map(|cells| cells[6].parse::<u64>().ok())
            .max()
            .unwrap_or_else(|| panic!("no slow samples with queued bytes for {strategy}"))
    };
    assert!(max_queued("bounded") < 1024 * 1024);
    assert!(max_queued("unbounded") >= 1024 * 1024);
    // Every 50 ms when the machine is idle; a sample of a busy debug
    // server on a loaded machine can take a second, and late ticks are
    // skipped. So a line has its two points, or one that took its whole
    // phase: the sampler stops once its next tick would pass the phase's
    // end, so that sample ended within a tick or two of it, as its time
    // says. One that ended early means a phase cut short.
    let times = |strategy: &str, pass: &str, phase: &str| -> Vec<u64> {
        rows.iter()
            .filter(|c| c[0] == strategy && c[1] == pass && c[2] == phase)
            .map(|c| c[3].parse().expect("t_ms, a whole number"))
            .collect()
    };
    let sampled = |times: &[u64], phase_end: u64| {
        times.len() >= 2 || times.first().is_some_and(|&t| t + 2 * TICK_MS >= phase_end)
    };
    for strategy in ["bounded", "unbounded"] {
        // The reading phase runs from the sampler's start for --seconds;
        // the one after, from the clients' stop, after the last reading
        // sample, for a second.
        let reading = times(strategy, "slow", "reading");
        let last_read = reading.last().copied().unwrap_or(0);
        let after = times(strategy, "slow", "after");
        assert!(
            sampled(&reading, SECONDS_MS),
            "{strategy} reading: {reading:?}"
        );
        let after_end = last_read + AFTER_DISCONNECT_MS;
        assert!(sampled(&after, after_end), "{strategy} after: {after:?}");
    }
    assert!(!times("bounded", "fast", "reading").is_empty(), "{csv}");
    // A slow reader's kernel holds what it has not read yet: its receive
    // queue, sampled from the client's own socket, holds bytes in at least
    // one slow sample (a column never filled in would read 0 in all).
    assert!(
        rows.iter()
            .any(|c| c[1] == "slow" && c[8].parse::<u64>().unwrap_or(0) > 0),
        "no client receive queue in {csv}"
    );
    // The server's send queue, sampled from the server's end of the
    // socket, held bytes too: unsent, or sent and not yet acknowledged.
    assert!(
        rows.iter()
            .any(|c| c[1] == "slow" && c[7].parse::<u64>().unwrap_or(0) > 0),
        "no server send queue in {csv}"
    );
    // The client read something, and the server's RSS was sampled.
    assert!(rows.iter().any(|c| c[9].parse::<u64>().unwrap_or(0) > 0));
    assert!(
        rows.iter().all(|c| c[4].parse::<u64>().is_ok()),
        "RSS in every row"
    );

    // The chart: one polyline per strategy, a complete document.
    let svg = std::fs::read_to_string(out.join("chart.svg")).expect("chart.svg");
    assert!(svg.starts_with("<?xml"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert!(
        std::fs::read_to_string(out.join("report.md"))
            .expect("report.md")
            .contains("| unbounded ")
    );
}

/// `demo` measuring the slow clients alone: no fast pass, no HTTP/2 part.
fn slow_part_only<'a>(
    mode: &'a str,
    rows: &'a str,
    seconds: &'a str,
    out: &'a str,
) -> [&'a str; 13] {
    [
        "demo",
        "--modes",
        mode,
        "--rows",
        rows,
        "--seconds",
        seconds,
        "--fast-rows",
        "0",
        "--http2-wait",
        "0s",
        "--out",
        out,
    ]
}

/// Starts `exe`, a copy of the binary the test has just written, with
/// `args`, stdout and stderr piped. A file just written can be refused for
/// a moment with ETXTBSY: a process that another test forked while the
/// copy was open for writing holds it so until its own exec
/// (rust-lang/rust#114554). So a busy file is tried again, every 10 ms for
/// up to 5 s.
fn spawn_copy(exe: &Path, args: &[&str]) -> KillOnDrop {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let spawned = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        match spawned {
            Ok(child) => return KillOnDrop(child),
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("the copy of the binary does not start: {e}"),
        }
    }
}

/// An output folder of a test's own under the tests' temporary folder
/// (not made yet), named for this process too: `cargo test` and `cargo
/// test --release` share that folder, and may run at once. Removed when
/// the test ends, but kept, to be read, when it failed.
struct Out(PathBuf);

impl std::ops::Deref for Out {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Out {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        if !thread::panicking() {
            // Or a file, where a test needs an `--out` that is not a folder.
            let _ = std::fs::remove_dir_all(&self.0).or_else(|_| std::fs::remove_file(&self.0));
        }
    }
}

/// [`Out`] for the test that says `name`, emptied.
fn fresh_out(name: &str) -> Out {
    let name = format!("{name}-{}", std::process::id());
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&out);
    Out(out)
}

fn path_arg(path: &std::path::Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// A `buffer` body over --max-buffered-bytes (512 MiB) is refused up front:
/// nothing was measured, so the verdict must not say "flat", and the
/// reading must not credit `buffer` with flow control that never ran.
#[test]
fn a_strategy_whose_every_client_was_refused_is_not_called_flat() {
    let out = fresh_out("demo-refused");
    // Refused at once: how long a client would have read changes nothing.
    let args = slow_part_only("buffer", "10000000", "250ms", path_arg(&out));
    let output = run_binary(&args, DEMO_DEADLINE);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("1 of 1 `buffer` client was refused up front (400)"),
        "{stdout}"
    );
    let buffer = row(&stdout, "buffer");
    assert_ne!(buffer[10], "flat", "{buffer:?}");
    assert!(
        !stdout.contains("`buffer` never queued more than"),
        "{stdout}"
    );
}

/// The smallest export, one row: the client gets the whole 87-byte body at
/// once, long before --seconds. The report must say so in body bytes and
/// the time it took, not compare the body with the bytes on the wire over
/// --seconds, nor explain its flat verdict by a wait that never happened.
#[test]
fn a_one_row_demo_reports_what_was_measured() {
    let out = fresh_out("demo-one-row");
    let args = slow_part_only("bounded", "1", "250ms", path_arg(&out));
    let output = run_binary(&args, DEMO_DEADLINE);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let first = stdout
        .lines()
        .find(|line| line.starts_with("The client asked"))
        .and_then(|line| line.split(". ").next())
        .unwrap_or_else(|| panic!("no reading paragraph in:\n{stdout}"));
    // A --seconds under one second is shown in ms, not rounded to "0.2 s".
    assert!(stdout.contains(" 250 ms, then disconnect"), "{stdout}");
    let start = "The client asked for a body of 87 B; it read all of it in ";
    assert!(first.starts_with(start), "{first}");
    assert!(first.ends_with(" from `bounded`"), "{first}");
    // Nothing waited: the body fit in the first write, so the report must
    // not explain the flat verdict by a full kernel buffer.
    assert!(!stdout.contains("where `write` blocks"), "{stdout}");
    assert!(stdout.contains("so nothing had to wait"), "{stdout}");
    // A debug build's figures say whose they are, in the report and on
    // stderr; this test's binary is built as the test is.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let note = "a debug build (cargo run without --release)";
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    for (what, text) in [
        ("stdout", &stdout[..]),
        ("stderr", &stderr),
        ("report.md", &report),
    ] {
        assert_eq!(
            text.contains(note),
            cfg!(debug_assertions),
            "{what}: {text}"
        );
    }
}

/// The fast download's rate reads the same on its progress line as in
/// the fast table: `--fast-rows 1`'s 87 bytes, in well under a
/// millisecond, are not "0" MB/s on stderr, as if nothing was read, beside
/// "0.3" on stdout. Any mode but `bounded` would do (the demo runs its
/// slow pass twice, a second wasted here): `unbounded`.
#[test]
fn a_fast_progress_line_shows_the_tables_rate() {
    let out = fresh_out("demo-fast-rate");
    let mut args = slow_part_only("unbounded", "1", "250ms", path_arg(&out));
    let fast_rows = 1 + args.iter().position(|&a| a == "--fast-rows").unwrap_or(0);
    args[fast_rows] = "1";
    let output = run_binary(&args, DEMO_DEADLINE);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let progress = stderr
        .lines()
        .find_map(|line| line.strip_prefix("unbounded fast: "))
        .and_then(|line| line.split_once(" MB/s"))
        .unwrap_or_else(|| panic!("no fast progress line in:\n{stderr}"));
    let (_, fast_table) = stdout
        .split_once("## Fast client")
        .unwrap_or_else(|| panic!("no fast table in:\n{stdout}"));
    let cells = row(fast_table, "unbounded");
    assert_eq!(progress.0, cells[3], "{stderr}\n{cells:?}");
}

/// Every file in --out is this run's: a run without the HTTP/2 part must
/// not leave an earlier run's `http2-chart.svg` beside its own report, where
/// it reads as this run's measurement. In `unbounded`: one slow pass.
#[test]
fn a_demo_leaves_no_file_of_an_earlier_run_in_its_folder() {
    let out = fresh_out("demo-stale");
    std::fs::create_dir_all(&out).expect("create the folder");
    let stale = out.join("http2-chart.svg");
    std::fs::write(&stale, "<svg>an earlier run</svg>").expect("write the stale chart");
    let args = slow_part_only("unbounded", "1", "250ms", path_arg(&out));
    let output = run_binary(&args, DEMO_DEADLINE);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(out.join("report.md").exists(), "{stdout}");
    assert!(
        !stale.exists(),
        "an earlier run's http2-chart.svg is still there"
    );
}

/// A demo killed before it ends (Ctrl-C, a closed terminal) leaves an
/// earlier run's files as they were: each is whole, and they are still
/// each other's, since the folder's files are replaced only once a run has
/// its own to put there. The test kills the demo by its PID while its
/// first server runs: its first progress line is on stderr.
#[test]
fn a_demo_killed_midway_leaves_an_earlier_run_as_it_was() {
    let out = fresh_out("demo-killed");
    std::fs::create_dir_all(&out).expect("create the folder");
    let earlier = ["samples.csv", "chart.svg", "http2-chart.svg", "report.md"];
    for name in earlier {
        std::fs::write(out.join(name), format!("{name} of an earlier run")).expect("seed");
    }
    let args = slow_part_only("bounded", "300000", "5", path_arg(&out));
    let mut child = spawn_copy(Path::new(env!("CARGO_BIN_EXE_backpressure")), &args);
    let _ = stderr_until(&mut child, "bounded ");
    child.0.kill().expect("kill the demo");
    child.exit_within("the killed demo to be reaped", Duration::from_secs(10));
    for name in earlier {
        let kept = std::fs::read_to_string(out.join(name)).unwrap_or_default();
        assert_eq!(kept, format!("{name} of an earlier run"), "{name}");
    }
}

/// The demo's stderr lines up to the first that starts with `prefix` (a
/// progress line: the part it names has begun), read on a thread of their
/// own, and the rest as they come. Fails the test after [`DEMO_DEADLINE`]
/// without one.
fn stderr_until(child: &mut KillOnDrop, prefix: &str) -> (Vec<String>, Receiver<String>) {
    let stderr = BufReader::new(child.0.stderr.take().expect("stderr is piped"));
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in stderr.lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while !seen.last().is_some_and(|l: &String| l.starts_with(prefix)) {
        match line_rx.recv_timeout(DEMO_DEADLINE) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("no line starting {prefix:?} ({e}): {seen:?}"),
        }
    }
    (seen, line_rx)
}

/// A fresh folder `name`, held for the test, with a copy of the binary in
/// it and an empty `out` folder beside that: a test that removes the copy
/// makes every later server start fail, a real failure the product needs
/// no flag for.
fn binary_copy(name: &str) -> (Out, PathBuf, PathBuf) {
    let dir = fresh_out(name);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).expect("create the folder");
    let exe = dir.join("backpressure");
    std::fs::copy(env!("CARGO_BIN_EXE_backpressure"), &exe).expect("copy the binary");
    (dir, exe, out)
}

/// A demo whose first part fails measured nothing to chart: it writes its
/// report of the failure, and no chart, not even an earlier run's, stands
/// beside it. The failure is real: the test opens a copy of the binary,
/// removes it, and runs it from the open descriptor, so the demo runs but
/// its own path is gone, and no server of it can start. The copy is gone
/// before the demo starts, so no timing is involved.
#[test]
fn a_first_part_that_fails_leaves_no_chart_of_an_earlier_run() {
    let (_dir, exe, out) = binary_copy("demo-first-failure");
    for stale in ["chart.svg", "http2-chart.svg"] {
        std::fs::write(out.join(stale), "<svg>an earlier run</svg>").expect("seed a chart");
    }
    let open = std::fs::File::open(&exe).expect("open the copy");
    std::fs::remove_file(&exe).expect("remove the copy");
    let from_descriptor = PathBuf::from(format!("/proc/self/fd/{}", open.as_raw_fd()));
    let args = slow_part_only("unbounded", "1", "1", path_arg(&out));
    let mut child = spawn_copy(&from_descriptor, &args);
    drop(open);
    let stdout = read_all(child.0.stdout.take().expect("stdout is piped"));
    let stderr = read_all(child.0.stderr.take().expect("stderr is piped"));
    let status = child.exit_within("the demo to exit", DEMO_DEADLINE);
    let stdout = stdout.join().expect("stdout thread").expect("stdout");
    let stderr = stderr.join().expect("stderr thread").expect("stderr");
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    let failed = "## Failed: Slow client: unbounded";
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(report.contains(failed), "{report}");
    assert!(report.contains("cannot start"), "{report}");
    for stale in ["chart.svg", "http2-chart.svg"] {
        assert!(
            !out.join(stale).exists(),
            "an earlier run's {stale} is still there"
        );
    }
}

/// A part that fails after others were measured loses none of them: the
/// earlier tables are printed and written, the failed part is named with
/// its reason, and the exit code is 1. The failure is a real one, with no
/// flag of the product's: the demo runs a copy of the binary, and the test
/// removes that copy while the slow part's server runs (as a `cargo clean`
/// during a demo would), so the next server, the HTTP/2 part's first,
/// cannot start.
#[test]
fn a_late_part_that_fails_keeps_what_was_measured() {
    let (_dir, exe, out) = binary_copy("demo-late-failure");
    let args = [
        "demo",
        "--quick",
        "--modes",
        "unbounded",
        "--rows",
        "300000",
        // The copy goes as the first progress line comes (100 ms in),
        // over a second before the HTTP/2 part starts its server: this
        // reading, then the second of sampling after it, come first.
        "--seconds",
        "250ms",
        "--fast-rows",
        "0",
        "--out",
        path_arg(&out),
    ];
    let mut child = spawn_copy(&exe, &args);
    let stdout = read_all(child.0.stdout.take().expect("stdout is piped"));
    // The first progress line of `unbounded`'s slow pass: its server runs.
    let (mut stderr, line_rx) = stderr_until(&mut child, "unbounded");
    std::fs::remove_file(&exe).expect("remove the copy");
    let status = child.exit_within("the demo to exit", DEMO_DEADLINE);
    stderr.extend(line_rx.iter());
    let stdout = stdout.join().expect("stdout thread").expect("stdout");
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr:?}");

    // What was measured is printed: the slow table, its verdict.
    let unbounded = row(&stdout, "unbounded");
    assert_eq!(unbounded.len(), 11, "{unbounded:?}");
    assert_ne!(unbounded[10], "flat", "{unbounded:?}");
    // The failed part is named, with its reason, in the report and on
    // stderr's last line.
    let failed = "## Failed: HTTP/2: one connection, two windows";
    let (_, reason) = stdout
        .split_once(failed)
        .unwrap_or_else(|| panic!("no {failed:?} in:\n{stdout}"));
    assert!(reason.contains("cannot start the server"), "{reason}");
    let last = stderr.last().expect("a last line");
    assert!(last.starts_with("backpressure demo: "), "{last}");
    assert!(last.contains("HTTP/2") && last.contains("cannot start the server"));
    // And written: the report and chart of this run, no HTTP/2 chart.
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(report.contains("| unbounded ") && report.contains(failed));
    let svg = std::fs::read_to_string(out.join("chart.svg")).expect("chart.svg");
    assert_eq!(svg.matches("<polyline").count(), 1);
    assert!(!out.join("http2-chart.svg").exists());
}

/// A reader that goes away (`backpressure demo | head`, a closed pipe) is a
/// runtime failure like any other: the files are still written, and the
/// exit is 1 with one line, not a panic (101) from `print!`. A closed
/// stderr costs only the progress lines, not a panic from `eprintln!`.
#[test]
fn a_demo_whose_output_is_closed_does_not_panic() {
    let out = fresh_out("demo-stdout-closed");
    let args = slow_part_only("unbounded", "1", "250ms", path_arg(&out));
    let other_out = fresh_out("demo-stderr-closed");
    let other_args = slow_part_only("unbounded", "1", "250ms", path_arg(&other_out));
    // The two runs, a folder each, go side by side: one after the other,
    // the test took 3.4 s, not 1.7.
    let (stdout_closed, stderr_closed) = thread::scope(|scope| {
        let other = scope.spawn(|| demo_with_closed(&other_args, Closed::Stderr));
        let first = demo_with_closed(&args, Closed::Stdout);
        (first, other.join().expect("the run with stderr closed"))
    });
    let (status, stderr) = stdout_closed;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("backpressure demo: cannot print the report"),
        "{last}"
    );
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(report.contains("| unbounded "), "{report}");

    // A closed stderr loses only the progress lines: the report is printed,
    // exit 0. The first line, before any server, is where it panicked.
    let (status, stdout) = stderr_closed;
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("| unbounded "), "{stdout}");
}

/// Which of the demo's outputs [`demo_with_closed`] closes.
enum Closed {
    Stdout,
    Stderr,
}

/// Runs the demo with `args` and one of its outputs closed before it
/// writes a byte: its exit status, and all it wrote to the other.
fn demo_with_closed(args: &[&str], closed: Closed) -> (std::process::ExitStatus, String) {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_backpressure"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts"),
    );
    let (stdout, stderr) = (child.0.stdout.take(), child.0.stderr.take());
    // The one closed is dropped before the demo can write to it.
    let (open, shut): (Box<dyn std::io::Read + Send>, Box<dyn Send>) = match closed {
        Closed::Stdout => (Box::new(stderr.expect("stderr")), Box::new(stdout)),
        Closed::Stderr => (Box::new(stdout.expect("stdout")), Box::new(stderr)),
    };
    drop(shut);
    let read = read_all(open);
    let status = child.exit_within("the demo to exit", DEMO_DEADLINE);
    (status, read.join().expect("reader thread").expect("output"))
}

/// Reads `pipe` to its end on a thread of its own, so that a child blocked
/// writing to one pipe cannot keep the test from reading the other.
fn read_all(
    mut pipe: impl std::io::Read + Send + 'static,
) -> thread::JoinHandle<std::io::Result<String>> {
    thread::spawn(move || {
        let mut text = String::new();
        pipe.read_to_string(&mut text).map(|_| text)
    })
}

/// A runtime failure is exit code 1 and one line on stderr, as every
/// error is: here an --out that is a file, not a folder.
#[test]
fn a_demo_that_cannot_create_its_folder_exits_1_with_one_line() {
    let file = fresh_out("demo-out-is-a-file");
    std::fs::write(&*file, "not a folder").expect("write the file");
    let out = file.to_str().expect("a UTF-8 temp path");
    let output = run_binary(&["demo", "--quick", "--out", out], Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.starts_with("backpressure demo: cannot create"),
        "{stderr:?}"
    );
}

/// No thread to read a child server's announcement with (the OS has none
/// to give) is a runtime failure like any other: exit 1, the failed part
/// named in one line, not std's "failed to spawn thread" panic and exit
/// 101.
#[test]
fn a_demo_with_no_thread_to_start_exits_1_without_a_panic() {
    let out = fresh_out("demo-no-thread");
    let args = slow_part_only("bounded", "1", "1", path_arg(&out));
    let output = run_binary_with(&args, &[NO_THREAD], Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let failed = stderr.lines().filter(|l| l.contains("failed")).count();
    assert_eq!(failed, 1, "{stderr:?}");
    assert!(stderr.contains("cannot start the server"), "{stderr}");
}

/// A folder that exists but cannot be written is found before anything is
/// measured: one line and exit 1 at once, not after the whole run. `/proc`
/// refuses new files even to root.
#[test]
fn a_demo_that_cannot_write_its_folder_fails_before_measuring() {
    let args = slow_part_only("bounded", "1", "1", "/proc");
    let output = run_binary(&args, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "nothing measured: {stderr:?}");
    assert!(stderr.contains("cannot write into /proc"), "{stderr:?}");
}

/// An earlier run's file that cannot be replaced (here a folder named
/// `report.md`) would stand beside this run's files, or keep its report
/// from being written after the whole run: so it fails the demo at once,
/// before anything is measured, one line and exit 1.
#[test]
fn a_demo_that_cannot_replace_an_earlier_file_fails_before_measuring() {
    let out = fresh_out("demo-unremovable");
    std::fs::create_dir_all(out.join("report.md")).expect("create the folder");
    let args = slow_part_only("bounded", "1", "1", path_arg(&out));
    let output = run_binary(&args, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "nothing measured: {stderr:?}");
    assert!(stderr.contains("cannot replace"), "{stderr:?}");
    assert!(stderr.contains("report.md"), "{stderr:?}");
}

#[test]
fn bad_demo_flags_exit_2_with_one_line() {
    for (args, mentions) in [
        (&["demo", "--modes", "bounded,fast"][..], "'fast'"),
        (&["demo", "--modes", ""], "--modes"),
        (&["demo", "--modes", "bounded,bounded"], "listed twice"),
        (&["demo", "--clients", "0"], "--clients: expected 1 to 16"),
        (&["demo", "--clients", "17"], "--clients: expected 1 to 16"),
        (&["demo", "--seconds"], "--seconds needs a value"),
        (&["demo", "--seconds", "0"], "--seconds: expected 1 to 600"),
        (
            &["demo", "--seconds", "601"],
            "--seconds: expected 1 to 600",
        ),
        (&["demo", "--rows", "0"], "--rows: expected 1 to"),
        (&["demo", "--rows", "100000001"], "--rows: expected 1 to"),
        (&["demo", "--client-rate", "fast"], "--client-rate"),
        (&["demo", "--client-rate", "0"], "--client-rate"),
        (&["demo", "--out", ""], "--out: expected a folder"),
        (&["demo", "--out"], "--out needs a value"),
        (&["demo", "--quick=yes"], "--quick takes no value"),
        (
            &["demo", "--frobnicate"],
            "unknown flag '--frobnicate' for demo",
        ),
    ] {
        // A bad flag that a regression let through runs a demo until the
        // test kills it: into a folder of the test's own, not the
        // target/demo that holds the reader's last real run.
        let out = fresh_out("demo-bad-flag");
        let mut args = args.to_vec();
        if !args.contains(&"--out") {
            args.splice(1..1, ["--out", path_arg(&out)]);
        }
        let output = run_binary(&args, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
        assert!(stderr.contains(mentions), "{stderr}");
    }
    let help = run_binary(&["demo", "--help"], Duration::from_secs(10));
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--rows",
        "--client-rate",
        "--seconds",
        "--modes",
        "--clients",
        "--out",
        "--quick",
    ] {
        assert!(text.contains(flag), "{flag}: {text}");
    }
}

#[test]
fn a_server_with_exit_on_stdin_eof_exits_when_its_parent_goes_away() {
    let mut child = serving_while_stdin_is_open(Stdio::piped());
    // …and gone once it closes, as when the demo is killed.
    drop(child.0.stdin.take());
    child.exit_within(
        "the server to exit once its stdin closed",
        Duration::from_secs(10),
    );
}

/// A stdin its parent made non-blocking (the flag belongs to the open
/// socket or pipe, which parent and child share) answers a read with
/// `EAGAIN` while the parent is there: nothing has come yet, not the
/// parent gone. Failed before the fix: the server took it for its stdin's
/// end and exited at once, 0, saying "stdin closed".
#[test]
fn a_non_blocking_stdin_open_is_not_taken_for_its_end() {
    let (ours, theirs) = UnixStream::pair().expect("a socket pair");
    theirs.set_nonblocking(true).expect("O_NONBLOCK");
    let mut child = serving_while_stdin_is_open(Stdio::from(OwnedFd::from(theirs)));
    drop(ours);
    child.exit_within(
        "the server to exit once its non-blocking stdin ended",
        Duration::from_secs(10),
    );
}

/// `serve --exit-on-stdin-eof` with `stdin`, once it has said where it
/// listens, checked still serving 200 ms later while the stdin is open.
fn serving_while_stdin_is_open(stdin: Stdio) -> KillOnDrop {
    let child = Command::new(env!("CARGO_BIN_EXE_backpressure"))
        .args(["serve", "--addr", "127.0.0.1:0", "--exit-on-stdin-eof"])
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("stdout is piped");
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = line_tx.send(line);
        // Keep the pipe open and drained: a closed stdout would make the
        // server's next line fail, and the server exit for that reason.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = line_rx.recv_timeout(Duration::from_secs(10));
    assert!(
        matches!(&line, Ok(line) if line.starts_with("listening on http://")),
        "no listening line: {line:?}"
    );
    thread::sleep(Duration::from_millis(200));
    let running = child.0.try_wait().expect("try_wait");
    if running.is_some() {
        panic!("the server exited while its stdin was open: {running:?}");
    }
    child
}

/// A child server that exits before announcing its address says why in
/// the error, from its own stderr: "exited without announcing its address"
/// alone (under `ulimit -u 6`, say) leaves the reader guessing. The
/// failure is real: `serve` refuses a flag it does not know, one line on
/// its stderr. The error stays one line.
#[test]
fn the_child_server_that_exits_early_is_named_with_its_own_last_words() {
    use backpressure::{ChildServer, ChildStderr};
    let exe = Path::new(env!("CARGO_BIN_EXE_backpressure"));
    let Err(e) = ChildServer::start(exe, &["--frobnicate"], ChildStderr::Hidden) else {
        panic!("a server started with --frobnicate");
    };
    let text = e.to_string();
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(text.contains("exit status: 2"), "{text:?}");
    assert!(text.contains("unknown flag '--frobnicate'"), "{text:?}");
}

/// A child's last words can reach its stderr after its exit is seen, as
/// here: the script exits 3 at once, and a process it leaves behind writes
/// its last line 400 ms later. The error waits for the stderr to end
/// (`EXIT_WAIT`, 1 s, in `src/demo/child.rs`) and quotes its last three
/// lines, trimmed, blank ones left out, on one line, whether the stderr
/// was kept as a tail or collected.
#[test]
fn the_child_servers_last_words_are_read_to_the_end_of_its_stderr() {
    use backpressure::{ChildServer, ChildStderr};
    use std::os::unix::fs::PermissionsExt;
    let dir = fresh_out("demo-late-words");
    std::fs::create_dir_all(&dir).expect("create the folder");
    let exe = dir.join("late-words");
    let script = "#!/bin/sh\n\
                  echo 'an early line' >&2\n\
                  echo '  thread main panicked at src/main.rs:1:1:  ' >&2\n\
                  echo '' >&2\n\
                  echo 'cannot start the rejecter thread' >&2\n\
                  (sleep 0.4; echo 'note: its last words, after its exit' >&2) >/dev/null &\n\
                  exit 3\n";
    std::fs::write(&exe, script).expect("write the script");
    let executable = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(&exe, executable).expect("make it executable");
    let words = "thread main panicked at src/main.rs:1:1: / cannot start the rejecter thread \
                 / note: its last words, after its exit";
    let said = "the server exited (exit status: 3) without announcing its address; \
                its stderr ended";
    // Kept as a tail when not shown, as lines when collected (the tests'
    // own servers): quoted alike.
    for stderr in [ChildStderr::Hidden, ChildStderr::Collect] {
        // A test thread that forks while the script was open for writing
        // holds it open a moment: the exec then fails, "text file busy".
        let mut tries = 0;
        let e = loop {
            match ChildServer::start(&exe, &[], stderr) {
                Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && tries < 50 => {
                    tries += 1;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => break e,
                Ok(_) => panic!("the script announced an address"),
            }
        };
        assert_eq!(e.to_string(), format!("{said} {words:?}"), "{stderr:?}");
    }
}
