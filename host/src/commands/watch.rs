//! `rollcall watch`: the daemon, its HTTP API, and a clean exit on
//! SIGTERM/SIGINT.

use super::{EXIT_POLICY, EXIT_USAGE, Failure};
use crate::atomic_file::check_writable;
use crate::daemon::notify::Notifier;
use crate::daemon::{Watch, WatchError, limits, open_files};
use crate::settings::{PluginSettings, SinkConfig, WatchArgs, WatchSettings};

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
    let cache = args.cache.cache();
    let mut watch = Watch::new(Box::new(move || WatchSettings::from_flags(&args)))
        .cache(cache)
        .notify(Notifier::from_env());
    if let Some(address) = settings.listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|err| {
                Failure::new(EXIT_USAGE, format!("cannot listen on {address}: {err}"))
            })?;
        watch = watch.serve(listener, limits::connection_limits(open_file_limit));
    }
    watch
        .run(async {
            wait_for_termination().await;
            tracing::info!("Stopping.");
        })
        .await
        .map_err(|err| start_failure(err, &settings.plugin_settings))
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

fn start_failure(err: WatchError, plugin_settings: &PluginSettings) -> Failure {
    match err {
        WatchError::Config(message) => Failure::new(EXIT_USAGE, message),
        WatchError::Source(err) => err.into(),
        WatchError::Policy(err) => err.explained_by(plugin_settings).into(),
        WatchError::Engine(message) => Failure::new(EXIT_POLICY, message),
    }
}
