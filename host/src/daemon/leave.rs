//! Self's graceful leave, done once: run the `on_leave` hook, write the
//! leave marker beside the fleet's snapshot, keep the Auto Scaling
//! lifecycle action alive with heartbeats while the hook runs, and complete
//! it with `CONTINUE` when the hook is done or its time is up.
//!
//! The steps are behind small traits ([`LeaveHook`], [`LifecycleActions`],
//! [`Announcer`]) and time is tokio's: the same code runs in the daemon and
//! in paused-clock tests. [`Departure`] makes sure a leave starts at most
//! once however many signs of it arrive.

use crate::inventory::Leaving;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long one call to AWS (a heartbeat, the completion, the marker) may
/// take before it is given up, logged.
pub const CALL_LIMIT: Duration = Duration::from_secs(10);

/// The `on_leave` command. Its run ends by itself within its time limit
/// (the command is killed then).
#[async_trait::async_trait]
pub trait LeaveHook: Send + Sync {
    async fn run(&self, leaving: &Leaving) -> Result<(), String>;
}

/// Self's Auto Scaling lifecycle action: heartbeats, and its completion.
#[async_trait::async_trait]
pub trait LifecycleActions: Send + Sync {
    /// `RecordLifecycleActionHeartbeat`.
    async fn heartbeat(&self) -> Result<(), String>;
    /// `CompleteLifecycleAction` with `CONTINUE`.
    async fn complete(&self) -> Result<(), String>;
}

/// Tells the fleet self is going: the leave marker.
#[async_trait::async_trait]
pub trait Announcer: Send + Sync {
    async fn announce(&self, leaving: &Leaving) -> Result<(), String>;
}

/// One leave's steps; those not configured are `None`.
pub struct Leave {
    pub hook: Option<Box<dyn LeaveHook>>,
    /// `on_leave_timeout`: the completion waits no longer for the hook.
    pub hook_timeout: Duration,
    pub actions: Option<Box<dyn LifecycleActions>>,
    pub heartbeat_every: Duration,
    pub announcer: Option<Box<dyn Announcer>>,
}

impl Leave {
    /// Runs the leave: the marker beside the hook; the heartbeats while the
    /// hook runs, the completion once after it (or after its timeout).
    /// Every failure is logged; none stops the others.
    pub async fn run(self, leaving: Leaving) {
        let announcing = async {
            if let Some(announcer) = &self.announcer {
                match tokio::time::timeout(CALL_LIMIT, announcer.announce(&leaving)).await {
                    Ok(Ok(())) => tracing::info!(reason = %leaving.reason, "Leave marker written."),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "Cannot write the leave marker; the fleet sees the leave when EC2 lists it.");
                    }
                    Err(_) => {
                        tracing::warn!(limit = ?CALL_LIMIT, "Writing the leave marker took too long; given up.");
                    }
                }
            }
        };
        let hooking = async {
            let hook = async {
                let Some(hook) = &self.hook else {
                    return;
                };
                match tokio::time::timeout(self.hook_timeout, hook.run(&leaving)).await {
                    Ok(Ok(())) => tracing::info!("on_leave finished."),
                    Ok(Err(error)) => tracing::error!(%error, "on_leave failed."),
                    Err(_) => {
                        tracing::error!(timeout = ?self.hook_timeout, "on_leave did not finish in time.")
                    }
                }
            };
            let Some(actions) = &self.actions else {
                return hook.await;
            };
            let beating = async {
                let every = self.heartbeat_every;
                let mut beats =
                    tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    beats.tick().await;
                    match tokio::time::timeout(CALL_LIMIT, actions.heartbeat()).await {
                        Ok(Ok(())) => tracing::debug!("Lifecycle action heartbeat sent."),
                        Ok(Err(error)) => {
                            tracing::warn!(%error, "Lifecycle action heartbeat failed.")
                        }
                        Err(_) => {
                            tracing::warn!(limit = ?CALL_LIMIT, "Lifecycle action heartbeat took too long.")
                        }
                    }
                }
            };
            // The hook first: a heartbeat due as the hook ends is not sent.
            tokio::select! {
                biased;
                () = hook => {}
                () = beating => {}
            }
            match tokio::time::timeout(CALL_LIMIT, actions.complete()).await {
                Ok(Ok(())) => tracing::info!("Lifecycle action completed: CONTINUE."),
                Ok(Err(error)) => {
                    tracing::error!(%error, "Cannot complete the lifecycle action; Auto Scaling goes on at the hook's timeout.")
                }
                Err(_) => {
                    tracing::error!(limit = ?CALL_LIMIT, "Completing the lifecycle action took too long.")
                }
            }
        };
        futures::join!(announcing, hooking);
    }

    /// The longest a leave runs: the hook's time, then the completion.
    pub fn limit(hook_timeout: Duration) -> Duration {
        hook_timeout
            .saturating_add(CALL_LIMIT)
            .saturating_add(CALL_LIMIT)
    }
}

/// A leave started at most once, on a task of its own.
#[derive(Default)]
pub struct Departure {
    task: Option<JoinHandle<()>>,
}

impl Departure {
    /// Whether a leave has started.
    pub fn started(&self) -> bool {
        self.task.is_some()
    }

    /// Whether a leave has started and not ended.
    pub fn under_way(&self) -> bool {
        self.task.as_ref().is_some_and(|task| !task.is_finished())
    }

    /// Starts `leave` unless one started already; says whether it did.
    pub fn begin(&mut self, leave: impl Future<Output = ()> + Send + 'static) -> bool {
        if self.task.is_some() {
            return false;
        }
        self.task = Some(tokio::spawn(leave));
        true
    }

    /// Waits up to `limit` for the leave (if one started) to end.
    pub async fn finish(&mut self, limit: Duration) {
        let Some(task) = &mut self.task else {
            return;
        };
        if task.is_finished() {
            return;
        }
        tracing::info!(limit = ?limit, "Waiting for the leave to finish before stopping.");
        if tokio::time::timeout(limit, task).await.is_err() {
            tracing::warn!(limit = ?limit, "The leave did not finish in time; stopping.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::LeaveReason;
    use std::sync::{Arc, Mutex};
    use tokio::time::Instant;

    /// What happened when, in seconds of tokio's time since the start.
    #[derive(Default)]
    struct Record {
        start: Mutex<Option<Instant>>,
        events: Mutex<Vec<(String, u64)>>,
    }

    impl Record {
        fn note(&self, what: &str) {
            let start = self.start.lock().unwrap().expect("started");
            self.events
                .lock()
                .unwrap()
                .push((what.to_owned(), start.elapsed().as_secs()));
        }

        fn times(&self, what: &str) -> Vec<u64> {
            self.events
                .lock()
                .unwrap()
                .iter()
                .filter(|(event, _)| event == what)
                .map(|(_, at)| *at)
                .collect()
        }
    }

    /// A hook that takes `takes` (or never ends).
    struct Hook(Arc<Record>, Option<Duration>);

    #[async_trait::async_trait]
    impl LeaveHook for Hook {
        async fn run(&self, leaving: &Leaving) -> Result<(), String> {
            self.0.note(&format!("hook {}", leaving.reason));
            match self.1 {
                Some(takes) => tokio::time::sleep(takes).await,
                None => std::future::pending().await,
            }
            self.0.note("hook done");
            Ok(())
        }
    }

    struct Actions(Arc<Record>);

    #[async_trait::async_trait]
    impl LifecycleActions for Actions {
        async fn heartbeat(&self) -> Result<(), String> {
            self.0.note("heartbeat");
            Ok(())
        }

        async fn complete(&self) -> Result<(), String> {
            self.0.note("complete");
            Ok(())
        }
    }

    struct Marker(Arc<Record>);

    #[async_trait::async_trait]
    impl Announcer for Marker {
        async fn announce(&self, _leaving: &Leaving) -> Result<(), String> {
            self.0.note("marker");
            // A store that never answers: given up at the call limit.
            std::future::pending().await
        }
    }

    fn leave(record: &Arc<Record>, hook_takes: Option<Duration>) -> Leave {
        *record.start.lock().unwrap() = Some(Instant::now());
        Leave {
            hook: Some(Box::new(Hook(Arc::clone(record), hook_takes))),
            hook_timeout: Duration::from_secs(300),
            actions: Some(Box::new(Actions(Arc::clone(record)))),
            heartbeat_every: Duration::from_secs(60),
            announcer: Some(Box::new(Marker(Arc::clone(record)))),
        }
    }

    fn spot() -> Leaving {
        Leaving::new(LeaveReason::SpotInterruption, None)
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_keep_the_action_alive_while_the_hook_runs_then_it_completes_once() {
        let record = Arc::new(Record::default());
        let started = Instant::now();
        leave(&record, Some(Duration::from_secs(150)))
            .run(spot())
            .await;
        assert_eq!(record.times("hook spot-interruption"), [0]);
        assert_eq!(record.times("marker"), [0]);
        assert_eq!(record.times("heartbeat"), [60, 120]);
        assert_eq!(record.times("hook done"), [150]);
        assert_eq!(record.times("complete"), [150], "at once, once");
        assert_eq!(started.elapsed(), Duration::from_secs(150));
    }

    #[tokio::test(start_paused = true)]
    async fn the_hook_s_timeout_completes_the_action() {
        let record = Arc::new(Record::default());
        leave(&record, None).run(spot()).await;
        assert_eq!(record.times("heartbeat"), [60, 120, 180, 240]);
        assert_eq!(record.times("hook done"), Vec::<u64>::new());
        assert_eq!(record.times("complete"), [300]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_hook_the_action_completes_at_once() {
        let record = Arc::new(Record::default());
        let mut leave = leave(&record, None);
        leave.hook = None;
        leave.run(spot()).await;
        assert_eq!(record.times("heartbeat"), Vec::<u64>::new());
        assert_eq!(record.times("complete"), [0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_leave_starts_once_however_often_it_is_asked_for() {
        let record = Arc::new(Record::default());
        let mut departure = Departure::default();
        assert!(!departure.started());
        for _ in 0..3 {
            let leaving = leave(&record, Some(Duration::from_secs(10)));
            departure.begin(leaving.run(spot()));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert!(departure.started());
        departure
            .finish(Leave::limit(Duration::from_secs(300)))
            .await;
        assert_eq!(record.times("hook spot-interruption").len(), 1);
        assert_eq!(record.times("complete").len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn finishing_waits_no_longer_than_its_limit() {
        let record = Arc::new(Record::default());
        let mut departure = Departure::default();
        departure.begin(leave(&record, None).run(spot()));
        let started = Instant::now();
        departure.finish(Duration::from_secs(30)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
