//! The shared snapshot as an inventory source: with a snapshot configured,
//! the EC2 source lists only when coordination says this node should.

use super::coordinator::{
    Clock, Coordination, Coordinator, Fleet, ListFailure, Lister, Listing, Mode, Origin, Tally,
};
use super::format::Scope;
use super::s3::{Deadlines, S3Store};
use crate::identity::instance_id_from_imds;
use crate::inventory::{
    ApiCalls, Ec2Source, FileSource, Inventory, InventorySource, SnapshotNote, SourceError,
};
use crate::settings::{
    DEFAULT_MAX_AGE_INTERVALS, MaxChange, Refresh, S3Location, SelfChoice, SnapshotSettings,
    SnapshotWrite, SourceSettings,
};
use std::sync::Arc;
use std::time::Duration;

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
        Ok(match snapshot {
            Some(snapshot) => Arc::new(SnapshotSource::new(ec2, snapshot.clone(), sharing)),
            None => ec2,
        })
    }
}

pub struct SnapshotSource {
    coordinator: Coordinator,
    location: S3Location,
    ec2: String,
    /// Whether IMDS is still to be asked for this node's id.
    ask_imds: std::sync::atomic::AtomicBool,
}

impl SnapshotSource {
    /// S3 is reached with the EC2 source's credentials, region and
    /// retries, and deadlines from its timeouts: each request must connect
    /// within `--connect-timeout`, answer within `--attempt-timeout` and be
    /// done, body included, within `--fetch-timeout`.
    pub fn new(ec2: Arc<Ec2Source>, settings: SnapshotSettings, sharing: Sharing) -> Self {
        let timeouts = ec2.settings();
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
            coordinator,
            location: settings.location,
            ec2: described,
            ask_imds: (sharing.own == SelfChoice::FromImds).into(),
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
        let fleet = self.coordinator.refresh().await?;
        Ok(Inventory {
            instances: fleet.instances.to_vec(),
            source: self.describe(),
            fetched_at: fleet.listed_at,
            snapshot: Some(self.note(&fleet)),
            unconfirmed: Vec::new(),
        })
    }
}

#[async_trait::async_trait]
impl Lister for Ec2Source {
    fn scope(&self) -> Scope {
        let filters = self.settings().filters.iter().map(ToString::to_string);
        Scope::new(
            self.regions().map(str::to_owned).collect(),
            filters.collect(),
        )
    }

    fn page_size(&self) -> u32 {
        self.settings().page_size.unsigned_abs()
    }

    async fn list(&self) -> Result<Listing, ListFailure> {
        let before = self.calls().total();
        let listed = InventorySource::fetch(self).await;
        let calls = self.calls().total().saturating_sub(before);
        match listed {
            Ok(inventory) => Ok(Listing {
                instances: inventory.instances,
                calls,
            }),
            Err(error) => Err(ListFailure {
                throttled: matches!(error, SourceError::Throttled(_)),
                calls,
                error,
            }),
        }
    }
}
