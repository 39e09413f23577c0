//! Hands every new answer to every sink without waiting for any of them.
//!
//! Each sink has a task of its own and a mailbox of one place: at most one
//! publication is in flight per sink, and while it is, a newer answer
//! replaces the one waiting. The changes of both are kept (up to
//! [`CHANGES_WAITING`]), so an exec hook learns of every join and leave since
//! its last run, and a file always ends up with the newest answer. A slow or
//! hung sink delays only itself; the loop never waits for one.
//!
//! [`Publisher::publish`] returns a [`Delivered`] that resolves once every
//! sink is done with that answer (or with a newer one that replaced it):
//! the service waits on it to tell systemd it is ready.
//!
//! When a publisher finishes (on shutdown, or after a reload replaced its
//! sinks), each task finishes the publication in flight and the one waiting,
//! each within the sink's own time limit, and ends.

use super::metrics::Metrics;
use super::status::{Failure, Status};
use crate::changes::ChangeEvent;
use crate::membership::Membership;
use crate::sink::{Publication, Sink};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

/// The most change events kept for a sink that is still busy with an older
/// answer; beyond it the oldest are dropped (the document is always whole).
/// Each publication carries at most one event per change kind, so this is
/// dozens of publications behind.
pub const CHANGES_WAITING: usize = 256;

/// One sink's tasks, and where each publication's outcome is reported.
pub struct Publisher {
    sinks: Arc<[Box<dyn Sink>]>,
    mailboxes: Vec<Arc<Mailbox>>,
    tasks: Vec<JoinHandle<()>>,
}

/// Where sink outcomes go: `/healthz` `sink_errors` and the failure counter.
#[derive(Clone)]
pub struct Reports {
    pub status: watch::Sender<Status>,
    pub metrics: Arc<Metrics>,
}

/// The newest answer for a sink, with every change since its last
/// publication.
struct Delivery {
    membership: Arc<Membership>,
    changes: Vec<ChangeEvent>,
    /// Held until the sink is done with this answer, for each publication
    /// it stands for.
    receipts: Vec<Receipt>,
}

/// One sink's hold on one publication; dropped when the sink is done with
/// it, whether the sink published it, failed, or its task ended.
type Receipt = mpsc::Sender<()>;

/// Resolves once every sink is done with one publication: published it (or
/// a newer answer that replaced it while waiting), or failed to.
pub struct Delivered(mpsc::Receiver<()>);

impl Delivered {
    /// Waits until the last sink lets go of the publication. Cancel-safe.
    pub async fn wait(&mut self) {
        // Nothing is ever sent: the channel closes when the last receipt
        // is dropped.
        while self.0.recv().await.is_some() {}
    }
}

#[derive(Default)]
struct Mailbox {
    slot: Mutex<Slot>,
    arrived: Notify,
}

#[derive(Default)]
struct Slot {
    waiting: Option<Delivery>,
    closed: bool,
}

impl Publisher {
    /// Starts one task per sink. Must run inside a tokio runtime.
    pub fn start(sinks: Arc<[Box<dyn Sink>]>, reports: &Reports) -> Publisher {
        let mailboxes: Vec<Arc<Mailbox>> =
            sinks.iter().map(|_| Arc::new(Mailbox::default())).collect();
        let tasks = mailboxes
            .iter()
            .enumerate()
            .map(|(index, mailbox)| {
                tokio::spawn(deliver(
                    Arc::clone(&sinks),
                    index,
                    Arc::clone(mailbox),
                    reports.clone(),
                ))
            })
            .collect();
        Publisher {
            sinks,
            mailboxes,
            tasks,
        }
    }

    /// Whether this publisher serves exactly these sinks (a reload that kept
    /// the sinks keeps their tasks).
    pub fn serves(&self, sinks: &Arc<[Box<dyn Sink>]>) -> bool {
        Arc::ptr_eq(&self.sinks, sinks)
    }

    /// Leaves `membership` and `changes` for every sink; returns at once,
    /// with what resolves when every sink is done with them.
    pub fn publish(&self, membership: &Arc<Membership>, changes: &[ChangeEvent]) -> Delivered {
        let (receipt, delivered) = mpsc::channel(1);
        for (mailbox, sink) in self.mailboxes.iter().zip(self.sinks.iter()) {
            let mut slot = mailbox.slot.lock().unwrap_or_else(PoisonError::into_inner);
            let delivery = match slot.waiting.take() {
                Some(mut older) => {
                    tracing::debug!(sink = %sink.describe(), "Sink still busy; the newest answer replaces the one waiting.");
                    older.changes.extend_from_slice(changes);
                    let excess = older.changes.len().saturating_sub(CHANGES_WAITING);
                    older.changes.drain(..excess);
                    // The newer answer stands for the older one too.
                    older.receipts.push(receipt.clone());
                    Delivery {
                        membership: Arc::clone(membership),
                        changes: older.changes,
                        receipts: older.receipts,
                    }
                }
                None => Delivery {
                    membership: Arc::clone(membership),
                    changes: changes.to_vec(),
                    receipts: vec![receipt.clone()],
                },
            };
            slot.waiting = Some(delivery);
            drop(slot);
            mailbox.arrived.notify_one();
        }
        Delivered(delivered)
    }

    /// Takes no more answers; each task finishes what it has and ends.
    fn close(&self) {
        for mailbox in &self.mailboxes {
            mailbox
                .slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .closed = true;
            mailbox.arrived.notify_one();
        }
    }

    /// Whether every task has ended.
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().all(JoinHandle::is_finished)
    }

    /// Closes, then waits until every sink has finished the publication in
    /// flight and the one waiting.
    pub async fn finish(self) {
        self.close();
        for task in self.tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "A sink's task failed.");
            }
        }
    }

    /// Closes without waiting; [`Publisher::finish`] later waits.
    pub fn retire(self) -> Publisher {
        self.close();
        self
    }
}

/// One sink's task: publish whatever waits, until closed and empty. An
/// answer whose publication failed is published again after the sink's
/// [`Sink::retry_after`] wait, unless a newer one arrives first; once
/// closed, no retry is started.
async fn deliver(
    sinks: Arc<[Box<dyn Sink>]>,
    index: usize,
    mailbox: Arc<Mailbox>,
    reports: Reports,
) {
    let sink = &sinks[index];
    let mut retry: Option<(Delivery, tokio::time::Instant)> = None;
    let mut failures: u32 = 0;
    loop {
        let next = {
            let mut slot = mailbox.slot.lock().unwrap_or_else(PoisonError::into_inner);
            match slot.waiting.take() {
                Some(delivery) => Some(delivery),
                None if slot.closed => return,
                None => None,
            }
        };
        let delivery = match (next, retry.take()) {
            (Some(delivery), _) => delivery,
            (None, Some((failed, at))) => {
                tokio::select! {
                    () = mailbox.arrived.notified() => {
                        retry = Some((failed, at));
                        continue;
                    }
                    () = tokio::time::sleep_until(at) => failed,
                }
            }
            (None, None) => {
                mailbox.arrived.notified().await;
                continue;
            }
        };
        if publish_one(sink.as_ref(), &delivery, &reports).await {
            failures = 0;
            continue;
        }
        failures = failures.saturating_add(1);
        if let Some(wait) = sink.retry_after(failures) {
            tracing::debug!(sink = %sink.describe(), ?wait, failures, "The answer is published again after a wait, unless a newer one comes first.");
            // The retry holds up no one waiting for the answer to be out.
            let Delivery {
                membership,
                changes,
                ..
            } = delivery;
            let again = Delivery {
                membership,
                changes,
                receipts: Vec::new(),
            };
            retry = Some((again, tokio::time::Instant::now() + wait));
        }
    }
}

/// Publishes `delivery` to `sink` and reports the outcome; whether it was
/// published.
async fn publish_one(sink: &dyn Sink, delivery: &Delivery, reports: &Reports) -> bool {
    let name = sink.describe();
    let publication = Publication {
        membership: &delivery.membership,
        changes: &delivery.changes,
    };
    match sink.publish(&publication).await {
        Ok(()) => {
            reports
                .status
                .send_if_modified(|status| status.sink_failures.remove(&name).is_some());
            true
        }
        Err(error) => {
            tracing::warn!(sink = %name, %error, "Sink failed; the next change is published to it again.");
            reports.metrics.sink_failed(&name);
            let failure = Failure {
                at: SystemTime::now(),
                error,
            };
            reports.status.send_modify(|status| {
                status.sink_failures.insert(name, failure);
            });
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::ChangeKind;
    use crate::membership::InventorySummary;
    use crate::policy::PolicyIdentity;
    use std::time::Duration;

    /// What a sink was handed: the answer's `fetched_at` and the sequence
    /// numbers of its changes.
    type Handed = (String, Vec<u64>);

    /// A sink that takes `takes` to publish and notes what it was handed,
    /// when it finished.
    struct Recording {
        takes: Duration,
        handed: Arc<Mutex<Vec<Handed>>>,
    }

    #[async_trait::async_trait]
    impl Sink for Recording {
        fn describe(&self) -> String {
            format!("recording {:?}", self.takes)
        }

        async fn publish(&self, publication: &Publication<'_>) -> Result<(), String> {
            tokio::time::sleep(self.takes).await;
            let sequences = publication.changes.iter().map(|e| e.sequence).collect();
            self.handed.lock().unwrap().push((
                publication.membership.inventory.fetched_at.clone(),
                sequences,
            ));
            Ok(())
        }
    }

    fn recording(takes: Duration) -> (Box<dyn Sink>, Arc<Mutex<Vec<Handed>>>) {
        let handed = Arc::new(Mutex::new(Vec::new()));
        let sink = Recording {
            takes,
            handed: Arc::clone(&handed),
        };
        (Box::new(sink), handed)
    }

    fn answer(fetched_at: &str) -> Arc<Membership> {
        Arc::new(Membership {
            own: None,
            register_with: Vec::new(),
            members: Vec::new(),
            policy: PolicyIdentity {
                path: "p.wasm".into(),
                sha256: String::new(),
            },
            inventory: InventorySummary {
                source: "test".to_owned(),
                instances: 0,
                fetched_at: fetched_at.to_owned(),
                stale: false,
                stale_for_seconds: None,
                error: None,
                snapshot: None,
                stale_parts: Vec::new(),
            },
        })
    }

    fn change(sequence: u64) -> ChangeEvent {
        ChangeEvent {
            sequence,
            at: String::new(),
            kind: ChangeKind::Joined,
            instance_ids: vec![format!("i-{sequence}")],
        }
    }

    fn reports() -> Reports {
        Reports {
            status: watch::channel(Status::new(Duration::from_secs(90))).0,
            metrics: Arc::new(Metrics::new()),
        }
    }

    fn handed(record: &Mutex<Vec<Handed>>) -> Vec<Handed> {
        record.lock().unwrap().clone()
    }

    fn entry(fetched_at: &str, sequences: &[u64]) -> Handed {
        (fetched_at.to_owned(), sequences.to_vec())
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_sink_gets_the_newest_answer_with_every_change_since() {
        let (sink, record) = recording(Duration::from_secs(10));
        let publisher = Publisher::start(vec![sink].into(), &reports());
        publisher.publish(&answer("first"), &[change(1)]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        publisher.publish(&answer("second"), &[change(2)]);
        publisher.publish(&answer("third"), &[change(3), change(4)]);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            handed(&record),
            [entry("first", &[1]), entry("third", &[2, 3, 4])]
        );
        publisher.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_sink_delays_no_other_sink_and_publish_never_waits() {
        let (hung, hung_record) = recording(Duration::from_secs(3600));
        let (quick, quick_record) = recording(Duration::ZERO);
        let publisher = Publisher::start(vec![hung, quick].into(), &reports());
        let start = tokio::time::Instant::now();
        for (second, name) in ["a", "b", "c"].into_iter().enumerate() {
            publisher.publish(&answer(name), &[change(second as u64)]);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(3),
            "publish waits for no sink"
        );
        assert_eq!(
            handed(&quick_record),
            [entry("a", &[0]), entry("b", &[1]), entry("c", &[2])]
        );
        assert!(handed(&hung_record).is_empty());
        drop(publisher);
    }

    #[tokio::test(start_paused = true)]
    async fn finishing_completes_the_publication_in_flight_and_the_one_waiting() {
        let (sink, record) = recording(Duration::from_secs(5));
        let publisher = Publisher::start(vec![sink].into(), &reports());
        publisher.publish(&answer("first"), &[change(1)]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        publisher.publish(&answer("second"), &[change(2)]);
        let start = tokio::time::Instant::now();
        publisher.finish().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(9),
            "4 s left of the first, 5 s for the second"
        );
        assert_eq!(
            handed(&record),
            [entry("first", &[1]), entry("second", &[2])]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn changes_waiting_are_capped_oldest_first() {
        let (sink, record) = recording(Duration::from_secs(10));
        let publisher = Publisher::start(vec![sink].into(), &reports());
        publisher.publish(&answer("first"), &[]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let total = CHANGES_WAITING as u64 + 10;
        for sequence in 1..=total {
            publisher.publish(&answer("newest"), &[change(sequence)]);
        }
        publisher.finish().await;
        let handed = handed(&record);
        let (fetched_at, sequences) = &handed[1];
        assert_eq!(fetched_at, "newest");
        assert_eq!(sequences.len(), CHANGES_WAITING);
        assert_eq!(sequences.first(), Some(&11));
        assert_eq!(sequences.last(), Some(&total));
    }

    #[tokio::test(start_paused = true)]
    async fn delivered_resolves_when_every_sink_is_done_with_the_answer() {
        let (slow, slow_record) = recording(Duration::from_secs(10));
        let (quick, _) = recording(Duration::from_secs(1));
        let publisher = Publisher::start(vec![slow, quick].into(), &reports());
        let start = tokio::time::Instant::now();
        let mut first = publisher.publish(&answer("first"), &[change(1)]);
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Both wait behind the first in the slow sink: the third replaces
        // the second, and stands for it.
        let mut second = publisher.publish(&answer("second"), &[change(2)]);
        let mut third = publisher.publish(&answer("third"), &[change(3)]);
        first.wait().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(10),
            "the slow sink's first"
        );
        second.wait().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(20),
            "replaced, then published"
        );
        third.wait().await;
        assert_eq!(start.elapsed(), Duration::from_secs(20));
        assert_eq!(
            handed(&slow_record),
            [entry("first", &[1]), entry("third", &[2, 3])]
        );

        // A failed publication is done with too; no sink at all, at once.
        let failing = Publisher::start(vec![Box::new(Failing) as Box<dyn Sink>].into(), &reports());
        failing.publish(&answer("first"), &[]).wait().await;
        let none = Publisher::start(Vec::new().into(), &reports());
        none.publish(&answer("first"), &[]).wait().await;
        assert_eq!(start.elapsed(), Duration::from_secs(20));
        publisher.finish().await;
    }

    /// A sink that always fails.
    struct Failing;

    #[async_trait::async_trait]
    impl Sink for Failing {
        fn describe(&self) -> String {
            "failing".to_owned()
        }

        async fn publish(&self, _publication: &Publication<'_>) -> Result<(), String> {
            Err("disk full".to_owned())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_reported_in_the_status() {
        let reports = reports();
        let status = reports.status.subscribe();
        let publisher = Publisher::start(vec![Box::new(Failing) as Box<dyn Sink>].into(), &reports);
        publisher.publish(&answer("first"), &[]);
        publisher.finish().await;
        let failure = status.borrow().sink_failures.get("failing").cloned();
        assert_eq!(
            failure.map(|failure| failure.error).as_deref(),
            Some("disk full")
        );
    }

    /// A sink that fails its first `failing` publications, noting each
    /// attempt's answer and time, and asks to be retried after 10 s.
    struct Flaky {
        failing: usize,
        attempts: Arc<Mutex<Vec<(String, Duration)>>>,
        started: tokio::time::Instant,
    }

    #[async_trait::async_trait]
    impl Sink for Flaky {
        fn describe(&self) -> String {
            "flaky".to_owned()
        }

        async fn publish(&self, publication: &Publication<'_>) -> Result<(), String> {
            let mut attempts = self.attempts.lock().unwrap();
            attempts.push((
                publication.membership.inventory.fetched_at.clone(),
                self.started.elapsed(),
            ));
            if attempts.len() <= self.failing {
                return Err("throttled".to_owned());
            }
            Ok(())
        }

        fn retry_after(&self, failures: u32) -> Option<Duration> {
            Some(Duration::from_secs(10) * failures)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_sink_that_asks_for_retries_gets_the_failed_answer_again_each_failure_counted() {
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let sink = Flaky {
            failing: 2,
            attempts: Arc::clone(&attempts),
            started: tokio::time::Instant::now(),
        };
        let reports = reports();
        let publisher = Publisher::start(vec![Box::new(sink) as Box<dyn Sink>].into(), &reports);
        let mut delivered = publisher.publish(&answer("first"), &[change(1)]);
        // The failed answer holds up no one: it is out, if not written.
        tokio::time::timeout(Duration::from_secs(1), delivered.wait())
            .await
            .expect("delivered at the first attempt");
        tokio::time::sleep(Duration::from_secs(60)).await;
        let seconds: Vec<(String, u64)> = attempts
            .lock()
            .unwrap()
            .iter()
            .map(|(answer, at)| (answer.clone(), at.as_secs()))
            .collect();
        let first = |at| ("first".to_owned(), at);
        assert_eq!(seconds, [first(0), first(10), first(30)]);
        let rendered = reports.metrics.render();
        assert!(
            rendered.contains("rollcall_sink_failures_total{sink=\"flaky\"} 2"),
            "{rendered}"
        );
        assert!(reports.status.borrow().sink_failures.is_empty());
        publisher.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_newer_answer_replaces_the_retry_of_a_failed_one() {
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let sink = Flaky {
            failing: 1,
            attempts: Arc::clone(&attempts),
            started: tokio::time::Instant::now(),
        };
        let publisher = Publisher::start(vec![Box::new(sink) as Box<dyn Sink>].into(), &reports());
        publisher.publish(&answer("first"), &[change(1)]);
        tokio::time::sleep(Duration::from_secs(3)).await;
        publisher.publish(&answer("second"), &[change(2)]);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let answers: Vec<String> = attempts
            .lock()
            .unwrap()
            .iter()
            .map(|(answer, _)| answer.clone())
            .collect();
        assert_eq!(answers, ["first", "second"]);
        publisher.finish().await;
    }
}
