//! A policy's test cases (`rollcall plugin test`): the cases file, read with
//! the line of every case so that errors and failures point at it. `check`
//! compares a policy's answer with a case's expectations, `update` rewrites
//! the expectations from the answers.
//!
//! ```toml
//! [[case]]
//! name = "an agent registers with the monitor"
//! inventory = "seed-fleet.json"     # relative to this file
//! self = "i-df71a7b6"               # optional
//! settings = { monitor_port = 7070 } # optional, default {}
//! role = "agent"                    # self's role; "" for none
//! clusters = []                     # self's
//! register_with = ["i-2271a74b"]    # sorted by id, as rollcall reports
//! members = { "i-2271a74b" = "monitor", "i-df71a7b6" = "agent" } # exactly
//! # error = "unknown field"         # instead: a part of the expected error
//! ```
//!
//! `inventory` and `settings` may also be given once at the top of the file,
//! for every case that does not give its own.

mod check;
mod update;

pub use check::differences;
pub use update::update;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One case, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    /// The line of the case in its file.
    pub line: usize,
    /// The recorded fleet, resolved against the cases file's directory.
    pub inventory: PathBuf,
    /// Self's instance id, if the case has a self.
    pub self_id: Option<String>,
    /// The policy's settings, as the JSON document it is configured with.
    pub settings: String,
    pub expected: Expected,
}

/// What a case expects; each expectation is checked only when given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Self's role; empty for none.
    pub role: Option<String>,
    /// Self's clusters, in the policy's order.
    pub clusters: Option<Vec<String>>,
    /// Self's registration targets, in order.
    pub register_with: Option<Vec<String>>,
    /// Every member's role, exactly.
    pub members: Option<BTreeMap<String, String>>,
    /// A part of the error the policy must fail with.
    pub error: Option<String>,
}

impl Expected {
    /// Whether the case expects anything at all.
    pub fn is_empty(&self) -> bool {
        *self == Expected::default()
    }
}

/// A cases file that cannot be used, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasesError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for CasesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for CasesError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    inventory: Option<String>,
    settings: Option<toml::Table>,
    #[serde(default)]
    case: Vec<toml::Spanned<RawCase>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    inventory: Option<String>,
    #[serde(rename = "self")]
    self_id: Option<String>,
    settings: Option<toml::Table>,
    role: Option<String>,
    clusters: Option<Vec<String>>,
    register_with: Option<Vec<String>>,
    members: Option<BTreeMap<String, String>>,
    error: Option<String>,
}

/// Reads the cases file at `path`, whose text is `text`. With
/// `expectations_required`, a case that expects nothing is an error (it
/// would pass whatever the policy does); `--update` fills such cases in.
pub fn parse(
    path: &Path,
    text: &str,
    expectations_required: bool,
) -> Result<Vec<Case>, CasesError> {
    let error = |line: Option<usize>, message: String| CasesError {
        path: path.to_owned(),
        line,
        message,
    };
    let file: File = toml::from_str(text).map_err(|err| {
        let line = err.span().map(|span| line_of(text, span.start));
        error(line, err.message().trim_end().to_owned())
    })?;
    if file.case.is_empty() {
        return Err(error(
            None,
            "no cases: add a [[case]] table (see `rollcall plugin test --help`)".to_owned(),
        ));
    }
    let directory = path.parent().unwrap_or(Path::new(""));
    file.case
        .into_iter()
        .map(|spanned| {
            let line = line_of(text, spanned.span().start);
            let raw = spanned.into_inner();
            let fail = |message: String| Err(error(Some(line), format!("case {:?}: {message}", raw.name)));
            if raw.name.trim().is_empty() {
                return Err(error(Some(line), "a case has an empty name".to_owned()));
            }
            let Some(inventory) = raw.inventory.as_ref().or(file.inventory.as_ref()) else {
                return fail(
                    "no inventory: set `inventory` in the case or at the top of the file".to_owned(),
                );
            };
            let expected = Expected {
                role: raw.role,
                clusters: raw.clusters,
                register_with: raw.register_with,
                members: raw.members,
                error: raw.error,
            };
            let about_self = [
                ("role", expected.role.is_some()),
                ("clusters", expected.clusters.is_some()),
                ("register_with", expected.register_with.is_some()),
            ];
            if raw.self_id.is_none()
                && let Some((key, _)) = about_self.iter().find(|(_, given)| *given)
            {
                return fail(format!("`{key}` is about self, and the case sets no `self`"));
            }
            let expects_answer =
                expected.members.is_some() || about_self.iter().any(|(_, given)| *given);
            if expected.error.is_some() && expects_answer {
                return fail("`error` expects a failure: it cannot be given with role, clusters, register_with or members".to_owned());
            }
            if expectations_required && expected.is_empty() {
                return fail(
                    "expects nothing: give role, clusters, register_with, members or error \
                     (or run with --update to record the policy's answer)"
                        .to_owned(),
                );
            }
            let settings = raw.settings.as_ref().or(file.settings.as_ref());
            Ok(Case {
                name: raw.name,
                line,
                inventory: directory.join(inventory),
                self_id: raw.self_id,
                settings: settings.map_or_else(
                    || "{}".to_owned(),
                    |table| serde_json::to_string(table).expect("a TOML table is JSON"),
                ),
                expected,
            })
        })
        .collect()
}

/// The 1-based line of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Vec<Case>, CasesError> {
        parse(Path::new("dir/cases.toml"), text, true)
    }

    #[test]
    fn every_key_is_read_and_paths_are_relative_to_the_file() {
        let cases = parsed(
            r#"
settings = { monitor_port = 7070 }

[[case]]
name = "agent"
inventory = "fleet.json"
self = "i-2"
role = "agent"
clusters = ["blue"]
register_with = ["i-1"]
members = { "i-1" = "monitor", "i-2" = "agent" }

[[case]]
name = "bad settings"
inventory = "other.json"
settings = { adress = "x" }
error = "unknown field"
"#,
        )
        .unwrap();
        assert_eq!(cases.len(), 2);
        let agent = &cases[0];
        assert_eq!(agent.line, 4);
        assert_eq!(agent.inventory, Path::new("dir/fleet.json"));
        assert_eq!(agent.self_id.as_deref(), Some("i-2"));
        assert_eq!(agent.settings, r#"{"monitor_port":7070}"#);
        assert_eq!(agent.expected.role.as_deref(), Some("agent"));
        assert_eq!(agent.expected.clusters, Some(vec!["blue".to_owned()]));
        assert_eq!(agent.expected.register_with, Some(vec!["i-1".to_owned()]));
        assert_eq!(agent.expected.members.as_ref().unwrap()["i-2"], "agent");
        assert_eq!(cases[1].line, 13);
        assert_eq!(cases[1].settings, r#"{"adress":"x"}"#);
        assert_eq!(cases[1].expected.error.as_deref(), Some("unknown field"));
    }

    #[test]
    fn a_file_wide_inventory_serves_every_case() {
        let cases =
            parsed("inventory = \"f.json\"\n[[case]]\nname = \"a\"\nmembers = {}\n").unwrap();
        assert_eq!(cases[0].inventory, Path::new("dir/f.json"));
        assert_eq!(cases[0].settings, "{}");
    }

    #[test]
    fn mistakes_are_named_with_file_and_line() {
        let cases = [
            (
                "[[case]]\nname = \"a\"\ninventory = \"f\"\nrol = \"x\"\n",
                "dir/cases.toml:4: unknown field `rol`",
            ),
            (
                "[[case]]\nname = \"a\"\ninventory = 3\n",
                "dir/cases.toml:3: invalid type",
            ),
            (
                "[[case]]\nname = \"a\"\nmembers = {}\n",
                "dir/cases.toml:1: case \"a\": no inventory",
            ),
            (
                "[[case]]\nname = \"a\"\ninventory = \"f\"\n",
                "dir/cases.toml:1: case \"a\": expects nothing",
            ),
            (
                "[[case]]\nname = \"a\"\ninventory = \"f\"\nrole = \"agent\"\n",
                "dir/cases.toml:1: case \"a\": `role` is about self",
            ),
            (
                "[[case]]\nname = \"a\"\ninventory = \"f\"\nerror = \"x\"\nmembers = {}\n",
                "dir/cases.toml:1: case \"a\": `error` expects a failure",
            ),
            ("name = \"a\"\n", "dir/cases.toml:1: unknown field `name`"),
            ("", "dir/cases.toml: no cases"),
            ("[[case]\n", "dir/cases.toml:1: "),
        ];
        for (text, expected) in cases {
            let err = parsed(text).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn with_update_a_case_may_expect_nothing_yet() {
        let text = "[[case]]\nname = \"a\"\ninventory = \"f\"\n";
        let cases = parse(Path::new("c.toml"), text, false).unwrap();
        assert!(cases[0].expected.is_empty());
    }
}
