//! The coordinator under tokio's paused clock, against an in-memory bucket
//! and a scripted EC2.

use super::*;
use crate::snapshot::head::Head;
use crate::snapshot::publish::{Published, Replacing, publish};
use crate::snapshot::store::{Listed, MemoryStore};
use std::collections::VecDeque;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU64, Ordering};

const REFRESH: Duration = Duration::from_secs(30);
/// 2026-11-29T00:00:00Z: a period boundary for 30 s periods.
const MIDNIGHT_MS: u64 = 1_764_374_400_000;

/// What the scripted EC2 does on a listing.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Fleet,
    Throttled,
    Down,
}

/// EC2 with a fixed fleet of `size` instances, taking `takes` per listing.
struct ScriptedEc2 {
    size: usize,
    takes: Duration,
    script: StdMutex<VecDeque<Answer>>,
    listings: AtomicU64,
}

impl ScriptedEc2 {
    fn new(size: usize, takes: Duration) -> Arc<ScriptedEc2> {
        ScriptedEc2::scripted(size, takes, &[])
    }

    /// Answers from `script` in order, then lists the fleet.
    fn scripted(size: usize, takes: Duration, script: &[Answer]) -> Arc<ScriptedEc2> {
        Arc::new(ScriptedEc2 {
            size,
            takes,
            script: StdMutex::new(script.iter().copied().collect()),
            listings: AtomicU64::new(0),
        })
    }

    fn listings(&self) -> u64 {
        self.listings.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Lister for ScriptedEc2 {
    fn scope(&self) -> Scope {
        Scope::new(vec!["us-east-1".to_owned()], Vec::new())
    }

    fn page_size(&self) -> u32 {
        1000
    }

    async fn list(&self) -> Result<Listing, ListFailure> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.takes).await;
        let answer = self.script.lock().unwrap().pop_front();
        match answer.unwrap_or(Answer::Fleet) {
            Answer::Fleet => Ok(Listing::whole(
                (0..self.size)
                    .map(|n| Instance::running(&format!("i-{n:05}")))
                    .collect(),
                1,
            )),
            Answer::Throttled => Err(ListFailure {
                error: SourceError::Throttled("Throttled".to_owned()),
                throttled: true,
                calls: 1,
            }),
            Answer::Down => Err(ListFailure {
                error: SourceError::Unavailable("Down".to_owned()),
                throttled: false,
                calls: 1,
            }),
        }
    }
}

fn settings(mode: Mode, node: usize) -> Coordination {
    Coordination {
        refresh: REFRESH,
        fresh_for: REFRESH - Duration::from_secs(3),
        max_age: REFRESH * 5,
        ec2_budget: 2.0,
        writer: Some(format!("i-{node:05}")),
        mode,
        clock_skew: Duration::from_secs(5),
        max_shrink: Some(0.5),
        write: true,
    }
}

/// A clock at a period's start.
fn midnight() -> Clock {
    Clock::starting_at(UNIX_EPOCH + Duration::from_millis(MIDNIGHT_MS))
}

fn node(store: &Arc<MemoryStore>, ec2: &Arc<ScriptedEc2>, clock: Clock, n: usize) -> Coordinator {
    coordinator(
        store.clone(),
        ec2,
        settings(Mode::Daemon, n),
        clock,
        n as u64,
    )
}

/// A node with `settings` on `store`, its prefix `fleet/prod/`, its random
/// draws from `seed`.
fn coordinator(
    store: Arc<dyn ObjectStore>,
    ec2: &Arc<ScriptedEc2>,
    settings: Coordination,
    clock: Clock,
    seed: u64,
) -> Coordinator {
    Coordinator::new(
        store,
        Arc::clone(ec2) as Arc<dyn Lister>,
        "fleet/prod/",
        settings,
        clock,
        seed,
    )
}

#[tokio::test(start_paused = true)]
async fn of_many_nodes_at_once_one_lists_and_the_others_read_its_snapshot() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(20, Duration::from_secs(2));
    let clock = midnight();
    let nodes: Vec<Coordinator> = (0..20).map(|n| node(&store, &ec2, clock, n)).collect();

    let fleets = futures::future::join_all(nodes.iter().map(Coordinator::refresh)).await;

    assert_eq!(ec2.listings(), 1, "one listing for the whole fleet");
    let listed: Vec<&Fleet> = fleets.iter().map(|fleet| fleet.as_ref().unwrap()).collect();
    assert_eq!(
        listed
            .iter()
            .filter(|fleet| fleet.origin == Origin::Listed)
            .count(),
        1
    );
    for fleet in &listed {
        assert_eq!(fleet.instances.len(), 20);
        assert_eq!(fleet.listed_at, listed[0].listed_at, "one listing");
    }
    let winner = nodes
        .iter()
        .position(|node| node.tally.leases_won.get() == 1)
        .expect("a winner");
    let writer = Some(format!("i-{winner:05}"));
    assert!(listed.iter().all(|fleet| fleet.origin == Origin::Listed
        || fleet.origin
            == Origin::Snapshot {
                writer: writer.clone()
            }));
    let keys = store.keys();
    assert_eq!(
        keys[..2],
        ["fleet/prod/head", "fleet/prod/lease/1764374400000-0"]
    );
    assert!(keys[2].starts_with("fleet/prod/shards/"), "{keys:?}");
    assert_eq!(
        keys.len(),
        3,
        "one head, one lease and 20 instances' one shard"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fresh_snapshot_costs_one_not_modified_read_and_no_listing() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(3, Duration::ZERO);
    let clock = midnight();
    let writer = node(&store, &ec2, clock, 0);
    let reader = node(&store, &ec2, clock, 1);
    writer.refresh().await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;

    let first = reader.refresh().await.unwrap();
    let second = reader.refresh().await.unwrap();

    assert_eq!(ec2.listings(), 1);
    assert_eq!(
        first.origin,
        Origin::Snapshot {
            writer: Some("i-00000".to_owned())
        }
    );
    assert_eq!(first.listed_at, second.listed_at);
    assert_eq!(reader.tally.reads_fresh.get(), 1);
    assert_eq!(reader.tally.reads_not_modified.get(), 1);
    assert_eq!(
        reader.tally.leases_won.get() + reader.tally.leases_lost.get(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn each_period_is_listed_once_whoever_comes_first() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(3, Duration::from_millis(300));
    let clock = midnight();
    let nodes: Vec<Coordinator> = (0..5).map(|n| node(&store, &ec2, clock, n)).collect();
    // Ten periods, each node refreshing at its own offset within each.
    for _period in 0..10 {
        for node in &nodes {
            node.refresh().await.unwrap();
            tokio::time::sleep(REFRESH / 5).await;
        }
    }
    let listings = ec2.listings();
    assert!(
        (9..=11).contains(&listings),
        "{listings} listings in 10 periods"
    );
}

#[tokio::test(start_paused = true)]
async fn a_winner_that_dies_mid_period_is_replaced_the_next_period() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(3, Duration::ZERO);
    let clock = midnight();
    let survivor = node(&store, &ec2, clock, 1);
    survivor.refresh().await.unwrap();
    // The next period: another node takes the lease, then dies.
    tokio::time::sleep(REFRESH).await;
    store.insert(
        "fleet/prod/lease/1764374430000-1764374400000",
        br#"{"writer":"i-dead"}"#.to_vec(),
    );
    let kept = survivor.refresh().await.unwrap();
    assert_eq!(ec2.listings(), 1, "the lease is taken: no listing");
    assert_eq!(
        kept.origin,
        Origin::Snapshot {
            writer: Some("i-00001".to_owned())
        },
        "the snapshot it wrote last period still serves"
    );
    // The period after: the survivor takes the lease and lists.
    tokio::time::sleep(REFRESH).await;
    let fleet = survivor.refresh().await.unwrap();
    assert_eq!(fleet.origin, Origin::Listed);
    assert_eq!(ec2.listings(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_of_another_format_is_replaced_by_a_listing() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(3, Duration::ZERO);
    store.insert(
        "fleet/prod/snapshot.zst",
        zstd::bulk::compress(b"{\"format\": 9}\n[]", 3).unwrap(),
    );
    let node = node(&store, &ec2, midnight(), 0);
    let fleet = node.refresh().await.unwrap();
    assert_eq!(fleet.origin, Origin::Listed);
    assert_eq!(node.tally.reads_unusable.get(), 1);
    assert_eq!(node.tally.writes.get(), 1, "the snapshot is rewritten");
}

#[tokio::test(start_paused = true)]
async fn in_an_s3_outage_the_fleet_keeps_to_the_ec2_budget() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(200, Duration::ZERO);
    let clock = midnight();
    let nodes: Vec<Coordinator> = (0..200).map(|n| node(&store, &ec2, clock, n)).collect();
    for node in &nodes {
        node.refresh().await.unwrap();
    }
    assert_eq!(ec2.listings(), 1);
    store.set_down(true);
    let periods = 20;
    let mut failed = 0;
    for _ in 0..periods {
        tokio::time::sleep(REFRESH).await;
        for node in &nodes {
            failed += usize::from(node.refresh().await.is_err());
        }
    }
    // 2 calls/s over 20 periods of 30 s is 1,200 calls (one per listing
    // here); the snapshot serves the first 5 periods, and a node that
    // listed serves its own listing for 5 more.
    let listings = ec2.listings() - 1;
    let budget = 2.0 * REFRESH.as_secs_f64() * f64::from(periods);
    assert!(
        (listings as f64) <= budget * 1.2,
        "{listings} listings against a budget of {budget}"
    );
    assert!(listings > 0, "some nodes list");
    assert!(failed > 0, "the others keep their last answer");
}

#[tokio::test(start_paused = true)]
async fn at_boot_with_s3_down_a_node_lists_itself() {
    let store = Arc::new(MemoryStore::new());
    store.set_down(true);
    let ec2 = ScriptedEc2::new(3, Duration::ZERO);
    let boot = coordinator(store.clone(), &ec2, settings(Mode::Boot, 0), midnight(), 0);
    let fleet = boot.refresh().await.unwrap();
    assert_eq!(fleet.origin, Origin::Listed);
    assert_eq!(boot.tally.reads_failed.get(), 1);
    assert_eq!(boot.tally.writes.get(), 0, "S3 is down: nothing written");
}

#[tokio::test(start_paused = true)]
async fn throttling_is_counted_and_halves_the_fallback_chance() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::scripted(3, Duration::ZERO, &[Answer::Throttled, Answer::Down]);
    let node = node(&store, &ec2, midnight(), 0);
    let err = node.refresh().await.unwrap_err();
    assert!(err.to_string().contains("listing EC2 failed"), "{err}");
    assert_eq!(node.memory.lock().await.throttled_in_a_row, 1);
    tokio::time::sleep(REFRESH).await;
    assert!(node.refresh().await.is_err());
    assert_eq!(ec2.listings(), 2);
    tokio::time::sleep(REFRESH).await;
    node.refresh().await.unwrap();
    assert_eq!(node.memory.lock().await.throttled_in_a_row, 0);
    assert_eq!(ec2.listings(), 3);
}

const SNAPSHOT_KEY: &str = "fleet/prod/snapshot.zst";

/// A snapshot of `size` instances (`i-00000`...) as another node would
/// write it: listed at `listed_at`, by `writer`.
fn written_by(writer: Option<&str>, size: usize, listed_at: SystemTime) -> Vec<u8> {
    Snapshot {
        scope: Scope::new(vec!["us-east-1".to_owned()], Vec::new()),
        listed_at,
        writer: writer.map(str::to_owned),
        instances: (0..size)
            .map(|n| Instance::running(&format!("i-{n:05}")))
            .collect(),
        sharded: false,
    }
    .encode()
    .unwrap()
}

/// Writes a head of `size` instances (`i-00000`...) as another node of
/// this rollcall would: listed at `listed_at`, by `writer`, swapped for
/// the head stored.
async fn write_head(store: &MemoryStore, writer: &str, size: usize, listed_at: SystemTime) {
    let replaces = match store.get("fleet/prod/head", None).await.unwrap() {
        Read::Found { etag, .. } => Replacing::Head(etag),
        _ => Replacing::Nothing,
    };
    let instances: Vec<Instance> = (0..size)
        .map(|n| Instance::running(&format!("i-{n:05}")))
        .collect();
    let draft = crate::snapshot::publish::Draft {
        head: Head {
            scope: Scope::new(vec!["us-east-1".to_owned()], Vec::new()),
            listed_at,
            updated_at: listed_at,
            writer: Some(writer.to_owned()),
            revision: 1,
            instances: size,
            shards: Vec::new(),
            stale: Vec::new(),
        },
        replaces,
    };
    let published = publish(
        store,
        "fleet/prod",
        &instances,
        None,
        draft,
        Duration::from_secs(1),
    )
    .await;
    assert!(
        matches!(published, Published::Written { .. }),
        "{published:?}"
    );
}

fn at(clock: &Clock, ahead: Duration) -> SystemTime {
    clock.now() + ahead
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_dated_in_the_future_is_refused_counted_and_replaced() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(3, Duration::ZERO);
    let clock = midnight();
    let year = Duration::from_secs(365 * 86_400);
    store.insert(
        SNAPSHOT_KEY,
        written_by(Some("i-00001"), 3, at(&clock, year)),
    );
    let first = node(&store, &ec2, clock, 0);

    let fleet = first.refresh().await.unwrap();

    assert_eq!(fleet.origin, Origin::Listed, "never served");
    assert_eq!(first.tally.reads_from_the_future.get(), 1);
    assert_eq!(first.tally.writes.get(), 1, "replaced within the period");
    // The replacement serves the next reader.
    let reader = node(&store, &ec2, clock, 1);
    let read = reader.refresh().await.unwrap();
    assert_eq!(read.listed_at, fleet.listed_at);
    assert_eq!(ec2.listings(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_listing_time_past_any_calendar_is_refused_without_panicking() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(3, Duration::ZERO);
    let clock = midnight();
    for listed_at_ms in [253_402_300_800_000, 1 << 63, u64::MAX] {
        let listed_at = UNIX_EPOCH
            .checked_add(Duration::from_millis(listed_at_ms))
            .unwrap_or(UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 4));
        store.insert(SNAPSHOT_KEY, written_by(Some("i-00001"), 3, listed_at));
        let node = node(&store, &ec2, clock, 0);
        let fleet = node.refresh().await.unwrap();
        assert_eq!(fleet.origin, Origin::Listed, "{listed_at_ms}");
        assert_eq!(node.tally.reads_from_the_future.get(), 1, "{listed_at_ms}");
        assert!(!crate::membership::rfc3339(listed_at).is_empty());
        tokio::time::sleep(REFRESH).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_ages_on_the_readers_clock_even_when_dated_slightly_ahead() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(3, Duration::ZERO);
    let clock = midnight();
    // Four seconds ahead: within the skew allowed, so it serves...
    let ahead = at(&clock, Duration::from_secs(4));
    store.insert(SNAPSHOT_KEY, written_by(Some("i-00001"), 3, ahead));
    let node = node(&store, &ec2, clock, 0);
    let first = node.refresh().await.unwrap();
    assert_eq!(first.listed_at, ahead);
    assert_eq!(ec2.listings(), 0);
    // ...but is as old as this node has known it: after a refresh
    // interval it is replaced, though by its own date it is 26 s old.
    tokio::time::sleep(REFRESH).await;
    let second = node.refresh().await.unwrap();
    assert_eq!(second.origin, Origin::Listed);
    assert_eq!(ec2.listings(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_whose_writer_is_not_a_running_member_is_replaced() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(3, Duration::ZERO);
    let clock = midnight();
    for writer in [None, Some("i-forged"), Some("i-00001")] {
        // The empty fleet names no running writer whoever it claims.
        let size = if writer == Some("i-00001") { 0 } else { 3 };
        store.insert(SNAPSHOT_KEY, written_by(writer, size, clock.now()));
        let node = node(&store, &ec2, clock, 0);
        let fleet = node.refresh().await.unwrap();
        assert_eq!(fleet.origin, Origin::Listed, "{writer:?}");
        assert_eq!(fleet.instances.len(), 3, "{writer:?}");
        assert_eq!(node.tally.reads_unusable.get(), 1, "{writer:?}");
        tokio::time::sleep(REFRESH).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_shrinking_snapshot_is_served_only_once_the_nodes_own_listing_or_the_next_snapshot_confirms_it()
 {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(10, Duration::ZERO);
    let clock = midnight();
    let mut settings = settings(Mode::Daemon, 0);
    // A budget that (with this seed) lets the node list itself only now
    // and then.
    settings.ec2_budget = 0.01;
    let node = coordinator(store.clone(), &ec2, settings, clock, 7);
    assert_eq!(node.refresh().await.unwrap().instances.len(), 10);

    // Another node writes a fleet of 3: held back, the answer kept.
    tokio::time::sleep(Duration::from_secs(1)).await;
    write_head(&store, "i-00001", 3, clock.now()).await;
    let err = node.refresh().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("lists 3 instances where 10 were served"),
        "{err}"
    );
    assert_eq!(node.tally.reads_shrinking.get(), 1);
    assert_eq!(ec2.listings(), 1, "the gate did not let this node list");

    // The next snapshot says the same: confirmed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    write_head(&store, "i-00002", 4, clock.now()).await;
    let fleet = node.refresh().await.unwrap();
    assert_eq!(fleet.instances.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_shrinking_snapshot_that_the_nodes_own_listing_refutes_is_replaced() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(10, Duration::ZERO);
    let clock = midnight();
    let node = node(&store, &ec2, clock, 0);
    node.refresh().await.unwrap();
    tokio::time::sleep(REFRESH).await;
    store.insert(SNAPSHOT_KEY, written_by(Some("i-00000"), 1, clock.now()));

    let fleet = node.refresh().await.unwrap();

    assert_eq!(fleet.origin, Origin::Listed);
    assert_eq!(fleet.instances.len(), 10);
    assert_eq!(
        node.tally.writes.get(),
        2,
        "the listing replaced the object"
    );
}

/// A store that takes every write and answers every read with an HTML page
/// (a proxy's error page, say).
struct Hostile;

#[async_trait::async_trait]
impl ObjectStore for Hostile {
    fn describe(&self) -> String {
        "hostile".to_owned()
    }

    async fn get(&self, _key: &str, _if_none_match: Option<&str>) -> Result<Read, StoreError> {
        Ok(Read::Found {
            body: bytes::Bytes::from_static(b"<html>Service Unavailable</html>"),
            etag: format!("\"{}\"", fastrand::u64(..)),
        })
    }

    async fn put(
        &self,
        _key: &str,
        _body: Vec<u8>,
        _: Condition<'_>,
    ) -> Result<Written, StoreError> {
        Ok(Written::Stored { etag: None })
    }

    async fn list(&self, _prefix: &str, _limit: usize) -> Result<Vec<Listed>, StoreError> {
        Err(StoreError("<html>Service Unavailable</html>".to_owned()))
    }

    async fn delete(&self, _key: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_store_that_takes_every_lease_and_answers_garbage_keeps_the_fleet_within_budget() {
    let ec2 = ScriptedEc2::new(100, Duration::ZERO);
    let clock = midnight();
    let budget = 0.1;
    let nodes: Vec<Coordinator> = (0..100)
        .map(|n| {
            let mut settings = settings(Mode::Daemon, n);
            settings.ec2_budget = budget;
            coordinator(Arc::new(Hostile), &ec2, settings, clock, n as u64)
        })
        .collect();
    // The first refresh: a node that has seen no fleet lists once.
    for fleet in futures::future::join_all(nodes.iter().map(Coordinator::refresh)).await {
        fleet.unwrap();
    }
    let booted = ec2.listings();
    let started = tokio::time::Instant::now();
    for _ in 0..20 {
        tokio::time::sleep(REFRESH).await;
        futures::future::join_all(nodes.iter().map(Coordinator::refresh)).await;
    }
    let listings = ec2.listings() - booted;
    let allowed = budget * started.elapsed().as_secs_f64();
    assert!(
        (listings as f64) <= allowed * 1.5,
        "{listings} listings against a budget of {allowed}"
    );
    assert!(listings > 0, "the fleet still lists now and then");
}

#[tokio::test(start_paused = true)]
async fn a_node_that_never_writes_takes_no_lease_and_writes_nothing() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(3, Duration::ZERO);
    let clock = midnight();
    for (write, writer) in [(false, Some("i-00000")), (true, None)] {
        let mut settings = settings(Mode::Daemon, 0);
        settings.write = write;
        settings.writer = writer.map(str::to_owned);
        let node = coordinator(store.clone(), &ec2, settings, clock, 0);
        let fleet = node.refresh().await.unwrap();
        assert_eq!(fleet.origin, Origin::Listed, "it lists for itself");
        assert_eq!(
            node.tally.leases_won.get() + node.tally.leases_lost.get(),
            0
        );
        assert_eq!(node.tally.writes.get(), 0);
        assert!(store.keys().is_empty(), "{:?}", store.keys());
    }
}

#[tokio::test(start_paused = true)]
async fn at_boot_a_node_whose_store_fails_lists_again_rather_than_serve_its_own_listing() {
    let store = Arc::new(MemoryStore::new());
    store.set_down(true);
    let ec2 = ScriptedEc2::new(3, Duration::ZERO);
    let boot = coordinator(store.clone(), &ec2, settings(Mode::Boot, 0), midnight(), 0);
    let first = boot.refresh().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = boot.refresh().await.unwrap();
    assert_eq!(ec2.listings(), 2, "each try lists, as without a snapshot");
    assert!(second.listed_at > first.listed_at);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_listing_is_reported_as_throttled() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::scripted(3, Duration::ZERO, &[Answer::Throttled, Answer::Throttled]);
    for mode in [Mode::Boot, Mode::Daemon] {
        let node = coordinator(store.clone(), &ec2, settings(mode, 0), midnight(), 0);
        let err = node.refresh().await.unwrap_err();
        assert!(
            matches!(err, SourceError::Throttled(_)),
            "{mode:?}: {err:?}"
        );
        tokio::time::sleep(REFRESH).await;
    }
}

#[tokio::test(start_paused = true)]
async fn during_an_upgrade_older_nodes_and_newer_ones_read_each_other_and_share_a_lease() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(10, Duration::ZERO);
    let clock = midnight();
    let node = node(&store, &ec2, clock, 0);

    // An older writer's format-1 snapshot, and no head: read and served.
    store.insert(SNAPSHOT_KEY, written_by(Some("i-00001"), 10, clock.now()));
    let fleet = node.refresh().await.unwrap();
    assert_eq!(
        fleet.origin,
        Origin::Snapshot {
            writer: Some("i-00001".to_owned())
        }
    );
    assert_eq!(ec2.listings(), 0);

    // Its next listing writes format 2, and format 1 beside it for the
    // older readers: one listing, one time, so every node of either
    // version names the same lease for the next period.
    tokio::time::sleep(REFRESH).await;
    let listed = node.refresh().await.unwrap();
    assert_eq!(listed.origin, Origin::Listed);
    let legacy = Snapshot::decode(&store.peek(SNAPSHOT_KEY).unwrap(), &ec2.scope()).unwrap();
    let head = Head::decode(&store.peek("fleet/prod/head").unwrap(), &ec2.scope()).unwrap();
    assert!(legacy.sharded, "marked as a newer writer's");
    assert_eq!(legacy.listed_at, head.listed_at);
    assert_eq!(legacy.instances.len(), head.instances);
    assert_eq!(legacy.writer.as_deref(), Some("i-00000"));
    let lease_of_older_node = node.lease_key(clock.now(), Some(legacy.listed_at));
    let lease_of_newer_node = node.lease_key(clock.now(), Some(head.listed_at));
    assert_eq!(lease_of_older_node, lease_of_newer_node);

    // With no older writer seen for COMPAT_PERIODS periods, format 1 is no
    // longer written.
    for _ in 0..=COMPAT_PERIODS {
        tokio::time::sleep(REFRESH).await;
        node.refresh().await.unwrap();
    }
    store.delete(SNAPSHOT_KEY).await.unwrap();
    tokio::time::sleep(REFRESH).await;
    assert_eq!(node.refresh().await.unwrap().origin, Origin::Listed);
    assert_eq!(store.peek(SNAPSHOT_KEY), None, "format 1 no longer written");
}

#[tokio::test(start_paused = true)]
async fn a_fleet_of_newer_nodes_writes_no_format_1() {
    let store = Arc::new(MemoryStore::new());
    let ec2 = ScriptedEc2::new(10, Duration::ZERO);
    let node = node(&store, &ec2, midnight(), 0);
    node.refresh().await.unwrap();
    assert!(store.peek("fleet/prod/head").is_some());
    assert_eq!(store.peek(SNAPSHOT_KEY), None);
}
