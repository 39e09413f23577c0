//! The fleet as it lives, simulated: 10,000 nodes in ten Auto Scaling
//! groups for ten minutes of tokio's paused time, through the real snapshot
//! coordinator (the lease winner lists, folds the leave markers into the
//! snapshot and deletes the markers of gone instances), against an
//! in-memory bucket and the EC2 model of the hour-long run.
//!
//! At 2 minutes Auto Scaling scales in 3,000 nodes: each is held in
//! `Terminating:Wait` while its `on_leave` drains for a minute, then
//! terminates. Half a minute later, while they drain, 500 spot notices
//! arrive within 20 s; each
//! instance is gone two minutes after its notice. Every leaving node learns
//! of its leave from IMDS within one poll and writes its marker.
//!
//! Measured per leaving instance: when the snapshot first shows it leaving
//! (or terminating), and until when any node's answer still showed it
//! serving, which is when a policy such as Elastic Grid still registered
//! with it. Modelled, not measured: Auto Scaling's answers (the lister
//! gives each instance the lifecycle `DescribeAutoScalingGroups` would, as
//! `Ec2Source` does, and spends the calls `Ec2Source` would make) and IMDS.

use super::*;
use rollcall::inventory::{
    GROUP_TAG, LeaveReason, Leaving, Lifecycle, LifecycleState, Tag, auto_scaling_calls_per_listing,
};
use rollcall::settings::LifecycleSettings;
use rollcall::snapshot::leaving::{Marker, marker_key, markers_prefix};
use std::collections::{BTreeMap, HashMap};

const LIVING_NODES: usize = 10_000;
const LIVING_RUN: Duration = Duration::from_secs(10 * 60);
const GROUPS: usize = 10;
const SCALE_IN_AT: Duration = Duration::from_secs(2 * 60);
const SCALED_IN: usize = 3_000;
/// How long a scaled-in node's `on_leave` drains before it completes the
/// lifecycle action and Auto Scaling terminates it.
const DRAIN: Duration = Duration::from_secs(60);
/// While the scaled-in nodes still drain: both kinds of leave at once.
const SPOT_AT: Duration = Duration::from_secs(150);
const SPOT_NOTICES: usize = 500;
const SPOT_SPREAD: Duration = Duration::from_secs(20);
/// A spot notice comes two minutes before the instance is reclaimed.
const SPOT_WARNING: Duration = Duration::from_secs(120);
/// How often a node asks IMDS whether it is going (`watch`'s default).
const IMDS_POLL: Duration = LifecycleSettings::DEFAULT_POLL_EVERY;
const LIVING_SAMPLE: Duration = Duration::from_secs(1);

/// How instance `n` goes, if it does.
#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Stays,
    /// Scaled in by Auto Scaling; it learns of it from IMDS `learns` into
    /// the scale-in.
    ScaledIn {
        learns: Duration,
    },
    /// Given a spot interruption notice at `notice`.
    Spot {
        notice: Duration,
        learns: Duration,
    },
}

/// Three nodes in ten are scaled in; one in twenty of the rest is spot
/// capacity that gets a notice, spread over [`SPOT_SPREAD`].
fn fate(n: usize) -> Fate {
    let learns = IMDS_POLL.mul_f64((n % 97) as f64 / 97.0);
    match n % 10 {
        0..=2 => Fate::ScaledIn { learns },
        3 if (n / 10).is_multiple_of(2) => {
            let k = n / 20;
            let notice = SPOT_AT + SPOT_SPREAD.mul_f64(k as f64 / SPOT_NOTICES as f64);
            Fate::Spot { notice, learns }
        }
        _ => Fate::Stays,
    }
}

impl Fate {
    /// When the instance started to leave: Auto Scaling's scale-in, or
    /// its notice.
    fn leaves_at(self) -> Option<Duration> {
        match self {
            Fate::Stays => None,
            Fate::ScaledIn { .. } => Some(SCALE_IN_AT),
            Fate::Spot { notice, .. } => Some(notice),
        }
    }

    /// When the node learns it is leaving and writes its marker.
    fn announces_at(self) -> Option<Duration> {
        match self {
            Fate::Stays => None,
            Fate::ScaledIn { learns } => Some(SCALE_IN_AT + learns),
            Fate::Spot { notice, learns } => Some(notice + learns),
        }
    }

    /// When EC2 lists the instance no more.
    fn gone_at(self) -> Option<Duration> {
        match self {
            Fate::Stays => None,
            Fate::ScaledIn { learns } => Some(SCALE_IN_AT + learns + DRAIN),
            Fate::Spot { notice, .. } => Some(notice + SPOT_WARNING),
        }
    }

    /// What the node's marker says.
    fn leaving(self) -> Option<Leaving> {
        match self {
            Fate::Stays => None,
            Fate::ScaledIn { .. } => Some(Leaving::new(LeaveReason::AutoScalingTermination, None)),
            Fate::Spot { .. } => Some(Leaving::new(LeaveReason::SpotInterruption, None)),
        }
    }
}

/// The instance number an id of [`instance`] names.
fn number(id: &str) -> usize {
    usize::from_str_radix(id.trim_start_matches("i-"), 16).expect("a simulated instance id")
}

/// EC2 and Auto Scaling over the living fleet: each listing lists the
/// instances not yet gone, spending EC2's tokens for its pages, then asks
/// Auto Scaling about their groups.
struct LivingEc2 {
    ec2: Arc<Ec2Model>,
    start: Instant,
    /// Auto Scaling calls per second of the run.
    auto_scaling: Vec<AtomicU64>,
    listings: AtomicU64,
}

impl LivingEc2 {
    fn new(ec2: Arc<Ec2Model>, start: Instant) -> LivingEc2 {
        let seconds = LIVING_RUN.as_secs() as usize + 120;
        LivingEc2 {
            ec2,
            start,
            auto_scaling: (0..seconds).map(|_| AtomicU64::new(0)).collect(),
            listings: AtomicU64::new(0),
        }
    }

    /// The instances EC2 lists `at` into the run, with the lifecycle Auto
    /// Scaling gives them.
    fn fleet_at(&self, at: Duration) -> Vec<Instance> {
        (0..LIVING_NODES)
            .filter(|&n| fate(n).gone_at().is_none_or(|gone| at < gone))
            .map(|n| {
                let mut instance = instance(n);
                let group = format!("fleet-{}", n % GROUPS);
                instance.tags.push(Tag {
                    key: GROUP_TAG.to_owned(),
                    value: group.clone(),
                });
                let terminating = matches!(fate(n), Fate::ScaledIn { .. }) && at >= SCALE_IN_AT;
                if terminating {
                    instance.lifecycle =
                        Lifecycle::in_group(group, LifecycleState::TerminatingWait);
                    instance.leaving =
                        Some(Leaving::new(LeaveReason::AutoScalingTermination, None));
                } else {
                    instance.lifecycle = Lifecycle::in_group(group, LifecycleState::InService);
                }
                instance
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Lister for LivingEc2 {
    fn scope(&self) -> Scope {
        self.ec2.scope()
    }

    fn page_size(&self) -> u32 {
        self.ec2.page_size()
    }

    async fn list(&self) -> Result<Listing, ListFailure> {
        let pages = self
            .fleet_at(self.start.elapsed())
            .len()
            .div_ceil(PAGE_SIZE);
        let calls = match self.ec2.calls_for(pages).await {
            Ok(calls) => calls,
            Err(calls) => {
                return Err(ListFailure {
                    error: SourceError::Throttled("RequestLimitExceeded".to_owned()),
                    throttled: true,
                    calls,
                });
            }
        };
        let elapsed = self.start.elapsed();
        let instances = self.fleet_at(elapsed);
        let asked = auto_scaling_calls_per_listing(&instances) as u64;
        self.auto_scaling[elapsed.as_secs() as usize].fetch_add(asked, Ordering::Relaxed);
        self.listings.fetch_add(1, Ordering::Relaxed);
        Ok(Listing::whole(instances, calls + asked))
    }
}

/// Every fleet a node served, by listing time, and which node serves which.
struct Views {
    /// Per node, the listing time (ms since the epoch) of the fleet it
    /// serves; 0 before its first answer and once it is gone.
    serving: Vec<AtomicU64>,
    fleets: Mutex<HashMap<u64, Arc<[Instance]>>>,
}

impl Views {
    fn new() -> Views {
        Views {
            serving: (0..LIVING_NODES).map(|_| AtomicU64::new(0)).collect(),
            fleets: Mutex::new(HashMap::new()),
        }
    }

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
            .or_insert_with(|| Arc::clone(&fleet.instances));
        self.serving[node].store(ms, Ordering::Relaxed);
    }
}

/// Node `n` for the run, or until its instance is gone: the daemon's
/// refreshes, and once it learns it is leaving, its marker.
async fn living_node(n: usize, shared: Shared, views: Arc<Views>) {
    let start = Instant::now();
    let mut rng = fastrand::Rng::with_seed(n as u64);
    tokio::time::sleep(REFRESH.mul_f64(rng.f64())).await;
    let ends = fate(n)
        .gone_at()
        .map_or(LIVING_RUN, |gone| gone.min(LIVING_RUN));
    if let (Some(announce), Some(leaving)) = (fate(n).announces_at(), fate(n).leaving()) {
        let store = Arc::clone(&shared.store);
        tokio::spawn(async move {
            tokio::time::sleep_until(start + announce).await;
            let id = instance(n).id;
            let marker = Marker::new(&id, &leaving).encode();
            store
                .put(&marker_key(PREFIX, &id), marker, Condition::Always)
                .await
                .expect("the bucket takes the marker");
        });
    }
    let daemon = shared.coordinator(n, Mode::Daemon);
    shared.tallies.lock().unwrap().push(daemon.tally.clone());
    let mut failures = 0;
    loop {
        if let Ok(fleet) = daemon.refresh().await {
            views.set(n, &fleet);
            failures = 0;
        } else {
            failures += 1;
        }
        let next = start.elapsed() + next_delay(REFRESH, JITTER.mul_f64(rng.f64()), failures);
        if next >= ends {
            break;
        }
        tokio::time::sleep_until(start + next).await;
    }
    tokio::time::sleep_until(start + ends).await;
    // Gone: it registers with no one, and no one asks it.
    views.serving[n].store(0, Ordering::Relaxed);
}

/// What the samples found about each leaving instance, by number.
#[derive(Default)]
struct Seen {
    /// When a snapshot first showed it leaving or terminating (its
    /// listing time, into the run).
    in_snapshot: HashMap<usize, Duration>,
    /// The last sample at which a node's answer, after the instance began
    /// to leave, still showed it serving.
    last_serving: HashMap<usize, Duration>,
    /// Node-samples that showed an instance serving more than one refresh
    /// interval (with its jitter) after a snapshot first showed it leaving.
    late: u64,
}

/// The leaving instances a fleet shows serving, and those it shows leaving.
struct Judged {
    serving: Vec<usize>,
    leaving: Vec<usize>,
}

fn judge(fleet: &[Instance]) -> Judged {
    let (mut serving, mut leaving) = (Vec::new(), Vec::new());
    for instance in fleet {
        let n = number(&instance.id);
        if fate(n) == Fate::Stays {
            continue;
        }
        if instance.leaving.is_none() && instance.lifecycle.state.serves() {
            serving.push(n);
        } else {
            leaving.push(n);
        }
    }
    Judged { serving, leaving }
}

async fn sample_living(views: Arc<Views>, start: Instant) -> Seen {
    let mut judged: HashMap<u64, Judged> = HashMap::new();
    let mut seen = Seen::default();
    while start.elapsed() < LIVING_RUN {
        tokio::time::sleep(LIVING_SAMPLE).await;
        let now = start.elapsed();
        let mut holders: BTreeMap<u64, u64> = BTreeMap::new();
        for serving in &views.serving {
            let listed = serving.load(Ordering::Relaxed);
            if listed > 0 {
                *holders.entry(listed).or_default() += 1;
            }
        }
        for (&listed, &nodes) in &holders {
            let fleet = views.fleets.lock().unwrap()[&listed].clone();
            let judged = judged.entry(listed).or_insert_with(|| judge(&fleet));
            let listed_into = Duration::from_millis(listed - START_MS);
            for &n in &judged.leaving {
                let first = seen.in_snapshot.entry(n).or_insert(listed_into);
                *first = (*first).min(listed_into);
            }
            for &n in &judged.serving {
                if fate(n).leaves_at().is_some_and(|leaves| leaves <= now) {
                    seen.last_serving.insert(n, now);
                }
                let too_late = seen
                    .in_snapshot
                    .get(&n)
                    .is_some_and(|&first| now > first + REFRESH + JITTER);
                if too_late {
                    seen.late += nodes;
                }
            }
        }
    }
    seen
}

/// Percentiles (p50, p99, max) of seconds.
fn spread(mut seconds: Vec<f64>) -> (f64, f64, f64) {
    seconds.sort_by(f64::total_cmp);
    (
        percentile(&seconds, 0.5),
        percentile(&seconds, 0.99),
        seconds.last().copied().unwrap_or(f64::NAN),
    )
}

/// One kind of leave's figures.
struct LeaveFigures {
    instances: usize,
    /// From the start of the leave to a snapshot showing it, in seconds.
    to_snapshot: (f64, f64, f64),
    /// From the start of the leave to no node showing it serving.
    to_every_node: (f64, f64, f64),
}

fn leave_figures(seen: &Seen, spot: bool) -> LeaveFigures {
    let leaving: Vec<usize> = (0..LIVING_NODES)
        .filter(|&n| match fate(n) {
            Fate::Stays => false,
            Fate::ScaledIn { .. } => !spot,
            Fate::Spot { .. } => spot,
        })
        .collect();
    let since_leave = |n: usize, at: Duration| {
        at.saturating_sub(fate(n).leaves_at().unwrap_or_default())
            .as_secs_f64()
    };
    let to_snapshot = leaving
        .iter()
        .map(|&n| {
            seen.in_snapshot
                .get(&n)
                .map_or(f64::INFINITY, |&at| since_leave(n, at))
        })
        .collect();
    let to_every_node = leaving
        .iter()
        .map(|&n| {
            seen.last_serving
                .get(&n)
                .map_or(0.0, |&at| since_leave(n, at))
        })
        .collect();
    LeaveFigures {
        instances: leaving.len(),
        to_snapshot: spread(to_snapshot),
        to_every_node: spread(to_every_node),
    }
}

#[tokio::test(start_paused = true)]
async fn a_scale_in_and_spot_notices_reach_every_node_within_a_period_of_the_snapshot() {
    let start = Instant::now();
    let clock = Clock::starting_at(UNIX_EPOCH + Duration::from_millis(START_MS));
    let ec2 = Arc::new(Ec2Model::new(start, LIVING_NODES));
    let living = Arc::new(LivingEc2::new(Arc::clone(&ec2), start));
    let bucket = Arc::new(MemoryStore::new());
    let mut world = Shared::new(
        Arc::clone(&bucket) as Arc<dyn ObjectStore>,
        &ec2,
        clock,
        LIVING_NODES,
    );
    world.lister = Arc::clone(&living) as Arc<dyn Lister>;
    let views = Arc::new(Views::new());
    let mut nodes = tokio::task::JoinSet::new();
    for n in 0..LIVING_NODES {
        nodes.spawn(living_node(n, world.clone(), Arc::clone(&views)));
    }
    let sampling = tokio::spawn(sample_living(Arc::clone(&views), start));
    while let Some(node) = nodes.join_next().await {
        node.expect("a node ran");
    }
    let seen = sampling.await.expect("sampling ran");
    let tallies = world.tallies.lock().unwrap().clone();

    let scale_in = leave_figures(&seen, false);
    let spot = leave_figures(&seen, true);
    let (ec2_mean, _) = calls_between(&ec2.answered, Duration::ZERO, LIVING_RUN);
    let (auto_scaling_mean, _) = calls_between(&living.auto_scaling, Duration::ZERO, LIVING_RUN);
    let throttled: u64 = ec2
        .throttled
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum();
    let markers_left = bucket
        .keys()
        .iter()
        .filter(|key| key.starts_with(&markers_prefix(PREFIX)))
        .count();
    println!(
        "\nThe fleet as it lives: {LIVING_NODES} nodes in {GROUPS} Auto Scaling groups, {} min, \
         refresh {REFRESH:?}; EC2 {ec2_mean:.2} calls/s, Auto Scaling {auto_scaling_mean:.3} \
         calls/s ({} listings), {throttled} throttled",
        LIVING_RUN.as_secs() / 60,
        living.listings.load(Ordering::Relaxed),
    );
    println!(
        "| leave | instances | start → in the snapshot p50 / p99 / max (s) | \
         start → no node shows it serving p50 / p99 / max (s) |"
    );
    println!("|---|---|---|---|");
    for (name, figures) in [
        ("scale-in (Terminating:Wait)", &scale_in),
        ("spot notice (marker)", &spot),
    ] {
        let (a, b, c) = figures.to_snapshot;
        let (d, e, f) = figures.to_every_node;
        println!(
            "| {name} | {} | {a:.0} / {b:.0} / {c:.0} | {d:.0} / {e:.0} / {f:.0} |",
            figures.instances
        );
    }
    println!(
        "Node-samples showing an instance serving past its snapshot plus one period: {}; \
         markers folded {}, deleted {}, skipped {}, failed {}; left at the end: {markers_left}",
        seen.late,
        total(&tallies, |t| &t.markers_folded),
        total(&tallies, |t| &t.markers_deleted),
        total(&tallies, |t| &t.markers_skipped),
        total(&tallies, |t| &t.markers_failed),
    );

    assert_eq!(scale_in.instances, SCALED_IN);
    assert_eq!(spot.instances, SPOT_NOTICES);
    assert_eq!(
        seen.late, 0,
        "a node still showed an instance serving one period after the snapshot said it leaves"
    );
    // A leave reaches the snapshot with the next listing after the node
    // (spot) or Auto Scaling (scale-in) says so.
    let next_listing = (IMDS_POLL + REFRESH + JITTER + LISTING_TAKES).as_secs_f64();
    for (name, figures) in [("scale-in", &scale_in), ("spot", &spot)] {
        assert!(
            figures.to_snapshot.2 <= next_listing,
            "{name}: a leave took {:.0} s to reach the snapshot (limit {next_listing:.0} s)",
            figures.to_snapshot.2
        );
        assert!(
            figures.to_every_node.2 <= next_listing + (REFRESH + JITTER).as_secs_f64(),
            "{name}: a node showed a leaving instance serving {:.0} s after it began to leave",
            figures.to_every_node.2
        );
    }
    assert!(
        spot.to_every_node.2 < SPOT_WARNING.as_secs_f64(),
        "every node knows of a spot notice before the instance is reclaimed"
    );
    assert!(
        auto_scaling_mean * REFRESH.as_secs_f64() <= 1.5,
        "Auto Scaling is asked about once a period: {auto_scaling_mean:.3} calls/s"
    );
    assert!(
        ec2_mean + auto_scaling_mean <= 0.05 * REFILL_PER_SECOND,
        "listing spends {:.2} calls/s, more than 5% of the refill",
        ec2_mean + auto_scaling_mean
    );
    assert_eq!(markers_left, 0, "every gone instance's marker is deleted");
    assert!(
        total(&tallies, |t| &t.markers_folded) > 0,
        "markers were folded"
    );
}
