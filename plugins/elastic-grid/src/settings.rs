//! The policy's settings: the JSON document the operator passes to `configure`.

use rollcall_policy_sdk::{AddressKind, quote, settings_from_json};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Every setting is optional; the defaults reproduce the original Elastic Grid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Security group (name or id) whose instances are monitors.
    pub monitor_group: String,
    /// Security group (name or id) whose instances are agents.
    pub agent_group: String,
    /// Groups whose name starts with this prefix name clusters; `None` turns
    /// clustering off.
    pub cluster_group_prefix: Option<String>,
    /// Which address goes into each member's `address`.
    pub address: AddressKind,
    /// Port put on every monitor member.
    pub monitor_port: Option<u16>,
    /// Port put on every agent member.
    pub agent_port: Option<u16>,
    /// Tags every member must carry, key to value; `"*"` takes any value.
    /// Lets one account host several fleets on the same groups.
    pub require_tags: BTreeMap<String, String>,
    /// The AWS accounts (12 digits each) whose security groups count as
    /// the monitor, agent and cluster groups; a group of unknown owner
    /// counts as its instance's account's. `None`: every account's. Tells
    /// account A's `eg-monitor` from account B's in a fleet of several.
    pub accounts: Option<Vec<String>>,
    /// Tags whose value becomes a member's label of the same name, when the
    /// instance carries the tag (beside `zone` and `instance_type`, which
    /// every member gets). Each key must be a label name: the host's rule,
    /// [`is_label_name`].
    pub labels_from_tags: Vec<String>,
}

/// The labels every member gets: its availability zone and instance type.
pub const ZONE_LABEL: &str = "zone";
/// See [`ZONE_LABEL`].
pub const INSTANCE_TYPE_LABEL: &str = "instance_type";

/// The labels a member may carry (the host's limit); `zone` and
/// `instance_type` take two of them.
const LABELS_PER_MEMBER: usize = 16;
/// The longest label name (the host's limit).
const LABEL_NAME_BYTES: usize = 64;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            monitor_group: "eg-monitor".to_owned(),
            agent_group: "eg-cybernode".to_owned(),
            cluster_group_prefix: None,
            address: AddressKind::PrivateIp,
            monitor_port: None,
            agent_port: None,
            require_tags: BTreeMap::new(),
            accounts: None,
            labels_from_tags: Vec::new(),
        }
    }
}

impl Settings {
    /// Parses and checks the settings; the error is meant for the operator.
    pub fn from_json(json: &str) -> Result<Settings, String> {
        let settings: Settings = settings_from_json("elastic-grid", json)?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        if self.monitor_group.is_empty() {
            return Err("invalid elastic-grid settings: `monitor_group` is empty".to_owned());
        }
        if self.agent_group.is_empty() {
            return Err("invalid elastic-grid settings: `agent_group` is empty".to_owned());
        }
        if self.cluster_group_prefix.as_deref() == Some("") {
            return Err(
                "invalid elastic-grid settings: `cluster_group_prefix` is empty \
                 (leave it out to turn clustering off)"
                    .to_owned(),
            );
        }
        if self.require_tags.contains_key("") {
            return Err(
                "invalid elastic-grid settings: `require_tags` names an empty tag key".to_owned(),
            );
        }
        if let Some(accounts) = &self.accounts {
            if accounts.is_empty() {
                return Err("invalid elastic-grid settings: `accounts` is empty \
                     (leave it out to count every account's groups)"
                    .to_owned());
            }
            if let Some(bad) = accounts.iter().find(|account| !is_account_id(account)) {
                return Err(format!(
                    "invalid elastic-grid settings: `accounts` holds {}, \
                     which is not an AWS account id (12 digits)",
                    quote(bad)
                ));
            }
        }
        self.check_labels_from_tags()
    }

    fn check_labels_from_tags(&self) -> Result<(), String> {
        let tags = &self.labels_from_tags;
        let most = LABELS_PER_MEMBER - 2;
        if tags.len() > most {
            return Err(format!(
                "invalid elastic-grid settings: `labels_from_tags` names {} tags, more than \
                 {most} (a member carries at most {LABELS_PER_MEMBER} labels, \
                 {ZONE_LABEL} and {INSTANCE_TYPE_LABEL} among them)",
                tags.len()
            ));
        }
        for (at, tag) in tags.iter().enumerate() {
            if !is_label_name(tag) {
                return Err(format!(
                    "invalid elastic-grid settings: `labels_from_tags` names the tag {}, \
                     whose key is no label name (1 to {LABEL_NAME_BYTES} bytes of ASCII \
                     letters, digits and _, not starting with a digit or __)",
                    quote(tag)
                ));
            }
            if tag == ZONE_LABEL || tag == INSTANCE_TYPE_LABEL {
                return Err(format!(
                    "invalid elastic-grid settings: `labels_from_tags` names the tag {}, \
                     a label elastic-grid sets itself",
                    quote(tag)
                ));
            }
            if tags[..at].contains(tag) {
                return Err(format!(
                    "invalid elastic-grid settings: `labels_from_tags` names the tag {} twice",
                    quote(tag)
                ));
            }
        }
        Ok(())
    }

    /// Whether `accounts` counts the groups of `account`: every account
    /// does when the setting is absent.
    pub fn counts_account(&self, account: &str) -> bool {
        self.accounts
            .as_ref()
            .is_none_or(|accounts| accounts.iter().any(|listed| listed == account))
    }
}

/// Whether `name` is a label name as the host takes it:
/// `[a-zA-Z_][a-zA-Z0-9_]*`, 1 to 64 bytes, not starting with `__`.
pub fn is_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.first().is_some_and(|first| {
        bytes.len() <= LABEL_NAME_BYTES
            && (first.is_ascii_alphabetic() || *first == b'_')
            && !name.starts_with("__")
            && bytes
                .iter()
                .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'_')
    })
}

/// Whether `text` is an AWS account id: 12 decimal digits.
fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_document_gives_the_defaults() {
        assert_eq!(Settings::from_json("{}").unwrap(), Settings::default());
    }

    #[test]
    fn every_setting_is_read() {
        let settings = Settings::from_json(
            r#"{"monitor_group": "sg-1", "agent_group": "workers",
                "cluster_group_prefix": "cluster-", "address": "public-dns",
                "monitor_port": 7070, "agent_port": 7071,
                "require_tags": {"fleet": "blue", "owner": "*"},
                "accounts": ["111111111111", "222222222222"],
                "labels_from_tags": ["team", "Name"]}"#,
        )
        .unwrap();
        assert_eq!(settings.monitor_group, "sg-1");
        assert_eq!(settings.agent_group, "workers");
        assert_eq!(settings.cluster_group_prefix.as_deref(), Some("cluster-"));
        assert_eq!(settings.address, AddressKind::PublicDns);
        assert_eq!(settings.monitor_port, Some(7070));
        assert_eq!(settings.agent_port, Some(7071));
        assert_eq!(settings.require_tags["fleet"], "blue");
        assert_eq!(settings.require_tags["owner"], "*");
        assert_eq!(
            settings.accounts.as_deref(),
            Some(&["111111111111".to_owned(), "222222222222".to_owned()][..])
        );
        assert_eq!(settings.labels_from_tags, ["team", "Name"]);
    }

    #[test]
    fn labels_from_tags_must_name_tags_whose_keys_are_label_names_once() {
        let err = |tags: &str| {
            Settings::from_json(&format!(r#"{{"labels_from_tags": {tags}}}"#)).unwrap_err()
        };
        let no_label_name = |shown: &str| {
            format!(
                "invalid elastic-grid settings: `labels_from_tags` names the tag {shown}, \
                 whose key is no label name (1 to 64 bytes of ASCII letters, digits and _, \
                 not starting with a digit or __)"
            )
        };
        for bad in [
            r#""cost-center""#,
            r#""aws:autoscaling:groupName""#,
            r#""9lives""#,
            r#""__meta""#,
            "\"\"",
            r#""team name""#,
            r#""équipe""#,
        ] {
            assert_eq!(err(&format!("[{bad}]")), no_label_name(bad), "{bad}");
        }
        let long = "a".repeat(65);
        assert_eq!(
            err(&format!(r#"["{long}"]"#)),
            no_label_name(&format!("\"{long}\""))
        );
        assert!(
            Settings::from_json(&format!(
                r#"{{"labels_from_tags": ["{}"]}}"#,
                "a".repeat(64)
            ))
            .is_ok()
        );
        assert!(Settings::from_json(r#"{"labels_from_tags": ["_team", "Team_2"]}"#).is_ok());
        assert_eq!(
            err(r#"["team", "zone"]"#),
            "invalid elastic-grid settings: `labels_from_tags` names the tag \"zone\", \
             a label elastic-grid sets itself"
        );
        assert!(err(r#"["instance_type"]"#).contains("a label elastic-grid sets itself"));
        assert_eq!(
            err(r#"["team", "team"]"#),
            "invalid elastic-grid settings: `labels_from_tags` names the tag \"team\" twice"
        );
        let fifteen: Vec<String> = (0..15).map(|n| format!("\"t{n}\"")).collect();
        assert_eq!(
            err(&format!("[{}]", fifteen.join(","))),
            "invalid elastic-grid settings: `labels_from_tags` names 15 tags, more than 14 \
             (a member carries at most 16 labels, zone and instance_type among them)"
        );
        assert!(
            Settings::from_json(&format!(
                r#"{{"labels_from_tags": [{}]}}"#,
                fifteen[..14].join(",")
            ))
            .is_ok()
        );
        assert!(Settings::from_json(r#"{"labels_from_tags": "team"}"#).is_err());
    }

    #[test]
    fn accounts_must_be_account_ids_and_not_none() {
        let err = |json: &str| Settings::from_json(json).unwrap_err();
        assert_eq!(
            err(r#"{"accounts": []}"#),
            "invalid elastic-grid settings: `accounts` is empty \
             (leave it out to count every account's groups)"
        );
        for (bad, shown) in [
            ("12345678901", "\"12345678901\""),
            ("1234567890123", "\"1234567890123\""),
            ("12345678901a", "\"12345678901a\""),
            ("", "\"\""),
        ] {
            assert_eq!(
                err(&format!(r#"{{"accounts": ["111111111111", "{bad}"]}}"#)),
                format!(
                    "invalid elastic-grid settings: `accounts` holds {shown}, \
                     which is not an AWS account id (12 digits)"
                )
            );
        }
        assert!(Settings::from_json(r#"{"accounts": "111111111111"}"#).is_err());
        assert!(Settings::from_json(r#"{"accounts": [111111111111]}"#).is_err());
    }

    #[test]
    fn without_accounts_every_account_counts() {
        let every = Settings::default();
        assert!(every.counts_account("222222222222"));
        let one = Settings::from_json(r#"{"accounts": ["111111111111"]}"#).unwrap();
        assert!(one.counts_account("111111111111"));
        assert!(!one.counts_account("222222222222"));
    }

    #[test]
    fn unknown_settings_are_rejected_by_name() {
        let err = Settings::from_json(r#"{"monitor_grup": "x"}"#).unwrap_err();
        assert!(err.contains("unknown field `monitor_grup`"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(Settings::from_json(r#"{"address": "ipv9"}"#).is_err());
        assert!(Settings::from_json(r#"{"monitor_port": 70000}"#).is_err());
        assert!(Settings::from_json(r#"{"monitor_group": ""}"#).is_err());
        assert!(Settings::from_json(r#"{"cluster_group_prefix": ""}"#).is_err());
        assert!(Settings::from_json(r#"{"require_tags": {"": "x"}}"#).is_err());
        assert!(Settings::from_json(r#"{"require_tags": {"fleet": 1}}"#).is_err());
        assert!(Settings::from_json("[]").is_err());
    }
}
