//! Hostile configuration: hundreds of mutations of real configuration files
//! through the same path `rollcall watch --config` takes (parse, check,
//! merge with flags), and the absurd values that once panicked or spun,
//! through the real binary. Every one is a settings value or an error that
//! names the file; none is a panic.

use clap::Parser;
use kit::{rollcall_in, workspace};
use rollcall::commands::flags::{Cli, Command};
use rollcall::settings::WatchSettings;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Mutations tried on each configuration file.
const MUTATIONS: usize = 300;

/// Every key rollcall reads, EC2 source and all sinks.
const FULL: &str = r#"refresh = "10s"
jitter = "2s"
stale_after = "1m"
self = "i-0123"

[source]
kind = "ec2"
regions = ["us-east-1", "eu-west-1"]
endpoint_url = "http://127.0.0.1:5000"
filters = ["Name=instance-state-name,Values=running"]
page_size = 100
connect_timeout = "1s"
attempt_timeout = "2s"
fetch_timeout = "30s"
max_attempts = 3
snapshot = "s3://fleet-bucket/rollcall"

[policy]
plugin = "plugins/elastic_grid.wasm"
settings = { cluster_group_prefix = "cluster-", monitor_port = 7070 }
time_limit = "500ms"
memory_limit_mib = 32
max_change = "20%"
accept_change = "0123456789abcdef"

[[sink]]
kind = "exec"
command = ["/usr/local/bin/on-change", "--quiet"]
timeout = "5s"

[[sink]]
kind = "stdout"

[http]
listen = "127.0.0.1:7878"

[events]
queue = "https://sqs.us-east-1.amazonaws.com/123456789012/rollcall-events"
endpoint_url = "http://127.0.0.1:4566"
"#;

/// Values that are wrong in most places, and some that once broke things.
const HOSTILE_VALUES: &[&str] = &[
    "\"300000000000years\"",
    "\"500000000000years\"",
    "\"99999999999999999999999s\"",
    "\"0s\"",
    "\"1ns\"",
    "4294967295",
    "2147483648",
    "18446744073709551615",
    "-1",
    "0",
    "1e400",
    "\"\"",
    "\"none\"",
    "\"imds\"",
    "true",
    "[]",
    "{}",
    "\"\\u0000\"",
    "\"é\"",
];

const NOISE: &[char] = &['[', ']', '"', '=', '\n', '#', '{', '}', ',', 'é', '\0', ' '];

#[test]
fn mutated_configurations_are_settings_or_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollcall.toml");
    let example = std::fs::read_to_string(workspace().join("examples/rollcall.toml")).unwrap();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let (mut accepted, mut refused) = (0, 0);
    for original in [example.as_str(), FULL] {
        for round in 0..MUTATIONS {
            let text = mutate(original, &mut rng);
            std::fs::write(&path, &text).unwrap();
            let outcome = catch_unwind(AssertUnwindSafe(|| settings_from(&path)));
            match outcome {
                Ok(Ok(())) => accepted += 1,
                Ok(Err(message)) => {
                    assert!(
                        message.starts_with(path.to_str().unwrap()),
                        "round {round}: the error names the file: {message}\n{text}"
                    );
                    refused += 1;
                }
                Err(_) => panic!("round {round}: panicked on\n{text}"),
            }
        }
    }
    // The mutations reach both outcomes, or they test little.
    assert!(
        accepted > 20 && refused > 20,
        "{accepted} accepted, {refused} refused"
    );
}

/// The settings `rollcall watch --config PATH` would run with.
fn settings_from(path: &Path) -> Result<(), String> {
    let cli = Cli::try_parse_from(["rollcall", "watch", "--config", path.to_str().unwrap()])
        .expect("the flags parse");
    let Command::Watch(args) = cli.command else {
        unreachable!("a watch command")
    };
    WatchSettings::from_flags(&args)
        .map(drop)
        .map_err(|err| err.to_string())
}

fn mutate(original: &str, rng: &mut fastrand::Rng) -> String {
    let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
    for _ in 0..rng.usize(1..=3) {
        let at = rng.usize(..lines.len());
        match rng.u8(..6) {
            0 => {
                if let Some((key, _)) = lines[at].split_once('=') {
                    lines[at] = format!(
                        "{key}= {}",
                        HOSTILE_VALUES[rng.usize(..HOSTILE_VALUES.len())]
                    );
                }
            }
            1 => {
                lines.remove(at);
                if lines.is_empty() {
                    lines.push(String::new());
                }
            }
            2 => {
                let copy = lines[at].clone();
                lines.insert(at, copy);
            }
            3 => {
                let other = rng.usize(..lines.len());
                lines.swap(at, other);
            }
            4 => {
                let line = &mut lines[at];
                let boundaries: Vec<usize> = line
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain([line.len()])
                    .collect();
                let cut = boundaries[rng.usize(..boundaries.len())];
                line.insert(cut, NOISE[rng.usize(..NOISE.len())]);
            }
            _ => {
                let line = &mut lines[at];
                let boundaries: Vec<usize> = line.char_indices().map(|(i, _)| i).collect();
                if let Some(&cut) = boundaries.get(rng.usize(..boundaries.len().max(1))) {
                    line.truncate(cut);
                }
            }
        }
    }
    lines.join("\n") + "\n"
}

/// The values that panicked, spun at 100% CPU or reached the SDK unchecked,
/// through the real binary: exit 2, the file named, no panic.
#[test]
fn absurd_durations_and_counts_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file_source = "[source]\nkind = \"file\"\npath = \"fleet.json\"\n";
    let ec2_source = "[source]\nkind = \"ec2\"\nregions = [\"us-east-1\"]\n";
    let policy = "[policy]\nplugin = \"p.wasm\"\n";
    let cases = [
        (
            format!("refresh = \"300000000000years\"\nstale_after = \"1m\"\n{file_source}{policy}"),
            "refresh = 300000000000years is out of range",
        ),
        (
            format!("jitter = \"500000000000years\"\n{file_source}{policy}"),
            "jitter = 500000000000years is out of range",
        ),
        (
            format!("stale_after = \"500000000000years\"\n{file_source}{policy}"),
            "stale_after = 500000000000years is out of range",
        ),
        (
            format!("{ec2_source}attempt_timeout = \"500000000000years\"\n{policy}"),
            "source.attempt_timeout = 500000000000years is out of range",
        ),
        (
            format!("{ec2_source}max_attempts = 4294967295\n{policy}"),
            "source.max_attempts = 4294967295 is out of range: it must be from 1 to 20",
        ),
        (
            format!("{file_source}{policy}time_limit = \"500000000000years\"\n"),
            "policy.time_limit = 500000000000years is out of range",
        ),
        (
            format!(
                "{file_source}{policy}[[sink]]\nkind = \"exec\"\ncommand = [\"true\"]\ntimeout = \"500000000000years\"\n"
            ),
            "sink.timeout = 500000000000years is out of range",
        ),
    ];
    for (text, expected) in cases {
        let config = dir.path().join("rollcall.toml");
        std::fs::write(&config, &text).unwrap();
        let run = rollcall_in(["watch", "--config", config.to_str().unwrap()], &[]);
        run.fails_with(2, &[&format!("{}: {expected}", config.display())]);
    }
    for flag in [
        "--attempt-timeout",
        "--connect-timeout",
        "--fetch-timeout",
        "--policy-time-limit",
    ] {
        let run = rollcall_in(
            [
                "resolve",
                "--plugin",
                "p.wasm",
                "--region",
                "us-east-1",
                flag,
                "500000000000years",
            ],
            &[],
        );
        run.fails_with(2, &[flag, "500000000000years is out of range"]);
    }
    let run = rollcall_in(["watch", "--plugin", "p.wasm", "--refresh", "0s"], &[]);
    run.fails_with(
        2,
        &[
            "--refresh",
            "0s is out of range: it must be from 100ms to 1day",
        ],
    );
}

/// A bad `[events]` table, and `--events-queue` without the snapshot,
/// through the real binary: exit 2, the place named, no panic.
#[test]
fn a_bad_events_queue_is_a_usage_error_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rollcall.toml");
    let queue = "https://sqs.us-east-1.amazonaws.com/123456789012/rollcall-events";
    let policy = "[policy]\nplugin = \"p.wasm\"\n";
    let shared = "[source]\nkind = \"ec2\"\nregions = [\"us-east-1\"]\n\
                  snapshot = \"s3://fleet-bucket/rollcall\"\n";
    let cases = [
        (
            format!("{shared}{policy}[events]\nqueue = \"rollcall-events\"\n"),
            "8:9: \"rollcall-events\" is not an http:// or https:// URL",
        ),
        (
            format!("{shared}{policy}[events]\nqueue = \"https://sqs.us-east-1.amazonaws.com\"\n"),
            "8:9: \"https://sqs.us-east-1.amazonaws.com\" names no queue",
        ),
        (
            format!("[source]\nkind = \"ec2\"\n{policy}[events]\nqueue = \"{queue}\"\n"),
            "5:1: [events] needs the fleet's snapshot",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&config, &text).unwrap();
        let run = rollcall_in(["watch", "--config", config.to_str().unwrap()], &[]);
        run.fails_with(2, &[&format!("{}:{expected}", config.display())]);
    }
    let run = rollcall_in(
        ["watch", "--plugin", "p.wasm", "--events-queue", queue],
        &[],
    );
    run.fails_with(2, &["--events-queue needs the fleet's snapshot"]);
    let run = rollcall_in(
        [
            "watch",
            "--plugin",
            "p.wasm",
            "--events-queue",
            "ftp://queue",
        ],
        &[],
    );
    run.fails_with(2, &["--events-queue", "is not an http:// or https:// URL"]);
}
