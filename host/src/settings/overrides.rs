//! Settings that both the flags and the configuration file give, each
//! defined once: a struct of optional overrides that clap reads from the
//! flags (and, for EC2, serde from the file), checked against [`ranges`] and
//! applied onto the settings below it by one function. `rollcall watch`
//! applies the file's overrides onto the defaults, then the flags'.

use super::accounts::{
    AccountConfig, AccountSettings, RegionName, RoleArn, repeated_account, repeated_account_message,
};
use super::ranges::{self, Bounded, Written};
use super::{
    Ec2Settings, Filter, MaxChange, PolicyLimits, S3Location, SnapshotSettings, SnapshotWrite,
};
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
#[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2Overrides {
    /// EC2 region (default: AWS_REGION, the profile's region, or IMDS).
    #[arg(long, value_name = "REGION", conflicts_with = "regions")]
    #[serde(skip)]
    pub region: Option<RegionName>,

    /// Several regions merged into one fleet, comma-separated.
    #[arg(long, value_name = "REGION,...", value_delimiter = ',')]
    #[serde(default)]
    pub regions: Vec<RegionName>,

    /// List the account of this IAM role, assumed with this node's own
    /// credentials, in the regions given (repeatable): the fleet is every
    /// account named, merged into one. README "Many accounts".
    #[arg(long = "assume-role", value_name = "ARN")]
    #[serde(skip)]
    pub assume_role: Vec<RoleArn>,

    /// The accounts the fleet spans (`[[source.accounts]]`).
    #[arg(skip)]
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,

    /// Account-regions listed at once, each against its own EC2 budget
    /// [default: 32].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(ranges::LISTING_CONCURRENCY.range.clone()))]
    pub listing_concurrency: Option<u32>,

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

    /// Time for listing one account-region: every page, retries included,
    /// and its Auto Scaling lifecycles [default: 120s].
    #[arg(long, value_name = "DURATION", value_parser = ranges::FETCH_TIMEOUT.parser())]
    #[serde(default, with = "humantime_serde")]
    pub fetch_timeout: Option<Duration>,

    /// Attempts per call; throttling and 5xx are retried with exponential
    /// backoff and jitter [default: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(ranges::MAX_ATTEMPTS.range.clone()))]
    pub max_attempts: Option<u32>,

    /// Share one EC2 listing per refresh period with the whole fleet
    /// through this S3 location: nodes read the snapshot, and one node per
    /// period lists EC2 and writes it (README "Running at scale").
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub snapshot: Option<S3Location>,

    /// S3 endpoint for the snapshot, e.g. a VPC endpoint or a test server
    /// (also AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL); addressed path-style.
    #[arg(long = "s3-endpoint-url", value_name = "URL")]
    pub s3_endpoint_url: Option<String>,

    /// DescribeInstances calls per second the whole fleet may spend listing
    /// EC2 itself when the snapshot cannot serve [default: 2].
    #[arg(long, value_name = "CALLS", value_parser = ranges::EC2_BUDGET.parser())]
    pub ec2_budget: Option<f64>,

    /// Age past which the snapshot no longer serves and nodes fall back to
    /// EC2 behind --ec2-budget [default: 5 refresh intervals].
    #[arg(long, value_name = "DURATION", value_parser = ranges::SNAPSHOT_MAX_AGE.parser())]
    #[serde(default, with = "humantime_serde")]
    pub snapshot_max_age: Option<Duration>,

    /// How often a daemon reads the snapshot's head (a 304 when nothing
    /// changed), apart from how often the fleet is listed (--refresh)
    /// [default: the refresh interval].
    #[arg(long, value_name = "DURATION", value_parser = ranges::SNAPSHOT_POLL.parser())]
    #[serde(default, with = "humantime_serde")]
    pub snapshot_poll: Option<Duration>,

    /// How far ahead of this node's clock a snapshot's listing time may be
    /// before it is refused as from the future [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = ranges::SNAPSHOT_CLOCK_SKEW.parser())]
    #[serde(default, with = "humantime_serde")]
    pub snapshot_clock_skew: Option<Duration>,

    /// The share of the fleet served ("P%" or "off") a new snapshot may
    /// remove before this node's own listing or the next snapshot must
    /// confirm it [default: 50%].
    #[arg(long, value_name = "P%|off", value_parser = max_shrink)]
    pub snapshot_max_shrink: Option<MaxChange>,

    /// Whether this node may write the snapshot: `auto` (when its refresh
    /// comes first and it knows its own instance id) or `never` (it only
    /// reads, and needs only s3:GetObject) [default: auto].
    #[arg(long, value_name = "auto|never", hide_possible_values = true)]
    pub snapshot_write: Option<SnapshotWrite>,

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
            base.regions = vec![region.as_str().to_owned()];
        } else if !self.regions.is_empty() {
            base.regions = self.regions.iter().map(|r| r.as_str().to_owned()).collect();
        }
        if !self.assume_role.is_empty() {
            if let Some((_, account)) = repeated_account(&self.assume_role) {
                return Err(InvalidSetting::Accounts(repeated_account_message(&account)));
            }
            base.accounts = self
                .assume_role
                .iter()
                .cloned()
                .map(AccountSettings::of_role)
                .collect();
        } else if !self.accounts.is_empty() {
            // The file's repeats were refused where they were written.
            base.accounts = self.accounts.iter().map(AccountSettings::from).collect();
        }
        base.listing_concurrency = counted(&ranges::LISTING_CONCURRENCY, self.listing_concurrency)?
            .unwrap_or(base.listing_concurrency);
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

    /// The snapshot settings below with those given put in place; tuning a
    /// snapshot that is named nowhere is refused.
    pub fn apply_snapshot(
        &self,
        base: Option<SnapshotSettings>,
    ) -> Result<Option<SnapshotSettings>, InvalidSetting> {
        let mut snapshot = match (&self.snapshot, base) {
            (Some(location), Some(base)) => SnapshotSettings {
                location: location.clone(),
                ..base
            },
            (Some(location), None) => SnapshotSettings::at(location.clone()),
            (None, Some(base)) => base,
            (None, None) => {
                let tuning = [
                    (
                        self.s3_endpoint_url.is_some(),
                        "source.s3_endpoint_url",
                        "--s3-endpoint-url",
                    ),
                    (
                        self.ec2_budget.is_some(),
                        ranges::EC2_BUDGET.key,
                        "--ec2-budget",
                    ),
                    (
                        self.snapshot_max_age.is_some(),
                        ranges::SNAPSHOT_MAX_AGE.key,
                        "--snapshot-max-age",
                    ),
                    (
                        self.snapshot_poll.is_some(),
                        ranges::SNAPSHOT_POLL.key,
                        "--snapshot-poll",
                    ),
                    (
                        self.snapshot_clock_skew.is_some(),
                        ranges::SNAPSHOT_CLOCK_SKEW.key,
                        "--snapshot-clock-skew",
                    ),
                    (
                        self.snapshot_max_shrink.is_some(),
                        "source.snapshot_max_shrink",
                        "--snapshot-max-shrink",
                    ),
                    (
                        self.snapshot_write.is_some(),
                        "source.snapshot_write",
                        "--snapshot-write",
                    ),
                ];
                return match tuning.into_iter().find(|(given, _, _)| *given) {
                    Some((_, key, flag)) => Err(InvalidSetting::NeedsSnapshot { key, flag }),
                    None => Ok(None),
                };
            }
        };
        if self.s3_endpoint_url.is_some() {
            snapshot.endpoint_url = self.s3_endpoint_url.clone();
        }
        snapshot.ec2_budget =
            checked(&ranges::EC2_BUDGET, self.ec2_budget)?.unwrap_or(snapshot.ec2_budget);
        if let Some(age) = checked(&ranges::SNAPSHOT_MAX_AGE, self.snapshot_max_age)? {
            snapshot.max_age = Some(age);
        }
        if let Some(poll) = checked(&ranges::SNAPSHOT_POLL, self.snapshot_poll)? {
            snapshot.poll = Some(poll);
        }
        snapshot.clock_skew = checked(&ranges::SNAPSHOT_CLOCK_SKEW, self.snapshot_clock_skew)?
            .unwrap_or(snapshot.clock_skew);
        snapshot.max_shrink = self.snapshot_max_shrink.unwrap_or(snapshot.max_shrink);
        snapshot.write = self.snapshot_write.unwrap_or(snapshot.write);
        Ok(Some(snapshot))
    }
}

/// What a policy may take, as given by the flags or the `[policy]` table.
///
/// Only clap reads this struct: the file's two keys share `[policy]` with
/// the plugin's, and serde's `flatten` would lose both the unknown-key
/// errors and their places, so [`PolicyConfig`](super::file::PolicyConfig)
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
    /// Accounts that cannot be listed as given.
    #[error("source.accounts: {0}")]
    Accounts(String),
    /// A snapshot setting with no snapshot to apply to.
    #[error("{key} is set, but no snapshot is: add source.snapshot = \"s3://BUCKET/PREFIX\"")]
    NeedsSnapshot {
        key: &'static str,
        flag: &'static str,
    },
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
            InvalidSetting::Accounts(why) => format!("--assume-role: {why}"),
            InvalidSetting::NeedsSnapshot { flag, .. } => {
                format!("{flag} tunes the fleet's snapshot: add --snapshot s3://BUCKET/PREFIX")
            }
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

/// `--snapshot-max-shrink`: as `[policy] max_change` is written.
fn max_shrink(text: &str) -> Result<MaxChange, String> {
    MaxChange::parse(text).ok_or_else(|| {
        format!("{text:?} is not a share (expected \"P%\" with P from 1 to 100, or \"off\")")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The flags as clap reads them.
    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        ec2: Ec2Overrides,
        #[command(flatten)]
        limits: PolicyLimitOverrides,
    }

    fn flags(args: &[&str]) -> Flags {
        Flags::try_parse_from(["rollcall"].iter().chain(args)).unwrap()
    }

    /// The `[source]` table's EC2 keys as serde reads them.
    fn file(text: &str) -> Ec2Overrides {
        toml::from_str(text).unwrap()
    }

    fn filter(text: &str) -> Filter {
        text.parse().unwrap()
    }

    #[test]
    fn the_flags_and_the_file_fill_the_same_fields() {
        let from_flags = flags(&[
            "--regions",
            "us-east-1,eu-west-1",
            "--profile",
            "ops",
            "--endpoint-url",
            "http://127.0.0.1:5000",
            "--filter",
            "Name=instance-state-name,Values=running",
            "--page-size",
            "100",
            "--connect-timeout",
            "1s",
            "--attempt-timeout",
            "2s",
            "--fetch-timeout",
            "30s",
            "--max-attempts",
            "3",
        ])
        .ec2;
        let from_file = file(
            r#"
regions = ["us-east-1", "eu-west-1"]
profile = "ops"
endpoint_url = "http://127.0.0.1:5000"
filters = ["Name=instance-state-name,Values=running"]
page_size = 100
connect_timeout = "1s"
attempt_timeout = "2s"
fetch_timeout = "30s"
max_attempts = 3
"#,
        );
        assert_eq!(from_flags, from_file);
        assert!(flags(&[]).ec2.is_empty());
        assert!(file("").is_empty());
    }

    #[test]
    fn what_is_not_given_is_left_as_it_was() {
        let base = Ec2Settings {
            regions: vec!["eu-west-1".into()],
            profile: Some("ops".into()),
            filters: vec![filter("Name=tag:env,Values=prod")],
            page_size: 100,
            max_attempts: 2,
            region_from_imds: false,
            ..Ec2Settings::default()
        };
        assert_eq!(Ec2Overrides::default().apply_to(base.clone()), Ok(base));
        let limits = PolicyLimits {
            time: Duration::from_millis(500),
            memory_bytes: 32 << 20,
        };
        assert_eq!(PolicyLimitOverrides::default().apply_to(limits), Ok(limits));
    }

    /// `rollcall watch` applies the file's overrides onto the defaults, then
    /// the flags' (see `watch_settings`).
    #[test]
    fn a_flag_beats_the_file_which_beats_the_default() {
        let from_file = file(
            r#"
regions = ["us-east-1", "eu-west-1"]
profile = "ops"
filters = ["Name=instance-state-name,Values=running", "Name=tag:env,Values=prod"]
page_size = 100
connect_timeout = "1s"
imds = false
"#,
        );
        let from_flags = flags(&[
            "--region",
            "ap-south-1",
            "--filter",
            "Name=tag:role,Values=db",
            "--page-size",
            "50",
            "--attempt-timeout",
            "5s",
        ])
        .ec2;
        let defaults = Ec2Settings::default();
        let settings = from_flags
            .apply_to(from_file.apply_to(defaults.clone()).unwrap())
            .unwrap();
        assert_eq!(
            settings,
            Ec2Settings {
                // --region replaces the file's regions,
                regions: vec!["ap-south-1".into()],
                profile: Some("ops".into()),
                endpoint_url: None,
                // and --filter its filters, rather than adding to them.
                filters: vec![filter("Name=tag:role,Values=db")],
                page_size: 50,
                connect_timeout: Duration::from_secs(1),
                attempt_timeout: Duration::from_secs(5),
                fetch_timeout: defaults.fetch_timeout,
                max_attempts: defaults.max_attempts,
                region_from_imds: false,
                accounts: Vec::new(),
                listing_concurrency: defaults.listing_concurrency,
            }
        );

        let limits = flags(&["--policy-memory-limit", "16"])
            .limits
            .apply_to(
                PolicyLimitOverrides {
                    time_limit: Some(Duration::from_millis(500)),
                    memory_limit_mib: Some(32),
                }
                .apply_to(PolicyLimits::default())
                .unwrap(),
            )
            .unwrap();
        assert_eq!(limits.time, Duration::from_millis(500));
        assert_eq!(limits.memory_bytes, 16 << 20);
        assert_eq!(
            flags(&[]).limits.apply_to(PolicyLimits::default()),
            Ok(PolicyLimits::default())
        );
    }

    #[test]
    fn regions_are_replaced_and_region_wins_over_regions() {
        let base = file("regions = [\"us-east-1\"]")
            .apply_to(Ec2Settings::default())
            .unwrap();
        let several = flags(&["--regions", "eu-west-1,eu-central-1"]).ec2;
        assert_eq!(
            several.apply_to(base.clone()).unwrap().regions,
            ["eu-west-1", "eu-central-1"]
        );
        // clap refuses both flags together; a struct holding both still
        // means one region.
        let both = Ec2Overrides {
            region: Some("ap-south-1".parse().unwrap()),
            ..several
        };
        assert_eq!(both.apply_to(base).unwrap().regions, ["ap-south-1"]);
    }

    #[test]
    fn a_value_out_of_range_is_refused_naming_the_key_or_the_flag() {
        let err = file("page_size = 2")
            .apply_to(Ec2Settings::default())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "source.page_size = 2 is out of range: it must be from 5 to 1000"
        );
        assert_eq!(
            err.of_flag(),
            "--page-size: 2 is out of range: it must be from 5 to 1000"
        );
        let err = file("attempt_timeout = \"500000000000years\"")
            .apply_to(Ec2Settings::default())
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("source.attempt_timeout = 500000000000years is out of range"),
            "{err}"
        );
        let err = file("filters = [\"Name=a,Values=b\", \"state=running\"]")
            .apply_to(Ec2Settings::default())
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("source.filters: \"state=running\": expected Name=NAME"),
            "{err}"
        );
        assert!(err.of_flag().starts_with("--filter: \"state=running\""));
        let err = PolicyLimitOverrides {
            memory_limit_mib: Some(0),
            ..PolicyLimitOverrides::default()
        }
        .apply_to(PolicyLimits::default())
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "policy.memory_limit_mib = 0 is out of range: it must be from 1 to 4096"
        );

        // The same ranges refuse a flag as clap parses it.
        for bad in [
            &["--page-size", "4"][..],
            &["--max-attempts", "21"],
            &["--connect-timeout", "0s"],
            &["--filter", "state=running"],
            &["--policy-time-limit", "1h"],
            &["--policy-memory-limit", "4097"],
        ] {
            let args = ["rollcall"].iter().chain(bad);
            assert!(Flags::try_parse_from(args).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_file_says_regions_not_region_and_imds_is_no_flag() {
        let err = toml::from_str::<Ec2Overrides>("region = \"us-east-1\"").unwrap_err();
        assert!(
            err.message().starts_with(
                "unknown field `region`, expected one of `regions`, `accounts`, \
                 `listing_concurrency`, `profile`, `endpoint_url`, \
                 `filters`, `page_size`, `connect_timeout`, `attempt_timeout`, `fetch_timeout`, \
                 `max_attempts`, `snapshot`, `s3_endpoint_url`, `ec2_budget`, \
                 `snapshot_max_age`, `snapshot_poll`, `snapshot_clock_skew`, `snapshot_max_shrink`, \
                 `snapshot_write`, `imds`"
            ),
            "{err}"
        );
        assert!(Flags::try_parse_from(["rollcall", "--imds", "false"]).is_err());
        assert_eq!(file("imds = true").imds, Some(true));
    }

    #[test]
    fn the_snapshot_is_named_by_the_file_or_a_flag_and_tuned_by_either() {
        let from_file = file("snapshot = \"s3://fleet-bucket/prod\"\nec2_budget = 0.5\n");
        let from_flags = flags(&["--snapshot-max-age", "10m"]).ec2;
        let snapshot = from_flags
            .apply_snapshot(from_file.apply_snapshot(None).unwrap())
            .unwrap()
            .expect("a snapshot");
        assert_eq!(snapshot.location.to_string(), "s3://fleet-bucket/prod");
        assert_eq!(snapshot.ec2_budget, 0.5);
        assert_eq!(snapshot.max_age, Some(Duration::from_secs(600)));
        assert_eq!(snapshot.endpoint_url, None);

        let untethered = flags(&["--ec2-budget", "1"]).ec2;
        let err = untethered.apply_snapshot(None).unwrap_err();
        assert_eq!(
            err.of_flag(),
            "--ec2-budget tunes the fleet's snapshot: add --snapshot s3://BUCKET/PREFIX"
        );
        let err = file("ec2_budget = 1.0\n").apply_snapshot(None).unwrap_err();
        assert!(
            err.to_string().starts_with("source.ec2_budget is set"),
            "{err}"
        );
        assert!(
            Flags::try_parse_from(["rollcall", "--snapshot", "bucket/prefix"]).is_err(),
            "a location that is not s3:// is refused"
        );
    }

    #[test]
    fn what_a_node_believes_of_a_snapshot_is_set_by_the_file_or_a_flag() {
        let defaults = SnapshotSettings::at("s3://fleet-bucket/prod".parse().unwrap());
        assert_eq!(defaults.clock_skew, Duration::from_secs(5));
        assert_eq!(defaults.max_shrink, MaxChange::Percent(50));
        assert_eq!(defaults.write, SnapshotWrite::Auto);

        let from_file = file(
            "snapshot = \"s3://fleet-bucket/prod\"\nsnapshot_clock_skew = \"2s\"\n\
             snapshot_max_shrink = \"20%\"\nsnapshot_write = \"never\"\n",
        );
        let snapshot = from_file.apply_snapshot(None).unwrap().unwrap();
        assert_eq!(snapshot.clock_skew, Duration::from_secs(2));
        assert_eq!(snapshot.max_shrink, MaxChange::Percent(20));
        assert_eq!(snapshot.write, SnapshotWrite::Never);

        let from_flags = flags(&[
            "--snapshot",
            "s3://fleet-bucket/prod",
            "--snapshot-max-shrink",
            "off",
            "--snapshot-write",
            "auto",
            "--snapshot-clock-skew",
            "0s",
        ])
        .ec2;
        let snapshot = from_flags.apply_snapshot(None).unwrap().unwrap();
        assert_eq!(snapshot.max_shrink, MaxChange::Off);
        assert_eq!(snapshot.clock_skew, Duration::ZERO);

        for bad in [
            &["--snapshot-max-shrink", "150%"][..],
            &["--snapshot-write", "sometimes"],
            &["--snapshot-clock-skew", "2h"],
        ] {
            let args = ["rollcall"].iter().chain(bad);
            assert!(Flags::try_parse_from(args).is_err(), "{bad:?}");
        }
        let err = flags(&["--snapshot-write", "never"])
            .ec2
            .apply_snapshot(None)
            .unwrap_err();
        assert!(
            err.of_flag().starts_with("--snapshot-write tunes"),
            "{}",
            err.of_flag()
        );
    }
}
