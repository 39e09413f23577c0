//! The `rollcall` binary: flags, logging, a runtime, and the exit status.

use crate::commands::flags::Cli;
use crate::commands::{self, EXIT_INTERNAL, EXIT_OK, Leftovers};
use crate::daemon::limits::RUNTIME_SHUTDOWN_DEADLINE;
use clap::Parser;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// Runs `rollcall` with the process's arguments: parses the flags, sends
/// logs to stderr, runs the command on a runtime of its own, and ends the
/// process with the command's exit status once its output is flushed. What the command leaves (a large fleet and its answer) is
/// never freed: the process ends instead. Returns only when the runtime
/// cannot start.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.command.is_daemon());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("rollcall: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let mut leftovers = Leftovers::default();
    let outcome = runtime.block_on(commands::run(cli, &mut leftovers));
    // Work abandoned on the way out (a read blocked on a FIFO or a hung
    // mount) must not keep the process alive.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_DEADLINE);
    let code = match outcome {
        Ok(()) => EXIT_OK,
        Err(failure) => {
            eprintln!("rollcall: {}", failure.message);
            failure.code
        }
    };
    // The command flushed what it printed, and stderr is not buffered; what
    // std flushes on exit it flushes without waiting (a daemon's stdout sink
    // may still be blocked on a pipe nobody reads). Nothing else, `leftovers`
    // above all, is handed back to the allocator.
    let _ = std::io::stderr().flush();
    std::process::exit(code.into())
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
