//! The fleet's shared snapshot, as settings: where it lives
//! (`source.snapshot`, `--snapshot`), who may write it, and how far a
//! reader trusts it (age, clock skew, shrink, the fallback's EC2 budget).

use super::MaxChange;
use std::fmt;
use std::time::Duration;

/// `DescribeInstances` calls per second the whole fleet may spend on
/// fallback listings: a tenth of EC2's refill rate.
pub const DEFAULT_EC2_BUDGET: f64 = 2.0;
/// Without `snapshot_max_age`, a snapshot serves this many refresh
/// intervals before a node falls back.
pub const DEFAULT_MAX_AGE_INTERVALS: u32 = 5;

/// How far ahead of a reader's clock a snapshot's listing time may be
/// before the reader refuses it as from the future.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5);

/// Whether a node may write the snapshot (and take the leases that decide
/// who does): `source.snapshot_write`, `--snapshot-write`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotWrite {
    /// When its refresh comes first, if it knows its own instance id.
    #[default]
    Auto,
    /// Never: it only reads (it needs `s3:GetObject` alone), and lists EC2
    /// itself only behind the fleet's budget.
    Never,
}

/// Where the fleet's snapshot lives, and how a node falls back without it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSettings {
    /// The object holding the fleet's snapshot.
    pub location: S3Location,
    /// Overrides the S3 endpoint (and `AWS_ENDPOINT_URL_S3`).
    pub endpoint_url: Option<String>,
    /// See [`DEFAULT_EC2_BUDGET`].
    pub ec2_budget: f64,
    /// `None`: [`DEFAULT_MAX_AGE_INTERVALS`] refresh intervals.
    pub max_age: Option<Duration>,
    /// How often a daemon reads the head; `None`: every refresh interval.
    pub poll: Option<Duration>,
    /// See [`DEFAULT_CLOCK_SKEW`].
    pub clock_skew: Duration,
    /// The share of the fleet served a new snapshot may remove before it
    /// needs confirming (default 50%).
    pub max_shrink: MaxChange,
    /// Whether this node may write the snapshot.
    pub write: SnapshotWrite,
}

impl SnapshotSettings {
    /// The snapshot at `location`, with the default EC2 budget and maximum age.
    pub fn at(location: S3Location) -> SnapshotSettings {
        SnapshotSettings {
            location,
            endpoint_url: None,
            ec2_budget: DEFAULT_EC2_BUDGET,
            max_age: None,
            poll: None,
            clock_skew: DEFAULT_CLOCK_SKEW,
            max_shrink: MaxChange::default(),
            write: SnapshotWrite::Auto,
        }
    }
}

/// `s3://BUCKET/PREFIX`, as given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// Without leading or trailing slashes; may be empty.
    pub prefix: String,
}

impl std::str::FromStr for S3Location {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = "expected s3://BUCKET/PREFIX, e.g. s3://my-fleet-bucket/rollcall/prod";
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{text:?}: {expected}"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|byte| {
                byte.is_ascii_lowercase() || byte.is_ascii_digit() || b".-".contains(&byte)
            });
        if !valid_bucket {
            return Err(format!(
                "{text:?}: {bucket:?} is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens); {expected}"
            ));
        }
        if prefix.chars().any(char::is_control) {
            return Err(format!("{text:?}: the prefix holds a control character"));
        }
        Ok(S3Location {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }
}

impl TryFrom<String> for S3Location {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_read_and_bad_ones_named() {
        let location: S3Location = "s3://fleet-bucket/rollcall/prod/".parse().unwrap();
        assert_eq!(location.bucket, "fleet-bucket");
        assert_eq!(location.prefix, "rollcall/prod");
        assert_eq!(location.to_string(), "s3://fleet-bucket/rollcall/prod");
        let bare: S3Location = "s3://fleet-bucket".parse().unwrap();
        assert_eq!(bare.prefix, "");
        for (text, says) in [
            ("fleet-bucket/x", "expected s3://BUCKET/PREFIX"),
            ("s3://Fleet/x", "is not a bucket name"),
            ("s3:///x", "is not a bucket name"),
            ("s3://ab/x", "is not a bucket name"),
        ] {
            let err = text.parse::<S3Location>().unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
