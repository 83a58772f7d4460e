//! `sys.rs`'s tests, against real sockets; kept apart so that the one
//! file that calls C stays short enough to read.

use super::*;
use std::io::{Read, Write};
use std::net::TcpListener;
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
