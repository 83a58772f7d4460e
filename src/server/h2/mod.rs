//! HTTP/2 over cleartext with prior knowledge (RFC 9113 §3.3): the
//! lesson's second layer of windows.
//!
//! Over HTTP/1.1 a response has one flow-control window between it and the
//! client: TCP's. HTTP/2 multiplexes many streams on one connection, so it
//! adds two of its own on top (RFC 9113 §5.2): one per stream, and one for
//! the whole connection. A DATA frame may go only while *both* have room:
//!
//! ```text
//! producer ─▶ strategy ─▶ stream hand-off ─▶ writer ─▶ kernel send buffer ─▶ client
//!                          │ stream window    │ connection window       │ TCP window
//! ```
//!
//! A slow download can hurt other requests on the same connection in two
//! ways. A writer that sent one stream's frames in a row would make the
//! others wait: ours takes DATA from each stream in turn, and passes over
//! (then, past its hand-off's deadline, cuts) a stream whose window is
//! spent. Below it, the socket is one queue for every stream: what the big
//! download has put in the kernel's send buffer goes out before the small
//! response, however fair the writer. The lesser of the client's windows
//! (32 MiB for curl 7's, 65,535 bytes by default) and the kernel's send
//! buffer (autotuned up to `net.ipv4.tcp_wmem`'s maximum) decides how much
//! that can be, unless `--notsent-lowat` holds the unsent bytes lower; what
//! the client's kernel holds unread (its receive window) comes on top.
//! docs/http2.md measures it.
//!
//! The threads of one connection, sharing `streams.rs`'s state (frames
//! queued, the windows, each stream's hand-off) under one lock:
//!
//! - the reader, the connection's own thread, reads frames
//!   (`connection.rs`, each judged by `frame_rules.rs`, a header block
//!   gathered by `header_block.rs`), keeps the HPACK decoder's table, and
//!   takes each stream on (`admission.rs`; its request kept whole until a
//!   thread takes it, `turn.rs`), starting stream threads as streams come;
//! - one writer (`writer.rs`) writes every frame: control frames first,
//!   then DATA, one frame per stream in turn;
//! - stream threads, 16 answering at once, each answers a stream's
//!   request (`stream.rs`) through HTTP/1.1's routes and strategies, then
//!   the next stream waiting its turn, writing into a
//!   [`hand_off::StreamBody`], so `mode=` works here too, the unbounded
//!   bug included.
//!
//! HTTP/2 brings floods of its own (RFC 9113 §10.5): each is bounded by a
//! named constant below.
//!
//! For the lesson, three places are enough: `writer.rs`'s `next_job`,
//! where a DATA frame goes only while both windows have room and the
//! streams take turns; `hand_off.rs`'s `StreamBody::write`, which makes a
//! stream's producer wait as an HTTP/1.1 write does; and
//! `frame_rules.rs`'s `settings` and `window_update`, where the client
//! moves the windows. The rest is what RFC 9113 asks of a server that must
//! survive any client: frame rules, stream states, HPACK, the limits.

mod admission;
mod connection;
mod frame_rules;
mod hand_off;
mod header_block;
mod stream;
mod streams;
mod turn;
mod writer;

pub use connection::serve;
// For the memory envelope (`server/envelope.rs`).
pub(crate) use connection::STREAM_STACK_BYTES;
pub(crate) use hand_off::HANDOFF_BYTES;

use std::io::Write;
use std::net::TcpStream;

use crate::http::h2::frame::ErrorCode::InternalError;
use crate::http::h2::frame_write;
use crate::measure::access_log::End;
use crate::measure::metrics::METRICS;
use streams::{Conn, encode};

/// SETTINGS_MAX_CONCURRENT_STREAMS: streams one connection may have open,
/// answered or waiting their turn (`admission.rs`). 100, the least RFC
/// 9113 §6.5.2 recommends, and what nghttp2 and Chromium assume before they
/// have read a server's SETTINGS (nginx allows 128, Go 250). A stream
/// over it is refused (REFUSED_STREAM), which a client may retry.
pub const MAX_CONCURRENT_STREAMS: u32 = 100;

/// Streams one connection answers at once. Each is a thread, two while a
/// channel mode streams, so the number is small: the other open streams
/// wait, in the order they came, until one of these ends.
pub const MAX_ANSWERING_STREAMS: usize = 16;

/// Most stream threads alive on one connection: those answering, and
/// those whose stream has ended but whose thread is still leaving. At the
/// limit the reader starts none: a stream waiting gets its turn from a
/// thread done with its response. So a client that opens and cancels
/// streams in a loop (rapid reset, CVE-2023-44487) piles up no threads,
/// and is stopped by `MAX_NET_CANCELS`.
pub const MAX_STREAM_THREADS: usize = 2 * MAX_ANSWERING_STREAMS;

/// Most bytes the streams waiting for a thread may hold, counted as what
/// their clients chose: each one's target and its access-log line. A
/// request a few hundred bytes long waits in a few hundred, so a first
/// flight of 100 ordinary requests fits many times over; past it a stream
/// is refused (REFUSED_STREAM). Any one stream fits: its line escapes a
/// byte as four at most, of fields the header list bounds. The bound
/// matters because HPACK lets a client repeat a 4 KiB field for a byte or
/// two: unbounded, 100 waiting streams could hold megabytes of targets
/// for a few hundred bytes sent. Each also holds a few hundred bytes the
/// client does not choose (its place in the table, its parsed request),
/// left out here and from the memory envelope as a stream's entry is.
pub const MAX_WAITING_BYTES: usize = 4 * MAX_HEADER_LIST_BYTES;

/// SETTINGS_MAX_HEADER_LIST_SIZE, and what is enforced: a request's
/// decoded fields, counted as RFC 7541 §4.1 counts them, as large as
/// HTTP/1.1's whole head may be. A larger list gets 431.
pub const MAX_HEADER_LIST_BYTES: usize = 16 * 1024;

/// Most bytes of one encoded header block, HEADERS and CONTINUATION
/// together. A block must be decoded whole to keep HPACK's table in step,
/// so one that passes this ends the connection (ENHANCE_YOUR_CALM): the
/// CONTINUATION flood (CERT VU#421644; Apache's CVE-2024-27316) is
/// stopped here.
pub const MAX_HEADER_BLOCK_BYTES: usize = 2 * MAX_HEADER_LIST_BYTES;

// A HEADERS frame alone always fits, so only CONTINUATION is checked.
const _: () = assert!(MAX_HEADER_BLOCK_BYTES >= crate::http::h2::frame::MAX_FRAME_BYTES);

/// Most CONTINUATION frames in one block. Empty ones add no bytes, so the
/// byte limit alone would let a client send them forever.
pub const MAX_CONTINUATION_FRAMES: usize = 16;

/// Most control frames queued on the client's behalf (SETTINGS and PING
/// acknowledgements, WINDOW_UPDATEs for its bodies, the RST_STREAM that
/// answers each of its stream errors). At the limit the reader reads no
/// further until the writer takes one, its clocks still running (the idle
/// timeout, the shutdown's GOAWAY): a client that asks faster than it
/// reads is held back, its frames left to the two kernels' buffers, and
/// one that never reads is cut by the writer's deadline, as any slow
/// reader is. So the floods of CVE-2019-9512 (ping), -9514 (reset) and
/// -9515 (settings) cost a queue of 64 small frames and a stalled write,
/// and a burst costs a client nothing: a first flight of 100 PINGs gets
/// its acknowledgements as fast as it reads them. Go's server reads on and
/// ends the connection past 10,000 queued (nghttp2, past 1,000
/// acknowledgements). The server's own frames (HEADERS, its resets) do
/// not count.
pub const MAX_CONTROL_FRAMES: usize = 64;

/// Streams this side has reset that it remembers after they leave the
/// table: frames a client sent before it saw the reset are ignored (RFC
/// 9113 §5.1, which lets an endpoint limit for how long); on any other
/// closed stream they are its error. More than a client may have open:
/// a first flight of 100 requests with bodies (`h2load -m 100 -d FILE`),
/// each answered 400 and reset as its body still comes, has every late
/// body ignored, with room for refusals past the limit. A client that
/// pipelines more than 128 requests the server resets within one round
/// trip may see its late DATA on the first called STREAM_CLOSED. A
/// service expecting such clients would remember by time, as RFC 9113
/// suggests; 8 bytes each here.
pub const RECENT_RESETS: usize = 128;

const _: () = assert!(RECENT_RESETS >= MAX_CONCURRENT_STREAMS as usize);

/// How many more streams a client may cancel than it lets finish before
/// the connection ends with ENHANCE_YOUR_CALM. A cancellation is its
/// RST_STREAM on a stream being answered (rapid reset, CVE-2023-44487), or
/// an error of its own on one, which the server must answer with a reset
/// (MadeYouReset, CVE-2025-8671); a stream waiting for its thread counts
/// too, or opening and cancelling those would cost the server reading and
/// decoding without end. Each finished stream earns one back: a browser
/// that cancels now and then is never cut, nor one that cancels all 100
/// streams it may have open, twice over (a page left as it loads, then
/// the next), before one finishes; a loop of either is stopped once it has
/// cancelled this many more than it let finish: at the 201st stream if
/// none finishes, later if some do.
pub const MAX_NET_CANCELS: u32 = 2 * MAX_CONCURRENT_STREAMS;

/// Ends the connection if the thread holding it leaves by panicking: the
/// writer waits for frames, the reader and streams on the writer, each for
/// what the dead thread will never do. The panic itself is passed on when
/// the connection's threads are joined. A stream thread holds none: the
/// reader passes its panic on as it joins it, and the reader's own ends
/// the connection. `a_thread_that_panics_ends_its_connection`, below,
/// fails without either.
struct EndOnPanic<'c>(&'c Conn);

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.end(End::Panic);
        }
    }
}

/// Tells the client the connection failed if [`serve`] leaves by a panic,
/// its reader's own or one passed on, once every thread is joined: GOAWAY
/// INTERNAL_ERROR naming the last stream whose turn came (RFC 9113
/// §5.4.1; those still waiting were never processed),
/// before `server::run_isolated` resets the socket. Written here, as no
/// writer is left, and only what the socket takes at once: a client that
/// reads nothing holds nothing up.
struct FailOnPanic<'c>(&'c Conn, &'c TcpStream);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        let state = self.0.lock();
        // A writer that left inside a write may have cut a frame short: the
        // GOAWAY would be read as the rest of it.
        if !std::thread::panicking() || state.writing {
            return;
        }
        let why = b"a server thread panicked";
        let goaway = encode(|out| frame_write::goaway(out, state.last_started, InternalError, why));
        drop(state);
        let mut socket = self.1;
        if socket.set_nonblocking(true).is_ok()
            && socket.write(&goaway).is_ok_and(|n| n == goaway.len())
        {
            METRICS.http2_goaway(InternalError);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read, Write};
    use std::net::TcpStream;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::defense::buffer_caps::BufferBudget;
    use crate::http::h2::frame::{self, ErrorCode, Frame, Kind, PREFACE, PREFACE_HEAD};
    use crate::http::h2::frame_buffer::FrameBuffer;
    use crate::http::h2::frame_write;
    use crate::http::h2::hpack_encode;
    use crate::measure::access_log::Outcome;
    use crate::measure::exposition::Scrape;
    use crate::measure::log;
    use crate::measure::metrics::{METRICS, Readings};
    use crate::server::{Server, ServerConfig, Shared, shutdown::Connections};
    use crate::test_support::{PanicIn, panic_in, wait_until};

    /// A process-wide counter: exact while the caller holds the lock every
    /// test that moves it takes (`counting_rejections`, `counting_panics`).
    pub(super) fn counted(series: &str) -> u64 {
        let scrape = Scrape::parse(&METRICS.render(&Readings::default())).unwrap();
        scrape.count(series).unwrap_or(0)
    }

    /// What a client sends first: `preface`, an empty SETTINGS, `frames`.
    fn opening(preface: &[u8], frames: &[u8]) -> Vec<u8> {
        let mut sent = preface.to_vec();
        frame_write::settings(&mut sent, &[]);
        [&sent, frames].concat()
    }

    /// A connection's two ends, (server, client), whose client has sent
    /// what follows the head of its preface, SETTINGS and `frames`.
    fn connected(frames: &[u8]) -> (TcpStream, TcpStream) {
        let (server, mut client) = crate::test_support::loopback();
        let after_head = &PREFACE[PREFACE_HEAD.len()..];
        client.write_all(&opening(after_head, frames)).unwrap();
        (server, client)
    }

    /// A HEADERS frame that asks `GET /healthz` on stream 1, and ends it.
    fn healthz_on_stream_1() -> Vec<u8> {
        let mut block = Vec::new();
        hpack_encode::start_block(&mut block);
        for (name, value) in [
            (&b":method"[..], &b"GET"[..]),
            (b":scheme", b"http"),
            (b":path", b"/healthz"),
            (b":authority", b"a"),
        ] {
            hpack_encode::encode_field(&mut block, name, value);
        }
        let mut request = Vec::new();
        frame_write::headers(&mut request, 1, &block, true);
        request
    }

    /// The frames a client read.
    struct Seen {
        /// Each, as (type, stream).
        frames: Vec<(u8, u32)>,
        /// Each RST_STREAM's and GOAWAY's (stream, code): the stream reset,
        /// or the last processed.
        ends: Vec<(u32, u32)>,
    }

    /// The whole frames in `wire`.
    fn frames_in(wire: &[u8]) -> Seen {
        let (mut frames, mut ends, mut buffer) = (Vec::new(), Vec::new(), FrameBuffer::with(wire));
        while let Ok(Some((header, payload))) = buffer.next_frame() {
            frames.push((header.kind, header.stream));
            match frame::parse(&header, payload) {
                Ok(Frame::RstStream { stream, code }) => ends.push((stream, code)),
                Ok(Frame::GoAway {
                    last_stream, code, ..
                }) => ends.push((last_stream, code)),
                _ => {}
            }
        }
        Seen { frames, ends }
    }

    /// Reads until the connection ends, each read waiting 10 s at most:
    /// the bytes, and how it ended (UnexpectedEof for a plain close,
    /// WouldBlock if nothing ended it).
    fn read_to_the_end(mut client: &TcpStream) -> io::Result<(Vec<u8>, io::ErrorKind)> {
        client.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut wire = Vec::new();
        let end = client.read_to_end(&mut wire).err();
        Ok((wire, end.map_or(io::ErrorKind::UnexpectedEof, |e| e.kind())))
    }

    /// What these connections are served with: the defaults, and a buffer
    /// budget of nothing, as no export runs here.
    pub(super) fn shared() -> Shared {
        Shared {
            config: ServerConfig::default(),
            budget: Arc::new(BufferBudget::new(0)),
            connections: Connections::with_capacity(1),
        }
    }

    fn lines_of<'l>(log: &'l [String], text: &str) -> Vec<&'l String> {
        log.iter().filter(|l| l.starts_with(text)).collect()
    }

    /// Serves, with no thread to start, a connection whose client has sent
    /// its preface and SETTINGS; its writing side shut first if `shut`, so
    /// that the server's write fails. Returns the client's socket, and
    /// what was logged meanwhile.
    fn serve_without_threads(shut: bool) -> (Outcome, TcpStream, Vec<String>) {
        let (server, client) = connected(&[]);
        if shut {
            server.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let (shared, peer) = (shared(), client.local_addr().unwrap());
        let (outcome, log) = log::capture(|| {
            crate::test_support::with_failing_spawns(|| {
                serve(&server, &[], &shared, peer, 0, Instant::now())
            })
        });
        (outcome, client, log)
    }

    /// The reason a refusal was for want of a thread gets a line of its
    /// own, which no counter gives.
    const NO_WRITER: &str =
        "backpressure: cannot start an HTTP/2 writer thread: operation would block";

    /// A connection whose writer cannot start is refused as the rejecter
    /// refuses one over HTTP/2: SETTINGS, then a GOAWAY naming stream 0
    /// (nothing was processed, a retry is safe), logged a rejection, not
    /// the client's abort, and to be closed gracefully, so that the
    /// client's unread preface cannot turn the close into a reset that
    /// destroys the GOAWAY. One whose GOAWAY cannot be written is still
    /// counted and logged a rejection (the rejecter's rule), but no GOAWAY
    /// is counted for it.
    #[test]
    fn a_connection_whose_writer_cannot_start_gets_a_goaway() {
        let _counting = crate::test_support::counting_rejections();
        let series = [
            "backpressure_connections_rejected_total",
            "backpressure_http2_goaways_sent_total{code=\"REFUSED_STREAM\"}",
        ];
        let counts = || series.map(counted);
        let [rejected, goaways] = counts();
        let (unwritten, _client, log) = serve_without_threads(true);
        assert_eq!(unwritten, Outcome::ended(End::Rejected), "GOAWAY unwritten");
        assert_eq!(lines_of(&log, NO_WRITER).len(), 1, "{log:#?}");
        assert_eq!(counts(), [rejected + 1, goaways], "GOAWAY unwritten");

        let (outcome, client, log) = serve_without_threads(false);
        assert_eq!(lines_of(&log, NO_WRITER).len(), 1, "{log:#?}");
        assert_eq!(counts(), [rejected + 2, goaways + 1], "GOAWAY written");
        // The test's plain close, with the client's preface unread, is a
        // reset: the read ends in its error, after what came before it.
        let Seen { frames, ends } = frames_in(&read_to_the_end(&client).unwrap().0);
        let expected = [(Kind::Settings as u8, 0), (Kind::GoAway as u8, 0)];
        assert_eq!(frames, expected, "SETTINGS then GOAWAY");
        assert_eq!(ends, [(0, ErrorCode::RefusedStream as u32)]);
        assert_eq!(outcome.end, End::Rejected);
        assert!(outcome.sent_whole_response(), "closed gracefully");
    }

    /// A stream no thread can be started for, on a connection whose writer
    /// started, is refused (RST_STREAM REFUSED_STREAM, which a client may
    /// retry), has no access-log line, and gets a line saying why: its
    /// reset's counter does not tell it from one over the stream limit. It
    /// leaves the table at once: a client that then goes away finds the
    /// connection closed, nothing left to answer. The GOAWAY it gets names
    /// the stream, taken on before its thread failed to start: its
    /// REFUSED_STREAM says it was not processed all the same (RFC 9113
    /// §8.7).
    #[test]
    fn a_stream_no_thread_can_start_for_is_refused_and_said_why() {
        let (server, mut client) = connected(&healthz_on_stream_1());
        let (shared, peer) = (shared(), client.local_addr().unwrap());
        let (outcome, log) = std::thread::scope(|scope| {
            let serving = scope.spawn(|| {
                log::capture(|| {
                    let serve = || serve(&server, &[], &shared, peer, 0, Instant::now());
                    crate::test_support::with_spawns_failing_after(1, serve)
                })
            });
            // The frames up to the stream's reset, then the client leaves.
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let (mut wire, mut buf) = (Vec::new(), [0; 1024]);
            while frames_in(&wire).ends.is_empty()
                && let Ok(n @ 1..) = client.read(&mut buf)
            {
                wire.extend_from_slice(&buf[..n]);
            }
            let refused = (1, ErrorCode::RefusedStream as u32);
            assert_eq!(frames_in(&wire).ends, [refused]);
            let mut goaway = Vec::new();
            frame_write::goaway(&mut goaway, 0, ErrorCode::NoError, b"");
            client.write_all(&goaway).unwrap();
            // Polled, at most 5 s: the client's close below, which ends
            // the connection anyway, must not come first.
            let started = std::time::Instant::now();
            while !serving.is_finished() && started.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let ended_itself = serving.is_finished();
            wire.clear();
            while frames_in(&wire).ends.is_empty()
                && let Ok(n @ 1..) = client.read(&mut buf)
            {
                wire.extend_from_slice(&buf[..n]);
            }
            let _ = client.shutdown(std::net::Shutdown::Both);
            assert!(ended_itself, "held open by the refused stream");
            let taken = (1, ErrorCode::NoError as u32);
            assert_eq!(frames_in(&wire).ends, [taken], "the server's GOAWAY");
            serving.join().unwrap()
        });
        assert_eq!(outcome.end, End::Complete, "nothing left unanswered");
        let why = "backpressure: cannot start an HTTP/2 stream thread: operation would block";
        assert_eq!(lines_of(&log, why).len(), 1, "{log:#?}");
        let access = lines_of(&log, &format!("{peer} "));
        assert!(access.is_empty(), "{access:#?}");
    }

    /// Refusals for want of a thread are answers the client asked for, held
    /// to [`MAX_CONTROL_FRAMES`] as the stream limit's are: a client that
    /// opens stream after stream on a connection whose streams get no
    /// thread, reading none of the refusals, is read no further once 64
    /// wait unwritten, and is cut by the writer's deadline, as a slow
    /// reader is; not a queue that grows with every HEADERS it sends for
    /// as long as that deadline allows (5 s at the defaults, gigabytes from
    /// a fast client). Real sockets: a client window of a few KiB and the
    /// server's 16 KiB mark stop the writer within a few thousand refusals,
    /// far fewer than are sent.
    #[test]
    fn refusals_for_want_of_a_thread_are_held_to_the_unread_answers_limit() {
        const STREAMS: u32 = 8_000;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client =
            crate::sys::connect_with_receive_buffer(addr, 4096, Duration::from_secs(5)).unwrap();
        let (server, peer) = listener.accept().unwrap();
        crate::sys::set_notsent_lowat(&server, 16 * 1024).unwrap();
        // GET / on each stream: three static-table indexes, and
        // `:authority` (index 1) with the literal value `a`.
        let mut flood = opening(&PREFACE[PREFACE_HEAD.len()..], &[]);
        for id in (1..2 * STREAMS).step_by(2) {
            let block = [0x82, 0x86, 0x84, 0x01, 0x01, b'a'];
            frame_write::headers(&mut flood, id, &block, true);
        }
        // A deadline that cuts the stalled write within a second.
        let config = ServerConfig {
            rate_grace: Duration::from_millis(500),
            min_rate: 64 * 1024,
            ..ServerConfig::default()
        };
        let shared = Shared { config, ..shared() };
        let ((outcome, log), wire) = crate::test_support::within(move || {
            std::thread::scope(|scope| {
                let serving = scope.spawn(|| {
                    let serve = || serve(&server, &[], &shared, peer, 0, Instant::now());
                    let served =
                        log::capture(|| crate::test_support::with_spawns_failing_after(1, serve));
                    drop(server);
                    served
                });
                // Nothing read until the server has cut the connection: the
                // flood is sent while it can be, which stops once the
                // server stops reading, until the cut fails the write.
                client
                    .set_write_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let _ = client.write_all(&flood);
                let served = serving.join().unwrap();
                let (wire, _) = read_to_the_end(&client).unwrap();
                (served, wire)
            })
        });
        // Longer than a `FrameBuffer` holds: read a frame at a time.
        let (mut refused, mut rest, mut goaways) = (0, &wire[..], 0);
        while let Some((head, _)) = rest.split_first_chunk::<{ frame::HEADER_BYTES }>()
            && let header = frame::Header::parse(head)
            && let Some((payload, after)) =
                rest[frame::HEADER_BYTES..].split_at_checked(header.length)
        {
            match frame::parse(&header, payload) {
                Ok(Frame::RstStream { code, .. }) if code == ErrorCode::RefusedStream as u32 => {
                    refused += 1
                }
                Ok(Frame::GoAway { .. }) => goaways += 1,
                _ => {}
            }
            rest = after;
        }
        // From the server's side: the writer's deadline ended the connection,
        // the reader having taken far fewer HEADERS than were sent, each
        // refusal logged with why.
        assert_eq!(outcome.end, End::MinRate);
        let why = "backpressure: cannot start an HTTP/2 stream thread";
        let taken = lines_of(&log, why).len() as u32;
        assert!(taken < STREAMS / 2, "{taken} HEADERS taken");
        // On the wire, the refusals the writer wrote before the client's
        // window closed: the 64 queued after them are lost to the cut's reset.
        assert!(
            refused + 64 <= taken,
            "{refused} refusals read, {taken} taken"
        );
        assert_eq!(goaways, 0, "a slow reader's cut, not a GOAWAY");
    }

    /// What a client saw of a connection one of whose threads panicked,
    /// and what the server made of it.
    struct Panicked {
        /// The frames the client got.
        seen: Seen,
        /// How the client's read ended: ConnectionReset for a reset.
        read_end: io::ErrorKind,
        /// `backpressure_panics_total`'s move.
        panics: u64,
        /// The INTERNAL_ERROR GOAWAYs counted meanwhile: exact, as only a
        /// panic sends one, and `panic_in` holds `counting_panics`.
        goaways: u64,
        /// The access-log lines of the client's address.
        access: Vec<String>,
    }

    /// Asks `GET /healthz` on stream 1 of a connection to a real server
    /// (its accept loop, `run_isolated`, the access log) whose `thread`
    /// panics, and reads until the connection ends; the server stops once
    /// the client is done, and must have returned, every thread it
    /// started joined, within 10 s more. Nothing but the panic's end can
    /// end the connection meanwhile: the idle timeout and the hand-off's
    /// minimum rate are a minute away.
    fn served_with_a_panic_in(thread: PanicIn) -> Panicked {
        let config = ServerConfig {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            quiet: false,
            header_timeout: Duration::from_secs(60),
            rate_grace: Duration::from_secs(60),
            // Should the connection outlive its client, the shutdown cuts it.
            drain_timeout: Duration::from_secs(1),
            ..ServerConfig::default()
        };
        let server = Server::bind(config).unwrap();
        let addr = server.local_addr().unwrap();
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            // Taken inside the scope, as the log's capture: should the
            // server hang, the failed wait below lets go of both before
            // the scope waits for it, and `within` fails this test without
            // holding up the others that take them.
            let _panicking = panic_in(thread, addr);
            let series = [
                "backpressure_panics_total",
                "backpressure_http2_goaways_sent_total{code=\"INTERNAL_ERROR\"}",
            ];
            let before = series.map(counted);
            let (asked, log) = log::capture(|| {
                let serving = scope.spawn(|| server.run(|| done.load(Ordering::SeqCst)));
                let asked = TcpStream::connect(addr).and_then(|mut client| {
                    client.write_all(&opening(PREFACE, &healthz_on_stream_1()))?;
                    Ok((client.local_addr()?, read_to_the_end(&client)?))
                });
                done.store(true, Ordering::SeqCst);
                wait_until("the server stops", || serving.is_finished());
                asked
            });
            let (peer, (wire, read_end)) = asked.unwrap();
            let access = lines_of(&log, &format!("{peer} "));
            Panicked {
                seen: frames_in(&wire),
                read_end,
                panics: counted(series[0]) - before[0],
                goaways: counted(series[1]) - before[1],
                access: access.into_iter().cloned().collect(),
            }
        })
    }

    /// A thread of a connection that panics ends the connection, not only
    /// its stream, with a clear error: once every thread is joined, GOAWAY
    /// INTERNAL_ERROR naming stream 1, counted (`FailOnPanic`); then
    /// `run_isolated` counts the panic once and closes with a reset, which
    /// tells every stream it was cut. A stream's thread, panicking
    /// as it answers: the reader passes the panic on as it joins the thread
    /// (`join_finished`), and its `EndOnPanic` ends the connection; the
    /// client gets the stream's RST_STREAM (INTERNAL_ERROR, from its body
    /// as it unwinds), and the stream has no line. The writer, panicking
    /// with a stream waiting on its hand-off: its `EndOnPanic` fails the
    /// stream's wait at once (not a minute later, at the minimum rate); the
    /// client got the HEADERS and no DATA, no END_STREAM, nothing that can
    /// pass for an end, and the stream's line says `panic`. Either way the
    /// connection's line says `panic`.
    #[test]
    fn a_thread_that_panics_ends_its_connection() {
        let [settings, headers, rst_stream, goaway] =
            [Kind::Settings, Kind::Headers, Kind::RstStream, Kind::GoAway].map(|kind| kind as u8);
        let (stream, connection) = (" \"GET /healthz HTTP/2\" 200 ", " - - mode=- body_bytes=0 ");
        let failed = (1, ErrorCode::InternalError as u32);
        for (thread, last, ends, lines) in [
            (
                PanicIn::H2Stream,
                rst_stream,
                &[failed, failed][..],
                &[connection][..],
            ),
            (PanicIn::H2Writer, headers, &[failed], &[stream, connection]),
        ] {
            let got = crate::test_support::within(move || served_with_a_panic_in(thread));
            // SETTINGS, its ACK, the stream's last frame, then GOAWAY.
            let frames = [(settings, 0), (settings, 0), (last, 1), (goaway, 0)];
            assert_eq!(got.seen.frames, frames, "{thread:?}");
            assert_eq!(got.seen.ends, ends, "{thread:?}");
            assert_eq!(got.read_end, io::ErrorKind::ConnectionReset, "{thread:?}");
            assert_eq!((got.panics, got.goaways), (1, 1), "{thread:?}");
            assert_eq!(got.access.len(), lines.len(), "{:#?}", got.access);
            for (line, part) in got.access.iter().zip(lines) {
                assert!(line.contains(part), "{thread:?}: {line}");
                assert!(line.ends_with(" end=panic"), "{thread:?}: {line}");
            }
        }
    }
}
