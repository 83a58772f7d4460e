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
//! | `GET` or `HEAD` of another path | 404                                          |
//! | another method, any path | 405 if HTTP defines it (with `Allow: GET, HEAD`), 501 if not |

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use super::Shared;
use super::config::{DEFAULT_ADDR, ServerConfig};
use crate::defense::buffer_caps::{BufferLimit, OverLimit};
use crate::defense::cap_answer::OwnResponse;
use crate::defense::send_deadline::DeadlineWriter;
use crate::defense::too_slow::TooSlow;
use crate::export::Mode;
use crate::http::query::{self, parse_export_query};
use crate::http::request::{Method, Request, UNKNOWN_METHOD, Version};
use crate::http::response::{self, ResponseHead, Status, TEXT_PLAIN};
use crate::http::target::normal_path;
use crate::measure::access_log::{End, Outcome};
use crate::measure::clock;
use crate::measure::metrics::{METRICS, Readings};
use crate::measure::proc_status::{self, ProcStatus};
use crate::strategy::{self, ExportError, ExportPlan, ExportResponse, Http1, QueuedBytes, Wire};

/// `Content-Type` of an export.
const CSV: &str = "text/csv; charset=utf-8";
/// `Content-Type` of `/metrics`: the Prometheus text format, version 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Retry-After` on every 503 sent here: each is transient (the buffer
/// budget used up by other responses, memory refused for a moment), and a
/// second is the connection cap's answer too. A real service would set it
/// from how long its responses hold what ran out.
const RETRY_AFTER_SECONDS: u32 = 1;

/// What a request is answered with, decided before a byte is sent, so
/// that HTTP/1.1 and HTTP/2 answer every request alike.
pub(super) enum Answer {
    /// A small complete response: a page, the metrics, any error.
    Small(Small),
    /// An export, whose body its strategy sends.
    Export {
        /// What the query asked for and the buffer sizes it may use: all
        /// the strategy needs. An export that could never fit the
        /// buffering caps was answered 400 before this was made.
        plan: ExportPlan,
        /// The 200 head, its framing chosen for the client's protocol; the
        /// strategy decides when it goes out.
        head: ResponseHead,
    },
}

/// A small complete response, its body known whole before a byte is sent.
pub(super) struct Small {
    /// The export mode it answers for, if it is an export's error.
    mode: Option<Mode>,
    /// Its status and fields, framed by `Content-Length`.
    head: ResponseHead,
    /// The whole body, small by construction (a page, a scrape, a
    /// one-line reason); a HEAD's answer leaves it unsent.
    body: Vec<u8>,
}

impl Small {
    /// `status` with a plain-text body: the one-line `reason`. A 503 says
    /// when to try again; a 4xx does not, since trying again cannot help.
    fn error(mode: Option<Mode>, status: Status, reason: &str) -> Small {
        let body = format!("{reason}\n").into_bytes();
        let mut head = response::small_head(status, TEXT_PLAIN, &body);
        if status == Status::ServiceUnavailable {
            head = head.header("Retry-After", RETRY_AFTER_SECONDS.to_string());
        }
        Small { mode, head, body }
    }
}

impl Answer {
    /// [`Small::error`], as an answer.
    pub(super) fn error(mode: Option<Mode>, status: Status, reason: &str) -> Answer {
        Answer::Small(Small::error(mode, status, reason))
    }
}

/// What `method` on `path?query` gets, the path routed in its normal form
/// (`%65` is `e`, as the query's escapes are; a `%` without two hex digits
/// is a 400). `version` decides an export's framing; `local` is our own
/// address, for the index page's examples.
pub(super) fn answer(
    method: Method,
    path: &[u8],
    query: Option<&[u8]>,
    version: Version,
    shared: &Shared,
    local: Option<SocketAddr>,
) -> Answer {
    let (config, budget) = (&shared.config, &shared.budget);
    let small = |content_type, body: Vec<u8>| {
        let head = response::small_head(Status::Ok, content_type, &body);
        Answer::Small(Small {
            mode: None,
            head,
            body,
        })
    };
    match method {
        Method::Get | Method::Head => {}
        Method::NotAllowed => {
            let body = b"method not allowed: use GET or HEAD\n".to_vec();
            let head = response::small_head(Status::MethodNotAllowed, TEXT_PLAIN, &body)
                .header("Allow", "GET, HEAD");
            return Answer::Small(Small {
                mode: None,
                head,
                body,
            });
        }
        Method::Unknown => {
            return Answer::error(None, UNKNOWN_METHOD.status, UNKNOWN_METHOD.reason);
        }
    }
    let path = match normal_path(path) {
        Ok(path) => path,
        Err(reason) => return Answer::error(None, Status::BadRequest, reason),
    };
    match &*path {
        b"/export.csv" => export(query, version, config),
        b"/metrics" => {
            let body = METRICS.render(&Readings {
                process: ProcStatus::of_self(),
                open_files: proc_status::open_files(),
                budget_used_bytes: budget.used(),
                budget_limit_bytes: budget.limit(),
                notsent_lowat_bytes: config.notsent_lowat.map_or(0, u64::from),
            });
            small(PROMETHEUS_TEXT, body.into_bytes())
        }
        b"/healthz" => small(TEXT_PLAIN, b"ok\n".to_vec()),
        b"/" => small(TEXT_PLAIN, index_page(local, config).into_bytes()),
        _ => {
            let reason = "no such path: see / for the endpoints";
            Answer::error(None, Status::NotFound, reason)
        }
    }
}

fn export(query: Option<&[u8]>, version: Version, config: &ServerConfig) -> Answer {
    let query = match parse_export_query(query.unwrap_or_default(), config.max_rows) {
        Ok(query) => query,
        Err(reason) => return Answer::error(None, Status::BadRequest, &reason),
    };
    let plan = ExportPlan {
        rows: query.rows,
        mode: query.mode,
        chunk_bytes: config.chunk_bytes,
        channel_depth: config.channel_depth,
    };
    let framing = strategy::framing(plan.mode, plan.rows, version);
    // What the strategy queues before its head, over the per-response cap
    // or over the whole budget, is refused however often it is asked for,
    // and its size and the caps are all known now: so HEAD gets the 400
    // that GET would (RFC 9110 §9.3.2), not a 200 no GET will ever be sent.
    let (cap, budget) = (config.max_buffered_bytes, config.max_buffered_total);
    let before_head = strategy::queued_before_head(&plan);
    if let Some(over) = before_head.and_then(|bytes| OverLimit::never_fits(bytes, cap, budget)) {
        return Answer::error(Some(plan.mode), Status::BadRequest, &over.to_string());
    }
    let head = ResponseHead::new(Status::Ok, framing)
        .header("Content-Type", CSV)
        .header("Content-Disposition", "attachment; filename=\"export.csv\"");
    Answer::Export { plan, head }
}

/// The whole response to `request` if it asks for one of the server's own
/// endpoints, `GET` or `HEAD` of `/metrics` or `/healthz`: what the
/// connection cap's rejecter writes in place of its 503, so that a server
/// full of stalled clients can still be scraped and checked. Anything else
/// is `None`, and gets the 503.
pub(super) fn own_endpoint(request: &Request<'_>, shared: &Shared) -> Option<OwnResponse> {
    let ours = matches!(
        normal_path(request.path).as_deref(),
        Ok(b"/metrics" | b"/healthz")
    );
    if !ours || !matches!(request.method, Method::Get | Method::Head) {
        return None;
    }
    let (method, path, query) = (request.method, request.path, request.query);
    let (head, body) = match answer(method, path, query, request.version, shared, None) {
        Answer::Small(Small { head, body, .. }) => (head, body),
        Answer::Export { .. } => unreachable!("/metrics and /healthz are small answers"),
    };
    let (status, head_only) = (head.status(), method == Method::Head);
    let mut bytes = Vec::new();
    // Writing into a `Vec` cannot fail.
    let _ = response::write_small(
        &mut bytes,
        head,
        &body,
        head_only,
        clock::now_unix_seconds(),
    );
    let body_bytes = if head_only { 0 } else { body.len() as u64 };
    Some(OwnResponse {
        status,
        bytes,
        body_bytes,
    })
}

/// Answers an HTTP/1.x request whose head parsed, on its socket.
pub(super) fn respond(
    stream: &TcpStream,
    request: &Request<'_>,
    shared: &Shared,
    id: u64,
) -> Outcome {
    let head_only = request.method == Method::Head;
    let local = stream.local_addr().ok();
    let (method, path, query) = (request.method, request.path, request.query);
    let answer = answer(method, path, query, request.version, shared, local);
    let config = &shared.config;
    let out = Http1(DeadlineWriter::new(
        stream,
        config.send_timeout,
        config.min_data_rate(),
    ));
    // A reset at once: it fails a write blocked in another thread, drops
    // what the kernel still holds, and, unlike a FIN, never makes a cut
    // HTTP/1.0 body look whole.
    let cancel = || super::shutdown::cut(stream);
    let cut_by_shutdown = || shared.connections.cut_reached(id);
    // A small answer goes out in one write of its own, not through `out`:
    // it fits the kernel's send buffer, so no rate is needed to bound it.
    send(
        answer,
        head_only,
        out,
        &cancel,
        &cut_by_shutdown,
        shared,
        |_, mode, head, body| reply(stream, mode, head, body, head_only),
    )
}

/// Sends `answer`, over either protocol: an export through its strategy
/// to `out`; anything else with `small`, which also sends the head of a
/// HEAD's export and the refusal of an export turned away before its head.
/// `cancel` and `cut_by_shutdown` are [`run_export`]'s.
pub(super) fn send<W: Wire>(
    answer: Answer,
    head_only: bool,
    mut out: W,
    cancel: &(dyn Fn() + Sync),
    cut_by_shutdown: &(dyn Fn() -> bool + Sync),
    shared: &Shared,
    small: impl FnOnce(&mut W, Option<Mode>, ResponseHead, &[u8]) -> Outcome,
) -> Outcome {
    let Small { mode, head, body } = match answer {
        Answer::Small(small) => small,
        // The head a GET would get, and no body: nothing is produced. (A
        // GET can still get a 503 if other responses hold the buffer
        // budget at that moment; HEAD cannot know that without trying.)
        Answer::Export { plan, head } if head_only => Small {
            mode: Some(plan.mode),
            head,
            body: Vec::new(),
        },
        Answer::Export { plan, head } => {
            match run_export(&mut out, plan, head, cancel, cut_by_shutdown, shared) {
                Ok(outcome) => return outcome,
                Err(refusal) => refusal,
            }
        }
    };
    small(&mut out, mode, head, &body)
}

/// Sends an export through its strategy to `out`, held to the buffering
/// caps, and says what it came to; or, if it was refused before its head
/// went out, the error answer to send instead. `cancel` ends the response
/// from another thread (a producer whose queue a cap refused);
/// `cut_by_shutdown` says whether the shutdown's cut ended its connection,
/// rather than its client before the cut: a bare socket error is then the
/// cut's ([`failure`]).
pub(super) fn run_export<W: Wire>(
    out: W,
    plan: ExportPlan,
    head: ResponseHead,
    cancel: &(dyn Fn() + Sync),
    cut_by_shutdown: &(dyn Fn() -> bool + Sync),
    shared: &Shared,
) -> Result<Outcome, Small> {
    let config = &shared.config;
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
    // The shutdown's cut reaches a response through its first write; one
    // still rendering (`buffer`) asks for it between slices, and stops at
    // it, whoever ended its connection: `cut_by_shutdown` names the stop.
    let cutting = || shared.connections.cutting();
    let response = ExportResponse::new(out, head, &plan, &queued)
        .with_cancel(cancel)
        .with_shutdown_cutting(&cutting);
    let result = strategy::send(response);
    let head_sent = result.as_ref().err().is_none_or(ExportError::head_sent);
    let end = match result {
        Ok(()) => End::Complete,
        Err(ExportError::Refused(status, reason)) => {
            return Err(Small::error(Some(plan.mode), status, &reason));
        }
        Err(ExportError::HeadNotSent(e) | ExportError::WriteFailed(e)) => {
            failure(&e, cut_by_shutdown())
        }
        Err(ExportError::OverLimit(limit)) => match limit {
            OverLimit::Response { .. } => End::BufferCap,
            OverLimit::Total { .. } | OverLimit::BudgetInUse { .. } => End::BufferBudget,
        },
        Err(ExportError::ProducerFailed { .. }) => {
            // The producer's panic message is already on stderr.
            METRICS.panicked();
            End::ProducerFailed
        }
    };
    // A client that left before the head has no status to log, and no
    // response of its was cut short.
    if head_sent {
        METRICS.aborted(plan.mode, end);
    }
    Ok(Outcome {
        status: head_sent.then_some(Status::Ok),
        mode: Some(plan.mode),
        body_bytes: queued.sent_bytes(),
        end,
    })
}

/// Why a write failed, given whether the shutdown's cut ended the
/// response's connection. A reason the error carries was decided when it
/// happened: an HTTP/2 stream's reset (the client's RST_STREAM, read before
/// any cut, however late the stream's thread learns of it), or a deadline,
/// which only a socket still open can pass. Only a bare socket error is
/// the cut's once it has ended the connection, as the cut fails a write as
/// a client's reset would.
fn failure(e: &io::Error, cut_by_shutdown: bool) -> End {
    match (End::of(e), TooSlow::of(e)) {
        (Some(end), _) => end,
        (None, Some(TooSlow::SendTimeout)) => End::SendTimeout,
        (None, Some(TooSlow::MinRate)) => End::MinRate,
        (None, None) if cut_by_shutdown => End::DrainTimeout,
        (None, None) => End::ClientAbort,
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
    let sent = response::write_small(stream, head, body, head_only, clock::now_unix_seconds());
    let body_bytes = if head_only { 0 } else { body.len() as u64 };
    small_sent(mode, status, sent.map(|()| body_bytes))
}

/// What a small response came to, counted if it went out: `sent` is how
/// many body bytes it carried, or the write's failure, named by what the
/// error carries (an HTTP/2 stream's reset, a deadline), else the
/// client's abort: over HTTP/1.1 the connection's thread names a bare
/// socket error the shutdown's cut once the cut has reached this
/// connection, not one its client had left before
/// (`Connections::cut_reached`, `connection.rs`).
pub(super) fn small_sent(mode: Option<Mode>, status: Status, sent: io::Result<u64>) -> Outcome {
    match sent {
        Ok(body_bytes) => {
            METRICS.responded(mode, status);
            Outcome {
                status: Some(status),
                mode,
                body_bytes,
                end: End::Complete,
            }
        }
        Err(e) => Outcome {
            mode,
            ..Outcome::ended(failure(&e, false))
        },
    }
}

/// Sends `status` with a one-line plain-text `reason` ([`Answer::error`]).
pub fn reply_error(
    stream: &TcpStream,
    mode: Option<Mode>,
    status: Status,
    reason: &str,
    head_only: bool,
) -> Outcome {
    let Small { mode, head, body } = Small::error(mode, status, reason);
    reply(stream, mode, head, &body, head_only)
}

/// Rows of the index page's slow-client example: the demo's 385 MB export,
/// long enough at 200 KiB/s to watch the queue for half an hour.
const EXAMPLE_SLOW_ROWS: u64 = 7_000_000;
/// Rows of the index page's quick look at the data: the default export,
/// 54 MB, said in the URL.
const EXAMPLE_LOOK_ROWS: u64 = query::DEFAULT_ROWS;
/// Rows of the index page's HTTP/2 example.
const EXAMPLE_H2_ROWS: u64 = 1_000;

/// `GET /`: what this server demonstrates, its endpoints and modes, with
/// curl commands that work as printed (they use our own listening address).
fn index_page(local: Option<SocketAddr>, config: &ServerConfig) -> String {
    // Without our own address (the socket could not say), the default one.
    let addr = local.unwrap_or(DEFAULT_ADDR);
    let (chunk, depth) = (config.chunk_bytes, config.channel_depth);
    let bound = (depth + 2) * chunk;
    // Padded, so that a depth of any width keeps the columns.
    let bounded_path = format!("producer -> sync_channel({depth}) -> writer");
    format!(
        "backpressure: a CSV export server showing that a streamed response is done\n\
         when its bytes drain, not when the handler returns.\n\
         \n\
         GET /export.csv?rows=N&mode=M   the export; rows 0..={max_rows} (default {default_rows}), mode (default {default_mode}):\n\
         \x20   mode=buffer      whole body in memory, then Content-Length    O(body) per connection\n\
         \x20   mode=unbounded   producer -> mpsc::channel() -> writer        grows without bound (the bug)\n\
         \x20   mode=bounded     {bounded_path:<45}flat: <= {bound} bytes\n\
         \x20   mode=pipeline    render, write, repeat on one thread          flat: <= {chunk} bytes, one buffer\n\
         GET /metrics      Prometheus text: queued bytes per mode, live heap, RSS, threads\n\
         GET /healthz      liveness: ok\n\
         \n\
         buffer and unbounded are capped at {per_response} bytes per response and\n\
         {total} bytes in all (--max-buffered-bytes, --max-buffered-total): past\n\
         that, buffer answers 400 (503 while others hold the total) and unbounded\n\
         is cut short. Connections served at once: {max_connections} at most\n\
         (--max-connections); the rest get 503, except HTTP/1.x's /metrics and /healthz.\n\
         \n\
         Try a slow client (this binary's; curl's --limit-rate bursts), then look at the queue:\n\
         \x20   backpressure slow-client 'http://{addr}/export.csv?rows={slow_rows}&mode=unbounded' --for 10s &\n\
         \x20   curl -s http://{addr}/metrics | grep -E 'queued|resident'\n\
         and again with mode=bounded. A quick look at the data:\n\
         \x20   curl -s 'http://{addr}/export.csv?rows={look_rows}' | tail -n 1\n\
         \n\
         The same port speaks HTTP/2 (cleartext, prior knowledge), every mode included:\n\
         \x20   curl --http2-prior-knowledge -s 'http://{addr}/export.csv?rows={h2_rows}' | tail -n 1\n",
        max_rows = config.max_rows,
        per_response = config.max_buffered_bytes,
        total = config.max_buffered_total,
        max_connections = config.max_connections,
        default_rows = query::DEFAULT_ROWS.min(config.max_rows),
        default_mode = query::DEFAULT_MODE.as_str(),
        // The examples ask for what this server allows: a page that tells
        // its reader to run a request it refuses would not be true of it.
        slow_rows = EXAMPLE_SLOW_ROWS.min(config.max_rows),
        look_rows = EXAMPLE_LOOK_ROWS.min(config.max_rows),
        h2_rows = EXAMPLE_H2_ROWS.min(config.max_rows),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defense::buffer_caps::BufferBudget;
    use crate::server::shutdown::Connections;

    /// The connection cap's rejecter knows its own endpoints by the path's
    /// normal form, as the routes do: at the cap, `/%68ealthz` is still
    /// the health check, not a 503; a path that is no URI is not its own,
    /// nor a method other than GET and HEAD.
    #[test]
    fn own_endpoints_are_known_by_the_normal_path() {
        let shared = Shared {
            config: ServerConfig::default(),
            budget: Arc::new(BufferBudget::new(0)),
            connections: Connections::with_capacity(1),
        };
        let own_by = |method, path: &[u8]| {
            let request = Request {
                method,
                path,
                query: None,
                version: Version::Http11,
                fields: vec![],
            };
            own_endpoint(&request, &shared).map(|own| own.status)
        };
        let own = |path: &[u8]| own_by(Method::Get, path);
        assert_eq!(own(b"/%68ealthz"), Some(Status::Ok));
        assert_eq!(own(b"/nowhere/../%6Detrics"), Some(Status::Ok));
        assert_eq!(own(b"/%zzealthz"), None);
        assert_eq!(own(b"/%2Fhealthz"), None);
        assert_eq!(own(b"/export.csv"), None);
        // HEAD is answered as GET is; any other method gets the 503, not
        // the 405 or 501 a connection thread would have answered.
        assert_eq!(own_by(Method::Head, b"/metrics"), Some(Status::Ok));
        assert_eq!(own_by(Method::NotAllowed, b"/healthz"), None);
        assert_eq!(own_by(Method::Unknown, b"/metrics"), None);
    }

    /// A producer that panics is a bug, and `backpressure_panics_total` is
    /// where an operator sees one: its thread is joined by the export, not
    /// caught by `run_isolated`, so the export must count it itself, or a
    /// crashing producer would show only in the access log. Rows past
    /// `MAX_ROWS`, which no query can ask for, make `CsvRows` panic in the
    /// producer before its first chunk: no head, no status, one panic.
    #[test]
    fn a_producer_that_panics_is_counted_a_panic() {
        use crate::export::csv_rows::MAX_ROWS;
        use crate::measure::exposition::Scrape;
        let _counting = crate::test_support::counting_panics();
        let shared = Shared {
            config: ServerConfig::default(),
            budget: Arc::new(BufferBudget::new(u64::MAX)),
            connections: Connections::with_capacity(1),
        };
        let panics = || {
            let scrape = Scrape::parse(&METRICS.render(&Readings::default())).unwrap();
            scrape.count("backpressure_panics_total").unwrap()
        };
        for mode in [Mode::Unbounded, Mode::Bounded] {
            let before = panics();
            let plan = ExportPlan {
                rows: MAX_ROWS + 1,
                mode,
                chunk_bytes: 4096,
                channel_depth: 2,
            };
            let head = ResponseHead::new(Status::Ok, response::Framing::Chunked);
            let mut wire = Vec::new();
            let outcome = run_export(Http1(&mut wire), plan, head, &|| {}, &|| false, &shared);
            let Ok(outcome) = outcome else {
                panic!("{mode:?}: refused, not failed");
            };
            assert_eq!(outcome.status, None, "{mode:?}");
            assert_eq!(outcome.end, End::ProducerFailed, "{mode:?}");
            assert!(wire.is_empty(), "{mode:?}: {wire:?}");
            assert_eq!(panics(), before + 1, "{mode:?}");
        }
    }

    /// A refused export whose client left before the refusal could be
    /// written is still the export's: its access log line names the mode
    /// it asked for, as the refusal's would have, so that the `buffer`
    /// exports turned away at the budget can be told from other requests
    /// in the log, whether or not their client waited for the 503.
    #[test]
    fn a_small_answer_whose_write_fails_keeps_its_mode() {
        let gone = io::Error::from(io::ErrorKind::BrokenPipe);
        let outcome = small_sent(Some(Mode::Buffer), Status::ServiceUnavailable, Err(gone));
        assert_eq!(outcome.mode, Some(Mode::Buffer));
        assert_eq!((outcome.status, outcome.end), (None, End::ClientAbort));
        assert_eq!(outcome.body_bytes, 0);
    }

    /// A small answer to HEAD sends its head and no body, and says so:
    /// its outcome (the access log's `body_bytes`) counts none of the body
    /// its `Content-Length` announces; to GET, every byte of it.
    #[test]
    fn a_small_answer_to_head_counts_no_body_bytes() {
        use std::io::Read;
        for (head_only, body_bytes) in [(true, 0), (false, 13)] {
            let (server, mut client) = crate::test_support::loopback();
            let outcome = reply_error(&server, None, Status::NotFound, "no such path", head_only);
            assert_eq!(outcome.status, Some(Status::NotFound));
            assert_eq!(outcome.body_bytes, body_bytes, "head only: {head_only}");
            drop(server);
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            let text = String::from_utf8_lossy(&got);
            assert_eq!(text.ends_with("\r\n\r\n"), head_only, "{text}");
        }
    }
}
