//! One line on stderr per connection: who asked for what, what they got,
//! and how it ended.
//!
//! The metrics say *how many* exports were cut short; the access log says
//! *which*, so an operator can tell a phone on a bad network (`client-abort`
//! after a long `duration_ms`) from a slow-read attack (`min-rate`) or a
//! Slowloris (`header-timeout`). A line looks like:
//!
//! ```text
//! 2026-11-22T06:40:12Z 127.0.0.1:50412 "GET /export.csv?rows=100&mode=bounded HTTP/1.1" 200 mode=bounded body_bytes=5043 duration_ms=3 end=complete
//! ```
//!
//! The stamp is the logger's, the one every stderr line starts with
//! ([`super::log`]); after it, fields are separated by single spaces, and
//! a field with no value is `-`. The
//! request line is quoted and printed only once it has parsed, so every
//! byte in it is a visible ASCII character that a URI or a method allows
//! (no quote, no space, no control character): a client cannot forge or
//! split log lines. The one request logged before it parsed, an HTTP/2
//! request refused with 431, escapes as `\xHH` any byte that is not
//! visible ASCII, and `"` and `\`. A request field longer than
//! [`MAX_LOGGED_REQUEST_BYTES`] (only an HTTP/2 request's can be: its
//! `:path` and `:method` are bounded only by the 16 KiB header list, and
//! a 431's escaping makes four bytes of one) is cut there and ends in
//! `[cut]`, so that no line passes about 8.5 KiB and the fields after it
//! stay.
//! `serve --quiet` turns the log off.
//!
//! The line goes to stderr through the logger thread ([`super::log`]): a
//! stderr that nobody reads costs dropped, counted lines, never a blocked
//! connection.

use std::net::SocketAddr;
use std::time::Duration;

use crate::export::Mode;
use crate::http::request::{self, MAX_REQUEST_LINE_BYTES};
use crate::http::response::Status;

pub use super::end::End;

/// Most bytes of the request field, between its quotes: a request line at
/// its limit, so every request either protocol reads is logged whole (an
/// HTTP/2 request is measured as HTTP/1.1 would send its line, and
/// `HTTP/2` is the shorter version). Only an HTTP/2 request refused can
/// pass it: a 414 logs its `:path` whole, up to the 16 KiB header list,
/// and a 431 escapes it four bytes for one, up to 64 KiB. A real service
/// cuts too, as nginx and Envoy cap their lines, so that the log's queue
/// has a bound ([`super::log`]).
pub const MAX_LOGGED_REQUEST_BYTES: usize = MAX_REQUEST_LINE_BYTES;

/// Marks a request field cut at [`MAX_LOGGED_REQUEST_BYTES`].
const CUT: &str = "[cut]";

/// What a connection's response came to: the fields of its log line that
/// only the response knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The status sent, if a response head went out.
    pub status: Option<Status>,
    /// The body strategy, for exports.
    pub mode: Option<Mode>,
    /// Body bytes the socket accepted (framing excluded).
    pub body_bytes: u64,
    /// How it ended.
    pub end: End,
}

impl Outcome {
    /// An end without a response of its own: the client gone before one
    /// could be sent (`ClientAbort`), or a thread that panicked.
    pub fn ended(end: End) -> Outcome {
        Outcome {
            status: None,
            mode: None,
            body_bytes: 0,
            end,
        }
    }

    /// Whether a whole response went out, so the connection should end with
    /// a graceful close rather than a plain one. An HTTP/2 connection
    /// refused for want of a thread has had its whole answer, a GOAWAY.
    pub fn sent_whole_response(&self) -> bool {
        matches!(
            self.end,
            End::Complete | End::HeaderTimeout | End::ProtocolError | End::Rejected
        )
    }
}

/// Everything one log line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRecord {
    /// The client's address, as accept gave it: a socket the client has
    /// reset can no longer tell, and that client would be hidden.
    pub peer: SocketAddr,
    /// `METHOD TARGET VERSION`, only if the head parsed.
    pub request_line: Option<String>,
    /// From accept to the end of the response.
    pub duration: Duration,
    /// What the response came to.
    pub outcome: Outcome,
}

impl AccessRecord {
    /// The line after its stamp, without its newline.
    pub fn format(&self) -> String {
        let request = self
            .request_line
            .as_deref()
            .map_or_else(|| "-".to_string(), |line| format!("\"{}\"", bounded(line)));
        let Outcome { status, mode, .. } = self.outcome;
        let status = status.map_or_else(|| "-".to_string(), |s| s.code().to_string());
        let (peer, mode) = (self.peer, mode.map_or("-", Mode::as_str));
        format!(
            "{peer} {request} {status} mode={mode} body_bytes={} duration_ms={} end={}",
            self.outcome.body_bytes,
            self.duration.as_millis(),
            self.outcome.end.as_str(),
        )
    }

    /// Hands the line to the logger, which stamps it; never blocks.
    pub fn write(&self) {
        super::log::line(self.format());
    }
}

/// `line`, or its first [`MAX_LOGGED_REQUEST_BYTES`] and [`CUT`] if it is
/// longer. The cut falls before a `\xHH` escape it would split: a `\` is
/// never a request byte (the parsers refuse it, and the 431's escaping
/// writes it as `\x5c`), so one in the last three bytes kept starts an
/// escape. The field is ASCII; were it not, a character the cut split
/// would print as U+FFFD, never panic.
fn bounded(line: &str) -> std::borrow::Cow<'_, str> {
    let bytes = line.as_bytes();
    if bytes.len() <= MAX_LOGGED_REQUEST_BYTES {
        return line.into();
    }
    let mut end = MAX_LOGGED_REQUEST_BYTES - CUT.len();
    if let Some(escape) = bytes[end - 3..end].iter().rposition(|&b| b == b'\\') {
        end = end - 3 + escape;
    }
    format!("{}{CUT}", String::from_utf8_lossy(&bytes[..end])).into()
}

/// The request line of a head that parsed, the head starting with it: only
/// visible ASCII and single spaces, as the parser checked, so it is safe to
/// print.
pub fn request_line(head: &[u8]) -> String {
    let end = head.iter().position(|&b| b == b'\r').unwrap_or(head.len());
    String::from_utf8_lossy(&head[..end]).into_owned()
}

/// The request line of a head that was refused, or never ended, if it is
/// one ([`request::request_line_of`]): checked as a parsed head's is, so
/// as safe to print; none if it does not parse or has not come whole.
pub fn refused_request_line(head: &[u8]) -> Option<String> {
    let line = request::request_line_of(head)?;
    Some(String::from_utf8_lossy(line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_every_field_in_order() {
        let record = AccessRecord {
            peer: "127.0.0.1:50412".parse().unwrap(),
            request_line: Some("GET /export.csv?rows=100&mode=bounded HTTP/1.1".into()),
            duration: Duration::from_micros(3_900),
            outcome: Outcome {
                status: Some(Status::Ok),
                mode: Some(Mode::Bounded),
                body_bytes: 5043,
                end: End::Complete,
            },
        };
        assert_eq!(
            record.format(),
            "127.0.0.1:50412 \
             \"GET /export.csv?rows=100&mode=bounded HTTP/1.1\" 200 mode=bounded \
             body_bytes=5043 duration_ms=3 end=complete"
        );
    }

    #[test]
    fn missing_fields_are_dashes() {
        let record = AccessRecord {
            peer: "127.0.0.1:50412".parse().unwrap(),
            request_line: None,
            duration: Duration::from_secs(10),
            outcome: Outcome {
                status: Some(Status::RequestTimeout),
                ..Outcome::ended(End::HeaderTimeout)
            },
        };
        assert_eq!(
            record.format(),
            "127.0.0.1:50412 - 408 mode=- body_bytes=0 duration_ms=10000 end=header-timeout"
        );
    }

    /// The longest request line the server reads is logged whole, over
    /// HTTP/1.1 or HTTP/2 (two bytes shorter, its line measured as
    /// HTTP/1.1's), and one byte longer, only ever a refused one, is cut.
    #[test]
    fn the_longest_request_line_read_is_the_longest_logged() {
        let record = |line: &str| AccessRecord {
            peer: "127.0.0.1:50412".parse().unwrap(),
            request_line: Some(line.to_string()),
            duration: Duration::ZERO,
            outcome: Outcome::ended(End::Complete),
        };
        let target = |len| format!("/{}", "a".repeat(len - 1));
        let around = "GET ".len() + " HTTP/1.1".len();
        let longest = format!("GET {} HTTP/1.1", target(MAX_REQUEST_LINE_BYTES - around));
        assert_eq!(longest.len(), MAX_REQUEST_LINE_BYTES);
        let longest_h2 = longest.replace("HTTP/1.1", "HTTP/2");
        for line in [longest, longest_h2] {
            assert!(record(&line).format().contains(&format!("\"{line}\" - ")));
        }
        let refused = format!("GET {} HTTP/2", target(MAX_REQUEST_LINE_BYTES - around + 3));
        assert_eq!(refused.len(), MAX_REQUEST_LINE_BYTES + 1);
        assert!(record(&refused).format().contains(&format!("{CUT}\" - ")));
    }

    #[test]
    fn a_long_request_field_is_cut_whole_escapes_and_all() {
        let record = |line: String| AccessRecord {
            peer: "127.0.0.1:50412".parse().unwrap(),
            request_line: Some(line),
            duration: Duration::ZERO,
            outcome: Outcome::ended(End::Complete),
        };
        let fits = format!("GET /{} HTTP/2", "a".repeat(MAX_LOGGED_REQUEST_BYTES - 12));
        assert_eq!(fits.len(), MAX_LOGGED_REQUEST_BYTES);
        assert!(
            record(fits.clone())
                .format()
                .contains(&format!("\"{fits}\" - "))
        );
        for lead in 0..4 {
            let line = format!("GET /{}{}", "a".repeat(lead), "\\x01".repeat(20_000));
            let text = record(line).format();
            let (_, field) = text.split_once('"').unwrap();
            let (field, rest) = field.split_once('"').unwrap();
            assert!(field.len() <= MAX_LOGGED_REQUEST_BYTES, "{}", field.len());
            assert!(
                field.ends_with(&format!("\\x01{CUT}")),
                "{lead}: {}",
                &field[field.len() - 12..]
            );
            assert_eq!(rest, " - mode=- body_bytes=0 duration_ms=0 end=complete");
        }
        // Not a field this server logs, but no panic if one came, whether
        // the cut splits a character (printed as U+FFFD) or not.
        for lead in ["", "a"] {
            let wide = record(format!("GET /{lead}{}", "é".repeat(5_000)));
            let text = wide.format();
            assert!(text.contains(&format!("{CUT}\" - ")), "{lead:?}");
        }
    }

    /// `body_bytes` is the whole count, past 4 GiB too: an export of
    /// billions of rows is logged with what it sent, not a count cut short.
    #[test]
    fn body_bytes_past_4_gib_are_logged_whole() {
        let record = AccessRecord {
            peer: "127.0.0.1:50412".parse().unwrap(),
            request_line: None,
            duration: Duration::ZERO,
            outcome: Outcome {
                body_bytes: 5_000_000_000,
                ..Outcome::ended(End::ClientAbort)
            },
        };
        let line = record.format();
        assert!(line.contains(" body_bytes=5000000000 "), "{line}");
    }

    /// Every way a connection ends.
    const ALL_ENDS: [End; 13] = [
        End::Complete,
        End::ClientAbort,
        End::SendTimeout,
        End::MinRate,
        End::HeaderTimeout,
        End::Rejected,
        End::BufferCap,
        End::BufferBudget,
        End::ProducerFailed,
        End::Panic,
        End::DrainTimeout,
        End::CloseTimeout,
        End::ProtocolError,
    ];

    #[test]
    fn end_names_are_distinct() {
        for (i, a) in ALL_ENDS.iter().enumerate() {
            for b in &ALL_ENDS[i + 1..] {
                assert_ne!(a.as_str(), b.as_str());
            }
        }
    }

    /// Every reset the server decides cuts an export short too: its
    /// `backpressure_aborts_total` series exists, which the demo reads.
    #[test]
    fn every_reset_is_an_abort() {
        for end in End::RESETS {
            assert!(End::ABORTS.contains(&end), "{}", end.as_str());
        }
    }

    /// The request line ends at its CR: the CR is not logged, where it
    /// would end the line for a terminal or a log collector.
    #[test]
    fn the_request_line_stops_before_its_cr() {
        let head = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(request_line(head), "GET /x HTTP/1.1");
    }

    /// A connection refused for want of a thread had its whole answer (a
    /// 503, or over HTTP/2 a GOAWAY), as a complete one did; a cut one
    /// did not.
    #[test]
    fn which_ends_sent_a_whole_response() {
        for end in [
            End::Complete,
            End::HeaderTimeout,
            End::ProtocolError,
            End::Rejected,
        ] {
            assert!(
                Outcome::ended(end).sent_whole_response(),
                "{}",
                end.as_str()
            );
        }
        for end in End::RESETS
            .into_iter()
            .chain([End::ClientAbort, End::Panic])
        {
            assert!(
                !Outcome::ended(end).sent_whole_response(),
                "{}",
                end.as_str()
            );
        }
    }

    /// docs/defenses.md lists every `end=` the access log can write.
    #[test]
    fn every_end_is_documented() {
        let docs = include_str!("../../docs/defenses.md");
        let list = &docs[docs.find("`end=` is").unwrap()..];
        let list = &list[..list.find("the request line").unwrap()];
        for end in ALL_ENDS {
            let word = format!("`{}`", end.as_str());
            assert!(list.contains(&word), "{word} is not in docs/defenses.md");
        }
    }
}
