//! Self's lifecycle end to end: `rollcall watch` on an instance that IMDS
//! (the kit's settable stub) says is terminating or interrupted. moto
//! serves EC2 and the snapshot's S3; the kit's recording Auto Scaling
//! serves what moto lacks (a lifecycle hook's wait, and its completion).

use kit::CREDENTIALS;
use kit::daemon::Daemon;
use kit::moto_fleet::{Bucket, Fleet};
use kit::plugins::ELASTIC_GRID;
use kit::servers::{AutoScaling, Imds, Moto};
use kit::{eventually, member};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const REGION: &str = "us-east-1";
const BUCKET: &str = "rollcall-fleet";
const WAIT: Duration = Duration::from_secs(30);

/// One world at a time: the machine is small.
static ONE_WORLD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// moto with a bucket and two monitors (members of every answer), the
/// first of them self.
struct World {
    moto: Moto,
    bucket: Bucket,
    own: String,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let moto = Moto::start();
        let bucket = Bucket::create(&moto, REGION, BUCKET).await;
        let ec2 = Fleet::new(&moto, REGION);
        let monitors = ec2.group("eg-monitor").await;
        let instances = ec2.launch(&[&monitors], 2, &[]).await;
        World {
            moto,
            bucket,
            own: instances[0].clone(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `rollcall.toml` for self from IMDS, the snapshot in moto's S3, an
    /// env file sink, and `lifecycle` as the `[lifecycle]` table.
    fn config(&self, lifecycle: &str) -> PathBuf {
        let config = format!(
            "refresh = \"2s\"\nself = \"imds\"\n\
             [source]\nkind = \"ec2\"\nregions = [\"{REGION}\"]\nendpoint_url = \"{moto}\"\n\
             snapshot = \"s3://{BUCKET}/fleet\"\ns3_endpoint_url = \"{moto}\"\n\
             [policy]\nplugin = \"{plugin}\"\n\
             [[sink]]\nkind = \"file\"\npath = \"{env}\"\nformat = \"env\"\n\
             [lifecycle]\npoll_every = \"200ms\"\n{lifecycle}\n",
            moto = self.moto.endpoint,
            plugin = ELASTIC_GRID,
            env = self.path("membership.env").display(),
        );
        let path = self.path("rollcall.toml");
        std::fs::write(&path, config).unwrap();
        path
    }

    fn start(&self, config: &Path, imds: &Imds, extra: &[(&str, &str)]) -> Daemon {
        let mut environment = CREDENTIALS.to_vec();
        environment.extend(imds.environment());
        environment.extend(extra);
        let daemon = Daemon::launch(["--config", config.to_str().unwrap()])
            .envs(&environment)
            .start();
        eventually(WAIT, "the first answer", || daemon.membership());
        daemon
    }

    /// Self's leave marker in the bucket, once written.
    async fn marker(&self) -> Option<Value> {
        self.bucket.leave_marker("fleet", &self.own).await
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminating_node_runs_its_hook_once_marks_its_leave_and_completes_the_action_once() {
    let _alone = ONE_WORLD.lock().await;
    let world = World::new().await;
    let imds = Imds::start(&world.own, REGION);
    imds.set(Imds::TARGET_LIFECYCLE_STATE, "InService");
    imds.set(Imds::GROUP_TAG, "web");
    let auto_scaling = AutoScaling::start();
    let hook_log = world.path("on_leave.log");
    let hook = world.path("on_leave.sh");
    std::fs::write(
        &hook,
        format!(
            "printf '%s|%s|%s|%s\\n' \"$ROLLCALL_LEAVE_REASON\" \"$ROLLCALL_CHANGES\" \
             \"$ROLLCALL_SELF_LEAVING\" \"$ROLLCALL_SELF\" >> {log}\nsleep 3\n",
            log = hook_log.display()
        ),
    )
    .unwrap();
    let config = world.config(&format!(
        "on_leave = [\"/bin/sh\", \"{hook}\"]\non_leave_timeout = \"30s\"\n\
         complete_lifecycle_hook = \"drain\"\nheartbeat_every = \"1s\"\n",
        hook = hook.display()
    ));
    let daemon = world.start(
        &config,
        &imds,
        &[("AWS_ENDPOINT_URL_AUTO_SCALING", &auto_scaling.endpoint)],
    );
    let document = daemon.membership().unwrap();
    assert_eq!(document["self"]["instance_id"], world.own.as_str());
    assert!(document["self"].get("leaving").is_none(), "{document}");
    assert_eq!(member(&document, &world.own)["lifecycle"], "in-service");

    imds.set(Imds::TARGET_LIFECYCLE_STATE, "Terminated");
    let completed = eventually(WAIT, "the lifecycle action completed", || {
        let calls = auto_scaling.calls("CompleteLifecycleAction");
        (!calls.is_empty()).then_some(calls)
    });
    let field = |call: &[(String, String)], name: &str| {
        call.iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    assert_eq!(field(&completed[0], "LifecycleActionResult"), "CONTINUE");
    assert_eq!(field(&completed[0], "LifecycleHookName"), "drain");
    assert_eq!(field(&completed[0], "AutoScalingGroupName"), "web");
    assert_eq!(field(&completed[0], "InstanceId"), world.own);
    let heartbeats = auto_scaling.calls("RecordLifecycleActionHeartbeat");
    assert!(
        (1..=4).contains(&heartbeats.len()),
        "a heartbeat a second while the 3 s hook ran: {heartbeats:?}"
    );
    assert_eq!(
        lines(&hook_log),
        [format!(
            "auto-scaling-termination|self_leaving|auto-scaling-termination|{}",
            world.own
        )],
        "the hook ran once, told why"
    );
    let marker = world.marker().await.expect("the leave marker");
    assert_eq!(marker["instance_id"], world.own.as_str());
    assert_eq!(marker["reason"], "auto-scaling-termination");

    let document = daemon.membership().unwrap();
    assert_eq!(
        document["self"]["leaving"]["reason"],
        "auto-scaling-termination"
    );
    let member = member(&document, &world.own);
    assert_eq!(member["leaving"]["reason"], "auto-scaling-termination");
    assert_eq!(member["lifecycle"], "terminating");
    let (_, events) = daemon.get("/v1/events");
    let told: Vec<&Value> = events["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|event| event["kind"] == "self_leaving")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(told.len(), 1, "{events}");
    assert_eq!(told[0]["instance_ids"][0], world.own.as_str());
    assert_eq!(
        daemon.metric("rollcall_members_by_state{state=\"leaving\"}"),
        Some(1.0)
    );

    // Three more refreshes and many more looks at IMDS: nothing runs or
    // completes again, and the answer is still served.
    let refreshed = "rollcall_refreshes_total{outcome=\"ok\"}";
    let (refreshes, looks) = (daemon.metric(refreshed).unwrap_or(0.0), imds.requests());
    eventually(
        WAIT,
        "three more refreshes and ten more IMDS requests",
        || {
            let more =
                daemon.metric(refreshed)? >= refreshes + 3.0 && imds.requests() >= looks + 10;
            more.then_some(())
        },
    );
    assert_eq!(auto_scaling.calls("CompleteLifecycleAction").len(), 1);
    assert_eq!(lines(&hook_log).len(), 1);
    assert_eq!(
        daemon.membership().unwrap()["self"]["instance_id"],
        world.own.as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spot_notice_makes_self_leaving_in_the_document_and_the_env_file() {
    let _alone = ONE_WORLD.lock().await;
    let world = World::new().await;
    let imds = Imds::start(&world.own, REGION);
    let config = world.config("");
    let daemon = world.start(&config, &imds, &[]);
    let env_file = world.path("membership.env");
    eventually(WAIT, "the env file", || {
        lines(&env_file)
            .contains(&"ROLLCALL_SELF_LEAVING=''".to_owned())
            .then_some(())
    });

    imds.set(
        Imds::SPOT_INSTANCE_ACTION,
        r#"{"action": "terminate", "time": "2026-12-07T10:02:00Z"}"#,
    );
    let document = eventually(WAIT, "self leaving in /v1/membership", || {
        daemon
            .membership()
            .filter(|document| document["self"]["leaving"].is_object())
    });
    assert_eq!(document["self"]["leaving"]["reason"], "spot-interruption");
    assert_eq!(
        document["self"]["leaving"]["deadline"],
        "2026-12-07T10:02:00Z"
    );
    let member = member(&document, &world.own);
    assert_eq!(member["leaving"]["reason"], "spot-interruption");
    eventually(WAIT, "self leaving in the env file", || {
        let lines = lines(&env_file);
        (lines.contains(&"ROLLCALL_SELF_LEAVING='spot-interruption'".to_owned())
            && lines.contains(&"ROLLCALL_SELF_LEAVE_DEADLINE='2026-12-07T10:02:00Z'".to_owned()))
        .then_some(())
    });
    // A spot notice is a certain leave: the marker is written too.
    let started = std::time::Instant::now();
    let marker = loop {
        if let Some(marker) = world.marker().await {
            break marker;
        }
        assert!(
            started.elapsed() < WAIT,
            "no leave marker: {}",
            daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(marker["reason"], "spot-interruption");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_with_leave_on_stop_leaves_before_the_daemon_exits() {
    let _alone = ONE_WORLD.lock().await;
    let world = World::new().await;
    let imds = Imds::start(&world.own, REGION);
    let hook_log = world.path("on_leave.log");
    let config = world.config(&format!(
        "leave_on_stop = true\non_leave = [\"/bin/sh\", \"-c\", \
         \"sleep 1; echo $ROLLCALL_LEAVE_REASON >> {log}\"]\n",
        log = hook_log.display()
    ));
    let mut daemon = world.start(&config, &imds, &[]);
    let (code, _) = daemon.terminate_within(WAIT);
    assert_eq!(code, Some(0), "{}", daemon.stderr());
    assert_eq!(lines(&hook_log), ["announced"], "{}", daemon.stderr());
    let marker = world.marker().await.expect("the leave marker");
    assert_eq!(marker["reason"], "announced");
}
