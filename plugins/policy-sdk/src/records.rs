//! Building a [`Fleet`] from plain records, as a policy's native unit tests
//! (and benchmarks) do: the same columns the host sends, made in the test.

use crate::bindings::rollcall::policy::types;
use crate::{Answer, Fleet, InstanceState, LeaveReason, LifecycleState, Resolved};
use std::collections::HashMap;

/// One instance, written out field by field. Fill in what a test looks at
/// and take the rest from [`InstanceRecord::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    pub id: String,
    pub state: InstanceState,
    pub private_ipv4: Option<String>,
    pub public_ipv4: Option<String>,
    pub private_dns_name: Option<String>,
    pub public_dns_name: Option<String>,
    pub ipv6_addresses: Vec<String>,
    /// `(id, name, owner)` of each group; the owner is an account id, or
    /// `None` when unknown.
    pub security_groups: Vec<(String, String, Option<String>)>,
    /// `(key, value)` of each tag.
    pub tags: Vec<(String, String)>,
    pub availability_zone: Option<String>,
    pub region: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub instance_type: Option<String>,
    pub image_id: Option<String>,
    pub launch_time: Option<String>,
    pub account: Option<String>,
    pub lifecycle: LifecycleState,
    pub lifecycle_group: Option<String>,
    /// Why the instance is leaving, if it is.
    pub leaving_reason: Option<LeaveReason>,
    /// By when, if it is leaving and anyone said.
    pub leaving_deadline: Option<String>,
}

impl InstanceRecord {
    /// An instance with an id and a state and nothing else: no address,
    /// group or tag.
    pub fn new(id: &str, state: InstanceState) -> InstanceRecord {
        InstanceRecord {
            id: id.to_owned(),
            state,
            private_ipv4: None,
            public_ipv4: None,
            private_dns_name: None,
            public_dns_name: None,
            ipv6_addresses: Vec::new(),
            security_groups: Vec::new(),
            tags: Vec::new(),
            availability_zone: None,
            region: None,
            vpc_id: None,
            subnet_id: None,
            instance_type: None,
            image_id: None,
            launch_time: None,
            account: None,
            lifecycle: LifecycleState::NotInGroup,
            lifecycle_group: None,
            leaving_reason: None,
            leaving_deadline: None,
        }
    }
}

impl Fleet {
    /// The fleet of these instances, seen from the one with id `self_id`
    /// and explaining the one with id `explain`; an id that names no
    /// instance is an error.
    pub fn from_records(
        records: &[InstanceRecord],
        self_id: Option<&str>,
        explain: Option<&str>,
    ) -> Result<Fleet, String> {
        let index_of = |id: Option<&str>| -> Result<Option<u32>, String> {
            id.map(|id| {
                records
                    .iter()
                    .position(|record| record.id == id)
                    .map(|index| index as u32)
                    .ok_or_else(|| format!("instance {id} is not in the fleet"))
            })
            .transpose()
        };
        Fleet::new(types::Question {
            fleet: Columns::from(records),
            self_instance: index_of(self_id)?,
            explain: index_of(explain)?,
        })
    }
}

impl Resolved {
    /// What `decide` answers for a fleet of `records`, seen from `self_id`
    /// and explaining `explain`, read back in ids and names: what a policy's
    /// native tests compare. An id that names no instance is an error.
    pub fn of_records(
        records: &[InstanceRecord],
        self_id: Option<&str>,
        explain: Option<&str>,
        decide: impl FnOnce(&Fleet, &mut Answer),
    ) -> Result<Resolved, String> {
        let fleet = Fleet::from_records(records, self_id, explain)?;
        let mut answer = Answer::new(&fleet);
        decide(&fleet, &mut answer);
        Ok(answer.resolved(&fleet))
    }
}

/// The columns under construction, every string interned.
struct Columns {
    fleet: types::Fleet,
    strings: HashMap<String, u32>,
    /// Groups by the strings of their id, name and owner.
    groups: HashMap<(u32, u32, u32), u32>,
}

impl Columns {
    fn from(records: &[InstanceRecord]) -> types::Fleet {
        let mut columns = Columns {
            fleet: types::Fleet {
                text: String::new(),
                text_ends: Vec::new(),
                security_groups: Vec::new(),
                ids: Vec::new(),
                states: Vec::new(),
                private_ipv4s: Vec::new(),
                public_ipv4s: Vec::new(),
                private_dns_names: Vec::new(),
                public_dns_names: Vec::new(),
                availability_zones: Vec::new(),
                regions: Vec::new(),
                vpc_ids: Vec::new(),
                subnet_ids: Vec::new(),
                instance_types: Vec::new(),
                image_ids: Vec::new(),
                launch_times: Vec::new(),
                accounts: Vec::new(),
                lifecycle_states: Vec::new(),
                lifecycle_groups: Vec::new(),
                leaving_reasons: Vec::new(),
                leaving_deadlines: Vec::new(),
                group_ends: Vec::new(),
                instance_groups: Vec::new(),
                tag_ends: Vec::new(),
                tag_keys: Vec::new(),
                tag_values: Vec::new(),
                ipv6_ends: Vec::new(),
                ipv6_addresses: Vec::new(),
            },
            strings: HashMap::new(),
            groups: HashMap::new(),
        };
        columns.text("");
        for record in records {
            columns.push(record);
        }
        columns.fleet
    }

    fn text(&mut self, text: &str) -> u32 {
        if let Some(&index) = self.strings.get(text) {
            return index;
        }
        let fleet = &mut self.fleet;
        fleet.text.push_str(text);
        fleet.text_ends.push(fleet.text.len() as u32);
        let index = fleet.text_ends.len() as u32 - 1;
        self.strings.insert(text.to_owned(), index);
        index
    }

    fn optional(&mut self, text: &Option<String>) -> u32 {
        text.as_deref().map_or(0, |text| self.text(text))
    }

    fn push(&mut self, record: &InstanceRecord) {
        let id = self.text(&record.id);
        self.fleet.ids.push(id);
        self.fleet.states.push(record.state);
        let texts = [
            &record.private_ipv4,
            &record.public_ipv4,
            &record.private_dns_name,
            &record.public_dns_name,
            &record.availability_zone,
            &record.region,
            &record.vpc_id,
            &record.subnet_id,
            &record.instance_type,
            &record.image_id,
            &record.launch_time,
            &record.account,
            &record.lifecycle_group,
            &record.leaving_deadline,
        ]
        .map(|value| self.optional(value));
        let fleet = &mut self.fleet;
        let columns = [
            &mut fleet.private_ipv4s,
            &mut fleet.public_ipv4s,
            &mut fleet.private_dns_names,
            &mut fleet.public_dns_names,
            &mut fleet.availability_zones,
            &mut fleet.regions,
            &mut fleet.vpc_ids,
            &mut fleet.subnet_ids,
            &mut fleet.instance_types,
            &mut fleet.image_ids,
            &mut fleet.launch_times,
            &mut fleet.accounts,
            &mut fleet.lifecycle_groups,
            &mut fleet.leaving_deadlines,
        ];
        for (column, text) in columns.into_iter().zip(texts) {
            column.push(text);
        }
        fleet.lifecycle_states.push(record.lifecycle);
        fleet.leaving_reasons.push(record.leaving_reason);
        for (id, name, owner) in &record.security_groups {
            let key = (self.text(id), self.text(name), self.optional(owner));
            let next = self.groups.len() as u32;
            let group = *self.groups.entry(key).or_insert_with(|| {
                self.fleet.security_groups.push(types::SecurityGroup {
                    id: key.0,
                    name: key.1,
                    owner: key.2,
                });
                next
            });
            self.fleet.instance_groups.push(group);
        }
        self.fleet
            .group_ends
            .push(self.fleet.instance_groups.len() as u32);
        for (key, value) in &record.tags {
            let (key, value) = (self.text(key), self.text(value));
            self.fleet.tag_keys.push(key);
            self.fleet.tag_values.push(value);
        }
        self.fleet.tag_ends.push(self.fleet.tag_keys.len() as u32);
        for address in &record.ipv6_addresses {
            let address = self.text(address);
            self.fleet.ipv6_addresses.push(address);
        }
        self.fleet
            .ipv6_ends
            .push(self.fleet.ipv6_addresses.len() as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(id: &str) -> InstanceRecord {
        let text = |field: &str| Some(format!("{id}-{field}"));
        InstanceRecord {
            private_ipv4: text("private-ipv4"),
            public_ipv4: text("public-ipv4"),
            private_dns_name: text("private-dns"),
            public_dns_name: text("public-dns"),
            ipv6_addresses: vec![format!("{id}-v6a"), format!("{id}-v6b")],
            security_groups: vec![
                ("sg-shared".to_owned(), "shared".to_owned(), None),
                (format!("sg-{id}"), format!("own-{id}"), text("owner")),
            ],
            tags: vec![
                ("Name".to_owned(), id.to_owned()),
                ("env".to_owned(), "prod".to_owned()),
            ],
            availability_zone: text("zone"),
            region: text("region"),
            vpc_id: text("vpc"),
            subnet_id: text("subnet"),
            instance_type: text("type"),
            image_id: text("image"),
            launch_time: text("launch"),
            account: text("account"),
            lifecycle: LifecycleState::TerminatingWait,
            lifecycle_group: text("group"),
            leaving_reason: Some(LeaveReason::ScheduledMaintenance),
            leaving_deadline: text("deadline"),
            ..InstanceRecord::new(id, InstanceState::Stopping)
        }
    }

    /// The record back, read through the accessors.
    fn read(instance: crate::Instance<'_>) -> InstanceRecord {
        let owned = |text: Option<&str>| text.map(str::to_owned);
        InstanceRecord {
            id: instance.id().to_owned(),
            state: instance.state(),
            private_ipv4: owned(instance.private_ipv4()),
            public_ipv4: owned(instance.public_ipv4()),
            private_dns_name: owned(instance.private_dns_name()),
            public_dns_name: owned(instance.public_dns_name()),
            ipv6_addresses: instance.ipv6_addresses().map(str::to_owned).collect(),
            security_groups: instance
                .security_groups()
                .map(|group| {
                    (
                        group.id.to_owned(),
                        group.name.to_owned(),
                        owned(group.owner),
                    )
                })
                .collect(),
            tags: instance
                .tags()
                .map(|tag| (tag.key.to_owned(), tag.value.to_owned()))
                .collect(),
            availability_zone: owned(instance.availability_zone()),
            region: owned(instance.region()),
            vpc_id: owned(instance.vpc_id()),
            subnet_id: owned(instance.subnet_id()),
            instance_type: owned(instance.instance_type()),
            image_id: owned(instance.image_id()),
            launch_time: owned(instance.launch_time()),
            account: owned(instance.account()),
            lifecycle: instance.lifecycle(),
            lifecycle_group: owned(instance.lifecycle_group()),
            leaving_reason: instance.leaving().map(|leaving| leaving.reason),
            leaving_deadline: instance
                .leaving()
                .and_then(|leaving| owned(leaving.deadline)),
        }
    }

    #[test]
    fn every_field_reads_back_as_it_was_written() {
        let records = vec![
            full("i-1"),
            InstanceRecord::new("i-bare", InstanceState::Running),
            full("i-2"),
        ];
        let fleet = Fleet::from_records(&records, Some("i-2"), Some("i-bare")).unwrap();
        let read: Vec<InstanceRecord> = fleet.instances().map(read).collect();
        assert_eq!(read, records);
        assert_eq!(fleet.self_instance().map(|own| own.id()), Some("i-2"));
        assert_eq!(fleet.explained().map(|it| it.id()), Some("i-bare"));
    }

    #[test]
    fn instances_serve_unless_leaving_or_held_out_of_service() {
        use LifecycleState::*;
        let states = [
            (NotInGroup, true),
            (Pending, true),
            (PendingWait, false),
            (InService, true),
            (Standby, false),
            (Terminating, false),
            (TerminatingWait, false),
            (Detaching, false),
            (Warmed, false),
            (Other, true),
        ];
        let mut records: Vec<InstanceRecord> = states
            .iter()
            .map(|(state, _)| InstanceRecord {
                lifecycle: *state,
                ..InstanceRecord::new(state.name(), InstanceState::Running)
            })
            .collect();
        records.push(InstanceRecord {
            lifecycle: InService,
            leaving_reason: Some(LeaveReason::Announced),
            ..InstanceRecord::new("i-leaving", InstanceState::Running)
        });
        let fleet = Fleet::from_records(&records, None, None).unwrap();
        let serves: Vec<bool> = fleet.instances().map(|it| it.serves()).collect();
        let mut expected: Vec<bool> = states.iter().map(|(_, serves)| *serves).collect();
        expected.push(false);
        assert_eq!(serves, expected);
    }

    #[test]
    fn an_unserving_reason_names_the_leave_or_the_state() {
        let records = [
            InstanceRecord {
                leaving_reason: Some(LeaveReason::SpotInterruption),
                leaving_deadline: Some("2026-12-07T10:00:00Z".to_owned()),
                ..InstanceRecord::new("i-spot", InstanceState::Running)
            },
            InstanceRecord {
                leaving_reason: Some(LeaveReason::Announced),
                ..InstanceRecord::new("i-going", InstanceState::Running)
            },
            InstanceRecord {
                lifecycle: LifecycleState::Standby,
                ..InstanceRecord::new("i-standby", InstanceState::Running)
            },
            InstanceRecord::new("i-serving", InstanceState::Running),
        ];
        let fleet = Fleet::from_records(&records, None, None).unwrap();
        let reasons: Vec<Option<String>> =
            fleet.instances().map(|it| it.unserving_reason()).collect();
        assert_eq!(
            reasons,
            [
                Some("leaving (spot-interruption by 2026-12-07T10:00:00Z)".to_owned()),
                Some("leaving (announced)".to_owned()),
                Some("in Auto Scaling standby".to_owned()),
                None,
            ]
        );
    }

    #[test]
    fn groups_are_listed_once_and_shared_by_index() {
        let fleet = Fleet::from_records(&[full("i-1"), full("i-2")], None, None).unwrap();
        let names: Vec<&str> = fleet.security_groups().map(|group| group.name).collect();
        assert_eq!(names, ["shared", "own-i-1", "own-i-2"]);
        let first = fleet.instance(0).unwrap().security_group_indices();
        let second = fleet.instance(1).unwrap().security_group_indices();
        assert_eq!((first, second), (&[0, 1][..], &[0, 2][..]));
    }

    #[test]
    fn a_tag_is_found_by_its_exact_key() {
        let fleet = Fleet::from_records(&[full("i-1")], None, None).unwrap();
        let instance = fleet.instance(0).unwrap();
        assert_eq!(instance.tag("env"), Some("prod"));
        assert_eq!(instance.tag("Env"), None);
    }

    #[test]
    fn an_unknown_self_is_an_error_naming_it() {
        let err = Fleet::from_records(&[full("i-1")], Some("i-nope"), None).unwrap_err();
        assert_eq!(err, "instance i-nope is not in the fleet");
    }

    #[test]
    fn columns_of_different_lengths_are_refused() {
        let mut fleet = Columns::from(&[full("i-1")]);
        fleet.regions.clear();
        let err = Fleet::new(types::Question {
            fleet,
            self_instance: None,
            explain: None,
        })
        .unwrap_err();
        assert_eq!(err, "the fleet's regions has 0 entries for 1 instances");
    }

    #[test]
    fn self_and_explained_must_be_in_the_fleet() {
        let err = Fleet::new(types::Question {
            fleet: Columns::from(&[full("i-1")]),
            self_instance: Some(1),
            explain: None,
        })
        .unwrap_err();
        assert_eq!(
            err,
            "the host named instance 1 as self, but the fleet has 1"
        );
    }

    #[test]
    fn candidates_are_running_instances_and_self_whatever_its_state() {
        let records: Vec<InstanceRecord> = [
            ("i-running", InstanceState::Running),
            ("i-pending", InstanceState::Pending),
            ("i-stopped", InstanceState::Stopped),
            ("i-also-running", InstanceState::Running),
        ]
        .iter()
        .map(|(id, state)| InstanceRecord::new(id, *state))
        .collect();
        let ids = |self_id| {
            let fleet = Fleet::from_records(&records, self_id, None).unwrap();
            fleet
                .candidates()
                .map(|instance| instance.id().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(None), ["i-running", "i-also-running"]);
        assert_eq!(
            ids(Some("i-stopped")),
            ["i-running", "i-stopped", "i-also-running"]
        );
        assert_eq!(ids(Some("i-running")), ["i-running", "i-also-running"]);
    }
}
