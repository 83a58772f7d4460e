//! The demo's report in words: the paragraph under the slow-client table
//! that reads it (where the bytes piled up, and why), and the verdict
//! rule for its footer, all computed from the measurements, never written
//! per strategy. The tables themselves are `table.rs`'s.

use std::fmt::Write as _;

use super::config::DemoConfig;
use super::run::SlowRun;
use super::sampler::SAMPLE_INTERVAL;
use super::units::{counted, duration, size};
use super::verdict::{FLAT_FLOOR_BYTES, Verdict, flat_bound};
use crate::measure::proc_net::PAGE_BYTES;

/// How far above its idle value a server's RSS may be a second after the
/// disconnect and still read as "back near idle": the flat verdict's own
/// floor, whatever idle is (a ratio to idle would let the pages many
/// clients' threads leave with the allocator pass for idle).
const NEAR_IDLE_BYTES: u64 = FLAT_FLOOR_BYTES;

/// Whether `run`'s RSS stayed above [`NEAR_IDLE_BYTES`] over idle.
fn rss_stayed_up(run: &SlowRun) -> bool {
    run.rss_after > run.idle_rss.saturating_add(NEAR_IDLE_BYTES)
}

/// The largest `of` among `runs`; 0 if there are none.
fn most<'a>(runs: impl IntoIterator<Item = &'a SlowRun>, of: fn(&SlowRun) -> u64) -> u64 {
    runs.into_iter().map(of).max().unwrap_or(0)
}

/// What one served client of `run` read of its body, in how long and at
/// what rate: "all of it in 12 ms (7.1 KiB/s) from `bounded`". Body bytes,
/// so that they compare with the body's size; the time is the reading's
/// own, shorter than --seconds when the body ended first.
fn body_read(run: &SlowRun, clients: usize) -> String {
    let mode = run.mode.as_str();
    if run.refused.len() >= clients {
        return format!("nothing from `{mode}`, which refused every client");
    }
    let read = run.body_read / run.served();
    let amount = if read >= run.body_len {
        "all of it".to_string()
    } else {
        size(read)
    };
    // Over the time printed beside it; the floor only keeps a zero off.
    let rate = size((read as f64 / run.read_time.as_secs_f64().max(1e-9)) as u64);
    format!(
        "{amount} in {} ({rate}/s) from `{mode}`",
        duration(run.read_time)
    )
}

/// The served clients of `run` read their whole body before they stopped.
pub(super) fn read_whole(run: &SlowRun) -> bool {
    run.body_read / run.served() >= run.body_len
}

/// The server's kernel send queue per connection was seen at least at
/// the high-water mark (`TCP_NOTSENT_LOWAT`), past which a `write` blocks.
/// The queue counts bytes sent and not yet acknowledged as well as unsent
/// ones, so this is where `write` *can* have blocked, not proof that it
/// did. Without a mark (or without its figure) there is nothing to compare
/// with: `write` blocks only on a full send buffer, megabytes.
fn kernel_full(run: &SlowRun) -> bool {
    run.notsent_lowat > 0 && run.peak_server_tx / run.served() >= run.notsent_lowat
}

/// The paragraph under the table: where the bytes piled up, and why.
pub fn reading(runs: &[SlowRun], config: &DemoConfig) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let with = |verdict: Verdict| -> Vec<&SlowRun> {
        runs.iter().filter(|run| run.verdict == verdict).collect()
    };
    let names = |runs: &[&SlowRun]| -> String {
        let names: Vec<String> = runs
            .iter()
            .map(|run| format!("`{}`", run.mode.as_str()))
            .collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => names.concat(),
        }
    };
    let body = first.body_len;
    let clients = config.clients.max(1);
    // Per mode: each strategy had its own server and clients, and a client
    // that got its whole body stopped reading before --seconds.
    let reads: Vec<String> = runs.iter().map(|run| body_read(run, clients)).collect();
    let mut text = if clients == 1 {
        format!(
            "The client asked for a body of {}; it read {}. ",
            size(body),
            reads.join("; ")
        )
    } else {
        format!(
            "Each of {clients} clients asked for a body of {}; on average each read {}. ",
            size(body),
            reads.join("; ")
        )
    };
    // Writing into a String cannot fail: every `write!` result is ignored.
    // The gauges sum every client: their peak divided by the clients is an
    // average, which one of them may have exceeded (an uneven share of a
    // shared budget); with one client it is that client's own figure.
    let (per_client, per_connection) = match clients {
        1 => ("", ""),
        _ => (" on average per client", " on average per connection"),
    };
    for run in with(Verdict::GrowsWithBody) {
        // With several clients, the buffering caps may have refused some.
        let every = if run.refused.is_empty() {
            "every client"
        } else {
            "every served client"
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
        // What stopped the growth: a buffering cap cutting it short, the
        // end of the export, or the client leaving before either.
        let stopped_by = match run.server_aborts.first() {
            Some((reason, _)) => format!("the server's buffering cap ({reason}) cut it short"),
            None if run.producers_reached_the_end() => {
                "only the end of the export stopped it growing".to_string()
            }
            None => format!(
                "it was still growing when {} disconnected, which alone stopped it",
                if clients > 1 {
                    "the clients"
                } else {
                    "the client"
                }
            ),
        };
        let _ = write!(
            text,
            "`{}` queued up to {} in userland{per_client} ({:.0} % of the body): its producer \
             never had to wait, so the gap between producer and client landed on the heap, and \
             {stopped_by} (RSS {} → {}). ",
            run.mode.as_str(),
            size(run.peak_queued / run.served()),
            // Rounded down: this verdict means the body was never reached,
            // so "100 %" would contradict it.
            (run.peak_queued as f64 * 100.0 / (body as f64 * run.served() as f64).max(1.0)).floor(),
            size(run.idle_rss),
            size(run.peak_rss),
        );
    }
    // Why a run stayed flat, only as far as its samples show it: the
    // mechanism where the kernel's queue reached the mark, whether or not
    // the client went on to read the whole body; a body read whole without
    // it made nothing wait; otherwise the samples show no blocking.
    let flat = with(Verdict::Flat);
    let (waited, rest): (Vec<&SlowRun>, Vec<&SlowRun>) =
        flat.iter().partition(|run| kernel_full(run));
    let (whole, unblocked): (Vec<&SlowRun>, Vec<&SlowRun>) =
        rest.iter().partition(|run| read_whole(run));
    for (group, why) in [
        (
            waited,
            "; the server's kernel send queue reached its high-water mark (what was in flight \
             counted too), which is where `write` can block: then the blocked writer stops taking chunks, and the \
             producer waits (in a full channel's `send`, or by not being asked for the next \
             rows), so the chain of flow control reaches all the way back",
        ),
        (
            whole,
            &format!(
                ", but the clients read the whole body and the kernel's queue stayed under \
                 its mark{per_connection}, so nothing had to wait: a body these clients read \
                 whole does not test flow control (more --rows, or a slower --client-rate, \
                 would)"
            ),
        ),
        (
            unblocked,
            &format!(
                "; the server's kernel send queue stayed under its high-water \
                 mark{per_connection} (or had none), so these samples do not show `write` \
                 blocking or the producer waiting for the client"
            ),
        ),
    ] {
        if group.is_empty() {
            continue;
        }
        let _ = write!(
            text,
            "{} never queued more than {} in userland{per_client} and grew at most {} over \
             idle{why}. ",
            names(&group),
            size(most(group.iter().copied(), |run| run.peak_queued / run.served())),
            size(most(group.iter().copied(), SlowRun::growth)),
        );
    }
    let _ = write!(
        text,
        "In every mode the kernel held up to {} in the server's send queues (the largest of \
         samples {sample_ms} ms apart; unsent bytes \
         bounded by the server's TCP_NOTSENT_LOWAT, the rest in flight) and {} in \
         the clients' receive queues (under their receive windows): kernel memory, counted in /proc/net/sockstat (pages of \
         {PAGE_BYTES} bytes) and never in the server's RSS. ",
        size(most(runs, |run| run.peak_server_tx)),
        size(most(runs, |run| run.peak_client_rx)),
        sample_ms = SAMPLE_INTERVAL.as_millis(),
    );
    let stopped = runs.iter().filter(|run| run.producer_stopped()).count();
    let _ = write!(
        text,
        "Over a second after the disconnect, {stopped} of {} had stopped their producer \
         (nothing queued, threads back to idle)",
        counted(runs.len() as u64, "server")
    );
    // RSS left up: explained by the allocator only where nothing was left
    // queued; where bytes still were, by those bytes.
    let (kept, holding): (Vec<&SlowRun>, Vec<&SlowRun>) = runs
        .iter()
        .filter(|run| rss_stayed_up(run))
        .partition(|run| run.queued_after == 0);
    let above = size(NEAR_IDLE_BYTES);
    if kept.is_empty() && holding.is_empty() {
        text.push_str(", and RSS was back near idle");
    }
    if !holding.is_empty() {
        let _ = write!(
            text,
            "; {}'s RSS stayed more than {above} above idle with {} still queued: its export \
             was not yet let go",
            names(&holding),
            size(most(holding.iter().copied(), |run| run.queued_after)),
        );
    }
    if !kept.is_empty() {
        let _ = write!(
            text,
            "; {}'s RSS stayed more than {above} above idle even with nothing queued: the \
             allocator keeps \
             freed pages for reuse, so RSS overstates what is live, which is why the tests \
             assert queued bytes and the live heap instead",
            names(&kept)
        );
    }
    text.push('.');
    text
}

/// The verdict rule, for the report's footer. With several clients the
/// figure it judges is their average, not any one client's peak: the
/// queue gauge only ever sums them.
pub fn rule(body_len: u64, clients: usize) -> String {
    let figure = match clients {
        0 | 1 => String::new(),
        n => format!(
            ", here the peak of the {n} clients' sum divided by those served (an average, \
             which one client may have exceeded)"
        ),
    };
    format!(
        "Verdict rule (src/demo/verdict.rs), on the peak userland queue per client{figure}: \
         flat if it stays under max({}, body / 100) = {}; grows with the body if it reached \
         the whole body ({}); unbounded otherwise; not measured if every client was refused.",
        size(FLAT_FLOOR_BYTES),
        size(flat_bound(body_len)),
        size(body_len)
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The defaults, with `clients` slow readers.
    fn with_clients(clients: usize) -> DemoConfig {
        DemoConfig {
            clients,
            ..DemoConfig::default()
        }
    }

    /// How the report says the producer waited on a blocked `write`.
    const BLOCKED: &str = "which is where `write` can block";

    /// A slow run of `clients` connections, each with these peaks.
    pub(in crate::demo) fn slow_run(
        clients: usize,
        tx_per_client: u64,
        queued_per_client: u64,
        lowat: u64,
    ) -> SlowRun {
        SlowRun {
            mode: crate::export::Mode::Bounded,
            notsent_lowat: lowat,
            body_len: 384_861_933,
            clients,
            idle_rss: 3 << 20,
            idle_threads: 2,
            peak_rss: 4 << 20,
            peak_queued: queued_per_client * clients as u64,
            peak_server_tx: tx_per_client * clients as u64,
            peak_client_rx: 110 << 10,
            body_read: (1 << 20) * clients as u64,
            body_sent: (1 << 20) * clients as u64,
            read_time: std::time::Duration::from_millis(5100),
            rss_after: 3 << 20,
            threads_after: 2,
            queued_after: 0,
            ends: Vec::new(),
            refused: Vec::new(),
            server_aborts: Vec::new(),
            verdict: Verdict::Flat,
        }
    }

    /// The rule is applied to one client's peak queue only with one
    /// client; with several it is applied to their average, and says so.
    #[test]
    fn the_rule_says_what_it_was_applied_to() {
        let body = 384_861_933;
        let said = "Verdict rule (src/demo/verdict.rs), on the peak userland queue per client: \
                    flat if it stays under max(1.0 MiB, body / 100) = 3.7 MiB;";
        assert!(rule(body, 1).starts_with(said), "{}", rule(body, 1));
        let said = "Verdict rule (src/demo/verdict.rs), on the peak userland queue per client, \
                    here the peak of the 4 clients' sum divided by those served (an average, \
                    which one client may have exceeded): flat if it stays under";
        assert!(rule(body, 4).starts_with(said), "{}", rule(body, 4));
    }

    /// The first sentence compares body bytes with the body, over the
    /// time the client actually read, per mode: a 87 B body read in 12 ms
    /// is "all of it in 12 ms", not 296 wire bytes over --seconds.
    #[test]
    fn the_first_sentence_counts_body_bytes_over_the_time_read() {
        let mut small = slow_run(1, 0, 87, 16 << 10);
        (small.body_len, small.body_read) = (87, 87);
        small.read_time = std::time::Duration::from_millis(12);
        let mut cut = slow_run(1, 0, 87, 16 << 10);
        cut.mode = crate::export::Mode::Unbounded;
        let config = with_clients(1);
        let text = reading(&[small, cut], &config);
        let first = text.split(". ").next().unwrap_or_default();
        assert_eq!(
            first,
            "The client asked for a body of 87 B; it read all of it in 12 ms (7.1 KiB/s) \
             from `bounded`; 1.0 MiB in 5.1 s (200.8 KiB/s) from `unbounded`"
        );
        assert_eq!(duration(std::time::Duration::from_millis(250)), "250 ms");
        assert_eq!(duration(std::time::Duration::from_millis(999)), "999 ms");
        assert_eq!(duration(std::time::Duration::from_millis(1000)), "1 s");
        assert_eq!(duration(std::time::Duration::from_millis(1250)), "1.25 s");
        assert_eq!(duration(std::time::Duration::from_secs(2)), "2 s");
    }

    /// The rate is the body over the time printed beside it: a read under
    /// a millisecond (0.4 ms here) is divided by its own time, not by a
    /// whole millisecond, which would cut its rate to a fraction.
    #[test]
    fn a_read_under_a_millisecond_has_its_own_rate() {
        let mut quick = slow_run(1, 0, 87, 16 << 10);
        (quick.body_len, quick.body_read) = (87, 87);
        quick.read_time = std::time::Duration::from_micros(400);
        let text = reading(&[quick], &with_clients(1));
        let said = "it read all of it in 0.4 ms (212.4 KiB/s) from `bounded`.";
        assert!(text.contains(said), "{text}");
    }

    /// "write blocked and the producer waited" only when the samples show
    /// it: a kernel queue that reached its mark, whether or not the client
    /// went on to read the whole body.
    #[test]
    fn a_flat_run_is_explained_only_by_what_was_seen() {
        let config = with_clients(1);
        let waited = slow_run(1, 144 << 10, 144 << 10, 16 << 10);
        assert!(reading(&[waited], &config).contains(BLOCKED));
        let mut whole = slow_run(1, 0, 87, 16 << 10);
        (whole.body_len, whole.body_read) = (87, 87);
        let text = reading(&[whole], &config);
        assert!(!text.contains(BLOCKED), "{text}");
        assert!(text.contains("so nothing had to wait"), "{text}");
        // A body larger than the kernel's buffers, read whole at the
        // client's rate: the queue reached the mark, so the producer waited.
        let mut read_at_rate = slow_run(1, 140 << 10, 144 << 10, 16 << 10);
        read_at_rate.body_read = read_at_rate.body_len;
        assert!(reading(&[read_at_rate], &config).contains(BLOCKED));
        let unblocked = slow_run(1, 4 << 10, 4 << 10, 16 << 10);
        let text = reading(&[unblocked], &config);
        assert!(!text.contains(BLOCKED), "{text}");
        assert!(text.contains("stayed under its high-water mark"), "{text}");
        // No mark (its figure 0) is never reached, however full the queue.
        let text = reading(&[slow_run(1, 4 << 20, 64 << 10, 0)], &config);
        assert!(
            !text.contains(BLOCKED) && text.contains("(or had none)"),
            "{text}"
        );
    }

    /// Modes that share a sentence are listed as prose lists them: a small
    /// body leaves all four flat, and they read "`a`, `b`, `c` and `d`",
    /// not "`a` and `b` and `c` and `d`".
    #[test]
    fn modes_in_one_sentence_are_a_list() {
        use crate::export::Mode::{Bounded, Buffer, Pipeline, Unbounded};
        let config = with_clients(1);
        let runs = [Buffer, Unbounded, Bounded, Pipeline].map(|mode| SlowRun {
            mode,
            ..slow_run(1, 144 << 10, 144 << 10, 16 << 10)
        });
        let text = reading(&runs, &config);
        let listed = "`buffer`, `unbounded`, `bounded` and `pipeline` never queued";
        assert!(text.contains(listed), "{text}");
        let text = reading(&runs[2..], &config);
        let listed = "`bounded` and `pipeline` never queued";
        assert!(text.contains(listed), "{text}");
    }

    /// A mode whose defenses refused every client read nothing: the
    /// sentence says so, not "0 B in 5.1 s".
    #[test]
    fn a_mode_that_refused_every_client_is_named_as_such() {
        let mut refusing = slow_run(2, 0, 0, 16 << 10);
        (refusing.refused, refusing.body_read) = (vec![503, 503], 0);
        let config = with_clients(2);
        let text = reading(&[refusing], &config);
        let first = text.split(". ").next().unwrap_or_default();
        assert_eq!(
            first,
            "Each of 2 clients asked for a body of 367.0 MiB; on average each read nothing \
             from `bounded`, which refused every client"
        );
    }

    /// With four clients the kernel's queue reached the mark only if one
    /// connection's did: four connections each under it, summed over it,
    /// show no `write` blocking.
    #[test]
    fn the_mark_is_reached_per_connection_not_in_sum() {
        let config = with_clients(4);
        let under = slow_run(4, 8 << 10, 8 << 10, 16 << 10);
        let text = reading(&[under], &config);
        assert!(!text.contains(BLOCKED), "{text}");
        assert!(text.contains("stayed under its high-water mark"), "{text}");
        let reached = slow_run(4, 16 << 10, 8 << 10, 16 << 10);
        assert!(reading(&[reached], &config).contains(BLOCKED));
    }

    /// An unbounded run's queue is given per client, and as a share of one
    /// client's body.
    #[test]
    fn an_unbounded_runs_queue_is_per_client() {
        let mut run = slow_run(4, 0, 100 << 20, 16 << 10);
        run.verdict = Verdict::Unbounded;
        let config = with_clients(4);
        let text = reading(&[run], &config);
        let said = "`bounded` queued up to 100.0 MiB in userland on average per client \
                    (27 % of the body)";
        assert!(text.contains(said), "{text}");
        // Short of the body is short of 100 %: a peak a little short of
        // the body must not round to "100 % of the body" beside the
        // verdict "unbounded", which means it never reached the body.
        let mut run = slow_run(1, 0, 0, 16 << 10);
        (run.verdict, run.peak_queued) = (Verdict::Unbounded, run.body_len - (400 << 10));
        let text = reading(&[run], &with_clients(1));
        assert!(text.contains("(99 % of the body)"), "{text}");
    }

    /// With several clients a userland figure is the peak of their sum
    /// divided by them: an average, which one client may have exceeded (an
    /// uneven pair under a shared budget), so it is said to be one; so is
    /// a kernel queue under its mark only on average. One client's figure
    /// is exact, and its sentences name no average.
    #[test]
    fn several_clients_figures_are_said_to_be_averages() {
        use crate::export::Mode::{Buffer, Unbounded};
        let runs = |clients| {
            let mut buffer = slow_run(clients, 0, 367 << 20, 16 << 10);
            (buffer.mode, buffer.verdict) = (Buffer, Verdict::GrowsWithBody);
            let mut unbounded = slow_run(clients, 0, 100 << 20, 16 << 10);
            (unbounded.mode, unbounded.verdict) = (Unbounded, Verdict::Unbounded);
            let bounded = slow_run(clients, 144 << 10, 144 << 10, 16 << 10);
            [buffer, unbounded, bounded]
        };
        let text = reading(&runs(4), &with_clients(4));
        for said in [
            "(367.0 MiB queued on average per client)",
            "`unbounded` queued up to 100.0 MiB in userland on average per client (27 %",
            "`bounded` never queued more than 144.0 KiB in userland on average per client and",
        ] {
            assert!(text.contains(said), "{said:?} not in {text}");
        }
        let averages = text.matches(" on average per client").count();
        assert_eq!(text.matches(" per client").count(), averages, "{text}");
        let under = reading(&[slow_run(4, 8 << 10, 8 << 10, 16 << 10)], &with_clients(4));
        let said = "stayed under its high-water mark on average per connection (or had none)";
        assert!(under.contains(said), "{under}");
        let mut whole = slow_run(4, 0, 87, 16 << 10);
        (whole.body_len, whole.body_read) = (87, 4 * 87);
        let text = reading(&[whole], &with_clients(4));
        let said = "stayed under its mark on average per connection, so nothing had to wait";
        assert!(text.contains(said), "{text}");
        let text = reading(&runs(1), &with_clients(1));
        for said in [
            "(367.0 MiB queued)",
            "`unbounded` queued up to 100.0 MiB in userland (27 %",
            "`bounded` never queued more than 144.0 KiB in userland and",
        ] {
            assert!(text.contains(said), "{said:?} not in {text}");
        }
        assert!(!text.contains("average"), "{text}");
        let under = reading(&[slow_run(1, 8 << 10, 8 << 10, 16 << 10)], &with_clients(1));
        let said = "stayed under its high-water mark (or had none)";
        assert!(under.contains(said), "{under}");
    }

    /// An unbounded queue stopped growing at the body's end only if its
    /// producer got there: a third of the body queued and a MiB sent, the
    /// client left first, and the sentence must say so.
    #[test]
    fn an_unbounded_queue_is_stopped_by_what_stopped_it() {
        let config = with_clients(1);
        let mut cut_off = slow_run(1, 0, 124 << 20, 16 << 10);
        cut_off.verdict = Verdict::Unbounded;
        let text = reading(&[cut_off.clone()], &config);
        assert!(!text.contains("end of the export"), "{text}");
        let said = "still growing when the client disconnected, which alone stopped it";
        assert!(text.contains(said), "{text}");
        let two = SlowRun {
            clients: 2,
            peak_queued: 248 << 20,
            ..cut_off.clone()
        };
        let text = reading(&[two], &with_clients(2));
        let said = "when the clients disconnected, which alone stopped it (RSS 3.0 MiB → 4.0 MiB)";
        assert!(text.contains(said), "{text}");
        // The README's run: all but what was sent was queued at the peak.
        let mut whole = cut_off;
        whole.peak_queued = whole.body_len - whole.body_sent;
        let text = reading(&[whole], &config);
        assert!(
            text.contains("only the end of the export stopped it"),
            "{text}"
        );
        assert!(!text.contains("disconnected"), "{text}");
    }

    /// RSS left high is the allocator's doing only if nothing was left
    /// queued: a server still holding its export must not be told "even
    /// with nothing queued".
    #[test]
    fn rss_after_the_disconnect_is_explained_by_what_was_left() {
        let config = with_clients(1);
        let mut holding = slow_run(1, 0, 100 << 20, 16 << 10);
        (holding.rss_after, holding.queued_after) = (100 << 20, 90 << 20);
        let text = reading(&[holding.clone()], &config);
        assert!(!text.contains("even with nothing queued"), "{text}");
        assert!(!text.contains("back near idle"), "{text}");
        let said = "`bounded`'s RSS stayed more than 1.0 MiB above idle with 90.0 MiB still queued";
        assert!(text.contains(said), "{text}");
        assert!(text.ends_with("not yet let go."), "{text}");
        let mut freed = holding;
        freed.queued_after = 0;
        let text = reading(&[freed], &config);
        assert!(text.contains("even with nothing queued"), "{text}");
        assert!(text.ends_with("live heap instead."), "{text}");
        let text = reading(&[slow_run(1, 0, 0, 16 << 10)], &config);
        assert!(text.ends_with(", and RSS was back near idle."), "{text}");
        // 1 MiB over idle is the edge the sentences name, to the byte; an
        // RSS under twice idle can be well past it (16 clients kept 3.2 MiB
        // over 3.4 MiB idle).
        let mut edge = slow_run(1, 0, 0, 16 << 10);
        edge.rss_after = edge.idle_rss + (1 << 20);
        let text = reading(&[edge.clone()], &config);
        assert!(text.ends_with(", and RSS was back near idle."), "{text}");
        edge.rss_after += 1;
        let text = reading(&[edge.clone()], &config);
        let said = "stayed more than 1.0 MiB above idle even with nothing";
        assert!(text.contains(said), "{text}");
        (edge.idle_rss, edge.rss_after) = (34 << 19, 66 << 19);
        let text = reading(&[edge], &config);
        assert!(!text.contains("back near idle"), "{text}");
    }

    /// Each figure of the reading is the field it names, the largest of the
    /// runs it speaks for: the kernel's two queues, the growth (not the
    /// peak), the servers that let go; and per served client, at its rate.
    #[test]
    fn each_figure_of_the_reading_is_the_one_it_names() {
        let mut bounded = slow_run(1, 144 << 10, 64 << 10, 16 << 10);
        (bounded.peak_rss, bounded.peak_client_rx) = (5 << 20, 100 << 10);
        let mut pipeline = slow_run(1, 200 << 10, 48 << 10, 16 << 10);
        (pipeline.mode, pipeline.peak_client_rx) = (crate::export::Mode::Pipeline, 120 << 10);
        let text = reading(&[bounded, pipeline], &with_clients(1));
        for said in [
            "`pipeline` never queued more than 64.0 KiB in userland and grew at most 2.0 MiB over",
            "the kernel held up to 200.0 KiB in the server's send queues",
            "and 120.0 KiB in the clients' receive queues",
            "Over a second after the disconnect, 2 of 2 servers had stopped their producer",
        ] {
            assert!(text.contains(said), "{said:?} not in {text}");
        }
        // One of two refused: the other's read is its own, as is its RSS.
        let mut buffer = slow_run(2, 0, 0, 16 << 10);
        (buffer.mode, buffer.refused) = (crate::export::Mode::Buffer, vec![503]);
        (buffer.verdict, buffer.peak_queued) = (Verdict::GrowsWithBody, buffer.body_len);
        (buffer.peak_rss, buffer.body_read) = (371 << 20, 1 << 20);
        let four = slow_run(4, 0, 0, 16 << 10);
        let text = reading(&[buffer, four], &with_clients(2));
        for said in [
            "each read 1.0 MiB in 5.1 s (200.8 KiB/s) from `buffer`; 1.0 MiB in 5.1 s (200.8",
            "RSS went from 3.0 MiB to 371.0 MiB, paid before the client read a byte, and paid \
             again for every served client.",
        ] {
            assert!(text.contains(said), "{said:?} not in {text}");
        }
    }

    /// The body is read whole by each client, not by their sum: two that
    /// read 1 MiB each of a 1.5 MiB body did not read it whole.
    #[test]
    fn a_body_is_read_whole_per_client_not_in_sum() {
        let mut run = slow_run(2, 0, 64 << 10, 16 << 10);
        run.body_len = 3 << 19;
        assert!(!read_whole(&run));
        let text = reading(&[run], &with_clients(2));
        assert!(!text.contains("so nothing had to wait"), "{text}");
        assert!(text.contains("(or had none)"), "{text}");
    }

    /// The paragraph's kernel figure is the table's column: the sum of the
    /// clients' send queues, not one client's share.
    #[test]
    fn the_kernels_figure_is_the_tables() {
        let text = reading(
            &[slow_run(2, 144 << 10, 64 << 10, 16 << 10)],
            &with_clients(2),
        );
        let said = "the kernel held up to 288.0 KiB in the server's send queues";
        assert!(text.contains(said), "{text}");
    }

    /// The footer's edge of "grows with the body" is the body, not the
    /// flat bound.
    #[test]
    fn the_rule_gives_the_body_as_the_edge_of_growing_with_it() {
        let said = "grows with the body if it reached the whole body (367.0 MiB);";
        assert!(
            rule(384_861_933, 1).contains(said),
            "{}",
            rule(384_861_933, 1)
        );
    }

    /// Two clients' producers that held 200 MiB each had not reached the
    /// end of a 367 MiB export each: their clients' leaving stopped them.
    #[test]
    fn the_end_of_the_export_is_each_producers() {
        let mut run = slow_run(2, 0, 200 << 20, 16 << 10);
        run.verdict = Verdict::Unbounded;
        let text = reading(&[run], &with_clients(2));
        assert!(!text.contains("end of the export"), "{text}");
        assert!(text.contains("when the clients disconnected"), "{text}");
    }

    /// A queue a buffering cap cut short is said to be, by the cap's name.
    #[test]
    fn a_cap_that_cut_the_queue_short_is_named() {
        let mut run = slow_run(1, 0, 124 << 20, 16 << 10);
        (run.verdict, run.server_aborts) = (Verdict::Unbounded, vec![("buffer-cap", 1)]);
        let text = reading(&[run], &with_clients(1));
        let said = "the server's buffering cap (buffer-cap) cut it short (RSS";
        assert!(text.contains(said), "{text}");
    }
}
