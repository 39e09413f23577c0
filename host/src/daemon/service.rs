//! The watch loop: refresh on a jittered interval, reload when files change
//! or on SIGHUP, publish every change, and keep the last good answer through
//! every failure.
//!
//! The loop owns all mutable state; readers (HTTP, metrics) see it through
//! the `Status` watch channel and the event log. Sinks run off the loop
//! ([`Publisher`]): the loop leaves each answer for them and goes on. On
//! shutdown, a fetch or a decision in flight is abandoned; every sink
//! finishes the publication in flight and the one waiting (each within its
//! own time limit).
//!
//! systemd hears of it all through the [`Notifier`]: ready once the first
//! answer reached every sink, the status after every refresh, reloads, the
//! watchdog from this loop (and the work it drives), and the stop.
//!
//! Self's own word on its lifecycle ([`OwnStatus`], from IMDS) is written
//! over the fleet before each decision and over every answer served; when
//! self's leave becomes certain (or the daemon is stopped with
//! `leave_on_stop`), the leave ([`super::leave`]) starts once, and a stop
//! waits for it.

use super::baseline::LargestAnswer;
use super::decide::decide;
use super::leave::{Departure, Leave};
use super::leave_parts;
use super::own_status::OwnStatus;

use super::metrics::{Metrics, Reloaded};
use super::notify::Notifier;
use super::publisher::{Delivered, Publisher, Reports};
use super::reload::{
    self, Active, BuildError, Judging, ReloadOutcome, Serving, SettingsLoader, Trial,
};
use super::status::{Decided, Failure, Status};
use super::watcher::{FileWatcher, Signal, watch};
use crate::changes::EventLog;
use crate::inventory::Inventory;
use crate::membership::{Membership, rfc3339};
use crate::policy::PolicyEngine;
use crate::settings::{ChangeGuard, Format, SelfChoice, SinkConfig, SourceSettings, WatchSettings};
use crate::sink::Sink;
use prometheus_client::metrics::counter::Counter;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch as watch_channel};

/// Wait after a file event for the writer to finish before reloading.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// First retry delay after a failed refresh; doubles up to the interval.
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// While a leave finishes on stopping, systemd's stop timeout is extended
/// by this much, every half of it: a leave that hangs past its own limit
/// still ends, and systemd then stops waiting within this.
const STOP_EXTENDED_BY: Duration = Duration::from_secs(30);

pub struct Daemon {
    loader: SettingsLoader,
    engine: PolicyEngine,
    active: Active,
    /// The fleet of the last successful fetch.
    fleet: Option<Arc<Inventory>>,
    /// The answer served, as published (stale or not).
    current: Option<Arc<Membership>>,
    /// The change guard's settings in effect: those of the last reload that
    /// loaded, refused or not (a reload is judged by the ones before it).
    guard: ChangeGuard,
    /// The largest answer served within the guard's window.
    largest: LargestAnswer,
    failures_in_a_row: u32,
    /// The error of the last failed refresh, logged once however often it
    /// repeats, and how many times it repeated since.
    last_failure: Option<(String, u64)>,
    status: watch_channel::Sender<Status>,
    events: Arc<EventLog>,
    metrics: Arc<Metrics>,
    signals: (mpsc::Sender<Signal>, mpsc::Receiver<Signal>),
    watcher: Option<FileWatcher>,
    /// The tasks publishing to the active sinks.
    publisher: Publisher,
    /// Publishers of sinks a reload replaced, finishing what they had.
    retired: Vec<Publisher>,
    /// True while the active sinks, new from a reload, have been handed no
    /// answer: the next answer goes to them even if it changed nothing (a
    /// mended template, a new file sink).
    sinks_unfed: bool,
    /// Tells systemd (if it runs the daemon) how it is doing.
    notifier: Notifier,
    /// The first answer, while sinks still have it: systemd hears the
    /// daemon is ready when they are done.
    first_delivery: Option<Delivered>,
    /// Self's own word on its lifecycle.
    own_status: OwnStatus,
    /// Self's leave, once started.
    departure: Departure,
}

/// How the fleet behind an answer relates to the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fleet {
    /// Fetched just now: the answer is current.
    Fetched,
    /// The fleet the daemon already had, decided again (by a new policy):
    /// as current, or as stale, as that fleet is.
    Kept,
}

/// What one refresh came to, before anything is published.
enum Refreshed {
    Answer {
        membership: Box<Membership>,
        inventory: Arc<Inventory>,
        fetch: Duration,
        evaluation: Duration,
    },
    Failed {
        error: String,
        fetch: Duration,
    },
}

impl Daemon {
    /// Loads the settings, the source and the policy. Fails only on what a
    /// person must fix; an unreachable source is a failed refresh later.
    pub async fn start(
        loader: SettingsLoader,
        extra_sinks: Vec<Arc<dyn Sink>>,
        status: watch_channel::Sender<Status>,
        events: Arc<EventLog>,
        metrics: Arc<Metrics>,
        cache: Option<crate::policy::CompiledCache>,
        notifier: Notifier,
    ) -> Result<Daemon, BuildError> {
        let settings = loader()?;
        let engine = PolicyEngine::new()
            .map_err(|err| BuildError::Engine(format!("{err:#}")))?
            .with_cache(cache);
        let active = Active::build(settings, extra_sinks, &engine, &metrics.counting()).await?;
        status.send_modify(|status| status.stale_after = active.settings.refresh.stale_after);
        let mut daemon = Daemon::new(loader, engine, active, status, events, metrics, notifier);
        if daemon.active.settings.own == SelfChoice::FromImds {
            let (known, reader) = watch_channel::channel(Default::default());
            let (pace, every) = watch_channel::channel(daemon.active.settings.lifecycle.poll_every);
            let imds = Arc::new(crate::self_lifecycle::Imds::new());
            tokio::spawn(crate::self_lifecycle::poll(imds, every, known));
            daemon.own_status = OwnStatus::from_imds(reader, pace);
        }
        daemon.rewatch();
        Ok(daemon)
    }

    /// The settings it serves with.
    pub fn settings(&self) -> &WatchSettings {
        &self.active.settings
    }

    /// A daemon serving with `active`, before its first refresh; it watches
    /// no files yet.
    fn new(
        loader: SettingsLoader,
        engine: PolicyEngine,
        active: Active,
        status: watch_channel::Sender<Status>,
        events: Arc<EventLog>,
        metrics: Arc<Metrics>,
        notifier: Notifier,
    ) -> Daemon {
        let reports = Reports {
            status: status.clone(),
            metrics: Arc::clone(&metrics),
        };
        let publisher = Publisher::start(Arc::clone(&active.sinks), &reports);
        Daemon {
            loader,
            engine,
            guard: active.settings.guard.clone(),
            active,
            fleet: None,
            current: None,
            largest: LargestAnswer::default(),
            failures_in_a_row: 0,
            last_failure: None,
            status,
            events,
            metrics,
            signals: mpsc::channel(16),
            watcher: None,
            publisher,
            retired: Vec::new(),
            sinks_unfed: false,
            notifier,
            first_delivery: None,
            own_status: OwnStatus::default(),
            departure: Departure::default(),
        }
    }

    /// Runs until `shutdown` turns true.
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
                () = first_delivered(&mut self.first_delivery) => {
                    self.first_delivery = None;
                    self.notifier.ready(&self.status.borrow());
                    tracing::debug!("The first answer reached every sink: ready.");
                    continue;
                }
                // Pinged here, and while this loop drives a reload or a
                // refresh: a loop that is not polled stops pinging.
                () = self.notifier.watchdog_due() => {
                    self.notifier.status(&self.status.borrow());
                    continue;
                }
                () = self.own_status.changed() => {
                    self.self_changed();
                    if self.own_status.leaving().is_some() {
                        // The policy hears of it now, not a refresh later.
                        next_refresh = tokio::time::Instant::now();
                    }
                    continue;
                }
                () = stopped(&mut shutdown) => break,
            };
            if signal == Signal::Reload {
                self.notifier.reloading();
                let counting = self.metrics.counting();
                let serving = self
                    .fleet
                    .as_ref()
                    .zip(self.current.as_deref())
                    .map(|(fleet, answer)| Serving { fleet, answer });
                let judging = Judging {
                    guard: &self.guard,
                    largest: &self.largest,
                };
                let outcome = tokio::select! {
                    outcome = self.notifier.alive_while(reload::prepare(&self.active, &self.loader, &self.engine, &counting, serving, judging)) => outcome,
                    () = stopped(&mut shutdown) => break,
                };
                self.settle_reload(outcome);
                self.notifier.reloaded(&self.status.borrow());
            }
            if signal == Signal::Refresh || self.current.is_none() {
                let dropped = self.metrics.counting().members_dropped;
                let refreshed = tokio::select! {
                    refreshed = self.notifier.alive_while(refresh(&mut self.active, &dropped, &self.own_status)) => refreshed,
                    () = stopped(&mut shutdown) => break,
                };
                self.settle_refresh(refreshed);
                self.notifier.status(&self.status.borrow());
                next_refresh = tokio::time::Instant::now() + self.next_delay();
            }
        }
        self.notifier.stopping();
        self.leave_before_stopping().await;
        self.finish_publishing().await;
        tracing::info!("Stopped.");
    }

    /// Self's word on its lifecycle changed: the answer served shows it at
    /// once, and a leave that became certain starts.
    fn self_changed(&mut self) {
        if let Some(current) = self.current.clone() {
            self.publish((*current).clone(), Fleet::Kept);
        }
        if self.own_status.departs() {
            self.begin_leave();
        }
    }

    /// Starts self's leave, unless it started already.
    fn begin_leave(&mut self) {
        if self.departure.started() {
            return;
        }
        let Some(leaving) = self.own_status.leaving() else {
            return;
        };
        let Some(membership) = self.current.clone() else {
            // Nothing served yet: the leave starts with the first answer.
            return;
        };
        let settings = &self.active.settings;
        let event = self
            .events
            .since(0)
            .into_iter()
            .rev()
            .find(|event| event.kind == crate::changes::ChangeKind::SelfLeaving);
        let context = leave_parts::Context {
            lifecycle: settings.lifecycle.clone(),
            source: settings.source.clone(),
            membership,
            fleet: self.fleet.clone(),
            event,
            imds: settings.own == SelfChoice::FromImds,
        };
        tracing::warn!(reason = %leaving.reason, deadline = ?leaving.deadline, "This instance is leaving: running the leave.");
        self.departure.begin(async move {
            leave_parts::prepare(context).await.run(leaving).await;
        });
    }

    /// Stopping: with `leave_on_stop`, self leaves first; a leave under way
    /// finishes (within its time limit), while systemd is asked, a little
    /// at a time, to wait for it beyond `TimeoutStopSec=`.
    async fn leave_before_stopping(&mut self) {
        if self.active.settings.lifecycle.leave_on_stop && !self.departure.started() {
            tracing::info!("Stopping with leave_on_stop: leaving first.");
            self.own_status.announce();
            self.self_changed();
        }
        if !self.departure.under_way() {
            return;
        }
        let limit = Leave::limit(self.active.settings.lifecycle.on_leave_timeout);
        let finishing = self.departure.finish(limit);
        tokio::pin!(finishing);
        loop {
            self.notifier.extend_stop(STOP_EXTENDED_BY);
            tokio::select! {
                () = &mut finishing => break,
                () = tokio::time::sleep(STOP_EXTENDED_BY / 2) => {}
            }
        }
    }

    /// Waits until every sink, retired or active, has published what it
    /// was handed.
    async fn finish_publishing(self) {
        for publisher in self.retired {
            publisher.finish().await;
        }
        self.publisher.finish().await;
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
        let (every, jitter) = self.active.settings.pace();
        next_delay(
            every,
            jitter.mul_f64(fastrand::f64()),
            self.failures_in_a_row,
        )
    }

    fn settle_refresh(&mut self, refreshed: Refreshed) {
        match refreshed {
            Refreshed::Answer {
                membership,
                inventory,
                fetch,
                evaluation,
            } => {
                self.fleet = Some(inventory);
                self.failures_in_a_row = 0;
                if let Some((error, repeats)) = self.last_failure.take() {
                    tracing::info!(%error, repeats, "Refresh succeeded again after failing.");
                }
                self.metrics
                    .refresh_succeeded(fetch, evaluation, &membership, SystemTime::now());
                self.publish(*membership, Fleet::Fetched);
                if self.own_status.departs() {
                    self.begin_leave();
                }
            }
            Refreshed::Failed { error, fetch } => self.refresh_failed(error, fetch),
        }
    }

    /// Serves the new answer; if it is the first, or differs from the last
    /// (apart from fetch time and staleness), records the changes and
    /// leaves it for every sink (the first even without a change: an empty
    /// fleet is an answer the sinks must have). An answer on a kept fleet is
    /// as stale as that fleet.
    fn publish(&mut self, mut membership: Membership, fleet: Fleet) {
        let now = SystemTime::now();
        let failure = self.status.borrow().refresh_failure.clone();
        let fresh = fleet == Fleet::Fetched;
        if !fresh && let Some(failure) = &failure {
            self.mark_stale(&mut membership, &failure.error, now);
        }
        let leaving_now = self.own_status.overlay_answer(&mut membership);
        self.metrics.member_states(&membership);
        let first = self.current.is_none();
        let mut changed = crate::changes::changes(self.current.as_deref(), &membership);
        changed.extend(leaving_now);
        let membership = Arc::new(membership);
        self.current = Some(Arc::clone(&membership));
        self.largest
            .record(&membership, tokio::time::Instant::now(), self.guard.window);
        let decided = self.fleet.clone().map(|inventory| Decided {
            inventory,
            policy: Arc::clone(&self.active.policy.policy),
            own: membership.own.as_ref().map(|own| own.instance_id.clone()),
        });
        self.status.send_modify(|status| {
            status.membership = Some(Arc::clone(&membership));
            status.decided = decided;
            if fresh {
                status.last_success = Some(now);
                status.refresh_failure = None;
            }
        });
        if changed.is_empty() && !first && !self.sinks_unfed {
            self.first_answer_out(None);
            return;
        }
        self.sinks_unfed = false;
        let at = rfc3339(now);
        let events: Vec<_> = changed
            .into_iter()
            .map(|(kind, ids)| self.events.record(at.clone(), kind, ids))
            .collect();
        for event in &events {
            tracing::info!(change = ?event.kind, instances = ?event.instance_ids, "Membership changed.");
        }
        let delivered = self.publisher.publish(&membership, &events);
        self.first_answer_out(Some(delivered));
    }

    /// After an answer went out (`delivered`, or to no sink if unchanged):
    /// the first one makes the daemon ready once the sinks are done with it.
    fn first_answer_out(&mut self, delivered: Option<Delivered>) {
        if self.notifier.is_ready() || self.first_delivery.is_some() {
            return;
        }
        match delivered {
            Some(delivered) => self.first_delivery = Some(delivered),
            None => self.notifier.ready(&self.status.borrow()),
        }
    }

    /// Marks `membership` as the last good answer while the source fails.
    fn mark_stale(&self, membership: &mut Membership, error: &str, now: SystemTime) {
        membership.inventory.stale = true;
        membership.inventory.error = Some(error.to_owned());
        membership.inventory.stale_for_seconds = self
            .status
            .borrow()
            .last_success
            .map(|success| now.duration_since(success).unwrap_or_default().as_secs());
    }

    fn refresh_failed(&mut self, error: String, fetch: Duration) {
        self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
        self.metrics.refresh_failed(fetch);
        let now = SystemTime::now();
        let stale = self.current.as_ref().map(|current| {
            let mut stale = (**current).clone();
            self.mark_stale(&mut stale, &error, now);
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
        if let Some(stale) = &stale {
            self.current = Some(Arc::clone(stale));
        }
        self.status.send_modify(|status| {
            status.refresh_failure = Some(Failure { at: now, error });
            if stale.is_some() {
                status.membership = stale;
            }
        });
    }

    /// Swaps in a candidate that worked, all of it, and publishes its
    /// answer; or records why the reload rolled back.
    fn settle_reload(&mut self, outcome: ReloadOutcome) {
        match outcome {
            ReloadOutcome::Unchanged => tracing::debug!("Nothing changed; no reload."),
            ReloadOutcome::Ready { candidate, trial } => {
                if candidate.settings.listen != self.active.settings.listen {
                    tracing::warn!(
                        "http.listen changed; the HTTP API keeps its address until a restart."
                    );
                }
                self.active = *candidate;
                self.guard = self.active.settings.guard.clone();
                self.own_status
                    .set_poll_every(self.active.settings.lifecycle.poll_every);
                self.replace_publisher();
                self.metrics.reload(Reloaded::Ok);
                self.status.send_modify(|status| {
                    status.reload_failure = None;
                    status.stale_after = self.active.settings.refresh.stale_after;
                });
                tracing::info!(plugin = %self.active.settings.plugin.display(), sha256 = %self.active.policy.sha256, "Reloaded.");
                // Watch what the new settings name before anyone sees the
                // new answer and acts on it.
                self.rewatch();
                if let Some(Trial {
                    membership,
                    inventory,
                    fetched,
                    evaluation,
                }) = trial
                {
                    match fetched {
                        Some(fetch) => {
                            let refreshed = Refreshed::Answer {
                                membership,
                                inventory,
                                fetch,
                                evaluation,
                            };
                            self.settle_refresh(refreshed);
                        }
                        None => {
                            self.fleet = Some(inventory);
                            self.publish(*membership, Fleet::Kept);
                        }
                    }
                }
                return;
            }
            ReloadOutcome::RolledBack(error) => {
                self.metrics.reload(Reloaded::RolledBack);
                tracing::error!(error = %error, "Reload failed; the running configuration keeps serving.");
                self.reload_failed(error);
            }
            ReloadOutcome::Refused { refusal, guard } => {
                self.guard = guard;
                self.metrics.reload(Reloaded::Refused);
                tracing::error!(change = %refusal.change, summary = %refusal.summary, error = %refusal, "Reload refused by the change guard; the running configuration keeps serving.");
                self.reload_failed(refusal.to_string());
            }
        }
        // Watch whatever the settings name now (a rename may have replaced
        // a watched symlink's target).
        self.rewatch();
    }

    /// Shows why the latest reload did not happen in `/healthz`.
    fn reload_failed(&self, error: String) {
        self.status.send_modify(|status| {
            status.reload_failure = Some(Failure {
                at: SystemTime::now(),
                error,
            });
        });
    }

    /// Gives new sinks tasks of their own; the old ones finish what they
    /// were handed.
    fn replace_publisher(&mut self) {
        if self.publisher.serves(&self.active.sinks) {
            return;
        }
        let reports = Reports {
            status: self.status.clone(),
            metrics: Arc::clone(&self.metrics),
        };
        let new = Publisher::start(Arc::clone(&self.active.sinks), &reports);
        self.sinks_unfed = true;
        let old = std::mem::replace(&mut self.publisher, new);
        self.retired.retain(|publisher| !publisher.is_finished());
        self.retired.push(old.retire());
    }

    fn rewatch(&mut self) {
        let settings = &self.active.settings;
        let mut files: Vec<(PathBuf, Signal)> = vec![(settings.plugin.clone(), Signal::Reload)];
        if let Some(path) = settings.plugin_settings.path() {
            files.push((path.to_owned(), Signal::Reload));
        }
        if let Some(path) = &settings.config_path {
            files.push((path.clone(), Signal::Reload));
        }
        if let SourceSettings::File(path) = &settings.source {
            files.push((path.clone(), Signal::Refresh));
        }
        for sink in &settings.sinks {
            if let SinkConfig::File {
                format: Format::Template(template),
                ..
            } = sink
            {
                files.push((template.path.clone(), Signal::Reload));
            }
        }
        // The new watches start before the old ones stop: no change made
        // meanwhile goes unseen.
        match watch(&files, self.signals.0.clone()) {
            Ok(watcher) => self.watcher = Some(watcher),
            Err(err) => tracing::warn!(error = %err, "Cannot watch files; reload with SIGHUP."),
        }
    }
}

/// Fetch and decide, self's word on itself written over the fleet;
/// nothing is published or recorded yet but the members dropped from the
/// policy's answer, counted into `dropped`.
async fn refresh(active: &mut Active, dropped: &Counter, own_status: &OwnStatus) -> Refreshed {
    let started = Instant::now();
    let fetched = active.source.fetch().await;
    let fetch = started.elapsed();
    let own = active.own.clone().flatten();
    let inventory = match fetched {
        Ok(inventory) => own_status.overlay_fleet(Arc::new(inventory), own.as_deref()),
        Err(err) => {
            return Refreshed::Failed {
                error: err.to_string(),
                fetch,
            };
        }
    };
    match decide(&active.policy.policy, &inventory, &mut active.own, dropped).await {
        Ok((membership, evaluation)) => Refreshed::Answer {
            membership: Box::new(membership),
            inventory,
            fetch,
            evaluation,
        },
        Err(error) => Refreshed::Failed { error, fetch },
    }
}

/// Resolves once the first answer's sinks are done with it; never while
/// there is none with them.
async fn first_delivered(first: &mut Option<Delivered>) {
    match first {
        Some(delivered) => delivered.wait().await,
        None => std::future::pending().await,
    }
}

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut watch_channel::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The wait before the next refresh: the interval plus `jitter` while all
/// is well; after failures, a backoff from [`FIRST_RETRY`] doubling up to
/// the interval, with at most a quarter of it in jitter.
pub fn next_delay(refresh: Duration, jitter: Duration, failures_in_a_row: u32) -> Duration {
    if failures_in_a_row == 0 {
        return refresh.saturating_add(jitter);
    }
    let doublings = (failures_in_a_row - 1).min(16);
    let backoff = FIRST_RETRY.saturating_mul(1 << doublings);
    backoff.min(refresh).saturating_add(jitter.min(backoff / 4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Instance, InventorySource, SourceError};
    use crate::policy::{Decision, Member, Policy, PolicyError, PolicyIdentity};
    use crate::settings::{PluginSettings, PolicyLimits, Refresh, SelfChoice, WatchSettings};
    use crate::sink::{Publication, Sink};
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use tokio::time::Instant as TokioInstant;

    const REFRESH: Duration = Duration::from_secs(30);

    /// A source that answers from a script (the last entry repeats) and
    /// notes when it was asked, in tokio's time.
    struct ScriptedSource {
        script: Mutex<VecDeque<Result<(), &'static str>>>,
        asked: Mutex<Vec<TokioInstant>>,
        /// How long each fetch takes.
        takes: Duration,
    }

    impl ScriptedSource {
        fn new(script: &[Result<(), &'static str>], takes: Duration) -> Arc<ScriptedSource> {
            Arc::new(ScriptedSource {
                script: Mutex::new(script.iter().copied().collect()),
                asked: Mutex::new(Vec::new()),
                takes,
            })
        }

        fn asked_after(&self, start: TokioInstant) -> Vec<f64> {
            let asked = self.asked.lock().unwrap();
            asked
                .iter()
                .map(|at| at.duration_since(start).as_secs_f64())
                .collect()
        }
    }

    #[async_trait::async_trait]
    impl InventorySource for ScriptedSource {
        fn describe(&self) -> String {
            "scripted".to_owned()
        }

        async fn fetch(&self) -> Result<Inventory, SourceError> {
            self.asked.lock().unwrap().push(TokioInstant::now());
            tokio::time::sleep(self.takes).await;
            let next = {
                let mut script = self.script.lock().unwrap();
                if script.len() > 1 {
                    script.pop_front()
                } else {
                    script.front().copied()
                }
            };
            match next.unwrap_or(Ok(())) {
                Ok(()) => Ok(Inventory {
                    instances: vec![instance("i-a"), instance("i-b")].into(),
                    source: self.describe(),
                    fetched_at: SystemTime::now(),
                    snapshot: None,
                    unconfirmed: Vec::new(),
                    stale_parts: Vec::new(),
                }),
                Err(error) => Err(SourceError::Unavailable(error.to_owned())),
            }
        }
    }

    fn instance(id: &str) -> Instance {
        let mut instance = Instance::running(id);
        instance.private_ipv4 = Some("10.0.0.1".to_owned());
        instance
    }

    /// Every instance an agent.
    struct Agents(PolicyIdentity);

    impl Policy for Agents {
        fn identity(&self) -> &PolicyIdentity {
            &self.0
        }

        fn decide(
            &self,
            fleet: &crate::inventory::Fleet,
            _self_id: Option<&str>,
            _explain: Option<&str>,
        ) -> Result<Decision, PolicyError> {
            let instances = &fleet.instances();
            Ok(Decision {
                members: instances
                    .iter()
                    .map(|instance| Member {
                        instance_id: instance.id.clone(),
                        role: "agent".to_owned(),
                        clusters: Vec::new(),
                        address: instance.private_ipv4.clone(),
                        port: None,
                        labels: Default::default(),
                        status: Default::default(),
                    })
                    .collect(),
                register_with: Vec::new(),
                notes: Vec::new(),
            })
        }
    }

    /// A sink that takes `takes` to publish and counts what it finished.
    struct SlowSink {
        takes: Duration,
        finished: Arc<Mutex<usize>>,
    }

    #[async_trait::async_trait]
    impl Sink for SlowSink {
        fn describe(&self) -> String {
            "slow".to_owned()
        }

        async fn publish(&self, _publication: &Publication<'_>) -> Result<(), String> {
            tokio::time::sleep(self.takes).await;
            *self.finished.lock().unwrap() += 1;
            Ok(())
        }
    }

    fn scripted_daemon(
        source: Arc<ScriptedSource>,
        sinks: Vec<Box<dyn Sink>>,
    ) -> (Daemon, watch_channel::Receiver<Status>) {
        let settings = WatchSettings {
            source: SourceSettings::File("unused.json".into()),
            own: SelfChoice::Nobody,
            refresh: Refresh {
                jitter: Duration::ZERO,
                ..Refresh::every(REFRESH)
            },
            absent_grace: 0,
            plugin: "agents.wasm".into(),
            plugin_settings: PluginSettings::Inline("{}".to_owned()),
            limits: PolicyLimits::default(),
            guard: ChangeGuard::default(),
            sinks: Vec::new(),
            listen: None,
            lifecycle: Default::default(),
            events: None,
            config_path: None,
        };
        let loaded = settings.clone();
        let active = Active {
            settings,
            extra_sinks: Vec::new(),
            source,
            policy: reload::ActivePolicy {
                policy: Arc::new(Agents(PolicyIdentity {
                    path: "agents.wasm".into(),
                    sha256: "0".repeat(64),
                })),
                sha256: "0".repeat(64),
                settings: "{}".to_owned(),
                limits: PolicyLimits::default(),
            },
            sinks: sinks.into(),
            own: Some(None),
        };
        let (status, reader) = watch_channel::channel(Status::new(REFRESH * 3));
        let daemon = Daemon::new(
            Box::new(move || Ok(loaded.clone())),
            PolicyEngine::new().unwrap(),
            active,
            status,
            Arc::new(EventLog::new(16)),
            Arc::new(Metrics::new()),
            Notifier::recording(None).0,
        );
        (daemon, reader)
    }

    fn stale(status: &watch_channel::Receiver<Status>) -> Option<bool> {
        let status = status.borrow();
        status
            .membership
            .as_ref()
            .map(|membership| membership.inventory.stale)
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_backs_off_marks_the_answer_stale_and_recovers() {
        let source = ScriptedSource::new(
            &[Ok(()), Err("down"), Err("down"), Err("down"), Ok(())],
            Duration::ZERO,
        );
        let (daemon, status) = scripted_daemon(Arc::clone(&source), Vec::new());
        let (stop, stopping) = watch_channel::channel(false);
        let start = TokioInstant::now();
        let running = tokio::spawn(daemon.run(stopping));

        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(stale(&status), Some(false), "the first answer");
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(stale(&status), Some(true), "kept, marked stale");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(stale(&status), Some(false), "fresh again");
        // At once, then the interval; after the failure at 30 s, retries
        // 0.5 s, 1 s and 2 s apart; then the interval again.
        assert_eq!(
            source.asked_after(start),
            [0.0, 30.0, 30.5, 31.5, 33.5],
            "when the source was asked"
        );

        stop.send(true).unwrap();
        running.await.unwrap();
    }

    /// Runs `daemon`, asks it to stop after a second, and says how long
    /// it took to stop, in tokio's time.
    async fn stopped_after_a_second(daemon: Daemon) -> Duration {
        let (stop, stopping) = watch_channel::channel(false);
        let start = TokioInstant::now();
        let running = tokio::spawn(daemon.run(stopping));
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.send(true).unwrap();
        running.await.unwrap();
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_abandons_a_fetch_but_finishes_a_publication() {
        // A publication of 5 s under way when the stop comes: finished.
        let finished = Arc::new(Mutex::new(0));
        let sink = SlowSink {
            takes: Duration::from_secs(5),
            finished: Arc::clone(&finished),
        };
        let source = ScriptedSource::new(&[Ok(())], Duration::ZERO);
        let (daemon, _status) = scripted_daemon(source, vec![Box::new(sink)]);
        assert_eq!(stopped_after_a_second(daemon).await, Duration::from_secs(5));
        assert_eq!(*finished.lock().unwrap(), 1, "the publication finished");

        // A fetch of a minute under way when the stop comes: abandoned.
        let source = ScriptedSource::new(&[Ok(())], Duration::from_secs(60));
        let (daemon, status) = scripted_daemon(source, Vec::new());
        assert_eq!(stopped_after_a_second(daemon).await, Duration::from_secs(1));
        assert_eq!(stale(&status), None, "nothing was published");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_sink_delays_no_refresh() {
        // A sink that takes a minute on the first answer: the refreshes go
        // on every 30 s (the loop used to wait, and ask again at 90 s).
        let finished = Arc::new(Mutex::new(0));
        let sink = SlowSink {
            takes: Duration::from_secs(60),
            finished: Arc::clone(&finished),
        };
        let source = ScriptedSource::new(&[Ok(())], Duration::ZERO);
        let (daemon, status) = scripted_daemon(Arc::clone(&source), vec![Box::new(sink)]);
        let (stop, stopping) = watch_channel::channel(false);
        let start = TokioInstant::now();
        let running = tokio::spawn(daemon.run(stopping));
        tokio::time::sleep(Duration::from_secs(95)).await;
        assert_eq!(source.asked_after(start), [0.0, 30.0, 60.0, 90.0]);
        assert_eq!(stale(&status), Some(false));
        assert_eq!(*finished.lock().unwrap(), 1, "one change, one publication");
        stop.send(true).unwrap();
        running.await.unwrap();
    }

    /// A fleet with no instances at all.
    struct EmptyFleet;

    #[async_trait::async_trait]
    impl InventorySource for EmptyFleet {
        fn describe(&self) -> String {
            "empty".to_owned()
        }

        async fn fetch(&self) -> Result<Inventory, SourceError> {
            Ok(Inventory {
                instances: Vec::new().into(),
                source: self.describe(),
                fetched_at: SystemTime::now(),
                snapshot: None,
                unconfirmed: Vec::new(),
                stale_parts: Vec::new(),
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_answer_reaches_the_sinks_even_when_the_fleet_is_empty() {
        // An empty first answer has no changes; the sinks used to get
        // nothing (no --output file) and systemd heard READY=1 at once.
        let finished = Arc::new(Mutex::new(0));
        let sink = SlowSink {
            takes: Duration::from_secs(1),
            finished: Arc::clone(&finished),
        };
        let (mut daemon, _status) = scripted_daemon(
            ScriptedSource::new(&[Ok(())], Duration::ZERO),
            vec![Box::new(sink)],
        );
        daemon.active.source = Arc::new(EmptyFleet);
        let (notifier, record) = Notifier::recording(None);
        daemon.notifier = notifier;
        let (stop, stopping) = watch_channel::channel(false);
        let running = tokio::spawn(daemon.run(stopping));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            milestones(&record).is_empty(),
            "ready before the sink had it"
        );
        tokio::time::sleep(Duration::from_secs(70)).await;
        assert_eq!(milestones(&record), ["READY=1"]);
        assert_eq!(
            *finished.lock().unwrap(),
            1,
            "the first answer, and no other"
        );
        stop.send(true).unwrap();
        running.await.unwrap();
    }

    /// The first field of each datagram, but for watchdog pings and bare
    /// status updates.
    fn milestones(record: &Mutex<Vec<String>>) -> Vec<String> {
        record
            .lock()
            .unwrap()
            .iter()
            .filter(|datagram| *datagram != "WATCHDOG=1" && !datagram.starts_with("STATUS="))
            .map(|datagram| datagram.lines().next().unwrap_or_default().to_owned())
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn systemd_hears_ready_once_the_sinks_have_the_first_answer() {
        // The first fetch fails at 1 s, the retry answers at 2.5 s, the
        // sink takes 5 s with it: ready at 7.5 s, not before.
        let finished = Arc::new(Mutex::new(0));
        let sink = SlowSink {
            takes: Duration::from_secs(5),
            finished: Arc::clone(&finished),
        };
        let source = ScriptedSource::new(&[Err("down"), Ok(())], Duration::from_secs(1));
        let (mut daemon, _status) = scripted_daemon(source, vec![Box::new(sink)]);
        let (notifier, record) = Notifier::recording(Some(Duration::from_secs(4)));
        daemon.notifier = notifier;
        let reload = daemon.signals.0.clone();
        let (stop, stopping) = watch_channel::channel(false);
        let running = tokio::spawn(daemon.run(stopping));

        tokio::time::sleep(Duration::from_millis(7400)).await;
        assert!(
            milestones(&record).is_empty(),
            "{:?}",
            record.lock().unwrap()
        );
        let sent = record.lock().unwrap().clone();
        assert!(
            sent[0].starts_with("STATUS=no answer yet: refresh failed"),
            "{sent:?}"
        );
        assert!(
            sent.iter()
                .any(|datagram| datagram.starts_with("STATUS=2 members, answer"))
        );
        assert_eq!(
            sent.iter()
                .filter(|datagram| *datagram == "WATCHDOG=1")
                .count(),
            3,
            "every 2 s, the one at 2 s during a fetch: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(milestones(&record), ["READY=1"]);
        assert_eq!(*finished.lock().unwrap(), 1);

        // A reload (it fails: there is no agents.wasm) is announced and
        // ends in READY=1 again; the stop says STOPPING=1.
        reload.send(Signal::Reload).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.send(true).unwrap();
        running.await.unwrap();
        assert_eq!(
            milestones(&record),
            ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]
        );
    }

    #[test]
    fn failures_back_off_from_half_a_second_up_to_the_interval() {
        let refresh = Duration::from_secs(30);
        let delays: Vec<Duration> = (0..9)
            .map(|failures| next_delay(refresh, Duration::ZERO, failures))
            .collect();
        let seconds: Vec<f64> = delays.iter().map(Duration::as_secs_f64).collect();
        assert_eq!(seconds, [30.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]);
        // Jitter stays below a quarter of the backoff after a failure.
        assert_eq!(
            next_delay(refresh, Duration::from_secs(3), 1),
            Duration::from_millis(625)
        );
        assert_eq!(
            next_delay(refresh, Duration::from_secs(3), 0),
            Duration::from_secs(33)
        );
        assert_eq!(
            next_delay(refresh, Duration::ZERO, u32::MAX),
            refresh,
            "no overflow however long the outage"
        );
    }
}
