//! The Prometheus text format (version 0.0.4), both ways: written by the
//! server for `GET /metrics`, and read back by whoever watches it (the
//! demo, the tests, the benchmarks).
//!
//! The format is lines: `# HELP name text`, `# TYPE name gauge|counter`,
//! then one `name{label="value",…} number` per series. This crate writes no
//! timestamps, and escapes only the help (its label values are fixed
//! words), so reading it back is splitting each sample line at its last
//! space.

use std::fmt::Write as _;

/// Most bytes of exposition text a reader accepts. The server's is about
/// 12 KiB; a reader that took anything would buffer without a bound.
pub const MAX_EXPOSITION_BYTES: usize = 256 * 1024;

/// Room the server's text is written into, made once per scrape: above its
/// 12 KiB or so, so that it does not grow mid-scrape. Not a bound: the
/// families and their label sets are fixed, so the text is as well.
const EXPOSITION_ROOM_BYTES: usize = 16 * 1024;

/// A text exposition being written, one family after another.
pub struct Exposition {
    /// The text so far.
    text: String,
    /// The family whose samples are being written, prefixed to each.
    family: &'static str,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition {
            text: String::with_capacity(EXPOSITION_ROOM_BYTES),
            family: "",
        }
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines. The help is
    /// escaped as the format asks (`\\` and `\n`), so no text ends its line
    /// early and leaves the rest to be misread as a sample.
    pub fn family(&mut self, name: &'static str, kind: &str, help: &str) {
        self.family = name;
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        // Writing into a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample of the current family; `labels` without braces, empty for
    /// none.
    pub fn sample(&mut self, labels: &str, value: u64) {
        let name = self.family;
        let _ = if labels.is_empty() {
            writeln!(self.text, "{name} {value}")
        } else {
            writeln!(self.text, "{name}{{{labels}}} {value}")
        };
    }

    /// A sample the platform may not provide: left out rather than faked.
    pub fn optional_sample(&mut self, labels: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.sample(labels, value);
        }
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.text
    }
}

/// One scrape, read back: each series exactly as written (`name{labels}`)
/// with its value, so a reader names a series the way the server prints it.
#[derive(Clone, Debug)]
pub struct Scrape {
    /// `(series, value)` in the order they came.
    samples: Vec<(String, f64)>,
}

impl Scrape {
    /// Parses exposition text. Comment and blank lines are skipped; a sample
    /// line without a number (quoted), a series given twice (named), or more
    /// text than `MAX_EXPOSITION_BYTES` is an error.
    pub fn parse(text: &str) -> Result<Scrape, String> {
        if text.len() > MAX_EXPOSITION_BYTES {
            return Err(format!(
                "{} bytes of metrics, more than {MAX_EXPOSITION_BYTES}",
                text.len()
            ));
        }
        let mut samples: Vec<(String, f64)> = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .and_then(|(series, value)| Some((series.trim_end(), value.parse().ok()?)))
                .ok_or_else(|| format!("not a sample line: {line:?}"))?;
            if samples.iter().any(|(s, _)| s == series) {
                return Err(format!("series {series} appears twice"));
            }
            samples.push((series.to_string(), value));
        }
        Ok(Scrape { samples })
    }

    /// The value of a series such as
    /// `backpressure_queued_bytes{mode="bounded"}`, labels in the server's
    /// order.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|(s, _)| s == series)
            .map(|&(_, v)| v)
    }

    /// Like [`Scrape::get`], for counters and gauges that are whole numbers.
    pub fn count(&self, series: &str) -> Option<u64> {
        self.get(series)
            .filter(|v| *v >= 0.0 && v.fract() == 0.0)
            .map(|v| v as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_text_reads_back() {
        let mut out = Exposition::new();
        out.family("a_bytes", "gauge", "Bytes of a.");
        out.sample("", 5);
        out.family("b_total", "counter", "Bs.");
        out.sample("mode=\"bounded\"", 98_304);
        out.optional_sample("mode=\"pipeline\"", None);
        let text = out.finish();
        assert_eq!(
            text,
            "# HELP a_bytes Bytes of a.\n# TYPE a_bytes gauge\na_bytes 5\n\
             # HELP b_total Bs.\n# TYPE b_total counter\nb_total{mode=\"bounded\"} 98304\n"
        );
        let scrape = Scrape::parse(&text).unwrap();
        assert_eq!(scrape.count("a_bytes"), Some(5));
        assert_eq!(scrape.count("b_total{mode=\"bounded\"}"), Some(98_304));
        assert_eq!(scrape.get("b_total"), None, "a series is named exactly");
        assert_eq!(scrape.get("b_total{mode=\"pipeline\"}"), None);
    }

    /// The format gives `# HELP` text two escapes, `\\` and `\n`: a help
    /// that held a newline raw would end its line, and the rest would
    /// read as a sample line that does not parse, failing the whole
    /// scrape.
    #[test]
    fn help_text_is_escaped() {
        let mut out = Exposition::new();
        out.family("a_bytes", "gauge", "C:\\dir\nsecond line");
        out.sample("", 1);
        assert_eq!(
            out.finish(),
            "# HELP a_bytes C:\\\\dir\\nsecond line\n# TYPE a_bytes gauge\na_bytes 1\n"
        );
    }

    #[test]
    fn malformed_text_is_an_error() {
        for bad in ["a_bytes", "a_bytes x", "a 1\na 2", "a_bytes 1.5.0"] {
            assert!(Scrape::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Scrape::parse(&"#".repeat(MAX_EXPOSITION_BYTES + 1)).is_err());
        assert_eq!(Scrape::parse("a 1.5").unwrap().count("a"), None);
    }

    /// The reader takes exactly [`MAX_EXPOSITION_BYTES`], not one byte
    /// less: the limit is the most accepted.
    #[test]
    fn text_of_exactly_the_limit_is_read() {
        let text = format!("a 1\n{}", "#".repeat(MAX_EXPOSITION_BYTES - 4));
        assert_eq!(text.len(), MAX_EXPOSITION_BYTES);
        assert_eq!(Scrape::parse(&text).unwrap().count("a"), Some(1));
    }

    /// The text format separates tokens by any run of blanks, and a line
    /// may be indented: the series is named without the blanks around it.
    #[test]
    fn blanks_around_a_series_are_not_its_name() {
        let scrape = Scrape::parse("a  3\n  b{l=\"x\"} 4 \n").unwrap();
        assert_eq!(scrape.count("a"), Some(3));
        assert_eq!(scrape.count("b{l=\"x\"}"), Some(4));
    }

    /// A count is read however large: `process_max_fds` is `u64::MAX`
    /// when the limit is `unlimited`, and a byte counter passes 2^53 long
    /// before it wraps.
    #[test]
    fn a_count_as_large_as_u64_is_read() {
        let scrape = Scrape::parse("a 18446744073709551615\nb 1000000000000000\n").unwrap();
        assert_eq!(scrape.count("a"), Some(u64::MAX));
        assert_eq!(scrape.count("b"), Some(1_000_000_000_000_000));
    }

    /// A counter or gauge read as a whole number is one: a negative value
    /// is none, not 0; and a series is split from its value at the last
    /// space, so a label value may hold one.
    #[test]
    fn counts_are_whole_and_series_split_at_the_last_space() {
        assert_eq!(Scrape::parse("a -1").unwrap().count("a"), None);
        let scrape = Scrape::parse("a{l=\"x y\"} 3").unwrap();
        assert_eq!(scrape.count("a{l=\"x y\"}"), Some(3));
    }
}
