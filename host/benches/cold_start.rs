//! Cold start: `rollcall resolve` from process start to answer on a
//! 1,000-instance fleet, with the policy compiled at start (`--no-cache`)
//! and precompiled (`rollcall plugin compile`, then the cache). Prints the
//! median of several alternating runs of each and their ratio. Run:
//! `cargo bench -p rollcall --bench cold_start`.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/measure.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod measure;
#[path = "support/summary.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod summary;

use measure::{median, timed};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

const RUNS: usize = 15;
const INSTANCES: usize = 1_000;
/// The issue's target: a precompiled cold start at least this many times
/// faster than compiling.
const TARGET_SPEEDUP: f64 = 5.0;

fn main() {
    let rollcall = env!("CARGO_BIN_EXE_rollcall");
    let plugin = Path::new(kit::plugins::ELASTIC_GRID);
    let dir = tempfile::tempdir().expect("temporary directory");
    let inventory = dir.path().join("fleet.json");
    std::fs::write(
        &inventory,
        fleet::describe_instances(INSTANCES, 42).to_string(),
    )
    .expect("write fleet");
    let cache = dir.path().join("cache");
    measure::precompile(rollcall, plugin, &cache);

    let run = |cache_flag: &[&str]| -> Duration {
        let mut resolve = Command::new(rollcall);
        resolve
            .args(["resolve", "--inventory", inventory.to_str().unwrap()])
            .args([
                "--plugin",
                plugin.to_str().unwrap(),
                "--self",
                fleet::SELF_ID,
            ])
            .args(["--plugin-config", r#"{"cluster_group_prefix": "cluster-"}"#])
            .args(cache_flag);
        timed(&mut resolve).0
    };
    let cached_flags = ["--cache-dir", cache.to_str().unwrap()];
    let (mut compiling, mut precompiled) = (Vec::new(), Vec::new());
    run(&["--no-cache"]);
    for _ in 0..RUNS {
        compiling.push(run(&["--no-cache"]));
        precompiled.push(run(&cached_flags));
    }
    let (compiling, precompiled) = (median(compiling), median(precompiled));
    println!("cold start, resolve of {INSTANCES} instances, median of {RUNS} runs each:");
    println!(
        "  compiling the policy:  {:>8.1} ms",
        compiling.as_secs_f64() * 1e3
    );
    println!(
        "  precompiled policy:    {:>8.1} ms",
        precompiled.as_secs_f64() * 1e3
    );
    let speedup = compiling.as_secs_f64() / precompiled.as_secs_f64();
    println!("  ratio compiling / precompiled: {speedup:.1}x");
    summary::record(
        "cold_start",
        &format!("compiling / precompiled, resolve of {INSTANCES} instances"),
        &format!(
            "{speedup:.1}x ({:.1} vs {:.1} ms)",
            compiling.as_secs_f64() * 1e3,
            precompiled.as_secs_f64() * 1e3
        ),
        summary::Target::Goal(">= 5x", speedup >= TARGET_SPEEDUP),
    );
}
