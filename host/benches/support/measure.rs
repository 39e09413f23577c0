//! Process-level timing for benchmarks: run, check success, take medians.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The median of several runs.
pub fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// Runs `command` to completion, which must succeed; its wall time and output.
pub fn timed(command: &mut Command) -> (Duration, Output) {
    let started = Instant::now();
    let output = command.output().expect("the command runs");
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (took, output)
}

/// Nothing from the user's AWS setup reaches `command` (no `AWS_*`
/// variables, no IMDS lookups) and no `RUST_LOG` changes what it prints.
pub fn without_aws_environment(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("RUST_LOG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// Puts `plugin` into the compiled-policy cache at `cache`
/// (`rollcall plugin compile`), so that runs time the work, not compiling.
pub fn precompile(rollcall: &str, plugin: &Path, cache: &Path) {
    timed(
        Command::new(rollcall)
            .args(["plugin", "compile"])
            .arg(plugin)
            .arg("--cache-dir")
            .arg(cache),
    );
}

/// The instance ids of `register_with` in a membership document, in its
/// order (rollcall sorts them by id).
pub fn register_with(document: &serde_json::Value) -> Vec<String> {
    document["register_with"]
        .as_array()
        .expect("the document has register_with")
        .iter()
        .map(|target| {
            target["instance_id"]
                .as_str()
                .expect("a target has an instance_id")
                .to_owned()
        })
        .collect()
}
