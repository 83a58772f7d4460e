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
//!
//! The render is the long part, and no write happens during it to say
//! that the client is gone (an HTTP/2 stream reset) or that the shutdown
//! has cut the response at its drain timeout: so it goes
//! [`RENDER_SLICE_BYTES`] at a time, and between slices asks whether the
//! response is still wanted. If not, it stops: the body is freed and its
//! budget given back with the response, as for any response cut short.

use std::io::Write;

use super::{ExportError, ExportResponse, Wire};
use crate::export::csv_rows::{self, CsvRows};
use crate::http::response::{Framing, Status};

/// Body bytes rendered between two looks at whether the response is still
/// wanted: a cancelled or cut render stops within one slice, well under a
/// millisecond of rendering in a release build (rows render at a few GB/s:
/// `docs/benchmarks.md`), instead of going on for up to
/// `--max-buffered-bytes`. The look is an atomic load, and a lock over
/// HTTP/2: per slice, never per row, so the hot loop keeps its speed. A
/// real service would size it to how late a stop may be.
pub const RENDER_SLICE_BYTES: usize = 1024 * 1024;

pub fn send<W: Wire>(mut response: ExportResponse<'_, W>) -> Result<(), ExportError> {
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
    // Slices of one stream of rows: the same bytes as one `fill` of the
    // whole capacity, which the length check below holds it to.
    let mut csv = CsvRows::new(rows);
    while body.len() < capacity && !csv.is_done() {
        response.still_wanted()?;
        let slice_end = body.len().saturating_add(RENDER_SLICE_BYTES);
        csv.fill(&mut body, slice_end.min(capacity));
    }
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

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::defense::buffer_caps::{BufferBudget, BufferLimit};
    use crate::export::Mode;
    use crate::http::request::Version;
    use crate::http::response::ResponseHead;
    use crate::strategy::testing::BufferAddresses;
    use crate::strategy::{ExportPlan, Http1, QueuedBytes, framing};
    use crate::test_support::within;

    /// A plan for `rows` in `buffer`: the chunk size does not matter to it.
    fn plan(rows: u64) -> ExportPlan {
        ExportPlan {
            rows,
            mode: Mode::Buffer,
            chunk_bytes: 4096,
            channel_depth: 0,
        }
    }

    fn head(rows: u64) -> ResponseHead {
        ResponseHead::new(Status::Ok, framing(Mode::Buffer, rows, Version::Http11))
    }

    /// Rendered a slice at a time, lines cut at every slice's end, the
    /// body is byte for byte the one rendered in one go.
    #[test]
    fn a_body_rendered_in_slices_is_the_body_rendered_whole() {
        within(|| {
            let rows = 70_000; // about 3.7 MB: four slices
            let mut whole = Vec::new();
            CsvRows::new(rows).fill(&mut whole, usize::MAX);
            assert!(whole.len() > 3 * RENDER_SLICE_BYTES);
            let queued = QueuedBytes::new(Mode::Buffer);
            let mut out = BufferAddresses::default();
            let (plan, head) = (plan(rows), head(rows));
            let result = send(ExportResponse::new(Http1(&mut out), head, &plan, &queued));
            assert!(result.is_ok(), "{result:?}");
            let (got, expected) = (out.body.len(), whole.len());
            assert!(out.body == whole, "{got} bytes of {expected}");
        });
    }

    /// Which cap refuses the body decides whether asking again can help: a
    /// body over the per-response cap or over the whole budget gets a 400,
    /// and only one that waits for budget others hold a 503. Refused before
    /// its head, and before its memory: no byte written, nothing charged.
    #[test]
    fn a_body_no_retry_can_fit_is_a_400_and_one_held_out_by_others_a_503() {
        within(|| {
            let rows = 1000;
            let len = csv_rows::body_len(rows);
            let (plenty, bad, busy) = (1 << 30, Status::BadRequest, Status::ServiceUnavailable);
            // (per-response cap, whole budget, held by others, answer)
            for (cap, total, held, status) in [
                (len - 1, plenty, 0, bad),
                (plenty, len - 1, 0, bad),
                (plenty, len, 1, busy),
            ] {
                let budget = Arc::new(BufferBudget::new(total));
                assert!(budget.try_take(held));
                let limit = BufferLimit {
                    per_response: cap,
                    budget: Arc::clone(&budget),
                };
                let queued = QueuedBytes::capped(Mode::Buffer, limit);
                let mut out = BufferAddresses::default();
                let (plan, head) = (plan(rows), head(rows));
                let result = send(ExportResponse::new(Http1(&mut out), head, &plan, &queued));
                let Err(ExportError::Refused(answer, reason)) = result else {
                    panic!("cap {cap}, budget {total}: {result:?}");
                };
                assert_eq!(answer, status, "{reason}");
                assert!(out.head.is_empty() && out.body.is_empty(), "{reason}");
                drop(queued);
                assert_eq!(budget.used(), held, "{reason}");
            }
        });
    }

    /// A wire whose client leaves after `looks` looks, during the render:
    /// from then on it fails as a reset HTTP/2 stream does.
    struct LeavesDuringTheRender {
        looks: usize,
        looked: usize,
        written: usize,
    }

    impl io::Write for LeavesDuringTheRender {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Wire for LeavesDuringTheRender {
        fn send_head(&mut self, _: &ResponseHead) -> io::Result<()> {
            self.write(b"head").map(drop)
        }
        fn end_body(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn still_wanted(&mut self) -> io::Result<()> {
            self.looked += 1;
            if self.looked > self.looks {
                return Err(io::ErrorKind::ConnectionAborted.into());
            }
            Ok(())
        }
    }

    /// A render nobody will read stops at the next slice: no head, no byte
    /// written, and its whole charge back in the budget once the response
    /// is dropped, as the server drops it.
    #[test]
    fn a_render_nobody_will_read_stops_at_the_next_slice() {
        within(|| {
            let rows = 70_000;
            let budget = Arc::new(BufferBudget::new(1 << 30));
            let limit = BufferLimit {
                per_response: 1 << 30,
                budget: Arc::clone(&budget),
            };
            let queued = QueuedBytes::capped(Mode::Buffer, limit);
            let mut wire = LeavesDuringTheRender {
                looks: 2,
                looked: 0,
                written: 0,
            };
            let (plan, head) = (plan(rows), head(rows));
            let result = send(ExportResponse::new(&mut wire, head, &plan, &queued));
            let error = match result {
                Err(ExportError::HeadNotSent(error)) => error,
                other => panic!("{other:?}"),
            };
            assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted);
            // Two slices rendered, the third never begun.
            assert_eq!((wire.looked, wire.written), (3, 0));
            assert_eq!(queued.sent_bytes(), 0);
            drop(queued);
            assert_eq!(budget.used(), 0);
        });
    }

    /// The shutdown's cut, which no wire can see before it writes, stops a
    /// render at the next slice too, with no head and no byte written.
    #[test]
    fn a_render_the_shutdown_cuts_stops_at_the_next_slice() {
        within(|| {
            let rows = 70_000;
            let looks = AtomicUsize::new(0);
            // Cut after the first slice.
            let cutting = || looks.fetch_add(1, Ordering::Relaxed) >= 1;
            let queued = QueuedBytes::new(Mode::Buffer);
            let mut out = BufferAddresses::default();
            let (plan, head) = (plan(rows), head(rows));
            let response = ExportResponse::new(Http1(&mut out), head, &plan, &queued)
                .with_shutdown_cutting(&cutting);
            let result = send(response);
            assert!(
                matches!(result, Err(ExportError::HeadNotSent(_))),
                "{result:?}"
            );
            assert_eq!(looks.load(Ordering::Relaxed), 2);
            assert!(out.head.is_empty() && out.body.is_empty());
        });
    }
}
