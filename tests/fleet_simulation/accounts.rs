//! A fleet across accounts, simulated: 100 accounts in 4 regions (400
//! account-regions of 250 instances each, 100,000 instances), 1,000
//! daemons among them for 40 minutes of tokio's paused time, each the real
//! coordinator over a lister of its own (the real `list_parts` with its own
//! `PartSchedule`, as each node's `Ec2Source` has), against an in-memory
//! bucket and an EC2 model with one `DescribeInstances` token bucket per
//! account-region.
//!
//! From 10 to 20 minutes one account denies every call (its four
//! account-regions fail: AccessDenied); from 20 to 30 minutes one other
//! account-region throttles every call. Measured: EC2's calls per
//! account-region, the answer age of the healthy parts at every node, and
//! at every node whether a failing part's instances are still there,
//! marked stale; how often the failing parts are asked while they fail,
//! and how soon they are fresh again after. Then how long one lease winner
//! takes to list the 400 parts at a few concurrencies.
//!
//! Modelled, not measured: each page takes [`PAGE_TAKES`], then spends a
//! token of its account-region's bucket or is throttled (the SDK's retries
//! are left out); a denied or throttled call is counted as a call.

use super::*;
use rollcall::inventory::{PART_FIRST_RETRY, PartKey, PartSchedule, StalePart, list_parts};
use rollcall::settings::ec2::DEFAULT_LISTING_CONCURRENCY;
use std::collections::{BTreeMap, HashMap};

const ACCOUNTS: usize = 100;
const REGIONS: [&str; 4] = ["ap-southeast-1", "eu-west-1", "us-east-1", "us-west-2"];
const PARTS: usize = ACCOUNTS * REGIONS.len();
const PER_PART: usize = 250;
const INSTANCES: usize = PARTS * PER_PART;
/// The daemons: every `INSTANCES / DAEMONS`th instance runs one, so each
/// account-region has two or three.
const DAEMONS: usize = 1_000;
/// Ten minutes past the last fault: long enough for a part failing ten
/// minutes to be asked again (the waits double to 8 minutes by then).
const RUN: Duration = Duration::from_secs(40 * 60);
/// What one `DescribeInstances` page takes to answer.
const PAGE_TAKES: Duration = Duration::from_millis(300);
/// Account 7 is denied (all four of its account-regions)...
const DENIED_ACCOUNT: usize = 7;
const DENIED: (Duration, Duration) = (Duration::from_secs(600), Duration::from_secs(1200));
/// ...then account 42's us-east-1 is throttled.
const THROTTLED_PART: usize = 42 * REGIONS.len() + 2;
const THROTTLED: (Duration, Duration) = (Duration::from_secs(1200), Duration::from_secs(1800));
/// The answer-age target of the healthy parts, and the call rate one
/// account-region may spend: 5% of its refill.
const AGE_TARGET: f64 = 60.0;
const CALLS_TARGET: f64 = 0.05 * REFILL_PER_SECOND;
/// The other daemons boot after the first one's listing is written. Booted
/// together with no snapshot, every node that lost the lease would wait
/// for the winner about 7.5 s (its follow-up reads), less than a listing
/// of 400 parts takes (15 s), then list every part itself: hundreds of
/// full listings at once, more than this process's memory holds.
const FIRST_BOOTS_ALONE: Duration = REFRESH;
/// The concurrencies one listing is timed at, the host's default first.
const CONCURRENCIES: [usize; 3] = [DEFAULT_LISTING_CONCURRENCY as usize, 8, 16];

fn account(a: usize) -> String {
    format!("{:012}", 100_000_000_000 + a)
}

fn part_key(p: usize) -> PartKey {
    PartKey::new(
        Some(&account(p / REGIONS.len())),
        REGIONS[p % REGIONS.len()],
    )
}

/// Instance `n`: in part `n / PER_PART`.
fn account_instance(n: usize) -> Instance {
    let p = n / PER_PART;
    let region = REGIONS[p % REGIONS.len()];
    let mut instance = instance(n);
    instance.account = Some(account(p / REGIONS.len()));
    instance.region = Some(region.to_owned());
    instance.availability_zone = Some(format!("{region}a"));
    instance
}

/// The failing parts, and when each fails.
fn fault(p: usize) -> Option<(Duration, Duration)> {
    if p / REGIONS.len() == DENIED_ACCOUNT {
        Some(DENIED)
    } else if p == THROTTLED_PART {
        Some(THROTTLED)
    } else {
        None
    }
}

/// EC2 across the accounts: a token bucket per account-region, and every
/// call counted by account-region and second.
struct AccountsEc2 {
    start: Instant,
    parts: Vec<PartKey>,
    index: HashMap<PartKey, usize>,
    buckets: Vec<Mutex<(f64, Instant)>>,
    /// Calls (answered or refused) per part and second: `p * seconds + s`.
    calls: Vec<AtomicU64>,
    refused: AtomicU64,
    /// How long each listing took (a lease winner's, or a fallback's).
    listings: Mutex<Vec<Duration>>,
}

impl AccountsEc2 {
    fn new(start: Instant) -> AccountsEc2 {
        let parts: Vec<PartKey> = (0..PARTS).map(part_key).collect();
        let index = parts.iter().cloned().zip(0..).collect();
        AccountsEc2 {
            start,
            index,
            parts,
            buckets: (0..PARTS)
                .map(|_| Mutex::new((BUCKET_TOKENS, start)))
                .collect(),
            calls: (0..PARTS * Self::seconds())
                .map(|_| AtomicU64::new(0))
                .collect(),
            refused: AtomicU64::new(0),
            listings: Mutex::new(Vec::new()),
        }
    }

    fn seconds() -> usize {
        RUN.as_secs() as usize + 120
    }

    fn calls_of(&self, p: usize) -> &[AtomicU64] {
        &self.calls[p * Self::seconds()..(p + 1) * Self::seconds()]
    }

    /// One account-region's listing: its pages, each spending a token of
    /// its bucket unless the part is denied or throttled now.
    async fn list_part(
        &self,
        key: &PartKey,
        made: &AtomicU64,
    ) -> Result<Vec<Instance>, SourceError> {
        let p = self.index[key];
        for _ in 0..PER_PART.div_ceil(PAGE_SIZE) {
            tokio::time::sleep(PAGE_TAKES).await;
            let now = Instant::now();
            let elapsed = now.duration_since(self.start);
            self.calls_of(p)[elapsed.as_secs() as usize].fetch_add(1, Ordering::Relaxed);
            made.fetch_add(1, Ordering::Relaxed);
            let failing = fault(p).is_some_and(|(from, to)| elapsed >= from && elapsed < to);
            if failing && p != THROTTLED_PART {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(SourceError::Unavailable(format!(
                    "{key}: AccessDenied: not authorized to perform ec2:DescribeInstances"
                )));
            }
            let mut bucket = self.buckets[p].lock().unwrap();
            let (tokens, refilled) = &mut *bucket;
            *tokens = (*tokens + now.duration_since(*refilled).as_secs_f64() * REFILL_PER_SECOND)
                .min(BUCKET_TOKENS);
            *refilled = now;
            if failing {
                *tokens = 0.0;
            }
            if *tokens < 1.0 {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(SourceError::Throttled(format!(
                    "{key}: RequestLimitExceeded"
                )));
            }
            *tokens -= 1.0;
        }
        let first = self.index[key] * PER_PART;
        Ok((first..first + PER_PART).map(account_instance).collect())
    }
}

/// One node's lister, as its `Ec2Source` is: the parts, a schedule of its
/// own, the host's concurrency.
struct NodeLister {
    ec2: Arc<AccountsEc2>,
    schedule: PartSchedule,
    concurrency: usize,
    clock: Clock,
}

impl NodeLister {
    fn new(ec2: &Arc<AccountsEc2>, concurrency: usize, clock: Clock) -> NodeLister {
        NodeLister {
            ec2: Arc::clone(ec2),
            schedule: PartSchedule::default(),
            concurrency,
            clock,
        }
    }
}

#[async_trait::async_trait]
impl Lister for NodeLister {
    fn scope(&self) -> Scope {
        let regions = REGIONS.iter().map(|region| (*region).to_owned()).collect();
        Scope::new(regions, Vec::new()).with_accounts((0..ACCOUNTS).map(account).collect())
    }

    fn page_size(&self) -> u32 {
        PAGE_SIZE as u32
    }

    fn parts(&self) -> Vec<PartKey> {
        self.ec2.parts.clone()
    }

    /// As `Ec2Source`'s: the stale parts of the fleet held wait in its
    /// schedule as if it had failed them.
    fn recall_stale(&self, stale: &[StalePart], listed: SystemTime, now: SystemTime) {
        self.schedule.recall(stale, listed, now);
    }

    /// As `Ec2Source`'s: every part due, a few at a time; failing only
    /// when every part failed.
    async fn list(&self) -> Result<Listing, ListFailure> {
        let started = Instant::now();
        let made = AtomicU64::new(0);
        let ec2 = &self.ec2;
        let mut listing = list_parts(
            &ec2.parts,
            &self.schedule,
            self.concurrency,
            self.clock.now(),
            |part| ec2.list_part(part, &made),
        )
        .await;
        ec2.listings.lock().unwrap().push(started.elapsed());
        let calls = made.load(Ordering::Relaxed);
        if listing.failed.len() == PARTS {
            let throttled = listing
                .failed
                .iter()
                .position(|failure| matches!(failure.error, SourceError::Throttled(_)));
            let failure = listing.failed.swap_remove(throttled.unwrap_or(0));
            return Err(ListFailure {
                throttled: matches!(failure.error, SourceError::Throttled(_)),
                error: failure.error,
                calls,
            });
        }
        Ok(Listing {
            instances: listing.instances,
            calls,
            failed: listing.failed,
        })
    }
}

/// A fleet served: its instances, and the parts it marks stale.
type Served = (Arc<[Instance]>, Vec<StalePart>);

/// The fleet each node serves: by listing time, what it lists and which
/// parts it says are stale.
struct Views {
    serving: Vec<AtomicU64>,
    fleets: Mutex<HashMap<u64, Served>>,
}

impl Views {
    fn set(&self, node: usize, fleet: &rollcall::snapshot::coordinator::Fleet) {
        let ms = fleet
            .listed_at
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        self.fleets
            .lock()
            .unwrap()
            .entry(ms)
            .or_insert_with(|| (Arc::clone(&fleet.instances), fleet.stale_parts.clone()));
        self.serving[node].store(ms, Ordering::Relaxed);
    }
}

async fn accounts_node(k: usize, world: Shared, ec2: Arc<AccountsEc2>, views: Arc<Views>) {
    let start = Instant::now();
    let n = k * (INSTANCES / DAEMONS);
    let mut rng = fastrand::Rng::with_seed(n as u64);
    // The first daemon lists the first snapshot; the others boot within the
    // next period, as a fleet that has one does (see [`FIRST_BOOTS_ALONE`]).
    if k > 0 {
        tokio::time::sleep(FIRST_BOOTS_ALONE + REFRESH.mul_f64(rng.f64())).await;
    }
    let lister = Arc::new(NodeLister::new(
        &ec2,
        DEFAULT_LISTING_CONCURRENCY as usize,
        world.clock,
    )) as Arc<dyn Lister>;
    let daemon = coordinator(
        &world.store,
        &lister,
        &world.decoding,
        world.clock,
        n,
        Mode::Daemon,
    );
    world.tallies.lock().unwrap().push(daemon.tally.clone());
    let mut failures = 0;
    while start.elapsed() < RUN {
        match daemon.refresh().await {
            Ok(fleet) => {
                views.set(k, &fleet);
                failures = 0;
            }
            Err(_) => failures += 1,
        }
        tokio::time::sleep(next_delay(REFRESH, JITTER.mul_f64(rng.f64()), failures)).await;
    }
}

/// What one fleet served says: instances per failing part, the failing
/// parts it marks stale, and healthy parts marked stale.
struct Judged {
    size: usize,
    faulty_present: BTreeMap<usize, usize>,
    faulty_stale: Vec<usize>,
    healthy_stale: usize,
}

fn judge(instances: &[Instance], stale: &[StalePart], ec2: &AccountsEc2) -> Judged {
    let mut faulty_present = BTreeMap::new();
    for p in (0..PARTS).filter(|&p| fault(p).is_some()) {
        faulty_present.insert(p, 0);
    }
    for instance in instances {
        let id = instance.id.trim_start_matches("i-");
        let p = usize::from_str_radix(id, 16).expect("a simulated id") / PER_PART;
        if let Some(count) = faulty_present.get_mut(&p) {
            *count += 1;
        }
    }
    let stale: Vec<usize> = stale.iter().map(|part| ec2.index[&part.part]).collect();
    Judged {
        size: instances.len(),
        faulty_present,
        healthy_stale: stale.iter().filter(|&&p| fault(p).is_none()).count(),
        faulty_stale: stale.into_iter().filter(|&p| fault(p).is_some()).collect(),
    }
}

/// What the samples found.
#[derive(Default)]
struct Seen {
    /// Healthy parts' answer ages (s), while no part fails and while one
    /// does; after the first two periods.
    ages_calm: Vec<f64>,
    ages_fault: Vec<f64>,
    /// Node-samples whose fleet lacked instances (any, or of a failing
    /// part) or marked a healthy part stale.
    short: u64,
    healthy_stale: u64,
    /// Per failing part: node-samples, once every node had time to hear of
    /// the failure and until it ends, that did not mark it stale.
    unmarked: BTreeMap<usize, u64>,
    /// Per failing part: the last sample at which some node still marked it
    /// stale.
    last_stale: BTreeMap<usize, Duration>,
}

async fn sample_accounts(
    views: Arc<Views>,
    ec2: Arc<AccountsEc2>,
    clock: Clock,
    start: Instant,
) -> Seen {
    let mut seen = Seen::default();
    let mut judged: HashMap<u64, Judged> = HashMap::new();
    // Heard of by every node: the next listing after a fault begins (a
    // period and a listing), then every node's next read (a period and
    // its jitter), with a listing's slack.
    let heard = REFRESH * 3 + JITTER;
    while start.elapsed() < RUN {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let at = start.elapsed();
        let now_ms = clock.now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let mut holders: BTreeMap<u64, u64> = BTreeMap::new();
        for serving in &views.serving {
            let listed = serving.load(Ordering::Relaxed);
            if listed > 0 {
                *holders.entry(listed).or_default() += 1;
            }
        }
        {
            let mut fleets = views.fleets.lock().unwrap();
            fleets.retain(|listed, _| holders.contains_key(listed));
            judged.retain(|listed, _| holders.contains_key(listed));
            for listed in holders.keys() {
                let (instances, stale) = &fleets[listed];
                judged
                    .entry(*listed)
                    .or_insert_with(|| judge(instances, stale, &ec2));
            }
        }
        let faulting = (0..PARTS)
            .filter_map(fault)
            .any(|(from, to)| at >= from && at < to + heard);
        for (&listed, &nodes) in &holders {
            let judged = &judged[&listed];
            let age = now_ms.saturating_sub(listed) as f64 / 1000.0;
            if at >= REFRESH * 2 {
                let ages = if faulting {
                    &mut seen.ages_fault
                } else {
                    &mut seen.ages_calm
                };
                ages.extend(std::iter::repeat_n(age, nodes as usize));
            }
            let whole = judged.size == INSTANCES
                && judged
                    .faulty_present
                    .values()
                    .all(|&count| count == PER_PART);
            if !whole {
                seen.short += nodes;
            }
            if judged.healthy_stale > 0 {
                seen.healthy_stale += nodes;
            }
            for &p in judged.faulty_present.keys() {
                let (from, to) = fault(p).expect("a failing part");
                let marked = judged.faulty_stale.contains(&p);
                if at >= from + heard && at < to && !marked {
                    *seen.unmarked.entry(p).or_default() += nodes;
                }
                if marked {
                    seen.last_stale.insert(p, at);
                }
            }
        }
    }
    seen
}

/// The most calls an account-region made in any `window` of seconds from
/// `from` on, and which part.
fn peak_window(ec2: &AccountsEc2, from: Duration, window: usize) -> (f64, usize) {
    let mut peak = (0.0, 0);
    for p in 0..PARTS {
        let calls: Vec<u64> = ec2.calls_of(p)[..RUN.as_secs() as usize]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let mut sum: u64 = 0;
        for s in from.as_secs() as usize..calls.len() {
            sum += calls[s];
            if s >= from.as_secs() as usize + window {
                sum -= calls[s - window];
            }
            let rate = sum as f64 / window as f64;
            if rate > peak.0 {
                peak = (rate, p);
            }
        }
    }
    peak
}

fn calls_in(ec2: &AccountsEc2, p: usize, from: Duration, to: Duration) -> u64 {
    ec2.calls_of(p)[from.as_secs() as usize..to.as_secs() as usize]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
}

/// When a part failing from `from` to `to` is asked again after `to` at
/// the latest: its first failure comes with the next listing (a period
/// and a listing after `from`), then the waits double from there.
fn next_ask_after(from: Duration, to: Duration, listing: Duration) -> Duration {
    let mut due = from + REFRESH + JITTER + listing;
    let mut wait = PART_FIRST_RETRY;
    while due < to {
        due += wait;
        wait *= 2;
    }
    due
}

/// One listing of every part by a fresh node at `concurrency`, on an EC2
/// with full buckets and no fault: how long one lease winner takes.
async fn time_listing(concurrency: usize) -> Duration {
    let clock = Clock::starting_at(UNIX_EPOCH + Duration::from_millis(START_MS));
    let ec2 = Arc::new(AccountsEc2::new(Instant::now()));
    let lister = NodeLister::new(&ec2, concurrency, clock);
    let started = Instant::now();
    let listing = lister.list().await.unwrap_or_else(|_| panic!("listed"));
    assert_eq!(listing.instances.len(), INSTANCES);
    assert!(listing.failed.is_empty());
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_hundred_accounts_in_four_regions_each_spend_their_own_budget_and_fail_alone() {
    let start = Instant::now();
    let clock = Clock::starting_at(UNIX_EPOCH + Duration::from_millis(START_MS));
    let ec2 = Arc::new(AccountsEc2::new(start));
    let bucket = Arc::new(MemoryStore::new());
    // The shared lister is unused: each node lists with its own.
    let world = Shared::new(
        Arc::clone(&bucket) as Arc<dyn ObjectStore>,
        &Arc::new(Ec2Model::new(start, 1)),
        clock,
        DAEMONS,
    );
    let views = Arc::new(Views {
        serving: (0..DAEMONS).map(|_| AtomicU64::new(0)).collect(),
        fleets: Mutex::new(HashMap::new()),
    });
    let mut nodes = tokio::task::JoinSet::new();
    for k in 0..DAEMONS {
        nodes.spawn(accounts_node(
            k,
            world.clone(),
            Arc::clone(&ec2),
            Arc::clone(&views),
        ));
    }
    let sampling = tokio::spawn(sample_accounts(
        Arc::clone(&views),
        Arc::clone(&ec2),
        clock,
        start,
    ));
    while let Some(node) = nodes.join_next().await {
        node.expect("a node ran");
    }
    let mut seen = sampling.await.expect("sampling ran");
    let tallies = world.tallies.lock().unwrap().clone();
    let mut durations = ec2.listings.lock().unwrap().clone();
    durations.sort();
    let mut timed = Vec::new();
    for concurrency in CONCURRENCIES {
        timed.push((concurrency, time_listing(concurrency).await));
    }

    // Per account-region: the mean over the run, the busiest minute over
    // the run and after the first two periods (the cold start, when no
    // snapshot exists yet).
    let (mean_part, mean) = (0..PARTS)
        .map(|p| {
            (
                p,
                calls_in(&ec2, p, Duration::ZERO, RUN) as f64 / RUN.as_secs_f64(),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("parts");
    let (peak, peak_part) = peak_window(&ec2, Duration::ZERO, 60);
    let (warm_peak, warm_peak_part) = peak_window(&ec2, REFRESH * 2, 60);
    let healthy_mean =
        calls_in(&ec2, 0, REFRESH * 2, RUN) as f64 / (RUN - REFRESH * 2).as_secs_f64();
    seen.ages_calm.sort_by(f64::total_cmp);
    seen.ages_fault.sort_by(f64::total_cmp);
    let ages = |ages: &[f64]| {
        (
            percentile(ages, 0.5),
            percentile(ages, 0.99),
            ages.last().copied().unwrap_or(f64::NAN),
        )
    };
    let (calm50, calm99, calm_max) = ages(&seen.ages_calm);
    let (fault50, fault99, fault_max) = ages(&seen.ages_fault);
    let listing = |q: f64| durations[((durations.len() - 1) as f64 * q).round() as usize];
    let slowest = *durations.last().expect("a listing");

    println!(
        "\nAccounts: {ACCOUNTS} accounts × {} regions = {PARTS} account-regions, {INSTANCES} \
         instances ({PER_PART} a part), {DAEMONS} daemons, {} min, refresh {REFRESH:?}, page size \
         {PAGE_SIZE}, {PAGE_TAKES:?} a page, concurrency {}; EC2 bucket {BUCKET_TOKENS}/{REFILL_PER_SECOND} \
         per s per account-region",
        REGIONS.len(),
        RUN.as_secs() / 60,
        DEFAULT_LISTING_CONCURRENCY,
    );
    println!(
        "| account-regions | daemons | busiest part calls/s, run (mean) | a healthy part calls/s, \
         steady | busiest 60 s (calls/s): whole run / after 2 periods | healthy answer age p50 / p99 / max (s): \
         calm | during a fault | listings | listing p50 / max (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {PARTS} | {DAEMONS} | {mean:.3} | {healthy_mean:.3} | {peak:.2} / {warm_peak:.2} | \
         {calm50:.0} / {calm99:.0} / {calm_max:.0} | {fault50:.0} / {fault99:.0} / {fault_max:.0} | {} | \
         {:.1} / {:.1} |",
        durations.len(),
        listing(0.5).as_secs_f64(),
        slowest.as_secs_f64(),
    );
    println!(
        "| fault | parts | calls during it (per part) | periods | node-samples not marking it stale | fresh again after its end (s) | bound (s) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut faults = Vec::new();
    for (name, window, parts) in [
        (
            "denied account",
            DENIED,
            (0..REGIONS.len())
                .map(|r| DENIED_ACCOUNT * REGIONS.len() + r)
                .collect::<Vec<_>>(),
        ),
        ("throttled account-region", THROTTLED, vec![THROTTLED_PART]),
    ] {
        let (from, to) = window;
        let calls: Vec<u64> = parts.iter().map(|&p| calls_in(&ec2, p, from, to)).collect();
        let unmarked: u64 = parts
            .iter()
            .map(|p| seen.unmarked.get(p).copied().unwrap_or(0))
            .sum();
        let fresh_after = parts
            .iter()
            .map(|p| {
                seen.last_stale.get(p).map_or(0.0, |&last| {
                    (last + SAMPLE_EVERY).saturating_sub(to).as_secs_f64()
                })
            })
            .fold(0.0, f64::max);
        let bound = (next_ask_after(from, to, slowest) - to + REFRESH * 2 + slowest + SAMPLE_EVERY)
            .as_secs_f64();
        let periods = (to - from).as_secs() / REFRESH.as_secs();
        println!(
            "| {name} | {} | {calls:?} | {periods} | {unmarked} | {fresh_after:.0} | {bound:.0} |",
            parts.len(),
        );
        faults.push((name, calls, periods, unmarked, fresh_after, bound));
    }
    println!(
        "Listing every part once, from full buckets: {}",
        timed
            .iter()
            .map(|(c, took)| format!("concurrency {c}: {:.2} s", took.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "{} calls refused; {} leases won, {} lost; {} snapshots written; node-samples with \
         instances missing {}, with a healthy part stale {}; busiest part over the run {}, in a \
         minute {} then {}",
        ec2.refused.load(Ordering::Relaxed),
        total(&tallies, |t| &t.leases_won),
        total(&tallies, |t| &t.leases_lost),
        total(&tallies, |t| &t.writes),
        seen.short,
        seen.healthy_stale,
        part_key(mean_part),
        part_key(peak_part),
        part_key(warm_peak_part),
    );

    // 1. Each account-region within 5% of its own refill.
    assert!(
        mean <= CALLS_TARGET,
        "{} spent {mean:.3} calls/s over the run, more than 5% of its refill",
        part_key(mean_part)
    );
    // 2. Healthy parts' answers young at every node (p99 within 60 s), and
    // a fault does not age them. At concurrency 8 a listing of 400 parts
    // takes 15 s, longer than the losers of the lease wait for it (about
    // 7.5 s), and the p99 was 75 s: the default is 32.
    // The most an answer ages: read at most a period old, kept a period
    // and its jitter, and the listing it waited for.
    let young = (REFRESH * 2 + JITTER + slowest).as_secs_f64();
    println!(
        "Healthy answer age p99 {calm99:.0} s calm, {fault99:.0} s during a fault: the issue's \
         {AGE_TARGET:.0} s {}",
        if calm99.max(fault99) <= AGE_TARGET {
            "met"
        } else {
            "NOT met"
        }
    );
    assert!(
        calm99 <= AGE_TARGET && fault99 <= AGE_TARGET,
        "healthy answer age p99 {calm99:.0} s (calm) / {fault99:.0} s (a fault), over \
         {AGE_TARGET:.0} s"
    );
    assert!(
        calm_max <= young && fault_max <= young,
        "healthy answer age max {calm_max:.0} s (calm) / {fault_max:.0} s (a fault), over \
         {young:.0} s"
    );
    // During the faults the healthy p99 was 55 s against 52 s calm (one
    // run): within a refresh's jitter, not a period, which a fault that
    // held the listing back would cost.
    assert!(
        fault99 <= calm99 + JITTER.as_secs_f64(),
        "a fault aged the healthy parts' answers: p99 {fault99:.0} s against {calm99:.0} s"
    );
    // 3. A failing part fails alone: its instances kept and marked stale
    // at every node, no healthy part marked, fresh again after, asked
    // far less than once a period while failing.
    assert_eq!(seen.short, 0, "a node served a fleet lacking instances");
    assert_eq!(seen.healthy_stale, 0, "a node marked a healthy part stale");
    for (name, calls, periods, unmarked, fresh_after, bound) in faults {
        assert_eq!(
            unmarked, 0,
            "{name}: nodes served the failing part as fresh"
        );
        assert!(
            fresh_after <= bound,
            "{name}: still stale {fresh_after:.0} s after the fault ended (bound {bound:.0} s)"
        );
        for asked in calls {
            // The doubling waits from 15 s ask a part six times in ten
            // minutes; asked by every lease winner, it is asked every
            // period.
            assert!(
                asked * 2 < periods,
                "{name}: the part was asked {asked} times in {periods} periods: no backoff"
            );
        }
    }
}
