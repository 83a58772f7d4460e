//! The memory envelope: the most the server can hold at its caps, and the
//! start-up warning when a limit on the process's memory has less room.
//!
//! Every buffer and every thread a client can make the server take is
//! bounded by a cap, so their sum at the caps is a number known at start.
//! `--max-buffered-total` bounds what the buffered modes (`buffer`,
//! `unbounded`) queue; this file adds up everything else, which grows with
//! `--max-connections`:
//!
//! - **Slots.** Up to `--max-connections` connections are served, and as
//!   many more may be closing (a finished response gives its slot back
//!   while its close waits): a slot is one of each.
//! - **A connection served**, at its largest an HTTP/2 one (an HTTP/1
//!   connection is its reader and one stream): its thread
//!   ([`CONNECTION_STACK_BYTES`]), its writer ([`STREAM_STACK_BYTES`]) and
//!   [`MAX_STREAM_THREADS`] stream threads ([`STREAM_STACK_BYTES`]), each
//!   with a producer in a channel mode ([`PRODUCER_STACK_BYTES`]). Its
//!   buffers: the request head ([`MAX_HEAD_BYTES`]), the reader's frame
//!   buffer and a header block at its largest, the requests waiting for a
//!   thread ([`MAX_WAITING_BYTES`]), the writer's frame; per
//!   stream thread a hand-off ([`HANDOFF_BYTES`]) and a flat mode's
//!   buffers, `bounded`'s (depth + 2) × chunk (`pipeline`'s one chunk is
//!   less). Those are threads, not streams: 16 streams are answered at
//!   most (the others open wait with no thread), and as many threads may
//!   still be leaving with their buffers, which a rapid reset keeps full.
//!   In steady use a connection holds about half.
//! - **A connection closing**: its thread's stack; its buffers are freed.
//! - **The allocator's arenas**, in address space only: glibc's malloc
//!   gives threads arenas of their own, up to eight a core in all (nine
//!   at least), the main one among them, unless the environment says
//!   fewer ([`malloc_arenas`]); past the main one, each is a 64 MiB
//!   reservation mapped whole when made and touched only as used. Under a
//!   `ulimit -v` they take room first come, as many as the threads that allocate at once ask
//!   for, and may leave none for the connections (`docs/defenses.md` has
//!   a measured case). Those made before the warning are counted twice.
//!
//! What each limit counts differs by the stacks and arenas. Address space
//! (`ulimit -v`, `VmSize`) holds every stack whole, with its guard page, as
//! mapped.
//! Memory (a cgroup's `memory.max`) holds a stack's pages only once
//! touched: counted here as one page a thread, the least each touches,
//! and the kernel's own stack for the thread, which the cgroup charges
//! too; so the memory envelope is a floor for stacks and a ceiling for
//! buffers.
//!
//! Left out, as the allocator's and the kernel's rather than the server's:
//! the allocator's overhead per block, the small tables (HPACK's 4 KiB, a
//! stream's entry), the server's own threads started before the warning
//! (counted in use then), glibc's cache of freed thread stacks (up to
//! 40 MiB of address space, reused by the next threads), and the socket
//! buffers a cgroup charges to the process (`--notsent-lowat` bounds what
//! a write leaves unsent).
//!
//! A real service sizes its caps from this sum: it picks
//! `--max-connections`, `--chunk-bytes` and `--max-buffered-total` so that
//! the envelope and the budget fit its container with room to spare, and
//! a thread-per-stream server learns here why async runtimes exist: at the
//! defaults the stacks alone map gigabytes.

use super::CONNECTION_STACK_BYTES;
use super::config::ServerConfig;
use super::h2::{
    HANDOFF_BYTES, MAX_HEADER_BLOCK_BYTES, MAX_STREAM_THREADS, MAX_WAITING_BYTES,
    STREAM_STACK_BYTES,
};
use crate::http::h2::frame::{HEADER_BYTES, MAX_FRAME_BYTES};
use crate::http::h2::frame_buffer::FrameBuffer;
use crate::http::request::MAX_HEAD_BYTES;
use crate::measure::proc_status::{self, Counts, MemoryLimit};
use crate::strategy::PRODUCER_STACK_BYTES;

/// A page, on x86-64 and most arm64 Linux: each thread's stack has one
/// guard page below it, mapped and never touched, and touches at least one.
const PAGE_BYTES: u64 = 4096;

/// The stack the kernel keeps for each thread (`THREAD_SIZE`: 16 KiB on
/// x86-64 and arm64), in no mapping of the process, so not in its address
/// space, but charged to its cgroup's memory.
const KERNEL_STACK_BYTES: u64 = 16 * 1024;

/// Threads a slot may hold: an HTTP/2 connection's reader (its connection
/// thread) and writer, its stream threads and their producers, and one
/// connection closing.
const SLOT_THREADS: u64 = 2 + 2 * MAX_STREAM_THREADS as u64 + 1;

/// Their stacks, as mapped.
const SLOT_STACKS: u64 = 2 * CONNECTION_STACK_BYTES as u64
    + STREAM_STACK_BYTES as u64
    + MAX_STREAM_THREADS as u64 * (STREAM_STACK_BYTES + PRODUCER_STACK_BYTES) as u64;

/// An HTTP/2 connection's own buffers, whatever its streams: the request
/// head it began as, the reader's frame buffer, a header block at its
/// largest, the requests waiting for a thread, and the writer's frame.
const CONNECTION_BUFFER_BYTES: u64 = (MAX_HEAD_BYTES
    + FrameBuffer::BYTES
    + MAX_HEADER_BLOCK_BYTES
    + MAX_WAITING_BYTES
    + HEADER_BYTES
    + MAX_FRAME_BYTES) as u64;

/// Address space glibc's malloc maps for each arena past the main one:
/// 64 MiB (`HEAP_MAX_SIZE`, twice the largest mmap threshold on 64-bit).
const ARENA_RESERVE_BYTES: u64 = 64 << 20;

/// Arenas glibc's malloc per core on 64-bit, unless `MALLOC_ARENA_MAX`.
const ARENAS_PER_CORE: u64 = 8;

/// Arenas glibc's malloc makes before it sets that limit at all
/// (`arena_test`, eight on 64-bit): it stops once it has more, so one
/// core's eight become nine.
const ARENAS_BEFORE_THE_LIMIT: u64 = 8;

/// What the caps let the server hold beyond `--max-buffered-total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// `--max-connections`: each slot a connection served and one closing.
    pub slots: u64,
    /// Buffers one slot may hold: its connection's, and every stream
    /// thread's hand-off and flat-mode buffers.
    pub slot_buffers: u64,
    /// Malloc arenas the threads may make past the main one, each
    /// [`ARENA_RESERVE_BYTES`] of address space ([`malloc_arenas`]).
    pub arenas: u64,
}

impl Envelope {
    /// The envelope of `config`'s caps, with `arenas` malloc arenas past
    /// the main one ([`malloc_arenas`], for the running process).
    pub fn of(config: &ServerConfig, arenas: u64) -> Envelope {
        let flat = (config.channel_depth as u64 + 2) * config.chunk_bytes as u64;
        let per_stream = HANDOFF_BYTES as u64 + flat;
        Envelope {
            slots: config.max_connections as u64,
            slot_buffers: CONNECTION_BUFFER_BYTES + MAX_STREAM_THREADS as u64 * per_stream,
            arenas,
        }
    }

    /// What `counts` counts whatever the connections: the arenas'
    /// reservations, in address space.
    pub fn fixed(&self, counts: Counts) -> u64 {
        match counts {
            Counts::AddressSpace => self.arenas * ARENA_RESERVE_BYTES,
            Counts::Memory => 0,
        }
    }

    /// What one slot adds to what `counts` counts: its buffers, and its
    /// threads' stacks whole with their guard pages (address space) or a
    /// touched page and a kernel stack each (memory).
    pub fn per_slot(&self, counts: Counts) -> u64 {
        self.slot_buffers
            + match counts {
                Counts::AddressSpace => SLOT_STACKS + SLOT_THREADS * PAGE_BYTES,
                Counts::Memory => SLOT_THREADS * (PAGE_BYTES + KERNEL_STACK_BYTES),
            }
    }

    /// The whole envelope as `counts` counts it.
    pub fn counted_by(&self, counts: Counts) -> u64 {
        self.slots * self.per_slot(counts) + self.fixed(counts)
    }
}

/// Arenas glibc's malloc may make past the main one: the limit the
/// environment sets less one ([`arena_max`]), else eight a core less one,
/// and at least eight (glibc counts the cores the process may run on, as
/// std does, though a cgroup CPU quota lowers std's count and not glibc's).
/// None without glibc.
pub fn malloc_arenas() -> u64 {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return 0;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let (tunables, alias) = (
        std::env::var("GLIBC_TUNABLES").ok(),
        std::env::var("MALLOC_ARENA_MAX").ok(),
    );
    arenas_past_the_main(cores, arena_max(tunables.as_deref(), alias.as_deref()))
}

/// The limit on arenas the environment sets, read as glibc reads it: the
/// tunable `glibc.malloc.arena_max` in `GLIBC_TUNABLES` (`name=value`
/// pairs joined by colons, the last one counting), which wins over its
/// older alias `MALLOC_ARENA_MAX` whichever comes first in the
/// environment. A value that is not a number above zero sets nothing.
fn arena_max(tunables: Option<&str>, alias: Option<&str>) -> Option<u64> {
    let number = |value: &str| value.parse::<u64>().ok().filter(|&n| n > 0);
    let tunable = tunables.and_then(|pairs| {
        pairs
            .split(':')
            .filter_map(|pair| pair.strip_prefix("glibc.malloc.arena_max="))
            .next_back()
    });
    tunable.and_then(number).or_else(|| alias.and_then(number))
}

/// [`malloc_arenas`] for `cores` and the limit `arena_max` sets.
fn arenas_past_the_main(cores: u64, arena_max: Option<u64>) -> u64 {
    let most = arena_max.unwrap_or((ARENAS_PER_CORE * cores).max(ARENAS_BEFORE_THE_LIMIT + 1));
    most - 1
}

/// A warning, if a limit on the process's memory leaves less room than
/// the caps let the server take: `envelope` as the limit counts it, and
/// `max_buffered_total`. Then the caps are no defense: enough clients make
/// an allocation or a thread fail, and the process aborts or is killed,
/// every connection with it.
pub fn memory_warning(envelope: &Envelope, max_buffered_total: u64) -> Option<String> {
    warning_for(&proc_status::memory_limits(), envelope, max_buffered_total)
}

/// [`memory_warning`] for the limits given: the one short by the most is
/// named, in one line that says how many connections would fit.
fn warning_for(limits: &[MemoryLimit], envelope: &Envelope, budget: u64) -> Option<String> {
    let need = |l: &MemoryLimit| envelope.counted_by(l.counts).saturating_add(budget);
    let room = |l: &MemoryLimit| l.limit.saturating_sub(l.used);
    let tightest = limits
        .iter()
        .filter(|l| room(l) < need(l))
        .max_by_key(|l| need(l) - room(l))?;
    let (room, need) = (room(tightest), need(tightest));
    let per_slot = envelope.per_slot(tightest.counts);
    let fixed = envelope.fixed(tightest.counts);
    let fit = room.saturating_sub(budget.saturating_add(fixed)) / per_slot.max(1);
    let what = match tightest.counts {
        Counts::AddressSpace => "address space",
        Counts::Memory => "memory",
    };
    let arenas = if fixed > 0 {
        let plural = if envelope.arenas == 1 { "" } else { "s" };
        format!(", {fixed} for {} malloc arena{plural}", envelope.arenas)
    } else {
        String::new()
    };
    let advice = match (fit, fixed > 0) {
        (0, false) => "not one connection fits beside --max-buffered-total: lower it, then \
                       --max-connections or --chunk-bytes"
            .to_string(),
        // Two arenas, one past the main, unless that is the limit already.
        (0, true) => format!(
            "not one connection fits beside --max-buffered-total and the arenas: lower them \
             (MALLOC_ARENA_MAX={}, say), then --max-connections or --chunk-bytes",
            if envelope.arenas > 1 { 2 } else { 1 }
        ),
        (fit, arenas) => format!(
            "lower --max-connections to {fit} or less (at these --chunk-bytes, \
             --channel-depth and --max-buffered-total), --chunk-bytes or \
             --max-buffered-total{}",
            if arenas {
                ", or set MALLOC_ARENA_MAX"
            } else {
                ""
            }
        ),
    };
    Some(format!(
        "backpressure: warning: {} is {} bytes with {} in use, {room} left, but at its caps \
         the server may take {need} bytes more of {what}: {per_slot} for each of \
         --max-connections {} (its threads, and the flat modes' buffers on HTTP/2's \
         streams){arenas} and --max-buffered-total {budget}; past the limit an allocation or a \
         thread fails and the process aborts or is killed; {advice}",
        tightest.name, tightest.limit, tightest.used, envelope.slots,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope is the sum of its terms, each from its own constant:
    /// a term left out, or counted once too few, changes the sum.
    #[test]
    fn the_envelope_adds_every_thread_and_buffer_a_slot_may_hold() {
        let config = ServerConfig {
            max_connections: 3,
            channel_depth: 2,
            chunk_bytes: 1000,
            ..ServerConfig::default()
        };
        let envelope = Envelope::of(&config, 5);
        let streams = MAX_STREAM_THREADS as u64;
        let stream_buffers = streams * (HANDOFF_BYTES as u64 + (2 + 2) * 1000);
        let frame = (HEADER_BYTES + MAX_FRAME_BYTES) as u64;
        let connection_buffers = (MAX_HEAD_BYTES + MAX_HEADER_BLOCK_BYTES + MAX_WAITING_BYTES)
            as u64
            + 2 * frame
            + frame;
        let threads = 1 + 1 + streams + streams + 1;
        let stacks = CONNECTION_STACK_BYTES as u64 * 2
            + STREAM_STACK_BYTES as u64 * (1 + streams)
            + PRODUCER_STACK_BYTES as u64 * streams;
        let buffers = connection_buffers + stream_buffers;
        assert_eq!(
            envelope.counted_by(Counts::Memory),
            3 * (buffers + threads * (4096 + 16384))
        );
        assert_eq!(
            envelope.counted_by(Counts::AddressSpace),
            3 * (buffers + stacks + threads * 4096) + 5 * (64 << 20)
        );
    }

    /// glibc makes arenas without a limit until it has more than
    /// `arena_test` (eight on 64-bit), and only then sets eight a core: on
    /// one core, nine in all, eight past the main one. `MALLOC_ARENA_MAX`
    /// sets the limit from the first.
    #[test]
    fn arenas_are_eight_a_core_and_at_least_nine_in_all() {
        assert_eq!(arenas_past_the_main(1, None), 8);
        assert_eq!(arenas_past_the_main(2, None), 15);
        assert_eq!(arenas_past_the_main(4, None), 31);
        assert_eq!(arenas_past_the_main(1, Some(1)), 0);
        assert_eq!(arenas_past_the_main(1, Some(3)), 2);
    }

    /// The tunable wins over its alias, the last of its pairs counts, and
    /// a value that is no number above zero sets nothing.
    #[test]
    fn the_arena_limit_is_read_as_glibc_reads_it() {
        assert_eq!(arena_max(None, None), None);
        assert_eq!(arena_max(None, Some("2")), Some(2));
        assert_eq!(arena_max(None, Some("0")), None);
        assert_eq!(arena_max(None, Some("two")), None);
        let tunables = "glibc.malloc.check=0:glibc.malloc.arena_max=5";
        assert_eq!(arena_max(Some(tunables), Some("2")), Some(5));
        assert_eq!(
            arena_max(Some("glibc.malloc.arena_max=0"), Some("2")),
            Some(2)
        );
        assert_eq!(arena_max(Some("glibc.malloc.arena_test=5"), None), None);
        let twice = "glibc.malloc.arena_max=3:glibc.malloc.arena_max=6";
        assert_eq!(arena_max(Some(twice), None), Some(6));
    }

    fn limit(name: &str, counts: Counts, limit: u64, used: u64) -> MemoryLimit {
        MemoryLimit {
            name: name.into(),
            counts,
            limit,
            used,
        }
    }

    /// With no connections, the limit with the least room left is the one
    /// named, and only a budget larger than that room is warned of.
    #[test]
    fn a_memory_limit_with_less_room_than_the_budget_is_warned_of() {
        let limits = [
            limit("ulimit -v", Counts::AddressSpace, 4_000, 1_000),
            limit("the memory.max of cgroup /box", Counts::Memory, 2_500, 500),
        ];
        let none = Envelope {
            slots: 0,
            slot_buffers: 0,
            arenas: 0,
        };
        assert_eq!(warning_for(&limits, &none, 2_000), None);
        assert_eq!(warning_for(&[], &none, u64::MAX), None);
        let warning = warning_for(&limits, &none, 2_001).unwrap();
        assert!(
            warning.contains("the memory.max of cgroup /box is 2500 bytes with 500 in use")
                && warning.contains("2000 left")
                && warning.contains("2001 bytes more of memory")
                && warning.contains("--max-buffered-total 2001;")
                && warning.contains("not one connection fits"),
            "{warning}"
        );
    }

    /// Each limit is weighed with what it counts: the stacks make address
    /// space the one short here, though it has more room. The warning
    /// says how many connections fit, and that many are not warned of.
    #[test]
    fn each_limit_weighs_the_envelope_it_counts() {
        let envelope = Envelope {
            slots: 10,
            slot_buffers: 1 << 20,
            arenas: 0,
        };
        let (space, memory) = (
            envelope.per_slot(Counts::AddressSpace),
            envelope.per_slot(Counts::Memory),
        );
        assert_eq!(
            space - memory,
            SLOT_STACKS - SLOT_THREADS * KERNEL_STACK_BYTES
        );
        let budget = 1 << 20;
        // Room for 4 slots of address space and the budget, and for all 10
        // slots of memory and the budget.
        let room_space = budget + 4 * space + space / 2;
        let limits = [
            limit("ulimit -v", Counts::AddressSpace, room_space + 7, 7),
            limit("memory.max", Counts::Memory, budget + 10 * memory, 0),
        ];
        let warning = warning_for(&limits, &envelope, budget).unwrap();
        let need = 10 * space + budget;
        assert!(
            warning.starts_with(&format!(
                "backpressure: warning: ulimit -v is {} bytes with 7 in use, {room_space} left",
                room_space + 7
            )) && warning.contains(&format!(
                "take {need} bytes more of address space: {space} for each of --max-connections 10"
            )) && warning.contains("lower --max-connections to 4 or less"),
            "{warning}"
        );
        let four = Envelope {
            slots: 4,
            ..envelope
        };
        assert_eq!(warning_for(&limits, &four, budget), None);
        // A byte less room for memory, and memory is short too, but by less.
        let limits = [
            limit("ulimit -v", Counts::AddressSpace, room_space, 0),
            limit("memory.max", Counts::Memory, budget + 10 * memory - 1, 0),
        ];
        let warning = warning_for(&limits, &envelope, budget).unwrap();
        assert!(warning.contains("ulimit -v is"), "{warning}");
        let warning = warning_for(&limits[1..], &envelope, budget).unwrap();
        assert!(warning.contains("to 9 or less"), "{warning}");
        // Malloc's arenas take address space, not memory: two of them leave
        // room for two slots fewer, if each slot is 64 MiB.
        let (slot_buffers, arenas) = ((64 << 20) - SLOT_STACKS - SLOT_THREADS * PAGE_BYTES, 2);
        let envelope = Envelope {
            slots: 10,
            slot_buffers,
            arenas,
        };
        assert_eq!(envelope.per_slot(Counts::AddressSpace), 64 << 20);
        let room = budget + 5 * (64 << 20);
        let limits = [
            limit("ulimit -v", Counts::AddressSpace, room, 0),
            limit("memory.max", Counts::Memory, room, 0),
        ];
        let warning = warning_for(&limits, &envelope, budget).unwrap();
        let arenas_bytes = 2 * (64 << 20);
        assert!(
            warning.contains(&format!("take {} bytes", 12 * (64 << 20) + budget))
                && warning.contains(&format!("), {arenas_bytes} for 2 malloc arenas and"))
                && warning.contains("to 3 or less"),
            "{warning}"
        );
        let warning = warning_for(&limits[1..], &envelope, budget).unwrap();
        assert!(!warning.contains("arenas and"), "{warning}");
    }

    /// The advice names the arenas only where they take room: under a
    /// limit on address space, with connections that fit or with none,
    /// and never under one on memory.
    #[test]
    fn the_advice_names_the_arenas_only_where_they_count() {
        let (budget, slot) = (1 << 20, 64 << 20);
        let envelope = Envelope {
            slots: 10,
            slot_buffers: slot - SLOT_STACKS - SLOT_THREADS * PAGE_BYTES,
            arenas: 2,
        };
        let arenas = 2 * slot;
        let advice = |counts, room| {
            let limits = [limit("a limit", counts, room, 0)];
            let warning = warning_for(&limits, &envelope, budget).unwrap();
            warning.split("; ").last().unwrap_or_default().to_string()
        };
        assert_eq!(
            advice(Counts::AddressSpace, budget + arenas + 3 * slot),
            "lower --max-connections to 3 or less (at these --chunk-bytes, --channel-depth \
             and --max-buffered-total), --chunk-bytes or --max-buffered-total, or set \
             MALLOC_ARENA_MAX"
        );
        assert_eq!(
            advice(Counts::AddressSpace, budget + arenas + slot - 1),
            "not one connection fits beside --max-buffered-total and the arenas: lower them \
             (MALLOC_ARENA_MAX=2, say), then --max-connections or --chunk-bytes"
        );
        let one = Envelope {
            arenas: 1,
            ..envelope
        };
        let limits = [limit("a limit", Counts::AddressSpace, budget + slot, 0)];
        let warning = warning_for(&limits, &one, budget).unwrap();
        assert!(warning.contains("(MALLOC_ARENA_MAX=1, say)"), "{warning}");
        assert_eq!(
            advice(Counts::Memory, budget),
            "not one connection fits beside --max-buffered-total: lower it, then \
             --max-connections or --chunk-bytes"
        );
        assert!(
            advice(Counts::Memory, budget + 3 * slot).ends_with("or --max-buffered-total"),
            "no arenas in memory"
        );
    }
}
