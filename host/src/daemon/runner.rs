//! The watch loop: refresh on a jittered interval, reload when files change
//! or on SIGHUP, publish changes, and keep the last good answer through every
//! failure.
//!
//! The loop owns all mutable state; readers (HTTP, metrics) see it through
//! the `Status` watch channel and the event log.

use super::events::{EventLog, changes};
use super::metrics::Metrics;
use super::status::{Failure, Status};
use super::watcher::{FileWatcher, Signal, watch};
use crate::config::{ConfigError, SourceSettings, WatchSettings};
use crate::identity::{SelfChoice, instance_id_from_imds};
use crate::inventory::{Ec2Source, FileSource, Inventory, InventorySource};
use crate::membership::{Membership, rfc3339};
use crate::policy::{PolicyEngine, PolicyLimits, WasmPolicy};
use crate::resolve::resolve;
use crate::sink::{Publication, Sink};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch as watch_channel};

/// Re-reads the settings (configuration file and flags) for a reload.
pub type SettingsLoader = Box<dyn Fn() -> Result<WatchSettings, ConfigError> + Send + Sync>;

/// Wait after a file event for the writer to finish before reloading.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// First retry delay after a failed refresh; doubles up to the interval.
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// The policy in service, with what it was built from.
struct ActivePolicy {
    policy: Arc<WasmPolicy>,
    sha256: String,
    settings: String,
    limits: crate::policy::PolicyLimits,
}

pub struct Daemon {
    loader: SettingsLoader,
    engine: PolicyEngine,
    settings: WatchSettings,
    source: Arc<dyn InventorySource>,
    policy: ActivePolicy,
    sinks: Vec<Box<dyn Sink>>,
    /// Self once known; `None` inside while IMDS has not answered yet.
    own: Option<Option<String>>,
    last_inventory: Option<Arc<Inventory>>,
    current: Option<Arc<Membership>>,
    failures_in_a_row: u32,
    /// The error of the last failed refresh, logged once however often it
    /// repeats, and how many times it repeated since.
    last_failure: Option<(String, u64)>,
    status: watch_channel::Sender<Status>,
    events: Arc<EventLog>,
    metrics: Arc<Metrics>,
    signals: (mpsc::Sender<Signal>, mpsc::Receiver<Signal>),
    watcher: Option<FileWatcher>,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Source(#[from] crate::inventory::SourceError),
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

impl Daemon {
    /// Loads the settings, the source and the policy. Fails only on what a
    /// person must fix; an unreachable source is a failed refresh later.
    pub async fn start(
        loader: SettingsLoader,
        status: watch_channel::Sender<Status>,
        events: Arc<EventLog>,
        metrics: Arc<Metrics>,
        cache: Option<crate::policy::CompiledCache>,
    ) -> Result<Daemon, StartError> {
        let settings = loader()?;
        let engine = PolicyEngine::new()
            .map_err(|err| StartError::Engine(format!("{err:#}")))?
            .with_cache(cache);
        let policy = load_policy(&engine, &settings).await?;
        let source = open_source(&settings.source).await?;
        let sinks = settings.sinks.iter().map(crate::sink::build).collect();
        let own = known_self(&settings.own);
        status.send_modify(|status| status.stale_after = settings.stale_after);
        let mut daemon = Daemon {
            loader,
            engine,
            settings,
            source,
            policy,
            sinks,
            own,
            last_inventory: None,
            current: None,
            failures_in_a_row: 0,
            last_failure: None,
            status,
            events,
            metrics,
            signals: mpsc::channel(16),
            watcher: None,
        };
        daemon.rewatch();
        Ok(daemon)
    }

    /// Runs until `shutdown` turns true. Work in progress (a sink write) is
    /// finished; a fetch in flight is abandoned.
    pub async fn run(mut self, mut shutdown: watch_channel::Receiver<bool>) {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(signal) => Some(signal),
            Err(err) => {
                tracing::warn!(error = %err, "Cannot listen for SIGHUP; reload on file changes only.");
                None
            }
        };
        let mut next_refresh = tokio::time::Instant::now();
        loop {
            let signal = tokio::select! {
                _ = tokio::time::sleep_until(next_refresh) => Signal::Refresh,
                Some(signal) = self.signals.1.recv() => self.debounced(signal).await,
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    tracing::info!("SIGHUP: reloading.");
                    Signal::Reload
                }
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            if signal == Signal::Reload {
                self.reload().await;
            }
            if signal == Signal::Refresh || self.current.is_none() {
                tokio::select! {
                    () = self.refresh() => {}
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
                next_refresh = tokio::time::Instant::now() + self.next_delay();
            }
        }
        tracing::info!("Stopped.");
    }

    /// Waits out a burst of file events; a reload covers a refresh.
    async fn debounced(&mut self, first: Signal) -> Signal {
        tokio::time::sleep(DEBOUNCE).await;
        let mut strongest = first;
        while let Ok(signal) = self.signals.1.try_recv() {
            strongest = strongest.max(signal);
        }
        strongest
    }

    fn next_delay(&self) -> Duration {
        let jitter = self.settings.jitter.mul_f64(fastrand::f64());
        if self.failures_in_a_row == 0 {
            return self.settings.refresh + jitter;
        }
        let doublings = (self.failures_in_a_row - 1).min(16);
        let backoff = FIRST_RETRY.saturating_mul(1 << doublings);
        backoff.min(self.settings.refresh) + jitter.min(backoff / 4)
    }

    /// Fetch, decide, validate, publish if changed; on any failure keep the
    /// last good answer and mark it stale.
    async fn refresh(&mut self) {
        let started = Instant::now();
        let fetched = self.source.fetch().await;
        let fetch_time = started.elapsed();
        let inventory = match fetched {
            Ok(inventory) => Arc::new(inventory),
            Err(err) => return self.refresh_failed(err.to_string(), fetch_time),
        };
        self.last_inventory = Some(Arc::clone(&inventory));
        let policy = Arc::clone(&self.policy.policy);
        match self.decide(policy, &inventory).await {
            Ok((membership, evaluation)) => {
                self.failures_in_a_row = 0;
                if let Some((error, repeats)) = self.last_failure.take() {
                    tracing::info!(%error, repeats, "Refresh succeeded again after failing.");
                }
                self.metrics.refresh_succeeded(
                    fetch_time,
                    evaluation,
                    &membership,
                    SystemTime::now(),
                );
                self.publish(membership).await;
            }
            Err(err) => self.refresh_failed(err, fetch_time),
        }
    }

    /// Self (asking IMDS if it has not answered yet), then the policy.
    async fn decide(
        &mut self,
        policy: Arc<WasmPolicy>,
        inventory: &Arc<Inventory>,
    ) -> Result<(Membership, Duration), String> {
        let own = match &self.own {
            Some(own) => own.clone(),
            None => {
                let id = instance_id_from_imds().await?;
                tracing::info!(instance = %id, "Self from IMDS.");
                self.own = Some(Some(id.clone()));
                Some(id)
            }
        };
        let started = Instant::now();
        let membership = resolve(Arc::clone(inventory), policy, own)
            .await
            .map_err(|err| err.to_string())?;
        Ok((membership, started.elapsed()))
    }

    /// Serves the new answer; if it differs from the last, records the
    /// changes and hands it to every sink.
    async fn publish(&mut self, membership: Membership) {
        let now = SystemTime::now();
        let changed = changes(self.current.as_deref(), &membership);
        let membership = Arc::new(membership);
        self.current = Some(Arc::clone(&membership));
        self.status.send_modify(|status| {
            status.membership = Some(Arc::clone(&membership));
            status.last_success = Some(now);
            status.refresh_failure = None;
        });
        if changed.is_empty() {
            return;
        }
        let at = rfc3339(now);
        let events: Vec<_> = changed
            .into_iter()
            .map(|(kind, ids)| self.events.record(at.clone(), kind, ids))
            .collect();
        for event in &events {
            tracing::info!(change = ?event.kind, instances = ?event.instance_ids, "Membership changed.");
        }
        let publication = Publication {
            membership: &membership,
            changes: &events,
        };
        for sink in &self.sinks {
            if let Err(err) = sink.publish(&publication).await {
                tracing::warn!(sink = %sink.describe(), error = %err, "Sink failed; the next change is published to it again.");
            }
        }
    }

    fn refresh_failed(&mut self, error: String, fetch_time: Duration) {
        self.failures_in_a_row += 1;
        self.metrics.refresh_failed(fetch_time);
        let now = SystemTime::now();
        let stale = self.current.as_ref().map(|current| {
            let mut stale = (**current).clone();
            stale.inventory.stale = true;
            stale.inventory.error = Some(error.clone());
            stale.inventory.stale_for_seconds = self
                .status
                .borrow()
                .last_success
                .map(|success| now.duration_since(success).unwrap_or_default().as_secs());
            Arc::new(stale)
        });
        if stale.is_some() {
            self.metrics.set_stale(true);
        }
        let serving = if stale.is_some() {
            "last good answer"
        } else {
            "nothing yet"
        };
        match &mut self.last_failure {
            Some((last, repeats)) if *last == error => {
                *repeats += 1;
                tracing::debug!(
                    failures_in_a_row = self.failures_in_a_row,
                    repeats = *repeats,
                    "Refresh failed again the same way."
                );
            }
            last => {
                if let Some((previous, repeats)) = last.take()
                    && repeats > 0
                {
                    tracing::info!(error = %previous, repeats, "The previous refresh failure repeated.");
                }
                tracing::warn!(error = %error, failures_in_a_row = self.failures_in_a_row, serving, "Refresh failed; the same failure again is logged at debug level only.");
                *last = Some((error.clone(), 0));
            }
        }
        self.status.send_modify(|status| {
            status.refresh_failure = Some(Failure { at: now, error });
            if stale.is_some() {
                status.membership = stale;
            }
        });
    }

    /// Builds the new configuration and policy beside the running ones; only
    /// if everything loads and decides the current fleet does it swap in.
    async fn reload(&mut self) {
        match self.try_reload().await {
            Ok(Reloaded::Swapped(trial)) => {
                self.metrics.reload(true);
                self.status
                    .send_modify(|status| status.reload_failure = None);
                // Watch what the new settings name before anyone sees the
                // new answer and acts on it.
                self.rewatch();
                if let Some(membership) = trial {
                    self.publish(*membership).await;
                }
                return;
            }
            Ok(Reloaded::Unchanged) => tracing::debug!("Nothing changed; no reload."),
            Err(error) => {
                self.metrics.reload(false);
                tracing::error!(error = %error, "Reload failed; the running policy keeps serving.");
                self.status.send_modify(|status| {
                    status.reload_failure = Some(Failure {
                        at: SystemTime::now(),
                        error,
                    });
                });
            }
        }
        // Watch whatever the settings name now (a rename may have replaced
        // a watched symlink's target).
        self.rewatch();
    }

    async fn try_reload(&mut self) -> Result<Reloaded, String> {
        let settings = (self.loader)().map_err(|err| err.to_string())?;
        let files = PolicyFiles::read(&settings)
            .await
            .map_err(|err| err.to_string())?;
        let policy_changed = settings.plugin != self.settings.plugin
            || files.sha256 != self.policy.sha256
            || files.settings != self.policy.settings
            || settings.limits != self.policy.limits;
        if !policy_changed && settings == self.settings {
            return Ok(Reloaded::Unchanged);
        }

        let active = if policy_changed {
            build_policy(&self.engine, &settings, files)
                .await
                .map_err(|err| err.to_string())?
        } else {
            files.into_active(Arc::clone(&self.policy.policy), settings.limits)
        };
        let policy = Arc::clone(&active.policy);
        let source = if settings.source != self.settings.source {
            Some(
                open_source(&settings.source)
                    .await
                    .map_err(|err| err.to_string())?,
            )
        } else {
            None
        };
        if settings.own != self.settings.own {
            self.own = known_self(&settings.own);
        }
        let trial = match &self.last_inventory {
            Some(inventory) if source.is_none() => Some(
                self.decide(Arc::clone(&policy), &Arc::clone(inventory))
                    .await
                    .map_err(|err| format!("the new policy fails on the current fleet: {err}"))?,
            ),
            _ => None,
        };

        if settings.listen != self.settings.listen {
            tracing::warn!("http.listen changed; the HTTP API keeps its address until a restart.");
        }
        self.policy = active;
        if let Some(source) = source {
            self.source = source;
        }
        self.sinks = settings.sinks.iter().map(crate::sink::build).collect();
        self.status
            .send_modify(|status| status.stale_after = settings.stale_after);
        self.settings = settings;
        tracing::info!(plugin = %self.settings.plugin.display(), sha256 = %self.policy.sha256, "Reloaded.");
        Ok(Reloaded::Swapped(
            trial.map(|(membership, _)| Box::new(membership)),
        ))
    }

    fn rewatch(&mut self) {
        let mut files: Vec<(PathBuf, Signal)> =
            vec![(self.settings.plugin.clone(), Signal::Reload)];
        if let Some(path) = self.settings.plugin_settings.path() {
            files.push((path.to_owned(), Signal::Reload));
        }
        if let Some(path) = &self.settings.config_path {
            files.push((path.clone(), Signal::Reload));
        }
        if let SourceSettings::File(path) = &self.settings.source {
            files.push((path.clone(), Signal::Refresh));
        }
        // The new watches start before the old ones stop: no change made
        // meanwhile goes unseen.
        match watch(&files, self.signals.0.clone()) {
            Ok(watcher) => self.watcher = Some(watcher),
            Err(err) => tracing::warn!(error = %err, "Cannot watch files; reload with SIGHUP."),
        }
    }
}

/// What a reload did.
enum Reloaded {
    Unchanged,
    /// The new settings and policy are in service; their answer on the
    /// current fleet, if there is one, is still to be published.
    Swapped(Option<Box<Membership>>),
}

/// The policy's files as they are now: the plugin, read into memory (a
/// watched file is never mapped), its hash, and its settings.
struct PolicyFiles {
    bytes: Vec<u8>,
    sha256: String,
    settings: String,
}

impl PolicyFiles {
    async fn read(settings: &WatchSettings) -> Result<PolicyFiles, StartError> {
        let bytes = tokio::fs::read(&settings.plugin).await.map_err(|source| {
            crate::policy::PolicyError::Unreadable {
                path: settings.plugin.clone(),
                source,
            }
        })?;
        Ok(PolicyFiles {
            sha256: crate::policy::sha256_hex(&bytes),
            settings: settings.plugin_settings.load()?,
            bytes,
        })
    }

    /// The files as the active policy's record, for an unchanged `policy`.
    fn into_active(self, policy: Arc<WasmPolicy>, limits: PolicyLimits) -> ActivePolicy {
        ActivePolicy {
            policy,
            sha256: self.sha256,
            settings: self.settings,
            limits,
        }
    }
}

async fn load_policy(
    engine: &PolicyEngine,
    settings: &WatchSettings,
) -> Result<ActivePolicy, StartError> {
    let files = PolicyFiles::read(settings).await?;
    build_policy(engine, settings, files).await
}

/// Compiles and checks the policy off the async workers.
async fn build_policy(
    engine: &PolicyEngine,
    settings: &WatchSettings,
    files: PolicyFiles,
) -> Result<ActivePolicy, StartError> {
    let engine = engine.clone();
    let path = settings.plugin.clone();
    let limits = settings.limits;
    let PolicyFiles {
        bytes,
        sha256,
        settings: json,
    } = files;
    let settings_json = json.clone();
    let policy = tokio::task::spawn_blocking(move || {
        engine.load_bytes(&path, &bytes, &settings_json, limits)
    })
    .await
    .map_err(|err| StartError::Engine(format!("policy loading stopped unexpectedly: {err}")))??;
    Ok(ActivePolicy {
        policy: Arc::new(policy),
        sha256,
        settings: json,
        limits,
    })
}

async fn open_source(
    settings: &SourceSettings,
) -> Result<Arc<dyn InventorySource>, crate::inventory::SourceError> {
    Ok(match settings {
        SourceSettings::File(path) => Arc::new(FileSource::new(path)),
        SourceSettings::Ec2(ec2) => Arc::new(Ec2Source::connect(ec2.clone()).await?),
    })
}

/// Self when it needs no question to IMDS.
fn known_self(choice: &SelfChoice) -> Option<Option<String>> {
    match choice {
        SelfChoice::Given(id) => Some(Some(id.clone())),
        SelfChoice::Nobody => Some(None),
        SelfChoice::FromImds => None,
    }
}
