//! One response stream as the HTTP/2 client counts it: its report, and
//! what each of its frames does to that report.
//!
//! The connection loop (`h2.rs`) reads frames, and `h2_frames.rs` hands
//! each to the stream it names, if that stream is still open; here the
//! final head (after any 1xx) sets the status and the `content-length`,
//! DATA adds to the body, trailers frame nothing, and END_STREAM or
//! RST_STREAM ends the stream. The rule of the whole project holds here: a
//! body is complete only if END_STREAM came, after a head with a status,
//! with as many bytes as its `content-length` said; any other end is a
//! cut, or no answer, and says why.

use std::time::{Duration, Instant};

use super::response::{MAX_INTERIM_RESPONSES, quoted, status_code};
use crate::http::h2::request::check_field;
use crate::http::request::decimal;

/// How one stream's response went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// `:status`, once the head arrived.
    pub status: Option<u16>,
    /// DATA payload bytes received.
    pub body_bytes: u64,
    /// END_STREAM arrived, with as many body bytes as any
    /// `content-length` said: the body is complete.
    pub complete: bool,
    /// RST_STREAM arrived instead, with this code.
    pub reset: Option<u32>,
    /// From sending the request to END_STREAM (or the reset).
    pub latency: Option<Duration>,
    /// The head's `content-length`: a body of any other length at
    /// END_STREAM is malformed (RFC 9113 §8.1.1), and not complete.
    pub content_length: Option<u64>,
    /// Interim (1xx) heads before the final one, at most
    /// [`MAX_INTERIM_RESPONSES`], as HTTP/1.1's reader takes them.
    pub interim_heads: u32,
}

impl StreamReport {
    /// A header block on this stream, `fields` decoded, `end_stream` if
    /// its HEADERS frame ended the stream; `sent` is when the request was.
    /// A head, or trailers; `Some(why)` if it breaks the response.
    pub(super) fn on_head(
        &mut self,
        fields: &[(Vec<u8>, Vec<u8>)],
        end_stream: bool,
        sent: Instant,
    ) -> Option<String> {
        if let Some(why) = malformed(fields, self.status.is_some()) {
            return Some(why);
        }
        // After the final head, a block is trailers (RFC 9113 §8.1): it
        // ends the stream. Nothing in it frames the body (RFC 9110 §6.5.1):
        // a content-length there is not the body's, and a second head
        // would let a server shorten its own.
        if self.status.is_some() {
            if !end_stream {
                return Some("a header block after the head, not ending the stream".into());
            }
            return ended(self, sent);
        }
        // A head has a `:status` of three digits (RFC 9113 §8.3.2, RFC
        // 9110 §15). Taken as no status, a head without one would pass
        // for a 2xx.
        let status = fields.iter().find(|(name, _)| name == b":status");
        let Some((_, status)) = status else {
            return Some("a head without :status".into());
        };
        let Some(code) = status_code(status) else {
            return Some(format!("bad :status '{}'", quoted(status)));
        };
        if (100..200).contains(&code) {
            // An interim head (103 Early Hints): the final one follows,
            // so this one cannot end the stream (RFC 9113 §8.1).
            if end_stream {
                return Some(format!("an interim head ({code}) that ends the stream"));
            }
            self.interim_heads += 1;
            let most = MAX_INTERIM_RESPONSES;
            return (self.interim_heads > most)
                .then(|| format!("more than {most} interim (1xx) heads"));
        }
        self.status = Some(code);
        // 1*DIGIT (RFC 9110 §8.6), as the HTTP/1.1 reader takes it, and
        // every one alike: which of two differing ones holds, none says.
        let mut length = None;
        for (_, v) in fields.iter().filter(|(name, _)| name == b"content-length") {
            match decimal(v) {
                Some(n) if length.is_none_or(|length| length == n) => length = Some(n),
                Some(_) => return Some("conflicting content-length fields".into()),
                None => return Some(format!("bad content-length '{}'", quoted(v))),
            }
        }
        // A 204 or 304 has no content (RFC 9110 §15.3.5, §15.4.5), and may
        // still carry a content-length (RFC 9113 §8.1.1; a 304's is the
        // size of what the client has, RFC 9110 §8.6): it frames no body.
        self.content_length = length.filter(|_| !no_content(code));
        if end_stream { ended(self, sent) } else { None }
    }

    /// `bytes` of DATA (padding left out) on this stream, the last of
    /// them if `end_stream`; `Some(why)` if that end breaks the response.
    pub(super) fn on_data(
        &mut self,
        bytes: usize,
        end_stream: bool,
        sent: Instant,
    ) -> Option<String> {
        // A response's DATA follows its head (RFC 9113 §8.1): a body with
        // no status would pass for a 2xx's.
        if self.status.is_none() {
            return Some("DATA before the head".into());
        }
        self.body_bytes += bytes as u64;
        if end_stream { ended(self, sent) } else { None }
    }

    /// RST_STREAM with `code`: the stream ends, not complete.
    pub(super) fn on_reset(&mut self, code: u32, sent: Instant) {
        self.reset = Some(code);
        self.latency = Some(sent.elapsed());
    }
}

/// Whether a response with `status` has no content whatever its fields
/// say: a 204 or a 304 (this client never sends HEAD).
fn no_content(status: u16) -> bool {
    matches!(status, 204 | 304)
}

/// Ends `stream` at END_STREAM: complete, unless its body is not as long
/// as its `content-length` said, or it has one where its status allows
/// none; then why.
fn ended(stream: &mut StreamReport, sent: Instant) -> Option<String> {
    stream.latency = Some(sent.elapsed());
    let status = stream.status.unwrap_or_default();
    match stream.content_length {
        _ if no_content(status) && stream.body_bytes > 0 => Some(format!(
            "a body of {} bytes on a {status}, which has none",
            stream.body_bytes
        )),
        Some(length) if length != stream.body_bytes => Some(format!(
            "a body of {} bytes, not the {length} its content-length said",
            stream.body_bytes
        )),
        _ => {
            stream.complete = true;
            None
        }
    }
}

/// Why a response's header block, a head or `trailers`, is malformed (RFC
/// 9113 §8.1.1), if it is: each regular field as the server takes a
/// request's (§8.2.1: a lowercase token for a name, no control byte in a
/// value; §8.2.2: no connection-specific field, TE being a request's
/// alone), and pseudo-fields only a head's `:status`, once, before every
/// regular one (§8.3). A malformed response is no response: a field this
/// client does not read as written (`Content-Length` for `content-length`)
/// would let a cut body pass for whole.
fn malformed(fields: &[(Vec<u8>, Vec<u8>)], trailers: bool) -> Option<String> {
    let (mut regular_seen, mut statuses) = (false, 0);
    for (name, value) in fields {
        if name.starts_with(b":") {
            if trailers {
                return Some("a pseudo-field in trailers".into());
            }
            if regular_seen {
                return Some(format!("'{}' after a regular field", quoted(name)));
            }
            if name != b":status" {
                return Some(format!("'{}', not a response's pseudo-field", quoted(name)));
            }
            statuses += 1;
            continue;
        }
        regular_seen = true;
        if let Err(why) = check_field(name, value) {
            return Some(format!("{why}: '{}'", quoted(name)));
        }
        if name == b"te" {
            return Some("a connection-specific field: 'te'".into());
        }
    }
    (statuses > 1).then(|| "more than one :status".into())
}

/// What a stream's frames do to its report (a reset, frames after its
/// end, padding, trailers), through a scripted server (the helpers of
/// `h2.rs`'s tests).
#[cfg(test)]
mod tests {
    use super::super::h2::tests::{a_head, a_head_and_ten_bytes, report_of};
    use crate::http::h2::frame::{ErrorCode, Kind, flag};
    use crate::http::h2::frame_write::{self, raw_frame};
    use crate::http::h2::hpack_encode;

    /// RFC 9113 §5.1: after RST_STREAM the stream is closed; a DATA frame
    /// with END_STREAM that follows is a stream error (STREAM_CLOSED), not
    /// the end of a whole body. The client must not report the reset stream complete,
    /// nor count what follows the reset as its body, nor let a second reset
    /// replace the first.
    #[test]
    fn a_reset_stream_is_never_complete_even_if_end_stream_follows() {
        let mut frames = a_head_and_ten_bytes();
        frame_write::rst_stream(&mut frames, 1, ErrorCode::InternalError);
        frames.extend(raw_frame(Kind::Data as u8, 0, 1, b"late"));
        frame_write::rst_stream(&mut frames, 1, ErrorCode::Cancel);
        frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
        let report = report_of(&frames);
        assert_eq!(report.first.reset, Some(2), "{report:?}");
        // The reset ends the run at once, not the server's close after it.
        assert!(report.first.latency.is_some() && report.failure.is_none());
        assert!(!report.first.complete, "reset, yet complete: {report:?}");
        assert_eq!(report.first.body_bytes, 10, "{report:?}");
    }

    /// The same once END_STREAM has closed the stream: DATA or a reset
    /// that follows it is not the body's, and leaves the report, its
    /// latency included, as the end made it.
    #[test]
    fn a_complete_stream_takes_nothing_after_its_end() {
        let (mut frames, data) = (a_head(), Kind::Data as u8);
        frames.extend(raw_frame(data, flag::END_STREAM, 1, b"0123456789"));
        frames.extend(raw_frame(data, 0, 1, b"late"));
        frame_write::rst_stream(&mut frames, 1, ErrorCode::Cancel);
        let report = report_of(&frames);
        assert!(report.first.complete, "{report:?}");
        assert_eq!(report.first.reset, None, "{report:?}");
        assert_eq!(report.first.body_bytes, 10, "{report:?}");
    }

    /// A padded DATA frame's body is its data alone: the pad length byte
    /// and the padding are framing, not body bytes.
    #[test]
    fn padding_is_not_counted_as_body() {
        let mut frames = a_head_and_ten_bytes();
        let mut padded = vec![5];
        padded.extend_from_slice(b"abc");
        padded.extend_from_slice(&[0; 5]);
        let flags = flag::PADDED | flag::END_STREAM;
        frames.extend(raw_frame(Kind::Data as u8, flags, 1, &padded));
        let report = report_of(&frames);
        assert!(report.first.complete, "{report:?}");
        assert_eq!(report.first.body_bytes, 13, "{report:?}");
        // Every byte read counted once: report_of's 9-byte SETTINGS, then these.
        assert_eq!(report.wire_bytes, 9 + frames.len() as u64, "{report:?}");
    }

    /// A response with trailers (HEADERS, DATA, HEADERS with END_STREAM and
    /// no `:status`) is valid (RFC 9113 §8.1): its status is still 200.
    #[test]
    fn trailers_do_not_erase_the_status() {
        let mut frames = a_head_and_ten_bytes();
        let mut trailer = Vec::new();
        hpack_encode::encode_field(&mut trailer, b"x-checksum", b"1");
        let ends = flag::END_STREAM | flag::END_HEADERS;
        frames.extend(raw_frame(Kind::Headers as u8, ends, 1, &trailer));
        let report = report_of(&frames);
        assert!(report.first.complete, "{report:?}");
        assert_eq!(report.first.status, Some(200), "{report:?}");
    }

    /// A second header block that does not end the stream is no trailers
    /// (RFC 9113 §8.1): the response is malformed, not complete, even if
    /// an END_STREAM follows, which a second head could otherwise use to
    /// pass off a body cut short.
    #[test]
    fn a_second_head_that_does_not_end_the_stream_breaks_the_response() {
        let mut frames = a_head_and_ten_bytes();
        let mut second = Vec::new();
        hpack_encode::encode_field(&mut second, b"x-more", b"1");
        frames.extend(raw_frame(
            Kind::Headers as u8,
            flag::END_HEADERS,
            1,
            &second,
        ));
        frames.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
        let report = report_of(&frames);
        assert!(!report.first.complete, "{report:?}");
        let failure = report.failure.as_deref().unwrap_or_default();
        assert!(failure.contains("not ending the stream"), "{report:?}");
    }

    /// A `:status` 103 head, no END_STREAM.
    fn an_interim_head() -> Vec<u8> {
        let mut block = Vec::new();
        hpack_encode::encode_field(&mut block, b":status", b"103");
        raw_frame(Kind::Headers as u8, flag::END_HEADERS, 1, &block)
    }

    /// As many interim heads as [`MAX_INTERIM_RESPONSES`] come before the
    /// final one, as over HTTP/1.1; one more is no answer.
    #[test]
    fn as_many_interim_heads_as_the_limit_are_taken() {
        use super::super::response::MAX_INTERIM_RESPONSES;
        for (count, whole) in [
            (MAX_INTERIM_RESPONSES, true),
            (MAX_INTERIM_RESPONSES + 1, false),
        ] {
            let mut frames = an_interim_head().repeat(count as usize);
            let ends = flag::END_HEADERS | flag::END_STREAM;
            frames.extend(raw_frame(Kind::Headers as u8, ends, 1, &[0x80 | 8]));
            let report = report_of(&frames);
            assert_eq!(report.first.complete, whole, "{count}: {report:?}");
            assert_eq!(report.failure.is_none(), whole, "{count}: {report:?}");
        }
    }

    /// `100 Continue` is an interim head like any 1xx (RFC 9110 §15.2):
    /// the final head after it sets the status, and is no trailers.
    #[test]
    fn a_100_continue_head_is_interim() {
        let mut block = Vec::new();
        hpack_encode::encode_field(&mut block, b":status", b"100");
        let mut frames = raw_frame(Kind::Headers as u8, flag::END_HEADERS, 1, &block);
        let ends = flag::END_HEADERS | flag::END_STREAM;
        frames.extend(raw_frame(Kind::Headers as u8, ends, 1, &[0x80 | 8]));
        let report = report_of(&frames);
        assert_eq!(report.first.status, Some(200), "{report:?}");
        assert!(
            report.first.complete && report.failure.is_none(),
            "{report:?}"
        );
    }

    /// A HEADERS frame on stream 1 ending its header block, `fields`
    /// HPACK-encoded after `:status` 200 (static entry 8) if `with_status`;
    /// ending the stream too if `end_stream`.
    fn a_block(with_status: bool, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
        let mut block = Vec::new();
        if with_status {
            block.push(0x80 | 8);
        }
        for (name, value) in fields {
            hpack_encode::encode_field(&mut block, name.as_bytes(), value.as_bytes());
        }
        let ends = if end_stream { flag::END_STREAM } else { 0 };
        raw_frame(Kind::Headers as u8, flag::END_HEADERS | ends, 1, &block)
    }

    /// The rule of the whole project, no cut or malformed answer may look
    /// whole, case by case (RFC 9113 §8.1, §8.1.1, RFC 9110 §8.6): each of
    /// these responses ends with END_STREAM, yet none is complete, and the
    /// report says why, in words of its own.
    #[test]
    fn a_malformed_response_is_never_complete_and_says_why() {
        let end = |body: &[u8]| raw_frame(Kind::Data as u8, flag::END_STREAM, 1, body);
        let with_length = |lengths: &[&str], body: &[u8]| {
            let fields = Vec::from_iter(lengths.iter().map(|l| ("content-length", *l)));
            let mut frames = a_block(true, &fields, false);
            frames.extend(end(body));
            frames
        };
        let mut cases = vec![
            (
                a_block(false, &[("x-a", "1")], true),
                "a head without :status",
            ),
            (end(b"x"), "DATA before the head"),
            (
                a_block(false, &[(":status", "103")], true),
                "an interim head (103) that ends the stream",
            ),
            (
                with_length(&["1", "2"], b"x"),
                "conflicting content-length fields",
            ),
            (with_length(&["1x"], b"x"), "bad content-length '1x'"),
            (
                with_length(&["1"], b"xy"),
                "a body of 2 bytes, not the 1 its content-length said",
            ),
        ];
        let mut trailers = a_head_and_ten_bytes();
        trailers.extend(a_block(true, &[], true));
        cases.push((trailers, "a pseudo-field in trailers"));
        // Malformed fields (RFC 9113 §8.2, §8.3): an uppercase
        // Content-Length read as none let five bytes of ten pass for whole.
        let mut upper = a_block(true, &[("Content-Length", "10")], false);
        upper.extend(end(b"12345"));
        cases.push((
            upper,
            "a field name that is not a lowercase token: 'Content-Length'",
        ));
        for (fields, why) in [
            (
                &[("transfer-encoding", "chunked")][..],
                "a connection-specific field: 'transfer-encoding'",
            ),
            (&[("te", "trailers")], "a connection-specific field: 'te'"),
            (
                &[("x-a", "1\r\n2")],
                "a field value with a control byte (NUL, CR, LF ...): 'x-a'",
            ),
            (&[(":status", "404")], "more than one :status"),
            (&[(":path", "/")], "':path', not a response's pseudo-field"),
        ] {
            let mut frames = a_block(true, fields, false);
            frames.extend(end(b"x"));
            cases.push((frames, why));
        }
        let mut late = a_block(false, &[("x-a", "1"), (":status", "200")], false);
        late.extend(end(b"x"));
        cases.push((late, "':status' after a regular field"));
        for (frames, why) in cases {
            let report = report_of(&frames);
            assert_eq!(report.failure.as_deref(), Some(why), "{report:?}");
            assert!(!report.first.complete, "{report:?}");
        }
    }

    /// A 204 or 304 has no content, whatever its content-length says (RFC
    /// 9113 §8.1.1; a 304's is the size of what the client has): its head
    /// with END_STREAM ends it complete, as over HTTP/1.1.
    #[test]
    fn a_204_or_304_with_a_content_length_is_complete_without_a_body() {
        for status in ["204", "304"] {
            let fields = [(":status", status), ("content-length", "50")];
            let report = report_of(&a_block(false, &fields, true));
            assert!(report.first.complete, "{status}: {report:?}");
            assert_eq!(report.first.body_bytes, 0, "{status}: {report:?}");
            assert_eq!(report.failure, None, "{status}: {report:?}");
        }
        // Any other status is held to it; a 304's length must still be one,
        // and a body on a 304 is none of its.
        let fields = [(":status", "200"), ("content-length", "50")];
        let report = report_of(&a_block(false, &fields, true));
        assert!(!report.first.complete, "{report:?}");
        let fields = [(":status", "304"), ("content-length", "5x")];
        let report = report_of(&a_block(false, &fields, true));
        assert!(!report.first.complete, "{report:?}");
        let mut with_body = a_block(false, &[(":status", "304")], false);
        with_body.extend(raw_frame(Kind::Data as u8, flag::END_STREAM, 1, b"x"));
        let report = report_of(&with_body);
        let why = "a body of 1 bytes on a 304, which has none";
        assert_eq!(report.failure.as_deref(), Some(why), "{report:?}");
    }
}
