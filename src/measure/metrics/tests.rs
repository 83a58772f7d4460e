//! `metrics.rs`'s tests: every family rendered, parsed back and
//! documented, and each counter moved by what it counts; kept apart so
//! that the registry's file reads as the registry.

use super::*;
use crate::measure::exposition::Scrape;

#[test]
fn every_family_has_help_type_and_samples_that_parse() {
    let text = METRICS.render(&Readings {
        process: ProcStatus::of_self(),
        open_files: Some((1024, 9)),
        budget_used_bytes: 7,
        budget_limit_bytes: 1024,
        notsent_lowat_bytes: 16384,
    });
    for family in &FAMILIES {
        let name = family.name;
        let help = format!("# HELP {name} {}\n", family.help);
        let kind = format!("# TYPE {name} {}\n", family.kind.as_str());
        assert!(text.contains(&help) && text.contains(&kind), "{name}");
    }
    let scrape = Scrape::parse(&text).unwrap();
    let get = |series| scrape.get(series);
    assert_eq!(get("backpressure_buffer_budget_used_bytes"), Some(7.0));
    assert_eq!(get("backpressure_buffer_budget_limit_bytes"), Some(1024.0));
    assert_eq!(get("process_open_fds"), Some(9.0));
    assert_eq!(get("process_max_fds"), Some(1024.0));
    assert!(get("backpressure_queued_bytes{mode=\"bounded\"}").is_some());
    let aborts = "backpressure_aborts_total{mode=\"unbounded\",reason=\"min-rate\"}";
    assert!(get(aborts).is_some());
}

/// Every label set a counter can take is exposed from the start, at 0:
/// a series that first appears at 1 has no earlier sample, so
/// Prometheus's `increase()` and `rate()` see no increase, and an alert
/// on the first 503 or flood GOAWAY after a restart would never fire.
#[test]
fn every_counter_series_is_exposed_before_it_counts() {
    let scrape = Scrape::parse(&METRICS.render(&Readings::default())).unwrap();
    let labels = Mode::ALL.iter().map(|m| m.as_str()).chain([NO_MODE]);
    for mode in labels {
        for status in Status::ALL {
            let series = format!(
                "backpressure_responses_total{{mode=\"{mode}\",status=\"{}\"}}",
                status.code()
            );
            assert!(scrape.count(&series).is_some(), "{series} is missing");
        }
    }
    for family in ["goaways_sent", "rst_streams_sent"] {
        for code in ErrorCode::ALL {
            let series = format!(
                "backpressure_http2_{family}_total{{code=\"{}\"}}",
                code.name()
            );
            assert!(scrape.count(&series).is_some(), "{series} is missing");
        }
    }
}

#[test]
fn names_follow_prometheus_conventions() {
    for family in &FAMILIES {
        let name = family.name;
        let unit = name.ends_with("_bytes") || name.ends_with("_total");
        // A count of things in a state needs no unit: connections
        // served, connections closing.
        let count = name == "process_threads"
            || name.ends_with("_fds")
            || name.ends_with("_active")
            || name.ends_with("_closing");
        assert!(unit || count, "{name}: a unit or _total");
        assert_eq!(
            family.kind == Kind::Counter,
            name.ends_with("_total"),
            "{name}: counters and only counters end in _total"
        );
    }
}

/// The `# TYPE` word a scraper reads, spelled out rather than taken
/// from `Kind::as_str`: `counter` for exactly the `_total` families
/// (Prometheus's `rate()` assumes a counter), `gauge` for the rest.
#[test]
fn type_lines_say_counter_for_totals_and_gauge_for_the_rest() {
    let text = METRICS.render(&Readings::default());
    for family in &FAMILIES {
        let word = if family.name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        let line = format!("# TYPE {} {word}\n", family.name);
        assert!(text.contains(&line), "{line:?} is missing");
    }
}

/// `docs/metrics.md` explains every family; a new metric that is not
/// documented there fails here.
#[test]
fn every_family_is_documented() {
    let docs = include_str!("../../../docs/metrics.md");
    for family in &FAMILIES {
        assert!(
            docs.contains(&format!("`{}", family.name)),
            "{} is missing from docs/metrics.md",
            family.name
        );
    }
}

/// The rows of `reason`-labelled families list every reason the
/// server can report, so that a series on `/metrics` is never one the
/// docs do not explain.
#[test]
fn every_reason_is_documented() {
    let docs = include_str!("../../../docs/metrics.md");
    let row = |name: &str| {
        docs.lines()
            .find(|line| line.starts_with(&format!("| `{name}")))
            .unwrap_or_else(|| panic!("{name} has no row in docs/metrics.md"))
    };
    for (family, reasons) in [
        ("backpressure_aborts_total", &End::ABORTS[..]),
        ("backpressure_resets_total", &End::RESETS[..]),
    ] {
        let row = row(family);
        for reason in reasons {
            let word = format!("`{}`", reason.as_str());
            assert!(row.contains(&word), "{family}: {word} is not in its row");
        }
    }
    let row = row("backpressure_log_lines_dropped_total");
    for reason in LogDrop::ALL {
        assert!(row.contains(&format!("`{}`", reason.as_str())), "{row}");
    }
}

/// Each count lands in its own series, each reading in its own family:
/// a GOAWAY is no RST_STREAM, a failed write no full queue, each
/// reason its own, a response that is no export `mode="none"`.
#[test]
fn each_count_and_reading_lands_in_its_own_series() {
    let m = Metrics::new();
    m.http2_goaway(ErrorCode::EnhanceYourCalm);
    m.log_dropped(LogDrop::WriteFailed);
    m.aborted(Mode::Bounded, End::MinRate);
    m.reset_sent(End::BufferCap);
    m.responded(None, Status::NotFound);
    m.panicked();
    m.queue_grew(Mode::Bounded, 100);
    m.queue_drained(Mode::Bounded, 100);
    let process = ProcStatus {
        rss_bytes: Some(1),
        peak_rss_bytes: Some(2),
        ..ProcStatus::default()
    };
    let readings = Readings {
        process,
        budget_limit_bytes: 1024,
        notsent_lowat_bytes: 16_384,
        ..Readings::default()
    };
    let text = m.render(&readings);
    for line in [
        "backpressure_http2_goaways_sent_total{code=\"ENHANCE_YOUR_CALM\"} 1",
        "backpressure_http2_rst_streams_sent_total{code=\"ENHANCE_YOUR_CALM\"} 0",
        "backpressure_log_lines_dropped_total{reason=\"write-failed\"} 1",
        "backpressure_log_lines_dropped_total{reason=\"queue-full\"} 0",
        "backpressure_aborts_total{mode=\"bounded\",reason=\"min-rate\"} 1",
        "backpressure_aborts_total{mode=\"bounded\",reason=\"client-abort\"} 0",
        "backpressure_resets_total{reason=\"buffer-cap\"} 1",
        "backpressure_resets_total{reason=\"send-timeout\"} 0",
        "backpressure_responses_total{mode=\"none\",status=\"404\"} 1",
        "backpressure_responses_total{mode=\"buffer\",status=\"404\"} 0",
        "backpressure_panics_total 1",
        "backpressure_queued_peak_bytes{mode=\"bounded\"} 100",
        "process_resident_memory_peak_bytes 2",
        "backpressure_notsent_lowat_bytes 16384",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} is missing");
    }
}

/// `connection_closing(most)` counts at most `most` at once, and gives
/// a place back when its guard drops.
#[test]
fn at_most_the_closing_limit_wait_at_once() {
    static M: Metrics = Metrics::new();
    let first = M.connection_closing(2);
    let second = M.connection_closing(2);
    assert!(first.is_some() && second.is_some());
    assert!(M.connection_closing(2).is_none(), "a third past 2");
    drop(first);
    assert!(M.connection_closing(2).is_some());
}
