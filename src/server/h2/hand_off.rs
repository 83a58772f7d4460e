//! A stream's body reaches the writer through its *hand-off*: at most
//! [`HANDOFF_BYTES`] that [`StreamBody::write`] copies in, returning once
//! the writer has framed them all and the socket has taken them. So
//! a stream's body blocks as an HTTP/1.1 body blocks on its socket, a
//! spent window stopping its producer as a full send buffer does, and the
//! strategies' bounds hold per stream: beyond its strategy, a stream costs
//! its thread and that one hand-off.
//!
//! The wait has the minimum rate's deadline, `max(grace, n / rate)`, as
//! every HTTP/1.1 write does: a client that opens its window a byte at a
//! time holds a stream no longer than one that reads a byte at a time. The
//! rate is the connection's to keep, not each stream's: the deadline also
//! counts the DATA sent on other streams while this one waited its turn
//! ([`Stream::waited`]). docs/http2.md says why, and what a client that
//! keeps the rate can still do. Time the process was not running (stopped,
//! or starved) is not the client's: a wait that looks [`LATE`] starts its
//! allowance again, and the cut waits for a second look, `LATE` after the
//! first past the deadline.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::streams::{Conn, Control, RECHECK, State, Stream, rst_stream};
use crate::defense::too_slow::{MinDataRate, TooSlow};
use crate::export::calendar::{IMF_FIXDATE_LEN, UtcDateTime};
use crate::http::h2::frame::{self, ErrorCode, MAX_FRAME_BYTES};
use crate::http::h2::frame_write;
use crate::http::h2::hpack_encode;
use crate::http::response::{Framing, ResponseHead};
use crate::measure::access_log::End;
use crate::measure::clock;
use crate::strategy::Wire;

/// Most body bytes one stream hands to the writer at a time: one DATA
/// frame of the largest size this side sends.
pub const HANDOFF_BYTES: usize = MAX_FRAME_BYTES;

/// A stream thread that looks this much later than it meant to was not
/// running meanwhile (the process stopped, or starved of CPU): far above a
/// scheduler's usual delay, far below a grace. Also how long a cut waits
/// past the first look that found the deadline passed: time for the reader
/// to read what came while the process was not running.
pub(super) const LATE: Duration = Duration::from_millis(100);

/// The stream `id`, unless it has left the table or was ended early: then
/// the error its body's write fails with, as over HTTP/1.1, so that the
/// export is counted alike.
fn live(state: &mut State, id: u32) -> io::Result<&mut Stream> {
    let stream = state
        .streams
        .get_mut(&id)
        .ok_or(io::ErrorKind::ConnectionAborted)?;
    match stream.reset {
        None => Ok(stream),
        Some(End::SendTimeout) => Err(TooSlow::SendTimeout.into_error()),
        Some(End::MinRate) => Err(TooSlow::MinRate.into_error()),
        Some(other) => Err(other.into_error()),
    }
}

/// One stream's response, as a [`Wire`]: the head a HEADERS frame, the
/// body handed to the writer [`HANDOFF_BYTES`] at a time, the end an
/// END_STREAM flag. A body that is dropped before its end is reset, so
/// the client can always tell a cut body from a complete one.
pub struct StreamBody<'c> {
    /// The connection the stream belongs to.
    conn: &'c Conn,
    /// The stream.
    id: u32,
    /// HEAD: the HEADERS frame ends the stream.
    head_only: bool,
    /// A hand-off of `n` bytes must be written within `max(grace, (n +
    /// waited) / rate)`, [`Stream::waited`] being what others had meanwhile.
    min_rate: MinDataRate,
    /// Body bytes the head's `Content-Length` still promises. The hand-off
    /// that completes them asks for END_STREAM on its last DATA frame: a
    /// client that counts bytes may close the moment it has them, and would
    /// otherwise leave before an empty END_STREAM frame came after them.
    promised: Option<u64>,
}

impl<'c> StreamBody<'c> {
    pub fn new(conn: &'c Conn, id: u32, head_only: bool, min_rate: MinDataRate) -> Self {
        StreamBody {
            conn,
            id,
            head_only,
            min_rate,
            promised: None,
        }
    }

    /// Waits until `done` says the stream got where it should, or fails
    /// with why it was ended early. Past the minimum rate's deadline for
    /// `bytes` and what others were sent meanwhile, with bytes still waiting
    /// for window or their turn, the stream is reset (CANCEL) and the write
    /// fails as an HTTP/1.1 write would.
    fn wait_until(&self, bytes: usize, done: impl Fn(&Stream) -> bool) -> io::Result<()> {
        let mut started = Instant::now();
        let mut meant_to_look = started;
        // The first look that found the deadline passed, the hand-off not
        // all with the writer: the cut waits for a second look, [`LATE`]
        // after it.
        let mut overdue_since = None;
        let mut state = self.conn.lock();
        loop {
            let stream = live(&mut state, self.id)?;
            if done(stream) {
                return Ok(());
            }
            // Looking [`LATE`], this thread was not running, nor the reader
            // reading the window the client sent meanwhile: the stream may
            // look windowless for that alone, its client having taken every
            // byte. The time was not the client's: the hand-off's allowance
            // starts again, as if handed off now. Saturating: woken early,
            // the look was still to come (`writer::run`'s, alike).
            if Instant::now().saturating_duration_since(meant_to_look) >= LATE {
                (started, stream.waited) = (Instant::now(), 0);
            }
            // `waited` only grows while this waits, and no wake-up comes
            // for it: a deadline computed before is early, never late, and
            // woken at it the loop computes it again.
            let owed = bytes as u64 + stream.waited;
            let deadline = self.min_rate.deadline(started, owed);
            // Every byte handed off, and any END_STREAM asked for, is in a
            // frame the writer has taken (it clears `end`): the rest is the
            // socket's, bounded by the writer's own deadline, and a reset
            // now could follow the END_STREAM being written.
            let with_writer = stream.framed == stream.data.len() && !stream.end;
            let left = deadline.saturating_duration_since(Instant::now());
            // A look a moment late, by less than LATE, may still come just
            // after the process was stopped: before the reader has read the
            // window the client sent meanwhile. So a cut needs the deadline
            // passed at two looks LATE apart, the reader running between
            // them (else the second is late, and the allowance starts
            // again): the price, a cut LATE after the deadline.
            overdue_since = (left.is_zero() && !with_writer)
                .then(|| overdue_since.unwrap_or_else(Instant::now));
            if overdue_since.is_some_and(|since| since.elapsed() >= LATE) {
                state.reset(self.id, ErrorCode::Cancel, End::MinRate);
                drop(state);
                self.conn.work.notify_one();
                return Err(TooSlow::MinRate.into_error());
            }
            let wait = match overdue_since {
                Some(since) => LATE.saturating_sub(since.elapsed()),
                None if left.is_zero() => RECHECK,
                None => left,
            };
            let wake = Arc::clone(&stream.wake);
            meant_to_look = Instant::now() + wait;
            state = self.conn.wait_for(&wake, state, wait);
        }
    }
}

impl Write for StreamBody<'_> {
    /// Hands off up to [`HANDOFF_BYTES`] of `buf` and returns once the
    /// socket has taken them, as a blocking socket write would.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(HANDOFF_BYTES);
        if self.promised.is_some_and(|left| n as u64 > left) {
            // END_STREAM goes with the last byte the head promised: more
            // would be a malformed stream (RFC 9113 §8.1.1), the strategy's
            // bug, said before any of it leaves.
            let error = "a body longer than its Content-Length";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, error));
        }
        {
            let mut state = self.conn.lock();
            // A write under way goes out first: this hand-off waits its turn
            // behind it, as behind a frame the writer takes for another
            // stream after it (the writer's own deadline bounds the write).
            let ahead = if state.writing { state.in_flight } else { 0 };
            let stream = live(&mut state, self.id)?;
            stream.data.clear();
            stream.data.extend_from_slice(&buf[..n]);
            let could_have = ahead.min(usize::try_from(stream.window).unwrap_or(0));
            (stream.framed, stream.sent, stream.waited) = (0, 0, could_have as u64);
            stream.end = self.promised == Some(n as u64);
        }
        self.conn.work.notify_one();
        let written = match self.wait_until(n, |s| s.sent == s.data.len()) {
            Ok(()) => Ok(n),
            // Part of the hand-off may have left before the stream was
            // ended: a short write, as a socket says, so that what the
            // response counts as sent is exact; the next write fails.
            Err(error) => {
                let mut state = self.conn.lock();
                // A frame of it already in the writer's write reaches the
                // kernel all the same: wait for the write's verdict, which
                // the writer's deadline bounds, unless the connection has
                // ended (a failed write ends it).
                while let Some(stream) = (state.streams.get(&self.id))
                    .filter(|s| state.writing && state.ended.is_none() && s.framed > s.sent)
                {
                    let wake = Arc::clone(&stream.wake);
                    state = self.conn.wait_for(&wake, state, RECHECK);
                }
                match state.streams.get(&self.id) {
                    Some(stream) if stream.sent > 0 => Ok(stream.sent),
                    _ => Err(error),
                }
            }
        };
        if let (Some(promised), Ok(written)) = (&mut self.promised, &written) {
            *promised = promised.saturating_sub(*written as u64);
        }
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Wire for StreamBody<'_> {
    fn send_head(&mut self, head: &ResponseHead) -> io::Result<()> {
        let mut block = Vec::with_capacity(256);
        hpack_encode::start_block(&mut block);
        let status = head.status().code().to_string();
        hpack_encode::encode_field(&mut block, b":status", status.as_bytes());
        let mut date = [0; IMF_FIXDATE_LEN];
        UtcDateTime::from_unix_seconds(clock::now_unix_seconds()).write_imf_fixdate(&mut date);
        hpack_encode::encode_field(&mut block, b"date", &date);
        for (name, value) in head.fields() {
            let name = name.to_ascii_lowercase();
            hpack_encode::encode_field(&mut block, name.as_bytes(), value.as_bytes());
        }
        if let Framing::ContentLength(len) = head.framing() {
            hpack_encode::encode_field(&mut block, b"content-length", len.to_string().as_bytes());
            self.promised = (!self.head_only).then_some(len);
        }
        let mut headers = Vec::with_capacity(block.len() + 2 * frame::HEADER_BYTES);
        frame_write::headers(&mut headers, self.id, &block, self.head_only);
        let mut state = self.conn.lock();
        live(&mut state, self.id)?;
        // HEAD: the HEADERS frame is the whole response, complete once written.
        let (bytes, owed, ends) = (headers, false, self.head_only.then_some(self.id));
        state.control.push_back(Control { bytes, owed, ends });
        drop(state);
        self.conn.work.notify_one();
        if self.head_only {
            return self.wait_until(0, |s| s.finished);
        }
        Ok(())
    }

    /// Asks for END_STREAM and returns once it is written: the response is
    /// done when its bytes have drained, here as over HTTP/1.1.
    fn end_body(&mut self) -> io::Result<()> {
        if let Some(stream) = self.conn.lock().streams.get_mut(&self.id) {
            (stream.end, stream.waited) = (true, 0);
        }
        self.conn.work.notify_one();
        self.wait_until(0, |s| s.finished)
    }

    /// Fails once the stream was reset (by the client, or by this side) or
    /// its connection ended, as its next write would.
    fn still_wanted(&mut self) -> io::Result<()> {
        live(&mut self.conn.lock(), self.id).map(drop)
    }
}

impl Drop for StreamBody<'_> {
    /// The stream leaves the table. If its response was not complete it is
    /// reset, so that the client learns the body was cut; a client that
    /// still sends a request body is told to stop (RFC 9113 §8.1), unless
    /// it has reset the stream itself (§5.4.2).
    fn drop(&mut self) {
        let mut state = self.conn.lock();
        state.reset(self.id, ErrorCode::InternalError, End::ProducerFailed);
        if let Some(stream) = state.streams.remove(&self.id)
            && stream.finished
            && stream.remote_open
            && !stream.reset_by_client
        {
            state.push(rst_stream(self.id, ErrorCode::NoError));
            state.reset_sent(self.id, ErrorCode::NoError);
        }
        drop(state);
        self.conn.work.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::h2::EndOnPanic;
    use crate::server::h2::writer::{Job, next_job};
    use crate::test_support::wait_until;
    use std::thread;
    use std::time::Duration;

    /// A minimum rate whose 50 ms grace is the whole allowance of these
    /// tests' few bytes.
    const SHORT_GRACE: MinDataRate = MinDataRate {
        bytes_per_second: 1 << 20,
        grace: Duration::from_millis(50),
    };

    /// The writer takes a frame of stream 1's hand-off, and its write
    /// takes four times the allowance. A hand-off it has all taken is not
    /// cut meanwhile: the socket is the writer's to bound, and a reset now
    /// could follow the END_STREAM it is writing (the body, arrived whole,
    /// would be called cut). One with half still waiting for window is cut
    /// at the minimum rate, but that does not stop the write: the frame
    /// reaches the kernel all the same, so the hand-off says it was sent,
    /// as a short write, and the cut body's `body_bytes` is what the kernel
    /// took.
    #[test]
    fn a_hand_off_is_cut_only_for_what_the_writer_has_not_taken() {
        for (framed, cut) in [(10, None), (5, Some(End::MinRate))] {
            // A run is judged only if the frame was taken within the grace
            // of the hand-off: a test thread kept off the CPU longer would
            // find the stream cut before its writer took anything, a cut
            // the rule allows. Such a run is run again.
            let judged = (0..10).any(|_| hand_off_cut_for(framed, cut));
            assert!(judged, "framed {framed}: never taken within the grace");
        }
    }

    /// One run of the test above: false if the frame could not be taken
    /// within the grace.
    fn hand_off_cut_for(framed: usize, cut: Option<End>) -> bool {
        let conn = Conn::with_stream_1();
        thread::scope(|scope| {
            let _ends = EndOnPanic(&conn); // a failing test fails, not hangs
            // Before the hand-off, so before its deadline's start.
            let spawned = Instant::now();
            let body = scope.spawn(|| {
                let mut out = StreamBody::new(&conn, 1, false, SHORT_GRACE);
                out.write(b"ten bytes!").map_err(|e| e.kind())
            });
            // The writer takes its frame in the hold of the lock that sees
            // the hand-off, the stream unable to cut it meanwhile.
            let mut in_time = false;
            wait_until("the hand-off", || {
                let mut state = conn.lock();
                // Gone from the table: handed off, cut and dropped.
                let handed_off = (state.streams.get(&1)).is_none_or(|s| !s.data.is_empty());
                in_time = spawned.elapsed() < SHORT_GRACE.grace;
                if handed_off && in_time {
                    state.writing = true;
                    state.streams.get_mut(&1).unwrap().framed = framed;
                }
                handed_off
            });
            if !in_time {
                // Cut at its deadline with nothing taken: the write fails.
                let _ = body.join();
                return false;
            }
            match cut {
                Some(_) => wait_until("the cut", || conn.lock().streams[&1].reset.is_some()),
                None => thread::sleep(Duration::from_millis(200)),
            }
            assert!(!body.is_finished(), "framed {framed}: returned mid-write");
            let mut state = conn.lock();
            assert_eq!(state.streams[&1].reset, cut, "framed {framed}");
            let resets = state.control.len();
            assert_eq!(resets, usize::from(cut.is_some()), "framed {framed}");
            // The write goes through.
            state.writing = false;
            state.streams.get_mut(&1).unwrap().sent = framed;
            state.streams[&1].wake.notify_one();
            drop(state);
            assert_eq!(body.join().unwrap(), Ok(framed), "framed {framed}");
            true
        })
    }

    /// Stream 3 hands off while the writer is in a write of stream 1's
    /// frame, one that takes longer than the grace (a kernel buffer that
    /// wakes its writer late): it waits its turn behind that frame, as
    /// behind one taken after it came, and is not cut as too slow while
    /// the connection keeps the rate; the writer takes its frame next.
    #[test]
    fn a_hand_off_waits_its_turn_behind_the_frame_being_written() {
        // A run is judged only if its look came within the allowance the
        // credit gives: a test thread kept off the CPU past it would find
        // stream 3 cut as the rule says. Such a run is run again.
        let judged = (0..10).any(|_| waits_its_turn());
        assert!(judged, "never looked within the allowance");
    }

    /// One run of the test above: false if it looked too late to judge, or
    /// before stream 3's thread had handed off.
    fn waits_its_turn() -> bool {
        // 16 KiB in a quarter of a second, and a 50 ms grace.
        let rate = MinDataRate {
            bytes_per_second: 64 * 1024,
            grace: Duration::from_millis(50),
        };
        // Stream 3's deadline with the credit, 10 bytes and stream 1's
        // frame at 64 KiB/s, is a little past it.
        let allowance = Duration::from_millis(250);
        let conn = Conn::with_stream_1();
        let mut frame = Vec::new();
        {
            let mut state = conn.lock();
            let window = state.initial_window;
            state.streams.insert(3, Stream::new(window, false));
            state.streams.get_mut(&1).unwrap().data = vec![b'x'; HANDOFF_BYTES];
            let job = next_job(&mut state, &mut frame);
            assert!(matches!(job, Some(Job::Data { id: 1, .. })));
            state.writing = true; // as the writer marks it, then writes
        }
        thread::scope(|scope| {
            let _ends = EndOnPanic(&conn); // a failing test fails, not hangs
            // Before the hand-off, so before its deadline's start.
            let spawned = Instant::now();
            let body = scope.spawn(|| {
                let mut out = StreamBody::new(&conn, 3, false, rate);
                out.write(b"ten bytes!").map_err(|e| e.kind())
            });
            thread::sleep(Duration::from_millis(150));
            // Looked at, and stream 1's write returned, in one hold of the
            // lock, so that stream 3 cannot be cut in between.
            let mut state = conn.lock();
            let handed_off = state.streams.get(&3).is_some_and(|s| !s.data.is_empty());
            if spawned.elapsed() >= allowance || !handed_off && !body.is_finished() {
                drop(state);
                conn.end(End::ClientAbort);
                let _ = body.join();
                return false;
            }
            if body.is_finished() {
                drop(state);
                panic!("stream 3 cut behind stream 1's frame: {:?}", body.join());
            }
            // Stream 1's write returns; stream 3's frame is the next.
            state.writing = false;
            state.streams.get_mut(&1).unwrap().sent = HANDOFF_BYTES;
            let job = next_job(&mut state, &mut frame);
            assert!(matches!(
                job,
                Some(Job::Data {
                    id: 3,
                    upto: 10,
                    ..
                })
            ));
            state.streams.get_mut(&3).unwrap().sent = 10;
            state.streams[&3].wake.notify_one();
            drop(state);
            assert_eq!(body.join().unwrap(), Ok(10));
            true
        })
    }

    /// The credit for a write under way is that write's bytes, capped by
    /// the window of the stream that hands off, as for a frame taken after
    /// it: a control batch counts as a DATA frame does; a stream with no
    /// window, or one overdrawn by a smaller SETTINGS_INITIAL_WINDOW_SIZE
    /// (RFC 9113 §6.9.2), could have had none of it; with no write under
    /// way (`writing` false) there is none, though `in_flight` still holds
    /// the size of the last write; and it replaces what the stream's last
    /// hand-off was credited, not adds to it.
    #[test]
    fn a_hand_off_is_credited_the_write_under_way_up_to_its_window() {
        // Read at the hand-off, the credit needs no deadline: a short one
        // would cut stream 3, and take it out of the table, before a test
        // thread kept off the CPU had looked.
        const LONG_GRACE: MinDataRate = MinDataRate {
            bytes_per_second: 1 << 20,
            grace: Duration::from_secs(30),
        };
        let ping_ack = {
            let mut bytes = Vec::new();
            frame_write::ping(&mut bytes, [7; 8], true);
            bytes
        };
        let data_frame = HANDOFF_BYTES + frame::HEADER_BYTES;
        // (a control frame ahead, stream 3's window, writing, credit)
        let cases = [
            (false, 65_535, true, data_frame),
            (true, 65_535, true, ping_ack.len()),
            (false, 100, true, 100),
            (false, 0, true, 0),
            (false, -5, true, 0),
            (false, 65_535, false, 0),
        ];
        for (control, window, writing, credit) in cases {
            let case = (control, window, writing);
            let conn = Conn::with_stream_1();
            {
                let mut state = conn.lock();
                let last_credit = 99_999; // an earlier hand-off's
                let stream = Stream {
                    waited: last_credit,
                    ..Stream::new(window, false)
                };
                state.streams.insert(3, stream);
                state.streams.get_mut(&1).unwrap().data = vec![b'x'; HANDOFF_BYTES];
                if control {
                    let bytes = ping_ack.clone();
                    (state.control).push_back(Control {
                        bytes,
                        owed: true,
                        ends: None,
                    });
                }
                let job = next_job(&mut state, &mut Vec::new());
                assert!(job.is_some(), "{case:?}");
                state.writing = writing;
            }
            thread::scope(|scope| {
                let _ends = EndOnPanic(&conn); // a failing test fails, not hangs
                let body = scope.spawn(|| {
                    let mut out = StreamBody::new(&conn, 3, false, LONG_GRACE);
                    out.write(b"ten bytes!").map_err(|e| e.kind())
                });
                wait_until("the hand-off", || !conn.lock().streams[&3].data.is_empty());
                assert_eq!(conn.lock().streams[&3].waited, credit as u64, "{case:?}");
                conn.end(End::ClientAbort);
                assert!(body.join().unwrap().is_err(), "{case:?}");
            });
        }
    }

    /// A body dropped before its END_STREAM (its producer failed, returned
    /// early or panicked) resets its stream (1): the client is not left
    /// waiting for the rest. One complete while its request body is still
    /// coming (3) is followed by RST_STREAM NO_ERROR, to stop the body (RFC
    /// 9113 §8.1); but not once the client has reset the stream itself (5),
    /// which it may do between the END_STREAM and the stream's thread
    /// leaving: the stream is closed, and a RST_STREAM never answers one
    /// (§5.4.2). One complete both ways (7) needs nothing.
    #[test]
    fn a_dropped_body_resets_its_stream_unless_the_client_is_done_with_it() {
        let conn = Conn::new();
        let stream = |finished, remote_open, reset_by_client| Stream {
            finished,
            reset_by_client, // as the reader's `rst_stream` marks it
            ..Stream::new(65_535, remote_open)
        };
        let mut state = conn.lock();
        state.streams.insert(1, stream(false, true, false));
        state.streams.insert(3, stream(true, true, false));
        state.streams.insert(5, stream(true, true, true));
        state.streams.insert(7, stream(true, false, false));
        drop(state);
        for id in [1, 3, 5, 7] {
            drop(StreamBody::new(&conn, id, false, SHORT_GRACE));
        }
        let sent: Vec<Vec<u8>> = conn.lock().control.drain(..).map(|c| c.bytes).collect();
        let cut = rst_stream(1, ErrorCode::InternalError);
        let stop_the_body = rst_stream(3, ErrorCode::NoError);
        assert_eq!(sent, [cut, stop_the_body], "none for streams 5 and 7");
    }

    /// The END_STREAM's wait is a hand-off of its own, of no bytes: it
    /// earns no time from what other streams were sent while the last
    /// hand-off waited its turn (10 MiB here, 10 s at the rate). Never
    /// taken by a writer, it is cut at the grace, not 10 s later.
    #[test]
    fn an_end_stream_earns_no_time_from_the_hand_off_before_it() {
        let conn = Conn::with_stream_1();
        conn.lock().streams.get_mut(&1).unwrap().waited = 10 << 20;
        let mut out = StreamBody::new(&conn, 1, false, SHORT_GRACE);
        let started = Instant::now();
        let ended = out.end_body().map_err(|e| e.kind());
        assert_eq!(ended, Err(TooSlow::MinRate.into_error().kind()));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "cut after {took:?}");
    }
}
