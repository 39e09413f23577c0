//! Who owns each security group. `DescribeInstances` names an instance's
//! groups without their owner; outside a shared VPC the instance's account
//! owns them all, but a group shared from another account (VPC sharing)
//! belongs to that account, and a policy must tell `eg-monitor` of account
//! A from `eg-monitor` of account B. So the groups a listing has not met
//! before are asked of `DescribeSecurityGroups` (the `group-id` filter,
//! [`IDS_PER_CALL`] a call) in the account-region that listed them, once:
//! a group's owner never changes, so after the first listing a fleet costs
//! no such call until a new group appears. Only accounts reached through a
//! role are asked: a fleet of this node's own account alone costs what it
//! did before accounts, and its groups are taken as its instances'
//! accounts'.
//!
//! The lookup adds to a fleet, never fails one: a group EC2 does not show,
//! or a call that fails (no `ec2:DescribeSecurityGroups`, throttled), leaves
//! the instance's own account as the owner; a denied call is not repeated
//! for [`DENIED_FOR`].

use super::Instance;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::Filter;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Group ids a `DescribeSecurityGroups` call asks for: EC2 takes 200 filter
/// values a call.
pub const IDS_PER_CALL: usize = 200;
/// The most groups whose owners are remembered.
const MAX_KNOWN: usize = 100_000;
/// After a call is denied, how long the account-region is not asked again.
const DENIED_FOR: Duration = Duration::from_secs(3600);

/// The owners learnt so far, and whether asking is on hold.
#[derive(Default)]
pub(super) struct GroupOwners {
    /// Group id to owner; `None`: EC2 did not show the group here.
    known: Mutex<HashMap<String, Option<String>>>,
    denied_until: Mutex<Option<tokio::time::Instant>>,
}

impl GroupOwners {
    /// Sets the owner of every group of `instances` EC2 names one for,
    /// asking `client` about the groups not met before, within `within`.
    pub(super) async fn fill(&self, client: &Client, instances: &mut [Instance], within: Duration) {
        let unknown = self.unknown(instances);
        if !unknown.is_empty() && !self.on_hold() {
            let asked = tokio::time::timeout(within, self.ask(client, &unknown)).await;
            match asked {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "Cannot ask EC2 who owns the fleet's security groups; each group is taken as its instance's account's.");
                }
                Err(_) => {
                    tracing::warn!(after = ?within, "EC2 did not say in time who owns the fleet's security groups; each group is taken as its instance's account's.");
                }
            }
        }
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        for group in instances
            .iter_mut()
            .flat_map(|instance| instance.security_groups.iter_mut())
        {
            if let Some(Some(owner)) = known.get(&group.id) {
                group.owner = Some(owner.clone());
            }
        }
    }

    /// The group ids of `instances` not met before, each once.
    fn unknown(&self, instances: &[Instance]) -> Vec<String> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let ids: BTreeSet<&str> = instances
            .iter()
            .flat_map(|instance| instance.security_groups.iter())
            .map(|group| group.id.as_str())
            .filter(|id| !id.is_empty() && !known.contains_key(*id))
            .collect();
        ids.into_iter().map(str::to_owned).collect()
    }

    fn on_hold(&self) -> bool {
        let until = self
            .denied_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.is_some_and(|until| tokio::time::Instant::now() < until)
    }

    /// Asks for `ids`, batch by batch, remembering every answer.
    async fn ask(&self, client: &Client, ids: &[String]) -> Result<(), String> {
        for batch in ids.chunks(IDS_PER_CALL) {
            let answer = client
                .describe_security_groups()
                .filters(
                    Filter::builder()
                        .name("group-id")
                        .set_values(Some(batch.to_vec()))
                        .build(),
                )
                .send()
                .await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(err) => {
                    let code = err.code().unwrap_or_default();
                    if matches!(code, "UnauthorizedOperation" | "AccessDenied") {
                        *self
                            .denied_until
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) =
                            Some(tokio::time::Instant::now() + DENIED_FOR);
                        return Err(format!(
                            "access denied: the credentials lack ec2:DescribeSecurityGroups \
                             ({code}); not asked again for {}",
                            humantime::format_duration(DENIED_FOR)
                        ));
                    }
                    return Err(crate::report::error_chain(&err));
                }
            };
            let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            let mut answered: HashMap<String, Option<String>> =
                batch.iter().map(|id| (id.clone(), None)).collect();
            for group in answer.security_groups.unwrap_or_default() {
                if let (Some(id), Some(owner)) = (group.group_id, group.owner_id)
                    && answered.contains_key(&id)
                    && super::is_account_id(&owner)
                {
                    answered.insert(id, Some(owner));
                }
            }
            if known.len() + answered.len() > MAX_KNOWN {
                known.clear();
            }
            known.extend(answered);
        }
        Ok(())
    }
}
