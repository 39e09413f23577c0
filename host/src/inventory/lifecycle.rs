//! Where an instance is in its life beyond EC2's state: its Auto Scaling
//! lifecycle state ([`Lifecycle`]) and whether, why and by when it is going
//! away ([`Leaving`]). EC2 lists a draining, standby or spot-interrupted
//! instance as `running`; these say what `running` does not.

use std::fmt;

/// The Auto Scaling lifecycle state of an instance, folded into the states
/// a policy can act on. Auto Scaling's own names (`InService`,
/// `Terminating:Wait`, `Warmed:Running`, ...) map onto these with
/// [`LifecycleState::from_auto_scaling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LifecycleState {
    /// The instance is in no Auto Scaling group (or nobody looked).
    #[default]
    NotInGroup,
    /// Launching: `Pending`, `Pending:Proceed`.
    Pending,
    /// Held by a launch lifecycle hook: `Pending:Wait`.
    PendingWait,
    /// Serving: `InService`.
    InService,
    /// Taken out of service by an operator: `Standby`, `EnteringStandby`.
    Standby,
    /// Being terminated: `Terminating`, `Terminating:Proceed`, `Terminated`.
    Terminating,
    /// Held by a termination lifecycle hook: `Terminating:Wait`.
    TerminatingWait,
    /// Leaving the group: `Detaching`, `Detached`.
    Detaching,
    /// In the group's warm pool: every `Warmed:*` state.
    Warmed,
    /// A state Auto Scaling added later.
    Other,
}

impl LifecycleState {
    /// Every state, in declaration order.
    pub const ALL: [LifecycleState; 10] = [
        LifecycleState::NotInGroup,
        LifecycleState::Pending,
        LifecycleState::PendingWait,
        LifecycleState::InService,
        LifecycleState::Standby,
        LifecycleState::Terminating,
        LifecycleState::TerminatingWait,
        LifecycleState::Detaching,
        LifecycleState::Warmed,
        LifecycleState::Other,
    ];

    /// The state for Auto Scaling's name of it (`LifecycleState` in
    /// `DescribeAutoScalingGroups`, or IMDS's
    /// `autoscaling/target-lifecycle-state`); [`LifecycleState::Other`] for
    /// a name this rollcall does not know.
    pub fn from_auto_scaling(name: &str) -> LifecycleState {
        match name {
            "Pending" | "Pending:Proceed" => LifecycleState::Pending,
            "Pending:Wait" => LifecycleState::PendingWait,
            "InService" => LifecycleState::InService,
            "Standby" | "EnteringStandby" => LifecycleState::Standby,
            "Terminating" | "Terminating:Proceed" | "Terminated" => LifecycleState::Terminating,
            "Terminating:Wait" => LifecycleState::TerminatingWait,
            "Detaching" | "Detached" => LifecycleState::Detaching,
            warmed if warmed.starts_with("Warmed:") || warmed == "Warmed" => LifecycleState::Warmed,
            _ => LifecycleState::Other,
        }
    }

    /// The state's name in rollcall's documents and interface,
    /// e.g. `terminating-wait`.
    pub fn name(self) -> &'static str {
        match self {
            LifecycleState::NotInGroup => "not-in-group",
            LifecycleState::Pending => "pending",
            LifecycleState::PendingWait => "pending-wait",
            LifecycleState::InService => "in-service",
            LifecycleState::Standby => "standby",
            LifecycleState::Terminating => "terminating",
            LifecycleState::TerminatingWait => "terminating-wait",
            LifecycleState::Detaching => "detaching",
            LifecycleState::Warmed => "warmed",
            LifecycleState::Other => "other",
        }
    }

    /// The state named `name` (as [`LifecycleState::name`] writes it).
    pub fn from_name(name: &str) -> Option<LifecycleState> {
        LifecycleState::ALL
            .into_iter()
            .find(|state| state.name() == name)
    }

    /// Whether Auto Scaling means the instance to serve: in service, or in
    /// no group at all. Pending, held, standby, warm and going instances do
    /// not.
    pub fn serves(self) -> bool {
        matches!(self, LifecycleState::NotInGroup | LifecycleState::InService)
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An instance's place in Auto Scaling.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lifecycle {
    /// Its lifecycle state.
    pub state: LifecycleState,
    /// The Auto Scaling group it belongs to, when it belongs to one.
    pub group: Option<String>,
}

impl Lifecycle {
    /// In `group`, in `state`.
    pub fn in_group(group: impl Into<String>, state: LifecycleState) -> Lifecycle {
        Lifecycle {
            state,
            group: Some(group.into()),
        }
    }
}

/// Why an instance is going away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaveReason {
    /// EC2 reclaims the spot instance (the two-minute notice).
    SpotInterruption,
    /// EC2 recommends rebalancing the spot instance away: it is at
    /// elevated risk of interruption.
    RebalanceRecommendation,
    /// EC2 scheduled a maintenance event that stops or retires it.
    ScheduledMaintenance,
    /// Auto Scaling is terminating it.
    AutoScalingTermination,
    /// The node itself said it is going (`watch` announced it).
    Announced,
    /// A reason a newer rollcall wrote that this one does not know.
    Other,
}

impl LeaveReason {
    /// Every reason, in declaration order.
    pub const ALL: [LeaveReason; 6] = [
        LeaveReason::SpotInterruption,
        LeaveReason::RebalanceRecommendation,
        LeaveReason::ScheduledMaintenance,
        LeaveReason::AutoScalingTermination,
        LeaveReason::Announced,
        LeaveReason::Other,
    ];

    /// The reason's name in rollcall's documents and interface, e.g.
    /// `spot-interruption`.
    pub fn name(self) -> &'static str {
        match self {
            LeaveReason::SpotInterruption => "spot-interruption",
            LeaveReason::RebalanceRecommendation => "rebalance-recommendation",
            LeaveReason::ScheduledMaintenance => "scheduled-maintenance",
            LeaveReason::AutoScalingTermination => "auto-scaling-termination",
            LeaveReason::Announced => "announced",
            LeaveReason::Other => "other",
        }
    }

    /// The reason named `name` (as [`LeaveReason::name`] writes it).
    pub fn from_name(name: &str) -> Option<LeaveReason> {
        LeaveReason::ALL
            .into_iter()
            .find(|reason| reason.name() == name)
    }
}

impl fmt::Display for LeaveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// That an instance is going away: why, and by when if anyone said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaving {
    /// Why.
    pub reason: LeaveReason,
    /// When it will be gone, RFC 3339 (e.g. the spot interruption's
    /// time); `None` when nobody said.
    pub deadline: Option<String>,
}

impl Leaving {
    /// Going for `reason`, by `deadline` if known.
    pub fn new(reason: LeaveReason, deadline: Option<String>) -> Leaving {
        Leaving { reason, deadline }
    }
}

/// What the fleet says about a member beside the policy's decision: its
/// account, its place in Auto Scaling, whether it is going, and whether
/// the latest listing still showed it. The membership document carries it
/// per member; a policy never sets it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct MemberStatus {
    /// The owning account, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its Auto Scaling lifecycle state, e.g. `in-service`.
    #[serde(default, with = "state_name")]
    pub lifecycle: LifecycleState,
    /// Its Auto Scaling group, when it is in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling_group: Option<String>,
    /// Why and by when it is going, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaving: Option<LeavingEntry>,
    /// True while the member is missing from the latest listing without a
    /// sign that it ended: kept for a grace period, not yet `left`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unconfirmed: bool,
    /// True when its account-region could not be listed this time: it is
    /// as last listed (the document's `inventory.stale_parts` says why).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

impl MemberStatus {
    /// What instance `index` of `fleet` says about itself; confirmed.
    pub fn in_fleet(fleet: &super::Fleet, index: usize) -> MemberStatus {
        use super::Field;
        let text = |field| fleet.field(index, field).map(str::to_owned);
        MemberStatus {
            account: text(Field::Account),
            lifecycle: fleet.lifecycle_state(index),
            auto_scaling_group: text(Field::LifecycleGroup),
            leaving: fleet.leave_reason(index).map(|reason| LeavingEntry {
                reason: reason.name().to_owned(),
                deadline: text(Field::LeavingDeadline),
            }),
            unconfirmed: false,
            stale: false,
        }
    }

    /// What `instance` says about itself; confirmed.
    pub fn of(instance: &crate::inventory::Instance) -> MemberStatus {
        MemberStatus {
            account: instance.account.clone(),
            lifecycle: instance.lifecycle.state,
            auto_scaling_group: instance.lifecycle.group.clone(),
            leaving: instance.leaving.as_ref().map(|leaving| LeavingEntry {
                reason: leaving.reason.name().to_owned(),
                deadline: leaving.deadline.clone(),
            }),
            unconfirmed: false,
            stale: false,
        }
    }
}

/// [`Leaving`] as the membership document writes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeavingEntry {
    /// Why, e.g. `spot-interruption` ([`LeaveReason::name`]).
    pub reason: String,
    /// By when, RFC 3339, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

/// A [`LifecycleState`] as its name; an unknown name reads as `other`.
mod state_name {
    use super::LifecycleState;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        state: &LifecycleState,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(state.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<LifecycleState, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(LifecycleState::from_name(&name).unwrap_or(LifecycleState::Other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_scaling_names_fold_into_the_states_a_policy_acts_on() {
        for (name, state) in [
            ("InService", LifecycleState::InService),
            ("Pending:Wait", LifecycleState::PendingWait),
            ("Pending:Proceed", LifecycleState::Pending),
            ("Terminating:Wait", LifecycleState::TerminatingWait),
            ("Terminated", LifecycleState::Terminating),
            ("EnteringStandby", LifecycleState::Standby),
            ("Warmed:Hibernated", LifecycleState::Warmed),
            ("Detached", LifecycleState::Detaching),
            ("Something:New", LifecycleState::Other),
        ] {
            assert_eq!(LifecycleState::from_auto_scaling(name), state, "{name}");
        }
    }

    #[test]
    fn names_read_back() {
        for state in LifecycleState::ALL {
            assert_eq!(LifecycleState::from_name(state.name()), Some(state));
        }
        for reason in LeaveReason::ALL {
            assert_eq!(LeaveReason::from_name(reason.name()), Some(reason));
        }
        assert_eq!(LifecycleState::from_name("InService"), None);
    }

    #[test]
    fn only_in_service_and_ungrouped_instances_serve() {
        let serving: Vec<_> = LifecycleState::ALL
            .into_iter()
            .filter(|state| state.serves())
            .collect();
        assert_eq!(
            serving,
            [LifecycleState::NotInGroup, LifecycleState::InService]
        );
    }
}
