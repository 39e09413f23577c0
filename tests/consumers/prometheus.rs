//! Prometheus: `prometheus-file-sd` passes `promtool check config` through
//! a config whose `file_sd_configs` read it, and a Prometheus started on it
//! discovers every member with its labels as rollcall wrote them; a
//! Prometheus whose `http_sd_configs` ask a daemon's `/v1/prometheus-sd`
//! discovers the fleet, and a member that joins it.

use super::harness::{
    Consumer, INSTANCE_TYPE, Instance, ZONE, check, free_port, program, resolve, write, write_fleet,
};
use super::hostile::{AGENT_PORT, MONITOR_PORT, Member, SELF, cases, members};
use kit::daemon::Daemon;
use kit::plugins::ELASTIC_GRID;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How long Prometheus may take to start and discover (its discovery
/// manager passes on changes every 5 s).
const DISCOVERY_LIMIT: Duration = Duration::from_secs(60);

/// A Prometheus on a free loopback port, its data in `dir`; killed when
/// dropped. Scrapes once an hour: the members' ports refuse on loopback.
struct Prometheus {
    server: Consumer,
    address: String,
}

impl Prometheus {
    /// Checks `scrape_configs` (YAML, indented under the key) with
    /// `promtool check config`, then starts Prometheus on it.
    fn start(dir: &Path, scrape_configs: &str) -> Prometheus {
        let config = write(
            dir,
            "prometheus.yml",
            &format!("global:\n  scrape_interval: 1h\nscrape_configs:\n{scrape_configs}"),
        );
        let mut checking = Command::new(program("promtool", "prometheus"));
        checking.args(["check", "config"]).arg(&config);
        check(
            &format!("promtool check config on\n{scrape_configs}"),
            checking,
        );

        let address = format!("127.0.0.1:{}", free_port());
        let mut command = Command::new(program("prometheus", "prometheus"));
        command
            .arg("--config.file")
            .arg(&config)
            .arg("--storage.tsdb.path")
            .arg(dir.join("data"))
            .arg("--web.listen-address")
            .arg(&address);
        let server = Consumer::start("prometheus", command, &dir.join("prometheus.log"));
        Prometheus { server, address }
    }

    /// Waits until the targets of job `job` whose id, role and address are
    /// plain are `expected` (each shown on stderr as it changes); all its
    /// targets.
    fn discovers(&mut self, job: &str, what: &str, expected: &[Member]) -> Vec<Member> {
        let address = self.address.clone();
        let mut last = None;
        self.server.eventually(DISCOVERY_LIMIT, what, || {
            let targets = targets(&address, job);
            if targets != last {
                eprintln!("Prometheus's targets of {job}: {targets:#?}");
                last.clone_from(&targets);
            }
            let targets = targets?;
            let plain: Vec<&Member> = targets.iter().filter(|target| target.is_clean()).collect();
            (plain == expected.iter().collect::<Vec<_>>()).then_some(targets)
        })
    }
}

/// The active targets of job `job` of the Prometheus at `address`, once it
/// has discovered at least one there, as members: instance id, role and
/// the address and port of `__address__`, sorted.
fn targets(address: &str, job: &str) -> Option<Vec<Member>> {
    let labelled = labelled_targets(address, job)?;
    Some(labelled.into_iter().map(|(member, _)| member).collect())
}

/// Like [`targets`], each with every label Prometheus discovered.
fn labelled_targets(address: &str, job: &str) -> Option<Vec<(Member, Value)>> {
    let (status, body) = kit::http::get(address, "/api/v1/targets?state=active")?;
    let answer: Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
    let mut targets: Vec<(Member, Value)> = answer["data"]["activeTargets"]
        .as_array()?
        .iter()
        .filter(|target| target["scrapePool"] == job)
        .map(|target| {
            let labels = &target["discoveredLabels"];
            let label = |name: &str| labels[name].as_str().unwrap_or_default().to_owned();
            let member = Member::at(
                &label("__meta_rollcall_instance_id"),
                &label("__meta_rollcall_role"),
                &label("__address__"),
            );
            (member, labels.clone())
        })
        .collect();
    targets.sort_by(|(a, _), (b, _)| a.cmp(b));
    (!targets.is_empty()).then_some(targets)
}

#[test]
fn prometheus_discovers_every_member_through_prometheus_file_sd() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases(dir.path());
    let mut scrape_configs = String::new();
    let mut expected = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let (output, members) = case.resolve("prometheus-file-sd");
        assert!(output.ends_with('\n'), "{output:?}");
        let file = write(dir.path(), &format!("targets-{index}.json"), &output);
        scrape_configs += &format!(
            "  - job_name: case-{index}\n    file_sd_configs:\n      - files: [{}]\n        refresh_interval: 1s\n",
            file.display()
        );
        expected.push((case.name, output, members));
    }
    let mut prometheus = Prometheus::start(dir.path(), &scrape_configs);
    for (index, (case, output, members)) in expected.iter().enumerate() {
        // Every clean member is a target; whatever else Prometheus reads is
        // a member exactly as rollcall has it (JSON escapes, or a member is
        // left out).
        let wanted: Vec<Member> = members
            .iter()
            .filter(|member| member.is_clean())
            .cloned()
            .collect();
        let found = prometheus.discovers(
            &format!("case-{index}"),
            &format!("case {case} from\n{output}"),
            &wanted,
        );
        for target in &found {
            assert!(
                members.contains(target),
                "case {case}: Prometheus read {target:?}, no member, from\n{output}"
            );
        }
        // Each member's clusters, as `,a,b,` (a regex can match `,a,`).
        let document: Value = serde_json::from_str(&cases[index].resolve_json()).unwrap();
        let job = format!("case-{index}");
        let labelled = labelled_targets(&prometheus.address, &job).unwrap_or_default();
        for (target, labels) in labelled {
            let clusters = labels["__meta_rollcall_clusters"]
                .as_str()
                .unwrap_or_default();
            let member = kit::member(&document, &target.id);
            let names: Vec<&str> = member["clusters"]
                .as_array()
                .expect("clusters")
                .iter()
                .map(|name| name.as_str().expect("a cluster name"))
                .collect();
            // A member in no cluster has none (Prometheus drops an empty label).
            let written = match names.is_empty() {
                true => String::new(),
                false => format!(",{},", names.join(",")),
            };
            assert_eq!(clusters, written, "case {case}: {target:?}");
        }
    }
}

#[test]
fn prometheus_discovers_the_fleet_and_a_joining_member_through_the_daemons_http_sd() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    let mut instances = vec![
        Instance::monitor(SELF, "127.0.0.41"),
        Instance::monitor("i-0000000000000c002", "127.0.0.42"),
        Instance::agent("i-0000000000000c003", "127.0.0.43"),
    ];
    write_fleet(&fleet, &instances);
    let settings = format!(r#"{{"monitor_port": {MONITOR_PORT}, "agent_port": {AGENT_PORT}}}"#);
    let daemon = Daemon::start([
        "--inventory",
        &fleet.to_string_lossy(),
        "--plugin",
        ELASTIC_GRID,
        "--plugin-config",
        &settings,
        "--self",
        SELF,
        "--refresh",
        "1s",
    ]);
    let document = kit::eventually(DISCOVERY_LIMIT, "the daemon's first answer", || {
        daemon.membership()
    });
    let mut expected = members(&document);
    expected.sort();
    assert_eq!(expected.len(), 3, "{document}");

    let mut prometheus = Prometheus::start(
        dir.path(),
        &format!(
            "  - job_name: rollcall\n    http_sd_configs:\n      \
             - url: http://{}/v1/prometheus-sd\n        refresh_interval: 1s\n",
            daemon.address()
        ),
    );
    prometheus.discovers("rollcall", "the fleet through http_sd", &expected);

    instances.push(Instance::agent("i-0000000000000c004", "127.0.0.44"));
    write_fleet(&fleet, &instances);
    expected.push(Member {
        id: "i-0000000000000c004".to_owned(),
        role: "agent".to_owned(),
        address: "127.0.0.44".to_owned(),
        port: Some(AGENT_PORT),
    });
    prometheus.discovers("rollcall", "the member that joined", &expected);
}

/// Values of the `team` tag that would break a format without escapes.
const TEAMS: [(&str, &str); 4] = [
    ("i-0000000000000l001", "a\"b'c"),
    ("i-0000000000000l002", "{{ team }} {% raw %}"),
    ("i-0000000000000l003", "50% #1; {x}"),
    ("i-0000000000000l004", "équipe ü \\ /"),
];

#[test]
fn prometheus_reads_each_members_labels_as_rollcall_wrote_them() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    let instances: Vec<Instance> = TEAMS
        .iter()
        .enumerate()
        .map(|(index, &(id, team))| Instance {
            tags: vec![("team", team)],
            ..Instance::monitor(
                id,
                ["127.0.0.91", "127.0.0.92", "127.0.0.93", "127.0.0.94"][index],
            )
        })
        .collect();
    write_fleet(&fleet, &instances);
    let settings = format!(r#"{{"monitor_port": {MONITOR_PORT}, "labels_from_tags": ["team"]}}"#);
    let (self_id, _) = TEAMS[0];
    let output = resolve(
        &fleet,
        ELASTIC_GRID,
        &settings,
        self_id,
        "prometheus-file-sd",
    );
    let file = write(dir.path(), "targets.json", &output);
    let mut prometheus = Prometheus::start(
        dir.path(),
        &format!(
            "  - job_name: rollcall\n    file_sd_configs:\n      - files: [{}]\n        refresh_interval: 1s\n",
            file.display()
        ),
    );
    let address = prometheus.address.clone();
    let labelled = prometheus
        .server
        .eventually(DISCOVERY_LIMIT, "the labelled members", || {
            labelled_targets(&address, "rollcall").filter(|targets| targets.len() == TEAMS.len())
        });
    for (target, labels) in labelled {
        let (_, team) = TEAMS
            .iter()
            .find(|(id, _)| *id == target.id)
            .unwrap_or_else(|| panic!("{target:?} is no member: {output}"));
        let label = |name: &str| labels[format!("__meta_rollcall_label_{name}")].clone();
        assert_eq!(label("team"), *team, "{output}");
        assert_eq!(label("zone"), ZONE, "{output}");
        assert_eq!(label("instance_type"), INSTANCE_TYPE, "{output}");
    }
}
