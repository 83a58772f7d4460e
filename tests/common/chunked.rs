//! A strict chunked-body decoder (RFC 9112 §7.1) for the tests, written
//! apart from the server's own: anything the server never sends is an error.

use std::fmt;

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
