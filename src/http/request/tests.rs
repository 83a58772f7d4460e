//! `request.rs`'s tests: the parser of a whole head, each rule of RFC 9112
//! it applies, and its limits to the byte; kept apart so that the parser's
//! file reads as the parser.

use super::*;

/// The line a refused head is logged with: its request line whenever
/// that parses, whatever its fields; none when it does not, or when
/// no line feed ends it.
#[test]
fn a_refused_heads_request_line_is_its_own_if_it_parses() {
    let line = |head: &[u8]| request_line_of(head).map(<[u8]>::to_vec);
    let refused = b"\r\nPOST /a?b HTTP/1.1\r\nContent-Length: 3\r\nx y: 1\r\n\r\n";
    assert!(parse_head(refused).is_err());
    assert_eq!(line(refused), Some(b"POST /a?b HTTP/1.1".to_vec()));
    for none in [
        &b"PRI * HTTP/2.0\r\n\r\n"[..],
        b"GET /a\"b HTTP/1.1\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\n\r\n",
        b"GET / HTTP/1.1\r",
    ] {
        assert_eq!(line(none), None, "{}", String::from_utf8_lossy(none));
    }
}

/// The reasons are text written once; the limits they name are the
/// constants, and must not drift apart.
#[test]
fn the_limits_reasons_name_the_limits() {
    let kib = |bytes: usize| format!("{} KiB", bytes / 1024);
    assert!(
        REQUEST_LINE_TOO_LONG
            .reason
            .contains(&kib(MAX_REQUEST_LINE_BYTES))
    );
    assert!(HEAD_TOO_LARGE.reason.contains(&kib(MAX_HEAD_BYTES)));
    let fields = format!("{MAX_HEADER_FIELDS} header fields");
    assert!(TOO_MANY_FIELDS.reason.contains(&fields));
}

#[test]
fn empty_lines_before_the_request_line_are_skipped_whole() {
    assert_eq!(empty_lines(b"\r\n\r\nGET / HTTP/1.1\r\n"), 4);
    assert_eq!(empty_lines(b"\r\n\r"), 2, "a lone CR waits for its LF");
    assert_eq!(empty_lines(b"GET / HTTP/1.1\r\n\r\n"), 0);
    assert_eq!(empty_lines(b"\nGET"), 0, "a bare LF is no empty line");
    let request = parse_head(b"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(request.path, b"/x");
    assert_eq!(parse_head(b"\r\n\r\n").unwrap_err().reason, "empty request");
}

#[test]
fn the_asterisk_form_is_for_options_only() {
    for method in ["GET", "HEAD", "POST", "BREW"] {
        let head = format!("{method} * HTTP/1.1\r\nHost: a\r\n\r\n");
        let error = parse_head(head.as_bytes()).unwrap_err();
        assert_eq!(error.reason, "the request target * is for OPTIONS only");
    }
    let options = parse_head(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(
        (options.method, options.path),
        (Method::NotAllowed, &b"*"[..])
    );
    // The HTTP/2 preface is told about its version first.
    let preface = parse_head(b"PRI * HTTP/2.0\r\n\r\n").unwrap_err();
    assert_eq!(preface.status, Status::HttpVersionNotSupported);
}

/// A request line is judged once its LF is in, as the whole head would
/// judge it, and only the line.
#[test]
fn a_request_line_is_judged_once_whole_as_the_head_would_be() {
    for start in [
        &b"GET /healthz HTTP/2.0\r"[..],
        b"GET /healthz",
        b"GET /healthz HTTP/1.1\r\nHost: a%zz\r\n",
    ] {
        let got = check_request_line(start);
        assert_eq!(got, Ok(()), "{:?}", start.escape_ascii().to_string());
    }
    for line in [
        &b"GET /healthz\r\n"[..],
        b"GET /healthz HTTP/2.0\r\n",
        b"PRI * HTTP/2.0\r\n",
        b"PRI * HTTP/2.0\rX\r\n",
        b"PRI * HTTP/2.0\n",
    ] {
        let whole = parse_head(&[line, b"Host: a\r\n\r\n"].concat()).map(|_| ());
        let shown = line.escape_ascii().to_string();
        assert!(whole.is_err(), "{shown}");
        assert_eq!(check_request_line(line), whole, "{shown}");
    }
}

/// The request line's limit is 8 KiB without its CRLF: a line that long
/// is within it, one byte more is the URL's fault (414), judged alike
/// once the line is whole and once the head is.
#[test]
fn the_request_line_limit_is_exactly_8_kib() {
    for (len, refused) in [
        (MAX_REQUEST_LINE_BYTES, false),
        (MAX_REQUEST_LINE_BYTES + 1, true),
    ] {
        let mut start = b"GET /".to_vec();
        start.resize(len - b" HTTP/1.1".len(), b'a');
        start.extend_from_slice(b" HTTP/1.1\r\n");
        let head = [&start[..], b"Host: a\r\n\r\n"].concat();
        let whole = parse_head(&head).map(|_| ());
        assert_eq!(whole == Err(REQUEST_LINE_TOO_LONG), refused, "{len}");
        assert_eq!(check_request_line(&start), whole, "{len}");
    }
}

/// A line too long for a method this server does not know is refused
/// as the method (501, RFC 9112 §3), not as the URI (414): the same
/// answer as within the limit, once the line is whole and before. Only
/// a known method's line is the URI's fault; so is one that begins with
/// no method at all.
#[test]
fn a_line_too_long_for_an_unknown_method_is_a_501() {
    let over = MAX_REQUEST_LINE_BYTES + 1;
    let line = |method: &[u8], target_len: usize| {
        [method, b" /", &b"a".repeat(target_len - 1), b" HTTP/1.1"].concat()
    };
    let target_len = |method: &[u8]| over - method.len() - " ".len() - " HTTP/1.1".len();
    for (method, answer) in [
        (&b"BREW"[..], UNKNOWN_METHOD),
        (b"get", UNKNOWN_METHOD),
        (b"GET", REQUEST_LINE_TOO_LONG),
        (b"OPTIONS", REQUEST_LINE_TOO_LONG),
        (b"GE\x01", REQUEST_LINE_TOO_LONG),
    ] {
        let whole = line(method, target_len(method));
        assert_eq!(whole.len(), over);
        let shown = String::from_utf8_lossy(method);
        assert_eq!(line_too_long(&whole), answer, "{shown}");
        let head = [&whole[..], b"\r\nHost: a\r\n\r\n"].concat();
        assert_eq!(parse_head(&head).map(|_| ()), Err(answer), "{shown}");
    }
    // A method of the whole line, and one still arriving: no method
    // this server knows is that long.
    let method = b"M".repeat(over);
    assert_eq!(line_too_long(&method), UNKNOWN_METHOD);
    let line = [&method[..], b" / HTTP/1.1"].concat();
    assert_eq!(line_too_long(&line), UNKNOWN_METHOD);
    assert_eq!(UNKNOWN_METHOD.status, Status::NotImplemented);
}

/// A folded line and a bare CR are refused for what they are, though
/// a later check would refuse them too, for a reason that misleads.
#[test]
fn folds_and_bare_crs_are_named() {
    for (head, reason) in [
        (
            &b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"[..],
            "obsolete line folding in a header field",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n\tX: folded\r\n\r\n",
            "obsolete line folding in a header field",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
            "bare CR in the request head",
        ),
    ] {
        let error = parse_head(head).unwrap_err();
        assert_eq!(error, bad(reason), "{:?}", head.escape_ascii().to_string());
    }
}

/// A Content-Length of zero is no body; one that is no number is
/// refused as no number, not as a body.
#[test]
fn a_content_length_is_a_number_of_zero() {
    let reason = |value: &str| {
        let head = format!("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\n");
        parse_head(head.as_bytes())
            .map(|_| ())
            .map_err(|e| e.reason)
    };
    assert_eq!(reason("000"), Ok(()));
    // More digits than any u64 has: still zero, still no body.
    assert_eq!(reason(&"0".repeat(30)), Ok(()), "thirty zeros");
    let body = Err("request bodies are not accepted (Content-Length)");
    assert_eq!(reason("5"), body);
    // A zero beside a digit that is not: a body all the same.
    for zero_and_more in ["05", "10"] {
        assert_eq!(reason(zero_and_more), body, "{zero_and_more}");
    }
    assert_eq!(
        reason("99999999999999999999"),
        body,
        "past u64, a body all the same"
    );
    for not_a_number in ["-1", "+0", "0, 0", "0x0", "0a", ""] {
        let expected = Err("Content-Length is not one decimal number");
        assert_eq!(reason(not_a_number), expected, "{not_a_number}");
    }
}

/// `1*DIGIT`, every digit 0 to 9 included: a row count or a
/// Content-Length with a 9 in it is a number like any other.
#[test]
fn decimal_takes_every_digit_and_nothing_else() {
    assert_eq!(decimal(b"9"), Some(9));
    assert_eq!(decimal(b"0123456789"), Some(123_456_789));
    assert_eq!(decimal(b"18446744073709551615"), Some(u64::MAX));
    for bad in [
        &b""[..],
        b"18446744073709551616",
        b"1:",
        b"/1",
        b"+1",
        b" 1",
    ] {
        assert_eq!(decimal(bad), None, "{:?}", bad.escape_ascii().to_string());
    }
}

/// A version is `HTTP/` DIGIT `.` DIGIT (RFC 9112 §2.3): a letter for
/// either digit makes it malformed, a 400, neither a later minor
/// version served as 1.1 nor a major one refused with 505.
#[test]
fn a_version_is_two_digits() {
    for version in ["HTTP/1.x", "HTTP/x.1"] {
        let head = format!("GET / {version}\r\nHost: a\r\n\r\n");
        let error = parse_head(head.as_bytes()).unwrap_err();
        assert_eq!(error, bad("malformed HTTP version"), "{version}");
    }
}

/// An empty method or an empty target is refused for what is missing.
#[test]
fn an_empty_method_or_target_is_named() {
    let reason = |head: &[u8]| parse_head(head).map(|_| ()).map_err(|e| e.reason);
    let no_method = b" / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(reason(no_method), Err("method is not a token"));
    let no_target = b"GET  HTTP/1.1\r\nHost: a\r\n\r\n";
    let expected = "request target is empty or has bytes a URI cannot contain";
    assert_eq!(reason(no_target), Err(expected));
}

/// A field name is a token (RFC 9110 §5.6.2): any tchar, no delimiter.
#[test]
fn a_field_name_is_every_tchar_and_no_delimiter() {
    let name_of = |name: &[u8]| {
        let head = [&b"GET / HTTP/1.1\r\nHost: a\r\n"[..], name, b": v\r\n\r\n"].concat();
        parse_head(&head).map(|request| request.fields[1].0.to_vec())
    };
    let every_tchar = b"!#$%&'*+-.^_`|~09AZaz";
    assert_eq!(name_of(every_tchar), Ok(every_tchar.to_vec()));
    for delimiter in b"\"(),/;<=>?@[\\]{}" {
        let not_a_token = Err(bad("header field name is not a token"));
        let shown = char::from(*delimiter);
        assert_eq!(name_of(&[b'X', *delimiter]), not_a_token, "{shown}");
    }
}

/// A field value is VCHAR and obs-text with SP and HTAB inside (RFC
/// 9110 §5.5): 0x21 to 0x7E and 0x80 to 0xFF, both edges included.
#[test]
fn a_field_value_takes_every_vchar_and_obs_text() {
    let value: Vec<u8> = (b"a \t".iter().copied())
        .chain(0x21..=0x7e)
        .chain(0x80..=0xff)
        .collect();
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    head.extend_from_slice(&value);
    head.extend_from_slice(b"\r\n\r\n");
    assert_eq!(parse_head(&head).unwrap().fields[1].1, &value[..]);
}

/// No body, however it is framed: any Transfer-Encoding, not only
/// chunked, and every Content-Length, not only the first.
#[test]
fn every_framing_field_is_judged() {
    for fields in [
        "Transfer-Encoding: gzip",
        "Content-Length: 0\r\nContent-Length: 5",
    ] {
        let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n\r\n");
        let reason = parse_head(head.as_bytes()).unwrap_err().reason;
        assert!(reason.starts_with("request bodies are not"), "{fields}");
    }
}
