//! The server under measurement: this same binary, `serve`, as a child
//! process, so that its RSS and threads are its own and nothing of the
//! demo's (the clients, the samples) is counted in them.
//!
//! The demo must never leave a server behind. [`ChildServer`] kills and
//! waits for the child when dropped, which covers every early return and
//! panic; and because a parent killed by Ctrl-C runs no destructors, the
//! child is also started with `--exit-on-stdin-eof` and a pipe as stdin:
//! when the parent dies, the kernel closes the pipe's write end, the child
//! reads end-of-file, and exits.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::proc_status::ProcStatus;
use crate::strategy::Mode;

/// How long the child may take to print `listening on http://ADDR`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Timeout for each step of a `/metrics` request (connect, write, each
/// read): a server too busy to answer within it yields a missing sample,
/// not a stuck demo.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// Most bytes of `/metrics` response read. The exposition is about 4 KiB;
/// anything past 256 KiB is not a response from our server.
pub const MAX_SCRAPE_BYTES: u64 = 256 * 1024;

/// Most bytes of the announcing first line read from the child's stdout.
pub const MAX_ANNOUNCE_BYTES: u64 = 1024;

/// A running `serve` child, killed and reaped on drop.
pub struct ChildServer {
    /// The process; `kill` + `wait` on drop.
    child: Child,
    /// Held open for the child's `--exit-on-stdin-eof`: dropping it (or the
    /// parent dying) is the child's signal to exit.
    _stdin: Option<ChildStdin>,
    /// Where it listens, from its first stdout line.
    addr: SocketAddr,
}

impl ChildServer {
    /// Starts `exe serve --addr 127.0.0.1:0 --exit-on-stdin-eof` and waits
    /// (at most [`STARTUP_TIMEOUT`]) for its address.
    pub fn start(exe: &Path) -> io::Result<ChildServer> {
        let mut child = Command::new(exe)
            // --quiet: an access-log line per connection (the demo's own
            // /metrics scrapes included) would only be thrown away below.
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--quiet",
                "--exit-on-stdin-eof",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // The server's stderr (its errors) would tear the demo's
            // progress line and table apart.
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        // From here on a failure must still kill the child: give it a guard
        // first, with a placeholder address.
        let mut server = ChildServer {
            child,
            _stdin: stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let stdout = stdout.ok_or_else(|| io::Error::other("the child's stdout is not piped"))?;
        // A blocking read_line cannot time out, so it runs in a thread and the
        // demo waits on a channel with a deadline.
        let (line_tx, line_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = (&mut reader)
                .take(MAX_ANNOUNCE_BYTES)
                .read_line(&mut line)
                .map(|_| line);
            let _ = line_tx.send(first);
            // Keep draining, so a server that prints more never blocks on a
            // full pipe; ends when the child exits.
            let _ = io::copy(&mut reader, &mut io::sink());
        });
        let line = match line_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the server did not announce its address within {STARTUP_TIMEOUT:?}"),
                ));
            }
        };
        server.addr = line
            .trim_end()
            .strip_prefix("listening on http://")
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| {
                io::Error::other(format!(
                    "the server's first line is not 'listening on http://ADDR': {line:?}"
                ))
            })?;
        Ok(server)
    }

    /// The address the child listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The child's `/proc/PID/status`: RSS, peak RSS, threads.
    pub fn status(&self) -> io::Result<ProcStatus> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        Ok(ProcStatus::parse(&text))
    }

    /// `GET /metrics` on the child, the whole exposition text.
    pub fn scrape(&self) -> io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&self.addr, SCRAPE_TIMEOUT)?;
        stream.set_read_timeout(Some(SCRAPE_TIMEOUT))?;
        stream.set_write_timeout(Some(SCRAPE_TIMEOUT))?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")?;
        let mut response = String::new();
        stream
            .take(MAX_SCRAPE_BYTES)
            .read_to_string(&mut response)?;
        let body = response
            .split_once("\r\n\r\n")
            .filter(|(head, _)| head.starts_with("HTTP/1.1 200"))
            .map(|(_, body)| body.to_string())
            .ok_or_else(|| io::Error::other("/metrics did not answer 200"))?;
        Ok(body)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // Errors mean the child is already gone, which is what we want.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of one series in a Prometheus exposition, such as
/// `backpressure_queued_bytes{mode="bounded"}`.
pub fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// `backpressure_queued_bytes{mode="…"}`, the per-mode series name.
pub fn per_mode(name: &str, mode: Mode) -> String {
    format!("{name}{{mode=\"{}\"}}", mode.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_series_by_its_exact_name() {
        let text = "# HELP backpressure_queued_bytes x\n\
                    backpressure_queued_bytes{mode=\"buffer\"} 0\n\
                    backpressure_queued_bytes{mode=\"bounded\"} 98304\n\
                    backpressure_queued_peak_bytes{mode=\"bounded\"} 99\n";
        let series = per_mode("backpressure_queued_bytes", Mode::Bounded);
        assert_eq!(metric(text, &series), Some(98304));
        assert_eq!(
            metric(
                text,
                &per_mode("backpressure_queued_peak_bytes", Mode::Bounded)
            ),
            Some(99)
        );
        assert_eq!(metric(text, "backpressure_queued_bytes"), None);
        assert_eq!(
            metric(text, &per_mode("backpressure_queued_bytes", Mode::Pipeline)),
            None
        );
    }
}
