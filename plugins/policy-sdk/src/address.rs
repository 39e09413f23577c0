//! Which of an instance's addresses peers should use.

use crate::bindings::rollcall::policy::types;
use crate::{Address, Instance};
use serde::Deserialize;

/// One of the addresses EC2 reports for an instance; a policy setting, written
/// `private-ip`, `public-ip`, `private-dns`, `public-dns` or `ipv6` (the
/// instance's first IPv6 address); default `private-ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AddressKind {
    #[default]
    PrivateIp,
    PublicIp,
    PrivateDns,
    PublicDns,
    Ipv6,
}

impl AddressKind {
    /// The instance's address of this kind as a member's address, `None`
    /// when EC2 reported none.
    pub fn of(self, instance: Instance<'_>) -> Option<Address> {
        self.read(instance).map(|_| Address::Own(self))
    }

    /// The instance's address of this kind, `None` when EC2 reported none.
    pub fn read(self, instance: Instance<'_>) -> Option<&str> {
        match self {
            AddressKind::PrivateIp => instance.private_ipv4(),
            AddressKind::PublicIp => instance.public_ipv4(),
            AddressKind::PrivateDns => instance.private_dns_name(),
            AddressKind::PublicDns => instance.public_dns_name(),
            AddressKind::Ipv6 => instance.ipv6_addresses().next(),
        }
    }

    /// The name settings use for it, e.g. `private-ip`.
    pub fn name(self) -> &'static str {
        match self {
            AddressKind::PrivateIp => "private-ip",
            AddressKind::PublicIp => "public-ip",
            AddressKind::PrivateDns => "private-dns",
            AddressKind::PublicDns => "public-dns",
            AddressKind::Ipv6 => "ipv6",
        }
    }
}

impl From<AddressKind> for types::AddressKind {
    fn from(kind: AddressKind) -> Self {
        match kind {
            AddressKind::PrivateIp => types::AddressKind::PrivateIpv4,
            AddressKind::PublicIp => types::AddressKind::PublicIpv4,
            AddressKind::PrivateDns => types::AddressKind::PrivateDnsName,
            AddressKind::PublicDns => types::AddressKind::PublicDnsName,
            AddressKind::Ipv6 => types::AddressKind::Ipv6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fleet, InstanceRecord, InstanceState};

    const KINDS: [AddressKind; 5] = [
        AddressKind::PrivateIp,
        AddressKind::PublicIp,
        AddressKind::PrivateDns,
        AddressKind::PublicDns,
        AddressKind::Ipv6,
    ];

    fn fleet() -> Fleet {
        let record = InstanceRecord {
            private_ipv4: Some("10.0.0.1".to_owned()),
            public_ipv4: Some("54.0.0.1".to_owned()),
            private_dns_name: Some("ip-10-0-0-1.ec2.internal".to_owned()),
            public_dns_name: None,
            ipv6_addresses: vec!["2600:1f18::1".to_owned(), "2600:1f18::2".to_owned()],
            ..InstanceRecord::new("i-1", InstanceState::Running)
        };
        Fleet::from_records(&[record], None, None).unwrap()
    }

    #[test]
    fn every_kind_is_read_by_its_name() {
        for kind in KINDS {
            let read: AddressKind = serde_json::from_str(&format!("{:?}", kind.name())).unwrap();
            assert_eq!(read, kind);
        }
    }

    #[test]
    fn other_names_are_rejected() {
        for name in [
            "\"ipv9\"",
            "\"PrivateIp\"",
            "\"private_ip\"",
            "\"IPv6\"",
            "1",
        ] {
            assert!(serde_json::from_str::<AddressKind>(name).is_err(), "{name}");
        }
    }

    #[test]
    fn the_default_is_the_private_ip() {
        assert_eq!(AddressKind::default(), AddressKind::PrivateIp);
    }

    #[test]
    fn each_kind_picks_its_address_and_ipv6_the_first() {
        let fleet = fleet();
        let instance = fleet.instance(0).unwrap();
        let read = KINDS.map(|kind| kind.read(instance));
        assert_eq!(
            read,
            [
                Some("10.0.0.1"),
                Some("54.0.0.1"),
                Some("ip-10-0-0-1.ec2.internal"),
                None,
                Some("2600:1f18::1")
            ]
        );
        assert_eq!(
            AddressKind::Ipv6.of(instance),
            Some(Address::Own(AddressKind::Ipv6))
        );
        assert_eq!(AddressKind::PublicDns.of(instance), None);
    }
}
