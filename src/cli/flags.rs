//! A command's flags as a table: one row per flag drives both the parsing
//! and the `--help` text, so a flag cannot be parsed one way and documented
//! another, and its default is read from the configuration's own `Default`.
//!
//! Conventions a user can rely on: `--flag value` and `--flag=value` both
//! work; `-h`/`--help` prints help and exits 0 wherever it stands, unless a
//! flag before it was already wrong (flags are read in order, and `-h` as
//! a flag's value is that value); a bad flag or value is one line naming
//! it, and so is a flag given twice. Value syntax: sizes are bytes with an optional
//! `k`, `m` or `g` suffix (KiB, MiB, GiB), durations a number with `ms`,
//! `s` or `m`.

use std::time::Duration;

use super::UsageError;

/// One flag of a command.
pub struct Flag<C> {
    /// As typed: `--chunk-bytes`.
    pub name: &'static str,
    /// What follows it in the help (`SIZE`, `DUR`, `N` …); empty for a switch,
    /// which takes no value.
    pub value: &'static str,
    /// One line for `--help`.
    pub help: &'static str,
    /// The default as a user would type it, from `C::default()`; empty
    /// shows none.
    pub default: fn(&C) -> String,
    /// Stores the value (`""` for a switch). The error says what was
    /// expected, as in "expected a size in bytes, such as 16k"; the parser
    /// adds the flag's name and what was given.
    pub set: Setter<C>,
}

/// Stores one value into a configuration; the error says what was wrong.
pub type Setter<C> = fn(&mut C, &str) -> Result<(), String>;

/// A command's whole command line.
pub struct Spec<C: 'static> {
    /// The command's name, for "unknown flag '--x' for serve".
    pub command: &'static str,
    /// The usage line, after `Usage: `.
    pub usage: &'static str,
    /// What the command does, printed under the usage line.
    pub about: &'static str,
    /// Every flag, in the order `--help` lists them.
    pub flags: &'static [Flag<C>],
    /// What a bare argument is (`slow-client`'s URL), if the command takes one.
    pub positional: Option<Setter<C>>,
    /// Checks and completes the whole configuration once every flag is in;
    /// its error is shown as it is.
    pub finish: fn(&mut C) -> Result<(), String>,
    /// Printed after the flags.
    pub footer: &'static str,
}

/// What a command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<C> {
    /// Run with this configuration.
    Run(C),
    /// `--help`: print this text and exit 0.
    Help(String),
}

/// Parses the arguments after the command's name against `spec`. An error
/// points at the command's own `--help`, which lists its flags.
pub fn parse<C: Default>(
    spec: &Spec<C>,
    args: impl IntoIterator<Item = String>,
) -> Result<Parsed<C>, UsageError> {
    parse_flags(spec, args).map_err(|UsageError(line)| {
        UsageError(format!(
            "{line} (see 'backpressure {} --help')",
            spec.command
        ))
    })
}

fn parse_flags<C: Default>(
    spec: &Spec<C>,
    args: impl IntoIterator<Item = String>,
) -> Result<Parsed<C>, UsageError> {
    let mut config = C::default();
    let mut args = args.into_iter();
    // A command has a handful of flags; a list is all this needs.
    let mut given: Vec<&str> = Vec::new();
    while let Some(arg) = args.next() {
        let (name, inline_value) = split_flag(arg);
        if matches!(name.as_str(), "-h" | "--help") {
            // A switch like any other: `--help=yes` is refused as
            // `--quiet=yes` is.
            if inline_value.is_some() {
                return Err(UsageError(format!("{name} takes no value")));
            }
            return Ok(Parsed::Help(help(spec)));
        }
        let flag = spec.flags.iter().find(|flag| flag.name == name);
        let Some(flag) = flag else {
            match spec.positional {
                Some(set) if !name.starts_with('-') => {
                    set(&mut config, &name).map_err(UsageError)?;
                    continue;
                }
                // A word that is no flag is not "an unknown flag": say
                // what it is, for a command that takes no such word.
                None if !name.starts_with('-') => {
                    let command = spec.command;
                    let line = format!(
                        "unexpected argument '{name}' for {command}, which takes only flags"
                    );
                    return Err(UsageError(line));
                }
                _ => {
                    let command = spec.command;
                    return Err(UsageError(format!("unknown flag '{name}' for {command}")));
                }
            }
        };
        // Twice is a mistake or a conflict (a script's default and a
        // user's override): taking the last would hide it.
        if given.contains(&flag.name) {
            return Err(UsageError(format!("{name} is given twice")));
        }
        given.push(flag.name);
        let value = match (flag.value.is_empty(), inline_value) {
            (true, None) => String::new(),
            (true, Some(_)) => return Err(UsageError(format!("{name} takes no value"))),
            (false, Some(value)) => value,
            (false, None) => args
                .next()
                .ok_or_else(|| UsageError(format!("{name} needs a value")))?,
        };
        (flag.set)(&mut config, &value)
            .map_err(|what| UsageError(format!("{name}: {what}, got '{value}'")))?;
    }
    (spec.finish)(&mut config).map_err(UsageError)?;
    Ok(Parsed::Run(config))
}

/// How a `SIZE` or a `DUR` is written ([`size`], [`duration`]): said under
/// the flags of every command that takes one.
const UNITS: &str = "SIZE is bytes with an optional k, m or g suffix (KiB, MiB, GiB); DUR is a number with ms, s or m.\n";

/// The `--help` text of `spec`: usage, what it does, one line per flag with
/// its default, how sizes and durations are written if a flag takes one,
/// and the footer.
pub fn help<C: Default>(spec: &Spec<C>) -> String {
    let defaults = C::default();
    let spelled = |flag: &Flag<C>| {
        if flag.value.is_empty() {
            flag.name.to_string()
        } else {
            format!("{} {}", flag.name, flag.value)
        }
    };
    let widths = spec.flags.iter().map(|flag| spelled(flag).len());
    let width = widths.fold("-h, --help".len(), usize::max) + 2;
    let mut text = format!("Usage: {}\n\n{}\n\nFlags:\n", spec.usage, spec.about);
    for flag in spec.flags {
        let default = (flag.default)(&defaults);
        let default = if default.is_empty() {
            String::new()
        } else {
            format!(" [default: {default}]")
        };
        let line = format!("    {:<width$}{}{default}\n", spelled(flag), flag.help);
        text.push_str(&line);
    }
    text.push_str(&format!("    {:<width$}print this help\n", "-h, --help"));
    if spec.flags.iter().any(|f| matches!(f.value, "SIZE" | "DUR")) {
        text.push('\n');
        text.push_str(UNITS);
    }
    if !spec.footer.is_empty() {
        text.push('\n');
        text.push_str(spec.footer);
    }
    text
}

/// Parses a command line written as one string, split at spaces: the
/// configuration, `None` for `--help`, or the error's line without its
/// pointer to `--help`.
#[cfg(test)]
pub fn parse_line<C: Default>(spec: &Spec<C>, line: &str) -> Result<Option<C>, String> {
    match parse_flags(spec, line.split_whitespace().map(str::to_string)) {
        Ok(Parsed::Run(config)) => Ok(Some(config)),
        Ok(Parsed::Help(_)) => Ok(None),
        Err(UsageError(line)) => Err(line),
    }
}

/// Whether `spec` has a flag spelled `name` (`--quick`), and if so,
/// whether it takes a value (`--rate 1k`) or is a switch.
pub fn takes_value<C>(spec: &Spec<C>, name: &str) -> Option<bool> {
    let flag = spec.flags.iter().find(|flag| flag.name == name)?;
    Some(!flag.value.is_empty())
}

/// A default that is not shown in `--help`.
pub fn no_default<C>(_: &C) -> String {
    String::new()
}

/// Splits `--flag=value` into the flag and its value; any other argument
/// (`--flag`, `-h`, a URL) comes back whole, without one.
fn split_flag(arg: String) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => {
            (flag.to_string(), Some(value.to_string()))
        }
        _ => (arg, None),
    }
}

/// Why a value was refused, before each parser words it.
enum Refused {
    /// Not in the value's syntax: the parser says what it expected.
    Malformed,
    /// All digits, but the value does not fit 64 bits. No flag's bound
    /// comes near it, and "expected a number" would send its user looking
    /// for a typo that is not there.
    TooLarge,
}

/// What [`Refused::TooLarge`] says.
const TOO_LARGE: &str = "a value too large for 64 bits";

/// The reason for `refused`, `expected` naming the value's syntax.
fn reason(refused: Refused, expected: &str) -> String {
    match refused {
        Refused::Malformed => expected.to_string(),
        Refused::TooLarge => TOO_LARGE.to_string(),
    }
}

/// Plain decimal digits as a number.
fn digits(text: &str) -> Result<u64, Refused> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refused::Malformed);
    }
    text.parse().map_err(|_| Refused::TooLarge)
}

/// `N`: plain decimal digits (no sign, no separators).
pub fn number(text: &str) -> Result<u64, String> {
    digits(text).map_err(|r| reason(r, "expected a whole number"))
}

/// `N`, for a count kept in a `usize` (saturated: the bounds check follows).
pub fn count(text: &str) -> Result<usize, String> {
    number(text).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Bytes with an optional `k` (KiB), `m` (MiB) or `g` (GiB) suffix.
fn bytes(text: &str) -> Result<u64, Refused> {
    let (text, unit) = match text.as_bytes().last() {
        Some(b'k' | b'K') => (&text[..text.len() - 1], 1 << 10),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 1 << 20),
        Some(b'g' | b'G') => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits(text)?.checked_mul(unit).ok_or(Refused::TooLarge)
}

/// `SIZE`: bytes with an optional `k` (KiB), `m` (MiB) or `g` (GiB) suffix.
pub fn size(text: &str) -> Result<u64, String> {
    bytes(text).map_err(|r| reason(r, "expected a size in bytes, such as 16k or 512m"))
}

/// A rate in bytes per second, with the suffixes of a `SIZE`; never 0.
pub fn rate(text: &str) -> Result<u64, String> {
    let expected = "expected bytes per second above 0, such as 200k";
    match bytes(text) {
        Ok(0) => Err(expected.to_string()),
        Ok(rate) => Ok(rate),
        Err(r) => Err(reason(r, expected)),
    }
}

/// `DUR`: a number with `ms`, `s` or `m`. A bare number is refused,
/// because nobody can guess whether it meant seconds or milliseconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let in_unit = |text: &str, unit: fn(u64) -> Option<Duration>| {
        unit(digits(text)?).ok_or(Refused::TooLarge)
    };
    // `ms` before `m`, which it ends with too.
    let parsed = if let Some(ms) = text.strip_suffix("ms") {
        in_unit(ms, |ms| Some(Duration::from_millis(ms)))
    } else if let Some(s) = text.strip_suffix('s') {
        in_unit(s, |s| Some(Duration::from_secs(s)))
    } else if let Some(m) = text.strip_suffix('m') {
        in_unit(m, |m| m.checked_mul(60).map(Duration::from_secs))
    } else {
        Err(Refused::Malformed)
    };
    parsed.map_err(|r| reason(r, "expected a duration, such as 500ms or 10s"))
}

/// A switch's setter: turns `flag` on.
pub fn on(flag: &mut bool) -> Result<(), String> {
    *flag = true;
    Ok(())
}

/// `16384` → `16k`: a size as a user would type it.
pub fn format_size(bytes: u64) -> String {
    match bytes {
        b if b > 0 && b % (1024 * 1024 * 1024) == 0 => format!("{}g", b >> 30),
        b if b > 0 && b % (1024 * 1024) == 0 => format!("{}m", b / (1024 * 1024)),
        b if b > 0 && b % 1024 == 0 => format!("{}k", b / 1024),
        b => b.to_string(),
    }
}

/// `5 s` → `5s`, `1.5 s` → `1500ms`: a duration as a user would type it.
pub fn format_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::serve::SERVE;
    use crate::cli::slow_client::SLOW_CLIENT;

    #[test]
    fn every_mistake_is_one_line_naming_it() {
        for (args, line) in [
            ("--chunk-bytes", "--chunk-bytes needs a value"),
            (
                "--chunk-bytes=big",
                "--chunk-bytes: expected a size in bytes, such as 16k or 512m, got 'big'",
            ),
            ("--quiet=yes", "--quiet takes no value"),
            ("--help=yes", "--help takes no value"),
            ("--loud", "unknown flag '--loud' for serve"),
            // Only a long flag takes its value after `=`.
            ("-h=yes", "unknown flag '-h=yes' for serve"),
            (
                "--quiet x",
                "unexpected argument 'x' for serve, which takes only flags",
            ),
            (
                "--chunk-bytes 16k --quiet --chunk-bytes=64k",
                "--chunk-bytes is given twice",
            ),
            ("--quiet --quiet", "--quiet is given twice"),
            ("--chunk-bytes 0", "--chunk-bytes must be from 1 to 16m"),
        ] {
            assert_eq!(parse_line(&SERVE, args), Err(line.into()), "{args}");
        }
        let error = parse(&SERVE, ["--loud".to_string()]);
        let line = "unknown flag '--loud' for serve (see 'backpressure serve --help')";
        assert_eq!(error, Err(UsageError(line.into())));
        assert_eq!(
            parse_line(&SLOW_CLIENT, "http://a/ http://b/"),
            Err("slow-client takes one URL, got a second: 'http://b/'".into())
        );
        for http2_only in ["--then-after 1s", "--window 65535", "--then /healthz"] {
            assert_eq!(
                parse_line(&SLOW_CLIENT, &format!("http://a/ {http2_only}")),
                Err("--window, --then and --then-after are for --http2".into()),
                "{http2_only}"
            );
        }
        let error = parse_line(&SERVE, "--chunk-bytes big -h").unwrap_err();
        assert!(error.contains("--chunk-bytes"));
        let help = parse_line(&SERVE, "--quiet -h");
        assert_eq!(help, Ok(None), "flags are read in order");
    }

    /// `--flag=value` splits at the first `=`: a value may hold more, as
    /// a query string does, and is kept whole.
    #[test]
    fn a_value_after_equals_may_hold_another() {
        let line = "http://h/ --http2 --then=/export.csv?rows=1&mode=buffer";
        let then = parse_line(&SLOW_CLIENT, line).map(|a| a.and_then(|a| a.then));
        assert_eq!(then, Ok(Some("/export.csv?rows=1&mode=buffer".into())));
    }

    #[test]
    fn help_aligns_every_flag_and_its_default() {
        let text = help(&SLOW_CLIENT);
        assert!(text.starts_with("Usage: backpressure slow-client URL"));
        let rate = "\n\nFlags:\n    --rate SIZE            bytes per second on the wire (head and framing \
                    included), k = KiB, m = MiB [default: 200k]\n";
        assert!(text.contains(rate), "{text}");
        // Then how a SIZE and a DUR are written, as the flags take them,
        // then the footer.
        let help_line = "\n    -h, --help             print this help\n\n";
        let after = format!("{help_line}{UNITS}\nExamples:\n");
        assert!(text.contains(&after), "{text}");
        let text = help(&SERVE);
        let quiet = "\n    --quiet                    no access log on stderr\n";
        assert!(text.contains(quiet), "{text}");
    }

    #[test]
    fn value_syntax() {
        for (text, bytes) in [
            ("4096", 4096),
            ("16k", 16 << 10),
            ("1m", 1 << 20),
            ("1g", 1 << 30),
            // The suffixes in either case: `64K` is what many people type.
            ("16K", 16 << 10),
            ("1M", 1 << 20),
            ("1G", 1 << 30),
        ] {
            assert_eq!(size(text), Ok(bytes), "{text}");
        }
        // Past u64 once multiplied: no size, not the largest one.
        for bad in ["k", "1t", "99999999999999999999m", "17179869184g", "-1", ""] {
            assert!(size(bad).is_err(), "{bad}");
        }
        assert!(rate("0").is_err() && rate("1").is_ok());
        // `N` is plain digits: Rust's own parser would take a `+` sign.
        for bad in ["+5", "1_000", "1,000", " 5", ""] {
            assert!(number(bad).is_err(), "{bad}");
        }
        assert!(size("+16k").is_err() && duration("+5s").is_err());
        for (text, ms) in [("500ms", 500), ("5s", 5000), ("2m", 120_000)] {
            assert_eq!(duration(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        // Minutes past u64's seconds: no duration, not the longest one.
        for bad in ["5", "1.5s", "ms", "2h", "307445734561825861m"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            duration("18446744073709551615s"),
            Ok(Duration::from_secs(u64::MAX))
        );
        // All digits, past 64 bits: said so, not taken for a typo.
        let too_large = Err("a value too large for 64 bits".to_string());
        assert_eq!(number("18446744073709551616"), too_large);
        assert_eq!(size("18446744073709551616"), too_large);
        assert_eq!(size("99999999999g"), too_large);
        assert_eq!(rate("99999999999g"), too_large);
        let too_long = Err("a value too large for 64 bits".to_string());
        assert_eq!(duration("18446744073709551616ms"), too_long);
        assert_eq!(duration("307445734561825861m"), too_long);
        assert_eq!(number("1x"), Err("expected a whole number".to_string()));
        assert!(size("1x").is_err_and(|e| e.starts_with("expected a size")));
        assert!(rate("0").is_err_and(|e| e.starts_with("expected bytes per second")));
        assert!(duration("1xs").is_err_and(|e| e.starts_with("expected a duration")));
        assert_eq!(format_size(16 * 1024), "16k");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_duration(Duration::from_secs(60)), "60s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
