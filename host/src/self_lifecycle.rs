//! What the instance metadata service says of this instance's future: its
//! Auto Scaling target lifecycle state, a spot interruption, a rebalance
//! recommendation, scheduled maintenance. [`look`] asks IMDS (v2, under a
//! byte cap and short timeouts) and folds the answers into self's
//! [`SelfLifecycle`]; [`poll`] keeps asking. A malformed answer is logged
//! and ignored: it never ends the daemon.

use crate::inventory::{LeaveReason, Leaving, LifecycleState};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

/// `autoscaling/target-lifecycle-state`: `InService`, `Terminated`, ...
pub const TARGET_LIFECYCLE_STATE: &str = "/latest/meta-data/autoscaling/target-lifecycle-state";
/// `spot/instance-action`: `{"action": "terminate", "time": "..."}`; 404
/// when no interruption is scheduled.
pub const SPOT_INSTANCE_ACTION: &str = "/latest/meta-data/spot/instance-action";
/// `events/recommendations/rebalance`: `{"noticeTime": "..."}`; 404 when
/// none.
pub const REBALANCE: &str = "/latest/meta-data/events/recommendations/rebalance";
/// `events/maintenance/scheduled`: a JSON array of events; `[]` when none.
pub const MAINTENANCE: &str = "/latest/meta-data/events/maintenance/scheduled";
/// The instance's Auto Scaling group, when instance tags are in IMDS.
pub const GROUP_TAG: &str = "/latest/meta-data/tags/instance/aws:autoscaling:groupName";

/// The most of one IMDS answer kept; a longer one is refused.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// How long one look (all its reads) may take.
const LOOK_LIMIT: Duration = Duration::from_secs(3);

/// Reads instance metadata: `Ok(None)` when the path does not exist (404).
#[async_trait::async_trait]
pub trait Metadata: Send + Sync {
    async fn read(&self, path: &str) -> Result<Option<String>, String>;
}

/// IMDSv2 through the SDK's client (token first, short timeouts, one
/// attempt; see [`crate::identity::imds_client`]).
pub struct Imds {
    client: aws_config::imds::Client,
}

impl Imds {
    pub fn new() -> Imds {
        Imds {
            client: crate::identity::imds_client(),
        }
    }
}

#[async_trait::async_trait]
impl Metadata for Imds {
    async fn read(&self, path: &str) -> Result<Option<String>, String> {
        use aws_config::imds::client::error::ImdsError;
        match self.client.get(path).await {
            Ok(answer) => {
                let answer: &str = answer.as_ref();
                // The SDK reads the body whole; its timeouts bound how much
                // can arrive, this bounds what is kept and parsed.
                if answer.len() > MAX_ANSWER_BYTES {
                    return Err(format!(
                        "{path}: the answer is {} bytes, over the {MAX_ANSWER_BYTES}-byte limit",
                        answer.len()
                    ));
                }
                Ok(Some(answer.to_owned()))
            }
            Err(ImdsError::ErrorResponse(response))
                if response.response().status().as_u16() == 404 =>
            {
                Ok(None)
            }
            Err(err) => Err(format!("{path}: {}", crate::report::error_chain(&err))),
        }
    }
}

/// Self's place in its life as IMDS tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfLifecycle {
    /// The Auto Scaling lifecycle state IMDS names; `None` when it names
    /// none (not in a group, or not asked yet).
    pub state: Option<LifecycleState>,
    /// Why and by when self is going, once anything said so. Sticky: a
    /// notice once given is not taken back by a later silence.
    pub leaving: Option<Leaving>,
}

impl SelfLifecycle {
    /// Whether the leave is certain: a spot interruption or Auto Scaling's
    /// termination, which start the graceful leave. A rebalance
    /// recommendation or scheduled maintenance only mark self as leaving.
    pub fn departs(&self) -> bool {
        self.leaving.as_ref().is_some_and(|leaving| {
            matches!(
                leaving.reason,
                LeaveReason::SpotInterruption
                    | LeaveReason::AutoScalingTermination
                    | LeaveReason::Announced
            )
        })
    }

    /// This, updated with what one `look` saw: a read that failed keeps
    /// what was known; a leave is replaced only by a more certain one.
    fn updated(&self, seen: &Seen) -> SelfLifecycle {
        let state = match &seen.state {
            Some(state) => *state,
            None => self.state,
        };
        let leaving = match (&self.leaving, seen.leaving()) {
            (None, new) => new,
            (Some(old), Some(new)) if rank(new.reason) < rank(old.reason) => Some(new),
            (Some(old), Some(new)) if new.reason == old.reason && old.deadline.is_none() => {
                Some(new)
            }
            (old, _) => old.clone(),
        };
        SelfLifecycle { state, leaving }
    }
}

/// The order of certainty, most certain first.
fn rank(reason: LeaveReason) -> u8 {
    match reason {
        LeaveReason::Announced => 0,
        LeaveReason::SpotInterruption => 1,
        LeaveReason::AutoScalingTermination => 2,
        LeaveReason::ScheduledMaintenance => 3,
        LeaveReason::RebalanceRecommendation => 4,
        LeaveReason::Other => 5,
    }
}

/// What one look saw: for each sign, `None` when its read failed or its
/// answer was malformed, else what it said.
#[derive(Debug, Default)]
struct Seen {
    state: Option<Option<LifecycleState>>,
    spot: Option<Option<Leaving>>,
    termination: bool,
    maintenance: Option<Option<Leaving>>,
    rebalance: Option<Option<Leaving>>,
}

impl Seen {
    /// The most certain leave seen.
    fn leaving(&self) -> Option<Leaving> {
        let termination = self
            .termination
            .then(|| Leaving::new(LeaveReason::AutoScalingTermination, None));
        [
            self.spot.clone().flatten(),
            termination,
            self.maintenance.clone().flatten(),
            self.rebalance.clone().flatten(),
        ]
        .into_iter()
        .flatten()
        .next()
    }
}

/// Asks IMDS once and folds the answers into `known`.
pub async fn look(imds: &dyn Metadata, known: &SelfLifecycle) -> SelfLifecycle {
    let read = |path: &'static str, parse: fn(&str) -> Result<Option<Leaving>, String>| async move {
        let answer = match imds.read(path).await {
            Ok(Some(answer)) => answer,
            Ok(None) => return Some(None),
            Err(err) => {
                tracing::debug!(error = %err, "IMDS did not answer about self's lifecycle.");
                return None;
            }
        };
        match parse(&answer) {
            Ok(leaving) => Some(leaving),
            Err(err) => {
                tracing::warn!(path, error = %err, "IMDS answered something unreadable; ignored.");
                None
            }
        }
    };
    let looking = async {
        let (target, spot, maintenance, rebalance) = futures::join!(
            imds.read(TARGET_LIFECYCLE_STATE),
            read(SPOT_INSTANCE_ACTION, spot_action),
            read(MAINTENANCE, scheduled_maintenance),
            read(REBALANCE, rebalance),
        );
        let target = match target {
            Ok(target) => Some(target.map(|name| name.trim().to_owned())),
            Err(err) => {
                tracing::debug!(error = %err, "IMDS did not answer about self's lifecycle.");
                None
            }
        };
        Seen {
            termination: target
                .as_ref()
                .is_some_and(|name| name.as_deref() == Some("Terminated")),
            state: target.map(|name| name.map(|name| LifecycleState::from_auto_scaling(&name))),
            spot,
            maintenance,
            rebalance,
        }
    };
    match tokio::time::timeout(LOOK_LIMIT, looking).await {
        Ok(seen) => known.updated(&seen),
        Err(_) => {
            tracing::debug!(limit = ?LOOK_LIMIT, "IMDS took too long about self's lifecycle.");
            known.clone()
        }
    }
}

/// Asks IMDS every `every` and tells `known` whenever self's lifecycle
/// changes; ends when nobody listens any more.
pub async fn poll(
    imds: Arc<dyn Metadata>,
    mut every: watch::Receiver<Duration>,
    known: watch::Sender<SelfLifecycle>,
) {
    let mut ticks = ticking(*every.borrow_and_update());
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            // A reload changed how often: from now on.
            Ok(()) = every.changed() => {
                ticks = ticking(*every.borrow_and_update());
                continue;
            }
            () = known.closed() => return,
        }
        let before = known.borrow().clone();
        let now = look(&*imds, &before).await;
        known.send_if_modified(|old| {
            if *old == now {
                return false;
            }
            if old.leaving != now.leaving
                && let Some(leaving) = &now.leaving
            {
                tracing::warn!(reason = %leaving.reason, deadline = ?leaving.deadline, "IMDS says this instance is leaving.");
            }
            *old = now;
            true
        });
    }
}

/// Ticks every `every`, the first at once; late ticks are not made up.
fn ticking(every: Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// `{"action": "terminate|stop|hibernate", "time": "2026-...Z"}`.
fn spot_action(body: &str) -> Result<Option<Leaving>, String> {
    #[derive(serde::Deserialize)]
    struct Action {
        action: String,
        time: String,
    }
    let action: Action =
        serde_json::from_str(body).map_err(|err| format!("not a spot instance action: {err}"))?;
    if !matches!(action.action.as_str(), "terminate" | "stop" | "hibernate") {
        return Err(format!("unknown spot instance action {:?}", action.action));
    }
    Ok(Some(Leaving::new(
        LeaveReason::SpotInterruption,
        rfc3339(&action.time),
    )))
}

/// `{"noticeTime": "..."}`: the time of the notice, not of a leave.
fn rebalance(body: &str) -> Result<Option<Leaving>, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Notice {
        #[allow(dead_code, reason = "read to check the answer's shape")]
        notice_time: String,
    }
    serde_json::from_str::<Notice>(body)
        .map_err(|err| format!("not a rebalance recommendation: {err}"))?;
    Ok(Some(Leaving::new(
        LeaveReason::RebalanceRecommendation,
        None,
    )))
}

/// A JSON array of events; the earliest active one, by `NotBefore`.
fn scheduled_maintenance(body: &str) -> Result<Option<Leaving>, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Event {
        #[serde(default)]
        not_before: Option<String>,
        #[serde(default)]
        state: Option<String>,
    }
    let events: Vec<Event> = serde_json::from_str(body)
        .map_err(|err| format!("not a list of maintenance events: {err}"))?;
    let mut active: Vec<Option<String>> = events
        .into_iter()
        .filter(|event| event.state.as_deref() == Some("active"))
        .map(|event| event.not_before.as_deref().and_then(imds_time))
        .collect();
    active.sort_by(|a, b| match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    Ok(active
        .into_iter()
        .next()
        .map(|deadline| Leaving::new(LeaveReason::ScheduledMaintenance, deadline)))
}

/// `text` if it is RFC 3339, as UTC.
fn rfc3339(text: &str) -> Option<String> {
    let time = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    time.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok()
}

/// IMDS's event times (`21 Jan 2019 09:00:43 GMT`), or RFC 3339, as RFC
/// 3339 in UTC.
fn imds_time(text: &str) -> Option<String> {
    let text = text.trim();
    let format = time::macros::format_description!(
        "[day padding:none] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    match time::PrimitiveDateTime::parse(text, &format) {
        Ok(time) => time.assume_utc().format(&Rfc3339).ok(),
        Err(_) => rfc3339(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Answers from a map; a path missing from it is a 404, an `Err` entry
    /// an unreachable IMDS.
    #[derive(Default)]
    struct Answers(
        Mutex<HashMap<&'static str, Result<String, String>>>,
        std::sync::atomic::AtomicUsize,
    );

    impl Answers {
        fn set(&self, path: &'static str, answer: Result<&str, &str>) {
            self.0
                .lock()
                .unwrap()
                .insert(path, answer.map(str::to_owned).map_err(str::to_owned));
        }
    }

    #[async_trait::async_trait]
    impl Metadata for Answers {
        async fn read(&self, path: &str) -> Result<Option<String>, String> {
            if path == TARGET_LIFECYCLE_STATE {
                self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            self.0.lock().unwrap().get(path).cloned().transpose()
        }
    }

    #[tokio::test]
    async fn each_sign_makes_self_leaving_for_its_reason() {
        let imds = Answers::default();
        let nothing = look(&imds, &SelfLifecycle::default()).await;
        assert_eq!(nothing, SelfLifecycle::default());

        imds.set(TARGET_LIFECYCLE_STATE, Ok("InService"));
        imds.set(MAINTENANCE, Ok("[]"));
        let serving = look(&imds, &nothing).await;
        assert_eq!(serving.state, Some(LifecycleState::InService));
        assert_eq!(serving.leaving, None);
        assert!(!serving.departs());

        imds.set(REBALANCE, Ok(r#"{"noticeTime": "2026-12-07T10:00:00Z"}"#));
        let rebalancing = look(&imds, &serving).await;
        assert_eq!(
            rebalancing.leaving,
            Some(Leaving::new(LeaveReason::RebalanceRecommendation, None))
        );
        assert!(!rebalancing.departs(), "a recommendation is no leave");

        imds.set(
            MAINTENANCE,
            Ok(r#"[{"NotBefore": "21 Jan 2027 09:00:43 GMT", "Code": "system-reboot", "State": "active"},
                  {"NotBefore": "1 Jan 2027 09:00:00 GMT", "Code": "system-reboot", "State": "canceled"}]"#),
        );
        let maintained = look(&imds, &rebalancing).await;
        assert_eq!(
            maintained.leaving,
            Some(Leaving::new(
                LeaveReason::ScheduledMaintenance,
                Some("2027-01-21T09:00:43Z".to_owned())
            ))
        );

        imds.set(TARGET_LIFECYCLE_STATE, Ok("Terminated"));
        let terminated = look(&imds, &maintained).await;
        assert_eq!(terminated.state, Some(LifecycleState::Terminating));
        assert_eq!(
            terminated.leaving,
            Some(Leaving::new(LeaveReason::AutoScalingTermination, None))
        );
        assert!(terminated.departs());

        imds.set(
            SPOT_INSTANCE_ACTION,
            Ok(r#"{"action": "terminate", "time": "2026-12-07T10:02:00Z"}"#),
        );
        let interrupted = look(&imds, &terminated).await;
        assert_eq!(
            interrupted.leaving,
            Some(Leaving::new(
                LeaveReason::SpotInterruption,
                Some("2026-12-07T10:02:00Z".to_owned())
            ))
        );
    }

    #[tokio::test]
    async fn a_notice_stays_through_silence_failures_and_nonsense() {
        let imds = Answers::default();
        imds.set(
            SPOT_INSTANCE_ACTION,
            Ok(r#"{"action": "stop", "time": "2026-12-07T10:02:00Z"}"#),
        );
        imds.set(TARGET_LIFECYCLE_STATE, Ok("InService"));
        let leaving = look(&imds, &SelfLifecycle::default()).await;
        assert!(leaving.departs());

        imds.set(SPOT_INSTANCE_ACTION, Err("connection refused"));
        imds.set(TARGET_LIFECYCLE_STATE, Err("connection refused"));
        assert_eq!(look(&imds, &leaving).await, leaving, "a failed read keeps");

        imds.0.lock().unwrap().clear();
        assert_eq!(
            look(&imds, &leaving).await.leaving,
            leaving.leaving,
            "a notice given is not taken back"
        );

        let fresh = SelfLifecycle::default();
        for (path, nonsense) in [
            (SPOT_INSTANCE_ACTION, "{"),
            (
                SPOT_INSTANCE_ACTION,
                r#"{"action": "explode", "time": "now"}"#,
            ),
            (REBALANCE, "[]"),
            (MAINTENANCE, "{}"),
        ] {
            imds.0.lock().unwrap().clear();
            imds.set(path, Ok(nonsense));
            assert_eq!(look(&imds, &fresh).await, fresh, "{path}: {nonsense}");
        }
        imds.0.lock().unwrap().clear();
        imds.set(
            SPOT_INSTANCE_ACTION,
            Ok(r#"{"action": "terminate", "time": "soon"}"#),
        );
        assert_eq!(
            look(&imds, &fresh).await.leaving,
            Some(Leaving::new(LeaveReason::SpotInterruption, None)),
            "a time that is not RFC 3339 is no deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn polling_tells_each_change_once_and_stops_when_nobody_listens() {
        let imds = Arc::new(Answers::default());
        let (known, mut changes) = watch::channel(SelfLifecycle::default());
        let (_every, every) = watch::channel(Duration::from_secs(5));
        let polling = tokio::spawn(poll(Arc::clone(&imds) as Arc<dyn Metadata>, every, known));
        tokio::time::sleep(Duration::from_secs(12)).await;
        assert!(!changes.has_changed().unwrap(), "nothing to tell");
        imds.set(TARGET_LIFECYCLE_STATE, Ok("Terminated"));
        changes.changed().await.unwrap();
        assert!(changes.borrow_and_update().departs());
        tokio::time::sleep(Duration::from_secs(12)).await;
        assert!(!changes.has_changed().unwrap(), "told once");
        drop(changes);
        tokio::time::timeout(Duration::from_secs(10), polling)
            .await
            .expect("the poll ends")
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_pace_applies_from_the_next_look() {
        let imds = Arc::new(Answers::default());
        let (known, _changes) = watch::channel(SelfLifecycle::default());
        let (pace, every) = watch::channel(Duration::from_secs(5));
        tokio::spawn(poll(Arc::clone(&imds) as Arc<dyn Metadata>, every, known));
        let looks = || imds.1.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20_500)).await;
        assert_eq!(looks(), 5, "at 0, 5, 10, 15 and 20 s");
        pace.send(Duration::from_secs(1)).unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(looks(), 5 + 10, "at once, then every second");
    }
}
