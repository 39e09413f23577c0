//! Instances asked for by id: a refresh of the few instances events name,
//! without listing the fleet ([`Ec2Source::describe_ids`]).
//!
//! The ids go in the `instance-id` filter, not in `InstanceIds`: EC2 fails
//! a whole `InstanceIds` call when one id is not visible yet
//! (`InvalidInstanceID.NotFound`, as for an instance launched a moment
//! ago), where a filter only matches fewer. The source's own filters go
//! beside it, so an instance outside them is not found, just as a listing
//! would leave it out. EC2 takes at most [`MAX_FILTER_VALUES`] filter
//! values a call, all filters together (`FilterLimitExceeded`), so the ids
//! go in batches of what the source's filters leave. Every page is read as
//! a listing's is: through the page guard, parsed by the same code, each
//! attempt counted in the source's `ApiCalls`, the whole within
//! `--fetch-timeout`. Auto Scaling is not asked: the instances come back
//! with no lifecycle, for the caller to merge.

// Read by the coordinator's event-driven refresh, built beside this one;
// until it lands, only the tests (with `internals`) use what is here.
#![cfg_attr(not(any(test, feature = "internals")), allow(dead_code))]

use super::ec2::Ec2Source;
use super::ids::check_ids;
use super::{Instance, SourceError};
use crate::settings::Filter;
use std::collections::HashSet;

/// The most filter values one `DescribeInstances` call takes, all filters
/// together: EC2 answers more with `FilterLimitExceeded` ("The maximum
/// number of filter values specified on a single call is 200").
pub const MAX_FILTER_VALUES: usize = 200;

/// What EC2 said of the ids asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByIds {
    /// The instances EC2 returned, in the source's model.
    pub found: Vec<Instance>,
    /// The ids asked for that it did not return, in the order asked: not
    /// known to EC2 (yet, or any more), outside the source's filters, or
    /// in a region the source does not read.
    pub outside: Vec<String>,
}

impl Ec2Source {
    /// The instances of `ids` in `region` of `account`, under the source's
    /// filters: those EC2 returned, and the ids it did not. An
    /// account-region the source does not read has every id outside, and
    /// costs no call (without roles, every account is this node's own).
    pub async fn describe_ids(
        &self,
        account: &str,
        region: &str,
        ids: &[String],
    ) -> Result<ByIds, SourceError> {
        let mut seen = HashSet::new();
        let asked: Vec<String> = ids
            .iter()
            .filter(|id| seen.insert(id.as_str()))
            .cloned()
            .collect();
        let client = match self.client(Some(account), region) {
            Some(client) if !asked.is_empty() => client,
            _ => {
                return Ok(ByIds {
                    found: Vec::new(),
                    outside: asked,
                });
            }
        };
        let configured = &self.settings().filters;
        let per_call = ids_per_call(configured)?;
        let fetch_timeout = self.settings().fetch_timeout;
        let asking = async {
            let mut found = Vec::new();
            for batch in asked.chunks(per_call) {
                let mut filters: Vec<_> = configured.iter().map(Filter::to_sdk).collect();
                filters.push(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("instance-id")
                        .set_values(Some(batch.to_vec()))
                        .build(),
                );
                found.extend(self.list_pages(region, client, filters).await?.instances());
            }
            Ok::<_, SourceError>(found)
        };
        let found = tokio::time::timeout(fetch_timeout, asking)
            .await
            .map_err(|_| {
                SourceError::Unavailable(format!(
                    "describing {} instances by id in {region} took longer than {:?} \
                     (--fetch-timeout)",
                    asked.len(),
                    fetch_timeout
                ))
            })??;
        check_ids(&found).map_err(|problem| self.id_error(&found, problem))?;
        if let Some(stray) = found
            .iter()
            .find(|instance| !seen.contains(instance.id.as_str()))
        {
            return Err(SourceError::Unavailable(format!(
                "DescribeInstances in {region} returned {:?}, which was not asked for: the \
                 endpoint ignored the instance-id filter, so its answer is not taken",
                super::printable(&stray.id, 64)
            )));
        }
        let mut found = found;
        self.fill_group_owners(Some(account), region, &mut found)
            .await;
        let returned: HashSet<&str> = found.iter().map(|instance| instance.id.as_str()).collect();
        let outside = asked
            .iter()
            .filter(|id| !returned.contains(id.as_str()))
            .cloned()
            .collect();
        tracing::debug!(
            region,
            asked = asked.len(),
            found = found.len(),
            "Instances described by id."
        );
        Ok(ByIds { found, outside })
    }
}

/// How many ids one call takes beside `filters`: what they leave of
/// [`MAX_FILTER_VALUES`].
fn ids_per_call(filters: &[Filter]) -> Result<usize, SourceError> {
    let used: usize = filters.iter().map(|filter| filter.values.len()).sum();
    match MAX_FILTER_VALUES.checked_sub(used) {
        Some(left) if left > 0 => Ok(left),
        _ => Err(SourceError::Input(format!(
            "the source's filters hold {used} values, leaving none of the {MAX_FILTER_VALUES} \
             EC2 takes in a call for the instance ids to describe"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(values: usize) -> Filter {
        Filter {
            name: "tag:role".to_owned(),
            values: (0..values).map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn the_ids_get_what_the_filters_leave_of_200_values() {
        assert_eq!(ids_per_call(&[]).unwrap(), 200);
        assert_eq!(ids_per_call(&[filter(1), filter(3)]).unwrap(), 196);
        assert_eq!(ids_per_call(&[filter(199)]).unwrap(), 1);
        let err = ids_per_call(&[filter(150), filter(50)]).unwrap_err();
        assert!(matches!(err, SourceError::Input(_)));
        assert!(err.to_string().contains("hold 200 values"), "{err}");
        assert!(ids_per_call(&[filter(500)]).is_err());
    }
}
