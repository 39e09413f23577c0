//! The tag-roles rules as a pure function of settings and inventory.
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
//!   members but are no registration target.

use crate::settings::Settings;
use rollcall_policy_sdk::{
    Decision, Instance, Inventory, Member, candidates, checked_self_id, share_a_cluster,
};

/// Decides members and self's registration targets.
pub fn decide(settings: &Settings, inventory: &Inventory) -> Result<Decision, String> {
    let self_id = checked_self_id(inventory)?;
    let members: Vec<Member> = candidates(inventory)
        .filter_map(|instance| member(settings, instance))
        .collect();

    let own = self_id.and_then(|id| members.iter().find(|member| member.instance_id == id));
    let register_with = match own {
        Some(own) => {
            let target_roles: &[String] = settings
                .registers_with
                .get(&own.role)
                .map_or(&[], Vec::as_slice);
            members
                .iter()
                .filter(|target| {
                    target_roles.contains(&target.role)
                        && target.instance_id != own.instance_id
                        && target.address.is_some()
                        && share_a_cluster(&own.clusters, &target.clusters)
                })
                .map(|target| target.instance_id.clone())
                .collect()
        }
        None => Vec::new(),
    };

    Ok(Decision {
        members,
        register_with,
    })
}

/// The member an instance is, or `None` if it has no role.
fn member(settings: &Settings, instance: &Instance) -> Option<Member> {
    let role = tag(instance, &settings.role_tag)
        .map(str::trim)
        .filter(|role| !role.is_empty())?;
    Some(Member {
        instance_id: instance.id.clone(),
        role: role.to_owned(),
        clusters: clusters(settings, instance),
        address: settings.address.of(instance),
        port: settings.ports.get(role).copied(),
    })
}

/// The value of the instance's tag with this key (EC2 keys are unique per
/// instance and case-sensitive).
fn tag<'a>(instance: &'a Instance, key: &str) -> Option<&'a str> {
    instance
        .tags
        .iter()
        .find(|tag| tag.key == key)
        .map(|tag| tag.value.as_str())
}

fn clusters(settings: &Settings, instance: &Instance) -> Vec<String> {
    let Some(value) = tag(instance, &settings.cluster_tag) else {
        return Vec::new();
    };
    let mut clusters: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|cluster| !cluster.is_empty())
        .map(str::to_owned)
        .collect();
    clusters.sort();
    clusters.dedup();
    clusters
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_policy_sdk::{AddressKind, Tag};
    use std::collections::BTreeMap;

    fn instance(id: &str, state: &str, tags: &[(&str, &str)], ip: Option<&str>) -> Instance {
        Instance {
            id: id.to_owned(),
            state: state.to_owned(),
            private_ipv4: ip.map(str::to_owned),
            public_ipv4: ip.map(|ip| format!("54.{ip}")),
            private_dns_name: ip.map(|ip| format!("ip-{}.ec2.internal", ip.replace('.', "-"))),
            public_dns_name: ip
                .map(|ip| format!("ec2-54-{}.compute-1.amazonaws.com", ip.replace('.', "-"))),
            ipv6_addresses: Vec::new(),
            security_groups: Vec::new(),
            tags: tags
                .iter()
                .map(|(key, value)| Tag {
                    key: (*key).to_owned(),
                    value: (*value).to_owned(),
                })
                .collect(),
            availability_zone: Some("us-east-1a".to_owned()),
            region: Some("us-east-1".to_owned()),
            vpc_id: None,
            subnet_id: None,
            instance_type: Some("m1.small".to_owned()),
            image_id: None,
            launch_time: None,
        }
    }

    fn inventory(self_id: Option<&str>, instances: Vec<Instance>) -> Inventory {
        Inventory {
            instances,
            self_id: self_id.map(str::to_owned),
        }
    }

    fn role(role: &str) -> (&'static str, &str) {
        ("rollcall:role", role)
    }

    fn cluster(clusters: &str) -> (&'static str, &str) {
        ("rollcall:cluster", clusters)
    }

    fn seed_fleet() -> Vec<Instance> {
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

    fn roles(decision: &Decision) -> Vec<(&str, &str)> {
        decision
            .members
            .iter()
            .map(|member| (member.instance_id.as_str(), member.role.as_str()))
            .collect()
    }

    fn find<'a>(decision: &'a Decision, id: &str) -> &'a Member {
        decision
            .members
            .iter()
            .find(|member| member.instance_id == id)
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

    #[test]
    fn seed_agent_registers_with_the_monitor() {
        let decision = decide(
            &Settings::default(),
            &inventory(Some("i-df71a7b6"), seed_fleet()),
        )
        .unwrap();
        assert_eq!(
            roles(&decision),
            [("i-2271a74b", "monitor"), ("i-df71a7b6", "agent")]
        );
        assert_eq!(decision.register_with, ["i-2271a74b"]);
        assert_eq!(
            decision.members[0].address.as_deref(),
            Some("10.251.199.99")
        );
        assert_eq!(decision.members[0].port, None);
        assert!(decision.members[0].clusters.is_empty());
    }

    #[test]
    fn a_lone_monitor_registers_with_nobody() {
        let decision = decide(
            &Settings::default(),
            &inventory(Some("i-2271a74b"), seed_fleet()),
        )
        .unwrap();
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
        let decision = decide(&Settings::default(), &inventory(Some("i-m2"), fleet)).unwrap();
        assert_eq!(decision.register_with, ["i-2271a74b", "i-m3"]);
    }

    #[test]
    fn the_role_is_the_trimmed_tag_value() {
        let fleet = vec![
            instance("i-m", "running", &[role("  monitor\t")], Some("10.0.0.1")),
            instance("i-a", "running", &[role(" agent ")], Some("10.0.0.2")),
            instance("i-x", "running", &[role("Monitor")], Some("10.0.0.3")),
        ];
        let decision = decide(&Settings::default(), &inventory(Some("i-a"), fleet)).unwrap();
        assert_eq!(
            roles(&decision),
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
            let decision =
                decide(&Settings::default(), &inventory(Some(id), fleet.clone())).unwrap();
            assert_eq!(
                roles(&decision),
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
        let fleet = vec![
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
        let decision = decide(&settings, &inventory(Some("i-a"), fleet)).unwrap();
        assert_eq!(roles(&decision), [("i-m", "monitor"), ("i-a", "agent")]);
        assert_eq!(decision.register_with, ["i-m"]);
    }

    #[test]
    fn cluster_lists_are_trimmed_sorted_and_deduplicated() {
        let fleet = vec![
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
        ];
        let decision = decide(&Settings::default(), &inventory(None, fleet)).unwrap();
        assert_eq!(find(&decision, "i-m").clusters, ["blue", "green"]);
        assert!(find(&decision, "i-blank").clusters.is_empty());
        assert!(find(&decision, "i-empty").clusters.is_empty());
        assert_eq!(find(&decision, "i-one").clusters, ["red"]);
    }

    #[test]
    fn a_custom_cluster_tag_is_the_only_one_read() {
        let settings = Settings {
            cluster_tag: "Clusters".to_owned(),
            ..Settings::default()
        };
        let fleet = vec![instance(
            "i-m",
            "running",
            &[role("monitor"), cluster("blue"), ("Clusters", "green")],
            Some("10.0.0.1"),
        )];
        let decision = decide(&settings, &inventory(None, fleet)).unwrap();
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
        let decision = decide(&Settings::default(), &inventory(Some("i-web"), fleet)).unwrap();
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
        let decide_for = |id: &str| decide(&settings, &inventory(Some(id), fleet.clone())).unwrap();

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
        let fleet = vec![
            instance("i-p1", "running", &[role("peer")], Some("10.0.0.1")),
            instance("i-p2", "running", &[role("peer")], Some("10.0.0.2")),
        ];
        let decision = decide(&settings, &inventory(Some("i-p1"), fleet)).unwrap();
        assert_eq!(decision.register_with, ["i-p2"]);
    }

    #[test]
    fn clusters_scope_registration() {
        let fleet = vec![
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
        ];
        let decide_for =
            |id: &str| decide(&Settings::default(), &inventory(Some(id), fleet.clone())).unwrap();

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
        let decision = decide(&Settings::default(), &inventory(Some("i-booting"), fleet)).unwrap();
        assert_eq!(
            roles(&decision),
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
        let decision = decide(&Settings::default(), &inventory(Some("i-off"), fleet)).unwrap();
        assert_eq!(decision.members.len(), 2);
        assert!(decision.register_with.is_empty());
    }

    #[test]
    fn members_without_an_address_are_members_but_not_targets() {
        let mut fleet = seed_fleet();
        fleet.push(instance("i-noip", "running", &[role("monitor")], None));
        let decision = decide(&Settings::default(), &inventory(Some("i-df71a7b6"), fleet)).unwrap();
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
        ] {
            let settings = Settings {
                address: kind,
                ..Settings::default()
            };
            let decision = decide(&settings, &inventory(None, seed_fleet())).unwrap();
            assert_eq!(decision.members[0].address.as_deref(), Some(expected));
        }
    }

    #[test]
    fn a_missing_address_of_the_chosen_kind_drops_the_target() {
        let settings = Settings {
            address: AddressKind::PublicDns,
            ..Settings::default()
        };
        let mut fleet = seed_fleet();
        fleet[0].public_dns_name = None;
        let decision = decide(&settings, &inventory(Some("i-df71a7b6"), fleet)).unwrap();
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
        let decision = decide(&settings, &inventory(None, fleet)).unwrap();
        assert_eq!(find(&decision, "i-2271a74b").port, Some(7070));
        assert_eq!(find(&decision, "i-df71a7b6").port, None);
        assert_eq!(find(&decision, "i-web").port, Some(80));
    }

    #[test]
    fn without_self_nobody_is_a_target() {
        let decision = decide(&Settings::default(), &inventory(None, seed_fleet())).unwrap();
        assert_eq!(decision.members.len(), 2);
        assert!(decision.register_with.is_empty());
    }

    #[test]
    fn an_unknown_self_is_an_error() {
        let err = decide(
            &Settings::default(),
            &inventory(Some("i-nope"), seed_fleet()),
        )
        .unwrap_err();
        assert!(err.contains("i-nope"), "{err}");
    }
}
