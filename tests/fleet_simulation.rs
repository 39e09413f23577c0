//! The fleet simulation: 10,000 nodes for an hour of tokio's paused time,
//! through the real snapshot coordinator, against an in-memory bucket and
//! an EC2 model with the real `DescribeInstances` token bucket; and, in the
//! same run, the same fleet as rollcall behaved before snapshots (every
//! node lists EC2 every refresh). Prints the table recorded in
//! BENCHMARKS.md and asserts the targets of the issue.
//!
//! The hour: 9,000 nodes run from the start (first refreshes spread over
//! one interval); at 20 minutes 1,000 more boot within 60 s (each one
//! `resolve` at boot, then a daemon); from 40 to 50 minutes S3 is down.
//!
//! A third run is the fleet as it lives: a scale-in and spot notices at
//! once, through leave markers (`fleet_simulation/living.rs`). A fourth
//! follows EC2's events, polling the head every 5 s and every 30 s
//! (`fleet_simulation/events.rs`). A fifth lists 100 accounts in 4
//! regions, one account denied and one account-region throttled on the way
//! (`fleet_simulation/accounts.rs`).
//!
//! A second run poisons the snapshot: 2,000 nodes for 30 minutes, during
//! which one head dated a year ahead, one that is not a head and one that
//! drops 90% of the fleet are written, and S3 then answers nothing
//! within its deadline for five minutes.
//!
//! Modelled, not measured: a listing takes [`LISTING_TAKES`], then spends
//! one token per page at once; the first page without a token is throttled
//! and fails the listing (the SDK's own retries are left out: they only
//! spend more tokens). Nodes share decoded snapshots to save CPU
//! ([`SharedDecoding`]); each still makes every S3 request it would.

use prometheus_client::metrics::counter::Counter;
use rollcall::daemon::service::next_delay;
use rollcall::inventory::{Instance, SourceError};
use rollcall::snapshot::head::{Head, head_key};
use rollcall::snapshot::shard;
use rollcall::snapshot::{
    Clock, Condition, Coordination, Coordinator, ListFailure, Listed, Lister, Listing, MemoryStore,
    Mode, ObjectStore, Read, Scope, SharedDecoding, StoreError, Tally, Written,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

#[path = "fleet_simulation/living.rs"]
mod living;

#[path = "fleet_simulation/events.rs"]
mod events;

#[path = "fleet_simulation/accounts.rs"]
mod accounts;

const STEADY_NODES: usize = 9_000;
const BOOTING_NODES: usize = 1_000;
const NODES: usize = STEADY_NODES + BOOTING_NODES;
const HOUR: Duration = Duration::from_secs(3600);
const REFRESH: Duration = Duration::from_secs(30);
const JITTER: Duration = Duration::from_secs(3);
const PAGE_SIZE: usize = 1000;
const EC2_BUDGET: f64 = 2.0;
/// EC2's bucket for paginated or filtered `DescribeInstances` calls.
const BUCKET_TOKENS: f64 = 100.0;
const REFILL_PER_SECOND: f64 = 20.0;
const LISTING_TAKES: Duration = Duration::from_millis(1500);
const BOOT_STORM: (Duration, Duration) = (Duration::from_secs(1200), Duration::from_secs(60));
const OUTAGE: (Duration, Duration) = (Duration::from_secs(2400), Duration::from_secs(600));
/// 2026-11-29T00:00:00Z.
const START_MS: u64 = 1_764_374_400_000;
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const PREFIX: &str = "rollcall/prod";

/// EC2 as far as the budget goes: a token bucket and a fixed fleet.
struct Ec2Model {
    start: Instant,
    bucket: Mutex<(f64, Instant)>,
    fleet: Vec<Instance>,
    /// Calls per second of the hour: answered, throttled.
    answered: Vec<AtomicU64>,
    throttled: Vec<AtomicU64>,
}

impl Ec2Model {
    /// EC2 listing a fleet of `nodes` instances.
    fn new(start: Instant, nodes: usize) -> Ec2Model {
        let seconds = HOUR.as_secs() as usize + 120;
        Ec2Model {
            start,
            bucket: Mutex::new((BUCKET_TOKENS, start)),
            fleet: (0..nodes).map(instance).collect(),
            answered: (0..seconds).map(|_| AtomicU64::new(0)).collect(),
            throttled: (0..seconds).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn pages(&self) -> usize {
        self.fleet.len().div_ceil(PAGE_SIZE)
    }

    /// One listing's calls, now: `Ok` with the calls made, or the calls made
    /// when one was throttled.
    async fn calls(&self) -> Result<u64, u64> {
        self.calls_for(self.pages()).await
    }

    /// A listing of `pages` pages' calls, now (see [`Ec2Model::calls`]).
    async fn calls_for(&self, pages: usize) -> Result<u64, u64> {
        tokio::time::sleep(LISTING_TAKES).await;
        let now = Instant::now();
        let second = now.duration_since(self.start).as_secs() as usize;
        let mut bucket = self.bucket.lock().unwrap();
        let (tokens, refilled) = &mut *bucket;
        *tokens = (*tokens + now.duration_since(*refilled).as_secs_f64() * REFILL_PER_SECOND)
            .min(BUCKET_TOKENS);
        *refilled = now;
        for made in 1..=pages as u64 {
            if *tokens < 1.0 {
                self.throttled[second].fetch_add(1, Ordering::Relaxed);
                return Err(made);
            }
            *tokens -= 1.0;
            self.answered[second].fetch_add(1, Ordering::Relaxed);
        }
        Ok(pages as u64)
    }
}

#[async_trait::async_trait]
impl Lister for Ec2Model {
    fn scope(&self) -> Scope {
        Scope::new(vec!["us-east-1".to_owned()], Vec::new())
    }

    fn page_size(&self) -> u32 {
        PAGE_SIZE as u32
    }

    async fn list(&self) -> Result<Listing, ListFailure> {
        match self.calls().await {
            Ok(calls) => Ok(Listing::whole(self.fleet.clone(), calls)),
            Err(calls) => Err(ListFailure {
                error: SourceError::Throttled("RequestLimitExceeded".to_owned()),
                throttled: true,
                calls,
            }),
        }
    }
}

fn instance(n: usize) -> Instance {
    let mut instance = Instance::running(&format!("i-{n:017x}"));
    instance.private_ipv4 = Some(format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255));
    instance.availability_zone = Some("us-east-1a".to_owned());
    instance.region = Some("us-east-1".to_owned());
    instance
}

/// How each node's answer is doing: when its fleet was listed, in ms since
/// the epoch (0: no answer yet), and how many instances it lists.
struct Answers {
    listed_at: Vec<AtomicU64>,
    sizes: Vec<AtomicU64>,
}

impl Answers {
    fn new(nodes: usize) -> Answers {
        Answers {
            listed_at: (0..nodes).map(|_| AtomicU64::new(0)).collect(),
            sizes: (0..nodes).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Nodes that never had an answer.
    fn never_answered(&self) -> usize {
        self.listed_at
            .iter()
            .filter(|listed| listed.load(Ordering::Relaxed) == 0)
            .count()
    }

    fn set(&self, node: usize, listed_at: SystemTime, size: usize) {
        let ms = listed_at.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        self.listed_at[node].store(ms, Ordering::Relaxed);
        self.sizes[node].store(size as u64, Ordering::Relaxed);
    }
}

/// Ages of answers, in seconds, sampled every [`SAMPLE_EVERY`], apart for
/// the outage (and two intervals after it).
#[derive(Default)]
struct Ages {
    normal: Vec<f64>,
    outage: Vec<f64>,
}

async fn sample_ages(answers: Arc<Answers>, clock: Clock, start: Instant) -> Ages {
    let mut ages = Ages::default();
    let outage_until = OUTAGE.0 + OUTAGE.1 + REFRESH * 2;
    while start.elapsed() < HOUR {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let now_ms = clock.now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let elapsed = start.elapsed();
        let into = if elapsed >= OUTAGE.0 && elapsed < outage_until {
            &mut ages.outage
        } else {
            &mut ages.normal
        };
        into.extend(
            answers
                .listed_at
                .iter()
                .map(|listed| listed.load(Ordering::Relaxed))
                .filter(|&listed| listed > 0)
                .map(|listed| now_ms.saturating_sub(listed) as f64 / 1000.0),
        );
    }
    ages
}

/// When node `n` starts: the steady ones within the first interval, the
/// booting ones within the storm.
fn start_of(n: usize, rng: &mut fastrand::Rng) -> Duration {
    if n < STEADY_NODES {
        REFRESH.mul_f64(rng.f64())
    } else {
        BOOT_STORM.0 + BOOT_STORM.1.mul_f64(rng.f64())
    }
}

fn coordinator(
    store: &Arc<dyn ObjectStore>,
    lister: &Arc<dyn Lister>,
    decoding: &Arc<SharedDecoding>,
    clock: Clock,
    n: usize,
    mode: Mode,
) -> Coordinator {
    let settings = Coordination {
        refresh: REFRESH,
        fresh_for: REFRESH - JITTER,
        max_age: REFRESH * 5,
        ec2_budget: EC2_BUDGET,
        writer: Some(instance(n).id),
        mode,
        clock_skew: Duration::from_secs(5),
        max_shrink: Some(0.5),
        write: true,
    };
    Coordinator::new(
        Arc::clone(store),
        Arc::clone(lister),
        PREFIX,
        settings,
        clock,
        n as u64,
    )
    .sharing_decoding(Arc::clone(decoding))
}

/// What every node of a run with snapshots shares.
#[derive(Clone)]
struct Shared {
    store: Arc<dyn ObjectStore>,
    /// Who lists for a lease winner: the run's EC2 model unless it says.
    lister: Arc<dyn Lister>,
    decoding: Arc<SharedDecoding>,
    clock: Clock,
    answers: Arc<Answers>,
    tallies: Arc<Mutex<Vec<Tally>>>,
}

impl Shared {
    fn new(store: Arc<dyn ObjectStore>, ec2: &Arc<Ec2Model>, clock: Clock, nodes: usize) -> Shared {
        Shared {
            store,
            lister: Arc::clone(ec2) as Arc<dyn Lister>,
            decoding: Arc::new(SharedDecoding::default()),
            clock,
            answers: Arc::new(Answers::new(nodes)),
            tallies: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn coordinator(&self, n: usize, mode: Mode) -> Coordinator {
        coordinator(
            &self.store,
            &self.lister,
            &self.decoding,
            self.clock,
            n,
            mode,
        )
    }
}

/// What happens to node `n` for `length` of time, with snapshots.
async fn shared_node(n: usize, length: Duration, shared: Shared) {
    let start = Instant::now();
    let mut rng = fastrand::Rng::with_seed(n as u64);
    tokio::time::sleep(start_of(n, &mut rng)).await;
    let answers = &shared.answers;
    if n >= STEADY_NODES {
        // `resolve --snapshot` at boot, then the daemon.
        let boot = shared.coordinator(n, Mode::Boot);
        if let Ok(fleet) = boot.refresh().await {
            answers.set(n, fleet.listed_at, fleet.instances.len());
        }
        shared.tallies.lock().unwrap().push(boot.tally.clone());
    }
    let daemon = shared.coordinator(n, Mode::Daemon);
    shared.tallies.lock().unwrap().push(daemon.tally.clone());
    let mut failures = 0;
    while start.elapsed() < length {
        match daemon.refresh().await {
            Ok(fleet) => {
                answers.set(n, fleet.listed_at, fleet.instances.len());
                failures = 0;
            }
            Err(_) => failures += 1,
        }
        tokio::time::sleep(next_delay(REFRESH, JITTER.mul_f64(rng.f64()), failures)).await;
    }
}

/// What happens to node `n` for the hour, as before snapshots: it lists.
async fn listing_node(n: usize, ec2: Arc<Ec2Model>, clock: Clock, answers: Arc<Answers>) {
    let start = Instant::now();
    let mut rng = fastrand::Rng::with_seed(n as u64);
    tokio::time::sleep(start_of(n, &mut rng)).await;
    let mut failures = 0;
    while start.elapsed() < HOUR {
        match ec2.calls().await {
            Ok(_) => {
                answers.set(n, clock.now(), NODES);
                failures = 0;
            }
            Err(_) => failures += 1,
        }
        tokio::time::sleep(next_delay(REFRESH, JITTER.mul_f64(rng.f64()), failures)).await;
    }
}

/// One hour of one behaviour.
struct Outcome {
    ec2: Arc<Ec2Model>,
    ages: Ages,
    tallies: Vec<Tally>,
    s3: Option<Arc<MemoryStore>>,
    /// Nodes that had no answer at the end of the hour.
    never_answered: usize,
}

async fn simulate(shared: bool) -> Outcome {
    let start = Instant::now();
    let clock = Clock::starting_at(UNIX_EPOCH + Duration::from_millis(START_MS));
    let ec2 = Arc::new(Ec2Model::new(start, NODES));
    let store = Arc::new(MemoryStore::new());
    let world = Shared::new(
        Arc::clone(&store) as Arc<dyn ObjectStore>,
        &ec2,
        clock,
        NODES,
    );
    let answers = Arc::clone(&world.answers);
    let mut nodes = tokio::task::JoinSet::new();
    for n in 0..NODES {
        if shared {
            nodes.spawn(shared_node(n, HOUR, world.clone()));
        } else {
            nodes.spawn(listing_node(
                n,
                Arc::clone(&ec2),
                clock,
                Arc::clone(&answers),
            ));
        }
    }
    let outage_store = Arc::clone(&store);
    nodes.spawn(async move {
        tokio::time::sleep(OUTAGE.0).await;
        outage_store.set_down(true);
        tokio::time::sleep(OUTAGE.1).await;
        outage_store.set_down(false);
    });
    let ages = tokio::spawn(sample_ages(Arc::clone(&answers), clock, start));
    while let Some(node) = nodes.join_next().await {
        node.expect("a node ran");
    }
    let ages = ages.await.expect("sampling ran");
    let tallies = world.tallies.lock().unwrap().clone();
    Outcome {
        ec2,
        ages,
        tallies,
        s3: shared.then_some(store),
        never_answered: answers.never_answered(),
    }
}

/// Figures over whole seconds `[from, to)` of the hour.
fn calls_between(per_second: &[AtomicU64], from: Duration, to: Duration) -> (f64, u64) {
    let window = &per_second[from.as_secs() as usize..to.as_secs() as usize];
    let counts: Vec<u64> = window.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let total: u64 = counts.iter().sum();
    let peak = counts.iter().copied().max().unwrap_or(0);
    (total as f64 / window.len() as f64, peak)
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

/// The figures of one behaviour, and the row that prints them.
struct Figures {
    steady_mean: f64,
    steady_peak: u64,
    steady_throttled_mean: f64,
    outage_mean: f64,
    storm_throttled: u64,
    throttled: u64,
    age_p50: f64,
    age_p99: f64,
    age_max: f64,
    outage_age_max: f64,
}

fn figures(outcome: &mut Outcome) -> Figures {
    let ec2 = &outcome.ec2;
    // Steady state: after the first two intervals, before the storm.
    let (steady_mean, steady_peak) = calls_between(&ec2.answered, REFRESH * 2, BOOT_STORM.0);
    let (steady_throttled_mean, _) = calls_between(&ec2.throttled, REFRESH * 2, BOOT_STORM.0);
    let (outage_mean, _) = calls_between(&ec2.answered, OUTAGE.0, OUTAGE.0 + OUTAGE.1);
    let storm_end = BOOT_STORM.0 + BOOT_STORM.1 + REFRESH * 2;
    let throttled_in = |from: Duration, to: Duration| -> u64 {
        ec2.throttled[from.as_secs() as usize..to.as_secs() as usize]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    };
    let ages = &mut outcome.ages;
    ages.normal.sort_by(f64::total_cmp);
    ages.outage.sort_by(f64::total_cmp);
    Figures {
        steady_mean,
        steady_peak,
        steady_throttled_mean,
        outage_mean,
        storm_throttled: throttled_in(BOOT_STORM.0, storm_end),
        throttled: throttled_in(Duration::ZERO, HOUR),
        age_p50: percentile(&ages.normal, 0.5),
        age_p99: percentile(&ages.normal, 0.99),
        age_max: ages.normal.last().copied().unwrap_or(f64::NAN),
        outage_age_max: ages.outage.last().copied().unwrap_or(f64::NAN),
    }
}

impl Figures {
    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {:.2} | {} | {:.1}% | {:.1} | {:.2} | {} | {} | {:.0} / {:.0} / {:.0} | {:.0} |",
            self.steady_mean,
            self.steady_peak,
            100.0 * self.steady_mean / REFILL_PER_SECOND,
            self.steady_throttled_mean,
            self.outage_mean,
            self.storm_throttled,
            self.throttled,
            self.age_p50,
            self.age_p99,
            self.age_max,
            self.outage_age_max,
        )
    }
}

fn total(tallies: &[Tally], field: impl Fn(&Tally) -> &Counter) -> u64 {
    tallies.iter().map(|tally| field(tally).get()).sum()
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_nodes_share_one_listing_per_period() {
    let mut shared = simulate(true).await;
    let mut listing = simulate(false).await;
    let with = figures(&mut shared);
    let without = figures(&mut listing);

    println!(
        "\nFleet simulation: {NODES} nodes, 1 h, refresh {REFRESH:?}, {} pages a listing, \
         EC2 bucket {BUCKET_TOKENS}/{REFILL_PER_SECOND} per s, ec2_budget {EC2_BUDGET}/s",
        shared.ec2.pages()
    );
    println!(
        "| behaviour | EC2 calls/s, steady (mean) | peak second | share of refill | \
         throttled calls/s, steady | EC2 calls/s in the S3 outage | throttled in the boot storm | throttled in the hour | \
         answer age p50 / p99 / max (s) | max age in the outage (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!("{}", with.row("snapshot (this)"));
    println!("{}", without.row("every node lists (before)"));
    let tallies = &shared.tallies;
    let s3 = shared.s3.as_ref().expect("the shared run has a bucket");
    let counts = &s3.counts;
    let reads = counts.bodies.load(Ordering::Relaxed)
        + counts.not_modified.load(Ordering::Relaxed)
        + counts.missing.load(Ordering::Relaxed);
    println!(
        "Snapshot run: {} leases won, {} lost; {} snapshots written; S3 reads {:.1}/s \
         ({} with a body, {} not modified), {} failed during the outage",
        total(tallies, |t| &t.leases_won),
        total(tallies, |t| &t.leases_lost),
        total(tallies, |t| &t.writes),
        reads as f64 / HOUR.as_secs_f64(),
        counts.bodies.load(Ordering::Relaxed),
        counts.not_modified.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );

    assert_eq!(
        shared.never_answered, 0,
        "every node had an answer (the ages cover them all)"
    );
    assert!(
        with.steady_mean <= 0.05 * REFILL_PER_SECOND,
        "steady state spends {:.2} calls/s, more than 5% of the refill",
        with.steady_mean
    );
    assert_eq!(with.storm_throttled, 0, "no throttling in the boot storm");
    assert!(
        with.age_max <= (REFRESH * 2).as_secs_f64(),
        "an answer was {:.1} s old outside the outage",
        with.age_max
    );
    assert!(
        with.outage_mean <= EC2_BUDGET,
        "the outage spent {:.2} calls/s, more than the budget",
        with.outage_mean
    );
    assert!(
        without.throttled > 0 && without.steady_mean > with.steady_mean * 10.0,
        "the old behaviour is the comparison: it must be worse"
    );
}

/// The poisoned run: its fleet, its length, and when each poison comes.
const POISONED_NODES: usize = 2_000;
const POISONED_RUN: Duration = Duration::from_secs(30 * 60);
const FROM_THE_FUTURE_AT: Duration = Duration::from_secs(5 * 60);
const UNREADABLE_AT: Duration = Duration::from_secs(10 * 60);
const SHRINKING_AT: Duration = Duration::from_secs(15 * 60);
const SLOW_S3: (Duration, Duration) = (Duration::from_secs(20 * 60), Duration::from_secs(5 * 60));
/// What a request to a silent S3 costs before its deadline fails it (the
/// `--fetch-timeout` a fleet this size would set).
const S3_DEADLINE: Duration = Duration::from_secs(10);

/// The bucket behind a switch: when slow, every request takes the whole
/// deadline and fails, as `S3Store` does when S3 answers nothing in time.
struct Slowable {
    bucket: Arc<MemoryStore>,
    slow: std::sync::atomic::AtomicBool,
}

impl Slowable {
    async fn check(&self) -> Result<(), StoreError> {
        if self.slow.load(Ordering::SeqCst) {
            tokio::time::sleep(S3_DEADLINE).await;
            return Err(StoreError(format!(
                "no whole answer within {S3_DEADLINE:?}"
            )));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ObjectStore for Slowable {
    fn describe(&self) -> String {
        self.bucket.describe()
    }

    async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Read, StoreError> {
        self.check().await?;
        self.bucket.get(key, if_none_match).await
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        when: Condition<'_>,
    ) -> Result<Written, StoreError> {
        self.check().await?;
        self.bucket.put(key, body, when).await
    }

    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Listed>, StoreError> {
        self.check().await?;
        self.bucket.list(prefix, limit).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check().await?;
        self.bucket.delete(key).await
    }
}

/// A head of the first `size` instances as a node with a wrong clock, or
/// a forger, would write it: listed at `listed_at`, by instance 1; its
/// shards in the bucket, the head put over whatever is there.
fn forge(bucket: &MemoryStore, size: usize, listed_at: SystemTime) {
    let instances: Vec<_> = (0..size).map(instance).collect();
    let count = shard::shard_count(size, None);
    let mut names = Vec::new();
    for part in shard::split(&instances, count) {
        let encoded = shard::encode(&part).unwrap();
        bucket.insert(&shard::shard_key(PREFIX, &encoded.name), encoded.object);
        names.push(encoded.name);
    }
    let head = Head {
        scope: Scope::new(vec!["us-east-1".to_owned()], Vec::new()),
        listed_at,
        updated_at: listed_at,
        writer: Some(instance(1).id),
        revision: u64::MAX,
        instances: size,
        shards: names,
        stale: Vec::new(),
    };
    bucket.insert(&head_key(PREFIX), head.encode());
}

/// The fleet's answers every [`SAMPLE_EVERY`] of the poisoned run.
struct Sample {
    /// Into the run.
    at: Duration,
    /// The oldest answer's age, in seconds.
    oldest: f64,
    /// Answers a poison made: listed ahead of the clock, or not the whole
    /// fleet (EC2 lists every node throughout).
    believed: usize,
}

async fn sample_poisoned(answers: Arc<Answers>, clock: Clock, start: Instant) -> Vec<Sample> {
    let mut samples = Vec::new();
    while start.elapsed() < POISONED_RUN {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let now_ms = clock.now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let answered = answers
            .listed_at
            .iter()
            .zip(&answers.sizes)
            .map(|(listed, size)| (listed.load(Ordering::Relaxed), size.load(Ordering::Relaxed)))
            .filter(|&(listed, _)| listed > 0);
        let (mut oldest, mut believed) = (0.0, 0);
        for (listed, size) in answered {
            oldest = f64::max(oldest, now_ms.saturating_sub(listed) as f64 / 1000.0);
            let ahead = listed > now_ms + 5_000;
            believed += usize::from(ahead || size != POISONED_NODES as u64);
        }
        samples.push(Sample {
            at: start.elapsed(),
            oldest,
            believed,
        });
    }
    samples
}

#[tokio::test(start_paused = true)]
async fn a_poisoned_snapshot_moves_no_node_and_spends_no_more_than_the_budget() {
    let start = Instant::now();
    let clock = Clock::starting_at(UNIX_EPOCH + Duration::from_millis(START_MS));
    let ec2 = Arc::new(Ec2Model::new(start, POISONED_NODES));
    let bucket = Arc::new(MemoryStore::new());
    let store = Arc::new(Slowable {
        bucket: Arc::clone(&bucket),
        slow: false.into(),
    });
    let world = Shared::new(
        Arc::clone(&store) as Arc<dyn ObjectStore>,
        &ec2,
        clock,
        POISONED_NODES,
    );
    let (answers, tallies) = (Arc::clone(&world.answers), Arc::clone(&world.tallies));
    let mut nodes = tokio::task::JoinSet::new();
    for n in 0..POISONED_NODES {
        nodes.spawn(shared_node(n, POISONED_RUN, world.clone()));
    }
    let poisoner = Arc::clone(&store);
    nodes.spawn(async move {
        let year = Duration::from_secs(365 * 86_400);
        tokio::time::sleep_until(start + FROM_THE_FUTURE_AT).await;
        forge(&poisoner.bucket, POISONED_NODES, clock.now() + year);
        tokio::time::sleep_until(start + UNREADABLE_AT).await;
        poisoner.bucket.insert(
            &head_key(PREFIX),
            b"<html>503 Service Unavailable</html>".to_vec(),
        );
        tokio::time::sleep_until(start + SHRINKING_AT).await;
        forge(&poisoner.bucket, POISONED_NODES / 10, clock.now());
        tokio::time::sleep_until(start + SLOW_S3.0).await;
        poisoner.slow.store(true, Ordering::SeqCst);
        tokio::time::sleep(SLOW_S3.1).await;
        poisoner.slow.store(false, Ordering::SeqCst);
    });
    let samples = tokio::spawn(sample_poisoned(Arc::clone(&answers), clock, start));
    while let Some(node) = nodes.join_next().await {
        node.expect("a node ran");
    }
    let samples = samples.await.expect("sampling ran");
    let tallies = tallies.lock().unwrap().clone();

    // A bad object costs at most a period: answers stay as young as in
    // service (two periods). A silent S3 is an outage: answers age as in
    // one (printed, not held to a limit), and two periods after it ends
    // they are young again.
    let young = (REFRESH * 2).as_secs_f64();
    let recovered = SLOW_S3.0 + SLOW_S3.1 + REFRESH * 2;
    let windows = [
        (
            "from the future",
            FROM_THE_FUTURE_AT,
            UNREADABLE_AT,
            Some(young),
        ),
        ("unreadable", UNREADABLE_AT, SHRINKING_AT, Some(young)),
        ("shrinking", SHRINKING_AT, SLOW_S3.0, Some(young)),
        ("slow S3", SLOW_S3.0, SLOW_S3.0 + SLOW_S3.1, None),
        ("after S3 is back", recovered, POISONED_RUN, Some(young)),
    ];
    println!(
        "\nPoisoned snapshot: {POISONED_NODES} nodes, {} min, ec2_budget {EC2_BUDGET}/s",
        POISONED_RUN.as_secs() / 60
    );
    println!("| window | EC2 calls/s (mean) | oldest answer (s) | answers a poison made |");
    println!("|---|---|---|---|");
    for (name, from, to, age_limit) in windows {
        let mean = calls_between(&ec2.answered, from, to).0;
        let within = || {
            samples
                .iter()
                .filter(|sample| sample.at >= from && sample.at < to)
        };
        let oldest = within().map(|sample| sample.oldest).fold(0.0, f64::max);
        let believed = within().map(|sample| sample.believed).max().unwrap_or(0);
        println!("| {name} | {mean:.2} | {oldest:.0} | {believed} |");
        assert_eq!(believed, 0, "{name}: nodes served what a poison said");
        assert!(
            mean <= EC2_BUDGET,
            "{name}: the fleet spent {mean:.2} calls/s, more than the budget of {EC2_BUDGET}"
        );
        if let Some(limit) = age_limit {
            assert!(
                oldest <= limit,
                "{name}: an answer was {oldest:.0} s old (limit {limit:.0} s)"
            );
        }
    }
    assert_eq!(answers.never_answered(), 0, "every node had an answer");
    let refused = total(&tallies, |t| &t.reads_from_the_future);
    let shrinking = total(&tallies, |t| &t.reads_shrinking);
    let unusable = total(&tallies, |t| &t.reads_unusable);
    println!("Refused: {refused} from the future, {unusable} unusable, {shrinking} shrinking");
    assert!(
        refused > 0 && unusable > 0 && shrinking > 0,
        "every poison was read"
    );
}
