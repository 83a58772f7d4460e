//! Everything `serve` can be told, with every default and every bound.
//!
//! Each limit is a named constant whose doc says what it protects and which
//! production setting it follows; [`ServerConfig::validate`] holds every
//! value to its bound, so the rest of the server can trust its config.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use crate::defense::too_slow::MinDataRate;
use crate::export::csv_rows::MAX_ROWS;

/// Where `serve` listens unless told otherwise: loopback only, because this
/// is a demonstration, not a service to expose.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));

/// Default chunk size: 48 KiB, and `pipeline`'s one buffer. Every chunk
/// costs a chunk header and a `write` call, and in `bounded` a channel
/// hand-off that may wake a thread, so fewer, larger chunks cost less CPU;
/// a stalled `bounded` connection holds (depth + 2) of them, a `pipeline`
/// one, so larger chunks cost memory. Taken from the trade-off's front
/// (`benches/tradeoff.rs`): with depth 1, the point that went fastest
/// while a stalled `bounded` connection stayed under 192 KiB of RSS
/// (`docs/benchmarks.md`, "How the defaults were chosen"). For comparison, hyper reads bodies in up to 16 KiB pieces, Go's
/// `io.Copy` uses 32 KiB, and Node's streams default to 16 KiB or 64 KiB.
pub const DEFAULT_CHUNK_BYTES: usize = 48 * 1024;
/// Largest accepted `--chunk-bytes`: 16 MiB. Beyond that a "chunk" is a
/// buffer of the whole body by another name.
pub const MAX_CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// Default depth of the `bounded` channel: 1. The producer may run one
/// chunk ahead of the writer, so that the writer rarely waits for a
/// hand-off; a stalled connection holds (1 + 2) × 48 KiB = 144 KiB of body.
/// Depth 0, a rendezvous (each `send` waits until the writer takes the
/// chunk), holds 96 KiB, but every hand-off then waits for the other thread
/// to be scheduled, which the trade-off bench measures (`docs/benchmarks.md`,
/// "How the defaults were chosen").
pub const DEFAULT_CHANNEL_DEPTH: usize = 1;
/// Largest accepted `--channel-depth`: 1024. Depth is `bounded`'s memory,
/// (depth + 2) × chunk per connection, every buffer made before the first
/// row: at this depth and the default chunk, about 48 MiB a connection,
/// the unbounded bug with a ceiling. A real service keeps it at a few
/// chunks; the trade-off bench measures depths 0 to 4.
pub const MAX_CHANNEL_DEPTH: usize = 1024;
/// Most body bytes a stalled `bounded` connection may hold, (depth + 2) ×
/// chunk: 64 MiB. Each flag alone has its bound, but together they could
/// ask for 1,026 chunks of 16 MiB, 16 GiB a connection, which no buffer
/// cap counts. The defaults hold 144 KiB.
pub const MAX_BOUNDED_HOLD_BYTES: usize = 64 * 1024 * 1024;

/// Default time a client has to send a whole request head, counted from
/// accept: 10 s. Stricter than Kestrel's 30 s `RequestHeadersTimeout` and
/// Apache's 20-40 s `RequestReadTimeout header=`, because every waiting
/// connection holds a thread here.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest accepted `--header-timeout`: a head that takes minutes to send is
/// an attack, not a client.
pub const MAX_HEADER_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Default longest time a client may acknowledge nothing while a write
/// waits on it, before it is given up on: 60 s, nginx's `send_timeout`.
/// Backpressure must be bounded in time as well as in space: without this,
/// a client that stops reading but keeps its connection open holds the
/// connection's threads and buffers forever. It is counted from the
/// client's last acknowledgement, so a client trickling a byte a minute
/// passes it; [`DEFAULT_MIN_RATE`] is the stricter rule.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest accepted `--send-timeout`: an hour. A client that acknowledges
/// nothing for longer is gone, and holds a connection slot and its threads
/// all the while; a real service stays near nginx's 60 s.
pub const MAX_SEND_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Default `TCP_NOTSENT_LOWAT` of every accepted socket: 16 KiB, the
/// kernel's own high-water mark. Without it the kernel's send queue is the
/// largest buffer in the chain: autotuning grows it to `net.ipv4.tcp_wmem`'s
/// maximum (4 MiB by default) for a client that stalls, many times the
/// userland bound at the defaults (144 KiB), in memory RSS never shows. With it a blocking write waits once this many bytes are unsent
/// and wakes when fewer than half that many are left, so the writer
/// follows the client's drain closely. 16 KiB is Cloudflare's
/// setting; Apple recommends 128 KiB; `docs/benchmarks.md` measures the
/// choice. `off` leaves the kernel's default (no mark).
pub const DEFAULT_NOTSENT_LOWAT: Option<u32> = Some(16 * 1024);
/// Smallest accepted `--notsent-lowat`: below a few segments the writer
/// would wake for every packet.
pub const MIN_NOTSENT_LOWAT: u32 = 4 * 1024;
/// Largest accepted `--notsent-lowat`: past the kernel's own send buffer the
/// mark bounds nothing.
pub const MAX_NOTSENT_LOWAT: u32 = 16 * 1024 * 1024;

/// Default most connections served at once: 256. A blocking server runs out
/// of threads long before it runs out of memory, so the number of
/// connections is capped like any other resource; past the cap a client gets
/// a fast `503` with `Retry-After: 1` instead of a thread. (nginx's
/// `worker_connections` defaults to 512 per worker; Apache's `MaxRequestWorkers`
/// to 256 for its prefork MPM, 400 for its threaded ones; an async server
/// can afford far more.)
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Largest accepted `--max-connections`: an HTTP/1 connection may hold two
/// threads and an HTTP/2 one many more (`envelope.rs` adds them up), and a
/// few thousand threads is where a thread-per-connection server stops being
/// sensible.
pub const MAX_MAX_CONNECTIONS: usize = 4096;

/// Default minimum response data rate: 4 KiB/s. A write of `n` bytes must
/// complete within `max(grace, n / rate)`, however many partial writes it
/// takes: it catches the slow-read attack the send timeout cannot
/// (`defense/send_deadline.rs` explains how). It can be this strict because
/// of the kernel's high-water mark: a blocked writer wakes every half-mark
/// of drain, so a 200 KB/s phone finishes a 48 KiB write in a quarter of a
/// second, fifty times inside its 12 s allowance, while a 2 KB/s reader
/// needs 24 s and is cut at 12. Without the mark a writer wakes only once
/// a third of a 4 MiB buffer has drained, seconds even for that phone,
/// which is why Kestrel's `MinResponseDataRate` has to default to 240 B/s.
pub const DEFAULT_MIN_RATE: u64 = 4 * 1024;
/// Default grace for the minimum data rate: 5 s, Kestrel's. A small write
/// gets at least this long, so a brief stall of a good client is forgiven.
pub const DEFAULT_RATE_GRACE: Duration = Duration::from_secs(5);
/// Longest accepted `--rate-grace`: an hour. A grace that long lets every
/// write take that long however small it is, which turns the minimum rate
/// off; a real service keeps Kestrel's few seconds.
pub const MAX_RATE_GRACE: Duration = Duration::from_secs(60 * 60);

/// Default most bytes one response may hold in userland queues: 512 MiB,
/// room for the 385 MB export, so the lesson's bug can still be watched.
/// A real service would set this near its largest legitimate response, or
/// far lower and stream (`defense/buffer_caps.rs` says what it stops).
pub const DEFAULT_MAX_BUFFERED_BYTES: u64 = 512 * 1024 * 1024;
/// Default most bytes all responses together may hold in userland queues:
/// 1 GiB. The per-response cap alone does not save the process when many
/// clients ask for big buffered bodies at once; this budget does, and it is
/// the number to size against the memory limit of the container.
pub const DEFAULT_MAX_BUFFERED_TOTAL: u64 = 1024 * 1024 * 1024;

/// Default time a shutdown lets in-flight responses drain: 30 s, the
/// common choice (Kubernetes' `terminationGracePeriodSeconds`, systemd's
/// stop timeout is 90 s). A real service sets it from its longest
/// legitimate download at its slowest supported rate, and below whatever
/// will kill it next: a 400 MB export at 200 KB/s needs half an hour, so
/// such a service drains for longer or lets clients resume.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest accepted `--drain-timeout`: an hour. A real service's
/// supervisor kills it far sooner (systemd after 90 s, Kubernetes after
/// its 30 s grace unless raised), so it sets this below that and lets
/// longer downloads resume, as [`DEFAULT_DRAIN_TIMEOUT`] says.
pub const MAX_DRAIN_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Everything `serve` can be told on its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Most bytes per chunk between producer, channel and socket; the size
    /// of `pipeline`'s one buffer.
    pub chunk_bytes: usize,
    /// Chunks the `bounded` channel holds before the producer blocks.
    pub channel_depth: usize,
    /// Most rows one export may ask for (at most [`MAX_ROWS`]).
    pub max_rows: u64,
    /// Time from accept by which the whole request head must have arrived.
    pub header_timeout: Duration,
    /// Longest the client may acknowledge nothing while a write waits.
    pub send_timeout: Duration,
    /// Connections served at once; more are answered 503 by the rejecter.
    pub max_connections: usize,
    /// Unsent bytes in the kernel at which a write blocks
    /// (`TCP_NOTSENT_LOWAT`), so that it holds at most this and one write
    /// unsent per socket; `None` leaves the kernel's default.
    pub notsent_lowat: Option<u32>,
    /// Bytes per second: a write of `n` bytes must finish within
    /// max(`rate_grace`, `n` ÷ this).
    pub min_rate: u64,
    /// Least time any write gets, however small.
    pub rate_grace: Duration,
    /// Most bytes one response may queue in userland.
    pub max_buffered_bytes: u64,
    /// Most bytes all responses together may queue in userland.
    pub max_buffered_total: u64,
    /// How long a shutdown lets in-flight responses drain before it cuts
    /// them; 0 cuts at once.
    pub drain_timeout: Duration,
    /// No access log on stderr.
    pub quiet: bool,
    /// Exit when stdin reaches end-of-file: set by the demo, whose server
    /// child must not outlive it (see `demo/child.rs`).
    pub exit_on_stdin_eof: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: DEFAULT_ADDR,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            channel_depth: DEFAULT_CHANNEL_DEPTH,
            max_rows: MAX_ROWS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            notsent_lowat: DEFAULT_NOTSENT_LOWAT,
            min_rate: DEFAULT_MIN_RATE,
            rate_grace: DEFAULT_RATE_GRACE,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            max_buffered_total: DEFAULT_MAX_BUFFERED_TOTAL,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            quiet: false,
            exit_on_stdin_eof: false,
        }
    }
}

impl ServerConfig {
    /// Checks every value against its documented bound; the error names the
    /// command-line flag, so it can be shown to a user as it is.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_CHUNK_BYTES).contains(&self.chunk_bytes) {
            return Err(format!(
                "--chunk-bytes must be from 1 to {}m",
                MAX_CHUNK_BYTES >> 20
            ));
        }
        if self.channel_depth > MAX_CHANNEL_DEPTH {
            return Err(format!(
                "--channel-depth must be from 0 to {MAX_CHANNEL_DEPTH}"
            ));
        }
        if (self.channel_depth + 2).saturating_mul(self.chunk_bytes) > MAX_BOUNDED_HOLD_BYTES {
            return Err(format!(
                "(--channel-depth + 2) x --chunk-bytes must be at most {}m",
                MAX_BOUNDED_HOLD_BYTES >> 20
            ));
        }
        if self.max_rows > MAX_ROWS {
            return Err(format!("--max-rows can only lower the cap of {MAX_ROWS}"));
        }
        if self.header_timeout.is_zero() || self.header_timeout > MAX_HEADER_TIMEOUT {
            return Err(format!(
                "--header-timeout must be from 1ms to {}",
                minutes(MAX_HEADER_TIMEOUT)
            ));
        }
        if self.send_timeout.is_zero() || self.send_timeout > MAX_SEND_TIMEOUT {
            return Err(format!(
                "--send-timeout must be from 1ms to {}",
                minutes(MAX_SEND_TIMEOUT)
            ));
        }
        if !(1..=MAX_MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(format!(
                "--max-connections must be from 1 to {MAX_MAX_CONNECTIONS}"
            ));
        }
        if self
            .notsent_lowat
            .is_some_and(|bytes| !(MIN_NOTSENT_LOWAT..=MAX_NOTSENT_LOWAT).contains(&bytes))
        {
            return Err(format!(
                "--notsent-lowat must be from {}k to {}m, or off",
                MIN_NOTSENT_LOWAT >> 10,
                MAX_NOTSENT_LOWAT >> 20
            ));
        }
        if self.min_rate == 0 {
            return Err("--min-rate must be at least 1 byte per second".to_string());
        }
        if self.rate_grace > MAX_RATE_GRACE {
            return Err(format!(
                "--rate-grace must be at most {}",
                minutes(MAX_RATE_GRACE)
            ));
        }
        if self.drain_timeout > MAX_DRAIN_TIMEOUT {
            return Err(format!(
                "--drain-timeout must be at most {}",
                minutes(MAX_DRAIN_TIMEOUT)
            ));
        }
        Ok(())
    }

    /// `--min-rate` and `--rate-grace` as the rule an export's writes are
    /// held to, over HTTP/1.1 and HTTP/2 alike, and every HTTP/2 response's.
    /// HTTP/1's small answers (`/metrics` the largest) go into the
    /// kernel's send buffer in one write, and have the send timeout alone.
    pub fn min_data_rate(&self) -> MinDataRate {
        MinDataRate {
            bytes_per_second: self.min_rate,
            grace: self.rate_grace,
        }
    }

    /// Connections whose response is out and whose close waits (500 ms at
    /// most) for the client to hang up, each with a thread and a socket
    /// but no slot: as many as the slots, so that every client served can
    /// connect again at once (`ab` does) while its last connection closes.
    /// The accept loop's list of threads to join has room for both.
    pub fn max_closing(&self) -> usize {
        self.max_connections
    }
}

/// `10m`: a bound in whole minutes, as `--help` writes durations.
fn minutes(duration: Duration) -> String {
    format!("{}m", duration.as_secs() / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimum rate of zero is refused here too, not only by the flag's
    /// syntax: a configuration built in code (a test's server, a bench's)
    /// passes through `validate` alone.
    #[test]
    fn a_minimum_rate_of_zero_is_refused() {
        let zero = ServerConfig {
            min_rate: 0,
            ..ServerConfig::default()
        };
        let refused = zero.validate().expect_err("a rate of zero");
        assert_eq!(refused, "--min-rate must be at least 1 byte per second");
    }

    /// Depth and chunk are held to their product, at its bound exactly:
    /// the largest depth at the default chunk, and the largest chunk at
    /// depth 2, are served; one more chunk at the largest chunk, or 64 KiB
    /// chunks at the largest depth, is refused.
    #[test]
    fn depth_and_chunk_together_hold_at_most_their_bound() {
        let with = |channel_depth, chunk_bytes| ServerConfig {
            channel_depth,
            chunk_bytes,
            ..ServerConfig::default()
        };
        assert_eq!(
            with(MAX_CHANNEL_DEPTH, DEFAULT_CHUNK_BYTES).validate(),
            Ok(())
        );
        assert_eq!(with(2, MAX_CHUNK_BYTES).validate(), Ok(()));
        for (depth, chunk) in [(3, MAX_CHUNK_BYTES), (MAX_CHANNEL_DEPTH, 64 * 1024)] {
            let refused = with(depth, chunk).validate().expect_err("over the bound");
            assert!(refused.contains("at most 64m"), "{refused}");
        }
    }

    /// Each duration's bound is the largest value served, not the first
    /// refused: the header and send timeouts, the rate's grace and the
    /// drain timeout at exactly their maxima are served; a millisecond
    /// more is refused, with the bound its flag's own (a message naming
    /// another flag's would mislead whoever reads it).
    #[test]
    fn every_duration_at_its_bound_is_served_and_past_it_refused() {
        type Set = fn(&mut ServerConfig, Duration);
        let limits: [(Set, Duration, &str); 4] = [
            (
                |c, d| c.header_timeout = d,
                MAX_HEADER_TIMEOUT,
                "--header-timeout must be from 1ms to 10m",
            ),
            (
                |c, d| c.send_timeout = d,
                MAX_SEND_TIMEOUT,
                "--send-timeout must be from 1ms to 60m",
            ),
            (
                |c, d| c.rate_grace = d,
                MAX_RATE_GRACE,
                "--rate-grace must be at most 60m",
            ),
            (
                |c, d| c.drain_timeout = d,
                MAX_DRAIN_TIMEOUT,
                "--drain-timeout must be at most 60m",
            ),
        ];
        for (set, most, refusal) in limits {
            let with = |d| {
                let mut config = ServerConfig::default();
                set(&mut config, d);
                config.validate()
            };
            assert_eq!(with(most), Ok(()), "{most:?}");
            let past = most + Duration::from_millis(1);
            assert_eq!(with(past), Err(refusal.to_string()), "{past:?}");
        }
    }

    /// A chunk from 1 byte to 16 MiB and a depth up to 1,024 are served
    /// (each within the product's bound), one past either end refused with
    /// the flag's own bounds: that bound is what keeps one channel's
    /// buffers, (depth + 2) x chunk, a known size.
    #[test]
    fn chunk_and_depth_each_hold_their_own_bounds() {
        let with = |channel_depth, chunk_bytes| ServerConfig {
            channel_depth,
            chunk_bytes,
            ..ServerConfig::default()
        };
        assert_eq!(with(1, 1).validate(), Ok(()));
        assert_eq!(with(1, MAX_CHUNK_BYTES).validate(), Ok(()));
        assert_eq!(with(MAX_CHANNEL_DEPTH, 1).validate(), Ok(()));
        let chunk = Err("--chunk-bytes must be from 1 to 16m".to_string());
        assert_eq!(with(1, 0).validate(), chunk);
        assert_eq!(with(1, MAX_CHUNK_BYTES + 1).validate(), chunk);
        let depth = Err("--channel-depth must be from 0 to 1024".to_string());
        assert_eq!(with(MAX_CHANNEL_DEPTH + 1, 1).validate(), depth);
    }

    /// The bounds on counts are served at both ends, and refused one past:
    /// `--notsent-lowat` from 4k to 16m, `--max-connections` from 1 to
    /// 4096.
    #[test]
    fn every_count_at_its_bounds_is_served_and_past_them_refused() {
        let lowat = |bytes| ServerConfig {
            notsent_lowat: Some(bytes),
            ..ServerConfig::default()
        };
        let cap = |max_connections| ServerConfig {
            max_connections,
            ..ServerConfig::default()
        };
        for served in [
            lowat(MIN_NOTSENT_LOWAT),
            lowat(MAX_NOTSENT_LOWAT),
            cap(1),
            cap(MAX_MAX_CONNECTIONS),
        ] {
            assert_eq!(served.validate(), Ok(()), "{served:?}");
        }
        for refused in [
            lowat(MIN_NOTSENT_LOWAT - 1),
            lowat(MAX_NOTSENT_LOWAT + 1),
            cap(0),
            cap(MAX_MAX_CONNECTIONS + 1),
        ] {
            assert!(refused.validate().is_err(), "{refused:?}");
        }
    }
}
