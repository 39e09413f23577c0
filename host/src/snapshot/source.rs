//! The shared snapshot as an inventory source: with a snapshot configured,
//! the EC2 source lists only when coordination says this node should; with
//! an event queue too, the node follows the fleet's events when it holds
//! their lease ([`super::follow`]).

use super::coordinator::{
    Clock, Coordination, Coordinator, Fleet, ListFailure, Lister, Listing, Mode, Origin, Tally,
};
use super::follow::{Follower, Refresher};
use super::format::Scope;
use super::s3::{Deadlines, S3Store};
use super::store::ObjectStore;
use crate::events::{Deadlines as QueueDeadlines, EventQueue, SqsQueue};
use crate::identity::instance_id_from_imds;
use crate::inventory::{
    ApiCalls, ByIds, Ec2Source, FileSource, Inventory, InventorySource, PartKey, SnapshotNote,
    SourceError, StalePart,
};
use crate::settings::{
    DEFAULT_MAX_AGE_INTERVALS, EventsSettings, MaxChange, Refresh, S3Location, SelfChoice,
    SnapshotSettings, SnapshotWrite, SourceSettings,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The shortest event lease: a holder renews it every third of a term.
const MIN_EVENT_LEASE_TERM: Duration = Duration::from_secs(5);

/// What a node brings to the sharing: how it runs and how often it asks.
#[derive(Debug, Clone)]
pub struct Sharing {
    pub mode: Mode,
    pub refresh: Duration,
    /// The most a refresh is delayed at random.
    pub jitter: Duration,
    /// Who this node is: its id is written into leases and snapshots (asked
    /// of IMDS before the first refresh when self comes from there).
    /// Readers believe only a snapshot whose writer is a running instance
    /// of its fleet, so a node that knows no id never writes.
    pub own: SelfChoice,
    /// Where coordination counts what it did, and EC2 and Auto Scaling
    /// calls are counted (a daemon's metrics hold them, across reloads).
    pub tally: Tally,
    pub calls: ApiCalls,
    /// The queue of the fleet's events, for a daemon that follows them.
    pub events: Option<EventsSettings>,
}

impl Sharing {
    /// A one-shot command's: it has no answer to keep, so with no usable
    /// snapshot it lists EC2 itself; it assumes the fleet's default refresh
    /// interval.
    pub fn at_boot(own: SelfChoice) -> Sharing {
        Sharing {
            mode: Mode::Boot,
            refresh: Refresh::DEFAULT_EVERY,
            jitter: Duration::ZERO,
            own,
            tally: Tally::default(),
            calls: ApiCalls::default(),
            events: None,
        }
    }
}

impl SourceSettings {
    /// The source these settings describe: the file, or EC2 (behind the
    /// fleet's snapshot when they name one) counting its calls in
    /// `sharing`.
    pub async fn open(&self, sharing: Sharing) -> Result<Arc<dyn InventorySource>, SourceError> {
        let (ec2, snapshot) = match self {
            SourceSettings::File(path) => return Ok(Arc::new(FileSource::new(path))),
            SourceSettings::Ec2 { ec2, snapshot } => (ec2, snapshot),
        };
        let ec2 = Arc::new(Ec2Source::connect_counting(ec2.clone(), sharing.calls.clone()).await?);
        // A node that lists for itself assumes every role now, so that a
        // role it cannot assume stops it at start; behind a snapshot, the
        // roles are assumed by whichever node lists, when it does, so a
        // fleet does not call STS once per node and account.
        if snapshot.is_none() {
            ec2.assume_roles().await?;
        }
        Ok(match snapshot {
            Some(snapshot) => Arc::new(SnapshotSource::new(ec2, snapshot.clone(), sharing)),
            None => ec2,
        })
    }
}

pub struct SnapshotSource {
    coordinator: Arc<Coordinator>,
    location: S3Location,
    ec2: String,
    /// Whether IMDS is still to be asked for this node's id.
    ask_imds: std::sync::atomic::AtomicBool,
    /// The follower's task, once started.
    following: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    pending_events: std::sync::Mutex<Option<PendingFollower>>,
}

/// What a follower is made of, until this node knows its id.
struct PendingFollower {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    queue: Arc<dyn EventQueue>,
    refresher: Arc<dyn Refresher>,
    regions: Vec<String>,
    term: Duration,
}

impl SnapshotSource {
    /// S3 is reached with the EC2 source's credentials, region and
    /// retries, and deadlines from its timeouts: each request must connect
    /// within `--connect-timeout`, answer within `--attempt-timeout` and be
    /// done, body included, within `--fetch-timeout`.
    pub fn new(ec2: Arc<Ec2Source>, settings: SnapshotSettings, sharing: Sharing) -> Self {
        let timeouts = ec2.settings();
        let events = sharing.events.as_ref().map(|events| {
            let deadlines = QueueDeadlines {
                connect: timeouts.connect_timeout,
                first_byte: timeouts.attempt_timeout,
                total: timeouts.fetch_timeout,
            };
            let queue = SqsQueue::new(
                ec2.sdk_config(),
                &events.queue,
                events.endpoint_url.as_deref(),
                deadlines,
            );
            Arc::new(queue) as Arc<dyn EventQueue>
        });
        let store = S3Store::new(
            ec2.sdk_config(),
            &settings.location.bucket,
            settings.endpoint_url.as_deref(),
            Deadlines {
                connect: timeouts.connect_timeout,
                first_byte: timeouts.attempt_timeout,
                total: timeouts.fetch_timeout,
            },
        );
        let described = ec2.describe();
        let coordination = Coordination {
            refresh: sharing.refresh,
            fresh_for: sharing
                .refresh
                .saturating_sub(sharing.jitter)
                .max(sharing.refresh / 2),
            max_age: settings
                .max_age
                .unwrap_or(sharing.refresh.saturating_mul(DEFAULT_MAX_AGE_INTERVALS)),
            ec2_budget: settings.ec2_budget,
            writer: sharing.own.given_id().map(str::to_owned),
            mode: sharing.mode,
            clock_skew: settings.clock_skew,
            max_shrink: match settings.max_shrink {
                MaxChange::Off => None,
                MaxChange::Percent(percent) => Some(f64::from(percent) / 100.0),
            },
            write: settings.write == SnapshotWrite::Auto,
        };
        let refresher = Arc::clone(&ec2) as Arc<dyn Refresher>;
        let regions: Vec<String> = ec2.regions().map(str::to_owned).collect();
        let store = store as Arc<dyn ObjectStore>;
        let pending_events = events.map(|queue| PendingFollower {
            store: Arc::clone(&store),
            prefix: settings.location.prefix.clone(),
            queue,
            refresher,
            regions,
            term: sharing.refresh.max(MIN_EVENT_LEASE_TERM),
        });
        let coordinator = Coordinator::new(
            store,
            ec2,
            &settings.location.prefix,
            coordination,
            Clock::system(),
            fastrand::u64(..),
        )
        .with_tally(sharing.tally);
        SnapshotSource {
            coordinator: Arc::new(coordinator),
            location: settings.location,
            ec2: described,
            ask_imds: (sharing.own == SelfChoice::FromImds).into(),
            following: std::sync::Mutex::new(None),
            pending_events: std::sync::Mutex::new(pending_events),
        }
    }

    /// Starts following the fleet's events, once this node knows its id
    /// (a node that never writes the snapshot never follows them).
    fn follow_events(&self) {
        let mut pending = self
            .pending_events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(parts) = pending.take() else {
            return;
        };
        let follower = Follower::new(
            Arc::clone(&self.coordinator),
            parts.store,
            &parts.prefix,
            parts.queue,
            parts.refresher,
            parts.regions,
            parts.term,
            Clock::system(),
        );
        match follower {
            Some(follower) => {
                let task = tokio::spawn(follower.run());
                *self
                    .following
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
            }
            None => {
                tracing::warn!(
                    "This node does not know its instance id, so it never follows the fleet's events."
                );
            }
        }
    }

    /// How the snapshot served `fleet`, for the membership document.
    fn note(&self, fleet: &Fleet) -> SnapshotNote {
        let (listed_by, listed_here) = match &fleet.origin {
            Origin::Listed => (self.coordinator.writer().map(str::to_owned), true),
            Origin::Snapshot { writer } => (writer.clone(), false),
        };
        let age = std::time::SystemTime::now()
            .duration_since(fleet.listed_at)
            .unwrap_or_default();
        SnapshotNote {
            object: self.coordinator.describe(),
            listed_by,
            listed_here,
            age_seconds: age.as_secs(),
        }
    }
}

#[async_trait::async_trait]
impl InventorySource for SnapshotSource {
    fn describe(&self) -> String {
        format!("snapshot {} of {}", self.location, self.ec2)
    }

    async fn fetch(&self) -> Result<Inventory, SourceError> {
        if self
            .ask_imds
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            // Once: a node IMDS cannot name only reads.
            match instance_id_from_imds().await {
                Ok(id) => self.coordinator.learn_writer(id),
                Err(error) => {
                    tracing::warn!(%error, "This node does not know its instance id, so it reads the snapshot but never writes it.");
                }
            }
        }
        self.follow_events();
        let fleet = self.coordinator.refresh().await?;
        Ok(Inventory {
            instances: fleet.instances.to_vec().into(),
            source: self.describe(),
            fetched_at: fleet.listed_at,
            snapshot: Some(self.note(&fleet)),
            unconfirmed: Vec::new(),
            stale_parts: fleet.stale_parts.clone(),
        })
    }
}

impl Drop for SnapshotSource {
    /// A source replaced on reload stops following: the next one does.
    fn drop(&mut self) {
        let following = self
            .following
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(task) = following.take() {
            task.abort();
        }
    }
}

#[async_trait::async_trait]
impl Refresher for Ec2Source {
    async fn describe_ids(
        &self,
        account: &str,
        region: &str,
        ids: &[String],
    ) -> Result<ByIds, SourceError> {
        Ec2Source::describe_ids(self, account, region, ids).await
    }
}

#[async_trait::async_trait]
impl Lister for Ec2Source {
    fn scope(&self) -> Scope {
        let filters = self.settings().filters.iter().map(ToString::to_string);
        let accounts = self.settings().accounts.iter().map(|account| {
            if account.regions.is_empty() {
                account.account().to_owned()
            } else {
                let mut regions = account.regions.clone();
                regions.sort();
                format!("{}:{}", account.account(), regions.join("+"))
            }
        });
        Scope::new(
            self.regions().map(str::to_owned).collect(),
            filters.collect(),
        )
        .with_accounts(accounts.collect())
    }

    fn page_size(&self) -> u32 {
        self.settings().page_size.unsigned_abs()
    }

    fn parts(&self) -> Vec<PartKey> {
        Ec2Source::parts(self).to_vec()
    }

    fn recall_stale(&self, stale: &[StalePart], listed: SystemTime, now: SystemTime) {
        self.schedule().recall(stale, listed, now);
    }

    /// Every account-region due; those that fail are the coordinator's to
    /// fill from the fleet it holds.
    async fn list(&self) -> Result<Listing, ListFailure> {
        let before = self.calls().total();
        let listed = self.list_fleet().await;
        let calls = self.calls().total().saturating_sub(before);
        match listed {
            Ok(listing) => Ok(Listing {
                instances: listing.instances,
                calls,
                failed: listing.failed,
            }),
            Err(error) => Err(ListFailure {
                throttled: matches!(error, SourceError::Throttled(_)),
                calls,
                error,
            }),
        }
    }
}
