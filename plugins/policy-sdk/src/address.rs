//! Which of an instance's addresses peers should use.

use crate::Instance;
use serde::Deserialize;

/// One of the addresses EC2 reports for an instance; a policy setting, written
/// `private-ip`, `public-ip`, `private-dns` or `public-dns` (default
/// `private-ip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AddressKind {
    #[default]
    PrivateIp,
    PublicIp,
    PrivateDns,
    PublicDns,
}

impl AddressKind {
    /// The instance's address of this kind, `None` when EC2 reported none.
    pub fn of(self, instance: &Instance) -> Option<String> {
        match self {
            AddressKind::PrivateIp => instance.private_ipv4.clone(),
            AddressKind::PublicIp => instance.public_ipv4.clone(),
            AddressKind::PrivateDns => instance.private_dns_name.clone(),
            AddressKind::PublicDns => instance.public_dns_name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn instance() -> Instance {
        Instance {
            private_ipv4: Some("10.0.0.1".to_owned()),
            public_ipv4: Some("54.0.0.1".to_owned()),
            private_dns_name: Some("ip-10-0-0-1.ec2.internal".to_owned()),
            public_dns_name: None,
            ..fixtures::instance("i-1", "running")
        }
    }

    #[test]
    fn every_kind_is_read_in_kebab_case() {
        for (name, kind) in [
            ("private-ip", AddressKind::PrivateIp),
            ("public-ip", AddressKind::PublicIp),
            ("private-dns", AddressKind::PrivateDns),
            ("public-dns", AddressKind::PublicDns),
        ] {
            let read: AddressKind = serde_json::from_str(&format!("{name:?}")).unwrap();
            assert_eq!(read, kind);
        }
    }

    #[test]
    fn other_names_are_rejected() {
        for name in ["\"ipv9\"", "\"PrivateIp\"", "\"private_ip\"", "1"] {
            assert!(serde_json::from_str::<AddressKind>(name).is_err(), "{name}");
        }
    }

    #[test]
    fn the_default_is_the_private_ip() {
        assert_eq!(AddressKind::default(), AddressKind::PrivateIp);
    }

    #[test]
    fn each_kind_picks_its_address() {
        let instance = instance();
        assert_eq!(
            AddressKind::PrivateIp.of(&instance).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            AddressKind::PublicIp.of(&instance).as_deref(),
            Some("54.0.0.1")
        );
        assert_eq!(
            AddressKind::PrivateDns.of(&instance).as_deref(),
            Some("ip-10-0-0-1.ec2.internal")
        );
        assert_eq!(AddressKind::PublicDns.of(&instance), None);
    }
}
