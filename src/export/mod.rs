//! The export: what is sent, before any question of how.
//!
//! [`csv_rows`] is the producer's source, a deterministic CSV rendered on
//! demand without allocating (its timestamps come from [`calendar`]); it
//! stands in for a database cursor that makes rows far faster than a phone
//! can download them. [`Mode`] (`mode.rs`) names the four ways a request can
//! ask for those bytes to be moved to the socket.
//!
//! This folder imports nothing else of the crate: every layer above it
//! (the HTTP wire format, the measurements, the strategies, the server)
//! may use it.

pub mod calendar;
pub mod csv_rows;
mod mode;

pub use mode::Mode;
