//! Writes one of the benchmarks' synthetic fleets to stdout, so that tools
//! outside `cargo bench` (hyperfine, in BENCHMARKS.md) time `resolve` on the
//! very same file: `cargo run --release -p rollcall --example synthetic_fleet
//! -- 10000 > fleet.json`. The instance every benchmark resolves for is
//! `i-00000000000000001`.

#[path = "../benches/support/fleet.rs"]
#[allow(dead_code, reason = "the fleet module is shared with the benchmarks")]
mod fleet;

use std::io::Write;
use std::process::ExitCode;

/// The seed every benchmark uses.
const SEED: u64 = 42;

fn main() -> ExitCode {
    let Some(count) = std::env::args().nth(1).and_then(|n| n.parse().ok()) else {
        eprintln!("usage: synthetic_fleet INSTANCES > fleet.json");
        return ExitCode::from(2);
    };
    let text = fleet::describe_instances(count, SEED).to_string();
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("synthetic_fleet: cannot write the fleet: {err}");
            ExitCode::FAILURE
        }
    }
}
