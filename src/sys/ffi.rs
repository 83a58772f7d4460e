//! The constants and structs that `sys.rs`'s C calls take: Linux's
//! generic numbers (`<netinet/tcp.h>`, `<asm-generic/*.h>`), and each
//! struct laid out as C lays it out (`repr(C)`). Only data: the functions
//! themselves are declared in `sys.rs`, the one file that calls C, next to
//! the calls and their `// SAFETY:` comments; this is the reference a
//! reader checks each argument against.

use std::ffi::{c_int, c_long, c_ulong};

/// `setsockopt`'s level for options of the socket itself.
pub const SOL_SOCKET: c_int = 1;
/// `struct linger`: what `close` does with data not yet sent.
pub const SO_LINGER: c_int = 13;
/// The receive buffer's size in bytes; the kernel doubles what it is
/// given, for its own bookkeeping, and enforces a floor.
pub const SO_RCVBUF: c_int = 8;
/// `setsockopt`'s level for TCP's options.
pub const IPPROTO_TCP: c_int = 6;
/// `struct tcp_info`, whose first byte is the connection's state.
pub const TCP_INFO: c_int = 11;
/// The states in which this side has not yet closed its write side
/// (`<netinet/tcp.h>`): the peer's FIN received or not.
pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_CLOSE_WAIT: u8 = 8;
/// Most bytes written and not yet sent before the socket stops being
/// writable (Linux 3.12).
pub const TCP_NOTSENT_LOWAT: c_int = 25;
/// `ioctl`: bytes in the send queue not yet acknowledged by the peer
/// (unsent ones included), as an `int`; the same number as `TIOCOUTQ`.
pub const SIOCOUTQ: c_ulong = 0x5411;
/// A blocking `connect` gives up after this `struct timeval`.
pub const SO_SNDTIMEO: c_int = 21;
/// A blocking `accept` (or `read`) gives up after this `struct timeval`
/// with `EAGAIN`.
pub const SO_RCVTIMEO: c_int = 20;
/// Ctrl-C; what `kill` and service managers send to stop a process; a
/// closed terminal's hangup, whose default would kill without a drain.
pub const SIGINT: c_int = 2;
pub const SIGTERM: c_int = 15;
pub const SIGHUP: c_int = 1;
/// What `abort` raises: std's end for an allocation that fails.
pub const SIGABRT: c_int = 6;
/// A write past `ulimit -f`, whose default action kills.
pub const SIGXFSZ: c_int = 25;
/// `pthread_sigmask`: the signals of the set no longer blocked.
pub const SIG_UNBLOCK: c_int = 1;
/// The default action is back before the handler runs, which runs once.
pub const SA_RESETHAND: c_int = i32::MIN;
/// `sa_handler` for the default action (not ignored, as `nohup`'s SIGHUP).
pub const SIG_DFL: usize = 0;
/// The clock that counts from boot and is never set: the gap between
/// two signals is measured on it.
pub const CLOCK_MONOTONIC: c_int = 1;
/// Most calls the handler interrupts resume, not failing with `EINTR`
/// (socket calls under a timeout do, signal(7): they retry on it).
pub const SA_RESTART: c_int = 0x1000_0000;
/// Address families, and a stream socket closed on `exec`.
pub const AF_INET: c_int = 2;
pub const AF_INET6: c_int = 10;
pub const SOCK_STREAM_CLOEXEC: c_int = 1 | 0o2_000_000;
/// `errno` of a blocking `connect` that gave up at its `SO_SNDTIMEO`.
pub const EINPROGRESS: c_int = 115;
/// `send`: `EAGAIN` rather than a wait for room, `EPIPE` not SIGPIPE.
pub const MSG_DONTWAIT_NOSIGNAL: c_int = 0x40 | 0x4000;
/// `open`: write only, non-blocking, never a controlling terminal.
pub const O_NONBLOCKING_WRITE: c_int = 0o1 | 0o4000 | 0o400;

/// `struct timeval` of `<sys/time.h>`, as `SO_RCVTIMEO` and
/// `SO_SNDTIMEO` take it: two C `long`s (32 bits on 32-bit Linux, whose
/// kernel reads these options in that layout).
#[repr(C)]
pub struct Timeval {
    /// Whole seconds.
    pub tv_sec: c_long,
    /// And microseconds.
    pub tv_usec: c_long,
}

impl Timeval {
    /// `timeout`, its seconds capped at what a `long` holds, and at least
    /// 1 µs: `{0, 0}` is no timeout, and a wait with less left is not.
    pub fn of(timeout: std::time::Duration) -> Timeval {
        let tv_sec = c_long::try_from(timeout.as_secs()).unwrap_or(c_long::MAX);
        // Under a million: fits any `long`.
        let micros = timeout.subsec_micros() as c_long;
        let tv_usec = if tv_sec == 0 { micros.max(1) } else { micros };
        Timeval { tv_sec, tv_usec }
    }
}

/// `struct timespec` of `<time.h>` on 64-bit Linux: two C `long`s.
#[repr(C)]
#[derive(Default)]
pub struct Timespec {
    /// Whole seconds.
    pub tv_sec: c_long,
    /// And nanoseconds, under a billion.
    pub tv_nsec: c_long,
}

/// `struct sockaddr_in` of `<netinet/in.h>`: port and address in
/// network byte order, aligned as C's (its address is a `uint32_t`).
#[repr(C, align(4))]
pub struct SockaddrIn {
    /// `AF_INET`.
    pub sin_family: u16,
    /// The port, big-endian.
    pub sin_port: u16,
    /// The address's four bytes, in order.
    pub sin_addr: [u8; 4],
    /// Padding to the size of `struct sockaddr`.
    pub sin_zero: [u8; 8],
}

/// `struct sockaddr_in6` of `<netinet/in.h>`.
#[repr(C)]
pub struct SockaddrIn6 {
    /// `AF_INET6`.
    pub sin6_family: u16,
    /// The port, big-endian.
    pub sin6_port: u16,
    /// Flow information, big-endian.
    pub sin6_flowinfo: u32,
    /// The address's sixteen bytes, in order.
    pub sin6_addr: [u8; 16],
    /// Which interface a link-local address is on.
    pub sin6_scope_id: u32,
}

/// `struct linger` of `<sys/socket.h>`.
#[repr(C)]
pub struct Linger {
    /// Non-zero: `close` lingers.
    pub l_onoff: c_int,
    /// Seconds to linger; 0 with `l_onoff` set: reset at once.
    pub l_linger: c_int,
}

/// `struct sigaction` as glibc and musl lay it out on 64-bit x86 and
/// Arm (`<bits/sigaction.h>`): the handler, a 1024-bit mask of signals
/// blocked while it runs, flags, and a restorer the C library fills in.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Sigaction {
    /// A handler's address, or `SIG_IGN` or `SIG_DFL` (no `fn` is 0).
    pub sa_handler: usize,
    /// `sigset_t`: all zero, nothing more is blocked.
    pub sa_mask: [u64; 16],
    /// `SA_RESTART`, or `SA_RESETHAND`.
    pub sa_flags: c_int,
    /// Left to the C library.
    pub sa_restorer: Option<extern "C" fn()>,
}
// The size glibc's and musl's headers give it there; a layout that
// drifted would fail to build rather than install a garbled handler.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const _: () = assert!(
    size_of::<Sigaction>() == 152
        && std::mem::offset_of!(Sigaction, sa_flags) == 136
        && std::mem::offset_of!(Sigaction, sa_restorer) == 144
);
