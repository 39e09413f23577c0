//! The record sets a membership document asks for, and which record sets of
//! the zone the sink owns: pure functions of the document and the pattern.
//!
//! Per role and cluster, the pattern's name (`{role}.{cluster}.SUFFIX`)
//! holds an A record set of the members' IPv4 addresses and an AAAA record
//! set of their IPv6 ones. A member with a port is also an SRV value there,
//! `0 0 PORT ID.NAME.`, whose target `ID.NAME` (the instance id as a label
//! in front of the role's name) holds the member's own A or AAAA record:
//! an SRV target must be a host name, not an address. A member in several
//! clusters is under each; a member without a cluster is under the
//! cluster [`NO_CLUSTER`]. A pattern without `{cluster}` puts every
//! member of a role under one name.
//!
//! A role, cluster or instance id that is not a host name label (after
//! lowercasing) is never written: the member is left out of the names it
//! would have made, and the string is reported for a warning.

use crate::membership::Membership;
use crate::settings::route53::{Label, NAME_MAX, NamePattern, is_host_label};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The cluster label of members without a cluster.
pub const NO_CLUSTER: &str = "none";

/// The most values one record set holds: the members with the lowest
/// instance ids are kept. A DNS answer of more addresses than this is
/// truncated on the way anyway, and one record set must fit a change batch.
pub const MAX_VALUES: usize = 400;

/// The record types the sink writes, and so owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    A,
    Aaaa,
    Srv,
}

impl RecordType {
    pub fn name(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Srv => "SRV",
        }
    }

    pub fn from_name(name: &str) -> Option<RecordType> {
        match name {
            "A" => Some(RecordType::A),
            "AAAA" => Some(RecordType::Aaaa),
            "SRV" => Some(RecordType::Srv),
            _ => None,
        }
    }
}

/// One record set: a name (lowercase, with the final dot), a type, a TTL in
/// seconds and its values, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSet {
    pub name: String,
    pub kind: RecordType,
    pub ttl: i64,
    pub values: Vec<String>,
}

/// A record set's identity in the zone.
pub type Key = (String, RecordType);

/// Record sets by name and type.
pub type RecordSets = BTreeMap<Key, RecordSet>;

/// What a document asks for, and what of it could not be written.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Desired {
    pub sets: RecordSets,
    /// Roles, clusters and instance ids that are no host name label, each
    /// once, as the policy or the fleet wrote them.
    pub left_out: BTreeSet<String>,
    /// Names of the record sets cut to [`MAX_VALUES`].
    pub capped: Vec<String>,
}

/// The record sets `membership` asks for under `pattern` with `ttl`
/// seconds.
pub fn desired(membership: &Membership, pattern: &NamePattern, ttl: i64) -> Desired {
    let mut values: BTreeMap<Key, BTreeSet<String>> = BTreeMap::new();
    let mut left_out = BTreeSet::new();
    for member in &membership.members {
        let Some(role) = label(&member.role, &mut left_out) else {
            continue;
        };
        let clusters: Vec<String> = if !pattern.has_cluster() {
            vec![String::new()]
        } else if member.clusters.is_empty() {
            vec![NO_CLUSTER.to_owned()]
        } else {
            member
                .clusters
                .iter()
                .filter_map(|cluster| label(cluster, &mut left_out))
                .collect()
        };
        let Some(address) = member
            .address
            .as_deref()
            .and_then(|address| address.parse::<IpAddr>().ok())
        else {
            continue;
        };
        let kind = match address {
            IpAddr::V4(_) => RecordType::A,
            IpAddr::V6(_) => RecordType::Aaaa,
        };
        let own = match member.port {
            Some(port) => label(&member.instance_id, &mut left_out).map(|id| (id, port)),
            None => None,
        };
        for cluster in clusters {
            let name = name_of(pattern, &role, &cluster);
            if name.len() > NAME_MAX + 1 {
                left_out.insert(name);
                continue;
            }
            values
                .entry((name.clone(), kind))
                .or_default()
                .insert(address.to_string());
            if let Some((id, port)) = &own {
                let target = format!("{id}.{name}");
                if target.len() > NAME_MAX + 1 {
                    left_out.insert(target);
                    continue;
                }
                values
                    .entry((name, RecordType::Srv))
                    .or_default()
                    .insert(format!("0 0 {port} {target}"));
                values
                    .entry((target, kind))
                    .or_default()
                    .insert(address.to_string());
            }
        }
    }
    let mut capped = Vec::new();
    let sets = values
        .into_iter()
        .map(|((name, kind), values)| {
            if values.len() > MAX_VALUES {
                capped.push(name.clone());
            }
            let values = values.into_iter().take(MAX_VALUES).collect();
            let set = RecordSet {
                name: name.clone(),
                kind,
                ttl,
                values,
            };
            ((name, kind), set)
        })
        .collect();
    Desired {
        sets,
        left_out,
        capped,
    }
}

/// `text` lowercased, if that is a host name label; else `None`, and
/// `text` noted in `left_out`.
fn label(text: &str, left_out: &mut BTreeSet<String>) -> Option<String> {
    let lower = text.to_lowercase();
    if is_host_label(&lower) {
        Some(lower)
    } else {
        left_out.insert(text.to_owned());
        None
    }
}

/// The pattern's name for `role` and `cluster` (ignored without a
/// `{cluster}` label), with the final dot.
fn name_of(pattern: &NamePattern, role: &str, cluster: &str) -> String {
    let mut name = String::new();
    for label in pattern.labels() {
        name.push_str(match label {
            Label::Role => role,
            Label::Cluster => cluster,
            Label::Fixed(fixed) => fixed,
        });
        name.push('.');
    }
    name
}

/// Whether the sink owns the record set `name` (as Route 53 writes it,
/// with or without the final dot): a name of the pattern's shape (each
/// placeholder any host name label) or one label below it, where the SRV
/// targets are.
pub fn owns(pattern: &NamePattern, name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let shape = pattern.labels();
    let below = match labels.len().checked_sub(shape.len()) {
        Some(extra @ (0 | 1)) => &labels[extra..],
        _ => return false,
    };
    labels.iter().all(|label| is_host_label(label))
        && below.iter().zip(shape).all(|(label, shaped)| match shaped {
            Label::Fixed(fixed) => label == fixed,
            Label::Role | Label::Cluster => true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::sample;

    fn pattern(text: &str) -> NamePattern {
        NamePattern::try_from(text.to_owned()).unwrap()
    }

    /// A member: instance id, role, clusters, address, port.
    type Written<'a> = (&'a str, &'a str, &'a [&'a str], &'a str, Option<u16>);

    fn fleet(members: &[Written]) -> Membership {
        let mut membership = sample(&[], &[]);
        membership.members = members
            .iter()
            .map(|(id, role, clusters, address, port)| {
                let mut member = sample(&[(id, role)], &[]).members.remove(0);
                member.clusters = clusters.iter().map(|c| (*c).to_owned()).collect();
                member.address = Some((*address).to_owned());
                member.port = *port;
                member
            })
            .collect();
        membership
    }

    fn values<'d>(desired: &'d Desired, name: &str, kind: RecordType) -> Vec<&'d str> {
        desired
            .sets
            .get(&(name.to_owned(), kind))
            .map(|set| set.values.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn each_role_and_cluster_gets_its_addresses_and_srv_targets_of_their_own() {
        let membership = fleet(&[
            ("i-1", "monitor", &["blue"], "10.0.0.1", Some(7070)),
            ("i-2", "monitor", &["blue", "green"], "fd00::2", Some(7070)),
            ("i-3", "agent", &["blue"], "10.0.0.3", None),
            ("i-4", "agent", &[], "10.0.0.4", None),
        ]);
        let desired = desired(&membership, &pattern("{role}.{cluster}.fleet.internal"), 60);
        let blue = "monitor.blue.fleet.internal.";
        assert_eq!(values(&desired, blue, RecordType::A), ["10.0.0.1"]);
        assert_eq!(values(&desired, blue, RecordType::Aaaa), ["fd00::2"]);
        assert_eq!(
            values(&desired, blue, RecordType::Srv),
            [
                "0 0 7070 i-1.monitor.blue.fleet.internal.",
                "0 0 7070 i-2.monitor.blue.fleet.internal."
            ]
        );
        assert_eq!(
            values(
                &desired,
                "i-2.monitor.blue.fleet.internal.",
                RecordType::Aaaa
            ),
            ["fd00::2"]
        );
        assert_eq!(
            values(&desired, "monitor.green.fleet.internal.", RecordType::Aaaa),
            ["fd00::2"]
        );
        assert_eq!(
            values(&desired, "agent.blue.fleet.internal.", RecordType::A),
            ["10.0.0.3"]
        );
        assert_eq!(
            values(&desired, "agent.none.fleet.internal.", RecordType::A),
            ["10.0.0.4"]
        );
        assert_eq!(desired.sets.len(), 10, "{:#?}", desired.sets.keys());
        assert!(desired.sets.values().all(|set| set.ttl == 60));

        let by_role = super::desired(&membership, &pattern("{role}.fleet.internal"), 60);
        assert_eq!(
            values(&by_role, "agent.fleet.internal.", RecordType::A),
            ["10.0.0.3", "10.0.0.4"]
        );
    }

    #[test]
    fn hostile_roles_clusters_and_ids_are_left_out_and_named() {
        let membership = fleet(&[
            ("i-1", "mon\nitor", &["blue"], "10.0.0.1", None),
            (
                "i-2",
                "agent",
                &["x.evil.internal", "blue"],
                "10.0.0.2",
                None,
            ),
            ("i-3\"", "agent", &["blue"], "10.0.0.3", Some(80)),
            ("i-4", "Agent", &["{{%;#"], "10.0.0.4", None),
            ("i-5", "agent", &["héllo"], "10.0.0.5", None),
        ]);
        let desired = desired(&membership, &pattern("{role}.{cluster}.fleet.internal"), 60);
        assert_eq!(
            desired.left_out,
            ["i-3\"", "mon\nitor", "x.evil.internal", "{{%;#", "héllo"]
                .into_iter()
                .map(str::to_owned)
                .collect()
        );
        let names: Vec<&str> = desired.sets.keys().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["agent.blue.fleet.internal."]);
        assert_eq!(
            values(&desired, "agent.blue.fleet.internal.", RecordType::A),
            ["10.0.0.2", "10.0.0.3"]
        );
    }

    #[test]
    fn a_record_set_holds_at_most_max_values() {
        let addresses: Vec<String> = (0..MAX_VALUES + 5)
            .map(|n| format!("10.0.{}.{}", n / 256, n % 256))
            .collect();
        let ids: Vec<String> = (0..addresses.len()).map(|n| format!("i-{n:05}")).collect();
        let members: Vec<Written> = ids
            .iter()
            .zip(&addresses)
            .map(|(id, address)| (id.as_str(), "agent", &[][..], address.as_str(), None))
            .collect();
        let desired = desired(&fleet(&members), &pattern("{role}.fleet.internal"), 60);
        assert_eq!(
            values(&desired, "agent.fleet.internal.", RecordType::A).len(),
            MAX_VALUES
        );
        assert_eq!(desired.capped, ["agent.fleet.internal."]);
    }

    #[test]
    fn the_sink_owns_the_pattern_s_shape_and_one_label_below_nothing_else() {
        let pattern = pattern("{role}.{cluster}.fleet.internal");
        for owned in [
            "monitor.blue.fleet.internal.",
            "i-1.monitor.blue.fleet.internal.",
            "Other.Name.fleet.internal",
        ] {
            assert!(owns(&pattern, owned), "{owned}");
        }
        for foreign in [
            "fleet.internal.",
            "blue.fleet.internal.",
            "a.b.c.d.fleet.internal.",
            "monitor.blue.other.internal.",
            "\\052.blue.fleet.internal.",
            "_srv.blue.fleet.internal.",
        ] {
            assert!(!owns(&pattern, foreign), "{foreign}");
        }
    }
}
