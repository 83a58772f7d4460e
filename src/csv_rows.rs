//! The export itself: a deterministic CSV of `rows` lines, produced without
//! allocating.
//!
//! This is the producer side of the lesson. It stands in for a database
//! cursor: it can make rows far faster than any real client can read them,
//! which is exactly what makes a slow client dangerous. Every strategy reads
//! the same bytes from [`CsvRows`], so the four strategies differ only in how
//! they move those bytes to the socket, never in what they send.
//!
//! Each line is a pure function of its row number `n`, so any line can be
//! checked on its own and the body length is known before a byte is made
//! ([`body_len`]), which is what lets the `buffer` strategy send a
//! `Content-Length` (and, later, refuse a body it could not hold).
//!
//! ```text
//! id,created_at,customer,amount,status
//! 1,2026-01-01T00:00:00Z,cust-07919,1047.29,pending
//! ```

use std::io::{self, Read};

use crate::timestamp::{self, RFC3339_LEN, UtcDateTime};

/// The first line of every export.
pub const HEADER: &[u8] = b"id,created_at,customer,amount,status\n";

/// The most rows one request may ask for: about 5.6 GB of CSV. It bounds the
/// timestamps to four-digit years and the `buffer` strategy's worst case; a
/// real service would cap exports far lower, or page them.
pub const MAX_ROWS: u64 = 100_000_000;

/// Longest possible line: a 9-digit id, a 20-byte timestamp, `cust-` and 5
/// digits, `9999.99`, `refunded`, four commas and a newline is 59 bytes.
/// [`CsvRows`] renders one line at a time into a buffer of this size.
pub const MAX_LINE_BYTES: usize = 64;

/// `created_at` of row 1.
const FIRST_CREATED_AT: u64 = timestamp::unix_seconds_at_midnight(2026, 1, 1);
/// Seconds between consecutive rows' `created_at`.
const SECONDS_BETWEEN_ROWS: u64 = 37;

/// Bytes every line has whatever its row: the timestamp, `cust-NNNNN`, the
/// `.cc` of the amount, four commas and the newline.
const FIXED_LINE_BYTES: usize = RFC3339_LEN + 10 + 3 + 4 + 1;

fn customer_number(n: u64) -> u64 {
    n * 7919 % 100_000
}

fn amount_cents(n: u64) -> u64 {
    n * 104_729 % 1_000_000
}

fn status(n: u64) -> &'static [u8] {
    match n % 4 {
        0 => b"paid",
        1 => b"pending",
        2 => b"refunded",
        _ => b"failed",
    }
}

fn created_at(n: u64) -> UtcDateTime {
    UtcDateTime::from_unix_seconds(FIRST_CREATED_AT + (n - 1) * SECONDS_BETWEEN_ROWS)
}

/// Number of decimal digits in `value` (at least one: `0` has one digit).
fn decimal_digits(mut value: u64) -> usize {
    let mut digits = 1;
    while value >= 10 {
        value /= 10;
        digits += 1;
    }
    digits
}

/// Length in bytes of row `n`'s line, without rendering it.
fn line_len(n: u64) -> usize {
    decimal_digits(n) + decimal_digits(amount_cents(n) / 100) + status(n).len() + FIXED_LINE_BYTES
}

/// Exact length of an export of `rows` rows, header included.
///
/// It walks every row (a few arithmetic operations each, no formatting), so
/// it costs about a tenth of rendering the body.
pub fn body_len(rows: u64) -> u64 {
    let lines: u64 = (1..=rows).map(|n| line_len(n) as u64).sum();
    HEADER.len() as u64 + lines
}

/// Renders row `n` (1-based) into `line` and returns its length.
pub fn render_row(n: u64, line: &mut [u8; MAX_LINE_BYTES]) -> usize {
    let mut out = LineWriter { line, len: 0 };
    out.push_decimal(n);
    out.push(b",");
    let mut stamp = [0u8; RFC3339_LEN];
    created_at(n).write_rfc3339(&mut stamp);
    out.push(&stamp);
    out.push(b",cust-");
    out.push_padded(customer_number(n), 5);
    out.push(b",");
    let cents = amount_cents(n);
    out.push_decimal(cents / 100);
    out.push(b".");
    out.push_padded(cents % 100, 2);
    out.push(b",");
    out.push(status(n));
    out.push(b"\n");
    out.len
}

/// Appends to a line buffer; the buffer is sized for the longest line, so a
/// push can only overflow on a bug, and slicing would then panic loudly.
struct LineWriter<'a> {
    line: &'a mut [u8; MAX_LINE_BYTES],
    len: usize,
}

impl LineWriter<'_> {
    fn push(&mut self, bytes: &[u8]) {
        self.line[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn push_padded(&mut self, mut value: u64, width: usize) {
        for digit in self.line[self.len..self.len + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
    }

    fn push_decimal(&mut self, value: u64) {
        self.push_padded(value, decimal_digits(value));
    }
}

/// The export as a byte stream: header, then rows `1..=rows`, rendered one
/// line at a time on demand.
///
/// Memory is one line buffer, however large the export: the reader never
/// runs ahead of whoever is calling `read`. That property is what the
/// `pipeline` strategy relies on, and what the channel strategies give away
/// when they let the producer thread call `read` as fast as it can.
pub struct CsvRows {
    /// Row to render next; 0 means the header. Past `rows`, the export is done.
    next_row: u64,
    /// Last row of this export.
    rows: u64,
    /// The current line. It exists so that a line can straddle two `read`
    /// calls (a chunk boundary may fall anywhere, even at 1-byte chunks).
    line: [u8; MAX_LINE_BYTES],
    /// Bytes of `line` that are rendered.
    line_len: usize,
    /// Bytes of `line` already handed to a reader.
    line_pos: usize,
}

impl CsvRows {
    /// An export of `rows` rows, positioned at its first byte.
    pub fn new(rows: u64) -> Self {
        CsvRows {
            next_row: 0,
            rows,
            line: [0; MAX_LINE_BYTES],
            line_len: 0,
            line_pos: 0,
        }
    }

    /// Appends the export's next bytes to `chunk` until it holds `max_len`
    /// bytes or the export ends. It never grows `chunk` past `max_len`, so a
    /// chunk allocated with that capacity is filled without reallocating.
    pub fn fill(&mut self, chunk: &mut Vec<u8>, max_len: usize) {
        while chunk.len() < max_len {
            let piece = self.next_piece(max_len - chunk.len());
            if piece.is_empty() {
                return;
            }
            chunk.extend_from_slice(piece);
        }
    }

    /// The next at most `max` bytes of the current line, rendering the next
    /// line first if this one is used up; empty only at the end (or if
    /// `max` is 0).
    fn next_piece(&mut self, max: usize) -> &[u8] {
        if self.line_pos == self.line_len && !self.render_next_line() {
            return &[];
        }
        let end = self.line_len.min(self.line_pos + max);
        let piece = &self.line[self.line_pos..end];
        self.line_pos = end;
        piece
    }

    /// Renders the next line into `self.line`; false once the export is done.
    fn render_next_line(&mut self) -> bool {
        if self.next_row > self.rows {
            return false;
        }
        self.line_len = if self.next_row == 0 {
            self.line[..HEADER.len()].copy_from_slice(HEADER);
            HEADER.len()
        } else {
            render_row(self.next_row, &mut self.line)
        };
        self.line_pos = 0;
        self.next_row += 1;
        true
    }
}

impl Read for CsvRows {
    /// Fills as much of `out` as the export has left; `Ok(0)` only at the end.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < out.len() {
            let piece = self.next_piece(out.len() - filled);
            if piece.is_empty() {
                break;
            }
            out[filled..filled + piece.len()].copy_from_slice(piece);
            filled += piece.len();
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64) -> String {
        let mut buf = [0u8; MAX_LINE_BYTES];
        let len = render_row(n, &mut buf);
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    fn render_all(rows: u64, read_size: usize) -> Vec<u8> {
        let mut reader = CsvRows::new(rows);
        let mut body = Vec::new();
        let mut buf = vec![0u8; read_size];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                return body;
            }
            body.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn known_lines() {
        assert_eq!(
            line(1),
            "1,2026-01-01T00:00:00Z,cust-07919,1047.29,pending\n"
        );
        assert_eq!(line(4), "4,2026-01-01T00:01:51Z,cust-31676,4189.16,paid\n");
        assert_eq!(
            line(123_457),
            "123457,2026-02-22T20:51:12Z,cust-55983,5281.53,pending\n"
        );
        assert_eq!(
            line(1_842_423),
            "1842423,2028-02-29T00:00:14Z,cust-47737,1183.67,failed\n"
        );
        assert_eq!(
            line(7_000_000),
            "7000000,2034-03-17T16:26:03Z,cust-00000,0.00,paid\n"
        );
    }

    #[test]
    fn amounts_keep_two_cent_digits_and_no_leading_zeros() {
        // 104729 is coprime to 10^6, so every amount occurs once among any
        // million consecutive rows; searching beats deriving.
        let small = (1..=1_000_000).find(|&n| amount_cents(n) == 7).unwrap();
        assert!(line(small).contains(",0.07,"), "{}", line(small));
        let round = (1..=1_000_000)
            .find(|&n| amount_cents(n) == 123_450)
            .unwrap();
        assert!(line(round).contains(",1234.50,"), "{}", line(round));
    }

    #[test]
    fn no_line_exceeds_the_line_buffer() {
        // The worst case of every variable field at once: the longest id
        // (only MAX_ROWS has 9 digits), a 4-digit amount and `refunded`.
        let (id, units) = (decimal_digits(MAX_ROWS), decimal_digits(9999));
        let worst = id + units + "refunded".len() + FIXED_LINE_BYTES;
        assert_eq!(worst, 59);
        assert!(worst <= MAX_LINE_BYTES);
        for n in MAX_ROWS - 3..=MAX_ROWS {
            assert_eq!(line(n).len(), line_len(n), "row {n}");
        }
    }

    #[test]
    fn body_len_matches_the_rendered_body() {
        assert_eq!(body_len(0), HEADER.len() as u64);
        assert_eq!(body_len(1000), 51_073);
        for rows in [0, 1, 2, 3, 999, 1000, 20_000] {
            assert_eq!(
                body_len(rows),
                render_all(rows, 4096).len() as u64,
                "rows={rows}"
            );
        }
    }

    #[test]
    fn body_len_of_the_400_mb_export() {
        assert_eq!(body_len(7_000_000), 384_861_933);
    }

    #[test]
    fn read_size_never_changes_the_bytes() {
        let reference = render_all(500, 1 << 20);
        for read_size in [1, 2, 7, 63, 64, 65, 4096] {
            assert_eq!(
                render_all(500, read_size),
                reference,
                "read size {read_size}"
            );
        }
        assert!(reference.starts_with(HEADER));
        assert!(render_all(0, 7) == HEADER);
    }

    #[test]
    fn fill_stops_at_max_len_without_reallocating() {
        let reference = render_all(300, 4096);
        let mut reader = CsvRows::new(300);
        let mut body = Vec::new();
        loop {
            let mut chunk = Vec::with_capacity(7);
            reader.fill(&mut chunk, 7);
            assert_eq!(chunk.capacity(), 7);
            if chunk.is_empty() {
                break;
            }
            body.extend_from_slice(&chunk);
        }
        assert_eq!(body, reference);
    }

    #[test]
    fn an_empty_read_buffer_is_not_the_end() {
        let mut reader = CsvRows::new(1);
        assert_eq!(reader.read(&mut []).unwrap(), 0);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest.len(), HEADER.len() + line(1).len());
    }
}
