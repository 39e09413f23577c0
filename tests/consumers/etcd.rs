//! etcd: three members started from rollcall's `etcd-initial-cluster`
//! output form one cluster; and what etcd reads in the output of a fleet
//! whose ids would break it is exactly the members it can name.

use super::harness::{
    CHECK_LIMIT, Consumer, Instance, check, eventually, program, resolve, write_fleet,
};
use super::hostile::cases;
use kit::plugins::ELASTIC_GRID;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

/// The monitors, each on a loopback address of its own (Linux answers on
/// all of 127.0.0.0/8), so each etcd listens on etcd's own ports.
const MONITORS: [(&str, &str); 3] = [
    ("i-0000000000000e011", "127.0.0.11"),
    ("i-0000000000000e012", "127.0.0.12"),
    ("i-0000000000000e013", "127.0.0.13"),
];
/// The peer port, given to the monitors by Elastic Grid's `monitor_port`.
const PEER_PORT: u16 = 2380;
/// The client port each member serves etcdctl on.
const CLIENT_PORT: u16 = 2379;
/// How long three fresh members may take to elect a leader and publish
/// their names.
const FORM_LIMIT: Duration = Duration::from_secs(60);

#[test]
fn three_members_started_from_etcd_initial_cluster_form_one_cluster() {
    let etcd = program("etcd", "etcd-server");
    let etcdctl = program("etcdctl", "etcd-client");
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    let instances: Vec<Instance> = MONITORS
        .iter()
        .map(|&(id, address)| Instance::monitor(id, address))
        .collect();
    write_fleet(&fleet, &instances);
    let settings = format!(r#"{{"monitor_port": {PEER_PORT}}}"#);

    let mut members: Vec<Consumer> = MONITORS
        .iter()
        .map(|&(id, address)| {
            let initial_cluster =
                resolve(&fleet, ELASTIC_GRID, &settings, id, "etcd-initial-cluster");
            let initial_cluster = initial_cluster
                .strip_suffix('\n')
                .unwrap_or_else(|| panic!("no newline at the end of {initial_cluster:?}"));
            let peer = format!("http://{address}:{PEER_PORT}");
            let client = format!("http://{address}:{CLIENT_PORT}");
            let mut command = Command::new(&etcd);
            command
                .args(["--name", id, "--initial-cluster", initial_cluster])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "rollcall-consumers-test"])
                .args([
                    "--initial-advertise-peer-urls",
                    &peer,
                    "--listen-peer-urls",
                    &peer,
                ])
                .args([
                    "--listen-client-urls",
                    &client,
                    "--advertise-client-urls",
                    &client,
                ])
                .arg("--data-dir")
                .arg(dir.path().join(id))
                // No metrics or health listener beyond the client URL.
                .env_clear();
            Consumer::start(
                &format!("etcd {id}"),
                command,
                &dir.path().join(format!("{id}.log")),
            )
        })
        .collect();

    let endpoints: Vec<String> = MONITORS
        .iter()
        .map(|(_, address)| format!("http://{address}:{CLIENT_PORT}"))
        .collect();
    let mut expected: Vec<(String, String)> = MONITORS
        .iter()
        .map(|&(id, address)| (id.to_owned(), format!("http://{address}:{PEER_PORT}")))
        .collect();
    expected.sort();
    let listed = eventually(
        &mut members,
        FORM_LIMIT,
        "etcdctl member list to name all three",
        || {
            let mut command = Command::new(&etcdctl);
            command
                .args(["--endpoints", &endpoints.join(","), "--dial-timeout", "2s"])
                .args([
                    "--command-timeout",
                    "3s",
                    "member",
                    "list",
                    "--write-out",
                    "json",
                ])
                .env_clear();
            let run = kit::run_within(CHECK_LIMIT, command);
            let listing: Value = serde_json::from_str(&run.stdout).ok()?;
            let mut named: Vec<(String, String)> = listing["members"]
                .as_array()?
                .iter()
                .filter_map(|member| {
                    let name = member["name"].as_str().filter(|name| !name.is_empty())?;
                    let peer = member["peerURLs"].get(0)?.as_str()?;
                    Some((name.to_owned(), peer.to_owned()))
                })
                .collect();
            named.sort();
            (named == expected).then_some(named)
        },
    );
    assert_eq!(listed, expected);
    // A write needs a quorum of the three.
    let mut put = Command::new(&etcdctl);
    put.args([
        "--endpoints",
        &endpoints.join(","),
        "put",
        "rollcall",
        "formed",
    ])
    .env_clear();
    check("etcdctl put", put);
    for member in &mut members {
        member.assert_running();
    }
}

#[test]
fn etcd_initial_cluster_names_each_member_as_etcd_reads_it_whatever_the_ids() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases(dir.path()) {
        let (output, members) = case.resolve("etcd-initial-cluster");
        let line = output
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("no newline at the end of {output:?}"));
        let read = urls_map(line);
        let context = format!("case {}: {line:?} is read as {read:?}", case.name);
        let peers = |id: &str| -> Option<Vec<String>> {
            let member = members.iter().find(|member| member.id == id)?;
            let address = if member.address.contains(':') {
                format!("[{}]", member.address)
            } else {
                member.address.clone()
            };
            Some(vec![format!(
                "http://{address}:{}",
                member.port.unwrap_or(2380)
            )])
        };
        for (name, urls) in &read {
            assert_eq!(Some(urls.clone()), peers(name), "{context}");
        }
        // Self, and every target a format can carry.
        let monitors = members
            .iter()
            .filter(|member| member.role == "monitor" && member.is_clean());
        for member in monitors {
            assert!(
                read.contains_key(&member.id),
                "{} is missing: {context}",
                member.id
            );
        }
    }
}

/// What etcd makes of `--initial-cluster` (types.NewURLsMap's parse):
/// entries split at every `,`, each a name up to its first `=` and a URL;
/// nothing unescaped.
fn urls_map(value: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in value.split(',').filter(|entry| !entry.is_empty()) {
        let (name, url) = entry.split_once('=').unwrap_or((entry, ""));
        map.entry(name.to_owned()).or_default().push(url.to_owned());
    }
    map
}
