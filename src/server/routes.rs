//! What each path answers, and the export wired to its strategy: the
//! only place that knows both the HTTP surface and the four strategies.
//!
//! | request                  | answer                                              |
//! |--------------------------|-----------------------------------------------------|
//! | `GET /export.csv?rows=&mode=` | the CSV, sent by the strategy `mode` names     |
//! | `GET /metrics`           | the Prometheus text of [`crate::measure::metrics`]  |
//! | `GET /healthz`           | `ok`                                                |
//! | `GET /`                  | what the server demonstrates, with curl examples    |
//! | `HEAD` of any of them    | the same head, no body                              |
//! | another path             | 404; a method HTTP defines but we do not allow: 405; one we do not know: 501 |

use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

use super::Shared;
use super::config::ServerConfig;
use crate::defense::buffer_caps::{BufferLimit, OverLimit};
use crate::defense::send_deadline::{DeadlineWriter, MinDataRate, TooSlow};
use crate::export::Mode;
use crate::http::query::{self, parse_export_query};
use crate::http::request::{Method, Request, Version};
use crate::http::response::{self, ResponseHead, Status, TEXT_PLAIN};
use crate::measure::access_log::{End, Outcome};
use crate::measure::clock;
use crate::measure::metrics::{METRICS, Readings};
use crate::measure::proc_status::ProcStatus;
use crate::strategy::{self, ExportError, ExportPlan, ExportResponse, QueuedBytes};
use crate::sys;

/// `Content-Type` of an export.
const CSV: &str = "text/csv; charset=utf-8";
/// `Content-Type` of `/metrics`: the Prometheus text format, version 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Retry-After` on every 503 sent here: each is transient (the buffer
/// budget used up by other responses, memory refused for a moment), and a
/// second is the connection cap's answer too. A real service would set it
/// from how long its responses hold what ran out.
const RETRY_AFTER_SECONDS: u32 = 1;

/// Answers a request whose head parsed.
pub(super) fn respond(stream: &TcpStream, request: &Request<'_>, shared: &Shared) -> Outcome {
    let (config, budget) = (&shared.config, &shared.budget);
    let head_only = match request.method {
        Method::Get => false,
        Method::Head => true,
        Method::NotAllowed => {
            let body = b"method not allowed: use GET or HEAD\n";
            let head = response::small_head(Status::MethodNotAllowed, TEXT_PLAIN, body)
                .header("Allow", "GET, HEAD");
            return reply(stream, None, head, body, false);
        }
        Method::Unknown => {
            let reason = "unknown method: this server implements GET and HEAD";
            return reply_error(stream, None, Status::NotImplemented, reason, false);
        }
    };
    match request.path {
        b"/export.csv" => export(stream, request, shared, head_only),
        b"/metrics" => {
            let body = METRICS.render(&Readings {
                process: ProcStatus::of_self(),
                budget_used_bytes: budget.used(),
                budget_limit_bytes: budget.limit(),
                notsent_lowat_bytes: config.notsent_lowat.map_or(0, u64::from),
            });
            let head = response::small_head(Status::Ok, PROMETHEUS_TEXT, body.as_bytes());
            reply(stream, None, head, body.as_bytes(), head_only)
        }
        b"/healthz" => {
            let head = response::small_head(Status::Ok, TEXT_PLAIN, b"ok\n");
            reply(stream, None, head, b"ok\n", head_only)
        }
        b"/" => {
            let body = index_page(stream, config);
            let head = response::small_head(Status::Ok, TEXT_PLAIN, body.as_bytes());
            reply(stream, None, head, body.as_bytes(), head_only)
        }
        _ => {
            let reason = "no such path: see / for the endpoints";
            reply_error(stream, None, Status::NotFound, reason, head_only)
        }
    }
}

fn export(stream: &TcpStream, request: &Request<'_>, shared: &Shared, head_only: bool) -> Outcome {
    let config = &shared.config;
    let query = match parse_export_query(request.query.unwrap_or_default(), config.max_rows) {
        Ok(query) => query,
        Err(reason) => return reply_error(stream, None, Status::BadRequest, &reason, head_only),
    };
    let plan = ExportPlan {
        rows: query.rows,
        mode: query.mode,
        chunk_bytes: config.chunk_bytes,
        channel_depth: config.channel_depth,
    };
    let framing = strategy::framing(plan.mode, plan.rows, request.version == Version::Http10);

    let head = ResponseHead::new(Status::Ok, framing)
        .header("Content-Type", CSV)
        .header("Content-Disposition", "attachment; filename=\"export.csv\"");
    if head_only {
        // The head a GET would get, and no body: nothing is produced. (A GET
        // can still be refused if its body cannot be buffered; HEAD cannot
        // know that without trying.)
        return reply(stream, Some(plan.mode), head, b"", true);
    }

    // The strategies that can run ahead of the client are held to the
    // buffering caps; the flat ones are bounded by construction.
    let queued = if plan.mode.is_flat() {
        QueuedBytes::new(plan.mode)
    } else {
        let limit = BufferLimit {
            per_response: config.max_buffered_bytes,
            budget: Arc::clone(&shared.budget),
        };
        QueuedBytes::capped(plan.mode, limit)
    };
    let min_rate = MinDataRate {
        bytes_per_second: config.min_rate,
        grace: config.rate_grace,
    };
    let out = DeadlineWriter::new(stream, config.send_timeout, min_rate);
    // Shutting down both directions fails a write blocked in another thread
    // at once; with the reset armed first, what the kernel still holds is
    // dropped instead of sent.
    let cancel = || {
        let _ = sys::reset_on_close(stream);
        let _ = stream.shutdown(Shutdown::Both);
    };
    let response = ExportResponse::new(out, head, &plan, &queued).with_cancel(&cancel);
    let end = match strategy::send(response) {
        Ok(()) => End::Complete,
        Err(ExportError::Refused(status, reason)) => {
            return reply_error(stream, Some(plan.mode), status, &reason, false);
        }
        // The shutdown's cut fails the write as a client's reset would.
        Err(ExportError::WriteFailed(_)) if shared.connections.cutting() => End::DrainTimeout,
        Err(ExportError::WriteFailed(e)) => match TooSlow::of(&e) {
            Some(TooSlow::SendTimeout) => End::SendTimeout,
            Some(TooSlow::MinRate) => End::MinRate,
            None => End::ClientAbort,
        },
        Err(ExportError::OverLimit(OverLimit::Response { .. })) => End::BufferCap,
        Err(ExportError::OverLimit(OverLimit::Process { .. })) => End::BufferBudget,
        Err(ExportError::ProducerFailed) => {
            // The producer's panic message is already on stderr.
            METRICS.panicked();
            End::ProducerFailed
        }
    };
    METRICS.aborted(plan.mode, end);
    Outcome {
        status: Some(Status::Ok),
        mode: Some(plan.mode),
        body_bytes: queued.sent_bytes(),
        end,
    }
}

/// Sends a small complete response and counts it.
fn reply(
    stream: &TcpStream,
    mode: Option<Mode>,
    head: ResponseHead,
    body: &[u8],
    head_only: bool,
) -> Outcome {
    let status = head.status();
    match response::write_small(stream, head, body, head_only, clock::now_unix_seconds()) {
        Ok(()) => {
            METRICS.responded(mode, status);
            Outcome {
                status: Some(status),
                mode,
                body_bytes: if head_only { 0 } else { body.len() as u64 },
                end: End::Complete,
            }
        }
        Err(_) => Outcome {
            mode,
            ..Outcome::ended(End::ClientAbort)
        },
    }
}

/// Sends `status` with a plain-text body: the one-line `reason`. A 503
/// says when to try again; a 4xx does not, since trying again cannot help.
pub fn reply_error(
    stream: &TcpStream,
    mode: Option<Mode>,
    status: Status,
    reason: &str,
    head_only: bool,
) -> Outcome {
    let body = format!("{reason}\n");
    let mut head = response::small_head(status, TEXT_PLAIN, body.as_bytes());
    if status == Status::ServiceUnavailable {
        head = head.header("Retry-After", RETRY_AFTER_SECONDS.to_string());
    }
    reply(stream, mode, head, body.as_bytes(), head_only)
}

/// `GET /`: what this server demonstrates, its endpoints and modes, with
/// curl commands that work as printed (they use our own listening address).
fn index_page(stream: &TcpStream, config: &ServerConfig) -> String {
    let addr = stream
        .local_addr()
        .map_or_else(|_| "127.0.0.1:8080".to_string(), |a| a.to_string());
    let (chunk, depth) = (config.chunk_bytes, config.channel_depth);
    let bound = (depth + 2) * chunk;
    format!(
        "backpressure: a CSV export server showing that a streamed response is done\n\
         when its bytes drain, not when the handler returns.\n\
         \n\
         GET /export.csv?rows=N&mode=M   the export; rows 0..={max_rows}, default {default_rows}\n\
         \x20   mode=buffer      whole body in memory, then Content-Length   O(body) per connection\n\
         \x20   mode=unbounded   producer -> mpsc::channel() -> writer        grows without bound (the bug)\n\
         \x20   mode=bounded     producer -> sync_channel({depth}) -> writer        flat: <= {bound} bytes (default)\n\
         \x20   mode=pipeline    render, write, repeat on one thread         flat: <= {chunk} bytes, one buffer\n\
         GET /metrics      Prometheus text: queued bytes per mode, live heap, RSS, threads\n\
         GET /healthz      liveness: ok\n\
         \n\
         buffer and unbounded are capped at {per_response} bytes per response and\n\
         {total} bytes in all (--max-buffered-bytes, --max-buffered-total): past\n\
         that, buffer answers 400 (503 while others hold the total) and unbounded\n\
         is cut short. At most {max_connections} connections are served at once;\n\
         the rest get 503.\n\
         \n\
         Try a slow client, then look at the queue:\n\
         \x20   curl --limit-rate 200k -o /dev/null 'http://{addr}/export.csv?rows=7000000&mode=unbounded'\n\
         \x20   curl -s http://{addr}/metrics | grep -E 'queued|resident'\n\
         and again with mode=bounded. A quick look at the data:\n\
         \x20   curl -s 'http://{addr}/export.csv?rows=1000000' | tail -n 1\n",
        max_rows = config.max_rows,
        per_response = config.max_buffered_bytes,
        total = config.max_buffered_total,
        max_connections = config.max_connections,
        default_rows = query::DEFAULT_ROWS.min(config.max_rows),
    )
}
