//! The real `nft` judging what `--format nft` writes, in a network namespace
//! of its own (`unshare -rn`), so no test ever touches the host's ruleset.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `nft`, which `scripts/test` installs; a missing one fails the test (a
/// skipped check would pass a file no firewall accepts).
fn nft() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join("nft"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nft is not installed: {} installs it (apt-get install nftables)",
                crate::workspace().join("scripts/test").display()
            )
        })
}

/// Runs `script` (`sh -c`, with `$NFT` and `$FILE`) in a fresh user and
/// network namespace; its stdout, or the test fails with nft's complaint.
fn in_a_fresh_namespace(file: &Path, script: &str) -> String {
    let output = Command::new("unshare")
        .args(["-rn", "sh", "-c", script])
        .env("NFT", nft())
        .env("FILE", file)
        .output()
        .expect("unshare runs");
    assert!(
        output.status.success(),
        "nft refused {} ({}): {}\n--- the file\n{}",
        file.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `nft -c -f FILE`: the file parses and would apply.
pub fn check(file: &Path) {
    in_a_fresh_namespace(file, r#""$NFT" -c -f "$FILE""#);
}

/// Applies the file twice, as a firewall following changes does, and lists
/// the table it leaves, on one line (nft wraps long element lists).
pub fn apply_twice(file: &Path) -> String {
    let listed = in_a_fresh_namespace(
        file,
        r#""$NFT" -f "$FILE" && "$NFT" -f "$FILE" && "$NFT" list table inet rollcall"#,
    );
    listed.split_whitespace().collect::<Vec<_>>().join(" ")
}
