//! Auto Scaling's word on a listed fleet: after a whole EC2 listing, the
//! groups its instances name in their `aws:autoscaling:groupName` tag are
//! described (`DescribeAutoScalingGroups`, [`NAMES_PER_CALL`] names a call,
//! every page, per region), and each instance gets its lifecycle state and
//! group; a terminating one is marked as leaving.
//!
//! Auto Scaling only adds to a listing: a fleet without the tag makes no
//! call at all (so `ec2:DescribeInstances` stays the only permission such a
//! fleet needs), and a call that fails never fails or shrinks the listing:
//! the instances of that region keep the lifecycle the last answer gave
//! them, and a WARN says why. Answers are bounded like EC2's pages
//! ([`PageGuard`]), in groups asked per listing ([`MAX_GROUPS`]) and in
//! instances read ([`MAX_INSTANCES`]).

use super::calls::ApiCalls;
use super::page_guard::{PageGuard, printable};
use super::parts::PartKey;
use super::{Instance, LeaveReason, Leaving, Lifecycle, LifecycleState};
use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::config::Region;
use aws_sdk_autoscaling::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsError;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The tag EC2 gives every instance an Auto Scaling group launched.
pub const GROUP_TAG: &str = "aws:autoscaling:groupName";

/// Group names per `DescribeAutoScalingGroups` call: the API's limit
/// without a larger `MaxRecords`, and the page size asked, so a batch is
/// normally one page.
pub const NAMES_PER_CALL: usize = 50;

/// The most groups asked about per listing, all regions together; the
/// instances of further groups keep their last known lifecycle.
pub const MAX_GROUPS: usize = 1_000;

/// The most instances one listing's answers may hold, all groups together
/// (a group holds at most 10,000 by Auto Scaling's own quota); a region
/// whose answers hold more is taken as failed.
pub const MAX_INSTANCES: usize = 100_000;

/// The most pages one batch of [`NAMES_PER_CALL`] names is read in. A batch
/// asks for as many groups a page as it names, so it is normally one page;
/// an answer that keeps paging past this is taken as failed.
pub const MAX_PAGES_PER_BATCH: usize = 10;

/// Asks Auto Scaling about the groups of a listed fleet, one client per
/// region, and remembers the last answer per instance.
pub(super) struct AutoScaling {
    clients: Vec<(String, Client)>,
    /// Each grouped instance's lifecycle as the last answer (or the one
    /// before, for a region that failed since) gave it.
    previous: Mutex<HashMap<String, Lifecycle>>,
}

/// A group name and the instances whose tag names it, per region.
type Wanted = BTreeMap<String, BTreeSet<String>>;

impl AutoScaling {
    /// Clients for `regions` with `config`'s credentials, retries and
    /// timeouts, counting every attempt into `calls`. The endpoint is the
    /// SDK's (`AWS_ENDPOINT_URL_AUTO_SCALING`, `AWS_ENDPOINT_URL`, the
    /// profile): never EC2's `--endpoint-url`, which may be a VPC endpoint
    /// of EC2 alone.
    pub(super) fn new(
        config: &aws_config::SdkConfig,
        account: Option<&str>,
        regions: &[String],
        calls: &ApiCalls,
    ) -> AutoScaling {
        let clients = regions
            .iter()
            .map(|region| {
                let part = PartKey::new(account, region);
                let config = aws_sdk_autoscaling::config::Builder::from(config)
                    .region(Region::new(region.clone()))
                    .interceptor(PageGuard::DESCRIBE_AUTO_SCALING_GROUPS)
                    .interceptor(calls.counting_auto_scaling(&part))
                    .build();
                (region.clone(), Client::from_conf(config))
            })
            .collect();
        AutoScaling {
            clients,
            previous: Mutex::new(HashMap::new()),
        }
    }

    /// Fills the lifecycle of every instance whose tag names a group (and
    /// `leaving` of the terminating ones), asking for at most `within`.
    /// Never fails: what cannot be asked keeps its last known lifecycle.
    pub(super) async fn fill(&self, instances: &mut [Instance], within: Duration) {
        let wanted = wanted_groups(instances);
        if wanted.is_empty() {
            self.previous
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            return;
        }
        let asks = self.clients.iter().filter_map(|(region, client)| {
            let names: Vec<String> = wanted.get(region)?.iter().cloned().collect();
            Some(async move { (region.as_str(), self.describe(client, &names).await) })
        });
        let answers = match tokio::time::timeout(within, futures::future::join_all(asks)).await {
            Ok(answers) => answers,
            Err(_) => {
                tracing::warn!(
                    after = ?within,
                    "Auto Scaling did not answer in time; the instances keep the lifecycle of \
                     the last answer."
                );
                Vec::new()
            }
        };
        let mut answered: HashMap<&str, HashMap<String, Lifecycle>> = HashMap::new();
        for (region, answer) in answers {
            match answer {
                Ok(states) => {
                    answered.insert(region, states);
                }
                Err(error) => {
                    tracing::warn!(
                        region,
                        %error,
                        "Auto Scaling could not be asked; the region's instances keep the \
                         lifecycle of the last answer."
                    );
                }
            }
        }
        let mut previous = self.previous.lock().unwrap_or_else(PoisonError::into_inner);
        *previous = apply(instances, &wanted, &answered, std::mem::take(&mut previous));
    }

    /// Every group of `names` in `client`'s region, batch by batch and page by page:
    /// each instance's lifecycle, or why there is none to give.
    async fn describe(
        &self,
        client: &Client,
        names: &[String],
    ) -> Result<HashMap<String, Lifecycle>, String> {
        let mut states = HashMap::new();
        for batch in names.chunks(NAMES_PER_CALL) {
            let mut tokens = HashSet::new();
            let mut next_token: Option<String> = None;
            for page_number in 1.. {
                if page_number > MAX_PAGES_PER_BATCH {
                    return Err(format!(
                        "Auto Scaling kept paging past {MAX_PAGES_PER_BATCH} pages for \
                         {} group names",
                        batch.len()
                    ));
                }
                let page = client
                    .describe_auto_scaling_groups()
                    .set_auto_scaling_group_names(Some(batch.to_vec()))
                    .max_records(NAMES_PER_CALL as i32)
                    .set_next_token(next_token.take())
                    .send()
                    .await
                    .map_err(|err| describe_error(&err))?;
                for group in page.auto_scaling_groups.unwrap_or_default() {
                    let name = group.auto_scaling_group_name.unwrap_or_default();
                    for member in group.instances.unwrap_or_default() {
                        let Some(id) = member.instance_id else {
                            continue;
                        };
                        if states.len() == MAX_INSTANCES {
                            return Err(format!(
                                "the groups hold more than {MAX_INSTANCES} instances, more than \
                                 rollcall reads in a listing"
                            ));
                        }
                        let state = member
                            .lifecycle_state
                            .as_ref()
                            .map_or("", |state| state.as_str());
                        states.insert(
                            id,
                            Lifecycle::in_group(
                                name.clone(),
                                LifecycleState::from_auto_scaling(state),
                            ),
                        );
                    }
                }
                match page.next_token.filter(|token| !token.is_empty()) {
                    None => break,
                    Some(token) if !tokens.insert(token.clone()) => {
                        return Err(
                            "Auto Scaling returned the same page token twice: following it \
                             would list pages again"
                                .to_owned(),
                        );
                    }
                    Some(token) => next_token = Some(token),
                }
            }
        }
        Ok(states)
    }
}

/// Gives each instance the lifecycle the answers of its region say, or,
/// where its region did not answer (or its group was not asked), the one
/// `previous` remembers; a tagged instance Auto Scaling does not list is in
/// no group's lifecycle, with the tag's group. A terminating instance is
/// marked leaving unless it already is. Gives what to remember.
fn apply(
    instances: &mut [Instance],
    wanted: &Wanted,
    answered: &HashMap<&str, HashMap<String, Lifecycle>>,
    mut previous: HashMap<String, Lifecycle>,
) -> HashMap<String, Lifecycle> {
    let mut remembered = HashMap::new();
    for instance in instances.iter_mut() {
        let tagged = group_tag(instance).map(str::to_owned);
        // Answered for this instance: its region answered, and its group
        // was among those asked.
        let asked = instance.region.as_deref().and_then(|region| {
            let asked_group = tagged.as_ref().is_none_or(|group| {
                wanted
                    .get(region)
                    .is_some_and(|names| names.contains(group))
            });
            answered.get(region).filter(|_| asked_group)
        });
        let lifecycle = match asked {
            Some(states) => states.get(&instance.id).cloned(),
            None => previous.remove(&instance.id),
        };
        let Some(lifecycle) = lifecycle.or_else(|| {
            tagged.map(|group| Lifecycle {
                state: LifecycleState::NotInGroup,
                group: Some(group),
            })
        }) else {
            continue;
        };
        if matches!(
            lifecycle.state,
            LifecycleState::Terminating | LifecycleState::TerminatingWait
        ) && instance.leaving.is_none()
        {
            instance.leaving = Some(Leaving::new(LeaveReason::AutoScalingTermination, None));
        }
        remembered.insert(instance.id.clone(), lifecycle.clone());
        instance.lifecycle = lifecycle;
    }
    remembered
}

/// The group an instance's tag names, if any.
fn group_tag(instance: &Instance) -> Option<&str> {
    instance
        .tags
        .iter()
        .find(|tag| tag.key == GROUP_TAG)
        .map(|tag| tag.value.as_str())
        .filter(|group| !group.is_empty())
}

/// The groups the instances' tags name, per region, at most
/// [`MAX_GROUPS`] in all (the first by name; a WARN names how many more).
fn wanted_groups(instances: &[Instance]) -> Wanted {
    let mut wanted = Wanted::new();
    for instance in instances {
        if let (Some(group), Some(region)) = (group_tag(instance), instance.region.as_deref()) {
            wanted
                .entry(region.to_owned())
                .or_default()
                .insert(group.to_owned());
        }
    }
    let total: usize = wanted.values().map(BTreeSet::len).sum();
    if total > MAX_GROUPS {
        tracing::warn!(
            groups = total,
            asked = MAX_GROUPS,
            "The fleet names more Auto Scaling groups than a listing asks about; the instances of \
             the others keep their last known lifecycle."
        );
        let mut left = MAX_GROUPS;
        for names in wanted.values_mut() {
            let kept = names.len().min(left);
            left -= kept;
            *names = std::mem::take(names).into_iter().take(kept).collect();
        }
        wanted.retain(|_, names| !names.is_empty());
    }
    wanted
}

/// The `DescribeAutoScalingGroups` calls one listing of `instances` takes:
/// one per [`NAMES_PER_CALL`] groups of each region (for the budget's
/// estimate: a page per batch).
pub fn calls_per_listing<'a>(instances: impl IntoIterator<Item = &'a Instance>) -> usize {
    wanted_groups_quietly(instances)
        .values()
        .map(|names| names.len().div_ceil(NAMES_PER_CALL))
        .sum()
}

/// The groups instances name per region, uncapped and without a log.
fn wanted_groups_quietly<'a>(
    instances: impl IntoIterator<Item = &'a Instance>,
) -> BTreeMap<&'a str, HashSet<&'a str>> {
    let mut wanted: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for instance in instances {
        let group = instance
            .lifecycle
            .group
            .as_deref()
            .or_else(|| group_tag(instance));
        if let (Some(group), Some(region)) = (group, instance.region.as_deref()) {
            wanted.entry(region).or_default().insert(group);
        }
    }
    wanted
}

/// What went wrong, in the operator's terms.
fn describe_error(err: &SdkError<DescribeAutoScalingGroupsError>) -> String {
    match err {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = printable(context.err().code().unwrap_or("no error code"), 100);
            let message = printable(context.err().message().unwrap_or(""), 300);
            match code.as_str() {
                "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => format!(
                    "access denied: the credentials lack the IAM permission \
                     autoscaling:DescribeAutoScalingGroups ({code}: {message})"
                ),
                _ => format!(
                    "DescribeAutoScalingGroups failed with HTTP {status}: {code}: {message}"
                ),
            }
        }
        SdkError::TimeoutError(_) => "DescribeAutoScalingGroups timed out".to_owned(),
        other => format!(
            "DescribeAutoScalingGroups failed: {}",
            crate::report::error_chain(other)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Tag;

    fn grouped(id: &str, region: &str, group: &str) -> Instance {
        let mut instance = Instance::running(id);
        instance.region = Some(region.to_owned());
        instance.tags.push(Tag::new(GROUP_TAG, group));
        instance
    }

    #[test]
    fn terminating_instances_leave_and_unanswered_ones_keep_their_last_lifecycle() {
        let mut fleet = [
            grouped("i-1", "us-east-1", "web"),
            grouped("i-2", "us-east-1", "web"),
            grouped("i-3", "us-east-1", "web"),
            grouped("i-4", "eu-west-1", "db"),
            grouped("i-5", "eu-west-1", "db"),
        ];
        let announced = Leaving::new(LeaveReason::Announced, None);
        fleet[1].leaving = Some(announced.clone());
        let wanted = wanted_groups(&fleet);
        let states = HashMap::from([
            (
                "i-1".to_owned(),
                Lifecycle::in_group("web", LifecycleState::TerminatingWait),
            ),
            (
                "i-2".to_owned(),
                Lifecycle::in_group("web", LifecycleState::Terminating),
            ),
        ]);
        // eu-west-1 did not answer; i-4 was standby in the last answer.
        let answered = HashMap::from([("us-east-1", states)]);
        let previous = HashMap::from([(
            "i-4".to_owned(),
            Lifecycle::in_group("db", LifecycleState::Standby),
        )]);

        let remembered = apply(&mut fleet, &wanted, &answered, previous);

        let auto_scaling = Some(Leaving::new(LeaveReason::AutoScalingTermination, None));
        assert_eq!(fleet[0].leaving, auto_scaling);
        assert_eq!(fleet[1].leaving, Some(announced), "already leaving");
        assert_eq!(
            fleet[2].lifecycle,
            Lifecycle::in_group("web", LifecycleState::NotInGroup)
        );
        assert_eq!(fleet[2].leaving, None);
        assert_eq!(
            fleet[3].lifecycle,
            Lifecycle::in_group("db", LifecycleState::Standby)
        );
        assert_eq!(
            fleet[4].lifecycle,
            Lifecycle::in_group("db", LifecycleState::NotInGroup)
        );
        assert_eq!(remembered.len(), 5);
        assert_eq!(remembered["i-4"].state, LifecycleState::Standby);
    }

    #[test]
    fn groups_are_asked_per_region_once_each_and_capped() {
        let fleet = [
            grouped("i-1", "us-east-1", "web"),
            grouped("i-2", "us-east-1", "web"),
            grouped("i-3", "eu-west-1", "web"),
            Instance::running("i-4"),
        ];
        let wanted = wanted_groups(&fleet);
        assert_eq!(wanted.len(), 2);
        assert_eq!(wanted["us-east-1"].len(), 1);
        assert_eq!(calls_per_listing(&fleet), 2);

        let many: Vec<Instance> = (0..MAX_GROUPS + 10)
            .map(|n| grouped(&format!("i-{n}"), "us-east-1", &format!("g-{n:05}")))
            .collect();
        let wanted = wanted_groups(&many);
        assert_eq!(wanted["us-east-1"].len(), MAX_GROUPS);
        assert_eq!(
            calls_per_listing(&many),
            (MAX_GROUPS + 10).div_ceil(NAMES_PER_CALL)
        );
    }
}
