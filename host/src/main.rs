//! The `rollcall` binary: flags, logging, a runtime, and the exit status.

use clap::Parser;
use rollcall::cli::Cli;
use rollcall::commands;
use rollcall::daemon::limits::RUNTIME_SHUTDOWN_DEADLINE;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// musl's allocator is slow under the many small allocations of parsing a
/// fleet; the static build (scripts/release) uses mimalloc instead.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.command.is_daemon());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("rollcall: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(commands::run(cli));
    // Work abandoned on the way out (a read blocked on a FIFO or a hung
    // mount) must not keep the process alive.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_DEADLINE);
    match outcome {
        Ok(()) => ExitCode::from(commands::EXIT_OK),
        Err(failure) => {
            eprintln!("rollcall: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Logs go to stderr, so that stdout carries only the answer. A daemon logs
/// what it does (INFO); a one-shot command only what went wrong.
fn init_tracing(verbose: u8, daemon: bool) {
    // rollcall reports the SDK's failures itself; its own warnings add noise.
    let verbose = verbose + u8::from(daemon);
    let default = match verbose {
        0 => "warn,aws_config=error,aws_smithy_runtime=error",
        1 => "warn,aws_config=error,aws_smithy_runtime=error,rollcall=info",
        2 => "warn,rollcall=debug",
        _ => "info,rollcall=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
