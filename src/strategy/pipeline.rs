//! `pipeline`: `std::io::copy` from a row reader into the socket, on the
//! connection's own thread. **Correct, and the simplest.**
//!
//! Row 4 of the lesson's table: **memory flat, one buffer**. There is no
//! producer thread and no channel: `io::copy` reads a buffer's worth of rows,
//! writes it, and only then reads more. When the client is slow the `write`
//! blocks, and because reading and writing take turns on one thread, the
//! blocked write *is* the backpressure: no rows are rendered while it waits.
//! This is the std counterpart of Node's `stream.pipeline()`.
//!
//! The one buffer is `io::copy`'s own [`PIPELINE_BUFFER_BYTES`] on the stack.
//! HTTP chunks are at most `min(chunk_bytes, PIPELINE_BUFFER_BYTES)`, since
//! each `io::copy` write becomes one or more chunks.
//!
//! Use this shape unless the producer really must run on its own thread.

use std::io::{self, Read, Write};

use super::QueuedBytes;
use super::{ExportError, ExportResponse};
use crate::export::csv_rows::CsvRows;

/// The buffer `io::copy` uses between a reader and a writer that are not
/// themselves buffered (std's `DEFAULT_BUF_SIZE`, 8 KiB on every platform
/// std supports today). The pipeline never holds more body bytes than this.
pub const PIPELINE_BUFFER_BYTES: usize = 8 * 1024;

pub fn send<W: Write>(response: ExportResponse<'_, W>) -> Result<(), ExportError> {
    let mut rows = CountedRows {
        rows: CsvRows::new(response.plan.rows),
        queued: response.queued,
    };
    let mut body = response.start()?;
    io::copy(&mut rows, &mut body)?;
    Ok(body.finish()?)
}

/// The row reader, reporting what it hands to `io::copy` as produced.
struct CountedRows<'q> {
    /// The export's bytes, rendered as `io::copy` asks for them.
    rows: CsvRows,
    /// Told about every byte `read` returns: it is now in `io::copy`'s buffer.
    queued: &'q QueuedBytes,
}

impl Read for CountedRows<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rows.read(buf)?;
        self.queued.produced(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::Mode;
    use crate::http::response::Framing;
    use crate::strategy::BodyWriter;

    /// Records the largest buffer `io::copy` ever offers the reader.
    struct LargestRead<R> {
        inner: R,
        largest: usize,
    }

    impl<R: Read> Read for LargestRead<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.largest = self.largest.max(buf.len());
            self.inner.read(buf)
        }
    }

    /// `PIPELINE_BUFFER_BYTES` restates a private detail of std. If a new
    /// std changes `io::copy`'s buffer, this fails and the documented bound
    /// must change with it.
    #[test]
    fn io_copy_uses_one_buffer_of_the_documented_size() {
        let queued = QueuedBytes::new(Mode::Pipeline);
        let mut rows = LargestRead {
            inner: CsvRows::new(10_000),
            largest: 0,
        };
        let mut wire = Vec::new();
        let mut body = BodyWriter::new(&mut wire, Framing::CloseDelimited, 1 << 20, &queued);
        io::copy(&mut rows, &mut body).unwrap();
        assert_eq!(rows.largest, PIPELINE_BUFFER_BYTES);
    }
}
