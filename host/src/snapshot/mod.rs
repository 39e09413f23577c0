//! The fleet's shared listing: one node per refresh period lists EC2 and
//! writes a snapshot to S3; every other node reads it. EC2's API budget is
//! then spent per period, not per node (see README "Running at scale").
//!
//! - [`format`]: the snapshot object and its checks;
//! - [`store`]: the object operations as a trait, and an in-memory bucket;
//! - [`coordinator`]: one refresh: read, use, lease, list, write, fall back;
//! - [`gate`]: the fallback's fleet-wide budget;
//! - [`leaving`]: the markers nodes that go away leave for the lister;
//! - [`fold`]: the lister reads them into the snapshot, and deletes the
//!   markers of gone instances;
//! - [`s3`]: the store on S3;
//! - [`source`]: all of it as an inventory source in front of EC2.

pub mod coordinator;
pub mod fold;
pub mod format;
pub mod gate;
pub mod leaving;
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
pub use source::Sharing;
#[cfg(feature = "internals")]
pub use store::{Listed, MemoryStore, ObjectStore, Read, StoreError, Written};
