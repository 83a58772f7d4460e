//! The graceful close: how a connection whose response is complete ends
//! without a reset throwing its last bytes away.
//!
//! A response is done when its last byte reaches the client, not when the
//! kernel took it. Closing a socket with input unread, or one the client
//! sends to afterwards, makes the kernel send a reset, and a reset discards
//! what it still holds unsent or unacknowledged: the tail of the answer.
//! So the close sends its FIN, reads and throws away what the client still
//! sends for a while, and before a close that will be a reset waits for
//! the client to acknowledge every byte; it says whether a tail was lost
//! after all, for the access log to call the response cut.

use std::io::{ErrorKind, Read};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::defense;
use crate::sys;

/// How long a finished connection keeps reading what the client still
/// sends before closing. Closing a socket with unread input makes the kernel
/// send a reset, which can destroy a response the client has not read yet;
/// reading it first lets an error response (sent before the request was
/// fully read) arrive intact. Short, because it holds a thread.
pub const CLOSE_READ_TIMEOUT: Duration = Duration::from_millis(500);
/// Most bytes read and thrown away before closing anyway. A client still
/// sending past it is taken for one that will not stop (a flood answered
/// with GOAWAY), which no amount of reading would end; what an honest one
/// sends after its answer (a pipelined request, HTTP/2's last
/// WINDOW_UPDATEs) is far less. nginx bounds the same reading by time
/// only (`lingering_time`); a bound in bytes too keeps a fast sender from
/// costing a thread its CPU for the whole timeout.
const MAX_CLOSE_READ_BYTES: usize = 64 * 1024;
/// How often a close that does not wait for the client to hang up (one
/// that will be a reset, or a plain one past the closing places) looks
/// whether the client has acknowledged everything written to it, until
/// [`CLOSE_READ_TIMEOUT`].
const ACK_CHECK: Duration = Duration::from_millis(2);

/// Ends a connection whose response is complete: send FIN (the client sees
/// the end of the response), then read and discard what the client still
/// sends, until it closes, [`CLOSE_READ_TIMEOUT`] passes or
/// [`MAX_CLOSE_READ_BYTES`] arrive. If the client is still sending after
/// that many, the close will be a reset, which would discard what the
/// kernel has not sent yet; so, within the same timeout, wait until the
/// client has acknowledged every byte. False if it has not by then and is
/// still sending: the close's reset discards the tail it has not
/// acknowledged, and the response was cut after all.
///
/// Unless `wait_for_hang_up`, a client with nothing unread is not waited
/// for to hang up: it asked its one request and is reading the answer.
/// Only a byte it sends after the close would turn the close into a reset,
/// which is why the wait is the rule (Apache always waits; nginx only when
/// it sees input); and a reset discards only what the client has not
/// acknowledged, so the close waits for that instead, within the same
/// timeout ([`nothing_sent_until_acknowledged`]); a byte that arrives
/// meanwhile makes it the whole close above. Its FIN is left to the
/// socket's last owner, who sends it after giving the slot back: a client
/// that connects again the moment it sees it finds the slot free.
pub(super) fn close_gracefully(stream: &TcpStream, wait_for_hang_up: bool) -> bool {
    let deadline = Instant::now() + CLOSE_READ_TIMEOUT;
    if !wait_for_hang_up && nothing_sent_until_acknowledged(stream, deadline) {
        return true;
    }
    let _ = stream.shutdown(Shutdown::Write);
    // What is read here is thrown away: one read's worth, on the stack.
    let mut sink = [0u8; 4096];
    // Waiting already (a request pipelined before the response ended, or
    // sent while the close waited for its acknowledgement): read first,
    // all of it, since it is no sign that the client is still sending;
    // what arrives after it is.
    let sent_before = read_waiting(stream, &mut sink);
    let sending = |drained| drained > sent_before;
    let mut drained = sent_before;
    while drained < MAX_CLOSE_READ_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return !discards_a_tail(stream, sending(drained));
        }
        match (&*stream).read(within_limit(&mut sink, drained)) {
            // The client has closed, or is gone: nothing more to wait for.
            Ok(0) => return true,
            Err(e) if !defense::is_timeout(&e) => return true,
            Err(_) => return !discards_a_tail(stream, sending(drained)),
            Ok(n) => drained += n,
        }
    }
    // The client is still sending (an HTTP/2 flood answered with GOAWAY,
    // say; one that sent this much before the close is taken to be at it
    // still), so the close will leave input unread and be a reset, and a reset
    // throws away what the kernel has not sent yet: the answer's last
    // frames. Wait, within the same deadline, until the client has
    // acknowledged every byte and the FIN, or reset the connection itself
    // (the queue then never empties).
    let unacknowledged = || sys::unacknowledged_bytes(stream).is_ok_and(|n| n > 0);
    // Reading SO_ERROR clears it, so a reset seen once is kept: read again
    // it is gone, while the kernel still counts the bytes it threw away as
    // unacknowledged, and the client's own reset would pass for a cut.
    //
    // A client's reset ends the close as a whole response, here and in
    // the reads above, whatever is still unacknowledged: not the client's
    // abort. The server cannot tell a tail the client never got from one it
    // read and had not yet acknowledged (a delayed ACK), since a reset's
    // own acknowledgement is never taken (RFC 9293 §3.10.7.4 looks at RST
    // before ACK); so most clients that read to the end and then reset
    // would be called aborted.
    let mut reset = false;
    let mut client_reset = || {
        reset = reset || !matches!(stream.take_error(), Ok(None));
        reset
    };
    while Instant::now() < deadline && unacknowledged() && !client_reset() {
        std::thread::sleep(ACK_CHECK);
    }
    client_reset() || !discards_a_tail(stream, true)
}

/// Waits until the client has acknowledged every byte written to `stream`
/// (at once, for a client that reads as fast as it is sent to), has
/// closed, or `deadline` passes, whichever is first; true unless a byte
/// from it waits unread by then. A client that has acknowledged everything
/// loses nothing to a reset its later byte causes, and one that has closed
/// sends none; one slower than `deadline` is closed on anyway, since a
/// close that waits for every slow reader would hold its slot as long as
/// the reader likes.
fn nothing_sent_until_acknowledged(stream: &TcpStream, deadline: Instant) -> bool {
    loop {
        // A socket that cannot say is not waited for.
        let unacknowledged = sys::unacknowledged_bytes(stream).is_ok_and(|n| n > 0);
        let left = deadline.saturating_duration_since(Instant::now());
        if !unacknowledged
            || left.is_zero()
            || stream.set_read_timeout(Some(left.min(ACK_CHECK))).is_err()
        {
            return !input_waiting(stream);
        }
        // Wakes at once for a byte or the client's FIN (which often carries
        // the last acknowledgement): the slot of a client that closes first
        // goes back then, not at the next look.
        match stream.peek(&mut [0; 1]) {
            Ok(0) => return true,
            Ok(_) => return false,
            Err(e) if defense::is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

/// Reads and throws away the bytes waiting unread on `stream`, up to
/// [`MAX_CLOSE_READ_BYTES`], without waiting for more; returns how many.
fn read_waiting(stream: &TcpStream, sink: &mut [u8]) -> usize {
    let mut read = 0;
    if stream.set_nonblocking(true).is_ok() {
        while read < MAX_CLOSE_READ_BYTES {
            match (&*stream).read(within_limit(sink, read)) {
                Ok(n @ 1..) => read += n,
                _ => break,
            }
        }
    }
    let _ = stream.set_nonblocking(false);
    read
}

/// The part of `sink` one read may fill with `drained` bytes read so far, so
/// that no more than [`MAX_CLOSE_READ_BYTES`] are ever read.
fn within_limit(sink: &mut [u8], drained: usize) -> &mut [u8] {
    let room = MAX_CLOSE_READ_BYTES.saturating_sub(drained).min(sink.len());
    &mut sink[..room]
}

/// Whether a byte waits unread on `stream`, taking none. False if the
/// socket cannot say at once.
fn input_waiting(stream: &TcpStream) -> bool {
    let waiting =
        stream.set_nonblocking(true).is_ok() && stream.peek(&mut [0; 1]).is_ok_and(|n| n > 0);
    let _ = stream.set_nonblocking(false);
    waiting
}

/// Whether closing `stream` now discards bytes the client has not
/// acknowledged, which the kernel still holds. It does if the close will
/// be a reset: input is left unread, or the client sent during the close
/// (`sending`), whose next byte would reach a closed socket and make the
/// kernel reset it. Input all read at this instant proves nothing about
/// such a client.
fn discards_a_tail(stream: &TcpStream, sending: bool) -> bool {
    (sending || input_waiting(stream)) && sys::unacknowledged_bytes(stream).is_ok_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// The response of 256 KiB, or as much as the server's kernel takes at
    /// once, to a client with a 4 KiB window: most of it waits unsent.
    fn a_response_mostly_unsent() -> (TcpStream, TcpStream, usize) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = sys::connect_with_receive_buffer(addr, 4096, Duration::from_secs(5)).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut written = 0;
        while written < 256 * 1024
            && let Ok(n) = (&server).write(&[7; 4096])
        {
            written += n;
        }
        server.set_nonblocking(false).unwrap();
        (server, client, written)
    }

    /// Waits until `size` bytes the client sent wait unread in `server`'s
    /// kernel, so that the close finds them there: a pause is no proof on
    /// a loaded machine. Panics if they have not within `HANG_LIMIT`.
    fn arrived(server: &TcpStream, size: usize) {
        let mut buf = vec![0; size];
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let started = Instant::now();
        while size > 0 && !server.peek(&mut buf).is_ok_and(|n| n >= size) {
            let limit = crate::test_support::HANG_LIMIT;
            assert!(
                started.elapsed() < limit,
                "{size} bytes not there in {limit:?}"
            );
            thread::sleep(Duration::from_millis(1));
        }
        server.set_read_timeout(None).unwrap();
    }

    /// Every byte the client receives until the end or an error.
    fn received_by(client: &TcpStream) -> usize {
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (mut received, mut buf) = (0, vec![0; 1 << 16]);
        while let Ok(n @ 1..) = (&*client).read(&mut buf) {
            received += n;
        }
        received
    }

    /// A client still sending when its response is done makes the close a
    /// reset, and a reset throws away what the kernel has not sent yet. So
    /// the graceful close, once it stops draining, waits for the client to
    /// acknowledge every byte. Here the client's small window leaves most
    /// of the response unsent in the server's kernel, and the client reads
    /// only 100 ms later: it must still get all of it.
    #[test]
    fn a_close_with_input_unread_waits_until_the_response_is_acknowledged() {
        let (server, client, written) = a_response_mostly_unsent();
        let received = thread::scope(|scope| {
            // More than the close drains: the client is still sending.
            scope.spawn(|| {
                let _ = (&client).write_all(&vec![0; 4 * MAX_CLOSE_READ_BYTES]);
            });
            let reader = scope.spawn(|| {
                thread::sleep(Duration::from_millis(100));
                received_by(&client)
            });
            assert!(close_gracefully(&server, true), "every byte acknowledged");
            drop(server);
            reader.join().unwrap()
        });
        assert_eq!(received, written);
    }

    /// But a client that keeps sending and reads nothing within the close's
    /// 500 ms loses the tail to the close's reset: the close says so, so
    /// that the response is logged and counted as cut (`close-timeout`),
    /// not as complete.
    #[test]
    fn a_close_that_leaves_a_tail_unacknowledged_says_so() {
        let (server, client, written) = a_response_mostly_unsent();
        thread::scope(|scope| {
            // Sends until the close's reset ends it; never reads.
            scope.spawn(|| while (&client).write_all(&[0; 4096]).is_ok() {});
            assert!(!close_gracefully(&server, true), "{written} bytes written");
            drop(server);
        });
    }

    /// But a client that resets the connection itself while the close
    /// waits for the tail's acknowledgement has ended it: the close says
    /// so (`true`), and the connection is not logged or counted as cut at
    /// the close timeout, though the kernel still counts the tail it threw
    /// away as unacknowledged. The wait reads the reset from SO_ERROR, which
    /// the read clears: the answer must be the one the wait saw.
    #[test]
    fn a_client_that_resets_while_the_close_waits_has_ended_it() {
        let (server, client, _) = a_response_mostly_unsent();
        let closed = thread::scope(|scope| {
            scope.spawn(move || {
                // More than the close drains: the close goes on to wait.
                let _ = (&client).write_all(&vec![0; 2 * MAX_CLOSE_READ_BYTES]);
                thread::sleep(Duration::from_millis(150));
                sys::reset_on_close(&client).unwrap();
            });
            close_gracefully(&server, true)
        });
        assert!(closed, "the client's own reset taken for a cut");
    }

    /// A client that sends a byte now and then, too few for the close to
    /// stop draining, is still sending: its next byte reaches a closed
    /// socket, which makes the kernel abort it and discard the tail as
    /// surely as unread input does. That no byte waits unread at the
    /// instant the close gives up says nothing, so the close says cut.
    #[test]
    fn a_client_that_sends_now_and_then_during_the_close_is_still_sending() {
        let (server, client, written) = a_response_mostly_unsent();
        thread::scope(|scope| {
            scope.spawn(|| {
                while (&client).write_all(b"x").is_ok() {
                    thread::sleep(Duration::from_millis(10));
                }
            });
            assert!(!close_gracefully(&server, true), "{written} bytes written");
            drop(server);
        });
    }

    /// But one that sent, before the close, as much as the close reads at
    /// most is taken to be at it still, though nothing more comes: its
    /// next byte would reset the tail, so a close that could not wait for
    /// the tail to be acknowledged (this client reads none of it) says cut,
    /// with no byte unread at that instant.
    #[test]
    fn a_client_that_sent_all_a_close_reads_is_taken_to_be_still_sending() {
        let (server, client, written) = a_response_mostly_unsent();
        (&client).write_all(&[0; MAX_CLOSE_READ_BYTES]).unwrap();
        arrived(&server, MAX_CLOSE_READ_BYTES);
        assert!(!close_gracefully(&server, true), "{written} bytes written");
    }

    /// But bytes that were waiting before the response ended (a second,
    /// pipelined request) are no sign of a client still sending: if it
    /// sends nothing more, the kernel delivers the tail after the close,
    /// to a client that reads it late. However many they are: a request
    /// with 12 KiB of fields is more than the close reads at a time.
    #[test]
    fn a_request_pipelined_before_the_close_is_not_a_client_still_sending() {
        let big = [
            b"GET / HTTP/1.1\r\nx: ".as_slice(),
            &[b'y'; 12 * 1024],
            b"\r\n\r\n",
        ]
        .concat();
        for pipelined in [b"GET / HTTP/1.1\r\n\r\n".as_slice(), &big] {
            let (server, client, written) = a_response_mostly_unsent();
            (&client).write_all(pipelined).unwrap();
            arrived(&server, pipelined.len());
            let whole = close_gracefully(&server, true);
            drop(server);
            let size = pipelined.len();
            assert_eq!(received_by(&client), written, "{size} bytes pipelined");
            assert!(whole, "{size} bytes pipelined: the close said cut");
        }
    }

    /// A close that found no closing place free does not wait for a client
    /// that has sent nothing unread to hang up: it closes once the client
    /// has acknowledged every byte, keeping its slot no longer, and the
    /// client gets every byte and the FIN. With a place, or with input
    /// waiting, the same close waits for the client to hang up, here until
    /// [`CLOSE_READ_TIMEOUT`], since this one never does.
    #[test]
    fn a_close_without_a_place_waits_only_for_a_client_that_sent_more() {
        for (hang_up, sent, waits) in [(false, 0, false), (true, 0, true), (false, 5, true)] {
            let (server, client, written) = a_response_mostly_unsent();
            (&client).write_all(&b"more!"[..sent]).unwrap();
            arrived(&server, sent);
            let case = format!("wait_for_hang_up {hang_up}, {sent} bytes sent");
            let waited = thread::scope(|scope| {
                let reader = scope.spawn(|| received_by(&client));
                let started = Instant::now();
                assert!(close_gracefully(&server, hang_up), "{case}");
                let waited = started.elapsed();
                drop(server);
                assert_eq!(reader.join().unwrap(), written, "{case}");
                waited
            });
            assert_eq!(waited >= CLOSE_READ_TIMEOUT, waits, "{case}: {waited:?}");
        }
    }

    /// But a client that has not acknowledged the response by then is not
    /// closed on while it is unacknowledged: a byte it sends after the close
    /// would reset the connection and throw away the tail the kernel still
    /// holds. Here the client reads nothing for 100 ms, then sends a second
    /// request, then reads: every byte, and a FIN.
    #[test]
    fn a_close_without_a_place_waits_for_the_acknowledgement() {
        let (server, client, written) = a_response_mostly_unsent();
        let received = thread::scope(|scope| {
            let reader = scope.spawn(|| {
                thread::sleep(Duration::from_millis(100));
                (&client).write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                thread::sleep(Duration::from_millis(50));
                received_by(&client)
            });
            assert!(close_gracefully(&server, false), "every byte acknowledged");
            drop(server);
            reader.join().unwrap()
        });
        assert_eq!(received, written);
    }

    /// A read that would take the close past its limit is given only the
    /// room left: a read that returned a partial 4 KiB, say one byte
    /// already waiting, would otherwise let the next full one overshoot.
    #[test]
    fn no_read_takes_the_close_past_its_limit() {
        let mut sink = [0u8; 4096];
        assert_eq!(within_limit(&mut sink, 0).len(), 4096);
        assert_eq!(within_limit(&mut sink, MAX_CLOSE_READ_BYTES - 1).len(), 1);
        assert_eq!(within_limit(&mut sink, MAX_CLOSE_READ_BYTES).len(), 0);
    }

    /// A client that resets its connection while the close waits for it
    /// to hang up has hung up: the close ended well (`true`), and its
    /// connection is not logged or counted as cut at the close timeout.
    /// Here the client reads the response to the server's FIN, then resets,
    /// while the close reads on.
    #[test]
    fn a_reset_from_the_client_during_the_close_is_its_hang_up() {
        let (server, mut client) = crate::test_support::loopback();
        (&server).write_all(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        let closed = thread::scope(|scope| {
            let closing = scope.spawn(|| close_gracefully(&server, true));
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            // The close is reading by now, or soon: it waits up to 500 ms.
            thread::sleep(Duration::from_millis(100));
            sys::reset_on_close(&client).unwrap();
            drop(client);
            closing.join().unwrap()
        });
        assert!(closed);
    }

    /// A close that need not wait for its client to hang up still does if
    /// input waits unread when it begins, though the client acknowledged
    /// every byte already: closing on unread input would be a reset, not
    /// the FIN the response's end needs. Here the client's bytes have
    /// arrived and the response was read whole before the close begins:
    /// the client then sees a clean end, not a reset.
    #[test]
    fn a_close_finding_input_waiting_and_nothing_unacknowledged_still_waits() {
        let (server, mut client) = crate::test_support::loopback();
        (&client).write_all(b"more!").unwrap();
        arrived(&server, 5);
        let response = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        (&server).write_all(response).unwrap();
        let mut got = vec![0; response.len()];
        client.read_exact(&mut got).unwrap();
        let started = Instant::now();
        while sys::unacknowledged_bytes(&server).unwrap() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "never acknowledged"
            );
            thread::sleep(Duration::from_millis(1));
        }
        let end = thread::scope(|scope| {
            scope.spawn(|| {
                close_gracefully(&server, false);
                drop(server);
            });
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let end = client.read_to_end(&mut Vec::new()).map_err(|e| e.kind());
            drop(client);
            end
        });
        assert_eq!(end, Ok(0));
    }

    /// A client still sending when the close's time is up is still sending
    /// however the time ran out: between two of its bytes, with no read
    /// waiting out what was left, as here, where a byte comes every 100 µs,
    /// as much as in a wait for the next. The close says cut, its tail
    /// unacknowledged.
    #[test]
    fn a_client_sending_as_the_time_runs_out_is_still_sending() {
        let (server, client, written) = a_response_mostly_unsent();
        client.set_nodelay(true).unwrap();
        thread::scope(|scope| {
            scope.spawn(|| {
                while (&client).write_all(b"x").is_ok() {
                    thread::sleep(Duration::from_micros(100));
                }
            });
            assert!(!close_gracefully(&server, true), "{written} bytes written");
            drop(server);
        });
    }
}
