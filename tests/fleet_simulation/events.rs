//! The fleet simulation with EC2's events: 10,000 nodes poll the head, the
//! event-lease holder follows a queue that EventBridge fills late (1 to
//! 5 s), sometimes twice, sometimes never (1%), out of order; and EC2
//! changes one instance every few seconds (a launch or a termination).
//! Each node runs the real coordinator and the real follower.
//!
//! Measured: from each change to each node's answer, from its event's
//! delivery to each node's answer, EC2's calls (listings and by-id
//! refreshes), and the bytes and requests each node spends on S3 while the
//! fleet is unchanged and per change, at a poll of 5 s and of 30 s.

use super::{Clock, Coordinator, PREFIX, REFRESH, START_MS, percentile};
use rollcall::events::{EventQueue, MemoryQueue};
use rollcall::inventory::{ByIds, Instance, SourceError, described};
use rollcall::snapshot::follow::{Follower, Refresher};
use rollcall::snapshot::{
    Coordination, ListFailure, Lister, Listing, MemoryStore, Mode, ObjectStore, Scope,
    SharedDecoding,
};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

const NODES: usize = 10_000;
/// Instances beside the nodes' own: the ones that go.
const OTHERS: usize = 1_000;
const REGION: &str = "us-east-1";
const PAGE_SIZE: usize = 1000;
/// Changes from the first minute to the last two.
const RUN: Duration = Duration::from_secs(600);
const CHANGES_FROM: Duration = Duration::from_secs(60);
const CHANGES_UNTIL: Duration = Duration::from_secs(420);
const CHANGE_EVERY: Duration = Duration::from_secs(4);
/// The quiet end of the run, where nothing changes.
const QUIET_FROM: Duration = Duration::from_secs(480);
const DELIVERY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(5));
const DROPPED: f64 = 0.01;
const _: () = assert!(DROPPED == 0.01, "the drop rule in `change` drops 1 in 100");
const DUPLICATED: f64 = 0.05;
const LISTING_TAKES: Duration = Duration::from_millis(1500);
const BY_ID_TAKES: Duration = Duration::from_millis(200);
/// S3 request prices in us-east-1, dollars per 1,000: GET (and 304), and
/// PUT, LIST, DELETE.
const GET_PRICE: f64 = 0.0004;
const PUT_PRICE: f64 = 0.005;
const MONTH: f64 = 30.0 * 86_400.0;

/// EC2 that changes: its instances, and every call it answered by second.
struct Ec2 {
    start: Instant,
    instances: Mutex<BTreeMap<String, Instance>>,
    calls: Vec<AtomicU64>,
}

impl Ec2 {
    fn new(start: Instant) -> Ec2 {
        let instances = (0..NODES + OTHERS)
            .map(|n| (described(n).id.clone(), described(n)))
            .collect();
        Ec2 {
            start,
            instances: Mutex::new(instances),
            calls: (0..RUN.as_secs() + 120)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn count(&self, calls: u64) {
        let second = self.start.elapsed().as_secs() as usize;
        if let Some(counter) = self.calls.get(second) {
            counter.fetch_add(calls, Ordering::Relaxed);
        }
    }
}

#[async_trait::async_trait]
impl Lister for Ec2 {
    fn scope(&self) -> Scope {
        Scope::new(vec![REGION.to_owned()], Vec::new())
    }

    fn page_size(&self) -> u32 {
        PAGE_SIZE as u32
    }

    async fn list(&self) -> Result<Listing, ListFailure> {
        tokio::time::sleep(LISTING_TAKES).await;
        let instances: Vec<Instance> = self.instances.lock().unwrap().values().cloned().collect();
        let calls = instances.len().div_ceil(PAGE_SIZE).max(1) as u64;
        self.count(calls);
        Ok(Listing::whole(instances, calls))
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
        tokio::time::sleep(BY_ID_TAKES).await;
        self.count(ids.len().div_ceil(200).max(1) as u64);
        let instances = self.instances.lock().unwrap();
        let mut answer = ByIds::default();
        for id in ids {
            match instances.get(id) {
                Some(instance) => answer.found.push(instance.clone()),
                None => answer.outside.push(id.clone()),
            }
        }
        Ok(answer)
    }
}

/// One change to EC2: an instance that came (`added`) or went, when, and
/// when its event reached the queue (never, when dropped).
#[derive(Clone)]
struct Change {
    id: String,
    added: bool,
    at: Duration,
    delivered: Option<Duration>,
}

/// The changes made so far, and which of them the fleets served lately
/// show (fleets are shared between nodes, so each is judged once while it
/// is among the last [`JUDGED`]).
#[derive(Default)]
struct Changes {
    made: Mutex<Vec<Change>>,
    judged: Mutex<VecDeque<Judged>>,
}

/// A fleet served lately, and which changes it shows.
type Judged = (Weak<[Instance]>, Vec<bool>);

/// Fleets whose judgement is kept.
const JUDGED: usize = 8;

impl Changes {
    fn make(&self, change: Change) {
        self.made.lock().unwrap().push(change);
    }

    /// Which of the changes made so far `fleet` shows.
    fn shown_by(&self, fleet: &Arc<[Instance]>) -> Vec<bool> {
        let made = self.made.lock().unwrap();
        let mut judged = self.judged.lock().unwrap();
        let same =
            |weak: &Weak<[Instance]>| weak.upgrade().is_some_and(|held| Arc::ptr_eq(&held, fleet));
        let at = match judged.iter().position(|(weak, _)| same(weak)) {
            Some(at) => at,
            None => {
                if judged.len() == JUDGED {
                    judged.pop_front();
                }
                judged.push_back((Arc::downgrade(fleet), Vec::new()));
                judged.len() - 1
            }
        };
        let shown = &mut judged[at].1;
        for change in &made[shown.len()..] {
            let present = fleet
                .binary_search_by(|instance| instance.id.as_str().cmp(&change.id))
                .is_ok();
            shown.push(present == change.added);
        }
        shown.clone()
    }
}

/// What one run measured.
struct Run {
    poll: Duration,
    /// Seconds from each change to each node's answer showing it, for the
    /// changes whose event was delivered; and from the delivery.
    from_change: Vec<f64>,
    from_delivery: Vec<f64>,
    /// The same for changes whose event was dropped.
    dropped: Vec<f64>,
    ec2_calls_per_second: f64,
    quiet_bytes_per_poll: f64,
    change_bytes_per_node: f64,
    gets_per_node_second: f64,
    puts_per_node_second: f64,
    dollars_per_node_month: f64,
}

#[allow(clippy::too_many_arguments)]
async fn node(
    n: usize,
    poll: Duration,
    store: Arc<MemoryStore>,
    ec2: Arc<Ec2>,
    queue: Arc<MemoryQueue>,
    decoding: Arc<SharedDecoding>,
    clock: Clock,
    changes: Arc<Changes>,
    polls: Arc<AtomicU64>,
) -> Vec<Option<Duration>> {
    let start = Instant::now();
    let mut rng = fastrand::Rng::with_seed(n as u64);
    tokio::time::sleep(poll.mul_f64(rng.f64())).await;
    let settings = Coordination {
        refresh: REFRESH,
        fresh_for: REFRESH - REFRESH / 10,
        max_age: REFRESH * 5,
        ec2_budget: 2.0,
        writer: Some(described(n).id),
        mode: Mode::Daemon,
        clock_skew: Duration::from_secs(5),
        max_shrink: Some(0.5),
        write: true,
    };
    let coordinator = Arc::new(
        Coordinator::new(
            Arc::clone(&store) as Arc<dyn ObjectStore>,
            Arc::clone(&ec2) as Arc<dyn Lister>,
            PREFIX,
            settings,
            clock,
            n as u64,
        )
        .sharing_decoding(decoding),
    );
    let follower = Follower::new(
        Arc::clone(&coordinator),
        Arc::clone(&store) as Arc<dyn ObjectStore>,
        PREFIX,
        queue as Arc<dyn EventQueue>,
        Arc::clone(&ec2) as Arc<dyn Refresher>,
        vec![REGION.to_owned()],
        REFRESH,
        clock,
    )
    .expect("every node knows its id");
    let following = tokio::spawn(follower.run());
    let mut seen: Vec<Option<Duration>> = Vec::new();
    while start.elapsed() < RUN {
        if let Ok(fleet) = coordinator.refresh().await {
            polls.fetch_add(1, Ordering::Relaxed);
            let at = start.elapsed();
            let shown = changes.shown_by(&fleet.instances);
            seen.resize(shown.len(), None);
            for (first, shown) in seen.iter_mut().zip(shown) {
                if shown && first.is_none() {
                    *first = Some(at);
                }
            }
        }
        let jitter = (poll / 10).mul_f64(rng.f64());
        tokio::time::sleep(poll + jitter).await;
    }
    following.abort();
    seen
}

/// EC2 changes every [`CHANGE_EVERY`]; each change's event reaches the
/// queue late, maybe twice, maybe never.
async fn change(ec2: Arc<Ec2>, queue: Arc<MemoryQueue>, changes: Arc<Changes>, clock: Clock) {
    let start = Instant::now();
    let mut rng = fastrand::Rng::with_seed(25);
    tokio::time::sleep(CHANGES_FROM).await;
    let mut k = 0;
    while start.elapsed() < CHANGES_UNTIL {
        let (id, added) = if k % 2 == 0 {
            let instance = described(NODES + OTHERS + k);
            let id = instance.id.clone();
            ec2.instances.lock().unwrap().insert(id.clone(), instance);
            (id, true)
        } else {
            // One of the instances that runs no node goes.
            let id = described(NODES + OTHERS - 1 - k).id;
            ec2.instances.lock().unwrap().remove(&id);
            (id, false)
        };
        let at = start.elapsed();
        let state = if added { "running" } else { "terminated" };
        let body = event(&id, state, clock.now());
        // Exactly one in a hundred, so that every run drops some.
        let dropped = k % 100 == 37;
        let deliveries = if dropped {
            0
        } else if rng.f64() < DUPLICATED {
            2
        } else {
            1
        };
        let mut delivered = None;
        for _ in 0..deliveries {
            let delay = DELIVERY.0 + (DELIVERY.1 - DELIVERY.0).mul_f64(rng.f64());
            delivered = Some(delivered.map_or(at + delay, |first: Duration| first.min(at + delay)));
            let (queue, body) = (Arc::clone(&queue), body.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                queue.push(body);
            });
        }
        changes.make(Change {
            id,
            added,
            at,
            delivered,
        });
        k += 1;
        tokio::time::sleep(CHANGE_EVERY).await;
    }
}

/// An `EC2 Instance State-change Notification` as SQS delivers it.
fn event(id: &str, state: &str, at: SystemTime) -> Vec<u8> {
    let time = time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    serde_json::json!({
        "version": "0",
        "id": "0",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": time,
        "region": REGION,
        "resources": [],
        "detail": {"instance-id": id, "state": state},
    })
    .to_string()
    .into_bytes()
}

/// S3's requests so far: GETs (with 304s and misses), and the rest; and
/// the bytes of bodies read.
fn s3_counts(store: &MemoryStore) -> (u64, u64, u64) {
    let counts = &store.counts;
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let gets = load(&counts.bodies) + load(&counts.not_modified) + load(&counts.missing);
    let others =
        load(&counts.writes) + load(&counts.refused) + load(&counts.lists) + load(&counts.deletes);
    (gets, others, load(&counts.body_bytes))
}

async fn simulate(poll: Duration) -> Run {
    let start = Instant::now();
    let clock = Clock::starting_at(UNIX_EPOCH + Duration::from_millis(START_MS));
    let ec2 = Arc::new(Ec2::new(start));
    let store = Arc::new(MemoryStore::with_clock(clock));
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(60)));
    let decoding = Arc::new(SharedDecoding::default());
    let changes = Arc::new(Changes::default());
    let polls = Arc::new(AtomicU64::new(0));
    let mut nodes = tokio::task::JoinSet::new();
    for n in 0..NODES {
        nodes.spawn(node(
            n,
            poll,
            Arc::clone(&store),
            Arc::clone(&ec2),
            Arc::clone(&queue),
            Arc::clone(&decoding),
            clock,
            Arc::clone(&changes),
            Arc::clone(&polls),
        ));
    }
    tokio::spawn(change(
        Arc::clone(&ec2),
        Arc::clone(&queue),
        Arc::clone(&changes),
        clock,
    ));
    // S3's counts at the edges of the windows measured.
    let (counting_store, counting_polls) = (Arc::clone(&store), Arc::clone(&polls));
    let windows = tokio::spawn(async move {
        let mut marks = Vec::new();
        for edge in [CHANGES_FROM, CHANGES_UNTIL, QUIET_FROM, RUN - poll * 2] {
            tokio::time::sleep_until(start + edge).await;
            let polled = counting_polls.load(Ordering::Relaxed);
            marks.push((s3_counts(&counting_store), polled, edge));
        }
        marks
    });
    let mut seen = Vec::new();
    while let Some(node) = nodes.join_next().await {
        seen.push(node.expect("a node ran"));
    }
    let marks = windows.await.expect("the windows were measured");
    let made = changes.made.lock().unwrap().clone();
    let (mut from_change, mut from_delivery, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
    for (index, change) in made.iter().enumerate() {
        for node in &seen {
            let shown = node.get(index).copied().flatten();
            // Never shown counts as the whole rest of the run.
            let at = shown.unwrap_or(RUN).as_secs_f64();
            match change.delivered {
                Some(delivered) => {
                    from_change.push(at - change.at.as_secs_f64());
                    from_delivery.push(at - delivered.as_secs_f64());
                }
                None => dropped.push(at - change.at.as_secs_f64()),
            }
        }
    }
    for seconds in [&mut from_change, &mut from_delivery, &mut dropped] {
        seconds.sort_by(f64::total_cmp);
    }
    let window = |from: usize, to: usize| {
        let ((gets_a, others_a, bytes_a), polls_a, at_a) = marks[from];
        let ((gets_b, others_b, bytes_b), polls_b, at_b) = marks[to];
        let seconds = (at_b - at_a).as_secs_f64();
        (
            (gets_b - gets_a) as f64,
            (others_b - others_a) as f64,
            (bytes_b - bytes_a) as f64,
            (polls_b - polls_a) as f64,
            seconds,
        )
    };
    let (_, _, quiet_bytes, quiet_polls, _) = window(2, 3);
    let (_, _, change_bytes, _, _) = window(0, 1);
    let (gets, others, _, _, seconds) = window(0, 3);
    let calls: u64 = ec2.calls
        [CHANGES_FROM.as_secs() as usize..(RUN - poll * 2).as_secs() as usize]
        .iter()
        .map(|calls| calls.load(Ordering::Relaxed))
        .sum();
    let nodes = NODES as f64;
    Run {
        poll,
        from_change,
        from_delivery,
        dropped,
        ec2_calls_per_second: calls as f64 / seconds,
        quiet_bytes_per_poll: quiet_bytes / quiet_polls,
        change_bytes_per_node: change_bytes / nodes / made.len() as f64,
        gets_per_node_second: gets / nodes / seconds,
        puts_per_node_second: others / nodes / seconds,
        dollars_per_node_month: (gets * GET_PRICE + others * PUT_PRICE) / 1000.0 / nodes / seconds
            * MONTH,
    }
}

fn row(run: &Run) -> String {
    let spread = |seconds: &[f64]| {
        format!(
            "{:.1} / {:.1} / {:.1}",
            percentile(seconds, 0.5),
            percentile(seconds, 0.99),
            percentile(seconds, 1.0)
        )
    };
    format!(
        "| {} s | {} | {} | {} | {:.2} | {:.0} B | {:.1} KiB | {:.3} / {:.4} | ${:.4} |",
        run.poll.as_secs(),
        spread(&run.from_change),
        spread(&run.from_delivery),
        spread(&run.dropped),
        run.ec2_calls_per_second,
        run.quiet_bytes_per_poll,
        run.change_bytes_per_node / 1024.0,
        run.gets_per_node_second,
        run.puts_per_node_second,
        run.dollars_per_node_month,
    )
}

#[tokio::test(start_paused = true)]
async fn events_reach_ten_thousand_nodes_within_a_poll_and_an_unchanged_fleet_costs_a_304() {
    let fast = simulate(Duration::from_secs(5)).await;
    let slow = simulate(REFRESH).await;
    println!(
        "\nEvents: {NODES} nodes, refresh {} s, a change every {} s, events {}-{} s late, \
         {:.0}% dropped, {:.0}% twice",
        REFRESH.as_secs(),
        CHANGE_EVERY.as_secs(),
        DELIVERY.0.as_secs(),
        DELIVERY.1.as_secs(),
        DROPPED * 100.0,
        DUPLICATED * 100.0
    );
    println!(
        "| poll | change to answer p50 / p99 / max (s) | delivery to answer p50 / p99 / max (s) \
         | dropped event: change to answer (s) | EC2 calls/s | unchanged: bytes per node-poll \
         | a change: per node | S3 GETs / PUTs per node-s | $ per node-month |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for run in [&fast, &slow] {
        println!("{}", row(run));
    }
    let poll = fast.poll.as_secs_f64();
    let p99 = percentile(&fast.from_delivery, 0.99);
    assert!(
        p99 <= poll + 3.0,
        "an event's delivery to every node's answer took {p99:.1} s at p99 (poll {poll} s)"
    );
    let dropped_max = percentile(&fast.dropped, 1.0);
    if !fast.dropped.is_empty() {
        let limit = REFRESH.as_secs_f64() + LISTING_TAKES.as_secs_f64() + poll + 3.0;
        assert!(
            dropped_max <= limit,
            "a change whose event was dropped took {dropped_max:.1} s (limit {limit:.0} s)"
        );
    }
    for run in [&fast, &slow] {
        assert!(
            run.ec2_calls_per_second <= 1.0,
            "EC2 took {:.2} calls/s at poll {:?}",
            run.ec2_calls_per_second,
            run.poll
        );
        assert!(
            run.quiet_bytes_per_poll <= 2048.0,
            "an unchanged fleet cost {:.0} bytes a poll at poll {:?}",
            run.quiet_bytes_per_poll,
            run.poll
        );
        assert!(
            run.change_bytes_per_node <= 16.0 * 1024.0,
            "a change cost each node {:.0} bytes at poll {:?}",
            run.change_bytes_per_node,
            run.poll
        );
    }
}
