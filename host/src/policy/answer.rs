//! A policy's answer as it crosses back: indices into the fleet and into the
//! answer's own tables of names, turned into the host's [`Decision`] in ids
//! and names. Any index outside its table is a problem with the answer, not
//! a crash. A member with more labels than allowed or a label name twice is
//! dropped here, with a [`NoteTopic::Dropped`] note that `validate` honours:
//! past this point its labels are a map, bounded in size.

use super::validate::{self, Problems};
use super::world::types;
use super::{Decision, Labels, Member, Note, NoteTopic};
use crate::inventory::{Field, Fleet};

/// The decision in ids and names, or the problems with the answer.
pub fn decision(answer: types::Decision, fleet: &Fleet) -> Result<Decision, Vec<String>> {
    let types::Decision {
        roles,
        clusters,
        label_names,
        label_values,
        members,
        register_with,
        notes,
    } = answer;
    let mut problems = Problems::default();
    let count = fleet.len();
    // An instance of the fleet, by index.
    let instance = |index: u32| ((index as usize) < count).then_some(index as usize);

    let mut decided = Vec::with_capacity(members.len());
    let mut dropped = Vec::new();
    for member in members {
        let Some(index) = instance(member.instance) else {
            problems.push(format!(
                "member #{} is not in the fleet ({count} instances)",
                member.instance
            ));
            continue;
        };
        let id = fleet.id(index);
        let Some(role) = roles.get(member.role as usize) else {
            problems.push(format!(
                "member {id} has role #{}, but the answer names {} roles",
                member.role,
                roles.len()
            ));
            continue;
        };
        let mut names = Vec::with_capacity(member.clusters.len());
        for cluster in &member.clusters {
            match clusters.get(*cluster as usize) {
                Some(name) => names.push(name.clone()),
                None => problems.push(format!(
                    "member {id} has cluster #{cluster}, but the answer names {} clusters",
                    clusters.len()
                )),
            }
        }
        let address = match member.address {
            None => None,
            Some(types::Address::Other(address)) => Some(address),
            Some(types::Address::Own(kind)) => match own_address(fleet, index, kind) {
                Some(address) => Some(address.to_owned()),
                None => {
                    problems.push(format!(
                        "member {id} is given its {} address, which it does not have",
                        kind_name(kind)
                    ));
                    None
                }
            },
        };
        let labels = match labels(
            &member.labels,
            &label_names,
            &label_values,
            id,
            &mut problems,
        ) {
            Ok(labels) => labels,
            Err(text) => {
                dropped.push(Note {
                    instance_id: id.to_owned(),
                    topic: NoteTopic::Dropped,
                    text,
                });
                continue;
            }
        };
        decided.push(Member {
            instance_id: id.to_owned(),
            role: role.clone(),
            clusters: names,
            address,
            port: member.port,
            labels,
            status: Default::default(),
        });
    }

    let mut targets = Vec::with_capacity(register_with.len());
    for target in register_with {
        match instance(target) {
            Some(index) => targets.push(fleet.id(index).to_owned()),
            None => problems.push(format!(
                "registration target #{target} is not in the fleet ({count} instances)"
            )),
        }
    }

    let mut reasons = Vec::with_capacity(notes.len());
    for note in notes {
        match instance(note.instance) {
            Some(index) => reasons.push(Note {
                instance_id: fleet.id(index).to_owned(),
                topic: match note.topic {
                    types::NoteTopic::Decision => NoteTopic::Decision,
                    types::NoteTopic::Target => NoteTopic::Target,
                },
                text: note.text,
            }),
            None => problems.push(format!(
                "a note is about instance #{}, which is not in the fleet ({count} instances)",
                note.instance
            )),
        }
    }

    reasons.extend(dropped);
    if problems.is_empty() {
        Ok(Decision {
            members: decided,
            register_with: targets,
            notes: reasons,
        })
    } else {
        Err(problems.into_list())
    }
}

/// A member's labels as a map; an index outside its table is a problem
/// with the answer, and too many labels or a name given twice why the
/// member is dropped (`Err`).
fn labels(
    given: &[types::Label],
    names: &[String],
    values: &[String],
    id: &str,
    problems: &mut Problems,
) -> Result<Labels, String> {
    if let Some(why) = validate::too_many_labels(given.len()) {
        return Err(why);
    }
    let mut labels = Labels::new();
    for label in given {
        let Some(name) = names.get(label.name as usize) else {
            problems.push(format!(
                "member {id} has label name #{}, but the answer names {} label names",
                label.name,
                names.len()
            ));
            continue;
        };
        let Some(value) = values.get(label.value as usize) else {
            problems.push(format!(
                "member {id} has label value #{}, but the answer names {} label values",
                label.value,
                values.len()
            ));
            continue;
        };
        if labels.insert(name.clone(), value.clone()).is_some() {
            return Err(validate::label_twice(name));
        }
    }
    Ok(labels)
}

/// The instance's own address of this kind, if it has one.
fn own_address(fleet: &Fleet, index: usize, kind: types::AddressKind) -> Option<&str> {
    let field = match kind {
        types::AddressKind::PrivateIpv4 => Field::PrivateIpv4,
        types::AddressKind::PublicIpv4 => Field::PublicIpv4,
        types::AddressKind::PrivateDnsName => Field::PrivateDnsName,
        types::AddressKind::PublicDnsName => Field::PublicDnsName,
        types::AddressKind::Ipv6 => return fleet.ipv6_addresses(index).next(),
    };
    fleet.field(index, field)
}

/// The kind as `wit/policy.wit` names it.
fn kind_name(kind: types::AddressKind) -> &'static str {
    match kind {
        types::AddressKind::PrivateIpv4 => "private-ipv4",
        types::AddressKind::PublicIpv4 => "public-ipv4",
        types::AddressKind::PrivateDnsName => "private-dns-name",
        types::AddressKind::PublicDnsName => "public-dns-name",
        types::AddressKind::Ipv6 => "ipv6",
    }
}

#[cfg(test)]
mod tests {
    //! The answer's way back: what the SDK builds, carried field by field
    //! into the host's bindings (as the canonical ABI would), must read as
    //! the SDK's own [`rollcall_policy_sdk::Resolved`] says. A field added
    //! to the WIT's decision or member without the host's reading of it
    //! fails here, to compile or to compare.

    use super::*;
    use crate::policy::columns::{question, tests::carried};
    use rollcall_policy_sdk as sdk;
    use rollcall_policy_sdk::bindings::rollcall::policy::types as guest;

    /// The decision as the host's bindings would receive it. No `..`.
    fn carried_back(decision: guest::Decision) -> types::Decision {
        let guest::Decision {
            roles,
            clusters,
            label_names,
            label_values,
            members,
            register_with,
            notes,
        } = decision;
        types::Decision {
            roles,
            clusters,
            label_names,
            label_values,
            members: members
                .into_iter()
                .map(
                    |guest::Member {
                         instance,
                         role,
                         clusters,
                         address,
                         port,
                         labels,
                     }| types::Member {
                        instance,
                        role,
                        clusters,
                        address: address.map(|address| match address {
                            guest::Address::Other(text) => types::Address::Other(text),
                            guest::Address::Own(guest::AddressKind::PrivateIpv4) => {
                                types::Address::Own(types::AddressKind::PrivateIpv4)
                            }
                            guest::Address::Own(_) => unreachable!("these tests use private-ipv4"),
                        }),
                        port,
                        labels: labels
                            .into_iter()
                            .map(|guest::Label { name, value }| types::Label { name, value })
                            .collect(),
                    },
                )
                .collect(),
            register_with,
            notes: notes
                .into_iter()
                .map(|note| types::Note {
                    instance: note.instance,
                    topic: match note.topic {
                        guest::NoteTopic::Decision => types::NoteTopic::Decision,
                        guest::NoteTopic::Target => types::NoteTopic::Target,
                    },
                    text: note.text,
                })
                .collect(),
        }
    }

    fn fleet() -> Fleet {
        let instances: Vec<_> = (0..4)
            .map(|n| crate::inventory::every_field(n, "running"))
            .collect();
        Fleet::from_instances(&instances).unwrap()
    }

    #[test]
    fn what_the_sdk_answers_reads_back_as_its_own_resolved_answer() {
        let fleet = fleet();
        let question = question(&fleet, Some("i-0"), Some("i-0"));
        let guest = sdk::Fleet::new(carried(question)).unwrap();
        let mut answer = sdk::Answer::new(&guest);
        let monitor = answer.role("monitor");
        let blue = answer.cluster("blue");
        for instance in guest.instances() {
            let labels = vec![
                answer.label("team", instance.tag("Name").unwrap_or_default()),
                answer.label("zone", instance.availability_zone().unwrap_or_default()),
                answer.label("empty", ""),
            ];
            answer.add_member(sdk::Member {
                instance: instance.index(),
                role: monitor,
                clusters: vec![blue],
                address: if instance.index() == 3 {
                    Some(sdk::Address::Other("node-3.example".to_owned()))
                } else {
                    sdk::AddressKind::PrivateIp.of(instance)
                },
                port: Some(7000 + instance.index() as u16),
                labels,
            });
            if !instance.is_self() {
                answer.register_with(instance);
                answer.note_target(instance, || format!("target {}", instance.id()));
            }
        }
        let resolved = answer.resolved(&guest);
        let decided = decision(carried_back(answer.into_decision()), &fleet).unwrap();

        let members: Vec<sdk::ResolvedMember> = decided
            .members
            .iter()
            .map(|member| sdk::ResolvedMember {
                id: member.instance_id.clone(),
                role: member.role.clone(),
                clusters: member.clusters.clone(),
                address: member.address.clone(),
                port: member.port,
                labels: member
                    .labels
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect(),
            })
            .collect();
        let mut expected = resolved.members.clone();
        for member in &mut expected {
            member.labels.sort();
        }
        assert_eq!(members, expected);
        assert_eq!(
            decided.members[1].labels,
            Labels::from([
                ("empty".to_owned(), String::new()),
                ("team".to_owned(), "node-1".to_owned()),
                ("zone".to_owned(), "zone-1".to_owned()),
            ])
        );
        assert_eq!(decided.register_with, resolved.register_with);
        let notes: Vec<(String, sdk::NoteTopic, String)> = decided
            .notes
            .iter()
            .map(|note| {
                let topic = match note.topic {
                    NoteTopic::Decision => sdk::NoteTopic::Decision,
                    _ => sdk::NoteTopic::Target,
                };
                (note.instance_id.clone(), topic, note.text.clone())
            })
            .collect();
        assert_eq!(notes, resolved.notes);
    }

    /// A decision of one agent per instance, instance `n` with `labels[n]`
    /// as (name, value) indices into names `team`, `zone` and values
    /// `blue`, `red`.
    fn labelled(labels: Vec<Vec<(u32, u32)>>) -> types::Decision {
        types::Decision {
            roles: vec!["agent".to_owned()],
            clusters: Vec::new(),
            label_names: vec!["team".to_owned(), "zone".to_owned()],
            label_values: vec!["blue".to_owned(), "red".to_owned()],
            members: labels
                .into_iter()
                .enumerate()
                .map(|(n, labels)| types::Member {
                    instance: n as u32,
                    role: 0,
                    clusters: Vec::new(),
                    address: None,
                    port: None,
                    labels: labels
                        .into_iter()
                        .map(|(name, value)| types::Label { name, value })
                        .collect(),
                })
                .collect(),
            register_with: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn a_label_name_given_twice_drops_its_member_alone() {
        let decided = decision(
            labelled(vec![vec![(0, 0), (1, 1)], vec![(0, 0), (1, 0), (0, 1)]]),
            &fleet(),
        )
        .unwrap();
        let ids: Vec<&str> = decided
            .members
            .iter()
            .map(|m| m.instance_id.as_str())
            .collect();
        assert_eq!(ids, ["i-0"]);
        assert_eq!(
            decided.notes,
            [Note {
                instance_id: "i-1".to_owned(),
                topic: NoteTopic::Dropped,
                text: r#"its label name "team" is given twice"#.to_owned(),
            }]
        );
    }

    #[test]
    fn more_labels_than_a_member_may_carry_drop_it_before_any_is_read() {
        // Seventeen, all naming tables' entries that do not exist: the
        // count is the reason, not the indices.
        let decided = decision(labelled(vec![vec![(9, 9); 17], vec![(0, 0)]]), &fleet()).unwrap();
        let ids: Vec<&str> = decided
            .members
            .iter()
            .map(|m| m.instance_id.as_str())
            .collect();
        assert_eq!(ids, ["i-1"]);
        assert_eq!(decided.notes[0].text, "it has 17 labels, more than 16");
    }

    #[test]
    fn a_label_index_outside_its_table_is_a_problem_with_the_answer() {
        let problems = decision(labelled(vec![vec![(2, 0)], vec![(0, 2)]]), &fleet()).unwrap_err();
        assert_eq!(
            problems,
            [
                "member i-0 has label name #2, but the answer names 2 label names",
                "member i-1 has label value #2, but the answer names 2 label values",
            ]
        );
    }
}
