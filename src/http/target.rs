//! The request target (RFC 9112 §3.2): which forms a server takes, and
//! the path and query it names; and the host rules an authority and a
//! `Host` field share (RFC 9110 §4.2.1, §7.2).
//!
//! Four forms: origin-form (`/path?query`), what every client sends a
//! server; absolute-form (`http://host/path?query`), what clients send to
//! proxies and a server must accept too; authority-form (`host:port`),
//! CONNECT's only form; and the asterisk-form (`*`), OPTIONS' only form
//! (whose method the request line checks). HTTP/2 names the same target
//! in `:path` and `:authority` (`http/h2/request.rs`), and takes it apart
//! here too, so that both versions agree on what a request asks for.
//!
//! A path comes out of the parsers as sent; the routes compare its normal
//! form (RFC 3986 §6.2.2), `normal_path`: equivalent URIs name one
//! resource, however a client spells them (`/%65xport.csv`,
//! `/a/../export.csv`).
//!
//! Like the head's parser (`request.rs`), this works on bytes and compares
//! only against ASCII. Its answers are one-line reasons: the head's
//! parser makes a 400 of them, HTTP/2's a malformed request; the routes
//! answer a path that has no normal form with a 400.

use std::borrow::Cow;
// An IPv6 address is a value, not a socket: `core::net` has its parser and
// no socket, which `http/` never holds.
use core::net::Ipv6Addr;

/// Splits a request target into path and query (RFC 9112 §3.2). Besides the
/// usual origin-form (`/path?query`), a server must accept absolute-form
/// (`http://host/path?query`), which clients send to proxies; its authority
/// must be a valid host, not empty even with a port (RFC 9110 §4.2.1), and
/// is otherwise ignored (`Connection: close` leaves no later request for it
/// to confuse). Two forms belong to one method each, which is answered
/// with 405 like every method but GET and HEAD, and come back whole as the
/// path: the asterisk-form `*` to `OPTIONS` (the request line checked
/// that), and the authority-form `host:port`, CONNECT's only form (RFC
/// 9112 §3.2.3; HTTP/2's `:authority` too), with a port (RFC 9110 §9.3.6).
pub(crate) fn split_target<'t>(
    method: &[u8],
    target: &'t [u8],
) -> Result<(&'t [u8], Option<&'t [u8]>), &'static str> {
    if method == b"CONNECT" {
        let whole = |(host, port): (&[u8], Option<&[u8]>)| {
            !host.is_empty() && port.is_some_and(|port| !port.is_empty())
        };
        if !host_and_port(target).is_some_and(whole) {
            return Err("CONNECT's target must be host:port");
        }
        return Ok((target, None));
    }
    let origin_form = if target.starts_with(b"/") || target == b"*" {
        target
    } else if let Some(after_scheme) = strip_prefix_ignore_case(target, b"http://")
        .or_else(|| strip_prefix_ignore_case(target, b"https://"))
    {
        let authority_end = after_scheme
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(after_scheme.len());
        let (authority, rest) = after_scheme.split_at(authority_end);
        // An empty host, even with a port (`:80`), is allowed of a Host
        // field, never of an http URI (RFC 9110 §4.2.1). Userinfo
        // (`user@host`, which RFC 9110 §4.2.4 forbids to send) is named
        // for the reader: the host's own rules refuse its `@` already.
        let has_host = host_and_port(authority).is_some_and(|(host, _)| !host.is_empty());
        if !has_host || authority.contains(&b'@') {
            return Err("absolute request target without a valid host");
        }
        rest
    } else {
        return Err("request target must be a path starting with /, or an http:// or https:// URL");
    };
    let (path, query) = split_query(origin_form);
    // Only an absolute-form target can have an empty path (`http://host`,
    // `http://host?q`), which means `/` (RFC 9110 §4.2.3, RFC 3986
    // §6.2.3); its query is still the query: `http://host?q` asks what
    // `/?q` asks.
    let path = if path.is_empty() { &b"/"[..] } else { path };
    Ok((path, query))
}

/// Why a request for `*` is refused unless its method is OPTIONS (RFC 9112
/// §3.2.4, RFC 9113 §8.3.1): the asterisk names the server, no resource.
pub(crate) const ASTERISK_NOT_OPTIONS: &str = "the request target * is for OPTIONS only";

/// An origin-form target split at its first `?`: the path, and the query
/// if there is one (RFC 9112 §3.2.1). HTTP/2's `:path` is split the same.
pub(crate) fn split_query(target: &[u8]) -> (&[u8], Option<&[u8]>) {
    match target.iter().position(|&b| b == b'?') {
        Some(q) => (&target[..q], Some(&target[q + 1..])),
        None => (target, None),
    }
}

/// The path as routes compare it: its normal form (RFC 3986 §6.2.2), in
/// which an escaped unreserved character is that character, so
/// `/%65xport.csv` is `/export.csv` (§2.3: "URIs that differ in the
/// replacement of an unreserved character with its corresponding
/// percent-encoded US-ASCII octet are equivalent"), and the dot segments
/// are removed, escaped or not, so `/a/../healthz` is `/healthz`
/// (§6.2.2.3: "URI normalizers should remove dot-segments"). nginx routes
/// both the same, and curl removes dot segments before it sends. Any other
/// escape stays one: `%2F` is not the `/` between segments (§2.2), and no
/// route has it; nor is an empty segment removed: `//healthz` is no
/// `/healthz`. Borrowed unless the path has a `%` or a dot segment; an
/// error if a `%` is not followed by two hex digits, which no URI has
/// (§2.1), and which nginx and Go answer 400.
pub(crate) fn normal_path(path: &[u8]) -> Result<Cow<'_, [u8]>, &'static str> {
    let path = decode_unreserved(path)?;
    let is_dot = |segment: &[u8]| segment == b"." || segment == b"..";
    if !path.split(|&b| b == b'/').any(is_dot) {
        return Ok(path);
    }
    Ok(Cow::Owned(remove_dot_segments(&path)))
}

/// RFC 3986 §5.2.4 for a path that starts with `/`, segment by segment:
/// `.` goes, `..` takes the segment before it (none above the root), and a
/// path that ended in either ends in `/`, the directory they named.
fn remove_dot_segments(path: &[u8]) -> Vec<u8> {
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut ends_in_dot = false;
    for segment in path.split(|&b| b == b'/').skip(1) {
        ends_in_dot = matches!(segment, b"." | b"..");
        match segment {
            b"." => {}
            b".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for segment in kept {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if ends_in_dot {
        out.push(b'/');
    }
    out
}

/// Percent-encoding's normal form (§6.2.2.1-2): an escaped unreserved
/// character decoded, any other escape kept, its hex in capitals.
fn decode_unreserved(path: &[u8]) -> Result<Cow<'_, [u8]>, &'static str> {
    if !path.contains(&b'%') {
        return Ok(Cow::Borrowed(path));
    }
    let mut out = Vec::with_capacity(path.len());
    let mut rest = path;
    while let Some((&b, tail)) = rest.split_first() {
        let escaped = if b == b'%' { percent_byte(tail) } else { None };
        rest = match escaped {
            Some(byte) if is_unreserved(byte) => {
                out.push(byte);
                &tail[2..]
            }
            Some(_) => {
                out.push(b'%');
                out.extend(tail[..2].to_ascii_uppercase());
                &tail[2..]
            }
            None if b == b'%' => return Err(BAD_PATH_ESCAPE),
            None => {
                out.push(b);
                tail
            }
        };
    }
    Ok(Cow::Owned(out))
}

/// Why a path with a `%` not followed by two hex digits is refused.
pub(crate) const BAD_PATH_ESCAPE: &str = "bad percent-encoding in the path";

/// The byte two hex digits at the start of `hex` stand for, if they are two
/// hex digits: what follows a `%` (RFC 3986 §2.1).
pub(crate) fn percent_byte(hex: &[u8]) -> Option<u8> {
    let digit = |d: u8| char::from(d).to_digit(16);
    match hex {
        [high, low, ..] => Some((digit(*high)? << 4 | digit(*low)?) as u8),
        _ => None,
    }
}

/// RFC 3986 §2.3's unreserved characters: the ones an escape never changes.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

/// Bytes RFC 3986 allows in a URI, without the fragment's `#`: unreserved,
/// sub-delims, `:@/?%` and the brackets of an IPv6 host. Anything else (a
/// quote, `<`, `\\`, `{`, `#` …) must have been percent-encoded.
pub(crate) fn is_uri_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%[]".contains(&b)
}

/// `uri-host [":" port]` as a Host value or an absolute-form authority:
/// a name, an IPv4 address or a bracketed IPv6 address (or IPvFuture),
/// and digits after a colon. Empty is allowed for Host (RFC 9112 §3.2),
/// not for an authority.
pub(crate) fn is_valid_host(host: &[u8]) -> bool {
    host_and_port(host).is_some()
}

/// An authority split into its host and its port (digits after a colon),
/// or `None` if either is not valid; an empty host is each caller's call.
fn host_and_port(authority: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (name, port) = match authority.iter().rposition(|&b| b == b':') {
        // The colon of an IPv6 address is inside its brackets.
        Some(colon) if !authority[colon..].contains(&b']') => {
            (&authority[..colon], Some(&authority[colon + 1..]))
        }
        _ => (authority, None),
    };
    let name_ok = match name {
        [b'[', literal @ .., b']'] => is_ip_literal(literal),
        _ => is_reg_name(name),
    };
    let port_ok = port.is_none_or(|port| port.iter().all(u8::is_ascii_digit));
    (name_ok && port_ok).then_some((name, port))
}

/// What brackets may hold (RFC 3986 §3.2.2): an IPv6 address, as std
/// parses it (embedded IPv4 included, no zone), or an `IPvFuture`,
/// `v` hex digits `.` and at least one more byte. `[]` or `[1.2.3.4]` is
/// no host, and a Host that names none MUST be refused (RFC 9112 §3.2).
fn is_ip_literal(literal: &[u8]) -> bool {
    let ipv6 = std::str::from_utf8(literal).is_ok_and(|text| text.parse::<Ipv6Addr>().is_ok());
    let ipv_future = || match literal {
        [b'v' | b'V', rest @ ..] => {
            let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
            match rest[digits..].split_first() {
                Some((b'.', tail)) => {
                    let allowed = |&b: &u8| is_unreserved(b) || is_sub_delim(b) || b == b':';
                    digits > 0 && !tail.is_empty() && tail.iter().all(allowed)
                }
                _ => false,
            }
        }
        _ => false,
    };
    ipv6 || ipv_future()
}

/// `reg-name` (RFC 3986 §3.2.2): unreserved bytes, sub-delims, and a `%`
/// only as the start of two hex digits, which `a%zz` is not.
fn is_reg_name(name: &[u8]) -> bool {
    let mut rest = name;
    while let Some((&b, tail)) = rest.split_first() {
        rest = match b {
            b'%' if percent_byte(tail).is_some() => &tail[2..],
            _ if is_unreserved(b) || is_sub_delim(b) => tail,
            _ => return false,
        };
    }
    true
}

/// RFC 3986 §2.2's sub-delims, which a host name may hold unescaped.
fn is_sub_delim(b: u8) -> bool {
    b"!$&'()*+,;=".contains(&b)
}

fn strip_prefix_ignore_case<'a>(bytes: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (head, rest) = bytes.split_at_checked(prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_routed_in_its_normal_form() {
        for (sent, normal) in [
            (&b"/export.csv"[..], &b"/export.csv"[..]),
            (b"/%65xport%2ecsv", b"/export.csv"),
            (b"/%7e%5F%2D%30", b"/~_-0"),
            // Reserved and non-ASCII bytes stay escaped, in capitals.
            (b"/a%2fb%3F%ff", b"/a%2Fb%3F%FF"),
            // Dot segments (RFC 3986 §5.2.4, and §5.4.1's examples from a
            // base of /b/c/d;p), escaped or not.
            (b"/b/c/./../../g", b"/g"),
            (b"/b/c/g/.", b"/b/c/g/"),
            (b"/b/c/g/./h/../i", b"/b/c/g/i"),
            (b"/b/c/g;x=1/../y", b"/b/c/y"),
            (b"/../../g", b"/g"),
            (b"/%2E/g/%2e%2E", b"/"),
            (b"/g./.g/..g/g..", b"/g./.g/..g/g.."),
            (b"//g/../", b"//"),
        ] {
            let got = normal_path(sent).map(Cow::into_owned);
            assert_eq!(got, Ok(normal.to_vec()), "{}", sent.escape_ascii());
        }
        assert!(matches!(normal_path(b"/healthz"), Ok(Cow::Borrowed(_))));
        for bad in [&b"/%zz"[..], b"/a%4", b"/%", b"/%%41", b"/%4g"] {
            assert_eq!(
                normal_path(bad),
                Err(BAD_PATH_ESCAPE),
                "{}",
                bad.escape_ascii()
            );
        }
    }

    /// The bytes a target may hold are RFC 3986's, bar the fragment's `#`:
    /// ALPHA, DIGIT, unreserved, sub-delims, `:@/?%` and IPv6's brackets.
    #[test]
    fn uri_bytes_are_rfc_3986s() {
        let marks = b"-._~!$&'()*+,;=:@/?%[]";
        for b in 0..=u8::MAX {
            let allowed = b.is_ascii_alphanumeric() || marks.contains(&b);
            assert_eq!(is_uri_byte(b), allowed, "{}", [b].escape_ascii());
        }
    }

    /// The query begins at the first `?`; a later one is part of it.
    #[test]
    fn the_query_starts_at_the_first_question_mark() {
        assert_eq!(split_query(b"/a?b?c"), (&b"/a"[..], Some(&b"b?c"[..])));
    }
}
