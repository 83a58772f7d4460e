//! Sampling one server and its clients on a schedule: every
//! [`SAMPLE_INTERVAL`], each link of the flow-control chain read once
//! ([`Sample`]), from the server's `/proc` status, both kernels' socket
//! queues in `/proc/net/tcp`, the server's `/metrics`, the clients' own
//! counts and the machine's TCP memory in `/proc/net/sockstat`. A slow
//! read skips the ticks it missed rather than stretching the run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::thread;
use std::time::{Duration, Instant};

use super::child::ChildServer;
use super::sample::{Pass, Phase, Sample};
use crate::export::Mode;
use crate::measure::proc_net;

/// `name{mode="…"}`: a per-mode series as the server writes it.
pub fn per_mode(name: &str, mode: Mode) -> String {
    format!("{name}{{mode=\"{}\"}}", mode.as_str())
}

/// Time between samples: fine enough to see `unbounded` fill its queue in
/// the first second, coarse enough that sampling costs the server little.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// Takes samples of one server and its clients.
pub struct Sampler<'a> {
    /// The server whose process, metrics and sockets are sampled.
    server: &'a ChildServer,
    /// Labels the samples and picks the `/metrics` series.
    mode: Mode,
    /// Slow or fast clients, to label the samples.
    pass: Pass,
    /// The clients' local addresses, to find both ends in `/proc/net/tcp`.
    client_addrs: Vec<SocketAddr>,
    /// The clients' read counters, summed into each sample.
    counters: Vec<Arc<AtomicU64>>,
    /// When the clients connected: t = 0.
    start: Instant,
}

impl<'a> Sampler<'a> {
    /// A sampler for `server` and the clients it is serving, each given
    /// by its end of the connection and its count of bytes read; t = 0 is
    /// now.
    pub fn new(
        server: &'a ChildServer,
        mode: Mode,
        pass: Pass,
        clients: impl IntoIterator<Item = (SocketAddr, Arc<AtomicU64>)>,
    ) -> Self {
        let (client_addrs, counters) = clients.into_iter().unzip();
        Sampler {
            server,
            mode,
            pass,
            client_addrs,
            counters,
            start: Instant::now(),
        }
    }

    /// Time since t = 0, when the clients connected.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// One sample, labelled `phase`, its time the schedule's tick.
    pub fn sample(&self, phase: Phase) -> Sample {
        // On the schedule's tick, before any read: a slow scrape does not
        // move the sample later.
        let t_ms = self.start.elapsed().as_millis() as u64;
        // Status first: the /metrics request below briefly adds a thread.
        let status = self.server.status().ok();
        let (tx, rx) = proc_net::read_tcp_table().map_or((None, None), |table| {
            socket_queues(table, self.server.addr(), &self.client_addrs)
        });
        let series = per_mode("backpressure_queued_bytes", self.mode);
        let queued = self.server.scrape().ok().and_then(|s| s.count(&series));
        Sample {
            mode: self.mode,
            pass: self.pass,
            phase,
            t_ms,
            rss_bytes: status.and_then(|s| s.rss_bytes),
            threads: status.and_then(|s| s.threads),
            queued_bytes: queued,
            server_tx_queue_bytes: tx,
            client_rx_queue_bytes: rx,
            client_read_bytes: self.counters.iter().map(|c| c.load(Relaxed)).sum(),
            tcp_mem_pages: proc_net::read_tcp_mem_pages().ok().flatten(),
        }
    }

    /// Samples every [`SAMPLE_INTERVAL`] until `until` (from the start) or
    /// until `done` says so, keeping to the schedule rather than drifting.
    pub fn sample_until(
        &self,
        phase: Phase,
        until: Duration,
        samples: &mut Vec<Sample>,
        progress: &mut dyn FnMut(&Sample),
        done: &dyn Fn() -> bool,
    ) {
        on_schedule(self.start, until, done, || {
            let sample = self.sample(phase);
            progress(&sample);
            samples.push(sample);
        });
    }
}

/// Both ends' queues of the clients' connections to `server` in a read of
/// `/proc/net/tcp`: the server's send queues and the clients' receive
/// queues, each summed over every client found (the table's columns are
/// totals, as its other figures are); none where no socket was.
fn socket_queues(
    table: impl IntoIterator<Item = proc_net::TcpSocket>,
    server: SocketAddr,
    clients: &[SocketAddr],
) -> (Option<u64>, Option<u64>) {
    let (mut tx, mut rx) = (None::<u64>, None::<u64>);
    for socket in table {
        if socket.local == server && clients.contains(&socket.remote) {
            *tx.get_or_insert(0) += socket.tx_queue;
        }
        if clients.contains(&socket.local) && socket.remote == server {
            *rx.get_or_insert(0) += socket.rx_queue;
        }
    }
    (tx, rx)
}

/// Calls `tick` at every [`SAMPLE_INTERVAL`] from `start` up to `until`
/// after it, or until `done` says so. A tick that overran the interval
/// skips the ticks it missed: counting due times instead of reading the
/// clock would run past `until` by every late sample, and the clients
/// would read for longer than the report says.
fn on_schedule(start: Instant, until: Duration, done: &dyn Fn() -> bool, mut tick: impl FnMut()) {
    let interval = SAMPLE_INTERVAL.as_millis();
    loop {
        // The first whole tick after now.
        let ticks = start.elapsed().as_millis() / interval + 1;
        let due = start + SAMPLE_INTERVAL * u32::try_from(ticks).unwrap_or(u32::MAX);
        if due > start + until || done() {
            break;
        }
        thread::sleep(due.saturating_duration_since(Instant::now()));
        tick();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample can take longer than the interval (a scrape on a busy
    /// machine): the run must still end at `until`, skipping the ticks it
    /// missed, not take one sample per tick however late, which would
    /// stretch the reading past `--seconds` by all the samples' lateness.
    #[test]
    fn slow_samples_do_not_stretch_the_schedule() {
        let until = Duration::from_millis(500);
        let slow_sample = SAMPLE_INTERVAL * 5 / 2;
        let mut ticks = 0u32;
        let start = Instant::now();
        on_schedule(start, until, &|| false, || {
            ticks += 1;
            thread::sleep(slow_sample);
        });
        // A late machine only makes samples slower, so fewer: an upper
        // bound on the count that no slowness can break. Ten ticks fit in
        // 500 ms; samples of 125 ms leave room for at most five.
        let most = until.as_millis() / slow_sample.as_millis() + 1;
        assert!(u128::from(ticks) <= most, "{ticks} samples, at most {most}");
        assert!(ticks >= 1);
    }

    /// Two clients' queues are summed, each end's apart, and a socket of
    /// another connection (here the server's own listener, and a client
    /// of another server) counts for nothing.
    #[test]
    fn both_ends_queues_are_summed_over_the_clients() {
        let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let socket = |local, remote, tx_queue, rx_queue| proc_net::TcpSocket {
            local: at(local),
            remote: at(remote),
            state: 1,
            tx_queue,
            rx_queue,
        };
        let table = [
            socket(80, 1001, 100, 0),
            socket(80, 1002, 20, 0),
            socket(1001, 80, 0, 3),
            socket(1002, 80, 0, 4),
            socket(80, 0, 999, 999),
            socket(1001, 81, 999, 999),
        ];
        let clients = [at(1001), at(1002)];
        assert_eq!(socket_queues(table, at(80), &clients), (Some(120), Some(7)));
        assert_eq!(socket_queues([], at(80), &clients), (None, None));
    }
}
