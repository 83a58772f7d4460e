//! The kernel's layer: `bounded` measured twice, with the server's
//! high-water mark (`TCP_NOTSENT_LOWAT`) and with the kernel's default, and
//! the paragraph that reads the pair. The one buffer RSS never shows is the
//! kernel's send queue; this is where the demo shows what the mark bounds.

use super::report::read_whole;
use super::run::SlowRun;
use super::sampler::SAMPLE_INTERVAL;
use super::table::{Column, markdown_table};
use super::units::size;

/// The kernel's layer: `bounded` with the server's high-water mark and
/// with the kernel's default, side by side.
pub fn kernel_table(on: &SlowRun, off: &SlowRun) -> String {
    let columns: [Column<&SlowRun>; 6] = [
        ("TCP_NOTSENT_LOWAT", |run| lowat(run)),
        ("kernel send queue", |run| size(run.peak_server_tx)),
        ("client receive queue", |run| size(run.peak_client_rx)),
        ("peak userland queue", |run| size(run.peak_queued)),
        ("RSS growth", |run| size(run.growth())),
        ("body read", |run| size(run.body_read)),
    ];
    markdown_table(&columns, &[on, off])
}

/// `16.0 KiB`, or `off (the kernel's default)`.
fn lowat(run: &SlowRun) -> String {
    match run.notsent_lowat {
        0 => "off (the kernel's default)".to_string(),
        bytes => size(bytes),
    }
}

/// The paragraph under the kernel's table.
pub fn kernel_reading(on: &SlowRun, off: &SlowRun) -> String {
    // A run the server refused outright (a 503 from a server with no
    // thread to start, say) has zeros that measured nothing: read as a
    // queue that never filled, they would blame the body's size.
    let refused = match (on.refused_every_client(), off.refused_every_client()) {
        (true, true) => Some("both runs".to_string()),
        (true, false) => Some(format!("the run with TCP_NOTSENT_LOWAT at {}", lowat(on))),
        (false, true) => Some("the run with it off".to_string()),
        (false, false) => None,
    };
    if let Some(which) = refused {
        return format!(
            "Not measured: the server refused every client of {which} (its zeros are \
             no queue at all), so this run cannot show what the mark bounds."
        );
    }
    // The columns sum every connection; the sentences speak of one.
    let (with, without) = (
        (on.peak_server_tx / on.served()).max(1),
        off.peak_server_tx / off.served(),
    );
    // The peak of a sum divided by the connections is their average: one
    // of them may have held more. One connection's figure is its own.
    let (per, client_per) = match on.served() {
        1 => (" per connection", ""),
        _ => (" on average per connection", " on average per connection"),
    };
    // The queues are the largest of the samples: the kernel may have held
    // more between two.
    let held = format!(
        "The server's kernel held up to {}{per} with TCP_NOTSENT_LOWAT at {} and {} with it \
         off (the largest of samples {} ms apart)",
        size(on.peak_server_tx / on.served()),
        lowat(on),
        size(without),
        SAMPLE_INTERVAL.as_millis(),
    );
    // A body read whole, or a kernel queue no larger without the mark than
    // with it, shows nothing the mark bounded: say so, and why, not a ratio.
    let whole = match (read_whole(on), read_whole(off)) {
        (true, true) => Some("the clients of both runs".to_string()),
        (true, false) => Some(format!(
            "the clients of the run with the mark at {}",
            lowat(on)
        )),
        (false, true) => Some("the clients of the run with it off".to_string()),
        (false, false) => None,
    };
    if let Some(which) = whole {
        return format!(
            "{held}: {which} read the whole body, so what the kernel held was a download in \
             flight, not the backlog of a client that reads too slowly, and this run cannot \
             show what the mark bounds (more --rows, or a slower --client-rate, can)."
        );
    }
    if without <= with {
        return format!(
            "{held}: no more without the mark than with it, so the kernel's own send buffer \
             stayed small (net.ipv4.tcp_wmem's maximum bounds it), and this run cannot show \
             what the mark bounds."
        );
    }
    let userland = (on.peak_queued / on.served()).max(1);
    format!(
        "With TCP_NOTSENT_LOWAT at {}, the server's kernel held up to {}{per} (the \
         largest of samples {} ms apart): at most the mark and one write not yet sent, \
         the rest sent and not yet acknowledged, which the client's receive window bounds. With it off, {}: {:.0} times as much, and \
         {:.0} times the userland bound of {}. Autotuning grows a send buffer up to net.ipv4.tcp_wmem's \
         maximum, and a client that reads slowly lets it fill: unbounded, the kernel's queue is \
         the biggest buffer in the chain, and RSS never shows it (growth {} and {}). The mark is \
         the kernel's own high-water mark: a blocked write waits once that many bytes are \
         unsent and wakes when fewer than half that many are left, so the writer follows the client's \
         drain closely, which also lets the minimum data rate be strict. What the client's \
         kernel holds ({} and {}{client_per}) is bounded by the client's receive window: the client's, \
         not ours.",
        lowat(on),
        size(with),
        SAMPLE_INTERVAL.as_millis(),
        size(without),
        without as f64 / with as f64,
        without as f64 / userland as f64,
        size(userland),
        size(on.growth()),
        size(off.growth()),
        size(on.peak_client_rx / on.served()),
        size(off.peak_client_rx / off.served()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::report::tests::slow_run;

    /// Every figure the kernel paragraph gives for four clients is one
    /// connection's, and each ratio divides what it says it divides.
    #[test]
    fn the_kernel_paragraphs_figures_are_each_one_connections() {
        let on = slow_run(4, 144 << 10, 64 << 10, 16 << 10);
        let off = slow_run(4, 4 << 20, 144 << 10, 0);
        let text = kernel_reading(&on, &off);
        for said in [
            "With it off, 4.0 MiB: 28 times as much, and 64 times the userland bound of \
             64.0 KiB.",
            "(growth 1.0 MiB and 1.0 MiB)",
            "What the client's kernel holds (27.5 KiB and 27.5 KiB on average per \
             connection)",
        ] {
            assert!(text.contains(said), "{said:?} not in {text}");
        }
        // No larger without the mark than with it: no ratio of 1 to show.
        let same = slow_run(4, 4 << 20, 64 << 10, 0);
        let text = kernel_reading(&slow_run(4, 4 << 20, 64 << 10, 16 << 10), &same);
        assert!(text.contains("cannot show what the mark bounds"), "{text}");
    }

    /// A run whose kernel queue never filled shows nothing the mark
    /// bounded: no "times as much" ratio made of zeros.
    #[test]
    fn the_kernel_paragraph_claims_nothing_a_tiny_body_cannot_show() {
        let mut on = slow_run(1, 0, 87, 16 << 10);
        let mut off = slow_run(1, 0, 87, 0);
        for run in [&mut on, &mut off] {
            (run.body_len, run.body_read) = (87, 87);
        }
        let text = kernel_reading(&on, &off);
        assert!(!text.contains("times as much"), "{text}");
        assert!(text.contains("cannot show what the mark bounds"), "{text}");
    }

    /// A run whose every client was refused (a server with no thread to
    /// start answers 503) measured nothing: its zeros are not a body too
    /// small to fill the queue, and the paragraph says which run it was.
    #[test]
    fn a_run_whose_every_client_was_refused_is_called_not_measured() {
        let refused = |run: SlowRun| SlowRun {
            refused: vec![503; run.clients],
            body_read: 0,
            ..run
        };
        let on = slow_run(1, 144 << 10, 64 << 10, 16 << 10);
        let off = slow_run(1, 4 << 20, 144 << 10, 0);
        for (on, off, which) in [
            (
                refused(on.clone()),
                off.clone(),
                "with TCP_NOTSENT_LOWAT at 16.0 KiB",
            ),
            (on.clone(), refused(off.clone()), "with it off"),
            (refused(on), refused(off), "both"),
        ] {
            let text = kernel_reading(&on, &off);
            assert!(!text.contains("read the whole body"), "{text}");
            assert!(!text.contains("times as much"), "{text}");
            assert!(text.contains("refused every client"), "{text}");
            assert!(text.contains(which), "{which:?} not in {text}");
        }
    }

    /// A body read whole by a fast client filled the kernel's queue with a
    /// download in flight: the paragraph says so, never that the queue
    /// did not fill, nor that the body was small (104 MiB at 1 GiB/s).
    #[test]
    fn a_body_read_whole_is_called_a_download_in_flight() {
        let whole = |run: SlowRun| SlowRun {
            body_read: run.body_len,
            ..run
        };
        let on = whole(slow_run(1, 0, 144 << 10, 16 << 10));
        let off = whole(slow_run(1, 2_500_000, 144 << 10, 0));
        let text = kernel_reading(&on, &off);
        let said = "the clients of both runs read the whole body, so what the kernel held was \
                    a download in flight";
        assert!(text.contains(said), "{text}");
        assert!(!text.contains("times as much"), "{text}");
        assert!(!text.contains("small"), "{text}");
        // One run's clients only: the sentence speaks for that run alone.
        let text = kernel_reading(&slow_run(1, 64 << 10, 144 << 10, 16 << 10), &off);
        assert!(
            text.contains(": the clients of the run with it off read the whole body"),
            "{text}"
        );
    }

    /// With four clients the columns are sums over the four connections;
    /// a sentence that says "per connection" must divide by them, and
    /// call the quotient an average: one connection may have held more.
    /// One connection's figure is its own.
    #[test]
    fn per_connection_figures_are_per_connection() {
        let on = slow_run(4, 144 << 10, 144 << 10, 16 << 10);
        let off = slow_run(4, 4 << 20, 144 << 10, 0);
        let text = kernel_reading(&on, &off);
        let said = "held up to 144.0 KiB on average per connection (the largest";
        assert!(text.contains(said), "{text}");
        assert!(text.contains("userland bound of 144.0 KiB"), "{text}");
        let same = slow_run(4, 4 << 20, 64 << 10, 0);
        let text = kernel_reading(&slow_run(4, 4 << 20, 64 << 10, 16 << 10), &same);
        let said = "held up to 4.0 MiB on average per connection with TCP_NOTSENT_LOWAT";
        assert!(text.contains(said), "{text}");
        // A queue as large with the mark as without is the kernel's buffer
        // staying small, not the body's size: the body was not read whole.
        assert!(!text.contains("read the whole body"), "{text}");
        assert!(text.contains("own send buffer stayed small"), "{text}");
        let (on, off) = (
            slow_run(1, 144 << 10, 144 << 10, 16 << 10),
            SlowRun {
                peak_client_rx: 200 << 10,
                ..slow_run(1, 4 << 20, 0, 0)
            },
        );
        let text = kernel_reading(&on, &off);
        assert!(!text.contains("average"), "{text}");
        let said = "held up to 144.0 KiB per connection (the largest";
        assert!(text.contains(said), "{text}");
        assert!(
            text.contains("holds (110.0 KiB and 200.0 KiB) is"),
            "{text}"
        );
    }

    /// Each figure in its own column, the mark's row first, and a mark of
    /// 0 called what it is: the kernel's default.
    #[test]
    fn the_kernel_table_puts_each_figure_in_its_column() {
        let on = SlowRun {
            peak_rss: 5 << 20,
            body_read: 3 << 20,
            ..slow_run(1, 144 << 10, 64 << 10, 16 << 10)
        };
        let off = SlowRun {
            peak_client_rx: 200 << 10,
            body_read: 5 << 20,
            ..slow_run(1, 4 << 20, 144 << 10, 0)
        };
        let table = kernel_table(&on, &off);
        let cells = |row: &str| -> Vec<String> {
            let inner = row.trim().trim_matches('|');
            inner.split('|').map(|c| c.trim().to_string()).collect()
        };
        let rows: Vec<Vec<String>> = table.lines().map(cells).collect();
        assert_eq!(rows.len(), 4, "{table}");
        let header = [
            "TCP_NOTSENT_LOWAT",
            "kernel send queue",
            "client receive queue",
            "peak userland queue",
            "RSS growth",
            "body read",
        ];
        assert_eq!(rows[0], header, "{table}");
        let with_mark = ["16.0 KiB", "144.0 KiB", "110.0 KiB", "64.0 KiB"];
        assert_eq!(rows[2][..4], with_mark, "{table}");
        assert_eq!(rows[2][4..], ["2.0 MiB", "3.0 MiB"], "{table}");
        let default = "off (the kernel's default)";
        let without = [default, "4.0 MiB", "200.0 KiB", "144.0 KiB"];
        assert_eq!(rows[3][..4], without, "{table}");
        assert_eq!(rows[3][4..], ["1.0 MiB", "5.0 MiB"], "{table}");
    }

    /// Each run's growth is its own, and either run's body read whole
    /// leaves nothing for the mark to show; a kernel queue of nothing with
    /// the mark (no socket sampled) gives no infinite ratio.
    #[test]
    fn each_run_speaks_for_itself() {
        let on = SlowRun {
            peak_rss: 5 << 20,
            ..slow_run(1, 144 << 10, 64 << 10, 16 << 10)
        };
        let off = slow_run(1, 4 << 20, 144 << 10, 0);
        let text = kernel_reading(&on, &off);
        assert!(text.contains("(growth 2.0 MiB and 1.0 MiB)"), "{text}");
        let whole = SlowRun {
            body_read: off.body_len,
            ..off.clone()
        };
        let text = kernel_reading(&on, &whole);
        assert!(text.contains("cannot show what the mark bounds"), "{text}");
        let nothing = slow_run(1, 0, 64 << 10, 16 << 10);
        let text = kernel_reading(&nothing, &off);
        assert!(!text.contains("inf"), "{text}");
    }

    /// A queue of 0 is 0 B, not the ratio's floor of 1; and 275 KiB
    /// against 100 KiB is 3 times, rounded, not 2, truncated.
    #[test]
    fn the_kernel_paragraphs_figures_are_rounded_not_nudged() {
        let mut on = slow_run(1, 0, 87, 16 << 10);
        let mut off = slow_run(1, 0, 87, 0);
        for run in [&mut on, &mut off] {
            (run.body_len, run.body_read) = (87, 87);
        }
        let text = kernel_reading(&on, &off);
        assert!(
            text.contains("held up to 0 B per connection with"),
            "{text}"
        );
        let on = slow_run(1, 100 << 10, 64 << 10, 16 << 10);
        let off = slow_run(1, 275 << 10, 64 << 10, 0);
        let text = kernel_reading(&on, &off);
        assert!(
            text.contains("With it off, 275.0 KiB: 3 times as much"),
            "{text}"
        );
    }

    /// Each run's figures are shared among its own served clients: one of
    /// two refused leaves one connection's exact figure, and the run
    /// without the mark is divided by its own count.
    #[test]
    fn each_runs_client_queue_is_shared_among_its_own_clients() {
        let on = SlowRun {
            refused: vec![503],
            ..slow_run(2, 144 << 10, 64 << 10, 16 << 10)
        };
        let off = slow_run(2, 4 << 20, 64 << 10, 0);
        let text = kernel_reading(&on, &off);
        assert!(text.contains("holds (110.0 KiB and 55.0 KiB)"), "{text}");
        assert!(
            text.contains("held up to 288.0 KiB per connection (the"),
            "{text}"
        );
    }
}
