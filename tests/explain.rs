//! End to end: `rollcall explain` on the real binary and the real plugins:
//! both bundled policies give their reasons, a policy that gives none still
//! shows the decision, and unknown instances are usage errors.

use kit::plugins::{ELASTIC_GRID, MISBEHAVING, TAG_ROLES};
use kit::{Run, fixture, rollcall, seed_fleet};
use serde_json::Value;
use std::path::Path;

const MONITOR: &str = "i-2271a74b";
const AGENT: &str = "i-df71a7b6";

fn explain(fleet: &Path, plugin: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "explain",
        "--inventory",
        fleet.to_str().unwrap(),
        "--plugin",
        plugin.to_str().unwrap(),
    ];
    args.extend(extra);
    rollcall(args)
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item.as_str().expect("a string"))
        .collect()
}

#[test]
fn elastic_grid_explains_self_and_each_candidate_target() {
    let settings = r#"{"cluster_group_prefix": "cluster-"}"#;
    let blue_agent = "i-0a9b1ue0000000001";
    let run = explain(
        &fixture("clustered-fleet.json"),
        Path::new(ELASTIC_GRID),
        &[
            "--self",
            blue_agent,
            "--instance",
            blue_agent,
            "--plugin-config",
            settings,
            "--format",
            "json",
        ],
    );
    let document = run.json();
    assert_eq!(document["member"]["role"], "agent");
    assert_eq!(
        document["self_registers_with_it"],
        Value::Null,
        "it is self"
    );
    assert_eq!(
        strings(&document["reasons"]),
        [
            "role agent: in the agent group eg-cybernode (sg-egcybernode)",
            "clusters blue: from its groups cluster-blue (sg-clusterblue)",
            "address 10.0.1.20: its private-ip address",
        ]
    );
    let targets: Vec<(&str, bool, &str)> = document["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| {
            (
                target["instance_id"].as_str().unwrap(),
                target["taken"].as_bool().unwrap(),
                target["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            (
                "i-0b1ue000000000001",
                true,
                "a target: a monitor in cluster blue, as self is"
            ),
            (
                "i-0b1ue000000000002",
                true,
                "a target: a monitor in cluster blue, as self is"
            ),
            (
                "i-06reen00000000001",
                false,
                "not a target: its clusters (green) share none with self's (blue)"
            ),
            (
                "i-0both000000000001",
                true,
                "a target: a monitor in cluster blue, as self is"
            ),
        ]
    );
}

#[test]
fn another_instance_is_explained_in_text_with_whether_self_registers_with_it() {
    let run = explain(
        &seed_fleet(),
        Path::new(ELASTIC_GRID),
        &["--self", AGENT, "--instance", MONITOR],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&format!(
            "{MONITOR} (running): monitor, at 10.251.199.99\n\
             labels: instance_type=\"m1.small\", zone=\"us-east-1b\"\n\
             self ({AGENT}) registers with it: yes\n\
             why, says policy elastic_grid:\n  role monitor: in the monitor group eg-monitor"
        )),
        "{}",
        run.stdout
    );
}

#[test]
fn tag_roles_explains_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("tagged.json");
    let mut document: Value =
        serde_json::from_str(&std::fs::read_to_string(seed_fleet()).unwrap()).unwrap();
    for (reservation, role) in [(0, "monitor"), (1, "agent")] {
        document["Reservations"][reservation]["Instances"][0]["Tags"] =
            serde_json::json!([{"Key": "rollcall:role", "Value": role}]);
    }
    std::fs::write(&fleet, document.to_string()).unwrap();
    let run = explain(
        &fleet,
        Path::new(TAG_ROLES),
        &["--self", AGENT, "--instance", AGENT, "--format", "json"],
    );
    let document = run.json();
    let reasons = strings(&document["reasons"]);
    assert!(
        reasons
            .iter()
            .any(|reason| reason.contains("rollcall:role=agent")),
        "{reasons:?}"
    );
    assert_eq!(document["targets"][0]["instance_id"], MONITOR);
    assert_eq!(document["targets"][0]["taken"], true);
    assert!(
        document["targets"][0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.starts_with("a target")),
        "{document}"
    );
}

#[test]
fn a_member_dropped_for_an_escape_in_its_role_is_explained_and_no_target() {
    let fleet = fixture("odd-names-fleet.json");
    let (escaped, agent) = ("i-0000000000000m003", "i-0000000000000a001");
    let dropped = |what: &str, name: &str| {
        format!("rollcall dropped it: its {what} {name:?} has '\\u{{1b}}', a control character")
    };
    let role_dropped = dropped("role", "monitor\u{1b}[2J");
    let run = explain(
        &fleet,
        Path::new(TAG_ROLES),
        &["--self", agent, "--instance", escaped],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&format!(
            "{escaped} (running): no member\n{role_dropped}\nself ({agent}) registers with it: no\n"
        )),
        "{}",
        run.stdout
    );

    // Elastic Grid takes the monitor for a target: rollcall does not.
    let run = explain(
        &fleet,
        Path::new(ELASTIC_GRID),
        &[
            "--self",
            agent,
            "--instance",
            agent,
            "--plugin-config",
            r#"{"cluster_group_prefix": "cluster-"}"#,
            "--format",
            "json",
        ],
    );
    let document = run.json();
    let target = document["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|target| target["instance_id"] == escaped)
        .unwrap_or_else(|| panic!("the dropped monitor is a candidate: {document}"));
    assert_eq!(target["taken"], false, "{document}");
    assert!(
        target["reason"]
            .as_str()
            .is_some_and(|reason| reason.starts_with("a target")
                && reason.ends_with(&format!(
                    "(but {})",
                    dropped("cluster name", "blue\u{1b}[2J")
                ))),
        "{document}"
    );
}

#[test]
fn a_policy_that_gives_no_reasons_still_shows_its_decision() {
    let run = explain(
        &seed_fleet(),
        Path::new(MISBEHAVING),
        &["--self", AGENT, "--instance", AGENT],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("(the policy gave no reasons)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("  + {MONITOR}  (no reason given)")),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unknown_instance_is_a_usage_error_naming_it() {
    let run = explain(
        &seed_fleet(),
        Path::new(ELASTIC_GRID),
        &["--instance", "i-nowhere"],
    );
    run.fails_with(2, &["instance i-nowhere is not in the inventory"]);
    let run = explain(
        &seed_fleet(),
        Path::new(ELASTIC_GRID),
        &["--self", "i-typo", "--instance", AGENT],
    );
    run.fails_with(2, &["self instance i-typo is not in the inventory"]);
}
