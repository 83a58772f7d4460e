//! The arithmetic behind the benchmarks' published figures and verdicts,
//! checked without running a benchmark: `cargo test` does not build
//! `benches/`, so their pure helpers are included here by path, as
//! `tests/bench_args.rs` includes their command line. Each test pins a
//! figure `docs/benchmarks.md` prints, or a decision one depends on: the
//! knobs read (`benches/common/mod.rs`), a download judged whole
//! (`benches/common/download.rs`), a stall judged settled and a server at
//! rest (`benches/common/stall.rs`), the figures' units and budgets
//! (`benches/common/figures.rs`) and the trade-off's grid
//! (`benches/tradeoff_grid/mod.rs`).

#[path = "../benches/common/mod.rs"]
mod common;
// Its knobs from the environment and the arguments are not called here.
#[allow(dead_code)]
#[path = "../benches/tradeoff_grid/mod.rs"]
mod tradeoff_grid;

use std::io::Read;

use backpressure::{
    DEFAULT_CHANNEL_DEPTH, DEFAULT_CHUNK_BYTES, DEFAULT_MAX_BUFFERED_TOTAL, body_len,
};

use common::download::{read_to_end_counting, whole};
use common::figures::{
    BUFFERING_BUDGET_BYTES, STALL_ROWS, Throughput, allowed_per_gb, cores_busy, front, mb_per_s,
    open_at_stall, per_gb, rows_for,
};
use common::stall::{STABLE_POLLS, Settling, at_rest};
use common::{kib, mib, own_flags, positive_count, sets, stat_ticks};
use tradeoff_grid::{Config, Strategy, measured_as_shipped};

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

/// A flag that only begins like another is not it: `--chunk-bytes-max`
/// set by the user must not make `tradeoff` refuse `--chunk-bytes`, nor a
/// benchmark drop its own flag of that name.
#[test]
fn a_longer_flag_is_not_the_flag_it_begins_with() {
    for user in [&["--chunk-bytesX"][..], &["--chunk-bytes-max", "8k"]] {
        assert!(!sets(&strings(user), "--chunk-bytes"), "{user:?}");
    }
}

/// `serve` takes a flag's value after `=` or as the next word: both set
/// it, or a user's `--chunk-bytes=8k` would be given twice to `serve`, or
/// slip past `tradeoff`'s refusal of it.
#[test]
fn a_flag_is_set_with_its_value_apart_or_after_an_equals_sign() {
    for user in [
        &["--chunk-bytes=8k"][..],
        &["--quiet", "--chunk-bytes", "8k"],
    ] {
        assert!(sets(&strings(user), "--chunk-bytes"), "{user:?}");
    }
    assert!(!sets(&strings(&["8k"]), "--chunk-bytes"));
}

/// A benchmark's own `serve` flags give way to the user's: `serve`
/// refuses a flag given twice, and the user asked for theirs.
#[test]
fn the_users_flags_win_over_a_benchmarks_own() {
    let own = [("--rate-grace", Some("5m")), ("--quiet", None)];
    assert_eq!(
        own_flags(&own, &[]),
        strings(&["--rate-grace", "5m", "--quiet"])
    );
    assert_eq!(
        own_flags(&own, &strings(&["--rate-grace=1m"])),
        strings(&["--quiet"]),
        "the user's --rate-grace replaces the benchmark's, value and all"
    );
}

/// A count knob (`TRADEOFF_RUNS`, `CPU_ROWS`, …) of zero is an error, not
/// a run of nothing whose figures would be a division by zero.
#[test]
fn a_count_of_zero_is_an_error_not_a_count() {
    assert_eq!(positive_count("RUNS", "3"), Ok(3));
    assert_eq!(
        positive_count("RUNS", " 7\n"),
        Ok(7),
        "as a shell writes it"
    );
    for text in ["0", "-1", "", "3x"] {
        let Err(message) = positive_count("RUNS", text) else {
            panic!("RUNS={text:?} was taken");
        };
        assert!(message.contains("RUNS="), "{message}");
    }
}

/// The tables' KiB and MiB are 2^10 and 2^20 bytes, as their headers say:
/// in units of 10^3 the same figures would read 2 to 5 % higher.
#[test]
fn kib_and_mib_are_powers_of_two() {
    assert_eq!(kib(192.0 * 1024.0), "192 KiB");
    assert_eq!(mib(3.0 * 1024.0 * 1024.0), "3.0 MiB");
    assert_eq!(mib(1.5 * 1024.0 * 1024.0), "1.5 MiB");
}

/// The machine's busy ticks count irq and softirq with user, nice and
/// system: over loopback much of TCP's work is softirq, charged to no
/// process, and the busy cores `tradeoff` and `cpu_per_byte` print would
/// miss it. Idle, iowait and steal are only in the total; guest time is
/// already in user's, and counted once.
#[test]
fn busy_ticks_count_softirq_and_all_ticks_count_every_state() {
    // user nice system idle iowait irq softirq steal guest guest_nice
    let stat = "cpu  1 2 4 8 16 32 64 128 256 512\ncpu0 1 2 4 8 16 32 64 128 256 512\n";
    assert_eq!(stat_ticks(stat), Ok((1 + 2 + 4 + 32 + 64, 255)));
    assert!(stat_ticks("intr 1 2 3\ncpu  1 2 4 8 16 32 64 128\n").is_err());
    assert!(stat_ticks("cpu  1 2 4 8\n").is_err(), "too few states");
}

/// A response head with `framing` (a header line, or none) and a 200.
fn head(framing: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\n{framing}Content-Type: text/csv\r\n\r\n").into_bytes()
}

/// A body framed by `Content-Length` is whole at exactly the head and that
/// length: one byte short is a cut download, timed as if it were whole;
/// one byte over is a response that is not the one asked for.
#[test]
fn a_content_length_body_is_whole_only_at_its_exact_length() {
    let front = head("Content-Length: 10\r\n");
    let head_len = front.len() as u64;
    assert_eq!(whole(&front, b"", head_len + 10), Ok(()));
    for received in [head_len + 9, head_len + 11, head_len] {
        let Err(message) = whole(&front, b"", received) else {
            panic!("{received} bytes taken for whole");
        };
        assert!(message.contains(&format!("{received} bytes")), "{message}");
    }
}

/// A chunked body is whole only when its last bytes are the last chunk:
/// a server that closes mid-body sends no error, only fewer bytes. A head
/// with neither framing cannot be judged, and is refused.
#[test]
fn a_chunked_body_is_whole_only_with_its_last_chunk() {
    let front = head("Transfer-Encoding: chunked\r\n");
    assert_eq!(whole(&front, b"0\r\n\r\n", 1000), Ok(()));
    for tail in [&b"\r\n0\r\n"[..], b"a,b\r\n", b"\r\n\r\n", b""] {
        let Err(message) = whole(&front, tail, 1000) else {
            panic!("{tail:?} taken for the last chunk");
        };
        assert!(message.contains("without the last chunk"), "{message}");
    }
    assert!(whole(&head(""), b"0\r\n\r\n", 1000).is_err());
    assert!(
        whole(b"HTTP/1.1 200 OK\r\n", b"", 17).is_err(),
        "no end of head"
    );
}

/// A stream that hands out `data` a few bytes per read, as a socket may.
struct Trickle<'a> {
    data: &'a [u8],
    piece: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.piece.min(self.data.len()).min(buffer.len());
        buffer[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The framing's end is read from the last bytes of the stream, whichever
/// reads they came in: a last chunk split over reads is still the last
/// chunk. The response's first bytes stay at the front of the buffer for
/// its status line and head, however many reads follow, and every read's
/// running total reaches the caller.
#[test]
fn the_tail_spans_reads_and_the_front_keeps_the_first_bytes() {
    let mut response = head("Transfer-Encoding: chunked\r\n");
    while response.len() < 3000 {
        response.extend_from_slice(b"5\r\nabcde\r\n");
    }
    response.extend_from_slice(b"0\r\n\r\n");
    for piece in [1, 2, 3, 7, 4096] {
        let mut buffer = vec![0u8; 2048];
        let mut totals = Vec::new();
        let mut stream = Trickle {
            data: &response,
            piece,
        };
        let (received, tail) = read_to_end_counting(&mut stream, &mut buffer, |total| {
            totals.push(total);
            Ok(())
        })
        .expect("a stream that ends");
        assert_eq!(received, response.len() as u64, "piece {piece}");
        assert_eq!(tail, b"0\r\n\r\n", "piece {piece}");
        assert!(
            buffer[..1024] == response[..1024],
            "piece {piece}: the head at the front was overwritten"
        );
        assert!(
            totals.is_sorted_by(|a, b| a < b),
            "piece {piece}: {totals:?}"
        );
        assert_eq!(totals.last(), Some(&received), "piece {piece}");
    }
}

/// A stall has settled when its queue has not moved for ten polls in a
/// row, half a second: one unchanged poll is a writer between two
/// writes, and the memory read then is not the stall's.
#[test]
fn a_stall_settles_after_ten_unchanged_polls_not_one() {
    assert_eq!(STABLE_POLLS, 10, "half a second of 50 ms polls");
    let mut settling = Settling::default();
    let polls: Vec<bool> = (0..12).map(|_| settling.poll(4096.0, false)).collect();
    // The first poll has nothing to compare with; ten more agree with it.
    assert_eq!(polls.iter().position(|&settled| settled), Some(10));
}

/// Any change of the queue starts the count again: a queue still growing
/// is no stall.
#[test]
fn a_moving_queue_starts_the_count_again() {
    let mut settling = Settling::default();
    for _ in 0..9 {
        assert!(!settling.poll(4096.0, false));
    }
    assert!(!settling.poll(8192.0, false), "moved");
    for _ in 0..9 {
        assert!(!settling.poll(8192.0, false));
    }
    assert!(settling.poll(8192.0, false), "ten unchanged since it moved");
}

/// An empty queue is a stall only once every connection has ended (the
/// server refused or cut them all); while they are open, it is clients
/// whose requests have not been answered yet.
#[test]
fn an_empty_queue_settles_only_once_every_connection_ended() {
    let mut open = Settling::default();
    assert!((0..30).all(|_| !open.poll(0.0, false)));
    let mut ended = Settling::default();
    let polls: Vec<bool> = (0..11).map(|_| ended.poll(0.0, true)).collect();
    assert_eq!(polls.iter().position(|&settled| settled), Some(10));
}

/// At rest is the probe's connection alone, no thread serving one before
/// or after the scrape, and the thread count asked for, if one was: the
/// baseline every RSS and heap figure is measured from.
#[test]
fn at_rest_is_the_probe_alone_and_no_thread_serving() {
    let none: &[String] = &[];
    let serving = strings(&["conn-7"]);
    assert!(at_rest(1.0, none, none, None, 5));
    assert!(at_rest(1.0, none, none, Some(5), 5));
    assert!(!at_rest(2.0, none, none, None, 5), "a client still open");
    assert!(!at_rest(0.0, none, none, None, 5), "not even the probe");
    assert!(!at_rest(1.0, &serving, none, None, 5), "serving before");
    assert!(!at_rest(1.0, none, &serving, None, 5), "serving after");
    assert!(!at_rest(1.0, none, none, Some(4), 5), "a thread too many");
}

/// `buffer` and `unbounded` hold every byte they are asked for, so their
/// clients ask for fewer rows, all together within the budget: at the big
/// export's bytes per row rounded up, not down, or 64 clients would ask
/// for more than the budget by a rounding's worth per row. The channel
/// modes always get the big export.
#[test]
fn the_buffering_modes_ask_for_rows_within_the_budget() {
    let bytes_per_row = body_len(STALL_ROWS) as f64 / STALL_ROWS as f64;
    for strategy in ["buffer", "unbounded"] {
        assert_eq!(rows_for(strategy, 1), STALL_ROWS, "fits");
        for clients in [16, 64] {
            let rows = rows_for(strategy, clients);
            let asked = clients as u64 * body_len(rows);
            assert!(
                asked <= BUFFERING_BUDGET_BYTES,
                "{strategy} x{clients}: {asked} bytes asked for, over {BUFFERING_BUDGET_BYTES}"
            );
            let estimated = clients as f64 * rows as f64 * bytes_per_row;
            assert!(
                estimated <= BUFFERING_BUDGET_BYTES as f64,
                "{strategy} x{clients}: {rows} rows at {bytes_per_row:.3} B each"
            );
            assert!(asked > BUFFERING_BUDGET_BYTES / 10 * 9, "and not far less");
        }
    }
    for strategy in ["bounded", "pipeline"] {
        assert_eq!(rows_for(strategy, 64), STALL_ROWS);
    }
}

/// The budget is seven eighths of the server's cap on buffered bytes: an
/// eighth to spare, so that the server refuses or cuts none of the
/// clients whose memory is being measured.
#[test]
fn the_buffering_budget_leaves_an_eighth_of_the_cap() {
    assert_eq!(BUFFERING_BUDGET_BYTES * 8, DEFAULT_MAX_BUFFERED_TOTAL * 7);
}

/// A configuration's throughput is the median of its downloads: the middle
/// one of an odd count, the mean of the middle two of an even one, in
/// whatever order they were taken; min and max the extremes.
#[test]
fn the_median_is_the_middle_download_or_the_mean_of_the_middle_two() {
    let odd = Throughput::of(vec![500.0, 100.0, 300.0, 900.0, 200.0]);
    assert_eq!((odd.median, odd.min, odd.max), (300.0, 100.0, 900.0));
    let even = Throughput::of(vec![400.0, 100.0, 300.0, 200.0]);
    assert_eq!((even.median, even.min, even.max), (250.0, 100.0, 400.0));
    assert!(
        Throughput::of(vec![]).median.is_nan(),
        "no download, no figure"
    );
}

/// The Pareto front: a configuration is on it only if it is strictly
/// faster than every one holding no more memory. A tie in throughput at
/// more memory buys nothing; the references, with no bound, are never on
/// it.
#[test]
fn the_front_takes_only_strictly_faster_configurations() {
    let points = [
        (Some(200.0), 500.0), // no faster than the 100 KiB one
        (Some(100.0), 500.0),
        (Some(300.0), 700.0),
        (Some(300.0), 600.0), // beaten at the same memory
        (Some(400.0), 650.0), // slower than a cheaper one
        (None, 2000.0),       // a reference
    ];
    assert_eq!(
        front(&points),
        [false, true, true, false, false, false],
        "{points:?}"
    );
}

/// Throughput is quoted in MB/s, 10^6 bytes a second, as the tables'
/// headers and the CSV's `throughput_mb_s` say.
#[test]
fn throughput_is_in_megabytes_of_ten_to_the_sixth() {
    assert_eq!(mb_per_s(54_000_000, 0.5), 108.0);
}

/// Busy cores are the busy share of the machine's ticks times its cores:
/// all of them busy reads as the core count, when the CPU is the limit.
#[test]
fn busy_cores_are_the_busy_share_of_every_core() {
    assert_eq!(cores_busy(50, 100, 4.0), 2.0);
    assert_eq!(cores_busy(100, 100, 2.0), 2.0);
    assert_eq!(cores_busy(0, 0, 2.0), 0.0, "no tick, no division by zero");
}

/// Memory per client is only a figure if every stalled client is still
/// served: the server then has theirs open and the probe's.
#[test]
fn a_stall_serving_every_client_has_theirs_and_the_probes_open() {
    assert_eq!(open_at_stall(64), 65.0);
    assert_eq!(open_at_stall(1), 2.0);
}

/// `figure` is `expected` but for floating point's last digits.
#[track_caller]
fn assert_close(figure: f64, expected: f64) {
    let off = (figure - expected).abs();
    assert!(off <= expected.abs() * 1e-9, "{figure} is not {expected}");
}

/// CPU per GB is per 10^9 bytes, as `cpu_per_byte`'s header says and as
/// MB/s is quoted: per 2^30 bytes the same cost would read 7 % higher.
#[test]
fn cpu_per_gigabyte_is_per_ten_to_the_ninth_bytes() {
    assert_close(per_gb(1.0, 1_000_000_000), 1000.0);
    assert_close(per_gb(0.25, 500_000_000), 500.0);
}

/// The CPU budget per GB grows with the cores: at a given rate, each busy
/// core adds its second of CPU per second delivered.
#[test]
fn the_cpu_budget_per_gigabyte_is_every_cores_share() {
    assert_close(allowed_per_gb(1.0, 1e9), 1000.0);
    assert_close(allowed_per_gb(4.0, 1e9), 4000.0);
    assert_close(allowed_per_gb(4.0, 2e9), 2000.0);
}

/// Only `bounded` at the default chunk and the default depth together, and
/// `pipeline` at the default chunk, are what `serve` does without flags:
/// the targets are judged on those rows, and the chart highlights them.
#[test]
fn the_default_needs_the_default_chunk_and_depth_together() {
    let config = |strategy, chunk_bytes, depth| Config {
        strategy,
        chunk_bytes,
        depth,
    };
    let (chunk, depth) = (DEFAULT_CHUNK_BYTES, Some(DEFAULT_CHANNEL_DEPTH));
    let other_depth = Some(DEFAULT_CHANNEL_DEPTH + 1);
    assert!(config(Strategy::Bounded, chunk, depth).is_default());
    assert!(!config(Strategy::Bounded, chunk, other_depth).is_default());
    assert!(!config(Strategy::Bounded, chunk * 2, depth).is_default());
    assert!(config(Strategy::Pipeline, chunk, None).is_default());
    assert!(!config(Strategy::Pipeline, chunk * 2, None).is_default());
    assert!(!config(Strategy::Unbounded, chunk, None).is_default());
}

/// The committed `docs/tradeoff.csv` is replaced only by a run that
/// measured as well as the defaults do: the default export, at least the
/// default five downloads each, exactly the default 64 stalled clients
/// and no extra `serve` flags. Anything thinner is written elsewhere.
#[test]
fn only_a_run_measured_as_shipped_replaces_the_committed_figure() {
    const ROWS: u64 = 1_000_000;
    assert!(measured_as_shipped(ROWS, 5, 64, &[]));
    assert!(measured_as_shipped(ROWS, 9, 64, &[]), "more downloads");
    assert!(!measured_as_shipped(ROWS, 4, 64, &[]), "fewer downloads");
    assert!(!measured_as_shipped(ROWS, 5, 8, &[]), "other clients");
    assert!(!measured_as_shipped(ROWS * 7, 5, 64, &[]), "another export");
    let flags = strings(&["--quiet"]);
    assert!(!measured_as_shipped(ROWS, 5, 64, &flags), "serve flags");
}
