//! The server's defenses against slow and hostile clients, over real
//! sockets: the minimum data rate, the head deadline against Slowloris and
//! idle sockets, the connection cap, a storm of disconnects, and the access
//! log that says how each connection ended. The buffering caps have
//! `tests/buffer_caps.rs`.
//!
//! Every limit is set short through its flag, so each test takes seconds,
//! and every test that cuts or stalls a response ends by checking that the
//! server is back at idle: threads, live heap (within a few bytes) and
//! queued bytes.

mod common;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use backpressure::read_tcp_table;
use common::{
    MODES, Server, back_to_idle, get, metrics, number_after, parse_response, reference_csv_len,
    request, run_binary, stalled_request, tcp_socket, wait_until, wait_until_with, warm,
    warmed_server,
};

/// About 65 MB of CSV: far more than loopback socket buffers hold.
const BIG_ROWS: u64 = 1_200_000;
/// Longest any wait in these tests may take before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// Reads from `client` at about `rate` bytes per second for `duration`, in
/// small reads paced against the clock, like a phone on a slow link, until
/// `hurry` is set: then at full speed, through what its kernel still holds
/// (a reset is read only after the data that came before it). Returns the
/// bytes read, or the error that ended the connection.
fn read_at_rate(
    client: &mut TcpStream,
    rate: u64,
    duration: Duration,
    hurry: &AtomicBool,
) -> io::Result<Vec<u8>> {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < duration {
        let allowed = if hurry.load(Ordering::Relaxed) {
            usize::MAX
        } else {
            (rate as f64 * started.elapsed().as_secs_f64()) as usize
        };
        if got.len() >= allowed {
            thread::sleep(Duration::from_millis(5));
            continue;
        }
        let want = (allowed - got.len()).min(buf.len());
        match client.read(&mut buf[..want])? {
            0 => break,
            n => got.extend_from_slice(&buf[..n]),
        }
    }
    Ok(got)
}

// ---------------------------------------------------------------------------
// Slow readers
// ---------------------------------------------------------------------------

/// A reader slower than `--min-rate` is cut once a write has taken longer
/// than its allowance, long before the send timeout (60 s by default): the
/// abort is counted and logged as `min-rate`, the connection is reset (the
/// client learns at once, and the kernel drops what it held), and every
/// resource comes back. (That the rule holds across partial writes is
/// unit-tested in `src/defense/send_deadline/tests.rs`.)
#[test]
fn a_reader_below_the_minimum_rate_is_cut_with_the_reason_counted() {
    // A 48 KiB write gets max(2 s, 48 KiB ÷ 20 000 B/s) = 2.5 s.
    let flags = ["--min-rate", "20000", "--rate-grace", "2s"];
    let (server, idle) = warm(Server::start_logged(&flags));
    let addr = server.addr();
    let started = Instant::now();
    let mut client = stalled_request(addr, &format!("/export.csv?rows={BIG_ROWS}&mode=bounded"));

    // 10 KiB/s, in small reads: steady progress, but a 48 KiB write takes
    // almost 5 s to drain.
    let hurry = Arc::new(AtomicBool::new(false));
    let reader = thread::spawn({
        let hurry = Arc::clone(&hurry);
        move || read_at_rate(&mut client, 10 * 1024, PATIENCE, &hurry)
    });
    let m = wait_until("the min-rate abort", PATIENCE, || {
        let m = metrics(addr);
        (m.aborts("bounded", "min-rate") == 1.0).then_some(m)
    });
    let cut_after = started.elapsed();
    // Cut: the 100 KB or so the client's kernel holds would take 10 s more
    // at 10 KiB/s to read through to the reset.
    hurry.store(true, Ordering::Relaxed);
    let secs = Duration::from_secs;
    assert!(
        (secs(2)..secs(8)).contains(&cut_after),
        "cut after {cut_after:?}"
    );
    assert_eq!(m.aborts("bounded", "send-timeout"), 0.0);
    assert_eq!(m.aborts("bounded", "client-abort"), 0.0);
    assert_eq!(
        m.value("backpressure_resets_total{reason=\"min-rate\"}"),
        1.0
    );

    let error = match reader.join().expect("the reading thread") {
        Ok(read) => panic!("a clean end after {} bytes, not a reset", read.len()),
        Err(error) => error,
    };
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error}");
    back_to_idle(addr, &idle, "the min-rate abort");
    server.log_line("the cut export's line", |l| {
        l.contains("\"GET /export.csv?rows=1200000&mode=bounded HTTP/1.1\" 200")
            && l.ends_with(" end=min-rate")
    });
}

/// The minimum rate judges the client, not this process: a write whose
/// allowance ran out while the server was stopped (SIGSTOP here; a frozen
/// container or a debugger alike), its client meanwhile taking every byte
/// the kernel held, is no slow reader, and the download goes on to its end.
/// Waking past the deadline, the write finds the socket with room and the
/// client caught up: it is tried again, not cut (`end=min-rate`).
#[test]
fn a_pause_of_the_server_is_not_its_clients_slowness() {
    // A 48 KiB write gets max(1 s, 48 KiB ÷ 64 KiB/s) = 1 s; the pause, 1.5,
    // half again as long.
    let flags = ["--min-rate", "64k", "--rate-grace", "1s"];
    let (server, idle) = warm(Server::start_logged(&flags));
    let addr = server.addr();
    let rows = 60_000;
    let mut client = stalled_request(addr, &format!("/export.csv?rows={rows}&mode=pipeline"));
    // 1 MiB/s, sixteen times the rule: the body (3.4 MB) takes about 3 s,
    // and the writer waits on a full socket most of that time; the second
    // or more of it left after the pause is far more than the kernels hold.
    let hurry = Arc::new(AtomicBool::new(false));
    let reader = thread::spawn({
        let hurry = Arc::clone(&hurry);
        move || read_at_rate(&mut client, 1 << 20, PATIENCE, &hurry)
    });
    thread::sleep(Duration::from_secs(1));
    server.signal("STOP");
    thread::sleep(Duration::from_millis(1500));
    server.signal("CONT");
    let wire = match reader.join().expect("the reading thread") {
        Ok(wire) => wire,
        Err(error) => panic!("the download was cut after the pause: {error}"),
    };
    let body = parse_response(&wire).body_decoded();
    assert_eq!(body.len() as u64, reference_csv_len(rows), "the whole body");
    let m = back_to_idle(addr, &idle, "the paused download");
    assert_eq!(m.aborts("pipeline", "min-rate"), 0.0);
}

/// A cut response's `body_bytes` is what the kernel took, so never less
/// than what its client read: a write that its deadline ends after the
/// socket took part of it still counts that part. The client reads fast,
/// stalls past the grace, then reads what its kernel holds until the reset.
#[test]
fn a_cut_response_counts_every_byte_its_client_read() {
    let (server, idle) = warm(Server::start_logged(&[
        "--min-rate",
        "200k",
        "--rate-grace",
        "1s",
    ]));
    // The three modes read side by side, each on its own connection, found
    // in the log by its port: one after the other, each stall of 1.5 s
    // waited for the one before it, 4.6 s in all.
    thread::scope(|scope| {
        for mode in ["bounded", "pipeline", "buffer"] {
            let server = &server;
            scope.spawn(move || a_cut_response_counts_what_was_read(server, mode));
        }
    });
    back_to_idle(server.addr(), &idle, "the cut responses");
}

/// One mode of the test above, on `server`.
fn a_cut_response_counts_what_was_read(server: &Server, mode: &str) {
    let target = format!("/export.csv?rows=100000&mode={mode}");
    // A small receive buffer, so that the stall stalls the server: left to
    // autotuning, the client's kernel may take the rest of the 5 MB body
    // while the client sleeps (`tcp_rmem` allows up to 32 MiB on some
    // machines), and the response completes instead of being cut.
    let mut client = backpressure::connect_with_receive_buffer(server.addr(), 64 * 1024, PATIENCE)
        .expect("connect");
    let port = client.local_addr().unwrap().port();
    let request = format!("GET {target} HTTP/1.0\r\n\r\n");
    client.write_all(request.as_bytes()).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut stalled = false;
    let end = loop {
        if got.len() > 300_000 && !stalled {
            thread::sleep(Duration::from_millis(1500));
            stalled = true;
        }
        match client.read(&mut buf) {
            Ok(0) => break "a clean close".to_string(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e.to_string(),
        }
    };
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let read = (got.len() - head_end) as u64;
    let line = server.log_line("the cut response's line", |l| {
        l.contains(&format!(":{port} \"GET {target} HTTP/1.0\" 200"))
    });
    assert!(line.ends_with(" end=min-rate"), "{mode}, {end}: {line}");
    let logged: u64 = line
        .split(" body_bytes=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no body_bytes in {line}"));
    assert!(
        logged >= read,
        "{mode}: the client read {read} body bytes, the log says {logged}: {line}"
    );
}

/// The slow client of the binary, with `args` after the URL; its output.
fn slow_client(url: &str, args: &'static [&'static str]) -> thread::JoinHandle<Output> {
    let mut all = vec!["slow-client".to_string(), url.to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    thread::spawn(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        run_binary(&args, PATIENCE + PATIENCE)
    })
}

/// The seconds a slow client's report says it read for: `… in 6.21 s: …`.
fn reported_seconds(stdout: &str) -> f64 {
    number_after(stdout, " in ", " s")
}

/// The kernel's layer and the minimum rate together, through the real slow
/// client: a 2 KB/s reader with a phone's 4 KiB receive buffer is cut by
/// `--min-rate 20000` after its 2 s grace and sees the server's reset
/// within 4 s of the decision, over HTTP/1.1 and over HTTP/1.0 alike (a
/// reset, where a close would make the 1.0 body look complete), and no
/// server socket is left behind draining to it. On the same server, a
/// 200 KB/s phone reads for 5 s uncut, past both cuts. (A 48 KiB write
/// takes the phone a quarter of a second, a tenth of its allowance,
/// max(2 s, 48 KiB / 20000 B/s) = 2.46 s: a grace of 5 s and a phone of
/// 10 s proved no more, in twice the time.)
#[test]
fn a_slow_reader_is_reset_at_once_and_a_phone_is_never_cut() {
    let (server, idle) = warm(Server::start_logged(&[
        "--min-rate",
        "20000",
        "--rate-grace",
        "2s",
    ]));
    let url = format!(
        "http://{}/export.csv?rows={BIG_ROWS}&mode=bounded",
        server.addr()
    );
    const SLOW: [&str; 6] = ["--rate", "2k", "--receive-buffer", "4k", "--for", "30s"];
    let slow = [
        slow_client(&url, &SLOW),
        slow_client(
            &url,
            &[
                "--rate",
                "2k",
                "--receive-buffer",
                "4k",
                "--for",
                "30s",
                "--http1.0",
            ],
        ),
    ];
    let phone = slow_client(&url, &["--rate", "200k", "--for", "5s"]);

    let cuts = wait_until("both slow readers to be cut", PATIENCE, || {
        let cut: Vec<String> = server
            .log_lines()
            .into_iter()
            .filter(|l| l.ends_with(" end=min-rate"))
            .collect();
        (cut.len() == 2).then_some(cut)
    });
    for line in &cuts {
        // `… 127.0.0.1:50412 "GET …`: the reader's end of the connection.
        let peer: SocketAddr = line.split(' ').nth(1).and_then(|p| p.parse().ok()).unwrap();
        wait_until(
            "the server's socket to the cut reader to be gone",
            Duration::from_secs(2),
            || {
                let table = read_tcp_table().expect("/proc/net/tcp");
                let left = table
                    .iter()
                    .any(|s| s.local == server.addr() && s.remote == peer);
                (!left).then_some(())
            },
        );
    }
    // Each cut's time, by the HTTP version its request line names.
    let cut_at = |version: &str| -> f64 {
        let line = cuts
            .iter()
            .find(|l| l.contains(&format!(" HTTP/{version}\" ")))
            .unwrap_or_else(|| panic!("no cut of the HTTP/{version} reader in {cuts:?}"));
        let ms = line
            .split(" duration_ms=")
            .nth(1)
            .and_then(|r| r.split(' ').next());
        ms.and_then(|ms| ms.parse::<f64>().ok()).unwrap() / 1000.0
    };
    for (reader, version) in slow.into_iter().zip(["1.1", "1.0"]) {
        let output = reader.join().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(output.status.code(), Some(1), "HTTP/{version}: {stdout}");
        assert!(
            stdout.contains("body was cut: read failed: Connection reset"),
            "{stdout}"
        );
        // The reader saw the reset within 4 s of the server's decision to
        // cut it: it first reads, at 2 KB/s, what its kernel already held
        // (about 1 s of it), where without the reset it would read the
        // server's send queue too, at 2 KB/s, until --for ends it.
        let (seen, cut) = (reported_seconds(&stdout), cut_at(version));
        assert!(
            (cut..cut + 4.0).contains(&seen),
            "HTTP/{version}: reset seen at {seen} s, cut at {cut} s"
        );
    }
    let phone = phone.join().unwrap();
    let stdout = String::from_utf8_lossy(&phone.stdout);
    assert_eq!(phone.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("stopped by the time limit"), "{stdout}");
    assert!(reported_seconds(&stdout) >= 5.0, "{stdout}");
    // It read for longer than the server took to cut either slow reader,
    // and started after them: it was still reading when they were cut.
    let last_cut = cut_at("1.1").max(cut_at("1.0"));
    assert!(
        reported_seconds(&stdout) > last_cut,
        "the phone stopped at {stdout}, before the cut at {last_cut} s"
    );
    let m = metrics(server.addr());
    assert_eq!(
        m.aborts("bounded", "min-rate"),
        2.0,
        "only the slow readers"
    );
    assert_eq!(
        m.value("backpressure_resets_total{reason=\"min-rate\"}"),
        2.0
    );
    back_to_idle(server.addr(), &idle, "the cuts and the phone");
}

/// A client that reads nothing at all is cut at the send timeout: within
/// 1.5 times the timeout of its last acknowledgement (the writer looks at
/// its client ten times per timeout; the rest is a loaded machine's), with
/// the kernel's high-water mark and without it. (That the clock runs from
/// what the client acknowledged, not from what the kernel took, loopback
/// cannot show, the two being milliseconds apart: the unit tests in
/// `src/defense/send_deadline/tests.rs` hold that.)
#[test]
fn a_client_that_reads_nothing_is_cut_at_the_send_timeout() {
    // The two cases have a server each and wait out their timeouts side by
    // side: one after the other, the test took twice as long.
    std::thread::scope(|scope| {
        for lowat in ["16k", "off"] {
            scope.spawn(move || send_timeout_cuts_a_reader_of_nothing(lowat));
        }
    });
}

/// One case of the test above: a server with `--notsent-lowat lowat`.
fn send_timeout_cuts_a_reader_of_nothing(lowat: &str) {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let flags = ["--send-timeout", "2s", "--notsent-lowat", lowat];
    let (server, idle) = warm(Server::start_logged(&flags));
    let target = format!("/export.csv?rows={BIG_ROWS}&mode=bounded");
    let asked = Instant::now();
    let client = stalled_request(server.addr(), &target);
    // Timed from the client's last acknowledgement, not from the accept:
    // filling both kernels' buffers first is no part of the stall, and a
    // loaded machine can make it last seconds.
    let stall = stall_before_the_cut(&client, asked);
    assert!(
        stall.most >= TIMEOUT,
        "lowat {lowat}: cut at most {:?} after the last acknowledgement",
        stall.most
    );
    assert!(
        stall.least < TIMEOUT * 3 / 2,
        "lowat {lowat}: cut at least {:?} after the last acknowledgement",
        stall.least
    );
    let line = server.log_line("the send timeout's line", |l| {
        l.ends_with(" end=send-timeout")
    });
    assert!(line.contains(" mode=bounded "), "{line}");
    let m = metrics(server.addr());
    assert_eq!(m.aborts("bounded", "send-timeout"), 1.0);
    assert_eq!(
        m.value("backpressure_resets_total{reason=\"send-timeout\"}"),
        1.0
    );
    drop(client);
    back_to_idle(server.addr(), &idle, &format!("the cut, lowat {lowat}"));
}

/// How long a client went without acknowledging anything before the
/// server cut it, at least and at most: the test sees each moment only
/// between two of its looks.
struct Stall {
    /// From the end of the look that saw the last growth to the start of
    /// the last look that still found a peer: never more than the stall.
    least: Duration,
    /// From the start of the look before the last growth to the end of
    /// the look that found no peer: never less than the stall.
    most: Duration,
}

/// Watches `client`, which reads nothing, from `asked` (before it
/// connected) until the server's reset. What it holds unread grows exactly
/// as its kernel acknowledges bytes, so its last growth is the server's
/// last sign of progress; the reset leaves the socket without a peer. A
/// look at either is no instant (a read of `/proc/net/tcp` takes a while,
/// and may pass a socket by), so each event is placed between the start
/// of the look before it and the end of the look that saw it: a test
/// thread stalled between two looks widens the bounds, it never moves them.
fn stall_before_the_cut(client: &TcpStream, asked: Instant) -> Stall {
    let here = client.local_addr().expect("a local address");
    let there = client.peer_addr().expect("a peer address");
    // Nothing is unread before the connection exists. `seen` is when the
    // last look that found the socket began, `looked` the last look;
    // the unread bytes last grew between the two moments `grew_between`.
    let (mut unread, mut seen, mut looked) = (0, asked, asked);
    let mut grew_between = (asked, asked);
    // A socket never found would time the stall from the request, longer
    // than it was: a cut too early could pass.
    let mut found_once = false;
    let deadline = asked + PATIENCE;
    while Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
        let began = Instant::now();
        let cut = client.peer_addr().is_err();
        let found = tcp_socket(here, there).expect("/proc/net/tcp");
        let ended = Instant::now();
        if cut {
            assert!(found_once, "{here} never found in /proc/net/tcp");
            return Stall {
                least: looked.saturating_duration_since(grew_between.1),
                most: ended.duration_since(grew_between.0),
            };
        }
        // A look that passed the socket by (the table changed under it)
        // says nothing.
        if let Some(socket) = found {
            if socket.rx_queue != unread {
                unread = socket.rx_queue;
                grew_between = (seen, ended);
            }
            seen = began;
            found_once = true;
        }
        looked = began;
    }
    panic!("no cut within {PATIENCE:?}; the client holds {unread} bytes unread");
}

/// The kernel's unsent bytes are bounded per socket too: with the default
/// high-water mark, each of 50 stalled `bounded` connections holds at most
/// the mark plus one 64 KiB write in the server's send queue, whatever the
/// machine's `tcp_wmem` would let it grow to (several MiB by default).
/// `tx_queue` counts bytes in flight too, but a stalled client has shut its
/// window, so none are left once every producer waits.
#[test]
fn the_kernel_send_queue_of_a_stalled_connection_is_bounded_by_the_mark() {
    const CLIENTS: usize = 50;
    const BOUND: u64 = 16 * 1024 + 64 * 1024;
    let (server, idle) = warmed_server(&[]);
    let addr = server.addr();
    let target = format!("/export.csv?rows={BIG_ROWS}&mode=bounded");
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| stalled_request(addr, &target))
        .collect();
    let ports: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    // Stalled: every producer waiting, (1 + 2) × 48 KiB queued per client.
    let queued = (CLIENTS * 3 * 48 * 1024) as f64;
    wait_until("every export to stall", PATIENCE, || {
        let m = metrics(addr);
        (m.value("backpressure_queued_bytes{mode=\"bounded\"}") == queued).then_some(())
    });
    // Each client's server socket, by the client's address: a read of
    // `/proc/net/tcp` is no snapshot, and while the machine's other sockets
    // come and go one read can list a socket twice, or pass one by. So a
    // socket counts once, and a read that missed one is read again.
    let queues = wait_until_with("every client's server socket", PATIENCE, || {
        let table = read_tcp_table().map_err(|e| e.to_string())?;
        let queues: BTreeMap<SocketAddr, u64> = table
            .iter()
            .filter(|s| s.local == addr && ports.contains(&s.remote))
            .map(|s| (s.remote, s.tx_queue))
            .collect();
        match queues.len() {
            CLIENTS => Ok(queues),
            seen => Err(format!("{seen} of {CLIENTS}")),
        }
    });
    let worst = queues.values().max().copied().unwrap_or(0);
    assert!(
        worst <= BOUND,
        "a send queue of {worst} bytes, over {BOUND}"
    );
    assert_eq!(
        metrics(addr).value("backpressure_notsent_lowat_bytes"),
        16384.0
    );
    drop(clients);
    back_to_idle(addr, &idle, "the stalled clients left");
}

// ---------------------------------------------------------------------------
// Slow request heads
// ---------------------------------------------------------------------------

/// A connection that sends nothing at all is closed at the head deadline,
/// counted from accept, with a 408 it can read.
#[test]
fn an_idle_connection_is_closed_at_the_head_deadline() {
    let (server, idle) = warm(Server::start_logged(&["--header-timeout", "1s"]));
    let started = Instant::now();
    let mut client = TcpStream::connect(server.addr()).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut wire = Vec::new();
    client.read_to_end(&mut wire).unwrap();
    let waited = started.elapsed();
    let response = parse_response(&wire);
    assert_eq!(response.status, 408);
    assert_eq!(response.body_text(), "request head not received in time\n");
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(10),
        "closed after {waited:?}"
    );
    back_to_idle(server.addr(), &idle, "the idle connection");
    server.log_line("the 408's line", |l| {
        l.contains(" - 408 mode=- body_bytes=34 ") && l.ends_with("end=header-timeout")
    });
}

/// Slowloris: twice `--max-connections` sockets trickle header bytes. While
/// they last, a real request is answered at once, with a 503 at the cap,
/// never left hanging, and a health check still gets its 200; once the head
/// deadline passes they are all gone and a real request gets its 200.
#[test]
fn slowloris_cannot_hang_the_server() {
    const CAP: usize = 8;
    let flags = ["--max-connections", "8", "--header-timeout", "2s"];
    let (server, idle) = warmed_server(&flags);
    let addr = server.addr();
    // Threads with no connection: idle's count less the scrape's own.
    let base = idle.threads as u64 - 1;
    let rejected_before = metrics(addr).value("backpressure_connections_rejected_total");
    let no_connection = || (server.threads() == base).then_some(());
    wait_until("the scrape's connection to close", PATIENCE, no_connection);
    let mut attackers: Vec<TcpStream> = (0..2 * CAP)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
            s
        })
        .collect();
    // The attack keeps going, one header byte per socket every 100 ms, on a
    // thread, until the sockets die or 5 s pass.
    let attack = thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            let mut alive = false;
            for s in &mut attackers {
                alive |= s.write_all(b"X").is_ok();
            }
            if !alive {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        attackers
    });

    // Meanwhile, with every slot held by an attacker: a 503 within a
    // second, not a hang.
    let every_slot_held = || (server.threads() == base + CAP as u64).then_some(());
    wait_until(
        "the attackers to hold every slot",
        PATIENCE,
        every_slot_held,
    );
    for (path, status) in [("/", 503), ("/healthz", 200)] {
        let mut client = TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        client.write_all(request.as_bytes()).unwrap();
        let mut wire = Vec::new();
        client
            .read_to_end(&mut wire)
            .expect("an answer within a second, not a hang");
        assert_eq!(parse_response(&wire).status, status, "{path}");
    }
    let mut turned_away = 1.0;

    // Every attacker was answered: the first CAP with a 408 at the head
    // deadline, the rest with a 503 at once.
    let attackers = attack.join().unwrap();
    let mut statuses = Vec::new();
    for mut s in attackers {
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut wire = Vec::new();
        let _ = s.read_to_end(&mut wire);
        statuses.push(parse_response(&wire).status);
    }
    let count = |status| statuses.iter().filter(|&&s| s == status).count();
    assert_eq!((count(408), count(503)), (CAP, CAP), "{statuses:?}");
    turned_away += CAP as f64;

    // Their connections may still be closing for a moment: then a 503.
    wait_until("a real request to be served", PATIENCE, || {
        match get(addr, "/").status {
            200 => Some(()),
            _ => {
                turned_away += 1.0;
                None
            }
        }
    });
    let m = back_to_idle(addr, &idle, "the Slowloris attack");
    let rejected = m.value("backpressure_connections_rejected_total");
    assert_eq!(rejected, rejected_before + turned_away);
}

// ---------------------------------------------------------------------------
// The connection cap
// ---------------------------------------------------------------------------

/// At the cap, a new connection gets a whole 503 with `Retry-After` at once
/// (even when its request arrives after the accept), no thread is started
/// for it, and the rejection is counted.
#[test]
fn at_the_connection_cap_a_client_gets_503_and_costs_no_thread() {
    let (server, idle) = warmed_server(&["--max-connections", "2"]);
    let addr = server.addr();
    // Every 503 this test meets is counted, so the server's count can be
    // checked exactly: scrapes and retries at the cap are rejections too.
    let rejected_before = wait_until("a scrape", PATIENCE, || common::try_metrics(addr))
        .value("backpressure_connections_rejected_total");
    let mut turned_away = 0.0;

    let target = format!("/export.csv?rows={BIG_ROWS}&mode=bounded");
    let holders = [
        hold(addr, &target, &mut turned_away),
        hold(addr, &target, &mut turned_away),
    ];
    // Two connections, two threads each (connection and producer): four
    // more than the idle process, which is `idle.threads - 1` seen from
    // /proc (the idle scrape counted its own connection thread).
    let busy_threads = wait_until("both exports to start", PATIENCE, || {
        let t = server.threads();
        (t == idle.threads as u64 + 3).then_some(t)
    });

    for late in [false, true] {
        let mut client = TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        if late {
            // The request arrives after the 503: it is already in our
            // receive buffer before a byte of the request is sent, and the
            // request must not turn into a reset that destroys it.
            let mut first = [0u8; 12];
            let peeked = client.peek(&mut first).expect("the 503 arrives unasked");
            assert!(peeked > 0 && first[..peeked] == b"HTTP/1.1 503"[..peeked]);
        }
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).expect("a whole 503");
        let response = parse_response(&wire);
        assert_eq!(response.status, 503, "late request: {late}");
        turned_away += 1.0;
        assert_eq!(response.header("Retry-After"), Some("1"));
        assert_eq!(
            response.body_text(),
            "server at its connection limit; retry in 1 s\n"
        );
        assert_eq!(
            server.threads(),
            busy_threads,
            "no thread for a rejected client"
        );
        if late {
            // A turned-away socket is kept 1 s from accept (`LINGER_TIME`,
            // timed against its 1 s in tests/connection_cap.rs), however
            // long the client keeps its own side: then the server closes
            // it, and what the client sends is answered with a reset, which
            // a later write reports. Polled, with room for a busy machine.
            wait_until("the turned-away socket to be closed", LINGER_BOUND, || {
                client.write_all(b"more").err()
            });
        }
    }

    drop(holders);
    let m = wait_until("a scrape to get through", PATIENCE, || {
        let m = common::try_metrics(addr);
        if m.is_none() {
            turned_away += 1.0;
        }
        m
    });
    assert_eq!(
        m.value("backpressure_connections_rejected_total"),
        rejected_before + turned_away
    );
    back_to_idle(addr, &idle, "the holders left");
}

/// How long after its 503 a turned-away socket may still be held: five
/// times its `LINGER_TIME`. A server that held it as long as the client
/// did would take all of it and fail.
const LINGER_BOUND: Duration = Duration::from_secs(5);

/// A stalled export that was let in. Right after the server went idle, the
/// last scrape's connection may still hold a slot for a moment; a 503 then
/// means "try again", and is counted in `turned_away`.
fn hold(addr: SocketAddr, target: &str, turned_away: &mut f64) -> TcpStream {
    wait_until("an export to be let in", PATIENCE, || {
        let mut client = stalled_request(addr, target);
        let mut status_line = [0u8; 12];
        client.read_exact(&mut status_line).unwrap();
        match &status_line {
            b"HTTP/1.1 200" => Some(client),
            b"HTTP/1.1 503" => {
                *turned_away += 1.0;
                None
            }
            other => panic!("{:?}", String::from_utf8_lossy(other)),
        }
    })
}

// ---------------------------------------------------------------------------
// A storm of disconnects
// ---------------------------------------------------------------------------

/// 500 clients, 25 at a time, ask for a large export in every mode, read a
/// little and reset. Afterwards nothing is left: threads, live heap, queued
/// bytes and the buffer budget are back at idle, and the cut exports were
/// counted.
#[test]
fn a_disconnect_storm_leaves_nothing_behind() {
    const CLIENTS: usize = 500;
    const AT_ONCE: usize = 25;
    // The streaming modes stop rendering when the client stalls, so they get
    // a 65 MB export that cannot fit in any socket buffer: every one of them
    // must end in a reset. `buffer` and `unbounded` render their whole body
    // whatever the client does, so theirs is smaller (5.3 MB, cheap enough
    // to render 125 times in a debug build); the kernel may take all of it,
    // so some of those complete. Every mode of `MODES`, as `warm` warms.
    let rows = |mode| match mode {
        "buffer" | "unbounded" => 100_000,
        _ => BIG_ROWS,
    };
    let modes = MODES.map(|mode| (mode, rows(mode)));
    let (server, idle) = warm(Server::start_logged(&[]));
    let addr = server.addr();
    thread::scope(|scope| {
        for worker in 0..AT_ONCE {
            scope.spawn(move || {
                for i in (worker..CLIENTS).step_by(AT_ONCE) {
                    let (mode, rows) = modes[i % modes.len()];
                    let target = format!("/export.csv?rows={rows}&mode={mode}");
                    read_a_little_and_reset(addr, &target);
                }
            });
        }
    });
    let m = back_to_idle(addr, &idle, "the storm");
    let per_mode = (CLIENTS / modes.len()) as f64;
    // Every export's line, ours and the warm-ups (one a mode), has reached
    // the log.
    wait_until("every export's log line", PATIENCE, || {
        let lines = server.log_lines();
        let exports = lines
            .iter()
            .filter(|l| l.contains("\"GET /export.csv?"))
            .count();
        (exports == CLIENTS + modes.len()).then_some(())
    });
    for (mode, rows) in modes {
        let started = m.value(&format!(
            "backpressure_responses_total{{mode=\"{mode}\",status=\"200\"}}"
        ));
        // One warm-up export per mode; every other one was ours.
        assert_eq!(started, 1.0 + per_mode, "{mode}");
        // Each of ours either completed (the kernel took it all) or was
        // cut by the reset, and the log says which: the two add up.
        let cut = m.aborts(mode, "client-abort");
        let logged = |end: &str| {
            let lines = server.log_lines();
            let ours = format!(" mode={mode} ");
            lines
                .iter()
                .filter(|l| l.contains(&ours) && l.ends_with(end))
                .count() as f64
        };
        assert_eq!(logged(" end=client-abort"), cut, "{mode}");
        assert_eq!(cut + logged(" end=complete") - 1.0, per_mode, "{mode}");
        if rows == BIG_ROWS {
            assert_eq!(cut, per_mode, "{mode}: every export ended in a reset");
        }
    }
}

/// Sends the request, reads 1 KiB, and closes with unread data, which makes
/// the kernel send a reset.
fn read_a_little_and_reset(addr: SocketAddr, target: &str) {
    let mut client = stalled_request(addr, target);
    let mut first = [0u8; 1024];
    client.read_exact(&mut first).expect("the response starts");
    assert!(first.starts_with(b"HTTP/1.1 200 OK\r\n"));
}

// ---------------------------------------------------------------------------
// The access log
// ---------------------------------------------------------------------------

/// One line per connection, with every field, for a complete export, a
/// HEAD (whose body_bytes are the none it sent, not its GET's), an error,
/// a head refused before its end (answered whole: complete, not the head
/// deadline's end), and a client that closed without a request.
#[test]
fn the_access_log_has_one_line_per_connection() {
    let server = Server::start_logged(&[]);
    let addr = server.addr();
    assert_eq!(get(addr, "/export.csv?rows=100&mode=pipeline").status, 200);
    assert_eq!(common::head(addr, "/healthz").status, 200);
    assert_eq!(
        request(addr, b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n").status,
        501
    );
    // A TLS record's first bytes: no method begins so.
    let not_a_request = request(addr, b"\x16\x03\x01\x02\x00\x01");
    assert_eq!(not_a_request.status, 400);
    drop(TcpStream::connect(addr).unwrap());
    let lines = wait_until("five log lines", PATIENCE, || {
        let lines = server.log_lines();
        (lines.len() >= 5).then_some(lines)
    });
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let export = common::reference_csv_len(100);
    // Lines are written as connections end, which need not be the order
    // the requests were sent in.
    for (expected, end) in [
        (
            format!(
                "\"GET /export.csv?rows=100&mode=pipeline HTTP/1.1\" 200 mode=pipeline body_bytes={export} "
            ),
            " end=complete",
        ),
        (
            "\"HEAD /healthz HTTP/1.1\" 200 mode=- body_bytes=0 ".to_string(),
            " end=complete",
        ),
        (
            "\"BREW /pot HTTP/1.1\" 501 mode=- body_bytes=52 ".to_string(),
            " end=complete",
        ),
        (
            format!(" - 400 mode=- body_bytes={} ", not_a_request.body.len()),
            " end=complete",
        ),
        (" - - mode=- body_bytes=0 ".to_string(), " end=client-abort"),
    ] {
        let line = lines
            .iter()
            .find(|l| l.contains(expected.as_str()))
            .unwrap_or_else(|| panic!("no line contains {expected}: {lines:#?}"));
        // `2026-11-22T06:40:12Z 127.0.0.1:50412 "GET …" …`
        let (stamp, rest) = line.split_once(' ').unwrap();
        assert!(stamp.len() == 20 && stamp.ends_with('Z'), "{line}");
        assert!(rest.starts_with("127.0.0.1:"), "{line}");
        assert!(line.contains(" duration_ms="), "{line}");
        assert!(line.ends_with(end), "{line}");
    }
}

/// A connection turned away at the cap gets its line too, written by the
/// rejecter's thread, since no connection thread ever saw it: named by
/// its client's address (the server's own is on 127.0.0.1 too, so the
/// port is what tells them apart), with its request line, the 503 and its
/// body's bytes. A first line that is whole but no request line is not
/// printed, though the rejecter has it: one that would close the quoted
/// field and write fields of its own would forge the line.
#[test]
fn a_rejected_connection_is_logged() {
    let server = Server::start_logged(&["--max-connections", "1"]);
    let addr = server.addr();
    let holder = hold(
        addr,
        &format!("/export.csv?rows={BIG_ROWS}&mode=pipeline"),
        &mut 0.0,
    );
    let forged = "GET / HTTP/1.1\" 200 mode=bounded body_bytes=9 duration_ms=9 end=complete";
    for (request_line, logged) in [("GET / HTTP/1.1", "\"GET / HTTP/1.1\""), (forged, "-")] {
        let mut client = TcpStream::connect(addr).expect("connect");
        let address = client.local_addr().expect("the client's address");
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        client
            .write_all(format!("{request_line}\r\nHost: a\r\n\r\n").as_bytes())
            .expect("send the request");
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).expect("the 503, then a FIN");
        assert_eq!(parse_response(&wire).status, 503);
        let line = wait_until("the rejection's line", PATIENCE, || {
            (server.log_lines().into_iter())
                .find(|l| l.contains(&format!(" {address} ")) && l.ends_with(" end=rejected"))
        });
        let (_stamp, rest) = line.split_once(' ').expect("a stamped line");
        assert_eq!(
            rest.split_once(" duration_ms=").map(|(fields, _)| fields),
            Some(&*format!("{address} {logged} 503 mode=- body_bytes=45")),
            "{line}"
        );
    }
    drop(holder);
}
