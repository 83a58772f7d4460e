//! A client that reads a response slowly on purpose: the phone on a weak
//! network from the lesson, as a program.
//!
//! It sends one HTTP/1.1 GET, then reads at most `rate` bytes per second
//! (a [`TokenBucket`]) for as long as it is allowed to, counting what it
//! read. Because it reads slowly, its kernel receive buffer fills, TCP's
//! window closes, and the server's writes block: this is the client that
//! makes backpressure visible. The demo runs it in-process, in a thread,
//! and reads [`SlowClient::bytes_read`] and [`SlowClient::local_addr`] to
//! find its socket in `/proc/net/tcp`; `backpressure slow-client URL` runs
//! it against any server.
//!
//! It speaks just enough HTTP/1.1 to say honestly how the body ended: the
//! status line and header fields are parsed from a head of at most
//! [`MAX_HEAD_BYTES`], and the body's framing decides what "complete" means:
//! the last chunk for `Transfer-Encoding: chunked` (decoded as it streams,
//! by [`ChunkedDecoder`]), `Content-Length` bytes, or the server closing a
//! close-delimited body. Anything else that ends the reading (the server
//! closes early, the connection is reset) is a cut body.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::chunked_decoder::ChunkedDecoder;
use crate::cli::{UsageError, flag_value, parse_duration, parse_size, split_flag};
use crate::token_bucket::TokenBucket;

/// Most bytes of response head (status line and header fields) accepted. Our
/// server's heads are under 200 bytes; 16 KiB is what the server itself
/// accepts for a request head, and what many proxies allow.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Bytes asked of the socket per read: the one body buffer, on the stack.
/// 16 KiB: half the server's default chunk; a fast client gets several per
/// millisecond, a slow one never uses more than its bucket allows.
pub const READ_BUFFER_BYTES: usize = 16 * 1024;

/// How long one blocking read may wait before the client checks whether it
/// has been told to stop. Bounds how late a stop or a `--for` deadline is
/// noticed; a real client would use a poller instead.
pub const READ_POLL: Duration = Duration::from_millis(100);

/// Longest time with no byte received before the client gives up on a
/// server that has gone silent. A real client exposes this as a timeout.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Burst allowed by the token bucket, as a fraction of a second of rate:
/// 1/20 (50 ms of reading), so that a 200 KB/s client reads about 10 KB at a
/// time, and the achieved rate is smooth at the scale the demo samples.
pub const BURST_DIVISOR: u64 = 20;

/// Default `--rate` of `slow-client`: 200 KiB/s, the phone of the lesson.
pub const DEFAULT_RATE: u64 = 200 * 1024;

/// An `http://host:port/path` URL, the only kind this client speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host name or IP address, as written (brackets kept for IPv6).
    pub host: String,
    /// Port, 80 if the URL names none.
    pub port: u16,
    /// Path and query, `/` if the URL has none.
    pub target: String,
}

impl HttpUrl {
    /// Parses a plain `http://host[:port][/path[?query]]`. No `https`, user
    /// info or fragment: a one-line reason says which part was refused.
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("'{url}' is not an http:// URL (https is not supported)"))?;
        let (authority, target) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        if target.contains('#') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "'{url}': the path has a fragment, a space or a control character"
            ));
        }
        if authority.contains('@') {
            return Err(format!("'{url}': user information is not supported"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("'{url}': bad port '{port}'"))?;
                (host, port)
            }
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("'{url}' has no host"));
        }
        Ok(HttpUrl {
            host: host.to_string(),
            port,
            target: target.to_string(),
        })
    }

    /// `host:port`, for the `Host` field and for resolving.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// How a response's body is delimited, from its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// `Transfer-Encoding: chunked`: complete when the last chunk arrives.
    Chunked,
    /// `Content-Length: n`: complete after exactly n bytes.
    Length(u64),
    /// Neither: the body ends when the server closes the connection.
    CloseDelimited,
}

/// The parts of a response head this client uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code, such as 200.
    pub status: u16,
    /// How the body is delimited.
    pub framing: BodyFraming,
}

/// Parses a response head (without its final blank line).
pub fn parse_response_head(head: &[u8]) -> Result<ResponseHead, String> {
    let head = std::str::from_utf8(head).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line.split(' ').collect::<Vec<_>>().as_slice() {
        [version, code, ..] if version.starts_with("HTTP/1.") && code.len() == 3 => code
            .parse::<u16>()
            .map_err(|_| format!("bad status line '{status_line}'"))?,
        _ => return Err(format!("bad status line '{status_line}'")),
    };
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line '{line}'"))?;
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.eq_ignore_ascii_case("chunked") {
                return Err(format!("unsupported Transfer-Encoding '{value}'"));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<u64>()
                .map_err(|_| format!("bad Content-Length '{value}'"))?;
            if length.is_some_and(|previous| previous != n) {
                return Err("conflicting Content-Length fields".to_string());
            }
            length = Some(n);
        }
    }
    let framing = match (chunked, length) {
        (true, Some(_)) => {
            return Err("both Transfer-Encoding and Content-Length".to_string());
        }
        (true, None) => BodyFraming::Chunked,
        (false, Some(n)) => BodyFraming::Length(n),
        (false, None) => BodyFraming::CloseDelimited,
    };
    Ok(ResponseHead { status, framing })
}

/// How the reading ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyEnd {
    /// The body ended as its framing says a complete body ends.
    Complete(BodyFraming),
    /// The `--for` time ran out (or the caller said stop) before the end.
    Stopped,
    /// The body was cut: the connection closed or failed before the end.
    Cut(String),
    /// No response at all: connecting, sending or the head failed.
    Failed(String),
}

impl BodyEnd {
    /// The process exit code for `slow-client`: 0 for a complete body or a
    /// stop on time, 1 for a cut body or a failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            BodyEnd::Complete(_) | BodyEnd::Stopped => 0,
            BodyEnd::Cut(_) | BodyEnd::Failed(_) => crate::cli::EXIT_FAILURE,
        }
    }
}

impl fmt::Display for BodyEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyEnd::Complete(BodyFraming::Chunked) => {
                write!(f, "body ended cleanly (last chunk received)")
            }
            BodyEnd::Complete(BodyFraming::Length(n)) => {
                write!(f, "body ended cleanly (Content-Length {n} reached)")
            }
            BodyEnd::Complete(BodyFraming::CloseDelimited) => {
                write!(
                    f,
                    "body ended cleanly (server closed a close-delimited body)"
                )
            }
            BodyEnd::Stopped => write!(f, "stopped by the time limit before the body ended"),
            BodyEnd::Cut(why) => write!(f, "body was cut: {why}"),
            BodyEnd::Failed(why) => write!(f, "request failed: {why}"),
        }
    }
}

/// What one run of the client did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The response's status code, if a head arrived.
    pub status: Option<u16>,
    /// Bytes read from the socket, head and framing included.
    pub wire_bytes: u64,
    /// Body bytes after removing the framing.
    pub body_bytes: u64,
    /// From connecting to the end of reading.
    pub elapsed: Duration,
    /// How it ended.
    pub end: BodyEnd,
}

impl Report {
    /// Body bytes per second over the whole run.
    pub fn body_rate(&self) -> f64 {
        self.body_bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A connected client that has sent its request and not yet read anything.
pub struct SlowClient {
    /// The connection, with a read timeout of [`READ_POLL`].
    stream: TcpStream,
    /// This end's address, to find the socket in `/proc/net/tcp`.
    local_addr: SocketAddr,
    /// Bytes read from the socket so far; shared so another thread (the
    /// demo's sampler) can watch the client read.
    bytes_read: Arc<AtomicU64>,
    /// Set by another thread to make the client stop and disconnect.
    stop: Arc<AtomicBool>,
    /// The rate limit; `None` reads as fast as the socket delivers.
    bucket: Option<TokenBucket>,
    /// When the connection was made, for the report's elapsed time.
    started: Instant,
}

impl SlowClient {
    /// Connects and sends `GET url`. `rate` is in bytes per second; `None`
    /// means no limit (the demo's fast client).
    pub fn connect(url: &HttpUrl, rate: Option<u64>) -> io::Result<SlowClient> {
        let started = Instant::now();
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
        let mut stream = None;
        for addr in url.authority().to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(error) => last_error = error,
            }
        }
        let mut stream = stream.ok_or(last_error)?;
        stream.set_read_timeout(Some(READ_POLL))?;
        stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: backpressure-slow-client\r\n\
             Connection: close\r\n\r\n",
            url.target,
            url.authority()
        );
        stream.write_all(request.as_bytes())?;
        let local_addr = stream.local_addr()?;
        let bucket = rate.map(|rate| TokenBucket::new(rate, rate / BURST_DIVISOR, Instant::now()));
        Ok(SlowClient {
            stream,
            local_addr,
            bytes_read: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            bucket,
            started,
        })
    }

    /// This end's address (the `local_address` of its `/proc/net/tcp` line).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The counter of bytes read, updated after every read.
    pub fn bytes_read(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes_read)
    }

    /// A flag that, once set, makes [`run`](SlowClient::run) stop reading and
    /// close the connection within about [`READ_POLL`].
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Reads the response until its body ends, the connection fails, `limit`
    /// passes (counted from connecting) or the stop flag is set; then
    /// closes the connection by dropping it.
    pub fn run(mut self, limit: Option<Duration>) -> Report {
        let mut reader = ResponseReader::new();
        let mut buf = [0u8; READ_BUFFER_BYTES];
        let mut last_byte = Instant::now();
        let end = loop {
            if self.stop.load(Ordering::Relaxed)
                || limit.is_some_and(|limit| self.started.elapsed() >= limit)
            {
                break BodyEnd::Stopped;
            }
            if last_byte.elapsed() >= IDLE_TIMEOUT {
                break reader.cut(format!("nothing received for {IDLE_TIMEOUT:?}"));
            }
            let want = match &mut self.bucket {
                None => buf.len(),
                Some(bucket) => {
                    let now = Instant::now();
                    let allowed = bucket.available(now).min(buf.len() as u64) as usize;
                    if allowed == 0 {
                        // Sleep until a burst's worth is back, in short naps so
                        // a stop is still noticed quickly.
                        let wait = bucket.time_until(buf.len() as u64, now);
                        thread::sleep(wait.min(READ_POLL));
                        continue;
                    }
                    allowed
                }
            };
            match self.stream.read(&mut buf[..want]) {
                Ok(0) => break reader.eof(),
                Ok(n) => {
                    last_byte = Instant::now();
                    if let Some(bucket) = &mut self.bucket {
                        bucket.spend(n as u64, last_byte);
                    }
                    self.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                    if let Some(end) = reader.feed(&buf[..n]) {
                        break end;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break reader.cut(format!("read failed: {e}")),
            }
        };
        Report {
            status: reader.head.as_ref().map(|head| head.status),
            wire_bytes: self.bytes_read.load(Ordering::Relaxed),
            body_bytes: reader.body_bytes,
            elapsed: self.started.elapsed(),
            end,
        }
    }
}

/// The response as it streams in: the head being collected, then the body
/// being counted through its framing.
struct ResponseReader {
    /// Head bytes so far, at most [`MAX_HEAD_BYTES`]; emptied once parsed.
    head_bytes: Vec<u8>,
    /// The parsed head, once complete.
    head: Option<ResponseHead>,
    /// The chunked decoder, for a chunked body.
    chunked: ChunkedDecoder,
    /// Body bytes received (framing removed).
    body_bytes: u64,
}

impl ResponseReader {
    fn new() -> ResponseReader {
        ResponseReader {
            head_bytes: Vec::new(),
            head: None,
            chunked: ChunkedDecoder::new(),
            body_bytes: 0,
        }
    }

    /// Takes the bytes of one read; returns how the reading ended, if it did.
    fn feed(&mut self, mut bytes: &[u8]) -> Option<BodyEnd> {
        if self.head.is_none() {
            // Only the new bytes, plus the 3 before them, can complete the
            // CRLF CRLF that ends the head.
            let searched_from = self.head_bytes.len().saturating_sub(3);
            let room = MAX_HEAD_BYTES + 4 - self.head_bytes.len();
            let appended = bytes.len().min(room);
            self.head_bytes.extend_from_slice(&bytes[..appended]);
            let Some(end) = self.head_bytes[searched_from..]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|at| searched_from + at)
            else {
                if self.head_bytes.len() > MAX_HEAD_BYTES {
                    return Some(BodyEnd::Failed(format!(
                        "response head longer than {MAX_HEAD_BYTES} bytes"
                    )));
                }
                return None;
            };
            match parse_response_head(&self.head_bytes[..end]) {
                Ok(head) => self.head = Some(head),
                Err(why) => return Some(BodyEnd::Failed(why)),
            }
            // What followed the head in this read is the start of the body.
            let body_start_in_read = appended - (self.head_bytes.len() - (end + 4));
            bytes = &bytes[body_start_in_read..];
            self.head_bytes = Vec::new();
        }
        let framing = self.head.as_ref()?.framing;
        match framing {
            BodyFraming::Chunked => {
                let mut count = 0;
                if let Err(e) = self.chunked.feed(bytes, |data| count += data.len() as u64) {
                    self.body_bytes += count;
                    return Some(BodyEnd::Cut(e.to_string()));
                }
                self.body_bytes += count;
                self.chunked.is_done().then_some(BodyEnd::Complete(framing))
            }
            BodyFraming::Length(length) => {
                self.body_bytes += bytes.len() as u64;
                match self.body_bytes.cmp(&length) {
                    std::cmp::Ordering::Less => None,
                    std::cmp::Ordering::Equal => Some(BodyEnd::Complete(framing)),
                    std::cmp::Ordering::Greater => Some(BodyEnd::Cut(format!(
                        "more bytes than the Content-Length of {length}"
                    ))),
                }
            }
            BodyFraming::CloseDelimited => {
                self.body_bytes += bytes.len() as u64;
                None
            }
        }
    }

    /// The server closed the connection.
    fn eof(&self) -> BodyEnd {
        match self.head.as_ref().map(|head| head.framing) {
            None => BodyEnd::Failed("connection closed before a complete response head".into()),
            Some(BodyFraming::CloseDelimited) => BodyEnd::Complete(BodyFraming::CloseDelimited),
            Some(_) => BodyEnd::Cut(format!(
                "connection closed after {} body bytes, before the end",
                self.body_bytes
            )),
        }
    }

    /// The connection failed: a cut body, or no response at all.
    fn cut(&self, why: String) -> BodyEnd {
        match self.head {
            None => BodyEnd::Failed(why),
            Some(_) => BodyEnd::Cut(why),
        }
    }
}

/// `backpressure slow-client`'s command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowClientArgs {
    /// What to download.
    pub url: HttpUrl,
    /// Bytes per second.
    pub rate: u64,
    /// Stop after this long; `None` reads until the body ends.
    pub read_for: Option<Duration>,
}

impl SlowClientArgs {
    /// Parses the arguments after `slow-client`. `Ok(None)` means `--help`.
    pub fn parse(
        mut args: impl Iterator<Item = String>,
    ) -> Result<Option<SlowClientArgs>, UsageError> {
        let mut url = None;
        let mut rate = DEFAULT_RATE;
        let mut read_for = None;
        while let Some(arg) = args.next() {
            let (flag, inline_value) = split_flag(arg);
            if matches!(flag.as_str(), "-h" | "--help") {
                return Ok(None);
            }
            if !flag.starts_with('-') {
                if url.is_some() {
                    return Err(UsageError(format!(
                        "slow-client takes one URL, got a second: '{flag}'"
                    )));
                }
                url = Some(HttpUrl::parse(&flag).map_err(UsageError)?);
                continue;
            }
            if !matches!(flag.as_str(), "--rate" | "--for") {
                return Err(UsageError(format!("unknown flag '{flag}' for slow-client")));
            }
            let value = flag_value(&flag, inline_value, &mut args)?;
            let bad = |what: &str| UsageError(format!("{flag}: {what}, got '{value}'"));
            if flag == "--rate" {
                rate = parse_size(&value)
                    .filter(|&rate| rate > 0)
                    .ok_or_else(|| bad("expected bytes per second above 0, such as 200k"))?;
            } else {
                read_for = Some(
                    parse_duration(&value)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| bad("expected a duration, such as 500ms or 10s"))?,
                );
            }
        }
        let url = url.ok_or_else(|| {
            UsageError("slow-client needs a URL, such as http://127.0.0.1:8080/export.csv".into())
        })?;
        Ok(Some(SlowClientArgs {
            url,
            rate,
            read_for,
        }))
    }
}

/// How often `slow-client` reports progress on stderr while it reads.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// `backpressure slow-client`: downloads, prints progress on stderr and the
/// outcome on stdout, and returns the exit code.
pub fn run_command(args: &SlowClientArgs) -> u8 {
    let client = match SlowClient::connect(&args.url, Some(args.rate)) {
        Ok(client) => client,
        Err(e) => {
            eprintln!(
                "backpressure slow-client: cannot connect to {}: {e}",
                args.url.authority()
            );
            return crate::cli::EXIT_FAILURE;
        }
    };
    let bytes_read = client.bytes_read();
    let read_for = args.read_for;
    let reading = thread::spawn(move || client.run(read_for));
    let started = Instant::now();
    let mut next_report = started + PROGRESS_INTERVAL;
    while !reading.is_finished() {
        thread::sleep(READ_POLL);
        if Instant::now() >= next_report {
            next_report += PROGRESS_INTERVAL;
            eprint!(
                "\r{:5.1} s  {} bytes read",
                started.elapsed().as_secs_f64(),
                bytes_read.load(Ordering::Relaxed)
            );
        }
    }
    if next_report > started + PROGRESS_INTERVAL {
        eprintln!();
    }
    let Ok(report) = reading.join() else {
        eprintln!("backpressure slow-client: the reading thread panicked");
        return crate::cli::EXIT_FAILURE;
    };
    println!(
        "status {}; received {} body bytes ({} bytes on the wire) in {:.2} s: {:.0} bytes/s \
         (limit {} bytes/s)",
        report
            .status
            .map_or_else(|| "none".to_string(), |s| s.to_string()),
        report.body_bytes,
        report.wire_bytes,
        report.elapsed.as_secs_f64(),
        report.body_rate(),
        args.rate
    );
    println!("{}", report.end);
    report.end.exit_code()
}

/// `backpressure slow-client --help`.
pub fn help() -> String {
    format!(
        "Usage: backpressure slow-client URL [--rate SIZE] [--for DUR]\n\
         \n\
         GETs an http://host:port/path URL and reads the body at a limited rate, like a phone\n\
         on a weak network, then prints the bytes received, the achieved rate and how the body\n\
         ended. Exit code 0 if the body ended cleanly or --for ran out, 1 if it was cut or the\n\
         request failed, 2 for a bad command line.\n\
         \n\
         Flags:\n\
         \x20   --rate SIZE   bytes per second, k = KiB, m = MiB [default: {}k]\n\
         \x20   --for DUR     stop reading (and disconnect) after this long [default: until the end]\n\
         \x20   -h, --help    print this help\n\
         \n\
         Example: backpressure slow-client 'http://127.0.0.1:8080/export.csv?rows=7000000&mode=unbounded' --for 10s\n",
        DEFAULT_RATE / 1024
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = HttpUrl::parse("http://127.0.0.1:8080/export.csv?rows=1&mode=bounded").unwrap();
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 8080);
        assert_eq!(url.target, "/export.csv?rows=1&mode=bounded");
        let url = HttpUrl::parse("http://localhost").unwrap();
        assert_eq!((url.port, url.target.as_str()), (80, "/"));
        let url = HttpUrl::parse("http://[::1]:9/x").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("[::1]", 9));
        assert_eq!(HttpUrl::parse("http://[::1]/").unwrap().port, 80);
        for (bad, why) in [
            ("https://example.com/", "not an http:// URL"),
            ("ftp://x/", "not an http:// URL"),
            ("http://:80/", "no host"),
            ("http://host:99999/", "bad port"),
            ("http://host:x/", "bad port"),
            ("http://u@host/", "user information"),
            ("http://host/a b", "space"),
            ("http://host/a#frag", "fragment"),
        ] {
            let error = HttpUrl::parse(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn response_heads() {
        let head = parse_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked").unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.framing, BodyFraming::Chunked);
        let head = parse_response_head(b"HTTP/1.0 404 Not Found\r\ncontent-length:  12 ").unwrap();
        assert_eq!((head.status, head.framing), (404, BodyFraming::Length(12)));
        let head = parse_response_head(b"HTTP/1.1 200 OK\r\nX: y").unwrap();
        assert_eq!(head.framing, BodyFraming::CloseDelimited);
        for bad in [
            &b"HTTP/2 200 OK"[..],
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 abc OK",
            b"ICY 200 OK",
            b"HTTP/1.1 200 OK\r\nno colon",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5",
            b"HTTP/1.1 200 \xff",
        ] {
            assert!(
                parse_response_head(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// Feeds a whole response to a reader in pieces of `piece` bytes.
    fn read_in_pieces(wire: &[u8], piece: usize) -> (Option<BodyEnd>, u64) {
        let mut reader = ResponseReader::new();
        for part in wire.chunks(piece) {
            if let Some(end) = reader.feed(part) {
                return (Some(end), reader.body_bytes);
            }
        }
        (None, reader.body_bytes)
    }

    #[test]
    fn bodies_end_as_their_framing_says() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let length = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        for piece in 1..=chunked.len() {
            let (end, body) = read_in_pieces(chunked, piece);
            assert_eq!(end, Some(BodyEnd::Complete(BodyFraming::Chunked)));
            assert_eq!(body, 3);
            let (end, body) = read_in_pieces(length, piece);
            assert_eq!(end, Some(BodyEnd::Complete(BodyFraming::Length(3))));
            assert_eq!(body, 3);
        }
        // Cut short: no end yet, and EOF now would be a cut.
        let mut reader = ResponseReader::new();
        assert_eq!(reader.feed(&chunked[..55]), None);
        assert!(matches!(reader.eof(), BodyEnd::Cut(_)));
        // Close-delimited: EOF is the clean end.
        let mut reader = ResponseReader::new();
        assert_eq!(reader.feed(b"HTTP/1.0 200 OK\r\n\r\nabcd"), None);
        assert_eq!(reader.body_bytes, 4);
        assert_eq!(reader.eof(), BodyEnd::Complete(BodyFraming::CloseDelimited));
        // No head at all.
        assert!(matches!(ResponseReader::new().eof(), BodyEnd::Failed(_)));
    }

    #[test]
    fn bad_bodies_and_heads_are_reported() {
        let (end, _) = read_in_pieces(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            7,
        );
        assert!(matches!(end, Some(BodyEnd::Cut(why)) if why.contains("hex digit")));
        let (end, _) = read_in_pieces(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc", 100);
        assert!(matches!(end, Some(BodyEnd::Cut(why)) if why.contains("more bytes")));
        let huge = vec![b'x'; MAX_HEAD_BYTES + 10];
        let (end, _) = read_in_pieces(&huge, 1000);
        assert!(matches!(end, Some(BodyEnd::Failed(why)) if why.contains("longer than")));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(BodyEnd::Complete(BodyFraming::Chunked).exit_code(), 0);
        assert_eq!(BodyEnd::Stopped.exit_code(), 0);
        assert_eq!(BodyEnd::Cut("x".into()).exit_code(), 1);
        assert_eq!(BodyEnd::Failed("x".into()).exit_code(), 1);
    }

    #[test]
    fn command_line() {
        let args = |list: &[&str]| {
            SlowClientArgs::parse(
                list.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .into_iter(),
            )
        };
        let parsed = args(&["http://h:1/p", "--rate=1k", "--for", "2s"])
            .unwrap()
            .unwrap();
        assert_eq!(parsed.rate, 1024);
        assert_eq!(parsed.read_for, Some(Duration::from_secs(2)));
        assert_eq!(args(&["http://h/"]).unwrap().unwrap().rate, DEFAULT_RATE);
        assert_eq!(args(&["--help"]), Ok(None));
        for (bad, why) in [
            (&[][..], "needs a URL"),
            (&["https://h/"], "not an http://"),
            (&["http://h/", "http://i/"], "one URL"),
            (&["http://h/", "--rate", "0"], "--rate"),
            (&["http://h/", "--rate", "fast"], "--rate"),
            (&["http://h/", "--for", "10"], "--for"),
            (&["http://h/", "--for"], "--for needs a value"),
            (&["http://h/", "--speed", "1"], "unknown flag '--speed'"),
        ] {
            let error = args(bad).unwrap_err().to_string();
            assert!(error.contains(why), "{bad:?}: {error}");
        }
    }
}
