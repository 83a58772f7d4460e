//! A fast client, and the ceiling it is measured against: one export read
//! to the end as fast as the client can, into one reusable buffer that
//! keeps nothing, so that every figure is what the server side costs; and
//! the same bytes, pre-rendered, written to a socket by a plain listener
//! thread, which no server can beat.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use backpressure::CsvRows;

use super::connect;

/// The client's one read buffer, reused for every read and every download.
pub const CLIENT_BUFFER_BYTES: usize = 256 * 1024;
/// Longest one download may take, from connect to the end of the body: the
/// largest any benchmark asks for, 385 MB, takes under a second at the
/// speeds in `docs/benchmarks.md`, so a download still going after this is
/// a stuck server, and every loop of downloads is bounded in time as well
/// as in count. (Each read is bounded by `IO_TIMEOUT` too.)
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// How a response this client accepts begins.
const STATUS_200: &[u8] = b"HTTP/1.1 200 ";

/// Sends `request`, reads the response to the end, and returns its size
/// (head and framing included). A response that is not a 200 is an error,
/// and so is one whose framing says it was cut ([`whole`]): a timing of a
/// body short of its end would be a timing of less than the body.
pub fn download(addr: SocketAddr, request: &str, buffer: &mut [u8]) -> Result<u64, String> {
    download_watched(addr, request, buffer, |_| Ok(()))
}

/// [`download`], calling `after_read` with the bytes received so far after
/// every read: how `cpu_per_byte` reads the server's threads mid-download.
/// An error from it ends the download.
pub fn download_watched(
    addr: SocketAddr,
    request: &str,
    buffer: &mut [u8],
    after_read: impl FnMut(u64) -> Result<(), String>,
) -> Result<u64, String> {
    let mut stream = connect(addr)?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending the request: {e}"))?;
    let (received, tail) = read_to_end_counting(&mut stream, buffer, after_read)?;
    // Only this response's own first bytes count: the buffer still holds
    // the previous download's, which began with a 200 too.
    let front = &buffer[..buffer.len().min(received as usize).min(KEPT_AT_FRONT)];
    if !front.starts_with(STATUS_200) {
        let head = String::from_utf8_lossy(&front[..front.len().min(200)]);
        return Err(format!("not a 200: {head:?}"));
    }
    whole(front, &tail, received)?;
    Ok(received)
}

/// Bytes kept at the front of the buffer: the whole head of any response
/// this server sends (about 200 bytes), so that its framing can be read,
/// and at most a small part of the buffer.
const KEPT_AT_FRONT: usize = 1024;
/// The last chunk of a chunked body with no trailers: how one ends whole.
const LAST_CHUNK: &[u8; 5] = b"0\r\n\r\n";

/// Whether a response of `received` bytes, beginning with `front` and
/// ending with `tail`, ended as its framing says a whole one does: with
/// the `Content-Length` its head gave, or with chunked's last chunk.
pub fn whole(front: &[u8], tail: &[u8], received: u64) -> Result<(), String> {
    let head_len = front
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
        .ok_or("no end of the head in its first bytes")?;
    let head = String::from_utf8_lossy(&front[..head_len]).to_ascii_lowercase();
    let field = |name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    if let Some(length) = field("content-length") {
        let length: u64 = length
            .parse()
            .map_err(|_| format!("content-length {length:?}"))?;
        return match received == head_len as u64 + length {
            true => Ok(()),
            false => Err(format!(
                "{received} bytes, not the head's {head_len} and {length}"
            )),
        };
    }
    match (field("transfer-encoding"), tail == LAST_CHUNK) {
        (Some("chunked"), true) => Ok(()),
        (Some("chunked"), false) => Err(format!("{received} bytes, without the last chunk")),
        _ => Err("neither a content-length nor chunked: no way to tell a whole body".into()),
    }
}

/// The server's largest write: `DeadlineWriter` hands the socket at most
/// this much per call, whatever the chunk size.
pub const SERVER_WRITE_BYTES: usize = backpressure::MAX_WRITE_BYTES;

/// The ceiling: a listener whose thread writes a pre-rendered body to each
/// connection, as fast as a socket takes it.
pub struct RawCopy {
    /// Where [`RawCopy::once`] connects; its thread accepts one at a time.
    listener: Arc<TcpListener>,
    /// The export's bytes, rendered before any timing starts.
    body: Arc<Vec<u8>>,
    /// Bytes per `write` call; `None` writes the whole body in one call,
    /// which the kernel takes in as large pieces as it likes.
    write_bytes: Option<usize>,
}

impl RawCopy {
    /// Renders `rows` and listens on a free loopback port; each copy writes
    /// `write_bytes` per call, or the whole body in one.
    pub fn new(rows: u64, write_bytes: Option<usize>) -> Result<RawCopy, String> {
        let mut body = Vec::new();
        CsvRows::new(rows).fill(&mut body, usize::MAX);
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("cannot listen for the raw copy: {e}"))?;
        Ok(RawCopy {
            listener: Arc::new(listener),
            body: Arc::new(body),
            write_bytes,
        })
    }

    /// The body's length: what one copy delivers.
    pub fn len(&self) -> u64 {
        self.body.len() as u64
    }

    /// One connection to a listener thread that writes the body and closes;
    /// returns the bytes received.
    pub fn once(&self, buffer: &mut [u8]) -> Result<u64, String> {
        let addr = self
            .listener
            .local_addr()
            .map_err(|e| format!("listener address: {e}"))?;
        // Connect first: the connection waits in the backlog, so the
        // thread's accept returns at once and cannot hang.
        let mut stream = connect(addr)?;
        let (listener, body) = (Arc::clone(&self.listener), Arc::clone(&self.body));
        let piece = self.write_bytes.unwrap_or(body.len()).max(1);
        let writer = thread::spawn(move || {
            let (mut socket, _) = (listener.accept()).map_err(|e| format!("accepting: {e}"))?;
            (body
                .chunks(piece)
                .try_for_each(|part| socket.write_all(part)))
            .map_err(|e| format!("writing the body: {e}"))
        });
        // A raw copy has no head to frame it: whole if its writer wrote it all.
        let received = read_to_end_counting(&mut stream, buffer, |_| Ok(())).map(|(n, _)| n);
        // Closing our end first makes a writer still blocked (if we stopped
        // early) fail, so the join cannot hang.
        drop(stream);
        let written = (writer.join()).unwrap_or_else(|_| Err("it panicked".to_string()));
        // Both sides' errors: a read that stopped early also fails the write.
        match (received, written) {
            (Ok(received), Ok(())) => Ok(received),
            (Ok(_), Err(w)) => Err(format!("the raw copy's writer: {w}")),
            (Err(r), Ok(())) => Err(r),
            (Err(r), Err(w)) => Err(format!("{r} (the raw copy's writer: {w})")),
        }
    }
}

/// Reads until end of stream into `buffer`, returning how many bytes
/// arrived and the last few of them (up to [`LAST_CHUNK`]'s length, for
/// [`whole`]), within [`DOWNLOAD_TIMEOUT`]; `after_read` is called with the
/// running total after every read. The response's first bytes stay at the
/// front of `buffer`, for the caller to check the status line; later reads
/// overwrite the rest.
pub fn read_to_end_counting(
    stream: &mut impl Read,
    buffer: &mut [u8],
    mut after_read: impl FnMut(u64) -> Result<(), String>,
) -> Result<(u64, Vec<u8>), String> {
    let started = Instant::now();
    let (mut total, mut kept) = (0u64, 0usize);
    // The last bytes read, across reads, for the framing's end.
    let mut tail: Vec<u8> = Vec::with_capacity(2 * LAST_CHUNK.len());
    loop {
        match stream.read(&mut buffer[kept..]) {
            Ok(0) => return Ok((total, tail)),
            Ok(n) => {
                total += n as u64;
                let read = &buffer[kept..kept + n];
                tail.extend_from_slice(&read[read.len().saturating_sub(LAST_CHUNK.len())..]);
                tail.drain(..tail.len().saturating_sub(LAST_CHUNK.len()));
                kept = (kept + n).min(KEPT_AT_FRONT);
                after_read(total)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading after {total} bytes: {e}")),
        }
        if started.elapsed() > DOWNLOAD_TIMEOUT {
            return Err(format!(
                "{total} bytes in {DOWNLOAD_TIMEOUT:?}, and the body not yet ended"
            ));
        }
    }
}
