//! Settings that both the flags and the configuration file give, each
//! defined once: a struct of optional overrides that clap reads from the
//! flags (and, for EC2, serde from the file), checked against [`ranges`] and
//! applied onto the settings below it by one function. `rollcall watch`
//! applies the file's overrides onto the defaults, then the flags'.

use crate::inventory::{Ec2Settings, Filter};
use crate::policy::PolicyLimits;
use crate::ranges::{self, Bounded, Written};
use clap::Args;
use serde::Deserialize;
use std::time::Duration;

/// How to reach EC2 and what to ask it, as given: by the EC2 flags, or by
/// the `[source]` table with `kind = "ec2"`. What is not given leaves the
/// setting below as it is.
///
/// Two fields are one-sided: `--region` has no key (the file says
/// `regions`), and `imds` has no flag of its own (`--no-imds` also decides
/// self, so it stays with `--self`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2Overrides {
    /// EC2 region (default: AWS_REGION, the profile's region, or IMDS).
    #[arg(long, value_name = "REGION", conflicts_with = "regions")]
    #[serde(skip)]
    pub region: Option<String>,

    /// Several regions merged into one fleet, comma-separated.
    #[arg(long, value_name = "REGION,...", value_delimiter = ',')]
    #[serde(default)]
    pub regions: Vec<String>,

    /// AWS profile for credentials and region (default: AWS_PROFILE or
    /// `default`).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// EC2 endpoint, e.g. a VPC endpoint or a test server (also
    /// AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Server-side filter in the AWS CLI's syntax, repeatable:
    /// Name=instance-state-name,Values=running
    // Kept as written: the file's are parsed (and refused, naming the key)
    // when applied, since serde would place an error at the table's header.
    #[arg(long = "filter", value_name = "Name=N,Values=V[,V...]", value_parser = filter_text)]
    #[serde(default)]
    pub filters: Vec<String>,

    /// Instances per DescribeInstances call (MaxResults) [default: 1000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(ranges::PAGE_SIZE.range.clone()))]
    pub page_size: Option<i32>,

    /// Time to establish a connection to EC2 [default: 3s].
    #[arg(long, value_name = "DURATION", value_parser = ranges::CONNECT_TIMEOUT.parser())]
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,

    /// Time for one HTTP attempt, retries not included [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = ranges::ATTEMPT_TIMEOUT.parser())]
    #[serde(default, with = "humantime_serde")]
    pub attempt_timeout: Option<Duration>,

    /// Time for the whole fetch: every page of every region, retries
    /// included [default: 120s].
    #[arg(long, value_name = "DURATION", value_parser = ranges::FETCH_TIMEOUT.parser())]
    #[serde(default, with = "humantime_serde")]
    pub fetch_timeout: Option<Duration>,

    /// Attempts per call; throttling and 5xx are retried with exponential
    /// backoff and jitter [default: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(ranges::MAX_ATTEMPTS.range.clone()))]
    pub max_attempts: Option<u32>,

    /// Whether IMDS may be asked for self and the region.
    #[arg(skip)]
    pub imds: Option<bool>,
}

impl Ec2Overrides {
    /// Whether nothing is given.
    pub fn is_empty(&self) -> bool {
        *self == Ec2Overrides::default()
    }

    /// `base` with every value given put in its place, each checked:
    /// `region` wins over `regions`, and filters given replace the filters
    /// below rather than adding to them.
    pub fn apply_to(&self, mut base: Ec2Settings) -> Result<Ec2Settings, InvalidSetting> {
        if let Some(region) = &self.region {
            base.regions = vec![region.clone()];
        } else if !self.regions.is_empty() {
            base.regions = self.regions.clone();
        }
        if self.profile.is_some() {
            base.profile = self.profile.clone();
        }
        if self.endpoint_url.is_some() {
            base.endpoint_url = self.endpoint_url.clone();
        }
        if !self.filters.is_empty() {
            base.filters = self
                .filters
                .iter()
                .map(|filter| filter.parse::<Filter>())
                .collect::<Result<_, _>>()
                .map_err(InvalidSetting::Filter)?;
        }
        base.page_size = counted(&ranges::PAGE_SIZE, self.page_size)?.unwrap_or(base.page_size);
        base.max_attempts =
            counted(&ranges::MAX_ATTEMPTS, self.max_attempts)?.unwrap_or(base.max_attempts);
        base.connect_timeout = checked(&ranges::CONNECT_TIMEOUT, self.connect_timeout)?
            .unwrap_or(base.connect_timeout);
        base.attempt_timeout = checked(&ranges::ATTEMPT_TIMEOUT, self.attempt_timeout)?
            .unwrap_or(base.attempt_timeout);
        base.fetch_timeout =
            checked(&ranges::FETCH_TIMEOUT, self.fetch_timeout)?.unwrap_or(base.fetch_timeout);
        base.region_from_imds = self.imds.unwrap_or(base.region_from_imds);
        Ok(base)
    }
}

/// What a policy may take, as given by the flags or the `[policy]` table.
///
/// Only clap reads this struct: the file's two keys share `[policy]` with
/// the plugin's, and serde's `flatten` would lose both the unknown-key
/// errors and their places, so [`PolicyConfig`](crate::config::PolicyConfig)
/// names them and hands them over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
#[command(next_help_heading = "Policy limits")]
pub struct PolicyLimitOverrides {
    /// Time one configure or decide call may run; past it the call fails
    /// [default: 2s].
    #[arg(long = "policy-time-limit", value_name = "DURATION", value_parser = ranges::POLICY_TIME_LIMIT.parser())]
    pub time_limit: Option<Duration>,

    /// Memory one plugin instance may grow to, in MiB [default: 64].
    #[arg(long = "policy-memory-limit", value_name = "MIB", value_parser = clap::value_parser!(u32).range(ranges::POLICY_MEMORY_MIB.range.clone()))]
    pub memory_limit_mib: Option<u32>,
}

impl PolicyLimitOverrides {
    /// `base` with every limit given put in its place, each checked.
    pub fn apply_to(&self, mut base: PolicyLimits) -> Result<PolicyLimits, InvalidSetting> {
        base.time = checked(&ranges::POLICY_TIME_LIMIT, self.time_limit)?.unwrap_or(base.time);
        if let Some(mib) = counted(&ranges::POLICY_MEMORY_MIB, self.memory_limit_mib)? {
            // At most 4096 MiB: no overflow.
            base.memory_bytes = mib as usize * 1024 * 1024;
        }
        Ok(base)
    }
}

/// A value its setting does not allow. Said as of the configuration file
/// (`source.page_size = 2 is out of range: ...`); the flags are checked as
/// clap parses them, by the same [`ranges`] and [`Filter`] parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSetting {
    /// Outside the setting's range.
    #[error("{key} = {why}")]
    OutOfRange {
        key: &'static str,
        flag: Option<&'static str>,
        why: String,
    },
    /// A filter not in the AWS CLI's syntax.
    #[error("source.filters: {0}")]
    Filter(String),
}

impl InvalidSetting {
    /// Said as of the flags: `--page-size: 2 is out of range: ...`.
    pub fn of_flag(&self) -> String {
        match self {
            InvalidSetting::OutOfRange {
                flag: Some(flag),
                why,
                ..
            } => format!("{flag}: {why}"),
            InvalidSetting::OutOfRange { flag: None, .. } => self.to_string(),
            InvalidSetting::Filter(why) => format!("--filter: {why}"),
        }
    }
}

/// `value`, if given, checked against `setting`'s range.
pub fn checked<T: Written>(
    setting: &'static Bounded<T>,
    value: Option<T>,
) -> Result<Option<T>, InvalidSetting> {
    value
        .map(|value| {
            setting
                .check(value)
                .map_err(|why| InvalidSetting::OutOfRange {
                    key: setting.key,
                    flag: setting.flag,
                    why,
                })
        })
        .transpose()
}

/// A count of a narrower type than the range's, checked as [`checked`]
/// does; within range, it is returned as given.
fn counted<T: Copy + Into<i64>>(
    setting: &'static Bounded<i64>,
    value: Option<T>,
) -> Result<Option<T>, InvalidSetting> {
    checked(setting, value.map(Into::into)).map(|_| value)
}

/// The parser of `--filter`: the text, once it is known to be a filter.
fn filter_text(text: &str) -> Result<String, String> {
    text.parse::<Filter>().map(|_| text.to_owned())
}
