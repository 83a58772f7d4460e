//! The demo's own tests: what its notes, headings and report say, from
//! runs made up for them; kept apart so that `mod.rs` reads as the demo.

use super::*;

/// One entry per strategy and cause, with how many clients it was, and
/// "some" only when some did run out of time: four clients cut alike
/// are one entry, "all 4 clients", not four identical entries after
/// "some slow clients".
#[test]
fn the_note_gives_each_cause_once_with_a_count() {
    const RESET: &str = "read failed: Connection reset by peer (os error 104)";
    let cut = || BodyEnd::Cut(RESET.into());
    let cut_said = format!("body was cut: {RESET}");
    let all_cut = [cut(), cut(), cut(), cut()];
    assert_eq!(
        ends_note(&[(Mode::Unbounded, &all_cut)]),
        Some(format!(
            "none of the 4 slow clients served simply ran out of time: `unbounded`, all 4 \
             clients: {cut_said}"
        ))
    );
    let stopped = [BodyEnd::Stopped, BodyEnd::Stopped];
    let failed = BodyEnd::Failed("connect failed".into());
    let mixed = [cut(), failed, cut(), BodyEnd::Stopped];
    assert_eq!(
        ends_note(&[(Mode::Bounded, &stopped), (Mode::Unbounded, &mixed)]),
        Some(format!(
            "3 of the 6 slow clients served did not simply run out of time: `unbounded`, \
             2 of 4 clients: {cut_said}; `unbounded`, 1 of 4 clients: request failed: \
             connect failed"
        ))
    );
    assert_eq!(
        ends_note(&[(Mode::Unbounded, &[cut()])]),
        Some(format!(
            "the slow client did not simply run out of time: `unbounded`: {cut_said}"
        ))
    );
    assert_eq!(ends_note(&[(Mode::Bounded, &stopped)]), None);
    // Three of four is not "none of the 4".
    let note = ends_note(&[(Mode::Unbounded, &mixed)]).unwrap_or_default();
    let said = "3 of the 4 slow clients served did not simply run out of time: ";
    assert!(note.starts_with(said), "{note}");
}

/// The chart's title counts the clients: with four, "a client reads"
/// described a quarter of what the RSS line shows.
#[test]
fn the_chart_title_counts_the_clients() {
    let one = DemoConfig::default();
    assert_eq!(
        chart_title(&one),
        "Server RSS while a client reads a 367.0 MiB export at 200.0 KiB/s"
    );
    let four = DemoConfig {
        clients: 4,
        ..DemoConfig::default()
    };
    assert_eq!(
        chart_title(&four),
        "Server RSS while 4 clients read a 367.0 MiB export at 200.0 KiB/s each"
    );
}

/// A slow-pass sample of `mode` at `t_ms`, with this RSS.
fn sample(mode: Mode, pass: Pass, t_ms: u64, rss: u64) -> Sample {
    Sample {
        mode,
        pass,
        phase: sample::Phase::Reading,
        t_ms,
        rss_bytes: Some(rss),
        threads: Some(2),
        queued_bytes: Some(rss / 2),
        server_tx_queue_bytes: None,
        client_rx_queue_bytes: None,
        client_read_bytes: 0,
        tcp_mem_pages: None,
    }
}

/// The chart draws each strategy's slow pass alone, by RSS: not its
/// run without the mark, nor its fast pass, nor another strategy's
/// samples; the idle line is the highest idle, and the disconnect is
/// marked at --seconds.
#[test]
fn the_chart_draws_each_strategys_own_slow_samples() {
    use report::tests::slow_run;
    let config = DemoConfig::default();
    let bounded = slow_run(1, 0, 0, 16 << 10);
    let unbounded = SlowRun {
        mode: Mode::Unbounded,
        idle_rss: 5 << 20,
        ..bounded.clone()
    };
    let measured = Measured {
        samples: vec![
            sample(Mode::Bounded, Pass::Slow, 50, 4 << 20),
            sample(Mode::Unbounded, Pass::Slow, 50, 32 << 20),
            sample(Mode::Bounded, Pass::SlowLowatOff, 100, 8 << 20),
            sample(Mode::Bounded, Pass::Fast, 150, 16 << 20),
        ],
        slow: vec![bounded, unbounded],
        ..Measured::default()
    };
    let expected = chart::render(
        &[
            Series {
                name: "bounded".into(),
                points: vec![(0.05, f64::from(4 << 20))],
            },
            Series {
                name: "unbounded".into(),
                points: vec![(0.05, f64::from(32 << 20))],
            },
        ],
        &ChartText {
            title: chart_title(&config),
            idle_bytes: f64::from(5 << 20),
            disconnect_secs: Some(config.seconds.as_secs_f64()),
        },
    );
    assert_eq!(slow_chart(&config, &measured), expected);
}

/// The kernel's layer pairs `bounded`'s own run with its run without
/// the mark, wherever `bounded` stands among the strategies; a
/// refusal counts the strategy's clients.
#[test]
fn the_report_pairs_and_counts_what_it_names() {
    use report::tests::slow_run;
    let unbounded = SlowRun {
        mode: Mode::Unbounded,
        ..slow_run(2, 4 << 20, 100 << 20, 16 << 10)
    };
    let bounded = slow_run(2, 144 << 10, 144 << 10, 16 << 10);
    let off = slow_run(2, 8 << 20, 144 << 10, 0);
    let config = DemoConfig {
        clients: 2,
        ..DemoConfig::default()
    };
    let measured = Measured {
        slow: vec![unbounded, bounded.clone()],
        lowat_off: Some(off.clone()),
        ..Measured::default()
    };
    let text = report_text(&config, &measured);
    assert!(
        text.contains(&kernel_layer::kernel_table(&bounded, &off)),
        "{text}"
    );
    // No fast pass measured, no fast section.
    assert!(!text.contains("## Fast client"), "{text}");
    let mut buffer = slow_run(2, 0, 0, 16 << 10);
    (buffer.mode, buffer.refused) = (Mode::Buffer, vec![503]);
    buffer.server_aborts = vec![("buffer-budget", 1)];
    let text = slow_text(&config, &[buffer]);
    for said in [
        "Defense: 1 of 2 `buffer` clients was refused up front (503)",
        "Defense: the server cut 1 `buffer` export short (buffer-budget);",
    ] {
        assert!(text.contains(said), "{said:?} not in {text}");
    }
    // One client in all: the noun is one's.
    let mut alone = slow_run(1, 0, 0, 16 << 10);
    (alone.mode, alone.refused) = (Mode::Buffer, vec![503]);
    let text = slow_text(&DemoConfig::default(), &[alone]);
    let said = "Defense: 1 of 1 `buffer` client was refused up front (503)";
    assert!(text.contains(said), "{said:?} not in {text}");
    assert!(text.contains("## Slow client: 1 reader at"), "{text}");
}

/// A run whose every client was refused measured no kernel send queue:
/// its summary says so, as its verdict does, not "0 B" as if the kernel
/// had held nothing (under `ulimit -u 9`, every server answered 503).
#[test]
fn a_refused_run_without_the_mark_is_summed_up_as_refused() {
    use report::tests::slow_run;
    let off = slow_run(2, 0, 0, 0);
    let said = lowat_off_summary(&SlowRun {
        refused: vec![503; off.clients],
        verdict: verdict::Verdict::NotServed,
        ..off.clone()
    });
    assert_eq!(said, "bounded   --notsent-lowat off: not measured: refused");
    let served = lowat_off_summary(&slow_run(2, 4 << 20, 0, 0));
    assert_eq!(
        served,
        "bounded   --notsent-lowat off: kernel send queue 8.0 MiB"
    );
}

/// A 503 is not always the buffer budget: a server at its connection
/// cap, or with no thread to start (`ulimit -u`), sends it for any
/// strategy. The note names what a status can mean for this strategy:
/// `bounded` has no buffering cap to blame.
#[test]
fn a_refusal_is_given_only_the_causes_its_strategy_has() {
    use report::tests::slow_run;
    let config = DemoConfig::default();
    let mut bounded = slow_run(1, 0, 0, 16 << 10);
    bounded.refused = vec![503];
    let text = slow_text(&config, &[bounded]);
    let note = text
        .split("\nDefense: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no Defense note in {text}"));
    assert!(!note.contains("--max-buffered"), "{note}");
    assert!(note.contains("no thread it could start"), "{note}");
    let mut buffer = slow_run(1, 0, 0, 16 << 10);
    (buffer.mode, buffer.refused) = (Mode::Buffer, vec![503]);
    let text = slow_text(&config, &[buffer]);
    assert!(text.contains("--max-buffered-total"), "{text}");
    assert!(text.contains("no thread it could start"), "{text}");
}

/// Each section's heading says what was asked (readers, rate, body,
/// seconds; the fast export's own size), and the footer's rule says
/// how several clients' peak is shared.
#[test]
fn each_sections_heading_and_footer_say_what_was_asked() {
    use report::tests::slow_run;
    let config = DemoConfig {
        clients: 2,
        ..DemoConfig::default()
    };
    let text = slow_text(&config, &[slow_run(2, 0, 0, 16 << 10)]);
    let heading = "\n## Slow client: 2 readers at 200.0 KiB/s, 367.0 MiB export \
                   (7000000 rows), 8 s, then disconnect\n";
    assert!(text.starts_with(heading), "{text}");
    assert!(
        text.contains("the peak of the 2 clients' sum divided"),
        "{text}"
    );
    let report = crate::client::slow_client::Report {
        status: Some(200),
        wire_bytes: 1,
        body_bytes: 1,
        elapsed: std::time::Duration::from_millis(4),
        end: BodyEnd::Complete(crate::client::response::BodyFraming::Chunked),
    };
    let measured = Measured {
        fast: vec![FastRun {
            mode: Mode::Bounded,
            report,
            peak_rss: 3 << 20,
        }],
        ..Measured::default()
    };
    let text = report_text(&config, &measured);
    assert!(
        text.contains("a full download of 1000000 rows (51.5 MiB)"),
        "{text}"
    );
}

/// A part the flags left out is named with the flag that did; with every
/// part asked for, none is.
#[test]
fn the_parts_not_run_are_named_with_their_flags() {
    let config = DemoConfig {
        modes: vec![Mode::Unbounded],
        fast_rows: 0,
        http2_wait: std::time::Duration::ZERO,
        ..DemoConfig::default()
    };
    let text = report_text(&config, &Measured::default());
    for said in [
        "## Not run, as the flags asked",
        "- the kernel's layer (`bounded` without TCP_NOTSENT_LOWAT): --modes has no `bounded`",
        "- the fast client: --fast-rows 0",
        "- HTTP/2, one connection and two windows: --http2-wait 0s",
    ] {
        assert!(text.contains(said), "{said:?} not in {text}");
    }
    let text = report_text(&DemoConfig::default(), &Measured::default());
    assert!(!text.contains("Not run"), "{text}");
}
