//! End to end: deliberately hostile plugins. For each, the host stays up,
//! says what happened, `resolve` exits with the policy-failure code, and
//! `watch` keeps serving the last good policy while `/healthz` and
//! `/metrics` show the failure.

use kit::daemon::Daemon;
use kit::eventually;
use kit::hand_made::policy_with_memories;
use kit::http;
use kit::plugins::{FOREIGN_WORLD, LEGACY_POLICY, MISBEHAVING};
use kit::{Run, rollcall_in, rollcall_within, seed_fleet};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

const AGENT: &str = "i-df71a7b6";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn misbehave(mode: &str, extra: &[&str]) -> Run {
    misbehave_within(kit::RUN_LIMIT, mode, extra)
}

/// Like `misbehave`, failing the test if the run takes `limit`.
fn misbehave_within(limit: Duration, mode: &str, extra: &[&str]) -> Run {
    let settings = format!(r#"{{"mode": "{mode}"}}"#);
    let misbehaving = Path::new(MISBEHAVING);
    let fleet = seed_fleet();
    let mut args = vec![
        "resolve",
        "--inventory",
        fleet.to_str().unwrap(),
        "--plugin",
        misbehaving.to_str().unwrap(),
        "--self",
        AGENT,
        "--plugin-config",
        &settings,
    ];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    rollcall_within(limit, args, &[("AWS_SECRET_ACCESS_KEY", SECRET)])
}

/// `resolve` on the seed fleet with a hand-made component.
fn resolve_component(component: &[u8], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hand_made.wasm");
    std::fs::write(&path, component).unwrap();
    let fleet = seed_fleet();
    let mut args = vec![
        "resolve",
        "--inventory",
        fleet.to_str().unwrap(),
        "--plugin",
        path.to_str().unwrap(),
        "--no-cache",
    ];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    rollcall_in(args, &[])
}

#[test]
fn endless_loops_are_stopped_at_the_time_limit() {
    for mode in ["loop-decide", "loop-configure"] {
        let started = Instant::now();
        let run = misbehave(mode, &["--policy-time-limit", "300ms"]);
        let took = started.elapsed();
        run.fails_with(3, &["policy misbehaving exceeded its time limit (300 ms)"]);
        assert!(
            took < Duration::from_secs(3),
            "{mode}: stopped near the deadline, not after {took:?}"
        );
    }
}

#[test]
fn unbounded_allocation_and_giant_answers_hit_the_memory_limit() {
    for mode in ["allocate", "giant-output"] {
        misbehave(mode, &["--policy-memory-limit", "32"]).fails_with(
            3,
            &["policy misbehaving exceeded its memory limit (32 MiB)"],
        );
    }
}

#[test]
fn the_memory_limit_is_a_total_over_every_memory() {
    // The hand-made policy works when it fits: one memory of 640 KiB.
    let fits = resolve_component(
        &policy_with_memories(1, 10),
        &["--policy-memory-limit", "64"],
    );
    assert_eq!(fits.json()["members"], serde_json::json!([]));
    // Two memories of 40 MiB each are within a 64 MiB limit one by one, not
    // together; sixteen of 62.5 MiB were a gigabyte.
    for (memories, pages) in [(2, 640), (16, 1000)] {
        resolve_component(
            &policy_with_memories(memories, pages),
            &["--policy-memory-limit", "64"],
        )
        .fails_with(3, &["exceeded its memory limit (64 MiB)"]);
    }
}

#[test]
fn a_policy_cannot_make_more_memories_than_a_toolchain_needs() {
    // Many memories of one page each stay far below the byte limit.
    let run = resolve_component(&policy_with_memories(100, 1), &[]);
    run.fails_with(
        3,
        &[
            "policy hand_made",
            "resource limit exceeded: memory count too high",
        ],
    );
}

#[test]
fn sleeping_policies_are_held_to_the_time_limit() {
    // A wait on a clock ends at once: the policy sees that no time passed.
    let limit = Duration::from_secs(10);
    let run = misbehave_within(limit, "sleep", &["--policy-time-limit", "300ms"]);
    run.fails_with(3, &["policy misbehaving failed: sleep: woke up after"]);
    let slept = run
        .stderr
        .split("woke up after ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    assert!(
        slept.ends_with("ns") || slept.ends_with("µs"),
        "a 15 s sleep took no time, not {slept}: {}",
        run.stderr
    );
    // Sleeping in a loop is spinning, which the time limit stops.
    let started = Instant::now();
    misbehave_within(limit, "sleep-forever", &["--policy-time-limit", "300ms"]).fails_with(
        3,
        &[
            "policy misbehaving exceeded its time limit (300 ms)",
            "waited on a clock",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped near the deadline, not after {:?}",
        started.elapsed()
    );
}

#[test]
fn a_policy_cannot_flood_the_log_with_its_error_message() {
    let run = misbehave("huge-error", &[]);
    run.fails_with(3, &["policy misbehaving failed: eeee", "more bytes)"]);
    assert!(
        run.stderr.len() < 16 * 1024,
        "an 8 MB error message became {} bytes of stderr",
        run.stderr.len()
    );
}

#[test]
fn a_member_whose_text_would_reach_a_terminal_or_split_an_address_is_dropped_alone() {
    // The first member, the monitor, is spoiled: self (the agent) stays,
    // and registers with nobody.
    for (mode, problem) in [
        (
            "control-role",
            r#"its role "\u{1b}[31mmonitor\0" has '\u{1b}', a control character"#,
        ),
        (
            "spaced-address",
            r#"its address "10.0.0.1 10.0.0.2" has ' ', a space"#,
        ),
        ("empty-role", "its role is empty"),
        (
            "control-label",
            r#"its label team has the value "\u{1b}[31mblue", with '\u{1b}', a control character"#,
        ),
        ("label-twice", r#"its label name "team" is given twice"#),
    ] {
        for format in ["json", "env", "text"] {
            let run = misbehave(mode, &["--format", format]);
            assert_eq!(run.code, 0, "{mode}: {}", run.stderr);
            assert!(
                run.stderr.contains("Members dropped from the answer")
                    && run.stderr.contains(problem),
                "{mode}: the warning says why: {}",
                run.stderr
            );
            for (output, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                assert!(
                    !text.contains('\u{1b}') && !text.contains('\0'),
                    "{mode}: no raw escape reaches the {output}: {text:?}"
                );
            }
            if format == "json" {
                let document = run.json();
                assert_eq!(kit::ids(&document, "members"), [AGENT], "{mode}");
                assert_eq!(document["register_with"], serde_json::json!([]), "{mode}");
            }
        }
    }
}

#[test]
fn a_cluster_name_with_a_space_is_a_name() {
    let document = misbehave("spaced-cluster", &[]).json();
    assert_eq!(
        document["members"][0]["clusters"],
        serde_json::json!(["blue green"])
    );
}

#[test]
fn deep_recursion_traps_with_a_message() {
    misbehave("recurse", &[]).fails_with(3, &["policy misbehaving trapped", "stack overflow"]);
}

#[test]
fn panics_reach_the_error_and_the_log_with_their_message() {
    misbehave("trap", &[]).fails_with(
        3,
        &[
            "policy misbehaving trapped",
            "mode trap: the policy panicked on purpose",
        ],
    );
    misbehave("panic-configure", &[]).fails_with(
        3,
        &[
            "trapped",
            "mode panic-configure: configure panicked on purpose",
        ],
    );
}

#[test]
fn invalid_answers_and_errors_are_refused() {
    misbehave("error", &[]).fails_with(3, &["refuses to decide"]);
    misbehave("unknown-member", &[]).fails_with(3, &["is not in the fleet"]);
    misbehave("duplicate-member", &[]).fails_with(3, &["listed more than once"]);
    misbehave("self-target", &[]).fails_with(3, &["its own registration target"]);
}

#[test]
fn wasi_capabilities_yield_nothing() {
    let file = misbehave("read-file", &[]);
    file.fails_with(3, &["read-file: Err("]);
    assert!(!file.stderr.contains("root:"), "/etc/passwd stays closed");

    let env = misbehave("read-env", &[]);
    env.fails_with(3, &["AWS_SECRET_ACCESS_KEY=Err(NotPresent) vars=0"]);
    assert!(!env.stderr.contains(SECRET));

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let settings = format!(r#"{{"mode": "connect", "port": {port}}}"#);
    let run = rollcall_in(
        [
            "resolve",
            "--inventory",
            seed_fleet().to_str().unwrap(),
            "--plugin",
            MISBEHAVING,
            "--plugin-config",
            &settings,
        ],
        &[],
    );
    run.fails_with(3, &["connect: Err("]);
    assert!(
        listener.accept().is_err(),
        "no connection reached the listener"
    );
}

#[test]
fn files_for_another_world_are_refused_naming_the_import() {
    let run = rollcall_in(
        [
            "resolve",
            "--inventory",
            seed_fleet().to_str().unwrap(),
            "--plugin",
            FOREIGN_WORLD,
        ],
        &[],
    );
    run.fails_with(3, &["cannot load policy", "example:foreign/vault"]);
}

#[test]
fn a_plugin_built_for_the_previous_interface_is_refused_naming_both_versions() {
    let run = rollcall_in(
        [
            "resolve",
            "--inventory",
            seed_fleet().to_str().unwrap(),
            "--plugin",
            LEGACY_POLICY,
        ],
        &[],
    );
    run.fails_with(
        3,
        &[
            "it was built for rollcall:policy@0.1.0",
            "this rollcall runs rollcall:policy@0.2.0 or 0.3.0 policies: rebuild it \
             against rollcall:policy@0.3.0",
        ],
    );
}

#[test]
fn the_daemon_keeps_its_last_good_policy_through_hostile_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.json");
    std::fs::write(&settings, r#"{"mode": "well-behaved"}"#).unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "refresh = \"200ms\"\nstale_after = \"30s\"\nself = \"{AGENT}\"\n[source]\nkind = \"file\"\npath = \"{}\"\n\
             [policy]\nplugin = \"{}\"\nsettings_file = \"settings.json\"\ntime_limit = \"300ms\"\nmemory_limit_mib = 32\n",
            seed_fleet().display(),
            MISBEHAVING
        ),
    )
    .unwrap();
    let mut daemon = Daemon::start(["--config", config.to_str().unwrap()]);
    let wait = Duration::from_secs(20);
    let good = eventually(wait, "the first answer", || daemon.membership());

    // (A member with a role or address that cannot be used is dropped, not
    // the answer: see a_member_whose_text_would_reach_a_terminal_...)
    let modes = [
        "loop-decide",
        "loop-configure",
        "allocate",
        "giant-output",
        "recurse",
        "trap",
        "panic-configure",
        "error",
        "unknown-member",
        "duplicate-member",
        "self-target",
        "read-file",
        "read-env",
        "connect",
        "sleep-forever",
        "huge-error",
    ];
    let mut rollbacks = 0;
    for mode in modes {
        write_replacing(&settings, &format!(r#"{{"mode": "{mode}", "port": 9}}"#));
        rollbacks += 1;
        let error = rolled_back(&daemon, rollbacks, mode, &good);
        if mode == "recurse" {
            assert!(error.contains("stack overflow"), "{error}");
        }
        if mode == "huge-error" {
            assert!(
                error.len() < 16 * 1024,
                "reload error of {} bytes",
                error.len()
            );
        }
        if mode == "loop-decide" || mode == "sleep-forever" {
            assert!(
                error.contains("exceeded its time limit (300 ms)"),
                "{error}"
            );
        }
    }

    // Files that are no policy at all, renamed over the plugin in service.
    let in_service = dir.path().join("policy.wasm");
    std::fs::copy(MISBEHAVING, &in_service).unwrap();
    write_replacing(&settings, r#"{"mode": "well-behaved"}"#);
    let config_text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(MISBEHAVING, &in_service.display().to_string());
    write_replacing(&config, &config_text);
    let good = eventually(wait, "the copy in service", || {
        let served = daemon.membership()?;
        (served["policy"]["path"] == in_service.to_str().unwrap()).then_some(served)
    });
    let wasm = std::fs::read(MISBEHAVING).unwrap();
    let files: [(&str, Vec<u8>); 4] = [
        ("not wasm", b"#!/bin/sh\necho monitor\n".to_vec()),
        ("truncated", wasm[..wasm.len() / 2].to_vec()),
        ("core module", b"\0asm\x01\0\0\0".to_vec()),
        ("another world", std::fs::read(FOREIGN_WORLD).unwrap()),
    ];
    for (what, bytes) in files {
        let incoming = dir.path().join("incoming.wasm");
        std::fs::write(&incoming, &bytes).unwrap();
        std::fs::rename(&incoming, &in_service).unwrap();
        rollbacks += 1;
        let error = rolled_back(&daemon, rollbacks, what, &good);
        assert!(error.contains("cannot load policy"), "{what}: {error}");
    }

    assert_eq!(daemon.terminate_within(wait).0, Some(0));
}

#[test]
fn a_failure_that_repeats_every_refresh_is_logged_once_and_served_short() {
    let (daemon, _dir) = misbehaving_daemon("huge-error", "200ms");
    eventually(Duration::from_secs(30), "ten failed refreshes", || {
        (daemon.metric("rollcall_refreshes_total{outcome=\"failed\"}")? >= 10.0).then_some(())
    });
    let stderr = daemon.stderr();
    assert_eq!(
        stderr.matches("Refresh failed").count(),
        1,
        "one warning for one failure: {}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(
        stderr.len() < 64 * 1024,
        "stderr grew to {} bytes",
        stderr.len()
    );
    let (status, health) = http::get(daemon.address(), "/healthz").expect("HTTP answers");
    assert_eq!(status, 503, "no answer yet: {health}");
    assert!(
        health.len() < 16 * 1024,
        "/healthz is {} bytes",
        health.len()
    );
    assert!(health.contains("more bytes)"), "{health}");
}

#[test]
fn sigterm_during_a_sleeping_reload_exits_promptly() {
    let (mut daemon, dir) = misbehaving_daemon("well-behaved", "200ms");
    eventually(Duration::from_secs(30), "the first answer", || {
        daemon.membership()
    });
    write_replacing(
        &dir.path().join("settings.json"),
        r#"{"mode": "sleep-forever"}"#,
    );
    // The reload starts after the watcher's debounce; stop during it.
    std::thread::sleep(Duration::from_millis(400));
    let (code, took) = daemon.terminate_within(Duration::from_secs(20));
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
}

/// A daemon on the seed fleet under `misbehaving` in `mode`, and the
/// directory of its settings file (`settings.json`).
fn misbehaving_daemon(mode: &str, refresh: &str) -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.json");
    std::fs::write(&settings, format!(r#"{{"mode": "{mode}"}}"#)).unwrap();
    let (fleet, misbehaving) = (seed_fleet(), Path::new(MISBEHAVING));
    let daemon = Daemon::start([
        "--inventory",
        fleet.to_str().unwrap(),
        "--plugin",
        misbehaving.to_str().unwrap(),
        "--self",
        AGENT,
        "--refresh",
        refresh,
        "--plugin-config",
        &format!("@{}", settings.display()),
    ]);
    (daemon, dir)
}

/// Waits until `/metrics` counts `rollbacks` rolled-back reloads, checks
/// that the daemon is healthy and still serves `good`, and returns the
/// reload error `/healthz` shows.
fn rolled_back(daemon: &Daemon, rollbacks: usize, what: &str, good: &serde_json::Value) -> String {
    eventually(
        Duration::from_secs(20),
        &format!("{what} rolled back"),
        || {
            let rolled_back = daemon.metric("rollcall_reloads_total{outcome=\"rolled_back\"}")?;
            (rolled_back == rollbacks as f64).then_some(())
        },
    );
    let (status, health) = daemon.get("/healthz");
    assert_eq!(status, 200, "{what}: still healthy: {health}");
    let served = daemon.get("/v1/membership").1;
    assert_eq!(
        served["register_with"], good["register_with"],
        "{what}: last good answer"
    );
    assert_eq!(served["policy"], good["policy"], "{what}: last good policy");
    health["reload_error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no reload error in {health}"))
        .to_owned()
}

fn write_replacing(to: &Path, text: &str) {
    let temporary = to.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, to).unwrap();
}
