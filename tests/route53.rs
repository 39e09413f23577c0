//! End to end: the real `rollcall watch` daemon with a Route 53 sink, a
//! file fleet the test rewrites, and a private hosted zone in moto_server
//! behind a front that counts the change batches (and fails one). Records
//! appear, change and disappear with the fleet, one batch per publication;
//! a failed batch is retried and counted; a node that is not the writer
//! writes nothing; records the sink does not own are left alone.

use aws_sdk_route53::Client;
use aws_sdk_route53::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecord, ResourceRecordSet, RrType,
    Vpc, VpcRegion,
};
use kit::daemon::Daemon;
use kit::plugins::ELASTIC_GRID;
use kit::servers::{Asked, Front, Moto, Reply};
use kit::{CREDENTIALS, eventually, seed_fleet};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const ZONE: &str = "fleet.internal";
/// What a record set the sink does not own holds, to see it survive.
const FOREIGN: &str = "www.fleet.internal.";

const M1: &str = "i-0000000000000001";
const M2: &str = "i-0000000000000002";
const A1: &str = "i-00000000000000a1";
const A2: &str = "i-00000000000000a2";

/// One instance of the test's fleet: id, private address, security groups.
type Instance<'a> = (&'a str, &'a str, &'a [&'a str]);

/// A describe-instances document of `instances`, shaped like the seed
/// fleet's.
fn fleet_json(instances: &[Instance]) -> String {
    let seed: Value =
        serde_json::from_str(&std::fs::read_to_string(seed_fleet()).unwrap()).unwrap();
    let template = seed["Reservations"][0].clone();
    let reservations: Vec<Value> = instances
        .iter()
        .map(|(id, address, groups)| {
            let mut reservation = template.clone();
            let instance = &mut reservation["Instances"][0];
            instance["InstanceId"] = (*id).into();
            instance["PrivateIpAddress"] = (*address).into();
            instance["SecurityGroups"] = groups
                .iter()
                .map(|group| serde_json::json!({"GroupName": group, "GroupId": format!("sg-{group}")}))
                .collect();
            reservation
        })
        .collect();
    serde_json::json!({ "Reservations": reservations }).to_string()
}

/// Replaces `to` the way deploy tools do: a temporary file, then a rename.
fn write_replacing(to: &Path, text: &str) {
    let temporary = to.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, to).unwrap();
}

/// moto, a private zone in it, and a front before it that counts
/// `ChangeResourceRecordSets` calls and fails the first `failing` of them.
struct World {
    moto: Moto,
    front: Front,
    client: Client,
    zone_id: String,
}

/// Whether `asked` is a `ChangeResourceRecordSets` call
/// (`POST /2013-04-01/hostedzone/ID/rrset/`).
fn is_change_batch(asked: &Asked) -> bool {
    asked.method == "POST" && asked.path.trim_end_matches('/').ends_with("/rrset")
}

impl World {
    async fn new(failing: usize) -> World {
        let moto = Moto::start();
        let failed = Arc::new(AtomicUsize::new(0));
        let front = Front::start(&moto.endpoint, move |asked| {
            (is_change_batch(asked) && failed.fetch_add(1, Ordering::SeqCst) < failing).then(|| {
                Reply::with_status(
                    400,
                    "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\
                     <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
                     <RequestId>test</RequestId></ErrorResponse>",
                )
            })
        });
        let config = aws_sdk_route53::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(Credentials::for_tests())
            .build();
        let client = Client::from_conf(config);
        let zone = client
            .create_hosted_zone()
            .name(ZONE)
            .caller_reference("rollcall-test")
            .hosted_zone_config(HostedZoneConfig::builder().private_zone(true).build())
            .vpc(
                Vpc::builder()
                    .vpc_id("vpc-12345678")
                    .vpc_region(VpcRegion::UsEast1)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let zone_id = zone
            .hosted_zone()
            .unwrap()
            .id()
            .trim_start_matches("/hostedzone/")
            .to_owned();
        let foreign = ResourceRecordSet::builder()
            .name(FOREIGN)
            .r#type(RrType::A)
            .ttl(300)
            .resource_records(ResourceRecord::builder().value("10.9.9.9").build().unwrap())
            .build()
            .unwrap();
        client
            .change_resource_record_sets()
            .hosted_zone_id(&zone_id)
            .change_batch(
                ChangeBatch::builder()
                    .changes(
                        Change::builder()
                            .action(ChangeAction::Create)
                            .resource_record_set(foreign)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        World {
            moto,
            front,
            client,
            zone_id,
        }
    }

    /// Every record set of the zone but its SOA and NS: name and type to
    /// TTL and sorted values.
    async fn records(&self) -> BTreeMap<(String, String), (i64, Vec<String>)> {
        let page = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .send()
            .await
            .unwrap();
        assert!(!page.is_truncated());
        page.resource_record_sets()
            .iter()
            .filter(|set| !matches!(set.r#type(), RrType::Soa | RrType::Ns))
            .map(|set| {
                let mut values: Vec<String> = set
                    .resource_records()
                    .iter()
                    .map(|record| record.value().to_owned())
                    .collect();
                values.sort();
                (
                    (set.name().to_owned(), set.r#type().as_str().to_owned()),
                    (set.ttl().unwrap_or_default(), values),
                )
            })
            .collect()
    }

    /// Waits until the zone holds exactly `expected` (and the foreign
    /// record).
    async fn expect(&self, expected: &[(&str, &str, &[&str])], what: &str) {
        let mut wanted: BTreeMap<(String, String), (i64, Vec<String>)> = expected
            .iter()
            .map(|(name, kind, values)| {
                let mut values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
                values.sort();
                (
                    (format!("{name}.{ZONE}."), (*kind).to_owned()),
                    (60, values),
                )
            })
            .collect();
        wanted.insert(
            (FOREIGN.to_owned(), "A".to_owned()),
            (300, vec!["10.9.9.9".to_owned()]),
        );
        let started = std::time::Instant::now();
        loop {
            let found = self.records().await;
            if found == wanted {
                return;
            }
            assert!(
                started.elapsed() < WAIT,
                "{what}: the zone holds {found:#?}\nnot {wanted:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Change batches the front forwarded to moto, and those it failed.
    fn batches(&self) -> (usize, usize) {
        let answered = self.front.answered();
        let batches = answered
            .iter()
            .filter(|entry| is_change_batch(&entry.asked));
        let (failed, forwarded): (Vec<_>, Vec<_>) = batches.partition(|entry| entry.by_front);
        (forwarded.len(), failed.len())
    }

    /// `rollcall.toml` in `dir`: the file fleet (an instance missing from
    /// it is gone at once: one rewrite, one publication), Elastic Grid with clusters
    /// from `cluster-` groups and monitors on port 7070, self `own`, the
    /// route53 sink written by the lowest monitor.
    fn config(&self, dir: &Path, own: &str) -> PathBuf {
        std::fs::copy(ELASTIC_GRID, dir.join("policy.wasm")).unwrap();
        let path = dir.join("rollcall.toml");
        std::fs::write(
            &path,
            format!(
                "refresh = \"200ms\"\nabsent_grace = 0\nself = \"{own}\"\n\n[source]\nkind = \"file\"\npath = \"fleet.json\"\n\n\
                 [policy]\nplugin = \"policy.wasm\"\nmax_change = \"off\"\n\
                 settings = {{ cluster_group_prefix = \"cluster-\", monitor_port = 7070 }}\n\n\
                 [[sink]]\nkind = \"route53\"\nzone_id = \"{}\"\nname = \"{{role}}.{{cluster}}.{ZONE}\"\n\
                 writer_role = \"monitor\"\n",
                self.zone_id
            ),
        )
        .unwrap();
        path
    }

    fn start(&self, config: &Path) -> Daemon {
        let mut env = CREDENTIALS.to_vec();
        env.push(("AWS_ENDPOINT_URL_ROUTE_53", &self.front.endpoint));
        env.push(("AWS_REGION", "us-east-1"));
        env.push(("RUST_LOG", "rollcall=debug"));
        Daemon::launch(["--config", config.to_str().unwrap()])
            .envs(&env)
            .start()
    }

    fn failures(&self, daemon: &Daemon) -> Option<f64> {
        daemon.metric(&format!(
            "rollcall_sink_failures_total{{sink=\"route53 {}\"}}",
            self.zone_id
        ))
    }
}

const MONITOR: &[&str] = &["eg-monitor", "cluster-blue"];
const AGENT_BLUE: &[&str] = &["eg-cybernode", "cluster-blue"];
const AGENT: &[&str] = &["eg-cybernode"];

#[tokio::test(flavor = "multi_thread")]
async fn records_follow_the_fleet_one_batch_a_publication_and_a_failed_batch_is_retried_and_counted()
 {
    let world = World::new(1).await;
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    write_replacing(
        &fleet,
        &fleet_json(&[
            (M1, "10.0.0.1", MONITOR),
            (A1, "10.0.1.1", AGENT_BLUE),
            (A2, "10.0.1.2", AGENT),
        ]),
    );
    let daemon = world.start(&world.config(dir.path(), M1));

    // The first batch is throttled, counted, and sent again.
    world
        .expect(
            &[
                ("monitor.blue", "A", &["10.0.0.1"]),
                (
                    "monitor.blue",
                    "SRV",
                    &[&format!("0 0 7070 {M1}.monitor.blue.{ZONE}.")],
                ),
                (&format!("{M1}.monitor.blue"), "A", &["10.0.0.1"]),
                ("agent.blue", "A", &["10.0.1.1"]),
                ("agent.none", "A", &["10.0.1.2"]),
            ],
            "the first fleet",
        )
        .await;
    assert_eq!(
        world.batches(),
        (1, 1),
        "one batch failed, one went through"
    );
    let failures = eventually(WAIT, "the failure counted", || world.failures(&daemon));
    assert_eq!(failures, 1.0);
    eventually(WAIT, "the write logged", || {
        daemon
            .stderr()
            .contains("Route 53 records written. sink=route53")
            .then_some(())
    });

    // A monitor joins, an agent goes: one more batch.
    write_replacing(
        &fleet,
        &fleet_json(&[
            (M1, "10.0.0.1", MONITOR),
            (M2, "10.0.0.2", MONITOR),
            (A1, "10.0.1.1", AGENT_BLUE),
        ]),
    );
    world
        .expect(
            &[
                ("monitor.blue", "A", &["10.0.0.1", "10.0.0.2"]),
                (
                    "monitor.blue",
                    "SRV",
                    &[
                        &format!("0 0 7070 {M1}.monitor.blue.{ZONE}."),
                        &format!("0 0 7070 {M2}.monitor.blue.{ZONE}."),
                    ],
                ),
                (&format!("{M1}.monitor.blue"), "A", &["10.0.0.1"]),
                (&format!("{M2}.monitor.blue"), "A", &["10.0.0.2"]),
                ("agent.blue", "A", &["10.0.1.1"]),
            ],
            "the grown fleet",
        )
        .await;
    assert_eq!(world.batches(), (2, 1), "one batch for the change");

    // Every agent goes: their records are deleted, in one batch.
    write_replacing(
        &fleet,
        &fleet_json(&[(M1, "10.0.0.1", MONITOR), (M2, "10.0.0.2", MONITOR)]),
    );
    world
        .expect(
            &[
                ("monitor.blue", "A", &["10.0.0.1", "10.0.0.2"]),
                (
                    "monitor.blue",
                    "SRV",
                    &[
                        &format!("0 0 7070 {M1}.monitor.blue.{ZONE}."),
                        &format!("0 0 7070 {M2}.monitor.blue.{ZONE}."),
                    ],
                ),
                (&format!("{M1}.monitor.blue"), "A", &["10.0.0.1"]),
                (&format!("{M2}.monitor.blue"), "A", &["10.0.0.2"]),
            ],
            "the fleet without agents",
        )
        .await;
    // A few refreshes more with nothing changed send nothing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        world.batches(),
        (3, 1),
        "one batch for the change, none since"
    );
    assert_eq!(world.failures(&daemon), Some(1.0));
    drop(world.moto);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_is_not_the_writer_asks_route53_nothing() {
    let world = World::new(0).await;
    let dir = tempfile::tempdir().unwrap();
    write_replacing(
        &dir.path().join("fleet.json"),
        &fleet_json(&[(M1, "10.0.0.1", MONITOR), (A1, "10.0.1.1", AGENT_BLUE)]),
    );
    // An agent: the lowest monitor writes, not it.
    let daemon = world.start(&world.config(dir.path(), A1));
    // The daemon is ready once every sink is done with the first answer.
    eventually(WAIT, "the first answer through every sink", || {
        daemon
            .stderr()
            .contains("The first answer reached every sink")
            .then_some(())
    });
    assert_eq!(world.front.answered().len(), 0, "no request to Route 53");
    let log = daemon.stderr();
    assert!(
        log.contains(&format!(
            "Another node writes the records. sink=route53 {} why={M1} writes",
            world.zone_id
        )),
        "{log}"
    );
    world.expect(&[], "the zone untouched").await;
}
