//! The fleet's events end to end against `moto_server`: an EventBridge
//! rule with the pattern of `packaging/cloudformation/events.yaml` sends
//! EC2's events to an SQS queue; the queue is read with [`SqsQueue`], the
//! bodies with [`parse_event`], and what was read is deleted. Then the
//! instances events name are described by id, under the source's filters.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use kit::moto_events::{Bus, Queue};
use kit::moto_fleet::Fleet;
use kit::servers::Moto;
use kit::{NO_SERVICE, workspace};
use rollcall::events::{
    DETAIL_TYPES, Deadlines, Event, EventKind, EventQueue, QueueError, SqsQueue, parse_event,
};
use rollcall::inventory::{ApiCalls, Ec2Source, MAX_FILTER_VALUES};
use rollcall::{Ec2Settings, Filter};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime};

const REGION: &str = "us-west-2";
/// moto's default account: every instance here is in it.
const ACCOUNT: &str = "123456789012";

/// 2026-12-07T13:00:00Z.
const EVENT_TIME: u64 = 1_796_648_400;

/// The rule's event pattern, from what rollcall reads.
fn pattern() -> Value {
    let mut sources: Vec<&str> = DETAIL_TYPES.iter().map(|(source, _)| *source).collect();
    sources.dedup();
    let detail_types: Vec<&str> = DETAIL_TYPES.iter().map(|(_, kind)| *kind).collect();
    json!({"source": sources, "detail-type": detail_types})
}

/// moto's credentials and region, one attempt per call.
fn sdk_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "rollcall-tests",
        )))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .build()
}

fn deadlines() -> Deadlines {
    Deadlines {
        connect: Duration::from_secs(2),
        first_byte: Duration::from_secs(5),
        total: Duration::from_secs(10),
    }
}

fn queue_at(url: &str, endpoint: &str) -> SqsQueue {
    SqsQueue::new(
        &sdk_config(),
        &url.parse().expect("a queue URL"),
        Some(endpoint),
        deadlines(),
    )
}

/// Messages of `queue` until `count` came, a receive of up to a second at
/// a time, for at most ten seconds.
async fn receive(queue: &SqsQueue, count: usize) -> Vec<rollcall::events::Message> {
    let started = Instant::now();
    let mut received = Vec::new();
    while received.len() < count && started.elapsed() < Duration::from_secs(10) {
        received.extend(
            queue
                .receive(Duration::from_secs(1), 10)
                .await
                .expect("a receive"),
        );
    }
    received
}

#[tokio::test(flavor = "multi_thread")]
async fn ec2s_events_reach_the_queue_through_the_rule_and_are_read_then_deleted() {
    let moto = Moto::start();
    let queue = Queue::create(&moto, REGION, "rollcall-events").await;
    let bus = Bus::new(&moto, REGION);
    bus.route("rollcall-events", &pattern(), &queue.arn);
    let (running, interrupted) = ("i-0a1b2c3d4e5f60718", "i-0fedcba9876543210");
    let arn = |id: &str| format!("arn:aws:ec2:{REGION}:123456789012:instance/{id}");
    bus.put(
        "aws.ec2",
        "EC2 Instance State-change Notification",
        &json!({"instance-id": running, "state": "running"}),
        EVENT_TIME,
        &[&arn(running)],
    );
    bus.put(
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
        &json!({"instance-id": interrupted, "instance-action": "terminate"}),
        EVENT_TIME,
        &[&arn(interrupted)],
    );
    // Not in the pattern: it never reaches the queue.
    bus.put(
        "aws.ec2",
        "EC2 AMI State Change",
        &json!({"ImageId": "ami-12c6146b", "State": "available"}),
        EVENT_TIME,
        &[],
    );

    let events = queue_at(&queue.url, &moto.endpoint);
    assert!(
        events.describe().contains(&queue.url),
        "{}",
        events.describe()
    );
    let received = receive(&events, 2).await;
    assert_eq!(received.len(), 2);
    let mut read: Vec<Event> = received
        .iter()
        .map(|message| {
            assert!(message.sent_at.is_some(), "SentTimestamp");
            parse_event(&message.body)
                .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&message.body)))
        })
        .collect();
    read.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(EVENT_TIME);
    let event = |instance_id: &str, kind| Event {
        instance_id: instance_id.to_owned(),
        region: REGION.to_owned(),
        account: "123456789012".to_owned(),
        time: at,
        kind,
    };
    assert_eq!(
        read,
        [
            event(
                running,
                EventKind::StateChange {
                    state: "running".into()
                }
            ),
            event(
                interrupted,
                EventKind::SpotInterruption {
                    action: "terminate".into()
                }
            ),
        ]
    );

    // The rule passed the two events, and no more; received is not
    // deleted: both wait out their visibility.
    assert_eq!(queue.messages().await, 2);
    let receipts: Vec<String> = received.iter().map(|m| m.receipt.clone()).collect();
    events.delete(&receipts).await.expect("deleted");
    assert_eq!(queue.messages().await, 0);
    assert!(
        events
            .receive(Duration::from_secs(1), 10)
            .await
            .expect("a receive")
            .is_empty()
    );
    // A receipt deleted twice is no error.
    events.delete(&receipts).await.expect("deleted again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_is_no_event_is_received_refused_and_deleted() {
    let moto = Moto::start();
    let queue = Queue::create(&moto, REGION, "rollcall-events").await;
    queue
        .send("{\"Type\": \"Notification\", \"Message\": \"{}\"}")
        .await;
    queue.send("not json").await;
    let events = queue_at(&queue.url, &moto.endpoint);
    let received = receive(&events, 2).await;
    assert_eq!(received.len(), 2);
    for message in &received {
        assert!(parse_event(&message.body).is_err());
    }
    let receipts: Vec<String> = received.iter().map(|m| m.receipt.clone()).collect();
    events.delete(&receipts).await.expect("deleted");
    assert_eq!(queue.messages().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_last() {
    // moto checking credentials, which knows none of the tests'.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let url = format!("{}/123456789012/rollcall-events", moto.endpoint);
    let err = queue_at(&url, &moto.endpoint)
        .receive(Duration::from_secs(1), 10)
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::Denied(_)), "{err:?}");
    assert!(err.is_lasting());
    // moto answers in XML, not SQS's JSON: the body is shown.
    assert!(
        err.to_string().contains("HTTP 403") && err.to_string().contains("InvalidClientTokenId"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_queue_lasts_and_an_unreachable_one_passes_within_its_deadline() {
    let moto = Moto::start();
    let missing = format!("{}/123456789012/no-such-queue", moto.endpoint);
    let err = queue_at(&missing, &moto.endpoint)
        .receive(Duration::from_secs(1), 10)
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::Missing(_)), "{err:?}");
    assert!(err.is_lasting());
    assert!(err.to_string().contains("no-such-queue"), "{err}");

    let started = Instant::now();
    let err = queue_at("http://127.0.0.1:9/123456789012/q", NO_SERVICE)
        .receive(Duration::from_secs(1), 10)
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::Transient(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
}

/// The EC2 source on moto with `filters`, counting into `calls`.
async fn source(moto: &Moto, filters: &[&str], calls: &ApiCalls) -> Ec2Source {
    let settings = Ec2Settings {
        regions: vec![REGION.to_owned()],
        endpoint_url: Some(moto.endpoint.clone()),
        region_from_imds: false,
        max_attempts: 1,
        filters: filters
            .iter()
            .map(|filter| filter.parse::<Filter>().expect("a filter"))
            .collect(),
        ..Ec2Settings::default()
    };
    Ec2Source::from_config(settings, sdk_config(), calls.clone())
        .await
        .expect("a source")
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_described_by_id_are_found_unless_unknown_or_outside_the_filters() {
    let moto = Moto::start();
    let fleet = Fleet::new(&moto, REGION);
    let prod = fleet.launch(&[], 3, &[("env", "prod")]).await;
    let outsider = fleet.launch(&[], 1, &[("env", "test")]).await.remove(0);
    let unknown = "i-0123456789abcdef0".to_owned();
    let calls = ApiCalls::default();
    let ec2 = source(&moto, &["Name=tag:env,Values=prod"], &calls).await;

    let asked = vec![
        prod[0].clone(),
        unknown.clone(),
        prod[1].clone(),
        outsider.clone(),
        prod[0].clone(),
    ];
    let answer = ec2
        .describe_ids(ACCOUNT, REGION, &asked)
        .await
        .expect("described");
    let mut found: Vec<&str> = answer.found.iter().map(|i| i.id.as_str()).collect();
    found.sort();
    let mut expected = vec![prod[0].as_str(), prod[1].as_str()];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(answer.outside, [unknown.clone(), outsider.clone()]);
    let instance = &answer.found[0];
    assert_eq!(instance.state, "running");
    assert_eq!(instance.region.as_deref(), Some(REGION));
    assert!(instance.private_ipv4.is_some(), "parsed as a listing's are");
    assert_eq!(calls.ec2.total(), 1, "one call for five ids");
    assert_eq!(calls.ec2.answered.get(), 1);

    // A region the source does not read: every id outside, no call.
    let elsewhere = ec2
        .describe_ids(ACCOUNT, "eu-west-1", &asked[..2])
        .await
        .unwrap();
    assert!(elsewhere.found.is_empty());
    assert_eq!(elsewhere.outside, asked[..2]);
    assert!(
        ec2.describe_ids(ACCOUNT, REGION, &[])
            .await
            .unwrap()
            .outside
            .is_empty()
    );
    assert_eq!(calls.ec2.total(), 1);

    // 250 ids beside a filter of one value: 199, then 51, a call.
    let mut many: Vec<String> = (0..248).map(|n| format!("i-{n:017x}")).collect();
    many.extend([prod[2].clone(), outsider.clone()]);
    let answer = ec2
        .describe_ids(ACCOUNT, REGION, &many)
        .await
        .expect("described");
    assert_eq!(answer.found.len(), 1);
    assert_eq!(answer.found[0].id, prod[2]);
    assert_eq!(answer.outside.len(), 249);
    assert_eq!(
        calls.ec2.total(),
        1 + (250usize).div_ceil(MAX_FILTER_VALUES - 1) as u64
    );
}

#[test]
fn the_cloudformation_rule_names_every_event_rollcall_reads() {
    let path = workspace().join("packaging/cloudformation/events.yaml");
    let template = std::fs::read_to_string(&path).expect("the template");
    for (source, detail_type) in DETAIL_TYPES {
        assert!(
            template.contains(&format!("- {source}\n")),
            "{} does not send {source}",
            path.display()
        );
        assert!(
            template.contains(&format!("- {detail_type}\n")),
            "{} does not send {detail_type:?}",
            path.display()
        );
    }
    for permission in [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "ec2:DescribeInstances",
    ] {
        assert!(template.contains(permission), "{permission}");
    }
}
