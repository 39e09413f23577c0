//! Building a decision: whom self may register with, and how to report it.

use crate::{Decision, Inventory};

/// Whether two sorted cluster lists have a cluster in common; two empty lists
/// count as sharing (instances without any cluster form one group), an empty
/// and a non-empty one do not.
pub fn share_a_cluster(ours: &[String], theirs: &[String]) -> bool {
    (ours.is_empty() && theirs.is_empty())
        || ours
            .iter()
            .any(|cluster| theirs.binary_search(cluster).is_ok())
}

/// One line for the host's log saying what `decide` found.
pub fn summary(inventory: &Inventory, decision: &Decision) -> String {
    format!(
        "{} members of {} instances, self registers with {}",
        decision.members.len(),
        inventory.instances.len(),
        decision.register_with.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Member;
    use crate::fixtures::instance;

    fn list(clusters: &[&str]) -> Vec<String> {
        clusters
            .iter()
            .map(|cluster| (*cluster).to_owned())
            .collect()
    }

    #[test]
    fn two_empty_lists_share() {
        assert!(share_a_cluster(&[], &[]));
    }

    #[test]
    fn an_empty_list_shares_nothing_with_a_non_empty_one() {
        assert!(!share_a_cluster(&[], &list(&["blue"])));
        assert!(!share_a_cluster(&list(&["blue"]), &[]));
    }

    #[test]
    fn one_common_cluster_is_enough() {
        assert!(share_a_cluster(
            &list(&["blue", "green"]),
            &list(&["green", "red"])
        ));
        assert!(share_a_cluster(&list(&["blue"]), &list(&["blue"])));
    }

    #[test]
    fn disjoint_lists_do_not_share() {
        assert!(!share_a_cluster(
            &list(&["blue", "green"]),
            &list(&["red", "yellow"])
        ));
    }

    #[test]
    fn the_summary_counts_members_instances_and_targets() {
        let inventory = Inventory {
            instances: vec![
                instance("i-1", "running"),
                instance("i-2", "running"),
                instance("i-3", "stopped"),
            ],
            self_id: Some("i-1".to_owned()),
        };
        let member = |id: &str| Member {
            instance_id: id.to_owned(),
            role: "agent".to_owned(),
            clusters: Vec::new(),
            address: None,
            port: None,
        };
        let decision = Decision {
            members: vec![member("i-1"), member("i-2")],
            register_with: vec!["i-2".to_owned()],
        };
        assert_eq!(
            summary(&inventory, &decision),
            "2 members of 3 instances, self registers with 1"
        );
    }
}
