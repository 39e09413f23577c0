//! The follower on an in-memory bucket and queue, EC2 a shared map of
//! instances, on tokio's paused clock.

use super::*;
use crate::events::MemoryQueue;
use crate::snapshot::coordinator::{Coordination, ListFailure, Lister, Listing, Mode};
use crate::snapshot::format::Scope;
use crate::snapshot::store::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

const REFRESH: Duration = Duration::from_secs(30);
/// 2026-11-29T00:00:00Z: a period boundary.
const MIDNIGHT_MS: u64 = 1_764_374_400_000;
const REGION: &str = "us-east-1";

fn id(n: usize) -> String {
    format!("i-{n:017x}")
}

/// EC2: the instances there are, listed whole or asked for by id; an id
/// can be hidden from by-id answers for a number of asks (a new instance's
/// id lags).
#[derive(Default)]
struct Ec2 {
    instances: Mutex<BTreeMap<String, Instance>>,
    lagging: Mutex<HashMap<String, u32>>,
    asks: Mutex<u32>,
}

impl Ec2 {
    fn with(count: usize) -> Arc<Ec2> {
        let ec2 = Ec2::default();
        for n in 0..count {
            ec2.put(Instance::running(&id(n)));
        }
        Arc::new(ec2)
    }

    fn put(&self, instance: Instance) {
        let mut instances = self.instances.lock().unwrap();
        instances.insert(instance.id.clone(), instance);
    }
}

#[async_trait::async_trait]
impl Lister for Ec2 {
    fn scope(&self) -> Scope {
        Scope::new(vec![REGION.to_owned()], Vec::new())
    }

    fn page_size(&self) -> u32 {
        1000
    }

    async fn list(&self) -> Result<Listing, ListFailure> {
        let instances = self.instances.lock().unwrap().values().cloned().collect();
        Ok(Listing::whole(instances, 1))
    }
}

#[async_trait::async_trait]
impl Refresher for Ec2 {
    async fn describe_ids(
        &self,
        _account: &str,
        _region: &str,
        ids: &[String],
    ) -> Result<ByIds, SourceError> {
        *self.asks.lock().unwrap() += 1;
        let instances = self.instances.lock().unwrap();
        let mut lagging = self.lagging.lock().unwrap();
        let mut answer = ByIds::default();
        for wanted in ids {
            let hidden = lagging.get_mut(wanted).is_some_and(|left| {
                *left = left.saturating_sub(1);
                *left > 0
            });
            match instances.get(wanted) {
                Some(instance) if !hidden => answer.found.push(instance.clone()),
                _ => answer.outside.push(wanted.clone()),
            }
        }
        Ok(answer)
    }
}

fn clock() -> Clock {
    Clock::starting_at(UNIX_EPOCH + Duration::from_millis(MIDNIGHT_MS))
}

fn node(store: &Arc<MemoryStore>, ec2: &Arc<Ec2>, n: usize, clock: Clock) -> Arc<Coordinator> {
    let settings = Coordination {
        refresh: REFRESH,
        fresh_for: REFRESH - Duration::from_secs(3),
        max_age: REFRESH * 5,
        ec2_budget: 2.0,
        writer: Some(id(n)),
        mode: Mode::Daemon,
        clock_skew: Duration::from_secs(5),
        max_shrink: Some(0.5),
        write: true,
    };
    let lister = Arc::clone(ec2) as Arc<dyn Lister>;
    let store = Arc::clone(store) as Arc<dyn ObjectStore>;
    Arc::new(Coordinator::new(
        store, lister, "fleet", settings, clock, n as u64,
    ))
}

/// `node`'s follower of `queue`, running.
fn follow(
    node: &Arc<Coordinator>,
    store: &Arc<MemoryStore>,
    queue: &Arc<MemoryQueue>,
    ec2: &Arc<Ec2>,
    clock: Clock,
) -> tokio::task::JoinHandle<()> {
    let follower = Follower::new(
        Arc::clone(node),
        Arc::clone(store) as Arc<dyn ObjectStore>,
        "fleet",
        Arc::clone(queue) as Arc<dyn EventQueue>,
        Arc::clone(ec2) as Arc<dyn Refresher>,
        vec![REGION.to_owned()],
        REFRESH,
        clock,
    )
    .expect("the node knows its id");
    tokio::spawn(follower.run())
}

/// An EventBridge event as SQS delivers it.
fn event(detail_type: &str, region: &str, at: SystemTime, detail: serde_json::Value) -> Vec<u8> {
    let time = time::OffsetDateTime::from(at).format(&Rfc3339).unwrap();
    serde_json::json!({
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": detail_type,
        "source": "aws.ec2",
        "account": "123456789012",
        "time": time,
        "region": region,
        "resources": [],
        "detail": detail,
    })
    .to_string()
    .into_bytes()
}

fn state_change(instance: &str, state: &str, at: SystemTime) -> Vec<u8> {
    let detail = serde_json::json!({"instance-id": instance, "state": state});
    event("EC2 Instance State-change Notification", REGION, at, detail)
}

fn count(tally: &Tally, kind: &'static str, outcome: &'static str) -> u64 {
    tally
        .events
        .get_or_create(&EventLabels { kind, outcome })
        .get()
}

/// The fleet the head holds, read from the bucket.
async fn head_fleet(store: &Arc<MemoryStore>) -> Vec<Instance> {
    use crate::snapshot::fetch::{Decoded, fetch_fleet};
    use crate::snapshot::head::{Head, head_key};
    let body = store.peek(&head_key("fleet")).expect("a head");
    let head = Head::decode(&body, &Ec2::default().scope()).unwrap();
    let (fleet, _) = fetch_fleet(
        store.as_ref(),
        "fleet",
        head,
        None,
        None,
        &Decoded::default(),
        Duration::from_secs(5),
        1 << 30,
    )
    .await;
    fleet.map_err(|_| "a fleet").unwrap().instances.to_vec()
}

async fn head_ids(store: &Arc<MemoryStore>) -> Vec<String> {
    let fleet = head_fleet(store).await;
    fleet.into_iter().map(|instance| instance.id).collect()
}

#[tokio::test(start_paused = true)]
async fn an_event_reaches_the_head_in_seconds_and_is_deleted_only_after() {
    let (store, ec2, clock) = (Arc::new(MemoryStore::new()), Ec2::with(3), clock());
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(60)));
    let lister = node(&store, &ec2, 0, clock);
    let _following = follow(&lister, &store, &queue, &ec2, clock);
    tokio::task::yield_now().await;
    // The node lists for the fleet: it may now take the event lease.
    lister.refresh().await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;

    ec2.put(Instance::running(&id(7)));
    queue.push(state_change(&id(7), "running", clock.now()));
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert!(head_ids(&store).await.contains(&id(7)));
    assert!(queue.is_empty(), "deleted once the head holds it");
    assert_eq!(count(&lister.tally, "state_change", "applied"), 1);
    assert!(
        lister.tally.event_lag.get() <= 2.0,
        "{}",
        lister.tally.event_lag.get()
    );

    // The same event again (at least once): nothing changes.
    let writes = lister.tally.writes.get();
    queue.push(state_change(&id(7), "running", clock.now()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(lister.tally.writes.get(), writes, "no head written");
    assert_eq!(count(&lister.tally, "state_change", "unchanged"), 1);
    assert!(queue.is_empty());

    // A termination takes the instance out, as a listing would.
    ec2.instances.lock().unwrap().remove(&id(1));
    queue.push(state_change(&id(1), "terminated", clock.now()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!head_ids(&store).await.contains(&id(1)));
}

#[tokio::test(start_paused = true)]
async fn a_spot_notice_marks_leaving_and_foreign_or_garbled_messages_go() {
    let (store, ec2, clock) = (Arc::new(MemoryStore::new()), Ec2::with(3), clock());
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(60)));
    let lister = node(&store, &ec2, 0, clock);
    let _following = follow(&lister, &store, &queue, &ec2, clock);
    tokio::task::yield_now().await;
    lister.refresh().await.unwrap();

    let detail = serde_json::json!({"instance-id": id(2), "instance-action": "terminate"});
    let at = clock.now();
    queue.push(event(
        "EC2 Spot Instance Interruption Warning",
        REGION,
        at,
        detail,
    ));
    queue.push(
        state_change(&id(9), "running", at)
            .iter()
            .map(|_| b'x')
            .collect::<Vec<u8>>(),
    );
    queue.push(
        state_change(&id(8), "running", at)
            .to_vec()
            .replace_region("eu-west-1"),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    let fleet = head_fleet(&store).await;
    let spot = fleet.iter().find(|i| i.id == id(2)).unwrap();
    let leaving = spot.leaving.as_ref().expect("marked leaving");
    assert_eq!(leaving.reason, LeaveReason::SpotInterruption);
    let deadline = at + SPOT_NOTICE;
    let expected = time::OffsetDateTime::from(deadline)
        .format(&Rfc3339)
        .unwrap();
    assert_eq!(leaving.deadline.as_deref(), Some(expected.as_str()));
    assert!(
        queue.is_empty(),
        "the foreign and the garbled are deleted too"
    );
    // A marker keeps the mark through the next listing (EC2 still lists
    // the instance running).
    let marker = store.peek(&crate::snapshot::leaving::marker_key("fleet", &id(2)));
    assert!(marker.is_some(), "a leave marker for the spot instance");
    tokio::time::sleep(REFRESH).await;
    lister.refresh().await.unwrap();
    let listed = head_fleet(&store).await;
    let spot = listed.iter().find(|i| i.id == id(2)).unwrap();
    assert_eq!(
        spot.leaving.as_ref().map(|leaving| leaving.reason),
        Some(LeaveReason::SpotInterruption),
        "kept through the listing"
    );
    assert_eq!(count(&lister.tally, "unrecognised", "unrecognised"), 1);
    assert_eq!(count(&lister.tally, "state_change", "outside"), 1);
}

/// A body with its region replaced.
trait ReplaceRegion {
    fn replace_region(self, region: &str) -> Vec<u8>;
}

impl ReplaceRegion for Vec<u8> {
    fn replace_region(self, region: &str) -> Vec<u8> {
        String::from_utf8(self)
            .unwrap()
            .replace(
                &format!("\"region\":\"{REGION}\""),
                &format!("\"region\":\"{region}\""),
            )
            .into_bytes()
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_id_ec2_does_not_show_yet_is_asked_again() {
    let (store, ec2, clock) = (Arc::new(MemoryStore::new()), Ec2::with(3), clock());
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(60)));
    let lister = node(&store, &ec2, 0, clock);
    let _following = follow(&lister, &store, &queue, &ec2, clock);
    tokio::task::yield_now().await;
    lister.refresh().await.unwrap();

    ec2.put(Instance::running(&id(5)));
    ec2.lagging.lock().unwrap().insert(id(5), 3);
    queue.push(state_change(&id(5), "pending", clock.now()));
    // Asked with every batch; the queue's long poll wakes each term/3.
    tokio::time::sleep(REFRESH * 2).await;
    assert!(head_ids(&store).await.contains(&id(5)));
    assert_eq!(count(&lister.tally, "state_change", "retried"), 2);
    assert!(queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn when_the_holder_dies_another_node_takes_the_queue_within_two_terms() {
    let (store, ec2, clock) = (Arc::new(MemoryStore::new()), Ec2::with(3), clock());
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(60)));
    let first = node(&store, &ec2, 0, clock);
    let second = node(&store, &ec2, 1, clock);
    let dying = follow(&first, &store, &queue, &ec2, clock);
    let _taking_over = follow(&second, &store, &queue, &ec2, clock);
    tokio::task::yield_now().await;
    first.refresh().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    dying.abort();
    let died = tokio::time::Instant::now();

    // The second node lists when the snapshot goes stale, each period,
    // and then looks at the event lease.
    ec2.put(Instance::running(&id(6)));
    queue.push(state_change(&id(6), "running", clock.now()));
    while !queue.is_empty() {
        assert!(died.elapsed() < REFRESH * 2, "no node took the queue");
        tokio::time::sleep(REFRESH / 2).await;
        second.refresh().await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // Its listing may have seen the instance first: applied or unchanged,
    // the event was the second node's.
    let taken = count(&second.tally, "state_change", "applied")
        + count(&second.tally, "state_change", "unchanged");
    assert_eq!(taken, 1);
    assert!(head_ids(&store).await.contains(&id(6)));
}

/// A queue that waits as SQS does, in whole seconds (a shorter wait is
/// none), counting receives; past 20, a receive fails rather than spin on.
struct WholeSeconds {
    queue: MemoryQueue,
    receives: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl EventQueue for WholeSeconds {
    fn describe(&self) -> String {
        "a queue waiting whole seconds".to_owned()
    }

    async fn receive(&self, wait: Duration, max: usize) -> Result<Vec<Message>, QueueError> {
        let receives = self
            .receives
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if receives > 20 {
            return Err(QueueError::Transient(format!(
                "{receives} receives in one batch"
            )));
        }
        let whole = Duration::from_secs(wait.as_secs());
        self.queue.receive(whole, max).await
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        self.queue.delete(receipts).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_batch_long_polls_what_is_left_of_its_window_on_a_queue_of_whole_seconds() {
    let (store, ec2, clock) = (Arc::new(MemoryStore::new()), Ec2::with(3), clock());
    let queue = Arc::new(WholeSeconds {
        queue: MemoryQueue::new(Duration::from_secs(60)),
        receives: 0.into(),
    });
    let follower = Follower::new(
        node(&store, &ec2, 0, clock),
        Arc::clone(&store) as Arc<dyn ObjectStore>,
        "fleet",
        Arc::clone(&queue) as Arc<dyn EventQueue>,
        Arc::clone(&ec2) as Arc<dyn Refresher>,
        vec![REGION.to_owned()],
        REFRESH,
        clock,
    )
    .expect("the node knows its id");
    queue
        .queue
        .push(state_change(&id(7), "running", clock.now()));
    let later = {
        let queue = Arc::clone(&queue);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            queue
                .queue
                .push(state_change(&id(8), "running", clock.now()));
        })
    };
    let started = tokio::time::Instant::now();
    let batch = follower
        .gather(Duration::from_secs(10))
        .await
        .expect("a batch");
    later.await.unwrap();
    assert_eq!(batch.len(), 2, "what arrived within the window");
    // The first, the second 400 ms on, and a long poll of the 600 ms left
    // rounded up to a second; not a short poll after another.
    assert_eq!(queue.receives.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert!(
        started.elapsed() < BATCH_WINDOW * 2,
        "{:?}",
        started.elapsed()
    );
}
