//! `http2.rs`'s tests: the part's report and chart, from reports made up
//! for each case, the starved stream's among them; the part's runs against
//! real servers are `tests/demo.rs`'s.

use super::*;
use crate::client::h2_stream::StreamReport;

/// A case whose small response came after `secs`, or never (`None`).
fn case(name: &'static str, secs: Option<f64>) -> Case {
    let second = StreamReport {
        complete: secs.is_some(),
        latency: secs.map(Duration::from_secs_f64),
        ..StreamReport::default()
    };
    let report = H2Report {
        second: Some(second),
        timed_out: secs.is_none(),
        ..H2Report::default()
    };
    Case {
        name,
        window: DEFAULT_WINDOW,
        notsent_lowat: Some(16 << 10),
        report,
    }
}

fn part(small: Option<f64>, kernel: Option<f64>, mark: Option<f64>) -> Http2Part {
    Http2Part {
        cases: vec![case("a", small), case("b", kernel), case("c", mark)],
        starved: Some(Starved {
            report: H2Report::default(),
            queue: None,
        }),
        then_after: Duration::from_secs(1),
        wait: Duration::from_secs(3),
        rate: 200 << 10,
    }
}

/// The starved case's report, in a part that ran it.
fn starved(part: &mut Http2Part) -> &mut H2Report {
    &mut part.starved.as_mut().expect("a starved case").report
}

/// A response that never came is labelled with the wait as given:
/// `--http2-wait 500ms` is "over 500 ms", not "over 0 s".
#[test]
fn a_wait_in_vain_is_labelled_with_the_wait() {
    let never = case("a", None).report;
    assert_eq!(latency(&never, Duration::from_millis(500)), "over 500 ms");
    assert_eq!(latency(&never, Duration::from_millis(2500)), "over 2.5 s");
    assert_eq!(latency(&never, Duration::from_secs(30)), "over 30 s");
    let came = case("a", Some(0.45)).report;
    assert_eq!(latency(&came, Duration::from_secs(3)), "0.45 s");
}

/// Figures under a tenth of a second are in ms, in the table and the
/// sentences alike: "0.00 s" read as no wait, and "0.07 s, 13 times as
/// long as 0.01 s" as a ratio the printed figures do not give.
#[test]
fn a_figure_under_a_tenth_is_in_ms_and_its_ratio_is_its_own() {
    let text = report(&part(Some(0.004), Some(0.072), Some(0.0055)));
    assert!(
        !text.contains("0.00 s") && !text.contains("0.07 s"),
        "{text}"
    );
    assert!(text.contains("that was little: 4.0 ms"), "{text}");
    assert!(
        text.contains(
            "72.0 ms, 13 times as long as with the kernel's unsent bytes held to 16.0 KiB (5.5 ms)"
        ),
        "{text}"
    );
    assert!(
        text.contains("| a | 65,535 | 16.0 KiB | 4.0 ms |"),
        "{text}"
    );
    // Under a ms, the ratio is still the printed figures': 0.50 s over 0.4 ms.
    let text = report(&part(Some(0.2), Some(0.5), Some(0.0004)));
    assert!(text.contains("1250 times as long"), "{text}");
    assert_eq!(seconds_text(0.099_96), "0.10 s");
}

/// A starved case that would outlast the wait is not run, and the text
/// says why; one whose connection failed says nothing of what the
/// server held "meanwhile", a queue read after the cut.
#[test]
fn a_starved_case_not_run_or_failed_claims_nothing_it_did_not_see() {
    let mut skipped = part(Some(0.2), Some(3.0), Some(0.3));
    (skipped.starved, skipped.rate) = (None, 1024);
    let text = report(&skipped);
    assert!(
        text.contains("A stream whose window is spent: not measured. At 1.0 KiB/s the client would take 64 s to read its 65,535 bytes, longer than the part's wait (3 s)."),
        "{text}"
    );
    // Just past the wait is said to the ms, not as "3 s, longer than 3 s".
    skipped.rate = 21_840;
    let text = report(&skipped);
    assert!(text.contains("would take 3.001 s to read"), "{text}");
    let mut failed = part(Some(0.2), Some(3.0), Some(0.3));
    if let Some(starved) = failed.starved.as_mut() {
        starved.queue = Some(0.0);
    }
    starved(&mut failed).failure = Some("write failed: Broken pipe".into());
    let text = report(&failed);
    assert!(
        text.contains("then the connection failed: write failed"),
        "{text}"
    );
    assert!(!text.contains("Meanwhile"), "{text}");
    let mut held = part(Some(0.2), Some(3.0), Some(0.3));
    if let Some(starved) = held.starved.as_mut() {
        starved.queue = Some(147_456.0);
    }
    let text = report(&held);
    assert!(
        text.contains("Meanwhile the server held 144.0 KiB for stream 1 in its bounded queue"),
        "{text}"
    );
}

/// Each order of the figures gets its own reading: the high-water mark
/// clearly slower than the kernel's buffer is said so, not "no clear
/// difference"; a case whose connection failed is no figure to read,
/// and is not labelled as a wait that ran out.
#[test]
fn the_reading_follows_every_order_and_a_failure() {
    let text = report(&part(Some(0.2), Some(0.3), Some(2.9)));
    assert!(!text.contains("no clear difference"), "{text}");
    assert!(text.contains("2.90 s with the kernel's unsent bytes held to 16.0 KiB: on this run the high-water mark made it slower"), "{text}");
    let mut failed = part(Some(0.2), None, Some(0.1));
    failed.cases[1].report.failure = Some("the server closed the connection".into());
    let text = report(&failed);
    assert!(!text.contains("over 3 s"), "{text}");
    assert!(
        text.contains("failed: the server closed the connection"),
        "{text}"
    );
    assert!(!text.contains("times as long"), "{text}");
    assert!(!text.contains("was not clearly slower"), "{text}");
    // A reset of stream 3 is named as such: the connection did not end.
    let mut reset = part(Some(0.2), Some(0.3), Some(0.1));
    if let Some(second) = reset.cases[2].report.second.as_mut() {
        (second.complete, second.reset) = (false, Some(ErrorCode::InternalError as u32));
    }
    let text = report(&reset);
    assert!(
        text.contains("failed: stream 3 was reset (INTERNAL_ERROR)"),
        "{text}"
    );
    assert!(!text.contains("the connection ended first"), "{text}");
}

/// The reading says what the figures show, for any figures: a small
/// window's wait that never came is no "little", and a figure at the
/// wait is a lower bound wherever it stands.
#[test]
fn the_reading_claims_only_what_the_figures_show() {
    let text = report(&part(Some(0.45), None, Some(0.6)));
    let said = "With a 65,535-byte window that was little: 0.45 s. A 16 MiB window let \
                the server fill the kernel's send buffer: 3.00 s or more, at least 5 times as long";
    assert!(text.contains(said), "{text}");
    // A lower bound's ratio is rounded down: 3.00 s or more over 0.61 s
    // is at least 4.9 times, which "5 times" would overstate.
    let text = report(&part(Some(0.28), None, Some(0.61)));
    let said = "3.00 s or more, at least 4 times as long as with the kernel's unsent \
                bytes held to 16.0 KiB (0.61 s)";
    assert!(text.contains(said), "{text}");
    // Every case timed out: nothing was little, and each is "or more".
    let text = report(&part(None, None, None));
    assert!(!text.contains("little"), "{text}");
    assert!(!text.contains("fill the kernel's send buffer"), "{text}");
    for said in [
        "With a 65,535-byte window it took 3.00 s or more.",
        "buffer was not clearly slower: 3.00 s or more, and 3.00 s or more with",
    ] {
        assert!(text.contains(said), "{said:?} not in {text}");
    }
}

/// The export stream 1 downloads is sized, from its rows, in the unit
/// and rounding of every size in the report: the slow-client section
/// calls the same export "367.0 MiB", so this one must not call it
/// "385 MB".
#[test]
fn the_big_export_is_sized_as_the_rest_of_the_report_sizes_it() {
    let text = report(&part(Some(0.2), Some(3.0), Some(0.5)));
    let said = format!("stream 1 downloads the {} export", size(body_len(BIG_ROWS)));
    assert!(text.contains(&said), "{said:?} not in {text}");
}

/// The starved stream's neighbour is answered at once, in well under a
/// millisecond on loopback: the sentence gives what was measured, not
/// "0.000 s", which reads as no time at all.
#[test]
fn the_starved_streams_neighbour_took_what_was_measured() {
    let mut part = part(Some(0.2), Some(3.0), Some(0.5));
    starved(&mut part).second = Some(StreamReport {
        complete: true,
        latency: Some(Duration::from_micros(400)),
        ..StreamReport::default()
    });
    let text = report(&part);
    let said = "stream 3 on the same connection got its response in 0.4 ms.";
    assert!(text.contains(said), "{text}");
}

/// The mark is "slower" only if it took twice the kernel's buffer's
/// time, whatever the small window's: 1.5 s against 1.0 s is no clear
/// difference, though twice the 65,535-byte window's 0.2 s.
#[test]
fn slower_is_measured_against_the_kernels_buffer() {
    let text = report(&part(Some(0.2), Some(1.0), Some(1.5)));
    assert!(text.contains("made no clear difference"), "{text}");
    assert!(!text.contains("made it slower"), "{text}");
}

/// "Exactly its window, and then nothing" only when the starved
/// stream got exactly that in a run that did not fail: fewer bytes
/// are a run that ended first, and a failure is said as one.
#[test]
fn the_starved_stream_got_exactly_its_window_only_if_it_did() {
    let mut part = part(Some(0.2), Some(3.0), Some(0.5));
    starved(&mut part).first.body_bytes = u64::from(DEFAULT_WINDOW);
    let said = "received 65,535 bytes of it, exactly its window, and then nothing;";
    assert!(report(&part).contains(said), "{}", report(&part));
    starved(&mut part).first.body_bytes = 16_384;
    let said = "received 16,384 bytes of it, less than its window, when the run ended;";
    assert!(report(&part).contains(said), "{}", report(&part));
    starved(&mut part).failure = Some("the server closed the connection".into());
    let said = "received 16,384 bytes of it, and then the connection failed: the server closed";
    assert!(report(&part).contains(said), "{}", report(&part));
    assert!(!report(&part).contains("and then nothing"));
}

/// Each bar is its case's time on a scale whose end is the longest:
/// 0.5 s, 2 s and 1 s are a quarter, the whole and half of 340 units.
#[test]
fn the_bars_are_to_scale() {
    let svg = chart(&part(Some(0.5), Some(2.0), Some(1.0)));
    let widths: Vec<&str> = svg
        .split("width=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|w| !w.ends_with('%'))
        .skip(1)
        .collect();
    assert_eq!(widths, ["85.0", "340.0", "170.0"], "{svg}");
}

/// A stream 3 that was reset never came: its bar is the wait, not the
/// time of the reset, and beside the starved stream it is said so; and
/// what stream 1 had read by then is given to the byte.
#[test]
fn a_reset_response_never_came() {
    let mut part = part(Some(0.5), Some(1.0), Some(1.0));
    part.cases[0].report.first_bytes_then = Some(1000);
    let reset = StreamReport {
        reset: Some(ErrorCode::Cancel as u32),
        latency: Some(Duration::from_millis(100)),
        ..StreamReport::default()
    };
    part.cases[1].report.second = Some(reset.clone());
    starved(&mut part).second = Some(reset);
    let svg = chart(&part);
    // 0.5 s is a sixth of the longest bar, the 3 s wait: 340 / 6.
    assert!(svg.contains("width=\"56.7\""), "{svg}");
    let text = report(&part);
    assert!(text.contains("| 0.50 s | 1000 B |"), "{text}");
    let said = "stream 3 on the same connection never got its response.";
    assert!(text.contains(said), "{text}");
}

/// A GOAWAY before stream 3 went is why it never did, whether or not
/// the connection then ended: not "the connection ended first".
#[test]
fn a_goaway_before_stream_3_is_the_reason_given() {
    let mut report = H2Report {
        goaway: Some(0),
        ..H2Report::default()
    };
    let why = "failed: the server's GOAWAY came before stream 3";
    assert_eq!(latency(&report, Duration::from_secs(2)), why);
    report.failure = Some("the server closed the connection".into());
    assert_eq!(latency(&report, Duration::from_secs(2)), why);
}

/// "Twice as long" holds at exactly twice, in each direction.
#[test]
fn twice_as_long_is_at_least_twice() {
    let text = report(&part(Some(0.5), Some(1.0), Some(0.5)));
    assert!(text.contains("that was little: 0.50 s"), "{text}");
    assert!(text.contains("1.00 s, 2 times as long"), "{text}");
    let text = report(&part(Some(0.5), Some(0.5), Some(1.0)));
    assert!(
        text.contains("the high-water mark made it slower"),
        "{text}"
    );
}

/// Each case's figure, and "or more" where it never came, is its own;
/// the heading gives when stream 3 asked, the table "off" for no mark.
#[test]
fn each_figure_is_given_as_its_own() {
    let text = report(&part(None, Some(1.0), Some(0.5)));
    let said = "With a 65,535-byte window it took 3.00 s or more.";
    assert!(text.contains(said), "{text}");
    let text = report(&part(Some(0.2), Some(2.0), None));
    let said = "and 3.00 s or more with the kernel's unsent bytes held to 16.0 KiB: on \
                this run the high-water mark made no clear difference";
    assert!(text.contains(said), "{text}");
    assert!(text.contains(" and 1.0 s later stream 3 asks"), "{text}");
    let mut off = part(Some(0.2), Some(2.0), Some(0.5));
    off.cases[1].notsent_lowat = Some(0);
    let text = report(&off);
    assert!(text.contains("| b | 65,535 | off | 2.00 s |"), "{text}");
}

/// More than the window is no "exactly its window": it is the
/// server's overrun, said as one.
#[test]
fn more_than_the_window_is_an_overrun() {
    let mut part = part(Some(0.2), Some(3.0), Some(0.5));
    starved(&mut part).first.body_bytes = u64::from(DEFAULT_WINDOW) + 1;
    let text = report(&part);
    assert!(!text.contains("exactly its window"), "{text}");
    assert!(
        text.contains("more than its window: the server sent past it"),
        "{text}"
    );
}
