//! Which of a client's streams are taken on, and when each gets its
//! thread: a client may have [`MAX_CONCURRENT_STREAMS`] streams open (100),
//! and [`MAX_ANSWERING_STREAMS`] of them (16) are answered at once, each by
//! a thread; the others wait their turn, in the order they came.
//!
//! Two numbers, because a client uses the stream limit before it can know
//! it. Until it has read the server's SETTINGS it assumes one, and nghttp2
//! (h2load, nghttp, curl) and Chromium assume the 100 that RFC 9113 §6.5.2
//! recommends: a first flight may open 100 streams at once. Refused, those
//! past the server's limit would fail (h2load, for one, retries no
//! REFUSED_STREAM). What a stream costs here is a thread, so the threads
//! are bounded, and the rest is a queue, bounded in streams and in bytes:
//! backpressure on admission, as the bounded channel is on a body.
//!
//! A stream waiting has its place in the table (`streams.rs`), so the
//! client's frames on it are judged as on any other: its window moves
//! with SETTINGS, its request body is counted, a reset cancels it. It
//! has no thread, so nothing else to stop.

use std::collections::VecDeque;
use std::time::Instant;

use super::connection::{Reader, start};
use super::header_block::Block;
use super::stream::{self, Asked};
use super::streams::{Leaving, Stream, rst_stream};
use super::{MAX_ANSWERING_STREAMS, MAX_CONCURRENT_STREAMS, MAX_STREAM_THREADS, MAX_WAITING_BYTES};
use crate::http::h2::frame::ErrorCode::{ProtocolError, RefusedStream};
use crate::http::h2::frame::FrameError;
use crate::http::h2::hpack::HeaderList;
use crate::http::h2::request::{self, Request};
use crate::http::response::Status;
use crate::measure::access_log::End;
use crate::measure::log;

/// What a stream asks of the routes: its request, or the error status it
/// has earned already.
type Job = Result<Request, (Status, &'static str)>;

/// The streams taken on that wait for a thread, oldest first.
#[derive(Debug, Default)]
pub struct Waiting {
    /// Each stream's id, what it asks, and the bytes that holds.
    streams: VecDeque<(u32, Job, Asked, usize)>,
    /// What they hold, counted by [`held_bytes`]: at most
    /// [`MAX_WAITING_BYTES`].
    bytes: usize,
}

impl Waiting {
    /// No stream waits.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}

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
        let mut state = self.conn.lock();
        if state.counted_streams() >= MAX_CONCURRENT_STREAMS as usize {
            return Err(refuse("SETTINGS_MAX_CONCURRENT_STREAMS reached"));
        }
        let parsed = request::parse(&list.fields, block.end_stream);
        let body_length = parsed.as_ref().ok().and_then(|r| r.content_length);
        let job = match parsed {
            // Fields were dropped: what they said is unknown, so 431 comes
            // before any other verdict on the request.
            _ if list.too_large => Err((
                Status::RequestHeaderFieldsTooLarge,
                "request header fields too large",
            )),
            // What HTTP/1.1's head parser would refuse is refused alike.
            Ok(Request {
                refused: Some(refused),
                ..
            }) => Err(refused),
            Ok(request) => Ok(request),
            Err(reason) => return Err(FrameError::stream(id, ProtocolError, reason)),
        };
        let asked = Asked::of(&list.fields);
        let bytes = held_bytes(&job, &asked);
        if self.waiting.bytes + bytes > MAX_WAITING_BYTES {
            return Err(refuse("too many request bytes waiting for a thread"));
        }
        let mut stream = Stream::new(state.initial_window, !block.end_stream);
        stream.body_left = body_length;
        state.streams.insert(id, stream);
        // Taken on: what a GOAWAY names from now on, so it is answered even
        // if the connection goes away while it waits. Set before anything
        // reads it: only this thread sends GOAWAY while streams run, and
        // `FailOnPanic` once they are all joined.
        state.last_answered = id;
        drop(state);
        // Activity, for the idle clock, even if `look_up` never sees this
        // stream open (answered before it next looks).
        self.idle_since = Instant::now();
        self.waiting.streams.push_back((id, job, asked, bytes));
        self.waiting.bytes += bytes;
        self.start_waiting();
        Ok(())
    }

    /// Starts the streams waiting, oldest first, while fewer than
    /// [`MAX_ANSWERING_STREAMS`] are being answered and fewer than
    /// [`MAX_STREAM_THREADS`] threads are alive, and while a refusal for
    /// want of a thread would fit among the answers owed. A stream reset
    /// as it waited (by its client, by a stream error, by the connection's
    /// end) leaves the table and never gets a thread, nor an access-log
    /// line. Called as a stream is taken on, and at each look between reads.
    pub fn start_waiting(&mut self) {
        self.join_finished();
        loop {
            let mut state = self.conn.lock();
            if state.ended.is_some() {
                return;
            }
            let Waiting { streams, bytes } = &mut self.waiting;
            streams.retain(|&(id, _, _, held)| {
                let open = state.streams.get(&id).is_some_and(Stream::is_open);
                if !open {
                    state.streams.remove(&id);
                    *bytes -= held;
                }
                open
            });
            // Every stream waiting is open and its END_STREAM not taken, so
            // counted: the rest of those counted have a thread.
            let answering = state.counted_streams() - streams.len();
            let free = answering < MAX_ANSWERING_STREAMS
                && self.threads.len() < MAX_STREAM_THREADS
                && state.room_for_answers(1);
            if !free || streams.is_empty() {
                return;
            }
            drop(state);
            // The shutdown's cut ends a read, not this: a stream begun
            // after it would start work no client will get (a channel
            // mode's producer makes its first chunk, up to 16 MiB).
            if self.shared.connections.cutting() {
                let cut = self.shared.connections.cut_reached(self.id);
                self.conn.end(if cut {
                    End::DrainTimeout
                } else {
                    End::ClientAbort
                });
                return;
            }
            if let Some((id, job, asked, held)) = self.waiting.streams.pop_front() {
                self.waiting.bytes -= held;
                self.start_thread(id, job, asked);
            }
        }
    }

    /// Starts the thread that answers stream `id`. If none can start, the
    /// stream is refused: REFUSED_STREAM, which a client may retry, owed as
    /// the stream limit's is (`stream_error`), so that a client that opens
    /// streams without reading the refusals is read no further once
    /// MAX_CONTROL_FRAMES of them wait unwritten. No access-log line, and a
    /// counter shared with the stream limit's: the reason gets a log line
    /// of its own.
    fn start_thread(&mut self, id: u32, job: Job, asked: Asked) {
        let (conn, shared, peer) = (self.conn, self.shared, self.peer);
        let local = self.socket.local_addr().ok();
        let spawned = start(self.scope, format!("h2-stream-{id}"), move || {
            let _last = Leaving(conn);
            stream::answer(conn, id, (job, asked), shared, (peer, local))
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
    /// ([`State::left`](super::streams::State::left)), which waits only for
    /// it to leave the kernel. Its panic is passed on, as the scope would
    /// at the end: it ends this connection (logged `panic`, counted by
    /// `server::run_isolated`).
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

/// The bytes a waiting stream holds that its client chose: its target,
/// parsed, and its access-log line, where a byte may be escaped as four.
/// The rest is a few words.
fn held_bytes(job: &Job, asked: &Asked) -> usize {
    let target = job.as_ref().map_or(0, |request| {
        request.path.len() + request.query.as_ref().map_or(0, Vec::len)
    });
    target + asked.line.len()
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;
    use crate::server::h2::EndOnPanic;
    use crate::server::h2::streams::Conn;
    use crate::server::h2::writer::{self, Job};

    /// At the stream-thread limit a stream waits, though none is being
    /// answered: 32 HEAD streams whose END_STREAM the writer has taken
    /// (played here), so that none counts, each thread waiting for its
    /// write. The 33rd gets a thread only once the oldest is written and
    /// its thread has left, at the reader's next look.
    #[test]
    fn at_the_thread_limit_a_stream_waits_for_a_thread_to_leave() {
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
        thread::scope(|scope| {
            let _ends = EndOnPanic(&conn); // a failing test fails, not hangs
            let peer = client.local_addr().unwrap();
            let mut reader = Reader::new(scope, &conn, &server, &shared, (peer, 0));
            let limit = MAX_STREAM_THREADS as u32;
            for n in 0..=limit {
                let block = Block::new(2 * n + 1, true, &[]);
                reader.request(block, list.clone()).unwrap();
                if n < limit {
                    let mut state = conn.lock();
                    state.streams.get_mut(&(2 * n + 1)).unwrap().closing = true;
                }
            }
            let sizes = |r: &Reader| (r.threads.len(), r.waiting.streams.len());
            assert_eq!(sizes(&reader), (32, 1));
            assert_eq!(conn.lock().counted_streams(), 1, "only the one waiting");
            reader.start_waiting();
            assert_eq!(sizes(&reader), (32, 1), "a 33rd thread");
            writer::mark_written(&conn, Job::Control { ends: vec![1] });
            crate::test_support::wait_until("the 33rd stream started", || {
                reader.start_waiting();
                reader.waiting.is_empty()
            });
            assert_eq!(sizes(&reader), (32, 0));
            conn.end(End::ClientAbort);
        });
    }
}
