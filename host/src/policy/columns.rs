//! The fleet as it crosses into a policy: the host's columns ([`Fleet`])
//! lent to `wit/policy.wit`'s `fleet` record as they are (the bindings
//! borrow their parameters), only the states turned into the interface's
//! enums. The host's model has the interface's layout, so nothing is
//! encoded here: carrying the question into the guest is its one copy. A 0.2.0 plugin gets the same columns without the ones 0.3.0
//! added (`world::previous`).

use super::world::types::{self, InstanceState};
use crate::inventory::{Field, Fleet, LeaveReason, LifecycleState};

/// A question being asked: the fleet's own buffers, lent as they are, and
/// the few columns the interface types otherwise (the states as its enums,
/// the security groups as records), made for it.
pub struct Asking<'a> {
    fleet: &'a Fleet,
    states: Vec<InstanceState>,
    lifecycle_states: Vec<types::LifecycleState>,
    leaving_reasons: Vec<Option<types::LeaveReason>>,
    security_groups: Vec<types::SecurityGroup>,
    self_instance: Option<u32>,
    explain: Option<u32>,
}

/// The question a policy answers about `fleet`, seen from `self_id`, with
/// the instance to explain. Ids that name no instance give `None`. (Public
/// for the boundary benchmark, which times it alone.)
pub fn question<'a>(fleet: &'a Fleet, self_id: Option<&str>, explain: Option<&str>) -> Asking<'a> {
    let index_of = |id: Option<&str>| {
        let id = id?;
        fleet
            .ids()
            .position(|candidate| candidate == id)
            .and_then(|index| u32::try_from(index).ok())
    };
    Asking {
        fleet,
        states: fleet
            .states
            .iter()
            .map(|&name| state(fleet.string(name)))
            .collect(),
        lifecycle_states: fleet
            .lifecycle_states
            .iter()
            .map(|&state| lifecycle_state(state))
            .collect(),
        leaving_reasons: fleet
            .leaving_reasons
            .iter()
            .map(|reason| reason.map(leave_reason))
            .collect(),
        security_groups: fleet
            .groups
            .iter()
            .map(|group| types::SecurityGroup {
                id: group.id,
                name: group.name,
                owner: group.owner,
            })
            .collect(),
        self_instance: index_of(self_id),
        explain: index_of(explain),
    }
}

impl Asking<'_> {
    /// The question in the interface's types, borrowing every column:
    /// carrying it into the guest is the only copy.
    pub fn question(&self) -> types::Question<'_> {
        let fleet = self.fleet;
        let column = |field: Field| fleet.fields[field as usize].as_slice();
        types::Question {
            fleet: types::Fleet {
                text: &fleet.text,
                text_ends: &fleet.text_ends,
                security_groups: &self.security_groups,
                ids: &fleet.ids,
                states: &self.states,
                private_ipv4s: column(Field::PrivateIpv4),
                public_ipv4s: column(Field::PublicIpv4),
                private_dns_names: column(Field::PrivateDnsName),
                public_dns_names: column(Field::PublicDnsName),
                availability_zones: column(Field::AvailabilityZone),
                regions: column(Field::Region),
                vpc_ids: column(Field::VpcId),
                subnet_ids: column(Field::SubnetId),
                instance_types: column(Field::InstanceType),
                image_ids: column(Field::ImageId),
                launch_times: column(Field::LaunchTime),
                accounts: column(Field::Account),
                lifecycle_states: &self.lifecycle_states,
                lifecycle_groups: column(Field::LifecycleGroup),
                leaving_reasons: &self.leaving_reasons,
                leaving_deadlines: column(Field::LeavingDeadline),
                group_ends: &fleet.group_ends,
                instance_groups: &fleet.instance_groups,
                tag_ends: &fleet.tag_ends,
                tag_keys: &fleet.tag_keys,
                tag_values: &fleet.tag_values,
                ipv6_ends: &fleet.ipv6_ends,
                ipv6_addresses: &fleet.ipv6_addresses,
            },
            self_instance: self.self_instance,
            explain: self.explain,
        }
    }
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

#[cfg(test)]
pub(super) mod tests {
    //! The host's lowering against the SDK's reading: a fleet encoded here,
    //! carried field by field into the guest bindings' types (as the
    //! canonical ABI would), must read back through the SDK's accessors as
    //! the very instances it came from. A field added to the host's model,
    //! the WIT or the SDK without the others fails here: to compile, or to
    //! compare.

    use super::*;
    use crate::inventory::every_field as full;
    use crate::inventory::{Instance, Leaving, Lifecycle, SecurityGroup, Tag};
    use rollcall_policy_sdk as sdk;
    use rollcall_policy_sdk::bindings::rollcall::policy::types as guest;

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
    pub(crate) fn carried(question: types::Question<'_>) -> guest::Question {
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
                text: text.to_owned(),
                text_ends: text_ends.to_vec(),
                security_groups: security_groups
                    .iter()
                    .map(|group| guest::SecurityGroup {
                        id: group.id,
                        name: group.name,
                        owner: group.owner,
                    })
                    .collect(),
                ids: ids.to_vec(),
                states: states.iter().copied().map(guest_state).collect(),
                private_ipv4s: private_ipv4s.to_vec(),
                public_ipv4s: public_ipv4s.to_vec(),
                private_dns_names: private_dns_names.to_vec(),
                public_dns_names: public_dns_names.to_vec(),
                availability_zones: availability_zones.to_vec(),
                regions: regions.to_vec(),
                vpc_ids: vpc_ids.to_vec(),
                subnet_ids: subnet_ids.to_vec(),
                instance_types: instance_types.to_vec(),
                image_ids: image_ids.to_vec(),
                launch_times: launch_times.to_vec(),
                accounts: accounts.to_vec(),
                lifecycle_states: lifecycle_states
                    .iter()
                    .copied()
                    .map(guest_lifecycle_state)
                    .collect(),
                lifecycle_groups: lifecycle_groups.to_vec(),
                leaving_reasons: leaving_reasons
                    .iter()
                    .copied()
                    .map(|reason| reason.map(guest_leave_reason))
                    .collect(),
                leaving_deadlines: leaving_deadlines.to_vec(),
                group_ends: group_ends.to_vec(),
                instance_groups: instance_groups.to_vec(),
                tag_ends: tag_ends.to_vec(),
                tag_keys: tag_keys.to_vec(),
                tag_values: tag_values.to_vec(),
                ipv6_ends: ipv6_ends.to_vec(),
                ipv6_addresses: ipv6_addresses.to_vec(),
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
        let columns = Fleet::from_instances(&fleet).unwrap();
        let asking = question(&columns, Some("i-3"), Some("i-bare"));
        let question = asking.question();
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
        let columns = Fleet::from_instances(&fleet).unwrap();
        let asking = question(&columns, None, None);
        let question = asking.question();
        assert_eq!(question.fleet.instance_groups, [0, 1, 2, 0]);
        let guest = sdk::Fleet::new(carried(question)).unwrap();
        let owners: Vec<Option<&str>> = guest.security_groups().map(|group| group.owner).collect();
        assert_eq!(owners, [Some("111111111111"), Some("222222222222"), None]);
    }

    #[test]
    fn a_state_the_interface_does_not_know_crosses_as_other() {
        let mut odd = Instance::running("i-odd");
        odd.state = "hibernating".to_owned();
        let columns = Fleet::from_instances(&[odd]).unwrap();
        let asking = question(&columns, None, None);
        let question = asking.question();
        assert_eq!(question.fleet.states, [InstanceState::Other]);
    }

    #[test]
    fn the_empty_fleet_is_a_question_the_sdk_accepts() {
        let empty = Fleet::default();
        let asking = question(&empty, None, None);
        let guest = sdk::Fleet::new(carried(asking.question()))
            .expect("the SDK accepts the empty fleet's columns");
        assert_eq!(guest.instances().count(), 0);
    }

    #[test]
    fn ids_that_name_no_instance_are_none() {
        let fleet = [Instance::running("i-1")];
        let columns = Fleet::from_instances(&fleet).unwrap();
        let asking = question(&columns, Some("i-2"), Some("i-3"));
        let question = asking.question();
        assert_eq!((question.self_instance, question.explain), (None, None));
    }
}
