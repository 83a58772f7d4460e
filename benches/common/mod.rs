//! What the benchmarks that measure the real binary share: a `serve` child
//! process that is killed when dropped, a plain HTTP GET, and a scrape of
//! `/metrics`.
//!
//! A benchmark that measures an error page instead of an export would print
//! a fine-looking, meaningless figure, so every failure here is an `Err`
//! that the benchmark turns into a loud stop, never a default value.
#![allow(dead_code)] // each benchmark uses its own part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long the server may take to print `listening on http://ADDR`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a benchmark client waits for the server to accept or to send
/// anything: a stuck server fails the benchmark instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes of a `/metrics` or other small response read: they are a few
/// KiB, and a benchmark must not buffer without a bound either.
const SMALL_RESPONSE_MAX_BYTES: u64 = 1024 * 1024;

/// Extra `serve` flags for every server a benchmark starts, from this
/// environment variable, split on spaces: how the chunk sizes and channel
/// depths in `src/server.rs` were compared, e.g.
/// `BENCH_SERVE_ARGS="--chunk-bytes 8k --channel-depth 2" cargo bench`.
pub const SERVE_ARGS_ENV: &str = "BENCH_SERVE_ARGS";

/// The flags in [`SERVE_ARGS_ENV`], or none if it is unset.
pub fn serve_args_from_env() -> Result<Vec<String>, String> {
    match std::env::var(SERVE_ARGS_ENV) {
        Ok(text) => Ok(text.split_whitespace().map(str::to_string).collect()),
        Err(std::env::VarError::NotPresent) => Ok(Vec::new()),
        Err(e) => Err(format!("{SERVE_ARGS_ENV}: {e}")),
    }
}

/// A `backpressure serve --addr 127.0.0.1:0` child process; dropping it
/// kills the process and waits for it, so no benchmark leaves one behind.
pub struct ServerProcess {
    /// The child, to kill and reap on drop.
    child: Child,
    /// Where it listens, from its first line on stdout.
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts the real binary with `extra_args` and waits for its address.
    pub fn start(extra_args: &[String]) -> Result<ServerProcess, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_backpressure"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // The server may log every request on stderr; over thousands of
            // requests that would bury the results.
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the backpressure binary: {e}"))?;
        let Some(stdout) = child.stdout.take() else {
            kill_and_reap(&mut child);
            return Err("the server's stdout was not piped".to_string());
        };
        // read_line cannot time out, so it runs on a thread that also keeps
        // draining stdout afterwards, so that the server never blocks on it.
        let (line_tx, line_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = line_tx.send(reader.read_line(&mut line).map(|_| line));
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match line_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => {
                kill_and_reap(&mut child);
                return Err(format!("cannot read the server's stdout: {e}"));
            }
            Err(_) => {
                kill_and_reap(&mut child);
                return Err(format!("no `listening on` line within {STARTUP_TIMEOUT:?}"));
            }
        };
        let addr = line
            .trim_end()
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.parse().ok());
        match addr {
            Some(addr) => Ok(ServerProcess { child, addr }),
            None => {
                let status = child.try_wait().ok().flatten();
                kill_and_reap(&mut child);
                Err(format!(
                    "unexpected first line from the server: {line:?} (exit status: {status:?}; \
                     bad flags in {SERVE_ARGS_ENV}?)"
                ))
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// Errors are ignored: the child may have exited already.
fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A connection with both directions bounded by [`IO_TIMEOUT`].
pub fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("cannot set socket timeouts: {e}"))?;
    Ok(stream)
}

/// A `GET target` request, ready to write.
pub fn get_request(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n")
}

/// Sends `GET target` and returns the whole small response (head and
/// body, as text) once the server closes the connection.
pub fn get_small(addr: SocketAddr, target: &str) -> Result<String, String> {
    let mut stream = connect(addr)?;
    stream
        .write_all(get_request(target).as_bytes())
        .map_err(|e| format!("GET {target}: {e}"))?;
    let mut response = String::new();
    stream
        .take(SMALL_RESPONSE_MAX_BYTES)
        .read_to_string(&mut response)
        .map_err(|e| format!("GET {target}: {e}"))?;
    if !response.starts_with("HTTP/1.1 200 ") {
        let status = response.lines().next().unwrap_or("nothing");
        return Err(format!("GET {target}: {status}"));
    }
    Ok(response)
}

/// One scrape of `/metrics`.
pub struct Metrics {
    /// The exposition text, looked up line by line.
    text: String,
}

impl Metrics {
    pub fn scrape(addr: SocketAddr) -> Result<Metrics, String> {
        Ok(Metrics {
            text: get_small(addr, "/metrics")?,
        })
    }

    /// The value of `series`, written exactly as the server writes it, e.g.
    /// `backpressure_queued_bytes{mode="bounded"}`.
    pub fn value(&self, series: &str) -> Result<f64, String> {
        self.text
            .lines()
            .filter_map(|line| line.rsplit_once(' '))
            .find(|(name, _)| *name == series)
            .and_then(|(_, value)| value.parse().ok())
            .ok_or_else(|| format!("no metric {series} in /metrics"))
    }
}
