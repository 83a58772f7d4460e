//! The verdict column of the demo's table, computed from what was measured.
//!
//! The lesson's table says `bounded` and `pipeline` are flat, `buffer` grows
//! with the body and `unbounded` grows without bound. The demo derives those
//! words instead of printing them, from the peak userland queue of one
//! connection (`backpressure_queued_peak_bytes` over the clients served:
//! with several, the peak of their sum shared out, an average that one of
//! them may have exceeded) and the body's length, by this rule:
//!
//! 1. **flat** if the peak stayed under [`flat_bound`], max(1 MiB, 1 % of
//!    the body): room for a few chunks, which never grow with the body, so
//!    memory does not depend on the client;
//! 2. **grows with the body** if the peak reached the whole body: O(body)
//!    per connection;
//! 3. **unbounded** otherwise: far past the flat bound, tracking what the
//!    producer made minus what the client took, until the body's end.
//!
//! The last two differ in what decides them. `buffer`'s peak is the body
//! whatever the client does; `unbounded`'s is the body less what the
//! client had read when the producer finished, so it depends on the
//! client: one that read nothing at all would have it judged as growing
//! with the body, and one a few bytes in, unbounded.
//!
//! A strategy whose every client was refused up front (a body over a
//! buffering cap) queued nothing because it never ran: it is **not
//! measured**, never flat.
//!
//! A body no longer than the flat bound cannot tell the strategies apart
//! (everything fits), which is why the demo's slow export is 385 MB.

use std::fmt;

/// The smallest flat bound: 1 MiB. The correct strategies hold at most
/// (depth + 2) × chunk = 144 KiB (`bounded`, defaults) or one 48 KiB chunk
/// (`pipeline`), so a MiB leaves a factor of seven for larger chunks while
/// staying far below any body worth streaming.
pub const FLAT_FLOOR_BYTES: u64 = 1024 * 1024;

/// The flat bound is also 1 % of the body, so that on a body over 100 MiB
/// a few MiB of fixed-size buffers still count as flat.
pub const FLAT_BODY_DIVISOR: u64 = 100;

/// What a strategy's memory did under a slow client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Bounded by a small constant, whatever the body and the client.
    Flat,
    /// Held the whole body at once: O(body).
    GrowsWithBody,
    /// Grew past any constant bound, limited only by the body's end.
    Unbounded,
    /// No client was served (every one refused up front, by a buffering
    /// cap): nothing was measured, so nothing can be judged.
    NotServed,
}

/// The words in the table.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Flat => "flat",
            Verdict::GrowsWithBody => "grows with the body",
            Verdict::Unbounded => "unbounded",
            Verdict::NotServed => "not measured: refused",
        })
    }
}

/// The most a flat strategy may queue for a body of `body_len` bytes:
/// max([`FLAT_FLOOR_BYTES`], body / [`FLAT_BODY_DIVISOR`]).
pub fn flat_bound(body_len: u64) -> u64 {
    FLAT_FLOOR_BYTES.max(body_len / FLAT_BODY_DIVISOR)
}

/// The rule of the module docs, applied to one measurement.
pub fn verdict(peak_queued_bytes: u64, body_len: u64) -> Verdict {
    if peak_queued_bytes < flat_bound(body_len) {
        Verdict::Flat
    } else if peak_queued_bytes >= body_len {
        Verdict::GrowsWithBody
    } else {
        Verdict::Unbounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;
    /// The default export: 7 000 000 rows.
    const BODY: u64 = 384_861_933;

    #[test]
    fn the_lesson_s_measurements() {
        // The peaks the README's demo table shows: (1 + 2) × 48 KiB, one
        // 48 KiB pipeline buffer, the whole body, and 99 % of it.
        assert_eq!(verdict(147_456, BODY), Verdict::Flat);
        assert_eq!(verdict(49_152, BODY), Verdict::Flat);
        assert_eq!(verdict(BODY, BODY), Verdict::GrowsWithBody);
        assert_eq!(verdict(BODY / 100 * 99, BODY), Verdict::Unbounded);
    }

    #[test]
    fn the_flat_bound_and_its_edges() {
        assert_eq!(flat_bound(0), MIB);
        assert_eq!(flat_bound(100 * MIB), MIB);
        assert_eq!(flat_bound(BODY), BODY / 100);
        let bound = flat_bound(BODY);
        assert_eq!(verdict(bound - 1, BODY), Verdict::Flat);
        assert_eq!(verdict(bound, BODY), Verdict::Unbounded);
        assert_eq!(verdict(0, BODY), Verdict::Flat);
    }

    #[test]
    fn the_whole_body_is_the_edge_of_growing_with_it() {
        let body = 16 * MIB;
        assert_eq!(verdict(body - 1, body), Verdict::Unbounded);
        assert_eq!(verdict(body, body), Verdict::GrowsWithBody);
        // Framing never counts, but if a server over-reported, it is still O(body).
        assert_eq!(verdict(body + 1, body), Verdict::GrowsWithBody);
    }

    #[test]
    fn a_body_smaller_than_the_bound_is_always_flat() {
        // Everything fits under the bound: the strategies cannot be told apart.
        assert_eq!(verdict(1000, 1000), Verdict::Flat);
        assert_eq!(verdict(MIB - 1, MIB - 1), Verdict::Flat);
        assert_eq!(verdict(MIB, MIB), Verdict::GrowsWithBody);
    }

    /// The words are the table's verdict column, which the README's table
    /// and a reader compare with the lesson: each is pinned, since a test
    /// of the table that only checks "flat" would let the others drift.
    #[test]
    fn each_verdict_reads_as_the_lesson_words_it() {
        for (verdict, words) in [
            (Verdict::Flat, "flat"),
            (Verdict::GrowsWithBody, "grows with the body"),
            (Verdict::Unbounded, "unbounded"),
            (Verdict::NotServed, "not measured: refused"),
        ] {
            assert_eq!(verdict.to_string(), words);
        }
    }
}
