//! The files the demo writes into `--out`: their names, the checks made
//! before measuring (the folder can be written; no earlier run's file is
//! left to stand beside this run's), and the writing itself.

use std::fs;
use std::io;
use std::path::Path;

/// Fails now, not after the whole measurement (over a minute with the
/// defaults), if the files cannot be written into `out`: a probe file is
/// created there and removed.
pub fn check_writable(out: &Path) -> Result<(), String> {
    let probe = out.join(".backpressure-write-check");
    fs::File::create(&probe).map_err(|e| format!("cannot write into {}: {e}", out.display()))?;
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
/// measured (no `http2-chart.svg` after `--http2-wait 0s`), so each is
/// removed before measuring: a file left by an earlier run would otherwise
/// stand beside this run's report as if it were this run's.
pub const FILES: [&str; 4] = [SAMPLES, CHART, HTTP2_CHART, REPORT];

/// Removes what an earlier run left of [`FILES`] in `out`; one that cannot
/// be removed (a folder of that name, say) fails now, before measuring.
pub fn remove_earlier_files(out: &Path) -> Result<(), String> {
    for name in FILES {
        let path = out.join(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                let path = path.display();
                return Err(format!("cannot remove {path}, left by an earlier run: {e}"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes each `(name, content)` of `files` into `out`, in order.
pub fn write(out: &Path, files: &[(&str, String)]) -> Result<(), String> {
    for (name, content) in files {
        let path = out.join(name);
        fs::write(&path, content).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
