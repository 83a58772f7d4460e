//! Which of a client's streams are taken on, and when each gets its
//! thread: a client may have [`MAX_CONCURRENT_STREAMS`] streams open (100),
//! and [`MAX_ANSWERING_STREAMS`] of them (16) are answered at once, each by
//! a thread; the others wait their turn, in the order they came.
//!
//! Two numbers, because a client uses the stream limit before it can know
//! it. Until it has read the server's SETTINGS it assumes one, and nghttp2
//! (h2load, nghttp, curl) and Chromium assume 100, the least RFC 9113
//! §6.5.2 recommends: a first flight may open 100 streams at once. Refused, those
//! past the server's limit would fail (h2load, for one, retries no
//! REFUSED_STREAM). What a stream costs here is a thread, so the threads
//! are bounded, and the rest is a queue, bounded in streams and in bytes:
//! backpressure on admission, as the bounded channel is on a body.
//!
//! A turn comes to a stream as one of the 16 stops counting (its
//! END_STREAM taken by the writer, or its reset): the reader starts a
//! thread for it as it reads, or the stream thread done with its response
//! takes it, so that no turn waits for a reader blocked in a read. At most
//! [`MAX_STREAM_THREADS`] live, those leaving counted.
//!
//! A stream waiting has its place in the table (`streams.rs`), so the
//! client's frames on it are judged as on any other: its window moves
//! with SETTINGS, its request body is counted, a reset cancels it. It
//! has no thread, so nothing else to stop.

use std::time::Instant;

use super::connection::{Reader, start};
use super::header_block::Block;
use super::stream;
use super::streams::{Leaving, State, Stream, rst_stream};
use super::turn::Turn;
use super::{MAX_ANSWERING_STREAMS, MAX_CONCURRENT_STREAMS, MAX_STREAM_THREADS, MAX_WAITING_BYTES};
use crate::http::h2::frame::ErrorCode::{ProtocolError, RefusedStream};
use crate::http::h2::frame::FrameError;
use crate::http::h2::hpack::HeaderList;
use crate::measure::access_log::End;
use crate::measure::log;
use crate::server::Shared;

impl Reader<'_, '_> {
    /// A new stream's request, its header block decoded into `list`: taken
    /// on, and answered at once if a thread may start, else in its turn.
    /// Refused (REFUSED_STREAM, which a client may retry) once the
    /// connection is going away, past the stream limit, or past the bytes
    /// waiting; reset (PROTOCOL_ERROR) if malformed.
    pub fn request(&mut self, block: Block, list: HeaderList) -> Result<(), FrameError> {
        let id = block.stream;
        self.last_stream = id;
        let refuse = |reason| FrameError::stream(id, RefusedStream, reason);
        if self.going_away {
            return Err(refuse("the connection is going away"));
        }
        let turn = Turn::of(id, &list, block.end_stream)
            .map_err(|reason| FrameError::stream(id, ProtocolError, reason))?;
        let mut state = self.conn.lock();
        // Those reset since the last look make room first.
        drop_reset_streams(&mut state);
        if state.counted_streams() >= MAX_CONCURRENT_STREAMS as usize {
            return Err(refuse("SETTINGS_MAX_CONCURRENT_STREAMS reached"));
        }
        if state.waiting_bytes() + turn.bytes > MAX_WAITING_BYTES {
            return Err(refuse("too many request bytes waiting for a thread"));
        }
        let mut stream = Stream::new(state.initial_window, !block.end_stream);
        stream.body_left = turn.body_length;
        state.streams.insert(id, stream);
        // Taken on: what a GOAWAY that lets streams finish names from now
        // on (`Reader::go_away`), so it is answered even if the connection
        // goes away while it waits.
        state.last_answered = id;
        state.waiting.push_back(turn);
        drop(state);
        // Activity, for the idle clock, even if `look_up` never sees this
        // stream open (answered before it next looks).
        self.idle_since = Instant::now();
        self.start_waiting();
        Ok(())
    }

    /// Starts a thread for each stream waiting that may be answered now
    /// ([`next_turn`]), oldest first, while fewer than
    /// [`MAX_STREAM_THREADS`] are alive and a refusal for want of a thread
    /// would fit among the answers owed. Called as a stream is taken on,
    /// and at each look between reads. A turn the reader cannot give (every
    /// thread it may have alive, or no room for a refusal while the client
    /// leaves its answers unread) is taken by a stream thread done with its
    /// response (`start_thread`), or given at a later look.
    pub fn start_waiting(&mut self) {
        self.join_finished();
        while self.threads.len() < MAX_STREAM_THREADS {
            let mut state = self.conn.lock();
            if state.waiting.is_empty() || !state.room_for_answers(1) {
                return;
            }
            // The shutdown's cut ends a read, but a reader held back by
            // unread answers reads nothing: a stream begun after the cut
            // would start work no client will get (a channel mode's
            // producer makes its first chunk, up to 16 MiB), so the
            // connection ends here as the cut would end it.
            if self.shared.connections.cutting() {
                drop(state);
                let cut = self.shared.connections.cut_reached(self.id);
                self.conn.end(if cut {
                    End::DrainTimeout
                } else {
                    End::ClientAbort
                });
                return;
            }
            let Some(turn) = next_turn(&mut state, self.shared) else {
                return;
            };
            drop(state);
            self.start_thread(turn);
        }
    }

    /// Starts a thread that answers `turn`, then takes the next stream
    /// waiting whose turn has come, and so on until none has: named after
    /// the first stream it answers (a panic's log line names the thread).
    /// If no thread can start, the stream is refused: REFUSED_STREAM,
    /// which a client may retry, owed as the stream limit's is
    /// (`stream_error`), so that a client that opens streams without
    /// reading the refusals is read no further once MAX_CONTROL_FRAMES of
    /// them wait unwritten. No access-log line, and a counter shared with
    /// the stream limit's: the reason gets a log line of its own.
    fn start_thread(&mut self, turn: Turn) {
        let (conn, shared, peer) = (self.conn, self.shared, self.peer);
        let local = self.socket.local_addr().ok();
        let id = turn.id;
        let spawned = start(self.scope, format!("h2-stream-{id}"), move || {
            let _last = Leaving(conn);
            let mut next = Some(turn);
            while let Some(turn) = next {
                stream::answer(conn, turn, shared, (peer, local));
                next = next_turn(&mut conn.lock(), shared);
            }
        });
        match spawned {
            Ok(thread) => self.threads.push(thread),
            Err(e) => {
                log::line(format!(
                    "backpressure: cannot start an HTTP/2 stream thread: {e}"
                ));
                let mut state = self.conn.lock();
                state.streams.remove(&id);
                state.push_owed(rst_stream(id, RefusedStream));
                state.reset_sent(id, RefusedStream);
                drop(state);
                self.conn.work.notify_one();
            }
        }
    }

    /// Joins every stream thread that has finished or done its last act
    /// ([`State::left`]), which waits only for it to leave the kernel. Its
    /// panic is passed on, as the scope would at the end: it ends this
    /// connection (logged `panic`, counted by `server::run_isolated`).
    fn join_finished(&mut self) {
        let left = std::mem::take(&mut self.conn.lock().left);
        let mut i = 0;
        while let Some(thread) = self.threads.get(i) {
            if !thread.is_finished() && !left.contains(&thread.thread().id()) {
                i += 1;
            } else if let Err(panic) = self.threads.swap_remove(i).join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// The oldest stream waiting, off the queue, if its turn has come: fewer
/// than [`MAX_ANSWERING_STREAMS`] are being answered, and neither has the
/// connection ended (nor an error's GOAWAY been decided) nor the shutdown
/// begun cutting. Taken under the lock by whichever thread asks first, the
/// reader or a stream thread whose response is done, so the bound holds
/// whoever takes it.
fn next_turn(state: &mut State, shared: &Shared) -> Option<Turn> {
    drop_reset_streams(state);
    // Every stream waiting is open and its END_STREAM not taken, so
    // counted: the rest of those counted have a thread.
    let (counted, waiting) = (state.counted_streams(), state.waiting.len());
    debug_assert!(counted >= waiting, "a stream waiting is not counted");
    let answering = counted.saturating_sub(waiting);
    let free = answering < MAX_ANSWERING_STREAMS;
    let over = state.ended.is_some() || state.turns_over || shared.connections.cutting();
    if !free || over {
        return None;
    }
    let turn = state.waiting.pop_front()?;
    state.last_started = turn.id;
    Some(turn)
}

/// Drops the streams reset as they waited (by their client, by a stream
/// error, by the connection's end): they leave the table and never get a
/// thread, nor an access-log line.
fn drop_reset_streams(state: &mut State) {
    let State {
        streams, waiting, ..
    } = state;
    waiting.retain(|turn| {
        let open = streams.get(&turn.id).is_some_and(Stream::is_open);
        if !open {
            streams.remove(&turn.id);
        }
        open
    });
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;
    use crate::http::h2::frame::ErrorCode;
    use crate::server::h2::EndOnPanic;
    use crate::server::h2::streams::Conn;
    use crate::server::h2::writer::{self, Job};
    use crate::test_support::wait_until;

    /// Runs `test` with a reader on a connection of its own, whose threads
    /// are ended when it returns or fails. Each stream it asks is `HEAD
    /// /healthz`, answered by a HEADERS frame alone, whose write no writer
    /// here takes: its thread waits until the test plays the writer.
    fn with_reader(
        test: impl FnOnce(&mut Reader<'_, '_>, &Conn, &dyn Fn(&mut Reader<'_, '_>, u32)),
    ) {
        let (conn, mut shared) = (Conn::new(), super::super::tests::shared());
        shared.config.quiet = true;
        let (server, client) = crate::test_support::loopback();
        let fields = [
            ":method",
            "HEAD",
            ":scheme",
            "http",
            ":path",
            "/healthz",
            ":authority",
            "t",
        ];
        let fields = fields.chunks(2).map(|f| (f[0].into(), f[1].into()));
        let list = HeaderList {
            fields: fields.collect(),
            too_large: false,
        };
        let ask = |reader: &mut Reader<'_, '_>, id: u32| {
            reader
                .request(Block::new(id, true, &[]), list.clone())
                .unwrap();
        };
        thread::scope(|scope| {
            let _ends = EndOnPanic(&conn); // a failing test fails, not hangs
            let peer = client.local_addr().unwrap();
            let mut reader = Reader::new(scope, &conn, &server, &shared, (peer, 0));
            test(&mut reader, &conn, &ask);
            conn.end(End::ClientAbort);
        });
    }

    /// The writer takes stream `id`'s END_STREAM (played here): it counts
    /// no more, and its thread waits for the write.
    fn end_stream_taken(conn: &Conn, id: u32) {
        conn.lock().streams.get_mut(&id).unwrap().closing = true;
    }

    /// The streams waiting, by id.
    fn waiting(conn: &Conn) -> Vec<u32> {
        conn.lock().waiting.iter().map(|turn| turn.id).collect()
    }

    /// Stream `id`'s END_STREAM written (played here), and its thread, done,
    /// gone: it took no turn, or has answered the one it took.
    fn written_and_left(conn: &Conn, id: u32) {
        writer::mark_written(conn, Job::Control { ends: vec![id] });
        wait_until("the thread's last act", || !conn.lock().left.is_empty());
    }

    /// At the stream-thread limit a stream waits, though none is being
    /// answered: 32 streams whose END_STREAM the writer has taken, so that
    /// none counts, each thread waiting for its write. The 33rd gets no
    /// thread of its own, however often the reader looks: once the oldest
    /// is written, that stream's thread takes it.
    #[test]
    fn at_the_thread_limit_a_stream_waits_for_a_thread_to_take_it() {
        with_reader(|reader, conn, ask| {
            let limit = MAX_STREAM_THREADS as u32;
            for n in 0..=limit {
                ask(reader, 2 * n + 1);
                if n < limit {
                    end_stream_taken(conn, 2 * n + 1);
                }
            }
            assert_eq!((reader.threads.len(), waiting(conn)), (32, vec![65]));
            reader.start_waiting();
            assert_eq!(
                (reader.threads.len(), waiting(conn)),
                (32, vec![65]),
                "a 33rd"
            );
            writer::mark_written(conn, Job::Control { ends: vec![1] });
            wait_until("stream 65 taken", || waiting(conn).is_empty());
            assert_eq!(conn.lock().last_started, 65);
        });
    }

    /// A thread done with its response takes a turn only while fewer than
    /// 16 are being answered, as the reader does. Sixteen answered; the
    /// writer takes stream 1's END_STREAM, and the reader gives stream 33
    /// its turn; stream 35 waits. Stream 1, written, leaves its thread free,
    /// but 16 are answered again: it takes no turn.
    #[test]
    fn a_thread_done_takes_no_turn_past_the_sixteen_answered() {
        with_reader(|reader, conn, ask| {
            (0..16).for_each(|n| ask(reader, 2 * n + 1));
            end_stream_taken(conn, 1);
            ask(reader, 33);
            ask(reader, 35);
            assert_eq!((reader.threads.len(), waiting(conn)), (17, vec![35]));
            written_and_left(conn, 1);
            assert_eq!(waiting(conn), [35], "a 17th answered");
        });
    }

    /// A turn is given only while the refusal a thread that fails to start
    /// owes would fit among the answers owed: at 64 (a client that reads
    /// none of them), a stream waits, and no start is tried, so that a
    /// client flooding streams as threads fail to start queues no answer
    /// past `MAX_CONTROL_FRAMES`. Once the writer takes one, the next look
    /// gives it its turn: here refused for want of a thread, the
    /// REFUSED_STREAM the 64th answer owed.
    #[test]
    fn no_turn_is_given_without_room_for_the_refusal_it_may_owe() {
        with_reader(|reader, conn, ask| {
            for _ in 0..crate::server::h2::MAX_CONTROL_FRAMES {
                conn.lock().push_owed(vec![0; 13]);
            }
            let ((), log) = log::capture(|| {
                crate::test_support::with_failing_spawns(|| {
                    ask(reader, 1);
                    assert_eq!(waiting(conn), [1], "its turn given at 64 owed");
                    conn.lock().control.pop_front(); // the writer takes one
                    reader.start_waiting();
                });
            });
            let why = "backpressure: cannot start an HTTP/2 stream thread";
            assert!(log.iter().any(|l| l.starts_with(why)), "{log:?}");
            let state = conn.lock();
            assert!(state.waiting.is_empty() && state.streams.is_empty());
            let refused = rst_stream(1, RefusedStream);
            assert_eq!(state.control.back().map(|c| &c.bytes), Some(&refused));
            assert_eq!(state.control.len(), 64);
        });
    }

    /// No turn comes after an error's GOAWAY, which names the last stream
    /// whose turn came, though the connection's end is set only after it:
    /// a thread done with its response meanwhile takes none.
    #[test]
    fn no_turn_comes_after_an_errors_goaway() {
        with_reader(|reader, conn, ask| {
            (0..17).for_each(|n| ask(reader, 2 * n + 1));
            assert_eq!(waiting(conn), [33]);
            reader.go_away(ErrorCode::ProtocolError, b"");
            end_stream_taken(conn, 1);
            written_and_left(conn, 1);
            assert_eq!((waiting(conn), conn.lock().last_started), (vec![33], 31));
        });
    }
}
