//! A raw HTTP/1.1 client for the tests: requests as bytes, responses split
//! at the end of their head and kept as they came off the wire, so tests
//! check framing instead of trusting a client library's repairs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::decode_chunked;

/// Longest silence tolerated on a socket: a hung server fails the test instead
/// of hanging it.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Cap on reading one whole response, so a server trickling bytes forever
/// cannot keep a test alive either.
const RESPONSE_DEADLINE: Duration = Duration::from_secs(300);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
