//! The policy's settings: the plugin's own settings (a JSON document, a
//! table of the configuration file, or a file of their own) and what the
//! host lets one policy evaluation take.

use super::SettingsError;
use super::plugin_toml::TomlSettings;
use crate::capped_file::{SETTINGS, read_capped_text};
use crate::located::ParseError;
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// What one policy evaluation may use: the host stops it at either limit.
pub struct PolicyLimits {
    /// Wall-clock time one `configure` or `decide` call may run.
    pub time: Duration,
    /// Linear memory one plugin instance may grow to, all its memories
    /// together, in bytes, before the allowance for the fleet
    /// (a fixed allowance per instance, which the policy runtime adds).
    pub memory_bytes: usize,
}

impl Default for PolicyLimits {
    fn default() -> Self {
        PolicyLimits {
            time: Duration::from_secs(2),
            memory_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The policy's settings: a JSON document, the configuration file's
/// `[policy] settings` table, or a file holding them (JSON or TOML), read at
/// every (re)load.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginSettings {
    /// A JSON document given as is (`--plugin-config`; `{}` when none is).
    Inline(String),
    /// `[policy] settings`, as JSON with one key per line.
    Table(WrittenTable),
    /// A file of their own, `.json` or `.toml`.
    File(PathBuf),
}

/// `[policy] settings` as the policy gets them (JSON made from the TOML),
/// with the configuration file's text to take a complaint about a JSON
/// line back to the TOML key the operator wrote.
#[derive(Debug, Clone)]
pub struct WrittenTable {
    file: PathBuf,
    text: Arc<str>,
    converted: Arc<TomlSettings>,
}

impl WrittenTable {
    /// The table at `[policy] settings` of the configuration file `file`
    /// whose text is `text`; `None` when it has none.
    pub(super) fn read(file: &Path, text: &str) -> Result<Option<WrittenTable>, SettingsError> {
        let converted = TomlSettings::convert_at(text, &["policy", "settings"])
            .map_err(|err| super::file::located(file, text, &err))?;
        Ok(converted.map(|converted| WrittenTable {
            file: file.to_owned(),
            text: text.into(),
            converted: Arc::new(converted),
        }))
    }
}

impl PartialEq for WrittenTable {
    /// The same settings from the same file, however the rest of the file
    /// changed.
    fn eq(&self, other: &Self) -> bool {
        self.file == other.file && self.converted.json() == other.converted.json()
    }
}

impl PluginSettings {
    /// The settings `--plugin-config` names: inline JSON (checked now), or
    /// `@FILE`.
    pub fn from_flag(value: &str) -> Result<PluginSettings, SettingsError> {
        match value.strip_prefix('@') {
            Some(path) => Ok(PluginSettings::File(path.into())),
            None => {
                check_json(Path::new("--plugin-config"), value)?;
                Ok(PluginSettings::Inline(value.to_owned()))
            }
        }
    }

    /// The settings as a JSON document.
    pub fn load(&self) -> Result<String, SettingsError> {
        match self {
            PluginSettings::Inline(json) => Ok(json.clone()),
            PluginSettings::Table(table) => Ok(table.converted.json().to_owned()),
            PluginSettings::File(path) => {
                let text =
                    read_capped_text(path, SETTINGS).map_err(|err| SettingsError::Unreadable {
                        what: "policy settings ",
                        path: path.clone(),
                        reason: err.to_string(),
                    })?;
                if is_toml(path) {
                    TomlSettings::convert(&text)
                        .map(|settings| settings.json().to_owned())
                        .map_err(|err| super::file::located(path, &text, &err))
                } else {
                    check_json(path, &text)?;
                    Ok(text)
                }
            }
        }
    }

    /// `message`, the policy's rejection of these settings, with a place in
    /// the JSON made from TOML (`at line 1 column 9`) said as the TOML's
    /// `file:line:column` and key. A settings file is read again; other
    /// messages are returned as they are.
    pub fn explain(&self, message: &str) -> String {
        let located = match self {
            PluginSettings::Inline(_) => None,
            PluginSettings::Table(table) => {
                table
                    .converted
                    .locate(message, &table.file.display().to_string(), &table.text)
            }
            PluginSettings::File(path) if is_toml(path) => {
                read_capped_text(path, SETTINGS).ok().and_then(|text| {
                    TomlSettings::convert(&text).ok()?.locate(
                        message,
                        &path.display().to_string(),
                        &text,
                    )
                })
            }
            PluginSettings::File(_) => None,
        };
        located.unwrap_or_else(|| message.to_owned())
    }

    /// The file to watch, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            PluginSettings::Inline(_) | PluginSettings::Table(_) => None,
            PluginSettings::File(path) => Some(path),
        }
    }
}

/// Fails unless `text` (from `origin`) is a JSON document, naming the place.
fn check_json(origin: &Path, text: &str) -> Result<(), SettingsError> {
    serde_json::from_str::<serde_json::Value>(text)
        .map(drop)
        .map_err(|err| SettingsError::NotJson {
            origin: origin.to_owned(),
            problem: ParseError::from(err),
        })
}

fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension == "toml")
}

/// Where compiled policies are kept.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Compiled-policy cache")]
pub struct CacheArgs {
    /// Directory of compiled policies, which must be writable only by this
    /// user [default: $ROLLCALL_CACHE_DIR, $XDG_CACHE_HOME/rollcall or
    /// ~/.cache/rollcall].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Always compile; neither read nor write the cache (wins over
    /// --cache-dir).
    #[arg(long)]
    pub no_cache: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
[source]
kind = \"file\"
path = \"fleet.json\"

[policy]
plugin = \"p.wasm\"
settings = { monitor_group = \"sg-1\", monitor_port = \"seventy\" }
";

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "only the error matters")]
    struct Wanted {
        monitor_group: String,
        monitor_port: u16,
    }

    #[test]
    fn a_rejection_of_inline_settings_names_the_line_of_the_configuration_file() {
        let path = Path::new("/etc/rollcall/rollcall.toml");
        let config = super::super::Config::parse(path, CONFIG).unwrap();
        let settings = super::super::WatchSettings::from_file(&config, path)
            .unwrap()
            .plugin_settings;
        let json = settings.load().unwrap();
        let err = serde_json::from_str::<Wanted>(&json)
            .unwrap_err()
            .to_string();
        assert_eq!(
            settings.explain(&err),
            "invalid type: string \"seventy\", expected u16 at \
             /etc/rollcall/rollcall.toml:7:38 (`policy.settings.monitor_port`)"
        );
    }

    #[test]
    fn inline_settings_equal_whatever_else_the_file_changed() {
        let path = Path::new("rollcall.toml");
        let table = |text: &str| WrittenTable::read(path, text).unwrap().unwrap();
        let commented = format!("# a comment\n{CONFIG}");
        assert_eq!(table(CONFIG), table(&commented));
        assert_ne!(table(CONFIG), table(&CONFIG.replace("sg-1", "sg-2")));
    }
}
