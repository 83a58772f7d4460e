//! Process-wide counters, and their rendering in the Prometheus text
//! exposition format (version 0.0.4) for `GET /metrics`.
//!
//! The counters are plain atomics in one `static`, like the counting
//! allocator's: a metric is a fact about the whole process, every thread
//! updates it, and none of them needs a lock to do so. Names follow the
//! Prometheus conventions: base units (`_bytes`), `_total` for counters that
//! only go up, and labels rather than one name per mode.
//!
//! | metric                                   | what it tells you                                    |
//! |------------------------------------------|------------------------------------------------------|
//! | `process_resident_memory_bytes`          | RSS now: what the OOM killer sees                    |
//! | `process_resident_memory_peak_bytes`     | the largest RSS so far (`VmHWM`)                     |
//! | `process_threads`                        | every thread, the accept loop and this request's too |
//! | `backpressure_heap_bytes`                | live heap, exact (counting allocator)                |
//! | `backpressure_heap_peak_bytes`           | the most live heap at any moment                     |
//! | `backpressure_queued_bytes{mode}`        | produced, not yet written to a socket                |
//! | `backpressure_queued_peak_bytes{mode}`   | the most that was ever queued at once in that mode   |
//! | `backpressure_connections_active`        | open connections, this one included                  |
//! | `backpressure_responses_total{mode,status}` | responses by status; `mode="none"` if not an export |
//! | `backpressure_body_bytes_sent_total{mode}` | CSV bytes accepted by sockets (framing excluded)   |
//! | `backpressure_aborts_total{mode,reason}` | exports cut short after their head, by reason (below) |
//! | `backpressure_connections_rejected_total` | turned away with 503 at `--max-connections`         |
//! | `backpressure_panics_total`              | connection or producer threads that panicked          |
//! | `backpressure_buffer_budget_used_bytes`  | bytes of `--max-buffered-total` held now              |
//! | `backpressure_buffer_budget_limit_bytes` | the `--max-buffered-total` budget                     |
//!
//! An abort's `reason` is one of `client-abort` (closed or reset),
//! `send-timeout`, `min-rate`, `buffer-cap`, `buffer-budget` and
//! `producer-failed`; see [`End`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::access_log::End;
use crate::buffer_budget::BufferBudget;
use crate::counting_alloc;
use crate::proc_status::ProcStatus;
use crate::response::Status;
use crate::strategy::Mode;

/// The one registry of the process.
pub static METRICS: Metrics = Metrics::new();

/// Label value for responses that are not exports (`/metrics`, errors …).
const NO_MODE: &str = "none";
/// One slot per mode, plus one for responses without a mode.
const RESPONSE_LABELS: usize = Mode::ALL.len() + 1;

/// Counters kept per body strategy.
struct ModeMetrics {
    /// Sum of every live response's [`crate::queued_bytes::QueuedBytes`].
    queued_bytes: AtomicU64,
    /// Largest `queued_bytes` since start: a stalled client's worst moment
    /// survives until you look.
    queued_peak_bytes: AtomicU64,
    /// Body bytes the sockets accepted: with the queue, shows where every
    /// produced byte went (queued + sent = produced).
    body_bytes_sent_total: AtomicU64,
    /// Exports cut short, one counter per [`End::ABORTS`] reason: why a
    /// stalled client's queue was freed.
    aborts_total: [AtomicU64; End::ABORTS.len()],
}

impl ModeMetrics {
    const fn new() -> Self {
        ModeMetrics {
            queued_bytes: AtomicU64::new(0),
            queued_peak_bytes: AtomicU64::new(0),
            body_bytes_sent_total: AtomicU64::new(0),
            aborts_total: [const { AtomicU64::new(0) }; End::ABORTS.len()],
        }
    }
}

/// A metric family with one series per mode, read from [`ModeMetrics`].
struct PerModeFamily {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    counter: fn(&ModeMetrics) -> &AtomicU64,
}

const PER_MODE_FAMILIES: [PerModeFamily; 3] = [
    PerModeFamily {
        name: "backpressure_queued_bytes",
        kind: "gauge",
        help: "Body bytes produced but not yet written to a socket.",
        counter: |m| &m.queued_bytes,
    },
    PerModeFamily {
        name: "backpressure_queued_peak_bytes",
        kind: "gauge",
        help: "Most body bytes queued at once since the process started.",
        counter: |m| &m.queued_peak_bytes,
    },
    PerModeFamily {
        name: "backpressure_body_bytes_sent_total",
        kind: "counter",
        help: "Body bytes written to sockets, chunked framing excluded.",
        counter: |m| &m.body_bytes_sent_total,
    },
];

/// All counters of the process; see the module docs for their meaning.
pub struct Metrics {
    modes: [ModeMetrics; Mode::ALL.len()],
    /// `responses[label][status]`, label being a mode's index or the last
    /// slot for [`NO_MODE`].
    responses: [[AtomicU64; Status::ALL.len()]; RESPONSE_LABELS],
    /// Connections whose thread is running: each holds a thread (two while
    /// a channel strategy streams), the resource a blocking server runs out
    /// of first.
    connections_active: AtomicU64,
    /// Connections the accept loop answered with 503 instead of a thread.
    connections_rejected_total: AtomicU64,
    /// Threads that panicked: each is a bug, and none took the server down.
    panics_total: AtomicU64,
}

impl Metrics {
    const fn new() -> Self {
        Metrics {
            modes: [const { ModeMetrics::new() }; Mode::ALL.len()],
            responses: [const { [const { AtomicU64::new(0) }; Status::ALL.len()] };
                RESPONSE_LABELS],
            connections_active: AtomicU64::new(0),
            connections_rejected_total: AtomicU64::new(0),
            panics_total: AtomicU64::new(0),
        }
    }

    fn mode(&self, mode: Mode) -> &ModeMetrics {
        &self.modes[mode.index()]
    }

    pub(crate) fn queue_grew(&self, mode: Mode, bytes: u64) {
        let m = self.mode(mode);
        let now = m.queued_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        m.queued_peak_bytes.fetch_max(now, Ordering::Relaxed);
    }

    pub(crate) fn queue_drained(&self, mode: Mode, bytes: u64) {
        self.mode(mode)
            .queued_bytes
            .fetch_sub(bytes, Ordering::Relaxed);
    }

    pub(crate) fn body_bytes_sent(&self, mode: Mode, bytes: u64) {
        self.mode(mode)
            .body_bytes_sent_total
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts an export cut short after its head was sent. `end` should be
    /// one of [`End::ABORTS`]; anything else is not an abort and is ignored.
    pub fn aborted(&self, mode: Mode, end: End) {
        if let Some(reason) = End::ABORTS.iter().position(|&e| e == end) {
            self.mode(mode).aborts_total[reason].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a connection turned away at the connection cap.
    pub fn rejected(&self) {
        self.connections_rejected_total
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a thread that panicked.
    pub fn panicked(&self) {
        self.panics_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections being served now.
    pub fn connections_active(&self) -> u64 {
        self.connections_active.load(Ordering::Relaxed)
    }

    /// Counts a response whose head was sent; `mode` is `None` for anything
    /// but an export.
    pub fn responded(&self, mode: Option<Mode>, status: Status) {
        let label = mode.map_or(RESPONSE_LABELS - 1, Mode::index);
        self.responses[label][status.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection as open until the returned guard is dropped, so
    /// that a connection thread that returns early, or panics, is still
    /// taken off the gauge.
    pub fn connection_opened(&'static self) -> OpenConnection {
        self.connections_active.fetch_add(1, Ordering::Relaxed);
        OpenConnection { metrics: self }
    }

    /// The whole registry in the Prometheus text format, version 0.0.4,
    /// with the server's buffer budget (which lives with the server, since
    /// its limit is configuration).
    pub fn render(&self, budget: &BufferBudget) -> String {
        let mut out = Exposition(String::with_capacity(4096));
        let process = ProcStatus::of_self();
        out.family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident set size (VmRSS): memory the kernel has given the process.",
        );
        out.optional_sample("process_resident_memory_bytes", "", process.rss_bytes);
        out.family(
            "process_resident_memory_peak_bytes",
            "gauge",
            "Largest resident set size since the process started (VmHWM).",
        );
        out.optional_sample(
            "process_resident_memory_peak_bytes",
            "",
            process.peak_rss_bytes,
        );
        out.family(
            "process_threads",
            "gauge",
            "Threads of the process, the accept loop included.",
        );
        out.optional_sample("process_threads", "", process.threads);

        out.family(
            "backpressure_heap_bytes",
            "gauge",
            "Live heap bytes, counted exactly by the global allocator.",
        );
        out.sample(
            "backpressure_heap_bytes",
            "",
            counting_alloc::live_bytes() as u64,
        );
        out.family(
            "backpressure_heap_peak_bytes",
            "gauge",
            "Most live heap bytes at any moment since the process started.",
        );
        out.sample(
            "backpressure_heap_peak_bytes",
            "",
            counting_alloc::peak_bytes() as u64,
        );

        for family in PER_MODE_FAMILIES {
            out.family(family.name, family.kind, family.help);
            for mode in Mode::ALL {
                let value = (family.counter)(self.mode(mode)).load(Ordering::Relaxed);
                out.sample(family.name, &format!("mode=\"{}\"", mode.as_str()), value);
            }
        }

        out.family(
            "backpressure_aborts_total",
            "counter",
            "Exports cut short after their head was sent, by mode and reason.",
        );
        for mode in Mode::ALL {
            for (end, count) in End::ABORTS.iter().zip(&self.mode(mode).aborts_total) {
                let labels = format!("mode=\"{}\",reason=\"{}\"", mode.as_str(), end.as_str());
                out.sample(
                    "backpressure_aborts_total",
                    &labels,
                    count.load(Ordering::Relaxed),
                );
            }
        }

        out.family(
            "backpressure_buffer_budget_used_bytes",
            "gauge",
            "Bytes of --max-buffered-total held by buffer and unbounded responses.",
        );
        out.sample("backpressure_buffer_budget_used_bytes", "", budget.used());
        out.family(
            "backpressure_buffer_budget_limit_bytes",
            "gauge",
            "The --max-buffered-total budget.",
        );
        out.sample("backpressure_buffer_budget_limit_bytes", "", budget.limit());

        out.family(
            "backpressure_connections_rejected_total",
            "counter",
            "Connections answered 503 at --max-connections, without a thread.",
        );
        out.sample(
            "backpressure_connections_rejected_total",
            "",
            self.connections_rejected_total.load(Ordering::Relaxed),
        );
        out.family(
            "backpressure_panics_total",
            "counter",
            "Connection or producer threads that panicked; the server went on.",
        );
        out.sample(
            "backpressure_panics_total",
            "",
            self.panics_total.load(Ordering::Relaxed),
        );

        out.family(
            "backpressure_connections_active",
            "gauge",
            "Open client connections, the one asking for these metrics included.",
        );
        out.sample(
            "backpressure_connections_active",
            "",
            self.connections_active.load(Ordering::Relaxed),
        );

        out.family(
            "backpressure_responses_total",
            "counter",
            "Responses sent, by body strategy (\"none\" if not an export) and status code.",
        );
        for (label, by_status) in self.responses.iter().enumerate() {
            let mode = Mode::ALL.get(label).map_or(NO_MODE, |m| m.as_str());
            for (status, count) in Status::ALL.iter().zip(by_status) {
                let count = count.load(Ordering::Relaxed);
                // Only label sets that occurred: 5 × 10 mostly-zero series
                // would bury the ones that matter.
                if count > 0 {
                    let labels = format!("mode=\"{mode}\",status=\"{}\"", status.code());
                    out.sample("backpressure_responses_total", &labels, count);
                }
            }
        }
        out.0
    }
}

/// Keeps `backpressure_connections_active` counting one connection.
#[must_use = "the connection counts as open only while this guard lives"]
pub struct OpenConnection {
    /// The registry to give the count back to.
    metrics: &'static Metrics,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.metrics
            .connections_active
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// A text exposition being written.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // Writing into a String cannot fail.
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: u64) {
        let _ = if labels.is_empty() {
            writeln!(self.0, "{name} {value}")
        } else {
            writeln!(self.0, "{name}{{{labels}}} {value}")
        };
    }

    /// A sample the platform may not provide: left out rather than faked.
    fn optional_sample(&mut self, name: &str, labels: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.sample(name, labels, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_and_type_and_samples_parse() {
        let text = METRICS.render(&BufferBudget::new(1024));
        let mut families = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families.push(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let (series, value) = line.rsplit_once(' ').unwrap();
                assert!(value.parse::<u64>().is_ok(), "{line}");
                let name = series.split('{').next().unwrap();
                assert!(families.iter().any(|f| f == name), "{name} has no # TYPE");
            }
        }
        for name in [
            "backpressure_heap_bytes",
            "backpressure_queued_bytes",
            "backpressure_queued_peak_bytes",
            "backpressure_connections_active",
            "backpressure_responses_total",
            "backpressure_body_bytes_sent_total",
            "backpressure_aborts_total",
            "backpressure_connections_rejected_total",
            "backpressure_panics_total",
            "backpressure_buffer_budget_used_bytes",
            "backpressure_buffer_budget_limit_bytes",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
        assert!(text.contains("backpressure_queued_bytes{mode=\"bounded\"} "));
    }
}
