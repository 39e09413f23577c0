//! Issue #25's proof on `moto_server` (EC2, S3, SQS and EventBridge on one
//! loopback endpoint): ten `rollcall watch` daemons, each its own instance,
//! share the fleet through the S3 snapshot and follow EC2's events from an
//! SQS queue an EventBridge rule fills.
//!
//! Ten daemons are what two cores can start and run beside moto, so the
//! claims are phases of one world, each a function named by its claim and
//! run in order: the event path is measured in a quiet stretch between two
//! listings, the listing path after it, and the lease holder dies last.

use aws_sdk_sqs::types::QueueAttributeName;
use kit::CREDENTIALS;
use kit::daemon::Daemon;
use kit::eventually;
use kit::moto_events::{Bus, Queue};
use kit::moto_fleet::{Bucket, Fleet};
use kit::plugins::ELASTIC_GRID;
use kit::servers::Moto;
use rollcall::events::DETAIL_TYPES;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const REGION: &str = "us-east-1";
const BUCKET: &str = "rollcall-fleet";
const QUEUE: &str = "rollcall-events";
const DAEMONS: usize = 10;
/// How often every daemon reads the head (`--snapshot-poll`).
const POLL: Duration = Duration::from_secs(1);
/// How often the fleet is listed (`--refresh`). Twenty seconds leave
/// fifteen or more between two listings for the event path (a few
/// seconds) and the unchanged fleet's 304s to be measured with no listing
/// in between, and keep the dropped event's wait and the lease's handover
/// (a term and a period) within the file's two minutes.
const REFRESH: Duration = Duration::from_secs(20);
/// The soonest a listing follows the one before: a head is fresh for the
/// refresh interval less its jitter (a tenth of it).
const FRESH_FOR: Duration = Duration::from_secs(18);
/// The event lease's term: the refresh interval, at least 5 s.
const TERM: Duration = REFRESH;
/// The queue's visibility timeout. A killed holder's last long poll (a
/// third of a term, in whole seconds: 6 s) stays open in moto, as it would
/// in SQS, and takes what arrives meanwhile out of sight for this long (the
/// notice sent right after the kill is taken so in every run here): 5 s
/// brings it back before the lease can end (two thirds of a term after the
/// kill at the soonest), so the handover's bound holds whenever the event
/// is sent. The CloudFormation template's 60 s would hold it past that.
const VISIBILITY_SECONDS: u32 = 5;
/// Waits that are not what a test measures.
const WAIT: Duration = Duration::from_secs(30);

/// An event reaches every daemon within a poll and 2 s of PutEvents: the
/// queue's long poll wakes at once, the holder gathers for 1 s, asks EC2
/// and writes the head, and every daemon reads it within its next poll.
const EVENT_LIMIT: Duration = POLL.saturating_add(Duration::from_secs(2));
/// A launch no event announces reaches every daemon with the next listing:
/// at most a refresh interval after the last, at the first poll past it;
/// then every daemon reads it within a poll, 2 s more for ten daemons on
/// two cores.
const DROPPED_LIMIT: Duration = REFRESH
    .saturating_add(POLL)
    .saturating_add(Duration::from_secs(2));
/// From the holder's death to another daemon holding the event lease: the
/// lease ends at most a term after the holder's last renewal, and the first
/// listing after that (within a refresh interval) takes it; 2 s more for
/// the machine. Two terms, as the refresh interval is the term here.
const TAKEOVER_LIMIT: Duration = TERM
    .saturating_add(REFRESH)
    .saturating_add(Duration::from_secs(2));
/// From the holder's death to its queue's event on every daemon: the new
/// holder takes the lease, gathers for 1 s and writes the head, and every
/// daemon reads it within a poll.
const HANDOVER_LIMIT: Duration = TAKEOVER_LIMIT
    .saturating_add(Duration::from_secs(1))
    .saturating_add(POLL);

/// What a daemon logs when it takes the event lease.
const FOLLOWS: &str = "This node follows the fleet's events.";

const SHARDS_FETCHED: &str = "rollcall_snapshot_shards_total{outcome=\"fetched\"}";
const NOT_MODIFIED: &str = "rollcall_snapshot_reads_total{outcome=\"not_modified\"}";
const FRESH: &str = "rollcall_snapshot_reads_total{outcome=\"fresh\"}";
const SHARD_BYTES: &str = "rollcall_snapshot_bytes_total{kind=\"shard\"}";
const STATE_CHANGES_APPLIED: &str =
    "rollcall_events_total{kind=\"state_change\",outcome=\"applied\"}";
const SPOT_NOTICES_APPLIED: &str =
    "rollcall_events_total{kind=\"spot_interruption\",outcome=\"applied\"}";

/// moto with a bucket for the snapshot, the queue and the rule filling it,
/// and one running instance per daemon, all monitors (in `eg-monitor`), so
/// every instance is a member of every answer.
struct World {
    moto: Moto,
    _bucket: Bucket,
    ec2: Fleet,
    /// The `eg-monitor` security group.
    monitors: String,
    queue: Queue,
    bus: Bus,
    instances: Vec<String>,
}

impl World {
    async fn new() -> World {
        let moto = Moto::start();
        let bucket = Bucket::create(&moto, REGION, BUCKET).await;
        let queue = Queue::create(&moto, REGION, QUEUE).await;
        queue
            .client
            .set_queue_attributes()
            .queue_url(&queue.url)
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                VISIBILITY_SECONDS.to_string(),
            )
            .send()
            .await
            .expect("the queue's visibility timeout");
        let bus = Bus::new(&moto, REGION);
        // The rule's pattern: what rollcall reads.
        let mut sources: Vec<&str> = DETAIL_TYPES.iter().map(|(source, _)| *source).collect();
        sources.dedup();
        let detail_types: Vec<&str> = DETAIL_TYPES.iter().map(|(_, kind)| *kind).collect();
        let pattern = json!({"source": sources, "detail-type": detail_types});
        bus.route(QUEUE, &pattern, &queue.arn);
        let ec2 = Fleet::new(&moto, REGION);
        let monitors = ec2.group("eg-monitor").await;
        let instances = ec2.launch(&[&monitors], DAEMONS as i32, &[]).await;
        World {
            moto,
            _bucket: bucket,
            ec2,
            monitors,
            queue,
            bus,
            instances,
        }
    }

    /// A new instance, running, a member of every answer once seen.
    async fn launch(&self) -> String {
        self.ec2.launch(&[&self.monitors], 1, &[]).await.remove(0)
    }

    /// Puts EC2's event `detail_type` about `instance` on the bus, now;
    /// the rule sends it to the queue.
    fn announce(&self, instance: &str, detail_type: &str, detail: Value) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let arn = format!("arn:aws:ec2:{REGION}:123456789012:instance/{instance}");
        self.bus.put("aws.ec2", detail_type, &detail, now, &[&arn]);
    }

    /// A daemon running as instance `own`, sharing the snapshot and
    /// following the queue.
    fn daemon(&self, own: &str) -> Daemon {
        let snapshot = format!("s3://{BUCKET}/fleet");
        let (refresh, poll) = (seconds(REFRESH), seconds(POLL));
        let args = [
            "--region",
            REGION,
            "--endpoint-url",
            &self.moto.endpoint,
            "--s3-endpoint-url",
            &self.moto.endpoint,
            "--snapshot",
            &snapshot,
            "--events-queue",
            &self.queue.url,
            "--plugin",
            ELASTIC_GRID,
            "--refresh",
            &refresh,
            "--snapshot-poll",
            &poll,
            "--self",
            own,
        ];
        // rollcall's SQS endpoint: `[events] endpoint_url`, else this, else
        // AWS_ENDPOINT_URL (the kit's refusing one); EC2's --endpoint-url
        // is EC2's alone.
        let sqs = [("AWS_ENDPOINT_URL_SQS", self.moto.endpoint.as_str())];
        Daemon::launch(args).envs(&CREDENTIALS).envs(&sqs).start()
    }
}

fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs())
}

/// When the fleet `answer` serves was listed.
fn listed_at(answer: &Value) -> SystemTime {
    let at = answer["inventory"]["fetched_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no listing time: {answer}"));
    OffsetDateTime::parse(at, &Rfc3339)
        .unwrap_or_else(|err| panic!("{at}: {err}"))
        .into()
}

fn answer(daemon: &Daemon) -> Value {
    daemon
        .membership()
        .unwrap_or_else(|| panic!("no answer: {}", daemon.stderr()))
}

fn member<'a>(answer: &'a Value, id: &str) -> Option<&'a Value> {
    answer["members"]
        .as_array()?
        .iter()
        .find(|member| member["instance_id"] == id)
}

/// `name` on every daemon, in order.
fn metric(daemons: &[Daemon], name: &str) -> Vec<f64> {
    daemons
        .iter()
        .map(|daemon| daemon.metric(name).unwrap_or(0.0))
        .collect()
}

/// How much `name` rose on every daemon since `before`, in order.
fn risen(daemons: &[Daemon], name: &str, before: &[f64]) -> Vec<f64> {
    let now = metric(daemons, name);
    now.iter()
        .zip(before)
        .map(|(now, before)| now - before)
        .collect()
}

/// How often `line` is in the daemon's log.
fn said(daemon: &Daemon, line: &str) -> usize {
    daemon.stderr().matches(line).count()
}

/// Waits until the fleet's last listing leaves at least `quiet` before the
/// next can come; when it was listed.
fn quiet_for(daemons: &[Daemon], quiet: Duration) -> SystemTime {
    eventually(
        REFRESH + WAIT,
        "a listing with time before the next",
        || {
            let listed = listed_at(&daemons[0].membership()?);
            let age = SystemTime::now().duration_since(listed).unwrap_or_default();
            (age + quiet <= FRESH_FOR).then_some(listed)
        },
    )
}

/// Asks every daemon until each answer passes `check`; how long after
/// `since` the last one did.
fn until_every_daemon(
    daemons: &[Daemon],
    since: Instant,
    limit: Duration,
    what: &str,
    mut check: impl FnMut(&Value) -> bool,
) -> Duration {
    let mut slowest = Duration::ZERO;
    let mut waiting: Vec<&Daemon> = daemons.iter().collect();
    while !waiting.is_empty() {
        waiting.retain(|daemon| {
            let passed = daemon.membership().is_some_and(|answer| check(&answer));
            if passed {
                slowest = since.elapsed();
            }
            !passed
        });
        assert!(
            waiting.is_empty() || since.elapsed() < limit + WAIT,
            "{} of {} daemons still lack {what} after {:?}",
            waiting.len(),
            daemons.len(),
            since.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    slowest
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_daemons_follow_the_fleets_events_on_moto() {
    let started = Instant::now();
    let world = World::new().await;
    let mut daemons: Vec<Daemon> = world
        .instances
        .iter()
        .map(|own| world.daemon(own))
        .collect();
    for daemon in &daemons {
        eventually(WAIT, "a first answer of the whole fleet", || {
            (daemon.membership()?["members"].as_array()?.len() == DAEMONS).then_some(())
        });
    }
    let holder = eventually(WAIT, "a node following the events", || {
        daemons.iter().position(|daemon| said(daemon, FOLLOWS) > 0)
    });
    eprintln!(
        "{DAEMONS} daemons answered, {} follows the events, {:?} after the start",
        world.instances[holder],
        started.elapsed()
    );

    // Room for the event, its shard and a few polls before the next listing.
    let listed = quiet_for(&daemons, EVENT_LIMIT + Duration::from_secs(10));
    let announced =
        an_announced_launch_reaches_every_daemon_within_a_poll_and_2_s_for_one_shard_each(
            &world, &daemons, holder, listed,
        )
        .await;
    an_unchanged_fleet_reads_only_304s_and_fetches_no_shard(&daemons, listed);
    a_launch_whose_event_is_dropped_reaches_every_daemon_with_the_next_listing(
        &world, &daemons, listed,
    )
    .await;
    killing_the_event_lease_holder_hands_the_queue_to_another_daemon(
        &world,
        &mut daemons,
        holder,
        &announced,
    );
    eprintln!("the file's world took {:?}", started.elapsed());
}

/// Claims 1 and 4: an instance launched in EC2 and announced by its state
/// change reaches every daemon's answer within [`EVENT_LIMIT`] of
/// PutEvents, through the event path (the answers' listing is the one
/// before), and each daemon that did not write the head fetches exactly
/// one shard for it. The new instance's id.
async fn an_announced_launch_reaches_every_daemon_within_a_poll_and_2_s_for_one_shard_each(
    world: &World,
    daemons: &[Daemon],
    holder: usize,
    listed: SystemTime,
) -> String {
    let fetched = metric(daemons, SHARDS_FETCHED);
    let applied = metric(daemons, STATE_CHANGES_APPLIED);
    let new = world.launch().await;
    let sent = Instant::now();
    world.announce(
        &new,
        "EC2 Instance State-change Notification",
        json!({"instance-id": new, "state": "running"}),
    );
    let took = until_every_daemon(
        daemons,
        sent,
        EVENT_LIMIT,
        "the announced launch",
        |answer| member(answer, &new).is_some(),
    );
    let lag = daemons[holder].metric("rollcall_event_lag_seconds");
    eprintln!(
        "an announced launch reached all {} daemons {took:?} after PutEvents \
         (limit {EVENT_LIMIT:?}; event lag on the holder {lag:?} s, the event's time in whole seconds)",
        daemons.len()
    );
    for daemon in daemons {
        assert_eq!(
            listed_at(&answer(daemon)),
            listed,
            "the launch came by the event, not by a listing"
        );
    }
    // Counted once the head is written, as readers may already read it.
    eventually(WAIT, "the holder's count of the event", || {
        (daemons[holder].metric(STATE_CHANGES_APPLIED)? > applied[holder]).then_some(())
    });
    let mut expected = vec![0.0; daemons.len()];
    expected[holder] = 1.0;
    assert_eq!(
        risen(daemons, STATE_CHANGES_APPLIED, &applied),
        expected,
        "the holder applied the one event"
    );
    assert!(
        took <= EVENT_LIMIT,
        "an announced launch took {took:?} to reach every daemon (limit {EVENT_LIMIT:?})"
    );

    // The head changed once, for one instance: one shard for each reader;
    // the holder wrote it and holds it.
    let mut expected = vec![1.0; daemons.len()];
    expected[holder] = 0.0;
    assert_eq!(
        risen(daemons, SHARDS_FETCHED, &fetched),
        expected,
        "shards fetched for the event's change, per daemon"
    );
    new
}

/// Claim 3: between two listings, with nothing changing, every daemon's
/// head reads are 304s: three polls each, no fresh read, no shard.
fn an_unchanged_fleet_reads_only_304s_and_fetches_no_shard(daemons: &[Daemon], listed: SystemTime) {
    let before: Vec<[f64; 4]> = daemons
        .iter()
        .map(|daemon| {
            [NOT_MODIFIED, FRESH, SHARDS_FETCHED, SHARD_BYTES]
                .map(|name| daemon.metric(name).unwrap_or(0.0))
        })
        .collect();
    let window = Instant::now();
    for (daemon, before) in daemons.iter().zip(&before) {
        eventually(WAIT, "three 304s from the head", || {
            (daemon.metric(NOT_MODIFIED)? >= before[0] + 3.0).then_some(())
        });
    }
    let window = window.elapsed();
    for (n, (daemon, before)) in daemons.iter().zip(&before).enumerate() {
        let now = [NOT_MODIFIED, FRESH, SHARDS_FETCHED, SHARD_BYTES]
            .map(|name| daemon.metric(name).unwrap_or(0.0));
        assert_eq!(
            listed_at(&answer(daemon)),
            listed,
            "a listing fell in the window: it was not quiet"
        );
        assert_eq!(
            now[1..],
            before[1..],
            "daemon {n}: fresh reads, shards fetched and their bytes in {window:?} of an unchanged fleet"
        );
    }
    eprintln!(
        "an unchanged fleet: every daemon read three or more 304s and no shard in {window:?}"
    );
}

/// Claim 2: an instance launched with no event (dropped on the way)
/// reaches every daemon with the next listing, within [`DROPPED_LIMIT`].
async fn a_launch_whose_event_is_dropped_reaches_every_daemon_with_the_next_listing(
    world: &World,
    daemons: &[Daemon],
    listed: SystemTime,
) {
    let applied: f64 = metric(daemons, STATE_CHANGES_APPLIED).iter().sum();
    let new = world.launch().await;
    let launched = Instant::now();
    let took = until_every_daemon(
        daemons,
        launched,
        DROPPED_LIMIT,
        "the unannounced launch",
        |answer| member(answer, &new).is_some(),
    );
    eprintln!(
        "a launch without its event reached all {} daemons {took:?} after it (limit {DROPPED_LIMIT:?})",
        daemons.len()
    );
    for daemon in daemons {
        assert!(listed_at(&answer(daemon)) > listed, "a listing brought it");
    }
    let applied_now: f64 = metric(daemons, STATE_CHANGES_APPLIED).iter().sum();
    assert_eq!(applied_now, applied, "no event was applied");
    assert!(
        took <= DROPPED_LIMIT,
        "a launch without its event took {took:?} to reach every daemon (limit {DROPPED_LIMIT:?})"
    );
}

/// Claim 5: the daemon holding the event lease is killed (SIGKILL: it
/// lets nothing go); a spot interruption notice sent right after is
/// applied by another daemon and reaches every daemon left within
/// [`HANDOVER_LIMIT`]. A notice, not a launch: no listing can bring the
/// mark it makes, so the answers show the queue was read.
fn killing_the_event_lease_holder_hands_the_queue_to_another_daemon(
    world: &World,
    daemons: &mut Vec<Daemon>,
    holder: usize,
    interrupted: &str,
) {
    assert_eq!(
        said(&daemons[holder], FOLLOWS),
        1,
        "one take of the lease: {}",
        daemons[holder].stderr()
    );
    for (n, daemon) in daemons.iter().enumerate() {
        assert_eq!(
            said(daemon, FOLLOWS),
            usize::from(n == holder),
            "one holder"
        );
    }
    drop(daemons.remove(holder));
    let killed = Instant::now();
    world.announce(
        interrupted,
        "EC2 Spot Instance Interruption Warning",
        json!({"instance-id": interrupted, "instance-action": "terminate"}),
    );
    let mut taken_over: Option<Duration> = None;
    let took = until_every_daemon(
        daemons,
        killed,
        HANDOVER_LIMIT,
        "the spot notice",
        |answer| {
            if taken_over.is_none() && daemons.iter().any(|daemon| said(daemon, FOLLOWS) > 0) {
                taken_over = Some(killed.elapsed());
            }
            member(answer, interrupted)
                .is_some_and(|member| member["leaving"]["reason"] == "spot-interruption")
        },
    );
    let taker = daemons
        .iter()
        .position(|daemon| said(daemon, FOLLOWS) > 0)
        .expect("a daemon took the event lease");
    eventually(WAIT, "the new holder's count of the notice", || {
        (daemons[taker].metric(SPOT_NOTICES_APPLIED)? > 0.0).then_some(())
    });
    let applied = metric(daemons, SPOT_NOTICES_APPLIED);
    let mut expected = vec![0.0; daemons.len()];
    expected[taker] = 1.0;
    assert_eq!(applied, expected, "the new holder applied the notice");
    let taken_over = taken_over.expect("the takeover was seen");
    eprintln!(
        "the event lease holder was killed; another daemon took the lease {taken_over:?} after \
         (seen in its log; limit {TAKEOVER_LIMIT:?}) and the notice sent then reached all {} \
         daemons left {took:?} after (limit {HANDOVER_LIMIT:?})",
        daemons.len()
    );
    assert!(
        taken_over <= TAKEOVER_LIMIT,
        "another daemon took the event lease {taken_over:?} after the holder died \
         (limit {TAKEOVER_LIMIT:?})"
    );
    assert!(
        took <= HANDOVER_LIMIT,
        "the queue's event took {took:?} to reach every daemon after the holder died \
         (limit {HANDOVER_LIMIT:?})"
    );
}
