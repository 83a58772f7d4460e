//! The Huffman code of HPACK (RFC 7541 §5.2, Appendix B), and its decoder.
//!
//! A string in a header block may be sent Huffman-coded: each byte becomes
//! a code of 5 to 30 bits, short for the bytes header fields use most
//! (digits, lowercase letters, `-`, `/`). The code is fixed by the RFC,
//! never sent, so both sides simply hold the table below. It is *canonical*:
//! codes of one length are consecutive numbers, in symbol order, and each
//! length starts where the shorter ones left off. So a decoder needs no
//! tree, only how many codes each length has and the symbols in code order
//! ([`Canonical`]).
//!
//! A string's last byte is padded with the first bits of the 30-bit EOS
//! code, all ones. [`decode`] refuses what the RFC makes errors: padding of
//! 8 bits or more (a whole byte that carries nothing), padding that is not
//! all ones, and EOS inside a string. Its output is bounded by its input:
//! the shortest code is 5 bits, so `n` bytes decode to at most `8n/5`.

/// Why [`decode`] refuses a string; HPACK's decoder wraps it in its own
/// error, which says each case, so this file needs nothing of `hpack.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HuffmanError {
    /// Padding of 8 bits or more, or not all ones.
    Padding,
    /// EOS inside the string.
    Eos,
}

/// Symbols: the 256 byte values, and EOS.
const SYMBOLS: usize = 257;
/// The longest code, EOS's.
const MAX_CODE_BITS: usize = 30;

/// Each symbol's code and its length in bits, the code right-aligned: RFC
/// 7541 Appendix B's "code as hex" and "len" columns, for the bytes 0 to 255
/// and then EOS. Four symbols a line; the comment is the first one's value.
/// The decoder reads only the lengths, which a canonical code needs; the
/// codes are kept so that the tests can check it is canonical, and encode.
#[rustfmt::skip]
const CODES: [(u32, u8); SYMBOLS] = [
    (0x1ff8, 13),     (0x7fffd8, 23),   (0xfffffe2, 28),  (0xfffffe3, 28),   //   0
    (0xfffffe4, 28),  (0xfffffe5, 28),  (0xfffffe6, 28),  (0xfffffe7, 28),   //   4
    (0xfffffe8, 28),  (0xffffea, 24),   (0x3ffffffc, 30), (0xfffffe9, 28),   //   8
    (0xfffffea, 28),  (0x3ffffffd, 30), (0xfffffeb, 28),  (0xfffffec, 28),   //  12
    (0xfffffed, 28),  (0xfffffee, 28),  (0xfffffef, 28),  (0xffffff0, 28),   //  16
    (0xffffff1, 28),  (0xffffff2, 28),  (0x3ffffffe, 30), (0xffffff3, 28),   //  20
    (0xffffff4, 28),  (0xffffff5, 28),  (0xffffff6, 28),  (0xffffff7, 28),   //  24
    (0xffffff8, 28),  (0xffffff9, 28),  (0xffffffa, 28),  (0xffffffb, 28),   //  28
    (0x14, 6),        (0x3f8, 10),      (0x3f9, 10),      (0xffa, 12),       //  32 ' ' ! " #
    (0x1ff9, 13),     (0x15, 6),        (0xf8, 8),        (0x7fa, 11),       //  36 $ % & '
    (0x3fa, 10),      (0x3fb, 10),      (0xf9, 8),        (0x7fb, 11),       //  40 ( ) * +
    (0xfa, 8),        (0x16, 6),        (0x17, 6),        (0x18, 6),         //  44 , - . /
    (0x0, 5),         (0x1, 5),         (0x2, 5),         (0x19, 6),         //  48 0 1 2 3
    (0x1a, 6),        (0x1b, 6),        (0x1c, 6),        (0x1d, 6),         //  52 4 5 6 7
    (0x1e, 6),        (0x1f, 6),        (0x5c, 7),        (0xfb, 8),         //  56 8 9 : ;
    (0x7ffc, 15),     (0x20, 6),        (0xffb, 12),      (0x3fc, 10),       //  60 < = > ?
    (0x1ffa, 13),     (0x21, 6),        (0x5d, 7),        (0x5e, 7),         //  64 @ A B C
    (0x5f, 7),        (0x60, 7),        (0x61, 7),        (0x62, 7),         //  68 D E F G
    (0x63, 7),        (0x64, 7),        (0x65, 7),        (0x66, 7),         //  72 H I J K
    (0x67, 7),        (0x68, 7),        (0x69, 7),        (0x6a, 7),         //  76 L M N O
    (0x6b, 7),        (0x6c, 7),        (0x6d, 7),        (0x6e, 7),         //  80 P Q R S
    (0x6f, 7),        (0x70, 7),        (0x71, 7),        (0x72, 7),         //  84 T U V W
    (0xfc, 8),        (0x73, 7),        (0xfd, 8),        (0x1ffb, 13),      //  88 X Y Z [
    (0x7fff0, 19),    (0x1ffc, 13),     (0x3ffc, 14),     (0x22, 6),         //  92 \ ] ^ _
    (0x7ffd, 15),     (0x3, 5),         (0x23, 6),        (0x4, 5),          //  96 ` a b c
    (0x24, 6),        (0x5, 5),         (0x25, 6),        (0x26, 6),         // 100 d e f g
    (0x27, 6),        (0x6, 5),         (0x74, 7),        (0x75, 7),         // 104 h i j k
    (0x28, 6),        (0x29, 6),        (0x2a, 6),        (0x7, 5),          // 108 l m n o
    (0x2b, 6),        (0x76, 7),        (0x2c, 6),        (0x8, 5),          // 112 p q r s
    (0x9, 5),         (0x2d, 6),        (0x77, 7),        (0x78, 7),         // 116 t u v w
    (0x79, 7),        (0x7a, 7),        (0x7b, 7),        (0x7ffe, 15),      // 120 x y z {
    (0x7fc, 11),      (0x3ffd, 14),     (0x1ffd, 13),     (0xffffffc, 28),   // 124 | } ~
    (0xfffe6, 20),    (0x3fffd2, 22),   (0xfffe7, 20),    (0xfffe8, 20),     // 128
    (0x3fffd3, 22),   (0x3fffd4, 22),   (0x3fffd5, 22),   (0x7fffd9, 23),    // 132
    (0x3fffd6, 22),   (0x7fffda, 23),   (0x7fffdb, 23),   (0x7fffdc, 23),    // 136
    (0x7fffdd, 23),   (0x7fffde, 23),   (0xffffeb, 24),   (0x7fffdf, 23),    // 140
    (0xffffec, 24),   (0xffffed, 24),   (0x3fffd7, 22),   (0x7fffe0, 23),    // 144
    (0xffffee, 24),   (0x7fffe1, 23),   (0x7fffe2, 23),   (0x7fffe3, 23),    // 148
    (0x7fffe4, 23),   (0x1fffdc, 21),   (0x3fffd8, 22),   (0x7fffe5, 23),    // 152
    (0x3fffd9, 22),   (0x7fffe6, 23),   (0x7fffe7, 23),   (0xffffef, 24),    // 156
    (0x3fffda, 22),   (0x1fffdd, 21),   (0xfffe9, 20),    (0x3fffdb, 22),    // 160
    (0x3fffdc, 22),   (0x7fffe8, 23),   (0x7fffe9, 23),   (0x1fffde, 21),    // 164
    (0x7fffea, 23),   (0x3fffdd, 22),   (0x3fffde, 22),   (0xfffff0, 24),    // 168
    (0x1fffdf, 21),   (0x3fffdf, 22),   (0x7fffeb, 23),   (0x7fffec, 23),    // 172
    (0x1fffe0, 21),   (0x1fffe1, 21),   (0x3fffe0, 22),   (0x1fffe2, 21),    // 176
    (0x7fffed, 23),   (0x3fffe1, 22),   (0x7fffee, 23),   (0x7fffef, 23),    // 180
    (0xfffea, 20),    (0x3fffe2, 22),   (0x3fffe3, 22),   (0x3fffe4, 22),    // 184
    (0x7ffff0, 23),   (0x3fffe5, 22),   (0x3fffe6, 22),   (0x7ffff1, 23),    // 188
    (0x3ffffe0, 26),  (0x3ffffe1, 26),  (0xfffeb, 20),    (0x7fff1, 19),     // 192
    (0x3fffe7, 22),   (0x7ffff2, 23),   (0x3fffe8, 22),   (0x1ffffec, 25),   // 196
    (0x3ffffe2, 26),  (0x3ffffe3, 26),  (0x3ffffe4, 26),  (0x7ffffde, 27),   // 200
    (0x7ffffdf, 27),  (0x3ffffe5, 26),  (0xfffff1, 24),   (0x1ffffed, 25),   // 204
    (0x7fff2, 19),    (0x1fffe3, 21),   (0x3ffffe6, 26),  (0x7ffffe0, 27),   // 208
    (0x7ffffe1, 27),  (0x3ffffe7, 26),  (0x7ffffe2, 27),  (0xfffff2, 24),    // 212
    (0x1fffe4, 21),   (0x1fffe5, 21),   (0x3ffffe8, 26),  (0x3ffffe9, 26),   // 216
    (0xffffffd, 28),  (0x7ffffe3, 27),  (0x7ffffe4, 27),  (0x7ffffe5, 27),   // 220
    (0xfffec, 20),    (0xfffff3, 24),   (0xfffed, 20),    (0x1fffe6, 21),    // 224
    (0x3fffe9, 22),   (0x1fffe7, 21),   (0x1fffe8, 21),   (0x7ffff3, 23),    // 228
    (0x3fffea, 22),   (0x3fffeb, 22),   (0x1ffffee, 25),  (0x1ffffef, 25),   // 232
    (0xfffff4, 24),   (0xfffff5, 24),   (0x3ffffea, 26),  (0x7ffff4, 23),    // 236
    (0x3ffffeb, 26),  (0x7ffffe6, 27),  (0x3ffffec, 26),  (0x3ffffed, 26),   // 240
    (0x7ffffe7, 27),  (0x7ffffe8, 27),  (0x7ffffe9, 27),  (0x7ffffea, 27),   // 244
    (0x7ffffeb, 27),  (0xffffffe, 28),  (0x7ffffec, 27),  (0x7ffffed, 27),   // 248
    (0x7ffffee, 27),  (0x7ffffef, 27),  (0x7fffff0, 27),  (0x3ffffee, 26),   // 252
    (0x3fffffff, 30),                                                        // 256 EOS
];

/// The code as a decoder needs it.
struct Canonical {
    /// How many codes each length has.
    count: [u32; MAX_CODE_BITS + 1],
    /// Every symbol, by code length and then by value: the order of their
    /// codes, as `the_code_is_canonical_and_complete` checks. `u16`, because
    /// EOS (256) is not a byte.
    symbols: [u16; SYMBOLS],
}

/// Built by the compiler (`while`: a const block has no iterators).
static CANONICAL: Canonical = {
    let mut table = Canonical {
        count: [0; MAX_CODE_BITS + 1],
        symbols: [0; SYMBOLS],
    };
    let (mut next, mut len) = (0, 1);
    while len <= MAX_CODE_BITS {
        let mut symbol = 0;
        while symbol < SYMBOLS {
            if CODES[symbol].1 as usize == len {
                table.count[len] += 1;
                table.symbols[next] = symbol as u16;
                next += 1;
            }
            symbol += 1;
        }
        len += 1;
    }
    table
};

/// Appends the bytes that `encoded` stands for to `out`.
///
/// One bit at a time, as zlib's puff.c decodes a canonical code: the bits
/// read since the last symbol are either a code of their length, which are
/// consecutive, or the start of a longer one. Any 30 bits begin with a code
/// (the code is complete), so at most 30 are ever pending.
pub(crate) fn decode(encoded: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    // The bits read since the last symbol, and how many there are; the first
    // code of that length, and where its symbol is in `symbols`.
    let (mut code, mut len, mut first, mut index) = (0u32, 0, 0u32, 0);
    for byte in encoded {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            let count = CANONICAL.count.get(len).copied().unwrap_or(0);
            let offset = code.wrapping_sub(first);
            if offset >= count {
                // Not this length's: the next one's codes start one bit longer.
                (first, index) = ((first + count) << 1, index + count as usize);
                continue;
            }
            // EOS, 256, is the one symbol that is not a byte.
            let symbol = CANONICAL.symbols[index + offset as usize];
            out.push(u8::try_from(symbol).map_err(|_| HuffmanError::Eos)?);
            (code, len, first, index) = (0, 0, 0, 0);
        }
    }
    // What is left is padding: fewer than 8 bits, all ones.
    if len >= 8 || code != (1 << len) - 1 {
        return Err(HuffmanError::Padding);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How an HPACK encoder that Huffman-codes writes a string: each byte's
    /// code, most significant bit first, the last byte padded with ones.
    fn encode(bytes: &[u8]) -> Vec<u8> {
        let mut bits = Vec::new();
        for &byte in bytes {
            let (code, len) = CODES[usize::from(byte)];
            bits.extend((0..len).rev().map(|i| (code >> i) & 1 == 1));
        }
        bits.resize(bits.len().next_multiple_of(8), true);
        let byte = |bits: &[bool]| bits.iter().fold(0, |byte, &bit| byte << 1 | u8::from(bit));
        bits.chunks(8).map(byte).collect()
    }

    fn decoded(encoded: &[u8]) -> Result<Vec<u8>, HuffmanError> {
        let mut out = Vec::new();
        decode(encoded, &mut out).map(|()| out)
    }

    #[test]
    fn the_code_is_canonical_and_complete() {
        // Canonical: in `symbols`' order (length, then value), each code is
        // the previous one plus one, shifted left by however much longer it
        // is; so that is the order of the codes, and none is a prefix of a
        // later one.
        let codes = CANONICAL.symbols.map(|symbol| CODES[usize::from(symbol)]);
        assert_eq!(codes[0], (0, 5));
        for pair in codes.windows(2) {
            let ((previous, previous_len), (code, len)) = (pair[0], pair[1]);
            assert_eq!(code, (previous + 1) << (len - previous_len), "{pair:x?}");
            assert!(len <= 30 && code >> len == 0, "{pair:x?}");
        }
        // Complete: the Kraft sum is exactly 1, so every string of 30 bits
        // begins with exactly one code, and no bits are left unused.
        let kraft: u64 = CODES.iter().map(|&(_, len)| 1 << (30 - len)).sum();
        assert_eq!(kraft, 1 << 30);
        // EOS is 30 ones: the padding is its first bits.
        assert_eq!(CODES[256], (0x3fff_ffff, 30));
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decoded(&encode(&all)).unwrap(), all);
        for byte in 0..=255 {
            assert_eq!(decoded(&encode(&[byte])).unwrap(), [byte]);
        }
        assert_eq!(decoded(&[]).unwrap(), b"");
    }

    #[test]
    fn padding_of_8_bits_or_not_all_ones_and_eos_are_refused() {
        // '0' is 00000: three bits of padding.
        assert_eq!(decoded(&[0b0000_0111]).unwrap(), b"0");
        for (encoded, error) in [
            // Zeros instead of ones.
            (&[0b0000_0000][..], HuffmanError::Padding),
            (&[0b0000_0101], HuffmanError::Padding),
            // A whole byte of padding, alone or after a symbol's three.
            (&[0xff], HuffmanError::Padding),
            (&[0b0000_0111, 0xff], HuffmanError::Padding),
            // EOS (30 ones), alone or after 'a' (00011).
            (&[0xff, 0xff, 0xff, 0xfc], HuffmanError::Eos),
            (&[0b0001_1111, 0xff, 0xff, 0xff, 0xfe], HuffmanError::Eos),
        ] {
            assert_eq!(decoded(encoded), Err(error), "{encoded:02x?}");
        }
    }

    #[test]
    fn output_is_at_most_8_5_of_the_input() {
        // Forty zero bits are eight '0's, each of the shortest length.
        assert_eq!(decoded(&[0; 5]).unwrap(), b"00000000");
        // Every input of two bytes, valid or not.
        for input in (0..=u16::MAX).map(u16::to_be_bytes) {
            let mut out = Vec::new();
            let _ = decode(&input, &mut out);
            assert!(out.len() <= 3, "{input:?}");
        }
    }
}
