//! What a template reads: the membership document (`self`,
//! `register_with`, `members`, `policy`, `inventory`, as `--format json`
//! writes it, with every member's `labels` present even when empty), and
//! views of it that keep templates short: `self_member`, `targets`,
//! `peers` and `roles`.

use crate::inventory::MemberStatus;
use crate::membership::{InventorySummary, Membership, SelfEntry, Target};
use crate::policy::{Labels, Member, PolicyIdentity};
use minijinja::Value;
use minijinja::value::Serde;
use serde::Serialize;
use std::collections::BTreeMap;

/// Every name the context gives, in the order errors list them.
pub const NAMES: [&str; 9] = [
    "self",
    "register_with",
    "members",
    "policy",
    "inventory",
    "self_member",
    "targets",
    "peers",
    "roles",
];

/// The context for `membership`.
pub fn of(membership: &Membership) -> Value {
    Value::from(Serde(Context::of(membership)))
}

#[derive(Serialize)]
struct Context<'a> {
    /// Self's entry of the document: `instance_id`, `role` (none when self
    /// is no member), `clusters`, `leaving` when it is going; none
    /// without a self.
    #[serde(rename = "self")]
    own: &'a Option<SelfEntry>,
    /// Whom self registers with, as the document lists them.
    register_with: &'a [Target],
    /// Every member, sorted by instance id.
    members: Vec<MemberView<'a>>,
    policy: &'a PolicyIdentity,
    inventory: &'a InventorySummary,
    /// Self's member (address, port, labels...), when self is a member.
    self_member: Option<MemberView<'a>>,
    /// The members self registers with, whole, sorted by instance id.
    targets: Vec<MemberView<'a>>,
    /// Self's member when it has an address, and its targets, sorted by
    /// instance id: a cluster's initial members as self sees them.
    peers: Vec<MemberView<'a>>,
    /// Every role with its members, sorted by name.
    roles: Vec<Role<'a>>,
}

/// A member as templates see it: as the document has it, with `labels`
/// always there.
#[derive(Debug, Clone, Copy, Serialize)]
struct MemberView<'a> {
    instance_id: &'a str,
    role: &'a str,
    clusters: &'a [String],
    address: Option<&'a str>,
    port: Option<u16>,
    labels: &'a Labels,
    #[serde(flatten)]
    status: &'a MemberStatus,
}

impl<'a> From<&'a Member> for MemberView<'a> {
    fn from(member: &'a Member) -> Self {
        MemberView {
            instance_id: &member.instance_id,
            role: &member.role,
            clusters: &member.clusters,
            address: member.address.as_deref(),
            port: member.port,
            labels: &member.labels,
            status: &member.status,
        }
    }
}

/// A role and its members.
#[derive(Serialize)]
struct Role<'a> {
    name: &'a str,
    members: Vec<MemberView<'a>>,
}

impl<'a> Context<'a> {
    fn of(membership: &'a Membership) -> Self {
        let members = &membership.members;
        let member = |id: &str| {
            members
                .binary_search_by(|member| member.instance_id.as_str().cmp(id))
                .ok()
                .map(|index| MemberView::from(&members[index]))
        };
        let self_member = membership
            .own
            .as_ref()
            .and_then(|own| member(&own.instance_id));
        let targets: Vec<MemberView> = membership
            .register_with
            .iter()
            .filter_map(|target| member(&target.instance_id))
            .collect();
        let mut peers: Vec<MemberView> = self_member
            .filter(|own| own.address.is_some())
            .into_iter()
            .chain(targets.iter().copied())
            .collect();
        peers.sort_by_key(|peer| peer.instance_id);
        peers.dedup_by_key(|peer| peer.instance_id);
        let mut roles: BTreeMap<&str, Vec<MemberView>> = BTreeMap::new();
        for member in members {
            roles.entry(&member.role).or_default().push(member.into());
        }
        Context {
            own: &membership.own,
            register_with: &membership.register_with,
            members: members.iter().map(MemberView::from).collect(),
            policy: &membership.policy,
            inventory: &membership.inventory,
            self_member,
            targets,
            peers,
            roles: roles
                .into_iter()
                .map(|(name, members)| Role { name, members })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_templates_are_told_of_are_the_names_the_context_gives() {
        let membership = super::super::sample::membership();
        let context = serde_json::to_value(Context::of(&membership)).unwrap();
        let mut given: Vec<&str> = context
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        given.sort_unstable();
        let mut told = NAMES.to_vec();
        told.sort_unstable();
        assert_eq!(given, told);
    }

    #[test]
    fn the_document_in_the_context_is_the_json_document_with_labels_always_there() {
        let membership = super::super::sample::membership();
        let context = serde_json::to_value(Context::of(&membership)).unwrap();
        let mut document = serde_json::to_value(&membership).unwrap();
        for member in document["members"].as_array_mut().unwrap() {
            let member = member.as_object_mut().unwrap();
            member.entry("labels").or_insert(serde_json::json!({}));
        }
        for key in ["self", "register_with", "members", "policy", "inventory"] {
            assert_eq!(context[key], document[key], "{key}");
        }
    }

    #[test]
    fn peers_are_self_with_an_address_and_its_targets_sorted() {
        let membership = super::super::sample::membership();
        let context = Context::of(&membership);
        fn ids<'a>(views: &[MemberView<'a>]) -> Vec<&'a str> {
            views.iter().map(|view| view.instance_id).collect()
        }
        assert_eq!(ids(&context.targets), ["i-0a1", "i-0b2"]);
        assert_eq!(ids(&context.peers), ["i-0a1", "i-0b2", "i-0c3"]);
        let names: Vec<&str> = context.roles.iter().map(|role| role.name).collect();
        assert_eq!(names, ["agent", "monitor"]);
    }
}
