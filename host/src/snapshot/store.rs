//! The object operations coordination needs, as a trait: a conditional
//! read (and one capped in bytes), a write that may be first-writer-wins, a
//! bounded listing of a prefix and a delete. [`S3Store`] does them on S3;
//! [`MemoryStore`] in memory, for tests and the fleet simulation.
//!
//! [`S3Store`]: super::s3::S3Store

use bytes::Bytes;
#[cfg(any(test, feature = "internals"))]
use std::collections::HashMap;
#[cfg(any(test, feature = "internals"))]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(any(test, feature = "internals"))]
use std::sync::{Mutex, PoisonError};

/// What a conditional read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The object, and its entity tag.
    Found {
        body: Bytes,
        etag: String,
    },
    /// The object still has the entity tag the reader gave.
    NotModified,
    Missing,
    /// The object is larger than a snapshot may be (it was not read whole):
    /// an unusable object, to be replaced like any other.
    Oversized {
        limit: u64,
    },
}

/// When a write may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition<'a> {
    /// Whatever is there.
    Always,
    /// Only when no object has the key (`If-None-Match: *`): first writer
    /// wins.
    IfAbsent,
    /// Only when the object still has this entity tag (`If-Match`):
    /// compare-and-swap on what the writer read.
    IfMatch(&'a str),
}

/// What a write came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Stored; with the new object's entity tag when the store said it.
    Stored { etag: Option<String> },
    /// The condition did not hold: another writer was first, or changed
    /// the object since it was read.
    Refused,
}

/// One object a listing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    /// Its entity tag: a new one for every write.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, when the store said.
    pub modified: Option<std::time::SystemTime>,
}

/// Why an operation failed: unreachable, denied, throttled; said for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync {
    /// Where objects live, for people: `s3://bucket/prefix`.
    fn describe(&self) -> String;

    /// Reads `key`; `NotModified` when its entity tag is still `if_none_match`.
    async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Read, StoreError>;

    /// Writes `key` if `when` holds.
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        when: Condition<'_>,
    ) -> Result<Written, StoreError>;

    /// [`ObjectStore::get`], the object read whole only if it holds at most
    /// `limit` bytes ([`Read::Oversized`] otherwise). A store that reads as
    /// the bytes arrive stops at the limit; this default reads it first.
    async fn get_within(
        &self,
        key: &str,
        if_none_match: Option<&str>,
        limit: u64,
    ) -> Result<Read, StoreError> {
        Ok(match self.get(key, if_none_match).await? {
            Read::Found { body, .. } if body.len() as u64 > limit => Read::Oversized { limit },
            read => read,
        })
    }

    /// The objects whose keys start with `prefix`, in key order: the first
    /// `limit` of them.
    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Listed>, StoreError>;

    /// Deletes `key`; deleting a missing key succeeds.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// An object's body, entity tag, and when it was written.
#[cfg(any(test, feature = "internals"))]
type Object = (Bytes, String, std::time::SystemTime);

/// An in-memory bucket that can be taken down, and counts its requests:
/// for the tests and the fleet simulation.
#[cfg(any(test, feature = "internals"))]
#[derive(Default)]
pub struct MemoryStore {
    objects: Mutex<HashMap<String, Object>>,
    /// The time objects are written at (the system's, or a test's paused
    /// clock).
    clock: Option<super::coordinator::Clock>,
    down: AtomicBool,
    next_etag: AtomicU64,
    /// Requests by kind: reads answered with a body (and their bytes),
    /// not-modified answers, misses, writes, refused conditional writes,
    /// listings, deletes, failures.
    pub counts: Counts,
}

#[cfg(any(test, feature = "internals"))]
#[derive(Default, Debug)]
pub struct Counts {
    pub bodies: AtomicU64,
    pub body_bytes: AtomicU64,
    pub not_modified: AtomicU64,
    pub missing: AtomicU64,
    pub writes: AtomicU64,
    pub refused: AtomicU64,
    pub lists: AtomicU64,
    pub deletes: AtomicU64,
    pub failed: AtomicU64,
}

#[cfg(any(test, feature = "internals"))]
impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A bucket that dates its objects by `clock`.
    pub fn with_clock(clock: super::coordinator::Clock) -> MemoryStore {
        MemoryStore {
            clock: Some(clock),
            ..MemoryStore::default()
        }
    }

    fn now(&self) -> std::time::SystemTime {
        self.clock
            .map_or_else(std::time::SystemTime::now, |clock| clock.now())
    }

    /// The body of `key`, if there is one (a test's look, not a request).
    pub fn peek(&self, key: &str) -> Option<Bytes> {
        let objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        objects.get(key).map(|(body, _, _)| body.clone())
    }

    /// Makes every request fail (`true`) or work again.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Keys of every object, sorted.
    pub fn keys(&self) -> Vec<String> {
        let objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        let mut keys: Vec<String> = objects.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Puts an object regardless of conditions (a test's setup).
    pub fn insert(&self, key: &str, body: Vec<u8>) {
        let etag = self.etag();
        let now = self.now();
        self.objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), (body.into(), etag, now));
    }

    fn etag(&self) -> String {
        format!("\"{}\"", self.next_etag.fetch_add(1, Ordering::Relaxed))
    }

    fn check_up(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            self.counts.failed.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError("the bucket is down".to_owned()));
        }
        Ok(())
    }
}

#[cfg(any(test, feature = "internals"))]
#[async_trait::async_trait]
impl ObjectStore for MemoryStore {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Read, StoreError> {
        self.check_up()?;
        let objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        let (counter, read) = match objects.get(key) {
            None => (&self.counts.missing, Read::Missing),
            Some((_, etag, _)) if Some(etag.as_str()) == if_none_match => {
                (&self.counts.not_modified, Read::NotModified)
            }
            Some((body, etag, _)) => {
                self.counts
                    .body_bytes
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                (
                    &self.counts.bodies,
                    Read::Found {
                        body: body.clone(),
                        etag: etag.clone(),
                    },
                )
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(read)
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        when: Condition<'_>,
    ) -> Result<Written, StoreError> {
        self.check_up()?;
        let mut objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        let holds = match when {
            Condition::Always => true,
            Condition::IfAbsent => !objects.contains_key(key),
            Condition::IfMatch(wanted) => {
                objects.get(key).is_some_and(|(_, etag, _)| etag == wanted)
            }
        };
        if !holds {
            self.counts.refused.fetch_add(1, Ordering::Relaxed);
            return Ok(Written::Refused);
        }
        self.counts.writes.fetch_add(1, Ordering::Relaxed);
        let etag = self.etag();
        objects.insert(key.to_owned(), (body.into(), etag.clone(), self.now()));
        Ok(Written::Stored { etag: Some(etag) })
    }

    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Listed>, StoreError> {
        self.check_up()?;
        self.counts.lists.fetch_add(1, Ordering::Relaxed);
        let objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        let mut listed: Vec<Listed> = objects
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(key, (body, etag, modified))| Listed {
                key: key.clone(),
                etag: etag.clone(),
                size: body.len() as u64,
                modified: Some(*modified),
            })
            .collect();
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        listed.truncate(limit);
        Ok(listed)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check_up()?;
        self.counts.deletes.fetch_add(1, Ordering::Relaxed);
        self.objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        Ok(())
    }
}
