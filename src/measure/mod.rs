//! How the server knows what it is doing, exactly: the memory and the
//! outcomes the lesson is about, counted where they happen.
//!
//! | file                | what                                                      |
//! |---------------------|-----------------------------------------------------------|
//! | [`counting_alloc`]  | the global allocator that counts live heap bytes          |
//! | [`metrics`]         | the process-wide counters and the table of metric families |
//! | [`exposition`]      | the Prometheus text format, written and read back          |
//! | [`proc_status`]     | RSS, threads, open files and memory limits, from `/proc` and the cgroup |
//! | [`proc_net`]        | the kernel's socket queues from `/proc/net/tcp`, TCP memory |
//! | [`end`]             | how a connection ended ([`end::End`]): a leaf every file uses |
//! | [`access_log`]      | one line per connection or HTTP/2 stream answered   |
//! | [`log`]             | the logger thread: stderr behind a bounded queue that drops, never waits; every line's stamp |
//! | [`clock`]           | now as Unix seconds, for every response's `Date` and every log line's stamp |
//!
//! Three kinds of memory, because each answers a different question: the
//! per-response queued bytes (counted by `strategy/queued_bytes.rs` into
//! [`metrics`]) are the lesson, the live heap is exact and proves nothing
//! leaked, and RSS is what the kernel charges and the OOM killer sees, but
//! noisy. The kernel's socket buffers are none of these: `proc_net` reads
//! them from outside.
//!
//! This folder imports only `export/` (the mode names, the calendar) and
//! `http/` (status codes, HTTP/2's error codes, the decimal parser):
//! everything that serves can report here, and nothing here serves.

pub mod access_log;
pub mod clock;
pub mod counting_alloc;
pub mod end;
pub mod exposition;
pub mod log;
pub mod metrics;
pub mod proc_net;
pub mod proc_status;
