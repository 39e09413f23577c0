//! The fleet as a policy reads it: typed instances over the columns the host
//! sends (`wit/policy.wit`, record `fleet`). Nothing is copied or decoded up
//! front: an [`Instance`] is an index, and each accessor reads its column.

use crate::bindings::rollcall::policy::types;
pub use types::{InstanceState, LeaveReason, LifecycleState};

/// The fleet of one evaluation, with self and the instance to explain.
#[derive(Debug, Clone)]
pub struct Fleet {
    columns: types::Fleet,
    self_instance: Option<u32>,
    explain: Option<u32>,
}

impl Fleet {
    /// The fleet the host sent. Checks that the columns agree in length and
    /// every reference lands inside its table, so that no accessor can fail
    /// later; the error says which column is wrong.
    pub fn new(question: types::Question) -> Result<Fleet, String> {
        let types::Question {
            fleet: columns,
            self_instance,
            explain,
        } = question;
        check(&columns)?;
        let count = columns.ids.len();
        for (what, index) in [("self", self_instance), ("explained instance", explain)] {
            if let Some(index) = index
                && index as usize >= count
            {
                return Err(format!(
                    "the host named instance {index} as {what}, but the fleet has {count}"
                ));
            }
        }
        Ok(Fleet {
            columns,
            self_instance,
            explain,
        })
    }

    /// How many instances the fleet has.
    pub fn len(&self) -> usize {
        self.columns.ids.len()
    }

    /// Whether the fleet has no instance.
    pub fn is_empty(&self) -> bool {
        self.columns.ids.is_empty()
    }

    /// Every instance, in the order the source reported them.
    pub fn instances(&self) -> impl ExactSizeIterator<Item = Instance<'_>> + '_ {
        (0..self.len() as u32).map(|index| Instance { fleet: self, index })
    }

    /// The instance at `index`, if there is one.
    pub fn instance(&self, index: u32) -> Option<Instance<'_>> {
        ((index as usize) < self.len()).then_some(Instance { fleet: self, index })
    }

    /// The instance with this id, if there is one (a linear search).
    pub fn find(&self, id: &str) -> Option<Instance<'_>> {
        self.instances().find(|instance| instance.id() == id)
    }

    /// The instance the host runs on, if it is part of the fleet.
    pub fn self_instance(&self) -> Option<Instance<'_>> {
        self.self_instance.and_then(|index| self.instance(index))
    }

    /// The instance the operator asked `rollcall explain` about, if any.
    pub fn explained(&self) -> Option<Instance<'_>> {
        self.explain.and_then(|index| self.instance(index))
    }

    /// The instances that may be members, in fleet order: every `running`
    /// one, and self whatever its state (at boot EC2 may still report it
    /// `pending`).
    pub fn candidates(&self) -> impl Iterator<Item = Instance<'_>> + '_ {
        self.instances()
            .filter(|instance| instance.is_running() || instance.is_self())
    }

    /// Every distinct security group of the fleet, each once. A group's
    /// [`SecurityGroup::index`] runs from 0 to the number of groups, so a
    /// policy can classify every group once, in a table, and look instances'
    /// groups up in it.
    pub fn security_groups(&self) -> impl ExactSizeIterator<Item = SecurityGroup<'_>> + '_ {
        (0..self.columns.security_groups.len() as u32).map(|index| self.group(index))
    }

    fn group(&self, index: u32) -> SecurityGroup<'_> {
        let group = self.columns.security_groups[index as usize];
        SecurityGroup {
            index,
            id: self.text(group.id),
            name: self.text(group.name),
            owner: self.optional_text(group.owner),
        }
    }

    /// String `index` of the fleet's text.
    fn text(&self, index: u32) -> &str {
        let ends = &self.columns.text_ends;
        let index = index as usize;
        let start = if index == 0 { 0 } else { ends[index - 1] };
        &self.columns.text[start as usize..ends[index] as usize]
    }

    /// String `index`, `None` when it is the empty string 0.
    fn optional_text(&self, index: u32) -> Option<&str> {
        (index != 0).then(|| self.text(index))
    }

    /// The run of a shared list that belongs to instance `index`.
    fn run(ends: &[u32], index: u32) -> std::ops::Range<usize> {
        let index = index as usize;
        let start = if index == 0 { 0 } else { ends[index - 1] };
        start as usize..ends[index] as usize
    }
}

/// One instance of a [`Fleet`]: cheap to copy, read through its accessors.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    fleet: &'a Fleet,
    index: u32,
}

impl PartialEq for Instance<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index && std::ptr::eq(self.fleet, other.fleet)
    }
}

impl Eq for Instance<'_> {}

/// Accessors that read the instance's entry of a column of strings.
macro_rules! optional_text_accessors {
    ($($(#[$doc:meta])* $name:ident => $column:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> Option<&'a str> {
                self.fleet
                    .optional_text(self.fleet.columns.$column[self.index as usize])
            }
        )*
    };
}

impl<'a> Instance<'a> {
    /// The instance's index in the fleet: how the decision refers to it.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The instance id, e.g. `i-2271a74b`.
    pub fn id(&self) -> &'a str {
        self.fleet.text(self.fleet.columns.ids[self.index as usize])
    }

    /// The EC2 state.
    pub fn state(&self) -> InstanceState {
        self.fleet.columns.states[self.index as usize]
    }

    /// The state as EC2 names it, e.g. `shutting-down` (for reasons: `it is
    /// stopped`).
    pub fn state_name(&self) -> &'static str {
        match self.state() {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::Other => "in a state this interface does not name",
        }
    }

    /// Whether EC2 reports the instance `running`.
    pub fn is_running(&self) -> bool {
        self.state() == InstanceState::Running
    }

    /// Whether this is the instance the host runs on.
    pub fn is_self(&self) -> bool {
        self.fleet.self_instance == Some(self.index)
    }

    optional_text_accessors! {
        /// The primary private IPv4 address, e.g. `10.251.199.99`.
        private_ipv4 => private_ipv4s,
        /// The public IPv4 address, if the instance has one.
        public_ipv4 => public_ipv4s,
        /// The private DNS name, e.g. `ip-10-251-199-99.ec2.internal`.
        private_dns_name => private_dns_names,
        /// The public DNS name, if the instance has one.
        public_dns_name => public_dns_names,
        /// The availability zone, e.g. `us-east-1a`.
        availability_zone => availability_zones,
        /// The region the instance was fetched from, e.g. `us-east-1`.
        region => regions,
        /// The VPC id.
        vpc_id => vpc_ids,
        /// The subnet id.
        subnet_id => subnet_ids,
        /// The instance type, e.g. `m5.large`.
        instance_type => instance_types,
        /// The AMI the instance was launched from.
        image_id => image_ids,
        /// The launch time, RFC 3339.
        launch_time => launch_times,
    }

    /// The AWS account that owns the instance, e.g. `123456789012`, when
    /// the host knows it.
    pub fn account(&self) -> Option<&'a str> {
        self.fleet
            .optional_text(self.fleet.columns.accounts[self.index as usize])
    }

    /// The Auto Scaling lifecycle state; [`LifecycleState::NotInGroup`]
    /// for an instance in no group.
    pub fn lifecycle(&self) -> LifecycleState {
        self.fleet.columns.lifecycle_states[self.index as usize]
    }

    /// The Auto Scaling group the instance belongs to, if any.
    pub fn lifecycle_group(&self) -> Option<&'a str> {
        self.fleet
            .optional_text(self.fleet.columns.lifecycle_groups[self.index as usize])
    }

    /// Whether, why and by when the instance is going away; `None` when it
    /// is not.
    pub fn leaving(&self) -> Option<Leaving<'a>> {
        let index = self.index as usize;
        let reason = self.fleet.columns.leaving_reasons[index]?;
        Some(Leaving {
            reason,
            deadline: self
                .fleet
                .optional_text(self.fleet.columns.leaving_deadlines[index]),
        })
    }

    /// Whether the instance is meant to serve: it is not leaving, and Auto
    /// Scaling does not hold it out of service (pending-wait, standby,
    /// terminating, terminating-wait, detaching, warmed). An instance in
    /// no group, in service, pending or in a state this interface does not
    /// name serves. A policy keeps an unserving member's role but sends no
    /// new traffic its way (no registration with it).
    pub fn serves(&self) -> bool {
        self.leaving().is_none() && self.lifecycle().serves()
    }

    /// Why the instance does not serve, for a note: `leaving
    /// (spot-interruption by 2026-12-07T10:00:00Z)`, `in Auto Scaling
    /// standby`; `None` when it serves.
    pub fn unserving_reason(&self) -> Option<String> {
        if let Some(leaving) = self.leaving() {
            return Some(match leaving.deadline {
                Some(deadline) => format!("leaving ({} by {deadline})", leaving.reason.name()),
                None => format!("leaving ({})", leaving.reason.name()),
            });
        }
        let state = self.lifecycle();
        (!state.serves()).then(|| format!("in Auto Scaling {}", state.name()))
    }

    /// Every IPv6 address of every network interface, in EC2's order.
    pub fn ipv6_addresses(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        let fleet = self.fleet;
        let run = Fleet::run(&fleet.columns.ipv6_ends, self.index);
        fleet.columns.ipv6_addresses[run]
            .iter()
            .map(move |&text| fleet.text(text))
    }

    /// The security groups, in EC2's order.
    pub fn security_groups(&self) -> impl ExactSizeIterator<Item = SecurityGroup<'a>> + 'a {
        let fleet = self.fleet;
        self.security_group_indices()
            .iter()
            .map(move |&group| fleet.group(group))
    }

    /// The indices of the security groups (see [`Fleet::security_groups`]),
    /// in EC2's order: the cheapest way to test membership against a table.
    pub fn security_group_indices(&self) -> &'a [u32] {
        let run = Fleet::run(&self.fleet.columns.group_ends, self.index);
        &self.fleet.columns.instance_groups[run]
    }

    /// The tags, in EC2's order.
    pub fn tags(&self) -> impl ExactSizeIterator<Item = Tag<'a>> + 'a {
        let fleet = self.fleet;
        let run = Fleet::run(&fleet.columns.tag_ends, self.index);
        let keys = &fleet.columns.tag_keys[run.clone()];
        let values = &fleet.columns.tag_values[run];
        keys.iter().zip(values).map(move |(&key, &value)| Tag {
            key: fleet.text(key),
            value: fleet.text(value),
        })
    }

    /// The value of the tag with this key (EC2 keys are unique per instance
    /// and case-sensitive).
    pub fn tag(&self, key: &str) -> Option<&'a str> {
        self.tags().find(|tag| tag.key == key).map(|tag| tag.value)
    }
}

/// That an instance is going away ([`Instance::leaving`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaving<'a> {
    /// Why.
    pub reason: LeaveReason,
    /// When it will be gone, RFC 3339, if anyone said.
    pub deadline: Option<&'a str>,
}

impl LifecycleState {
    /// The state as the interface names it, e.g. `terminating-wait`.
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

    /// Whether Auto Scaling leaves an instance in this state serving: every
    /// state but pending-wait, standby, terminating, terminating-wait,
    /// detaching and warmed.
    pub fn serves(self) -> bool {
        !matches!(
            self,
            LifecycleState::PendingWait
                | LifecycleState::Standby
                | LifecycleState::Terminating
                | LifecycleState::TerminatingWait
                | LifecycleState::Detaching
                | LifecycleState::Warmed
        )
    }
}

impl LeaveReason {
    /// The reason as the interface names it, e.g. `spot-interruption`.
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
}

/// A security group of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityGroup<'a> {
    /// Its index in [`Fleet::security_groups`].
    pub index: u32,
    /// The group id, e.g. `sg-0a1b2c3d`.
    pub id: &'a str,
    /// The group name, e.g. `eg-monitor`.
    pub name: &'a str,
    /// The AWS account that owns the group, e.g. `123456789012`, when the
    /// host knows it (it takes the instance's account, unless a recorded
    /// fleet names another). With several accounts in the fleet, it tells
    /// account A's `eg-monitor` from account B's.
    pub owner: Option<&'a str>,
}

/// One EC2 tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

/// Checks that the columns describe one fleet: every per-instance column
/// as long as `ids`, and the text starting with the empty string. These
/// checks cost nothing per instance; a reference out of its table (which the
/// host never sends) panics when read, naming the index.
fn check(columns: &types::Fleet) -> Result<(), String> {
    let count = columns.ids.len();
    if columns.text_ends.first() != Some(&0) {
        return Err("the fleet's text does not start with the empty string".to_owned());
    }
    let per_instance: [(&str, usize); 20] = [
        ("states", columns.states.len()),
        ("private-ipv4s", columns.private_ipv4s.len()),
        ("public-ipv4s", columns.public_ipv4s.len()),
        ("private-dns-names", columns.private_dns_names.len()),
        ("public-dns-names", columns.public_dns_names.len()),
        ("availability-zones", columns.availability_zones.len()),
        ("regions", columns.regions.len()),
        ("vpc-ids", columns.vpc_ids.len()),
        ("subnet-ids", columns.subnet_ids.len()),
        ("instance-types", columns.instance_types.len()),
        ("image-ids", columns.image_ids.len()),
        ("launch-times", columns.launch_times.len()),
        ("accounts", columns.accounts.len()),
        ("lifecycle-states", columns.lifecycle_states.len()),
        ("lifecycle-groups", columns.lifecycle_groups.len()),
        ("leaving-reasons", columns.leaving_reasons.len()),
        ("leaving-deadlines", columns.leaving_deadlines.len()),
        ("group-ends", columns.group_ends.len()),
        ("tag-ends", columns.tag_ends.len()),
        ("ipv6-ends", columns.ipv6_ends.len()),
    ];
    if let Some((name, len)) = per_instance.iter().find(|(_, len)| *len != count) {
        return Err(format!(
            "the fleet's {name} has {len} entries for {count} instances"
        ));
    }
    if columns.tag_keys.len() != columns.tag_values.len() {
        return Err("the fleet's tag keys and values differ in number".to_owned());
    }
    Ok(())
}
