//! A raw HTTP/2 client for the tests, written apart from `src/`: frames as
//! bytes, requests encoded as plain literals (RFC 7541 §6.2.2, no
//! Huffman), and a decoder for exactly what the server's encoder may send
//! (a table size update to 0, then literals without indexing, names from
//! the static table or literal), which refuses anything else. So a test
//! reads the server's frames as a strict peer would, without trusting the
//! server's own HPACK code.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The largest window HTTP/2 allows, 2^31 - 1: a stream or connection
/// opened this wide is held back by TCP alone.
pub const HUGE: u32 = (1 << 31) - 1;

pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const PRIORITY: u8 = 2;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const PUSH_PROMISE: u8 = 5;
pub const PING: u8 = 6;
pub const GOAWAY: u8 = 7;
pub const WINDOW_UPDATE: u8 = 8;
pub const CONTINUATION: u8 = 9;

pub const END_STREAM: u8 = 0x1;
/// SETTINGS' and PING's acknowledgement: the same bit as END_STREAM.
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const HEADER_TABLE_SIZE: u16 = 0x1;
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;

pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const INTERNAL_ERROR: u32 = 0x2;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const STREAM_CLOSED: u32 = 0x5;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// The names of RFC 7541 Appendix A's static table, index 1 first, one
/// space apart.
const STATIC_NAMES: &str = "\
    :authority :method :method :path :path :scheme :scheme :status :status :status :status \
    :status :status :status accept-charset accept-encoding accept-language accept-ranges \
    accept access-control-allow-origin age allow authorization cache-control \
    content-disposition content-encoding content-language content-length content-location \
    content-range content-type cookie date etag expect expires from host if-match \
    if-modified-since if-none-match if-range if-unmodified-since last-modified link location \
    max-forwards proxy-authenticate proxy-authorization range referer refresh retry-after \
    server set-cookie strict-transport-security transfer-encoding user-agent vary via \
    www-authenticate";

/// One frame as it came off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY.
    pub fn error_code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }

    /// A GOAWAY's last stream id: the highest the server took on.
    pub fn last_stream(&self) -> u32 {
        assert_eq!(self.kind, GOAWAY, "only a GOAWAY has a last stream id");
        u32::from_be_bytes(self.payload[..4].try_into().unwrap()) & 0x7fff_ffff
    }
}

/// Appends a frame.
pub fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A string literal without Huffman: a 7-bit prefix length, then bytes.
fn literal(out: &mut Vec<u8>, bytes: &[u8]) {
    integer(out, 0x00, 7, bytes.len());
    out.extend_from_slice(bytes);
}

fn integer(out: &mut Vec<u8>, first: u8, prefix: u32, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A SETTINGS frame's payload: each parameter's id and value.
pub fn settings_payload(settings: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (id, value) in settings {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    payload
}

/// A header block of plain literals without indexing, literal names.
pub fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        literal(&mut block, name.as_bytes());
        literal(&mut block, value.as_bytes());
    }
    block
}

/// A GET (or `method`) for `path`, as a header block.
pub fn request_block(method: &str, path: &str) -> Vec<u8> {
    header_block(&[
        (":method", method),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", path),
    ])
}

/// A `method` for `path` whose content-length announces a one-byte body:
/// refused 400 at once, before any DATA comes, as this server takes no
/// request bodies. Without the length, the server would wait for the
/// stream's end, or its first byte of body, to know.
pub fn body_request_block(method: &str, path: &str) -> Vec<u8> {
    let mut block = request_block(method, path);
    block.extend(header_block(&[("content-length", "1")]));
    block
}

/// Decodes what the server's encoder sends; panics on anything else.
pub fn decode_block(mut block: &[u8]) -> Vec<(String, String)> {
    fn int(block: &mut &[u8], prefix: u32) -> usize {
        let max = (1usize << prefix) - 1;
        let mut value = (block[0] as usize) & max;
        *block = &block[1..];
        if value < max {
            return value;
        }
        let mut shift = 0;
        loop {
            let b = block[0];
            *block = &block[1..];
            value += ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                return value;
            }
        }
    }
    fn string(block: &mut &[u8]) -> String {
        assert_eq!(block[0] & 0x80, 0, "the server never Huffman-encodes");
        let len = int(block, 7);
        let s = String::from_utf8(block[..len].to_vec()).unwrap();
        *block = &block[len..];
        s
    }
    // A dynamic table size update to 0, which may begin a block.
    if block.first() == Some(&0x20) {
        block = &block[1..];
    }
    let mut fields = Vec::new();
    while !block.is_empty() {
        assert_eq!(block[0] & 0xf0, 0x00, "only literals without indexing");
        let index = int(&mut block, 4);
        let name = match index {
            0 => string(&mut block),
            i => STATIC_NAMES.split(' ').nth(i - 1).unwrap().to_string(),
        };
        fields.push((name, string(&mut block)));
    }
    fields
}

/// A connection to the server, spoken to frame by frame.
pub struct H2 {
    pub socket: TcpStream,
    /// Bytes read and not yet cut into frames.
    pending: Vec<u8>,
    /// The stream of every non-empty DATA frame read, in order.
    pub data_order: Vec<u32>,
    /// The server's first SETTINGS, as (id, value) in the order sent, once
    /// [`H2::start`] has read it.
    pub server_settings: Vec<(u16, u32)>,
}

impl H2 {
    /// Connects, and sends nothing.
    pub fn raw(addr: SocketAddr) -> H2 {
        H2::over(TcpStream::connect(addr).unwrap())
    }

    /// A connection over `socket`, connected, on which nothing was sent.
    pub fn over(socket: TcpStream) -> H2 {
        socket.set_nodelay(true).unwrap();
        H2 {
            socket,
            pending: Vec::new(),
            data_order: Vec::new(),
            server_settings: Vec::new(),
        }
    }

    /// Connects, sends the preface and `settings`, and reads the server's
    /// SETTINGS (acknowledging it).
    pub fn connect(addr: SocketAddr, settings: &[(u16, u32)]) -> H2 {
        H2::raw(addr).start(settings)
    }

    /// [`H2::connect`] with windows that never close: every stream's and
    /// the connection's opened to [`HUGE`].
    pub fn connect_wide_open(addr: SocketAddr) -> H2 {
        H2::raw(addr).start_wide_open()
    }

    /// [`H2::start`] with windows that never close, as
    /// [`H2::connect_wide_open`].
    pub fn start_wide_open(self) -> H2 {
        let mut h2 = self.start(&[(INITIAL_WINDOW_SIZE, HUGE)]);
        h2.window_update(0, HUGE - 65_535);
        h2
    }

    /// Sends the preface and `settings`, and reads the server's SETTINGS
    /// (acknowledging it).
    pub fn start(self, settings: &[(u16, u32)]) -> H2 {
        let mut h2 = self;
        let mut out = PREFACE.to_vec();
        frame(&mut out, SETTINGS, 0, 0, &settings_payload(settings));
        h2.send(&out);
        let first = h2
            .next_frame(Duration::from_secs(5))
            .expect("the server's SETTINGS");
        assert_eq!((first.kind, first.flags), (SETTINGS, 0));
        assert_eq!(first.payload.len() % 6, 0, "SETTINGS of {first:?}");
        let each = first.payload.chunks(6);
        let setting = |s: &[u8]| {
            (
                u16::from_be_bytes([s[0], s[1]]),
                u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
            )
        };
        h2.server_settings = each.map(setting).collect();
        h2.send_frame(SETTINGS, ACK, 0, &[]);
        h2
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.socket.write_all(bytes).unwrap();
    }

    pub fn send_frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let mut out = Vec::new();
        frame(&mut out, kind, flags, stream, payload);
        self.send(&out);
    }

    /// Sends a GET (or `method`) for `path` on `stream`, ending the stream.
    pub fn get(&mut self, stream: u32, method: &str, path: &str) {
        let block = request_block(method, path);
        self.send_frame(HEADERS, END_HEADERS | END_STREAM, stream, &block);
    }

    pub fn window_update(&mut self, stream: u32, increment: u32) {
        self.send_frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes());
    }

    /// Sends `bytes`, or says why not: for a client that may still write
    /// once the server has closed.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.socket.write_all(bytes)
    }

    /// Reads once, at most `most` bytes, waiting up to `timeout` (at least
    /// a millisecond), and keeps them for [`H2::pop_frame`]: what a client
    /// reading at its own pace does. `Ok(0)` is the server's close; a wait
    /// that found nothing is an error of kind `WouldBlock`.
    pub fn read_some(&mut self, most: usize, timeout: Duration) -> std::io::Result<usize> {
        let timeout = timeout.max(Duration::from_millis(1));
        self.socket.set_read_timeout(Some(timeout))?;
        let mut buf = vec![0; most];
        let n = self.socket.read(&mut buf)?;
        self.pending.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    /// The next whole frame among the bytes read so far, if there is one.
    pub fn pop_frame(&mut self) -> Option<Frame> {
        let head = self.pending.get(..9)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        // The server never raises SETTINGS_MAX_FRAME_SIZE from 16,384.
        assert!(len <= 16_384, "a frame of {len} bytes");
        if self.pending.len() < 9 + len {
            return None;
        }
        let bytes: Vec<u8> = self.pending.drain(..9 + len).collect();
        let frame = Frame {
            kind: bytes[3],
            flags: bytes[4],
            stream: u32::from_be_bytes(bytes[5..9].try_into().unwrap()) & 0x7fff_ffff,
            payload: bytes[9..].to_vec(),
        };
        if frame.kind == DATA && !frame.payload.is_empty() {
            self.data_order.push(frame.stream);
        }
        Some(frame)
    }

    /// The next frame, or `None` if none came within `timeout` or the
    /// server closed. SETTINGS ACKs and PING ACKs are passed through.
    pub fn next_frame(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(frame) = self.pop_frame() {
                return Some(frame);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.socket.set_read_timeout(Some(left)).unwrap();
            let mut buf = [0; 65536];
            match self.socket.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(_) => return None,
            }
        }
    }

    /// Reads the socket through at full speed, throwing the bytes away,
    /// until it ends: `None` for a close (a FIN), else the error's kind (a
    /// reset is `ConnectionReset`; nothing for 5 s, `WouldBlock`). Panics
    /// if bytes still come after 30 s.
    pub fn read_to_the_end(&mut self) -> Option<std::io::ErrorKind> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let timeout = Some(Duration::from_secs(5));
        self.socket.set_read_timeout(timeout).unwrap();
        let mut sink = vec![0; 1 << 16];
        while Instant::now() < deadline {
            match self.socket.read(&mut sink) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(e.kind()),
            }
        }
        panic!("the connection still sending after 30 s");
    }

    /// Every frame until none comes for `quiet`. Panics if frames still
    /// come after [`LONGEST_READ`].
    #[track_caller]
    pub fn frames_until_quiet(&mut self, quiet: Duration) -> Vec<Frame> {
        let deadline = Instant::now() + LONGEST_READ;
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame(quiet) {
            frames.push(frame);
            let count = frames.len();
            assert!(
                Instant::now() < deadline,
                "{count} frames and never {quiet:?} quiet, after {LONGEST_READ:?}: {}",
                summary(&frames)
            );
        }
        frames
    }

    /// Every frame until those read so far are `enough`, waiting up to
    /// 10 s for each, then every frame until none comes for `quiet`. What
    /// a test expects is waited for however loaded the machine, so that a
    /// slow server is not taken for a wrong one; anything the server sends
    /// beyond it still arrives within `quiet`, for the test's asserts to
    /// catch. If the frames stop short, the asserts say what is missing.
    /// Panics if frames still come after [`LONGEST_READ`] without being
    /// `enough`.
    #[track_caller]
    pub fn frames_until(
        &mut self,
        enough: impl Fn(&[Frame]) -> bool,
        quiet: Duration,
    ) -> Vec<Frame> {
        let deadline = Instant::now() + LONGEST_READ;
        let mut frames = Vec::new();
        while !enough(&frames) {
            match self.next_frame(Duration::from_secs(10)) {
                Some(frame) => frames.push(frame),
                None => break,
            }
            let count = frames.len();
            assert!(
                Instant::now() < deadline,
                "{count} frames in {LONGEST_READ:?}, never enough: {}",
                summary(&frames)
            );
        }
        frames.extend(self.frames_until_quiet(quiet));
        frames
    }

    /// Reads until the server's next frame of type `kind`, ignoring other
    /// frames, and returns it; panics if the connection ends, goes quiet for
    /// 10 s, or 30 s pass, without one, naming the frames it passed over.
    #[track_caller]
    pub fn next_of(&mut self, kind: u8) -> Frame {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut skipped = Vec::new();
        while Instant::now() < deadline {
            let Some(frame) = self.next_frame(Duration::from_secs(10)) else {
                let skipped = summary(&skipped);
                panic!(
                    "no frame of type {kind}: the connection ended or went quiet for 10 s after {skipped}"
                );
            };
            if frame.kind == kind {
                return frame;
            }
            skipped.push(frame);
        }
        panic!("no frame of type {kind} within 30 s: {}", summary(&skipped));
    }

    /// The server's next GOAWAY, as [`H2::next_of`].
    #[track_caller]
    pub fn goaway(&mut self) -> Frame {
        self.next_of(GOAWAY)
    }

    /// The error code of the server's next GOAWAY.
    #[track_caller]
    pub fn goaway_code(&mut self) -> u32 {
        self.goaway().error_code()
    }
}

/// A response read off a connection: status, fields, body.
#[derive(Debug, Default)]
pub struct Response {
    pub fields: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// END_STREAM arrived: the body is complete.
    pub ended: bool,
    /// RST_STREAM arrived instead, with this code.
    pub reset: Option<u32>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.header(":status").unwrap().parse().unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Adds `frame`, one of this response's stream, to it.
    pub fn take(&mut self, frame: &Frame) {
        match frame.kind {
            HEADERS => {
                let whole_head = frame.flags & END_HEADERS != 0;
                assert!(whole_head, "the server's heads fit a frame");
                self.fields = decode_block(&frame.payload);
            }
            DATA => self.body.extend_from_slice(&frame.payload),
            RST_STREAM => self.reset = Some(frame.error_code()),
            _ => {}
        }
        if frame.flags & END_STREAM != 0 && matches!(frame.kind, HEADERS | DATA) {
            self.ended = true;
        }
    }
}

/// The longest a helper reads frames that keep coming before it gives up:
/// an export the server should have held back by a window is megabytes,
/// read in well under this; a server that never stops is a failure, not a
/// hang.
pub const LONGEST_READ: Duration = Duration::from_secs(60);

/// `frames` in a line for a failure message: type/stream each, with the
/// error code of a RST_STREAM or GOAWAY; the last 20 of them.
pub fn summary(frames: &[Frame]) -> String {
    let from = frames.len().saturating_sub(20);
    let each = frames[from..].iter().map(|f| {
        // A code is there to read if the frame is long enough to hold it.
        let coded = match f.kind {
            RST_STREAM => f.payload.len() >= 4,
            GOAWAY => f.payload.len() >= 8,
            _ => false,
        };
        match coded {
            true => format!("{}/{} code {}", f.kind, f.stream, f.error_code()),
            false => format!("{}/{}", f.kind, f.stream),
        }
    });
    let each: Vec<String> = each.collect();
    format!("{} frames, the last: [{}]", frames.len(), each.join(", "))
}

/// The RST_STREAMs among `frames`, as (stream, error code), in order.
pub fn resets(frames: &[Frame]) -> Vec<(u32, u32)> {
    let resets = frames.iter().filter(|f| f.kind == RST_STREAM);
    resets.map(|f| (f.stream, f.error_code())).collect()
}

/// The RST_STREAMs read so far are at least `count`: for
/// [`H2::frames_until`].
pub fn at_least_resets(count: usize) -> impl Fn(&[Frame]) -> bool {
    move |frames| resets(frames).len() >= count
}

/// Reads frames until every one of `streams` has ended or been reset,
/// collecting each one's response; opens windows as bodies arrive when
/// `replenish` is set. Panics, naming the streams still open, if the
/// connection ends or goes quiet for 10 s first, or [`LONGEST_READ`] passes.
#[track_caller]
pub fn read_responses(h2: &mut H2, streams: &[u32], replenish: bool) -> Vec<Response> {
    let deadline = Instant::now() + LONGEST_READ;
    let mut responses: Vec<Response> = streams.iter().map(|_| Response::default()).collect();
    let open = |r: &[Response]| -> Vec<u32> {
        let open = r.iter().zip(streams);
        let open = open.filter(|(r, _)| !r.ended && r.reset.is_none());
        open.map(|(_, &id)| id).collect()
    };
    while !open(&responses).is_empty() {
        let frame = h2.next_frame(Duration::from_secs(10));
        let Some(frame) = frame.filter(|_| Instant::now() < deadline) else {
            let open = open(&responses);
            panic!(
                "streams {open:?} neither ended nor reset: the connection ended, went quiet for 10 s, or took {LONGEST_READ:?}"
            );
        };
        let Some(i) = streams.iter().position(|&s| s == frame.stream) else {
            // Another stream's DATA, thrown away: its bytes still used the
            // connection's window, which a real client gives back.
            if replenish && frame.kind == DATA && !frame.payload.is_empty() {
                h2.window_update(0, frame.payload.len() as u32);
            }
            continue;
        };
        responses[i].take(&frame);
        if replenish && frame.kind == DATA && !frame.payload.is_empty() {
            h2.window_update(0, frame.payload.len() as u32);
            h2.window_update(frame.stream, frame.payload.len() as u32);
        }
    }
    responses
}

/// Reads the responses on `streams` while opening the connection's window
/// at `rate` bytes a second, past the first 65,535: the connection drains
/// at that pace, however fast the client reads (so give the streams huge
/// windows of their own). Returns each response and when it ended or was
/// reset, once all have, or what came within `limit`.
pub fn read_at_paced_window(
    h2: &mut H2,
    streams: &[u32],
    rate: u64,
    limit: Duration,
) -> Vec<(Response, Option<Duration>)> {
    let started = Instant::now();
    let mut responses: Vec<_> = streams
        .iter()
        .map(|_| (Response::default(), None))
        .collect();
    let mut granted = 0;
    while responses.iter().any(|(_, at)| at.is_none()) && started.elapsed() < limit {
        let due = (rate as f64 * started.elapsed().as_secs_f64()) as u64;
        if due >= granted + 1024 {
            h2.window_update(0, (due - granted) as u32);
            granted = due;
        }
        let Some(frame) = h2.next_frame(Duration::from_millis(10)) else {
            continue;
        };
        if let Some(i) = streams.iter().position(|&s| s == frame.stream) {
            let (response, at) = &mut responses[i];
            response.take(&frame);
            if at.is_none() && (response.ended || response.reset.is_some()) {
                *at = Some(started.elapsed());
            }
        }
    }
    responses
}
