//! How this node leaves the fleet, as settings: the `[lifecycle]` table of
//! `rollcall.toml` and `--leave-on-stop`. Whether to leave on a stop, the
//! hook run on leaving and its time limit, the Auto Scaling lifecycle hook
//! to complete, and how often IMDS is asked whether self is going.

use super::ranges;
use serde::Deserialize;
use std::time::Duration;

/// The `[lifecycle]` table as written; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Leave (hook, marker, lifecycle action) on SIGTERM too, not only when
    /// EC2 or Auto Scaling says self is going.
    #[serde(default)]
    pub leave_on_stop: Option<bool>,
    /// The command run once when self starts leaving.
    #[serde(default)]
    pub on_leave: Option<LeaveCommand>,
    /// How long `on_leave` may run before it is killed.
    #[serde(default, with = "humantime_serde")]
    pub on_leave_timeout: Option<Duration>,
    /// The Auto Scaling lifecycle hook completed with `CONTINUE` once
    /// `on_leave` is done.
    #[serde(default)]
    pub complete_lifecycle_hook: Option<LifecycleHookName>,
    /// How often the lifecycle action is heartbeaten while `on_leave` runs.
    #[serde(default, with = "humantime_serde")]
    pub heartbeat_every: Option<Duration>,
    /// How often IMDS is asked about self's lifecycle.
    #[serde(default, with = "humantime_serde")]
    pub poll_every: Option<Duration>,
}

/// How this node leaves, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleSettings {
    pub leave_on_stop: bool,
    pub on_leave: Option<LeaveCommand>,
    pub on_leave_timeout: Duration,
    pub complete_lifecycle_hook: Option<LifecycleHookName>,
    pub heartbeat_every: Duration,
    pub poll_every: Duration,
}

impl LifecycleSettings {
    /// `on_leave` may run this long by default: Auto Scaling's own default
    /// heartbeat timeout is an hour, a spot notice two minutes.
    pub const DEFAULT_ON_LEAVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
    /// A lifecycle hook's heartbeat timeout is 30 s at the least.
    pub const DEFAULT_HEARTBEAT_EVERY: Duration = Duration::from_secs(60);
    /// A spot notice gives two minutes: a few seconds of them to notice.
    pub const DEFAULT_POLL_EVERY: Duration = Duration::from_secs(5);
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            leave_on_stop: false,
            on_leave: None,
            on_leave_timeout: LifecycleSettings::DEFAULT_ON_LEAVE_TIMEOUT,
            complete_lifecycle_hook: None,
            heartbeat_every: LifecycleSettings::DEFAULT_HEARTBEAT_EVERY,
            poll_every: LifecycleSettings::DEFAULT_POLL_EVERY,
        }
    }
}

impl LifecycleConfig {
    /// The settings this table gives over the defaults, durations checked
    /// against their ranges.
    pub fn apply(&self) -> Result<LifecycleSettings, super::overrides::InvalidSetting> {
        use super::overrides::checked;
        let defaults = LifecycleSettings::default();
        Ok(LifecycleSettings {
            leave_on_stop: self.leave_on_stop.unwrap_or(defaults.leave_on_stop),
            on_leave: self.on_leave.clone(),
            on_leave_timeout: checked(&ranges::ON_LEAVE_TIMEOUT, self.on_leave_timeout)?
                .unwrap_or(defaults.on_leave_timeout),
            complete_lifecycle_hook: self.complete_lifecycle_hook.clone(),
            heartbeat_every: checked(&ranges::HEARTBEAT_EVERY, self.heartbeat_every)?
                .unwrap_or(defaults.heartbeat_every),
            poll_every: checked(&ranges::LIFECYCLE_POLL, self.poll_every)?
                .unwrap_or(defaults.poll_every),
        })
    }
}

/// A command and its arguments, at least the program.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct LeaveCommand(Vec<String>);

impl LeaveCommand {
    /// The program and its arguments.
    pub fn argv(&self) -> &[String] {
        &self.0
    }
}

impl TryFrom<Vec<String>> for LeaveCommand {
    type Error = &'static str;

    fn try_from(argv: Vec<String>) -> Result<Self, Self::Error> {
        match argv.first() {
            Some(program) if !program.is_empty() => Ok(LeaveCommand(argv)),
            _ => Err("expected a command: [\"/path/to/program\", \"argument\", ...]"),
        }
    }
}

/// An Auto Scaling lifecycle hook's name: 1 to 255 letters, digits, `-`,
/// `_` and `/`, as Auto Scaling allows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LifecycleHookName(String);

impl LifecycleHookName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LifecycleHookName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        let valid = (1..=255).contains(&name.len())
            && name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"-_/".contains(&byte));
        if valid {
            Ok(LifecycleHookName(name))
        } else {
            Err(format!(
                "{name:?} is not a lifecycle hook name (1 to 255 letters, digits, '-', '_' and '/')"
            ))
        }
    }
}

impl std::str::FromStr for LifecycleHookName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        LifecycleHookName::try_from(name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_names_and_commands_are_checked() {
        assert!("drain-hook/1".parse::<LifecycleHookName>().is_ok());
        assert!("".parse::<LifecycleHookName>().is_err());
        assert!("two words".parse::<LifecycleHookName>().is_err());
        assert!(LeaveCommand::try_from(Vec::new()).is_err());
        assert!(LeaveCommand::try_from(vec![String::new()]).is_err());
        assert!(LeaveCommand::try_from(vec!["/bin/true".to_owned()]).is_ok());
    }
}
