//! The command line of the benchmarks that are programs of their own
//! (`benches/common/args.rs`), checked without running one: `cargo bench --
//! FLAGS` hands criterion's flags to every benchmark, and these must skip
//! them, values and all, yet still refuse a word that names no strategy.

// Its wrapper around this process's own command line is not called here.
#[allow(dead_code)]
#[path = "../benches/common/args.rs"]
mod args;

fn strings(line: &[&str]) -> Vec<String> {
    line.iter().map(|s| s.to_string()).collect()
}

const KNOWN: [&str; 2] = ["bounded", "pipeline"];

#[test]
fn criterion_flags_and_their_values_are_skipped() {
    for line in [
        &["--bench"][..],
        &["--bench", "--save-baseline", "before"],
        &["--save-baseline=before", "--bench"],
        &["-s", "before", "--bench"],
        &[
            "--baseline",
            "bounded-old",
            "--sample-size",
            "10",
            "--bench",
        ],
        &["--measurement-time", "3", "--warm-up-time", "1", "--quick"],
        &[
            "--profile-time",
            "5",
            "--output-format",
            "bencher",
            "--noplot",
        ],
    ] {
        assert_eq!(
            args::strategies(strings(line), &KNOWN),
            Ok(vec![]),
            "{line:?}"
        );
    }
}

/// Every flag of criterion 0.8 and libtest that takes a value has it
/// skipped: one left off the list would make its value (`--color never`,
/// `--test-threads 1`) a word that names no strategy, and every program
/// benchmark would stop with exit 2 on a line criterion's own accept.
#[test]
fn every_flag_that_takes_a_value_has_it_skipped() {
    for flag in [
        "-c",
        "--color",
        "--colour",
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--format",
        "--profile-time",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--output-format",
        "--skip",
        "--test-threads",
    ] {
        let line = strings(&[flag, "never", "--bench"]);
        assert_eq!(args::strategies(line, &KNOWN), Ok(vec![]), "{flag}");
    }
}

#[test]
fn strategies_are_taken_among_flags() {
    let line = ["--bench", "--save-baseline", "pipeline", "bounded"];
    assert_eq!(
        args::strategies(strings(&line), &KNOWN),
        Ok(strings(&["bounded"])),
        "the value of --save-baseline is not a strategy, even when it is spelled like one"
    );
}

#[test]
fn a_flag_last_on_the_line_takes_nothing() {
    let line = ["bounded", "--save-baseline"];
    assert_eq!(
        args::strategies(strings(&line), &KNOWN),
        Ok(strings(&["bounded"]))
    );
}

#[test]
fn no_strategy_named_means_every_one() {
    assert!(args::wanted(&[], "pipeline"));
    let named = strings(&["bounded"]);
    assert!(args::wanted(&named, "bounded"));
    assert!(!args::wanted(&named, "pipeline"));
}

#[test]
fn an_unknown_word_is_refused_in_one_line() {
    for line in [&["--bench", "bounde"][..], &["before", "--bench"]] {
        let refused = args::strategies(strings(line), &KNOWN);
        let Err(message) = refused else {
            panic!("{line:?} was taken: {refused:?}");
        };
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains("bounded, pipeline"), "{message}");
    }
    assert_eq!(args::USAGE_ERROR, 2, "what clap and criterion exit with");
}

#[test]
fn a_switch_is_one_or_zero_and_nothing_else() {
    assert_eq!(args::switch("QUICK", None), Ok(false), "unset");
    assert_eq!(args::switch("QUICK", Some("")), Ok(false), "empty");
    assert_eq!(args::switch("QUICK", Some("0")), Ok(false));
    assert_eq!(args::switch("QUICK", Some("1")), Ok(true));
    assert_eq!(
        args::switch("QUICK", Some(" 1 ")),
        Ok(true),
        "as counts are"
    );
    // Taken for on, these would run a different benchmark than was asked
    // for: `false` and `no` mean off to whoever typed them.
    for value in ["false", "no", "off", "yes", "2"] {
        let Err(message) = args::switch("QUICK", Some(value)) else {
            panic!("QUICK={value:?} was taken");
        };
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains(&format!("QUICK={value:?}")), "{message}");
    }
}

/// `cargo bench -- --list` lists, and runs nothing: a line per strategy,
/// as criterion and libtest list theirs. Without `--list`, nothing.
#[test]
fn list_names_every_strategy_and_runs_nothing() {
    let listed = args::listing(&strings(&["--bench", "--list"]), "tradeoff", &KNOWN);
    let expected = "tradeoff/bounded: benchmark\ntradeoff/pipeline: benchmark\n";
    assert_eq!(listed.as_deref(), Some(expected));
    assert_eq!(
        args::listing(&strings(&["--bench"]), "tradeoff", &KNOWN),
        None
    );
    assert!(args::test_mode(strings(&["--bench", "--test"])));
    assert!(!args::test_mode(strings(&["--bench", "--quick"])));
}
