//! Reading a request head from a client that controls how much it sends
//! and how slowly:
//!
//! - the whole head must arrive within a deadline counted from accept, so a
//!   client that trickles bytes (Slowloris) or sends nothing cannot hold a
//!   thread forever. Before every `read` the socket's timeout is set to the
//!   time that is *left*, so a client sending one byte a second gains
//!   nothing (a plain per-read timeout would restart with each byte).
//!   What is in the socket when the deadline passes is still read, without
//!   waiting for more: a late thread does not make a client's head late;
//! - the head must fit in [`MAX_HEAD_BYTES`], in a buffer that grows from
//!   [`FIRST_HEAD_BUFFER_BYTES`] only as bytes arrive. Empty lines before
//!   the request line are skipped, as RFC 9112 §2.2 asks, but they count
//!   against the limit: a client sending nothing but CRLFs gets its 431
//!   like any other;
//! - and it must look like HTTP from its first byte: after each read, bytes
//!   that cannot begin a request line (a TLS handshake) end the read with a
//!   400 at once, where waiting for their CRLF CRLF would hold the thread
//!   until the deadline for a head that never comes; so does a request
//!   line, once whole, that is none (HTTP/0.9's `GET /`, which its client
//!   follows with nothing), with the answer the whole head would get; only
//!   HTTP/2's preface, whose first line is none on purpose, goes on.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Instant;

use crate::http::h2::frame::PREFACE_HEAD;
use crate::http::partial_head::{self, head_end, oversized_head_error};
use crate::http::request::{self, HeadError, MAX_HEAD_BYTES, MAX_REQUEST_LINE_BYTES};
use crate::http::response::Status;

/// Size the head buffer starts at. It doubles as bytes arrive, up to
/// [`MAX_HEAD_BYTES`]: a typical head of a few hundred bytes costs 1 KiB,
/// and the limit is paid only by a client that sends that much. A buffer of
/// the full limit allocated for every connection would cost its 16 KiB of
/// RSS on every connection, whatever it sent.
const FIRST_HEAD_BUFFER_BYTES: usize = 1024;

/// The answer to a head whose client closed its side before the empty line
/// that ends it (`printf 'GET / HTTP/1.1\r\n' | nc -N`): silence would
/// leave it guessing, and Go's server answers the same.
const CUT_SHORT: HeadError = HeadError {
    status: Status::BadRequest,
    reason: "the client closed its side before the empty line that ends the request head",
};

/// Why reading a head stopped before a complete one arrived.
#[derive(Debug)]
pub enum ReadHeadError {
    /// The client closed the connection before sending anything but empty
    /// lines: it made no request, and there is nothing to answer.
    Closed,
    /// The client closed its side partway through a head: answer 400, as
    /// to any malformed request, since a half-closed client can still read.
    CutShort(HeadError),
    /// The deadline passed: answer 408.
    TimedOut,
    /// No end of head within [`MAX_HEAD_BYTES`]: answer 414 or 431 (501 if
    /// the over-long request line begins with a method this server does not
    /// know).
    TooLarge(HeadError),
    /// The first bytes cannot begin a request line, or the request line,
    /// whole, is none: answer now, with its status (400, 414, 501 or 505).
    NotARequest(HeadError),
    /// The socket failed; there is no one to answer.
    Failed,
}

/// The answer to a head that did not arrive by its deadline.
const TOO_LATE: HeadError = HeadError {
    status: Status::RequestTimeout,
    reason: "request head not received in time",
};

impl ReadHeadError {
    /// The status and reason to answer with; `None` when there is no one
    /// to answer (the client asked nothing, or the socket failed).
    pub fn answer(&self) -> Option<HeadError> {
        match self {
            ReadHeadError::Closed | ReadHeadError::Failed => None,
            ReadHeadError::TimedOut => Some(TOO_LATE),
            ReadHeadError::CutShort(e)
            | ReadHeadError::TooLarge(e)
            | ReadHeadError::NotARequest(e) => Some(*e),
        }
    }
}

/// Reads until the blank line that ends a request head, and returns the head
/// (with its final CRLF CRLF, without the empty lines before it) and the
/// bytes read after it, or stops at the first bare LF, or the byte after a
/// bare CR, so that the parser can reject it at once. The bytes after an
/// HTTP/1 head are ignored (this server reads no request bodies and closes
/// after one response); after HTTP/2's preface they are the connection's
/// first frames. On an error, `buf` holds what did arrive, so that the
/// answer can tell whether it was asked for with HEAD.
pub fn read_head<'b>(
    stream: &TcpStream,
    buf: &'b mut Vec<u8>,
    deadline: Instant,
) -> Result<(&'b [u8], &'b [u8]), ReadHeadError> {
    buf.clear();
    let mut clock = HeadClock {
        deadline,
        passed: false,
    };
    let mut so_far = HeadSoFar::default();
    // The head's end, counted from `so_far.start`, or why there is none.
    let outcome = loop {
        grow_if_full(buf, so_far.filled);
        if let Err(e) = clock.arm(stream) {
            break Err(e);
        }
        let n = match read_more(stream, &mut buf[so_far.filled..], so_far.begun()) {
            Ok(Some(n)) => n,
            // Interrupted: armed again, with the time now left.
            Ok(None) => continue,
            Err(e) => break Err(e),
        };
        if let Some(outcome) = so_far.take_in(buf, n) {
            break outcome;
        }
    };
    buf.truncate(so_far.filled);
    clock.disarm(stream)?;
    let (head, after) = buf[so_far.start..].split_at(outcome?);
    Ok((head, after))
}

/// The head's deadline, and whether it has passed. Past it, what the socket
/// already holds is still read, but nothing more is waited for: a head that
/// arrived in time is not late because its thread started late (a busy
/// machine), and a client still sending gains no time, only the bytes it had
/// sent. Non-blocking, a read that would wait fails at once (WouldBlock);
/// until the head is read the socket is this thread's alone, so no other is
/// affected.
struct HeadClock {
    /// Accept + `--header-timeout`: counted from accept, not from each
    /// read, so that trickling bytes buys no time.
    deadline: Instant,
    /// Set once the socket was made non-blocking (or tried to be), so that
    /// [`HeadClock::disarm`] makes it blocking again.
    passed: bool,
}

impl HeadClock {
    /// Before each read: its timeout is the time left, not a fixed one, so
    /// that a client sending one byte at a time gains nothing; once none is
    /// left, the socket is non-blocking for good.
    fn arm(&mut self, stream: &TcpStream) -> Result<(), ReadHeadError> {
        if self.passed {
            return Ok(());
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        self.passed = left.is_zero();
        let set = if self.passed {
            stream.set_nonblocking(true)
        } else {
            stream.set_read_timeout(Some(left))
        };
        set.map_err(|_| ReadHeadError::Failed)
    }

    /// Blocking again, for the answer and what follows.
    fn disarm(&self, stream: &TcpStream) -> Result<(), ReadHeadError> {
        if self.passed && stream.set_nonblocking(false).is_err() {
            return Err(ReadHeadError::Failed);
        }
        Ok(())
    }
}

/// Grows a full buffer by doubling, never past the limit: a head costs the
/// memory its client sent, not [`MAX_HEAD_BYTES`] up front.
fn grow_if_full(buf: &mut Vec<u8>, filled: usize) {
    if filled == buf.len() {
        let grown = (buf.len() * 2).clamp(FIRST_HEAD_BUFFER_BYTES, MAX_HEAD_BYTES);
        buf.reserve_exact(grown - buf.len());
        buf.resize(grown, 0);
    }
}

/// One read into `free`: the bytes it got, or `None` when a signal
/// interrupted it, to be tried again. A close is an error, told apart by
/// whether anything but empty lines came first (`begun`); so is the armed
/// timeout, the deadline having passed.
fn read_more(
    stream: &TcpStream,
    free: &mut [u8],
    begun: bool,
) -> Result<Option<usize>, ReadHeadError> {
    match (&*stream).read(free) {
        Ok(0) if begun => Err(ReadHeadError::CutShort(CUT_SHORT)),
        Ok(0) => Err(ReadHeadError::Closed),
        Ok(n) => Ok(Some(n)),
        Err(e) if super::is_timeout(&e) => Err(ReadHeadError::TimedOut),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(_) => Err(ReadHeadError::Failed),
    }
}

/// How far into `buf` the head has come, kept across reads so that each
/// read's bytes are judged once, as they arrive.
#[derive(Default)]
struct HeadSoFar {
    /// Bytes read into the buffer: where the next read puts its bytes, and
    /// all that `buf` keeps once the head is read.
    filled: usize,
    /// Where the head begins, past the empty lines before it.
    start: usize,
    /// Whether the request line was judged (once, when whole).
    line_judged: bool,
}

impl HeadSoFar {
    /// Whether anything but empty lines has arrived: a close after that
    /// cuts a request short (400), before it makes none (nothing to answer).
    fn begun(&self) -> bool {
        self.filled > self.start
    }

    /// Takes in the `n` bytes a read just put after `filled`, and says
    /// whether the read ends: with the head's end, counted from `start`, or
    /// with why there is none; `None` to read on. Each check looks at the
    /// new bytes as soon as they are in, so that a client that is not
    /// sending a request is answered now, not at the deadline.
    fn take_in(&mut self, buf: &[u8], n: usize) -> Option<Result<usize, ReadHeadError>> {
        let (before, received) = (self.filled, self.filled + n);
        self.filled = received;
        // Skipping stops for good at the request line's first byte; a CRLF
        // split across two reads is skipped once its LF is in.
        self.start += request::empty_lines(&buf[self.start..received]);
        if let Err(e) = partial_head::check_request_start(&buf[self.start..received]) {
            return Some(Err(ReadHeadError::NotARequest(e)));
        }
        // The head from its request line, and where in it this read's bytes
        // begin (at 0 if the read was all empty lines).
        let head = &buf[self.start..received];
        let new_from = before.max(self.start) - self.start;
        if let Err(e) = self.judge_line(head, new_from) {
            return Some(Err(ReadHeadError::NotARequest(e)));
        }
        if let Some(end) = head_end(head, new_from, head.len()) {
            return Some(Ok(end));
        }
        if received == MAX_HEAD_BYTES {
            let too_large = oversized_head_error(&buf[self.start..]);
            return Some(Err(ReadHeadError::TooLarge(too_large)));
        }
        None
    }

    /// The request line, judged once, in the read its LF arrives in; but
    /// HTTP/2's preface opens with a line that is none on purpose (RFC 9113
    /// §3.4), and the head it makes is the connection's.
    fn judge_line(&mut self, head: &[u8], new_from: usize) -> Result<(), HeadError> {
        if self.line_judged {
            return Ok(());
        }
        let Some(lf) = head[new_from..].iter().position(|&b| b == b'\n') else {
            // Not whole, yet already longer than a line may be (measured
            // without its CR): it can only grow, so the 414 comes now,
            // not a 408 at the deadline. Looked for only past the limit,
            // so that a line trickled in a byte a read is not scanned
            // again at every read.
            let long = head.len() > MAX_REQUEST_LINE_BYTES;
            let line = || head.iter().position(|&b| b == b'\r').unwrap_or(head.len());
            if long && line() > MAX_REQUEST_LINE_BYTES {
                return Err(request::line_too_long(head));
            }
            return Ok(());
        };
        self.line_judged = true;
        if PREFACE_HEAD.starts_with(&head[..=new_from + lf]) {
            return Ok(());
        }
        request::check_request_line(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::read_by_peer;
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;
    use std::time::Duration;

    /// What `read_head` makes of `pieces`, each sent once the one before
    /// it was read, so that each is a read of its own: the result, and
    /// what `buf` holds afterwards.
    fn read_pieces(pieces: &[&[u8]]) -> (Result<Vec<u8>, String>, Vec<u8>) {
        let (result, buf, _) = read_pieces_timed(pieces);
        (result, buf)
    }

    /// [`read_pieces`], and how long `read_head` itself took: not the
    /// sender's wait for each piece to be read, which polls `/proc/net/tcp`
    /// and on a busy machine can take longer than the answer.
    fn read_pieces_timed(pieces: &[&[u8]]) -> (Result<Vec<u8>, String>, Vec<u8>, Duration) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nodelay(true).unwrap();
        let (server, _) = listener.accept().unwrap();
        let pieces: Vec<Vec<u8>> = pieces.iter().map(|p| p.to_vec()).collect();
        let done = Arc::new(AtomicBool::new(false));
        let read_all = Arc::clone(&done);
        let sender = thread::spawn(move || {
            for piece in pieces {
                // The server may have answered and gone: that is a result.
                let _ = client.write_all(&piece);
                read_by_peer(&client, || read_all.load(Ordering::SeqCst));
            }
        });
        let mut buf = Vec::new();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(10);
        let result = read_head(&server, &mut buf, deadline)
            .map(|(head, _)| head.to_vec())
            .map_err(|e| format!("{e:?}"));
        let took = started.elapsed();
        done.store(true, Ordering::SeqCst);
        sender.join().unwrap();
        (result, buf, took)
    }

    #[test]
    fn empty_lines_before_the_request_line_are_skipped_even_split() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for pieces in [
            &[&b"\r\n"[..], head][..],
            &[b"\r\n\r\n", head],
            // A CRLF split across two reads, then the rest.
            &[b"\r", b"\n\r", b"\nGET / HTTP/1.1\r\n", b"Host: a\r\n\r\n"],
        ] {
            assert_eq!(
                read_pieces(pieces).0.as_deref(),
                Ok(&head[..]),
                "{pieces:?}"
            );
        }
    }

    /// Empty lines are not a request begun: a client that sends only
    /// those and closes asked nothing, so its connection ends as a client
    /// that left, not with a 400 (counted and logged) for a head it never
    /// started.
    #[test]
    fn only_empty_lines_then_a_close_is_a_close_not_a_cut_head() {
        for pieces in [&[&b"\r\n"[..]][..], &[b"\r\n\r\n"], &[b"\r", b"\n"]] {
            assert_eq!(read_pieces(pieces).0, Err("Closed".into()), "{pieces:?}");
        }
        let (cut, _) = read_pieces(&[b"\r\nGET / HT"]);
        assert!(cut.unwrap_err().starts_with("CutShort"));
    }

    #[test]
    fn empty_lines_count_against_the_head_limit() {
        let crlfs = b"\r\n".repeat(MAX_HEAD_BYTES / 2);
        let (result, _) = read_pieces(&[&crlfs, b"GET / HTTP/1.1\r\n\r\n"]);
        assert!(result.unwrap_err().contains("RequestHeaderFieldsTooLarge"));
    }

    /// A request line that is none is refused in the read its LF arrives
    /// in, also when its CR came in an earlier one: the line was not
    /// whole until then.
    #[test]
    fn a_request_line_that_is_none_is_refused_when_its_lf_arrives() {
        let (result, buf) = read_pieces(&[b"GET /healthz\r", b"\n"]);
        assert!(result.unwrap_err().starts_with("NotARequest"));
        assert_eq!(buf, b"GET /healthz\r\n");
    }

    /// A request line longer than allowed is refused (414) as soon as it
    /// is longer, before its LF: a line of the limit and its CR is not,
    /// as its LF may follow. A method no request line could be that long
    /// for, still arriving, is refused as a method (501).
    #[test]
    fn a_request_line_too_long_is_refused_before_its_lf() {
        let line = |len: usize| [b"GET /".as_slice(), &b"a".repeat(len - 5)].concat();
        let (result, _) = read_pieces(&[&line(MAX_REQUEST_LINE_BYTES + 1)]);
        let refused = result.unwrap_err();
        assert!(
            refused.starts_with("NotARequest") && refused.contains("UriTooLong"),
            "{refused}"
        );
        let at_the_limit = [line(MAX_REQUEST_LINE_BYTES), b"\r".to_vec()].concat();
        let (result, _) = read_pieces(&[&at_the_limit]);
        assert!(result.unwrap_err().starts_with("CutShort"));
        let method = b"M".repeat(MAX_REQUEST_LINE_BYTES + 1);
        let refused = read_pieces(&[&method]).0.unwrap_err();
        assert!(
            refused.starts_with("NotARequest") && refused.contains("NotImplemented"),
            "{refused}"
        );
    }

    /// HTTP/2's preface opens with a line that is no request line, on
    /// purpose: it is let through however its bytes are split, and the
    /// head it makes is the one the connection looks for. A line that
    /// only begins like it is judged (here a bare LF's 400, at once).
    #[test]
    fn the_http2_preface_line_is_let_through_and_no_other() {
        let one_by_one: Vec<&[u8]> = PREFACE_HEAD.chunks(1).collect();
        let (result, _) = read_pieces(&one_by_one);
        assert_eq!(result.as_deref(), Ok(PREFACE_HEAD));
        let (result, _) = read_pieces(&[b"PRI * HTTP/2.0\n"]);
        assert!(result.unwrap_err().starts_with("NotARequest"));
    }

    #[test]
    fn a_tls_handshake_is_refused_at_its_first_read() {
        let client_hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];
        let (result, buf, took) = read_pieces_timed(&[&client_hello]);
        assert!(result.unwrap_err().starts_with("NotARequest"));
        assert_eq!(buf, client_hello, "what arrived, for the answer to look at");
        // Not at the 10 s deadline: nothing more was ever sent.
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    /// What `read_head` makes of `sent`, all of it in the server's socket
    /// before its deadline is looked at, which has passed by then: the
    /// result and how long it took, and the server's and client's sockets.
    fn read_after_the_deadline(
        sent: &[u8],
    ) -> (Result<Vec<u8>, String>, Duration, (TcpStream, TcpStream)) {
        let (server, mut client) = crate::test_support::loopback();
        client.write_all(sent).unwrap();
        let mut here = vec![0; sent.len()];
        let waited = Instant::now();
        while server.peek(&mut here).unwrap() < sent.len() {
            let limit = crate::test_support::HANG_LIMIT;
            assert!(waited.elapsed() < limit, "not all there in {limit:?}");
            thread::sleep(Duration::from_millis(1));
        }
        let (mut buf, started) = (Vec::new(), Instant::now());
        let result = read_head(&server, &mut buf, started)
            .map(|(head, _)| head.to_vec())
            .map_err(|e| format!("{e:?}"));
        (result, started.elapsed(), (server, client))
    }

    /// A head that arrived in time is read, though its thread came to it
    /// after the deadline, however many reads it takes; a part of one is
    /// still late, answered at once, with nothing more waited for.
    #[test]
    fn a_head_already_here_is_read_after_the_deadline_and_no_more_awaited() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(read_after_the_deadline(head).0.as_deref(), Ok(&head[..]));
        // One the buffer takes in several reads, as it grows.
        let field = "a".repeat(3 * FIRST_HEAD_BUFFER_BYTES);
        let long = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {field}\r\n\r\n");
        let read = read_after_the_deadline(long.as_bytes()).0;
        assert_eq!(read.as_deref(), Ok(long.as_bytes()));
        let (result, took, _) = read_after_the_deadline(b"GET / HTTP/1.1\r\n");
        assert!(result.unwrap_err().starts_with("TimedOut"));
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    /// The socket blocks again once a head is read past its deadline
    /// (non-blocking): the answer and the body after it go to a socket
    /// whose writes wait for the client, as the send deadlines expect, not
    /// one that fails each at once (WouldBlock), its writer spinning until
    /// its deadline. A read with a timeout, the client still there and
    /// sending nothing more, waits it out.
    #[test]
    fn a_head_read_past_its_deadline_leaves_the_socket_blocking() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let (result, _, (server, _client)) = read_after_the_deadline(head);
        assert_eq!(result.as_deref(), Ok(&head[..]));
        let timeout = Duration::from_millis(200);
        server.set_read_timeout(Some(timeout)).unwrap();
        let started = Instant::now();
        let error = (&server).read(&mut [0u8; 1]).unwrap_err();
        let waited = started.elapsed();
        assert!(super::super::is_timeout(&error), "{error}");
        // Half: a kernel may round its timer, never skip it.
        assert!(waited >= timeout / 2, "waited {waited:?}");
    }

    /// A client still sending when the deadline passes gains no time: one
    /// that never stops sending a header line's bytes is late (TimedOut)
    /// as soon as the socket holds none, long before it could fill the
    /// head's limit (TooLarge, had each byte bought another wait).
    #[test]
    fn a_client_still_sending_at_the_deadline_gains_no_time() {
        let (server, mut client) = crate::test_support::loopback();
        client.set_nodelay(true).unwrap();
        client.write_all(b"GET / HTTP/1.1\r\nX: ").unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&done);
        // A byte every 50 us, at most 10 s: about 20 KB/s, a head's limit
        // (16 KiB) in under a second if every byte earned more time.
        let sender = thread::spawn(move || {
            let started = Instant::now();
            while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(10) {
                if client.write_all(b"a").is_err() {
                    break;
                }
                thread::sleep(Duration::from_micros(50));
            }
        });
        let (mut buf, started) = (Vec::new(), Instant::now());
        let result = read_head(&server, &mut buf, started).map_err(|e| format!("{e:?}"));
        let took = started.elapsed();
        done.store(true, Ordering::SeqCst);
        sender.join().unwrap();
        assert!(result.unwrap_err().starts_with("TimedOut"));
        assert!(took < Duration::from_millis(500), "{took:?}");
    }

    /// A client that sends nothing is cut at its deadline, not some
    /// multiple of it: each read waits only for the time left.
    #[test]
    fn a_silent_client_is_cut_at_the_deadline_not_after_it() {
        let (server, _client) = crate::test_support::loopback();
        let mut buf = Vec::new();
        let started = Instant::now();
        let result = read_head(&server, &mut buf, started + Duration::from_secs(1));
        let took = started.elapsed();
        assert!(matches!(result, Err(ReadHeadError::TimedOut)), "{result:?}");
        assert!(took >= Duration::from_millis(900), "cut early: {took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
    }

    /// A head of exactly 16 KiB fits, however its reads fall: here all but
    /// its last byte, then that byte.
    #[test]
    fn a_head_of_exactly_the_limit_fits_though_its_last_byte_comes_late() {
        let start = b"GET / HTTP/1.1\r\nX: ";
        let value = b"v".repeat(MAX_HEAD_BYTES - start.len() - 4);
        let head = [&start[..], &value, b"\r\n\r\n"].concat();
        assert_eq!(head.len(), MAX_HEAD_BYTES);
        let (most, last) = head.split_at(MAX_HEAD_BYTES - 1);
        let (result, _) = read_pieces(&[most, last]);
        let whole = result.as_deref() == Ok(&head[..]);
        assert!(whole, "{:?}", result.map(|read| read.len()));
    }
}
