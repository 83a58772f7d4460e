//! A peer's bytes made safe to print: in a log line or in a message that
//! quotes them, a newline would start a line of its own, a terminal escape
//! would reach the terminal as a command, and the field's own quote would
//! end it early. Every byte the caller does not keep is written `\xHH`,
//! so the line stays one line and the bytes can be read back.

use std::fmt::Write as _;

/// `bytes` as text: each byte for which `keep` says yes as itself (keep
/// only ASCII, and never `\`, or the escapes become ambiguous), every other
/// as `\xHH`.
pub fn escaped(bytes: &[u8], keep: impl Fn(u8) -> bool) -> String {
    let mut text = String::with_capacity(bytes.len());
    for &byte in bytes {
        if keep(byte) && byte.is_ascii() && byte != b'\\' {
            text.push(char::from(byte));
        } else {
            // Writing to a `String` cannot fail.
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    text
}
