//! Leave markers: how a node that is going away tells the fleet. It writes
//! a small object, `PREFIX/leaving/<instance-id>`, beside the snapshot; the
//! next listing folds every marker into the snapshot it shares and removes
//! the markers of instances that are gone.
//!
//! A marker comes from another node: it is read under a byte cap, checked
//! for sense (its key names the instance, its reason and deadline parse),
//! and can only mark an instance the listing already holds as leaving. It
//! can never add an instance or remove one.

use crate::inventory::{LeaveReason, Leaving};
use serde::{Deserialize, Serialize};

/// The folder of markers under the snapshot's prefix.
pub const FOLDER: &str = "leaving";

/// The most a marker's body may hold; a larger one is refused unread.
pub const MAX_MARKER_BYTES: u64 = 1024;

/// The key of `instance_id`'s marker under `prefix` (which has no leading
/// or trailing slash, and may be empty).
pub fn marker_key(prefix: &str, instance_id: &str) -> String {
    format!("{}{FOLDER}/{instance_id}", folder_prefix_base(prefix))
}

/// The prefix every marker key starts with, for listing them.
pub fn markers_prefix(prefix: &str) -> String {
    format!("{}{FOLDER}/", folder_prefix_base(prefix))
}

fn folder_prefix_base(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}

/// The instance id a marker key under `prefix` names; `None` for a key
/// that is not a marker's (another folder, a nested key, an empty id).
pub fn marked_instance<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    let id = key.strip_prefix(&markers_prefix(prefix))?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// A marker's body: JSON, one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    /// The instance going away; must match the key.
    pub instance_id: String,
    /// Why, as [`LeaveReason::name`] writes it.
    pub reason: String,
    /// By when, RFC 3339, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

impl Marker {
    /// The marker `instance_id` writes when it leaves for `leaving`.
    pub fn new(instance_id: &str, leaving: &Leaving) -> Marker {
        Marker {
            instance_id: instance_id.to_owned(),
            reason: leaving.reason.name().to_owned(),
            deadline: leaving.deadline.clone(),
        }
    }

    /// The body to write.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a marker is plain strings")
    }

    /// Reads the body of the marker at key for `instance_id`, refusing one
    /// that is too large, not a marker, or about another instance. An
    /// unknown reason reads as [`LeaveReason::Other`], a deadline that is
    /// not RFC 3339 as no deadline: a newer writer's marker still counts.
    pub fn decode(instance_id: &str, body: &[u8]) -> Result<Leaving, String> {
        if body.len() as u64 > MAX_MARKER_BYTES {
            return Err(format!(
                "the marker is {} bytes, over the {MAX_MARKER_BYTES}-byte limit",
                body.len()
            ));
        }
        let marker: Marker =
            serde_json::from_slice(body).map_err(|err| format!("not a leave marker: {err}"))?;
        if marker.instance_id != instance_id {
            return Err(format!(
                "the marker of {instance_id:?} names {:?}",
                marker.instance_id
            ));
        }
        let deadline = marker.deadline.filter(|deadline| {
            time::OffsetDateTime::parse(deadline, &time::format_description::well_known::Rfc3339)
                .is_ok()
        });
        Ok(Leaving::new(
            LeaveReason::from_name(&marker.reason).unwrap_or(LeaveReason::Other),
            deadline,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sit_beside_the_snapshot_and_read_back() {
        assert_eq!(marker_key("fleet/prod", "i-1"), "fleet/prod/leaving/i-1");
        assert_eq!(marker_key("", "i-1"), "leaving/i-1");
        assert_eq!(
            marked_instance("fleet/prod", "fleet/prod/leaving/i-1"),
            Some("i-1")
        );
        assert_eq!(
            marked_instance("fleet/prod", "fleet/prod/snapshot.zst"),
            None
        );
        assert_eq!(marked_instance("fleet/prod", "fleet/prod/leaving/"), None);
        assert_eq!(
            marked_instance("fleet/prod", "fleet/prod/leaving/a/b"),
            None
        );
    }

    #[test]
    fn a_marker_reads_back() {
        let leaving = Leaving::new(
            LeaveReason::SpotInterruption,
            Some("2026-12-07T10:00:00Z".to_owned()),
        );
        let body = Marker::new("i-1", &leaving).encode();
        assert_eq!(Marker::decode("i-1", &body), Ok(leaving));
    }

    #[test]
    fn a_marker_is_checked_for_sense() {
        let other = Marker::new("i-2", &Leaving::new(LeaveReason::Announced, None)).encode();
        assert!(
            Marker::decode("i-1", &other)
                .unwrap_err()
                .contains("names \"i-2\"")
        );
        assert!(
            Marker::decode("i-1", b"{")
                .unwrap_err()
                .contains("not a leave marker")
        );
        let big = vec![b' '; MAX_MARKER_BYTES as usize + 1];
        assert!(
            Marker::decode("i-1", &big)
                .unwrap_err()
                .contains("over the")
        );
        let odd = br#"{"instance_id": "i-1", "reason": "meteor", "deadline": "soon"}"#;
        assert_eq!(
            Marker::decode("i-1", odd),
            Ok(Leaving::new(LeaveReason::Other, None))
        );
    }
}
