//! The command line: `backpressure [demo|serve|slow-client] [--flag value]…`.
//!
//! | file              | what                                                   |
//! |-------------------|--------------------------------------------------------|
//! | `mod.rs`          | the commands, their dispatch, the exit codes           |
//! | [`flags`]         | a command's flags as one table: parsing and `--help`   |
//! | `serve.rs`        | `serve`'s flags, and starting the server               |
//! | `demo.rs`         | `demo`'s flags                                         |
//! | `slow_client.rs`  | `slow-client`'s flags, and a download with progress    |
//!
//! Exit codes mean something: 0 success, [`EXIT_FAILURE`] a runtime failure
//! (an address in use, a cut download), [`EXIT_USAGE`] a bad command line,
//! the code shells and `getopt`-style tools use for "you called me wrong".
//! A bad flag or value prints one line on stderr naming it.
//!
//! This is the top of the crate: the only folder that imports `demo/`, and
//! with `demo/` the only one that imports `client/`.

mod demo;
pub mod flags;
mod serve;
mod slow_client;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use flags::Parsed;

/// Exit code for a runtime failure, such as an address already in use.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a bad command line.
pub const EXIT_USAGE: u8 = 2;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    /// Run the export server.
    Serve(crate::server::ServerConfig),
    /// Measure the four strategies (the default command).
    Demo(crate::demo::config::DemoConfig),
    /// Download a URL at a limited rate.
    SlowClient(slow_client::SlowClientArgs),
    /// Print this text to stdout and exit 0.
    Help(String),
    /// Print the version and exit 0.
    Version,
}

/// A command line that cannot be run; its text is one line for stderr,
/// ending with the `--help` that lists what is allowed.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl UsageError {
    /// An error before any command was known: the top-level help lists
    /// the commands.
    fn top_level(line: String) -> UsageError {
        UsageError(format!("{line} (see 'backpressure --help')"))
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs the command line `args` (after the program's name): the whole of
/// `main`.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    match parse(args) {
        Ok(Command::Serve(config)) => serve::run(config),
        Ok(Command::Demo(config)) => match crate::demo::run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                // Errors are one line. On a terminal a progress line may
                // stand unfinished (it is rewritten in place with `\r`):
                // clear it rather than add an empty line under it.
                if io::stderr().is_terminal() {
                    let _ = write!(io::stderr(), "\r\x1b[K");
                }
                say(&format!("backpressure demo: {error}"));
                ExitCode::from(EXIT_FAILURE)
            }
        },
        Ok(Command::SlowClient(args)) => slow_client::run(&args),
        Ok(Command::Help(text)) => print(&text),
        Ok(Command::Version) => print(&format!("backpressure {}\n", env!("CARGO_PKG_VERSION"))),
        Err(error) => {
            say(&format!("backpressure: {error}"));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// One line on stderr. A stderr that cannot be written (its reader gone)
/// is no reason to panic, so the error is dropped.
pub fn say(line: &str) {
    let _ = writeln!(io::stderr(), "{}", one_line(line));
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`). Errors
/// quote what the user typed, and an argument can hold a newline or a
/// terminal escape: echoed raw, it would split the one line a script
/// reads, or reach the terminal as a command.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

/// Text for stdout; exit 0, or 1 if it could not be written, said on
/// stderr (a full disk, say: `--help > /dev/full`), except to a reader
/// that has gone (`| head -1`), which asked for no more.
fn print(text: &str) -> ExitCode {
    let written = io::stdout().write_all(text.as_bytes());
    let written = written.and_then(|()| io::stdout().flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.kind() != io::ErrorKind::BrokenPipe {
                say(&format!("backpressure: cannot write to stdout: {e}"));
            }
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Parses the arguments after the program name.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    let args = args
        .into_iter()
        .map(|arg| {
            arg.into_string().map_err(|arg| {
                UsageError::top_level(format!("argument {arg:?} is not valid UTF-8"))
            })
        })
        .collect::<Result<Vec<String>, _>>()?;
    let mut args = args.into_iter();
    let command = args.next();
    Ok(match command.as_deref() {
        // No command: the demo with defaults (the main job of this binary).
        None => Command::Demo(Default::default()),
        Some("serve") => match flags::parse(&serve::SERVE, args)? {
            Parsed::Run(config) => Command::Serve(config),
            Parsed::Help(text) => Command::Help(text),
        },
        Some("demo") => match flags::parse(&demo::DEMO, args)? {
            Parsed::Run(demo) => Command::Demo(demo.config),
            Parsed::Help(text) => Command::Help(text),
        },
        Some("slow-client") => match flags::parse(&slow_client::SLOW_CLIENT, args)? {
            Parsed::Run(args) => Command::SlowClient(args),
            Parsed::Help(text) => Command::Help(text),
        },
        // `help serve` is git's spelling of `serve --help`.
        Some("-h" | "--help" | "help") => match (args.next(), args.next()) {
            (None, _) => Command::Help(main_help()),
            (Some(command), None) => match command.as_str() {
                "serve" => Command::Help(flags::help(&serve::SERVE)),
                "demo" => Command::Help(flags::help(&demo::DEMO)),
                "slow-client" => Command::Help(flags::help(&slow_client::SLOW_CLIENT)),
                other => {
                    let line = format!("no help for '{other}': it is not a command");
                    return Err(UsageError::top_level(line));
                }
            },
            (Some(_), Some(extra)) => {
                let line = format!("help takes one command, got a second: '{extra}'");
                return Err(UsageError::top_level(line));
            }
        },
        // Anything after `--version` was meant for something: ignoring it
        // would hide the mistake.
        Some("-V" | "--version") => match args.next() {
            None => Command::Version,
            Some(extra) => {
                let line = format!("--version takes no arguments, got '{extra}'");
                return Err(UsageError::top_level(line));
            }
        },
        Some(flag) if flag.starts_with('-') => {
            return Err(UsageError::top_level(misplaced_flag(flag)));
        }
        Some(other) => return Err(UsageError::top_level(format!("unknown command '{other}'"))),
    })
}

/// The line for a flag typed before any command. It names the command
/// that has the flag (`--quick` is the demo's, `--rate` slow-client's),
/// and a switch without the value it was given: a hint that named another
/// command, or kept `--quick=1`, would only earn a second refusal.
fn misplaced_flag(flag: &str) -> String {
    let name = flag.split_once('=').map_or(flag, |(name, _)| name);
    if matches!(name, "-h" | "--help" | "-V" | "--version") {
        return format!("{name} takes no value");
    }
    let commands = [
        ("serve", flags::takes_value(&serve::SERVE, name)),
        ("demo", flags::takes_value(&demo::DEMO, name)),
        (
            "slow-client",
            flags::takes_value(&slow_client::SLOW_CLIENT, name),
        ),
    ];
    match commands
        .iter()
        .find_map(|(command, has)| Some((command, (*has)?)))
    {
        Some((command, takes_value)) => {
            let example = if takes_value { flag } else { name };
            format!(
                "unknown flag '{flag}': flags follow a command, as in 'backpressure {command} {example}'"
            )
        }
        None => format!("unknown flag '{flag}': flags follow a command, and no command has it"),
    }
}

fn main_help() -> String {
    format!(
        "backpressure {version}: a streamed HTTP response is done when its bytes drain,\n\
         not when the handler returns. A CSV export server that measures why.\n\
         \n\
         Usage:\n\
         \x20   backpressure [demo [FLAGS]]           measure the four strategies (the default command)\n\
         \x20   backpressure serve [FLAGS]            run the export server\n\
         \x20   backpressure slow-client URL [FLAGS]  download at a phone's rate\n\
         \x20   backpressure serve --help             the server's flags and their defaults\n\
         \x20                                         (likewise demo --help, slow-client --help,\n\
         \x20                                         or help serve, help demo, help slow-client)\n\
         \x20   backpressure --version\n\
         \n\
         Exit codes: 0 success, {EXIT_FAILURE} runtime failure (e.g. address in use), {EXIT_USAGE} bad command line.\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which command runs; what each prints and exits with is tested
    /// through the binary (`tests/cli.rs`).
    #[test]
    fn each_command_line_runs_its_command() {
        let parse_args = |args: &[&str]| parse(args.iter().map(OsString::from));
        assert_eq!(parse_args(&[]), Ok(Command::Demo(Default::default())));
        let demo = parse_args(&["demo", "--quick"]);
        assert!(matches!(demo, Ok(Command::Demo(_))));
        assert!(matches!(parse_args(&["serve"]), Ok(Command::Serve(_))));
        let client = parse_args(&["slow-client", "http://127.0.0.1:1/"]);
        assert!(matches!(client, Ok(Command::SlowClient(_))));
        for help in [
            &["demo", "-h"][..],
            &["serve", "--help"],
            &["help"],
            &["-h"],
        ] {
            assert!(matches!(parse_args(help), Ok(Command::Help(_))), "{help:?}");
        }
        assert_eq!(parse_args(&["-V"]), Ok(Command::Version));
    }

    /// `help CMD` is that command's help, and words the top level does not
    /// take are refused rather than ignored.
    #[test]
    fn help_and_version_take_only_what_they_mean() {
        let parse_args = |args: &[&str]| parse(args.iter().map(OsString::from));
        let serve_help = Ok(Command::Help(flags::help(&serve::SERVE)));
        assert_eq!(parse_args(&["help", "serve"]), serve_help);
        assert_eq!(parse_args(&["--help", "serve"]), serve_help);
        let demo_help = Ok(Command::Help(flags::help(&demo::DEMO)));
        assert_eq!(parse_args(&["help", "demo"]), demo_help);
        for wrong in [
            &["--version", "junk"][..],
            &["-V", "--help"],
            &["help", "junk"],
            &["help", "serve", "demo"],
        ] {
            assert!(parse_args(wrong).is_err(), "{wrong:?}");
        }
    }

    /// A flag before any command is refused with a hint that names the
    /// command that has it, and a switch without the value it was given
    /// (kept, `--quick=1` would be refused again); `--help` and
    /// `--version`, which every command line has, are told they take none.
    #[test]
    fn a_misplaced_flags_hint_would_be_taken() {
        for (flag, line) in [
            ("--quick", "as in 'backpressure demo --quick'"),
            ("--quick=1", "as in 'backpressure demo --quick'"),
            ("--rate=1k", "as in 'backpressure slow-client --rate=1k'"),
            ("--max-rows", "as in 'backpressure serve --max-rows'"),
            ("--nope", "and no command has it"),
            ("--help=x", "--help takes no value"),
            ("--version=1", "--version takes no value"),
        ] {
            let error = parse([flag].iter().map(OsString::from)).unwrap_err();
            let said = format!("{error:?}");
            assert!(said.contains(line), "{flag}: {said}");
        }
    }

    /// A user reading one command's `--help` learns what its exit codes
    /// mean there, without the top-level help: a script around `serve`
    /// must tell a bad flag (2) from a port in use (1). Both are
    /// checked against the constants the commands exit with.
    #[test]
    fn every_commands_help_states_its_exit_codes() {
        // Each with the words its help gives the runtime failure.
        let helps = [
            ("top level", main_help(), "{} runtime failure"),
            ("serve", flags::help(&serve::SERVE), "{} if it cannot serve"),
            ("demo", flags::help(&demo::DEMO), "and exits {};"),
            (
                "slow-client",
                flags::help(&slow_client::SLOW_CLIENT),
                "{} if it was cut",
            ),
        ];
        for (command, text, failure) in helps {
            let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let failure = failure.replace("{}", &EXIT_FAILURE.to_string());
            assert!(
                flat.contains(&failure),
                "{command}: exit code {EXIT_FAILURE} not stated: {text}"
            );
            let said = [
                format!("{EXIT_USAGE} bad command line"),
                format!("{EXIT_USAGE} for a bad command line"),
                format!("bad command line exits {EXIT_USAGE}"),
            ];
            assert!(
                said.iter().any(|words| flat.contains(words.as_str())),
                "{command}: exit code {EXIT_USAGE} not stated: {text}"
            );
        }
    }
}
