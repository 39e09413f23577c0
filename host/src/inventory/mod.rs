//! The fleet as rollcall sees it: instances, where they came from, and the
//! [`InventorySource`] trait every source implements: a describe-instances
//! file ([`FileSource`]) or the EC2 API ([`Ec2Source`]). Every source's
//! fleet passes the same id check ([`check_ids`]); both read their input
//! under a size limit ([`MAX_INVENTORY_FILE_BYTES`], [`MAX_PAGE_BYTES`]).
//! The EC2 source asks Auto Scaling about the groups its instances are in
//! (`auto_scaling`), and describes instances by id (`by_id`). A fleet
//! spanning accounts and regions is listed in parts (`parts`).

mod absence;
mod auto_scaling;
mod by_id;
mod calls;
mod describe;
mod ec2;
mod ec2_xml;
mod file;
mod fleet;
mod group_owners;
mod ids;
mod instances;
mod lifecycle;
mod page_guard;
mod page_reader;
mod parts;
#[cfg(any(test, feature = "internals"))]
mod sample;

pub use absence::GraceSource;
pub use auto_scaling::{
    GROUP_TAG, MAX_PAGES_PER_BATCH as AUTO_SCALING_MAX_PAGES_PER_BATCH,
    calls_per_listing as auto_scaling_calls_per_listing,
};
#[cfg_attr(not(any(test, feature = "internals")), allow(unused_imports))]
pub use by_id::{ByIds, MAX_FILTER_VALUES};
pub use calls::{ApiCalls, CallCounts};
pub use describe::{parse_describe_instances, read_describe_instances, write_describe_instances};
pub use ec2::Ec2Source;
pub use file::{FileSource, MAX_INVENTORY_FILE_BYTES};
pub use fleet::{Field, Fleet, FleetBuilder, FleetTooLarge, GroupRow};
pub use ids::{check_id_list, check_ids, is_account_id, is_instance_id};
pub use instances::Instances;
pub use lifecycle::{LeaveReason, Leaving, LeavingEntry, Lifecycle, LifecycleState, MemberStatus};
pub(crate) use page_guard::printable;
#[cfg_attr(not(any(test, feature = "internals")), allow(unused_imports))]
pub use parts::{
    FIRST_RETRY as PART_FIRST_RETRY, PartFailure, PartKey, PartSchedule, PartialListing, StalePart,
    list_parts, patch as patch_parts,
};
#[cfg(any(test, feature = "internals"))]
pub use sample::{described, every_field};

use std::time::SystemTime;

/// A security group an instance belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    /// The group id, `sg-...`.
    pub id: String,
    /// The group name, e.g. `eg-monitor`.
    pub name: String,
    /// The AWS account that owns the group, e.g. `123456789012`; `None`
    /// when unknown. Outside a shared VPC it is the instance's account.
    pub owner: Option<String>,
}

/// One EC2 tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The tag key.
    pub key: String,
    /// The tag value (empty when the tag has none).
    pub value: String,
}

impl Tag {
    /// A tag.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// One EC2 instance, with every field a policy may decide on. Optional
/// fields are `None` when EC2 did not report them (empty strings count as not
/// reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The instance id, `i-...`.
    pub id: String,
    /// The state name: `pending`, `running`, `stopping`, `stopped`, `shutting-down` or `terminated`.
    pub state: String,
    /// The private IPv4 address, once assigned.
    pub private_ipv4: Option<String>,
    /// The public IPv4 address, if it has one.
    pub public_ipv4: Option<String>,
    /// The private DNS name, if EC2 gives one.
    pub private_dns_name: Option<String>,
    /// The public DNS name, if it has one.
    pub public_dns_name: Option<String>,
    /// The IPv6 addresses of its network interfaces, primary interface first.
    pub ipv6_addresses: Vec<String>,
    /// Its security groups, as EC2 lists them.
    pub security_groups: Vec<SecurityGroup>,
    /// Its tags.
    pub tags: Vec<Tag>,
    /// The availability zone, e.g. `us-east-1b`.
    pub availability_zone: Option<String>,
    /// The region it was listed in (for a file, when the file says).
    pub region: Option<String>,
    /// The VPC, `vpc-...`.
    pub vpc_id: Option<String>,
    /// The subnet, `subnet-...`.
    pub subnet_id: Option<String>,
    /// The instance type, e.g. `m5.large`.
    pub instance_type: Option<String>,
    /// The image it was launched from, `ami-...`.
    pub image_id: Option<String>,
    /// When it was launched (RFC 3339, as EC2 says).
    pub launch_time: Option<String>,
    /// The AWS account that owns it (the reservation's owner), e.g.
    /// `123456789012`.
    pub account: Option<String>,
    /// Its Auto Scaling lifecycle state and group; not in a group when
    /// nobody asked Auto Scaling.
    pub lifecycle: Lifecycle,
    /// Why and by when it is going away, if it is.
    pub leaving: Option<Leaving>,
}

/// A complete fleet, fetched at one moment from one source.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// Every instance listed, whatever its state: in columns as a reader
    /// filled them, read as a `Vec<Instance>` when asked.
    pub instances: Instances,
    /// Where the fleet comes from, for people: a path or an endpoint. The
    /// same for every fetch of one source.
    pub source: String,
    /// When it was listed (for a shared snapshot, by whichever node).
    pub fetched_at: SystemTime,
    /// How the fleet's shared snapshot served this fetch, when the source
    /// is one.
    pub snapshot: Option<SnapshotNote>,
    /// Instances missing from the listing but kept for a grace
    /// ([`GraceSource`]): members still, not yet confirmed gone.
    pub unconfirmed: Vec<String>,
    /// Account-regions that could not be listed this time: their instances
    /// are the ones last listed.
    pub stale_parts: Vec<StalePart>,
}

/// How a fetch through the fleet's shared snapshot came out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotNote {
    /// The snapshot object, `s3://bucket/prefix/snapshot.zst`.
    pub object: String,
    /// The instance that listed EC2 for it, when known.
    pub listed_by: Option<String>,
    /// True when this node listed EC2 itself (and shared the listing),
    /// false when it read another node's.
    pub listed_here: bool,
    /// How old the listing was when this node took it, in whole seconds.
    pub age_seconds: u64,
}

impl Instance {
    /// A running instance that has nothing but its id: for tests and the
    /// fleet simulation, which fill in what they need.
    pub fn running(id: &str) -> Instance {
        Instance {
            id: id.to_owned(),
            state: "running".to_owned(),
            private_ipv4: None,
            public_ipv4: None,
            private_dns_name: None,
            public_dns_name: None,
            ipv6_addresses: Vec::new(),
            security_groups: Vec::new(),
            tags: Vec::new(),
            availability_zone: None,
            region: None,
            vpc_id: None,
            subnet_id: None,
            instance_type: None,
            image_id: None,
            launch_time: None,
            account: None,
            lifecycle: Lifecycle::default(),
            leaving: None,
        }
    }
}

impl Inventory {
    /// Whether an instance with this id is in the fleet.
    pub fn contains(&self, instance_id: &str) -> bool {
        self.instances.contains_id(instance_id)
    }
}

/// Why a source could not produce a fleet. Callers branch on the kind: bad
/// input is the operator's to fix, an unavailable source may recover.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The operator's input is wrong: a missing or malformed file, a bad
    /// filter. Retrying without a change will not help.
    #[error("{0}")]
    Input(String),
    /// The source could not be read at all.
    #[error("{0}")]
    Unavailable(String),
    /// The source refused for now: EC2's API budget is spent.
    #[error("{0}")]
    Throttled(String),
}

impl SourceError {
    /// The same kind of error, its message after `context`: a throttled
    /// listing stays throttled, whoever reports it.
    pub fn context(self, context: impl std::fmt::Display) -> SourceError {
        match self {
            SourceError::Input(message) => SourceError::Input(format!("{context}: {message}")),
            SourceError::Unavailable(message) => {
                SourceError::Unavailable(format!("{context}: {message}"))
            }
            SourceError::Throttled(message) => {
                SourceError::Throttled(format!("{context}: {message}"))
            }
        }
    }
}

/// Something that produces a complete fleet. A source never returns a partial
/// fleet: either every instance, or an error.
#[async_trait::async_trait]
pub trait InventorySource: Send + Sync {
    /// Where the fleet comes from, for people and for the output document.
    fn describe(&self) -> String;

    /// The whole fleet, or an error: never a part of it.
    async fn fetch(&self) -> Result<Inventory, SourceError>;
}
