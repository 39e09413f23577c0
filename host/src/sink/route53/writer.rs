//! Which node of the fleet writes the records, so a fleet of thousands
//! writes once: with a shared snapshot, the node that holds its lease (it
//! listed EC2 for the document: `inventory.snapshot.listed_here`); without
//! one, the member with the lowest instance id (of `writer_role`, when
//! set), if that is self. A node off the fleet (no self) never writes.

use crate::membership::Membership;

/// Whether this node writes, and why, for the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writer {
    /// This node writes.
    Here(&'static str),
    /// Another node does (or none).
    Elsewhere(String),
}

/// Whether this node writes the records of `membership`.
pub fn writer(membership: &Membership, writer_role: Option<&str>) -> Writer {
    if let Some(snapshot) = &membership.inventory.snapshot {
        return if snapshot.listed_here {
            Writer::Here("this node holds the snapshot's lease")
        } else {
            Writer::Elsewhere(format!(
                "{} holds the snapshot's lease",
                snapshot.listed_by.as_deref().unwrap_or("another node")
            ))
        };
    }
    let Some(own) = &membership.own else {
        return Writer::Elsewhere("this node is not on the fleet (no self)".to_owned());
    };
    // Members are sorted by instance id: the first of the role is the
    // lowest.
    let chosen = membership
        .members
        .iter()
        .find(|member| writer_role.is_none_or(|role| member.role == role));
    match chosen {
        Some(chosen) if chosen.instance_id == own.instance_id => {
            Writer::Here("self is the writer role's member with the lowest instance id")
        }
        Some(chosen) => Writer::Elsewhere(format!("{} writes", chosen.instance_id)),
        None => Writer::Elsewhere(format!(
            "no member has the writer role {}",
            writer_role.unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::SnapshotNote;
    use crate::membership::{SelfEntry, sample};

    fn with_self(mut membership: Membership, id: &str) -> Membership {
        membership.own = Some(SelfEntry {
            instance_id: id.to_owned(),
            role: None,
            clusters: Vec::new(),
            leaving: None,
        });
        membership
    }

    #[test]
    fn without_a_snapshot_the_lowest_id_of_the_writer_role_writes() {
        let fleet = sample(
            &[("i-1", "agent"), ("i-2", "monitor"), ("i-3", "monitor")],
            &[],
        );
        let here =
            |id: &str, role| matches!(writer(&with_self(fleet.clone(), id), role), Writer::Here(_));
        assert!(here("i-2", Some("monitor")));
        assert!(!here("i-3", Some("monitor")));
        assert!(!here("i-1", Some("monitor")));
        assert!(here("i-1", None));
        assert!(!here("i-2", None));
        assert!(!here("i-1", Some("nobody")));
        assert!(matches!(
            writer(&fleet, None),
            Writer::Elsewhere(why) if why.contains("no self")
        ));
    }

    #[test]
    fn with_a_snapshot_only_the_lease_holder_writes() {
        let mut fleet = with_self(sample(&[("i-1", "monitor")], &[]), "i-1");
        let note = |listed_here| SnapshotNote {
            object: "s3://b/p/snapshot.zst".to_owned(),
            listed_by: Some("i-9".to_owned()),
            listed_here,
            age_seconds: 0,
        };
        fleet.inventory.snapshot = Some(note(false));
        assert_eq!(
            writer(&fleet, Some("monitor")),
            Writer::Elsewhere("i-9 holds the snapshot's lease".to_owned())
        );
        fleet.own = None;
        fleet.inventory.snapshot = Some(note(true));
        assert!(matches!(writer(&fleet, None), Writer::Here(_)));
    }
}
