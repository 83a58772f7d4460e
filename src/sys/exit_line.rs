//! The one line an exit at once leaves on stderr, and the signals whose
//! death it announces. A signal handler builds it, so it is built on the
//! stack, with no allocation, no lock and no panic; `sys.rs` writes it.

use super::noted::LineStart;

/// Most bytes of an exit's line, its stamp included (stdin's close, the
/// longest, takes 143), on the stack of whatever the signal interrupted.
const EXIT_LINE_BYTES: usize = 256;

/// The signals whose default action ends the process (`signal(7)`), but
/// the shutdown's three and SIGXFSZ, by their Linux numbers on x86_64 and
/// aarch64 (`<asm/signal.h>`, the same on both): each is caught, so that every
/// response is reset before the death it asks for. Not SIGKILL, which no
/// process can catch; not SIGSEGV nor SIGBUS, whose handlers are std's (a
/// stack overflow, which it reports and turns into an abort); not SIGTRAP,
/// a debugger's; not the real-time signals, the lowest of which the C
/// library keeps for itself (glibc 32 and 33, musl up to 34).
#[rustfmt::skip]
pub const FATAL: [(i32, &str); 14] = [
    (3, "SIGQUIT"), (4, "SIGILL"), (6, "SIGABRT"), (8, "SIGFPE"), (10, "SIGUSR1"),
    (12, "SIGUSR2"), (14, "SIGALRM"), (16, "SIGSTKFLT"), (24, "SIGXCPU"),
    (26, "SIGVTALRM"), (27, "SIGPROF"), (29, "SIGIO"), (30, "SIGPWR"), (31, "SIGSYS"),
];

/// An exit's line: what a [`LineStart`] writes (the log's stamp), then its
/// parts in turn, cut at [`EXIT_LINE_BYTES`].
pub struct ExitLine {
    /// The line, on the stack: a handler may not allocate.
    bytes: [u8; EXIT_LINE_BYTES],
    /// How many of `bytes` it takes.
    len: usize,
}

impl ExitLine {
    pub fn new(start: LineStart, parts: &[&[u8]]) -> ExitLine {
        let mut bytes = [0; EXIT_LINE_BYTES];
        let mut len = start(&mut bytes).min(EXIT_LINE_BYTES);
        for part in parts {
            let end = EXIT_LINE_BYTES.min(len + part.len());
            bytes[len..end].copy_from_slice(&part[..end - len]);
            len = end;
        }
        ExitLine { bytes, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The line of a death by `signal`: an abort's, or one that names it.
pub fn fatal(start: LineStart, signal: i32) -> ExitLine {
    const CUT: &[u8] = b"every response still being written is cut with a reset\n";
    match FATAL.iter().find(|(number, _)| *number == signal) {
        Some((_, name)) if *name != "SIGABRT" => ExitLine::new(
            start,
            &[b"backpressure: ", name.as_bytes(), b": dying of it; ", CUT],
        ),
        _ => ExitLine::new(start, &[b"backpressure: aborting: ", CUT]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(out: &mut [u8]) -> usize {
        out[..3].copy_from_slice(b"T: ");
        3
    }

    #[test]
    fn a_death_names_its_signal_and_an_abort_says_aborting() {
        let said = |signal| String::from_utf8_lossy(fatal(stamp, signal).as_bytes()).into_owned();
        let cut = "every response still being written is cut with a reset\n";
        assert_eq!(
            said(10),
            format!("T: backpressure: SIGUSR1: dying of it; {cut}")
        );
        assert_eq!(
            said(24),
            format!("T: backpressure: SIGXCPU: dying of it; {cut}")
        );
        assert_eq!(said(6), format!("T: backpressure: aborting: {cut}"));
        // A signal without a handler of this file never comes here; were it
        // to, the line is still one, and true of the resets.
        assert_eq!(said(9), format!("T: backpressure: aborting: {cut}"));
    }

    /// Each death's line names its own signal, by the numbers `signal(7)`
    /// gives them on x86_64 and aarch64, written out here apart from
    /// [`FATAL`], so that a name or number changed there fails: an operator
    /// reading SIGALRM looks for a timer, SIGXCPU for a CPU limit.
    #[test]
    fn every_death_names_its_own_signal() {
        #[rustfmt::skip]
        let names = [
            (3, "SIGQUIT"), (4, "SIGILL"), (8, "SIGFPE"), (10, "SIGUSR1"), (12, "SIGUSR2"),
            (14, "SIGALRM"), (16, "SIGSTKFLT"), (24, "SIGXCPU"), (26, "SIGVTALRM"),
            (27, "SIGPROF"), (29, "SIGIO"), (30, "SIGPWR"), (31, "SIGSYS"),
        ];
        for (signal, name) in names {
            let line = fatal(stamp, signal);
            let said = String::from_utf8_lossy(line.as_bytes());
            let expected = format!("T: backpressure: {name}: dying of it; ");
            assert!(said.starts_with(&expected), "{signal}: {said}");
        }
    }

    #[test]
    fn a_line_too_long_is_cut_at_the_buffer() {
        let long = [b'x'; 300];
        let line = ExitLine::new(stamp, &[&long, b"never"]);
        assert_eq!(line.as_bytes().len(), EXIT_LINE_BYTES);
        assert!(line.as_bytes().starts_with(b"T: xxx"));
        let overlong = |out: &mut [u8]| out.len() + 10;
        assert_eq!(
            ExitLine::new(overlong, &[b"more"]).as_bytes().len(),
            EXIT_LINE_BYTES
        );
    }
}
