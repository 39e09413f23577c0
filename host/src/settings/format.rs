//! Which form an answer takes: `--format`, and a file sink's `format` (with
//! `template` for a template of the operator's own).

use super::SettingsError;
use super::bundled::Bundled;
use crate::capped_file::{TEMPLATE, read_capped_text};
use clap::builder::{PossibleValue, TypedValueParser};
use serde::{Deserialize, Deserializer, de};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How an answer is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// The membership document (the contract every consumer reads).
    Json,
    /// Shell-sourceable `ROLLCALL_*` variables.
    Env,
    /// A short table for people.
    Text,
    /// An nftables script: sets of the addresses of self's cluster peers.
    Nft,
    /// One of the consumer formats rollcall ships (`rollcall formats`).
    Bundled(Bundled),
    /// A template of the operator's own (`template:FILE`).
    Template(TemplateFile),
}

/// The formats with a name of their own, and what each is: every one but
/// the bundled and templates.
const BUILT_IN: [(&str, &str); 4] = [
    (
        "json",
        "The membership document (the contract every consumer reads)",
    ),
    ("env", "Shell-sourceable `ROLLCALL_*` variables"),
    ("text", "A short table for people"),
    (
        "nft",
        "An nftables script: sets of the addresses of self's cluster peers",
    ),
];

impl Format {
    /// The format called `name`: a built-in or a bundled one.
    fn named(name: &str) -> Option<Format> {
        Some(match name {
            "json" => Format::Json,
            "env" => Format::Env,
            "text" => Format::Text,
            "nft" => Format::Nft,
            name => Format::Bundled(Bundled::named(name)?),
        })
    }

    /// `--format`'s value: a name, or `template:FILE` (read now).
    pub fn from_flag(text: &str) -> Result<Format, String> {
        if let Some(path) = text.strip_prefix("template:") {
            return TemplateFile::read(Path::new(path))
                .map(Format::Template)
                .map_err(|err| err.to_string());
        }
        Format::named(text)
            .ok_or_else(|| format!("no format is called {text:?}; known: {}", names(true)))
    }
}

/// Every format's name, comma-separated; `text` only where people read.
fn names(text: bool) -> String {
    let built_in = BUILT_IN
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| text || *name != "text");
    let bundled = Bundled::ALL.iter().map(|format| format.name());
    let mut names: Vec<&str> = built_in.chain(bundled).collect();
    names.push(if text { "template:FILE" } else { "template" });
    names.join(", ")
}

/// A template file as read when the settings were: what it says is part of
/// the settings, so that an edited template is a changed configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    /// Where it is (relative paths as the operator gave them).
    pub path: PathBuf,
    /// What it said when read; empty until read (a configuration file's
    /// sink between parsing and [`TemplateFile::read`]).
    pub text: Arc<str>,
}

impl TemplateFile {
    /// Reads the template at `path`, under the template cap.
    pub fn read(path: &Path) -> Result<TemplateFile, SettingsError> {
        let text = read_capped_text(path, TEMPLATE).map_err(|err| SettingsError::Unreadable {
            what: "template ",
            path: path.to_owned(),
            reason: err.to_string(),
        })?;
        Ok(TemplateFile {
            path: path.to_owned(),
            text: text.into(),
        })
    }

    /// The template named at `path`, not read yet.
    fn unread(path: PathBuf) -> TemplateFile {
        TemplateFile {
            path,
            text: Arc::from(""),
        }
    }
}

/// `--format`'s parser: the names with their help, and `template:FILE`.
#[derive(Debug, Clone, Copy)]
pub struct FormatParser;

impl TypedValueParser for FormatParser {
    type Value = Format;

    fn parse_ref(
        &self,
        command: &clap::Command,
        _argument: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Format, clap::Error> {
        let invalid = |message: String| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("--format: {message}\n"),
            )
            .with_cmd(command)
        };
        let text = value
            .to_str()
            .ok_or_else(|| invalid("the value is not UTF-8".to_owned()))?;
        Format::from_flag(text).map_err(invalid)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let built_in = BUILT_IN
            .iter()
            .map(|(name, help)| PossibleValue::new(*name).help(*help));
        let bundled = Bundled::ALL
            .iter()
            .map(|format| PossibleValue::new(format.name()).help(format.summary()));
        let template = PossibleValue::new("template:FILE").help(
            "Your own template (minijinja), fed the membership document (README \"Templates\")",
        );
        Some(Box::new(
            built_in.chain(bundled).chain(std::iter::once(template)),
        ))
    }
}

/// A file sink's fields as written: `format` and, with `format =
/// "template"`, `template`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSinkFields {
    path: PathBuf,
    format: Option<String>,
    template: Option<PathBuf>,
}

/// A file sink's path and format. Any format but `text`, which is for people
/// at a terminal; a template's file is read later, with the settings
/// ([`TemplateFile::read`]).
pub(super) fn file_sink<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<(PathBuf, Format), D::Error> {
    let FileSinkFields {
        path,
        format,
        template,
    } = FileSinkFields::deserialize(deserializer)?;
    let format = match (format.as_deref(), template) {
        (Some("template"), Some(template)) => Format::Template(TemplateFile::unread(template)),
        (Some("template"), None) => {
            return Err(de::Error::custom(
                "format = \"template\" needs template = \"FILE\", the template to write with",
            ));
        }
        (_, Some(_)) => {
            return Err(de::Error::custom(
                "template = \"FILE\" is read only with format = \"template\"",
            ));
        }
        (None, None) => Format::Json,
        (Some("text"), None) => {
            return Err(de::Error::custom(format!(
                "format \"text\" is for people at a terminal; a file sink takes {}",
                names(false)
            )));
        }
        (Some(name), None) => Format::named(name).ok_or_else(|| {
            de::Error::custom(format!(
                "no format is called {name:?}; a file sink takes {}",
                names(false)
            ))
        })?,
    };
    Ok((path, format))
}
