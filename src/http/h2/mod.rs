//! HTTP/2's wire format, as bytes: frames and their rules ([`frame`]), the
//! frames this side writes ([`frame_write`]), a byte stream cut into frames
//! in a fixed buffer ([`frame_buffer`]), HPACK, the header compression whose
//! table both ends keep in step ([`hpack`], its Huffman code in
//! `huffman.rs`, this side's stateless encoder in [`hpack_encode`]), and a
//! request read from its decoded fields ([`request`]).
//!
//! Like the rest of `http/`, nothing here touches a socket, a thread or a
//! clock. The server's side of a connection (streams, windows, the writer
//! that schedules them) is `server/h2/`; the client's is `client/h2.rs` and
//! the `h2_*.rs` files beside it.

pub mod frame;
pub mod frame_buffer;
pub mod frame_write;
pub mod hpack;
pub mod hpack_encode;
mod huffman;
pub mod request;

/// xorshift64, seeded: the fuzz tests' inputs, the same on every run, so
/// that a failure can be replayed.
#[cfg(test)]
struct Rng(u64);

#[cfg(test)]
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.below(256) as u8).collect()
    }
}
