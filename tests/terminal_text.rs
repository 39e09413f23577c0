//! End to end: text a policy or a cases file supplies (an error message, a
//! rejection of settings, a case's name) reaches the terminal escaped, one
//! line per message, so it cannot forge a line of rollcall's own.

use kit::plugins::{ELASTIC_GRID, MISBEHAVING, elastic_grid_py};
use kit::{Run, rollcall, seed_fleet};
use std::path::{Path, PathBuf};

/// What a hostile text holds: a CR and LF, then a forged line, then an
/// escape that would erase the real one, and a NUL.
const FORGED_JSON: &str = r"done\r\nrollcall: all good\u001b[2K\u0000";
/// The same text as rollcall shows it.
const SHOWN: &str = r"done\r\nrollcall: all good\u{1b}[2K\0";

fn resolve_with(plugin: &Path, settings: &str) -> Run {
    rollcall([
        "resolve".as_ref(),
        "--inventory".as_ref(),
        seed_fleet().as_os_str(),
        "--plugin".as_ref(),
        plugin.as_os_str(),
        "--self".as_ref(),
        "i-df71a7b6".as_ref(),
        "--plugin-config".as_ref(),
        settings.as_ref(),
    ])
}

/// Asserts that stderr shows the text escaped, forges no line, and holds
/// nothing raw.
fn one_escaped_line(run: &Run) {
    assert!(run.stderr.contains(SHOWN), "{:?}", run.stderr);
    assert!(
        !run.stderr
            .lines()
            .any(|line| line.starts_with("rollcall: all good")),
        "{:?}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(['\r', '\u{1b}', '\0']),
        "{:?}",
        run.stderr
    );
}

#[test]
fn a_policy_error_with_control_characters_is_one_escaped_line() {
    let run = resolve_with(
        Path::new(MISBEHAVING),
        &format!(r#"{{"mode": "error", "message": "{FORGED_JSON}"}}"#),
    );
    run.fails_with(3, &["rollcall: policy misbehaving failed: "]);
    one_escaped_line(&run);
}

#[test]
fn a_settings_rejection_quoting_a_hostile_key_is_one_escaped_line() {
    for (policy, plugin) in [
        ("elastic_grid", PathBuf::from(ELASTIC_GRID)),
        ("elastic_grid_py", elastic_grid_py()),
    ] {
        let run = resolve_with(&plugin, &format!(r#"{{"{FORGED_JSON}": 1}}"#));
        run.fails_with(
            2,
            &[&format!("rollcall: policy {policy} rejected its settings")],
        );
        one_escaped_line(&run);
    }
}

#[test]
fn a_case_name_cannot_forge_the_count_line_of_plugin_test() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(seed_fleet(), dir.path().join("seed-fleet.json")).unwrap();
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        "inventory = \"seed-fleet.json\"\n\n[[case]]\n\
         name = \"x\\n7 passed, 0 failed\\u001b[2K\"\nself = \"i-df71a7b6\"\nrole = \"monitor\"\n",
    )
    .unwrap();
    let run = rollcall([
        "plugin".as_ref(),
        "test".as_ref(),
        Path::new(ELASTIC_GRID).as_os_str(),
        cases.as_os_str(),
    ]);
    run.fails_with(1, &["1 of 1 cases failed"]);
    assert_eq!(
        run.stdout,
        format!(
            "FAIL {}:3 x\\n7 passed, 0 failed\\u{{1b}}[2K: role: expected \"monitor\", got \
             \"agent\"\n0 passed, 1 failed\n",
            cases.display()
        )
    );
}
