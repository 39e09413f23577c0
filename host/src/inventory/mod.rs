//! The fleet as rollcall sees it: instances, where they came from, and the
//! [`InventorySource`] trait every source implements: a describe-instances
//! file ([`FileSource`]) or the EC2 API ([`Ec2Source`]). Every source's
//! fleet passes the same id check ([`check_ids`]); both read their input
//! under a size limit ([`MAX_INVENTORY_FILE_BYTES`], [`MAX_PAGE_BYTES`]).

mod calls;
mod describe;
mod ec2;
mod file;
mod filter;
mod ids;
mod page_guard;

pub use calls::CallCounts;
pub use describe::{ParseError, parse_describe_instances, write_describe_instances};
pub use ec2::{Ec2Settings, Ec2Source};
pub use file::{FileSource, MAX_INVENTORY_FILE_BYTES};
pub use filter::Filter;
pub use ids::{IdProblem, check_ids};
pub use page_guard::MAX_PAGE_BYTES;

use std::time::SystemTime;
use wasmtime::component::{ComponentType, Lower};

// The model is also the wire format: `SecurityGroup`, `Tag` and `Instance`
// mirror the records of the same names in `wit/policy.wit`, field for field
// and in order, so a policy receives them without a copy into other types.
// wasmtime checks the match when it looks up a policy's `decide`.

/// A security group an instance belongs to.
#[derive(Debug, Clone, PartialEq, Eq, ComponentType, Lower)]
#[component(record)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
}

/// One EC2 tag.
#[derive(Debug, Clone, PartialEq, Eq, ComponentType, Lower)]
#[component(record)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
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
#[derive(Debug, Clone, PartialEq, Eq, ComponentType, Lower)]
#[component(record)]
pub struct Instance {
    pub id: String,
    pub state: String,
    #[component(name = "private-ipv4")]
    pub private_ipv4: Option<String>,
    #[component(name = "public-ipv4")]
    pub public_ipv4: Option<String>,
    #[component(name = "private-dns-name")]
    pub private_dns_name: Option<String>,
    #[component(name = "public-dns-name")]
    pub public_dns_name: Option<String>,
    #[component(name = "ipv6-addresses")]
    pub ipv6_addresses: Vec<String>,
    #[component(name = "security-groups")]
    pub security_groups: Vec<SecurityGroup>,
    pub tags: Vec<Tag>,
    #[component(name = "availability-zone")]
    pub availability_zone: Option<String>,
    pub region: Option<String>,
    #[component(name = "vpc-id")]
    pub vpc_id: Option<String>,
    #[component(name = "subnet-id")]
    pub subnet_id: Option<String>,
    #[component(name = "instance-type")]
    pub instance_type: Option<String>,
    #[component(name = "image-id")]
    pub image_id: Option<String>,
    #[component(name = "launch-time")]
    pub launch_time: Option<String>,
}

/// A complete fleet, fetched at one moment from one source.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub instances: Vec<Instance>,
    /// Where the fleet comes from, for people: a path or an endpoint. The
    /// same for every fetch of one source.
    pub source: String,
    /// When it was listed (for a shared snapshot, by whichever node).
    pub fetched_at: SystemTime,
    /// How the fleet's shared snapshot served this fetch, when the source
    /// is one.
    pub snapshot: Option<SnapshotNote>,
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
        }
    }
}

impl Inventory {
    pub fn contains(&self, instance_id: &str) -> bool {
        self.instances
            .iter()
            .any(|instance| instance.id == instance_id)
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

/// Something that produces a complete fleet. A source never returns a partial
/// fleet: either every instance, or an error.
#[async_trait::async_trait]
pub trait InventorySource: Send + Sync {
    /// Where the fleet comes from, for people and for the output document.
    fn describe(&self) -> String;

    async fn fetch(&self) -> Result<Inventory, SourceError>;
}

/// A byte count for messages: `1 GiB`, `64 MiB`, else `N bytes`.
pub(crate) fn size_text(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    match bytes {
        0 => "0 bytes".to_owned(),
        _ if bytes.is_multiple_of(GIB) => format!("{} GiB", bytes / GIB),
        _ if bytes.is_multiple_of(MIB) => format!("{} MiB", bytes / MIB),
        _ => format!("{bytes} bytes"),
    }
}
