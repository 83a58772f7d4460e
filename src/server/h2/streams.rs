//! What an HTTP/2 connection's threads share, under one lock, each thread
//! waiting on a condition variable of its own: the frames waiting to be
//! written, the connection's window, and each stream's window and hand-off
//! (the fields of [`Stream`] that `hand_off.rs` fills and the writer
//! drains).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use super::turn::Turn;
use crate::http::h2::frame::{self, ErrorCode, FrameError};
use crate::http::h2::frame_write;
use crate::measure::access_log::End;
use crate::measure::metrics::METRICS;

/// How often a stream thread's wait ([`Stream::wake`]), or the reader's for
/// a write to be accounted for (`Conn::client_left`), looks again: the
/// writer notifies each once a write it waits for is accounted for
/// (`writer::mark_written`).
pub const RECHECK: Duration = Duration::from_millis(100);

/// The connection's shared state, and where its reader and writer wait
/// (each stream thread waits on its [`Stream::wake`]).
#[derive(Debug, Default)]
pub struct Conn {
    /// Everything below; held only briefly, never across a socket call.
    state: Mutex<State>,
    /// The writer waits here for a frame to send.
    pub work: Condvar,
    /// The reader waits here: at the limit of answers owed
    /// ([`State::room_for_answers`]), for the writer to take one, or a
    /// stream thread to end (its last act, [`Leaving`]), to join it; once
    /// the client has closed, for the write under way to be accounted for
    /// ([`Conn::client_left`]); the writer wakes both with each write; and
    /// for the connection's end.
    pub reader: Condvar,
}

/// A stream thread's last act, even as it unwinds: it is on
/// [`State::left`], and the reader is woken to join it.
pub struct Leaving<'c>(pub &'c Conn);

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        self.0.lock().left.push(thread::current().id());
        self.0.reader.notify_one();
    }
}

/// A frame the writer sends before any DATA.
#[derive(Debug)]
pub struct Control {
    /// The frame, encoded.
    pub bytes: Vec<u8>,
    /// The client asked for it (an acknowledgement, the answer to its
    /// error): counted against [`super::MAX_CONTROL_FRAMES`].
    pub owed: bool,
    /// A HEADERS frame with END_STREAM: its stream is complete once written.
    pub ends: Option<u32>,
}

/// What the connection knows about itself.
#[derive(Debug, Default)]
pub struct State {
    /// Frames the writer sends before any DATA, in order: acknowledgements,
    /// HEADERS, RST_STREAM, WINDOW_UPDATE, GOAWAY. Those the client asked
    /// for are held to [`super::MAX_CONTROL_FRAMES`]; the server's own, to
    /// a few per stream thread.
    pub control: VecDeque<Control>,
    /// Streams the client cancelled (its RST_STREAM, or its error answered
    /// with one) less streams completed, never below zero: past
    /// [`super::MAX_NET_CANCELS`] it is flooding.
    pub net_cancels: u32,
    /// Every stream taken on, by id: the writer's round robin. At most
    /// [`super::MAX_CONCURRENT_STREAMS`] open, answered or waiting for a
    /// thread, and the closed ones whose threads are leaving.
    pub streams: BTreeMap<u32, Stream>,
    /// The streams taken on that wait for a thread, oldest first, each
    /// with its place in `streams`: the reader starts a thread for one, or
    /// a stream thread whose response is done takes it (`admission.rs`).
    pub waiting: VecDeque<Turn>,
    /// Stream threads done ([`Leaving`]) that the reader has not joined:
    /// each ends in a moment, so it may join them now, where asking whether
    /// one has ended may come a moment too soon.
    pub left: Vec<ThreadId>,
    /// The last [`super::RECENT_RESETS`] streams this side sent RST_STREAM
    /// on, oldest first: what the client sends on them is ignored, until
    /// its own RST_STREAM on one says it knows the stream is closed.
    pub recent_resets: VecDeque<RecentReset>,
    /// What this side may still send on the connection: HTTP/2's second
    /// window, shared by every stream.
    pub window: i64,
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE: a new stream's window.
    pub initial_window: i64,
    /// The stream that got the last DATA frame: the next goes to one after it.
    pub last_served: u32,
    /// The highest stream taken on (answered, answering, or waiting for its
    /// thread): what a GOAWAY that lets streams finish names, so that a
    /// client may retry every stream after it.
    pub last_answered: u32,
    /// The highest stream whose turn came ([`super::turn::Turn`]): what a
    /// GOAWAY for an error names, as the streams still waiting will never
    /// be processed, and the client may retry them. Turns come in the
    /// order streams were taken on, so every stream waiting is above it.
    pub last_started: u32,
    /// An error's GOAWAY has named `last_started`: no turn comes after it,
    /// though the connection's end is still to be set.
    pub turns_over: bool,
    /// Why the connection is over, once it is: every stream's body fails,
    /// the writer sends the control frames left and exits.
    pub ended: Option<End>,
    /// The writer has frames in a write not yet accounted for. A client that
    /// read its last response may close before the writer, back from that
    /// write, marks them sent: the reader waits for this to clear before it
    /// judges the streams still open cut.
    pub writing: bool,
    /// Bytes of the frames the writer last took: the write under way while
    /// `writing` is true (left stale after, and then not read). A stream
    /// that hands off meanwhile waits its turn behind them, as behind a
    /// frame taken after it came (`Stream::waited`).
    pub in_flight: usize,
}

/// A stream this side reset, remembered after it has left the table.
#[derive(Debug)]
pub struct RecentReset {
    /// The stream: ids are never reused on a connection, so it names one.
    pub id: u32,
    /// The client's own RST_STREAM on it has come since: what it sends on
    /// the stream now cannot have crossed ours, and is its error.
    pub by_client: bool,
}

/// One stream's side of the response.
#[derive(Debug, Default)]
pub struct Stream {
    /// What this side may still send on this stream: HTTP/2's first window.
    /// May go negative when the client lowers SETTINGS_INITIAL_WINDOW_SIZE.
    pub window: i64,
    /// The hand-off: body bytes given by the stream's thread, at most
    /// [`super::hand_off::HANDOFF_BYTES`].
    pub data: Vec<u8>,
    /// How much of `data` the writer has put in DATA frames.
    pub framed: usize,
    /// How much of `data` the socket has taken: the write returns once it is all.
    pub sent: usize,
    /// The body ends with `data`: END_STREAM goes on the frame with its last
    /// byte, or alone if `data` is already sent. Cleared as the writer takes
    /// that frame: from then on the end is the writer's.
    pub end: bool,
    /// END_STREAM has been written: the response is complete.
    pub finished: bool,
    /// END_STREAM is in a frame the writer has taken: the client may read
    /// it before the write returns, and open another stream in its place.
    pub closing: bool,
    /// Request body bytes received on this stream: at most its window.
    pub received: u32,
    /// Ended early, and why: the client's RST_STREAM, the minimum rate, a
    /// window shut for the send timeout, a body cut, the connection's end.
    pub reset: Option<End>,
    /// The client has not ended its side: its body is read, thrown away.
    pub remote_open: bool,
    /// A byte of request body has come. With the client's end, what an
    /// open-ended request's thread waits for
    /// (`stream::wait_for_body_or_end`).
    pub body_seen: bool,
    /// Its trailers were over the header list limit, fields past it
    /// dropped unchecked: an open-ended request they end is answered 431,
    /// as HEADERS over it are (RFC 9113 §10.5.1).
    pub trailers_too_large: bool,
    /// The request's content-length less the body bytes received so far;
    /// `None` without one, or once passed. A body that passes it, or ends
    /// short of it, is malformed (RFC 9113 §8.1.1).
    pub body_left: Option<u64>,
    /// The client reset it: its DATA or HEADERS on it now are its own error
    /// (RFC 9113 §5.1), not frames that crossed a reset of this side's.
    pub reset_by_client: bool,
    /// Since when the stream has had bytes to send and no window: a stall
    /// the send timeout bounds, as it bounds a socket that takes nothing.
    pub blocked_since: Option<Instant>,
    /// The first look that found that stall past the send timeout: the cut
    /// waits for a second, [`LATE`](super::hand_off::LATE) after it.
    pub overdue_since: Option<Instant>,
    /// Its thread waits here, for its hand-off or END_STREAM written
    /// (`writer::mark_written`), its reset ([`State::reset`],
    /// [`State::cancel`]), the connection's end ([`Conn::end`]), and, for
    /// an open-ended request, its first byte of body or its end
    /// (`frame_rules.rs`): what happens to another stream wakes it not.
    pub wake: Arc<Condvar>,
    /// Bytes the writer sent on other streams during this hand-off (the
    /// write under way when it came, then each DATA frame taken while this
    /// one was [ready](Stream::ready)) as it waited its turn, of
    /// each frame no more than its own window could have taken (a byte a
    /// frame for a window kept at a byte): the minimum rate, which holds
    /// per connection, allows for them. Zeroed when a late look starts the
    /// allowance again (`hand_off.rs`).
    pub waited: u64,
}

impl Stream {
    /// A stream with nothing handed off yet.
    pub fn new(window: i64, remote_open: bool) -> Stream {
        Stream {
            window,
            remote_open,
            ..Stream::default()
        }
    }

    /// Counts `bytes` of request body, the last if `ends`: whether the body
    /// still agrees with its content-length.
    pub fn body_agrees(&mut self, bytes: usize, ends: bool) -> bool {
        let Some(left) = self.body_left else {
            return true;
        };
        let left = left.checked_sub(bytes as u64);
        self.body_left = left;
        left.is_some_and(|left| !ends || left == 0)
    }

    /// Still being answered: neither complete nor reset.
    pub fn is_open(&self) -> bool {
        !self.finished && self.reset.is_none()
    }

    /// Open, and its END_STREAM not yet taken by the writer
    /// ([`closing`](Stream::closing)): what counts against
    /// SETTINGS_MAX_CONCURRENT_STREAMS, what a client's reset cancels, and
    /// where its late frames are a stream error only. Once the END_STREAM
    /// is taken, the client may read it before the write returns.
    pub fn answering(&self) -> bool {
        self.is_open() && !self.closing
    }

    /// Bytes handed off and not yet framed.
    pub fn pending(&self) -> usize {
        self.data.len() - self.framed
    }

    /// Whether the writer could send this stream a frame now: DATA, if it
    /// has bytes and both windows room; or a due END_STREAM, which needs no
    /// window.
    pub fn ready(&self, connection_window: i64) -> bool {
        let can_send = self.pending() > 0 && self.window > 0 && connection_window > 0;
        let can_end = self.pending() == 0 && self.end && self.sent == self.data.len();
        self.is_open() && (can_send || can_end)
    }
}

impl Conn {
    /// A connection with RFC 9113's defaults until the client's SETTINGS.
    pub fn new() -> Conn {
        let window = i64::from(frame::DEFAULT_WINDOW);
        let state = State {
            window,
            initial_window: window,
            recent_resets: VecDeque::with_capacity(super::RECENT_RESETS),
            ..State::default()
        };
        Conn {
            state: Mutex::new(state),
            ..Conn::default()
        }
    }

    /// The state, even if a thread panicked holding it: every update here
    /// is a few assignments that leave it usable.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits on `condvar` until notified (or spuriously woken), at most
    /// `timeout`.
    pub fn wait_for<'g>(
        &self,
        condvar: &Condvar,
        state: MutexGuard<'g, State>,
        timeout: Duration,
    ) -> MutexGuard<'g, State> {
        let waited = condvar.wait_timeout(state, timeout);
        waited.unwrap_or_else(PoisonError::into_inner).0
    }

    /// Why the connection ended, once the client closed its side or the
    /// socket failed: the writer's reason if it ended it first (a send
    /// timeout, the minimum rate); fine once nothing is being answered;
    /// else the streams still open were cut, by the shutdown if its cut
    /// reached the connection first (`cut_first`, from
    /// `Connections::lost_to_cut`: the cut ends a read as a client's close
    /// would), or by the client. Named as the end is met, and passed to the
    /// open streams by [`Conn::end`], so that a stream the client reset
    /// before the cut stays the client's abort. A write not yet accounted
    /// for ([`State::writing`]) is waited for first: it has returned, or
    /// fails now the client is gone.
    pub fn client_left(&self, cut_first: bool) -> End {
        let mut state = self.lock();
        while state.writing && state.ended.is_none() {
            state = self.wait_for(&self.reader, state, RECHECK);
        }
        match (state.ended, state.open_streams()) {
            (Some(end), _) => end,
            (None, 0) => End::Complete,
            (None, _) if cut_first => End::DrainTimeout,
            (None, _) => End::ClientAbort,
        }
    }

    /// Queues a frame for the writer, written by one of `frame_write`'s builders.
    pub fn send(&self, write: impl FnOnce(&mut Vec<u8>)) {
        self.lock().push(encode(write));
        self.work.notify_one();
    }

    /// Ends the connection: every stream fails, the writer leaves once it
    /// has written the control frames still queued (a GOAWAY, say).
    ///
    /// The first reason wins, but an end announced with a GOAWAY holds only
    /// if that GOAWAY is written: if the client reads nothing, the writer
    /// is cut, and the cut becomes the reason. After `Complete` any failure
    /// replaces it; after `ProtocolError`, only `SendTimeout` or `MinRate`,
    /// whose close is a reset counted by that reason.
    pub fn end(&self, why: End) {
        let mut state = self.lock();
        let replaces = match state.ended {
            None | Some(End::Complete) => true,
            Some(End::ProtocolError) => matches!(why, End::SendTimeout | End::MinRate),
            Some(_) => false,
        };
        if replaces {
            state.ended = Some(why);
        }
        for stream in state.streams.values_mut() {
            if stream.is_open() {
                stream.reset = Some(why);
            }
            stream.wake.notify_one();
        }
        drop(state);
        self.work.notify_all();
        self.reader.notify_one();
    }
}

impl State {
    /// Queues a frame of the server's own.
    pub fn push(&mut self, bytes: Vec<u8>) {
        let (owed, ends) = (false, None);
        self.control.push_back(Control { bytes, owed, ends });
    }

    /// Queues a frame the client asked for, in the room the reader saw
    /// before it took the frame that asked ([`State::room_for_answers`]).
    pub fn push_owed(&mut self, bytes: Vec<u8>) {
        debug_assert!(
            self.owed() < super::MAX_CONTROL_FRAMES,
            "a frame taken without room for its answers"
        );
        let (owed, ends) = (true, None);
        self.control.push_back(Control { bytes, owed, ends });
    }

    /// Whether `answers` more fit under [`super::MAX_CONTROL_FRAMES`]: the
    /// reader takes the client's next frame only once what it may be owed
    /// does, and meanwhile reads nothing (`Reader::run`). The answers a
    /// client leaves unread hold back its next frames, as a full socket
    /// holds back a write.
    pub fn room_for_answers(&self, answers: usize) -> bool {
        self.owed() + answers <= super::MAX_CONTROL_FRAMES
    }

    /// Frames the client asked for that the writer has yet to take.
    fn owed(&self) -> usize {
        self.control.iter().filter(|c| c.owed).count()
    }

    /// Resets stream `id`, if still open: `code` on the wire, `why` logged,
    /// its thread woken.
    pub fn reset(&mut self, id: u32, code: ErrorCode, why: End) {
        if let Some(stream) = self.streams.get_mut(&id).filter(|s| s.is_open()) {
            stream.reset = Some(why);
            stream.wake.notify_one();
            self.push(rst_stream(id, code));
            self.reset_sent(id, code);
        }
    }

    /// A RST_STREAM with `code` was queued for stream `id`: counted, and
    /// remembered, so that what the client sent before it knew is ignored.
    pub fn reset_sent(&mut self, id: u32, code: ErrorCode) {
        METRICS.http2_rst_stream(code);
        if self.recent_resets.len() == super::RECENT_RESETS {
            self.recent_resets.pop_front();
        }
        let reset = RecentReset {
            id,
            by_client: false,
        };
        self.recent_resets.push_back(reset);
    }

    /// This side's recent reset of stream `id`, if it remembers one.
    pub fn recent_reset(&mut self, id: u32) -> Option<&mut RecentReset> {
        self.recent_resets.iter_mut().find(|reset| reset.id == id)
    }

    /// Whether this side reset stream `id` recently.
    pub fn was_reset(&self, id: u32) -> bool {
        self.recent_resets.iter().any(|reset| reset.id == id)
    }

    /// Marks stream `id` ended by the client's doing, if it was still being
    /// answered: a cancellation, held to [`super::MAX_NET_CANCELS`]. Not
    /// once the writer has taken its END_STREAM ([`Stream::closing`]): the
    /// client may have read the whole response before the write returns.
    pub fn cancel(&mut self, id: u32, why: End) -> Result<(), FrameError> {
        if let Some(stream) = self.streams.get_mut(&id).filter(|s| s.answering()) {
            stream.reset = Some(why);
            stream.wake.notify_one();
            self.net_cancels += 1;
        }
        if self.net_cancels > super::MAX_NET_CANCELS {
            let reason = "too many streams cancelled: rapid reset";
            return Err(FrameError::connection(ErrorCode::EnhanceYourCalm, reason));
        }
        Ok(())
    }

    /// Streams still being answered.
    pub fn open_streams(&self) -> usize {
        self.streams.values().filter(|s| s.is_open()).count()
    }

    /// What the streams waiting hold ([`Turn::bytes`]): at most
    /// [`super::MAX_WAITING_BYTES`]. Summed when asked, over at most
    /// [`super::MAX_CONCURRENT_STREAMS`] turns, so no count can drift.
    pub fn waiting_bytes(&self) -> usize {
        self.waiting.iter().map(|turn| turn.bytes).sum()
    }

    /// Streams open as the client may count them, against
    /// SETTINGS_MAX_CONCURRENT_STREAMS: not those it may have seen end.
    pub fn counted_streams(&self) -> usize {
        let counted = self.streams.values().filter(|s| s.answering());
        counted.count()
    }
}

/// A frame, written by one of `frame_write`'s builders.
pub fn encode(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut frame = Vec::new();
    write(&mut frame);
    frame
}

/// A RST_STREAM frame; counted in `/metrics` by whoever queues it.
pub fn rst_stream(id: u32, code: ErrorCode) -> Vec<u8> {
    encode(|out| frame_write::rst_stream(out, id, code))
}

#[cfg(test)]
impl Conn {
    /// A connection with stream 1 open and nothing handed off: for the tests.
    pub fn with_stream_1() -> Conn {
        let conn = Conn::new();
        let window = i64::from(frame::DEFAULT_WINDOW);
        conn.lock().streams.insert(1, Stream::new(window, false));
        conn
    }
}

#[cfg(test)]
mod tests {
    use super::super::writer::Job;
    use super::*;
    use std::sync::{Arc, mpsc};
    use std::thread;

    /// curl closes the moment it reads END_STREAM, which can be before the
    /// writer, back from the write that carried it, marks the stream
    /// finished. The verdict on that close must wait for the bookkeeping,
    /// or such downloads are logged as client aborts; and come as it is
    /// done, woken by it, not a look later (`RECHECK`). The other outcomes
    /// need no wait: a stream still open with no write under way was cut,
    /// by the client or the shutdown; a write that failed ended the
    /// connection first.
    #[test]
    fn a_close_waits_for_a_write_under_way_unless_it_failed() {
        let conn = Arc::new(Conn::with_stream_1());
        for (cut_first, expected) in [(false, End::ClientAbort), (true, End::DrainTimeout)] {
            assert_eq!(
                conn.client_left(cut_first),
                expected,
                "cut first: {cut_first}"
            );
        }
        conn.lock().writing = true; // the write with END_STREAM has not returned
        let (verdict, got) = mpsc::channel();
        let reader = Arc::clone(&conn);
        thread::spawn(move || verdict.send(reader.client_left(false)));
        let early = got.recv_timeout(Duration::from_millis(250));
        assert!(early.is_err(), "judged during the write: {early:?}");

        // The writer, back from its write of a HEAD's HEADERS: the stream
        // is finished.
        super::super::writer::mark_written(&conn, Job::Control { ends: vec![1] });
        assert_eq!(got.recv_timeout(RECHECK / 4), Ok(End::Complete));

        let failed = Conn::with_stream_1();
        failed.lock().writing = true;
        failed.end(End::SendTimeout);
        assert_eq!(failed.client_left(true), End::SendTimeout, "a failed write");
    }

    /// The bound on answers owed: 64, the server's own frames never
    /// counted, and the writer taking one makes room.
    #[test]
    fn at_most_64_answers_are_owed() {
        let mut state = State::default();
        for _ in 0..super::super::MAX_CONTROL_FRAMES - 1 {
            state.push_owed(vec![0; 13]);
        }
        state.push(vec![1; 9]); // a HEADERS of the server's: not owed
        assert!(state.room_for_answers(1), "room for a PING's at 63");
        assert!(!state.room_for_answers(2), "no room for a DATA's two at 63");
        state.push_owed(vec![0; 13]);
        assert!(!state.room_for_answers(1), "no room at 64");
        // The writer takes one.
        assert!(state.control.pop_front().is_some_and(|c| c.owed));
        assert!(state.room_for_answers(1), "room again at 63");
    }

    /// Control frames leave in batches, as many as fit in a frame's size
    /// (the writer's `CONTROL_BATCH_BYTES`), to the byte, the first
    /// always taken however large (a HEADERS block with its CONTINUATION
    /// frames may pass it): a write per frame would cost a system call per
    /// PING's ACK, an unbounded batch a buffer as large as the whole queue,
    /// and a first frame never taken would stop the writer for good.
    #[test]
    fn control_frames_leave_in_bounded_batches() {
        let batch = frame::MAX_FRAME_BYTES;
        let mut state = State::default();
        for bytes in [17, 17, batch - 34, 17, batch + 1, 17] {
            state.push(vec![0; bytes]);
        }
        let (mut batches, mut buf) = (Vec::new(), Vec::new());
        // At most one job per frame: a writer that takes none ends this.
        for _ in 0..6 {
            match crate::server::h2::writer::next_job(&mut state, &mut buf) {
                Some(Job::Control { .. }) => batches.push(buf.len()),
                _ => break,
            }
        }
        assert_eq!(batches, [batch, 17, batch + 1, 17]);
    }

    /// A stream the writer sends a frame is not stalled: the stall a look
    /// found (`writer::reset_stalled`) starts again with the frame. Kept,
    /// a client that opens the window now and then, the stream spending it
    /// before each look, would be cut at the send timeout counted from its
    /// first stall, though it is reading.
    #[test]
    fn a_frame_sent_starts_its_streams_stall_again() {
        let mut state = State {
            window: 65_535,
            ..State::default()
        };
        let stream = Stream {
            data: vec![7; 100],
            blocked_since: Some(Instant::now()),
            ..Stream::new(65_535, false)
        };
        state.streams.insert(1, stream);
        let job = crate::server::h2::writer::next_job(&mut state, &mut Vec::new());
        assert!(matches!(job, Some(Job::Data { id: 1, .. })));
        assert_eq!(state.streams[&1].blocked_since, None);
    }

    /// The connection's end reaches only the streams still open: one the
    /// client reset before keeps its own reason (`Conn::client_left`), and
    /// one complete, whose thread may not have woken yet to see it
    /// finished, stays complete rather than failing its `end_body`.
    #[test]
    fn an_end_reaches_only_the_streams_still_open() {
        let conn = Conn::with_stream_1();
        let mut state = conn.lock();
        let reset = Stream {
            reset: Some(End::ClientAbort),
            ..Stream::default()
        };
        state.streams.insert(3, reset);
        let finished = Stream {
            finished: true,
            ..Stream::default()
        };
        state.streams.insert(5, finished);
        drop(state);
        conn.end(End::DrainTimeout);
        let ends: Vec<_> = conn.lock().streams.values().map(|s| s.reset).collect();
        assert_eq!(
            ends,
            [Some(End::DrainTimeout), Some(End::ClientAbort), None]
        );
    }
}
