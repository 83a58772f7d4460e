//! The `backpressure` binary: parses the command line and runs the demo,
//! the server or the slow client.

use std::io::{self, Write};
use std::process::ExitCode;

use backpressure::cli::{self, Command, EXIT_FAILURE, EXIT_USAGE};
use backpressure::counting_alloc::CountingAllocator;
use backpressure::server::{Server, ServerConfig};
use backpressure::slow_client;

/// Every heap allocation of the process goes through this, so that
/// `backpressure_heap_bytes` is exact.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn main() -> ExitCode {
    match cli::parse(std::env::args_os().skip(1)) {
        Ok(Command::Serve(config)) => serve(config),
        Ok(Command::Demo(config)) => match backpressure::demo::run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("\nbackpressure demo: {error}");
                ExitCode::from(EXIT_FAILURE)
            }
        },
        Ok(Command::SlowClient(args)) => ExitCode::from(slow_client::run_command(&args)),
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
    if config.exit_on_stdin_eof {
        exit_on_stdin_eof();
    }
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

/// Exits the process once stdin reaches end-of-file. The demo starts its
/// server with stdin piped from itself; if the demo dies (even by a signal,
/// which runs no destructors) the kernel closes the pipe, and this thread
/// ends the orphaned server.
fn exit_on_stdin_eof() {
    let spawned = std::thread::Builder::new()
        .name("stdin-eof".into())
        .spawn(|| {
            // Whatever arrives is discarded; EOF or a read error both mean
            // the parent is gone.
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            std::process::exit(0);
        });
    if let Err(e) = spawned {
        eprintln!("backpressure: cannot watch stdin for --exit-on-stdin-eof: {e}");
        std::process::exit(i32::from(EXIT_FAILURE));
    }
}
