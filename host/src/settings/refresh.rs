//! How often the fleet is asked again, and what follows from it: the
//! jitter that keeps a fleet from polling in lockstep, and the age past
//! which an answer is stale.

use std::time::Duration;

/// `refresh`, `jitter` and `stale_after`; `--refresh` sets all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    /// How often to fetch the fleet.
    pub every: Duration,
    /// Up to this much random delay is added to every refresh.
    pub jitter: Duration,
    /// `/healthz` reports 503 once the answer is older than this.
    pub stale_after: Duration,
}

impl Refresh {
    /// The default period.
    pub const DEFAULT_EVERY: Duration = Duration::from_secs(30);

    /// Refreshing every `period`, with the jitter (a tenth) and the
    /// staleness (three periods) that follow from it.
    pub fn every(period: Duration) -> Refresh {
        Refresh {
            every: period,
            jitter: period / 10,
            stale_after: period.saturating_mul(3),
        }
    }
}

impl Default for Refresh {
    fn default() -> Self {
        Refresh::every(Refresh::DEFAULT_EVERY)
    }
}
