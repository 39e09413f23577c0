//! `DescribeInstances` filters in the AWS CLI's shorthand:
//! `Name=tag:env,Values=prod,staging`.

use std::fmt;
use std::str::FromStr;

/// One server-side filter: an instance matches if the named attribute has
/// any of the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The EC2 filter name, e.g. `tag:env` or `instance-state-name`.
    pub name: String,
    /// The values any of which an instance must match (`*` and `?` as EC2 takes them).
    pub values: Vec<String>,
}

impl Filter {
    /// The filter as the SDK sends it.
    pub fn to_sdk(&self) -> aws_sdk_ec2::types::Filter {
        aws_sdk_ec2::types::Filter::builder()
            .name(&self.name)
            .set_values(Some(self.values.clone()))
            .build()
    }
}

impl FromStr for Filter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = "expected Name=NAME,Values=VALUE[,VALUE...], e.g. \
                        Name=instance-state-name,Values=running";
        let rest = text
            .strip_prefix("Name=")
            .ok_or_else(|| format!("{text:?}: {expected}"))?;
        let (name, values) = rest
            .split_once(",Values=")
            .ok_or_else(|| format!("{text:?}: {expected}"))?;
        let values: Vec<String> = values.split(',').map(str::to_owned).collect();
        if name.is_empty() || values.iter().any(String::is_empty) {
            return Err(format!("{text:?}: empty name or value; {expected}"));
        }
        Ok(Filter {
            name: name.to_owned(),
            values,
        })
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name={},Values={}", self.name, self.values.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_shorthand_is_read() {
        let filter: Filter = "Name=tag:env,Values=prod,staging".parse().unwrap();
        assert_eq!(filter.name, "tag:env");
        assert_eq!(filter.values, ["prod", "staging"]);
        assert_eq!(filter.to_string(), "Name=tag:env,Values=prod,staging");
    }

    #[test]
    fn malformed_filters_say_what_is_expected() {
        for bad in [
            "instance-state-name=running",
            "Name=instance-state-name",
            "Name=,Values=x",
            "Name=x,Values=",
            "Name=x,Values=a,,b",
        ] {
            let err = bad.parse::<Filter>().unwrap_err();
            assert!(
                err.contains("expected Name=NAME,Values=VALUE"),
                "{bad}: {err}"
            );
        }
    }
}
