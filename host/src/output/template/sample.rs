//! The membership a template renders when it is loaded: small, but with
//! every shape an answer can take (self a member with clusters and labels,
//! targets with and without a port, an IPv6 address, a member without an
//! address, a stale part), so that a name a template reads from a member,
//! a target or the inventory is there to be found or missed.

use crate::inventory::{LifecycleState, MemberStatus};
use crate::membership::{InventorySummary, Membership, SelfEntry, StalePartEntry, Target};
use crate::policy::{Labels, Member, PolicyIdentity};

/// The sample answer, seen from `i-0c3`, an agent registering with two
/// monitors.
pub fn membership() -> Membership {
    let labels = |pairs: &[(&str, &str)]| -> Labels {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    };
    let member = |id: &str, role: &str, address: Option<&str>, port: Option<u16>, labels| Member {
        instance_id: id.to_owned(),
        role: role.to_owned(),
        clusters: vec!["blue".to_owned()],
        address: address.map(str::to_owned),
        port,
        labels,
        status: MemberStatus {
            account: Some("123456789012".to_owned()),
            lifecycle: LifecycleState::InService,
            auto_scaling_group: Some("fleet".to_owned()),
            ..MemberStatus::default()
        },
    };
    Membership {
        own: Some(SelfEntry {
            instance_id: "i-0c3".to_owned(),
            role: Some("agent".to_owned()),
            clusters: vec!["blue".to_owned()],
            leaving: None,
        }),
        register_with: vec![
            Target {
                instance_id: "i-0a1".to_owned(),
                role: "monitor".to_owned(),
                address: "10.0.0.1".to_owned(),
                port: Some(9300),
            },
            Target {
                instance_id: "i-0b2".to_owned(),
                role: "monitor".to_owned(),
                address: "2600:1f18::2".to_owned(),
                port: None,
            },
        ],
        members: vec![
            member(
                "i-0a1",
                "monitor",
                Some("10.0.0.1"),
                Some(9300),
                labels(&[("team", "core"), ("zone", "us-east-1a")]),
            ),
            member(
                "i-0b2",
                "monitor",
                Some("2600:1f18::2"),
                None,
                Labels::new(),
            ),
            member(
                "i-0c3",
                "agent",
                Some("10.0.0.3"),
                Some(9301),
                labels(&[("team", "core")]),
            ),
            member("i-0d4", "agent", None, None, Labels::new()),
        ],
        policy: PolicyIdentity {
            path: "policy.wasm".into(),
            sha256: "0".repeat(64),
        },
        inventory: InventorySummary {
            source: "sample".to_owned(),
            instances: 5,
            fetched_at: "2026-01-01T00:00:00Z".to_owned(),
            stale: false,
            stale_for_seconds: None,
            error: None,
            snapshot: None,
            stale_parts: vec![StalePartEntry {
                account: None,
                region: "us-west-2".to_owned(),
                since: "2026-01-01T00:00:00Z".to_owned(),
                error: "throttled".to_owned(),
            }],
        },
    }
}
