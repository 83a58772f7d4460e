//! Tests of the test-support code itself. The other integration tests trust
//! these helpers to judge the server, so the helpers must be shown right on
//! their own, without the server binary running.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::catch_unwind;
use std::thread;
use std::time::{Duration, UNIX_EPOCH};

use common::{
    CSV_HEADER, CalendarTime, ChunkError, Metrics, ReferenceRows, after_stamp_between,
    assert_same_bytes, chunk_sizes, decode_chunked, parse_response, read_by_peer, reference_csv,
    reference_csv_len, reference_line, tcp_socket, thread_waits_in, wait_until,
};

// --- chunked decoding -------------------------------------------------------

#[test]
fn chunked_decoder_accepts_several_chunks() {
    let wire = b"5\r\nhello\r\n1\r\n,\r\n6\r\n world\r\n0\r\n\r\n";
    assert_eq!(decode_chunked(wire).unwrap(), b"hello, world");
    assert_eq!(chunk_sizes(wire).unwrap(), vec![5, 1, 6]);
}

#[test]
fn chunked_decoder_accepts_upper_and_lower_hex_and_leading_zeros() {
    let data = [b'x'; 26];
    for size in ["1a", "1A", "001a"] {
        let mut wire = format!("{size}\r\n").into_bytes();
        wire.extend_from_slice(&data);
        wire.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(decode_chunked(&wire).unwrap(), data, "size {size}");
    }
}

#[test]
fn chunked_decoder_accepts_empty_body() {
    assert_eq!(decode_chunked(b"0\r\n\r\n").unwrap(), b"");
    assert_eq!(chunk_sizes(b"0\r\n\r\n").unwrap(), Vec::<usize>::new());
}

#[test]
fn chunked_decoder_keeps_crlf_inside_data() {
    // Data is counted, not scanned: a CRLF inside it is just data.
    assert_eq!(
        decode_chunked(b"4\r\n\r\n\r\n\r\n0\r\n\r\n").unwrap(),
        b"\r\n\r\n"
    );
}

/// Each malformed wire with the error it must produce; one table so a new
/// case is one line.
#[test]
fn chunked_decoder_rejects_malformed_framing() {
    use ChunkError::*;
    // Kept one case per line: a table reads better than rustfmt's layout.
    #[rustfmt::skip]
    let cases: &[(&str, &[u8], ChunkError)] = &[
        ("bad hex",                 b"g\r\nx\r\n0\r\n\r\n",            BadSize { at: 0 }),
        ("0x prefix",               b"0x5\r\nhello\r\n0\r\n\r\n",      MissingCrlfAfterSize { at: 1 }),
        ("leading space",           b" 5\r\nhello\r\n0\r\n\r\n",       BadSize { at: 0 }),
        ("trailing space",          b"5 \r\nhello\r\n0\r\n\r\n",       MissingCrlfAfterSize { at: 1 }),
        ("bare LF after size",      b"5\nhello\r\n0\r\n\r\n",          MissingCrlfAfterSize { at: 1 }),
        ("empty size line",         b"\r\n0\r\n\r\n",                  BadSize { at: 0 }),
        ("chunk extension",         b"5;name=v\r\nhello\r\n0\r\n\r\n", ChunkExtension { at: 1 }),
        ("extension on last chunk", b"0;x\r\n\r\n",                    ChunkExtension { at: 1 }),
        ("size overflow",           b"10000000000000000\r\n",          SizeOverflow { at: 0 }),
        ("no CRLF after data",      b"3\r\nhello\r\n0\r\n\r\n",        MissingCrlfAfterData { at: 6 }),
        ("size larger than data",   b"7\r\nhello\r\n0\r\n\r\n",        MissingCrlfAfterData { at: 10 }),
        ("data shorter than size",  b"9\r\nhello",                     Truncated { at: 8 }),
        ("ends in size line",       b"5",                              Truncated { at: 1 }),
        ("ends after data",         b"5\r\nhello",                     Truncated { at: 8 }),
        ("ends between CR and LF",  b"5\r\nhello\r",                   Truncated { at: 8 }),
        ("empty wire",              b"",                               NoFinalChunk { at: 0 }),
        ("no final chunk",          b"5\r\nhello\r\n",                 NoFinalChunk { at: 10 }),
        ("no final CRLF",           b"5\r\nhello\r\n0\r\n",            MissingFinalCrlf { at: 13 }),
        ("half a final CRLF",       b"0\r\n\r",                        MissingFinalCrlf { at: 3 }),
        ("trailer field",           b"0\r\nX-T: 1\r\n\r\n",            MissingFinalCrlf { at: 3 }),
        ("bytes after the end",     b"0\r\n\r\nHTTP/1.1",              TrailingBytes { at: 5 }),
        ("a second body",           b"0\r\n\r\n0\r\n\r\n",             TrailingBytes { at: 5 }),
    ];
    for (name, wire, expected) in cases {
        assert_eq!(decode_chunked(wire).as_ref(), Err(expected), "case: {name}");
        assert_eq!(chunk_sizes(wire).as_ref(), Err(expected), "case: {name}");
    }
}

// --- reference CSV ----------------------------------------------------------

/// Lines given in the spec; the reference must reproduce them exactly.
const KNOWN_LINES: [(u64, &str); 5] = [
    (1, "1,2026-01-01T00:00:00Z,cust-07919,1047.29,pending"),
    (4, "4,2026-01-01T00:01:51Z,cust-31676,4189.16,paid"),
    (
        123_457,
        "123457,2026-02-22T20:51:12Z,cust-55983,5281.53,pending",
    ),
    (
        1_842_423,
        "1842423,2028-02-29T00:00:14Z,cust-47737,1183.67,failed",
    ),
    (
        7_000_000,
        "7000000,2034-03-17T16:26:03Z,cust-00000,0.00,paid",
    ),
];

#[test]
fn reference_line_reproduces_known_lines() {
    for (n, line) in KNOWN_LINES {
        assert_eq!(reference_line(n), line);
    }
}

#[test]
fn reference_rows_reproduce_known_lines_by_walking_every_row() {
    // reference_line jumps; the generator steps 37 s at a time. Walking the
    // calendar alone through 7M rows checks the stepping path on the far lines
    // without formatting 7M rows.
    let mut clock = CalendarTime::epoch();
    let mut known = KNOWN_LINES.iter().peekable();
    for n in 1..=7_000_000u64 {
        if let Some((_, line)) = known.next_if(|(k, _)| *k == n) {
            let timestamp = line.split(',').nth(1).unwrap();
            assert_eq!(clock.to_string(), timestamp, "row {n}");
        }
        clock.advance(37);
    }
    assert!(known.next().is_none(), "not every known line was reached");

    let small: Vec<String> = ReferenceRows::new(123_457).collect();
    assert_eq!(small[0], KNOWN_LINES[0].1);
    assert_eq!(small[3], KNOWN_LINES[1].1);
    assert_eq!(small[123_456], KNOWN_LINES[2].1);
}

#[test]
fn reference_line_agrees_with_the_generator() {
    // The jump and the 37 s steps are two routes through the calendar; 200k
    // rows take them both past the end of February 2026.
    for (i, line) in ReferenceRows::new(200_000).enumerate().step_by(997) {
        assert_eq!(reference_line(i as u64 + 1), line);
    }
}

/// Row pairs straddling month, year and leap-day boundaries, computed with an
/// unrelated date library (Python's datetime), not with this code.
const BOUNDARY_LINES: [(u64, &str); 16] = [
    (
        137_773,
        "137773,2026-02-28T23:59:24Z,cust-24387,8285.17,pending",
    ),
    (
        137_774,
        "137774,2026-03-01T00:00:01Z,cust-32306,9332.46,refunded",
    ),
    (
        280_217,
        "280217,2026-04-30T23:59:52Z,cust-38423,8461.93,pending",
    ),
    (
        280_218,
        "280218,2026-05-01T00:00:29Z,cust-46342,9509.22,refunded",
    ),
    (
        852_325,
        "852325,2026-12-31T23:59:48Z,cust-61675,1449.25,pending",
    ),
    (
        852_326,
        "852326,2027-01-01T00:00:25Z,cust-69594,2496.54,refunded",
    ),
    (
        1_842_422,
        "1842422,2028-02-28T23:59:37Z,cust-39818,136.38,refunded",
    ),
    (
        1_842_423,
        "1842423,2028-02-29T00:00:14Z,cust-47737,1183.67,failed",
    ),
    (
        1_844_757,
        "1844757,2028-02-29T23:59:32Z,cust-30683,5558.53,pending",
    ),
    (
        1_844_758,
        "1844758,2028-03-01T00:00:09Z,cust-38602,6605.82,refunded",
    ),
    (
        3_411_633,
        "3411633,2029-12-31T23:59:44Z,cust-21727,9124.57,pending",
    ),
    (
        3_411_634,
        "3411634,2030-01-01T00:00:21Z,cust-29646,171.86,refunded",
    ),
    (
        5_254_055,
        "5254055,2032-02-28T23:59:58Z,cust-61545,9260.95,failed",
    ),
    (
        5_254_056,
        "5254056,2032-02-29T00:00:35Z,cust-69464,308.24,paid",
    ),
    (
        5_256_390,
        "5256390,2032-02-29T23:59:53Z,cust-52410,4683.10,refunded",
    ),
    (
        5_256_391,
        "5256391,2032-03-01T00:00:30Z,cust-60329,5730.39,failed",
    ),
];

#[test]
fn calendar_crosses_month_year_and_leap_day_boundaries() {
    for (n, line) in BOUNDARY_LINES {
        assert_eq!(reference_line(n), line);
    }
}

#[test]
fn calendar_applies_the_gregorian_leap_rule() {
    // 2100 is not a leap year, 2000 is: the century rules, beyond our range.
    let mut t = CalendarTime {
        year: 2100,
        month: 2,
        day: 28,
        hour: 23,
        minute: 59,
        second: 59,
    };
    t.advance(1);
    assert_eq!(t.to_string(), "2100-03-01T00:00:00Z");
    let mut t = CalendarTime {
        year: 2000,
        month: 2,
        day: 28,
        hour: 23,
        minute: 59,
        second: 59,
    };
    t.advance(1);
    assert_eq!(t.to_string(), "2000-02-29T00:00:00Z");
    // A whole leap year from 2028-01-01 is 366 days.
    let mut t = CalendarTime {
        year: 2028,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
    };
    t.advance(366 * 86_400);
    assert_eq!(t.to_string(), "2029-01-01T00:00:00Z");
}

#[test]
fn zero_rows_is_just_the_header() {
    assert_eq!(reference_csv(0), CSV_HEADER.as_bytes());
    assert_eq!(reference_csv_len(0), CSV_HEADER.len() as u64);
}

#[test]
fn thousand_rows_has_the_known_length_and_shape() {
    let csv = reference_csv(1000);
    assert_eq!(csv.len(), 51_073);
    let text = String::from_utf8(csv).unwrap();
    assert!(text.starts_with(CSV_HEADER));
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count(), 1001);
}

#[test]
fn reference_csv_len_agrees_with_reference_csv() {
    // Row counts around the points where id and amount widths change.
    for rows in [1, 2, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 12_345] {
        assert_eq!(
            reference_csv_len(rows),
            reference_csv(rows).len() as u64,
            "rows {rows}"
        );
    }
}

#[test]
fn reference_csv_len_of_seven_million_rows() {
    assert_eq!(reference_csv_len(7_000_000), 384_861_933);
}

#[test]
fn same_bytes_pass_and_a_difference_is_placed() {
    assert_same_bytes(b"a,b\n", b"a,b\n", "equal");
    let caught = std::panic::catch_unwind(|| assert_same_bytes(b"a,b\nc", b"a,x\n", "the export"));
    let message = *caught
        .expect_err("a difference panics")
        .downcast::<String>()
        .unwrap();
    assert!(
        message
            .starts_with("the export: 5 bytes where 4 were expected, first different at byte 2:"),
        "{message}"
    );
    // One a prefix of the other: they part where the shorter ends.
    let caught = std::panic::catch_unwind(|| assert_same_bytes(b"a,b", b"a,b\n", "cut"));
    let message = *caught
        .expect_err("a cut body panics")
        .downcast::<String>()
        .unwrap();
    assert!(message.contains("first different at byte 3"), "{message}");
}

// --- Prometheus text --------------------------------------------------------

#[test]
fn metrics_parser_reads_labels_and_skips_comments() {
    let text = "\
# HELP backpressure_queued_bytes Bytes produced but not yet written to the socket.
# TYPE backpressure_queued_bytes gauge
backpressure_queued_bytes{mode=\"bounded\"} 4096
backpressure_queued_bytes{mode=\"unbounded\"} 1.5e6

# HELP backpressure_requests_total Requests served.
# TYPE backpressure_requests_total counter
backpressure_requests_total 17
backpressure_label_with_space{path=\"/a b\"} -2.25
";
    let m = Metrics::parse(text);
    assert_eq!(
        m.get("backpressure_queued_bytes{mode=\"bounded\"}"),
        Some(4096.0)
    );
    assert_eq!(
        m.value("backpressure_queued_bytes{mode=\"unbounded\"}"),
        1_500_000.0
    );
    assert_eq!(m.value("backpressure_requests_total"), 17.0);
    assert_eq!(
        m.value("backpressure_label_with_space{path=\"/a b\"}"),
        -2.25
    );
    assert_eq!(m.get("backpressure_queued_bytes"), None);
    assert_eq!(m.get("# TYPE backpressure_requests_total"), None);
    assert_eq!(m.text(), text);
}

#[test]
#[should_panic(expected = "metric missing_total not found")]
fn metrics_value_names_the_missing_series() {
    Metrics::parse("present_total 1\n").value("missing_total");
}

// --- response parsing -------------------------------------------------------

#[test]
fn response_parser_splits_head_and_decodes_chunked_body() {
    let wire = b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\ntransfer-encoding:  chunked\r\n\
                 Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let r = parse_response(wire);
    assert_eq!(r.status, 200);
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.headers.len(), 3);
    assert_eq!(r.header("TRANSFER-ENCODING"), Some("chunked"));
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.header("Content-Length"), None);
    assert_eq!(r.body, b"3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(r.body_decoded(), b"abc");
}

#[test]
fn response_parser_handles_length_and_close_delimited_bodies() {
    let r = parse_response(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
    assert_eq!(r.status, 404);
    assert_eq!(r.body_text(), "not found");
    let r = parse_response(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil EOF");
    assert_eq!(r.body_decoded(), b"until EOF");
}

#[test]
#[should_panic(expected = "body length differs from Content-Length")]
fn response_body_shorter_than_content_length_fails() {
    parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").body_decoded();
}

#[test]
#[should_panic(expected = "invalid chunked body: wire ends without the last chunk")]
fn response_with_unterminated_chunked_body_fails() {
    parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        .body_decoded();
}

// --- log stamps --------------------------------------------------------------

/// [`after_stamp_between`] on instants whose date is known: the epoch, a
/// leap day, and the access log's example; a line stamped outside the
/// span given, or not stamped, or stamped in another form, is refused.
#[test]
fn a_log_stamp_is_read_as_the_second_it_names() {
    let at = |seconds: u64| UNIX_EPOCH + Duration::from_secs(seconds);
    let read = |line, from, to| after_stamp_between(line, at(from), at(to));
    assert_eq!(read("1970-01-01T00:00:00Z a b", 0, 0), "a b");
    let leap_day = 1_709_164_800 + 3_723; // 2024-02-29T01:02:03Z
    assert_eq!(read("2024-02-29T01:02:03Z x", leap_day - 60, leap_day), "x");
    let example = 1_795_329_612; // 2026-11-22T06:40:12Z
    assert_eq!(read("2026-11-22T06:40:12Z y", example, example + 60), "y");
    for (wrong, from) in [
        ("2024-02-29T01:02:03Z x", leap_day + 1),
        ("2024-02-29T01:02:03Z x", leap_day - 61),
        ("2026-11-22 06:40:12Z x", example),
        ("2026-11-22T06:40:12 x", example),
        ("2026-11-22T06:40:12Zx", example),
        ("backpressure: x", example),
    ] {
        let refused = catch_unwind(|| read(wrong, from, from + 60).to_string());
        assert!(refused.is_err(), "{wrong} from {from}");
    }
}

// --- what the kernel shows ---------------------------------------------------

/// [`read_by_peer`] is done once the peer has read every byte, and also
/// once the peer reset the connection with bytes unread, whether the reset
/// came before the wait began or while it waited: nothing more will be
/// read, as when a client that met a lie exits mid-answer (the lying
/// servers of `tests/slow_client.rs` wait here after every part).
#[test]
fn read_by_peer_returns_once_the_peer_read_all_or_reset() {
    for (reset, before) in [(false, false), (true, true), (true, false)] {
        let case = format!("reset: {reset}, before the wait: {before}");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let there = listener.local_addr().expect("addr");
        let client = TcpStream::connect(there).expect("connect");
        let here = client.local_addr().expect("addr");
        let (mut server, _) = listener.accept().expect("accept");
        server.write_all(b"part").expect("write");
        backpressure::reset_on_close(&client).expect("SO_LINGER 0");
        let reset_now = |client: TcpStream| {
            drop(client);
            wait_until("the reset to arrive", Duration::from_secs(5), || {
                tcp_socket(there, here).ok()?.is_none().then_some(())
            });
        };
        let client = if before {
            reset_now(client);
            None
        } else {
            Some(client)
        };
        let waiter = thread::Builder::new()
            .name("read-by-peer".into())
            .spawn(move || read_by_peer(&server))
            .expect("a thread");
        if let Some(mut client) = client {
            // Seen in one call twice running: it waits between looks.
            let pid = std::process::id();
            let mut last = None;
            wait_until("the wait to begin", Duration::from_secs(5), || {
                let now = thread_waits_in(pid, "read-by-peer").ok()?;
                (last.replace(now) == Some(now)).then_some(())
            });
            if reset {
                reset_now(client);
            } else {
                client.read_exact(&mut [0; 4]).expect("read");
            }
        }
        wait_until(&case, Duration::from_secs(5), || {
            waiter.is_finished().then_some(())
        });
        waiter.join().expect(&case);
    }
}
