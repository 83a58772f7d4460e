//! Process-wide counters, and the one table of metric families that
//! `GET /metrics` renders, the tests check and `docs/metrics.md` explains.
//!
//! The counters are plain atomics in one `static`, like the counting
//! allocator's: a metric is a fact about the whole process, every thread
//! updates it, and none of them needs a lock to do so. Names follow the
//! Prometheus conventions: base units (`_bytes`), `_total` for counters that
//! only go up, and labels rather than one name per mode.
//!
//! [`FAMILIES`] is the single list of what is exposed: each entry names a
//! family, says what it means, and reads its samples. Rendering walks it,
//! the integration tests walk it, and a unit test checks that every family
//! is documented, so a metric cannot be added in one place and forgotten in
//! another.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::counting_alloc;
use super::end::End;
use super::exposition::Exposition;
use super::proc_status::ProcStatus;
use crate::export::Mode;
use crate::http::h2::frame::ErrorCode;
use crate::http::response::Status;

/// The one registry of the process.
pub static METRICS: Metrics = Metrics::new();

/// Label value for responses that are not exports (`/metrics`, errors …).
const NO_MODE: &str = "none";
/// One slot per mode, plus one for responses without a mode.
const RESPONSE_LABELS: usize = Mode::ALL.len() + 1;

/// Counters kept per body strategy.
struct ModeMetrics {
    /// Sum of every live response's queued bytes (produced, not yet
    /// written): the number that tells the strategies apart.
    queued_bytes: AtomicU64,
    /// Largest `queued_bytes` since start: a stalled client's worst moment
    /// survives until you look.
    queued_peak_bytes: AtomicU64,
    /// Body bytes the sockets accepted: with the queue, shows where every
    /// produced byte went (queued + sent = produced, plus the part already
    /// written of each chunk still being written, which stays queued whole).
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

/// All counters of the process; [`FAMILIES`] says what each means.
pub struct Metrics {
    /// Indexed by [`Mode::index`].
    modes: [ModeMetrics; Mode::ALL.len()],
    /// `responses[label][status]`, label being a mode's index or the last
    /// slot for [`NO_MODE`].
    responses: [[AtomicU64; Status::ALL.len()]; RESPONSE_LABELS],
    /// Open client connections, each with its thread running: each holds a
    /// thread (over HTTP/1, two while a channel strategy streams; over
    /// HTTP/2, a reader, a writer and up to two per stream answered), the
    /// resource a blocking server runs out of first.
    connections_active: AtomicU64,
    /// Connections whose response is out and whose close waits for the
    /// client to hang up: each holds a thread, but no slot under the cap.
    connections_closing: AtomicU64,
    /// Connections turned away without a thread, at the cap or when none
    /// could start: a 503, or over HTTP/2 a GOAWAY. A scrape of `/metrics`
    /// or `/healthz` that the rejecter answers instead is not counted here,
    /// nor in `connections_active`.
    connections_rejected_total: AtomicU64,
    /// Threads that panicked: each is a bug, and none took the server down.
    panics_total: AtomicU64,
    /// Resets sent, one counter per [`End::RESETS`] reason: each is a
    /// kernel send queue freed at once rather than drained to nobody.
    resets_total: [AtomicU64; End::RESETS.len()],
    /// Log lines never written, one counter per [`LogDrop`]: what keeping
    /// the log from blocking anyone cost.
    log_lines_dropped_total: [AtomicU64; LogDrop::ALL.len()],
    /// HTTP/2 GOAWAY frames sent, by [`ErrorCode`]: a connection ended, and
    /// whether a client broke a rule or flooded (`ENHANCE_YOUR_CALM`).
    http2_goaways_total: [AtomicU64; ErrorCode::ALL.len()],
    /// HTTP/2 RST_STREAM frames sent, by [`ErrorCode`]: a stream ended
    /// early while its connection went on.
    http2_resets_total: [AtomicU64; ErrorCode::ALL.len()],
}

/// Why a log line was dropped: the `reason` of
/// `backpressure_log_lines_dropped_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogDrop {
    /// The logger's queue was full: stderr drains slower than lines come.
    QueueFull,
    /// Writing stderr failed: it is closed, or its reader is gone.
    WriteFailed,
}

impl LogDrop {
    /// Every reason, in declaration order.
    pub const ALL: [LogDrop; 2] = [LogDrop::QueueFull, LogDrop::WriteFailed];

    pub fn as_str(self) -> &'static str {
        match self {
            LogDrop::QueueFull => "queue-full",
            LogDrop::WriteFailed => "write-failed",
        }
    }
}

/// What a scrape reads besides the registry: facts that live elsewhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct Readings {
    /// The process's `/proc/self/status`, read for this scrape.
    pub process: ProcStatus,
    /// The soft limit on descriptors (`ulimit -n`) and those open now, from
    /// `/proc/self/fd` and `/proc/self/limits`: a socket never closed shows
    /// here, as a thread never joined shows in the thread count.
    pub open_files: Option<(u64, u64)>,
    /// Bytes of `--max-buffered-total` held now (the budget lives with the
    /// server, since its limit is configuration).
    pub budget_used_bytes: u64,
    /// The `--max-buffered-total` budget.
    pub budget_limit_bytes: u64,
    /// The `--notsent-lowat` of every connection, 0 when off.
    pub notsent_lowat_bytes: u64,
}

/// A metric's Prometheus type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A count that only goes up.
    Counter,
}

impl Kind {
    /// The word of a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One metric family: its name, type and meaning, and where its samples
/// come from.
pub struct Family {
    /// The metric's name, as in `# TYPE name gauge`.
    pub name: &'static str,
    /// Gauge or counter.
    pub kind: Kind,
    /// The `# HELP` text: one sentence.
    pub help: &'static str,
    /// Appends the family's samples (without its name, which the exposition
    /// adds) to `out`.
    samples: fn(&Metrics, &Readings, &mut Exposition),
}

/// Every family `/metrics` exposes, in the order it exposes them.
pub const FAMILIES: [Family; 23] = [
    Family {
        name: "process_resident_memory_bytes",
        kind: Kind::Gauge,
        help: "Resident set size (VmRSS): memory the kernel has given the process.",
        samples: |_, r, out| out.optional_sample("", r.process.rss_bytes),
    },
    Family {
        name: "process_resident_memory_peak_bytes",
        kind: Kind::Gauge,
        help: "Largest resident set size since the process started (VmHWM).",
        samples: |_, r, out| out.optional_sample("", r.process.peak_rss_bytes),
    },
    Family {
        name: "process_threads",
        kind: Kind::Gauge,
        help: "Threads of the process, the accept loop included.",
        samples: |_, r, out| out.optional_sample("", r.process.threads),
    },
    Family {
        name: "process_open_fds",
        kind: Kind::Gauge,
        help: "Open file descriptors: every socket, the listener and the scrape's own included.",
        samples: |_, r, out| out.optional_sample("", r.open_files.map(|(_, open)| open)),
    },
    Family {
        name: "process_max_fds",
        kind: Kind::Gauge,
        help: "The soft limit on open file descriptors (ulimit -n), where accept starts failing.",
        samples: |_, r, out| out.optional_sample("", r.open_files.map(|(limit, _)| limit)),
    },
    Family {
        name: "backpressure_heap_bytes",
        kind: Kind::Gauge,
        help: "Live heap bytes, counted exactly by the global allocator.",
        samples: |_, _, out| out.sample("", counting_alloc::live_bytes() as u64),
    },
    Family {
        name: "backpressure_heap_peak_bytes",
        kind: Kind::Gauge,
        help: "Most live heap bytes at any moment since the process started.",
        samples: |_, _, out| out.sample("", counting_alloc::peak_bytes() as u64),
    },
    Family {
        name: "backpressure_queued_bytes",
        kind: Kind::Gauge,
        help: "Body bytes produced but not yet written to a socket.",
        samples: |m, _, out| m.per_mode(out, |mode| &mode.queued_bytes),
    },
    Family {
        name: "backpressure_queued_peak_bytes",
        kind: Kind::Gauge,
        help: "Most body bytes queued at once since the process started.",
        samples: |m, _, out| m.per_mode(out, |mode| &mode.queued_peak_bytes),
    },
    Family {
        name: "backpressure_body_bytes_sent_total",
        kind: Kind::Counter,
        help: "Body bytes written to sockets, chunked framing excluded.",
        samples: |m, _, out| m.per_mode(out, |mode| &mode.body_bytes_sent_total),
    },
    Family {
        name: "backpressure_aborts_total",
        kind: Kind::Counter,
        help: "Exports cut short after their head was sent, by mode and reason.",
        samples: |m, _, out| {
            for mode in Mode::ALL {
                let counts = &m.modes[mode.index()].aborts_total;
                for (end, count) in End::ABORTS.iter().zip(counts) {
                    let labels = format!("mode=\"{}\",reason=\"{}\"", mode.as_str(), end.as_str());
                    out.sample(&labels, count.load(Relaxed));
                }
            }
        },
    },
    Family {
        name: "backpressure_buffer_budget_used_bytes",
        kind: Kind::Gauge,
        help: "Bytes of --max-buffered-total held by buffer and unbounded responses.",
        samples: |_, r, out| out.sample("", r.budget_used_bytes),
    },
    Family {
        name: "backpressure_buffer_budget_limit_bytes",
        kind: Kind::Gauge,
        help: "The --max-buffered-total budget.",
        samples: |_, r, out| out.sample("", r.budget_limit_bytes),
    },
    Family {
        name: "backpressure_connections_rejected_total",
        kind: Kind::Counter,
        help: "Connections turned away without a thread (at --max-connections, or when none could start): a 503, or over HTTP/2 a GOAWAY. /metrics and /healthz answered there are not counted, unless cut for want of room for the answer.",
        samples: |m, _, out| out.sample("", load(&m.connections_rejected_total)),
    },
    Family {
        name: "backpressure_resets_total",
        kind: Kind::Counter,
        help: "Connections the server closed with a TCP reset, freeing the kernel's send queue, by reason: cut exports, and whole responses whose close was cut (close-timeout, drain-timeout), whatever they answered.",
        samples: |m, _, out| {
            for (end, count) in End::RESETS.iter().zip(&m.resets_total) {
                out.sample(&format!("reason=\"{}\"", end.as_str()), load(count));
            }
        },
    },
    Family {
        name: "backpressure_http2_goaways_sent_total",
        kind: Kind::Counter,
        help: "HTTP/2 connections ended with GOAWAY, by error code.",
        samples: |m, _, out| by_code(out, &m.http2_goaways_total),
    },
    Family {
        name: "backpressure_http2_rst_streams_sent_total",
        kind: Kind::Counter,
        help: "HTTP/2 streams ended early with RST_STREAM, by error code.",
        samples: |m, _, out| by_code(out, &m.http2_resets_total),
    },
    Family {
        name: "backpressure_notsent_lowat_bytes",
        kind: Kind::Gauge,
        help: "TCP_NOTSENT_LOWAT of every connection (--notsent-lowat); 0 when off.",
        samples: |_, r, out| out.sample("", r.notsent_lowat_bytes),
    },
    Family {
        name: "backpressure_log_lines_dropped_total",
        kind: Kind::Counter,
        help: "Log lines not written, so that logging never blocks: by reason.",
        samples: |m, _, out| {
            for (reason, count) in LogDrop::ALL.iter().zip(&m.log_lines_dropped_total) {
                out.sample(&format!("reason=\"{}\"", reason.as_str()), load(count));
            }
        },
    },
    Family {
        name: "backpressure_panics_total",
        kind: Kind::Counter,
        help: "Connection or producer threads that panicked; the server went on.",
        samples: |m, _, out| out.sample("", load(&m.panics_total)),
    },
    Family {
        name: "backpressure_connections_active",
        kind: Kind::Gauge,
        help: "Connections served by a thread of their own, a scrape included, but for one the rejecter answers at --max-connections; a finished one leaves while its close waits for the client.",
        samples: |m, _, out| out.sample("", load(&m.connections_active)),
    },
    Family {
        name: "backpressure_connections_closing",
        kind: Kind::Gauge,
        help: "Connections whose response is out and whose close waits for the client to hang up: a thread each, no slot; at most --max-connections.",
        samples: |m, _, out| out.sample("", load(&m.connections_closing)),
    },
    Family {
        name: "backpressure_responses_total",
        kind: Kind::Counter,
        help: "Responses sent, by body strategy (\"none\" if not an export) and status code.",
        samples: |m, _, out| {
            for (label, by_status) in m.responses.iter().enumerate() {
                let mode = Mode::ALL.get(label).map_or(NO_MODE, |m| m.as_str());
                // Every pair, zeros too (see `by_code`).
                for (status, count) in Status::ALL.iter().zip(by_status) {
                    let labels = format!("mode=\"{mode}\",status=\"{}\"", status.code());
                    out.sample(&labels, load(count));
                }
            }
        },
    },
];

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Relaxed)
}

/// One sample per HTTP/2 error code, zeros too. A series that appeared
/// only once it counted would start at 1 with no sample before it, and
/// Prometheus's `increase()` and `rate()` see no increase in that: an
/// alert on the first flood's GOAWAY after a restart would never fire.
fn by_code(out: &mut Exposition, counts: &[AtomicU64; ErrorCode::ALL.len()]) {
    for (code, count) in ErrorCode::ALL.iter().zip(counts) {
        out.sample(&format!("code=\"{}\"", code.name()), load(count));
    }
}

impl Metrics {
    /// All zero. The process counts in one, [`METRICS`]; a test may make
    /// its own, to count what it alone did.
    pub(crate) const fn new() -> Self {
        Metrics {
            modes: [const { ModeMetrics::new() }; Mode::ALL.len()],
            responses: [const { [const { AtomicU64::new(0) }; Status::ALL.len()] };
                RESPONSE_LABELS],
            connections_active: AtomicU64::new(0),
            connections_closing: AtomicU64::new(0),
            connections_rejected_total: AtomicU64::new(0),
            panics_total: AtomicU64::new(0),
            resets_total: [const { AtomicU64::new(0) }; End::RESETS.len()],
            http2_goaways_total: [const { AtomicU64::new(0) }; ErrorCode::ALL.len()],
            http2_resets_total: [const { AtomicU64::new(0) }; ErrorCode::ALL.len()],
            log_lines_dropped_total: [const { AtomicU64::new(0) }; LogDrop::ALL.len()],
        }
    }

    fn mode(&self, mode: Mode) -> &ModeMetrics {
        &self.modes[mode.index()]
    }

    /// One sample per mode, labelled `mode="…"`, of the counter `pick` names.
    fn per_mode(&self, out: &mut Exposition, pick: fn(&ModeMetrics) -> &AtomicU64) {
        for mode in Mode::ALL {
            let labels = format!("mode=\"{}\"", mode.as_str());
            out.sample(&labels, load(pick(self.mode(mode))));
        }
    }

    /// Bytes of a `mode` response were produced and now wait in userland.
    pub fn queue_grew(&self, mode: Mode, bytes: u64) {
        let m = self.mode(mode);
        let now = m.queued_bytes.fetch_add(bytes, Relaxed) + bytes;
        m.queued_peak_bytes.fetch_max(now, Relaxed);
    }

    /// Queued bytes of a `mode` response were written, or freed with it.
    pub fn queue_drained(&self, mode: Mode, bytes: u64) {
        self.mode(mode).queued_bytes.fetch_sub(bytes, Relaxed);
    }

    /// A socket accepted `bytes` of a `mode` body.
    pub fn body_bytes_sent(&self, mode: Mode, bytes: u64) {
        self.mode(mode)
            .body_bytes_sent_total
            .fetch_add(bytes, Relaxed);
    }

    /// Counts an export cut short after its head was sent. `end` should be
    /// one of [`End::ABORTS`]; anything else is not an abort and is ignored.
    pub fn aborted(&self, mode: Mode, end: End) {
        if let Some(reason) = End::ABORTS.iter().position(|&e| e == end) {
            self.mode(mode).aborts_total[reason].fetch_add(1, Relaxed);
        }
    }

    /// Counts a connection turned away: at the connection cap, or when no
    /// thread could start for it.
    pub fn rejected(&self) {
        self.connections_rejected_total.fetch_add(1, Relaxed);
    }

    /// Counts a connection closed with a reset for `end`, one of
    /// [`End::RESETS`].
    pub fn reset_sent(&self, end: End) {
        if let Some(reason) = End::RESETS.iter().position(|&e| e == end) {
            self.resets_total[reason].fetch_add(1, Relaxed);
        }
    }

    /// Counts a log line dropped for `reason`.
    pub fn log_dropped(&self, reason: LogDrop) {
        self.log_lines_dropped_total[reason as usize].fetch_add(1, Relaxed);
    }

    /// Counts an HTTP/2 GOAWAY sent with `code`.
    pub fn http2_goaway(&self, code: ErrorCode) {
        self.http2_goaways_total[code as usize].fetch_add(1, Relaxed);
    }

    /// Counts an HTTP/2 RST_STREAM sent with `code`.
    pub fn http2_rst_stream(&self, code: ErrorCode) {
        self.http2_resets_total[code as usize].fetch_add(1, Relaxed);
    }

    /// Counts a thread that panicked.
    pub fn panicked(&self) {
        self.panics_total.fetch_add(1, Relaxed);
    }

    /// Connections being served now.
    pub fn connections_active(&self) -> u64 {
        load(&self.connections_active)
    }

    /// Counts a response whose head was sent; `mode` is `None` for anything
    /// but an export.
    pub fn responded(&self, mode: Option<Mode>, status: Status) {
        let label = mode.map_or(RESPONSE_LABELS - 1, Mode::index);
        self.responses[label][status.index()].fetch_add(1, Relaxed);
    }

    /// Counts a connection as open until the returned guard is dropped, so
    /// that a connection thread that returns early, or panics, is still
    /// taken off the gauge.
    pub fn connection_opened(&'static self) -> Counted {
        self.connections_active.fetch_add(1, Relaxed);
        Counted {
            gauge: &self.connections_active,
        }
    }

    /// Counts a connection whose close waits for its client, until the
    /// returned guard is dropped; `None` if `most` already wait.
    pub fn connection_closing(&'static self, most: u64) -> Option<Counted> {
        let room = |n: u64| (n < most).then_some(n + 1);
        let gauge = &self.connections_closing;
        gauge.fetch_update(Relaxed, Relaxed, room).ok()?;
        Some(Counted { gauge })
    }

    /// Every family of [`FAMILIES`] in the Prometheus text format, version
    /// 0.0.4.
    pub fn render(&self, readings: &Readings) -> String {
        let mut out = Exposition::new();
        for family in &FAMILIES {
            out.family(family.name, family.kind.as_str(), family.help);
            (family.samples)(self, readings, &mut out);
        }
        out.finish()
    }
}

/// Keeps a connection gauge (`backpressure_connections_active` or
/// `_closing`) counting one connection, until dropped: so a thread that
/// returns early, or panics, still gives its count back.
#[must_use = "the connection is counted only while this guard lives"]
pub struct Counted {
    /// The gauge to give the count back to.
    gauge: &'static AtomicU64,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests;
