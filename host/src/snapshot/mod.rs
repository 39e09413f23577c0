//! The fleet's shared listing: one node per refresh period lists EC2 and
//! writes a snapshot to S3; every other node reads it. EC2's API budget is
//! then spent per period, not per node (see README "Running at scale").
//!
//! - [`format`]: format 1's object, the scope, and why an object is
//!   unusable;
//! - [`head`], [`shard`]: format 2, a small head naming content-addressed
//!   shards;
//! - [`fetch`]: a reader's side of format 2 (only the shards it lacks);
//! - [`publish`]: a writer's side (changed shards, then the head swapped);
//! - [`sweep`]: shards no head names, deleted when no reader needs them;
//! - [`event_lease`], [`follow`]: one node applies EC2's events to the
//!   head within seconds;
//! - [`store`]: the object operations as a trait, and an in-memory bucket;
//! - [`coordinator`]: one refresh: read, use, lease, list, write, fall back;
//! - [`gate`]: the fallback's fleet-wide budget;
//! - [`leaving`]: the markers nodes that go away leave for the lister;
//! - [`fold`]: the lister reads them into the snapshot, and deletes the
//!   markers of gone instances;
//! - [`s3`]: the store on S3;
//! - [`source`]: all of it as an inventory source in front of EC2.

pub mod coordinator;
pub mod event_lease;
pub mod fetch;
pub mod fold;
pub mod follow;
pub mod format;
pub mod gate;
pub mod head;
pub mod leaving;
pub mod publish;
pub mod s3;
pub mod shard;
pub mod source;
pub mod store;
pub mod sweep;

#[cfg(feature = "internals")]
pub use coordinator::{
    Clock, Coordination, Coordinator, ListFailure, Lister, Listing, SharedDecoding,
};
pub use coordinator::{Mode, Tally};
#[cfg(feature = "internals")]
pub use format::{Scope, Snapshot};
pub use source::Sharing;
#[cfg(feature = "internals")]
pub use store::{Condition, Listed, MemoryStore, ObjectStore, Read, StoreError, Written};
