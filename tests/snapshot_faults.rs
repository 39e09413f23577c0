//! The shared snapshot as untrusted input, end to end: the real binary
//! against moto for EC2 and a fake S3 on loopback whose snapshot misbehaves
//! (a head that drips or has no end, a shard that is a zstd bomb). Each
//! must cost a bounded time and a bounded amount of memory, and be replaced
//! by the node that lists next.

use kit::CREDENTIALS;
use kit::moto_fleet::Fleet;
use kit::plugins::ELASTIC_GRID;
use kit::servers::fake_s3::{FakeS3, Poison};
use kit::servers::{Moto, Reply, Stub};
use kit::{ids, rollcall_command};
use rollcall::snapshot::head::Head;
use rollcall::snapshot::shard::{self, ShardName};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REGION: &str = "us-east-1";
const HEAD: &str = "/fleet/prod/head";

/// moto with three running monitors.
async fn fleet() -> (Moto, Vec<String>) {
    let moto = Moto::start();
    let fleet = Fleet::new(&moto, REGION);
    let monitors = fleet.group("eg-monitor").await;
    let instances = fleet.launch(&[&monitors], 3, &[]).await;
    (moto, instances)
}

/// A snapshot sent a byte every 100 ms.
const DRIP: Poison = Poison::Drip {
    length: 100_000,
    every: Duration::from_millis(100),
};

/// `rollcall resolve` as instance `own` of the fleet in `moto`, the
/// snapshot in `s3`, with `extra` flags; started, not waited for.
fn resolve(moto: &Moto, s3: &FakeS3, own: &str, extra: &[&str]) -> Child {
    let mut command = rollcall_command(None);
    command
        .arg("resolve")
        .args(["--region", REGION, "--endpoint-url", &moto.endpoint])
        .args(["--s3-endpoint-url", &s3.endpoint])
        .args(["--snapshot", "s3://fleet/prod"])
        .args(["--plugin", ELASTIC_GRID])
        .args(["--self", own])
        .args(extra)
        .envs(CREDENTIALS)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.spawn().expect("rollcall resolve starts")
}

/// `rollcall watch` as instance `own` of the fleet in `moto`, the snapshot
/// in `s3`, refreshing every second, with `extra` flags.
fn watch(moto: &Moto, s3: &FakeS3, own: &str, extra: &[&str]) -> kit::daemon::Daemon {
    let mut args: Vec<&str> = vec![
        "--region",
        REGION,
        "--endpoint-url",
        &moto.endpoint,
        "--s3-endpoint-url",
        &s3.endpoint,
        "--snapshot",
        "s3://fleet/prod",
        "--self",
        own,
        "--refresh",
        "1s",
    ];
    let plugin = Path::new(ELASTIC_GRID);
    args.extend(["--plugin", plugin.to_str().unwrap()]);
    args.extend(extra);
    kit::daemon::Daemon::launch(&args)
        .envs(&CREDENTIALS)
        .start()
}

/// How a child ended: its exit code, output, time taken, and peak resident
/// memory (its own, from `wait4`).
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
    peak_rss_bytes: u64,
}

/// Waits for `child`, killing it (and failing) after `limit`.
fn ended_within(mut child: Child, limit: Duration) -> Ended {
    let started = Instant::now();
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = read(child.stdout.take().map(|pipe| Box::new(pipe) as _));
    let stderr = read(child.stderr.take().map(|pipe| Box::new(pipe) as _));
    let pid = child.id() as libc::pid_t;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: wait4 writes into the two locals it is given; `pid` is
        // this test's own child, not yet reaped.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            break (status, usage);
        }
        assert!(
            reaped == 0,
            "wait4 failed: {}",
            std::io::Error::last_os_error()
        );
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!(
                "resolve did not end within {limit:?}; stderr: {}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ended {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        took: started.elapsed(),
        // Linux reports kilobytes.
        peak_rss_bytes: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dripping_snapshot_costs_resolve_its_deadlines_not_forever() {
    let (moto, instances) = fleet().await;
    let s3 = FakeS3::start(HEAD, DRIP);
    let timeouts = [
        "--attempt-timeout",
        "2s",
        "--max-attempts",
        "2",
        "--fetch-timeout",
        "6s",
    ];
    // The read gives up at --fetch-timeout; the node then lists EC2 itself.
    let ended = ended_within(
        resolve(&moto, &s3, &instances[0], &timeouts),
        Duration::from_secs(40),
    );
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert!(
        ended.took < Duration::from_secs(25),
        "took {:?}",
        ended.took
    );
    let answer: serde_json::Value = serde_json::from_str(&ended.stdout).unwrap();
    assert_eq!(ids(&answer, "members").len(), 3);

    // --wait-timeout bounds the whole wait, its first try included.
    let mut waiting = timeouts.to_vec();
    waiting.extend(["--wait-for", "targets>=5", "--wait-timeout", "3s"]);
    let ended = ended_within(
        resolve(&moto, &s3, &instances[1], &waiting),
        Duration::from_secs(40),
    );
    assert!(
        ended.took < Duration::from_secs(10),
        "took {:?}",
        ended.took
    );
    assert_ne!(ended.code, Some(0));
    assert!(ended.stderr.contains("within 3s"), "{}", ended.stderr);
}

/// zstd of `bytes` zeros: a few tens of KiB.
fn zstd_bomb(bytes: u64) -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..bytes >> 20 {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap()
}

/// The decompressed cap of a snapshot (the inventory file cap).
const SNAPSHOT_CAP: u64 = 1 << 30;
/// The compressed cap of a snapshot object.
const OBJECT_CAP: u64 = 256 << 20;

/// `resolve` with the snapshot's object at `path` answering `poison` (and
/// what `prepare` puts in the bucket): it ends well, peaks under twice
/// `cap` of memory, and writes a new head. Its peak, in MiB.
async fn refused_under_its_cap_and_replaced(
    path: &str,
    poison: Poison,
    cap: u64,
    prepare: impl FnOnce(&FakeS3, &[String]),
) -> u64 {
    let (moto, instances) = fleet().await;
    let s3 = FakeS3::start(path, poison);
    prepare(&s3, &instances);

    let ended = ended_within(
        resolve(&moto, &s3, &instances[0], &[]),
        Duration::from_secs(60),
    );

    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert!(
        ended.peak_rss_bytes < 2 * cap,
        "peak RSS {} MiB for a cap of {} MiB",
        ended.peak_rss_bytes >> 20,
        cap >> 20
    );
    assert!(s3.written(HEAD), "the node that listed wrote a head");
    assert!(s3.writes() > 0, "the node that listed wrote");
    ended.peak_rss_bytes >> 20
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zstd_bomb_is_refused_within_twice_the_cap_and_replaced() {
    let bomb = zstd_bomb(2 * SNAPSHOT_CAP);
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    // A head that names the bomb by its own hash: its name checks out.
    let name = ShardName::of(&bomb);
    let path = format!("/fleet{}", shard::shard_key("/prod", &name));
    let poison = Poison::Bytes(Arc::new(bomb));
    let peak = refused_under_its_cap_and_replaced(&path, poison, SNAPSHOT_CAP, |s3, instances| {
        s3.put(HEAD, head_of(3, vec![name], &instances[0]));
    })
    .await;
    eprintln!("a zstd bomb: peak RSS {peak} MiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_past_the_cap_is_refused_as_it_arrives_and_replaced() {
    let endless = Poison::Endless { length: 300 << 20 };
    let peak = refused_under_its_cap_and_replaced(HEAD, endless, OBJECT_CAP, |_, _| {}).await;
    eprintln!("a 300 MiB object: peak RSS {peak} MiB");
}

/// A head of `count` instances in `shards`, listed now by `writer`.
fn head_of(count: usize, shards: Vec<ShardName>, writer: &str) -> Vec<u8> {
    let now = std::time::SystemTime::now();
    Head {
        scope: rollcall::snapshot::Scope::new(vec![REGION.to_owned()], Vec::new()),
        listed_at: now,
        updated_at: now,
        writer: Some(writer.to_owned()),
        revision: 1,
        instances: count,
        shards,
        stale: Vec::new(),
    }
    .encode()
}

/// The snapshot of `instances` (ids only, running), listed now by
/// `writer`, put into `s3` as another node of the fleet would write it.
fn put_snapshot(s3: &FakeS3, instances: &[String], writer: &str) {
    let instances: Vec<_> = instances
        .iter()
        .map(|id| rollcall::inventory::Instance::running(id))
        .collect();
    let count = shard::shard_count(instances.len(), None);
    let mut names = Vec::new();
    for part in shard::split(&instances, count) {
        let encoded = shard::encode(&part).unwrap();
        let path = format!("/fleet{}", shard::shard_key("/prod", &encoded.name));
        s3.put(&path, encoded.object);
        names.push(encoded.name);
    }
    s3.put(HEAD, head_of(instances.len(), names, writer));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_keeps_its_answer_stale_while_a_shrinking_snapshot_is_unconfirmed() {
    let (moto, instances) = fleet().await;
    let s3 = FakeS3::plain();
    // A budget so small that this daemon almost never lists to confirm.
    let daemon = watch(&moto, &s3, &instances[0], &["--ec2-budget", "0.01"]);
    kit::eventually(Duration::from_secs(30), "a first answer", || {
        daemon.membership()
    });

    // Another writer says only one instance is left.
    put_snapshot(&s3, &instances[..1], &instances[0]);

    let (_, health) = kit::eventually(Duration::from_secs(30), "the shrink held back", || {
        let (status, health) = daemon.get("/healthz");
        health["refresh_error"]
            .as_str()?
            .contains("lists 1 instances where 3 were served")
            .then_some((status, health))
    });
    let answer = daemon.membership().unwrap();
    assert_eq!(ids(&answer, "members").len(), 3, "the answer is kept");
    assert_eq!(answer["inventory"]["stale"], true, "{answer}");
    assert!(
        answer["inventory"]["error"]
            .as_str()
            .is_some_and(|error| error.contains("confirms it")),
        "{answer}"
    );
    eprintln!("/healthz while held: {health}");
    let shrinking = daemon
        .metric("rollcall_snapshot_reads_total{outcome=\"shrinking\"}")
        .unwrap_or(0.0);
    assert!(shrinking >= 1.0, "{shrinking}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_whose_snapshot_drips_answers_from_its_own_listing_within_the_deadline() {
    let (moto, instances) = fleet().await;
    let s3 = FakeS3::start(HEAD, DRIP);
    let daemon = watch(&moto, &s3, &instances[0], &["--fetch-timeout", "2s"]);

    // Each read gives up at --fetch-timeout; the daemon lists for itself
    // through the gate (a fleet of three may list most periods within the
    // budget) and goes on.
    let answer = kit::eventually(Duration::from_secs(20), "an answer", || daemon.membership());
    assert_eq!(ids(&answer, "members").len(), 3, "{answer}");
    kit::eventually(Duration::from_secs(20), "reads that gave up", || {
        let failed = daemon.metric("rollcall_snapshot_reads_total{outcome=\"failed\"}")?;
        (failed >= 3.0).then_some(())
    });
    // And it goes on listing, through the gate, as the periods pass.
    let first = answer["inventory"]["fetched_at"].clone();
    kit::eventually(Duration::from_secs(20), "a later listing", || {
        let later = daemon.membership()?["inventory"]["fetched_at"].clone();
        (later != first).then_some(())
    });
}

/// The snapshot's store at `endpoint`, with a second for every deadline.
fn store_at(endpoint: &str) -> std::sync::Arc<rollcall::snapshot::s3::S3Store> {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let config = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            Credentials::for_tests(),
        ))
        .build();
    let second = Duration::from_secs(1);
    let deadlines = rollcall::snapshot::s3::Deadlines {
        connect: second,
        first_byte: second,
        total: Duration::from_secs(10),
    };
    rollcall::snapshot::s3::S3Store::new(&config, "fleet", Some(endpoint), deadlines)
}

/// A ListObjectsV2 page of one marker that says more follow after `token`.
fn endless_page(n: usize, token: &str) -> Reply {
    Reply {
        headers: vec![("Content-Type", "application/xml".to_owned())],
        ..Reply::ok(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Name>fleet</Name><Prefix>prod/leaving/</Prefix><KeyCount>1</KeyCount>\
             <MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>\
             <Contents><Key>prod/leaving/i-{n:017x}</Key><ETag>\"{n}\"</ETag>\
             <Size>90</Size></Contents>\
             <NextContinuationToken>{token}</NextContinuationToken></ListBucketResult>"
        ))
    }
}

#[tokio::test]
async fn a_marker_listing_that_pages_forever_or_repeats_its_token_ends_in_an_error() {
    use rollcall::snapshot::ObjectStore;
    let pages = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counting = Arc::clone(&pages);
    let endless = Stub::start(move |_| {
        let n = counting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        endless_page(n, &format!("token-{n}"))
    });
    // 1,001 keys need two pages of a thousand; eight more are allowed.
    let error = store_at(&endless.endpoint)
        .list("prod/leaving/", 1_001)
        .await
        .expect_err("an endless listing is an error");
    assert!(
        error.to_string().contains("still paging after 10 pages"),
        "{error}"
    );
    assert_eq!(endless.requests(), 10);

    let repeating = Stub::start(|_| endless_page(0, "again"));
    let error = store_at(&repeating.endpoint)
        .list("prod/leaving/", 1_001)
        .await
        .expect_err("a repeated token is an error");
    assert!(
        error
            .to_string()
            .contains("the same continuation token came twice"),
        "{error}"
    );
    assert_eq!(repeating.requests(), 2);
}
