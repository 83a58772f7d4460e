//! Nothing is lost: every mode, chunk size and channel depth sends exactly
//! the same bytes, checked against an independent reference generator, over
//! real sockets, through a strict chunked decoder.

mod common;

use common::h2::{H2, read_responses};
use common::{
    DEPTH_MODES, MODES, Server, assert_same_bytes, chunk_sizes, get, head, metrics, reference_csv,
    reference_csv_len, request,
};
/// The server's default `--chunk-bytes`.
const DEFAULT_CHUNK_BYTES: usize = 48 * 1024;

/// Fetches an export over HTTP/1.1 and returns its decoded body, checking the
/// framing each mode promises on the way.
fn fetch(server: &Server, rows: u64, mode: &str, chunk_bytes: usize) -> Vec<u8> {
    let response = get(
        server.addr(),
        &format!("/export.csv?rows={rows}&mode={mode}"),
    );
    assert_eq!(
        response.status,
        200,
        "{mode} rows={rows}: {}",
        response.body_text()
    );
    assert_eq!(
        response.header("Content-Type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        response.header("Content-Disposition"),
        Some("attachment; filename=\"export.csv\"")
    );
    assert_eq!(response.header("Connection"), Some("close"));
    if mode == "buffer" {
        assert!(response.header("Transfer-Encoding").is_none());
        assert!(response.header("Content-Length").is_some());
    } else {
        assert_eq!(
            response.header("Transfer-Encoding"),
            Some("chunked"),
            "{mode}"
        );
        assert!(response.header("Content-Length").is_none(), "{mode}");
        // Every streaming mode fills whole chunks (pipeline's one buffer is
        // a chunk too); only the last may be shorter.
        let sizes = chunk_sizes(&response.body).expect("strict chunked framing");
        let (last, full) = sizes.split_last().unwrap_or((&0, &[]));
        assert!(
            full.iter().all(|&size| size == chunk_bytes) && (1..=chunk_bytes).contains(last),
            "{mode}: chunks other than {chunk_bytes} bytes and a last of 1..={chunk_bytes}: {:?}",
            sizes
                .iter()
                .filter(|&&size| size != chunk_bytes)
                .take(5)
                .collect::<Vec<_>>()
        );
    }
    response.body_decoded()
}

/// The tests iterate `common::MODES`, a list of their own: a mode the
/// server has and the list lacks would be tested nowhere, silently.
#[test]
fn the_tests_list_every_mode_the_server_has() {
    let server_modes = backpressure::Mode::ALL.map(backpressure::Mode::as_str);
    // As slices: arrays of two lengths would not compile, without the message.
    assert_eq!(
        server_modes[..],
        MODES[..],
        "MODES in tests/common/mod.rs lists Mode::ALL's names, in order: a new mode \
         goes there (and in DEPTH_MODES if --channel-depth changes it)"
    );
}

#[test]
fn known_lines_and_lengths() {
    let server = Server::start(&[]);
    let body = fetch(&server, 123_457, "bounded", DEFAULT_CHUNK_BYTES);
    let text = String::from_utf8(body).expect("the export is ASCII");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,created_at,customer,amount,status");
    assert_eq!(
        lines[1],
        "1,2026-01-01T00:00:00Z,cust-07919,1047.29,pending"
    );
    assert_eq!(lines[4], "4,2026-01-01T00:01:51Z,cust-31676,4189.16,paid");
    assert_eq!(
        lines[123_457],
        "123457,2026-02-22T20:51:12Z,cust-55983,5281.53,pending"
    );
    assert_eq!(lines.len(), 123_458);
    assert!(text.ends_with('\n'));

    assert_eq!(
        fetch(&server, 1000, "pipeline", DEFAULT_CHUNK_BYTES).len() as u64,
        reference_csv_len(1000)
    );

    // The 385 MB export's exact size, without sending it: buffer mode knows
    // its Content-Length up front, and HEAD gets the same head as GET.
    let response = head(server.addr(), "/export.csv?rows=7000000&mode=buffer");
    assert_eq!(response.status, 200);
    let length = reference_csv_len(7_000_000).to_string();
    assert_eq!(response.header("Content-Length"), Some(&*length));
    assert!(response.body.is_empty());
    // Rows 1842423 (2028-02-29) and 7000000 are too far in for a test to
    // download: the server's rendering of them is unit-tested in
    // src/export/csv_rows.rs, the independent reference's in tests/test_support.rs.
}

/// Every mode × chunk size × channel depth gives the reference bytes, over
/// HTTP/1.1 and, from 7 bytes a chunk, over HTTP/2.
///
/// 100 000 rows (5.3 MB) run at chunk sizes of 4 KiB and up only: at 1 or 7
/// bytes a chunk they are millions of channel hand-offs and syscalls (over a
/// minute in a debug build) and would test nothing the 1000-row case does not.
#[test]
fn every_mode_chunk_size_and_depth_sends_identical_bytes() {
    let references: Vec<(u64, Vec<u8>)> = [0, 1, 1000, 100_000]
        .into_iter()
        .map(|rows| (rows, reference_csv(rows)))
        .collect();
    // A server per chunk size and depth, all side by side: the work is
    // the servers' and the clients' syscalls (a byte a chunk, most of
    // it), and one server after another it kept one core of two busy
    // for 6 s.
    let references = &references;
    std::thread::scope(|scope| {
        for chunk_bytes in [1, 7, 4096, 16 * 1024, 1024 * 1024] {
            for depth in [0, 1, 4] {
                scope.spawn(move || sends_identical_bytes(chunk_bytes, depth, references));
            }
        }
    });
}

/// An export over HTTP/2, its body as the DATA frames of a stream that
/// ended with END_STREAM, on a connection of its own whose windows never
/// close.
fn fetch_http2(server: &Server, rows: u64, mode: &str) -> Vec<u8> {
    let mut h2 = H2::connect_wide_open(server.addr());
    h2.get(1, "GET", &format!("/export.csv?rows={rows}&mode={mode}"));
    let response = read_responses(&mut h2, &[1], false).remove(0);
    assert_eq!(response.status(), 200, "{mode} rows={rows} over HTTP/2");
    assert!(response.ended, "{mode} rows={rows}: no END_STREAM");
    response.body
}

/// The test above at one chunk size and channel depth.
fn sends_identical_bytes(chunk_bytes: usize, depth: usize, references: &[(u64, Vec<u8>)]) {
    let server = Server::start(&[
        "--chunk-bytes",
        &chunk_bytes.to_string(),
        "--channel-depth",
        &depth.to_string(),
    ]);
    // Depth changes only some modes; the others run once per chunk size.
    let modes: &[&str] = if depth == 1 { &MODES } else { &DEPTH_MODES };
    for (rows, reference) in references {
        if *rows == 100_000 && chunk_bytes < 4096 {
            continue;
        }
        for mode in modes {
            let body = fetch(&server, *rows, mode, chunk_bytes);
            let what = format!("{mode} rows={rows} chunk={chunk_bytes} depth={depth}");
            assert_same_bytes(&body, reference, &what);
            // Over HTTP/2 from 7 bytes a chunk: at one, 1,000 rows are
            // 53,000 hand-offs, 9 s of a debug build, and test nothing 7
            // bytes do not.
            if chunk_bytes > 1 {
                let body = fetch_http2(&server, *rows, mode);
                assert_same_bytes(&body, reference, &format!("{what} over HTTP/2"));
            }
        }
    }
    // Everything produced was sent: no mode has a byte left queued.
    let m = metrics(server.addr());
    for mode in MODES {
        let series = format!("backpressure_queued_bytes{{mode=\"{mode}\"}}");
        assert_eq!(
            m.value(&series),
            0.0,
            "{mode} chunk={chunk_bytes} depth={depth}"
        );
    }
}

#[test]
fn head_sends_the_get_head_and_no_body() {
    let server = Server::start(&[]);
    for mode in MODES {
        let target = format!("/export.csv?rows=1000&mode={mode}");
        let got = get(server.addr(), &target);
        let headed = head(server.addr(), &target);
        assert_eq!(headed.status, 200);
        // Each head is dated when it is written, and a second may tick
        // between the two requests: the Date must be there, not the same.
        let undated = |r: &common::RawResponse| -> Vec<(String, String)> {
            assert!(r.header("Date").is_some(), "{mode}: no Date in {r:?}");
            let fields = r
                .headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("Date"));
            fields.cloned().collect()
        };
        assert_eq!(undated(&headed), undated(&got), "{mode}");
        assert!(headed.body.is_empty(), "{mode}: HEAD must not send a body");
    }
}

/// HTTP/1.0 has no chunked encoding: streaming modes send the raw body and
/// end it by closing; buffer mode still knows its length.
#[test]
fn http_1_0_gets_a_close_delimited_body() {
    let server = Server::start(&["--chunk-bytes", "7"]);
    let reference = reference_csv(1000);
    for mode in MODES {
        let raw = format!("GET /export.csv?rows=1000&mode={mode} HTTP/1.0\r\n\r\n");
        let response = request(server.addr(), raw.as_bytes());
        assert_eq!(response.status, 200, "{mode}");
        assert!(
            response.header("Transfer-Encoding").is_none(),
            "{mode}: no chunked for 1.0"
        );
        if mode == "buffer" {
            let length = reference.len().to_string();
            assert_eq!(response.header("Content-Length"), Some(&*length));
        } else {
            assert!(response.header("Content-Length").is_none(), "{mode}");
        }
        assert_same_bytes(&response.body, &reference, &format!("{mode}'s raw body"));
    }
}
