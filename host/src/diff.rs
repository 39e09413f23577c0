//! What changes between two decisions on the same fleet (`rollcall plugin
//! diff`): members that join or leave, role, cluster and address changes,
//! and self's registration targets, for one self or for every instance.

use crate::output::endpoint;
use crate::policy::{Decision, Member};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The difference between an old decision and a new one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DecisionDiff {
    /// Members only the new decision has.
    pub joined: Vec<MemberRole>,
    /// Members only the old decision had.
    pub left: Vec<MemberRole>,
    /// Members of both whose role, clusters, address or labels changed.
    pub changed: Vec<MemberChange>,
    /// Self's registration targets that only the new decision has, and that
    /// only the old one had, by self: one entry per self whose targets
    /// differ.
    pub targets: Vec<TargetChange>,
}

/// A member that joined or left, with its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberRole {
    pub instance_id: String,
    pub role: String,
}

impl MemberRole {
    fn of(member: &Member) -> Self {
        MemberRole {
            instance_id: member.instance_id.clone(),
            role: member.role.clone(),
        }
    }
}

/// How one member changed; a field is `None` when it did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberChange {
    pub instance_id: String,
    /// `[old, new]`.
    pub role: Option<[String; 2]>,
    /// `[old, new]`, names joined with `,` (`-` for none).
    pub clusters: Option<[String; 2]>,
    /// `[old, new]`, `address:port` (`-` for none).
    pub address: Option<[String; 2]>,
    /// `[old, new]`, `name="value"` joined with `, ` (`-` for none).
    pub labels: Option<[String; 2]>,
}

/// How one self's registration targets changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetChange {
    pub self_id: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl DecisionDiff {
    /// The members' difference between two validated decisions (members
    /// sorted by id).
    pub fn members(old: &Decision, new: &Decision) -> DecisionDiff {
        let old_members = by_id(&old.members);
        let new_members = by_id(&new.members);
        let mut diff = DecisionDiff::default();
        for (id, member) in &new_members {
            match old_members.get(id) {
                None => diff.joined.push(MemberRole::of(member)),
                Some(before) => diff.changed.extend(change(before, member)),
            }
        }
        for (id, member) in &old_members {
            if !new_members.contains_key(id) {
                diff.left.push(MemberRole::of(member));
            }
        }
        diff
    }

    /// Records how self's targets changed, if they did.
    pub fn add_targets(&mut self, self_id: &str, old: &[String], new: &[String]) {
        let added: Vec<String> = new.iter().filter(|id| !old.contains(id)).cloned().collect();
        let removed: Vec<String> = old.iter().filter(|id| !new.contains(id)).cloned().collect();
        if !added.is_empty() || !removed.is_empty() {
            self.targets.push(TargetChange {
                self_id: self_id.to_owned(),
                added,
                removed,
            });
        }
    }

    /// Whether the two decisions are the same.
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
            && self.left.is_empty()
            && self.changed.is_empty()
            && self.targets.is_empty()
    }

    /// One line: how many joined, left and changed, and how many selves'
    /// targets changed.
    pub fn summary(&self) -> String {
        format!(
            "{} joined, {} left, {} changed; registration targets changed for {} {}",
            self.joined.len(),
            self.left.len(),
            self.changed.len(),
            self.targets.len(),
            if self.targets.len() == 1 {
                "self"
            } else {
                "selves"
            }
        )
    }

    /// The difference for people, ending in a newline: one line per
    /// change, then the summary.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for joined in &self.joined {
            let _ = writeln!(text, "+ {} joins as {}", joined.instance_id, joined.role);
        }
        for left in &self.left {
            let _ = writeln!(text, "- {} leaves (was {})", left.instance_id, left.role);
        }
        for change in &self.changed {
            for (what, values) in [
                ("role", &change.role),
                ("clusters", &change.clusters),
                ("address", &change.address),
                ("labels", &change.labels),
            ] {
                if let Some([old, new]) = values {
                    let _ = writeln!(text, "~ {} {what} {old} -> {new}", change.instance_id);
                }
            }
        }
        for change in &self.targets {
            for id in &change.added {
                let _ = writeln!(text, "> {} now registers with {id}", change.self_id);
            }
            for id in &change.removed {
                let _ = writeln!(text, "> {} no longer registers with {id}", change.self_id);
            }
        }
        text + &self.summary() + "\n"
    }
}

fn by_id(members: &[Member]) -> BTreeMap<&str, &Member> {
    members
        .iter()
        .map(|member| (member.instance_id.as_str(), member))
        .collect()
}

/// How `before` became `after`, if it changed.
fn change(before: &Member, after: &Member) -> Option<MemberChange> {
    let differs = |old: String, new: String| (old != new).then_some([old, new]);
    let clusters = |member: &Member| match member.clusters.is_empty() {
        true => "-".to_owned(),
        false => member.clusters.join(","),
    };
    let address = |member: &Member| {
        member
            .address
            .as_deref()
            .map_or_else(|| "-".to_owned(), |address| endpoint(address, member.port))
    };
    let labels = |member: &Member| match member.labels.is_empty() {
        true => "-".to_owned(),
        false => member
            .labels
            .iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let change = MemberChange {
        instance_id: after.instance_id.clone(),
        role: differs(before.role.clone(), after.role.clone()),
        clusters: differs(clusters(before), clusters(after)),
        address: differs(address(before), address(after)),
        labels: differs(labels(before), labels(after)),
    };
    (change.role.is_some()
        || change.clusters.is_some()
        || change.address.is_some()
        || change.labels.is_some())
    .then_some(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, role: &str, clusters: &[&str], address: Option<&str>) -> Member {
        Member {
            instance_id: id.to_owned(),
            role: role.to_owned(),
            clusters: clusters.iter().map(|name| (*name).to_owned()).collect(),
            address: address.map(str::to_owned),
            port: None,
            labels: Default::default(),
            status: Default::default(),
        }
    }

    fn decision(members: Vec<Member>) -> Decision {
        Decision {
            members,
            register_with: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_same_decision_is_no_difference() {
        let one = decision(vec![member("i-1", "monitor", &["blue"], Some("10.0.0.1"))]);
        let diff = DecisionDiff::members(&one, &one.clone());
        assert!(diff.is_empty());
        assert_eq!(
            diff.text(),
            "0 joined, 0 left, 0 changed; registration targets changed for 0 selves\n"
        );
    }

    #[test]
    fn joins_leaves_and_changes_are_each_a_line() {
        let old = decision(vec![
            member("i-1", "monitor", &["blue"], Some("10.0.0.1")),
            member("i-2", "agent", &[], Some("10.0.0.2")),
            member("i-3", "agent", &[], None),
        ]);
        let new = decision(vec![
            member("i-1", "agent", &["blue", "green"], Some("10.0.0.9")),
            member("i-3", "agent", &[], None),
            member("i-4", "monitor", &[], Some("10.0.0.4")),
        ]);
        let mut diff = DecisionDiff::members(&old, &new);
        diff.add_targets("i-3", &["i-1".to_owned()], &["i-4".to_owned()]);
        diff.add_targets("i-2", &[], &[]);
        assert_eq!(
            diff.text(),
            "+ i-4 joins as monitor\n\
             - i-2 leaves (was agent)\n\
             ~ i-1 role monitor -> agent\n\
             ~ i-1 clusters blue -> blue,green\n\
             ~ i-1 address 10.0.0.1 -> 10.0.0.9\n\
             > i-3 now registers with i-4\n\
             > i-3 no longer registers with i-1\n\
             1 joined, 1 left, 1 changed; registration targets changed for 1 self\n"
        );
    }

    #[test]
    fn a_member_whose_labels_alone_changed_is_a_change() {
        let old = decision(vec![member("i-1", "monitor", &[], Some("10.0.0.1"))]);
        let mut new = old.clone();
        new.members[0]
            .labels
            .insert("team".to_owned(), "blue \"x\"".to_owned());
        let diff = DecisionDiff::members(&old, &new);
        assert_eq!(
            diff.text(),
            "~ i-1 labels - -> team=\"blue \\\"x\\\"\"\n\
             0 joined, 0 left, 1 changed; registration targets changed for 0 selves\n"
        );
    }
}
