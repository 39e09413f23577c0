//! Live path: `rollcall resolve` reading a 10,000-instance fleet from an
//! EC2-compatible endpoint (a loopback replay of 10 DescribeInstances pages of
//! 1,000 instances, rendered once so the server is not the bottleneck), side
//! by side in the same run with what a shell script does today: `aws ec2
//! describe-instances --query` (the AWS CLI from PyPI) against the same
//! endpoint. The CLI's output is scoped to self's clusters here, untimed, and
//! checked to give rollcall's registration targets. Prints the medians of
//! several alternating runs and their ratio (target: rollcall at least 5x
//! faster). Run: `cargo bench -p rollcall --bench live_path`; the
//! CLI is `$ROLLCALL_AWS_CLI` or `.venv-bench/bin/aws`
//! (`scripts/bench` installs it), and without it only rollcall is timed.

#[path = "support/ec2_replay.rs"]
mod ec2_replay;
#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/measure.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod measure;
#[path = "support/summary.rs"]
mod summary;

use ec2_replay::Replay;
use measure::{median, timed};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use summary::Target;

const INSTANCES: usize = 10_000;
const PAGE_SIZE: usize = 1_000;
const RUNS: usize = 7;
const REGION: &str = "us-east-1";
const SETTINGS: &str = r#"{"cluster_group_prefix": "cluster-"}"#;
const CLUSTER_PREFIX: &str = "cluster-";

/// What a shell script asks the AWS CLI for: the running monitors, with
/// their private address and group names (to scope them to its clusters).
const CLI_QUERY: &str = "Reservations[].Instances[] \
    | [?State.Name=='running' && contains(SecurityGroups[].GroupName, 'eg-monitor')] \
    .{InstanceId: InstanceId, PrivateIpAddress: PrivateIpAddress, Groups: SecurityGroups[].GroupName}";

fn main() {
    let rollcall = env!("CARGO_BIN_EXE_rollcall");
    let plugin = Path::new(kit::plugins::ELASTIC_GRID);
    let dir = tempfile::tempdir().expect("temporary directory");
    let cache = dir.path().join("cache");
    measure::precompile(rollcall, plugin, &cache);
    let fleet = fleet::describe_instances(INSTANCES, 42);
    let replay = Replay::start(&fleet, PAGE_SIZE);
    let cli = aws_cli();

    let resolve = || {
        let mut command = Command::new(rollcall);
        isolate(&mut command, dir.path());
        command
            .args([
                "resolve",
                "--endpoint-url",
                &replay.endpoint,
                "--region",
                REGION,
            ])
            .args(["--self", fleet::SELF_ID, "--no-imds"])
            .arg("--plugin")
            .arg(plugin)
            .args(["--plugin-config", SETTINGS])
            .arg("--cache-dir")
            .arg(&cache)
            .args(["--format", "json"]);
        command
    };
    let describe = |program: &Path| {
        let mut command = Command::new(program);
        isolate(&mut command, dir.path());
        command
            .args([
                "ec2",
                "describe-instances",
                "--endpoint-url",
                &replay.endpoint,
            ])
            .args(["--region", REGION, "--query", CLI_QUERY, "--output", "json"]);
        command
    };

    println!("one untimed run each, where the time goes (by the replay's clock):");
    let answer = measure::register_with(&run_checked(&replay, "rollcall", &mut resolve()));
    assert!(!answer.is_empty(), "self registers with some monitor");
    if let Some(program) = &cli {
        let monitors = run_checked(&replay, "AWS CLI", &mut describe(program));
        assert_eq!(
            scoped_to_self(&monitors, &clusters_of_self(&fleet)),
            answer,
            "the AWS CLI's monitors, scoped to self's clusters, are rollcall's targets"
        );
    }

    let (mut rollcall_runs, mut cli_runs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        rollcall_runs.push(timed(&mut resolve()).0);
        if let Some(program) = &cli {
            cli_runs.push(timed(&mut describe(program)).0);
        }
    }
    report(
        &replay,
        median(rollcall_runs),
        (!cli_runs.is_empty()).then(|| median(cli_runs)),
    );
}

/// The AWS CLI to compare with, if there is one that runs.
fn aws_cli() -> Option<PathBuf> {
    let program = std::env::var_os("ROLLCALL_AWS_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-bench/bin/aws"));
    let version = Command::new(&program).arg("--version").output();
    match version {
        Ok(output) if output.status.success() => {
            let text = [output.stdout, output.stderr].concat();
            println!(
                "AWS CLI: {} ({})",
                String::from_utf8_lossy(&text).trim(),
                program.display()
            );
            Some(program)
        }
        _ => {
            println!(
                "AWS CLI not found at {}: its side is skipped (n/a). `scripts/bench` \
                 installs it into .venv-bench (python3 -m venv .venv-bench && \
                 .venv-bench/bin/pip install awscli), or set ROLLCALL_AWS_CLI.",
                program.display()
            );
            None
        }
    }
}

/// Dummy credentials and nothing from the user's AWS setup (profiles,
/// endpoints, IMDS), the same for both sides.
fn isolate(command: &mut Command, dir: &Path) {
    measure::without_aws_environment(command)
        .env("AWS_ACCESS_KEY_ID", "AKIDROLLCALLBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "rollcall-bench-secret")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        );
}

/// Runs `command` once, untimed: checks that it read every page exactly
/// once, prints where its time went by when its requests reached the replay,
/// and returns what it printed (JSON).
fn run_checked(replay: &Replay, label: &str, command: &mut Command) -> Value {
    let before = replay.requests();
    let started = Instant::now();
    let (took, output) = timed(command);
    let arrivals = replay.arrivals_since(before);
    assert_eq!(
        arrivals.len(),
        replay.pages,
        "{command:?} reads each of the {} pages once",
        replay.pages
    );
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    let (first, last) = (arrivals[0], arrivals[arrivals.len() - 1]);
    println!(
        "  {label}: {:.0} ms = {:.0} ms start to first request, {:.0} ms from first to \
         last request ({:.0} ms a page), {:.0} ms after it (last page, the rest, exit)",
        ms(took),
        ms(first - started),
        ms(last - first),
        ms(last - first) / (arrivals.len() - 1).max(1) as f64,
        ms(started + took - last),
    );
    serde_json::from_slice(&output.stdout).expect("the output is JSON")
}

/// The clusters of the instance the benchmark resolves for (a script would
/// read its own groups from the instance metadata service).
fn clusters_of_self(fleet: &Value) -> BTreeSet<String> {
    let own = fleet["Reservations"]
        .as_array()
        .expect("the fleet has Reservations")
        .iter()
        .flat_map(|reservation| reservation["Instances"].as_array().into_iter().flatten())
        .find(|instance| instance["InstanceId"] == fleet::SELF_ID)
        .expect("self is in the fleet");
    clusters(
        own["SecurityGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|group| &group["GroupName"]),
    )
}

/// Cluster names from group names (`cluster-blue` is `blue`).
fn clusters<'a>(group_names: impl Iterator<Item = &'a Value>) -> BTreeSet<String> {
    group_names
        .filter_map(Value::as_str)
        .filter_map(|name| name.strip_prefix(CLUSTER_PREFIX))
        .filter(|cluster| !cluster.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The Elastic Grid rule applied to the CLI's running monitors: every other
/// monitor with an address that shares a cluster with self (or, if self has
/// none, that has none either), sorted by id.
fn scoped_to_self(monitors: &Value, mine: &BTreeSet<String>) -> Vec<String> {
    let mut ids: Vec<String> = monitors
        .as_array()
        .expect("the CLI's query gives a list")
        .iter()
        .filter(|monitor| monitor["InstanceId"] != fleet::SELF_ID)
        .filter(|monitor| {
            monitor["PrivateIpAddress"]
                .as_str()
                .is_some_and(|ip| !ip.is_empty())
        })
        .filter(|monitor| {
            let theirs = clusters(monitor["Groups"].as_array().into_iter().flatten());
            (mine.is_empty() && theirs.is_empty()) || !mine.is_disjoint(&theirs)
        })
        .map(|monitor| {
            monitor["InstanceId"]
                .as_str()
                .expect("a monitor has an InstanceId")
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

fn report(replay: &Replay, rollcall: Duration, cli: Option<Duration>) {
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    println!(
        "live path: {INSTANCES} instances in {} pages ({:.1} MB of XML) from a loopback \
         EC2 replay, median of {RUNS} alternating runs each:",
        replay.pages,
        replay.xml_bytes as f64 / 1e6
    );
    println!(
        "  rollcall resolve:                  {:>9.1} ms",
        ms(rollcall)
    );
    let rollcall_figure = format!("{:.1} ms", ms(rollcall));
    summary::record(
        "live_path",
        "rollcall resolve, EC2 endpoint, 10k instances in 10 pages",
        &rollcall_figure,
        Target::None,
    );
    let Some(cli) = cli else {
        println!("  aws ec2 describe-instances --query:       n/a");
        summary::record(
            "live_path",
            "AWS CLI / rollcall (AWS CLI not installed)",
            "n/a",
            Target::None,
        );
        return;
    };
    let ratio = cli.as_secs_f64() / rollcall.as_secs_f64();
    println!("  aws ec2 describe-instances --query: {:>9.1} ms", ms(cli));
    println!("  ratio AWS CLI / rollcall: {ratio:.1}x (target: at least 5x)");
    summary::record(
        "live_path",
        "aws ec2 describe-instances --query, same endpoint",
        &format!("{:.1} ms", ms(cli)),
        Target::None,
    );
    summary::record(
        "live_path",
        "AWS CLI / rollcall",
        &format!("{ratio:.1}x"),
        Target::Goal(">= 5x", ratio >= 5.0),
    );
}
