//! The policy's settings: the JSON document the operator passes to `configure`.

use rollcall_policy_sdk::{AddressKind, settings_from_json};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Every setting is optional; the defaults give agents that register with
/// monitors and monitors that peer with each other, roles and clusters read
/// from `rollcall:` tags.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Tag whose value (trimmed) is the instance's role.
    pub role_tag: String,
    /// Tag whose value is a comma-separated list of cluster names.
    pub cluster_tag: String,
    /// For each role, the roles its instances register with; a role without
    /// an entry registers with nobody.
    pub registers_with: BTreeMap<String, Vec<String>>,
    /// Which address goes into each member's `address` (`ipv6` takes the
    /// instance's first IPv6 address).
    pub address: AddressKind,
    /// Port put on every member of a role; roles without an entry get none.
    pub ports: BTreeMap<String, u16>,
    /// Whether self never registers with a member that does not serve
    /// (leaving, or held out of service by Auto Scaling: pending-wait,
    /// standby, terminating, terminating-wait, detaching, warmed). Such
    /// members keep their roles either way. Off by default.
    pub skip_unserving: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            role_tag: "rollcall:role".to_owned(),
            cluster_tag: "rollcall:cluster".to_owned(),
            registers_with: BTreeMap::from([
                ("agent".to_owned(), vec!["monitor".to_owned()]),
                ("monitor".to_owned(), vec!["monitor".to_owned()]),
            ]),
            address: AddressKind::PrivateIp,
            ports: BTreeMap::new(),
            skip_unserving: false,
        }
    }
}

impl Settings {
    /// Parses and checks the settings; the error is meant for the operator.
    pub fn from_json(json: &str) -> Result<Settings, String> {
        let settings: Settings = settings_from_json("tag-roles", json)?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        if self.role_tag.is_empty() {
            return Err("invalid tag-roles settings: `role_tag` is empty".to_owned());
        }
        if self.cluster_tag.is_empty() {
            return Err("invalid tag-roles settings: `cluster_tag` is empty".to_owned());
        }
        for (role, targets) in &self.registers_with {
            check_role("registers_with", role)?;
            for target in targets {
                check_role(&format!("registers_with.{role}"), target)?;
            }
        }
        for role in self.ports.keys() {
            check_role("ports", role)?;
        }
        Ok(())
    }
}

/// Roles are read trimmed and never empty, so any other name could never match.
fn check_role(setting: &str, role: &str) -> Result<(), String> {
    if role.is_empty() || role.trim() != role {
        return Err(format!(
            "invalid tag-roles settings: `{setting}` names the role {role:?}, \
             which no instance can have (roles are trimmed and not empty)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_document_gives_the_defaults() {
        let settings = Settings::from_json("{}").unwrap();
        assert_eq!(settings, Settings::default());
        assert_eq!(settings.role_tag, "rollcall:role");
        assert_eq!(settings.cluster_tag, "rollcall:cluster");
        assert_eq!(settings.registers_with["agent"], ["monitor"]);
        assert_eq!(settings.registers_with["monitor"], ["monitor"]);
        assert_eq!(settings.registers_with.len(), 2);
        assert_eq!(settings.address, AddressKind::PrivateIp);
        assert!(settings.ports.is_empty());
        assert!(!settings.skip_unserving);
    }

    #[test]
    fn every_setting_is_read() {
        let settings = Settings::from_json(
            r#"{"role_tag": "Role", "cluster_tag": "Clusters",
                "registers_with": {"worker": ["scheduler", "monitor"]},
                "address": "public-dns",
                "ports": {"scheduler": 8786, "monitor": 7070},
                "skip_unserving": true}"#,
        )
        .unwrap();
        assert_eq!(settings.role_tag, "Role");
        assert_eq!(settings.cluster_tag, "Clusters");
        assert_eq!(
            settings.registers_with,
            BTreeMap::from([(
                "worker".to_owned(),
                vec!["scheduler".to_owned(), "monitor".to_owned()]
            )])
        );
        assert_eq!(settings.address, AddressKind::PublicDns);
        assert_eq!(
            settings.ports,
            BTreeMap::from([("monitor".to_owned(), 7070), ("scheduler".to_owned(), 8786)])
        );
        assert!(settings.skip_unserving);
    }

    #[test]
    fn every_address_kind_is_read() {
        for (name, kind) in [
            ("private-ip", AddressKind::PrivateIp),
            ("public-ip", AddressKind::PublicIp),
            ("private-dns", AddressKind::PrivateDns),
            ("public-dns", AddressKind::PublicDns),
            ("ipv6", AddressKind::Ipv6),
        ] {
            let settings = Settings::from_json(&format!(r#"{{"address": "{name}"}}"#)).unwrap();
            assert_eq!(settings.address, kind);
        }
    }

    #[test]
    fn an_empty_registers_with_map_means_nobody_registers() {
        let settings = Settings::from_json(r#"{"registers_with": {}}"#).unwrap();
        assert!(settings.registers_with.is_empty());
    }

    #[test]
    fn unknown_settings_are_rejected_by_name() {
        let err = Settings::from_json(r#"{"role_tg": "x"}"#).unwrap_err();
        assert!(err.contains("unknown field `role_tg`"), "{err}");
    }

    #[test]
    fn non_objects_are_rejected() {
        for json in ["[]", "\"role\"", "42", "null", ""] {
            let err = Settings::from_json(json).unwrap_err();
            assert!(err.contains("expected a JSON object"), "{json}: {err}");
        }
    }

    #[test]
    fn empty_tag_keys_are_rejected_by_name() {
        let err = Settings::from_json(r#"{"role_tag": ""}"#).unwrap_err();
        assert!(err.contains("`role_tag` is empty"), "{err}");
        let err = Settings::from_json(r#"{"cluster_tag": ""}"#).unwrap_err();
        assert!(err.contains("`cluster_tag` is empty"), "{err}");
    }

    #[test]
    fn roles_no_instance_can_have_are_rejected() {
        let err = Settings::from_json(r#"{"registers_with": {"": ["monitor"]}}"#).unwrap_err();
        assert!(err.contains("`registers_with`"), "{err}");
        let err =
            Settings::from_json(r#"{"registers_with": {"agent": [" monitor"]}}"#).unwrap_err();
        assert!(err.contains("`registers_with.agent`"), "{err}");
        assert!(err.contains(r#"" monitor""#), "{err}");
        let err = Settings::from_json(r#"{"ports": {"agent ": 1}}"#).unwrap_err();
        assert!(err.contains("`ports`"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(Settings::from_json(r#"{"address": "ipv9"}"#).is_err());
        assert!(Settings::from_json(r#"{"ports": {"monitor": 70000}}"#).is_err());
        assert!(Settings::from_json(r#"{"ports": {"monitor": -1}}"#).is_err());
        assert!(Settings::from_json(r#"{"ports": ["monitor"]}"#).is_err());
        assert!(Settings::from_json(r#"{"registers_with": {"agent": "monitor"}}"#).is_err());
        assert!(Settings::from_json(r#"{"role_tag": 7}"#).is_err());
        assert!(Settings::from_json(r#"{"skip_unserving": "yes"}"#).is_err());
    }
}
