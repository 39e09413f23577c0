//! Does a policy reload leak? Loads two plugins alternately a thousand times,
//! as the daemon's reload does (compile, instantiate, configure, decide the
//! fleet, swap, drop the old one), and prints the resident memory along the
//! way. Run: `cargo bench -p rollcall --bench reload_memory`.

#[path = "support/measure.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod measure;
#[path = "support/summary.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod summary;

use kit::plugins::{ELASTIC_GRID, TAG_ROLES};
use rollcall::inventory::parse_describe_instances;
use rollcall::policy::{PolicyEngine, evaluate};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let plugin = |path: &str| -> (PathBuf, Vec<u8>) {
        let path = PathBuf::from(path);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
        (path, bytes)
    };
    let plugins = [plugin(ELASTIC_GRID), plugin(TAG_ROLES)];
    let fleet = std::fs::read(workspace.join("tests/fixtures/mixed-fleet.json")).expect("fixture");
    let instances = parse_describe_instances(&fleet).expect("fixture parses");
    let engine = PolicyEngine::new().expect("engine");

    let reloads = 1_000;
    let mut current = None;
    let started = Instant::now();
    let mut baseline = 0;
    println!("{:>8} {:>12}", "reloads", "rss_kib");
    for reload in 1..=reloads {
        let (path, bytes) = &plugins[reload % 2];
        let policy = engine
            .load_bytes(path, bytes, "{}", Default::default())
            .expect("plugin loads");
        evaluate(&policy, &instances, Some("i-0000000000000a001")).expect("decides");
        current = Some(policy);
        if reload == 50 {
            baseline = resident_kib();
        }
        if [50, 100, 250, 500, 750, 1_000].contains(&reload) {
            println!("{reload:>8} {:>12}", resident_kib());
        }
    }
    drop(current);
    let end = resident_kib();
    let each_ms = started.elapsed().as_secs_f64() * 1000.0 / reloads as f64;
    let growth = end as f64 / baseline.max(1) as f64;
    println!(
        "{reloads} reloads in {:.1} s ({each_ms:.1} ms each); rss after 1000 / after 50: {growth:.3}",
        started.elapsed().as_secs_f64(),
    );
    summary::record(
        "reload_memory",
        "resident memory after 1000 reloads / after 50",
        &format!("{growth:.3} ({each_ms:.1} ms per reload)"),
        // Not one of the targets: the daemon's own (reloads must
        // not leak).
        summary::Target::Goal("<= 1.05 (no leak)", growth <= 1.05),
    );
}
