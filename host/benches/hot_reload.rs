//! Hot reload latency: a running `rollcall watch` (a 1,000- and a
//! 10,000-instance inventory file, Elastic Grid with clustering on, self an
//! agent) has a new policy renamed into its plugin path, the way deploy tools
//! do; measured is the time from the rename to the first `/v1/membership`
//! answer that comes from the new policy (polled about every millisecond over
//! a keep-alive loopback connection). The two policies swapped back and forth
//! are the Elastic Grid plugin and the same plugin with an extra custom
//! section: the same decisions, told apart by the `policy.sha256` the answer
//! carries. Done with the compiled-policy cache warm (both precompiled) and
//! with `--no-cache` (compiled on every reload); prints the median and max of
//! the swaps. Run: `cargo bench -p rollcall --bench hot_reload`.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/measure.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod measure;
#[path = "support/summary.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod summary;

use kit::daemon::Daemon;
use kit::http::Connection;
use measure::median;
use rollcall::policy::sha256_hex;
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};
use summary::Target;

const SWAPS: usize = 16;
const SETTINGS: &str = r#"{"cluster_group_prefix": "cluster-"}"#;
/// Between polls of `/v1/membership`.
const POLL: Duration = Duration::from_millis(1);
/// Quiet time after each swap's answer, so that swaps do not overlap.
const SETTLE: Duration = Duration::from_millis(300);
/// Longest wait for the daemon's first answer or a reload's answer.
const DEADLINE: Duration = Duration::from_secs(60);

/// A policy file the benchmark swaps in: its bytes and their sha256, which
/// `/v1/membership` shows as `policy.sha256`.
struct Policy {
    bytes: Vec<u8>,
    sha256: String,
}

impl Policy {
    fn new(bytes: Vec<u8>) -> Policy {
        let sha256 = sha256_hex(&bytes);
        Policy { bytes, sha256 }
    }
}

/// How the daemon gets the compiled policy on a reload.
#[derive(Clone, Copy)]
enum Compilation {
    /// From the cache, both policies precompiled.
    Precompiled,
    /// Compiled on every reload (`--no-cache`).
    Compiling,
}

impl Compilation {
    fn describe(self) -> &'static str {
        match self {
            Compilation::Precompiled => "precompiled",
            Compilation::Compiling => "--no-cache",
        }
    }
}

/// What one series of swaps measured.
struct Series {
    latencies: Vec<Duration>,
    polls: Vec<Duration>,
}

fn main() {
    let rollcall = env!("CARGO_BIN_EXE_rollcall");
    let dir = tempfile::tempdir().expect("temporary directory");
    let original = std::fs::read(kit::plugins::ELASTIC_GRID).expect("read elastic_grid.wasm");
    let policies = [
        Policy::new(original.clone()),
        Policy::new(with_custom_section(&original, "rollcall-bench-variant")),
    ];
    let cache = dir.path().join("cache");
    precompile(rollcall, dir.path(), &policies, &cache);

    println!(
        "hot reload: rename of a new policy into place -> first /v1/membership answer \
         from it, {SWAPS} swaps each:"
    );
    println!(
        "{:>9} {:>12} {:>10} {:>8} {:>8} {:>13}",
        "instances", "policy", "median_ms", "max_ms", "min_ms", "poll_ms(med)"
    );
    for count in [1_000, 10_000] {
        let inventory = dir.path().join(format!("fleet-{count}.json"));
        std::fs::write(&inventory, fleet::describe_instances(count, 42).to_string())
            .expect("write the fleet");
        for compilation in [Compilation::Precompiled, Compilation::Compiling] {
            let work = dir
                .path()
                .join(format!("{count}-{}", compilation.describe()));
            let series = swap_series(&work, &inventory, &policies, &cache, compilation);
            report(count, compilation, &series);
        }
    }
}

/// A valid component with different bytes: `component` plus a custom
/// section (id 0, size, name, no payload), which every tool ignores.
fn with_custom_section(component: &[u8], name: &str) -> Vec<u8> {
    let mut content = leb128(name.len());
    content.extend_from_slice(name.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0);
    bytes.extend(leb128(content.len()));
    bytes.extend(content);
    bytes
}

fn leb128(mut value: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            bytes.push(low);
            return bytes;
        }
        bytes.push(low | 0x80);
    }
}

/// Puts both policies into the compiled-policy cache.
fn precompile(rollcall: &str, dir: &Path, policies: &[Policy], cache: &Path) {
    for (index, policy) in policies.iter().enumerate() {
        let path = dir.join(format!("policy-{index}.wasm"));
        std::fs::write(&path, &policy.bytes).expect("write a policy to precompile");
        measure::precompile(rollcall, &path, cache);
    }
}

/// Starts a daemon on `inventory` with the first policy, then renames the
/// other one into place and waits for its answer, `SWAPS` times.
fn swap_series(
    work: &Path,
    inventory: &Path,
    policies: &[Policy; 2],
    cache: &Path,
    compilation: Compilation,
) -> Series {
    let (watched, staging) = (work.join("policy"), work.join("staging"));
    std::fs::create_dir_all(&watched).expect("create the plugin's directory");
    std::fs::create_dir_all(&staging).expect("create the staging directory");
    let plugin = watched.join("current.wasm");
    std::fs::write(&plugin, &policies[0].bytes).expect("write the first policy");

    let daemon = start_daemon(inventory, &plugin, cache, compilation);
    let mut client = Connection::new(daemon.address());
    let mut polls = Vec::new();
    let first = wait_for(&mut client, &policies[0].sha256, &mut polls, &daemon);
    check_policy_field(&first, &policies[0].sha256);

    let mut latencies = Vec::new();
    for swap in 1..=SWAPS {
        let next = &policies[swap % 2];
        let incoming = staging.join("current.wasm");
        std::fs::write(&incoming, &next.bytes).expect("stage the next policy");
        let renamed = Instant::now();
        std::fs::rename(&incoming, &plugin).expect("rename the policy into place");
        wait_for(&mut client, &next.sha256, &mut polls, &daemon);
        latencies.push(renamed.elapsed());
        std::thread::sleep(SETTLE);
    }
    drop(daemon);
    Series { latencies, polls }
}

/// The answer names its policy where the benchmark looks for it.
fn check_policy_field(body: &[u8], sha256: &str) {
    let document: serde_json::Value = serde_json::from_slice(body).expect("/v1/membership is JSON");
    assert_eq!(
        document["policy"]["sha256"], sha256,
        "/v1/membership shows the policy's sha256 as policy.sha256"
    );
}

fn report(count: usize, compilation: Compilation, series: &Series) {
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    let latency = median(series.latencies.clone());
    let max = series.latencies.iter().max().copied().unwrap_or_default();
    let min = series.latencies.iter().min().copied().unwrap_or_default();
    println!(
        "{count:>9} {:>12} {:>10.1} {:>8.1} {:>8.1} {:>13.2}",
        compilation.describe(),
        ms(latency),
        ms(max),
        ms(min),
        ms(median(series.polls.clone())),
    );
    summary::record(
        "hot_reload",
        &format!(
            "rename to first answer, {}k instances, {}, median of {SWAPS} (max)",
            count / 1_000,
            compilation.describe()
        ),
        &format!("{:.1} ms ({:.1})", ms(latency), ms(max)),
        Target::None,
    );
}

/// `rollcall watch` on `inventory` and `plugin`, its API on a loopback port
/// of its choosing; killed when dropped (also on panic).
fn start_daemon(inventory: &Path, plugin: &Path, cache: &Path, compilation: Compilation) -> Daemon {
    let mut args: Vec<OsString> = vec![
        "--inventory".into(),
        inventory.into(),
        "--plugin".into(),
        plugin.into(),
        "--plugin-config".into(),
        SETTINGS.into(),
        "--self".into(),
        fleet::SELF_ID.into(),
        "--refresh".into(),
        "1h".into(),
    ];
    match compilation {
        Compilation::Precompiled => args.extend(["--cache-dir".into(), cache.into()]),
        Compilation::Compiling => args.push("--no-cache".into()),
    }
    Daemon::start(args)
}

/// Polls `GET /v1/membership` on `client` until an answer shows the policy
/// with `sha256`, timing each poll into `polls`; the answer's body.
fn wait_for(
    client: &mut Connection,
    sha256: &str,
    polls: &mut Vec<Duration>,
    daemon: &Daemon,
) -> Vec<u8> {
    let started = Instant::now();
    loop {
        let asked = Instant::now();
        if let Some((200, body)) = client.get("/v1/membership") {
            polls.push(asked.elapsed());
            if String::from_utf8_lossy(&body).contains(sha256) {
                return body;
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no /v1/membership answer from policy {sha256} after {DEADLINE:?}; \
             the daemon's log ends:\n{}",
            log_tail(&daemon.stderr())
        );
        std::thread::sleep(POLL);
    }
}

/// The end of the daemon's log, for failure messages.
fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
