//! End to end: `rollcall plugin check` on the real plugins (what a plugin
//! was built for, what it imports and exports, and whether this rollcall
//! runs it, with the reason when not), and `rollcall plugin diff`.

use kit::plugins::{ELASTIC_GRID, FOREIGN_WORLD, LEGACY_POLICY};
use kit::{rollcall, seed_fleet};
use serde_json::Value;
use std::path::Path;

fn check(path: &std::path::Path, format: &str) -> kit::Run {
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
    let path = Path::new(ELASTIC_GRID);
    let report = check(path, "json").json();
    assert_eq!(report["interface"], "rollcall:policy@0.3.0");
    assert_eq!(report["refused"], Value::Null);
    assert_eq!(report["bytes"], std::fs::metadata(path).unwrap().len());
    assert_eq!(names(&report, "exports"), ["configure", "decide"]);
    let imports = names(&report, "imports");
    assert!(
        imports.contains(&"rollcall:policy/host@0.3.0".to_owned()),
        "{imports:?}"
    );
    assert!(
        imports.iter().any(|import| import.starts_with("wasi:cli/")),
        "a Rust wasip2 component imports WASI, with its version: {imports:?}"
    );
    let text = check(path, "text");
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.starts_with(&format!(
            "{}: accepted\n  interface: rollcall:policy@0.3.0\n",
            path.display()
        )),
        "{}",
        text.stdout
    );
}

#[test]
fn a_plugin_built_for_0_2_0_is_accepted_naming_its_interface() {
    let path = kit::fixture("elastic-grid-0.2.0.wasm");
    let report = check(&path, "json").json();
    assert_eq!(report["interface"], "rollcall:policy@0.2.0");
    assert_eq!(report["refused"], Value::Null);
    assert!(
        names(&report, "imports").contains(&"rollcall:policy/host@0.2.0".to_owned()),
        "{report}"
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
    let run = check(Path::new(LEGACY_POLICY), "json");
    assert_eq!(run.code, 3, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["interface"], "rollcall:policy@0.1.0");
    assert!(
        report["refused"]
            .as_str()
            .is_some_and(|reason| reason.starts_with(
                "it was built for rollcall:policy@0.1.0, and this rollcall runs \
                 rollcall:policy@0.2.0 or 0.3.0 policies"
            )),
        "{report}"
    );
    assert!(run.stderr.contains("is refused"), "{}", run.stderr);
}

#[test]
fn a_plugin_importing_what_rollcall_lacks_is_refused_naming_the_import() {
    let run = check(Path::new(FOREIGN_WORLD), "text");
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

mod diff {
    //! `rollcall plugin diff`: two policies, or two settings, on one fleet.

    use kit::plugins::{ELASTIC_GRID, elastic_grid_js, elastic_grid_py};
    use kit::{fixture, rollcall};
    use serde_json::Value;
    use std::path::Path;

    fn diff(extra: &[&str]) -> kit::Run {
        let grid = Path::new(ELASTIC_GRID);
        let fleet = fixture("clustered-fleet.json");
        let mut args = vec![
            "plugin",
            "diff",
            grid.to_str().unwrap(),
            grid.to_str().unwrap(),
            "--inventory",
            fleet.to_str().unwrap(),
        ];
        args.extend(extra);
        rollcall(args)
    }

    #[test]
    fn the_same_policy_and_settings_are_no_difference() {
        let run = diff(&["--self", "i-0a9b1ue0000000001"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            run.stdout,
            "0 joined, 0 left, 0 changed; registration targets changed for 0 selves\n"
        );
    }

    #[test]
    fn turning_clusters_on_changes_clusters_and_self_s_targets() {
        let run = diff(&[
            "--settings-new",
            r#"{"cluster_group_prefix": "cluster-"}"#,
            "--self",
            "i-0a9b1ue0000000001",
        ]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stdout
                .contains("~ i-0both000000000001 clusters - -> blue,green\n"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("> i-0a9b1ue0000000001 no longer registers with i-06reen00000000001\n"),
            "{}",
            run.stdout
        );
        assert!(
            run.stderr
                .contains("the policies decide differently: 0 joined, 0 left, 7 changed"),
            "{}",
            run.stderr
        );
    }

    #[test]
    fn every_self_is_compared_with_all_selves() {
        let run = diff(&[
            "--settings-new",
            r#"{"monitor_group": "nobody"}"#,
            "--all-selves",
            "--format",
            "json",
        ]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let document: Value = serde_json::from_str(&run.stdout).unwrap();
        let left: Vec<&str> = document["left"]
            .as_array()
            .unwrap()
            .iter()
            .map(|member| member["instance_id"].as_str().unwrap())
            .collect();
        assert_eq!(left.len(), 4, "every monitor leaves: {document}");
        assert_eq!(
            document["targets"].as_array().unwrap().len(),
            7,
            "every instance of the fleet lost its targets: {document}"
        );
    }

    #[test]
    fn an_unknown_self_is_a_usage_error() {
        diff(&["--self", "i-nowhere"])
            .fails_with(2, &["self instance i-nowhere is not in the inventory"]);
    }

    #[test]
    fn the_three_languages_decide_every_self_alike_through_the_cache() {
        let cache = tempfile::tempdir().unwrap();
        let fleet = fixture("clustered-fleet.json");
        let settings = r#"{"cluster_group_prefix": "cluster-", "monitor_port": 7070}"#;
        let rust = Path::new(ELASTIC_GRID);
        for other in [elastic_grid_py(), elastic_grid_js()] {
            let run = rollcall([
                "plugin",
                "diff",
                rust.to_str().unwrap(),
                other.to_str().unwrap(),
                "--inventory",
                fleet.to_str().unwrap(),
                "--settings-old",
                settings,
                "--settings-new",
                settings,
                "--all-selves",
                "--cache-dir",
                cache.path().to_str().unwrap(),
            ]);
            assert_eq!(
                run.code,
                0,
                "{}: {}{}",
                other.display(),
                run.stdout,
                run.stderr
            );
        }
        let cached = std::fs::read_dir(cache.path()).unwrap().count();
        assert!(
            cached >= 3,
            "each plugin compiled into the cache once ({cached} entries)"
        );
    }
}
