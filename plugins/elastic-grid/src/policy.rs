//! The Elastic Grid rules as a pure function of settings and inventory.
//!
//! - Only `running` instances are members; self is evaluated whatever its
//!   state (at boot EC2 may still report it `pending`).
//! - Role: `monitor` if in the monitor group (even if also in the agent
//!   group), else `agent` if in the agent group, else no role.
//! - Clusters: with a prefix, every group whose name starts with it, prefix
//!   stripped, sorted.
//! - A monitor registers with every other monitor, an agent with every
//!   monitor, an instance without a role with nobody. With clustering on, only
//!   with monitors that share a cluster with self (two instances without any
//!   cluster count as sharing). Monitors without an address of the chosen
//!   kind stay members but are no registration target.

use crate::settings::Settings;
use rollcall_policy_sdk::{
    Decision, Instance, Inventory, Member, candidates, checked_self_id, share_a_cluster,
};

/// The role of instances in the monitor group.
pub const MONITOR: &str = "monitor";
/// The role of instances in the agent group.
pub const AGENT: &str = "agent";

/// Decides members and self's registration targets.
pub fn decide(settings: &Settings, inventory: &Inventory) -> Result<Decision, String> {
    let self_id = checked_self_id(inventory)?;
    let members: Vec<Member> = candidates(inventory)
        .filter_map(|instance| member(settings, instance))
        .collect();

    let own = self_id.and_then(|id| members.iter().find(|member| member.instance_id == id));
    let register_with = match own {
        Some(own) => members
            .iter()
            .filter(|target| {
                target.role == MONITOR
                    && target.instance_id != own.instance_id
                    && target.address.is_some()
                    && (settings.cluster_group_prefix.is_none()
                        || share_a_cluster(&own.clusters, &target.clusters))
            })
            .map(|target| target.instance_id.clone())
            .collect(),
        None => Vec::new(),
    };

    Ok(Decision {
        members,
        register_with,
    })
}

/// The member an instance is, or `None` if it has no role.
fn member(settings: &Settings, instance: &Instance) -> Option<Member> {
    let (role, port) = if in_group(instance, &settings.monitor_group) {
        (MONITOR, settings.monitor_port)
    } else if in_group(instance, &settings.agent_group) {
        (AGENT, settings.agent_port)
    } else {
        return None;
    };
    Some(Member {
        instance_id: instance.id.clone(),
        role: role.to_owned(),
        clusters: clusters(settings, instance),
        address: settings.address.of(instance),
        port,
    })
}

/// Whether the instance carries the group, named by name or by id.
fn in_group(instance: &Instance, group: &str) -> bool {
    instance
        .security_groups
        .iter()
        .any(|candidate| candidate.name == group || candidate.id == group)
}

fn clusters(settings: &Settings, instance: &Instance) -> Vec<String> {
    let Some(prefix) = settings.cluster_group_prefix.as_deref() else {
        return Vec::new();
    };
    let mut clusters: Vec<String> = instance
        .security_groups
        .iter()
        .filter_map(|group| group.name.strip_prefix(prefix))
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
    use rollcall_policy_sdk::{AddressKind, SecurityGroup};

    fn instance(id: &str, state: &str, groups: &[&str], ip: Option<&str>) -> Instance {
        Instance {
            id: id.to_owned(),
            state: state.to_owned(),
            private_ipv4: ip.map(str::to_owned),
            public_ipv4: ip.map(|ip| format!("54.{ip}")),
            private_dns_name: ip.map(|ip| format!("ip-{}.ec2.internal", ip.replace('.', "-"))),
            public_dns_name: None,
            ipv6_addresses: Vec::new(),
            security_groups: groups
                .iter()
                .map(|name| SecurityGroup {
                    id: format!("sg-{name}"),
                    name: (*name).to_owned(),
                })
                .collect(),
            tags: Vec::new(),
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

    fn seed_fleet() -> Vec<Instance> {
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

    fn roles(decision: &Decision) -> Vec<(&str, &str)> {
        decision
            .members
            .iter()
            .map(|member| (member.instance_id.as_str(), member.role.as_str()))
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
            [("i-2271a74b", MONITOR), ("i-df71a7b6", AGENT)]
        );
        assert_eq!(decision.register_with, ["i-2271a74b"]);
        assert_eq!(
            decision.members[0].address.as_deref(),
            Some("10.251.199.99")
        );
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
            &["eg-monitor"],
            Some("10.0.0.2"),
        ));
        fleet.push(instance(
            "i-m3",
            "running",
            &["eg-monitor"],
            Some("10.0.0.3"),
        ));
        let decision = decide(&Settings::default(), &inventory(Some("i-m2"), fleet)).unwrap();
        assert_eq!(decision.register_with, ["i-2271a74b", "i-m3"]);
    }

    #[test]
    fn monitor_group_wins_over_agent_group() {
        let fleet = vec![instance(
            "i-both",
            "running",
            &["eg-cybernode", "eg-monitor"],
            Some("10.0.0.1"),
        )];
        let decision = decide(&Settings::default(), &inventory(None, fleet)).unwrap();
        assert_eq!(roles(&decision), [("i-both", MONITOR)]);
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
        let decision = decide(&Settings::default(), &inventory(Some("i-web"), fleet)).unwrap();
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
        let decision = decide(&Settings::default(), &inventory(Some("i-booting"), fleet)).unwrap();
        assert_eq!(
            roles(&decision),
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
        let decision = decide(&settings, &inventory(Some("i-df71a7b6"), seed_fleet())).unwrap();
        assert_eq!(
            roles(&decision),
            [("i-2271a74b", MONITOR), ("i-df71a7b6", AGENT)]
        );
        assert_eq!(decision.register_with, ["i-2271a74b"]);
    }

    #[test]
    fn clusters_scope_registration() {
        let settings = Settings {
            cluster_group_prefix: Some("cluster-".to_owned()),
            ..Settings::default()
        };
        let fleet = vec![
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
                &["eg-monitor", "cluster-green", "cluster-blue"],
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
        ];
        let decide_for = |id: &str| decide(&settings, &inventory(Some(id), fleet.clone())).unwrap();

        let blue_agent = decide_for("i-ab");
        assert_eq!(blue_agent.register_with, ["i-mb", "i-mbg"]);
        let bare_agent = decide_for("i-a0");
        assert_eq!(bare_agent.register_with, ["i-m0"]);
        let green_monitor = decide_for("i-mg");
        assert_eq!(green_monitor.register_with, ["i-mbg"]);

        let both = blue_agent
            .members
            .iter()
            .find(|member| member.instance_id == "i-mbg")
            .unwrap();
        assert_eq!(both.clusters, ["blue", "green"]);
    }

    #[test]
    fn without_a_prefix_nobody_has_clusters_and_groups_do_not_scope() {
        let fleet = vec![
            instance(
                "i-mb",
                "running",
                &["eg-monitor", "cluster-blue"],
                Some("10.0.0.1"),
            ),
            instance("i-a0", "running", &["eg-cybernode"], Some("10.0.1.2")),
        ];
        let decision = decide(&Settings::default(), &inventory(Some("i-a0"), fleet)).unwrap();
        assert!(
            decision
                .members
                .iter()
                .all(|member| member.clusters.is_empty())
        );
        assert_eq!(decision.register_with, ["i-mb"]);
    }

    #[test]
    fn monitors_without_an_address_are_members_but_not_targets() {
        let mut fleet = seed_fleet();
        fleet.push(instance("i-noip", "running", &["eg-monitor"], None));
        let decision = decide(&Settings::default(), &inventory(Some("i-df71a7b6"), fleet)).unwrap();
        let noip = decision
            .members
            .iter()
            .find(|member| member.instance_id == "i-noip")
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
        let decision = decide(&settings, &inventory(None, seed_fleet())).unwrap();
        assert_eq!(
            decision.members[0].address.as_deref(),
            Some("ip-10-251-199-99.ec2.internal")
        );
        assert_eq!(decision.members[0].port, Some(7070));
        assert_eq!(decision.members[1].port, Some(7071));

        let public = Settings {
            address: AddressKind::PublicIp,
            ..Settings::default()
        };
        let decision = decide(&public, &inventory(None, seed_fleet())).unwrap();
        assert_eq!(
            decision.members[0].address.as_deref(),
            Some("54.10.251.199.99")
        );
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
