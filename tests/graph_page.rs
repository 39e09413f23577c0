//! End to end: the registration graph. `resolve --format dot` of the
//! bundled example matches its golden file (`tests/golden/graph/`,
//! `BLESS=1` rewrites it) and Graphviz's `dot` draws it and a 50-instance
//! fleet; the page at `GET /` of a `watch` daemon, in a real headless
//! Chromium driven by Selenium (`tests/graph_page/check.py`), draws every
//! member and every edge of a 50-instance fleet, loads nothing from outside
//! 127.0.0.1, and shows a member that joins.

use kit::daemon::Daemon;
use kit::plugins::ELASTIC_GRID;
use kit::{seed_fleet, workspace};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const AGENT: &str = "i-df71a7b6";
const WAIT: Duration = Duration::from_secs(30);
/// How long the browser check may take, start to end.
const BROWSER_LIMIT: Duration = Duration::from_secs(120);
const CLUSTERED: &str = r#"{"cluster_group_prefix": "eg-cluster-"}"#;

/// One instance of the test fleet: its id, whether it is a monitor, an
/// agent or neither, and its clusters.
struct Spec {
    id: String,
    role: Option<&'static str>,
    clusters: Vec<&'static str>,
}

/// 50 instances: monitors and agents in cluster a, in cluster b, in both,
/// in none, and one in no role group.
fn fleet_specs() -> Vec<Spec> {
    (0..50)
        .map(|n| {
            let (role, clusters) = match n {
                0..=2 => (Some("monitor"), vec!["a"]),
                3..=19 => (Some("agent"), vec!["a"]),
                20..=21 => (Some("monitor"), vec!["b"]),
                22..=38 => (Some("agent"), vec!["b"]),
                39 => (Some("monitor"), vec!["a", "b"]),
                40..=41 => (Some("monitor"), vec![]),
                42..=48 => (Some("agent"), vec![]),
                _ => (None, vec![]),
            };
            Spec {
                id: format!("i-{n:017x}"),
                role,
                clusters,
            }
        })
        .collect()
}

/// The fleet as a describe-instances document.
fn describe(specs: &[Spec]) -> String {
    let group = |name: &str| json!({"GroupName": name, "GroupId": format!("sg-{name}")});
    let instances: Vec<Value> = specs
        .iter()
        .enumerate()
        .map(|(n, spec)| {
            let mut groups: Vec<Value> = spec
                .clusters
                .iter()
                .map(|cluster| group(&format!("eg-cluster-{cluster}")))
                .collect();
            match spec.role {
                Some("monitor") => groups.push(group("eg-monitor")),
                Some(_) => groups.push(group("eg-cybernode")),
                None => groups.push(group("default")),
            }
            json!({
                "InstanceId": spec.id,
                "State": {"Name": "running"},
                "PrivateIpAddress": format!("10.0.{}.{}", n / 250, n % 250 + 1),
                "SecurityGroups": groups,
            })
        })
        .collect();
    json!({"Reservations": [{"Instances": instances}]}).to_string()
}

/// The Elastic Grid rule, worked out here: a monitor registers with every
/// other monitor, an agent with every monitor, each only with those that
/// share a cluster with it (two without any cluster share).
fn expected_edges(specs: &[Spec]) -> BTreeSet<(String, String)> {
    let share = |a: &Spec, b: &Spec| {
        (a.clusters.is_empty() && b.clusters.is_empty())
            || a.clusters
                .iter()
                .any(|cluster| b.clusters.contains(cluster))
    };
    let mut edges = BTreeSet::new();
    for from in specs.iter().filter(|spec| spec.role.is_some()) {
        for to in specs.iter().filter(|spec| spec.role == Some("monitor")) {
            if from.id != to.id && share(from, to) {
                edges.insert((from.id.clone(), to.id.clone()));
            }
        }
    }
    edges
}

/// What the page must draw: the members and the edges.
fn expected(specs: &[Spec]) -> Value {
    let nodes: Vec<&str> = specs
        .iter()
        .filter(|spec| spec.role.is_some())
        .map(|spec| spec.id.as_str())
        .collect();
    let edges: Vec<[String; 2]> = expected_edges(specs)
        .into_iter()
        .map(|(from, to)| [from, to])
        .collect();
    json!({"nodes": nodes, "edges": edges})
}

fn graph_edges(graph: &Value) -> BTreeSet<(String, String)> {
    graph["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| {
            (
                edge["from"].as_str().unwrap().to_owned(),
                edge["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn write_replacing(to: &Path, text: &str) {
    let temporary = to.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, to).unwrap();
}

/// `dot -Tsvg` on `dot`: the SVG, or the test fails with dot's complaint.
fn graphviz_svg(dot: &str) -> String {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Graphviz's dot runs (scripts/test installs graphviz)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "dot -Tsvg refused it: {stderr}\n{dot}"
    );
    assert!(stderr.is_empty(), "dot -Tsvg warned: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_seed_fleet_as_dot_matches_its_golden_file_and_graphviz_draws_it() {
    let run = kit::resolve(
        &seed_fleet(),
        Path::new(ELASTIC_GRID),
        &["--self", AGENT, "--format", "dot"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let golden = workspace().join("tests/golden/graph/seed-fleet.dot");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&golden, &run.stdout).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(run.stdout, expected, "BLESS=1 to accept");
    let svg = graphviz_svg(&run.stdout);
    assert_eq!(svg.matches("class=\"node\"").count(), 2, "{svg}");
    assert_eq!(svg.matches("class=\"edge\"").count(), 1, "{svg}");
}

#[test]
fn a_fifty_instance_fleet_as_dot_has_every_edge_of_the_rule_and_graphviz_draws_it() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    let specs = fleet_specs();
    std::fs::write(&fleet, describe(&specs)).unwrap();
    let run = kit::resolve(
        &fleet,
        Path::new(ELASTIC_GRID),
        &[
            "--self",
            &specs[3].id,
            "--plugin-config",
            CLUSTERED,
            "--format",
            "dot",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let drawn: BTreeSet<(String, String)> = run
        .stdout
        .lines()
        .filter_map(|line| {
            let (from, to) = line.trim().strip_suffix(';')?.split_once(" -> ")?;
            Some((
                from.trim_matches('"').to_owned(),
                to.trim_matches('"').to_owned(),
            ))
        })
        .collect();
    assert_eq!(drawn, expected_edges(&specs));
    let svg = graphviz_svg(&run.stdout);
    assert_eq!(svg.matches("class=\"node\"").count(), 49);
    assert_eq!(svg.matches("class=\"edge\"").count(), drawn.len());
    // A box per set of clusters: a, b, a and b.
    assert_eq!(svg.matches("class=\"cluster\"").count(), 3, "{svg}");
}

/// Runs `check.py` against the daemon at `address`: it reports `drawn`
/// once the page shows the first fleet, then the test grows the fleet
/// (`grow`) and tells it to go on; it exits 0 once the page shows the
/// grown fleet.
fn browser_check(address: &str, first: &Value, grown: &Value, grow: impl FnOnce()) {
    let dir = tempfile::tempdir().unwrap();
    let first_file = dir.path().join("first.json");
    let grown_file = dir.path().join("grown.json");
    std::fs::write(&first_file, first.to_string()).unwrap();
    std::fs::write(&grown_file, grown.to_string()).unwrap();
    let python = workspace().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: scripts/test makes .venv and installs selenium",
        python.display()
    );
    let mut child = Command::new(python)
        .arg(workspace().join("tests/graph_page/check.py"))
        .arg(format!("http://{address}"))
        .arg(&first_file)
        .arg(&grown_file)
        .arg(dir.path().join("profile"))
        // Selenium Manager stays offline: the driver and browser are given.
        .env("SE_OFFLINE", "true")
        .env("SE_AVOID_STATS", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    let stdout = child.stdout.take().unwrap();
    let (lines, said) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let started = std::time::Instant::now();
    let mut log = Vec::new();
    let mut stdin = child.stdin.take();
    let mut grow = Some(grow);
    let outcome = loop {
        let left = BROWSER_LIMIT.saturating_sub(started.elapsed());
        match said.recv_timeout(left) {
            Ok(line) => {
                if line == "drawn"
                    && let (Some(grow), Some(mut input)) = (grow.take(), stdin.take())
                {
                    grow();
                    input.write_all(b"grown\n").unwrap();
                }
                log.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break child.wait().unwrap(),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("check.py still running after {BROWSER_LIMIT:?}: {log:#?}");
            }
        }
    };
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
    assert!(
        outcome.success(),
        "check.py failed ({outcome}):\n{}\n{stderr}",
        log.join("\n")
    );
    assert_eq!(
        log.last().map(String::as_str),
        Some("grown drawn"),
        "{log:#?}"
    );
    eprintln!("check.py:\n{}", log.join("\n"));
}

#[test]
fn the_page_draws_every_member_and_edge_and_shows_a_member_that_joins() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    let mut specs = fleet_specs();
    std::fs::write(&fleet, describe(&specs)).unwrap();
    let own = specs[3].id.clone();
    let watch = Daemon::launch([
        "--inventory",
        fleet.to_str().unwrap(),
        "--plugin",
        ELASTIC_GRID,
        "--plugin-config",
        CLUSTERED,
        "--self",
        &own,
        "--refresh",
        "200ms",
    ])
    .start();
    // The API's graph is the rule's, worked out independently.
    let graph = kit::eventually(WAIT, "the first graph", || {
        let (status, graph) = watch.get("/v1/graph");
        (status == 200).then_some(graph)
    });
    assert_eq!(graph["nodes"].as_array().unwrap().len(), 49, "{graph}");
    assert_eq!(graph_edges(&graph), expected_edges(&specs));
    assert_eq!(graph["self"], own.as_str());
    assert_eq!(graph["notes"], json!([]));
    let first = expected(&specs);

    // A monitor joins cluster b.
    specs.push(Spec {
        id: "i-00000000000000new".to_owned(),
        role: Some("monitor"),
        clusters: vec!["b"],
    });
    let grown = expected(&specs);
    assert!(grown["edges"].as_array().unwrap().len() > first["edges"].as_array().unwrap().len());
    browser_check(watch.address(), &first, &grown, || {
        write_replacing(&fleet, &describe(&specs));
    });
    let (_, graph) = watch.get("/v1/graph");
    assert_eq!(graph_edges(&graph), expected_edges(&specs));
}
