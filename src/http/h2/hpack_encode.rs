//! An HPACK encoder (RFC 7541), the simplest the RFC allows: every field a
//! literal without indexing, its name an index when the static table holds
//! it, no string Huffman-coded.
//!
//! It adds nothing to a dynamic table, so it keeps no state: a block
//! depends on no block before it, and nothing here can fall out of step
//! with the peer's decoder. What it encodes is this side's own (a
//! response's head, the client's requests), so, unlike the decoder in
//! `hpack.rs`, it has nothing to distrust.

use super::hpack::STATIC_TABLE;

/// Starts a header block with a dynamic table size update to 0 (§6.3).
/// This encoder never indexes, so its table is always empty; saying so in
/// every block meets §4.2, which asks for an update in the first block
/// after the peer lowers SETTINGS_HEADER_TABLE_SIZE (nghttp2 refuses the
/// block otherwise), without keeping track of when that was.
pub fn start_block(out: &mut Vec<u8>) {
    out.push(0b0010_0000);
}

/// Appends one field as "literal header field without indexing" (RFC 7541
/// §6.2.2), name and value as plain (non-Huffman) string literals; if the
/// name is in the static table, use its index instead of a literal name.
/// Never touches a dynamic table, so the encoder has no state. `name` must
/// be lowercase (RFC 9113 §8.2.1): it is looked up and written as given.
pub fn encode_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    match STATIC_TABLE.iter().position(|&(known, _)| known == name) {
        Some(i) => encode_integer(out, 4, i + 1),
        None => {
            out.push(0b0000_0000);
            encode_string(out, name);
        }
    }
    encode_string(out, value);
}

/// `value` with an N-bit prefix (§5.1), the bits above it clear: this
/// encoder's representations all have a prefix of zeros.
pub(super) fn encode_integer(out: &mut Vec<u8>, prefix_bits: u32, value: usize) {
    let prefix_max = u8::MAX >> (8 - prefix_bits);
    match u8::try_from(value) {
        Ok(small) if small < prefix_max => out.push(small),
        _ => {
            out.push(prefix_max);
            let mut rest = value - usize::from(prefix_max);
            while rest >= 0x80 {
                out.push(0x80 | (rest & 0x7f) as u8);
                rest >>= 7;
            }
            out.push(rest as u8);
        }
    }
}

/// A plain string literal: the H bit clear, the length, the bytes.
fn encode_string(out: &mut Vec<u8>, bytes: &[u8]) {
    encode_integer(out, 7, bytes.len());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h2::hpack::DEFAULT_TABLE_BYTES;
    use crate::http::h2::hpack::tests::check;

    /// Integers below, at and past their prefix's all ones (which need a
    /// continuation byte, of 0 for one equal to it): static indices 8
    /// (:status), 15 (accept-charset) and 31 (content-type) after a 4-bit
    /// prefix; literal names; lengths of 3, 127 and 255 after a 7-bit one
    /// (255 − 127 = 128: a continuation byte with its top bit set, then 1).
    #[test]
    fn the_encoder_round_trips_through_the_decoder() {
        let (long, pad) = ("y".repeat(127), "x".repeat(255));
        let (mut block, mut printed) = (Vec::new(), String::new());
        for (name, value) in [
            (":status", "200"),
            ("accept-charset", "utf-8"),
            ("content-type", "text/csv"),
            ("x-rows", "10"),
            ("x-long", &long),
            ("x-pad", &pad),
        ] {
            encode_field(&mut block, name.as_bytes(), value.as_bytes());
            printed += &format!("{name}: {value}\n");
        }
        assert_eq!(block[..7], [0x08, 0x03, b'2', b'0', b'0', 0x0f, 0x00]);
        printed += "Table size:   0";
        check(DEFAULT_TABLE_BYTES, &[block], &[&printed]);
    }
}
