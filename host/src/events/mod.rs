//! The fleet's events: EC2 and Auto Scaling say an instance changed, an
//! EventBridge rule sends that to an SQS queue, and the node refreshing
//! the snapshot reads the queue, so that a change reaches the fleet in
//! seconds, not at the next period (issue #25).
//!
//! - [`message`]: one queued event, read and checked ([`parse_event`]);
//! - [`queue`]: the queue as a trait ([`EventQueue`]), on SQS
//!   ([`SqsQueue`]) and in memory for the tests and the fleet simulation.
//!
//! The rule's event pattern, the queue and the permissions a node needs are
//! in `packaging/cloudformation/events.yaml`.

// Read by the coordinator's event-driven refresh, built beside this one;
// until it lands, only the tests (with `internals`) use what is here.
#![cfg_attr(
    not(any(test, feature = "internals")),
    allow(dead_code, unused_imports)
)]

pub mod message;
pub mod queue;

pub use message::{DETAIL_TYPES, Event, EventKind, MAX_BODY_BYTES, Unrecognised, parse_event};
pub use queue::{
    Deadlines, EventQueue, MAX_DELETE_BATCH, MAX_RECEIVE_BATCH, MAX_WAIT, Message, QueueError,
    SqsQueue,
};
#[cfg(any(test, feature = "internals"))]
pub use queue::{MemoryQueue, QueueCounts};
