//! The tag-roles rules as a pure function of settings and fleet, with the
//! reasons `rollcall explain` shows.
//!
//! - Only `running` instances are members; self is evaluated whatever its
//!   state (at boot EC2 may still report it `pending`).
//! - Role: the value of the role tag, trimmed; an instance without the tag,
//!   or with an empty value, has no role and is no member.
//! - Clusters: the value of the cluster tag split on commas, each entry
//!   trimmed, empty entries dropped, sorted and deduplicated.
//! - Self registers with every other member whose role its own role's
//!   `registers_with` entry lists (no entry: nobody), that has an address of
//!   the chosen kind and that shares a cluster with self (two instances
//!   without any cluster count as sharing). Members without an address stay
//!   members but are no registration target. With `skip_unserving`, neither
//!   are members that do not serve (leaving, or held out of service by Auto
//!   Scaling: see `Instance::serves`).

use crate::settings::Settings;
use rollcall_policy_sdk::{
    Answer, ClusterId, Fleet, Instance, Member, quote, share_a_cluster, shared_clusters,
};
use std::collections::HashMap;

/// Decides members and self's registration targets into `answer`, with the
/// reasons when the operator asked to explain an instance.
pub fn decide(settings: &Settings, fleet: &Fleet, answer: &mut Answer) {
    let mut cluster_lists = ClusterLists::default();
    for instance in fleet.instances() {
        if let Some(member) = member(settings, instance, answer, &mut cluster_lists) {
            answer.add_member(member);
        }
    }
    register(settings, fleet, answer);
}

/// The member `instance` is, or `None` when it is not running (and not
/// self) or has no role; with the reasons when it is explained.
fn member<'a>(
    settings: &Settings,
    instance: Instance<'a>,
    answer: &mut Answer,
    cluster_lists: &mut ClusterLists<'a>,
) -> Option<Member> {
    if !instance.is_running() && !instance.is_self() {
        answer.note(instance, || {
            format!(
                "not a member: it is {} (only running instances, and self, are members)",
                instance.state_name()
            )
        });
        return None;
    }
    let Some(role) = role(settings, instance) else {
        answer.note(instance, || no_role(settings, instance));
        return None;
    };
    let clusters = instance
        .tag(&settings.cluster_tag)
        .map_or_else(Vec::new, |value| cluster_lists.read(value, answer));
    let member = Member {
        instance: instance.index(),
        role: answer.role(role),
        clusters,
        address: settings.address.of(instance),
        port: settings.ports.get(role).copied(),
        labels: Vec::new(),
    };
    if answer.explains(instance) {
        explain_member(settings, instance, answer, role, &member.clusters);
    }
    Some(member)
}

/// The instance's role: the value of its role tag, trimmed; `None` without
/// the tag or with a blank value.
fn role<'a>(settings: &Settings, instance: Instance<'a>) -> Option<&'a str> {
    instance
        .tag(&settings.role_tag)
        .map(str::trim)
        .filter(|role| !role.is_empty())
}

/// The cluster names a cluster tag's value lists: split on commas, each
/// trimmed, empty ones dropped; in the value's order, repeats kept.
fn cluster_names(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
}

/// The cluster lists read so far, by the cluster tag's value. A fleet
/// repeats a few values many times, so each distinct value is split,
/// interned and sorted once; later instances only copy its list.
#[derive(Default)]
struct ClusterLists<'a> {
    by_value: HashMap<&'a str, Vec<ClusterId>>,
}

impl<'a> ClusterLists<'a> {
    /// The clusters a cluster tag's value lists, sorted by name, each once.
    fn read(&mut self, value: &'a str, answer: &mut Answer) -> Vec<ClusterId> {
        if let Some(clusters) = self.by_value.get(value) {
            return clusters.clone();
        }
        let mut clusters: Vec<ClusterId> = cluster_names(value)
            .map(|name| answer.cluster(name))
            .collect();
        answer.sort_clusters(&mut clusters);
        self.by_value.insert(value, clusters.clone());
        clusters
    }
}

/// Why a member is or is not self's registration target; the one rule both
/// the decision and its explanation follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Target,
    IsSelf,
    RoleNotRegisteredWith,
    /// It does not serve, and `skip_unserving` is on.
    Unserving,
    NoAddress,
    NoSharedCluster,
}

/// The verdict on `candidate` as a target of `own` (self's member), whose
/// role registers with the roles `wanted`; `skipped` when the candidate does
/// not serve and the settings skip such members.
fn verdict(
    answer: &Answer,
    own: &Member,
    wanted: &[String],
    candidate: &Member,
    skipped: bool,
) -> Verdict {
    let role = answer.role_name(candidate.role);
    if candidate.instance == own.instance {
        Verdict::IsSelf
    } else if !wanted.iter().any(|wanted| wanted == role) {
        Verdict::RoleNotRegisteredWith
    } else if skipped {
        Verdict::Unserving
    } else if candidate.address.is_none() {
        Verdict::NoAddress
    } else if !share_a_cluster(&own.clusters, &candidate.clusters) {
        Verdict::NoSharedCluster
    } else {
        Verdict::Target
    }
}

/// Whether the settings keep the instance at `index` from being a target
/// because it does not serve.
fn skipped(settings: &Settings, fleet: &Fleet, index: u32) -> bool {
    settings.skip_unserving && fleet.instance(index).is_some_and(|it| !it.serves())
}

/// The roles a role registers with: its `registers_with` entry, none
/// without one.
fn registered_with<'s>(settings: &'s Settings, role: &str) -> &'s [String] {
    settings.registers_with.get(role).map_or(&[], Vec::as_slice)
}

/// The member of the instance at `index`, if it is one. Members are added
/// in fleet order, so they are sorted by instance.
fn member_at(answer: &Answer, index: u32) -> Option<&Member> {
    let members = answer.members();
    members
        .binary_search_by_key(&index, |member| member.instance)
        .ok()
        .map(|at| &members[at])
}

/// Self's registration targets: every member the [`Verdict`] takes; with
/// the reason for every instance that has a role when the operator asked to
/// explain self.
fn register(settings: &Settings, fleet: &Fleet, answer: &mut Answer) {
    let Some(own) = fleet.self_instance() else {
        return;
    };
    let Some(own_member) = member_at(answer, own.index()).cloned() else {
        answer.note(own, || {
            "self has no role, so it registers with nobody".to_owned()
        });
        return;
    };
    let wanted = registered_with(settings, answer.role_name(own_member.role));
    let targets: Vec<u32> = answer
        .members()
        .iter()
        .filter(|candidate| {
            let skipped = skipped(settings, fleet, candidate.instance);
            verdict(answer, &own_member, wanted, candidate, skipped) == Verdict::Target
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

/// The reason an instance without a role has none.
fn no_role(settings: &Settings, instance: Instance<'_>) -> String {
    let key = &settings.role_tag;
    match instance.tag(key) {
        None => format!("no role: it has no tag {key}"),
        Some("") => format!("no role: its tag {key} is empty"),
        Some(value) => format!("no role: its tag {key} is blank ({})", quote(value)),
    }
}

/// The reasons for a member's role, clusters and address.
fn explain_member(
    settings: &Settings,
    instance: Instance<'_>,
    answer: &mut Answer,
    role: &str,
    clusters: &[ClusterId],
) {
    let role_value = instance.tag(&settings.role_tag).unwrap_or_default();
    answer.note(instance, || {
        format!(
            "role {role}: from tag {}",
            tag_text(&settings.role_tag, role_value)
        )
    });
    let names = answer.cluster_names(clusters);
    let key = &settings.cluster_tag;
    answer.note(instance, || match instance.tag(key) {
        None => format!("no clusters: it has no tag {key}"),
        Some(value) if clusters.is_empty() => {
            format!(
                "no clusters: its tag {key} is {}, which names none",
                quote(value)
            )
        }
        Some(value) => format!("clusters {names}: from tag {}", tag_text(key, value)),
    });
    let kind = settings.address;
    answer.note(instance, || match kind.read(instance) {
        Some(address) => format!("address {address}: its {} address", kind.name()),
        None => format!(
            "no address: it has no {} address, so no one registers with it",
            kind.name()
        ),
    });
}

/// Why each instance with a role, whatever its state, is or is not self's
/// registration target.
fn explain_targets(settings: &Settings, fleet: &Fleet, answer: &mut Answer, own: &Member) {
    for candidate in fleet.instances() {
        let Some(role) = role(settings, candidate) else {
            continue;
        };
        let reason = target_reason(settings, fleet, answer, own, candidate, role);
        answer.note_target(candidate, || reason);
    }
}

/// Why `candidate`, whose role is `role`, is or is not self's target.
fn target_reason(
    settings: &Settings,
    fleet: &Fleet,
    answer: &Answer,
    own: &Member,
    candidate: Instance<'_>,
    role: &str,
) -> String {
    // An instance with a role is a member unless it is not running: self
    // always is one.
    let Some(member) = member_at(answer, candidate.index()) else {
        return format!("not a target: it is {}", candidate.state_name());
    };
    let own_role = answer.role_name(own.role);
    let wanted = registered_with(settings, own_role);
    let kind = settings.address.name();
    let skipped = skipped(settings, fleet, member.instance);
    match verdict(answer, own, wanted, member, skipped) {
        Verdict::IsSelf => "not a target: it is self".to_owned(),
        Verdict::RoleNotRegisteredWith => format!(
            "not a target: role {role} is not one self's role {own_role} registers with ({})",
            registers_with_entry(settings, own_role)
        ),
        Verdict::Unserving => format!(
            "not a target: {} (skip_unserving)",
            candidate.unserving_reason().unwrap_or_default()
        ),
        Verdict::NoAddress => format!("not a target: it has no {kind} address"),
        Verdict::NoSharedCluster => format!(
            "not a target: its clusters ({}) share none with self's ({})",
            answer.cluster_names(&member.clusters),
            answer.cluster_names(&own.clusters)
        ),
        Verdict::Target => format!(
            "a target: role {role} is one self's role {own_role} registers with, and {}",
            sharing(answer, &own.clusters, &member.clusters)
        ),
    }
}

/// The `registers_with` entry of a role, as the settings write it.
fn registers_with_entry(settings: &Settings, role: &str) -> String {
    match settings.registers_with.get(role) {
        Some(roles) => format!("registers_with.{role} = [{}]", roles.join(", ")),
        None => format!("registers_with has no entry for {role}"),
    }
}

/// `key=value`, the value quoted when it is empty or has spaces to trim.
fn tag_text(key: &str, value: &str) -> String {
    if value.is_empty() || value.trim() != value {
        format!("{key}={}", quote(value))
    } else {
        format!("{key}={value}")
    }
}

/// What a target's clusters have in common with self's, described.
fn sharing(answer: &Answer, ours: &[ClusterId], theirs: &[ClusterId]) -> String {
    let common = shared_clusters(ours, theirs);
    match common.len() {
        0 => "like self it has no cluster".to_owned(),
        1 => format!(
            "it shares cluster {} with self",
            answer.cluster_names(&common)
        ),
        _ => format!(
            "it shares clusters {} with self",
            answer.cluster_names(&common)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_policy_sdk::{
        AddressKind, InstanceRecord, InstanceState, LeaveReason, LifecycleState, NoteTopic,
        Resolved, ResolvedMember,
    };
    use std::collections::BTreeMap;

    fn state(name: &str) -> InstanceState {
        match name {
            "running" => InstanceState::Running,
            "pending" => InstanceState::Pending,
            "shutting-down" => InstanceState::ShuttingDown,
            "stopped" => InstanceState::Stopped,
            "terminated" => InstanceState::Terminated,
            other => panic!("no state {other} in these tests"),
        }
    }

    fn instance(
        id: &str,
        state_name: &str,
        tags: &[(&str, &str)],
        ip: Option<&str>,
    ) -> InstanceRecord {
        InstanceRecord {
            private_ipv4: ip.map(str::to_owned),
            public_ipv4: ip.map(|ip| format!("54.{ip}")),
            private_dns_name: ip.map(|ip| format!("ip-{}.ec2.internal", ip.replace('.', "-"))),
            public_dns_name: ip
                .map(|ip| format!("ec2-54-{}.compute-1.amazonaws.com", ip.replace('.', "-"))),
            ipv6_addresses: ip
                .map(|ip| {
                    vec![
                        format!("2600:1f18::{}", ip.replace('.', ":")),
                        "2600:1f18::ffff".to_owned(),
                    ]
                })
                .unwrap_or_default(),
            tags: tags
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            availability_zone: Some("us-east-1a".to_owned()),
            region: Some("us-east-1".to_owned()),
            instance_type: Some("m1.small".to_owned()),
            ..InstanceRecord::new(id, state(state_name))
        }
    }

    fn role(role: &str) -> (&'static str, &str) {
        ("rollcall:role", role)
    }

    fn cluster(clusters: &str) -> (&'static str, &str) {
        ("rollcall:cluster", clusters)
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
                &[("Name", "monitor-1"), role("monitor")],
                Some("10.251.199.99"),
            ),
            instance(
                "i-df71a7b6",
                "running",
                &[("Name", "agent-1"), role("agent")],
                Some("10.251.199.131"),
            ),
        ]
    }

    /// Monitors that do not serve, beside one that does, and an agent.
    fn unserving_fleet() -> Vec<InstanceRecord> {
        let monitor = |id: &str, ip: &str| instance(id, "running", &[role("monitor")], Some(ip));
        vec![
            monitor("i-serving", "10.0.0.1"),
            InstanceRecord {
                lifecycle: LifecycleState::Warmed,
                ..monitor("i-warm", "10.0.0.2")
            },
            InstanceRecord {
                leaving_reason: Some(LeaveReason::Announced),
                ..monitor("i-going", "10.0.0.3")
            },
            instance("i-agent", "running", &[role("agent")], Some("10.0.0.9")),
        ]
    }

    #[test]
    fn unserving_members_are_targets_unless_skip_unserving_is_on() {
        let fleet = unserving_fleet();
        let default = decided(&Settings::default(), Some("i-agent"), &fleet);
        assert_eq!(default.register_with, ["i-serving", "i-warm", "i-going"]);
        let skipping = Settings {
            skip_unserving: true,
            ..Settings::default()
        };
        let decision = explained(&skipping, Some("i-agent"), Some("i-agent"), &fleet);
        assert_eq!(decision.members.len(), 4, "they keep their roles");
        assert_eq!(decision.register_with, ["i-serving"]);
        assert_eq!(
            target_notes(&decision)[1..3],
            [
                (
                    "i-warm",
                    "not a target: in Auto Scaling warmed (skip_unserving)"
                ),
                (
                    "i-going",
                    "not a target: leaving (announced) (skip_unserving)"
                ),
            ]
        );
    }

    fn find<'a>(decision: &'a Resolved, id: &str) -> &'a ResolvedMember {
        decision
            .members
            .iter()
            .find(|member| member.id == id)
            .unwrap()
    }

    fn registers_with(map: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        map.iter()
            .map(|(role, targets)| {
                (
                    (*role).to_owned(),
                    targets.iter().map(|target| (*target).to_owned()).collect(),
                )
            })
            .collect()
    }

    /// `(id, text)` of every target note.
    fn target_notes(decision: &Resolved) -> Vec<(&str, &str)> {
        decision
            .notes
            .iter()
            .filter(|(_, topic, _)| *topic == NoteTopic::Target)
            .map(|(id, _, text)| (id.as_str(), text.as_str()))
            .collect()
    }

    #[test]
    fn seed_agent_registers_with_the_monitor() {
        let decision = decided(&Settings::default(), Some("i-df71a7b6"), &seed_fleet());
        assert_eq!(
            decision.roles(),
            [("i-2271a74b", "monitor"), ("i-df71a7b6", "agent")]
        );
        assert_eq!(decision.register_with, ["i-2271a74b"]);
        assert_eq!(
            decision.members[0].address.as_deref(),
            Some("10.251.199.99")
        );
        assert_eq!(decision.members[0].port, None);
        assert!(decision.members[0].clusters.is_empty());
        assert!(decision.notes.is_empty(), "no notes unless asked");
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
            &[role("monitor")],
            Some("10.0.0.2"),
        ));
        fleet.push(instance(
            "i-m3",
            "running",
            &[role("monitor")],
            Some("10.0.0.3"),
        ));
        let decision = decided(&Settings::default(), Some("i-m2"), &fleet);
        assert_eq!(decision.register_with, ["i-2271a74b", "i-m3"]);
    }

    #[test]
    fn the_role_is_the_trimmed_tag_value() {
        let fleet = [
            instance("i-m", "running", &[role("  monitor\t")], Some("10.0.0.1")),
            instance("i-a", "running", &[role(" agent ")], Some("10.0.0.2")),
            instance("i-x", "running", &[role("Monitor")], Some("10.0.0.3")),
        ];
        let decision = decided(&Settings::default(), Some("i-a"), &fleet);
        assert_eq!(
            decision.roles(),
            [("i-m", "monitor"), ("i-a", "agent"), ("i-x", "Monitor")]
        );
        assert_eq!(decision.register_with, ["i-m"]);
    }

    #[test]
    fn a_missing_or_empty_role_tag_means_no_member_and_nobody_to_register_with() {
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-untagged",
            "running",
            &[("Name", "web")],
            Some("10.0.0.7"),
        ));
        fleet.push(instance(
            "i-empty",
            "running",
            &[role("")],
            Some("10.0.0.8"),
        ));
        fleet.push(instance(
            "i-blank",
            "running",
            &[role("   ")],
            Some("10.0.0.9"),
        ));
        for id in ["i-untagged", "i-empty", "i-blank"] {
            let decision = decided(&Settings::default(), Some(id), &fleet);
            assert_eq!(
                decision.roles(),
                [("i-2271a74b", "monitor"), ("i-df71a7b6", "agent")]
            );
            assert!(decision.register_with.is_empty(), "{id}");
        }
    }

    #[test]
    fn a_custom_role_tag_is_the_only_one_read() {
        let settings = Settings {
            role_tag: "Role".to_owned(),
            ..Settings::default()
        };
        let fleet = [
            instance("i-m", "running", &[("Role", "monitor")], Some("10.0.0.1")),
            instance("i-default", "running", &[role("monitor")], Some("10.0.0.2")),
            instance(
                "i-lower",
                "running",
                &[("role", "monitor")],
                Some("10.0.0.3"),
            ),
            instance("i-a", "running", &[("Role", "agent")], Some("10.0.0.4")),
        ];
        let decision = decided(&settings, Some("i-a"), &fleet);
        assert_eq!(decision.roles(), [("i-m", "monitor"), ("i-a", "agent")]);
        assert_eq!(decision.register_with, ["i-m"]);
    }

    #[test]
    fn cluster_lists_are_trimmed_sorted_and_deduplicated() {
        let fleet = [
            instance(
                "i-m",
                "running",
                &[role("monitor"), cluster(" green , ,blue,,green, blue ,")],
                Some("10.0.0.1"),
            ),
            instance(
                "i-blank",
                "running",
                &[role("monitor"), cluster(" , ")],
                Some("10.0.0.2"),
            ),
            instance(
                "i-empty",
                "running",
                &[role("monitor"), cluster("")],
                Some("10.0.0.3"),
            ),
            instance(
                "i-one",
                "running",
                &[role("monitor"), cluster("red")],
                Some("10.0.0.4"),
            ),
            instance(
                "i-same",
                "running",
                &[role("monitor"), cluster(" green , ,blue,,green, blue ,")],
                Some("10.0.0.5"),
            ),
        ];
        let decision = decided(&Settings::default(), None, &fleet);
        assert_eq!(find(&decision, "i-m").clusters, ["blue", "green"]);
        assert!(find(&decision, "i-blank").clusters.is_empty());
        assert!(find(&decision, "i-empty").clusters.is_empty());
        assert_eq!(find(&decision, "i-one").clusters, ["red"]);
        assert_eq!(
            find(&decision, "i-same").clusters,
            ["blue", "green"],
            "a value read before gives the same list"
        );
    }

    #[test]
    fn clusters_sort_by_name_whatever_order_they_were_first_seen_in() {
        let fleet = [
            instance(
                "i-z",
                "running",
                &[role("monitor"), cluster("zulu")],
                Some("10.0.0.1"),
            ),
            instance(
                "i-both",
                "running",
                &[role("monitor"), cluster("zulu,alpha")],
                Some("10.0.0.2"),
            ),
        ];
        let decision = decided(&Settings::default(), None, &fleet);
        assert_eq!(find(&decision, "i-both").clusters, ["alpha", "zulu"]);
    }

    #[test]
    fn a_custom_cluster_tag_is_the_only_one_read() {
        let settings = Settings {
            cluster_tag: "Clusters".to_owned(),
            ..Settings::default()
        };
        let fleet = [instance(
            "i-m",
            "running",
            &[role("monitor"), cluster("blue"), ("Clusters", "green")],
            Some("10.0.0.1"),
        )];
        let decision = decided(&settings, None, &fleet);
        assert_eq!(decision.members[0].clusters, ["green"]);
    }

    #[test]
    fn a_role_without_a_registers_with_entry_is_a_member_that_registers_with_nobody() {
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-web",
            "running",
            &[role("web")],
            Some("10.0.0.9"),
        ));
        let decision = decided(&Settings::default(), Some("i-web"), &fleet);
        assert_eq!(find(&decision, "i-web").role, "web");
        assert!(decision.register_with.is_empty());
    }

    #[test]
    fn a_custom_registers_with_map_replaces_the_default() {
        let settings = Settings {
            registers_with: registers_with(&[("worker", &["scheduler", "monitor"])]),
            ..Settings::default()
        };
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-s1",
            "running",
            &[role("scheduler")],
            Some("10.0.0.1"),
        ));
        fleet.push(instance(
            "i-w1",
            "running",
            &[role("worker")],
            Some("10.0.0.2"),
        ));
        fleet.push(instance(
            "i-w2",
            "running",
            &[role("worker")],
            Some("10.0.0.3"),
        ));
        fleet.push(instance(
            "i-s2",
            "running",
            &[role("scheduler")],
            Some("10.0.0.4"),
        ));
        let decide_for = |id: &str| decided(&settings, Some(id), &fleet);

        assert_eq!(
            decide_for("i-w1").register_with,
            ["i-2271a74b", "i-s1", "i-s2"]
        );
        assert!(decide_for("i-df71a7b6").register_with.is_empty());
        assert!(decide_for("i-2271a74b").register_with.is_empty());
        assert!(decide_for("i-s1").register_with.is_empty());
    }

    #[test]
    fn a_role_may_register_with_its_own_role_but_never_with_self() {
        let settings = Settings {
            registers_with: registers_with(&[("peer", &["peer"])]),
            ..Settings::default()
        };
        let fleet = [
            instance("i-p1", "running", &[role("peer")], Some("10.0.0.1")),
            instance("i-p2", "running", &[role("peer")], Some("10.0.0.2")),
        ];
        let decision = decided(&settings, Some("i-p1"), &fleet);
        assert_eq!(decision.register_with, ["i-p2"]);
    }

    fn cluster_fleet() -> Vec<InstanceRecord> {
        vec![
            instance(
                "i-mb",
                "running",
                &[role("monitor"), cluster("blue")],
                Some("10.0.0.1"),
            ),
            instance(
                "i-mg",
                "running",
                &[role("monitor"), cluster("green")],
                Some("10.0.0.2"),
            ),
            instance(
                "i-mbg",
                "running",
                &[role("monitor"), cluster("green,blue")],
                Some("10.0.0.3"),
            ),
            instance("i-m0", "running", &[role("monitor")], Some("10.0.0.4")),
            instance(
                "i-ab",
                "running",
                &[role("agent"), cluster("blue")],
                Some("10.0.1.1"),
            ),
            instance("i-a0", "running", &[role("agent")], Some("10.0.1.2")),
        ]
    }

    #[test]
    fn clusters_scope_registration() {
        let fleet = cluster_fleet();
        let decide_for = |id: &str| decided(&Settings::default(), Some(id), &fleet);

        assert_eq!(decide_for("i-ab").register_with, ["i-mb", "i-mbg"]);
        assert_eq!(decide_for("i-a0").register_with, ["i-m0"]);
        assert_eq!(decide_for("i-mg").register_with, ["i-mbg"]);
        assert_eq!(decide_for("i-mbg").register_with, ["i-mb", "i-mg"]);
        assert!(decide_for("i-m0").register_with.is_empty());
    }

    #[test]
    fn only_running_instances_are_members_but_self_counts_whatever_its_state() {
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-stopped",
            "stopped",
            &[role("monitor")],
            Some("10.0.0.4"),
        ));
        fleet.push(instance("i-dead", "terminated", &[role("monitor")], None));
        fleet.push(instance(
            "i-going",
            "shutting-down",
            &[role("monitor")],
            Some("10.0.0.6"),
        ));
        fleet.push(instance(
            "i-booting",
            "pending",
            &[role("agent")],
            Some("10.0.0.5"),
        ));
        let decision = decided(&Settings::default(), Some("i-booting"), &fleet);
        assert_eq!(
            decision.roles(),
            [
                ("i-2271a74b", "monitor"),
                ("i-df71a7b6", "agent"),
                ("i-booting", "agent")
            ]
        );
        assert_eq!(decision.register_with, ["i-2271a74b"]);
    }

    #[test]
    fn a_stopped_self_without_a_role_is_still_no_member() {
        let mut fleet = seed_fleet();
        fleet.push(instance("i-off", "stopped", &[], Some("10.0.0.4")));
        let decision = decided(&Settings::default(), Some("i-off"), &fleet);
        assert_eq!(decision.members.len(), 2);
        assert!(decision.register_with.is_empty());
    }

    #[test]
    fn members_without_an_address_are_members_but_not_targets() {
        let mut fleet = seed_fleet();
        fleet.push(instance("i-noip", "running", &[role("monitor")], None));
        let decision = decided(&Settings::default(), Some("i-df71a7b6"), &fleet);
        assert_eq!(find(&decision, "i-noip").address, None);
        assert_eq!(decision.register_with, ["i-2271a74b"]);
    }

    #[test]
    fn every_address_kind_is_applied() {
        for (kind, expected) in [
            (AddressKind::PrivateIp, "10.251.199.99"),
            (AddressKind::PublicIp, "54.10.251.199.99"),
            (AddressKind::PrivateDns, "ip-10-251-199-99.ec2.internal"),
            (
                AddressKind::PublicDns,
                "ec2-54-10-251-199-99.compute-1.amazonaws.com",
            ),
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
    fn ipv6_takes_the_first_address_and_members_without_one_are_no_targets() {
        let settings = Settings::from_json(r#"{"address": "ipv6"}"#).unwrap();
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-m2",
            "running",
            &[role("monitor")],
            Some("10.0.0.2"),
        ));
        fleet[1].ipv6_addresses.clear();
        fleet[2].ipv6_addresses.clear();
        let decision = decided(&settings, Some("i-df71a7b6"), &fleet);
        assert_eq!(
            find(&decision, "i-2271a74b").address.as_deref(),
            Some("2600:1f18::10:251:199:99")
        );
        assert_eq!(find(&decision, "i-m2").address, None);
        assert_eq!(decision.register_with, ["i-2271a74b"]);
        let why = explained(&settings, Some("i-df71a7b6"), Some("i-df71a7b6"), &fleet);
        assert_eq!(
            why.notes_about("i-m2", NoteTopic::Target),
            ["not a target: it has no ipv6 address"]
        );
        assert_eq!(
            why.notes_about("i-df71a7b6", NoteTopic::Decision)
                .last()
                .copied(),
            Some("no address: it has no ipv6 address, so no one registers with it")
        );
    }

    #[test]
    fn a_missing_address_of_the_chosen_kind_drops_the_target() {
        let settings = Settings {
            address: AddressKind::PublicDns,
            ..Settings::default()
        };
        let mut fleet = seed_fleet();
        fleet[0].public_dns_name = None;
        let decision = decided(&settings, Some("i-df71a7b6"), &fleet);
        assert_eq!(decision.members[0].address, None);
        assert!(decision.register_with.is_empty());
    }

    #[test]
    fn ports_are_applied_by_role() {
        let settings = Settings {
            ports: BTreeMap::from([("monitor".to_owned(), 7070), ("web".to_owned(), 80)]),
            ..Settings::default()
        };
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-web",
            "running",
            &[role("web")],
            Some("10.0.0.9"),
        ));
        let decision = decided(&settings, None, &fleet);
        assert_eq!(find(&decision, "i-2271a74b").port, Some(7070));
        assert_eq!(find(&decision, "i-df71a7b6").port, None);
        assert_eq!(find(&decision, "i-web").port, Some(80));
    }

    #[test]
    fn without_self_nobody_is_a_target() {
        let decision = decided(&Settings::default(), None, &seed_fleet());
        assert_eq!(decision.members.len(), 2);
        assert!(decision.register_with.is_empty());
    }

    #[test]
    fn an_explained_member_gets_its_role_clusters_and_address_in_words() {
        let fleet = cluster_fleet();
        let decision = explained(&Settings::default(), Some("i-ab"), Some("i-mbg"), &fleet);
        assert_eq!(
            decision.notes_about("i-mbg", NoteTopic::Decision),
            [
                "role monitor: from tag rollcall:role=monitor",
                "clusters blue, green: from tag rollcall:cluster=green,blue",
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
    fn tag_values_with_spaces_to_trim_are_quoted_in_notes() {
        let fleet = [instance(
            "i-m",
            "running",
            &[role(" monitor "), cluster(" green , blue,green")],
            None,
        )];
        let decision = explained(&Settings::default(), None, Some("i-m"), &fleet);
        assert_eq!(
            decision.notes_about("i-m", NoteTopic::Decision),
            [
                "role monitor: from tag rollcall:role=\" monitor \"",
                "clusters blue, green: from tag rollcall:cluster=\" green , blue,green\"",
                "no address: it has no private-ip address, so no one registers with it",
            ]
        );
    }

    #[test]
    fn a_member_without_clusters_says_why() {
        let fleet = [
            instance(
                "i-untagged",
                "running",
                &[role("monitor")],
                Some("10.0.0.1"),
            ),
            instance(
                "i-blank",
                "running",
                &[role("monitor"), cluster(" , ")],
                Some("10.0.0.2"),
            ),
        ];
        let clusters_note = |id| {
            explained(&Settings::default(), None, Some(id), &fleet)
                .notes_about(id, NoteTopic::Decision)[1]
                .to_owned()
        };
        assert_eq!(
            clusters_note("i-untagged"),
            "no clusters: it has no tag rollcall:cluster"
        );
        assert_eq!(
            clusters_note("i-blank"),
            "no clusters: its tag rollcall:cluster is \" , \", which names none"
        );
    }

    #[test]
    fn instances_that_are_no_members_say_why() {
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-stopped",
            "stopped",
            &[role("monitor")],
            Some("10.0.0.4"),
        ));
        fleet.push(instance(
            "i-untagged",
            "running",
            &[("Name", "web")],
            Some("10.0.0.7"),
        ));
        fleet.push(instance(
            "i-empty",
            "running",
            &[role("")],
            Some("10.0.0.8"),
        ));
        fleet.push(instance(
            "i-blank",
            "running",
            &[role("  ")],
            Some("10.0.0.9"),
        ));
        let why = |id| {
            explained(&Settings::default(), None, Some(id), &fleet)
                .notes_about(id, NoteTopic::Decision)
                .join(" | ")
        };
        assert_eq!(
            why("i-stopped"),
            "not a member: it is stopped (only running instances, and self, are members)"
        );
        assert_eq!(why("i-untagged"), "no role: it has no tag rollcall:role");
        assert_eq!(why("i-empty"), "no role: its tag rollcall:role is empty");
        assert_eq!(
            why("i-blank"),
            "no role: its tag rollcall:role is blank (\"  \")"
        );
    }

    #[test]
    fn explaining_self_says_why_each_instance_with_a_role_is_a_target_or_not() {
        let mut fleet = cluster_fleet();
        fleet.push(instance(
            "i-mstop",
            "stopped",
            &[role("monitor"), cluster("blue")],
            Some("10.0.0.8"),
        ));
        fleet.push(instance(
            "i-mnoip",
            "running",
            &[role("monitor"), cluster("blue")],
            None,
        ));
        fleet.push(instance(
            "i-web",
            "running",
            &[role("web"), cluster("blue")],
            Some("10.0.2.1"),
        ));
        fleet.push(instance(
            "i-norole",
            "running",
            &[cluster("blue")],
            Some("10.0.2.2"),
        ));
        fleet.push(instance(
            "i-blank",
            "stopped",
            &[role(" ")],
            Some("10.0.2.3"),
        ));
        let decision = explained(&Settings::default(), Some("i-ab"), Some("i-ab"), &fleet);
        let registers = "one self's role agent registers with";
        assert_eq!(
            target_notes(&decision),
            [
                ("i-mb", format!("a target: role monitor is {registers}, and it shares cluster blue with self").as_str()),
                ("i-mg", "not a target: its clusters (green) share none with self's (blue)"),
                ("i-mbg", format!("a target: role monitor is {registers}, and it shares cluster blue with self").as_str()),
                ("i-m0", "not a target: its clusters (none) share none with self's (blue)"),
                ("i-ab", "not a target: it is self"),
                (
                    "i-a0",
                    "not a target: role agent is not one self's role agent registers with \
                     (registers_with.agent = [monitor])"
                ),
                ("i-mstop", "not a target: it is stopped"),
                ("i-mnoip", "not a target: it has no private-ip address"),
                (
                    "i-web",
                    "not a target: role web is not one self's role agent registers with \
                     (registers_with.agent = [monitor])"
                ),
            ]
        );
        assert_eq!(decision.register_with, ["i-mb", "i-mbg"]);
    }

    #[test]
    fn a_target_without_clusters_shares_having_none_with_self() {
        let decision = explained(
            &Settings::default(),
            Some("i-a0"),
            Some("i-a0"),
            &cluster_fleet(),
        );
        assert_eq!(
            decision.notes_about("i-m0", NoteTopic::Target),
            [
                "a target: role monitor is one self's role agent registers with, and like self it has no cluster"
            ]
        );
    }

    #[test]
    fn a_self_whose_role_has_no_registers_with_entry_says_so_for_each_candidate() {
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-web",
            "running",
            &[role("web")],
            Some("10.0.0.9"),
        ));
        let decision = explained(&Settings::default(), Some("i-web"), Some("i-web"), &fleet);
        assert_eq!(
            decision.notes_about("i-2271a74b", NoteTopic::Target),
            [
                "not a target: role monitor is not one self's role web registers with \
              (registers_with has no entry for web)"
            ]
        );
        assert!(decision.register_with.is_empty());
    }

    #[test]
    fn a_self_without_a_role_says_so() {
        let mut fleet = seed_fleet();
        fleet.push(instance(
            "i-web",
            "running",
            &[("Name", "web")],
            Some("10.0.0.9"),
        ));
        let decision = explained(&Settings::default(), Some("i-web"), Some("i-web"), &fleet);
        assert_eq!(
            decision.notes_about("i-web", NoteTopic::Decision),
            [
                "no role: it has no tag rollcall:role",
                "self has no role, so it registers with nobody"
            ]
        );
        assert!(target_notes(&decision).is_empty());
    }
}
