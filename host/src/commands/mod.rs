//! Running a command: from parsed flags to output and an exit status.

mod explain;
pub mod flags;
mod formats;
mod inventory;
mod plugin;
mod plugin_test;
mod resolve;
mod source;
mod watch;

use crate::atomic_file::{check_writable, write_atomically};
use crate::commands::flags::{Cli, Command, ReportFormat};
use crate::explain::ExplainError;
use crate::inventory::SourceError;
use crate::policy::{PolicyEngine, PolicyError};
use crate::resolve::ResolveError;
use crate::settings::SettingsError;
use std::any::Any;
use std::path::Path;

/// Exit status: resolved.
pub const EXIT_OK: u8 = 0;
/// Exit status: bad usage or input (flags, inventory file, plugin settings,
/// an unknown `--self`).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: the policy failed (would not load, trapped, returned an
/// error or an invalid answer).
pub const EXIT_POLICY: u8 = 3;
/// Exit status: the inventory source failed (unreachable, throttled,
/// credentials missing or denied, IMDS silent).
pub const EXIT_SOURCE: u8 = 4;
/// Exit status: `--wait-for` gave up: the time was up before the answer
/// met every condition.
pub const EXIT_UNMET: u8 = 5;
/// Exit status: `plugin diff` found that the policies decide differently.
pub const EXIT_DIFFERENT: u8 = 1;
/// Exit status: a `plugin test` case failed.
pub const EXIT_CASE_FAILED: u8 = 1;
/// Exit status: rollcall itself failed (stdout closed, a task crashed, no
/// runtime): never a verdict on the policy or the fleet, so that a gate on
/// `plugin diff` or `plugin test` tells a crash from a change.
pub const EXIT_INTERNAL: u8 = 6;

/// A command that did not succeed: what to tell the operator, and the exit
/// status.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<SettingsError> for Failure {
    fn from(err: SettingsError) -> Self {
        Failure::new(EXIT_USAGE, err.to_string())
    }
}

impl From<SourceError> for Failure {
    fn from(err: SourceError) -> Self {
        let code = match &err {
            SourceError::Input(_) => EXIT_USAGE,
            SourceError::Unavailable(_) | SourceError::Throttled(_) => EXIT_SOURCE,
        };
        Failure::new(code, err.to_string())
    }
}

impl From<PolicyError> for Failure {
    fn from(err: PolicyError) -> Self {
        let code = match &err {
            PolicyError::Unreadable { .. } | PolicyError::Rejected { .. } => EXIT_USAGE,
            PolicyError::Load { .. }
            | PolicyError::Trapped { .. }
            | PolicyError::TimeLimit { .. }
            | PolicyError::MemoryLimit { .. }
            | PolicyError::Failed { .. }
            | PolicyError::InvalidAnswer { .. } => EXIT_POLICY,
        };
        Failure::new(code, err.to_string())
    }
}

impl From<ResolveError> for Failure {
    fn from(err: ResolveError) -> Self {
        match err {
            ResolveError::Source(err) => err.into(),
            ResolveError::Policy(err) => err.into(),
            err @ ResolveError::SelfNotFound { .. } => Failure::new(EXIT_USAGE, err.to_string()),
            err @ ResolveError::Evaluation(_) => Failure::new(EXIT_POLICY, err.to_string()),
        }
    }
}

impl From<ExplainError> for Failure {
    fn from(err: ExplainError) -> Self {
        match err {
            ExplainError::Resolve(err) => err.into(),
            err @ ExplainError::InstanceNotFound { .. } => {
                Failure::new(EXIT_USAGE, err.to_string())
            }
        }
    }
}

/// What a command leaves for the process's end to free: a large fleet and
/// its answer, whose allocations handed back one by one took a fifth of
/// `resolve` at 100k instances. [`crate::commands::flags::main`] ends the process
/// without dropping them.
#[derive(Default)]
pub struct Leftovers(Vec<Box<dyn Any + Send>>);

impl Leftovers {
    fn keep(&mut self, value: impl Any + Send) {
        self.0.push(Box::new(value));
    }
}

/// Runs the command; its output goes to stdout (or the file it names).
pub async fn run(cli: Cli, leftovers: &mut Leftovers) -> Result<(), Failure> {
    match cli.command {
        Command::Resolve(args) => resolve::run(args, leftovers).await,
        Command::Explain(args) => explain::run(args).await,
        Command::Inventory(args) => inventory::run(args).await,
        Command::Watch(args) => watch::run(args).await,
        Command::Plugin(command) => plugin::run(command).await,
        Command::Formats => formats::run(),
    }
}

/// The WebAssembly engine every command that runs or compiles a policy
/// needs.
fn engine() -> Result<PolicyEngine, Failure> {
    PolicyEngine::new().map_err(|err| {
        Failure::new(
            EXIT_POLICY,
            format!("cannot set up the WebAssembly engine: {err:#}"),
        )
    })
}

/// A report (`explain`, `plugin check`, `plugin diff`) as `format` asks:
/// its text for people, or one JSON document; `what` names it in the error.
fn render<T: serde::Serialize>(
    format: ReportFormat,
    report: &T,
    text: impl FnOnce(&T) -> String,
    what: &str,
) -> Result<String, Failure> {
    match format {
        ReportFormat::Text => Ok(text(report)),
        ReportFormat::Json => serde_json::to_string_pretty(report)
            .map(|json| json + "\n")
            .map_err(|err| Failure::new(EXIT_INTERNAL, format!("cannot render {what}: {err}"))),
    }
}

/// A usage error now, rather than after a fetch or a `--wait-for`, if
/// `output` cannot be written.
fn check_output(output: Option<&Path>) -> Result<(), Failure> {
    let Some(path) = output else {
        return Ok(());
    };
    check_writable(path).map_err(|err| {
        Failure::new(
            EXIT_USAGE,
            format!("cannot write {}: {err}", path.display()),
        )
    })
}

/// Writes the command's answer to `output` (a regular file replaced
/// atomically, a device or FIFO written through), or else to stdout.
fn deliver(text: &str, output: Option<&Path>) -> Result<(), Failure> {
    let Some(path) = output else {
        return print(text);
    };
    write_atomically(path, text.as_bytes()).map_err(|err| {
        Failure::new(
            EXIT_USAGE,
            format!("cannot write {}: {err}", path.display()),
        )
    })
}

/// Writes the command's answer to stdout, flushed: the process ends
/// without waiting for stdout ([`crate::commands::flags::main`]).
fn print(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|err| {
            Failure::new(
                EXIT_INTERNAL,
                format!("cannot write the answer to stdout: {err}"),
            )
        })
}
