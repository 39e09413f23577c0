//! The one door into the daemon: `rollcall watch` and [`crate::watch`] both
//! describe the daemon they want with [`Watch`] and run it.
//!
//! The builder owns what lives beside the loop: the status channel its
//! readers see, the recent change events, the metrics, the HTTP API's task,
//! and the bridge from the caller's shutdown to the loop and the server.

use super::connections::ConnectionLimits;
use super::explain_limit::ExplainLimit;
use super::http::{self, HttpState};
use super::limits;
use super::metrics::Metrics;
use super::notify::Notifier;
use super::reload::{BuildError, SettingsLoader};
use super::service::Daemon;
use super::status::Status;
use crate::changes::EventLog;
use crate::inventory::SourceError;
use crate::policy::{CompiledCache, PolicyError};
use crate::settings::Refresh;
use crate::sink::Sink;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch as watch_channel;

/// How many change events `/v1/events` remembers.
const EVENT_HISTORY: usize = 256;

/// Why a daemon could not start: what a person must fix (an unreachable
/// source is not this: the daemon starts and retries).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The configuration file is missing or wrong (`file:line:column`).
    #[error("{0}")]
    Config(String),
    /// The source could not be set up (an unreachable EC2 is not this: the
    /// daemon starts and retries).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The policy did not load.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The WebAssembly engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

impl From<BuildError> for WatchError {
    fn from(err: BuildError) -> Self {
        match err {
            BuildError::Config(err) => WatchError::Config(err.to_string()),
            BuildError::Source(err) => WatchError::Source(err),
            BuildError::Policy(err) => WatchError::Policy(err),
            BuildError::Engine(message) => WatchError::Engine(message),
        }
    }
}

/// A daemon to run: its settings (read again on every reload), and what
/// it has besides them.
pub struct Watch {
    settings: SettingsLoader,
    cache: Option<CompiledCache>,
    notifier: Notifier,
    server: Option<(TcpListener, ConnectionLimits)>,
    extra_sinks: Vec<Arc<dyn Sink>>,
}

impl Watch {
    /// A daemon of `settings`, without a compiled-policy cache, an HTTP
    /// API, or a word to systemd.
    pub fn new(settings: SettingsLoader) -> Watch {
        Watch {
            settings,
            cache: None,
            notifier: Notifier::off(),
            server: None,
            extra_sinks: Vec::new(),
        }
    }

    /// Compiled policies are kept in (and read from) `cache`.
    pub fn cache(mut self, cache: Option<CompiledCache>) -> Watch {
        self.cache = cache;
        self
    }

    /// systemd (or whoever `notifier` tells) hears how the daemon is doing.
    pub fn notify(mut self, notifier: Notifier) -> Watch {
        self.notifier = notifier;
        self
    }

    /// Serves the HTTP API on `listener`, its connections held to `limits`,
    /// until the daemon stops.
    pub fn serve(mut self, listener: TcpListener, limits: ConnectionLimits) -> Watch {
        self.server = Some((listener, limits));
        self
    }

    /// Publishes to `extra` too, after the sinks the settings name: a sink
    /// of the program's own, kept across reloads.
    pub fn sink(mut self, extra: Arc<dyn Sink>) -> Watch {
        self.extra_sinks.push(extra);
        self
    }

    /// Starts the daemon and runs it until `shutdown` completes; then the
    /// HTTP API finishes what it has in flight (within its deadline) and
    /// every sink the publication it was handed. Fails only on what a
    /// person must fix at start: the settings, the policy, the source's
    /// settings.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), WatchError> {
        // Daemon::start sets the stale age the settings give.
        let (status, status_reader) =
            watch_channel::channel(Status::new(Refresh::default().stale_after));
        let events = Arc::new(EventLog::new(EVENT_HISTORY));
        let metrics = Arc::new(Metrics::new());
        let daemon = Daemon::start(
            self.settings,
            self.extra_sinks,
            status,
            Arc::clone(&events),
            Arc::clone(&metrics),
            self.cache,
            self.notifier,
        )
        .await?;
        let settings = daemon.settings();
        tracing::info!(plugin = %settings.plugin.display(), refresh = ?settings.refresh, listen = ?settings.listen, "Watching.");

        let (stop, stopping) = watch_channel::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let server = self.server.map(|(listener, limits)| {
            let mut stopping = stopping.clone();
            let state = HttpState {
                status: status_reader,
                events,
                metrics,
                explanations: ExplainLimit::new(
                    limits::EXPLANATIONS_AT_ONCE,
                    limits::EXPLANATION_WAIT,
                ),
                graphs: Default::default(),
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
}
