//! The demo's text: the tables and the paragraph that reads them, all
//! computed from the measurements, never written per strategy.

use std::fmt::Write as _;

use super::config::DemoConfig;
use super::run::{FastRun, SlowRun};
use super::verdict::{FLAT_FLOOR_BYTES, Verdict, flat_bound};
use crate::measure::proc_net::PAGE_BYTES;

/// Bytes as a person reads them: `512 B`, `96.0 KiB`, `369.2 MiB`.
pub fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    match bytes as f64 {
        b if b < KIB => format!("{bytes} B"),
        b if b < KIB * KIB => format!("{:.1} KiB", b / KIB),
        b if b < KIB * KIB * KIB => format!("{:.1} MiB", b / (KIB * KIB)),
        b => format!("{:.2} GiB", b / (KIB * KIB * KIB)),
    }
}

/// A Markdown table with its columns padded, readable as plain text too.
fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push_str(&line(widths.iter().map(|&w| "-".repeat(w)).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// The slow-client table: one row per strategy.
pub fn slow_table(runs: &[SlowRun]) -> String {
    let header = [
        "strategy",
        "idle RSS",
        "peak RSS",
        "growth",
        "peak userland queue",
        "kernel send queue",
        "client receive queue",
        "clients read",
        "RSS after disconnect",
        "producer stopped",
        "verdict",
    ];
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            vec![
                run.mode.as_str().to_string(),
                size(run.idle_rss),
                size(run.peak_rss),
                size(run.peak_rss.saturating_sub(run.idle_rss)),
                size(run.peak_queued),
                size(run.peak_server_tx),
                size(run.peak_client_rx),
                size(run.client_read),
                size(run.rss_after),
                if run.producer_stopped() {
                    "yes".to_string()
                } else {
                    format!(
                        "no: {} queued, {} of {} threads",
                        size(run.queued_after),
                        run.threads_after,
                        run.idle_threads
                    )
                },
                run.verdict.to_string(),
            ]
        })
        .collect();
    markdown_table(&header, &rows)
}

/// The fast-client table: one row per strategy.
pub fn fast_table(runs: &[FastRun]) -> String {
    let header = ["strategy", "body read", "time", "MB/s", "peak RSS", "ended"];
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            vec![
                run.mode.as_str().to_string(),
                size(run.report.body_bytes),
                format!("{:.2} s", run.report.elapsed.as_secs_f64()),
                format!("{:.0}", run.report.body_rate() / 1e6),
                size(run.peak_rss),
                run.report.end.to_string(),
            ]
        })
        .collect();
    markdown_table(&header, &rows)
}

/// The paragraph under the table: where the bytes piled up, and why.
pub fn reading(runs: &[SlowRun], config: &DemoConfig) -> String {
    let mut text = String::new();
    let with = |verdict: Verdict| -> Vec<&SlowRun> {
        runs.iter().filter(|run| run.verdict == verdict).collect()
    };
    let names = |runs: &[&SlowRun]| -> String {
        let names: Vec<String> = runs
            .iter()
            .map(|run| format!("`{}`", run.mode.as_str()))
            .collect();
        names.join(" and ")
    };
    let Some(first) = runs.first() else {
        return text;
    };
    let body = first.body_len;
    let seconds = config.seconds.as_secs_f64();
    let read = runs.iter().map(|run| run.client_read).max().unwrap_or(0);
    // Writing into a String cannot fail.
    let clients = config.clients.max(1);
    let rate = size((read as f64 / seconds / clients as f64) as u64);
    let _ = if clients == 1 {
        write!(
            text,
            "The client asked for {} and read {} in {seconds:.1} s ({rate}/s). ",
            size(body),
            size(read),
        )
    } else {
        write!(
            text,
            "Each of {clients} clients asked for {}; together they read {} in {seconds:.1} s \
             ({rate}/s each). ",
            size(body),
            size(read),
        )
    };
    let per_client = if clients > 1 { " per client" } else { "" };
    for run in with(Verdict::GrowsWithBody) {
        // With several clients, the buffering caps may have refused some.
        let every = if !run.refused.is_empty() {
            "every served client"
        } else {
            "every client"
        };
        let _ = write!(
            text,
            "`{}` held the whole body in userland at once ({} queued{per_client}): RSS went \
             from {} to {}, paid before the client read a byte, and paid again for {every}. ",
            run.mode.as_str(),
            size(run.peak_queued / run.served()),
            size(run.idle_rss),
            size(run.peak_rss),
        );
    }
    for run in with(Verdict::Unbounded) {
        // What stopped the growth: the end of the export, or one of the
        // server's buffering caps cutting the export short.
        let stopped_by = match run.server_aborts.first() {
            Some((reason, _)) => format!("the server's buffering cap ({reason}) cut it short"),
            None => "only the end of the export stopped it growing".to_string(),
        };
        let _ = write!(
            text,
            "`{}` queued up to {} in userland{per_client} ({:.0} % of the body): its producer \
             never had to wait, so the gap between producer and client landed on the heap, and \
             {stopped_by} (RSS {} → {}). ",
            run.mode.as_str(),
            size(run.peak_queued / run.served()),
            run.peak_queued as f64 * 100.0 / (body as f64 * run.served() as f64).max(1.0),
            size(run.idle_rss),
            size(run.peak_rss),
        );
    }
    let flat = with(Verdict::Flat);
    if !flat.is_empty() {
        let most_queued = flat
            .iter()
            .map(|run| run.peak_queued / run.served())
            .max()
            .unwrap_or(0);
        let most_growth = flat
            .iter()
            .map(|run| run.peak_rss.saturating_sub(run.idle_rss))
            .max()
            .unwrap_or(0);
        let _ = write!(
            text,
            "{} never queued more than {} in userland{per_client} and grew at most {} over \
             idle: once the \
             kernel send buffer was full, `write` blocked, the blocked writer stopped taking \
             chunks, and the producer waited (in a full channel's `send`, or by not being asked \
             for the next rows), so the chain of flow control reached all the way back. ",
            names(&flat),
            size(most_queued),
            size(most_growth),
        );
    }
    let tx = runs.iter().map(|run| run.peak_server_tx).max().unwrap_or(0);
    let rx = runs.iter().map(|run| run.peak_client_rx).max().unwrap_or(0);
    let _ = write!(
        text,
        "In every mode the kernel held at most {} in the server's send buffers and {} in the \
         clients' receive buffers: TCP buffers are capped (net.ipv4.tcp_wmem, tcp_rmem), which \
         is why they fill and then stop, and they are kernel memory, counted in \
         /proc/net/sockstat (pages of {PAGE_BYTES} bytes) and never in the server's RSS. ",
        size(tx),
        size(rx),
    );
    let stopped = runs.iter().filter(|run| run.producer_stopped()).count();
    let _ = write!(
        text,
        "One second after the disconnect, {stopped} of {} servers had stopped their producer \
         (nothing queued, threads back to idle)",
        runs.len()
    );
    let kept: Vec<&SlowRun> = runs
        .iter()
        .filter(|run| run.rss_after > run.idle_rss.saturating_mul(2))
        .collect();
    if kept.is_empty() {
        text.push_str(", and RSS was back near idle.");
    } else {
        let _ = write!(
            text,
            "; {}'s RSS stayed above twice idle even with nothing queued: the allocator keeps \
             freed pages for reuse, so RSS overstates what is live, which is why the tests \
             assert queued bytes and the live heap instead.",
            names(&kept)
        );
    }
    text
}

/// The verdict rule, for the report's footer.
pub fn rule(body_len: u64) -> String {
    format!(
        "Verdict rule (src/demo/verdict.rs), on the peak userland queue per client: flat \
         if it stays under max({}, body / 100) = {}; grows with the body if it reached the \
         whole body ({}); unbounded otherwise.",
        size(FLAT_FLOOR_BYTES),
        size(flat_bound(body_len)),
        size(body_len)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(98_304), "96.0 KiB");
        assert_eq!(size(384_861_933), "367.0 MiB");
        assert_eq!(size(3 << 30), "3.00 GiB");
    }

    #[test]
    fn tables_are_padded_markdown() {
        let table = markdown_table(
            &["a", "long header"],
            &[vec!["wide cell".into(), "x".into()]],
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| a         | long header |");
        assert_eq!(lines[1], "| --------- | ----------- |");
        assert_eq!(lines[2], "| wide cell | x           |");
    }
}
