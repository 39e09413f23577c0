//! The fleet's shared snapshot end to end: `moto_server` serves EC2 and S3
//! on one loopback endpoint and records every request it answers (its
//! recorder), so `DescribeInstances` calls are counted from outside
//! rollcall.

use kit::CREDENTIALS;
use kit::daemon::Daemon;
use kit::eventually;
use kit::moto_fleet::{Bucket, Fleet};
use kit::plugins::ELASTIC_GRID;
use kit::servers::{Moto, Proxy};
use kit::{ids, rollcall_command, run_within};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

const REGION: &str = "us-east-1";
const BUCKET: &str = "rollcall-fleet";
const WAIT: Duration = Duration::from_secs(30);

/// One world at a time: twenty daemons or fifty processes are all two
/// cores can take.
static ONE_WORLD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// moto with its recorder on, a bucket and `count` running instances, all
/// monitors (in `eg-monitor`), so every one is a member of every answer.
struct World {
    moto: Moto,
    /// The `eg-monitor` security group.
    monitors: String,
    /// Where moto keeps its recording; removed with the world.
    _recording: tempfile::NamedTempFile,
    bucket: Bucket,
    ec2: Fleet,
    instances: Vec<String>,
}

impl World {
    async fn new(count: i32) -> World {
        let recording = tempfile::NamedTempFile::new().unwrap();
        let moto =
            Moto::start_with(&[("MOTO_RECORDER_FILEPATH", recording.path().to_str().unwrap())]);
        let bucket = Bucket::create(&moto, REGION, BUCKET).await;
        let ec2 = Fleet::new(&moto, REGION);
        let monitors = ec2.group("eg-monitor").await;
        let mut world = World {
            moto,
            monitors,
            _recording: recording,
            bucket,
            ec2,
            instances: Vec::new(),
        };
        world.instances = world.launch(count).await;
        world.record();
        world
    }

    async fn launch(&self, count: i32) -> Vec<String> {
        self.ec2.launch(&[&self.monitors], count, &[]).await
    }

    /// Starts recording afresh: what was sent before is not counted.
    fn record(&self) {
        let address = self.moto.endpoint.trim_start_matches("http://");
        for path in [
            "/moto-api/recorder/reset-recording",
            "/moto-api/recorder/start-recording",
        ] {
            let answered = kit::http::post(address, path);
            assert_eq!(answered, Some(200), "moto's recorder: {path}");
        }
    }

    /// `DescribeInstances` calls moto answered since [`World::record`]: the
    /// EC2 requests of the Rust SDK (rollcall makes no other; the recorder
    /// keeps form bodies encoded, so the user agent names the service).
    fn listings(&self) -> usize {
        let address = self.moto.endpoint.trim_start_matches("http://");
        let (status, recording) = kit::http::get(address, "/moto-api/recorder/download-recording")
            .expect("moto's recording");
        assert_eq!(status, 200, "{recording}");
        recording
            .lines()
            .filter(|line| line.contains(" api/ec2/"))
            .count()
    }

    /// Writes the leave marker `body` for `instance_id`, as a node of any
    /// version would.
    async fn mark_leaving(&self, instance_id: &str, body: &str) {
        self.bucket
            .client
            .put_object()
            .bucket(BUCKET)
            .key(format!("fleet/leaving/{instance_id}"))
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("a leave marker");
    }

    /// The instance ids of the leave markers in the bucket, sorted.
    async fn markers(&self) -> Vec<String> {
        let listed = self
            .bucket
            .client
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("fleet/leaving/")
            .send()
            .await
            .expect("the leave markers");
        let mut ids: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|object| object.key()?.strip_prefix("fleet/leaving/"))
            .map(str::to_owned)
            .collect();
        ids.sort();
        ids
    }

    /// The flags that point rollcall at moto, sharing the snapshot.
    fn flags(&self) -> Vec<String> {
        self.flags_with_s3_at(&self.moto.endpoint)
    }

    /// [`World::flags`], with S3 reached at `s3`.
    fn flags_with_s3_at(&self, s3: &str) -> Vec<String> {
        [
            "--region",
            REGION,
            "--endpoint-url",
            &self.moto.endpoint,
            "--s3-endpoint-url",
            s3,
            "--snapshot",
            &format!("s3://{BUCKET}/fleet"),
            "--plugin",
            ELASTIC_GRID,
        ]
        .iter()
        .map(|flag| (*flag).to_owned())
        .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_resolves_at_once_list_ec2_once() {
    let _alone = ONE_WORLD.lock().await;
    let world = World::new(3).await;
    let started = Instant::now();
    // Each runs as one of the fleet's instances: only a writer that is a
    // running instance of the fleet it lists is believed.
    let children: Vec<_> = (0..50)
        .map(|n| {
            let mut command = rollcall_command(None);
            command
                .arg("resolve")
                .args(world.flags())
                .args(["--self", &world.instances[n % world.instances.len()]])
                .envs(CREDENTIALS)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            command.spawn().expect("rollcall resolve starts")
        })
        .collect();
    let answers: Vec<Value> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().expect("rollcall resolve ends");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "resolve failed: {stderr}");
            serde_json::from_slice(&output.stdout).expect("a JSON answer")
        })
        .collect();
    let periods = started.elapsed().as_secs() / 30 + 1;
    let listings = world.listings();
    assert!(
        (1..=periods as usize + 1).contains(&listings),
        "{listings} DescribeInstances calls for 50 resolves within {periods} period(s)"
    );
    let mut members = ids(&answers[0], "members");
    members.sort();
    let mut launched = world.instances.clone();
    launched.sort();
    assert_eq!(members, launched);
    for answer in &answers {
        assert_eq!(answer["members"], answers[0]["members"]);
        assert_eq!(answer["inventory"]["instances"], 3);
        assert_eq!(
            answer["inventory"]["fetched_at"], answers[0]["inventory"]["fetched_at"],
            "one listing served every answer"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lister_folds_leave_markers_into_the_answer_and_deletes_those_of_gone_instances() {
    let _alone = ONE_WORLD.lock().await;
    let world = World::new(3).await;
    let [spot, own, gone] = [0, 1, 2].map(|n| world.instances[n].clone());
    world.ec2.terminate(&gone).await;
    let deadline = "2026-11-29T00:02:00Z";
    world
        .mark_leaving(
            &spot,
            &format!(
                r#"{{"instance_id": "{spot}", "reason": "spot-interruption", "deadline": "{deadline}"}}"#
            ),
        )
        .await;
    for id in [gone.as_str(), "i-0123456789abcdef0"] {
        world
            .mark_leaving(
                id,
                &format!(r#"{{"instance_id": "{id}", "reason": "announced"}}"#),
            )
            .await;
    }

    let mut resolve = rollcall_command(None);
    resolve
        .arg("resolve")
        .args(world.flags())
        .args(["--self", &own])
        .envs(CREDENTIALS);
    let answer = run_within(WAIT, resolve).json();
    assert_eq!(
        answer["inventory"]["snapshot"]["listed_by"],
        own.as_str(),
        "{answer}"
    );
    let member = |id: &str| {
        answer["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|member| member["instance_id"] == id)
            .cloned()
    };
    let marked = member(&spot).expect("the spot instance is a member");
    assert_eq!(marked["leaving"]["reason"], "spot-interruption", "{marked}");
    assert_eq!(marked["leaving"]["deadline"], deadline, "{marked}");
    assert_eq!(member(&own).unwrap().get("leaving"), None);
    assert_eq!(member(&gone), None, "terminated");
    assert_eq!(
        world.markers().await,
        [spot],
        "the markers of the terminated and the unknown instance are deleted"
    );
}

/// The sum over `daemons` of the metric `name`.
fn total(daemons: &[Daemon], name: &str) -> f64 {
    daemons
        .iter()
        .map(|daemon| daemon.metric(name).unwrap_or(0.0))
        .sum()
}

/// Watches `world` for `seconds` one-second periods and checks the group
/// listed EC2 about once a period.
fn assert_one_listing_per_period(world: &World, daemons: &[Daemon], seconds: u64) {
    world.record();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let periods = started.elapsed().as_secs_f64();
    let listings = world.listings();
    assert!(listings > 0, "the daemons refreshed the fleet");
    assert!(
        listings as f64 <= 1.3 * periods + 1.0,
        "{listings} DescribeInstances calls in {periods:.1} one-second periods by {} daemons",
        daemons.len()
    );
}

/// How soon a change of the fleet must reach every daemon at a 1 s refresh:
/// two periods, and as much again for asking twenty daemons on a loaded
/// machine (about 1 s is usual).
const FOLLOW_LIMIT: Duration = Duration::from_secs(4);

/// Waits until every daemon serves `members` members; how long that took.
fn until_every_daemon_has(daemons: &[Daemon], members: usize) -> Duration {
    let started = Instant::now();
    for daemon in daemons {
        eventually(WAIT, "the fleet's change", || {
            let answer = daemon.membership()?;
            (answer["members"].as_array()?.len() == members).then_some(())
        });
    }
    started.elapsed()
}

/// The fleet's EC2 budget in the daemons' test, calls per second.
const BUDGET: f64 = 2.0;

#[tokio::test(flavor = "multi_thread")]
async fn twenty_daemons_share_one_listing_per_period_and_follow_the_fleet() {
    let _alone = ONE_WORLD.lock().await;
    let world = World::new(20).await;
    let s3 = Proxy::start(&world.moto.endpoint);
    let mut daemons: Vec<Daemon> = world
        .instances
        .iter()
        .map(|own| {
            let mut args = world.flags_with_s3_at(&s3.endpoint);
            args.extend(
                [
                    "--refresh",
                    "1s",
                    "--self",
                    own,
                    "--ec2-budget",
                    &BUDGET.to_string(),
                    "--snapshot-max-age",
                    "3s",
                ]
                .map(str::to_owned),
            );
            Daemon::launch(args).envs(&CREDENTIALS).start()
        })
        .collect();
    for daemon in &daemons {
        eventually(WAIT, "a first answer", || daemon.membership());
    }
    assert_one_listing_per_period(&world, &daemons, 15);
    let fresh = total(&daemons, "rollcall_snapshot_reads_total{outcome=\"fresh\"}");
    let written = total(&daemons, "rollcall_snapshot_writes_total");
    assert!(
        fresh > written,
        "daemons mostly read what others wrote: {fresh} reads, {written} writes"
    );

    // A new instance, then a terminated one, reaches every daemon.
    let new = world.launch(1).await;
    let took = until_every_daemon_has(&daemons, 21);
    eprintln!("a launch reached all {} daemons in {took:?}", daemons.len());
    assert!(
        took < FOLLOW_LIMIT,
        "a launch took {took:?} to reach every daemon"
    );
    // The new instance goes again (not one a daemon runs as: a policy
    // keeps self a member whatever its state).
    world.ec2.terminate(&new[0]).await;
    let took = until_every_daemon_has(&daemons, 20);
    eprintln!(
        "a termination reached all {} daemons in {took:?}",
        daemons.len()
    );
    assert!(
        took < FOLLOW_LIMIT,
        "a termination took {took:?} to reach every daemon"
    );
    let answers: Vec<Value> = daemons
        .iter()
        .map(|daemon| daemon.membership().unwrap())
        .collect();
    for answer in &answers {
        assert_eq!(answer["members"], answers[0]["members"]);
    }
    // Every daemon told its consumers: the new instance joined, then left.
    for daemon in &daemons {
        let (status, events) = daemon.get("/v1/events");
        assert_eq!(status, 200, "{events}");
        let told = |kind: &str| {
            events["events"].as_array().unwrap().iter().any(|event| {
                event["kind"] == kind
                    && event["instance_ids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|id| *id == new[0])
            })
        };
        assert!(told("joined") && told("left"), "{events}");
    }

    // The daemon that listed the fleet last (the snapshot's writer) goes:
    // others go on listing.
    let holder = eventually(WAIT, "a writer among the daemons", || {
        let answer = daemons[0].membership()?;
        let writer = answer["inventory"]["snapshot"]["listed_by"]
            .as_str()?
            .to_owned();
        daemons.iter().position(|daemon| {
            daemon
                .membership()
                .is_some_and(|own| own["self"]["instance_id"] == writer)
        })
    });
    let mut gone = daemons.remove(holder);
    assert_eq!(gone.terminate_within(WAIT).0, Some(0));
    assert_one_listing_per_period(&world, &daemons, 4);

    // S3 stops answering: answers stay, marked stale when they age, and the
    // group's own listings keep within the budget.
    s3.set_up(false);
    world.record();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let outage = started.elapsed().as_secs_f64();
    let listings = world.listings();
    assert!(
        listings as f64 <= BUDGET * outage * 1.5 + 2.0,
        "{listings} DescribeInstances calls in a {outage:.1} s S3 outage, budget {BUDGET}/s"
    );
    eprintln!("{listings} DescribeInstances calls in a {outage:.1} s S3 outage");
    let failed = total(
        &daemons,
        "rollcall_snapshot_reads_total{outcome=\"failed\"}",
    );
    assert!(failed > 0.0, "S3 was down for the daemons");
    for daemon in &daemons {
        assert!(daemon.membership().is_some(), "an answer is kept");
    }
    // S3 is back: the group converges on one listing again.
    s3.set_up(true);
    eventually(WAIT, "one listing served to all", || {
        let listed: Vec<Value> = daemons
            .iter()
            .map(|daemon| {
                daemon
                    .membership()
                    .map(|m| m["inventory"]["fetched_at"].clone())
            })
            .collect::<Option<_>>()?;
        listed.iter().all(|at| *at == listed[0]).then_some(())
    });
    for daemon in &mut daemons {
        assert_eq!(daemon.terminate_within(WAIT).0, Some(0));
    }
}
