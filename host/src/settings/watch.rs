//! Everything `rollcall watch` runs with: its flags, the configuration
//! file's settings, and the one place where the flags are applied over the
//! file.

use super::file::{Config, SinkConfig, SourceConfig};
use super::overrides::{InvalidSetting, PolicyLimitOverrides, checked};
use super::policy::CacheArgs;
use super::ranges;
use super::{
    ChangeGuard, Conflict, DEFAULT_CHANGE_WINDOW, Ec2Settings, EventsSettings, Format,
    LifecycleSettings, PluginSettings, PolicyLimits, QueueUrl, Refresh, SelfArgs, SelfChoice,
    SettingsError, SourceArgs, SourceSettings, TemplateFile,
};
use crate::paths;
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default grace: an instance missing from a listing without a sign
/// that it ended stays a member for one more listing.
pub const DEFAULT_ABSENT_GRACE: u32 = 1;

/// `rollcall watch`'s flags.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Configuration file (TOML, see README); flags given beside it override
    /// its values. Watched: edits are reloaded.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub identity: SelfArgs,

    /// The policy plugin (required without --config). Watched: a new file
    /// is loaded beside the running one and swapped in only if it works and
    /// passes the change guard, which also counts drops against the largest
    /// answer served within the last hour, [policy] change_window (README
    /// "Hot reload").
    #[arg(long, value_name = "FILE.wasm", help_heading = "Policy")]
    pub plugin: Option<PathBuf>,

    /// The policy's own settings: a JSON document, or @FILE (watched).
    #[arg(long, value_name = "JSON|@FILE", help_heading = "Policy")]
    pub plugin_config: Option<String>,

    #[command(flatten)]
    pub limits: PolicyLimitOverrides,

    #[command(flatten)]
    pub cache: CacheArgs,

    /// How often to fetch the fleet [default: 30s]; also sets the jitter to a
    /// tenth and the stale age to three times this.
    #[arg(long, value_name = "DURATION", value_parser = ranges::REFRESH.parser(), help_heading = "Daemon")]
    pub refresh: Option<Duration>,

    /// How many more listings an instance that drops out of the listing
    /// without a sign that it ended (terminated, leaving, terminating in
    /// Auto Scaling) stays a member, marked unconfirmed, before it leaves
    /// [default: 1; 0 takes every listing as it is].
    #[arg(long, value_name = "LISTINGS", value_parser = clap::value_parser!(u32).range(ranges::ABSENT_GRACE.range.clone()), help_heading = "Daemon")]
    pub absent_grace: Option<u32>,

    /// Write the membership document here (atomically) on every change.
    #[arg(long, value_name = "FILE", help_heading = "Daemon")]
    pub output: Option<PathBuf>,

    /// When the daemon is stopped (SIGTERM, Ctrl-C), leave first as when
    /// EC2 or Auto Scaling says this instance is going: tell the sinks,
    /// run [lifecycle] on_leave, write the leave marker, complete the
    /// lifecycle hook; then stop ([lifecycle] leave_on_stop).
    #[arg(long, help_heading = "Daemon")]
    pub leave_on_stop: bool,

    /// Serve the HTTP API (/ a picture of the fleet, /v1/membership,
    /// /v1/graph, /v1/prometheus-sd, /v1/explain/ID, /v1/events, /healthz,
    /// /metrics) on this address, e.g. 127.0.0.1:7878.
    #[arg(long, value_name = "ADDR", help_heading = "Daemon")]
    pub listen: Option<SocketAddr>,

    /// The SQS queue an EventBridge rule sends the fleet's EC2 and Auto
    /// Scaling events to, so that the snapshot is refreshed within seconds
    /// of a change; needs --snapshot ([events] queue; README "Events").
    #[arg(long, value_name = "URL", help_heading = "Daemon")]
    pub events_queue: Option<QueueUrl>,
}

/// Everything `rollcall watch` runs with, from a config file, flags, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchSettings {
    pub source: SourceSettings,
    pub own: SelfChoice,
    pub refresh: Refresh,
    /// Listings a missing instance stays for ([`crate::inventory::GraceSource`]).
    pub absent_grace: u32,
    pub plugin: PathBuf,
    pub plugin_settings: PluginSettings,
    pub limits: PolicyLimits,
    /// The change guard on reloads of the policy.
    pub guard: ChangeGuard,
    pub sinks: Vec<SinkConfig>,
    pub listen: Option<SocketAddr>,
    /// How this node leaves the fleet.
    pub lifecycle: LifecycleSettings,
    /// Where the fleet's events arrive, if they do: only beside the
    /// fleet's snapshot, which they refresh.
    pub events: Option<EventsSettings>,
    /// The configuration file, watched for changes; `None` with flags only.
    pub config_path: Option<PathBuf>,
}

impl WatchSettings {
    /// How often the daemon refreshes, and the most jitter on it: every
    /// refresh interval, or every snapshot poll when the fleet's snapshot
    /// has one (the fleet is still listed once per refresh interval; a
    /// poll reads the head, a 304 when nothing changed).
    pub fn pace(&self) -> (Duration, Duration) {
        let poll = match &self.source {
            SourceSettings::Ec2 {
                snapshot: Some(snapshot),
                ..
            } => snapshot.poll,
            _ => None,
        };
        match poll {
            Some(poll) => (poll, self.refresh.jitter.min(poll / 10)),
            None => (self.refresh.every, self.refresh.jitter),
        }
    }

    /// The settings of the configuration file `config`, read from `origin`,
    /// checked.
    pub fn from_file(config: &Config, origin: &Path) -> Result<WatchSettings, SettingsError> {
        let invalid = |setting: InvalidSetting| SettingsError::Invalid {
            origin: origin.to_owned(),
            setting,
        };
        let conflict = |conflict| SettingsError::Conflict {
            origin: origin.to_owned(),
            conflict,
        };
        let duration = |setting, value| checked(setting, value).map_err(invalid);
        let source = match &config.source {
            SourceConfig::File { path } => SourceSettings::File(path.clone()),
            SourceConfig::Ec2(overrides) => SourceSettings::Ec2 {
                ec2: overrides
                    .apply_to(Ec2Settings::default())
                    .map_err(invalid)?,
                snapshot: overrides.apply_snapshot(None).map_err(invalid)?,
            },
        };
        let own = SelfChoice::read(config.own.as_deref(), source.imds_allowed())
            .map_err(|_| conflict(Conflict::SelfFromImdsWithoutImds))?;
        let policy = &config.policy;
        let plugin_settings = match (&policy.written_settings, &policy.settings_file) {
            (Some(_), Some(_)) => return Err(conflict(Conflict::PluginSettingsTwice)),
            (Some(table), None) => PluginSettings::Table(table.clone()),
            (None, Some(path)) => PluginSettings::File(path.clone()),
            (None, None) => PluginSettings::Inline("{}".to_owned()),
        };
        let limits = policy
            .limits()
            .apply_to(PolicyLimits::default())
            .map_err(invalid)?;
        let guard = ChangeGuard {
            max_change: policy.max_change.unwrap_or_default(),
            accept_change: policy.accept_change.clone(),
            window: duration(&ranges::CHANGE_WINDOW, policy.change_window)?
                .unwrap_or(DEFAULT_CHANGE_WINDOW),
        };
        for sink in &config.sinks {
            match sink {
                SinkConfig::Exec { timeout, .. } => {
                    duration(&ranges::EXEC_TIMEOUT, Some(*timeout))?;
                }
                SinkConfig::Route53(route53) => {
                    duration(&ranges::ROUTE53_TTL, Some(route53.ttl))?;
                }
                _ => {}
            }
        }
        let every = duration(&ranges::REFRESH, config.refresh)?.unwrap_or(Refresh::DEFAULT_EVERY);
        let derived = Refresh::every(every);
        let refresh = Refresh {
            every,
            jitter: duration(&ranges::JITTER, config.jitter)?.unwrap_or(derived.jitter),
            stale_after: duration(&ranges::STALE_AFTER, config.stale_after)?
                .unwrap_or(derived.stale_after),
        };
        let absent_grace = checked(&ranges::ABSENT_GRACE, config.absent_grace)
            .map_err(invalid)?
            .map_or(DEFAULT_ABSENT_GRACE, |grace| grace as u32);
        let events = match &config.events {
            Some(_) if !source.is_shared() => {
                let (line, column) = config.events_at.unwrap_or((1, 1));
                return Err(SettingsError::Syntax {
                    path: origin.to_owned(),
                    line,
                    column,
                    message: "[events] needs the fleet's snapshot, which events refresh: add \
                              source.snapshot = \"s3://BUCKET/PREFIX\" to the EC2 source"
                        .to_owned(),
                });
            }
            Some(table) => Some(table.get_ref().settings()),
            None => None,
        };
        let mut sinks = config.sinks.clone();
        for sink in &mut sinks {
            if let SinkConfig::File {
                format: Format::Template(template),
                ..
            } = sink
            {
                *template = TemplateFile::read(&template.path)?;
            }
        }
        Ok(WatchSettings {
            source,
            own,
            refresh,
            absent_grace,
            plugin: policy.plugin.clone(),
            plugin_settings,
            limits,
            guard,
            sinks,
            listen: config.http.as_ref().map(|http| http.listen),
            lifecycle: match &config.lifecycle {
                Some(table) => table.apply().map_err(invalid)?,
                None => LifecycleSettings::default(),
            },
            events,
            config_path: Some(origin.to_owned()),
        })
    }

    /// What `rollcall watch` runs with: the configuration file (if any) with
    /// every flag given applied on top.
    pub fn from_flags(args: &WatchArgs) -> Result<WatchSettings, SettingsError> {
        let mut settings = match &args.config {
            Some(path) => WatchSettings::from_file(&Config::load(path)?, path)?,
            None => WatchSettings {
                own: SelfChoice::Nobody,
                source: match &args.source.inventory {
                    Some(path) => SourceSettings::File(path.clone()),
                    None => SourceSettings::Ec2 {
                        ec2: Ec2Settings::default(),
                        snapshot: None,
                    },
                },
                refresh: Refresh::default(),
                absent_grace: DEFAULT_ABSENT_GRACE,
                plugin: args.plugin.clone().ok_or(SettingsError::Usage(
                    "rollcall watch needs --plugin, or --config naming one",
                ))?,
                plugin_settings: PluginSettings::Inline("{}".to_owned()),
                limits: PolicyLimits::default(),
                guard: ChangeGuard::default(),
                sinks: Vec::new(),
                listen: None,
                lifecycle: LifecycleSettings::default(),
                events: None,
                config_path: None,
            },
        };

        if let Some(path) = &args.source.inventory {
            settings.source = SourceSettings::File(path.clone());
        } else if !args.source.ec2.is_empty() || args.config.is_none() {
            let (ec2, snapshot) = match &settings.source {
                SourceSettings::Ec2 { ec2, snapshot } => (ec2.clone(), snapshot.clone()),
                SourceSettings::File(_) => (Ec2Settings::default(), None),
            };
            let flags = &args.source.ec2;
            settings.source = SourceSettings::Ec2 {
                ec2: flags.apply_to(ec2).map_err(SettingsError::Flag)?,
                snapshot: flags
                    .apply_snapshot(snapshot)
                    .map_err(SettingsError::Flag)?,
            };
        }
        if let SourceSettings::Ec2 { ec2, .. } = &mut settings.source
            && args.identity.no_imds
        {
            ec2.region_from_imds = false;
        }
        if args.identity.self_id.is_some() || args.config.is_none() {
            settings.own = args.identity.choice(&settings.source)?;
        } else if settings.own == SelfChoice::FromImds && !settings.source.imds_allowed() {
            settings.own = SelfChoice::Nobody;
        }
        if let Some(every) = args.refresh {
            settings.refresh = Refresh::every(every);
        }
        if let Some(grace) = args.absent_grace {
            settings.absent_grace = grace;
        }
        if let Some(plugin) = &args.plugin {
            settings.plugin = plugin.clone();
        }
        if let Some(value) = &args.plugin_config {
            settings.plugin_settings = PluginSettings::from_flag(value)?;
            settings.plugin_settings.load()?;
        }
        settings.limits = args
            .limits
            .apply_to(settings.limits)
            .map_err(SettingsError::Flag)?;
        if let Some(path) = &args.output {
            settings.sinks.push(SinkConfig::File {
                path: path.clone(),
                format: super::Format::Json,
            });
        }
        if args.leave_on_stop {
            settings.lifecycle.leave_on_stop = true;
        }
        if let Some(listen) = args.listen {
            settings.listen = Some(listen);
        }
        if let Some(queue) = &args.events_queue {
            let endpoint_url = settings
                .events
                .take()
                .and_then(|events| events.endpoint_url);
            settings.events = Some(EventsSettings {
                queue: queue.clone(),
                endpoint_url,
            });
        }
        if settings.events.is_some() && !settings.source.is_shared() {
            return Err(SettingsError::Usage(if args.events_queue.is_some() {
                "--events-queue needs the fleet's snapshot, which events refresh: add \
                 --snapshot s3://BUCKET/PREFIX"
            } else {
                "the configuration's [events] needs the fleet's snapshot, which events \
                 refresh, and the flags name a source without one"
            }));
        }
        normalise_watched_paths(&mut settings);
        Ok(settings)
    }
}

/// The files the daemon watches, as [`paths::normalised`]: a `..` in a
/// path would otherwise hide a symlink swap from the watcher, and the
/// membership document shows the plugin's path as watched.
fn normalise_watched_paths(settings: &mut WatchSettings) {
    settings.plugin = paths::normalised(&settings.plugin);
    if let PluginSettings::File(path) = &mut settings.plugin_settings {
        *path = paths::normalised(path);
    }
    if let SourceSettings::File(path) = &mut settings.source {
        *path = paths::normalised(path);
    }
    if let Some(path) = &mut settings.config_path {
        *path = paths::normalised(path);
    }
    for sink in &mut settings.sinks {
        if let SinkConfig::File {
            format: Format::Template(template),
            ..
        } = sink
        {
            template.path = paths::normalised(&template.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::flags::{Cli, Command};
    use clap::Parser;
    use std::time::Duration;

    const EC2_SOURCE: &str = r#"
[source]
kind = "ec2"
regions = ["us-east-1", "eu-west-1"]
filters = ["Name=instance-state-name,Values=running"]
page_size = 100
connect_timeout = "1s"
max_attempts = 3

[policy]
plugin = "p.wasm"
time_limit = "500ms"
memory_limit_mib = 32
"#;

    const FILE_SOURCE: &str = "[source]\nkind = \"file\"\npath = \"fleet.json\"\n\
                             [policy]\nplugin = \"p.wasm\"\n";

    /// What `rollcall watch [--config FILE] FLAGS` runs with, `config` being
    /// the text of FILE: through [`WatchSettings::from_flags`], the one place where the
    /// flags meet the file.
    fn watch(config: Option<&str>, flags: &[&str]) -> Result<WatchSettings, SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollcall.toml");
        let mut args = vec!["rollcall", "watch"];
        if let Some(text) = config {
            std::fs::write(&path, text).unwrap();
            args.extend(["--config", path.to_str().unwrap()]);
        }
        args.extend(flags);
        let Command::Watch(args) = Cli::try_parse_from(args).unwrap().command else {
            unreachable!("a watch command")
        };
        WatchSettings::from_flags(&args)
    }

    fn ec2(settings: &WatchSettings) -> &Ec2Settings {
        match &settings.source {
            SourceSettings::Ec2 { ec2, .. } => ec2,
            SourceSettings::File(path) => panic!("the file {}, not EC2", path.display()),
        }
    }

    #[test]
    fn a_flag_beats_the_file_which_beats_the_default() {
        let settings = watch(
            Some(EC2_SOURCE),
            &[
                "--region",
                "ap-south-1",
                "--filter",
                "Name=tag:env,Values=prod",
                "--page-size",
                "50",
                "--attempt-timeout",
                "5s",
                "--policy-memory-limit",
                "16",
            ],
        )
        .unwrap();
        let source = ec2(&settings);
        let defaults = Ec2Settings::default();
        assert_eq!(source.regions, ["ap-south-1"]);
        assert_eq!(source.filters.len(), 1, "replaced, not added to");
        assert_eq!(source.filters[0].name, "tag:env");
        assert_eq!(source.page_size, 50);
        assert_eq!(source.attempt_timeout, Duration::from_secs(5));
        assert_eq!(source.connect_timeout, Duration::from_secs(1));
        assert_eq!(source.max_attempts, 3);
        assert_eq!(source.fetch_timeout, defaults.fetch_timeout);
        assert_eq!(source.profile, None);
        assert!(source.region_from_imds);
        assert_eq!(settings.limits.time, Duration::from_millis(500));
        assert_eq!(settings.limits.memory_bytes, 16 << 20);

        let unchanged = watch(Some(EC2_SOURCE), &[]).unwrap();
        assert_eq!(ec2(&unchanged).regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(ec2(&unchanged).page_size, 100);
        assert_eq!(ec2(&unchanged).attempt_timeout, defaults.attempt_timeout);
        assert_eq!(unchanged.limits.memory_bytes, 32 << 20);
    }

    #[test]
    fn without_a_file_the_flags_go_onto_the_defaults() {
        let settings = watch(None, &["--plugin", "p.wasm", "--max-attempts", "2"]).unwrap();
        assert_eq!(
            ec2(&settings),
            &Ec2Settings {
                max_attempts: 2,
                ..Ec2Settings::default()
            }
        );
        assert_eq!(settings.limits, PolicyLimits::default());
        assert_eq!(settings.own, SelfChoice::FromImds);
    }

    #[test]
    fn flags_choose_the_source_over_the_file() {
        // An EC2 flag turns a file source into EC2, on the defaults.
        let settings = watch(Some(FILE_SOURCE), &["--regions", "eu-west-1,eu-west-2"]).unwrap();
        assert_eq!(
            ec2(&settings),
            &Ec2Settings {
                regions: vec!["eu-west-1".into(), "eu-west-2".into()],
                ..Ec2Settings::default()
            }
        );
        // Without one, the file's source stays.
        let settings = watch(Some(FILE_SOURCE), &[]).unwrap();
        assert!(
            matches!(settings.source, SourceSettings::File(path) if path.ends_with("fleet.json"))
        );
        // --inventory replaces the file's EC2 source.
        let settings = watch(Some(EC2_SOURCE), &["--inventory", "other.json"]).unwrap();
        assert!(
            matches!(settings.source, SourceSettings::File(path) if path.ends_with("other.json"))
        );
    }

    #[test]
    fn no_imds_beats_the_file_and_imds_false_stays() {
        let settings = watch(Some(EC2_SOURCE), &["--no-imds"]).unwrap();
        assert!(!ec2(&settings).region_from_imds);
        assert_eq!(settings.own, SelfChoice::Nobody);
        let file = EC2_SOURCE.replace("max_attempts = 3", "max_attempts = 3\nimds = false");
        let settings = watch(Some(&file), &["--page-size", "50"]).unwrap();
        assert!(!ec2(&settings).region_from_imds);
        assert_eq!(settings.own, SelfChoice::Nobody);
        assert_eq!(
            watch(Some(EC2_SOURCE), &[]).unwrap().own,
            SelfChoice::FromImds
        );
    }

    const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/rollcall-events";

    #[test]
    fn events_queue_needs_the_snapshot_and_beats_the_files_queue() {
        let settings = watch(
            None,
            &[
                "--plugin",
                "p.wasm",
                "--snapshot",
                "s3://fleet-bucket/rollcall",
                "--events-queue",
                QUEUE,
            ],
        )
        .unwrap();
        assert_eq!(
            settings.events,
            Some(EventsSettings {
                queue: QUEUE.parse().unwrap(),
                endpoint_url: None
            })
        );
        let err = watch(None, &["--plugin", "p.wasm", "--events-queue", QUEUE]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--events-queue needs the fleet's snapshot, which events refresh: add --snapshot \
             s3://BUCKET/PREFIX"
        );

        let file = EC2_SOURCE.replace(
            "max_attempts = 3",
            "max_attempts = 3\nsnapshot = \"s3://fleet-bucket/rollcall\"",
        ) + &format!(
            "[events]\nqueue = \"{QUEUE}\"\nendpoint_url = \"http://127.0.0.1:4566\"\n"
        );
        let other = "https://sqs.eu-west-1.amazonaws.com/123456789012/other";
        let settings = watch(Some(&file), &["--events-queue", other]).unwrap();
        assert_eq!(
            settings.events,
            Some(EventsSettings {
                queue: other.parse().unwrap(),
                endpoint_url: Some("http://127.0.0.1:4566".to_owned())
            }),
            "the flag replaces the queue, the file's endpoint stays"
        );
        assert_eq!(
            watch(Some(&file), &[])
                .unwrap()
                .events
                .unwrap()
                .queue
                .as_str(),
            QUEUE
        );
        let err = watch(Some(&file), &["--inventory", "fleet.json"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the configuration's [events] needs the fleet's snapshot"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_events_queue_flag_is_refused_by_the_parser() {
        let err = Cli::try_parse_from([
            "rollcall",
            "watch",
            "--plugin",
            "p.wasm",
            "--events-queue",
            "sqs.us-east-1.amazonaws.com/1/q",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(
            err.to_string()
                .contains("is not an http:// or https:// URL"),
            "{err}"
        );
    }

    #[test]
    fn the_file_is_checked_whole_before_the_flags_apply() {
        let file = EC2_SOURCE.replace("time_limit = \"500ms\"", "time_limit = \"1h\"");
        let err = watch(Some(&file), &["--policy-time-limit", "1s"]).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "rollcall.toml: policy.time_limit = 1h is out of range: it must be from 10ms to 5m"
            ),
            "{err}"
        );
    }
}
