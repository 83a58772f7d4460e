//! Reading an HTTP/1.1 response as it streams in, and saying honestly how
//! its body ended.
//!
//! After a head of at most [`MAX_HEAD_BYTES`] (what the server accepts for
//! a request head) and the empty line that ends it, and any interim (1xx)
//! heads before it (at most [`MAX_INTERIM_RESPONSES`]), the framing
//! decides what "complete" means: the last chunk (decoded as it streams by
//! [`ChunkedDecoder`]) or `Content-Length` bytes (what follows either is
//! discarded, not counted), or the server closing a close-delimited body.
//! Any other end is a cut, such as a reset, or a close before the last
//! chunk or the last promised byte; a close-delimited body cut by a FIN
//! cannot be told from a whole one, which is why this server cuts with a
//! reset.

use std::fmt;

use crate::http::chunked::ChunkedDecoder;
use crate::http::escape::escaped;
use crate::http::request::{MAX_HEAD_BYTES, decimal, is_tchar, trim_ows};

/// How a response's body is delimited, from its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// `Transfer-Encoding: chunked`: complete when the last chunk arrives.
    Chunked,
    /// `Content-Length: n`: complete after exactly n bytes.
    Length(u64),
    /// Neither: the body ends when the server closes the connection.
    CloseDelimited,
    /// None at all, whatever the fields say: a 1xx, 204 or 304 response
    /// ends at its head (RFC 9112 §6.3).
    NoBody,
}

/// The parts of a response head this client uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedHead {
    /// The status code, such as 200.
    pub status: u16,
    /// What "complete" means for the body.
    pub framing: BodyFraming,
}

/// Parses a response head (without its final blank line).
///
/// As bytes, like the server parses requests (RFC 9112 §2.2): a reason
/// phrase or a field value may carry any octet, and only the status code
/// and the fields that frame the body are interpreted, as ASCII.
pub fn parse_response_head(head: &[u8]) -> Result<ReceivedHead, String> {
    // Lines end in CRLF; a recipient may also take a bare LF (§2.2), and
    // this one does, in the lines and in the empty line that ends the head
    // ([`ResponseReader::feed`]). The server's parser does not: a proxy in
    // front of it could read such a head differently, and a request
    // smuggled between two readings is the attack; a client reading its
    // own response risks nothing.
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let status_line = lines.next().unwrap_or_default();
    let bad_status = || format!("bad status line '{}'", quoted(status_line));
    // HTTP/1.x SP 3DIGIT [SP reason-phrase]
    let (minor, code, after) = match status_line.strip_prefix(b"HTTP/1.") {
        Some([minor, b' ', a, b, c, after @ ..]) => (*minor, [*a, *b, *c], after),
        _ => return Err(bad_status()),
    };
    if !minor.is_ascii_digit() || after.first().is_some_and(|&b| b != b' ') {
        return Err(bad_status());
    }
    let status = status_code(&code).ok_or_else(bad_status)?;
    // Each field's name and value, a folded line (obs-fold: one that starts
    // with whitespace) joined to the value above it with a space, as a user
    // agent must (RFC 9112 §5.2): skipped, it could change what a framing
    // field says. A fold that looks like a field (`X: a` then
    // ` Content-Length: 5`) is part of X's value, as §5.2 has it, and frames
    // nothing. Whitespace before the first field is refused (§2.2).
    // Copies of the head's values: at most its [`MAX_HEAD_BYTES`].
    let mut fields: Vec<(&[u8], Vec<u8>)> = Vec::new();
    for line in lines {
        let bad_line = || format!("bad header line '{}'", quoted(line));
        if matches!(line.first(), Some(b' ' | b'\t')) {
            let (_, value) = fields.last_mut().ok_or_else(bad_line)?;
            value.push(b' ');
            value.extend_from_slice(trim_ows(line));
            continue;
        }
        // A name that is not a token (`Content-Length : 5`) is refused:
        // skipped, it could hide the field that frames the body, and a cut
        // body would pass for a close-delimited one.
        let colon = line.iter().position(|&b| b == b':').ok_or_else(bad_line)?;
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(bad_line());
        }
        fields.push((name, value.to_vec()));
    }
    let (mut chunked, mut length) = (false, None);
    for (name, value) in &fields {
        let value = trim_ows(value);
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if !value.eq_ignore_ascii_case(b"chunked") {
                return Err(format!("unsupported Transfer-Encoding '{}'", quoted(value)));
            }
            // Two fields are one list (RFC 9110 §5.3): `chunked, chunked`,
            // a coding applied twice (RFC 9112 §6.1), refused as one field
            // saying so is; decoded once, the inner framing would be body.
            if chunked {
                return Err("Transfer-Encoding chunked twice".to_string());
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            // 1*DIGIT (RFC 9110 §8.6).
            let n =
                decimal(value).ok_or_else(|| format!("bad Content-Length '{}'", quoted(value)))?;
            if length.is_some_and(|previous| previous != n) {
                return Err("conflicting Content-Length fields".to_string());
            }
            length = Some(n);
        }
    }
    let framing = match (chunked, length) {
        // Status first (RFC 9112 §6.3): a 304's Content-Length is the size
        // of the body it stands in for, not one that follows. (So is any
        // response's to HEAD, which this client never sends.)
        _ if matches!(status, 100..=199 | 204 | 304) => BodyFraming::NoBody,
        // HTTP/1.0 has no Transfer-Encoding: such a message was likely
        // passed on by a hop that did not decode it, and its framing must be
        // taken as faulty (RFC 9112 §6.1).
        (true, _) if minor == b'0' => {
            return Err("Transfer-Encoding in an HTTP/1.0 response".to_string());
        }
        (true, Some(_)) => return Err("both Transfer-Encoding and Content-Length".to_string()),
        (true, None) => BodyFraming::Chunked,
        (false, Some(n)) => BodyFraming::Length(n),
        (false, None) => BodyFraming::CloseDelimited,
    };
    Ok(ReceivedHead { status, framing })
}

/// Where a head ends, searching from `from`: at its first empty line, an
/// LF followed by CRLF or by a bare LF, as [`parse_response_head`] takes
/// lines. Returns the head's length (up to that LF) and where what follows
/// the empty line begins.
fn head_end(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
    (from..bytes.len()).find_map(|at| match &bytes[at..] {
        [b'\n', b'\n', ..] => Some((at, at + 2)),
        [b'\n', b'\r', b'\n', ..] => Some((at, at + 3)),
        _ => None,
    })
}

/// How the reading ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyEnd {
    /// The body ended as its framing says a complete body ends.
    Complete(BodyFraming),
    /// The `--for` time ran out (or the caller said stop) before the end.
    Stopped,
    /// The body was cut: the connection closed or failed before the end.
    Cut(String),
    /// No response at all: connecting, sending or the head failed.
    Failed(String),
}

impl fmt::Display for BodyEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyEnd::Complete(BodyFraming::Chunked) => {
                f.write_str("body ended cleanly (last chunk received)")
            }
            BodyEnd::Complete(BodyFraming::Length(n)) => {
                write!(f, "body ended cleanly (Content-Length {n} reached)")
            }
            BodyEnd::Complete(BodyFraming::CloseDelimited) => {
                f.write_str("body ended cleanly (server closed a close-delimited body)")
            }
            BodyEnd::Complete(BodyFraming::NoBody) => {
                f.write_str("no body, as the status says (RFC 9112 §6.3)")
            }
            BodyEnd::Stopped => f.write_str("stopped by the time limit before the body ended"),
            BodyEnd::Cut(why) => write!(f, "body was cut: {why}"),
            BodyEnd::Failed(why) => write!(f, "request failed: {why}"),
        }
    }
}

/// A server's bytes as a message quotes them, between `'`s: what is not
/// visible ASCII or a space, and `'` and `\`, written `\xHH`. Printed raw,
/// a broken or hostile server's newline would split the one line a script
/// reads, and an escape sequence would reach the terminal as a command.
/// At most [`QUOTED_MOST`] bytes, then how many there were: a 16 KiB bad
/// line, four characters a byte, is no line a person reads.
pub fn quoted(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(QUOTED_MOST)];
    let text = escaped(shown, |byte| {
        (byte.is_ascii_graphic() || byte == b' ') && byte != b'\''
    });
    match bytes.len() > QUOTED_MOST {
        true => format!("{text}... ({} bytes in all)", bytes.len()),
        false => text,
    }
}

/// The most bytes [`quoted`] shows of what a server sent: a status line or
/// a field is rarely longer, and what is wrong with it is near its start.
pub const QUOTED_MOST: usize = 200;

/// A status code: exactly three digits (RFC 9110 §15), as HTTP/1.x's
/// status line and HTTP/2's `:status` carry it; `u16`'s own parser would
/// take `+200` and `0200`. From 100 to 599, the classes there are: a
/// `000` or `999` taken as final would frame a body by no rule.
pub fn status_code(digits: &[u8]) -> Option<u16> {
    let code = decimal(digits).filter(|_| digits.len() == 3)?;
    u16::try_from(code)
        .ok()
        .filter(|code| (100..600).contains(code))
}

/// The most interim (1xx) responses taken before the final one: a server
/// sends one or two (100 Continue, 103 Early Hints), and one that sends
/// them without end would keep the client reading, each a byte received
/// that the idle timeout counts, and never a response.
pub const MAX_INTERIM_RESPONSES: u32 = 32;

/// The most head bytes a reader keeps: the longest head, and the empty line
/// that may end it.
const MAX_KEPT_HEAD_BYTES: usize = MAX_HEAD_BYTES + b"\r\n\r\n".len();

/// A response as it streams in: its head collected, then its body counted.
#[derive(Default)]
pub struct ResponseReader {
    /// Head bytes so far, at most [`MAX_KEPT_HEAD_BYTES`]; emptied once
    /// parsed.
    head_bytes: Vec<u8>,
    /// The parsed head, once complete.
    head: Option<ReceivedHead>,
    /// Where a chunked body is in its framing.
    chunked: ChunkedDecoder,
    /// Body bytes received, framing removed.
    body_bytes: u64,
    /// Interim (1xx) responses so far, at most [`MAX_INTERIM_RESPONSES`].
    interim: u32,
}

impl ResponseReader {
    pub fn new() -> ResponseReader {
        ResponseReader::default()
    }

    /// The status code, once the head has arrived.
    pub fn status(&self) -> Option<u16> {
        self.head.as_ref().map(|head| head.status)
    }

    /// Body bytes received so far, framing removed.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Takes the bytes of one read; returns how the reading ended, if it did.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Option<BodyEnd> {
        // A loop, since interim responses (1xx) may come before the final head.
        while self.head.is_none() {
            // Only the new bytes and the 2 before them can complete the
            // empty line (`\n\r\n` or `\n\n`) that ends the head.
            let searched_from = self.head_bytes.len().saturating_sub(2);
            let appended = bytes.len().min(MAX_KEPT_HEAD_BYTES - self.head_bytes.len());
            self.head_bytes.extend_from_slice(&bytes[..appended]);
            let Some((end, body_start)) = head_end(&self.head_bytes, searched_from) else {
                // Only once all that is kept has come with no end in it: a
                // head whose empty line comes later could not fit, and one
                // whose line end is still on its way in the next read is
                // judged as if it had come in this one.
                if self.head_bytes.len() == MAX_KEPT_HEAD_BYTES {
                    let why = format!("response head longer than {MAX_HEAD_BYTES} bytes");
                    return Some(BodyEnd::Failed(why));
                }
                return None;
            };
            let head = match parse_response_head(&self.head_bytes[..end]) {
                Ok(head) => head,
                Err(why) => return Some(BodyEnd::Failed(why)),
            };
            // What followed the head in this read is the start of the body,
            // or of the next head.
            let body_start_in_read = appended - (self.head_bytes.len() - body_start);
            bytes = &bytes[body_start_in_read..];
            self.head_bytes = Vec::new();
            match head.status {
                101 => {
                    let why = "101 Switching Protocols, which this client did not ask for";
                    return Some(BodyEnd::Failed(why.to_string()));
                }
                // An interim response (100 Continue, 103 Early Hints): the
                // final one follows (RFC 9110 §15.2).
                100..=199 if self.interim < MAX_INTERIM_RESPONSES => self.interim += 1,
                100..=199 => {
                    let why = format!("more than {MAX_INTERIM_RESPONSES} interim (1xx) responses");
                    return Some(BodyEnd::Failed(why));
                }
                _ => self.head = Some(head),
            }
        }
        let framing = self.head.as_ref()?.framing;
        match framing {
            BodyFraming::Chunked => {
                // The body ends at its last chunk (RFC 9112 §7.1); what
                // follows is discarded, as after a Content-Length body.
                let mut count = 0;
                let fed = self.chunked.feed(bytes, |data| count += data.len() as u64);
                self.body_bytes += count;
                match fed {
                    Err(e) => Some(BodyEnd::Cut(e.to_string())),
                    Ok(()) => self.chunked.is_done().then_some(BodyEnd::Complete(framing)),
                }
            }
            BodyFraming::Length(length) => {
                // The body ends at the length (RFC 9112 §6.3). Bytes after
                // it are no body, and no next response either, since this
                // client asked for the connection to close: they are
                // discarded, as §6.3 allows. Counted as body, or called a
                // cut, they would give a verdict that depends on whether
                // they came in the same read as the last body byte.
                let wanted = length - self.body_bytes;
                self.body_bytes += wanted.min(bytes.len() as u64);
                (self.body_bytes == length).then_some(BodyEnd::Complete(framing))
            }
            BodyFraming::CloseDelimited => {
                self.body_bytes += bytes.len() as u64;
                None
            }
            // Waiting for a Content-Length's bytes or for the close would
            // hang, or take the next bytes for a body that is not there.
            BodyFraming::NoBody => Some(BodyEnd::Complete(framing)),
        }
    }

    /// The server closed the connection.
    pub fn eof(&self) -> BodyEnd {
        match self.head.as_ref().map(|head| head.framing) {
            None => BodyEnd::Failed("connection closed before a complete response head".into()),
            Some(framing @ (BodyFraming::CloseDelimited | BodyFraming::NoBody)) => {
                BodyEnd::Complete(framing)
            }
            Some(_) => BodyEnd::Cut(format!(
                "connection closed after {} body bytes, before the end",
                self.body_bytes
            )),
        }
    }

    /// The connection failed: a cut body, or no response at all.
    pub fn cut(&self, why: String) -> BodyEnd {
        match self.head {
            None => BodyEnd::Failed(why),
            Some(_) => BodyEnd::Cut(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads() {
        let head = parse_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked").unwrap();
        assert_eq!((head.status, head.framing), (200, BodyFraming::Chunked));
        let head = parse_response_head(b"HTTP/1.0 404 Not Found\r\ncontent-length:  12 ").unwrap();
        assert_eq!((head.status, head.framing), (404, BodyFraming::Length(12)));
        let head = parse_response_head(b"HTTP/1.1 200 OK\r\nX: y").unwrap();
        assert_eq!(head.framing, BodyFraming::CloseDelimited);
        // Any octet in a reason phrase or a value; a bare LF ends a line.
        let head = parse_response_head(b"HTTP/1.1 200 \xe9t\xe9\nX: \xff\nContent-Length: 3");
        assert_eq!(head.unwrap().framing, BodyFraming::Length(3));
        let head = parse_response_head(b"HTTP/1.1 204").unwrap();
        assert_eq!((head.status, head.framing), (204, BodyFraming::NoBody));
        // A folded line continues the field above it (RFC 9112 §5.2): the
        // fields after it are read, and a fold of nothing adds nothing.
        let folded = b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 4\r\n \t";
        assert_eq!(
            parse_response_head(folded).unwrap().framing,
            BodyFraming::Length(4)
        );
        for bad in [
            &b"HTTP/2 200 OK"[..],
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 abc OK",
            b"ICY 200 OK",
            b"HTTP/1.1 200 OK\r\nno colon",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1",
            b"HTTP/1.1 200 OK\r\nContent-Length: +1",
            b"HTTP/1.1 200 OK\r\nContent-Length : 1",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding\t: chunked",
            // Whitespace before the first field line (RFC 9112 §2.2).
            b"HTTP/1.1 200 OK\r\n X: a",
            // A fold joined with a space: a length that is no number.
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\tgzip",
            b"HTTP/1.1 200 OK\r\n: empty name",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5",
            b"HTTP/1.1 2000 OK",
            b"HTTP/1.1  200 OK",
            b"HTTP/1.x 200 OK",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999",
            b"HTTP/1.1 200 OK\r\nContent-Length: ",
            b"HTTP/1.1 200 OK\r\nContent-\xffLength: 1",
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked",
            // Chunked twice, as `chunked, chunked` is (RFC 9112 §6.1).
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
        ] {
            let text = String::from_utf8_lossy(bad);
            assert!(parse_response_head(bad).is_err(), "{text}");
        }
    }

    /// Feeds a whole response to a reader in pieces of `piece` bytes.
    fn read_in_pieces(wire: &[u8], piece: usize) -> (Option<BodyEnd>, u64) {
        let mut reader = ResponseReader::new();
        for part in wire.chunks(piece) {
            if let Some(end) = reader.feed(part) {
                return (Some(end), reader.body_bytes);
            }
        }
        (None, reader.body_bytes)
    }

    #[test]
    fn bodies_end_as_their_framing_says() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let length = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        for piece in 1..=chunked.len() {
            let (end, body) = read_in_pieces(chunked, piece);
            assert_eq!(end, Some(BodyEnd::Complete(BodyFraming::Chunked)));
            assert_eq!(body, 3);
            let (end, body) = read_in_pieces(length, piece);
            assert_eq!(end, Some(BodyEnd::Complete(BodyFraming::Length(3))));
            assert_eq!(body, 3);
        }
        // Cut short: no end yet, and EOF now would be a cut.
        let mut reader = ResponseReader::new();
        assert_eq!(reader.feed(&chunked[..55]), None);
        assert!(matches!(reader.eof(), BodyEnd::Cut(_)));
        // Close-delimited: EOF is the clean end.
        let mut reader = ResponseReader::new();
        assert_eq!(reader.feed(b"HTTP/1.0 200 OK\r\n\r\nabcd"), None);
        assert_eq!(reader.body_bytes, 4);
        assert_eq!(reader.eof(), BodyEnd::Complete(BodyFraming::CloseDelimited));
        // No head at all.
        assert!(matches!(ResponseReader::new().eof(), BodyEnd::Failed(_)));
    }

    /// Bytes after a body are not body: it ends at its Content-Length (RFC
    /// 9112 §6.3) or at its last chunk (§7.1), in whatever read they come,
    /// so the verdict cannot depend on how the reads fall. (This client asked
    /// for the connection to close: what follows is no next response.)
    #[test]
    fn a_body_ends_at_its_framing_whatever_follows() {
        let length: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef";
        let chunked: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                               3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK";
        for (wire, framing) in [
            (length, BodyFraming::Length(3)),
            (chunked, BodyFraming::Chunked),
        ] {
            for piece in 1..=wire.len() {
                let (end, body) = read_in_pieces(wire, piece);
                assert_eq!(end, Some(BodyEnd::Complete(framing)), "{framing:?} {piece}");
                assert_eq!(body, 3, "{framing:?} {piece}");
            }
        }
    }

    /// RFC 9112 §6.3: a 204 or 304 response ends at its head, whatever its
    /// fields say: a client that waited for a 304's Content-Length bytes,
    /// or for a 204's close, would wait for ever on a server that holds the
    /// connection open.
    #[test]
    fn a_204_or_304_response_has_no_body() {
        for wire in [
            &b"HTTP/1.1 204 No Content\r\n\r\n"[..],
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            let (end, body) = read_in_pieces(wire, wire.len());
            let text = String::from_utf8_lossy(wire);
            assert_eq!(end, Some(BodyEnd::Complete(BodyFraming::NoBody)), "{text}");
            assert_eq!(body, 0, "{text}");
        }
    }

    /// RFC 9112 §2.2: a recipient may take a bare LF as a line end, as
    /// parse_response_head does; the end of such a head is found, where a
    /// search for CRLF CRLF alone would miss it and call the response
    /// "closed before a complete response head".
    #[test]
    fn a_head_with_bare_lf_line_ends_is_read() {
        for wire in [
            &b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\n\r\nhello",
            b"HTTP/1.1 200 OK\nContent-Length: 5\r\n\nhello",
        ] {
            for piece in 1..=wire.len() {
                let (end, body) = read_in_pieces(wire, piece);
                let text = String::from_utf8_lossy(wire);
                let whole = Some(BodyEnd::Complete(BodyFraming::Length(5)));
                assert_eq!((end, body), (whole, 5), "{text} in pieces of {piece}");
            }
        }
    }

    /// RFC 9110 §15.2: a client must parse 1xx responses before the final
    /// one even if it did not ask for them; taken as final, a `100
    /// Continue` would make the real response's head part of a
    /// close-delimited body.
    #[test]
    fn interim_responses_are_skipped() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                     HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for piece in 1..=wire.len() {
            let mut reader = ResponseReader::new();
            let end = wire.chunks(piece).find_map(|part| reader.feed(part));
            assert_eq!(
                end,
                Some(BodyEnd::Complete(BodyFraming::Length(5))),
                "{piece}"
            );
            assert_eq!((reader.status(), reader.body_bytes), (Some(200), 5));
        }
        // As many as MAX_INTERIM_RESPONSES come before the final one; one more is no answer.
        for (count, whole) in [
            (MAX_INTERIM_RESPONSES, true),
            (MAX_INTERIM_RESPONSES + 1, false),
        ] {
            let mut wire = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(count as usize);
            wire.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
            let (end, _) = read_in_pieces(&wire, 7);
            match whole {
                true => assert_eq!(end, Some(BodyEnd::Complete(BodyFraming::Length(1)))),
                false => {
                    assert!(matches!(end, Some(BodyEnd::Failed(why)) if why.contains("interim")))
                }
            }
        }
        // 101 ends HTTP/1.1 on this connection, and this client never asks for it.
        let (end, _) = read_in_pieces(b"HTTP/1.1 101 Switching Protocols\r\n\r\nxyz", 100);
        assert!(matches!(end, Some(BodyEnd::Failed(why)) if why.contains("101")));
    }

    #[test]
    fn bad_bodies_and_heads_are_reported() {
        let bad_size = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let (end, _) = read_in_pieces(bad_size, 7);
        assert!(matches!(end, Some(BodyEnd::Cut(why)) if why.contains("hex digit")));
        let huge = vec![b'x'; MAX_HEAD_BYTES + 10];
        let (end, _) = read_in_pieces(&huge, 1000);
        assert!(matches!(end, Some(BodyEnd::Failed(why)) if why.contains("longer than")));
        // However much one read brings, the head kept stays within its
        // bound (and the 4 bytes that may end it).
        let mut reader = ResponseReader::new();
        let end = reader.feed(&vec![b'x'; 4 * MAX_HEAD_BYTES]);
        assert!(matches!(end, Some(BodyEnd::Failed(why)) if why.contains("longer than")));
        assert_eq!(reader.head_bytes.len(), MAX_HEAD_BYTES + 4);
        // A connection that fails before the head is a request that
        // failed; after it, a body cut.
        let mut reader = ResponseReader::new();
        assert_eq!(reader.cut("x".into()), BodyEnd::Failed("x".into()));
        reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12");
        assert_eq!(reader.cut("x".into()), BodyEnd::Cut("x".into()));
    }

    /// Visible ASCII and spaces stay; every other byte, and the quote and
    /// the backslash that would make the quoting ambiguous, is `\xHH`.
    #[test]
    fn a_servers_bytes_are_quoted_on_one_line() {
        assert_eq!(quoted(b"HTTP/1.1 200 OK"), "HTTP/1.1 200 OK");
        assert_eq!(quoted(b"1\nFAKE\r"), r"1\x0aFAKE\x0d");
        assert_eq!(quoted(b"\x1b[2J\x00\x7f"), r"\x1b[2J\x00\x7f");
        assert_eq!(quoted("é'\\".as_bytes()), r"\xc3\xa9\x27\x5c");
        // A long one is cut, and says how long it was.
        let long = [b'a'; QUOTED_MOST + 1];
        let said = format!(
            "{}... ({} bytes in all)",
            "a".repeat(QUOTED_MOST),
            QUOTED_MOST + 1
        );
        assert_eq!(quoted(&long), said);
        assert_eq!(quoted(&long[1..]), "a".repeat(QUOTED_MOST));
    }

    /// A status code is exactly three digits (RFC 9110 §15): over HTTP/2
    /// no status line's shape checks `:status` before this does, and
    /// `0200` taken for 200 would pass a malformed head for a 2xx.
    #[test]
    fn a_status_code_is_exactly_three_digits() {
        assert_eq!(status_code(b"200"), Some(200));
        assert_eq!(
            (status_code(b"100"), status_code(b"599")),
            (Some(100), Some(599))
        );
        for bad in [
            &b"0200"[..],
            b"2000",
            b"20",
            b"+20",
            b"",
            b"000",
            b"099",
            b"600",
        ] {
            assert_eq!(status_code(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    /// `chunked` must be the only coding (this client decodes no other),
    /// and the whole value: `chunked, gzip` ends in a coding that is not
    /// chunked, so its body is not chunk-framed (RFC 9112 §6.3), and one
    /// decoded as chunks could pass for whole when cut.
    #[test]
    fn a_transfer_encoding_that_only_starts_with_chunked_is_refused() {
        for bad in [&b"chunked, gzip"[..], b"chunkedx", b"chunked;q=1"] {
            let mut head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ".to_vec();
            head.extend_from_slice(bad);
            let text = String::from_utf8_lossy(bad);
            assert!(parse_response_head(&head).is_err(), "{text}");
        }
    }

    /// A head of exactly [`MAX_HEAD_BYTES`] is read, ended by CRLF CRLF or
    /// by bare LFs, however its reads fall: in one, or split at any byte
    /// of its end. (Judged by what one read held, a CR that came alone
    /// made the same head too long.)
    #[test]
    fn a_head_of_exactly_the_limit_is_read_in_any_reads() {
        let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX: ".to_vec();
        head.resize(MAX_HEAD_BYTES, b'a');
        for ending in [&b"\r\n\r\nx"[..], b"\n\nx"] {
            let wire = [&head[..], ending].concat();
            for split in MAX_HEAD_BYTES - 2..wire.len() {
                let mut reader = ResponseReader::new();
                assert_eq!(reader.feed(&wire[..split]), None, "split at {split}");
                let end = reader.feed(&wire[split..]);
                let whole = Some(BodyEnd::Complete(BodyFraming::Length(1)));
                assert_eq!(end, whole, "split at {split}");
            }
        }
    }
}
