//! End to end: `rollcall plugin check` on the real plugins: what a plugin
//! was built for, what it imports and exports, and whether this rollcall
//! runs it, with the reason when not.

mod common;

use common::{plugin, rollcall, seed_fleet};
use serde_json::Value;

fn check(path: &std::path::Path, format: &str) -> common::Run {
    rollcall([
        "plugin",
        "check",
        path.to_str().unwrap(),
        "--format",
        format,
    ])
}

fn names(report: &Value, key: &str) -> Vec<String> {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is a list: {report}"))
        .iter()
        .map(|name| name.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_bundled_policy_is_accepted_with_its_interface_imports_and_exports() {
    let path = plugin("elastic_grid");
    let report = check(&path, "json").json();
    assert_eq!(report["interface"], "rollcall:policy@0.2.0");
    assert_eq!(report["refused"], Value::Null);
    assert_eq!(report["bytes"], std::fs::metadata(&path).unwrap().len());
    assert_eq!(names(&report, "exports"), ["configure", "decide"]);
    let imports = names(&report, "imports");
    assert!(
        imports.contains(&"rollcall:policy/host@0.2.0".to_owned()),
        "{imports:?}"
    );
    assert!(
        imports.iter().any(|import| import.starts_with("wasi:cli/")),
        "a Rust wasip2 component imports WASI, with its version: {imports:?}"
    );
    let text = check(&path, "text");
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.starts_with(&format!(
            "{}: accepted\n  interface: rollcall:policy@0.2.0\n",
            path.display()
        )),
        "{}",
        text.stdout
    );
}

#[test]
fn a_plugin_for_the_previous_interface_is_refused_saying_so() {
    let run = check(&plugin("legacy_policy"), "json");
    assert_eq!(run.code, 3, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["interface"], "rollcall:policy@0.1.0");
    assert!(
        report["refused"]
            .as_str()
            .is_some_and(|reason| reason.starts_with("it was built for rollcall:policy@0.1.0")),
        "{report}"
    );
    assert!(run.stderr.contains("is refused"), "{}", run.stderr);
}

#[test]
fn a_plugin_importing_what_rollcall_lacks_is_refused_naming_the_import() {
    let run = check(&plugin("foreign_world"), "text");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.contains(": refused: "), "{}", run.stdout);
    assert!(
        run.stdout.contains("example:foreign/vault"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("interface: none (it imports nothing of rollcall:policy)"),
        "{}",
        run.stdout
    );
}

#[test]
fn files_that_are_not_components_are_errors() {
    check(&seed_fleet(), "text").fails_with(3, &["not a WebAssembly file"]);
    let missing = std::path::Path::new("/nonexistent/policy.wasm");
    check(missing, "text").fails_with(2, &["cannot read policy /nonexistent/policy.wasm"]);
}
