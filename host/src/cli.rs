//! Command-line flags, and running a command to an exit code.

use crate::inventory::{FileSource, InventorySource, ParseError, SourceError};
use crate::output::{self, Format};
use crate::policy::{PolicyEngine, PolicyError, WasmPolicy};
use crate::resolve::{ResolveError, resolve};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Exit status: resolved.
pub const EXIT_OK: u8 = 0;
/// Exit status: bad usage or input (flags, inventory file, plugin settings,
/// an unknown `--self`).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: the policy failed (would not load, trapped, returned an
/// error or an invalid answer).
pub const EXIT_POLICY: u8 = 3;
/// Exit status: the inventory source could not be reached.
pub const EXIT_SOURCE: u8 = 4;

const EXIT_CODES: &str = "\
Exit codes:
  0  resolved
  2  bad usage or input: flags, inventory file, plugin settings, unknown --self
  3  the policy failed: would not load, trapped, returned an error or an invalid answer
  4  the inventory source could not be reached";

/// Finds the other instances of an EC2 fleet and decides, through a
/// WebAssembly policy plugin, which role each plays and whom this instance
/// registers with.
#[derive(Debug, Parser)]
#[command(name = "rollcall", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG
    /// overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch the fleet once, run the policy, print the answer.
    #[command(after_help = EXIT_CODES)]
    Resolve(ResolveArgs),
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The fleet: what `aws ec2 describe-instances --output json` prints, or a
    /// JSON array of such pages.
    #[arg(long, value_name = "FILE")]
    pub inventory: PathBuf,

    /// The policy plugin: a WebAssembly component of the
    /// rollcall:policy@0.1.0 world.
    #[arg(long, value_name = "FILE.wasm")]
    pub plugin: PathBuf,

    /// The policy's own settings: a JSON document, or @FILE to read one.
    #[arg(long, value_name = "JSON|@FILE", default_value = "{}")]
    pub plugin_config: String,

    /// The instance rollcall runs on; its role and registration targets lead
    /// the answer. Must be in the inventory.
    #[arg(long = "self", value_name = "INSTANCE_ID")]
    pub self_id: Option<String>,

    /// How to print the answer.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

/// A command that did not succeed: what to tell the operator, and the exit
/// status.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }
}

impl From<ResolveError> for Failure {
    fn from(err: ResolveError) -> Self {
        let code = match &err {
            ResolveError::Source(SourceError::Input(_)) | ResolveError::SelfNotFound { .. } => {
                EXIT_USAGE
            }
            ResolveError::Source(SourceError::Unavailable(_)) => EXIT_SOURCE,
            ResolveError::Policy(policy) => policy_exit_code(policy),
            ResolveError::Evaluation(_) => EXIT_POLICY,
        };
        Failure {
            code,
            message: err.to_string(),
        }
    }
}

fn policy_exit_code(err: &PolicyError) -> u8 {
    match err {
        PolicyError::Unreadable { .. } | PolicyError::Rejected { .. } => EXIT_USAGE,
        PolicyError::Load { .. }
        | PolicyError::Trapped { .. }
        | PolicyError::Failed { .. }
        | PolicyError::InvalidAnswer { .. } => EXIT_POLICY,
    }
}

/// Runs the command; its output goes to stdout.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Resolve(args) => run_resolve(args).await,
    }
}

async fn run_resolve(args: ResolveArgs) -> Result<(), Failure> {
    let settings = plugin_settings(&args.plugin_config)?;
    let source = FileSource::new(&args.inventory);

    // Compiling the plugin and reading the fleet are independent: overlap them.
    let plugin = args.plugin.clone();
    let loading = tokio::task::spawn_blocking(move || load_policy(&plugin, &settings));
    let fetching = source.fetch();
    let (loaded, fetched) = tokio::join!(loading, fetching);
    let policy = loaded.map_err(|err| Failure {
        code: EXIT_POLICY,
        message: format!("policy loading stopped unexpectedly: {err}"),
    })??;
    let inventory = fetched.map_err(ResolveError::from)?;
    tracing::debug!(instances = inventory.instances.len(), source = %inventory.source, "Inventory fetched.");

    let membership = resolve(inventory, Arc::new(policy), args.self_id).await?;
    let text = output::render(&membership, args.format).map_err(|err| Failure {
        code: 1,
        message: format!("cannot render the answer: {err}"),
    })?;
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|err| Failure {
            code: 1,
            message: format!("cannot write the answer to stdout: {err}"),
        })
}

fn load_policy(path: &std::path::Path, settings: &str) -> Result<WasmPolicy, Failure> {
    let engine = PolicyEngine::new().map_err(|err| Failure {
        code: EXIT_POLICY,
        message: format!("cannot set up the WebAssembly engine: {err:#}"),
    })?;
    engine.load(path, settings).map_err(|err| Failure {
        code: policy_exit_code(&err),
        message: err.to_string(),
    })
}

/// The `--plugin-config` value as a JSON document: inline, or `@FILE`.
fn plugin_settings(value: &str) -> Result<String, Failure> {
    let (origin, text) = match value.strip_prefix('@') {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|err| {
                Failure::usage(format!("cannot read --plugin-config file {path}: {err}"))
            })?;
            (path.to_owned(), text)
        }
        None => ("--plugin-config".to_owned(), value.to_owned()),
    };
    serde_json::from_str::<serde_json::Value>(&text).map_err(|err| {
        let err = ParseError::from(err).located_in(std::path::Path::new(&origin));
        Failure::usage(format!("{err} (expected a JSON document)"))
    })?;
    Ok(text)
}
