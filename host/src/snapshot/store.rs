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

/// What a write came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Stored,
    /// `only_if_absent` and the object exists: another writer was first.
    AlreadyThere,
}

/// One object a listing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    /// Its entity tag: a new one for every write.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
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

    /// Writes `key`; with `only_if_absent`, only when no object has that key.
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        only_if_absent: bool,
    ) -> Result<Written, StoreError>;

    /// Reads `key` whole only if it holds at most `limit` bytes
    /// ([`Read::Oversized`] otherwise). A store that reads as the bytes
    /// arrive stops at the limit; this default reads the object first.
    async fn get_within(&self, key: &str, limit: u64) -> Result<Read, StoreError> {
        Ok(match self.get(key, None).await? {
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

/// An object's body and entity tag.
#[cfg(any(test, feature = "internals"))]
type Object = (Bytes, String);

/// An in-memory bucket that can be taken down, and counts its requests:
/// for the tests and the fleet simulation.
#[cfg(any(test, feature = "internals"))]
#[derive(Default)]
pub struct MemoryStore {
    objects: Mutex<HashMap<String, Object>>,
    down: AtomicBool,
    next_etag: AtomicU64,
    /// Requests by kind: reads answered with a body, not-modified answers,
    /// misses, writes, refused first-writer writes, listings, deletes,
    /// failures.
    pub counts: Counts,
}

#[cfg(any(test, feature = "internals"))]
#[derive(Default, Debug)]
pub struct Counts {
    pub bodies: AtomicU64,
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
        self.objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), (body.into(), etag));
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
            Some((_, etag)) if Some(etag.as_str()) == if_none_match => {
                (&self.counts.not_modified, Read::NotModified)
            }
            Some((body, etag)) => (
                &self.counts.bodies,
                Read::Found {
                    body: body.clone(),
                    etag: etag.clone(),
                },
            ),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(read)
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        only_if_absent: bool,
    ) -> Result<Written, StoreError> {
        self.check_up()?;
        let mut objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        if only_if_absent && objects.contains_key(key) {
            self.counts.refused.fetch_add(1, Ordering::Relaxed);
            return Ok(Written::AlreadyThere);
        }
        self.counts.writes.fetch_add(1, Ordering::Relaxed);
        objects.insert(key.to_owned(), (body.into(), self.etag()));
        Ok(Written::Stored)
    }

    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Listed>, StoreError> {
        self.check_up()?;
        self.counts.lists.fetch_add(1, Ordering::Relaxed);
        let objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        let mut listed: Vec<Listed> = objects
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(key, (body, etag))| Listed {
                key: key.clone(),
                etag: etag.clone(),
                size: body.len() as u64,
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
