//! The `backpressure` binary: parses the command line and runs the server.

use std::io::{self, Write};
use std::process::ExitCode;

use backpressure::cli::{self, Command, EXIT_FAILURE, EXIT_USAGE};
use backpressure::counting_alloc::CountingAllocator;
use backpressure::server::{Server, ServerConfig};

/// Every heap allocation of the process goes through this, so that
/// `backpressure_heap_bytes` is exact.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn main() -> ExitCode {
    match cli::parse(std::env::args_os().skip(1)) {
        Ok(Command::Serve(config)) => serve(config),
        Ok(Command::Help(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("backpressure {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("backpressure: {error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn serve(config: ServerConfig) -> ExitCode {
    let addr = config.addr;
    let server = match Server::bind(config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("backpressure: cannot listen on {addr}: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let announced = server.local_addr().and_then(|bound| {
        // Scripts and tests read the port from this exact line, so it is
        // flushed at once rather than left in stdout's buffer.
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "listening on http://{bound}")?;
        writeln!(
            stdout,
            "GET http://{bound}/ lists the endpoints with curl examples; Ctrl-C stops"
        )?;
        stdout.flush()
    });
    if let Err(e) = announced {
        eprintln!("backpressure: cannot announce the listening address: {e}");
        return ExitCode::from(EXIT_FAILURE);
    }
    server.run()
}
