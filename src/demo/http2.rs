//! "HTTP/2: one connection, two windows": how long a small response waits
//! behind a slow download on the same connection, with a small window and
//! a large one, with the kernel's high-water mark and without.
//!
//! Each case is a fresh server and one HTTP/2 client reading its socket at
//! the phone's rate: stream 1 downloads the big export, and a while later
//! stream 3 asks for a one-row export, 87 bytes of body. The writer
//! takes DATA from each stream in turn, so at the HTTP/2 layer the small
//! response is never behind more than one frame; what it waits for is
//! what the download has already put in the socket: as much as the
//! client's window lets out, held by the server's kernel and the client's.
//!
//! A last case starves stream 1 alone: the client never returns its
//! window, but returns the connection's, so that stream stops at exactly
//! its window while the connection goes on, and the server holds that
//! stream's bounded queue and its one hand-off, nothing more. It runs
//! only if the client, at its rate, reads the window within the part's
//! wait (`--http2-wait`): at 1 KiB/s that is a minute, at 1 B/s 18 hours.

use std::cmp::Ordering;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::chart::escape;
use super::child::{ChildServer, ChildStderr};
use super::units::{count, duration, size};
use crate::client::h2::{self, H2Options, H2Report};
use crate::client::slow_client::{HttpUrl, IDLE_TIMEOUT};
use crate::export::csv_rows::body_len;
use crate::http::h2::frame::{DEFAULT_WINDOW, ErrorCode};

/// Stream 3's request: one row, about a hundred bytes of body.
const SMALL_TARGET: &str = "/export.csv?rows=1&mode=bounded";

/// Stream 1's rows: far more than a client reads in the demo.
const BIG_ROWS: u64 = 7_000_000;

/// Stream 1's request, for [`BIG_ROWS`].
fn big_target() -> String {
    format!("/export.csv?rows={BIG_ROWS}&mode=bounded")
}

/// The large window: 16 MiB, half of what curl 7 advertises.
const LARGE_WINDOW: u32 = 16 << 20;

/// The minimum rate of the case without the high-water mark. A writer
/// blocked on the kernel's full send buffer (autotuned to megabytes) gets
/// its next frame in at the first of the kernel's wake, once about a
/// third has drained, and its own look at the client every tenth of
/// `--send-timeout`: seconds either way at a phone's rate, more than the
/// default rate's grace for one frame, so the phone would be cut for the
/// kernel's slowness. At 1 KiB/s a 16 KiB frame has 16 s, well past the
/// writer's look (docs/http2.md has the measurements). One more price of
/// an unbounded kernel buffer.
const UNBOUNDED_KERNEL_MIN_RATE: &str = "1k";

/// One case: a window, and the server's high-water mark or not.
#[derive(Clone, Debug)]
pub struct Case {
    /// What the row says.
    pub name: &'static str,
    /// The client's stream and connection windows.
    pub window: u32,
    /// The server's `TCP_NOTSENT_LOWAT` as it reported it
    /// (`backpressure_notsent_lowat_bytes`, 0 when off), so the text says
    /// the mark the server had, not the one the demo expects; `None` if
    /// the scrape failed.
    pub notsent_lowat: Option<u64>,
    /// How it went.
    pub report: H2Report,
}

/// The part's name, its section's title in the report.
pub const TITLE: &str = "HTTP/2: one connection, two windows";

/// What the part measured.
#[derive(Clone, Debug)]
pub struct Http2Part {
    /// The three head-of-line cases, in order.
    pub cases: Vec<Case>,
    /// The starved stream; `None` if its window would take the client,
    /// at its rate, longer than the wait to read.
    pub starved: Option<Starved>,
    /// When stream 3 was sent, from connecting.
    pub then_after: Duration,
    /// How long stream 3 was waited for before giving up.
    pub wait: Duration,
    /// The clients' socket read rate.
    pub rate: u64,
}

/// A stream whose window is spent, while its connection goes on.
#[derive(Clone, Debug)]
pub struct Starved {
    /// Its client's report.
    pub report: H2Report,
    /// What the server queued for the stream while it waited.
    pub queue: Option<f64>,
}

/// Runs the part: three cases, then the starved stream.
pub fn run(
    exe: &Path,
    rate: u64,
    then_after: Duration,
    wait: Duration,
) -> Result<Http2Part, String> {
    let plan = [
        ("65,535-byte window", DEFAULT_WINDOW, false),
        ("16 MiB window, kernel's buffer", LARGE_WINDOW, true),
        ("16 MiB window, high-water mark", LARGE_WINDOW, false),
    ];
    let mut cases = Vec::new();
    for (name, window, lowat_off) in plan {
        let server = start(exe, lowat_off)?;
        let notsent_lowat = server
            .scrape()
            .ok()
            .and_then(|s| s.count("backpressure_notsent_lowat_bytes"));
        let options = H2Options {
            rate: Some(rate),
            window,
            receive_buffer: None,
            replenish: true,
            starve_first: false,
            second: Some((SMALL_TARGET.to_string(), then_after)),
            stop_after_second: true,
            idle_timeout: IDLE_TIMEOUT,
            bytes_read: Arc::default(),
        };
        let url = url(&server, &big_target());
        let report = h2::run(&url, &options, Some(then_after + wait))
            .map_err(|e| format!("HTTP/2 client: {e}"))?;
        // A progress line that cannot be written is not worth failing for.
        let _ = writeln!(
            io::stderr(),
            "http2     {name}: the small response took {}",
            latency(&report, wait)
        );
        cases.push(Case {
            name,
            window,
            notsent_lowat,
            report,
        });
    }

    // Stream 1's window is spent once the client has read it at its rate
    // (a third of a second at 200 KiB/s); stream 3 goes after that, and
    // the queue is read between the two, while stream 1 alone waits.
    let spent_by = Duration::from_secs_f64(f64::from(DEFAULT_WINDOW) / rate.max(1) as f64);
    let starved = match spent_by <= wait {
        true => Some(starve(exe, rate, then_after, spent_by)?),
        false => None,
    };
    Ok(Http2Part {
        cases,
        starved,
        then_after,
        wait,
        rate,
    })
}

/// The starved case: stream 1's window spent by `spent_by`, stream 3 sent
/// half a second later (or at `then_after`), the server's queue read
/// between the two.
fn starve(
    exe: &Path,
    rate: u64,
    then_after: Duration,
    spent_by: Duration,
) -> Result<Starved, String> {
    let server = start(exe, false)?;
    let second_after = then_after.max(spent_by + Duration::from_millis(500));
    let options = H2Options {
        rate: Some(rate),
        window: DEFAULT_WINDOW,
        receive_buffer: None,
        replenish: true,
        starve_first: true,
        second: Some((SMALL_TARGET.to_string(), second_after)),
        stop_after_second: true,
        idle_timeout: IDLE_TIMEOUT,
        bytes_read: Arc::default(),
    };
    let url = url(&server, &big_target());
    let limit = second_after + Duration::from_secs(2);
    let client = thread::Builder::new()
        .spawn(move || h2::run(&url, &options, Some(limit)))
        .map_err(|e| format!("cannot start the HTTP/2 client thread: {e}"))?;
    thread::sleep((spent_by + second_after) / 2);
    let queue = server
        .scrape()
        .ok()
        .and_then(|s| s.get("backpressure_queued_bytes{mode=\"bounded\"}"));
    let report = client
        .join()
        .map_err(|_| "the HTTP/2 client panicked".to_string())?
        .map_err(|e| format!("HTTP/2 client: {e}"))?;
    Ok(Starved { report, queue })
}

/// A server's mark as the table and the text say it: its size, `off` at
/// 0 (the kernel's default), `?` if it could not be read.
fn mark(notsent_lowat: Option<u64>) -> String {
    match notsent_lowat {
        Some(0) => "off".to_string(),
        Some(bytes) => size(bytes),
        None => "?".to_string(),
    }
}

fn start(exe: &Path, lowat_off: bool) -> Result<ChildServer, String> {
    let args: &[&str] = match lowat_off {
        false => &["--quiet"],
        true => &[
            "--quiet",
            "--notsent-lowat",
            "off",
            "--min-rate",
            UNBOUNDED_KERNEL_MIN_RATE,
        ],
    };
    ChildServer::start(exe, args, ChildStderr::Hidden)
        .map_err(|e| format!("cannot start the server: {e}"))
}

fn url(server: &ChildServer, target: &str) -> HttpUrl {
    HttpUrl {
        host: server.addr().ip().to_string(),
        port: server.addr().port(),
        target: target.to_string(),
    }
}

/// Why stream 3's response is missing, if not because the wait ran out:
/// stream 3 was reset, or the connection failed or ended first. Such a
/// case is no figure.
fn failure(report: &H2Report) -> Option<String> {
    if report.second.as_ref().is_some_and(|s| s.complete) {
        return None;
    }
    // No stream may be opened after a GOAWAY (RFC 9113 §6.8): the run
    // ends without sending it, the connection perhaps still up.
    if report.second.is_none() && report.goaway.is_some() {
        return Some("the server's GOAWAY came before stream 3".into());
    }
    // A reset ends the stream and the run, the connection still up.
    if let Some(code) = report.second.as_ref().and_then(|s| s.reset) {
        return Some(format!(
            "stream 3 was reset ({})",
            ErrorCode::describe(code)
        ));
    }
    match &report.failure {
        Some(why) => Some(why.clone()),
        None if !report.timed_out => Some("the connection ended first".into()),
        None => None,
    }
}

/// Stream 3's latency, or how long it was waited for in vain, or why the
/// connection failed first.
fn latency(report: &H2Report, wait: Duration) -> String {
    if let Some(why) = failure(report) {
        return format!("failed: {why}");
    }
    match report
        .second
        .as_ref()
        .filter(|s| s.complete)
        .and_then(|s| s.latency)
    {
        Some(latency) => seconds_text(latency.as_secs_f64()),
        // As given: whole seconds would print "over 0 s" for a 500 ms wait.
        None => format!("over {}", duration(wait)),
    }
}

/// Seconds as the table and the sentences print them alike: to two
/// decimals, as figures of tenths of a second compare, but in tenths of a
/// ms below a tenth of a second (µs or ns below a twentieth of a ms), where
/// "0.00 s" would read as no wait at all and the sentence's ratio of two
/// such figures would not be theirs.
fn seconds_text(secs: f64) -> String {
    match secs {
        // What rounds to 100.0 ms is 0.10 s.
        s if s >= 0.099_95 => format!("{s:.2} s"),
        s if s >= 0.000_05 => format!("{:.1} ms", s * 1e3),
        s => duration(Duration::from_secs_f64(s)),
    }
}

/// Stream 3's latency in seconds; the wait if it never came.
fn seconds(report: &H2Report, wait: Duration) -> f64 {
    let done = report.second.as_ref().filter(|s| s.complete);
    done.and_then(|s| s.latency).unwrap_or(wait).as_secs_f64()
}

/// The part's section of the report: a table, a reading generated from the
/// numbers, and the starved stream.
pub fn report(part: &Http2Part) -> String {
    let mut text = format!(
        "\n## {TITLE}\n\n\
         One h2c connection read at {}/s: stream 1 downloads the {} export, and \
         {:.1} s later stream 3 asks for one row ({SMALL_TARGET}). The case with the \
         kernel's buffer runs with `--min-rate {UNBOUNDED_KERNEL_MIN_RATE}`: its writer waits \
         seconds for the kernel, and the default rate would cut the phone for it.\n\n\
         | case | window | TCP_NOTSENT_LOWAT | stream 3's response took | stream 1 read by then |\n\
         |---|---|---|---|---|\n",
        size(part.rate),
        size(body_len(BIG_ROWS)),
        part.then_after.as_secs_f64()
    );
    for case in &part.cases {
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            case.name,
            count(u64::from(case.window)),
            mark(case.notsent_lowat),
            latency(&case.report, part.wait),
            case.report.first_bytes_then.map_or("-".into(), size),
        ));
    }
    let failed = part
        .cases
        .iter()
        .find_map(|c| Some((c.name, failure(&c.report)?)));
    if let Some((name, why)) = failed {
        text.push_str(&format!(
            "\nNo reading: the case \"{name}\" failed ({why}), so the figures cannot be \
             compared.\n"
        ));
    } else if let [small, unbounded, bounded] = &part.cases[..] {
        let held_to = mark(bounded.notsent_lowat);
        let (s, u, b) = (
            seconds(&small.report, part.wait),
            seconds(&unbounded.report, part.wait),
            seconds(&bounded.report, part.wait),
        );
        // A figure at the wait is a response that never came in time.
        let more = |secs: f64| match secs >= part.wait.as_secs_f64() {
            true => " or more",
            false => "",
        };
        let verdict = if u >= 2.0 * b {
            // A figure at the wait is a lower bound, and so is its ratio:
            // rounded down, lest "5 times" stand for 4.9 or more.
            let ratio = u / b.max(1e-6);
            let times = match more(u).is_empty() {
                true => format!("{ratio:.0}"),
                false => format!("at least {:.0}", ratio.floor()),
            };
            format!(
                "{times} times as long as with the kernel's unsent bytes held to {held_to} \
                 ({}). The stream window bounds what one stream sends ahead; \
                 only the socket's high-water mark bounds the queue every stream shares.",
                seconds_text(b)
            )
        } else if b >= 2.0 * u {
            format!(
                "and {}{} with the kernel's unsent bytes held to {held_to}: on this run \
                 the high-water mark made it slower, not faster.",
                seconds_text(b),
                more(b)
            )
        } else {
            format!(
                "and {}{} with the kernel's unsent bytes held to {held_to}: on this run \
                 the high-water mark made no clear difference.",
                seconds_text(b),
                more(b)
            )
        };
        // What the small window and the kernel's buffer did, only as far as
        // the figures show it: one at least twice the other.
        let (small_took, large_did) = if 2.0 * s <= u {
            (
                format!("that was little: {}", seconds_text(s)),
                "let the server fill the kernel's send buffer",
            )
        } else {
            (
                format!("it took {}{}", seconds_text(s), more(s)),
                "with the kernel's buffer was not clearly slower",
            )
        };
        text.push_str(&format!(
            "\nThe writer takes one frame from each stream in turn, so stream 3 was never \
             behind more than a frame at the HTTP/2 layer; it waited for what stream 1 had \
             already put in the socket. With a 65,535-byte window {small_took}. \
             A 16 MiB window {large_did}: {}{}, {verdict}\n",
            seconds_text(u),
            more(u)
        ));
    }
    text.push_str(&starved_text(part));
    text
}

/// The starved stream's paragraph: what stream 1 received, whether stream
/// 3 got through beside it, and what the server held meanwhile, said only
/// of a run that did not fail (a queue read after the connection was cut
/// describes no spent window); or why the case did not run.
fn starved_text(part: &Http2Part) -> String {
    let Some(Starved {
        report: starved,
        queue,
    }) = &part.starved
    else {
        let spent_by = Duration::from_secs_f64(f64::from(DEFAULT_WINDOW) / part.rate.max(1) as f64);
        // Past the wait, however little: to the ms where they would print alike.
        let spent = match duration(spent_by) == duration(part.wait) {
            true => format!("{:.3} s", spent_by.as_secs_f64()),
            false => duration(spent_by),
        };
        return format!(
            "\nA stream whose window is spent: not measured. At {}/s the client would take \
             {spent} to read its 65,535 bytes, longer than the part's wait ({}).\n",
            size(part.rate),
            duration(part.wait),
        );
    };
    let third = starved.second.as_ref();
    // "And then nothing" only of a window read to its end, in a run that
    // did not fail: a run that ended first shows no spent window.
    let then = match (
        &starved.failure,
        starved.first.body_bytes.cmp(&u64::from(DEFAULT_WINDOW)),
    ) {
        (Some(why), _) => format!(", and then the connection failed: {why}"),
        (None, Ordering::Equal) => ", exactly its window, and then nothing".to_string(),
        (None, Ordering::Less) => ", less than its window, when the run ended".to_string(),
        (None, Ordering::Greater) => {
            ", more than its window: the server sent past it, which it must never do".to_string()
        }
    };
    let meanwhile = match (&starved.failure, queue) {
        (None, Some(queued)) => format!(
            " Meanwhile the server held {} for stream 1 in its bounded queue, and at most \
             one frame (16 KiB) in its hand-off to the writer, nothing more.",
            size(*queued as u64)
        ),
        _ => String::new(),
    };
    format!(
        "\nA stream whose window is spent: a client that never gives stream 1's window back \
         (but does give back the connection's) received {} bytes of it{then}; \
         stream 3 on the same connection {}.{meanwhile}\n",
        count(starved.first.body_bytes),
        third
            .filter(|s| s.complete)
            .and_then(|s| s.latency)
            .map_or("never got its response".into(), |took| {
                format!("got its response in {}", duration(took))
            }),
    )
}

/// A bar per case: stream 3's latency, on a scale from 0 to the longest.
pub fn chart(part: &Http2Part) -> String {
    let (width, bar_height, left) = (720.0, 36.0, 290.0);
    let height = 70.0 + bar_height * part.cases.len() as f64;
    let longest = part
        .cases
        .iter()
        .map(|c| seconds(&c.report, part.wait))
        .fold(0.1, f64::max);
    let mut svg = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"13\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"22\" font-size=\"15\">{}</text>\n",
        escape(&format!(
            "HTTP/2: a small response behind a {}/s download on the same connection",
            size(part.rate)
        ))
    );
    for (i, case) in part.cases.iter().enumerate() {
        let y = 40.0 + bar_height * i as f64;
        let secs = seconds(&case.report, part.wait);
        let bar = (width - left - 90.0) * secs / longest;
        svg.push_str(&format!(
            "<text x=\"10\" y=\"{:.0}\">{}</text>\n\
             <rect x=\"{left}\" y=\"{y:.0}\" width=\"{bar:.1}\" height=\"{:.0}\" fill=\"#4477aa\"/>\n\
             <text x=\"{:.1}\" y=\"{:.0}\">{}</text>\n",
            y + 18.0,
            escape(case.name),
            bar_height - 10.0,
            left + bar + 6.0,
            y + 18.0,
            escape(&latency(&case.report, part.wait)),
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests;
