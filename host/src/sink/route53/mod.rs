//! The Route 53 sink: the fleet as A, AAAA and SRV records in a private
//! hosted zone, one change batch of exactly what changed per publication.
//!
//! On each publication the writing node ([`writer`]) reads the record sets
//! it owns in the zone ([`records::owns`]: the pattern's shape), computes
//! those the document asks for ([`records::desired`]) and sends the
//! difference ([`diff`]) as one `ChangeResourceRecordSets` batch (more only
//! past Route 53's batch limits), nothing when nothing changed. A stale
//! document writes nothing: the last fresh listing's records stay. A failed
//! batch fails the publication; the publisher counts it and publishes the
//! newest answer again after a backoff ([`Route53Sink::retry_after`]).

mod diff;
mod records;
mod writer;
mod zone;

use super::{Publication, Sink};
use crate::settings::route53::Route53Config;
use std::time::Duration;
use tokio::sync::OnceCell;
use writer::Writer;
use zone::Zone;

/// The longest one publication may take, every page and batch included.
const PUBLISH_LIMIT: Duration = Duration::from_secs(120);
/// The first wait before a failed publication is tried again; it doubles
/// with each failure in a row, up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(300);

pub struct Route53Sink {
    config: Route53Config,
    /// The zone's client and name, once the zone was found private and the
    /// pattern inside it.
    zone: OnceCell<(Zone, String)>,
}

impl Route53Sink {
    pub fn new(config: Route53Config) -> Self {
        Route53Sink {
            config,
            zone: OnceCell::new(),
        }
    }

    /// The zone, checked once: private, and the pattern's names inside it.
    async fn zone(&self) -> Result<&Zone, String> {
        let (zone, _) = self
            .zone
            .get_or_try_init(|| async {
                let zone = Zone::connect(self.config.zone_id.clone()).await;
                let name = zone.private_name().await?;
                let suffix = self.config.name.suffix();
                if suffix != name && !suffix.ends_with(&format!(".{name}")) {
                    return Err(format!(
                        "the names of pattern ending in {suffix} are not inside hosted zone \
                         {} ({name})",
                        self.config.zone_id.as_str()
                    ));
                }
                Ok((zone, name))
            })
            .await?;
        Ok(zone)
    }

    async fn write(&self, publication: &Publication<'_>) -> Result<(), String> {
        let membership = publication.membership;
        let ttl = i64::try_from(self.config.ttl.as_secs()).unwrap_or(i64::MAX);
        let desired = records::desired(membership, &self.config.name, ttl);
        if !desired.left_out.is_empty() {
            tracing::warn!(sink = %self.describe(), left_out = ?desired.left_out, "Roles, clusters or instance ids that are no DNS label are left out of the records.");
        }
        if !desired.capped.is_empty() {
            tracing::warn!(sink = %self.describe(), names = ?desired.capped, most = records::MAX_VALUES, "Record sets cut to their most values; the lowest instance ids are kept.");
        }
        let zone = self.zone().await?;
        let current = zone.owned(&self.config.name).await?;
        let changes = diff::changes(&desired.sets, &current);
        if changes.is_empty() {
            tracing::debug!(sink = %self.describe(), "Route 53 records already as the fleet says.");
            return Ok(());
        }
        let upserts = changes
            .iter()
            .filter(|change| change.action == diff::Action::Upsert)
            .count();
        let deletes = changes.len() - upserts;
        let batches = diff::batches(changes);
        let count = batches.len();
        for (index, batch) in batches.iter().enumerate() {
            let comment = format!(
                "rollcall: {} members, fetched {} (batch {} of {count})",
                membership.members.len(),
                membership.inventory.fetched_at,
                index + 1
            );
            zone.apply(batch, &comment).await?;
        }
        tracing::info!(sink = %self.describe(), upserts, deletes, batches = count, "Route 53 records written.");
        Ok(())
    }
}

#[async_trait::async_trait]
impl Sink for Route53Sink {
    fn describe(&self) -> String {
        format!("route53 {}", self.config.zone_id.as_str())
    }

    async fn publish(&self, publication: &Publication<'_>) -> Result<(), String> {
        let membership = publication.membership;
        if membership.inventory.stale {
            tracing::debug!(sink = %self.describe(), "The answer is stale: the records are left as they are.");
            return Ok(());
        }
        match writer::writer(membership, self.config.writer_role.as_deref()) {
            Writer::Here(why) => {
                tracing::debug!(sink = %self.describe(), why, "This node writes the records.");
            }
            Writer::Elsewhere(why) => {
                tracing::debug!(sink = %self.describe(), %why, "Another node writes the records.");
                return Ok(());
            }
        }
        tokio::time::timeout(PUBLISH_LIMIT, self.write(publication))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the records were not written within {PUBLISH_LIMIT:?}"
                ))
            })
    }

    fn retry_after(&self, failures: u32) -> Option<Duration> {
        let doublings = failures.saturating_sub(1).min(16);
        Some(RETRY_FIRST.saturating_mul(1 << doublings).min(RETRY_MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::sample;

    fn sink() -> Route53Sink {
        let config: Route53Config =
            toml::from_str("zone_id = \"Z1\"\nname = \"{role}.fleet.internal\"\n").unwrap();
        Route53Sink::new(config)
    }

    #[tokio::test]
    async fn a_stale_answer_writes_nothing_and_asks_route53_nothing() {
        // Self is the writer; a call would fail on the discard port.
        let mut membership = sample(&[("i-1", "monitor")], &[]);
        membership.own = Some(crate::membership::SelfEntry {
            instance_id: "i-1".to_owned(),
            role: Some("monitor".to_owned()),
            clusters: Vec::new(),
            leaving: None,
        });
        membership.inventory.stale = true;
        let sink = sink();
        let publication = Publication {
            membership: &membership,
            changes: &[],
        };
        assert_eq!(sink.publish(&publication).await, Ok(()));
        assert!(sink.zone.get().is_none(), "no client was made");
    }

    #[test]
    fn a_fresh_empty_fleet_deletes_every_owned_record_set_with_its_values() {
        let sink = sink();
        let empty = sample(&[], &[]);
        let desired = records::desired(&empty, &sink.config.name, 60);
        assert!(desired.sets.is_empty());
        let current: records::RecordSets = [(
            ("monitor.fleet.internal.".to_owned(), records::RecordType::A),
            records::RecordSet {
                name: "monitor.fleet.internal.".to_owned(),
                kind: records::RecordType::A,
                ttl: 300,
                values: vec!["10.0.0.1".to_owned()],
            },
        )]
        .into_iter()
        .collect();
        let changes = diff::changes(&desired.sets, &current);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].action, diff::Action::Delete);
        assert_eq!(changes[0].set, current.values().next().unwrap().clone());
    }

    #[test]
    fn a_failed_publication_is_retried_after_a_doubling_wait() {
        let sink = sink();
        let waits: Vec<u64> = [1, 2, 3, 9, 10, u32::MAX]
            .into_iter()
            .map(|failures| sink.retry_after(failures).unwrap().as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 256, 300, 300]);
    }
}
