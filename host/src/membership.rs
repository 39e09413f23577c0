//! The membership document: who self is, whom it registers with, every
//! member, and where the answer came from. `resolve --format json` prints it;
//! every later consumer (file sinks, HTTP) reuses it unchanged.

use crate::inventory::{
    Field, Inventory, Leaving, LeavingEntry, LifecycleState, MemberStatus, SnapshotNote,
};
use crate::policy::{Decision, Member, PolicyIdentity};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// The answer: who self is, whom it registers with, every member, and where the answer came from. `rollcall resolve --format json` prints it; file sinks, the HTTP API and [`crate::watch`]'s callback get the same.
pub struct Membership {
    /// The instance rollcall runs on; `None` off the fleet.
    #[serde(rename = "self")]
    pub own: Option<SelfEntry>,
    /// Whom self registers with, sorted by instance id.
    pub register_with: Vec<Target>,
    /// Every member, sorted by instance id.
    pub members: Vec<Member>,
    /// The plugin that decided.
    pub policy: PolicyIdentity,
    /// The fleet it decided on.
    pub inventory: InventorySummary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// Self's place in the answer.
pub struct SelfEntry {
    /// The instance rollcall runs on.
    pub instance_id: String,
    /// `None` when the policy gave self no role.
    pub role: Option<String>,
    /// Self's clusters, as the policy gave them.
    pub clusters: Vec<String>,
    /// Why and by when self is going, if it is (what self's member's
    /// `status.leaving` says, even when self is no member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaving: Option<LeavingEntry>,
}

/// A member self registers with, with what it takes to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The target's instance id.
    pub instance_id: String,
    /// Its role.
    pub role: String,
    /// Where to reach it: the address of the kind the policy chose.
    pub address: String,
    /// The port to use, when the policy gives one.
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// The fleet an answer was decided on.
pub struct InventorySummary {
    /// Where the fleet came from: a path or an endpoint.
    pub source: String,
    /// Instances in the inventory, members or not.
    pub instances: usize,
    /// RFC 3339.
    pub fetched_at: String,
    /// True when the latest fetch failed and this is the last good answer.
    #[serde(default)]
    pub stale: bool,
    /// How long ago the answer was fetched, when stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_for_seconds: Option<u64>,
    /// Why the latest fetch failed, when stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// With a shared snapshot: which object, who listed EC2 for it, and
    /// whether this node did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotNote>,
    /// Account-regions the latest listing could not list: their members
    /// are as last listed, marked `stale`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale_parts: Vec<StalePartEntry>,
}

/// An account-region the latest listing could not list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StalePartEntry {
    /// The account listed through a role; absent for this node's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub region: String,
    /// Since when it has failed, RFC 3339.
    pub since: String,
    /// Why it failed last.
    pub error: String,
}

impl Membership {
    /// Builds the document from a validated decision (members and targets
    /// sorted, every target a member with an address).
    pub fn new(
        decision: Decision,
        inventory: &Inventory,
        self_id: Option<&str>,
        policy: &PolicyIdentity,
    ) -> Self {
        let Decision {
            mut members,
            register_with,
            ..
        } = decision;
        // The columns the policy decided on: made then, kept since.
        let fleet = inventory.instances.fleet().ok();
        let indices: std::collections::HashMap<&str, usize> = fleet
            .iter()
            .flat_map(|fleet| fleet.ids().enumerate())
            .map(|(index, id)| (id, index))
            .collect();
        let status = |id: &str| {
            let (fleet, &index) = (fleet?, indices.get(id)?);
            Some((fleet, index, MemberStatus::in_fleet(fleet, index)))
        };
        let unconfirmed: std::collections::HashSet<&str> =
            inventory.unconfirmed.iter().map(String::as_str).collect();
        for member in &mut members {
            if let Some((fleet, index, status)) = status(&member.instance_id) {
                member.status = status;
                member.status.unconfirmed = unconfirmed.contains(member.instance_id.as_str());
                member.status.stale = inventory.stale_parts.iter().any(|stale| {
                    stale.part.covers_listing(
                        fleet.field(index, Field::Region),
                        fleet.field(index, Field::Account),
                    )
                });
            }
        }
        let member = |id: &str| {
            members
                .binary_search_by(|member| member.instance_id.as_str().cmp(id))
                .ok()
                .map(|index| &members[index])
        };
        let own = self_id.map(|id| {
            let leaving = status(id).and_then(|(_, _, status)| status.leaving);
            match member(id) {
                Some(own) => SelfEntry {
                    instance_id: id.to_owned(),
                    role: Some(own.role.clone()),
                    clusters: own.clusters.clone(),
                    leaving,
                },
                None => SelfEntry {
                    instance_id: id.to_owned(),
                    role: None,
                    clusters: Vec::new(),
                    leaving,
                },
            }
        });
        let register_with = register_with
            .iter()
            .filter_map(|id| member(id))
            .filter_map(|target| {
                Some(Target {
                    instance_id: target.instance_id.clone(),
                    role: target.role.clone(),
                    address: target.address.clone()?,
                    port: target.port,
                })
            })
            .collect();
        Membership {
            own,
            register_with,
            members,
            policy: policy.clone(),
            inventory: InventorySummary {
                source: inventory.source.clone(),
                instances: inventory.instances.len(),
                fetched_at: rfc3339(inventory.fetched_at),
                stale: false,
                stale_for_seconds: None,
                error: None,
                snapshot: inventory.snapshot.clone(),
                stale_parts: inventory
                    .stale_parts
                    .iter()
                    .map(|stale| StalePartEntry {
                        account: stale.part.account.clone(),
                        region: stale.part.region.clone(),
                        since: rfc3339(stale.since),
                        error: stale.error.clone(),
                    })
                    .collect(),
            },
        }
    }
}

/// A moment as RFC 3339, as every document and event shows time.
/// A time no calendar date can hold (past year 9999, say) is written as
/// milliseconds since the epoch rather than panicking.
impl Membership {
    /// Writes what self knows of itself (its lifecycle state from IMDS,
    /// `None` when IMDS named none; its leave) over what the fleet said, in
    /// self's entry and self's member: the document shows self leaving
    /// before any listing does. Without self, nothing changes.
    pub fn overlay_self(&mut self, state: Option<LifecycleState>, leaving: Option<&Leaving>) {
        let Some(own) = &mut self.own else {
            return;
        };
        let entry = leaving.map(|leaving| LeavingEntry {
            reason: leaving.reason.name().to_owned(),
            deadline: leaving.deadline.clone(),
        });
        if entry.is_some() {
            own.leaving.clone_from(&entry);
        }
        if let Some(member) = self
            .members
            .iter_mut()
            .find(|member| member.instance_id == own.instance_id)
        {
            if let Some(state) = state {
                member.status.lifecycle = state;
            }
            if entry.is_some() {
                member.status.leaving = entry;
            }
        }
    }
}

pub fn rfc3339(at: std::time::SystemTime) -> String {
    let nanos = match at.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => i128::try_from(before.duration().as_nanos()).map_or(i128::MIN, |n| -n),
    };
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{} ms after 1970", nanos / 1_000_000))
}

/// A membership for tests: members as (id, role), self's targets as
/// (id, address), everything else empty.
#[cfg(test)]
pub fn sample(members: &[(&str, &str)], targets: &[(&str, &str)]) -> Membership {
    Membership {
        own: None,
        register_with: targets
            .iter()
            .map(|(id, address)| Target {
                instance_id: (*id).to_owned(),
                role: "monitor".to_owned(),
                address: (*address).to_owned(),
                port: None,
            })
            .collect(),
        members: members
            .iter()
            .map(|(id, role)| Member {
                instance_id: (*id).to_owned(),
                role: (*role).to_owned(),
                clusters: Vec::new(),
                address: None,
                port: None,
                labels: Default::default(),
                status: Default::default(),
            })
            .collect(),
        policy: PolicyIdentity {
            path: "p.wasm".into(),
            sha256: String::new(),
        },
        inventory: InventorySummary {
            source: "test".to_owned(),
            instances: members.len(),
            fetched_at: String::new(),
            stale: false,
            stale_for_seconds: None,
            error: None,
            snapshot: None,
            stale_parts: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_time_past_any_calendar_date_is_written_without_panicking() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // Year 10000, and 2^63 ms: `OffsetDateTime::from` panics on both.
        let year_10000 = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert_eq!(rfc3339(year_10000), "253402300800000 ms after 1970");
        let far = UNIX_EPOCH + Duration::from_millis(1 << 63);
        assert_eq!(rfc3339(far), format!("{} ms after 1970", 1u64 << 63));
    }
}
