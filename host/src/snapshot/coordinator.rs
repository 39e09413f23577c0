//! One refresh of a node that shares its fleet's listing through a
//! snapshot: read the snapshot; use it if it is fresh (younger than the
//! refresh interval less its jitter); else take the lease to replace it, and
//! if it is ours, list EC2 and write the snapshot for everyone; if another
//! node has the lease, read again shortly after. When no snapshot serves (S3
//! down, nothing written for `max_age`), list EC2 behind the fleet-wide gate
//! (one draw per node per period), or keep the last answer.
//!
//! The snapshot is format 2 ([`super::head`], [`super::shard`]): a node
//! reads the head conditionally (a 304 when nothing changed) and fetches
//! only the shards it lacks ([`super::fetch`]); a writer writes the changed
//! shards and swaps the head ([`super::publish`]) and sweeps old shards
//! ([`super::sweep`]). Format 1 (`snapshot.zst`) is read when the head is
//! missing or stale, so a fleet mid-upgrade keeps one listing per period:
//! a node that sees a format-1 object from an older writer says so and
//! writes format 1 too for [`COMPAT_PERIODS`] periods after.
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

use super::fetch::{Assembled, Decoded, FetchFailure, fetch_fleet};
use super::fold::Folding;
use super::format::{MAX_SNAPSHOT_BYTES, Scope, Snapshot, Unusable};
use super::gate::{busiest_part_calls, listing_chance};
use super::head::{Head, MAX_HEAD_BYTES, head_key};
use super::publish::{Draft, Published, Replacing, publish};
use super::store::{Condition, ObjectStore, Read, StoreError, Written};
use super::sweep::Retired;
use crate::inventory::{Instance, PartFailure, PartKey, PartialListing, SourceError, StalePart};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// Format 1's object name under the prefix.
pub const SNAPSHOT_OBJECT: &str = "snapshot.zst";
/// After a node last saw a format-1 object from an older writer, it writes
/// format 1 beside format 2 for this many refresh periods.
pub const COMPAT_PERIODS: u32 = 10;
/// Tries to swap the head, when other writers keep winning.
const HEAD_SWAPS: u32 = 3;
/// The largest lease object read.
const MAX_LEASE_BYTES: u64 = 4 << 10;
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

/// A fleet listed by EC2: every account-region, or all but those that
/// failed.
pub struct Listing {
    pub instances: Vec<Instance>,
    /// `DescribeInstances` calls it took.
    pub calls: u64,
    /// The account-regions that could not be listed: their instances are
    /// taken from the fleet this node holds, marked stale.
    pub failed: Vec<PartFailure>,
}

impl Listing {
    /// A listing of every part.
    #[cfg_attr(not(any(test, feature = "internals")), allow(dead_code))]
    pub fn whole(instances: Vec<Instance>, calls: u64) -> Listing {
        Listing {
            instances,
            calls,
            failed: Vec::new(),
        }
    }
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

    /// The account-regions a listing covers, each with a budget of its
    /// own: by default, the scope's regions in this node's own account.
    fn parts(&self) -> Vec<PartKey> {
        self.scope()
            .regions
            .iter()
            .map(|region| PartKey::new(None, region))
            .collect()
    }

    /// Told before a listing of the parts the fleet this node holds marks
    /// stale (its listing had asked every part due by `listed`): another
    /// node found them failing.
    /// A lister that waits before asking a failing part again waits for
    /// these too, so the fleet backs off as one node would, whichever node
    /// lists. By default, nothing.
    fn recall_stale(&self, _stale: &[StalePart], _listed: SystemTime, _now: SystemTime) {}

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
    /// fallback listings, in each account-region.
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
    /// When EC2 was last listed whole for it.
    pub listed_at: SystemTime,
    /// When it last changed in the store: the listing, or an event since.
    pub updated_at: SystemTime,
    pub origin: Origin,
    /// Account-regions its lister could not list: their instances are the
    /// ones last listed.
    pub stale_parts: Vec<StalePart>,
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
    /// Bytes of bodies read: format 2's heads and shards, format 1's
    /// objects.
    pub head_bytes: Counter,
    pub shard_bytes: Counter,
    pub legacy_bytes: Counter,
    /// Heads this node wrote, and swaps it lost to another writer.
    pub writes: Counter,
    pub writes_lost: Counter,
    /// Shards fetched (a reader's), written, and deleted by sweeps.
    pub shards_fetched: Counter,
    pub shards_written: Counter,
    pub shards_swept: Counter,
    pub leases_won: Counter,
    pub leases_lost: Counter,
    /// The age of the snapshot last read, in seconds.
    pub snapshot_age: Gauge<f64, AtomicU64>,
    /// How long the last change taken had been written when this node
    /// took it (its answer is decided and published next), in seconds.
    pub change_age: Gauge<f64, AtomicU64>,
    /// Events from the queue, by kind and outcome ([`super::follow`]).
    pub events: prometheus_client::metrics::family::Family<super::follow::EventLabels, Counter>,
    /// From the oldest event of the last head written for events to that
    /// head, in seconds.
    pub event_lag: Gauge<f64, AtomicU64>,
}

/// A usable snapshot, as a node's process keeps it.
#[derive(Debug)]
pub struct Remembered {
    pub listed_at: SystemTime,
    pub updated_at: SystemTime,
    pub writer: Option<String>,
    pub instances: Arc<[Instance]>,
    /// Format 1 from a writer that writes only format 1.
    pub from_older_writer: bool,
    /// Account-regions its writer could not list (format 2 only).
    pub stale_parts: Vec<StalePart>,
}

impl From<Snapshot> for Remembered {
    fn from(snapshot: Snapshot) -> Self {
        Remembered {
            listed_at: snapshot.listed_at,
            updated_at: snapshot.listed_at,
            writer: snapshot.writer,
            instances: snapshot.instances.into(),
            from_older_writer: !snapshot.sharded,
            stale_parts: Vec::new(),
        }
    }
}

impl From<&Assembled> for Remembered {
    fn from(assembled: &Assembled) -> Self {
        Remembered {
            listed_at: assembled.head.listed_at,
            updated_at: assembled.head.updated_at,
            writer: assembled.head.writer.clone(),
            instances: Arc::clone(&assembled.instances),
            from_older_writer: false,
            stale_parts: assembled.head.stale.clone(),
        }
    }
}

/// Decoded snapshots by entity tag, and decoded shards by name, shared by
/// the coordinators of one process. A node has one coordinator, so this
/// saves nothing in service; the fleet simulation runs thousands in one
/// process and would otherwise decode every snapshot once per simulated
/// node.
#[derive(Default)]
pub struct SharedDecoding {
    legacy: std::sync::Mutex<Option<(String, Arc<Remembered>)>>,
    heads: Decoded,
}

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
    /// Format 2: the last head this node took or wrote, with its entity
    /// tag when known.
    assembled: Option<(Option<String>, Arc<Assembled>)>,
    /// The head object last read, usable or not, and its revision: what a
    /// write swaps.
    head_seen: (Replacing, u64),
    /// Format 1's entity tag last read.
    legacy_etag: Option<String>,
    /// Until when this node writes format 1 too.
    compat_until: Option<SystemTime>,
    /// A head's shard was missing or wrong: the next write writes them all.
    rewrite_all: bool,
    retired: Retired,
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
    /// The lister's account-regions.
    parts: Vec<PartKey>,
    clock: Clock,
    memory: Mutex<Memory>,
    /// This node's instance id, from the settings or learnt later.
    writer: std::sync::OnceLock<String>,
    rng: std::sync::Mutex<fastrand::Rng>,
    decoding: Arc<SharedDecoding>,
    /// Counts this node's listings for the fleet (leases won and listed).
    listings: tokio::sync::watch::Sender<u64>,
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
        let parts = lister.parts();
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
            parts,
            clock,
            memory: Mutex::new(Memory::default()),
            writer,
            rng: std::sync::Mutex::new(fastrand::Rng::with_seed(seed)),
            decoding: Arc::new(SharedDecoding::default()),
            listings: tokio::sync::watch::Sender::new(0),
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
        format!("{}/{}", self.store.describe(), head_key(&self.prefix))
    }

    /// Format 1's object, for people.
    fn describe_legacy(&self) -> String {
        format!("{}/{}", self.store.describe(), self.key(SNAPSHOT_OBJECT))
    }

    /// Notes for sweeps that this node saw `head` at `now`, after
    /// `previous`.
    fn saw_head(&self, memory: &mut Memory, previous: Option<&Head>, head: &Head, now: SystemTime) {
        let (gap, keep) = (self.watch_gap(), self.sweep_after() * 2);
        memory.retired.saw(previous, head, now, gap, keep);
    }

    /// The longest gap between two looks at the head that still counts as
    /// watching it (for sweeps): two refresh intervals.
    fn watch_gap(&self) -> Duration {
        self.settings.refresh.saturating_mul(2)
    }

    /// How long a shard stays after the last head naming it was replaced:
    /// as long as a snapshot serves.
    fn sweep_after(&self) -> Duration {
        self.settings.max_age.max(self.settings.refresh)
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

    /// Where the snapshot is kept.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
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
                    if listed.is_ok() {
                        self.listings.send_modify(|count| *count += 1);
                    }
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

    /// Reads the snapshot and remembers it if it is usable: the head
    /// (format 2), and format 1 too when the head does not serve fresh.
    async fn read(&self, memory: &mut Memory) -> Found {
        let head = self.read_head(memory).await;
        match head {
            Found::Failed(_) | Found::Shrinking => return head,
            Found::Usable if self.note_age(memory) < self.settings.fresh_for => return head,
            Found::Usable | Found::Missing | Found::Unusable(_) => {}
        }
        // The head is missing, unusable or stale: an older writer may have
        // listed since.
        match (head, self.read_legacy(memory).await) {
            (_, Found::Usable) | (Found::Usable, _) => Found::Usable,
            (_, Found::Shrinking) => Found::Shrinking,
            (Found::Missing, legacy) => legacy,
            (head, _) => head,
        }
    }

    /// Reads the head (conditionally on the one taken) and, when it is
    /// new, the shards this node lacks.
    async fn read_head(&self, memory: &mut Memory) -> Found {
        let held_etag = memory.assembled.as_ref().and_then(|(etag, _)| etag.clone());
        let read = self
            .store
            .get_within(
                &head_key(&self.prefix),
                held_etag.as_deref(),
                MAX_HEAD_BYTES,
            )
            .await;
        let now = self.clock.now();
        let (body, etag) = match read {
            Err(err) => {
                self.tally.reads_failed.inc();
                return Found::Failed(err);
            }
            Ok(Read::Missing) => {
                memory.head_seen = (Replacing::Nothing, 0);
                return Found::Missing;
            }
            Ok(Read::Oversized { limit }) => {
                memory.head_seen = (Replacing::Unknown, 0);
                self.tally.reads_unusable.inc();
                return Found::Unusable(Unusable::TooLarge { limit });
            }
            Ok(Read::NotModified) => {
                self.tally.reads_not_modified.inc();
                if let Some((_, assembled)) = memory.assembled.clone() {
                    let head = &assembled.head;
                    self.saw_head(memory, Some(head), head, now);
                }
                self.note_age(memory);
                return Found::Usable;
            }
            Ok(Read::Found { body, etag }) => (body, etag),
        };
        self.tally.head_bytes.inc_by(body.len() as u64);
        let head = match Head::decode(&body, &self.scope) {
            Ok(head) => head,
            Err(why) => {
                memory.head_seen = (Replacing::Head(etag), 0);
                self.tally.reads_unusable.inc();
                return Found::Unusable(why);
            }
        };
        memory.head_seen = (Replacing::Head(etag.clone()), head.revision);
        if let Err(why) = self
            .check_clock(head.listed_at, now)
            .and_then(|()| self.check_clock(head.updated_at, now))
        {
            self.tally.reads_from_the_future.inc();
            return Found::Unusable(why);
        }
        let assembled = match self.fetch_head_fleet(memory, head, &etag).await {
            Ok(assembled) => {
                self.decoding.heads.keep_head(&etag, &assembled);
                assembled
            }
            Err(found) => return found,
        };
        let previous = memory.assembled.as_ref().map(|(_, held)| Arc::clone(held));
        let previous_head = previous.as_ref().map(|held| &held.head);
        self.saw_head(memory, previous_head, &assembled.head, now);
        memory.assembled = Some((Some(etag.clone()), Arc::clone(&assembled)));
        let snapshot = Arc::new(Remembered::from(&*assembled));
        self.take(memory, snapshot, etag, now)
    }

    /// The fleet of a new head: its shards, those this node lacks fetched.
    async fn fetch_head_fleet(
        &self,
        memory: &mut Memory,
        head: Head,
        etag: &str,
    ) -> Result<Arc<Assembled>, Found> {
        let held = memory.assembled.as_ref().map(|(_, held)| &**held);
        let deadline = (self.settings.refresh / 2).max(Duration::from_secs(1));
        let (fetched, counted) = fetch_fleet(
            self.store.as_ref(),
            &self.prefix,
            head,
            Some(etag),
            held,
            &self.decoding.heads,
            deadline,
            MAX_SNAPSHOT_BYTES,
        )
        .await;
        self.tally.shard_bytes.inc_by(counted.bytes);
        self.tally.shards_fetched.inc_by(counted.shards);
        match fetched {
            Ok(assembled) => Ok(assembled),
            Err(FetchFailure::Store(err)) => {
                self.tally.reads_failed.inc();
                Err(Found::Failed(err))
            }
            Err(FetchFailure::Unusable(why)) => {
                self.tally.reads_unusable.inc();
                memory.rewrite_all = true;
                Err(Found::Unusable(why))
            }
        }
    }

    /// Takes a usable snapshot read as object `etag`, unless it shrinks the
    /// fleet served too much (then it is held back).
    fn take(
        &self,
        memory: &mut Memory,
        snapshot: Arc<Remembered>,
        etag: String,
        now: SystemTime,
    ) -> Found {
        let seen_at = match (&memory.held, &memory.snapshot) {
            (Some((held, _)), _) if held.etag.as_deref() == Some(etag.as_str()) => held.seen_at,
            (_, Some(known)) if known.etag.as_deref() == Some(etag.as_str()) => known.seen_at,
            _ => now,
        };
        if seen_at == now {
            let age = now.duration_since(snapshot.updated_at).unwrap_or_default();
            self.tally.change_age.set(age.as_secs_f64());
        }
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

    /// Reads format 1's object (conditionally on the one last read), and
    /// takes it if it was listed after the snapshot this node holds.
    async fn read_legacy(&self, memory: &mut Memory) -> Found {
        let read = self
            .store
            .get(&self.key(SNAPSHOT_OBJECT), memory.legacy_etag.as_deref())
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
            // Taken when it was read, if it was newer.
            Ok(Read::NotModified) => {
                self.tally.reads_not_modified.inc();
                self.note_age(memory);
                return Found::Usable;
            }
            Ok(Read::Found { body, etag }) => (body, etag),
        };
        self.tally.legacy_bytes.inc_by(body.len() as u64);
        memory.legacy_etag = Some(etag.clone());
        let now = self.clock.now();
        let snapshot = match self.decode(&body, &etag).and_then(|snapshot| {
            self.check_clock(snapshot.listed_at, now)?;
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
        let newer = memory
            .snapshot
            .as_ref()
            .is_none_or(|known| known.snapshot.listed_at < snapshot.listed_at);
        if !newer {
            return Found::Usable;
        }
        if snapshot.from_older_writer {
            if memory.compat_until.is_none_or(|until| until <= now) {
                tracing::info!(
                    snapshot = %self.describe_legacy(),
                    writer = snapshot.writer.as_deref().unwrap_or("unknown"),
                    "A format-1 snapshot from an older rollcall is in use; this node writes format 1 \
                     beside format 2 until the older writers are gone."
                );
            }
            let window = self.settings.refresh.saturating_mul(COMPAT_PERIODS);
            memory.compat_until = now.checked_add(window);
        }
        self.take(memory, snapshot, etag, now)
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
    fn check_clock(&self, at: SystemTime, now: SystemTime) -> Result<(), Unusable> {
        match at.duration_since(now) {
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
            .legacy
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
            updated_at: snapshot.updated_at,
            stale_parts: snapshot.stale_parts.clone(),
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
        // Looked at first: a read costs a twelfth of a write, and all but
        // one of the nodes that find the snapshot stale find the lease
        // taken.
        if let Read::Found { .. } | Read::Oversized { .. } =
            self.store.get_within(&key, None, MAX_LEASE_BYTES).await?
        {
            self.tally.leases_lost.inc();
            return Ok(false);
        }
        let won = match self
            .store
            .put(&key, body.clone(), Condition::IfAbsent)
            .await?
        {
            Written::Stored { .. } => match self.store.get(&key, None).await {
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
            Written::Refused => false,
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
        // A part whose wait ended while the last listing ran was not asked
        // by it: that listing is taken to have asked as of half a period
        // before its listing time (a listing takes less).
        if let Some(known) = &memory.snapshot {
            let held = &known.snapshot;
            let asked = held
                .listed_at
                .checked_sub(self.settings.refresh / 2)
                .unwrap_or(held.listed_at);
            self.lister
                .recall_stale(&held.stale_parts, asked, self.clock.now());
        }
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
        let held = memory.snapshot.as_ref().map(|known| {
            (
                &known.snapshot.instances[..],
                &known.snapshot.stale_parts[..],
            )
        });
        let partial = PartialListing {
            instances: listing.instances,
            failed: listing.failed,
        };
        let (instances, stale_parts) = crate::inventory::patch_parts(partial, held)?;
        // Whole milliseconds, as the snapshot stores it: the writer and its
        // readers then name the same moment.
        let now = self.clock.now();
        let listed_at = UNIX_EPOCH
            .checked_add(Duration::from_millis(millis(since_epoch(now))))
            .unwrap_or(now);
        let share = share && self.writes();
        let mut instances = instances;
        // Every node serves the fleet in one order, id order, whoever listed.
        instances.sort_unstable_by(|a, b| a.id.cmp(&b.id));
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
        let (snapshot, etag) = if share {
            self.share(memory, instances, stale_parts, listed_at, listed_at)
                .await
        } else {
            let snapshot = Remembered {
                listed_at,
                updated_at: listed_at,
                writer: self.writer().map(str::to_owned),
                instances: instances.into(),
                from_older_writer: false,
                stale_parts,
            };
            (Arc::new(snapshot), None)
        };
        if let Some(leftovers) = leftovers {
            leftovers
                .delete(self.store.as_ref(), markers_deadline, &self.tally)
                .await;
        }
        let fleet = Fleet {
            instances: Arc::clone(&snapshot.instances),
            listed_at: snapshot.listed_at,
            updated_at: snapshot.updated_at,
            origin: Origin::Listed,
            stale_parts: snapshot.stale_parts.clone(),
        };
        // Remembered with the head's entity tag when this node wrote it (the
        // next read is a 304 unless another writer came since); without,
        // the next read fetches whatever is stored.
        memory.snapshot = Some(Known {
            snapshot,
            etag,
            seen_at: now,
        });
        memory.held = None;
        Ok(fleet)
    }

    /// Writes `instances` for the fleet as the state listed at `listed_at`
    /// and changed at `updated_at` (format 1 too while older writers are
    /// about), and gives the fleet as readers will see it, with the head's
    /// entity tag when it was written. A failure is logged; the fleet
    /// lists EC2 again next period.
    async fn share(
        &self,
        memory: &mut Memory,
        instances: Vec<Instance>,
        stale_parts: Vec<StalePart>,
        listed_at: SystemTime,
        updated_at: SystemTime,
    ) -> (Arc<Remembered>, Option<String>) {
        match self
            .share_within(
                memory,
                instances,
                stale_parts,
                listed_at,
                updated_at,
                HEAD_SWAPS,
            )
            .await
        {
            Shared::Written(snapshot, etag) => (snapshot, etag),
            Shared::Lost(snapshot) | Shared::Failed(snapshot) => (snapshot, None),
        }
    }

    /// [`Coordinator::share`], trying `swaps` times to swap the head.
    async fn share_within(
        &self,
        memory: &mut Memory,
        instances: Vec<Instance>,
        stale_parts: Vec<StalePart>,
        listed_at: SystemTime,
        updated_at: SystemTime,
        swaps: u32,
    ) -> Shared {
        let writer = self.writer().map(str::to_owned);
        let now = self.clock.now();
        if memory.compat_until.is_some_and(|until| now < until) {
            self.share_legacy(&instances, listed_at, writer.clone())
                .await;
        }
        let deadline = (self.settings.refresh / 2).max(Duration::from_secs(1));
        let mut lost = false;
        for _ in 0..swaps {
            let base = match (&memory.assembled, memory.rewrite_all) {
                (Some((_, assembled)), false) => Some(Arc::clone(assembled)),
                _ => None,
            };
            let (replaces, revision) = memory.head_seen.clone();
            let draft = Draft {
                head: Head {
                    scope: self.scope.clone(),
                    listed_at,
                    updated_at,
                    writer: writer.clone(),
                    revision: revision.saturating_add(1),
                    instances: instances.len(),
                    shards: Vec::new(),
                    stale: stale_parts.clone(),
                },
                replaces,
            };
            let published = publish(
                self.store.as_ref(),
                &self.prefix,
                &instances,
                base.as_deref(),
                draft,
                deadline,
            )
            .await;
            match published {
                Published::Written {
                    assembled,
                    etag,
                    shards_written,
                } => {
                    self.tally.writes.inc();
                    self.tally.shards_written.inc_by(shards_written as u64);
                    memory.rewrite_all = false;
                    memory.head_seen = (
                        etag.clone().map_or(Replacing::Unknown, Replacing::Head),
                        assembled.head.revision,
                    );
                    let previous = base.as_ref().map(|base| &base.head);
                    self.saw_head(memory, previous, &assembled.head, now);
                    if listed_at == updated_at {
                        let swept = memory
                            .retired
                            .sweep(
                                self.store.as_ref(),
                                &self.prefix,
                                &assembled.head,
                                now,
                                self.sweep_after(),
                                self.settings.refresh / 4,
                            )
                            .await;
                        self.tally.shards_swept.inc_by(swept as u64);
                    }
                    if let Some(etag) = &etag {
                        self.decoding.heads.keep_head(etag, &assembled);
                    }
                    memory.assembled = Some((etag.clone(), Arc::clone(&assembled)));
                    return Shared::Written(Arc::new(Remembered::from(&*assembled)), etag);
                }
                Published::Lost => {
                    lost = true;
                    self.tally.writes_lost.inc();
                    tracing::debug!(snapshot = %self.describe(), "Another writer changed the head; reading it again.");
                    self.learn_head(memory).await;
                }
                Published::Failed(error) => {
                    tracing::warn!(snapshot = %self.describe(), %error, "Cannot write the snapshot; the fleet lists EC2 again next period.");
                    lost = false;
                    break;
                }
            }
        }
        let snapshot = Arc::new(Remembered {
            listed_at,
            updated_at,
            writer,
            instances: instances.into(),
            from_older_writer: false,
            stale_parts,
        });
        if lost {
            Shared::Lost(snapshot)
        } else {
            Shared::Failed(snapshot)
        }
    }

    /// Applies `change` to the fleet of the head as stored now and, if it
    /// changed anything, writes the result as the next head: listed when
    /// that head was, updated now. A head another writer swapped in first
    /// is read again and `change` applied to it (at most [`HEAD_SWAPS`]
    /// times). Only a usable head younger than `max_age` is changed.
    pub async fn apply<F>(&self, mut change: F) -> Result<Applied, String>
    where
        F: FnMut(&mut Vec<Instance>) -> bool + Send,
    {
        if !self.writes() {
            return Err("this node does not write the snapshot".to_owned());
        }
        let mut memory = self.memory.lock().await;
        for _ in 0..HEAD_SWAPS {
            let found = self.read_head(&mut memory).await;
            let now = self.clock.now();
            let assembled = match (found, &memory.assembled) {
                (Found::Usable, Some((_, assembled))) => Arc::clone(assembled),
                (Found::Failed(err), _) => return Err(format!("reading the head: {err}")),
                (Found::Unusable(why), _) => return Err(format!("the head is unusable: {why}")),
                _ => return Err("there is no usable head to change".to_owned()),
            };
            let age = now
                .duration_since(assembled.head.listed_at)
                .unwrap_or_default();
            if age > self.settings.max_age {
                return Err(format!(
                    "the head was listed {} ago, more than the {} a snapshot serves",
                    humantime::format_duration(Duration::from_secs(age.as_secs())),
                    humantime::format_duration(self.settings.max_age)
                ));
            }
            let mut instances = assembled.instances.to_vec();
            if !change(&mut instances) {
                return Ok(Applied::Unchanged);
            }
            instances.sort_unstable_by(|a, b| a.id.cmp(&b.id));
            let listed_at = assembled.head.listed_at;
            let updated_at = UNIX_EPOCH
                .checked_add(Duration::from_millis(millis(since_epoch(now))))
                .unwrap_or(now)
                .max(listed_at);
            // The parts stale at the listing stay so: events refresh a few
            // instances, not a part.
            let stale_parts = assembled.head.stale.clone();
            match self
                .share_within(
                    &mut memory,
                    instances,
                    stale_parts,
                    listed_at,
                    updated_at,
                    1,
                )
                .await
            {
                Shared::Written(snapshot, etag) => {
                    memory.snapshot = Some(Known {
                        snapshot,
                        etag,
                        seen_at: now,
                    });
                    memory.held = None;
                    return Ok(Applied::Written { updated_at });
                }
                Shared::Lost(_) => continue,
                Shared::Failed(_) => return Err("writing the head failed".to_owned()),
            }
        }
        Err(format!(
            "other writers changed the head {HEAD_SWAPS} times while this change was made"
        ))
    }

    /// Waits until this node next lists EC2 for the fleet (it won a
    /// refresh period's lease): the moment to see whether the event lease
    /// is free, once per period for the whole fleet.
    pub async fn listed_for_the_fleet(&self) {
        let mut listings = self.listings.subscribe();
        let _ = listings.changed().await;
    }

    /// The head's entity tag and revision as stored now (after a lost
    /// swap): what the next swap replaces.
    async fn learn_head(&self, memory: &mut Memory) {
        let read = self
            .store
            .get_within(&head_key(&self.prefix), None, MAX_HEAD_BYTES)
            .await;
        memory.head_seen = match read {
            Ok(Read::Found { body, etag }) => {
                self.tally.head_bytes.inc_by(body.len() as u64);
                let revision = Head::decode(&body, &self.scope).map_or(0, |head| head.revision);
                (Replacing::Head(etag), revision)
            }
            Ok(Read::Missing) => (Replacing::Nothing, 0),
            Ok(Read::NotModified | Read::Oversized { .. }) | Err(_) => (Replacing::Unknown, 0),
        };
    }

    /// Writes format 1's object for readers that read only that.
    async fn share_legacy(
        &self,
        instances: &[Instance],
        listed_at: SystemTime,
        writer: Option<String>,
    ) {
        let snapshot = Snapshot {
            scope: self.scope.clone(),
            listed_at,
            writer,
            instances: instances.to_vec(),
            sharded: true,
        };
        let written = match snapshot.encode() {
            Ok(object) => self
                .store
                .put(&self.key(SNAPSHOT_OBJECT), object, Condition::Always)
                .await
                .map_err(|err| err.to_string()),
            Err(why) => Err(format!("cannot encode it: {why}")),
        };
        if let Err(error) = written {
            tracing::warn!(snapshot = %self.describe_legacy(), %error, "Cannot write the format-1 snapshot for older readers.");
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
                // A listing's calls in its busiest account-region (each
                // has a budget of its own): EC2's pages, and Auto
                // Scaling's batches for the groups the fleet last served
                // is in.
                let known = memory
                    .snapshot
                    .as_ref()
                    .map_or(&[][..], |known| &known.snapshot.instances[..]);
                let pages = busiest_part_calls(known, &self.parts, self.lister.page_size());
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

/// What writing a fleet came to, and the fleet as it is served.
enum Shared {
    /// With the head's entity tag when the store gave it.
    Written(Arc<Remembered>, Option<String>),
    /// Another writer swapped the head in first, every time tried.
    Lost(Arc<Remembered>),
    Failed(Arc<Remembered>),
}

/// What applying a change came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The change changed nothing: no head written.
    Unchanged,
    /// A head written, at this update time.
    Written { updated_at: SystemTime },
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

#[cfg(test)]
mod parts_tests;
