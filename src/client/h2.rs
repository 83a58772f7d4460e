//! The phone over HTTP/2: one connection, a big download read at a limited
//! rate, and, a while later, a small request on the same connection, to
//! measure what the download's queue costs it.
//!
//! The client chooses its windows: SETTINGS_INITIAL_WINDOW_SIZE for each
//! stream, and a WINDOW_UPDATE that raises the connection's to the same
//! size. As it reads a stream's DATA it gives the bytes back (a
//! WINDOW_UPDATE once half a window is read), as real clients do, unless
//! told not to. A small window keeps little in flight ahead of the small
//! response; curl 7's 32 MiB lets the server fill every buffer on the way.
//!
//! A header block may come in a HEADERS frame and any number of
//! CONTINUATION frames: the client gathers it whole, up to
//! [`MAX_HEADER_BLOCK_BYTES`], before decoding it ([`super::h2_head`]).
//! What a stream's frames do to its report, and when its body counts as
//! complete, is [`super::h2_stream`]'s; this file is the connection: its
//! preface and windows, the rate it reads at, and which stream a frame is
//! for.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::h2_head::{MAX_HEADER_BLOCK_BYTES, OpenBlock, gather};
use super::h2_stream::StreamReport;
use super::slow_client::{
    AtTheLimit, CONNECT_TIMEOUT, HttpUrl, IDLE_TIMEOUT, READ_POLL, at_the_limit, rate_limit,
};
use crate::http::h2::frame::{self, Frame, PREFACE, setting};
use crate::http::h2::frame_buffer::FrameBuffer;
use crate::http::h2::hpack::{self, Decoder};
use crate::sys;

/// How a server's answer begins if it speaks HTTP/1.x only: its status
/// line's version, where an h2c server's SETTINGS frame would be.
const HTTP1_ANSWER: &[u8] = b"HTTP/";

/// How the client reads, and what it asks.
#[derive(Clone, Debug)]
pub struct H2Options {
    /// Socket bytes per second; `None` reads as fast as they come.
    pub rate: Option<u64>,
    /// Every stream's window and the connection's: from 65,535 to 2^31 − 1.
    pub window: u32,
    /// A receive buffer of about this many bytes, set before connecting.
    pub receive_buffer: Option<u32>,
    /// Give read bytes back with WINDOW_UPDATE. Off, a stream stops for
    /// good once its window is spent.
    pub replenish: bool,
    /// Never give stream 1's window back, but the connection's and the
    /// others' as `replenish` says: stream 1 stops at its window while the
    /// connection goes on.
    pub starve_first: bool,
    /// A second request on the same connection, and when to send it.
    pub second: Option<(String, Duration)>,
    /// Stop once the second response has ended, however far the first got:
    /// when the second's latency is all that is measured.
    pub stop_after_second: bool,
    /// Bytes read from the socket so far, frames and all, updated after
    /// every read: shared, so that another thread can watch a run in
    /// progress (`slow-client`'s progress lines), as `SlowClient`'s counter.
    pub bytes_read: Arc<AtomicU64>,
}

/// What one run did.
#[derive(Clone, Debug, Default)]
pub struct H2Report {
    /// The download, on stream 1.
    pub first: StreamReport,
    /// The second request, on stream 3, if one was sent.
    pub second: Option<StreamReport>,
    /// Stream 1's body bytes when the second response ended: what the
    /// client had read of the download while the small one waited.
    pub first_bytes_then: Option<u64>,
    /// The server's GOAWAY code, if one came.
    pub goaway: Option<u32>,
    /// Bytes read from the socket, frames and all.
    pub wire_bytes: u64,
    /// From connecting to the end.
    pub elapsed: Duration,
    /// Why reading stopped early, if it did: the socket failed or went
    /// quiet, or the server broke a rule; or, at the time limit, the server
    /// had already reset or closed the connection. A failed write is named
    /// over any later failure: it came first, and the run read on past it.
    pub failure: Option<String>,
    /// The second request was due and its write failed: never sent, the
    /// connection gone (`failure` says how).
    pub second_write_failed: bool,
    /// The time limit ended the run: a stream not complete was stopped on
    /// time, not cut, unless `failure` says otherwise (a GOAWAY with an
    /// error also ends the run early, and leaves this false).
    pub timed_out: bool,
}

/// Windows for the streams this client opens, and what it has read of them
/// since it last gave bytes back.
struct Window {
    /// Stream 1 (or 3), or 0 for the connection.
    stream: u32,
    /// Read and not yet given back.
    unreturned: u32,
}

/// Runs the client until both responses end, `limit` passes, or the
/// connection ends; never more than [`IDLE_TIMEOUT`] without a byte.
pub fn run(url: &HttpUrl, options: &H2Options, limit: Option<Duration>) -> io::Result<H2Report> {
    let started = Instant::now();
    let mut socket = connect(url.authority(), options.receive_buffer)?;
    socket.set_read_timeout(Some(READ_POLL))?;
    socket.set_write_timeout(Some(CONNECT_TIMEOUT))?;

    let window = options
        .window
        .clamp(frame::DEFAULT_WINDOW, frame::MAX_WINDOW as u32);
    let mut out = PREFACE.to_vec();
    frame::settings(
        &mut out,
        &[
            (setting::INITIAL_WINDOW_SIZE, window),
            (setting::ENABLE_PUSH, 0),
        ],
    );
    if window > frame::DEFAULT_WINDOW {
        frame::window_update(&mut out, 0, window - frame::DEFAULT_WINDOW);
    }
    request(&mut out, 1, url);
    socket.write_all(&out)?;
    let first_sent = Instant::now();

    let mut report = H2Report::default();
    let mut second_sent = None;
    let mut decoder = Decoder::new(hpack::DEFAULT_TABLE_BYTES);
    let mut frames = FrameBuffer::default();
    let mut windows = [0, 1, 3].map(|stream| Window {
        stream,
        unreturned: 0,
    });
    let mut bucket = options.rate.map(|rate| rate_limit(rate, Instant::now()));
    let mut last_byte = Instant::now();
    let mut open_block: Option<OpenBlock> = None;
    // The first write that failed: the connection is gone, and only its
    // receive queue is left to read.
    let mut write_failure = None;
    loop {
        // Done when every response asked for has ended; or, told to stop
        // after the second, once it has (the download need not finish).
        let second_done = report.second.as_ref().is_some_and(|s| s.latency.is_some());
        let done = (report.first.latency.is_some() || options.stop_after_second)
            && (options.second.is_none() || second_done);
        // A GOAWAY with an error ends the connection; NO_ERROR only means no
        // new streams, and the open ones go on.
        let failed = report.goaway.is_some_and(|code| code != 0);
        if done || failed {
            break;
        }
        if limit.is_some_and(|l| started.elapsed() >= l) {
            report.timed_out = true;
            report.failure = match at_the_limit(&socket) {
                AtTheLimit::Open => None,
                AtTheLimit::Closed => Some("the server closed the connection".into()),
                AtTheLimit::Failed(why) => Some(why),
            };
            break;
        }
        // Not after a GOAWAY: a stream opened then is never answered
        // (RFC 9113 §6.8); nor on a connection a write found gone.
        if let Some((target, after)) = &options.second
            && second_sent.is_none()
            && report.goaway.is_none()
            && write_failure.is_none()
            && started.elapsed() >= *after
        {
            let mut out = Vec::new();
            let url = HttpUrl {
                target: target.clone(),
                ..url.clone()
            };
            request(&mut out, 3, &url);
            // Failed, it is read on past, as a reply's write is (below).
            if let Err(e) = socket.write_all(&out) {
                write_failure = Some(format!("write failed: {e}"));
                report.second_write_failed = true;
                continue;
            }
            second_sent = Some(Instant::now());
            report.second = Some(StreamReport::default());
        }
        if last_byte.elapsed() >= IDLE_TIMEOUT {
            report.failure = Some(format!("nothing received for {IDLE_TIMEOUT:?}"));
            break;
        }
        let spare = frames.spare();
        let want = match &mut bucket {
            None => spare.len(),
            Some(bucket) => {
                let now = Instant::now();
                let allowed = bucket.available(now).min(spare.len() as u64) as usize;
                if allowed == 0 {
                    thread::sleep(bucket.nap(now).min(READ_POLL));
                    continue;
                }
                allowed
            }
        };
        let n = match socket.read(&mut spare[..want]) {
            Ok(0) => {
                report.failure = Some("the server closed the connection".into());
                break;
            }
            Ok(n) => {
                options.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                n
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                report.failure = Some(format!("read failed: {e}"));
                break;
            }
        };
        frames.filled(n);
        // A server without h2c answers the preface with a status line,
        // which read as a frame header would be "a frame too large". Its
        // first bytes are looked at whichever reads bring them (a read
        // limited by the rate may bring one): until there are enough to
        // tell, no frame can have been taken from the buffer, which holds
        // them from the first.
        let undecided = report.wire_bytes < HTTP1_ANSWER.len() as u64;
        if undecided && frames.strip(HTTP1_ANSWER) == Some(true) {
            report.failure = Some("the server answered in HTTP/1.x, not HTTP/2".into());
            report.wire_bytes += n as u64;
            break;
        }
        last_byte = Instant::now();
        if let Some(bucket) = &mut bucket {
            bucket.spend(n as u64, last_byte);
        }
        report.wire_bytes += n as u64;
        let mut replies = Vec::new();
        loop {
            let parsed = match frames.next_frame() {
                Ok(None) => break,
                Ok(Some((header, payload))) => frame::parse(&header, payload),
                Err(e) => Err(e),
            };
            let parsed = match parsed {
                Ok(parsed) => parsed,
                Err(e) => {
                    report.failure = Some(format!("a bad frame: {}", e.reason));
                    return Ok(finish(report, started));
                }
            };
            let block = match gather(&mut open_block, &parsed) {
                Ok(block) => block,
                Err(why) => {
                    report.failure = Some(format!("a bad frame: {why}"));
                    return Ok(finish(report, started));
                }
            };
            let (stream, sent) = match parsed_stream(&parsed) {
                1 => (Some(&mut report.first), first_sent),
                3 => (report.second.as_mut(), second_sent.unwrap_or(first_sent)),
                _ => (None, first_sent),
            };
            // A stream reset or ended is closed (RFC 9113 §5.1): no frame
            // after that, END_STREAM or DATA or a reset, changes its report.
            let stream = stream.filter(|s| s.reset.is_none() && s.latency.is_none());
            let mut broken = None;
            match parsed {
                Frame::Settings { ack: false, .. } => frame::settings_ack(&mut replies),
                Frame::Ping { ack: false, data } => frame::ping(&mut replies, data, true),
                Frame::GoAway {
                    code, last_stream, ..
                } => {
                    report.goaway = Some(code);
                    // A stream above `last_stream` will never be answered
                    // (RFC 9113 §6.8): its body is cut, not still coming.
                    let open = |s: &StreamReport| s.latency.is_none();
                    let cut = [(1, Some(&report.first)), (3, report.second.as_ref())]
                        .into_iter()
                        .find(|&(id, s)| id > last_stream && s.is_some_and(open));
                    if let Some((id, _)) = cut {
                        broken = Some(format!("GOAWAY: the server will not answer stream {id}"));
                    }
                }
                Frame::Headers { .. } | Frame::Continuation { .. } => {
                    let Some(block) = block else {
                        continue;
                    };
                    let end_stream = block.end_stream;
                    let list = match decoder.decode(&block.bytes, MAX_HEADER_BLOCK_BYTES) {
                        Ok(list) => list,
                        Err(e) => {
                            report.failure = Some(format!("a bad header block: {}", e.reason()));
                            return Ok(finish(report, started));
                        }
                    };
                    if let Some(stream) = stream {
                        broken = stream.on_head(&list.fields, end_stream, sent);
                    }
                }
                Frame::Data {
                    stream: id,
                    data,
                    flow,
                    end_stream,
                } => {
                    let counted = stream.is_some();
                    if let Some(stream) = stream {
                        broken = stream.on_data(data.len(), end_stream, sent);
                    }
                    if counted && end_stream && id == 3 {
                        report.first_bytes_then = Some(report.first.body_bytes);
                    }
                    let starved = |w: &Window| options.starve_first && w.stream == 1;
                    if options.replenish {
                        let mine =
                            |w: &&mut Window| (w.stream == 0 || w.stream == id) && !starved(w);
                        for w in windows.iter_mut().filter(mine) {
                            w.unreturned += flow;
                            if w.unreturned >= window / 2 {
                                frame::window_update(&mut replies, w.stream, w.unreturned);
                                w.unreturned = 0;
                            }
                        }
                    }
                }
                Frame::RstStream { code, .. } => {
                    if let Some(stream) = stream {
                        stream.on_reset(code, sent);
                    }
                }
                _ => {}
            }
            if broken.is_some() {
                report.failure = broken;
                return Ok(finish(report, started));
            }
        }
        // A reset met here is not the end of what came: the frames the
        // server sent before it (a RST_STREAM, a GOAWAY) may sit in this
        // kernel's receive queue, still readable, and say why. So the run
        // writes no more but reads on, to the end of that queue, and the
        // write's failure is its last line.
        if !replies.is_empty()
            && write_failure.is_none()
            && let Err(e) = socket.write_all(&replies)
        {
            write_failure = Some(format!("write failed: {e}"));
        }
    }
    if write_failure.is_some() {
        report.failure = write_failure;
    }
    Ok(finish(report, started))
}

fn finish(mut report: H2Report, started: Instant) -> H2Report {
    report.elapsed = started.elapsed();
    report
}

/// The stream a frame belongs to; 0 for the connection's.
fn parsed_stream(frame: &Frame<'_>) -> u32 {
    match *frame {
        Frame::Headers { stream, .. }
        | Frame::Continuation { stream, .. }
        | Frame::Data { stream, .. }
        | Frame::RstStream { stream, .. } => stream,
        _ => 0,
    }
}

/// Appends a GET for `url` on `stream`, with no body.
fn request(out: &mut Vec<u8>, stream: u32, url: &HttpUrl) {
    let mut block = Vec::new();
    for (name, value) in [
        (&b":method"[..], &b"GET"[..]),
        (b":scheme", b"http"),
        (b":authority", url.authority().as_bytes()),
        (b":path", url.target.as_bytes()),
        (b"user-agent", b"backpressure-slow-client"),
    ] {
        hpack::encode_field(&mut block, name, value);
    }
    frame::headers(out, stream, &block, true);
}

/// Connects to the first address of `authority` that answers.
fn connect(authority: String, receive_buffer: Option<u32>) -> io::Result<TcpStream> {
    let mut connected = Err(io::Error::new(
        io::ErrorKind::NotFound,
        "no address to connect to",
    ));
    for addr in authority.to_socket_addrs()? {
        connected = match receive_buffer {
            None => TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT),
            Some(bytes) => sys::connect_with_receive_buffer(addr, bytes, CONNECT_TIMEOUT),
        };
        if connected.is_ok() {
            break;
        }
    }
    let socket = connected?;
    socket.set_nodelay(true)?;
    Ok(socket)
}

#[cfg(test)]
pub(in crate::client) mod tests {
    use super::*;
    use crate::http::h2::frame::{ErrorCode, Kind, flag, raw_frame};
    use std::net::TcpListener;

    /// A server for one connection, on its own thread: `serve` gets the
    /// accepted socket, and its result comes back through the handle.
    pub(in crate::client) fn one_connection<T: Send + 'static>(
        serve: impl FnOnce(TcpStream) -> T + Send + 'static,
    ) -> (HttpUrl, thread::JoinHandle<T>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || serve(listener.accept().unwrap().0));
        let url = HttpUrl {
            host: "127.0.0.1".into(),
            port,
            target: "/x".into(),
        };
        (url, server)
    }

    /// A one-connection HTTP/2 server that reads the client's preface and
    /// first frames, writes `frames`, then holds the connection open so the
    /// client cannot mistake a close for the end: until the client closes
    /// it, or for `hold` (a sleep of `hold` cost every test half a second).
    fn scripted_server(frames: Vec<u8>, hold: Duration) -> (HttpUrl, thread::JoinHandle<()>) {
        one_connection(move |mut stream| {
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(&frames);
            let until = Instant::now() + hold;
            // What the client sends meanwhile is dropped: its close, or a
            // failure, ends the hold.
            let left = || until.checked_duration_since(Instant::now());
            while let Some(left) = left().filter(|l| !l.is_zero()) {
                let timeout = stream.set_read_timeout(Some(left));
                if timeout.is_err() || matches!(stream.read(&mut request), Ok(0) | Err(_)) {
                    break;
                }
            }
        })
    }

    pub(in crate::client) fn options() -> H2Options {
        H2Options {
            rate: None,
            window: frame::DEFAULT_WINDOW,
            receive_buffer: None,
            replenish: true,
            starve_first: false,
            second: None,
            stop_after_second: false,
            bytes_read: Arc::default(),
        }
    }

    /// What the client reports of stream 1 when a server answers with
    /// `frames` (after its own empty SETTINGS) and then holds the
    /// connection open.
    pub(in crate::client) fn report_of(frames: &[u8]) -> H2Report {
        let mut out = Vec::new();
        frame::settings(&mut out, &[]);
        out.extend_from_slice(frames);
        crate::test_support::within(move || {
            let (url, server) = scripted_server(out, Duration::from_millis(500));
            let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
            server.join().unwrap();
            report
        })
    }

    /// Stream 1's HEADERS: `:status` 200, static table entry 8.
    pub(in crate::client) fn a_head() -> Vec<u8> {
        raw_frame(Kind::Headers as u8, flag::END_HEADERS, 1, &[0x80 | 8])
    }

    /// Stream 1's HEADERS and ten bytes of DATA, its end not yet sent.
    pub(in crate::client) fn a_head_and_ten_bytes() -> Vec<u8> {
        let mut out = a_head();
        out.extend(raw_frame(Kind::Data as u8, 0, 1, b"0123456789"));
        out
    }

    /// RFC 9113 §5.1: after RST_STREAM the stream is closed; a DATA frame
    /// with END_STREAM that follows is a stream error (STREAM_CLOSED), not
    /// the end of a whole body. The client must not report the reset stream complete,
    /// nor count what follows the reset as its body, nor let a second reset
    /// replace the first.
    #[test]
    fn a_reset_stream_is_never_complete_even_if_end_stream_follows() {
        let mut frames = a_head_and_ten_bytes();
        frame::rst_stream(&mut frames, 1, ErrorCode::InternalError);
        frames.extend(raw_frame(Kind::Data as u8, 0, 1, b"late"));
        frame::rst_stream(&mut frames, 1, ErrorCode::Cancel);
        frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
        let report = report_of(&frames);
        assert_eq!(report.first.reset, Some(2), "{report:?}");
        // The reset ends the run at once, not the server's close after it.
        assert!(report.first.latency.is_some() && report.failure.is_none());
        assert!(!report.first.complete, "reset, yet complete: {report:?}");
        assert_eq!(report.first.body_bytes, 10, "{report:?}");
    }

    /// The same once END_STREAM has closed the stream: DATA or a reset
    /// that follows it is not the body's, and leaves the report, its
    /// latency included, as the end made it.
    #[test]
    fn a_complete_stream_takes_nothing_after_its_end() {
        let (mut frames, data) = (a_head(), Kind::Data as u8);
        frames.extend(raw_frame(data, flag::END_STREAM, 1, b"0123456789"));
        frames.extend(raw_frame(data, 0, 1, b"late"));
        frame::rst_stream(&mut frames, 1, ErrorCode::Cancel);
        let report = report_of(&frames);
        assert!(report.first.complete, "{report:?}");
        assert_eq!(report.first.reset, None, "{report:?}");
        assert_eq!(report.first.body_bytes, 10, "{report:?}");
    }

    /// README's rule, no cut may look whole: a server that sends 48 KiB of
    /// stream 1 at once and then resets the connection, to a client that
    /// reads 8 KiB/s for 1 s. The reset sits behind unread bytes; the old
    /// code called the stop at the limit clean (no failure).
    #[test]
    fn a_reset_behind_unread_bytes_is_a_failure_at_the_limit() {
        crate::test_support::within(|| {
            let mut frames = Vec::new();
            frame::settings(&mut frames, &[]);
            frames.extend(a_head());
            for _ in 0..3 {
                frames.extend(raw_frame(Kind::Data as u8, 0, 1, &[b'x'; 16_384]));
            }
            let (url, server) = one_connection(move |mut stream| {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                stream.write_all(&frames).unwrap();
                // The reset only once the client has acknowledged our
                // SETTINGS, its one write after its first read: a reset before
                // that write would fail it, which is another test's case. At
                // most 5 s, however slowly the client's thread is scheduled.
                let ack = [0, 0, 0, Kind::Settings as u8, flag::ACK, 0, 0, 0, 0];
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut got = Vec::new();
                while !got.windows(ack.len()).any(|w| w == ack) {
                    match stream.read(&mut request) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&request[..n]),
                    }
                }
                sys::reset_on_close(&stream).unwrap();
            });
            let options = H2Options {
                rate: Some(8 * 1024),
                ..options()
            };
            let report = run(&url, &options, Some(Duration::from_secs(1))).unwrap();
            server.join().unwrap();
            assert!(report.first.body_bytes < 3 * 16_384, "{report:?}");
            let failure = report.failure.unwrap_or_default();
            assert!(failure.contains("reset"), "{failure}");
        });
    }

    /// A padded DATA frame's body is its data alone: the pad length byte
    /// and the padding are framing, not body bytes.
    #[test]
    fn padding_is_not_counted_as_body() {
        let mut frames = a_head_and_ten_bytes();
        let mut padded = vec![5];
        padded.extend_from_slice(b"abc");
        padded.extend_from_slice(&[0; 5]);
        let flags = flag::PADDED | flag::END_STREAM;
        frames.extend(raw_frame(Kind::Data as u8, flags, 1, &padded));
        let report = report_of(&frames);
        assert!(report.first.complete, "{report:?}");
        assert_eq!(report.first.body_bytes, 13, "{report:?}");
        // Every byte read counted once: report_of's 9-byte SETTINGS, then these.
        assert_eq!(report.wire_bytes, 9 + frames.len() as u64, "{report:?}");
    }

    /// Flow control counts a DATA frame's whole payload, padding too
    /// (RFC 9113 §6.9.1), so that is what the client gives back: 128
    /// padded frames of 256 bytes reach half the window, and the
    /// connection and the stream each get 32,768 bytes back.
    #[test]
    fn padding_is_given_back_to_the_window() {
        crate::test_support::within(|| {
            let mut frames = Vec::new();
            frame::settings(&mut frames, &[]);
            frames.extend(a_head());
            let mut padded = vec![155];
            padded.extend_from_slice(&[b'x'; 100]);
            padded.extend_from_slice(&[0; 155]);
            for i in 1..=200 {
                let flags = if i == 200 {
                    flag::PADDED | flag::END_STREAM
                } else {
                    flag::PADDED
                };
                frames.extend(raw_frame(Kind::Data as u8, flags, 1, &padded));
            }
            // Everything the client sent, up to its close.
            let (url, server) = one_connection(move |mut stream| {
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut got = vec![0; PREFACE.len()];
                stream.read_exact(&mut got).unwrap();
                stream.write_all(&frames).unwrap();
                let _ = stream.read_to_end(&mut got);
                got
            });
            let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
            let sent = server.join().unwrap();
            assert!(report.first.complete, "{report:?}");
            assert_eq!(report.first.body_bytes, 200 * 100, "{report:?}");
            let mut given_back = Vec::new();
            let mut sent = FrameBuffer::with(&sent[PREFACE.len()..]);
            while let Some((header, payload)) = sent.next_frame().unwrap() {
                if let Ok(Frame::WindowUpdate { stream, increment }) =
                    frame::parse(&header, payload)
                {
                    given_back.push((stream, increment));
                }
            }
            assert_eq!(given_back, [(0, 32_768), (1, 32_768)]);
        });
    }

    /// A server that closes the connection before the response ends cut
    /// it: the run says so at once, and is not taken for one stopped by
    /// the time limit.
    #[test]
    fn a_close_before_the_end_is_a_failure() {
        crate::test_support::within(|| {
            let mut frames = Vec::new();
            frame::settings(&mut frames, &[]);
            frames.extend(a_head_and_ten_bytes());
            let (url, server) = one_connection(move |mut stream| {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                stream.write_all(&frames).unwrap();
                // A FIN, then whatever the client still sends is read, so that
                // closing never turns into a reset.
                stream.shutdown(std::net::Shutdown::Write).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                while let Ok(1..) = stream.read(&mut request) {}
            });
            let report = run(&url, &options(), Some(Duration::from_secs(3))).unwrap();
            server.join().unwrap();
            let failure = report.failure.as_deref();
            assert_eq!(
                failure,
                Some("the server closed the connection"),
                "{report:?}"
            );
            assert!(!report.timed_out && !report.first.complete, "{report:?}");
            assert_eq!(report.first.body_bytes, 10, "{report:?}");
        });
    }

    /// A response with trailers (HEADERS, DATA, HEADERS with END_STREAM and
    /// no `:status`) is valid (RFC 9113 §8.1): its status is still 200.
    #[test]
    fn trailers_do_not_erase_the_status() {
        let mut frames = a_head_and_ten_bytes();
        let mut trailer = Vec::new();
        hpack::encode_field(&mut trailer, b"x-checksum", b"1");
        let ends = flag::END_STREAM | flag::END_HEADERS;
        frames.extend(raw_frame(Kind::Headers as u8, ends, 1, &trailer));
        let report = report_of(&frames);
        assert!(report.first.complete, "{report:?}");
        assert_eq!(report.first.status, Some(200), "{report:?}");
    }
}
