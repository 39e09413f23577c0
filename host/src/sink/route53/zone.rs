//! The hosted zone through the Route 53 API: its name and privacy
//! (`GetHostedZone`), the record sets the sink owns in it
//! (`ListResourceRecordSets`, every page, a bounded number of them) and one
//! change batch (`ChangeResourceRecordSets`).
//!
//! Credentials, region and endpoint come as for every AWS client of
//! rollcall: the environment, the profile, IMDS (`AWS_ENDPOINT_URL_ROUTE_53`
//! or `AWS_ENDPOINT_URL` point it elsewhere). Route 53 is global: without a
//! region configured, `us-east-1` signs. The SDK does not retry: a failed
//! call fails the publication, which the publisher counts and retries with
//! a backoff, reading the zone again.

use super::diff::{Action, Change};
use super::records::{RecordSet, RecordSets, RecordType, owns};
use crate::settings::route53::{NamePattern, ZoneId};
use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_route53::Client;
use aws_sdk_route53::config::Region;
use aws_sdk_route53::error::DisplayErrorContext;
use aws_sdk_route53::types::{
    ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use std::time::Duration;

/// Record sets one `ListResourceRecordSets` page holds (Route 53's most).
const PAGE_ITEMS: i32 = 300;
/// The most pages read from one zone per publication: 30,000 record sets,
/// three times Route 53's default quota per zone.
pub const MAX_PAGES: usize = 100;
/// How long one call may take to connect, and in all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The zone's client, and what was learned of the zone once.
pub struct Zone {
    client: Client,
    id: ZoneId,
}

impl Zone {
    /// The client for zone `id`; nothing is sent yet.
    pub async fn connect(id: ZoneId) -> Zone {
        let region = RegionProviderChain::default_provider().or_else(Region::new("us-east-1"));
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_timeout(CALL_TIMEOUT)
                    .build(),
            )
            .load()
            .await;
        Zone {
            client: Client::new(&config),
            id,
        }
    }

    /// The zone's name (lowercase, without the final dot), if it is a
    /// private zone.
    pub async fn private_name(&self) -> Result<String, String> {
        let answer = self
            .client
            .get_hosted_zone()
            .id(self.id.as_str())
            .send()
            .await
            .map_err(|err| {
                format!(
                    "GetHostedZone {} failed: {}",
                    self.id.as_str(),
                    DisplayErrorContext(err)
                )
            })?;
        let zone = answer
            .hosted_zone()
            .ok_or_else(|| format!("GetHostedZone {} named no zone", self.id.as_str()))?;
        if !zone.config().is_some_and(|config| config.private_zone()) {
            return Err(format!(
                "hosted zone {} ({}) is public: the route53 sink writes the fleet's private \
                 addresses only into a private hosted zone",
                self.id.as_str(),
                zone.name()
            ));
        }
        let name = zone.name();
        Ok(name.strip_suffix('.').unwrap_or(name).to_lowercase())
    }

    /// The record sets the sink owns in the zone under `pattern`: A, AAAA
    /// and SRV record sets of simple routing whose names have the pattern's
    /// shape.
    pub async fn owned(&self, pattern: &NamePattern) -> Result<RecordSets, String> {
        let mut owned = RecordSets::new();
        let mut start: Option<(String, RrType, Option<String>)> = None;
        for _ in 0..MAX_PAGES {
            let mut ask = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(self.id.as_str())
                .max_items(PAGE_ITEMS);
            if let Some((name, kind, identifier)) = &start {
                ask = ask
                    .start_record_name(name)
                    .start_record_type(kind.clone())
                    .set_start_record_identifier(identifier.clone());
            }
            let page = ask.send().await.map_err(|err| {
                format!(
                    "ListResourceRecordSets {} failed: {}",
                    self.id.as_str(),
                    DisplayErrorContext(err)
                )
            })?;
            for set in page.resource_record_sets() {
                if let Some(set) = owned_set(pattern, set) {
                    owned.insert((set.name.clone(), set.kind), set);
                }
            }
            start = match (
                page.is_truncated(),
                page.next_record_name(),
                page.next_record_type(),
            ) {
                (true, Some(name), Some(kind)) => Some((
                    name.to_owned(),
                    kind.clone(),
                    page.next_record_identifier().map(str::to_owned),
                )),
                _ => return Ok(owned),
            };
        }
        Err(format!(
            "hosted zone {} holds more than {MAX_PAGES} pages of {PAGE_ITEMS} record sets; \
             nothing was changed",
            self.id.as_str()
        ))
    }

    /// Sends `batch` as one `ChangeResourceRecordSets` call.
    pub async fn apply(&self, batch: &[Change], comment: &str) -> Result<(), String> {
        let changes = batch
            .iter()
            .map(sdk_change)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| format!("a change could not be built: {err}"))?;
        let batch = ChangeBatch::builder()
            .comment(comment)
            .set_changes(Some(changes))
            .build()
            .map_err(|err| format!("the change batch could not be built: {err}"))?;
        self.client
            .change_resource_record_sets()
            .hosted_zone_id(self.id.as_str())
            .change_batch(batch)
            .send()
            .await
            .map_err(|err| {
                format!(
                    "ChangeResourceRecordSets {} failed: {}",
                    self.id.as_str(),
                    DisplayErrorContext(err)
                )
            })?;
        Ok(())
    }
}

/// `set` as the sink's own, if it owns it.
fn owned_set(pattern: &NamePattern, set: &ResourceRecordSet) -> Option<RecordSet> {
    let kind = RecordType::from_name(set.r#type().as_str())?;
    if set.set_identifier().is_some() || set.alias_target().is_some() || !owns(pattern, set.name())
    {
        return None;
    }
    let name = set.name().to_lowercase();
    let name = if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    };
    Some(RecordSet {
        name,
        kind,
        ttl: set.ttl()?,
        values: set
            .resource_records()
            .iter()
            .map(|record| record.value().to_owned())
            .collect(),
    })
}

fn sdk_change(change: &Change) -> Result<aws_sdk_route53::types::Change, String> {
    let set = &change.set;
    let records = set
        .values
        .iter()
        .map(|value| ResourceRecord::builder().value(value).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| err.to_string())?;
    let record_set = ResourceRecordSet::builder()
        .name(&set.name)
        .r#type(RrType::from(set.kind.name()))
        .ttl(set.ttl)
        .set_resource_records(Some(records))
        .build()
        .map_err(|err| err.to_string())?;
    aws_sdk_route53::types::Change::builder()
        .action(match change.action {
            Action::Upsert => ChangeAction::Upsert,
            Action::Delete => ChangeAction::Delete,
        })
        .resource_record_set(record_set)
        .build()
        .map_err(|err| err.to_string())
}
