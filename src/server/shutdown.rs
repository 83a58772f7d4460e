//! Graceful shutdown, with this lesson's meaning of done: a response is
//! done when its bytes have drained to the client, so a shutdown waits for
//! the bytes, not for the handlers.
//!
//! On SIGINT, SIGTERM or SIGHUP (a closed terminal, whose default would
//! kill the process without a drain; SIGINT and SIGHUP only if not ignored
//! at start, as `nohup` asks: `sys::on_shutdown_signals`) the accept loop
//! stops and closes the listener (new connections are refused at once, and
//! a load balancer moves on). Then:
//!
//! 1. **Drain.** Every request already begun goes on as if nothing
//!    happened, for up to `--drain-timeout`: a download in flight completes
//!    byte for byte. [`Connections`] knows each one's socket and wakes the
//!    waiting loop whenever one leaves. A connection whose client has sent
//!    nothing yet closes by itself (see `connection.rs`), as Go's and
//!    nginx's servers close idle ones, rather than hold the shutdown for
//!    the whole `--header-timeout` waiting for a request that may never
//!    come; an HTTP/2 connection between streams sends GOAWAY.
//! 2. **Cut.** Whatever is still open at the deadline is cut with a reset
//!    and no FIN: an abort ([`sys::abort`]), since a FIN could reach a fast
//!    reader first and end its body cleanly. Once the client
//!    has read what its kernel already holds, its next read fails, so it
//!    knows its body is incomplete, which a FIN could not tell an HTTP/1.0
//!    client; and the kernel frees the send queue instead of draining it
//!    to a process that is gone. Each cut connection logs
//!    `end=drain-timeout`. One its client had left already ended before
//!    the cut: its socket has no peer left (a reset), or its thread had met
//!    the client gone (an HTTP/2 connection whose client closed it, its
//!    streams' threads still finishing). It is cut all the same, but not
//!    counted cut, and stays the client's abort however late its thread
//!    meets the failure (a `buffer` render touches no socket).
//!    A response already written is never cut: its connection leaves the
//!    list as its close begins, since a reset would throw away what the
//!    kernel still holds of it, and the close bounds itself.
//! 3. **Join.** Every connection thread is joined (each joins its own
//!    producer), then the rejecter's; one line counts the connections that
//!    ended before the drain timeout and those cut at it
//!    ([`ShutdownSummary`]), the logger is flushed, and the process exits 0.
//!
//! This is the Rust Book's shutdown (stop taking work, let workers finish,
//! join them), plus the two things a streaming server needs on top: a bound
//! on how long "finish" may take, and a cut the client can tell from a
//! complete body. A second signal skips all of it, and resets every
//! response still being written as the process exits (see `sys.rs`); one
//! within 200 ms of the first is that one sent twice, as `timeout` sends it
//! to a process and then to its group (`sys/repeated_signal.rs`).

use std::fmt;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::sys;

/// The sockets of the connections being served, so that a shutdown can
/// wait for them and cut what does not drain in time.
#[derive(Debug, Default)]
pub struct Connections {
    /// Each connection's id and socket, shared with its thread. At most
    /// `--max-connections` entries (only served connections enter, and each
    /// leaves before its slot is given back), room for all of them taken
    /// once, so that serving allocates nothing here. A `Vec`, not a hash
    /// map: a map with room for the cap still grows under churn near it,
    /// as deletions leave tombstones; and a leave's search through at most
    /// the cap's entries costs nothing next to a connection.
    open: Mutex<Vec<Listed>>,
    /// Notified whenever a connection leaves, for [`Connections::drain`].
    left: Condvar,
    /// Set when the drain began: a connection that can end by itself
    /// between requests (HTTP/2's, with GOAWAY) should.
    draining: AtomicBool,
    /// Set when the drain timeout passed and the cut began: a connection
    /// whose write fails after this was cut by the shutdown, not by its
    /// client, unless the cut found it gone ([`Listed::gone_first`]).
    cutting: AtomicBool,
}

/// One connection on the list.
#[derive(Debug)]
struct Listed {
    /// Given at accept: how its thread names it.
    id: u64,
    /// Shared with its thread: what the cut ends.
    socket: Arc<TcpStream>,
    /// Set by the cut if the socket had no peer left: its client reset it
    /// (or the network failed it) before the cut. Its thread may meet that
    /// only after the cut, with the same bare error as the cut's own
    /// abort, and would take it for the cut's ([`Connections::cut_reached`]).
    /// Or set before the cut by its thread, which met its client gone
    /// ([`Connections::lost_to_cut`]).
    gone_first: bool,
}

impl Connections {
    /// An empty list with room for `max_connections`.
    pub fn with_capacity(max_connections: usize) -> Self {
        Connections {
            open: Mutex::new(Vec::with_capacity(max_connections)),
            ..Connections::default()
        }
    }

    /// Registers a connection about to be served.
    pub fn enter(&self, id: u64, socket: Arc<TcpStream>) {
        let gone_first = false;
        self.lock().push(Listed {
            id,
            socket,
            gone_first,
        });
    }

    /// Takes a connection off the list, so that no cut can reach it from
    /// now on; leaving twice is harmless. Returns whether the cut reached it
    /// first: its socket is set to close with a reset. (The cut holds the
    /// list from the moment it begins until every socket on it is cut, so
    /// a connection still listed once it has begun was cut, unless it was
    /// gone already.)
    pub fn leave(&self, id: u64) -> bool {
        let mut open = self.lock();
        let listed = open.iter().position(|listed| listed.id == id);
        let cut = listed.is_some_and(|at| !open[at].gone_first) && self.cutting();
        if let Some(at) = listed {
            open.swap_remove(at);
        }
        drop(open);
        self.left.notify_all();
        cut
    }

    /// Whether a shutdown has begun: no new requests should start.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Whether the shutdown has begun cutting connections.
    pub fn cutting(&self) -> bool {
        self.cutting.load(Ordering::SeqCst)
    }

    /// Whether the cut ended connection `id`: it has begun, and found the
    /// connection still there. Asked by its thread, before it leaves, of a
    /// read or write that failed with a bare error, which the cut's abort
    /// and a client's reset look alike in: one its client reset before the
    /// cut stays the client's abort, however late its thread met the reset.
    pub fn cut_reached(&self, id: u64) -> bool {
        // Once the cut has begun, the list is held until it has looked at
        // every connection: the answer waits for it.
        self.cutting() && !self.lock().iter().any(|l| l.id == id && l.gone_first)
    }

    /// Says that connection `id`'s thread has lost its client (a read met
    /// its close or reset, a write failed), and returns whether the cut
    /// caused it ([`Connections::cut_reached`]). If not, the cut will
    /// neither count it nor name its end, however long its thread takes to
    /// finish (an HTTP/2 connection joins its streams' threads): its socket
    /// may still have a peer, after a FIN, but its client has left. (Not
    /// `h2::Conn::client_left`, which names the connection's end given
    /// this answer.)
    pub fn lost_to_cut(&self, id: u64) -> bool {
        let mut open = self.lock();
        let listed = open.iter_mut().find(|l| l.id == id);
        if self.cutting() {
            return !listed.is_some_and(|l| l.gone_first);
        }
        if let Some(listed) = listed {
            listed.gone_first = true;
        }
        false
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().len()
    }

    /// Waits until every connection has left or `deadline` passes, then
    /// cuts whatever is left with a reset; returns how many were cut, not
    /// counting those whose client had left already ([`Listed::gone_first`]).
    pub fn drain(&self, deadline: Instant) -> usize {
        self.draining.store(true, Ordering::SeqCst);
        let mut open = self.lock();
        while !open.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            open = match self.left.wait_timeout(open, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        self.cutting.store(true, Ordering::SeqCst);
        let mut reached = 0;
        for listed in open.iter_mut() {
            // A socket whose client reset it is closed, and has no peer
            // to name (`ENOTCONN`); looked at before the abort, which
            // closes every socket. Cut all the same, which costs a closed
            // one nothing, lest one misjudged hold its thread.
            listed.gone_first |= listed.socket.peer_addr().is_err();
            reached += usize::from(!listed.gone_first);
            cut(&listed.socket);
        }
        reached
    }

    /// The list, even if a thread panicked while holding it: a push or a
    /// swap-remove cannot leave it half-updated.
    fn lock(&self) -> MutexGuard<'_, Vec<Listed>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ends `socket` at once with a reset and wakes the thread blocked on it:
/// an abort ([`sys::abort`] says why never a FIN). Where the kernel
/// refuses the abort, the reset is armed for the close and both directions
/// shut down, which wakes the thread too.
pub fn cut(socket: &TcpStream) {
    let _ = sys::reset_on_close(socket);
    if sys::abort(socket).is_err() {
        let _ = socket.shutdown(Shutdown::Both);
    }
}

/// What a shutdown came to: its one summary line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownSummary {
    /// Connections open when the shutdown began that ended before the drain
    /// timeout, however they ended: a response written whole, a connection
    /// closed unanswered, a client gone, a cut by another defense. Not
    /// "drained": the count cannot tell these apart (the access log's
    /// `end=` does), and a response counts once its last write was taken
    /// by this server's kernel, not once the client read it.
    pub ended: usize,
    /// Connections still open at the drain timeout, cut with a reset; not
    /// one whose client had left already, whose thread was still finishing
    /// (it counts as ended).
    pub cut: usize,
    /// From the accept loop's stop (within 100 ms of the signal) to every
    /// thread joined.
    pub took: Duration,
    /// The `--drain-timeout` in force.
    pub drain_timeout: Duration,
}

impl fmt::Display for ShutdownSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        write!(
            f,
            "backpressure: shut down in {:.1} s: {} connection{} ended before the drain timeout, \
             {} cut at it ({} ms)",
            self.took.as_secs_f64(),
            self.ended,
            plural(self.ended),
            self.cut,
            self.drain_timeout.as_millis(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Read};
    use std::thread;

    fn pair() -> (Arc<TcpStream>, TcpStream) {
        let (server, client) = crate::test_support::loopback();
        (Arc::new(server), client)
    }

    #[test]
    fn a_drain_waits_for_connections_that_finish_in_time() {
        let connections = Arc::new(Connections::default());
        let (socket, _client) = pair();
        connections.enter(1, socket);
        let leaving = Arc::clone(&connections);
        let thread = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            assert!(!leaving.leave(1), "left before any cut");
        });
        let started = Instant::now();
        let cut = connections.drain(started + Duration::from_secs(10));
        thread.join().unwrap();
        assert_eq!(cut, 0);
        assert_eq!(connections.open(), 0);
        // The last one out wakes the drain: a shutdown is as quick as its
        // slowest response, not always the whole drain timeout.
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "drained in {took:?}");
    }

    /// A thread blocked reading its socket is woken by the cut. (That a
    /// cut download ends in a reset is tested against the real server.)
    #[test]
    fn what_is_left_at_the_deadline_is_cut() {
        crate::test_support::within(|| {
            let connections = Arc::new(Connections::default());
            let (socket, mut client) = pair();
            connections.enter(7, Arc::clone(&socket));
            let serving = Arc::clone(&connections);
            let thread = thread::spawn(move || {
                let read = (&*socket).read(&mut [0u8; 16]);
                assert!(serving.leave(7), "the cut reached it first");
                assert!(!serving.leave(7), "leaving again");
                read.map_err(|e| e.kind())
            });
            assert!(!connections.cutting());
            let cut = connections.drain(Instant::now() + Duration::from_millis(100));
            assert_eq!(cut, 1);
            assert!(connections.cutting());
            let read = thread.join().unwrap();
            assert!(read.is_err(), "the blocked read fails at once: {read:?}");
            assert_eq!(connections.open(), 0);
            // A reset, never a FIN: nothing a client reads looks like an end.
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let end = client.read(&mut [0u8; 16]).map_err(|e| e.kind());
            assert_eq!(end, Err(io::ErrorKind::ConnectionReset));
        });
    }

    /// A connection whose client reset it before the cut ended before it:
    /// the cut neither counts it nor names its end, whose thread has not
    /// touched its socket since; one still there beside it was cut.
    #[test]
    fn a_connection_its_client_reset_first_is_not_the_cuts() {
        let connections = Connections::default();
        let (reset, client) = pair();
        crate::sys::reset_on_close(&client).unwrap();
        drop(client);
        let (live, _client) = pair();
        connections.enter(1, reset);
        connections.enter(2, live);
        // The client's reset has arrived once its socket has no peer left.
        let reset = Arc::clone(&connections.lock()[0].socket);
        crate::test_support::within(move || {
            while reset.peer_addr().is_ok() {
                thread::sleep(Duration::from_millis(1));
            }
        });
        assert!(!connections.cut_reached(1), "before the cut");
        assert_eq!(connections.drain(Instant::now()), 1);
        assert!(!connections.cut_reached(1), "reset by its client first");
        assert!(connections.cut_reached(2), "still there at the cut");
        assert!(!connections.leave(1));
        assert!(connections.leave(2));
    }

    /// A connection whose thread met its client's close before the cut is
    /// the client's, though its socket still has a peer (a FIN): the cut
    /// neither counts it nor names its end. Met after the cut, the close
    /// is the cut's.
    #[test]
    fn a_connection_its_client_left_first_is_not_the_cuts() {
        let connections = Connections::default();
        let (closed, client) = pair();
        client.shutdown(std::net::Shutdown::Both).unwrap();
        let (live, _client) = pair();
        connections.enter(1, closed);
        connections.enter(2, live);
        assert!(!connections.lost_to_cut(1), "before the cut");
        assert_eq!(connections.drain(Instant::now()), 1);
        assert!(!connections.cut_reached(1), "left before the cut");
        assert!(connections.lost_to_cut(2), "met after the cut");
        assert!(!connections.leave(1));
        assert!(connections.leave(2));
    }

    #[test]
    fn the_summary_is_one_line() {
        let summary = ShutdownSummary {
            ended: 1,
            cut: 2,
            took: Duration::from_millis(2_040),
            drain_timeout: Duration::from_secs(2),
        };
        assert_eq!(
            summary.to_string(),
            "backpressure: shut down in 2.0 s: 1 connection ended before the drain timeout, \
             2 cut at it (2000 ms)"
        );
    }
}
