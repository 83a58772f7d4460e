//! The export itself: a deterministic CSV of `rows` lines, produced without
//! allocating.
//!
//! The producer side of the lesson: it makes rows far faster than any real
//! client can read them, which is exactly what makes a slow client
//! dangerous. Each line is a pure function of its row number `n`, so any
//! line can be checked on its own and the body length is known before a
//! byte is made ([`body_len`]), which is what lets the `buffer` strategy
//! send a `Content-Length` (and, later, refuse a body it could not hold).
//!
//! ```text
//! id,created_at,customer,amount,status
//! 1,2026-01-01T00:00:00Z,cust-07919,1047.29,pending
//! ```

use std::io::{self, Read};

use super::calendar::{self, RFC3339_LEN, SteppingTimestamp, two_digits, write_padded};

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
const FIRST_CREATED_AT: u64 = calendar::unix_seconds_at_midnight(2026, 1, 1);
/// Seconds between consecutive rows' `created_at`.
const SECONDS_BETWEEN_ROWS: u64 = 37;

/// Bytes every line has whatever its row: the timestamp, `cust-NNNNN`, the
/// `.cc` of the amount, four commas and the newline.
const FIXED_LINE_BYTES: usize = RFC3339_LEN + 10 + 3 + 4 + 1;

/// Customer numbers step by this much from row to row, modulo [`CUSTOMERS`].
const CUSTOMER_STEP: u64 = 7919;
/// Customer numbers are `0..CUSTOMERS`, written with five digits.
const CUSTOMERS: u64 = 100_000;
/// Amounts (in cents) step by this much from row to row, modulo
/// [`AMOUNT_PERIOD`]. It is prime and coprime to 10, so every amount from
/// 0.00 to 9999.99 occurs once in any [`AMOUNT_PERIOD`] consecutive rows.
const AMOUNT_STEP: u64 = 104_729;
/// Amounts are `0..AMOUNT_PERIOD` cents; the amount column repeats with
/// this period, and so does the length of its text.
const AMOUNT_PERIOD: u64 = 1_000_000;
/// Bytes of the amount's whole units (`1234` of `1234.56`) summed over one
/// [`AMOUNT_PERIOD`]: each of the 10 000 unit values occurs with 100 cent
/// values, and 10, 90, 900 and 9000 of them have 1, 2, 3 and 4 digits.
const AMOUNT_UNIT_DIGITS_PER_PERIOD: u64 = 100 * (10 + 90 * 2 + 900 * 3 + 9000 * 4);

/// Status texts with their newline, padded to one size so that every row
/// copies the same number of bytes (see [`Row::write`]).
const STATUS_LINE_ENDS: [(&[u8; 9], usize); 4] = [
    (b"paid\n    ", 5),
    (b"pending\n ", 8),
    (b"refunded\n", 9),
    (b"failed\n  ", 7),
];

/// Digits of the largest id, [`MAX_ROWS`].
const MAX_ID_DIGITS: usize = MAX_ROWS.ilog10() as usize + 1;

/// Space for an id's digits and the comma after it, with room to spare for
/// the 16-byte copy of the whole field.
const ID_FIELD_BYTES: usize = 16;

fn customer_number(n: u64) -> u64 {
    n * CUSTOMER_STEP % CUSTOMERS
}

fn amount_cents(n: u64) -> u64 {
    n * AMOUNT_STEP % AMOUNT_PERIOD
}

/// Index into [`STATUS_LINE_ENDS`]: the status cycles with period 4.
fn status_index(n: u64) -> usize {
    (n % 4) as usize
}

fn status(n: u64) -> &'static [u8] {
    let (text, len) = STATUS_LINE_ENDS[status_index(n)];
    &text[..len - 1]
}

fn created_at(n: u64) -> u64 {
    FIRST_CREATED_AT + (n - 1) * SECONDS_BETWEEN_ROWS
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

/// Exact length of an export of `rows` rows, header included, without
/// rendering it.
///
/// A line's length is fixed bytes plus three variable fields, and each
/// field's total over `rows` rows has a short form: the id's digits by
/// ranges of equal digit count, the status by its period of 4, the amount by
/// its period of a million rows. Only the last, partial period of
/// amounts is walked row by row, so the cost is at most a million steps
/// whatever `rows` is, where summing every line's length would be a step
/// per row.
pub fn body_len(rows: u64) -> u64 {
    let fixed = rows * FIXED_LINE_BYTES as u64;

    // Ids 1..=9 have one digit, 10..=99 two, and so on.
    let mut id_digits = 0;
    let (mut first, mut digits) = (1, 1);
    while first <= rows {
        let last = (first * 10 - 1).min(rows);
        id_digits += (last - first + 1) * digits;
        (first, digits) = (first * 10, digits + 1);
    }

    // Row 4q + k has the status of row k.
    let status_per_cycle: u64 = (1..=4).map(|k| status(k).len() as u64).sum();
    let statuses =
        rows / 4 * status_per_cycle + (1..=rows % 4).map(|k| status(k).len() as u64).sum::<u64>();

    // Row p × AMOUNT_PERIOD + k has the amount of row k; the last, partial
    // period is walked by stepping the amount, as the rows are rendered.
    let mut amount_units = rows / AMOUNT_PERIOD * AMOUNT_UNIT_DIGITS_PER_PERIOD;
    let mut cents = amount_cents(0);
    for _ in 0..rows % AMOUNT_PERIOD {
        cents = step_modulo(cents, AMOUNT_STEP, AMOUNT_PERIOD);
        amount_units += unit_digits(cents) as u64;
    }

    HEADER.len() as u64 + fixed + id_digits + statuses + amount_units
}

/// Renders row `n` (1-based, at most [`MAX_ROWS`]) into `line` and returns
/// its length. Any row, in any order: the export's definition, for checks.
#[cfg(test)]
fn render_row(n: u64, line: &mut [u8; MAX_LINE_BYTES]) -> usize {
    Row::at(n).write(line)
}

/// One row's fields, ready to be written, and stepped to the next row in
/// place.
///
/// Each field of row `n` is a formula of `n` (see [`Row::at`]), but from one
/// row to the next each changes by a simple step: the id's text gains one,
/// the timestamp 37 s, customer and amount a fixed increment. Keeping the
/// text and stepping it is what makes the producer fast; `Row::at` stays the
/// definition, and a test checks that stepping never drifts from it.
///
/// How much each of these tricks bought is measured in
/// `docs/benchmarks.md` ("The producer").
#[derive(Clone, Debug)]
struct Row {
    /// The id's decimal digits followed by a comma, incremented as text so
    /// that no row pays for a number-to-text conversion.
    id: [u8; ID_FIELD_BYTES],
    /// Digits in `id` (the comma is at `id[id_digits]`).
    id_digits: usize,
    /// `created_at` as text; only `HH:MM:SS` changes on most rows.
    created_at: SteppingTimestamp,
    /// `customer_number(n)`, kept so that the next one is an addition.
    customer: u64,
    /// `amount_cents(n)`, for the same reason.
    cents: u64,
    /// `status_index(n)`: which of `STATUS_LINE_ENDS` ends the line.
    status: usize,
}

impl Row {
    /// Row `n`, computed from the formulas that define the export.
    fn at(n: u64) -> Row {
        let id_digits = decimal_digits(n);
        let mut id = [0; ID_FIELD_BYTES];
        write_padded(&mut id[..id_digits], n);
        id[id_digits] = b',';
        Row {
            id,
            id_digits,
            created_at: SteppingTimestamp::at(created_at(n)),
            customer: customer_number(n),
            cents: amount_cents(n),
            status: status_index(n),
        }
    }

    /// Becomes row `n + 1`.
    #[inline]
    fn advance(&mut self) {
        self.increment_id();
        self.created_at.advance(SECONDS_BETWEEN_ROWS);
        self.customer = step_modulo(self.customer, CUSTOMER_STEP, CUSTOMERS);
        self.cents = step_modulo(self.cents, AMOUNT_STEP, AMOUNT_PERIOD);
        self.status = (self.status + 1) % STATUS_LINE_ENDS.len();
    }

    /// Adds one to the id's text, carrying like on paper: nine rows in ten
    /// change only their last digit.
    fn increment_id(&mut self) {
        for digit in self.id[..self.id_digits].iter_mut().rev() {
            if *digit < b'9' {
                *digit += 1;
                return;
            }
            *digit = b'0';
        }
        // All nines: 999 + 1 = 1000, one digit longer.
        self.id[0] = b'1';
        self.id[self.id_digits] = b'0';
        self.id_digits += 1;
        self.id[self.id_digits] = b',';
    }

    /// Writes the line into `line` and returns its length.
    ///
    /// Every field is copied whole, at a size fixed at compile time (the
    /// id's 16 bytes, the amount's 8, the status's 9), and the next field
    /// starts where this one's text ends, overwriting the rest: a copy of a
    /// known size is a few register moves, where one of a run-time size is
    /// a call to `memcpy` that costs more than the bytes it moves. The
    /// `min`s restate bounds the fields keep anyway (an id has at most
    /// [`MAX_ID_DIGITS`] digits), so that the compiler can prove that every
    /// copy fits in [`MAX_LINE_BYTES`] and need not check any of them.
    #[inline]
    fn write(&self, line: &mut [u8; MAX_LINE_BYTES]) -> usize {
        line[..ID_FIELD_BYTES].copy_from_slice(&self.id);
        let mut end = self.id_digits.min(MAX_ID_DIGITS) + 1;
        let created_at = self.created_at.text();
        line[end..end + created_at.len()].copy_from_slice(created_at);
        end += created_at.len();
        let customer = customer_text(self.customer);
        line[end..end + customer.len()].copy_from_slice(&customer);
        end += customer.len();
        let (amount, len) = amount_text(self.cents);
        line[end..end + amount.len()].copy_from_slice(&amount);
        end += len.min(amount.len());
        let (status, len) = STATUS_LINE_ENDS[self.status];
        line[end..end + status.len()].copy_from_slice(status);
        end + len.min(status.len())
    }
}

/// `"0000"` to `"9999"`: four digits in one load (40 KiB, built at compile
/// time), where two lookups of [`two_digits`] need a division between them.
static FOUR_DIGITS: [[u8; 4]; 10_000] = {
    let mut table = [[0; 4]; 10_000];
    let mut i = 0;
    while i < 10_000 {
        table[i] = [
            b'0' + (i / 1000) as u8,
            b'0' + (i / 100 % 10) as u8,
            b'0' + (i / 10 % 10) as u8,
            b'0' + (i % 10) as u8,
        ];
        i += 1;
    }
    table
};

/// `value` (below 10 000) as four decimal digits, leading zeros included.
fn four_digits(value: u64) -> [u8; 4] {
    FOUR_DIGITS[value as usize]
}

/// `,cust-NNNNN,` for a customer number below [`CUSTOMERS`].
fn customer_text(customer: u64) -> [u8; 12] {
    let first = b'0' + (customer / 10_000) as u8;
    let [c2, c3, c4, c5] = four_digits(customer % 10_000);
    [
        b',', b'c', b'u', b's', b't', b'-', first, c2, c3, c4, c5, b',',
    ]
}

/// `units.cc,` for an amount in cents below [`AMOUNT_PERIOD`], as the first
/// `len` of 8 bytes: `1234.56,` or `7.05,`.
///
/// The units have no leading zeros, so the text's length varies. Rather
/// than loop over digits, it renders all four padded (one lookup) and drops
/// the leading zeros by shifting the 8 bytes down as one little-endian
/// integer (`docs/benchmarks.md` measures what these tricks bought).
fn amount_text(cents: u64) -> ([u8; 8], usize) {
    let units = cents / 100;
    let [u1, u2, u3, u4] = four_digits(units);
    let [c1, c2] = two_digits(cents % 100);
    let padded = [u1, u2, u3, u4, b'.', c1, c2, b','];
    let leading_zeros = 4 - unit_digits(cents);
    let shifted = u64::from_le_bytes(padded) >> (8 * leading_zeros);
    (shifted.to_le_bytes(), padded.len() - leading_zeros)
}

/// Digits of the whole units of an amount in cents below [`AMOUNT_PERIOD`]
/// (`1234.56` → 4, `0.07` → 1), by comparisons rather than divisions.
fn unit_digits(cents: u64) -> usize {
    1 + usize::from(cents >= 1_000) + usize::from(cents >= 10_000) + usize::from(cents >= 100_000)
}

/// `(value + step) % modulus` for `value` and `step` below `modulus`: one
/// subtraction at most, where `%` would be a division.
fn step_modulo(value: u64, step: u64, modulus: u64) -> u64 {
    let next = value + step;
    if next >= modulus {
        next - modulus
    } else {
        next
    }
}

/// The export as a byte stream: header, then rows `1..=rows`, rendered on
/// demand straight into the caller's buffer.
///
/// Memory is one row's state and one line buffer, however large the export:
/// it renders only what its caller asks for ([`CsvRows::fill`], or `read`),
/// never ahead. That property is what the `pipeline` strategy relies on,
/// and what the channel strategies give away when they let the producer
/// thread call `fill` as fast as it can.
pub struct CsvRows {
    /// The next row to write, stepped in place after each.
    next: Row,
    /// Rows not yet written, `next` included.
    rows_left: u64,
    /// A line that did not fit whole in the caller's buffer, waiting to be
    /// handed out (the header starts here too). A chunk boundary may fall
    /// anywhere in a line, even at 1-byte chunks.
    line: [u8; MAX_LINE_BYTES],
    /// Bytes of `line` that are rendered.
    line_len: usize,
    /// Bytes of `line` already handed to a reader.
    line_pos: usize,
}

impl CsvRows {
    /// An export of `rows` rows, positioned at its first byte.
    ///
    /// # Panics
    ///
    /// If `rows` is over `MAX_ROWS`: an id of more digits would not fit
    /// its column. The server never asks for more (`--max-rows` cannot
    /// raise the cap), so this is a caller's bug, said at once rather than
    /// rendered as a malformed row.
    pub fn new(rows: u64) -> Self {
        assert!(rows <= MAX_ROWS, "{rows} rows: at most {MAX_ROWS}");
        let mut line = [0; MAX_LINE_BYTES];
        line[..HEADER.len()].copy_from_slice(HEADER);
        CsvRows {
            next: Row::at(1),
            rows_left: rows,
            line,
            line_len: HEADER.len(),
            line_pos: 0,
        }
    }

    /// True once every byte has been handed out. A producer asks before it
    /// takes a buffer: after the last row it needs none, and one may not
    /// come back while the client stalls.
    pub fn is_done(&self) -> bool {
        self.rows_left == 0 && self.line_pos == self.line_len
    }

    /// Appends the export's next bytes to `chunk` until it holds `max_len`
    /// bytes or the export ends. It never grows `chunk` past `max_len`, so a
    /// chunk allocated with that capacity is filled without reallocating.
    pub fn fill(&mut self, chunk: &mut Vec<u8>, max_len: usize) {
        while chunk.len() < max_len && !self.is_done() {
            if chunk.len() == chunk.capacity() {
                chunk.reserve(MAX_LINE_BYTES.min(max_len - chunk.len()));
            }
            // Rows are written in place, so the room must exist first.
            // Zeroing it looks wasteful but is cheaper: in the server, the
            // first write to a chunk the kernel has just copied out is the
            // slow one, and one `memset` pays that cost for less than the
            // rows' many small stores would (`docs/benchmarks.md`, "Not
            // kept"). Only what the export can still need is zeroed, so a
            // roomy chunk's pages are not touched in vain.
            let start = chunk.len();
            let most_needed = (self.line_len - self.line_pos) as u64
                + self.rows_left.saturating_mul(MAX_LINE_BYTES as u64);
            let room = (chunk.capacity().min(max_len) - start) as u64;
            chunk.resize(start + room.min(most_needed) as usize, 0);
            let written = self.read_into(&mut chunk[start..]);
            chunk.truncate(start + written);
        }
    }

    /// Fills as much of `out` as the export has left; less than `out.len()`
    /// only at the end.
    fn read_into(&mut self, out: &mut [u8]) -> usize {
        let mut filled = self.take_from_line(out);
        while filled < out.len() && self.rows_left > 0 {
            if let Some(room) = out[filled..].first_chunk_mut::<MAX_LINE_BYTES>() {
                // Room for any line: write it in place, no second copy.
                filled += self.next.write(room);
            } else {
                // The line may not fit: render it aside, hand out what fits.
                self.line_len = self.next.write(&mut self.line);
                self.line_pos = 0;
                filled += self.take_from_line(&mut out[filled..]);
            }
            self.next.advance();
            self.rows_left -= 1;
        }
        filled
    }

    /// Copies the waiting part of `line` into `out`, as much as fits.
    fn take_from_line(&mut self, out: &mut [u8]) -> usize {
        let n = (self.line_len - self.line_pos).min(out.len());
        out[..n].copy_from_slice(&self.line[self.line_pos..self.line_pos + n]);
        self.line_pos += n;
        n
    }
}

impl Read for CsvRows {
    /// Fills as much of `out` as the export has left; `Ok(0)` only at the end.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_into(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length in bytes of row `n`'s line, from the formulas alone.
    fn line_len(n: u64) -> usize {
        decimal_digits(n)
            + decimal_digits(amount_cents(n) / 100)
            + status(n).len()
            + FIXED_LINE_BYTES
    }

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

    /// Each line rendered from the row number it starts with.
    #[test]
    fn known_lines() {
        for text in [
            "1,2026-01-01T00:00:00Z,cust-07919,1047.29,pending\n",
            "4,2026-01-01T00:01:51Z,cust-31676,4189.16,paid\n",
            "123457,2026-02-22T20:51:12Z,cust-55983,5281.53,pending\n",
            "1842423,2028-02-29T00:00:14Z,cust-47737,1183.67,failed\n",
            "7000000,2034-03-17T16:26:03Z,cust-00000,0.00,paid\n",
        ] {
            let (id, _) = text.split_once(',').unwrap();
            assert_eq!(line(id.parse().unwrap()), text);
        }
    }

    #[test]
    fn amounts_keep_two_cent_digits_and_no_leading_zeros() {
        // 104729 is coprime to 10^6, so every amount occurs once among any
        // million consecutive rows; searching beats deriving.
        for (cents, text) in [(7, ",0.07,"), (123_450, ",1234.50,")] {
            let n = (1..=1_000_000).find(|&n| amount_cents(n) == cents);
            let rendered = line(n.unwrap());
            assert!(rendered.contains(text), "{rendered}");
        }
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
            let rendered = render_all(rows, 4096).len() as u64;
            assert_eq!(body_len(rows), rendered, "rows={rows}");
        }
    }

    /// `body_len` against the sum of rendered lines, for every `rows` up to
    /// 5 000 and then around each boundary of its short forms: the id's digit
    /// counts (10, 100, … 10^8), the status cycle and the amount period
    /// (1 and 2 million rows). Far ranges are reached with `render_row`
    /// (random access), by the difference `body_len(b) - body_len(a)`.
    #[test]
    fn body_len_equals_the_sum_of_rendered_lines() {
        let mut line = [0; MAX_LINE_BYTES];
        let mut sum = HEADER.len() as u64;
        for rows in 0..=5_000 {
            if rows > 0 {
                sum += render_row(rows, &mut line) as u64;
            }
            assert_eq!(body_len(rows), sum, "rows={rows}");
        }
        let boundaries = [
            10_000, 99_990, 999_990, 1_000_000, 2_000_000, 9_999_990, 99_999_990,
        ];
        for boundary in boundaries {
            let start = boundary - 10;
            let mut sum = body_len(start);
            for rows in start + 1..=(boundary + 20).min(MAX_ROWS) {
                sum += render_row(rows, &mut line) as u64;
                assert_eq!(body_len(rows), sum, "rows={rows}");
            }
        }
    }

    #[test]
    fn the_amount_digits_per_period_are_counted_right() {
        let counted: u64 = (1..=AMOUNT_PERIOD)
            .map(|n| decimal_digits(amount_cents(n) / 100) as u64)
            .sum();
        assert_eq!(counted, AMOUNT_UNIT_DIGITS_PER_PERIOD);
    }

    #[test]
    fn amount_text_matches_formatting_for_every_amount() {
        for cents in 0..AMOUNT_PERIOD {
            let (text, len) = amount_text(cents);
            let expected = format!("{}.{:02},", cents / 100, cents % 100);
            assert_eq!(&text[..len], expected.as_bytes(), "{cents} cents");
        }
    }

    /// Stepping a row never drifts from computing it: checked from starts
    /// just before the id gains a digit, at the amount period, and across
    /// midnights, year ends and leap days (a day is ~2 335 rows, so 3 000
    /// steps cross at least one midnight from every start).
    #[test]
    fn stepping_rows_matches_computing_them() {
        let (mut stepped, mut computed) = ([0; MAX_LINE_BYTES], [0; MAX_LINE_BYTES]);
        for start in [1, 95, 995, 999_000, 1_841_000, 9_999_000, MAX_ROWS - 3_000] {
            let mut row = Row::at(start);
            for n in start..start + 3_000 {
                let len = row.write(&mut stepped);
                assert_eq!(len, Row::at(n).write(&mut computed), "row {n}");
                assert_eq!(stepped[..len], computed[..len], "row {n}");
                assert_eq!(len, line_len(n), "row {n}");
                row.advance();
            }
        }
    }

    #[test]
    fn body_len_of_the_400_mb_export() {
        assert_eq!(body_len(7_000_000), 384_861_933);
    }

    #[test]
    fn read_size_never_changes_the_bytes() {
        let reference = render_all(500, 1 << 20);
        for size in [1, 2, 7, 63, 64, 65, 4096] {
            assert_eq!(render_all(500, size), reference, "read size {size}");
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

    /// A chunk with no room left is grown toward `max_len`, not by a whole
    /// line past it: `fill` never grows a chunk past `max_len`. (`Vec` may
    /// round a reservation up, to 8 bytes for these 7; not to a line's 64.)
    #[test]
    fn fill_grows_a_full_chunk_only_toward_max_len() {
        let mut reader = CsvRows::new(300);
        let mut chunk = Vec::new();
        reader.fill(&mut chunk, 7);
        assert_eq!(chunk, HEADER[..7]);
        assert!(chunk.capacity() < MAX_LINE_BYTES, "{}", chunk.capacity());
    }

    /// `MAX_ROWS` is the most rows an export may have, and a count it may
    /// have: `--max-rows` defaults to it, so a request for exactly that
    /// many is served. One more is a caller's bug, refused at once.
    #[test]
    fn an_export_of_max_rows_is_made_and_one_more_is_refused() {
        let mut reader = CsvRows::new(MAX_ROWS);
        let mut start = vec![0; HEADER.len() + line(1).len()];
        reader.read_exact(&mut start).unwrap();
        assert_eq!(start, [HEADER, line(1).as_bytes()].concat());
        assert!(std::panic::catch_unwind(|| CsvRows::new(MAX_ROWS + 1)).is_err());
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
