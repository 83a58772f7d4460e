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
//! response, however fair the writer. The client's windows decide how
//! much that can be (32 MiB for curl 7's, 65,535 bytes by default), and
//! `--notsent-lowat` how much the kernel holds unsent. docs/http2.md
//! measures it.
//!
//! The threads of one connection, sharing `streams.rs`'s state (frames
//! queued, the windows, each stream's hand-off) under one lock:
//!
//! - its own reads frames (`connection.rs`, a header block gathered by
//!   `header_block.rs`), keeps the HPACK decoder's table, and starts one
//!   thread per stream;
//! - one writer (`writer.rs`) writes every frame: control frames first,
//!   then DATA, one frame per stream in turn;
//! - each stream's thread (`stream.rs`) answers its request through
//!   HTTP/1.1's routes and strategies, writing into a
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
//! `connection.rs`'s `settings` and `window_update`, where the client
//! moves the windows. The rest is what RFC 9113 asks of a server that must
//! survive any client: frame rules, stream states, HPACK, the limits.

mod connection;
mod hand_off;
mod header_block;
mod stream;
mod streams;
mod writer;

pub use connection::serve;

use crate::measure::access_log::End;
use streams::Conn;

/// SETTINGS_MAX_CONCURRENT_STREAMS: streams one connection may have open.
/// Each is a thread, two while a channel mode streams, so the number is
/// small; nginx allows 128 and Go 250, on far cheaper tasks. A stream over
/// it is refused (REFUSED_STREAM), which a client may retry.
pub const MAX_CONCURRENT_STREAMS: u32 = 16;

/// Most stream threads alive on one connection: the open streams, and
/// those whose stream has ended but whose thread is still leaving. At the
/// limit the reader stops reading until one leaves, so a client that opens
/// and cancels streams in a loop (rapid reset, CVE-2023-44487) waits
/// instead of piling up threads.
pub const MAX_STREAM_THREADS: usize = 2 * MAX_CONCURRENT_STREAMS as usize;

/// SETTINGS_MAX_HEADER_LIST_SIZE, and what is enforced: a request's
/// decoded fields, counted as RFC 7541 §4.1 counts them, as large as
/// HTTP/1.1's whole head may be. A larger list gets 431.
pub const MAX_HEADER_LIST_BYTES: usize = 16 * 1024;

/// Most bytes of one encoded header block, HEADERS and CONTINUATION
/// together. A block must be decoded whole to keep HPACK's table in step,
/// so one that passes this ends the connection (ENHANCE_YOUR_CALM): the
/// CONTINUATION flood of CVE-2024-27316 is stopped here.
pub const MAX_HEADER_BLOCK_BYTES: usize = 2 * MAX_HEADER_LIST_BYTES;

// A HEADERS frame alone always fits, so only CONTINUATION is checked.
const _: () = assert!(MAX_HEADER_BLOCK_BYTES >= crate::http::h2::frame::MAX_FRAME_BYTES);

/// Most CONTINUATION frames in one block. Empty ones add no bytes, so the
/// byte limit alone would let a client send them forever.
pub const MAX_CONTINUATION_FRAMES: usize = 16;

/// Most control frames queued on the client's behalf (SETTINGS and PING
/// acknowledgements, WINDOW_UPDATEs for its bodies, the RST_STREAM that
/// answers each of its stream errors): one that asks for more without
/// reading the answers is flooding (CVE-2019-9512, -9515), and gets
/// ENHANCE_YOUR_CALM. The server's own frames (HEADERS, its resets) do
/// not count.
pub const MAX_CONTROL_FRAMES: usize = 64;

/// Streams this side has reset that it remembers after they leave the
/// table: frames a client sent before it saw the reset are ignored (RFC
/// 9113 §5.1, which lets an endpoint limit for how long); on any other
/// closed stream they are its error. Four times the open streams is enough
/// for a client that waits for answers; one that pipelines more than 64
/// requests the server resets (refused, or with bodies) within one round
/// trip may see its late DATA on the first called STREAM_CLOSED. A
/// service expecting such clients would remember by time, as RFC 9113
/// suggests.
pub const RECENT_RESETS: usize = 4 * MAX_CONCURRENT_STREAMS as usize;

/// How many more streams a client may cancel than it lets finish before
/// the connection ends with ENHANCE_YOUR_CALM. A cancellation is its
/// RST_STREAM on a stream being answered (rapid reset, CVE-2023-44487), or
/// an error of its own on one, which the server must answer with a reset
/// (MadeYouReset, CVE-2025-8671). Each finished stream earns one back: a
/// browser that cancels now and then is never cut, a loop of either is
/// stopped within a hundred streams.
pub const MAX_NET_CANCELS: u32 = 100;

/// Ends the connection if the thread holding it leaves by panicking: the
/// writer waits for frames, the reader and streams on the writer, each for
/// what the dead thread will never do. The panic itself is passed on when
/// the connection's threads are joined. A stream thread holds none: the
/// reader passes its panic on as it joins it, and the reader's own ends
/// the connection. `a_stream_thread_that_panics_ends_its_connection`, below,
/// fails without that, and `a_writer_that_panics_ends_its_connection`
/// without the writer's.
struct EndOnPanic<'c>(&'c Conn);

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.end(End::Panic);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::defense::buffer_caps::BufferBudget;
    use crate::http::h2::frame::{self, ErrorCode, Frame, PREFACE, PREFACE_HEAD};
    use crate::http::h2::frame_buffer::FrameBuffer;
    use crate::http::h2::hpack;
    use crate::measure::access_log::Outcome;
    use crate::measure::exposition::Scrape;
    use crate::measure::log;
    use crate::measure::metrics::{METRICS, Readings};
    use crate::server::{Server, ServerConfig, Shared, shutdown::Connections};
    use crate::test_support::{PanicIn, panic_in};

    /// Connections rejected and GOAWAYs sent with REFUSED_STREAM so far,
    /// by the process-wide counters: exact while the caller holds
    /// `counting_rejections`, which every test that moves them takes.
    fn rejections_and_refused_goaways() -> (u64, u64) {
        let text = METRICS.render(&Readings::default());
        let scrape = Scrape::parse(&text).unwrap();
        let series = "backpressure_http2_goaways_sent_total{code=\"REFUSED_STREAM\"}";
        let rejected = scrape.count("backpressure_connections_rejected_total");
        (rejected.unwrap_or(0), scrape.count(series).unwrap_or(0))
    }

    /// `backpressure_panics_total` so far: exact while the caller holds
    /// `counting_panics`, as every test that makes a server thread panic
    /// does.
    fn panics_counted() -> u64 {
        let text = METRICS.render(&Readings::default());
        let scrape = Scrape::parse(&text).unwrap();
        scrape.count("backpressure_panics_total").unwrap()
    }

    /// A connection's two ends, (server, client), whose client has sent its
    /// preface, SETTINGS and `frames`.
    fn connected(frames: &[u8]) -> (std::net::TcpStream, std::net::TcpStream) {
        let (server, mut client) = crate::test_support::loopback();
        client.write_all(&PREFACE[PREFACE_HEAD.len()..]).unwrap();
        let mut settings = Vec::new();
        frame::settings(&mut settings, &[]);
        client.write_all(&settings).unwrap();
        client.write_all(frames).unwrap();
        (server, client)
    }

    /// A HEADERS frame that asks `GET /healthz` on stream 1, and ends it.
    fn healthz_on_stream_1() -> Vec<u8> {
        let mut block = Vec::new();
        hpack::start_block(&mut block);
        for (name, value) in [
            (&b":method"[..], &b"GET"[..]),
            (b":scheme", b"http"),
            (b":path", b"/healthz"),
            (b":authority", b"a"),
        ] {
            hpack::encode_field(&mut block, name, value);
        }
        let mut request = Vec::new();
        frame::headers(&mut request, 1, &block, true);
        request
    }

    /// What these connections are served with: the defaults, and a buffer
    /// budget of nothing, as no export runs here.
    fn shared() -> Shared {
        Shared {
            config: ServerConfig::default(),
            budget: Arc::new(BufferBudget::new(0)),
            connections: Connections::with_capacity(1),
        }
    }

    /// The lines of `log` that begin with `text`.
    fn lines_of<'l>(log: &'l [String], text: &str) -> Vec<&'l String> {
        log.iter().filter(|l| l.starts_with(text)).collect()
    }

    /// Serves, with no thread to start, a connection whose client has sent
    /// its preface and SETTINGS; its writing side shut first if `shut`, so
    /// that the server's write fails. Returns the client's socket, and
    /// what was logged meanwhile.
    fn serve_without_threads(shut: bool) -> (Outcome, std::net::TcpStream, Vec<String>) {
        let (server, client) = connected(&[]);
        if shut {
            server.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let (shared, peer) = (shared(), client.local_addr().unwrap());
        let (outcome, log) = log::capture(|| {
            crate::test_support::with_failing_spawns(|| serve(&server, &[], &shared, peer, 0))
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
        let (rejected, goaways) = rejections_and_refused_goaways();
        let (unwritten, _client, log) = serve_without_threads(true);
        assert_eq!(unwritten, Outcome::ended(End::Rejected), "GOAWAY unwritten");
        assert_eq!(lines_of(&log, NO_WRITER).len(), 1, "{log:#?}");
        let counted = rejections_and_refused_goaways();
        assert_eq!(counted, (rejected + 1, goaways), "GOAWAY unwritten");

        let (outcome, mut client, log) = serve_without_threads(false);
        assert_eq!(lines_of(&log, NO_WRITER).len(), 1, "{log:#?}");
        let counted = rejections_and_refused_goaways();
        assert_eq!(counted, (rejected + 2, goaways + 1), "GOAWAY written");
        // The test's plain close, with the client's preface unread, is a
        // reset: the read ends in its error, after what came before it.
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut wire = Vec::new();
        let _ = client.read_to_end(&mut wire);
        let (mut frames, mut kinds, mut goaway) = (FrameBuffer::with(&wire), Vec::new(), None);
        while let Ok(Some((header, payload))) = frames.next_frame() {
            kinds.push(header.kind);
            if let Ok(Frame::GoAway {
                last_stream, code, ..
            }) = frame::parse(&header, payload)
            {
                goaway = Some((last_stream, code));
            }
        }
        let expected = [frame::Kind::Settings as u8, frame::Kind::GoAway as u8];
        assert_eq!(kinds, expected, "SETTINGS then GOAWAY");
        let refused = ErrorCode::RefusedStream as u32;
        assert_eq!(goaway, Some((0, refused)));
        assert_eq!(outcome.end, End::Rejected);
        assert!(outcome.sent_whole_response(), "closed gracefully");
    }

    /// A stream no thread can be started for, on a connection whose writer
    /// started, is refused (RST_STREAM REFUSED_STREAM, which a client may
    /// retry), has no access-log line, and gets a line saying why: its
    /// reset's counter does not tell it from one over the stream limit.
    #[test]
    fn a_stream_no_thread_can_start_for_is_refused_and_said_why() {
        let (server, mut client) = connected(&healthz_on_stream_1());
        let (shared, peer) = (shared(), client.local_addr().unwrap());
        let (outcome, log) = std::thread::scope(|scope| {
            let serving = scope.spawn(|| {
                log::capture(|| {
                    let serve = || serve(&server, &[], &shared, peer, 0);
                    crate::test_support::with_spawns_failing_after(1, serve)
                })
            });
            // The frames up to the stream's reset, then the client leaves.
            client
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let (mut wire, mut reset) = (Vec::new(), None);
            let mut buf = [0; 1024];
            while reset.is_none()
                && let Ok(n @ 1..) = client.read(&mut buf)
            {
                wire.extend_from_slice(&buf[..n]);
                let mut frames = FrameBuffer::with(&wire);
                while let Ok(Some((header, payload))) = frames.next_frame() {
                    if let Ok(Frame::RstStream { stream, code }) = frame::parse(&header, payload) {
                        reset = Some((stream, code));
                    }
                }
            }
            assert_eq!(reset, Some((1, ErrorCode::RefusedStream as u32)));
            client.shutdown(std::net::Shutdown::Both).unwrap();
            serving.join().unwrap()
        });
        assert_eq!(outcome.end, End::Complete, "nothing left unanswered");
        let why = "backpressure: cannot start an HTTP/2 stream thread: operation would block";
        assert_eq!(lines_of(&log, why).len(), 1, "{log:#?}");
        let access = lines_of(&log, &format!("{peer} "));
        assert!(access.is_empty(), "{access:#?}");
    }

    /// What a client saw of a connection one of whose threads panicked,
    /// and what the server made of it.
    struct Panicked {
        /// Each frame the client got, as (type, stream).
        frames: Vec<(u8, u32)>,
        /// The code of each RST_STREAM and GOAWAY among them.
        codes: Vec<u32>,
        /// How the client's read ended: ConnectionReset for a reset,
        /// UnexpectedEof for a plain close, WouldBlock if nothing ended
        /// the connection within its 10 s.
        read_end: io::ErrorKind,
        /// `backpressure_panics_total`'s move.
        panics: u64,
        /// The access-log lines of the client's address.
        access: Vec<String>,
    }

    /// Asks `GET /healthz` on stream 1 of a connection to a real server
    /// (its accept loop, `run_isolated`, the access log) whose `thread`
    /// panics, and reads until the connection ends (10 s at most); the
    /// server stops once the client is done, and must have returned,
    /// every thread it started joined, within 10 s more. Nothing but the
    /// panic's end can end the connection meanwhile: the idle timeout and
    /// the hand-off's minimum rate are a minute away.
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
            // server hang, the failed assertion below lets go of both
            // before the scope waits for it, and `within` fails this test
            // without holding up the others that take them.
            let _panicking = panic_in(thread, addr);
            let before = panics_counted();
            let (asked, log) = log::capture(|| {
                let serving = scope.spawn(|| server.run(|| done.load(Ordering::SeqCst)));
                let asked = ask_healthz(addr);
                done.store(true, Ordering::SeqCst);
                let stopping = Instant::now();
                while !serving.is_finished() && stopping.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                assert!(serving.is_finished(), "the server hangs: {asked:?}");
                asked
            });
            let (peer, wire, read_end) = asked.unwrap();
            let (mut frames, mut codes) = (Vec::new(), Vec::new());
            let mut buffer = FrameBuffer::with(&wire);
            while let Ok(Some((header, payload))) = buffer.next_frame() {
                frames.push((header.kind, header.stream));
                let parsed = frame::parse(&header, payload);
                if let Ok(Frame::RstStream { code, .. } | Frame::GoAway { code, .. }) = parsed {
                    codes.push(code);
                }
            }
            let access = lines_of(&log, &format!("{peer} "));
            Panicked {
                frames,
                codes,
                read_end,
                panics: panics_counted() - before,
                access: access.into_iter().cloned().collect(),
            }
        })
    }

    /// Sends the preface, an empty SETTINGS and `GET /healthz` on stream
    /// 1 to `addr`, and reads until the connection ends, each read waiting
    /// 10 s at most; returns the client's address, the bytes it read, and
    /// how the read ended.
    fn ask_healthz(
        addr: std::net::SocketAddr,
    ) -> io::Result<(std::net::SocketAddr, Vec<u8>, io::ErrorKind)> {
        let mut client = std::net::TcpStream::connect(addr)?;
        client.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut request = PREFACE.to_vec();
        frame::settings(&mut request, &[]);
        request.extend_from_slice(&healthz_on_stream_1());
        client.write_all(&request)?;
        let mut wire = Vec::new();
        let read_end = match client.read_to_end(&mut wire) {
            Ok(_) => io::ErrorKind::UnexpectedEof,
            Err(e) => e.kind(),
        };
        Ok((client.local_addr()?, wire, read_end))
    }

    /// A stream thread that panics while answering ends its connection,
    /// not only its stream: the reader passes the panic on as it joins the
    /// thread (`join_finished`), and its `EndOnPanic` ends the connection,
    /// so the writer leaves and the connection's thread returns to
    /// `run_isolated`, which counts the panic once and closes with a
    /// reset. The client gets the stream's RST_STREAM (INTERNAL_ERROR,
    /// from its body as it unwinds), no GOAWAY (a panic is no graceful
    /// end, and the reset tells every stream it was cut), then the reset.
    /// The panicked stream has no line; the connection's says `panic`.
    #[test]
    fn a_stream_thread_that_panics_ends_its_connection() {
        let seen = crate::test_support::within(|| served_with_a_panic_in(PanicIn::H2Stream));
        let (settings, rst_stream) = (frame::Kind::Settings as u8, frame::Kind::RstStream as u8);
        let expected = [(settings, 0), (settings, 0), (rst_stream, 1)];
        assert_eq!(
            seen.frames, expected,
            "SETTINGS, its ACK, the stream's reset"
        );
        assert_eq!(seen.codes, [ErrorCode::InternalError as u32]);
        assert_eq!(seen.read_end, io::ErrorKind::ConnectionReset);
        assert_eq!(seen.panics, 1);
        assert_eq!(seen.access.len(), 1, "{:#?}", seen.access);
        let connection = &seen.access[0];
        assert!(
            connection.contains(" - - mode=- body_bytes=0 "),
            "{connection}"
        );
        assert!(connection.ends_with(" end=panic"), "{connection}");
    }

    /// A writer that panics with a stream waiting on its hand-off ends its
    /// connection: its `EndOnPanic` fails the stream's wait at once (not a
    /// minute later, at the minimum rate), the reader sees the end, and
    /// the scope passes the writer's panic on to `run_isolated`, which
    /// counts it once and closes with a reset. The client got the HEADERS
    /// and no DATA, no END_STREAM, no GOAWAY: nothing after them can pass
    /// for an end. The stream's line and the connection's say `panic`.
    #[test]
    fn a_writer_that_panics_ends_its_connection() {
        let seen = crate::test_support::within(|| served_with_a_panic_in(PanicIn::H2Writer));
        let (settings, headers) = (frame::Kind::Settings as u8, frame::Kind::Headers as u8);
        let expected = [(settings, 0), (settings, 0), (headers, 1)];
        assert_eq!(seen.frames, expected, "SETTINGS, its ACK, the HEADERS");
        assert!(seen.codes.is_empty(), "{:?}", seen.codes);
        assert_eq!(seen.read_end, io::ErrorKind::ConnectionReset);
        assert_eq!(seen.panics, 1);
        assert_eq!(seen.access.len(), 2, "{:#?}", seen.access);
        let (stream, connection) = (&seen.access[0], &seen.access[1]);
        assert!(stream.contains(" \"GET /healthz HTTP/2\" 200 "), "{stream}");
        assert!(stream.ends_with(" end=panic"), "{stream}");
        assert!(
            connection.contains(" - - mode=- body_bytes=0 "),
            "{connection}"
        );
        assert!(connection.ends_with(" end=panic"), "{connection}");
    }
}
