//! Quantities as a person reads them: sizes in B, KiB, MiB or GiB, counts
//! in groups of three digits, durations in ms or s, and rates in MB/s.
//! Every size, count, duration and rate the demo prints goes through here,
//! so that a table and the sentence under it round the same way; but the
//! HTTP/2 part prints its seconds itself (`http2.rs`), its latencies to two
//! decimals (in ms below a tenth) in its table and in the sentences
//! comparing them alike.

/// Bytes as a person reads them: `512 B`, `96.0 KiB`, `369.2 MiB`. The
/// unit is the one the figure, as rounded, stays under 1024 in: a few
/// bytes short of 1 GiB is `1.00 GiB`, not `1024.0 MiB`.
pub fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    // Under 1024 once rounded to one decimal.
    let under = |units: f64| (units * 10.0).round() < KIB * 10.0;
    match bytes as f64 {
        b if b < KIB => format!("{bytes} B"),
        b if under(b / KIB) => format!("{:.1} KiB", b / KIB),
        b if under(b / (KIB * KIB)) => format!("{:.1} MiB", b / (KIB * KIB)),
        b => format!("{:.2} GiB", b / (KIB * KIB * KIB)),
    }
}

/// A count as a person reads it, its digits in groups of three: `65,535`,
/// `16,777,216`; the exact figure, where a size would round it.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A duration as a person reads it: `250 ms` below a second, else seconds
/// with at most two decimals (`1 s`, `1.5 s`, `1.25 s`). Below a
/// millisecond it keeps what was measured (`0.4 ms`, `40 µs`, `400 ns`):
/// only a zero duration prints as `0 ms`, since a wait shown as zero
/// reads as no wait at all.
pub fn duration(duration: std::time::Duration) -> String {
    // Rounded, as sizes are: 999 µs is "1.0 ms", 1.5 ms "2 ms".
    let millis = (duration.as_micros() + 500) / 1000;
    match duration.as_micros() {
        0 if duration.is_zero() => return "0 ms".to_string(),
        0 => return format!("{} ns", duration.as_nanos()),
        micros @ 1..100 => return format!("{micros} µs"),
        micros @ 100..1000 => return format!("{:.1} ms", micros as f64 / 1000.0),
        _ if millis < 1000 => return format!("{millis} ms"),
        _ => {}
    }
    let seconds = format!("{:.2}", duration.as_secs_f64());
    format!("{} s", seconds.trim_end_matches('0').trim_end_matches('.'))
}

/// `n` of a thing, the noun in the plural but for one: `1 row`, `7000000
/// rows`. The digits as given, as the flags take them.
pub fn counted(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// A rate in MB/s (10^6 bytes a second, as disks and networks are rated),
/// as a person reads it: whole from 10 MB/s (`2679`), one decimal below
/// (`5.5`, `0.3`), and `<0.1` for a rate that would round to zero: "0"
/// MB/s beside a download that read bytes (87 in 2 ms) reads as nothing.
pub fn mb_per_s(bytes_per_second: f64) -> String {
    let mb = bytes_per_second / 1e6;
    let tenths = (mb * 10.0).round();
    match tenths {
        t if t >= 100.0 => format!("{mb:.0}"),
        t if t >= 1.0 => format!("{mb:.1}"),
        _ if mb > 0.0 => "<0.1".to_string(),
        _ => "0".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_noun_is_plural_but_for_one() {
        assert_eq!(counted(1, "row"), "1 row");
        assert_eq!(counted(0, "row"), "0 rows");
        assert_eq!(counted(7_000_000, "row"), "7000000 rows");
    }

    #[test]
    fn counts() {
        for (n, said) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (65_535, "65,535"),
            (100_000, "100,000"),
            (16_777_216, "16,777,216"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(count(n), said);
        }
    }

    #[test]
    fn rates() {
        assert_eq!(mb_per_s(2_679_195_000.0), "2679");
        assert_eq!(mb_per_s(10e6), "10");
        // 9.96 rounds to 10.0 in tenths: whole, as 10 is.
        assert_eq!(mb_per_s(9.96e6), "10");
        assert_eq!(mb_per_s(9.94e6), "9.9");
        assert_eq!(mb_per_s(300_000.0), "0.3");
        assert_eq!(mb_per_s(50_000.0), "0.1");
        assert_eq!(mb_per_s(43_500.0), "<0.1");
        // However small: a client limited to a few bytes a second read some.
        assert_eq!(mb_per_s(5_000.0), "<0.1");
        assert_eq!(mb_per_s(1.0), "<0.1");
        assert_eq!(mb_per_s(0.0), "0");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(98_304), "96.0 KiB");
        assert_eq!(size(384_861_933), "367.0 MiB");
        assert_eq!(size(3 << 30), "3.00 GiB");
        // The unit follows the figure as printed: a budget's peak a few
        // KiB short of 1 GiB is "1.00 GiB", not "1024.0 MiB" beside a
        // "1.00 GiB" growth.
        assert_eq!(size((1 << 30) - 4096), "1.00 GiB");
        assert_eq!(size((1 << 20) - 1), "1.0 MiB");
        assert_eq!(size((1 << 20) - 52 * 1024), "972.0 KiB");
        assert_eq!(size((1 << 30) - (52 << 20)), "972.0 MiB");
        // MiB up to 1024 of them: 1010 MiB is not "0.99 GiB".
        assert_eq!(size(1010 << 20), "1010.0 MiB");
    }

    /// A time that is not zero is never printed as one: a stream answered
    /// in 0.4 ms (stream 3 beside a starved stream 1) reads `0.4 ms`, not
    /// "0.000 s", which reads as no time at all.
    #[test]
    fn a_time_under_a_millisecond_is_not_zero() {
        use std::time::Duration;
        assert_eq!(duration(Duration::from_micros(400)), "0.4 ms");
        assert_eq!(duration(Duration::from_micros(999)), "1.0 ms");
        assert_eq!(duration(Duration::from_micros(100)), "0.1 ms");
        // Thousandths of a second, not 1024ths: 560 µs is 0.56 ms, not 0.547.
        assert_eq!(duration(Duration::from_micros(560)), "0.6 ms");
        assert_eq!(duration(Duration::from_micros(960)), "1.0 ms");
        assert_eq!(duration(Duration::from_micros(40)), "40 µs");
        assert_eq!(duration(Duration::from_nanos(400)), "400 ns");
        assert_eq!(duration(Duration::ZERO), "0 ms");
        // Whole milliseconds round as the tenths below them do.
        assert_eq!(duration(Duration::from_micros(1500)), "2 ms");
        assert_eq!(duration(Duration::from_micros(1499)), "1 ms");
        assert_eq!(duration(Duration::from_micros(999_499)), "999 ms");
        assert_eq!(duration(Duration::from_micros(999_500)), "1 s");
    }
}
