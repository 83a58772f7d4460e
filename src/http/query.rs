//! The export's query string: `rows` and `mode`, decoded and validated.
//!
//! A query is client input, so every way it can be wrong gets its own
//! one-line answer naming the parameter: a typo such as `?row=5` is
//! reported, not silently replaced by the default (which would start a
//! million-row export the client never asked for).

use crate::export::Mode;
use crate::http::request::decimal;
use crate::http::target::percent_byte;

/// Rows exported when the query does not say.
pub const DEFAULT_ROWS: u64 = 1_000_000;
/// Strategy used when the query does not say: the correct one.
pub const DEFAULT_MODE: Mode = Mode::Bounded;

/// The validated parameters of one export request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportQuery {
    /// Rows after the header, within the server's cap.
    pub rows: u64,
    /// The body strategy to demonstrate.
    pub mode: Mode,
}

/// Most bytes of a name or value a reason quotes: enough to recognise it.
/// A target may be 8 KiB, and a reason is one line for a person to read;
/// what is left out is marked `...`.
const MAX_QUOTED_BYTES: usize = 64;

/// Parses `rows=N&mode=M` (both optional, each at most once, nothing else).
/// `max_rows` is the server's cap. The error is the one-line reason for a
/// 400 response.
pub fn parse_export_query(query: &[u8], max_rows: u64) -> Result<ExportQuery, String> {
    let mut rows = None;
    let mut mode = None;
    // Empty pieces (`a=1&&b=2`, a trailing `&`) carry nothing and are skipped.
    for pair in query.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let (sent_name, sent_value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        // Compared decoded, quoted as sent: the client finds in a reason
        // what it typed, not a space it never sent for a `+` or a `%20`.
        let quoted = |sent: &[u8]| {
            let shown = &sent[..sent.len().min(MAX_QUOTED_BYTES)];
            let more = if shown.len() < sent.len() { "..." } else { "" };
            format!("{}{more}", shown.escape_ascii())
        };
        let name = percent_decode(sent_name)
            .ok_or_else(|| "bad percent-encoding in a parameter name".to_string())?;
        let value = percent_decode(sent_value).ok_or_else(|| {
            format!(
                "bad percent-encoding in parameter \"{}\"",
                quoted(sent_name)
            )
        })?;
        match name.as_slice() {
            b"rows" if rows.is_some() => return Err(given_twice("rows")),
            b"mode" if mode.is_some() => return Err(given_twice("mode")),
            b"rows" => {
                let in_range = decimal(&value).filter(|&rows| rows <= max_rows);
                rows = Some(in_range.ok_or_else(|| {
                    format!(
                        "rows must be a whole number from 0 to {max_rows}, got \"{}\"",
                        quoted(sent_value)
                    )
                })?);
            }
            b"mode" => {
                mode = Some(Mode::from_name(&value).ok_or_else(|| {
                    format!(
                        "unknown mode \"{}\": expected {}",
                        quoted(sent_value),
                        Mode::names("or")
                    )
                })?);
            }
            _ => {
                return Err(format!(
                    "unknown parameter \"{}\": expected rows or mode",
                    quoted(sent_name)
                ));
            }
        }
    }
    Ok(ExportQuery {
        rows: rows.unwrap_or(DEFAULT_ROWS.min(max_rows)),
        mode: mode.unwrap_or(DEFAULT_MODE),
    })
}

fn given_twice(name: &str) -> String {
    format!("parameter \"{name}\" given more than once")
}

/// Decodes `%XX` escapes and `+` (a space, in HTML form encoding); `None`
/// if a `%` is not followed by two hex digits. The result is bytes: a query
/// may encode anything, and it is compared, never interpreted as text.
fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            b'%' => {
                out.push(percent_byte(rest)?);
                rest = &rest[2..];
            }
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
    }
    Some(out)
}
