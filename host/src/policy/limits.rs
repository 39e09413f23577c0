//! How much a policy may take: CPU time per call, linear memory, tables, and
//! the host-side objects it can make. Each is enforced by wasmtime (epoch
//! interruption, a resource limiter, a capped resource table), so a runaway
//! plugin costs a failed call, never the host. And how much its answer may
//! say about one member (labels), enforced by `validate`.

use crate::settings::PolicyLimits;
use std::time::Duration;

/// How often the engine's epoch advances; deadlines are whole ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Elements (function pointers) all the tables of one plugin instance may
/// hold together.
pub const TABLE_ELEMENTS: usize = 100_000;

/// Core instances, linear memories and tables one plugin instance may
/// create. A component from a standard toolchain needs a handful of each
/// (Rust: one memory; componentize-py and jco: a few); wasmtime's default
/// of 10,000 would let one file reserve terabytes of address space.
pub const CORE_INSTANCES: usize = 64;
pub const MEMORIES: usize = 16;
pub const TABLES: usize = 64;

/// Host-side objects (pollables, streams) a plugin instance may hold at
/// once; each costs host memory the memory limit does not see.
pub const HOST_RESOURCES: usize = 10_000;

/// Random bytes a plugin may ask for in one call.
pub const RANDOM_BYTES_PER_CALL: u64 = 64 * 1024;

/// Memory a `decide` call gets on top of the base limit for every instance
/// of the inventory: the fleet itself lives in the plugin's memory, and a
/// fleet of 100,000 instances needs well over 64 MiB.
pub const MEMORY_PER_INSTANCE: usize = 2 * 1024;

/// Labels one member may carry (`wit/policy.wit`'s `label`).
pub const LABELS_PER_MEMBER: usize = 16;

/// Bytes of a label's name: a Prometheus label name, with room to be a
/// suffix of one.
pub const LABEL_NAME_BYTES: usize = 64;

/// Bytes of a label's value: any EC2 tag value (256 Unicode characters)
/// fits.
pub const LABEL_VALUE_BYTES: usize = 1024;

impl PolicyLimits {
    /// The epoch deadline for one call: the time limit in ticks, rounded up,
    /// plus the tick already under way.
    pub fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_nanos();
        (self.time.as_nanos().div_ceil(tick) as u64).max(1) + 1
    }

    /// The memory limit of an evaluation over `instances` instances.
    pub fn memory_for(&self, instances: usize) -> usize {
        self.memory_bytes
            .saturating_add(instances.saturating_mul(MEMORY_PER_INSTANCE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_whole_ticks() {
        let limits = |millis| PolicyLimits {
            time: Duration::from_millis(millis),
            ..PolicyLimits::default()
        };
        assert_eq!(limits(2_000).deadline_ticks(), 201);
        assert_eq!(limits(15).deadline_ticks(), 3);
        assert_eq!(limits(0).deadline_ticks(), 2);
    }

    #[test]
    fn memory_grows_with_the_fleet() {
        let limits = PolicyLimits::default();
        assert_eq!(limits.memory_for(0), 64 << 20);
        assert_eq!(limits.memory_for(100_000), (64 << 20) + 100_000 * 2048);
    }
}
