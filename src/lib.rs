//! # backpressure
//!
//! A streamed HTTP response is done when its bytes drain, not when the
//! handler returns. This crate is a small, blocking, std-only HTTP/1.1
//! server that streams a CSV export four ways and measures, exactly, what
//! each way costs in memory when the client reads slower than the server
//! writes.
//!
//! ## The lesson in brief
//!
//! A server can make rows far faster than a phone on a weak network can
//! download them. The difference has to wait somewhere. Between the client
//! and our producer there is a chain of flow-control windows:
//!
//! ```text
//! client reads slowly → its TCP receive window shrinks → our kernel send buffer
//! stops draining → write() blocks → the bounded channel fills → send() blocks
//! → the producer stops
//! ```
//!
//! Every link passes the slowdown back to the one before it, and memory stays
//! flat. Break the chain in userland (an unbounded queue, or a buffer of the
//! whole body) and the difference lands in the one place with no flow
//! control: the heap. The four strategies in [`strategy`] are the four ways
//! to get this right or wrong, and [`queued_bytes`] is the number that tells
//! them apart.
//!
//! ## Reading order
//!
//! 1. [`csv_rows`]: the producer's source, a `Read` that renders rows without
//!    allocating (with [`timestamp`] for its calendar math).
//! 2. [`strategy`]: the four body strategies, one file each:
//!    [`strategy::buffer`], [`strategy::unbounded`], [`strategy::bounded`],
//!    [`strategy::pipeline`].
//! 3. [`body_writer`]: chunked framing, and where "sent" is counted.
//! 4. [`queued_bytes`], [`metrics`], [`counting_alloc`], [`proc_status`]:
//!    how the memory is measured.
//! 5. [`connection`], [`request`], [`query`], [`response`]: one connection
//!    from accept to close, with the head's deadline and size limits.
//! 6. [`server`] and [`cli`]: the accept loop and the command line.
//! 7. The defenses: [`send_deadline`] (the send timeout and the minimum
//!    data rate), [`rejecter`] (the 503 at the connection cap),
//!    [`buffer_budget`] (caps on what responses may queue) and
//!    [`access_log`] (how each connection ended).
//! 8. [`slow_client`] (with [`token_bucket`] and [`chunked_decoder`]): the
//!    phone of the lesson, a client that reads at a limited rate and says
//!    how the body ended.
//! 9. [`demo`] (with [`proc_net`]): the lesson's table measured, every link
//!    of the flow-control chain sampled from `/proc` and `/metrics`.

pub mod access_log;
pub mod body_writer;
pub mod buffer_budget;
pub mod chunked_decoder;
pub mod cli;
pub mod connection;
pub mod counting_alloc;
pub mod csv_rows;
pub mod demo;
pub mod metrics;
pub mod proc_net;
pub mod proc_status;
pub mod query;
pub mod queued_bytes;
pub mod rejecter;
pub mod request;
pub mod response;
pub mod send_deadline;
pub mod server;
pub mod slow_client;
pub mod strategy;
pub mod timestamp;
pub mod token_bucket;
