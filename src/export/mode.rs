//! Which of the four strategies moves an export's bytes: the `?mode=` of a
//! request and the `mode` label of every per-mode metric.
//!
//! It is a name, not the strategy itself (that is [`crate::strategy`]):
//! everything that counts, logs or parses per mode needs the name, and none
//! of it should have to know how a body is sent.
//!
//! A new variant is a new `?mode=`: the compiler stops at every `match` on
//! `Mode` that must answer for it (here, and in `strategy/mod.rs`), and
//! [`Mode::ALL`] stops the build until the variant is listed, which is what
//! makes it parse, get its metrics and run in the demo. What no compiler
//! sees is listed in `strategy/mod.rs`, under "Adding a strategy".

/// A body strategy, as named in `?mode=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The whole body in memory, then `Content-Length`.
    Buffer,
    /// Producer thread → `mpsc::channel` → writer: the bug, kept on purpose.
    Unbounded,
    /// Producer thread → `mpsc::sync_channel(depth)` → writer.
    Bounded,
    /// One buffer of rows rendered, then written, in turn on one thread.
    Pipeline,
}

impl Mode {
    /// Every mode, in the order of the lesson's table and of declaration
    /// (`index` counts on it). A mode missing here parses from no `?mode=`,
    /// has no metrics, and its counters would index past their arrays.
    pub const ALL: [Mode; 4] = {
        // Exhaustive on purpose: a new variant stops the build here, next
        // to the list it must join; nothing else would notice its absence.
        match Mode::Buffer {
            Mode::Buffer | Mode::Unbounded | Mode::Bounded | Mode::Pipeline => {}
        }
        [Mode::Buffer, Mode::Unbounded, Mode::Bounded, Mode::Pipeline]
    };

    /// Position in [`Mode::ALL`], for counters kept per mode.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in `?mode=` and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Buffer => "buffer",
            Mode::Unbounded => "unbounded",
            Mode::Bounded => "bounded",
            Mode::Pipeline => "pipeline",
        }
    }

    /// Every mode's name, in order, the last after `last`: "buffer,
    /// unbounded, bounded or pipeline" for "or". For the messages that
    /// list the modes, which then name a new one without being told.
    pub fn names(last: &str) -> String {
        let names = Mode::ALL.map(Mode::as_str);
        match names.split_last() {
            Some((final_name, [])) => final_name.to_string(),
            Some((final_name, rest)) => format!("{} {last} {final_name}", rest.join(", ")),
            None => String::new(),
        }
    }

    /// The mode named `name` exactly (case matters, as in any URL query).
    pub fn from_name(name: &[u8]) -> Option<Mode> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.as_str().as_bytes() == name)
    }

    /// Whether this mode's queue is bounded by construction (`bounded`,
    /// `pipeline`), so it needs no buffering cap (`server/routes.rs`); a
    /// mode that is not is charged to `--max-buffered-bytes` and
    /// `--max-buffered-total`. A `match`, so that a new mode must answer.
    pub fn is_flat(self) -> bool {
        match self {
            Mode::Bounded | Mode::Pipeline => true,
            Mode::Buffer | Mode::Unbounded => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_round_trip() {
        for mode in Mode::ALL {
            assert_eq!(Mode::from_name(mode.as_str().as_bytes()), Some(mode));
            assert_eq!(Mode::ALL[mode.index()], mode);
        }
        assert_eq!(Mode::from_name(b"Bounded"), None);
        assert_eq!(Mode::from_name(b""), None);
        let listed = Mode::names("or");
        assert!(listed.starts_with("buffer, unbounded, "), "{listed}");
        assert!(Mode::ALL.iter().all(|mode| listed.contains(mode.as_str())));
        assert_eq!(listed.matches(" or ").count(), 1, "{listed}");
    }
}
