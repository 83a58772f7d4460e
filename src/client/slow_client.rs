//! A client that reads a response slowly on purpose: the phone on a weak
//! network from the lesson, as a program.
//!
//! It sends one HTTP/1.1 GET, then reads at most `rate` bytes per second
//! (a [`TokenBucket`]) for as long as it is allowed to, counting what it
//! read: slowly enough that its receive window closes and the server's
//! writes block, which makes backpressure visible. The demo runs it in a
//! thread and watches its counter and its socket; `backpressure slow-client
//! URL` runs it against any server that answers as plainly as this one
//! (its chunked reader takes no chunk extensions or trailers, and calls a
//! body that has them cut). How the body ended is [`ResponseReader`]'s
//! call.

use std::io::ErrorKind::{Interrupted, NotFound, TimedOut, WouldBlock};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::response::{BodyEnd, ResponseReader};
use super::token_bucket::TokenBucket;
use crate::http::target::{is_uri_byte, is_valid_host};
use crate::sys;

/// Bytes asked of the socket per read, on the stack: a third of the
/// server's default chunk; a slow client never uses more than its bucket allows.
pub const READ_BUFFER_BYTES: usize = 16 * 1024;

/// Longest one blocking read waits before the client checks whether to
/// stop: bounds how late a stop or `--for` is noticed (a real one would poll).
pub const READ_POLL: Duration = Duration::from_millis(100);

/// Longest silence before the client gives up, by default (a real client's
/// read timeout; `--idle-timeout`): a server that stalls for good must not
/// hold a run forever, and a slow one never leaves its client this long
/// without a byte.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting may take; and each wait of a write for room in the
/// send buffer, after which a server that reads nothing is given up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The token bucket's burst as a fraction of a second of rate: 1/20 (50 ms),
/// so that the rate is smooth at the scale the demo samples.
pub const BURST_DIVISOR: u64 = 20;

/// The bucket a client reads through at `rate` bytes per second, over
/// either protocol: bursts of at most 1/[`BURST_DIVISOR`] of a second of it.
pub fn rate_limit(rate: u64, now: Instant) -> TokenBucket {
    TokenBucket::new(rate, rate / BURST_DIVISOR, now)
}

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
    /// Parses a plain `http://host[:port][/path][?query]`. No `https`, user
    /// info or fragment: a one-line reason says which part was refused. The
    /// checks are the server's own (`http::target`), so that what this
    /// client sends, the server would take.
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        // A scheme is case-insensitive (RFC 3986 §3.1), as the server's
        // absolute-form targets are: `HTTP://` is `http://`.
        let scheme = |name: &str| {
            url.get(..name.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(name))
                .then(|| &url[name.len()..])
        };
        let rest = scheme("http://").ok_or_else(|| {
            let https = scheme("https://").is_some();
            let why = if https {
                " (https is not supported)"
            } else {
                ""
            };
            format!("'{url}' is not an http:// URL{why}")
        })?;
        // The authority ends at the path or, if there is none, at the query
        // or fragment (RFC 3986 §3.2): `http://h?q` asks for `/?q`.
        let (authority, after) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        let target = if after.starts_with('/') {
            after.to_string()
        } else {
            format!("/{after}")
        };
        if !target.bytes().all(is_uri_byte) {
            let why = "the path has a byte that must be percent-encoded \
                       (a space, a quote, a control character, non-ASCII) or a fragment";
            return Err(format!("'{url}': {why}"));
        }
        if authority.contains('@') {
            return Err(format!("'{url}': user information is not supported"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            // An empty port is no port (RFC 3986 §3.2.3, §6.2.3).
            Some((host, "")) => (host, 80),
            Some((host, port)) if !port.contains(']') => {
                // Digits only (`u16` parsing takes a `+`); port 0 is "any
                // port" to bind, and no port to connect to.
                let digits = port.bytes().all(|b| b.is_ascii_digit());
                let number = port.parse().ok().filter(|&port: &u16| digits && port != 0);
                (
                    host,
                    number.ok_or_else(|| format!("'{url}': bad port '{port}'"))?,
                )
            }
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("'{url}' has no host"));
        }
        // The whole authority is checked, and quoted: an unclosed `[::1`
        // split at its last colon leaves a host of `[:`, which names nothing
        // the user wrote.
        if !is_valid_host(authority.as_bytes()) {
            return Err(format!("'{url}': bad host '{authority}'"));
        }
        Ok(HttpUrl {
            host: host.to_string(),
            port,
            target,
        })
    }

    /// `host:port`, for the `Host` field and for resolving.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// How the client asks, and how it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Bytes per second read from the socket, head and framing included;
    /// `None` reads as fast as the socket delivers.
    pub rate: Option<u64>,
    /// A receive buffer of about this many bytes: a phone's small one, so
    /// that its kernel does not read far ahead of it.
    pub receive_buffer: Option<u32>,
    /// Ask in HTTP/1.0, whose streamed body ends when the connection closes:
    /// only a reset, not a FIN, can tell such a client its body was cut.
    pub http_1_0: bool,
    /// Give up connecting after this long, if sooner than
    /// [`CONNECT_TIMEOUT`]: `--for`, which bounds the whole run.
    pub connect_within: Option<Duration>,
    /// Give up after this long without a byte.
    pub idle_timeout: Duration,
}

impl Default for ClientOptions {
    /// As fast as the socket delivers, the kernel's buffer, HTTP/1.1,
    /// [`IDLE_TIMEOUT`].
    fn default() -> Self {
        ClientOptions {
            rate: None,
            receive_buffer: None,
            http_1_0: false,
            connect_within: None,
            idle_timeout: IDLE_TIMEOUT,
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
    /// How the body ended: complete, stopped, cut, or no response.
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
    /// Bytes read from the socket so far, shared so the demo can watch.
    bytes_read: Arc<AtomicU64>,
    /// Set by another thread to make the client stop and disconnect.
    stop: Arc<AtomicBool>,
    /// The rate limit; `None` reads as fast as the socket delivers.
    bucket: Option<TokenBucket>,
    /// When the connection was made, for the report's elapsed time.
    started: Instant,
    /// How long a silence ends the run as cut.
    idle_timeout: Duration,
}

impl SlowClient {
    /// Connects and sends `GET url`, as `options` say.
    pub fn connect(url: &HttpUrl, options: &ClientOptions) -> io::Result<SlowClient> {
        let started = Instant::now();
        let within = options.connect_within;
        let mut stream = connect(url, options.receive_buffer, within.map(|d| started + d))?;
        stream.set_read_timeout(Some(READ_POLL))?;
        stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
        let (target, host) = (&url.target, url.authority());
        let version = if options.http_1_0 { "1.0" } else { "1.1" };
        let request = format!(
            "GET {target} HTTP/{version}\r\nHost: {host}\r\nUser-Agent: backpressure-slow-client\r\n\
             Connection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes())?;
        let bucket = options.rate.map(|rate| rate_limit(rate, Instant::now()));
        Ok(SlowClient {
            local_addr: stream.local_addr()?,
            stream,
            bytes_read: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            bucket,
            started,
            idle_timeout: options.idle_timeout,
        })
    }

    /// This end's address (`local_address` in `/proc/net/tcp`).
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

    /// Reads until the body ends, the connection fails, `limit` passes
    /// (from connecting) or the stop flag is set; then closes the connection.
    pub fn run(mut self, limit: Option<Duration>) -> Report {
        let mut reader = ResponseReader::new();
        let mut buf = [0u8; READ_BUFFER_BYTES];
        let mut last_byte = Instant::now();
        let end = loop {
            let limit_passed = limit.is_some_and(|limit| self.started.elapsed() >= limit);
            if limit_passed || self.stop.load(Ordering::Relaxed) {
                break self.end_on_stopping(&reader);
            }
            if last_byte.elapsed() >= self.idle_timeout {
                break reader.cut(format!("nothing received for {:?}", self.idle_timeout));
            }
            let want = match &mut self.bucket {
                None => buf.len(),
                Some(bucket) => {
                    let now = Instant::now();
                    let allowed = bucket.available(now).min(buf.len() as u64) as usize;
                    if allowed == 0 {
                        // Sleep until half a burst is back, in naps short enough to notice a stop.
                        thread::sleep(bucket.nap(now).min(READ_POLL));
                        // The client's own wait is no silence of the
                        // server's: the idle clock starts again after each
                        // nap (the first may come before any byte: the
                        // bucket starts empty).
                        last_byte = Instant::now();
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
                // The read poll passed (or a signal came): check the flags again.
                Err(e) if matches!(e.kind(), WouldBlock | TimedOut | Interrupted) => {}
                Err(e) => break reader.cut(format!("read failed: {e}")),
            }
        };
        Report {
            status: reader.status(),
            wire_bytes: self.bytes_read.load(Ordering::Relaxed),
            body_bytes: reader.body_bytes(),
            elapsed: self.started.elapsed(),
            end,
        }
    }

    /// How the reading ended when it stopped of its own accord, at the time
    /// limit or by the stop flag (the demo's way): a clean stop, unless
    /// the server had already ended the connection ([`at_the_limit`]).
    fn end_on_stopping(&self, reader: &ResponseReader) -> BodyEnd {
        match at_the_limit(&self.stream) {
            AtTheLimit::Open => BodyEnd::Stopped,
            AtTheLimit::Closed => reader.eof(),
            AtTheLimit::Failed(why) => reader.cut(format!("before the time limit, {why}")),
        }
    }
}

/// Connects to the first address `url`'s host resolves to that answers,
/// with a receive buffer of about `receive_buffer` bytes if one is given;
/// each attempt waits at most [`CONNECT_TIMEOUT`], and none past
/// `deadline`: a server whose accept queue is full drops the SYN, and
/// would otherwise hold a run with `--for 1s` for 10 s. The name lookup
/// before them is the system resolver's, which std gives no timeout: a
/// slow DNS server holds the run for its own (a literal address, as the
/// demo and the tests use, needs none).
pub fn connect(
    url: &HttpUrl,
    receive_buffer: Option<u32>,
    deadline: Option<Instant>,
) -> io::Result<TcpStream> {
    let mut connected = Err(io::Error::new(NotFound, "no address to connect to"));
    for addr in url.authority().to_socket_addrs()? {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let timeout = match left {
            // `connect_timeout` refuses a zero timeout as no timeout at all.
            Some(left) if left.is_zero() => return Err(io::Error::from(TimedOut)),
            Some(left) => left.min(CONNECT_TIMEOUT),
            None => CONNECT_TIMEOUT,
        };
        connected = match receive_buffer {
            None => TcpStream::connect_timeout(&addr, timeout),
            Some(bytes) => sys::connect_with_receive_buffer(addr, bytes, timeout),
        };
        if connected.is_ok() {
            break;
        }
    }
    connected
}

/// Where a connection stood when a reader's time limit passed.
pub enum AtTheLimit {
    /// Nothing says the server has ended it.
    Open,
    /// The server closed it, and nothing is left unread before the close.
    Closed,
    /// It was reset or failed: why.
    Failed(String),
}

/// Looks at `socket` when the time limit passes, without reading what is
/// queued. A slow reader may never reach a reset that sits behind bytes
/// still in its kernel's receive buffer, since `read` returns those first;
/// the socket's pending error (SO_ERROR, ECONNRESET after a reset) says so
/// at once. A close with nothing before it is seen by a peek; one behind
/// unread bytes is no error, and the body before it may well be whole.
pub fn at_the_limit(socket: &TcpStream) -> AtTheLimit {
    match socket.take_error() {
        Ok(None) => {}
        Ok(Some(e)) => return AtTheLimit::Failed(format!("the server reset the connection: {e}")),
        Err(e) => return AtTheLimit::Failed(format!("the connection could not be checked: {e}")),
    }
    let peeked = socket
        .set_nonblocking(true)
        .and_then(|()| socket.peek(&mut [0u8; 1]));
    match peeked {
        Ok(0) => AtTheLimit::Closed,
        Ok(_) => AtTheLimit::Open,
        Err(e) if e.kind() == WouldBlock => AtTheLimit::Open,
        Err(e) => AtTheLimit::Failed(format!("the connection failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on 127.0.0.1 that reads the request, then runs `answer`
    /// on the connection.
    fn answering(
        answer: impl FnOnce(&mut TcpStream) + Send + 'static,
    ) -> (HttpUrl, thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let _ = stream.read(&mut [0u8; 1024]);
            answer(&mut stream);
        });
        let url = HttpUrl {
            host: "127.0.0.1".into(),
            port,
            target: "/".into(),
        };
        (url, server)
    }

    /// A server that answers with a Content-Length of 100,000 and sends
    /// 60,000 bytes at once, then resets the connection: the bytes sit in
    /// the client's receive buffer, the reset behind them.
    fn server_that_resets_behind_its_bytes() -> (HttpUrl, thread::JoinHandle<()>) {
        answering(|stream| {
            let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
            response.resize(response.len() + 60_000, b'x');
            stream.write_all(&response).unwrap();
            // Time for the bytes to reach the client's kernel, then a reset.
            thread::sleep(Duration::from_millis(200));
            sys::reset_on_close(&*stream).unwrap();
        })
    }

    /// README's rule, no cut may look whole: reading at 10 KiB/s for 1 s,
    /// the client never reaches the reset behind the buffered bytes, and
    /// its stop is still a cut, not a clean stop, whether the time limit
    /// stopped it or the stop flag, as the demo stops its clients.
    #[test]
    fn a_reset_behind_unread_bytes_is_a_cut_not_a_stop() {
        for by_flag in [false, true] {
            crate::test_support::within(move || {
                let (url, server) = server_that_resets_behind_its_bytes();
                let options = ClientOptions {
                    rate: Some(10 * 1024),
                    ..ClientOptions::default()
                };
                let client = SlowClient::connect(&url, &options).unwrap();
                let second = Duration::from_secs(1);
                let report = if by_flag {
                    let stop = client.stop_flag();
                    let stopper = thread::spawn(move || {
                        thread::sleep(second);
                        stop.store(true, Ordering::Relaxed);
                    });
                    let report = client.run(None);
                    stopper.join().unwrap();
                    report
                } else {
                    client.run(Some(second))
                };
                server.join().unwrap();
                assert!(report.body_bytes < 60_000, "by flag {by_flag}: {report:?}");
                assert!(
                    matches!(&report.end, BodyEnd::Cut(why) if why.contains("reset")),
                    "by flag {by_flag}: {report:?}"
                );
            });
        }
    }

    /// At the time limit, one look tells bytes still to read (open, even
    /// with a FIN behind them) from the server's FIN with nothing before it
    /// (closed: the body's framing decides if that is whole or a cut). A
    /// reset is the test above's.
    #[test]
    fn at_the_limit_tells_open_from_closed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pair = || {
            let client = TcpStream::connect(addr).unwrap();
            let (server, _) = listener.accept().unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            (client, server)
        };
        // A blocking peek returns once the byte or the FIN is in.
        let arrived = |client: &TcpStream| {
            let _ = client.peek(&mut [0u8; 1]);
        };

        let (client, mut server) = pair();
        server.write_all(b"x").unwrap();
        server.shutdown(std::net::Shutdown::Write).unwrap();
        arrived(&client);
        assert!(matches!(at_the_limit(&client), AtTheLimit::Open));

        let (client, server) = pair();
        server.shutdown(std::net::Shutdown::Write).unwrap();
        arrived(&client);
        assert!(matches!(at_the_limit(&client), AtTheLimit::Closed));
    }

    #[test]
    fn urls() {
        let url = HttpUrl::parse("http://127.0.0.1:8080/export.csv?rows=1&mode=bounded").unwrap();
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 8080);
        assert_eq!(url.target, "/export.csv?rows=1&mode=bounded");
        let url = HttpUrl::parse("HTTP://h:9/x").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.target.as_str()),
            ("h", 9, "/x")
        );
        let url = HttpUrl::parse("http://localhost").unwrap();
        assert_eq!((url.port, url.target.as_str()), (80, "/"));
        let url = HttpUrl::parse("http://[::1]:9/x").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("[::1]", 9));
        assert_eq!(HttpUrl::parse("http://[::1]/").unwrap().port, 80);
        // An empty port is the default one.
        let url = HttpUrl::parse("http://h:/x").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("h", 80));
        assert_eq!(HttpUrl::parse("http://[::1]:").unwrap().port, 80);
        // The query alone ends the authority, as the server reads it.
        let url = HttpUrl::parse("http://h:9?rows=1").unwrap();
        assert_eq!((url.port, url.target.as_str()), (9, "/?rows=1"));
        for (bad, why) in [
            ("https://example.com/", "not an http:// URL"),
            ("ftp://x/", "not an http:// URL"),
            ("HTTPS://x/", "https is not supported"),
            ("http:/x/", "not an http:// URL"),
            ("é", "not an http:// URL"),
            ("http://:80/", "no host"),
            ("http://host:99999/", "bad port"),
            ("http://host:x/", "bad port"),
            ("http://host:0/", "bad port"),
            ("http://host:+80/", "bad port"),
            ("http://host#frag", "fragment"),
            ("http://u@host/", "user information"),
            ("http://a b:1/", "bad host"),
            ("http://a\nb/", "bad host"),
            ("http://[::1/", "bad host '[::1'"),
            ("http://[::1:80/", "bad host '[::1:80'"),
            ("http://host/a b", "percent-encoded"),
            ("http://host/a#frag", "fragment"),
            ("http://host/\"x\"", "percent-encoded"),
            ("http://host/é", "percent-encoded"),
        ] {
            let error = HttpUrl::parse(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    /// A client's burst is 1/20 s of its rate, not a second's: idle for a
    /// second, a 200 KiB/s reader may take 10 KiB at once, no more.
    #[test]
    fn a_clients_burst_is_a_twentieth_of_its_rate() {
        let start = Instant::now();
        let mut bucket = rate_limit(200 * 1024, start);
        assert_eq!(bucket.available(start + Duration::from_secs(1)), 10_240);
    }

    /// At the limit, a server's close with nothing left unread ends the
    /// body as its framing says: 5 of 10 promised bytes is a cut, not a
    /// stop on time.
    #[test]
    fn a_close_seen_at_the_limit_is_judged_by_the_framing() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let _ = stream.read(&mut [0u8; 1024]);
            let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345";
            stream.write_all(answer).unwrap();
        });
        let url = HttpUrl {
            host: "127.0.0.1".into(),
            port,
            target: "/".into(),
        };
        let mut client = SlowClient::connect(&url, &ClientOptions::default()).unwrap();
        server.join().unwrap();
        // What `run` would have read before its limit: all but the close.
        let (mut reader, mut buf) = (ResponseReader::new(), [0u8; 64]);
        for _ in 0..50 {
            match client.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => assert_eq!(reader.feed(&buf[..n]), None),
                Err(_) => {}
            }
        }
        assert_eq!(reader.body_bytes(), 5);
        let end = client.end_on_stopping(&reader);
        assert!(
            matches!(&end, BodyEnd::Cut(why) if why.contains("5 body bytes")),
            "{end:?}"
        );
    }

    /// README's rule where it is hardest: a close-delimited body, which a
    /// FIN cannot tell from whole. A reset the client reads into is a cut,
    /// not the close that ends the body.
    #[test]
    fn a_reset_read_into_cuts_a_close_delimited_body() {
        crate::test_support::within(|| {
            let (url, server) = answering(|stream| {
                stream
                    .write_all(b"HTTP/1.0 200 OK\r\n\r\nsome of it")
                    .unwrap();
                sys::reset_on_close(&*stream).unwrap();
            });
            let options = ClientOptions {
                http_1_0: true,
                ..ClientOptions::default()
            };
            let client = SlowClient::connect(&url, &options).unwrap();
            let report = client.run(Some(Duration::from_secs(5)));
            server.join().unwrap();
            assert!(
                matches!(&report.end, BodyEnd::Cut(why) if why.contains("reset")),
                "{report:?}"
            );
        });
    }
}
