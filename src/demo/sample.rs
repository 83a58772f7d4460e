//! One sample of the flow-control chain, taken every 50 ms while a client
//! downloads, and its row in `samples.csv`. Its fields follow the chain:
//!
//! ```text
//! producer ─▶ userland queue ─▶ server kernel send buffer ─▶ (loopback)
//!          ─▶ client kernel receive buffer ─▶ bytes the client has read
//! ```
//!
//! plus the server's RSS and threads, and the machine's TCP memory (socket
//! buffers are kernel memory, never in RSS). A value the OS would not give
//! is an empty cell in the CSV rather than a fake 0.

use crate::export::Mode;

/// Which client was reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Rate-limited readers, cut off after `--seconds`.
    Slow,
    /// The same, against a server run with `--notsent-lowat off`: the
    /// kernel's own send buffer, for comparison.
    SlowLowatOff,
    /// One reader as fast as it can, to the end of the body.
    Fast,
}

impl Pass {
    /// The `pass` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Pass::Slow => "slow",
            Pass::SlowLowatOff => "slow-lowat-off",
            Pass::Fast => "fast",
        }
    }
}

/// Whether the clients were still connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The clients are connected and reading.
    Reading,
    /// The clients have disconnected; the server should be letting go.
    After,
}

impl Phase {
    /// The `phase` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Reading => "reading",
            Phase::After => "after",
        }
    }
}

/// One moment of one strategy's run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The strategy the server was asked for.
    pub mode: Mode,
    /// Slow or fast client.
    pub pass: Pass,
    /// Before or after the clients disconnected.
    pub phase: Phase,
    /// Milliseconds since the clients connected, when the sample began: its
    /// reads follow one another (the server's status, `/proc/net/tcp`, the
    /// `/metrics` scrape, the clients' counters, `/proc/net/sockstat`).
    pub t_ms: u64,
    /// The server's `VmRSS`.
    pub rss_bytes: Option<u64>,
    /// The server's `Threads`.
    pub threads: Option<u64>,
    /// The userland link: `backpressure_queued_bytes{mode}`, produced, not yet written.
    pub queued_bytes: Option<u64>,
    /// `tx_queue` of the server's end(s) in `/proc/net/tcp`: written, not
    /// yet acknowledged. `None` once no such socket exists.
    pub server_tx_queue_bytes: Option<u64>,
    /// `rx_queue` of the client's end(s): arrived, not yet read.
    pub client_rx_queue_bytes: Option<u64>,
    /// Bytes the client has read (its own counter), head and framing included.
    pub client_read_bytes: u64,
    /// `mem` of `/proc/net/sockstat`'s TCP line: pages (of
    /// [`PAGE_BYTES`](crate::measure::proc_net::PAGE_BYTES)) in all the machine's
    /// TCP buffers.
    pub tcp_mem_pages: Option<u64>,
}

/// The first line of `samples.csv`.
pub const CSV_HEADER: &str = "strategy,pass,phase,t_ms,rss_bytes,threads,queued_bytes,\
server_tx_queue_bytes,client_rx_queue_bytes,client_read_bytes,tcp_mem_pages";

impl Sample {
    /// This sample as one CSV line, without its newline; missing values are empty.
    pub fn csv_row(&self) -> String {
        let cell = |value: Option<u64>| value.map_or(String::new(), |v| v.to_string());
        format!(
            "{},{},{},{},{},{},{},{},{},{},{}",
            self.mode.as_str(),
            self.pass.as_str(),
            self.phase.as_str(),
            self.t_ms,
            cell(self.rss_bytes),
            cell(self.threads),
            cell(self.queued_bytes),
            cell(self.server_tx_queue_bytes),
            cell(self.client_rx_queue_bytes),
            self.client_read_bytes,
            cell(self.tcp_mem_pages),
        )
    }
}

/// The whole CSV file: header, then one line per sample.
pub fn csv(samples: &[Sample]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for sample in samples {
        out.push_str(&sample.csv_row());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_per_sample_under_a_matching_header() {
        let sample = Sample {
            mode: Mode::Bounded,
            pass: Pass::Slow,
            phase: Phase::Reading,
            t_ms: 50,
            rss_bytes: Some(2_097_152),
            threads: Some(3),
            queued_bytes: Some(98_304),
            server_tx_queue_bytes: Some(3_842_048),
            client_rx_queue_bytes: None,
            client_read_bytes: 10_240,
            tcp_mem_pages: Some(899),
        };
        let later = Sample {
            t_ms: 100,
            ..sample
        };
        let text = csv(&[sample, later]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1],
            "bounded,slow,reading,50,2097152,3,98304,3842048,,10240,899"
        );
        assert!(lines[2].starts_with("bounded,slow,reading,100,"));
        // Each pass and phase has its own label: the run without the mark
        // is not the slow pass's.
        let off = Sample {
            pass: Pass::SlowLowatOff,
            phase: Phase::After,
            ..sample
        };
        assert!(
            off.csv_row()
                .starts_with("bounded,slow-lowat-off,after,50,")
        );
        let columns = lines[0].split(',').count();
        assert!(lines.iter().all(|line| line.split(',').count() == columns));
    }
}
