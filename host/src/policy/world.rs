//! The worlds this host runs as wasmtime's bindings: `rollcall:policy@0.3.0`
//! (`wit/policy.wit`), whose types the rest of the policy module speaks, and
//! `rollcall:policy@0.2.0` (`wit/0.2.0/policy.wit`), kept so that plugins
//! built before 0.3.0 still load ([`previous`] turns its question and
//! decision into 0.3.0's).

mod current {
    wasmtime::component::bindgen!({
        world: "policy",
        path: "../wit",
        // The question is lent, not moved: the host's columns cross as
        // they are.
        ownership: Borrowing {
            duplicate_if_necessary: false
        },
    });
}

mod v0_2 {
    wasmtime::component::bindgen!({
        world: "policy",
        path: "../wit/0.2.0",
    });
}

pub use self::current::rollcall::policy::{host, types};
pub use self::current::{Policy, PolicyPre};

/// The interface version plugins are built for now, as `wit/policy.wit`
/// declares it.
pub const INTERFACE: &str = "rollcall:policy@0.3.0";
/// Every interface version this host runs, newest first.
pub const INTERFACES: [&str; 2] = [INTERFACE, previous::INTERFACE];
/// The package every version of the interface belongs to.
pub const PACKAGE: &str = "rollcall:policy";

/// `rollcall:policy@0.2.0`: its bindings, and the question and decision
/// carried between its types and 0.3.0's. Its fleet is 0.3.0's without the
/// columns 0.3.0 added and without the security groups' owners; everything
/// else has the same shape.
pub mod previous {
    use super::types;
    pub use super::v0_2::rollcall::policy::{host, types as old};
    pub use super::v0_2::{Policy, PolicyPre};

    /// The version, as `wit/0.2.0/policy.wit` declares it.
    pub const INTERFACE: &str = "rollcall:policy@0.2.0";

    /// The 0.3.0 question as a 0.2.0 plugin receives it: the shared columns
    /// copied over, the ones 0.3.0 added (and each group's owner) dropped.
    pub fn question(question: types::Question<'_>) -> old::Question {
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
            accounts: _,
            lifecycle_states: _,
            lifecycle_groups: _,
            leaving_reasons: _,
            leaving_deadlines: _,
            group_ends,
            instance_groups,
            tag_ends,
            tag_keys,
            tag_values,
            ipv6_ends,
            ipv6_addresses,
        } = question.fleet;
        old::Question {
            fleet: old::Fleet {
                text: text.to_owned(),
                text_ends: text_ends.to_vec(),
                security_groups: security_groups
                    .iter()
                    .map(
                        |&types::SecurityGroup { id, name, owner: _ }| old::SecurityGroup {
                            id,
                            name,
                        },
                    )
                    .collect(),
                ids: ids.to_vec(),
                states: states.iter().copied().map(state).collect(),
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

    fn state(state: types::InstanceState) -> old::InstanceState {
        match state {
            types::InstanceState::Pending => old::InstanceState::Pending,
            types::InstanceState::Running => old::InstanceState::Running,
            types::InstanceState::ShuttingDown => old::InstanceState::ShuttingDown,
            types::InstanceState::Terminated => old::InstanceState::Terminated,
            types::InstanceState::Stopping => old::InstanceState::Stopping,
            types::InstanceState::Stopped => old::InstanceState::Stopped,
            types::InstanceState::Other => old::InstanceState::Other,
        }
    }

    /// A 0.2.0 decision in 0.3.0's types (the same shape, without labels:
    /// a 0.2.0 plugin's members have none).
    pub fn decision(decision: old::Decision) -> types::Decision {
        let old::Decision {
            roles,
            clusters,
            members,
            register_with,
            notes,
        } = decision;
        types::Decision {
            roles,
            clusters,
            label_names: Vec::new(),
            label_values: Vec::new(),
            members: members
                .into_iter()
                .map(|member| types::Member {
                    instance: member.instance,
                    role: member.role,
                    clusters: member.clusters,
                    address: member.address.map(address),
                    port: member.port,
                    labels: Vec::new(),
                })
                .collect(),
            register_with,
            notes: notes
                .into_iter()
                .map(|note| types::Note {
                    instance: note.instance,
                    topic: match note.topic {
                        old::NoteTopic::Decision => types::NoteTopic::Decision,
                        old::NoteTopic::Target => types::NoteTopic::Target,
                    },
                    text: note.text,
                })
                .collect(),
        }
    }

    fn address(address: old::Address) -> types::Address {
        match address {
            old::Address::Other(address) => types::Address::Other(address),
            old::Address::Own(kind) => types::Address::Own(match kind {
                old::AddressKind::PrivateIpv4 => types::AddressKind::PrivateIpv4,
                old::AddressKind::PublicIpv4 => types::AddressKind::PublicIpv4,
                old::AddressKind::PrivateDnsName => types::AddressKind::PrivateDnsName,
                old::AddressKind::PublicDnsName => types::AddressKind::PublicDnsName,
                old::AddressKind::Ipv6 => types::AddressKind::Ipv6,
            }),
        }
    }

    /// 0.2.0's log level as 0.3.0's.
    pub fn log_level(level: old::LogLevel) -> types::LogLevel {
        match level {
            old::LogLevel::Trace => types::LogLevel::Trace,
            old::LogLevel::Debug => types::LogLevel::Debug,
            old::LogLevel::Info => types::LogLevel::Info,
            old::LogLevel::Warn => types::LogLevel::Warn,
            old::LogLevel::Error => types::LogLevel::Error,
        }
    }
}
