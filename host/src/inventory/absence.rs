//! No flapping: EC2's listing is eventually consistent, and an instance can
//! drop out of one listing and come back in the next. [`GraceSource`] wraps
//! a source and keeps an instance that went missing without a sign that it
//! ended for a grace of more listings, marked unconfirmed, so that sinks
//! and hooks do not see it leave and join again.
//!
//! A sign that it ended confirms at once: its last record showed it
//! shutting down or terminated, leaving (a spot notice, an Auto Scaling
//! termination, an announcement), or terminating in Auto Scaling.

use super::{Instance, Inventory, InventorySource, LifecycleState, SourceError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// A source whose fleets keep briefly missing instances (see the module).
pub struct GraceSource {
    inner: Arc<dyn InventorySource>,
    grace: u32,
    memory: Mutex<Memory>,
}

/// What the previous listings showed.
#[derive(Default)]
struct Memory {
    /// When the latest listing was made: a fleet served again from the
    /// same listing (a snapshot read twice) is not a new listing.
    listed_at: Option<SystemTime>,
    /// Every instance of the latest listing, or carried since, by id, with
    /// how many listings in a row it has been missing from.
    seen: HashMap<String, Seen>,
}

struct Seen {
    instance: Instance,
    missing: u32,
}

impl GraceSource {
    /// `inner`, keeping a missing instance for `grace` more listings (0:
    /// a missing instance is gone at once, as without this wrapper).
    pub fn new(inner: Arc<dyn InventorySource>, grace: u32) -> GraceSource {
        GraceSource {
            inner,
            grace,
            memory: Mutex::new(Memory::default()),
        }
    }

    /// The listing, with the instances still within their grace appended
    /// (in id order) and named in [`Inventory::unconfirmed`].
    fn carry(&self, mut inventory: Inventory) -> Inventory {
        let mut memory = self
            .memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let new_listing = memory.listed_at != Some(inventory.fetched_at);
        memory.listed_at = Some(inventory.fetched_at);
        let listed: HashMap<&str, &Instance> = inventory
            .instances
            .iter()
            .map(|instance| (instance.id.as_str(), instance))
            .collect();
        let mut carried: Vec<Instance> = Vec::new();
        let mut seen: HashMap<String, Seen> = HashMap::with_capacity(listed.len());
        for (id, mut before) in std::mem::take(&mut memory.seen) {
            if listed.contains_key(id.as_str()) {
                continue;
            }
            if new_listing {
                before.missing += 1;
            }
            if before.missing <= self.grace && !ended(&before.instance) {
                carried.push(before.instance.clone());
                seen.insert(id, before);
            }
        }
        for instance in &inventory.instances {
            seen.insert(
                instance.id.clone(),
                Seen {
                    instance: instance.clone(),
                    missing: 0,
                },
            );
        }
        memory.seen = seen;
        carried.sort_by(|a, b| a.id.cmp(&b.id));
        if !carried.is_empty() {
            tracing::debug!(
                carried = carried.len(),
                "Instances missing from the listing kept for their grace."
            );
        }
        inventory.unconfirmed = carried.iter().map(|instance| instance.id.clone()).collect();
        inventory.instances.extend(carried);
        inventory
    }
}

/// Whether the instance's last record says it ended, or was about to: then
/// its absence needs no confirmation.
fn ended(instance: &Instance) -> bool {
    matches!(instance.state.as_str(), "shutting-down" | "terminated")
        || instance.leaving.is_some()
        || matches!(
            instance.lifecycle.state,
            LifecycleState::Terminating
                | LifecycleState::TerminatingWait
                | LifecycleState::Detaching
        )
}

#[async_trait::async_trait]
impl InventorySource for GraceSource {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn fetch(&self) -> Result<Inventory, SourceError> {
        let inventory = self.inner.fetch().await?;
        Ok(self.carry(inventory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{LeaveReason, Leaving, Lifecycle};
    use std::time::Duration;

    /// Listings handed out one by one, each a moment after the last.
    struct Listings(Mutex<Vec<Vec<Instance>>>, Mutex<u64>);

    impl Listings {
        fn of(listings: Vec<Vec<Instance>>) -> Arc<Listings> {
            let mut reversed = listings;
            reversed.reverse();
            Arc::new(Listings(Mutex::new(reversed), Mutex::new(0)))
        }
    }

    #[async_trait::async_trait]
    impl InventorySource for Listings {
        fn describe(&self) -> String {
            "listings".to_owned()
        }

        async fn fetch(&self) -> Result<Inventory, SourceError> {
            let instances = self.0.lock().unwrap().pop().expect("a listing left");
            let mut moment = self.1.lock().unwrap();
            *moment += 1;
            Ok(Inventory {
                instances: instances.into(),
                source: "listings".to_owned(),
                fetched_at: SystemTime::UNIX_EPOCH + Duration::from_secs(*moment),
                snapshot: None,
                unconfirmed: Vec::new(),
                stale_parts: Vec::new(),
            })
        }
    }

    fn ids(inventory: &Inventory) -> Vec<&str> {
        inventory.instances.iter().map(|i| i.id.as_str()).collect()
    }

    fn running(ids: &[&str]) -> Vec<Instance> {
        ids.iter().map(|id| Instance::running(id)).collect()
    }

    #[tokio::test]
    async fn a_one_listing_dropout_is_kept_unconfirmed_then_confirmed_gone() {
        let source = GraceSource::new(
            Listings::of(vec![
                running(&["i-a", "i-b"]),
                running(&["i-a"]),
                running(&["i-a", "i-b"]),
                running(&["i-a"]),
                running(&["i-a"]),
            ]),
            1,
        );
        assert_eq!(ids(&source.fetch().await.unwrap()), ["i-a", "i-b"]);
        let dropout = source.fetch().await.unwrap();
        assert_eq!(ids(&dropout), ["i-a", "i-b"], "kept through one dropout");
        assert_eq!(dropout.unconfirmed, ["i-b"]);
        let back = source.fetch().await.unwrap();
        assert_eq!(ids(&back), ["i-a", "i-b"]);
        assert!(
            back.unconfirmed.is_empty(),
            "back in the listing: confirmed"
        );
        assert_eq!(source.fetch().await.unwrap().unconfirmed, ["i-b"]);
        let gone = source.fetch().await.unwrap();
        assert_eq!(ids(&gone), ["i-a"], "missing from two listings: gone");
        assert!(gone.unconfirmed.is_empty());
    }

    #[tokio::test]
    async fn a_sign_that_it_ended_confirms_at_once() {
        let mut terminated = Instance::running("i-terminated");
        terminated.state = "terminated".to_owned();
        let mut leaving = Instance::running("i-leaving");
        leaving.leaving = Some(Leaving::new(LeaveReason::Announced, None));
        let mut draining = Instance::running("i-draining");
        draining.lifecycle = Lifecycle::in_group("web", LifecycleState::TerminatingWait);
        let source = GraceSource::new(
            Listings::of(vec![
                vec![terminated, leaving, draining, Instance::running("i-a")],
                running(&["i-a"]),
            ]),
            3,
        );
        source.fetch().await.unwrap();
        let after = source.fetch().await.unwrap();
        assert_eq!(ids(&after), ["i-a"]);
        assert!(after.unconfirmed.is_empty());
    }

    #[tokio::test]
    async fn the_same_listing_served_twice_is_one_listing() {
        struct Same;
        #[async_trait::async_trait]
        impl InventorySource for Same {
            fn describe(&self) -> String {
                "same".to_owned()
            }
            async fn fetch(&self) -> Result<Inventory, SourceError> {
                Ok(Inventory {
                    instances: Vec::new().into(),
                    source: "same".to_owned(),
                    fetched_at: SystemTime::UNIX_EPOCH,
                    snapshot: None,
                    unconfirmed: Vec::new(),
                    stale_parts: Vec::new(),
                })
            }
        }
        let source = GraceSource::new(Arc::new(Same), 1);
        source.memory.lock().unwrap().seen.insert(
            "i-b".to_owned(),
            Seen {
                instance: Instance::running("i-b"),
                missing: 0,
            },
        );
        source.memory.lock().unwrap().listed_at =
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1));
        for _ in 0..3 {
            assert_eq!(source.fetch().await.unwrap().unconfirmed, ["i-b"]);
        }
    }

    #[tokio::test]
    async fn no_grace_is_the_listing_as_it_is() {
        let source = GraceSource::new(
            Listings::of(vec![running(&["i-a", "i-b"]), running(&["i-a"])]),
            0,
        );
        source.fetch().await.unwrap();
        assert_eq!(ids(&source.fetch().await.unwrap()), ["i-a"]);
    }
}
