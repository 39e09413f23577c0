//! The lister's side of leave markers ([`super::leaving`]): before it writes
//! the snapshot, the node that listed EC2 lists the markers (ListObjectsV2,
//! a page per thousand, at most [`MAX_MARKERS`] keys), reads those it has
//! not read before (by key and entity tag, each under [`MAX_MARKER_BYTES`])
//! unless the listing already shows their instance leaving, marks the
//! instances they name as leaving, and afterwards deletes the
//! markers of instances the listing no longer holds (or holds terminated).
//!
//! A marker can only mark an instance of the listing: it never adds one.
//! Nothing about markers fails a listing: a marker that cannot be read or
//! makes no sense is skipped with a WARN naming its key, and when the
//! markers cannot be listed the ones read before still count.

use super::coordinator::Tally;
use super::leaving::{MAX_MARKER_BYTES, Marker, marked_instance, markers_prefix};
use super::store::{Listed, ObjectStore, Read};
use crate::inventory::{Instance, Leaving};
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

/// The most markers a listing lists, reads and deletes: a scale-in of a
/// whole 10,000-instance fleet with spot notices on top. Ten
/// ListObjectsV2 pages; a marker's key is about 60 bytes.
pub const MAX_MARKERS: usize = 10_000;

/// Marker reads (and deletes) in flight at once.
const IN_FLIGHT: usize = 16;

/// What a marker said: how an instance leaves, or why it says nothing.
type Decoded = Result<Leaving, String>;

/// The markers a node has read, kept between its listings so that each is
/// read once: by key, its entity tag and what it said.
#[derive(Default)]
pub struct Folding {
    read: HashMap<String, (String, Decoded)>,
}

/// What folding found to do once the snapshot is written.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// Markers of instances that are gone.
    pub gone: Vec<String>,
}

impl Folding {
    /// Marks the `instances` that markers under `prefix` name as leaving,
    /// spending at most `deadline` on the store; gives the markers to
    /// delete once the snapshot is written.
    pub async fn fold(
        &mut self,
        store: &dyn ObjectStore,
        prefix: &str,
        instances: &mut [Instance],
        deadline: Duration,
        tally: &Tally,
    ) -> Leftovers {
        let folder = markers_prefix(prefix);
        let listed = match tokio::time::timeout(deadline, store.list(&folder, MAX_MARKERS + 1))
            .await
        {
            Ok(Ok(listed)) => listed,
            failed => {
                let error = match failed {
                    Ok(Err(err)) => err.to_string(),
                    _ => format!("no answer within {deadline:?}"),
                };
                tally.markers_failed.inc();
                tracing::warn!(markers = %folder, %error, "Cannot list the leave markers; the snapshot carries the ones read before.");
                self.apply_known(prefix, instances, tally);
                return Leftovers::default();
            }
        };
        let mut listed = listed;
        if listed.len() > MAX_MARKERS {
            tracing::warn!(markers = %folder, limit = MAX_MARKERS, "More leave markers than a listing reads; the rest wait for the next listing.");
            listed.truncate(MAX_MARKERS);
        }
        let index: HashMap<&str, usize> = instances
            .iter()
            .enumerate()
            .map(|(at, instance)| (instance.id.as_str(), at))
            .collect();
        let mut leftovers = Leftovers::default();
        let mut to_read = Vec::new();
        let mut known = HashMap::new();
        for object in listed {
            let Some(id) = marked_instance(prefix, &object.key) else {
                continue;
            };
            let Some(&at) = index
                .get(id)
                .filter(|&&at| instances[at].state != "terminated")
            else {
                leftovers.gone.push(object.key);
                continue;
            };
            if instances[at].leaving.is_some() {
                // The listing already says it leaves (Auto Scaling is
                // terminating it): its marker adds nothing worth a read.
                continue;
            }
            match self.read.remove(&object.key) {
                Some((etag, decoded)) if etag == object.etag => {
                    known.insert(object.key, (etag, decoded));
                }
                _ => to_read.push(object),
            }
        }
        let wanted = to_read.len();
        // Reads done by the deadline count; the rest wait for the next
        // listing.
        let reads: Vec<_> = futures::stream::iter(to_read)
            .map(|object| read_marker(store, prefix, object, tally))
            .buffer_unordered(IN_FLIGHT)
            .take_until(tokio::time::sleep(deadline))
            .collect()
            .await;
        if reads.len() < wanted {
            tracing::warn!(markers = %folder, after = ?deadline, read = reads.len(), wanted, "Reading the leave markers took too long; the rest wait for the next listing.");
        }
        for (object, decoded) in reads.into_iter().flatten() {
            if let Err(why) = &decoded {
                tally.markers_skipped.inc();
                tracing::warn!(marker = %object.key, %why, "A leave marker makes no sense; it is skipped.");
            }
            known.insert(object.key, (object.etag, decoded));
        }
        self.read = known;
        self.apply_known(prefix, instances, tally);
        leftovers
    }

    /// Marks the instances the markers read so far name as leaving.
    fn apply_known(&self, prefix: &str, instances: &mut [Instance], tally: &Tally) {
        let leaving: HashMap<&str, &Leaving> = self
            .read
            .iter()
            .filter_map(|(key, (_, decoded))| {
                Some((marked_instance(prefix, key)?, decoded.as_ref().ok()?))
            })
            .collect();
        if leaving.is_empty() {
            return;
        }
        for instance in instances.iter_mut() {
            if let Some(marked) = leaving.get(instance.id.as_str()) {
                instance.leaving = Some((*marked).clone());
                tally.markers_folded.inc();
            }
        }
    }
}

impl Leftovers {
    /// Deletes the markers of gone instances, spending at most `deadline`;
    /// a marker that cannot be deleted now is deleted by a later listing.
    pub async fn delete(self, store: &dyn ObjectStore, deadline: Duration, tally: &Tally) {
        if self.gone.is_empty() {
            return;
        }
        let deletes = futures::stream::iter(self.gone)
            .map(|key| async move {
                let deleted = store.delete(&key).await;
                (key, deleted)
            })
            .buffer_unordered(IN_FLIGHT)
            .for_each(|(key, deleted)| {
                match deleted {
                    Ok(()) => tally.markers_deleted.inc(),
                    Err(error) => {
                        tracing::warn!(marker = %key, %error, "Cannot delete the leave marker of a gone instance; a later listing will.");
                        tally.markers_failed.inc()
                    }
                };
                std::future::ready(())
            });
        if tokio::time::timeout(deadline, deletes).await.is_err() {
            tracing::warn!(after = ?deadline, "Deleting leave markers took too long; a later listing deletes the rest.");
        }
    }
}

/// Reads and decodes one marker; `None` when it is gone or cannot be read
/// now (it is tried again next listing).
async fn read_marker(
    store: &dyn ObjectStore,
    prefix: &str,
    object: Listed,
    tally: &Tally,
) -> Option<(Listed, Decoded)> {
    let id = marked_instance(prefix, &object.key)?.to_owned();
    if object.size > MAX_MARKER_BYTES {
        let why = format!(
            "the marker is {} bytes, over the {MAX_MARKER_BYTES}-byte limit",
            object.size
        );
        return Some((object, Err(why)));
    }
    let decoded = match store.get_within(&object.key, None, MAX_MARKER_BYTES).await {
        Ok(Read::Found { body, .. }) => Marker::decode(&id, &body),
        Ok(Read::Oversized { limit }) => Err(format!("the marker is over the {limit}-byte limit")),
        Ok(Read::Missing | Read::NotModified) => return None,
        Err(error) => {
            tally.markers_failed.inc();
            tracing::warn!(marker = %object.key, %error, "Cannot read a leave marker; it is tried again next listing.");
            return None;
        }
    };
    Some((object, decoded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::LeaveReason;
    use crate::snapshot::leaving::marker_key;
    use crate::snapshot::store::{Condition, MemoryStore, StoreError, Written};
    use std::sync::atomic::Ordering;

    const PREFIX: &str = "fleet/prod";
    const DEADLINE: Duration = Duration::from_secs(7);

    fn fleet(count: usize) -> Vec<Instance> {
        (0..count)
            .map(|n| Instance::running(&format!("i-{n:05}")))
            .collect()
    }

    fn announce(store: &MemoryStore, id: &str) {
        let leaving = Leaving::new(LeaveReason::Announced, None);
        store.insert(&marker_key(PREFIX, id), Marker::new(id, &leaving).encode());
    }

    fn leaving(instances: &[Instance]) -> usize {
        instances.iter().filter(|i| i.leaving.is_some()).count()
    }

    #[tokio::test(start_paused = true)]
    async fn a_scale_in_s_worth_of_markers_is_folded_in_one_listing() {
        // More markers than the thousand a single listing once read: the
        // ones past the first thousand keys were left for later listings,
        // after their instances had gone.
        let store = MemoryStore::new();
        let mut instances = fleet(2_500);
        for instance in &instances {
            announce(&store, &instance.id);
        }
        let mut folding = Folding::default();
        let tally = Tally::default();
        folding
            .fold(&store, PREFIX, &mut instances, DEADLINE, &tally)
            .await;
        assert_eq!(leaving(&instances), 2_500);
        assert_eq!(
            instances[2_499].leaving.as_ref().map(|l| l.reason),
            Some(LeaveReason::Announced)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_marker_of_an_instance_the_listing_shows_leaving_is_not_read() {
        let store = MemoryStore::new();
        let mut instances = fleet(3);
        let terminating = Leaving::new(LeaveReason::AutoScalingTermination, None);
        instances[0].leaving = Some(terminating.clone());
        for instance in &instances {
            announce(&store, &instance.id);
        }
        let mut folding = Folding::default();
        folding
            .fold(&store, PREFIX, &mut instances, DEADLINE, &Tally::default())
            .await;
        assert_eq!(
            store.counts.bodies.load(Ordering::Relaxed),
            2,
            "two reads, not three"
        );
        assert_eq!(
            instances[0].leaving,
            Some(terminating),
            "the listing's word stays"
        );
        assert_eq!(leaving(&instances), 3);
    }

    /// A bucket whose reads of one key never answer.
    struct OneSilentKey {
        bucket: MemoryStore,
        silent: String,
    }

    #[async_trait::async_trait]
    impl ObjectStore for OneSilentKey {
        fn describe(&self) -> String {
            "one silent key".to_owned()
        }

        async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Read, StoreError> {
            if key == self.silent {
                std::future::pending::<()>().await;
            }
            self.bucket.get(key, if_none_match).await
        }

        async fn put(
            &self,
            key: &str,
            body: Vec<u8>,
            when: Condition<'_>,
        ) -> Result<Written, StoreError> {
            self.bucket.put(key, body, when).await
        }

        async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Listed>, StoreError> {
            self.bucket.list(prefix, limit).await
        }

        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.bucket.delete(key).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn markers_read_by_the_deadline_count_when_one_read_hangs() {
        let bucket = MemoryStore::new();
        let mut instances = fleet(40);
        for instance in &instances {
            announce(&bucket, &instance.id);
        }
        let store = OneSilentKey {
            bucket,
            silent: marker_key(PREFIX, "i-00000"),
        };
        let mut folding = Folding::default();
        let started = tokio::time::Instant::now();
        folding
            .fold(&store, PREFIX, &mut instances, DEADLINE, &Tally::default())
            .await;
        assert!(
            started.elapsed() <= DEADLINE * 2,
            "the lists and reads keep to their deadlines"
        );
        assert_eq!(
            instances[0].leaving, None,
            "the silent one waits for the next listing"
        );
        assert_eq!(leaving(&instances), 39);
    }
}
