//! `sys.rs`'s tests, against real sockets; kept apart so that the one
//! file that calls C stays short enough to read.

use super::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::Duration;

/// A receive buffer set before the handshake keeps the window small
/// from the first byte: an unread client's kernel holds little.
#[test]
fn a_small_receive_buffer_is_small_from_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let _client = connect_with_receive_buffer(address, 4096, Duration::from_secs(5)).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    let mut taken = 0;
    while let Ok(n) = (&server).write(&[0u8; 1024]) {
        taken += n;
        if taken > 64 << 20 {
            break;
        }
    }
    // Unacknowledged: in the server's kernel. What the client's took
    // is what was acknowledged: at most a window of about the buffer.
    let acknowledged = taken as u64 - unacknowledged_bytes(&server).unwrap();
    assert!(
        acknowledged <= 16 * 1024,
        "the client's kernel took {acknowledged} bytes"
    );
}

#[test]
fn a_reset_reaches_the_peer_instead_of_a_fin() {
    let (server, mut client) = crate::test_support::loopback();
    (&server).write_all(b"cut").unwrap();
    reset_on_close(&server).unwrap();
    drop(server);
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let error = client.read_to_end(&mut got).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{got:?}");
}

/// A call that fails is an error with its `errno`, not a quiet success:
/// `listen` on a UDP socket is refused by the kernel (`EOPNOTSUPP`), and
/// a backlog that failed to take would leave std's 128 in place unseen.
#[test]
fn a_listen_the_kernel_refuses_is_an_error() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let error = set_listen_backlog(&socket, 1024).unwrap_err();
    // EOPNOTSUPP, on x86_64 and aarch64 Linux alike.
    assert_eq!(error.raw_os_error(), Some(95), "{error}");
}

/// The same for the other calls that share that check: an option the
/// kernel will not set (`TCP_NOTSENT_LOWAT` on a UDP socket, `ENOPROTOOPT`)
/// and an abort of a descriptor that is no socket (`ENOTSOCK`) are errors,
/// not a mark or a reset taken for granted.
#[test]
fn an_option_or_abort_the_kernel_refuses_is_an_error() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let error = set_notsent_lowat(&socket, 16 * 1024).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(92), "{error}");
    let not_a_socket = std::fs::File::open("/dev/null").unwrap();
    let error = abort(&not_a_socket).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(88), "{error}");
}

/// A timeout is never `{0, 0}`, which the kernel reads as none at all: a
/// connect with under a microsecond left waited for the kernel's own SYN
/// retries (two minutes), where it should give up at once.
#[cfg(target_os = "linux")]
#[test]
fn a_timeout_under_a_microsecond_is_one_not_none() {
    use super::ffi::Timeval;
    for short in [Duration::ZERO, Duration::from_nanos(500)] {
        let t = Timeval::of(short);
        assert_eq!((t.tv_sec, t.tv_usec), (0, 1), "{short:?}");
    }
    let t = Timeval::of(Duration::from_millis(1500));
    assert_eq!((t.tv_sec, t.tv_usec), (1, 500_000));
    let t = Timeval::of(Duration::from_secs(2));
    assert_eq!((t.tv_sec, t.tv_usec), (2, 0));
}

/// A timeout too long for a `long` is the longest one, not none: cut to
/// 0 s it would be the microsecond `Timeval::of` keeps for a zero, and a
/// connect or an accept would give up at once instead of practically never.
#[cfg(target_os = "linux")]
#[test]
fn a_timeout_past_what_a_long_holds_is_the_longest() {
    let t = super::ffi::Timeval::of(Duration::MAX);
    assert_eq!((t.tv_sec, t.tv_usec), (std::ffi::c_long::MAX, 999_999));
}

/// A connect nobody answers gives up at its timeout, as `TimedOut`: a
/// listener whose accept queue is full drops the SYN, and the kernel
/// would retry it for two minutes, holding the slow client's run with
/// `--receive-buffer` long past its `--for`.
#[test]
fn a_connect_never_answered_gives_up_at_its_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // A queue of one: once it is filled, every later SYN is dropped.
    set_listen_backlog(&listener, 0).unwrap();
    let address = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    while let Ok(stream) = TcpStream::connect_timeout(&address, Duration::from_millis(300)) {
        queued.push(stream);
        assert!(queued.len() < 100, "the accept queue never filled");
    }
    // Bounded by `within`: without its timeout, the connect would wait
    // out the kernel's SYN retries.
    let result = crate::test_support::within(move || {
        connect_with_receive_buffer(address, 4096, Duration::from_millis(200)).map(drop)
    });
    let error = result.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
    drop(queued);
}

/// Over IPv6 as over IPv4: the slow client takes `http://[::1]:PORT/`,
/// which a v6 address laid out wrong (its family, its port's byte order)
/// would connect elsewhere or not at all; and an exit at once knows a v6
/// connection on the server's port for one still being written, so that
/// it too ends in a reset, not a FIN.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[test]
fn a_connection_over_ipv6_is_made_and_armed_as_over_ipv4() {
    // A machine without an IPv6 loopback has nothing to show here, and
    // says so; one that has it must let it be bound.
    let listener = match TcpListener::bind("[::1]:0") {
        Ok(listener) => listener,
        Err(e) => {
            let interfaces = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
            // `::1`, as the kernel lists an interface's addresses.
            let loopback = "00000000000000000000000000000001 ";
            let loopback = interfaces.lines().any(|l| l.starts_with(loopback));
            assert!(!loopback, "::1 is configured but cannot be bound: {e}");
            eprintln!("skipped: no IPv6 loopback on this machine ({e})");
            return;
        }
    };
    let address = listener.local_addr().unwrap();
    let client = connect_with_receive_buffer(address, 4096, Duration::from_secs(5)).unwrap();
    let (server, from) = listener.accept().unwrap();
    assert_eq!(from, client.local_addr().unwrap());
    assert!(still_written(server.as_raw_fd(), u32::from(address.port())));
}

/// The connected socket is closed on `exec`: a program the process starts
/// while the connection is open does not inherit it, which would hold the
/// connection open past the caller's own close, its server writing on to
/// no one.
#[test]
fn a_connected_socket_is_not_inherited_across_exec() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let client = connect_with_receive_buffer(address, 4096, Duration::from_secs(5)).unwrap();
    let fd = client.as_raw_fd();
    // The shell looks for the descriptor in its own table.
    let inherited = std::process::Command::new("sh")
        .args(["-c", &format!("test -e /proc/self/fd/{fd}")])
        .status()
        .unwrap();
    assert!(!inherited.success(), "descriptor {fd} was inherited");
}

/// What an exit at once arms with a reset: a connection on the server's
/// port whose write side is open, its client's own side open or closed (a
/// half-closed client still waits for its body). Not the listener, not a
/// connection on another port (one the process inherited or made as a
/// client, whose peer is owed a clean close), not one whose close has
/// begun (its tail is a whole response, which the kernel delivers after
/// the exit), nor a descriptor that is no socket.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[test]
fn only_a_connection_still_being_written_on_the_port_is_armed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let port = u32::from(address.port());
    let client = TcpStream::connect(address).unwrap();
    let (server, _) = listener.accept().unwrap();
    let armed = |socket: &dyn AsRawFd| still_written(socket.as_raw_fd(), port);
    assert!(armed(&server), "a connection being written");
    assert!(!armed(&listener), "the listener");
    assert!(!armed(&client), "a connection on another port");
    let not_a_socket = std::fs::File::open("/dev/null").unwrap();
    assert!(!armed(&not_a_socket), "no socket");
    client.shutdown(Shutdown::Write).unwrap();
    // The client's FIN is in once the server reads the end.
    assert_eq!((&server).read(&mut [0; 1]).unwrap(), 0);
    assert!(armed(&server), "a half-closed client's connection");
    server.shutdown(Shutdown::Write).unwrap();
    assert!(!armed(&server), "a connection whose close has begun");
}

/// `unacknowledged_bytes` of what has no send queue is an error, not 0:
/// the send deadline takes 0 for a client that has acknowledged every
/// byte and is waiting for more, where an error says nothing of the
/// client (`defense/send_deadline.rs`).
#[test]
fn unacknowledged_bytes_of_no_socket_is_an_error() {
    let not_a_socket = std::fs::File::open("/dev/null").unwrap();
    let error = unacknowledged_bytes(&not_a_socket).unwrap_err();
    // ENOTTY: SIOCOUTQ is TIOCOUTQ, a terminal's request, to the kernel.
    assert_eq!(error.raw_os_error(), Some(25), "{error}");
}

/// A connection noted after one with a higher descriptor leaves that one
/// the highest: descriptors are reused lowest first, so a new connection
/// often has a lower number than one still being written, and the exit
/// at once looks only up to the highest noted. One above it would end in
/// the exit's plain close, a cut HTTP/1.0 body looking whole.
#[test]
fn a_lower_descriptor_noted_later_leaves_the_highest() {
    let (a, b) = crate::test_support::loopback();
    let (low, high) = if a.as_raw_fd() < b.as_raw_fd() {
        (a, b)
    } else {
        (b, a)
    };
    note_connection(&high);
    note_connection(&low);
    // Noted in the process's own mark, which other tests' servers may
    // have raised higher still: the rule it keeps is seen on a mark of
    // this test's own.
    let highest = noted::HIGHEST_CONNECTION_FD.load(Ordering::SeqCst);
    assert!(highest >= high.as_raw_fd(), "{highest}");
    let mark = std::sync::atomic::AtomicI32::new(-1);
    noted::keep_highest(&mark, high.as_raw_fd());
    noted::keep_highest(&mark, low.as_raw_fd());
    assert_eq!(mark.load(Ordering::SeqCst), high.as_raw_fd());
}
