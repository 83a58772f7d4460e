//! One HTTP/2 connection, read by its own thread: the rest of the
//! preface, then frame after frame, each judged by `frame_rules.rs`, each
//! request taken on by `admission.rs` and answered in its turn by a
//! stream thread. Every stream thread is joined before [`serve`] returns.
//!
//! The connection ends gracefully (GOAWAY NO_ERROR, then close once the
//! open streams are written and acknowledged) when the client sends
//! GOAWAY, when the server shuts down, and after `--header-timeout` with
//! no stream (a `header-timeout` if none was ever asked for).

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use super::header_block::Block;
use super::streams::{Conn, encode};
use super::{EndOnPanic, FailOnPanic, MAX_CONCURRENT_STREAMS, MAX_HEADER_LIST_BYTES, writer};
use crate::http::h2::frame::ErrorCode::{NoError, ProtocolError};
use crate::http::h2::frame::{self, ErrorCode, FrameError, PREFACE, PREFACE_HEAD, setting};
use crate::http::h2::frame_buffer::FrameBuffer;
use crate::http::h2::frame_write;
use crate::http::h2::hpack::{self, Decoder};
use crate::measure::access_log::{End, Outcome};
use crate::measure::metrics::METRICS;
use crate::server::Shared;
use crate::sys;

/// How often a reader waiting for frames looks up: for the shutdown, the
/// idle timeout, a writer that has failed, a stream waiting for a thread
/// when every thread it may have was leaving (`admission.rs`), and, once
/// the connection has gone away, whether the client has acknowledged the
/// last bytes, which no read announces. A close a tenth of a second late
/// costs the client nothing: it has every byte.
const READ_WAKE: Duration = Duration::from_millis(100);

/// The longest a look for bytes the client sent and this side has not read
/// yet waits (`unread`): they are in the socket already, or not coming.
const PEEK_WAIT: Duration = Duration::from_millis(1);

/// Stack of a stream thread, as for a connection's (`server/mod.rs`).
pub(crate) const STREAM_STACK_BYTES: usize = 256 * 1024;

/// Our SETTINGS: what a client must respect. The rest stay at RFC 9113's
/// defaults: 65,535-byte windows (this server reads no request bodies), a
/// 4,096-byte HPACK table, 16,384-byte frames.
const OUR_SETTINGS: [(u16, u32); 3] = [
    (setting::MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS),
    (setting::MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_BYTES as u32),
    (setting::ENABLE_PUSH, 0),
];

/// Serves an HTTP/2 connection whose first 18 preface bytes
/// ([`PREFACE_HEAD`]) the HTTP/1 head reader has taken; `after` is what
/// it read beyond them. Its first request is due `--header-timeout` after
/// `accepted_at`, as an HTTP/1.1 head is: the preface's time counts.
/// Returns what the connection came to, for its own access-log line. Each
/// stream answered has one too (a 431 included); one reset before it was
/// taken on (malformed, or REFUSED_STREAM over the limit) has none, and is
/// counted in `backpressure_http2_rst_streams_sent_total` by its code; nor
/// has one reset while it waited for its thread.
pub fn serve(
    socket: &TcpStream,
    after: &[u8],
    shared: &Shared,
    peer: SocketAddr,
    id: u64,
    accepted_at: Instant,
) -> Outcome {
    let conn = Conn::new();
    let _fail_on_panic = FailOnPanic(&conn, socket);
    let cut_first = || shared.connections.lost_to_cut(id);
    let end = thread::scope(|scope| {
        let writer = start(scope, "h2-writer".into(), || {
            writer::run(&conn, socket, &shared.config, &cut_first)
        });
        if let Err(e) = writer {
            return writer::refuse(socket, &e, &OUR_SETTINGS);
        }
        conn.send(|out| frame_write::settings(out, &OUR_SETTINGS));
        // A panic here, or one passed on from a stream thread, must still
        // end the connection, or the writer and the scope wait forever.
        let _end_on_panic = EndOnPanic(&conn);
        let mut reader = Reader::new(scope, &conn, socket, shared, (peer, id));
        reader.idle_since = accepted_at;
        let end = reader.run(after);
        conn.end(end);
        end
    });
    // Every thread has been joined, the writer's last write included.
    Outcome::ended(conn.lock().ended.unwrap_or(end))
}

/// Starts one of the connection's threads, its writer or a stream's, in
/// `scope`; an error when the OS has no thread to give (RLIMIT_NPROC, or
/// no memory for its stack), which each caller answers. Unit tests make it
/// fail at will (`test_support::with_failing_spawns`).
pub(super) fn start<'s, T: Send + 's>(
    scope: &'s Scope<'s, '_>,
    name: String,
    f: impl FnOnce() -> T + Send + 's,
) -> io::Result<ScopedJoinHandle<'s, T>> {
    #[cfg(test)]
    if crate::test_support::spawn_fails() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    thread::Builder::new()
        .name(name)
        .stack_size(STREAM_STACK_BYTES)
        .spawn_scoped(scope, f)
}

/// Whether the client has sent bytes this side has not read yet: a frame
/// (a PING, say) that came between the reader's last read and its look at
/// the connection, which a close would leave unanswered. Asked after the
/// acknowledgement of our last byte, which the client sends after any
/// frame it wrote before reading that byte: such a frame is here by then.
/// A peek that waits a moment at most, by the read timeout the reader's
/// loop sets again before its next read: not by making the socket
/// non-blocking, which would make the writer's writes on it fail too.
fn unread(socket: &TcpStream) -> bool {
    socket.set_read_timeout(Some(PEEK_WAIT)).is_ok()
        && socket.peek(&mut [0; 1]).is_ok_and(|n| n > 0)
}

/// The reading side of a connection and what it alone keeps.
pub struct Reader<'s, 'a> {
    /// Where the stream threads run: [`serve`] returns once all are joined.
    pub scope: &'s Scope<'s, 'a>,
    /// A handle for each stream thread not yet joined: at most
    /// [`MAX_STREAM_THREADS`](super::MAX_STREAM_THREADS). A thread counts
    /// until joined, not until its stream leaves the table: it then still
    /// frees what it held (a `buffer` body of megabytes), writes its log
    /// line, and leaves the kernel, which under memory pressure takes a
    /// while.
    pub threads: Vec<ScopedJoinHandle<'s, ()>>,
    /// What the writer and the stream threads share with it.
    pub conn: &'a Conn,
    /// Read here; the writer writes it.
    pub socket: &'a TcpStream,
    /// The server's configuration and budget, for the routes.
    pub shared: &'a Shared,
    /// For each stream's access-log line.
    pub peer: SocketAddr,
    /// Its connection's, on the shutdown's list.
    pub id: u64,
    /// HPACK's table of the client's requests: only this thread decodes,
    /// in the order the blocks arrive.
    pub decoder: Decoder,
    /// The highest stream id the client has used: ids only grow.
    pub last_stream: u32,
    /// A header block waiting for its CONTINUATION frames.
    pub block: Option<Block>,
    /// DATA bytes received since the connection window was last opened
    /// again: request bodies are thrown away, but their bytes are counted.
    pub received: u32,
    /// GOAWAY sent or received: no new streams, close once none is open.
    pub going_away: bool,
    /// Since when no stream has been open, for the idle timeout: from
    /// accept (`serve`) until the first stream, so that the preface's time
    /// counts.
    pub idle_since: Instant,
    /// Once every stream is done after a GOAWAY: when the client must have
    /// acknowledged what was written, as a write of as many bytes must (at
    /// most `--send-timeout`). Closed sooner, the socket would meet the
    /// WINDOW_UPDATE a client sends as it reads, and the reset that answers
    /// it would throw the unacknowledged tail away.
    tail_due: Option<Instant>,
}

impl<'s, 'a> Reader<'s, 'a> {
    /// The reader of connection `id` from `peer`, before its first frame.
    pub(super) fn new(
        scope: &'s Scope<'s, 'a>,
        conn: &'a Conn,
        socket: &'a TcpStream,
        shared: &'a Shared,
        (peer, id): (SocketAddr, u64),
    ) -> Self {
        Reader {
            scope,
            threads: Vec::new(),
            conn,
            socket,
            shared,
            peer,
            id,
            decoder: Decoder::new(hpack::DEFAULT_TABLE_BYTES),
            last_stream: 0,
            block: None,
            received: 0,
            going_away: false,
            idle_since: Instant::now(),
            tail_due: None,
        }
    }

    /// Reads until the connection ends; returns how.
    fn run(&mut self, after: &[u8]) -> End {
        let mut frames = FrameBuffer::with(after);
        // The preface's last six bytes, then a SETTINGS frame (RFC 9113 §3.4).
        let (mut preface_done, mut first) = (false, true);
        loop {
            if !preface_done {
                match frames.strip(&PREFACE[PREFACE_HEAD.len()..]) {
                    Some(true) => preface_done = true,
                    Some(false) => return End::ProtocolError,
                    None => {}
                }
            }
            let mut held = None;
            if preface_done {
                match self.take_frames(&mut frames, &mut first) {
                    Ok(answers) => held = answers,
                    Err(end) => return end,
                }
            }
            if let Some(end) = self.look_up(!frames.is_empty()) {
                return end;
            }
            // Held back by the answers the client leaves unread: nothing
            // read until the writer takes one (seen as its write returns,
            // or READ_WAKE later), the looks above going on meanwhile.
            if let Some(answers) = held {
                let state = self.conn.lock();
                if !state.room_for_answers(answers) {
                    drop(self.conn.wait_for(&self.conn.reader, state, READ_WAKE));
                }
                continue;
            }
            if self.socket.set_read_timeout(Some(READ_WAKE)).is_err() {
                return End::ClientAbort;
            }
            match (&*self.socket).read(frames.spare()) {
                Ok(n @ 1..) => frames.filled(n),
                Err(e) if crate::defense::is_timeout(&e) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(0) | Err(_) => {
                    let cut_first = self.shared.connections.lost_to_cut(self.id);
                    return self.conn.client_left(cut_first);
                }
            }
        }
    }

    /// Handles every whole frame in `frames` while there is room for its
    /// answers; `first` is whether the next is the client's first. Returns
    /// how many answers the next frame waits for room for, if it does, or
    /// errs with the connection's end if a frame is fatal.
    fn take_frames(
        &mut self,
        frames: &mut FrameBuffer,
        first: &mut bool,
    ) -> Result<Option<usize>, End> {
        loop {
            // DATA may be owed two: the connection's WINDOW_UPDATE, and its
            // stream's reset. Even a frame that will be ignored waits: the
            // client is reading none of the answers.
            let answers = match frames.next_kind() {
                Some(kind) if kind == frame::Kind::Data as u8 => 2,
                _ => 1,
            };
            if !self.conn.lock().room_for_answers(answers) {
                return Ok(Some(answers));
            }
            let (header, payload) = match frames.next_frame() {
                Ok(Some(next)) => next,
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.fail(e)),
            };
            if *first && header.kind != frame::Kind::Settings as u8 {
                let reason = "the preface is not followed by SETTINGS";
                return Err(self.fail(FrameError::connection(ProtocolError, reason)));
            }
            *first = false;
            let handled = frame::parse(&header, payload).and_then(|f| self.handle(f));
            if let Err(e) = handled.or_else(|e| self.stream_error(e)) {
                return Err(self.fail(e));
            }
        }
    }

    /// Between reads: whether the connection is over, or should wind down;
    /// `buffered`: bytes the client sent wait in the reader's buffer (frames
    /// held back by the answers owed, or the start of one).
    fn look_up(&mut self, buffered: bool) -> Option<End> {
        // A finished thread keeps its stack until it is joined; a stream
        // waiting may have its thread now.
        self.start_waiting();
        let state = self.conn.lock();
        if let Some(end) = state.ended {
            return Some(end);
        }
        let open = state.streams.len();
        let all_written = state.control.is_empty() && !state.writing;
        drop(state);
        if open > 0 {
            self.idle_since = Instant::now();
        }
        let idle = self.idle_since.elapsed() >= self.shared.config.header_timeout;
        if !self.going_away && (idle || self.shared.connections.draining()) {
            self.go_away(NoError, b"");
            // No request in time, the preface or its SETTINGS perhaps not
            // even whole: as over HTTP/1.1, where the head never came.
            if idle && self.last_stream == 0 {
                return Some(End::HeaderTimeout);
            }
        }
        if !self.going_away || open > 0 {
            return None;
        }
        // Gracefully done: every stream answered, its bytes written and
        // acknowledged (a socket that cannot say is not waited for), and
        // nothing the client sent left unread; past `tail_due`, the close
        // deals with a slow client as with any other.
        let unacknowledged = sys::unacknowledged_bytes(self.socket).unwrap_or(0);
        if all_written && unacknowledged == 0 && !buffered && !unread(self.socket) {
            return Some(End::Complete);
        }
        let config = &self.shared.config;
        let wait = config.min_data_rate().allowance(unacknowledged);
        let wait = wait.min(config.send_timeout);
        let due = *self.tail_due.get_or_insert_with(|| Instant::now() + wait);
        (Instant::now() >= due).then_some(End::Complete)
    }

    /// Sends GOAWAY: streams after the one it names will not be answered.
    /// NO_ERROR lets the streams taken on finish, those waiting for a
    /// thread included (`State::last_answered`); an error ends them, so it
    /// names the last whose turn came (`State::last_started`), and the
    /// client may retry the rest. It never grows between two GOAWAYs, as
    /// RFC 9113 §6.8 asks: no stream is taken on once one has been sent,
    /// no turn comes past the last taken on, and none after an error's.
    ///
    /// A shutdown's or an idle connection's is one GOAWAY, as Go's server
    /// sends, not the two §6.8 suggests (first naming 2^31 − 1, the real
    /// last a round trip later): a request that crossed it is refused with
    /// REFUSED_STREAM, which tells the client it was not processed and may
    /// be retried elsewhere, and the connection needs no state between the
    /// two.
    pub fn go_away(&mut self, code: ErrorCode, debug: &[u8]) {
        let mut state = self.conn.lock();
        // In the same hold of the lock: a stream thread done with its
        // response takes no turn once the error's GOAWAY is decided.
        let last = match code {
            NoError => state.last_answered,
            _ => {
                state.turns_over = true;
                state.last_started
            }
        };
        state.push(encode(|out| frame_write::goaway(out, last, code, debug)));
        drop(state);
        self.conn.work.notify_one();
        METRICS.http2_goaway(code);
        self.going_away = true;
    }

    /// A connection error: GOAWAY with its code, and the end.
    fn fail(&mut self, error: FrameError) -> End {
        self.go_away(error.code, error.reason.as_bytes());
        End::ProtocolError
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;
    use crate::http::h2::frame::ErrorCode::InternalError;
    use crate::http::h2::frame::Frame;
    use crate::http::h2::frame_buffer::FrameBuffer;
    use crate::server::h2::streams::Stream;

    /// A connection gone away closes once the client has acknowledged every
    /// byte, but not over a frame the client sent before it read the last
    /// of them (a PING the reader has not read yet): it is read and
    /// answered first; nor while the writer is in a write, whose bytes the
    /// client has yet to acknowledge. So says the reader's look between
    /// reads, on a connection gone away with nothing left to answer. The
    /// look leaves the socket blocking.
    #[test]
    fn a_frame_sent_before_the_last_byte_was_read_is_unread_until_read() {
        let (server, mut client) = crate::test_support::loopback();
        assert!(!unread(&server), "nothing sent yet");
        (&server).write_all(b"the last frame").unwrap();
        client.write_all(b"PING").unwrap(); // sent before it reads
        let mut last = [0; 14];
        client.read_exact(&mut last).unwrap();
        crate::test_support::wait_until("the last byte acknowledged", || {
            sys::unacknowledged_bytes(&server).is_ok_and(|n| n == 0)
        });
        assert!(unread(&server), "the PING, sent before the acknowledgement");
        let (conn, shared) = (Conn::new(), super::super::tests::shared());
        let mut ping = [0; 4];
        thread::scope(|scope| {
            let peer = client.local_addr().unwrap();
            let mut reader = Reader::new(scope, &conn, &server, &shared, (peer, 0));
            reader.going_away = true;
            assert_eq!(reader.look_up(false), None, "closed over the unread PING");
            server
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            (&server).read_exact(&mut ping).unwrap();
            assert!(!unread(&server), "the PING read");
            conn.lock().writing = true;
            assert_eq!(reader.look_up(false), None, "closed during a write");
            conn.lock().writing = false;
            let held = "closed over frames in the reader's buffer";
            assert_eq!(reader.look_up(true), None, "{held}");
            assert_eq!(
                reader.look_up(false),
                Some(End::Complete),
                "every byte read"
            );
        });
        assert_eq!(&ping, b"PING");
        // Blocking again: a read waits out its timeout, not failing at once.
        server
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let started = Instant::now();
        assert!((&server).read(&mut ping).is_err());
        assert!(started.elapsed() >= Duration::from_millis(40));
    }

    /// A DATA frame may be owed two answers, the connection's WINDOW_UPDATE
    /// and its stream's reset (here, a byte past the stream's window): it
    /// waits at 63 owed, and is taken at 62, leaving 64. It carries
    /// END_STREAM, so that its flags byte, the one after its type, is not
    /// DATA's type too: a frame is known as DATA by its type alone.
    #[test]
    fn a_data_frame_waits_for_room_for_its_two_answers() {
        let (server, client) = crate::test_support::loopback();
        let (conn, shared) = (Conn::new(), super::super::tests::shared());
        thread::scope(|scope| {
            let peer = client.local_addr().unwrap();
            let mut reader = Reader::new(scope, &conn, &server, &shared, (peer, 0));
            (reader.last_stream, reader.received) = (3, frame::DEFAULT_WINDOW / 2 - 1);
            let mut stream = Stream::new(65_535, true);
            stream.received = frame::DEFAULT_WINDOW;
            conn.lock().streams.insert(3, stream);
            for _ in 0..super::super::MAX_CONTROL_FRAMES - 1 {
                conn.lock().push_owed(vec![0; 13]);
            }
            let data = frame_write::raw_frame(0, frame::flag::END_STREAM, 3, b"x");
            let (mut frames, mut first) = (FrameBuffer::with(&data), false);
            let mut take = || reader.take_frames(&mut frames, &mut first).ok();
            assert_eq!(take(), Some(Some(2)), "held at 63 owed");
            assert_eq!(conn.lock().control.len(), 63, "nothing taken");
            conn.lock().control.pop_front(); // the writer takes one
            assert_eq!(take(), Some(Some(1)), "taken at 62, and held at 64");
            assert_eq!(conn.lock().control.len(), 64, "its two answers");
        });
    }

    /// `FailOnPanic` alone, on a real socket, as `serve` unwinds or
    /// returns with stream 5 the last whose turn came: GOAWAY INTERNAL_ERROR
    /// naming stream 5, counted, only after a panic and only if the writer
    /// did not leave inside a write (the client would read the GOAWAY as
    /// the rest of a frame cut short); else not a byte, nothing counted.
    /// `a_thread_that_panics_ends_its_connection` (`h2/mod.rs`) cannot
    /// tell: its writer panics before it marks a write begun.
    #[test]
    fn a_goaway_after_a_panic_never_follows_a_frame_cut_short() {
        let series = "backpressure_http2_goaways_sent_total{code=\"INTERNAL_ERROR\"}";
        // `a_thread_that_panics_ends_its_connection` counts the same
        // GOAWAYs, exactly, holding this lock.
        let _counting = crate::test_support::counting_panics();
        for (panics, writing, sent) in [(true, false, 1), (true, true, 0), (false, false, 0)] {
            let (server, client) = crate::test_support::loopback();
            let conn = Conn::new();
            let mut state = conn.lock();
            (state.last_started, state.writing) = (5, writing);
            drop(state);
            let before = super::super::tests::counted(series);
            let _ = catch_unwind(AssertUnwindSafe(|| {
                let _fail_on_panic = FailOnPanic(&conn, &server);
                assert!(!panics, "a deliberate test panic in an HTTP/2 connection");
            }));
            drop(server);
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut wire = Vec::new();
            (&client).read_to_end(&mut wire).unwrap();
            let mut frames = FrameBuffer::with(&wire);
            let mut seen = Vec::new();
            while let Some((header, payload)) = frames.next_frame().unwrap() {
                if let Ok(Frame::GoAway {
                    last_stream, code, ..
                }) = frame::parse(&header, payload)
                {
                    seen.push((last_stream, code));
                }
            }
            let goaway = [(5, InternalError as u32)];
            let case = (panics, writing);
            assert_eq!(seen, goaway[..sent], "{case:?}: {wire:?}");
            assert_eq!(wire.is_empty(), sent == 0, "{case:?}: {wire:?}");
            let counted = super::super::tests::counted(series) - before;
            assert_eq!(counted, sent as u64, "{case:?}");
        }
    }
}
