//! The EC2 API as an inventory source: `DescribeInstances` in every
//! configured account and region, every page, merged into one fleet.
//!
//! A fleet is taken only when every page of every part arrived whole: each
//! response passes [`PageGuard`] (size cap, complete document), pagination
//! follows `NextToken` itself and refuses a token it has seen before, and
//! the merged fleet passes the same id check as a file ([`check_ids`]).
//! Then Auto Scaling fills in the lifecycle of instances in groups
//! ([`super::auto_scaling`]); it adds to a fleet, never fails one.
//!
//! Other accounts are reached through roles (`[[source.accounts]]`,
//! `--assume-role`) assumed with this node's credentials by the SDK's own
//! provider, whose credentials each account's clients share, cached and
//! renewed before they expire. Account-regions are listed a few at a time,
//! each against its own budget; one that fails keeps its instances as
//! last listed, marked stale ([`super::parts`]).

use super::auto_scaling::AutoScaling;
use super::calls::ApiCalls;
use super::group_owners::GroupOwners;
use super::ids::{IdProblem, check_ids};
use super::page_guard::{PageFault, PageGuard, excerpt, printable};
use super::page_reader::PageReader;
use super::parts::{PartKey, PartSchedule, PartialListing, StalePart, list_parts, patch};
use super::{Fleet, FleetBuilder, Instance, Inventory, InventorySource, SourceError};
use crate::settings::{AccountSettings, Ec2Settings, Filter};
use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::Region;
use aws_sdk_ec2::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesError;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Reads the fleet with `DescribeInstances`, one client per account and
/// region.
pub struct Ec2Source {
    settings: Ec2Settings,
    /// Every account-region, in the order listed.
    parts: Vec<PartClients>,
    /// Their keys, in the same order.
    keys: Vec<PartKey>,
    /// Credentials, region, retries and timeouts, for other AWS clients of
    /// the same source (the snapshot's S3, the event queue): this node's
    /// own.
    config: aws_config::SdkConfig,
    calls: ApiCalls,
    schedule: PartSchedule,
    /// The last fleet this source gave, for parts that fail the next
    /// listing (kept only when there are several parts).
    held: Mutex<Option<(Vec<Instance>, Vec<StalePart>)>>,
}

/// The clients of one account-region: of this node's own account, or of
/// one reached through a role.
struct PartClients {
    key: PartKey,
    /// The role and what assumes it, when the account is another's (shared
    /// by the account's parts).
    role: Option<(AccountSettings, SharedCredentialsProvider)>,
    ec2: Client,
    auto_scaling: AutoScaling,
    /// `DescribeSecurityGroups`, behind its own page guard.
    security_groups: Client,
    group_owners: GroupOwners,
}

impl PartClients {
    fn new(
        settings: &Ec2Settings,
        config: &aws_config::SdkConfig,
        key: PartKey,
        role: Option<(AccountSettings, SharedCredentialsProvider)>,
        calls: &ApiCalls,
    ) -> PartClients {
        // The endpoint is EC2's alone: the shared configuration also
        // serves the snapshot's S3.
        let mut builder = aws_sdk_ec2::config::Builder::from(config)
            .region(Region::new(key.region.clone()))
            .interceptor(PageGuard::DESCRIBE_INSTANCES)
            .interceptor(calls.counting_ec2(&key));
        builder.set_endpoint_url(settings.endpoint_url.clone());
        let mut groups = aws_sdk_ec2::config::Builder::from(config)
            .region(Region::new(key.region.clone()))
            .interceptor(PageGuard::DESCRIBE_SECURITY_GROUPS)
            .interceptor(calls.counting_security_groups(&key));
        groups.set_endpoint_url(settings.endpoint_url.clone());
        let auto_scaling = AutoScaling::new(
            config,
            key.account.as_deref(),
            std::slice::from_ref(&key.region),
            calls,
        );
        PartClients {
            ec2: Client::from_conf(builder.build()),
            security_groups: Client::from_conf(groups.build()),
            group_owners: GroupOwners::default(),
            auto_scaling,
            role,
            key,
        }
    }
}

impl Ec2Source {
    /// Loads credentials and region configuration (nothing is sent to EC2
    /// yet), counting every `DescribeInstances` and
    /// `DescribeAutoScalingGroups` attempt into `calls`. Fails if no region
    /// can be found.
    pub async fn connect_counting(
        settings: Ec2Settings,
        calls: ApiCalls,
    ) -> Result<Self, SourceError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(settings.max_attempts)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(settings.connect_timeout)
                    .operation_attempt_timeout(settings.attempt_timeout)
                    .build(),
            );
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        loader = match settings.regions.first() {
            Some(region) => loader.region(Region::new(region.clone())),
            None => loader.region(region_chain(&settings)),
        };
        let config = loader.load().await;
        Ec2Source::from_config(settings, config, calls).await
    }

    /// The source on `config` (credentials, region, retries, timeouts; its
    /// endpoint serves Auto Scaling, STS and S3, never EC2, whose endpoint
    /// is `settings.endpoint_url`), counting calls into `calls`. Nothing is
    /// sent yet: roles are assumed when first used. Fails if neither the
    /// settings nor `config` name a region.
    pub async fn from_config(
        settings: Ec2Settings,
        config: aws_config::SdkConfig,
        calls: ApiCalls,
    ) -> Result<Self, SourceError> {
        let regions = if settings.regions.is_empty() {
            let region = config.region().ok_or_else(|| {
                SourceError::Input(
                    "no AWS region: pass --region, set AWS_REGION, or name one in the profile"
                        .to_owned(),
                )
            })?;
            vec![region.to_string()]
        } else {
            settings.regions.clone()
        };
        let mut parts = Vec::new();
        if settings.accounts.is_empty() {
            parts.extend(regions.iter().map(|region| {
                PartClients::new(&settings, &config, PartKey::new(None, region), None, &calls)
            }));
        }
        for account in &settings.accounts {
            let mut assume =
                aws_config::sts::AssumeRoleProvider::builder(account.role_arn.as_str())
                    .session_name(&account.session_name)
                    .configure(&config);
            if let Some(id) = &account.external_id {
                assume = assume.external_id(id);
            }
            let provider = SharedCredentialsProvider::new(assume.build().await);
            // One cache per account: its clients in every region share the
            // credentials, renewed before they expire.
            let assumed = config
                .to_builder()
                .credentials_provider(provider.clone())
                .identity_cache(aws_config::identity::IdentityCache::lazy().build())
                .build();
            let own_regions = if account.regions.is_empty() {
                &regions
            } else {
                &account.regions
            };
            parts.extend(own_regions.iter().map(|region| {
                PartClients::new(
                    &settings,
                    &assumed,
                    PartKey::new(Some(account.account()), region),
                    Some((account.clone(), provider.clone())),
                    &calls,
                )
            }));
        }
        let keys = parts.iter().map(|part| part.key.clone()).collect();
        Ok(Ec2Source {
            settings,
            parts,
            keys,
            config,
            calls,
            schedule: PartSchedule::default(),
            held: Mutex::new(None),
        })
    }

    /// Assumes every role once, all at once: an account whose role cannot
    /// be assumed is an error naming the account and the role. Without
    /// roles, nothing is sent.
    pub async fn assume_roles(&self) -> Result<(), SourceError> {
        let mut seen = HashSet::new();
        let roles = self
            .parts
            .iter()
            .filter_map(|part| part.role.as_ref())
            .filter(|(account, _)| seen.insert(account.account()));
        let checks = roles.map(|(account, provider)| async move {
            provider
                .provide_credentials()
                .await
                .map(|_| ())
                .map_err(|err| {
                    SourceError::Unavailable(format!(
                        "account {}: cannot assume the role {} ({}): {}",
                        account.account(),
                        account.role_arn,
                        "check the role's trust policy names this node's role, and its \
                             external id",
                        crate::report::error_chain(&err)
                    ))
                })
        });
        futures::future::try_join_all(checks).await.map(|_| ())
    }

    /// The settings it was opened with.
    pub fn settings(&self) -> &Ec2Settings {
        &self.settings
    }

    /// The AWS configuration this source was built with.
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.config
    }

    /// `DescribeInstances` and `DescribeAutoScalingGroups` attempts so
    /// far, by outcome.
    pub fn calls(&self) -> &ApiCalls {
        &self.calls
    }

    /// The regions this source reads, each once.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        let mut seen = HashSet::new();
        self.keys
            .iter()
            .map(|part| part.region.as_str())
            .filter(move |region| seen.insert(*region))
    }

    /// Every account-region this source lists, in order.
    pub fn parts(&self) -> &[PartKey] {
        &self.keys
    }

    /// When each account-region that failed is asked again.
    pub(crate) fn schedule(&self) -> &PartSchedule {
        &self.schedule
    }

    /// The accounts reached through roles, each once, in order; empty when
    /// the source lists this node's own account.
    pub fn accounts(&self) -> impl Iterator<Item = &str> {
        let mut seen = HashSet::new();
        self.keys
            .iter()
            .filter_map(|part| part.account.as_deref())
            .filter(move |account| seen.insert(*account))
    }

    /// Every part due, a few at a time, each with its Auto Scaling
    /// lifecycles: the parts listed and those that failed. When every part
    /// failed, the first failure (a throttled one, if any was).
    pub(crate) async fn list_fleet(&self) -> Result<PartialListing, SourceError> {
        let concurrency = usize::try_from(self.settings.listing_concurrency).unwrap_or(1);
        let mut listing = list_parts(
            &self.keys,
            &self.schedule,
            concurrency,
            SystemTime::now(),
            |key| self.list_part(key),
        )
        .await;
        if listing.failed.len() == self.keys.len() {
            let throttled = listing
                .failed
                .iter()
                .position(|failure| matches!(failure.error, SourceError::Throttled(_)));
            let failure = listing.failed.swap_remove(throttled.unwrap_or(0));
            return Err(failure.error);
        }
        check_ids(&listing.instances)
            .map_err(|problem| self.id_error(&listing.instances, problem))?;
        Ok(listing)
    }

    /// One account-region: every page, then its Auto Scaling lifecycles,
    /// within the fetch's time.
    async fn list_part(&self, key: &PartKey) -> Result<Vec<Instance>, SourceError> {
        let Some(part) = self.parts.iter().find(|part| part.key == *key) else {
            return Err(SourceError::Unavailable(format!(
                "{key}: not a part of this source"
            )));
        };
        let started = tokio::time::Instant::now();
        let listing = tokio::time::timeout(
            self.settings.fetch_timeout,
            self.fetch_region(&key.region, &part.ec2),
        )
        .await
        .map_err(|_| {
            SourceError::Unavailable(format!(
                "listing took longer than {:?} (--fetch-timeout)",
                self.settings.fetch_timeout
            ))
        })
        .and_then(|listed| listed);
        let fleet = listing.map_err(|error| match &part.role {
            Some((account, _)) => error.context(format!("{key} (role {})", account.role_arn)),
            None => error,
        })?;
        // Auto Scaling, group owners and the merge of parts still edit
        // the host's owned model.
        let mut instances = fleet.instances();
        if key.account.is_some() {
            for instance in &mut instances {
                if instance.account.is_none() {
                    instance.account.clone_from(&key.account);
                }
            }
        }
        // Auto Scaling has what is left of the fetch's time, and at least
        // one attempt's: late, the fleet is taken with the lifecycles it
        // had.
        let left = self
            .settings
            .fetch_timeout
            .saturating_sub(started.elapsed())
            .max(self.settings.attempt_timeout);
        part.auto_scaling.fill(&mut instances, left).await;
        if part.role.is_some() {
            part.group_owners
                .fill(&part.security_groups, &mut instances, left)
                .await;
        }
        Ok(instances)
    }

    /// Every page of one region under the configured filters.
    async fn fetch_region(&self, region: &str, client: &Client) -> Result<Fleet, SourceError> {
        let filters: Vec<_> = self.settings.filters.iter().map(Filter::to_sdk).collect();
        let fleet = self.list_pages(region, client, filters).await?;
        tracing::debug!(region, instances = fleet.len(), "Region fetched.");
        Ok(fleet)
    }

    /// Every page of `DescribeInstances` under `filters` in one region,
    /// each read once, straight into the region's columns
    /// ([`PageReader`]), following `NextToken` until EC2 gives none. A
    /// token seen before would list pages again (or forever): an error,
    /// never the end of the listing. Tokens that never repeat end at the
    /// caller's deadline.
    pub(super) async fn list_pages(
        &self,
        region: &str,
        client: &Client,
        filters: Vec<aws_sdk_ec2::types::Filter>,
    ) -> Result<Fleet, SourceError> {
        let mut fleet = FleetBuilder::with_capacity(0);
        let mut tokens = HashSet::new();
        let mut next_token: Option<String> = None;
        let mut page_count: u64 = 0;
        loop {
            let reader = PageReader::new(region);
            client
                .describe_instances()
                .set_filters(Some(filters.clone()))
                .max_results(self.settings.page_size)
                .set_next_token(next_token.take())
                .customize()
                .interceptor(reader.clone())
                .send()
                .await
                .map_err(|err| self.describe_error(region, err))?;
            page_count += 1;
            let page = match reader.take() {
                Some(Ok(page)) => page,
                Some(Err(fault)) => {
                    return Err(SourceError::Unavailable(format!(
                        "DescribeInstances in {region} at {}: {fault}; the fleet is not taken",
                        self.endpoint(region)
                    )));
                }
                None => {
                    return Err(SourceError::Unavailable(format!(
                        "DescribeInstances in {region} at {}: the answer was taken without its \
                         body being read; the fleet is not taken",
                        self.endpoint(region)
                    )));
                }
            };
            fleet.append(&page.fleet).map_err(|err| {
                SourceError::Unavailable(format!("DescribeInstances in {region}: {err}"))
            })?;
            match page.next_token.filter(|token| !token.is_empty()) {
                None => break,
                Some(token) if tokens.contains(&token) => {
                    return Err(SourceError::Unavailable(format!(
                        "EC2 returned the same page token twice in {region} (page {page_count} \
                         of DescribeInstances at {}): following it would list pages again, so \
                         the listing is not taken",
                        self.endpoint(region)
                    )));
                }
                Some(token) => {
                    tokens.insert(token.clone());
                    next_token = Some(token);
                }
            }
        }
        tracing::debug!(region, pages = page_count, "DescribeInstances paged.");
        Ok(fleet.finish())
    }

    /// The client of `region`, if the source reads it.
    /// The client of `region` in `account` (`None`: this node's own), if
    /// the source reads it. Without roles, every account is this node's.
    pub(super) fn client(&self, account: Option<&str>, region: &str) -> Option<&Client> {
        self.part_of(account, region).map(|part| &part.ec2)
    }

    fn part_of(&self, account: Option<&str>, region: &str) -> Option<&PartClients> {
        self.parts.iter().find(|part| {
            part.key.region == region
                && (part.key.account.is_none() || part.key.account.as_deref() == account)
        })
    }

    /// Gives the groups of `instances`, found in `region` of `account`,
    /// the owners EC2 names (asking about groups not met before), when the
    /// account is reached through a role.
    pub(super) async fn fill_group_owners(
        &self,
        account: Option<&str>,
        region: &str,
        instances: &mut [Instance],
    ) {
        if let Some(part) = self.part_of(account, region)
            && part.role.is_some()
        {
            part.group_owners
                .fill(
                    &part.security_groups,
                    instances,
                    self.settings.attempt_timeout,
                )
                .await;
        }
    }

    /// The endpoint of `region`, for people.
    fn endpoint(&self, region: &str) -> String {
        self.settings
            .endpoint_url
            .clone()
            .unwrap_or_else(|| format!("the EC2 endpoint of {region}"))
    }

    /// Why the merged fleet's ids are refused, with the regions involved.
    pub(super) fn id_error(&self, instances: &[Instance], problem: IdProblem) -> SourceError {
        let region_of = |index: usize| {
            instances
                .get(index)
                .and_then(|instance| instance.region.as_deref())
                .unwrap_or("an unknown region")
                .to_owned()
        };
        SourceError::Unavailable(match &problem {
            IdProblem::Repeated { first, second, .. } => format!(
                "DescribeInstances listed the same instance twice (in {} and {}): {problem}; \
                 the fleet changed or was listed again while it was read, so it is not taken",
                region_of(*first),
                region_of(*second)
            ),
            IdProblem::Empty { index } | IdProblem::Unusable { index, .. } => format!(
                "DescribeInstances in {} returned an unusable instance id: {problem}",
                region_of(*index)
            ),
        })
    }

    /// Says what went wrong in the operator's terms. Credentials never
    /// appear: the SDK's errors do not carry them.
    fn describe_error(&self, region: &str, err: SdkError<DescribeInstancesError>) -> SourceError {
        let endpoint = self.endpoint(region);
        let detail = crate::report::error_chain(&err);
        if let Some(fault) = page_fault(&err) {
            return SourceError::Unavailable(format!(
                "DescribeInstances in {region} at {endpoint}: {fault}; the fleet is not taken"
            ));
        }
        match &err {
            SdkError::ServiceError(context) => {
                let status = context.raw().status().as_u16();
                let Some(code) = context.err().code() else {
                    // Not an EC2 error document: say what came back.
                    let body = context.raw().body().bytes().unwrap_or_default();
                    return SourceError::Unavailable(format!(
                        "DescribeInstances failed in {region} at {endpoint} with HTTP {status} \
                         after up to {} attempts: the response is not an EC2 error document ({})",
                        self.settings.max_attempts,
                        excerpt(body)
                    ));
                };
                // What an endpoint says goes to a terminal: printable, short.
                let code = printable(code, 100);
                let message = printable(context.err().message().unwrap_or(""), 300);
                let unavailable = |what: String| SourceError::Unavailable(what);
                match code.as_str() {
                    "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
                        unavailable(format!(
                            "access denied in {region}: the credentials lack the IAM permission \
                             ec2:DescribeInstances ({code}: {message})"
                        ))
                    }
                    "AuthFailure"
                    | "InvalidClientTokenId"
                    | "SignatureDoesNotMatch"
                    | "UnrecognizedClientException"
                    | "ExpiredToken"
                    | "RequestExpired" => unavailable(format!(
                        "{endpoint} rejected the credentials ({code}: {message})"
                    )),
                    "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => {
                        SourceError::Throttled(format!(
                            "{endpoint} kept throttling DescribeInstances in {region} after {} \
                             attempts ({code})",
                            self.settings.max_attempts
                        ))
                    }
                    "InvalidParameterValue"
                    | "InvalidParameterCombination"
                    | "InvalidParameter" => SourceError::Input(format!(
                        "EC2 refused the request in {region} (check --filter): {code}: {message}"
                    )),
                    _ => unavailable(format!(
                        "DescribeInstances failed in {region} with HTTP {status} after up to {} \
                         attempts: {code}: {message}",
                        self.settings.max_attempts
                    )),
                }
            }
            SdkError::TimeoutError(_) => SourceError::Unavailable(format!(
                "{endpoint} did not answer within {:?} (attempt timeout) in {region}",
                self.settings.attempt_timeout
            )),
            SdkError::DispatchFailure(failure) if failure.is_timeout() => {
                SourceError::Unavailable(format!(
                    "cannot connect to {endpoint} within {:?}: {detail}",
                    self.settings.connect_timeout
                ))
            }
            SdkError::DispatchFailure(failure) if failure.is_io() => {
                SourceError::Unavailable(format!("cannot reach {endpoint}: {detail}"))
            }
            _ if detail.contains("credentials") => SourceError::Unavailable(format!(
                "no usable AWS credentials (environment, profile, SSO or instance role): {detail}"
            )),
            _ => SourceError::Unavailable(format!(
                "DescribeInstances failed in {region} at {endpoint}: {detail}"
            )),
        }
    }
}

#[async_trait::async_trait]
impl InventorySource for Ec2Source {
    fn describe(&self) -> String {
        let regions: Vec<&str> = self.regions().collect();
        let accounts = match self.accounts().count() {
            0 => String::new(),
            1 => " in 1 account".to_owned(),
            count => format!(" in {count} accounts"),
        };
        match &self.settings.endpoint_url {
            Some(endpoint) => format!("ec2:{}{accounts} at {endpoint}", regions.join(",")),
            None => format!("ec2:{}{accounts}", regions.join(",")),
        }
    }

    async fn fetch(&self) -> Result<Inventory, SourceError> {
        let listing = self.list_fleet().await?;
        let several = self.keys.len() > 1;
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = held
            .as_ref()
            .map(|(instances, stale)| (instances.as_slice(), stale.as_slice()));
        let (instances, stale_parts) = patch(listing, kept)?;
        check_ids(&instances).map_err(|problem| self.id_error(&instances, problem))?;
        if several {
            *held = Some((instances.clone(), stale_parts.clone()));
        }
        drop(held);
        Ok(Inventory {
            instances: instances.into(),
            source: self.describe(),
            fetched_at: SystemTime::now(),
            snapshot: None,
            unconfirmed: Vec::new(),
            stale_parts,
        })
    }
}

/// Region from the environment, then the profile, then (if allowed) IMDS.
fn region_chain(settings: &Ec2Settings) -> RegionProviderChain {
    let mut profile = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(name) = &settings.profile {
        profile = profile.profile_name(name);
    }
    let chain = RegionProviderChain::first_try(
        aws_config::environment::EnvironmentVariableRegionProvider::new(),
    )
    .or_else(profile.build());
    if settings.region_from_imds {
        chain.or_else(
            aws_config::imds::region::ImdsRegionProvider::builder()
                .imds_client(crate::identity::imds_client())
                .build(),
        )
    } else {
        chain
    }
}

/// The fault [`PageGuard`] found, wherever the SDK put it in the chain.
fn page_fault<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e PageFault> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(fault) = err.downcast_ref::<PageFault>() {
            return Some(fault);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_ec2_endpoint_stays_out_of_the_configuration_s3_shares() {
        let settings = Ec2Settings {
            regions: vec!["us-east-1".to_owned()],
            endpoint_url: Some("http://127.0.0.1:9".to_owned()),
            region_from_imds: false,
            ..Ec2Settings::default()
        };
        let source = Ec2Source::connect_counting(settings, ApiCalls::default())
            .await
            .unwrap();
        assert_eq!(
            source.sdk_config().endpoint_url(),
            std::env::var("AWS_ENDPOINT_URL").ok().as_deref(),
            "the snapshot's S3 would be sent to EC2's endpoint"
        );
    }
}
