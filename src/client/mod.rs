//! The other end: a client that reads as slowly as a phone, so that
//! backpressure can be seen, and says whether the body it got was whole.
//!
//! | file              | what                                                  |
//! |-------------------|-------------------------------------------------------|
//! | [`slow_client`]   | one GET read at a limited rate, with a report          |
//! | [`h2`]            | the same over HTTP/2, with a second request beside it  |
//! | [`h2_frames`]     | what the HTTP/2 client writes; what each frame it reads means |
//! | [`h2_head`]       | an HTTP/2 head: its block gathered from CONTINUATION  |
//! | [`h2_stream`]     | one HTTP/2 stream's report; what its frames do to it  |
//! | [`response`]      | a response read as it streams; how its body ended      |
//! | [`token_bucket`]  | the rate limit, tested with a hand-stepped clock       |
//!
//! It speaks the wire format of `http/` and nothing of the server: the demo
//! points it at a child process, `slow-client` at any URL.

pub mod h2;
pub mod h2_frames;
pub mod h2_head;
pub mod h2_stream;
pub mod response;
pub mod slow_client;
pub mod token_bucket;
