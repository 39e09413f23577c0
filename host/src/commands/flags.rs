//! Command-line flags, and what they mean as settings.

use super::{
    EXIT_CASE_FAILED, EXIT_DIFFERENT, EXIT_INTERNAL, EXIT_OK, EXIT_POLICY, EXIT_SOURCE, EXIT_UNMET,
    EXIT_USAGE,
};
use crate::settings::{
    CacheArgs, Format, FormatParser, PolicyLimitOverrides, SelfArgs, SourceArgs, WatchArgs, ranges,
};
use crate::wait::{Condition, Waiting};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Which `--help` explains an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Help {
    Rollcall,
    Resolve,
    Explain,
    Inventory,
    Watch,
    Check,
    Diff,
    Test,
    Compile,
}

/// Every exit status, as each command's `--help` explains it, in the order
/// it lists them; a meaning's later lines are indented under its first.
/// [`EXIT_INTERNAL`] ([`INTERNAL_FAILURE`]) ends every list.
const EXIT_STATUSES: &[(Help, u8, &str)] = &[
    (Help::Rollcall, EXIT_OK, "done"),
    (
        Help::Rollcall,
        EXIT_USAGE,
        "bad usage or input: flags, configuration, inventory file, plugin settings, unknown --self",
    ),
    (Help::Rollcall, EXIT_POLICY, POLICY_FAILED),
    (Help::Rollcall, EXIT_SOURCE, SOURCE_FAILED),
    (
        Help::Resolve,
        EXIT_OK,
        "resolved: the answer is on stdout (or in --output)",
    ),
    (
        Help::Resolve,
        EXIT_USAGE,
        "bad usage or input: flags, inventory file, plugin settings, unknown --self, or\n--output cannot be written",
    ),
    (Help::Resolve, EXIT_POLICY, POLICY_FAILED),
    (
        Help::Resolve,
        EXIT_SOURCE,
        "the inventory source failed: EC2 unreachable, throttled, credentials missing or\ndenied, or the instance metadata service did not say which instance this is\n(with --wait-for: the last failure, when no answer came before the time was up)",
    ),
    (
        Help::Resolve,
        EXIT_UNMET,
        "--wait-for: the time was up before the answer met every condition; the last\nanswer is printed all the same, and stderr says what it lacked",
    ),
    (
        Help::Explain,
        EXIT_OK,
        "explained: the explanation is on stdout",
    ),
    (
        Help::Explain,
        EXIT_USAGE,
        "bad usage or input: flags, inventory file, plugin settings, unknown --self or\n--instance",
    ),
    (Help::Explain, EXIT_POLICY, POLICY_FAILED),
    (Help::Explain, EXIT_SOURCE, SOURCE_FAILED),
    (
        Help::Inventory,
        EXIT_OK,
        "recorded: the document is on stdout or in --output",
    ),
    (
        Help::Inventory,
        EXIT_USAGE,
        "bad usage: flags, or --output cannot be written",
    ),
    (
        Help::Inventory,
        EXIT_SOURCE,
        "the inventory source failed: EC2 unreachable, throttled, credentials missing or\ndenied",
    ),
    (
        Help::Watch,
        EXIT_OK,
        "stopped by SIGTERM or SIGINT; HTTP requests in flight get 5s, then their\nconnections are closed, and work abandoned (a blocked file read) 2s more",
    ),
    (
        Help::Watch,
        EXIT_USAGE,
        "bad usage or configuration at start: flags, configuration file, plugin settings",
    ),
    (
        Help::Watch,
        EXIT_POLICY,
        "the policy did not load at start (later reloads that fail roll back instead)",
    ),
    (
        Help::Watch,
        EXIT_SOURCE,
        "the inventory source could not be set up at start (an unreachable EC2 is not an\nerror: the daemon starts and retries)",
    ),
    (
        Help::Check,
        EXIT_OK,
        "accepted: this rollcall runs the plugin",
    ),
    (
        Help::Check,
        EXIT_USAGE,
        "bad usage: the plugin file is missing or unreadable",
    ),
    (
        Help::Check,
        EXIT_POLICY,
        "refused: not a WebAssembly component, built for another version of\nrollcall:policy, or importing what rollcall does not provide (the report\nsays which)",
    ),
    (Help::Diff, EXIT_OK, "both policies decide the same"),
    (
        Help::Diff,
        EXIT_DIFFERENT,
        "they differ: the changes are on stdout, a summary on stderr",
    ),
    (
        Help::Diff,
        EXIT_USAGE,
        "bad usage or input: flags, inventory file, plugin settings, unknown --self",
    ),
    (
        Help::Diff,
        EXIT_POLICY,
        "a policy failed: would not load, trapped, returned an error or an invalid answer",
    ),
    (
        Help::Test,
        EXIT_OK,
        "every case passed (or, with --update, the files were rewritten)",
    ),
    (
        Help::Test,
        EXIT_CASE_FAILED,
        "a case failed: one line per difference, then `N passed, M failed`",
    ),
    (
        Help::Test,
        EXIT_USAGE,
        "bad usage or input: a malformed cases file (file:line), a missing\ninventory, an unknown self",
    ),
    (Help::Test, EXIT_POLICY, "the plugin would not load"),
    (
        Help::Compile,
        EXIT_OK,
        "compiled: the cache entry's path is on stdout",
    ),
    (
        Help::Compile,
        EXIT_USAGE,
        "bad usage: the plugin file is missing, or there is no cache directory",
    ),
    (
        Help::Compile,
        EXIT_POLICY,
        "the plugin is not a policy component, or the engine could not be set up",
    ),
];

const POLICY_FAILED: &str =
    "the policy failed: would not load, trapped, returned an error or an invalid answer";

const SOURCE_FAILED: &str = "the inventory source failed: EC2 unreachable, throttled, credentials missing or\ndenied, or the instance metadata service did not say which instance this is";

/// What [`EXIT_INTERNAL`] means, for every command.
const INTERNAL_FAILURE: &str = "rollcall itself failed: stdout could not be written, or a bug; never a verdict\non the policy, the plugin or the fleet";

/// The `Exit codes:` section of `help`'s `--help`.
fn exit_codes(help: Help) -> String {
    let statuses = EXIT_STATUSES
        .iter()
        .filter(|(listed, _, _)| *listed == help)
        .map(|&(_, code, meaning)| (code, meaning))
        .chain([(EXIT_INTERNAL, INTERNAL_FAILURE)]);
    let mut text = String::from("Exit codes:");
    for (code, meaning) in statuses {
        let indent = format!("\n{:width$}", "", width = code.to_string().len() + 4);
        text += &format!("\n  {code}  {}", meaning.replace('\n', &indent));
    }
    text
}

const TEST_CASES: &str = r#"A cases file holds [[case]] tables:

  [[case]]
  name = "an agent registers with the monitor"
  inventory = "seed-fleet.json"     # a recorded fleet, relative to this file
  self = "i-df71a7b6"               # optional
  settings = { monitor_port = 7070 } # optional, default {}
  role = "agent"                    # self's role; "" for none
  clusters = []                     # self's
  register_with = ["i-2271a74b"]    # self's targets, sorted by id
  members = { i-2271a74b = "monitor", i-df71a7b6 = "agent" }  # exactly
  # error = "unknown field"         # instead: part of the expected error

Each expectation is checked only when given. `inventory` and `settings` may
also be set once at the top of the file for every case."#;

/// `plugin test --help`: the cases file, then the exit codes.
fn test_help() -> String {
    format!("{TEST_CASES}\n\n{}", exit_codes(Help::Test))
}

/// Finds the other instances of an EC2 fleet and decides, through a
/// WebAssembly policy plugin, which role each plays and whom this instance
/// registers with.
#[derive(Debug, Parser)]
#[command(name = "rollcall", version, after_help = exit_codes(Help::Rollcall))]
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
    #[command(after_help = exit_codes(Help::Resolve))]
    Resolve(ResolveArgs),
    /// Say why the policy decided what it did about one instance: its role,
    /// clusters and address, whether self registers with it, and the
    /// policy's reasons; for self, why each candidate target was taken or
    /// left out.
    #[command(after_help = exit_codes(Help::Explain))]
    Explain(ExplainArgs),
    /// Fetch the fleet and write it as a describe-instances JSON document
    /// that `resolve --inventory` reads: record live, replay offline.
    #[command(after_help = exit_codes(Help::Inventory), mut_arg("inventory", |arg| arg.hide(true)))]
    Inventory(InventoryArgs),
    /// Keep the answer current: refresh periodically, publish changes to
    /// sinks and an HTTP API, hot-reload the policy when its file changes
    /// (or on SIGHUP). Exits 0 on SIGTERM/SIGINT.
    #[command(after_help = exit_codes(Help::Watch))]
    Watch(WatchArgs),
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// List the consumer formats rollcall ships: each one's name (for
    /// `resolve --format NAME` and a file sink's `format = "NAME"`), what
    /// it holds, and the consumer's file or setting it feeds. Each is a
    /// template built into rollcall; `--format template:FILE` takes one of
    /// your own, fed the same membership document (README "Templates").
    Formats,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Compile a plugin ahead of time into the compiled-policy cache, so that
    /// `resolve` and `watch` start without compiling it.
    #[command(after_help = exit_codes(Help::Compile))]
    Compile {
        /// The plugin to compile.
        #[arg(value_name = "FILE.wasm")]
        plugin: PathBuf,

        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Run two policies (or one policy with two settings) on the same fleet
    /// and say what would change: members that join or leave, role, cluster
    /// and address changes, and self's registration targets.
    #[command(after_help = exit_codes(Help::Diff))]
    Diff(DiffArgs),
    /// Run a policy on recorded fleets and check its answers against the
    /// expectations in cases files: self's role, clusters and registration
    /// targets, every member's role, or the error it must fail with.
    #[command(after_help = test_help())]
    Test(TestArgs),
    /// Make a new policy project: a small working policy (roles from
    /// security groups, self registers with every monitor), a `build`
    /// script that writes NAME.wasm, tests/cases.toml that it passes as
    /// made, and the SDK and WIT of this rollcall.
    New {
        /// The project's name: lower-case letters, digits and `-` (the
        /// directory, the crate or module, and NAME.wasm).
        #[arg(value_name = "NAME")]
        name: String,

        /// The language to write the policy in.
        #[arg(long, value_enum)]
        lang: crate::scaffold::Language,

        /// Where to make the project's directory.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Say what a plugin file is and whether this rollcall runs it: the
    /// rollcall:policy version it was built for, its imports (with their
    /// WASI versions) and exports, its size and SHA-256; and if refused, why.
    #[command(after_help = exit_codes(Help::Check))]
    Check {
        /// The plugin to check.
        #[arg(value_name = "FILE.wasm")]
        plugin: PathBuf,

        /// How to print the report.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
}

impl Command {
    /// Whether this command runs as a daemon (and logs at INFO by default).
    pub fn is_daemon(&self) -> bool {
        matches!(self, Command::Watch(_))
    }
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub identity: SelfArgs,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// How to print the answer: a format of rollcall's, a consumer's
    /// (`rollcall formats` lists them), or template:FILE, a template of
    /// your own fed the membership document.
    #[arg(long, value_name = "FORMAT", value_parser = FormatParser, default_value = "json", help_heading = "Output")]
    pub format: Format,

    /// Write the answer here (atomically: readers see the old file or the
    /// new one) instead of stdout.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub wait: WaitArgs,
}

/// The policy a one-shot command runs.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The policy plugin: a WebAssembly component of the
    /// rollcall:policy@0.3.0 world (or of 0.2.0).
    #[arg(long, value_name = "FILE.wasm", help_heading = "Policy")]
    pub plugin: PathBuf,

    /// The policy's own settings: a JSON document, or @FILE to read one.
    #[arg(
        long,
        value_name = "JSON|@FILE",
        default_value = "{}",
        help_heading = "Policy"
    )]
    pub plugin_config: String,

    #[command(flatten)]
    pub limits: PolicyLimitOverrides,

    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub identity: SelfArgs,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// The instance to explain (it may be self).
    #[arg(long, value_name = "INSTANCE_ID")]
    pub instance: String,

    /// How to print the explanation.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text, help_heading = "Output")]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The policy in service.
    #[arg(value_name = "OLD.wasm")]
    pub old: PathBuf,

    /// The policy that would replace it (may be the same file, with other
    /// settings).
    #[arg(value_name = "NEW.wasm")]
    pub new: PathBuf,

    /// The fleet both decide on: a describe-instances JSON file, such as
    /// `rollcall inventory` records.
    #[arg(long, value_name = "FILE")]
    pub inventory: PathBuf,

    /// The old policy's settings: a JSON document, or @FILE.
    #[arg(long, value_name = "JSON|@FILE", default_value = "{}")]
    pub settings_old: String,

    /// The new policy's settings: a JSON document, or @FILE.
    #[arg(long, value_name = "JSON|@FILE", default_value = "{}")]
    pub settings_new: String,

    /// Compare registration targets as seen from this instance.
    #[arg(
        long = "self",
        value_name = "INSTANCE_ID",
        conflicts_with = "all_selves"
    )]
    pub self_id: Option<String>,

    /// Compare every instance's registration targets, each in turn as self:
    /// who would register with whom, before and after. Two evaluations per
    /// instance.
    #[arg(long)]
    pub all_selves: bool,

    /// How to print the difference.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The policy under test.
    #[arg(value_name = "FILE.wasm")]
    pub plugin: PathBuf,

    /// The cases files (TOML).
    #[arg(value_name = "CASES.toml", required = true)]
    pub cases: Vec<PathBuf>,

    /// Rewrite each case's expectations from the policy's answers instead
    /// of checking them (after recording a new fleet, or for a new case
    /// that expects nothing yet). Comments and layout are kept.
    #[arg(long)]
    pub update: bool,

    #[command(flatten)]
    pub cache: CacheArgs,
}

/// How `explain`, `plugin check` and `plugin diff` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// For people.
    Text,
    /// One JSON document.
    Json,
}

/// `resolve` at boot: ask again until the answer is good enough.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Waiting")]
pub struct WaitArgs {
    /// Fetch and decide again until the answer meets COND (repeatable; all
    /// must hold): targets>=N (self has at least N registration targets),
    /// role=NAME>=N (at least N members have the role), self-role (the
    /// policy gave self a role). Source failures are retried; exit 5 when
    /// the time is up.
    #[arg(long = "wait-for", value_name = "COND")]
    pub conditions: Vec<Condition>,

    /// Give up after this long, print the last answer and exit 5.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5m",
        value_parser = ranges::WAIT_TIMEOUT.parser(),
        requires = "conditions"
    )]
    pub wait_timeout: Duration,

    /// The pause between tries, randomised between half and one and a half
    /// times this, and doubled while EC2 throttles. With a large fleet
    /// booting at once, add --snapshot so that tries read the shared
    /// snapshot instead of EC2.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        value_parser = ranges::WAIT_INTERVAL.parser(),
        requires = "conditions"
    )]
    pub wait_interval: Duration,
}

impl WaitArgs {
    /// What to wait for, if anything.
    pub fn waiting(&self) -> Option<Waiting> {
        (!self.conditions.is_empty()).then(|| Waiting {
            conditions: self.conditions.clone(),
            timeout: self.wait_timeout,
            interval: self.wait_interval,
        })
    }
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Write the document here (atomically) instead of stdout.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{ResolveSettings, SelfChoice, SourceSettings};
    use std::time::Duration;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["rollcall"].iter().chain(args))
    }

    fn resolve_args(args: &[&str]) -> ResolveArgs {
        let mut full = vec!["resolve", "--plugin", "p.wasm"];
        full.extend(args);
        match parse(&full).unwrap().command {
            Command::Resolve(args) => args,
            _ => unreachable!(),
        }
    }

    /// The settings `resolve FLAGS` runs with.
    fn resolve_settings(args: &[&str]) -> ResolveSettings {
        let args = resolve_args(args);
        ResolveSettings::from_flags(&args.source, &args.identity).unwrap()
    }

    #[test]
    fn self_defaults_to_imds_only_when_reading_ec2() {
        let ec2 = resolve_settings(&["--region", "us-east-1"]);
        assert_eq!(ec2.own, SelfChoice::FromImds);
        let file = resolve_settings(&["--inventory", "fleet.json"]);
        assert_eq!(file.own, SelfChoice::Nobody);
        let no_imds = resolve_settings(&["--no-imds"]);
        assert_eq!(no_imds.own, SelfChoice::Nobody);
        let none = resolve_settings(&["--self", "none"]);
        assert_eq!(none.own, SelfChoice::Nobody);
        let given = resolve_settings(&["--self", "i-1"]);
        assert_eq!(given.own, SelfChoice::Given("i-1".into()));
    }

    #[test]
    fn ec2_flags_become_settings() {
        let args = resolve_args(&[
            "--regions",
            "us-east-1,eu-west-1",
            "--filter",
            "Name=instance-state-name,Values=running",
            "--filter",
            "Name=tag:env,Values=prod",
            "--page-size",
            "5",
            "--attempt-timeout",
            "1500ms",
            "--no-imds",
        ]);
        let resolved = ResolveSettings::from_flags(&args.source, &args.identity).unwrap();
        let SourceSettings::Ec2 { ec2: settings, .. } = resolved.source else {
            panic!("an EC2 source")
        };
        assert_eq!(settings.regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(settings.filters.len(), 2);
        assert_eq!(settings.filters[1].name, "tag:env");
        assert_eq!(settings.page_size, 5);
        assert_eq!(settings.attempt_timeout, Duration::from_millis(1500));
        assert!(!settings.region_from_imds);
        assert!(!args.source.ec2.is_empty());
        assert!(
            resolve_args(&["--inventory", "f.json"])
                .source
                .ec2
                .is_empty()
        );
    }

    #[test]
    fn conflicting_or_malformed_flags_are_usage_errors() {
        for bad in [
            vec![
                "resolve",
                "--plugin",
                "p.wasm",
                "--inventory",
                "f.json",
                "--region",
                "us-east-1",
            ],
            vec![
                "resolve",
                "--plugin",
                "p.wasm",
                "--region",
                "a",
                "--regions",
                "b,c",
            ],
            vec![
                "resolve",
                "--plugin",
                "p.wasm",
                "--filter",
                "instance-state-name=running",
            ],
            vec!["resolve", "--plugin", "p.wasm", "--page-size", "4"],
            vec!["resolve", "--plugin", "p.wasm", "--connect-timeout", "soon"],
        ] {
            let err = parse(&bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}: {err}");
        }
    }
}
