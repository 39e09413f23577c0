//! How to reach EC2 and what to ask it: regions, credentials, filters,
//! page size, timeouts and retries.

use super::Filter;
use super::accounts::AccountSettings;
use std::time::Duration;

/// Account-regions listed at once unless `source.listing_concurrency`
/// says otherwise. The fleet simulation (BENCHMARKS.md, fifth run) lists
/// 400 account-regions of a page each in 3.9 s at 32, 15 s at 8: longer
/// than the losers of the lease wait for the winner (7.5 s at a 30 s
/// refresh), whose answers then age a period more. Each account-region's
/// calls stay one after another, so its budget is the same at any
/// concurrency.
pub const DEFAULT_LISTING_CONCURRENCY: u32 = 32;

/// How to reach EC2 and what to ask it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ec2Settings {
    /// Regions to merge into one fleet; empty means the default chain's
    /// region (environment, profile, then IMDS when allowed).
    pub regions: Vec<String>,
    /// The accounts the fleet spans, each reached through a role assumed
    /// with this node's credentials; empty: this node's own account alone.
    pub accounts: Vec<AccountSettings>,
    /// Account-regions listed at once.
    pub listing_concurrency: u32,
    /// The AWS profile to read settings and credentials from; `None`: the default chain.
    pub profile: Option<String>,
    /// Overrides the endpoint (and `AWS_ENDPOINT_URL[_EC2]`).
    pub endpoint_url: Option<String>,
    /// Server-side filters, all of which an instance must match.
    pub filters: Vec<Filter>,
    /// `MaxResults` of each `DescribeInstances` call (5 to 1000).
    pub page_size: i32,
    /// Connecting to EC2, per attempt.
    pub connect_timeout: Duration,
    /// One HTTP attempt, retries not included.
    pub attempt_timeout: Duration,
    /// Listing one account-region: every page, retries included, and its
    /// Auto Scaling lifecycles.
    pub fetch_timeout: Duration,
    /// Attempts per call, the first included; throttling and 5xx answers
    /// are retried with exponential backoff and jitter.
    pub max_attempts: u32,
    /// Whether the region may come from the instance metadata service.
    pub region_from_imds: bool,
}

impl Default for Ec2Settings {
    fn default() -> Self {
        Ec2Settings {
            regions: Vec::new(),
            accounts: Vec::new(),
            listing_concurrency: DEFAULT_LISTING_CONCURRENCY,
            profile: None,
            endpoint_url: None,
            filters: Vec::new(),
            page_size: 1000,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(120),
            max_attempts: 5,
            region_from_imds: true,
        }
    }
}
