//! The fleet's shared listing: one node per refresh period lists EC2 and
//! writes a snapshot to S3; every other node reads it. EC2's API budget is
//! then spent per period, not per node (see README "Running at scale").
//!
//! - [`format`]: the snapshot object and its checks;
//! - [`store`]: the object operations as a trait, and an in-memory bucket;
//! - [`coordinator`]: one refresh: read, use, lease, list, write, fall back;
//! - [`gate`]: the fallback's fleet-wide budget;
//! - [`s3`]: the store on S3;
//! - [`source`]: all of it as an inventory source in front of EC2.

pub mod coordinator;
pub mod format;
pub mod gate;
pub mod s3;
pub mod source;
pub mod store;

pub use coordinator::{Mode, Tally};
#[cfg(feature = "internals")]
pub use coordinator::{
    Clock, Coordination, Coordinator, ListFailure, Lister, Listing, SharedDecoding,
};
#[cfg(feature = "internals")]
pub use format::{Scope, Snapshot};
pub use s3::S3Location;
pub use source::{Sharing, open};
#[cfg(feature = "internals")]
pub use store::{MemoryStore, ObjectStore, Read, StoreError, Written};

use crate::daemon::guard::MaxChange;
use std::time::Duration;

/// `DescribeInstances` calls per second the whole fleet may spend on
/// fallback listings: a tenth of EC2's refill rate.
pub const DEFAULT_EC2_BUDGET: f64 = 2.0;
/// Without `snapshot_max_age`, a snapshot serves this many refresh
/// intervals before a node falls back.
pub const DEFAULT_MAX_AGE_INTERVALS: u32 = 5;

/// How far ahead of a reader's clock a snapshot's listing time may be
/// before the reader refuses it as from the future.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5);

/// Whether a node may write the snapshot (and take the leases that decide
/// who does): `source.snapshot_write`, `--snapshot-write`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotWrite {
    /// When its refresh comes first, if it knows its own instance id.
    #[default]
    Auto,
    /// Never: it only reads (it needs `s3:GetObject` alone), and lists EC2
    /// itself only behind the fleet's budget.
    Never,
}

/// Where the fleet's snapshot lives, and how a node falls back without it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSettings {
    /// The object holding the fleet's snapshot.
    pub location: S3Location,
    /// Overrides the S3 endpoint (and `AWS_ENDPOINT_URL_S3`).
    pub endpoint_url: Option<String>,
    /// `DescribeInstances` calls per second the whole fleet may spend on
    /// fallback listings (default 2).
    pub ec2_budget: f64,
    /// Past this age the snapshot no longer serves; `None`: 5 refresh
    /// intervals.
    pub max_age: Option<Duration>,
    /// How far ahead of this node's clock a snapshot's listing time may be
    /// (default 5s).
    pub clock_skew: Duration,
    /// The share of the fleet served a new snapshot may remove before it
    /// needs confirming (default 50%).
    pub max_shrink: MaxChange,
    /// Whether this node may write the snapshot.
    pub write: SnapshotWrite,
}

impl SnapshotSettings {
    /// The snapshot at `location`, with the default EC2 budget and maximum age.
    pub fn at(location: S3Location) -> SnapshotSettings {
        SnapshotSettings {
            location,
            endpoint_url: None,
            ec2_budget: DEFAULT_EC2_BUDGET,
            max_age: None,
            clock_skew: DEFAULT_CLOCK_SKEW,
            max_shrink: MaxChange::default(),
            write: SnapshotWrite::Auto,
        }
    }
}
