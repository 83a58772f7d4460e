//! One socket turned away at the cap, from accept until it closes: a
//! [`Lingering`], which waits for its request's head, is answered, and is
//! drained until its client closes or [`LINGER_TIME`] is up.
//!
//! Each step is one look that never blocks ([`Lingering::look`]): a peek
//! while the head is not whole, one write of the answer, reads thrown away
//! after it. So one thread can hold a thousand of them and look at each in
//! turn; that thread, its queue, and which socket makes room when it is
//! full are `connection_cap.rs`'s. Why the socket must linger at all (a
//! reset can destroy the 503 unread), and why HEAD needs its head seen
//! first, is told there too.
//!
//! What the socket is answered, decided from its first bytes, is made in
//! [`cap_answer`](super::cap_answer); this file writes it, counts it, logs
//! it, and shuts the write side.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::cap_answer::{Answer, Asked, OwnResponse, PEEK_BYTES, Refusal};
use crate::http::h2::frame::ErrorCode;
use crate::http::response::Status;
use crate::measure::access_log::{AccessRecord, End, Outcome, refused_request_line};
use crate::measure::clock;
use crate::measure::metrics::METRICS;
use crate::sys;

/// How long a socket past the cap may wait for its request's head, to
/// learn whether it asks for one of the server's own endpoints, or failing
/// that whether it is HEAD. A client sends its request with the
/// handshake's last ACK or right after, so a round trip is plenty; a real
/// server, which reads the request anyway, needs no such wait.
pub const HEAD_WAIT: Duration = Duration::from_millis(250);
/// How long a turned-away socket stays open from accept, to swallow the
/// client's request. The request is usually already there, or arrives
/// within a round trip.
pub const LINGER_TIME: Duration = Duration::from_secs(1);
/// `TCP_NOTSENT_LOWAT` of a socket the rejecter answers an own endpoint on:
/// the largest the kernel takes, no mark at all, so that the send buffer
/// alone bounds what the one non-blocking write may leave unsent.
const NO_NOTSENT_MARK: u32 = i32::MAX.unsigned_abs();
/// Most bytes drained per socket per look: a client that streams input
/// cannot keep the thread busy.
const DRAIN_PER_POLL: usize = 16 * 1024;

/// A turned-away socket, from accept until it closes.
#[derive(Debug)]
pub(super) struct Lingering {
    /// The client's socket, non-blocking.
    stream: TcpStream,
    /// The client's address, for the access log.
    peer: SocketAddr,
    /// [`HEAD_WAIT`] and [`LINGER_TIME`] count from here.
    accepted_at: Instant,
    /// Why it is turned away, which its answer says.
    why: Refusal,
    /// Whether the answer (the 503, a GOAWAY, or an own endpoint's) is
    /// written. Until then input is only peeked at, so that the head is
    /// still there to be seen whole.
    answered: bool,
}

impl Lingering {
    /// `stream` (from `peer`, already non-blocking) turned away for `why`,
    /// accepted now: its waits count from here.
    pub(super) fn new(stream: TcpStream, peer: SocketAddr, why: Refusal) -> Lingering {
        Lingering {
            stream,
            peer,
            accepted_at: Instant::now(),
            why,
            answered: false,
        }
    }

    /// Writes the 503 (or GOAWAY, or the answer of an own endpoint), counts
    /// and logs it, and shuts down the write side; false if the write
    /// failed, and there is no one to tell.
    pub(super) fn answer(&mut self, answer: &Answer, asked: Asked) -> bool {
        self.answered = true;
        if let Asked::Own(own, line) = asked {
            return self.answer_own(answer, own, line);
        }
        METRICS.rejected();
        // Peeked before the write, while the request is still all there is;
        // not at all when nothing is logged: a flood of rejections costs
        // no system call it does not need.
        let logged = !answer.quiet && asked != Asked::Http2;
        let line = if logged {
            self.peeked_request_line()
        } else {
            None
        };
        let response = answer.response(clock::now_unix_seconds(), &asked, self.why);
        let written = (&self.stream).write_all(&response).is_ok();
        if written {
            match asked {
                Asked::Http2 => METRICS.http2_goaway(ErrorCode::RefusedStream),
                // Like every other 503, in the responses counter too.
                _ => METRICS.responded(None, Status::ServiceUnavailable),
            }
            let _ = self.stream.shutdown(Shutdown::Write);
        }
        let mut outcome = Outcome::ended(End::Rejected);
        if written {
            outcome.status = (asked != Asked::Http2).then_some(Status::ServiceUnavailable);
            if asked == Asked::Get {
                outcome.body_bytes = answer.reason(self.why).len() as u64;
            }
        }
        self.log(answer, line, outcome);
        written
    }

    /// The request line among the client's first bytes, left in place, if
    /// they hold it whole and it parses ([`refused_request_line`]): what a
    /// rejection is logged with, as a head refused below the cap is.
    fn peeked_request_line(&self) -> Option<String> {
        let mut first = [0u8; PEEK_BYTES];
        let read = self.stream.peek(&mut first).ok()?;
        refused_request_line(&first[..read])
    }

    /// Writes the answer of one of the server's own endpoints, as a
    /// connection thread would have: counted among the responses, logged
    /// with its request line, not a rejection. Unless the write fails: a
    /// client that closed early aborted (`client-abort`, as over a thread);
    /// but an answer the kernel will not take whole at once is cut by this
    /// thread, which cannot wait, not by the client: the cap turned it
    /// away, and it is counted and logged a rejection.
    fn answer_own(&mut self, answer: &Answer, own: OwnResponse, line: String) -> bool {
        // The write does not wait, so the kernel must take the whole answer
        // at once: a `--notsent-lowat` mark, inherited from the listener,
        // would stop it at as little as 4 KiB unsent, and a client with a
        // small window would get a third of a scrape and a reset. The mark
        // bounds a stalled stream; this is one write of a few KiB.
        let _ = sys::set_notsent_lowat(&self.stream, NO_NOTSENT_MARK);
        let written = (&self.stream).write_all(&own.bytes);
        let mut outcome = Outcome::ended(End::ClientAbort);
        if let Err(e) = &written
            && e.kind() == io::ErrorKind::WouldBlock
        {
            METRICS.rejected();
            outcome.end = End::Rejected;
        }
        let written = written.is_ok();
        if written {
            METRICS.responded(None, own.status);
            let _ = self.stream.shutdown(Shutdown::Write);
            (outcome.end, outcome.status) = (End::Complete, Some(own.status));
            outcome.body_bytes = own.body_bytes;
        } else {
            // The `Content-Length` already shows the client a cut; the
            // reset drops at once what the kernel still holds for a client
            // too slow to take a few KiB.
            let _ = sys::reset_on_close(&self.stream);
        }
        self.log(answer, Some(line), outcome);
        written
    }

    /// The socket's access-log line, unless `quiet`. A rejection's has the
    /// 503 (none over HTTP/2) and its `body_bytes` if it was written, no
    /// status if not, and its request line if the first bytes peeked held
    /// it whole; an own endpoint's has its request line and status, as a
    /// connection thread's would.
    pub(super) fn log(&self, answer: &Answer, request_line: Option<String>, outcome: Outcome) {
        if answer.quiet {
            return;
        }
        AccessRecord {
            peer: self.peer,
            request_line,
            duration: self.accepted_at.elapsed(),
            outcome,
        }
        .write();
    }

    /// One look at the socket, `now`: answers it once what was asked is
    /// known (a whole head, or [`PEEK_BYTES`] of one) or [`HEAD_WAIT`] has
    /// passed, drains it once answered. False once it
    /// can go: its client closed, the write failed, or [`LINGER_TIME`] is up.
    pub(super) fn look(&mut self, answer: &Answer, now: Instant) -> bool {
        if !self.answered {
            let waited = now >= self.accepted_at + HEAD_WAIT;
            let Some(asked) = self.peek_asked(answer, waited) else {
                return true;
            };
            if !self.answer(answer, asked) {
                return false;
            }
        }
        now < self.accepted_at + LINGER_TIME && still_open(&self.stream)
    }

    /// What the client asked for, from its first bytes, left in place;
    /// `None` while they do not tell yet and it may still wait, until
    /// `waited` ([`Asked::of`]). A client that closed or failed is answered
    /// as to a GET: the write will tell whether anyone is there.
    pub(super) fn peek_asked(&self, answer: &Answer, waited: bool) -> Option<Asked> {
        let mut first = [0u8; PEEK_BYTES];
        match self.stream.peek(&mut first) {
            Ok(0) => Some(Asked::Get),
            Ok(n) => Asked::of(&first[..n], &*answer.own, waited),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => waited.then_some(Asked::Get),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => waited.then_some(Asked::Get),
            Err(_) => Some(Asked::Get),
        }
    }

    /// The socket has to go before its time, to make room: answered first
    /// if it was not yet, by what its first bytes already say, since it
    /// cannot wait any longer.
    pub(super) fn evict(mut self, answer: &Answer) {
        if !self.answered {
            let asked = self.peek_asked(answer, true).unwrap_or(Asked::Get);
            self.answer(answer, asked);
        }
    }
}

/// Reads and discards what the client sent; false once it has closed (or
/// failed), so the socket can go.
fn still_open(stream: &TcpStream) -> bool {
    // What is read here is thrown away: one read's worth, on the stack.
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
    use std::thread;

    /// A socket whose client has closed can go at once: the drain says so
    /// as soon as it reads the end, and not before.
    #[test]
    fn a_socket_is_still_open_until_its_client_closes() {
        let (server, mut client) = crate::test_support::loopback();
        server.set_nonblocking(true).unwrap();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert!(still_open(&server), "only input, no end");
        client.shutdown(Shutdown::Write).unwrap();
        let started = Instant::now();
        while still_open(&server) {
            assert!(started.elapsed() < 5 * LINGER_TIME, "the end never read");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// A client that sent nothing and closed its side is answered at the
    /// first look, not [`HEAD_WAIT`] later: its end says nothing more will
    /// come. And a socket whose client has closed goes at that look, its
    /// place among the lingering given back, not held to [`LINGER_TIME`].
    #[test]
    fn a_client_that_closed_is_answered_and_let_go_at_the_first_look() {
        let _counting = crate::test_support::counting_rejections();
        let (server, mut client) = crate::test_support::loopback();
        server.set_nonblocking(true).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        crate::test_support::wait_until("the client's end to arrive", || {
            server.peek(&mut [0; 1]).is_ok_and(|n| n == 0)
        });
        let peer = client.local_addr().unwrap();
        let mut socket = Lingering::new(server, peer, Refusal::AtCap);
        let answer = Answer::new(true, std::sync::Arc::new(|_| None));
        let first_look = socket.accepted_at;
        assert!(
            !socket.look(&answer, first_look),
            "kept after its client closed"
        );
        drop(socket);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert!(got.starts_with(b"HTTP/1.1 503 "), "{got:?}");
    }

    /// A look drains at most [`DRAIN_PER_POLL`] (and less than a read's
    /// more): a client that streams input faster than the rejecter reads it
    /// would otherwise hold the one thread in its socket's drain, and every
    /// other socket lingering, and every refusal queued, would wait. Four
    /// times the bound, all arrived before the look: three quarters of it
    /// are still there after.
    #[test]
    fn a_look_drains_a_bounded_amount() {
        let (server, mut client) = crate::test_support::loopback();
        server.set_nonblocking(true).unwrap();
        let sent = 4 * DRAIN_PER_POLL;
        client.write_all(&vec![b'x'; sent]).unwrap();
        let mut peeked = vec![0; sent];
        crate::test_support::wait_until("every byte arrived", || {
            server.peek(&mut peeked).is_ok_and(|n| n == sent)
        });
        assert!(still_open(&server), "input, no end");
        let (mut left, mut sink) = (0, [0; 4096]);
        loop {
            match (&server).read(&mut sink) {
                Ok(n) if n > 0 => left += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => break, // WouldBlock: every byte read
            }
        }
        let drained = sent - left;
        assert!(
            (DRAIN_PER_POLL..DRAIN_PER_POLL + sink.len()).contains(&drained),
            "drained {drained} of {sent}"
        );
    }
}
