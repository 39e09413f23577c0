//! The fleet as rollcall sees it: instances, where they came from, and the
//! [`InventorySource`] trait every source implements: a describe-instances
//! file ([`FileSource`]) or the EC2 API ([`Ec2Source`]).

mod describe;
mod ec2;
mod file;
mod filter;

pub use describe::{ParseError, parse_describe_instances, write_describe_instances};
pub use ec2::{Ec2Settings, Ec2Source};
pub use file::FileSource;
pub use filter::Filter;

use std::time::SystemTime;

/// A security group an instance belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
}

/// One EC2 instance, with every field a policy may decide on. Optional
/// fields are `None` when EC2 did not report them (empty strings count as not
/// reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub state: String,
    pub private_ipv4: Option<String>,
    pub public_ipv4: Option<String>,
    pub private_dns_name: Option<String>,
    pub public_dns_name: Option<String>,
    pub ipv6_addresses: Vec<String>,
    pub security_groups: Vec<SecurityGroup>,
    pub tags: Vec<(String, String)>,
    pub availability_zone: Option<String>,
    pub region: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub instance_type: Option<String>,
    pub image_id: Option<String>,
    pub launch_time: Option<String>,
}

/// A complete fleet, fetched at one moment from one source.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub instances: Vec<Instance>,
    /// Where the fleet came from, for people: a path or an endpoint.
    pub source: String,
    pub fetched_at: SystemTime,
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
}

/// Something that produces a complete fleet. A source never returns a partial
/// fleet: either every instance, or an error.
#[async_trait::async_trait]
pub trait InventorySource: Send + Sync {
    /// Where the fleet comes from, for people and for the output document.
    fn describe(&self) -> String;

    async fn fetch(&self) -> Result<Inventory, SourceError>;
}
