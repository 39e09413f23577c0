//! The change guard's settings: how much of the fleet a new policy may
//! drop (`max_change`), the one change let through regardless
//! (`accept_change`), and how long the largest answer served counts
//! (`change_window`). The daemon's change guard judges reloads with them.

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use std::fmt;
use std::time::Duration;

/// The share of the current members a new policy may drop,
/// `[policy] max_change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxChange {
    /// `"off"`: no guard.
    Off,
    /// `"P%"`, P from 1 to 100.
    Percent(u8),
}

impl Default for MaxChange {
    /// `"50%"`: the guard is on unless turned off.
    fn default() -> Self {
        MaxChange::Percent(50)
    }
}

impl fmt::Display for MaxChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxChange::Off => f.write_str("off"),
            MaxChange::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

impl MaxChange {
    /// `"off"`, or `"P%"` with P a whole number from 1 to 100.
    pub fn parse(text: &str) -> Option<MaxChange> {
        if text == "off" {
            return Some(MaxChange::Off);
        }
        let digits = text.strip_suffix('%')?;
        if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        match digits.parse::<u8>() {
            Ok(percent @ 1..=100) => Some(MaxChange::Percent(percent)),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for MaxChange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Expected;
        impl Visitor<'_> for Expected {
            type Value = MaxChange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a share of the members from \"1%\" to \"100%\", or \"off\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<MaxChange, E> {
                MaxChange::parse(text).ok_or_else(|| E::invalid_value(Unexpected::Str(text), &self))
            }
        }
        deserializer.deserialize_str(Expected)
    }
}

/// Names one change of policy: the first 16 hex digits of the SHA-256 of
/// the plugin's SHA-256 (hex), a newline, and its settings (the JSON
/// document it is configured with). The same plugin with the same settings
/// is the same change on every instance of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeId(String);

/// Hex digits in a [`ChangeId`].
const CHANGE_ID_LENGTH: usize = 16;

impl ChangeId {
    /// The change whose digest is `sha256_hex` (see [`ChangeId`]).
    pub(crate) fn from_digest(mut sha256_hex: String) -> ChangeId {
        sha256_hex.truncate(CHANGE_ID_LENGTH);
        ChangeId(sha256_hex)
    }

    /// A change id as written (hex digits of either case).
    pub fn parse(text: &str) -> Option<ChangeId> {
        (text.len() == CHANGE_ID_LENGTH && text.bytes().all(|byte| byte.is_ascii_hexdigit()))
            .then(|| ChangeId(text.to_ascii_lowercase()))
    }
}

impl fmt::Display for ChangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ChangeId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Expected;
        impl Visitor<'_> for Expected {
            type Value = ChangeId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a change id: the {CHANGE_ID_LENGTH} hex digits a refused reload names"
                )
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<ChangeId, E> {
                ChangeId::parse(text).ok_or_else(|| E::invalid_value(Unexpected::Str(text), &self))
            }
        }
        deserializer.deserialize_str(Expected)
    }
}

/// The guard's settings: `[policy] max_change`, `accept_change` and
/// `change_window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeGuard {
    pub max_change: MaxChange,
    pub accept_change: Option<ChangeId>,
    /// How long the largest answer served stays the one to compare with.
    pub window: Duration,
}

/// `[policy] change_window`'s default: a rollout done in steps within an
/// hour is judged as one change.
pub const DEFAULT_CHANGE_WINDOW: Duration = Duration::from_secs(60 * 60);

impl Default for ChangeGuard {
    fn default() -> Self {
        ChangeGuard {
            max_change: MaxChange::default(),
            accept_change: None,
            window: DEFAULT_CHANGE_WINDOW,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_change_is_a_whole_percentage_or_off() {
        assert_eq!(MaxChange::default(), MaxChange::Percent(50));
        assert_eq!(MaxChange::parse("off"), Some(MaxChange::Off));
        assert_eq!(MaxChange::parse("1%"), Some(MaxChange::Percent(1)));
        assert_eq!(MaxChange::parse("100%"), Some(MaxChange::Percent(100)));
        assert_eq!(MaxChange::parse("050%"), Some(MaxChange::Percent(50)));
        for bad in [
            "0%", "101%", "256%", "50", "%", "-5%", "+5%", "5.5%", " 5%", "OFF", "on", "",
        ] {
            assert_eq!(MaxChange::parse(bad), None, "{bad:?}");
        }
    }
}
