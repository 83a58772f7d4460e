//! Reading a request head from a client that controls how much it sends
//! and how slowly:
//!
//! - the whole head must arrive within a deadline counted from accept, so a
//!   client that trickles bytes (Slowloris) or sends nothing cannot hold a
//!   thread forever. Before every `read` the socket's timeout is set to the
//!   time that is *left*, so a client sending one byte a second gains
//!   nothing (a plain per-read timeout would restart with each byte);
//! - the head must fit in [`MAX_HEAD_BYTES`], in a buffer that grows from
//!   [`FIRST_HEAD_BUFFER_BYTES`] only as bytes arrive.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Instant;

use crate::http::request::{HeadError, MAX_HEAD_BYTES, head_end, oversized_head_error};

/// Size the head buffer starts at. It doubles as bytes arrive, up to
/// [`MAX_HEAD_BYTES`]: a typical head of a few hundred bytes costs 1 KiB,
/// and the limit is paid only by a client that sends that much. A buffer of
/// the full limit on every connection's stack would cost its 16 KiB of RSS
/// on every connection, whatever it sent.
const FIRST_HEAD_BUFFER_BYTES: usize = 1024;

/// Why reading a head stopped before a complete one arrived.
#[derive(Debug)]
pub enum ReadHeadError {
    /// The client closed the connection first; there is no one to answer.
    Closed,
    /// The deadline passed: answer 408.
    TimedOut,
    /// No end of head within [`MAX_HEAD_BYTES`]: answer 414 or 431.
    TooLarge(HeadError),
    /// The socket failed; there is no one to answer.
    Failed,
}

/// Reads until the blank line that ends a request head, and returns the head
/// (with its final CRLF CRLF), or stops at the first bare LF so that the
/// parser can reject it at once. Bytes after the head, if the client sent
/// any, are ignored: this server reads no request bodies and closes after
/// one response.
pub fn read_head<'b>(
    stream: &TcpStream,
    buf: &'b mut Vec<u8>,
    deadline: Instant,
) -> Result<&'b [u8], ReadHeadError> {
    buf.clear();
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            // Full: grow by doubling, never past the limit.
            let grown = (buf.len() * 2).clamp(FIRST_HEAD_BUFFER_BYTES, MAX_HEAD_BYTES);
            buf.reserve_exact(grown - buf.len());
            buf.resize(grown, 0);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadHeadError::TimedOut);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| ReadHeadError::Failed)?;
        let n = match (&*stream).read(&mut buf[filled..]) {
            Ok(0) => return Err(ReadHeadError::Closed),
            Ok(n) => n,
            Err(e) if super::is_timeout(&e) => return Err(ReadHeadError::TimedOut),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadHeadError::Failed),
        };
        if let Some(end) = head_end(buf, filled, filled + n) {
            return Ok(&buf[..end]);
        }
        filled += n;
        if filled == MAX_HEAD_BYTES {
            return Err(ReadHeadError::TooLarge(oversized_head_error(buf)));
        }
    }
}
