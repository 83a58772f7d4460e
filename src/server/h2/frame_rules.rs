//! What each frame the client sends does to its connection: the rules of
//! RFC 9113 that need the connection's state, each type whose rules take
//! more than a line by a method of the reader's named after it.
//!
//! A broken rule (RFC 9113 §5.4): a *stream* error resets that stream
//! (RST_STREAM) and the connection goes on; a *connection* error sends
//! GOAWAY with its code and closes.

use super::MAX_HEADER_LIST_BYTES;
use super::connection::Reader;
use super::header_block::{Block, INTERRUPTED_BLOCK};
use super::streams::{State, Stream, encode, rst_stream};
use crate::http::h2::frame::ErrorCode::{
    CompressionError, FlowControlError, NoError, ProtocolError, StreamClosed,
};
use crate::http::h2::frame::{self, Frame, FrameError, MAX_WINDOW, Settings, setting};
use crate::http::h2::frame_write;
use crate::http::h2::request;
use crate::measure::access_log::End;

/// A request body longer or shorter than its content-length (RFC 9113
/// §8.1.1): checked on DATA and on trailers.
const UNLIKE_LENGTH: &str = "a request body unlike its content-length";

/// The connection's receive window is given back once half of it is used
/// (`data`), so a client can never pass it: half, less a byte, and one
/// frame fit. (Were SETTINGS_MAX_FRAME_SIZE ever raised, DATA would need a
/// check against the window again.)
const _: () = assert!(
    frame::DEFAULT_WINDOW as usize / 2 + frame::MAX_FRAME_BYTES <= frame::DEFAULT_WINDOW as usize
);

impl<'s, 'a> Reader<'s, 'a> {
    /// A stream error: that stream is reset, the connection goes on. The
    /// RST_STREAM is owed to the client, counted against the frames it may
    /// leave unread; a stream being answered counts as cancelled, as by its
    /// own RST_STREAM (MadeYouReset, CVE-2025-8671).
    pub fn stream_error(&mut self, error: FrameError) -> Result<(), FrameError> {
        let Some(id) = error.stream else {
            return Err(error);
        };
        // Only a CONTINUATION may come inside a header block (§6.10), so
        // whatever else is wrong with a frame there, it interrupted one.
        if self.block.is_some() {
            return Err(FrameError::connection(ProtocolError, INTERRUPTED_BLOCK));
        }
        // RST_STREAM may not name an idle stream (§6.4), and any frame but
        // HEADERS or PRIORITY on one is a connection error (§5.1).
        if self.opened(id, error.reason).is_err() {
            return Err(FrameError::connection(error.code, error.reason));
        }
        let mut state = self.conn.lock();
        // A stream this side has reset is closed: what the client sent on it
        // before it saw the reset is ignored (§5.1), not reset again each.
        if state.was_reset(id) {
            return Ok(());
        }
        // The reset closes the client's side too, in this one hold of the
        // lock: it is the stream's only reset, so its thread, done with the
        // response, sends no RST_STREAM NO_ERROR after it
        // (`StreamBody::drop`), and a thread waiting for an open-ended
        // request's end never takes a malformed end for a good one.
        if let Some(s) = state.streams.get_mut(&id) {
            s.remote_open = false;
        }
        let cancelled = state.cancel(id, End::ProtocolError);
        state.push_owed(rst_stream(id, error.code));
        state.reset_sent(id, error.code);
        drop(state);
        self.conn.work.notify_one();
        cancelled
    }

    /// Queues a control frame the client asked for, written by one of
    /// `frame_write`'s builders.
    fn answer(&self, write: impl FnOnce(&mut Vec<u8>)) {
        self.conn.lock().push_owed(encode(write));
        self.conn.work.notify_one();
    }

    /// A frame on a stream never opened (idle, RFC 9113 §5.1) is a
    /// connection error: only the client's HEADERS open streams, on odd
    /// ids, so an id above its last or an even one is idle.
    fn opened(&self, stream: u32, reason: &'static str) -> Result<(), FrameError> {
        if stream > self.last_stream || stream.is_multiple_of(2) {
            return Err(FrameError::connection(ProtocolError, reason));
        }
        Ok(())
    }

    /// One frame, parsed; the rules of each type that takes more than a
    /// line are in a method below. Errs with a connection or a stream error.
    pub fn handle(&mut self, frame: Frame<'_>) -> Result<(), FrameError> {
        let protocol_error = |reason| Err(FrameError::connection(ProtocolError, reason));
        // Inside a header block only its CONTINUATION may come (§6.10).
        if let Some(mut block) = self.block.take() {
            let end_headers = block.continued(frame)?;
            return self.finish_or_keep(block, end_headers);
        }
        match frame {
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                block,
            } => self.headers(stream, end_stream, end_headers, block),
            Frame::Continuation { .. } => protocol_error("CONTINUATION without HEADERS"),
            Frame::Data {
                stream,
                end_stream,
                data,
                flow,
            } => self.data(stream, end_stream, data.len(), flow),
            Frame::RstStream { stream, .. } => self.rst_stream(stream),
            Frame::Settings { ack: false, params } => self.settings(params),
            Frame::Ping { ack: false, data } => {
                self.answer(|out| frame_write::ping(out, data, true));
                Ok(())
            }
            // Answered in kind: no new streams, and the ones under way
            // finish (RFC 9113 §6.8).
            Frame::GoAway { .. } if !self.going_away => {
                self.go_away(NoError, b"");
                Ok(())
            }
            Frame::WindowUpdate { stream, increment } => self.window_update(stream, increment),
            Frame::PushPromise => protocol_error("a client cannot push"),
            Frame::Settings { ack: true, .. }
            | Frame::Ping { ack: true, .. }
            | Frame::GoAway { .. }
            | Frame::Priority
            | Frame::Unknown => Ok(()),
        }
    }

    /// HEADERS: a new request's header block, or trailers on one under way.
    fn headers(
        &mut self,
        id: u32,
        end_stream: bool,
        end_headers: bool,
        block: &[u8],
    ) -> Result<(), FrameError> {
        let protocol_error = |reason| Err(FrameError::connection(ProtocolError, reason));
        if id.is_multiple_of(2) {
            return protocol_error("a client stream id is odd");
        }
        // An old id is trailers on a request still in the table, or a block
        // the client sent before it saw this side's reset (both read like
        // the first block, below), or an id that went backwards (§5.1.1).
        let state = self.conn.lock();
        let known = state.streams.contains_key(&id) || state.was_reset(id);
        drop(state);
        if id <= self.last_stream && !known {
            return protocol_error("a stream id that did not grow");
        }
        self.finish_or_keep(Block::new(id, end_stream, block), end_headers)
    }

    /// A header block received up to its latest frame: taken as a whole at
    /// END_HEADERS, kept for its CONTINUATION until then.
    fn finish_or_keep(&mut self, block: Block, end_headers: bool) -> Result<(), FrameError> {
        if end_headers {
            return self.header_block(block);
        }
        self.block = Some(block);
        Ok(())
    }

    /// DATA: a request body, thrown away once counted against the windows
    /// and the request's content-length.
    fn data(&mut self, id: u32, end_stream: bool, len: usize, flow: u32) -> Result<(), FrameError> {
        // Thrown away, the bytes still used the connection's window: given
        // back once half used, it cannot be passed (the assertion at the
        // top). Only a stream's window, never given back, needs a check.
        self.received += flow;
        if self.received >= frame::DEFAULT_WINDOW / 2 {
            let received = std::mem::take(&mut self.received);
            self.answer(|out| frame_write::window_update(out, 0, received));
        }
        self.opened(id, "DATA on an idle stream")?;
        let mut state = self.conn.lock();
        let after_end = "DATA after the request's END_STREAM";
        // None: a stream this side reset, the DATA counted above and dropped.
        let Some(s) = receiving(&mut state, id, after_end)? else {
            return Ok(());
        };
        s.received = s.received.saturating_add(flow);
        let (code, reason) = if s.received > frame::DEFAULT_WINDOW {
            (FlowControlError, "DATA beyond the stream's window")
        } else if !s.body_agrees(len, end_stream) {
            (ProtocolError, UNLIKE_LENGTH)
        } else {
            // Wakes an open-ended request's thread
            // (`stream::wait_for_body_or_end`) only at what decides it, its
            // first byte of body or its end: a thread already answering
            // waits on the same condvar for its hand-offs, and should not
            // wake for every DATA frame of a body being thrown away.
            let decides = (len > 0 && !s.body_seen) || end_stream;
            s.body_seen |= len > 0;
            s.remote_open = !end_stream;
            if decides {
                s.wake.notify_one();
            }
            return Ok(());
        };
        Err(FrameError::stream(id, code, reason))
    }

    /// RST_STREAM: the client cancels a stream. Its thread, woken
    /// (`State::cancel`), stops the producer; the mark makes what the
    /// client sends on it afterwards its own error, not a frame that
    /// crossed a reset of this side's: marked in the table, and where a
    /// reset of ours is remembered once the stream has left it. What the
    /// client sent before its own reset may have crossed ours, but nothing
    /// it sends after.
    fn rst_stream(&mut self, id: u32) -> Result<(), FrameError> {
        self.opened(id, "RST_STREAM on an idle stream")?;
        let mut state = self.conn.lock();
        if let Some(s) = state.streams.get_mut(&id) {
            s.reset_by_client = true;
        }
        if let Some(reset) = state.recent_reset(id) {
            reset.by_client = true;
        }
        // Only a stream this cancels has its thread woken: resets of one
        // already closed, which a client may send without end, wake none.
        state.cancel(id, End::ClientAbort)
    }

    /// The client's SETTINGS, acknowledged once applied.
    fn settings(&mut self, params: Settings<'_>) -> Result<(), FrameError> {
        let applied = apply_settings(&mut self.conn.lock(), params);
        self.conn.work.notify_one();
        applied
    }

    /// WINDOW_UPDATE: more room in the connection's window (stream 0) or
    /// in a stream's, neither past 2^31 − 1.
    ///
    /// The writer is woken only by one that opens a window that was shut:
    /// one that grows a window already open gives it no frame it did not
    /// have (a writer with a frame to send is not waiting), and a client
    /// may send those without end, each a system call if it woke the writer.
    fn window_update(&mut self, id: u32, increment: u32) -> Result<(), FrameError> {
        let mut state = self.conn.lock();
        let mut opens = false;
        if id == 0 {
            let was_shut = state.window <= 0;
            state.window += i64::from(increment);
            if state.window > MAX_WINDOW {
                let reason = "the connection window above 2^31-1";
                return Err(FrameError::connection(FlowControlError, reason));
            }
            opens = was_shut && state.window > 0;
        } else {
            self.opened(id, "WINDOW_UPDATE on an idle stream")?;
            // Only an open stream's: a reset one stays in the table until
            // its thread leaves, and a window past 2^31-1 there would make
            // the next SETTINGS a connection error.
            if let Some(s) = state.streams.get_mut(&id).filter(|s| s.is_open()) {
                let window = s.window + i64::from(increment);
                if window > MAX_WINDOW {
                    let reason = "a stream window above 2^31-1";
                    return Err(FrameError::stream(id, FlowControlError, reason));
                }
                opens = s.window <= 0 && window > 0;
                s.window = window;
            }
        }
        drop(state);
        if opens {
            self.conn.work.notify_one();
        }
        Ok(())
    }

    /// A complete header block: a new request, or trailers on one already
    /// taken on.
    fn header_block(&mut self, block: Block) -> Result<(), FrameError> {
        // Decoded first, whatever becomes of it, even trailers thrown away:
        // the client's encoder has added its entries to its dynamic table,
        // and ours must follow, or every later request on the connection
        // decodes wrong (§4.3).
        let list = self
            .decoder
            .decode(&block.bytes, MAX_HEADER_LIST_BYTES)
            .map_err(|e| FrameError::connection(CompressionError, e.reason()))?;
        if block.stream > self.last_stream {
            return self.request(block, list);
        }
        let id = block.stream;
        let malformed = |reason| Err(FrameError::stream(id, ProtocolError, reason));
        let mut state = self.conn.lock();
        // None: a stream this side reset, the block decoded and dropped.
        let Some(s) = receiving(&mut state, id, "HEADERS after END_STREAM")? else {
            return Ok(());
        };
        // Trailers end the request body they follow (RFC 9113 §8.1), and
        // carry no pseudo-header fields, their fields held to the rules of
        // a request's. Malformed, they reset the stream, which closes the
        // client's side with it (`stream_error`).
        if !block.end_stream {
            return malformed("trailers without END_STREAM");
        }
        if list.fields.iter().any(|(name, _)| name.starts_with(b":")) {
            return malformed("a pseudo-header field in trailers");
        }
        let broken = list
            .fields
            .iter()
            .find_map(|(n, v)| request::check_field(n, v).err());
        if let Some(reason) = broken {
            return malformed(reason);
        }
        if !s.body_agrees(0, true) {
            return malformed(UNLIKE_LENGTH);
        }
        // An open-ended request's thread waits for this end.
        s.trailers_too_large = list.too_large;
        s.remote_open = false;
        s.wake.notify_one();
        Ok(())
    }
}

/// The stream that the client's DATA or trailers on `id` are for: one
/// whose request is still arriving; `None` for one this side has reset,
/// whatever its state, since what the client sent before it saw the reset
/// is ignored (RFC 9113 §5.1), unless the client has reset it since.
/// Anywhere else they are the client's error (STREAM_CLOSED): a stream
/// error (`after_end`) on one whose request has ended while its response
/// goes on; else a connection error, on a stream closed both ways or one
/// the client reset, which a stream error would reset again (§5.4.1 lets
/// any stream error be a connection error). Closed both ways once the
/// writer has taken the END_STREAM (`closing`): the client may read it
/// before the write returns and marks it `finished`.
fn receiving<'s>(
    state: &'s mut State,
    id: u32,
    after_end: &'static str,
) -> Result<Option<&'s mut Stream>, FrameError> {
    let closed = |reason| Err(FrameError::connection(StreamClosed, reason));
    // A reset of ours, if one is remembered: whether the client has reset
    // the stream since (its mark outlives the stream's place in the table).
    let ours = state.recent_reset(id).map(|reset| reset.by_client);
    let in_table = state.streams.get(&id);
    let client_reset = ours == Some(true) || in_table.is_some_and(|s| s.reset_by_client);
    match state.streams.get_mut(&id) {
        _ if client_reset => closed("a frame on a stream the client reset"),
        _ if ours.is_some() => Ok(None),
        Some(s) if s.remote_open => Ok(Some(s)),
        Some(s) if s.answering() => Err(FrameError::stream(id, StreamClosed, after_end)),
        _ => closed("a frame on a closed stream"),
    }
}

/// Applies the client's SETTINGS to `state` and queues their
/// acknowledgement in the same hold of the lock: the writer takes control
/// frames before DATA, so the ACK goes out before any frame sized by the
/// new values, as RFC 9113 §6.5.3's "immediately" asks. Queued after the
/// lock was let go, a DATA frame the new window allowed could slip ahead.
fn apply_settings(state: &mut State, params: Settings<'_>) -> Result<(), FrameError> {
    // Only the initial window size matters: not the table size, as our
    // encoder never indexes; we never push; our frames never pass 16,384
    // bytes, the least SETTINGS_MAX_FRAME_SIZE may be (§6.5.2); the rest
    // is advice or unknown, and ignored.
    let initial = params
        .iter()
        .filter(|&(id, _)| id == setting::INITIAL_WINDOW_SIZE);
    for (_, value) in initial {
        // Every open stream's window moves by the change, and may go
        // negative (RFC 9113 §6.9.2); a closed one's is nobody's concern.
        let delta = i64::from(value) - state.initial_window;
        state.initial_window = i64::from(value);
        for stream in state.streams.values_mut().filter(|s| s.is_open()) {
            stream.window += delta;
            if stream.window > MAX_WINDOW {
                let reason = "a stream window above 2^31-1";
                return Err(FrameError::connection(FlowControlError, reason));
            }
        }
    }
    state.push_owed(encode(frame_write::settings_ack));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::h2::streams::Conn;
    use crate::server::h2::writer::{Job, next_job};

    /// DATA or trailers after the request's END_STREAM are a stream error
    /// (RST_STREAM STREAM_CLOSED) only while the response goes on, the
    /// stream half-closed (remote), RFC 9113 §5.1. Once the writer has
    /// taken the frame with the response's END_STREAM, the client may have
    /// read it before the write returns and marks the stream finished: the
    /// stream is closed both ways, and a frame on it ends the connection
    /// (GOAWAY STREAM_CLOSED), whether or not the write has returned yet.
    #[test]
    fn a_frame_after_both_end_streams_ends_the_connection_before_the_write_returns() {
        let after_end = "DATA after the request's END_STREAM";
        for (closing, finished, connection_error) in [
            (false, false, false),
            (true, false, true),
            (true, true, true),
        ] {
            let mut state = State::default();
            let stream = Stream {
                closing,
                finished,
                ..Stream::new(65_535, false)
            };
            state.streams.insert(1, stream);
            let error = receiving(&mut state, 1, after_end).map(|_| ()).unwrap_err();
            let case = format!("closing {closing}, finished {finished}: {error:?}");
            assert_eq!(error.code, StreamClosed, "{case}");
            let expected = if connection_error { None } else { Some(1) };
            assert_eq!(error.stream, expected, "{case}");
        }
    }

    /// The client's SETTINGS and their ACK reach the writer together: once
    /// a stream's window is opened by SETTINGS_INITIAL_WINDOW_SIZE, the ACK
    /// is queued already, and control frames go before DATA: the one-byte
    /// DATA the new window allows cannot go out before the ACK.
    #[test]
    fn settings_are_acknowledged_before_the_window_they_open_is_used() {
        let mut state = State::default();
        let mut stream = Stream::new(0, false);
        stream.data = b"x".to_vec();
        state.streams.insert(1, stream);
        let sent = encode(|out| frame_write::settings(out, &[(setting::INITIAL_WINDOW_SIZE, 1)]));
        let mut frames = crate::http::h2::frame_buffer::FrameBuffer::with(&sent);
        let (header, payload) = frames.next_frame().unwrap().unwrap();
        let Ok(Frame::Settings { ack: false, params }) = frame::parse(&header, payload) else {
            panic!("not a SETTINGS frame");
        };
        apply_settings(&mut state, params).unwrap();
        assert_eq!(state.streams[&1].window, 1);
        let queued: Vec<_> = state.control.iter().map(|c| c.bytes.clone()).collect();
        assert_eq!(queued, [encode(frame_write::settings_ack)]);
        // And so the writer takes them: the ACK, then the byte.
        state.window = 65_535;
        let mut buf = Vec::new();
        let first = next_job(&mut state, &mut buf);
        assert!(matches!(first, Some(Job::Control { .. })));
        assert_eq!(buf, encode(frame_write::settings_ack));
        let second = next_job(&mut state, &mut buf);
        assert!(matches!(second, Some(Job::Data { id: 1, upto: 1, .. })));
    }

    /// Runs `f` with a reader of a connection whose stream 1 is open both
    /// ways, its request's content-length `body_left`.
    fn with_stream_1(body_left: Option<u64>, f: impl FnOnce(&mut Reader<'_, '_>, &Conn)) {
        let (server, client) = crate::test_support::loopback();
        let conn = Conn::new();
        let shared = super::super::tests::shared();
        std::thread::scope(|scope| {
            let peer = client.local_addr().unwrap();
            let mut reader = Reader::new(scope, &conn, &server, &shared, (peer, 0));
            reader.last_stream = 1;
            let mut stream = Stream::new(65_535, true);
            stream.body_left = body_left;
            conn.lock().streams.insert(1, stream);
            f(&mut reader, &conn);
        });
    }

    /// DATA or trailers that break a rule of their stream (DATA past the
    /// request's content-length, trailers without END_STREAM) reset the
    /// stream, and that reset closes the client's side too, in the same
    /// hold of the lock: it is the stream's only reset, so its thread, done
    /// with the response, sends no RST_STREAM NO_ERROR after it
    /// (`StreamBody::drop`); and the side is not closed before the reset,
    /// where a thread waiting for an open-ended request's end would take it
    /// for a good one.
    #[test]
    fn a_stream_error_closes_the_clients_side_with_its_reset() {
        for trailers in [false, true] {
            with_stream_1(Some(1), |reader, conn| {
                let error = if trailers {
                    reader.header_block(Block::new(1, false, &[])).unwrap_err()
                } else {
                    reader.data(1, false, 2, 2).unwrap_err()
                };
                assert_eq!((error.stream, error.code), (Some(1), ProtocolError));
                let open = conn.lock().streams[&1].remote_open;
                assert!(open, "trailers {trailers}: closed before its reset");
                reader.stream_error(error).unwrap();
                let state = conn.lock();
                assert!(!state.streams[&1].remote_open, "trailers {trailers}: open");
                assert_eq!(state.streams[&1].reset, Some(End::ProtocolError));
            });
        }
    }

    /// What decides an open-ended request wakes the thread waiting for it
    /// (`stream::wait_for_body_or_end`) at once, not at its deadline: its
    /// first byte of body, an empty end, trailers. A byte of body stays
    /// seen through the empty end after it, which a stream still waiting
    /// for its thread may get before it looks.
    #[test]
    fn what_decides_an_open_ended_request_wakes_its_thread() {
        use super::super::stream::{Rest, wait_for_body_or_end};
        use std::time::{Duration, Instant};
        let decide = |reader: &mut Reader<'_, '_>, case| match case {
            "a byte" => reader.data(1, false, 1, 1),
            "an empty end" => reader.data(1, true, 0, 0),
            "trailers" => reader.header_block(Block::new(1, true, &[])),
            other => unreachable!("{other}"),
        };
        with_stream_1(None, |reader, conn| {
            decide(reader, "a byte").unwrap();
            decide(reader, "an empty end").unwrap();
            let due = Instant::now() + Duration::from_secs(10);
            assert_eq!(wait_for_body_or_end(conn, 1, due), Rest::Body);
        });
        for (case, expected) in [
            ("a byte", Rest::Body),
            ("an empty end", Rest::Empty),
            ("trailers", Rest::Empty),
        ] {
            // 50 ms into its wait, the thread is woken and answers within
            // 25 ms, its deadline 2 s off. A run whose thread was kept off
            // the CPU that long, or began its wait less than 10 ms before
            // the decision (and may have found it made), is run again.
            let woken = (0..5).any(|_| {
                let mut answer = None;
                with_stream_1(None, |reader, conn| {
                    let (told, heard) = std::sync::mpsc::channel();
                    let due = Instant::now() + Duration::from_secs(2);
                    std::thread::scope(|waiting| {
                        let waits = move || {
                            let began = Instant::now();
                            told.send((began, wait_for_body_or_end(conn, 1, due)))
                        };
                        waiting.spawn(waits);
                        std::thread::sleep(Duration::from_millis(50));
                        let decided = Instant::now();
                        decide(reader, case).unwrap();
                        answer = heard.recv_timeout(Duration::from_millis(25)).ok();
                        let waited_first = |&(began, _): &(Instant, Rest)| {
                            decided.saturating_duration_since(began) >= Duration::from_millis(10)
                        };
                        answer = answer.filter(waited_first);
                    });
                });
                let answer = answer.map(|(_, rest)| rest);
                assert!(
                    answer.is_none_or(|rest| rest == expected),
                    "{case}: {answer:?}"
                );
                answer.is_some()
            });
            assert!(woken, "{case}: the thread was not woken");
        }
    }
}
