//! What std has no stable API for, called through the C library std
//! already links: five socket options, a socket's unacknowledged bytes,
//! an abort, the listen queue's length, and a signal handler for shutdown.
//! The only file that calls C, the crate's one `extern "C"` block included,
//! and with the counting allocator the only `unsafe`; the constants and
//! structs the calls take are in `src/sys/ffi.rs`.
//!
//! | call                              | what it is for                                      |
//! |-----------------------------------|-----------------------------------------------------|
//! | `setsockopt(TCP_NOTSENT_LOWAT)`   | bound the kernel's unsent bytes per socket (tests read it back: `getsockopt`) |
//! | `setsockopt(SO_LINGER {1, 0})`    | close with a reset, freeing the send queue at once   |
//! | `socket`, `setsockopt(SO_RCVBUF, SO_SNDTIMEO)`, `connect` | a slow client's small receive buffer, set before the handshake advertises a window; a connect that gives up |
//! | `ioctl(SIOCOUTQ)`                 | bytes written and not yet acknowledged by the peer   |
//! | `connect` to `AF_UNSPEC`          | abort a connection from any thread: a reset, no FIN  |
//! | `setsockopt(SO_RCVTIMEO)` on a listener | an `accept` that wakes to look for a shutdown   |
//! | `listen` again on a listener      | a longer accept queue than std's 128                 |
//! | `sigaction(SIGINT, SIGTERM, SIGHUP)`, `pthread_sigmask`, `clock_gettime`, `write` or `send(MSG_DONTWAIT)`, `_exit` | a shutdown asked for by a signal (a signal not at its default at start, as SIGHUP ignored by `nohup`, asked of the kernel, is left as found, but SIGTERM and SIGABRT; the three unblocked, should the parent's mask have blocked them); a second one, 200 ms or more after the first ([`repeated_signal`]), says so and exits at once |
//! | `getsockname`, `getsockopt(TCP_INFO)`, `setsockopt(SO_LINGER)` before that `_exit` | that exit, and stdin's close under `--exit-on-stdin-eof`, resets every response still being written |
//! | `sigaction` of SIGABRT and the other signals that kill ([`exit_line::FATAL`]), `raise` | so does an abort (a failed allocation's) or such a signal (SIGQUIT, SIGUSR1, a CPU limit's SIGXCPU), whose death then goes on |
//! | `sigaction(SIGXFSZ)` | a log file past `ulimit -f` fails a write instead of killing |
//!
//! Every call outside that exit ([`exit_cutting_responses`], shared by the
//! handler and `serve`'s stdin thread) checks its result and turns `-1` into
//! the `errno` it set, as an `io::Error`: nothing here panics or is unwrapped.
//! The exit has no one to report to: it skips a descriptor it cannot inspect,
//! lets an arming fail (the descriptor closed since), and exits either way.
//! `ffi.rs`'s constants are Linux's generic ones; powerpc, mips (r6 too) and sparc
//! number socket options otherwise, and the crate refuses to build there
//! rather than set the wrong ones (`lib.rs`). Off Linux every call is
//! `ErrorKind::Unsupported`, so `serve` refuses to start at its first socket
//! option (`--notsent-lowat`'s, or with that off the accept timeout's): the
//! crate builds on any Unix, and the server runs on Linux only.
//!
//! std's `TcpStream::set_linger` would do the second, but is unstable
//! (rust-lang/rust#88494); nothing in std does the others.
//!
//! A signal handler may run between any two instructions of any thread, so it
//! may only do what is *async-signal-safe* (POSIX `signal-safety(7)`): here,
//! read the monotonic clock, note the first signal's time in an atomic and, for
//! a second signal, arm a reset on each connection still being written, write
//! one line without waiting for room (stamped by a function `serve` hands over:
//! `clock_gettime` and arithmetic into a buffer on the stack), and `_exit`; for
//! an abort or another signal that kills, the same resets and a line, and
//! `raise` once more, for the death it asked for. What the handlers know of
//! the server waits in atomics (`noted.rs`). The server looks at the first
//! signal's on its own time ([`shutdown_requested`]), which is why its
//! accept loop must wake now and then ([`set_accept_timeout`]): std retries an
//! `accept` the signal interrupts.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
#[cfg(target_os = "linux")]
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::Duration;

mod exit_line;
#[cfg(target_os = "linux")]
mod ffi;
mod noted;
pub mod repeated_signal;

/// The C functions called here: the crate's one `extern "C"` block. Their
/// constants and structs are in `ffi.rs`.
#[cfg(target_os = "linux")]
mod c {
    use super::ffi::{Sigaction, Timespec};
    use std::ffi::{c_int, c_ulong, c_void};

    // The C library's own declarations, as each call's manual page gives
    // them (`socklen_t` is `u32`; `ioctl` is variadic in C too).
    unsafe extern "C" {
        pub fn getsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *mut c_void,
            len: *mut u32,
        ) -> c_int;
        pub fn getsockname(fd: c_int, address: *mut c_void, len: *mut u32) -> c_int;
        pub fn setsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *const c_void,
            len: u32,
        ) -> c_int;
        pub fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
        pub fn socket(domain: c_int, kind: c_int, protocol: c_int) -> c_int;
        pub fn connect(fd: c_int, address: *const c_void, len: u32) -> c_int;
        pub fn listen(fd: c_int, backlog: c_int) -> c_int;
        pub fn sigaction(signal: c_int, action: *const Sigaction, old: *mut Sigaction) -> c_int;
        pub fn pthread_sigmask(how: c_int, set: *const [u64; 16], old: *mut [u64; 16]) -> c_int;
        pub fn clock_gettime(clock: c_int, now: *mut Timespec) -> c_int;
        pub fn write(fd: c_int, bytes: *const c_void, count: usize) -> isize;
        pub fn send(fd: c_int, bytes: *const c_void, count: usize, flags: c_int) -> isize;
        pub fn open(path: *const std::ffi::c_char, flags: c_int, ...) -> c_int;
        pub fn _exit(status: c_int) -> !;
        pub fn raise(signal: c_int) -> c_int;
    }
}

use noted::SIGNAL_LINE_START;
pub use noted::{LineStart, note_connection, note_listener, note_stderr, shutdown_requested};

/// Sets the socket option `level`/`name` to `value`, a plain C struct or
/// integer.
#[cfg(target_os = "linux")]
fn set_option<T>(socket: &impl AsRawFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    let len = u32::try_from(size_of::<T>()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let value = (value as *const T).cast();
    // SAFETY: `value` is a live reference for the whole call and `len` is
    // exactly its size, so the kernel reads only bytes that belong to it
    // (it copies them; nothing is kept after the call). A descriptor
    // closed since it was looked at (the exit's) fails with EBADF.
    zero_or_errno(unsafe { c::setsockopt(socket.as_raw_fd(), level, name, value, len) })
}

/// What every call here is off Linux, its arguments unused.
#[cfg(not(target_os = "linux"))]
fn unsupported<T>(_: impl Sized) -> io::Result<T> {
    Err(io::ErrorKind::Unsupported.into())
}

/// `Ok` for a call that returned 0, else the `errno` it set.
#[cfg(target_os = "linux")]
fn zero_or_errno(result: std::ffi::c_int) -> io::Result<()> {
    match result {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `TCP_NOTSENT_LOWAT`: a blocking write waits once `bytes` are written and
/// not yet sent, and is woken when fewer than half of them are left. The
/// kernel names it a low-water mark, the level unsent bytes must be below
/// for a write to go in; to the writer it is a high-water mark, the level
/// at which it blocks, and that is the name the rest of this crate uses.
pub fn set_notsent_lowat(socket: &impl AsRawFd, bytes: u32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let bytes = i32::try_from(bytes).map_err(|_| io::ErrorKind::InvalidInput)?;
        set_option(socket, ffi::IPPROTO_TCP, ffi::TCP_NOTSENT_LOWAT, &bytes)
    }
    #[cfg(not(target_os = "linux"))]
    unsupported((socket, bytes))
}

/// Ends a connection now, from any thread, with a reset and never a FIN:
/// `connect` to an `AF_UNSPEC` address, which on Linux aborts a TCP
/// connection (RFC 793's ABORT, `tcp_disconnect`): the peer gets a reset
/// at once, the send queue is freed, and a `write` or `read` blocked on it
/// in another thread fails at once, as does every later one.
///
/// The alternative, `shutdown(Both)`, also wakes a blocked writer, but it
/// queues a FIN, and when the kernel has nothing unsent (a fast reader, a
/// writer between writes) the FIN goes out at once, ahead of the reset the
/// close sends later: the peer's read sees a clean end, which makes a cut
/// close-delimited (HTTP/1.0) body look whole.
pub fn abort(socket: &impl AsRawFd) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // `sa_family` is all the kernel reads of an AF_UNSPEC address.
        let unspecified = ffi::SockaddrIn {
            sin_family: 0, // AF_UNSPEC
            sin_port: 0,
            sin_addr: [0; 4],
            sin_zero: [0; 8],
        };
        connect_raw(socket, &unspecified)
    }
    #[cfg(not(target_os = "linux"))]
    unsupported(socket)
}

/// `SO_LINGER {on, 0}`: the next `close` of this socket sends a reset and
/// frees its send queue at once, instead of a FIN after the queue drains.
/// It neither allocates nor locks: an exit at once arms every response
/// with it, from a signal handler.
pub fn reset_on_close(socket: &impl AsRawFd) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let linger = ffi::Linger {
            l_onoff: 1,
            l_linger: 0,
        };
        set_option(socket, ffi::SOL_SOCKET, ffi::SO_LINGER, &linger)
    }
    #[cfg(not(target_os = "linux"))]
    unsupported(socket)
}

/// A connected socket whose receive buffer is about `receive_buffer`
/// bytes from the start: set before `connect`, so the handshake already
/// advertises a window that small (set later, the kernel would still honour
/// the larger window it had offered). `connect` gives up after `timeout`.
pub fn connect_with_receive_buffer(
    address: SocketAddr,
    receive_buffer: u32,
    timeout: Duration,
) -> io::Result<TcpStream> {
    #[cfg(target_os = "linux")]
    {
        let domain = if address.is_ipv4() {
            ffi::AF_INET
        } else {
            ffi::AF_INET6
        };
        // SAFETY: `socket` takes no pointers; it returns a new descriptor or -1.
        let fd = unsafe { c::socket(domain, ffi::SOCK_STREAM_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by `socket`, is open, and nothing
        // else owns it: the `OwnedFd` closes it on every path out of here.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        let bytes = i32::try_from(receive_buffer).map_err(|_| io::ErrorKind::InvalidInput)?;
        set_option(&socket, ffi::SOL_SOCKET, ffi::SO_RCVBUF, &bytes)?;
        let wait = ffi::Timeval::of(timeout);
        set_option(&socket, ffi::SOL_SOCKET, ffi::SO_SNDTIMEO, &wait)?;
        let result = match address {
            SocketAddr::V4(v4) => {
                let raw = ffi::SockaddrIn {
                    sin_family: ffi::AF_INET as u16,
                    sin_port: v4.port().to_be(),
                    sin_addr: v4.ip().octets(),
                    sin_zero: [0; 8],
                };
                connect_raw(&socket, &raw)
            }
            SocketAddr::V6(v6) => {
                let raw = ffi::SockaddrIn6 {
                    sin6_family: ffi::AF_INET6 as u16,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: v6.flowinfo().to_be(),
                    sin6_addr: v6.ip().octets(),
                    sin6_scope_id: v6.scope_id(),
                };
                connect_raw(&socket, &raw)
            }
        };
        match result {
            Ok(()) => Ok(TcpStream::from(socket)),
            // A blocking connect that timed out reports it as in progress.
            Err(e) if e.raw_os_error() == Some(ffi::EINPROGRESS) => {
                Err(io::ErrorKind::TimedOut.into())
            }
            Err(e) => Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    unsupported((address, receive_buffer, timeout))
}

/// Makes a blocking `accept` on `listener` return `WouldBlock` after
/// `timeout` without a connection, so that the accept loop can look for a
/// shutdown request between connections.
pub fn set_accept_timeout(listener: &impl AsRawFd, timeout: Duration) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let wait = ffi::Timeval::of(timeout);
        set_option(listener, ffi::SOL_SOCKET, ffi::SO_RCVTIMEO, &wait)
    }
    #[cfg(not(target_os = "linux"))]
    unsupported((listener, timeout))
}

/// Lets the kernel queue `backlog` connections whose handshake it has
/// completed before `accept` takes them; std listens with 128. On a
/// listening socket `listen` only changes the queue's length, and the
/// kernel caps it at `net.core.somaxconn`.
pub fn set_listen_backlog(listener: &impl AsRawFd, backlog: u32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let backlog =
            std::ffi::c_int::try_from(backlog).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: `listen` takes a descriptor and an integer, and the
        // descriptor is `listener`'s, open for the whole call.
        zero_or_errno(unsafe { c::listen(listener.as_raw_fd(), backlog) })
    }
    #[cfg(not(target_os = "linux"))]
    unsupported((listener, backlog))
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP: the first asks for a
/// graceful shutdown ([`shutdown_requested`] turns true), and so does any
/// within [`repeated_signal::SAME_REQUEST`] of it (the same request, sent
/// twice); a second, later, ends the process at once with the shell's code for
/// death by that signal, 128 + its number (130 for Ctrl-C), for an operator who
/// will not wait, its line begun by `line_start`. SIGABRT's, and that of every
/// other signal whose default kills, is [`on_fatal`]; SIGXFSZ's does nothing,
/// so a write past `ulimit -f` (a log file's) fails with `EFBIG`, a line
/// dropped and counted, killing nothing. A signal not at its default action now
/// is left as found, but SIGTERM, a service manager's stop, and SIGABRT, which
/// `abort` raises anyway: ignored, as `nohup` and a shell's background job leave
/// SIGHUP and SIGINT, or caught by a handler put there before `main` (a
/// preloaded profiler's SIGPROF, whose every tick the handler here would make a
/// death).
pub fn on_shutdown_signals(line_start: LineStart) -> io::Result<()> {
    let _ = SIGNAL_LINE_START.set(line_start);
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    {
        let action = ffi::Sigaction {
            sa_handler: on_shutdown_signal as *const () as usize,
            sa_mask: [0; 16],
            sa_flags: ffi::SA_RESTART,
            sa_restorer: None,
        };
        let fatal = ffi::Sigaction {
            sa_handler: on_fatal as *const () as usize,
            sa_flags: ffi::SA_RESETHAND,
            ..action
        };
        extern "C" fn nothing(_: std::ffi::c_int) {}
        let too_large = ffi::Sigaction {
            sa_handler: nothing as *const () as usize,
            ..action
        };
        let shutdown = [ffi::SIGINT, ffi::SIGTERM, ffi::SIGHUP].map(|signal| (signal, &action));
        let others = exit_line::FATAL.map(|(signal, _)| (signal, &fatal));
        let too_large = [(ffi::SIGXFSZ, &too_large)];
        for (signal, action) in shutdown.into_iter().chain(others).chain(too_large) {
            // What is there now (SIG_IGN under `nohup`): glibc overwrites all
            // of `old`, the mask past the kernel's 8 bytes with whatever its
            // own copy held, musl only the kernel's fields; only the handler
            // is read.
            let mut old = *action;
            // SAFETY: a null `action` changes nothing; `old` is a live `struct
            // sigaction`, each field valid for any bits (a 0 restorer is None).
            zero_or_errno(unsafe { c::sigaction(signal, std::ptr::null(), &mut old) })?;
            if !matches!(signal, ffi::SIGTERM | ffi::SIGABRT) && old.sa_handler != ffi::SIG_DFL {
                continue;
            }
            // SAFETY: `action` is a live, fully initialised `struct
            // sigaction` the C library copies during the call; a null `old`
            // asks for nothing back. Each handler is async-signal-safe.
            zero_or_errno(unsafe { c::sigaction(signal, action, std::ptr::null_mut()) })?;
        }
        // A mask that blocks them survives exec, and std keeps it: a SIGTERM
        // would stay pending, and only a SIGKILL, draining nothing, end the
        // server. Unblocked in `serve`'s main thread, the accept loop's, and
        // so in every thread it starts from now on.
        let mut unblock = [0u64; 16];
        unblock[0] = shutdown.map(|(n, _)| 1 << (n - 1)).iter().sum();
        // SAFETY: `unblock` is a live `sigset_t`, read during the call; a null
        // `old` asks for nothing back. It returns the error, not -1.
        match unsafe { c::pthread_sigmask(ffi::SIG_UNBLOCK, &unblock, std::ptr::null_mut()) } {
            0 => Ok(()),
            error => Err(io::Error::from_raw_os_error(error)),
        }
    }
    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// The handler: the clock read and one atomic compare-and-swap; for a
/// second signal, [`exit_cutting_responses`], 128 + the signal's number.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
extern "C" fn on_shutdown_signal(signal: std::ffi::c_int) {
    let mut now = ffi::Timespec::default();
    // SAFETY: `now` is a live, writable `struct timespec`, all that
    // `clock_gettime` writes (async-signal-safe, on POSIX's list).
    let read = unsafe { c::clock_gettime(ffi::CLOCK_MONOTONIC, &raw mut now) };
    let now = (read == 0).then(|| repeated_signal::nanos(now.tv_sec, now.tv_nsec));
    // Never 0, which means no signal yet.
    let at = now.map_or(u64::MAX, |nanos| nanos.max(1));
    let first = noted::FIRST_SIGNAL_AT.compare_exchange(0, at, Ordering::SeqCst, Ordering::SeqCst);
    if let Err(first) = first
        && !repeated_signal::same_request(first, now)
    {
        // An atomic load: set before the handler was installed.
        let start = SIGNAL_LINE_START.get().copied().unwrap_or(|_| 0);
        exit_cutting_responses(
            128 + signal,
            start,
            b"backpressure: second signal: exiting at once; \
            every response still being written is cut with a reset\n",
        );
    }
}

/// The handler of SIGABRT and every other signal whose default action
/// kills ([`exit_line::FATAL`]), run once (`SA_RESETHAND`): what an exit by
/// a second signal does but `_exit` ([`cut_responses`]), then the signal
/// raised again, which the default action, back in place, carries out once
/// this returns: the death (and core) the abort asked for, or `kill` did.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
extern "C" fn on_fatal(signal: std::ffi::c_int) {
    let start = SIGNAL_LINE_START.get().copied().unwrap_or(|_| 0);
    cut_responses(exit_line::fatal(start, signal).as_bytes());
    // SAFETY: `raise` takes a plain integer and is async-signal-safe.
    unsafe { c::raise(signal) };
}

/// Ends the process at once with `code`: a reset armed on every response still
/// being written, `line` on stderr after what `start` writes (the log's stamp,
/// as every line has), then `_exit`. The second signal's handler calls it, and
/// so does `serve --exit-on-stdin-eof` when stdin closes. On Linux, where the
/// handler is, all of it is async-signal-safe (`getsockname`, `getsockopt`,
/// `setsockopt`, `write` and `send` are on POSIX's list); nothing here
/// allocates, locks or unwinds. The line goes straight to stderr, not through
/// the log's thread, which may never run again: one call from a buffer on the
/// stack, which no log line can split, and which never waits for a stalled
/// reader ([`note_stderr`]); a line too long for the buffer is cut.
///
/// The process's exit closes every socket, and a plain close sends a FIN: an
/// HTTP/1.0 body cut by the exit would end like a whole one. Armed with
/// SO_LINGER {1, 0}, the close is a reset instead, which no client takes for
/// the end of a body. Only a connection still being written is armed
/// ([`still_written`]): one whose graceful close has begun holds the tail of a
/// whole response, which the kernel delivers after the exit, and a reset would
/// throw it away. Other threads go on meanwhile: a connection noted after the
/// loop below read the highest descriptor, with a higher one, is not armed, nor
/// one accepted and not yet noted.
pub fn exit_cutting_responses(code: i32, start: LineStart, line: &[u8]) -> ! {
    cut_responses(exit_line::ExitLine::new(start, &[line]).as_bytes());
    #[cfg(target_os = "linux")]
    // SAFETY: `_exit` takes a plain integer and is async-signal-safe:
    // unlike `exit`, it runs no destructors or `atexit` handlers.
    unsafe {
        c::_exit(code)
    }
    #[cfg(not(target_os = "linux"))]
    std::process::exit(code)
}

/// [`exit_cutting_responses`] but the exit: every response still being
/// written armed with a reset, and the line written.
fn cut_responses(line: &[u8]) {
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    {
        let port = noted::LISTEN_PORT.load(Ordering::SeqCst);
        for fd in 0..=noted::HIGHEST_CONNECTION_FD.load(Ordering::SeqCst) {
            if still_written(fd, port) {
                // Ours, just looked at; closed since, the call fails with EBADF
                // unless the number was reused meanwhile (microseconds): a new
                // socket armed, no harm to memory, and the exit resets anyway.
                let _ = reset_on_close(&fd);
            }
        }
        let (bytes, len) = (line.as_ptr().cast(), line.len());
        // SAFETY: `bytes` is a live slice of `len` bytes, all that `send`
        // or `write` reads; the path is a C string literal, and without
        // `O_CREAT` `open` reads no mode, the variadic argument not passed.
        // None waits for room ([`note_stderr`]); a failure loses the line.
        unsafe {
            match noted::EXIT_LINE_TO.load(Ordering::SeqCst) {
                noted::TO_SOCKET => c::send(2, bytes, len, ffi::MSG_DONTWAIT_NOSIGNAL),
                noted::TO_REOPENED => {
                    match c::open(c"/proc/self/fd/2".as_ptr(), ffi::O_NONBLOCKING_WRITE) {
                        -1 => -1,
                        fd => c::write(fd, bytes, len),
                    }
                }
                _ => c::write(2, bytes, len),
            }
        };
    }
    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    {
        // Off 64-bit x86 and Arm Linux no reset is armed (off Linux none
        // is noted): the line is all.
        let _ = io::Write::write_all(&mut io::stderr(), line);
    }
}

/// Whether descriptor `fd` is a TCP connection on the server's `port`
/// whose write side is still open (ESTABLISHED, or CLOSE_WAIT once the
/// client has closed its own): a response may be in the middle of being
/// written. Not the listener, not a socket the process inherited or
/// opened elsewhere, not a connection whose close has begun. Only calls
/// that are async-signal-safe, and no allocation.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn still_written(fd: std::ffi::c_int, port: u32) -> bool {
    // Room for any address (`struct sockaddr_storage`); IPv4's and IPv6's
    // both hold the family in their first two bytes, in the machine's
    // order, and the port in the next two, big-endian.
    let mut address = [0u8; 128];
    let mut len = address.len() as u32;
    // SAFETY: `address` and `len` are live and writable; the kernel writes
    // at most `len` bytes of the address (it truncates a longer one) and
    // the address's true length into `len`. A descriptor that is closed or
    // not a socket fails with EBADF or ENOTSOCK and writes nothing.
    let named = unsafe { c::getsockname(fd, address.as_mut_ptr().cast(), &raw mut len) };
    let family = i32::from(u16::from_ne_bytes([address[0], address[1]]));
    let local_port = u32::from(u16::from_be_bytes([address[2], address[3]]));
    let inet = family == ffi::AF_INET || family == ffi::AF_INET6;
    if named != 0 || len < 4 || !inet || local_port != port {
        return false;
    }
    let mut info = [0u8; 8];
    let mut len = info.len() as u32;
    // SAFETY: as above: the kernel writes at most `len` bytes of `struct
    // tcp_info` into `info` (its first byte is the state) and how many
    // into `len`.
    let got = unsafe {
        c::getsockopt(
            fd,
            ffi::IPPROTO_TCP,
            ffi::TCP_INFO,
            info.as_mut_ptr().cast(),
            &raw mut len,
        )
    };
    got == 0 && len >= 1 && matches!(info[0], ffi::TCP_ESTABLISHED | ffi::TCP_CLOSE_WAIT)
}

/// `connect(2)` to the C socket address `raw`.
#[cfg(target_os = "linux")]
fn connect_raw<T>(socket: &impl AsRawFd, raw: &T) -> io::Result<()> {
    let len = u32::try_from(size_of::<T>()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `raw` is a live `sockaddr_in` or `sockaddr_in6`, laid out as C
    // lays it out (`repr(C)`), and `len` is exactly its size; the kernel
    // only reads it during the call. The descriptor is `socket`'s, open.
    zero_or_errno(unsafe { c::connect(socket.as_raw_fd(), (raw as *const T).cast(), len) })
}

/// Bytes written to `socket` that its peer has not acknowledged yet,
/// whether sent or not (`SIOCOUTQ`).
pub fn unacknowledged_bytes(socket: &impl AsRawFd) -> io::Result<u64> {
    #[cfg(target_os = "linux")]
    {
        let mut bytes: std::ffi::c_int = 0;
        // SAFETY: SIOCOUTQ writes one `int` through its pointer argument,
        // and `bytes` is a live, writable `int` for the whole call.
        let result = unsafe { c::ioctl(socket.as_raw_fd(), ffi::SIOCOUTQ, &raw mut bytes) };
        if result == -1 {
            return Err(io::Error::last_os_error());
        }
        u64::try_from(bytes).map_err(|_| io::ErrorKind::InvalidData.into())
    }
    #[cfg(not(target_os = "linux"))]
    unsupported(socket)
}

/// The socket's `TCP_NOTSENT_LOWAT` as the kernel holds it, 0 if never set
/// (the sysctl's then applies). Only tests read it back: on loopback a
/// stalled peer's small window bounds the kernel's queue about as the mark
/// would, so only the socket itself shows whether the server set it.
#[cfg(test)]
pub fn notsent_lowat(socket: &impl AsRawFd) -> io::Result<u32> {
    #[cfg(target_os = "linux")]
    {
        let mut bytes: u32 = 0;
        let mut len = size_of::<u32>() as u32;
        // SAFETY: the kernel writes at most `len` bytes, an `int`, into
        // `bytes`, and its length into `len`; both are live and writable
        // for the whole call. The descriptor is `socket`'s, open.
        let result = unsafe {
            c::getsockopt(
                socket.as_raw_fd(),
                ffi::IPPROTO_TCP,
                ffi::TCP_NOTSENT_LOWAT,
                (&raw mut bytes).cast(),
                &raw mut len,
            )
        };
        zero_or_errno(result).map(|()| bytes)
    }
    #[cfg(not(target_os = "linux"))]
    unsupported(socket)
}

#[cfg(test)]
mod tests;
