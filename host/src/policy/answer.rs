//! A policy's answer as it crosses back: indices into the fleet and into the
//! answer's own tables of names, turned into the host's [`Decision`] in ids
//! and names. Any index outside its table is a problem with the answer, not
//! a crash.

use super::validate::Problems;
use super::world::types;
use super::{Decision, Member, Note, NoteTopic};
use crate::inventory::Instance;

/// The decision in ids and names, or the problems with the answer.
pub fn decision(answer: types::Decision, instances: &[Instance]) -> Result<Decision, Vec<String>> {
    let types::Decision {
        roles,
        clusters,
        members,
        register_with,
        notes,
    } = answer;
    let mut problems = Problems::default();
    let instance = |index: u32| instances.get(index as usize);
    let count = instances.len();

    let mut decided = Vec::with_capacity(members.len());
    for member in members {
        let Some(instance) = instance(member.instance) else {
            problems.push(format!(
                "member #{} is not in the fleet ({count} instances)",
                member.instance
            ));
            continue;
        };
        let id = &instance.id;
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
            Some(types::Address::Own(kind)) => match own_address(instance, kind) {
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
        decided.push(Member {
            instance_id: id.clone(),
            role: role.clone(),
            clusters: names,
            address,
            port: member.port,
            labels: Default::default(),
            status: Default::default(),
        });
    }

    let mut targets = Vec::with_capacity(register_with.len());
    for target in register_with {
        match instance(target) {
            Some(instance) => targets.push(instance.id.clone()),
            None => problems.push(format!(
                "registration target #{target} is not in the fleet ({count} instances)"
            )),
        }
    }

    let mut reasons = Vec::with_capacity(notes.len());
    for note in notes {
        match instance(note.instance) {
            Some(instance) => reasons.push(Note {
                instance_id: instance.id.clone(),
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

/// The instance's own address of this kind, if it has one.
fn own_address(instance: &Instance, kind: types::AddressKind) -> Option<&str> {
    match kind {
        types::AddressKind::PrivateIpv4 => instance.private_ipv4.as_deref(),
        types::AddressKind::PublicIpv4 => instance.public_ipv4.as_deref(),
        types::AddressKind::PrivateDnsName => instance.private_dns_name.as_deref(),
        types::AddressKind::PublicDnsName => instance.public_dns_name.as_deref(),
        types::AddressKind::Ipv6 => instance.ipv6_addresses.first().map(String::as_str),
    }
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
