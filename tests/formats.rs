//! End to end: every bundled format on the bundled example fleet, against
//! its golden file (`tests/golden/formats/NAME.out`), and templates that
//! cannot be used refused at start with `FILE:LINE: what` (exit 2, golden
//! `.err` files beside the templates). `BLESS=1` rewrites them.

use kit::plugins::ELASTIC_GRID;
use kit::{RUN_LIMIT, Run, rollcall, run_within, seed_fleet, workspace};

/// Every bundled format, as `rollcall formats` names them.
const FORMATS: [&str; 8] = [
    "elasticsearch-seed-hosts",
    "consul-retry-join",
    "etcd-initial-cluster",
    "rabbitmq-classic-config",
    "cassandra-seeds",
    "haproxy-backend",
    "nginx-upstream",
    "prometheus-file-sd",
];

/// The templates under `tests/golden/formats/` that must be refused.
const BAD_TEMPLATES: [&str; 3] = ["unknown-variable", "unknown-attribute", "syntax-error"];

/// Compares `got` with the golden file `name`, or rewrites it with BLESS.
fn golden(name: &str, got: &str, differ: &mut Vec<String>) {
    let path = workspace().join("tests/golden/formats").join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != got {
        differ.push(format!(
            "{}:\n--- expected\n{expected}--- got\n{got}",
            path.display()
        ));
    }
}

/// The seed fleet's agent, with ports, in `format`.
fn resolve(format: &str) -> Run {
    rollcall([
        "resolve",
        "--inventory",
        seed_fleet().to_str().unwrap(),
        "--plugin",
        ELASTIC_GRID,
        "--self",
        "i-df71a7b6",
        "--plugin-config",
        r#"{"monitor_port": 9300, "agent_port": 9301}"#,
        "--format",
        format,
    ])
}

#[test]
fn every_bundled_format_matches_its_golden_file_on_the_seed_fleet() {
    let listed = rollcall(["formats"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let mut differ = Vec::new();
    for format in FORMATS {
        assert!(
            listed.stdout.contains(&format!("{format}\n")),
            "rollcall formats lists {format}: {}",
            listed.stdout
        );
        let run = resolve(format);
        assert_eq!(run.code, 0, "{format}: {}", run.stderr);
        golden(&format!("{format}.out"), &run.stdout, &mut differ);
    }
    assert!(
        differ.is_empty(),
        "outputs differ (BLESS=1 to accept):\n{}",
        differ.join("\n")
    );
}

#[test]
fn a_template_of_ones_own_writes_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("peers.j2");
    std::fs::write(
        &template,
        "{% for peer in peers %}\n{{ peer.instance_id }} {{ peer.role }} {{ peer|endpoint }}\n{% endfor %}\n",
    )
    .unwrap();
    let run = resolve(&format!("template:{}", template.display()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "i-2271a74b monitor 10.251.199.99:9300\ni-df71a7b6 agent 10.251.199.131:9301\n"
    );
}

#[test]
fn a_template_that_cannot_be_used_is_refused_before_any_fetch_naming_its_line() {
    let dir = workspace().join("tests/golden/formats");
    let mut differ = Vec::new();
    for name in BAD_TEMPLATES {
        let mut command = kit::rollcall_command(None);
        command.current_dir(&dir).args([
            "resolve",
            "--inventory",
            "/nonexistent/fleet.json",
            "--plugin",
            ELASTIC_GRID,
            "--format",
            &format!("template:{name}.j2"),
        ]);
        let run = run_within(RUN_LIMIT, command);
        run.fails_with(2, &[&format!("{name}.j2:")]);
        golden(&format!("{name}.err"), &run.stderr, &mut differ);
    }
    assert!(
        differ.is_empty(),
        "errors differ (BLESS=1 to accept):\n{}",
        differ.join("\n")
    );
}
