//! `rollcall watch`: the daemon, its HTTP API, and a clean exit on
//! SIGTERM/SIGINT.

use super::{EXIT_POLICY, EXIT_USAGE, Failure};
use crate::atomic_file::check_writable;
use crate::changes::EventLog;
use crate::daemon::connections::ConnectionLimits;
use crate::daemon::explain_limit::ExplainLimit;
use crate::daemon::http::{self, HttpState};
use crate::daemon::limits;
use crate::daemon::metrics::Metrics;
use crate::daemon::notify::Notifier;
use crate::daemon::open_files;
use crate::daemon::reload::BuildError;
use crate::daemon::service::Daemon;
use crate::daemon::status::Status;
use crate::settings::{PluginSettings, SinkConfig, WatchArgs, WatchSettings};
use std::sync::Arc;
use tokio::sync::watch;

/// How many change events `/v1/events` remembers.
const EVENT_HISTORY: usize = 256;

pub async fn run(args: WatchArgs) -> Result<(), Failure> {
    let settings = WatchSettings::from_flags(&args)?;
    for sink in &settings.sinks {
        if let SinkConfig::File { path, .. } = sink {
            check_writable(path).map_err(|err| {
                Failure::new(
                    EXIT_USAGE,
                    format!("cannot write file sink {}: {err}", path.display()),
                )
            })?;
        }
    }
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

    let (status, status_reader) = watch::channel(Status::new(settings.refresh.stale_after));
    let events = Arc::new(EventLog::new(EVENT_HISTORY));
    let metrics = Arc::new(Metrics::new());
    let loader_args = args.clone();
    let daemon = Daemon::start(
        Box::new(move || WatchSettings::from_flags(&loader_args)),
        status,
        Arc::clone(&events),
        Arc::clone(&metrics),
        args.cache.cache(),
        Notifier::from_env(),
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
            explanations: ExplainLimit::new(limits::EXPLANATIONS_AT_ONCE, limits::EXPLANATION_WAIT),
        };
        let limits = ConnectionLimits {
            header_read_timeout: limits::HEADER_READ_TIMEOUT,
            max_connections: limits::connection_cap(open_file_limit),
            reserved_connections: limits::RESERVED_CONNECTIONS,
            pressure_keep_alive: limits::PRESSURE_KEEP_ALIVE,
            eviction_grace: limits::EVICTION_GRACE,
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
        BuildError::Config(err) => err.into(),
        BuildError::Source(err) => err.into(),
        BuildError::Policy(err) => err.explained_by(plugin_settings).into(),
        BuildError::Engine(message) => Failure::new(EXIT_POLICY, message),
    }
}
