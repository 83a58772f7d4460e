//! Resident memory and thread count, as the Linux kernel reports them in
//! `/proc/<pid>/status`; the open-file limit (`ulimit -n`) with the
//! descriptors in use, from `/proc/self/limits` and `/proc/self/fd`; and
//! the limits on the process's memory (`ulimit -v`, cgroup v2's
//! `memory.max` on its group or any group above it) with what each counts
//! in use, for `serve`'s warning.
//!
//! RSS is what the out-of-memory killer looks at, the number behind the
//! lesson's "the kernel kills the process"; the thread count shows that
//! every connection's threads really end. The kernel's text looks like:
//!
//! ```text
//! VmHWM:      5120 kB
//! VmRSS:      4096 kB
//! Threads:    3
//! ```
//!
//! Without `/proc` every field is `None`, and the metrics that need them are
//! left out rather than reported as zero.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use crate::http::request::decimal;

/// Most bytes read of a cgroup's `memory.max` or `memory.current`: a
/// number is at most 20 digits and a newline, and `max` is shorter. A
/// longer file is cut here, and its number, past `u64`, read as none.
const CGROUP_FILE_BYTES: u64 = 32;

/// The fields of `/proc/<pid>/status` the server reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcStatus {
    /// `VmRSS`: memory resident right now.
    pub rss_bytes: Option<u64>,
    /// `VmHWM` ("high water mark"): the largest RSS since the process began.
    pub peak_rss_bytes: Option<u64>,
    /// `Threads`: every thread of the process, the main thread included.
    pub threads: Option<u64>,
    /// `VmSize`: the address space mapped, what `ulimit -v` counts.
    pub address_space_bytes: Option<u64>,
}

impl ProcStatus {
    /// Reads the calling process's own status, on every scrape of
    /// `/metrics`. Read whole: the kernel writes a fixed set of lines, about
    /// 1.5 KiB, longer only for a process with thousands of supplementary
    /// groups (`Groups:`), and nothing a client sends makes it longer.
    pub fn of_self() -> ProcStatus {
        fs::read_to_string("/proc/self/status")
            .map(|text| ProcStatus::parse(&text))
            .unwrap_or_default()
    }

    /// Parses a `/proc/<pid>/status` text; a field it cannot read stays `None`.
    pub fn parse(text: &str) -> ProcStatus {
        let mut status = ProcStatus::default();
        for (key, value) in text.lines().filter_map(|line| line.split_once(':')) {
            let value = value.trim();
            match key {
                "VmRSS" => status.rss_bytes = parse_kib(value),
                "VmHWM" => status.peak_rss_bytes = parse_kib(value),
                "Threads" => status.threads = value.parse().ok(),
                "VmSize" => status.address_space_bytes = parse_kib(value),
                _ => {}
            }
        }
        status
    }
}

/// The process's descriptors: the soft `RLIMIT_NOFILE` (what `ulimit -n`
/// shows, and where `accept` starts failing with `EMFILE`) and how many are
/// open now. `None` without `/proc`.
pub fn open_files() -> Option<(u64, u64)> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let limit = parse_open_files_limit(&limits)?;
    // Reading the directory opens one more descriptor, which it lists too.
    let open = fs::read_dir("/proc/self/fd")
        .ok()?
        .count()
        .saturating_sub(1);
    Some((limit, open as u64))
}

/// The soft limit of the `Max open files` row of `/proc/<pid>/limits`:
/// `Max open files            1024                 1048576              files`.
/// `unlimited` is read as `u64::MAX`.
fn parse_open_files_limit(limits: &str) -> Option<u64> {
    soft_limit(limits, "Max open files")
}

/// The soft limit of `row` in `/proc/<pid>/limits`, `unlimited` as
/// `u64::MAX`.
fn soft_limit(limits: &str, row: &str) -> Option<u64> {
    let row = limits.lines().find_map(|l| l.strip_prefix(row))?;
    match row.split_whitespace().next()? {
        "unlimited" => Some(u64::MAX),
        soft => soft.parse().ok(),
    }
}

/// The soft `ulimit -v` in `/proc/self/limits`'s text, in bytes: none if
/// unlimited.
fn address_space_limit(limits: &str) -> Option<u64> {
    soft_limit(limits, "Max address space").filter(|&limit| limit != u64::MAX)
}

/// What a memory limit counts: the two differ by every thread's stack,
/// which address space holds whole and memory only as far as it is
/// touched, so `serve`'s warning weighs each against its own sum
/// (`server/envelope.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    /// Address space mapped (`VmSize`): `ulimit -v`.
    AddressSpace,
    /// Memory in use, pages touched: a cgroup's `memory.max`.
    Memory,
}

/// A limit on this process's memory, and how much of what it counts is
/// in use now.
#[derive(Debug, PartialEq)]
pub struct MemoryLimit {
    /// What sets it, as an operator would change it: `ulimit -v`, or the
    /// `memory.max` of a cgroup named by its path.
    pub name: String,
    /// What it counts.
    pub counts: Counts,
    /// The limit, in bytes.
    pub limit: u64,
    /// What it counts, in use now, in bytes.
    pub used: u64,
}

/// The limits set on this process's memory: the soft `RLIMIT_AS` (`ulimit
/// -v`), which counts address space (`VmSize`), and a container's, cgroup
/// v2's `memory.max` with the least room left on the process's own group
/// or any group above it ([`cgroup_memory`]), which counts that group's
/// memory (`memory.current`: every process in it and below it, and its
/// page cache). Past the first an allocation fails and the process
/// aborts; past the second the kernel kills it. Empty if neither is set or
/// `/proc` cannot say.
pub fn memory_limits() -> Vec<MemoryLimit> {
    let status = ProcStatus::of_self();
    let mut limits = Vec::new();
    let address_space = fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| address_space_limit(&limits));
    if let (Some(limit), Some(used)) = (address_space, status.address_space_bytes) {
        limits.push(MemoryLimit {
            name: "ulimit -v".into(),
            counts: Counts::AddressSpace,
            limit,
            used,
        });
    }
    let groups = fs::read("/proc/self/cgroup").unwrap_or_default();
    limits.extend(cgroup_memory(Path::new("/sys/fs/cgroup"), &groups));
    limits
}

/// The tightest cgroup v2 memory limit on the group `groups`
/// (`/proc/self/cgroup`'s bytes) names, in the hierarchy mounted at
/// `root`: of that group and each group above it that has a `memory.max`,
/// the one with the least room left, its `memory.current` (what the limit
/// counts) taken from it. A limit on a parent (a systemd slice, a
/// container's outer group) binds the process as its own group's does, and
/// counts its siblings too. `None` without a v2 group, with no limit at
/// any level (`max`; the root group has no file), or with a group outside
/// this cgroup namespace (`/../…`), whose levels are not under `root`.
/// cgroup v1 (`memory.limit_in_bytes`) is not read: on a v1-only host only
/// `ulimit -v` is weighed.
fn cgroup_memory(root: &Path, groups: &[u8]) -> Option<MemoryLimit> {
    // cgroup v2 names the process's group on a line of its own, `0::/path`.
    let line = groups
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"0::"))?;
    let group = Path::new(OsStr::from_bytes(line));
    if group.components().any(|c| c == Component::ParentDir) {
        return None;
    }
    // `/a/b`, then `/a`, then `/`: as many levels as the path has.
    let levels = group.ancestors().filter_map(|level| {
        let dir = root.join(level.strip_prefix("/").unwrap_or(level));
        Some(MemoryLimit {
            limit: read_number(&dir.join("memory.max"))?,
            used: read_number(&dir.join("memory.current"))?,
            name: format!("the memory.max of cgroup {}", level.display()),
            counts: Counts::Memory,
        })
    });
    levels.min_by_key(|l| l.limit.saturating_sub(l.used))
}

/// The number a cgroup file holds, read as bytes and at most
/// [`CGROUP_FILE_BYTES`] of them; `None` for `max`, a missing file, or
/// anything else.
fn read_number(path: &Path) -> Option<u64> {
    let mut bytes = Vec::new();
    let file = File::open(path).ok()?;
    file.take(CGROUP_FILE_BYTES).read_to_end(&mut bytes).ok()?;
    decimal(bytes.trim_ascii())
}

/// `"4096 kB"` → 4 194 304. The kernel's "kB" means KiB.
fn parse_kib(value: &str) -> Option<u64> {
    let kib: u64 = value.strip_suffix(" kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fields_it_reports() {
        let text = "Name:\tbackpressure\nVmPeak:\t  20000 kB\nVmSize:\t  18000 kB\n\
                    VmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\nThreads:\t3\nSigQ:\t0/1\n\
                    SigPnd:\t0000000000000000\nSigBlk:\t0000000000004002\n";
        let status = ProcStatus::parse(text);
        assert_eq!(status.address_space_bytes, Some(18000 * 1024));
        assert_eq!(status.rss_bytes, Some(4096 * 1024));
        assert_eq!(status.peak_rss_bytes, Some(5120 * 1024));
        assert_eq!(status.threads, Some(3));
    }

    #[test]
    fn missing_or_malformed_fields_are_none() {
        let status = ProcStatus::parse("VmRSS:\tlots\nThreads:\n");
        assert_eq!(status, ProcStatus::default());
    }

    #[test]
    fn reads_the_soft_open_file_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95339                95339                processes \n\
                      Max open files            64                   1048576              files     \n\
                      Max address space         1073741824           unlimited            bytes     \n";
        assert_eq!(parse_open_files_limit(limits), Some(64));
        assert_eq!(soft_limit(limits, "Max address space"), Some(1 << 30));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files_limit(unlimited), Some(u64::MAX));
        assert_eq!(
            parse_open_files_limit("Max processes 5 5 processes\n"),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_its_own_open_files() {
        let (limit, open) = open_files().unwrap();
        assert!(open >= 3 && open <= limit, "{open} of {limit}");
    }

    /// Writes a cgroup's two files under `root`; `None` writes `max`.
    fn group(root: &Path, path: &str, limit: Option<u64>, used: u64) {
        let dir = root.join(path);
        fs::create_dir_all(&dir).unwrap();
        let max = limit.map_or("max".into(), |l| l.to_string());
        fs::write(dir.join("memory.max"), format!("{max}\n")).unwrap();
        fs::write(dir.join("memory.current"), format!("{used}\n")).unwrap();
    }

    /// A cgroup's limit is weighed against what that cgroup counts
    /// (`memory.current`: every process of the group and below it, and
    /// its page cache), not against this process's RSS, which can be a
    /// small part of it. Every level from the process's group up is looked
    /// at, and the one with the least room left is taken: here a slice
    /// above the group, then, once the slice has room, the group itself.
    #[test]
    fn the_tightest_cgroup_limit_of_the_group_and_its_parents_is_taken() {
        let root = std::env::temp_dir().join(format!("proc-status-{}", std::process::id()));
        let mib = |n: u64| n << 20;
        // The slice: 128 MiB left; the container between them: no limit;
        // the process's own group: 256 MiB left.
        group(&root, "work.slice", Some(mib(1024)), mib(896));
        group(&root, "work.slice/box", None, mib(800));
        group(&root, "work.slice/box/serve", Some(mib(1024)), mib(768));
        let v1_and_v2 = b"4:memory:/elsewhere\n0::/work.slice/box/serve\n";
        let from_the_slice = cgroup_memory(&root, v1_and_v2);
        group(&root, "work.slice", Some(mib(2048)), mib(896));
        let from_the_group = cgroup_memory(&root, v1_and_v2);
        let no_v2 = cgroup_memory(&root, b"4:memory:/work.slice/box/serve\n");
        // Mounted at the slice, `/..` leads back to files that do exist,
        // with limits: still not this namespace's, so not read.
        let mount = root.join("work.slice");
        let outside_the_namespace = cgroup_memory(&mount, b"0::/../work.slice/box/serve\n");
        group(&root, "work.slice", None, mib(896));
        group(&root, "work.slice/box/serve", None, mib(768));
        let unlimited = cgroup_memory(&root, v1_and_v2);
        fs::remove_dir_all(&root).unwrap();
        let slice = MemoryLimit {
            name: "the memory.max of cgroup /work.slice".into(),
            counts: Counts::Memory,
            limit: mib(1024),
            used: mib(896),
        };
        assert_eq!(from_the_slice, Some(slice));
        let own = MemoryLimit {
            name: "the memory.max of cgroup /work.slice/box/serve".into(),
            counts: Counts::Memory,
            limit: mib(1024),
            used: mib(768),
        };
        assert_eq!(from_the_group, Some(own));
        assert_eq!(no_v2, None);
        assert_eq!(outside_the_namespace, None);
        assert_eq!(unlimited, None);
    }

    /// A cgroup file is read as bytes, a bounded few: `max`, a file too
    /// long for a number, or one that is not a number is no limit.
    #[test]
    fn a_cgroup_file_is_a_number_or_nothing() {
        let dir = std::env::temp_dir().join(format!("proc-status-n-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("memory.max");
        let mut read = Vec::new();
        for text in ["1073741824\n", "max\n", &"9".repeat(40), "1 GiB\n", ""] {
            fs::write(&file, text).unwrap();
            read.push(read_number(&file));
        }
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read, [Some(1 << 30), None, None, None, None]);
        assert_eq!(read_number(&file), None, "no file");
    }

    /// A field is a bare number and its unit, as the kernel writes it:
    /// one without ` kB`, with words after it, or past `u64` in bytes is
    /// not read (rather than read in the wrong unit or wrapped small).
    #[test]
    fn a_field_not_exactly_a_number_and_its_unit_is_none() {
        let huge = format!("VmHWM:\t{} kB\n", u64::MAX / 1024 + 1);
        // The unit as the kernel writes it, after a space: "4096kB" is not.
        let text = format!("VmRSS:\t4096\nThreads:\t3 threads\nVmSize:\t4096kB\n{huge}");
        assert_eq!(ProcStatus::parse(&text), ProcStatus::default());
    }

    /// A group already past its `memory.max` (the kernel lets
    /// `memory.current` pass it while it reclaims) has no room left: it is
    /// the tightest, not one with nearly all its room.
    #[test]
    fn a_group_over_its_limit_is_the_tightest() {
        let root = std::env::temp_dir().join(format!("proc-status-o-{}", std::process::id()));
        group(&root, "slice", Some(2048), 1900);
        group(&root, "slice/serve", Some(1024), 1100);
        let tightest = cgroup_memory(&root, b"0::/slice/serve\n");
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(tightest.map(|l| (l.limit, l.used)), Some((1024, 1100)));
    }

    /// Without `/proc` the process families are left out, not reported
    /// as zero: a dashboard shows no data, never a process of no memory
    /// and no threads.
    #[test]
    fn readings_without_proc_leave_their_samples_out() {
        use crate::measure::metrics::{Metrics, Readings};
        let text = Metrics::new().render(&Readings::default());
        for family in [
            "process_resident_memory_bytes",
            "process_resident_memory_peak_bytes",
            "process_threads",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} gauge\n")),
                "{family}"
            );
            let sample = format!("{family} ");
            assert!(!text.lines().any(|l| l.starts_with(&sample)), "{family}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_its_own_process() {
        let status = ProcStatus::of_self();
        assert!(status.rss_bytes.unwrap() > 0);
        assert!(status.threads.unwrap() >= 1);
    }

    /// An unlimited `ulimit -v` is no limit to warn about; a set one is
    /// its soft value, in bytes.
    #[test]
    fn an_unlimited_address_space_is_no_limit() {
        let row = |soft: &str| {
            format!("Max processes 95 95 processes\nMax address space {soft} unlimited bytes\n")
        };
        assert_eq!(address_space_limit(&row("unlimited")), None);
        assert_eq!(address_space_limit(&row("1048576")), Some(1_048_576));
    }
}
