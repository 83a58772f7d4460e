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
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::access_log::{AccessRecord, End};
use crate::buffer_budget::{BufferBudget, BufferLimit, OverLimit};
use crate::metrics::METRICS;
use crate::query::parse_export_query;
use crate::queued_bytes::QueuedBytes;
use crate::request::{self, Method, ReadHeadError, Request, Version};
use crate::response::{self, ResponseHead, Status, TEXT_PLAIN};
use crate::send_deadline::{DeadlineWriter, MinDataRate, TooSlow};
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

/// What serving one connection came to: the access log's fields that only
/// the response knows.
#[derive(Clone, Copy, Debug)]
struct Served {
    /// The status sent, if a response head went out.
    status: Option<Status>,
    /// The body strategy, for exports.
    mode: Option<Mode>,
    /// Body bytes the socket accepted.
    body_bytes: u64,
    /// How it ended; decides between a graceful close and a plain one.
    end: End,
}

impl Served {
    /// Nothing was sent and nothing can be: the client is gone.
    fn gone() -> Served {
        Served {
            status: None,
            mode: None,
            body_bytes: 0,
            end: End::ClientAbort,
        }
    }

    /// Whether a whole response went out, so the connection should end with
    /// a graceful close rather than a plain one.
    fn graceful(&self) -> bool {
        matches!(self.end, End::Complete | End::HeaderTimeout)
    }
}

/// Serves one connection; the head must arrive by `accepted_at` plus the
/// configured header timeout. `config` must have passed
/// [`ServerConfig::validate`], as [`crate::server::Server::bind`] ensures;
/// `budget` is the process-wide buffer budget capped responses draw on.
pub fn handle(
    stream: TcpStream,
    config: &ServerConfig,
    budget: &Arc<BufferBudget>,
    accepted_at: Instant,
) {
    // Chunks go out in one vectored write each; Nagle's algorithm would only
    // hold the last small write back until an ACK arrives.
    let _ = stream.set_nodelay(true);
    // For the access log: the peer now (after a reset the socket can no
    // longer tell), the request line once the head has parsed.
    let peer = stream.peer_addr().ok();
    let mut request_line = None;
    // A write that makes no progress for this long fails, and the client
    // counts as gone. Without it a client that stops reading would hold this
    // thread (and a producer's) forever. If the option cannot be set, the
    // connection is not served at all.
    let served = if stream.set_write_timeout(Some(config.send_timeout)).is_err() {
        Served::gone()
    } else {
        let mut buf = Vec::new();
        read_and_respond(
            &stream,
            &mut buf,
            config,
            budget,
            accepted_at,
            &mut request_line,
        )
    };
    if served.graceful() {
        close_gracefully(&stream);
    }
    if !config.quiet {
        let record = AccessRecord {
            peer,
            request_line,
            status: served.status,
            mode: served.mode,
            body_bytes: served.body_bytes,
            duration: accepted_at.elapsed(),
            end: served.end,
        };
        record.write();
    }
}

/// Reads the head into `buf`, parses it and responds; notes the request
/// line for the access log once it has parsed.
fn read_and_respond(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
    config: &ServerConfig,
    budget: &Arc<BufferBudget>,
    accepted_at: Instant,
    request_line: &mut Option<String>,
) -> Served {
    let deadline = accepted_at + config.header_timeout;
    match request::read_head(stream, buf, deadline) {
        Ok(head) => match request::parse(head) {
            Ok(request) => {
                if !config.quiet {
                    *request_line = Some(printable_request_line(head));
                }
                respond(stream, &request, config, budget)
            }
            // A HEAD request gets no body even when it is malformed.
            Err(e) => reply_error(stream, None, e.status, e.reason, head.starts_with(b"HEAD ")),
        },
        Err(ReadHeadError::TimedOut) => {
            let reason = "request head not received in time";
            let served = reply_error(stream, None, Status::RequestTimeout, reason, false);
            Served {
                end: if served.graceful() {
                    End::HeaderTimeout
                } else {
                    served.end
                },
                ..served
            }
        }
        Err(ReadHeadError::TooLarge(e)) => reply_error(stream, None, e.status, e.reason, false),
        Err(ReadHeadError::Closed | ReadHeadError::Io(_)) => Served::gone(),
    }
}

/// The first line of a head that parsed: only visible ASCII and single
/// spaces, so it is safe to print.
fn printable_request_line(head: &[u8]) -> String {
    let end = head.iter().position(|&b| b == b'\r').unwrap_or(head.len());
    String::from_utf8_lossy(&head[..end]).into_owned()
}

fn respond(
    stream: &TcpStream,
    request: &Request<'_>,
    config: &ServerConfig,
    budget: &Arc<BufferBudget>,
) -> Served {
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
        b"/export.csv" => export(stream, request, config, budget, head_only),
        b"/metrics" => {
            let body = METRICS.render(budget);
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
    budget: &Arc<BufferBudget>,
    head_only: bool,
) -> Served {
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

    // The strategies that can run ahead of the client are held to the
    // buffering caps; the flat ones are bounded by construction.
    let queued = if plan.mode.is_flat() {
        QueuedBytes::new(plan.mode)
    } else {
        let limit = BufferLimit {
            per_response: config.max_buffered_bytes,
            budget: Arc::clone(budget),
        };
        QueuedBytes::capped(plan.mode, limit)
    };
    let min_rate = MinDataRate {
        bytes_per_second: config.min_rate,
        grace: config.rate_grace,
    };
    let out = DeadlineWriter::new(stream, config.send_timeout, min_rate);
    // Shutting down both directions fails a write blocked in another thread
    // at once; the data already in the kernel still goes out, then FIN.
    let cancel = || {
        let _ = stream.shutdown(Shutdown::Both);
    };
    let response = ExportResponse::new(out, head, &plan, &queued).with_cancel(&cancel);
    let end = match strategy::send(response) {
        Ok(()) => End::Complete,
        Err(ExportError::Refused(status, reason)) => {
            return reply_error(stream, Some(plan.mode), status, &reason, false);
        }
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
    Served {
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
) -> Served {
    let status = head.status();
    match response::write_small(stream, head, body, head_only) {
        Ok(()) => {
            METRICS.responded(mode, status);
            Served {
                status: Some(status),
                mode,
                body_bytes: if head_only { 0 } else { body.len() as u64 },
                end: End::Complete,
            }
        }
        Err(_) => Served {
            mode,
            ..Served::gone()
        },
    }
}

/// Sends `status` with a plain-text body: the one-line `reason`.
fn reply_error(
    stream: &TcpStream,
    mode: Option<Mode>,
    status: Status,
    reason: &str,
    head_only: bool,
) -> Served {
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
         buffer and unbounded are capped at {per_response} bytes per response and\n\
         {total} bytes in all (--max-buffered-bytes, --max-buffered-total): past\n\
         that, buffer answers 503 and unbounded is cut short. At most\n\
         {max_connections} connections are served at once; the rest get 503.\n\
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
        default_rows = crate::query::DEFAULT_ROWS.min(config.max_rows),
    )
}
