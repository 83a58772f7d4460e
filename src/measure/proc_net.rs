//! What the kernel holds for a TCP connection, read from `/proc/net/tcp`,
//! and how much memory all TCP sockets take, from `/proc/net/sockstat`.
//!
//! Bytes a server has written but the client has not read wait in the
//! server's kernel send buffer (`tx_queue`) and the client's kernel receive
//! buffer (`rx_queue`): kernel memory, never in the server's RSS. The demo
//! reads them here to give every link of the flow-control chain a number.
//!
//! A line of `/proc/net/tcp` looks like this (the columns after the queues
//! left out):
//!
//! ```text
//!   sl  local_address rem_address   st tx_queue rx_queue …
//!    2: 0100007F:857B 0100007F:ED36 01 003AA000:00000000 …
//! ```
//!
//! Addresses are hex: the IPv4 address is its network-order bytes printed
//! as a native-endian number, so `to_ne_bytes` recovers them (on x86,
//! `0100007F` is 127.0.0.1); ports are in host order (`857B` is 34171).
//! Only IPv4 is read: the demo always runs on 127.0.0.1.
//!
//! `/proc/net/sockstat` has a line `TCP: inuse 4 orphan 0 tw 0 alloc 4 mem 899`,
//! where `mem` counts pages of memory in all TCP socket buffers of the
//! machine. Converting it to bytes assumes [`PAGE_BYTES`].

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// The page size `sockstat`'s `mem` is counted in. 4096 bytes on x86-64 and
/// on most Linux machines; std cannot ask the kernel (that takes `sysconf`),
/// so this is a stated assumption, and the CSV keeps the raw page count.
pub const PAGE_BYTES: u64 = 4096;

/// Most bytes read from one `/proc/net/*` file: about 100 000 sockets of
/// 150 bytes; past that the demo misses lines rather than grow unbounded,
/// and never reads the line the limit cuts.
pub const MAX_PROC_NET_BYTES: u64 = 16 * 1024 * 1024;

/// One socket's line of `/proc/net/tcp`: the fields the demo needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSocket {
    /// This end of the connection.
    pub local: SocketAddr,
    /// The other end (`0.0.0.0:0` for a listening socket).
    pub remote: SocketAddr,
    /// The TCP state, as the kernel numbers it: `01` established, `04`
    /// FIN_WAIT1 (closed, still sending what it holds), `0A` listening.
    pub state: u8,
    /// Written by the application, not yet acknowledged by the peer.
    pub tx_queue: u64,
    /// Received, not yet read by the application.
    pub rx_queue: u64,
}

/// Parses one line of `/proc/net/tcp`; `None` for the header or anything malformed.
pub fn parse_tcp_line(line: &str) -> Option<TcpSocket> {
    let mut fields = line.split_whitespace();
    let _slot = fields.next()?.strip_suffix(':')?;
    let local = parse_ipv4_endpoint(fields.next()?)?;
    let remote = parse_ipv4_endpoint(fields.next()?)?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    let (tx, rx) = fields.next()?.split_once(':')?;
    Some(TcpSocket {
        local,
        remote,
        state,
        tx_queue: u64::from_str_radix(tx, 16).ok()?,
        rx_queue: u64::from_str_radix(rx, 16).ok()?,
    })
}

/// `0100007F:857B` → 127.0.0.1:34171.
fn parse_ipv4_endpoint(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    if ip.len() != 8 || port.len() != 4 {
        return None;
    }
    // Printed as a native-endian number, so its native-endian bytes are the address.
    let ip = Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.to_ne_bytes());
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
}

/// The `mem` of `/proc/net/sockstat`'s `TCP:` line: pages in all TCP socket buffers.
pub fn parse_sockstat_tcp_mem_pages(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("TCP:"))?;
    let mut words = line.split_whitespace().skip(1);
    while let (Some(key), Some(value)) = (words.next(), words.next()) {
        if key == "mem" {
            return value.parse().ok();
        }
    }
    None
}

/// Reads a `/proc` text file, at most [`MAX_PROC_NET_BYTES`] of it.
pub fn read_proc_text(path: &str) -> io::Result<String> {
    read_bounded(File::open(path)?, MAX_PROC_NET_BYTES)
}

/// The text `source` holds, at most `limit` bytes of it, in whole lines:
/// a line the limit cut would parse with numbers it does not have (an
/// `rx_queue` of `0001ECD9` cut to `0001`), so it is dropped with the rest.
fn read_bounded(source: impl Read, limit: u64) -> io::Result<String> {
    let mut text = String::new();
    source.take(limit).read_to_string(&mut text)?;
    if text.len() as u64 == limit && !text.ends_with('\n') {
        text.truncate(text.rfind('\n').map_or(0, |end| end + 1));
    }
    Ok(text)
}

/// The IPv4 TCP sockets of this network namespace; lines that do not parse are skipped.
pub fn read_tcp_table() -> io::Result<Vec<TcpSocket>> {
    Ok(parse_tcp_table(&read_proc_text("/proc/net/tcp")?))
}

/// The sockets of a `/proc/net/tcp` text, in its order, each connection
/// once. The file is no snapshot: each `read` gets at most a page of it,
/// and the next resumes the kernel's walk of its hash table at the same
/// place in the same bucket, so a socket added or removed ahead of that
/// place meanwhile repeats a line or skips one; on a machine with
/// thousands of connections in TIME_WAIT that is common, and a repeated
/// line would have its queues summed twice. A connection is named by its
/// two ends, which no two connected sockets share: a line whose pair came
/// before is that socket again, and dropped. Listeners, with no remote
/// end, may share their local one (`SO_REUSEPORT`), and are all kept. A
/// skipped line cannot be recovered: a sample then misses that socket.
fn parse_tcp_table(text: &str) -> Vec<TcpSocket> {
    let mut connections = HashSet::new();
    text.lines()
        .filter_map(parse_tcp_line)
        .filter(|s| s.remote.port() == 0 || connections.insert((s.local, s.remote)))
        .collect()
}

/// Pages in all TCP socket buffers, from `/proc/net/sockstat`.
pub fn read_tcp_mem_pages() -> io::Result<Option<u64>> {
    read_proc_text("/proc/net/sockstat").map(|text| parse_sockstat_tcp_mem_pages(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured (x86-64, Linux 6.18) while a client held a bounded export
    /// unread: listening sockets, then both ends of the stalled connection.
    const CAPTURED: &str = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:857B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 132430 1 00000000bffd9599 100 0 0 10 0
   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1667 1 0000000015d3491d 100 0 0 10 0
   2: 0100007F:857B 0100007F:ED36 01 003AA000:00000000 04:00000048 00000000     0        1 132431 2 00000000872353ee 20 4 27 15 -1
   3: 0100007F:ED36 0100007F:857B 01 00000000:0001ECD9 00:00000000 00000000     0        0 131999 1 000000003d395c6a 20 8 0 13 -1
";

    fn socket(local: &str, remote: &str, state: u8, tx_queue: u64, rx_queue: u64) -> TcpSocket {
        let (local, remote) = (local.parse().unwrap(), remote.parse().unwrap());
        TcpSocket {
            local,
            remote,
            state,
            tx_queue,
            rx_queue,
        }
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn parses_lines_captured_on_this_machine() {
        let table: Vec<TcpSocket> = CAPTURED.lines().filter_map(parse_tcp_line).collect();
        // The header is skipped; every field of every socket is checked.
        let expected = [
            socket("127.0.0.1:34171", "0.0.0.0:0", 0x0A, 0, 0),
            socket("0.0.0.0:2024", "0.0.0.0:0", 0x0A, 0, 0),
            // The server's end: 3.8 MB written and unacknowledged.
            socket("127.0.0.1:34171", "127.0.0.1:60726", 1, 0x3A_A000, 0),
            // The client's end: 126 169 bytes arrived and unread.
            socket("127.0.0.1:60726", "127.0.0.1:34171", 1, 0, 126_169),
        ];
        assert_eq!(table, expected);
    }

    /// A connection listed twice, as a read of the live file can list it,
    /// is one socket, with the queues of its first line; listeners sharing
    /// a port (`SO_REUSEPORT`) are distinct sockets, and are all kept.
    #[test]
    #[cfg(target_endian = "little")]
    fn a_connection_listed_twice_is_one_socket() {
        let lines: Vec<&str> = CAPTURED.lines().collect();
        // The server's end again, a page later, its queue since grown; and
        // the first listener's twin.
        let again = lines[3]
            .replacen("   2:", "  27:", 1)
            .replace("003AA000", "003AB000");
        let twin = lines[1].replacen("   0:", "  28:", 1);
        let text = [CAPTURED, &again, "\n", &twin, "\n"].concat();
        let table = parse_tcp_table(&text);
        let server_end = |s: &&TcpSocket| s.remote.port() == 0xED36;
        let server_ends: Vec<&TcpSocket> = table.iter().filter(server_end).collect();
        assert_eq!(server_ends.len(), 1, "{table:#?}");
        assert_eq!(server_ends[0].tx_queue, 0x3A_A000);
        let listeners = table.iter().filter(|s| s.state == 0x0A).count();
        assert_eq!((listeners, table.len()), (3, 5), "{table:#?}");
    }

    /// Connections that share one end are distinct sockets, all kept: a
    /// listener's accepted connections share their local end, and a
    /// client's connections to one server their remote end. Only both ends
    /// name a connection.
    #[test]
    #[cfg(target_endian = "little")]
    fn connections_sharing_one_end_are_all_kept() {
        let lines: Vec<&str> = CAPTURED.lines().collect();
        // A second client, port 60727: its server end and its own end.
        let second = |line: &str, sl: &str| {
            line.replace("0100007F:ED36", "0100007F:ED37")
                .replacen(&line[..5], sl, 1)
        };
        let server_end = second(lines[3], "  27:");
        let client_end = second(lines[4], "  28:");
        let text = [CAPTURED, &server_end, "\n", &client_end, "\n"].concat();
        let every_line: Vec<TcpSocket> = text.lines().filter_map(parse_tcp_line).collect();
        assert_eq!(every_line.len(), 6, "{every_line:#?}");
        assert_eq!(parse_tcp_table(&text), every_line);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        for line in [
            "",
            "   0: 0100007F:857B",
            "   0 0100007F:857B 00000000:0000 0A 00000000:00000000",
            "   0: 100007F:857B 00000000:0000 0A 00000000:00000000",
            "   0: 0100007F:857B 00000000:0000 0A 00000000-00000000",
            "   0: 0100007G:857B 00000000:0000 0A 00000000:00000000",
            "   0: 0100007F:857B 00000000:0000 0A 0000000Z:00000000",
            "   0: 0100007F:857B 00000000:0000 XY 00000000:00000000",
        ] {
            assert_eq!(parse_tcp_line(line), None, "{line:?}");
        }
    }

    /// Only a text the limit cut loses its unfinished last line: a shorter
    /// one is read whole, newline or not.
    #[test]
    fn a_text_under_the_limit_is_read_whole() {
        let text = read_bounded(&b"a\nb"[..], 100).unwrap();
        assert_eq!(text, "a\nb");
        assert_eq!(read_bounded(&b"a\nbc"[..], 4).unwrap(), "a\n");
    }

    /// A first line the limit cut is dropped as a later one is: with no
    /// whole line read, the text is empty, not the line's first bytes.
    #[test]
    fn a_first_line_cut_at_the_limit_leaves_nothing() {
        assert_eq!(read_bounded(&b"abc\n"[..], 2).unwrap(), "");
    }

    /// A table longer than the limit loses its last sockets, never
    /// misreads one: a line cut at the limit (here inside its `rx_queue`,
    /// `0001ECD9` cut to `0001`) is dropped, not read as a smaller queue.
    #[test]
    #[cfg(target_endian = "little")]
    fn a_line_cut_at_the_limit_is_dropped_not_misread() {
        let lines: Vec<&str> = CAPTURED.lines().collect();
        let whole = lines[..4].join("\n") + "\n";
        let last = lines[4];
        let cut_at = last.find(":0001ECD9").unwrap() + ":0001".len();
        let limit = (whole.len() + cut_at) as u64;
        let text = read_bounded(CAPTURED.as_bytes(), limit).unwrap();
        let table: Vec<TcpSocket> = text.lines().filter_map(parse_tcp_line).collect();
        assert_eq!(table.len(), 3, "{table:#?}");
        assert!(table.iter().all(|s| s.rx_queue == 0), "{table:#?}");
        // Whole, every line is read.
        let text = read_bounded(CAPTURED.as_bytes(), MAX_PROC_NET_BYTES).unwrap();
        assert_eq!(text.lines().filter_map(parse_tcp_line).count(), 4);
    }

    #[test]
    fn parses_sockstat_captured_on_this_machine() {
        let text = "sockets: used 187\nTCP: inuse 4 orphan 0 tw 0 alloc 4 mem 899\n\
                    UDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n";
        assert_eq!(parse_sockstat_tcp_mem_pages(text), Some(899));
        assert_eq!(parse_sockstat_tcp_mem_pages("UDP: inuse 0 mem 3\n"), None);
        assert_eq!(parse_sockstat_tcp_mem_pages("TCP: inuse 4 mem\n"), None);
        assert_eq!(parse_sockstat_tcp_mem_pages("TCP: inuse 4 mem x\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_the_live_tables() {
        // The test binary's own listening socket must be in the table.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let table = read_tcp_table().unwrap();
        assert!(table.iter().any(|socket| socket.local == local), "{local}");
        assert!(read_tcp_mem_pages().unwrap().is_some());
    }

    /// A port is four hex digits, as the kernel prints it: a field of
    /// another width is no endpoint this parser knows.
    #[test]
    fn a_port_of_another_width_is_skipped() {
        let line = "   0: 0100007F:57B 00000000:0000 0A 00000000:00000000";
        assert_eq!(parse_tcp_line(line), None);
    }
}
