//! Deadlines for writing to a slow client: the send timeout, and a minimum
//! response data rate that partial writes cannot dodge.
//!
//! Backpressure makes a slow client block our writes; this module makes sure
//! a *too* slow one cannot block them forever. Two rules, checked on every
//! write to the socket:
//!
//! - **send timeout** (nginx's `send_timeout`): a client that acknowledges
//!   nothing for `--send-timeout` fails the write. It catches a client that
//!   stops reading. It measures the client, not the kernel. Bytes the
//!   kernel took are not progress: autotuning grows the send buffer, which
//!   would lend a stalled client time, a few hundred KB at a time. Bytes
//!   the client acknowledged are progress, even before the kernel wakes the
//!   writer. The count comes from the kernel's unacknowledged bytes
//!   (`SIOCOUTQ`, `sys.rs`).
//! - **minimum data rate** (Kestrel's `MinResponseDataRate`): a write of `n`
//!   bytes must be *complete* within `max(grace, n / rate)`. It catches a
//!   client that reads a few bytes now and then (a slow-read attack): each
//!   of those reads lets one `write` call return a little progress, so a
//!   per-call timeout restarts every time and never fires.
//!
//! The second rule is why [`DeadlineWriter`] does not just set the socket's
//! write timeout once. It fixes the deadline when a write begins, and before
//! every partial `write` it re-arms the socket's timeout with the time
//! *left*, exactly as [`read_head`](super::head_deadline::read_head) does for the request
//! head. A write that has not finished by its deadline fails with
//! [`io::ErrorKind::TimedOut`], carrying a [`TooSlow`] that says which rule
//! fired, so the abort can be counted by reason; if the kernel took part
//! of it first, that part is returned and the next call fails.
//!
//! Unlike Kestrel, no credit is banked: a client that read fast for a minute
//! gets no extra time when it stops. The send timeout would end it anyway,
//! and a rule that holds for every write is easier to reason about.
//!
//! The rules themselves, a [`MinDataRate`]'s allowance and the [`TooSlow`]
//! verdict, are in [`too_slow`](super::too_slow): HTTP/2's hand-off holds
//! its streams to them too.

use std::io::{self, IoSlice, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::too_slow::{MinDataRate, TooSlow, saturating_after};

/// Most bytes one deadline covers. A longer write is accepted in pieces of
/// this size, each with its own deadline; without the cap, one write of
/// the largest chunk (`--chunk-bytes 16m`, which is also the most a body
/// write hands over at once) would get 16 MiB ÷ 4 KiB/s, over an hour.
pub const MAX_WRITE_BYTES: usize = 64 * 1024;

/// Most slices of one vectored write looked at: a chunk is three (size
/// line, data, CRLF). Writes with more are accepted partially, as `Write`
/// allows.
const MAX_PARTS: usize = 4;

/// What the deadline logic needs from a socket: a write timeout to arm, a
/// vectored write, and what the peer has not acknowledged. Implemented for
/// [`TcpStream`]; the unit tests implement it with scripted sockets, for
/// the cases loopback cannot stage on demand (a trickle, a kernel that
/// takes bytes its client never acknowledges).
pub trait TimedWrite {
    /// Makes a blocked write give up after `timeout` (never zero).
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()>;
    /// Writes some of `bufs`, blocking at most the armed timeout.
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Bytes written and not yet acknowledged by the peer, sent or not.
    fn unacknowledged(&self) -> io::Result<u64>;
}

impl TimedWrite for TcpStream {
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        TcpStream::set_write_timeout(self, Some(timeout))
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Write::write_vectored(&mut &*self, bufs)
    }

    fn unacknowledged(&self) -> io::Result<u64> {
        crate::sys::unacknowledged_bytes(self)
    }
}

/// How often a waiting write looks at the client per send timeout: a stall
/// is noticed within 1 + 1/10 of the timeout, since an acknowledgement is
/// dated when it is seen. Each look is one `ioctl` by a thread that is
/// waiting anyway.
const CLIENT_CHECKS: u32 = 10;

/// The shortest timeout armed: a socket's timeout cannot be zero, and a
/// write whose deadline has just passed still gets one try, so that a
/// socket with room is never refused without being asked.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// A socket writer that enforces both rules on every write.
///
/// Each `write`/`write_vectored` call is one write in the sense of the
/// minimum rate: it returns only once all of its bytes (up to
/// [`MAX_WRITE_BYTES`]) are in the kernel, or fails. That is allowed by
/// `Write`, and it is what puts a deadline around the partial writes. A
/// write that fails after the kernel took part of it returns that part,
/// and the next call fails: a cut response's count of bytes sent is exact.
/// (Only a next write reports that failure, not `flush`: a caller must
/// write on until all is written, as `write_all` does.)
#[derive(Debug)]
pub struct DeadlineWriter<'s, S: TimedWrite = TcpStream> {
    /// The client's socket.
    stream: &'s S,
    /// The stall rule: cut when the client acknowledges nothing for this
    /// long.
    send_timeout: Duration,
    /// The per-write rule.
    min_rate: MinDataRate,
    /// The write timeout the socket has now, so it is only changed (one
    /// system call) when the write's deadline, or the send timeout since
    /// the client's last acknowledgement, comes closer than the tenth of
    /// the send timeout ([`CLIENT_CHECKS`]) armed otherwise.
    armed: Option<Duration>,
    /// Bytes the socket accepted through this writer: less what the kernel
    /// still holds unacknowledged, what the client has acknowledged.
    written: u64,
    /// The client's acknowledged bytes when they last grew, and when; the
    /// send timeout runs from then. Read at the first write, whenever a
    /// write has to wait, and at least every send timeout / [`CLIENT_CHECKS`]
    /// of writing, so that an acknowledgement is never dated much later
    /// than it came, even while a roomy kernel lets every write through.
    acknowledged: Option<(u64, Instant)>,
    /// When `acknowledged` was last read: paces the reads while writes go
    /// through, at most one every send timeout / [`CLIENT_CHECKS`].
    looked_at: Option<Instant>,
    /// The error that ended a write after the socket had taken part of it.
    /// That part is returned first, as `Write` requires (an `Err` means no
    /// bytes were written), so that the caller counts every byte the
    /// kernel took; the error comes at the next call.
    failed: Option<io::Error>,
}

impl<'s, S: TimedWrite> DeadlineWriter<'s, S> {
    pub fn new(stream: &'s S, send_timeout: Duration, min_rate: MinDataRate) -> Self {
        DeadlineWriter {
            stream,
            send_timeout,
            min_rate,
            armed: None,
            written: 0,
            acknowledged: None,
            looked_at: None,
            failed: None,
        }
    }

    /// Notes what the client has acknowledged by now; the send timeout
    /// restarts only when that grew. Says whether the client has
    /// acknowledged every byte written: it is waiting for us.
    fn watch_client(&mut self) -> bool {
        self.looked_at = Some(Instant::now());
        let (acked, caught_up) = match self.stream.unacknowledged() {
            Ok(unacked) => (self.written.saturating_sub(unacked), unacked == 0),
            // No count from the kernel (not Linux): what the kernel took
            // stands in for what the client took, and the client is never
            // known to be waiting.
            Err(_) => (self.written, false),
        };
        match self.acknowledged {
            Some((before, _)) if acked <= before => {}
            _ => self.acknowledged = Some((acked, Instant::now())),
        }
        caught_up
    }

    /// Time left before the client has acknowledged nothing for the send
    /// timeout.
    fn client_left(&self) -> Duration {
        self.acknowledged.map_or(self.send_timeout, |(_, since)| {
            saturating_after(since, self.send_timeout).saturating_duration_since(Instant::now())
        })
    }

    /// Sets the socket's write timeout unless it is already `timeout`.
    fn arm(&mut self, timeout: Duration) -> io::Result<()> {
        if self.armed != Some(timeout) {
            self.stream.set_write_timeout(timeout)?;
            self.armed = Some(timeout);
        }
        Ok(())
    }

    /// Looks at the client as a write begins, if it is the first (where
    /// the client stands when we start) or if a while of writes all went
    /// through without a look: so that an acknowledgement is dated near
    /// when it came, even while a roomy kernel lets every write through.
    fn look_if_due(&mut self) {
        let look_due = self
            .looked_at
            .is_none_or(|at| at.elapsed() >= self.send_timeout / CLIENT_CHECKS);
        if look_due {
            let _ = self.watch_client();
        }
    }

    /// One call to the socket, the core of the minimum rate: armed with
    /// the nearest of this write's allowance, the send timeout since the
    /// client last acknowledged anything, and the next look at the client,
    /// so that it cannot wait past any of them. Returns the bytes the
    /// socket took (counted in `written`), or `None` if the call waited out
    /// its timeout taking nothing; a call a signal interrupted is armed and
    /// made again.
    fn arm_and_write_once(
        &mut self,
        parts: &[IoSlice<'_>],
        deadline: Instant,
    ) -> io::Result<Option<usize>> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = left
                .min(self.client_left())
                .min(self.send_timeout / CLIENT_CHECKS);
            self.arm(wait.max(MIN_WAIT))?;
            match self.stream.write_vectored(parts) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n as u64;
                    return Ok(Some(n));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The socket's own timeout, armed above.
                Err(e) if super::is_timeout(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// The deadline the rest of an unfinished write has, or the rule that
    /// cuts it. Some progress or none, a trickle that kept each call short
    /// may have used up the whole allowance, and a kernel with room may
    /// have taken what the client never acknowledged. A client that
    /// acknowledged bytes while the kernel had no room for more is
    /// reading: that is no stall.
    fn deadline_for_the_rest(
        &mut self,
        deadline: Instant,
        rest: usize,
    ) -> Result<Instant, TooSlow> {
        let caught_up = self.watch_client();
        if Instant::now() >= deadline {
            // A write waits only while the kernel holds bytes the client
            // has not taken. If it holds none, the time ran out while this
            // thread was not running (the process stopped, or starved of
            // CPU), not while the client was slow: the socket has room, and
            // the rest of the write an allowance of its own, from now.
            if caught_up {
                return Ok(self.min_rate.deadline(Instant::now(), rest as u64));
            }
            return Err(TooSlow::MinRate);
        }
        if self.client_left().is_zero() {
            return Err(TooSlow::SendTimeout);
        }
        Ok(deadline)
    }

    /// Ends a write that failed: with the part the socket took first, if
    /// any, as `Write` requires (an `Err` means no bytes were written), the
    /// error kept for the next call.
    fn fail_after(&mut self, done: usize, error: io::Error) -> io::Result<usize> {
        if done == 0 {
            return Err(error);
        }
        self.failed = Some(error);
        Ok(done)
    }
}

impl<S: TimedWrite> Write for DeadlineWriter<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        let mut storage = [IoSlice::new(&[]); MAX_PARTS];
        let (used, total) = this_writes_share(bufs, &mut storage);
        if total == 0 {
            return Ok(0);
        }
        let mut deadline = self.min_rate.deadline(Instant::now(), total as u64);
        self.look_if_due();
        let (mut parts, mut done) = (&mut storage[..used], 0);
        let error = loop {
            match self.arm_and_write_once(parts, deadline) {
                Ok(Some(n)) => {
                    done += n;
                    IoSlice::advance_slices(&mut parts, n);
                    if parts.is_empty() {
                        return Ok(total);
                    }
                }
                // Waited out the socket's timeout: time to look at the
                // deadline and the client's progress.
                Ok(None) => {}
                Err(e) => break e,
            }
            match self.deadline_for_the_rest(deadline, total - done) {
                Ok(renewed) => deadline = renewed,
                Err(rule) => break rule.into_error(),
            }
        };
        self.fail_after(done, error)
    }

    fn flush(&mut self) -> io::Result<()> {
        // A socket has no userland buffer to flush.
        Ok(())
    }
}

/// Lays out in `storage` the part of `bufs` one deadline covers, at most
/// [`MAX_PARTS`] slices and [`MAX_WRITE_BYTES`] bytes; returns how many
/// slices that is, and how many bytes.
fn this_writes_share<'b>(bufs: &'b [IoSlice<'_>], storage: &mut [IoSlice<'b>]) -> (usize, usize) {
    let (mut total, mut used) = (0, 0);
    for buf in bufs.iter().take(storage.len()) {
        let take = buf.len().min(MAX_WRITE_BYTES - total);
        storage[used] = IoSlice::new(&buf[..take]);
        used += 1;
        total += take;
    }
    (used, total)
}

#[cfg(test)]
mod tests;
