//! Cold start: `rollcall resolve` from process start to answer on a
//! 1,000-instance fleet, with the policy compiled at start (`--no-cache`)
//! and precompiled (`rollcall plugin compile`, then the cache). Prints the
//! median of several alternating runs of each and their ratio. Run:
//! `cargo bench -p rollcall --bench cold_start` after `scripts/plugins`.

use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 15;
const INSTANCES: usize = 1_000;

/// A describe-instances document of `count` instances: a few monitors, the
/// rest agents, in two clusters, some stopped.
fn fleet(count: usize) -> String {
    let reservations: Vec<_> = (0..count)
        .map(|n| {
            let role = if n % 50 == 0 {
                "eg-monitor"
            } else {
                "eg-cybernode"
            };
            let cluster = if n % 2 == 0 {
                "cluster-blue"
            } else {
                "cluster-green"
            };
            json!({"ReservationId": format!("r-{n:08x}"), "Instances": [{
                "InstanceId": format!("i-{n:017x}"),
                "State": {"Name": if n % 17 == 0 { "stopped" } else { "running" }},
                "PrivateIpAddress": format!("10.{}.{}.{}", n / 65536, (n / 256) % 256, n % 256),
                "SecurityGroups": [
                    {"GroupName": "default", "GroupId": "sg-00000001"},
                    {"GroupName": role, "GroupId": format!("sg-{role}")},
                    {"GroupName": cluster, "GroupId": format!("sg-{cluster}")},
                ],
                "Tags": [{"Key": "Name", "Value": format!("node-{n}")}],
                "Placement": {"AvailabilityZone": "us-east-1a"},
            }]})
        })
        .collect();
    json!({"Reservations": reservations}).to_string()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let rollcall = env!("CARGO_BIN_EXE_rollcall");
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/release/elastic_grid.wasm");
    assert!(
        plugin.exists(),
        "{} missing: run scripts/plugins",
        plugin.display()
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let inventory = dir.path().join("fleet.json");
    std::fs::write(&inventory, fleet(INSTANCES)).expect("write fleet");
    let cache = dir.path().join("cache");
    let compiled = Command::new(rollcall)
        .args([
            "plugin",
            "compile",
            plugin.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ])
        .output()
        .expect("rollcall plugin compile");
    assert!(
        compiled.status.success(),
        "{}",
        String::from_utf8_lossy(&compiled.stderr)
    );

    let run = |cache_flag: &[&str]| -> Duration {
        let started = Instant::now();
        let output = Command::new(rollcall)
            .args(["resolve", "--inventory", inventory.to_str().unwrap()])
            .args([
                "--plugin",
                plugin.to_str().unwrap(),
                "--self",
                "i-00000000000000001",
            ])
            .args(["--plugin-config", r#"{"cluster_group_prefix": "cluster-"}"#])
            .args(cache_flag)
            .output()
            .expect("rollcall resolve");
        let took = started.elapsed();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        took
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
    println!(
        "  ratio compiling / precompiled: {:.1}x",
        compiling.as_secs_f64() / precompiled.as_secs_f64()
    );
}
