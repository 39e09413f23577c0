//! End to end: the real `rollcall watch` daemon following a changing fleet
//! (a file, and moto_server behind a proxy that can fail), hot-reloading
//! policies (a different one, garbage, a good one again), running its exec
//! hook, serving its HTTP API, and stopping cleanly on SIGTERM.

use kit::daemon::Daemon;
use kit::eventually;
use kit::plugins::{ELASTIC_GRID, MISBEHAVING, TAG_ROLES};
use kit::servers::{Moto, Proxy};
use kit::{seed_fleet, workspace};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const AGENT: &str = "i-df71a7b6";
const MONITOR: &str = "i-2271a74b";
const WAIT: Duration = Duration::from_secs(20);
const DEBUG_LOG: (&str, &str) = ("RUST_LOG", "rollcall=debug");

/// `rollcall watch ARGS`, logging at debug level.
fn start(args: &[&str]) -> Daemon {
    Daemon::launch(args).envs(&[DEBUG_LOG]).start()
}

fn targets(document: &Value) -> Vec<String> {
    kit::ids(document, "register_with")
}

/// Replaces `to` the way deploy tools do: a temporary file, then a rename.
fn replace(from: &Path, to: &Path) {
    let temporary = to.with_extension("tmp");
    std::fs::copy(from, &temporary).unwrap();
    std::fs::rename(&temporary, to).unwrap();
}

fn write_replacing(to: &Path, text: &str) {
    let temporary = to.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, to).unwrap();
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The seed fleet with a second monitor.
fn grown_seed_fleet() -> String {
    let mut document: Value =
        serde_json::from_str(&std::fs::read_to_string(seed_fleet()).unwrap()).unwrap();
    let mut monitor = document["Reservations"][0].clone();
    monitor["Instances"][0]["InstanceId"] = "i-0000000000000new".into();
    monitor["Instances"][0]["PrivateIpAddress"] = "10.251.199.100".into();
    document["Reservations"]
        .as_array_mut()
        .unwrap()
        .push(monitor);
    document.to_string()
}

#[test]
fn a_file_fleet_and_policy_swaps_are_followed_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    std::fs::copy(seed_fleet(), &fleet).unwrap();
    let policy = dir.path().join("policy.wasm");
    std::fs::copy(ELASTIC_GRID, &policy).unwrap();
    let output = dir.path().join("membership.json");
    let hook_log = dir.path().join("hook.log");
    let hook = dir.path().join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nprintf '%s|%s|' \"$ROLLCALL_CHANGES\" \"$ROLLCALL_REGISTER_WITH\" >> {log}\n\
             wc -c | tr -d ' \\n' >> {log}\necho >> {log}\n",
            log = hook_log.display()
        ),
    )
    .unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "refresh = \"200ms\"\nself = \"{AGENT}\"\n\n[source]\nkind = \"file\"\npath = \"fleet.json\"\n\n\
             [policy]\nplugin = \"policy.wasm\"\nmax_change = \"off\"\n\n[[sink]]\nkind = \"file\"\npath = \"membership.json\"\n\n\
             [[sink]]\nkind = \"exec\"\ncommand = [\"sh\", \"{}\"]\ntimeout = \"5s\"\n",
            hook.display()
        ),
    )
    .unwrap();
    let mut watch = start(&["--config", config.to_str().unwrap()]);

    // The first answer, in the file sink and over HTTP.
    let first = eventually(WAIT, "the file sink", || read_json(&output));
    assert_eq!(targets(&first), [MONITOR]);
    assert_eq!(targets(&watch.membership().unwrap()), [MONITOR]);
    let (status, health) = watch.get("/healthz");
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));

    // The fleet grows: both follow within a refresh or two.
    write_replacing(&fleet, &grown_seed_fleet());
    let grown = eventually(WAIT, "the new monitor", || {
        read_json(&output).filter(|document| targets(document).len() == 2)
    });
    assert_eq!(targets(&grown), ["i-0000000000000new", MONITOR]);
    assert_eq!(targets(&watch.membership().unwrap()).len(), 2);
    let (_, events) = watch.get("/v1/events?since=0");
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "joined",
            "targets_changed",
            "joined",
            "targets_changed",
            "inventory_changed"
        ]
    );

    // Another policy: same binary, another answer, swapped in live (it
    // drops every member: past the change guard, turned off here).
    replace(Path::new(TAG_ROLES), &policy);
    eventually(WAIT, "the tag-roles answer", || {
        read_json(&output).filter(|document| document["members"] == serde_json::json!([]))
    });
    let tag_sha = watch.membership().unwrap()["policy"]["sha256"].clone();

    // Garbage: the answer stays, the failure shows, the old policy serves.
    std::fs::write(dir.path().join("garbage"), "not wasm").unwrap();
    replace(&dir.path().join("garbage"), &policy);
    let health = eventually(WAIT, "the failed reload in /healthz", || {
        let (status, health) = watch.get("/healthz");
        (status == 200 && health["reload_error"].is_string()).then_some(health)
    });
    assert!(
        health["reload_error"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly file"),
        "{health}"
    );
    let (_, metrics) = watch.get("/metrics");
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("rollcall_reloads_total{outcome=\"rolled_back\"} 1"),
        "{metrics}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        watch.membership().unwrap()["policy"]["sha256"],
        tag_sha,
        "still the last good policy"
    );

    // A good policy again: the answer changes back, the failure clears.
    replace(Path::new(ELASTIC_GRID), &policy);
    eventually(WAIT, "elastic-grid again", || {
        read_json(&output).filter(|document| targets(document).len() == 2)
    });
    let (_, health) = watch.get("/healthz");
    assert_eq!(health["reload_error"], Value::Null);

    // The hook ran on every change, with the document on stdin.
    let hook_runs = std::fs::read_to_string(&hook_log).unwrap();
    let runs: Vec<&str> = hook_runs.lines().collect();
    assert!(runs.len() >= 4, "{hook_runs}");
    assert!(
        runs[0].starts_with("joined,targets_changed|10.251.199.99|"),
        "{hook_runs}"
    );
    assert!(
        runs[1]
            .starts_with("joined,targets_changed,inventory_changed|10.251.199.100 10.251.199.99|"),
        "{hook_runs}"
    );
    for run in &runs {
        let bytes: usize = run.rsplit('|').next().unwrap().parse().unwrap();
        assert!(bytes > 100, "the document reached stdin: {run}");
    }

    let (code, _) = watch.terminate_within(WAIT);
    assert_eq!(code, Some(0), "{}", watch.stderr());
}

#[test]
fn a_failing_hook_is_logged_and_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    std::fs::copy(seed_fleet(), &fleet).unwrap();
    let output = dir.path().join("out.json");
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "refresh = \"200ms\"\nself = \"{AGENT}\"\n[source]\nkind = \"file\"\npath = \"fleet.json\"\n\
             [policy]\nplugin = \"{}\"\n[[sink]]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo hook broke >&2; exit 3\"]\n\
             [[sink]]\nkind = \"file\"\npath = \"out.json\"\n",
            ELASTIC_GRID
        ),
    )
    .unwrap();
    let mut watch = start(&["--config", config.to_str().unwrap()]);
    eventually(WAIT, "the file sink despite the hook", || {
        read_json(&output)
    });
    write_replacing(&fleet, &grown_seed_fleet());
    eventually(WAIT, "the second change", || {
        read_json(&output).filter(|document| targets(document).len() == 2)
    });
    let log = watch.stderr();
    assert_eq!(log.matches("Sink failed").count(), 2, "{log}");
    assert!(
        log.contains("exited with exit status: 3: hook broke"),
        "{log}"
    );
    let hook = "exec sh -c echo hook broke >&2; exit 3";
    assert_eq!(
        watch.metric(&format!("rollcall_sink_failures_total{{sink=\"{hook}\"}}")),
        Some(2.0)
    );
    let (status, health) = watch.get("/healthz");
    assert_eq!(status, 200, "a failing sink leaves the daemon healthy");
    assert!(
        health["sink_errors"][hook]
            .as_str()
            .is_some_and(|error| error.contains("hook broke")),
        "{health}"
    );
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

#[test]
fn the_bundled_example_config_runs() {
    Path::new(ELASTIC_GRID);
    let config = workspace().join("examples/rollcall.toml");
    let mut watch = start(&["--config", config.to_str().unwrap(), "--refresh", "200ms"]);
    let document = eventually(WAIT, "the example's answer", || watch.membership());
    assert_eq!(document["self"]["instance_id"], AGENT);
    assert_eq!(targets(&document), [MONITOR]);
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_fleet_is_followed_and_an_outage_keeps_the_last_answer() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.endpoint);
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new("us-west-2"))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_ec2::config::Credentials::for_tests())
        .build();
    let ec2 = aws_sdk_ec2::Client::from_conf(config);
    let group = |name: &'static str| {
        let ec2 = ec2.clone();
        async move {
            ec2.create_security_group()
                .group_name(name)
                .description(name)
                .send()
                .await
                .unwrap()
                .group_id
                .unwrap()
        }
    };
    let (monitor_group, agent_group) = (group("eg-monitor").await, group("eg-cybernode").await);
    let launch = |group: String| {
        let ec2 = ec2.clone();
        async move {
            ec2.run_instances()
                .image_id("ami-12c6146b")
                .min_count(1)
                .max_count(1)
                .security_group_ids(group)
                .send()
                .await
                .unwrap()
                .instances
                .unwrap()
                .remove(0)
                .instance_id
                .unwrap()
        }
    };
    let monitor = launch(monitor_group.clone()).await;
    let agent = launch(agent_group).await;

    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("membership.json");
    let mut watch = Daemon::launch([
        "--endpoint-url",
        &proxy.endpoint,
        "--region",
        "us-west-2",
        "--plugin",
        ELASTIC_GRID,
        "--self",
        &agent,
        "--refresh",
        "300ms",
        "--output",
        output.to_str().unwrap(),
        "--max-attempts",
        "1",
        "--attempt-timeout",
        "1s",
    ])
    .envs(&[
        DEBUG_LOG,
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ])
    .start();
    let first = eventually(WAIT, "the first answer", || read_json(&output));
    assert_eq!(targets(&first), std::slice::from_ref(&monitor));

    // A second monitor joins; then the first one is terminated.
    let second = launch(monitor_group).await;
    eventually(WAIT, "the joined monitor", || {
        read_json(&output).filter(|document| targets(document).len() == 2)
    });
    ec2.terminate_instances()
        .instance_ids(&monitor)
        .send()
        .await
        .unwrap();
    let after = eventually(WAIT, "the terminated monitor to leave", || {
        read_json(&output).filter(|document| targets(document) == [second.clone()])
    });
    assert!(!kit::ids(&after, "members").contains(&monitor));

    // The endpoint goes away: the answer stays, marked stale, then unhealthy
    // once older than stale_after (3 x 300ms).
    proxy.set_up(false);
    let stale = eventually(WAIT, "the stale mark", || {
        let document = watch.membership()?;
        (document["inventory"]["stale"] == true).then_some(document)
    });
    assert_eq!(
        targets(&stale),
        std::slice::from_ref(&second),
        "the last good answer is kept"
    );
    assert!(stale["inventory"]["error"].is_string(), "{stale}");
    let unhealthy = eventually(WAIT, "/healthz 503", || {
        let (status, health) = watch.get("/healthz");
        (status == 503).then_some(health)
    });
    assert!(
        unhealthy["reason"].as_str().unwrap().contains("old"),
        "{unhealthy}"
    );
    assert_eq!(
        targets(&read_json(&output).unwrap()),
        std::slice::from_ref(&second),
        "no left event from an outage"
    );
    let (_, metrics) = watch.get("/metrics");
    assert!(
        metrics.as_str().unwrap().contains("rollcall_stale 1"),
        "{metrics}"
    );

    // It comes back: fresh again.
    proxy.set_up(true);
    eventually(WAIT, "fresh again", || {
        let (status, _) = watch.get("/healthz");
        (status == 200 && watch.membership()?["inventory"]["stale"] == false).then_some(())
    });
    let (_, events) = watch.get("/v1/events");
    let left: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["kind"] == "left")
        .collect();
    assert_eq!(left.len(), 1, "only the terminated monitor left: {events}");
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

#[test]
fn a_file_sink_writes_the_cluster_peers_as_nft_and_follows_the_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    let clustered = std::fs::read_to_string(kit::fixture("clustered-fleet.json")).unwrap();
    std::fs::write(&fleet, &clustered).unwrap();
    std::fs::copy(ELASTIC_GRID, dir.path().join("policy.wasm")).unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        "refresh = \"200ms\"\nself = \"i-0a9b1ue0000000001\"\n\n\
         [source]\nkind = \"file\"\npath = \"fleet.json\"\n\n\
         [policy]\nplugin = \"policy.wasm\"\nsettings = { cluster_group_prefix = \"cluster-\" }\n\n\
         [[sink]]\nkind = \"file\"\npath = \"peers.nft\"\nformat = \"nft\"\n",
    )
    .unwrap();
    let mut watch = start(&["--config", config.to_str().unwrap()]);
    let output = dir.path().join("peers.nft");
    let read = || std::fs::read_to_string(&output).ok();

    let first = eventually(WAIT, "the nft file", read);
    assert!(
        first.contains("\t10.0.1.21, # i-0a9b1ue0000000002\n"),
        "{first}"
    );
    kit::nft::check(&output);

    // A blue peer moves: the set follows, and the file is still one nft takes.
    write_replacing(&fleet, &clustered.replace("10.0.1.21", "10.0.1.99"));
    let moved = eventually(WAIT, "the moved peer", || {
        read().filter(|text| text.contains("\t10.0.1.99, # i-0a9b1ue0000000002\n"))
    });
    assert!(!moved.contains("10.0.1.21"), "{moved}");
    let listed = kit::nft::apply_twice(&output);
    assert!(
        listed.contains("10.0.1.99") && !listed.contains("10.0.1.21"),
        "{listed}"
    );
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

/// A daemon on a copy of the seed fleet in `dir` with elastic-grid (as
/// `policy.wasm`), self the agent, a 200 ms refresh, and `extra` appended to
/// its configuration.
fn start_on_seed_fleet(dir: &Path, extra: &str) -> (Daemon, PathBuf, PathBuf) {
    let fleet = dir.join("fleet.json");
    std::fs::copy(seed_fleet(), &fleet).unwrap();
    std::fs::copy(ELASTIC_GRID, dir.join("policy.wasm")).unwrap();
    let config = dir.join("rollcall.toml");
    std::fs::write(&config, seed_config(AGENT, extra)).unwrap();
    let watch = start(&["--config", config.to_str().unwrap()]);
    (watch, fleet, config)
}

fn seed_config(own: &str, extra: &str) -> String {
    format!(
        "refresh = \"200ms\"\nstale_after = \"1m\"\nself = \"{own}\"\n\n[source]\nkind = \"file\"\npath = \"fleet.json\"\n\n\
         [policy]\nplugin = \"policy.wasm\"\nsettings = {{ address = \"private-ip\" }}\n{extra}"
    )
}

fn event_kinds(watch: &Daemon) -> Vec<String> {
    let (_, events) = watch.get("/v1/events?since=0");
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_api_explains_any_instance_of_the_current_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let (mut watch, _, _) = start_on_seed_fleet(dir.path(), "");
    let (status, _) = watch.get(&format!("/v1/explain/{AGENT}"));
    assert!(
        status == 503 || status == 200,
        "503 before the first answer, then 200"
    );
    eventually(WAIT, "the first answer", || watch.membership());
    let (status, own) = watch.get(&format!("/v1/explain/{AGENT}"));
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["member"]["role"], "agent", "{own}");
    assert_eq!(own["targets"][0]["instance_id"], MONITOR, "{own}");
    assert_eq!(own["targets"][0]["taken"], true, "{own}");
    let (status, monitor) = watch.get(&format!("/v1/explain/{MONITOR}"));
    assert_eq!(status, 200, "{monitor}");
    assert_eq!(monitor["self_registers_with_it"], true, "{monitor}");
    assert!(
        monitor["reasons"][0]
            .as_str()
            .is_some_and(|reason| reason.starts_with("role monitor: in the monitor group")),
        "{monitor}"
    );
    let (status, unknown) = watch.get("/v1/explain/i-nowhere");
    assert_eq!(status, 404, "{unknown}");
    assert!(
        unknown["error"]
            .as_str()
            .is_some_and(|error| error.contains("i-nowhere is not in the inventory")),
        "{unknown}"
    );
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

#[test]
fn a_reload_that_fails_changes_nothing_not_even_self() {
    let dir = tempfile::tempdir().unwrap();
    let (mut watch, _, config) = start_on_seed_fleet(dir.path(), "");
    eventually(WAIT, "the first answer", || watch.membership());
    write_replacing(&config, &seed_config("i-typo", ""));
    eventually(WAIT, "the rolled-back reload", || {
        (watch.metric("rollcall_reloads_total{outcome=\"rolled_back\"}")? >= 1.0).then_some(())
    });
    // Refreshes after the failed reload still decide as the agent.
    let ok_before = watch
        .metric("rollcall_refreshes_total{outcome=\"ok\"}")
        .unwrap();
    eventually(WAIT, "three more good refreshes", || {
        (watch.metric("rollcall_refreshes_total{outcome=\"ok\"}")? >= ok_before + 3.0).then_some(())
    });
    let (status, health) = watch.get("/healthz");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["refresh_error"], Value::Null, "{health}");
    assert!(
        health["reload_error"]
            .as_str()
            .is_some_and(|error| error.contains("i-typo")),
        "{health}"
    );
    assert_eq!(watch.membership().unwrap()["self"]["instance_id"], AGENT);
    assert_eq!(
        watch.metric("rollcall_refreshes_total{outcome=\"failed\"}"),
        Some(0.0)
    );
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

#[test]
fn a_policy_reload_during_an_outage_keeps_the_answer_stale() {
    let dir = tempfile::tempdir().unwrap();
    let sink = "\n[[sink]]\nkind = \"file\"\npath = \"membership.json\"\n";
    let (mut watch, fleet, config) = start_on_seed_fleet(dir.path(), sink);
    let output = dir.path().join("membership.json");
    let first = eventually(WAIT, "the first answer", || read_json(&output));
    write_replacing(&fleet, "{ this is no fleet");
    eventually(WAIT, "the stale mark", || {
        (watch.membership()?["inventory"]["stale"] == true).then_some(())
    });
    // A new policy (other settings): decided on the fleet the daemon has,
    // and published as stale as that fleet is. Failed refreshes publish
    // nothing, so the file sink shows what the reload published.
    write_replacing(
        &config,
        &seed_config(AGENT, sink).replace("private-ip", "private-dns"),
    );
    let published = eventually(WAIT, "the new policy's answer", || {
        read_json(&output).filter(|document| document["members"] != first["members"])
    });
    assert_eq!(published["inventory"]["stale"], true, "{published}");
    assert!(published["inventory"]["error"].is_string(), "{published}");
    assert_eq!(
        published["inventory"]["fetched_at"], first["inventory"]["fetched_at"],
        "the fleet is the one fetched before the outage"
    );
    let (_, health) = watch.get("/healthz");
    assert!(health["refresh_error"].is_string(), "{health}");
    assert_eq!(watch.metric("rollcall_stale"), Some(1.0));
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

#[test]
fn every_change_to_the_document_reaches_the_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let (mut watch, fleet, _) = start_on_seed_fleet(
        dir.path(),
        "\n[[sink]]\nkind = \"file\"\npath = \"membership.json\"\n",
    );
    let output = dir.path().join("membership.json");
    let address_of_self = |document: &Value| {
        document["members"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|member| member["instance_id"] == AGENT)
            .map(|member| member["address"].clone())
    };
    eventually(WAIT, "the first answer", || {
        read_json(&output)
            .filter(|document| address_of_self(document) == Some(Value::from("10.251.199.131")))
    });
    // Self moves: not a join, leave, role or target change, yet the
    // document differs.
    let moved = std::fs::read_to_string(seed_fleet())
        .unwrap()
        .replace("10.251.199.131", "10.251.199.132");
    write_replacing(&fleet, &moved);
    eventually(WAIT, "the new address in the file sink", || {
        read_json(&output)
            .filter(|document| address_of_self(document) == Some(Value::from("10.251.199.132")))
    });
    assert!(
        event_kinds(&watch).contains(&"members_changed".to_owned()),
        "{:?}",
        event_kinds(&watch)
    );
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

#[test]
fn sigterm_finishes_the_publication_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("hook.started");
    let finished = dir.path().join("hook.finished");
    let hook = format!(
        "\n[[sink]]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"touch {}; sleep 2; touch {}\"]\ntimeout = \"10s\"\n\
         \n[[sink]]\nkind = \"file\"\npath = \"membership.json\"\n",
        started.display(),
        finished.display()
    );
    let (mut watch, _, _) = start_on_seed_fleet(dir.path(), &hook);
    eventually(WAIT, "the hook to start", || started.exists().then_some(()));
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
    assert!(finished.exists(), "the hook was allowed to finish");
    assert!(
        read_json(&dir.path().join("membership.json")).is_some(),
        "the sink after the hook was written"
    );
}

#[test]
fn a_hook_that_hangs_delays_neither_refreshes_nor_the_sinks_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("release");
    let hook = format!(
        "\n[[sink]]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"while [ ! -e {} ]; do sleep 0.05; done\"]\ntimeout = \"1m\"\n\
         \n[[sink]]\nkind = \"file\"\npath = \"membership.json\"\n",
        release.display()
    );
    let (mut watch, fleet, _) = start_on_seed_fleet(dir.path(), &hook);
    let output = dir.path().join("membership.json");
    // The hook holds its first publication until released; the file sink
    // after it gets the first answer and then the next one meanwhile.
    let first = eventually(WAIT, "the first answer in the file sink", || {
        read_json(&output)
    });
    let moved = std::fs::read_to_string(seed_fleet())
        .unwrap()
        .replace("10.251.199.131", "10.251.199.132");
    write_replacing(&fleet, &moved);
    eventually(WAIT, "the next answer in the file sink", || {
        read_json(&output).filter(|document| document["members"] != first["members"])
    });
    let (status, health) = watch.get("/healthz");
    assert_eq!(status, 200, "{health}");
    std::fs::write(&release, "").unwrap();
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

/// A describe-instances document of `count` running instances named
/// `i-{prefix}{n}`.
fn fleet_of(prefix: &str, count: usize) -> String {
    let instances: Vec<Value> = (0..count)
        .map(|n| {
            serde_json::json!({
                "InstanceId": format!("i-{prefix}{n:05}"),
                "State": {"Name": "running"},
                "PrivateIpAddress": format!("10.0.{}.{}", n / 250, n % 250 + 1),
            })
        })
        .collect();
    serde_json::json!({"Reservations": [{"Instances": instances}]}).to_string()
}

#[test]
fn a_stdout_nobody_reads_never_stalls_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    std::fs::write(&fleet, fleet_of("a", 1000)).unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "refresh = \"200ms\"\nself = \"none\"\n[source]\nkind = \"file\"\npath = \"fleet.json\"\n\
             [policy]\nplugin = \"{}\"\n[[sink]]\nkind = \"stdout\"\n",
            MISBEHAVING
        ),
    )
    .unwrap();
    // Stdout is a pipe this test holds and never reads: a few changes of a
    // thousand members each (one JSON line of about 20 KB per kind) fill it.
    let mut watch = Daemon::launch(["--config", config.to_str().unwrap()])
        .unread_stdout()
        .start();
    for round in 0..8 {
        let prefix = format!("r{round}x");
        write_replacing(&fleet, &fleet_of(&prefix, 1000));
        eventually(WAIT, &format!("round {round} served"), || {
            let document = watch.membership()?;
            let first = document["members"][0]["instance_id"].as_str()?.to_owned();
            first.starts_with(&format!("i-{prefix}")).then_some(())
        });
    }
    assert_eq!(watch.get("/healthz").0, 200);
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

/// [`seed_config`] with the monitor and agent groups swapped in the
/// policy's settings: both members change role, and self (the agent) turns
/// monitor and registers with nobody.
fn flipped_config(extra: &str) -> String {
    seed_config(AGENT, extra).replace(
        "settings = { address = \"private-ip\" }",
        "settings = { address = \"private-ip\", monitor_group = \"eg-cybernode\", agent_group = \"eg-monitor\" }",
    )
}

/// The reload error in `/healthz`, once it contains `fragment`.
fn reload_error_with(watch: &Daemon, fragment: &str) -> String {
    eventually(WAIT, &format!("a reload error with {fragment:?}"), || {
        let (_, health) = watch.get("/healthz");
        let error = health["reload_error"].as_str()?;
        error.contains(fragment).then(|| error.to_owned())
    })
}

fn reloads(watch: &Daemon, outcome: &str) -> Option<f64> {
    watch.metric(&format!("rollcall_reloads_total{{outcome=\"{outcome}\"}}"))
}

#[test]
fn a_policy_change_that_flips_every_role_is_refused_until_its_change_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut watch, _, config) = start_on_seed_fleet(dir.path(), "");
    let first = eventually(WAIT, "the first answer", || watch.membership());
    assert_eq!(kit::role_of(&first, AGENT).as_deref(), Some("agent"));

    // The flip, with an accept_change that names another change: refused.
    write_replacing(
        &config,
        &flipped_config("accept_change = \"0123456789abcdef\"\n"),
    );
    let error = reload_error_with(&watch, "change guard");
    for fragment in [
        "2 of 2 members would leave or change role, more than max_change 50%",
        &format!("{AGENT} would register with nobody (it registers with 1 now)"),
        "0 joined, 0 left, 2 changed; registration targets changed for 1 self",
    ] {
        assert!(error.contains(fragment), "{fragment:?} in {error}");
    }
    let change = error
        .split("accept_change = \"")
        .nth(1)
        .and_then(|rest| rest.get(..16))
        .unwrap_or_else(|| panic!("no change id in {error}"))
        .to_owned();
    assert!(
        change.bytes().all(|byte| byte.is_ascii_hexdigit()),
        "{change}"
    );
    assert_ne!(change, "0123456789abcdef");
    assert!(reloads(&watch, "refused").is_some_and(|count| count >= 1.0));
    assert_eq!(reloads(&watch, "ok"), Some(0.0));
    let log = watch.stderr();
    assert!(
        log.contains("Reload refused by the change guard") && log.contains(&change),
        "{log}"
    );

    // The old policy keeps serving, refresh after refresh.
    let ok_before = watch
        .metric("rollcall_refreshes_total{outcome=\"ok\"}")
        .unwrap();
    eventually(WAIT, "two more refreshes", || {
        (watch.metric("rollcall_refreshes_total{outcome=\"ok\"}")? >= ok_before + 2.0).then_some(())
    });
    let served = watch.membership().unwrap();
    assert_eq!(kit::role_of(&served, AGENT).as_deref(), Some("agent"));
    assert_eq!(targets(&served), [MONITOR]);
    assert_eq!(served["policy"], first["policy"]);
    let (status, _) = watch.get("/healthz");
    assert_eq!(status, 200, "a refused reload leaves the daemon healthy");

    // accept_change names this change: the edit's own reload is judged by
    // the guard before it and refused again; the next one lets it through.
    let refused = reloads(&watch, "refused").unwrap();
    write_replacing(
        &config,
        &flipped_config(&format!("accept_change = \"{change}\"\n")),
    );
    eventually(WAIT, "the edit's reload refused", || {
        (reloads(&watch, "refused")? > refused).then_some(())
    });
    assert_eq!(reloads(&watch, "ok"), Some(0.0));
    hang_up(&watch);
    let flipped = eventually(WAIT, "the accepted flip", || {
        let document = watch.membership()?;
        (kit::role_of(&document, AGENT).as_deref() == Some("monitor")).then_some(document)
    });
    assert_eq!(kit::role_of(&flipped, MONITOR).as_deref(), Some("agent"));
    assert!(targets(&flipped).is_empty(), "{flipped}");
    let (_, health) = watch.get("/healthz");
    assert_eq!(health["reload_error"], Value::Null, "{health}");
    assert!(reloads(&watch, "ok").is_some_and(|count| count >= 1.0));
    assert!(
        watch.stderr().contains("accept_change names it"),
        "{}",
        watch.stderr()
    );
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

#[test]
fn a_flip_with_a_new_source_is_judged_on_the_new_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let (mut watch, _, config) = start_on_seed_fleet(dir.path(), "");
    let first = eventually(WAIT, "the first answer", || watch.membership());
    // The new fleet has a second monitor: both policies are asked about it.
    write_replacing(&dir.path().join("grown.json"), &grown_seed_fleet());
    write_replacing(
        &config,
        &flipped_config("").replace("path = \"fleet.json\"", "path = \"grown.json\""),
    );
    let error = reload_error_with(&watch, "change guard");
    for fragment in [
        "3 of 3 members would leave or change role",
        "would register with nobody (it registers with 2 now)",
        "0 joined, 0 left, 3 changed",
    ] {
        assert!(error.contains(fragment), "{fragment:?} in {error}");
    }
    let served = watch.membership().unwrap();
    assert_eq!(
        served["members"], first["members"],
        "the old fleet and policy"
    );
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

/// Asks `watch` to reload, as `systemctl reload` does.
fn hang_up(watch: &Daemon) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &watch.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn max_change_off_in_the_edit_that_flips_every_role_is_judged_by_the_guard_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut watch, _, config) = start_on_seed_fleet(dir.path(), "");
    eventually(WAIT, "the first answer", || watch.membership());
    write_replacing(&config, &flipped_config("max_change = \"off\"\n"));
    let error = reload_error_with(&watch, "change guard");
    assert!(
        error.contains("2 of 2 members would leave or change role, more than max_change 50%"),
        "{error}"
    );
    let served = watch.membership().unwrap();
    assert_eq!(kit::role_of(&served, AGENT).as_deref(), Some("agent"));
    // The next reload is judged by max_change = "off".
    hang_up(&watch);
    eventually(WAIT, "the flip", || {
        let document = watch.membership()?;
        (kit::role_of(&document, AGENT).as_deref() == Some("monitor")).then_some(())
    });
    let (_, health) = watch.get("/healthz");
    assert_eq!(health["reload_error"], Value::Null, "{health}");
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

/// Ten running instances, all tagged `ten = agent`, the first six also
/// `six = agent`, the first three also `three = agent`.
fn stepped_fleet() -> String {
    let instances: Vec<Value> = (0..10)
        .map(|n| {
            let tags: Vec<Value> = [("ten", 10), ("six", 6), ("three", 3)]
                .into_iter()
                .filter(|(_, count)| n < *count)
                .map(|(key, _)| serde_json::json!({"Key": key, "Value": "agent"}))
                .collect();
            serde_json::json!({
                "InstanceId": format!("i-step{n:02}"),
                "State": {"Name": "running"},
                "PrivateIpAddress": format!("10.0.0.{}", n + 1),
                "Tags": tags,
            })
        })
        .collect();
    serde_json::json!({"Reservations": [{"Instances": instances}]}).to_string()
}

/// The tag-roles policy on [`stepped_fleet`], its roles from `role_tag`.
fn stepped_config(role_tag: &str) -> String {
    format!(
        "refresh = \"200ms\"\nself = \"none\"\n[source]\nkind = \"file\"\npath = \"fleet.json\"\n\
         [policy]\nplugin = \"{}\"\nsettings = {{ role_tag = \"{role_tag}\" }}\n",
        TAG_ROLES
    )
}

fn member_count(watch: &Daemon) -> Option<usize> {
    Some(watch.membership()?["members"].as_array()?.len())
}

#[test]
fn drops_in_steps_each_within_max_change_are_refused_once_they_add_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.json"), stepped_fleet()).unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(&config, stepped_config("ten")).unwrap();
    let mut watch = start(&["--config", config.to_str().unwrap()]);
    eventually(WAIT, "10 members", || {
        (member_count(&watch)? == 10).then_some(())
    });
    // 4 of 10 go: within 50%.
    write_replacing(&config, &stepped_config("six"));
    eventually(WAIT, "6 members", || {
        (member_count(&watch)? == 6).then_some(())
    });
    // 3 of the 6 in service go (50%), but 7 of the 10 served within the
    // hour: refused.
    write_replacing(&config, &stepped_config("three"));
    let error = reload_error_with(&watch, "change guard");
    assert!(
        error.contains(
            "7 of the 10 members of the largest answer served in the last 1h would leave or \
             change role, more than max_change 50%"
        ),
        "{error}"
    );
    assert_eq!(member_count(&watch), Some(6));
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

#[test]
fn max_change_off_lets_the_same_flip_through() {
    let dir = tempfile::tempdir().unwrap();
    let off = "max_change = \"off\"\n";
    let (mut watch, _, config) = start_on_seed_fleet(dir.path(), off);
    eventually(WAIT, "the first answer", || watch.membership());
    write_replacing(&config, &flipped_config(off));
    eventually(WAIT, "the flip", || {
        let document = watch.membership()?;
        (kit::role_of(&document, AGENT).as_deref() == Some("monitor")).then_some(())
    });
    let (_, health) = watch.get("/healthz");
    assert_eq!(health["reload_error"], Value::Null, "{health}");
    assert_eq!(reloads(&watch, "refused"), Some(0.0));
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

#[test]
fn a_harmless_policy_change_passes_the_guard() {
    let dir = tempfile::tempdir().unwrap();
    let guard = "max_change = \"50%\"\n";
    let (mut watch, _, config) = start_on_seed_fleet(dir.path(), guard);
    eventually(WAIT, "the first answer", || watch.membership());
    // A new port for the monitors: an address change, nobody dropped.
    write_replacing(
        &config,
        &seed_config(AGENT, guard).replace(
            "settings = { address = \"private-ip\" }",
            "settings = { address = \"private-ip\", monitor_port = 7070 }",
        ),
    );
    let moved = eventually(WAIT, "the new port", || {
        watch
            .membership()
            .filter(|document| document["register_with"][0]["port"] == 7070)
    });
    assert_eq!(targets(&moved), [MONITOR]);
    let (_, health) = watch.get("/healthz");
    assert_eq!(health["reload_error"], Value::Null, "{health}");
    assert_eq!(reloads(&watch, "refused"), Some(0.0));
    assert!(reloads(&watch, "ok").is_some_and(|count| count >= 1.0));
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}

#[test]
fn an_escape_in_one_role_tag_drops_that_member_counted_and_the_answer_stays_fresh() {
    let fleet = kit::fixture("odd-names-fleet.json");
    let watch = start(&[
        "--inventory",
        fleet.to_str().unwrap(),
        "--plugin",
        TAG_ROLES,
        "--self",
        "i-0000000000000a001",
        "--refresh",
        "200ms",
    ]);
    let document = eventually(WAIT, "the answer", || watch.membership());
    assert_eq!(
        kit::ids(&document, "members"),
        [
            "i-0000000000000a001",
            "i-0000000000000a002",
            "i-0000000000000m001",
            "i-0000000000000m002"
        ],
        "all but the escaped monitor"
    );
    assert_eq!(document["inventory"]["stale"], false);
    eventually(WAIT, "two refreshes' drops counted", || {
        (watch.metric("rollcall_members_dropped_total ")? >= 2.0).then_some(())
    });
    let (status, health) = watch.get("/healthz");
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ok")),
        "{health}"
    );
    assert!(
        watch
            .stderr()
            .contains(r#"i-0000000000000m003: its role "monitor\u{1b}[2J""#),
        "{}",
        watch.stderr()
    );
}

/// The seed fleet with the monitor's reservation changed by `change`, or
/// without it when `change` returns false.
fn seed_fleet_with_monitor(change: impl Fn(&mut Value) -> bool) -> String {
    let mut document: Value =
        serde_json::from_str(&std::fs::read_to_string(seed_fleet()).unwrap()).unwrap();
    document["Reservations"]
        .as_array_mut()
        .unwrap()
        .retain_mut(|reservation| {
            let instance = &mut reservation["Instances"][0];
            instance["InstanceId"] != MONITOR || change(instance)
        });
    document.to_string()
}

fn member<'d>(document: &'d Value, id: &str) -> Option<&'d Value> {
    document["members"]
        .as_array()?
        .iter()
        .find(|member| member["instance_id"] == id)
}

#[test]
fn a_one_listing_dropout_is_no_change_and_a_terminated_monitor_leaves_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let hook_log = dir.path().join("hook.log");
    let fleet = dir.path().join("fleet.json");
    std::fs::copy(seed_fleet(), &fleet).unwrap();
    std::fs::copy(ELASTIC_GRID, dir.path().join("policy.wasm")).unwrap();
    let config = dir.path().join("rollcall.toml");
    let hook = format!(
        "\n[[sink]]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo \\\"$ROLLCALL_CHANGES\\\" >> {}\"]\ntimeout = \"5s\"\n",
        hook_log.display()
    );
    // Refreshes only when the fleet file changes: one listing per write.
    let hourly = seed_config(AGENT, &hook).replace("refresh = \"200ms\"", "refresh = \"1h\"");
    std::fs::write(&config, hourly).unwrap();
    let mut watch = start(&["--config", config.to_str().unwrap()]);
    let hook_runs = || {
        std::fs::read_to_string(&hook_log)
            .map(|log| log.lines().map(str::to_owned).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    eventually(WAIT, "the first answer's hook run", || {
        (hook_runs().len() == 1).then_some(())
    });

    // The monitor drops out of one listing: kept, marked unconfirmed.
    write_replacing(&fleet, &seed_fleet_with_monitor(|_| false));
    let missing = eventually(WAIT, "the monitor unconfirmed", || {
        let document = watch.membership()?;
        (member(&document, MONITOR)?["unconfirmed"] == true).then_some(document)
    });
    assert_eq!(targets(&missing), [MONITOR], "still a target");
    // ... and comes back in the next.
    write_replacing(&fleet, &seed_fleet_with_monitor(|_| true));
    eventually(WAIT, "the monitor confirmed", || {
        let document = watch.membership()?;
        member(&document, MONITOR)?
            .get("unconfirmed")
            .is_none()
            .then_some(())
    });
    assert!(
        !event_kinds(&watch).contains(&"left".to_owned()),
        "{:?}",
        event_kinds(&watch)
    );
    assert_eq!(hook_runs().len(), 1, "no hook run: {:?}", hook_runs());

    // Terminated: gone at the first listing that says so.
    write_replacing(
        &fleet,
        &seed_fleet_with_monitor(|monitor| {
            monitor["State"]["Name"] = "terminated".into();
            true
        }),
    );
    let after = eventually(WAIT, "the monitor gone", || {
        let document = watch.membership()?;
        member(&document, MONITOR).is_none().then_some(document)
    });
    assert!(targets(&after).is_empty());
    assert_eq!(
        event_kinds(&watch)
            .iter()
            .filter(|kind| *kind == "left")
            .count(),
        1
    );
    eventually(WAIT, "the hook told of the leave", || {
        hook_runs()
            .get(1)
            .filter(|changes| changes.contains("left"))
            .cloned()
    });
    assert_eq!(watch.terminate_within(WAIT).0, Some(0));
}
