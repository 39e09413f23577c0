//! End to end: `rollcall plugin test` on the real plugins: the Elastic Grid
//! cases pass in every language the policy is written in; a failing case
//! names its file, line and differences; a malformed cases file, a missing
//! inventory or an unknown self is bad input; `--update` records answers
//! that then pass.

use kit::plugins::{ELASTIC_GRID, LEGACY_POLICY, TAG_ROLES, elastic_grid_js, elastic_grid_py};
use kit::{fixture, rollcall, seed_fleet};
use std::path::{Path, PathBuf};

fn test(plugin: &Path, cases: &[&Path], extra: &[&str]) -> kit::Run {
    let mut args = vec!["plugin".as_ref(), "test".as_ref(), plugin.as_os_str()];
    args.extend(cases.iter().map(|path| path.as_os_str()));
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    rollcall(args)
}

/// A cases file in a fresh directory, beside a copy of the seed fleet.
fn cases_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let directory = tempfile::tempdir().unwrap();
    std::fs::copy(seed_fleet(), directory.path().join("seed-fleet.json")).unwrap();
    let path = directory.path().join("cases.toml");
    std::fs::write(&path, text).unwrap();
    (directory, path)
}

#[test]
fn the_elastic_grid_cases_pass_in_every_language() {
    let cases = fixture("elastic-grid-cases.toml");
    for plugin in [
        PathBuf::from(ELASTIC_GRID),
        elastic_grid_py(),
        elastic_grid_js(),
    ] {
        let run = test(&plugin, &[&cases], &[]);
        let name = plugin.display();
        assert_eq!(run.code, 0, "{name}: {}{}", run.stdout, run.stderr);
        assert_eq!(run.stdout, "18 passed, 0 failed\n", "{name}");
    }
}

#[test]
fn the_0_2_0_build_fails_exactly_the_serving_cases_and_refuses_accounts() {
    let run = test(
        &fixture("elastic-grid-0.2.0.wasm"),
        &[&fixture("elastic-grid-cases.toml")],
        &[],
    );
    run.fails_with(1, &["9 of 18 cases failed"]);
    let failed: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("FAIL "))
        .collect();
    assert_eq!(failed.len(), 9, "{}", run.stdout);
    // It cannot see who serves: it registers with them all.
    let (serving, accounts) = failed.split_at(7);
    assert!(
        serving
            .iter()
            .all(|line| line.contains("register_with: expected")),
        "{}",
        run.stdout
    );
    // It has no `accounts` setting (nor group owners to apply it to).
    assert!(
        accounts
            .iter()
            .all(|line| line.contains("unknown field `accounts`")),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failing_case_names_its_file_line_and_differences() {
    let (_directory, path) = cases_file(
        r#"inventory = "seed-fleet.json"

[[case]]
name = "right"
self = "i-df71a7b6"
register_with = ["i-2271a74b"]

[[case]]
name = "wrong"
self = "i-df71a7b6"
role = "monitor"
members = { i-2271a74b = "monitor" }
"#,
    );
    let run = test(Path::new(ELASTIC_GRID), &[&path], &[]);
    run.fails_with(1, &["1 of 2 cases failed"]);
    let at = format!("FAIL {}:8 wrong: ", path.display());
    assert_eq!(
        run.stdout,
        format!(
            "{at}role: expected \"monitor\", got \"agent\"\n\
             {at}members: i-df71a7b6 is \"agent\", and the case expects no such member\n\
             1 passed, 1 failed\n"
        )
    );
}

#[test]
fn bad_input_is_named_and_exits_2() {
    let elastic_grid = Path::new(ELASTIC_GRID);
    let (_directory, path) =
        cases_file("[[case]]\nname = \"a\"\ninventory = \"seed-fleet.json\"\nrol = \"agent\"\n");
    test(elastic_grid, &[&path], &[])
        .fails_with(2, &[&format!("{}:4: unknown field `rol`", path.display())]);

    let (_directory, path) =
        cases_file("[[case]]\nname = \"a\"\ninventory = \"nowhere.json\"\nmembers = {}\n");
    test(elastic_grid, &[&path], &[]).fails_with(
        2,
        &[
            &format!("{}:1: case \"a\": ", path.display()),
            "nowhere.json",
        ],
    );

    let (_directory, path) = cases_file(
        "[[case]]\nname = \"a\"\ninventory = \"seed-fleet.json\"\nself = \"i-nobody\"\nrole = \"\"\n",
    );
    test(elastic_grid, &[&path], &[]).fails_with(
        2,
        &[&format!("{}:1: case \"a\": ", path.display()), "i-nobody"],
    );

    let (_directory, path) =
        cases_file("[[case]]\nname = \"a\"\ninventory = \"seed-fleet.json\"\n");
    test(elastic_grid, &[&path], &[]).fails_with(2, &["expects nothing", "--update"]);
}

#[test]
fn a_plugin_that_will_not_load_exits_3() {
    let (_directory, path) =
        cases_file("[[case]]\nname = \"a\"\ninventory = \"seed-fleet.json\"\nmembers = {}\n");
    test(Path::new(LEGACY_POLICY), &[&path], &[]).fails_with(3, &["rollcall:policy@0.1.0"]);
}

#[test]
fn update_records_the_answers_which_then_pass() {
    let (_directory, path) = cases_file(
        r#"# Recorded by --update.
inventory = "seed-fleet.json"

[[case]]
name = "from the agent"
self = "i-df71a7b6"

[[case]]
name = "a stale expectation"
self = "i-2271a74b"
register_with = ["i-df71a7b6"] # was wrong

[[case]]
name = "refused settings"
settings = { adress = "x" }
"#,
    );
    let elastic_grid = Path::new(ELASTIC_GRID);
    let run = test(elastic_grid, &[&path], &["--update"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{}: 3 cases updated\n", path.display()));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# Recorded by --update.\n"), "{text}");
    assert!(
        text.contains(
            "self = \"i-df71a7b6\"\nrole = \"agent\"\nclusters = []\nregister_with = [\"i-2271a74b\"]\n\
             members = { i-2271a74b = \"monitor\", i-df71a7b6 = \"agent\" }\n"
        ),
        "{text}"
    );
    assert!(text.contains("register_with = []"), "{text}");
    assert!(text.contains("error = \"policy "), "{text}");
    let run = test(elastic_grid, &[&path], &[]);
    assert_eq!(run.stdout, "3 passed, 0 failed\n", "{}", run.stderr);
    let tag_roles = test(Path::new(TAG_ROLES), &[&path], &[]);
    tag_roles.fails_with(1, &["cases failed"]);
}
