//! The command line of a benchmark that is a program of its own
//! (`harness = false` without criterion): its words name strategies, and
//! everything else on it belongs to someone else.
//!
//! `cargo bench -- ARGS` hands the same ARGS to every benchmark, so
//! `cargo bench -- --save-baseline before` reaches these programs too, and
//! cargo adds `--bench` itself. A program that took `before` for a strategy
//! would stop the whole run; one that ignored every word would let a
//! mistyped strategy measure nothing and exit 0. So flags, and the values
//! of the flags known to take one, are skipped, and any other word must be
//! a strategy the program knows. This file uses nothing of the crate, so
//! that `tests/bench_args.rs` can check it on its own.

/// criterion's (0.8) and libtest's flags that take the next argument as
/// their value, as in `--save-baseline before`; written `--flag=value`, the
/// value is part of the flag. Every other flag (`--bench`, `--quick`,
/// `--noplot`, ...) stands alone.
const FLAGS_WITH_A_VALUE: [&str; 22] = [
    // criterion
    "-c",
    "--color",
    "--colour",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--format",
    "--profile-time",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
    // libtest, which `cargo bench -- ARGS` reaches in other crates
    "--skip",
    "--test-threads",
];

/// The exit code of a command line that cannot be run, as clap's (and so
/// criterion's) is.
pub const USAGE_ERROR: u8 = 2;

/// The words of `args` (without the program's name) that are neither a
/// flag nor a flag's value. The value of a flag not in
/// [`FLAGS_WITH_A_VALUE`] counts as a word, and so is refused, not
/// silently taken for something else.
pub fn words(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut words = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if !arg.starts_with('-') {
            words.push(arg);
        } else if FLAGS_WITH_A_VALUE.contains(&arg.as_str()) {
            // Its value, whatever it looks like; a flag last on the line
            // has none, and criterion's own programs say so.
            args.next();
        }
    }
    words
}

/// The strategies the words of `args` name, each one of `known`; none
/// named means all. An unknown word is an error of one line: measuring
/// nothing and exiting 0 would look like success.
pub fn strategies(
    args: impl IntoIterator<Item = String>,
    known: &[&str],
) -> Result<Vec<String>, String> {
    let words = words(args);
    match words.iter().find(|word| !known.contains(&word.as_str())) {
        Some(unknown) => Err(format!(
            "{unknown:?} is not a strategy: {}",
            known.join(", ")
        )),
        None => Ok(words),
    }
}

/// The on-off knob `name` (such as `TRADEOFF_QUICK`) from its value,
/// `None` if it is unset: `1` is on; unset, empty or `0` is off. Anything
/// else is an error, not on: `false` taken for on would run another
/// benchmark than the one asked for, and look fine.
pub fn switch(name: &str, value: Option<&str>) -> Result<bool, String> {
    let Some(text) = value else {
        return Ok(false);
    };
    match text.trim() {
        "" | "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(format!("{name}={text:?}: not 1 (on) or 0 (off)")),
    }
}

/// What a program does with a knob it cannot read (an environment variable
/// such as `TRADEOFF_ROWS=abc`): `NAME: message` on stderr, and the exit
/// code for a usage error, 2, as for an unknown word; 1 is left to what
/// could not be measured.
pub fn usage_error(name: &str, message: &str) -> std::process::ExitCode {
    eprintln!("{name}: {message}");
    std::process::ExitCode::from(USAGE_ERROR)
}

/// The strategies named on this program's command line, as [`strategies`];
/// `Err` is the exit code to return at once: for an unknown word, printed
/// on stderr as `NAME: message`, a usage error, 2; after `--list`, 0.
pub fn strategies_from_command_line(
    name: &str,
    known: &[&str],
) -> Result<Vec<String>, std::process::ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(list) = listing(&args, name, known) {
        print!("{list}");
        return Err(std::process::ExitCode::SUCCESS);
    }
    strategies(args, known).map_err(|e| usage_error(name, &e))
}

/// What `--list` prints, if `args` asks for it: `cargo bench -- --list`
/// asks it of every benchmark, to see what each would run, not to run it
/// (a run of `tradeoff` takes an hour and rewrites `docs/`). One line per
/// strategy, as criterion and libtest list theirs.
pub fn listing(args: &[String], name: &str, known: &[&str]) -> Option<String> {
    args.iter().any(|arg| arg == "--list").then(|| {
        known
            .iter()
            .map(|strategy| format!("{name}/{strategy}: benchmark\n"))
            .collect()
    })
}

/// Whether `args` asks criterion's test mode (`cargo bench -- --test`):
/// each benchmark run once, to see that it runs, its figures not kept.
pub fn test_mode(args: impl IntoIterator<Item = String>) -> bool {
    args.into_iter().any(|arg| arg == "--test")
}

/// Whether strategy `name` is to be measured: `filters` names it, or names
/// none, which means all.
pub fn wanted(filters: &[String], name: &str) -> bool {
    filters.is_empty() || filters.iter().any(|f| f == name)
}
