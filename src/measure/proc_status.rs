//! Resident memory and thread count, as the Linux kernel reports them in
//! `/proc/<pid>/status`; the open-file limit (`ulimit -n`) with the
//! descriptors in use, from `/proc/self/limits` and `/proc/self/fd`; and
//! the limits on the process's memory (`ulimit -v`, a cgroup's
//! `memory.max`) with what each counts in use, for `serve`'s warning.
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

use std::fs;
use std::path::Path;

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
    /// Reads the calling process's own status.
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

/// A limit on this process's memory, and how much of what it counts is
/// in use now.
#[derive(Debug, PartialEq)]
pub struct MemoryLimit {
    /// What sets it, as an operator would change it.
    pub name: &'static str,
    /// The limit, in bytes.
    pub limit: u64,
    /// What it counts, in use now, in bytes.
    pub used: u64,
}

/// The limits set on this process's memory: the soft `RLIMIT_AS` (`ulimit
/// -v`), which counts address space (`VmSize`), and a container's, cgroup
/// v2's `memory.max` on the process's own group, which counts the group's
/// memory (`memory.current`: every process in it, and its page cache).
/// Past the first an allocation fails and the process aborts; past the
/// second the kernel kills it. Empty if neither is set or `/proc` cannot
/// say.
pub fn memory_limits() -> Vec<MemoryLimit> {
    let status = ProcStatus::of_self();
    let mut limits = Vec::new();
    let address_space = fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| soft_limit(&limits, "Max address space"))
        .filter(|&limit| limit != u64::MAX);
    if let (Some(limit), Some(used)) = (address_space, status.address_space_bytes) {
        limits.push(MemoryLimit {
            name: "ulimit -v",
            limit,
            used,
        });
    }
    let groups = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    limits.extend(cgroup_memory(Path::new("/sys/fs/cgroup"), &groups));
    limits
}

/// cgroup v2's `memory.max` for the group `groups` (`/proc/self/cgroup`'s
/// text) names, in the hierarchy mounted at `root`, with the group's
/// `memory.current`: what the limit counts. `None` without a v2 group, or
/// with no limit (`max`).
fn cgroup_memory(root: &Path, groups: &str) -> Option<MemoryLimit> {
    // cgroup v2 names the process's group on a line of its own, `0::/path`.
    let path = groups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = root.join(path.trim_start_matches('/'));
    let read = |file| fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok();
    Some(MemoryLimit {
        name: "the cgroup's memory.max",
        limit: read("memory.max")?,
        used: read("memory.current")?,
    })
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
                    VmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\nThreads:\t3\nSigQ:\t0/1\n";
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
        if cfg!(target_os = "linux") {
            let (limit, open) = open_files().unwrap();
            assert!(open >= 3 && open <= limit, "{open} of {limit}");
        }
    }

    /// The cgroup's limit is weighed against what the cgroup counts
    /// (`memory.current`: every process of the group, and its page cache),
    /// not against this process's RSS, which can be a small part of it.
    #[test]
    fn reads_the_cgroup_limit_with_what_the_cgroup_counts() {
        let root = std::env::temp_dir().join(format!("proc-status-{}", std::process::id()));
        let group = root.join("box/serve");
        fs::create_dir_all(&group).unwrap();
        fs::write(group.join("memory.max"), "1073741824\n").unwrap();
        fs::write(group.join("memory.current"), "805306368\n").unwrap();
        let v1_and_v2 = "4:memory:/elsewhere\n0::/box/serve\n";
        let limit = cgroup_memory(&root, v1_and_v2);
        let no_v2 = cgroup_memory(&root, "4:memory:/box/serve\n");
        fs::write(group.join("memory.max"), "max\n").unwrap();
        let unlimited = cgroup_memory(&root, v1_and_v2);
        fs::remove_dir_all(&root).unwrap();
        let expected = MemoryLimit {
            name: "the cgroup's memory.max",
            limit: 1 << 30,
            used: 768 << 20,
        };
        assert_eq!(limit, Some(expected));
        assert_eq!(no_v2, None);
        assert_eq!(unlimited, None);
    }

    #[test]
    fn reads_its_own_process() {
        if cfg!(target_os = "linux") {
            let status = ProcStatus::of_self();
            assert!(status.rss_bytes.unwrap() > 0);
            assert!(status.threads.unwrap() >= 1);
        }
    }
}
