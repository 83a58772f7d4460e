//! Turning a connection away at the cap: a `503` that reaches the client,
//! without a thread per connection and without ever blocking the accept
//! loop.
//!
//! At `--max-connections` the whole point is to spend nothing on the new
//! connection, yet "close it" is not good enough: a client deserves a status
//! it can act on (`Retry-After: 1`), and a load balancer needs one to try
//! elsewhere. Two traps lie between the two:
//!
//! 1. **The reset.** The client's request usually arrives a moment *after*
//!    the accept. Closing a socket that has unread input makes the kernel
//!    send a reset (RFC 9293 §3.6.1), and a reset can destroy the `503` in
//!    the client's receive buffer before it is read. So the socket must stay
//!    open, and its input be read and thrown away, until the client has had
//!    a moment to send and to read.
//! 2. **The slow client.** That lingering must not happen on the accept
//!    loop, or one client that never sends would stall every accept.
//!
//! So the accept loop only does what cannot block: it writes the `503`
//! without blocking (a fresh socket's send buffer is empty, so 100 bytes
//! always fit), shuts down its write side (the client sees the end of the
//! response at once), and hands the socket to one **lingering thread**. That
//! thread, started once with the server, holds at most [`MAX_LINGERING`]
//! sockets, drains each without blocking for up to [`LINGER_TIME`], and
//! closes it when the client closes or the time is up. When it is full, a
//! socket is simply closed: under that much load a reset is the lesser evil.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use crate::http::response::{self, Status, TEXT_PLAIN};
use crate::measure::access_log::{AccessRecord, End, Outcome};
use crate::measure::clock;
use crate::measure::metrics::METRICS;

/// When a turned-away client should try again, in `Retry-After` and in the
/// 503's one-line reason: a second, in which a connection usually frees.
const RETRY_AFTER_SECONDS: u32 = 1;
/// Stack of the lingering thread: a loop over a `Vec` of sockets.
const LINGER_STACK_BYTES: usize = 64 * 1024;

/// How long a turned-away socket stays open to swallow the client's request.
/// The request is usually already there, or arrives within a round trip.
pub const LINGER_TIME: Duration = Duration::from_secs(1);
/// Most sockets lingering at once: each holds a file descriptor, the one
/// resource a flood would otherwise exhaust through this door.
pub const MAX_LINGERING: usize = 1024;
/// Sockets waiting to be taken by the lingering thread.
const HANDOFF_QUEUE: usize = 64;
/// How often the lingering thread looks at its sockets while it has any.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Most bytes drained per socket per look: a client that streams input
/// cannot keep the thread busy.
const DRAIN_PER_POLL: usize = 16 * 1024;

/// The accept loop's side: turns connections away.
#[derive(Debug)]
pub struct Rejecter {
    /// To the lingering thread. Bounded, and only `try_send` is used: the
    /// accept loop never waits on it.
    handoff: SyncSender<TcpStream>,
    /// The 503's body, made once: a one-line reason. Its head is made per
    /// response, since each carries its own `Date`.
    reason: String,
    /// No access-log line per rejection (`serve --quiet`).
    quiet: bool,
}

impl Rejecter {
    /// Starts the lingering thread; it ends when the `Rejecter` is dropped.
    /// Unless `quiet`, each rejection gets an access-log line.
    pub fn start(quiet: bool) -> io::Result<Rejecter> {
        let (handoff, incoming) = mpsc::sync_channel(HANDOFF_QUEUE);
        thread::Builder::new()
            .name("rejecter".into())
            .stack_size(LINGER_STACK_BYTES)
            .spawn(move || linger(incoming))?;
        let seconds = RETRY_AFTER_SECONDS;
        let reason = format!("server at its connection limit; retry in {seconds} s\n");
        Ok(Rejecter {
            handoff,
            reason,
            quiet,
        })
    }

    /// The whole 503, dated `unix_seconds`: status, `Retry-After` so clients
    /// and balancers know when to try again, and the one-line reason.
    fn response(&self, unix_seconds: u64) -> Vec<u8> {
        let reason = self.reason.as_bytes();
        let head = response::small_head(Status::ServiceUnavailable, TEXT_PLAIN, reason)
            .header("Retry-After", RETRY_AFTER_SECONDS.to_string());
        let mut response = head.to_bytes(unix_seconds);
        response.extend_from_slice(reason);
        response
    }

    /// Answers `stream` (from `peer`) with a 503 and lets it linger; never
    /// blocks. Counts it in `backpressure_connections_rejected_total`.
    pub fn reject(&self, stream: TcpStream, peer: SocketAddr) {
        METRICS.rejected();
        let answered = stream.set_nonblocking(true).is_ok()
            // A fresh socket has room for 100 bytes; if this fails there is
            // no one to tell.
            && (&stream).write_all(&self.response(clock::now_unix_seconds())).is_ok();
        if answered {
            // Like every other 503, in the responses counter too.
            METRICS.responded(None, Status::ServiceUnavailable);
        }
        if !self.quiet {
            let mut outcome = Outcome::ended(End::Rejected);
            if answered {
                outcome.status = Some(Status::ServiceUnavailable);
                outcome.body_bytes = self.reason.len() as u64;
            }
            AccessRecord {
                peer: Some(peer),
                request_line: None,
                duration: Duration::ZERO,
                outcome,
            }
            .write();
        }
        if !answered {
            return;
        }
        let _ = stream.shutdown(Shutdown::Write);
        // If the queue is full, the socket closes here. It cannot be
        // disconnected while the thread runs; if it died, closing is all
        // that is left.
        let _ = self.handoff.try_send(stream);
    }
}

/// The lingering thread: drains each socket until its client closes or
/// [`LINGER_TIME`] passes.
fn linger(incoming: Receiver<TcpStream>) {
    let mut lingering: Vec<(TcpStream, Instant)> = Vec::new();
    let mut next_sweep = Instant::now();
    loop {
        // Nothing to watch: sleep until a socket arrives. Otherwise wait for
        // one until the next sweep is due.
        let next = if lingering.is_empty() {
            incoming.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            incoming.recv_timeout(next_sweep.saturating_duration_since(Instant::now()))
        };
        match next {
            Ok(stream) => {
                // Take everything waiting. Past MAX_LINGERING a socket is
                // closed at once (dropped here).
                let arrived = std::iter::once(stream).chain(incoming.try_iter());
                for stream in arrived {
                    if lingering.len() < MAX_LINGERING {
                        lingering.push((stream, Instant::now() + LINGER_TIME));
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // One read per socket per POLL_INTERVAL, however fast sockets
        // arrive: a flood must not turn into a flood of system calls.
        let now = Instant::now();
        if now >= next_sweep {
            lingering.retain(|(stream, until)| now < *until && still_open(stream));
            next_sweep = now + POLL_INTERVAL;
            if lingering.is_empty() {
                // An idle server holds nothing for rejected connections, not
                // even the list's capacity.
                lingering.shrink_to_fit();
            }
        }
    }
}

/// Reads and discards what the client sent; false once it has closed (or
/// failed), so the socket can go.
fn still_open(stream: &TcpStream) -> bool {
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < DRAIN_PER_POLL {
        match (&*stream).read(&mut sink) {
            Ok(0) => return false,
            Ok(n) => drained += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_response_is_well_framed() {
        let rejecter = Rejecter::start(true).unwrap();
        let response = rejecter.response(784_111_777);
        let text = std::str::from_utf8(&response).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body, "server at its connection limit; retry in 1 s\n");
        assert_eq!(length, rejecter.reason.len());
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
        assert!(head.contains("\r\nRetry-After: 1"));
    }

    /// The request arrives after the 503 was written and the socket handed
    /// over: the client must still read the whole 503, not a reset.
    #[test]
    fn a_late_request_still_gets_the_whole_503() {
        let rejecter = Rejecter::start(true).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        rejecter.reject(accepted, peer);
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Late indeed: the 503 is already in the client's receive buffer
        // before a byte of the request is sent.
        let mut first = [0u8; 12];
        let peeked = client.peek(&mut first).unwrap();
        assert_eq!(&first[..peeked], &b"HTTP/1.1 503"[..peeked]);
        assert!(peeked > 0);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        let (head, body) = got.split_at(got.len() - rejecter.reason.len());
        assert!(head.starts_with(b"HTTP/1.1 503 ") && head.ends_with(b"\r\n\r\n"));
        assert_eq!(body, rejecter.reason.as_bytes());
    }
}
