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
//! Modelled, not measured: a listing takes [`LISTING_TAKES`], then spends
//! one token per page at once; the first page without a token is throttled
//! and fails the listing (the SDK's own retries are left out: they only
//! spend more tokens). Nodes share decoded snapshots to save CPU
//! ([`SharedDecoding`]); each still makes every S3 request it would.

use prometheus_client::metrics::counter::Counter;
use rollcall::daemon::service::next_delay;
use rollcall::inventory::{Instance, SourceError};
use rollcall::snapshot::{
    Clock, Coordination, Coordinator, ListFailure, Lister, Listing, MemoryStore, Mode, ObjectStore,
    Scope, SharedDecoding, Tally,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

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
    fn new(start: Instant) -> Ec2Model {
        let seconds = HOUR.as_secs() as usize + 120;
        Ec2Model {
            start,
            bucket: Mutex::new((BUCKET_TOKENS, start)),
            fleet: (0..NODES).map(instance).collect(),
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
        tokio::time::sleep(LISTING_TAKES).await;
        let now = Instant::now();
        let second = now.duration_since(self.start).as_secs() as usize;
        let mut bucket = self.bucket.lock().unwrap();
        let (tokens, refilled) = &mut *bucket;
        *tokens = (*tokens + now.duration_since(*refilled).as_secs_f64() * REFILL_PER_SECOND)
            .min(BUCKET_TOKENS);
        *refilled = now;
        for made in 1..=self.pages() as u64 {
            if *tokens < 1.0 {
                self.throttled[second].fetch_add(1, Ordering::Relaxed);
                return Err(made);
            }
            *tokens -= 1.0;
            self.answered[second].fetch_add(1, Ordering::Relaxed);
        }
        Ok(self.pages() as u64)
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
            Ok(calls) => Ok(Listing {
                instances: self.fleet.clone(),
                calls,
            }),
            Err(calls) => Err(ListFailure {
                error: SourceError::Unavailable("RequestLimitExceeded".to_owned()),
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
/// the epoch (0: no answer yet).
struct Answers(Vec<AtomicU64>);

impl Answers {
    fn new() -> Answers {
        Answers((0..NODES).map(|_| AtomicU64::new(0)).collect())
    }

    fn set(&self, node: usize, listed_at: SystemTime) {
        let ms = listed_at.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        self.0[node].store(ms, Ordering::Relaxed);
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
                .0
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
    store: &Arc<MemoryStore>,
    ec2: &Arc<Ec2Model>,
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
    };
    Coordinator::new(
        Arc::clone(store) as Arc<dyn ObjectStore>,
        Arc::clone(ec2) as Arc<dyn Lister>,
        "rollcall/prod",
        settings,
        clock,
        n as u64,
    )
    .sharing_decoding(Arc::clone(decoding))
}

/// What happens to node `n` for the hour, with snapshots.
async fn shared_node(
    n: usize,
    store: Arc<MemoryStore>,
    ec2: Arc<Ec2Model>,
    decoding: Arc<SharedDecoding>,
    clock: Clock,
    answers: Arc<Answers>,
    tallies: Arc<Mutex<Vec<Tally>>>,
) {
    let start = Instant::now();
    let mut rng = fastrand::Rng::with_seed(n as u64);
    tokio::time::sleep(start_of(n, &mut rng)).await;
    if n >= STEADY_NODES {
        // `resolve --snapshot` at boot, then the daemon.
        let boot = coordinator(&store, &ec2, &decoding, clock, n, Mode::Boot);
        if let Ok(fleet) = boot.refresh().await {
            answers.set(n, fleet.listed_at);
        }
        tallies.lock().unwrap().push(boot.tally.clone());
    }
    let daemon = coordinator(&store, &ec2, &decoding, clock, n, Mode::Daemon);
    tallies.lock().unwrap().push(daemon.tally.clone());
    let mut failures = 0;
    while start.elapsed() < HOUR {
        match daemon.refresh().await {
            Ok(fleet) => {
                answers.set(n, fleet.listed_at);
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
                answers.set(n, clock.now());
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
}

async fn simulate(shared: bool) -> Outcome {
    let start = Instant::now();
    let clock = Clock::starting_at(UNIX_EPOCH + Duration::from_millis(START_MS));
    let ec2 = Arc::new(Ec2Model::new(start));
    let store = Arc::new(MemoryStore::new());
    let decoding = Arc::new(SharedDecoding::default());
    let answers = Arc::new(Answers::new());
    let tallies = Arc::new(Mutex::new(Vec::new()));
    let mut nodes = tokio::task::JoinSet::new();
    for n in 0..NODES {
        if shared {
            nodes.spawn(shared_node(
                n,
                Arc::clone(&store),
                Arc::clone(&ec2),
                Arc::clone(&decoding),
                clock,
                Arc::clone(&answers),
                Arc::clone(&tallies),
            ));
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
    let tallies = tallies.lock().unwrap().clone();
    Outcome {
        ec2,
        ages,
        tallies,
        s3: shared.then_some(store),
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
