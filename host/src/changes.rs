//! Change events: what differs between two answers, and a bounded history of
//! them for `/v1/events`. Every difference in the document but its fetch time
//! and staleness is a change, and every change has an event that names it.

use crate::inventory::MemberStatus;
use crate::membership::Membership;
use crate::policy::Member;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Instances that became members.
    Joined,
    /// Members that are members no more.
    Left,
    /// Members whose role changed.
    RoleChanged,
    /// Self's registration targets changed (the ids are the new targets).
    TargetsChanged,
    /// Members whose clusters, address or port changed, or what the fleet
    /// says of them: account, Auto Scaling lifecycle, leaving.
    MembersChanged,
    /// Self changed: another instance, or its role or clusters (the id is
    /// the new self, if any).
    SelfChanged,
    /// Another policy decided (another file, build or path); no ids.
    PolicyChanged,
    /// The inventory's source or its number of instances changed, members
    /// or not; no ids.
    InventoryChanged,
    /// Self started leaving the fleet (the id is self); told once in a
    /// daemon's life, when self's leave first becomes known.
    SelfLeaving,
}

impl ChangeKind {
    /// The name events and the exec sink's variables use.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Joined => "joined",
            ChangeKind::Left => "left",
            ChangeKind::RoleChanged => "role_changed",
            ChangeKind::TargetsChanged => "targets_changed",
            ChangeKind::MembersChanged => "members_changed",
            ChangeKind::SelfChanged => "self_changed",
            ChangeKind::PolicyChanged => "policy_changed",
            ChangeKind::InventoryChanged => "inventory_changed",
            ChangeKind::SelfLeaving => "self_leaving",
        }
    }

    /// Every kind, in the order changes are reported.
    pub const ALL: [ChangeKind; 9] = [
        ChangeKind::Joined,
        ChangeKind::Left,
        ChangeKind::RoleChanged,
        ChangeKind::TargetsChanged,
        ChangeKind::MembersChanged,
        ChangeKind::SelfChanged,
        ChangeKind::PolicyChanged,
        ChangeKind::InventoryChanged,
        ChangeKind::SelfLeaving,
    ];
}

/// One change, as published to sinks and served by `/v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeEvent {
    /// Increases by one per event for the daemon's lifetime.
    pub sequence: u64,
    /// RFC 3339.
    pub at: String,
    /// What changed.
    pub kind: ChangeKind,
    /// The instances it concerns, sorted (for `targets_changed`, self's new targets).
    pub instance_ids: Vec<String>,
}

/// The changes from `old` to `new`, ids sorted. With no previous answer
/// every member has joined. `TargetsChanged` carries self's new targets (none
/// when self lost them all) and is reported when any target, address or port
/// differs. Empty exactly when the documents agree on everything but when
/// the fleet was fetched (and, with a shared snapshot, by whom), whether it
/// is stale, and which members are unconfirmed (missing from the latest
/// listing within their grace: a member that drops out of one listing and
/// comes back is no change at all).
pub fn changes(old: Option<&Membership>, new: &Membership) -> Vec<(ChangeKind, Vec<String>)> {
    let roles_of = |membership: Option<&Membership>| -> BTreeMap<String, String> {
        membership
            .into_iter()
            .flat_map(|membership| &membership.members)
            .map(|member| (member.instance_id.clone(), member.role.clone()))
            .collect()
    };

    let (before, after) = (roles_of(old), roles_of(Some(new)));
    let ids_where = |map: &BTreeMap<String, String>, keep: &dyn Fn(&String, &String) -> bool| {
        map.iter()
            .filter(|(id, role)| keep(id, role))
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>()
    };

    let mut changes = Vec::new();
    let joined = ids_where(&after, &|id, _| !before.contains_key(id));
    let left = ids_where(&before, &|id, _| !after.contains_key(id));
    let role_changed = ids_where(&after, &|id, role| {
        before.get(id).is_some_and(|old_role| old_role != role)
    });
    for (kind, ids) in [
        (ChangeKind::Joined, joined),
        (ChangeKind::Left, left),
        (ChangeKind::RoleChanged, role_changed),
    ] {
        if !ids.is_empty() {
            changes.push((kind, ids));
        }
    }
    let old_targets = old.map_or(&[][..], |membership| &membership.register_with[..]);
    if old_targets != &new.register_with[..] {
        let targets = new
            .register_with
            .iter()
            .map(|target| target.instance_id.clone())
            .collect();
        changes.push((ChangeKind::TargetsChanged, targets));
    }

    let old_members = members_by_id(old);
    let reached_differently: Vec<String> = members_by_id(Some(new))
        .into_iter()
        .filter(|(id, member)| {
            old_members.get(id).is_some_and(|old| {
                let confirmed = |status: &MemberStatus| MemberStatus {
                    unconfirmed: false,
                    ..status.clone()
                };
                (
                    &old.clusters,
                    &old.address,
                    old.port,
                    confirmed(&old.status),
                ) != (
                    &member.clusters,
                    &member.address,
                    member.port,
                    confirmed(&member.status),
                )
            })
        })
        .map(|(id, _)| id.to_owned())
        .collect();
    if !reached_differently.is_empty() {
        changes.push((ChangeKind::MembersChanged, reached_differently));
    }
    let Some(old) = old else {
        return changes;
    };
    if old.own != new.own {
        let own = new.own.iter().map(|own| own.instance_id.clone()).collect();
        changes.push((ChangeKind::SelfChanged, own));
    }
    if old.policy != new.policy {
        changes.push((ChangeKind::PolicyChanged, Vec::new()));
    }
    if (&old.inventory.source, old.inventory.instances)
        != (&new.inventory.source, new.inventory.instances)
    {
        changes.push((ChangeKind::InventoryChanged, Vec::new()));
    }
    changes
}

fn members_by_id(membership: Option<&Membership>) -> BTreeMap<&str, &Member> {
    membership
        .into_iter()
        .flat_map(|membership| &membership.members)
        .map(|member| (member.instance_id.as_str(), member))
        .collect()
}

/// The last `capacity` events, oldest first.
pub struct EventLog {
    capacity: usize,
    inner: Mutex<History>,
}

struct History {
    next_sequence: u64,
    events: VecDeque<ChangeEvent>,
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        EventLog {
            capacity,
            inner: Mutex::new(History {
                next_sequence: 1,
                events: VecDeque::with_capacity(capacity),
            }),
        }
    }

    /// Records one change and returns the event.
    pub fn record(&self, at: String, kind: ChangeKind, instance_ids: Vec<String>) -> ChangeEvent {
        let mut history = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let event = ChangeEvent {
            sequence: history.next_sequence,
            at,
            kind,
            instance_ids,
        };
        history.next_sequence += 1;
        if history.events.len() == self.capacity {
            history.events.pop_front();
        }
        history.events.push_back(event.clone());
        event
    }

    /// Events with a sequence number above `after`, oldest first.
    pub fn since(&self, after: u64) -> Vec<ChangeEvent> {
        let history = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        history
            .events
            .iter()
            .filter(|event| event.sequence > after)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::membership::sample as membership;

    #[test]
    fn the_first_answer_is_all_joins_and_its_targets() {
        let first = membership(
            &[("i-b", "agent"), ("i-a", "monitor")],
            &[("i-a", "10.0.0.1")],
        );
        assert_eq!(
            changes(None, &first),
            [
                (ChangeKind::Joined, vec!["i-a".to_owned(), "i-b".to_owned()]),
                (ChangeKind::TargetsChanged, vec!["i-a".to_owned()]),
            ]
        );
    }

    #[test]
    fn joins_leaves_role_and_target_changes_are_told_apart() {
        let old = membership(
            &[("i-a", "monitor"), ("i-b", "agent"), ("i-c", "agent")],
            &[("i-a", "10.0.0.1")],
        );
        let new = membership(
            &[("i-a", "monitor"), ("i-b", "monitor"), ("i-d", "agent")],
            &[("i-a", "10.0.0.1"), ("i-b", "10.0.0.2")],
        );
        assert_eq!(
            changes(Some(&old), &new),
            [
                (ChangeKind::Joined, vec!["i-d".to_owned()]),
                (ChangeKind::Left, vec!["i-c".to_owned()]),
                (ChangeKind::RoleChanged, vec!["i-b".to_owned()]),
                (
                    ChangeKind::TargetsChanged,
                    vec!["i-a".to_owned(), "i-b".to_owned()]
                ),
            ]
        );
        assert!(changes(Some(&new), &new).is_empty());
    }

    #[test]
    fn a_target_that_moved_is_a_change_and_losing_all_targets_too() {
        let old = membership(&[("i-a", "monitor")], &[("i-a", "10.0.0.1")]);
        let moved = membership(&[("i-a", "monitor")], &[("i-a", "10.0.0.9")]);
        assert_eq!(
            changes(Some(&old), &moved),
            [(ChangeKind::TargetsChanged, vec!["i-a".to_owned()])]
        );
        let none = membership(&[("i-a", "monitor")], &[]);
        assert_eq!(
            changes(Some(&old), &none),
            [(ChangeKind::TargetsChanged, Vec::new())]
        );
    }

    #[test]
    fn every_difference_but_fetch_time_and_staleness_is_a_change() {
        use crate::inventory::SnapshotNote;
        use crate::membership::SelfEntry;
        let old = membership(&[("i-a", "monitor"), ("i-b", "agent")], &[]);
        let mut new = old.clone();
        new.inventory.fetched_at = "later".into();
        new.inventory.stale = true;
        new.inventory.error = Some("down".into());
        // Who listed the fleet's snapshot changes every period.
        new.inventory.snapshot = Some(SnapshotNote {
            object: "s3://fleet-bucket/prod/snapshot.zst".into(),
            listed_by: Some("i-b".into()),
            listed_here: true,
            age_seconds: 12,
        });
        assert!(changes(Some(&old), &new).is_empty());

        new.members[0].address = Some("10.0.0.9".into());
        new.members[1].clusters = vec!["blue".into()];
        new.own = Some(SelfEntry {
            instance_id: "i-b".into(),
            role: Some("agent".into()),
            clusters: vec!["blue".into()],
            leaving: None,
        });
        new.policy.sha256 = "another build".into();
        new.inventory.instances += 1;
        assert_eq!(
            changes(Some(&old), &new),
            [
                (
                    ChangeKind::MembersChanged,
                    vec!["i-a".to_owned(), "i-b".to_owned()]
                ),
                (ChangeKind::SelfChanged, vec!["i-b".to_owned()]),
                (ChangeKind::PolicyChanged, Vec::new()),
                (ChangeKind::InventoryChanged, Vec::new()),
            ]
        );
    }

    #[test]
    fn an_unconfirmed_member_is_no_change_and_a_leaving_one_is() {
        let old = membership(&[("i-a", "monitor"), ("i-b", "agent")], &[]);
        let mut missing = old.clone();
        missing.members[1].status.unconfirmed = true;
        assert!(
            changes(Some(&old), &missing).is_empty(),
            "a member kept through a dropout changes nothing"
        );
        assert!(changes(Some(&missing), &old).is_empty(), "nor its return");

        let mut leaving = old.clone();
        leaving.members[0].status.leaving = Some(crate::inventory::LeavingEntry {
            reason: "spot-interruption".into(),
            deadline: None,
        });
        leaving.members[1].status.lifecycle = crate::inventory::LifecycleState::Standby;
        assert_eq!(
            changes(Some(&old), &leaving),
            [(
                ChangeKind::MembersChanged,
                vec!["i-a".to_owned(), "i-b".to_owned()]
            )]
        );
    }

    #[test]
    fn the_log_keeps_the_last_events_in_order() {
        let log = EventLog::new(2);
        for n in 0..3 {
            log.record(format!("t{n}"), ChangeKind::Joined, vec![format!("i-{n}")]);
        }
        let events = log.since(0);
        assert_eq!(
            events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(log.since(2).len(), 1);
        assert!(log.since(3).is_empty());
    }
}
