//! A head's fleet on a reader: the shards it already holds from the last
//! head it took are kept, the ones it lacks are fetched (16 in flight,
//! each under [`MAX_SHARD_BYTES`], all within a deadline), checked against
//! their names and decoded, and the fleet is assembled and checked
//! ([`Head::assemble`]). One change at 10,000 instances costs a reader the
//! head and one shard.
//!
//! A shard that cannot be had makes the head unusable, never a smaller
//! fleet: a store that fails is a failed read (the node keeps what it
//! has); a shard that is missing or wrong is an unusable head, which the
//! next writer replaces, writing every shard again.

use super::format::Unusable;
use super::head::Head;
use super::shard::{MAX_SHARD_BYTES, ShardName, decode, shard_key};
use super::store::{ObjectStore, Read, StoreError};
use crate::inventory::Instance;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Shard requests in flight at once.
const IN_FLIGHT: usize = 16;

/// A head and its fleet, as a reader (or the writer) holds them.
#[derive(Debug)]
pub struct Assembled {
    pub head: Head,
    /// The instances of each shard, in the head's order.
    pub shards: Vec<Arc<[Instance]>>,
    pub instances: Arc<[Instance]>,
}

impl Assembled {
    /// The shard named `name`, if this state holds it.
    fn shard(&self, name: &ShardName) -> Option<&Arc<[Instance]>> {
        let index = self.head.shards.iter().position(|held| held == name)?;
        self.shards.get(index)
    }
}

/// Why a head's fleet could not be had.
#[derive(Debug)]
pub enum FetchFailure {
    /// The store failed, or did not answer in time.
    Store(StoreError),
    /// A shard is missing, or not what its name says.
    Unusable(Unusable),
}

/// Decoded shards and assembled heads, by name and entity tag: one node's
/// memory, shared by every coordinator of the fleet simulation (which
/// would otherwise decode each changed shard once per simulated node).
#[derive(Default)]
pub struct Decoded {
    shards: Mutex<HashMap<ShardName, Arc<[Instance]>>>,
    heads: Mutex<Option<(String, Arc<Assembled>)>>,
}

impl Decoded {
    fn shard(&self, name: &ShardName) -> Option<Arc<[Instance]>> {
        let shards = self.shards.lock().unwrap_or_else(PoisonError::into_inner);
        shards.get(name).cloned()
    }

    fn keep_shard(&self, name: &ShardName, instances: Arc<[Instance]>) {
        let mut shards = self.shards.lock().unwrap_or_else(PoisonError::into_inner);
        shards.insert(name.clone(), instances);
    }

    /// The head with entity tag `etag`, if assembled before.
    pub fn head(&self, etag: &str) -> Option<Arc<Assembled>> {
        let heads = self.heads.lock().unwrap_or_else(PoisonError::into_inner);
        heads
            .as_ref()
            .filter(|(known, _)| known == etag)
            .map(|(_, assembled)| Arc::clone(assembled))
    }

    /// Remembers the newest head, and forgets the decoded shards it does
    /// not name.
    pub fn keep_head(&self, etag: &str, assembled: &Arc<Assembled>) {
        let mut shards = self.shards.lock().unwrap_or_else(PoisonError::into_inner);
        shards.retain(|name, _| assembled.head.shards.contains(name));
        drop(shards);
        let mut heads = self.heads.lock().unwrap_or_else(PoisonError::into_inner);
        *heads = Some((etag.to_owned(), Arc::clone(assembled)));
    }
}

/// What fetching a head's fleet read, for the byte counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    pub shards: u64,
    pub bytes: u64,
}

/// `head`'s fleet: the shards `held` has are taken from it, the others
/// fetched from the store under `prefix`, all within `deadline`, those
/// fetched decompressed under `cap` bytes together. A head this process
/// assembled before (`decoded`, with entity tag `etag`) is not assembled
/// again, but its shards are still read as the node would read them (the
/// fleet simulation counts every node's requests).
#[allow(clippy::too_many_arguments)]
pub async fn fetch_fleet(
    store: &dyn ObjectStore,
    prefix: &str,
    head: Head,
    etag: Option<&str>,
    held: Option<&Assembled>,
    decoded: &Decoded,
    deadline: Duration,
    cap: u64,
) -> (Result<Arc<Assembled>, FetchFailure>, Fetched) {
    let before = etag.and_then(|etag| decoded.head(etag));
    let mut shards: Vec<Option<Arc<[Instance]>>> = head
        .shards
        .iter()
        .map(|name| held.and_then(|held| held.shard(name)).cloned())
        .collect();
    let wanted: Vec<(usize, ShardName)> = head
        .shards
        .iter()
        .enumerate()
        .filter(|(index, _)| shards[*index].is_none())
        .map(|(index, name)| (index, name.clone()))
        .collect();
    let mut fetched = Fetched::default();
    let mut budget = cap;
    let reads = futures::stream::iter(wanted)
        .map(|(index, name)| async move {
            let read = store
                .get_within(&shard_key(prefix, &name), None, MAX_SHARD_BYTES)
                .await;
            (index, name, read)
        })
        .buffer_unordered(IN_FLIGHT);
    let all = async {
        futures::pin_mut!(reads);
        while let Some((index, name, read)) = reads.next().await {
            let body = match read {
                Ok(Read::Found { body, .. }) => body,
                Ok(Read::Missing | Read::NotModified) => {
                    return Err(FetchFailure::Unusable(Unusable::Corrupt(format!(
                        "its shard {name} is missing"
                    ))));
                }
                Ok(Read::Oversized { limit }) => {
                    return Err(FetchFailure::Unusable(Unusable::TooLarge { limit }));
                }
                Err(err) => return Err(FetchFailure::Store(err)),
            };
            fetched.shards += 1;
            fetched.bytes += body.len() as u64;
            if before.is_some() {
                continue;
            }
            let instances = match decoded.shard(&name) {
                Some(instances) => instances,
                None => {
                    let (instances, plain) =
                        decode(&name, &body, budget).map_err(FetchFailure::Unusable)?;
                    budget = budget.saturating_sub(plain);
                    let instances: Arc<[Instance]> = instances.into();
                    decoded.keep_shard(&name, Arc::clone(&instances));
                    instances
                }
            };
            shards[index] = Some(instances);
        }
        Ok(())
    };
    let outcome = match tokio::time::timeout(deadline, all).await {
        Ok(Ok(())) => match before {
            Some(assembled) => Ok(assembled),
            None => assemble(head, shards).map(Arc::new),
        },
        Ok(Err(failure)) => Err(failure),
        Err(_) => Err(FetchFailure::Store(StoreError(format!(
            "the shards were not all read within {}",
            humantime::format_duration(deadline)
        )))),
    };
    (outcome, fetched)
}

/// The fleet of `head` from its shards, every one of them read.
fn assemble(head: Head, shards: Vec<Option<Arc<[Instance]>>>) -> Result<Assembled, FetchFailure> {
    let shards: Vec<Arc<[Instance]>> = shards
        .into_iter()
        .map(|shard| shard.unwrap_or_else(|| Arc::from(Vec::new())))
        .collect();
    let parts: Vec<&[Instance]> = shards.iter().map(|shard| &shard[..]).collect();
    let instances = head.assemble(&parts).map_err(FetchFailure::Unusable)?;
    Ok(Assembled {
        head,
        shards,
        instances: instances.into(),
    })
}
