//! Limits and timeouts against slow and hostile clients: part of the
//! design, not a later hardening pass.
//!
//! Backpressure makes a slow client block our writes; these make sure a
//! *too* slow or too greedy one cannot hold the server's threads, sockets
//! and memory for as long as it likes.
//!
//! | file               | the defense                                                  |
//! |--------------------|--------------------------------------------------------------|
//! | [`head_deadline`]  | the request head within a deadline from accept, and a size cap |
//! | [`send_deadline`]  | the send timeout, and a minimum data rate partial writes cannot dodge |
//! | [`too_slow`]       | the minimum rate's arithmetic, and which rule cut a write    |
//! | [`connection_cap`] | a 503 past `--max-connections` (head only for HEAD), without a thread and without a reset; `/metrics` still answered |
//! | [`turned_away`]    | one socket past the cap: waits for its head, is answered, drained until it closes (1 s at most) |
//! | [`cap_answer`]     | what a connection past the cap gets: the 503, a GOAWAY, or `/metrics` |
//! | [`buffer_caps`]    | caps on what one response, and all of them, may queue in userland |
//!
//! Each limit is a named constant whose doc names the setting of a
//! production server it follows: most in `server/config.rs`, with a flag;
//! the head limits in `http/request.rs`, without one.

pub mod buffer_caps;
pub mod cap_answer;
pub mod connection_cap;
pub mod head_deadline;
pub mod send_deadline;
pub mod too_slow;
pub mod turned_away;

use std::io::{self, ErrorKind};

/// Whether `error` is a socket's read or write timeout firing: `WouldBlock`
/// on Unix, `TimedOut` on Windows.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
