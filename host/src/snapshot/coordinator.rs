//! One refresh of a node that shares its fleet's listing through a
//! snapshot: read the snapshot; use it if it is fresh (younger than the
//! refresh interval less its jitter); else take the lease to replace it, and
//! if it is ours, list EC2 and write the snapshot for everyone; if another
//! node has the lease, read again shortly after. When no snapshot serves (S3
//! down, nothing written for `max_age`), list EC2 behind the fleet-wide gate
//! (one draw per node per period), or keep the last answer.
//!
//! A lease's key names the refresh period and the snapshot it replaces:
//! the first node to find a snapshot stale replaces it, once; a lease whose
//! winner died expires with its period. A node's answer is then at most
//! `fresh_for` old when read and is kept one refresh interval (plus jitter),
//! so never older than two intervals.
//!
//! What another node wrote is untrusted input ([`super::format`] checks its
//! shape, this module its sense):
//! - a snapshot's age is taken on this node's clock: from its listing time,
//!   but never less than the time since this node first saw the object, and
//!   one listed further ahead of this clock than `clock_skew` is refused;
//! - a snapshot that would shrink the fleet served by more than `max_shrink`
//!   is held back until this node's own listing or the next snapshot
//!   confirms it;
//! - every listing passes the gate except the one of a lease this node
//!   won and read back, so no store's answer, however wrong, takes the
//!   fleet past its EC2 budget;
//! - a node that may not write (`snapshot_write = "never"`, or that does
//!   not know its own id) never takes a lease and never writes.
//!
//! The object store and the lister are traits and time comes from tokio
//! ([`Clock`]), so tests and the fleet simulation drive the real logic.

use super::fold::Folding;
use super::format::{Scope, Snapshot, Unusable};
use super::gate::{listing_chance, pages};
use super::store::{ObjectStore, Read, StoreError, Written};
use crate::inventory::{Instance, SourceError};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// The snapshot's object name under the prefix.
pub const SNAPSHOT_OBJECT: &str = "snapshot.zst";
/// Where leases go under the prefix:
/// `lease/<period start>-<listing time of the snapshot replaced>`, both in
/// milliseconds since the epoch (0 when there was none).
pub const LEASE_DIRECTORY: &str = "lease";
/// Re-reads after losing the lease, waiting for the winner's snapshot; the
/// waits double from [`FIRST_FOLLOW_UP`], each at most a quarter of the
/// refresh interval.
const FOLLOW_UPS: u32 = 4;
const FIRST_FOLLOW_UP: Duration = Duration::from_millis(500);

/// Wall time from tokio: the system time when the clock was made plus the
/// time tokio has seen pass since, so that it advances with tokio's paused
/// clock in tests and the simulation.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: SystemTime,
    start: tokio::time::Instant,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::starting_at(SystemTime::now())
    }

    pub fn starting_at(wall: SystemTime) -> Clock {
        Clock {
            wall,
            start: tokio::time::Instant::now(),
        }
    }

    /// The start's wall time, should adding to it overflow.
    pub fn now(&self) -> SystemTime {
        let elapsed = self.start.elapsed();
        self.wall.checked_add(elapsed).unwrap_or(self.wall)
    }
}

/// A whole fleet, listed by EC2.
pub struct Listing {
    pub instances: Vec<Instance>,
    /// `DescribeInstances` calls it took.
    pub calls: u64,
}

/// Why a listing failed, and whether EC2 was throttling.
pub struct ListFailure {
    pub error: SourceError,
    pub throttled: bool,
    /// `DescribeInstances` calls made before it failed.
    pub calls: u64,
}

/// Lists the whole fleet from EC2.
#[async_trait::async_trait]
pub trait Lister: Send + Sync {
    /// What it lists (regions, filters); snapshots of another scope are
    /// refused.
    fn scope(&self) -> Scope;

    /// `MaxResults` of each call.
    fn page_size(&self) -> u32;

    async fn list(&self) -> Result<Listing, ListFailure>;
}

/// Whether the node has an answer to keep while it does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `watch`: a node that does not list keeps its last answer, so the
    /// fallback goes through the gate.
    Daemon,
    /// `resolve`: a node with nothing else lists EC2 itself.
    Boot,
}

/// How a node coordinates.
#[derive(Debug, Clone)]
pub struct Coordination {
    pub refresh: Duration,
    /// A snapshot younger than this is used as it is: the refresh interval
    /// less its jitter.
    pub fresh_for: Duration,
    /// A snapshot older than this no longer serves: the node falls back.
    pub max_age: Duration,
    /// `DescribeInstances` calls per second the whole fleet may spend on
    /// fallback listings.
    pub ec2_budget: f64,
    /// This node's instance id, written into leases and snapshots (see
    /// [`Coordinator::learn_writer`] for one learnt later).
    pub writer: Option<String>,
    pub mode: Mode,
    /// How far ahead of this node's clock a snapshot's listing time may be.
    pub clock_skew: Duration,
    /// The share of the fleet served (0 to 1) a new snapshot may remove
    /// before it needs confirming; `None`: any.
    pub max_shrink: Option<f64>,
    /// Whether this node may take leases and write the snapshot (it also
    /// needs to know its own id: readers take only a snapshot whose writer
    /// is a running instance of its fleet).
    pub write: bool,
}

/// The fleet a refresh came to, and where it came from.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub instances: Arc<[Instance]>,
    pub listed_at: SystemTime,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from the snapshot another node (or this one, earlier) wrote.
    Snapshot { writer: Option<String> },
    /// Listed from EC2 by this node just now.
    Listed,
}

/// What coordination did, for metrics. Clones count into the same
/// counters (the daemon's metrics hold them, across reloads).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Snapshot reads: a new snapshot young enough to use, one unchanged
    /// since the last read (304), one too old, none there, a failure (S3 or
    /// an unusable object).
    pub reads_fresh: Counter,
    pub reads_not_modified: Counter,
    pub reads_stale: Counter,
    pub reads_missing: Counter,
    pub reads_failed: Counter,
    /// Objects read whole but refused: not a snapshot of this fleet, too
    /// large, or from an unknown writer.
    pub reads_unusable: Counter,
    /// Snapshots listed too far ahead of this node's clock.
    pub reads_from_the_future: Counter,
    /// Snapshots held back: they would shrink the fleet served too much.
    pub reads_shrinking: Counter,
    /// Leave markers, by what the lister did with them: instances marked
    /// leaving in a snapshot written, markers skipped (they make no sense),
    /// deleted (their instance is gone), and store requests about them
    /// that failed.
    pub markers_folded: Counter,
    pub markers_skipped: Counter,
    pub markers_deleted: Counter,
    pub markers_failed: Counter,
    pub writes: Counter,
    pub leases_won: Counter,
    pub leases_lost: Counter,
    /// The age of the snapshot last read, in seconds.
    pub snapshot_age: Gauge<f64, AtomicU64>,
}

/// A usable snapshot, as a node's process keeps it.
#[derive(Debug)]
pub struct Remembered {
    pub listed_at: SystemTime,
    pub writer: Option<String>,
    pub instances: Arc<[Instance]>,
}

impl From<Snapshot> for Remembered {
    fn from(snapshot: Snapshot) -> Self {
        Remembered {
            listed_at: snapshot.listed_at,
            writer: snapshot.writer,
            instances: snapshot.instances.into(),
        }
    }
}

/// Decoded snapshots by entity tag, shared by the coordinators of one
/// process. A node has one coordinator, so this saves nothing in service;
/// the fleet simulation runs thousands in one process and would otherwise
/// decode every snapshot once per simulated node.
#[derive(Default)]
pub struct SharedDecoding(std::sync::Mutex<Option<(String, Arc<Remembered>)>>);

/// A usable snapshot as this node knows it: with its entity tag (none for
/// one this node listed itself) and when this node first saw it.
struct Known {
    snapshot: Arc<Remembered>,
    etag: Option<String>,
    seen_at: SystemTime,
}

/// What the node remembers between refreshes.
#[derive(Default)]
struct Memory {
    /// The last usable snapshot.
    snapshot: Option<Known>,
    /// A newer snapshot held back because it would shrink the fleet served
    /// too much, and why.
    held: Option<(Known, String)>,
    /// How many instances the last fleet served had (set by
    /// [`Coordinator::refresh`]): the gate's fleet size, and what a
    /// shrinking snapshot is judged against.
    fleet_size: Option<usize>,
    throttled_in_a_row: u32,
    /// The period of the last draw at the gate: one per period, however
    /// often a failing daemon retries.
    drawn_in: Option<u64>,
    /// The leave markers read so far (a lister's).
    folding: Folding,
}

/// What one read of the snapshot found.
enum Found {
    /// A usable snapshot (new or unchanged).
    Usable,
    /// A new snapshot that would shrink the fleet served too much: held
    /// back until confirmed.
    Shrinking,
    Missing,
    Unusable(Unusable),
    Failed(StoreError),
}

pub struct Coordinator {
    store: Arc<dyn ObjectStore>,
    lister: Arc<dyn Lister>,
    prefix: String,
    settings: Coordination,
    scope: Scope,
    clock: Clock,
    memory: Mutex<Memory>,
    /// This node's instance id, from the settings or learnt later.
    writer: std::sync::OnceLock<String>,
    rng: std::sync::Mutex<fastrand::Rng>,
    decoding: Arc<SharedDecoding>,
    pub tally: Tally,
}

impl Coordinator {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        lister: Arc<dyn Lister>,
        prefix: &str,
        settings: Coordination,
        clock: Clock,
        seed: u64,
    ) -> Coordinator {
        let scope = lister.scope();
        let writer = std::sync::OnceLock::new();
        if let Some(id) = &settings.writer {
            let _ = writer.set(id.clone());
        }
        Coordinator {
            store,
            lister,
            prefix: prefix.trim_matches('/').to_owned(),
            settings,
            scope,
            clock,
            memory: Mutex::new(Memory::default()),
            writer,
            rng: std::sync::Mutex::new(fastrand::Rng::with_seed(seed)),
            decoding: Arc::new(SharedDecoding::default()),
            tally: Tally::default(),
        }
    }

    /// Counts into `tally` (a daemon keeps one across reloads).
    pub fn with_tally(mut self, tally: Tally) -> Coordinator {
        self.tally = tally;
        self
    }

    /// Shares decoded snapshots with other coordinators in this process (the
    /// fleet simulation's thousands of nodes).
    #[cfg(feature = "internals")]
    pub fn sharing_decoding(mut self, decoding: Arc<SharedDecoding>) -> Coordinator {
        self.decoding = decoding;
        self
    }

    /// Where the snapshot lives, for people.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.store.describe(), self.key(SNAPSHOT_OBJECT))
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// The start of the refresh period `now` is in, in milliseconds since
    /// the epoch: periods are the refresh interval, on the wall clock.
    fn period(&self, now: SystemTime) -> u64 {
        let now_ms = millis(since_epoch(now));
        let period_ms = millis(self.settings.refresh).max(1);
        now_ms - now_ms % period_ms
    }

    /// The lease to replace `replacing` (the snapshot in the store, if
    /// usable) in the period `now` is in.
    fn lease_key(&self, now: SystemTime, replacing: Option<SystemTime>) -> String {
        let replaced = replacing.map_or(0, |at| millis(since_epoch(at)));
        self.key(&format!(
            "{LEASE_DIRECTORY}/{}-{replaced}",
            self.period(now)
        ))
    }

    /// This node's instance id, if known.
    pub fn writer(&self) -> Option<&str> {
        self.writer.get().map(String::as_str)
    }

    /// Learns this node's instance id (from IMDS, say), if it had none.
    pub fn learn_writer(&self, id: String) {
        let _ = self.writer.set(id);
    }

    /// Whether this node takes leases and writes the snapshot.
    fn writes(&self) -> bool {
        self.settings.write && self.writer().is_some()
    }

    /// One refresh: the fleet, or why there is none to give this time.
    /// The fleet served is what the gate sizes the fleet by and what a
    /// shrinking snapshot is judged against.
    pub async fn refresh(&self) -> Result<Fleet, SourceError> {
        let mut memory = self.memory.lock().await;
        let fleet = self.refresh_remembering(&mut memory).await?;
        memory.fleet_size = Some(fleet.instances.len());
        Ok(fleet)
    }

    /// [`Coordinator::refresh`], the node's memory held.
    async fn refresh_remembering(&self, memory: &mut Memory) -> Result<Fleet, SourceError> {
        let found = self.read(memory).await;
        if let Found::Shrinking = found {
            return self.confirm_shrink(memory).await;
        }
        // At boot, a node whose store fails lists as it would without one,
        // rather than serve its own earlier listing again.
        let boot_without_store =
            self.settings.mode == Mode::Boot && matches!(found, Found::Failed(_));
        if !boot_without_store
            && let Some(fleet) = self.snapshot_younger_than(memory, self.settings.fresh_for)
        {
            return Ok(fleet);
        }
        // The snapshot in the store, if usable: what a lease replaces.
        let replacing = match &found {
            Found::Usable => memory
                .snapshot
                .as_ref()
                .map(|known| known.snapshot.listed_at),
            _ => None,
        };
        let mut s3_failure = match found {
            Found::Failed(err) => Some(err),
            Found::Unusable(why) => {
                tracing::warn!(snapshot = %self.describe(), %why, "The snapshot cannot be used; refreshing it.");
                None
            }
            Found::Usable | Found::Missing | Found::Shrinking => None,
        };
        if s3_failure.is_none() && self.writes() {
            match self.take_lease(replacing).await {
                Ok(true) => {
                    let listed = self.list(memory, true).await;
                    return listed.or_else(|err| {
                        tracing::warn!(error = %err, "Listing EC2 for the fleet failed.");
                        // An older snapshot may still serve.
                        self.snapshot_younger_than(memory, self.settings.max_age)
                            .ok_or_else(|| {
                                err.context(
                                    "this node took the refresh lease, but listing EC2 failed",
                                )
                            })
                    });
                }
                Ok(false) => {
                    if let Some(fleet) = self.wait_for_winner(memory).await {
                        return Ok(fleet);
                    }
                }
                Err(err) => s3_failure = Some(err),
            }
        } else if s3_failure.is_none()
            && let Some(fleet) = self.wait_for_winner(memory).await
        {
            return Ok(fleet);
        }
        if !boot_without_store
            && let Some(fleet) = self.snapshot_younger_than(memory, self.settings.max_age)
        {
            return Ok(fleet);
        }
        self.fall_back(memory, s3_failure).await
    }

    /// Reads the snapshot (conditionally on the one remembered) and
    /// remembers it if it is usable.
    async fn read(&self, memory: &mut Memory) -> Found {
        let etag = memory
            .snapshot
            .as_ref()
            .and_then(|known| known.etag.clone());
        let read = self
            .store
            .get(&self.key(SNAPSHOT_OBJECT), etag.as_deref())
            .await;
        let (body, etag) = match read {
            Err(err) => {
                self.tally.reads_failed.inc();
                return Found::Failed(err);
            }
            Ok(Read::Missing) => {
                self.tally.reads_missing.inc();
                return Found::Missing;
            }
            Ok(Read::Oversized { limit }) => {
                self.tally.reads_unusable.inc();
                return Found::Unusable(Unusable::TooLarge { limit });
            }
            Ok(Read::NotModified) => {
                self.tally.reads_not_modified.inc();
                self.note_age(memory);
                return Found::Usable;
            }
            Ok(Read::Found { body, etag }) => (body, etag),
        };
        let now = self.clock.now();
        let seen_at = match (&memory.held, &memory.snapshot) {
            (Some((held, _)), _) if held.etag.as_deref() == Some(etag.as_str()) => held.seen_at,
            (_, Some(known)) if known.etag.as_deref() == Some(etag.as_str()) => known.seen_at,
            _ => now,
        };
        let snapshot = match self.decode(&body, &etag).and_then(|snapshot| {
            self.check_clock(&snapshot, now)?;
            Ok(snapshot)
        }) {
            Ok(snapshot) => snapshot,
            Err(why) => {
                match why {
                    Unusable::FromTheFuture { .. } => self.tally.reads_from_the_future.inc(),
                    _ => self.tally.reads_unusable.inc(),
                };
                return Found::Unusable(why);
            }
        };
        let known = Known {
            snapshot,
            etag: Some(etag),
            seen_at,
        };
        if let Some(why) = self.shrinks(memory, &known) {
            self.tally.reads_shrinking.inc();
            memory.held = Some((known, why));
            return Found::Shrinking;
        }
        memory.held = None;
        memory.snapshot = Some(known);
        if self.note_age(memory) < self.settings.fresh_for {
            self.tally.reads_fresh.inc();
        } else {
            self.tally.reads_stale.inc();
        }
        Found::Usable
    }

    /// Sets the age gauge to the remembered snapshot's age, and gives it.
    fn note_age(&self, memory: &Memory) -> Duration {
        let age = memory
            .snapshot
            .as_ref()
            .map_or(Duration::ZERO, |known| self.age(known));
        self.tally.snapshot_age.set(age.as_secs_f64());
        age
    }

    /// Refuses a snapshot listed further ahead of this node's clock than
    /// the skew allowed.
    fn check_clock(&self, snapshot: &Remembered, now: SystemTime) -> Result<(), Unusable> {
        match snapshot.listed_at.duration_since(now) {
            Ok(ahead) if ahead > self.settings.clock_skew => Err(Unusable::FromTheFuture {
                ahead,
                allowed: self.settings.clock_skew,
            }),
            _ => Ok(()),
        }
    }

    /// Why `known` may not replace the fleet served without confirmation,
    /// if it may not: it lists fewer than `1 - max_shrink` of the instances
    /// last served. A held snapshot that a newer one agrees with is
    /// confirmed: two listings saw the fleet shrink.
    fn shrinks(&self, memory: &Memory, known: &Known) -> Option<String> {
        let max_shrink = self.settings.max_shrink?;
        let served = memory.fleet_size?;
        let size = known.snapshot.instances.len();
        let least = (served as f64 * (1.0 - max_shrink)).ceil();
        if size as f64 >= least {
            return None;
        }
        if let Some((held, _)) = &memory.held
            && held.etag != known.etag
            && held.snapshot.listed_at < known.snapshot.listed_at
        {
            tracing::info!(
                instances = size,
                served,
                "A second snapshot confirms the fleet shrank."
            );
            return None;
        }
        Some(format!(
            "the snapshot {} lists {size} instances where {served} were served (more than {:.0}% \
             fewer); it serves once this node's own listing or the next snapshot confirms it",
            self.describe(),
            max_shrink * 100.0
        ))
    }

    /// A shrinking snapshot is held back: this node lists EC2 itself, if the
    /// gate lets it, and serves (and shares) what it finds; otherwise it
    /// says why the fleet it served is kept.
    async fn confirm_shrink(&self, memory: &mut Memory) -> Result<Fleet, SourceError> {
        let why = memory
            .held
            .as_ref()
            .map(|(_, why)| why.clone())
            .unwrap_or_default();
        tracing::warn!(snapshot = %self.describe(), %why, "A snapshot would shrink the fleet.");
        match self.gate(memory) {
            Gate::Open(chance) => {
                tracing::info!(chance, "Listing EC2 to confirm a shrinking snapshot.");
                let listed = self.list(memory, self.writes()).await;
                memory.held = None;
                listed.map_err(|err| err.context(format_args!("{why}; listing EC2 failed")))
            }
            Gate::Closed(_) => Err(SourceError::Unavailable(why)),
        }
    }

    fn decode(&self, body: &[u8], etag: &str) -> Result<Arc<Remembered>, Unusable> {
        let mut shared = self
            .decoding
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((known, snapshot)) = shared.as_ref()
            && known == etag
        {
            return Ok(Arc::clone(snapshot));
        }
        let snapshot = Arc::new(Remembered::from(Snapshot::decode(body, &self.scope)?));
        *shared = Some((etag.to_owned(), Arc::clone(&snapshot)));
        Ok(snapshot)
    }

    /// How old `known` is on this node's clock: since its listing time, and
    /// never less than since this node first saw it.
    fn age(&self, known: &Known) -> Duration {
        let now = self.clock.now();
        let since = |at: SystemTime| now.duration_since(at).unwrap_or_default();
        since(known.snapshot.listed_at).max(since(known.seen_at))
    }

    /// The remembered snapshot as a fleet, if it is younger than `limit`.
    fn snapshot_younger_than(&self, memory: &Memory, limit: Duration) -> Option<Fleet> {
        let known = memory.snapshot.as_ref()?;
        if self.age(known) >= limit {
            return None;
        }
        let snapshot = &known.snapshot;
        Some(Fleet {
            instances: Arc::clone(&snapshot.instances),
            listed_at: snapshot.listed_at,
            origin: Origin::Snapshot {
                writer: snapshot.writer.clone(),
            },
        })
    }

    /// Tries to become this period's refresher; `Ok(false)` when another
    /// node already is. A lease counts as won only when the store, read
    /// back, holds this node's own (a store that says yes to every write
    /// would otherwise make every node the lister).
    async fn take_lease(&self, replacing: Option<SystemTime>) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let nonce = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .u64(..);
        let lease = serde_json::json!({
            "writer": self.writer(),
            "at_ms": millis(since_epoch(now)),
            "nonce": nonce,
        });
        let body = lease.to_string().into_bytes();
        let key = self.lease_key(now, replacing);
        let won = match self.store.put(&key, body.clone(), true).await? {
            Written::Stored => match self.store.get(&key, None).await {
                Ok(Read::Found { body: stored, .. }) if stored[..] == body[..] => true,
                read => {
                    let found = match read {
                        Ok(Read::Found { body, .. }) => crate::inventory::printable(
                            &String::from_utf8_lossy(&body[..body.len().min(200)]),
                            60,
                        ),
                        Ok(other) => format!("{other:?}"),
                        Err(err) => err.to_string(),
                    };
                    tracing::warn!(lease = %key, %found, "The store took the lease but does not give it back; not listing for the fleet.");
                    false
                }
            },
            Written::AlreadyThere => false,
        };
        if won {
            self.tally.leases_won.inc();
        } else {
            self.tally.leases_lost.inc();
        }
        Ok(won)
    }

    /// Reads again, a few times, until the lease's winner has written a
    /// fresh snapshot.
    async fn wait_for_winner(&self, memory: &mut Memory) -> Option<Fleet> {
        let mut wait = FIRST_FOLLOW_UP.min(self.settings.refresh / 4);
        for _ in 0..FOLLOW_UPS {
            tokio::time::sleep(wait).await;
            match self.read(memory).await {
                Found::Failed(_) | Found::Shrinking => return None,
                Found::Usable | Found::Missing | Found::Unusable(_) => {}
            }
            if let Some(fleet) = self.snapshot_younger_than(memory, self.settings.fresh_for) {
                return Some(fleet);
            }
            wait = wait.saturating_mul(2).min(self.settings.refresh / 4);
        }
        None
    }

    /// Lists EC2, and (when `share`) writes the snapshot for everyone.
    async fn list(&self, memory: &mut Memory, share: bool) -> Result<Fleet, SourceError> {
        let listing = match self.lister.list().await {
            Ok(listing) => listing,
            Err(failure) => {
                if failure.throttled {
                    memory.throttled_in_a_row = memory.throttled_in_a_row.saturating_add(1);
                }
                tracing::debug!(
                    calls = failure.calls,
                    throttled = failure.throttled,
                    "Listing EC2 failed."
                );
                return Err(failure.error);
            }
        };
        tracing::debug!(
            calls = listing.calls,
            instances = listing.instances.len(),
            "Listed EC2."
        );
        memory.throttled_in_a_row = 0;
        // Whole milliseconds, as the snapshot stores it: the writer and its
        // readers then name the same moment.
        let now = self.clock.now();
        let listed_at = UNIX_EPOCH
            .checked_add(Duration::from_millis(millis(since_epoch(now))))
            .unwrap_or(now);
        let share = share && self.writes();
        let mut instances = listing.instances;
        // The markers go into the snapshot for everyone: only a node that
        // writes it reads them.
        let markers_deadline = self.settings.refresh / 4;
        let leftovers = if share {
            Some(
                memory
                    .folding
                    .fold(
                        self.store.as_ref(),
                        &self.prefix,
                        &mut instances,
                        markers_deadline,
                        &self.tally,
                    )
                    .await,
            )
        } else {
            None
        };
        let snapshot = Snapshot {
            scope: self.scope.clone(),
            listed_at,
            writer: self.writer().map(str::to_owned),
            instances,
        };
        if share {
            self.share(&snapshot).await;
        }
        if let Some(leftovers) = leftovers {
            leftovers
                .delete(self.store.as_ref(), markers_deadline, &self.tally)
                .await;
        }
        let snapshot = Arc::new(Remembered::from(snapshot));
        let fleet = Fleet {
            instances: Arc::clone(&snapshot.instances),
            listed_at: snapshot.listed_at,
            origin: Origin::Listed,
        };
        // Remembered without an entity tag: the next read fetches whatever
        // is stored, this node's write or a later one.
        memory.snapshot = Some(Known {
            snapshot,
            etag: None,
            seen_at: now,
        });
        memory.held = None;
        Ok(fleet)
    }

    /// Writes `snapshot` for the fleet; a failure is logged, and the fleet
    /// lists again next period.
    async fn share(&self, snapshot: &Snapshot) {
        let written = match snapshot.encode() {
            Ok(object) => self
                .store
                .put(&self.key(SNAPSHOT_OBJECT), object, false)
                .await
                .map_err(|err| err.to_string()),
            Err(why) => Err(format!("cannot encode it: {why}")),
        };
        match written {
            Ok(_) => {
                self.tally.writes.inc();
            }
            Err(error) => {
                tracing::warn!(snapshot = %self.describe(), %error, "Cannot write the snapshot; the fleet lists EC2 again next period.");
            }
        }
    }

    /// Whether this node may list EC2 now, outside a lease it won, and with
    /// what chance it was let: at boot always; in a daemon one draw per
    /// period, with the chance that keeps the whole fleet within its
    /// budget (1 for a node that has seen no fleet yet).
    fn gate(&self, memory: &mut Memory) -> Gate {
        let chance = match self.settings.mode {
            Mode::Boot => return Gate::Open(1.0),
            Mode::Daemon => {
                let period = self.period(self.clock.now());
                if memory.drawn_in == Some(period) {
                    return Gate::Closed(0.0);
                }
                memory.drawn_in = Some(period);
                let nodes = memory.fleet_size;
                // A listing's calls: EC2's pages, and Auto Scaling's
                // batches for the groups the fleet last served is in.
                let auto_scaling = memory.snapshot.as_ref().map_or(0, |known| {
                    crate::inventory::auto_scaling_calls_per_listing(&known.snapshot.instances)
                });
                let pages = pages(
                    nodes.unwrap_or(0),
                    self.lister.page_size(),
                    self.scope.regions.len(),
                ) + auto_scaling;
                listing_chance(
                    self.settings.ec2_budget,
                    self.settings.refresh,
                    nodes,
                    pages,
                    memory.throttled_in_a_row,
                )
            }
        };
        let draw = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .f64();
        if draw < chance {
            Gate::Open(chance)
        } else {
            Gate::Closed(chance)
        }
    }

    /// No snapshot serves: list EC2 behind the gate, or say why not.
    async fn fall_back(
        &self,
        memory: &mut Memory,
        s3_failure: Option<StoreError>,
    ) -> Result<Fleet, SourceError> {
        let why = match &s3_failure {
            Some(err) => format!("the snapshot {} cannot be read: {err}", self.describe()),
            None => format!(
                "no snapshot at {} younger than {:?}",
                self.describe(),
                self.settings.max_age
            ),
        };
        match self.gate(memory) {
            Gate::Open(chance) => {
                tracing::info!(%why, chance, "Listing EC2 directly.");
                self.list(memory, s3_failure.is_none())
                    .await
                    .map_err(|err| err.context(format_args!("{why}; listing EC2 failed")))
            }
            Gate::Closed(chance) => Err(SourceError::Unavailable(format!(
                "{why}; EC2 is left to other nodes this time (this node lists with chance \
                 {chance:.4}, to keep the fleet within {} calls/s)",
                self.settings.ec2_budget
            ))),
        }
    }
}

/// What the gate said, and the chance it drew against.
enum Gate {
    Open(f64),
    Closed(f64),
}

fn since_epoch(at: SystemTime) -> Duration {
    at.duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod marker_tests;
