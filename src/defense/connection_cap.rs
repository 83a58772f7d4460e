//! Turning a connection away at the cap: a `503` that reaches the client,
//! without a thread per connection and without ever blocking the accept
//! loop.
//!
//! At `--max-connections` the whole point is to spend nothing on the new
//! connection, yet "close it" is not good enough: a client deserves a status
//! it can act on (`Retry-After: 1`), and a load balancer needs one to try
//! elsewhere. Three traps lie between the two:
//!
//! 1. **The reset.** The client's request usually arrives a moment *after*
//!    the accept. Closing a socket that has unread input makes the kernel
//!    send a reset (RFC 9293 §3.6.1), and a reset can destroy the `503` in
//!    the client's receive buffer before it is read. So the socket must stay
//!    open, and its input be read and thrown away, until the client has had
//!    a moment to send and to read.
//! 2. **HEAD.** An answer to HEAD carries no body, not even a 503's (RFC
//!    9110 §9.3.2), and a strict client (h11) takes one that does for a
//!    broken response. So the 503 cannot be written at accept, before the
//!    request has arrived: its first bytes must be seen, which takes a
//!    round trip.
//! 3. **The slow client.** That waiting and lingering must not happen on the
//!    accept loop, or one client that never sends would stall every accept.
//!
//! So the accept loop only does what cannot block: it hands the socket to
//! one **lingering thread**, through a queue as deep as the thread holds
//! sockets. That thread, started once with the server, looks at each socket
//! every [`POLL_INTERVAL`], never blocking on any:
//!
//! - until the request's first bytes say whether it is HEAD, it only peeks.
//!   After [`METHOD_WAIT`] without them it stops waiting and answers as to
//!   a GET: a client that has sent nothing in that time is not a browser;
//! - then it writes the 503 (a fresh socket's send buffer is empty, so 200
//!   bytes always fit), head only for HEAD, shuts down its write side (the
//!   client sees the end of the response at once), and logs the rejection.
//!   A client whose first bytes are HTTP/2's preface could not read a 503:
//!   it gets the server's SETTINGS and a GOAWAY naming stream 0, which
//!   tells it that nothing was processed and it may retry (RFC 9113 §6.8);
//! - then it drains the socket until [`LINGER_TIME`] after accept, and
//!   closes it when the client closes or the time is up.
//!
//! It holds at most [`MAX_LINGERING`] sockets. When a new one finds it full,
//! the one that has lingered longest makes room: its client has had the most
//! time to send and to read. Only if the queue itself is full (the thread has
//! not run while that many connections arrived) does the accept loop answer
//! on its own, as to a GET, and close at once: under that much load a reset
//! is the lesser evil.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::http::h2::frame::{self, ErrorCode, PREFACE_HEAD};
use crate::http::request;
use crate::http::response::{self, Status, TEXT_PLAIN};
use crate::measure::access_log::{AccessRecord, End, Outcome};
use crate::measure::clock;
use crate::measure::metrics::METRICS;

/// When a turned-away client should try again, in `Retry-After` and in the
/// 503's one-line reason: a second, in which a connection usually frees.
const RETRY_AFTER_SECONDS: u32 = 1;
/// Stack of the lingering thread: a loop over a queue of sockets.
const LINGER_STACK_BYTES: usize = 64 * 1024;

/// How long a turned-away socket may wait for the first bytes of its
/// request, to learn whether it is HEAD. A client sends its request with
/// the handshake's last ACK or right after, so a round trip is plenty; a
/// real server, which reads the request anyway, needs no such wait.
pub const METHOD_WAIT: Duration = Duration::from_millis(250);
/// How long a turned-away socket stays open from accept, to swallow the
/// client's request. The request is usually already there, or arrives
/// within a round trip.
pub const LINGER_TIME: Duration = Duration::from_secs(1);
/// Most sockets lingering at once: each holds a file descriptor, the one
/// resource a flood would otherwise exhaust through this door. The queue
/// to the thread holds as many again at most.
pub const MAX_LINGERING: usize = 1024;
/// Sockets waiting to be taken by the lingering thread: as many as it
/// holds, so that a burst it has room for never finds the queue full while
/// it is between looks. At 64, `ab -c 100` against `--max-connections 32`
/// on two cores did, and dozens of 503s in 5 000 were lost to a reset.
const HANDOFF_QUEUE: usize = MAX_LINGERING;
/// How often the lingering thread looks at its sockets while it has any.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Most bytes drained per socket per look: a client that streams input
/// cannot keep the thread busy.
const DRAIN_PER_POLL: usize = 16 * 1024;
/// Bytes peeked at to find the method: `HEAD ` after a few empty lines, or
/// the first line of HTTP/2's preface.
const METHOD_PEEK_BYTES: usize = PREFACE_HEAD.len();

/// The accept loop's side: turns connections away.
#[derive(Debug)]
pub struct Rejecter {
    /// To the lingering thread. Bounded, and only `try_send` is used: the
    /// accept loop never waits on it.
    handoff: SyncSender<Lingering>,
    /// The lingering thread, joined by [`Rejecter::stop`].
    lingering: JoinHandle<()>,
    /// For the rare socket the queue has no room for.
    answer: Answer,
}

/// The 503 and its log line, written by whoever answers: the lingering
/// thread, or the accept loop when the queue is full.
#[derive(Clone, Debug)]
struct Answer {
    /// The 503's body, made once: a one-line reason. Its head is made per
    /// response, since each carries its own `Date`.
    reason: String,
    /// No access-log line per rejection (`serve --quiet`).
    quiet: bool,
}

/// A turned-away socket, from accept until it closes.
#[derive(Debug)]
struct Lingering {
    /// The client's socket, non-blocking.
    stream: TcpStream,
    /// The client's address, for the access log.
    peer: SocketAddr,
    /// [`METHOD_WAIT`] and [`LINGER_TIME`] count from here.
    accepted_at: Instant,
    /// Whether the 503 is written. Until then input is only peeked at, so
    /// that the method is still there to be seen.
    answered: bool,
}

/// What a turned-away client asked for, as far as its first bytes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    /// Anything over HTTP/1 but HEAD: the whole 503.
    Get,
    /// HEAD: the 503's head alone.
    Head,
    /// HTTP/2 with prior knowledge: SETTINGS and GOAWAY in place of a 503.
    Http2,
}

impl Asked {
    /// What `start`, a request's first bytes, asks for; `None` while they
    /// do not tell yet.
    fn of(start: &[u8]) -> Option<Asked> {
        if start.starts_with(PREFACE_HEAD) {
            Some(Asked::Http2)
        } else if PREFACE_HEAD.starts_with(start) {
            None
        } else {
            request::is_head(start).map(|head| if head { Asked::Head } else { Asked::Get })
        }
    }
}

impl Rejecter {
    /// Starts the lingering thread; [`Rejecter::stop`] ends it. Unless
    /// `quiet`, each rejection gets an access-log line.
    pub fn start(quiet: bool) -> io::Result<Rejecter> {
        let (handoff, incoming) = mpsc::sync_channel(HANDOFF_QUEUE);
        let seconds = RETRY_AFTER_SECONDS;
        let answer = Answer {
            reason: format!("server at its connection limit; retry in {seconds} s\n"),
            quiet,
        };
        let for_thread = answer.clone();
        let lingering = thread::Builder::new()
            .name("rejecter".into())
            .stack_size(LINGER_STACK_BYTES)
            .spawn(move || linger(incoming, &for_thread))?;
        Ok(Rejecter {
            handoff,
            lingering,
            answer,
        })
    }

    /// Ends the lingering thread (the sockets it still holds are closed)
    /// and joins it.
    pub fn stop(self) {
        drop(self.handoff);
        let _ = self.lingering.join();
    }

    /// Turns `stream` (from `peer`) away with a 503 (a GOAWAY if it speaks
    /// HTTP/2), written by the lingering thread once it knows the method;
    /// never blocks. Counts it in
    /// `backpressure_connections_rejected_total`.
    pub fn reject(&self, stream: TcpStream, peer: SocketAddr) {
        METRICS.rejected();
        let nonblocking = stream.set_nonblocking(true).is_ok();
        let socket = Lingering {
            stream,
            peer,
            accepted_at: Instant::now(),
            answered: false,
        };
        // A socket that cannot be made non-blocking could stall whoever
        // writes to it; closing is all that is left.
        if !nonblocking {
            return socket.log(&self.answer, None);
        }
        match self.handoff.try_send(socket) {
            Ok(()) => {}
            // The thread cannot be disconnected while it runs; if it died,
            // answering here is all that is left, as when the queue is full.
            Err(TrySendError::Full(mut socket) | TrySendError::Disconnected(mut socket)) => {
                let asked = socket.peek_asked().unwrap_or(Asked::Get);
                socket.answer(&self.answer, asked);
            }
        }
    }
}

impl Answer {
    /// The whole 503, dated `unix_seconds`: status, `Retry-After` so clients
    /// and balancers know when to try again, and the one-line reason unless
    /// HEAD asked. The head says the reason's length either way. Over
    /// HTTP/2, the server's preface (an empty SETTINGS) and a GOAWAY with
    /// the reason as its debug data.
    fn response(&self, unix_seconds: u64, asked: Asked) -> Vec<u8> {
        let reason = self.reason.as_bytes();
        if asked == Asked::Http2 {
            let mut frames = Vec::new();
            frame::settings(&mut frames, &[]);
            let debug = reason.trim_ascii_end();
            frame::goaway(&mut frames, 0, ErrorCode::RefusedStream, debug);
            return frames;
        }
        let head = response::small_head(Status::ServiceUnavailable, TEXT_PLAIN, reason)
            .header("Retry-After", RETRY_AFTER_SECONDS.to_string());
        let mut response = head.to_bytes(unix_seconds);
        if asked == Asked::Get {
            response.extend_from_slice(reason);
        }
        response
    }
}

impl Lingering {
    /// Writes the 503 (or GOAWAY), counts and logs it, and shuts down the
    /// write side; false if the write failed, and there is no one to tell.
    fn answer(&mut self, answer: &Answer, asked: Asked) -> bool {
        self.answered = true;
        let response = answer.response(clock::now_unix_seconds(), asked);
        let written = (&self.stream).write_all(&response).is_ok();
        if written {
            match asked {
                Asked::Http2 => METRICS.http2_goaway(ErrorCode::RefusedStream),
                // Like every other 503, in the responses counter too.
                Asked::Get | Asked::Head => METRICS.responded(None, Status::ServiceUnavailable),
            }
            let _ = self.stream.shutdown(Shutdown::Write);
        }
        let body_bytes = if asked == Asked::Get {
            answer.reason.len()
        } else {
            0
        };
        let status = (asked != Asked::Http2).then_some(Status::ServiceUnavailable);
        self.log(answer, written.then_some((status, body_bytes as u64)));
        written
    }

    /// The rejection's access-log line, unless `quiet`: with the 503 (none
    /// over HTTP/2) and its `body_bytes` if it was written, without a
    /// status if not.
    fn log(&self, answer: &Answer, written: Option<(Option<Status>, u64)>) {
        if answer.quiet {
            return;
        }
        let mut outcome = Outcome::ended(End::Rejected);
        if let Some((status, body_bytes)) = written {
            outcome.status = status;
            outcome.body_bytes = body_bytes;
        }
        AccessRecord {
            peer: Some(self.peer),
            request_line: None,
            duration: self.accepted_at.elapsed(),
            outcome,
        }
        .write();
    }

    /// One look at the socket, `now`: answers it once its method is known
    /// or [`METHOD_WAIT`] has passed, drains it once answered. False once it
    /// can go: its client closed, the write failed, or [`LINGER_TIME`] is up.
    fn look(&mut self, answer: &Answer, now: Instant) -> bool {
        if !self.answered {
            let asked = match self.peek_asked() {
                Some(asked) => asked,
                None if now < self.accepted_at + METHOD_WAIT => return true,
                None => Asked::Get,
            };
            if !self.answer(answer, asked) {
                return false;
            }
        }
        now < self.accepted_at + LINGER_TIME && still_open(&self.stream)
    }

    /// What the client asked for, from its first bytes, left in place;
    /// `None` while they do not tell yet. A client that closed or failed is
    /// answered as to a GET: the write will tell whether anyone is there.
    fn peek_asked(&self) -> Option<Asked> {
        let mut first = [0u8; METHOD_PEEK_BYTES];
        match self.stream.peek(&mut first) {
            Ok(0) => Some(Asked::Get),
            Ok(n) => Asked::of(&first[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
            Err(_) => Some(Asked::Get),
        }
    }

    /// The socket has to go before its time, to make room: answered first
    /// if it was not yet, as to a GET unless its first bytes already say
    /// otherwise, since it cannot wait any longer.
    fn evict(mut self, answer: &Answer) {
        if !self.answered {
            let asked = self.peek_asked().unwrap_or(Asked::Get);
            self.answer(answer, asked);
        }
    }
}

/// The lingering thread: answers each socket, then drains it until its
/// client closes or [`LINGER_TIME`] passes.
fn linger(incoming: Receiver<Lingering>, answer: &Answer) {
    // In order of arrival, so the front has lingered longest.
    let mut lingering: VecDeque<Lingering> = VecDeque::new();
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
            Ok(socket) => {
                // Take everything waiting, making room where it is full.
                for socket in std::iter::once(socket).chain(incoming.try_iter()) {
                    if lingering.len() == MAX_LINGERING {
                        if let Some(oldest) = lingering.pop_front() {
                            oldest.evict(answer);
                        }
                    }
                    lingering.push_back(socket);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // One look per socket per POLL_INTERVAL, however fast sockets
        // arrive: a flood must not turn into a flood of system calls.
        let now = Instant::now();
        if now >= next_sweep {
            lingering.retain_mut(|socket| socket.look(answer, now));
            next_sweep = now + POLL_INTERVAL;
            if lingering.is_empty() {
                // An idle server holds nothing for rejected connections, not
                // even the queue's capacity.
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

    /// A client connected to a socket `rejecter` has turned away.
    fn turned_away(rejecter: &Rejecter) -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        rejecter.reject(accepted, peer);
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client
    }

    #[test]
    fn the_response_is_well_framed_with_or_without_its_body() {
        let rejecter = Rejecter::start(true).unwrap();
        let reason = &rejecter.answer.reason;
        let response = rejecter.answer.response(784_111_777, Asked::Get);
        let text = std::str::from_utf8(&response).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, "server at its connection limit; retry in 1 s\n");
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
        assert!(head.contains("\r\nRetry-After: 1"));
        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", reason.len())));
        let head_only = rejecter.answer.response(784_111_777, Asked::Head);
        assert_eq!(head_only, &response[..head.len() + 4]);
    }

    /// The first bytes tell HEAD from the rest, and HTTP/2's preface from
    /// HTTP/1, once there are enough of them.
    #[test]
    fn what_was_asked_is_known_from_the_first_bytes() {
        assert_eq!(Asked::of(b"PRI * HTTP/2.0\r\n\r\n"), Some(Asked::Http2));
        assert_eq!(Asked::of(b"PRI * HTTP/2"), None);
        assert_eq!(Asked::of(b"PRI /x HTTP/1.1"), Some(Asked::Get));
        assert_eq!(Asked::of(b"\r\nHEAD / HTTP/1.1"), Some(Asked::Head));
        assert_eq!(Asked::of(b"HEA"), None);
        assert_eq!(Asked::of(b"GET /"), Some(Asked::Get));
    }

    /// Over HTTP/2: an empty SETTINGS (the server's preface), then GOAWAY
    /// naming stream 0 with REFUSED_STREAM and the reason.
    #[test]
    fn an_http2_client_is_sent_away_in_frames() {
        let rejecter = Rejecter::start(true).unwrap();
        let frames = rejecter.answer.response(784_111_777, Asked::Http2);
        let reason = b"server at its connection limit; retry in 1 s";
        let mut expected = vec![0, 0, 0, 4, 0, 0, 0, 0, 0];
        expected.extend_from_slice(&[0, 0, 8 + reason.len() as u8, 7, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
        expected.extend_from_slice(reason);
        assert_eq!(frames, expected);
    }

    /// Sends a request on a turned-away connection and reads the answer
    /// to its end, which must be the 503.
    fn request_the_503(client: &mut TcpStream) -> Vec<u8> {
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert!(got.starts_with(b"HTTP/1.1 503 "));
        got
    }

    /// The request arrives after the 503 was written: the client must
    /// still read the whole 503, not a reset.
    #[test]
    fn a_late_request_still_gets_the_whole_503() {
        let rejecter = Rejecter::start(true).unwrap();
        let mut client = turned_away(&rejecter);
        // Late indeed: after METHOD_WAIT the 503 is in the client's receive
        // buffer before a byte of the request is sent.
        let mut first = [0u8; 12];
        let peeked = client.peek(&mut first).unwrap();
        assert_eq!(&first[..peeked], &b"HTTP/1.1 503"[..peeked]);
        assert!(peeked > 0);
        let got = request_the_503(&mut client);
        assert!(got.ends_with(rejecter.answer.reason.as_bytes()));
    }

    /// A client that keeps sending and never closes is let go after
    /// [`LINGER_TIME`], not drained until later rejections push it out of
    /// the list: its socket closes, and a write then meets a reset.
    #[test]
    fn a_client_that_never_closes_is_let_go_after_the_linger_time() {
        let rejecter = Rejecter::start(true).unwrap();
        let mut client = turned_away(&rejecter);
        request_the_503(&mut client);
        let started = Instant::now();
        let closed = loop {
            if client.write_all(b"x").is_err() {
                break true;
            }
            if started.elapsed() > 5 * LINGER_TIME {
                break false;
            }
            thread::sleep(5 * POLL_INTERVAL);
        };
        assert!(closed, "still open after {:?}", started.elapsed());
    }

    /// A HEAD request gets the 503's head and no body, even after an empty
    /// line and split across two writes; a GET gets the body.
    #[test]
    fn head_gets_no_body_and_get_does() {
        let rejecter = Rejecter::start(true).unwrap();
        for (pieces, body) in [
            (
                &[&b"\r\nHE"[..], b"AD / HTTP/1.1\r\nHost: a\r\n\r\n"][..],
                false,
            ),
            (&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"], true),
        ] {
            let mut client = turned_away(&rejecter);
            client.set_nodelay(true).unwrap();
            for piece in pieces {
                client.write_all(piece).unwrap();
                thread::sleep(Duration::from_millis(30));
            }
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            let reason = rejecter.answer.reason.as_bytes();
            assert!(got.starts_with(b"HTTP/1.1 503 "), "{pieces:?}");
            assert_eq!(got.ends_with(reason), body, "{pieces:?}");
            assert_eq!(got.ends_with(b"\r\n\r\n"), !body, "{pieces:?}");
        }
    }
}
