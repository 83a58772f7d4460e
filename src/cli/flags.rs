//! A command's flags as a table: one row per flag drives both the parsing
//! and the `--help` text, so a flag cannot be parsed one way and documented
//! another, and its default is read from the configuration's own `Default`.
//!
//! Conventions a user can rely on: `--flag value` and `--flag=value` both
//! work; `-h`/`--help` anywhere prints help and exits 0; a bad flag or value
//! is one line naming it. Value syntax: sizes are bytes with an optional
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

/// Parses the arguments after the command's name against `spec`.
pub fn parse<C: Default>(
    spec: &Spec<C>,
    args: impl IntoIterator<Item = String>,
) -> Result<Parsed<C>, UsageError> {
    let mut config = C::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline_value) = split_flag(arg);
        if matches!(name.as_str(), "-h" | "--help") {
            return Ok(Parsed::Help(help(spec)));
        }
        let flag = spec.flags.iter().find(|flag| flag.name == name);
        let Some(flag) = flag else {
            match spec.positional {
                Some(set) if !name.starts_with('-') => {
                    set(&mut config, &name).map_err(UsageError)?;
                    continue;
                }
                _ => {
                    let command = spec.command;
                    return Err(UsageError(format!("unknown flag '{name}' for {command}")));
                }
            }
        };
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

/// The `--help` text of `spec`: usage, what it does, one line per flag with
/// its default, and the footer.
pub fn help<C: Default>(spec: &Spec<C>) -> String {
    let defaults = C::default();
    let spelled = |flag: &Flag<C>| {
        if flag.value.is_empty() {
            flag.name.to_string()
        } else {
            format!("{} {}", flag.name, flag.value)
        }
    };
    let width = spec
        .flags
        .iter()
        .map(|flag| spelled(flag).len())
        .chain(["-h, --help".len()])
        .max()
        .unwrap_or(0)
        + 2;
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
    if !spec.footer.is_empty() {
        text.push('\n');
        text.push_str(spec.footer);
    }
    text
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

/// `N`: plain decimal digits (no sign, no separators).
pub fn number(text: &str) -> Result<u64, String> {
    parse_number(text).ok_or_else(|| "expected a whole number".to_string())
}

/// `N`, for a count kept in a `usize` (saturated: the bounds check follows).
pub fn count(text: &str) -> Result<usize, String> {
    number(text).map(saturate)
}

/// `SIZE`: bytes with an optional `k`, `m` or `g` suffix.
pub fn size(text: &str) -> Result<u64, String> {
    parse_size(text).ok_or_else(|| "expected a size in bytes, such as 16k or 512m".to_string())
}

/// A rate in bytes per second, with the suffixes of a `SIZE`; never 0.
pub fn rate(text: &str) -> Result<u64, String> {
    parse_size(text)
        .filter(|&rate| rate > 0)
        .ok_or_else(|| "expected bytes per second above 0, such as 200k".to_string())
}

/// `DUR`: a number with `ms`, `s` or `m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| "expected a duration, such as 500ms or 10s".to_string())
}

/// A switch's setter: turns `flag` on.
pub fn on(flag: &mut bool) -> Result<(), String> {
    *flag = true;
    Ok(())
}

/// A `u64` as a `usize`, the largest one if it does not fit.
pub fn saturate(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Plain decimal digits (no sign, no separators).
pub fn parse_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Bytes, with an optional `k` (KiB), `m` (MiB) or `g` (GiB) suffix:
/// `4096`, `16k`, `1m`, `1g`.
pub fn parse_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 1024),
        b'm' | b'M' => (&text[..text.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&text[..text.len() - 1], 1024 * 1024 * 1024),
        _ => (text, 1),
    };
    parse_number(digits)?.checked_mul(unit)
}

/// A number with a unit: `500ms`, `5s`, `2m`. A bare number is refused,
/// because nobody can guess whether it meant seconds or milliseconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return parse_number(ms).map(Duration::from_millis);
    }
    if let Some(s) = text.strip_suffix('s') {
        return parse_number(s).map(Duration::from_secs);
    }
    let minutes = parse_number(text.strip_suffix('m')?)?;
    Some(Duration::from_secs(minutes.checked_mul(60)?))
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

    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    struct Toy {
        size: u64,
        loud: bool,
        name: Option<String>,
    }

    const TOY: Spec<Toy> = Spec {
        command: "toy",
        usage: "toy [FLAGS] NAME",
        about: "A toy.",
        flags: &[
            Flag {
                name: "--size",
                value: "SIZE",
                help: "how big",
                default: |t| format_size(t.size),
                set: |t, v| {
                    t.size = parse_size(v).ok_or("expected a size")?;
                    Ok(())
                },
            },
            Flag {
                name: "--loud",
                value: "",
                help: "shout",
                default: no_default,
                set: |t, _| {
                    t.loud = true;
                    Ok(())
                },
            },
        ],
        positional: Some(|t, v| match t.name {
            Some(_) => Err(format!("one name only, got a second: '{v}'")),
            None => {
                t.name = Some(v.to_string());
                Ok(())
            }
        }),
        finish: |t| match t.name {
            Some(_) => Ok(()),
            None => Err("toy needs a name".to_string()),
        },
        footer: "",
    };

    fn run(args: &[&str]) -> Result<Parsed<Toy>, UsageError> {
        parse(&TOY, args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn both_spellings_switches_and_a_positional() {
        let expected = Toy {
            size: 2048,
            loud: true,
            name: Some("x".into()),
        };
        for args in [
            &["--size", "2k", "--loud", "x"][..],
            &["x", "--size=2k", "--loud"],
        ] {
            assert_eq!(run(args), Ok(Parsed::Run(expected.clone())));
        }
    }

    #[test]
    fn every_mistake_is_one_line_naming_it() {
        for (args, error) in [
            (&["--size"][..], "--size needs a value"),
            (
                &["--size", "big", "x"],
                "--size: expected a size, got 'big'",
            ),
            (&["--loud=yes", "x"], "--loud takes no value"),
            (&["--quiet", "x"], "unknown flag '--quiet' for toy"),
            (&["x", "y"], "one name only, got a second: 'y'"),
            (&[], "toy needs a name"),
        ] {
            let got = run(args).unwrap_err();
            assert_eq!(got.0, error, "{args:?}");
        }
        assert!(
            run(&["--size", "big", "-h"]).is_err(),
            "flags are read in order"
        );
        assert!(matches!(run(&["--loud", "-h"]), Ok(Parsed::Help(_))));
    }

    #[test]
    fn help_lists_every_flag_with_its_default() {
        let text = help(&TOY);
        assert!(text.starts_with("Usage: toy [FLAGS] NAME\n\nA toy.\n\nFlags:\n"));
        assert!(
            text.contains("    --size SIZE  how big [default: 0]\n"),
            "{text}"
        );
        assert!(text.contains("    --loud       shout\n"), "{text}");
        assert!(
            text.contains("    -h, --help   print this help\n"),
            "{text}"
        );
    }

    #[test]
    fn value_syntax() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("16k"), Some(16 * 1024));
        assert_eq!(parse_size("1m"), Some(1024 * 1024));
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("1t"), None);
        assert_eq!(parse_size("99999999999999999999m"), None);
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(format_size(16 * 1024), "16k");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_duration(Duration::from_secs(60)), "60s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
