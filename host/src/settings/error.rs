//! What is wrong with the settings, said where it was written: a
//! configuration file's `file:line:column`, a flag's name, a key.

use super::overrides::InvalidSetting;
use crate::located::ParseError;
use std::path::PathBuf;

/// Settings that cannot be used; every message names its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A file that could not be read: the configuration (`what` empty) or
    /// the policy's settings (`what` = `"policy settings "`).
    #[error("cannot read {what}{}: {reason}", path.display())]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// Not TOML, or not what the file's schema allows, at a place in it.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A template that cannot be used: it does not parse, or names what
    /// the membership document does not have, at a line of it.
    #[error("{}:{line}: {message}", path.display())]
    Template {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// Policy settings that are not a JSON document.
    #[error("{} (expected a JSON document)", problem.located_in(origin))]
    NotJson {
        origin: PathBuf,
        problem: ParseError,
    },
    /// A value its setting does not allow, in a configuration file.
    #[error("{}: {setting}", origin.display())]
    Invalid {
        origin: PathBuf,
        setting: InvalidSetting,
    },
    /// Settings of a configuration file that do not go together.
    #[error("{}: {conflict}", origin.display())]
    Conflict { origin: PathBuf, conflict: Conflict },
    /// A value its flag does not allow.
    #[error("{}", .0.of_flag())]
    Flag(InvalidSetting),
    /// Flags that do not go together, or a command without one it needs.
    #[error("{0}")]
    Usage(&'static str),
}

/// Two settings of a file that cannot go together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("policy.settings and policy.settings_file are both given; keep one")]
    PluginSettingsTwice,
    #[error("self = \"imds\" needs the EC2 source with imds = true")]
    SelfFromImdsWithoutImds,
}
