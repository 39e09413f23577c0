//! A benchmark probe for `host/benches/policy_boundary.rs`: receives the
//! fleet in a packed layout (`wit/probe.wit`) and counts the running
//! monitors, to measure what carrying the fleet into a guest would cost in
//! such a layout. Not a policy and not part of `rollcall:policy`.

#[allow(
    clippy::too_many_arguments,
    reason = "generated: the flattened lists of `fleet`"
)]
mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "probe" });
}

use bindings::{Fleet, Guest};

/// Numbers per row, and where the fields this probe reads sit in a row.
const ROW: usize = 32;
const STATE: usize = 2;
const SECURITY_GROUPS: usize = 14;
/// Numbers per pair of spans.
const PAIR: usize = 4;

struct Probe;

impl Guest for Probe {
    fn count_monitors(fleet: Fleet) -> u32 {
        let text = |start: u32, len: u32| {
            let start = start as usize;
            fleet.text.get(start..start + len as usize).unwrap_or("")
        };
        let is_monitor = |row: &[u32]| {
            let (first, count) = (
                row[SECURITY_GROUPS] as usize,
                row[SECURITY_GROUPS + 1] as usize,
            );
            fleet.pairs[first * PAIR..(first + count) * PAIR]
                .chunks_exact(PAIR)
                .any(|pair| text(pair[2], pair[3]) == "eg-monitor")
        };
        let monitors = fleet
            .rows
            .chunks_exact(ROW)
            .filter(|row| text(row[STATE], row[STATE + 1]) == "running" && is_monitor(row));
        monitors.count() as u32
    }
}

bindings::export!(Probe with_types_in bindings);
