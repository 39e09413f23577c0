//! End to end: deliberately hostile plugins. For each, the host stays up,
//! says what happened, `resolve` exits with the policy-failure code, and
//! `watch` keeps serving the last good policy while `/healthz` and
//! `/metrics` show the failure.

mod common;

use common::servers::{eventually, free_port, http_get};
use common::{Run, plugin, rollcall_in, seed_fleet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const AGENT: &str = "i-df71a7b6";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn misbehave(mode: &str, extra: &[&str]) -> Run {
    let settings = format!(r#"{{"mode": "{mode}"}}"#);
    let misbehaving = plugin("misbehaving");
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
    rollcall_in(args, &[("AWS_SECRET_ACCESS_KEY", SECRET)])
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
    misbehave("unknown-member", &[]).fails_with(3, &["i-doesnotexist"]);
    misbehave("duplicate-member", &[]).fails_with(3, &["listed more than once"]);
    misbehave("self-target", &[]).fails_with(3, &["its own registration target"]);
    misbehave("empty-role", &[]).fails_with(3, &["empty role"]);
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
            plugin("misbehaving").to_str().unwrap(),
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
            plugin("foreign_world").to_str().unwrap(),
        ],
        &[],
    );
    run.fails_with(3, &["cannot load policy", "example:foreign/vault"]);
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
            plugin("misbehaving").display()
        ),
    )
    .unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args([
            "watch",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &address,
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let get = |path: &str| -> (u16, serde_json::Value) {
        let (status, body) = http_get(&address, path).expect("HTTP answers");
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
        )
    };
    let wait = Duration::from_secs(20);
    eventually(wait, "the first answer", || {
        (http_get(&address, "/v1/membership")?.0 == 200).then_some(())
    });
    let good = get("/v1/membership").1;

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
        "empty-role",
        "read-file",
        "read-env",
        "connect",
    ];
    let mut rollbacks = 0;
    for mode in modes {
        write_replacing(&settings, &format!(r#"{{"mode": "{mode}", "port": 9}}"#));
        rollbacks += 1;
        let error = rolled_back(&address, rollbacks, mode, &good);
        if mode == "recurse" {
            assert!(error.contains("stack overflow"), "{error}");
        }
        if mode == "loop-decide" {
            assert!(
                error.contains("exceeded its time limit (300 ms)"),
                "{error}"
            );
        }
    }

    // Files that are no policy at all, renamed over the plugin in service.
    let in_service = dir.path().join("policy.wasm");
    std::fs::copy(plugin("misbehaving"), &in_service).unwrap();
    write_replacing(&settings, r#"{"mode": "well-behaved"}"#);
    let config_text = std::fs::read_to_string(&config).unwrap().replace(
        &plugin("misbehaving").display().to_string(),
        &in_service.display().to_string(),
    );
    write_replacing(&config, &config_text);
    let good = eventually(wait, "the copy in service", || {
        let served = get("/v1/membership").1;
        (served["policy"]["path"] == in_service.to_str().unwrap()).then_some(served)
    });
    let wasm = std::fs::read(plugin("misbehaving")).unwrap();
    let files: [(&str, Vec<u8>); 4] = [
        ("not wasm", b"#!/bin/sh\necho monitor\n".to_vec()),
        ("truncated", wasm[..wasm.len() / 2].to_vec()),
        ("core module", b"\0asm\x01\0\0\0".to_vec()),
        (
            "another world",
            std::fs::read(plugin("foreign_world")).unwrap(),
        ),
    ];
    for (what, bytes) in files {
        let incoming = dir.path().join("incoming.wasm");
        std::fs::write(&incoming, &bytes).unwrap();
        std::fs::rename(&incoming, &in_service).unwrap();
        rollbacks += 1;
        let error = rolled_back(&address, rollbacks, what, &good);
        assert!(error.contains("cannot load policy"), "{what}: {error}");
    }

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = eventually(wait, "exit", || child.try_wait().ok().flatten());
    assert_eq!(status.code(), Some(0));
}

/// Waits until `/metrics` counts `rollbacks` rolled-back reloads, checks
/// that the daemon is healthy and still serves `good`, and returns the
/// reload error `/healthz` shows.
fn rolled_back(address: &str, rollbacks: usize, what: &str, good: &serde_json::Value) -> String {
    let counter = format!("rollcall_reloads_total{{outcome=\"rolled_back\"}} {rollbacks}");
    eventually(
        Duration::from_secs(20),
        &format!("{what} rolled back"),
        || {
            let metrics = http_get(address, "/metrics")?.1;
            metrics.contains(&counter).then_some(())
        },
    );
    let json = |path: &str| -> (u16, serde_json::Value) {
        let (status, body) = http_get(address, path).expect("HTTP answers");
        (status, serde_json::from_str(&body).unwrap_or_default())
    };
    let (status, health) = json("/healthz");
    assert_eq!(status, 200, "{what}: still healthy: {health}");
    let served = json("/v1/membership").1;
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
