//! End to end: `rollcall plugin new` makes a project in each language that
//! builds with its own `build` script and passes `rollcall plugin test` on
//! its own cases, as made.

use kit::{rollcall, run_within, workspace};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A project's build: a cold Rust build or a pip install takes a while.
const BUILD_LIMIT: Duration = Duration::from_secs(600);

/// Makes the project `name` in `language` under `parent`, builds it, and
/// runs its cases.
fn made_built_and_tested(parent: &Path, name: &str, language: &str) {
    let made = rollcall([
        "plugin",
        "new",
        name,
        "--lang",
        language,
        "--dir",
        parent.to_str().unwrap(),
    ]);
    assert_eq!(made.code, 0, "{language}: {}", made.stderr);
    let root = parent.join(name);
    assert!(
        made.stdout.contains(&root.display().to_string()),
        "{}",
        made.stdout
    );

    let mut build = Command::new(root.join("build"));
    // The Rust project's dependencies, kept between runs beside the
    // workspace's own.
    build.env(
        "CARGO_TARGET_DIR",
        workspace().join("target/plugin-new").join(language),
    );
    let built = run_within(BUILD_LIMIT, build);
    assert_eq!(
        built.code, 0,
        "{language} build: {}{}",
        built.stdout, built.stderr
    );

    let plugin = root.join(format!("{name}.wasm"));
    let cases = root.join("tests/cases.toml");
    let tested = rollcall([
        "plugin".as_ref(),
        "test".as_ref(),
        plugin.as_os_str(),
        cases.as_os_str(),
    ]);
    assert_eq!(
        tested.code, 0,
        "{language}: {}{}",
        tested.stdout, tested.stderr
    );
    assert_eq!(tested.stdout, "4 passed, 0 failed\n", "{language}");
}

#[test]
fn a_new_rust_project_builds_and_passes_its_cases() {
    let parent = tempfile::tempdir().unwrap();
    made_built_and_tested(parent.path(), "roles-rs", "rust");
}

#[test]
fn a_new_python_project_builds_and_passes_its_cases() {
    let parent = tempfile::tempdir().unwrap();
    made_built_and_tested(parent.path(), "roles-py", "python");
}

#[test]
fn a_new_javascript_project_builds_and_passes_its_cases() {
    let parent = tempfile::tempdir().unwrap();
    made_built_and_tested(parent.path(), "roles-js", "js");
}

#[test]
fn a_bad_name_or_an_existing_directory_is_refused() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().to_str().unwrap();
    rollcall(["plugin", "new", "My_Policy", "--lang", "rust", "--dir", dir])
        .fails_with(2, &["invalid project name \"My_Policy\""]);
    std::fs::create_dir(parent.path().join("taken")).unwrap();
    rollcall(["plugin", "new", "taken", "--lang", "python", "--dir", dir])
        .fails_with(2, &["exists already"]);
    assert_eq!(
        std::fs::read_dir(parent.path().join("taken"))
            .unwrap()
            .count(),
        0
    );
}
