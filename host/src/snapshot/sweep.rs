//! Removing shards nothing refers to any more. Shards are immutable and
//! shared between heads, so a shard is deleted only when every reader is
//! done with it: the node that wrote the head lists `shards/` (at most
//! [`MAX_SHARD_KEYS`] keys) and deletes a shard only if
//! - the head it just wrote does not name it,
//! - no head this node saw within the last `after` named it,
//! - it was written more than `after` ago (a writer may be about to write a
//!   head naming it), and
//! - this node has watched the heads without a gap for `after`.
//!
//! A reader still fetching a shard the sweep took (a head current for less
//! than one poll, naming an old shard again) finds it missing: that head
//! is unusable, the reader keeps its fleet, and the next writer writes
//! every shard again.

use super::head::Head;
use super::shard::{SHARD_DIRECTORY, ShardName};
use super::store::ObjectStore;
use futures::StreamExt;
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// The most shard objects one sweep lists (and so deletes).
pub const MAX_SHARD_KEYS: usize = 20_000;

/// Deletes in flight at once.
const IN_FLIGHT: usize = 16;

/// The shards a node saw heads stop naming, and since when it has watched
/// the heads without a gap.
#[derive(Debug, Default)]
pub struct Retired {
    names: Vec<(ShardName, SystemTime)>,
    watching_since: Option<SystemTime>,
    last_seen: Option<SystemTime>,
}

impl Retired {
    /// Notes that this node saw `head` at `now` (after `previous`, the last
    /// head it saw); a gap longer than `gap` between two looks restarts the
    /// watch. Names retired longer ago than `keep` are forgotten.
    pub fn saw(
        &mut self,
        previous: Option<&Head>,
        head: &Head,
        now: SystemTime,
        gap: Duration,
        keep: Duration,
    ) {
        let watched = self
            .last_seen
            .is_some_and(|last| now.duration_since(last).unwrap_or_default() <= gap);
        if !watched {
            self.watching_since = Some(now);
        }
        self.last_seen = Some(now);
        if let Some(previous) = previous {
            let current: HashSet<&ShardName> = head.shards.iter().collect();
            for name in &previous.shards {
                if !current.contains(name) {
                    self.names.push((name.clone(), now));
                }
            }
        }
        self.names
            .retain(|(_, at)| now.duration_since(*at).unwrap_or_default() <= keep);
    }

    /// Whether this node may sweep at `now`: it has watched for `after`.
    fn may_sweep(&self, now: SystemTime, after: Duration) -> bool {
        self.watching_since
            .is_some_and(|since| now.duration_since(since).unwrap_or_default() >= after)
    }

    /// Deletes the shards under `prefix` that may go (see the module), in
    /// at most `deadline`; gives how many were deleted.
    pub async fn sweep(
        &self,
        store: &dyn ObjectStore,
        prefix: &str,
        current: &Head,
        now: SystemTime,
        after: Duration,
        deadline: Duration,
    ) -> usize {
        if !self.may_sweep(now, after) {
            return 0;
        }
        let directory = if prefix.is_empty() {
            format!("{SHARD_DIRECTORY}/")
        } else {
            format!("{prefix}/{SHARD_DIRECTORY}/")
        };
        let keep: HashSet<&ShardName> = current
            .shards
            .iter()
            .chain(
                self.names
                    .iter()
                    .filter(|(_, at)| now.duration_since(*at).unwrap_or_default() <= after)
                    .map(|(name, _)| name),
            )
            .collect();
        let work = async {
            let listed = match store.list(&directory, MAX_SHARD_KEYS).await {
                Ok(listed) => listed,
                Err(error) => {
                    tracing::debug!(%error, "Cannot list the shards to sweep them.");
                    return 0;
                }
            };
            let old_enough = |modified: Option<SystemTime>| {
                modified.is_some_and(|at| now.duration_since(at).unwrap_or_default() > after)
            };
            let doomed: Vec<String> = listed
                .into_iter()
                .filter(|object| old_enough(object.modified))
                .filter(|object| {
                    let name = object
                        .key
                        .strip_prefix(&directory)
                        .and_then(ShardName::parse);
                    // A key that is no shard's name is not the sweep's.
                    name.is_some_and(|name| !keep.contains(&name))
                })
                .map(|object| object.key)
                .collect();
            let deletes = futures::stream::iter(doomed)
                .map(|key| async move { store.delete(&key).await.is_ok() })
                .buffer_unordered(IN_FLIGHT);
            deletes
                .filter(|deleted| std::future::ready(*deleted))
                .count()
                .await
        };
        let deleted = tokio::time::timeout(deadline, work).await.unwrap_or(0);
        if deleted > 0 {
            tracing::debug!(deleted, "Swept shards no head names.");
        }
        deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::format::Scope;
    use crate::snapshot::shard::{encode, shard_key};
    use crate::snapshot::store::MemoryStore;
    use std::time::UNIX_EPOCH;

    const AFTER: Duration = Duration::from_secs(150);
    const GAP: Duration = Duration::from_secs(30);

    fn head(shards: Vec<ShardName>) -> Head {
        Head {
            scope: Scope::new(Vec::new(), Vec::new()),
            listed_at: UNIX_EPOCH,
            updated_at: UNIX_EPOCH,
            writer: None,
            revision: 0,
            instances: 0,
            shards,
            stale: Vec::new(),
        }
    }

    fn name(n: u8) -> ShardName {
        encode(&[crate::inventory::Instance::running(&format!("i-{n:017x}"))])
            .unwrap()
            .name
    }

    #[tokio::test(start_paused = true)]
    async fn only_shards_unnamed_long_enough_by_a_watching_node_go() {
        let clock = crate::snapshot::coordinator::Clock::starting_at(
            UNIX_EPOCH + Duration::from_secs(1_796_000_000),
        );
        let store = MemoryStore::with_clock(clock);
        for n in 0..4 {
            store.insert(&shard_key("p", &name(n)), vec![n]);
        }
        store.insert("p/shards/not-a-shard.txt", vec![9]);
        let mut retired = Retired::default();
        let first = head(vec![name(0), name(1)]);
        retired.saw(None, &first, clock.now(), GAP, AFTER * 2);
        // Not watched long enough: nothing goes.
        let now_head = head(vec![name(0), name(3)]);
        assert_eq!(
            retired
                .sweep(&store, "p", &now_head, clock.now(), AFTER, GAP)
                .await,
            0
        );
        for _ in 0..11 {
            tokio::time::advance(GAP / 2).await;
            retired.saw(Some(&first), &first, clock.now(), GAP, AFTER * 2);
        }
        // Shard 1 stops being named now: it stays for `after`.
        retired.saw(Some(&first), &now_head, clock.now(), GAP, AFTER * 2);
        let deleted = retired
            .sweep(&store, "p", &now_head, clock.now(), AFTER, GAP)
            .await;
        assert_eq!(deleted, 1, "shard 2: never named in the window");
        let keys = store.keys();
        assert!(keys.contains(&shard_key("p", &name(1))));
        assert!(!keys.contains(&shard_key("p", &name(2))));
        assert!(keys.contains(&"p/shards/not-a-shard.txt".to_owned()));

        for _ in 0..12 {
            tokio::time::advance(GAP / 2).await;
            retired.saw(Some(&now_head), &now_head, clock.now(), GAP, AFTER * 2);
        }
        retired
            .sweep(&store, "p", &now_head, clock.now(), AFTER, GAP)
            .await;
        assert!(!store.keys().contains(&shard_key("p", &name(1))));
        assert!(store.keys().contains(&shard_key("p", &name(0))));
        assert!(store.keys().contains(&shard_key("p", &name(3))));
    }
}
