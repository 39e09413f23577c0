//! The range every duration and count setting may take: one table, used by
//! the flags' parsers and by the configuration file's checks alike, so that
//! no value reaches arithmetic that overflows, an SDK that panics or a loop
//! that spins.

use std::ops::RangeInclusive;
use std::time::Duration;

/// A setting whose value is bounded: its flag (if it has one), its key in
/// the configuration file, and its range.
#[derive(Debug)]
pub struct Bounded<T: 'static> {
    pub flag: Option<&'static str>,
    pub key: &'static str,
    pub range: RangeInclusive<T>,
}

const fn millis(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

const fn minutes(minutes: u64) -> Duration {
    Duration::from_secs(minutes * 60)
}

const fn hours(hours: u64) -> Duration {
    minutes(hours * 60)
}

pub const REFRESH: Bounded<Duration> = Bounded {
    flag: Some("--refresh"),
    key: "refresh",
    range: millis(100)..=hours(24),
};
pub const JITTER: Bounded<Duration> = Bounded {
    flag: None,
    key: "jitter",
    range: Duration::ZERO..=hours(24),
};
pub const STALE_AFTER: Bounded<Duration> = Bounded {
    flag: None,
    key: "stale_after",
    range: millis(100)..=hours(7 * 24),
};
pub const CONNECT_TIMEOUT: Bounded<Duration> = Bounded {
    flag: Some("--connect-timeout"),
    key: "source.connect_timeout",
    range: millis(10)..=minutes(5),
};
pub const ATTEMPT_TIMEOUT: Bounded<Duration> = Bounded {
    flag: Some("--attempt-timeout"),
    key: "source.attempt_timeout",
    range: millis(10)..=minutes(10),
};
pub const FETCH_TIMEOUT: Bounded<Duration> = Bounded {
    flag: Some("--fetch-timeout"),
    key: "source.fetch_timeout",
    range: millis(100)..=hours(1),
};
pub const POLICY_TIME_LIMIT: Bounded<Duration> = Bounded {
    flag: Some("--policy-time-limit"),
    key: "policy.time_limit",
    range: millis(10)..=minutes(5),
};
pub const SNAPSHOT_MAX_AGE: Bounded<Duration> = Bounded {
    flag: Some("--snapshot-max-age"),
    key: "source.snapshot_max_age",
    range: millis(100)..=hours(24),
};
pub const SNAPSHOT_POLL: Bounded<Duration> = Bounded {
    flag: Some("--snapshot-poll"),
    key: "source.snapshot_poll",
    range: millis(100)..=hours(1),
};
pub const SNAPSHOT_CLOCK_SKEW: Bounded<Duration> = Bounded {
    flag: Some("--snapshot-clock-skew"),
    key: "source.snapshot_clock_skew",
    range: Duration::ZERO..=hours(1),
};
/// `resolve --wait-timeout` (a flag only: `resolve` reads no configuration
/// file).
pub const WAIT_TIMEOUT: Bounded<Duration> = Bounded {
    flag: Some("--wait-timeout"),
    key: "wait_timeout",
    range: millis(100)..=hours(24),
};
/// `resolve --wait-interval` (a flag only).
pub const WAIT_INTERVAL: Bounded<Duration> = Bounded {
    flag: Some("--wait-interval"),
    key: "wait_interval",
    range: millis(100)..=hours(1),
};
/// `[policy] change_window`: how long the largest answer served stays the
/// change guard's baseline (zero: only the answer in service).
pub const CHANGE_WINDOW: Bounded<Duration> = Bounded {
    flag: None,
    key: "policy.change_window",
    range: Duration::ZERO..=hours(7 * 24),
};
pub const EXEC_TIMEOUT: Bounded<Duration> = Bounded {
    flag: None,
    key: "sink.timeout",
    range: millis(10)..=hours(1),
};
/// `[lifecycle] on_leave_timeout`: how long the leave hook may run.
pub const ON_LEAVE_TIMEOUT: Bounded<Duration> = Bounded {
    flag: None,
    key: "lifecycle.on_leave_timeout",
    range: Duration::from_secs(1)..=hours(2),
};
/// `[lifecycle] heartbeat_every`: a lifecycle hook's heartbeat timeout is
/// 30 s to 2 h.
pub const HEARTBEAT_EVERY: Bounded<Duration> = Bounded {
    flag: None,
    key: "lifecycle.heartbeat_every",
    range: Duration::from_secs(1)..=hours(2),
};
/// `[lifecycle] poll_every`: how often IMDS is asked about self's
/// lifecycle (a spot notice gives two minutes).
pub const LIFECYCLE_POLL: Bounded<Duration> = Bounded {
    flag: None,
    key: "lifecycle.poll_every",
    range: millis(100)..=minutes(1),
};

pub const MAX_ATTEMPTS: Bounded<i64> = Bounded {
    flag: Some("--max-attempts"),
    key: "source.max_attempts",
    range: 1..=20,
};
/// Account-regions listed at once.
pub const LISTING_CONCURRENCY: Bounded<i64> = Bounded {
    flag: Some("--listing-concurrency"),
    key: "source.listing_concurrency",
    range: 1..=64,
};
pub const PAGE_SIZE: Bounded<i64> = Bounded {
    flag: Some("--page-size"),
    key: "source.page_size",
    range: 5..=1000,
};
/// How many more listings an instance missing without a sign that it
/// ended stays a member (marked unconfirmed).
pub const ABSENT_GRACE: Bounded<i64> = Bounded {
    flag: Some("--absent-grace"),
    key: "absent_grace",
    range: 0..=10,
};
pub const POLICY_MEMORY_MIB: Bounded<i64> = Bounded {
    flag: Some("--policy-memory-limit"),
    key: "policy.memory_limit_mib",
    range: 1..=4096,
};

/// `DescribeInstances` calls per second: EC2 refills 20 (paginated or
/// filtered calls) per account and region, shared with every other tool.
pub const EC2_BUDGET: Bounded<f64> = Bounded {
    flag: Some("--ec2-budget"),
    key: "source.ec2_budget",
    range: 0.01..=20.0,
};

// Templates (`--format template:FILE`, the bundled formats): fixed limits
// on one render, not settings. Fuel is minijinja's budget of steps and
// data (about one fuel per instruction and per 64 bytes made); the
// bundled formats use under 100 a member.

/// The fuel every render has, whatever the fleet.
pub const TEMPLATE_FUEL_BASE: u64 = 1_000_000;
/// The fuel a render gains for each member of the answer.
pub const TEMPLATE_FUEL_PER_MEMBER: u64 = 5_000;
/// The output every render may write, whatever the fleet: 1 MiB.
pub const TEMPLATE_OUTPUT_BASE: u64 = 1 << 20;
/// The output a render may write for each member: 16 KiB (a member with
/// many labels in JSON is under 4 KiB).
pub const TEMPLATE_OUTPUT_PER_MEMBER: u64 = 16 << 10;
/// How deep a template may nest loops, macros and calls (minijinja's own
/// cap without a growing stack is 500).
pub const TEMPLATE_RECURSION: usize = 100;

/// Every bounded setting, for the documentation and its test.
#[cfg(test)]
pub const DURATIONS: [&Bounded<Duration>; 16] = [
    &REFRESH,
    &JITTER,
    &STALE_AFTER,
    &CONNECT_TIMEOUT,
    &ATTEMPT_TIMEOUT,
    &FETCH_TIMEOUT,
    &POLICY_TIME_LIMIT,
    &SNAPSHOT_MAX_AGE,
    &SNAPSHOT_CLOCK_SKEW,
    &EXEC_TIMEOUT,
    &CHANGE_WINDOW,
    &WAIT_TIMEOUT,
    &WAIT_INTERVAL,
    &ON_LEAVE_TIMEOUT,
    &HEARTBEAT_EVERY,
    &LIFECYCLE_POLL,
];
#[cfg(test)]
pub const COUNTS: [&Bounded<i64>; 5] = [
    &MAX_ATTEMPTS,
    &PAGE_SIZE,
    &LISTING_CONCURRENCY,
    &ABSENT_GRACE,
    &POLICY_MEMORY_MIB,
];
#[cfg(test)]
pub const RATES: [&Bounded<f64>; 1] = [&EC2_BUDGET];

/// How a bounded value is written in messages: as the flags and the
/// configuration file take it.
pub trait Written: PartialOrd + Copy {
    fn written(&self) -> String;
}

impl Written for Duration {
    fn written(&self) -> String {
        humantime::format_duration(*self).to_string()
    }
}

impl Written for i64 {
    fn written(&self) -> String {
        self.to_string()
    }
}

impl Written for f64 {
    fn written(&self) -> String {
        self.to_string()
    }
}

impl<T: Written> Bounded<T> {
    /// `value` if it is within range, else why not (without the setting's
    /// name: the caller says where the value came from).
    pub fn check(&self, value: T) -> Result<T, String> {
        if self.range.contains(&value) {
            return Ok(value);
        }
        Err(format!(
            "{} is out of range: it must be from {} to {}",
            value.written(),
            self.range.start().written(),
            self.range.end().written(),
        ))
    }
}

impl Bounded<Duration> {
    /// A parser for the setting's flag: a duration such as `30s` or `1m30s`,
    /// within range.
    pub fn parser(&'static self) -> impl Fn(&str) -> Result<Duration, String> + Clone {
        move |text| {
            let value = humantime::parse_duration(text)
                .map_err(|err| format!("{err} (expected a duration such as 30s or 1m30s)"))?;
            self.check(value)
        }
    }
}

impl Bounded<f64> {
    /// A parser for the setting's flag: a decimal number, within range.
    pub fn parser(&'static self) -> impl Fn(&str) -> Result<f64, String> + Clone {
        move |text| {
            let value: f64 = text
                .parse()
                .map_err(|_| format!("{text:?} is not a number (expected e.g. 2 or 0.5)"))?;
            self.check(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_is_ordered_and_named_once() {
        let mut keys = std::collections::HashSet::new();
        for setting in DURATIONS {
            assert!(setting.range.start() <= setting.range.end(), "{setting:?}");
            assert!(keys.insert(setting.key), "{} twice", setting.key);
        }
        for setting in COUNTS {
            assert!(setting.range.start() <= setting.range.end(), "{setting:?}");
            assert!(keys.insert(setting.key), "{} twice", setting.key);
        }
        for setting in RATES {
            assert!(setting.range.start() <= setting.range.end(), "{setting:?}");
            assert!(keys.insert(setting.key), "{} twice", setting.key);
        }
    }

    #[test]
    fn the_largest_values_leave_room_for_the_arithmetic_done_on_them() {
        // The daemon derives the stale age (3 x refresh) and backs off up to
        // the refresh interval plus jitter; epoch deadlines count 10 ms ticks.
        let refresh = *REFRESH.range.end();
        assert!(refresh.checked_mul(3).is_some());
        assert!(refresh.checked_add(*JITTER.range.end()).is_some());
        assert!(POLICY_TIME_LIMIT.range.end().as_nanos() < u128::from(u64::MAX));
    }

    #[test]
    fn out_of_range_values_are_refused_saying_the_range() {
        let parse = REFRESH.parser();
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(
            parse("300000000000years").unwrap_err(),
            "300000000000years is out of range: it must be from 100ms to 1day"
        );
        assert!(parse("0s").unwrap_err().contains("out of range"));
        assert!(parse("soon").unwrap_err().contains("expected a duration"));
        let budget = EC2_BUDGET.parser();
        assert_eq!(budget("0.5"), Ok(0.5));
        assert!(budget("NaN").unwrap_err().contains("out of range"));
        assert!(budget("lots").unwrap_err().contains("not a number"));
        assert_eq!(
            MAX_ATTEMPTS.check(4_294_967_295).unwrap_err(),
            "4294967295 is out of range: it must be from 1 to 20"
        );
    }
}
