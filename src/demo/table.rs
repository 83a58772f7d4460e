//! The demo's tables: Markdown, padded so that they read as plain text
//! on a terminal too. Each column says how to fill its cell from one item,
//! so a table is its list of columns and nothing per row: the slow-client
//! table and the fast-client one are here, each one list of columns; the
//! paragraph that reads the first is `report.rs`'s.

use super::run::{FastRun, SlowRun};
use super::units::{duration, mb_per_s, size};

/// A table column: its header, and how to fill its cell from one item.
pub type Column<T> = (&'static str, fn(&T) -> String);

/// A Markdown table, one row per item, padded so that it reads as plain text too.
pub fn markdown_table<T>(columns: &[Column<T>], items: &[T]) -> String {
    let header: Vec<String> = columns.iter().map(|(name, _)| name.to_string()).collect();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| columns.iter().map(|(_, cell)| cell(item)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    let mut out = line(&header) + &line(&rule);
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

/// The slow-client table: one row per strategy.
pub fn slow_table(runs: &[SlowRun]) -> String {
    let columns: [Column<SlowRun>; 11] = [
        ("strategy", |run| run.mode.as_str().to_string()),
        ("idle RSS", |run| size(run.idle_rss)),
        ("peak RSS", |run| size(run.peak_rss)),
        ("growth", |run| size(run.growth())),
        ("peak userland queue", |run| size(run.peak_queued)),
        ("kernel send queue", |run| size(run.peak_server_tx)),
        ("client receive queue", |run| size(run.peak_client_rx)),
        // Body bytes at the clients' stop, as the sentence under the
        // table gives them (per client there): one figure for one read.
        ("body read", |run| size(run.body_read)),
        ("RSS after disconnect", |run| size(run.rss_after)),
        ("producer stopped", |run| {
            if run.producer_stopped() {
                return "yes".to_string();
            }
            let (queued, threads) = (size(run.queued_after), run.threads_after);
            let idle = run.idle_threads;
            format!("no: {queued} queued, {threads} threads ({idle} at idle)")
        }),
        ("verdict", |run| run.verdict.to_string()),
    ];
    markdown_table(&columns, runs)
}

/// The fast-client table: one row per strategy.
pub fn fast_table(runs: &[FastRun]) -> String {
    let columns: [Column<FastRun>; 6] = [
        ("strategy", |run| run.mode.as_str().to_string()),
        ("body read", |run| {
            downloaded(run, size(run.report.body_bytes))
        }),
        // As measured: two decimals of a second would print a 4 ms download
        // as "0.00 s".
        ("time", |run| downloaded(run, duration(run.report.elapsed))),
        ("MB/s", |run| {
            downloaded(run, mb_per_s(run.report.body_rate()))
        }),
        ("peak RSS", |run| size(run.peak_rss)),
        ("ended", |run| match refused(run) {
            Some(status) => format!("refused: {status}, no export sent"),
            None => run.report.end.to_string(),
        }),
    ];
    markdown_table(&columns, runs)
}

/// The status a fast download was turned away with, if it was: the caps
/// refuse `buffer` and `unbounded` a body larger than they may queue, and
/// the body then read is the refusal's one line, no figure of the export.
fn refused(run: &FastRun) -> Option<u16> {
    run.report.status.filter(|&status| status != 200)
}

/// A download's figure, or `-` for a download refused.
fn downloaded(run: &FastRun, figure: String) -> String {
    match refused(run) {
        Some(_) => "-".to_string(),
        None => figure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::report::tests::slow_run;

    #[test]
    fn tables_are_padded_markdown() {
        let columns: [Column<[&str; 2]>; 2] = [
            ("a", |row| row[0].to_string()),
            ("long header", |row| row[1].to_string()),
        ];
        let table = markdown_table(&columns, &[["wide cell", "x"]]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| a         | long header |");
        assert_eq!(lines[1], "| --------- | ----------- |");
        assert_eq!(lines[2], "| wide cell | x           |");
        // Padded by characters, not bytes: a duration in µs is 5 wide.
        let columns: [Column<&str>; 1] = [("t", |cell| cell.to_string())];
        let table = markdown_table(&columns, &["40 µs", "1 ms"]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines, ["| t     |", "| ----- |", "| 40 µs |", "| 1 ms  |"]);
    }

    /// A fast download's time is what was measured, never "0.00 s": in two
    /// decimals of a second, --quick's 10.2 MiB on a fast machine, or a
    /// smaller --fast-rows, would read as no time beside its MB/s.
    #[test]
    fn a_fast_downloads_time_is_never_zero() {
        let cells = fast_cells(10_716_780, std::time::Duration::from_millis(4));
        assert_eq!(
            cells[..5],
            ["bounded", "10.2 MiB", "4 ms", "2679", "3.0 MiB"]
        );
    }

    /// A small download's rate is not "0" MB/s, which reads as nothing
    /// read: `--fast-rows 1`'s 87 bytes in 0.3 ms are 0.3 MB/s.
    #[test]
    fn a_small_downloads_rate_is_not_zero() {
        use std::time::Duration;
        for (bytes, elapsed, said) in [
            (87, Duration::from_micros(290), "0.3"),
            (87, Duration::from_millis(2), "<0.1"),
            (5_450_000, Duration::from_secs(1), "5.5"),
            (10_716_780, Duration::from_millis(4), "2679"),
        ] {
            assert_eq!(
                fast_cells(bytes, elapsed)[3],
                said,
                "{bytes} B in {elapsed:?}"
            );
        }
    }

    /// A download the caps refused is no figure: its body is the refusal's
    /// line, which read "ended cleanly" at "160 B" beside the export's name.
    #[test]
    fn a_refused_fast_download_is_no_figure() {
        let cells = fast_cells_with(400, 160, std::time::Duration::from_micros(400));
        assert_eq!(
            cells[1..],
            ["-", "-", "-", "3.0 MiB", "refused: 400, no export sent"]
        );
    }

    /// The cells of the fast table's one row, for a `bounded` download of
    /// `body_bytes` in `elapsed`.
    fn fast_cells(body_bytes: u64, elapsed: std::time::Duration) -> Vec<String> {
        fast_cells_with(200, body_bytes, elapsed)
    }

    /// [`fast_cells`] of a response with `status`.
    fn fast_cells_with(status: u16, body_bytes: u64, elapsed: std::time::Duration) -> Vec<String> {
        use crate::client::response::{BodyEnd, BodyFraming};
        let report = crate::client::slow_client::Report {
            status: Some(status),
            // The wire's bytes (head and framing) are not the body's.
            wire_bytes: body_bytes + 83_220,
            body_bytes,
            elapsed,
            end: BodyEnd::Complete(BodyFraming::Chunked),
        };
        let mode = crate::export::Mode::Bounded;
        let table = fast_table(&[FastRun {
            mode,
            report,
            peak_rss: 3 << 20,
        }]);
        let row = table.lines().nth(2).unwrap_or_default();
        row.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    }

    /// Each column shows its own field: one filled from a neighbour (the
    /// peak for the growth, the bytes sent for those read) lies under its header.
    #[test]
    fn the_slow_table_puts_each_figure_in_its_column() {
        let mut done = slow_run(1, 144 << 10, 64 << 10, 16 << 10);
        (done.peak_rss, done.body_read, done.body_sent) = (5 << 20, 3 << 20, 4 << 20);
        done.rss_after = 7 << 19;
        let mut holding = done.clone();
        (holding.queued_after, holding.threads_after) = (1 << 20, 3);
        let table = slow_table(&[done, holding]);
        let row = |n: usize| -> Vec<&str> {
            let line = table.lines().nth(n).unwrap_or_default();
            line.trim_matches('|').split('|').map(str::trim).collect()
        };
        let figures = ["3.0 MiB", "5.0 MiB", "2.0 MiB", "64.0 KiB", "144.0 KiB"];
        assert_eq!(row(2)[1..6], figures, "{table}");
        assert_eq!(
            row(2)[6..],
            ["110.0 KiB", "3.0 MiB", "3.5 MiB", "yes", "flat"]
        );
        assert_eq!(
            row(3)[9],
            "no: 1.0 MiB queued, 3 threads (2 at idle)",
            "{table}"
        );
    }

    /// The "ended" column is in words, as the client says it.
    #[test]
    fn a_fast_downloads_end_is_in_words() {
        let cells = fast_cells(10_716_780, std::time::Duration::from_millis(4));
        assert_eq!(cells[5], "body ended cleanly (last chunk received)");
    }
}
