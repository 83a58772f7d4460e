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
//! - until the request's head has arrived whole, it only peeks. After
//!   [`HEAD_WAIT`] it stops waiting, and the first bytes decide: HEAD, or
//!   anything else answered as a GET; a client that has sent nothing in that
//!   time is not a browser;
//! - a whole head that asks for one of the server's own endpoints
//!   ([`OwnEndpoints`]: `/metrics`, `/healthz`, over HTTP/1.x) gets its
//!   answer instead of the 503, written the same way. A server full of
//!   stalled clients is exactly when its operator needs to look at it, and
//!   a scrape that queued behind the clients it should report on would see
//!   nothing. The price: each such answer (a `/proc` read and a 12 KiB
//!   render for `/metrics`) is done on the thread every other 503 waits
//!   behind; a real service serves them on a port of their own;
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
//! on its own, by what has arrived (a GET if nothing has; a scrape's answer
//! too), and close at once: under that much load a reset is the lesser evil.
//!
//! What each socket is answered, decided from its first bytes, is made in
//! [`cap_answer`](super::cap_answer); how one socket waits, is answered
//! and drained, a look at a time, is [`turned_away`](super::turned_away)'s;
//! this file is the door the accept loop hands sockets through, and the
//! thread that holds them, looks at each in turn, and makes room.
//!
//! [`HEAD_WAIT`]: super::turned_away::HEAD_WAIT
//! [`LINGER_TIME`]: super::turned_away::LINGER_TIME

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::cap_answer::{Answer, Asked, OwnEndpoints, Refusal};
use super::turned_away::Lingering;
use crate::measure::access_log::{End, Outcome};
use crate::measure::metrics::METRICS;

/// Stack of the lingering thread: a loop over a queue of sockets, a peek
/// of [`PEEK_BYTES`](super::cap_answer::PEEK_BYTES) and the rendering of
/// `/metrics`; as a connection thread's, for unoptimised builds.
const LINGER_STACK_BYTES: usize = 256 * 1024;

/// Most sockets lingering at once: each holds a file descriptor, the one
/// resource a flood would otherwise exhaust through this door. The queue
/// to the thread holds as many again at most.
pub const MAX_LINGERING: usize = 1024;
/// Sockets waiting to be taken by the lingering thread: as many as it
/// holds, so that a burst it has room for never finds the queue full while
/// it is between looks (a full queue makes the accept loop answer and close
/// at once, and that close's reset can destroy the 503). Its slots are
/// allocated with the server, busy or not: 1,024 of about 64 bytes (a
/// [`Lingering`]: a socket, its peer, its accept time, why it is turned
/// away, whether it is answered), about 64 KiB, the largest part of the
/// idle heap `/metrics` shows.
const HANDOFF_QUEUE: usize = MAX_LINGERING;
/// How often the lingering thread looks at its sockets while it has any.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

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

impl Rejecter {
    /// Starts the lingering thread; [`Rejecter::stop`] ends it. Unless
    /// `quiet`, each rejection gets an access-log line. `own` answers the
    /// server's own endpoints in place of the 503.
    pub fn start(quiet: bool, own: Arc<OwnEndpoints>) -> io::Result<Rejecter> {
        Rejecter::holding(MAX_LINGERING, HANDOFF_QUEUE, quiet, own)
    }

    /// [`Rejecter::start`], lingering on at most `most` sockets, `queue`
    /// more waiting to be taken: the unit tests fill small ones, and need
    /// not open thousands of descriptors (a usual `ulimit -n` is 1,024) to
    /// see them full.
    fn holding(
        most: usize,
        queue: usize,
        quiet: bool,
        own: Arc<OwnEndpoints>,
    ) -> io::Result<Rejecter> {
        let (handoff, incoming) = mpsc::sync_channel(queue);
        let answer = Answer::new(quiet, own);
        let for_thread = answer.clone();
        let lingering = thread::Builder::new()
            .name("rejecter".into())
            .stack_size(LINGER_STACK_BYTES)
            .spawn(move || linger(incoming, most, &for_thread))
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot start the rejecter thread: {e}"))
            })?;
        #[cfg(test)]
        crate::test_support::rejecter_started(lingering.thread().id());
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
        #[cfg(test)]
        crate::test_support::let_go(self.lingering.thread().id());
        let _ = self.lingering.join();
    }

    /// Turns `stream` (from `peer`) away for `why` with a 503 (a GOAWAY
    /// if it speaks HTTP/2) whose reason says why, written by the lingering
    /// thread once it knows what was asked, unless that was one of the
    /// server's own endpoints; never blocks. A turn-away is counted in
    /// `backpressure_connections_rejected_total` once it is decided.
    pub fn reject(&self, stream: TcpStream, peer: SocketAddr, why: Refusal) {
        let nonblocking = stream.set_nonblocking(true).is_ok();
        let socket = Lingering::new(stream, peer, why);
        // A socket that cannot be made non-blocking could stall whoever
        // writes to it; closing is all that is left.
        if !nonblocking {
            METRICS.rejected();
            return socket.log(&self.answer, None, Outcome::ended(End::Rejected));
        }
        match self.handoff.try_send(socket) {
            Ok(()) => {}
            // The thread cannot be disconnected while it runs; if it died,
            // answering here is all that is left, as when the queue is full.
            Err(TrySendError::Full(mut socket) | TrySendError::Disconnected(mut socket)) => {
                let asked = socket.peek_asked(&self.answer, true);
                socket.answer(&self.answer, asked.unwrap_or(Asked::Get));
            }
        }
    }
}

/// The lingering thread: answers each socket, then drains it until its
/// client closes or [`LINGER_TIME`](super::turned_away::LINGER_TIME) passes.
fn linger(incoming: Receiver<Lingering>, most: usize, answer: &Answer) {
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
                #[cfg(test)]
                crate::test_support::wait_if_held();
                // Take everything waiting, making room where it is full.
                for socket in std::iter::once(socket).chain(incoming.try_iter()) {
                    if lingering.len() == most
                        && let Some(oldest) = lingering.pop_front()
                    {
                        oldest.evict(answer);
                    }
                    lingering.push_back(socket);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            // The server is stopping: what has not been answered yet is
            // answered now, by what has arrived, rather than closed silent.
            Err(RecvTimeoutError::Disconnected) => {
                for socket in lingering {
                    socket.evict(answer);
                }
                return;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defense::cap_answer::OwnResponse;
    use crate::defense::turned_away::LINGER_TIME;
    use crate::http::response::Status;
    use crate::sys;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn no_own_endpoints() -> Arc<OwnEndpoints> {
        Arc::new(|_| None)
    }

    /// A client connected to a socket `rejecter` has turned away.
    fn turned_away(rejecter: &Rejecter) -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        rejecter.reject(accepted, peer, Refusal::AtCap);
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client
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
        let _counting = crate::test_support::counting_rejections();
        let rejecter = Rejecter::start(true, no_own_endpoints()).unwrap();
        let mut client = turned_away(&rejecter);
        // Late indeed: after HEAD_WAIT the 503 is in the client's receive
        // buffer before a byte of the request is sent.
        let mut first = [0u8; 12];
        let peeked = client.peek(&mut first).unwrap();
        assert_eq!(&first[..peeked], &b"HTTP/1.1 503"[..peeked]);
        assert!(peeked > 0);
        let got = request_the_503(&mut client);
        let reason = rejecter.answer.reason(Refusal::AtCap);
        assert!(got.ends_with(reason.as_bytes()));
    }

    /// A socket still waiting for its head when the server stops is
    /// answered, not closed without a word.
    #[test]
    fn a_socket_not_yet_answered_is_answered_when_the_rejecter_stops() {
        let _counting = crate::test_support::counting_rejections();
        let rejecter = Rejecter::start(true, no_own_endpoints()).unwrap();
        let mut client = turned_away(&rejecter);
        rejecter.stop();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert!(got.starts_with(b"HTTP/1.1 503 "), "{got:?}");
    }

    /// A client that keeps sending and never closes is let go after
    /// [`LINGER_TIME`] from its accept, not before (its 503 would meet a
    /// reset), nor drained until later rejections push it out of the list:
    /// its socket closes, and a write then meets a reset.
    #[test]
    fn a_client_that_never_closes_is_let_go_after_the_linger_time() {
        let _counting = crate::test_support::counting_rejections();
        let rejecter = Rejecter::start(true, no_own_endpoints()).unwrap();
        // Before the rejecter's accept time: its linger ends later.
        let started = Instant::now();
        let mut client = turned_away(&rejecter);
        request_the_503(&mut client);
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
        let took = started.elapsed();
        assert!(took >= LINGER_TIME, "let go after {took:?}");
    }

    /// At its most sockets, the one that has lingered longest
    /// makes room for the next: here one answered whose client keeps it
    /// open, let go as the last of as many more silent ones arrives, not a
    /// [`LINGER_TIME`] after its accept, the only other way it goes. (A
    /// machine too slow to hand over that many in less gets another try.)
    #[test]
    fn a_full_rejecter_lets_the_socket_that_lingered_longest_go() {
        let _counting = crate::test_support::counting_rejections();
        const MOST: usize = 16;
        let rejecter = Rejecter::holding(MOST, MOST, true, no_own_endpoints()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let turn_away = || {
            let client = TcpStream::connect(addr).unwrap();
            let (accepted, peer) = listener.accept().unwrap();
            rejecter.reject(accepted, peer, Refusal::AtCap);
            client
        };
        let let_go_early = (0..5).any(|_| {
            let started = Instant::now();
            let mut oldest = turn_away();
            oldest
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            request_the_503(&mut oldest);
            let rest: Vec<TcpStream> = (0..MOST).map(|_| turn_away()).collect();
            // Closed, a write meets its reset; until then it is drained.
            let closed = loop {
                if oldest.write_all(b"x").is_err() {
                    break started.elapsed();
                }
                assert!(started.elapsed() < 5 * LINGER_TIME, "never let go");
                thread::sleep(POLL_INTERVAL);
            };
            drop(rest);
            closed < LINGER_TIME
        });
        // Every rejection is counted before the count is another test's.
        rejecter.stop();
        assert!(
            let_go_early,
            "in five tries, let go only at its linger time"
        );
    }

    /// A HEAD request gets the 503's head and no body, even after an empty
    /// line and split across two writes; a GET gets the body.
    #[test]
    fn head_gets_no_body_and_get_does() {
        let _counting = crate::test_support::counting_rejections();
        let rejecter = Rejecter::start(true, no_own_endpoints()).unwrap();
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
            let reason = rejecter.answer.reason(Refusal::AtCap).as_bytes();
            assert!(got.starts_with(b"HTTP/1.1 503 "), "{pieces:?}");
            assert_eq!(got.ends_with(reason), body, "{pieces:?}");
            assert_eq!(got.ends_with(b"\r\n\r\n"), !body, "{pieces:?}");
        }
    }

    /// Connections rejected so far, by the process-wide counter: exact
    /// while the caller holds `counting_rejections`.
    fn rejections() -> u64 {
        let text = METRICS.render(&crate::measure::metrics::Readings::default());
        let scrape = crate::measure::exposition::Scrape::parse(&text).unwrap();
        scrape
            .count("backpressure_connections_rejected_total")
            .unwrap_or(0)
    }

    /// An own endpoint's answer that the kernel will not take whole at
    /// once (here 16 MiB, which no fresh socket's send buffer holds) is
    /// cut, since the thread cannot wait for it: that is the rejecter
    /// turning the client away, not the client's abort, so it is logged
    /// and counted a rejection. The client, which read nothing until the
    /// rejecter closed the socket, sees the start of the answer, then a
    /// reset. (One reading all along can drain 16 MiB as fast as it is
    /// written, into a receive buffer the kernel grows for it, and be sent
    /// all of it.)
    #[test]
    fn an_own_answer_too_big_for_one_write_is_a_rejection() {
        let _counting = crate::test_support::counting_rejections();
        let body_bytes = 16 << 20;
        let own: Arc<OwnEndpoints> = Arc::new(move |_| {
            let mut bytes = format!("HTTP/1.1 200 OK\r\nContent-Length: {body_bytes}\r\n\r\n");
            bytes.push_str(&"x".repeat(body_bytes));
            let (status, body_bytes) = (Status::Ok, body_bytes as u64);
            Some(OwnResponse {
                status,
                bytes: bytes.into_bytes(),
                body_bytes,
            })
        });
        let before = rejections();
        let ((peer, end), log) = crate::measure::log::capture(|| {
            let rejecter = Rejecter::start(false, own).unwrap();
            let mut client = turned_away(&rejecter);
            client
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap();
            crate::test_support::peer_closed(&client);
            let end = client.read_to_end(&mut Vec::new()).map_err(|e| e.kind());
            rejecter.stop();
            (client.local_addr().unwrap(), end)
        });
        assert_eq!(end, Err(io::ErrorKind::ConnectionReset));
        let peer = format!("{peer} ");
        let lines: Vec<&String> = log.iter().filter(|l| l.starts_with(&peer)).collect();
        assert_eq!(lines.len(), 1, "{log:#?}");
        let asked = "\"GET /metrics HTTP/1.1\" - mode=- body_bytes=0 ";
        assert!(lines[0].contains(asked), "{}", lines[0]);
        assert!(lines[0].ends_with(" end=rejected"), "{}", lines[0]);
        assert_eq!(rejections(), before + 1);
    }

    /// An own endpoint's answer whose client reset the connection before it
    /// went out is the client's abort, as over a connection thread: the
    /// write fails, but not for want of room, so the cap did not turn it
    /// away, and it is neither logged nor counted a rejection.
    #[test]
    fn an_own_answer_whose_client_reset_first_is_its_abort() {
        let _counting = crate::test_support::counting_rejections();
        let turn = Arc::new(std::sync::Barrier::new(2));
        let asked = Arc::clone(&turn);
        let own: Arc<OwnEndpoints> = Arc::new(move |_| {
            asked.wait(); // The request is read: the client may go.
            asked.wait(); // It has reset the connection.
            let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec();
            let (status, body_bytes) = (Status::Ok, 2);
            Some(OwnResponse {
                status,
                bytes,
                body_bytes,
            })
        });
        let before = rejections();
        let (peer, log) = crate::test_support::within(move || {
            crate::measure::log::capture(|| {
                let rejecter = Rejecter::start(false, own).unwrap();
                let mut client = turned_away(&rejecter);
                let peer = client.local_addr().unwrap();
                client
                    .write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
                    .unwrap();
                turn.wait();
                sys::reset_on_close(&client).unwrap();
                drop(client);
                turn.wait();
                rejecter.stop();
                peer
            })
        });
        let peer = format!("{peer} ");
        let lines: Vec<&String> = log.iter().filter(|l| l.starts_with(&peer)).collect();
        assert_eq!(lines.len(), 1, "{log:#?}");
        assert!(
            lines[0].contains("\"GET /metrics HTTP/1.1\" - "),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with(" end=client-abort"), "{}", lines[0]);
        assert_eq!(rejections(), before);
    }

    /// The real queue to the lingering thread holds a burst while the
    /// thread is busy (here, held inside an own endpoint's answer): each
    /// socket waits its turn and gets its whole 503, none is answered and
    /// closed at once by the accept loop, whose close could reset it.
    #[test]
    fn a_burst_waits_in_the_queue_while_the_lingering_thread_is_busy() {
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicBool, Ordering};
        let _counting = crate::test_support::counting_rejections();
        let gate = Arc::new(Mutex::new(()));
        let entered = Arc::new(AtomicBool::new(false));
        let held = gate.lock().unwrap();
        let (for_own, entered_own) = (Arc::clone(&gate), Arc::clone(&entered));
        let own: Arc<OwnEndpoints> = Arc::new(move |_| {
            entered_own.store(true, Ordering::SeqCst);
            drop(for_own.lock());
            None
        });
        let rejecter = Rejecter::start(true, own).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut busy = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        busy.write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        rejecter.reject(accepted, peer, Refusal::AtCap);
        crate::test_support::wait_until("the thread in own", || entered.load(Ordering::SeqCst));
        let burst: Vec<TcpStream> = (0..8).map(|_| turned_away(&rejecter)).collect();
        for client in &burst {
            client
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let peeked = client.peek(&mut [0u8; 1]);
            assert!(peeked.is_err(), "answered before its turn: {peeked:?}");
        }
        drop(held);
        for mut client in burst {
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            assert!(got.starts_with(b"HTTP/1.1 503 "), "{got:?}");
        }
        rejecter.stop();
    }

    /// A full rejecter's oldest socket, let go to make room, is answered
    /// first if it has not been yet: here a silent client, still within
    /// its [`HEAD_WAIT`](super::super::turned_away::HEAD_WAIT), pushed out
    /// by the next at a most of one. It reads the whole 503, not a close
    /// without a word. (A machine too slow to hand both over within half
    /// the head wait, after which the first might have been answered by
    /// its own sweep, gets another try.)
    #[test]
    fn a_socket_pushed_out_of_a_full_rejecter_is_answered_first() {
        use crate::defense::turned_away::HEAD_WAIT;
        let _counting = crate::test_support::counting_rejections();
        let rejecter = Rejecter::holding(1, 1, true, no_own_endpoints()).unwrap();
        let reason = rejecter.answer.reason(Refusal::AtCap).to_string();
        let in_time = (0..5).any(|_| {
            let started = Instant::now();
            let mut oldest = turned_away(&rejecter);
            let next = turned_away(&rejecter);
            if started.elapsed() > HEAD_WAIT / 2 {
                return false;
            }
            let mut got = Vec::new();
            oldest.read_to_end(&mut got).unwrap();
            assert!(got.starts_with(b"HTTP/1.1 503 "), "{got:?}");
            assert!(got.ends_with(reason.as_bytes()), "{got:?}");
            drop(next);
            true
        });
        rejecter.stop();
        assert!(in_time, "in five tries, never both within the head wait");
    }

    /// A socket the hand-off queue has no room for is answered where it is
    /// handed over, at once: the whole 503 and the close, never a close
    /// without a word. Here the lingering thread is held as it takes the
    /// first socket, and the second fills a queue of one.
    #[test]
    fn a_socket_the_queue_has_no_room_for_is_answered_at_once() {
        let _counting = crate::test_support::counting_rejections();
        let before = rejections();
        let rejecter = Rejecter::holding(1, 1, true, no_own_endpoints()).unwrap();
        let reason = rejecter.answer.reason(Refusal::AtCap).to_string();
        let held = crate::test_support::hold_rejecter();
        let taken = turned_away(&rejecter);
        held.wait_until_holding();
        let queued = turned_away(&rejecter);
        let mut no_room = turned_away(&rejecter);
        let mut got = Vec::new();
        no_room.read_to_end(&mut got).unwrap();
        assert!(got.starts_with(b"HTTP/1.1 503 "), "{got:?}");
        assert!(got.ends_with(reason.as_bytes()), "{got:?}");
        assert_eq!(rejections(), before + 1, "only the one without room");
        drop(held);
        rejecter.stop();
        assert_eq!(rejections(), before + 3);
        drop((taken, queued));
    }

    /// A socket answered already, still lingering when the rejecter stops,
    /// is not answered a second time: one rejection counted for it, not
    /// two (nor a second access-log line).
    #[test]
    fn a_socket_answered_already_is_not_answered_again_at_the_stop() {
        let _counting = crate::test_support::counting_rejections();
        let before = rejections();
        let rejecter = Rejecter::start(true, no_own_endpoints()).unwrap();
        let mut client = turned_away(&rejecter);
        request_the_503(&mut client);
        // Kept open, it lingers: the stop lets it go.
        rejecter.stop();
        assert_eq!(rejections(), before + 1);
        drop(client);
    }
}
