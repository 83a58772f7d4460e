//! The files the demo writes into `--out`: their names, the checks made
//! before measuring (the folder can be written, an earlier run's files can
//! be replaced), and the writing itself, each file under a temporary name
//! first and then renamed, `report.md` last.
//!
//! An earlier run's files are left as they were until this run's are
//! written in full: a demo killed midway (Ctrl-C, a closed terminal)
//! destroys nothing. Only the demo's own four names are touched, never the
//! folder itself, which may be the user's (`--out .`) and hold more.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Fails now, not after the whole measurement (over a minute with the
/// defaults), if the files cannot be written into `out`: a probe file is
/// created there, as a new file ([`write_new`]: a link at its name is not
/// followed, nor the file it points to truncated), and removed.
pub fn check_writable(out: &Path) -> Result<(), String> {
    let probe = out.join(".backpressure-write-check");
    write_new(&probe, "").map_err(|e| format!("cannot write into {}: {e}", out.display()))?;
    // Left behind, it is an empty file and harmless: not worth failing for.
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// The files the demo writes into `--out`, one name each.
pub const SAMPLES: &str = "samples.csv";
pub const CHART: &str = "chart.svg";
pub const HTTP2_CHART: &str = "http2-chart.svg";
pub const REPORT: &str = "report.md";

/// Every file the demo writes into `--out`. A run writes only what it
/// measured (no `http2-chart.svg` after `--http2-wait 0s`), so an earlier
/// run's file of a name this run does not write is removed when this
/// run's are put in place: it would otherwise stand beside this run's
/// report as if it were this run's.
pub const FILES: [&str; 4] = [SAMPLES, CHART, HTTP2_CHART, REPORT];

/// Fails now, before measuring, if an earlier run's file in `out` could
/// not be replaced by a rename or removed: a folder of that name, say.
/// Nothing is removed yet.
pub fn check_replaceable(out: &Path) -> Result<(), String> {
    for name in FILES {
        let path = out.join(name);
        let why = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => "it is a folder".to_string(),
            Err(e) if e.kind() != io::ErrorKind::NotFound => e.to_string(),
            _ => continue,
        };
        let path = path.display();
        return Err(format!(
            "cannot replace {path}, left by an earlier run: {why}"
        ));
    }
    Ok(())
}

/// Removes `path` if it is there.
fn remove(path: &Path) -> Result<(), String> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {e}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Where `name` is written before it is renamed to its own name: in the
/// same folder, since a rename is atomic only within one file system, and
/// hidden, since it is not a file of the run's to open.
fn temporary(out: &Path, name: &str) -> PathBuf {
    out.join(format!(".{name}.tmp"))
}

/// Writes `content` into a new file at `path`, whatever was there removed
/// first: a temporary file a killed run left, or a symbolic link, which
/// `fs::write` would follow and write through to a file elsewhere. The
/// file is created only if the name is free (`O_EXCL`, which follows no
/// link), so one put there in between fails the write instead.
fn write_new(path: &Path, content: &str) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(content.as_bytes())
}

/// Writes each `(name, content)` of `files` into `out`: all of them under
/// a temporary name first, then each renamed to its own, in order, so the
/// caller puts `report.md` last. A rename is atomic, so a file under its
/// own name is always whole (a kill mid-write leaves only a temporary
/// file, which the next run overwrites), and a set that cannot be written
/// in full (a full disk) replaces nothing. Before the renames, an earlier
/// `report.md` is removed, so that it never stands beside this run's first
/// files, and so is each of [`FILES`] this run does not write. Not synced
/// to disk: this is proof against a killed demo, not a power cut. A
/// failure leaves no temporary file behind.
pub fn write(out: &Path, files: &[(&str, String)]) -> Result<(), String> {
    for (name, content) in files {
        let path = temporary(out, name);
        if let Err(e) = write_new(&path, content) {
            remove_temporaries(out, files);
            return Err(format!("cannot write {}: {e}", path.display()));
        }
    }
    let put = put_in_place(out, files);
    if put.is_err() {
        // A sticky folder's file of another user's, say.
        remove_temporaries(out, files);
    }
    put
}

/// Removes the temporary file of each of `files` that is there: after a
/// failure nothing of this run's is kept, half-written or whole, renamed
/// or not. Every name of the set, not only those written so far, so that
/// no count can leave out the one whose write failed halfway (a full disk).
fn remove_temporaries(out: &Path, files: &[(&str, String)]) {
    for (name, _) in files {
        let _ = fs::remove_file(temporary(out, name));
    }
}

/// The second half of [`write()`]: the earlier files removed, then each of
/// `files`, written under its temporary name, renamed to its own.
fn put_in_place(out: &Path, files: &[(&str, String)]) -> Result<(), String> {
    let writes = |name: &str| files.iter().any(|(written, _)| *written == name);
    remove(&out.join(REPORT))?;
    for name in FILES.into_iter().filter(|name| !writes(name)) {
        remove(&out.join(name))?;
    }
    for (name, _) in files {
        let (from, to) = (temporary(out, name), out.join(name));
        fs::rename(&from, &to).map_err(|e| {
            let (from, to) = (from.display(), to.display());
            format!("cannot rename {from} to {to}: {e}")
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of its own under the system's temporary folder, emptied.
    fn fresh(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the test's folder");
        dir
    }

    /// A run's samples, chart and report, in the order the demo writes
    /// them.
    fn new_run() -> [(&'static str, String); 3] {
        [
            (SAMPLES, "new samples".to_string()),
            (CHART, "<svg/>".to_string()),
            (REPORT, "new report".to_string()),
        ]
    }

    /// A set of files that cannot all be written replaces none of an
    /// earlier run's: no new samples beside an old report, no file cut
    /// short under its own name. The failure is real: the chart's
    /// temporary name is taken by a folder.
    #[test]
    fn a_set_that_cannot_be_written_in_full_replaces_nothing() {
        let out = fresh("demo-files-all-or-nothing");
        for name in [SAMPLES, REPORT] {
            fs::write(out.join(name), "an earlier run").expect("seed a file");
        }
        fs::create_dir(out.join(".chart.svg.tmp")).expect("block the chart");
        let files = new_run();
        let written = write(&out, &files);
        assert!(written.is_err(), "{written:?}");
        for name in [SAMPLES, REPORT] {
            let kept = fs::read_to_string(out.join(name)).unwrap_or_default();
            assert_eq!(kept, "an earlier run", "{name}");
        }
        assert!(!out.join(CHART).exists());
        assert!(
            !out.join(".samples.csv.tmp").exists(),
            "a temporary file is left"
        );
        let _ = fs::remove_dir_all(&out);
    }

    /// An earlier report never stands beside this run's files: it is gone
    /// before the first of them is renamed into place. Here the renames
    /// stop at the chart, whose name a folder holds: the new samples are
    /// there, and no report, rather than the earlier one beside them.
    #[test]
    fn renames_cut_short_leave_no_earlier_report_beside_new_files() {
        let out = fresh("demo-files-cut-short");
        fs::write(out.join(REPORT), "an earlier run").expect("seed the report");
        fs::create_dir_all(out.join(CHART).join("full")).expect("block the chart");
        let files = new_run();
        let written = write(&out, &files);
        assert!(written.is_err(), "{written:?}");
        let samples = fs::read_to_string(out.join(SAMPLES)).unwrap_or_default();
        assert_eq!(samples, "new samples");
        assert!(
            !out.join(REPORT).exists(),
            "an earlier report beside new samples"
        );
        for name in [CHART, REPORT] {
            let left = temporary(&out, name);
            assert!(!left.exists(), "{} is left", left.display());
        }
        let _ = fs::remove_dir_all(&out);
    }

    /// A symbolic link at a temporary name (planted in a shared folder, or
    /// left by anyone) is not written through: the file it points to is
    /// left as it was, and the run's file is in place all the same.
    #[test]
    fn a_link_at_a_temporary_name_is_not_written_through() {
        let out = fresh("demo-files-link");
        let elsewhere = out.join("elsewhere");
        fs::write(&elsewhere, "not the demo's").expect("seed the target");
        std::os::unix::fs::symlink(&elsewhere, temporary(&out, SAMPLES)).expect("plant a link");
        let files = [(SAMPLES, "new samples".to_string())];
        assert_eq!(write(&out, &files), Ok(()));
        let target = fs::read_to_string(&elsewhere).unwrap_or_default();
        assert_eq!(target, "not the demo's");
        let samples = fs::read_to_string(out.join(SAMPLES)).unwrap_or_default();
        assert_eq!(samples, "new samples");
        let _ = fs::remove_dir_all(&out);
    }

    /// The check that `--out` can be written truncates nothing through a
    /// symbolic link at its probe's name: the file the link points to is
    /// left as it was, and the folder is still found writable.
    #[test]
    fn the_writable_check_is_not_written_through_a_link() {
        let out = fresh("demo-files-probe-link");
        let elsewhere = out.join("elsewhere");
        fs::write(&elsewhere, "not the demo's").expect("seed the target");
        let probe = out.join(".backpressure-write-check");
        std::os::unix::fs::symlink(&elsewhere, &probe).expect("plant a link");
        assert_eq!(check_writable(&out), Ok(()));
        let target = fs::read_to_string(&elsewhere).unwrap_or_default();
        assert_eq!(target, "not the demo's");
        assert!(fs::symlink_metadata(&probe).is_err(), "the probe is left");
        let _ = fs::remove_dir_all(&out);
    }

    /// Written in full, every file is under its own name, and no
    /// temporary one is left.
    #[test]
    fn a_set_written_in_full_leaves_only_its_files() {
        let out = fresh("demo-files-in-full");
        let files = [
            (SAMPLES, "new samples".to_string()),
            (REPORT, "new report".to_string()),
        ];
        assert_eq!(write(&out, &files), Ok(()));
        let mut names: Vec<String> = fs::read_dir(&out)
            .expect("list the folder")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        assert_eq!(names, [REPORT, SAMPLES]);
        let report = fs::read_to_string(out.join(REPORT)).unwrap_or_default();
        assert_eq!(report, "new report");
        let _ = fs::remove_dir_all(&out);
    }
}
