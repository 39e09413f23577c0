//! `rollcall watch`: settings from the configuration file and flags, the
//! daemon, its HTTP API, and a clean exit on SIGTERM/SIGINT.

use super::{EXIT_POLICY, EXIT_USAGE, Failure};
use crate::changes::EventLog;
use crate::cli::WatchArgs;
use crate::config::{
    Config, ConfigError, DEFAULT_REFRESH, FileFormat, PluginSettings, SinkConfig, SourceSettings,
    WatchSettings,
};
use crate::daemon::connections::ConnectionLimits;
use crate::daemon::http::{self, HttpState};
use crate::daemon::limits;
use crate::daemon::metrics::Metrics;
use crate::daemon::open_files;
use crate::daemon::reload::BuildError;
use crate::daemon::service::Daemon;
use crate::daemon::status::Status;
use crate::identity::SelfChoice;
use crate::inventory::Ec2Settings;
use crate::overrides::InvalidSetting;
use crate::paths;
use crate::policy::PolicyLimits;
use std::sync::Arc;
use tokio::sync::watch;

/// How many change events `/v1/events` remembers.
const EVENT_HISTORY: usize = 256;

pub async fn run(args: WatchArgs) -> Result<(), Failure> {
    let settings = watch_settings(&args).map_err(|err| Failure::new(EXIT_USAGE, err.0))?;
    let open_file_limit = open_files::raise_to_hard_limit();
    let listener = match settings.listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .map_err(|err| {
                    Failure::new(EXIT_USAGE, format!("cannot listen on {address}: {err}"))
                })?,
        ),
        None => None,
    };

    let (status, status_reader) = watch::channel(Status::new(settings.stale_after));
    let events = Arc::new(EventLog::new(EVENT_HISTORY));
    let metrics = Arc::new(Metrics::new());
    let loader_args = args.clone();
    let daemon = Daemon::start(
        Box::new(move || watch_settings(&loader_args)),
        status,
        Arc::clone(&events),
        Arc::clone(&metrics),
        args.cache.cache(),
    )
    .await
    .map_err(|err| start_failure(err, &settings.plugin_settings))?;
    tracing::info!(plugin = %settings.plugin.display(), refresh = ?settings.refresh, listen = ?settings.listen, "Watching.");

    let (stop, stopping) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_termination().await;
        tracing::info!("Stopping.");
        let _ = stop.send(true);
    });
    let server = listener.map(|listener| {
        let mut stopping = stopping.clone();
        let state = HttpState {
            status: status_reader,
            events,
            metrics,
        };
        let limits = ConnectionLimits {
            header_read_timeout: limits::HEADER_READ_TIMEOUT,
            max_connections: limits::connection_cap(open_file_limit),
            shutdown_deadline: limits::HTTP_SHUTDOWN_DEADLINE,
        };
        tokio::spawn(http::serve(listener, state, limits, async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }))
    });
    daemon.run(stopping).await;
    if let Some(server) = server {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "The HTTP API stopped with an error."),
            Err(err) => tracing::warn!(error = %err, "The HTTP API task failed."),
        }
    }
    Ok(())
}

async fn wait_for_termination() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut terminate), Ok(mut interrupt)) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn start_failure(err: BuildError, plugin_settings: &PluginSettings) -> Failure {
    match err {
        BuildError::Config(err) => Failure::new(EXIT_USAGE, err.0),
        BuildError::Source(err) => err.into(),
        BuildError::Policy(err) => plugin_settings.explain_rejection(err).into(),
        BuildError::Engine(message) => Failure::new(EXIT_POLICY, message),
    }
}

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
