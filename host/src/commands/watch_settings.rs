//! The settings `rollcall watch` runs with: the configuration file's, with
//! the flags' applied over them.

use crate::cli::WatchArgs;
use crate::config::{
    Config, ConfigError, DEFAULT_REFRESH, FileFormat, PluginSettings, SinkConfig, SourceSettings,
    WatchSettings,
};
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
