//! `buffer`: render the whole body into memory, then send it with a
//! `Content-Length`.
//!
//! Row 1 of the lesson's table: **O(body) per connection**. The simplest
//! correct response, and the right one for small bodies: the client learns
//! the exact length up front, and a failure can still become an error status
//! because nothing is sent until the body exists. For the 385 MB export it
//! means 385 MB of heap per concurrent download, held for as long as the
//! slowest client takes to read it, which is why it is "small bodies only".
//!
//! Queued bytes: the whole body from the moment its memory is reserved,
//! draining as the socket accepts it. It is the one strategy that can refuse
//! up front: a body over `--max-buffered-bytes`, or over what is left of
//! `--max-buffered-total`, gets a 503 before any of it exists.

use std::io::Write;

use super::{ExportError, ExportResponse};
use crate::export::csv_rows::{self, CsvRows};
use crate::http::response::{Framing, Status};

pub fn send<W: Write>(response: ExportResponse<'_, W>) -> Result<(), ExportError> {
    let rows = response.plan.rows;
    let unavailable = |reason| Err(ExportError::Refused(Status::ServiceUnavailable, reason));
    // `Mode::framing` computed the exact length for the Content-Length.
    let len = match response.framing() {
        Framing::ContentLength(len) => len,
        _ => csv_rows::body_len(rows),
    };
    // The size is known before a byte is made, so the caps are checked
    // before any memory is taken: a body over them is refused with a 503
    // that says why, not discovered halfway through building it.
    let Ok(len_in_memory) = usize::try_from(len) else {
        return unavailable(format!("cannot buffer a {len}-byte export on this machine"));
    };
    if let Err(over) = response.queued.try_produce(len_in_memory) {
        return unavailable(over.to_string());
    }
    // Then ask for the memory before using it, so that a body the machine
    // cannot hold becomes a 503 instead of an abort of the process. (On
    // Linux, overcommit means this rarely fails, which is why the caps
    // above exist.)
    let mut body = Vec::new();
    if body.try_reserve_exact(len_in_memory).is_err() {
        let reason = format!("cannot buffer a {len}-byte export in memory; use mode=bounded");
        return unavailable(reason);
    }
    let capacity = body.capacity();
    CsvRows::new(rows).fill(&mut body, capacity);
    // A Content-Length that disagrees with the body would corrupt the
    // response; this is the last moment an error status can still be sent.
    let rendered = body.len() as u64;
    if rendered != len {
        let reason = format!("internal error: rendered {rendered} bytes, expected {len}");
        return Err(ExportError::Refused(Status::InternalServerError, reason));
    }

    let mut out = response.start()?;
    out.write_all(&body)?;
    Ok(out.finish()?)
}
