//! `buffer`: render the whole body into memory, then send it with a
//! `Content-Length`.
//!
//! Row 1 of the lesson's table: **O(body) per connection**. The simplest
//! correct response, and the right one for small bodies: the client learns
//! the exact length up front, and a failure can still become an error status
//! because nothing is sent until the body exists. For a 400 MB export it
//! means 400 MB of heap per concurrent download, held for as long as the
//! slowest client takes to read it, which is why it is "small bodies only".
//!
//! Queued bytes: the whole body from the moment it is rendered, draining as
//! the socket accepts it.

use std::io::Write;

use super::{ExportError, ExportPlan, ExportResponse};
use crate::csv_rows::{self, CsvRows};
use crate::response::Status;

pub fn send<W: Write>(
    plan: &ExportPlan,
    response: ExportResponse<'_, W>,
) -> Result<(), ExportError> {
    let len = csv_rows::body_len(plan.rows);
    let mut body = Vec::new();
    // Ask for the memory before using it, so that a body the machine cannot
    // hold becomes a 503 that says so instead of an abort of the process.
    // (On Linux, overcommit means this rarely fails; a server must also cap
    // what it agrees to buffer.)
    let reserved = usize::try_from(len)
        .ok()
        .is_some_and(|len| body.try_reserve_exact(len).is_ok());
    if !reserved {
        let reason = format!("cannot buffer a {len}-byte export in memory; use mode=bounded");
        return Err(ExportError::Refused(Status::ServiceUnavailable, reason));
    }
    let capacity = body.capacity();
    CsvRows::new(plan.rows).fill(&mut body, capacity);
    debug_assert_eq!(
        body.len() as u64,
        len,
        "body_len agrees with the rendered body"
    );
    response.queued.produced(body.len());

    let mut out = response.start()?;
    out.write_all(&body)?;
    Ok(out.finish()?)
}
