//! HPACK (RFC 7541): how HTTP/2 compresses header fields, and a decoder
//! that stays bounded whatever a peer sends.
//!
//! HTTP/1.1 repeats every header as text on every request. HPACK sends
//! most fields as an index instead: into a static table of 61 common
//! fields, or into a dynamic table that the peer's encoder fills as the
//! connection goes. A field sent "with incremental indexing" is added at
//! its front, the oldest entries are evicted to keep it under a size
//! limit, and later blocks name it by index. Strings may be Huffman-coded.
//!
//! Encoder and decoder each keep a copy of the dynamic table, and nothing on
//! the wire checks that the copies agree. So every block must be decoded in
//! order and to its end, even one whose fields are thrown away; and a block
//! that breaks a rule leaves the copies in doubt, which is why every
//! [`DecodeError`] ends the connection.
//!
//! The decoder is where a peer's bytes first become memory, so every number
//! in a block is distrusted: an integer is at most 32 bits, a string's
//! length is checked against the bytes left before anything is allocated,
//! an index against the tables, the table against the size this side
//! advertised, the decoded list against the caller's limit. The encoder,
//! the simplest HPACK allows and without state, is `hpack_encode.rs`.

use std::borrow::Cow;
use std::collections::VecDeque;

use super::huffman::{self, HuffmanError};

/// SETTINGS_HEADER_TABLE_SIZE's default (RFC 9113 §6.5.2), the dynamic
/// table size our decoder allows.
pub const DEFAULT_TABLE_BYTES: usize = 4096;

/// What an entry costs beyond its name and value (§4.1): an estimate of a
/// table's per-entry overhead, so that a flood of empty fields is not free.
/// A header list is sized the same way (SETTINGS_MAX_HEADER_LIST_SIZE).
const ENTRY_OVERHEAD: usize = 32;

/// The largest integer a block may carry: lengths, indices and table sizes
/// fit with room to spare, and sums of a few of them stay far from overflow.
const MAX_INTEGER: u64 = u32::MAX as u64;

/// Most continuation bytes after an integer's prefix: five carry 35 bits,
/// enough for [`MAX_INTEGER`]; a sixth could only add zeros, or overflow.
const MAX_CONTINUATION_BYTES: u32 = 5;

/// Entries in the static table; the dynamic table's indices follow them.
const STATIC_ENTRIES: usize = 61;

/// The static table (Appendix A): index 1 is the first entry; the comment
/// is each line's first index.
#[rustfmt::skip]
pub(super) const STATIC_TABLE: [(&[u8], &[u8]); STATIC_ENTRIES] = [
    (b":authority", b""), (b":method", b"GET"), (b":method", b"POST"), (b":path", b"/"),     //  1
    (b":path", b"/index.html"), (b":scheme", b"http"), (b":scheme", b"https"),               //  5
    (b":status", b"200"), (b":status", b"204"), (b":status", b"206"), (b":status", b"304"),  //  8
    (b":status", b"400"), (b":status", b"404"), (b":status", b"500"),                        // 12
    (b"accept-charset", b""), (b"accept-encoding", b"gzip, deflate"),                        // 15
    (b"accept-language", b""), (b"accept-ranges", b""), (b"accept", b""),                    // 17
    (b"access-control-allow-origin", b""), (b"age", b""), (b"allow", b""),                   // 20
    (b"authorization", b""), (b"cache-control", b""), (b"content-disposition", b""),         // 23
    (b"content-encoding", b""), (b"content-language", b""), (b"content-length", b""),        // 26
    (b"content-location", b""), (b"content-range", b""), (b"content-type", b""),             // 29
    (b"cookie", b""), (b"date", b""), (b"etag", b""), (b"expect", b""), (b"expires", b""),   // 32
    (b"from", b""), (b"host", b""), (b"if-match", b""), (b"if-modified-since", b""),         // 37
    (b"if-none-match", b""), (b"if-range", b""), (b"if-unmodified-since", b""),              // 41
    (b"last-modified", b""), (b"link", b""), (b"location", b""), (b"max-forwards", b""),     // 44
    (b"proxy-authenticate", b""), (b"proxy-authorization", b""), (b"range", b""),            // 48
    (b"referer", b""), (b"refresh", b""), (b"retry-after", b""), (b"server", b""),           // 51
    (b"set-cookie", b""), (b"strict-transport-security", b""), (b"transfer-encoding", b""),  // 55
    (b"user-agent", b""), (b"vary", b""), (b"via", b""), (b"www-authenticate", b""),         // 58
];

/// One connection's HPACK decoder: the dynamic table, and its limits.
#[derive(Debug)]
pub struct Decoder {
    /// The dynamic table, newest first (index 62 is `entries[0]`), evicted from the back (§4.4):
    /// at most `max_table_bytes`, each entry counted with its 32 bytes of overhead (§4.1).
    entries: VecDeque<(Vec<u8>, Vec<u8>)>,
    /// Its size by §4.1, kept as the sum of its entries' so that eviction need not recount.
    bytes: usize,
    /// The size it may reach now, set by the peer's size updates (§6.3) up to `limit`.
    max_bytes: usize,
    /// The SETTINGS_HEADER_TABLE_SIZE we advertised: the most memory the peer can make it keep.
    limit: usize,
}

/// A decoded header block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    /// The fields kept, in the block's order, as bytes: HTTP/2's rules on
    /// them (lowercase names, pseudo-fields first) are the caller's to check.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// Fields were dropped, the list being over `max_list_bytes`: the tables
    /// are still in step, so this is a 431 response, not a connection error.
    pub too_large: bool,
}

/// Why a block could not be decoded, each case said by [`DecodeError::reason`]
/// (RFC 7541 §5.1 integers, §5.2 strings, §4.2 and §6.3 table size updates):
/// every one is a COMPRESSION_ERROR on the connection (RFC 9113 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    IntegerOverflow,
    BadIndex,
    Huffman(HuffmanError),
    TableSizeAboveLimit,
    LateTableSizeUpdate,
}

impl DecodeError {
    /// One lowercase line, for a log or a GOAWAY's debug data.
    pub fn reason(self) -> &'static str {
        match self {
            DecodeError::Truncated => "header block ends inside a field",
            DecodeError::IntegerOverflow => "integer larger than 32 bits or too long",
            DecodeError::BadIndex => "index 0 or past the end of the tables",
            DecodeError::Huffman(HuffmanError::Padding) => {
                "huffman padding of 8 bits or more, or not all ones"
            }
            DecodeError::Huffman(HuffmanError::Eos) => "huffman string contains eos",
            DecodeError::TableSizeAboveLimit => "table size update above the advertised limit",
            DecodeError::LateTableSizeUpdate => "table size update after a field",
        }
    }
}

impl Decoder {
    /// `max_table_bytes`: the SETTINGS_HEADER_TABLE_SIZE this side advertises.
    /// The table starts that large: with [`DEFAULT_TABLE_BYTES`], which a peer
    /// assumes before our SETTINGS arrive, both sides agree from the start.
    pub fn new(max_table_bytes: usize) -> Decoder {
        Decoder {
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes: max_table_bytes,
            limit: max_table_bytes,
        }
    }

    /// Decodes one header block (HEADERS and CONTINUATION payloads joined by
    /// the caller), keeping fields in order while their total size (§4.1)
    /// stays within `max_list_bytes`; past it, no more are kept, but the
    /// block is decoded to its end to keep the dynamic table in step.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list_bytes: usize,
    ) -> Result<HeaderList, DecodeError> {
        let mut input = Input { rest: block };
        let mut list = HeaderList::default();
        let mut list_bytes: usize = 0;
        // Copies a field into the list only if it fits: a one-byte index can
        // name a 4 KiB entry, and copying it over and over must not be free.
        let mut keep = |name: &[u8], value: &[u8]| {
            let total = list_bytes.saturating_add(entry_size(name, value));
            if list.too_large || total > max_list_bytes {
                list.too_large = true;
            } else {
                list_bytes = total;
                list.fields.push((name.to_vec(), value.to_vec()));
            }
        };
        let mut at_start = true;
        while let Some(&first) = input.rest.first() {
            match first {
                // 1xxxxxxx: an indexed field (§6.1).
                0b1000_0000..=0b1111_1111 => {
                    let (name, value) = self.entry(input.integer(7)?)?;
                    keep(name, value);
                }
                // 001xxxxx: a dynamic table size update (§6.3), allowed
                // only before the first field, any number of times.
                0b0010_0000..=0b0011_1111 => {
                    if !at_start {
                        return Err(DecodeError::LateTableSizeUpdate);
                    }
                    let max_bytes = input.integer(5)?;
                    if max_bytes > self.limit {
                        return Err(DecodeError::TableSizeAboveLimit);
                    }
                    self.max_bytes = max_bytes;
                    self.evict_to(max_bytes);
                    continue;
                }
                // A literal field (§6.2): 01xxxxxx with incremental indexing,
                // 0000xxxx without, 0001xxxx never indexed (which only a proxy
                // must heed). The prefix is the name's index, 0 for a literal.
                _ => {
                    let indexing = first & 0b0100_0000 != 0;
                    let name = match input.integer(if indexing { 6 } else { 4 })? {
                        0 => Cow::Owned(input.string()?),
                        index => Cow::Borrowed(self.entry(index)?.0),
                    };
                    let value = input.string()?;
                    keep(&name, &value);
                    if indexing {
                        self.insert(name.into_owned(), value);
                    }
                }
            }
            at_start = false;
        }
        Ok(list)
    }

    /// The field at `index` (§2.3.3): 1 to 61 in the static table, then the
    /// dynamic table, newest first.
    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), DecodeError> {
        let entry = match index {
            0 => None,
            1..=STATIC_ENTRIES => STATIC_TABLE.get(index - 1).copied(),
            _ => self
                .entries
                .get(index - STATIC_ENTRIES - 1)
                .map(|(name, value)| (name.as_slice(), value.as_slice())),
        };
        entry.ok_or(DecodeError::BadIndex)
    }

    /// Adds an entry at the front, evicting the oldest until it fits (§4.4).
    /// An entry larger than the whole table is not an error: it empties the
    /// table, and is not kept.
    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = entry_size(&name, &value);
        self.evict_to(self.max_bytes.saturating_sub(size));
        if size <= self.max_bytes {
            self.bytes += size;
            self.entries.push_front((name, value));
        }
    }

    /// Evicts the oldest entries until the table holds at most `max_bytes`.
    fn evict_to(&mut self, max_bytes: usize) {
        while self.bytes > max_bytes {
            let Some((name, value)) = self.entries.pop_back() else {
                break;
            };
            self.bytes -= entry_size(&name, &value);
        }
    }
}

/// An entry's size by §4.1, saturating: a size that large is over any limit.
fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len()
        .saturating_add(value.len())
        .saturating_add(ENTRY_OVERHEAD)
}

/// A header block being read.
struct Input<'a> {
    /// The bytes not yet read: each representation is taken off the front.
    rest: &'a [u8],
}

impl Input<'_> {
    /// The next byte: a block that ends where one is needed is truncated.
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&first, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(first)
    }

    /// An integer with an N-bit prefix (§5.1): the low `prefix_bits` of the
    /// first byte, whose other bits say what the integer is for. If they are
    /// all ones, continuation bytes follow, 7 bits each, least significant
    /// first, the high bit meaning "more".
    fn integer(&mut self, prefix_bits: u32) -> Result<usize, DecodeError> {
        let prefix_max = u8::MAX >> (8 - prefix_bits);
        let prefix = self.byte()? & prefix_max;
        if prefix < prefix_max {
            return Ok(usize::from(prefix));
        }
        // At most 8 + 35 bits: a u64 cannot overflow here.
        let mut value = u64::from(prefix);
        for i in 0..MAX_CONTINUATION_BYTES {
            let byte = self.byte()?;
            value += u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                let fits = usize::try_from(value).ok().filter(|_| value <= MAX_INTEGER);
                return fits.ok_or(DecodeError::IntegerOverflow);
            }
        }
        Err(DecodeError::IntegerOverflow)
    }

    /// A string literal (§5.2): the H bit (Huffman-coded or not), a length
    /// with a 7-bit prefix, and that many bytes.
    fn string(&mut self) -> Result<Vec<u8>, DecodeError> {
        let huffman = self.rest.first().is_some_and(|byte| byte & 0x80 != 0);
        let len = self.integer(7)?;
        // Checked against the bytes left before anything is allocated: a
        // large length costs a peer one byte, and must cost us nothing.
        let Some((raw, rest)) = self.rest.split_at_checked(len) else {
            return Err(DecodeError::Truncated);
        };
        self.rest = rest;
        if !huffman {
            return Ok(raw.to_vec());
        }
        let mut decoded = Vec::new();
        huffman::decode(raw, &mut decoded).map_err(DecodeError::Huffman)?;
        Ok(decoded)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::http::h2::Rng;
    use crate::http::h2::hpack_encode::encode_integer;

    /// Bytes from one of the RFC's hex dumps; spaces are ignored.
    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(16)).collect();
        digits.chunks(2).map(|p| (p[0] << 4 | p[1]) as u8).collect()
    }

    /// Decodes `blocks` in turn, on one connection, and checks what the RFC
    /// prints after each: the header list, then the dynamic table.
    pub(crate) fn check(max_table_bytes: usize, blocks: &[Vec<u8>], printed: &[&str]) -> Decoder {
        let mut decoder = Decoder::new(max_table_bytes);
        let text = |(n, v): &(Vec<u8>, Vec<u8>)| {
            String::from_utf8_lossy(&[&n[..], b": ", v].concat()).into_owned()
        };
        for (block, printed) in blocks.iter().zip(printed) {
            let list = decoder.decode(block, usize::MAX).unwrap();
            let mut got: Vec<String> = list.fields.iter().map(text).collect();
            for (i, entry) in decoder.entries.iter().enumerate() {
                let size = entry_size(&entry.0, &entry.1);
                got.push(format!("[{:3}] (s = {size:3}) {}", i + 1, text(entry)));
            }
            got.push(format!("Table size: {:3}", decoder.bytes));
            let printed: Vec<&str> = printed.lines().map(str::trim).collect();
            assert_eq!(got, printed, "{block:02x?}");
            assert!(!list.too_large);
        }
        decoder
    }

    #[test]
    fn c1_integers() {
        // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix;
        // C.1.3: 42 at a byte boundary (an 8-bit prefix).
        for (bytes, prefix_bits, value) in [("0a", 5, 10), ("1f 9a 0a", 5, 1337), ("2a", 8, 42)] {
            let bytes = hex(bytes);
            let mut input = Input { rest: &bytes };
            assert_eq!(input.integer(prefix_bits), Ok(value));
            assert!(input.rest.is_empty());
            let mut out = Vec::new();
            encode_integer(&mut out, prefix_bits, value);
            assert_eq!(out, bytes);
        }
    }

    /// The largest integer taken is [`MAX_INTEGER`] itself (a table size,
    /// a string's length); one more is an overflow.
    #[test]
    fn an_integer_of_32_bits_is_taken_and_one_more_is_not() {
        let max = usize::try_from(MAX_INTEGER).unwrap();
        for (value, decoded) in [(max, Ok(max)), (max + 1, Err(DecodeError::IntegerOverflow))] {
            let mut bytes = Vec::new();
            encode_integer(&mut bytes, 8, value);
            let mut input = Input { rest: &bytes };
            assert_eq!(input.integer(8), decoded, "{value}");
        }
    }

    #[test]
    fn c2_field_representations() {
        // Literals with incremental indexing (C.2.1), without (C.2.2), never
        // indexed (C.2.3); an indexed field (C.2.4). Each on a new connection.
        let blocks = [
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
            "040c 2f73 616d 706c 652f 7061 7468",
            "1008 7061 7373 776f 7264 0673 6563 7265 74",
            "82",
        ];
        let printed = [
            "custom-key: custom-header
             [  1] (s =  55) custom-key: custom-header
                   Table size:  55",
            ":path: /sample/path\nTable size:   0",
            "password: secret\nTable size:   0",
            ":method: GET\nTable size:   0",
        ];
        for (block, printed) in blocks.into_iter().zip(printed) {
            check(DEFAULT_TABLE_BYTES, &[hex(block)], &[printed]);
        }
    }

    const C3: [&str; 3] = [
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ];
    const C4: [&str; 3] = [
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ];
    /// What the RFC prints after each request of C.3 and C.4, which differ
    /// only in Huffman coding.
    const REQUESTS: [&str; 3] = [
        ":method: GET
         :scheme: http
         :path: /
         :authority: www.example.com
         [  1] (s =  57) :authority: www.example.com
               Table size:  57",
        ":method: GET
         :scheme: http
         :path: /
         :authority: www.example.com
         cache-control: no-cache
         [  1] (s =  53) cache-control: no-cache
         [  2] (s =  57) :authority: www.example.com
               Table size: 110",
        ":method: GET
         :scheme: https
         :path: /index.html
         :authority: www.example.com
         custom-key: custom-value
         [  1] (s =  54) custom-key: custom-value
         [  2] (s =  53) cache-control: no-cache
         [  3] (s =  57) :authority: www.example.com
               Table size: 164",
    ];

    const C5: [&str; 3] = [
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
         3d31",
    ];
    const C6: [&str; 3] = [
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ];
    /// What the RFC prints after each response of C.5 and C.6, decoded with
    /// a 256-byte table: `:status: 307` evicts `:status: 302`, and the third
    /// response evicts four entries.
    const RESPONSES: [&str; 3] = [
        ":status: 302
         cache-control: private
         date: Mon, 21 Oct 2013 20:13:21 GMT
         location: https://www.example.com
         [  1] (s =  63) location: https://www.example.com
         [  2] (s =  65) date: Mon, 21 Oct 2013 20:13:21 GMT
         [  3] (s =  52) cache-control: private
         [  4] (s =  42) :status: 302
               Table size: 222",
        ":status: 307
         cache-control: private
         date: Mon, 21 Oct 2013 20:13:21 GMT
         location: https://www.example.com
         [  1] (s =  42) :status: 307
         [  2] (s =  63) location: https://www.example.com
         [  3] (s =  65) date: Mon, 21 Oct 2013 20:13:21 GMT
         [  4] (s =  52) cache-control: private
               Table size: 222",
        ":status: 200
         cache-control: private
         date: Mon, 21 Oct 2013 20:13:22 GMT
         location: https://www.example.com
         content-encoding: gzip
         set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1
         [  1] (s =  98) set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1
         [  2] (s =  52) content-encoding: gzip
         [  3] (s =  65) date: Mon, 21 Oct 2013 20:13:22 GMT
               Table size: 215",
    ];

    #[test]
    fn c3_to_c6_requests_and_responses_without_and_with_huffman() {
        check(DEFAULT_TABLE_BYTES, &C3.map(hex), &REQUESTS);
        check(DEFAULT_TABLE_BYTES, &C4.map(hex), &REQUESTS);
        check(256, &C5.map(hex), &RESPONSES);
        check(256, &C6.map(hex), &RESPONSES);
    }

    #[test]
    fn each_error_from_a_minimal_block() {
        for (block, error) in [
            ("40", DecodeError::Truncated),
            ("40 05 61", DecodeError::Truncated),
            ("1f", DecodeError::Truncated),
            // 127 + 0x7f + 0x7f << 7 + 0x7f << 14 + 0x7f << 21 + 0xf << 28 = 2^32 + 126.
            ("ff ff ff ff ff 0f", DecodeError::IntegerOverflow),
            // Six continuation bytes, though they carry only zero bits.
            ("ff 80 80 80 80 80 00", DecodeError::IntegerOverflow),
            ("80", DecodeError::BadIndex),
            ("be", DecodeError::BadIndex),
            ("7e", DecodeError::BadIndex),
            // A Huffman-coded name: '0' (00000), then zeros, or eleven ones.
            ("00 81 00", DecodeError::Huffman(HuffmanError::Padding)),
            ("00 82 07 ff", DecodeError::Huffman(HuffmanError::Padding)),
            ("00 84 ff ff ff fc", DecodeError::Huffman(HuffmanError::Eos)),
            // 31 + 0x62 + 0x1f << 7 = 4097.
            ("3f e2 1f", DecodeError::TableSizeAboveLimit),
            ("82 20", DecodeError::LateTableSizeUpdate),
        ] {
            let result = Decoder::new(DEFAULT_TABLE_BYTES).decode(&hex(block), usize::MAX);
            assert_eq!(result, Err(error), "{block}");
        }
    }

    #[test]
    fn size_updates_open_a_block_and_evict() {
        // To 0, which empties the table, back to 4096, then a field.
        let blocks = [hex(C3[0]), hex("20 3f e1 1f 82")];
        let printed = [REQUESTS[0], ":method: GET\nTable size:   0"];
        let decoder = check(DEFAULT_TABLE_BYTES, &blocks, &printed);
        assert_eq!(decoder.max_bytes, 4096);
    }

    /// §6.3: a size update sets the size the table keeps to from then on,
    /// not only what it is evicted to once: after an update to 64 bytes,
    /// two entries of 34 are not both kept. The peer's encoder keeps to the
    /// size it sent, so a decoder that kept both would name the wrong entry
    /// at every index past the first, for the rest of the connection.
    #[test]
    fn a_size_update_bounds_the_entries_inserted_after_it() {
        // 31 + 0x21 = 64; then a: 1 and b: 2 with incremental indexing.
        let block = hex("3f 21  40 01 61 01 31  40 01 62 01 32");
        let printed = "a: 1\nb: 2\n[  1] (s =  34) b: 2\nTable size:  34";
        let decoder = check(DEFAULT_TABLE_BYTES, &[block], &[printed]);
        assert_eq!(decoder.max_bytes, 64);
    }

    /// §4.4: an entry exactly as large as the table evicts the rest and is
    /// kept (the peer's encoder indexed it, so the decoder must too); one
    /// byte larger, it empties the table and is not kept, with no error.
    #[test]
    fn an_entry_the_tables_size_is_kept_and_a_larger_one_empties_it() {
        // "a" and 31 "v"s (76): 1 + 31 + 32 = 64 bytes, the whole table;
        // named by index (be) in the next block, then "a" and 32 "v"s.
        let (v31, v32) = ("76".repeat(31), "76".repeat(32));
        let blocks = [
            C3[0],
            &format!("40 01 61 1f {v31}"),
            &format!("be 40 01 61 20 {v32}"),
        ];
        let a = |n: usize| format!("a: {}", "v".repeat(n));
        let (fits, over) = (a(31), a(32));
        let printed = [
            REQUESTS[0],
            &format!("{fits}\n[  1] (s =  64) {fits}\nTable size:  64"),
            &format!("{fits}\n{over}\nTable size:   0"),
        ];
        let mut decoder = check(64, &blocks.map(hex), &printed);
        // Two empty fields of 32 bytes each fill it exactly: both are kept.
        decoder.decode(&hex("40 00 00 40 00 00"), 64).unwrap();
        assert_eq!((decoder.entries.len(), decoder.bytes), (2, 64));
    }

    #[test]
    fn past_max_list_bytes_fields_are_dropped_but_still_indexed() {
        let mut decoder = Decoder::new(DEFAULT_TABLE_BYTES);
        let field = |n: &[u8], v: &[u8]| (n.to_vec(), v.to_vec());
        // a: 1, b: 2, c: 3, each 34 bytes, each with incremental indexing;
        // then "d" with an empty value, not indexed, 33 bytes: it would fit
        // beside a, but no field after the first one dropped is kept.
        let block = hex("40 01 61 01 31  40 01 62 01 32  40 01 63 01 33  00 01 64 00");
        let list = decoder.decode(&block, 34 + 33).unwrap();
        assert_eq!(list.fields, [field(b"a", b"1")]);
        assert!(list.too_large);
        // The next block names all three by index, newest first.
        let list = decoder.decode(&hex("be bf c0"), usize::MAX).unwrap();
        let all = [field(b"c", b"3"), field(b"b", b"2"), field(b"a", b"1")];
        assert_eq!(list.fields, all);
        assert!(!list.too_large);
        // SETTINGS_MAX_HEADER_LIST_SIZE is the most accepted: a list of
        // exactly that many bytes is whole, one byte over it is not.
        let named = hex("be bf c0");
        assert!(!decoder.decode(&named, 3 * 34).unwrap().too_large);
        assert!(decoder.decode(&named, 3 * 34 - 1).unwrap().too_large);
    }

    /// The header list limit in the fuzz test: a few fields at most.
    const FUZZ_LIST_BYTES: usize = 100;

    /// Decodes `block` and checks what must hold whatever the bytes: the
    /// fields kept within the limit, the table within its own, and its size
    /// the sum of its entries'.
    fn decode_within_bounds(decoder: &mut Decoder, block: &[u8]) {
        if let Ok(list) = decoder.decode(block, FUZZ_LIST_BYTES) {
            let kept = list.fields.iter().map(|(n, v)| entry_size(n, v));
            assert!(kept.sum::<usize>() <= FUZZ_LIST_BYTES, "{block:02x?}");
        }
        let sizes = decoder.entries.iter().map(|(n, v)| entry_size(n, v));
        assert_eq!(decoder.bytes, sizes.sum::<usize>());
        assert!(decoder.bytes <= decoder.max_bytes);
        assert!(decoder.max_bytes <= decoder.limit);
    }

    #[test]
    fn random_and_mutated_blocks_stay_within_bounds() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Random bytes, on one decoder throughout, errors included: whatever
        // state an error leaves must still be within bounds.
        let mut decoder = Decoder::new(256);
        for _ in 0..20_000 {
            let len = rng.below(48);
            decode_within_bounds(&mut decoder, &rng.bytes(len));
        }
        // The RFC's blocks, one of them with a byte changed, truncated or
        // extended; those before it intact, so that it can name their entries.
        let series = [C3, C4, C5, C6].map(|blocks| blocks.map(hex));
        for _ in 0..20_000 {
            let blocks = &series[rng.below(series.len())];
            let (at, mut decoder) = (rng.below(blocks.len()), Decoder::new(256));
            for block in &blocks[..at] {
                decoder.decode(block, usize::MAX).unwrap();
            }
            let mut block = blocks[at].clone();
            let i = rng.below(block.len());
            let (flip, extra) = (1 + rng.below(255) as u8, 1 + rng.below(8));
            match rng.below(3) {
                0 => block[i] ^= flip,
                1 => block.truncate(i),
                _ => block.extend(rng.bytes(extra)),
            }
            decode_within_bounds(&mut decoder, &block);
        }
    }
}
