//! The settings `rollcall watch` runs with: the configuration file's, with
//! the flags' applied over them.

use crate::cli::WatchArgs;
use crate::config::{
    Config, ConfigError, DEFAULT_REFRESH, FileFormat, PluginSettings, SinkConfig, SourceSettings,
    WatchSettings,
};
use crate::daemon::guard::ChangeGuard;
use crate::identity::SelfChoice;
use crate::inventory::Ec2Settings;
use crate::overrides::InvalidSetting;
use crate::paths;
use crate::policy::PolicyLimits;

/// The configuration file (if any) with every flag given applied on top.
pub fn watch_settings(args: &WatchArgs) -> Result<WatchSettings, ConfigError> {
    let mut settings = match &args.config {
        Some(path) => Config::load(path)?.settings(path)?,
        None => {
            let plugin = args.plugin.clone().ok_or_else(|| {
                ConfigError("rollcall watch needs --plugin, or --config naming one".to_owned())
            })?;
            let source = match &args.source.inventory {
                Some(path) => SourceSettings::File(path.clone()),
                None => SourceSettings::Ec2(Ec2Settings::default()),
            };
            WatchSettings {
                own: SelfChoice::Nobody,
                source,
                refresh: DEFAULT_REFRESH,
                jitter: DEFAULT_REFRESH / 10,
                stale_after: DEFAULT_REFRESH * 3,
                plugin,
                plugin_settings: PluginSettings::Inline("{}".to_owned()),
                limits: PolicyLimits::default(),
                guard: ChangeGuard::default(),
                sinks: Vec::new(),
                listen: None,
                config_path: None,
            }
        }
    };

    if let Some(path) = &args.source.inventory {
        settings.source = SourceSettings::File(path.clone());
    } else if !args.source.ec2.is_empty() || args.config.is_none() {
        let base = match &settings.source {
            SourceSettings::Ec2(ec2) => ec2.clone(),
            SourceSettings::File(_) => Ec2Settings::default(),
        };
        let ec2 = args.source.ec2.apply_to(base).map_err(flag_error)?;
        settings.source = SourceSettings::Ec2(ec2);
    }
    if let SourceSettings::Ec2(ec2) = &mut settings.source
        && args.identity.no_imds
    {
        ec2.region_from_imds = false;
    }
    let reading_ec2 = matches!(settings.source, SourceSettings::Ec2(_));
    if args.identity.self_id.is_some() || args.config.is_none() {
        settings.own = args.identity.choice(reading_ec2);
    } else if settings.own == SelfChoice::FromImds && (args.identity.no_imds || !reading_ec2) {
        settings.own = SelfChoice::Nobody;
    }
    if let Some(refresh) = args.refresh {
        settings.refresh = refresh;
        settings.jitter = refresh / 10;
        settings.stale_after = refresh * 3;
    }
    if let Some(plugin) = &args.plugin {
        settings.plugin = plugin.clone();
    }
    if let Some(value) = &args.plugin_config {
        settings.plugin_settings = PluginSettings::from_flag(value)?;
        settings.plugin_settings.load()?;
    }
    settings.limits = args.limits.apply_to(settings.limits).map_err(flag_error)?;
    if let Some(path) = &args.output {
        settings.sinks.push(SinkConfig::File {
            path: path.clone(),
            format: FileFormat::Json,
        });
    }
    if let Some(listen) = args.listen {
        settings.listen = Some(listen);
    }
    normalise_watched_paths(&mut settings);
    Ok(settings)
}

fn flag_error(err: InvalidSetting) -> ConfigError {
    ConfigError(err.of_flag())
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
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
    /// the text of FILE: through [`watch_settings`], the one place where the
    /// flags meet the file.
    fn watch(config: Option<&str>, flags: &[&str]) -> Result<WatchSettings, ConfigError> {
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
        watch_settings(&args)
    }

    fn ec2(settings: &WatchSettings) -> &Ec2Settings {
        match &settings.source {
            SourceSettings::Ec2(ec2) => ec2,
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
        let settings = watch(Some(FILE_SOURCE), &["--regions", "a,b"]).unwrap();
        assert_eq!(
            ec2(&settings),
            &Ec2Settings {
                regions: vec!["a".into(), "b".into()],
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

    #[test]
    fn the_file_is_checked_whole_before_the_flags_apply() {
        let file = EC2_SOURCE.replace("time_limit = \"500ms\"", "time_limit = \"1h\"");
        let err = watch(Some(&file), &["--policy-time-limit", "1s"]).unwrap_err();
        assert!(
            err.0.ends_with(
                "rollcall.toml: policy.time_limit = 1h is out of range: it must be from 10ms to 5m"
            ),
            "{err}"
        );
    }
}
