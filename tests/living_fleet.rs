//! Agents follow their monitors' lives end to end: `rollcall watch` runs the
//! Elastic Grid policy against `moto_server` (EC2, Auto Scaling, S3), and a
//! monitor that stops serving, in Auto Scaling standby or announcing a spot
//! interruption through its leave marker, stays a member but is no agent's
//! registration target until it serves again.

use kit::CREDENTIALS;
use kit::daemon::Daemon;
use kit::moto_fleet::{Bucket, Fleet, Groups};
use kit::plugins::ELASTIC_GRID;
use kit::servers::{Imds, Moto};
use kit::{eventually, ids, member, role_of};
use serde_json::Value;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;

const REGION: &str = "us-east-1";
const BUCKET: &str = "rollcall-fleet";
/// How long any change may take to reach a daemon refreshing every second.
const WAIT: Duration = Duration::from_secs(30);

/// One world at a time: the machine is small.
static ONE_WORLD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `ids`, sorted: the instances a daemon registers with.
fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Waits until `daemon` (`who`) registers with exactly `targets`; its
/// document then.
fn until_targets(daemon: &Daemon, who: &str, targets: &[&str]) -> Value {
    let targets = sorted(targets.iter().map(|id| (*id).to_owned()).collect());
    let what = format!("{who} to register with exactly {targets:?}");
    eventually(WAIT, &what, || {
        daemon
            .membership()
            .filter(|document| sorted(ids(document, "register_with")) == targets)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monitor_entering_standby_stops_being_an_agents_target_and_returns_when_it_exits() {
    let _alone = ONE_WORLD.lock().await;
    let moto = Moto::start();
    let ec2 = Fleet::new(&moto, REGION);
    let monitor_group = ec2.group("eg-monitor").await;
    let agent_group = ec2.group("eg-cybernode").await;
    let groups = Groups::new(&moto, REGION);
    let monitors = groups.create_in("grid", 2, &[monitor_group]).await;
    let agent = ec2.launch(&[&agent_group], 1, &[]).await.remove(0);
    let (resting, serving) = (monitors[0].as_str(), monitors[1].as_str());

    // EC2 at --endpoint-url; Auto Scaling where the SDK's environment says.
    let mut environment = CREDENTIALS.to_vec();
    environment.push(("AWS_ENDPOINT_URL_AUTO_SCALING", &moto.endpoint));
    let daemon = Daemon::launch([
        "--region",
        REGION,
        "--endpoint-url",
        &moto.endpoint,
        "--plugin",
        ELASTIC_GRID,
        "--self",
        &agent,
        "--refresh",
        "1s",
    ])
    .envs(&environment)
    .start();
    let document = until_targets(&daemon, &agent, &[resting, serving]);
    assert_eq!(member(&document, resting)["lifecycle"], "in-service");

    groups.standby("grid", resting, true).await;
    let document = until_targets(&daemon, &agent, &[serving]);
    let standing_by = member(&document, resting);
    assert_eq!(standing_by["lifecycle"], "standby", "{document}");
    assert_eq!(standing_by["auto_scaling_group"], "grid", "{document}");
    assert_eq!(role_of(&document, resting).as_deref(), Some("monitor"));

    groups.standby("grid", resting, false).await;
    let document = until_targets(&daemon, &agent, &[resting, serving]);
    assert_eq!(member(&document, resting)["lifecycle"], "in-service");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spot_notice_on_a_monitor_reaches_every_agents_targets_through_its_marker() {
    let _alone = ONE_WORLD.lock().await;
    let moto = Moto::start();
    let bucket = Bucket::create(&moto, REGION, BUCKET).await;
    let ec2 = Fleet::new(&moto, REGION);
    let monitor_group = ec2.group("eg-monitor").await;
    let agent_group = ec2.group("eg-cybernode").await;
    let monitors = ec2.launch(&[&monitor_group], 2, &[]).await;
    let agent_ids = ec2.launch(&[&agent_group], 2, &[]).await;
    let (spot, steady) = (monitors[0].as_str(), monitors[1].as_str());

    // One configuration: the snapshot in moto's S3, IMDS polled often. Only
    // the spot monitor knows itself through IMDS; the agents are told who
    // they are, so its leave marker is all they can learn of its notice.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "refresh = \"1s\"\n\
             [source]\nkind = \"ec2\"\nregions = [\"{REGION}\"]\nendpoint_url = \"{moto}\"\n\
             snapshot = \"s3://{BUCKET}/fleet\"\ns3_endpoint_url = \"{moto}\"\n\
             [policy]\nplugin = \"{ELASTIC_GRID}\"\n\
             [lifecycle]\npoll_every = \"200ms\"\n",
            moto = moto.endpoint,
        ),
    )
    .unwrap();
    let config = ["--config", config.to_str().unwrap()];
    let imds = Imds::start(spot, REGION);
    let mut environment = CREDENTIALS.to_vec();
    environment.extend(imds.environment());
    let monitor = Daemon::launch(config).envs(&environment).start();
    let agents: Vec<Daemon> = agent_ids
        .iter()
        .map(|id| {
            Daemon::launch(config.iter().chain(&["--self", id.as_str()]))
                .envs(&CREDENTIALS)
                .start()
        })
        .collect();
    for (agent, id) in agents.iter().zip(&agent_ids) {
        until_targets(agent, id, &[spot, steady]);
    }
    let document = until_targets(&monitor, "the spot monitor", &[steady]);
    assert_eq!(document["self"]["instance_id"], spot, "self from IMDS");

    let deadline = (time::OffsetDateTime::now_utc() + time::Duration::minutes(2))
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    imds.set(
        Imds::SPOT_INSTANCE_ACTION,
        &format!(r#"{{"action": "terminate", "time": "{deadline}"}}"#),
    );
    for (agent, id) in agents.iter().zip(&agent_ids) {
        let document = until_targets(agent, id, &[steady]);
        let leaving = &member(&document, spot)["leaving"];
        assert_eq!(leaving["reason"], "spot-interruption", "{document}");
        assert_eq!(leaving["deadline"], deadline.as_str(), "{document}");
        assert_eq!(role_of(&document, spot).as_deref(), Some("monitor"));
    }
    let marker = bucket
        .leave_marker("fleet", spot)
        .await
        .expect("the spot monitor's leave marker");
    assert_eq!(marker["reason"], "spot-interruption", "{marker}");
}
