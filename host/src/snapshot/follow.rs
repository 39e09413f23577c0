//! Following EC2's events (`[events] queue`): the node holding the event
//! lease ([`super::event_lease`]) long-polls the queue, batches what
//! arrives within [`BATCH_WINDOW`], asks EC2 for just those instances by
//! id ([`Refresher`], under the source's filters), merges them into the
//! fleet of the head as stored ([`Coordinator::apply`]), and only once the
//! new head is written deletes the messages: at least once, and applying
//! an event twice changes nothing.
//!
//! - A node tries for the lease only when it has just listed EC2 for the
//!   fleet (once a period fleet-wide); a holder renews it every third of a
//!   term, and a holder that dies is replaced within two terms.
//! - An id EC2 does not return yet, for an instance launching, is asked
//!   again with the next batches ([`LAUNCH_TRIES`] times); one that is gone
//!   or outside the source's filters leaves the fleet, as the next listing
//!   would have it.
//! - Spot notices, rebalance recommendations and Auto Scaling lifecycle
//!   actions mark the instance leaving (or held) as IMDS would, and leave
//!   a leave marker for it ([`super::leaving`]), so that the next listing
//!   keeps the mark until the instance is gone, as it does for a node that
//!   announces its own leave.
//! - Events of regions the fleet does not list are ignored; a body that is
//!   not an event is deleted. A queue that is missing or denied is said
//!   once; the node lets the lease go and tries again much later, and the
//!   fleet goes on by periods.
//!
//! Counted in `rollcall_events_total{kind,outcome}`, and the age of the
//! oldest event a written head carries in `rollcall_event_lag_seconds`.

use super::coordinator::{Applied, Clock, Coordinator, Tally};
use super::event_lease::EventLease;
use super::leaving::{Marker, marker_key};
use super::store::{Condition, ObjectStore};
use crate::events::{Event, EventKind, EventQueue, Message, QueueError, parse_event};
use crate::inventory::{
    ByIds, Instance, LeaveReason, Leaving, Lifecycle, LifecycleState, SourceError,
};
use prometheus_client::encoding::EncodeLabelSet;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;

/// How long a batch gathers after its first message.
pub const BATCH_WINDOW: Duration = Duration::from_secs(1);
/// The most messages one batch takes.
const BATCH_LIMIT: usize = 100;
/// Batches an id of a launching instance is asked for before its event is
/// given up.
pub const LAUNCH_TRIES: u32 = 5;
/// How long a node waits after the queue said it is missing or denied.
const LASTING_BACKOFF: Duration = Duration::from_secs(300);
/// The longest wait after a transient queue failure.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// EC2's notice before a spot interruption.
const SPOT_NOTICE: Duration = Duration::from_secs(120);

/// `rollcall_events_total`'s labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// `state_change`, `spot_interruption`, `rebalance`,
    /// `launch_lifecycle`, `terminate_lifecycle`; `unrecognised` for a body
    /// that is no event; `queue` for the queue itself.
    pub kind: &'static str,
    /// `applied`, `unchanged`, `outside` (a region the fleet does not
    /// list), `retried`, `unknown` (never found), `failed`,
    /// `unrecognised`; for the queue `denied`, `missing`, `unreachable`.
    pub outcome: &'static str,
}

/// EC2 asked for instances by id.
#[async_trait::async_trait]
pub trait Refresher: Send + Sync {
    /// The instances of `ids` in `region` of `account` under the source's
    /// filters, and the ids it did not return.
    async fn describe_ids(
        &self,
        account: &str,
        region: &str,
        ids: &[String],
    ) -> Result<ByIds, SourceError>;
}

/// A received event, and its message's receipt.
struct Pending {
    event: Event,
    receipt: String,
    tries: u32,
}

pub struct Follower {
    coordinator: Arc<Coordinator>,
    store: Arc<dyn ObjectStore>,
    queue: Arc<dyn EventQueue>,
    refresher: Arc<dyn Refresher>,
    regions: HashSet<String>,
    lease: EventLease,
    /// Where leave markers go (the snapshot's prefix, trimmed).
    prefix: String,
    clock: Clock,
    tally: Tally,
    /// Launch events whose instance EC2 did not return yet.
    retry: Vec<Pending>,
}

impl Follower {
    /// A follower of `queue` for the fleet `coordinator` shares, taking the
    /// lease under `prefix` in `store` for `term` at a time.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        coordinator: Arc<Coordinator>,
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        queue: Arc<dyn EventQueue>,
        refresher: Arc<dyn Refresher>,
        regions: Vec<String>,
        term: Duration,
        clock: Clock,
    ) -> Option<Follower> {
        let holder = coordinator.writer()?.to_owned();
        let tally = coordinator.tally.clone();
        Some(Follower {
            lease: EventLease::new(prefix.trim_matches('/'), &holder, term),
            prefix: prefix.trim_matches('/').to_owned(),
            coordinator,
            store,
            queue,
            refresher,
            regions: regions.into_iter().collect(),
            clock,
            tally,
            retry: Vec::new(),
        })
    }

    fn count(&self, kind: &'static str, outcome: &'static str) {
        self.tally
            .events
            .get_or_create(&EventLabels { kind, outcome })
            .inc();
    }

    /// Follows the events until the task is dropped.
    pub async fn run(mut self) {
        let term = self.lease.term();
        let mut backoff = Duration::from_secs(1);
        let mut lasting_said = false;
        let mut renewed = tokio::time::Instant::now();
        loop {
            if !self.lease.is_held() {
                self.coordinator.listed_for_the_fleet().await;
                match self
                    .lease
                    .take_or_renew(self.store.as_ref(), self.clock.now())
                    .await
                {
                    Ok(true) => {
                        renewed = tokio::time::Instant::now();
                        tracing::info!(queue = %self.queue.describe(), "This node follows the fleet's events.");
                    }
                    Ok(false) => continue,
                    Err(error) => {
                        tracing::debug!(%error, "Cannot read the event lease.");
                        continue;
                    }
                }
            }
            let wait = (term / 3).min(crate::events::MAX_WAIT);
            match self.gather(wait).await {
                Ok(messages) => {
                    backoff = Duration::from_secs(1);
                    lasting_said = false;
                    if !messages.is_empty() || !self.retry.is_empty() {
                        self.take(messages).await;
                    }
                }
                Err(error) => {
                    let outcome = match &error {
                        QueueError::Denied(_) => "denied",
                        QueueError::Missing(_) => "missing",
                        QueueError::Transient(_) => "unreachable",
                    };
                    self.count("queue", outcome);
                    if error.is_lasting() {
                        if !lasting_said {
                            tracing::warn!(queue = %self.queue.describe(), %error, "The event queue cannot be read; the fleet is refreshed by periods only. Trying again in 5 minutes.");
                            lasting_said = true;
                        }
                        self.lease.release(self.store.as_ref()).await;
                        tokio::time::sleep(LASTING_BACKOFF).await;
                        continue;
                    }
                    if backoff == Duration::from_secs(1) {
                        tracing::warn!(queue = %self.queue.describe(), %error, "Reading the event queue failed; trying again, the fleet refreshed by periods meanwhile.");
                    } else {
                        tracing::debug!(%error, "Reading the event queue failed again.");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
                }
            }
            if self.lease.is_held() && renewed.elapsed() >= term / 3 {
                renewed = tokio::time::Instant::now();
                match self
                    .lease
                    .take_or_renew(self.store.as_ref(), self.clock.now())
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!("Another node follows the fleet's events now.");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "Cannot renew the event lease; letting it go.");
                        self.lease.release(self.store.as_ref()).await;
                    }
                }
            }
        }
    }

    /// The messages of one batch: the first long poll of at most `wait`,
    /// then whatever arrives within [`BATCH_WINDOW`] of the first, by long
    /// polls of whole seconds.
    async fn gather(&self, wait: Duration) -> Result<Vec<Message>, QueueError> {
        let batch = crate::events::MAX_RECEIVE_BATCH;
        let mut messages = self.queue.receive(wait, batch).await?;
        if messages.is_empty() {
            return Ok(messages);
        }
        let window_ends = tokio::time::Instant::now() + BATCH_WINDOW;
        while messages.len() < BATCH_LIMIT {
            let left = window_ends.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            // SQS waits whole seconds: what is left of the window, rounded
            // down, would be a short poll, again and again until the window
            // ends (hundreds of requests a batch on moto). Rounded up, it is
            // one long poll, back when a message comes or under a second
            // past the window's end.
            let left = Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0));
            let more = self.queue.receive(left, batch).await?;
            messages.extend(more);
        }
        Ok(messages)
    }

    /// Applies one batch, and deletes its messages once the head holds it.
    async fn take(&mut self, messages: Vec<Message>) {
        let mut done: Vec<String> = Vec::new();
        let mut pending = std::mem::take(&mut self.retry);
        for message in messages {
            match parse_event(&message.body) {
                Ok(event) if self.regions.contains(&event.region) => pending.push(Pending {
                    event,
                    receipt: message.receipt,
                    tries: 0,
                }),
                Ok(event) => {
                    self.count(kind_label(&event.kind), "outside");
                    done.push(message.receipt);
                }
                Err(why) => {
                    tracing::debug!(%why, "A message on the event queue is not an event rollcall reads; deleting it.");
                    self.count("unrecognised", "unrecognised");
                    done.push(message.receipt);
                }
            }
        }
        let mut by_region: HashMap<(&str, &str), Vec<String>> = HashMap::new();
        for item in &pending {
            by_region
                .entry((item.event.account.as_str(), item.event.region.as_str()))
                .or_default()
                .push(item.event.instance_id.clone());
        }
        let mut found: HashMap<String, Instance> = HashMap::new();
        let mut outside: HashSet<String> = HashSet::new();
        for ((account, region), ids) in by_region {
            match self.refresher.describe_ids(account, region, &ids).await {
                Ok(answer) => {
                    outside.extend(answer.outside);
                    found.extend(
                        answer
                            .found
                            .into_iter()
                            .map(|instance| (instance.id.clone(), instance)),
                    );
                }
                Err(error) => {
                    // Not deleted: the queue gives them again.
                    tracing::warn!(%error, region, "Cannot ask EC2 for the instances of events; they come again.");
                    for item in &pending {
                        self.count(kind_label(&item.event.kind), "failed");
                    }
                    self.delete(done).await;
                    return;
                }
            }
        }
        // Launch events whose instance EC2 does not show yet wait for the
        // next batches; other absent ids leave the fleet.
        let (waiting, ready): (Vec<Pending>, Vec<Pending>) =
            pending.into_iter().partition(|item| {
                outside.contains(&item.event.instance_id) && launching(&item.event.kind)
            });
        for mut item in waiting {
            item.tries += 1;
            if item.tries >= LAUNCH_TRIES {
                self.count(kind_label(&item.event.kind), "unknown");
                done.push(item.receipt);
            } else {
                self.count(kind_label(&item.event.kind), "retried");
                self.retry.push(item);
            }
        }
        if ready.is_empty() {
            self.delete(done).await;
            return;
        }
        let events: Vec<&Event> = ready.iter().map(|item| &item.event).collect();
        let gone: HashSet<&str> = ready
            .iter()
            .map(|item| item.event.instance_id.as_str())
            .filter(|id| outside.contains(*id))
            .collect();
        let applied = self
            .coordinator
            .apply(|fleet| merge(fleet, &found, &events, &gone))
            .await;
        let outcome = match &applied {
            Ok(Applied::Written { updated_at }) => {
                let earliest = events.iter().map(|event| event.time).min();
                if let Some(lag) = earliest.and_then(|at| updated_at.duration_since(at).ok()) {
                    self.tally.event_lag.set(lag.as_secs_f64());
                }
                "applied"
            }
            Ok(Applied::Unchanged) => "unchanged",
            Err(error) => {
                tracing::warn!(%error, "Cannot apply the fleet's events; they come again.");
                "failed"
            }
        };
        for item in &ready {
            self.count(kind_label(&item.event.kind), outcome);
        }
        if applied.is_ok() {
            self.leave_markers(&events, &found).await;
            done.extend(ready.into_iter().map(|item| item.receipt));
        }
        self.delete(done).await;
    }

    /// Leave markers for the instances `events` mark leaving, as they
    /// stand in `found`: the listing folds them in until they are gone.
    async fn leave_markers(&self, events: &[&Event], found: &HashMap<String, Instance>) {
        for event in events {
            let leaving_event = matches!(
                event.kind,
                EventKind::SpotInterruption { .. }
                    | EventKind::Rebalance
                    | EventKind::TerminateLifecycle
            );
            let Some(instance) = found.get(&event.instance_id).filter(|_| leaving_event) else {
                continue;
            };
            let mut marked = instance.clone();
            overlay(&mut marked, event);
            let Some(leaving) = &marked.leaving else {
                continue;
            };
            let key = marker_key(&self.prefix, &marked.id);
            let body = Marker::new(&marked.id, leaving).encode();
            if let Err(error) = self.store.put(&key, body, Condition::Always).await {
                tracing::debug!(%error, marker = %key, "Cannot leave a marker for an event.");
            }
        }
    }

    async fn delete(&self, receipts: Vec<String>) {
        if receipts.is_empty() {
            return;
        }
        if let Err(error) = self.queue.delete(&receipts).await {
            // They come again, and change nothing twice.
            tracing::debug!(%error, "Cannot delete events from the queue.");
        }
    }
}

/// Whether an instance of this event may be too new for EC2 to show.
fn launching(kind: &EventKind) -> bool {
    match kind {
        EventKind::StateChange { state } => state == "pending" || state == "running",
        EventKind::LaunchLifecycle => true,
        _ => false,
    }
}

fn kind_label(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::StateChange { .. } => "state_change",
        EventKind::SpotInterruption { .. } => "spot_interruption",
        EventKind::Rebalance => "rebalance",
        EventKind::LaunchLifecycle => "launch_lifecycle",
        EventKind::TerminateLifecycle => "terminate_lifecycle",
    }
}

/// `fleet` with the instances EC2 returned (`found`, with what `events`
/// say of them laid over) in place of their old selves, and the `gone`
/// ones out; whether anything changed.
fn merge(
    fleet: &mut Vec<Instance>,
    found: &HashMap<String, Instance>,
    events: &[&Event],
    gone: &HashSet<&str>,
) -> bool {
    let before = fleet.len();
    fleet.retain(|instance| !gone.contains(instance.id.as_str()));
    let mut changed = fleet.len() != before;
    let index: HashMap<String, usize> = fleet
        .iter()
        .enumerate()
        .map(|(at, instance)| (instance.id.clone(), at))
        .collect();
    for (id, fresh) in found {
        let mut fresh = fresh.clone();
        let old = index.get(id).map(|&at| &fleet[at]);
        // What a listing adds beside DescribeInstances stays: Auto
        // Scaling's lifecycle, and leave markers.
        if let Some(old) = old {
            if fresh.lifecycle == Lifecycle::default() {
                fresh.lifecycle = old.lifecycle.clone();
            }
            if fresh.leaving.is_none() {
                fresh.leaving = old.leaving.clone();
            }
        }
        for event in events.iter().filter(|event| event.instance_id == *id) {
            overlay(&mut fresh, event);
        }
        match index.get(id) {
            Some(&at) if fleet[at] == fresh => {}
            Some(&at) => {
                fleet[at] = fresh;
                changed = true;
            }
            None => {
                fleet.push(fresh);
                changed = true;
            }
        }
    }
    changed
}

/// What `event` says of `instance` beside its state.
fn overlay(instance: &mut Instance, event: &Event) {
    let group = || {
        instance
            .tags
            .iter()
            .find(|tag| tag.key == crate::inventory::GROUP_TAG)
            .map(|tag| tag.value.clone())
    };
    match &event.kind {
        EventKind::StateChange { .. } => {}
        EventKind::SpotInterruption { .. } => {
            let deadline = event
                .time
                .checked_add(SPOT_NOTICE)
                .and_then(|at| time::OffsetDateTime::from(at).format(&Rfc3339).ok());
            instance.leaving = Some(Leaving::new(LeaveReason::SpotInterruption, deadline));
        }
        EventKind::Rebalance => {
            if instance.leaving.is_none() {
                instance.leaving = Some(Leaving::new(LeaveReason::RebalanceRecommendation, None));
            }
        }
        EventKind::LaunchLifecycle => {
            let group = instance.lifecycle.group.clone().or_else(group);
            instance.lifecycle = Lifecycle {
                state: LifecycleState::PendingWait,
                group,
            };
        }
        EventKind::TerminateLifecycle => {
            let group = instance.lifecycle.group.clone().or_else(group);
            instance.lifecycle = Lifecycle {
                state: LifecycleState::TerminatingWait,
                group,
            };
            if instance.leaving.is_none() {
                instance.leaving = Some(Leaving::new(LeaveReason::AutoScalingTermination, None));
            }
        }
    }
}

#[cfg(test)]
mod tests;
