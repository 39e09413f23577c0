//! End to end: the static binary `scripts/release` puts in dist/ is not
//! dynamically linked, and answers `resolve` in an empty root (a directory
//! holding only the binary, a policy and a fleet file) exactly as the binary
//! under test answers on the same input outside it (under scripts/test, that
//! is the same static build; under a plain `cargo test`, the host's own).

use kit::plugins::ELASTIC_GRID;
use kit::{RUN_LIMIT, isolate, resolve, run_within, seed_fleet, workspace};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The instance the answers are resolved for: an agent of the seed fleet,
/// so the answer has a registration target.
const SELF_ID: &str = "i-df71a7b6";

/// A file `scripts/release` builds into dist/; fails the test, saying how to
/// build it, when it is missing.
fn dist(relative: &str) -> PathBuf {
    let path = workspace().join("dist").join(relative);
    assert!(
        path.exists(),
        "{} is missing: build it with {} (scripts/test runs it before the tests)",
        path.display(),
        workspace().join("scripts/release").display()
    );
    path
}

/// `ldd`'s verdict on `binary`, stdout and stderr together.
fn ldd(binary: &Path) -> String {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .expect("ldd runs (it comes with the C library's tools)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The answer without its one moment-dependent field.
fn timeless(mut answer: Value) -> Value {
    answer["inventory"]
        .as_object_mut()
        .expect("the answer has an inventory object")
        .remove("fetched_at")
        .expect("the answer says when the fleet was fetched");
    answer
}

#[test]
fn the_dist_binary_is_not_dynamically_linked() {
    let verdict = ldd(&dist("rollcall"));
    assert!(
        verdict.contains("not a dynamic executable") || verdict.contains("statically linked"),
        "ldd finds dist/rollcall dynamic: {verdict}"
    );
}

#[test]
fn the_dist_binary_resolves_in_an_empty_root_as_the_normal_build_does() {
    let root = tempfile::tempdir().unwrap();
    for (from, to) in [
        (dist("rollcall"), "rollcall"),
        (dist("plugins/elastic_grid.wasm"), "elastic_grid.wasm"),
        (seed_fleet(), "fleet.json"),
    ] {
        std::fs::copy(&from, root.path().join(to))
            .unwrap_or_else(|err| panic!("copy {} into the root: {err}", from.display()));
    }
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        3,
        "the root holds the binary, the policy and the fleet, nothing else"
    );

    // Root may chroot; anyone else becomes root in a new user namespace first.
    let mut command = if rustix::process::getuid().is_root() {
        Command::new("chroot")
    } else {
        let mut command = Command::new("unshare");
        command.args(["-r", "chroot"]);
        command
    };
    command.arg(root.path()).args([
        "/rollcall",
        "resolve",
        "--inventory",
        "/fleet.json",
        "--plugin",
        "/elastic_grid.wasm",
        "--self",
        SELF_ID,
        "--no-cache",
    ]);
    isolate(&mut command);
    let in_root = run_within(RUN_LIMIT, command);
    assert_eq!(
        in_root.code, 0,
        "dist/rollcall in an empty root failed (if chroot or unshare was refused, \
         this machine allows neither chroot nor user namespaces): {}",
        in_root.stderr
    );
    let mut in_root = timeless(in_root.json());

    let normal = timeless(
        resolve(
            &seed_fleet(),
            Path::new(ELASTIC_GRID),
            &["--self", SELF_ID, "--no-cache"],
        )
        .json(),
    );
    assert_eq!(in_root["policy"]["path"], "/elastic_grid.wasm");
    assert_eq!(in_root["inventory"]["source"], "/fleet.json");
    // The paths name the same files, seen from inside and outside the root.
    in_root["policy"]["path"] = normal["policy"]["path"].clone();
    in_root["inventory"]["source"] = normal["inventory"]["source"].clone();
    assert_eq!(
        in_root, normal,
        "dist/rollcall and the normal build answer differently \
         (a different policy sha256 means dist/ is stale: rerun scripts/release)"
    );
    assert!(
        !kit::ids(&normal, "register_with").is_empty(),
        "the agent has a registration target, so the answers compare something"
    );
}
