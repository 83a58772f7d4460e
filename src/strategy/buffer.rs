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
//! Queued bytes: the whole body from the moment the caps let it be
//! buffered, just before its memory is reserved, draining as the socket
//! accepts it. It is the one strategy that can refuse
//! up front, before any of the body exists, and the refusal says whether
//! asking again can help:
//!
//! - a body over `--max-buffered-bytes` gets a **400**: the same request
//!   will be over the same cap every time, so a 503, which clients and load
//!   balancers retry, would only invite retries that cannot succeed. It is
//!   the answer to `rows` over `--max-rows` too: a request this server's
//!   configuration never allows, with a reason naming the way out;
//! - a body over the whole `--max-buffered-total` gets a **400** too: no
//!   retry makes room for it;
//! - a body over what is left of `--max-buffered-total`, or memory the
//!   allocator refuses, gets a **503**, which the route sends with
//!   `Retry-After`: other responses give the budget back as they drain.

use std::io::Write;

use super::{ExportError, ExportResponse, Wire};
use crate::export::csv_rows::{self, CsvRows};
use crate::http::response::{Framing, Status};

pub fn send<W: Wire>(response: ExportResponse<'_, W>) -> Result<(), ExportError> {
    let rows = response.plan.rows;
    // `strategy::framing` computed the exact length for the Content-Length.
    let len = match response.framing() {
        Framing::ContentLength(len) => len,
        _ => csv_rows::body_len(rows),
    };
    // The size is known before a byte is made, so the caps are checked
    // before any memory is taken: a body over them is refused with a status
    // and a reason, not discovered halfway through building it.
    let Ok(len_in_memory) = usize::try_from(len) else {
        let reason = format!(
            "cannot buffer a {len}-byte export on this machine; use mode=bounded or fewer rows"
        );
        return Err(ExportError::Refused(Status::BadRequest, reason));
    };
    response
        .queued
        .try_produce(len_in_memory)
        .map_err(ExportError::refused)?;
    // Then ask for the memory before using it, so that a body the machine
    // cannot hold now becomes a 503 instead of an abort of the process. (On
    // Linux, overcommit means this rarely fails, which is why the caps
    // above exist.)
    let mut body = Vec::new();
    if body.try_reserve_exact(len_in_memory).is_err() {
        let reason = format!("cannot buffer a {len}-byte export in memory; use mode=bounded");
        return Err(ExportError::Refused(Status::ServiceUnavailable, reason));
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
