//! Calendar math: Unix seconds to a UTC `YYYY-MM-DDTHH:MM:SSZ` timestamp,
//! and to the IMF-fixdate of HTTP's `Date` field (`Sun, 06 Nov 1994
//! 08:49:37 GMT`).
//!
//! Every CSV row carries a `created_at`, so this runs in the producer's hot
//! loop (in full once per day of rows, [`SteppingTimestamp`] in between): it
//! must not allocate, and needs no time-zone database, since the export is
//! in UTC on the proleptic Gregorian calendar (leap years every 4 years,
//! except centuries, except every 400 years). Reading the clock is not
//! calendar math: whoever needs "now" passes it in as Unix seconds.
//!
//! Day count ↔ civil date is Howard Hinnant's `civil_from_days` /
//! `days_from_civil` ("chrono-Compatible Low-Level Date Algorithms"): the
//! year starts on 1 March, so that the leap day ends it and one formula gives
//! every month's length. Dates from 1970 on only, so it is written over
//! unsigned integers, without the original's negative-era branches.

/// Days from 0000-03-01 (the start of the shifted calendar) to 1970-01-01.
const DAYS_FROM_0000_03_01_TO_UNIX_EPOCH: u64 = 719_468;
/// A 400-year era always has exactly this many days (97 leap years).
const DAYS_PER_ERA: u64 = 146_097;
const SECONDS_PER_DAY: u64 = 86_400;

/// A UTC date and time of day, to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcDateTime {
    /// Four digits are written, so only years 0..=9999 format correctly;
    /// the export never goes past the year 2150.
    pub year: u64,
    /// 1..=12.
    pub month: u64,
    /// 1..=31.
    pub day: u64,
    /// 0..=23.
    pub hour: u64,
    /// 0..=59.
    pub minute: u64,
    /// 0..=59: UTC as the export uses it has no leap seconds.
    pub second: u64,
}

/// Length of `YYYY-MM-DDTHH:MM:SSZ`.
pub const RFC3339_LEN: usize = 20;

/// Length of an IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`: fixed, so
/// that a response head's length does not depend on the day it is sent.
pub const IMF_FIXDATE_LEN: usize = 29;

/// Day names of the IMF-fixdate, from 1970-01-01, a Thursday.
const DAY_NAMES: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
/// Month names of the IMF-fixdate, January first.
const MONTH_NAMES: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

impl UtcDateTime {
    /// The civil date and time `secs` seconds after 1970-01-01T00:00:00Z.
    pub const fn from_unix_seconds(secs: u64) -> Self {
        let days = secs / SECONDS_PER_DAY;
        let second_of_day = secs % SECONDS_PER_DAY;
        let (year, month, day) = civil_from_days(days);
        UtcDateTime {
            year,
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
        }
    }

    /// Writes `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC) into `out`.
    pub fn write_rfc3339(&self, out: &mut [u8; RFC3339_LEN]) {
        *out = *b"YYYY-MM-DDTHH:MM:SSZ";
        write_padded(&mut out[0..4], self.year);
        write_padded(&mut out[5..7], self.month);
        write_padded(&mut out[8..10], self.day);
        write_padded(&mut out[11..13], self.hour);
        write_padded(&mut out[14..16], self.minute);
        write_padded(&mut out[17..19], self.second);
    }

    /// Writes the IMF-fixdate of RFC 9110 §5.6.7, the only form a sender
    /// may generate for `Date`: `Sun, 06 Nov 1994 08:49:37 GMT`. The names
    /// are English whatever the locale, and `GMT` means UTC.
    pub fn write_imf_fixdate(&self, out: &mut [u8; IMF_FIXDATE_LEN]) {
        *out = *b"Ddd, DD Mmm YYYY HH:MM:SS GMT";
        let days = days_from_civil(self.year, self.month, self.day);
        out[0..3].copy_from_slice(DAY_NAMES[(days % 7) as usize]);
        write_padded(&mut out[5..7], self.day);
        out[8..11].copy_from_slice(MONTH_NAMES[(self.month - 1) as usize]);
        write_padded(&mut out[12..16], self.year);
        write_padded(&mut out[17..19], self.hour);
        write_padded(&mut out[20..22], self.minute);
        write_padded(&mut out[23..25], self.second);
    }
}

/// A timestamp kept as text and stepped forward, for one timestamp after
/// another a fixed step apart (the export's rows are 37 s apart).
///
/// Converting from Unix seconds costs a dozen divisions; a step is a few
/// additions with carries, like a clock's hands, rewriting `HH:MM:SS` only,
/// and the date only when it changes (once per ~2 300 rows). What it bought
/// the export is measured in `docs/benchmarks.md`.
#[derive(Clone, Debug)]
pub struct SteppingTimestamp {
    /// The date shown, in days since 1970-01-01: all a new day needs to
    /// render its date, kept instead of the instant so that a step adds to
    /// the clock's hands alone.
    day: u64,
    /// `HH` as a number, so that a step adds instead of dividing.
    hour: u64,
    /// `MM`, likewise.
    minute: u64,
    /// `SS`, likewise.
    second: u64,
    /// `YYYY-MM-DDTHH:MM:SSZ` for `day` and the hands.
    text: [u8; RFC3339_LEN],
}

impl SteppingTimestamp {
    pub fn at(unix_seconds: u64) -> Self {
        let time = UtcDateTime::from_unix_seconds(unix_seconds);
        let mut text = [0; RFC3339_LEN];
        time.write_rfc3339(&mut text);
        SteppingTimestamp {
            day: unix_seconds / SECONDS_PER_DAY,
            hour: time.hour,
            minute: time.minute,
            second: time.second,
            text,
        }
    }

    pub fn text(&self) -> &[u8; RFC3339_LEN] {
        &self.text
    }

    /// Moves forward `seconds` (< 60, so each field carries at most one into the next).
    #[inline]
    pub fn advance(&mut self, seconds: u64) {
        debug_assert!(seconds < 60);
        self.second += seconds;
        if self.second >= 60 {
            self.second -= 60;
            self.minute += 1;
            if self.minute == 60 {
                self.minute = 0;
                self.hour += 1;
                if self.hour == 24 {
                    // A new day: the date changes, and that is calendar math.
                    *self = SteppingTimestamp::at((self.day + 1) * SECONDS_PER_DAY + self.second);
                    return;
                }
                self.text[11..13].copy_from_slice(&two_digits(self.hour));
            }
            self.text[14..16].copy_from_slice(&two_digits(self.minute));
        }
        self.text[17..19].copy_from_slice(&two_digits(self.second));
    }
}

/// `"00"` to `"99"`, so that a two-digit field is one lookup.
const TWO_DIGITS: [[u8; 2]; 100] = {
    let mut table = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        table[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    table
};

/// `value` (below 100) as two decimal digits, leading zero included.
#[inline]
pub fn two_digits(value: u64) -> [u8; 2] {
    TWO_DIGITS[value as usize]
}

/// Seconds from the Unix epoch to midnight UTC at the start of the given date.
///
/// `const` so that the export's first timestamp is computed at compile time.
pub const fn unix_seconds_at_midnight(year: u64, month: u64, day: u64) -> u64 {
    days_from_civil(year, month, day) * SECONDS_PER_DAY
}

/// Days since 1970-01-01 for a civil date on or after it.
const fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    // January and February belong to the previous shifted year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400; // 0..=399
    let month_from_march = (month + 9) % 12; // March = 0 … February = 11
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - DAYS_FROM_0000_03_01_TO_UNIX_EPOCH
}

/// The civil date (year, month 1..=12, day 1..=31) `days` after 1970-01-01.
const fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let days = days + DAYS_FROM_0000_03_01_TO_UNIX_EPOCH;
    let era = days / DAYS_PER_ERA;
    let day_of_era = days - era * DAYS_PER_ERA; // 0..=146096
    // Undo the leap-day corrections (every 4th, 100th, 400th year): the year of the era.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = (month_from_march + 2) % 12 + 1; // March = 3 … February = 2
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// Writes `value` in decimal, zero-padded to exactly `out.len()` digits.
pub fn write_padded(out: &mut [u8], mut value: u64) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(secs: u64) -> String {
        let mut out = [0u8; RFC3339_LEN];
        UtcDateTime::from_unix_seconds(secs).write_rfc3339(&mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn at(year: u64, month: u64, day: u64, hms: (u64, u64, u64)) -> u64 {
        unix_seconds_at_midnight(year, month, day) + hms.0 * 3600 + hms.1 * 60 + hms.2
    }

    #[test]
    fn unix_epoch_and_known_instants() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        // Known values (`date -u -d @N`).
        assert_eq!(format(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(format(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(unix_seconds_at_midnight(2026, 1, 1), 1_767_225_600);
    }

    fn imf_fixdate(secs: u64) -> String {
        let mut out = [0u8; IMF_FIXDATE_LEN];
        UtcDateTime::from_unix_seconds(secs).write_imf_fixdate(&mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn imf_fixdates_name_the_right_day() {
        // RFC 9110 §5.6.7's own example.
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // Every weekday, across a leap day and a year end (`date -u -R`).
        assert_eq!(
            imf_fixdate(at(2028, 2, 29, (23, 59, 59))),
            "Tue, 29 Feb 2028 23:59:59 GMT"
        );
        let days: Vec<String> = (0..7)
            .map(|i| imf_fixdate(at(2026, 12, 30, (12, 0, 0)) + i * 86_400)[..16].to_string())
            .collect();
        assert_eq!(
            days,
            [
                "Wed, 30 Dec 2026",
                "Thu, 31 Dec 2026",
                "Fri, 01 Jan 2027",
                "Sat, 02 Jan 2027",
                "Sun, 03 Jan 2027",
                "Mon, 04 Jan 2027",
                "Tue, 05 Jan 2027",
            ]
        );
    }

    /// Every month has its own name, the one RFC 9110 §5.6.7 lists for it:
    /// the test above reads four of the twelve, and a table with two names
    /// swapped (`Jun` for `Jul`) would date half a year's responses wrong.
    #[test]
    fn imf_fixdates_name_every_month() {
        let dates: Vec<String> = (1..=12)
            .map(|month| imf_fixdate(at(2026, month, 15, (0, 0, 0)))[..16].to_string())
            .collect();
        // `date -u -d 2026-MM-15 '+%a, %d %b %Y'`.
        assert_eq!(
            dates,
            [
                "Thu, 15 Jan 2026",
                "Sun, 15 Feb 2026",
                "Sun, 15 Mar 2026",
                "Wed, 15 Apr 2026",
                "Fri, 15 May 2026",
                "Mon, 15 Jun 2026",
                "Wed, 15 Jul 2026",
                "Sat, 15 Aug 2026",
                "Tue, 15 Sep 2026",
                "Thu, 15 Oct 2026",
                "Sun, 15 Nov 2026",
                "Tue, 15 Dec 2026",
            ]
        );
    }

    #[test]
    fn leap_days_exist_in_leap_years_only() {
        for (year, leap) in [(2028, true), (2032, true), (2027, false), (2100, false)] {
            let next = format(at(year, 2, 28, (23, 59, 59)) + 1);
            let day = if leap { "02-29" } else { "03-01" };
            let expected = format!("{year}-{day}T00:00:00Z");
            assert_eq!(next, expected, "the day after {year}-02-28");
        }
        assert_eq!(format(at(2028, 2, 29, (0, 0, 14))), "2028-02-29T00:00:14Z");
        assert_eq!(format(at(2032, 2, 29, (12, 0, 0))), "2032-02-29T12:00:00Z");
        let after_leap_day = at(2032, 2, 29, (23, 59, 59)) + 1;
        assert_eq!(format(after_leap_day), "2032-03-01T00:00:00Z");
    }

    #[test]
    fn year_ends_roll_over() {
        for year in [2026, 2027, 2028, 2099, 2100] {
            let last_second = at(year, 12, 31, (23, 59, 59));
            assert_eq!(format(last_second), format!("{year}-12-31T23:59:59Z"));
            let new_year = format!("{}-01-01T00:00:00Z", year + 1);
            assert_eq!(format(last_second + 1), new_year);
        }
    }

    #[test]
    fn a_stepping_timestamp_matches_converting_every_instant() {
        // Steps of 37 s across a year end, and of 59 s (the longest
        // allowed) across the leap day of 2028.
        for (start, step) in [
            (at(2027, 12, 31, (23, 0, 0)), 37),
            (at(2028, 2, 27, (0, 0, 1)), 59),
        ] {
            let mut stepping = SteppingTimestamp::at(start);
            for i in 0..200_000 {
                let secs = start + i * step;
                assert_eq!(stepping.text(), format(secs).as_bytes(), "{secs}");
                stepping.advance(step);
            }
        }
    }

    #[test]
    fn days_round_trip_through_the_civil_date() {
        // Every day from 1970 to past 2150 (covers 400-year-era arithmetic
        // on both sides of 2100, a century year that is not a leap year).
        for days in 0..70_000 {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }
}
