//! Writing a fleet as format 2: the shards it does not share with the state
//! it replaces are written first (`If-None-Match: *`, 16 in flight: an
//! existing shard is the same bytes), then the head, compare-and-swap on
//! the head the writer read (`If-Match`, or `If-None-Match: *` where there
//! was none). A writer that loses the swap has written nothing a reader
//! sees: it re-reads and decides again ([`Published::Lost`]).

use super::fetch::Assembled;
use super::head::Head;
use super::shard::{Encoded, encode, shard_count, shard_key, split};
use super::store::{Condition, ObjectStore, StoreError, Written};
use crate::inventory::Instance;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// Shard writes in flight at once.
const IN_FLIGHT: usize = 16;

/// What a publication came to.
#[derive(Debug)]
pub enum Published {
    /// The head is ours; with its entity tag when the store said it.
    Written {
        assembled: Arc<Assembled>,
        etag: Option<String>,
        /// Shards written (the others were unchanged).
        shards_written: usize,
    },
    /// Another writer changed the head since it was read.
    Lost,
    Failed(String),
}

/// The head to write, but for its shards and count.
pub struct Draft {
    pub head: Head,
    pub replaces: Replacing,
}

/// What the writer found where the head goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Replacing {
    /// No head: written only if there still is none.
    #[default]
    Nothing,
    /// The head with this entity tag: written only if it is still there.
    Head(String),
    /// A head whose entity tag the store did not give (one too large to
    /// read): written over whatever is there.
    Unknown,
}

/// Writes `instances` as the state after `base` (whose unchanged shards
/// keep their names; `None` writes every shard), within `deadline`.
pub async fn publish(
    store: &dyn ObjectStore,
    prefix: &str,
    instances: &[Instance],
    base: Option<&Assembled>,
    draft: Draft,
    deadline: Duration,
) -> Published {
    match tokio::time::timeout(deadline, write(store, prefix, instances, base, draft)).await {
        Ok(published) => published,
        Err(_) => Published::Failed(format!(
            "not written within {}",
            humantime::format_duration(deadline)
        )),
    }
}

async fn write(
    store: &dyn ObjectStore,
    prefix: &str,
    instances: &[Instance],
    base: Option<&Assembled>,
    draft: Draft,
) -> Published {
    let count = shard_count(instances.len(), base.map(|base| base.shards.len()));
    let parts = split(instances, count);
    let comparable = base.filter(|base| base.shards.len() == count);
    let mut names = Vec::with_capacity(count);
    let mut new: Vec<Encoded> = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        match comparable {
            Some(base) if base.shards[index][..] == part[..] => {
                names.push(base.head.shards[index].clone());
            }
            _ => match encode(part) {
                Ok(encoded) => {
                    names.push(encoded.name.clone());
                    new.push(encoded);
                }
                Err(why) => return Published::Failed(format!("cannot encode a shard: {why}")),
            },
        }
    }
    // An unchanged fleet whose head is rewritten (a new listing) writes
    // no shard; identical new shards are written once.
    new.sort_by(|a, b| a.name.cmp(&b.name));
    new.dedup_by(|a, b| a.name == b.name);
    let shards_written = new.len();
    let writes = futures::stream::iter(new)
        .map(|shard| async move {
            store
                .put(
                    &shard_key(prefix, &shard.name),
                    shard.object,
                    Condition::IfAbsent,
                )
                .await
        })
        .buffer_unordered(IN_FLIGHT);
    futures::pin_mut!(writes);
    while let Some(written) = writes.next().await {
        if let Err(StoreError(why)) = written {
            return Published::Failed(format!("cannot write a shard: {why}"));
        }
    }
    let mut head = draft.head;
    head.instances = instances.len();
    head.shards = names;
    let condition = match &draft.replaces {
        Replacing::Head(etag) => Condition::IfMatch(etag),
        Replacing::Nothing => Condition::IfAbsent,
        Replacing::Unknown => Condition::Always,
    };
    let key = super::head::head_key(prefix);
    match store.put(&key, head.encode(), condition).await {
        Ok(Written::Stored { etag }) => {
            let shards: Vec<Arc<[Instance]>> = parts.into_iter().map(Arc::from).collect();
            let every: Vec<&[Instance]> = shards.iter().map(|shard| &shard[..]).collect();
            // Assembled as a reader does: the writer serves what they serve.
            match head.assemble(&every) {
                Ok(instances) => Published::Written {
                    assembled: Arc::new(Assembled {
                        head,
                        shards,
                        instances: instances.into(),
                    }),
                    etag,
                    shards_written,
                },
                Err(why) => Published::Failed(format!("the written fleet is not one: {why}")),
            }
        }
        Ok(Written::Refused) => Published::Lost,
        Err(StoreError(why)) => Published::Failed(format!("cannot write the head: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::fetch::{Decoded, fetch_fleet};
    use crate::snapshot::format::Scope;
    use crate::snapshot::store::{MemoryStore, Read};
    use std::sync::atomic::Ordering;
    use std::time::UNIX_EPOCH;

    const PREFIX: &str = "fleet";
    const DEADLINE: Duration = Duration::from_secs(5);

    fn fleet(count: usize) -> Vec<Instance> {
        (0..count)
            .map(|n| Instance::running(&format!("i-{n:017x}")))
            .collect()
    }

    fn draft(replaces: Replacing) -> Draft {
        let at = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        Draft {
            head: Head {
                scope: Scope::new(vec!["us-east-1".to_owned()], Vec::new()),
                listed_at: at,
                updated_at: at,
                writer: Some(format!("i-{:017x}", 0)),
                revision: 1,
                instances: 0,
                shards: Vec::new(),
                stale: Vec::new(),
            },
            replaces,
        }
    }

    async fn written(published: Published) -> (Arc<Assembled>, Option<String>, usize) {
        match published {
            Published::Written {
                assembled,
                etag,
                shards_written,
            } => (assembled, etag, shards_written),
            other => panic!("not written: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_one_instance_change_writes_one_shard_and_a_reader_fetches_one() {
        let store = MemoryStore::new();
        let mut instances = fleet(1_000);
        let (first, etag, count) = written(
            publish(
                &store,
                PREFIX,
                &instances,
                None,
                draft(Replacing::Nothing),
                DEADLINE,
            )
            .await,
        )
        .await;
        assert_eq!(
            count,
            first.head.shards.len(),
            "every shard, the first time"
        );

        instances[500].state = "stopping".to_owned();
        let (second, _, count) = written(
            publish(
                &store,
                PREFIX,
                &instances,
                Some(&first),
                draft(Replacing::Head(etag.unwrap())),
                DEADLINE,
            )
            .await,
        )
        .await;
        assert_eq!(count, 1);
        let changed = (first.head.shards.iter())
            .zip(&second.head.shards)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, 1);

        // A reader that holds the first state fetches the one shard.
        let bodies = store.counts.bodies.load(Ordering::Relaxed);
        let (read, fetched) = fetch_fleet(
            &store,
            PREFIX,
            second.head.clone(),
            None,
            Some(&first),
            &Decoded::default(),
            DEADLINE,
            1 << 30,
        )
        .await;
        let read = read.unwrap();
        assert_eq!(fetched.shards, 1);
        assert_eq!(store.counts.bodies.load(Ordering::Relaxed), bodies + 1);
        assert_eq!(read.instances, second.instances);
        let mut sorted = read.instances.to_vec();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(sorted, instances);
    }

    #[tokio::test]
    async fn a_writer_that_lost_the_swap_changes_nothing_readers_see() {
        let store = MemoryStore::new();
        let instances = fleet(10);
        let (_, etag, _) = written(
            publish(
                &store,
                PREFIX,
                &instances,
                None,
                draft(Replacing::Nothing),
                DEADLINE,
            )
            .await,
        )
        .await;
        let head_key = crate::snapshot::head::head_key(PREFIX);
        let before = store.get(&head_key, None).await.unwrap();
        // A head written by nobody's read: there is one already.
        let lost = publish(
            &store,
            PREFIX,
            &fleet(3),
            None,
            draft(Replacing::Nothing),
            DEADLINE,
        )
        .await;
        assert!(matches!(lost, Published::Lost), "{lost:?}");
        let stale = publish(
            &store,
            PREFIX,
            &fleet(3),
            None,
            draft(Replacing::Head("\"not the one\"".to_owned())),
            DEADLINE,
        )
        .await;
        assert!(matches!(stale, Published::Lost), "{stale:?}");
        assert_eq!(store.get(&head_key, None).await.unwrap(), before);
        // The swap on the head read wins.
        let won = publish(
            &store,
            PREFIX,
            &fleet(3),
            None,
            draft(Replacing::Head(etag.unwrap())),
            DEADLINE,
        )
        .await;
        assert!(matches!(won, Published::Written { .. }));
        assert!(matches!(
            store.get(&head_key, None).await.unwrap(),
            Read::Found { .. }
        ));
    }
}
