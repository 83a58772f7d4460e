//! The connection's one writer: every frame goes to the socket from this
//! thread, control frames first, then DATA, one frame per stream in turn,
//! only while both the stream's window and the connection's have room. A
//! stream whose window is spent is passed over, holding only its thread,
//! its strategy's bound and its hand-off.
//!
//! When the windows are open but the socket is full, the writer waits in
//! its write, holding no lock, and nothing else goes out, control frames
//! included: the socket is one queue. Its [`DeadlineWriter`] holds that
//! socket to the minimum rate and the send timeout, as any HTTP/1.1
//! response. A window that stays shut is a stall too, cut by the
//! hand-off's deadline (`hand_off.rs`), or `--send-timeout` if shorter.
//!
//! A stream is complete when its END_STREAM has been *written*: only then
//! is it marked finished, and its body's `end_body` returns. It is closed
//! a moment earlier, once the writer has *taken* that frame
//! ([`Stream::closing`](super::streams::Stream::closing)), since the client
//! may read the END_STREAM before the write returns: from then on the
//! stream counts no longer against the concurrent-stream limit, a client's
//! RST_STREAM on it cancels nothing, and after the client's own END_STREAM
//! its DATA or HEADERS end the connection (before it, they are read as ever).
//!
//! A connection whose writer cannot start is refused here too, with the
//! few bytes written in its stead ([`refuse`]).

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::EndOnPanic;
use super::hand_off::LATE;
use super::streams::{Conn, State};
use crate::defense::send_deadline::DeadlineWriter;
use crate::defense::too_slow::TooSlow;
use crate::http::h2::frame::ErrorCode::RefusedStream;
use crate::http::h2::frame::{ErrorCode, HEADER_BYTES, MAX_FRAME_BYTES};
use crate::http::h2::frame_write;
use crate::measure::access_log::End;
use crate::measure::log;
use crate::measure::metrics::METRICS;
use crate::server::ServerConfig;
use crate::sys;

/// Most bytes of control frames written in one call: they are small, and
/// batching them saves system calls without delaying DATA much.
const CONTROL_BATCH_BYTES: usize = MAX_FRAME_BYTES;

/// How many times per `--send-timeout` the writer looks for streams whose
/// window stays shut: a stall is cut at most a tenth of the timeout (or
/// [`MIN_STALL_CHECK`], for a send timeout under 100 ms) and [`LATE`] late,
/// as an HTTP/1.1 write checks its client (`send_deadline.rs`).
const STALL_CHECKS: u32 = 10;

/// The writer looks for stalls at most this often, however short the send
/// timeout: each look walks every stream under the lock.
const MIN_STALL_CHECK: Duration = Duration::from_millis(10);

/// What the writer took from the state to write without holding the lock.
pub(super) enum Job {
    /// Control frames, in `buf`; the HEADERS among them that end their
    /// stream (HEAD), which is complete once they are written.
    Control { ends: Vec<u32> },
    /// A DATA frame for stream `id` whose payload is its hand-off up to
    /// `upto`, in `buf` after its header; `end`: with END_STREAM.
    Data { id: u32, upto: usize, end: bool },
}

/// Writes frames until the connection ends or the socket fails; `cut_first`
/// says, of a write that found the client gone, whether the shutdown's cut
/// came first, which fails a write as a client's reset would
/// (`Connections::lost_to_cut`).
pub fn run(conn: &Conn, socket: &TcpStream, config: &ServerConfig, cut_first: &dyn Fn() -> bool) {
    let _end_on_panic = EndOnPanic(conn);
    let min_rate = config.min_data_rate();
    let mut out = DeadlineWriter::new(socket, config.send_timeout, min_rate);
    // The writer's one buffer: a batch of control frames, or one DATA
    // frame's header and payload.
    let mut buf = Vec::with_capacity(HEADER_BYTES + MAX_FRAME_BYTES);
    let look = (config.send_timeout / STALL_CHECKS).max(MIN_STALL_CHECK);
    let mut next_look = Instant::now() + look;
    // Asked once, not per frame: the test chooses before it connects.
    #[cfg(test)]
    let panics = crate::test_support::panics_here(
        crate::test_support::PanicIn::H2Writer,
        socket.local_addr().ok(),
    );
    loop {
        let job = {
            let mut state = conn.lock();
            loop {
                let now = Instant::now();
                if now >= next_look {
                    next_look = now + reset_stalled(&mut state, config.send_timeout, look, now);
                }
                if let Some(job) = next_job(&mut state, &mut buf) {
                    // A panic with a stream waiting on its hand-off, before
                    // the write begins, for the test that it ends the
                    // connection (`h2/mod.rs`).
                    #[cfg(test)]
                    if panics && matches!(job, Job::Data { .. }) {
                        panic!("a deliberate test panic in an HTTP/2 writer");
                    }
                    state.writing = true;
                    break job;
                }
                if state.ended.is_some() {
                    return;
                }
                let wait = next_look.saturating_duration_since(Instant::now());
                state = conn.wait_for(&conn.work, state, wait);
                // Woken [`LATE`], the process was not running (stopped, or
                // starved), nor the reader reading the window the client
                // sent meanwhile: a stream may look stalled for that alone.
                // The time was not the client's: every stall starts again.
                // Saturating: woken early, by work, the look is still to
                // come, and std reserves the right to make `elapsed` of a
                // later instant panic.
                if Instant::now().saturating_duration_since(next_look) >= LATE {
                    for stream in state.streams.values_mut() {
                        stream.blocked_since = None;
                    }
                }
            }
        };
        if let Err(e) = out.write_all(&buf) {
            return end_on_write_error(conn, socket, e, cut_first);
        }
        mark_written(conn, job);
    }
}

/// Ends the connection whose write failed with `e`, named by what failed:
/// a client too slow (reset), or one gone (`cut_first`: as in [`run`]).
fn end_on_write_error(conn: &Conn, socket: &TcpStream, e: io::Error, cut_first: &dyn Fn() -> bool) {
    let why = match TooSlow::of(&e) {
        Some(TooSlow::SendTimeout) => End::SendTimeout,
        Some(TooSlow::MinRate) => End::MinRate,
        // A client that left with every answer it asked for ended the
        // connection as it should: what failed to reach it (a PING's ACK,
        // a SETTINGS ACK) no stream waited for.
        None if conn.lock().open_streams() == 0 => End::Complete,
        // Named as the failure is met: the streams still open take it
        // (`Conn::end`), one the client reset before keeps its own.
        None if cut_first() => End::DrainTimeout,
        None => End::ClientAbort,
    };
    // Reset only a client too slow: one that is gone needs none. Set before
    // the shutdown below, so that the close is a reset even if the
    // connection had already ended for another reason; counted with every
    // connection's close, once its thread knows how it ended
    // (`server/connection.rs`).
    if matches!(why, End::SendTimeout | End::MinRate) {
        let _ = sys::reset_on_close(socket);
    }
    // Wakes the reader, blocked in its read, and every stream.
    let _ = socket.shutdown(Shutdown::Both);
    conn.end(why);
}

/// Notes that `job` is written: a stream's bytes are sent up to where its
/// frame ended, and a stream whose END_STREAM went out is finished.
pub(super) fn mark_written(conn: &Conn, job: Job) {
    let mut state = conn.lock();
    state.writing = false;
    // Only the thread of a stream this write ended, or whose hand-off it
    // completed, or one reset while its frame was in this write (its thread
    // waits for the write's verdict, `hand_off.rs`), waits for it
    // (`a_stream_that_ends_wakes_no_other_stream_thread`).
    // A DATA frame that leaves part of the hand-off unsent, on a stream
    // still open, changes nothing its thread waits on: it waits for the
    // rest, and a deadline wakes it by itself. Woken for each, a client that
    // opens a window a byte at a time (the data dribble, CVE-2019-9511)
    // would make each one-byte frame cost a wake-up
    // (`a_one_byte_frame_wakes_no_stream_thread`).
    let ended = match job {
        Job::Control { ends } => ends,
        Job::Data { id, upto, end } => {
            if let Some(stream) = state.streams.get_mut(&id) {
                stream.sent = upto;
                if end || !stream.is_open() || upto == stream.data.len() {
                    stream.wake.notify_one();
                }
            }
            end.then_some(id).into_iter().collect()
        }
    };
    for id in ended {
        if let Some(stream) = state.streams.get_mut(&id) {
            stream.finished = true;
            stream.wake.notify_one();
            // A stream served earns back a cancellation.
            state.net_cancels = state.net_cancels.saturating_sub(1);
        }
    }
    drop(state);
    // The reader may have met the client's close (`Conn::client_left`), or
    // wait for room made as this write's frames were taken (`Reader::run`).
    conn.reader.notify_one();
}

/// Takes the next thing to write into `buf`: every control frame that fits
/// in a batch, or else one DATA frame from the next stream that has bytes
/// and window, or an END_STREAM that is due.
pub(super) fn next_job(state: &mut State, buf: &mut Vec<u8>) -> Option<Job> {
    buf.clear();
    let mut ends = Vec::new();
    while let Some(next) = state.control.front() {
        if !buf.is_empty() && buf.len() + next.bytes.len() > CONTROL_BATCH_BYTES {
            break;
        }
        let next = state.control.pop_front()?;
        buf.extend_from_slice(&next.bytes);
        if let Some(stream) = next.ends.and_then(|id| state.streams.get_mut(&id)) {
            stream.closing = true;
        }
        ends.extend(next.ends);
    }
    if !buf.is_empty() {
        state.in_flight = buf.len();
        return Some(Job::Control { ends });
    }
    if state.ended.is_some() {
        return None;
    }
    let after = state.last_served;
    let mut order = state
        .streams
        .range(after + 1..)
        .chain(state.streams.range(..=after));
    let connection_window = state.window;
    let id = order
        .find(|(_, s)| s.ready(connection_window))
        .map(|(&id, _)| id)?;
    let stream = state.streams.get_mut(&id)?;
    // At most one hand-off, which is at most one frame (HANDOFF_BYTES).
    let n = (stream.pending() as i64)
        .min(stream.window)
        .min(connection_window)
        .max(0) as usize;
    // END_STREAM rides on the frame with the last of the stream's bytes,
    // once asked for: alone, in an empty frame, when the end is known only
    // after the last write (`end_body`); on the last DATA, when
    // Content-Length said in advance where the body ends.
    let end = stream.end && n == stream.pending();
    buf.extend_from_slice(&frame_write::data_header(id, n, end));
    buf.extend_from_slice(&stream.data[stream.framed..stream.framed + n]);
    stream.framed += n;
    stream.window -= n as i64;
    stream.blocked_since = None;
    // Asked for once: not again while the frame is being written.
    stream.end &= !end;
    stream.closing |= end;
    let upto = stream.framed;
    // Every other stream that could have had this frame waited its turn
    // for as much of it as its window allowed (`Stream::waited`), and is
    // not stalled, whatever the connection's window between frames: the
    // client is opening it, and the minimum rate bounds the turns.
    for (_, other) in state.streams.iter_mut().filter(|(other, _)| **other != id) {
        if other.ready(connection_window) {
            other.blocked_since = None;
            let could_have = match other.pending() {
                0 => n, // only its END_STREAM is due, which needs no window
                _ => n.min(usize::try_from(other.window).unwrap_or(0)),
            };
            other.waited += could_have as u64;
        }
    }
    state.window -= n as i64;
    state.last_served = id;
    state.in_flight = buf.len();
    Some(Job::Data { id, upto, end })
}

/// Resets every stream that has had bytes and no window for `timeout` (a
/// frame it could have had going to another counts as window, `next_job`):
/// a client that opens no window reads nothing. Time the process was not
/// running counts for none: [`run`], woken [`LATE`], starts every stall
/// again. A look a moment late, by less than LATE, may still come just
/// after the process was stopped, before the reader has read the window the
/// client sent meanwhile: so, as for a hand-off (`hand_off.rs`), a cut needs
/// the stall past its timeout at two looks LATE apart, the reader running
/// between them. How long until the next look: `look`, or LATE if sooner
/// while a stream waits for its second.
fn reset_stalled(state: &mut State, timeout: Duration, look: Duration, now: Instant) -> Duration {
    let connection_open = state.window > 0;
    let (mut stalled, mut overdue) = (Vec::new(), false);
    for (&id, stream) in state.streams.iter_mut().filter(|(_, s)| s.is_open()) {
        if stream.pending() == 0 || (stream.window > 0 && connection_open) {
            (stream.blocked_since, stream.overdue_since) = (None, None);
            continue;
        }
        let since = *stream.blocked_since.get_or_insert(now);
        stream.overdue_since =
            (now.duration_since(since) >= timeout).then(|| stream.overdue_since.unwrap_or(now));
        match stream.overdue_since {
            Some(first) if now.duration_since(first) >= LATE => stalled.push(id),
            Some(_) => overdue = true,
            None => {}
        }
    }
    for id in stalled {
        state.reset(id, ErrorCode::Cancel, End::SendTimeout);
    }
    if overdue { look.min(LATE) } else { look }
}

/// Refuses the connection whose writer could not start (`error`), as the
/// rejecter refuses one at the cap (`Lingering::answer`): the server's
/// `settings`, then a GOAWAY naming stream 0, which tells the client that
/// nothing was processed and that it may retry (RFC 9113 §6.8). Nothing
/// else writes yet, and these few bytes fit a fresh socket's send buffer.
/// A rejection, counted and logged whether or not the write succeeds; only
/// a GOAWAY written is counted as sent.
pub fn refuse(mut socket: &TcpStream, error: &io::Error, settings: &[(u16, u32)]) -> End {
    log::line(format!(
        "backpressure: cannot start an HTTP/2 writer thread: {error}"
    ));
    METRICS.rejected();
    let mut frames = Vec::new();
    frame_write::settings(&mut frames, settings);
    let why = b"cannot start a writer thread";
    frame_write::goaway(&mut frames, 0, RefusedStream, why);
    if socket.write_all(&frames).is_ok() {
        METRICS.http2_goaway(RefusedStream);
    }
    End::Rejected
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read};

    use super::*;
    use crate::defense::too_slow::MinDataRate;
    use crate::http::h2::frame::{self, flag::END_STREAM};
    use crate::http::h2::frame_buffer::FrameBuffer;
    use crate::http::response::{Framing, ResponseHead, Status};
    use crate::server::h2::hand_off::StreamBody;
    use crate::server::h2::streams::Stream;
    use crate::strategy::Wire;
    use crate::test_support::wait_until;

    /// A minimum rate these tests never come near: seconds for a few bytes.
    const PATIENT: MinDataRate = MinDataRate {
        bytes_per_second: 1,
        grace: Duration::from_secs(2),
    };

    /// Answers stream 1 with `body` through a real writer on a loopback
    /// socket; returns each DATA frame the client got as (flags, length).
    fn data_frames_of(body: impl FnOnce(&mut StreamBody<'_>)) -> Vec<(u8, usize)> {
        let (server, mut client) = crate::test_support::loopback();
        let conn = Conn::with_stream_1();
        let config = ServerConfig::default();
        std::thread::scope(|scope| {
            scope.spawn(|| run(&conn, &server, &config, &|| false));
            // The writer exits once the connection ends: ended even if
            // `body` panics, so that a failing test fails instead of hanging.
            let _ends = EndOnPanic(&conn);
            let mut out = StreamBody::new(&conn, 1, false, PATIENT);
            body(&mut out);
            drop(out);
            conn.end(End::Complete);
        });
        drop(server);
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).unwrap();
        let (mut frames, mut data) = (FrameBuffer::with(&wire), Vec::new());
        while let Ok(Some((header, payload))) = frames.next_frame() {
            if header.kind == frame::Kind::Data as u8 {
                data.push((header.flags, payload.len()));
            }
        }
        data
    }

    /// A write that fails because the client is gone cuts the streams
    /// still being answered, the cut's once the shutdown's has begun, one
    /// whose END_STREAM the writer has taken (`closing`) included: that
    /// write may be the one failing. With none, the client left with
    /// everything it asked for, and the connection ended as it should,
    /// whatever control frame was last on its way. `open`: stream 1, and
    /// whether its END_STREAM was taken.
    #[test]
    fn a_failed_write_cuts_only_streams_still_open() {
        for (open, cutting, expected) in [
            (None, false, End::Complete),
            (Some(false), false, End::ClientAbort),
            (Some(true), false, End::ClientAbort),
            (None, true, End::Complete),
            (Some(false), true, End::DrainTimeout),
            (Some(true), true, End::DrainTimeout),
        ] {
            let (server, client) = crate::test_support::loopback();
            // Gone with a reset: the writer's first write fails.
            crate::sys::reset_on_close(&client).unwrap();
            drop(client);
            let conn = Conn::new();
            if let Some(closing) = open {
                let stream = Stream {
                    closing,
                    ..Stream::default()
                };
                conn.lock().streams.insert(1, stream);
            }
            conn.send(|out| frame_write::ping(out, [7; 8], true));
            let config = ServerConfig::default();
            let verdict = std::thread::scope(|scope| {
                let _ends = EndOnPanic(&conn); // a failing test fails, not hangs
                scope.spawn(|| run(&conn, &server, &config, &|| cutting));
                wait_until("the write fails", || conn.lock().ended.is_some());
                conn.lock().ended
            });
            assert_eq!(
                verdict,
                Some(expected),
                "open: {open:?}, cutting: {cutting}"
            );
        }
    }

    /// A graceful end is only as good as the writer's last write: a client
    /// that reads nothing leaves the GOAWAY stuck in a full socket until the
    /// minimum rate cuts it, and the cut, not `Complete`, is the reason.
    #[test]
    fn a_graceful_end_whose_last_write_is_cut_is_not_complete() {
        let (server, _client) = crate::test_support::loopback();
        // Fill both kernels' buffers, as a client that reads nothing would.
        server.set_nonblocking(true).unwrap();
        let junk = [0; 65_536];
        while (&server).write(&junk).is_ok() {}
        server.set_nonblocking(false).unwrap();
        let conn = Conn::new();
        conn.send(|out| frame_write::goaway(out, 0, ErrorCode::NoError, b""));
        conn.end(End::Complete);
        let config = ServerConfig {
            min_rate: 1 << 20,
            rate_grace: Duration::from_millis(200),
            ..ServerConfig::default()
        };
        let started = Instant::now();
        run(&conn, &server, &config, &|| false);
        assert_eq!(conn.lock().ended, Some(End::MinRate));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// A connection whose streams, as (id, window, bytes), have each
    /// handed off `bytes`; its own window 65,535.
    fn handed_off(streams: &[(u32, i64, usize)]) -> State {
        let mut state = State {
            window: 65_535,
            ..State::default()
        };
        for &(id, window, bytes) in streams {
            let stream = Stream {
                data: vec![7; bytes],
                ..Stream::new(window, false)
            };
            state.streams.insert(id, stream);
        }
        state
    }

    /// A stall is cut only when found past the send timeout at two looks
    /// [`LATE`] apart, as a hand-off is (`hand_off.rs`): the first may come
    /// just after the process was stopped, the client's WINDOW_UPDATE sent
    /// meanwhile still unread. A window the reader reads before the second
    /// look saves the stream; one that never comes does not, the cut LATE
    /// after the first look, not a whole look later (a tenth of the 3 s
    /// timeout, 300 ms); nor do looks less than LATE apart cut it.
    #[test]
    fn a_stall_is_cut_at_two_looks_late_apart() {
        let timeout = Duration::from_secs(3);
        let every = timeout / STALL_CHECKS;
        let start = Instant::now();
        for opened in [true, false] {
            // Stream 1: bytes handed off, and no window.
            let mut state = handed_off(&[(1, 0, 100)]);
            // The time to the next look, and the stream's reset.
            let look = |state: &mut State, at: Duration| {
                let next = reset_stalled(state, timeout, every, start + at);
                (next, state.streams[&1].reset)
            };
            let starts = look(&mut state, Duration::ZERO);
            assert_eq!(starts, (every, None), "the stall starts");
            let first = look(&mut state, timeout);
            assert_eq!(first, (LATE, None), "the first look past the timeout");
            let early = look(&mut state, timeout + LATE / 2);
            assert_eq!(early, (LATE, None), "less than LATE on");
            if opened {
                // The reader reads the window the client sent in time.
                state.streams.get_mut(&1).unwrap().window = 100;
            }
            let cut = (!opened).then_some(End::SendTimeout);
            let second = look(&mut state, timeout + LATE);
            assert_eq!(second, (every, cut), "opened: {opened}");
        }
    }

    /// The minimum rate holds per connection: a frame sent on one stream
    /// is time waited by every other stream that could have had it, and
    /// only by those, for no more than they could have had of it. A stream
    /// without window (5), or with nothing handed off (7), was not waiting
    /// for its turn, and earns nothing; one whose window is smaller than
    /// the frame (9, kept at a trickle) earns its window; one with only its
    /// END_STREAM due (11), which needs no window, earns the whole frame.
    /// The stream that had it (1, cut to the connection's 600 bytes, 400
    /// left to send) earns nothing for it.
    #[test]
    fn a_frame_is_waited_for_by_the_streams_that_could_have_had_it() {
        let mut state = handed_off(&[
            (1, 65_535, 1000),
            (3, 65_535, 1000),
            (5, 0, 1000),
            (7, 65_535, 0),
            (9, 3, 1000),
            (11, 0, 0),
        ]);
        state.streams.get_mut(&11).unwrap().end = true;
        state.window = 600;
        let Some(Job::Data { id, upto, end }) = next_job(&mut state, &mut Vec::new()) else {
            panic!("no DATA job");
        };
        assert_eq!((id, upto, end), (1, 600, false));
        let waited: Vec<u64> = state.streams.values().map(|s| s.waited).collect();
        assert_eq!(waited, [0, 600, 0, 0, 3, 600]);
    }

    /// Round robin: streams that are ready again as soon as they are
    /// served (each thread hands off its next frame at once) get a frame
    /// each in turn, never the lowest id twice running.
    #[test]
    fn streams_ready_at_once_are_served_in_turn() {
        let mut state = handed_off(&[(1, 65_535, 100), (3, 65_535, 100), (5, 65_535, 100)]);
        let mut served = Vec::new();
        for _ in 0..6 {
            let Some(Job::Data { id, .. }) = next_job(&mut state, &mut Vec::new()) else {
                panic!("no DATA job after {served:?}");
            };
            served.push(id);
            let again = state.streams.get_mut(&id).unwrap();
            (again.framed, again.sent) = (0, 0);
        }
        assert_eq!(served, [1, 3, 5, 1, 3, 5]);
    }

    /// An END_STREAM is the writer's once it has taken it (it clears
    /// `Stream::end`): its write, however slow, is the writer's to bound;
    /// cut at the hand-off's deadline, the stream would get a RST_STREAM
    /// after the END_STREAM that completed it. Until then it waits like any
    /// hand-off, and is cut at the deadline.
    #[test]
    fn an_end_stream_is_cut_at_the_deadline_only_until_the_writer_takes_it() {
        // The two cases, a connection each, wait out the deadline side by
        // side, not one after the other.
        std::thread::scope(|scope| {
            for taken in [true, false] {
                scope.spawn(move || end_stream_past_the_deadline(taken));
            }
        });
    }

    /// One case of the test above: the END_STREAM `taken` by the writer
    /// before the deadline, or not.
    fn end_stream_past_the_deadline(taken: bool) {
        let ended = ending_stream_1(false, Duration::from_secs(1), |conn| {
            // Taken once asked for, well within the 1 s grace: only the
            // slow write below outlasts the deadline.
            // Taken, it is never cut: past the deadline, no reset. Not
            // taken, it is, at a look past the deadline, which a busy
            // machine may make as late as it runs (a look `LATE` late
            // starts the allowance again): waited for, not timed.
            if taken {
                take_the_end(&mut conn.lock());
                std::thread::sleep(Duration::from_millis(1500)); // past the deadline
                assert_eq!(conn.lock().control.len(), 0, "taken, reset");
            } else {
                wait_until("the reset", || conn.lock().control.len() == 1);
            }
        });
        let cut = Err(TooSlow::MinRate.into_error().kind());
        let expected = if taken { Ok(()) } else { cut };
        assert_eq!(ended, expected, "taken: {taken}");
    }

    /// A client may reset a stream the moment it reads the END_STREAM,
    /// which can be before the writer, back from the write that carried it,
    /// marks the stream finished. The response was whole: it is complete,
    /// not the client's abort, and no cancellation is counted against
    /// `MAX_NET_CANCELS`. Before the writer takes the END_STREAM the same
    /// reset cancels the stream. Alike for a HEAD's, on its HEADERS.
    #[test]
    fn a_reset_after_the_end_stream_was_taken_cancels_nothing() {
        for (head_only, taken) in [(false, true), (false, false), (true, true), (true, false)] {
            let ended = ending_stream_1(head_only, Duration::from_secs(10), |conn| {
                let mut state = conn.lock();
                if taken {
                    take_the_end(&mut state);
                }
                // The client's RST_STREAM, as the reader takes it.
                assert!(state.cancel(1, End::ClientAbort).is_ok());
                let case = format!("HEAD: {head_only}, taken: {taken}");
                assert_eq!(state.net_cancels, u32::from(!taken), "{case}");
            });
            let abort = Err(End::ClientAbort.into_error().kind());
            let expected = if taken { Ok(()) } else { abort };
            assert_eq!(ended, expected, "HEAD: {head_only}, taken: {taken}");
        }
    }

    /// Stream 1's body, with `grace` to send its END_STREAM in (on the
    /// HEADERS if `head_only`): once it has asked for it, `meanwhile` plays
    /// the writer and the reader, then the write that carried the
    /// END_STREAM returns, if the writer took it, as `run` accounts for it.
    /// What `end_body` (or HEAD's `send_head`) came to.
    fn ending_stream_1(
        head_only: bool,
        grace: Duration,
        meanwhile: impl FnOnce(&Conn),
    ) -> Result<(), ErrorKind> {
        let rate = MinDataRate {
            bytes_per_second: 1 << 20,
            grace,
        };
        let conn = Conn::with_stream_1();
        std::thread::scope(|scope| {
            let _ends = EndOnPanic(&conn); // a failing test fails, not hangs
            let mut out = StreamBody::new(&conn, 1, head_only, rate);
            let body = scope.spawn(move || {
                let head = ResponseHead::new(Status::Ok, Framing::ContentLength(0));
                let end = if head_only {
                    out.send_head(&head)
                } else {
                    out.end_body()
                };
                end.map_err(|e| e.kind())
            });
            wait_until("END_STREAM asked for", || {
                let state = conn.lock();
                state.streams[&1].end || state.control.iter().any(|c| c.ends.is_some())
            });
            meanwhile(&conn);
            let mut state = conn.lock();
            if let Some(stream) = state.streams.get_mut(&1) {
                stream.finished |= stream.closing;
                stream.wake.notify_one();
            }
            drop(state);
            body.join().unwrap()
        })
    }

    /// The writer takes stream 1's END_STREAM, as `run` would: on DATA, or
    /// on a HEAD's HEADERS.
    fn take_the_end(state: &mut State) {
        let job = next_job(state, &mut Vec::new());
        let head = matches!(&job, Some(Job::Control { ends }) if ends == &[1]);
        assert!(head || matches!(job, Some(Job::Data { end: true, .. })));
    }

    /// A body of known length, as DATA frames (flags, length): Content-Length
    /// 0 is one empty END_STREAM; a write past it is refused at once, not
    /// left waiting out the minimum rate, and nothing follows END_STREAM; a
    /// write that would pass it partway sends none of it, and the body,
    /// never ended, is reset rather than sent long.
    #[test]
    fn a_body_of_known_length_is_held_to_it() {
        // Each write, and what it returns: None, refused (InvalidInput).
        type Writes = &'static [(&'static [u8], Option<usize>)];
        type Frames = &'static [(u8, usize)];
        let cases: [(&str, u64, Writes, bool, Frames); 3] = [
            ("empty", 0, &[(b"", Some(0))], true, &[(END_STREAM, 0)]),
            (
                "past",
                4,
                &[(b"abcd", Some(4)), (b"x", None)],
                true,
                &[(END_STREAM, 4)],
            ),
            ("partway", 4, &[(b"abcdef", None)], false, &[]),
        ];
        for (case, length, writes, end, expected) in cases {
            let data = data_frames_of(|out| {
                let head = ResponseHead::new(Status::Ok, Framing::ContentLength(length));
                out.send_head(&head).unwrap();
                for &(bytes, wrote) in writes {
                    let started = Instant::now();
                    let result = out.write(bytes).map_err(|e| e.kind());
                    assert_eq!(result, wrote.ok_or(ErrorKind::InvalidInput), "{case}");
                    assert!(started.elapsed() < Duration::from_secs(1), "{case}");
                }
                if end {
                    out.end_body().unwrap();
                }
            });
            assert_eq!(data, expected, "{case}");
        }
    }
}
