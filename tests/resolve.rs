//! End to end: the real `rollcall resolve` on real plugins and fixture
//! inventories, checked against the Elastic Grid rules and the host's
//! contract (document shape, exit codes, validation of what plugins return).

use kit::background::Background;
use kit::eventually;
use kit::plugins::{ELASTIC_GRID, MISBEHAVING, TAG_ROLES};
use kit::{fixture, ids, resolve, role_of, seed_fleet};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const MONITOR: &str = "i-2271a74b";
const AGENT: &str = "i-df71a7b6";

#[test]
fn seed_agent_registers_with_the_monitor() {
    let elastic_grid = Path::new(ELASTIC_GRID);
    let document = resolve(&seed_fleet(), elastic_grid, &["--self", AGENT]).json();

    assert_eq!(
        document["self"],
        json!({"instance_id": AGENT, "role": "agent", "clusters": []})
    );
    assert_eq!(
        document["register_with"],
        json!([{"instance_id": MONITOR, "role": "monitor", "address": "10.251.199.99", "port": null}])
    );
    assert_eq!(ids(&document, "members"), [MONITOR, AGENT]);
    assert_eq!(document["members"][1]["address"], "10.251.199.131");
    assert_eq!(document["inventory"]["instances"], 2);
    assert!(
        document["inventory"]["source"]
            .as_str()
            .unwrap()
            .ends_with("seed-fleet.json")
    );
    let fetched_at = document["inventory"]["fetched_at"].as_str().unwrap();
    assert!(
        fetched_at.len() >= 20 && fetched_at.as_bytes()[10] == b'T',
        "{fetched_at}"
    );
    let sha256 = document["policy"]["sha256"].as_str().unwrap();
    assert_eq!(sha256.len(), 64);
    assert!(sha256.bytes().all(|byte| byte.is_ascii_hexdigit()));
    assert_eq!(document["policy"]["path"], elastic_grid.to_str().unwrap());
}

#[test]
fn seed_monitor_registers_with_nobody() {
    let document = resolve(&seed_fleet(), Path::new(ELASTIC_GRID), &["--self", MONITOR]).json();
    assert_eq!(document["self"]["role"], "monitor");
    assert_eq!(document["register_with"], json!([]));
}

#[test]
fn without_self_the_answer_has_members_only() {
    let document = resolve(&seed_fleet(), Path::new(ELASTIC_GRID), &[]).json();
    assert_eq!(document["self"], json!(null));
    assert_eq!(document["register_with"], json!([]));
    assert_eq!(ids(&document, "members"), [MONITOR, AGENT]);
}

#[test]
fn several_pages_read_as_one_fleet() {
    let one = resolve(&seed_fleet(), Path::new(ELASTIC_GRID), &["--self", AGENT]).json();
    let two = resolve(
        &fixture("seed-fleet-two-pages.json"),
        Path::new(ELASTIC_GRID),
        &["--self", AGENT],
    )
    .json();
    assert_eq!(one["members"], two["members"]);
    assert_eq!(one["register_with"], two["register_with"]);
}

#[test]
fn clusters_scope_registration() {
    let settings = r#"{"cluster_group_prefix": "cluster-", "monitor_port": 7070}"#;
    let fleet = fixture("clustered-fleet.json");
    let run = |self_id: &str| {
        resolve(
            &fleet,
            Path::new(ELASTIC_GRID),
            &["--self", self_id, "--plugin-config", settings],
        )
        .json()
    };

    let blue_agent = run("i-0a9b1ue0000000001");
    assert_eq!(blue_agent["self"]["clusters"], json!(["blue"]));
    assert_eq!(
        ids(&blue_agent, "register_with"),
        [
            "i-0b1ue000000000001",
            "i-0b1ue000000000002",
            "i-0both000000000001"
        ]
    );
    assert_eq!(blue_agent["register_with"][0]["port"], 7070);

    let green_agent = run("i-0a96reen000000001");
    assert_eq!(
        ids(&green_agent, "register_with"),
        ["i-06reen00000000001", "i-0both000000000001"]
    );

    let green_monitor = run("i-06reen00000000001");
    assert_eq!(
        ids(&green_monitor, "register_with"),
        ["i-0both000000000001"]
    );

    let both = run("i-0both000000000001");
    assert_eq!(both["self"]["clusters"], json!(["blue", "green"]));
    assert_eq!(
        ids(&both, "register_with"),
        [
            "i-06reen00000000001",
            "i-0b1ue000000000001",
            "i-0b1ue000000000002"
        ]
    );
}

#[test]
fn states_and_group_combinations_follow_the_rules() {
    let fleet = fixture("mixed-fleet.json");
    let document = resolve(&fleet, Path::new(ELASTIC_GRID), &[]).json();
    assert_eq!(document["inventory"]["instances"], 9);
    // Running only; the instance in both role groups is a monitor; the one in
    // neither is no member.
    assert_eq!(
        ids(&document, "members"),
        [
            "i-0000000000000a001",
            "i-0000000000000b001",
            "i-0000000000000m001"
        ]
    );
    assert_eq!(
        role_of(&document, "i-0000000000000b001").as_deref(),
        Some("monitor")
    );

    // A pending self is decided all the same, and registers with both monitors.
    let booting = resolve(
        &fleet,
        Path::new(ELASTIC_GRID),
        &["--self", "i-0000000000000a002"],
    )
    .json();
    assert_eq!(booting["self"]["role"], "agent");
    assert_eq!(
        ids(&booting, "register_with"),
        ["i-0000000000000b001", "i-0000000000000m001"]
    );

    // A stopped monitor is no target, and an instance in no role group has no
    // role and registers with nobody.
    let web = resolve(
        &fleet,
        Path::new(ELASTIC_GRID),
        &["--self", "i-0000000000000n001"],
    )
    .json();
    assert_eq!(
        web["self"],
        json!({"instance_id": "i-0000000000000n001", "role": null, "clusters": []})
    );
    assert_eq!(web["register_with"], json!([]));
}

#[test]
fn another_plugin_gives_another_answer_from_the_same_binary_and_inventory() {
    let fleet = fixture("mixed-fleet.json");
    let self_id = "i-0000000000000a001";
    let by_groups = resolve(&fleet, Path::new(ELASTIC_GRID), &["--self", self_id]).json();
    let by_tags = resolve(
        &fleet,
        Path::new(TAG_ROLES),
        &[
            "--self",
            self_id,
            "--plugin-config",
            r#"{"registers_with": {"worker": ["scheduler"]}}"#,
        ],
    )
    .json();

    assert_eq!(by_groups["self"]["role"], "agent");
    assert_eq!(by_tags["self"]["role"], "worker");
    assert_eq!(by_tags["self"]["clusters"], json!(["east", "west"]));
    assert_eq!(ids(&by_tags, "register_with"), ["i-0000000000000m001"]);
    assert_ne!(by_groups["register_with"], by_tags["register_with"]);
    assert_ne!(by_groups["policy"]["sha256"], by_tags["policy"]["sha256"]);
}

#[test]
fn env_format_is_shell_sourceable() {
    let run = resolve(
        &fixture("clustered-fleet.json"),
        Path::new(ELASTIC_GRID),
        &[
            "--self",
            "i-0a96reen000000001",
            "--format",
            "env",
            "--plugin-config",
            r#"{"cluster_group_prefix": "cluster-", "monitor_port": 7070}"#,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "ROLLCALL_SELF='i-0a96reen000000001'\n\
         ROLLCALL_ROLE='agent'\n\
         ROLLCALL_CLUSTERS='green'\n\
         ROLLCALL_REGISTER_WITH='10.0.2.10:7070 10.0.3.10:7070'\n\
         ROLLCALL_SELF_LEAVING=''\n\
         ROLLCALL_SELF_LEAVE_DEADLINE=''\n"
    );

    let sourced = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{}\nprintf '%s|%s' \"$ROLLCALL_ROLE\" \"$ROLLCALL_REGISTER_WITH\"",
            run.stdout
        ))
        .output()
        .expect("sh runs");
    assert_eq!(
        String::from_utf8_lossy(&sourced.stdout),
        "agent|10.0.2.10:7070 10.0.3.10:7070"
    );
}

#[test]
fn text_format_shows_self_targets_and_members() {
    let run = resolve(
        &seed_fleet(),
        Path::new(ELASTIC_GRID),
        &["--self", AGENT, "--format", "text"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("self: i-df71a7b6 (agent)\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("registers with:\n  i-2271a74b  monitor  10.251.199.99\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("members: 2 of 2 instances"),
        "{}",
        run.stdout
    );
}

#[test]
fn nft_format_is_a_script_nft_accepts_with_self_s_cluster_peers() {
    let dir = tempfile::tempdir().unwrap();
    let run = |self_id: &str, address: &str| {
        let settings = format!(
            r#"{{"cluster_group_prefix": "cluster-", "monitor_port": 7070, "address": "{address}"}}"#
        );
        let run = resolve(
            &fixture("clustered-fleet.json"),
            Path::new(ELASTIC_GRID),
            &[
                "--self",
                self_id,
                "--format",
                "nft",
                "--plugin-config",
                &settings,
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let file = dir.path().join(format!("{self_id}-{address}.nft"));
        std::fs::write(&file, &run.stdout).unwrap();
        kit::nft::check(&file);
        (run, file)
    };

    // The blue agent: every other member of blue, monitors and agents.
    let (blue, file) = run("i-0a9b1ue0000000001", "private-ip");
    assert!(
        blue.stdout.starts_with(
            "# Written by rollcall: the cluster peers of i-0a9b1ue0000000001 (clusters: blue).\n"
        ),
        "{}",
        blue.stdout
    );
    assert!(
        blue.stdout.ends_with(
            "add element inet rollcall cluster_peers_v4 {\n\
             \t10.0.1.10, # i-0b1ue000000000001\n\
             \t10.0.1.11, # i-0b1ue000000000002\n\
             \t10.0.1.21, # i-0a9b1ue0000000002\n\
             \t10.0.3.10 # i-0both000000000001\n\
             }\n"
        ),
        "{}",
        blue.stdout
    );
    let listed = kit::nft::apply_twice(&file);
    assert!(
        listed.contains("elements = { 10.0.1.10, 10.0.1.11, 10.0.1.21, 10.0.3.10 }"),
        "{listed}"
    );

    // Host names are no set elements: left out, said so, and still valid.
    let (named, _) = run("i-0a9b1ue0000000001", "private-dns");
    assert!(
        named.stdout.contains(
            "# Left out: i-0b1ue000000000001 has ip-10-0-1-10.ec2.internal, not an IP address.\n"
        ),
        "{}",
        named.stdout
    );
    assert!(!named.stdout.contains("add element"), "{}", named.stdout);
    assert!(
        named.stderr.contains("left out of the nft sets"),
        "a warning: {}",
        named.stderr
    );

    // No self: both sets empty, and the file says why.
    let (outsider, _) = run("none", "private-ip");
    assert!(
        outsider
            .stdout
            .starts_with("# Written by rollcall: no cluster peers, because no self was given"),
        "{}",
        outsider.stdout
    );
    assert!(
        !outsider.stdout.contains("add element"),
        "{}",
        outsider.stdout
    );
}

#[test]
fn a_malformed_inventory_is_named_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(
        &path,
        "{\n  \"Reservations\": [\n    {\"Instances\": [}\n  ]\n}\n",
    )
    .unwrap();
    let run = resolve(&path, Path::new(ELASTIC_GRID), &[]);
    run.fails_with(2, &[&format!("{}:3:20:", path.display())]);

    std::fs::write(
        &path,
        r#"{"Reservations": [{"Instances": [{"State": {"Name": "running"}}]}]}"#,
    )
    .unwrap();
    resolve(&path, Path::new(ELASTIC_GRID), &[]).fails_with(2, &["missing field `InstanceId`"]);

    let missing = dir.path().join("missing.json");
    resolve(&missing, Path::new(ELASTIC_GRID), &[])
        .fails_with(2, &["cannot read inventory", "missing.json"]);
}

#[test]
fn an_unknown_self_is_a_usage_error_naming_it() {
    resolve(
        &seed_fleet(),
        Path::new(ELASTIC_GRID),
        &["--self", "i-nowhere"],
    )
    .fails_with(2, &["i-nowhere", "not in the inventory"]);
}

#[test]
fn bad_plugin_settings_are_usage_errors() {
    resolve(
        &seed_fleet(),
        Path::new(ELASTIC_GRID),
        &["--plugin-config", r#"{"monitor_grup": "x"}"#],
    )
    .fails_with(
        2,
        &["rejected its settings", "unknown field `monitor_grup`"],
    );

    resolve(
        &seed_fleet(),
        Path::new(ELASTIC_GRID),
        &["--plugin-config", "{not json"],
    )
    .fails_with(2, &["--plugin-config:1:2:", "expected a JSON document"]);
}

#[test]
fn plugin_settings_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.json");
    std::fs::write(
        &settings,
        r#"{"address": "private-dns", "agent_port": 9000}"#,
    )
    .unwrap();
    let document = resolve(
        &seed_fleet(),
        Path::new(ELASTIC_GRID),
        &["--plugin-config", &format!("@{}", settings.display())],
    )
    .json();
    assert_eq!(
        document["members"][1]["address"],
        "domU-12-31-39-00-C4-76.compute-1.internal"
    );
    assert_eq!(document["members"][1]["port"], 9000);
}

#[test]
fn answers_naming_unknown_or_invalid_members_are_refused() {
    let misbehaving = Path::new(MISBEHAVING);
    let cases = [
        (
            "unknown-member",
            "member #9 is not in the fleet (2 instances)",
        ),
        ("duplicate-member", "is listed more than once"),
        ("self-target", "is its own registration target"),
    ];
    for (mode, problem) in cases {
        let settings = format!(r#"{{"mode": "{mode}"}}"#);
        let run = resolve(
            &seed_fleet(),
            misbehaving,
            &["--self", AGENT, "--plugin-config", &settings],
        );
        run.fails_with(3, &["policy misbehaving gave an invalid answer", problem]);
        assert!(run.stdout.is_empty(), "{mode}: nothing reaches stdout");
    }
}

#[test]
fn a_trapping_plugin_fails_cleanly_with_its_panic_message_in_the_log() {
    let run = resolve(
        &seed_fleet(),
        Path::new(MISBEHAVING),
        &["--plugin-config", r#"{"mode": "trap"}"#],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("policy misbehaving trapped"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("mode trap: the policy panicked on purpose"),
        "the guest's panic message reaches the log: {}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn a_plugin_error_is_reported() {
    resolve(
        &seed_fleet(),
        Path::new(MISBEHAVING),
        &["--plugin-config", r#"{"mode": "error"}"#],
    )
    .fails_with(
        3,
        &["policy misbehaving failed: mode error: this policy refuses to decide"],
    );
    resolve(
        &seed_fleet(),
        Path::new(MISBEHAVING),
        &["--plugin-config", r#"{"mode": "reject-settings"}"#],
    )
    .fails_with(2, &["policy misbehaving rejected its settings"]);
}

#[test]
fn a_chatty_plugin_is_cut_off_but_still_answers() {
    let run = resolve(
        &seed_fleet(),
        Path::new(MISBEHAVING),
        &[
            "--self",
            AGENT,
            "--plugin-config",
            r#"{"mode": "chatty"}"#,
            "-v",
        ],
    );
    let document = run.json();
    assert_eq!(ids(&document, "register_with"), [MONITOR]);
    assert!(
        run.stderr.contains("chatty log line 999"),
        "{}",
        &run.stderr[..200]
    );
    assert!(!run.stderr.contains("chatty log line 1000"));
    // 4,000 chatty lines past the budget, then the SDK's summary line.
    assert!(
        run.stderr.contains("dropped_lines=4001"),
        "dropped lines are counted"
    );
    assert!(run.stderr.contains("chatty stdout line"));
    assert!(run.stderr.contains("chatty stderr line"));
}

#[test]
fn files_that_are_not_policies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("policy.wasm");
    std::fs::write(&text, "#!/bin/sh\necho monitor\n").unwrap();
    resolve(&seed_fleet(), &text, &[]).fails_with(3, &["not a WebAssembly file"]);

    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    resolve(&seed_fleet(), &core, &[]).fails_with(3, &["core WebAssembly module, not a component"]);

    let truncated = dir.path().join("truncated.wasm");
    let bytes = std::fs::read(ELASTIC_GRID).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    resolve(&seed_fleet(), &truncated, &[]).fails_with(3, &["cannot load policy"]);

    let missing = dir.path().join("missing.wasm");
    resolve(&seed_fleet(), &missing, &[]).fails_with(2, &["cannot read policy", "missing.wasm"]);
}

#[test]
fn usage_errors_exit_2_and_help_lists_exit_codes() {
    let run = kit::rollcall(["resolve", "--inventory", "fleet.json"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--plugin"), "{}", run.stderr);

    let help = kit::rollcall(["resolve", "--help"]);
    assert_eq!(help.code, 0);
    for line in [
        "Exit codes:",
        "0  resolved",
        "2  bad usage",
        "3  the policy failed",
    ] {
        assert!(help.stdout.contains(line), "{line:?} in {}", help.stdout);
    }
}

#[test]
fn output_writes_the_answer_to_a_file_in_any_format_and_stdout_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let json_file = dir.path().join("membership.json");
    let env_file = dir.path().join("membership.env");
    let elastic_grid = Path::new(ELASTIC_GRID);
    let flags = |file: &Path, format: &str| {
        let file = file.display().to_string();
        let run = resolve(
            &seed_fleet(),
            elastic_grid,
            &["--self", AGENT, "--format", format, "--output", &file],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.stdout, "");
    };
    flags(&json_file, "json");
    flags(&env_file, "env");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    let printed = resolve(&seed_fleet(), elastic_grid, &["--self", AGENT]).json();
    assert_eq!(written["register_with"], printed["register_with"]);
    assert_eq!(written["members"], printed["members"]);
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        env.contains("ROLLCALL_REGISTER_WITH='10.251.199.99'"),
        "{env}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "temporaries left behind"
    );

    let nowhere = dir.path().join("missing/membership.env");
    resolve(
        &seed_fleet(),
        elastic_grid,
        &["--output", &nowhere.display().to_string()],
    )
    .fails_with(2, &["cannot write", "missing/membership.env"]);
}

#[test]
fn waiting_flags_that_cannot_work_are_usage_errors() {
    let elastic_grid = Path::new(ELASTIC_GRID);
    let run = |extra: &[&str]| resolve(&seed_fleet(), elastic_grid, extra);
    run(&["--wait-for", "monitors>=2"]).fails_with(
        2,
        &["\"monitors>=2\" is not a condition (expected targets>=N, role=NAME>=N or self-role)"],
    );
    run(&["--wait-for", "targets>=x"]).fails_with(2, &["\"x\" is not a count"]);
    run(&["--wait-for", "targets>=1"]).fails_with(2, &["--wait-for targets>=1 needs a self"]);
    run(&["--wait-timeout", "1m"]).fails_with(2, &["--wait-for <COND>"]);
    run(&["--wait-for", "self-role", "--wait-interval", "0s"]).fails_with(2, &["out of range"]);
}

/// EC2's listing can lag an instance that has just booted: while waiting,
/// a self that is not listed yet is asked about again, not an error.
#[test]
fn a_self_listed_late_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let fleet_file = dir.path().join("fleet.json");
    let mut fleet: Value =
        serde_json::from_str(&std::fs::read_to_string(seed_fleet()).unwrap()).unwrap();
    std::fs::write(&fleet_file, fleet.to_string()).unwrap();
    let fleet_path = fleet_file.display().to_string();
    let plugin_path = ELASTIC_GRID;
    let waiting = Background::start(
        [
            "resolve",
            "--inventory",
            &fleet_path,
            "--plugin",
            plugin_path,
            "--self",
            "i-0late",
            "--wait-for",
            "self-role",
            "--wait-for",
            "targets>=1",
            "--wait-interval",
            "100ms",
            "--wait-timeout",
            "60s",
        ],
        &[],
    );
    eventually(Duration::from_secs(30), "a try without self", || {
        waiting
            .stderr()
            .contains("i-0late is not in the inventory")
            .then_some(())
    });
    let agent = fleet["Reservations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|reservation| reservation["Instances"].as_array().unwrap())
        .find(|instance| instance["InstanceId"] == AGENT)
        .unwrap();
    let mut late = agent.clone();
    late["InstanceId"] = json!("i-0late");
    fleet["Reservations"][0]["Instances"]
        .as_array_mut()
        .unwrap()
        .push(late);
    let replacement = dir.path().join("fleet.json.new");
    std::fs::write(&replacement, fleet.to_string()).unwrap();
    std::fs::rename(&replacement, &fleet_file).unwrap();

    let answer = waiting.finish_within(Duration::from_secs(30)).json();
    assert_eq!(answer["self"]["role"], "agent");
    assert_eq!(ids(&answer, "register_with"), [MONITOR]);
}

/// `odd-names-fleet.json`: monitors m001 (cluster `blue`), m002 (`blue
/// team`) and m003, whose security group and role tag carry an escape
/// sequence; agents a001 (`blue` and `blue team`) and a002, tagged with the
/// role `agent x`. Groups for Elastic Grid, tags for tag-roles.
const ODD_NAMES: &str = "odd-names-fleet.json";
const ESCAPED_MONITOR: &str = "i-0000000000000m003";
const BLUE_AGENT: &str = "i-0000000000000a001";
const SPACED_AGENT: &str = "i-0000000000000a002";

/// `resolve` on the odd-names fleet with `plugin` and `settings`, seen from
/// `self_id`, in `format`: it answers (exit 0) whatever the names.
fn resolve_odd_names(plugin: &str, settings: &str, self_id: &str, format: &str) -> String {
    let run = resolve(
        &fixture(ODD_NAMES),
        Path::new(plugin),
        &[
            "--self",
            self_id,
            "--plugin-config",
            settings,
            "--format",
            format,
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    if format == "json" {
        assert!(
            run.stderr.contains(&format!(
                "{ESCAPED_MONITOR}: its {}",
                if plugin == ELASTIC_GRID {
                    "cluster name"
                } else {
                    "role"
                }
            )) && !run.stderr.contains('\u{1b}'),
            "a warning names the dropped member, escaped: {}",
            run.stderr
        );
    }
    run.stdout
}

/// What `sh` makes of `--format env` output: the role, then the clusters one
/// per line (`eval "set -- $ROLLCALL_CLUSTERS"`), then the targets.
fn sourced(env: &str) -> String {
    let script = "eval \"$(cat)\"; printf '%s\\n' \"role=$ROLLCALL_ROLE\"; \
                  eval \"set -- $ROLLCALL_CLUSTERS\"; printf 'cluster=%s\\n' \"$@\"; \
                  printf '%s\\n' \"targets=$ROLLCALL_REGISTER_WITH\"";
    let mut child = std::process::Command::new("sh")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sh runs");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), env.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "sh failed on:\n{env}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_cluster_group_with_a_space_is_a_cluster_and_an_escape_drops_only_its_member() {
    let settings = r#"{"cluster_group_prefix": "cluster-", "monitor_port": 7070}"#;
    let document: Value = serde_json::from_str(&resolve_odd_names(
        ELASTIC_GRID,
        settings,
        BLUE_AGENT,
        "json",
    ))
    .unwrap();
    assert_eq!(
        ids(&document, "members"),
        [
            BLUE_AGENT,
            SPACED_AGENT,
            "i-0000000000000m001",
            "i-0000000000000m002"
        ],
        "every member but the escaped one"
    );
    assert_eq!(document["self"]["clusters"], json!(["blue", "blue team"]));
    assert_eq!(
        ids(&document, "register_with"),
        ["i-0000000000000m001", "i-0000000000000m002"],
        "the dropped monitor is no target"
    );

    let env = resolve_odd_names(ELASTIC_GRID, settings, BLUE_AGENT, "env");
    assert_eq!(
        sourced(&env),
        "role=agent\ncluster=blue\ncluster=blue team\n\
         targets=10.0.1.10:7070 10.0.1.11:7070\n",
        "{env}"
    );
}

#[test]
fn a_role_tag_with_a_space_is_a_role_and_an_escape_drops_only_its_member() {
    let document: Value =
        serde_json::from_str(&resolve_odd_names(TAG_ROLES, "{}", BLUE_AGENT, "json")).unwrap();
    assert_eq!(
        ids(&document, "members"),
        [
            BLUE_AGENT,
            SPACED_AGENT,
            "i-0000000000000m001",
            "i-0000000000000m002"
        ],
        "every member but the escaped one"
    );
    assert_eq!(role_of(&document, SPACED_AGENT).as_deref(), Some("agent x"));
    assert_eq!(
        ids(&document, "register_with"),
        ["i-0000000000000m001", "i-0000000000000m002"],
        "the dropped monitor is no target"
    );

    let env = resolve_odd_names(TAG_ROLES, "{}", SPACED_AGENT, "env");
    assert_eq!(
        sourced(&env),
        "role=agent x\ncluster=blue\ntargets=\n",
        "{env}"
    );
    let env = resolve_odd_names(TAG_ROLES, "{}", BLUE_AGENT, "env");
    assert_eq!(
        sourced(&env),
        "role=agent\ncluster=blue\ncluster=blue team\ntargets=10.0.1.10 10.0.1.11\n",
        "{env}"
    );
}
