//! End to end against a real EC2-compatible endpoint: `moto_server` on
//! loopback, a fleet launched into it with the AWS SDK, and the real binary
//! reading it with DescribeInstances. Stub servers stand in for IMDS and for
//! an EC2 that fails.

use kit::CREDENTIALS;
use kit::background::Background;
use kit::eventually;
use kit::moto_fleet::Fleet;
use kit::plugins::ELASTIC_GRID;
use kit::servers::{Moto, Refusing, Reply, Stub};
use kit::{Run, ids, role_of, rollcall_in};
use serde_json::Value;
use std::time::{Duration, Instant};

const REGION: &str = "us-west-2";

/// The Elastic Grid fleet of the tests: two clusters, every kind of member.
struct Launched {
    blue_monitors: Vec<String>,
    green_monitor: String,
    blue_agents: Vec<String>,
    green_agent: String,
    stopped_monitor: String,
    terminated_monitor: String,
    outsider: String,
}

async fn launch_fleet(fleet: &Fleet) -> Launched {
    let monitor = fleet.group("eg-monitor").await;
    let agent = fleet.group("eg-cybernode").await;
    let blue = fleet.group("cluster-blue").await;
    let green = fleet.group("cluster-green").await;
    let web = fleet.group("web").await;
    let blue_monitors = fleet
        .launch(&[&monitor, &blue], 2, &[("env", "prod")])
        .await;
    let green_monitor = fleet
        .launch(&[&monitor, &green], 1, &[("env", "prod")])
        .await
        .remove(0);
    let blue_agents = fleet.launch(&[&agent, &blue], 3, &[("env", "prod")]).await;
    let green_agent = fleet
        .launch(&[&agent, &green], 1, &[("env", "test")])
        .await
        .remove(0);
    let stopped_monitor = fleet.launch(&[&monitor, &blue], 1, &[]).await.remove(0);
    let terminated_monitor = fleet.launch(&[&monitor, &blue], 1, &[]).await.remove(0);
    let outsider = fleet.launch(&[&web], 1, &[]).await.remove(0);
    fleet.stop(&stopped_monitor).await;
    fleet.terminate(&terminated_monitor).await;
    Launched {
        blue_monitors,
        green_monitor,
        blue_agents,
        green_agent,
        stopped_monitor,
        terminated_monitor,
        outsider,
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// `rollcall ARGS --endpoint-url MOTO` with test credentials.
fn against(moto_endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--endpoint-url", moto_endpoint]);
    let mut environment = CREDENTIALS.to_vec();
    environment.extend_from_slice(env);
    rollcall_in(full, &environment)
}

const CLUSTERS: &str = r#"{"cluster_group_prefix": "cluster-"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_live_fleet_resolves_as_the_rules_say_and_replays_from_its_recording() {
    let moto = Moto::start();
    let fleet = Fleet::new(&moto, REGION);
    let launched = launch_fleet(&fleet).await;
    let plugin = ELASTIC_GRID;
    let blue_agent = launched.blue_agents[0].as_str();

    let live = against(
        &moto.endpoint,
        &[
            "resolve",
            "--region",
            REGION,
            "--plugin",
            plugin,
            "--self",
            blue_agent,
            "--plugin-config",
            CLUSTERS,
        ],
        &[],
    )
    .json();
    assert_eq!(live["self"]["role"], "agent");
    assert_eq!(live["self"]["clusters"], serde_json::json!(["blue"]));
    assert_eq!(
        ids(&live, "register_with"),
        sorted(launched.blue_monitors.clone())
    );
    let monitor_ip = fleet.private_ip(&launched.blue_monitors[0]).await;
    assert!(
        live["register_with"]
            .as_array()
            .unwrap()
            .iter()
            .any(|target| target["address"] == monitor_ip.as_str()),
        "targets carry the private address {monitor_ip}: {live}"
    );
    let members = ids(&live, "members");
    assert_eq!(
        members.len(),
        2 + 1 + 3 + 1,
        "running monitors and agents: {members:?}"
    );
    for absent in [
        &launched.stopped_monitor,
        &launched.terminated_monitor,
        &launched.outsider,
    ] {
        assert!(!members.contains(absent), "{absent} is no member");
    }
    assert_eq!(live["inventory"]["instances"], 10);
    assert!(
        live["inventory"]["source"]
            .as_str()
            .unwrap()
            .contains(&moto.endpoint)
    );

    let green = against(
        &moto.endpoint,
        &[
            "resolve",
            "--region",
            REGION,
            "--plugin",
            plugin,
            "--self",
            &launched.green_agent,
            "--plugin-config",
            CLUSTERS,
        ],
        &[],
    )
    .json();
    assert_eq!(
        ids(&green, "register_with"),
        std::slice::from_ref(&launched.green_monitor)
    );

    // Record, then replay offline: the same answer.
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("fleet.json");
    let recorded = against(
        &moto.endpoint,
        &[
            "inventory",
            "--region",
            REGION,
            "--output",
            recording.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(recorded.code, 0, "{}", recorded.stderr);
    let replayed = rollcall_in(
        [
            "resolve",
            "--inventory",
            recording.to_str().unwrap(),
            "--plugin",
            plugin,
            "--self",
            blue_agent,
            "--plugin-config",
            CLUSTERS,
        ],
        &[],
    )
    .json();
    for key in ["self", "register_with", "members"] {
        assert_eq!(live[key], replayed[key], "{key} differs after replay");
    }
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(&recording).unwrap()).unwrap();
    let instance = &document["Reservations"][0]["Instances"][0];
    assert_eq!(instance["Region"], REGION);
    assert!(
        instance["SecurityGroups"][0]["GroupId"]
            .as_str()
            .unwrap()
            .starts_with("sg-")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_is_read_and_regions_merge() {
    let moto = Moto::start();
    let west = Fleet::new(&moto, REGION);
    let group = west.group("eg-monitor").await;
    let mut launched = Vec::new();
    for _ in 0..12 {
        launched.extend(west.launch(&[&group], 1, &[]).await);
    }
    let east = Fleet::new(&moto, "eu-west-1");
    let east_group = east.group("eg-cybernode").await;
    let east_ids = east.launch(&[&east_group], 2, &[]).await;

    // moto pages by reservation: 12 reservations at 5 a page are 3 pages.
    let paged = against(
        &moto.endpoint,
        &[
            "resolve",
            "--region",
            REGION,
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
            "--page-size",
            "5",
            "-vv",
        ],
        &[],
    );
    let document = paged.json();
    assert_eq!(ids(&document, "members"), sorted(launched.clone()));
    assert!(
        paged.stderr.contains("pages=3"),
        "three pages were read: {}",
        paged.stderr
    );

    let merged = against(
        &moto.endpoint,
        &[
            "resolve",
            "--regions",
            &format!("{REGION},eu-west-1"),
            "--plugin",
            ELASTIC_GRID,
            "--self",
            &east_ids[0],
            "--page-size",
            "5",
        ],
        &[],
    )
    .json();
    assert_eq!(merged["inventory"]["instances"], 14);
    assert_eq!(merged["self"]["role"], "agent");
    assert_eq!(ids(&merged, "register_with"), sorted(launched));

    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("regions.json");
    let run = against(
        &moto.endpoint,
        &[
            "inventory",
            "--regions",
            &format!("{REGION},eu-west-1"),
            "--output",
            recording.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&recording).unwrap();
    assert_eq!(text.matches("\"Region\": \"eu-west-1\"").count(), 2);
    assert_eq!(text.matches("\"Region\": \"us-west-2\"").count(), 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_are_applied_by_the_server() {
    let moto = Moto::start();
    let fleet = Fleet::new(&moto, REGION);
    let launched = launch_fleet(&fleet).await;

    let running_prod = against(
        &moto.endpoint,
        &[
            "resolve",
            "--region",
            REGION,
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
            "--filter",
            "Name=instance-state-name,Values=running",
            "--filter",
            "Name=tag:env,Values=prod",
        ],
        &[],
    )
    .json();
    assert_eq!(running_prod["inventory"]["instances"], 2 + 1 + 3);
    assert!(!ids(&running_prod, "members").contains(&launched.green_agent));
}

#[tokio::test(flavor = "multi_thread")]
async fn self_comes_from_imds() {
    let moto = Moto::start();
    let fleet = Fleet::new(&moto, REGION);
    let launched = launch_fleet(&fleet).await;
    let agent = launched.blue_agents[1].clone();
    let imds = {
        let agent = agent.clone();
        Stub::start(
            move |request| match (request.method.as_str(), request.path.as_str()) {
                ("PUT", "/latest/api/token") => imds_token(),
                ("GET", "/latest/meta-data/instance-id") => Reply::ok(&agent),
                ("GET", "/latest/meta-data/placement/region") => Reply::ok(REGION),
                (_, path) => Reply::ec2_error(404, "NotFound", path),
            },
        )
    };
    let environment = [
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "false"),
    ];

    // Self and the region both from IMDS.
    let document = against(
        &moto.endpoint,
        &[
            "resolve",
            "--plugin",
            ELASTIC_GRID,
            "--plugin-config",
            CLUSTERS,
        ],
        &environment,
    )
    .json();
    assert_eq!(document["self"]["instance_id"], agent.as_str());
    assert_eq!(
        ids(&document, "register_with"),
        sorted(launched.blue_monitors.clone())
    );

    // An IMDS that names an instance the fleet does not have is said plainly.
    let stranger = Stub::start(|request| match request.method.as_str() {
        "PUT" => imds_token(),
        _ => Reply::ok("i-0123456789abcdef0"),
    });
    against(
        &moto.endpoint,
        &["resolve", "--region", REGION, "--plugin", ELASTIC_GRID],
        &[
            (
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                stranger.endpoint.as_str(),
            ),
            ("AWS_EC2_METADATA_DISABLED", "false"),
        ],
    )
    .fails_with(
        2,
        &[
            "self instance i-0123456789abcdef0 is not in the inventory",
            "ec2:us-west-2",
        ],
    );
}

/// IMDSv2's answer to `PUT /latest/api/token`.
fn imds_token() -> Reply {
    Reply {
        headers: vec![("x-aws-ec2-metadata-token-ttl-seconds", "21600".to_owned())],
        ..Reply::ok("token")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_imds_that_does_not_answer_fails_fast_unless_self_is_none() {
    let moto = Moto::start();
    let (silent, _listener) = Stub::silent();
    let environment = [
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", silent.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "false"),
    ];
    // The same run without IMDS is the baseline: the machine's load slows
    // both alike. IMDS gets one attempt of at most 1.5 s; the SDK's default
    // (several attempts, with backoff) would add well over 3 s.
    let started = Instant::now();
    let document = against(
        &moto.endpoint,
        &[
            "resolve",
            "--region",
            REGION,
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
        ],
        &environment,
    )
    .json();
    let baseline = started.elapsed();
    let started = Instant::now();
    let run = against(
        &moto.endpoint,
        &["resolve", "--region", REGION, "--plugin", ELASTIC_GRID],
        &environment,
    );
    let took = started.elapsed();
    run.fails_with(4, &["cannot tell which instance this is", "--self none"]);
    assert!(
        took < baseline + Duration::from_secs(3),
        "gave up after {took:?}, against {baseline:?} without IMDS"
    );
    assert_eq!(document["self"], Value::Null);
    let no_imds = against(
        &moto.endpoint,
        &[
            "resolve",
            "--region",
            REGION,
            "--plugin",
            ELASTIC_GRID,
            "--no-imds",
        ],
        &environment,
    );
    assert_eq!(no_imds.json()["self"], Value::Null);
}

#[test]
fn an_unreachable_endpoint_is_a_source_failure() {
    let nobody = Refusing::bind();
    let run = against(
        &nobody.endpoint,
        &[
            "resolve",
            "--region",
            REGION,
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
            "--max-attempts",
            "2",
        ],
        &[],
    );
    run.fails_with(4, &[&format!("cannot reach {}", nobody.endpoint)]);
    assert!(run.stdout.is_empty(), "no membership on failure");
}

#[test]
fn server_errors_and_throttling_are_retried_then_reported() {
    let failing =
        Stub::start(|_| Reply::ec2_error(500, "InternalError", "An internal error has occurred"));
    let run = against(
        &failing.endpoint,
        &[
            "resolve",
            "--region",
            REGION,
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
            "--max-attempts",
            "3",
        ],
        &[],
    );
    run.fails_with(4, &["HTTP 500", "InternalError"]);
    assert_eq!(failing.requests(), 3, "three attempts");

    let throttling =
        Stub::start(|_| Reply::ec2_error(503, "RequestLimitExceeded", "Request limit exceeded."));
    let run = against(
        &throttling.endpoint,
        &[
            "resolve",
            "--region",
            REGION,
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
            "--max-attempts",
            "3",
        ],
        &[],
    );
    run.fails_with(4, &["kept throttling", "RequestLimitExceeded"]);
    assert_eq!(throttling.requests(), 3, "three attempts");

    let slow = Stub::silent();
    let run = against(
        &slow.0,
        &[
            "resolve",
            "--region",
            REGION,
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
            "--max-attempts",
            "1",
            "--attempt-timeout",
            "300ms",
        ],
        &[],
    );
    run.fails_with(4, &["did not answer within 300ms"]);
}

#[test]
fn missing_denied_or_wrong_credentials_are_named_and_never_printed() {
    let denied = Stub::start(|_| {
        Reply::ec2_error(
            403,
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
        )
    });
    against(
        &denied.endpoint,
        &[
            "resolve",
            "--region",
            REGION,
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
        ],
        &[],
    )
    .fails_with(4, &["access denied", "ec2:DescribeInstances"]);

    let strict = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let run = rollcall_in(
        [
            "resolve",
            "--region",
            REGION,
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
            "--endpoint-url",
            &strict.endpoint,
            "-vvv",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ],
    );
    run.fails_with(4, &["rejected the credentials", "AuthFailure"]);
    assert!(
        !run.stderr.contains(secret),
        "the secret key never reaches the log"
    );

    let nobody = rollcall_in(
        [
            "resolve",
            "--region",
            REGION,
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
            "--endpoint-url",
            &strict.endpoint,
        ],
        &[],
    );
    nobody.fails_with(4, &["no usable AWS credentials"]);
}

/// At boot an agent may come up before any monitor: `resolve --wait-for`
/// asks EC2 again until a monitor is listed; when none comes, it gives up at
/// the timeout with exit 5, the last answer printed and what it lacked.
#[tokio::test(flavor = "multi_thread")]
async fn at_boot_resolve_waits_for_a_monitor_that_comes_late_and_gives_up_on_one_that_never_does() {
    let moto = Moto::start();
    let fleet = Fleet::new(&moto, REGION);
    let monitor_group = fleet.group("eg-monitor").await;
    let agent_group = fleet.group("eg-cybernode").await;
    let agent = fleet.launch(&[&agent_group], 1, &[]).await.remove(0);
    let plugin = ELASTIC_GRID;
    let waiting = |timeout: &'static str| {
        vec![
            "resolve",
            "--region",
            REGION,
            "--plugin",
            &plugin,
            "--self",
            &agent,
            "--wait-for",
            "targets>=1",
            "--wait-for",
            "role=monitor>=1",
            "--wait-timeout",
            timeout,
            "--wait-interval",
            "200ms",
        ]
    };

    let never = against(&moto.endpoint, &waiting("1s"), &[]);
    never.fails_with(
        5,
        &[
            "--wait-for targets>=1 role=monitor>=1: not met within 1s",
            "targets: 0 of 1, role=monitor: 0 of 1",
        ],
    );
    let last: Value = serde_json::from_str(&never.stdout).expect("the last answer is printed");
    assert_eq!(last["self"]["role"], "agent");
    assert_eq!(ids(&last, "register_with"), Vec::<String>::new());

    let mut args = waiting("60s");
    args.extend(["--endpoint-url", &moto.endpoint]);
    let late = Background::start(args, &CREDENTIALS);
    eventually(
        Duration::from_secs(30),
        "an answer without a monitor",
        || late.stderr().contains("targets: 0 of 1").then_some(()),
    );
    let monitor = fleet.launch(&[&monitor_group], 1, &[]).await.remove(0);
    let answer = late.finish_within(Duration::from_secs(30)).json();
    assert_eq!(
        ids(&answer, "register_with"),
        std::slice::from_ref(&monitor)
    );
    assert_eq!(role_of(&answer, &monitor).as_deref(), Some("monitor"));
}
