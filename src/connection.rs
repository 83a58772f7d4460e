//! One connection, from accept to close: read the head, route, respond,
//! close gracefully.
//!
//! Each connection gets its own thread (see [`crate::server`]), and this is
//! everything that thread does. A response here is done when its last byte
//! was accepted by the kernel, not when a handler returned a value: the
//! export strategies write the body themselves, on this thread, and only
//! return once it has drained into the socket or the client has gone.

use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::metrics::METRICS;
use crate::query::parse_export_query;
use crate::queued_bytes::QueuedBytes;
use crate::request::{self, MAX_HEAD_BYTES, Method, ReadHeadError, Request, Version};
use crate::response::{self, ResponseHead, Status, TEXT_PLAIN};
use crate::server::ServerConfig;
use crate::strategy::{self, ExportError, ExportPlan, ExportResponse, Mode};

/// How long a finished connection keeps reading what the client still
/// sends before closing. Closing a socket with unread input makes the kernel
/// send a reset, which can destroy a response the client has not read yet;
/// draining first lets an error response (sent before the request was fully
/// read) arrive intact. Short, because it holds a thread.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// Most bytes drained before closing anyway.
const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// `Content-Type` of an export.
const CSV: &str = "text/csv; charset=utf-8";
/// `Content-Type` of `/metrics`: the Prometheus text format, version 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How the connection should end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// A whole response was sent: shut down writing, then drain.
    Graceful,
    /// The client is gone or the response was cut short: just close.
    Abort,
}

/// Serves one connection; the head must arrive by `accepted_at` plus the
/// configured header timeout. `config` must have passed
/// [`ServerConfig::validate`], as [`crate::server::Server::bind`] ensures.
pub fn handle(stream: TcpStream, config: &ServerConfig, accepted_at: Instant) {
    let _open = METRICS.connection_opened();
    // Chunks go out in one vectored write each; Nagle's algorithm would only
    // hold the last small write back until an ACK arrives.
    let _ = stream.set_nodelay(true);
    // A write that makes no progress for this long fails, and the client
    // counts as gone. Without it a client that stops reading would hold this
    // thread (and a producer's) forever. If the option cannot be set, the
    // connection is not served at all.
    if stream.set_write_timeout(Some(config.send_timeout)).is_err() {
        return;
    }

    let mut buf = [0u8; MAX_HEAD_BYTES];
    let deadline = accepted_at + config.header_timeout;
    let ending = match request::read_head(&stream, &mut buf, deadline) {
        Ok(head) => match request::parse(head) {
            Ok(request) => respond(&stream, &request, config),
            // A HEAD request gets no body even when it is malformed.
            Err(e) => reply_error(
                &stream,
                None,
                e.status,
                e.reason,
                head.starts_with(b"HEAD "),
            ),
        },
        Err(ReadHeadError::TimedOut) => {
            let reason = "request head not received in time";
            reply_error(&stream, None, Status::RequestTimeout, reason, false)
        }
        Err(ReadHeadError::TooLarge(e)) => reply_error(&stream, None, e.status, e.reason, false),
        Err(ReadHeadError::Closed | ReadHeadError::Io(_)) => Ending::Abort,
    };
    if ending == Ending::Graceful {
        close_gracefully(&stream);
    }
}

fn respond(stream: &TcpStream, request: &Request<'_>, config: &ServerConfig) -> Ending {
    let head_only = match request.method {
        Method::Get => false,
        Method::Head => true,
        Method::Other => {
            let body = b"method not allowed: use GET or HEAD\n";
            let head = response::small_head(Status::MethodNotAllowed, TEXT_PLAIN, body)
                .header("Allow", "GET, HEAD");
            return reply(stream, None, head, body, false);
        }
    };
    match request.path {
        b"/export.csv" => export(stream, request, config, head_only),
        b"/metrics" => {
            let body = METRICS.render();
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

fn export(
    stream: &TcpStream,
    request: &Request<'_>,
    config: &ServerConfig,
    head_only: bool,
) -> Ending {
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
    let framing = plan
        .mode
        .framing(plan.rows, request.version == Version::Http10);
    let head = ResponseHead::new(Status::Ok, framing)
        .header("Content-Type", CSV)
        .header("Content-Disposition", "attachment; filename=\"export.csv\"");
    if head_only {
        // The head a GET would get, and no body: nothing is produced. (A GET
        // can still be refused if its body cannot be buffered; HEAD cannot
        // know that without trying.)
        return reply(stream, Some(plan.mode), head, b"", true);
    }

    let queued = QueuedBytes::new(plan.mode);
    match strategy::send(ExportResponse::new(stream, head, &plan, &queued)) {
        Ok(()) => Ending::Graceful,
        Err(ExportError::Refused(status, reason)) => {
            reply_error(stream, Some(plan.mode), status, &reason, false)
        }
        Err(ExportError::ClientGone(_)) => {
            METRICS.client_aborted(plan.mode);
            Ending::Abort
        }
        Err(ExportError::ProducerFailed) => {
            eprintln!("backpressure: a producer thread failed; its response was cut off");
            Ending::Abort
        }
    }
}

/// Sends a small complete response and counts it.
fn reply(
    stream: &TcpStream,
    mode: Option<Mode>,
    head: ResponseHead,
    body: &[u8],
    head_only: bool,
) -> Ending {
    let status = head.status();
    match response::write_small(stream, head, body, head_only) {
        Ok(()) => {
            METRICS.responded(mode, status);
            Ending::Graceful
        }
        Err(_) => Ending::Abort,
    }
}

/// Sends `status` with a plain-text body: the one-line `reason`.
fn reply_error(
    stream: &TcpStream,
    mode: Option<Mode>,
    status: Status,
    reason: &str,
    head_only: bool,
) -> Ending {
    let body = format!("{reason}\n");
    let head = response::small_head(status, TEXT_PLAIN, body.as_bytes());
    reply(stream, mode, head, body.as_bytes(), head_only)
}

/// Ends a connection whose response is complete: send FIN (the client sees
/// the end of the response), then read and discard what the client still
/// sends, until it closes, [`DRAIN_TIMEOUT`] passes or [`MAX_DRAIN_BYTES`]
/// arrive. Errors are ignored: the response is already out.
fn close_gracefully(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < MAX_DRAIN_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match (&*stream).read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
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
         \x20   mode=pipeline    io::copy(rows, socket)                      flat: one 8 KiB buffer\n\
         GET /metrics      Prometheus text: queued bytes per mode, live heap, RSS, threads\n\
         GET /healthz      liveness: ok\n\
         \n\
         Try a slow client, then look at the queue:\n\
         \x20   curl --limit-rate 200k -o /dev/null 'http://{addr}/export.csv?rows=7000000&mode=unbounded'\n\
         \x20   curl -s http://{addr}/metrics | grep -E 'queued|resident'\n\
         and again with mode=bounded. A quick look at the data:\n\
         \x20   curl -s 'http://{addr}/export.csv?rows=1000000' | tail -n 1\n",
        max_rows = config.max_rows,
        default_rows = crate::query::DEFAULT_ROWS.min(config.max_rows),
    )
}
