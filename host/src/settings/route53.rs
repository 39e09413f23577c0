//! The Route 53 sink's settings (`[[sink]] kind = "route53"`): the hosted
//! zone, the name pattern its records take, their TTL and who writes them,
//! each checked when the file is read.

use serde::Deserialize;
use std::time::Duration;

/// The TTL of the records when the sink names none.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// The placeholder for a member's role in a name pattern.
pub const ROLE: &str = "{role}";
/// The placeholder for a member's cluster in a name pattern.
pub const CLUSTER: &str = "{cluster}";

/// The longest DNS name, without its final dot (RFC 1035).
pub const NAME_MAX: usize = 253;
/// The longest DNS label (RFC 1035).
pub const LABEL_MAX: usize = 63;

/// `[[sink]] kind = "route53"` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Config {
    /// The private hosted zone the records go into.
    pub zone_id: ZoneId,
    /// Where each role's (and cluster's) records go, e.g.
    /// `{role}.{cluster}.fleet.internal`.
    pub name: NamePattern,
    /// The records' TTL, in whole seconds (default 60s).
    #[serde(default = "default_ttl", with = "humantime_serde")]
    pub ttl: Duration,
    /// Without a shared snapshot: the role whose member with the lowest
    /// instance id writes; any role's when unset.
    #[serde(default)]
    pub writer_role: Option<String>,
}

fn default_ttl() -> Duration {
    DEFAULT_TTL
}

/// A hosted zone id as Route 53 gives it (`Z...`, capital letters and
/// digits); `/hostedzone/Z...`, as the API also writes it, is taken too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ZoneId(String);

impl ZoneId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ZoneId {
    type Error = String;

    fn try_from(written: String) -> Result<Self, String> {
        let id = written.strip_prefix("/hostedzone/").unwrap_or(&written);
        let well_formed = (1..=32).contains(&id.len())
            && id
                .bytes()
                .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit());
        if well_formed {
            Ok(ZoneId(id.to_owned()))
        } else {
            Err(format!(
                "\"{}\" is not a hosted zone id: expected capital letters and digits, \
                 e.g. Z0123456789ABCDEFGHIJ",
                written.escape_debug()
            ))
        }
    }
}

/// One label of a name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    Role,
    Cluster,
    Fixed(String),
}

/// Where a role's records go: labels, each a placeholder (`{role}` once,
/// `{cluster}` at most once) or a fixed DNS label; lowercase, without the
/// final dot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct NamePattern {
    labels: Vec<Label>,
}

impl NamePattern {
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// Whether the pattern has a `{cluster}` label.
    pub fn has_cluster(&self) -> bool {
        self.labels.contains(&Label::Cluster)
    }

    /// The fixed labels after the last placeholder, joined: the part of
    /// every name that must lie inside the zone.
    pub fn suffix(&self) -> String {
        let last = self
            .labels
            .iter()
            .rposition(|label| !matches!(label, Label::Fixed(_)))
            .map_or(0, |at| at + 1);
        self.labels[last..]
            .iter()
            .filter_map(|label| match label {
                Label::Fixed(fixed) => Some(fixed.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// Whether `label` is a host name label: 1 to 63 of `a-z`, `0-9` and `-`,
/// neither first nor last a `-` (RFC 1123), lowercase.
pub fn is_host_label(label: &str) -> bool {
    (1..=LABEL_MAX).contains(&label.len())
        && label
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

impl TryFrom<String> for NamePattern {
    type Error = String;

    fn try_from(written: String) -> Result<Self, String> {
        let refuse = |why: &str| {
            Err(format!(
                "\"{}\" is not a name pattern: {why}",
                written.escape_debug()
            ))
        };
        let name = written.strip_suffix('.').unwrap_or(&written).to_lowercase();
        if name.len() > NAME_MAX {
            return refuse("it is longer than a DNS name (253 characters)");
        }
        let mut labels = Vec::new();
        for label in name.split('.') {
            labels.push(match label {
                ROLE => Label::Role,
                CLUSTER => Label::Cluster,
                _ if label.contains(['{', '}']) => {
                    return refuse(&format!(
                        "{} is not a placeholder: each of {ROLE} and {CLUSTER} is a \
                         whole label",
                        label.escape_debug()
                    ));
                }
                _ if is_host_label(label) => Label::Fixed(label.to_owned()),
                _ => {
                    return refuse(&format!(
                        "\"{}\" is not a DNS label (1 to 63 of a-z, 0-9 and -)",
                        label.escape_debug()
                    ));
                }
            });
        }
        let count = |wanted: &Label| labels.iter().filter(|label| *label == wanted).count();
        if count(&Label::Role) != 1 {
            return refuse("{role} must be in it once");
        }
        if count(&Label::Cluster) > 1 {
            return refuse("{cluster} may be in it once");
        }
        let pattern = NamePattern { labels };
        if pattern.suffix().is_empty() {
            return refuse("it must end in the zone's name, e.g. {role}.{cluster}.fleet.internal");
        }
        Ok(pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> Result<NamePattern, String> {
        NamePattern::try_from(text.to_owned())
    }

    #[test]
    fn a_pattern_is_placeholders_and_labels_ending_in_the_zone() {
        let read = pattern("{role}.{cluster}.Fleet.internal.").unwrap();
        assert_eq!(
            read.labels(),
            [
                Label::Role,
                Label::Cluster,
                Label::Fixed("fleet".into()),
                Label::Fixed("internal".into())
            ]
        );
        assert_eq!(read.suffix(), "fleet.internal");
        assert!(pattern("{role}.fleet.internal").is_ok_and(|read| !read.has_cluster()));
    }

    #[test]
    fn a_bad_pattern_is_refused_saying_why() {
        for (text, why) in [
            ("{zone}.fleet.internal", "{zone} is not a placeholder"),
            ("{role}-{cluster}.fleet.internal", "is a whole label"),
            ("{cluster}.fleet.internal", "{role} must be in it once"),
            ("{role}.{role}.fleet.internal", "{role} must be in it once"),
            (
                "{role}.{cluster}.{cluster}.x",
                "{cluster} may be in it once",
            ),
            ("{role}.{cluster}", "must end in the zone's name"),
            ("{role}.fleet_1.internal", "\"fleet_1\" is not a DNS label"),
            ("{role}..internal", "\"\" is not a DNS label"),
        ] {
            let error = pattern(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
            assert!(error.starts_with(&format!("\"{text}\"")), "{error}");
        }
        let long = format!("{{role}}.{}.internal", "a".repeat(250));
        assert!(
            pattern(&long)
                .unwrap_err()
                .contains("longer than a DNS name")
        );
    }

    #[test]
    fn a_zone_id_is_capitals_and_digits_with_or_without_its_api_prefix() {
        assert_eq!(
            ZoneId::try_from("/hostedzone/Z0ABC".to_owned()).unwrap(),
            ZoneId("Z0ABC".into())
        );
        for bad in ["", "z0abc", "Z0ABC/../x", &"Z".repeat(33)] {
            assert!(ZoneId::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
