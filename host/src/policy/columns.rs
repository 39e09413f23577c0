//! The fleet as it crosses into a policy: the host's instances turned into
//! the columns of `wit/policy.wit`'s `fleet` record. One pass over the
//! fleet; each string is appended once to one shared text, and each distinct
//! security group (an id, a name and an owner) is listed once and referred
//! to by index. A 0.2.0 plugin gets the same columns without the ones 0.3.0
//! added (`world::previous`).

use super::world::types::{self, InstanceState};
use crate::inventory::{Instance, LeaveReason, LifecycleState};
use foldhash::HashMap;

/// The question a policy answers: the fleet, seen from `self_id`, and the
/// instance to explain. Ids that name no instance give `None`. (Public for
/// the boundary benchmark, which times it alone.)
pub fn question(
    instances: &[Instance],
    self_id: Option<&str>,
    explain: Option<&str>,
) -> Result<types::Question, String> {
    let mut columns = Columns::with_capacity(instances.len());
    let (mut self_instance, mut explained) = (None, None);
    for instance in instances {
        let index = columns.push(instance)?;
        if self_id == Some(instance.id.as_str()) {
            self_instance = Some(index);
        }
        if explain == Some(instance.id.as_str()) {
            explained = Some(index);
        }
    }
    Ok(types::Question {
        fleet: columns.finish(),
        self_instance,
        explain: explained,
    })
}

/// The state as the interface's enum; `Other` for a name it does not know.
pub fn state(name: &str) -> InstanceState {
    match name {
        "pending" => InstanceState::Pending,
        "running" => InstanceState::Running,
        "shutting-down" => InstanceState::ShuttingDown,
        "terminated" => InstanceState::Terminated,
        "stopping" => InstanceState::Stopping,
        "stopped" => InstanceState::Stopped,
        _ => InstanceState::Other,
    }
}

/// The lifecycle state as the interface's enum.
fn lifecycle_state(state: LifecycleState) -> types::LifecycleState {
    match state {
        LifecycleState::NotInGroup => types::LifecycleState::NotInGroup,
        LifecycleState::Pending => types::LifecycleState::Pending,
        LifecycleState::PendingWait => types::LifecycleState::PendingWait,
        LifecycleState::InService => types::LifecycleState::InService,
        LifecycleState::Standby => types::LifecycleState::Standby,
        LifecycleState::Terminating => types::LifecycleState::Terminating,
        LifecycleState::TerminatingWait => types::LifecycleState::TerminatingWait,
        LifecycleState::Detaching => types::LifecycleState::Detaching,
        LifecycleState::Warmed => types::LifecycleState::Warmed,
        LifecycleState::Other => types::LifecycleState::Other,
    }
}

/// The leave reason as the interface's enum.
fn leave_reason(reason: LeaveReason) -> types::LeaveReason {
    match reason {
        LeaveReason::SpotInterruption => types::LeaveReason::SpotInterruption,
        LeaveReason::RebalanceRecommendation => types::LeaveReason::RebalanceRecommendation,
        LeaveReason::ScheduledMaintenance => types::LeaveReason::ScheduledMaintenance,
        LeaveReason::AutoScalingTermination => types::LeaveReason::AutoScalingTermination,
        LeaveReason::Announced => types::LeaveReason::Announced,
        LeaveReason::Other => types::LeaveReason::Other,
    }
}

/// How many of an instance's security groups are compared with the same
/// position of the previous instance before the table is searched: fleets
/// list the same groups in the same order on instance after instance.
const POSITIONS: usize = 8;

/// The fleet's text under construction: every string, appended.
struct Strings {
    text: String,
    ends: Vec<u32>,
}

impl Strings {
    /// Appends a string; the empty string is string 0. Nothing is looked
    /// up: appending costs less than finding a repeat, and only security
    /// groups need to be listed once.
    fn push(&mut self, text: &str) -> Result<u32, String> {
        if text.is_empty() {
            return Ok(0);
        }
        self.text.push_str(text);
        let end = u32::try_from(self.text.len())
            .map_err(|_| "the fleet's text is over 4 GiB".to_owned())?;
        self.ends.push(end);
        Ok(self.ends.len() as u32 - 1)
    }

    fn optional(&mut self, text: &Option<String>) -> Result<u32, String> {
        text.as_deref().map_or(Ok(0), |text| self.push(text))
    }
}

/// A security group as the fleet's table tells groups apart: its id, name
/// and owner.
type GroupKey<'a> = (&'a str, &'a str, Option<&'a str>);

/// A security group seen at one position of an instance's list.
#[derive(Clone, Copy)]
struct RecentGroup<'a> {
    key: GroupKey<'a>,
    index: u32,
}

/// The columns under construction.
struct Columns<'a> {
    fleet: types::Fleet,
    strings: Strings,
    /// Security groups by id, name and owner, to their index in
    /// `fleet.security_groups`.
    groups: HashMap<GroupKey<'a>, u32>,
    /// The previous instance's groups, by position.
    recent_groups: [RecentGroup<'a>; POSITIONS],
}

impl<'a> Columns<'a> {
    fn with_capacity(instances: usize) -> Self {
        let column = || Vec::with_capacity(instances);
        let mut ends = Vec::with_capacity(instances * 16);
        ends.push(0);
        Columns {
            fleet: types::Fleet {
                text: String::new(),
                text_ends: Vec::new(),
                security_groups: Vec::new(),
                ids: column(),
                states: Vec::with_capacity(instances),
                private_ipv4s: column(),
                public_ipv4s: column(),
                private_dns_names: column(),
                public_dns_names: column(),
                availability_zones: column(),
                regions: column(),
                vpc_ids: column(),
                subnet_ids: column(),
                instance_types: column(),
                image_ids: column(),
                launch_times: column(),
                accounts: column(),
                lifecycle_states: Vec::with_capacity(instances),
                lifecycle_groups: column(),
                leaving_reasons: Vec::with_capacity(instances),
                leaving_deadlines: column(),
                group_ends: column(),
                instance_groups: Vec::with_capacity(instances * 4),
                tag_ends: column(),
                tag_keys: Vec::with_capacity(instances * 4),
                tag_values: Vec::with_capacity(instances * 4),
                ipv6_ends: column(),
                ipv6_addresses: column(),
            },
            strings: Strings {
                // What an instance's strings take, about.
                text: String::with_capacity(instances * 256),
                ends,
            },
            groups: HashMap::default(),
            recent_groups: [RecentGroup {
                key: ("", "", None),
                index: u32::MAX, // none seen yet
            }; POSITIONS],
        }
    }

    /// The finished columns.
    fn finish(mut self) -> types::Fleet {
        self.fleet.text = self.strings.text;
        self.fleet.text_ends = self.strings.ends;
        self.fleet
    }

    /// Adds one instance; returns its index.
    fn push(&mut self, instance: &'a Instance) -> Result<u32, String> {
        let index = self.fleet.ids.len() as u32;
        let (strings, fleet) = (&mut self.strings, &mut self.fleet);
        fleet.ids.push(strings.push(&instance.id)?);
        fleet.states.push(state(&instance.state));
        for (column, text) in [
            (&mut fleet.private_ipv4s, &instance.private_ipv4),
            (&mut fleet.public_ipv4s, &instance.public_ipv4),
            (&mut fleet.private_dns_names, &instance.private_dns_name),
            (&mut fleet.public_dns_names, &instance.public_dns_name),
            (&mut fleet.availability_zones, &instance.availability_zone),
            (&mut fleet.regions, &instance.region),
            (&mut fleet.vpc_ids, &instance.vpc_id),
            (&mut fleet.subnet_ids, &instance.subnet_id),
            (&mut fleet.instance_types, &instance.instance_type),
            (&mut fleet.image_ids, &instance.image_id),
            (&mut fleet.launch_times, &instance.launch_time),
            (&mut fleet.accounts, &instance.account),
            (&mut fleet.lifecycle_groups, &instance.lifecycle.group),
        ] {
            column.push(strings.optional(text)?);
        }
        fleet
            .lifecycle_states
            .push(lifecycle_state(instance.lifecycle.state));
        let leaving = instance.leaving.as_ref();
        fleet
            .leaving_reasons
            .push(leaving.map(|leaving| leave_reason(leaving.reason)));
        fleet.leaving_deadlines.push(match leaving {
            Some(leaving) => strings.optional(&leaving.deadline)?,
            None => 0,
        });
        for tag in &instance.tags {
            fleet.tag_keys.push(strings.push(&tag.key)?);
            fleet.tag_values.push(strings.push(&tag.value)?);
        }
        fleet.tag_ends.push(fleet.tag_keys.len() as u32);
        for address in &instance.ipv6_addresses {
            fleet.ipv6_addresses.push(strings.push(address)?);
        }
        fleet.ipv6_ends.push(fleet.ipv6_addresses.len() as u32);
        for (position, group) in instance.security_groups.iter().enumerate() {
            let key = (
                group.id.as_str(),
                group.name.as_str(),
                group.owner.as_deref(),
            );
            let group = self.group(position, key)?;
            self.fleet.instance_groups.push(group);
        }
        self.fleet
            .group_ends
            .push(self.fleet.instance_groups.len() as u32);
        Ok(index)
    }

    /// The index of a security group in the fleet's table, added the first
    /// time it is seen.
    fn group(&mut self, position: usize, key: GroupKey<'a>) -> Result<u32, String> {
        if let Some(recent) = self.recent_groups.get(position)
            && recent.key == key
            && recent.index != u32::MAX
        {
            return Ok(recent.index);
        }
        let index = match self.groups.get(&key) {
            Some(&index) => index,
            None => {
                let (id, name, owner) = key;
                let group = types::SecurityGroup {
                    id: self.strings.push(id)?,
                    name: self.strings.push(name)?,
                    owner: self.strings.push(owner.unwrap_or_default())?,
                };
                let index = self.fleet.security_groups.len() as u32;
                self.fleet.security_groups.push(group);
                self.groups.insert(key, index);
                index
            }
        };
        if let Some(recent) = self.recent_groups.get_mut(position) {
            *recent = RecentGroup { key, index };
        }
        Ok(index)
    }
}

#[cfg(test)]
pub(super) mod tests {
    //! The host's lowering against the SDK's reading: a fleet encoded here,
    //! carried field by field into the guest bindings' types (as the
    //! canonical ABI would), must read back through the SDK's accessors as
    //! the very instances it came from. A field added to the host's model,
    //! the WIT or the SDK without the others fails here: to compile, or to
    //! compare.

    use super::*;
    use crate::inventory::{Leaving, Lifecycle, SecurityGroup, Tag};
    use rollcall_policy_sdk as sdk;
    use rollcall_policy_sdk::bindings::rollcall::policy::types as guest;

    /// An instance with every field set, each to a value of its own. No
    /// `..`: a new field of the model must be added here.
    pub(crate) fn full(n: u32, state: &str) -> Instance {
        let text = |field: &str| Some(format!("{field}-{n}"));
        Instance {
            id: format!("i-{n}"),
            state: state.to_owned(),
            private_ipv4: text("private-ipv4"),
            public_ipv4: text("public-ipv4"),
            private_dns_name: text("private-dns"),
            public_dns_name: text("public-dns"),
            ipv6_addresses: vec![format!("2600::{n}:1"), format!("2600::{n}:2")],
            security_groups: vec![
                SecurityGroup {
                    id: "sg-shared".to_owned(),
                    name: "shared".to_owned(),
                    owner: Some("111111111111".to_owned()),
                },
                // Owned or of an unknown owner, in turn.
                SecurityGroup {
                    id: format!("sg-{n}"),
                    name: format!("own-{n}"),
                    owner: n.is_multiple_of(2).then(|| format!("owner-{n}")),
                },
            ],
            tags: vec![Tag::new("Name", format!("node-{n}")), Tag::new("env", "")],
            availability_zone: text("zone"),
            region: text("region"),
            vpc_id: text("vpc"),
            subnet_id: text("subnet"),
            instance_type: text("type"),
            image_id: text("image"),
            launch_time: text("launch"),
            account: text("account"),
            lifecycle: Lifecycle {
                state: LifecycleState::ALL[n as usize % LifecycleState::ALL.len()],
                group: text("group"),
            },
            // Every reason, with and without a deadline; some not leaving.
            leaving: (n % 4 != 3).then(|| Leaving {
                reason: LeaveReason::ALL[n as usize % LeaveReason::ALL.len()],
                deadline: n.is_multiple_of(2).then(|| format!("deadline-{n}")),
            }),
        }
    }

    fn guest_state(state: InstanceState) -> guest::InstanceState {
        match state {
            InstanceState::Pending => guest::InstanceState::Pending,
            InstanceState::Running => guest::InstanceState::Running,
            InstanceState::ShuttingDown => guest::InstanceState::ShuttingDown,
            InstanceState::Terminated => guest::InstanceState::Terminated,
            InstanceState::Stopping => guest::InstanceState::Stopping,
            InstanceState::Stopped => guest::InstanceState::Stopped,
            InstanceState::Other => guest::InstanceState::Other,
        }
    }

    fn guest_lifecycle_state(state: types::LifecycleState) -> guest::LifecycleState {
        use types::LifecycleState as Host;
        match state {
            Host::NotInGroup => guest::LifecycleState::NotInGroup,
            Host::Pending => guest::LifecycleState::Pending,
            Host::PendingWait => guest::LifecycleState::PendingWait,
            Host::InService => guest::LifecycleState::InService,
            Host::Standby => guest::LifecycleState::Standby,
            Host::Terminating => guest::LifecycleState::Terminating,
            Host::TerminatingWait => guest::LifecycleState::TerminatingWait,
            Host::Detaching => guest::LifecycleState::Detaching,
            Host::Warmed => guest::LifecycleState::Warmed,
            Host::Other => guest::LifecycleState::Other,
        }
    }

    fn guest_leave_reason(reason: types::LeaveReason) -> guest::LeaveReason {
        use types::LeaveReason as Host;
        match reason {
            Host::SpotInterruption => guest::LeaveReason::SpotInterruption,
            Host::RebalanceRecommendation => guest::LeaveReason::RebalanceRecommendation,
            Host::ScheduledMaintenance => guest::LeaveReason::ScheduledMaintenance,
            Host::AutoScalingTermination => guest::LeaveReason::AutoScalingTermination,
            Host::Announced => guest::LeaveReason::Announced,
            Host::Other => guest::LeaveReason::Other,
        }
    }

    /// The question as the guest's bindings would receive it.
    pub(crate) fn carried(question: types::Question) -> guest::Question {
        let types::Fleet {
            text,
            text_ends,
            security_groups,
            ids,
            states,
            private_ipv4s,
            public_ipv4s,
            private_dns_names,
            public_dns_names,
            availability_zones,
            regions,
            vpc_ids,
            subnet_ids,
            instance_types,
            image_ids,
            launch_times,
            accounts,
            lifecycle_states,
            lifecycle_groups,
            leaving_reasons,
            leaving_deadlines,
            group_ends,
            instance_groups,
            tag_ends,
            tag_keys,
            tag_values,
            ipv6_ends,
            ipv6_addresses,
        } = question.fleet;
        guest::Question {
            fleet: guest::Fleet {
                text,
                text_ends,
                security_groups: security_groups
                    .into_iter()
                    .map(|group| guest::SecurityGroup {
                        id: group.id,
                        name: group.name,
                        owner: group.owner,
                    })
                    .collect(),
                ids,
                states: states.into_iter().map(guest_state).collect(),
                private_ipv4s,
                public_ipv4s,
                private_dns_names,
                public_dns_names,
                availability_zones,
                regions,
                vpc_ids,
                subnet_ids,
                instance_types,
                image_ids,
                launch_times,
                accounts,
                lifecycle_states: lifecycle_states
                    .into_iter()
                    .map(guest_lifecycle_state)
                    .collect(),
                lifecycle_groups,
                leaving_reasons: leaving_reasons
                    .into_iter()
                    .map(|reason| reason.map(guest_leave_reason))
                    .collect(),
                leaving_deadlines,
                group_ends,
                instance_groups,
                tag_ends,
                tag_keys,
                tag_values,
                ipv6_ends,
                ipv6_addresses,
            },
            self_instance: question.self_instance,
            explain: question.explain,
        }
    }

    /// The instance back from the SDK's accessors.
    fn read(instance: sdk::Instance<'_>, state: &str) -> Instance {
        let owned = |text: Option<&str>| text.map(str::to_owned);
        Instance {
            id: instance.id().to_owned(),
            state: state.to_owned(),
            private_ipv4: owned(instance.private_ipv4()),
            public_ipv4: owned(instance.public_ipv4()),
            private_dns_name: owned(instance.private_dns_name()),
            public_dns_name: owned(instance.public_dns_name()),
            ipv6_addresses: instance.ipv6_addresses().map(str::to_owned).collect(),
            security_groups: instance
                .security_groups()
                .map(|group| SecurityGroup {
                    id: group.id.to_owned(),
                    name: group.name.to_owned(),
                    owner: owned(group.owner),
                })
                .collect(),
            tags: instance
                .tags()
                .map(|tag| Tag::new(tag.key, tag.value))
                .collect(),
            availability_zone: owned(instance.availability_zone()),
            region: owned(instance.region()),
            vpc_id: owned(instance.vpc_id()),
            subnet_id: owned(instance.subnet_id()),
            instance_type: owned(instance.instance_type()),
            image_id: owned(instance.image_id()),
            launch_time: owned(instance.launch_time()),
            account: owned(instance.account()),
            lifecycle: Lifecycle {
                state: LifecycleState::from_name(instance.lifecycle().name())
                    .expect("the SDK names lifecycle states as the host does"),
                group: owned(instance.lifecycle_group()),
            },
            leaving: instance.leaving().map(|leaving| Leaving {
                reason: LeaveReason::from_name(leaving.reason.name())
                    .expect("the SDK names leave reasons as the host does"),
                deadline: owned(leaving.deadline),
            }),
        }
    }

    #[test]
    fn every_field_the_host_lowers_reads_back_through_the_sdk() {
        let states = [
            "pending",
            "running",
            "shutting-down",
            "terminated",
            "stopping",
            "stopped",
        ];
        // Enough instances for every lifecycle state and leave reason.
        let mut fleet: Vec<Instance> = (0..LifecycleState::ALL.len())
            .map(|n| full(n as u32, states.get(n).copied().unwrap_or("running")))
            .collect();
        fleet.push(Instance::running("i-bare"));
        let question = question(&fleet, Some("i-3"), Some("i-bare")).unwrap();
        assert_eq!(
            question.fleet.security_groups.len(),
            1 + LifecycleState::ALL.len(),
            "shared once"
        );
        let guest = sdk::Fleet::new(carried(question)).expect("the SDK accepts the columns");
        let read: Vec<Instance> = guest
            .instances()
            .zip(&fleet)
            .map(|(instance, original)| read(instance, &original.state))
            .collect();
        assert_eq!(read, fleet);
        let guest_states: Vec<guest::InstanceState> =
            guest.instances().map(|instance| instance.state()).collect();
        let expected: Vec<guest::InstanceState> = fleet
            .iter()
            .map(|instance| guest_state(state(&instance.state)))
            .collect();
        assert_eq!(guest_states, expected);
        assert_eq!(guest.self_instance().map(|own| own.id()), Some("i-3"));
        assert_eq!(guest.explained().map(|it| it.id()), Some("i-bare"));
    }

    #[test]
    fn a_group_is_listed_once_per_owner() {
        let group = |owner: Option<&str>| SecurityGroup {
            id: "sg-1".to_owned(),
            name: "eg-monitor".to_owned(),
            owner: owner.map(str::to_owned),
        };
        let mut fleet = Vec::new();
        for (id, owner) in [
            ("i-a", Some("111111111111")),
            ("i-b", Some("222222222222")),
            ("i-c", None),
            ("i-d", Some("111111111111")),
        ] {
            let mut instance = Instance::running(id);
            instance.security_groups.push(group(owner));
            fleet.push(instance);
        }
        let question = question(&fleet, None, None).unwrap();
        assert_eq!(question.fleet.instance_groups, [0, 1, 2, 0]);
        let guest = sdk::Fleet::new(carried(question)).unwrap();
        let owners: Vec<Option<&str>> = guest.security_groups().map(|group| group.owner).collect();
        assert_eq!(owners, [Some("111111111111"), Some("222222222222"), None]);
    }

    #[test]
    fn a_state_the_interface_does_not_know_crosses_as_other() {
        let mut odd = Instance::running("i-odd");
        odd.state = "hibernating".to_owned();
        let question = question(&[odd], None, None).unwrap();
        assert_eq!(question.fleet.states, [InstanceState::Other]);
    }

    #[test]
    fn ids_that_name_no_instance_are_none() {
        let fleet = [Instance::running("i-1")];
        let question = question(&fleet, Some("i-2"), Some("i-3")).unwrap();
        assert_eq!((question.self_instance, question.explain), (None, None));
    }
}
