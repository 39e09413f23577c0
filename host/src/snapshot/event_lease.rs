//! The event lease: one node at a time consumes the fleet's event queue.
//! An object beside the snapshot (`PREFIX/events-lease`: its holder and
//! when the lease ends) is taken with a conditional PUT: `If-None-Match:
//! *` where there is none, `If-Match` on the one read where it has ended,
//! and renewed the same way by its holder. A holder that dies stops
//! renewing, and the lease is free one term later.
//!
//! What another node wrote is untrusted: a lease that ends further ahead
//! than [`MAX_TERMS_AHEAD`] terms, or that is not a lease at all, counts as
//! ended, so no object can hold the queue forever.

use super::head::millis_since_epoch;
use super::store::{Condition, ObjectStore, Read, StoreError, Written};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The lease's object name under the prefix.
pub const EVENT_LEASE_OBJECT: &str = "events-lease";

/// The largest lease object read.
const MAX_LEASE_BYTES: u64 = 4 << 10;

/// A lease ending more terms ahead than this is not believed.
pub const MAX_TERMS_AHEAD: u32 = 10;

#[derive(Serialize, Deserialize)]
struct LeaseFile {
    holder: String,
    ends_at_ms: u64,
}

/// A node's hold on the event lease.
pub struct EventLease {
    key: String,
    holder: String,
    term: Duration,
    /// The entity tag of this node's lease while it holds it.
    held: Option<String>,
}

impl EventLease {
    /// The lease under `prefix` as node `holder` takes it, for `term` at a
    /// time.
    pub fn new(prefix: &str, holder: &str, term: Duration) -> EventLease {
        let key = if prefix.is_empty() {
            EVENT_LEASE_OBJECT.to_owned()
        } else {
            format!("{prefix}/{EVENT_LEASE_OBJECT}")
        };
        EventLease {
            key,
            holder: holder.to_owned(),
            term,
            held: None,
        }
    }

    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }

    pub fn term(&self) -> Duration {
        self.term
    }

    /// Takes the lease if it is free (none, or ended at `now`), or renews
    /// it if this node holds it; whether this node holds it afterwards.
    pub async fn take_or_renew(
        &mut self,
        store: &dyn ObjectStore,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let condition_tag;
        let condition = match self.held.take() {
            // Renewing: only if nobody took it since.
            Some(etag) => {
                condition_tag = etag;
                Condition::IfMatch(&condition_tag)
            }
            None => match store.get_within(&self.key, None, MAX_LEASE_BYTES).await? {
                Read::Missing => Condition::IfAbsent,
                Read::Found { body, etag } if self.ended(&body, now) => {
                    condition_tag = etag;
                    Condition::IfMatch(&condition_tag)
                }
                Read::Found { .. } => return Ok(false),
                // Too large to be a lease: replaced.
                Read::Oversized { .. } | Read::NotModified => Condition::Always,
            },
        };
        let ends_at = now.checked_add(self.term).unwrap_or(now);
        let lease = LeaseFile {
            holder: self.holder.clone(),
            ends_at_ms: millis_since_epoch(ends_at),
        };
        let body = serde_json::to_vec(&lease).unwrap_or_default();
        match store.put(&self.key, body, condition).await? {
            Written::Stored { etag } => {
                // A store that gives no entity tag cannot be renewed by
                // swap: taken again each time it is free.
                self.held = etag;
                Ok(self.held.is_some())
            }
            Written::Refused => Ok(false),
        }
    }

    /// Lets the lease go (a node that stops consuming), so that another
    /// takes it at once.
    pub async fn release(&mut self, store: &dyn ObjectStore) {
        if self.held.take().is_some() {
            let _ = store.delete(&self.key).await;
        }
    }

    /// Whether the lease object `body` has ended at `now`, or is not to be
    /// believed.
    fn ended(&self, body: &[u8], now: SystemTime) -> bool {
        let Ok(lease) = serde_json::from_slice::<LeaseFile>(body) else {
            return true;
        };
        let Some(ends_at) = UNIX_EPOCH.checked_add(Duration::from_millis(lease.ends_at_ms)) else {
            return true;
        };
        let believable = now
            .checked_add(self.term.saturating_mul(MAX_TERMS_AHEAD))
            .is_none_or(|latest| ends_at <= latest);
        ends_at <= now || !believable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::store::MemoryStore;

    const TERM: Duration = Duration::from_secs(30);

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_000_000 + seconds)
    }

    #[tokio::test]
    async fn one_node_holds_it_until_it_stops_renewing() {
        let store = MemoryStore::new();
        let mut a = EventLease::new("p", "i-a", TERM);
        let mut b = EventLease::new("p", "i-b", TERM);
        assert!(a.take_or_renew(&store, at(0)).await.unwrap());
        assert!(!b.take_or_renew(&store, at(1)).await.unwrap());
        assert!(a.take_or_renew(&store, at(10)).await.unwrap(), "renewed");
        assert!(
            !b.take_or_renew(&store, at(39)).await.unwrap(),
            "renewed to 40"
        );
        // a stops renewing: b takes it once it ends, and a's renewal fails.
        assert!(b.take_or_renew(&store, at(41)).await.unwrap());
        assert!(!a.take_or_renew(&store, at(42)).await.unwrap());
        assert!(!a.is_held());
        b.release(&store).await;
        assert!(a.take_or_renew(&store, at(43)).await.unwrap(), "released");
    }

    #[tokio::test]
    async fn a_lease_ending_beyond_belief_or_not_a_lease_is_taken() {
        let store = MemoryStore::new();
        let mut node = EventLease::new("p", "i-a", TERM);
        let far = LeaseFile {
            holder: "i-forger".to_owned(),
            ends_at_ms: millis_since_epoch(at(365 * 86_400)),
        };
        store.insert("p/events-lease", serde_json::to_vec(&far).unwrap());
        assert!(node.take_or_renew(&store, at(0)).await.unwrap());
        node.release(&store).await;
        store.insert("p/events-lease", b"<html>".to_vec());
        assert!(node.take_or_renew(&store, at(1)).await.unwrap());
        // A believable lease of another node is not.
        node.release(&store).await;
        let near = LeaseFile {
            holder: "i-other".to_owned(),
            ends_at_ms: millis_since_epoch(at(20)),
        };
        store.insert("p/events-lease", serde_json::to_vec(&near).unwrap());
        assert!(!node.take_or_renew(&store, at(2)).await.unwrap());
    }
}
