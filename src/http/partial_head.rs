//! A request head before it is whole: what its first bytes already tell,
//! where it ends, and what a head too large is blamed on.
//!
//! A reader calls [`check_request_start`] on each read, so that bytes which
//! cannot begin a request line (a TLS handshake, binary) get their 400 at
//! once instead of at the head deadline; [`head_end`] finds the end among
//! the bytes just read, a bare LF or bare CR included, so that the parser
//! refuses it at once; [`oversized_head_error`] blames a head over the limit on its
//! request line (414) or its fields (431); and [`is_head`] tells an answer
//! whether to leave out its body even when the head never completes.
//!
//! None of these parses: they look at raw bytes as they arrive, by the
//! rules and limits the parser of a whole head ([`request`](super::request))
//! defines; the request line, once whole, is judged there.

use super::request::{
    HEAD_TOO_LARGE, HeadError, MAX_REQUEST_LINE_BYTES, bad, empty_lines, is_tchar, line_too_long,
};

/// The answer to first bytes that cannot begin a request line. A TLS
/// ClientHello (`16 03 01 …`) is the usual one: an `https://` URL pointed
/// at this plain-HTTP port.
const NOT_A_REQUEST_LINE: HeadError = bad(
    "not an HTTP/1.1 request: it must start with a method and a space (TLS sent to a plain-HTTP port?)",
);

/// Checks the first bytes of a request, after its empty lines, while they
/// arrive: they must be able to begin a request line, a method (a token,
/// RFC 9110 §9.1) and then a space. Anything else is refused with 400 at
/// once, without waiting for a head that will never end.
///
/// Only the method's characters are judged, never its name: the HTTP/2
/// connection preface (`PRI * HTTP/2.0`) begins like any request line, and
/// gets the parser's answer to its version.
pub fn check_request_start(start: &[u8]) -> Result<(), HeadError> {
    // The first half of one more empty line, perhaps.
    if start == b"\r" {
        return Ok(());
    }
    let method_len = start.iter().take_while(|&&b| is_tchar(b)).count();
    match start.get(method_len) {
        // A method still arriving.
        None => Ok(()),
        Some(b' ') if method_len > 0 => Ok(()),
        Some(_) => Err(NOT_A_REQUEST_LINE),
    }
}

/// Whether a request's first bytes, empty lines skipped, name the method
/// HEAD, whose answers never carry a body (RFC 9110 §9.3.2), not even an
/// error's: `None` while the bytes so far could still begin `HEAD ` or
/// another method. An answer to a head that never completed (too slow, too
/// large) looks here, and so does the connection cap's 503 once its wait
/// for a whole head is over.
pub fn is_head(start: &[u8]) -> Option<bool> {
    let method = &start[empty_lines(start)..];
    if method.starts_with(b"HEAD ") {
        Some(true)
    } else if b"HEAD ".starts_with(method) || method == b"\r" {
        None
    } else {
        Some(false)
    }
}

/// Where the head in `buf[..filled_to]` ends, looking at the bytes that
/// arrived since `filled_from`: just after the CRLF CRLF that ends it; just
/// after a line feed with no carriage return before it; or just after the
/// byte that follows a carriage return, if that is no line feed. The parser
/// can then reject a bare-LF or bare-CR head at once, instead of waiting
/// for a CRLF CRLF that could not make it valid, and answering it with the
/// head deadline's 408 (a client that sends CRs alone may send no LF).
pub fn head_end(buf: &[u8], filled_from: usize, filled_to: usize) -> Option<usize> {
    (filled_from..filled_to).find_map(|i| {
        let after_cr = i > 0 && buf[i - 1] == b'\r';
        let ends = if buf[i] == b'\n' {
            !after_cr || (i >= 3 && &buf[i - 3..=i] == b"\r\n\r\n")
        } else {
            after_cr
        };
        ends.then_some(i + 1)
    })
}

/// A head that did not fit: 414 if the request line alone was too long, so
/// the client knows it is the URL and not its headers (or 501 if the line
/// is long for a method this server does not know, [`line_too_long`]). The
/// line is measured as [`parse_head`](super::request::parse_head) measures
/// it, without its CRLF: an 8 KiB line is within its limit, and the fields
/// are to blame.
pub fn oversized_head_error(head: &[u8]) -> HeadError {
    let request_line_len = head
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(head.len());
    if request_line_len > MAX_REQUEST_LINE_BYTES {
        line_too_long(&head[..request_line_len])
    } else {
        HEAD_TOO_LARGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{MAX_HEAD_BYTES, parse_head};
    use crate::http::response::Status;

    #[test]
    fn a_head_ends_at_crlf_crlf_or_at_a_bare_lf_or_cr() {
        let full = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        assert_eq!(head_end(full, 0, full.len()), Some(full.len() - 4));
        // The terminator straddling two reads is still found.
        assert_eq!(head_end(full, 26, full.len()), Some(full.len() - 4));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0, 25), None);
        let bare = b"GET / HTTP/1.1\nHost: a\n\n";
        assert_eq!(head_end(bare, 0, bare.len()), Some(15));
        assert_eq!(
            parse_head(&bare[..15]).unwrap_err().reason,
            "line ends in a bare LF, not CRLF"
        );
        // A CR and then anything but an LF (at `after`), in the request
        // line or a field, the CR in one read and the byte after it in the
        // next: the head ends after that byte, and is refused for its CR.
        for (bare_cr, after) in [
            (&b"GET / HTTP/1.1\rHost"[..], 15),
            (b"GET / HTTP/1.1\r\nHost: a\r\r", 24),
        ] {
            let end = head_end(bare_cr, after, bare_cr.len());
            assert_eq!(end, Some(after + 1), "{bare_cr:?}");
            let reason = parse_head(&bare_cr[..after + 1]).unwrap_err().reason;
            assert_eq!(reason, "bare CR in the request head", "{bare_cr:?}");
        }
        // A CR last, its LF perhaps still to come, ends nothing yet.
        assert_eq!(head_end(b"GET / HTTP/1.1\r", 0, 15), None);
        // A CR first, and no LF after it.
        assert_eq!(head_end(b"\rX", 0, 2), Some(2));
    }

    #[test]
    fn bytes_that_cannot_begin_a_request_line_are_refused_as_they_arrive() {
        // A TLS 1.x ClientHello's record header, and other strangers.
        let refused: [&[u8]; 8] = [
            &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00],
            b"\x00",
            b" GET / HTTP/1.1",
            b"GET\t/",
            b"Host: a\r\n",
            b"GET\r\n",
            b"\r\r",
            b"\n",
        ];
        for start in refused {
            let got = check_request_start(start);
            assert_eq!(got, Err(NOT_A_REQUEST_LINE), "{start:?}");
        }
        let long_method = [b'M'; 1000];
        let possible: [&[u8]; 8] = [
            b"",
            b"\r",
            b"G",
            b"GET",
            b"GET /export.csv HTTP/1.1\r\nHost",
            b"BREW ",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            &long_method,
        ];
        for start in possible {
            assert_eq!(check_request_start(start), Ok(()), "{start:?}");
        }
    }

    #[test]
    fn head_is_known_from_the_first_bytes() {
        for (start, head) in [
            (&b"HEAD / HTTP/1.1\r\n"[..], Some(true)),
            (b"\r\nHEAD /x", Some(true)),
            (b"HEAD ", Some(true)),
            (b"", None),
            (b"HEA", None),
            (b"\r\n\r", None),
            (b"GET / HTTP/1.1", Some(false)),
            (b"HEADER / HTTP/1.1", Some(false)),
            (b"H\x16", Some(false)),
        ] {
            assert_eq!(is_head(start), head, "{start:?}");
        }
    }

    #[test]
    fn oversized_heads_blame_the_right_part() {
        let mut long_line = vec![b'a'; MAX_HEAD_BYTES];
        long_line[..5].copy_from_slice(b"GET /");
        assert_eq!(oversized_head_error(&long_line).status, Status::UriTooLong);
        // Long for its method, which this server does not know: a 501.
        let long_method = vec![b'M'; MAX_HEAD_BYTES];
        let status = oversized_head_error(&long_method).status;
        assert_eq!(status, Status::NotImplemented);
        let mut many_fields = b"GET / HTTP/1.1\r\n".to_vec();
        many_fields.resize(MAX_HEAD_BYTES, b'x');
        assert_eq!(
            oversized_head_error(&many_fields).status,
            Status::RequestHeaderFieldsTooLarge
        );
    }
}
