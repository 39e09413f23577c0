//! The AWS accounts one fleet spans, as settings: `[[source.accounts]]`
//! entries (a role to assume in each account, with its own regions) and
//! `--assume-role ARN`. Every value is checked where it is written: a role
//! ARN, a region name, an external id and a session name each have a type
//! that refuses what AWS would refuse, so that a typo is an error at start
//! naming `file:line:column`, not an account that fails every listing.

use serde::Deserialize;
use std::fmt;

/// The session name assumed roles get unless an entry names one: CloudTrail
/// shows it beside every call rollcall makes in the account.
pub const DEFAULT_SESSION_NAME: &str = "rollcall";

/// AWS partitions, as role ARNs name them.
const PARTITIONS: [&str; 8] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// The areas region names begin with (`us-east-1`, `eu-central-2`,
/// `us-gov-west-1`, `cn-north-1`, ...).
const REGION_AREAS: [&str; 17] = [
    "af", "ap", "ca", "cn", "eu", "il", "me", "mx", "sa", "us", "us-gov", "us-iso", "us-isob",
    "us-isof", "eu-isoe", "eusc-de", "ap-isob",
];

/// The directions region names go on with.
const REGION_DIRECTIONS: [&str; 9] = [
    "north",
    "south",
    "east",
    "west",
    "central",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
];

/// An IAM role's ARN, `arn:aws:iam::123456789012:role/NAME`, with the
/// account it names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct RoleArn {
    text: String,
    account: String,
}

impl RoleArn {
    /// The ARN, as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The account the role is in (12 digits): the account listed through
    /// it.
    pub fn account(&self) -> &str {
        &self.account
    }
}

impl TryFrom<String> for RoleArn {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let expected =
            "expected an IAM role ARN, e.g. arn:aws:iam::123456789012:role/rollcall-reader";
        let shown = shown(&text);
        let mut fields = text.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(format!("{shown} is not a role ARN; {expected}"));
        };
        if !PARTITIONS.contains(&partition) {
            return Err(format!(
                "{shown}: {:?} is not an AWS partition ({}); {expected}",
                printable(partition),
                PARTITIONS.join(", ")
            ));
        }
        if !is_account_id(account) {
            return Err(format!(
                "{shown}: {:?} is not an account id (12 digits); {expected}",
                printable(account)
            ));
        }
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(format!(
                "{shown} names no role (its resource is not role/NAME); {expected}"
            ));
        };
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c);
        if name.is_empty() || name.len() > 64 || !path_and_name.chars().all(allowed) {
            return Err(format!(
                "{shown}: the role name must be 1 to 64 letters, digits or +=,.@_- \
                 (after an optional /path/); {expected}"
            ));
        }
        let account = account.to_owned();
        Ok(RoleArn { text, account })
    }
}

impl std::str::FromStr for RoleArn {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RoleArn::try_from(text.to_owned())
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An AWS region's name, e.g. `eu-west-1`: an area AWS uses, a compass
/// direction and a number. A name of another shape is no region EC2 answers in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct RegionName(String);

impl RegionName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RegionName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let known = text.rsplit_once('-').is_some_and(|(rest, number)| {
            let numbered = !number.is_empty()
                && number.len() <= 2
                && number.bytes().all(|byte| byte.is_ascii_digit());
            numbered
                && rest.rsplit_once('-').is_some_and(|(area, direction)| {
                    REGION_AREAS.contains(&area) && REGION_DIRECTIONS.contains(&direction)
                })
        });
        if known {
            Ok(RegionName(text))
        } else {
            Err(format!(
                "{} is not an AWS region (expected a name such as us-east-1 or eu-central-2)",
                shown(&text)
            ))
        }
    }
}

impl std::str::FromStr for RegionName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RegionName::try_from(text.to_owned())
    }
}

/// `sts:ExternalId`, as a role's trust policy asks for it: 2 to 1224
/// letters, digits or `+=,.@:/-_`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ExternalId(String);

impl TryFrom<String> for ExternalId {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        sts_text(text, "an external id", 1224, "+=,.@:/-_").map(ExternalId)
    }
}

/// A role session's name: 2 to 64 letters, digits or `+=,.@-_`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SessionName(String);

impl TryFrom<String> for SessionName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        sts_text(text, "a session name", 64, "+=,.@-_").map(SessionName)
    }
}

/// `text` if STS takes it as `what`: 2 to `longest` ASCII letters, digits
/// or `punctuation`.
fn sts_text(text: String, what: &str, longest: usize, punctuation: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || punctuation.contains(c);
    if (2..=longest).contains(&text.len()) && text.chars().all(allowed) {
        Ok(text)
    } else {
        Err(format!(
            "{} is not {what} (2 to {longest} letters, digits or {punctuation})",
            shown(&text)
        ))
    }
}

/// One `[[source.accounts]]` entry as written; unknown keys are errors.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The role assumed to list the account.
    pub role_arn: RoleArn,
    /// What the role's trust policy asks for in `sts:ExternalId`.
    #[serde(default)]
    pub external_id: Option<ExternalId>,
    /// The session name (default [`DEFAULT_SESSION_NAME`]).
    #[serde(default)]
    pub session_name: Option<SessionName>,
    /// The account's regions; empty: the source's `regions`.
    #[serde(default)]
    pub regions: Vec<RegionName>,
}

/// An account the fleet spans, reached through a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    pub role_arn: RoleArn,
    pub external_id: Option<String>,
    pub session_name: String,
    /// Empty: the source's regions.
    pub regions: Vec<String>,
}

impl AccountSettings {
    /// The account behind `role_arn`, with no external id, the default
    /// session name and the source's regions: what `--assume-role` gives.
    pub fn of_role(role_arn: RoleArn) -> AccountSettings {
        AccountSettings {
            role_arn,
            external_id: None,
            session_name: DEFAULT_SESSION_NAME.to_owned(),
            regions: Vec::new(),
        }
    }

    /// The account's id, from its role.
    pub fn account(&self) -> &str {
        self.role_arn.account()
    }
}

impl From<&AccountConfig> for AccountSettings {
    fn from(config: &AccountConfig) -> AccountSettings {
        AccountSettings {
            role_arn: config.role_arn.clone(),
            external_id: config.external_id.as_ref().map(|id| id.0.clone()),
            session_name: config
                .session_name
                .as_ref()
                .map_or_else(|| DEFAULT_SESSION_NAME.to_owned(), |name| name.0.clone()),
            regions: config
                .regions
                .iter()
                .map(|region| region.0.clone())
                .collect(),
        }
    }
}

/// The first account named twice, as the index of its second entry and
/// the account: each account is listed once, through one role.
pub fn repeated_account<'a>(
    accounts: impl IntoIterator<Item = &'a RoleArn>,
) -> Option<(usize, String)> {
    let mut seen = std::collections::HashSet::new();
    accounts
        .into_iter()
        .enumerate()
        .find(|(_, arn)| !seen.insert(arn.account()))
        .map(|(index, arn)| (index, arn.account().to_owned()))
}

/// Why the second entry for an account is refused.
pub fn repeated_account_message(account: &str) -> String {
    format!(
        "account {account} is named twice: each account is listed once, through one role \
         (give its regions in one entry)"
    )
}

/// Whether `text` has the shape of an AWS account id: 12 decimal digits,
/// e.g. `123456789012` (role ARNs, files, events and group owners alike).
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// `text` quoted for a message: printable, at most 80 bytes.
fn shown(text: &str) -> String {
    format!("\"{}\"", printable(text))
}

fn printable(text: &str) -> String {
    crate::terminal_text::one_line_within(text, 80).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_name_their_account_and_bad_ones_say_why() {
        let arn: RoleArn = "arn:aws:iam::123456789012:role/ops/rollcall-reader"
            .parse()
            .unwrap();
        assert_eq!(arn.account(), "123456789012");
        let china: RoleArn = "arn:aws-cn:iam::210987654321:role/r".parse().unwrap();
        assert_eq!(china.account(), "210987654321");
        for (text, says) in [
            ("123456789012", "is not a role ARN"),
            ("arn:aws:iam::12345:role/x", "is not an account id"),
            ("arn:aws:iam::123456789012:user/x", "names no role"),
            ("arn:aws:sts::123456789012:role/x", "is not a role ARN"),
            (
                "arn:moon:iam::123456789012:role/x",
                "is not an AWS partition",
            ),
            ("arn:aws:iam::123456789012:role/", "the role name must be"),
            (
                "arn:aws:iam::123456789012:role/a b",
                "the role name must be",
            ),
        ] {
            let err = text.parse::<RoleArn>().unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn region_names_are_of_aws_areas() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-5",
        ] {
            assert!(good.parse::<RegionName>().is_ok(), "{good}");
        }
        for bad in [
            "moon-east-1",
            "ap-moon-1",
            "us-east",
            "useast1",
            "us-east-100",
            "US-EAST-1",
            "",
            "us--1",
        ] {
            let err = bad.parse::<RegionName>().unwrap_err();
            assert!(err.contains("is not an AWS region"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_account_named_twice_is_found_at_its_second_entry() {
        let arns: Vec<RoleArn> = [
            "arn:aws:iam::111111111111:role/a",
            "arn:aws:iam::222222222222:role/a",
            "arn:aws:iam::111111111111:role/b",
        ]
        .iter()
        .map(|text| text.parse().unwrap())
        .collect();
        assert_eq!(
            repeated_account(&arns),
            Some((2, "111111111111".to_owned()))
        );
        assert_eq!(repeated_account(&arns[..2]), None);
    }

    #[test]
    fn external_ids_and_session_names_are_what_sts_takes() {
        assert!(ExternalId::try_from("team-a:prod/1".to_owned()).is_ok());
        assert!(ExternalId::try_from("x".to_owned()).is_err());
        assert!(ExternalId::try_from("has space".to_owned()).is_err());
        assert!(SessionName::try_from("rollcall".to_owned()).is_ok());
        assert!(SessionName::try_from("a/b".to_owned()).is_err());
        assert!(SessionName::try_from("x".repeat(65)).is_err());
    }
}
