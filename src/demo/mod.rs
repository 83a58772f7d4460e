//! `backpressure demo`: the lesson's table, measured on your machine.
//!
//! For each strategy the demo starts a fresh server (this same binary, as a
//! child process), lets slow clients (the phone: 200 KiB/s) download a
//! 385 MB export for a few seconds, and samples every link of the
//! flow-control chain every 50 ms (see [`sample`]). Then the clients
//! disconnect, and one more second shows whether the server let go.
//! `bounded`, if measured, runs once more with `--notsent-lowat off`, to
//! show the kernel's own send buffer, the one layer RSS never shows.
//! A fast pass downloads a smaller export in full, a few times per
//! strategy (the median is shown), to show that the correct strategies cost
//! little or nothing in speed.
//!
//! Last, [`http2`] measures the second layer of windows: how long a small
//! response waits behind a slow download on one HTTP/2 connection.
//!
//! Files: [`config`] (what to measure), [`child`] (the server process,
//! never left behind), [`files`] (the files written into `--out`),
//! [`run`](mod@run) (one strategy's run), [`sample`] (one sample and the
//! CSV), [`sampler`] (samples taken on a schedule), [`verdict`], [`report`] (the text under the table),
//! [`kernel_layer`] (`bounded` with and without the high-water mark),
//! [`table`] (the Markdown tables, slow and fast), [`units`] (sizes,
//! counts, durations and rates as printed), [`chart`] (the SVG), [`http2`] (the
//! HTTP/2 part, its table and chart).

pub mod chart;
pub mod child;
pub mod config;
pub mod files;
pub mod http2;
pub mod kernel_layer;
pub mod report;
pub mod run;
pub mod sample;
pub mod sampler;
pub mod table;
pub mod units;
pub mod verdict;

use std::fs;
use std::io::{self, IsTerminal, Write};

use crate::client::response::BodyEnd;
use crate::export::Mode;
use crate::export::csv_rows::body_len;
use chart::{ChartText, Series};
use config::DemoConfig;
use files::{CHART, HTTP2_CHART, REPORT, SAMPLES};
use run::{FastRun, SlowRun};
use sample::{Pass, Sample};
use units::{counted, duration, size};

/// The live progress line on stderr, rewritten in place with `\r` when
/// stderr is a terminal (and printed once per second otherwise, so a log
/// file stays short).
struct Progress {
    /// Whether stderr is a terminal, where a line can be rewritten in place.
    terminal: bool,
    /// The last whole second printed, for non-terminals.
    last_second: Option<u64>,
}

impl Progress {
    fn show(&mut self, sample: &Sample) {
        let line = format!(
            "{:<9} {:<4} {:>5.1} s  RSS {:>10}  queued {:>10}  client read {:>10}",
            sample.mode.as_str(),
            sample.pass.as_str(),
            sample.t_ms as f64 / 1000.0,
            sample.rss_bytes.map_or("?".into(), size),
            sample.queued_bytes.map_or("?".into(), size),
            size(sample.client_read_bytes),
        );
        let mut stderr = io::stderr().lock();
        // A progress line that cannot be written is not worth failing for.
        if self.terminal {
            let _ = write!(stderr, "\r{line}\x1b[K");
        } else if self.last_second != Some(sample.t_ms / 1000) {
            self.last_second = Some(sample.t_ms / 1000);
            let _ = writeln!(stderr, "{line}");
        }
        let _ = stderr.flush();
    }

    /// Clears a line left unfinished on a terminal by a part that failed,
    /// so that the report does not start in the middle of it.
    fn clear(&mut self) {
        if self.terminal {
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
        }
    }

    fn end(&mut self, summary: &str) {
        let mut stderr = io::stderr().lock();
        let start = if self.terminal { "\r\x1b[K" } else { "" };
        let _ = writeln!(stderr, "{start}{summary}");
        self.last_second = None;
    }
}

/// Everything the demo measured, part by part, in the order the parts
/// ran: when one fails, those before it are complete and reported.
#[derive(Default)]
struct Measured {
    /// Every sample of every pass so far, for `samples.csv`.
    samples: Vec<Sample>,
    /// The slow pass, one run per strategy measured.
    slow: Vec<SlowRun>,
    /// `bounded` without TCP_NOTSENT_LOWAT, once measured.
    lowat_off: Option<SlowRun>,
    /// The fast pass, one run per strategy measured.
    fast: Vec<FastRun>,
    /// The HTTP/2 part, once measured.
    http2: Option<http2::Http2Part>,
}

/// A part of the demo that failed: the report and the exit name it.
struct Failure {
    /// Which part, in a few words ("Slow client: bounded").
    part: String,
    /// Why, in one line.
    reason: String,
}

/// Names the part in `error`: for `map_err` on a part's result.
fn failed(part: String) -> impl FnOnce(String) -> Failure {
    move |reason| Failure { part, reason }
}

/// Runs the demo, printing the report on stdout; the error is one line.
/// A part that fails stops the demo, and the report of every part measured
/// before it is still printed and written, the failure last: a reader who
/// waited a minute keeps that minute's tables. The error says which part.
pub fn run(config: &DemoConfig) -> Result<(), String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find this program's own path to start the server: {e}"))?;
    fs::create_dir_all(&config.out)
        .map_err(|e| format!("cannot create {}: {e}", config.out.display()))?;
    files::check_writable(&config.out)?;
    files::check_replaceable(&config.out)?;
    let mut progress = Progress {
        terminal: io::stderr().is_terminal(),
        last_second: None,
    };
    let mut measured = Measured::default();
    let failure = measure(&exe, config, &mut progress, &mut measured).err();

    let mut text = report_text(config, &measured);
    if let Some(failure) = &failure {
        progress.clear();
        text.push_str(&format!(
            "\n## Failed: {}\n\n{}\n\nThe demo stopped there: no later part was measured.\n",
            failure.part, failure.reason
        ));
    }
    let mut errors: Vec<String> = failure
        .iter()
        .map(|f| format!("the part \"{}\" failed: {}", f.part, f.reason))
        .collect();
    // The files first: they hold the report even if stdout is gone.
    let files = match write_files(config, &measured, &text) {
        Ok(written) => format!(
            "\nFiles in {}: {}\n",
            config.out.display(),
            written.join(", ")
        ),
        Err(cannot) => {
            errors.push(cannot);
            String::new()
        }
    };
    // Not `print!`, which panics when the reader has gone (`demo | head`):
    // that is a runtime failure like the others, exit 1 and one line.
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(format!("{text}{files}").as_bytes())
        .and_then(|()| stdout.flush())
    {
        errors.push(format!("cannot print the report: {e}"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; and "))
    }
}

/// Said at the start, on stderr, and atop the report, by a debug build,
/// which `cargo run` without `--release` makes, unoptimised: the figures it
/// gives are the build's, not the lesson's, and nothing else says so.
const DEBUG_BUILD: &str = "a debug build (cargo run without --release): its servers \
     render rows many times slower, so queues fill more slowly and the speeds are the build's; \
     cargo run --release measures what the README shows";

/// Runs every part in turn into `measured`, up to the first that fails.
fn measure(
    exe: &std::path::Path,
    config: &DemoConfig,
    progress: &mut Progress,
    measured: &mut Measured,
) -> Result<(), Failure> {
    // Not `eprintln!`, which panics on a closed stderr: progress is not
    // worth failing for.
    let _ = writeln!(
        io::stderr(),
        "demo: {} per strategy at {}/s on a {} export, {} each, \
         then {} more; a fresh server per strategy",
        counted(config.clients as u64, "slow client"),
        size(config.client_rate),
        size(body_len(config.rows)),
        duration(config.seconds),
        duration(run::AFTER_DISCONNECT),
    );
    if cfg!(debug_assertions) {
        let _ = writeln!(io::stderr(), "demo: {DEBUG_BUILD}");
    }
    let samples = &mut measured.samples;
    for &mode in &config.modes {
        let run = run::slow(exe, mode, false, config, samples, &mut |s| progress.show(s))
            .map_err(failed(format!("Slow client: {}", mode.as_str())))?;
        progress.end(&format!(
            "{:<9} peak RSS {}, peak queued {}: {}",
            mode.as_str(),
            size(run.peak_rss),
            size(run.peak_queued),
            run.verdict
        ));
        measured.slow.push(run);
    }
    // The kernel's layer: `bounded` once more, with the kernel's own send
    // buffer instead of the server's high-water mark.
    if config.modes.contains(&Mode::Bounded) {
        let mode = Mode::Bounded;
        let run = run::slow(exe, mode, true, config, samples, &mut |s| progress.show(s)).map_err(
            failed("The kernel's layer: bounded with --notsent-lowat off".into()),
        )?;
        progress.end(&lowat_off_summary(&run));
        measured.lowat_off = Some(run);
    }
    if config.fast_rows > 0 {
        for &mode in &config.modes {
            let run = run::fast(exe, mode, config.fast_rows, samples, &mut |s| {
                progress.show(s)
            })
            .map_err(failed(format!("Fast client: {}", mode.as_str())))?;
            progress.end(&format!(
                "{:<9} fast: {} MB/s, peak RSS {}",
                mode.as_str(),
                units::mb_per_s(run.report.body_rate()),
                size(run.peak_rss)
            ));
            measured.fast.push(run);
        }
    }
    if !config.http2_wait.is_zero() {
        let part = http2::run(
            exe,
            config.client_rate,
            config.http2_then_after,
            config.http2_wait,
        )
        .map_err(failed(http2::TITLE.into()))?;
        measured.http2 = Some(part);
    }
    Ok(())
}

/// The progress line's summary of `bounded` without the mark: the kernel's
/// send queue it held, or, if every client was refused, the verdict's
/// words, as the report's "Not measured" (its 0 B measured nothing).
fn lowat_off_summary(run: &SlowRun) -> String {
    let queue = if run.refused_every_client() {
        verdict::Verdict::NotServed.to_string()
    } else {
        format!("kernel send queue {}", size(run.peak_server_tx))
    };
    format!("{:<9} --notsent-lowat off: {queue}", run.mode.as_str())
}

/// The whole report of what was measured: setup, slow table, reading, the
/// kernel's layer, the fast table, the HTTP/2 part.
fn report_text(config: &DemoConfig, measured: &Measured) -> String {
    let mut text = String::new();
    if cfg!(debug_assertions) {
        text.push_str(&format!("\n**Measured by {DEBUG_BUILD}.**\n"));
    }
    text.push_str(&slow_text(config, &measured.slow));
    let bounded = measured.slow.iter().find(|run| run.mode == Mode::Bounded);
    if let (Some(on), Some(off)) = (bounded, &measured.lowat_off) {
        text.push_str("\n## The kernel's layer: `bounded` with and without TCP_NOTSENT_LOWAT\n\n");
        text.push_str(&kernel_layer::kernel_table(on, off));
        text.push('\n');
        text.push_str(&kernel_layer::kernel_reading(on, off));
        text.push('\n');
    }
    if !measured.fast.is_empty() {
        text.push_str(&format!(
            "\n## Fast client: a full download of {} ({}) as fast as it reads, median of {}\n\n",
            counted(config.fast_rows, "row"),
            size(body_len(config.fast_rows)),
            run::FAST_DOWNLOADS
        ));
        text.push_str(&table::fast_table(&measured.fast));
    }
    if let Some(part) = &measured.http2 {
        text.push_str(&http2::report(part));
    }
    text.push_str(&not_run(config));
    text
}

/// The parts the flags left out, each with the flag that did: a part
/// missing without a word reads as one that never existed.
fn not_run(config: &DemoConfig) -> String {
    let skipped: Vec<&str> = [
        (
            !config.modes.contains(&Mode::Bounded),
            "the kernel's layer (`bounded` without TCP_NOTSENT_LOWAT): --modes has no `bounded`",
        ),
        (config.fast_rows == 0, "the fast client: --fast-rows 0"),
        (
            config.http2_wait.is_zero(),
            "HTTP/2, one connection and two windows: --http2-wait 0s",
        ),
    ]
    .into_iter()
    .filter_map(|(skipped, part)| skipped.then_some(part))
    .collect();
    match skipped[..] {
        [] => String::new(),
        _ => format!(
            "\n## Not run, as the flags asked\n\n- {}\n",
            skipped.join("\n- ")
        ),
    }
}

/// The slow pass's section: setup, table, reading, the defenses' notes;
/// nothing if no strategy was measured.
fn slow_text(config: &DemoConfig, slow: &[SlowRun]) -> String {
    if slow.is_empty() {
        return String::new();
    }
    let body = body_len(config.rows);
    let mut text = format!(
        "\n## Slow client: {} at {}/s, {} export ({}), {}, then disconnect\n\n",
        counted(config.clients as u64, "reader"),
        size(config.client_rate),
        size(body),
        counted(config.rows, "row"),
        duration(config.seconds)
    );
    let table = table::slow_table(slow);
    let (reading, rule) = (
        report::reading(slow, config),
        report::rule(body, config.clients),
    );
    text.push_str(&format!("{table}\n{reading}\n\n{rule}\n"));
    let ends: Vec<(Mode, &[BodyEnd])> = slow.iter().map(|run| (run.mode, &run.ends[..])).collect();
    if let Some(note) = ends_note(&ends) {
        text.push_str(&format!("\nNote: {note}\n"));
    }
    // The server's defenses at work (README, "Defenses"): the caps refuse or abort.
    for run in slow {
        let mode = run.mode.as_str();
        if !run.refused.is_empty() {
            let statuses: Vec<String> = run.refused.iter().map(u16::to_string).collect();
            // Any strategy's client gets a 503 from a server at its
            // connection cap or with no thread to start (`ulimit -u`); only
            // the two capped before their head (`strategy::queued_before_head`)
            // have a buffering cap to blame as well.
            let causes = match run.mode {
                Mode::Buffer | Mode::Unbounded => {
                    "a 400 here means their body would have passed --max-buffered-bytes \
                     (or the whole --max-buffered-total), a 503 that the others held \
                     --max-buffered-total, or that the server was at its connection cap \
                     or had no thread it could start"
                }
                Mode::Bounded | Mode::Pipeline => {
                    "it has no buffering cap, so a 503 here means the server was at its \
                     connection cap or had no thread it could start"
                }
            };
            text.push_str(&format!(
                "\nDefense: {} of {} `{mode}` {} refused up front ({}); {causes}.\n",
                run.refused.len(),
                run.clients,
                match (run.clients, run.refused.len()) {
                    (1, _) => "client was",
                    (_, 1) => "clients was",
                    _ => "clients were",
                },
                statuses.join(", ")
            ));
        }
        for (reason, count) in &run.server_aborts {
            text.push_str(&format!(
                "\nDefense: the server cut {} short ({reason}); \
                 the client sees a body without its last chunk.\n",
                counted(*count, &format!("`{mode}` export"))
            ));
        }
    }
    text
}

/// The note on the slow clients whose reading ended otherwise than by the
/// time running out (a body cut short, a request that failed), from each
/// strategy's served clients' ends: one entry per strategy and distinct
/// cause, with how many of its clients it was, after how many of all
/// there were. `None` if every client simply ran out of time.
fn ends_note(runs: &[(Mode, &[BodyEnd])]) -> Option<String> {
    // (strategy, cause, clients it ended, clients the strategy served)
    let mut causes: Vec<(Mode, String, usize, usize)> = Vec::new();
    let total: usize = runs.iter().map(|(_, ends)| ends.len()).sum();
    for (mode, ends) in runs {
        for end in ends.iter().filter(|end| !matches!(end, BodyEnd::Stopped)) {
            let cause = end.to_string();
            match causes
                .iter_mut()
                .find(|(m, c, ..)| m == mode && *c == cause)
            {
                Some((.., count, _)) => *count += 1,
                None => causes.push((*mode, cause, 1, ends.len())),
            }
        }
    }
    let ended: usize = causes.iter().map(|&(.., count, _)| count).sum();
    let who = match (ended, total) {
        (0, _) => return None,
        (1, 1) => "the slow client did not simply run out of time".to_string(),
        (e, t) if e == t => format!("none of the {t} slow clients served simply ran out of time"),
        (e, t) => format!("{e} of the {t} slow clients served did not simply run out of time"),
    };
    let entries: Vec<String> = causes
        .iter()
        .map(|(mode, cause, count, of)| {
            let mode = mode.as_str();
            match (count, of) {
                (_, 1) => format!("`{mode}`: {cause}"),
                (c, o) if c == o => format!("`{mode}`, all {o} clients: {cause}"),
                (c, o) => format!("`{mode}`, {c} of {o} clients: {cause}"),
            }
        })
        .collect();
    Some(format!("{who}: {}", entries.join("; ")))
}

/// The RSS chart's title: who read what, at what rate. Each client reads at
/// the rate, so with several the title counts them.
fn chart_title(config: &DemoConfig) -> String {
    let (body, rate) = (size(body_len(config.rows)), size(config.client_rate));
    match config.clients {
        1 => format!("Server RSS while a client reads a {body} export at {rate}/s"),
        n => format!("Server RSS while {n} clients read a {body} export at {rate}/s each"),
    }
}

/// Writes `samples.csv` and `report.md`, and the charts of the parts
/// measured: `chart.svg` once a strategy's slow pass was, `http2-chart.svg`
/// once the HTTP/2 part was. Returns the names written.
fn write_files(
    config: &DemoConfig,
    measured: &Measured,
    text: &str,
) -> Result<Vec<&'static str>, String> {
    let mut files = vec![(SAMPLES, sample::csv(&measured.samples))];
    if !measured.slow.is_empty() {
        files.push((CHART, slow_chart(config, measured)));
    }
    if let Some(part) = &measured.http2 {
        files.push((HTTP2_CHART, http2::chart(part)));
    }
    files.push((REPORT, format!("# backpressure demo\n{text}")));
    files::write(&config.out, &files)?;
    Ok(files.into_iter().map(|(name, _)| name).collect())
}

/// The RSS chart of the slow pass: a line per strategy.
fn slow_chart(config: &DemoConfig, measured: &Measured) -> String {
    let slow = &measured.slow;
    let series: Vec<Series> = slow
        .iter()
        .map(|run| Series {
            name: run.mode.as_str().to_string(),
            points: measured
                .samples
                .iter()
                .filter(|s| s.pass == Pass::Slow && s.mode == run.mode)
                .filter_map(|s| Some((s.t_ms as f64 / 1000.0, s.rss_bytes? as f64)))
                .collect(),
        })
        .collect();
    let idle = slow.iter().map(|run| run.idle_rss).max().unwrap_or(0);
    chart::render(
        &series,
        &ChartText {
            title: chart_title(config),
            idle_bytes: idle as f64,
            disconnect_secs: Some(config.seconds.as_secs_f64()),
        },
    )
}

#[cfg(test)]
mod tests;
