//! The shared snapshot as an inventory source: with a snapshot configured,
//! the EC2 source lists only when coordination says this node should.

use super::coordinator::{
    Clock, Coordination, Coordinator, Fleet, ListFailure, Lister, Listing, Mode, Origin, Tally,
};
use super::format::Scope;
use super::s3::{S3Location, S3Store};
use super::{DEFAULT_MAX_AGE_INTERVALS, SnapshotSettings};
use crate::inventory::{
    CallCounts, Ec2Settings, Ec2Source, Inventory, InventorySource, SnapshotNote, SourceError,
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
    /// This node's instance id, when known: written into leases and
    /// snapshots, for people.
    pub writer: Option<String>,
    /// Where coordination counts what it did, and EC2 calls are counted
    /// (a daemon's metrics hold them, across reloads).
    pub tally: Tally,
    pub calls: CallCounts,
}

impl Sharing {
    /// A one-shot command's: it has no answer to keep, so with no usable
    /// snapshot it lists EC2 itself; it assumes the fleet's default refresh
    /// interval.
    pub fn at_boot(writer: Option<String>) -> Sharing {
        Sharing {
            mode: Mode::Boot,
            refresh: crate::config::DEFAULT_REFRESH,
            jitter: Duration::ZERO,
            writer,
            tally: Tally::default(),
            calls: CallCounts::default(),
        }
    }
}

/// The EC2 source `settings` describe, behind the snapshot if they name one.
pub async fn open(
    settings: Ec2Settings,
    sharing: Sharing,
) -> Result<Arc<dyn InventorySource>, SourceError> {
    let snapshot = settings.snapshot.clone();
    let ec2 = Arc::new(Ec2Source::connect_counting(settings, sharing.calls.clone()).await?);
    Ok(match snapshot {
        Some(snapshot) => Arc::new(SnapshotSource::new(ec2, snapshot, sharing)),
        None => ec2,
    })
}

pub struct SnapshotSource {
    coordinator: Coordinator,
    location: S3Location,
    ec2: String,
    /// This node's instance id, when known.
    writer: Option<String>,
}

impl SnapshotSource {
    /// S3 is reached with the EC2 source's credentials, region, retries and
    /// timeouts.
    pub fn new(ec2: Arc<Ec2Source>, settings: SnapshotSettings, sharing: Sharing) -> Self {
        let store = S3Store::new(
            ec2.sdk_config(),
            &settings.location.bucket,
            settings.endpoint_url.as_deref(),
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
                .unwrap_or(sharing.refresh * DEFAULT_MAX_AGE_INTERVALS),
            ec2_budget: settings.ec2_budget,
            writer: sharing.writer.clone(),
            mode: sharing.mode,
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
            writer: sharing.writer,
        }
    }

    /// How the snapshot served `fleet`, for the membership document.
    fn note(&self, fleet: &Fleet) -> SnapshotNote {
        let (listed_by, listed_here) = match &fleet.origin {
            Origin::Listed => (self.writer.clone(), true),
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
        let fleet = self.coordinator.refresh().await?;
        Ok(Inventory {
            instances: fleet.instances.to_vec(),
            source: self.describe(),
            fetched_at: fleet.listed_at,
            snapshot: Some(self.note(&fleet)),
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
