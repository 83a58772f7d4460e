//! A stream's turn: what its thread answers, made from the request's
//! decoded fields as its header block arrives, and kept whole while the
//! stream waits for a thread (`admission.rs`): the request, or the error
//! status it has earned already, and what the access log and HEAD need.

use std::time::Instant;

use crate::http::escape::escaped;
use crate::http::h2::hpack::HeaderList;
use crate::http::h2::request::{self, Request};
use crate::http::response::Status;

/// What a stream asks of the routes: its request, or the error status it
/// has earned already.
pub type Job = Result<Request, (Status, &'static str)>;

/// One stream's request, ready for its thread.
#[derive(Debug)]
pub struct Turn {
    /// The stream.
    pub id: u32,
    /// What it asks.
    pub job: Job,
    /// Its line and method, for the access log and HEAD.
    pub asked: Asked,
    /// Its request's content-length, which the body it sends must match.
    pub body_length: Option<u64>,
    /// The bytes it holds that its client chose, counted against
    /// `MAX_WAITING_BYTES` while it waits: its target, parsed, and its
    /// access-log line, where a byte may be escaped as four. The rest is
    /// a few words.
    pub bytes: usize,
    /// When it was taken on: its access-log line's duration counts the
    /// wait for its turn, as its client waited.
    pub taken: Instant,
}

impl Turn {
    /// Stream `id`'s turn, from its decoded `list`; `end_stream` if its
    /// HEADERS ended the stream. Errs with the reason if the request is
    /// malformed (RFC 9113 §8.1.1), a stream error.
    pub fn of(id: u32, list: &HeaderList, end_stream: bool) -> Result<Turn, &'static str> {
        let parsed = request::parse(&list.fields, end_stream);
        let body_length = parsed.as_ref().ok().and_then(|r| r.content_length);
        let job = match parsed {
            // Fields were dropped: what they said is unknown, so 431 comes
            // before any other verdict on the request.
            _ if list.too_large => Err((
                Status::RequestHeaderFieldsTooLarge,
                "request header fields too large",
            )),
            // What HTTP/1.1's head parser would refuse is refused alike.
            Ok(Request {
                refused: Some(refused),
                ..
            }) => Err(refused),
            Ok(request) => Ok(request),
            Err(reason) => return Err(reason),
        };
        let asked = Asked::of(&list.fields);
        let target = job.as_ref().map_or(0, |request| {
            request.path.len() + request.query.as_ref().map_or(0, Vec::len)
        });
        let bytes = target + asked.line.len();
        Ok(Turn {
            id,
            job,
            asked,
            body_length,
            bytes,
            taken: Instant::now(),
        })
    }
}

/// What a stream asked, as far as the access log and HEAD care, whether
/// or not it is answered through the routes.
#[derive(Debug)]
pub struct Asked {
    /// `METHOD PATH HTTP/2` for the access log, as sent.
    pub line: String,
    /// `:method` is HEAD: the answer has no body, even an error's.
    pub head_only: bool,
}

impl Asked {
    /// From a request's fields, whatever they hold: `:method` as sent, and
    /// `:path` whole (CONNECT's `:authority`, its target, RFC 9113 §8.5),
    /// for a request refused as for one answered.
    pub fn of(fields: &[(Vec<u8>, Vec<u8>)]) -> Asked {
        let method = field(fields, b":method");
        let target: &[u8] = if method == "CONNECT" {
            b":authority"
        } else {
            b":path"
        };
        Asked {
            line: format!("{method} {} HTTP/2", field(fields, target)),
            head_only: method == "HEAD",
        }
    }
}

/// A field's value as text, for the access log. A request refused with
/// 431 is logged before anything checked its fields, so they may hold any
/// byte: what is not visible ASCII, and `"` and `\`, is escaped as `\xHH`,
/// so that a client can neither end the quoted request nor start a line.
fn field(fields: &[(Vec<u8>, Vec<u8>)], name: &[u8]) -> String {
    let Some((_, value)) = fields.iter().find(|(n, _)| n == name) else {
        return "-".into();
    };
    escaped(value, |byte| byte.is_ascii_graphic() && byte != b'"')
}
