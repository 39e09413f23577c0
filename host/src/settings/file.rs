//! The `rollcall watch` configuration file (TOML), checked without I/O.
//!
//! Unknown keys are errors with `file:line:column`. Relative paths are
//! relative to the directory of the configuration file.

use super::accounts::{repeated_account, repeated_account_message};
use super::format::file_sink;
use super::overrides::{Ec2Overrides, PolicyLimitOverrides};
use super::policy::WrittenTable;
use super::{ChangeId, Format, MaxChange, SettingsError};
use crate::capped_file::{CONFIG, read_capped_text};
use crate::located::line_and_column;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub source: SourceConfig,
    /// How often to fetch the fleet.
    #[serde(default, with = "humantime_serde")]
    pub refresh: Option<Duration>,
    /// Up to this much random delay is added to every refresh, so that a
    /// fleet does not poll in lockstep. Default: a tenth of `refresh`.
    #[serde(default, with = "humantime_serde")]
    pub jitter: Option<Duration>,
    /// `/healthz` reports 503 once the answer is older than this. Default:
    /// three times `refresh`.
    #[serde(default, with = "humantime_serde")]
    pub stale_after: Option<Duration>,
    /// How many more listings an instance missing from the listing without
    /// a sign that it ended stays a member, marked unconfirmed. Default: 1.
    pub absent_grace: Option<i64>,
    /// `"i-..."`, `"none"` or `"imds"`. Default: `imds` for EC2 (unless
    /// `imds = false`), `none` for a file.
    #[serde(default, rename = "self")]
    pub own: Option<String>,
    pub policy: PolicyConfig,
    #[serde(default, rename = "sink")]
    pub sinks: Vec<SinkConfig>,
    pub http: Option<HttpConfig>,
    /// How this node leaves the fleet.
    #[serde(default)]
    pub lifecycle: Option<super::lifecycle::LifecycleConfig>,
    /// The queue of the fleet's events, with where its table was written.
    #[serde(default)]
    pub events: Option<toml::Spanned<super::events::EventsConfig>>,
    /// Where `[events]` was written: its line and column.
    #[serde(skip)]
    pub events_at: Option<(usize, usize)>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per configuration load; boxing buys nothing"
)]
pub enum SourceConfig {
    /// A describe-instances JSON file, re-read when it changes.
    File { path: PathBuf },
    /// The EC2 API.
    Ec2(Ec2Overrides),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The plugin `.wasm`.
    pub plugin: PathBuf,
    /// The plugin's settings inline, as a TOML table (passed on as JSON).
    pub settings: Option<toml::Table>,
    /// `settings` as the policy gets them, with where each key was written.
    #[serde(skip)]
    pub written_settings: Option<WrittenTable>,
    /// Or in a file of their own, `.json` or `.toml`, watched for changes.
    pub settings_file: Option<PathBuf>,
    /// Time one `configure` or `decide` call may run (default 2s).
    #[serde(default, with = "humantime_serde")]
    pub time_limit: Option<Duration>,
    /// Memory one plugin instance may grow to, in MiB (default 64).
    pub memory_limit_mib: Option<u32>,
    /// The share of the members a reload's new policy may drop, `"P%"` or
    /// `"off"` (default `"50%"`; see [`MaxChange`]).
    pub max_change: Option<MaxChange>,
    /// The one change the guard lets through however much it drops.
    pub accept_change: Option<ChangeId>,
    /// How long the largest answer served is what a new policy's drops are
    /// also counted against (default 1h; see [`super::ChangeGuard`]).
    #[serde(default, with = "humantime_serde")]
    pub change_window: Option<Duration>,
}

impl PolicyConfig {
    /// The limits this table gives.
    pub fn limits(&self) -> PolicyLimitOverrides {
        PolicyLimitOverrides {
            time_limit: self.time_limit,
            memory_limit_mib: self.memory_limit_mib,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// The document written atomically to `path` on every change, in
    /// `format` (`format = "template"` with `template = "FILE"` for a
    /// template of the operator's own).
    #[serde(deserialize_with = "file_sink")]
    File { path: PathBuf, format: Format },
    /// A command run on every change, the document on stdin.
    Exec {
        command: Vec<String>,
        #[serde(default = "exec_timeout", with = "humantime_serde")]
        timeout: Duration,
    },
    /// Change events as JSON lines on stdout.
    Stdout {},
    /// A, AAAA and SRV records per role and cluster in a Route 53 private
    /// hosted zone.
    Route53(super::route53::Route53Config),
}

fn exec_timeout() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of the HTTP API, e.g. `127.0.0.1:7878`.
    pub listen: SocketAddr,
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, SettingsError> {
        let text = read_capped_text(path, CONFIG).map_err(|err| SettingsError::Unreadable {
            what: "",
            path: path.to_owned(),
            reason: err.to_string(),
        })?;
        Config::parse(path, &text)
    }

    /// Parses `text` (the content of `path`), resolving relative paths
    /// against the file's directory.
    pub fn parse(path: &Path, text: &str) -> Result<Config, SettingsError> {
        let mut config: Config = toml::from_str(text).map_err(|err| located(path, text, &err))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let relative = |file: &mut PathBuf| {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        };
        if let SourceConfig::File { path } = &mut config.source {
            relative(path);
        }
        relative(&mut config.policy.plugin);
        if let Some(file) = &mut config.policy.settings_file {
            relative(file);
        }
        for sink in &mut config.sinks {
            if let SinkConfig::File { path, format } = sink {
                relative(path);
                if let Format::Template(template) = format {
                    relative(&mut template.path);
                }
            }
        }
        if let SourceConfig::Ec2(ec2) = &config.source {
            let roles: Vec<_> = ec2
                .accounts
                .iter()
                .map(|account| &account.role_arn)
                .collect();
            if let Some((index, account)) = repeated_account(roles.iter().copied()) {
                // Inside `[source]`'s tag, TOML gives no spans: the entry is
                // found by its ARN, the same ARN counted as often as it
                // came before.
                let arn = roles[index].as_str();
                let before = roles[..index]
                    .iter()
                    .filter(|role| role.as_str() == arn)
                    .count();
                let at = text
                    .match_indices(arn)
                    .nth(before)
                    .map_or(0, |(at, _)| at.saturating_sub(1));
                let (line, column) = line_and_column(text, at);
                return Err(SettingsError::Syntax {
                    path: path.to_owned(),
                    line,
                    column,
                    message: repeated_account_message(&account),
                });
            }
        }
        if config.policy.settings.is_some() {
            config.policy.written_settings = WrittenTable::read(path, text)?;
        }
        config.events_at = config
            .events
            .as_ref()
            .map(|events| line_and_column(text, events.span().start));
        Ok(config)
    }
}

/// A TOML error as `file:line:column: message`.
pub(super) fn located(path: &Path, text: &str, err: &toml::de::Error) -> SettingsError {
    let offset = match err.span() {
        Some(span) => unknown_key_offset(text, span.start, err.message())
            .or_else(|| {
                starts_table(text, span.start)
                    .then(|| quoted_value_offset(text, span.start, err.message()))
                    .flatten()
            })
            .unwrap_or(span.start),
        None => quoted_value_offset(text, 0, err.message()).unwrap_or(0),
    };
    let (line, column) = line_and_column(text, offset);
    SettingsError::Syntax {
        path: path.to_owned(),
        line,
        column,
        message: err.message().trim_end().to_owned(),
    }
}

/// Values inside a table read through a `kind` tag (`[source]`) come with
/// the table's place, its header at `from`: a value's own check names it
/// first, quoted (`"ap-moon-1" is not an AWS region`), so the place is
/// where that value is written below the header.
fn quoted_value_offset(text: &str, from: usize, message: &str) -> Option<usize> {
    let value = message.strip_prefix('"')?.split('"').next()?;
    if value.is_empty() {
        return None;
    }
    let below = text.get(from..)?.find(&format!("\"{value}\""))?;
    Some(from + below)
}

/// Whether a table's header (`[source]`, `[[sink]]`) starts a line at
/// `offset`: the place TOML gives what it found inside a tagged table.
fn starts_table(text: &str, offset: usize) -> bool {
    let line_start = text.get(..offset).map_or(0, |before| {
        before.rfind('\n').map_or(0, |newline| newline + 1)
    });
    text.get(line_start..offset)
        .is_some_and(|indent| indent.trim().is_empty())
        && text.get(offset..).is_some_and(|rest| rest.starts_with('['))
}

/// Tables read through a `kind` tag (`[source]`, `[[sink]]`) report unknown
/// keys at the table's header: find the key's own line below it instead.
fn unknown_key_offset(text: &str, header: usize, message: &str) -> Option<usize> {
    let key = message.strip_prefix("unknown field `")?.split('`').next()?;
    let mut offset = header + text.get(header..)?.find('\n')? + 1;
    for line in text.get(offset..)?.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            return None;
        }
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(offset + (line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{
        ChangeGuard, DEFAULT_CHANGE_WINDOW, Ec2Settings, PluginSettings, Refresh, SelfChoice,
        SourceSettings, WatchSettings,
    };

    fn parse(text: &str) -> Result<WatchSettings, SettingsError> {
        let path = Path::new("/etc/rollcall/rollcall.toml");
        WatchSettings::from_file(&Config::parse(path, text)?, path)
    }

    const FULL: &str = r#"
refresh = "10s"
jitter = "2s"
stale_after = "1m"
self = "i-0123"

[source]
kind = "ec2"
regions = ["us-east-1", "eu-west-1"]
endpoint_url = "http://127.0.0.1:5000"
filters = ["Name=instance-state-name,Values=running"]
page_size = 100
attempt_timeout = "2s"

[policy]
plugin = "plugins/elastic_grid.wasm"
settings = { cluster_group_prefix = "cluster-", monitor_port = 7070 }
max_change = "20%"
accept_change = "0123456789ABCDEF"
change_window = "6h"

[[sink]]
kind = "file"
path = "membership.env"
format = "env"

[[sink]]
kind = "exec"
command = ["/usr/local/bin/on-change", "--quiet"]
timeout = "5s"

[[sink]]
kind = "stdout"

[http]
listen = "127.0.0.1:7878"
"#;

    #[test]
    fn every_key_is_read() {
        let settings = parse(FULL).unwrap();
        assert_eq!(settings.refresh.every, Duration::from_secs(10));
        assert_eq!(settings.refresh.jitter, Duration::from_secs(2));
        assert_eq!(settings.refresh.stale_after, Duration::from_secs(60));
        assert_eq!(settings.own, SelfChoice::Given("i-0123".into()));
        let SourceSettings::Ec2 { ec2, .. } = &settings.source else {
            panic!("ec2 source")
        };
        assert_eq!(ec2.regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(ec2.filters[0].name, "instance-state-name");
        assert_eq!(ec2.page_size, 100);
        assert_eq!(ec2.attempt_timeout, Duration::from_secs(2));
        assert_eq!(ec2.max_attempts, Ec2Settings::default().max_attempts);
        assert_eq!(
            settings.plugin,
            Path::new("/etc/rollcall/plugins/elastic_grid.wasm")
        );
        assert!(matches!(settings.plugin_settings, PluginSettings::Table(_)));
        let json = settings.plugin_settings.load().unwrap();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["cluster_group_prefix"], "cluster-");
        assert_eq!(json["monitor_port"], 7070);
        assert_eq!(
            settings.sinks,
            [
                SinkConfig::File {
                    path: "/etc/rollcall/membership.env".into(),
                    format: Format::Env
                },
                SinkConfig::Exec {
                    command: vec!["/usr/local/bin/on-change".into(), "--quiet".into()],
                    timeout: Duration::from_secs(5)
                },
                SinkConfig::Stdout {},
            ]
        );
        assert_eq!(settings.listen, Some("127.0.0.1:7878".parse().unwrap()));
        assert_eq!(
            settings.guard,
            ChangeGuard {
                max_change: MaxChange::Percent(20),
                accept_change: ChangeId::parse("0123456789abcdef"),
                window: Duration::from_secs(6 * 3600),
            }
        );
    }

    #[test]
    fn a_file_sink_can_write_nft() {
        let settings = parse(
            "[source]\nkind = \"file\"\npath = \"fleet.json\"\n[policy]\nplugin = \"p.wasm\"\n\
             [[sink]]\nkind = \"file\"\npath = \"/run/rollcall/peers.nft\"\nformat = \"nft\"\n",
        )
        .unwrap();
        assert_eq!(
            settings.sinks,
            [SinkConfig::File {
                path: "/run/rollcall/peers.nft".into(),
                format: Format::Nft
            }]
        );
    }

    #[test]
    fn a_route53_sink_is_read_with_its_defaults_and_a_bad_value_is_refused_at_its_line() {
        let head = "[source]\nkind = \"file\"\npath = \"fleet.json\"\n[policy]\nplugin = \"p.wasm\"\n\
                    [[sink]]\nkind = \"route53\"\n";
        let settings = parse(&format!(
            "{head}zone_id = \"Z0ABC\"\nname = \"{{role}}.{{cluster}}.fleet.internal\"\n"
        ))
        .unwrap();
        let [SinkConfig::Route53(route53)] = settings.sinks.as_slice() else {
            panic!("{:?}", settings.sinks)
        };
        assert_eq!(route53.zone_id.as_str(), "Z0ABC");
        assert_eq!(route53.name.suffix(), "fleet.internal");
        assert_eq!(route53.ttl, Duration::from_secs(60));
        assert_eq!(route53.writer_role, None);
        for (body, expected) in [
            (
                "zone_id = \"Z0ABC\"\nname = \"{role}.{zone}.fleet.internal\"\n",
                "rollcall.toml:9:8: \"{role}.{zone}.fleet.internal\" is not a name pattern: \
                 {zone} is not a placeholder",
            ),
            (
                "zone_id = \"nope\"\nname = \"{role}.fleet.internal\"\n",
                "rollcall.toml:8:11: \"nope\" is not a hosted zone id",
            ),
            (
                "zone_id = \"Z0ABC\"\nname = \"{role}.fleet.internal\"\nttl = \"0s\"\n",
                "sink.ttl",
            ),
            (
                "zone_id = \"Z0ABC\"\nname = \"{role}.fleet.internal\"\nwriter = \"me\"\n",
                "rollcall.toml:10:1: unknown field `writer`",
            ),
        ] {
            let error = parse(&format!("{head}{body}")).unwrap_err().to_string();
            assert!(error.contains(expected), "{body}: {error}");
        }
    }

    #[test]
    fn a_file_sink_takes_a_bundled_format_or_a_template_read_with_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("rollcall.toml");
        std::fs::write(dir.path().join("peers.j2"), "{{ peers|length }}\n").unwrap();
        let text = "[source]\nkind = \"file\"\npath = \"fleet.json\"\n[policy]\nplugin = \"p.wasm\"\n\
                    [[sink]]\nkind = \"file\"\npath = \"seeds\"\nformat = \"elasticsearch-seed-hosts\"\n\
                    [[sink]]\nkind = \"file\"\npath = \"peers\"\nformat = \"template\"\ntemplate = \"peers.j2\"\n";
        let settings =
            WatchSettings::from_file(&Config::parse(&config, text).unwrap(), &config).unwrap();
        assert_eq!(
            settings.sinks,
            [
                SinkConfig::File {
                    path: dir.path().join("seeds"),
                    format: Format::Bundled(crate::settings::Bundled::ElasticsearchSeedHosts)
                },
                SinkConfig::File {
                    path: dir.path().join("peers"),
                    format: Format::Template(crate::settings::TemplateFile {
                        path: dir.path().join("peers.j2"),
                        text: "{{ peers|length }}\n".into()
                    })
                },
            ]
        );
    }

    #[test]
    fn a_file_sink_refuses_text_unknown_formats_and_a_template_half_given() {
        let sink = |fields: &str| {
            let text = format!(
                "[source]\nkind = \"file\"\npath = \"fleet.json\"\n[policy]\nplugin = \"p.wasm\"\n\
                 [[sink]]\nkind = \"file\"\npath = \"out\"\n{fields}\n"
            );
            parse(&text).unwrap_err().to_string()
        };
        let err = sink("format = \"text\"");
        assert!(err.contains("format \"text\" is for people at a terminal; a file sink takes json, env, nft, dot, elasticsearch-seed-hosts"), "{err}");
        let err = sink("format = \"yaml\"");
        assert!(err.contains("no format is called \"yaml\""), "{err}");
        let err = sink("format = \"template\"");
        assert!(
            err.contains("format = \"template\" needs template = \"FILE\""),
            "{err}"
        );
        let err = sink("format = \"json\"\ntemplate = \"t.j2\"");
        assert!(
            err.contains("template = \"FILE\" is read only with format = \"template\""),
            "{err}"
        );
        let err = sink("format = \"template\"\ntemplate = \"/nonexistent/t.j2\"");
        assert!(
            err.starts_with("cannot read template /nonexistent/t.j2: "),
            "{err}"
        );
    }

    #[test]
    fn defaults_follow_the_refresh_interval_and_the_source() {
        let settings = parse(
            "[source]\nkind = \"file\"\npath = \"fleet.json\"\n[policy]\nplugin = \"p.wasm\"\n",
        )
        .unwrap();
        assert_eq!(settings.refresh.every, Refresh::DEFAULT_EVERY);
        assert_eq!(settings.refresh.jitter, Refresh::DEFAULT_EVERY / 10);
        assert_eq!(settings.refresh.stale_after, Refresh::DEFAULT_EVERY * 3);
        assert_eq!(settings.own, SelfChoice::Nobody);
        assert_eq!(
            settings.plugin_settings,
            PluginSettings::Inline("{}".into())
        );
        let ec2 = parse("[source]\nkind = \"ec2\"\n[policy]\nplugin = \"p.wasm\"\n").unwrap();
        assert_eq!(ec2.own, SelfChoice::FromImds);
        assert_eq!(settings.guard.max_change, MaxChange::Percent(50));
        assert_eq!(settings.guard.accept_change, None);
        assert_eq!(settings.guard.window, DEFAULT_CHANGE_WINDOW);
    }

    #[test]
    fn a_bad_change_guard_setting_names_its_place_and_what_is_expected() {
        let policy = "[source]\nkind = \"file\"\npath = \"f\"\n[policy]\nplugin = \"p\"\n";
        for (line, expected) in [
            (
                "max_change = \"150%\"",
                "/etc/rollcall/rollcall.toml:6:14: invalid value: string \"150%\", \
                 expected a share of the members from \"1%\" to \"100%\", or \"off\"",
            ),
            (
                "max_change = 50",
                "/etc/rollcall/rollcall.toml:6:14: invalid type: integer `50`, \
                 expected a share of the members from \"1%\" to \"100%\", or \"off\"",
            ),
            (
                "accept_change = \"yes\"",
                "/etc/rollcall/rollcall.toml:6:17: invalid value: string \"yes\", \
                 expected a change id: the 16 hex digits a refused reload names",
            ),
        ] {
            let err = parse(&format!("{policy}{line}\n")).unwrap_err();
            assert_eq!(err.to_string(), expected, "{line}");
        }
        let off = parse(&format!("{policy}max_change = \"off\"\n")).unwrap();
        assert_eq!(off.guard.max_change, MaxChange::Off);
        let err = parse(&format!("{policy}change_window = \"8days\"\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/rollcall/rollcall.toml: policy.change_window = 8days is out of range: it must \
             be from 0s to 7days"
        );
        let none = parse(&format!("{policy}change_window = \"0s\"\n")).unwrap();
        assert_eq!(none.guard.window, Duration::ZERO);
    }

    #[test]
    fn the_lifecycle_table_is_read_and_checked_with_its_place() {
        let base = "[source]\nkind = \"ec2\"\n[policy]\nplugin = \"p\"\n[lifecycle]\n";
        let settings = parse(&format!(
            "{base}leave_on_stop = true\non_leave = [\"/usr/local/bin/drain\", \"--now\"]\n\
             on_leave_timeout = \"2m\"\ncomplete_lifecycle_hook = \"drain\"\n\
             heartbeat_every = \"30s\"\npoll_every = \"2s\"\n"
        ))
        .unwrap();
        let lifecycle = &settings.lifecycle;
        assert!(lifecycle.leave_on_stop);
        assert_eq!(
            lifecycle
                .on_leave
                .as_ref()
                .map(|command| command.argv().to_vec()),
            Some(vec!["/usr/local/bin/drain".to_owned(), "--now".to_owned()])
        );
        assert_eq!(lifecycle.on_leave_timeout, Duration::from_secs(120));
        assert_eq!(
            lifecycle
                .complete_lifecycle_hook
                .as_ref()
                .map(|hook| hook.as_str()),
            Some("drain")
        );
        assert_eq!(lifecycle.heartbeat_every, Duration::from_secs(30));
        assert_eq!(lifecycle.poll_every, Duration::from_secs(2));
        let defaults = parse("[source]\nkind = \"ec2\"\n[policy]\nplugin = \"p\"\n").unwrap();
        assert_eq!(
            defaults.lifecycle,
            crate::settings::LifecycleSettings::default()
        );

        for (line, expected) in [
            (
                "on_leave = []",
                "/etc/rollcall/rollcall.toml:6:12: expected a command",
            ),
            (
                "complete_lifecycle_hook = \"a b\"",
                "/etc/rollcall/rollcall.toml:6:27: \"a b\" is not a lifecycle hook name",
            ),
            (
                "on_leave_timeout = \"3h\"",
                "/etc/rollcall/rollcall.toml: lifecycle.on_leave_timeout = 3h is out of range",
            ),
            (
                "leave_on_stpo = true",
                "/etc/rollcall/rollcall.toml:6:1: unknown field `leave_on_stpo`",
            ),
        ] {
            let err = parse(&format!("{base}{line}\n")).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{line}: {err}");
        }
    }

    #[test]
    fn the_events_table_is_read_beside_a_snapshot() {
        let source = "[source]\nkind = \"ec2\"\nsnapshot = \"s3://fleet-bucket/rollcall\"\n\
                      [policy]\nplugin = \"p\"\n";
        let settings = parse(&format!(
            "{source}[events]\nqueue = \"{QUEUE}\"\nendpoint_url = \"http://127.0.0.1:4566\"\n"
        ))
        .unwrap();
        assert_eq!(
            settings.events,
            Some(crate::settings::EventsSettings {
                queue: QUEUE.parse().unwrap(),
                endpoint_url: Some("http://127.0.0.1:4566".to_owned()),
            })
        );
        let bare = parse(&format!("{source}[events]\nqueue = \"{QUEUE}\"\n")).unwrap();
        assert_eq!(bare.events.unwrap().endpoint_url, None);
        assert_eq!(parse(source).unwrap().events, None);
    }

    const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/rollcall-events";

    #[test]
    fn a_bad_events_table_names_its_place() {
        let shared = "[source]\nkind = \"ec2\"\nsnapshot = \"s3://fleet-bucket/rollcall\"\n\
                      [policy]\nplugin = \"p\"\n[events]\n";
        for (text, expected) in [
            (
                format!("{shared}queue = \"sqs.us-east-1.amazonaws.com/1/q\"\n"),
                "/etc/rollcall/rollcall.toml:7:9: \"sqs.us-east-1.amazonaws.com/1/q\" is not an \
                 http:// or https:// URL; expected an SQS queue URL, e.g. \
                 https://sqs.us-east-1.amazonaws.com/123456789012/rollcall-events",
            ),
            (
                format!("{shared}queue = \"https://sqs.us-east-1.amazonaws.com/\"\n"),
                "/etc/rollcall/rollcall.toml:7:9: \"https://sqs.us-east-1.amazonaws.com/\" \
                 names no queue (its path is empty)",
            ),
            (
                format!("{shared}queue = \"{QUEUE}\"\nendpoint_url = \"localhost:4566\"\n"),
                "/etc/rollcall/rollcall.toml:8:16: \"localhost:4566\" is not an http:// or \
                 https:// URL; expected an endpoint URL",
            ),
            (
                format!("{shared}queue = \"{QUEUE}\"\nqueue_url = \"x\"\n"),
                "/etc/rollcall/rollcall.toml:8:1: unknown field `queue_url`",
            ),
            (
                format!("{shared}endpoint_url = \"http://127.0.0.1:4566\"\n"),
                "/etc/rollcall/rollcall.toml:6:1: missing field `queue`",
            ),
            (
                format!(
                    "[source]\nkind = \"ec2\"\n[policy]\nplugin = \"p\"\n\n[events]\n\
                     queue = \"{QUEUE}\"\n"
                ),
                "/etc/rollcall/rollcall.toml:6:1: [events] needs the fleet's snapshot, which \
                 events refresh: add source.snapshot = \"s3://BUCKET/PREFIX\" to the EC2 source",
            ),
            (
                format!(
                    "[source]\nkind = \"file\"\npath = \"f.json\"\n[policy]\nplugin = \"p\"\n\
                     [events]\nqueue = \"{QUEUE}\"\n"
                ),
                "/etc/rollcall/rollcall.toml:6:1: [events] needs the fleet's snapshot",
            ),
        ] {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text}\n{err}");
        }
    }

    #[test]
    fn unknown_keys_are_named_with_their_place() {
        let err = parse("[source]\nkind = \"file\"\npath = \"f.json\"\nrefresh = \"5s\"\n[policy]\nplugin = \"p.wasm\"\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/rollcall/rollcall.toml:4:1: unknown field `refresh`, expected `path`"
        );
        let err = parse(
            "refesh = \"5s\"\n[source]\nkind = \"file\"\npath = \"f\"\n[policy]\nplugin = \"p\"\n",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/etc/rollcall/rollcall.toml:1:1: unknown field `refesh`"),
            "{err}"
        );
        let err = parse("[source]\nkind = \"s3\"\n[policy]\nplugin = \"p\"\n").unwrap_err();
        assert!(
            err.to_string().contains(":2:8: unknown variant `s3`"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let base = "[source]\nkind = \"ec2\"\n";
        for (extra, expected) in [
            (
                "filters = [\"state=running\"]\n[policy]\nplugin = \"p\"\n",
                "source.filters",
            ),
            (
                "page_size = 2\n[policy]\nplugin = \"p\"\n",
                "source.page_size = 2 is out of range: it must be from 5 to 1000",
            ),
            (
                "max_attempts = 4294967295\n[policy]\nplugin = \"p\"\n",
                "source.max_attempts = 4294967295 is out of range",
            ),
            (
                "attempt_timeout = \"500000000000years\"\n[policy]\nplugin = \"p\"\n",
                "source.attempt_timeout = 500000000000years is out of range",
            ),
            ("imds = false\n[policy]\nplugin = \"p\"\n", ""),
        ] {
            let result = parse(&format!("{base}{extra}"));
            if expected.is_empty() {
                assert_eq!(result.unwrap().own, SelfChoice::Nobody);
            } else {
                let err = result.unwrap_err();
                assert!(err.to_string().contains(expected), "{err}");
            }
        }
        let err = parse("refresh = \"soon\"\n[source]\nkind = \"ec2\"\n[policy]\nplugin = \"p\"\n")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/etc/rollcall/rollcall.toml:1:11:"),
            "{err}"
        );
        let err = parse("[source]\nkind = \"file\"\npath = \"f\"\n[policy]\nplugin = \"p\"\nsettings = {}\nsettings_file = \"s.json\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("keep one"), "{err}");
    }

    const ACCOUNTS: &str = r#"[source]
kind = "ec2"
regions = ["us-east-1", "eu-west-1"]

[[source.accounts]]
role_arn = "arn:aws:iam::111111111111:role/rollcall-reader"
external_id = "fleet-7"

[[source.accounts]]
role_arn = "arn:aws:iam::222222222222:role/rollcall-reader"
session_name = "rollcall-prod"
regions = ["ap-south-1"]

[policy]
plugin = "p.wasm"
"#;

    #[test]
    fn accounts_are_read_with_their_roles_ids_and_regions() {
        let settings = parse(ACCOUNTS).unwrap();
        let SourceSettings::Ec2 { ec2, .. } = &settings.source else {
            panic!("an EC2 source");
        };
        assert_eq!(ec2.accounts.len(), 2);
        let [first, second] = &ec2.accounts[..] else {
            unreachable!()
        };
        assert_eq!(first.account(), "111111111111");
        assert_eq!(first.external_id.as_deref(), Some("fleet-7"));
        assert_eq!(first.session_name, "rollcall");
        assert!(first.regions.is_empty(), "the source's regions");
        assert_eq!(second.session_name, "rollcall-prod");
        assert_eq!(second.regions, ["ap-south-1"]);
    }

    /// Each bad account entry, and where its error must point.
    #[test]
    fn bad_accounts_are_refused_at_the_line_and_column_they_were_written() {
        for (from, to, expected) in [
            (
                "arn:aws:iam::222222222222:role/rollcall-reader",
                "arn:aws:iam::2222:role/rollcall-reader",
                ":10:12: \"arn:aws:iam::2222:role/rollcall-reader\": \"2222\" is not an account id",
            ),
            ("[\"ap-south-1\"]", "[\"ap-moon-1\"]", ":12:12:"),
            (
                "arn:aws:iam::222222222222:role/rollcall-reader",
                "arn:aws:iam::111111111111:role/other",
                ":10:12: account 111111111111 is named twice",
            ),
            (
                "regions = [\"us-east-1\", \"eu-west-1\"]",
                "regions = [\"us-east-1\", \"eu-west-1\"]\nexternal_id = \"fleet-7\"",
                ":4:1: unknown field `external_id`",
            ),
        ] {
            assert!(ACCOUNTS.contains(from), "{from}");
            let text = ACCOUNTS.replacen(from, to, 1);
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.starts_with("/etc/rollcall/rollcall.toml:") && err.contains(expected),
                "{to}: {err}"
            );
        }
        let err = parse(&ACCOUNTS.replace("ap-south-1", "ap-moon-1")).unwrap_err();
        assert!(err.to_string().contains("is not an AWS region"), "{err}");
    }

    /// `[source]` below other settings (as in most files): its bad values
    /// are still found where they were written, not at its header.
    #[test]
    fn bad_account_values_are_placed_where_written_when_source_is_not_the_first_line() {
        let below = format!("refresh = \"10s\"\n{ACCOUNTS}");
        for (from, to, expected) in [
            (
                "arn:aws:iam::222222222222:role/rollcall-reader",
                "arn:aws:iam::2222:role/rollcall-reader",
                ":11:12: \"arn:aws:iam::2222:role/rollcall-reader\": \"2222\" is not an account id",
            ),
            (
                "[\"ap-south-1\"]",
                "[\"ap-moon-1\"]",
                ":13:12: \"ap-moon-1\" is not an AWS region",
            ),
            (
                "arn:aws:iam::222222222222:role/rollcall-reader",
                "arn:aws:iam::111111111111:role/other",
                ":11:12: account 111111111111 is named twice",
            ),
            (
                "regions = [\"us-east-1\", \"eu-west-1\"]",
                "regions = [\"us-east-1\", \"eu-west-1\"]\nexternal_id = \"fleet-7\"",
                ":5:1: unknown field `external_id`",
            ),
        ] {
            let text = below.replacen(from, to, 1);
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.starts_with("/etc/rollcall/rollcall.toml:") && err.contains(expected),
                "{to}: {err}"
            );
        }
    }
}
