//! End to end: every bundled format on the bundled example fleet, against
//! its golden file (`tests/golden/formats/NAME.out`), and templates that
//! cannot be used refused at start with `FILE:LINE: what` (exit 2, golden
//! `.err` files beside the templates), and a daemon's template broken on
//! reload then mended. `BLESS=1` rewrites the golden files.

use kit::daemon::Daemon;
use kit::plugins::ELASTIC_GRID;
use kit::{RUN_LIMIT, Run, eventually, rollcall, run_within, seed_fleet, workspace};

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

/// The peers template a daemon's file sink starts with, and the one it is
/// mended to.
const PEERS: &str = "{% for peer in peers %}\n{{ peer.instance_id }}\n{% endfor %}\n";
const MENDED: &str =
    "{% for peer in peers %}\n{{ peer.instance_id }} {{ peer.role }}\n{% endfor %}\n";

#[test]
fn a_template_broken_on_reload_keeps_the_running_sink_and_a_mended_one_writes_with_no_fleet_change()
{
    let wait = std::time::Duration::from_secs(20);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(seed_fleet(), dir.path().join("fleet.json")).unwrap();
    let template = dir.path().join("peers.j2");
    std::fs::write(&template, PEERS).unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "refresh = \"200ms\"\nself = \"i-df71a7b6\"\n\n[source]\nkind = \"file\"\npath = \"fleet.json\"\n\n\
             [policy]\nplugin = \"{ELASTIC_GRID}\"\n\n[[sink]]\nkind = \"file\"\npath = \"peers.txt\"\n\
             format = \"template\"\ntemplate = \"peers.j2\"\n"
        ),
    )
    .unwrap();
    let output = dir.path().join("peers.txt");
    let daemon = Daemon::start(["--config", config.to_str().unwrap()]);
    let good = "i-2271a74b\ni-df71a7b6\n";
    eventually(wait, "the template's first output", || {
        (std::fs::read_to_string(&output).ok()? == good).then_some(())
    });

    // An unknown variable: refused on reload, as at start.
    replace_text(&template, "{{ regsiter_with }}\n");
    eventually(wait, "the reload rolled back", || {
        let rolled_back = daemon.metric("rollcall_reloads_total{outcome=\"rolled_back\"}")?;
        (rolled_back == 1.0).then_some(())
    });
    let (_, health) = daemon.get("/healthz");
    let reload_error = health["reload_error"].as_str().unwrap_or_default();
    assert!(reload_error.contains("peers.j2:1"), "{health}");
    // The fleet grows meanwhile: the running sink still writes, with the
    // template that loaded.
    let mut fleet: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(seed_fleet()).unwrap()).unwrap();
    let mut monitor = fleet["Reservations"][0].clone();
    monitor["Instances"][0]["InstanceId"] = "i-0000000000000new".into();
    monitor["Instances"][0]["PrivateIpAddress"] = "10.251.199.100".into();
    fleet["Reservations"].as_array_mut().unwrap().push(monitor);
    replace_text(&dir.path().join("fleet.json"), &fleet.to_string());
    let grown = "i-0000000000000new\ni-2271a74b\ni-df71a7b6\n";
    eventually(wait, "the old template's output of the grown fleet", || {
        (std::fs::read_to_string(&output).ok()? == grown).then_some(())
    });

    // Mended: taken on the next reload, and written though the fleet has
    // not changed since (new sinks are handed the current answer).
    replace_text(&template, MENDED);
    let mended = "i-0000000000000new monitor\ni-2271a74b monitor\ni-df71a7b6 agent\n";
    eventually(wait, "the mended template's output", || {
        (std::fs::read_to_string(&output).ok()? == mended).then_some(())
    });
}

/// Replaces `path`'s text the way editors and deploy tools do: a temporary
/// file, then a rename.
fn replace_text(path: &std::path::Path, text: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}
