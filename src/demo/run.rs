//! Measuring one strategy: a fresh server, clients, a sample every 50 ms,
//! the disconnect, and one second more to see whether the server lets go.
//!
//! Every strategy gets its own child process, so that peak RSS (`VmHWM`) and
//! the peak userland queue (`backpressure_queued_peak_bytes`) are exactly
//! this strategy's, even between two samples.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::child::{ChildServer, ChildStderr};
use super::config::DemoConfig;
use super::sample::{Pass, Phase, Sample};
use super::sampler::{Sampler, per_mode};
use super::verdict::{Verdict, verdict};
use crate::client::response::BodyEnd;
use crate::client::slow_client::{ClientOptions, HttpUrl, Report, SlowClient};
use crate::export::Mode;
use crate::export::csv_rows::body_len;
use crate::measure::access_log::End;
use crate::measure::exposition::Scrape;

/// Sampling after the clients disconnect: enough for the server to notice
/// (its next write fails), stop the producer and free the queue.
pub const AFTER_DISCONNECT: Duration = Duration::from_secs(1);

/// Pause before an idle measurement, so that the last `/metrics` thread has exited.
pub const IDLE_SETTLE: Duration = Duration::from_millis(200);

/// Longest a fast download may take: loopback moves gigabytes a second,
/// so only a broken server reaches two minutes.
pub const FAST_TIMEOUT: Duration = Duration::from_secs(120);

/// Full downloads per strategy in the fast pass, one after another from the
/// same server; the table shows the median. One download lasts tens of
/// milliseconds, and the first from a fresh process also pays for its
/// page faults, so a single one says more about the moment than about the
/// strategy.
pub const FAST_DOWNLOADS: usize = 5;

/// What one strategy did under slow clients.
#[derive(Clone, Debug)]
pub struct SlowRun {
    /// The strategy measured.
    pub mode: Mode,
    /// The server's `TCP_NOTSENT_LOWAT` (`backpressure_notsent_lowat_bytes`),
    /// 0 for a server run with `--notsent-lowat off`: the kernel's default.
    pub notsent_lowat: u64,
    /// Bytes of the export body (framing excluded).
    pub body_len: u64,
    /// Concurrent slow clients: the queue and kernel columns are their sums.
    pub clients: usize,
    /// RSS of the fresh server before any export.
    pub idle_rss: u64,
    /// Threads of the fresh server before any export.
    pub idle_threads: u64,
    /// The server's `VmHWM` at the end: its largest RSS, exactly.
    pub peak_rss: u64,
    /// `backpressure_queued_peak_bytes{mode}`: most body bytes queued at once, all clients.
    pub peak_queued: u64,
    /// Largest sampled `tx_queue` of the server's sockets.
    pub peak_server_tx: u64,
    /// Largest sampled `rx_queue` of the clients' sockets.
    pub peak_client_rx: u64,
    /// Body bytes the served clients read, framing excluded, counted when
    /// they stopped: comparable with `body_len`, and the one figure the
    /// table and its sentence give for what the clients read.
    pub body_read: u64,
    /// Body bytes the server's sockets accepted for them
    /// (`backpressure_body_bytes_sent_total{mode}`): with the peak queue,
    /// whether the producers reached the body's end.
    pub body_sent: u64,
    /// How long a served client read on average, from connecting to its
    /// stop or to the end of its body: shorter than `--seconds` when the
    /// body ended first. With `body_read / served`, what each read on average.
    pub read_time: Duration,
    /// RSS one second after the disconnect.
    pub rss_after: u64,
    /// Threads one second after the disconnect.
    pub threads_after: u64,
    /// Queued bytes one second after the disconnect.
    pub queued_after: u64,
    /// How each served client's reading ended (all `Stopped`, normally).
    pub ends: Vec<BodyEnd>,
    /// Each non-200 status: a client turned away by the server's defenses.
    pub refused: Vec<u16>,
    /// Exports the server itself cut short, by reason (`buffer-budget` …),
    /// besides the demo's own disconnects (`client-abort`).
    pub server_aborts: Vec<(&'static str, u64)>,
    /// The verdict computed from the peak queue per client.
    pub verdict: Verdict,
}

impl SlowRun {
    /// How far RSS rose above idle at its peak.
    pub fn growth(&self) -> u64 {
        self.peak_rss.saturating_sub(self.idle_rss)
    }

    /// The server let go after the disconnect: nothing queued, no extra thread.
    pub fn producer_stopped(&self) -> bool {
        self.queued_after == 0 && self.threads_after <= self.idle_threads
    }

    /// Whether the producers may have rendered the whole body. One that
    /// did held, at that moment, all of it but what was written, and no
    /// more was written than the sockets accepted: peak queue + sent ≥
    /// body, per served client. Below that, a producer was still rendering
    /// when its client left, so the disconnect, not the body's end, stopped
    /// its queue growing.
    pub fn producers_reached_the_end(&self) -> bool {
        let bodies = self.body_len.saturating_mul(self.served());
        self.peak_queued.saturating_add(self.body_sent) >= bodies
    }

    /// Clients whose export was served, at least one: per-client figures
    /// divide by this, since a client refused up front queued nothing.
    pub fn served(&self) -> u64 {
        self.clients.saturating_sub(self.refused.len()).max(1) as u64
    }

    /// Every client was turned away: the run measured nothing, and its
    /// zeros say nothing about the strategy.
    pub fn refused_every_client(&self) -> bool {
        self.refused.len() >= self.clients
    }

    /// The verdict on what was measured. The rule is about one connection,
    /// and the gauge sums every served response: so its peak is shared out
    /// among them. A strategy whose every client was refused queued
    /// nothing: not flat.
    fn judged(&self) -> Verdict {
        if self.refused_every_client() {
            Verdict::NotServed
        } else {
            verdict(self.peak_queued / self.served(), self.body_len)
        }
    }
}

/// What one strategy did for one client reading as fast as it can.
#[derive(Clone, Debug)]
pub struct FastRun {
    /// The strategy measured.
    pub mode: Mode,
    /// The client's report: body bytes, time, how it ended.
    pub report: Report,
    /// The server's `VmHWM` after the download.
    pub peak_rss: u64,
}

/// A client thread and what the sampler needs of it.
struct RunningClient {
    /// The client's end of the connection, to find it in `/proc/net/tcp`.
    local_addr: SocketAddr,
    /// Bytes it has read, for the sampler.
    bytes_read: Arc<AtomicU64>,
    /// Set to make it disconnect.
    stop: Arc<AtomicBool>,
    /// Returns the client's report once it stops.
    thread: JoinHandle<Report>,
}

/// Starts `count` clients on `url`, each in its own thread.
fn start_clients(
    url: &HttpUrl,
    rate: Option<u64>,
    count: usize,
) -> Result<Vec<RunningClient>, String> {
    (0..count)
        .map(|_| {
            let options = ClientOptions {
                rate,
                ..ClientOptions::default()
            };
            let client = SlowClient::connect(url, &options)
                .map_err(|e| format!("cannot connect to the server at {}: {e}", url.authority()))?;
            Ok(RunningClient {
                local_addr: client.local_addr(),
                bytes_read: client.bytes_read(),
                stop: client.stop_flag(),
                thread: thread::Builder::new()
                    .name("demo-client".into())
                    .spawn(move || client.run(None))
                    .map_err(|e| format!("cannot start a client thread: {e}"))?,
            })
        })
        .collect()
}

/// What the sampler watches of each client: its end of the connection,
/// and its count of bytes read.
fn watched(clients: &[RunningClient]) -> impl Iterator<Item = (SocketAddr, Arc<AtomicU64>)> {
    clients
        .iter()
        .map(|c| (c.local_addr, Arc::clone(&c.bytes_read)))
}

/// Stops every client (each notices within its 100 ms read poll); returns their reports.
fn stop_clients(clients: Vec<RunningClient>) -> Vec<Report> {
    for client in &clients {
        client.stop.store(true, Relaxed);
    }
    clients
        .into_iter()
        .map(|client| {
            client.thread.join().unwrap_or_else(|_| Report {
                status: None,
                wire_bytes: client.bytes_read.load(Relaxed),
                body_bytes: 0,
                elapsed: Duration::ZERO,
                end: BodyEnd::Failed("the client thread panicked".into()),
            })
        })
        .collect()
}

/// The server's peak RSS: the kernel's high-water mark (`VmHWM`), which
/// catches a spike between two samples; the samples' peak stands in where
/// the kernel's is missing or, read after them, lower (docs/metrics.md).
fn peak_rss(vm_hwm: Option<u64>, sampled: u64) -> u64 {
    vm_hwm.unwrap_or(0).max(sampled)
}

/// Starts a fresh server and measures its idle RSS and threads.
fn start_server(exe: &Path, lowat_off: bool) -> Result<(ChildServer, u64, u64), String> {
    // --quiet: stderr is discarded, so an access log would be wasted work.
    let args: &[&str] = match lowat_off {
        false => &["--quiet"],
        true => &["--quiet", "--notsent-lowat", "off"],
    };
    let server = ChildServer::start(exe, args, ChildStderr::Hidden)
        .map_err(|e| format!("cannot start the server: {e}"))?;
    server
        .scrape()
        .map_err(|e| format!("the server does not answer /metrics: {e}"))?;
    thread::sleep(IDLE_SETTLE);
    let idle = server
        .status()
        .map_err(|e| format!("cannot read the server's /proc/PID/status (Linux only): {e}"))?;
    match (idle.rss_bytes, idle.threads) {
        (Some(rss), Some(threads)) => Ok((server, rss, threads)),
        _ => Err("the server's /proc/PID/status has no VmRSS or Threads".into()),
    }
}

fn export_url(server: &ChildServer, rows: u64, mode: Mode) -> HttpUrl {
    HttpUrl {
        host: server.addr().ip().to_string(),
        port: server.addr().port(),
        target: format!("/export.csv?rows={rows}&mode={}", mode.as_str()),
    }
}

/// The slow pass for one strategy, with the server's kernel high-water mark
/// or (`lowat_off`) the kernel's default; every sample is appended to
/// `samples`.
pub fn slow(
    exe: &Path,
    mode: Mode,
    lowat_off: bool,
    config: &DemoConfig,
    samples: &mut Vec<Sample>,
    progress: &mut dyn FnMut(&Sample),
) -> Result<SlowRun, String> {
    let (server, idle_rss, idle_threads) = start_server(exe, lowat_off)?;
    let url = export_url(&server, config.rows, mode);
    let clients = start_clients(&url, Some(config.client_rate), config.clients)?;
    let pass = if lowat_off {
        Pass::SlowLowatOff
    } else {
        Pass::Slow
    };
    let sampler = Sampler::new(&server, mode, pass, watched(&clients));
    let first = samples.len();
    sampler.sample_until(Phase::Reading, config.seconds, samples, progress, &|| false);
    let Served {
        refused,
        ends,
        body_read,
        read_time,
    } = served(stop_clients(clients));
    let after_end = sampler.elapsed() + AFTER_DISCONNECT;
    sampler.sample_until(Phase::After, after_end, samples, progress, &|| false);

    // Let the last scrape's thread close, so that a thread still counted is the export's.
    thread::sleep(IDLE_SETTLE);
    let last = sampler.sample(Phase::After);
    let metrics = server
        .scrape()
        .map_err(|e| format!("/metrics failed at the end of {}: {e}", mode.as_str()))?;
    let status = server
        .status()
        .map_err(|e| format!("cannot read the server's status: {e}"))?;
    let mine = &samples[first..];
    let peak = |field: fn(&Sample) -> Option<u64>| mine.iter().filter_map(field).max().unwrap_or(0);
    let server_aborts = server_aborts(&metrics, mode);
    let mut run = SlowRun {
        mode,
        notsent_lowat: metrics
            .count("backpressure_notsent_lowat_bytes")
            .unwrap_or(0),
        body_len: body_len(config.rows),
        clients: config.clients,
        idle_rss,
        idle_threads,
        peak_rss: peak_rss(status.peak_rss_bytes, peak(|s| s.rss_bytes)),
        peak_queued: metrics
            .count(&per_mode("backpressure_queued_peak_bytes", mode))
            .unwrap_or_else(|| peak(|s| s.queued_bytes)),
        peak_server_tx: peak(|s| s.server_tx_queue_bytes),
        peak_client_rx: peak(|s| s.client_rx_queue_bytes),
        body_read,
        // Never below what the clients read, had the series gone missing.
        body_sent: metrics
            .count(&per_mode("backpressure_body_bytes_sent_total", mode))
            .unwrap_or(body_read),
        read_time,
        rss_after: last.rss_bytes.unwrap_or(0),
        threads_after: last.threads.unwrap_or(0),
        queued_after: metrics
            .count(&per_mode("backpressure_queued_bytes", mode))
            .unwrap_or(0),
        ends,
        refused,
        server_aborts,
        verdict: Verdict::Flat,
    };
    run.verdict = run.judged();
    Ok(run) // `server` drops here: the child is killed and reaped.
}

/// The fast pass for one strategy: one client reads the whole export,
/// [`FAST_DOWNLOADS`] times; the first is sampled (into `samples.csv` and
/// the progress line), and the median download is the strategy's figure.
pub fn fast(
    exe: &Path,
    mode: Mode,
    rows: u64,
    samples: &mut Vec<Sample>,
    progress: &mut dyn FnMut(&Sample),
) -> Result<FastRun, String> {
    let (server, _, _) = start_server(exe, false)?;
    let url = export_url(&server, rows, mode);
    let clients = start_clients(&url, None, 1)?;
    let sampler = Sampler::new(&server, mode, Pass::Fast, watched(&clients));
    let finished = || clients.iter().all(|c| c.thread.is_finished());
    sampler.sample_until(Phase::Reading, FAST_TIMEOUT, samples, progress, &finished);
    let mut reports = stop_clients(clients);
    for _ in 1..FAST_DOWNLOADS {
        // Unsampled: the CSV needs one download, the figure several.
        let clients = start_clients(&url, None, 1)?;
        let started = Instant::now();
        while !clients.iter().all(|c| c.thread.is_finished()) && started.elapsed() < FAST_TIMEOUT {
            thread::sleep(Duration::from_millis(5));
        }
        reports.extend(stop_clients(clients));
    }
    let report = figure(reports).ok_or("the fast client did not run")?;
    let status = server
        .status()
        .map_err(|e| format!("cannot read the server's status: {e}"))?;
    Ok(FastRun {
        mode,
        report,
        peak_rss: status.peak_rss_bytes.unwrap_or(0),
    })
}

/// What the slow clients of one run read, as their reports say.
#[derive(Debug, PartialEq)]
struct Served {
    /// Each non-200 status: a client turned away, which read nothing.
    refused: Vec<u16>,
    /// How each served client's reading ended.
    ends: Vec<BodyEnd>,
    /// Body bytes the served clients read, in all.
    body_read: u64,
    /// How long a served client read, on average: with `body_read`
    /// divided by them, the rate one of them read at.
    read_time: Duration,
}

/// Sorts the clients' reports into [`Served`]. A client with no status
/// yet (waiting for `buffer`'s body, say) was not turned away.
fn served(reports: Vec<Report>) -> Served {
    let (mut refused, mut ends) = (Vec::new(), Vec::new());
    let (mut body_read, mut read_time) = (0, Duration::ZERO);
    for report in reports {
        match report.status {
            Some(status) if status != 200 => refused.push(status),
            _ => {
                body_read += report.body_bytes;
                read_time += report.elapsed;
                ends.push(report.end);
            }
        }
    }
    let read_time = read_time / u32::try_from(ends.len().max(1)).unwrap_or(u32::MAX);
    Served {
        refused,
        ends,
        body_read,
        read_time,
    }
}

/// The download that stands for a strategy in the fast table: the median
/// by body rate, unless one did not end cleanly, which is the figure
/// whatever the others did: a median must not hide a cut body.
fn figure(mut reports: Vec<Report>) -> Option<Report> {
    reports.sort_by(|a, b| a.body_rate().total_cmp(&b.body_rate()));
    let failed = reports
        .iter()
        .position(|r| !matches!(r.end, BodyEnd::Complete(_)));
    let at = failed.unwrap_or(reports.len() / 2);
    reports.into_iter().nth(at)
}

/// The exports of `mode` the server itself cut short, by reason, as
/// `metrics` counts them: not a client's abort, nor its protocol error.
fn server_aborts(metrics: &Scrape, mode: Mode) -> Vec<(&'static str, u64)> {
    End::RESETS
        .into_iter()
        .filter_map(|end| {
            let (name, reason) = (mode.as_str(), end.as_str());
            let series =
                format!("backpressure_aborts_total{{mode=\"{name}\",reason=\"{reason}\"}}");
            Some((reason, metrics.count(&series).filter(|&n| n > 0)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spike between samples is the kernel's to tell: its high-water
    /// mark wins over the samples' peak, and the samples stand in for it
    /// when it is missing.
    #[test]
    fn the_peak_rss_is_the_kernels_high_water_mark() {
        assert_eq!(peak_rss(Some(10 << 20), 7 << 20), 10 << 20);
        assert_eq!(peak_rss(None, 7 << 20), 7 << 20);
    }

    /// The verdict is on one connection: four clients that queued 14 MiB
    /// together held 3.5 MiB each, flat beside a 385 MB body's bound of
    /// 1 % (3.7 MiB), though the sum is far past it. A client refused up
    /// front queued nothing and is not counted: with one of the four
    /// refused, the same 14 MiB is 4.7 MiB each. A run that served no one
    /// is not judged.
    #[test]
    fn the_verdict_shares_the_peak_among_the_clients_served() {
        use crate::demo::report::tests::slow_run;
        let mut run = slow_run(4, 0, 0, 16 << 10);
        run.peak_queued = 14 << 20;
        assert_eq!(run.judged(), Verdict::Flat);
        run.refused = vec![503];
        assert_eq!(run.judged(), Verdict::Unbounded);
        run.refused = vec![503; 4];
        assert_eq!(run.judged(), Verdict::NotServed);
    }

    /// A client's own abort, or its HTTP/2 protocol error, is not the
    /// server's cut: only the caps' and deadlines' reasons are reported.
    #[test]
    fn only_the_servers_own_aborts_are_its_own() {
        let series = |reason: &str, n: u64| {
            format!("backpressure_aborts_total{{mode=\"unbounded\",reason=\"{reason}\"}} {n}\n")
        };
        let text = [
            series("client-abort", 3),
            series("protocol-error", 2),
            series("buffer-cap", 1),
            series("min-rate", 0),
        ]
        .concat();
        let metrics = Scrape::parse(&text).unwrap();
        assert_eq!(
            server_aborts(&metrics, Mode::Unbounded),
            [("buffer-cap", 1)]
        );
    }

    /// A report of `body` bytes in `millis` ms, ended as `end` says.
    fn report(status: u16, body: u64, millis: u64, end: BodyEnd) -> Report {
        Report {
            status: Some(status),
            wire_bytes: body,
            body_bytes: body,
            elapsed: Duration::from_millis(millis),
            end,
        }
    }

    /// The fast table's figure is the median download by rate, not the
    /// slowest or the first; but a download cut short is the figure.
    #[test]
    fn the_fast_figure_is_the_median_unless_one_was_cut() {
        use crate::client::response::BodyFraming::Chunked;
        let whole = |millis| report(200, 1 << 20, millis, BodyEnd::Complete(Chunked));
        let reports = [40, 10, 30, 50, 20].map(whole).to_vec();
        let median = figure(reports.clone()).map(|r| r.elapsed);
        assert_eq!(median, Some(Duration::from_millis(30)));
        let mut with_a_cut = reports;
        with_a_cut[4].end = BodyEnd::Cut("reset".into());
        let cut = figure(with_a_cut).map(|r| r.end);
        assert_eq!(cut, Some(BodyEnd::Cut("reset".into())));
        assert!(figure(Vec::new()).is_none());
    }

    /// A refused client is only its status; what the served ones read is
    /// summed, and their time averaged over them alone.
    #[test]
    fn the_served_clients_reads_leave_out_the_refused() {
        let served = served(vec![
            report(200, 3 << 20, 4000, BodyEnd::Stopped),
            report(
                503,
                0,
                10,
                BodyEnd::Complete(crate::client::response::BodyFraming::Length(0)),
            ),
            report(200, 1 << 20, 2000, BodyEnd::Stopped),
        ]);
        assert_eq!(served.refused, [503]);
        assert_eq!(served.ends, [BodyEnd::Stopped, BodyEnd::Stopped]);
        assert_eq!(served.body_read, 4 << 20);
        assert_eq!(served.read_time, Duration::from_secs(3));
    }
}
