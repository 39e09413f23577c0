//! Golden files for every `--help`: the flags under the right headings, the
//! exit codes each command really uses. `BLESS=1 cargo test --test help`
//! rewrites them after a deliberate change; review the diff.

use kit::{rollcall, workspace};

const COMMANDS: [(&str, &[&str]); 11] = [
    ("rollcall", &[]),
    ("formats", &["formats"]),
    ("resolve", &["resolve"]),
    ("explain", &["explain"]),
    ("inventory", &["inventory"]),
    ("watch", &["watch"]),
    ("plugin-compile", &["plugin", "compile"]),
    ("plugin-check", &["plugin", "check"]),
    ("plugin-diff", &["plugin", "diff"]),
    ("plugin-test", &["plugin", "test"]),
    ("plugin-new", &["plugin", "new"]),
];

#[test]
fn help_texts_match_their_golden_files() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut stale = Vec::new();
    for (name, command) in COMMANDS {
        let mut args = command.to_vec();
        args.push("--help");
        let run = rollcall(&args);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let golden = workspace().join(format!("tests/golden/help/{name}.txt"));
        if bless {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &run.stdout).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != run.stdout {
            stale.push(format!(
                "{}:\n--- expected\n{expected}\n--- got\n{}",
                golden.display(),
                run.stdout
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "help texts differ (BLESS=1 to accept):\n{}",
        stale.join("\n")
    );
}

#[test]
fn each_flag_is_under_its_own_heading() {
    let watch = rollcall(["watch", "--help"]).stdout;
    let section = |heading: &str| -> String {
        let start = watch
            .find(&format!("\n{heading}:\n"))
            .unwrap_or_else(|| panic!("no {heading} heading: {watch}"));
        let rest = &watch[start + heading.len() + 3..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_owned()
    };
    assert!(section("Policy").contains("--plugin "), "{watch}");
    assert!(section("Policy").contains("--plugin-config"), "{watch}");
    assert!(!section("Self").contains("--plugin"), "{watch}");
    for flag in ["--refresh", "--output", "--listen"] {
        assert!(section("Daemon").contains(flag), "{flag}: {watch}");
        assert!(
            !section("Compiled-policy cache").contains(flag),
            "{flag}: {watch}"
        );
    }
    assert!(watch.contains("0  stopped by SIGTERM or SIGINT"), "{watch}");
    assert!(!watch.contains("0  resolved"), "{watch}");

    let inventory = rollcall(["inventory", "--help"]).stdout;
    assert!(!inventory.contains("      --inventory"), "{inventory}");
    assert!(!inventory.contains("0  resolved"), "{inventory}");
}
