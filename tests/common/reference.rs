//! The export as the tests expect it: an independent reference CSV, built
//! from the export's definition with its own calendar walk, to compare the
//! server's bytes against.

use std::fmt;

/// The header line every export starts with.
pub const CSV_HEADER: &str = "id,created_at,customer,amount,status\n";
/// Seconds between consecutive rows' `created_at`.
const ROW_STEP_SECONDS: u64 = 37;
/// Every `YYYY-MM-DDTHH:MM:SSZ` is this long while years have four digits.
const TIMESTAMP_LEN: u64 = 20;

/// A UTC calendar time walked forward field by field with carries, the way one
/// would on paper, instead of converting from a day count: that keeps it
/// independent of whatever date arithmetic the server uses. Fields are public
/// so tests can start the walk at any date, e.g. a century leap rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarTime {
    /// Four digits in every row count the tests use.
    pub year: u64,
    /// 1..=12.
    pub month: u64,
    /// 1..=days in the month.
    pub day: u64,
    /// 0..=23.
    pub hour: u64,
    /// 0..=59.
    pub minute: u64,
    /// 0..=59; UTC has no leap seconds here.
    pub second: u64,
}

impl CalendarTime {
    /// The `created_at` of row 1.
    pub fn epoch() -> CalendarTime {
        CalendarTime {
            year: 2026,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
        }
    }

    /// Moves forward by `seconds`, carrying seconds into minutes, hours and
    /// days, then walking whole days month by month using the month table.
    pub fn advance(&mut self, seconds: u64) {
        let seconds = self.second + seconds;
        self.second = seconds % 60;
        let minutes = self.minute + seconds / 60;
        self.minute = minutes % 60;
        let hours = self.hour + minutes / 60;
        self.hour = hours % 24;
        let mut days = hours / 24;
        // Each pass either lands inside the current month or moves to the next
        // one, so this runs about days/30 times.
        while days > 0 {
            let left_in_month = days_in_month(self.year, self.month) - self.day;
            if days <= left_in_month {
                self.day += days;
                days = 0;
            } else {
                days -= left_in_month + 1;
                self.day = 1;
                self.month += 1;
                if self.month > 12 {
                    self.month = 1;
                    self.year += 1;
                }
            }
        }
    }
}

impl fmt::Display for CalendarTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Gregorian: every fourth year, except centuries, except every fourth century.
fn is_leap_year(year: u64) -> bool {
    match (year % 400, year % 100, year % 4) {
        (0, _, _) => true,
        (_, 0, _) => false,
        (_, _, 0) => true,
        _ => false,
    }
}

fn days_in_month(year: u64, month: u64) -> u64 {
    const DAYS: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if month == 2 && is_leap_year(year) {
        29
    } else {
        DAYS[(month - 1) as usize]
    }
}

fn customer_number(n: u64) -> u64 {
    n * 7919 % 100_000
}

fn amount_cents(n: u64) -> u64 {
    n * 104_729 % 1_000_000
}

fn status(n: u64) -> &'static str {
    match n % 4 {
        0 => "paid",
        1 => "pending",
        2 => "refunded",
        _ => "failed",
    }
}

fn format_row(n: u64, created_at: &CalendarTime) -> String {
    let cents = amount_cents(n);
    format!(
        "{n},{created_at},cust-{:05},{}.{:02},{}",
        customer_number(n),
        cents / 100,
        cents % 100,
        status(n)
    )
}

/// The data lines of a `rows`-row export, in order, each without its `\n`.
/// Lets tests compare a large export line by line without holding it twice.
pub struct ReferenceRows {
    next: u64,
    last: u64,
    clock: CalendarTime,
}

impl ReferenceRows {
    /// Rows 1..=rows.
    pub fn new(rows: u64) -> ReferenceRows {
        ReferenceRows {
            next: 1,
            last: rows,
            clock: CalendarTime::epoch(),
        }
    }
}

impl Iterator for ReferenceRows {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.next > self.last {
            return None;
        }
        let line = format_row(self.next, &self.clock);
        self.next += 1;
        self.clock.advance(ROW_STEP_SECONDS);
        Some(line)
    }
}

/// The exact bytes the export of `rows` rows must have, header included.
pub fn reference_csv(rows: u64) -> Vec<u8> {
    let mut out = Vec::from(CSV_HEADER);
    for line in ReferenceRows::new(rows) {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Fails the test unless `got` is `expected`, saying where they part: both
/// lengths, the first byte that differs, and the text around it in each.
/// An export is megabytes: `assert_eq!` would print it whole, and
/// `assert!(got == expected)` would say nothing of it.
#[track_caller]
pub fn assert_same_bytes(got: &[u8], expected: &[u8], what: &str) {
    if got == expected {
        return;
    }
    let at = got
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(expected.len()));
    let around = |bytes: &[u8]| {
        let end = (at + 40).min(bytes.len());
        String::from_utf8_lossy(&bytes[at.saturating_sub(40).min(end)..end]).into_owned()
    };
    panic!(
        "{what}: {} bytes where {} were expected, first different at byte {at}:\n     got {:?}\nexpected {:?}",
        got.len(),
        expected.len(),
        around(got),
        around(expected)
    );
}

/// The data line for row `n` (1-based, without `\n`), found by one big calendar
/// jump rather than by walking every row, so it is quick for any `n`.
pub fn reference_line(n: u64) -> String {
    assert!(n >= 1, "rows are numbered from 1");
    let mut created_at = CalendarTime::epoch();
    created_at.advance((n - 1) * ROW_STEP_SECONDS);
    format_row(n, &created_at)
}

/// `reference_csv(rows).len()` without building the bytes, so tests can check
/// a Content-Length or byte count for millions of rows.
pub fn reference_csv_len(rows: u64) -> u64 {
    // Past ~6.8e9 rows the year gets a fifth digit and TIMESTAMP_LEN is wrong.
    assert!(
        rows < 1_000_000_000,
        "timestamps would outgrow four-digit years"
    );
    let mut len = CSV_HEADER.len() as u64;
    for n in 1..=rows {
        let amount = decimal_digits(amount_cents(n) / 100) + 3; // "units" + ".cc"
        let customer = 5 + 5; // "cust-" + five digits
        len += decimal_digits(n) + TIMESTAMP_LEN + customer + amount + status(n).len() as u64;
        len += 4 + 1; // four commas and the newline
    }
    len
}

fn decimal_digits(mut value: u64) -> u64 {
    let mut digits = 1;
    while value >= 10 {
        value /= 10;
        digits += 1;
    }
    digits
}
