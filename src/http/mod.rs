//! The HTTP wire format, as bytes: HTTP/1.1's request heads in, response
//! heads and chunked bodies out, and a chunked body read back by the client;
//! and HTTP/2's frames and header compression, in a folder of their own.
//!
//! | file          | what                                                      |
//! |---------------|-----------------------------------------------------------|
//! | [`request`]   | the strict request-head parser and the head's limits      |
//! | [`partial_head`] | a head still arriving: its first bytes, its end, too large |
//! | [`target`]    | the request target's forms, its path and query; hosts     |
//! | [`query`]     | `?rows=&mode=`, percent-decoded and validated              |
//! | [`response`]  | status codes, framing, response heads, small responses    |
//! | [`chunked`]   | the chunk encoder and a streaming chunked decoder          |
//! | [`escape`]    | a peer's bytes made safe to print, as `\xHH`               |
//! | [`h2`]        | HTTP/2: frames, HPACK and its Huffman code, requests       |
//!
//! Nothing here touches a socket, a thread or a clock: it parses and
//! formats bytes, and writes to any `io::Write`. Reading a head from a
//! client within a deadline is a defense (`defense/head_deadline.rs`); how
//! a body is moved is a strategy (`strategy/`).

pub mod chunked;
pub mod escape;
pub mod h2;
pub mod partial_head;
pub mod query;
pub mod request;
pub mod response;
pub mod target;
