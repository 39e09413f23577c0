//! The Elastic Grid rules as a pure function of settings and fleet, with the
//! reasons `rollcall explain` shows.
//!
//! - Only `running` instances are members; self is evaluated whatever its
//!   state (at boot EC2 may still report it `pending`).
//! - With `require_tags`, an instance must carry every tag named there (with
//!   the value given, or any value for `"*"`) to be a member at all.
//! - Role: `monitor` if in the monitor group (even if also in the agent
//!   group), else `agent` if in the agent group, else no role.
//! - Clusters: with a prefix, every group whose name starts with it, prefix
//!   stripped, sorted.
//! - With `accounts`, only groups owned by one of those accounts count as
//!   the monitor, agent and cluster groups; a group whose owner is unknown
//!   counts as owned by its instance's account.
//! - A monitor registers with every other monitor, an agent with every
//!   monitor, an instance without a role with nobody. With clustering on, only
//!   with monitors that share a cluster with self (two instances without any
//!   cluster count as sharing). Monitors without an address of the chosen
//!   kind stay members but are no registration target; so do monitors that
//!   do not serve (leaving, or held out of service by Auto Scaling: see
//!   `Instance::serves`).
//! - Labels: every member gets `zone` (its availability zone) and
//!   `instance_type` when the fleet knows them, and, for each tag
//!   `labels_from_tags` names that the instance carries, a label of the
//!   tag's key with the tag's value.

use crate::settings::{INSTANCE_TYPE_LABEL, Settings, ZONE_LABEL};
use rollcall_policy_sdk::{
    Answer, ClusterId, Fleet, Instance, Label, Member, RoleId, SecurityGroup, quote,
    share_a_cluster, shared_clusters,
};

/// The role of instances in the monitor group.
pub const MONITOR: &str = "monitor";
/// The role of instances in the agent group.
pub const AGENT: &str = "agent";

/// What a security group of the fleet means to the policy, worked out once
/// per group rather than once per instance.
#[derive(Clone, Copy, Default)]
struct GroupMeaning {
    monitor: bool,
    agent: bool,
    cluster: Option<ClusterId>,
    owner: Owner,
}

/// Whether a group's owner is one of the accounts `accounts` lists.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Owner {
    /// One of them, or every account counts (no `accounts`).
    #[default]
    Listed,
    /// An account `accounts` does not list.
    Unlisted,
    /// Nobody knows: the group counts as its instance's account's.
    Unknown,
}

impl GroupMeaning {
    /// Whether the group counts for an instance whose account `accounts`
    /// lists (`instance_listed`) or not.
    fn counts(self, instance_listed: bool) -> bool {
        match self.owner {
            Owner::Listed => true,
            Owner::Unlisted => false,
            Owner::Unknown => instance_listed,
        }
    }
}

/// Whether `accounts` lists the account that owns `instance`; false when
/// the owner is unknown and `accounts` is set.
fn instance_listed(settings: &Settings, instance: Instance<'_>) -> bool {
    settings.accounts.is_none()
        || instance
            .account()
            .is_some_and(|account| settings.counts_account(account))
}

/// Whether `group` counts for `instance`: its owner (or, unknown, the
/// instance's) is an account `accounts` lists.
fn counts(settings: &Settings, instance: Instance<'_>, group: SecurityGroup<'_>) -> bool {
    match group.owner {
        Some(owner) => settings.counts_account(owner),
        None => instance_listed(settings, instance),
    }
}

/// Decides members and self's registration targets into `answer`, with the
/// reasons when the operator asked to explain an instance.
pub fn decide(settings: &Settings, fleet: &Fleet, answer: &mut Answer) {
    let meanings = group_meanings(settings, fleet, answer);
    let monitor = answer.role(MONITOR);
    let agent = answer.role(AGENT);
    for instance in fleet.instances() {
        if !instance.is_running() && !instance.is_self() {
            answer.note(instance, || {
                format!(
                    "not a member: it is {} (only running instances, and self, are members)",
                    instance.state_name()
                )
            });
            continue;
        }
        if let Some(missing) = missing_tag(settings, instance) {
            answer.note(instance, || format!("not a member: {missing}"));
            continue;
        }
        let (mut is_monitor, mut is_agent) = (false, false);
        let mut clusters = Vec::new();
        let listed = instance_listed(settings, instance);
        for &group in instance.security_group_indices() {
            let meaning = meanings[group as usize];
            if !meaning.counts(listed) {
                continue;
            }
            is_monitor |= meaning.monitor;
            is_agent |= meaning.agent;
            clusters.extend(meaning.cluster);
        }
        let (role, port) = if is_monitor {
            (monitor, settings.monitor_port)
        } else if is_agent {
            (agent, settings.agent_port)
        } else {
            answer.note(instance, || {
                let unlisted = unlisted_groups(settings, instance);
                if unlisted.is_empty() {
                    format!(
                        "no role: in neither the monitor group {} nor the agent group {}",
                        settings.monitor_group, settings.agent_group
                    )
                } else {
                    format!("no role: {unlisted}")
                }
            });
            continue;
        };
        // Cluster ids were handed out in name order: sorting them sorts the
        // names.
        clusters.sort_unstable();
        clusters.dedup();
        let address = settings.address.of(instance);
        if answer.explains(instance) {
            explain_member(
                settings,
                instance,
                answer,
                is_monitor && is_agent,
                &clusters,
            );
        }
        let labels = labels(settings, instance, answer);
        answer.add_member(Member {
            instance: instance.index(),
            role,
            clusters,
            address,
            port,
            labels,
        });
    }
    register(settings, fleet, answer, monitor);
}

/// Classifies every security group of the fleet, and names the clusters in
/// name order so that cluster ids sort as their names do.
fn group_meanings(settings: &Settings, fleet: &Fleet, answer: &mut Answer) -> Vec<GroupMeaning> {
    let mut meanings: Vec<GroupMeaning> = fleet
        .security_groups()
        .map(|group| GroupMeaning {
            monitor: is(group, &settings.monitor_group),
            agent: is(group, &settings.agent_group),
            cluster: None,
            owner: match group.owner {
                _ if settings.accounts.is_none() => Owner::Listed,
                None => Owner::Unknown,
                Some(owner) if settings.counts_account(owner) => Owner::Listed,
                Some(_) => Owner::Unlisted,
            },
        })
        .collect();
    if let Some(prefix) = settings.cluster_group_prefix.as_deref() {
        let mut clusters: Vec<(&str, u32)> = fleet
            .security_groups()
            .filter(|group| meanings[group.index as usize].owner != Owner::Unlisted)
            .filter_map(|group| {
                let cluster = group.name.strip_prefix(prefix)?;
                (!cluster.is_empty()).then_some((cluster, group.index))
            })
            .collect();
        clusters.sort_unstable();
        for (name, group) in clusters {
            meanings[group as usize].cluster = Some(answer.cluster(name));
        }
    }
    meanings
}

/// A member's labels: the tags `labels_from_tags` names that it carries,
/// its zone and its instance type.
fn labels(settings: &Settings, instance: Instance<'_>, answer: &mut Answer) -> Vec<Label> {
    let mut labels = Vec::with_capacity(settings.labels_from_tags.len() + 2);
    for key in &settings.labels_from_tags {
        if let Some(value) = instance.tag(key) {
            labels.push(answer.label(key, value));
        }
    }
    if let Some(zone) = instance.availability_zone() {
        labels.push(answer.label(ZONE_LABEL, zone));
    }
    if let Some(kind) = instance.instance_type() {
        labels.push(answer.label(INSTANCE_TYPE_LABEL, kind));
    }
    labels
}

/// Why `instance` fails `require_tags`, if it does.
fn missing_tag(settings: &Settings, instance: Instance<'_>) -> Option<String> {
    settings
        .require_tags
        .iter()
        .find_map(|(key, wanted)| match instance.tag(key) {
            None => Some(format!(
                "it lacks the tag {key}, which require_tags requires"
            )),
            Some(value) if wanted != "*" && value != wanted => Some(format!(
                "its tag {key} is {}, and require_tags requires {}",
                quote(value),
                quote(wanted)
            )),
            Some(_) => None,
        })
}

/// Whether `group` is the one a setting names, by name or by id.
fn is(group: SecurityGroup<'_>, named: &str) -> bool {
    group.name == named || group.id == named
}

/// Self's registration targets: every other monitor with an address that
/// shares a cluster with self (when clustering is on); with the reason for
/// every monitor when the operator asked to explain self.
fn register(settings: &Settings, fleet: &Fleet, answer: &mut Answer, monitor: RoleId) {
    let Some(own) = fleet.self_instance() else {
        return;
    };
    let Some(own_member) = answer
        .members()
        .iter()
        .find(|member| member.instance == own.index())
        .cloned()
    else {
        answer.note(own, || {
            "self has no role, so it registers with nobody".to_owned()
        });
        return;
    };
    let clustered = settings.cluster_group_prefix.is_some();
    let targets: Vec<u32> = answer
        .members()
        .iter()
        .filter(|target| {
            target.role == monitor
                && target.instance != own.index()
                && target.address.is_some()
                && fleet
                    .instance(target.instance)
                    .is_some_and(|target| target.serves())
                && (!clustered || share_a_cluster(&own_member.clusters, &target.clusters))
        })
        .map(|target| target.instance)
        .collect();
    for index in targets {
        let target = fleet
            .instance(index)
            .expect("members are instances of the fleet");
        answer.register_with(target);
    }
    if answer.explains_targets() {
        explain_targets(settings, fleet, answer, &own_member);
    }
}

/// The reasons for a member's role, clusters and address.
fn explain_member(
    settings: &Settings,
    instance: Instance<'_>,
    answer: &mut Answer,
    in_both_groups: bool,
    clusters: &[ClusterId],
) {
    if !settings.require_tags.is_empty() {
        answer.note(instance, || {
            format!(
                "a member: it carries every tag require_tags requires ({})",
                required_tags(settings)
            )
        });
    }
    let monitor = groups_named(settings, instance, &settings.monitor_group);
    let agent = groups_named(settings, instance, &settings.agent_group);
    answer.note(instance, || match (monitor.is_empty(), in_both_groups) {
        (false, true) => format!(
            "role monitor: in the monitor group {monitor}, which wins over the agent group {agent} it is also in"
        ),
        (false, false) => format!("role monitor: in the monitor group {monitor}"),
        (true, _) => format!("role agent: in the agent group {agent}"),
    });
    let names: Vec<String> = clusters
        .iter()
        .map(|cluster| answer.cluster_name(*cluster).to_owned())
        .collect();
    answer.note(instance, || {
        match settings.cluster_group_prefix.as_deref() {
            None => "no clusters: clustering is off (no cluster_group_prefix)".to_owned(),
            Some(prefix) if names.is_empty() => {
                format!("no clusters: none of its groups' names starts with {prefix}")
            }
            Some(prefix) => format!(
                "clusters {}: from its groups {}",
                names.join(", "),
                describe(instance.security_groups().filter(|group| {
                    group.name.len() > prefix.len()
                        && group.name.starts_with(prefix)
                        && counts(settings, instance, *group)
                }))
            ),
        }
    });
    let unlisted = unlisted_groups(settings, instance);
    if !unlisted.is_empty() {
        answer.note(instance, || format!("not counted: {unlisted}"));
    }
    let kind = settings.address;
    answer.note(instance, || match kind.read(instance) {
        Some(address) => format!("address {address}: its {} address", kind.name()),
        None => format!(
            "no address: it has no {} address, so no one registers with it",
            kind.name()
        ),
    });
}

/// Why each instance of the monitor group is or is not self's registration
/// target.
fn explain_targets(settings: &Settings, fleet: &Fleet, answer: &mut Answer, own: &Member) {
    let mut member_of = vec![None; fleet.len()];
    for (at, member) in answer.members().iter().enumerate() {
        member_of[member.instance as usize] = Some(at);
    }
    let taken = answer.targets().to_vec();
    let monitors = fleet.instances().filter(|instance| {
        instance
            .security_groups()
            .any(|group| is(group, &settings.monitor_group))
    });
    for candidate in monitors {
        let member = member_of[candidate.index() as usize].map(|at| &answer.members()[at]);
        let reason = if candidate.is_self() {
            "not a target: it is self".to_owned()
        } else if !candidate.is_running() {
            format!("not a target: it is {}", candidate.state_name())
        } else if let Some(why) = candidate.unserving_reason() {
            format!("not a target: {why}")
        } else if let Some(missing) = missing_tag(settings, candidate) {
            format!("not a target: {missing}")
        } else if groups_named(settings, candidate, &settings.monitor_group).is_empty() {
            format!("not a target: {}", unlisted_groups(settings, candidate))
        } else if taken.contains(&candidate.index()) {
            match &member {
                Some(member) if settings.cluster_group_prefix.is_some() => format!(
                    "a target: a monitor in {}, as self is",
                    shared(answer, &own.clusters, &member.clusters)
                ),
                _ => "a target: a monitor".to_owned(),
            }
        } else if member.is_some_and(|member| member.address.is_none()) {
            format!(
                "not a target: it has no {} address",
                settings.address.name()
            )
        } else if let Some(member) = member {
            format!(
                "not a target: its clusters ({}) share none with self's ({})",
                answer.cluster_names(&member.clusters),
                answer.cluster_names(&own.clusters)
            )
        } else {
            "not a target: not a member".to_owned()
        };
        answer.note_target(candidate, || reason);
    }
}

/// `key=value` of each required tag, `key` alone for `"*"`.
fn required_tags(settings: &Settings) -> String {
    settings
        .require_tags
        .iter()
        .map(|(key, value)| {
            if value == "*" {
                key.clone()
            } else {
                format!("{key}={value}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The instance's groups a setting names and `accounts` counts, described.
fn groups_named(settings: &Settings, instance: Instance<'_>, named: &str) -> String {
    describe(
        instance
            .security_groups()
            .filter(|group| is(*group, named) && counts(settings, instance, *group)),
    )
}

/// The instance's monitor, agent and cluster groups that `accounts` does
/// not count, with their owners: `its groups eg-monitor (sg-1) of account
/// 222222222222 are of no account accounts lists`; empty when there are
/// none.
fn unlisted_groups(settings: &Settings, instance: Instance<'_>) -> String {
    let prefix = settings.cluster_group_prefix.as_deref();
    let groups: Vec<String> = instance
        .security_groups()
        .filter(|group| {
            is(*group, &settings.monitor_group)
                || is(*group, &settings.agent_group)
                || prefix.is_some_and(|prefix| {
                    group.name.len() > prefix.len() && group.name.starts_with(prefix)
                })
        })
        .filter(|group| !counts(settings, instance, *group))
        .map(|group| match group.owner.or(instance.account()) {
            Some(owner) => format!("{} ({}) of account {owner}", group.name, group.id),
            None => format!("{} ({}) of an unknown account", group.name, group.id),
        })
        .collect();
    if groups.is_empty() {
        return String::new();
    }
    format!(
        "its groups {} are of no account accounts lists",
        groups.join(", ")
    )
}

/// `name (id)` of each group.
fn describe<'a>(groups: impl Iterator<Item = SecurityGroup<'a>>) -> String {
    groups
        .map(|group| format!("{} ({})", group.name, group.id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The clusters two members share, described.
fn shared(answer: &Answer, ours: &[ClusterId], theirs: &[ClusterId]) -> String {
    let common = shared_clusters(ours, theirs);
    match common.len() {
        0 => "no cluster".to_owned(),
        1 => format!("cluster {}", answer.cluster_names(&common)),
        _ => format!("clusters {}", answer.cluster_names(&common)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_policy_sdk::{
        AddressKind, InstanceRecord, InstanceState, LeaveReason, LifecycleState, NoteTopic,
        Resolved,
    };
    use std::collections::BTreeMap;

    fn state(name: &str) -> InstanceState {
        match name {
            "running" => InstanceState::Running,
            "pending" => InstanceState::Pending,
            "stopped" => InstanceState::Stopped,
            "terminated" => InstanceState::Terminated,
            other => panic!("no state {other} in these tests"),
        }
    }

    fn instance(id: &str, state_name: &str, groups: &[&str], ip: Option<&str>) -> InstanceRecord {
        InstanceRecord {
            private_ipv4: ip.map(str::to_owned),
            public_ipv4: ip.map(|ip| format!("54.{ip}")),
            private_dns_name: ip.map(|ip| format!("ip-{}.ec2.internal", ip.replace('.', "-"))),
            ipv6_addresses: ip
                .map(|ip| vec![format!("2600:1f18::{}", ip.replace('.', ":"))])
                .unwrap_or_default(),
            security_groups: groups
                .iter()
                .map(|name| (format!("sg-{name}"), (*name).to_owned(), None))
                .collect(),
            availability_zone: Some("us-east-1a".to_owned()),
            region: Some("us-east-1".to_owned()),
            instance_type: Some("m1.small".to_owned()),
            ..InstanceRecord::new(id, state(state_name))
        }
    }

    fn tagged(mut record: InstanceRecord, tags: &[(&str, &str)]) -> InstanceRecord {
        record.tags = tags
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        record
    }

    /// The answer for `fleet` seen from `self_id`, explaining `explain`.
    fn explained(
        settings: &Settings,
        self_id: Option<&str>,
        explain: Option<&str>,
        fleet: &[InstanceRecord],
    ) -> Resolved {
        Resolved::of_records(fleet, self_id, explain, |fleet, answer| {
            decide(settings, fleet, answer)
        })
        .unwrap()
    }

    fn decided(settings: &Settings, self_id: Option<&str>, fleet: &[InstanceRecord]) -> Resolved {
        explained(settings, self_id, None, fleet)
    }

    fn seed_fleet() -> Vec<InstanceRecord> {
        vec![
            instance(
                "i-2271a74b",
                "running",
                &["default", "eg-monitor", "elastic-grid"],
                Some("10.251.199.99"),
            ),
            instance(
                "i-df71a7b6",
                "running",
                &["default", "elastic-grid", "eg-cybernode"],
                Some("10.251.199.131"),
            ),
        ]
    }

    fn clustered() -> Settings {
        Settings {
            cluster_group_prefix: Some("cluster-".to_owned()),
            ..Settings::default()
        }
    }

    #[test]
    fn seed_agent_registers_with_the_monitor() {
        let decision = decided(&Settings::default(), Some("i-df71a7b6"), &seed_fleet());
        assert_eq!(
            decision.roles(),
            [("i-2271a74b", MONITOR), ("i-df71a7b6", AGENT)]
        );
        assert_eq!(decision.register_with, ["i-2271a74b"]);
        assert_eq!(
            decision.members[0].address.as_deref(),
            Some("10.251.199.99")
        );
        assert!(decision.notes.is_empty(), "no notes unless asked");
    }

    #[test]
    fn members_are_labelled_with_their_zone_type_and_the_tags_asked_for() {
        let settings = Settings {
            labels_from_tags: vec!["team".to_owned(), "Name".to_owned(), "absent".to_owned()],
            ..Settings::default()
        };
        let mut bare = instance("i-3", "running", &["eg-cybernode"], Some("10.0.0.3"));
        bare.availability_zone = None;
        bare.instance_type = None;
        let fleet = [
            tagged(
                instance("i-1", "running", &["eg-monitor"], Some("10.0.0.1")),
                &[("team", "payments"), ("Name", "node-1"), ("other", "x")],
            ),
            tagged(
                instance("i-2", "running", &["eg-cybernode"], Some("10.0.0.2")),
                &[("team", "")],
            ),
            bare,
        ];
        let labels = |settings: &Settings| -> Vec<Vec<(String, String)>> {
            decided(settings, None, &fleet)
                .members
                .into_iter()
                .map(|member| member.labels)
                .collect()
        };
        let pairs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect()
        };
        assert_eq!(
            labels(&settings),
            [
                pairs(&[
                    ("team", "payments"),
                    ("Name", "node-1"),
                    ("zone", "us-east-1a"),
                    ("instance_type", "m1.small")
                ]),
                pairs(&[
                    ("team", ""),
                    ("zone", "us-east-1a"),
                    ("instance_type", "m1.small")
                ]),
                pairs(&[]),
            ]
        );
        assert_eq!(
            labels(&Settings::default())[0],
            pairs(&[("zone", "us-east-1a"), ("instance_type", "m1.small")])
        );
    }

    #[test]
    fn a_lone_monitor_registers_with_nobody() {
        let decision = decided(&Settings::default(), Some("i-2271a74b"), &seed_fleet());
        assert!(decision.register_with.is_empty());
    }

    #[test]
    fn monitors_peer_with_every_other_monitor() {
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-m2",
            "running",
            &["eg-monitor"],
            Some("10.0.0.2"),
        ));
        fleet.push(instance(
            "i-m3",
            "running",
            &["eg-monitor"],
            Some("10.0.0.3"),
        ));
        let decision = decided(&Settings::default(), Some("i-m2"), &fleet);
        assert_eq!(decision.register_with, ["i-2271a74b", "i-m3"]);
    }

    #[test]
    fn monitor_group_wins_over_agent_group() {
        let fleet = [instance(
            "i-both",
            "running",
            &["eg-cybernode", "eg-monitor"],
            Some("10.0.0.1"),
        )];
        let decision = decided(&Settings::default(), None, &fleet);
        assert_eq!(decision.roles(), [("i-both", MONITOR)]);
    }

    #[test]
    fn an_instance_in_no_role_group_is_no_member_and_registers_with_nobody() {
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-web",
            "running",
            &["default", "web"],
            Some("10.0.0.9"),
        ));
        let decision = decided(&Settings::default(), Some("i-web"), &fleet);
        assert_eq!(decision.members.len(), 2);
        assert!(decision.register_with.is_empty());
    }

    #[test]
    fn only_running_instances_are_members_but_self_counts_whatever_its_state() {
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-stopped",
            "stopped",
            &["eg-monitor"],
            Some("10.0.0.4"),
        ));
        fleet.push(instance("i-dead", "terminated", &["eg-monitor"], None));
        fleet.push(instance(
            "i-booting",
            "pending",
            &["eg-cybernode"],
            Some("10.0.0.5"),
        ));
        let decision = decided(&Settings::default(), Some("i-booting"), &fleet);
        assert_eq!(
            decision.roles(),
            [
                ("i-2271a74b", MONITOR),
                ("i-df71a7b6", AGENT),
                ("i-booting", AGENT)
            ]
        );
        assert_eq!(decision.register_with, ["i-2271a74b"]);
    }

    #[test]
    fn groups_match_by_id_as_well_as_by_name() {
        let settings = Settings {
            monitor_group: "sg-eg-monitor".to_owned(),
            agent_group: "sg-eg-cybernode".to_owned(),
            ..Settings::default()
        };
        let decision = decided(&settings, Some("i-df71a7b6"), &seed_fleet());
        assert_eq!(
            decision.roles(),
            [("i-2271a74b", MONITOR), ("i-df71a7b6", AGENT)]
        );
        assert_eq!(decision.register_with, ["i-2271a74b"]);
    }

    fn cluster_fleet() -> Vec<InstanceRecord> {
        vec![
            instance(
                "i-mb",
                "running",
                &["eg-monitor", "cluster-blue"],
                Some("10.0.0.1"),
            ),
            instance(
                "i-mg",
                "running",
                &["eg-monitor", "cluster-green"],
                Some("10.0.0.2"),
            ),
            instance(
                "i-mbg",
                "running",
                &["cluster-green", "eg-monitor", "cluster-blue"],
                Some("10.0.0.3"),
            ),
            instance("i-m0", "running", &["eg-monitor"], Some("10.0.0.4")),
            instance(
                "i-ab",
                "running",
                &["eg-cybernode", "cluster-blue"],
                Some("10.0.1.1"),
            ),
            instance("i-a0", "running", &["eg-cybernode"], Some("10.0.1.2")),
        ]
    }

    #[test]
    fn clusters_scope_registration() {
        let fleet = cluster_fleet();
        let agent = decided(&clustered(), Some("i-ab"), &fleet);
        assert_eq!(agent.register_with, ["i-mb", "i-mbg"]);
        let both = agent
            .members
            .iter()
            .find(|member| member.id == "i-mbg")
            .unwrap();
        assert_eq!(both.clusters, ["blue", "green"], "sorted by name");
        let green = decided(&clustered(), Some("i-mg"), &fleet);
        assert_eq!(green.register_with, ["i-mbg"]);
        let unclustered = decided(&clustered(), Some("i-a0"), &fleet);
        assert_eq!(
            unclustered.register_with,
            ["i-m0"],
            "no cluster shares with no cluster"
        );
    }

    #[test]
    fn without_a_prefix_nobody_has_clusters_and_groups_do_not_scope() {
        let fleet = cluster_fleet();
        let decision = decided(&Settings::default(), Some("i-a0"), &fleet);
        assert!(
            decision
                .members
                .iter()
                .all(|member| member.clusters.is_empty())
        );
        assert_eq!(decision.register_with, ["i-mb", "i-mg", "i-mbg", "i-m0"]);
    }

    #[test]
    fn a_group_named_just_the_prefix_is_no_cluster() {
        let fleet = [instance(
            "i-m",
            "running",
            &["eg-monitor", "cluster-"],
            Some("10.0.0.1"),
        )];
        let decision = decided(&clustered(), None, &fleet);
        assert!(decision.members[0].clusters.is_empty());
    }

    #[test]
    fn monitors_without_an_address_are_members_but_not_targets() {
        let mut fleet = seed_fleet();
        fleet.push(instance("i-noip", "running", &["eg-monitor"], None));
        let decision = decided(&Settings::default(), Some("i-df71a7b6"), &fleet);
        let noip = decision
            .members
            .iter()
            .find(|member| member.id == "i-noip")
            .unwrap();
        assert_eq!(noip.address, None);
        assert_eq!(decision.register_with, ["i-2271a74b"]);
    }

    #[test]
    fn address_kind_and_ports_are_applied() {
        let settings = Settings {
            address: AddressKind::PrivateDns,
            monitor_port: Some(7070),
            agent_port: Some(7071),
            ..Settings::default()
        };
        let decision = decided(&settings, None, &seed_fleet());
        assert_eq!(
            decision.members[0].address.as_deref(),
            Some("ip-10-251-199-99.ec2.internal")
        );
        assert_eq!(decision.members[0].port, Some(7070));
        assert_eq!(decision.members[1].port, Some(7071));
        for (kind, expected) in [
            (AddressKind::PublicIp, "54.10.251.199.99"),
            (AddressKind::Ipv6, "2600:1f18::10:251:199:99"),
        ] {
            let settings = Settings {
                address: kind,
                ..Settings::default()
            };
            let decision = decided(&settings, None, &seed_fleet());
            assert_eq!(
                decision.members[0].address.as_deref(),
                Some(expected),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn without_self_nobody_is_a_target() {
        let decision = decided(&Settings::default(), None, &seed_fleet());
        assert_eq!(decision.members.len(), 2);
        assert!(decision.register_with.is_empty());
    }

    fn requiring(tags: &[(&str, &str)]) -> Settings {
        Settings {
            require_tags: tags
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            ..Settings::default()
        }
    }

    #[test]
    fn require_tags_keeps_out_whoever_lacks_a_tag_or_its_value() {
        let fleet = [
            tagged(
                instance("i-blue-m", "running", &["eg-monitor"], Some("10.0.0.1")),
                &[("fleet", "blue"), ("owner", "ops")],
            ),
            tagged(
                instance("i-green-m", "running", &["eg-monitor"], Some("10.0.0.2")),
                &[("fleet", "green"), ("owner", "ops")],
            ),
            tagged(
                instance(
                    "i-blue-nobody",
                    "running",
                    &["eg-monitor"],
                    Some("10.0.0.3"),
                ),
                &[("fleet", "blue")],
            ),
            tagged(
                instance("i-blue-a", "running", &["eg-cybernode"], Some("10.0.1.1")),
                &[("fleet", "blue"), ("owner", "")],
            ),
        ];
        let settings = requiring(&[("fleet", "blue"), ("owner", "*")]);
        let decision = decided(&settings, Some("i-blue-a"), &fleet);
        assert_eq!(
            decision.roles(),
            [("i-blue-m", MONITOR), ("i-blue-a", AGENT)]
        );
        assert_eq!(decision.register_with, ["i-blue-m"]);
        let outsider = decided(&settings, Some("i-green-m"), &fleet);
        assert!(
            outsider.register_with.is_empty(),
            "self outside the fleet registers with nobody"
        );
    }

    #[test]
    fn an_explained_member_gets_its_role_clusters_and_address_in_words() {
        let fleet = cluster_fleet();
        let decision = explained(&clustered(), Some("i-ab"), Some("i-mbg"), &fleet);
        assert_eq!(
            decision.notes_about("i-mbg", NoteTopic::Decision),
            [
                "role monitor: in the monitor group eg-monitor (sg-eg-monitor)",
                "clusters blue, green: from its groups cluster-green (sg-cluster-green), \
                 cluster-blue (sg-cluster-blue)",
                "address 10.0.0.3: its private-ip address",
            ]
        );
        assert!(decision.notes_about("i-mb", NoteTopic::Decision).is_empty());
        assert!(
            decision
                .notes
                .iter()
                .all(|(_, topic, _)| *topic == NoteTopic::Decision),
            "targets are explained only for self"
        );
    }

    #[test]
    fn instances_that_are_no_members_say_why() {
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-stopped",
            "stopped",
            &["eg-monitor"],
            Some("10.0.0.4"),
        ));
        fleet.push(instance("i-web", "running", &["web"], Some("10.0.0.9")));
        fleet.push(tagged(
            instance("i-untagged", "running", &["eg-monitor"], Some("10.0.0.5")),
            &[("fleet", "green")],
        ));
        let settings = requiring(&[("fleet", "blue")]);
        let why = |id| {
            explained(&settings, None, Some(id), &fleet)
                .notes_about(id, NoteTopic::Decision)
                .join(" | ")
        };
        assert_eq!(
            why("i-stopped"),
            "not a member: it is stopped (only running instances, and self, are members)"
        );
        assert_eq!(
            why("i-web"),
            "not a member: it lacks the tag fleet, which require_tags requires"
        );
        assert_eq!(
            why("i-untagged"),
            "not a member: its tag fleet is \"green\", and require_tags requires \"blue\""
        );
        let plain = |id| {
            explained(&Settings::default(), None, Some(id), &fleet)
                .notes_about(id, NoteTopic::Decision)
                .join(" | ")
        };
        assert_eq!(
            plain("i-web"),
            "no role: in neither the monitor group eg-monitor nor the agent group eg-cybernode"
        );
    }

    #[test]
    fn explaining_self_says_why_each_monitor_is_a_target_or_not() {
        let mut fleet = cluster_fleet();
        fleet.push(instance(
            "i-mstop",
            "stopped",
            &["eg-monitor", "cluster-blue"],
            Some("10.0.0.8"),
        ));
        fleet.push(instance(
            "i-mnoip",
            "running",
            &["eg-monitor", "cluster-blue"],
            None,
        ));
        let decision = explained(&clustered(), Some("i-mb"), Some("i-mb"), &fleet);
        let targets: Vec<(&str, &str)> = decision
            .notes
            .iter()
            .filter(|(_, topic, _)| *topic == NoteTopic::Target)
            .map(|(id, _, text)| (id.as_str(), text.as_str()))
            .collect();
        assert_eq!(
            targets,
            [
                ("i-mb", "not a target: it is self"),
                (
                    "i-mg",
                    "not a target: its clusters (green) share none with self's (blue)"
                ),
                ("i-mbg", "a target: a monitor in cluster blue, as self is"),
                (
                    "i-m0",
                    "not a target: its clusters (none) share none with self's (blue)"
                ),
                ("i-mstop", "not a target: it is stopped"),
                ("i-mnoip", "not a target: it has no private-ip address"),
            ]
        );
        assert_eq!(decision.register_with, ["i-mbg"]);
    }

    #[test]
    fn monitors_that_do_not_serve_stay_members_but_are_no_targets() {
        let monitor = |id: &str, ip: &str| instance(id, "running", &["eg-monitor"], Some(ip));
        let fleet = [
            monitor("i-serving", "10.0.0.1"),
            InstanceRecord {
                lifecycle: LifecycleState::Standby,
                ..monitor("i-standby", "10.0.0.2")
            },
            InstanceRecord {
                lifecycle: LifecycleState::TerminatingWait,
                ..monitor("i-draining", "10.0.0.3")
            },
            InstanceRecord {
                leaving_reason: Some(LeaveReason::SpotInterruption),
                leaving_deadline: Some("2026-12-07T10:00:00Z".to_owned()),
                ..monitor("i-spot", "10.0.0.4")
            },
            InstanceRecord {
                lifecycle: LifecycleState::InService,
                ..instance("i-agent", "running", &["eg-cybernode"], Some("10.0.0.9"))
            },
        ];
        let decision = explained(
            &Settings::default(),
            Some("i-agent"),
            Some("i-agent"),
            &fleet,
        );
        assert_eq!(
            decision.roles(),
            [
                ("i-serving", MONITOR),
                ("i-standby", MONITOR),
                ("i-draining", MONITOR),
                ("i-spot", MONITOR),
                ("i-agent", AGENT)
            ]
        );
        assert_eq!(decision.register_with, ["i-serving"]);
        let targets: Vec<&str> = decision
            .notes
            .iter()
            .filter(|(_, topic, _)| *topic == NoteTopic::Target)
            .map(|(_, _, text)| text.as_str())
            .collect();
        assert_eq!(
            targets,
            [
                "a target: a monitor",
                "not a target: in Auto Scaling standby",
                "not a target: in Auto Scaling terminating-wait",
                "not a target: leaving (spot-interruption by 2026-12-07T10:00:00Z)",
            ]
        );
    }

    const A: &str = "111111111111";
    const B: &str = "222222222222";

    /// `record` in `account`, each of its groups owned by `owner` (`None`:
    /// unknown), its group ids telling the owners' groups apart.
    fn owned(
        mut record: InstanceRecord,
        account: Option<&str>,
        owner: Option<&str>,
    ) -> InstanceRecord {
        record.account = account.map(str::to_owned);
        for (id, _, group_owner) in &mut record.security_groups {
            *group_owner = owner.map(str::to_owned);
            id.push_str(&format!("-{}", owner.unwrap_or("unknown")));
        }
        record
    }

    fn only_account_a() -> Settings {
        Settings {
            accounts: Some(vec![A.to_owned()]),
            ..clustered()
        }
    }

    /// Instances of accounts A and B, all in groups named `eg-monitor`,
    /// `eg-cybernode` and `cluster-blue`, owned by their own account, by
    /// the other or by nobody known.
    fn two_account_fleet() -> Vec<InstanceRecord> {
        let running = |id, groups: &[&str], ip| instance(id, "running", groups, Some(ip));
        let monitor = |id, ip| running(id, &["eg-monitor", "cluster-blue"], ip);
        let mut mixed = owned(
            running("i-b-mixed", &["eg-monitor", "eg-cybernode"], "10.2.0.9"),
            Some(B),
            Some(B),
        );
        // A's agent group, shared with B's instance (a shared VPC).
        mixed.security_groups[1] = (
            "sg-eg-cybernode-a".to_owned(),
            "eg-cybernode".to_owned(),
            Some(A.to_owned()),
        );
        vec![
            owned(monitor("i-a-monitor", "10.1.0.1"), Some(A), Some(A)),
            owned(monitor("i-b-monitor", "10.2.0.1"), Some(B), Some(B)),
            owned(monitor("i-a-unknown", "10.1.0.2"), Some(A), None),
            owned(monitor("i-b-unknown", "10.2.0.2"), Some(B), None),
            owned(monitor("i-nobody", "10.3.0.1"), None, None),
            owned(
                running("i-a-agent", &["eg-cybernode", "cluster-blue"], "10.1.1.1"),
                Some(A),
                Some(A),
            ),
            mixed,
        ]
    }

    #[test]
    fn with_accounts_only_their_groups_are_role_and_cluster_groups() {
        let fleet = two_account_fleet();
        let decision = decided(&only_account_a(), Some("i-a-agent"), &fleet);
        assert_eq!(
            decision.roles(),
            [
                ("i-a-monitor", MONITOR),
                ("i-a-unknown", MONITOR),
                ("i-a-agent", AGENT),
                ("i-b-mixed", AGENT),
            ]
        );
        let clusters: Vec<(&str, Vec<String>)> = decision
            .members
            .iter()
            .map(|member| (member.id.as_str(), member.clusters.clone()))
            .collect();
        assert_eq!(
            clusters,
            [
                ("i-a-monitor", vec!["blue".to_owned()]),
                ("i-a-unknown", vec!["blue".to_owned()]),
                ("i-a-agent", vec!["blue".to_owned()]),
                ("i-b-mixed", vec![]),
            ]
        );
        assert_eq!(decision.register_with, ["i-a-monitor", "i-a-unknown"]);
        let members = |settings: &Settings| -> Vec<String> {
            let decision = decided(settings, Some("i-a-agent"), &fleet);
            decision
                .members
                .iter()
                .map(|member| member.id.clone())
                .collect()
        };
        let every: Vec<String> = fleet.iter().map(|record| record.id.clone()).collect();
        assert_eq!(
            members(&clustered()),
            every,
            "without accounts, every account counts"
        );
        let both = Settings {
            accounts: Some(vec![B.to_owned(), A.to_owned()]),
            ..clustered()
        };
        let known: Vec<String> = every.into_iter().filter(|id| id != "i-nobody").collect();
        assert_eq!(
            members(&both),
            known,
            "a group of unknown owner on an instance of unknown account is no listed account's"
        );
    }

    #[test]
    fn an_unlisted_accounts_groups_are_said_to_count_for_nothing() {
        let fleet = two_account_fleet();
        let why = |id| {
            explained(&only_account_a(), Some("i-a-agent"), Some(id), &fleet)
                .notes_about(id, NoteTopic::Decision)
                .join(" | ")
        };
        assert_eq!(
            why("i-b-monitor"),
            "no role: its groups eg-monitor (sg-eg-monitor-222222222222) of account \
             222222222222, cluster-blue (sg-cluster-blue-222222222222) of account \
             222222222222 are of no account accounts lists"
        );
        assert_eq!(
            why("i-nobody"),
            "no role: its groups eg-monitor (sg-eg-monitor-unknown) of an unknown account, \
             cluster-blue (sg-cluster-blue-unknown) of an unknown account are of no account \
             accounts lists"
        );
        assert_eq!(
            why("i-b-mixed"),
            "role agent: in the agent group eg-cybernode (sg-eg-cybernode-a) | \
             no clusters: none of its groups' names starts with cluster- | \
             not counted: its groups eg-monitor (sg-eg-monitor-222222222222) of account \
             222222222222 are of no account accounts lists | \
             address 10.2.0.9: its private-ip address"
        );
        let targets = explained(
            &only_account_a(),
            Some("i-a-agent"),
            Some("i-a-agent"),
            &fleet,
        );
        assert_eq!(
            targets.notes_about("i-b-unknown", NoteTopic::Target),
            [
                "not a target: its groups eg-monitor (sg-eg-monitor-unknown) of account \
              222222222222, cluster-blue (sg-cluster-blue-unknown) of account 222222222222 \
              are of no account accounts lists"
            ]
        );
        assert_eq!(
            targets.notes_about("i-a-unknown", NoteTopic::Target),
            ["a target: a monitor in cluster blue, as self is"]
        );
    }

    #[test]
    fn a_self_without_a_role_says_so() {
        let mut fleet = seed_fleet();
        fleet.push(instance("i-web", "running", &["web"], Some("10.0.0.9")));
        let decision = explained(&Settings::default(), Some("i-web"), Some("i-web"), &fleet);
        assert_eq!(
            decision.notes_about("i-web", NoteTopic::Decision),
            [
                "no role: in neither the monitor group eg-monitor nor the agent group eg-cybernode",
                "self has no role, so it registers with nobody"
            ]
        );
    }
}
