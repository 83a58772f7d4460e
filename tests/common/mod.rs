//! Shared support for the integration tests: a handle on a running server, a
//! raw HTTP client, a strict chunked decoder, an independent reference CSV,
//! and waiting for the server to reach a state.
//!
//! What judges the server's output is written apart from `src/` on purpose
//! (the raw client, the chunked decoder, the reference CSV): a test that
//! checks the server against code sharing its algorithms would only prove
//! the code agrees with itself. The harness is shared with the crate (the
//! child process, reading `/metrics` back): it carries the test, and is
//! tested in `src/`.
#![allow(dead_code)]

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use backpressure::{ChildServer, ChildStderr, Scrape};
/// Longest silence tolerated on a socket: a hung server fails the test instead
/// of hanging it.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Cap on reading one whole response, so a server trickling bytes forever
/// cannot keep a test alive either.
const RESPONSE_DEADLINE: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

/// A `backpressure serve` child on an ephemeral port: the library's
/// [`ChildServer`] (killed on drop, and gone when its parent is), with the
/// test-side habit of failing loudly.
pub struct Server {
    child: ChildServer,
}

impl Server {
    /// Starts the server with `--quiet` plus `extra_args`. The access log is
    /// off, so that load tests do not flood the terminal; the server's other
    /// stderr lines (a panic, say) still show.
    pub fn start(extra_args: &[&str]) -> Server {
        let mut args = vec!["--quiet"];
        args.extend_from_slice(extra_args);
        Server::spawn(&args, ChildStderr::Inherit)
    }

    /// Like [`Server::start`], with the access log on and every stderr line
    /// collected for [`Server::log_lines`].
    pub fn start_logged(extra_args: &[&str]) -> Server {
        Server::spawn(extra_args, ChildStderr::Collect)
    }

    fn spawn(args: &[&str], stderr: ChildStderr) -> Server {
        let exe = Path::new(env!("CARGO_BIN_EXE_backpressure"));
        match ChildServer::start(exe, args, stderr) {
            Ok(child) => Server { child },
            Err(e) => panic!("the server did not start with {args:?}: {e}"),
        }
    }

    /// The address the server actually bound, for clients to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.child.addr()
    }

    /// The child's process id, for tests that inspect the process from outside.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The server's stderr lines so far; empty unless started with
    /// [`Server::start_logged`].
    pub fn log_lines(&self) -> Vec<String> {
        self.child.log_lines()
    }

    /// Threads of the server process, read from `/proc` rather than from
    /// `/metrics`, so that looking does not itself take a connection.
    pub fn threads(&self) -> u64 {
        self.child
            .status()
            .ok()
            .and_then(|status| status.threads)
            .expect("the server's /proc status has a Threads: line")
    }
}

/// Kills and waits, ignoring errors: the child may already have exited, and
/// this runs on paths that are about to panic with a better message anyway.
fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs the binary with `args` and returns what it printed and its exit
/// status, killing it if it has not exited by `deadline`: a command that
/// should have failed fast must fail the test, not hang it.
pub fn run_binary(args: &[&str], deadline: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_backpressure"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Drain both pipes in threads, so a chatty child never blocks on a full
    // pipe while the test waits for it to exit.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut text).map(|_| text)
    });
    let err = thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut text).map(|_| text)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the binary") {
            break status;
        }
        if started.elapsed() > deadline {
            kill_and_reap(&mut child);
            panic!("backpressure {args:?} did not exit within {deadline:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout thread").expect("stdout"),
        stderr: err.join().expect("stderr thread").expect("stderr"),
    }
}

// ---------------------------------------------------------------------------
// Raw HTTP client
// ---------------------------------------------------------------------------

/// One response exactly as it came off the wire, split at the end of the head,
/// so tests can check framing instead of trusting a client library's repairs.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Numeric status code from the status line.
    pub status: u16,
    /// The whole status line, e.g. `HTTP/1.1 200 OK`, without its CRLF.
    pub status_line: String,
    /// Header fields in wire order; names keep their original case.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line, still framed (chunked bytes stay chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header with this name, compared case-insensitively as HTTP requires.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body with its framing checked and removed: strictly de-chunked, or
    /// checked against `Content-Length`, or taken as-is when close-delimited.
    /// Not meaningful for responses to HEAD, which carry no body.
    pub fn body_decoded(&self) -> Vec<u8> {
        let te = self.header("Transfer-Encoding");
        let cl = self.header("Content-Length");
        if te.is_some() && cl.is_some() {
            panic!("response has both Transfer-Encoding and Content-Length: {self:?}");
        }
        if let Some(te) = te {
            assert!(
                te.eq_ignore_ascii_case("chunked"),
                "unexpected Transfer-Encoding: {te:?}"
            );
            return decode_chunked(&self.body)
                .unwrap_or_else(|err| panic!("invalid chunked body: {err}"));
        }
        if let Some(cl) = cl {
            let expected: usize = cl
                .parse()
                .unwrap_or_else(|_| panic!("unparsable Content-Length: {cl:?}"));
            assert_eq!(
                self.body.len(),
                expected,
                "body length differs from Content-Length"
            );
        }
        self.body.clone()
    }

    /// The decoded body as UTF-8, for error pages and other small text bodies.
    pub fn body_text(&self) -> String {
        String::from_utf8(self.body_decoded()).expect("response body is not UTF-8")
    }
}

/// Sends `raw` verbatim on a fresh connection and reads until the server closes.
/// Raw bytes, not a request builder, so tests can send malformed requests.
pub fn request(addr: SocketAddr, raw: &[u8]) -> RawResponse {
    let mut stream = connect(addr);
    stream
        .write_all(raw)
        .expect("failed to write the request to the server");
    let wire = read_to_eof(&mut stream);
    parse_response(&wire)
}

/// A plain `GET target`, the request most tests need.
pub fn get(addr: SocketAddr, target: &str) -> RawResponse {
    request(addr, simple_request("GET", target).as_bytes())
}

/// A plain `HEAD target`, to check the head matches GET without a body.
pub fn head(addr: SocketAddr, target: &str) -> RawResponse {
    request(addr, simple_request("HEAD", target).as_bytes())
}

fn simple_request(method: &str, target: &str) -> String {
    format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .unwrap_or_else(|err| panic!("failed to connect to {addr}: {err}"));
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("failed to set the socket read timeout");
    stream
        .set_write_timeout(Some(READ_TIMEOUT))
        .expect("failed to set the socket write timeout");
    stream
}

/// read_to_end with an overall deadline; each read is already bounded by the
/// socket's read timeout.
fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let started = Instant::now();
    let mut wire = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        assert!(
            started.elapsed() < RESPONSE_DEADLINE,
            "response not finished after {RESPONSE_DEADLINE:?} ({} bytes so far)",
            wire.len()
        );
        match stream.read(&mut buf) {
            Ok(0) => return wire,
            Ok(n) => wire.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => panic!(
                "reading the response failed after {} bytes: {err}",
                wire.len()
            ),
        }
    }
}

fn find_head_end(wire: &[u8]) -> Option<usize> {
    wire.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Splits a complete response at its blank line. Public so the support tests
/// can check it on canned bytes, without a server.
pub fn parse_response(wire: &[u8]) -> RawResponse {
    let head_end = find_head_end(wire).unwrap_or_else(|| {
        panic!(
            "response has no end of head (CRLF CRLF): {:?}",
            String::from_utf8_lossy(wire)
        )
    });
    let head = std::str::from_utf8(&wire[..head_end]).expect("response head is not UTF-8");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("malformed status line: {status_line:?}"));
    let headers = lines
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("malformed header line: {line:?}"));
            (
                name.to_string(),
                value.trim_matches([' ', '\t']).to_string(),
            )
        })
        .collect();
    RawResponse {
        status,
        status_line,
        headers,
        body: wire[head_end + 4..].to_vec(),
    }
}

/// Sends a GET and then reads nothing, so the server's socket buffers fill and
/// its writer blocks. The caller holds the stream open as long as the stall
/// should last; dropping it disconnects.
pub fn stalled_request(addr: SocketAddr, target: &str) -> TcpStream {
    let mut stream = connect(addr);
    stream
        .write_all(simple_request("GET", target).as_bytes())
        .expect("failed to write the stalled request");
    stream
}

/// Sends a GET, reads the head and then `body_bytes` bytes of the body as they
/// are on the wire (chunk framing included), and disconnects with the rest
/// unread, like a client that gives up mid-download. Returns the raw head
/// (status line and headers, without the blank line) and the body bytes read.
pub fn read_prefix_then_disconnect(
    addr: SocketAddr,
    target: &str,
    body_bytes: usize,
) -> (String, Vec<u8>) {
    let mut stream = connect(addr);
    stream
        .write_all(simple_request("GET", target).as_bytes())
        .expect("failed to write the request");
    let started = Instant::now();
    let mut wire = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let complete = find_head_end(&wire).filter(|&end| wire.len() >= end + 4 + body_bytes);
        if let Some(end) = complete {
            let head = String::from_utf8_lossy(&wire[..end]).into_owned();
            let body = wire[end + 4..end + 4 + body_bytes].to_vec();
            return (head, body); // dropping `stream` here is the disconnect
        }
        assert!(
            started.elapsed() < RESPONSE_DEADLINE,
            "did not receive {body_bytes} body bytes within {RESPONSE_DEADLINE:?}"
        );
        // Read no more than needed so the unread rest stays with the server.
        let want = match find_head_end(&wire) {
            Some(end) => (end + 4 + body_bytes - wire.len()).min(buf.len()),
            None => buf.len(),
        };
        match stream.read(&mut buf[..want]) {
            Ok(0) => panic!(
                "server closed after {} bytes, before {body_bytes} body bytes arrived",
                wire.len()
            ),
            Ok(n) => wire.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => panic!("reading the response prefix failed: {err}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Strict chunked decoding (RFC 9112 §7.1)
// ---------------------------------------------------------------------------

/// What was wrong with a chunked body, and at which byte offset of the wire.
/// Strict on purpose: anything our server never sends (extensions, trailers,
/// junk after the last chunk) is reported, because it would be a server bug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// A chunk-size line does not start with a hex digit (includes leading whitespace).
    BadSize { at: usize },
    /// The chunk size does not fit in `usize`.
    SizeOverflow { at: usize },
    /// A `;` after the size: chunk extensions are never sent by our server.
    ChunkExtension { at: usize },
    /// Something other than CRLF follows the size digits (e.g. whitespace, bare LF).
    MissingCrlfAfterSize { at: usize },
    /// The chunk's data is not followed by CRLF, e.g. the size overstates the data.
    MissingCrlfAfterData { at: usize },
    /// The wire ends inside a chunk: in its size line, data or closing CRLF.
    Truncated { at: usize },
    /// The wire ends cleanly between chunks without the zero-size last chunk.
    NoFinalChunk { at: usize },
    /// The last chunk `0\r\n` is not followed by exactly CRLF (trailers included:
    /// our server sends none).
    MissingFinalCrlf { at: usize },
    /// Bytes follow the end of the chunked body.
    TrailingBytes { at: usize },
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, at) = match *self {
            ChunkError::BadSize { at } => ("chunk size is not hex", at),
            ChunkError::SizeOverflow { at } => ("chunk size overflows usize", at),
            ChunkError::ChunkExtension { at } => ("chunk extension present", at),
            ChunkError::MissingCrlfAfterSize { at } => ("no CRLF after chunk size", at),
            ChunkError::MissingCrlfAfterData { at } => ("no CRLF after chunk data", at),
            ChunkError::Truncated { at } => ("wire ends inside a chunk", at),
            ChunkError::NoFinalChunk { at } => ("wire ends without the last chunk", at),
            ChunkError::MissingFinalCrlf { at } => ("no CRLF after the last chunk", at),
            ChunkError::TrailingBytes { at } => ("bytes after the end of the body", at),
        };
        write!(f, "{what} at byte {at}")
    }
}

/// Decodes a chunked body, rejecting any framing our server should not produce.
pub fn decode_chunked(wire: &[u8]) -> Result<Vec<u8>, ChunkError> {
    let mut body = Vec::new();
    walk_chunks(wire, |data| body.extend_from_slice(data))?;
    Ok(body)
}

/// The size of every data chunk in order (the final zero chunk excluded), so
/// tests can check that no chunk exceeds `--chunk-bytes`.
pub fn chunk_sizes(wire: &[u8]) -> Result<Vec<usize>, ChunkError> {
    let mut sizes = Vec::new();
    walk_chunks(wire, |data| sizes.push(data.len()))?;
    Ok(sizes)
}

/// The one parser behind both public functions, handing each chunk's data to
/// `on_data` so neither has to copy what it does not need.
fn walk_chunks(wire: &[u8], mut on_data: impl FnMut(&[u8])) -> Result<(), ChunkError> {
    let mut pos = 0;
    loop {
        if pos == wire.len() {
            return Err(ChunkError::NoFinalChunk { at: pos });
        }
        let size_start = pos;
        let mut size: usize = 0;
        while let Some(digit) = wire.get(pos).and_then(|&b| (b as char).to_digit(16)) {
            size = size
                .checked_mul(16)
                .and_then(|s| s.checked_add(digit as usize))
                .ok_or(ChunkError::SizeOverflow { at: size_start })?;
            pos += 1;
        }
        if pos == size_start {
            return Err(ChunkError::BadSize { at: pos });
        }
        match &wire[pos..] {
            [b'\r', b'\n', ..] => pos += 2,
            [] | [b'\r'] => return Err(ChunkError::Truncated { at: pos }),
            [b';', ..] => return Err(ChunkError::ChunkExtension { at: pos }),
            _ => return Err(ChunkError::MissingCrlfAfterSize { at: pos }),
        }

        if size == 0 {
            return match &wire[pos..] {
                [b'\r', b'\n'] => Ok(()),
                [b'\r', b'\n', ..] => Err(ChunkError::TrailingBytes { at: pos + 2 }),
                _ => Err(ChunkError::MissingFinalCrlf { at: pos }),
            };
        }

        let data_end = pos
            .checked_add(size)
            .filter(|&end| end <= wire.len())
            .ok_or(ChunkError::Truncated { at: wire.len() })?;
        on_data(&wire[pos..data_end]);
        pos = data_end;
        match &wire[pos..] {
            [b'\r', b'\n', ..] => pos += 2,
            [] | [b'\r'] => return Err(ChunkError::Truncated { at: pos }),
            _ => return Err(ChunkError::MissingCrlfAfterData { at: pos }),
        }
    }
}

// ---------------------------------------------------------------------------
// Reference CSV
// ---------------------------------------------------------------------------

/// The header line every export starts with.
pub const CSV_HEADER: &str = "id,created_at,customer,amount,status\n";
/// Seconds between consecutive rows' `created_at`.
const ROW_STEP_SECONDS: u64 = 37;
/// Every `YYYY-MM-DDTHH:MM:SSZ` is this long while years have four digits.
const TIMESTAMP_LEN: u64 = 20;

/// A UTC calendar time walked forward field by field with carries, the way one
/// would on paper, instead of converting from a day count: that keeps it
/// independent of whatever date arithmetic the server uses. Fields are public
/// so tests can start the walk at any date, e.g. a century leap rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarTime {
    /// Four digits in every row count the tests use.
    pub year: u64,
    /// 1..=12.
    pub month: u64,
    /// 1..=days in the month.
    pub day: u64,
    /// 0..=23.
    pub hour: u64,
    /// 0..=59.
    pub minute: u64,
    /// 0..=59; UTC has no leap seconds here.
    pub second: u64,
}

impl CalendarTime {
    /// The `created_at` of row 1.
    pub fn epoch() -> CalendarTime {
        CalendarTime {
            year: 2026,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
        }
    }

    /// Moves forward by `seconds`, carrying seconds into minutes, hours and
    /// days, then walking whole days month by month using the month table.
    pub fn advance(&mut self, seconds: u64) {
        let seconds = self.second + seconds;
        self.second = seconds % 60;
        let minutes = self.minute + seconds / 60;
        self.minute = minutes % 60;
        let hours = self.hour + minutes / 60;
        self.hour = hours % 24;
        let mut days = hours / 24;
        // Each pass either lands inside the current month or moves to the next
        // one, so this runs about days/30 times.
        while days > 0 {
            let left_in_month = days_in_month(self.year, self.month) - self.day;
            if days <= left_in_month {
                self.day += days;
                days = 0;
            } else {
                days -= left_in_month + 1;
                self.day = 1;
                self.month += 1;
                if self.month > 12 {
                    self.month = 1;
                    self.year += 1;
                }
            }
        }
    }
}

impl fmt::Display for CalendarTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Gregorian: every fourth year, except centuries, except every fourth century.
fn is_leap_year(year: u64) -> bool {
    match (year % 400, year % 100, year % 4) {
        (0, _, _) => true,
        (_, 0, _) => false,
        (_, _, 0) => true,
        _ => false,
    }
}

fn days_in_month(year: u64, month: u64) -> u64 {
    const DAYS: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if month == 2 && is_leap_year(year) {
        29
    } else {
        DAYS[(month - 1) as usize]
    }
}

fn customer_number(n: u64) -> u64 {
    n * 7919 % 100_000
}

fn amount_cents(n: u64) -> u64 {
    n * 104_729 % 1_000_000
}

fn status(n: u64) -> &'static str {
    match n % 4 {
        0 => "paid",
        1 => "pending",
        2 => "refunded",
        _ => "failed",
    }
}

fn format_row(n: u64, created_at: &CalendarTime) -> String {
    let cents = amount_cents(n);
    format!(
        "{n},{created_at},cust-{:05},{}.{:02},{}",
        customer_number(n),
        cents / 100,
        cents % 100,
        status(n)
    )
}

/// The data lines of a `rows`-row export, in order, each without its `\n`.
/// Lets tests compare a large export line by line without holding it twice.
pub struct ReferenceRows {
    next: u64,
    last: u64,
    clock: CalendarTime,
}

impl ReferenceRows {
    /// Rows 1..=rows.
    pub fn new(rows: u64) -> ReferenceRows {
        ReferenceRows {
            next: 1,
            last: rows,
            clock: CalendarTime::epoch(),
        }
    }
}

impl Iterator for ReferenceRows {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.next > self.last {
            return None;
        }
        let line = format_row(self.next, &self.clock);
        self.next += 1;
        self.clock.advance(ROW_STEP_SECONDS);
        Some(line)
    }
}

/// The exact bytes the export of `rows` rows must have, header included.
pub fn reference_csv(rows: u64) -> Vec<u8> {
    let mut out = Vec::from(CSV_HEADER);
    for line in ReferenceRows::new(rows) {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The data line for row `n` (1-based, without `\n`), found by one big calendar
/// jump rather than by walking every row, so it is quick for any `n`.
pub fn reference_line(n: u64) -> String {
    assert!(n >= 1, "rows are numbered from 1");
    let mut created_at = CalendarTime::epoch();
    created_at.advance((n - 1) * ROW_STEP_SECONDS);
    format_row(n, &created_at)
}

/// `reference_csv(rows).len()` without building the bytes, so tests can check
/// a Content-Length or byte count for millions of rows.
pub fn reference_csv_len(rows: u64) -> u64 {
    // Past ~7.9e9 rows the year gets a fifth digit and TIMESTAMP_LEN is wrong.
    assert!(
        rows < 1_000_000_000,
        "timestamps would outgrow four-digit years"
    );
    let mut len = CSV_HEADER.len() as u64;
    for n in 1..=rows {
        let amount = decimal_digits(amount_cents(n) / 100) + 3; // "units" + ".cc"
        let customer = 5 + 5; // "cust-" + five digits
        len += decimal_digits(n) + TIMESTAMP_LEN + customer + amount + status(n).len() as u64;
        len += 4 + 1; // four commas and the newline
    }
    len
}

fn decimal_digits(mut value: u64) -> u64 {
    let mut digits = 1;
    while value >= 10 {
        value /= 10;
        digits += 1;
    }
    digits
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/// One scrape of `/metrics`, read with the crate's own [`Scrape`], whose
/// lookups fail the test with the whole scrape shown.
#[derive(Debug, Clone)]
pub struct Metrics {
    text: String,
    scrape: Scrape,
}

impl Metrics {
    /// Parses exposition text; a malformed line fails the test.
    pub fn parse(text: &str) -> Metrics {
        match Scrape::parse(text) {
            Ok(scrape) => Metrics {
                text: text.to_string(),
                scrape,
            },
            Err(e) => panic!("/metrics does not parse: {e}:\n{text}"),
        }
    }

    /// The value of a series such as `backpressure_queued_bytes{mode="bounded"}`,
    /// if present. Labels must be written in the server's order.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.scrape.get(series)
    }

    /// Like `get`, but a missing series fails the test and shows the whole scrape.
    pub fn value(&self, series: &str) -> f64 {
        self.get(series)
            .unwrap_or_else(|| panic!("metric {series} not found in:\n{}", self.text))
    }

    /// The scrape as received, for assertions on HELP/TYPE lines.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Scrapes `/metrics`; `None` if the server turned the scrape away (at a
/// connection cap, a scrape is one more connection).
pub fn try_metrics(addr: SocketAddr) -> Option<Metrics> {
    let response = get(addr, "/metrics");
    (response.status == 200).then(|| Metrics::parse(&response.body_text()))
}

/// Scrapes `/metrics` and parses it, failing the test if the scrape is not 200.
pub fn metrics(addr: SocketAddr) -> Metrics {
    let response = get(addr, "/metrics");
    assert_eq!(response.status, 200, "GET /metrics failed: {response:?}");
    Metrics::parse(&response.body_text())
}

// ---------------------------------------------------------------------------
// Idle state
// ---------------------------------------------------------------------------

/// How long a server may take to settle back to idle.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How far live heap may differ from its idle value and still count as
/// idle. The probe itself moves it by a few bytes: the thread answering
/// `/metrics` is named `conn-N`, and N gains digits as the test polls. A
/// leaked chunk would be kilobytes, a leaked queue megabytes.
pub const HEAP_SLACK_BYTES: f64 = 64.0;

/// The process-level numbers that must come back after a client leaves.
#[derive(Debug)]
pub struct Idle {
    pub threads: f64,
    pub heap_bytes: f64,
    pub connections: f64,
}

impl PartialEq for Idle {
    fn eq(&self, other: &Idle) -> bool {
        self.threads == other.threads
            && self.connections == other.connections
            && (self.heap_bytes - other.heap_bytes).abs() <= HEAP_SLACK_BYTES
    }
}

impl Idle {
    pub fn of(m: &Metrics) -> Idle {
        Idle {
            threads: m.value("process_threads"),
            heap_bytes: m.value("backpressure_heap_bytes"),
            connections: m.value("backpressure_connections_active"),
        }
    }
}

/// A server that has served one small export in every mode, so that
/// anything std allocates once on first use (and keeps) is already live when
/// the idle baseline is read.
pub fn warmed_server(args: &[&str]) -> (Server, Idle) {
    warm(Server::start(args))
}

/// [`warmed_server`] for a server started some other way (with its log on,
/// say).
pub fn warm(server: Server) -> (Server, Idle) {
    for mode in ["buffer", "unbounded", "bounded", "pipeline"] {
        // With a small --max-connections, the previous warm-up connection
        // may still be closing: a 503 then, and another try.
        wait_until("a warm-up export", IDLE_TIMEOUT, || {
            let target = format!("/export.csv?rows=10&mode={mode}");
            match get(server.addr(), &target).status {
                200 => Some(()),
                503 => None,
                other => panic!("warm-up export answered {other}"),
            }
        });
    }
    // Wait until the warm-up connections' threads have ended. A connection
    // leaves the gauge a moment before its thread exits, so one probe can
    // still count the thread: two probes in a row must agree.
    let mut previous: Option<Idle> = None;
    let idle = wait_until("the warm-up connections to close", IDLE_TIMEOUT, || {
        // At a small connection cap the scrape may be turned away while
        // the warm-up connections close; that is one more poll.
        let now = Idle::of(&try_metrics(server.addr())?);
        let settled = now.connections == 1.0 && previous.as_ref() == Some(&now);
        previous = Some(now);
        if settled { previous.take() } else { None }
    });
    (server, idle)
}

/// Polls `/metrics` until the server is back at `idle` with nothing queued
/// in any mode, and returns that scrape; fails the test after
/// [`IDLE_TIMEOUT`], showing what was last seen.
pub fn back_to_idle(addr: SocketAddr, idle: &Idle, after: &str) -> Metrics {
    let mut last = String::new();
    let started = Instant::now();
    loop {
        let Some(m) = try_metrics(addr) else {
            assert!(
                started.elapsed() < IDLE_TIMEOUT,
                "/metrics still turned away after {after}"
            );
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        let now = Idle::of(&m);
        let queued: f64 = ["buffer", "unbounded", "bounded", "pipeline"]
            .iter()
            .map(|mode| m.value(&format!("backpressure_queued_bytes{{mode=\"{mode}\"}}")))
            .sum();
        // The budget must be whole again too: a charge never given back
        // would refuse every later buffered export.
        let budget_used = m.value("backpressure_buffer_budget_used_bytes");
        if now == *idle && queued == 0.0 && budget_used == 0.0 {
            return m;
        }
        assert!(
            started.elapsed() < IDLE_TIMEOUT,
            "not back to idle {idle:?} after {after}; last seen {last}"
        );
        last = format!("{now:?}, {queued} bytes queued, {budget_used} of the budget used");
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------

/// Polls `probe` every 50 ms until it returns `Some`, for states the server
/// reaches asynchronously (a writer blocking, a connection being counted).
/// Panics naming `what` if `timeout` passes first.
pub fn wait_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}
